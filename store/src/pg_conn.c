/* PostgreSQL backend: the connection (open, settings, migration, prepared statements,
 * close), error mapping, transaction helpers and the partitions of observations.
 *
 * Selected by a store URI "postgresql://..." or "postgres://..." (any libpq connection
 * URI: user, password, host or socket directory, port, dbname, options). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

#define PG_LOCK_PARTITION "7215081902"

#define PG_POINT_COLS "id, t_us, coalesce(t_end_us, 0), coalesce(result_time_us, t_us), result"

static const char *const pg_sql[PS_N] = {
    [PS_SEQ_LOAD] =
        "SELECT known, watermark, array_to_string(pending, ','), gap_since_us, has_cum, cum_seq,"
        " cum_ts_us, cum_in, cum_out FROM seq_state WHERE device_id = $1",
    [PS_SEQ_LOCK] = "INSERT INTO seq_state VALUES ($1, false, 0, '{}', 0, false, 0, 0, 0, 0)"
                    " ON CONFLICT (device_id) DO NOTHING",
    [PS_SEQ_SAVE] =
        "INSERT INTO seq_state VALUES ($1, $2, $3, $4::bigint[], $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (device_id) DO UPDATE SET known = excluded.known,"
        " watermark = excluded.watermark, pending = excluded.pending,"
        " gap_since_us = excluded.gap_since_us, has_cum = excluded.has_cum,"
        " cum_seq = excluded.cum_seq, cum_ts_us = excluded.cum_ts_us, cum_in = excluded.cum_in,"
        " cum_out = excluded.cum_out",
    [PS_QUAR_INSERT] = "INSERT INTO quarantine (received_us, topic, payload, device_id, code,"
                       " code_text, path, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                       " RETURNING id",
    [PS_QUAR_COUNT] = "SELECT count(*) FROM quarantine",
    [PS_DS_LATEST] = "SELECT t_us FROM latest WHERE ds_id = $1",
    [PS_OBS_FIND] = "SELECT id FROM observations WHERE ds_id = $1 AND t_us = $2",
    [PS_OBS_GET] = "SELECT " PG_POINT_COLS ", ds_id FROM observations WHERE id = $1",
    [PS_RANGE_ASC] = "SELECT " PG_POINT_COLS " FROM observations WHERE ds_id = $1"
                     " AND t_us >= $2 AND t_us < $3 ORDER BY t_us LIMIT $4",
    [PS_RANGE_DESC] = "SELECT " PG_POINT_COLS " FROM observations WHERE ds_id = $1"
                      " AND t_us >= $2 AND t_us < $3 ORDER BY t_us DESC LIMIT $4",
    [PS_LATEST] = "SELECT " PG_POINT_COLS ", ds_id FROM latest"
                  " WHERE ds_id = ANY($1::bigint[]) AND t_us IS NOT NULL",
    [PS_AGG_MINUTE] = "SELECT bucket_us, n, total, lo, hi FROM rollup_minute WHERE ds_id = $1"
                      " AND bucket_us >= $2 AND bucket_us < $3 ORDER BY bucket_us LIMIT $4",
    [PS_AGG_HOUR] = "SELECT bucket_us, n, total, lo, hi FROM rollup_hour WHERE ds_id = $1"
                    " AND bucket_us >= $2 AND bucket_us < $3 ORDER BY bucket_us LIMIT $4",
    [PS_AGG_DAY] = "SELECT bucket_us, n, total, lo, hi FROM rollup_day WHERE ds_id = $1"
                   " AND bucket_us >= $2 AND bucket_us < $3 ORDER BY bucket_us LIMIT $4",
    [PS_ID_BLOCK] = "SELECT nextval('obs_id_seq')",
    /* A transaction's rows in one statement: the rows another writer stored first are
     * absorbed by ON CONFLICT and, since the rollups and latest are fed from RETURNING,
     * counted once. */
    [PS_INSERT_ROWS] =
        "WITH r AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],"
        " $5::bigint[], $6::float8[], $7::text[]) AS r(id, ds_id, t_us, t_end_us, rt_us, result,"
        " params)),"
        " ins AS (INSERT INTO observations (ds_id, t_us, id, t_end_us, result_time_us, result,"
        " params, foi_id) SELECT r.ds_id, r.t_us, r.id, r.t_end_us, r.rt_us, r.result, r.params,"
        " l.foi_id FROM r LEFT JOIN latest l ON l.ds_id = r.ds_id ORDER BY r.ds_id, r.t_us"
        " ON CONFLICT DO NOTHING RETURNING ds_id, t_us, id, t_end_us, result_time_us, result),"
        " " PG_ROLLUP_UPSERT("rollup_minute", "60000000") ","
        " " PG_ROLLUP_UPSERT("rollup_hour", "3600000000") ","
        " " PG_ROLLUP_UPSERT("rollup_day", "86400000000") ","
        " lt AS (UPDATE latest SET t_us = n.t_us, t_end_us = n.t_end_us,"
        " result_time_us = n.result_time_us, result = n.result, id = n.id"
        " FROM (SELECT DISTINCT ON (ds_id) * FROM ins ORDER BY ds_id, t_us DESC) n"
        " WHERE latest.ds_id = n.ds_id AND (latest.t_us IS NULL OR latest.t_us < n.t_us))"
        " SELECT count(*) FROM ins",
};

enum tk_rc store_pg__err(struct pg_store *pg, PGresult *res, const char *what)
{
    enum tk_rc rc = TK_EDB;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(pg->conn);
    if (state) {
        if (strcmp(state, "53100") == 0)
            rc = TK_ENOSPC;
        else if (strcmp(state, "53200") == 0)
            rc = TK_ENOMEM;
        else if (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0 ||
                 strcmp(state, "55P03") == 0)
            rc = TK_EBUSY;
        else if (strncmp(state, "08", 2) == 0)
            rc = TK_EIO;
    } else if (PQstatus(pg->conn) != CONNECTION_OK) {
        rc = TK_EIO;
    }
    char text[STORE_ERRMSG_MAX];
    snprintf(text, sizeof text, "%s", msg ? msg : "unknown error");
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    if (res)
        PQclear(res);
    if (pg->in_tx)
        pg->tx_failed = 1; /* PostgreSQL aborted the transaction */
    return store__fail(&pg->base, rc, "%s: %s", what, text);
}

/* Whether a failed statement lost the connection: libpq says so, or the error is not
 * the server's (no SQLSTATE: "server closed the connection unexpectedly" leaves the
 * status OK until the next use), or the server said it is going away (class 57P) or
 * that the connection failed (class 08). */
static int conn_lost(struct pg_store *pg, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return PQstatus(pg->conn) != CONNECTION_OK || !state || strncmp(state, "57P", 3) == 0 ||
           strncmp(state, "08", 2) == 0;
}

/* A statement outside a transaction lost the connection: connect again now, so that the
 * next call works (this one still reports its error). Inside a transaction the caller
 * rolls back first, and the next BEGIN connects again. */
static void reconnect_after(struct pg_store *pg)
{
    if (pg->in_tx || pg->reconnecting)
        return;
    char msg[STORE_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", pg->base.errmsg);
    (void)store_pg__reconnect(pg);
    snprintf(pg->base.errmsg, sizeof pg->base.errmsg, "%s", msg);
}

static enum tk_rc check(struct pg_store *pg, PGresult *res, PGresult **out, const char *what)
{
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        int lost = conn_lost(pg, res);
        enum tk_rc rc = store_pg__err(pg, res, what);
        if (lost)
            reconnect_after(pg);
        return rc;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return TK_OK;
}

enum tk_rc store_pg__run_tagged(struct pg_store *pg, const char *tag, int i, int n,
                                const char *const *vals, PGresult **out, const char *what)
{
    char name[16];
    snprintf(name, sizeof name, "%s%d", tag, i);
    return check(pg, PQexecPrepared(pg->conn, name, n, vals, NULL, NULL, 0), out, what);
}

enum tk_rc store_pg__run(struct pg_store *pg, enum pg_stmt ps, int n, const char *const *vals,
                         PGresult **out, const char *what)
{
    return store_pg__run_tagged(pg, "tk", (int)ps, n, vals, out, what);
}

enum tk_rc store_pg__prepare(struct pg_store *pg, const char *tag, const char *const *sql, int n)
{
    enum tk_rc rc = TK_OK;
    for (int i = 0; i < n && !rc; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s%d", tag, i);
        rc = check(pg, PQprepare(pg->conn, name, sql[i], 0, NULL), NULL, "preparing a statement");
    }
    return rc;
}

enum tk_rc store_pg__query(struct pg_store *pg, const char *sql, int n, const char *const *vals,
                           PGresult **out, const char *what)
{
    return check(pg, PQexecParams(pg->conn, sql, n, NULL, vals, NULL, NULL, 0), out, what);
}

enum tk_rc store_pg__exec(struct pg_store *pg, const char *sql, const char *what)
{
    return check(pg, PQexec(pg->conn, sql), NULL, what);
}

int64_t store_pg__changes(PGresult *res)
{
    return strtoll(PQcmdTuples(res), NULL, 10);
}

const char *store_pg__fmt_i(struct pg_num *n, int64_t v)
{
    snprintf(n->s, sizeof n->s, "%" PRId64, v);
    return n->s;
}

const char *store_pg__fmt_d(struct pg_num *n, double v)
{
    snprintf(n->s, sizeof n->s, "%.17g", v);
    return n->s;
}

/* ---- a growing text buffer (array literals) ---------------------------------------- */

static void text_reserve(struct pg_text *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + more + 1)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = ncap;
}

void store_pg__text_put(struct pg_text *b, const char *s, size_t n)
{
    text_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void store_pg__text_int(struct pg_text *b, int64_t v, int null)
{
    char s[32];
    int n = null ? snprintf(s, sizeof s, "NULL") : snprintf(s, sizeof s, "%" PRId64, v);
    store_pg__text_put(b, s, (size_t)n);
}

void store_pg__text_quoted(struct pg_text *b, const char *s)
{
    if (!s) {
        store_pg__text_put(b, "NULL", 4);
        return;
    }
    store_pg__text_put(b, "\"", 1);
    for (const char *p = s; *p;) {
        size_t k = strcspn(p, "\"\\");
        store_pg__text_put(b, p, k);
        p += k;
        if (*p) {
            char esc[2] = {'\\', *p};
            store_pg__text_put(b, esc, 2);
            p++;
        }
    }
    store_pg__text_put(b, "\"", 1);
}

/* ---- results ------------------------------------------------------------------------ */

int64_t store_pg__int(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

double store_pg__real(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtod(PQgetvalue(res, row, col), NULL);
}

enum tk_rc store_pg__write_enter(struct pg_store *pg, int *nested)
{
    if (pg->readonly)
        return store__fail(&pg->base, TK_EINVAL, "store opened read-only");
    *nested = pg->in_tx;
    if (pg->in_tx)
        return pg->tx_failed ? store__fail(&pg->base, TK_EDB,
                                           "transaction failed earlier; roll it back")
                             : TK_OK;
    return store_pg__begin(&pg->base);
}

enum tk_rc store_pg__write_leave(struct pg_store *pg, int nested, enum tk_rc rc)
{
    if (nested)
        return rc;
    if (rc) {
        store_pg__rollback(&pg->base);
        return rc;
    }
    return store_pg__commit(&pg->base);
}

enum tk_rc store_pg__write_tagged(struct pg_store *pg, const char *tag, int i, int n,
                                  const char *const *vals, PGresult **out, const char *what)
{
    int nested;
    enum tk_rc rc = store_pg__write_enter(pg, &nested);
    if (rc)
        return rc;
    PGresult *res = NULL;
    rc = store_pg__run_tagged(pg, tag, i, n, vals, out ? &res : NULL, what);
    rc = store_pg__write_leave(pg, nested, rc);
    if (rc) {
        PQclear(res);
        return rc;
    }
    if (out)
        *out = res;
    return TK_OK;
}

void store_pg__ds_forget(struct pg_store *pg)
{
    if (pg->dss)
        memset(pg->dss, 0, pg->ds_cap * sizeof *pg->dss);
    pg->ds_count = 0;
}

/* ---- partitions ------------------------------------------------------------------ */

static int64_t part_of(int64_t t)
{
    return t >= 0 ? t / PG_PART_US : -((-t + PG_PART_US - 1) / PG_PART_US);
}

static size_t part_pos(const struct pg_store *pg, int64_t p, int *found)
{
    size_t lo = 0, hi = pg->nparts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pg->parts[mid] < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < pg->nparts && pg->parts[lo] == p;
    return lo;
}

enum tk_rc store_pg__part_ensure(struct pg_store *pg, int64_t t)
{
    int64_t p = part_of(t);
    int found;
    size_t at = part_pos(pg, p, &found);
    if (found)
        return TK_OK;
    char name[40], sql[256];
    snprintf(name, sizeof name, "obs_p%" PRId64, p);
    const char *vals[1] = {name};
    PGresult *res = NULL;
    enum tk_rc rc = store_pg__query(pg, "SELECT to_regclass($1) IS NOT NULL", 1, vals, &res,
                                    "looking for a partition");
    if (rc)
        return rc;
    int exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!exists) {
        int nested;
        rc = store_pg__write_enter(pg, &nested);
        if (rc)
            return rc;
        snprintf(sql, sizeof sql,
                 "CREATE TABLE IF NOT EXISTS %s PARTITION OF observations"
                 " FOR VALUES FROM (%" PRId64 ") TO (%" PRId64 ")",
                 name, p * PG_PART_US, (p + 1) * PG_PART_US);
        rc = store_pg__exec(pg, "SELECT pg_advisory_xact_lock(" PG_LOCK_PARTITION ")",
                            "locking for a new partition");
        if (!rc)
            rc = store_pg__exec(pg, "SET LOCAL client_min_messages = warning", "quieting");
        if (!rc)
            rc = store_pg__exec(pg, sql, "creating a partition");
        rc = store_pg__write_leave(pg, nested, rc);
        if (rc)
            return rc;
        /* inside a caller's transaction the partition exists once that commits; a
         * rollback forgets the whole list (store_pg__rollback) */
    }
    if (pg->nparts == pg->parts_cap) {
        size_t ncap = pg->parts_cap ? pg->parts_cap * 2 : 64;
        int64_t *np = realloc(pg->parts, ncap * sizeof *np);
        if (!np)
            return store__fail(&pg->base, TK_ENOMEM, "out of memory");
        pg->parts = np;
        pg->parts_cap = ncap;
    }
    memmove(pg->parts + at + 1, pg->parts + at, (pg->nparts - at) * sizeof *pg->parts);
    pg->parts[at] = p;
    pg->nparts++;
    return TK_OK;
}

/* ---- open / close ------------------------------------------------------------------ */

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

enum tk_rc store_pg__session(struct pg_store *pg)
{
    PQsetNoticeProcessor(pg->conn, quiet_notices, NULL);
    char set[160];
    snprintf(set, sizeof set, "SET lock_timeout = %" PRId64 "; SET client_min_messages = warning",
             pg->lock_ms);
    enum tk_rc rc = store_pg__exec(pg, set, "configuring the session");
    if (!rc)
        rc = store_pg__migrate(pg);
    if (!rc && pg->readonly)
        rc = store_pg__exec(pg, "SET default_transaction_read_only = on",
                            "configuring a read-only session");
    if (!rc)
        rc = store_pg__prepare(pg, "tk", pg_sql, PS_N);
    if (!rc)
        rc = store_pg__access_prepare(pg);
    if (!rc)
        rc = store_pg__alert_prepare(pg);
    return rc;
}

enum tk_rc store_pg__reconnect(struct pg_store *pg)
{
    pg->reconnecting = 1;
    PQreset(pg->conn);
    store_pg__ds_forget(pg);
    pg->nparts = 0;
    store_pg__sta_forget(pg);
    enum tk_rc rc = PQstatus(pg->conn) == CONNECTION_OK
                        ? store_pg__session(pg)
                        : store__fail(&pg->base, TK_EIO, "connecting to PostgreSQL again: %s",
                                      PQerrorMessage(pg->conn));
    if (!rc)
        pg->reconnects++;
    pg->reconnecting = 0;
    return rc;
}

/* BEGIN (sql) of a write or a read transaction. A connection found lost is replaced
 * first; one that turns out lost at the BEGIN itself (the server restarted while this
 * connection was idle) is replaced and the BEGIN sent once more. */
enum tk_rc store_pg__begin_sql(struct pg_store *pg, const char *sql, const char *what)
{
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        enum tk_rc rc = store_pg__reconnect(pg);
        if (rc)
            return rc;
    }
    uint64_t before = pg->reconnects;
    enum tk_rc rc = store_pg__exec(pg, sql, what);
    if (rc && pg->reconnects != before)
        rc = store_pg__exec(pg, sql, what);
    return rc;
}

static void pg_close(struct store *st)
{
    struct pg_store *pg = pg_of(st);
    if (pg->in_tx)
        store_pg__rollback(st);
    store_pg__drop_rows(pg);
    store_pg__sta_forget(pg);
    free(pg->pend);
    free(pg->dss);
    free(pg->parts);
    if (pg->conn)
        PQfinish(pg->conn);
    free(pg);
}

static enum tk_rc pg_open(const char *path, const struct store_options *opt, struct store **out)
{
    struct pg_store *pg = calloc(1, sizeof *pg);
    if (!pg)
        return TK_ENOMEM;
    pg->base.ops = &store_pg__ops;
    pg->readonly = opt && opt->readonly;
    /* the scheme was removed by store_open; libpq wants the whole URI back */
    size_t n = strlen(path);
    char *uri = malloc(n + 16);
    if (!uri) {
        free(pg);
        return TK_ENOMEM;
    }
    snprintf(uri, n + 16, "postgresql:%s", path);
    pg->conn = PQconnectdb(uri);
    free(uri);
    enum tk_rc rc = TK_OK;
    if (!pg->conn) {
        rc = TK_ENOMEM;
    } else if (PQstatus(pg->conn) != CONNECTION_OK) {
        rc = store__fail(&pg->base, TK_EIO, "connecting to PostgreSQL: %s",
                         PQerrorMessage(pg->conn));
    } else {
        pg->lock_ms = opt && opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 5000;
        rc = store_pg__session(pg);
    }
    if (!rc && !pg->readonly)
        rc = store_pg__maintain(&pg->base, 0); /* the partitions around now */
    if (rc) {
        /* keep the message for the caller: print it, since *out stays NULL */
        fprintf(stderr, "store: %s\n", pg->base.errmsg);
        pg_close(&pg->base);
        return rc;
    }
    *out = &pg->base;
    return TK_OK;
}

static int pg_schema_version(struct store *st)
{
    return pg_of(st)->version;
}

const struct store_ops store_pg__ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .schema_version = pg_schema_version,
    .device_add = store_pg__device_add,
    .device_get = store_pg__device_get,
    .device_remove = store_pg__device_remove,
    .device_list = store_pg__device_list,
    .begin = store_pg__begin,
    .commit = store_pg__commit,
    .rollback = store_pg__rollback,
    .obs_add = store_pg__obs_add,
    .obs_get = store_pg__obs_get,
    .seq_load = store_pg__seq_load,
    .seq_save = store_pg__seq_save,
    .quarantine_add = store_pg__quarantine_add,
    .quarantine_count = store_pg__quarantine_count,
    .range = store_pg__range,
    .latest = store_pg__latest,
    .aggregate = store_pg__aggregate,
    .maintain = store_pg__maintain,
    .retention = store_pg__retention,
    .apikey_add = store_pg__apikey_add,
    .apikey_find = store_pg__apikey_find,
    .apikey_revoke = store_pg__apikey_revoke,
    .apikey_list = store_pg__apikey_list,
    .ds_quantity = store_pg__ds_quantity,
    .device_ids = store_pg__device_ids,
    .quarantine_list = store_pg__quarantine_list,
    .counters_put = store_pg__counters_put,
    .counters_get = store_pg__counters_get,
    .alert_config_get = store_pg__alert_config_get,
    .alert_config_put = store_pg__alert_config_put,
    .alert_config_stamp = store_pg__alert_config_stamp,
    .alert_add = store_pg__alert_add,
    .alert_update = store_pg__alert_update,
    .alert_get = store_pg__alert_get,
    .alert_list = store_pg__alert_list,
    .alert_device_get = store_pg__alert_device_get,
    .alert_device_put = store_pg__alert_device_put,
    .device_status_put = store_pg__device_status_put,
    .device_status_get = store_pg__device_status_get,
};
