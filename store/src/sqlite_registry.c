/* SQLite backend: the device registry as SensorThings v1.1 entities.
 *
 * A device is a Thing (device_id set) with one Location (GeoJSON Point) linked through
 * thing_locations and recorded as a HistoricalLocation, one Sensor, one FeatureOfInterest
 * at that location, and one Datastream per quantity of its kind, each linked to the shared
 * ObservedProperty of that quantity (created on first use). JSON texts are built by
 * SQLite's json_object(), so names are escaped correctly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "tk_time.h"

#define GEOJSON_POINT "json_object('type', 'Point', 'coordinates', json_array(?2, ?3))"

static const char *const reg_sql[REG_N] = {
    [REG_THING_FIND] = "SELECT id FROM things WHERE device_id = ?1",
    [REG_THING_INSERT] =
        "INSERT INTO things (name, description, properties, device_id, kind, mount_height_m,"
        " density, transport, created_us) VALUES (?1, ?2,"
        " json_object('kind', ?5, 'transport', ?8, 'mount_height_m', ?6, 'density_kg_m3', ?7),"
        " ?4, ?5, ?6, ?7, ?8, ?3)",
    [REG_LOCATION_INSERT] = "INSERT INTO locations (name, description, encoding_type, location)"
                            " VALUES (?1, ?4, 'application/geo+json', " GEOJSON_POINT ")",
    [REG_THING_LOCATION_INSERT] =
        "INSERT INTO thing_locations (thing_id, location_id) VALUES (?1, ?2)",
    [REG_HLOC_INSERT] = "INSERT INTO historical_locations (thing_id, time_us) VALUES (?1, ?2)",
    [REG_HLOC_LOCATION_INSERT] = "INSERT INTO historical_location_locations"
                                 " (historical_location_id, location_id) VALUES (?1, ?2)",
    [REG_SENSOR_INSERT] =
        "INSERT INTO sensors (name, description, encoding_type, metadata) VALUES (?1, ?2,"
        " 'application/json', json_object('device_id', ?3, 'kind', ?4, 'transport', ?5))",
    [REG_FOI_INSERT] =
        "INSERT INTO features_of_interest (name, description, encoding_type, feature, location_id)"
        " VALUES (?1, ?4, 'application/geo+json', " GEOJSON_POINT ", ?5)",
    [REG_OP_ENSURE] = "INSERT INTO observed_properties (name, definition, description, quantity)"
                      " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (quantity) DO NOTHING",
    [REG_OP_FIND] = "SELECT id FROM observed_properties WHERE quantity = ?1",
    [REG_DS_INSERT] =
        "INSERT INTO datastreams (name, description, unit_name, unit_symbol, unit_definition,"
        " observation_type, thing_id, sensor_id, observed_property_id, quantity)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [REG_DEVICE_GET] =
        "SELECT t.id, t.name, t.kind, t.mount_height_m, t.density, t.transport, t.created_us,"
        " l.id, json_extract(l.location, '$.coordinates[1]'),"
        " json_extract(l.location, '$.coordinates[0]')"
        " FROM things t LEFT JOIN thing_locations tl ON tl.thing_id = t.id"
        " LEFT JOIN locations l ON l.id = tl.location_id"
        " WHERE t.device_id = ?1 ORDER BY l.id DESC LIMIT 1",
    [REG_DEVICE_DS] = "SELECT quantity, id FROM datastreams WHERE thing_id = ?1",
    [REG_DEVICE_IDS] =
        "SELECT device_id FROM things WHERE device_id IS NOT NULL ORDER BY device_id",
    [REG_DEVICE_SENSORS] = "SELECT DISTINCT sensor_id FROM datastreams WHERE thing_id = ?1",
    [REG_DEVICE_LOCATIONS] = "SELECT location_id FROM thing_locations WHERE thing_id = ?1",
    [REG_DEL_OBS] = "DELETE FROM observations WHERE ds_id = ?1",
    [REG_DEL_STAGED] = "DELETE FROM obs_staging WHERE ds_id = ?1",
    [REG_DEL_RU_MINUTE] = "DELETE FROM rollup_minute_slots WHERE ds_id = ?1",
    [REG_DEL_RU_HOUR] = "DELETE FROM rollup_hour WHERE ds_id = ?1",
    [REG_DEL_RU_DAY] = "DELETE FROM rollup_day WHERE ds_id = ?1",
    [REG_DEL_THING] = "DELETE FROM things WHERE id = ?1",
    [REG_DEL_SENSOR] = "DELETE FROM sensors WHERE id = ?1"
                       " AND NOT EXISTS (SELECT 1 FROM datastreams WHERE sensor_id = ?1)",
    [REG_DEL_FOI] = "DELETE FROM features_of_interest WHERE location_id = ?1"
                    " AND NOT EXISTS (SELECT 1 FROM thing_locations WHERE location_id = ?1)",
    [REG_DEL_LOCATION] = "DELETE FROM locations WHERE id = ?1"
                         " AND NOT EXISTS (SELECT 1 FROM thing_locations WHERE location_id = ?1)",
};

enum tk_rc store_sqlite__registry_prepare(struct sq_store *sq)
{
    return store_sqlite__prepare(sq, sq->reg, reg_sql, REG_N);
}

/* Run an INSERT, return its rowid in *id. */
static enum tk_rc insert(struct sq_store *sq, sqlite3_stmt *s, int64_t *id, const char *what)
{
    enum tk_rc rc = store_sqlite__exec(sq, s, what);
    if (!rc && id)
        *id = sqlite3_last_insert_rowid(sq->db);
    return rc;
}

/* Single-integer lookup: 1 found, 0 not, -1 error (rc set). */
static int lookup_id(struct sq_store *sq, sqlite3_stmt *s, int64_t *id, enum tk_rc *rc)
{
    int src = sqlite3_step(s);
    int r = 0;
    if (src == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        r = 1;
    } else if (src != SQLITE_DONE) {
        *rc = store_sqlite__err(sq, src, "looking up an id");
        r = -1;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r;
}

static void bind_opt_double(sqlite3_stmt *s, int i, double v)
{
    if (v != 0)
        sqlite3_bind_double(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static enum tk_rc add_in_tx(struct sq_store *sq, const struct store_device *dev,
                            struct store_device *res)
{
    enum tk_rc rc = TK_OK;
    int64_t id;
    sqlite3_stmt *s = sq->reg[REG_THING_FIND];
    sqlite3_bind_text(s, 1, dev->id, -1, SQLITE_STATIC);
    int f = lookup_id(sq, s, &id, &rc);
    if (f < 0)
        return rc;
    if (f > 0)
        return store__fail(&sq->base, TK_EDUP, "device %s exists", dev->id);

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

    s = sq->reg[REG_THING_INSERT];
    snprintf(desc, sizeof desc, "%s device %s", kind, dev->id);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, desc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, res->created_us);
    sqlite3_bind_text(s, 4, dev->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, kind, -1, SQLITE_STATIC);
    bind_opt_double(s, 6, dev->mount_height_m);
    bind_opt_double(s, 7, dev->density_kg_m3);
    sqlite3_bind_text(s, 8, transport, -1, SQLITE_STATIC);
    rc = insert(sq, s, &res->thing_id, "adding a Thing");
    if (rc)
        return rc;

    s = sq->reg[REG_LOCATION_INSERT];
    snprintf(desc, sizeof desc, "installation site of %s", dev->id);
    sqlite3_bind_text(s, 1, dev->id, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 2, dev->lon);
    sqlite3_bind_double(s, 3, dev->lat);
    sqlite3_bind_text(s, 4, desc, -1, SQLITE_TRANSIENT);
    rc = insert(sq, s, &res->location_id, "adding a Location");
    if (rc)
        return rc;

    s = sq->reg[REG_THING_LOCATION_INSERT];
    sqlite3_bind_int64(s, 1, res->thing_id);
    sqlite3_bind_int64(s, 2, res->location_id);
    rc = insert(sq, s, NULL, "linking a Location");
    if (rc)
        return rc;

    int64_t hl;
    s = sq->reg[REG_HLOC_INSERT];
    sqlite3_bind_int64(s, 1, res->thing_id);
    sqlite3_bind_int64(s, 2, res->created_us);
    rc = insert(sq, s, &hl, "adding a HistoricalLocation");
    if (rc)
        return rc;
    s = sq->reg[REG_HLOC_LOCATION_INSERT];
    sqlite3_bind_int64(s, 1, hl);
    sqlite3_bind_int64(s, 2, res->location_id);
    rc = insert(sq, s, NULL, "linking a HistoricalLocation");
    if (rc)
        return rc;

    int64_t sensor;
    s = sq->reg[REG_SENSOR_INSERT];
    char sname[TK_ID_MAX + 16];
    snprintf(sname, sizeof sname, "%s sensor", dev->id);
    snprintf(desc, sizeof desc, "%s sensor of device %s", kind, dev->id);
    sqlite3_bind_text(s, 1, sname, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, desc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, dev->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, transport, -1, SQLITE_STATIC);
    rc = insert(sq, s, &sensor, "adding a Sensor");
    if (rc)
        return rc;

    int64_t foi;
    s = sq->reg[REG_FOI_INSERT];
    snprintf(desc, sizeof desc, "what %s observes at its installation site", dev->id);
    sqlite3_bind_text(s, 1, dev->id, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 2, dev->lon);
    sqlite3_bind_double(s, 3, dev->lat);
    sqlite3_bind_text(s, 4, desc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, res->location_id);
    rc = insert(sq, s, &foi, "adding a FeatureOfInterest");
    if (rc)
        return rc;

    enum tk_quantity qs[TK_Q_MAX];
    int nq = tk_kind_quantities(dev->kind, qs);
    for (int i = 0; i < nq; i++) {
        const struct tk_quantity_info *qi = tk_quantity_info(qs[i]);
        if (!qi)
            return store__fail(&sq->base, TK_EINVAL, "unknown quantity %d", (int)qs[i]);
        s = sq->reg[REG_OP_ENSURE];
        sqlite3_bind_text(s, 1, qi->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, qi->definition, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, qi->description, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 4, (int)qs[i]);
        rc = insert(sq, s, NULL, "adding an ObservedProperty");
        if (rc)
            return rc;
        int64_t op = 0;
        s = sq->reg[REG_OP_FIND];
        sqlite3_bind_int(s, 1, (int)qs[i]);
        f = lookup_id(sq, s, &op, &rc);
        if (f < 0)
            return rc;
        if (f == 0)
            return store__fail(&sq->base, TK_EDB, "ObservedProperty %s vanished", qi->name);

        char dsname[TK_ID_MAX + 64];
        snprintf(dsname, sizeof dsname, "%s %s", dev->id, qi->name);
        snprintf(desc, sizeof desc, "%s at %s", qi->description, dev->id);
        s = sq->reg[REG_DS_INSERT];
        sqlite3_bind_text(s, 1, dsname, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, desc, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, qi->unit_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, qi->unit_symbol, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, qi->unit_def, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, qi->obs_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 7, res->thing_id);
        sqlite3_bind_int64(s, 8, sensor);
        sqlite3_bind_int64(s, 9, op);
        sqlite3_bind_int(s, 10, (int)qs[i]);
        rc = insert(sq, s, &res->ds[qs[i]], "adding a Datastream");
        if (rc)
            return rc;
        struct sq_lt_entry *e;
        rc = store_sqlite__lt_entry(sq, res->ds[qs[i]], 1, &e);
        if (!rc)
            rc = store_sqlite__lt_touch(sq, res->ds[qs[i]]);
        if (rc)
            return rc;
        memset(e, 0, sizeof *e);
        e->flags = LT_EXISTS | LT_HAS_FOI;
        e->foi = foi;
    }
    return TK_OK;
}

enum tk_rc store_sqlite__device_add(struct store *st, const struct store_device *dev,
                                    struct store_device *out)
{
    struct sq_store *sq = sq_of(st);
    struct store_device res;
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 1);
    if (rc)
        return rc;
    rc = add_in_tx(sq, dev, &res);
    rc = store_sqlite__write_leave(sq, nested, rc);
    if (!rc && out)
        *out = res;
    return rc;
}

enum tk_rc store_sqlite__device_get(struct store *st, const char *id, struct store_device *out)
{
    struct sq_store *sq = sq_of(st);
    int own;
    enum tk_rc rc = store_sqlite__read_enter(sq, &own);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = sq->reg[REG_DEVICE_GET];
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        snprintf(out->id, sizeof out->id, "%s", id);
        out->thing_id = sqlite3_column_int64(s, 0);
        const char *name = (const char *)sqlite3_column_text(s, 1);
        snprintf(out->name, sizeof out->name, "%s", name ? name : "");
        const char *kind = (const char *)sqlite3_column_text(s, 2);
        if (!kind || tk_kind_parse(kind, &out->kind) != TK_OK)
            rc = store__fail(st, TK_EDB, "device %s has an unknown kind", id);
        out->mount_height_m = sqlite3_column_double(s, 3);
        out->density_kg_m3 = sqlite3_column_double(s, 4);
        const char *tr = (const char *)sqlite3_column_text(s, 5);
        snprintf(out->transport, sizeof out->transport, "%s", tr ? tr : "");
        out->created_us = sqlite3_column_int64(s, 6);
        out->location_id = sqlite3_column_int64(s, 7);
        out->lat = sqlite3_column_double(s, 8);
        out->lon = sqlite3_column_double(s, 9);
    } else if (src == SQLITE_DONE) {
        rc = store__fail(st, TK_ENOTFOUND, "no device %s", id);
    } else {
        rc = store_sqlite__err(sq, src, "reading a device");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);

    if (!rc) {
        s = sq->reg[REG_DEVICE_DS];
        sqlite3_bind_int64(s, 1, out->thing_id);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            int q = sqlite3_column_int(s, 0);
            if (sqlite3_column_type(s, 0) != SQLITE_NULL && q >= 0 && q < TK_Q_MAX)
                out->ds[q] = sqlite3_column_int64(s, 1);
        }
        if (src != SQLITE_DONE)
            rc = store_sqlite__err(sq, src, "reading a device's datastreams");
        sqlite3_reset(s);
    }
    store_sqlite__read_leave(sq, own);
    return rc;
}

/* Collect column col of what a query returns for ?1 = key. */
static enum tk_rc collect(struct sq_store *sq, sqlite3_stmt *s, int col, int64_t key, int64_t *ids,
                          int cap, int *n)
{
    *n = 0;
    sqlite3_bind_int64(s, 1, key);
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW)
        if (*n < cap)
            ids[(*n)++] = sqlite3_column_int64(s, col);
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return store_sqlite__err(sq, src, "collecting ids");
    return *n == cap ? store__fail(&sq->base, TK_EFULL, "too many linked entities") : TK_OK;
}

static enum tk_rc exec_id(struct sq_store *sq, int stmt, int64_t id)
{
    sqlite3_bind_int64(sq->reg[stmt], 1, id);
    return store_sqlite__exec(sq, sq->reg[stmt], "removing a device");
}

#define LINKS_MAX 64

static enum tk_rc remove_in_tx(struct sq_store *sq, const char *id)
{
    enum tk_rc rc = TK_OK;
    int64_t thing;
    sqlite3_stmt *s = sq->reg[REG_THING_FIND];
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int f = lookup_id(sq, s, &thing, &rc);
    if (f < 0)
        return rc;
    if (f == 0)
        return store__fail(&sq->base, TK_ENOTFOUND, "no device %s", id);

    int64_t ds[LINKS_MAX], sensors[LINKS_MAX], locs[LINKS_MAX];
    int nds, nsensors, nlocs;
    rc = collect(sq, sq->reg[REG_DEVICE_DS], 1, thing, ds, LINKS_MAX, &nds);
    if (!rc)
        rc = collect(sq, sq->reg[REG_DEVICE_SENSORS], 0, thing, sensors, LINKS_MAX, &nsensors);
    if (!rc)
        rc = collect(sq, sq->reg[REG_DEVICE_LOCATIONS], 0, thing, locs, LINKS_MAX, &nlocs);
    if (rc)
        return rc;

    int64_t staged_removed = 0;
    for (int i = 0; !rc && i < nds; i++) {
        rc = exec_id(sq, REG_DEL_OBS, ds[i]);
        if (!rc) {
            rc = exec_id(sq, REG_DEL_STAGED, ds[i]);
            staged_removed += sqlite3_changes(sq->db);
        }
        if (!rc)
            rc = exec_id(sq, REG_DEL_RU_MINUTE, ds[i]);
        if (!rc)
            rc = exec_id(sq, REG_DEL_RU_HOUR, ds[i]);
        if (!rc)
            rc = exec_id(sq, REG_DEL_RU_DAY, ds[i]);
        struct sq_lt_entry *e = NULL;
        if (!rc)
            rc = store_sqlite__lt_entry(sq, ds[i], 1, &e);
        if (!rc)
            rc = store_sqlite__lt_touch(sq, ds[i]);
        if (!rc)
            memset(e, 0, sizeof *e);
    }
    /* the Thing cascades to its Datastreams, thing_locations and HistoricalLocations */
    if (!rc)
        rc = exec_id(sq, REG_DEL_THING, thing);
    for (int i = 0; !rc && i < nsensors; i++)
        rc = exec_id(sq, REG_DEL_SENSOR, sensors[i]);
    for (int i = 0; !rc && i < nlocs; i++) {
        rc = exec_id(sq, REG_DEL_FOI, locs[i]);
        if (!rc)
            rc = exec_id(sq, REG_DEL_LOCATION, locs[i]);
    }
    if (!rc && staged_removed) {
        sq->staged = sq->staged > staged_removed ? sq->staged - staged_removed : 0;
        sq->counter_dirty = 1;
    }
    return rc;
}

enum tk_rc store_sqlite__device_remove(struct store *st, const char *id)
{
    struct sq_store *sq = sq_of(st);
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 1);
    if (rc)
        return rc;
    rc = remove_in_tx(sq, id);
    if (rc == TK_ENOTFOUND) {
        (void)store_sqlite__write_leave(sq, nested, TK_OK);
        return rc;
    }
    return store_sqlite__write_leave(sq, nested, rc);
}

enum tk_rc store_sqlite__device_list(struct store *st, store_device_cb cb, void *ud)
{
    struct sq_store *sq = sq_of(st);
    /* ids first, so cb may call back into the store (even remove devices) */
    size_t n = 0, cap = 0;
    char(*ids)[TK_ID_MAX + 1] = NULL;
    enum tk_rc rc = TK_OK;
    sqlite3_stmt *s = sq->reg[REG_DEVICE_IDS];
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            void *p = realloc(ids, ncap * sizeof *ids);
            if (!p) {
                rc = store__fail(st, TK_ENOMEM, "out of memory");
                break;
            }
            ids = p;
            cap = ncap;
        }
        const char *id = (const char *)sqlite3_column_text(s, 0);
        snprintf(ids[n++], sizeof ids[0], "%s", id ? id : "");
    }
    sqlite3_reset(s);
    if (!rc && src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "listing devices");
    for (size_t i = 0; !rc && i < n; i++) {
        struct store_device d;
        rc = store_sqlite__device_get(st, ids[i], &d);
        if (rc == TK_ENOTFOUND) { /* removed by an earlier callback */
            rc = TK_OK;
            continue;
        }
        if (!rc) {
            int r = cb(&d, ud);
            if (r) {
                free(ids);
                return (enum tk_rc)r;
            }
        }
    }
    free(ids);
    return rc;
}
