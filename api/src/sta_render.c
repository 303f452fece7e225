/* SensorThings entities as JSON: @iot.id, @iot.selfLink, the properties of the entity
 * (store_sta_props order), navigation links, and $select / $expand applied.
 *
 * An $expand runs one store_sta_list per expanded navigation per entity, while the outer
 * statement is still stepping (SQLite allows that on one connection): with the page limit
 * that is at most page-max inner queries per level, each an index lookup. */
#include <stdio.h>
#include <string.h>

#include "api.h"

/* Keys are the data model's names (static, plain ASCII): written as they are, suffix
 * (may be "") appended inside the quotes; assembled first, so that a key is one put. */
static void put_key2(struct api_buf *b, int *first, const char *key, const char *suffix)
{
    char tmp[128];
    size_t kl = strlen(key), sl = strlen(suffix), n = 0;
    if (kl + sl + 4 > sizeof tmp) {
        api_buf_put(b, *first ? "\"" : ",\"", *first ? 1 : 2);
        *first = 0;
        api_buf_put(b, key, kl);
        api_buf_put(b, suffix, sl);
        api_buf_put(b, "\":", 2);
        return;
    }
    if (!*first)
        tmp[n++] = ',';
    *first = 0;
    tmp[n++] = '"';
    memcpy(tmp + n, key, kl);
    n += kl;
    memcpy(tmp + n, suffix, sl);
    n += sl;
    tmp[n++] = '"';
    tmp[n++] = ':';
    api_buf_put(b, tmp, n);
}

static void put_key(struct api_buf *b, int *first, const char *key)
{
    put_key2(b, first, key, "");
}

/* "BASE/v1.1/Set(id) (the opening quote, no closing one) into out, its length returned;
 * the escaped base is worked out once per request, and an entity's links all start with
 * this text, so it is assembled once per entity. */
#define SELF_MAX (API_LINK_PREFIX_MAX + API_NAME_MAX + 24)
static size_t self_text(struct api_render *ro, enum store_sta_entity e, int64_t id,
                        char out[SELF_MAX])
{
    if (!ro->link_len)
        ro->link_len = api_link_prefix(ro->cfg, ro->link);
    const char *set = api_set_name(e);
    size_t sl = strlen(set), n = 0;
    if (sl > API_NAME_MAX)
        sl = API_NAME_MAX; /* set names are short constants */
    out[n++] = '"';
    memcpy(out + n, ro->link, ro->link_len);
    n += ro->link_len;
    memcpy(out + n, set, sl);
    n += sl;
    out[n++] = '(';
    char d[24];
    size_t k = sizeof d;
    uint64_t u = id < 0 ? (uint64_t)0 - (uint64_t)id : (uint64_t)id;
    do {
        d[--k] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (id < 0)
        d[--k] = '-';
    memcpy(out + n, d + k, sizeof d - k);
    n += sizeof d - k;
    out[n++] = ')';
    return n;
}

/* api_nav_name(e, t) for every t, looked up once per request and entity set */
static const char *const *navs(struct api_render *ro, enum store_sta_entity e)
{
    if (!ro->nav_ok || ro->nav_e != e) {
        for (int t = 0; t < STORE_STA_N; t++)
            ro->nav[t] = api_nav_name(e, (enum store_sta_entity)t);
        ro->nav_e = e;
        ro->nav_ok = 1;
    }
    return ro->nav;
}

void api_sta_render_value(struct api_buf *b, const struct store_sta_value *v)
{
    switch (v->type) {
    case STORE_STA_INT:
        api_buf_i64(b, v->i);
        break;
    case STORE_STA_REAL:
        api_buf_num(b, v->d);
        break;
    case STORE_STA_TEXT:
        api_buf_json_str(b, v->s, v->len);
        break;
    case STORE_STA_JSON:
        if (v->len)
            api_buf_put(b, v->s, v->len);
        else
            api_buf_puts(b, "null");
        break;
    case STORE_STA_TIME:
        api_buf_put(b, "\"", 1);
        api_buf_time(b, v->i);
        api_buf_put(b, "\"", 1);
        break;
    case STORE_STA_INTERVAL:
        api_buf_put(b, "\"", 1);
        api_buf_time(b, v->i);
        api_buf_put(b, "/", 1);
        api_buf_time(b, v->i2);
        api_buf_put(b, "\"", 1);
        break;
    default:
        api_buf_puts(b, "null");
        break;
    }
}

static int selected(const struct api_query *q, const char *name)
{
    if (!q || q->nselect == 0)
        return 1;
    for (size_t i = 0; i < q->nselect; i++)
        if (strcmp(q->select[i], name) == 0)
            return 1;
    return 0;
}

static enum tk_rc bad(struct api_render *ro, const char **field, const char *opt)
{
    if (field)
        *field = opt;
    ro->errcls = API_E_BADREQ;
    return TK_EINVAL;
}

enum tk_rc api_sta_validate(struct api_render *ro, enum store_sta_entity e,
                            const struct api_query *q, const char **field)
{
    if (!q)
        return TK_OK;
    const char *set = api_set_name(e);
    if (q->filter) {
        struct tk_error err = {0};
        enum tk_rc rc = api_filter_resolve(q->filter, e, &err);
        if (rc == TK_ENOMEM) {
            ro->errcls = API_E_INTERNAL;
            snprintf(ro->errmsg, sizeof ro->errmsg, "out of memory");
            return rc;
        }
        if (rc) {
            snprintf(ro->errmsg, sizeof ro->errmsg, "$filter: %s", err.text);
            return bad(ro, field, "$filter");
        }
    }
    if (q->data_array && e != STORE_STA_OBSERVATION) {
        snprintf(ro->errmsg, sizeof ro->errmsg,
                 "$resultFormat=dataArray is for Observations, not %s", set);
        return bad(ro, field, "$resultFormat");
    }
    if (q->csv && q->nexpand) {
        snprintf(ro->errmsg, sizeof ro->errmsg,
                 "$resultFormat=CSV has one row per entity: $expand is not available with it");
        return bad(ro, field, "$resultFormat");
    }
    if (q->geojson && e != STORE_STA_THING) {
        snprintf(ro->errmsg, sizeof ro->errmsg,
                 "$resultFormat=GeoJSON is for Things (with their Locations), not %s", set);
        return bad(ro, field, "$resultFormat");
    }
    for (size_t i = 0; i < q->nselect; i++) {
        const char *nm = q->select[i];
        if (api_prop_find(e, nm, strlen(nm)) < 0 && api_nav_find(e, nm, strlen(nm), NULL) < 0) {
            snprintf(ro->errmsg, sizeof ro->errmsg, "%s have no property '%s'", set, nm);
            return bad(ro, field, "$select");
        }
    }
    size_t np;
    const struct store_sta_prop *props = store_sta_props(e, &np);
    for (size_t i = 0; i < q->norder; i++) {
        const char *nm = q->order[i].name;
        int p = api_prop_find(e, nm, strlen(nm));
        if (p < 0) {
            snprintf(ro->errmsg, sizeof ro->errmsg, "%s have no property '%s'", set, nm);
            return bad(ro, field, "$orderby");
        }
        if (!props[p].sortable) {
            snprintf(ro->errmsg, sizeof ro->errmsg, "%s cannot be ordered by '%s'", set, nm);
            return bad(ro, field, "$orderby");
        }
    }
    for (size_t i = 0; i < q->nexpand; i++) {
        const char *nm = q->expand[i].name;
        int to = api_nav_find(e, nm, strlen(nm), NULL);
        if (to < 0) {
            snprintf(ro->errmsg, sizeof ro->errmsg, "%s have no navigation property '%s'", set, nm);
            return bad(ro, field, "$expand");
        }
        enum tk_rc rc = api_sta_validate(ro, (enum store_sta_entity)to, q->expand[i].q, field);
        if (rc)
            return rc;
    }
    return TK_OK;
}

void api_sta_order(enum store_sta_entity e, const struct api_query *q, struct store_sta_query *sq)
{
    sq->norder = 0;
    if (!q)
        return;
    for (size_t i = 0; i < q->norder && sq->norder < STORE_STA_ORDER_MAX; i++) {
        int p = api_prop_find(e, q->order[i].name, strlen(q->order[i].name));
        if (p >= 0) {
            sq->order[sq->norder].prop = p;
            sq->order[sq->norder].desc = q->order[i].desc;
            sq->norder++;
        }
    }
}

/* ---- expansion ---------------------------------------------------------------------- */

struct exp_ctx {
    struct api_render *ro;
    enum store_sta_entity e;
    const struct api_query *q;
    int depth;
    int64_t nrows;
};

static enum tk_rc exp_row(void *ud, const struct store_sta_value *row, size_t n)
{
    struct exp_ctx *x = ud;
    if (x->nrows++)
        api_buf_put(x->ro->out, ",", 1);
    return api_sta_render_entity(x->ro, x->e, row, n, x->q, x->depth);
}

static enum tk_rc store_fail(struct api_render *ro, enum tk_rc rc)
{
    ro->errcls = api_err_of_rc(rc);
    snprintf(ro->errmsg, sizeof ro->errmsg, "store: %s", store_errmsg(ro->st));
    return rc;
}

static enum tk_rc expand(struct api_render *ro, enum store_sta_entity e, int64_t id,
                         const struct api_expand *xp, int depth, int *first)
{
    struct api_buf *b = ro->out;
    int card = 0;
    int to = api_nav_find(e, xp->name, strlen(xp->name), &card);
    if (to < 0)
        return TK_OK; /* validated before */
    const struct api_query *sub = xp->q;
    struct store_sta_query sq = {.entity = (enum store_sta_entity)to,
                                 .has_parent = 1,
                                 .parent = e,
                                 .parent_id = id,
                                 .top = 1,
                                 .filter = sub ? api_filter_tree(sub->filter) : NULL,
                                 .withhold = api_withhold(ro->who)};
    struct exp_ctx x = {ro, (enum store_sta_entity)to, sub, depth + 1, 0};
    enum tk_rc rc;
    if (card == 2) {
        sq.top = ro->cfg->page_max;
        if (sub && sub->has_top && sub->top < sq.top)
            sq.top = sub->top;
        sq.skip = sub && sub->has_skip ? sub->skip : 0;
        api_sta_order(sq.entity, sub, &sq);
        if (sub && sub->has_count && sub->count) {
            int64_t n = 0;
            rc = store_sta_count(ro->st, &sq, &n);
            if (rc)
                return store_fail(ro, rc);
            char key[API_NAME_MAX + 16];
            snprintf(key, sizeof key, "%s@iot.count", xp->name);
            put_key(b, first, key);
            api_buf_i64(b, n);
        }
        put_key(b, first, xp->name);
        api_buf_put(b, "[", 1);
        rc = store_sta_list(ro->st, &sq, exp_row, &x);
        api_buf_put(b, "]", 1);
    } else {
        put_key(b, first, xp->name);
        rc = store_sta_list(ro->st, &sq, exp_row, &x);
        if (!rc && x.nrows == 0)
            api_buf_puts(b, "null");
    }
    if (rc && !ro->errmsg[0])
        return store_fail(ro, rc);
    return rc;
}

static const struct api_expand *expanded(const struct api_query *q, const char *nav)
{
    for (size_t i = 0; q && i < q->nexpand; i++)
        if (strcmp(q->expand[i].name, nav) == 0)
            return &q->expand[i];
    return NULL;
}

enum tk_rc api_sta_render_entity(struct api_render *ro, enum store_sta_entity e,
                                 const struct store_sta_value *row, size_t n,
                                 const struct api_query *q, int depth)
{
    struct api_buf *b = ro->out;
    size_t np;
    const struct store_sta_prop *props = store_sta_props(e, &np);
    if (n < np)
        np = n;
    int64_t id = row[0].i;
    int first = 1;
    char self[SELF_MAX];
    size_t self_len = 0; /* self_text, when a link needs it */
    char last[48];       /* the last time written, with its quotes */
    size_t last_len = 0;
    int64_t last_t = 0;
    int sel = q && q->nselect;
    api_buf_put(b, "{", 1);
    if (selected(q, "id") || (sel && selected(q, "@iot.id"))) {
        put_key(b, &first, "@iot.id");
        api_buf_i64(b, id);
    }
    if (!sel) {
        put_key(b, &first, "@iot.selfLink");
        self_len = self_text(ro, e, id, self);
        self[self_len] = '"';
        api_buf_put(b, self, self_len + 1);
    }
    for (size_t i = 1; i < np; i++) {
        if (!selected(q, props[i].name))
            continue;
        if (row[i].type == STORE_STA_NULL && props[i].omit_null)
            continue;
        put_key(b, &first, props[i].name);
        /* an Observation's resultTime is most often its phenomenonTime: written once */
        if (row[i].type == STORE_STA_TIME && last_len && row[i].i == last_t) {
            api_buf_put(b, last, last_len);
            continue;
        }
        size_t at = b->len;
        api_sta_render_value(b, &row[i]);
        if (row[i].type == STORE_STA_TIME && !b->err && b->len - at < sizeof last) {
            last_t = row[i].i;
            last_len = b->len - at;
            memcpy(last, b->data + at, last_len);
        }
    }
    /* a result withheld by the privacy rule (the store made it null) says so */
    if (e == STORE_STA_OBSERVATION && n == np && row[n + 1].i && selected(q, "result")) {
        put_key(b, &first, "resultQuality");
        api_buf_puts(b, "\"" API_SUPPRESSED_MARK "\"");
    }
    const char *nv[STORE_STA_N]; /* a copy: an $expand below renders other entity sets */
    memcpy(nv, navs(ro, e), sizeof nv);
    for (int t = 0; t < STORE_STA_N; t++) {
        const char *nav = nv[t];
        if (!nav)
            continue;
        const struct api_expand *xp = expanded(q, nav);
        if (xp) {
            enum tk_rc rc = expand(ro, e, id, xp, depth, &first);
            if (rc)
                return rc;
            continue;
        }
        if (!selected(q, nav))
            continue;
        put_key2(b, &first, nav, "@iot.navigationLink");
        if (!self_len)
            self_len = self_text(ro, e, id, self);
        size_t nl = strlen(nav);
        if (self_len + nl + 2 <= sizeof self) { /* self, then /nav" after it */
            self[self_len] = '/';
            memcpy(self + self_len + 1, nav, nl);
            self[self_len + 1 + nl] = '"';
            api_buf_put(b, self, self_len + nl + 2);
        } else {
            api_buf_put(b, self, self_len);
            api_buf_put(b, "/", 1);
            api_buf_put(b, nav, nl);
            api_buf_put(b, "\"", 1);
        }
    }
    api_buf_put(b, "}", 1);
    return b->err;
}
