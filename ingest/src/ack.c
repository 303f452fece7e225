/* Watermark bookkeeping.
 *
 * Seqs are uint32 and may wrap, so order is serial-number order (RFC 1982): a is
 * after b when (int32_t)(a - b) > 0. Everything in `pending` lies within 2^31 after
 * the watermark, so the distance (seq - watermark) sorts it.
 *
 * A device never seen before is expected to start at seq 1 (a fresh ring buffer starts
 * there): its state begins with watermark 0, whatever reading arrives first. Taking the
 * first reading to arrive as the start would acknowledge, unstored, every older reading
 * still on its way: one that a killed ingest had taken from the broker but not committed,
 * or one that another worker of a shared subscription has not committed yet. A device
 * that really starts later (provisioned with a counter already running) shows it the way
 * any device shows a lost gap: it resends its oldest reading, the first seq beyond the
 * gap, and after the gap timeout the seqs before it are declared lost (ing_seq_expire). */
#include "ack.h"

#include <string.h>

static uint32_t dist(const struct store_seq_state *s, uint32_t seq)
{
    return seq - s->watermark;
}

int ing_seq_is_dup(const struct store_seq_state *s, uint32_t seq)
{
    if (!s->known)
        return 0;
    if ((int32_t)(seq - s->watermark) <= 0)
        return 1;
    for (int i = 0; i < s->npending; i++)
        if (s->pending[i] == seq)
            return 1;
    return 0;
}

/* Move the watermark over pending seqs that now follow it directly. */
static void drain(struct store_seq_state *s, int64_t now_us)
{
    int k = 0;
    while (k < s->npending && s->pending[k] == s->watermark + 1) {
        s->watermark = s->pending[k];
        k++;
    }
    if (k > 0) {
        memmove(s->pending, s->pending + k, (size_t)(s->npending - k) * sizeof s->pending[0]);
        s->npending -= k;
        /* A new oldest gap starts its own timer. */
        s->gap_since_us = s->npending ? now_us : 0;
    }
}

static void skip_oldest_gap(struct store_seq_state *s, int64_t now_us, uint64_t *lost,
                            uint32_t *gap_first, uint32_t *gap_last)
{
    uint32_t first = s->watermark + 1, last = s->pending[0] - 1;
    if (lost)
        *lost += (uint64_t)(last - first) + 1;
    if (gap_first)
        *gap_first = first;
    if (gap_last)
        *gap_last = last;
    s->watermark = last;
    drain(s, now_us);
}

int ing_seq_record(struct store_seq_state *s, uint32_t seq, int64_t now_us)
{
    if (!s->known) {
        s->known = 1;
        /* before seq 1; a first seq that is not after 0 in serial order (0, or 2^31 and
         * beyond) gets a start just far enough back for it to be ahead */
        s->watermark = (int32_t)seq > 0 ? 0 : seq - (UINT32_C(1) << 30);
        s->npending = 0;
        s->gap_since_us = 0;
    }
    uint32_t before = s->watermark;
    if (seq == s->watermark + 1) {
        s->watermark = seq;
        drain(s, now_us);
        return 1;
    }
    /* Beyond a gap: insert in serial order, if there is room. */
    if (s->npending == STORE_PENDING_MAX)
        return -1;
    int i = s->npending;
    while (i > 0 && dist(s, s->pending[i - 1]) > dist(s, seq)) {
        s->pending[i] = s->pending[i - 1];
        i--;
    }
    s->pending[i] = seq;
    s->npending++;
    if (s->npending == 1)
        s->gap_since_us = now_us;
    return s->watermark != before;
}

int ing_seq_expire(struct store_seq_state *s, int64_t now_us, int64_t timeout_us,
                   int device_resent_beyond, uint64_t *lost, uint32_t *gap_first,
                   uint32_t *gap_last)
{
    if (!s->known || s->npending == 0 || !device_resent_beyond ||
        now_us - s->gap_since_us < timeout_us)
        return 0;
    skip_oldest_gap(s, now_us, lost, gap_first, gap_last);
    return 1;
}
