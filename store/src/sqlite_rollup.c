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
    [RU_INSERT] = "INSERT INTO observations (ds_id, t_us, id, t_end_us, result_time_us, result,"
                  " params, foi_id) SELECT ds_id, t_us, id, t_end_us, result_time_us, result,"
                  " params, foi_id FROM tk_rows",
    [RU_SLOTS_GET] = "SELECT slots FROM rollup_minute_slots WHERE ds_id = ?1 AND hour_us = ?2",
    [RU_SLOTS_PUT] = "INSERT OR REPLACE INTO rollup_minute_slots (ds_id, hour_us, slots)"
                     " VALUES (?1, ?2, ?3)",
    [RU_FOLD_HOUR] = FOLD("rollup_hour"),
    [RU_FOLD_DAY] = FOLD("rollup_day"),
    [RU_CLEAR] = "DELETE FROM obs_staging",
    [RU_GET_SLOTS] = "SELECT hour_us, slots FROM rollup_minute_slots"
                     " WHERE ds_id = ?1 AND hour_us >= ?2 AND hour_us < ?3 ORDER BY hour_us",
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


static int cmp_row(const void *a, const void *b)
{
    const struct store_row *x = a, *y = b;
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
                          const struct store_row *r)
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

/* ---- minute slots ----------------------------------------------------------------
 * A rollup_minute_slots blob lists the non-empty minutes of one hour in ascending order:
 * a byte (minute | 0x80 when n == 1), then for n == 1 the value (8 bytes: total, min and
 * max are all that value), otherwise n, total, min, max (8 bytes each). Integers and
 * doubles are little-endian; readings every minute make about 540 bytes an hour. */

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void putd(unsigned char *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    put64(p, v);
}

static double getd(const unsigned char *p)
{
    uint64_t v = get64(p);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

int store_sqlite__slots_encode(const struct sq_slot *slots, unsigned char *buf)
{
    int k = 0;
    for (int m = 0; m < SQ_SLOTS; m++) {
        const struct sq_slot *sl = &slots[m];
        if (sl->n == 0)
            continue;
        if (sl->n == 1) {
            buf[k++] = (unsigned char)(m | 0x80);
            putd(buf + k, sl->total);
            k += 8;
        } else {
            buf[k++] = (unsigned char)m;
            put64(buf + k, (uint64_t)sl->n);
            putd(buf + k + 8, sl->total);
            putd(buf + k + 16, sl->lo);
            putd(buf + k + 24, sl->hi);
            k += 32;
        }
    }
    return k;
}

int store_sqlite__slots_decode(const void *blob, int len, struct sq_slot *slots)
{
    const unsigned char *p = blob;
    memset(slots, 0, SQ_SLOTS * sizeof *slots);
    int k = 0;
    while (k < len) {
        int m = p[k] & 0x7f, single = p[k] & 0x80;
        k++;
        if (m >= SQ_SLOTS || len - k < (single ? 8 : 32))
            return -1;
        struct sq_slot *sl = &slots[m];
        if (single) {
            sl->n = 1;
            sl->total = sl->lo = sl->hi = getd(p + k);
            k += 8;
        } else {
            sl->n = (int64_t)get64(p + k);
            sl->total = getd(p + k + 8);
            sl->lo = getd(p + k + 16);
            sl->hi = getd(p + k + 24);
            k += 32;
            if (sl->n <= 0)
                return -1;
        }
    }
    return 0;
}

static void slot_merge(struct sq_slot *a, const struct sq_slot *b)
{
    if (b->n == 0)
        return;
    if (a->n == 0) {
        *a = *b;
        return;
    }
    a->n += b->n;
    a->total += b->total;
    if (b->lo < a->lo)
        a->lo = b->lo;
    if (b->hi > a->hi)
        a->hi = b->hi;
}

/* The minutes of one (ds, hour) being accumulated by a move. */
struct hour_acc {
    int64_t ds, hour;
    int any;
    struct sq_slot slot[SQ_SLOTS];
};

/* Read-merge-write of one rollup_minute_slots row (one per (ds, hour) per move). */
static enum tk_rc hour_flush(struct sq_store *sq, struct hour_acc *h)
{
    if (!h->any)
        return TK_OK;
    h->any = 0;
    struct sq_slot old[SQ_SLOTS];
    sqlite3_stmt *s = sq->ru[RU_SLOTS_GET];
    sqlite3_bind_int64(s, 1, h->ds);
    sqlite3_bind_int64(s, 2, h->hour);
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW) {
        if (store_sqlite__slots_decode(sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0),
                                       old))
            rc = store__fail(&sq->base, TK_EDB, "malformed minute rollup of ds %lld",
                             (long long)h->ds);
        for (int m = 0; !rc && m < SQ_SLOTS; m++)
            slot_merge(&h->slot[m], &old[m]);
    } else if (src != SQLITE_DONE) {
        rc = store_sqlite__err(sq, src, "reading a minute rollup");
    }
    sqlite3_reset(s);
    if (rc)
        return rc;
    unsigned char buf[SQ_SLOTS_BLOB_MAX];
    int len = store_sqlite__slots_encode(h->slot, buf);
    s = sq->ru[RU_SLOTS_PUT];
    sqlite3_bind_int64(s, 1, h->ds);
    sqlite3_bind_int64(s, 2, h->hour);
    sqlite3_bind_blob(s, 3, buf, len, SQLITE_STATIC);
    return store_sqlite__exec(sq, s, "writing a minute rollup");
}

static enum tk_rc hour_add(struct sq_store *sq, struct hour_acc *h, const struct store_row *r)
{
    int64_t hour = floor_to(r->t, SQ_HOUR_US);
    if (h->any && (h->ds != r->ds || h->hour != hour)) {
        enum tk_rc rc = hour_flush(sq, h);
        if (rc)
            return rc;
    }
    if (!h->any) {
        h->ds = r->ds;
        h->hour = hour;
        h->any = 1;
        memset(h->slot, 0, sizeof h->slot);
    }
    struct sq_slot one = {1, r->result, r->result, r->result};
    slot_merge(&h->slot[(r->t - hour) / SQ_MINUTE_US], &one);
    return TK_OK;
}

enum tk_rc store_sqlite__migrate_v3(struct sq_store *sq)
{
    static const char *const sql[2] = {
        "SELECT ds_id, bucket_us, n, total, lo, hi FROM rollup_minute ORDER BY ds_id, bucket_us",
        "INSERT INTO rollup_minute_slots (ds_id, hour_us, slots) VALUES (?1, ?2, ?3)"};
    sqlite3_stmt *st[2] = {NULL, NULL};
    enum tk_rc rc = store_sqlite__prepare(sq, st, sql, 2);
    struct hour_acc h = {0};
    unsigned char buf[SQ_SLOTS_BLOB_MAX];
    int src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st[0])) == SQLITE_ROW) {
        int64_t ds = sqlite3_column_int64(st[0], 0), b = sqlite3_column_int64(st[0], 1);
        int64_t hour = floor_to(b, SQ_HOUR_US);
        if (h.any && (h.ds != ds || h.hour != hour)) {
            sqlite3_bind_int64(st[1], 1, h.ds);
            sqlite3_bind_int64(st[1], 2, h.hour);
            sqlite3_bind_blob(st[1], 3, buf, store_sqlite__slots_encode(h.slot, buf),
                              SQLITE_STATIC);
            rc = store_sqlite__exec(sq, st[1], "migrating minute rollups");
            h.any = 0;
        }
        if (!h.any) {
            h = (struct hour_acc){.ds = ds, .hour = hour, .any = 1};
        }
        struct sq_slot one = {sqlite3_column_int64(st[0], 2), sqlite3_column_double(st[0], 3),
                              sqlite3_column_double(st[0], 4), sqlite3_column_double(st[0], 5)};
        slot_merge(&h.slot[(b - hour) / SQ_MINUTE_US], &one);
    }
    if (!rc && src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "reading minute rollups");
    if (!rc && h.any) {
        sqlite3_bind_int64(st[1], 1, h.ds);
        sqlite3_bind_int64(st[1], 2, h.hour);
        sqlite3_bind_blob(st[1], 3, buf, store_sqlite__slots_encode(h.slot, buf), SQLITE_STATIC);
        rc = store_sqlite__exec(sq, st[1], "migrating minute rollups");
    }
    store_sqlite__finalize(st, 2);
    return rc;
}

static enum tk_rc load_staged(struct sq_store *sq, struct store_row **rows, size_t *n)
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
            struct store_row *p = realloc(*rows, ncap * sizeof *p);
            if (!p) {
                rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
                break;
            }
            *rows = p;
            cap = ncap;
        }
        struct store_row *r = &(*rows)[*n];
        r->ds = sqlite3_column_int64(s, 0);
        r->t = sqlite3_column_int64(s, 1);
        r->id = sqlite3_column_int64(s, 2);
        r->t_end = sqlite3_column_int64(s, 3);
        r->rt = sqlite3_column_int64(s, 4);
        r->result = sqlite3_column_double(s, 5);
        r->params = NULL;
        r->foi = 0;
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


enum tk_rc store_sqlite__fold(struct sq_store *sq, const struct store_row *rows, size_t n)
{
    static const int64_t ivs[2] = {SQ_HOUR_US, SQ_DAY_US};
    sqlite3_stmt *fold[2] = {sq->ru[RU_FOLD_HOUR], sq->ru[RU_FOLD_DAY]};
    struct acc acc[2] = {{0}};
    enum tk_rc rc = TK_OK;
    struct hour_acc *minutes = calloc(1, sizeof *minutes);
    if (!minutes)
        return store__fail(&sq->base, TK_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        for (int k = 0; !rc && k < 2; k++)
            rc = acc_add(sq, fold[k], &acc[k], ivs[k], &rows[i]);
        if (!rc)
            rc = hour_add(sq, minutes, &rows[i]);
    }
    for (int k = 0; !rc && k < 2; k++)
        rc = acc_flush(sq, fold[k], &acc[k]);
    if (!rc)
        rc = hour_flush(sq, minutes);
    free(minutes);
    return rc;
}

/* The move: staged rows are read in key order, sorted by (ds, t) in memory (no SQL
 * sorter), appended to observations, and folded into the three rollups in the same pass,
 * each bucket upserted once. */
static enum tk_rc move_staged(struct sq_store *sq)
{
    struct store_row *rows = NULL, **ptrs = NULL;
    size_t n = 0;
    enum tk_rc rc = load_staged(sq, &rows, &n);
    if (rc)
        goto cleanup;
    qsort(rows, n, sizeof *rows, cmp_row);

    ptrs = malloc((n ? n : 1) * sizeof *ptrs);
    if (!ptrs) {
        rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
        goto cleanup;
    }
    int64_t cur_ds = 0, foi = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        struct store_row *r = &rows[i];
        if (i == 0 || r->ds != cur_ds) {
            /* the FoI from the stream's latest entry; nothing of it is staged any more */
            struct sq_lt_entry *e = NULL;
            rc = store_sqlite__lt_entry(sq, r->ds, 1, &e);
            if (!rc)
                rc = store_sqlite__lt_touch(sq, r->ds);
            if (rc)
                break;
            foi = (e->flags & LT_HAS_FOI) ? e->foi : 0;
            e->flags &= (unsigned char)~LT_HAS_STAGED;
            cur_ds = r->ds;
        }
        r->foi = foi;
        ptrs[i] = r;
    }
    if (!rc)
        rc = store_sqlite__fold(sq, rows, n);
    if (!rc)
        rc = store_sqlite__rows_exec(sq, sq->ru[RU_INSERT], ptrs, n,
                                     "moving staged observations");
    if (!rc)
        rc = store_sqlite__exec(sq, sq->ru[RU_CLEAR], "clearing the staging table");

cleanup:
    for (size_t i = 0; i < n; i++)
        free(rows[i].params);
    free(rows);
    free(ptrs);
    return rc;
}

enum tk_rc store_sqlite__maintain(struct store *st, int all)
{
    struct sq_store *sq = sq_of(st);
    if (sq->readonly)
        return TK_OK;
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 1);
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

/* The rollup rows of a range in bucket order: rows of rollup_hour / rollup_day as they
 * are, or the minutes of each rollup_minute_slots row that fall in [from, to). */
struct ru_iter {
    struct sq_store *sq;
    sqlite3_stmt *s;
    int slots, done, m; /* m: next minute of the decoded hour; SQ_SLOTS when none */
    int64_t from, to, hour;
    enum tk_rc rc;
    struct sq_slot slot[SQ_SLOTS];
};

/* 1 and *r filled, 0 at the end, -1 on error (it->rc). */
static int ru_next(struct ru_iter *it, struct store_agg *r)
{
    sqlite3_stmt *s = it->s;
    for (;;) {
        if (it->slots) {
            while (it->m > 0 && it->m < SQ_SLOTS) {
                const struct sq_slot *sl = &it->slot[it->m];
                int64_t b = it->hour + it->m * SQ_MINUTE_US;
                it->m++;
                if (sl->n && b >= it->from && b < it->to) {
                    *r = (struct store_agg){b, sl->n, sl->total, sl->lo, sl->hi};
                    return 1;
                }
            }
        }
        if (it->done) /* stepping a finished statement would restart it */
            return 0;
        int src = sqlite3_step(s);
        if (src == SQLITE_DONE) {
            it->done = 1;
            return 0;
        }
        if (src != SQLITE_ROW) {
            it->rc = store_sqlite__err(it->sq, src, "reading rollups");
            return -1;
        }
        if (!it->slots) {
            r->bucket_us = sqlite3_column_int64(s, 0);
            r->count = sqlite3_column_int64(s, 1);
            r->sum = sqlite3_column_double(s, 2);
            r->min = sqlite3_column_double(s, 3);
            r->max = sqlite3_column_double(s, 4);
            return 1;
        }
        it->hour = sqlite3_column_int64(s, 0);
        if (store_sqlite__slots_decode(sqlite3_column_blob(s, 1), sqlite3_column_bytes(s, 1),
                                       it->slot)) {
            it->rc = store__fail(&it->sq->base, TK_EDB, "malformed minute rollup");
            return -1;
        }
        /* minute 0 is handled here so that m > 0 marks a decoded hour */
        it->m = 1;
        const struct sq_slot *sl = &it->slot[0];
        if (sl->n && it->hour >= it->from && it->hour < it->to) {
            *r = (struct store_agg){it->hour, sl->n, sl->total, sl->lo, sl->hi};
            return 1;
        }
    }
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

    int any, src;
    int64_t lo, hi;
    sqlite3_stmt *s;
    rc = store_sqlite__staged_window(sq, ds_id, &any, &lo, &hi);
    if (rc)
        goto cleanup;
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

    struct ru_iter it = {.sq = sq, .from = from_us, .to = to_us};
    if (iv == STORE_MINUTE) {
        s = it.s = sq->ru[RU_GET_SLOTS];
        it.slots = 1;
        sqlite3_bind_int64(s, 1, ds_id);
        sqlite3_bind_int64(s, 2, floor_to(from_us, SQ_HOUR_US));
        sqlite3_bind_int64(s, 3, to_us);
    } else {
        s = it.s = sq->ru[iv == STORE_HOUR ? RU_GET_HOUR : RU_GET_DAY];
        sqlite3_bind_int64(s, 1, ds_id);
        sqlite3_bind_int64(s, 2, from_us);
        sqlite3_bind_int64(s, 3, to_us);
        sqlite3_bind_int64(s, 4, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    }
    size_t k = 0, j = 0;
    struct store_agg r = {0};
    int have = 0;
    while (k < limit) {
        if (!have) {
            int got = ru_next(&it, &r);
            if (got < 0) {
                rc = it.rc;
                break;
            }
            have = got;
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
