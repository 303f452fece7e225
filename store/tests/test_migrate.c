/* Migration: a database made by hand with the version-1 schema (a frozen copy: SQLite
 * schema_v1.sql, PostgreSQL pg_schema_v1.sql) and data is opened, migrated to the current
 * version, and its data is intact: the same rows and ids, aggregates from the rollups
 * (SQLite: backfilled by the migrations; PostgreSQL: kept since version 1) equal to the
 * raw rows, new ids continuing after the old ones, duplicates of old rows detected, a new
 * device added. With the argument "pg", against the empty PostgreSQL database in
 * TK_TEST_PG_URI (ctest store_migrate_pg, under tests/pg/pgserver.py), where the
 * registry's JSON documents of version 1 (jsonb text) are also rewritten compact. */
#include "store_test_util.h"

#ifndef SCHEMA_V1_SQL
#error "SCHEMA_V1_SQL must name schema_v1.sql"
#endif
#ifndef PG_SCHEMA_V1_SQL
#error "PG_SCHEMA_V1_SQL must name pg_schema_v1.sql"
#endif

#define SQLITE_VERSION_NOW 10
#define PG_VERSION_NOW 4

#define NOBS 3000

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
        buf[n] = 0;
    else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s\n  in: %.200s\n", err, sql);
    sqlite3_free(err);
    return rc;
}

static double v1_value(int i)
{
    return (double)((i * 37) % 200) * 0.5 - 20;
}

/* A version-1 database: one water-level Thing with two Datastreams (ids 1, 2) and NOBS
 * observations of ds 1 every 90 s (ids 1..NOBS), as version 1 wrote them. */
static int make_v1(const char *path)
{
    sqlite3 *db = NULL;
    char *schema = read_file(SCHEMA_V1_SQL);
    int rc = schema ? sqlite3_open(path, &db) : SQLITE_ERROR;
    if (rc == SQLITE_OK)
        rc = exec(db, "BEGIN");
    if (rc == SQLITE_OK)
        rc = exec(db, schema);
    if (rc == SQLITE_OK)
        rc = exec(
            db,
            "INSERT INTO things VALUES (1, 'wl-old-0001', 'water_level device wl-old-0001',"
            " '{\"kind\":\"water_level\"}', 'wl-old-0001', 'water_level', 1.5, NULL, 'mqtt',"
            " 1700000000000000);"
            "INSERT INTO locations VALUES (1, 'wl-old-0001', '', 'application/geo+json',"
            " '{\"type\":\"Point\",\"coordinates\":[136.9,35.1]}');"
            "INSERT INTO thing_locations VALUES (1, 1);"
            "INSERT INTO historical_locations VALUES (1, 1, 1700000000000000);"
            "INSERT INTO historical_location_locations VALUES (1, 1);"
            "INSERT INTO sensors VALUES (1, 'wl-old-0001 sensor', '', 'application/json', '{}');"
            "INSERT INTO observed_properties VALUES (1, 'water_level', 'x', '', 0),"
            " (2, 'battery_voltage', 'x', '', 1);"
            "INSERT INTO features_of_interest VALUES (1, 'wl-old-0001', '',"
            " 'application/geo+json', '{\"type\":\"Point\",\"coordinates\":[136.9,35.1]}', 1);"
            "INSERT INTO datastreams VALUES (1, 'wl-old-0001 water_level', '', 'metre', 'm', 'u',"
            " 'o', 1, 1, 1, 0), (2, 'wl-old-0001 battery_voltage', '', 'volt', 'V', 'u', 'o',"
            " 1, 1, 2, 1);"
            "INSERT INTO latest (ds_id, foi_id) VALUES (1, 1), (2, 1);");
    sqlite3_stmt *s = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO observations (ds_id, t_us, id, result, foi_id)"
                                " VALUES (1, ?1, ?2, ?3, 1)",
                                -1, &s, NULL);
    for (int i = 0; rc == SQLITE_OK && i < NOBS; i++) {
        sqlite3_bind_int64(s, 1, T0 + (int64_t)i * 90000000);
        sqlite3_bind_int64(s, 2, i + 1);
        sqlite3_bind_double(s, 3, v1_value(i));
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE latest SET t_us = %lld, result = %.17g, id = %d WHERE ds_id = 1;"
             "UPDATE obs_counter SET next_id = %d; PRAGMA user_version = 1; COMMIT",
             (long long)(T0 + (int64_t)(NOBS - 1) * 90000000), v1_value(NOBS - 1), NOBS, NOBS + 1);
    if (rc == SQLITE_OK)
        rc = exec(db, sql);
    sqlite3_close(db);
    free(schema);
    return rc;
}

static void put_le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Versions 4 to 9 stored latest entries as fixed 8-byte fields; version 10 packs them.
 * Block 0 of the migrated database is replaced by one in the old layout (ds 1: every
 * field set; ds 2: registered with a FeatureOfInterest, no observation), the version set
 * back to 9, and the store must read the same values after migrating. */
static void check_v9_latest(const char *path)
{
    const int64_t t = T0 + 4 * DAY_US, t_end = t + 60000000, rt = t + 5000000;
    const double result = 12.625;
    unsigned char blob[2 * 2 + 40 + 3 * 8], *q = blob;
    uint64_t r;
    memcpy(&r, &result, sizeof r);
    *q++ = 1;             /* slot of ds 1 */
    *q++ = 1 | 2 | 4 | 8; /* exists, t, FoI, staged */
    put_le(q, (uint64_t)t);
    put_le(q + 8, (uint64_t)t_end);
    put_le(q + 16, (uint64_t)rt);
    put_le(q + 24, r);
    put_le(q + 32, 123456789);
    put_le(q + 40, 7);                          /* FoI */
    put_le(q + 48, (uint64_t)(t - 3600000000)); /* staged_min */
    q += 56;
    *q++ = 2;
    *q++ = 1 | 4;
    put_le(q, 7);
    q += 8;
    int len = (int)(q - blob);

    sqlite3 *db;
    sqlite3_stmt *s = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(
        sqlite3_prepare_v2(db, "UPDATE latest_blocks SET data = ?1 WHERE blk = 0", -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_blob(s, 1, blob, len, SQLITE_STATIC);
    CHECK_EQ_INT(sqlite3_step(s), SQLITE_DONE);
    CHECK_EQ_INT(sqlite3_changes(db), 1);
    sqlite3_finalize(s);
    CHECK_EQ_INT(exec(db, "PRAGMA user_version = 9"), SQLITE_OK);
    sqlite3_close(db);

    struct store *st = NULL;
    CHECK_EQ_INT(store_open(path, NULL, &st), TK_OK);
    if (!st)
        return;
    CHECK_EQ_INT(store_schema_version(st), 10);
    int64_t ids[2] = {1, 2};
    struct store_point p[2];
    int found[2] = {0, 0};
    CHECK_EQ_INT(store_latest(st, ids, 2, p, found), TK_OK);
    CHECK(found[0] && !found[1]);
    CHECK(p[0].id == 123456789 && p[0].t_us == t && p[0].t_end_us == t_end &&
          p[0].result_time_us == rt && p[0].result == result);
    /* a row older than the latest is checked against both tables, a newer one is new */
    struct store_obs o = {.ds_id = 1, .t_us = t + MIN_US, .result = 1};
    CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
    CHECK_EQ_INT(store_latest(st, ids, 1, p, found), TK_OK);
    CHECK(found[0] && p[0].id == o.id && p[0].t_us == t + MIN_US);
    store_close(st);

    /* stored packed now, in fewer bytes */
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(
        sqlite3_prepare_v2(db, "SELECT data FROM latest_blocks WHERE blk = 0", -1, &s, NULL),
        SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(s), SQLITE_ROW);
    const unsigned char *d = sqlite3_column_blob(s, 0);
    CHECK(d && sqlite3_column_bytes(s, 0) < len && d[0] == 1 && (d[1] & 0x80));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static int pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s  in: %.200s\n", PQerrorMessage(c), sql);
    PQclear(r);
    return ok ? 0 : -1;
}

/* The same on PostgreSQL at version 1, as its registry and writer wrote it: identity ids,
 * the registry's documents as jsonb text, weekly partitions, the rollups and latest kept
 * at commit, ids taken from obs_id_seq in blocks of 1024 (1, 1025, 2049). */
static int make_v1_pg(const char *uri)
{
    char *schema = read_file(PG_SCHEMA_V1_SQL);
    PGconn *c = PQconnectdb(uri);
    int rc = schema && PQstatus(c) == CONNECTION_OK ? 0 : -1;
    if (rc)
        fprintf(stderr, "make_v1_pg: %s\n", schema ? PQerrorMessage(c) : "no schema file");
    if (!rc)
        rc = pg_exec(c, "BEGIN");
    if (!rc)
        rc = pg_exec(c, schema);
    if (!rc)
        rc = pg_exec(
            c,
            "CREATE TABLE schema_version(v integer NOT NULL); INSERT INTO schema_version VALUES (1);"
            "INSERT INTO things (name, description, properties, device_id, kind, mount_height_m,"
            " density, transport, created_us) VALUES ('wl-old-0001', 'water_level device"
            " wl-old-0001', jsonb_build_object('kind', 'water_level', 'transport', 'mqtt',"
            " 'mount_height_m', 1.5::float8, 'density_kg_m3', NULL::float8)::text, 'wl-old-0001',"
            " 'water_level', 1.5, NULL, 'mqtt', 1700000000000000);"
            "INSERT INTO locations (name, description, encoding_type, location) VALUES"
            " ('wl-old-0001', '', 'application/geo+json', jsonb_build_object('type', 'Point',"
            " 'coordinates', jsonb_build_array(136.9::float8, 35.1::float8))::text);"
            "INSERT INTO thing_locations VALUES (1, 1);"
            "INSERT INTO historical_locations (thing_id, time_us) VALUES (1, 1700000000000000);"
            "INSERT INTO historical_location_locations VALUES (1, 1);"
            "INSERT INTO sensors (name, description, encoding_type, metadata) VALUES"
            " ('wl-old-0001 sensor', '', 'application/json', jsonb_build_object('device_id',"
            " 'wl-old-0001', 'kind', 'water_level', 'transport', 'mqtt')::text);"
            "INSERT INTO observed_properties (name, definition, description, quantity) VALUES"
            " ('water_level', 'x', '', 0), ('battery_voltage', 'x', '', 1);"
            "INSERT INTO features_of_interest (name, description, encoding_type, feature,"
            " location_id) SELECT 'wl-old-0001', '', 'application/geo+json', location, 1"
            " FROM locations;"
            "INSERT INTO datastreams (name, description, unit_name, unit_symbol, unit_definition,"
            " observation_type, thing_id, sensor_id, observed_property_id, quantity) VALUES"
            " ('wl-old-0001 water_level', '', 'metre', 'm', 'u', 'o', 1, 1, 1, 0),"
            " ('wl-old-0001 battery_voltage', '', 'volt', 'V', 'u', 'o', 1, 1, 2, 1);"
            "INSERT INTO latest (ds_id, foi_id) VALUES (1, 1), (2, 1);"
            "SELECT nextval('obs_id_seq'), nextval('obs_id_seq'), nextval('obs_id_seq');");
    const int64_t last = T0 + (int64_t)(NOBS - 1) * 90000000, week = 7 * DAY_US;
    for (int64_t p = T0 / week; !rc && p <= last / week; p++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "CREATE TABLE obs_p%" PRId64 " PARTITION OF observations FOR VALUES FROM (%" PRId64
                 ") TO (%" PRId64 ")",
                 p, p * week, (p + 1) * week);
        rc = pg_exec(c, sql);
    }
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO observations (ds_id, t_us, id, result, foi_id) SELECT 1,"
             " %" PRId64 " + i * 90000000, i + 1, ((i * 37) %% 200) * 0.5 - 20, 1"
             " FROM generate_series(0::bigint, %d) i;"
             "INSERT INTO rollup_minute SELECT ds_id, t_us - t_us %% 60000000, count(*),"
             " sum(result), min(result), max(result) FROM observations GROUP BY 1, 2;"
             "INSERT INTO rollup_hour SELECT ds_id, t_us - t_us %% 3600000000, count(*),"
             " sum(result), min(result), max(result) FROM observations GROUP BY 1, 2;"
             "INSERT INTO rollup_day SELECT ds_id, t_us - t_us %% 86400000000, count(*),"
             " sum(result), min(result), max(result) FROM observations GROUP BY 1, 2;"
             "UPDATE latest l SET t_us = o.t_us, result = o.result, id = o.id FROM observations o"
             " WHERE l.ds_id = 1 AND o.ds_id = 1 AND o.id = %d;"
             "COMMIT",
             T0, NOBS - 1, NOBS);
    if (!rc)
        rc = pg_exec(c, sql);
    PQfinish(c);
    free(schema);
    return rc;
}

/* Makes the database claim schema version v. */
static int set_version(int pg, const char *uri, int v)
{
    char sql[64];
    if (!pg) {
        sqlite3 *db = NULL;
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
        int rc = sqlite3_open(uri + 7, &db) == SQLITE_OK ? exec(db, sql) : SQLITE_ERROR;
        sqlite3_close(db);
        return rc == SQLITE_OK ? 0 : -1;
    }
    PGconn *c = PQconnectdb(uri);
    snprintf(sql, sizeof sql, "UPDATE schema_version SET v = %d", v);
    int rc = PQstatus(c) == CONNECTION_OK ? pg_exec(c, sql) : -1;
    PQfinish(c);
    return rc;
}

int main(int argc, char **argv)
{
    struct tmpdb t = {{0}, {0}};
    char uri[1024];
    int pg = test_store_uri(argc, argv, &t, uri, sizeof uri);
    const int now = pg ? PG_VERSION_NOW : SQLITE_VERSION_NOW;
    if (pg)
        CHECK_EQ_INT(make_v1_pg(uri), 0);
    else
        CHECK_EQ_INT(make_v1(t.path), SQLITE_OK);

    /* read-only cannot migrate */
    struct store *st = NULL;
    struct store_options ro = {.readonly = 1};
    CHECK_EQ_INT(store_open(uri, &ro, &st), TK_ESCHEMA);
    CHECK(st == NULL);

    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    if (!st)
        return tk_check_result("store_migrate");
    CHECK_EQ_INT(store_schema_version(st), now);
    /* the registry reads back */
    struct store_device d;
    CHECK_EQ_INT(store_device_get(st, "wl-old-0001", &d), TK_OK);
    CHECK_EQ_INT(d.ds[TK_Q_WATER_LEVEL], 1);
    CHECK_EQ_INT(d.ds[TK_Q_BATTERY_VOLTAGE], 2);
    CHECK(d.lat == 35.1 && d.lon == 136.9 && d.mount_height_m == 1.5);

    /* every row with its id */
    static struct store_point p[NOBS + 10];
    size_t n = 0;
    CHECK_EQ_INT(store_range(st, 1, 0, INT64_MAX, 0, p, NOBS + 10, &n), TK_OK);
    CHECK_EQ_INT(n, NOBS);
    int same = 1;
    for (size_t i = 0; i < n && same; i++)
        same = p[i].id == (int64_t)i + 1 && p[i].t_us == T0 + (int64_t)i * 90000000 &&
               p[i].result == v1_value((int)i);
    CHECK(same);

    /* rollups were backfilled: hourly aggregates equal the raw rows */
    static struct store_agg a[200];
    CHECK_EQ_INT(store_aggregate(st, 1, STORE_HOUR, 0, INT64_MAX, a, 200, &n), TK_OK);
    CHECK_EQ_INT(n, (NOBS * 90 + 3599) / 3600);
    int64_t total = 0;
    int agg_ok = 1;
    for (size_t b = 0; b < n; b++) {
        int64_t cnt = 0;
        double sum = 0, lo = 1e300, hi = -1e300;
        for (int i = 0; i < NOBS; i++) {
            int64_t ts = T0 + (int64_t)i * 90000000;
            if (ts - (ts % HOUR_US) != a[b].bucket_us)
                continue;
            cnt++;
            sum += v1_value(i);
            lo = v1_value(i) < lo ? v1_value(i) : lo;
            hi = v1_value(i) > hi ? v1_value(i) : hi;
        }
        agg_ok &= cnt == a[b].count && sum == a[b].sum && lo == a[b].min && hi == a[b].max;
        total += a[b].count;
    }
    CHECK(agg_ok);
    CHECK_EQ_INT(total, NOBS);
    CHECK_EQ_INT(store_aggregate(st, 1, STORE_DAY, 0, INT64_MAX, a, 200, &n), TK_OK);
    CHECK_EQ_INT(n, 4); /* 3000 * 90 s = 3.125 days from midnight */
    /* minute rollups (converted to hour rows of minute slots by version 3): one row every
     * 90 s is one bucket per row */
    static struct store_agg am[NOBS + 10];
    CHECK_EQ_INT(store_aggregate(st, 1, STORE_MINUTE, 0, INT64_MAX, am, NOBS + 10, &n), TK_OK);
    CHECK_EQ_INT(n, NOBS);
    int min_ok = n == NOBS;
    for (size_t i = 0; min_ok && i < n; i++) {
        int64_t ts = T0 + (int64_t)i * 90000000;
        min_ok = am[i].bucket_us == ts - ts % MIN_US && am[i].count == 1 &&
                 am[i].sum == v1_value((int)i) && am[i].min == v1_value((int)i) &&
                 am[i].max == v1_value((int)i);
    }
    CHECK(min_ok);
    CHECK_EQ_INT(store_aggregate(st, 1, STORE_MINUTE, T0 + 30 * MIN_US, T0 + 60 * MIN_US, am, 5,
                                 &n),
                 TK_OK);
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(am[0].bucket_us, T0 + 30 * MIN_US);
    CHECK_EQ_INT(am[4].bucket_us, T0 + 36 * MIN_US);

    /* old rows are found by id */
    int64_t ds_of = 0;
    CHECK_EQ_INT(store_obs_get(st, 2, p, &ds_of), TK_OK);
    CHECK(ds_of == 1 && p[0].t_us == T0 + 90000000 && p[0].result == v1_value(1));

    /* old rows are duplicates; new ids continue after the old ones */
    struct store_obs o = {.ds_id = 1, .t_us = T0 + 90000000, .result = 0};
    CHECK_EQ_INT(store_obs_add(st, &o), TK_EDUP);
    CHECK_EQ_INT(o.id, 2);
    o.t_us = T0 + (int64_t)NOBS * 90000000;
    CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
    if (pg)
        CHECK(o.id > NOBS); /* the next block of the sequence */
    else
        CHECK_EQ_INT(o.id, NOBS + 1);
    int found = 0;
    CHECK_EQ_INT(store_latest(st, &o.ds_id, 1, p, &found), TK_OK);
    CHECK(found && p[0].id == o.id);
    CHECK_EQ_INT(store_flush(st), TK_OK);
    CHECK_EQ_INT(store_aggregate(st, 1, STORE_DAY, 0, INT64_MAX, a, 200, &n), TK_OK);
    total = 0;
    for (size_t b = 0; b < n; b++)
        total += a[b].count;
    CHECK_EQ_INT(total, NOBS + 1);

    /* a new device gets ids of its own next to the old ones */
    struct store_device nd = test_device("wl-new-0001", TK_KIND_WATER_LEVEL, 35.2, 137);
    CHECK_EQ_INT(store_device_add(st, &nd, &nd), TK_OK);
    CHECK(nd.thing_id > 1 && nd.ds[TK_Q_WATER_LEVEL] > 2);
    CHECK_EQ_INT(store_device_get(st, "wl-old-0001", &d), TK_OK);
    CHECK_EQ_INT(d.thing_id, 1);
    store_close(st);

    if (pg) {
        /* version 4 rewrote version 1's registry documents as the registry writes them now */
        char buf[256];
        CHECK_EQ_INT(test_sql_text(uri, "SELECT properties FROM things WHERE id = 1", buf,
                                   sizeof buf),
                     0);
        CHECK_EQ_STR(buf, "{\"kind\":\"water_level\",\"transport\":\"mqtt\","
                          "\"mount_height_m\":1.5,\"density_kg_m3\":null}");
        CHECK_EQ_INT(test_sql_text(uri, "SELECT location FROM locations WHERE id = 1", buf,
                                   sizeof buf),
                     0);
        CHECK_EQ_STR(buf, "{\"type\":\"Point\",\"coordinates\":[136.9,35.1]}");
        CHECK_EQ_INT(test_sql_text(uri, "SELECT feature FROM features_of_interest WHERE id = 1",
                                   buf, sizeof buf),
                     0);
        CHECK_EQ_STR(buf, "{\"type\":\"Point\",\"coordinates\":[136.9,35.1]}");
        CHECK_EQ_INT(test_sql_text(uri, "SELECT metadata FROM sensors WHERE id = 1", buf,
                                   sizeof buf),
                     0);
        CHECK_EQ_STR(buf, "{\"device_id\":\"wl-old-0001\",\"kind\":\"water_level\","
                          "\"transport\":\"mqtt\"}");
    }

    /* opening again does not migrate twice; a newer schema is refused */
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    CHECK_EQ_INT(store_schema_version(st), now);
    store_close(st);
    if (!pg)
        check_v9_latest(t.path);
    CHECK_EQ_INT(set_version(pg, uri, 99), 0);
    st = NULL;
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_ESCHEMA);
    CHECK(st == NULL);

    if (!pg)
        tmpdb_remove(&t);
    return tk_check_result("store_migrate");
}
