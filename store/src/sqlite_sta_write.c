/* SQLite backend: SensorThings API writes (store_sta.h).
 *
 * Design note. Registry entities are rows of their tables (see sqlite_schema.c); a write
 * is one INSERT or UPDATE assembled from a fixed column map (nothing a client sent becomes
 * SQL text: every value is a bound parameter), plus the links and side effects the
 * standard asks for.
 *
 * Observations written here go straight to the clustered table, not to the staging the
 * ingest fills: the API writes few rows, and a row there carries its FeatureOfInterest
 * (foi_id), which a staged row cannot. So every derived structure is kept here, in the
 * same transaction:
 *   - an insert is folded into the three rollups at once (store_sqlite__fold) and becomes
 *     the stream's latest entry when it is the newest;
 *   - a delete takes the row out of the rollups again: count and sum exactly; minimum and
 *     maximum are re-read from the remaining raw rows of the bucket when the removed value
 *     was one of them (a bucket whose raw rows retention already removed keeps its
 *     extremes, the best that is known); the latest entry is recomputed from both tables
 *     when the latest row went; a removed staged row only lowers the staged count (staged
 *     rows are not in the rollups yet, and staged_min stays a valid lower bound);
 *   - an update is a delete and an insert that keeps the @iot.id.
 * A write never collides with the ingest: a (Datastream, phenomenonTime) already staged is
 * refused here as a duplicate, and the ingest looks in the clustered table before staging
 * a row older than the stream's latest. The latest cache of other writers is dropped at
 * their next BEGIN IMMEDIATE (PRAGMA data_version, sqlite_latest.c).
 *
 * The statements run for every Observation are kept on the connection (a bulk
 * CreateObservations runs them per row); the rest are prepared per call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_sta_int.h"
#include "tk_time.h"

#define BIT(p) (1u << (p))
#define STR_(x) #x
#define STR(x) STR_(x)

static const unsigned mandatory[STORE_STA_N] = {
    [STORE_STA_THING] = BIT(1) | BIT(2),
    [STORE_STA_LOCATION] = BIT(1) | BIT(2) | BIT(3) | BIT(4),
    [STORE_STA_HLOCATION] = BIT(1),
    [STORE_STA_DATASTREAM] = BIT(1) | BIT(2) | BIT(3) | BIT(4),
    [STORE_STA_SENSOR] = BIT(1) | BIT(2) | BIT(3) | BIT(4),
    [STORE_STA_OPROPERTY] = BIT(1) | BIT(2) | BIT(3),
    [STORE_STA_OBSERVATION] = BIT(3), /* phenomenonTime defaults to now */
    [STORE_STA_FOI] = BIT(1) | BIT(2) | BIT(3) | BIT(4),
};

unsigned store_sta_mandatory(enum store_sta_entity e)
{
    return (unsigned)e < STORE_STA_N ? mandatory[e] : 0;
}

static const char *const names[STORE_STA_N] = {
    "Thing",  "Location",         "HistoricalLocation", "Datastream",
    "Sensor", "ObservedProperty", "Observation",        "FeatureOfInterest",
};

static const char *const tables[STORE_STA_N] = {
    "things",
    "locations",
    "historical_locations",
    "datastreams",
    "sensors",
    "observed_properties",
    NULL,
    "features_of_interest",
};

/* The columns a property is written to and the expressions written ('@' stands for the
 * property's parameter). */
struct colmap {
    const char *cols, *exprs;
};
#define C(c)                                                                                       \
    {                                                                                              \
        c, "@"                                                                                     \
    }

static const struct colmap colmaps[STORE_STA_N][STORE_STA_PROPS_MAX] = {
    [STORE_STA_THING] = {{0}, C("name"), C("description"), C("properties")},
    [STORE_STA_LOCATION] = {{0}, C("name"), C("description"), C("encoding_type"), C("location")},
    [STORE_STA_HLOCATION] = {{0}, C("time_us")},
    [STORE_STA_DATASTREAM] = {{0},
                              C("name"),
                              C("description"),
                              {"unit_name, unit_symbol, unit_definition",
                               "json_extract(@, '$.name'), json_extract(@, '$.symbol'),"
                               " json_extract(@, '$.definition')"},
                              C("observation_type")},
    [STORE_STA_SENSOR] = {{0}, C("name"), C("description"), C("encoding_type"), C("metadata")},
    [STORE_STA_OPROPERTY] = {{0}, C("name"), C("definition"), C("description")},
    [STORE_STA_FOI] = {{0}, C("name"), C("description"), C("encoding_type"), C("feature")},
};

/* To-one links kept as a column of the entity's own table. */
static const struct {
    enum store_sta_entity from, to;
    const char *col;
} link_cols[] = {
    {STORE_STA_DATASTREAM, STORE_STA_THING, "thing_id"},
    {STORE_STA_DATASTREAM, STORE_STA_SENSOR, "sensor_id"},
    {STORE_STA_DATASTREAM, STORE_STA_OPROPERTY, "observed_property_id"},
    {STORE_STA_HLOCATION, STORE_STA_THING, "thing_id"},
};

static const char *link_col(enum store_sta_entity from, enum store_sta_entity to)
{
    for (size_t i = 0; i < sizeof link_cols / sizeof link_cols[0]; i++)
        if (link_cols[i].from == from && link_cols[i].to == to)
            return link_cols[i].col;
    return NULL;
}

/* To-many links kept in a link table. */
static int link_many(enum store_sta_entity from, enum store_sta_entity to)
{
    return (from == STORE_STA_THING && to == STORE_STA_LOCATION) ||
           (from == STORE_STA_LOCATION && to == STORE_STA_THING) ||
           (from == STORE_STA_HLOCATION && to == STORE_STA_LOCATION);
}

/* ---- small SQL helpers -------------------------------------------------------------------- */

/* Statements run for every Observation written are kept on the connection (slot >= 0:
 * sq->sw[slot], prepared at first use); the others are prepared per call (slot -1). */
enum {
    SW_NEED = 0, /* + entity: does it exist */
    SW_DS_FOI = SW_NEED + STORE_STA_N,
    SW_LOC_OF_DS,
    SW_OBS_INSERT,
    SW_OBS_FOI_DS,
    SW_OBS_LOAD,
    SW_DEL_STAGED_ROW,
    SW_DEL_MAIN_ROW,
    SW_LATEST_MAIN,
    SW_LATEST_STAGED,
    SW_N
};
_Static_assert(SW_N <= SQ_SW_SLOTS, "SQ_SW_SLOTS too small");

static enum tk_rc prep(struct sq_store *sq, int slot, const char *sql, const int64_t *args, int n,
                       sqlite3_stmt **out)
{
    *out = slot >= 0 ? sq->sw[slot] : NULL;
    if (!*out) {
        int src = sqlite3_prepare_v3(sq->db, sql, -1, slot >= 0 ? SQLITE_PREPARE_PERSISTENT : 0,
                                     out, NULL);
        if (src != SQLITE_OK)
            return store_sqlite__err(sq, src, "preparing a SensorThings write");
        if (slot >= 0)
            sq->sw[slot] = *out;
    }
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(*out, i + 1, args[i]);
    return TK_OK;
}

/* After use: a kept statement is reset for the next call, another finalised. */
static void unprep(sqlite3_stmt *s, int slot)
{
    if (slot >= 0) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    } else {
        sqlite3_finalize(s);
    }
}

/* Run sql with integer parameters ?1..?n; *changes (may be NULL) gets the rows changed. */
static enum tk_rc run(struct sq_store *sq, int slot, const char *sql, const int64_t *args, int n,
                      int64_t *changes)
{
    sqlite3_stmt *s;
    enum tk_rc rc = prep(sq, slot, sql, args, n, &s);
    if (rc)
        return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW)
        ;
    if (src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "writing SensorThings entities");
    else if (changes)
        *changes = sqlite3_changes(sq->db);
    unprep(s, slot);
    return rc;
}

/* The first column of the first row as an integer: 1 found (not NULL), 0 none, -1 error. */
static int first_int(struct sq_store *sq, int slot, const char *sql, const int64_t *args, int n,
                     int64_t *out, enum tk_rc *rc)
{
    sqlite3_stmt *s;
    *rc = prep(sq, slot, sql, args, n, &s);
    if (*rc)
        return -1;
    int r = 0, src = sqlite3_step(s);
    if (src == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        *out = sqlite3_column_int64(s, 0);
        r = 1;
    } else if (src != SQLITE_ROW && src != SQLITE_DONE) {
        *rc = store_sqlite__err(sq, src, "reading SensorThings entities");
        r = -1;
    }
    unprep(s, slot);
    return r;
}

/* Every value of the first column (integers) of sql(?1 = key): *ids new (free it). */
static enum tk_rc collect(struct sq_store *sq, const char *sql, int64_t key, int64_t **ids,
                          size_t *n)
{
    sqlite3_stmt *s;
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    enum tk_rc rc = prep(sq, -1, sql, &key, 1, &s);
    if (rc)
        return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            int64_t *p = realloc(*ids, nc * sizeof *p);
            if (!p) {
                rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
                break;
            }
            *ids = p;
            cap = nc;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    if (!rc && src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "collecting ids");
    sqlite3_finalize(s);
    return rc;
}

/* TK_OK if entity (e, id) exists, TK_ENOTFOUND (with a message) if not. */
/* 1 if the viewer may see (e, id) (which exists), 0 if not, -1 on error (*rc). */
static int visible(struct sq_store *sq, enum store_sta_entity e, int64_t id, enum tk_rc *rc)
{
    if (!store_sta__hides(sq))
        return 1;
    struct store_sta_query q = {.entity = e, .has_id = 1, .id = id, .top = 1};
    int64_t n = 0;
    *rc = store_sta_count(&sq->base, &q, &n);
    return *rc ? -1 : n > 0;
}

static enum tk_rc need(struct sq_store *sq, enum store_sta_entity e, int64_t id)
{
    static const char *const sql[STORE_STA_N] = {
        "SELECT 1 FROM things WHERE id = ?1",
        "SELECT 1 FROM locations WHERE id = ?1",
        "SELECT 1 FROM historical_locations WHERE id = ?1",
        "SELECT 1 FROM datastreams WHERE id = ?1",
        "SELECT 1 FROM sensors WHERE id = ?1",
        "SELECT 1 FROM observed_properties WHERE id = ?1",
        "SELECT 1 FROM observations WHERE id = ?1 UNION ALL SELECT 1 FROM obs_staging"
        " WHERE batch = (?1 >> " STR(SQ_BATCH_SHIFT) ") AND id = ?1",
        "SELECT 1 FROM features_of_interest WHERE id = ?1",
    };
    int64_t one;
    enum tk_rc rc = TK_OK;
    int f = first_int(sq, SW_NEED + (int)e, sql[e], &id, 1, &one, &rc);
    if (f > 0)
        f = visible(sq, e, id, &rc); /* another owner's private data does not exist here */
    if (f < 0)
        return rc;
    if (f == 0)
        return store__fail(&sq->base, TK_ENOTFOUND, "%s(%lld) does not exist", names[e],
                           (long long)id);
    return TK_OK;
}

/* ---- Things' Locations and HistoricalLocations ------------------------------------------ */

/* Before a Thing leaves a Location (or the Location goes): the Observations its
 * Datastreams already have with the FeatureOfInterest made at that Location stay findable
 * from it. FOI_DS finds them through the Thing's Locations, which are about to change, so
 * the (FoI, Datastream) pairs are written down in obs_foi_ds. ?1: the Location, ?2: the
 * Thing (0: every Thing at it). */
static enum tk_rc keep_foi_links(struct sq_store *sq, int64_t loc, int64_t thing)
{
    return run(sq, -1,
               "INSERT OR IGNORE INTO obs_foi_ds (foi_id, ds_id) SELECT f.id, d.id"
               " FROM features_of_interest f JOIN thing_locations tl"
               " ON tl.location_id = f.location_id JOIN datastreams d ON d.thing_id = tl.thing_id"
               " WHERE f.location_id = ?1 AND (?2 = 0 OR tl.thing_id = ?2)",
               (int64_t[]){loc, thing}, 2, NULL);
}

/* A HistoricalLocation of thing now, with its current Locations. */
static enum tk_rc hl_add(struct sq_store *sq, int64_t thing)
{
    int64_t a[2] = {thing, tk_now_utc_us()};
    enum tk_rc rc = run(
        sq, -1, "INSERT INTO historical_locations (thing_id, time_us) VALUES (?1, ?2)", a, 2, NULL);
    if (rc)
        return rc;
    a[1] = sqlite3_last_insert_rowid(sq->db);
    return run(sq, -1,
               "INSERT INTO historical_location_locations (historical_location_id, location_id)"
               " SELECT ?2, location_id FROM thing_locations WHERE thing_id = ?1",
               a, 2, NULL);
}

static int has_id(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* Link thing to locs (replacing its current Locations when replace); a change of the set
 * is recorded as a HistoricalLocation. */
static enum tk_rc thing_locations(struct sq_store *sq, int64_t thing, const int64_t *locs, size_t n,
                                  int replace)
{
    int64_t *cur = NULL;
    size_t ncur = 0;
    enum tk_rc rc = collect(sq, "SELECT location_id FROM thing_locations WHERE thing_id = ?1",
                            thing, &cur, &ncur);
    int changed = 0;
    for (size_t i = 0; !rc && i < n; i++)
        changed |= !has_id(cur, ncur, locs[i]);
    for (size_t i = 0; !rc && replace && i < ncur; i++)
        changed |= !has_id(locs, n, cur[i]);
    if (rc || !changed) {
        free(cur);
        return rc;
    }
    for (size_t i = 0; !rc && replace && i < ncur; i++)
        if (!has_id(locs, n, cur[i]))
            rc = keep_foi_links(sq, cur[i], thing);
    free(cur);
    if (!rc && replace)
        rc = run(sq, -1, "DELETE FROM thing_locations WHERE thing_id = ?1", &thing, 1, NULL);
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t a[2] = {thing, locs[i]};
        rc = run(sq, -1,
                 "INSERT OR IGNORE INTO thing_locations (thing_id, location_id) VALUES (?1, ?2)", a,
                 2, NULL);
    }
    /* a HistoricalLocation records where the Thing is: none when it is nowhere now */
    return rc || n == 0 ? rc : hl_add(sq, thing);
}

/* ---- registry entities --------------------------------------------------------------------- */

static void put_expr(struct sqlbuf *b, const char *expr, int param)
{
    for (const char *p = expr; *p; p++) {
        if (*p == '@')
            store_sta__put(b, "?%d", param);
        else
            store_sta__put(b, "%c", *p);
    }
}

static void bind_value(sqlite3_stmt *s, int i, const struct store_sta_value *v)
{
    switch (v->type) {
    case STORE_STA_TEXT:
    case STORE_STA_JSON:
        sqlite3_bind_text(s, i, v->s ? v->s : "", (int)v->len, SQLITE_TRANSIENT);
        break;
    case STORE_STA_INT:
    case STORE_STA_TIME:
        sqlite3_bind_int64(s, i, v->i);
        break;
    case STORE_STA_REAL:
        sqlite3_bind_double(s, i, v->d);
        break;
    default:
        sqlite3_bind_null(s, i);
        break;
    }
}

#define P_LINK 10 /* ?10.. the to-one links */
#define P_NOW 30
#define P_ID 31

/* Check the values and links of in for entity e (create: mandatory ones present). */
static enum tk_rc must_own(struct sq_store *sq, enum store_sta_entity e, int64_t id);

int store_sta_link_changes(enum store_sta_entity from, enum store_sta_entity to)
{
    return (to == STORE_STA_THING &&
            (from == STORE_STA_LOCATION || from == STORE_STA_HLOCATION ||
             from == STORE_STA_DATASTREAM)) ||
           (from == STORE_STA_OBSERVATION && to == STORE_STA_DATASTREAM);
}

static enum tk_rc check_input(struct sq_store *sq, const struct store_sta_input *in, int create)
{
    size_t np;
    const struct store_sta_prop *props = store_sta_props(in->entity, &np);
    for (size_t p = 1; p < np; p++) {
        const struct store_sta_value *v = &in->v[p];
        if (!(in->set & BIT(p))) {
            if (create && (mandatory[in->entity] & BIT(p)))
                return store__fail(&sq->base, TK_EINVAL, "%s needs its %s", names[in->entity],
                                   props[p].name);
            continue;
        }
        int ok = v->type == props[p].type;
        if (v->type == STORE_STA_NULL)
            ok = !(mandatory[in->entity] & BIT(p));
        if (props[p].type == STORE_STA_INTERVAL)
            ok = v->type == STORE_STA_TIME || (v->type == STORE_STA_INTERVAL && v->i2 >= v->i);
        if (props[p].type == STORE_STA_REAL)
            ok = v->type == STORE_STA_REAL && isfinite(v->d);
        if (in->entity == STORE_STA_OBSERVATION && p == 2) /* resultTime may be null */
            ok = v->type == STORE_STA_TIME || v->type == STORE_STA_NULL;
        if (!ok)
            return store__fail(&sq->base, TK_EINVAL, "%s: unusable value for %s", names[in->entity],
                               props[p].name);
    }
    if (in->nlinks > STORE_STA_LINKS_MAX)
        return store__fail(&sq->base, TK_EINVAL, "too many links");
    for (size_t i = 0; i < in->nlinks; i++) {
        const struct store_sta_link *l = &in->links[i];
        if ((unsigned)l->to >= STORE_STA_N)
            return store__fail(&sq->base, TK_EINVAL, "bad link");
        int one = link_col(in->entity, l->to) != NULL ||
                  (in->entity == STORE_STA_OBSERVATION &&
                   (l->to == STORE_STA_DATASTREAM || l->to == STORE_STA_FOI));
        if (!one && !link_many(in->entity, l->to))
            return store__fail(&sq->base, TK_EINVAL, "a %s cannot be linked to a %s here",
                               names[in->entity], names[l->to]);
        for (size_t j = 0; one && j < i; j++)
            if (in->links[j].to == l->to)
                return store__fail(&sq->base, TK_EINVAL, "a %s has one %s", names[in->entity],
                                   names[l->to]);
        enum tk_rc rc = need(sq, l->to, l->id);
        if (!rc && !sq->view_all && store_sta_link_changes(in->entity, l->to))
            rc = must_own(sq, l->to, l->id);
        if (rc)
            return rc;
    }
    if (create) {
        static const struct {
            enum store_sta_entity e, to;
        } needed[] = {{STORE_STA_DATASTREAM, STORE_STA_THING},
                      {STORE_STA_DATASTREAM, STORE_STA_SENSOR},
                      {STORE_STA_DATASTREAM, STORE_STA_OPROPERTY},
                      {STORE_STA_HLOCATION, STORE_STA_THING},
                      {STORE_STA_OBSERVATION, STORE_STA_DATASTREAM}};
        for (size_t k = 0; k < sizeof needed / sizeof needed[0]; k++) {
            if (needed[k].e != in->entity)
                continue;
            int found = 0;
            for (size_t i = 0; i < in->nlinks; i++)
                found |= in->links[i].to == needed[k].to;
            if (!found)
                return store__fail(&sq->base, TK_EINVAL, "%s needs its %s", names[in->entity],
                                   names[needed[k].to]);
        }
    }
    return TK_OK;
}

/* INSERT (id == 0; *out gets the new id) or UPDATE of a registry row with in's properties
 * and to-one links. */
static enum tk_rc reg_write(struct sq_store *sq, const struct store_sta_input *in, int64_t id,
                            int64_t *out)
{
    enum store_sta_entity e = in->entity;
    size_t np;
    (void)store_sta_props(e, &np);
    struct sqlbuf *b = calloc(1, sizeof *b);
    if (!b)
        return store__fail(&sq->base, TK_ENOMEM, "out of memory");
    int ncols = 0;
    if (!id) {
        store_sta__put(b, "INSERT INTO %s (", tables[e]);
        for (size_t p = 1; p < np; p++)
            if (in->set & BIT(p))
                store_sta__put(b, "%s%s", ncols++ ? ", " : "", colmaps[e][p].cols);
        for (size_t i = 0; i < in->nlinks; i++)
            if (link_col(e, in->links[i].to))
                store_sta__put(b, "%s%s", ncols++ ? ", " : "", link_col(e, in->links[i].to));
        if (e == STORE_STA_THING)
            store_sta__put(b, "%screated_us", ncols++ ? ", " : "");
        store_sta__put(b, ") VALUES (");
        ncols = 0;
        for (size_t p = 1; p < np; p++) {
            if (!(in->set & BIT(p)))
                continue;
            store_sta__put(b, "%s", ncols++ ? ", " : "");
            put_expr(b, colmaps[e][p].exprs, (int)p);
        }
        for (size_t i = 0; i < in->nlinks; i++)
            if (link_col(e, in->links[i].to))
                store_sta__put(b, "%s?%d", ncols++ ? ", " : "", P_LINK + (int)i);
        if (e == STORE_STA_THING)
            store_sta__put(b, "%s?%d", ncols++ ? ", " : "", P_NOW);
        store_sta__put(b, ")");
    } else {
        store_sta__put(b, "UPDATE %s SET ", tables[e]);
        for (size_t p = 1; p < np; p++) {
            if (!(in->set & BIT(p)))
                continue;
            store_sta__put(b, "%s(%s) = (", ncols++ ? ", " : "", colmaps[e][p].cols);
            put_expr(b, colmaps[e][p].exprs, (int)p);
            store_sta__put(b, ")");
        }
        for (size_t i = 0; i < in->nlinks; i++)
            if (link_col(e, in->links[i].to))
                store_sta__put(b, "%s%s = ?%d", ncols++ ? ", " : "", link_col(e, in->links[i].to),
                               P_LINK + (int)i);
        store_sta__put(b, " WHERE id = ?%d", P_ID);
    }
    enum tk_rc rc = TK_OK;
    if (b->overflow) {
        rc = store__fail(&sq->base, TK_EFULL, "SensorThings write too long");
        goto cleanup;
    }
    if (id && ncols == 0)
        goto cleanup; /* nothing of the row itself changes */
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(sq->db, b->s, (int)b->len, &s, NULL);
    if (src != SQLITE_OK) {
        rc = store_sqlite__err(sq, src, "preparing a SensorThings write");
        goto cleanup;
    }
    for (size_t p = 1; p < np; p++)
        if (in->set & BIT(p))
            bind_value(s, (int)p, &in->v[p]);
    for (size_t i = 0; i < in->nlinks; i++)
        if (link_col(e, in->links[i].to))
            sqlite3_bind_int64(s, P_LINK + (int)i, in->links[i].id);
    if (sqlite3_bind_parameter_index(s, "?" STR(P_NOW)))
        sqlite3_bind_int64(s, P_NOW, tk_now_utc_us());
    if (id)
        sqlite3_bind_int64(s, P_ID, id);
    src = sqlite3_step(s);
    if (src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "writing a SensorThings entity");
    else if (!id && out)
        *out = sqlite3_last_insert_rowid(sq->db);
    sqlite3_finalize(s);
cleanup:
    free(b);
    return rc;
}

/* The to-many links of in towards `to`, into ids (at most STORE_STA_LINKS_MAX). */
static size_t links_to(const struct store_sta_input *in, enum store_sta_entity to, int64_t *ids)
{
    size_t n = 0;
    for (size_t i = 0; i < in->nlinks; i++)
        if (in->links[i].to == to)
            ids[n++] = in->links[i].id;
    return n;
}

/* What follows a registry row's write: link tables, HistoricalLocations, latest entries. */
static enum tk_rc reg_after(struct sq_store *sq, const struct store_sta_input *in, int64_t id,
                            int create)
{
    int64_t ids[STORE_STA_LINKS_MAX];
    size_t n;
    enum tk_rc rc = TK_OK;
    switch (in->entity) {
    case STORE_STA_THING:
        n = links_to(in, STORE_STA_LOCATION, ids);
        if (n || (!create && in->replace_links))
            rc = thing_locations(sq, id, ids, n, !create && in->replace_links);
        break;
    case STORE_STA_LOCATION:
        n = links_to(in, STORE_STA_THING, ids);
        for (size_t i = 0; !rc && i < n; i++)
            rc = thing_locations(sq, ids[i], &id, 1, 0);
        break;
    case STORE_STA_HLOCATION:
        n = links_to(in, STORE_STA_LOCATION, ids);
        if (!create && in->replace_links)
            rc = run(sq, -1,
                     "DELETE FROM historical_location_locations WHERE historical_location_id = ?1",
                     &id, 1, NULL);
        for (size_t i = 0; !rc && i < n; i++) {
            int64_t a[2] = {id, ids[i]};
            rc = run(sq, -1,
                     "INSERT OR IGNORE INTO historical_location_locations"
                     " (historical_location_id, location_id) VALUES (?1, ?2)",
                     a, 2, NULL);
        }
        break;
    case STORE_STA_DATASTREAM:
        if (create) {
            struct sq_lt_entry *e;
            rc = store_sqlite__lt_entry(sq, id, 1, &e);
            if (!rc)
                rc = store_sqlite__lt_touch(sq, id);
            if (!rc) {
                memset(e, 0, sizeof *e);
                e->flags = LT_EXISTS;
            }
        }
        break;
    default:
        break;
    }
    return rc;
}

/* ---- Observations ---------------------------------------------------------------------------- */

struct obs {
    int64_t ds, t, t_end, rt, id, foi; /* t_end, rt, foi: 0 for none */
    double result;
    char *params; /* owned, or NULL */
    int staged;
};

static int cmp_obs(const void *a, const void *b)
{
    const struct obs *x = a, *y = b;
    if (x->ds != y->ds)
        return x->ds < y->ds ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

static void obs_free(struct obs *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].params);
    free(rows);
}

#define OBS_SELECT(a)                                                                              \
    "SELECT " a ".ds_id, " a ".t_us, coalesce(" a ".t_end_us, 0), coalesce(" a                     \
    ".result_time_us, 0), " a ".result, " a ".params, " a ".id, "

/* Rows of sql (OBS_SELECT ..., foi, staged) with ?1 = key, appended to *rows. */
static enum tk_rc obs_collect(struct sq_store *sq, int slot, const char *sql, int64_t key,
                              struct obs **rows, size_t *n, size_t *cap)
{
    sqlite3_stmt *s;
    enum tk_rc rc = prep(sq, slot, sql, &key, 1, &s);
    if (rc)
        return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            struct obs *p = realloc(*rows, nc * sizeof *p);
            if (!p) {
                rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
                break;
            }
            *rows = p;
            *cap = nc;
        }
        struct obs *o = &(*rows)[*n];
        *o = (struct obs){.ds = sqlite3_column_int64(s, 0),
                          .t = sqlite3_column_int64(s, 1),
                          .t_end = sqlite3_column_int64(s, 2),
                          .rt = sqlite3_column_int64(s, 3),
                          .result = sqlite3_column_double(s, 4),
                          .id = sqlite3_column_int64(s, 6),
                          .foi = sqlite3_column_int64(s, 7),
                          .staged = sqlite3_column_int(s, 8)};
        const char *p = (const char *)sqlite3_column_text(s, 5);
        if (p && !(o->params = strdup(p))) {
            rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    if (!rc && src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "reading observations");
    unprep(s, slot);
    return rc;
}

/* One observation by id (either table). TK_ENOTFOUND if none. */
static enum tk_rc obs_load(struct sq_store *sq, int64_t id, struct obs *out)
{
    struct obs *rows = NULL;
    size_t n = 0, cap = 0;
    enum tk_rc rc = obs_collect(
        sq, SW_OBS_LOAD,
        OBS_SELECT("o") "coalesce(o.foi_id, 0), 0 FROM observations o WHERE o.id = ?1"
                        " UNION ALL " OBS_SELECT("s") "0, 1 FROM obs_staging s"
                                                      " WHERE s.batch = (?1 >> " STR(
                                                          SQ_BATCH_SHIFT) ") AND s.id = ?1",
        id, &rows, &n, &cap);
    if (!rc && n == 0)
        rc =
            store__fail(&sq->base, TK_ENOTFOUND, "Observation(%lld) does not exist", (long long)id);
    if (!rc) {
        *out = rows[0];
        rows[0].params = NULL;
    }
    obs_free(rows, n);
    return rc;
}

static enum tk_rc record_owner(struct sq_store *sq, enum store_sta_entity e, int64_t id);

/* The FeatureOfInterest an Observation of ds gets when none is given: the one at its
 * Thing's Location (the same the reads assume for staged rows), made from that Location
 * when it has none yet. */
static enum tk_rc default_foi(struct sq_store *sq, int64_t ds, int64_t *foi)
{
    enum tk_rc rc = TK_OK;
    int f = first_int(sq, SW_DS_FOI, "SELECT " DS_FOI("?1"), &ds, 1, foi, &rc);
    if (f)
        return f < 0 ? rc : TK_OK;
    int64_t loc;
    f = first_int(sq, SW_LOC_OF_DS,
                  "SELECT tl.location_id FROM datastreams d JOIN thing_locations tl"
                  " ON tl.thing_id = d.thing_id WHERE d.id = ?1 ORDER BY tl.location_id DESC"
                  " LIMIT 1",
                  &ds, 1, &loc, &rc);
    if (f < 0)
        return rc;
    if (f == 0)
        return store__fail(&sq->base, TK_EINVAL,
                           "the Observation has no FeatureOfInterest, and the Thing of"
                           " Datastream(%lld) has no Location to make one from",
                           (long long)ds);
    rc = run(sq, -1,
             "INSERT INTO features_of_interest (name, description, encoding_type, feature,"
             " location_id) SELECT name, description, encoding_type, location, id FROM locations"
             " WHERE id = ?1",
             &loc, 1, NULL);
    if (!rc) {
        *foi = sqlite3_last_insert_rowid(sq->db);
        rc = record_owner(sq, STORE_STA_FOI, *foi);
    }
    return rc;
}

/* 1 and *id if (ds, t) has an observation, 0 if not, -1 on error. */
static int obs_at(struct sq_store *sq, sqlite3_stmt *s, int64_t ds, int64_t t, int64_t *id,
                  enum tk_rc *rc)
{
    sqlite3_bind_int64(s, 1, ds);
    sqlite3_bind_int64(s, 2, t);
    int src = sqlite3_step(s), r = 0;
    if (src == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        r = 1;
    } else if (src != SQLITE_DONE) {
        *rc = store_sqlite__err(sq, src, "looking for a duplicate");
        r = -1;
    }
    sqlite3_reset(s);
    return r;
}

/* Insert o into the clustered table (o->id 0: a new id), fold it into the rollups, update
 * the latest entry. */
static enum tk_rc obs_insert(struct sq_store *sq, struct obs *o)
{
    enum tk_rc rc = need(sq, STORE_STA_DATASTREAM, o->ds);
    if (rc)
        return rc;
    struct sq_lt_entry *e;
    rc = store_sqlite__lt_entry(sq, o->ds, 1, &e);
    if (rc)
        return rc;
    int64_t dup = 0;
    int f = obs_at(sq, sq->wr[WR_MAIN_FIND], o->ds, o->t, &dup, &rc);
    if (f == 0 && (e->flags & LT_HAS_STAGED) && o->t >= e->staged_min)
        f = obs_at(sq, sq->wr[WR_STAGE_FIND], o->ds, o->t, &dup, &rc);
    if (f < 0)
        return rc;
    if (f > 0) {
        char when[40];
        if (tk_time_format(o->t, when, sizeof when))
            snprintf(when, sizeof when, "%lld us", (long long)o->t);
        return store__fail(&sq->base, TK_EDUP,
                           "Datastream(%lld) already has an Observation at phenomenonTime %s"
                           " (Observation(%lld))",
                           (long long)o->ds, when, (long long)dup);
    }
    if (o->id == 0) {
        o->id = sq->next_id++;
        sq->counter_dirty = 1;
    }
    if (o->rt == o->t)
        o->rt = 0;
    sqlite3_stmt *s;
    rc = prep(sq, SW_OBS_INSERT,
              "INSERT INTO observations (ds_id, t_us, id, t_end_us, result_time_us, result,"
              " params, foi_id) VALUES (?1, ?2, ?3, nullif(?4, 0), nullif(?5, 0), ?6, ?7,"
              " nullif(?8, 0))",
              (int64_t[]){o->ds, o->t, o->id, o->t_end, o->rt}, 5, &s);
    if (rc)
        return rc;
    sqlite3_bind_double(s, 6, o->result);
    if (o->params)
        sqlite3_bind_text(s, 7, o->params, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, o->foi);
    int src = sqlite3_step(s);
    if (src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "adding an observation");
    unprep(s, SW_OBS_INSERT);
    if (rc)
        return rc;
    struct sq_row r = {.ds = o->ds,
                       .t = o->t,
                       .id = o->id,
                       .t_end = o->t_end,
                       .rt = o->rt,
                       .result = o->result,
                       .foi = o->foi};
    rc = store_sqlite__fold(sq, &r, 1);
    if (!rc)
        rc = store_sqlite__lt_touch(sq, o->ds);
    if (rc)
        return rc;
    e->flags |= LT_EXISTS;
    if (!(e->flags & LT_HAS_T) || o->t > e->t) {
        e->flags |= LT_HAS_T;
        e->t = o->t;
        e->t_end = o->t_end;
        e->rt = o->rt;
        e->result = o->result;
        e->id = o->id;
    }
    if (!(e->flags & LT_HAS_FOI) && o->foi) {
        e->flags |= LT_HAS_FOI;
        e->foi = o->foi;
    }
    if (o->foi)
        rc = run(sq, SW_OBS_FOI_DS,
                 "INSERT OR IGNORE INTO obs_foi_ds (foi_id, ds_id) VALUES (?1, ?2)",
                 (int64_t[]){o->foi, o->ds}, 2, NULL);
    return rc;
}

/* The stream's newest observation in either table into its latest entry. */
static enum tk_rc latest_recompute(struct sq_store *sq, int64_t ds, struct sq_lt_entry *e)
{
    struct obs *rows = NULL;
    size_t n = 0, cap = 0;
    enum tk_rc rc = obs_collect(sq, SW_LATEST_MAIN,
                                OBS_SELECT("o") "0, 0 FROM observations o WHERE o.ds_id = ?1"
                                                " ORDER BY o.t_us DESC LIMIT 1",
                                ds, &rows, &n, &cap);
    if (!rc)
        rc = obs_collect(sq, SW_LATEST_STAGED,
                         SQ_BATCHES_CTE OBS_SELECT("s") "0, 1 FROM b CROSS JOIN obs_staging s"
                                                        " ON s.batch = b.x AND s.ds_id = ?1"
                                                        " ORDER BY s.t_us DESC LIMIT 1",
                         ds, &rows, &n, &cap);
    if (!rc) {
        e->flags &= (unsigned char)~LT_HAS_T;
        const struct obs *best = NULL;
        for (size_t i = 0; i < n; i++)
            if (!best || rows[i].t > best->t)
                best = &rows[i];
        if (best) {
            e->flags |= LT_HAS_T;
            e->t = best->t;
            e->t_end = best->t_end;
            e->rt = best->rt;
            e->result = best->result;
            e->id = best->id;
        }
    }
    obs_free(rows, n);
    return rc;
}

/* Take removed rows (sorted by ds, t; all in the clustered table) out of one of the
 * hour/day rollups. */
static enum tk_rc unfold_iv(struct sq_store *sq, const char *table, int64_t iv,
                            struct obs *const *rows, size_t n)
{
    char sql[3][200];
    snprintf(sql[0], sizeof sql[0],
             "SELECT n, total, lo, hi FROM %s WHERE ds_id = ?1 AND bucket_us = ?2", table);
    snprintf(sql[1], sizeof sql[1],
             "UPDATE %s SET n = ?3, total = ?4, lo = ?5, hi = ?6 WHERE ds_id = ?1 AND"
             " bucket_us = ?2",
             table);
    snprintf(sql[2], sizeof sql[2], "DELETE FROM %s WHERE ds_id = ?1 AND bucket_us = ?2", table);
    enum tk_rc rc = TK_OK;
    for (size_t i = 0; !rc && i < n;) {
        int64_t ds = rows[i]->ds, bk = rows[i]->t - (((rows[i]->t % iv) + iv) % iv);
        int64_t k = 0;
        double sum = 0, lo = rows[i]->result, hi = rows[i]->result;
        for (; i < n && rows[i]->ds == ds && rows[i]->t >= bk && rows[i]->t < bk + iv; i++) {
            k++;
            sum += rows[i]->result;
            lo = fmin(lo, rows[i]->result);
            hi = fmax(hi, rows[i]->result);
        }
        sqlite3_stmt *s;
        int64_t a[2] = {ds, bk};
        rc = prep(sq, -1, sql[0], a, 2, &s);
        if (rc)
            break;
        int src = sqlite3_step(s);
        int64_t bn = 0;
        double total = 0, blo = 0, bhi = 0;
        if (src == SQLITE_ROW) {
            bn = sqlite3_column_int64(s, 0);
            total = sqlite3_column_double(s, 1);
            blo = sqlite3_column_double(s, 2);
            bhi = sqlite3_column_double(s, 3);
        } else if (src != SQLITE_DONE) {
            rc = store_sqlite__err(sq, src, "reading a rollup");
        }
        sqlite3_finalize(s);
        if (rc || bn == 0)
            continue;
        if (bn <= k) {
            rc = run(sq, -1, sql[2], a, 2, NULL);
            continue;
        }
        if (lo <= blo || hi >= bhi) {
            rc = prep(sq, -1,
                      "SELECT min(result), max(result) FROM observations WHERE ds_id = ?1"
                      " AND t_us >= ?2 AND t_us < ?3 AND result IS NOT NULL",
                      (int64_t[]){ds, bk, bk + iv}, 3, &s);
            if (rc)
                break;
            src = sqlite3_step(s);
            if (src == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
                blo = sqlite3_column_double(s, 0);
                bhi = sqlite3_column_double(s, 1);
            } else if (src != SQLITE_ROW && src != SQLITE_DONE) {
                rc = store_sqlite__err(sq, src, "reading observations");
            }
            sqlite3_finalize(s);
            if (rc)
                break;
        }
        rc = prep(sq, -1, sql[1], a, 2, &s);
        if (rc)
            break;
        sqlite3_bind_int64(s, 3, bn - k);
        sqlite3_bind_double(s, 4, total - sum);
        sqlite3_bind_double(s, 5, blo);
        sqlite3_bind_double(s, 6, bhi);
        src = sqlite3_step(s);
        if (src != SQLITE_DONE)
            rc = store_sqlite__err(sq, src, "writing a rollup");
        sqlite3_finalize(s);
    }
    return rc;
}

/* The same for the minute slots: one read-adjust-write per (ds, hour). */
static enum tk_rc unfold_minutes(struct sq_store *sq, struct obs *const *rows, size_t n)
{
    enum tk_rc rc = TK_OK;
    struct sq_slot slot[SQ_SLOTS];
    for (size_t i = 0; !rc && i < n;) {
        int64_t ds = rows[i]->ds,
                hour = rows[i]->t - (((rows[i]->t % SQ_HOUR_US) + SQ_HOUR_US) % SQ_HOUR_US);
        size_t j = i;
        while (j < n && rows[j]->ds == ds && rows[j]->t >= hour && rows[j]->t < hour + SQ_HOUR_US)
            j++;
        sqlite3_stmt *s = sq->ru[RU_SLOTS_GET];
        sqlite3_bind_int64(s, 1, ds);
        sqlite3_bind_int64(s, 2, hour);
        int src = sqlite3_step(s), have = 0;
        if (src == SQLITE_ROW) {
            have = 1;
            if (store_sqlite__slots_decode(sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0),
                                           slot))
                rc = store__fail(&sq->base, TK_EDB, "malformed minute rollup of ds %lld",
                                 (long long)ds);
        } else if (src != SQLITE_DONE) {
            rc = store_sqlite__err(sq, src, "reading a minute rollup");
        }
        sqlite3_reset(s);
        if (rc || !have) {
            i = j;
            continue;
        }
        unsigned char redo[SQ_SLOTS] = {0};
        for (; i < j; i++) {
            int m = (int)((rows[i]->t - hour) / SQ_MINUTE_US);
            struct sq_slot *sl = &slot[m];
            if (sl->n == 0)
                continue;
            sl->n--;
            sl->total -= rows[i]->result;
            if (rows[i]->result <= sl->lo || rows[i]->result >= sl->hi)
                redo[m] = 1;
        }
        for (int m = 0; !rc && m < SQ_SLOTS; m++) {
            if (slot[m].n == 0) {
                memset(&slot[m], 0, sizeof slot[m]);
                continue;
            }
            if (!redo[m])
                continue;
            int64_t from = hour + m * SQ_MINUTE_US;
            rc = prep(sq, -1,
                      "SELECT min(result), max(result) FROM observations WHERE ds_id = ?1"
                      " AND t_us >= ?2 AND t_us < ?3 AND result IS NOT NULL",
                      (int64_t[]){ds, from, from + SQ_MINUTE_US}, 3, &s);
            if (rc)
                break;
            src = sqlite3_step(s);
            if (src == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
                slot[m].lo = sqlite3_column_double(s, 0);
                slot[m].hi = sqlite3_column_double(s, 1);
            } else if (src != SQLITE_ROW && src != SQLITE_DONE) {
                rc = store_sqlite__err(sq, src, "reading observations");
            }
            sqlite3_finalize(s);
        }
        if (rc)
            break;
        unsigned char buf[SQ_SLOTS_BLOB_MAX];
        int len = store_sqlite__slots_encode(slot, buf);
        if (len == 0) {
            rc = run(sq, -1, "DELETE FROM rollup_minute_slots WHERE ds_id = ?1 AND hour_us = ?2",
                     (int64_t[]){ds, hour}, 2, NULL);
        } else {
            s = sq->ru[RU_SLOTS_PUT];
            sqlite3_bind_int64(s, 1, ds);
            sqlite3_bind_int64(s, 2, hour);
            sqlite3_bind_blob(s, 3, buf, len, SQLITE_STATIC);
            rc = store_sqlite__exec(sq, s, "writing a minute rollup");
        }
    }
    return rc;
}

/* Remove rows (sorted by ds, t) from their tables, the rollups and the latest entries. */
static enum tk_rc obs_remove(struct sq_store *sq, struct obs *rows, size_t n)
{
    struct obs **main_rows = malloc((n ? n : 1) * sizeof *main_rows);
    if (!main_rows)
        return store__fail(&sq->base, TK_ENOMEM, "out of memory");
    size_t nmain = 0;
    int64_t nstaged = 0;
    enum tk_rc rc = TK_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        struct obs *o = &rows[i];
        if (o->staged) {
            rc = run(sq, SW_DEL_STAGED_ROW,
                     "DELETE FROM obs_staging WHERE batch = (?1 >> " STR(
                         SQ_BATCH_SHIFT) ") AND ds_id = ?2 AND t_us = ?3",
                     (int64_t[]){o->id, o->ds, o->t}, 3, NULL);
            nstaged++;
        } else {
            rc = run(sq, SW_DEL_MAIN_ROW, "DELETE FROM observations WHERE ds_id = ?1 AND t_us = ?2",
                     (int64_t[]){o->ds, o->t}, 2, NULL);
            main_rows[nmain++] = o;
        }
    }
    if (!rc)
        rc = unfold_iv(sq, "rollup_hour", SQ_HOUR_US, main_rows, nmain);
    if (!rc)
        rc = unfold_iv(sq, "rollup_day", SQ_DAY_US, main_rows, nmain);
    if (!rc)
        rc = unfold_minutes(sq, main_rows, nmain);
    free(main_rows);
    for (size_t i = 0; !rc && i < n; i++) {
        if (i > 0 && rows[i].ds == rows[i - 1].ds)
            continue;
        struct sq_lt_entry *e;
        rc = store_sqlite__lt_entry(sq, rows[i].ds, 1, &e);
        if (rc || !(e->flags & LT_HAS_T))
            continue;
        int gone = 0;
        for (size_t j = i; j < n && rows[j].ds == rows[i].ds; j++)
            gone |= rows[j].id == e->id;
        if (!gone)
            continue;
        rc = store_sqlite__lt_touch(sq, rows[i].ds);
        if (!rc)
            rc = latest_recompute(sq, rows[i].ds, e);
    }
    if (!rc && nstaged) {
        sq->staged = sq->staged > nstaged ? sq->staged - nstaged : 0;
        sq->counter_dirty = 1;
    }
    return rc;
}

/* Apply in's Observation properties and links to o. *foi_given: a FeatureOfInterest
 * link was given. */
static void obs_apply(const struct store_sta_input *in, struct obs *o, int *foi_given,
                      int *ds_given)
{
    *foi_given = *ds_given = 0;
    if (in->set & BIT(1)) {
        o->t = in->v[1].i;
        o->t_end = in->v[1].type == STORE_STA_INTERVAL ? in->v[1].i2 : 0;
    }
    if (in->set & BIT(2))
        o->rt = in->v[2].type == STORE_STA_TIME ? in->v[2].i : 0;
    if (in->set & BIT(3))
        o->result = in->v[3].d;
    for (size_t i = 0; i < in->nlinks; i++) {
        if (in->links[i].to == STORE_STA_DATASTREAM) {
            o->ds = in->links[i].id;
            *ds_given = 1;
        } else if (in->links[i].to == STORE_STA_FOI) {
            o->foi = in->links[i].id;
            *foi_given = 1;
        }
    }
}

/* o->params from in (parameters), when set. */
static enum tk_rc obs_params(struct sq_store *sq, const struct store_sta_input *in, struct obs *o)
{
    if (!(in->set & BIT(4)))
        return TK_OK;
    free(o->params);
    o->params = NULL;
    if (in->v[4].type != STORE_STA_JSON)
        return TK_OK;
    o->params = malloc(in->v[4].len + 1);
    if (!o->params)
        return store__fail(&sq->base, TK_ENOMEM, "out of memory");
    memcpy(o->params, in->v[4].s, in->v[4].len);
    o->params[in->v[4].len] = '\0';
    return TK_OK;
}

static enum tk_rc obs_create(struct sq_store *sq, const struct store_sta_input *in, int64_t *id)
{
    struct obs o = {.t = tk_now_utc_us()};
    int foi_given, ds_given;
    obs_apply(in, &o, &foi_given, &ds_given);
    enum tk_rc rc = obs_params(sq, in, &o);
    if (!rc && !foi_given)
        rc = default_foi(sq, o.ds, &o.foi);
    if (!rc)
        rc = obs_insert(sq, &o);
    if (!rc && id)
        *id = o.id;
    free(o.params);
    return rc;
}

static enum tk_rc obs_update(struct sq_store *sq, int64_t id, const struct store_sta_input *in)
{
    struct obs old, o;
    enum tk_rc rc = obs_load(sq, id, &old);
    if (rc)
        return rc;
    o = old;
    o.params = NULL;
    if (old.params && !(o.params = strdup(old.params)))
        rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
    int foi_given, ds_given;
    obs_apply(in, &o, &foi_given, &ds_given);
    o.staged = 0;
    if (!rc)
        rc = obs_params(sq, in, &o);
    if (!rc && !foi_given && (o.foi == 0 || (ds_given && o.ds != old.ds)))
        rc = default_foi(sq, o.ds, &o.foi);
    if (!rc)
        rc = obs_remove(sq, &old, 1);
    if (!rc)
        rc = obs_insert(sq, &o);
    free(old.params);
    free(o.params);
    return rc;
}

/* ---- deletes ----------------------------------------------------------------------------------
 */

static enum tk_rc ds_delete(struct sq_store *sq, int64_t ds)
{
    int64_t staged = 0;
    enum tk_rc rc = run(sq, -1, "DELETE FROM obs_staging WHERE ds_id = ?1", &ds, 1, &staged);
    static const char *const sql[] = {
        "DELETE FROM observations WHERE ds_id = ?1",
        "DELETE FROM rollup_minute_slots WHERE ds_id = ?1",
        "DELETE FROM rollup_hour WHERE ds_id = ?1",
        "DELETE FROM rollup_day WHERE ds_id = ?1",
        "DELETE FROM obs_foi_ds WHERE ds_id = ?1",
        "DELETE FROM datastreams WHERE id = ?1",
    };
    for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++)
        rc = run(sq, -1, sql[i], &ds, 1, NULL);
    struct sq_lt_entry *e = NULL;
    if (!rc)
        rc = store_sqlite__lt_entry(sq, ds, 1, &e);
    if (!rc)
        rc = store_sqlite__lt_touch(sq, ds);
    if (!rc)
        memset(e, 0, sizeof *e);
    if (!rc && staged) {
        sq->staged = sq->staged > staged ? sq->staged - staged : 0;
        sq->counter_dirty = 1;
    }
    return rc;
}

static enum tk_rc ds_delete_all(struct sq_store *sq, const char *sql, int64_t key)
{
    int64_t *ids;
    size_t n;
    enum tk_rc rc = collect(sq, sql, key, &ids, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = ds_delete(sq, ids[i]);
    free(ids);
    return rc;
}

static enum tk_rc foi_delete(struct sq_store *sq, int64_t foi)
{
    struct obs *rows = NULL;
    size_t n = 0, cap = 0;
    enum tk_rc rc = obs_collect(
        sq, -1,
        OBS_SELECT("o") "coalesce(o.foi_id, 0), 0 FROM observations o WHERE o.ds_id IN"
                        " (" FOI_DS ") AND coalesce(o.foi_id, " DS_FOI("o.ds_id") ") = ?1",
        foi, &rows, &n, &cap);
    if (!rc)
        rc = obs_collect(sq, -1,
                         OBS_SELECT("s") "0, 1 FROM obs_staging s WHERE s.ds_id IN (" FOI_DS
                                         ") AND " DS_FOI("s.ds_id") " = ?1",
                         foi, &rows, &n, &cap);
    if (!rc && n) {
        qsort(rows, n, sizeof *rows, cmp_obs);
        rc = obs_remove(sq, rows, n);
    }
    obs_free(rows, n);
    /* staged rows of these streams would get it at the next move: no more */
    int64_t *ds = NULL;
    size_t nds = 0;
    if (!rc)
        rc = collect(sq, FOI_DS, foi, &ds, &nds);
    for (size_t i = 0; !rc && i < nds; i++) {
        struct sq_lt_entry *e;
        rc = store_sqlite__lt_entry(sq, ds[i], 1, &e);
        if (rc || !(e->flags & LT_HAS_FOI) || e->foi != foi)
            continue;
        rc = store_sqlite__lt_touch(sq, ds[i]);
        e->flags &= (unsigned char)~LT_HAS_FOI;
        e->foi = 0;
    }
    free(ds);
    if (!rc)
        rc = run(sq, -1, "DELETE FROM obs_foi_ds WHERE foi_id = ?1", &foi, 1, NULL);
    if (!rc)
        rc = run(sq, -1, "DELETE FROM features_of_interest WHERE id = ?1", &foi, 1, NULL);
    return rc;
}

static enum tk_rc delete_in_tx(struct sq_store *sq, enum store_sta_entity e, int64_t id)
{
    enum tk_rc rc = need(sq, e, id);
    if (rc)
        return rc;
    switch (e) {
    case STORE_STA_THING:
        rc = ds_delete_all(sq, "SELECT id FROM datastreams WHERE thing_id = ?1", id);
        /* thing_locations and HistoricalLocations go by ON DELETE CASCADE */
        if (!rc)
            rc = run(sq, -1, "DELETE FROM things WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_LOCATION:
        rc = keep_foi_links(sq, id, 0);
        if (!rc)
            rc = run(sq, -1,
                     "DELETE FROM historical_locations WHERE id IN (SELECT historical_location_id"
                     " FROM historical_location_locations WHERE location_id = ?1)",
                     &id, 1, NULL);
        if (!rc)
            rc = run(sq, -1, "DELETE FROM locations WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_HLOCATION:
        rc = run(sq, -1, "DELETE FROM historical_locations WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_DATASTREAM:
        rc = ds_delete(sq, id);
        break;
    case STORE_STA_SENSOR:
        rc = ds_delete_all(sq, "SELECT id FROM datastreams WHERE sensor_id = ?1", id);
        if (!rc)
            rc = run(sq, -1, "DELETE FROM sensors WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_OPROPERTY:
        rc = ds_delete_all(sq, "SELECT id FROM datastreams WHERE observed_property_id = ?1", id);
        if (!rc)
            rc = run(sq, -1, "DELETE FROM observed_properties WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_OBSERVATION: {
        struct obs o;
        rc = obs_load(sq, id, &o);
        if (rc)
            break;
        rc = obs_remove(sq, &o, 1);
        free(o.params);
        break;
    }
    case STORE_STA_FOI:
        rc = foi_delete(sq, id);
        break;
    default:
        rc = store__fail(&sq->base, TK_EINVAL, "bad entity");
    }
    return rc;
}

/* ---- entry points ------------------------------------------------------------------------------
 */

static enum tk_rc check_store(struct store *st)
{
    if (!st)
        return TK_EINVAL;
    if (st->ops != &store_sqlite__ops)
        return store__fail(st, TK_EINVAL, "SensorThings writes need the SQLite backend");
    return TK_OK;
}

/* Run one write in its own transaction, or a savepoint of the caller's. Refusals of the
 * request (not found, invalid, duplicate) leave the caller's transaction usable. */
static enum tk_rc finish(struct sq_store *sq, int nested, enum tk_rc rc)
{
    if (rc == TK_ENOTFOUND || rc == TK_EINVAL || rc == TK_EDUP) {
        char msg[STORE_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", sq->base.errmsg);
        (void)store_sqlite__write_leave(sq, nested, rc);
        snprintf(sq->base.errmsg, sizeof sq->base.errmsg, "%s", msg);
        return rc;
    }
    return store_sqlite__write_leave(sq, nested, rc);
}

/* ---- owners (firm-private data, store_sta.h) ----------------------------------------------- */

/* Record the viewer's owner as the creator of (e, id); a Thing's privacy follows its
 * properties.access. Observations belong to their Datastream's owner: no row each. */
static enum tk_rc record_owner(struct sq_store *sq, enum store_sta_entity e, int64_t id)
{
    if (!sq->view_owner[0] || e == STORE_STA_OBSERVATION)
        return TK_OK;
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(
        sq->db,
        "INSERT OR REPLACE INTO sta_owners (entity, id, owner, private) VALUES (?1, ?2, ?3,"
        " ?1 = 0 AND (SELECT CASE WHEN json_valid(properties) THEN"
        " json_extract(properties, '$.access') IS 'private' ELSE 0 END FROM things WHERE id = ?2))",
        -1, &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int(s, 1, (int)e);
        sqlite3_bind_int64(s, 2, id);
        sqlite3_bind_text(s, 3, sq->view_owner, -1, SQLITE_TRANSIENT);
        src = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    return src == SQLITE_DONE ? TK_OK : store_sqlite__err(sq, src, "recording an owner");
}

/* After a Thing's properties change: its privacy follows properties.access again (only
 * for Things created through the API, which have an owner). */
static enum tk_rc reprivate(struct sq_store *sq, int64_t thing)
{
    return run(sq, -1,
               "UPDATE sta_owners SET private = (SELECT CASE WHEN json_valid(properties) THEN"
               " json_extract(properties, '$.access') IS 'private' ELSE 0 END FROM things"
               " WHERE id = ?1) WHERE entity = 0 AND id = ?1",
               &thing, 1, NULL);
}

static enum tk_rc may_change(struct sq_store *sq, enum store_sta_entity e, int64_t id, int *may)
{
    static const char *const sql[STORE_STA_N] = {
        [STORE_STA_HLOCATION] =
            "SELECT owner FROM sta_owners WHERE (entity = 2 AND id = ?1) OR (entity = 0 AND"
            " id = (SELECT thing_id FROM historical_locations WHERE id = ?1))"
            " ORDER BY entity DESC LIMIT 1",
        [STORE_STA_OBSERVATION] =
            "SELECT owner FROM sta_owners WHERE entity = 3 AND id = (SELECT ds_id FROM"
            " observations WHERE id = ?1 UNION ALL SELECT ds_id FROM obs_staging"
            " WHERE batch = (?1 >> " STR(SQ_BATCH_SHIFT) ") AND id = ?1 LIMIT 1)",
    };
    *may = 0;
    enum tk_rc rc = need(sq, e, id);
    if (rc || sq->view_all) {
        *may = !rc;
        return rc;
    }
    if (!sq->view_owner[0])
        return TK_OK;
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(
        sq->db, sql[e] ? sql[e] : "SELECT owner FROM sta_owners WHERE entity = ?2 AND id = ?1", -1,
        &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        if (sqlite3_bind_parameter_count(s) >= 2)
            sqlite3_bind_int(s, 2, (int)e);
        src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            const char *o = (const char *)sqlite3_column_text(s, 0);
            *may = o && strcmp(o, sq->view_owner) == 0;
            src = SQLITE_DONE;
        }
    }
    sqlite3_finalize(s);
    return src == SQLITE_DONE ? TK_OK : store_sqlite__err(sq, src, "reading an owner");
}

/* The same refusal whichever way the change comes (the API asks first, for its 403). */
static enum tk_rc must_own(struct sq_store *sq, enum store_sta_entity e, int64_t id)
{
    int may = 0;
    enum tk_rc rc = may_change(sq, e, id, &may);
    if (rc || may)
        return rc;
    return store__fail(&sq->base, TK_EINVAL,
                       "%s(%lld) was not created by '%s': only its creator or an admin key may"
                       " change it",
                       names[e], (long long)id, sq->view_owner);
}

enum tk_rc store_sta_may_change(struct store *st, enum store_sta_entity e, int64_t id, int *may)
{
    *may = 0;
    enum tk_rc rc = check_store(st);
    if (rc || (unsigned)e >= STORE_STA_N)
        return rc ? rc : TK_EINVAL;
    return may_change(sq_of(st), e, id, may);
}

enum tk_rc store_sta_create(struct store *st, const struct store_sta_input *in, int64_t *id)
{
    enum tk_rc rc = check_store(st);
    if (rc || !in || (unsigned)in->entity >= STORE_STA_N)
        return rc ? rc : TK_EINVAL;
    struct sq_store *sq = sq_of(st);
    int nested;
    rc = store_sqlite__write_enter(sq, &nested, 1);
    if (rc)
        return rc;
    int64_t nid = 0;
    rc = check_input(sq, in, 1);
    if (!rc && in->entity == STORE_STA_OBSERVATION) {
        rc = obs_create(sq, in, &nid);
    } else if (!rc) {
        rc = reg_write(sq, in, 0, &nid);
        if (!rc)
            rc = reg_after(sq, in, nid, 1);
    }
    if (!rc)
        rc = record_owner(sq, in->entity, nid);
    rc = finish(sq, nested, rc);
    if (!rc && id)
        *id = nid;
    return rc;
}

enum tk_rc store_sta_update(struct store *st, int64_t id, const struct store_sta_input *in)
{
    enum tk_rc rc = check_store(st);
    if (rc || !in || (unsigned)in->entity >= STORE_STA_N)
        return rc ? rc : TK_EINVAL;
    struct sq_store *sq = sq_of(st);
    int nested;
    rc = store_sqlite__write_enter(sq, &nested, 1);
    if (rc)
        return rc;
    /* a deep insert putting an existing Location under a new Thing adds the Thing to the
     * Location's and changes nothing the Location says: any writer who sees it may (the
     * Thing moves: check_input wants it the writer's). Every other change (a to-one link
     * moves the entity; a Location added to a Thing moves the Thing) is its creator's. */
    int adds_thing = in->entity == STORE_STA_LOCATION && in->set == 0 && !in->replace_links;
    for (size_t i = 0; adds_thing && i < in->nlinks; i++)
        adds_thing = in->links[i].to == STORE_STA_THING;
    if (adds_thing)
        rc = need(sq, in->entity, id);
    else
        rc = must_own(sq, in->entity, id);
    if (!rc)
        rc = check_input(sq, in, 0);
    if (!rc && in->entity == STORE_STA_OBSERVATION) {
        rc = obs_update(sq, id, in);
    } else if (!rc) {
        rc = reg_write(sq, in, id, NULL);
        if (!rc)
            rc = reg_after(sq, in, id, 0);
    }
    if (!rc && in->entity == STORE_STA_THING)
        rc = reprivate(sq, id);
    return finish(sq, nested, rc);
}

enum tk_rc store_sta_delete(struct store *st, enum store_sta_entity e, int64_t id)
{
    enum tk_rc rc = check_store(st);
    if (rc || (unsigned)e >= STORE_STA_N)
        return rc ? rc : TK_EINVAL;
    struct sq_store *sq = sq_of(st);
    int nested;
    rc = store_sqlite__write_enter(sq, &nested, 1);
    if (rc)
        return rc;
    rc = must_own(sq, e, id);
    if (!rc)
        rc = delete_in_tx(sq, e, id);
    return finish(sq, nested, rc);
}
