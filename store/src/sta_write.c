/* SensorThings API writes (store_sta.h), for both backends.
 *
 * Design note. Registry entities are rows of their tables (see sqlite_schema.c); a write
 * is one INSERT or UPDATE assembled from a fixed column map (nothing a client sent becomes
 * SQL text: every value is a bound parameter), plus the links and side effects the
 * standard asks for.
 *
 * Observations are kept by the backend (struct sta_backend: obs_insert, obs_remove,
 * ds_delete), which keeps every derived structure in the same transaction: the rollups
 * (count and sum exactly; minimum and maximum re-read from the remaining raw rows of a
 * bucket when a removed value was one of them, store_sta__unfold) and latest. An update
 * is a delete and an insert that keeps the @iot.id.
 *
 * SQL here is written once for both backends: ON CONFLICT rather than INSERT OR IGNORE,
 * RETURNING id rather than the last rowid, and the dialect's fragments where they
 * differ. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "sta_int.h"
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

/* a Datastream's unitOfMeasurement: its members, read by the dialect's json_text */
static const char *const unit_members[] = {"'$.name'", "'$.symbol'", "'$.definition'"};

static const struct colmap colmaps[STORE_STA_N][STORE_STA_PROPS_MAX] = {
    [STORE_STA_THING] = {{0}, C("name"), C("description"), C("properties")},
    [STORE_STA_LOCATION] = {{0}, C("name"), C("description"), C("encoding_type"), C("location")},
    [STORE_STA_HLOCATION] = {{0}, C("time_us")},
    [STORE_STA_DATASTREAM] = {{0},
                              C("name"),
                              C("description"),
                              {"unit_name, unit_symbol, unit_definition", NULL /* UNIT */},
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

static const struct sta_backend *be_of(struct store *st)
{
    return store_sta__backend(st);
}

/* Prepare sql with integer parameters ?1..?n. */
static enum tk_rc prep(struct store *st, const char *sql, const int64_t *args, int n,
                       struct sta_stmt **out)
{
    struct store_sta_value v[8];
    if (n > 7)
        return store__fail(st, TK_EINVAL, "too many parameters");
    for (int i = 0; i < n; i++)
        v[i + 1] = (struct store_sta_value){.type = STORE_STA_INT, .i = args[i]};
    return be_of(st)->prepare(st, sql, strlen(sql), v, n + 1, 0, out);
}

enum tk_rc store_sta__run(struct store *st, const char *sql, const int64_t *args, int n,
                          int64_t *changes)
{
    const struct sta_backend *be = be_of(st);
    struct sta_stmt *s;
    enum tk_rc rc = prep(st, sql, args, n, &s);
    if (rc)
        return rc;
    while (be->step(s, &rc) == 1)
        ;
    if (!rc && changes)
        *changes = be->changes(s);
    be->finish(s);
    return rc;
}

int store_sta__first_int(struct store *st, const char *sql, const int64_t *args, int n,
                         int64_t *out, enum tk_rc *rc)
{
    const struct sta_backend *be = be_of(st);
    struct sta_stmt *s;
    *rc = prep(st, sql, args, n, &s);
    if (*rc)
        return -1;
    int r = be->step(s, rc);
    if (r == 1 && be->is_null(s, 0))
        r = 0;
    else if (r == 1)
        *out = be->int64(s, 0);
    be->finish(s);
    return r;
}

#define run store_sta__run
#define first_int store_sta__first_int

/* Grow *rows (n used, *cap allocated) for one more element of size sz. */
static enum tk_rc grow(struct store *st, void **rows, size_t n, size_t *cap, size_t sz)
{
    if (n < *cap)
        return TK_OK;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*rows, nc * sz);
    if (!p)
        return store__fail(st, TK_ENOMEM, "out of memory");
    *rows = p;
    *cap = nc;
    return TK_OK;
}

/* Every value of the first column (integers) of sql(?1 = key): *ids new (free it). */
static enum tk_rc collect(struct store *st, const char *sql, int64_t key, int64_t **ids,
                          size_t *n)
{
    const struct sta_backend *be = be_of(st);
    struct sta_stmt *s;
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    enum tk_rc rc = prep(st, sql, &key, 1, &s);
    if (rc)
        return rc;
    while (be->step(s, &rc) == 1) {
        rc = grow(st, (void **)ids, *n, &cap, sizeof **ids);
        if (rc)
            break;
        (*ids)[(*n)++] = be->int64(s, 0);
    }
    be->finish(s);
    return rc;
}

/* TK_OK if entity (e, id) exists, TK_ENOTFOUND (with a message) if not. */
/* 1 if the viewer may see (e, id) (which exists), 0 if not, -1 on error (*rc). */
static int visible(struct store *st, enum store_sta_entity e, int64_t id, enum tk_rc *rc)
{
    if (!store_sta__hides(st))
        return 1;
    struct store_sta_query q = {.entity = e, .has_id = 1, .id = id, .top = 1};
    int64_t n = 0;
    *rc = store_sta_count(st, &q, &n);
    return *rc ? -1 : n > 0;
}

static enum tk_rc need(struct store *st, enum store_sta_entity e, int64_t id)
{
    struct sqlbuf *obs = malloc(sizeof *obs);
    if (!obs)
        return store__fail(st, TK_ENOMEM, "out of memory");
    obs->len = 0;
    obs->overflow = 0;
    store_sta__put(obs, "SELECT ");
    store_sta__obs_by_id(obs, be_of(st)->d, "1", "1");
    const char *const sql[STORE_STA_N] = {
        "SELECT 1 FROM things WHERE id = ?1",
        "SELECT 1 FROM locations WHERE id = ?1",
        "SELECT 1 FROM historical_locations WHERE id = ?1",
        "SELECT 1 FROM datastreams WHERE id = ?1",
        "SELECT 1 FROM sensors WHERE id = ?1",
        "SELECT 1 FROM observed_properties WHERE id = ?1",
        obs->s,
        "SELECT 1 FROM features_of_interest WHERE id = ?1",
    };
    int64_t one;
    enum tk_rc rc = TK_OK;
    int f = first_int(st, sql[e], &id, 1, &one, &rc);
    free(obs);
    if (f > 0)
        f = visible(st, e, id, &rc); /* another owner's private data does not exist here */
    if (f < 0)
        return rc;
    if (f == 0)
        return store__fail(st, TK_ENOTFOUND, "%s(%lld) does not exist", names[e],
                           (long long)id);
    return TK_OK;
}

/* ---- Things' Locations and HistoricalLocations ------------------------------------------ */

/* Before a Thing leaves a Location (or the Location goes): the Observations its
 * Datastreams already have with the FeatureOfInterest made at that Location stay findable
 * from it. FOI_DS finds them through the Thing's Locations, which are about to change, so
 * the (FoI, Datastream) pairs are written down in obs_foi_ds. ?1: the Location, ?2: the
 * Thing (0: every Thing at it). */
static enum tk_rc keep_foi_links(struct store *st, int64_t loc, int64_t thing)
{
    return run(st, "INSERT INTO obs_foi_ds (foi_id, ds_id) SELECT f.id, d.id"
               " FROM features_of_interest f JOIN thing_locations tl"
               " ON tl.location_id = f.location_id JOIN datastreams d ON d.thing_id = tl.thing_id"
               " WHERE f.location_id = ?1 AND (?2 = 0 OR tl.thing_id = ?2)"
               " ON CONFLICT DO NOTHING",
               (int64_t[]){loc, thing}, 2, NULL);
}

/* A HistoricalLocation of thing now, with its current Locations. */
static enum tk_rc hl_add(struct store *st, int64_t thing)
{
    int64_t a[2] = {thing, tk_now_utc_us()};
    enum tk_rc rc = TK_OK;
    if (first_int(st,
                  "INSERT INTO historical_locations (thing_id, time_us) VALUES (?1, ?2)"
                  " RETURNING id",
                  a, 2, &a[1], &rc) <= 0)
        return rc ? rc : store__fail(st, TK_EDB, "adding a HistoricalLocation: no id");
    return run(st, "INSERT INTO historical_location_locations (historical_location_id, location_id)"
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
static enum tk_rc thing_locations(struct store *st, int64_t thing, const int64_t *locs, size_t n,
                                  int replace)
{
    int64_t *cur = NULL;
    size_t ncur = 0;
    enum tk_rc rc = collect(st, "SELECT location_id FROM thing_locations WHERE thing_id = ?1",
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
            rc = keep_foi_links(st, cur[i], thing);
    free(cur);
    if (!rc && replace)
        rc = run(st, "DELETE FROM thing_locations WHERE thing_id = ?1", &thing, 1, NULL);
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t a[2] = {thing, locs[i]};
        rc = run(st,
                 "INSERT INTO thing_locations (thing_id, location_id) VALUES (?1, ?2)"
                 " ON CONFLICT DO NOTHING",
                 a, 2, NULL);
    }
    /* a HistoricalLocation records where the Thing is: none when it is nowhere now */
    return rc || n == 0 ? rc : hl_add(st, thing);
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

#define P_LINK 10 /* ?10.. the to-one links */
#define P_NOW 30
#define P_ID 31

/* Check the values and links of in for entity e (create: mandatory ones present). */
static enum tk_rc must_own(struct store *st, enum store_sta_entity e, int64_t id);

int store_sta_link_changes(enum store_sta_entity from, enum store_sta_entity to)
{
    return (to == STORE_STA_THING &&
            (from == STORE_STA_LOCATION || from == STORE_STA_HLOCATION ||
             from == STORE_STA_DATASTREAM)) ||
           (from == STORE_STA_OBSERVATION && to == STORE_STA_DATASTREAM);
}

static enum tk_rc check_input(struct store *st, const struct store_sta_input *in, int create)
{
    size_t np;
    const struct store_sta_prop *props = store_sta_props(in->entity, &np);
    for (size_t p = 1; p < np; p++) {
        const struct store_sta_value *v = &in->v[p];
        if (!(in->set & BIT(p))) {
            if (create && (mandatory[in->entity] & BIT(p)))
                return store__fail(st, TK_EINVAL, "%s needs its %s", names[in->entity],
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
            return store__fail(st, TK_EINVAL, "%s: unusable value for %s", names[in->entity],
                               props[p].name);
    }
    if (in->nlinks > STORE_STA_LINKS_MAX)
        return store__fail(st, TK_EINVAL, "too many links");
    for (size_t i = 0; i < in->nlinks; i++) {
        const struct store_sta_link *l = &in->links[i];
        if ((unsigned)l->to >= STORE_STA_N)
            return store__fail(st, TK_EINVAL, "bad link");
        int one = link_col(in->entity, l->to) != NULL ||
                  (in->entity == STORE_STA_OBSERVATION &&
                   (l->to == STORE_STA_DATASTREAM || l->to == STORE_STA_FOI));
        if (!one && !link_many(in->entity, l->to))
            return store__fail(st, TK_EINVAL, "a %s cannot be linked to a %s here",
                               names[in->entity], names[l->to]);
        for (size_t j = 0; one && j < i; j++)
            if (in->links[j].to == l->to)
                return store__fail(st, TK_EINVAL, "a %s has one %s", names[in->entity],
                                   names[l->to]);
        enum tk_rc rc = need(st, l->to, l->id);
        if (!rc && !!st->sta_hide && store_sta_link_changes(in->entity, l->to))
            rc = must_own(st, l->to, l->id);
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
                return store__fail(st, TK_EINVAL, "%s needs its %s", names[in->entity],
                                   names[needed[k].to]);
        }
    }
    return TK_OK;
}

/* The expression written for property p of entity e ('@' of the column map: its
 * parameter ?p; a Datastream's unitOfMeasurement: its three members). */
static void put_value(struct sqlbuf *b, const struct sta_dialect *d, enum store_sta_entity e,
                      size_t p)
{
    if (colmaps[e][p].exprs) {
        put_expr(b, colmaps[e][p].exprs, (int)p);
        return;
    }
    for (size_t k = 0; k < sizeof unit_members / sizeof unit_members[0]; k++) {
        const char *t = d->json_text;
        store_sta__put(b, "%s", k ? ", " : "");
        for (int a; (a = store_sta__tmpl_next(b, &t)) >= 0;) {
            if (a == 0)
                store_sta__put(b, "?%d", (int)p);
            else
                store_sta__put(b, "%s", unit_members[k]);
        }
    }
}

/* Append ", " before every item but the first. */
static void sep(struct sqlbuf *b, int *n)
{
    if ((*n)++)
        store_sta__put(b, ", ");
}

/* INSERT (id == 0; *out gets the new id) or UPDATE of a registry row with in's properties
 * and to-one links. */
static enum tk_rc reg_write(struct store *st, const struct store_sta_input *in, int64_t id,
                            int64_t *out)
{
    const struct sta_backend *be = be_of(st);
    enum store_sta_entity e = in->entity;
    size_t np;
    (void)store_sta_props(e, &np);
    struct sqlbuf *b = calloc(1, sizeof *b);
    struct store_sta_value *v = calloc(P_ID + 1, sizeof *v);
    enum tk_rc rc = TK_OK;
    if (!b || !v) {
        rc = store__fail(st, TK_ENOMEM, "out of memory");
        goto cleanup;
    }
    int ncols = 0;
    if (!id) {
        store_sta__put(b, "INSERT INTO %s (", tables[e]);
        for (size_t p = 1; p < np; p++)
            if (in->set & BIT(p)) {
                sep(b, &ncols);
                store_sta__put(b, "%s", colmaps[e][p].cols);
            }
        for (size_t i = 0; i < in->nlinks; i++)
            if (link_col(e, in->links[i].to)) {
                sep(b, &ncols);
                store_sta__put(b, "%s", link_col(e, in->links[i].to));
            }
        if (e == STORE_STA_THING) {
            sep(b, &ncols);
            store_sta__put(b, "created_us");
        }
        store_sta__put(b, ") VALUES (");
        ncols = 0;
        for (size_t p = 1; p < np; p++) {
            if (!(in->set & BIT(p)))
                continue;
            sep(b, &ncols);
            put_value(b, be->d, e, p);
        }
        for (size_t i = 0; i < in->nlinks; i++)
            if (link_col(e, in->links[i].to)) {
                sep(b, &ncols);
                store_sta__put(b, "?%d", P_LINK + (int)i);
            }
        if (e == STORE_STA_THING) {
            sep(b, &ncols);
            store_sta__put(b, "?%d", P_NOW);
        }
        store_sta__put(b, ") RETURNING id");
    } else {
        store_sta__put(b, "UPDATE %s SET ", tables[e]);
        for (size_t p = 1; p < np; p++) {
            if (!(in->set & BIT(p)))
                continue;
            sep(b, &ncols);
            int several = strchr(colmaps[e][p].cols, ',') != NULL;
            store_sta__put(b, several ? "(%s) = (" : "%s = (", colmaps[e][p].cols);
            put_value(b, be->d, e, p);
            store_sta__put(b, ")");
        }
        for (size_t i = 0; i < in->nlinks; i++)
            if (link_col(e, in->links[i].to)) {
                sep(b, &ncols);
                store_sta__put(b, "%s = ?%d", link_col(e, in->links[i].to), P_LINK + (int)i);
            }
        store_sta__put(b, " WHERE id = ?%d", P_ID);
    }
    if (b->overflow) {
        rc = store__fail(st, TK_EFULL, "SensorThings write too long");
        goto cleanup;
    }
    if (id && ncols == 0)
        goto cleanup; /* nothing of the row itself changes */
    for (size_t p = 1; p < np; p++)
        if (in->set & BIT(p))
            v[p] = in->v[p];
    for (size_t i = 0; i < in->nlinks; i++)
        if (link_col(e, in->links[i].to))
            v[P_LINK + i] = (struct store_sta_value){.type = STORE_STA_INT, .i = in->links[i].id};
    v[P_NOW] = (struct store_sta_value){.type = STORE_STA_INT, .i = tk_now_utc_us()};
    v[P_ID] = (struct store_sta_value){.type = STORE_STA_INT, .i = id};
    for (int k = 1; k <= P_ID; k++) /* as stored: times are integers */
        if (v[k].type == STORE_STA_TIME)
            v[k].type = STORE_STA_INT;
    struct sta_stmt *s = NULL;
    rc = be->prepare(st, b->s, b->len, v, id ? P_ID + 1 : P_NOW + 1, 0, &s);
    if (rc)
        goto cleanup;
    int r = be->step(s, &rc);
    if (r == 1 && !id && out)
        *out = be->int64(s, 0);
    else if (r == 0 && !id)
        rc = store__fail(st, TK_EDB, "writing a SensorThings entity: no id");
    be->finish(s);
cleanup:
    free(v);
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
static enum tk_rc reg_after(struct store *st, const struct store_sta_input *in, int64_t id,
                            int create)
{
    int64_t ids[STORE_STA_LINKS_MAX];
    size_t n;
    enum tk_rc rc = TK_OK;
    switch (in->entity) {
    case STORE_STA_THING:
        n = links_to(in, STORE_STA_LOCATION, ids);
        if (n || (!create && in->replace_links))
            rc = thing_locations(st, id, ids, n, !create && in->replace_links);
        break;
    case STORE_STA_LOCATION:
        n = links_to(in, STORE_STA_THING, ids);
        for (size_t i = 0; !rc && i < n; i++)
            rc = thing_locations(st, ids[i], &id, 1, 0);
        break;
    case STORE_STA_HLOCATION:
        n = links_to(in, STORE_STA_LOCATION, ids);
        if (!create && in->replace_links)
            rc = run(st, "DELETE FROM historical_location_locations WHERE historical_location_id = ?1",
                     &id, 1, NULL);
        for (size_t i = 0; !rc && i < n; i++) {
            int64_t a[2] = {id, ids[i]};
            rc = run(st, "INSERT INTO historical_location_locations"
                     " (historical_location_id, location_id) VALUES (?1, ?2)"
                     " ON CONFLICT DO NOTHING",
                     a, 2, NULL);
        }
        break;
    case STORE_STA_DATASTREAM:
        if (create)
            rc = be_of(st)->ds_created(st, id);
        break;
    default:
        break;
    }
    return rc;
}

/* ---- Observations ---------------------------------------------------------------------------- */

static int cmp_obs(const void *a, const void *b)
{
    const struct sta_obs *x = a, *y = b;
    if (x->ds != y->ds)
        return x->ds < y->ds ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

static void obs_free(struct sta_obs *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].params);
    free(rows);
}

#define OBS_SELECT(a)                                                                              \
    "SELECT " a ".ds_id, " a ".t_us, coalesce(" a ".t_end_us, 0), coalesce(" a                     \
    ".result_time_us, 0), " a ".result, " a ".params, " a ".id, "
/* The rows of one Observation table, with ?1: SQLite's observations and obs_staging. */
#define OBS_MAIN(where) OBS_SELECT("o") "coalesce(o.foi_id, 0), 0 FROM observations o WHERE " where
#define OBS_STAGED(where) OBS_SELECT("s") "0, 1 FROM obs_staging s WHERE " where

/* Rows of sql (OBS_SELECT ..., foi, staged) with ?1 = key, appended to *rows. */
static enum tk_rc obs_collect(struct store *st, const char *sql, int64_t key,
                              struct sta_obs **rows, size_t *n, size_t *cap)
{
    const struct sta_backend *be = be_of(st);
    struct sta_stmt *s;
    enum tk_rc rc = prep(st, sql, &key, 1, &s);
    if (rc)
        return rc;
    while (be->step(s, &rc) == 1) {
        rc = grow(st, (void **)rows, *n, cap, sizeof **rows);
        if (rc)
            break;
        struct sta_obs *o = &(*rows)[*n];
        *o = (struct sta_obs){.ds = be->int64(s, 0),
                              .t = be->int64(s, 1),
                              .t_end = be->int64(s, 2),
                              .rt = be->int64(s, 3),
                              .result = be->real(s, 4),
                              .id = be->int64(s, 6),
                              .foi = be->int64(s, 7),
                              .staged = (int)be->int64(s, 8)};
        size_t len;
        const char *p = be->text(s, 5, &len);
        if (p && !(o->params = strndup(p, len))) {
            rc = store__fail(st, TK_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    be->finish(s);
    return rc;
}

/* The rows of both arms (the staged one only where the backend has it). */
static enum tk_rc obs_collect2(struct store *st, const char *main_sql, const char *staged_sql,
                               int64_t key, struct sta_obs **rows, size_t *n)
{
    size_t cap = 0;
    enum tk_rc rc = obs_collect(st, main_sql, key, rows, n, &cap);
    if (!rc && be_of(st)->d->two_obs_tables)
        rc = obs_collect(st, staged_sql, key, rows, n, &cap);
    return rc;
}

/* One observation by id (either table). TK_ENOTFOUND if none. */
static enum tk_rc obs_load(struct store *st, int64_t id, struct sta_obs *out)
{
    struct sta_obs *rows = NULL;
    size_t n = 0;
    enum tk_rc rc = obs_collect2(
        st, OBS_MAIN("o.id = ?1"),
        OBS_STAGED("s.batch = (?1 >> " STR(SQ_BATCH_SHIFT) ") AND s.id = ?1"), id, &rows, &n);
    if (!rc && n == 0)
        rc = store__fail(st, TK_ENOTFOUND, "Observation(%lld) does not exist", (long long)id);
    if (!rc) {
        *out = rows[0];
        rows[0].params = NULL;
    }
    obs_free(rows, n);
    return rc;
}

static enum tk_rc record_owner(struct store *st, enum store_sta_entity e, int64_t id);

/* The FeatureOfInterest an Observation of ds gets when none is given: the one at its
 * Thing's Location (the same the reads assume for staged rows), made from that Location
 * when it has none yet. */
static enum tk_rc default_foi(struct store *st, int64_t ds, int64_t *foi)
{
    enum tk_rc rc = TK_OK;
    int f = first_int(st, "SELECT " DS_FOI("?1"), &ds, 1, foi, &rc);
    if (f)
        return f < 0 ? rc : TK_OK;
    int64_t loc;
    f = first_int(st,
                  "SELECT tl.location_id FROM datastreams d JOIN thing_locations tl"
                  " ON tl.thing_id = d.thing_id WHERE d.id = ?1 ORDER BY tl.location_id DESC"
                  " LIMIT 1",
                  &ds, 1, &loc, &rc);
    if (f < 0)
        return rc;
    if (f == 0)
        return store__fail(st, TK_EINVAL,
                           "the Observation has no FeatureOfInterest, and the Thing of"
                           " Datastream(%lld) has no Location to make one from",
                           (long long)ds);
    f = first_int(st,
                  "INSERT INTO features_of_interest (name, description, encoding_type, feature,"
                  " location_id) SELECT name, description, encoding_type, location, id"
                  " FROM locations WHERE id = ?1 RETURNING id",
                  &loc, 1, foi, &rc);
    if (f == 0)
        rc = store__fail(st, TK_EDB, "making a FeatureOfInterest: no id");
    if (!rc)
        rc = record_owner(st, STORE_STA_FOI, *foi);
    return rc;
}

enum tk_rc store_sta__dup(struct store *st, const struct sta_obs *o, int64_t dup)
{
    char when[40];
    if (tk_time_format(o->t, when, sizeof when))
        snprintf(when, sizeof when, "%lld us", (long long)o->t);
    return store__fail(st, TK_EDUP,
                       "Datastream(%lld) already has an Observation at phenomenonTime %s"
                       " (Observation(%lld))",
                       (long long)o->ds, when, (long long)dup);
}

/* Insert o (o->id 0: a new id) with what derives from it (the backend's obs_insert). */
static enum tk_rc obs_insert(struct store *st, struct sta_obs *o)
{
    enum tk_rc rc = need(st, STORE_STA_DATASTREAM, o->ds);
    if (rc)
        return rc;
    if (o->rt == o->t)
        o->rt = 0;
    return be_of(st)->obs_insert(st, o);
}

enum tk_rc store_sta__unfold(struct store *st, const char *table, int64_t iv,
                             struct sta_obs *const *rows, size_t n)
{
    const struct sta_backend *be = be_of(st);
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
        struct store_sta_value v[7] = {[1] = {.type = STORE_STA_INT, .i = ds},
                                       [2] = {.type = STORE_STA_INT, .i = bk}};
        struct sta_stmt *s;
        rc = be->prepare(st, sql[0], strlen(sql[0]), v, 3, 0, &s);
        if (rc)
            break;
        int64_t bn = 0;
        double total = 0, blo = 0, bhi = 0;
        if (be->step(s, &rc) == 1) {
            bn = be->int64(s, 0);
            total = be->real(s, 1);
            blo = be->real(s, 2);
            bhi = be->real(s, 3);
        }
        be->finish(s);
        if (rc || bn == 0)
            continue;
        if (bn <= k) {
            rc = run(st, sql[2], (int64_t[]){ds, bk}, 2, NULL);
            continue;
        }
        if (lo <= blo || hi >= bhi) {
            rc = prep(st,
                      "SELECT min(result), max(result) FROM observations WHERE ds_id = ?1"
                      " AND t_us >= ?2 AND t_us < ?3 AND result IS NOT NULL",
                      (int64_t[]){ds, bk, bk + iv}, 3, &s);
            if (rc)
                break;
            if (be->step(s, &rc) == 1 && !be->is_null(s, 0)) {
                blo = be->real(s, 0);
                bhi = be->real(s, 1);
            }
            be->finish(s);
            if (rc)
                break;
        }
        v[3] = (struct store_sta_value){.type = STORE_STA_INT, .i = bn - k};
        v[4] = (struct store_sta_value){.type = STORE_STA_REAL, .d = total - sum};
        v[5] = (struct store_sta_value){.type = STORE_STA_REAL, .d = blo};
        v[6] = (struct store_sta_value){.type = STORE_STA_REAL, .d = bhi};
        rc = be->prepare(st, sql[1], strlen(sql[1]), v, 7, 0, &s);
        if (rc)
            break;
        while (be->step(s, &rc) == 1)
            ;
        be->finish(s);
    }
    return rc;
}

/* Apply in's Observation properties and links to o. *foi_given: a FeatureOfInterest
 * link was given. */
static void obs_apply(const struct store_sta_input *in, struct sta_obs *o, int *foi_given,
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
static enum tk_rc obs_params(struct store *st, const struct store_sta_input *in, struct sta_obs *o)
{
    if (!(in->set & BIT(4)))
        return TK_OK;
    free(o->params);
    o->params = NULL;
    if (in->v[4].type != STORE_STA_JSON)
        return TK_OK;
    o->params = malloc(in->v[4].len + 1);
    if (!o->params)
        return store__fail(st, TK_ENOMEM, "out of memory");
    memcpy(o->params, in->v[4].s, in->v[4].len);
    o->params[in->v[4].len] = '\0';
    return TK_OK;
}

static enum tk_rc obs_create(struct store *st, const struct store_sta_input *in, int64_t *id)
{
    struct sta_obs o = {.t = tk_now_utc_us()};
    int foi_given, ds_given;
    obs_apply(in, &o, &foi_given, &ds_given);
    enum tk_rc rc = obs_params(st, in, &o);
    if (!rc && !foi_given)
        rc = default_foi(st, o.ds, &o.foi);
    if (!rc)
        rc = obs_insert(st, &o);
    if (!rc && id)
        *id = o.id;
    free(o.params);
    return rc;
}

static enum tk_rc obs_update(struct store *st, int64_t id, const struct store_sta_input *in)
{
    struct sta_obs old, o;
    enum tk_rc rc = obs_load(st, id, &old);
    if (rc)
        return rc;
    o = old;
    o.params = NULL;
    if (old.params && !(o.params = strdup(old.params)))
        rc = store__fail(st, TK_ENOMEM, "out of memory");
    int foi_given, ds_given;
    obs_apply(in, &o, &foi_given, &ds_given);
    o.staged = 0;
    if (!rc)
        rc = obs_params(st, in, &o);
    if (!rc && !foi_given && (o.foi == 0 || (ds_given && o.ds != old.ds)))
        rc = default_foi(st, o.ds, &o.foi);
    if (!rc)
        rc = be_of(st)->obs_remove(st, &old, 1);
    if (!rc)
        rc = obs_insert(st, &o);
    free(old.params);
    free(o.params);
    return rc;
}

/* ---- deletes ----------------------------------------------------------------------------------
 */

static enum tk_rc ds_delete_all(struct store *st, const char *sql, int64_t key)
{
    int64_t *ids;
    size_t n;
    enum tk_rc rc = collect(st, sql, key, &ids, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = be_of(st)->ds_delete(st, ids[i]);
    free(ids);
    return rc;
}

static enum tk_rc foi_delete(struct store *st, int64_t foi)
{
    struct sta_obs *rows = NULL;
    size_t n = 0;
    enum tk_rc rc = obs_collect2(st,
                                 OBS_MAIN("o.ds_id IN (" FOI_DS ") AND coalesce(o.foi_id, " DS_FOI(
                                     "o.ds_id") ") = ?1"),
                                 OBS_STAGED("s.ds_id IN (" FOI_DS ") AND " DS_FOI("s.ds_id") " = ?1"),
                                 foi, &rows, &n);
    if (!rc && n) {
        qsort(rows, n, sizeof *rows, cmp_obs);
        rc = be_of(st)->obs_remove(st, rows, n);
    }
    obs_free(rows, n);
    /* staged rows of these streams would get it at the next move: no more */
    int64_t *ds = NULL;
    size_t nds = 0;
    if (!rc)
        rc = collect(st, FOI_DS, foi, &ds, &nds);
    if (!rc)
        rc = be_of(st)->foi_forget(st, foi, ds, nds);
    free(ds);
    if (!rc)
        rc = run(st, "DELETE FROM obs_foi_ds WHERE foi_id = ?1", &foi, 1, NULL);
    if (!rc)
        rc = run(st, "DELETE FROM features_of_interest WHERE id = ?1", &foi, 1, NULL);
    return rc;
}

static enum tk_rc delete_in_tx(struct store *st, enum store_sta_entity e, int64_t id)
{
    enum tk_rc rc = need(st, e, id);
    if (rc)
        return rc;
    switch (e) {
    case STORE_STA_THING:
        rc = ds_delete_all(st, "SELECT id FROM datastreams WHERE thing_id = ?1", id);
        /* thing_locations and HistoricalLocations go by ON DELETE CASCADE */
        if (!rc)
            rc = run(st, "DELETE FROM things WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_LOCATION:
        rc = keep_foi_links(st, id, 0);
        if (!rc)
            rc = run(st, "DELETE FROM historical_locations WHERE id IN (SELECT historical_location_id"
                     " FROM historical_location_locations WHERE location_id = ?1)",
                     &id, 1, NULL);
        if (!rc)
            rc = run(st, "DELETE FROM locations WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_HLOCATION:
        rc = run(st, "DELETE FROM historical_locations WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_DATASTREAM:
        rc = be_of(st)->ds_delete(st, id);
        break;
    case STORE_STA_SENSOR:
        rc = ds_delete_all(st, "SELECT id FROM datastreams WHERE sensor_id = ?1", id);
        if (!rc)
            rc = run(st, "DELETE FROM sensors WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_OPROPERTY:
        rc = ds_delete_all(st, "SELECT id FROM datastreams WHERE observed_property_id = ?1", id);
        if (!rc)
            rc = run(st, "DELETE FROM observed_properties WHERE id = ?1", &id, 1, NULL);
        break;
    case STORE_STA_OBSERVATION: {
        struct sta_obs o;
        rc = obs_load(st, id, &o);
        if (rc)
            break;
        rc = be_of(st)->obs_remove(st, &o, 1);
        free(o.params);
        break;
    }
    case STORE_STA_FOI:
        rc = foi_delete(st, id);
        break;
    default:
        rc = store__fail(st, TK_EINVAL, "bad entity");
    }
    return rc;
}

/* ---- entry points ------------------------------------------------------------------------------
 */

/* The start of every write: a backend that has them, a known entity, its own transaction
 * or a savepoint of the caller's. */
static enum tk_rc write_begin(struct store *st, enum store_sta_entity e, int *nested)
{
    if (!st)
        return TK_EINVAL;
    const struct sta_backend *be = store_sta__backend(st);
    if (!be || (unsigned)e >= STORE_STA_N)
        return TK_EINVAL;
    return be->write_enter(st, nested);
}

/* Refusals of the request (not found, invalid, duplicate) leave the caller's transaction
 * usable, and their message as it was. */
static enum tk_rc finish(struct store *st, int nested, enum tk_rc rc)
{
    const struct sta_backend *be = be_of(st);
    if (rc == TK_ENOTFOUND || rc == TK_EINVAL || rc == TK_EDUP) {
        char msg[STORE_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", st->errmsg);
        (void)be->write_leave(st, nested, rc);
        snprintf(st->errmsg, sizeof st->errmsg, "%s", msg);
        return rc;
    }
    return be->write_leave(st, nested, rc);
}

/* ---- owners (firm-private data, store_sta.h) ----------------------------------------------- */

/* Record the viewer's owner as the creator of (e, id); a Thing's privacy follows its
 * properties.access. Observations belong to their Datastream's owner: no row each. */
static enum tk_rc record_owner(struct store *st, enum store_sta_entity e, int64_t id)
{
    if (!st->sta_owner[0] || e == STORE_STA_OBSERVATION)
        return TK_OK;
    const struct sta_backend *be = be_of(st);
    struct sqlbuf *b = malloc(sizeof *b);
    if (!b)
        return store__fail(st, TK_ENOMEM, "out of memory");
    b->len = 0;
    b->overflow = 0;
    store_sta__put(b,
                   "INSERT INTO sta_owners (entity, id, owner, private) VALUES (?1, ?2, ?3,"
                   " CASE WHEN ?1 = 0 AND %s = 1 THEN 1 ELSE 0 END) ON CONFLICT (entity, id)"
                   " DO UPDATE SET owner = excluded.owner, private = excluded.private",
                   be->d->thing_private);
    struct store_sta_value v[4] = {
        [1] = {.type = STORE_STA_INT, .i = (int64_t)e},
        [2] = {.type = STORE_STA_INT, .i = id},
        [3] = {.type = STORE_STA_TEXT, .s = st->sta_owner, .len = strlen(st->sta_owner)}};
    struct sta_stmt *s = NULL;
    enum tk_rc rc = be->prepare(st, b->s, b->len, v, 4, 0, &s);
    while (!rc && be->step(s, &rc) == 1)
        ;
    be->finish(s);
    free(b);
    return rc;
}

/* After a Thing's properties change: its privacy follows properties.access again (only
 * for Things created through the API, which have an owner). */
static enum tk_rc reprivate(struct store *st, int64_t thing)
{
    char sql[640];
    snprintf(sql, sizeof sql,
             "UPDATE sta_owners SET private = CASE WHEN %s = 1 THEN 1 ELSE 0 END"
             " WHERE entity = 0 AND id = ?2",
             be_of(st)->d->thing_private);
    return run(st, sql, (int64_t[]){0, thing}, 2, NULL);
}

static enum tk_rc may_change(struct store *st, enum store_sta_entity e, int64_t id, int *may)
{
    *may = 0;
    enum tk_rc rc = need(st, e, id);
    if (rc || !st->sta_hide) {
        *may = !rc;
        return rc;
    }
    if (!st->sta_owner[0])
        return TK_OK;
    const struct sta_backend *be = be_of(st);
    struct sqlbuf *b = malloc(sizeof *b);
    if (!b)
        return store__fail(st, TK_ENOMEM, "out of memory");
    b->len = 0;
    b->overflow = 0;
    if (e == STORE_STA_HLOCATION) {
        store_sta__put(b, "SELECT owner FROM sta_owners WHERE (entity = 2 AND id = ?1) OR"
                          " (entity = 0 AND id = (SELECT thing_id FROM historical_locations"
                          " WHERE id = ?1)) ORDER BY entity DESC LIMIT 1");
    } else if (e == STORE_STA_OBSERVATION) {
        store_sta__put(b, "SELECT owner FROM sta_owners WHERE entity = 3 AND id = ");
        store_sta__obs_by_id(b, be->d, "ds_id", "ds_id");
    } else {
        store_sta__put(b, "SELECT owner FROM sta_owners WHERE entity = ?2 AND id = ?1");
    }
    struct sta_stmt *s = NULL;
    rc = prep(st, b->s, (int64_t[]){id, (int64_t)e}, strstr(b->s, "?2") ? 2 : 1, &s);
    free(b);
    if (!rc && be->step(s, &rc) == 1) {
        size_t len;
        const char *o = be->text(s, 0, &len);
        *may = o && len == strlen(st->sta_owner) && memcmp(o, st->sta_owner, len) == 0;
    }
    be->finish(s);
    return rc;
}

/* The same refusal whichever way the change comes (the API asks first, for its 403). */
static enum tk_rc must_own(struct store *st, enum store_sta_entity e, int64_t id)
{
    int may = 0;
    enum tk_rc rc = may_change(st, e, id, &may);
    if (rc || may)
        return rc;
    return store__fail(st, TK_EINVAL,
                       "%s(%lld) was not created by '%s': only its creator or an admin key may"
                       " change it",
                       names[e], (long long)id, st->sta_owner);
}

enum tk_rc store_sta_may_change(struct store *st, enum store_sta_entity e, int64_t id, int *may)
{
    *may = 0;
    if (!st || (unsigned)e >= STORE_STA_N || !store_sta__backend(st))
        return TK_EINVAL;
    return may_change(st, e, id, may);
}

enum tk_rc store_sta_create(struct store *st, const struct store_sta_input *in, int64_t *id)
{
    int nested;
    enum tk_rc rc = in ? write_begin(st, in->entity, &nested) : TK_EINVAL;
    if (rc)
        return rc;
    int64_t nid = 0;
    rc = check_input(st, in, 1);
    if (!rc && in->entity == STORE_STA_OBSERVATION) {
        rc = obs_create(st, in, &nid);
    } else if (!rc) {
        rc = reg_write(st, in, 0, &nid);
        if (!rc)
            rc = reg_after(st, in, nid, 1);
    }
    if (!rc)
        rc = record_owner(st, in->entity, nid);
    rc = finish(st, nested, rc);
    if (!rc && id)
        *id = nid;
    return rc;
}

enum tk_rc store_sta_update(struct store *st, int64_t id, const struct store_sta_input *in)
{
    int nested;
    enum tk_rc rc = in ? write_begin(st, in->entity, &nested) : TK_EINVAL;
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
        rc = need(st, in->entity, id);
    else
        rc = must_own(st, in->entity, id);
    if (!rc)
        rc = check_input(st, in, 0);
    if (!rc && in->entity == STORE_STA_OBSERVATION) {
        rc = obs_update(st, id, in);
    } else if (!rc) {
        rc = reg_write(st, in, id, NULL);
        if (!rc)
            rc = reg_after(st, in, id, 0);
    }
    if (!rc && in->entity == STORE_STA_THING)
        rc = reprivate(st, id);
    return finish(st, nested, rc);
}

enum tk_rc store_sta_delete(struct store *st, enum store_sta_entity e, int64_t id)
{
    int nested;
    enum tk_rc rc = write_begin(st, e, &nested);
    if (rc)
        return rc;
    rc = must_own(st, e, id);
    if (!rc)
        rc = delete_in_tx(st, e, id);
    return finish(st, nested, rc);
}
