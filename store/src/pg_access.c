/* PostgreSQL backend: what access control and the operator view read, as sqlite_access.c
 * and sqlite_state.c do for SQLite. The api_keys rows (only a key's prefix and SHA-256,
 * never the key: apikey.c); a lookup outside a transaction runs in autocommit, so a
 * read-only API session sees the latest committed revocation on every request. The
 * quantity a Datastream measures, pages of device ids, pages of the quarantine and the
 * ingest's counters.
 *
 * Walks that call back (keys, quarantine) read a bounded page per statement and call
 * back from the page's result, which no longer needs the connection: the callback may
 * use the store, and memory stays bounded whatever the table holds. Each page is its own
 * snapshot, as SQLite's one-row-per-statement key walk is. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "tk_time.h"

#define PAGE_ROWS 64 /* rows per statement of a walk */

enum {
    KEY_INSERT,
    KEY_FIND,
    KEY_REVOKE,
    KEY_LIST,
    KEY_DS_QUANTITY,
    KEY_DEVICE_PAGE,
    KEY_QUAR_LIST,
    KEY_QUAR_LIST_DEVICE,
    KEY_COUNTER_PUT,
    KEY_COUNTER_GET,
    KEY_N
};

#define KEY_COLS                                                                                   \
    "id, prefix, owner, scopes, rate_per_min, created_us, revoked_us, encode(hash, 'hex')"
#define QUAR_COLS "id, received_us, topic, payload, device_id, code, code_text, path, reason"

static const char *const key_sql[KEY_N] = {
    [KEY_INSERT] = "INSERT INTO api_keys (prefix, hash, owner, scopes, rate_per_min, created_us)"
                   " VALUES ($1, decode($2, 'hex'), $3, $4, $5, $6) RETURNING id",
    [KEY_FIND] = "SELECT " KEY_COLS " FROM api_keys WHERE prefix = $1 ORDER BY id LIMIT $2",
    /* revoking twice keeps the first time */
    [KEY_REVOKE] = "UPDATE api_keys SET revoked_us = coalesce(revoked_us, $2) WHERE id = $1",
    [KEY_LIST] = "SELECT " KEY_COLS " FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2",
    [KEY_DS_QUANTITY] = "SELECT quantity FROM datastreams WHERE id = $1",
    [KEY_DEVICE_PAGE] = "SELECT device_id FROM things WHERE device_id > $1 ORDER BY device_id"
                        " LIMIT $2",
    [KEY_QUAR_LIST] = "SELECT " QUAR_COLS " FROM quarantine WHERE received_us >= $1"
                      " AND received_us < $2 AND id < $3 ORDER BY id DESC LIMIT $4",
    [KEY_QUAR_LIST_DEVICE] = "SELECT " QUAR_COLS " FROM quarantine WHERE device_id = $1"
                             " AND received_us >= $2 AND received_us < $3 AND id < $4"
                             " ORDER BY id DESC LIMIT $5",
    /* one statement for all; a name given twice keeps its last value (INSERT OR REPLACE) */
    [KEY_COUNTER_PUT] =
        "INSERT INTO ingest_counters (name, value, updated_us)"
        " SELECT DISTINCT ON (name) name, value, updated_us FROM unnest($1::text[],"
        " $2::bigint[], $3::bigint[]) WITH ORDINALITY AS c(name, value, updated_us, i)"
        " ORDER BY name, i DESC ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
        " updated_us = excluded.updated_us",
    /* byte order, as SQLite sorts */
    [KEY_COUNTER_GET] = "SELECT name, value, updated_us FROM ingest_counters"
                        " ORDER BY name COLLATE \"C\" LIMIT $1",
};

enum tk_rc store_pg__access_prepare(struct pg_store *pg)
{
    return store_pg__prepare(pg, "ak", key_sql, KEY_N);
}

static enum tk_rc run(struct pg_store *pg, int i, int n, const char *const *vals, PGresult **out,
                      const char *what)
{
    return store_pg__run_tagged(pg, "ak", i, n, vals, out, what);
}

static int64_t clamp(size_t v)
{
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* ---- API keys ---------------------------------------------------------------------- */

enum tk_rc store_pg__apikey_add(struct store *st, struct store_apikey *k,
                                const unsigned char hash[STORE_APIKEY_HASH_LEN])
{
    struct pg_store *pg = pg_of(st);
    char scopes[64], hex[2 * STORE_APIKEY_HASH_LEN + 1];
    enum tk_rc rc = store_apikey_scopes_format(k->scopes, scopes, sizeof scopes);
    if (rc)
        return store__fail(st, rc, "bad scopes");
    for (size_t i = 0; i < STORE_APIKEY_HASH_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    k->created_us = tk_now_utc_us();
    struct pg_num rate, created;
    const char *v[6] = {k->prefix,
                        hex,
                        k->owner,
                        scopes,
                        store_pg__fmt_i(&rate, k->rate_per_min),
                        store_pg__fmt_i(&created, k->created_us)};
    PGresult *res = NULL;
    rc = store_pg__write_tagged(pg, "ak", KEY_INSERT, 6, v, &res, "adding an API key");
    if (!rc) {
        k->id = store_pg__int(res, 0, 0);
        PQclear(res);
    }
    return rc;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Row r of KEY_FIND / KEY_LIST into k (and its hash when hash is not NULL); TK_EDB for a
 * damaged row. */
static enum tk_rc read_key(struct pg_store *pg, PGresult *res, int r, struct store_apikey *k,
                           unsigned char *hash)
{
    memset(k, 0, sizeof *k);
    k->id = store_pg__int(res, r, 0);
    snprintf(k->prefix, sizeof k->prefix, "%s", PQgetvalue(res, r, 1));
    snprintf(k->owner, sizeof k->owner, "%s", PQgetvalue(res, r, 2));
    k->rate_per_min = store_pg__int(res, r, 4);
    k->created_us = store_pg__int(res, r, 5);
    k->revoked_us = store_pg__int(res, r, 6);
    if (hash) {
        const char *h = PQgetvalue(res, r, 7);
        if (strlen(h) != 2 * STORE_APIKEY_HASH_LEN)
            return store__fail(&pg->base, TK_EDB, "api key %" PRId64 ": damaged hash", k->id);
        for (size_t i = 0; i < STORE_APIKEY_HASH_LEN; i++) {
            int hi = hex_digit(h[2 * i]), lo = hex_digit(h[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return store__fail(&pg->base, TK_EDB, "api key %" PRId64 ": damaged hash", k->id);
            hash[i] = (unsigned char)(hi << 4 | lo);
        }
    }
    if (store_apikey_scopes_parse(PQgetvalue(res, r, 3), &k->scopes, NULL))
        return store__fail(&pg->base, TK_EDB, "api key %" PRId64 ": unknown scopes", k->id);
    return TK_OK;
}

enum tk_rc store_pg__apikey_find(struct store *st, const char *prefix, struct store_apikey *rows,
                                 unsigned char (*hashes)[STORE_APIKEY_HASH_LEN], size_t max,
                                 size_t *n)
{
    struct pg_store *pg = pg_of(st);
    struct pg_num lim;
    const char *v[2] = {prefix, store_pg__fmt_i(&lim, clamp(max))};
    PGresult *res = NULL;
    *n = 0;
    enum tk_rc rc = run(pg, KEY_FIND, 2, v, &res, "looking up an API key");
    if (rc)
        return rc;
    int rows_n = PQntuples(res);
    for (int r = 0; !rc && r < rows_n && *n < max; r++) {
        rc = read_key(pg, res, r, &rows[*n], hashes[*n]);
        if (!rc)
            (*n)++;
    }
    PQclear(res);
    return rc;
}

enum tk_rc store_pg__apikey_revoke(struct store *st, int64_t id)
{
    struct pg_num a, b;
    const char *v[2] = {store_pg__fmt_i(&a, id), store_pg__fmt_i(&b, tk_now_utc_us())};
    PGresult *res = NULL;
    enum tk_rc rc =
        store_pg__write_tagged(pg_of(st), "ak", KEY_REVOKE, 2, v, &res, "revoking an API key");
    if (!rc) {
        if (store_pg__changes(res) == 0)
            rc = store__fail(st, TK_ENOTFOUND, "no API key %" PRId64, id);
        PQclear(res);
    }
    return rc;
}

enum tk_rc store_pg__apikey_list(struct store *st, store_apikey_cb cb, void *ud)
{
    struct pg_store *pg = pg_of(st);
    int64_t after = 0;
    for (;;) {
        struct pg_num a, lim;
        const char *v[2] = {store_pg__fmt_i(&a, after), store_pg__fmt_i(&lim, PAGE_ROWS)};
        PGresult *res = NULL;
        enum tk_rc rc = run(pg, KEY_LIST, 2, v, &res, "listing API keys");
        if (rc)
            return rc;
        int rows = PQntuples(res), r;
        int ret = 0;
        for (r = 0; !rc && !ret && r < rows; r++) {
            struct store_apikey k;
            rc = read_key(pg, res, r, &k, NULL);
            if (!rc) {
                after = k.id;
                ret = cb(&k, ud);
            }
        }
        PQclear(res);
        if (rc)
            return rc;
        if (ret)
            return (enum tk_rc)ret;
        if (rows < PAGE_ROWS)
            return TK_OK;
    }
}

/* ---- Datastreams and devices -------------------------------------------------------- */

enum tk_rc store_pg__ds_quantity(struct store *st, int64_t ds_id, int *quantity)
{
    struct pg_store *pg = pg_of(st);
    struct pg_num a;
    const char *v[1] = {store_pg__fmt_i(&a, ds_id)};
    PGresult *res = NULL;
    enum tk_rc rc = run(pg, KEY_DS_QUANTITY, 1, v, &res, "reading a Datastream's quantity");
    if (rc)
        return rc;
    if (PQntuples(res) == 0)
        rc = store__fail(st, TK_ENOTFOUND, "no Datastream %" PRId64, ds_id);
    else
        *quantity = PQgetisnull(res, 0, 0) ? -1 : (int)store_pg__int(res, 0, 0);
    PQclear(res);
    return rc;
}

enum tk_rc store_pg__device_ids(struct store *st, const char *after, char (*ids)[TK_ID_MAX + 1],
                                size_t max, size_t *n)
{
    struct pg_store *pg = pg_of(st);
    struct pg_num lim;
    const char *v[2] = {after, store_pg__fmt_i(&lim, clamp(max))};
    PGresult *res = NULL;
    enum tk_rc rc = run(pg, KEY_DEVICE_PAGE, 2, v, &res, "listing device ids");
    if (rc)
        return rc;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && *n < max; r++)
        snprintf(ids[(*n)++], sizeof ids[0], "%s", PQgetvalue(res, r, 0));
    PQclear(res);
    return TK_OK;
}

/* ---- the operator view -------------------------------------------------------------- */

static const char *text_or_null(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

enum tk_rc store_pg__quarantine_list(struct store *st, const struct store_quarantine_filter *f,
                                     store_quarantine_cb cb, void *ud)
{
    struct pg_store *pg = pg_of(st);
    int any_time = f->from_us == 0 && f->to_us == 0;
    int64_t before = f->before_id > 0 ? f->before_id : INT64_MAX;
    size_t left = f->limit;
    while (left > 0) {
        struct pg_num from, to, bid, lim;
        size_t want = left < PAGE_ROWS ? left : PAGE_ROWS;
        const char *v[5] = {f->device_id, store_pg__fmt_i(&from, any_time ? INT64_MIN : f->from_us),
                            store_pg__fmt_i(&to, any_time ? INT64_MAX : f->to_us),
                            store_pg__fmt_i(&bid, before), store_pg__fmt_i(&lim, (int64_t)want)};
        PGresult *res = NULL;
        enum tk_rc rc = f->device_id
                            ? run(pg, KEY_QUAR_LIST_DEVICE, 5, v, &res, "listing the quarantine")
                            : run(pg, KEY_QUAR_LIST, 4, v + 1, &res, "listing the quarantine");
        if (rc)
            return rc;
        int rows = PQntuples(res), ret = 0;
        for (int r = 0; !rc && !ret && r < rows; r++) {
            size_t len = 0;
            unsigned char *payload =
                PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 3), &len);
            if (!payload) {
                rc = store__fail(st, TK_ENOMEM, "out of memory");
                break;
            }
            struct store_quarantine q = {0};
            q.id = store_pg__int(res, r, 0);
            q.received_us = store_pg__int(res, r, 1);
            q.topic = text_or_null(res, r, 2);
            q.payload = payload;
            q.payload_len = len;
            q.device_id = text_or_null(res, r, 4);
            q.code = (enum tk_rc)store_pg__int(res, r, 5);
            q.path = text_or_null(res, r, 7);
            q.reason = text_or_null(res, r, 8);
            if (!q.reason)
                q.reason = text_or_null(res, r, 6);
            before = q.id;
            ret = cb(&q, ud);
            PQfreemem(payload);
        }
        PQclear(res);
        if (rc)
            return rc;
        if (ret)
            return (enum tk_rc)ret;
        if ((size_t)rows < want)
            break;
        left -= want;
    }
    return TK_OK;
}

enum tk_rc store_pg__counters_put(struct store *st, const struct store_counter *c, size_t n)
{
    struct pg_store *pg = pg_of(st);
    struct pg_text a[3] = {{0}};
    for (int k = 0; k < 3; k++)
        store_pg__text_put(&a[k], "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            for (int k = 0; k < 3; k++)
                store_pg__text_put(&a[k], ",", 1);
        store_pg__text_quoted(&a[0], c[i].name);
        store_pg__text_int(&a[1], c[i].value, 0);
        store_pg__text_int(&a[2], c[i].updated_us, 0);
    }
    int oom = 0;
    const char *v[3];
    for (int k = 0; k < 3; k++) {
        store_pg__text_put(&a[k], "}", 1);
        oom |= a[k].oom;
        v[k] = a[k].p;
    }
    enum tk_rc rc = oom ? store__fail(st, TK_ENOMEM, "out of memory")
                        : store_pg__write_tagged(pg, "ak", KEY_COUNTER_PUT, 3, v, NULL,
                                                 "writing the ingest counters");
    for (int k = 0; k < 3; k++)
        free(a[k].p);
    return rc;
}

enum tk_rc store_pg__counters_get(struct store *st, struct store_counter *out, size_t max,
                                  size_t *n)
{
    struct pg_store *pg = pg_of(st);
    struct pg_num lim;
    const char *v[1] = {store_pg__fmt_i(&lim, clamp(max))};
    PGresult *res = NULL;
    enum tk_rc rc = run(pg, KEY_COUNTER_GET, 1, v, &res, "reading the ingest counters");
    if (rc)
        return rc;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && *n < max; r++) {
        struct store_counter *c = &out[(*n)++];
        snprintf(c->name, sizeof c->name, "%s", PQgetvalue(res, r, 0));
        c->value = store_pg__int(res, r, 1);
        c->updated_us = store_pg__int(res, r, 2);
    }
    PQclear(res);
    return TK_OK;
}
