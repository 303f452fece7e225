/* PostgreSQL backend: transactions, writing observations, delivery state, quarantine.
 *
 * obs_add answers at once whether a row is new (the ingest counts duplicates and
 * publishes new rows), but the rows themselves wait in memory and go to the server at
 * commit as seven arrays in one statement (PS_INSERT_ROWS), which also folds them into
 * the rollups and latest: one round trip per transaction instead of one per row. A row
 * newer than the newest its datastream had is new without asking the server (the fast
 * path, as in SQLite); an older one is looked up among the transaction's rows and then
 * by key on the server. Several writers may share a datastream: what one knows of the
 * newest row may be stale, and the insert absorbs a row another writer stored first. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

/* ---- datastreams known to this writer ---------------------------------------------- */

static size_t ds_hash(int64_t ds, size_t cap)
{
    return (size_t)((uint64_t)ds * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

static struct pg_ds *ds_find(struct pg_store *pg, int64_t ds)
{
    if (!pg->ds_cap)
        return NULL;
    for (size_t i = ds_hash(ds, pg->ds_cap);; i = (i + 1) & (pg->ds_cap - 1)) {
        if (pg->dss[i].ds == ds)
            return &pg->dss[i];
        if (pg->dss[i].ds == 0)
            return NULL;
    }
}

static struct pg_ds *ds_insert(struct pg_store *pg, int64_t ds)
{
    if ((pg->ds_count + 1) * 2 > pg->ds_cap) {
        size_t ncap = pg->ds_cap ? pg->ds_cap * 2 : 1024;
        struct pg_ds *n = calloc(ncap, sizeof *n);
        if (!n)
            return NULL;
        for (size_t i = 0; i < pg->ds_cap; i++) {
            if (!pg->dss[i].ds)
                continue;
            size_t k = ds_hash(pg->dss[i].ds, ncap);
            while (n[k].ds)
                k = (k + 1) & (ncap - 1);
            n[k] = pg->dss[i];
        }
        free(pg->dss);
        pg->dss = n;
        pg->ds_cap = ncap;
    }
    size_t k = ds_hash(ds, pg->ds_cap);
    while (pg->dss[k].ds)
        k = (k + 1) & (pg->ds_cap - 1);
    pg->dss[k] = (struct pg_ds){.ds = ds};
    pg->ds_count++;
    return &pg->dss[k];
}

/* ---- transactions -------------------------------------------------------------------- */

void store_pg__drop_rows(struct pg_store *pg)
{
    store__rows_clear(pg->pend, &pg->npend);
}

enum tk_rc store_pg__begin(struct store *st)
{
    struct pg_store *pg = pg_of(st);
    if (pg->in_tx)
        return store__fail(st, TK_EINVAL, "a transaction is already open");
    if (pg->readonly)
        return store__fail(st, TK_EINVAL, "store opened read-only");
    enum tk_rc rc = store_pg__begin_sql(pg, "BEGIN", "starting a transaction");
    if (rc)
        return rc;
    pg->in_tx = 1;
    pg->tx_failed = 0;
    return TK_OK;
}

void store_pg__rollback(struct store *st)
{
    struct pg_store *pg = pg_of(st);
    store_pg__drop_rows(pg);
    /* what this transaction taught about datastreams and partitions goes with it */
    store_pg__ds_forget(pg);
    pg->nparts = 0;
    if (pg->in_tx)
        PQclear(PQexec(pg->conn, "ROLLBACK"));
    pg->in_tx = 0;
    pg->tx_failed = 0;
}

enum tk_rc store_pg__commit(struct store *st)
{
    struct pg_store *pg = pg_of(st);
    if (!pg->in_tx)
        return store__fail(st, TK_EINVAL, "no transaction is open");
    enum tk_rc rc = pg->tx_failed ? store__fail(st, TK_EDB, "transaction failed earlier")
                                  : store_pg__flush_rows(pg);
    if (rc) {
        store_pg__rollback(st);
        return rc;
    }
    PGresult *res = PQexec(pg->conn, "COMMIT");
    /* COMMIT of a transaction the server had aborted answers ROLLBACK, not an error */
    if (res && PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        PQclear(res);
        rc = store__fail(st, TK_EDB, "the server rolled the transaction back");
    } else {
        rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? (PQclear(res), TK_OK)
                                                           : store_pg__err(pg, res, "committing");
    }
    pg->in_tx = 0;
    if (rc) {
        store_pg__rollback(st);
        return rc;
    }
    return TK_OK;
}

/* ---- observations ---------------------------------------------------------------- */

/* Writes the transaction's rows; *stored (when not NULL) gets how many were new to the
 * server (the others another writer had stored first). */
static enum tk_rc write_rows(struct pg_store *pg, int64_t *stored)
{
    if (stored)
        *stored = 0;
    if (pg->npend == 0)
        return TK_OK;
    struct pg_text a[7] = {{0}};
    for (int k = 0; k < 7; k++)
        store_pg__text_put(&a[k], "{", 1);
    for (size_t i = 0; i < pg->npend; i++) {
        const struct store_row *r = &pg->pend[i];
        if (i)
            for (int k = 0; k < 7; k++)
                store_pg__text_put(&a[k], ",", 1);
        store_pg__text_int(&a[0], r->id, 0);
        store_pg__text_int(&a[1], r->ds, 0);
        store_pg__text_int(&a[2], r->t, 0);
        store_pg__text_int(&a[3], r->t_end, r->t_end == 0);
        store_pg__text_int(&a[4], r->rt, r->rt == 0);
        char d[40];
        int n = snprintf(d, sizeof d, "%.17g", r->result);
        store_pg__text_put(&a[5], d, (size_t)n);
        store_pg__text_quoted(&a[6], r->params);
    }
    int oom = 0;
    const char *vals[7];
    for (int k = 0; k < 7; k++) {
        store_pg__text_put(&a[k], "}", 1);
        oom |= a[k].oom;
        vals[k] = a[k].p;
    }
    PGresult *res = NULL;
    enum tk_rc rc = oom ? store__fail(&pg->base, TK_ENOMEM, "out of memory")
                        : store_pg__run(pg, PS_INSERT_ROWS, 7, vals, &res, "writing observations");
    for (int k = 0; k < 7; k++)
        free(a[k].p);
    store_pg__drop_rows(pg);
    if (rc)
        pg->tx_failed = 1;
    else if (stored)
        *stored = store_pg__int(res, 0, 0);
    PQclear(res);
    return rc;
}

enum tk_rc store_pg__flush_rows(struct pg_store *pg)
{
    return write_rows(pg, NULL);
}

/* The id of the stored row of datastream ds at t_us, in *id; *found 0 when none. */
static enum tk_rc find_row(struct pg_store *pg, int64_t ds, int64_t t_us, int64_t *id, int *found)
{
    struct pg_num a, b;
    const char *v[2] = {store_pg__fmt_i(&a, ds), store_pg__fmt_i(&b, t_us)};
    PGresult *res = NULL;
    enum tk_rc rc = store_pg__run(pg, PS_OBS_FIND, 2, v, &res, "looking for a duplicate");
    if (rc)
        return rc;
    *found = PQntuples(res) > 0;
    if (*found)
        *id = store_pg__int(res, 0, 0);
    PQclear(res);
    return TK_OK;
}

enum tk_rc store_pg__next_id(struct pg_store *pg, int64_t *id)
{
    if (pg->id_next >= pg->id_end) {
        PGresult *res = NULL;
        enum tk_rc rc = store_pg__run(pg, PS_ID_BLOCK, 0, NULL, &res, "taking observation ids");
        if (rc)
            return rc;
        pg->id_next = store_pg__int(res, 0, 0);
        pg->id_end = pg->id_next + PG_ID_BLOCK;
        PQclear(res);
    }
    *id = pg->id_next++;
    return TK_OK;
}

static enum tk_rc obs_add_in_tx(struct pg_store *pg, struct store_obs *o)
{
    struct pg_num a;
    struct pg_ds *e = ds_find(pg, o->ds_id);
    enum tk_rc rc;
    if (!e) {
        const char *v[1] = {store_pg__fmt_i(&a, o->ds_id)};
        PGresult *res = NULL;
        rc = store_pg__run(pg, PS_DS_LATEST, 1, v, &res, "looking a datastream up");
        if (rc)
            return rc;
        if (PQntuples(res) == 0) {
            PQclear(res);
            return store__fail(&pg->base, TK_ENOTFOUND, "no datastream %" PRId64, o->ds_id);
        }
        e = ds_insert(pg, o->ds_id);
        if (!e) {
            PQclear(res);
            return store__fail(&pg->base, TK_ENOMEM, "out of memory");
        }
        e->has_t = !PQgetisnull(res, 0, 0);
        e->t = store_pg__int(res, 0, 0);
        PQclear(res);
    }
    int newest = !e->has_t || o->t_us > e->t;
    if (!newest) {
        for (size_t i = pg->npend; i-- > 0;)
            if (pg->pend[i].ds == o->ds_id && pg->pend[i].t == o->t_us) {
                o->id = pg->pend[i].id;
                return TK_EDUP;
            }
        int found = 0;
        rc = find_row(pg, o->ds_id, o->t_us, &o->id, &found);
        if (rc)
            return rc;
        if (found)
            return TK_EDUP;
    }
    int64_t id;
    rc = store_pg__part_ensure(pg, o->t_us);
    if (!rc)
        rc = store_pg__next_id(pg, &id);
    if (rc)
        return rc;
    rc = store__row_push(&pg->base, &pg->pend, &pg->npend, &pg->pend_cap, o, id);
    if (rc)
        return rc;
    if (newest) {
        e->has_t = 1;
        e->t = o->t_us;
    }
    o->id = id;
    return TK_OK;
}

enum tk_rc store_pg__obs_add(struct store *st, struct store_obs *o)
{
    struct pg_store *pg = pg_of(st);
    if (!isfinite(o->result) || o->ds_id <= 0 || o->t_us < 0 || o->t_end_us < 0 ||
        (o->t_end_us && o->t_end_us < o->t_us) || o->result_time_us < 0)
        return store__fail(st, TK_EINVAL, "invalid observation");
    int nested;
    enum tk_rc rc = store_pg__write_enter(pg, &nested);
    if (rc)
        return rc;
    rc = obs_add_in_tx(pg, o);
    if (!rc && !nested) {
        /* Alone in its own transaction the row is written now, so whether it is new is
         * known exactly: another writer may have stored a row at that time since this one
         * last read the datastream (the newest time known here was stale), and then the
         * insert absorbed this one. (Inside a caller's transaction the rows wait for the
         * commit and that case is only absorbed, not reported.) */
        int64_t stored = 0;
        rc = write_rows(pg, &stored);
        int found = 0;
        if (!rc && stored == 0)
            rc = find_row(pg, o->ds_id, o->t_us, &o->id, &found);
        if (!rc && found)
            rc = TK_EDUP;
    }
    if (rc == TK_EDUP || rc == TK_ENOTFOUND) {
        (void)store_pg__write_leave(pg, nested, TK_OK);
        return rc;
    }
    if (rc && nested)
        pg->tx_failed = 1;
    return store_pg__write_leave(pg, nested, rc);
}

/* ---- delivery state ---------------------------------------------------------------- */

enum tk_rc store_pg__seq_load(struct store *st, const char *device_id,
                              struct store_seq_state *out)
{
    struct pg_store *pg = pg_of(st);
    memset(out, 0, sizeof *out);
    const char *v[1] = {device_id};
    enum tk_rc rc;
    if (pg->in_tx) {
        /* Inside a transaction the row is locked until commit: writers sharing a device
         * take turns on its state (docs/delivery.md). A device never seen gets its row
         * first, so that there is something to lock. */
        if (pg->tx_failed)
            return store__fail(st, TK_EDB, "transaction failed earlier; roll it back");
        rc = store_pg__run(pg, PS_SEQ_LOCK, 1, v, NULL, "creating seq_state");
        if (rc)
            return rc;
    }
    PGresult *res = NULL;
    if (pg->in_tx)
        rc = store_pg__query(pg,
                             "SELECT known, watermark, array_to_string(pending, ','), gap_since_us,"
                             " has_cum, cum_seq, cum_ts_us, cum_in, cum_out FROM seq_state"
                             " WHERE device_id = $1 FOR UPDATE",
                             1, v, &res, "loading seq_state");
    else
        rc = store_pg__run(pg, PS_SEQ_LOAD, 1, v, &res, "loading seq_state");
    if (rc)
        return rc;
    if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        out->known = 1;
        out->watermark = (uint32_t)store_pg__int(res, 0, 1);
        const char *p = PQgetvalue(res, 0, 2);
        char *end = NULL;
        while (*p && out->npending < STORE_PENDING_MAX) {
            out->pending[out->npending++] = (uint32_t)strtoll(p, &end, 10);
            if (end == p || (*end && *end != ','))
                break;
            p = *end ? end + 1 : end;
        }
        if (*p && (!end || *end))
            rc = store__fail(st, TK_EDB, "seq_state of %s: malformed pending seqs", device_id);
        out->gap_since_us = store_pg__int(res, 0, 3);
        out->has_cum = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
        out->cum_seq = (uint32_t)store_pg__int(res, 0, 5);
        out->cum_ts_us = store_pg__int(res, 0, 6);
        out->cum_in = store_pg__int(res, 0, 7);
        out->cum_out = store_pg__int(res, 0, 8);
    }
    PQclear(res);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

enum tk_rc store_pg__seq_save(struct store *st, const char *device_id,
                              const struct store_seq_state *s)
{
    struct pg_store *pg = pg_of(st);
    struct pg_text pend = {0};
    store_pg__text_put(&pend, "{", 1);
    for (int i = 0; i < s->npending; i++) {
        if (i)
            store_pg__text_put(&pend, ",", 1);
        store_pg__text_int(&pend, s->pending[i], 0);
    }
    store_pg__text_put(&pend, "}", 1);
    if (pend.oom) {
        free(pend.p);
        return store__fail(st, TK_ENOMEM, "out of memory");
    }
    char n[7][32];
    snprintf(n[0], sizeof n[0], "%" PRIu32, s->watermark);
    snprintf(n[1], sizeof n[1], "%" PRId64, s->gap_since_us);
    snprintf(n[2], sizeof n[2], "%" PRIu32, s->cum_seq);
    snprintf(n[3], sizeof n[3], "%" PRId64, s->cum_ts_us);
    snprintf(n[4], sizeof n[4], "%" PRId64, s->cum_in);
    snprintf(n[5], sizeof n[5], "%" PRId64, s->cum_out);
    const char *v[10] = {device_id, s->known ? "t" : "f", n[0], pend.p, n[1],
                         s->has_cum ? "t" : "f", n[2], n[3], n[4], n[5]};
    int nested;
    enum tk_rc rc = store_pg__write_enter(pg, &nested);
    if (!rc)
        rc = store_pg__write_leave(pg, nested,
                                   store_pg__run(pg, PS_SEQ_SAVE, 10, v, NULL, "saving seq_state"));
    free(pend.p);
    return rc;
}

/* ---- quarantine ------------------------------------------------------------------------ */

enum tk_rc store_pg__quarantine_add(struct store *st, struct store_quarantine *q)
{
    struct pg_store *pg = pg_of(st);
    char recv[32], code[16];
    snprintf(recv, sizeof recv, "%" PRId64, q->received_us);
    snprintf(code, sizeof code, "%d", (int)q->code);
    const char *v[8] = {recv,    q->topic,   (const char *)q->payload, q->device_id,
                        code,    tk_strerror(q->code), q->path, q->reason};
    int len[8] = {0, 0, (int)q->payload_len, 0, 0, 0, 0, 0};
    int fmt[8] = {0, 0, 1, 0, 0, 0, 0, 0};
    if (!q->payload)
        v[2] = "";
    int nested;
    enum tk_rc rc = store_pg__write_enter(pg, &nested);
    if (rc)
        return rc;
    char name[16];
    snprintf(name, sizeof name, "tk%d", (int)PS_QUAR_INSERT);
    PGresult *res = PQexecPrepared(pg->conn, name, 8, v, len, fmt, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = store_pg__err(pg, res, "quarantining a message");
    } else {
        q->id = store_pg__int(res, 0, 0);
        PQclear(res);
    }
    return store_pg__write_leave(pg, nested, rc);
}

enum tk_rc store_pg__quarantine_count(struct store *st, int64_t *n)
{
    struct pg_store *pg = pg_of(st);
    PGresult *res = NULL;
    enum tk_rc rc = store_pg__run(pg, PS_QUAR_COUNT, 0, NULL, &res, "counting quarantine");
    if (rc)
        return rc;
    *n = store_pg__int(res, 0, 0);
    PQclear(res);
    return TK_OK;
}
