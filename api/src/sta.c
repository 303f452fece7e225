/* SensorThings API v1.1 read requests: the service root, collections (with $top, $skip,
 * $count, $orderby and @iot.nextLink), entities, properties, $value and $ref, reached
 * directly or through navigation paths.
 *
 * A path is resolved step by step in one read snapshot: /Datastreams(1)/Thing/Locations
 * checks Datastream 1, finds its Thing, then lists that Thing's Locations; any missing
 * link is a 404 naming it. A page reads $top + 1 rows: the extra row only says that
 * more exist, so @iot.nextLink appears exactly when there is a next page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static const char *const conformance[] = {
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete",
};

static void root(const struct api_request *req, struct api_reply *rep)
{
    struct api_buf *b = &rep->body;
    api_buf_puts(b, "{\"value\":[");
    for (int e = 0; e < STORE_STA_N; e++) {
        const char *set = api_set_name((enum store_sta_entity)e);
        api_buf_puts(b, e ? ",{\"name\":" : "{\"name\":");
        api_buf_json_str(b, set, strlen(set));
        api_buf_puts(b, ",\"url\":\"");
        api_buf_url(b, req->cfg->base_url, 0);
        api_buf_puts(b, "/v1.1/");
        api_buf_puts(b, set);
        api_buf_puts(b, "\"}");
    }
    api_buf_puts(b, "],\"serverSettings\":{\"conformance\":[");
    for (size_t i = 0; i < sizeof conformance / sizeof conformance[0]; i++) {
        if (i)
            api_buf_put(b, ",", 1);
        api_buf_json_str(b, conformance[i], strlen(conformance[i]));
    }
    api_buf_puts(b, "]}}");
}

/* ---- resolving a path ----------------------------------------------------------------- */

struct one {
    int found;
    int64_t id;
};

static enum tk_rc take_id(void *ud, const struct store_sta_value *row, size_t n)
{
    struct one *o = ud;
    (void)n;
    o->found = 1;
    o->id = row[0].i;
    return TK_OK;
}

struct target {
    struct store_sta_query q; /* the final entity (has_id) or collection (maybe has_parent) */
};

static enum tk_rc resolve(struct api_render *ro, const struct api_route *r, struct target *t)
{
    enum store_sta_entity prev = r->steps[0].entity;
    int64_t prev_id = r->steps[0].id;
    memset(t, 0, sizeof *t);
    t->q.entity = prev;
    if (!r->steps[0].has_id)
        return TK_OK;
    if (r->nsteps == 1) { /* /Set(id): its own read says whether it exists */
        t->q = (struct store_sta_query){.entity = prev,
                                        .has_id = 1,
                                        .id = prev_id,
                                        .top = 1,
                                        .withhold = api_withhold(ro->who)};
        return TK_OK;
    }
    for (size_t i = 0; i < r->nsteps; i++) {
        const struct api_step *s = &r->steps[i];
        struct store_sta_query q = {.entity = s->entity, .top = 1};
        if (i > 0) {
            q.has_parent = 1;
            q.parent = prev;
            q.parent_id = prev_id;
        }
        if (s->has_id) {
            q.has_id = 1;
            q.id = s->id;
        } else if (s->card == 2) { /* the last step: a related collection */
            t->q = q;
            t->q.top = 0;
            return TK_OK;
        }
        struct one o = {0};
        enum tk_rc rc = store_sta_list(ro->st, &q, take_id, &o);
        if (rc) {
            ro->errcls = api_err_of_rc(rc);
            snprintf(ro->errmsg, sizeof ro->errmsg, "store: %s", store_errmsg(ro->st));
            return rc;
        }
        if (!o.found) {
            ro->errcls = API_E_NOTFOUND;
            if (i == 0)
                snprintf(ro->errmsg, sizeof ro->errmsg, "%s(%lld) does not exist",
                         api_set_name(s->entity), (long long)s->id);
            else if (s->has_id)
                snprintf(ro->errmsg, sizeof ro->errmsg, "%s(%lld) has no %s(%lld)",
                         api_set_name(prev), (long long)prev_id, api_set_name(s->entity),
                         (long long)s->id);
            else
                snprintf(ro->errmsg, sizeof ro->errmsg, "%s(%lld) has no %s", api_set_name(prev),
                         (long long)prev_id, api_nav_name(prev, s->entity));
            return TK_ENOTFOUND;
        }
        prev = s->entity;
        prev_id = o.id;
    }
    t->q = (struct store_sta_query){.entity = prev,
                                    .has_id = 1,
                                    .id = prev_id,
                                    .top = 1,
                                    .withhold = api_withhold(ro->who)};
    return TK_OK;
}

/* ---- collections ----------------------------------------------------------------------- */

/* $resultFormat=dataArray (standard 14.3): one object per Datastream with the
 * components' names once and each Observation as an array of their values. Rows of one
 * page are gathered per Datastream (at most a page of groups), then written out. */
struct da_group {
    int64_t ds;
    int64_t n;
    int marked; /* results of this Datastream may be withheld from the caller: each row gets
                   one component more, resultQuality ("suppressed" or null) */
    struct api_buf rows;
};

struct dataarray {
    int comp[STORE_STA_PROPS_MAX]; /* property indices */
    size_t ncomp;
    struct da_group *g;
    size_t ng, cap;
};

struct page {
    struct api_render *ro;
    enum store_sta_entity e;
    const struct api_query *q;
    int ref;
    int64_t top, nrows;
    int more;
    struct dataarray *da;
};

static void da_components(struct dataarray *da, const struct api_query *q)
{
    static const char *const dflt[] = {"id", "phenomenonTime", "resultTime", "result"};
    da->ncomp = 0;
    if (q->nselect) {
        for (size_t i = 0; i < q->nselect && da->ncomp < STORE_STA_PROPS_MAX; i++) {
            int p = api_prop_find(STORE_STA_OBSERVATION, q->select[i], strlen(q->select[i]));
            if (p >= 0)
                da->comp[da->ncomp++] = p;
        }
        if (da->ncomp)
            return;
    }
    for (size_t i = 0; i < sizeof dflt / sizeof dflt[0]; i++)
        da->comp[da->ncomp++] = api_prop_find(STORE_STA_OBSERVATION, dflt[i], strlen(dflt[i]));
}

static int da_has_result(const struct dataarray *da)
{
    for (size_t c = 0; c < da->ncomp; c++)
        if (da->comp[c] == api_prop_find(STORE_STA_OBSERVATION, "result", 6))
            return 1;
    return 0;
}

static enum tk_rc da_row(struct page *pg, const struct store_sta_value *row, size_t n)
{
    struct dataarray *da = pg->da;
    int64_t ds = row[n].i; /* Observations carry their Datastream past the properties */
    struct da_group *g = NULL;
    for (size_t i = 0; i < da->ng; i++)
        if (da->g[i].ds == ds)
            g = &da->g[i];
    if (!g) {
        if (da->ng == da->cap) {
            size_t nc = da->cap ? da->cap * 2 : 4;
            struct da_group *ng = realloc(da->g, nc * sizeof *ng);
            if (!ng)
                return TK_ENOMEM;
            da->g = ng;
            da->cap = nc;
        }
        int quantity = -1;
        enum tk_rc rc = store_datastream_quantity(pg->ro->st, ds, &quantity);
        if (rc && rc != TK_ENOTFOUND)
            return rc;
        g = &da->g[da->ng++];
        g->ds = ds;
        g->n = 0;
        g->marked = api_suppress_applies(pg->ro->who, quantity) && da_has_result(da);
        api_buf_init(&g->rows, pg->ro->out->max);
    }
    struct api_buf *b = &g->rows;
    api_buf_puts(b, g->n++ ? ",[" : "[");
    for (size_t c = 0; c < da->ncomp; c++) {
        if (c)
            api_buf_put(b, ",", 1);
        api_sta_render_value(b, &row[da->comp[c]]);
    }
    if (g->marked)
        api_buf_puts(b, row[n + 1].i ? ",\"" API_SUPPRESSED_MARK "\"" : ",null");
    api_buf_put(b, "]", 1);
    return b->err;
}

static void da_write(struct page *pg)
{
    struct dataarray *da = pg->da;
    struct api_buf *b = pg->ro->out;
    size_t np;
    const struct store_sta_prop *props = store_sta_props(STORE_STA_OBSERVATION, &np);
    for (size_t i = 0; i < da->ng; i++) {
        struct da_group *g = &da->g[i];
        api_buf_puts(b, i ? ",{\"Datastream@iot.navigationLink\":\""
                          : "{\"Datastream@iot.navigationLink\":\"");
        api_buf_url(b, pg->ro->cfg->base_url, 0);
        api_buf_printf(b, "/v1.1/Datastreams(%lld)\",\"components\":[", (long long)g->ds);
        for (size_t c = 0; c < da->ncomp; c++) {
            const char *nm = da->comp[c] == 0 ? "id" : props[da->comp[c]].name;
            if (c)
                api_buf_put(b, ",", 1);
            api_buf_json_str(b, nm, strlen(nm));
        }
        if (g->marked)
            api_buf_puts(b, ",\"resultQuality\"");
        api_buf_printf(b, "],\"dataArray@iot.count\":%lld,\"dataArray\":[", (long long)g->n);
        if (g->rows.len)
            api_buf_put(b, g->rows.data, g->rows.len);
        if (g->rows.err && !b->err)
            b->err = g->rows.err;
        api_buf_puts(b, "]}");
    }
}

static void da_free(struct dataarray *da)
{
    for (size_t i = 0; da && i < da->ng; i++)
        api_buf_free(&da->g[i].rows);
    if (da)
        free(da->g);
}

static enum tk_rc page_row(void *ud, const struct store_sta_value *row, size_t n)
{
    struct page *pg = ud;
    struct api_buf *b = pg->ro->out;
    if (pg->nrows == pg->top) {
        pg->more = 1; /* the look-ahead row */
        return TK_OK;
    }
    if (pg->da) {
        pg->nrows++;
        return da_row(pg, row, n);
    }
    if (pg->nrows++)
        api_buf_put(b, ",", 1);
    if (pg->ref) {
        api_buf_puts(b, "{\"@iot.selfLink\":\"");
        api_buf_url(b, pg->ro->cfg->base_url, 0);
        api_buf_printf(b, "/v1.1/%s(%lld)\"}", api_set_name(pg->e), (long long)row[0].i);
        return b->err;
    }
    return api_sta_render_entity(pg->ro, pg->e, row, n, pg->q, 0);
}

/* The request again with $skip moved on by $top (every other option kept). */
void api_next_link(const struct api_request *req, struct api_buf *b, int64_t top, int64_t skip)
{
    api_buf_puts(b, ",\"@iot.nextLink\":\"");
    api_buf_url(b, req->cfg->base_url, 0);
    api_buf_puts(b, "/v1.1");
    api_buf_url(b, req->path, 0);
    api_buf_put(b, "?", 1);
    for (size_t i = 0; i < req->nargs; i++) {
        const char *k = req->args[i].key;
        if (strcmp(k, "$top") == 0 || strcmp(k, "$skip") == 0)
            continue;
        api_buf_url(b, k, 1);
        if (req->args[i].value) {
            api_buf_put(b, "=", 1);
            api_buf_url(b, req->args[i].value, 1);
        }
        api_buf_put(b, "&", 1);
    }
    api_buf_printf(b, "$top=%lld&$skip=%lld\"", (long long)top, (long long)(skip + top));
}

static enum tk_rc collection(const struct api_request *req, struct api_render *ro,
                             const struct api_route *r, const struct api_query *q,
                             struct store_sta_query *sq)
{
    struct api_buf *b = ro->out;
    int64_t top = q->has_top && q->top < req->cfg->page_max ? q->top : req->cfg->page_max;
    int64_t skip = q->has_skip ? q->skip : 0;
    enum tk_rc rc;
    sq->filter = api_filter_tree(q->filter);
    sq->withhold = api_withhold(req->who);
    api_buf_put(b, "{", 1);
    if (q->has_count && q->count) {
        int64_t n = 0;
        rc = store_sta_count(ro->st, sq, &n);
        if (rc)
            goto store_error;
        api_buf_puts(b, "\"@iot.count\":");
        api_buf_i64(b, n);
        api_buf_put(b, ",", 1);
    }
    api_sta_order(sq->entity, q, sq);
    sq->top = top + 1;
    sq->skip = skip;
    struct dataarray da = {.ncomp = 0};
    struct page pg = {ro, sq->entity, q, r->ref, top, 0, 0, NULL};
    if (q->data_array && sq->entity == STORE_STA_OBSERVATION && !r->ref) {
        da_components(&da, q);
        pg.da = &da;
    }
    api_buf_puts(b, "\"value\":[");
    rc = store_sta_list(ro->st, sq, page_row, &pg);
    if (rc) {
        da_free(&da);
        if (rc == TK_ENOMEM && !b->err)
            b->err = TK_ENOMEM;
        if (ro->errmsg[0] || b->err)
            return rc;
        goto store_error;
    }
    if (pg.da)
        da_write(&pg);
    da_free(&da);
    api_buf_put(b, "]", 1);
    if (pg.more && top > 0) /* $top=0 asks for no entities (e.g. with $count): no next page */
        api_next_link(req, b, top, skip);
    api_buf_put(b, "}", 1);
    return TK_OK;
store_error:
    ro->errcls = api_err_of_rc(rc);
    snprintf(ro->errmsg, sizeof ro->errmsg, "store: %s", store_errmsg(ro->st));
    return rc;
}

/* ---- single entities, properties, values ----------------------------------------------- */

struct single {
    struct api_render *ro;
    const struct api_route *r;
    const struct api_query *q;
    struct api_reply *rep;
    int found;
};

static enum tk_rc single_row(void *ud, const struct store_sta_value *row, size_t n)
{
    struct single *s = ud;
    struct api_buf *b = s->ro->out;
    enum store_sta_entity e = s->r->steps[s->r->nsteps - 1].entity;
    s->found = 1;
    if (s->r->target == API_T_ENTITY) {
        if (s->r->ref) {
            api_buf_puts(b, "{\"@iot.selfLink\":\"");
            api_buf_url(b, s->ro->cfg->base_url, 0);
            api_buf_printf(b, "/v1.1/%s(%lld)\"}", api_set_name(e), (long long)row[0].i);
            return b->err;
        }
        return api_sta_render_entity(s->ro, e, row, n, s->q, 0);
    }
    const struct store_sta_value *v = &row[s->r->prop];
    if (v->type == STORE_STA_NULL) {
        s->rep->status = 204; /* a null property has no content (OData) */
        return TK_OK;
    }
    if (s->r->target == API_T_PROPERTY) {
        size_t np;
        const struct store_sta_prop *props = store_sta_props(e, &np);
        api_buf_put(b, "{", 1);
        api_buf_json_str(b, props[s->r->prop].name, strlen(props[s->r->prop].name));
        api_buf_put(b, ":", 1);
        api_sta_render_value(b, v);
        api_buf_put(b, "}", 1);
        return b->err;
    }
    /* $value: the raw value; JSON values stay JSON, the rest is text */
    s->rep->content_type = v->type == STORE_STA_JSON ? "application/json" : "text/plain";
    switch (v->type) {
    case STORE_STA_TEXT:
    case STORE_STA_JSON:
        api_buf_put(b, v->s, v->len);
        break;
    case STORE_STA_TIME:
        api_buf_time(b, v->i);
        break;
    case STORE_STA_INTERVAL:
        api_buf_time(b, v->i);
        api_buf_put(b, "/", 1);
        api_buf_time(b, v->i2);
        break;
    default:
        api_sta_render_value(b, v);
        break;
    }
    return b->err;
}

void api_sta_handle(const struct api_request *req, struct api_reply *rep)
{
    struct tk_error err = {0};
    struct api_route r;
    struct api_query q;
    int have_q = 0, snap = 0;
    struct api_render ro = {.cfg = req->cfg, .st = req->st, .who = req->who, .out = &rep->body};
    const char *field = NULL;

    if (req->method != API_M_GET && req->method != API_M_HEAD) {
        api_sta_write(req, rep);
        return;
    }
    if (api_ext_handle(req, rep))
        return;
    enum tk_rc rc = api_route_parse(req->path, &r, &err);
    if (rc) {
        api_reply_error(rep, rc == TK_ENOTFOUND ? API_E_NOTFOUND : API_E_BADREQ, NULL, "%s",
                        err.text);
        return;
    }
    if (r.target == API_T_ROOT) {
        root(req, rep);
        return;
    }
    rc = api_query_parse(req->args, req->nargs, &q, &err);
    if (rc) {
        if (rc == TK_EINVAL)
            api_reply_error(rep, API_E_BADREQ, err.path, "%s: %s", err.path, err.text);
        else
            api_reply_error(rep, API_E_INTERNAL, NULL, "%s", tk_strerror(rc));
        return;
    }
    have_q = 1;
    enum store_sta_entity last = r.steps[r.nsteps - 1].entity;
    if (r.target == API_T_COLLECTION || r.target == API_T_ENTITY) {
        rc = api_sta_validate(&ro, last, &q, &field);
        if (rc)
            goto error;
    }
    /* One entity by id without $expand is one statement, which sees one state of the
     * store by itself: no snapshot around it (on PostgreSQL, two round trips fewer). */
    if (!(r.target == API_T_ENTITY && r.nsteps == 1 && q.nexpand == 0)) {
        rc = store_sta_snapshot_begin(req->st);
        if (rc) {
            ro.errcls = api_err_of_rc(rc);
            snprintf(ro.errmsg, sizeof ro.errmsg, "store: %s", store_errmsg(req->st));
            goto error;
        }
        snap = 1;
    }
    struct target t;
    rc = resolve(&ro, &r, &t);
    if (rc)
        goto error;
    if ((q.csv || q.geojson) && (r.target != API_T_COLLECTION || r.ref)) {
        ro.errcls = API_E_BADREQ;
        field = "$resultFormat";
        snprintf(ro.errmsg, sizeof ro.errmsg, "$resultFormat=%s is for collections",
                 q.csv ? "CSV" : "GeoJSON");
        rc = TK_EINVAL;
        goto error;
    }
    if (q.csv || q.geojson) {
        t.q.filter = api_filter_tree(q.filter);
        t.q.withhold = api_withhold(req->who);
        api_sta_order(t.q.entity, &q, &t.q);
        if (q.csv)
            api_export_csv(req, rep, &q, &t.q);
        else
            api_export_geojson(req, rep, &q, &t.q);
        goto cleanup;
    }
    if (r.target == API_T_COLLECTION) {
        rc = collection(req, &ro, &r, &q, &t.q);
    } else {
        struct single s = {&ro, &r, &q, rep, 0};
        rc = store_sta_list(req->st, &t.q, single_row, &s);
        if (rc && !ro.errmsg[0] && !rep->body.err) {
            ro.errcls = api_err_of_rc(rc);
            snprintf(ro.errmsg, sizeof ro.errmsg, "store: %s", store_errmsg(req->st));
        } else if (!rc && !s.found) {
            ro.errcls = API_E_NOTFOUND;
            snprintf(ro.errmsg, sizeof ro.errmsg, "%s(%lld) does not exist",
                     api_set_name(t.q.entity), (long long)t.q.id);
            rc = TK_ENOTFOUND;
        }
    }
    if (rc)
        goto error;
    if (rep->status == 204)
        api_buf_reset(&rep->body);
    goto cleanup;

error:
    if (rep->body.err && !ro.errmsg[0])
        api_reply_finish(rep); /* over reply-max, or out of memory */
    else
        api_reply_error(rep, ro.errmsg[0] ? ro.errcls : API_E_INTERNAL, field, "%s",
                        ro.errmsg[0] ? ro.errmsg : tk_strerror(rc));
cleanup:
    if (snap)
        store_sta_snapshot_end(req->st);
    if (have_q)
        api_query_free(&q);
}
