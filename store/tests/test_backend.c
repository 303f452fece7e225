/* The store interface (store.h) against any backend: run with a store URI as argument or
 * in TK_TEST_PG_URI ("postgresql://..."; tests/pg/pgserver.py starts a server for it), or
 * with no argument on a fresh SQLite file. The same checks run against both backends
 * (ctest: store_backend_sqlite, store_backend_pg): registry, duplicates within and across
 * transactions, rollback, ranges, latest values, aggregates equal to the raw rows, two
 * writers on one datastream, delivery state, quarantine with binary payloads, retention,
 * removal. */
#include <math.h>

#include "store_test_util.h"

#define N_ROWS 3000

static struct store *open_store(const char *uri)
{
    struct store *st = NULL;
    enum tk_rc rc = store_open(uri, NULL, &st);
    if (rc) {
        fprintf(stderr, "store_open(%s): %s\n", uri, tk_strerror(rc));
        exit(1);
    }
    return st;
}

static void add(struct store *st, int64_t ds, int64_t t, double v, enum tk_rc want)
{
    struct store_obs o = {.ds_id = ds, .t_us = t, .result = v};
    CHECK_EQ_INT(store_obs_add(st, &o), want);
    CHECK(o.id > 0);
}

/* Aggregates of [from, to) at interval iv computed from the raw rows. */
static void check_aggregates(struct store *st, int64_t ds, enum store_interval iv, int64_t from,
                             int64_t to)
{
    static const int64_t len[] = {MIN_US, HOUR_US, DAY_US};
    static struct store_point pts[N_ROWS * 2];
    static struct store_agg agg[N_ROWS * 2];
    size_t np = 0, na = 0;
    CHECK_EQ_INT(store_range(st, ds, from, to, 0, pts, N_ROWS * 2, &np), TK_OK);
    CHECK_EQ_INT(store_aggregate(st, ds, iv, from, to, agg, N_ROWS * 2, &na), TK_OK);
    size_t k = 0;
    for (size_t i = 0; i < np;) {
        int64_t b = pts[i].t_us - pts[i].t_us % len[iv];
        int64_t n = 0;
        double sum = 0, lo = INFINITY, hi = -INFINITY;
        for (; i < np && pts[i].t_us - pts[i].t_us % len[iv] == b; i++) {
            n++;
            sum += pts[i].result;
            lo = fmin(lo, pts[i].result);
            hi = fmax(hi, pts[i].result);
        }
        CHECK(k < na);
        if (k >= na) {
            fprintf(stderr, "ds %lld iv %d: bucket %lld (%lld rows) missing\n", (long long)ds,
                    (int)iv, (long long)b, (long long)n);
            return;
        }
        CHECK_EQ_INT(agg[k].bucket_us, b);
        CHECK_EQ_INT(agg[k].count, n);
        CHECK(fabs(agg[k].sum - sum) < 1e-6);
        CHECK(agg[k].min == lo);
        CHECK(agg[k].max == hi);
        k++;
    }
    CHECK_EQ_INT(k, na);
}

static size_t count_range(struct store *st, int64_t ds)
{
    static struct store_point pts[N_ROWS * 4];
    size_t n = 0;
    CHECK_EQ_INT(store_range(st, ds, 0, INT64_MAX, 0, pts, N_ROWS * 4, &n), TK_OK);
    for (size_t i = 1; i < n; i++)
        CHECK(pts[i].t_us > pts[i - 1].t_us); /* no duplicates, ascending */
    return n;
}

int main(int argc, char **argv)
{
    struct tmpdb t = {{0}, {0}};
    char uri[1024];
    test_store_uri(argc, argv, &t, uri, sizeof uri);
    fprintf(stderr, "store URI %s\n", uri);
    struct store *st = open_store(uri);
    CHECK(store_schema_version(st) >= 1);
    /* both backends offer everything beyond readings (the ingest skips what is missing) */
    CHECK_EQ_INT(store_caps(st), STORE_CAP_ALERTS | STORE_CAP_COUNTERS | STORE_CAP_KEYS);

    /* ---- registry ---- */
    struct store_device d = test_device("wl-001", TK_KIND_WATER_LEVEL, 34.39, 132.45), a, g;
    d.mount_height_m = 2.5;
    CHECK_EQ_INT(store_device_add(st, &d, &a), TK_OK);
    CHECK_EQ_INT(store_device_add(st, &d, NULL), TK_EDUP);
    struct store_device bad = test_device("bad id!", TK_KIND_WATER_LEVEL, 0, 0);
    CHECK_EQ_INT(store_device_add(st, &bad, NULL), TK_EINVAL);
    CHECK_EQ_INT(store_device_get(st, "wl-001", &g), TK_OK);
    CHECK_EQ_INT(g.thing_id, a.thing_id);
    CHECK_EQ_INT(g.ds[TK_Q_WATER_LEVEL], a.ds[TK_Q_WATER_LEVEL]);
    CHECK(g.ds[TK_Q_WATER_LEVEL] > 0 && g.ds[TK_Q_BATTERY_VOLTAGE] > 0);
    CHECK(fabs(g.lat - 34.39) < 1e-9 && fabs(g.lon - 132.45) < 1e-9);
    CHECK(fabs(g.mount_height_m - 2.5) < 1e-9);
    CHECK_EQ_INT(g.kind, TK_KIND_WATER_LEVEL);
    CHECK_EQ_STR(g.transport, "mqtt");
    CHECK_EQ_INT(store_device_get(st, "nobody", &g), TK_ENOTFOUND);
    struct store_device p = test_device("pf-001", TK_KIND_PEOPLE_FLOW, 34.4, 132.46), pa;
    CHECK_EQ_INT(store_device_add(st, &p, &pa), TK_OK);
    int64_t ds = a.ds[TK_Q_WATER_LEVEL], ds2 = a.ds[TK_Q_BATTERY_VOLTAGE];

    /* ---- writes: interleaved streams, duplicates inside and across transactions ---- */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int i = 0; i < N_ROWS; i++) {
        add(st, ds, T0 + i * MIN_US, sin(i * 0.01), TK_OK);
        add(st, ds2, T0 + i * MIN_US, 3.0 + i * 0.001, TK_OK);
    }
    add(st, ds, T0 + 5 * MIN_US, 9, TK_EDUP); /* a row of this transaction */
    struct store_obs unk = {.ds_id = 999999, .t_us = T0, .result = 1};
    CHECK_EQ_INT(store_obs_add(st, &unk), TK_ENOTFOUND);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(count_range(st, ds), N_ROWS);
    add(st, ds, T0 + 7 * MIN_US, 9, TK_EDUP); /* outside a transaction, already stored */
    add(st, ds, T0 - DAY_US, 1.5, TK_OK);     /* older than anything: new */
    add(st, ds, T0 - 400 * DAY_US, 2.5, TK_OK); /* a year back (another partition) */
    CHECK_EQ_INT(count_range(st, ds), N_ROWS + 2);

    /* a rolled-back transaction leaves nothing, and its rows can be written again */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    add(st, ds, T0 + N_ROWS * MIN_US, 7, TK_OK);
    add(st, ds, T0 + 200 * DAY_US, 7, TK_OK);
    store_rollback(st);
    CHECK_EQ_INT(count_range(st, ds), N_ROWS + 2);
    add(st, ds, T0 + N_ROWS * MIN_US, 7, TK_OK);

    /* ranges, by id, latest */
    struct store_point pts[16], pt;
    size_t n = 0;
    CHECK_EQ_INT(store_range(st, ds, T0, T0 + 10 * MIN_US, 0, pts, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 10);
    CHECK_EQ_INT(pts[0].t_us, T0);
    CHECK_EQ_INT(pts[9].t_us, T0 + 9 * MIN_US);
    CHECK_EQ_INT(pts[0].result_time_us, T0);
    CHECK_EQ_INT(pts[0].t_end_us, 0);
    CHECK_EQ_INT(store_range(st, ds, T0, T0 + 10 * MIN_US, 1, pts, 3, &n), TK_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(pts[0].t_us, T0 + 9 * MIN_US);
    int64_t got_ds = 0;
    CHECK_EQ_INT(store_obs_get(st, pts[0].id, &pt, &got_ds), TK_OK);
    CHECK_EQ_INT(got_ds, ds);
    CHECK_EQ_INT(pt.t_us, T0 + 9 * MIN_US);
    CHECK_EQ_INT(store_obs_get(st, INT64_C(1) << 60, &pt, &got_ds), TK_ENOTFOUND);
    int64_t ids[3] = {ds, ds2, pa.ds[TK_Q_PEOPLE_IN]};
    struct store_point lt[3];
    int found[3];
    CHECK_EQ_INT(store_latest(st, ids, 3, lt, found), TK_OK);
    CHECK(found[0] && found[1] && !found[2]);
    CHECK_EQ_INT(lt[0].t_us, T0 + N_ROWS * MIN_US);
    CHECK(lt[0].result == 7);
    CHECK_EQ_INT(lt[1].t_us, T0 + (N_ROWS - 1) * MIN_US);

    /* an interval observation with parameters and a resultTime */
    struct store_obs io = {.ds_id = pa.ds[TK_Q_PEOPLE_IN],
                           .t_us = T0,
                           .t_end_us = T0 + 15 * MIN_US,
                           .result_time_us = T0 + 16 * MIN_US,
                           .result = 12,
                           .params = "{\"note\":\"a \\\"quoted\\\" \\\\ text\"}"};
    CHECK_EQ_INT(store_obs_add(st, &io), TK_OK);
    CHECK_EQ_INT(store_range(st, io.ds_id, 0, INT64_MAX, 0, pts, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(pts[0].t_end_us, T0 + 15 * MIN_US);
    CHECK_EQ_INT(pts[0].result_time_us, T0 + 16 * MIN_US);

    /* aggregates equal the raw rows */
    CHECK_EQ_INT(store_flush(st), TK_OK);
    for (int iv = STORE_MINUTE; iv <= STORE_DAY; iv++) {
        check_aggregates(st, ds, (enum store_interval)iv, T0 - 500 * DAY_US, T0 + 10 * DAY_US);
        check_aggregates(st, ds2, (enum store_interval)iv, T0, T0 + 10 * DAY_US);
    }

    /* ---- two writers on one datastream: a row stored by the other first is stored once ---- */
    struct store *st2 = open_store(uri);
    CHECK_EQ_INT(store_begin(st), TK_OK);
    add(st, ds, T0 + 3 * DAY_US, 1, TK_OK);
    add(st, ds, T0 + 3 * DAY_US + MIN_US, 2, TK_OK);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_begin(st2), TK_OK);
    add(st2, ds, T0 + 3 * DAY_US + MIN_US, 2, TK_EDUP); /* the other's row */
    add(st2, ds, T0 + 3 * DAY_US + 2 * MIN_US, 3, TK_OK);
    CHECK_EQ_INT(store_commit(st2), TK_OK);
    /* st has not seen st2's row: it takes it for new, and the store keeps one */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    struct store_obs race = {.ds_id = ds, .t_us = T0 + 3 * DAY_US + 2 * MIN_US, .result = 3};
    enum tk_rc rr = store_obs_add(st, &race);
    CHECK(rr == TK_OK || rr == TK_EDUP);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_range(st, ds, T0 + 3 * DAY_US, T0 + 4 * DAY_US, 0, pts, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 3);
    check_aggregates(st, ds, STORE_MINUTE, T0 + 3 * DAY_US, T0 + 4 * DAY_US);
    check_aggregates(st, ds, STORE_DAY, T0 - 500 * DAY_US, T0 + 10 * DAY_US);
    CHECK_EQ_INT(store_latest(st2, ids, 1, lt, found), TK_OK);
    CHECK_EQ_INT(lt[0].t_us, T0 + 3 * DAY_US + 2 * MIN_US);

    /* ---- delivery state ---- */
    struct store_seq_state s = {0}, s2;
    CHECK_EQ_INT(store_seq_load(st, "wl-001", &s2), TK_OK);
    CHECK_EQ_INT(s2.known, 0);
    s.known = 1;
    s.watermark = 4000000000u;
    s.npending = 3;
    s.pending[0] = 4000000002u;
    s.pending[1] = 4000000005u;
    s.pending[2] = 7; /* after wrapping */
    s.gap_since_us = T0;
    s.has_cum = 1;
    s.cum_seq = 42;
    s.cum_ts_us = T0 + 1;
    s.cum_in = 1000;
    s.cum_out = 999;
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_seq_save(st, "wl-001", &s), TK_OK);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_begin(st2), TK_OK);
    CHECK_EQ_INT(store_seq_load(st2, "wl-001", &s2), TK_OK); /* inside a transaction */
    store_rollback(st2);
    CHECK_EQ_INT(s2.known, 1);
    CHECK_EQ_INT(s2.watermark, 4000000000u);
    CHECK_EQ_INT(s2.npending, 3);
    CHECK_EQ_INT(s2.pending[0], 4000000002u);
    CHECK_EQ_INT(s2.pending[2], 7);
    CHECK_EQ_INT(s2.gap_since_us, T0);
    CHECK_EQ_INT(s2.has_cum, 1);
    CHECK_EQ_INT(s2.cum_seq, 42);
    CHECK_EQ_INT(s2.cum_out, 999);
    s.npending = 0;
    CHECK_EQ_INT(store_seq_save(st, "wl-001", &s), TK_OK); /* its own transaction */
    CHECK_EQ_INT(store_seq_load(st2, "wl-001", &s2), TK_OK);
    CHECK_EQ_INT(s2.npending, 0);

    /* ---- quarantine: binary payloads kept ---- */
    static const unsigned char raw[] = {'{', 0, 0xff, '"', '\\', 0x80};
    struct store_quarantine q = {.received_us = T0 - 100 * DAY_US,
                                 .topic = "city/water_level/wl-001/reading",
                                 .payload = raw,
                                 .payload_len = sizeof raw,
                                 .device_id = "wl-001",
                                 .code = TK_EPROTO,
                                 .path = "",
                                 .reason = "not JSON"};
    CHECK_EQ_INT(store_quarantine_add(st, &q), TK_OK);
    CHECK(q.id > 0);
    q.received_us = T0;
    q.device_id = NULL;
    CHECK_EQ_INT(store_quarantine_add(st, &q), TK_OK);
    int64_t nq = 0;
    CHECK_EQ_INT(store_quarantine_count(st, &nq), TK_OK);
    CHECK_EQ_INT(nq, 2);

    /* ---- retention: old raw rows go, rollups and the latest row stay ---- */
    static struct store_agg before[3][64], after[3][64];
    size_t nb[3], na[3];
    for (int iv = STORE_HOUR; iv <= STORE_DAY; iv++)
        CHECK_EQ_INT(store_aggregate(st, ds, (enum store_interval)iv, T0 - 500 * DAY_US,
                                     T0 - 300 * DAY_US, before[iv], 64, &nb[iv]),
                     TK_OK);
    size_t removed = 0, total = 0;
    do {
        CHECK_EQ_INT(store_retention(st, T0, T0 - 50 * DAY_US, 1, &removed), TK_OK);
        total += removed;
    } while (removed == 1 && total < 100);
    CHECK_EQ_INT(total, 3); /* two old rows of ds, one old quarantined message */
    CHECK_EQ_INT(store_quarantine_count(st, &nq), TK_OK);
    CHECK_EQ_INT(nq, 1);
    CHECK_EQ_INT(store_range(st, ds, 0, T0, 0, pts, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 0);
    for (int iv = STORE_HOUR; iv <= STORE_DAY; iv++) {
        CHECK_EQ_INT(store_aggregate(st, ds, (enum store_interval)iv, T0 - 500 * DAY_US,
                                     T0 - 300 * DAY_US, after[iv], 64, &na[iv]),
                     TK_OK);
        CHECK_EQ_INT(na[iv], nb[iv]);
        CHECK(na[iv] == 0 || after[iv][0].count == before[iv][0].count);
    }
    /* the latest row of a stream stays whatever its age */
    CHECK_EQ_INT(store_retention(st, T0 + 100 * DAY_US, 0, 100000, &removed), TK_OK);
    CHECK_EQ_INT(store_latest(st, ids, 2, lt, found), TK_OK);
    CHECK(found[0] && found[1]);
    CHECK_EQ_INT(store_range(st, ds2, 0, INT64_MAX, 0, pts, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 1);
    /* new rows after retention */
    add(st, ds, T0 + 101 * DAY_US, 1, TK_OK);

    /* ---- removal ---- */
    CHECK_EQ_INT(store_device_remove(st, "wl-001"), TK_OK);
    CHECK_EQ_INT(store_device_remove(st, "wl-001"), TK_ENOTFOUND);
    CHECK_EQ_INT(store_device_get(st2, "wl-001", &g), TK_ENOTFOUND);
    CHECK_EQ_INT(store_range(st, ds, 0, INT64_MAX, 0, pts, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 0);
    struct store_obs gone = {.ds_id = ds, .t_us = T0 + 500 * DAY_US, .result = 1};
    CHECK_EQ_INT(store_obs_add(st, &gone), TK_ENOTFOUND);
    CHECK_EQ_INT(store_device_get(st, "pf-001", &g), TK_OK);

    store_close(st2);
    store_close(st);
    if (t.dir[0])
        tmpdb_remove(&t);
    return tk_check_result("store_backend");
}
