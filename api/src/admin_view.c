/* The operator view of the ingest and the devices, for keys with the admin scope only:
 *
 *   GET /admin/ingest
 *       {"updatedAt": T, "counters": {"received": n, ...}}: the ingest writes its counters
 *       into the store in its normal commits (store_counters_put), so what is shown is
 *       what was committed, as old as one commit interval at most while it runs, and
 *       still there after it stopped (updatedAt says when). Workers sharing a
 *       subscription write theirs as "<client id>/<name>": "counters" then adds every
 *       ingest's up (the earliest start, the largest maximum, the average over all
 *       commits) and "workers" shows each one's own.
 *   GET /admin/quarantine[?device=ID][&from=T][&to=T][&top=N][&before=ID]
 *       refused messages with the rule they broke, newest first; a page of top (default
 *       API_QUARANTINE_TOP, at most API_QUARANTINE_MAX), @iot.nextLink to the next one
 *       (before = the last id shown). from/to bound the time received (RFC 3339).
 *   GET /admin/devices[?top=N][&after=ID]
 *       device health, by id: kind, Thing, delivery state (watermark, seqs stored above a
 *       gap, since when the gap is open) and the newest phenomenonTime of its readings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "tk_quantity.h"
#include "tk_time.h"

#define COUNTERS_MAX 2048
#define PAYLOAD_SHOWN_MAX 4096

/* The counter's name without its worker's prefix, and the prefix's length (0: none). */
static const char *counter_key(const char *name, size_t *wlen)
{
    const char *slash = strrchr(name, '/');
    *wlen = slash ? (size_t)(slash - name) : 0;
    return slash ? slash + 1 : name;
}

/* The value of counter key of the ingest whose prefix is name[0..wlen). */
static int64_t counter_of(const struct store_counter *c, size_t n, const char *name, size_t wlen,
                          const char *key)
{
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *k = counter_key(c[i].name, &l);
        if (l == wlen && strncmp(c[i].name, name, wlen) == 0 && strcmp(k, key) == 0)
            return c[i].value;
    }
    return 0;
}

/* Every ingest's counter key added up: the earliest start, the largest maximum, the
 * average weighted by each one's commits, else the sum. The names come sorted, so the
 * first row of a key is its first appearance only within one ingest: look at all. */
static int64_t counter_total(const struct store_counter *c, size_t n, const char *key)
{
    int64_t total = 0, weight = 0;
    int any = 0;
    size_t klen = strlen(key);
    int is_max = klen > 4 && strcmp(key + klen - 4, "_max") == 0;
    int is_start = strcmp(key, "started_at_us") == 0, is_avg = strcmp(key, "commit_us_avg") == 0;
    for (size_t i = 0; i < n; i++) {
        size_t wlen;
        if (strcmp(counter_key(c[i].name, &wlen), key) != 0)
            continue;
        int64_t v = c[i].value;
        if (is_avg) {
            int64_t commits = counter_of(c, n, c[i].name, wlen, "commits");
            total += v * commits;
            weight += commits;
        } else if (is_start) {
            total = !any || v < total ? v : total;
        } else if (is_max) {
            total = !any || v > total ? v : total;
        } else {
            total += v;
        }
        any = 1;
    }
    return is_avg ? (weight ? total / weight : 0) : total;
}

static void ingest_view(const struct api_request *req, struct api_reply *rep)
{
    struct store_counter *c = calloc(COUNTERS_MAX, sizeof *c);
    size_t n = 0;
    if (!c) {
        api_reply_error(rep, API_E_INTERNAL, NULL, "out of memory");
        return;
    }
    enum tk_rc rc = store_counters_get(req->st, c, COUNTERS_MAX, &n);
    if (rc) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "store: %s", store_errmsg(req->st));
        free(c);
        return;
    }
    int64_t updated = 0;
    int workers = 0;
    for (size_t i = 0; i < n; i++) {
        size_t wlen;
        (void)counter_key(c[i].name, &wlen);
        workers |= wlen > 0;
        if (c[i].updated_us > updated)
            updated = c[i].updated_us;
    }
    struct api_buf *b = &rep->body;
    api_buf_puts(b, "{\"updatedAt\":");
    if (updated) {
        api_buf_puts(b, "\"");
        api_buf_time(b, updated);
        api_buf_puts(b, "\"");
    } else {
        api_buf_puts(b, "null");
    }
    api_buf_puts(b, ",\"counters\":{");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        size_t wlen, seen = 0;
        const char *key = counter_key(c[i].name, &wlen);
        for (size_t j = 0; j < i && !seen; j++) { /* each key once */
            size_t l;
            seen = strcmp(counter_key(c[j].name, &l), key) == 0;
        }
        if (seen)
            continue;
        if (!first)
            api_buf_puts(b, ",");
        first = 0;
        api_buf_json_str(b, key, strlen(key));
        api_buf_puts(b, ":");
        api_buf_i64(b, counter_total(c, n, key));
    }
    api_buf_puts(b, "}");
    if (workers) {
        /* each worker's own, by client id; names are sorted, so a worker's rows are
         * together */
        api_buf_puts(b, ",\"workers\":{");
        for (size_t i = 0; i < n; i++) {
            size_t wlen, plen = 0;
            const char *key = counter_key(c[i].name, &wlen);
            if (!wlen)
                continue;
            int new_worker = 1;
            for (size_t j = i; j-- > 0;) {
                (void)counter_key(c[j].name, &plen);
                if (plen) {
                    new_worker = plen != wlen || strncmp(c[j].name, c[i].name, wlen) != 0;
                    break;
                }
            }
            if (new_worker) {
                api_buf_puts(b, plen ? "}," : "");
                api_buf_json_str(b, c[i].name, wlen);
                api_buf_puts(b, ":{");
            } else {
                api_buf_puts(b, ",");
            }
            api_buf_json_str(b, key, strlen(key));
            api_buf_puts(b, ":");
            api_buf_i64(b, c[i].value);
        }
        api_buf_puts(b, "}}");
    }
    api_buf_puts(b, "}");
    free(c);
}

struct qwalk {
    struct api_buf *b;
    size_t n, top;
    int more; /* a row beyond the page exists */
    int64_t last_id;
};

static void str_or_null(struct api_buf *b, const char *s)
{
    if (s)
        api_buf_json_str(b, s, strlen(s));
    else
        api_buf_puts(b, "null");
}

static int quarantine_row(const struct store_quarantine *q, void *ud)
{
    struct qwalk *w = ud;
    struct api_buf *b = w->b;
    if (w->n == w->top) {
        w->more = 1;
        return 0;
    }
    if (w->n++)
        api_buf_puts(b, ",");
    api_buf_puts(b, "{\"id\":");
    api_buf_i64(b, q->id);
    api_buf_puts(b, ",\"receivedAt\":\"");
    api_buf_time(b, q->received_us);
    api_buf_puts(b, "\",\"deviceId\":");
    str_or_null(b, q->device_id);
    api_buf_puts(b, ",\"topic\":");
    str_or_null(b, q->topic);
    api_buf_puts(b, ",\"code\":");
    const char *code = tk_rc_name(q->code);
    api_buf_json_str(b, code, strlen(code));
    api_buf_puts(b, ",\"path\":");
    str_or_null(b, q->path);
    api_buf_puts(b, ",\"reason\":");
    str_or_null(b, q->reason);
    /* the payload as text when it is UTF-8, else hex; long ones cut (payloadLength says) */
    size_t shown = q->payload_len > PAYLOAD_SHOWN_MAX ? PAYLOAD_SHOWN_MAX : q->payload_len;
    while (shown && shown < q->payload_len && !api_utf8_valid(q->payload, shown))
        shown--; /* do not cut a character in two */
    api_buf_puts(b, ",\"payloadLength\":");
    api_buf_i64(b, (int64_t)q->payload_len);
    if (!q->payload) {
        api_buf_puts(b, ",\"payload\":null");
    } else if (api_utf8_valid(q->payload, shown)) {
        api_buf_puts(b, ",\"payload\":");
        api_buf_json_str(b, q->payload, shown);
    } else {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = q->payload;
        api_buf_puts(b, ",\"payloadHex\":\"");
        for (size_t i = 0; i < shown && i < PAYLOAD_SHOWN_MAX / 2; i++) {
            char h[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
            api_buf_put(b, h, 2);
        }
        api_buf_puts(b, "\"");
    }
    api_buf_puts(b, "}");
    w->last_id = q->id;
    return b->err ? 1 : 0;
}

static int int_arg(const struct api_request *req, struct api_reply *rep, const char *key,
                   int64_t lo, int64_t hi, int64_t *out)
{
    int seen;
    const char *v = api_arg(req, key, &seen);
    if (!seen)
        return 1;
    char *end = NULL;
    long long x = v && *v ? strtoll(v, &end, 10) : 0;
    if (seen > 1 || !end || *end || x < lo || x > hi) {
        api_reply_error(rep, API_E_BADREQ, key, "%s: give one integer in %lld..%lld", key,
                        (long long)lo, (long long)hi);
        return 0;
    }
    *out = x;
    return 1;
}

static int time_arg(const struct api_request *req, struct api_reply *rep, const char *key,
                    int64_t *out)
{
    int seen;
    const char *v = api_arg(req, key, &seen);
    if (!seen)
        return 1;
    if (seen > 1 || tk_time_parse_rfc3339(v, strlen(v), out) != TK_OK) {
        api_reply_error(rep, API_E_BADREQ, key,
                        "%s: one RFC 3339 date-time is needed (2026-11-26T00:00:00Z)", key);
        return 0;
    }
    return 1;
}

static void quarantine_view(const struct api_request *req, struct api_reply *rep)
{
    int seen;
    int64_t top = API_QUARANTINE_TOP, before = 0, from = 0, to = INT64_MAX;
    const char *dev = api_arg(req, "device", &seen);
    if (seen > 1 || (dev && !*dev)) {
        api_reply_error(rep, API_E_BADREQ, "device", "device: give one device id");
        return;
    }
    for (size_t i = 0; i < req->nargs; i++) {
        const char *k = req->args[i].key;
        if (strcmp(k, "device") && strcmp(k, "from") && strcmp(k, "to") && strcmp(k, "top") &&
            strcmp(k, "before")) {
            api_reply_error(rep, API_E_BADREQ, k,
                            "unknown option '%.40s': use device, from, to, top, before", k);
            return;
        }
    }
    if (!int_arg(req, rep, "top", 1, API_QUARANTINE_MAX, &top) ||
        !int_arg(req, rep, "before", 1, INT64_MAX, &before) ||
        !time_arg(req, rep, "from", &from) || !time_arg(req, rep, "to", &to))
        return;
    struct store_quarantine_filter f = {.device_id = dev,
                                        .from_us = from,
                                        .to_us = to,
                                        .before_id = before,
                                        .limit = (size_t)top + 1};
    if (from == 0 && to == INT64_MAX) /* no bound: the store's "any time" */
        f.from_us = f.to_us = 0;
    else if (from == 0)
        f.from_us = INT64_MIN;
    struct api_buf *b = &rep->body;
    struct qwalk w = {.b = b, .top = (size_t)top};
    api_buf_puts(b, "{\"value\":[");
    /* one row more than the page says whether a next page exists */
    enum tk_rc rc = store_quarantine_list(req->st, &f, quarantine_row, &w);
    if (rc && !b->err) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "store: %s", store_errmsg(req->st));
        return;
    }
    api_buf_puts(b, "]");
    if (w.more) {
        api_buf_puts(b, ",\"@iot.nextLink\":\"");
        api_buf_puts(b, req->cfg->base_url);
        api_buf_puts(b, "/admin/quarantine?top=");
        api_buf_i64(b, top);
        api_buf_puts(b, "&before=");
        api_buf_i64(b, w.last_id);
        static const char *const keep[] = {"device", "from", "to"};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            int n;
            const char *v = api_arg(req, keep[i], &n);
            if (!v)
                continue;
            api_buf_printf(b, "&%s=", keep[i]);
            api_buf_url(b, v, 1);
        }
        api_buf_puts(b, "\"");
    }
    api_buf_puts(b, "}");
}

/* One device's health, d its registry entry. */
static enum tk_rc device_health(const struct api_request *req, struct api_buf *b,
                                const struct store_device *d)
{
    struct store_seq_state s;
    enum tk_rc rc = store_seq_load(req->st, d->id, &s);
    if (rc)
        return rc;
    int64_t ds[TK_Q_MAX];
    size_t nds = 0;
    for (int q = 0; q < TK_Q_MAX; q++)
        if (d->ds[q])
            ds[nds++] = d->ds[q];
    struct store_point pts[TK_Q_MAX];
    int found[TK_Q_MAX];
    rc = store_latest(req->st, ds, nds, pts, found);
    if (rc)
        return rc;
    int64_t last = 0;
    for (size_t i = 0; i < nds; i++)
        if (found[i] && pts[i].t_us > last)
            last = pts[i].t_us;
    const char *kind = tk_kind_name(d->kind);
    api_buf_puts(b, "{\"deviceId\":");
    api_buf_json_str(b, d->id, strlen(d->id));
    api_buf_puts(b, ",\"kind\":");
    api_buf_json_str(b, kind, strlen(kind));
    api_buf_puts(b, ",\"transport\":");
    api_buf_json_str(b, d->transport, strlen(d->transport));
    api_buf_puts(b, ",\"Thing@iot.id\":");
    api_buf_i64(b, d->thing_id);
    api_buf_puts(b, ",\"lastPhenomenonTime\":");
    if (last) {
        api_buf_puts(b, "\"");
        api_buf_time(b, last);
        api_buf_puts(b, "\"");
    } else {
        api_buf_puts(b, "null");
    }
    api_buf_puts(b, ",\"delivery\":{\"watermark\":");
    if (s.known)
        api_buf_i64(b, (int64_t)s.watermark);
    else
        api_buf_puts(b, "null");
    api_buf_puts(b, ",\"pendingAboveGap\":");
    api_buf_i64(b, s.npending);
    api_buf_puts(b, ",\"gapSince\":");
    if (s.gap_since_us) {
        api_buf_puts(b, "\"");
        api_buf_time(b, s.gap_since_us);
        api_buf_puts(b, "\"");
    } else {
        api_buf_puts(b, "null");
    }
    api_buf_puts(b, "}");
    rc = api_alerts_device_health(req, b, d);
    api_buf_puts(b, "}");
    return rc;
}

static void devices_view(const struct api_request *req, struct api_reply *rep)
{
    int seen;
    int64_t top = API_QUARANTINE_TOP;
    for (size_t i = 0; i < req->nargs; i++) {
        const char *k = req->args[i].key;
        if (strcmp(k, "top") && strcmp(k, "after")) {
            api_reply_error(rep, API_E_BADREQ, k, "unknown option '%.40s': use top, after", k);
            return;
        }
    }
    const char *after = api_arg(req, "after", &seen);
    if (seen > 1) {
        api_reply_error(rep, API_E_BADREQ, "after", "after: give one device id");
        return;
    }
    if (!int_arg(req, rep, "top", 1, API_QUARANTINE_MAX, &top))
        return;
    size_t max = (size_t)top + 1, n = 0; /* one more says whether a next page exists */
    char(*ids)[TK_ID_MAX + 1] = calloc(max, sizeof *ids);
    if (!ids) {
        api_reply_error(rep, API_E_INTERNAL, NULL, "out of memory");
        return;
    }
    enum tk_rc rc = store_sta_snapshot_begin(req->st);
    int snap = rc == TK_OK;
    if (!rc)
        rc = store_device_ids(req->st, after ? after : "", ids, max, &n);
    struct api_buf *b = &rep->body;
    api_buf_puts(b, "{\"value\":[");
    size_t shown = n > (size_t)top ? (size_t)top : n;
    for (size_t i = 0; !rc && i < shown; i++) {
        struct store_device d;
        rc = store_device_get(req->st, ids[i], &d);
        if (!rc) {
            if (i)
                api_buf_puts(b, ",");
            rc = device_health(req, b, &d);
        }
    }
    if (snap)
        store_sta_snapshot_end(req->st);
    if (rc) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "store: %s", store_errmsg(req->st));
        free(ids);
        return;
    }
    api_buf_puts(b, "]");
    if (n > (size_t)top) {
        api_buf_puts(b, ",\"@iot.nextLink\":\"");
        api_buf_puts(b, req->cfg->base_url);
        api_buf_printf(b, "/admin/devices?top=%lld&after=", (long long)top);
        api_buf_url(b, ids[shown - 1], 1);
        api_buf_puts(b, "\"");
    }
    api_buf_puts(b, "}");
    free(ids);
}

void api_admin_handle(const struct api_request *req, struct api_reply *rep)
{
    if (!api_require(req, API_SCOPE_ADMIN, rep))
        return;
    int ingest = strcmp(req->path, "/admin/ingest") == 0;
    int quarantine = strcmp(req->path, "/admin/quarantine") == 0;
    int devices = strcmp(req->path, "/admin/devices") == 0;
    if (!ingest && !quarantine && !devices) {
        api_reply_error(rep, API_E_NOTFOUND, NULL,
                        "no resource here; the operator view is /admin/ingest, "
                        "/admin/quarantine and /admin/devices");
        return;
    }
    if (req->method != API_M_GET && req->method != API_M_HEAD) {
        api_reply_error(rep, API_E_METHOD, NULL, "only GET is allowed here");
        return;
    }
    if (ingest)
        ingest_view(req, rep);
    else if (quarantine)
        quarantine_view(req, rep);
    else
        devices_view(req, rep);
}
