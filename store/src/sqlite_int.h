/* Internal to the SQLite backend: the connection, its prepared statements (prepared once
 * at open, reset after each use) and helpers shared by the sqlite_*.c files. The layout
 * itself is described atop sqlite_schema.c. */
#ifndef SQLITE_INT_H
#define SQLITE_INT_H

#include <sqlite3.h>

#include "store_int.h"

#define SQ_SCHEMA_VERSION 10
#define SQ_STAGE_ROWS_DEFAULT 262144
/* Staged rows are keyed (batch, ds, t) with batch = id >> SQ_BATCH_SHIFT: a commit writes
 * into the few newest batches only (sequential pages), and a per-datastream lookup seeks
 * once per batch. */
#define SQ_BATCH_SHIFT 11
/* WAL pages before an automatic checkpoint: a move writes thousands of pages, and with
 * the default 1,000 the staging pages were copied into the database several times per
 * move cycle only to be freed by the move. */
#define SQ_WAL_AUTOCHECKPOINT 10000

#define SQ_MINUTE_US INT64_C(60000000)
#define SQ_SLOTS 60 /* minutes per rollup_minute_slots row (one hour) */
#define SQ_HOUR_US INT64_C(3600000000)
#define SQ_DAY_US INT64_C(86400000000)

/* Transaction control, shared by every file. */
enum sq_tx_stmt {
    TX_BEGIN_IMMEDIATE,
    TX_BEGIN_READ,
    TX_COMMIT,
    TX_ROLLBACK,
    TX_SAVEPOINT,
    TX_RELEASE,
    TX_ROLLBACK_TO,
    TX_COUNTER_GET,
    TX_COUNTER_SET,
    TX_N
};

enum sq_reg_stmt {
    REG_THING_FIND,
    REG_THING_INSERT,
    REG_LOCATION_INSERT,
    REG_THING_LOCATION_INSERT,
    REG_HLOC_INSERT,
    REG_HLOC_LOCATION_INSERT,
    REG_SENSOR_INSERT,
    REG_FOI_INSERT,
    REG_OP_ENSURE,
    REG_OP_FIND,
    REG_DS_INSERT,
    REG_DEVICE_GET,
    REG_DEVICE_DS,
    REG_DEVICE_IDS,
    REG_DEVICE_SENSORS,
    REG_DEVICE_LOCATIONS,
    REG_DEL_OBS,
    REG_DEL_STAGED,
    REG_DEL_RU_MINUTE,
    REG_DEL_RU_HOUR,
    REG_DEL_RU_DAY,
    REG_DEL_THING,
    REG_DEL_SENSOR,
    REG_DEL_FOI,
    REG_DEL_LOCATION,
    REG_N
};

enum sq_wr_stmt { WR_MAIN_FIND, WR_STAGE_FIND, WR_STAGE_INSERT, WR_N };


enum sq_lt_stmt { LT_GET, LT_PUT, LT_DEL, LT_DATA_VERSION, LT_N };

/* latest_blocks (see sqlite_latest.c): the latest row of 32 datastreams per block */
#define LT_SHIFT 5
#define LT_PER_BLOCK (1 << LT_SHIFT)
#define LT_EXISTS 1u     /* a registered datastream */
#define LT_HAS_T 2u      /* it has an observation: t .. id are set */
#define LT_HAS_FOI 4u    /* foi is set */
#define LT_HAS_STAGED 8u /* staged_min is set: rows of it may be staged, all >= staged_min */
/* Stored only (sqlite_latest.c): the entry is in the packed layout of version 10, and
 * which of t_end and rt follow. In memory these bits are clear. */
#define LT_PACKED 0x80u
#define LT_HAS_TEND 0x40u
#define LT_HAS_RT 0x20u
#define LT_STORED_BITS (LT_PACKED | LT_HAS_TEND | LT_HAS_RT)

struct sq_lt_entry {
    unsigned char flags;
    int64_t t, t_end, rt, id, foi, staged_min; /* t_end, rt: 0 when none / same as t */
    double result;
};

struct sq_lt_block {
    int64_t blk;
    int dirty;
    struct sq_lt_entry e[LT_PER_BLOCK];
};

enum sq_state_stmt {
    ST_SEQ_LOAD,
    ST_SEQ_SAVE,
    ST_QUAR_INSERT,
    ST_QUAR_COUNT,
    ST_QUAR_LIST,
    ST_QUAR_LIST_DEVICE,
    ST_COUNTER_PUT,
    ST_COUNTER_GET,
    ST_N
};

enum sq_key_stmt {
    KEY_INSERT,
    KEY_FIND,
    KEY_REVOKE,
    KEY_GET,
    KEY_LIST,
    KEY_DS_QUANTITY,
    KEY_DEVICE_PAGE,
    KEY_N
};

enum sq_q_stmt { Q_ID_MAIN, Q_ID_STAGED, Q_MAIN_ASC, Q_MAIN_DESC, Q_STAGE_ASC, Q_STAGE_DESC, Q_N };

enum sq_ru_stmt {
    RU_STAGED,
    RU_INSERT,
    RU_SLOTS_GET,
    RU_SLOTS_PUT,
    RU_FOLD_HOUR,
    RU_FOLD_DAY,
    RU_CLEAR,
    RU_GET_SLOTS,
    RU_GET_HOUR,
    RU_GET_DAY,
    RU_STAGE_AGG,
    RU_N
};

enum sq_al_stmt {
    AL_CFG_GET,
    AL_CFG_PUT,
    AL_CFG_STAMP,
    AL_ADD,
    AL_UPDATE,
    AL_GET,
    AL_LIST,
    AL_COUNT,
    AL_DEV_GET,
    AL_DEV_PUT,
    AL_STATUS_PUT,
    AL_STATUS_GET,
    AL_N
};

enum sq_ret_stmt { RET_DS_NEXT, RET_OBS_DEL, RET_STAGED_OLD, RET_STAGED_DEL, RET_QUAR_DEL, RET_N };

/* An observation row in memory (the move's working set, rows waiting for the staging). */
#define SQ_STA_CACHE_N 32

struct sq_store {
    struct store base;
    sqlite3 *db;
    int readonly;
    int version;
    int64_t stage_rows;

    int in_tx;     /* inside store_begin .. store_commit */
    int tx_failed; /* a write failed half-way: the transaction may only be rolled back */
    int counter_dirty;
    int64_t next_id; /* next Observation id, loaded at BEGIN IMMEDIATE */
    int64_t staged;  /* rows waiting in obs_staging (kept with next_id) */

    sqlite3_stmt *tx[TX_N];
    sqlite3_stmt *reg[REG_N];
    sqlite3_stmt *wr[WR_N];
    sqlite3_stmt *state[ST_N];
    sqlite3_stmt *q[Q_N];
    sqlite3_stmt *ru[RU_N];
    sqlite3_stmt *lt[LT_N];
    sqlite3_stmt *ret[RET_N];
    sqlite3_stmt *key[KEY_N];
    sqlite3_stmt *al[AL_N];
    int64_t ret_cursor; /* retention: the last datastream done (sqlite_retention.c) */

    /* the writer's cache of latest blocks (sqlite_latest.c) */
    struct sq_lt_block **lt_map; /* open addressing on blk, lt_cap slots */
    size_t lt_cap, lt_count;
    struct sq_lt_block **lt_dirty; /* blocks to write at commit */
    size_t lt_ndirty, lt_dirty_cap;
    int64_t lt_data_version;
    int sp_cache; /* the open savepoint was entered with cache = 1 */

    /* SensorThings read statements kept for reuse, found by their SQL text: an API
     * request's statements are the same text each time (values are bound), so parsing
     * them again was most of a simple request's cost (sqlite_sta.c) */
    struct {
        char *sql; /* owned */
        size_t len;
        sqlite3_stmt *s;
        int busy; /* handed out, not yet released */
        int nlow; /* the highest parameter index it names below STA_VPARAM */
        uint64_t used;
    } sta_cache[SQ_STA_CACHE_N];
    uint64_t sta_tick;


    /* rows added in this transaction, written to obs_staging at commit (sqlite_writer.c) */
    struct store_row *pend;
    size_t npend, pend_cap;


    /* what tk_rows yields while one statement runs (sqlite_rows.c) */
    struct store_row *const *vt_rows;
    size_t vt_n;
};

static inline struct sq_store *sq_of(struct store *st)
{
    return (struct sq_store *)st;
}

/* sqlite_schema.c */
enum tk_rc store_sqlite__migrate(struct sq_store *sq);

/* Each file prepares its own statements at open. */
enum tk_rc store_sqlite__prepare(struct sq_store *sq, sqlite3_stmt **arr, const char *const *sql,
                                 int n);
void store_sqlite__finalize(sqlite3_stmt **arr, int n);
/** Finalize the SensorThings statement cache (sqlite_sta.c), before closing. */
void store_sqlite__sta_cache_free(struct sq_store *sq);
/** Register the SQL functions of $filter (sqlite_geo.c) on sq's connection. */
enum tk_rc store_sqlite__geo_init(struct sq_store *sq);
enum tk_rc store_sqlite__registry_prepare(struct sq_store *sq);
enum tk_rc store_sqlite__writer_prepare(struct sq_store *sq);
enum tk_rc store_sqlite__state_prepare(struct sq_store *sq);
enum tk_rc store_sqlite__query_prepare(struct sq_store *sq);
enum tk_rc store_sqlite__rollup_prepare(struct sq_store *sq);

/** Map an SQLite result code to tk_rc and record the connection's message. */
enum tk_rc store_sqlite__err(struct sq_store *sq, int src, const char *what);
/** Step a statement expected to finish (no row); resets it. */
enum tk_rc store_sqlite__exec(struct sq_store *sq, sqlite3_stmt *s, const char *what);

/* Transactions. A write that is not already inside store_begin runs in its own
 * transaction; one that is runs in a savepoint, so it is all-or-nothing either way.
 * cache: the write may change the latest cache or the staging (registry, move): pending
 * rows and blocks are written before its savepoint and the cache is dropped if it is
 * rolled back to; other writes (delivery state, quarantine) leave both alone. */
enum tk_rc store_sqlite__write_enter(struct sq_store *sq, int *nested, int cache);
enum tk_rc store_sqlite__write_leave(struct sq_store *sq, int nested, enum tk_rc rc);
/* Reads made of several statements run in one read transaction (one snapshot) unless
 * already inside one. */
enum tk_rc store_sqlite__read_enter(struct sq_store *sq, int *own);
void store_sqlite__read_leave(struct sq_store *sq, int own);

/* sqlite_registry.c */
enum tk_rc store_sqlite__device_add(struct store *st, const struct store_device *dev,
                                    struct store_device *out);
enum tk_rc store_sqlite__device_get(struct store *st, const char *id, struct store_device *out);
enum tk_rc store_sqlite__device_remove(struct store *st, const char *id);
enum tk_rc store_sqlite__device_list(struct store *st, store_device_cb cb, void *ud);

/* sqlite_writer.c */
/** Write the rows and latest blocks this transaction holds in memory (at commit, before
 *  a savepoint that may change them, before a read inside the transaction). On failure
 *  the transaction may only be rolled back. */
enum tk_rc store_sqlite__flush_pending(struct sq_store *sq);
/** Forget them (rollback). */
void store_sqlite__drop_pending(struct sq_store *sq);
enum tk_rc store_sqlite__begin(struct store *st);
enum tk_rc store_sqlite__commit(struct store *st);
void store_sqlite__rollback(struct store *st);
enum tk_rc store_sqlite__obs_add(struct store *st, struct store_obs *o);

/* sqlite_state.c */
enum tk_rc store_sqlite__seq_load(struct store *st, const char *device_id,
                                  struct store_seq_state *out);
enum tk_rc store_sqlite__seq_save(struct store *st, const char *device_id,
                                  const struct store_seq_state *s);
enum tk_rc store_sqlite__quarantine_add(struct store *st, struct store_quarantine *q);
enum tk_rc store_sqlite__quarantine_count(struct store *st, int64_t *n);

/* sqlite_query.c */
enum tk_rc store_sqlite__range(struct store *st, int64_t ds_id, int64_t from_us, int64_t to_us,
                               int desc, struct store_point *out, size_t limit, size_t *n);
enum tk_rc store_sqlite__latest(struct store *st, const int64_t *ds_ids, size_t n,
                                struct store_point *out, int *found);
enum tk_rc store_sqlite__obs_get(struct store *st, int64_t id, struct store_point *out,
                                 int64_t *ds_id);
/** The stream's staged window [lo, hi]; *any = 0 when none of its rows is staged. */
enum tk_rc store_sqlite__staged_window(struct sq_store *sq, int64_t ds, int *any, int64_t *lo,
                                       int64_t *hi);

/* sqlite_rows.c */
enum tk_rc store_sqlite__rows_register(struct sq_store *sq);
/** Run s (an INSERT ... SELECT ... FROM tk_rows) over rows[0..n). */
enum tk_rc store_sqlite__rows_exec(struct sq_store *sq, sqlite3_stmt *s,
                                   struct store_row *const *rows, size_t n, const char *what);

/* sqlite_latest.c */
enum tk_rc store_sqlite__latest_prepare(struct sq_store *sq);
/** At BEGIN IMMEDIATE: drop the cache if another connection committed meanwhile. */
enum tk_rc store_sqlite__lt_validate(struct sq_store *sq);
/** The cached entry of ds (loading its block); TK_ENOTFOUND if ds is not registered,
 *  unless create. Call store_sqlite__lt_touch(ds) before changing it. */
enum tk_rc store_sqlite__lt_entry(struct sq_store *sq, int64_t ds, int create,
                                  struct sq_lt_entry **out);
/** Mark ds's block to be written at commit. */
enum tk_rc store_sqlite__lt_touch(struct sq_store *sq, int64_t ds);
/** Write the dirty blocks (at commit, before a savepoint, before a read). */
enum tk_rc store_sqlite__lt_flush(struct sq_store *sq);
/** Forget every cached block (rollback, another writer committed). */
void store_sqlite__lt_drop(struct sq_store *sq);
void store_sqlite__lt_free(struct sq_store *sq);
/** Read ds's entry from the database (reads; memo caches one block across calls, start
 *  it with blk = -1). out->flags == 0 when ds is not registered. */
enum tk_rc store_sqlite__lt_read(struct sq_store *sq, int64_t ds, struct sq_lt_block *memo,
                                 struct sq_lt_entry *out);
/** Schema version 4: latest rows folded into latest_blocks. */
enum tk_rc store_sqlite__migrate_v4(struct sq_store *sq);
enum tk_rc store_sqlite__migrate_v10(struct sq_store *sq);

/* sqlite_rollup.c */
enum tk_rc store_sqlite__aggregate(struct store *st, int64_t ds_id, enum store_interval iv,
                                   int64_t from_us, int64_t to_us, struct store_agg *out,
                                   size_t limit, size_t *n);
enum tk_rc store_sqlite__maintain(struct store *st, int all);
/** Fold rows[0..n), sorted by (ds, t), into the three rollups (a move, or retention
 *  removing staged rows that were never moved). */
enum tk_rc store_sqlite__fold(struct sq_store *sq, const struct store_row *rows, size_t n);

/* sqlite_retention.c */
enum tk_rc store_sqlite__retention_prepare(struct sq_store *sq);
enum tk_rc store_sqlite__retention(struct store *st, int64_t obs_before_us,
                                   int64_t quarantine_before_us, size_t max_rows,
                                   size_t *removed);

/* sqlite_access.c */
enum tk_rc store_sqlite__apikey_prepare(struct sq_store *sq);
enum tk_rc store_sqlite__apikey_add(struct store *st, struct store_apikey *k,
                                    const unsigned char hash[STORE_APIKEY_HASH_LEN]);
enum tk_rc store_sqlite__apikey_find(struct store *st, const char *prefix,
                                     struct store_apikey *rows,
                                     unsigned char (*hashes)[STORE_APIKEY_HASH_LEN], size_t max,
                                     size_t *n);
enum tk_rc store_sqlite__apikey_revoke(struct store *st, int64_t id);
enum tk_rc store_sqlite__apikey_list(struct store *st, store_apikey_cb cb, void *ud);
enum tk_rc store_sqlite__ds_quantity(struct store *st, int64_t ds_id, int *quantity);
enum tk_rc store_sqlite__device_ids(struct store *st, const char *after,
                                    char (*ids)[TK_ID_MAX + 1], size_t max, size_t *n);

/* sqlite_state.c: the operator view */
enum tk_rc store_sqlite__quarantine_list(struct store *st, const struct store_quarantine_filter *f,
                                         store_quarantine_cb cb, void *ud);
enum tk_rc store_sqlite__counters_put(struct store *st, const struct store_counter *c, size_t n);
enum tk_rc store_sqlite__counters_get(struct store *st, struct store_counter *out, size_t max,
                                      size_t *n);
/* sqlite_alert.c: alerts, their settings, device status */
enum tk_rc store_sqlite__alert_prepare(struct sq_store *sq);
enum tk_rc store_sqlite__alert_config_get(struct store *st, const char *id,
                                          struct store_alert_config *out);
enum tk_rc store_sqlite__alert_config_put(struct store *st, const struct store_alert_config *c);
enum tk_rc store_sqlite__alert_config_stamp(struct store *st, int64_t *stamp);
enum tk_rc store_sqlite__alert_add(struct store *st, struct store_alert *a);
enum tk_rc store_sqlite__alert_update(struct store *st, const struct store_alert *a);
enum tk_rc store_sqlite__alert_get(struct store *st, int64_t id, struct store_alert *out);
enum tk_rc store_sqlite__alert_list(struct store *st, const struct store_alert_filter *f,
                                    store_alert_cb cb, void *ud, int64_t *total);
enum tk_rc store_sqlite__alert_device_get(struct store *st, const char *id,
                                          struct store_alert_device *out);
enum tk_rc store_sqlite__alert_device_put(struct store *st, const char *id,
                                          const struct store_alert_device *d);
enum tk_rc store_sqlite__device_status_put(struct store *st, const struct store_device_status *s);
enum tk_rc store_sqlite__device_status_get(struct store *st, const char *id,
                                           struct store_device_status *out);

/* One minute of a rollup_minute_slots row; n == 0: no data in that minute. */
struct sq_slot {
    int64_t n;
    double total, lo, hi;
};
#define SQ_SLOTS_BLOB_MAX (SQ_SLOTS * 33)
/** Encode the non-empty slots of an hour into buf (SQ_SLOTS_BLOB_MAX bytes); returns the
 *  length. */
int store_sqlite__slots_encode(const struct sq_slot *slots, unsigned char *buf);
/** Decode a blob into slots[SQ_SLOTS] (cleared first); -1 if it is malformed. */
int store_sqlite__slots_decode(const void *blob, int len, struct sq_slot *slots);
/** Schema version 3: rollup_minute rows folded into rollup_minute_slots. */
enum tk_rc store_sqlite__migrate_v3(struct sq_store *sq);

/* A recursive CTE naming every batch between the oldest and newest staged row: joined
 * CROSS to obs_staging on (batch, ds_id, ...) it gives one index seek per batch. */
#define SQ_BATCHES_CTE                                                                             \
    "WITH RECURSIVE b(x) AS (SELECT min(batch) FROM obs_staging UNION ALL SELECT x + 1 FROM b "    \
    "WHERE x < (SELECT max(batch) FROM obs_staging)) "

#endif
