/* SQLite backend: moving staged rows into the clustered table, the rollups, and
 * aggregate queries.
 *
 * A move is one transaction: the staged rows are appended to observations sorted by
 * (ds, t) and folded into each rollup with one upsert per (ds, bucket), then deleted. It
 * is done in C with one in-memory sort: SQL GROUP BY / ORDER BY over the staging would
 * sort four times, which measured as about half of the move's cost. Aggregates read
 * the rollup rows of the range and add the stream's staged rows grouped on the fly, so a
 * result never depends on whether a move has happened. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

#define FOLD(table)                                                                                \
    "INSERT INTO " table " (ds_id, bucket_us, n, total, lo, hi) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"   \
    " ON CONFLICT (ds_id, bucket_us) DO UPDATE SET n = n + excluded.n,"                            \
    " total = total + excluded.total, lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)"
#define GET(table)                                                                                 \
    "SELECT bucket_us, n, total, lo, hi FROM " table                                               \
    " WHERE ds_id = ?1 AND bucket_us >= ?2 AND bucket_us < ?3 ORDER BY bucket_us LIMIT ?4"

static const char *const ru_sql[RU_N] = {
    [RU_STAGED] = "SELECT ds_id, t_us, id, t_end_us, result_time_us, result, params"
                  " FROM obs_staging",
    [RU_FOI] = "SELECT foi_id FROM latest WHERE ds_id = ?1",
    [RU_INSERT] = "INSERT INTO observations (ds_id, t_us, id, t_end_us, result_time_us, result,"
                  " params, foi_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [RU_FOLD_MINUTE] = FOLD("rollup_minute"),
    [RU_FOLD_HOUR] = FOLD("rollup_hour"),
    [RU_FOLD_DAY] = FOLD("rollup_day"),
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

struct staged_row {
    int64_t ds, t, id, t_end, rt; /* t_end, rt: 0 for NULL */
    double result;
    char *params; /* NULL or a copy */
};

static int cmp_row(const void *a, const void *b)
{
    const struct staged_row *x = a, *y = b;
    if (x->ds != y->ds)
        return x->ds < y->ds ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

static int64_t floor_to(int64_t t, int64_t iv)
{
    return t - (((t % iv) + iv) % iv);
}

/* One bucket being accumulated, per rollup table. */
struct acc {
    int64_t ds, bucket, n;
    double total, lo, hi;
};

static enum tk_rc acc_flush(struct sq_store *sq, sqlite3_stmt *s, struct acc *a)
{
    if (a->n == 0)
        return TK_OK;
    sqlite3_bind_int64(s, 1, a->ds);
    sqlite3_bind_int64(s, 2, a->bucket);
    sqlite3_bind_int64(s, 3, a->n);
    sqlite3_bind_double(s, 4, a->total);
    sqlite3_bind_double(s, 5, a->lo);
    sqlite3_bind_double(s, 6, a->hi);
    a->n = 0;
    return store_sqlite__exec(sq, s, "folding into a rollup");
}

static enum tk_rc acc_add(struct sq_store *sq, sqlite3_stmt *s, struct acc *a, int64_t iv,
                          const struct staged_row *r)
{
    int64_t b = floor_to(r->t, iv);
    if (a->n && (a->ds != r->ds || a->bucket != b)) {
        enum tk_rc rc = acc_flush(sq, s, a);
        if (rc)
            return rc;
    }
    if (a->n == 0) {
        a->ds = r->ds;
        a->bucket = b;
        a->total = 0;
        a->lo = a->hi = r->result;
    }
    a->n++;
    a->total += r->result;
    if (r->result < a->lo)
        a->lo = r->result;
    if (r->result > a->hi)
        a->hi = r->result;
    return TK_OK;
}

static enum tk_rc load_staged(struct sq_store *sq, struct staged_row **rows, size_t *n)
{
    size_t cap = 0;
    enum tk_rc rc = TK_OK;
    sqlite3_stmt *s = sq->ru[RU_STAGED];
    int src;
    *rows = NULL;
    *n = 0;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            struct staged_row *p = realloc(*rows, ncap * sizeof *p);
            if (!p) {
                rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
                break;
            }
            *rows = p;
            cap = ncap;
        }
        struct staged_row *r = &(*rows)[*n];
        r->ds = sqlite3_column_int64(s, 0);
        r->t = sqlite3_column_int64(s, 1);
        r->id = sqlite3_column_int64(s, 2);
        r->t_end = sqlite3_column_int64(s, 3);
        r->rt = sqlite3_column_int64(s, 4);
        r->result = sqlite3_column_double(s, 5);
        r->params = NULL;
        if (sqlite3_column_type(s, 6) != SQLITE_NULL) {
            const char *p = (const char *)sqlite3_column_text(s, 6);
            r->params = p ? strdup(p) : NULL;
            if (!r->params) {
                rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
                break;
            }
        }
        (*n)++;
    }
    sqlite3_reset(s);
    if (!rc && src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "reading staged observations");
    return rc;
}

static void bind_opt(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

/* The move: staged rows are read in key order, sorted by (ds, t) in memory (no SQL
 * sorter), appended to observations, and folded into the three rollups in the same pass,
 * each bucket upserted once. */
static enum tk_rc move_staged(struct sq_store *sq)
{
    struct staged_row *rows = NULL;
    size_t n = 0;
    enum tk_rc rc = load_staged(sq, &rows, &n);
    if (rc)
        goto cleanup;
    qsort(rows, n, sizeof *rows, cmp_row);

    static const int64_t ivs[3] = {SQ_MINUTE_US, SQ_HOUR_US, SQ_DAY_US};
    sqlite3_stmt *fold[3] = {sq->ru[RU_FOLD_MINUTE], sq->ru[RU_FOLD_HOUR], sq->ru[RU_FOLD_DAY]};
    struct acc acc[3] = {{0}};
    sqlite3_stmt *ins = sq->ru[RU_INSERT];
    int64_t cur_ds = 0, foi = 0;
    int has_foi = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const struct staged_row *r = &rows[i];
        if (i == 0 || r->ds != cur_ds) {
            sqlite3_stmt *f = sq->ru[RU_FOI];
            sqlite3_bind_int64(f, 1, r->ds);
            int src = sqlite3_step(f);
            has_foi = src == SQLITE_ROW && sqlite3_column_type(f, 0) != SQLITE_NULL;
            foi = has_foi ? sqlite3_column_int64(f, 0) : 0;
            sqlite3_reset(f);
            if (src != SQLITE_ROW && src != SQLITE_DONE) {
                rc = store_sqlite__err(sq, src, "reading a FeatureOfInterest");
                break;
            }
            cur_ds = r->ds;
        }
        sqlite3_bind_int64(ins, 1, r->ds);
        sqlite3_bind_int64(ins, 2, r->t);
        sqlite3_bind_int64(ins, 3, r->id);
        bind_opt(ins, 4, r->t_end);
        bind_opt(ins, 5, r->rt);
        sqlite3_bind_double(ins, 6, r->result);
        if (r->params)
            sqlite3_bind_text(ins, 7, r->params, -1, SQLITE_STATIC);
        if (has_foi)
            sqlite3_bind_int64(ins, 8, foi);
        rc = store_sqlite__exec(sq, ins, "moving staged observations");
        for (int k = 0; !rc && k < 3; k++)
            rc = acc_add(sq, fold[k], &acc[k], ivs[k], r);
    }
    for (int k = 0; !rc && k < 3; k++)
        rc = acc_flush(sq, fold[k], &acc[k]);
    if (!rc)
        rc = store_sqlite__exec(sq, sq->ru[RU_CLEAR], "clearing the staging table");
    if (!rc)
        rc = store_sqlite__exec(sq, sq->ru[RU_LATEST_RESET], "clearing staged windows");

cleanup:
    for (size_t i = 0; i < n; i++)
        free(rows[i].params);
    free(rows);
    return rc;
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
    rc = move_staged(sq);
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
