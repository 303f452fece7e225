/* PostgreSQL backend: reads (by id, ranges, latest values, aggregates from the rollups),
 * housekeeping (partitions ahead of the clock) and retention. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "tk_time.h"

/* Reads inside a transaction see its rows. */
static enum tk_rc read_enter(struct pg_store *pg)
{
    if (pg->in_tx && pg->tx_failed)
        return store__fail(&pg->base, TK_EDB, "transaction failed earlier; roll it back");
    return pg->in_tx ? store_pg__flush_rows(pg) : TK_OK;
}

static void point_of(PGresult *res, int row, struct store_point *p)
{
    p->id = store_pg__int(res, row, 0);
    p->t_us = store_pg__int(res, row, 1);
    p->t_end_us = store_pg__int(res, row, 2);
    p->result_time_us = store_pg__int(res, row, 3);
    p->result = store_pg__real(res, row, 4);
}

enum tk_rc store_pg__obs_get(struct store *st, int64_t id, struct store_point *out,
                             int64_t *ds_id)
{
    struct pg_store *pg = pg_of(st);
    struct pg_num a;
    const char *v[1] = {store_pg__fmt_i(&a, id)};
    PGresult *res = NULL;
    enum tk_rc rc = read_enter(pg);
    if (!rc)
        rc = store_pg__run(pg, PS_OBS_GET, 1, v, &res, "reading an observation");
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return store__fail(st, TK_ENOTFOUND, "no observation %" PRId64, id);
    }
    point_of(res, 0, out);
    *ds_id = store_pg__int(res, 0, 5);
    PQclear(res);
    return TK_OK;
}

enum tk_rc store_pg__range(struct store *st, int64_t ds_id, int64_t from_us, int64_t to_us,
                           int desc, struct store_point *out, size_t limit, size_t *n)
{
    struct pg_store *pg = pg_of(st);
    struct pg_num a, b, c, d;
    const char *v[4] = {store_pg__fmt_i(&a, ds_id), store_pg__fmt_i(&b, from_us), store_pg__fmt_i(&c, to_us),
                        store_pg__fmt_i(&d, limit > INT64_MAX ? INT64_MAX : (int64_t)limit)};
    PGresult *res = NULL;
    enum tk_rc rc = read_enter(pg);
    if (!rc)
        rc = store_pg__run(pg, desc ? PS_RANGE_DESC : PS_RANGE_ASC, 4, v, &res,
                           "reading observations");
    if (rc)
        return rc;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && (size_t)i < limit; i++)
        point_of(res, i, &out[i]);
    *n = (size_t)rows < limit ? (size_t)rows : limit;
    PQclear(res);
    return TK_OK;
}

enum tk_rc store_pg__latest(struct store *st, const int64_t *ds_ids, size_t n,
                            struct store_point *out, int *found)
{
    struct pg_store *pg = pg_of(st);
    enum tk_rc rc = read_enter(pg);
    if (rc)
        return rc;
    size_t cap = n * 21 + 3;
    char *arr = malloc(cap), *p = arr;
    if (!arr)
        return store__fail(st, TK_ENOMEM, "out of memory");
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - arr), "%s%" PRId64, i ? "," : "", ds_ids[i]);
    snprintf(p, cap - (size_t)(p - arr), "}");
    const char *v[1] = {arr};
    PGresult *res = NULL;
    rc = store_pg__run(pg, PS_LATEST, 1, v, &res, "reading latest values");
    free(arr);
    if (rc)
        return rc;
    memset(found, 0, n * sizeof *found);
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        int64_t ds = store_pg__int(res, r, 5);
        for (size_t i = 0; i < n; i++)
            if (ds_ids[i] == ds) {
                point_of(res, r, &out[i]);
                found[i] = 1;
            }
    }
    PQclear(res);
    return TK_OK;
}

enum tk_rc store_pg__aggregate(struct store *st, int64_t ds_id, enum store_interval iv,
                               int64_t from_us, int64_t to_us, struct store_agg *out,
                               size_t limit, size_t *n)
{
    struct pg_store *pg = pg_of(st);
    static const enum pg_stmt ps[] = {[STORE_MINUTE] = PS_AGG_MINUTE,
                                      [STORE_HOUR] = PS_AGG_HOUR,
                                      [STORE_DAY] = PS_AGG_DAY};
    struct pg_num a, b, c, d;
    const char *v[4] = {store_pg__fmt_i(&a, ds_id), store_pg__fmt_i(&b, from_us), store_pg__fmt_i(&c, to_us),
                        store_pg__fmt_i(&d, limit > INT64_MAX ? INT64_MAX : (int64_t)limit)};
    PGresult *res = NULL;
    enum tk_rc rc = read_enter(pg);
    if (!rc)
        rc = store_pg__run(pg, ps[iv], 4, v, &res, "reading aggregates");
    if (rc)
        return rc;
    int rows = PQntuples(res);
    size_t k = 0;
    for (int i = 0; i < rows && k < limit; i++, k++) {
        out[k].bucket_us = store_pg__int(res, i, 0);
        out[k].count = store_pg__int(res, i, 1);
        out[k].sum = store_pg__real(res, i, 2);
        out[k].min = store_pg__real(res, i, 3);
        out[k].max = store_pg__real(res, i, 4);
    }
    *n = k;
    PQclear(res);
    return TK_OK;
}

/* The rollups are kept in the commit itself; what is left is creating the partitions of
 * the coming weeks before readings need them, outside any writer's transaction. */
enum tk_rc store_pg__maintain(struct store *st, int all)
{
    struct pg_store *pg = pg_of(st);
    (void)all;
    if (pg->readonly || pg->in_tx)
        return TK_OK;
    int64_t now = tk_now_utc_us();
    enum tk_rc rc = TK_OK;
    for (int64_t k = -1; k <= PG_PART_AHEAD && !rc; k++)
        rc = store_pg__part_ensure(pg, now + k * PG_PART_US);
    return rc;
}

/* Partitions wholly older than before whose rows are all gone. A partition still holding
 * the latest observation of some datastream stays. Each is locked before it is looked
 * into: a writer that has rows in it not yet committed holds a lock on it, so the look
 * waits for that commit and sees them (checked first and locked after, the DROP would
 * have waited for the same commit and then dropped the rows it made). */
static enum tk_rc drop_empty_partitions(struct pg_store *pg, int64_t before)
{
    struct pg_num a;
    const char *v[1] = {store_pg__fmt_i(&a, before)};
    PGresult *res = NULL;
    enum tk_rc rc = store_pg__query(
        pg,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'observations'::regclass AND c.relname ~ '^obs_p-?[0-9]+$'"
        " AND (substring(c.relname from 6)::bigint + 1) * " PG_PART_US_TEXT " <= $1::bigint",
        1, v, &res, "listing old partitions");
    if (rc)
        return rc;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && !rc; i++) {
        char sql[160];
        PGresult *e = NULL;
        snprintf(sql, sizeof sql, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", PQgetvalue(res, i, 0));
        rc = store_pg__exec(pg, sql, "locking an old partition");
        if (rc)
            break;
        snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 1", PQgetvalue(res, i, 0));
        rc = store_pg__query(pg, sql, 0, NULL, &e, "looking into an old partition");
        if (rc)
            break;
        int empty = PQntuples(e) == 0;
        PQclear(e);
        if (!empty)
            continue;
        snprintf(sql, sizeof sql, "DROP TABLE %s", PQgetvalue(res, i, 0));
        rc = store_pg__exec(pg, sql, "dropping an old partition");
    }
    PQclear(res);
    pg->nparts = 0; /* a dropped partition is no longer known to exist */
    return rc;
}

enum tk_rc store_pg__retention(struct store *st, int64_t obs_before_us,
                               int64_t quarantine_before_us, size_t max_rows, size_t *removed)
{
    struct pg_store *pg = pg_of(st);
    int nested;
    enum tk_rc rc = store_pg__write_enter(pg, &nested);
    if (rc)
        return rc;
    if (pg->npend)
        rc = store_pg__flush_rows(pg);
    size_t done = 0;
    struct pg_num a, b;
    if (!rc && obs_before_us > 0) {
        const char *v[2] = {store_pg__fmt_i(&a, obs_before_us), store_pg__fmt_i(&b, (int64_t)max_rows)};
        PGresult *res = NULL;
        /* the rollups already hold these rows (they are kept at commit); the latest
         * observation of every datastream stays, whatever its age */
        rc = store_pg__query(
            pg,
            "WITH d AS (SELECT o.ds_id, o.t_us FROM observations o WHERE o.t_us < $1::bigint"
            " AND NOT EXISTS (SELECT 1 FROM latest l WHERE l.ds_id = o.ds_id AND l.t_us = o.t_us)"
            " LIMIT $2::bigint), x AS (DELETE FROM observations o USING d"
            " WHERE o.ds_id = d.ds_id AND o.t_us = d.t_us RETURNING 1) SELECT count(*) FROM x",
            2, v, &res, "removing old observations");
        if (!rc) {
            done += (size_t)store_pg__int(res, 0, 0);
            PQclear(res);
        }
        if (!rc && done < max_rows)
            rc = drop_empty_partitions(pg, obs_before_us);
    }
    if (!rc && quarantine_before_us > 0 && done < max_rows) {
        const char *v[2] = {store_pg__fmt_i(&a, quarantine_before_us), store_pg__fmt_i(&b, (int64_t)(max_rows - done))};
        PGresult *res = NULL;
        rc = store_pg__query(pg,
                             "WITH x AS (DELETE FROM quarantine WHERE id IN (SELECT id FROM"
                             " quarantine WHERE received_us < $1::bigint ORDER BY received_us"
                             " LIMIT $2::bigint) RETURNING 1) SELECT count(*) FROM x",
                             2, v, &res, "removing old quarantined messages");
        if (!rc) {
            done += (size_t)store_pg__int(res, 0, 0);
            PQclear(res);
        }
    }
    rc = store_pg__write_leave(pg, nested, rc);
    if (!rc)
        *removed = done;
    return rc;
}
