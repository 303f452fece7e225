/* SQLite backend: moving staged rows into the clustered table, the rollups, and
 * aggregate queries.
 *
 * A move is one transaction: the staged rows are appended to observations sorted by
 * (ds, t), folded into each rollup with one GROUP BY upsert, and deleted. Aggregates read
 * the rollup rows of the range and add the stream's staged rows grouped on the fly, so a
 * result never depends on whether a move has happened. */
#include <stdlib.h>

#include "sqlite_int.h"

#define BUCKET(iv) "(t_us - ((t_us % " iv ") + " iv ") % " iv ")"
#define FOLD(table, iv)                                                                            \
    "INSERT INTO " table " (ds_id, bucket_us, n, total, lo, hi)"                                   \
    " SELECT ds_id, " BUCKET(iv) ", count(*), sum(result), min(result), max(result)"              \
    " FROM obs_staging WHERE result IS NOT NULL GROUP BY 1, 2"                                     \
    " ON CONFLICT (ds_id, bucket_us) DO UPDATE SET n = n + excluded.n,"                           \
    " total = total + excluded.total, lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)"
#define GET(table)                                                                                 \
    "SELECT bucket_us, n, total, lo, hi FROM " table                                               \
    " WHERE ds_id = ?1 AND bucket_us >= ?2 AND bucket_us < ?3 ORDER BY bucket_us LIMIT ?4"

static const char *const ru_sql[RU_N] = {
    [RU_MOVE] = "INSERT INTO observations (ds_id, t_us, id, t_end_us, result_time_us, result,"
                " params, foi_id) SELECT ds_id, t_us, id, t_end_us, result_time_us, result,"
                " params, foi_id FROM obs_staging ORDER BY ds_id, t_us",
    [RU_FOLD_MINUTE] = FOLD("rollup_minute", "60000000"),
    [RU_FOLD_HOUR] = FOLD("rollup_hour", "3600000000"),
    [RU_FOLD_DAY] = FOLD("rollup_day", "86400000000"),
    [RU_CLEAR] = "DELETE FROM obs_staging",
    [RU_LATEST_RESET] = "UPDATE latest SET staged_min_t = NULL WHERE staged_min_t IS NOT NULL",
    [RU_GET_MINUTE] = GET("rollup_minute"),
    [RU_GET_HOUR] = GET("rollup_hour"),
    [RU_GET_DAY] = GET("rollup_day"),
    /* ?4 is the interval; buckets are floor(t / iv) * iv, also for t < 0 */
    [RU_STAGE_AGG] = SQ_BATCHES_CTE
    "SELECT s.t_us - ((s.t_us % ?4) + ?4) % ?4 AS bk, count(*), sum(s.result), min(s.result),"
    " max(s.result) FROM b CROSS JOIN obs_staging s ON s.batch = b.x AND s.ds_id = ?1"
    " AND s.t_us >= ?2 AND s.t_us < ?3 WHERE s.result IS NOT NULL GROUP BY bk ORDER BY bk",
};

enum tk_rc store_sqlite__rollup_prepare(struct sq_store *sq)
{
    return store_sqlite__prepare(sq, sq->ru, ru_sql, RU_N);
}

enum tk_rc store_sqlite__maintain(struct store *st, int all)
{
    struct sq_store *sq = sq_of(st);
    if (sq->readonly)
        return TK_OK;
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested);
    if (rc)
        return rc;
    if (sq->staged == 0 || (!all && sq->staged < sq->stage_rows))
        return store_sqlite__write_leave(sq, nested, TK_OK);
    static const int steps[] = {RU_MOVE,  RU_FOLD_MINUTE, RU_FOLD_HOUR,
                                RU_FOLD_DAY, RU_CLEAR,    RU_LATEST_RESET};
    for (size_t i = 0; !rc && i < sizeof steps / sizeof steps[0]; i++)
        rc = store_sqlite__exec(sq, sq->ru[steps[i]], "moving staged observations");
    if (!rc) {
        sq->staged = 0;
        sq->counter_dirty = 1;
    }
    return store_sqlite__write_leave(sq, nested, rc);
}

static int64_t iv_us(enum store_interval iv)
{
    return iv == STORE_MINUTE ? SQ_MINUTE_US : iv == STORE_HOUR ? SQ_HOUR_US : SQ_DAY_US;
}

/* Smallest multiple of iv >= v (v may be negative). */
static int64_t ceil_to(int64_t v, int64_t iv)
{
    int64_t r = ((v % iv) + iv) % iv;
    if (r == 0)
        return v;
    int64_t down = v - r;
    return down > INT64_MAX - iv ? INT64_MAX : down + iv;
}


enum tk_rc store_sqlite__aggregate(struct store *st, int64_t ds_id, enum store_interval iv,
                                   int64_t from_us, int64_t to_us, struct store_agg *out,
                                   size_t limit, size_t *n)
{
    struct sq_store *sq = sq_of(st);
    int64_t ivu = iv_us(iv);
    /* bucket b with from <= b < to holds the rows with ceil(from) <= t < ceil(to) */
    int64_t t_lo = ceil_to(from_us, ivu), t_hi = ceil_to(to_us, ivu);
    struct store_agg *staged = NULL;
    size_t nstaged = 0, cap = 0;
    int own;
    enum tk_rc rc = store_sqlite__read_enter(sq, &own);
    if (rc)
        return rc;

    sqlite3_stmt *s = sq->q[Q_LATEST];
    sqlite3_bind_int64(s, 1, ds_id);
    int src = sqlite3_step(s);
    int any = src == SQLITE_ROW && sqlite3_column_type(s, 5) != SQLITE_NULL;
    int64_t lo = any ? sqlite3_column_int64(s, 5) : 0, hi = any ? sqlite3_column_int64(s, 1) : 0;
    sqlite3_reset(s);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = store_sqlite__err(sq, src, "reading latest");
        goto cleanup;
    }
    if (any && lo < t_hi && hi >= t_lo) {
        s = sq->ru[RU_STAGE_AGG];
        sqlite3_bind_int64(s, 1, ds_id);
        sqlite3_bind_int64(s, 2, t_lo);
        sqlite3_bind_int64(s, 3, t_hi);
        sqlite3_bind_int64(s, 4, ivu);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            if (nstaged == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct store_agg *p = realloc(staged, ncap * sizeof *p);
                if (!p) {
                    rc = store__fail(st, TK_ENOMEM, "out of memory");
                    break;
                }
                staged = p;
                cap = ncap;
            }
            struct store_agg *a = &staged[nstaged++];
            a->bucket_us = sqlite3_column_int64(s, 0);
            a->count = sqlite3_column_int64(s, 1);
            a->sum = sqlite3_column_double(s, 2);
            a->min = sqlite3_column_double(s, 3);
            a->max = sqlite3_column_double(s, 4);
        }
        sqlite3_reset(s);
        if (!rc && src != SQLITE_DONE)
            rc = store_sqlite__err(sq, src, "aggregating staged observations");
        if (rc)
            goto cleanup;
    }

    s = sq->ru[iv == STORE_MINUTE ? RU_GET_MINUTE : iv == STORE_HOUR ? RU_GET_HOUR : RU_GET_DAY];
    sqlite3_bind_int64(s, 1, ds_id);
    sqlite3_bind_int64(s, 2, from_us);
    sqlite3_bind_int64(s, 3, to_us);
    sqlite3_bind_int64(s, 4, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    size_t k = 0, j = 0;
    struct store_agg r = {0};
    int have = 0, done = 0; /* stepping a finished statement would restart it */
    while (k < limit) {
        if (!have && !done) {
            src = sqlite3_step(s);
            if (src == SQLITE_ROW) {
                r.bucket_us = sqlite3_column_int64(s, 0);
                r.count = sqlite3_column_int64(s, 1);
                r.sum = sqlite3_column_double(s, 2);
                r.min = sqlite3_column_double(s, 3);
                r.max = sqlite3_column_double(s, 4);
                have = 1;
            } else if (src == SQLITE_DONE) {
                done = 1;
            } else {
                rc = store_sqlite__err(sq, src, "reading rollups");
                break;
            }
        }
        if (!have && j == nstaged)
            break;
        if (have && j < nstaged && staged[j].bucket_us == r.bucket_us) {
            struct store_agg *a = &staged[j++];
            r.count += a->count;
            r.sum += a->sum;
            if (a->min < r.min)
                r.min = a->min;
            if (a->max > r.max)
                r.max = a->max;
            out[k++] = r;
            have = 0;
        } else if (j < nstaged && (!have || staged[j].bucket_us < r.bucket_us)) {
            out[k++] = staged[j++];
        } else {
            out[k++] = r;
            have = 0;
        }
    }
    sqlite3_reset(s);
    if (!rc)
        *n = k;

cleanup:
    free(staged);
    store_sqlite__read_leave(sq, own);
    return rc;
}
