/* SQLite schema and migrations.
 *
 * Design note: the observation layout
 * -----------------------------------
 * Readings arrive interleaved: one commit holds the newest reading of ~1,000 devices. A
 * table clustered by (datastream, time) is what reads want (a day of one stream is a few
 * consecutive pages), but filling it in arrival order touches one leaf page per row, and a
 * WAL commit writes every page it touched: ~75k rows/s at 1,000-row commits (FACTS.md).
 * So writes and reads get different tables, and store_maintain moves rows between them:
 *
 *   obs_staging   WITHOUT ROWID, PRIMARY KEY (batch, ds_id, t_us), batch = id >> 11.
 *                 Ids grow, so a commit only touches the newest batches: a few sequential
 *                 pages per 1,000 rows. Per datastream it is reached with one seek per
 *                 batch (the SQ_BATCHES_CTE join); at most stage_rows / 2048 batches.
 *                 A transaction's rows wait in memory and are written at commit (or
 *                 before a read or a lookup that must see them) in key order, by one
 *                 INSERT ... SELECT FROM tk_rows (sqlite_rows.c): a one-row INSERT
 *                 costs about 1 us of statement overhead besides its B-tree work.
 *   observations  WITHOUT ROWID, PRIMARY KEY (ds_id, t_us): the clustered main table.
 *                 store_maintain appends the staged rows to it sorted by (ds, t), once
 *                 stage_rows (default 262144) are waiting, so each stream's new rows land
 *                 together at the end of its range: ~1 page per stream per move instead of
 *                 one per row, again by one INSERT ... SELECT FROM tk_rows. The index on
 *                 id (unique by construction) keeps @iot.id stable and findable.
 *   latest_blocks the newest observation of each datastream, its FeatureOfInterest, and
 *                 staged_min, the oldest staged time of the stream (none: nothing
 *                 staged), 32 streams to a row (sqlite_latest.c). The writer keeps the
 *                 blocks it touches in memory and writes each once per commit, so a row's
 *                 cost is the staging INSERT alone. Since every row of a stream is
 *                 <= its latest t, and staged rows lie in [staged_min, t], a new row with
 *                 t > latest t cannot be a duplicate (the fast path); an older one is
 *                 checked against the main table's key and, only if in that window, the
 *                 staging. Reads skip the staging when the window misses their range.
 *   rollup_hour/day  (ds_id, bucket_us) -> n, total, lo, hi, folded in at each move
 *                 with one upsert per (ds, bucket).
 *   rollup_minute_slots  (ds_id, hour_us) -> the 60 minutes of that hour in one blob
 *                 (sqlite_rollup.c): one read-merge-write per (ds, hour) at a move, where
 *                 one row per minute cost an upsert per row with 1-minute readings.
 *                 store_aggregate adds the staged rows of the range on the fly, so
 *                 results equal the raw rows at any moment.
 *   obs_counter   the next Observation id and the staged row count, read at BEGIN
 *                 IMMEDIATE and written at COMMIT (several writer processes stay correct).
 *
 * Observation tables carry no foreign keys (a check per row would cost a seek per insert);
 * store_device_remove deletes a device's rows explicitly. Registry tables follow the
 * SensorThings v1.1 entities and use foreign keys with ON DELETE CASCADE as its DELETE
 * rules do. GeoJSON is stored as text, times as UTC microseconds.
 *
 * Versions (PRAGMA user_version), applied in order at open, each in one transaction:
 *   1  registry, observations written straight into the clustered table, latest,
 *      delivery state, quarantine.
 *   2  obs_staging, rollup tables backfilled from the existing observations,
 *      latest.staged_min_t, obs_counter.staged.
 *   3  rollup_minute rows folded into rollup_minute_slots (in C).
 *   4  latest rows folded into latest_blocks (in C).
 *   5  the all_observations view (observations UNION ALL obs_staging) for people
 *      reading the file with sqlite3.
 *   6  api_keys (API keys: only a SHA-256 of each key, found by a short non-secret prefix)
 *      and ingest_counters (the ingest's counters, written in its commits).
 *   7  obs_foi_ds: which FeaturesOfInterest the API's writes gave to Observations of
 *      which Datastreams (FeatureOfInterest -> Observations finds them without a scan).
 *   8  alerts of water-level gauges, their settings, what the platform last published
 *      to each gauge's config topic, and the latest device status (docs/alerts.md).
 *   9  sta_owners: who created which entity through the API, and private Things.
 *  10  latest_blocks entries rewritten in the packed layout (in C, sqlite_latest.c): a
 *      commit writes about half the bytes of latest it did.
 * A fresh database runs every step, so the migration path is the one always exercised. */
#include <stdio.h>

#include "sqlite_int.h"

static const char schema_v1[] =
    "CREATE TABLE things("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " properties TEXT,"       /* JSON object or NULL */
    " device_id TEXT UNIQUE," /* NULL for a Thing that is not a Takumi device */
    " kind TEXT,"             /* tk_kind_name() */
    " mount_height_m REAL,"
    " density REAL,"
    " transport TEXT,"
    " created_us INTEGER NOT NULL);"
    "CREATE TABLE locations("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " encoding_type TEXT NOT NULL DEFAULT 'application/geo+json',"
    " location TEXT NOT NULL);" /* GeoJSON geometry */
    "CREATE TABLE thing_locations("
    " thing_id INTEGER NOT NULL REFERENCES things(id) ON DELETE CASCADE,"
    " location_id INTEGER NOT NULL REFERENCES locations(id) ON DELETE CASCADE,"
    " PRIMARY KEY (thing_id, location_id)) WITHOUT ROWID;"
    "CREATE INDEX thing_locations_location ON thing_locations(location_id);"
    "CREATE TABLE historical_locations("
    " id INTEGER PRIMARY KEY,"
    " thing_id INTEGER NOT NULL REFERENCES things(id) ON DELETE CASCADE,"
    " time_us INTEGER NOT NULL);"
    "CREATE INDEX historical_locations_thing ON historical_locations(thing_id, time_us);"
    "CREATE TABLE historical_location_locations("
    " historical_location_id INTEGER NOT NULL REFERENCES historical_locations(id)"
    "  ON DELETE CASCADE,"
    " location_id INTEGER NOT NULL REFERENCES locations(id) ON DELETE CASCADE,"
    " PRIMARY KEY (historical_location_id, location_id)) WITHOUT ROWID;"
    "CREATE INDEX historical_location_locations_location"
    " ON historical_location_locations(location_id);"
    "CREATE TABLE sensors("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " encoding_type TEXT NOT NULL,"
    " metadata TEXT NOT NULL);"
    "CREATE TABLE observed_properties("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " definition TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " quantity INTEGER UNIQUE);" /* enum tk_quantity; NULL for one created through the API */
    "CREATE TABLE features_of_interest("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " encoding_type TEXT NOT NULL DEFAULT 'application/geo+json',"
    " feature TEXT NOT NULL,"
    " location_id INTEGER REFERENCES locations(id) ON DELETE SET NULL);"
    "CREATE INDEX features_of_interest_location ON features_of_interest(location_id);"
    "CREATE TABLE datastreams("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " unit_name TEXT NOT NULL,"
    " unit_symbol TEXT NOT NULL,"
    " unit_definition TEXT NOT NULL,"
    " observation_type TEXT NOT NULL,"
    " thing_id INTEGER NOT NULL REFERENCES things(id) ON DELETE CASCADE,"
    " sensor_id INTEGER NOT NULL REFERENCES sensors(id),"
    " observed_property_id INTEGER NOT NULL REFERENCES observed_properties(id),"
    " quantity INTEGER);"
    "CREATE INDEX datastreams_thing ON datastreams(thing_id, quantity);"
    "CREATE INDEX datastreams_sensor ON datastreams(sensor_id);"
    "CREATE INDEX datastreams_observed_property ON datastreams(observed_property_id);"
    "CREATE TABLE observations("
    " ds_id INTEGER NOT NULL,"
    " t_us INTEGER NOT NULL,"  /* phenomenonTime (start) */
    " id INTEGER NOT NULL,"    /* @iot.id */
    " t_end_us INTEGER,"       /* NULL: instant */
    " result_time_us INTEGER," /* NULL: same as t_us */
    " result REAL,"
    " params TEXT," /* JSON object or NULL */
    " foi_id INTEGER,"
    " PRIMARY KEY (ds_id, t_us)) WITHOUT ROWID;"
    "CREATE INDEX observations_id ON observations(id);" /* unique by construction */
    "CREATE TABLE latest("
    " ds_id INTEGER PRIMARY KEY,"
    " t_us INTEGER," /* NULL: no observation yet */
    " t_end_us INTEGER,"
    " result_time_us INTEGER,"
    " result REAL,"
    " id INTEGER,"
    " foi_id INTEGER);"
    "CREATE TABLE obs_counter(k INTEGER PRIMARY KEY CHECK (k = 0), next_id INTEGER NOT NULL);"
    "INSERT INTO obs_counter VALUES (0, 1);"
    "CREATE TABLE seq_state("
    " device_id TEXT PRIMARY KEY,"
    " watermark INTEGER NOT NULL,"
    " pending BLOB," /* npending uint32, little-endian */
    " gap_since_us INTEGER NOT NULL,"
    " has_cum INTEGER NOT NULL,"
    " cum_seq INTEGER NOT NULL,"
    " cum_ts_us INTEGER NOT NULL,"
    " cum_in INTEGER NOT NULL,"
    " cum_out INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE quarantine("
    " id INTEGER PRIMARY KEY,"
    " received_us INTEGER NOT NULL,"
    " topic TEXT,"
    " payload BLOB,"
    " device_id TEXT,"
    " code INTEGER NOT NULL,"
    " code_text TEXT,"
    " path TEXT,"
    " reason TEXT);"
    "CREATE INDEX quarantine_received ON quarantine(received_us);";

#define RU_TABLE(name, iv)                                                                         \
    "CREATE TABLE " name "("                                                                       \
    " ds_id INTEGER NOT NULL,"                                                                     \
    " bucket_us INTEGER NOT NULL,"                                                                 \
    " n INTEGER NOT NULL,"                                                                         \
    " total REAL NOT NULL,"                                                                        \
    " lo REAL NOT NULL,"                                                                           \
    " hi REAL NOT NULL,"                                                                           \
    " PRIMARY KEY (ds_id, bucket_us)) WITHOUT ROWID;"                                              \
    "INSERT INTO " name " SELECT ds_id, t_us - ((t_us % " iv ") + " iv ") % " iv ","               \
    " count(*), sum(result), min(result), max(result)"                                             \
    " FROM observations WHERE result IS NOT NULL GROUP BY 1, 2;"

static const char schema_v2[] =
    "CREATE TABLE obs_staging("
    " batch INTEGER NOT NULL," /* id >> SQ_BATCH_SHIFT */
    " ds_id INTEGER NOT NULL,"
    " t_us INTEGER NOT NULL,"
    " id INTEGER NOT NULL,"
    " t_end_us INTEGER,"
    " result_time_us INTEGER,"
    " result REAL,"
    " params TEXT," /* the FoI is added at the move, from latest */
    " PRIMARY KEY (batch, ds_id, t_us)) WITHOUT ROWID;"
    "ALTER TABLE latest ADD COLUMN staged_min_t INTEGER;"
    "ALTER TABLE obs_counter ADD COLUMN staged INTEGER NOT NULL DEFAULT 0;" RU_TABLE(
        "rollup_minute", "60000000") RU_TABLE("rollup_hour", "3600000000")
        RU_TABLE("rollup_day", "86400000000");

/* rollup_minute becomes one row of 60 minute slots per (ds, hour): a move upserts once
 * per stream-hour instead of once per stream-minute (with readings every minute, once
 * per row). The rows are converted in C (store_sqlite__migrate_v3) between the two. */
static const char schema_v3[] = "CREATE TABLE rollup_minute_slots("
                                " ds_id INTEGER NOT NULL,"
                                " hour_us INTEGER NOT NULL,"
                                " slots BLOB NOT NULL," /* see sqlite_rollup.c */
                                " PRIMARY KEY (ds_id, hour_us)) WITHOUT ROWID;";
static const char schema_v3_end[] = "DROP TABLE rollup_minute;";

/* latest rows become blocks of 32 streams (sqlite_latest.c), converted in C. */
static const char schema_v4[] = "CREATE TABLE latest_blocks(blk INTEGER PRIMARY KEY, data BLOB NOT NULL);";
static const char schema_v4_end[] = "DROP TABLE latest;";

/* For people reading the SQLite file directly (sqlite3 var/takumi.db): every committed
 * observation, wherever it currently lives. */
static const char schema_v5[] =
    "CREATE VIEW all_observations AS"
    " SELECT ds_id, t_us, id, t_end_us, result_time_us, result, params FROM observations"
    " UNION ALL"
    " SELECT ds_id, t_us, id, t_end_us, result_time_us, result, params FROM obs_staging;";

/* API keys (sqlite_apikey.c): the key itself is never stored, only its SHA-256; prefix is
 * its first characters, shown in listings and used to find the row. ingest_counters: the
 * ingest's running counters by name, rewritten in its normal commits, for the operator
 * view of the API (a reader sees the last committed values). */
static const char schema_v6[] =
    "CREATE TABLE api_keys("
    " id INTEGER PRIMARY KEY,"
    " prefix TEXT NOT NULL,"
    " hash BLOB NOT NULL," /* SHA-256 of the whole key */
    " owner TEXT NOT NULL,"
    " scopes TEXT NOT NULL," /* "read,write": see store_apikey_scopes_format */
    " rate_per_min INTEGER NOT NULL,"
    " created_us INTEGER NOT NULL,"
    " revoked_us INTEGER);" /* NULL: in force */
    "CREATE INDEX api_keys_prefix ON api_keys(prefix);"
    "CREATE TABLE ingest_counters("
    " name TEXT PRIMARY KEY,"
    " value INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX quarantine_device ON quarantine(device_id, received_us);";

/* Observations written through the API carry their FeatureOfInterest in foi_id (they go
 * straight to the clustered table, see sta_write.c); one row per (FoI, Datastream)
 * pair lets the FoI's Observations be found per Datastream by key. */
static const char schema_v7[] =
    "CREATE TABLE obs_foi_ds("
    " foi_id INTEGER NOT NULL,"
    " ds_id INTEGER NOT NULL,"
    " PRIMARY KEY (foi_id, ds_id)) WITHOUT ROWID;"
    "CREATE INDEX obs_foi_ds_ds ON obs_foi_ds(ds_id);";
/* Alerts (docs/alerts.md). Position, name and unit are copied into the alert when it is
 * raised: it describes where and what was observed then, and the API filters by area
 * without a join. Conditions, severities and events are the store.h enums. */
static const char schema_v8[] =
    "CREATE TABLE alert_config("
    " device_id TEXT PRIMARY KEY,"
    " caution_m REAL NOT NULL, warning_m REAL NOT NULL, danger_m REAL NOT NULL,"
    " rise_m_per_10min REAL NOT NULL, hysteresis_m REAL NOT NULL,"
    " silence_intervals INTEGER NOT NULL, interval_s INTEGER NOT NULL,"
    " fast_interval_s INTEGER NOT NULL, updated_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE alerts("
    " id INTEGER PRIMARY KEY,"
    " device_id TEXT NOT NULL, name TEXT NOT NULL, lat REAL, lon REAL,"
    " cond INTEGER NOT NULL, active INTEGER NOT NULL, event INTEGER NOT NULL,"
    " severity INTEGER NOT NULL, severity_max INTEGER NOT NULL,"
    " value REAL, threshold REAL,"
    " start_us INTEGER NOT NULL, end_us INTEGER," /* NULL while active */
    " peak_value REAL, peak_us INTEGER, updated_us INTEGER NOT NULL, rev INTEGER NOT NULL);"
    "CREATE INDEX alerts_device ON alerts(device_id, active);"
    "CREATE INDEX alerts_active ON alerts(active, id);"
    "CREATE TABLE alert_device("
    " device_id TEXT PRIMARY KEY, config_version INTEGER NOT NULL, fast INTEGER NOT NULL,"
    " fast_since_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE device_status("
    " device_id TEXT PRIMARY KEY, online INTEGER NOT NULL, fw TEXT, battery_v REAL,"
    " rssi_dbm INTEGER, received_us INTEGER NOT NULL) WITHOUT ROWID;";

/* Firm-private data (docs/api.md, Access): who created an entity through the API (the
 * key's owner), and for Things whether it is private (properties.access = "private").
 * Entities the city's own tools create have no row: public, changed by admin keys only.
 * Rows leave with their entity, so a reused id never inherits an owner. */
static const char schema_v9[] =
    "CREATE TABLE sta_owners("
    " entity INTEGER NOT NULL," /* enum store_sta_entity */
    " id INTEGER NOT NULL,"
    " owner TEXT NOT NULL,"
    " private INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (entity, id)) WITHOUT ROWID;"
    "CREATE INDEX sta_owners_private ON sta_owners(entity, private, owner);"
    "CREATE TRIGGER sta_owners_things AFTER DELETE ON things BEGIN"
    " DELETE FROM sta_owners WHERE entity = 0 AND id = old.id; END;"
    "CREATE TRIGGER sta_owners_locations AFTER DELETE ON locations BEGIN"
    " DELETE FROM sta_owners WHERE entity = 1 AND id = old.id; END;"
    "CREATE TRIGGER sta_owners_hlocations AFTER DELETE ON historical_locations BEGIN"
    " DELETE FROM sta_owners WHERE entity = 2 AND id = old.id; END;"
    "CREATE TRIGGER sta_owners_datastreams AFTER DELETE ON datastreams BEGIN"
    " DELETE FROM sta_owners WHERE entity = 3 AND id = old.id; END;"
    "CREATE TRIGGER sta_owners_sensors AFTER DELETE ON sensors BEGIN"
    " DELETE FROM sta_owners WHERE entity = 4 AND id = old.id; END;"
    "CREATE TRIGGER sta_owners_oproperties AFTER DELETE ON observed_properties BEGIN"
    " DELETE FROM sta_owners WHERE entity = 5 AND id = old.id; END;"
    "CREATE TRIGGER sta_owners_fois AFTER DELETE ON features_of_interest BEGIN"
    " DELETE FROM sta_owners WHERE entity = 7 AND id = old.id; END;";

struct migration {
    const char *sql;
    enum tk_rc (*convert)(struct sq_store *sq); /* NULL: none */
    const char *sql_end;                        /* NULL: none */
};

static const struct migration migrations[SQ_SCHEMA_VERSION] = {
    {schema_v1, NULL, NULL},
    {schema_v2, NULL, NULL},
    {schema_v3, store_sqlite__migrate_v3, schema_v3_end},
    {schema_v4, store_sqlite__migrate_v4, schema_v4_end},
    {schema_v5, NULL, NULL},
    {schema_v6, NULL, NULL},
    {schema_v7, NULL, NULL},
    {schema_v8, NULL, NULL},
    {schema_v9, NULL, NULL},
    {"", store_sqlite__migrate_v10, NULL},
};

static enum tk_rc exec_sql(struct sq_store *sq, const char *sql, const char *what)
{
    int src = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? TK_OK : store_sqlite__err(sq, src, what);
}

static enum tk_rc read_version(struct sq_store *sq, int *v)
{
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(sq->db, "PRAGMA user_version", -1, &s, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            *v = sqlite3_column_int(s, 0);
            src = SQLITE_OK;
        }
    }
    enum tk_rc rc = src == SQLITE_OK ? TK_OK : store_sqlite__err(sq, src, "reading user_version");
    sqlite3_finalize(s);
    return rc;
}

enum tk_rc store_sqlite__migrate(struct sq_store *sq)
{
    int v = 0;
    enum tk_rc rc = read_version(sq, &v);
    if (rc)
        return rc;
    if (v > SQ_SCHEMA_VERSION)
        return store__fail(&sq->base, TK_ESCHEMA,
                           "database schema version %d is newer than this program's (%d)", v,
                           SQ_SCHEMA_VERSION);
    if (v < SQ_SCHEMA_VERSION && sq->readonly)
        return store__fail(&sq->base, TK_ESCHEMA,
                           "database schema version %d needs migrating to %d; open it writable", v,
                           SQ_SCHEMA_VERSION);
    /* Each step re-reads the version under the write lock: another process may have
     * migrated in between. */
    while (v < SQ_SCHEMA_VERSION) {
        char setv[40];
        rc = exec_sql(sq, "BEGIN IMMEDIATE", "starting a migration");
        if (rc)
            return rc;
        rc = read_version(sq, &v);
        if (!rc && v < SQ_SCHEMA_VERSION) {
            snprintf(setv, sizeof setv, "PRAGMA user_version = %d", v + 1);
            const struct migration *m = &migrations[v];
            rc = exec_sql(sq, m->sql, "migrating the schema");
            if (!rc && m->convert)
                rc = m->convert(sq);
            if (!rc && m->sql_end)
                rc = exec_sql(sq, m->sql_end, "migrating the schema");
            if (!rc)
                rc = exec_sql(sq, setv, "setting user_version");
        }
        if (!rc)
            rc = exec_sql(sq, "COMMIT", "committing a migration");
        if (rc) {
            if (!sqlite3_get_autocommit(sq->db))
                (void)sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        if (v < SQ_SCHEMA_VERSION)
            v++;
    }
    sq->version = v;
    return TK_OK;
}
