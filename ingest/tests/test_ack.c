/* Watermark bookkeeping: in order, out of order, duplicates, gaps, wrap, expiry. */
#include <string.h>

#include "ack.h"
#include "tk_check.h"

static struct store_seq_state fresh(void)
{
    struct store_seq_state s;
    memset(&s, 0, sizeof s);
    return s;
}

int main(void)
{
    uint64_t lost = 0;
    struct store_seq_state s = fresh();

    /* a device never seen starts before seq 1, whichever reading comes first: 1..9 may
     * still be on their way (taken by a worker that was then killed, or not yet committed
     * by another worker), so 10 waits for them */
    CHECK(!ing_seq_is_dup(&s, 10));
    CHECK_EQ_INT(ing_seq_record(&s, 10, 1), 0);
    CHECK_EQ_INT(s.known, 1);
    CHECK_EQ_INT(s.watermark, 0);
    CHECK_EQ_INT(s.npending, 1);
    CHECK(ing_seq_is_dup(&s, 10));
    CHECK(!ing_seq_is_dup(&s, 3));
    for (uint32_t q = 1; q < 9; q++)
        CHECK(ing_seq_record(&s, q, 1));
    CHECK_EQ_INT(s.watermark, 8);
    CHECK(ing_seq_record(&s, 9, 1));
    CHECK_EQ_INT(s.watermark, 10);
    CHECK_EQ_INT(s.npending, 0);
    CHECK(ing_seq_is_dup(&s, 3));

    /* in order */
    CHECK(ing_seq_record(&s, 11, 2));
    CHECK_EQ_INT(s.watermark, 11);

    /* a gap: 13 and 14 wait for 12 */
    CHECK(!ing_seq_record(&s, 13, 3));
    CHECK(!ing_seq_record(&s, 14, 3));
    CHECK_EQ_INT(s.watermark, 11);
    CHECK_EQ_INT(s.npending, 2);
    CHECK_EQ_INT(s.gap_since_us, 3);
    CHECK(ing_seq_is_dup(&s, 13));
    CHECK(!ing_seq_is_dup(&s, 12));
    CHECK(ing_seq_record(&s, 12, 4));
    CHECK_EQ_INT(s.watermark, 14);
    CHECK_EQ_INT(s.npending, 0);
    CHECK_EQ_INT(s.gap_since_us, 0);

    /* out of order arrival inside pending is kept sorted */
    CHECK(!ing_seq_record(&s, 20, 5));
    CHECK(!ing_seq_record(&s, 17, 5));
    CHECK(!ing_seq_record(&s, 16, 5));
    CHECK_EQ_INT(s.pending[0], 16);
    CHECK_EQ_INT(s.pending[1], 17);
    CHECK_EQ_INT(s.pending[2], 20);
    CHECK(ing_seq_record(&s, 15, 6));
    CHECK_EQ_INT(s.watermark, 17);
    CHECK_EQ_INT(s.npending, 1);
    CHECK_EQ_INT(s.gap_since_us, 6); /* the next gap has its own timer */

    /* expiry: not before the timeout, never on time alone (a device offline for long
     * still holds its buffer), then with the device's evidence the gap 18..19 is lost */
    uint32_t a = 0, b = 0;
    CHECK(!ing_seq_expire(&s, 10, 100, 1, &lost, &a, &b));
    CHECK(!ing_seq_expire(&s, 100000, 100, 0, &lost, &a, &b));
    CHECK_EQ_INT(s.watermark, 17);
    CHECK(ing_seq_expire(&s, 106, 100, 1, &lost, &a, &b));
    CHECK_EQ_INT(a, 18);
    CHECK_EQ_INT(b, 19);
    CHECK_EQ_INT(lost, 2);
    CHECK_EQ_INT(s.watermark, 20);
    CHECK_EQ_INT(s.npending, 0);

    /* a device that really started later (its counter ran before it was provisioned)
     * is acknowledged once it shows it holds nothing older: it resends its first reading,
     * and the gap before it has been open for the timeout */
    s = fresh();
    lost = 0;
    CHECK_EQ_INT(ing_seq_record(&s, 500, 10), 0);
    CHECK_EQ_INT(ing_seq_record(&s, 501, 10), 0);
    CHECK(!ing_seq_expire(&s, 1000, 100, 0, &lost, &a, &b));
    CHECK(!ing_seq_expire(&s, 50, 100, 1, &lost, &a, &b));
    CHECK(ing_seq_expire(&s, 1000, 100, 1, &lost, &a, &b));
    CHECK_EQ_INT(a, 1);
    CHECK_EQ_INT(b, 499);
    CHECK_EQ_INT(s.watermark, 501);
    /* a first seq not after 0 in serial order still lies ahead of the start */
    s = fresh();
    CHECK_EQ_INT(ing_seq_record(&s, 0xC0000005u, 1), 0);
    CHECK_EQ_INT(s.npending, 1);
    CHECK(ing_seq_is_dup(&s, 0xC0000005u));
    CHECK(!ing_seq_is_dup(&s, 0xC0000006u));
    s = fresh();
    CHECK_EQ_INT(ing_seq_record(&s, 0, 1), 0);
    CHECK_EQ_INT(s.npending, 1);
    CHECK(!ing_seq_is_dup(&s, 1));

    /* wrap around 2^32 */
    s = fresh();
    s.known = 1;
    s.watermark = 0xFFFFFFFDu;
    CHECK(ing_seq_record(&s, 0xFFFFFFFEu, 1));
    CHECK(ing_seq_record(&s, 0xFFFFFFFFu, 1));
    CHECK(!ing_seq_is_dup(&s, 0));
    CHECK(!ing_seq_record(&s, 1, 1));
    CHECK(ing_seq_record(&s, 0, 1));
    CHECK_EQ_INT(s.watermark, 1);
    CHECK(ing_seq_is_dup(&s, 0xFFFFFFF0u));

    /* a full pending set refuses to track more rather than guessing at the gap */
    s = fresh();
    s.known = 1;
    for (uint32_t i = 0; i < STORE_PENDING_MAX; i++)
        CHECK(ing_seq_record(&s, 2 + i * 2, 1) == 0);
    CHECK_EQ_INT(s.npending, STORE_PENDING_MAX);
    CHECK_EQ_INT(ing_seq_record(&s, 2 + STORE_PENDING_MAX * 2, 1), -1);
    CHECK(!ing_seq_is_dup(&s, 2 + STORE_PENDING_MAX * 2)); /* its resend is taken again */
    CHECK_EQ_INT(s.watermark, 0);
    CHECK_EQ_INT(s.npending, STORE_PENDING_MAX);
    /* filling the gaps drains it */
    CHECK(ing_seq_record(&s, 1, 2));
    CHECK_EQ_INT(s.watermark, 2);

    return tk_check_result("ingest_ack");
}
