/* Per-device delivery state and the quarantine. With the argument "pg", against the
 * PostgreSQL store in TK_TEST_PG_URI (ctest store_state_pg, under tests/pg/pgserver.py). */
#include "store_test_util.h"

int main(int argc, char **argv)
{
    struct tmpdb t;
    const char *uri = test_store_uri(argc, argv, &t);
    if (!uri)
        return 1;
    struct store *st = NULL;
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    if (!st)
        return tk_check_result("store_state");

    /* unknown device: all zero */
    struct store_seq_state s;
    memset(&s, 0xff, sizeof s);
    CHECK_EQ_INT(store_seq_load(st, "wl-a-0001", &s), TK_OK);
    CHECK_EQ_INT(s.known, 0);
    CHECK_EQ_INT(s.npending, 0);
    CHECK_EQ_INT(s.watermark, 0);

    /* round trip, full pending array, extreme values */
    struct store_seq_state w;
    memset(&w, 0, sizeof w);
    w.known = 1;
    w.watermark = 4294967290u;
    w.npending = STORE_PENDING_MAX;
    for (int i = 0; i < STORE_PENDING_MAX; i++)
        w.pending[i] = 4294967292u + (uint32_t)i * 3u; /* wraps: serial order */
    w.gap_since_us = T0 + 5;
    w.has_cum = 1;
    w.cum_seq = 4294967295u;
    w.cum_ts_us = T0;
    w.cum_in = INT64_C(9007199254740993);
    w.cum_out = -1;
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_seq_save(st, "wl-a-0001", &w), TK_OK);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_seq_load(st, "wl-a-0001", &s), TK_OK);
    CHECK_EQ_INT(s.known, 1);
    CHECK_EQ_INT(s.watermark, w.watermark);
    CHECK_EQ_INT(s.npending, STORE_PENDING_MAX);
    CHECK(memcmp(s.pending, w.pending, sizeof w.pending) == 0);
    CHECK_EQ_INT(s.gap_since_us, w.gap_since_us);
    CHECK_EQ_INT(s.has_cum, 1);
    CHECK_EQ_INT(s.cum_seq, w.cum_seq);
    CHECK_EQ_INT(s.cum_ts_us, w.cum_ts_us);
    CHECK_EQ_INT(s.cum_in, w.cum_in);
    CHECK_EQ_INT(s.cum_out, -1);

    /* overwrite with fewer pending; outside a transaction */
    w.npending = 2;
    w.pending[0] = 7;
    w.pending[1] = 9;
    w.has_cum = 0;
    CHECK_EQ_INT(store_seq_save(st, "wl-a-0001", &w), TK_OK);
    CHECK_EQ_INT(store_seq_load(st, "wl-a-0001", &s), TK_OK);
    CHECK_EQ_INT(s.npending, 2);
    CHECK_EQ_INT(s.pending[1], 9);
    CHECK_EQ_INT(s.has_cum, 0);

    /* rolled back with its transaction */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    w.watermark = 1;
    CHECK_EQ_INT(store_seq_save(st, "wl-a-0001", &w), TK_OK);
    CHECK_EQ_INT(store_seq_save(st, "wl-b-0002", &w), TK_OK);
    store_rollback(st);
    CHECK_EQ_INT(store_seq_load(st, "wl-a-0001", &s), TK_OK);
    CHECK_EQ_INT(s.watermark, 4294967290u);
    CHECK_EQ_INT(store_seq_load(st, "wl-b-0002", &s), TK_OK);
    CHECK_EQ_INT(s.known, 0);

    /* bad input */
    w.npending = STORE_PENDING_MAX + 1;
    CHECK_EQ_INT(store_seq_save(st, "wl-a-0001", &w), TK_EINVAL);
    w.npending = -1;
    CHECK_EQ_INT(store_seq_save(st, "wl-a-0001", &w), TK_EINVAL);

    /* quarantine: raw bytes (with NULs), optional fields, counted, rolled back */
    int64_t n = -1;
    CHECK_EQ_INT(store_quarantine_count(st, &n), TK_OK);
    CHECK_EQ_INT(n, 0);
    static const char raw[] = {'{', '"', 'v', '\0', '\xff', '}'};
    struct store_quarantine q = {.received_us = T0,
                                 .topic = "city/water_level/wl-a-0001/reading",
                                 .payload = raw,
                                 .payload_len = sizeof raw,
                                 .device_id = "wl-a-0001",
                                 .code = TK_EPROTO,
                                 .path = "",
                                 .reason = "not JSON"};
    CHECK_EQ_INT(store_quarantine_add(st, &q), TK_OK);
    CHECK(q.id > 0);
    struct store_quarantine q2 = {.received_us = T0 + 1,
                                  .topic = "city/x",
                                  .payload = NULL,
                                  .payload_len = 0,
                                  .device_id = NULL,
                                  .code = TK_ESCHEMA,
                                  .path = "/seq",
                                  .reason = "must be an integer"};
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_quarantine_add(st, &q2), TK_OK);
    CHECK(q2.id > q.id);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_quarantine_add(st, &q2), TK_OK);
    store_rollback(st);
    CHECK_EQ_INT(store_quarantine_count(st, &n), TK_OK);
    CHECK_EQ_INT(n, 2);
    struct store_quarantine bad = {.payload = NULL, .payload_len = 3};
    CHECK_EQ_INT(store_quarantine_add(st, &bad), TK_EINVAL);

    /* read-only stores refuse writes cleanly */
    store_close(st);
    struct store_options ro = {.readonly = 1};
    CHECK_EQ_INT(store_open(uri, &ro, &st), TK_OK);
    if (st) {
        CHECK_EQ_INT(store_seq_load(st, "wl-a-0001", &s), TK_OK);
        CHECK_EQ_INT(s.npending, 2);
        w.npending = 2;
        CHECK_EQ_INT(store_seq_save(st, "wl-a-0001", &w), TK_EINVAL);
        CHECK_EQ_INT(store_begin(st), TK_EINVAL);
        CHECK_EQ_INT(store_quarantine_add(st, &q), TK_EINVAL);
        CHECK_EQ_INT(store_quarantine_count(st, &n), TK_OK);
        CHECK_EQ_INT(n, 2);
        CHECK_EQ_INT(store_maintain(st), TK_OK);
        store_close(st);
    }
    if (t.dir[0])
        tmpdb_remove(&t);
    return tk_check_result("store_state");
}
