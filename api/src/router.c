/* Resource paths of SensorThings API v1.1 (section 9.2 of the standard):
 *
 *   (empty)                         service root
 *   /Things                         collection
 *   /Things(1)                      entity
 *   /Things(1)/name[/$value]        property, its raw value
 *   /Things(1)/Datastreams          related collection (navigation, to many)
 *   /Datastreams(1)/Thing           related entity (navigation, to one)
 *   /Things(1)/Datastreams(2)/...   a related entity by id, then further navigation
 *   ...[/$ref]                      references (selfLinks) instead of entities
 *
 * The entity and navigation names come from the store's data model (store_sta_nav): a
 * to-one navigation is named by the singular entity name, a to-many one by the set. */
#include <string.h>

#include "api.h"

static const struct {
    const char *set, *single;
} names[STORE_STA_N] = {
    [STORE_STA_THING] = {"Things", "Thing"},
    [STORE_STA_LOCATION] = {"Locations", "Location"},
    [STORE_STA_HLOCATION] = {"HistoricalLocations", "HistoricalLocation"},
    [STORE_STA_DATASTREAM] = {"Datastreams", "Datastream"},
    [STORE_STA_SENSOR] = {"Sensors", "Sensor"},
    [STORE_STA_OPROPERTY] = {"ObservedProperties", "ObservedProperty"},
    [STORE_STA_OBSERVATION] = {"Observations", "Observation"},
    [STORE_STA_FOI] = {"FeaturesOfInterest", "FeatureOfInterest"},
};

const char *api_set_name(enum store_sta_entity e)
{
    return (unsigned)e < STORE_STA_N ? names[e].set : NULL;
}

const char *api_nav_name(enum store_sta_entity e, enum store_sta_entity to)
{
    if ((unsigned)to >= STORE_STA_N)
        return NULL;
    int card = store_sta_nav(e, to);
    return card == 1 ? names[to].single : card == 2 ? names[to].set : NULL;
}

static int eq(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && strncmp(a, b, n) == 0;
}

int api_nav_find(enum store_sta_entity e, const char *name, size_t len, int *card)
{
    for (int t = 0; t < STORE_STA_N; t++) {
        const char *nm = api_nav_name(e, (enum store_sta_entity)t);
        if (nm && eq(name, len, nm)) {
            if (card)
                *card = store_sta_nav(e, (enum store_sta_entity)t);
            return t;
        }
    }
    return -1;
}

int api_prop_find(enum store_sta_entity e, const char *name, size_t len)
{
    size_t n;
    const struct store_sta_prop *p = store_sta_props(e, &n);
    if (!p)
        return -1;
    if (eq(name, len, "id"))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (eq(name, len, p[i].name))
            return (int)i;
    return -1;
}

static int set_find(const char *name, size_t len)
{
    for (int e = 0; e < STORE_STA_N; e++)
        if (eq(name, len, names[e].set))
            return e;
    return -1;
}

/* "Name" or "Name(123)" up to the next '/'. */
struct seg {
    const char *name;
    size_t len;
    int has_id;
    int64_t id;
};

static enum tk_rc next_seg(const char **p, struct seg *s, struct tk_error *err)
{
    const char *q = *p;
    s->name = q;
    while (*q && *q != '/' && *q != '(')
        q++;
    s->len = (size_t)(q - s->name);
    s->has_id = 0;
    if (*q == '(') {
        const char *d = ++q;
        int64_t v = 0;
        while (*q >= '0' && *q <= '9' && q - d < 18)
            v = v * 10 + (*q++ - '0');
        if (q == d || *q != ')')
            return tk_error_set(
                err, TK_EINVAL, "path", "'%.*s': an entity id is an integer in parentheses",
                (int)(strcspn(s->name, "/") > 80 ? 80 : strcspn(s->name, "/")), s->name);
        q++;
        s->has_id = 1;
        s->id = v;
        if (*q && *q != '/')
            return tk_error_set(err, TK_EINVAL, "path", "text after the id of '%.*s'",
                                (int)(s->len > 80 ? 80 : s->len), s->name);
    }
    if (s->len == 0)
        return tk_error_set(err, TK_ENOTFOUND, "path", "empty path segment");
    *p = *q == '/' ? q + 1 : q;
    return TK_OK;
}

enum tk_rc api_route_parse(const char *path, struct api_route *r, struct tk_error *err)
{
    memset(r, 0, sizeof *r);
    const char *p = path;
    if (*p == '/')
        p++;
    if (!*p) {
        r->target = API_T_ROOT;
        return TK_OK;
    }
    struct seg s;
    enum tk_rc rc = next_seg(&p, &s, err);
    if (rc)
        return rc;
    int e = set_find(s.name, s.len);
    if (e < 0)
        return tk_error_set(err, TK_ENOTFOUND, "path", "no entity set named '%.*s'",
                            (int)(s.len > 80 ? 80 : s.len), s.name);
    r->steps[0] = (struct api_step){(enum store_sta_entity)e, 0, s.has_id, s.id};
    r->nsteps = 1;
    r->target = s.has_id ? API_T_ENTITY : API_T_COLLECTION;

    while (*p) {
        struct api_step *cur = &r->steps[r->nsteps - 1];
        int single = cur->has_id || cur->card == 1;
        rc = next_seg(&p, &s, err);
        if (rc)
            return rc;
        if (r->ref || r->target == API_T_VALUE)
            return tk_error_set(err, TK_ENOTFOUND, "path", "nothing follows $ref or $value");
        if (r->target == API_T_PROPERTY) {
            if (eq(s.name, s.len, "$value") && !s.has_id) {
                r->target = API_T_VALUE;
                continue;
            }
            return tk_error_set(err, TK_ENOTFOUND, "path", "only $value may follow a property");
        }
        if (eq(s.name, s.len, "$ref") && !s.has_id) {
            r->ref = 1;
            continue;
        }
        if (!single)
            return tk_error_set(err, TK_ENOTFOUND, "path",
                                "'%.*s' follows a collection; name one entity by its id first",
                                (int)(s.len > 80 ? 80 : s.len), s.name);
        int card = 0;
        int to = api_nav_find(cur->entity, s.name, s.len, &card);
        if (to >= 0) {
            if (s.has_id && card != 2)
                return tk_error_set(err, TK_EINVAL, "path", "'%.*s' is a single entity: no id",
                                    (int)(s.len > 80 ? 80 : s.len), s.name);
            if (r->nsteps == API_STEPS_MAX)
                return tk_error_set(err, TK_EINVAL, "path", "path too deep");
            r->steps[r->nsteps++] =
                (struct api_step){(enum store_sta_entity)to, card, s.has_id, s.id};
            r->target = (card == 1 || s.has_id) ? API_T_ENTITY : API_T_COLLECTION;
            continue;
        }
        int prop = api_prop_find(cur->entity, s.name, s.len);
        if (prop >= 0 && !s.has_id) {
            r->prop = prop;
            r->target = API_T_PROPERTY;
            continue;
        }
        return tk_error_set(err, TK_ENOTFOUND, "path", "%s has no property or navigation '%.*s'",
                            api_set_name(cur->entity), (int)(s.len > 80 ? 80 : s.len), s.name);
    }
    return TK_OK;
}
