/* Observations: range bounds and order, latest, duplicates, and aggregates equal to
 * aggregates of the raw rows, compared with an in-memory model through random
 * out-of-order and duplicate inserts, rollbacks, and (SQLite) moves out of the staging
 * table. With the argument "pg", against the PostgreSQL store in TK_TEST_PG_URI (ctest
 * store_obs_pg, under tests/pg/pgserver.py). */
#include <math.h>
#include <stdint.h>

#include "store_test_util.h"

static int pg; /* running against PostgreSQL */

static int64_t count_rows(const char *uri, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return test_sql_int(uri, sql);
}

#define NDS 3
#define STEP_US (20 * INT64_C(1000000)) /* 3 rows per minute bucket */
#define K 12960                         /* 3 days of 20 s slots */

static int present[NDS][K];
static double val[NDS][K];
static int64_t ids[NDS][K];
static int64_t ds_ids[NDS];

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static int64_t rnd_in(int64_t lo, int64_t hi) /* [lo, hi) */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo));
}

static int64_t floor_to(int64_t t, int64_t iv)
{
    return t - (((t % iv) + iv) % iv);
}

static int check_aggregate(struct store *st, int d, enum store_interval iv, int64_t from,
                           int64_t to)
{
    int64_t ivu = iv == STORE_MINUTE ? MIN_US : iv == STORE_HOUR ? HOUR_US : DAY_US;
    static struct store_agg want[K], got[K];
    size_t nw = 0;
    for (int k = 0; k < K; k++) {
        if (!present[d][k])
            continue;
        int64_t b = floor_to(T0 + k * STEP_US, ivu);
        if (b < from || b >= to)
            continue;
        if (nw && want[nw - 1].bucket_us == b) {
            struct store_agg *a = &want[nw - 1];
            a->count++;
            a->sum += val[d][k];
            a->min = fmin(a->min, val[d][k]);
            a->max = fmax(a->max, val[d][k]);
        } else {
            want[nw++] = (struct store_agg){b, 1, val[d][k], val[d][k], val[d][k]};
        }
    }
    size_t n = 0;
    enum tk_rc rc = store_aggregate(st, ds_ids[d], iv, from, to, got, K, &n);
    int ok = rc == TK_OK && n == nw;
    for (size_t i = 0; ok && i < n; i++)
        ok = got[i].bucket_us == want[i].bucket_us && got[i].count == want[i].count &&
             got[i].sum == want[i].sum && got[i].min == want[i].min && got[i].max == want[i].max;
    if (!ok)
        fprintf(stderr, "aggregate ds %d iv %d [%lld, %lld): rc %d, %zu buckets, want %zu\n", d,
                (int)iv, (long long)from, (long long)to, (int)rc, n, nw);
    /* a limit cuts the oldest-first list */
    if (ok && nw > 2) {
        rc = store_aggregate(st, ds_ids[d], iv, from, to, got, 2, &n);
        ok = rc == TK_OK && n == 2 && got[1].bucket_us == want[1].bucket_us &&
             got[1].count == want[1].count;
    }
    return ok;
}

static int check_range(struct store *st, int d, int64_t from, int64_t to, int desc, size_t limit)
{
    static struct store_point got[K];
    size_t n = 0;
    if (store_range(st, ds_ids[d], from, to, desc, got, limit, &n) != TK_OK)
        return 0;
    size_t i = 0;
    for (int j = 0; j < K && i < limit; j++) {
        int k = desc ? K - 1 - j : j;
        int64_t t = T0 + k * STEP_US;
        if (!present[d][k] || t < from || t >= to)
            continue;
        if (i >= n || got[i].t_us != t || got[i].id != ids[d][k] || got[i].result != val[d][k] ||
            got[i].result_time_us != t || got[i].t_end_us != 0) {
            fprintf(stderr,
                    "range ds %d row %zu differs: want t %lld id %lld v %g, got n %zu t %lld id "
                    "%lld v %g\n",
                    d, i, (long long)t, (long long)ids[d][k], val[d][k], n,
                    i < n ? (long long)got[i].t_us : 0LL, i < n ? (long long)got[i].id : 0LL,
                    i < n ? got[i].result : 0.0);
            return 0;
        }
        i++;
    }
    return i == n;
}

static int check_latest(struct store *st)
{
    struct store_point p[NDS];
    int found[NDS];
    if (store_latest(st, ds_ids, NDS, p, found) != TK_OK)
        return 0;
    for (int d = 0; d < NDS; d++) {
        int k = K - 1;
        while (k >= 0 && !present[d][k])
            k--;
        if (k < 0 ? found[d] != 0
                  : (!found[d] || p[d].t_us != T0 + k * STEP_US || p[d].id != ids[d][k] ||
                     p[d].result != val[d][k]))
            return 0;
    }
    return 1;
}

/* Observations found by id, moved or staged; unknown ids are not. */
static int check_ids(struct store *st)
{
    for (int r = 0; r < 200; r++) {
        int d = (int)rnd_in(0, NDS), k = (int)rnd_in(0, K);
        if (!present[d][k])
            continue;
        struct store_point p;
        int64_t ds = 0;
        if (store_obs_get(st, ids[d][k], &p, &ds) != TK_OK || ds != ds_ids[d] ||
            p.id != ids[d][k] || p.t_us != T0 + k * STEP_US || p.result != val[d][k]) {
            fprintf(stderr, "id %lld of ds %d slot %d not found as stored\n",
                    (long long)ids[d][k], d, k);
            return 0;
        }
    }
    struct store_point p;
    int64_t ds;
    return store_obs_get(st, INT64_C(1) << 50, &p, &ds) == TK_ENOTFOUND &&
           store_obs_get(st, 0, &p, &ds) == TK_ENOTFOUND;
}

static void check_all(struct store *st, const char *when)
{
    int before = tk_check_failures;
    CHECK(check_latest(st));
    CHECK(check_ids(st));
    for (int d = 0; d < NDS; d++) {
        for (int iv = 0; iv < 3; iv++) {
            CHECK(check_aggregate(st, d, (enum store_interval)iv, 0, INT64_MAX));
            for (int r = 0; r < 3; r++) {
                int64_t a = T0 + rnd_in(-HOUR_US, K * STEP_US), b = a + rnd_in(1, DAY_US);
                CHECK(check_aggregate(st, d, (enum store_interval)iv, a, b));
            }
        }
        CHECK(check_range(st, d, 0, INT64_MAX, 0, K));
        CHECK(check_range(st, d, 0, INT64_MAX, 1, K));
        for (int r = 0; r < 3; r++) {
            int64_t a = T0 + rnd_in(-HOUR_US, K * STEP_US), b = a + rnd_in(1, DAY_US);
            CHECK(check_range(st, d, a, b, (int)(rnd() & 1), (size_t)rnd_in(1, 500)));
        }
    }
    if (tk_check_failures != before)
        fprintf(stderr, "  (%s)\n", when);
}

static void explicit_cases(struct store *st, int64_t ds)
{
    /* bounds: from inclusive, to exclusive */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    int64_t first_id = 0;
    for (int i = 0; i < 10; i++) {
        struct store_obs o = {.ds_id = ds, .t_us = T0 + i * MIN_US, .result = i * 1.5};
        if (i == 3) {
            o.t_end_us = o.t_us + MIN_US;
            o.result_time_us = o.t_us + 5;
            o.params = "{\"raw_distance_mm\":1200}";
        }
        CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
        if (i == 0)
            first_id = o.id;
        else
            CHECK_EQ_INT(o.id, first_id + i);
    }
    CHECK_EQ_INT(store_commit(st), TK_OK);
    struct store_point p[16];
    size_t n = 0;
    CHECK_EQ_INT(store_range(st, ds, T0 + 2 * MIN_US, T0 + 5 * MIN_US, 0, p, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(p[0].t_us, T0 + 2 * MIN_US);
    CHECK_EQ_INT(p[2].t_us, T0 + 4 * MIN_US);
    CHECK_EQ_INT(p[1].t_end_us, T0 + 4 * MIN_US);
    CHECK_EQ_INT(p[1].result_time_us, T0 + 3 * MIN_US + 5);
    CHECK(p[1].result == 4.5);
    CHECK_EQ_INT(store_range(st, ds, T0 + 2 * MIN_US, T0 + 5 * MIN_US, 1, p, 2, &n), TK_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(p[0].t_us, T0 + 4 * MIN_US);
    CHECK_EQ_INT(p[1].t_us, T0 + 3 * MIN_US);
    CHECK_EQ_INT(store_range(st, ds, T0 + 5 * MIN_US, T0 + 5 * MIN_US, 0, p, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(store_range(st, ds, T0, T0 + MIN_US + 1, 0, p, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 2);

    /* duplicates: in the same transaction, staged, and moved; the id is the first one */
    struct store_obs dup = {.ds_id = ds, .t_us = T0 + 3 * MIN_US, .result = 99};
    CHECK_EQ_INT(store_obs_add(st, &dup), TK_EDUP); /* staged, outside a transaction */
    CHECK_EQ_INT(dup.id, first_id + 3);
    CHECK_EQ_INT(store_begin(st), TK_OK);
    struct store_obs a = {.ds_id = ds, .t_us = T0 + 30 * MIN_US, .result = 1};
    CHECK_EQ_INT(store_obs_add(st, &a), TK_OK);
    struct store_obs b = a;
    b.result = 2;
    CHECK_EQ_INT(store_obs_add(st, &b), TK_EDUP);
    CHECK_EQ_INT(b.id, a.id);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_flush(st), TK_OK);
    b.id = 0;
    CHECK_EQ_INT(store_obs_add(st, &b), TK_EDUP); /* moved */
    CHECK_EQ_INT(b.id, a.id);
    CHECK_EQ_INT(store_range(st, ds, T0 + 30 * MIN_US, T0 + 31 * MIN_US, 0, p, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(p[0].result == 1);
    CHECK_EQ_INT(p[0].id, a.id); /* the id survived the move */
    /* ids go on growing after a move */
    struct store_obs c = {.ds_id = ds, .t_us = T0 + 31 * MIN_US, .result = 3};
    CHECK_EQ_INT(store_obs_add(st, &c), TK_OK);
    CHECK(c.id > a.id);

    /* latest follows the greatest time, not the last insert */
    struct store_obs older = {.ds_id = ds, .t_us = T0 + 20 * MIN_US, .result = 7};
    CHECK_EQ_INT(store_obs_add(st, &older), TK_OK);
    int found = 0;
    CHECK_EQ_INT(store_latest(st, &ds, 1, p, &found), TK_OK);
    CHECK_EQ_INT(found, 1);
    CHECK_EQ_INT(p[0].t_us, c.t_us);
    CHECK_EQ_INT(p[0].id, c.id);

    /* refused input */
    struct store_obs nan_obs = {.ds_id = ds, .t_us = T0 + 40 * MIN_US, .result = NAN};
    CHECK_EQ_INT(store_obs_add(st, &nan_obs), TK_EINVAL);
    struct store_obs unknown = {.ds_id = 999999, .t_us = T0, .result = 1};
    CHECK_EQ_INT(store_obs_add(st, &unknown), TK_ENOTFOUND);
    CHECK_EQ_INT(store_commit(st), TK_EINVAL);
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_begin(st), TK_EINVAL);
    CHECK_EQ_INT(store_obs_add(st, &unknown), TK_ENOTFOUND); /* does not poison the tx */
    struct store_obs e = {.ds_id = ds, .t_us = T0 + 50 * MIN_US, .result = 5};
    CHECK_EQ_INT(store_obs_add(st, &e), TK_OK);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_range(st, ds, T0 + 50 * MIN_US, T0 + 51 * MIN_US, 0, p, 16, &n), TK_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(store_aggregate(st, ds, (enum store_interval)5, 0, 1, NULL, 0, &n), TK_EINVAL);
}

/* Two connections writing the same streams (two writer processes): each sees the other's
 * commits, its cached latest state notwithstanding. */
static void two_writers(const char *uri, int64_t ds)
{
    struct store *a = NULL, *b = NULL;
    CHECK_EQ_INT(store_open(uri, NULL, &a), TK_OK);
    CHECK_EQ_INT(store_open(uri, NULL, &b), TK_OK);
    if (!a || !b) {
        store_close(a);
        store_close(b);
        return;
    }
    int64_t t = T0 + 400 * DAY_US;
    struct store_obs o1 = {.ds_id = ds, .t_us = t, .result = 1};
    CHECK_EQ_INT(store_obs_add(a, &o1), TK_OK); /* a caches ds's latest entry */
    struct store_obs o2 = {.ds_id = ds, .t_us = t + MIN_US, .result = 2};
    CHECK_EQ_INT(store_obs_add(b, &o2), TK_OK);
    CHECK(o2.id > o1.id);
    /* a must see b's row: a duplicate, and not newer than the latest */
    struct store_obs o3 = {.ds_id = ds, .t_us = t + MIN_US, .result = 3};
    CHECK_EQ_INT(store_obs_add(a, &o3), TK_EDUP);
    CHECK_EQ_INT(o3.id, o2.id);
    struct store_obs o4 = {.ds_id = ds, .t_us = t + 2 * MIN_US, .result = 4};
    CHECK_EQ_INT(store_begin(a), TK_OK);
    CHECK_EQ_INT(store_obs_add(a, &o4), TK_OK);
    /* SQLite's ids grow across writers; PostgreSQL's writers each take ids in blocks from
     * one sequence, so they grow per writer and are unique */
    if (pg)
        CHECK(o4.id > o1.id && o4.id != o2.id);
    else
        CHECK(o4.id > o2.id);
    /* inside a's transaction, its own reads see its rows */
    struct store_point p;
    int found = 0;
    CHECK_EQ_INT(store_latest(a, &ds, 1, &p, &found), TK_OK);
    CHECK(found && p.id == o4.id);
    CHECK_EQ_INT(store_commit(a), TK_OK);
    CHECK_EQ_INT(store_latest(b, &ds, 1, &p, &found), TK_OK);
    CHECK(found && p.id == o4.id && p.result == 4);
    /* b moves everything; a's cached staged window is stale but a re-reads it */
    CHECK_EQ_INT(store_flush(b), TK_OK);
    struct store_obs o5 = {.ds_id = ds, .t_us = t, .result = 5};
    CHECK_EQ_INT(store_obs_add(a, &o5), TK_EDUP);
    CHECK_EQ_INT(o5.id, o1.id);
    /* a rolled-back transaction leaves nothing in a's cache */
    struct store_obs o6 = {.ds_id = ds, .t_us = t + 3 * MIN_US, .result = 6};
    CHECK_EQ_INT(store_begin(a), TK_OK);
    CHECK_EQ_INT(store_obs_add(a, &o6), TK_OK);
    store_rollback(a);
    CHECK_EQ_INT(store_latest(a, &ds, 1, &p, &found), TK_OK);
    CHECK(found && p.id == o4.id);
    o6.result = 7;
    CHECK_EQ_INT(store_obs_add(a, &o6), TK_OK);
    CHECK_EQ_INT(store_latest(b, &ds, 1, &p, &found), TK_OK);
    CHECK(found && p.t_us == o6.t_us && p.result == 7);
    struct store_point r[8];
    size_t n = 0;
    CHECK_EQ_INT(store_range(b, ds, t, t + DAY_US, 0, r, 8, &n), TK_OK);
    CHECK_EQ_INT(n, 4);
    store_close(a);
    store_close(b);
}

int main(int argc, char **argv)
{
    struct tmpdb t = {{0}, {0}};
    char uri[1024];
    pg = test_store_uri(argc, argv, &t, uri, sizeof uri);
    struct store *st = NULL;
    struct store_options opt = {.stage_rows = 700};
    CHECK_EQ_INT(store_open(uri, &opt, &st), TK_OK);
    if (!st)
        return tk_check_result("store_obs");

    struct store_device d = test_device("wl-test-0001", TK_KIND_WATER_LEVEL, 35, 136);
    CHECK_EQ_INT(store_device_add(st, &d, &d), TK_OK);
    struct store_device e = test_device("wl-test-0002", TK_KIND_WATER_LEVEL, 35, 136);
    CHECK_EQ_INT(store_device_add(st, &e, &e), TK_OK);
    explicit_cases(st, e.ds[TK_Q_WATER_LEVEL]);
    two_writers(uri, e.ds[TK_Q_WATER_LEVEL]);

    enum tk_quantity qs[TK_Q_MAX];
    int nq = tk_kind_quantities(TK_KIND_WATER_LEVEL, qs);
    CHECK(nq >= NDS);
    for (int i = 0; i < NDS; i++)
        ds_ids[i] = d.ds[qs[i]];

    check_all(st, "empty");
    int touched[400][2];
    for (int round = 0; round < 60; round++) {
        int ntx = (int)rnd_in(1, 300), nt = 0;
        int rollback = rnd() % 10 == 0;
        CHECK_EQ_INT(store_begin(st), TK_OK);
        /* mostly in order per stream (the fast path), some backfill and duplicates */
        for (int i = 0; i < ntx; i++) {
            int dd = (int)rnd_in(0, NDS), k;
            if (rnd() % 4 == 0) {
                k = (int)rnd_in(0, K);
            } else {
                k = (int)rnd_in(round * K / 60, (round + 1) * K / 60);
            }
            struct store_obs o = {.ds_id = ds_ids[dd],
                                  .t_us = T0 + k * STEP_US,
                                  .result = (double)rnd_in(-400, 400) * 0.25};
            enum tk_rc rc = store_obs_add(st, &o);
            if (present[dd][k]) {
                CHECK_EQ_INT(rc, TK_EDUP);
                CHECK_EQ_INT(o.id, ids[dd][k]);
            } else {
                CHECK_EQ_INT(rc, TK_OK);
                present[dd][k] = 1;
                val[dd][k] = o.result;
                ids[dd][k] = o.id;
                touched[nt][0] = dd;
                touched[nt][1] = k;
                nt++;
            }
        }
        if (rollback) {
            store_rollback(st);
            for (int i = 0; i < nt; i++)
                present[touched[i][0]][touched[i][1]] = 0;
        } else {
            CHECK_EQ_INT(store_commit(st), TK_OK);
        }
        CHECK_EQ_INT(store_maintain(st), TK_OK);
        if (round % 10 == 9)
            check_all(st, "staged and moved rows mixed");
    }
    /* the random phase did leave rows on both sides (SQLite: moved and staged) */
    CHECK(count_rows(uri, "observations") > 0);
    if (!pg)
        CHECK(count_rows(uri, "obs_staging") > 0);
    check_all(st, "before flush");
    CHECK_EQ_INT(store_flush(st), TK_OK);
    if (!pg)
        CHECK_EQ_INT(count_rows(uri, "obs_staging"), 0);
    check_all(st, "after flush");

    /* reopen: everything is still there */
    store_close(st);
    st = NULL;
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    if (st) {
        check_all(st, "after reopen");
        store_close(st);
    }
    if (!pg && !getenv("KEEP"))
        tmpdb_remove(&t);
    else if (!pg)
        fprintf(stderr, "kept %s\n", t.path);
    return tk_check_result("store_obs");
}
