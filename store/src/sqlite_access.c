/* SQLite backend: what access control reads. The api_keys rows (schema version 6): the
 * key itself never reaches this file, only its prefix and SHA-256 (apikey.c). A lookup
 * reads the rows sharing a prefix; on a read-only API connection it runs in autocommit,
 * so it sees the latest committed revocation on every request. And the quantity a
 * Datastream measures, which the privacy rule depends on. */
#include <stdio.h>
#include <string.h>

#include "sqlite_int.h"
#include "tk_time.h"

static const char *const key_sql[KEY_N] = {
    [KEY_INSERT] = "INSERT INTO api_keys (prefix, hash, owner, scopes, rate_per_min, created_us)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [KEY_FIND] = "SELECT id, prefix, owner, scopes, rate_per_min, created_us, revoked_us, hash"
                 " FROM api_keys WHERE prefix = ?1 ORDER BY id LIMIT ?2",
    [KEY_REVOKE] = "UPDATE api_keys SET revoked_us = coalesce(revoked_us, ?2) WHERE id = ?1",
    [KEY_GET] = "SELECT id FROM api_keys WHERE id = ?1",
    [KEY_DS_QUANTITY] = "SELECT quantity FROM datastreams WHERE id = ?1",
    [KEY_LIST] = "SELECT id, prefix, owner, scopes, rate_per_min, created_us, revoked_us, hash"
                 " FROM api_keys WHERE id > ?1 ORDER BY id LIMIT 1",
};

enum tk_rc store_sqlite__apikey_prepare(struct sq_store *sq)
{
    return store_sqlite__prepare(sq, sq->key, key_sql, KEY_N);
}

enum tk_rc store_sqlite__apikey_add(struct store *st, struct store_apikey *k,
                                    const unsigned char hash[STORE_APIKEY_HASH_LEN])
{
    struct sq_store *sq = sq_of(st);
    char scopes[64];
    enum tk_rc rc = store_apikey_scopes_format(k->scopes, scopes, sizeof scopes);
    if (rc)
        return store__fail(st, rc, "bad scopes");
    int nested;
    rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    k->created_us = tk_now_utc_us();
    sqlite3_stmt *s = sq->key[KEY_INSERT];
    sqlite3_bind_text(s, 1, k->prefix, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, hash, STORE_APIKEY_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, k->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, scopes, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, k->rate_per_min);
    sqlite3_bind_int64(s, 6, k->created_us);
    rc = store_sqlite__exec(sq, s, "adding an API key");
    if (!rc)
        k->id = sqlite3_last_insert_rowid(sq->db);
    return store_sqlite__write_leave(sq, nested, rc);
}

/* A row of KEY_FIND / KEY_LIST into k (and its hash); TK_EDB for a damaged row. */
static enum tk_rc read_row(struct sq_store *sq, sqlite3_stmt *s, struct store_apikey *k,
                           unsigned char *hash)
{
    memset(k, 0, sizeof *k);
    k->id = sqlite3_column_int64(s, 0);
    const char *prefix = (const char *)sqlite3_column_text(s, 1);
    const char *owner = (const char *)sqlite3_column_text(s, 2);
    const char *scopes = (const char *)sqlite3_column_text(s, 3);
    snprintf(k->prefix, sizeof k->prefix, "%s", prefix ? prefix : "");
    snprintf(k->owner, sizeof k->owner, "%s", owner ? owner : "");
    k->rate_per_min = sqlite3_column_int64(s, 4);
    k->created_us = sqlite3_column_int64(s, 5);
    k->revoked_us = sqlite3_column_int64(s, 6);
    const void *h = sqlite3_column_blob(s, 7);
    int hl = sqlite3_column_bytes(s, 7);
    if (hash) {
        if (!h || hl != STORE_APIKEY_HASH_LEN)
            return store__fail(&sq->base, TK_EDB, "api key %lld: damaged hash", (long long)k->id);
        memcpy(hash, h, STORE_APIKEY_HASH_LEN);
    }
    if (store_apikey_scopes_parse(scopes, &k->scopes, NULL))
        return store__fail(&sq->base, TK_EDB, "api key %lld: unknown scopes", (long long)k->id);
    return TK_OK;
}

enum tk_rc store_sqlite__apikey_find(struct store *st, const char *prefix,
                                     struct store_apikey *rows,
                                     unsigned char (*hashes)[STORE_APIKEY_HASH_LEN], size_t max,
                                     size_t *n)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->key[KEY_FIND];
    enum tk_rc rc = TK_OK;
    int src;
    *n = 0;
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
    while (!rc && (src = sqlite3_step(s)) == SQLITE_ROW && *n < max) {
        rc = read_row(sq, s, &rows[*n], hashes[*n]);
        if (!rc)
            (*n)++;
    }
    if (!rc && src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_sqlite__err(sq, src, "looking up an API key");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

enum tk_rc store_sqlite__apikey_revoke(struct store *st, int64_t id)
{
    struct sq_store *sq = sq_of(st);
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    sqlite3_stmt *g = sq->key[KEY_GET];
    sqlite3_bind_int64(g, 1, id);
    int src = sqlite3_step(g);
    sqlite3_reset(g);
    if (src == SQLITE_DONE)
        rc = store__fail(st, TK_ENOTFOUND, "no API key %lld", (long long)id);
    else if (src != SQLITE_ROW)
        rc = store_sqlite__err(sq, src, "finding an API key");
    if (!rc) {
        sqlite3_stmt *s = sq->key[KEY_REVOKE];
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, tk_now_utc_us());
        rc = store_sqlite__exec(sq, s, "revoking an API key");
    }
    return store_sqlite__write_leave(sq, nested, rc);
}

enum tk_rc store_sqlite__apikey_list(struct store *st, store_apikey_cb cb, void *ud)
{
    struct sq_store *sq = sq_of(st);
    /* one row per statement run, so cb may call back into the store */
    int64_t after = 0;
    for (;;) {
        sqlite3_stmt *s = sq->key[KEY_LIST];
        sqlite3_bind_int64(s, 1, after);
        int src = sqlite3_step(s);
        struct store_apikey k;
        unsigned char hash[STORE_APIKEY_HASH_LEN];
        enum tk_rc rc = TK_OK;
        if (src == SQLITE_ROW)
            rc = read_row(sq, s, &k, hash);
        else if (src != SQLITE_DONE)
            rc = store_sqlite__err(sq, src, "listing API keys");
        sqlite3_reset(s);
        if (rc || src == SQLITE_DONE)
            return rc;
        after = k.id;
        int r = cb(&k, ud);
        if (r)
            return (enum tk_rc)r;
    }
}

enum tk_rc store_sqlite__ds_quantity(struct store *st, int64_t ds_id, int *quantity)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->key[KEY_DS_QUANTITY];
    sqlite3_bind_int64(s, 1, ds_id);
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW)
        *quantity = sqlite3_column_type(s, 0) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 0);
    else if (src == SQLITE_DONE)
        rc = store__fail(st, TK_ENOTFOUND, "no Datastream %lld", (long long)ds_id);
    else
        rc = store_sqlite__err(sq, src, "reading a Datastream's quantity");
    sqlite3_reset(s);
    return rc;
}
