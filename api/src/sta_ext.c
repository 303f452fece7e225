/* Beyond the standard, under /v1.1 (described in the OpenAPI document, openapi.c):
 *
 *   GET /Datastreams(id)/Observations/aggregate?interval=minute|hour|day&from=T&to=T
 *       [&fn=avg,min,max,sum,count]
 *       per-bucket aggregates from the store's rollups (store_aggregate: rollup rows plus
 *       the few staged rows of the range, never a scan of the raw observations); `from`
 *       is rounded down to the start of its bucket, and every bucket that starts before
 *       `to` and holds data is returned, oldest first.
 *   GET /Datastreams/latest[?ids=1,2,3]
 *       the newest Observation of each listed Datastream (store_latest: one block read per
 *       32 streams), or of every Datastream by id, a page of at most API_LATEST_MAX with
 *       $top/$skip and @iot.nextLink.
 *
 * Both answer through the same reply layer (JSON errors, gzip) as the standard paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "tk_time.h"

#define US_MIN INT64_C(60000000)

const char *api_arg(const struct api_request *req, const char *key, int *seen)
{
    const char *v = NULL;
    *seen = 0;
    for (size_t i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, key) == 0) {
            v = req->args[i].value ? req->args[i].value : "";
            (*seen)++;
        }
    return v;
}

static int parse_id(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static void store_error(const struct api_request *req, struct api_reply *rep, enum tk_rc rc)
{
    api_reply_error(rep, api_err_of_rc(rc), NULL, "store: %s", store_errmsg(req->st));
}

/* ---- aggregate ---------------------------------------------------------------------- */

static const char *const fn_names[] = {"avg", "min", "max", "sum", "count"};
#define N_FN (sizeof fn_names / sizeof fn_names[0])

static int parse_fns(const char *v, int on[N_FN])
{
    memset(on, 0, sizeof(int) * N_FN);
    const char *p = v;
    int any = 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t k = 0;
        for (; k < N_FN; k++)
            if (strlen(fn_names[k]) == n && strncmp(fn_names[k], p, n) == 0)
                break;
        if (k == N_FN)
            return 0;
        on[k] = any = 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return any;
}

static int parse_time_arg(const char *v, int64_t *us)
{
    return v && tk_time_parse_rfc3339(v, strlen(v), us) == TK_OK;
}

static void aggregate(const struct api_request *req, struct api_reply *rep, int64_t ds)
{
    int seen;
    const char *iv = api_arg(req, "interval", &seen);
    enum store_interval siv;
    int64_t width;
    if (!iv || seen > 1) {
        api_reply_error(rep, API_E_BADREQ, "interval", "interval: give one of minute, hour, day");
        return;
    }
    if (strcmp(iv, "minute") == 0)
        siv = STORE_MINUTE, width = US_MIN;
    else if (strcmp(iv, "hour") == 0)
        siv = STORE_HOUR, width = 60 * US_MIN;
    else if (strcmp(iv, "day") == 0)
        siv = STORE_DAY, width = 1440 * US_MIN;
    else {
        api_reply_error(rep, API_E_BADREQ, "interval",
                        "interval: '%.30s' is not minute, hour or day", iv);
        return;
    }
    int64_t from, to;
    const char *fv = api_arg(req, "from", &seen);
    if (seen != 1 || !parse_time_arg(fv, &from)) {
        api_reply_error(rep, API_E_BADREQ, "from",
                        "from: an RFC 3339 date-time is required (2026-11-26T00:00:00Z)");
        return;
    }
    const char *tv = api_arg(req, "to", &seen);
    if (seen != 1 || !parse_time_arg(tv, &to)) {
        api_reply_error(rep, API_E_BADREQ, "to",
                        "to: an RFC 3339 date-time is required (2026-11-27T00:00:00Z)");
        return;
    }
    from -= ((from % width) + width) % width; /* the start of its bucket */
    if (to <= from) {
        api_reply_error(rep, API_E_BADREQ, "to", "to must be later than from");
        return;
    }
    if ((to - from + width - 1) / width > API_AGG_BUCKETS_MAX) {
        api_reply_error(rep, API_E_BADREQ, "interval",
                        "more than %d %s buckets between from and to: narrow the range or use"
                        " a longer interval",
                        API_AGG_BUCKETS_MAX, iv);
        return;
    }
    size_t nb = (size_t)((to - from + width - 1) / width);
    int on[N_FN];
    const char *fns = api_arg(req, "fn", &seen);
    if (seen > 1 || (fns && !parse_fns(fns, on))) {
        api_reply_error(rep, API_E_BADREQ, "fn",
                        "fn: a comma-separated list of avg, min, max, sum, count");
        return;
    }
    if (!fns)
        for (size_t k = 0; k < N_FN; k++)
            on[k] = 1;

    /* the Datastream must exist */
    struct store_sta_query q = {.entity = STORE_STA_DATASTREAM, .has_id = 1, .id = ds, .top = 1};
    int64_t exists = 0;
    enum tk_rc rc = store_sta_count(req->st, &q, &exists);
    if (rc) {
        store_error(req, rep, rc);
        return;
    }
    if (!exists) {
        api_reply_error(rep, API_E_NOTFOUND, NULL, "Datastreams(%lld) does not exist",
                        (long long)ds);
        return;
    }
    struct store_agg *out = calloc(nb, sizeof *out);
    if (!out) {
        api_reply_error(rep, API_E_INTERNAL, NULL, "out of memory");
        return;
    }
    size_t n = 0;
    rc = store_aggregate(req->st, ds, siv, from, to, out, nb, &n);
    if (rc) {
        free(out);
        store_error(req, rep, rc);
        return;
    }
    /* one quantity for every bucket: the privacy rule needs it for each small minimum */
    int quantity = -1;
    rc = store_datastream_quantity(req->st, ds, &quantity);
    if (rc && rc != TK_ENOTFOUND) {
        free(out);
        store_error(req, rep, rc);
        return;
    }
    struct api_buf *b = &rep->body;
    api_buf_printf(b, "{\"Datastream@iot.id\":%lld,\"Datastream@iot.navigationLink\":\"",
                   (long long)ds);
    api_buf_url(b, req->cfg->base_url, 0);
    api_buf_printf(b, "/v1.1/Datastreams(%lld)\",\"interval\":\"%s\",\"from\":\"", (long long)ds,
                   iv);
    api_buf_time(b, from);
    api_buf_puts(b, "\",\"to\":\"");
    api_buf_time(b, to);
    api_buf_puts(b, "\",\"fn\":[");
    int first = 1;
    for (size_t k = 0; k < N_FN; k++)
        if (on[k]) {
            api_buf_printf(b, "%s\"%s\"", first ? "" : ",", fn_names[k]);
            first = 0;
        }
    api_buf_puts(b, "],\"value\":[");
    for (size_t i = 0; i < n; i++) {
        const struct store_agg *a = &out[i];
        /* privacy: a bucket holding any withheld count (its min is one) withholds every
         * value aggregate, since sum, max and count would give the small one away */
        int withheld = api_suppress(req->who, quantity, a->min);
        api_buf_puts(b, i ? ",{\"bucket\":\"" : "{\"bucket\":\"");
        api_buf_time(b, a->bucket_us);
        api_buf_put(b, "\"", 1);
        double v[N_FN] = {a->count ? a->sum / (double)a->count : 0, a->min, a->max, a->sum,
                          (double)a->count};
        for (size_t k = 0; k < N_FN; k++) {
            if (!on[k])
                continue;
            api_buf_puts(b, ",\"");
            api_buf_puts(b, fn_names[k]);
            api_buf_put(b, "\":", 2);
            if (k == 4)
                api_buf_i64(b, a->count);
            else if (withheld)
                api_buf_puts(b, "null");
            else
                api_buf_num(b, v[k]);
        }
        if (withheld)
            api_buf_puts(b, ",\"resultQuality\":\"" API_SUPPRESSED_MARK "\"");
        api_buf_put(b, "}", 1);
    }
    api_buf_puts(b, "]}");
    free(out);
}

/* ---- latest -------------------------------------------------------------------------- */

struct idlist {
    int64_t *id;
    size_t n, max;
};

static enum tk_rc take_ds(void *ud, const struct store_sta_value *row, size_t n)
{
    struct idlist *l = ud;
    (void)n;
    if (l->n < l->max)
        l->id[l->n++] = row[0].i;
    return TK_OK;
}

static void latest(const struct api_request *req, struct api_reply *rep)
{
    int seen;
    const char *ids = api_arg(req, "ids", &seen);
    struct idlist l = {NULL, 0, API_LATEST_MAX};
    struct store_point *pts = NULL;
    int *found = NULL, *visible = NULL, *quantity = NULL;
    int more = 0;
    int64_t top = API_LATEST_MAX, skip = 0;
    l.id = calloc(API_LATEST_MAX + 1, sizeof *l.id);
    pts = calloc(API_LATEST_MAX + 1, sizeof *pts);
    found = calloc(API_LATEST_MAX + 1, sizeof *found);
    visible = calloc(API_LATEST_MAX + 1, sizeof *visible);
    quantity = calloc(API_LATEST_MAX + 1, sizeof *quantity);
    if (!l.id || !pts || !found || !visible || !quantity) {
        api_reply_error(rep, API_E_INTERNAL, NULL, "out of memory");
        goto cleanup;
    }
    if (seen > 1) {
        api_reply_error(rep, API_E_BADREQ, "ids", "ids: given more than once");
        goto cleanup;
    }
    if (ids && *ids) {
        const char *p = ids;
        for (;;) {
            size_t n = strcspn(p, ",");
            if (l.n == API_LATEST_MAX) {
                api_reply_error(rep, API_E_BADREQ, "ids", "ids: at most %d Datastreams",
                                API_LATEST_MAX);
                goto cleanup;
            }
            if (!parse_id(p, n, &l.id[l.n])) {
                api_reply_error(rep, API_E_BADREQ, "ids",
                                "ids: '%.*s' is not a Datastream id (ids=1,2,3)",
                                (int)(n > 30 ? 30 : n), p);
                goto cleanup;
            }
            l.n++;
            p += n;
            if (!*p)
                break;
            p++;
        }
    } else {
        const char *t = api_arg(req, "$top", &seen);
        if (t && (!parse_id(t, strlen(t), &top) || seen > 1)) {
            api_reply_error(rep, API_E_BADREQ, "$top", "$top: not a non-negative integer");
            goto cleanup;
        }
        const char *s = api_arg(req, "$skip", &seen);
        if (s && (!parse_id(s, strlen(s), &skip) || seen > 1)) {
            api_reply_error(rep, API_E_BADREQ, "$skip", "$skip: not a non-negative integer");
            goto cleanup;
        }
        if (top > API_LATEST_MAX)
            top = API_LATEST_MAX;
        struct store_sta_query q = {.entity = STORE_STA_DATASTREAM, .top = top + 1, .skip = skip};
        l.max = (size_t)top + 1;
        enum tk_rc rc = store_sta_list(req->st, &q, take_ds, &l);
        if (rc) {
            store_error(req, rep, rc);
            goto cleanup;
        }
        if (l.n > (size_t)top) {
            more = 1;
            l.n = (size_t)top;
        }
    }
    enum tk_rc rc = store_latest(req->st, l.id, l.n, pts, found);
    if (rc) {
        store_error(req, rep, rc);
        goto cleanup;
    }
    /* ids named by the caller: another owner's private Datastream reads as one that does
     * not exist (the listed page came from a query that hides them already); the
     * quantities, for the privacy rule: both for every Datastream in one store read */
    int named = ids && *ids, rule = api_withhold(req->who).mask != 0;
    if ((named || rule) &&
        (rc = store_sta_datastreams(req->st, l.id, l.n, visible, quantity)) != TK_OK) {
        store_error(req, rep, rc);
        goto cleanup;
    }
    for (size_t i = 0; named && i < l.n; i++)
        if (!visible[i])
            found[i] = 0;
    struct api_buf *b = &rep->body;
    char link[API_LINK_PREFIX_MAX];
    size_t link_len = api_link_prefix(req->cfg, link);
    api_buf_puts(b, "{\"value\":[");
    for (size_t i = 0; i < l.n; i++) {
        api_buf_puts(b, i ? ",{\"Datastream@iot.id\":" : "{\"Datastream@iot.id\":");
        api_buf_i64(b, l.id[i]);
        api_buf_puts(b, ",\"Datastream@iot.navigationLink\":\"");
        api_buf_put(b, link, link_len);
        api_buf_puts(b, "Datastreams(");
        api_buf_i64(b, l.id[i]);
        api_buf_put(b, ")\"", 2);
        if (!found[i]) {
            api_buf_puts(b, ",\"phenomenonTime\":null,\"resultTime\":null,\"result\":null}");
            continue;
        }
        const struct store_point *pt = &pts[i];
        api_buf_puts(b, ",\"Observation@iot.id\":");
        api_buf_i64(b, pt->id);
        api_buf_puts(b, ",\"phenomenonTime\":\"");
        api_buf_time(b, pt->t_us);
        if (pt->t_end_us > pt->t_us) {
            api_buf_put(b, "/", 1);
            api_buf_time(b, pt->t_end_us);
        }
        api_buf_puts(b, "\",\"resultTime\":\"");
        api_buf_time(b, pt->result_time_us ? pt->result_time_us : pt->t_us);
        api_buf_puts(b, "\",\"result\":");
        if (rule && api_suppress(req->who, quantity[i], pt->result))
            api_buf_puts(b, "null,\"resultQuality\":\"" API_SUPPRESSED_MARK "\"");
        else
            api_buf_num(b, pt->result);
        api_buf_put(b, "}", 1);
    }
    api_buf_put(b, "]", 1);
    if (more) {
        api_buf_puts(b, ",\"@iot.nextLink\":\"");
        api_buf_url(b, req->cfg->base_url, 0);
        api_buf_printf(b, "/v1.1/Datastreams/latest?$top=%lld&$skip=%lld\"", (long long)top,
                       (long long)(skip + top));
    }
    api_buf_put(b, "}", 1);
cleanup:
    free(l.id);
    free(pts);
    free(found);
    free(visible);
    free(quantity);
}

/* One read snapshot for the whole request: its reads (values, then the Datastreams'
 * visibility and quantities) see the same data, and share one read lock. */
static void in_snapshot(const struct api_request *req, struct api_reply *rep,
                        void (*fn)(const struct api_request *, struct api_reply *, int64_t),
                        int64_t arg)
{
    enum tk_rc rc = store_sta_snapshot_begin(req->st);
    if (rc) {
        store_error(req, rep, rc);
        return;
    }
    fn(req, rep, arg);
    store_sta_snapshot_end(req->st);
}

static void latest_of(const struct api_request *req, struct api_reply *rep, int64_t unused)
{
    (void)unused;
    latest(req, rep);
}

int api_ext_handle(const struct api_request *req, struct api_reply *rep)
{
    const char *p = req->path;
    if (strcmp(p, "/Datastreams/latest") == 0) {
        in_snapshot(req, rep, latest_of, 0);
        return 1;
    }
    static const char pre[] = "/Datastreams(", post[] = ")/Observations/aggregate";
    size_t n = strlen(p);
    if (strncmp(p, pre, sizeof pre - 1) != 0 || n <= sizeof pre - 1 + sizeof post - 1 ||
        strcmp(p + n - (sizeof post - 1), post) != 0)
        return 0;
    const char *d = p + sizeof pre - 1;
    size_t dl = n - (sizeof pre - 1) - (sizeof post - 1);
    int64_t ds;
    if (!parse_id(d, dl, &ds)) {
        api_reply_error(rep, API_E_BADREQ, NULL, "'%.*s' is not a Datastream id",
                        (int)(dl > 30 ? 30 : dl), d);
        return 1;
    }
    in_snapshot(req, rep, aggregate, ds);
    return 1;
}
