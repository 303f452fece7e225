/* SQLite backend of the SensorThings reads and writes (sta.c, sta_filter.c, sta_write.c):
 * its SQL dialect, statements through a cache found by their text, and the Observations'
 * derived data (staging, the minute slots, the latest cache).
 *
 * Statements are kept for reuse, found by their SQL text: an API request's statements are
 * the same text each time (values are bound), so parsing them again was most of a simple
 * request's cost. The statements a bulk write runs per Observation come from the same
 * cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "sta_int.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define SQ_PART(fmt) "CAST(strftime('" fmt "', (#0) / 1000000, 'unixepoch') AS INTEGER)"
#define SQ_REL(k) "tk_geo_rel(#0, #1, " #k ")"

static const struct sta_dialect dialect = {
    .two_obs_tables = 1,
    .obs_source = "(SELECT id, ds_id, t_us, t_end_us, result_time_us, result, params, foi_id"
                  " FROM observations UNION ALL SELECT id, ds_id, t_us, t_end_us, result_time_us,"
                  " result, params, NULL FROM obs_staging)",
    .fn =
        {
            [STORE_FN_SUBSTRINGOF] = "(instr(#1, #0) > 0)",
            [STORE_FN_ENDSWITH] = "(length(#1) = 0 OR substr(#0, -length(#1)) = #1)",
            [STORE_FN_STARTSWITH] = "(substr(#0, 1, length(#1)) = #1)",
            [STORE_FN_LENGTH] = "length(#0)",
            [STORE_FN_INDEXOF] = "(instr(#0, #1) - 1)",
            [STORE_FN_SUBSTRING] = "substr(#0, (#1) + 1)",
            [STORE_FN_TOLOWER] = "lower(#0)",
            [STORE_FN_TOUPPER] = "upper(#0)",
            [STORE_FN_TRIM] = "trim(#0)",
            [STORE_FN_CONCAT] = "(#0 || #1)",
            [STORE_FN_YEAR] = SQ_PART("%Y"),
            [STORE_FN_MONTH] = SQ_PART("%m"),
            [STORE_FN_DAY] = SQ_PART("%d"),
            [STORE_FN_HOUR] = SQ_PART("%H"),
            [STORE_FN_MINUTE] = SQ_PART("%M"),
            [STORE_FN_SECOND] = SQ_PART("%S"),
            [STORE_FN_DATE] = "date((#0) / 1000000, 'unixepoch')",
            [STORE_FN_TIME] = "time((#0) / 1000000, 'unixepoch')",
            [STORE_FN_ROUND] = "round(#0)",
            [STORE_FN_FLOOR] = "tk_floor(#0)",
            [STORE_FN_CEILING] = "tk_ceil(#0)",
            STA_GEO_FNS(SQ_REL),
        },
    .substring3 = "substr(#0, (#1) + 1, #2)",
    .div = "(#0 / #1)",
    .mod = "(#0 % #1)",
    .json_num = "CASE WHEN json_type(#0, #1) IN ('integer', 'real', 'true', 'false')"
                " THEN json_extract(#0, #1) END",
    .json_text = "CASE WHEN json_type(#0, #1) = 'text' THEN json_extract(#0, #1) END",
    .asc = "",
    .desc = " DESC", /* SQLite puts NULLs first going up, last going down */
    .thing_private = "(SELECT CASE WHEN json_valid(properties) THEN"
                     " json_extract(properties, '$.access') IS 'private' ELSE 0 END"
                     " FROM things WHERE id = ?2)",
    .id_list = "(SELECT value FROM json_each(#0))",
    /* SQLite compares values of any types: no conversions */
};

/* ---- statements --------------------------------------------------------------------------- */

struct sta_stmt {
    struct sq_store *sq;
    sqlite3_stmt *s;
};

/* The statement cache (sq->sta_cache): take a free statement of this text, or prepare one
 * and keep it in place of the least recently used free one. */
static int cache_take(struct sq_store *sq, const char *sql, size_t len, sqlite3_stmt **out,
                      int *nlow)
{
    for (int i = 0; i < SQ_STA_CACHE_N; i++) {
        if (sq->sta_cache[i].s && !sq->sta_cache[i].busy && sq->sta_cache[i].len == len &&
            memcmp(sq->sta_cache[i].sql, sql, len) == 0) {
            sq->sta_cache[i].busy = 1;
            sq->sta_cache[i].used = ++sq->sta_tick;
            *out = sq->sta_cache[i].s;
            *nlow = sq->sta_cache[i].nlow;
            return 1;
        }
    }
    return 0;
}

/* The highest parameter index s names below STA_VPARAM (found once, at its preparing). */
static int low_params(sqlite3_stmt *s)
{
    int k = sqlite3_bind_parameter_count(s);
    if (k >= STA_VPARAM)
        k = STA_VPARAM - 1;
    while (k > 0 && !sqlite3_bind_parameter_name(s, k))
        k--;
    return k;
}

static void cache_put(struct sq_store *sq, const char *sql, size_t len, sqlite3_stmt *s,
                      int nlow)
{
    int slot = -1;
    for (int i = 0; i < SQ_STA_CACHE_N; i++) {
        if (sq->sta_cache[i].busy)
            continue;
        if (!sq->sta_cache[i].s) {
            slot = i;
            break;
        }
        if (slot < 0 || sq->sta_cache[i].used < sq->sta_cache[slot].used)
            slot = i;
    }
    if (slot < 0)
        return; /* every slot in use: this one is finalized at its release */
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, sql, len);
    copy[len] = '\0';
    sqlite3_finalize(sq->sta_cache[slot].s);
    free(sq->sta_cache[slot].sql);
    sq->sta_cache[slot].sql = copy;
    sq->sta_cache[slot].len = len;
    sq->sta_cache[slot].s = s;
    sq->sta_cache[slot].busy = 1;
    sq->sta_cache[slot].nlow = nlow;
    sq->sta_cache[slot].used = ++sq->sta_tick;
}

/* Done with a statement: reset and back into the cache (which ends its read), or
 * finalized when it is not cached. */
static void release(struct sq_store *sq, sqlite3_stmt *s)
{
    if (!s)
        return;
    for (int i = 0; i < SQ_STA_CACHE_N; i++)
        if (sq->sta_cache[i].s == s) {
            sqlite3_reset(s);
            sq->sta_cache[i].busy = 0;
            return;
        }
    sqlite3_finalize(s);
}

void store_sqlite__sta_cache_free(struct sq_store *sq)
{
    for (int i = 0; i < SQ_STA_CACHE_N; i++) {
        sqlite3_finalize(sq->sta_cache[i].s);
        free(sq->sta_cache[i].sql);
        sq->sta_cache[i].s = NULL;
        sq->sta_cache[i].sql = NULL;
    }
}

static sqlite3_stmt *cached(struct sq_store *sq, const char *sql, size_t len, int *src,
                            int *nlow)
{
    sqlite3_stmt *s = NULL;
    *src = SQLITE_OK;
    if (cache_take(sq, sql, len, &s, nlow))
        return s;
    *src = sqlite3_prepare_v3(sq->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (*src != SQLITE_OK)
        return NULL;
    *nlow = low_params(s);
    cache_put(sq, sql, len, s, *nlow);
    return s;
}

static enum tk_rc sq_prepare(struct store *st, const char *sql, size_t len,
                             const struct store_sta_value *params, int np, int stream,
                             struct sta_stmt **out)
{
    (void)stream; /* SQLite steps on demand anyway */
    struct sq_store *sq = sq_of(st);
    *out = NULL;
    struct sta_stmt *ss = malloc(sizeof *ss);
    if (!ss)
        return store__fail(st, TK_ENOMEM, "out of memory");
    int src, nlow = 0;
    ss->sq = sq;
    ss->s = cached(sq, sql, len, &src, &nlow);
    if (!ss->s) {
        free(ss);
        return store_sqlite__err(sq, src, "preparing a SensorThings statement");
    }
    /* Every parameter the text names is bound each time (so a cached statement needs no
     * clearing): ?1..?nlow (the query's and its filter's) and the viewer's ?STA_VPARAM
     * when it names it. The indexes between are never named; binding NULL to each of them
     * and clearing them cost a sixth of an entity GET. */
    static const struct store_sta_value none = {.type = STORE_STA_NULL};
    int have = sqlite3_bind_parameter_count(ss->s);
    for (int k = 1; k <= have; k++) {
        if (k > nlow && k < STA_VPARAM) {
            k = STA_VPARAM - 1; /* to the viewer's, if the text names it */
            continue;
        }
        const struct store_sta_value *v = k < np ? &params[k] : &none;
        switch (v->type) {
        case STORE_STA_INT:
        case STORE_STA_TIME:
            sqlite3_bind_int64(ss->s, k, v->i);
            break;
        case STORE_STA_REAL:
            sqlite3_bind_double(ss->s, k, v->d);
            break;
        case STORE_STA_TEXT:
        case STORE_STA_JSON:
            sqlite3_bind_text(ss->s, k, v->s ? v->s : "", (int)v->len, SQLITE_TRANSIENT);
            break;
        default:
            sqlite3_bind_null(ss->s, k);
            break;
        }
    }
    *out = ss;
    return TK_OK;
}

static int sq_step(struct sta_stmt *s, enum tk_rc *rc)
{
    int src = sqlite3_step(s->s);
    if (src == SQLITE_ROW)
        return 1;
    if (src == SQLITE_DONE)
        return 0;
    *rc = store_sqlite__err(s->sq, src, "running a SensorThings statement");
    return -1;
}

static int sq_is_null(struct sta_stmt *s, int c)
{
    return sqlite3_column_type(s->s, c) == SQLITE_NULL;
}

static int64_t sq_int64(struct sta_stmt *s, int c)
{
    return sqlite3_column_int64(s->s, c);
}

static double sq_real(struct sta_stmt *s, int c)
{
    return sqlite3_column_double(s->s, c);
}

static const char *sq_text(struct sta_stmt *s, int c, size_t *len)
{
    const char *t = (const char *)sqlite3_column_text(s->s, c);
    *len = t ? (size_t)sqlite3_column_bytes(s->s, c) : 0;
    return t;
}

static int64_t sq_changes(struct sta_stmt *s)
{
    return sqlite3_changes(s->sq->db);
}

static void sq_finish(struct sta_stmt *s)
{
    if (!s)
        return;
    release(s->sq, s->s);
    free(s);
}

/* BEGIN and COMMIT through the statement cache: an API request makes one of each. */
static int exec_cached(struct sq_store *sq, const char *sql)
{
    int src, nlow;
    sqlite3_stmt *s = cached(sq, sql, strlen(sql), &src, &nlow);
    if (!s)
        return src;
    src = sqlite3_step(s);
    release(sq, s);
    return src == SQLITE_DONE ? SQLITE_OK : src;
}

static enum tk_rc sq_snapshot_begin(struct store *st)
{
    struct sq_store *sq = sq_of(st);
    if (!sqlite3_get_autocommit(sq->db))
        return store__fail(st, TK_EINVAL, "a transaction is already open");
    int src = exec_cached(sq, "BEGIN");
    return src == SQLITE_OK ? TK_OK : store_sqlite__err(sq, src, "BEGIN (read)");
}

static void sq_snapshot_end(struct store *st)
{
    struct sq_store *sq = sq_of(st);
    if (!sqlite3_get_autocommit(sq->db) && exec_cached(sq, "COMMIT"))
        (void)sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
}

static enum tk_rc sq_write_enter(struct store *st, int *nested)
{
    return store_sqlite__write_enter(sq_of(st), nested, 1);
}

static enum tk_rc sq_write_leave(struct store *st, int nested, enum tk_rc rc)
{
    return store_sqlite__write_leave(sq_of(st), nested, rc);
}

/* ---- Observations ---------------------------------------------------------------------- */

/* 1 and *id if (ds, t) has an observation, 0 if not, -1 on error. */
static int obs_at(struct sq_store *sq, sqlite3_stmt *s, int64_t ds, int64_t t, int64_t *id,
                  enum tk_rc *rc)
{
    sqlite3_bind_int64(s, 1, ds);
    sqlite3_bind_int64(s, 2, t);
    int src = sqlite3_step(s), r = 0;
    if (src == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        r = 1;
    } else if (src != SQLITE_DONE) {
        *rc = store_sqlite__err(sq, src, "looking for a duplicate");
        r = -1;
    }
    sqlite3_reset(s);
    return r;
}

/* Observations written through the API go straight to the clustered table, not to the
 * staging the ingest fills: the API writes few rows, and a row there carries its
 * FeatureOfInterest (foi_id), which a staged row cannot. So the insert is folded into the
 * three rollups at once and becomes the stream's latest entry when it is the newest. A
 * (Datastream, phenomenonTime) already staged is refused as a duplicate, and the ingest
 * looks in the clustered table before staging a row older than the stream's latest. */
static enum tk_rc sq_obs_insert(struct store *st, struct sta_obs *o)
{
    struct sq_store *sq = sq_of(st);
    struct sq_lt_entry *e;
    enum tk_rc rc = store_sqlite__lt_entry(sq, o->ds, 1, &e);
    if (rc)
        return rc;
    int64_t dup = 0;
    int f = obs_at(sq, sq->wr[WR_MAIN_FIND], o->ds, o->t, &dup, &rc);
    if (f == 0 && (e->flags & LT_HAS_STAGED) && o->t >= e->staged_min)
        f = obs_at(sq, sq->wr[WR_STAGE_FIND], o->ds, o->t, &dup, &rc);
    if (f < 0)
        return rc;
    if (f > 0)
        return store_sta__dup(st, o, dup);
    if (o->id == 0) {
        o->id = sq->next_id++;
        sq->counter_dirty = 1;
    }
    struct store_sta_value v[9] = {
        [1] = {.type = STORE_STA_INT, .i = o->ds},
        [2] = {.type = STORE_STA_INT, .i = o->t},
        [3] = {.type = STORE_STA_INT, .i = o->id},
        [4] = {.type = o->t_end ? STORE_STA_INT : STORE_STA_NULL, .i = o->t_end},
        [5] = {.type = o->rt ? STORE_STA_INT : STORE_STA_NULL, .i = o->rt},
        [6] = {.type = STORE_STA_REAL, .d = o->result},
        [7] = {.type = o->params ? STORE_STA_TEXT : STORE_STA_NULL,
               .s = o->params,
               .len = o->params ? strlen(o->params) : 0},
        [8] = {.type = o->foi ? STORE_STA_INT : STORE_STA_NULL, .i = o->foi},
    };
    static const char ins[] = "INSERT INTO observations (ds_id, t_us, id, t_end_us,"
                              " result_time_us, result, params, foi_id)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    struct sta_stmt *s;
    rc = sq_prepare(st, ins, sizeof ins - 1, v, 9, 0, &s);
    if (rc)
        return rc;
    if (sq_step(s, &rc) > 0)
        rc = store__fail(st, TK_EDB, "adding an observation: a row came back");
    sq_finish(s);
    if (rc)
        return rc;
    struct store_row r = {.ds = o->ds,
                       .t = o->t,
                       .id = o->id,
                       .t_end = o->t_end,
                       .rt = o->rt,
                       .result = o->result,
                       .foi = o->foi};
    rc = store_sqlite__fold(sq, &r, 1);
    if (!rc)
        rc = store_sqlite__lt_touch(sq, o->ds);
    if (rc)
        return rc;
    e->flags |= LT_EXISTS;
    if (!(e->flags & LT_HAS_T) || o->t > e->t) {
        e->flags |= LT_HAS_T;
        e->t = o->t;
        e->t_end = o->t_end;
        e->rt = o->rt;
        e->result = o->result;
        e->id = o->id;
    }
    if (!(e->flags & LT_HAS_FOI) && o->foi) {
        e->flags |= LT_HAS_FOI;
        e->foi = o->foi;
    }
    if (o->foi)
        rc = store_sta__run(st, "INSERT INTO obs_foi_ds (foi_id, ds_id) VALUES (?1, ?2)"
                                " ON CONFLICT DO NOTHING",
                            (int64_t[]){o->foi, o->ds}, 2, NULL);
    return rc;
}

/* The stream's newest observation in either table into its latest entry. */
static enum tk_rc latest_recompute(struct sq_store *sq, int64_t ds, struct sq_lt_entry *e)
{
    static const char *const sql[2] = {
        "SELECT t_us, coalesce(t_end_us, 0), coalesce(result_time_us, 0), result, id"
        " FROM observations WHERE ds_id = ?1 ORDER BY t_us DESC LIMIT 1",
        SQ_BATCHES_CTE "SELECT s.t_us, coalesce(s.t_end_us, 0), coalesce(s.result_time_us, 0),"
                       " s.result, s.id FROM b CROSS JOIN obs_staging s ON s.batch = b.x"
                       " AND s.ds_id = ?1 ORDER BY s.t_us DESC LIMIT 1"};
    e->flags &= (unsigned char)~LT_HAS_T;
    struct store_sta_value v[2] = {[1] = {.type = STORE_STA_INT, .i = ds}};
    enum tk_rc rc = TK_OK;
    for (int k = 0; k < 2 && !rc; k++) {
        struct sta_stmt *s;
        rc = sq_prepare(&sq->base, sql[k], strlen(sql[k]), v, 2, 0, &s);
        if (rc)
            break;
        if (sq_step(s, &rc) == 1 && (!(e->flags & LT_HAS_T) || sq_int64(s, 0) > e->t)) {
            e->flags |= LT_HAS_T;
            e->t = sq_int64(s, 0);
            e->t_end = sq_int64(s, 1);
            e->rt = sq_int64(s, 2);
            e->result = sq_real(s, 3);
            e->id = sq_int64(s, 4);
        }
        sq_finish(s);
    }
    return rc;
}

/* min and max of the raw results of ds in [from, to) into *lo, *hi when there are any. */
static enum tk_rc raw_extremes(struct store *st, int64_t ds, int64_t from, int64_t to,
                               double *lo, double *hi)
{
    static const char sql[] = "SELECT min(result), max(result) FROM observations WHERE"
                              " ds_id = ?1 AND t_us >= ?2 AND t_us < ?3 AND result IS NOT NULL";
    const struct sta_backend *be = store_sta__backend(st);
    struct store_sta_value v[4] = {[1] = {.type = STORE_STA_INT, .i = ds},
                                   [2] = {.type = STORE_STA_INT, .i = from},
                                   [3] = {.type = STORE_STA_INT, .i = to}};
    struct sta_stmt *s;
    enum tk_rc rc = be->prepare(st, sql, sizeof sql - 1, v, 4, 0, &s);
    if (rc)
        return rc;
    if (be->step(s, &rc) == 1 && !be->is_null(s, 0)) {
        *lo = be->real(s, 0);
        *hi = be->real(s, 1);
    }
    be->finish(s);
    return rc;
}

/* The minute slots: one read-adjust-write per (ds, hour). */
static enum tk_rc unfold_minutes(struct sq_store *sq, struct sta_obs *const *rows, size_t n)
{
    enum tk_rc rc = TK_OK;
    struct sq_slot slot[SQ_SLOTS];
    for (size_t i = 0; !rc && i < n;) {
        int64_t ds = rows[i]->ds,
                hour = rows[i]->t - (((rows[i]->t % SQ_HOUR_US) + SQ_HOUR_US) % SQ_HOUR_US);
        size_t j = i;
        while (j < n && rows[j]->ds == ds && rows[j]->t >= hour && rows[j]->t < hour + SQ_HOUR_US)
            j++;
        sqlite3_stmt *s = sq->ru[RU_SLOTS_GET];
        sqlite3_bind_int64(s, 1, ds);
        sqlite3_bind_int64(s, 2, hour);
        int src = sqlite3_step(s), have = 0;
        if (src == SQLITE_ROW) {
            have = 1;
            if (store_sqlite__slots_decode(sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0),
                                           slot))
                rc = store__fail(&sq->base, TK_EDB, "malformed minute rollup of ds %lld",
                                 (long long)ds);
        } else if (src != SQLITE_DONE) {
            rc = store_sqlite__err(sq, src, "reading a minute rollup");
        }
        sqlite3_reset(s);
        if (rc || !have) {
            i = j;
            continue;
        }
        unsigned char redo[SQ_SLOTS] = {0};
        for (; i < j; i++) {
            int m = (int)((rows[i]->t - hour) / SQ_MINUTE_US);
            struct sq_slot *sl = &slot[m];
            if (sl->n == 0)
                continue;
            sl->n--;
            sl->total -= rows[i]->result;
            if (rows[i]->result <= sl->lo || rows[i]->result >= sl->hi)
                redo[m] = 1;
        }
        for (int m = 0; !rc && m < SQ_SLOTS; m++) {
            if (slot[m].n == 0) {
                memset(&slot[m], 0, sizeof slot[m]);
                continue;
            }
            if (redo[m]) {
                int64_t from = hour + m * SQ_MINUTE_US;
                rc = raw_extremes(&sq->base, ds, from, from + SQ_MINUTE_US, &slot[m].lo,
                                  &slot[m].hi);
            }
        }
        if (rc)
            break;
        unsigned char buf[SQ_SLOTS_BLOB_MAX];
        int len = store_sqlite__slots_encode(slot, buf);
        if (len == 0) {
            rc = store_sta__run(&sq->base,
                                "DELETE FROM rollup_minute_slots WHERE ds_id = ?1 AND hour_us = ?2",
                                (int64_t[]){ds, hour}, 2, NULL);
        } else {
            s = sq->ru[RU_SLOTS_PUT];
            sqlite3_bind_int64(s, 1, ds);
            sqlite3_bind_int64(s, 2, hour);
            sqlite3_bind_blob(s, 3, buf, len, SQLITE_STATIC);
            rc = store_sqlite__exec(sq, s, "writing a minute rollup");
        }
    }
    return rc;
}

/* A delete takes the row out of the rollups again: count and sum exactly; minimum and
 * maximum are re-read from the remaining raw rows of the bucket when the removed value was
 * one of them (a bucket whose raw rows retention already removed keeps its extremes, the
 * best that is known); the latest entry is recomputed from both tables when the latest
 * row went; a removed staged row only lowers the staged count (staged rows are not in the
 * rollups yet, and staged_min stays a valid lower bound). */
static enum tk_rc sq_obs_remove(struct store *st, struct sta_obs *rows, size_t n)
{
    struct sq_store *sq = sq_of(st);
    struct sta_obs **main_rows = malloc((n ? n : 1) * sizeof *main_rows);
    if (!main_rows)
        return store__fail(st, TK_ENOMEM, "out of memory");
    size_t nmain = 0;
    int64_t nstaged = 0;
    enum tk_rc rc = TK_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        struct sta_obs *o = &rows[i];
        if (o->staged) {
            rc = store_sta__run(st,
                                "DELETE FROM obs_staging WHERE batch = (?1 >> " STR(
                                    SQ_BATCH_SHIFT) ") AND ds_id = ?2 AND t_us = ?3",
                                (int64_t[]){o->id, o->ds, o->t}, 3, NULL);
            nstaged++;
        } else {
            rc = store_sta__run(st, "DELETE FROM observations WHERE ds_id = ?1 AND t_us = ?2",
                                (int64_t[]){o->ds, o->t}, 2, NULL);
            main_rows[nmain++] = o;
        }
    }
    if (!rc)
        rc = store_sta__unfold(st, "rollup_hour", SQ_HOUR_US, main_rows, nmain);
    if (!rc)
        rc = store_sta__unfold(st, "rollup_day", SQ_DAY_US, main_rows, nmain);
    if (!rc)
        rc = unfold_minutes(sq, main_rows, nmain);
    free(main_rows);
    for (size_t i = 0; !rc && i < n; i++) {
        if (i > 0 && rows[i].ds == rows[i - 1].ds)
            continue;
        struct sq_lt_entry *e;
        rc = store_sqlite__lt_entry(sq, rows[i].ds, 1, &e);
        if (rc || !(e->flags & LT_HAS_T))
            continue;
        int gone = 0;
        for (size_t j = i; j < n && rows[j].ds == rows[i].ds; j++)
            gone |= rows[j].id == e->id;
        if (!gone)
            continue;
        rc = store_sqlite__lt_touch(sq, rows[i].ds);
        if (!rc)
            rc = latest_recompute(sq, rows[i].ds, e);
    }
    if (!rc && nstaged) {
        sq->staged = sq->staged > nstaged ? sq->staged - nstaged : 0;
        sq->counter_dirty = 1;
    }
    return rc;
}

static enum tk_rc sq_ds_created(struct store *st, int64_t ds)
{
    struct sq_store *sq = sq_of(st);
    struct sq_lt_entry *e;
    enum tk_rc rc = store_sqlite__lt_entry(sq, ds, 1, &e);
    if (!rc)
        rc = store_sqlite__lt_touch(sq, ds);
    if (!rc) {
        memset(e, 0, sizeof *e);
        e->flags = LT_EXISTS;
    }
    return rc;
}

static enum tk_rc sq_ds_delete(struct store *st, int64_t ds)
{
    struct sq_store *sq = sq_of(st);
    int64_t staged = 0;
    enum tk_rc rc = store_sta__run(st, "DELETE FROM obs_staging WHERE ds_id = ?1", &ds, 1, &staged);
    static const char *const sql[] = {
        "DELETE FROM observations WHERE ds_id = ?1",
        "DELETE FROM rollup_minute_slots WHERE ds_id = ?1",
        "DELETE FROM rollup_hour WHERE ds_id = ?1",
        "DELETE FROM rollup_day WHERE ds_id = ?1",
        "DELETE FROM obs_foi_ds WHERE ds_id = ?1",
        "DELETE FROM datastreams WHERE id = ?1",
    };
    for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++)
        rc = store_sta__run(st, sql[i], &ds, 1, NULL);
    struct sq_lt_entry *e = NULL;
    if (!rc)
        rc = store_sqlite__lt_entry(sq, ds, 1, &e);
    if (!rc)
        rc = store_sqlite__lt_touch(sq, ds);
    if (!rc)
        memset(e, 0, sizeof *e);
    if (!rc && staged) {
        sq->staged = sq->staged > staged ? sq->staged - staged : 0;
        sq->counter_dirty = 1;
    }
    return rc;
}

static enum tk_rc sq_foi_forget(struct store *st, int64_t foi, const int64_t *ds, size_t n)
{
    struct sq_store *sq = sq_of(st);
    enum tk_rc rc = TK_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        struct sq_lt_entry *e;
        rc = store_sqlite__lt_entry(sq, ds[i], 1, &e);
        if (rc || !(e->flags & LT_HAS_FOI) || e->foi != foi)
            continue;
        rc = store_sqlite__lt_touch(sq, ds[i]);
        e->flags &= (unsigned char)~LT_HAS_FOI;
        e->foi = 0;
    }
    return rc;
}

const struct sta_backend store_sta__sqlite = {
    .d = &dialect,
    .prepare = sq_prepare,
    .step = sq_step,
    .is_null = sq_is_null,
    .int64 = sq_int64,
    .real = sq_real,
    .text = sq_text,
    .changes = sq_changes,
    .finish = sq_finish,
    .explain = "EXPLAIN QUERY PLAN ",
    .explain_col = 3,
    .snapshot_begin = sq_snapshot_begin,
    .snapshot_end = sq_snapshot_end,
    .write_enter = sq_write_enter,
    .write_leave = sq_write_leave,
    .obs_insert = sq_obs_insert,
    .obs_remove = sq_obs_remove,
    .ds_created = sq_ds_created,
    .ds_delete = sq_ds_delete,
    .foi_forget = sq_foi_forget,
};
