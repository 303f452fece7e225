/* SQLite backend: the connection (open, pragmas, migration, statement preparation,
 * close), error mapping and transaction helpers shared by the other sqlite_*.c files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

static const char *const tx_sql[TX_N] = {
    [TX_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [TX_BEGIN_READ] = "BEGIN",
    [TX_COMMIT] = "COMMIT",
    [TX_ROLLBACK] = "ROLLBACK",
    [TX_SAVEPOINT] = "SAVEPOINT tk_nested",
    [TX_RELEASE] = "RELEASE tk_nested",
    [TX_ROLLBACK_TO] = "ROLLBACK TO tk_nested",
    [TX_COUNTER_GET] = "SELECT next_id, staged FROM obs_counter WHERE k = 0",
    [TX_COUNTER_SET] = "UPDATE obs_counter SET next_id = ?1, staged = ?2 WHERE k = 0",
};

enum tk_rc store_sqlite__err(struct sq_store *sq, int src, const char *what)
{
    enum tk_rc rc;
    switch (src & 0xff) {
    case SQLITE_NOMEM:
        rc = TK_ENOMEM;
        break;
    case SQLITE_FULL:
        rc = TK_ENOSPC;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        rc = TK_EBUSY;
        break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        rc = TK_EIO;
        break;
    default:
        rc = TK_EDB;
        break;
    }
    const char *msg = sq->db ? sqlite3_errmsg(sq->db) : sqlite3_errstr(src);
    return store__fail(&sq->base, rc, "%s: %s", what, msg ? msg : sqlite3_errstr(src));
}

enum tk_rc store_sqlite__exec(struct sq_store *sq, sqlite3_stmt *s, const char *what)
{
    int src = sqlite3_step(s);
    while (src == SQLITE_ROW) /* e.g. RETURNING, or a pragma's answer */
        src = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return src == SQLITE_DONE ? TK_OK : store_sqlite__err(sq, src, what);
}

enum tk_rc store_sqlite__prepare(struct sq_store *sq, sqlite3_stmt **arr, const char *const *sql,
                                 int n)
{
    for (int i = 0; i < n; i++) {
        int src = sqlite3_prepare_v3(sq->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &arr[i], NULL);
        if (src != SQLITE_OK)
            return store_sqlite__err(sq, src, sql[i]);
    }
    return TK_OK;
}

void store_sqlite__finalize(sqlite3_stmt **arr, int n)
{
    for (int i = 0; i < n; i++) {
        sqlite3_finalize(arr[i]);
        arr[i] = NULL;
    }
}

/* ---- transactions ---------------------------------------------------------------- */

static enum tk_rc counter_load(struct sq_store *sq)
{
    sqlite3_stmt *s = sq->tx[TX_COUNTER_GET];
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW) {
        sq->next_id = sqlite3_column_int64(s, 0);
        sq->staged = sqlite3_column_int64(s, 1);
    } else {
        rc =
            store_sqlite__err(sq, src == SQLITE_DONE ? SQLITE_CORRUPT : src, "reading obs_counter");
    }
    sqlite3_reset(s);
    sq->counter_dirty = 0;
    return rc;
}

static enum tk_rc counter_save(struct sq_store *sq)
{
    if (!sq->counter_dirty)
        return TK_OK;
    sqlite3_stmt *s = sq->tx[TX_COUNTER_SET];
    sqlite3_bind_int64(s, 1, sq->next_id);
    sqlite3_bind_int64(s, 2, sq->staged);
    enum tk_rc rc = store_sqlite__exec(sq, s, "writing obs_counter");
    if (!rc)
        sq->counter_dirty = 0;
    return rc;
}

static void rollback_quietly(struct sq_store *sq)
{
    if (!sqlite3_get_autocommit(sq->db)) {
        sqlite3_stmt *s = sq->tx[TX_ROLLBACK];
        (void)sqlite3_step(s);
        sqlite3_reset(s);
        if (!sqlite3_get_autocommit(sq->db)) /* statement could not run (no memory) */
            (void)sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sq->counter_dirty = 0;
    store_sqlite__drop_pending(sq);
}

static enum tk_rc tx_begin(struct sq_store *sq)
{
    if (sq->readonly)
        return store__fail(&sq->base, TK_EINVAL, "the store is open read-only");
    enum tk_rc rc = store_sqlite__exec(sq, sq->tx[TX_BEGIN_IMMEDIATE], "BEGIN IMMEDIATE");
    if (!rc)
        rc = counter_load(sq);
    if (!rc)
        rc = store_sqlite__lt_validate(sq);
    if (rc)
        rollback_quietly(sq);
    return rc;
}

static enum tk_rc tx_commit(struct sq_store *sq)
{
    enum tk_rc rc = store_sqlite__flush_pending(sq);
    if (!rc)
        rc = counter_save(sq);
    if (!rc)
        rc = store_sqlite__exec(sq, sq->tx[TX_COMMIT], "COMMIT");
    if (rc)
        rollback_quietly(sq);
    return rc;
}

enum tk_rc store_sqlite__begin(struct store *st)
{
    struct sq_store *sq = sq_of(st);
    if (sq->in_tx)
        return store__fail(st, TK_EINVAL, "store_begin inside a transaction");
    enum tk_rc rc = tx_begin(sq);
    if (!rc) {
        sq->in_tx = 1;
        sq->tx_failed = 0;
    }
    return rc;
}

enum tk_rc store_sqlite__commit(struct store *st)
{
    struct sq_store *sq = sq_of(st);
    if (!sq->in_tx)
        return store__fail(st, TK_EINVAL, "store_commit outside a transaction");
    sq->in_tx = 0;
    if (sq->tx_failed || sqlite3_get_autocommit(sq->db)) {
        /* a write failed half-way, or SQLite already rolled back (I/O error, no memory) */
        rollback_quietly(sq);
        sq->tx_failed = 0;
        return store__fail(st, TK_EDB, "transaction rolled back after an earlier error: %s",
                           st->errmsg[0] ? st->errmsg : "unknown");
    }
    enum tk_rc rc = tx_commit(sq);
    if (rc == TK_ENOSPC || rc == TK_ENOMEM)
        return rc;
    return rc ? TK_EDB : TK_OK;
}

void store_sqlite__rollback(struct store *st)
{
    struct sq_store *sq = sq_of(st);
    if (!sq->in_tx)
        return;
    rollback_quietly(sq);
    sq->in_tx = 0;
    sq->tx_failed = 0;
}

enum tk_rc store_sqlite__write_enter(struct sq_store *sq, int *nested, int cache)
{
    *nested = sq->in_tx;
    if (!sq->in_tx)
        return tx_begin(sq);
    if (sq->tx_failed)
        return store__fail(&sq->base, TK_EDB, "transaction failed earlier; roll it back");
    /* what a ROLLBACK TO may undo must be in the database, not only in memory */
    enum tk_rc rc = cache ? store_sqlite__flush_pending(sq) : TK_OK;
    sq->sp_cache = cache;
    if (!rc)
        rc = store_sqlite__exec(sq, sq->tx[TX_SAVEPOINT], "SAVEPOINT");
    if (rc)
        sq->tx_failed = 1;
    return rc;
}

enum tk_rc store_sqlite__write_leave(struct sq_store *sq, int nested, enum tk_rc rc)
{
    if (!nested) {
        if (rc) {
            rollback_quietly(sq);
            return rc;
        }
        return tx_commit(sq);
    }
    if (rc) {
        /* undo this call's writes only; the caller's transaction stays usable */
        if (sq->sp_cache)
            store_sqlite__lt_drop(sq);
        if (store_sqlite__exec(sq, sq->tx[TX_ROLLBACK_TO], "ROLLBACK TO") ||
            sqlite3_get_autocommit(sq->db))
            sq->tx_failed = 1;
    }
    if (!sqlite3_get_autocommit(sq->db)) {
        enum tk_rc r2 = store_sqlite__exec(sq, sq->tx[TX_RELEASE], "RELEASE");
        if (r2) {
            sq->tx_failed = 1;
            if (!rc)
                rc = r2;
        }
    } else {
        sq->tx_failed = 1;
    }
    return rc;
}

enum tk_rc store_sqlite__read_enter(struct sq_store *sq, int *own)
{
    *own = sqlite3_get_autocommit(sq->db) != 0;
    if (!*own)
        return TK_OK;
    return store_sqlite__exec(sq, sq->tx[TX_BEGIN_READ], "BEGIN");
}

void store_sqlite__read_leave(struct sq_store *sq, int own)
{
    if (own && !sqlite3_get_autocommit(sq->db)) {
        if (store_sqlite__exec(sq, sq->tx[TX_COMMIT], "COMMIT (read)"))
            rollback_quietly(sq);
    }
}

/* ---- open / close ---------------------------------------------------------------- */

static void sq_close(struct store *st)
{
    struct sq_store *sq = sq_of(st);
    if (sq->db && !sqlite3_get_autocommit(sq->db))
        rollback_quietly(sq);
    store_sqlite__finalize(sq->tx, TX_N);
    store_sqlite__finalize(sq->reg, REG_N);
    store_sqlite__finalize(sq->wr, WR_N);
    store_sqlite__finalize(sq->state, ST_N);
    store_sqlite__finalize(sq->q, Q_N);
    store_sqlite__finalize(sq->ru, RU_N);
    store_sqlite__finalize(sq->lt, LT_N);
    store_sqlite__finalize(sq->ret, RET_N);
    store_sqlite__finalize(sq->key, KEY_N);
    store_sqlite__finalize(sq->al, AL_N);
    store_sqlite__lt_free(sq);
    store_sqlite__sta_cache_free(sq);
    free(sq->pend);
    sqlite3_close_v2(sq->db);
    free(sq);
}

static int sq_schema_version(struct store *st)
{
    return sq_of(st)->version;
}

static enum tk_rc pragma(struct sq_store *sq, const char *sql)
{
    int src = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? TK_OK : store_sqlite__err(sq, src, sql);
}

static enum tk_rc sq_open(const char *path, const struct store_options *opt, struct store **out)
{
    struct store_options o = {0};
    if (opt)
        o = *opt;
    if (o.cache_kib < 0 || o.busy_timeout_ms < 0 || o.stage_rows < 0 ||
        o.busy_timeout_ms > INT32_MAX)
        return TK_EINVAL;
    struct sq_store *sq = calloc(1, sizeof *sq);
    if (!sq)
        return TK_ENOMEM;
    sq->base.ops = &store_sqlite__ops;
    sq->readonly = o.readonly != 0;
    sq->stage_rows = o.stage_rows ? o.stage_rows : SQ_STAGE_ROWS_DEFAULT;

    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI |
                (sq->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int src = sqlite3_open_v2(path, &sq->db, flags, NULL);
    enum tk_rc rc = TK_OK;
    if (src != SQLITE_OK) {
        rc = store_sqlite__err(sq, src, "opening the database");
        goto cleanup;
    }
    sqlite3_extended_result_codes(sq->db, 0);
    sqlite3_busy_timeout(sq->db, o.busy_timeout_ms ? (int)o.busy_timeout_ms : 5000);

    char cache[64];
    snprintf(cache, sizeof cache, "PRAGMA cache_size = -%lld",
             (long long)(o.cache_kib ? o.cache_kib : 65536));
    rc = pragma(sq, cache);
    if (!rc)
        rc = pragma(sq, "PRAGMA foreign_keys = ON");
    if (!rc && !sq->readonly)
        rc = pragma(sq, "PRAGMA journal_mode = WAL");
    if (!rc && !sq->readonly) {
        char ckpt[64];
        snprintf(ckpt, sizeof ckpt, "PRAGMA wal_autocheckpoint = %d", SQ_WAL_AUTOCHECKPOINT);
        rc = pragma(sq, ckpt);
    }
    if (!rc)
        rc = pragma(sq, "PRAGMA synchronous = FULL");
    if (!rc)
        rc = pragma(sq, "PRAGMA temp_store = MEMORY");
    if (!rc)
        rc = store_sqlite__migrate(sq);
    if (!rc)
        rc = store_sqlite__rows_register(sq);
    if (!rc)
        rc = store_sqlite__prepare(sq, sq->tx, tx_sql, TX_N);
    if (!rc)
        rc = store_sqlite__registry_prepare(sq);
    if (!rc)
        rc = store_sqlite__writer_prepare(sq);
    if (!rc)
        rc = store_sqlite__state_prepare(sq);
    if (!rc)
        rc = store_sqlite__query_prepare(sq);
    if (!rc)
        rc = store_sqlite__rollup_prepare(sq);
    if (!rc)
        rc = store_sqlite__latest_prepare(sq);
    if (!rc)
        rc = store_sqlite__retention_prepare(sq);
    if (!rc)
        rc = store_sqlite__apikey_prepare(sq);
    if (!rc)
        rc = store_sqlite__alert_prepare(sq);

cleanup:
    if (rc) {
        sq_close(&sq->base);
        return rc;
    }
    *out = &sq->base;
    return TK_OK;
}

const struct store_ops store_sqlite__ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .schema_version = sq_schema_version,
    .device_add = store_sqlite__device_add,
    .device_get = store_sqlite__device_get,
    .device_remove = store_sqlite__device_remove,
    .device_list = store_sqlite__device_list,
    .begin = store_sqlite__begin,
    .commit = store_sqlite__commit,
    .rollback = store_sqlite__rollback,
    .obs_add = store_sqlite__obs_add,
    .obs_get = store_sqlite__obs_get,
    .seq_load = store_sqlite__seq_load,
    .seq_save = store_sqlite__seq_save,
    .quarantine_add = store_sqlite__quarantine_add,
    .quarantine_count = store_sqlite__quarantine_count,
    .range = store_sqlite__range,
    .latest = store_sqlite__latest,
    .aggregate = store_sqlite__aggregate,
    .maintain = store_sqlite__maintain,
    .retention = store_sqlite__retention,
    .apikey_add = store_sqlite__apikey_add,
    .apikey_find = store_sqlite__apikey_find,
    .apikey_revoke = store_sqlite__apikey_revoke,
    .apikey_list = store_sqlite__apikey_list,
    .ds_quantity = store_sqlite__ds_quantity,
    .device_ids = store_sqlite__device_ids,
    .quarantine_list = store_sqlite__quarantine_list,
    .counters_put = store_sqlite__counters_put,
    .counters_get = store_sqlite__counters_get,
    .alert_config_get = store_sqlite__alert_config_get,
    .alert_config_put = store_sqlite__alert_config_put,
    .alert_config_stamp = store_sqlite__alert_config_stamp,
    .alert_add = store_sqlite__alert_add,
    .alert_update = store_sqlite__alert_update,
    .alert_get = store_sqlite__alert_get,
    .alert_list = store_sqlite__alert_list,
    .alert_device_get = store_sqlite__alert_device_get,
    .alert_device_put = store_sqlite__alert_device_put,
    .device_status_put = store_sqlite__device_status_put,
    .device_status_get = store_sqlite__device_status_get,
};
