/* Internal to the PostgreSQL backend (store/src/pg_*.c): the connection, its prepared
 * statements and the helpers the pg_*.c files share. The layout is described atop
 * pg_schema.c. */
#ifndef PG_INT_H
#define PG_INT_H

#include <libpq-fe.h>

#include "store_int.h"

#define PG_SCHEMA_VERSION 4

/* The JSON documents the registry writes (pg_registry.c; migration 4 rewrites older ones),
 * compact and in this order as SQLite's json_object writes them: SQL expressions of text. */
#define PG_PROPS(kind, transport, mount, density)                                                  \
    "(SELECT row_to_json(p)::text FROM (SELECT " kind " AS kind, " transport " AS transport, " mount \
    " AS mount_height_m, " density " AS density_kg_m3) p)"
#define PG_SENSOR_META(dev, kind, transport)                                                       \
    "(SELECT row_to_json(m)::text FROM (SELECT " dev " AS device_id, " kind " AS kind, " transport   \
    " AS transport) m)"

#define PG_POINT(lon, lat) "tk_point(" lon ", " lat ")" /* GeoJSON Point, from migration 4 */

#define PG_MINUTE_US INT64_C(60000000)
#define PG_HOUR_US INT64_C(3600000000)
#define PG_DAY_US INT64_C(86400000000)
/* observations is partitioned by phenomenonTime in ranges of this length (7 days,
 * aligned on the Unix epoch); partition obs_p<N> holds [N * PG_PART_US, (N+1) * PG_PART_US). */
#define PG_PART_US (7 * PG_DAY_US)
#define PG_PART_US_TEXT "604800000000" /* the same, for SQL text */
/* Partitions created ahead of the clock by store_maintain. */
#define PG_PART_AHEAD 2
/* Observation ids are taken from the sequence in blocks of this many (one round trip). */
#define PG_ID_BLOCK 1024

/* A CTE of a statement whose CTE ins returned new rows (ds_id, t_us, result): adds them to
 * rollup table tbl of buckets iv microseconds long (text). */
#define PG_ROLLUP_UPSERT(tbl, iv)                                                                  \
    tbl " AS (INSERT INTO " tbl " SELECT ds_id, t_us - t_us % " iv ", count(*), sum(result),"      \
        " min(result), max(result) FROM ins GROUP BY 1, 2 ON CONFLICT (ds_id, bucket_us) DO UPDATE"  \
        " SET n = " tbl ".n + excluded.n, total = " tbl ".total + excluded.total,"                  \
        " lo = least(" tbl ".lo, excluded.lo), hi = greatest(" tbl ".hi, excluded.hi))"

/* Prepared statements, prepared once at open (pg_conn.c holds their text). */
enum pg_stmt {
    PS_SEQ_LOAD,
    PS_SEQ_LOCK,
    PS_SEQ_SAVE,
    PS_QUAR_INSERT,
    PS_QUAR_COUNT,
    PS_DS_LATEST,
    PS_OBS_FIND,
    PS_OBS_GET,
    PS_RANGE_ASC,
    PS_RANGE_DESC,
    PS_LATEST,
    PS_AGG_MINUTE,
    PS_AGG_HOUR,
    PS_AGG_DAY,
    PS_ID_BLOCK,
    PS_INSERT_ROWS,
    PS_N
};

/* A row of the open transaction, written at commit (or before a read inside it). */
/* What the writer knows of a datastream across transactions: that it exists and the
 * newest phenomenonTime it has. Another worker may have stored newer rows since: the
 * knowledge is only used to skip a duplicate lookup, and the insert itself absorbs a
 * duplicate the lookup would have found (ON CONFLICT DO NOTHING). */
struct pg_ds {
    int64_t ds;  /* 0: empty slot */
    int has_t;
    int64_t t;
};

/* A SensorThings statement prepared on this connection (pg_sta.c): named "sta<slot>",
 * found again by its text and parameter types. */
#define PG_STA_CACHE 32
struct pg_sta_cached {
    char *key; /* the statement's text, a NUL, its parameter types; NULL: a free slot */
    size_t key_len;
    uint64_t hash;
    uint64_t used; /* pg_store.sta_clock at its last use */
};

struct pg_store {
    struct store base;
    PGconn *conn;
    int readonly;
    int version;
    int in_tx;
    int tx_failed;

    struct store_row *pend;
    size_t npend, pend_cap;

    int64_t id_next, id_end; /* observation ids still available from the last block */

    struct pg_ds *dss; /* open addressing on ds, ds_cap slots (a power of two) */
    size_t ds_cap, ds_count;

    int64_t *parts; /* partition numbers known to exist, sorted */
    size_t nparts, parts_cap;

    struct pg_sta_cached sta[PG_STA_CACHE];
    uint64_t sta_clock;

    int64_t ret_cursor; /* retention: the last datastream done */
    int64_t lock_ms;    /* lock_timeout */

    uint64_t reconnects; /* new connections after a lost one */
    int reconnecting;    /* setting one up (its own statements must not reconnect) */
};

static inline struct pg_store *pg_of(struct store *st)
{
    return (struct pg_store *)st;
}

/* Text forms of parameters (libpq passes every value as text here). */
struct pg_num {
    char s[40];
};

/* A growing text buffer (array literals); oom is set once an allocation failed. */
struct pg_text {
    char *p;
    size_t len, cap;
    int oom;
};

/* pg_conn.c */
/** Settings, migration and prepared statements of a new (or reset) connection. */
enum tk_rc store_pg__session(struct pg_store *pg);
/** A new connection after the server restarted or the network dropped, set up as at
 *  open; what the lost one had cached (datastreams, partitions, statements) is forgotten. */
enum tk_rc store_pg__reconnect(struct pg_store *pg);
/** BEGIN (sql) on a working connection: a lost one is replaced first, or once after the
 *  BEGIN found it lost. */
enum tk_rc store_pg__begin_sql(struct pg_store *pg, const char *sql, const char *what);
/** Prepare a file's own statements sql[0..n-1], named <tag>0, <tag>1, ... (pg_access.c,
 *  pg_alert.c; pg_conn.c's own are tag "tk"). */
enum tk_rc store_pg__prepare(struct pg_store *pg, const char *tag, const char *const *sql, int n);
/** Like store_pg__run for statement i of the set prepared under tag. */
enum tk_rc store_pg__run_tagged(struct pg_store *pg, const char *tag, int i, int n,
                                const char *const *vals, PGresult **out, const char *what);
/** Run statement i of tag as a write: alone in its own transaction (committed before
 *  returning; *out, when out is not NULL, is the result for the caller to PQclear), or
 *  inside the caller's. */
enum tk_rc store_pg__write_tagged(struct pg_store *pg, const char *tag, int i, int n,
                                  const char *const *vals, PGresult **out, const char *what);
/** Number of rows an INSERT / UPDATE / DELETE result reports. */
int64_t store_pg__changes(PGresult *res);
const char *store_pg__fmt_i(struct pg_num *n, int64_t v);
/** v exactly (17 significant digits). */
const char *store_pg__fmt_d(struct pg_num *n, double v);
void store_pg__text_put(struct pg_text *b, const char *s, size_t n);
/** v in decimal, or NULL when null. */
void store_pg__text_int(struct pg_text *b, int64_t v, int null);
/** An element of a text[] literal: double-quoted, with " and \ escaped; NULL for s NULL. */
void store_pg__text_quoted(struct pg_text *b, const char *s);
/** Record the message of a failed result (or of the connection when res is NULL) and
 *  map its SQLSTATE to tk_rc; clears res. */
enum tk_rc store_pg__err(struct pg_store *pg, PGresult *res, const char *what);
/** Run prepared statement ps with n text parameters (NULL values allowed); *out gets the
 *  result (PGRES_TUPLES_OK or PGRES_COMMAND_OK) for the caller to PQclear, or NULL when
 *  out is NULL (cleared here). */
enum tk_rc store_pg__run(struct pg_store *pg, enum pg_stmt ps, int n, const char *const *vals,
                         PGresult **out, const char *what);
/** Run SQL text without parameters. */
enum tk_rc store_pg__exec(struct pg_store *pg, const char *sql, const char *what);
/** Like store_pg__run but with SQL text (statements run rarely). */
enum tk_rc store_pg__query(struct pg_store *pg, const char *sql, int n, const char *const *vals,
                           PGresult **out, const char *what);
/** A write outside store_begin runs in its own transaction, one inside it in a savepoint. */
enum tk_rc store_pg__write_enter(struct pg_store *pg, int *nested);
enum tk_rc store_pg__write_leave(struct pg_store *pg, int nested, enum tk_rc rc);
/** Make sure the partition holding t exists (creating it in the current transaction). */
enum tk_rc store_pg__part_ensure(struct pg_store *pg, int64_t t);
/** Forget what is cached about datastreams (rollback, device removed). */
void store_pg__ds_forget(struct pg_store *pg);
int64_t store_pg__int(PGresult *res, int row, int col);
double store_pg__real(PGresult *res, int row, int col);

/* pg_sta.c */
/** Forget the SensorThings statements prepared on the connection (at close). */
void store_pg__sta_forget(struct pg_store *pg);

/* pg_schema.c */
enum tk_rc store_pg__migrate(struct pg_store *pg);

/* pg_registry.c */
enum tk_rc store_pg__device_add(struct store *st, const struct store_device *dev,
                                struct store_device *out);
enum tk_rc store_pg__device_get(struct store *st, const char *id, struct store_device *out);
enum tk_rc store_pg__device_remove(struct store *st, const char *id);
enum tk_rc store_pg__device_list(struct store *st, store_device_cb cb, void *ud);

/* pg_writer.c */
enum tk_rc store_pg__begin(struct store *st);
enum tk_rc store_pg__commit(struct store *st);
void store_pg__rollback(struct store *st);
enum tk_rc store_pg__obs_add(struct store *st, struct store_obs *o);
/** Write the transaction's rows (at commit, before a read inside the transaction). */
enum tk_rc store_pg__flush_rows(struct pg_store *pg);
void store_pg__drop_rows(struct pg_store *pg);
/** A new Observation id (from the block taken last). */
enum tk_rc store_pg__next_id(struct pg_store *pg, int64_t *id);
enum tk_rc store_pg__seq_load(struct store *st, const char *device_id,
                              struct store_seq_state *out);
enum tk_rc store_pg__seq_save(struct store *st, const char *device_id,
                              const struct store_seq_state *s);
enum tk_rc store_pg__quarantine_add(struct store *st, struct store_quarantine *q);
enum tk_rc store_pg__quarantine_count(struct store *st, int64_t *n);

/* pg_access.c */
enum tk_rc store_pg__access_prepare(struct pg_store *pg);
enum tk_rc store_pg__apikey_add(struct store *st, struct store_apikey *k,
                                const unsigned char hash[STORE_APIKEY_HASH_LEN]);
enum tk_rc store_pg__apikey_find(struct store *st, const char *prefix, struct store_apikey *rows,
                                 unsigned char (*hashes)[STORE_APIKEY_HASH_LEN], size_t max,
                                 size_t *n);
enum tk_rc store_pg__apikey_revoke(struct store *st, int64_t id);
enum tk_rc store_pg__apikey_list(struct store *st, store_apikey_cb cb, void *ud);
enum tk_rc store_pg__ds_quantity(struct store *st, int64_t ds_id, int *quantity);
enum tk_rc store_pg__device_ids(struct store *st, const char *after, char (*ids)[TK_ID_MAX + 1],
                                size_t max, size_t *n);
enum tk_rc store_pg__quarantine_list(struct store *st, const struct store_quarantine_filter *f,
                                     store_quarantine_cb cb, void *ud);
enum tk_rc store_pg__counters_put(struct store *st, const struct store_counter *c, size_t n);
enum tk_rc store_pg__counters_get(struct store *st, struct store_counter *out, size_t max,
                                  size_t *n);

/* pg_alert.c */
enum tk_rc store_pg__alert_prepare(struct pg_store *pg);
enum tk_rc store_pg__alert_config_get(struct store *st, const char *id,
                                      struct store_alert_config *out);
enum tk_rc store_pg__alert_config_put(struct store *st, const struct store_alert_config *c);
enum tk_rc store_pg__alert_config_stamp(struct store *st, int64_t *stamp);
enum tk_rc store_pg__alert_add(struct store *st, struct store_alert *a);
enum tk_rc store_pg__alert_update(struct store *st, const struct store_alert *a);
enum tk_rc store_pg__alert_get(struct store *st, int64_t id, struct store_alert *out);
enum tk_rc store_pg__alert_list(struct store *st, const struct store_alert_filter *f,
                                store_alert_cb cb, void *ud, int64_t *total);
enum tk_rc store_pg__alert_device_get(struct store *st, const char *id,
                                      struct store_alert_device *out);
enum tk_rc store_pg__alert_device_put(struct store *st, const char *id,
                                      const struct store_alert_device *d);
enum tk_rc store_pg__device_status_put(struct store *st, const struct store_device_status *s);
enum tk_rc store_pg__device_status_get(struct store *st, const char *id,
                                       struct store_device_status *out);

/* pg_query.c */
enum tk_rc store_pg__obs_get(struct store *st, int64_t id, struct store_point *out,
                             int64_t *ds_id);
enum tk_rc store_pg__range(struct store *st, int64_t ds_id, int64_t from_us, int64_t to_us,
                           int desc, struct store_point *out, size_t limit, size_t *n);
enum tk_rc store_pg__latest(struct store *st, const int64_t *ds_ids, size_t n,
                            struct store_point *out, int *found);
enum tk_rc store_pg__aggregate(struct store *st, int64_t ds_id, enum store_interval iv,
                               int64_t from_us, int64_t to_us, struct store_agg *out,
                               size_t limit, size_t *n);
enum tk_rc store_pg__maintain(struct store *st, int all);
enum tk_rc store_pg__retention(struct store *st, int64_t obs_before_us,
                               int64_t quarantine_before_us, size_t max_rows, size_t *removed);

#endif
