/* A read-only FIWARE NGSI-v2 view of the latest values, for city systems built on Orion:
 *
 *   GET /v2/entities[?type=&id=a,b&attrs=&limit=&offset=&options=keyValues,count]
 *   GET /v2/entities/{id}[?type=&attrs=&options=keyValues]
 *   GET /v2/entities/{id}/attrs[?attrs=&options=keyValues]
 *
 * One entity per device (Thing): id is the Thing's name (the device id), type its kind
 * (properties.kind, "Thing" when it has none). Attributes: description (Text), location
 * (geo:json, its Location's geometry) and one Number per Datastream named after its
 * ObservedProperty, whose value is the latest result, with metadata dateObserved
 * (DateTime), unitOfMeasurement and the Datastream's SensorThings link (things.c gathers
 * them). The Fiware-Service header is accepted (checked as Orion checks tenant names);
 * there is one tenant, so every service sees the same entities. Errors have NGSI's
 * shape, {"error": ..., "description": ...}. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"

#define NGSI_LIMIT_DEFAULT 20
#define NGSI_LIMIT_MAX 1000
#define NGSI_IDS_MAX 16
#define NGSI_ATTRS_MAX 32

static void ngsi_error(struct api_reply *rep, unsigned status, const char *error, const char *fmt,
                       ...) TK_PRINTF(4, 5);
static void ngsi_error(struct api_reply *rep, unsigned status, const char *error, const char *fmt,
                       ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_buf_reset(&rep->body);
    rep->status = status;
    rep->content_type = "application/json";
    api_buf_puts(&rep->body, "{\"error\":");
    api_buf_json_str(&rep->body, error, strlen(error));
    api_buf_puts(&rep->body, ",\"description\":");
    api_buf_json_str(&rep->body, msg, strlen(msg));
    api_buf_put(&rep->body, "}", 1);
}

struct opts {
    const char *type;
    const char *ids[NGSI_IDS_MAX];
    size_t ids_len[NGSI_IDS_MAX], nids;
    const char *attrs[NGSI_ATTRS_MAX];
    size_t attrs_len[NGSI_ATTRS_MAX], nattrs;
    int64_t limit, offset;
    int key_values, count;
};

static int split(const char *v, const char **out, size_t *lens, size_t max, size_t *n)
{
    *n = 0;
    while (*v) {
        size_t k = strcspn(v, ",");
        if (k == 0 || *n == max)
            return 0;
        out[*n] = v;
        lens[(*n)++] = k;
        v += k;
        if (*v == ',')
            v++;
    }
    return *n > 0;
}

static int parse_num(const char *v, int64_t *out)
{
    size_t n = strlen(v);
    if (n == 0 || n > 12)
        return 0;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 1;
}

static int parse_opts(const struct api_request *req, struct opts *o, struct api_reply *rep)
{
    memset(o, 0, sizeof *o);
    o->limit = NGSI_LIMIT_DEFAULT;
    for (size_t i = 0; i < req->nargs; i++) {
        const char *k = req->args[i].key, *v = req->args[i].value ? req->args[i].value : "";
        if (strcmp(k, "type") == 0) {
            if (!*v || strlen(v) > 256) {
                ngsi_error(rep, 400, "BadRequest",
                           "Empty or too long right-hand-side for URI param /type/");
                return 0;
            }
            o->type = v;
        } else if (strcmp(k, "id") == 0) {
            if (!split(v, o->ids, o->ids_len, NGSI_IDS_MAX, &o->nids)) {
                ngsi_error(rep, 400, "BadRequest",
                           "URI param /id/: a comma-separated list of at most %d entity ids",
                           NGSI_IDS_MAX);
                return 0;
            }
        } else if (strcmp(k, "attrs") == 0) {
            if (!split(v, o->attrs, o->attrs_len, NGSI_ATTRS_MAX, &o->nattrs)) {
                ngsi_error(rep, 400, "BadRequest",
                           "URI param /attrs/: a comma-separated list of at most %d attribute"
                           " names",
                           NGSI_ATTRS_MAX);
                return 0;
            }
        } else if (strcmp(k, "limit") == 0) {
            if (!parse_num(v, &o->limit) || o->limit < 1 || o->limit > NGSI_LIMIT_MAX) {
                ngsi_error(rep, 400, "BadRequest", "Bad pagination limit: /%.20s/ [must be 1..%d]",
                           v, NGSI_LIMIT_MAX);
                return 0;
            }
        } else if (strcmp(k, "offset") == 0) {
            if (!parse_num(v, &o->offset)) {
                ngsi_error(rep, 400, "BadRequest",
                           "Bad pagination offset: /%.20s/ [must be a"
                           " non-negative integer]",
                           v);
                return 0;
            }
        } else if (strcmp(k, "options") == 0) {
            const char *it[8];
            size_t il[8], n;
            if (!split(v, it, il, 8, &n))
                n = 0;
            for (size_t j = 0; j < n; j++) {
                if (il[j] == 9 && strncmp(it[j], "keyValues", 9) == 0)
                    o->key_values = 1;
                else if (il[j] == 5 && strncmp(it[j], "count", 5) == 0)
                    o->count = 1;
                else {
                    ngsi_error(rep, 400, "BadRequest",
                               "Invalid value for URI param /options/: '%.*s' (keyValues and"
                               " count are supported)",
                               (int)(il[j] > 30 ? 30 : il[j]), it[j]);
                    return 0;
                }
            }
            if (!n) {
                ngsi_error(rep, 400, "BadRequest", "Empty right-hand-side for URI param /options/");
                return 0;
            }
        } else {
            ngsi_error(rep, 400, "BadRequest",
                       "URI param /%.40s/ is not supported by this read-only view (type, id,"
                       " attrs, limit, offset, options are)",
                       k);
            return 0;
        }
    }
    return 1;
}

/* Orion's rule for tenant names: at most 50 characters, letters, digits and '_'. */
static int service_ok(const char *s)
{
    if (!s)
        return 1;
    size_t n = strlen(s);
    if (n > 50)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

static int want_attr(const struct opts *o, const char *name)
{
    if (!o->nattrs)
        return 1;
    for (size_t i = 0; i < o->nattrs; i++)
        if (o->attrs_len[i] == strlen(name) && strncmp(o->attrs[i], name, o->attrs_len[i]) == 0)
            return 1;
    return 0;
}

static const char *type_of(const struct api_thing_view *v)
{
    return v->kind[0] ? v->kind : "Thing";
}

/* The attributes of v as members of an object already opened ("first" says whether one
 * was written). */
static void attrs(const struct api_request *req, const struct opts *o,
                  const struct api_thing_view *v, struct api_buf *b, int first)
{
    if (want_attr(o, "description")) {
        api_buf_puts(b, first ? "\"description\":" : ",\"description\":");
        first = 0;
        if (!o->key_values)
            api_buf_puts(b, "{\"type\":\"Text\",\"value\":");
        api_buf_json_str(b, v->description, strlen(v->description));
        if (!o->key_values)
            api_buf_puts(b, ",\"metadata\":{}}");
    }
    if (want_attr(o, "location") && v->geometry) {
        api_buf_puts(b, first ? "\"location\":" : ",\"location\":");
        first = 0;
        if (!o->key_values)
            api_buf_puts(b, "{\"type\":\"geo:json\",\"value\":");
        api_buf_puts(b, v->geometry);
        if (!o->key_values)
            api_buf_puts(b, ",\"metadata\":{}}");
    }
    for (size_t i = 0; i < v->nds; i++) {
        const struct api_thing_ds *d = &v->ds[i];
        char name[96];
        int dup = 0;
        for (size_t k = 0; k < i; k++)
            dup |= strcmp(v->ds[k].property, d->property) == 0;
        if (!d->property[0] || dup) /* two streams of one quantity: the later by its id */
            snprintf(name, sizeof name, "%s_%lld", d->property[0] ? d->property : "datastream",
                     (long long)d->id);
        else
            snprintf(name, sizeof name, "%s", d->property);
        if (!want_attr(o, name))
            continue;
        api_buf_put(b, first ? "" : ",", first ? 0 : 1);
        first = 0;
        api_buf_json_str(b, name, strlen(name));
        api_buf_put(b, ":", 1);
        int show = d->found &&
                   !api_suppress_named(req->who, d->property, d->latest.result);
        if (o->key_values) {
            if (show)
                api_buf_num(b, d->latest.result);
            else
                api_buf_puts(b, "null");
            continue;
        }
        api_buf_puts(b, "{\"type\":\"Number\",\"value\":");
        if (show)
            api_buf_num(b, d->latest.result);
        else
            api_buf_puts(b, "null");
        api_buf_puts(b, ",\"metadata\":{");
        if (d->found) {
            api_buf_puts(b, "\"dateObserved\":{\"type\":\"DateTime\",\"value\":\"");
            api_buf_time(b,
                         d->latest.t_end_us > d->latest.t_us ? d->latest.t_end_us : d->latest.t_us);
            api_buf_puts(b, "\"},");
        }
        if (d->unit) {
            api_buf_puts(b, "\"unitOfMeasurement\":{\"type\":\"StructuredValue\",\"value\":");
            api_buf_puts(b, d->unit);
            api_buf_puts(b, "},");
        }
        api_buf_puts(b, "\"datastream\":{\"type\":\"URL\",\"value\":\"");
        api_buf_url(b, req->cfg->base_url, 0);
        api_buf_printf(b, "/v1.1/Datastreams(%lld)\"}}}", (long long)d->id);
    }
}

struct walk {
    const struct api_request *req;
    const struct opts *o;
    struct api_buf *b;
    int attrs_only;
    int64_t n;
    enum tk_rc err;
};

static enum tk_rc entity_row(void *ud, const struct store_sta_value *row, size_t n)
{
    struct walk *w = ud;
    struct api_thing_view v;
    enum tk_rc rc = api_thing_view_load(w->req->st, row, n, &v);
    if (rc) {
        w->err = rc;
        api_thing_view_free(&v);
        return rc;
    }
    struct api_buf *b = w->b;
    if (w->n++)
        api_buf_put(b, ",", 1);
    api_buf_put(b, "{", 1);
    if (w->attrs_only) {
        attrs(w->req, w->o, &v, b, 1);
    } else {
        api_buf_puts(b, "\"id\":");
        api_buf_json_str(b, v.name, strlen(v.name));
        api_buf_puts(b, ",\"type\":");
        api_buf_json_str(b, type_of(&v), strlen(type_of(&v)));
        attrs(w->req, w->o, &v, b, 0);
    }
    api_buf_put(b, "}", 1);
    api_thing_view_free(&v);
    return b->err;
}

/* Things filtered by name (ids) and properties.kind (type). */
struct tfilter {
    struct store_sta_fnode nd[4 * NGSI_IDS_MAX + 8];
    struct store_sta_filter f;
};

static int add(struct tfilter *t, struct store_sta_fnode n)
{
    t->nd[t->f.n] = n;
    return (int)t->f.n++;
}

static const struct store_sta_filter *things_filter(struct tfilter *t, const struct opts *o,
                                                    const char *one_id)
{
    memset(t, 0, sizeof *t);
    t->f.nodes = t->nd;
    int root = -1;
    const char *ids[NGSI_IDS_MAX];
    size_t lens[NGSI_IDS_MAX], nids = o->nids;
    memcpy(ids, o->ids, sizeof ids);
    memcpy(lens, o->ids_len, sizeof lens);
    if (one_id) {
        ids[0] = one_id;
        lens[0] = strlen(one_id);
        nids = 1;
    }
    for (size_t i = 0; i < nids; i++) {
        int p = add(t, (struct store_sta_fnode){.op = STORE_F_PATH, .path = {.prop = 1}});
        int l = add(
            t, (struct store_sta_fnode){
                   .op = STORE_F_LIT, .v = {.type = STORE_STA_TEXT, .s = ids[i], .len = lens[i]}});
        int eq = add(t, (struct store_sta_fnode){.op = STORE_F_EQ, .nargs = 2, .arg = {p, l}});
        root =
            root < 0
                ? eq
                : add(t, (struct store_sta_fnode){.op = STORE_F_OR, .nargs = 2, .arg = {root, eq}});
    }
    if (o->type) {
        int p =
            add(t, (struct store_sta_fnode){.op = STORE_F_PATH,
                                            .path = {.prop = 3, .json = "$.kind", .json_len = 6}});
        int l = add(t, (struct store_sta_fnode){
                           .op = STORE_F_LIT,
                           .v = {.type = STORE_STA_TEXT, .s = o->type, .len = strlen(o->type)}});
        int eq = add(t, (struct store_sta_fnode){.op = STORE_F_EQ, .nargs = 2, .arg = {p, l}});
        root = root < 0 ? eq
                        : add(t, (struct store_sta_fnode){
                                     .op = STORE_F_AND, .nargs = 2, .arg = {root, eq}});
    }
    if (root < 0)
        return NULL;
    t->f.root = root;
    return &t->f;
}

static void entities(const struct api_request *req, struct api_reply *rep, const struct opts *o)
{
    struct tfilter tf;
    struct store_sta_query q = {.entity = STORE_STA_THING,
                                .top = o->limit,
                                .skip = o->offset,
                                .filter = things_filter(&tf, o, NULL)};
    enum tk_rc rc;
    if (o->count) {
        int64_t n = 0;
        rc = store_sta_count(req->st, &q, &n);
        if (rc)
            goto store_error;
        api_reply_header(rep, "Fiware-Total-Count", "%lld", (long long)n);
    }
    struct walk w = {req, o, &rep->body, 0, 0, TK_OK};
    api_buf_put(&rep->body, "[", 1);
    rc = store_sta_list(req->st, &q, entity_row, &w);
    if (rc && !w.err && rep->body.err)
        return; /* over reply-max: the reply layer says so */
    if (rc)
        goto store_error;
    api_buf_put(&rep->body, "]", 1);
    return;
store_error:
    ngsi_error(rep, 500, "InternalServerError", "store: %s", store_errmsg(req->st));
}

static void one(const struct api_request *req, struct api_reply *rep, const struct opts *o,
                const char *id, int attrs_only)
{
    struct tfilter tf;
    struct store_sta_query q = {
        .entity = STORE_STA_THING, .top = 2, .filter = things_filter(&tf, o, id)};
    struct walk w = {req, o, &rep->body, attrs_only, 0, TK_OK};
    enum tk_rc rc = store_sta_list(req->st, &q, entity_row, &w);
    if (rc) {
        if (rep->body.err && !w.err)
            return;
        ngsi_error(rep, 500, "InternalServerError", "store: %s", store_errmsg(req->st));
        return;
    }
    if (w.n == 0)
        ngsi_error(rep, 404, "NotFound",
                   "The requested entity has not been found. Check type"
                   " and id");
    else if (w.n > 1) /* device ids are unique; a name shared by hand-made Things is not */
        ngsi_error(rep, 409, "TooManyResults",
                   "More than one matching entity. Please refine your query");
}

void api_ngsi_handle(const struct api_request *req, struct api_reply *rep)
{
    if (req->method != API_M_GET && req->method != API_M_HEAD) {
        rep->allow = "GET, HEAD";
        ngsi_error(rep, 405, "MethodNotAllowed", "this NGSI-v2 view is read-only");
        return;
    }
    if (!service_ok(req->header(req, "Fiware-Service"))) {
        ngsi_error(rep, 400, "BadRequest",
                   "bad character in tenant name (Fiware-Service: at most 50 letters, digits"
                   " and '_')");
        return;
    }
    struct opts o;
    if (!parse_opts(req, &o, rep))
        return;
    const char *p = req->path;
    static const char pre[] = "/entities";
    if (strcmp(p, pre) == 0 || strcmp(p, "/entities/") == 0) {
        entities(req, rep, &o);
        return;
    }
    if (strncmp(p, "/entities/", 10) == 0) {
        char id[256];
        const char *s = p + 10;
        size_t n = strcspn(s, "/");
        int attrs_only = 0;
        if (s[n] == '/') {
            if (strcmp(s + n, "/attrs") != 0 && strcmp(s + n, "/attrs/") != 0) {
                ngsi_error(rep, 404, "NotFound", "no such resource in this read-only view");
                return;
            }
            attrs_only = 1;
        }
        if (n == 0 || n >= sizeof id) {
            ngsi_error(rep, 400, "BadRequest", "an entity id is 1 to 255 characters");
            return;
        }
        memcpy(id, s, n);
        id[n] = '\0';
        one(req, rep, &o, id, attrs_only);
        return;
    }
    ngsi_error(rep, 404, "NotFound", "no such resource in this read-only view (/v2/entities is)");
}
