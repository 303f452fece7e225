/* Retention: old raw rows go (SQLite: moved and staged ones), recent ones stay, rollups and
 * latest values do not change, each call removes at most max_rows, and the quarantine has
 * a cutoff of its own. With the argument "pg", against the PostgreSQL store in
 * TK_TEST_PG_URI (ctest store_retention_pg, under tests/pg/pgserver.py). */
#include <stdint.h>

#include "store_test_util.h"

#define MAX_ROWS 100

static int pg; /* running against PostgreSQL */

/* Raw rows (SQLite: moved and staged) with phenomenonTime before cut (all: cut 0). */
static int64_t raw_before(const char *uri, int64_t cut)
{
    char sql[256];
    if (pg)
        snprintf(sql, sizeof sql, "SELECT count(*) FROM observations WHERE t_us < %" PRId64, cut);
    else
        snprintf(sql, sizeof sql,
                 "SELECT (SELECT count(*) FROM observations WHERE t_us < %" PRId64 ") +"
                 " (SELECT count(*) FROM obs_staging WHERE t_us < %" PRId64 ")",
                 cut, cut);
    return test_sql_int(uri, sql);
}

static int64_t raw_all(const char *uri)
{
    return raw_before(uri, INT64_MAX);
}

/* Rows of table with phenomenonTime before cut. */
static int64_t count_before(const char *uri, const char *table, int64_t cut)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE t_us < %" PRId64, table, cut);
    return test_sql_int(uri, sql);
}

static void add(struct store *st, int64_t ds, int64_t t, double v)
{
    struct store_obs o = {.ds_id = ds, .t_us = t, .result = v};
    CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
}

#define NAGG 4096
static struct store_agg before_agg[3][NAGG], after_agg[3][NAGG];
static size_t before_n[3], after_n[3];

static void aggregates(struct store *st, int64_t ds, struct store_agg out[3][NAGG], size_t n[3])
{
    for (int iv = 0; iv < 3; iv++)
        CHECK_EQ_INT(store_aggregate(st, ds, (enum store_interval)iv, T0 - 10 * DAY_US,
                                     T0 + DAY_US, out[iv], NAGG, &n[iv]),
                     TK_OK);
}

static void same_aggregates(void)
{
    for (int iv = 0; iv < 3; iv++) {
        CHECK_EQ_INT(after_n[iv], before_n[iv]);
        for (size_t i = 0; i < before_n[iv] && i < after_n[iv]; i++) {
            const struct store_agg *a = &before_agg[iv][i], *b = &after_agg[iv][i];
            /* integral values: sums are exact whatever the order of folding */
            CHECK(a->bucket_us == b->bucket_us && a->count == b->count && a->sum == b->sum &&
                  a->min == b->min && a->max == b->max);
        }
    }
}

static void add_quarantine(struct store *st, int64_t received)
{
    struct store_quarantine q = {.received_us = received,
                                 .topic = "city/water_level/wl-ret-1/reading",
                                 .payload = "{",
                                 .payload_len = 1,
                                 .device_id = "wl-ret-1",
                                 .code = TK_EPROTO,
                                 .path = "",
                                 .reason = "not JSON"};
    CHECK_EQ_INT(store_quarantine_add(st, &q), TK_OK);
}

int main(int argc, char **argv)
{
    struct tmpdb t = {{0}, {0}};
    char uri[1024];
    struct store *st = NULL;
    struct store_device a = test_device("wl-ret-1", TK_KIND_WATER_LEVEL, 34.39, 132.45);
    struct store_device b = test_device("wl-ret-2", TK_KIND_WATER_LEVEL, 34.40, 132.46);
    struct store_device da, db;
    int64_t q;
    size_t k;

    pg = test_store_uri(argc, argv, &t, uri, sizeof uri);
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    if (!st)
        return tk_check_result("store_retention");
    CHECK_EQ_INT(store_device_add(st, &a, &da), TK_OK);
    CHECK_EQ_INT(store_device_add(st, &b, &db), TK_OK);
    int64_t dsa = da.ds[0], dsb = db.ds[0];
    CHECK(dsa > 0 && dsb > 0);

    /* stream a: one row a minute from T0 - 3 days to T0; the first two days moved into
     * observations, the last staged, plus old rows that arrive late (staged, below the
     * cutoff). Stream b: a single old row, its latest. */
    const int64_t start = T0 - 3 * DAY_US, cut = T0 - DAY_US;
    int64_t na = 0, na_recent = 0;
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int64_t tt = start; tt < T0 - DAY_US; tt += 2 * MIN_US, na++)
        add(st, dsa, tt, (double)(na % 50));
    add(st, dsb, start + 7 * MIN_US, 42);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_flush(st), TK_OK);
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int64_t tt = T0 - DAY_US; tt <= T0; tt += MIN_US, na++, na_recent++)
        add(st, dsa, tt, (double)(na % 50));
    for (int64_t tt = start + MIN_US; tt < start + 600 * MIN_US; tt += 2 * MIN_US, na++)
        add(st, dsa, tt, (double)(na % 7)); /* late arrivals: staged and old */
    CHECK_EQ_INT(store_commit(st), TK_OK);
    if (!pg)
        CHECK(count_before(uri, "obs_staging", cut) > 0);
    CHECK(count_before(uri, "observations", cut) > 0);

    for (int i = 0; i < 10; i++) {
        add_quarantine(st, T0 - 2 * DAY_US + i);
        add_quarantine(st, T0 + i);
    }

    aggregates(st, dsa, before_agg, before_n);
    int64_t ids[2] = {dsa, dsb};
    struct store_point lat0[2], lat1[2];
    int found0[2], found1[2];
    CHECK_EQ_INT(store_latest(st, ids, 2, lat0, found0), TK_OK);
    int64_t all0 = raw_all(uri);
    CHECK_EQ_INT(all0, na + 1);

    /* the quarantine alone: observations untouched */
    CHECK_EQ_INT(store_retention(st, 0, T0 - DAY_US, MAX_ROWS, &k), TK_OK);
    CHECK_EQ_INT(k, 10);
    CHECK_EQ_INT(store_quarantine_count(st, &q), TK_OK);
    CHECK_EQ_INT(q, 10);
    CHECK_EQ_INT(raw_all(uri), all0);
    CHECK_EQ_INT(store_retention(st, 0, T0 - DAY_US, MAX_ROWS, &k), TK_OK);
    CHECK_EQ_INT(k, 0);

    /* observations, in bounded calls */
    size_t total = 0;
    int calls = 0;
    do {
        CHECK_EQ_INT(store_retention(st, cut, 0, MAX_ROWS, &k), TK_OK);
        CHECK(k <= MAX_ROWS);
        total += k;
        calls++;
    } while (k > 0 && calls < 1000);
    CHECK((int64_t)total == all0 - na_recent - 1);
    CHECK(calls >= (int)(total / MAX_ROWS));
    CHECK_EQ_INT(raw_before(uri, cut), 1); /* b's latest row */
    CHECK_EQ_INT(raw_all(uri), na_recent + 1);
    CHECK_EQ_INT(store_quarantine_count(st, &q), TK_OK);
    CHECK_EQ_INT(q, 10);

    /* what stays: recent rows, latest values, aggregates (from the rollups) */
    struct store_point pts[8];
    size_t n = 0;
    CHECK_EQ_INT(store_range(st, dsa, start - DAY_US, cut, 0, pts, 8, &n), TK_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(store_range(st, dsb, start - DAY_US, T0, 0, pts, 8, &n), TK_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(store_latest(st, ids, 2, lat1, found1), TK_OK);
    for (int i = 0; i < 2; i++) {
        CHECK(found0[i] && found1[i]);
        CHECK(lat0[i].id == lat1[i].id && lat0[i].t_us == lat1[i].t_us &&
              lat0[i].result == lat1[i].result);
        struct store_point p;
        int64_t ds = 0;
        CHECK_EQ_INT(store_obs_get(st, lat1[i].id, &p, &ds), TK_OK);
    }
    aggregates(st, dsa, after_agg, after_n);
    same_aggregates();

    /* the staged rows removed were folded once: a move does not count them again */
    CHECK_EQ_INT(store_flush(st), TK_OK);
    aggregates(st, dsa, after_agg, after_n);
    same_aggregates();
    CHECK_EQ_INT(raw_all(uri), na_recent + 1);

    /* late rows below the cutoff after a round: staged again, removed again */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    add(st, dsa, start + 3 * MIN_US + 1, 1);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_retention(st, cut, 0, MAX_ROWS, &k), TK_OK);
    CHECK_EQ_INT(k, 1);
    CHECK_EQ_INT(raw_before(uri, cut), 1);

    /* 0 / 0 and max_rows 0 do nothing; a NULL store is refused */
    CHECK_EQ_INT(store_retention(st, 0, 0, MAX_ROWS, &k), TK_OK);
    CHECK_EQ_INT(k, 0);
    CHECK_EQ_INT(store_retention(st, T0 + DAY_US, T0 + DAY_US, 0, &k), TK_OK);
    CHECK_EQ_INT(k, 0);
    CHECK_EQ_INT(store_retention(NULL, cut, 0, MAX_ROWS, &k), TK_EINVAL);

    /* inside a transaction it joins it, and a rollback undoes it */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_retention(st, T0 + DAY_US, T0 + DAY_US, MAX_ROWS, &k), TK_OK);
    CHECK(k > 0);
    store_rollback(st);
    CHECK_EQ_INT(raw_all(uri), na_recent + 1);
    CHECK_EQ_INT(store_quarantine_count(st, &q), TK_OK);
    CHECK_EQ_INT(q, 10);

    store_close(st);
    if (!pg)
        tmpdb_remove(&t);
    return tk_check_result("store_retention");
}
