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
/** A page of device ids in id order: those after `after` ("" from the first), at most
 *  max, into ids; *n is how many. */
enum tk_rc store_device_ids(struct store *st, const char *after, char (*ids)[TK_ID_MAX + 1],
                            size_t max, size_t *n) TK_WUR;
/** The quantity (enum tk_quantity) Datastream ds_id measures into *quantity; -1 for a
 *  Datastream that measures none of them (created through the API). TK_ENOTFOUND if there
 *  is no such Datastream. */
enum tk_rc store_datastream_quantity(struct store *st, int64_t ds_id, int *quantity) TK_WUR;

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

struct store_quarantine_filter {
    const char *device_id; /* NULL: every device (and messages with none) */
    int64_t from_us, to_us; /* received_us in [from_us, to_us); 0, 0: any time */
    int64_t before_id;      /* only ids below it (the next page); 0: from the newest */
    size_t limit;           /* at most this many rows */
};
/** Quarantined messages matching f, newest first (descending id), each passed to cb with
 *  its fields borrowed for the call (code_text is in reason's place when no reason was
 *  stored); a non-zero return from cb stops the walk and is returned. Reads only. */
typedef int (*store_quarantine_cb)(const struct store_quarantine *q, void *ud);
enum tk_rc store_quarantine_list(struct store *st, const struct store_quarantine_filter *f,
                                 store_quarantine_cb cb, void *ud) TK_WUR;

/* ---- ingest counters (the operator view of the API reads them) ------------------ */

#define STORE_COUNTER_NAME_MAX 127 /* a shared worker's are "<client id>/<name>" */

struct store_counter {
    char name[STORE_COUNTER_NAME_MAX + 1]; /* "received", "quarantined", ... */
    int64_t value;
    int64_t updated_us; /* when it was written */
};

/** Write counters by name (insert or replace), inside the caller's transaction if there
 *  is one (the ingest writes them in its normal commit), else in their own. */
enum tk_rc store_counters_put(struct store *st, const struct store_counter *c, size_t n) TK_WUR;
/** Read up to max counters ordered by name; *n is how many. Reads only. */
enum tk_rc store_counters_get(struct store *st, struct store_counter *out, size_t max,
                              size_t *n) TK_WUR;

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

/* ---- alerts of water-level gauges (docs/alerts.md) ------------------------------ */

enum store_alert_cond { STORE_ALERT_LEVEL = 0, STORE_ALERT_RISE, STORE_ALERT_SILENCE, STORE_ALERT_NCOND };
enum store_alert_sev { STORE_SEV_NONE = 0, STORE_SEV_CAUTION, STORE_SEV_WARNING, STORE_SEV_DANGER };
enum store_alert_event {
    STORE_EV_RAISED = 0,
    STORE_EV_ESCALATED,
    STORE_EV_DEESCALATED,
    STORE_EV_CLEARED
};

/** "level", "rise", "silence" / "caution", "warning", "danger" / "raised", ...; NULL for
 *  a value out of range. */
const char *store_alert_cond_name(enum store_alert_cond c);
const char *store_alert_sev_name(enum store_alert_sev s);
const char *store_alert_event_name(enum store_alert_event e);
/** The enum value of a name (n bytes); -1 if none. */
int store_alert_cond_find(const char *s, size_t n);
int store_alert_sev_find(const char *s, size_t n);

/* Settings of one gauge: levels in metres above the pipe invert. */
struct store_alert_config {
    char device_id[TK_ID_MAX + 1];
    int is_set; /* 1: stored by an operator; 0: defaults derived from the calibration */
    double caution_m, warning_m, danger_m;
    double rise_m_per_10min; /* raise above, clear below half */
    double hysteresis_m;
    int64_t silence_intervals; /* expected intervals without a reading */
    int64_t interval_s, fast_interval_s;
    int64_t updated_us;
};

/** The defaults for dev (ids copied, is_set 0): levels at 50/70/85 % of an ultrasonic
 *  gauge's mount height, else 1.0/1.5/2.0 m; see docs/alerts.md. */
void store_alert_config_default(const struct store_device *dev, struct store_alert_config *out);
/** The rules JSON Schema cannot state (caution < warning < danger, hysteresis below
 *  the caution level and the gaps between levels, fast_interval_s <= interval_s) and
 *  the ranges. TK_EINVAL with err->path naming the member and err->text the rule. */
enum tk_rc store_alert_config_check(const struct store_alert_config *c,
                                    struct tk_error *err) TK_WUR;
/** Apply a JSON object of settings (schemas/alert-config.schema.json, any subset) onto *c
 *  and check the result. TK_EINVAL (err filled; *c may be partly changed) otherwise. */
enum tk_rc store_alert_config_parse(const char *buf, size_t len, struct store_alert_config *c,
                                    struct tk_error *err) TK_WUR;
/** c as JSON (with device_id and source) into buf; TK_EFULL if it does not fit. */
enum tk_rc store_alert_config_json(const struct store_alert_config *c, char *buf, size_t size,
                                   size_t *len) TK_WUR;
/** The stored settings of a device; TK_ENOTFOUND when none are stored. */
enum tk_rc store_alert_config_get(struct store *st, const char *device_id,
                                  struct store_alert_config *out) TK_WUR;
/** The stored settings, or the defaults of dev when none are stored. */
enum tk_rc store_alert_config_effective(struct store *st, const struct store_device *dev,
                                        struct store_alert_config *out) TK_WUR;
/** Store (replace) c->device_id's settings, stamping updated_us. Checks c first. */
enum tk_rc store_alert_config_put(struct store *st, const struct store_alert_config *c) TK_WUR;
/** A value that changes whenever any stored settings change (for reloading). */
enum tk_rc store_alert_config_stamp(struct store *st, int64_t *stamp) TK_WUR;

struct store_alert {
    int64_t id; /* assigned by store_alert_add */
    char device_id[TK_ID_MAX + 1];
    char name[128];
    double lat, lon;
    enum store_alert_cond cond;
    int active;
    enum store_alert_event event; /* the last change */
    enum store_alert_sev severity, severity_max;
    double value, threshold; /* in the condition's unit: m, m/10min, s */
    int64_t start_us, end_us; /* end_us 0 while active */
    double peak_value;
    int64_t peak_us, updated_us;
    int64_t rev; /* 1 when raised, +1 per published change */
};

/** Unit of a condition's values: "m", "m/10min", "s". */
const char *store_alert_unit(enum store_alert_cond c);
/** a as the JSON of schemas/alert.schema.json into buf; TK_EFULL if it does not fit. */
enum tk_rc store_alert_json(const struct store_alert *a, char *buf, size_t size,
                            size_t *len) TK_WUR;
/** Insert a new alert (inside a transaction or alone); sets a->id. */
enum tk_rc store_alert_add(struct store *st, struct store_alert *a) TK_WUR;
/** Write every field of an existing alert (by a->id). TK_ENOTFOUND if there is none. */
enum tk_rc store_alert_update(struct store *st, const struct store_alert *a) TK_WUR;
/** One alert by id; TK_ENOTFOUND if none. */
enum tk_rc store_alert_get(struct store *st, int64_t id, struct store_alert *out) TK_WUR;

struct store_alert_filter {
    int state;           /* -1 any, 1 active, 0 cleared */
    unsigned severities; /* bit (1u << severity) per wanted severity; 0: any */
    int cond;            /* -1 any, else enum store_alert_cond */
    const char *device_id; /* NULL: any (borrowed) */
    int has_bbox;
    double min_lon, min_lat, max_lon, max_lat;
    int64_t from_us, to_us; /* active at some time in [from, to); 0: open */
    int64_t skip, top;      /* top 0: no limit */
};
typedef int (*store_alert_cb)(const struct store_alert *a, void *ud);
/** Alerts matching f, newest (highest id) first, calling cb for each; a non-zero return
 *  stops the walk. *total (may be NULL) gets the number matching f without skip/top. */
enum tk_rc store_alert_list(struct store *st, const struct store_alert_filter *f,
                            store_alert_cb cb, void *ud, int64_t *total) TK_WUR;

/* What the platform last told a gauge (its retained config). */
struct store_alert_device {
    uint32_t config_version; /* 0: never published */
    int fast;                /* the published config asks for fast reporting */
    int64_t fast_since_us;
};
/** All zero if nothing was published yet. */
enum tk_rc store_alert_device_get(struct store *st, const char *device_id,
                                  struct store_alert_device *out) TK_WUR;
enum tk_rc store_alert_device_put(struct store *st, const char *device_id,
                                  const struct store_alert_device *d) TK_WUR;

/* ---- device health: the latest city/{kind}/{id}/status ------------------------ */

struct store_device_status {
    char device_id[TK_ID_MAX + 1];
    int online;
    char fw[32];
    int has_battery, has_rssi;
    double battery_v;
    int rssi_dbm;
    int64_t received_us;
};
enum tk_rc store_device_status_put(struct store *st, const struct store_device_status *s) TK_WUR;
/** TK_ENOTFOUND if the device never sent one. */
enum tk_rc store_device_status_get(struct store *st, const char *device_id,
                                   struct store_device_status *out) TK_WUR;

/* What a backend offers beyond readings, delivery state and quarantine (the SQLite and
 * PostgreSQL backends offer all of it): callers skip what is missing instead of failing. */
enum store_cap {
    STORE_CAP_ALERTS = 1u << 0,   /* alerts, their settings, device status */
    STORE_CAP_COUNTERS = 1u << 1, /* the ingest's counters (operator view) */
    STORE_CAP_KEYS = 1u << 2,     /* API keys */
};
/** The enum store_cap bits st's backend offers. */
unsigned store_caps(const struct store *st);

#endif
