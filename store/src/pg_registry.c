/* PostgreSQL backend: the device registry as SensorThings v1.1 entities, the same entities
 * and links as the SQLite backend (see sqlite_registry.c); JSON texts are built by
 * row_to_json (PG_PROPS... in pg_int.h), so names are escaped correctly and the text is
 * SQLite's, byte for byte. Registry changes are rare: the
 * statements are sent as text with parameters rather than prepared. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "tk_time.h"

#define GEOJSON_POINT PG_POINT("$2::float8", "$3::float8")

/* Run sql; when id is not NULL the single value of its single row. *found (may be NULL)
 * says whether there was a row. */
static enum tk_rc one(struct pg_store *pg, const char *sql, int n, const char *const *vals,
                      int64_t *id, int *found, const char *what)
{
    PGresult *res = NULL;
    enum tk_rc rc = store_pg__query(pg, sql, n, vals, &res, what);
    if (rc)
        return rc;
    int got = PQntuples(res) > 0;
    if (found)
        *found = got;
    else if (id && !got)
        rc = store__fail(&pg->base, TK_EDB, "%s: no row returned", what);
    if (id && got)
        *id = store_pg__int(res, 0, 0);
    PQclear(res);
    return rc;
}

static enum tk_rc add_in_tx(struct pg_store *pg, const struct store_device *dev,
                            struct store_device *res)
{
    int found = 0;
    int64_t id;
    const char *v[10];
    struct pg_num a, b, c;
    v[0] = dev->id;
    enum tk_rc rc = one(pg, "SELECT id FROM things WHERE device_id = $1", 1, v, &id, &found,
                        "looking a device up");
    if (rc)
        return rc;
    if (found)
        return store__fail(&pg->base, TK_EDUP, "device %s exists", dev->id);

    const char *kind = tk_kind_name(dev->kind);
    const char *transport = dev->transport[0] ? dev->transport : "mqtt";
    const char *name = dev->name[0] ? dev->name : dev->id;
    char desc[256];

    *res = *dev;
    snprintf(res->name, sizeof res->name, "%s", name);
    snprintf(res->transport, sizeof res->transport, "%s", transport);
    memset(res->ds, 0, sizeof res->ds);
    if (!res->created_us)
        res->created_us = tk_now_utc_us();

    snprintf(desc, sizeof desc, "%s device %s", kind, dev->id);
    v[0] = name;
    v[1] = desc;
    v[2] = store_pg__fmt_i(&a, res->created_us);
    v[3] = dev->id;
    v[4] = kind;
    v[5] = dev->mount_height_m != 0 ? store_pg__fmt_d(&b, dev->mount_height_m) : NULL;
    v[6] = dev->density_kg_m3 != 0 ? store_pg__fmt_d(&c, dev->density_kg_m3) : NULL;
    v[7] = transport;
    rc = one(pg,
             "INSERT INTO things (name, description, properties, device_id, kind, mount_height_m,"
             " density, transport, created_us) VALUES ($1, $2, " PG_PROPS("$5::text", "$8::text",
                                                                       "$6::float8", "$7::float8")
             ", $4, $5, $6, $7, $8, $3) RETURNING id",
             8, v, &res->thing_id, NULL, "adding a Thing");
    if (rc)
        return rc;

    snprintf(desc, sizeof desc, "installation site of %s", dev->id);
    v[0] = dev->id;
    v[1] = store_pg__fmt_d(&a, dev->lon);
    v[2] = store_pg__fmt_d(&b, dev->lat);
    v[3] = desc;
    rc = one(pg,
             "INSERT INTO locations (name, description, encoding_type, location)"
             " VALUES ($1, $4, 'application/geo+json', " GEOJSON_POINT ") RETURNING id",
             4, v, &res->location_id, NULL, "adding a Location");
    if (rc)
        return rc;

    int64_t hl;
    struct pg_num t, l;
    v[0] = store_pg__fmt_i(&t, res->thing_id);
    v[1] = store_pg__fmt_i(&l, res->location_id);
    v[2] = store_pg__fmt_i(&a, res->created_us);
    rc = one(pg, "INSERT INTO thing_locations (thing_id, location_id) VALUES ($1, $2)", 2, v, NULL,
             NULL, "linking a Location");
    if (!rc)
        rc = one(pg,
                 "WITH h AS (INSERT INTO historical_locations (thing_id, time_us) VALUES ($1, $3)"
                 " RETURNING id) INSERT INTO historical_location_locations"
                 " (historical_location_id, location_id) SELECT id, $2::bigint FROM h"
                 " RETURNING historical_location_id",
                 3, v, &hl, NULL, "adding a HistoricalLocation");
    if (rc)
        return rc;

    int64_t sensor;
    char sname[TK_ID_MAX + 16];
    snprintf(sname, sizeof sname, "%s sensor", dev->id);
    snprintf(desc, sizeof desc, "%s sensor of device %s", kind, dev->id);
    v[0] = sname;
    v[1] = desc;
    v[2] = dev->id;
    v[3] = kind;
    v[4] = transport;
    rc = one(pg,
             "INSERT INTO sensors (name, description, encoding_type, metadata) VALUES ($1, $2,"
             " 'application/json', " PG_SENSOR_META("$3::text", "$4::text", "$5::text")
             ") RETURNING id",
             5, v, &sensor, NULL, "adding a Sensor");
    if (rc)
        return rc;

    int64_t foi;
    snprintf(desc, sizeof desc, "what %s observes at its installation site", dev->id);
    v[0] = dev->id;
    v[1] = store_pg__fmt_d(&a, dev->lon);
    v[2] = store_pg__fmt_d(&b, dev->lat);
    v[3] = desc;
    v[4] = store_pg__fmt_i(&l, res->location_id);
    rc = one(pg,
             "INSERT INTO features_of_interest (name, description, encoding_type, feature,"
             " location_id) VALUES ($1, $4, 'application/geo+json', " GEOJSON_POINT ", $5)"
             " RETURNING id",
             5, v, &foi, NULL, "adding a FeatureOfInterest");
    if (rc)
        return rc;

    enum tk_quantity qs[TK_Q_MAX];
    int nq = tk_kind_quantities(dev->kind, qs);
    for (int i = 0; i < nq; i++) {
        const struct tk_quantity_info *qi = tk_quantity_info(qs[i]);
        if (!qi)
            return store__fail(&pg->base, TK_EINVAL, "unknown quantity %d", (int)qs[i]);
        int64_t op;
        v[0] = qi->name;
        v[1] = qi->definition;
        v[2] = qi->description;
        v[3] = store_pg__fmt_i(&a, (int64_t)qs[i]);
        rc = one(pg,
                 "INSERT INTO observed_properties (name, definition, description, quantity)"
                 " VALUES ($1, $2, $3, $4) ON CONFLICT (quantity) DO NOTHING",
                 4, v, NULL, NULL, "adding an ObservedProperty");
        if (!rc)
            rc = one(pg, "SELECT id FROM observed_properties WHERE quantity = $1", 1, v + 3, &op,
                     NULL, "finding an ObservedProperty");
        if (rc)
            return rc;

        char dsname[TK_ID_MAX + 64];
        snprintf(dsname, sizeof dsname, "%s %s", dev->id, qi->name);
        snprintf(desc, sizeof desc, "%s at %s", qi->description, dev->id);
        struct pg_num s, o, q, f;
        const char *w[11] = {dsname,
                             desc,
                             qi->unit_name,
                             qi->unit_symbol,
                             qi->unit_def,
                             qi->obs_type,
                             store_pg__fmt_i(&t, res->thing_id),
                             store_pg__fmt_i(&s, sensor),
                             store_pg__fmt_i(&o, op),
                             store_pg__fmt_i(&q, (int64_t)qs[i]),
                             store_pg__fmt_i(&f, foi)};
        rc = one(pg,
                 "WITH d AS (INSERT INTO datastreams (name, description, unit_name, unit_symbol,"
                 " unit_definition, observation_type, thing_id, sensor_id, observed_property_id,"
                 " quantity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id)"
                 " INSERT INTO latest (ds_id, foi_id) SELECT id, $11::bigint FROM d RETURNING ds_id",
                 11, w, &res->ds[qs[i]], NULL, "adding a Datastream");
        if (rc)
            return rc;
    }
    return TK_OK;
}

enum tk_rc store_pg__device_add(struct store *st, const struct store_device *dev,
                                struct store_device *out)
{
    struct pg_store *pg = pg_of(st);
    struct store_device res;
    int nested;
    enum tk_rc rc = store_pg__write_enter(pg, &nested);
    if (rc)
        return rc;
    rc = add_in_tx(pg, dev, &res);
    if (rc == TK_EDUP) {
        (void)store_pg__write_leave(pg, nested, TK_OK);
        return rc;
    }
    rc = store_pg__write_leave(pg, nested, rc);
    if (!rc && out)
        *out = res;
    return rc;
}

enum tk_rc store_pg__device_get(struct store *st, const char *id, struct store_device *out)
{
    struct pg_store *pg = pg_of(st);
    if (pg->in_tx && pg->npend && store_pg__flush_rows(pg))
        return TK_EDB;
    memset(out, 0, sizeof *out);
    const char *v[1] = {id};
    PGresult *res = NULL;
    enum tk_rc rc = store_pg__query(
        pg,
        "SELECT t.id, t.name, t.kind, t.mount_height_m, t.density, t.transport, t.created_us,"
        " l.id, (l.location::jsonb -> 'coordinates' ->> 1)::float8,"
        " (l.location::jsonb -> 'coordinates' ->> 0)::float8,"
        " (SELECT string_agg(quantity || ':' || id, ',') FROM datastreams d"
        "  WHERE d.thing_id = t.id AND quantity IS NOT NULL)"
        " FROM things t LEFT JOIN thing_locations tl ON tl.thing_id = t.id"
        " LEFT JOIN locations l ON l.id = tl.location_id"
        " WHERE t.device_id = $1 ORDER BY l.id DESC LIMIT 1",
        1, v, &res, "reading a device");
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return store__fail(st, TK_ENOTFOUND, "no device %s", id);
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    out->thing_id = store_pg__int(res, 0, 0);
    snprintf(out->name, sizeof out->name, "%s", PQgetvalue(res, 0, 1));
    if (tk_kind_parse(PQgetvalue(res, 0, 2), &out->kind) != TK_OK)
        rc = store__fail(st, TK_EDB, "device %s has an unknown kind", id);
    out->mount_height_m = store_pg__real(res, 0, 3);
    out->density_kg_m3 = store_pg__real(res, 0, 4);
    snprintf(out->transport, sizeof out->transport, "%s", PQgetvalue(res, 0, 5));
    out->created_us = store_pg__int(res, 0, 6);
    out->location_id = store_pg__int(res, 0, 7);
    out->lat = store_pg__real(res, 0, 8);
    out->lon = store_pg__real(res, 0, 9);
    const char *p = PQgetvalue(res, 0, 10);
    while (*p) {
        char *end;
        long q = strtol(p, &end, 10);
        if (*end != ':')
            break;
        int64_t ds = strtoll(end + 1, &end, 10);
        if (q >= 0 && q < TK_Q_MAX)
            out->ds[q] = ds;
        p = *end == ',' ? end + 1 : end;
    }
    PQclear(res);
    return rc;
}

enum tk_rc store_pg__device_remove(struct store *st, const char *id)
{
    struct pg_store *pg = pg_of(st);
    int nested;
    enum tk_rc rc = store_pg__write_enter(pg, &nested);
    if (rc)
        return rc;
    if (pg->npend)
        rc = store_pg__flush_rows(pg);
    int64_t thing = 0;
    int found = 0;
    const char *v[1] = {id};
    if (!rc)
        rc = one(pg, "SELECT id FROM things WHERE device_id = $1 FOR UPDATE", 1, v, &thing,
                 &found, "looking a device up");
    if (!rc && !found) {
        (void)store_pg__write_leave(pg, nested, TK_OK);
        return store__fail(st, TK_ENOTFOUND, "no device %s", id);
    }
    struct pg_num t;
    v[0] = store_pg__fmt_i(&t, thing);
    /* observations carry no foreign key (a check per row would cost a lookup per insert):
     * the device's rows go explicitly; the Thing cascades to its Datastreams,
     * thing_locations and HistoricalLocations; Sensors, FeaturesOfInterest and Locations
     * no longer linked go with it. */
    static const char *const del[] = {
        "WITH d AS (SELECT id FROM datastreams WHERE thing_id = $1),"
        " o AS (DELETE FROM observations WHERE ds_id IN (SELECT id FROM d)),"
        " m AS (DELETE FROM rollup_minute WHERE ds_id IN (SELECT id FROM d)),"
        " h AS (DELETE FROM rollup_hour WHERE ds_id IN (SELECT id FROM d)),"
        " y AS (DELETE FROM rollup_day WHERE ds_id IN (SELECT id FROM d))"
        " DELETE FROM latest WHERE ds_id IN (SELECT id FROM d)",
        "CREATE TEMP TABLE IF NOT EXISTS tk_removed_links(kind int, id bigint) ON COMMIT DROP",
        "INSERT INTO tk_removed_links SELECT DISTINCT 0, sensor_id FROM datastreams"
        " WHERE thing_id = $1 UNION SELECT 1, location_id FROM thing_locations WHERE thing_id = $1",
        "DELETE FROM things WHERE id = $1",
        "DELETE FROM sensors WHERE id IN (SELECT id FROM tk_removed_links WHERE kind = 0)"
        " AND NOT EXISTS (SELECT 1 FROM datastreams WHERE sensor_id = sensors.id)",
        "DELETE FROM features_of_interest WHERE location_id IN"
        " (SELECT id FROM tk_removed_links WHERE kind = 1) AND NOT EXISTS"
        " (SELECT 1 FROM thing_locations WHERE location_id = features_of_interest.location_id)",
        "DELETE FROM locations WHERE id IN (SELECT id FROM tk_removed_links WHERE kind = 1)"
        " AND NOT EXISTS (SELECT 1 FROM thing_locations WHERE location_id = locations.id)",
        "DELETE FROM tk_removed_links",
    };
    for (size_t i = 0; !rc && i < sizeof del / sizeof del[0]; i++)
        rc = one(pg, del[i], strstr(del[i], "$1") ? 1 : 0, v, NULL, NULL, "removing a device");
    store_pg__ds_forget(pg);
    return store_pg__write_leave(pg, nested, rc);
}

enum tk_rc store_pg__device_list(struct store *st, store_device_cb cb, void *ud)
{
    struct pg_store *pg = pg_of(st);
    PGresult *res = NULL;
    /* ids first, so cb may call back into the store (even remove devices) */
    enum tk_rc rc = store_pg__query(
        pg, "SELECT device_id FROM things WHERE device_id IS NOT NULL ORDER BY device_id", 0,
        NULL, &res, "listing devices");
    if (rc)
        return rc;
    int n = PQntuples(res);
    for (int i = 0; !rc && i < n; i++) {
        struct store_device d;
        rc = store_pg__device_get(st, PQgetvalue(res, i, 0), &d);
        if (rc == TK_ENOTFOUND) { /* removed by an earlier callback */
            rc = TK_OK;
            continue;
        }
        if (!rc) {
            int r = cb(&d, ud);
            if (r) {
                PQclear(res);
                return (enum tk_rc)r;
            }
        }
    }
    PQclear(res);
    return rc;
}
