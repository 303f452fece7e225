/* A Thing as the outputs about devices show it (GeoJSON export, NGSI-v2 entities): its
 * first Location's geometry, its Datastreams with their ObservedProperty, and the latest
 * Observation of each (store_latest: constant time per Datastream). One place gathers
 * this, so both views always agree. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void copy_text(char *dst, size_t size, const struct store_sta_value *v)
{
    size_t n = v->type == STORE_STA_TEXT && v->len < size ? v->len : 0;
    if (n)
        memcpy(dst, v->s, n);
    dst[n] = '\0';
}

/* A GeoJSON geometry from a Location's location: a geometry as it is, a Feature's
 * geometry member. */
static enum tk_rc take_location(void *ud, const struct store_sta_value *row, size_t n)
{
    struct api_thing_view *v = ud;
    if (n < 5 || row[4].type != STORE_STA_JSON || !row[4].len)
        return TK_OK;
    v->location_id = row[0].i;
    json_t *j = json_loadb(row[4].s, row[4].len, 0, NULL);
    if (!j)
        return TK_OK;
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *g = j;
    if (type && strcmp(type, "Feature") == 0)
        g = json_object_get(j, "geometry");
    if (json_is_object(g) && json_is_string(json_object_get(g, "type")))
        v->geometry = json_dumps(g, JSON_COMPACT);
    json_decref(j);
    return TK_OK;
}

static enum tk_rc take_ds(void *ud, const struct store_sta_value *row, size_t n)
{
    struct api_thing_view *v = ud;
    if (v->nds == API_THING_DS_MAX || n < 4)
        return TK_OK;
    struct api_thing_ds *d = &v->ds[v->nds];
    memset(d, 0, sizeof *d);
    d->id = row[0].i;
    copy_text(d->name, sizeof d->name, &row[1]);
    if (row[3].type == STORE_STA_JSON && row[3].len && !(d->unit = dup_n(row[3].s, row[3].len)))
        return TK_ENOMEM;
    v->nds++;
    return TK_OK;
}

static enum tk_rc take_property(void *ud, const struct store_sta_value *row, size_t n)
{
    struct api_thing_ds *d = ud;
    if (n > 1)
        copy_text(d->property, sizeof d->property, &row[1]);
    return TK_OK;
}

enum tk_rc api_thing_view_load(struct store *st, const struct store_sta_value *row, size_t n,
                               struct api_thing_view *v)
{
    memset(v, 0, sizeof *v);
    if (n < 4)
        return TK_EINVAL;
    v->id = row[0].i;
    copy_text(v->name, sizeof v->name, &row[1]);
    v->description = dup_n(row[2].type == STORE_STA_TEXT ? row[2].s : "",
                           row[2].type == STORE_STA_TEXT ? row[2].len : 0);
    if (!v->description)
        return TK_ENOMEM;
    if (row[3].type == STORE_STA_JSON && row[3].len) {
        if (!(v->properties = dup_n(row[3].s, row[3].len)))
            return TK_ENOMEM;
        json_t *j = json_loadb(row[3].s, row[3].len, 0, NULL);
        const char *k = json_string_value(json_object_get(j, "kind"));
        if (k && strlen(k) < sizeof v->kind)
            memcpy(v->kind, k, strlen(k) + 1);
        json_decref(j);
    }
    struct store_sta_query q = {.entity = STORE_STA_LOCATION,
                                .has_parent = 1,
                                .parent = STORE_STA_THING,
                                .parent_id = v->id,
                                .top = 1};
    enum tk_rc rc = store_sta_list(st, &q, take_location, v);
    if (rc)
        return rc;
    q.entity = STORE_STA_DATASTREAM;
    q.top = API_THING_DS_MAX;
    rc = store_sta_list(st, &q, take_ds, v);
    if (rc)
        return rc;
    int64_t ids[API_THING_DS_MAX];
    struct store_point pts[API_THING_DS_MAX];
    int found[API_THING_DS_MAX];
    for (size_t i = 0; i < v->nds; i++) {
        struct store_sta_query pq = {.entity = STORE_STA_OPROPERTY,
                                     .has_parent = 1,
                                     .parent = STORE_STA_DATASTREAM,
                                     .parent_id = v->ds[i].id,
                                     .top = 1};
        rc = store_sta_list(st, &pq, take_property, &v->ds[i]);
        if (rc)
            return rc;
        ids[i] = v->ds[i].id;
    }
    if (v->nds) {
        rc = store_latest(st, ids, v->nds, pts, found);
        if (rc)
            return rc;
        for (size_t i = 0; i < v->nds; i++) {
            v->ds[i].found = found[i];
            v->ds[i].latest = pts[i];
        }
    }
    return TK_OK;
}

void api_thing_view_free(struct api_thing_view *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nds; i++)
        free(v->ds[i].unit);
    free(v->description);
    free(v->properties);
    free(v->geometry);
    memset(v, 0, sizeof *v);
}
