/* SensorThings API v1.1 operator writes (standard section 10 and 14.4): POST to a
 * collection (with deep insert), PATCH and PUT of an entity, DELETE, and the
 * CreateObservations extension.
 *
 * Design note. A request body is parsed with jansson and walked entity by entity into
 * struct store_sta_input values, checked here so that every refusal names the field it is
 * about ("Datastreams[1].Sensor.metadata"). A deep insert runs in one store transaction:
 * the entities a new one points to (its Thing, Sensor, ObservedProperty, Locations,
 * FeatureOfInterest) are created or looked up first, then the entity, then the entities
 * that point to it (a Thing's Datastreams, a Datastream's Observations); the first
 * refusal rolls the whole back, so a bad nested entity leaves nothing behind. An entity
 * given as {"@iot.id": n} is a link to an existing one (404 when it does not exist).
 * CreateObservations writes each row in its own savepoint: a bad row is reported as an
 * "error: ..." string in the answer and the others are kept, as the standard says.
 *
 * Writes use the pool's one writable connection (http.c takes it for these methods); the
 * reply body is the entity as a GET would render it. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "tk_time.h"

#define PATH_MAX_LEN 256
#define NEST_MAX 8 /* Thing > Datastreams > Observations > FeatureOfInterest is 4 */
#define BIT(p) (1u << (p))

struct wctx {
    const struct api_request *req;
    struct api_reply *rep;
    int created; /* entities created so far (API_DEEP_MAX) */
    int depth;   /* nesting of the entity being created (NEST_MAX) */
    int failed;  /* err* hold the first refusal */
    enum api_err cls;
    char field[PATH_MAX_LEN];
    char msg[512];
};

static enum tk_rc fail(struct wctx *w, enum api_err cls, const char *field, const char *fmt, ...)
    TK_PRINTF(4, 5);

static enum tk_rc fail(struct wctx *w, enum api_err cls, const char *field, const char *fmt, ...)
{
    if (w->failed)
        return TK_EINVAL;
    w->failed = 1;
    w->cls = cls;
    snprintf(w->field, sizeof w->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return TK_EINVAL;
}

/* A store refusal: the store's message, the class from its code. */
static enum tk_rc fail_store(struct wctx *w, enum tk_rc rc, const char *field)
{
    return fail(w, api_err_of_rc(rc), field, "%s", store_errmsg(w->req->st));
}

static void subpath(char *out, const char *path, const char *name, long idx)
{
    const char *dot = path[0] ? "." : "";
    if (idx >= 0)
        snprintf(out, PATH_MAX_LEN, "%s%s%s[%ld]", path, dot, name, idx);
    else
        snprintf(out, PATH_MAX_LEN, "%s%s%s", path, dot, name);
}

static const char *single_name(enum store_sta_entity e)
{
    static const char *const n[STORE_STA_N] = {
        "Thing",  "Location",         "HistoricalLocation", "Datastream",
        "Sensor", "ObservedProperty", "Observation",        "FeatureOfInterest"};
    return (unsigned)e < STORE_STA_N ? n[e] : "entity";
}

/* ---- values -------------------------------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* JSON text of v (new, free with free()). */
static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int is_geojson_type(const char *enc)
{
    return strcmp(enc, "application/geo+json") == 0 || strcmp(enc, "application/vnd.geo+json") == 0;
}

/* coordinates of depth d (0: a position) */
static int coords_ok(const json_t *c, int d, char *why, size_t n)
{
    if (!json_is_array(c)) {
        snprintf(why, n, "coordinates must be arrays");
        return 0;
    }
    size_t k = json_array_size(c);
    if (d == 0) {
        if (k < 2 || k > 3) {
            snprintf(why, n, "a position has 2 or 3 numbers, not %zu", k);
            return 0;
        }
        for (size_t i = 0; i < k; i++) {
            const json_t *x = json_array_get(c, i);
            if (!json_is_number(x) || !isfinite(json_number_value(x))) {
                snprintf(why, n, "a position holds numbers only");
                return 0;
            }
        }
        double lon = json_number_value(json_array_get(c, 0)),
               lat = json_number_value(json_array_get(c, 1));
        if (lon < -180 || lon > 180 || lat < -90 || lat > 90) {
            snprintf(why, n, "position [%g, %g] is outside longitude -180..180, latitude -90..90",
                     lon, lat);
            return 0;
        }
        return 1;
    }
    if (k == 0) {
        snprintf(why, n, "empty coordinates");
        return 0;
    }
    for (size_t i = 0; i < k; i++)
        if (!coords_ok(json_array_get(c, i), d - 1, why, n))
            return 0;
    return 1;
}

/* A GeoJSON geometry (or Feature with one). */
static int geojson_ok(const json_t *v, char *why, size_t n)
{
    static const struct {
        const char *type;
        int depth;
    } kinds[] = {{"Point", 0},           {"MultiPoint", 1}, {"LineString", 1},
                 {"MultiLineString", 2}, {"Polygon", 2},    {"MultiPolygon", 3}};
    const char *type = json_string_value(json_object_get(v, "type"));
    if (!json_is_object(v) || !type) {
        snprintf(why, n, "must be a GeoJSON object with a \"type\"");
        return 0;
    }
    if (strcmp(type, "Feature") == 0)
        return geojson_ok(json_object_get(v, "geometry"), why, n);
    if (strcmp(type, "GeometryCollection") == 0) {
        const json_t *g = json_object_get(v, "geometries");
        if (!json_is_array(g)) {
            snprintf(why, n, "a GeometryCollection needs \"geometries\"");
            return 0;
        }
        for (size_t i = 0; i < json_array_size(g); i++)
            if (!geojson_ok(json_array_get(g, i), why, n))
                return 0;
        return 1;
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(type, kinds[i].type) == 0)
            return coords_ok(json_object_get(v, "coordinates"), kinds[i].depth, why, n);
    snprintf(why, n, "unknown GeoJSON type \"%s\"", type);
    return 0;
}

/* Texts that must outlive the input they are in (JSON dumps), freed after the write. */
struct texts {
    char *t[32];
    size_t n;
};

static void texts_free(struct texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->t[i]);
    t->n = 0;
}

static enum tk_rc set_json(struct wctx *w, struct texts *tx, struct store_sta_input *in, int p,
                           const json_t *v, const char *field)
{
    if (tx->n == sizeof tx->t / sizeof tx->t[0])
        return fail(w, API_E_BADREQ, field, "too many JSON properties in one entity");
    char *s = dump(v);
    if (!s)
        return fail(w, API_E_INTERNAL, field, "out of memory");
    tx->t[tx->n++] = s;
    in->set |= BIT(p);
    in->v[p] = (struct store_sta_value){.type = STORE_STA_JSON, .s = s, .len = strlen(s)};
    return TK_OK;
}

static enum tk_rc parse_time(struct wctx *w, const char *s, size_t len, int64_t *us,
                             const char *field)
{
    if (tk_time_parse_rfc3339(s, len, us))
        return fail(w, API_E_BADREQ, field,
                    "%s: \"%.*s\" is not an RFC 3339 time with an offset"
                    " (2026-11-26T09:00:00Z)",
                    field, (int)(len > 64 ? 64 : len), s);
    return TK_OK;
}

/* One property value of entity e from JSON v into in->v[p]. */
/* A Thing's properties.access ("private" or "public") and properties.owner (if given, the
 * key's own owner: nobody publishes in another firm's name; admin keys may name anyone).
 * 1 after failing w. */
static int owner_claim(struct wctx *w, const json_t *props, const char *field)
{
    const struct api_principal *who = w->req->who;
    const json_t *a = json_object_get(props, "access");
    const json_t *o = json_object_get(props, "owner");
    if (a && (!json_is_string(a) || (strcmp(json_string_value(a), "private") != 0 &&
                                     strcmp(json_string_value(a), "public") != 0))) {
        fail(w, API_E_BADREQ, field, "%s.access: \"private\" or \"public\"", field);
        return 1;
    }
    if (!o)
        return 0;
    if (!json_is_string(o)) {
        fail(w, API_E_BADREQ, field, "%s.owner must be a string, not %s", field, type_name(o));
        return 1;
    }
    if ((who->scopes & API_SCOPE_ADMIN) || strcmp(json_string_value(o), who->owner) == 0)
        return 0;
    fail(w, API_E_FORBIDDEN, field,
         "%s.owner: API key %lld publishes for its owner '%s' only, not for '%.64s'", field,
         (long long)who->key_id, who->owner, json_string_value(o));
    return 1;
}

/* Before a PATCH, PUT or DELETE: 404 for what the caller cannot see, 403 for what it did
 * not create (store_sta_may_change); 0 when it may go ahead. */
static int refuse_change(struct wctx *w, enum store_sta_entity e, int64_t id)
{
    int may = 0;
    enum tk_rc rc = store_sta_may_change(w->req->st, e, id, &may);
    if (rc == TK_ENOTFOUND)
        return fail(w, API_E_NOTFOUND, NULL, "%s(%lld) does not exist", api_set_name(e),
                    (long long)id) != TK_OK;
    if (rc)
        return fail_store(w, rc, NULL) != TK_OK;
    if (!may)
        return fail(w, API_E_FORBIDDEN, NULL,
                    "%s(%lld) was not created by '%s': only its creator or an admin key may"
                    " change it",
                    api_set_name(e), (long long)id, w->req->who->owner) != TK_OK;
    return 0;
}

static enum tk_rc prop_value(struct wctx *w, struct texts *tx, enum store_sta_entity e,
                             struct store_sta_input *in, int p, const json_t *v, const json_t *obj,
                             const char *field)
{
    size_t np;
    const struct store_sta_prop *props = store_sta_props(e, &np);
    const char *name = props[p].name;
    int mand = (store_sta_mandatory(e) & BIT(p)) != 0;
    if (json_is_null(v)) {
        int nullable = !mand || (e == STORE_STA_OBSERVATION && strcmp(name, "resultTime") == 0);
        if (e == STORE_STA_OBSERVATION && strcmp(name, "phenomenonTime") == 0)
            nullable = 0;
        if (!nullable)
            return fail(w, API_E_BADREQ, field, "%s must not be null", field);
        in->set |= BIT(p);
        in->v[p] = (struct store_sta_value){.type = STORE_STA_NULL};
        return TK_OK;
    }
    char why[160];
    if (e == STORE_STA_OBSERVATION) {
        if (strcmp(name, "result") == 0) {
            if (!json_is_number(v) || !isfinite(json_number_value(v)))
                return fail(w, API_E_BADREQ, field,
                            "%s must be a number (this server keeps numeric results), not %s",
                            field, type_name(v));
            in->set |= BIT(p);
            in->v[p] = (struct store_sta_value){.type = STORE_STA_REAL, .d = json_number_value(v)};
            return TK_OK;
        }
        if (strcmp(name, "parameters") == 0) {
            if (!json_is_object(v))
                return fail(w, API_E_BADREQ, field, "%s must be an object, not %s", field,
                            type_name(v));
            return set_json(w, tx, in, p, v, field);
        }
        /* phenomenonTime (instant or interval), resultTime (instant) */
        const char *s = json_string_value(v);
        if (!s)
            return fail(w, API_E_BADREQ, field, "%s must be a time string, not %s", field,
                        type_name(v));
        size_t len = json_string_length(v);
        const char *slash = memchr(s, '/', len);
        int64_t a, b;
        if (slash && strcmp(name, "phenomenonTime") == 0) {
            if (parse_time(w, s, (size_t)(slash - s), &a, field) ||
                parse_time(w, slash + 1, len - (size_t)(slash - s) - 1, &b, field))
                return TK_EINVAL;
            if (b < a)
                return fail(w, API_E_BADREQ, field, "%s: the interval ends before it starts",
                            field);
            in->v[p] = (struct store_sta_value){
                .type = b > a ? STORE_STA_INTERVAL : STORE_STA_TIME, .i = a, .i2 = b};
        } else {
            if (parse_time(w, s, len, &a, field))
                return TK_EINVAL;
            in->v[p] = (struct store_sta_value){.type = STORE_STA_TIME, .i = a};
        }
        in->set |= BIT(p);
        return TK_OK;
    }
    switch (props[p].type) {
    case STORE_STA_TEXT:
        if (!json_is_string(v))
            return fail(w, API_E_BADREQ, field, "%s must be a string, not %s", field, type_name(v));
        in->set |= BIT(p);
        in->v[p] = (struct store_sta_value){
            .type = STORE_STA_TEXT, .s = json_string_value(v), .len = json_string_length(v)};
        return TK_OK;
    case STORE_STA_TIME: {
        int64_t us;
        if (!json_is_string(v))
            return fail(w, API_E_BADREQ, field, "%s must be a time string, not %s", field,
                        type_name(v));
        if (parse_time(w, json_string_value(v), json_string_length(v), &us, field))
            return TK_EINVAL;
        in->set |= BIT(p);
        in->v[p] = (struct store_sta_value){.type = STORE_STA_TIME, .i = us};
        return TK_OK;
    }
    case STORE_STA_JSON:
        break;
    default:
        return fail(w, API_E_BADREQ, field, "%s cannot be written", field);
    }
    if (strcmp(name, "properties") == 0 && !json_is_object(v))
        return fail(w, API_E_BADREQ, field, "%s must be an object, not %s", field, type_name(v));
    if (e == STORE_STA_THING && strcmp(name, "properties") == 0 && owner_claim(w, v, field))
        return TK_EINVAL;
    if (strcmp(name, "unitOfMeasurement") == 0) {
        if (!json_is_object(v))
            return fail(w, API_E_BADREQ, field,
                        "%s must be an object with name, symbol and definition, not %s", field,
                        type_name(v));
        static const char *const keys[] = {"name", "symbol", "definition"};
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            int known = 0;
            for (size_t i = 0; i < 3; i++)
                known |= strcmp(k, keys[i]) == 0;
            if (!known)
                return fail(w, API_E_BADREQ, field,
                            "%s: unknown member \"%s\" (name, symbol, definition)", field, k);
        }
        for (size_t i = 0; i < 3; i++) {
            const json_t *m = json_object_get(v, keys[i]);
            if (!json_is_string(m))
                return fail(w, API_E_BADREQ, field, "%s.%s must be a string%s", field, keys[i],
                            m ? "" : " (it is missing)");
        }
    }
    if (strcmp(name, "location") == 0 || strcmp(name, "feature") == 0) {
        const char *enc = json_string_value(json_object_get(obj, "encodingType"));
        if ((!enc || is_geojson_type(enc)) && !geojson_ok(v, why, sizeof why))
            return fail(w, API_E_BADREQ, field, "%s: %s", field, why);
    }
    return set_json(w, tx, in, p, v, field);
}

/* ---- links ----------------------------------------------------------------------------------- */

/* The entity e keeps its link to `to` itself (so `to` exists before e): a Datastream's
 * Thing, Sensor, ObservedProperty; an Observation's Datastream and FeatureOfInterest; a
 * HistoricalLocation's Thing and Locations; a Thing's Locations; a Location's Things.
 * Every other navigation is kept by the related entity (a Thing's Datastreams). */
static int links_itself(enum store_sta_entity e, enum store_sta_entity to)
{
    switch (e) {
    case STORE_STA_DATASTREAM:
        return to == STORE_STA_THING || to == STORE_STA_SENSOR || to == STORE_STA_OPROPERTY;
    case STORE_STA_OBSERVATION:
        return to == STORE_STA_DATASTREAM || to == STORE_STA_FOI;
    case STORE_STA_HLOCATION:
        return to == STORE_STA_THING || to == STORE_STA_LOCATION;
    case STORE_STA_THING:
        return to == STORE_STA_LOCATION;
    case STORE_STA_LOCATION:
        return to == STORE_STA_THING;
    default:
        return 0;
    }
}

static enum tk_rc add_link(struct wctx *w, struct store_sta_input *in, enum store_sta_entity to,
                           int64_t id, const char *field)
{
    if (in->nlinks == STORE_STA_LINKS_MAX)
        return fail(w, API_E_BADREQ, field, "more than %d related entities", STORE_STA_LINKS_MAX);
    /* an Observation into a Datastream, a Datastream onto a Thing...: the target changes */
    if (store_sta_link_changes(in->entity, to) && refuse_change(w, to, id))
        return TK_EINVAL;
    in->links[in->nlinks++] = (struct store_sta_link){to, id};
    return TK_OK;
}

/* 1 if obj is a reference {"@iot.id": n} (*id set), 0 if not, -1 when refused. */
static int reference(struct wctx *w, const json_t *obj, int64_t *id, const char *field)
{
    const json_t *v = json_object_get(obj, "@iot.id");
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        fail(w, API_E_BADREQ, field, "%s.@iot.id must be a positive integer", field);
        return -1;
    }
    if (json_object_size(obj) != 1) {
        fail(w, API_E_BADREQ, field,
             "%s: an entity given by @iot.id links to an existing one and carries nothing else"
             " (the server assigns ids to new entities)",
             field);
        return -1;
    }
    *id = (int64_t)json_integer_value(v);
    return 1;
}

static enum tk_rc must_exist(struct wctx *w, enum store_sta_entity e, int64_t id, const char *field)
{
    struct store_sta_query q = {.entity = e, .has_id = 1, .id = id, .top = 1};
    int64_t n = 0;
    enum tk_rc rc = store_sta_count(w->req->st, &q, &n);
    if (rc)
        return fail_store(w, rc, field);
    if (n == 0)
        return fail(w, API_E_NOTFOUND, field, "%s: %s(%lld) does not exist", field, api_set_name(e),
                    (long long)id);
    return TK_OK;
}

/* ---- create (deep insert) ----------------------------------------------------------------------
 */

/* Annotations a client may echo back from a GET ("@iot.selfLink",
 * "Datastreams@iot.navigationLink"): not data, skipped. */
static int annotation(const char *key)
{
    return strcmp(key, "@iot.selfLink") == 0 || strstr(key, "@iot.navigationLink") != NULL;
}

static enum tk_rc create_one(struct wctx *w, enum store_sta_entity e, const json_t *obj,
                             const char *path, const struct store_sta_link *parent, int64_t *out);

static enum tk_rc create(struct wctx *w, enum store_sta_entity e, const json_t *obj,
                         const char *path, const struct store_sta_link *parent, int64_t *out)
{
    if (w->depth >= NEST_MAX)
        return fail(w, API_E_BADREQ, path, "%s: entities nested more than %d deep", path, NEST_MAX);
    w->depth++;
    enum tk_rc rc = create_one(w, e, obj, path, parent, out);
    w->depth--;
    return rc;
}

static enum tk_rc create_one(struct wctx *w, enum store_sta_entity e, const json_t *obj,
                             const char *path, const struct store_sta_link *parent, int64_t *out)
{
    char field[PATH_MAX_LEN];
    if (!json_is_object(obj))
        return fail(w, API_E_BADREQ, path, "%s must be a %s object, not %s",
                    path[0] ? path : "the body", single_name(e), type_name(obj));
    int64_t ref = 0;
    int r = reference(w, obj, &ref, path[0] ? path : "@iot.id");
    if (r < 0)
        return TK_EINVAL;
    if (r > 0) {
        if (!parent) {
            if (must_exist(w, e, ref, path))
                return TK_EINVAL;
            *out = ref;
            return TK_OK;
        }
        /* an existing entity put under the new one: it now links to it. Only an existing
         * Location under a new Thing leaves the entity as it was; anything else is a
         * change of it, its creator's to make (the store refuses it too) */
        if (!(e == STORE_STA_LOCATION && parent->to == STORE_STA_THING) &&
            refuse_change(w, e, ref))
            return TK_EINVAL;
        struct store_sta_input up = {.entity = e, .nlinks = 1, .links = {*parent}};
        enum tk_rc rc = store_sta_update(w->req->st, ref, &up);
        if (rc)
            return fail(w, api_err_of_rc(rc), path, "%s: %s", path, store_errmsg(w->req->st));
        *out = ref;
        return TK_OK;
    }
    if (++w->created > API_DEEP_MAX)
        return fail(w, API_E_BADREQ, path, "more than %d entities in one request", API_DEEP_MAX);

    struct store_sta_input in = {.entity = e};
    struct texts tx = {.n = 0};
    enum tk_rc rc = TK_OK;
    if (parent)
        rc = add_link(w, &in, parent->to, parent->id, path);
    const char *key;
    json_t *v;
    /* first pass: properties and the entities this one links to */
    json_object_foreach((json_t *)obj, key, v)
    {
        if (rc)
            break;
        subpath(field, path, key, -1);
        if (annotation(key))
            continue;
        if (strcmp(key, "@iot.id") == 0 || strcmp(key, "id") == 0) {
            rc = fail(w, API_E_BADREQ, field, "%s: the server assigns ids to new entities", field);
            break;
        }
        int p = api_prop_find(e, key, strlen(key));
        if (p > 0) {
            rc = prop_value(w, &tx, e, &in, p, v, obj, field);
            continue;
        }
        int card = 0;
        int to = api_nav_find(e, key, strlen(key), &card);
        if (to < 0) {
            rc = fail(w, API_E_BADREQ, field, "%s: a %s has no property \"%s\"", field,
                      single_name(e), key);
            break;
        }
        if (!links_itself(e, (enum store_sta_entity)to))
            continue; /* second pass */
        if (parent && (int)parent->to == to && card == 1) {
            rc = fail(w, API_E_BADREQ, field,
                      "%s: given twice (by the path or the enclosing"
                      " entity, and here)",
                      field);
            break;
        }
        if (card == 1) {
            int64_t id = 0;
            rc = create(w, (enum store_sta_entity)to, v, field, NULL, &id);
            if (!rc)
                rc = add_link(w, &in, (enum store_sta_entity)to, id, field);
            continue;
        }
        if (!json_is_array(v)) {
            rc = fail(w, API_E_BADREQ, field, "%s must be an array, not %s", field, type_name(v));
            break;
        }
        for (size_t i = 0; !rc && i < json_array_size(v); i++) {
            char ef[PATH_MAX_LEN];
            int64_t id = 0;
            subpath(ef, path, key, (long)i);
            rc = create(w, (enum store_sta_entity)to, json_array_get(v, i), ef, NULL, &id);
            if (!rc)
                rc = add_link(w, &in, (enum store_sta_entity)to, id, ef);
        }
    }
    if (!rc) {
        size_t np;
        const struct store_sta_prop *props = store_sta_props(e, &np);
        unsigned missing = store_sta_mandatory(e) & ~in.set;
        for (size_t p = 1; p < np && !rc; p++) {
            if (missing & BIT(p)) {
                subpath(field, path, props[p].name, -1);
                rc = fail(w, API_E_BADREQ, field, "%s: missing mandatory property of a %s", field,
                          single_name(e));
            }
        }
    }
    int64_t id = 0;
    if (!rc) {
        rc = store_sta_create(w->req->st, &in, &id);
        if (rc) {
            const char *f = path[0] ? path : single_name(e);
            rc = fail(w, api_err_of_rc(rc), f, "%s: %s", f, store_errmsg(w->req->st));
        }
    }
    texts_free(&tx);
    /* second pass: the entities that link to this one */
    json_object_foreach((json_t *)obj, key, v)
    {
        if (rc)
            break;
        int card = 0;
        int to = api_nav_find(e, key, strlen(key), &card);
        if (to < 0 || links_itself(e, (enum store_sta_entity)to))
            continue;
        subpath(field, path, key, -1);
        struct store_sta_link me = {e, id};
        if (card == 1) {
            int64_t cid;
            rc = create(w, (enum store_sta_entity)to, v, field, &me, &cid);
            continue;
        }
        if (!json_is_array(v)) {
            rc = fail(w, API_E_BADREQ, field, "%s must be an array, not %s", field, type_name(v));
            break;
        }
        for (size_t i = 0; !rc && i < json_array_size(v); i++) {
            char ef[PATH_MAX_LEN];
            int64_t cid;
            subpath(ef, path, key, (long)i);
            rc = create(w, (enum store_sta_entity)to, json_array_get(v, i), ef, &me, &cid);
        }
    }
    if (!rc)
        *out = id;
    return rc;
}

/* ---- update (PATCH, PUT) -----------------------------------------------------------------------
 */

static enum tk_rc update(struct wctx *w, enum store_sta_entity e, int64_t id, const json_t *obj,
                         int put)
{
    char field[PATH_MAX_LEN];
    if (!json_is_object(obj))
        return fail(w, API_E_BADREQ, NULL, "the body must be a %s object, not %s", single_name(e),
                    type_name(obj));
    struct store_sta_input in = {.entity = e};
    struct texts tx = {.n = 0};
    enum tk_rc rc = TK_OK;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (rc)
            break;
        snprintf(field, sizeof field, "%s", key);
        if (annotation(key))
            continue;
        if (strcmp(key, "@iot.id") == 0 || strcmp(key, "id") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) != id)
                rc = fail(w, API_E_BADREQ, field, "@iot.id cannot be changed (it is %lld here)",
                          (long long)id);
            continue;
        }
        int p = api_prop_find(e, key, strlen(key));
        if (p > 0) {
            rc = prop_value(w, &tx, e, &in, p, v, obj, field);
            continue;
        }
        int card = 0;
        int to = api_nav_find(e, key, strlen(key), &card);
        if (to < 0) {
            rc = fail(w, API_E_BADREQ, field, "a %s has no property \"%s\"", single_name(e), key);
            break;
        }
        if (!links_itself(e, (enum store_sta_entity)to)) {
            rc = fail(w, API_E_BADREQ, field,
                      "%s are changed through their own link to this %s (PATCH them)", key,
                      single_name(e));
            break;
        }
        if (card == 2 && !json_is_array(v)) {
            rc = fail(w, API_E_BADREQ, field, "%s must be an array of {\"@iot.id\": n}", key);
            break;
        }
        size_t n = card == 2 ? json_array_size(v) : 1;
        if (card == 2)
            in.replace_links = 1;
        for (size_t i = 0; !rc && i < n; i++) {
            const json_t *x = card == 2 ? json_array_get(v, i) : v;
            char ef[PATH_MAX_LEN];
            subpath(ef, "", key, card == 2 ? (long)i : -1);
            int64_t rid = 0;
            int r = json_is_object(x) ? reference(w, x, &rid, ef) : 0;
            if (r < 0) {
                rc = TK_EINVAL;
                break;
            }
            if (r == 0) {
                rc = fail(w, API_E_BADREQ, ef,
                          "%s: in an update, related entities are given as {\"@iot.id\": n}", ef);
                break;
            }
            rc = must_exist(w, (enum store_sta_entity)to, rid, ef);
            if (!rc)
                rc = add_link(w, &in, (enum store_sta_entity)to, rid, ef);
        }
    }
    if (!rc && put) {
        /* a replacement: every mandatory property given, the others back to null */
        size_t np;
        const struct store_sta_prop *props = store_sta_props(e, &np);
        for (size_t p = 1; p < np && !rc; p++) {
            if (in.set & BIT(p))
                continue;
            if (store_sta_mandatory(e) & BIT(p)) {
                rc = fail(w, API_E_BADREQ, props[p].name,
                          "%s: missing; PUT replaces the whole %s (PATCH changes a part)",
                          props[p].name, single_name(e));
            } else {
                in.set |= BIT(p);
                in.v[p] = (struct store_sta_value){.type = STORE_STA_NULL};
                if (e == STORE_STA_OBSERVATION && p == 1) /* phenomenonTime: mandatory here */
                    rc = fail(w, API_E_BADREQ, props[p].name,
                              "%s: missing; PUT replaces the whole %s", props[p].name,
                              single_name(e));
            }
        }
    }
    if (!rc) {
        rc = store_sta_update(w->req->st, id, &in);
        if (rc)
            rc = fail(w, api_err_of_rc(rc), NULL, "%s", store_errmsg(w->req->st));
    }
    texts_free(&tx);
    return rc;
}

/* ---- replies ------------------------------------------------------------------------------------
 */

struct rctx {
    struct api_render ro;
    enum store_sta_entity e;
};

static enum tk_rc render_row(void *ud, const struct store_sta_value *row, size_t n)
{
    struct rctx *x = ud;
    static const struct api_query none;
    return api_sta_render_entity(&x->ro, x->e, row, n, &none, 0);
}

/* The entity as a GET renders it, into the reply body (status set by the caller). */
static void render(struct wctx *w, enum store_sta_entity e, int64_t id)
{
    struct api_reply *rep = w->rep;
    struct rctx x = {.ro = {.cfg = w->req->cfg, .st = w->req->st, .out = &rep->body}, .e = e};
    struct store_sta_query q = {.entity = e, .has_id = 1, .id = id, .top = 1};
    api_buf_reset(&rep->body);
    enum tk_rc rc = store_sta_list(w->req->st, &q, render_row, &x);
    if (rc || rep->body.len == 0)
        api_reply_error(rep, rc ? API_E_INTERNAL : API_E_NOTFOUND, NULL,
                        "written, but reading it back failed: %s",
                        x.ro.errmsg[0] ? x.ro.errmsg : store_errmsg(w->req->st));
}

static void self_link(struct api_buf *b, const struct api_config *cfg, enum store_sta_entity e,
                      int64_t id)
{
    api_buf_url(b, cfg->base_url, 0);
    api_buf_printf(b, "/v1.1/%s(%lld)", api_set_name(e), (long long)id);
}

static void location_header(struct wctx *w, enum store_sta_entity e, int64_t id)
{
    struct api_buf b;
    api_buf_init(&b, sizeof w->rep->location - 1);
    self_link(&b, w->req->cfg, e, id);
    if (!b.err && b.data)
        snprintf(w->rep->location, sizeof w->rep->location, "%s", b.data);
    api_buf_free(&b);
}

static void reply_failure(struct wctx *w)
{
    api_reply_error(w->rep, w->cls, w->field[0] ? w->field : NULL, "%s", w->msg);
}

/* ---- CreateObservations (standard 14.4) ---------------------------------------------------------
 */

enum { COMP_PTIME = 0, COMP_RTIME, COMP_RESULT, COMP_PARAMS, COMP_FOI, COMP_N };

static int component_of(const char *s)
{
    static const char *const names[COMP_N] = {"phenomenonTime", "resultTime", "result",
                                              "parameters", "FeatureOfInterest/id"};
    for (int i = 0; i < COMP_N; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* One row into an Observation input; 0 or a refusal (w). */
static enum tk_rc row_input(struct wctx *w, struct texts *tx, const int *comp, size_t ncomp,
                            const json_t *row, int64_t ds, struct store_sta_input *in,
                            const char *path)
{
    char field[PATH_MAX_LEN];
    if (!json_is_array(row) || json_array_size(row) != ncomp)
        return fail(w, API_E_BADREQ, path, "%s must be an array of %zu values (the components)",
                    path, ncomp);
    *in = (struct store_sta_input){.entity = STORE_STA_OBSERVATION};
    in->links[in->nlinks++] = (struct store_sta_link){STORE_STA_DATASTREAM, ds};
    json_t *obj = json_object(); /* for prop_value's encodingType look-up: none here */
    enum tk_rc rc = obj ? TK_OK : fail(w, API_E_INTERNAL, path, "out of memory");
    for (size_t c = 0; !rc && c < ncomp; c++) {
        const json_t *v = json_array_get(row, c);
        snprintf(field, sizeof field, "%s[%zu]", path, c);
        if (comp[c] == COMP_FOI) {
            if (!json_is_integer(v) || json_integer_value(v) <= 0) {
                rc = fail(w, API_E_BADREQ, field, "%s: FeatureOfInterest/id must be an id", field);
                break;
            }
            in->links[in->nlinks++] =
                (struct store_sta_link){STORE_STA_FOI, (int64_t)json_integer_value(v)};
            continue;
        }
        static const char *const pn[] = {"phenomenonTime", "resultTime", "result", "parameters"};
        int p = api_prop_find(STORE_STA_OBSERVATION, pn[comp[c]], strlen(pn[comp[c]]));
        rc = prop_value(w, tx, STORE_STA_OBSERVATION, in, p, v, obj, field);
    }
    json_decref(obj);
    return rc;
}

static void create_observations(struct wctx *w, const json_t *body)
{
    const struct api_request *req = w->req;
    struct api_buf *b = &w->rep->body;
    if (!json_is_array(body)) {
        fail(w, API_E_BADREQ, NULL,
             "CreateObservations takes an array of {Datastream, components, dataArray}, not %s",
             type_name(body));
        return;
    }
    /* the whole request's shape first: a malformed group refuses everything */
    size_t total = 0;
    for (size_t g = 0; g < json_array_size(body); g++) {
        const json_t *grp = json_array_get(body, g);
        char path[PATH_MAX_LEN], field[PATH_MAX_LEN];
        snprintf(path, sizeof path, "[%zu]", g);
        if (!json_is_object(grp)) {
            fail(w, API_E_BADREQ, path, "%s must be an object", path);
            return;
        }
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)grp, key, v)
        {
            if (strcmp(key, "Datastream") && strcmp(key, "components") &&
                strcmp(key, "dataArray") && strcmp(key, "dataArray@iot.count")) {
                subpath(field, path, key, -1);
                fail(w, API_E_BADREQ, field,
                     "%s: unknown member (Datastream, components, dataArray@iot.count,"
                     " dataArray)",
                     field);
                return;
            }
        }
        int64_t ds = 0;
        subpath(field, path, "Datastream", -1);
        const json_t *d = json_object_get(grp, "Datastream");
        if (!json_is_object(d) || reference(w, d, &ds, field) <= 0) {
            fail(w, API_E_BADREQ, field, "%s must be {\"@iot.id\": n}", field);
            return;
        }
        const json_t *comps = json_object_get(grp, "components");
        subpath(field, path, "components", -1);
        if (!json_is_array(comps) || json_array_size(comps) == 0 ||
            json_array_size(comps) > COMP_N) {
            fail(w, API_E_BADREQ, field, "%s must be an array of 1 to %d component names", field,
                 COMP_N);
            return;
        }
        int seen[COMP_N] = {0};
        for (size_t c = 0; c < json_array_size(comps); c++) {
            const char *s = json_string_value(json_array_get(comps, c));
            int k = s ? component_of(s) : -1;
            if (k < 0 || seen[k]) {
                fail(w, API_E_BADREQ, field,
                     "%s[%zu]: %s component \"%s\"; use phenomenonTime, resultTime, result,"
                     " parameters, FeatureOfInterest/id, each once",
                     field, c, k < 0 ? "unknown" : "repeated", s ? s : "(not a string)");
                return;
            }
            seen[k] = 1;
        }
        if (!seen[COMP_RESULT]) {
            fail(w, API_E_BADREQ, field, "%s must include result", field);
            return;
        }
        const json_t *rows = json_object_get(grp, "dataArray");
        subpath(field, path, "dataArray", -1);
        if (!json_is_array(rows)) {
            fail(w, API_E_BADREQ, field, "%s must be an array of rows", field);
            return;
        }
        const json_t *cnt = json_object_get(grp, "dataArray@iot.count");
        if (cnt &&
            (!json_is_integer(cnt) || (size_t)json_integer_value(cnt) != json_array_size(rows))) {
            subpath(field, path, "dataArray@iot.count", -1);
            fail(w, API_E_BADREQ, field, "%s does not match the number of rows (%zu)", field,
                 json_array_size(rows));
            return;
        }
        total += json_array_size(rows);
        if (must_exist(w, STORE_STA_DATASTREAM, ds, path))
            return;
    }
    if (total > API_CREATE_OBS_ROWS_MAX) {
        fail(w, API_E_BADREQ, NULL, "more than %d rows in one CreateObservations request",
             API_CREATE_OBS_ROWS_MAX);
        return;
    }
    enum tk_rc rc = store_begin(req->st);
    if (rc) {
        fail_store(w, rc, NULL);
        return;
    }
    api_buf_reset(b);
    api_buf_put(b, "[", 1);
    size_t k = 0;
    for (size_t g = 0; g < json_array_size(body); g++) {
        const json_t *grp = json_array_get(body, g);
        int64_t ds = (int64_t)json_integer_value(
            json_object_get(json_object_get(grp, "Datastream"), "@iot.id"));
        const json_t *comps = json_object_get(grp, "components");
        int comp[COMP_N];
        size_t ncomp = json_array_size(comps);
        for (size_t c = 0; c < ncomp; c++)
            comp[c] = component_of(json_string_value(json_array_get(comps, c)));
        const json_t *rows = json_object_get(grp, "dataArray");
        for (size_t i = 0; i < json_array_size(rows); i++, k++) {
            char path[PATH_MAX_LEN];
            snprintf(path, sizeof path, "[%zu].dataArray[%zu]", g, i);
            struct store_sta_input in;
            struct texts tx = {.n = 0};
            int64_t id = 0;
            w->failed = 0;
            rc = row_input(w, &tx, comp, ncomp, json_array_get(rows, i), ds, &in, path);
            if (!rc) {
                rc = store_sta_create(req->st, &in, &id);
                if (rc && rc != TK_EINVAL && rc != TK_ENOTFOUND && rc != TK_EDUP) {
                    texts_free(&tx);
                    store_rollback(req->st);
                    w->failed = 0;
                    fail_store(w, rc, path);
                    return;
                }
                if (rc)
                    fail(w, api_err_of_rc(rc), path, "%s: %s", path, store_errmsg(req->st));
            }
            texts_free(&tx);
            if (k)
                api_buf_put(b, ",", 1);
            if (rc) {
                char msg[600];
                snprintf(msg, sizeof msg, "error: %s", w->msg);
                api_buf_json_str(b, msg, strlen(msg));
            } else {
                api_buf_put(b, "\"", 1);
                self_link(b, req->cfg, STORE_STA_OBSERVATION, id);
                api_buf_put(b, "\"", 1);
            }
        }
    }
    api_buf_put(b, "]", 1);
    w->failed = 0;
    rc = store_commit(req->st);
    if (rc) {
        fail_store(w, rc, NULL);
        return;
    }
    w->rep->status = 201;
}

/* ---- the handler -------------------------------------------------------------------------------
 */

static json_t *parse_body(struct wctx *w)
{
    const struct api_request *req = w->req;
    if (!req->body || req->body_len == 0) {
        fail(w, API_E_BADREQ, NULL, "this request needs a JSON body");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j)
        fail(w, API_E_BADREQ, NULL, "the body is not valid JSON: %s (line %d, column %d)", je.text,
             je.line, je.column);
    return j;
}

void api_sta_write(const struct api_request *req, struct api_reply *rep)
{
    struct wctx w = {.req = req, .rep = rep};
    json_t *body = NULL;
    struct tk_error err = {0};
    struct api_route r;
    enum api_method m = req->method;
    if (m != API_M_POST && m != API_M_PATCH && m != API_M_PUT && m != API_M_DELETE) {
        rep->allow = "GET, HEAD, POST, PATCH, PUT, DELETE";
        api_reply_error(rep, API_E_METHOD, NULL, "this method is not supported");
        return;
    }
    if (!api_require(req, API_SCOPE_WRITE, rep)) /* write, or admin which holds it */
        return;
    if (strcmp(req->path, "/CreateObservations") == 0) {
        if (m != API_M_POST) {
            rep->allow = "POST";
            api_reply_error(rep, API_E_METHOD, NULL, "CreateObservations takes POST");
            return;
        }
        if ((body = parse_body(&w)))
            create_observations(&w, body);
        goto done;
    }
    enum tk_rc rc = api_route_parse(req->path, &r, &err);
    if (rc) {
        fail(&w, rc == TK_ENOTFOUND ? API_E_NOTFOUND : API_E_BADREQ, NULL, "%s", err.text);
        goto done;
    }
    const struct api_step *last = &r.steps[r.nsteps - 1];
    if (m == API_M_POST) {
        if (r.target != API_T_COLLECTION || r.ref) {
            fail(&w, API_E_BADREQ, NULL,
                 "POST creates entities in a collection (/v1.1/Things, "
                 "/v1.1/Things(1)/Datastreams)");
            goto done;
        }
        struct store_sta_link parent, *pp = NULL;
        if (r.nsteps > 1) {
            const struct api_step *up = &r.steps[r.nsteps - 2];
            if (must_exist(&w, up->entity, up->id, api_set_name(up->entity)))
                goto done;
            parent = (struct store_sta_link){up->entity, up->id};
            pp = &parent;
        }
        if (!(body = parse_body(&w)))
            goto done;
        rc = store_begin(req->st);
        if (rc) {
            fail_store(&w, rc, NULL);
            goto done;
        }
        int64_t id = 0;
        rc = create(&w, last->entity, body, "", pp, &id);
        if (rc) {
            store_rollback(req->st);
            goto done;
        }
        rc = store_commit(req->st);
        if (rc) {
            fail_store(&w, rc, NULL);
            goto done;
        }
        render(&w, last->entity, id);
        if (rep->status == 0) {
            rep->status = 201;
            location_header(&w, last->entity, id);
        }
        goto done;
    }
    if (r.nsteps != 1 || r.target != API_T_ENTITY || r.ref) {
        fail(&w, API_E_BADREQ, NULL, "%s addresses one entity by its id: /v1.1/%s(1)",
             m == API_M_DELETE ? "DELETE"
             : m == API_M_PUT  ? "PUT"
                               : "PATCH",
             api_set_name(last->entity));
        goto done;
    }
    if (refuse_change(&w, last->entity, last->id))
        goto done;
    if (m == API_M_DELETE) {
        rc = store_sta_delete(req->st, last->entity, last->id);
        if (rc)
            fail(&w, api_err_of_rc(rc), NULL, "%s", store_errmsg(req->st));
        else
            rep->status = 200;
        goto done;
    }
    if (!(body = parse_body(&w)))
        goto done;
    if (must_exist(&w, last->entity, last->id, api_set_name(last->entity)))
        goto done;
    rc = store_begin(req->st);
    if (rc) {
        fail_store(&w, rc, NULL);
        goto done;
    }
    rc = update(&w, last->entity, last->id, body, m == API_M_PUT);
    if (rc) {
        store_rollback(req->st);
        goto done;
    }
    rc = store_commit(req->st);
    if (rc) {
        fail_store(&w, rc, NULL);
        goto done;
    }
    render(&w, last->entity, last->id);
    if (rep->status == 0)
        rep->status = 200;

done:
    if (w.failed)
        reply_failure(&w);
    json_decref(body);
}
