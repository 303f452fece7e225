/* PostgreSQL backend of the SensorThings reads and writes (sta.c, sta_filter.c,
 * sta_write.c): its SQL dialect, statements through libpq, and the Observations' derived
 * data (the three rollups and latest, kept in the statement that writes a row).
 *
 * The builder's ?N become $N here, and every $N up to the highest gets a declared type:
 * the value's own (int8, float8, text), or, for a NULL, none where the text uses it (the
 * server infers it from the context) and int8 where it does not. A cursor (a streamed
 * export) runs in single-row mode: rows come as the caller takes them, and closing early
 * cancels the rest. The SQL functions the dialect names (json_valid, tk_json_text,
 * tk_geo_rel...) are created by migration 3 (pg_schema.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "sta_int.h"

#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701

#define PG_PART(fmt) "CAST(to_char(to_timestamp((#0) / 1000000) AT TIME ZONE 'UTC', '" fmt "') AS bigint)"
#define PG_REL(k) "(tk_geo_rel(#0, #1, " #k ") = 1)"

static const struct sta_dialect dialect = {
    .two_obs_tables = 0,
    .obs_source = "observations",
    .fn =
        {
            [STORE_FN_SUBSTRINGOF] = "(strpos(#1, #0) > 0)",
            [STORE_FN_ENDSWITH] = "(right(#0, length(#1)) = #1)",
            [STORE_FN_STARTSWITH] = "(left(#0, length(#1)) = #1)",
            [STORE_FN_LENGTH] = "length(#0)",
            [STORE_FN_INDEXOF] = "(strpos(#0, #1) - 1)",
            [STORE_FN_SUBSTRING] = "substr(#0, CAST((#1) + 1 AS integer))",
            /* the C collation changes ASCII letters only, as SQLite's lower and upper */
            [STORE_FN_TOLOWER] = "lower((#0) COLLATE \"C\")",
            [STORE_FN_TOUPPER] = "upper((#0) COLLATE \"C\")",
            [STORE_FN_TRIM] = "trim(#0)",
            [STORE_FN_CONCAT] = "(#0 || #1)",
            [STORE_FN_YEAR] = PG_PART("YYYY"),
            [STORE_FN_MONTH] = PG_PART("MM"),
            [STORE_FN_DAY] = PG_PART("DD"),
            [STORE_FN_HOUR] = PG_PART("HH24"),
            [STORE_FN_MINUTE] = PG_PART("MI"),
            [STORE_FN_SECOND] = PG_PART("SS"),
            [STORE_FN_DATE] = "to_char(to_timestamp((#0) / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            [STORE_FN_TIME] = "to_char(to_timestamp((#0) / 1000000) AT TIME ZONE 'UTC', 'HH24:MI:SS')",
            /* numeric rounds halves away from zero, as SQLite's round */
            [STORE_FN_ROUND] = "round(CAST(#0 AS numeric))",
            [STORE_FN_FLOOR] = "floor(#0)",
            [STORE_FN_CEILING] = "ceil(#0)",
            STA_GEO_FNS(PG_REL),
        },
    .substring3 = "substr(#0, CAST((#1) + 1 AS integer), greatest(CAST(#2 AS integer), 0))",
    /* SQLite gives NULL for a division by zero and takes % of integers */
    .div = "(#0 / NULLIF(#1, 0))",
    .mod = "(CAST(trunc(#0) AS bigint) % NULLIF(CAST(trunc(#1) AS bigint), 0))",
    .json_num = "tk_json_num(#0, #1)",
    .json_text = "(tk_json_text(#0, #1) COLLATE \"C\")",
    /* PostgreSQL's defaults are the other way round */
    .asc = " NULLS FIRST",
    .desc = " DESC NULLS LAST",
    .thing_private = "(SELECT CASE WHEN tk_json_text(properties, '$.access') = 'private'"
                     " THEN 1 ELSE 0 END FROM things WHERE id = ?2)",
    .num_as_text = "CAST(#0 AS text)",
    .text_as_num = "tk_num(#0)",
    .bool_as_num = "CAST(#0 AS integer)",
    .num_as_bool = "((#0) <> 0)",
    .limit_null = 1,
    .id_list = "(SELECT CAST(value AS bigint) FROM json_array_elements_text(CAST(#0 AS json)))",
};

/* ---- statements --------------------------------------------------------------------------- */

struct sta_stmt {
    struct pg_store *pg;
    PGresult *res; /* the rows (whole, or the current one in single-row mode) */
    int row;       /* the current row of res */
    int stream;    /* single-row mode, results still coming */
};

/* sql with ?N turned into $N (outside quoted text) into *out (new); used[N] set for each
 * N it names. */
static char *dollars(const char *sql, size_t len, unsigned char *used, int max)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    int quoted = 0;
    for (size_t i = 0; i < len; i++) {
        char c = sql[i];
        if (c == '\'')
            quoted = !quoted;
        if (c == '?' && !quoted && i + 1 < len && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            int n = 0;
            size_t j = i + 1;
            while (j < len && sql[j] >= '0' && sql[j] <= '9' && n < 100000)
                n = n * 10 + (sql[j++] - '0');
            if (n < max)
                used[n] = 1;
            out[o++] = '$';
            continue;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

/* ---- prepared statements, by text -----------------------------------------------------
 * The builder writes a handful of shapes per kind of request, values apart: each is parsed
 * and planned once per connection (PQprepare) and then only bound and run, which saves
 * PostgreSQL the parse and analysis of every call. The slots are few and bounded; the one
 * used longest ago makes room for a new shape. PostgreSQL replans a prepared statement
 * itself when a table it reads changes (a new partition). */

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static void slot_name(char *name, size_t size, size_t slot)
{
    snprintf(name, size, "sta%u", (unsigned)(slot % PG_STA_CACHE));
}

/* The name (in name, 16 bytes) of the statement text with n parameters of types,
 * prepared now when it was not yet. */
static enum tk_rc cached(struct pg_store *pg, const char *text, const Oid *types, int n,
                         char *name)
{
    size_t tl = strlen(text) + 1, kl = tl + (size_t)n * sizeof *types;
    unsigned char *key = malloc(kl);
    if (!key)
        return store__fail(&pg->base, TK_ENOMEM, "out of memory");
    memcpy(key, text, tl);
    if (n)
        memcpy(key + tl, types, (size_t)n * sizeof *types);
    uint64_t h = fnv1a(key, kl);
    size_t victim = 0;
    pg->sta_clock++;
    for (size_t i = 0; i < PG_STA_CACHE; i++) {
        struct pg_sta_cached *c = &pg->sta[i];
        if (c->key && c->hash == h && c->key_len == kl && memcmp(c->key, key, kl) == 0) {
            c->used = pg->sta_clock;
            slot_name(name, 16, i);
            free(key);
            return TK_OK;
        }
        const struct pg_sta_cached *v = &pg->sta[victim]; /* a free slot, else the oldest */
        if (v->key && (!c->key || c->used < v->used))
            victim = i;
    }
    struct pg_sta_cached *c = &pg->sta[victim];
    slot_name(name, 16, victim);
    enum tk_rc rc = TK_OK;
    if (c->key) {
        char sql[32];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", name);
        rc = store_pg__exec(pg, sql, "dropping a prepared statement");
        if (!rc) { /* else the slot still holds what the server holds */
            free(c->key);
            c->key = NULL;
        }
    }
    if (!rc) {
        PGresult *res = PQprepare(pg->conn, name, text, n, types);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = store_pg__err(pg, res, "running a SensorThings statement");
        else
            PQclear(res);
    }
    if (rc) {
        free(key);
        return rc;
    }
    c->key = (char *)key;
    c->key_len = kl;
    c->hash = h;
    c->used = pg->sta_clock;
    return TK_OK;
}

void store_pg__sta_forget(struct pg_store *pg)
{
    for (size_t i = 0; i < PG_STA_CACHE; i++) {
        free(pg->sta[i].key);
        pg->sta[i].key = NULL;
    }
}

/* Rows of a pending transaction come first: the reads and writes here see them. */
static enum tk_rc flushed(struct pg_store *pg)
{
    return pg->in_tx && pg->npend ? store_pg__flush_rows(pg) : TK_OK;
}

static enum tk_rc pg_prepare(struct store *st, const char *sql, size_t len,
                             const struct store_sta_value *params, int np, int stream,
                             struct sta_stmt **out)
{
    struct pg_store *pg = pg_of(st);
    *out = NULL;
    if (np > STA_PARAMS_MAX || np < 1)
        return store__fail(st, TK_EINVAL, "bad statement parameters");
    enum tk_rc rc = flushed(pg);
    if (rc)
        return rc;
    int n = np - 1;
    struct sta_stmt *s = calloc(1, sizeof *s);
    unsigned char *used = calloc((size_t)np, 1);
    Oid *types = calloc((size_t)np, sizeof *types);
    const char **vals = calloc((size_t)np, sizeof *vals);
    char (*num)[32] = calloc((size_t)np, sizeof *num);
    char **texts = calloc((size_t)np, sizeof *texts);
    char *text = s && used ? dollars(sql, len, used, np) : NULL;
    if (!s || !used || !types || !vals || !num || !texts || !text) {
        rc = store__fail(st, TK_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (int k = 1; k < np && !rc; k++) {
        const struct store_sta_value *v = &params[k];
        switch (v->type) {
        case STORE_STA_INT:
        case STORE_STA_TIME:
            types[k - 1] = OID_INT8;
            snprintf(num[k], sizeof num[k], "%" PRId64, v->i);
            vals[k - 1] = num[k];
            break;
        case STORE_STA_REAL:
            types[k - 1] = OID_FLOAT8;
            snprintf(num[k], sizeof num[k], "%.17g", v->d);
            vals[k - 1] = num[k];
            break;
        case STORE_STA_TEXT:
        case STORE_STA_JSON:
            types[k - 1] = OID_TEXT;
            /* libpq takes text parameters NUL-terminated: a NUL inside is refused */
            if (memchr(v->s ? v->s : "", '\0', v->len)) {
                rc = store__fail(st, TK_EINVAL, "a text value holds a NUL byte");
                break;
            }
            texts[k] = strndup(v->s ? v->s : "", v->len);
            if (!texts[k])
                rc = store__fail(st, TK_ENOMEM, "out of memory");
            vals[k - 1] = texts[k];
            break;
        default:
            types[k - 1] = used[k] ? 0 : OID_INT8; /* used: the server infers it */
            vals[k - 1] = NULL;
            break;
        }
    }
    if (rc)
        goto cleanup;
    s->pg = pg;
    char name[16];
    rc = cached(pg, text, types, n, name);
    if (rc)
        goto cleanup;
    if (stream) {
        if (!PQsendQueryPrepared(pg->conn, name, n, vals, NULL, NULL, 0) ||
            !PQsetSingleRowMode(pg->conn)) {
            rc = store_pg__err(pg, NULL, "running a SensorThings query");
            while ((s->res = PQgetResult(pg->conn)) != NULL)
                PQclear(s->res);
            goto cleanup;
        }
        s->stream = 1;
    } else {
        s->res = PQexecPrepared(pg->conn, name, n, vals, NULL, NULL, 0);
        ExecStatusType es = s->res ? PQresultStatus(s->res) : PGRES_FATAL_ERROR;
        if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK) {
            rc = store_pg__err(pg, s->res, "running a SensorThings statement");
            s->res = NULL;
            goto cleanup;
        }
        s->row = -1;
    }
    *out = s;
    s = NULL;
cleanup:
    for (int k = 0; texts && k < np; k++)
        free(texts[k]);
    free(texts);
    free(num);
    free(vals);
    free(types);
    free(used);
    free(text);
    free(s);
    return rc;
}

static int pg_step(struct sta_stmt *s, enum tk_rc *rc)
{
    if (!s->stream) {
        if (!s->res || s->row + 1 >= PQntuples(s->res))
            return 0;
        s->row++;
        return 1;
    }
    PQclear(s->res);
    s->res = PQgetResult(s->pg->conn);
    s->row = 0;
    ExecStatusType es = s->res ? PQresultStatus(s->res) : PGRES_TUPLES_OK;
    if (es == PGRES_SINGLE_TUPLE)
        return 1;
    /* the end, or an error: read what is left so the connection is free again */
    PGresult *last = s->res;
    s->res = NULL;
    s->stream = 0;
    PGresult *more;
    while ((more = PQgetResult(s->pg->conn)) != NULL)
        PQclear(more);
    if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) {
        PQclear(last);
        return 0;
    }
    *rc = store_pg__err(s->pg, last, "reading SensorThings entities");
    return -1;
}

static int pg_is_null(struct sta_stmt *s, int c)
{
    return PQgetisnull(s->res, s->row, c);
}

static int64_t pgs_int64(struct sta_stmt *s, int c)
{
    const char *v = PQgetvalue(s->res, s->row, c);
    if (v[0] == 't' || v[0] == 'f') /* a boolean */
        return v[0] == 't';
    return store_pg__int(s->res, s->row, c);
}

static double pgs_real(struct sta_stmt *s, int c)
{
    return store_pg__real(s->res, s->row, c);
}

static const char *pgs_text(struct sta_stmt *s, int c, size_t *len)
{
    if (PQgetisnull(s->res, s->row, c)) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)PQgetlength(s->res, s->row, c);
    return PQgetvalue(s->res, s->row, c);
}

static int64_t pg_changes(struct sta_stmt *s)
{
    const char *n = s->res ? PQcmdTuples(s->res) : "";
    return *n ? strtoll(n, NULL, 10) : 0;
}

static void pg_finish(struct sta_stmt *s)
{
    if (!s)
        return;
    PQclear(s->res);
    if (s->stream) { /* closed before the end: cancel the rest */
        PGcancel *cn = PQgetCancel(s->pg->conn);
        char err[128];
        if (cn) {
            (void)PQcancel(cn, err, sizeof err);
            PQfreeCancel(cn);
        }
        PGresult *more;
        while ((more = PQgetResult(s->pg->conn)) != NULL)
            PQclear(more);
    }
    free(s);
}

static enum tk_rc pg_snapshot_begin(struct store *st)
{
    struct pg_store *pg = pg_of(st);
    if (pg->in_tx || (PQstatus(pg->conn) == CONNECTION_OK &&
                      PQtransactionStatus(pg->conn) != PQTRANS_IDLE))
        return store__fail(st, TK_EINVAL, "a transaction is already open");
    return store_pg__begin_sql(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN (read)");
}

static void pg_snapshot_end(struct store *st)
{
    struct pg_store *pg = pg_of(st);
    if (!pg->in_tx && PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
        PQclear(PQexec(pg->conn, "COMMIT"));
}

/* A write inside the caller's transaction runs in a savepoint, so that a refused one
 * (which may have failed in the server) undoes only itself. */
static enum tk_rc pg_write_enter(struct store *st, int *nested)
{
    struct pg_store *pg = pg_of(st);
    enum tk_rc rc = store_pg__write_enter(pg, nested);
    if (!rc)
        rc = flushed(pg);
    if (!rc && *nested)
        rc = store_pg__exec(pg, "SAVEPOINT sta_write", "starting a SensorThings write");
    return rc;
}

static enum tk_rc pg_write_leave(struct store *st, int nested, enum tk_rc rc)
{
    struct pg_store *pg = pg_of(st);
    if (nested && rc) {
        char msg[STORE_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", st->errmsg);
        if (!store_pg__exec(pg, "ROLLBACK TO SAVEPOINT sta_write", "undoing a SensorThings write"))
            pg->tx_failed = 0; /* usable again */
        snprintf(st->errmsg, sizeof st->errmsg, "%s", msg);
        store_pg__ds_forget(pg);
    }
    if (nested && !rc)
        rc = store_pg__exec(pg, "RELEASE SAVEPOINT sta_write", "finishing a SensorThings write");
    return store_pg__write_leave(pg, nested, rc);
}

/* ---- Observations ---------------------------------------------------------------------- */

static enum tk_rc pg_obs_insert(struct store *st, struct sta_obs *o)
{
    struct pg_store *pg = pg_of(st);
    int64_t dup = 0;
    enum tk_rc rc = TK_OK;
    int f = store_sta__first_int(st, "SELECT id FROM observations WHERE ds_id = ?1 AND t_us = ?2",
                                 (int64_t[]){o->ds, o->t}, 2, &dup, &rc);
    if (f < 0)
        return rc;
    if (f > 0)
        return store_sta__dup(st, o, dup);
    if (o->id == 0)
        rc = store_pg__next_id(pg, &o->id);
    if (!rc)
        rc = store_pg__part_ensure(pg, o->t);
    if (rc)
        return rc;
    store_pg__ds_forget(pg); /* the writer's newest-time knowledge */
    /* the row, its rollups, latest (newer rows only; the FeatureOfInterest when it has
     * none) and the (FeatureOfInterest, Datastream) pair, in one statement */
    static const char sql[] =
        "WITH ins AS (INSERT INTO observations (ds_id, t_us, id, t_end_us, result_time_us,"
        " result, params, foi_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        " RETURNING ds_id, t_us, id, t_end_us, result_time_us, result, foi_id),"
        " " PG_ROLLUP_UPSERT("rollup_minute", "60000000") ","
        " " PG_ROLLUP_UPSERT("rollup_hour", "3600000000") ","
        " " PG_ROLLUP_UPSERT("rollup_day", "86400000000") ","
        " lt AS (INSERT INTO latest (ds_id, t_us, t_end_us, result_time_us, result, id, foi_id)"
        " SELECT ds_id, t_us, t_end_us, result_time_us, result, id, foi_id FROM ins"
        " ON CONFLICT (ds_id) DO UPDATE SET"
        " t_us = CASE WHEN latest.t_us IS NULL OR latest.t_us < excluded.t_us"
        "  THEN excluded.t_us ELSE latest.t_us END,"
        " t_end_us = CASE WHEN latest.t_us IS NULL OR latest.t_us < excluded.t_us"
        "  THEN excluded.t_end_us ELSE latest.t_end_us END,"
        " result_time_us = CASE WHEN latest.t_us IS NULL OR latest.t_us < excluded.t_us"
        "  THEN excluded.result_time_us ELSE latest.result_time_us END,"
        " result = CASE WHEN latest.t_us IS NULL OR latest.t_us < excluded.t_us"
        "  THEN excluded.result ELSE latest.result END,"
        " id = CASE WHEN latest.t_us IS NULL OR latest.t_us < excluded.t_us"
        "  THEN excluded.id ELSE latest.id END,"
        " foi_id = coalesce(latest.foi_id, excluded.foi_id)),"
        " fd AS (INSERT INTO obs_foi_ds (foi_id, ds_id) SELECT foi_id, ds_id FROM ins"
        " WHERE foi_id IS NOT NULL ON CONFLICT DO NOTHING)"
        " SELECT count(*) FROM ins";
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
    struct sta_stmt *s;
    rc = pg_prepare(st, sql, sizeof sql - 1, v, 9, 0, &s);
    if (rc)
        return rc;
    pg_finish(s);
    return TK_OK;
}

static enum tk_rc pg_obs_remove(struct store *st, struct sta_obs *rows, size_t n)
{
    struct sta_obs **ptr = malloc((n ? n : 1) * sizeof *ptr);
    if (!ptr)
        return store__fail(st, TK_ENOMEM, "out of memory");
    enum tk_rc rc = TK_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        ptr[i] = &rows[i];
        rc = store_sta__run(st, "DELETE FROM observations WHERE ds_id = ?1 AND t_us = ?2",
                            (int64_t[]){rows[i].ds, rows[i].t}, 2, NULL);
    }
    if (!rc)
        rc = store_sta__unfold(st, "rollup_minute", PG_MINUTE_US, ptr, n);
    if (!rc)
        rc = store_sta__unfold(st, "rollup_hour", PG_HOUR_US, ptr, n);
    if (!rc)
        rc = store_sta__unfold(st, "rollup_day", PG_DAY_US, ptr, n);
    free(ptr);
    /* latest, when its row went: the newest of what remains (none: no time) */
    for (size_t i = 0; !rc && i < n; i++)
        rc = store_sta__run(st,
                            "UPDATE latest SET (t_us, t_end_us, result_time_us, result, id) ="
                            " (SELECT t_us, t_end_us, result_time_us, result, id FROM observations"
                            " WHERE ds_id = ?1 ORDER BY t_us DESC LIMIT 1)"
                            " WHERE ds_id = ?1 AND id = ?2",
                            (int64_t[]){rows[i].ds, rows[i].id}, 2, NULL);
    store_pg__ds_forget(pg_of(st));
    return rc;
}

static enum tk_rc pg_ds_created(struct store *st, int64_t ds)
{
    return store_sta__run(st, "INSERT INTO latest (ds_id) VALUES (?1) ON CONFLICT DO NOTHING",
                          &ds, 1, NULL);
}

static enum tk_rc pg_ds_delete(struct store *st, int64_t ds)
{
    static const char *const sql[] = {
        "DELETE FROM observations WHERE ds_id = ?1", "DELETE FROM rollup_minute WHERE ds_id = ?1",
        "DELETE FROM rollup_hour WHERE ds_id = ?1",  "DELETE FROM rollup_day WHERE ds_id = ?1",
        "DELETE FROM obs_foi_ds WHERE ds_id = ?1",   "DELETE FROM latest WHERE ds_id = ?1",
        "DELETE FROM datastreams WHERE id = ?1",
    };
    enum tk_rc rc = TK_OK;
    for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++)
        rc = store_sta__run(st, sql[i], &ds, 1, NULL);
    store_pg__ds_forget(pg_of(st));
    return rc;
}

static enum tk_rc pg_foi_forget(struct store *st, int64_t foi, const int64_t *ds, size_t n)
{
    (void)ds;
    (void)n;
    return store_sta__run(st, "UPDATE latest SET foi_id = NULL WHERE foi_id = ?1", &foi, 1, NULL);
}

const struct sta_backend store_sta__pg = {
    .d = &dialect,
    .prepare = pg_prepare,
    .step = pg_step,
    .is_null = pg_is_null,
    .int64 = pgs_int64,
    .real = pgs_real,
    .text = pgs_text,
    .changes = pg_changes,
    .finish = pg_finish,
    .explain = "EXPLAIN ",
    .explain_col = 0,
    .snapshot_begin = pg_snapshot_begin,
    .snapshot_end = pg_snapshot_end,
    .write_enter = pg_write_enter,
    .write_leave = pg_write_leave,
    .obs_insert = pg_obs_insert,
    .obs_remove = pg_obs_remove,
    .ds_created = pg_ds_created,
    .ds_delete = pg_ds_delete,
    .foi_forget = pg_foi_forget,
};
