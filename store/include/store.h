/* The time-series store interface. Ingest, the admin tool and the API use only this
 * header; the SQLite backend (store/src/sqlite_*.c) is the embedded default and the
 * PostgreSQL backend (store/src/pg_*.c) serves several machines behind the same functions
 * (store_open picks the backend from the URI scheme). The SensorThings reads of
 * store_sta.h exist for SQLite only.
 *
 * Threading: one struct store per thread. Writes go inside store_begin/store_commit;
 * a commit that returns TK_OK is durable (WAL, synchronous=FULL). */
#ifndef STORE_H
#define STORE_H

#include <stdint.h>
#include <stddef.h>
#include "tk_error.h"
#include "tk_reading.h"
#include "tk_quantity.h"

struct store;

struct store_options {
    int readonly;           /* open without write access (API readers) */
    int64_t cache_kib;      /* page cache size; 0 = backend default */
    int64_t busy_timeout_ms; /* how long to wait for a lock; 0 = 5000 */
    int64_t stage_rows;     /* store_maintain moves staged rows once this many are waiting;
                               0 = backend default (SQLite: 262144) */
};

/** Open (and create / migrate to the current schema) a store.
 *  @param uri  "sqlite:/path/to/file.db" or a plain path (SQLite); "postgresql://..." or
 *              "postgres://..." (any libpq connection URI: PostgreSQL)
 *  @param opt  may be NULL for defaults
 *  @param out  new store, free with store_close */
enum tk_rc store_open(const char *uri, const struct store_options *opt, struct store **out) TK_WUR;
/** Close; NULL does nothing. Uncommitted work is rolled back. */
void store_close(struct store *st);
/** Last backend error message (borrowed, valid until the next call on st). */
const char *store_errmsg(struct store *st);
/** Current schema version of an open store. */
int store_schema_version(struct store *st);

/* ---- registry: devices become SensorThings Things ---------------------------- */

struct store_device {
    char id[TK_ID_MAX + 1];
    enum tk_kind kind;
    char name[128];         /* Thing name; defaults to the id */
    double lat, lon;        /* WGS84, become the Thing's Location (GeoJSON Point) */
    double mount_height_m;  /* ultrasonic: sensor height above pipe invert; 0 = not set */
    double density_kg_m3;   /* pressure sensors: water density; 0 = 1000 */
    char transport[8];      /* "mqtt" or "coap" */
    int64_t thing_id;       /* filled by the store */
    int64_t location_id;    /* filled by the store */
    int64_t ds[TK_Q_MAX];   /* Datastream id per quantity of the kind, 0 when not measured */
    int64_t created_us;
};

/** Register a device: a Thing, its Location (and HistoricalLocation), a Sensor, one
 *  Datastream per quantity of its kind linked to the shared ObservedProperties, and a
 *  FeatureOfInterest at its location. All in one transaction. On TK_OK *out (may be NULL)
 *  has the ids. TK_EINVAL for an invalid id, kind or coordinates; TK_EDUP if it exists. */
enum tk_rc store_device_add(struct store *st, const struct store_device *dev,
                            struct store_device *out) TK_WUR;
/** Look a device up by id. TK_ENOTFOUND if unknown. */
enum tk_rc store_device_get(struct store *st, const char *id, struct store_device *out) TK_WUR;
/** Remove a device and (cascade, as SensorThings DELETE Thing does) its Datastreams and
 *  their Observations. TK_ENOTFOUND if unknown. */
enum tk_rc store_device_remove(struct store *st, const char *id) TK_WUR;
/** Call cb for each device ordered by id; a non-zero return from cb stops the walk and
 *  is returned. */
typedef int (*store_device_cb)(const struct store_device *dev, void *ud);
enum tk_rc store_device_list(struct store *st, store_device_cb cb, void *ud) TK_WUR;

/* ---- writing observations --------------------------------------------------- */

enum tk_rc store_begin(struct store *st) TK_WUR;
/** Commit; TK_OK means durable. TK_ENOSPC on a full disk, TK_EDB otherwise (the
 *  transaction is then rolled back). */
enum tk_rc store_commit(struct store *st) TK_WUR;
void store_rollback(struct store *st);

struct store_obs {
    int64_t ds_id;
    int64_t t_us;      /* phenomenonTime (start of an interval), UTC microseconds */
    int64_t t_end_us;  /* end of an interval phenomenonTime, or 0 for an instant */
    int64_t result_time_us; /* resultTime; 0 = same as t_us */
    double result;
    const char *params; /* JSON object text for SensorThings "parameters", or NULL (borrowed) */
    int64_t id;         /* out: the Observation's @iot.id */
};

/** Add one observation inside a transaction. TK_EDUP when the datastream already has an
 *  observation at that phenomenonTime (absorbed: nothing written, o->id set to the
 *  existing one). */
enum tk_rc store_obs_add(struct store *st, struct store_obs *o) TK_WUR;

/* ---- per-device delivery state (the watermark of SPEC section 4) -------------- */

#define STORE_PENDING_MAX 256 /* seqs stored above a gap, per device */

struct store_seq_state {
    int known;        /* 0: never seen a reading from this device */
    uint32_t watermark; /* highest seq stored with no gap below it (valid if known) */
    uint32_t pending[STORE_PENDING_MAX]; /* seqs > watermark already stored, ascending in serial order */
    int npending;
    int64_t gap_since_us; /* when the oldest gap was first seen (0: no gap) */
    /* last people_flow cumulative counters, for gap filling and reset detection */
    int has_cum;
    uint32_t cum_seq;
    int64_t cum_ts_us, cum_in, cum_out;
};

/** Load a device's delivery state (all zero if none). */
enum tk_rc store_seq_load(struct store *st, const char *device_id,
                          struct store_seq_state *out) TK_WUR;
/** Save it, inside the same transaction as the observations it covers. */
enum tk_rc store_seq_save(struct store *st, const char *device_id,
                          const struct store_seq_state *s) TK_WUR;

/* ---- quarantine --------------------------------------------------------------- */

struct store_quarantine {
    int64_t received_us;
    const char *topic;      /* borrowed */
    const void *payload;    /* raw bytes, borrowed */
    size_t payload_len;
    const char *device_id;  /* from the topic if it parsed, else NULL */
    enum tk_rc code;
    const char *path;       /* JSON pointer of the offending field, "" for the whole message */
    const char *reason;     /* the rule broken */
    int64_t id;             /* out */
};
/** Store a refused message (inside a transaction). */
enum tk_rc store_quarantine_add(struct store *st, struct store_quarantine *q) TK_WUR;
/** Number of quarantined messages (for tests and metrics). */
enum tk_rc store_quarantine_count(struct store *st, int64_t *n) TK_WUR;

/* ---- reading -------------------------------------------------------------------- */

struct store_point {
    int64_t id;
    int64_t t_us, t_end_us, result_time_us;
    double result;
};

/** Observations of one datastream with from_us <= t < to_us, ascending (descending if
 *  desc), at most limit. Returns the number found in *n. Sees every committed row. */
enum tk_rc store_range(struct store *st, int64_t ds_id, int64_t from_us, int64_t to_us, int desc,
                       struct store_point *out, size_t limit, size_t *n) TK_WUR;

/** Latest observation (greatest phenomenonTime) of each datastream, constant time per
 *  datastream. found[i] = 0 when ds_ids[i] has none. */
/** The observation whose @iot.id is id (moved or staged): its point in *out and its
 *  datastream in *ds_id. TK_ENOTFOUND if there is none. */
enum tk_rc store_obs_get(struct store *st, int64_t id, struct store_point *out,
                         int64_t *ds_id) TK_WUR;

enum tk_rc store_latest(struct store *st, const int64_t *ds_ids, size_t n, struct store_point *out,
                        int *found) TK_WUR;

enum store_interval { STORE_MINUTE = 0, STORE_HOUR, STORE_DAY };

struct store_agg {
    int64_t bucket_us; /* start of the bucket, UTC */
    int64_t count;
    double sum, min, max; /* avg = sum / count */
};

/** Aggregates per bucket for from_us <= bucket < to_us, answered from the rollups (not by
 *  scanning raw rows); buckets with no data are omitted. Equal to aggregates computed
 *  from the raw rows. */
enum tk_rc store_aggregate(struct store *st, int64_t ds_id, enum store_interval iv, int64_t from_us,
                           int64_t to_us, struct store_agg *out, size_t limit,
                           size_t *n) TK_WUR;

/** Housekeeping that may run between transactions (e.g. moving freshly written rows into
 *  their final place, folding them into rollups). Bounded work; safe to call often. */
enum tk_rc store_maintain(struct store *st) TK_WUR;
/** Retention: remove raw observations with phenomenonTime < obs_before_us and quarantined
 *  messages received before quarantine_before_us (0: keep that family forever), at most
 *  max_rows rows per call, so that it can run between ingest transactions. Rollups are
 *  kept (aggregates over a removed range keep answering), and so is the latest observation
 *  of every datastream, whatever its age. Staged rows are folded into the rollups before
 *  they go. Calls resume where the last one stopped (datastreams in turn); call again while
 *  *removed == max_rows. Runs in its own transaction unless inside store_begin.
 *  @param removed  rows removed by this call (may be NULL)
 *  @return TK_OK; TK_EINVAL for a NULL store; TK_EDB / TK_ENOSPC (rolled back) */
enum tk_rc store_retention(struct store *st, int64_t obs_before_us, int64_t quarantine_before_us,
                           size_t max_rows, size_t *removed) TK_WUR;
/** Like store_maintain, but move every staged row now whatever their number (tests,
 *  shutdown, before a backup). Its work grows with the number of staged rows. */
enum tk_rc store_flush(struct store *st) TK_WUR;

#endif
