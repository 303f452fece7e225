/* Alerts over HTTP (docs/alerts.md): the alert list with its filters, one alert, the
 * same as CAP 1.2 XML and as an Atom feed of CAP messages, the alert settings of a gauge
 * (admin scope), and the device-health view (admin scope).
 *
 * The alert JSON is the store's renderer (store_alert_json), the payload the ingest
 * publishes on city/alerts/{id}: one shape everywhere. CAP follows the OASIS schema
 * (schemas/cap/CAP-v1.2.xsd) element by element and in its order; its date-time
 * pattern allows neither fractions nor "Z", so times are written with "+00:00". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "tk_time.h"

#define ALERTS_TOP_DEFAULT 100
#define ALERT_JSON_MAX 2048

/* ---- helpers ------------------------------------------------------------------------ */

static void method_not_allowed(struct api_reply *rep, const char *allow)
{
    rep->allow = allow;
    api_reply_error(rep, API_E_METHOD, NULL, "method not allowed here; use %s", allow);
}

/* "2026-11-27T01:10:00+00:00" (the CAP pattern; also valid Atom). */
static void put_cap_time(struct api_buf *b, int64_t us)
{
    time_t s = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    api_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void put_xml(struct api_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            api_buf_puts(b, "&lt;");
            break;
        case '>':
            api_buf_puts(b, "&gt;");
            break;
        case '&':
            api_buf_puts(b, "&amp;");
            break;
        case '"':
            api_buf_puts(b, "&quot;");
            break;
        case '\'':
            api_buf_puts(b, "&apos;");
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
                api_buf_put(b, "?", 1); /* not allowed in XML 1.0 */
            else
                api_buf_put(b, s, 1);
        }
    }
}

static void put_alert_json(struct api_buf *b, const struct store_alert *a)
{
    char json[ALERT_JSON_MAX];
    size_t len;
    if (store_alert_json(a, json, sizeof json, &len) == TK_OK)
        api_buf_put(b, json, len);
    else
        b->err = TK_EINVAL;
}

/* ---- CAP 1.2 ------------------------------------------------------------------------ */

static const char *cap_severity(enum store_alert_sev s)
{
    return s == STORE_SEV_DANGER ? "Extreme" : s == STORE_SEV_WARNING ? "Severe" : "Moderate";
}

static const char *cap_response(const struct store_alert *a)
{
    if (!a->active)
        return "AllClear";
    if (a->cond == STORE_ALERT_SILENCE)
        return "Monitor";
    return a->severity == STORE_SEV_DANGER    ? "Avoid"
           : a->severity == STORE_SEV_WARNING ? "Prepare"
                                              : "Monitor";
}

struct cap_text {
    const char *lang, *sender_name, *event[STORE_ALERT_NCOND], *sev[4], *cleared, *instr_active,
        *instr_clear, *silence_instr;
};

static const struct cap_text cap_ja = {
    "ja-JP",
    "Takumi 都市センサー基盤",
    {"下水道水位", "下水道水位の急上昇", "水位計の通信途絶"},
    {"", "注意", "警戒", "危険"},
    "解除",
    "周辺の道路・地下空間の冠水に注意し、最新の情報を確認してください。",
    "水位は平常に戻りました。",
    "水位計から一定時間データが届いていません。現地の状況を確認してください。",
};

static const struct cap_text cap_en = {
    "en-US",
    "Takumi city sensor platform",
    {"Sewer water level", "Sewer water level rising fast", "Water-level gauge silent"},
    {"", "caution", "warning", "danger"},
    "cleared",
    "Watch for flooding of nearby roads and underground spaces and follow the latest "
    "information.",
    "The water level is back to normal.",
    "No data has arrived from the gauge for a while. Check the site.",
};

static void cap_headline(struct api_buf *b, const struct cap_text *t, const struct store_alert *a)
{
    const char *name = a->name[0] ? a->name : a->device_id;
    int ja = t == &cap_ja;
    put_xml(b, t->event[a->cond]);
    api_buf_puts(b, ja ? " " : ": ");
    put_xml(b, a->active ? t->sev[a->severity] : t->cleared);
    api_buf_puts(b, ja ? "（" : " (");
    put_xml(b, name);
    api_buf_puts(b, ja ? "）" : ")");
}

static void cap_description(struct api_buf *b, const struct cap_text *t,
                            const struct store_alert *a)
{
    int ja = t == &cap_ja;
    const char *name = a->name[0] ? a->name : a->device_id;
    put_xml(b, name);
    api_buf_printf(b, " (%s): ", a->device_id);
    switch (a->cond) {
    case STORE_ALERT_LEVEL:
        api_buf_printf(b,
                       ja ? "水位 %.2f m（基準 %.2f m）、最高 %.2f m。"
                          : "level %.2f m (threshold %.2f m), highest %.2f m.",
                       a->value, a->threshold, a->peak_value);
        break;
    case STORE_ALERT_RISE:
        api_buf_printf(b,
                       ja ? "上昇速度 10分あたり %.2f m（基準 %.2f m）、最大 %.2f m。"
                          : "rising %.2f m per 10 minutes (threshold %.2f m), fastest %.2f m.",
                       a->value, a->threshold, a->peak_value);
        break;
    default:
        api_buf_printf(b,
                       ja ? "%.0f 秒間データなし（基準 %.0f 秒）。"
                          : "no data for %.0f s (threshold %.0f s).",
                       a->value, a->threshold);
    }
}

static void cap_info(struct api_buf *b, const struct api_config *cfg, const struct cap_text *t,
                     const struct store_alert *a)
{
    api_buf_puts(b, "<info><language>");
    api_buf_puts(b, t->lang);
    api_buf_puts(b, a->cond == STORE_ALERT_SILENCE ? "</language><category>Infra</category>"
                                                   : "</language><category>Met</category>");
    api_buf_puts(b, "<event>");
    put_xml(b, t->event[a->cond]);
    api_buf_printf(b, "</event><responseType>%s</responseType>", cap_response(a));
    api_buf_printf(b,
                   "<urgency>%s</urgency><severity>%s</severity>"
                   "<certainty>Observed</certainty>",
                   a->active ? "Immediate" : "Past", cap_severity(a->severity));
    api_buf_printf(b,
                   "<eventCode><valueName>takumi-condition</valueName><value>%s</value>"
                   "</eventCode>",
                   store_alert_cond_name(a->cond));
    api_buf_puts(b, "<effective>");
    put_cap_time(b, a->start_us);
    api_buf_puts(b, "</effective><onset>");
    put_cap_time(b, a->start_us);
    api_buf_puts(b, "</onset><senderName>");
    put_xml(b, t->sender_name);
    api_buf_puts(b, "</senderName><headline>");
    cap_headline(b, t, a);
    api_buf_puts(b, "</headline><description>");
    cap_description(b, t, a);
    api_buf_puts(b, "</description><instruction>");
    put_xml(b, !a->active                       ? t->instr_clear
               : a->cond == STORE_ALERT_SILENCE ? t->silence_instr
                                                : t->instr_active);
    api_buf_puts(b, "</instruction><web>");
    put_xml(b, cfg->base_url);
    api_buf_printf(b, "/alerts/%lld</web>", (long long)a->id);
    api_buf_printf(b, "<parameter><valueName>value_%s</valueName><value>%.3f</value></parameter>",
                   store_alert_unit(a->cond), a->value);
    api_buf_printf(b,
                   "<parameter><valueName>threshold_%s</valueName><value>%.3f</value>"
                   "</parameter>",
                   store_alert_unit(a->cond), a->threshold);
    api_buf_printf(b,
                   "<parameter><valueName>severity_takumi</valueName><value>%s</value>"
                   "</parameter>",
                   store_alert_sev_name(a->severity));
    api_buf_puts(b, "<area><areaDesc>");
    put_xml(b, a->name[0] ? a->name : a->device_id);
    api_buf_printf(b, " (%s)</areaDesc><circle>%.6f,%.6f 0.1</circle></area></info>", a->device_id,
                   a->lat, a->lon);
}

/* One CAP <alert> (without the XML declaration). */
static void cap_alert(struct api_buf *b, const struct api_config *cfg, const struct store_alert *a)
{
    api_buf_puts(b, "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>");
    api_buf_printf(b, "takumi-alert-%lld-%lld</identifier><sender>", (long long)a->id,
                   (long long)a->rev);
    put_xml(b, cfg->base_url);
    api_buf_puts(b, "</sender><sent>");
    put_cap_time(b, a->updated_us);
    api_buf_printf(b, "</sent><status>Actual</status><msgType>%s</msgType><scope>Public</scope>",
                   a->rev > 1 ? "Update" : "Alert");
    if (a->rev > 1) {
        api_buf_puts(b, "<references>");
        put_xml(b, cfg->base_url);
        api_buf_printf(b, ",takumi-alert-%lld-1,", (long long)a->id);
        put_cap_time(b, a->start_us);
        api_buf_puts(b, "</references>");
    }
    cap_info(b, cfg, &cap_ja, a);
    cap_info(b, cfg, &cap_en, a);
    api_buf_puts(b, "</alert>");
}

/* ---- the list --------------------------------------------------------------------- */

static const char *arg(const struct api_request *req, const char *key, int *dup)
{
    const char *v = NULL;
    for (size_t i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, key) == 0) {
            if (v)
                *dup = 1;
            v = req->args[i].value ? req->args[i].value : "";
        }
    return v;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    if (!*s)
        return 0;
    long long v = strtoll(s, &end, 10);
    if (*end || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

/* The filters of /alerts and /alerts.atom; 0 with an error reply when one is bad. */
static int parse_filter(const struct api_request *req, struct api_reply *rep,
                        struct store_alert_filter *f, int *count)
{
    static const char *const known[] = {"state", "severity", "condition", "device", "bbox",
                                        "from",  "to",       "$top",      "$skip",  "$count"};
    memset(f, 0, sizeof *f);
    f->state = -1;
    f->cond = -1;
    f->top = ALERTS_TOP_DEFAULT;
    *count = 0;
    for (size_t i = 0; i < req->nargs; i++) {
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(req->args[i].key, known[k]) != 0)
            k++;
        if (k == sizeof known / sizeof known[0]) {
            api_reply_error(rep, API_E_BADREQ, req->args[i].key,
                            "unknown parameter; /alerts takes state, severity, condition, "
                            "device, bbox, from, to, $top, $skip, $count");
            return 0;
        }
    }
    int dup = 0;
    const char *v;
    if ((v = arg(req, "state", &dup))) {
        if (strcmp(v, "active") == 0)
            f->state = 1;
        else if (strcmp(v, "cleared") == 0)
            f->state = 0;
        else
            goto bad_state;
    }
    if ((v = arg(req, "severity", &dup))) {
        const char *p = v;
        do {
            size_t n = strcspn(p, ",");
            int s = store_alert_sev_find(p, n);
            if (s < 0) {
                api_reply_error(rep, API_E_BADREQ, "severity",
                                "severity must be caution, warning or danger (a comma-separated "
                                "list for several)");
                return 0;
            }
            f->severities |= 1u << s;
            p += n;
        } while (*p++ == ',');
    }
    if ((v = arg(req, "condition", &dup))) {
        f->cond = store_alert_cond_find(v, strlen(v));
        if (f->cond < 0) {
            api_reply_error(rep, API_E_BADREQ, "condition",
                            "condition must be level, rise or silence");
            return 0;
        }
    }
    if ((v = arg(req, "device", &dup))) {
        if (!tk_device_id_valid(v)) {
            api_reply_error(rep, API_E_BADREQ, "device", "device ids match [a-z0-9-]{3,48}");
            return 0;
        }
        f->device_id = v;
    }
    if ((v = arg(req, "bbox", &dup))) {
        char tail;
        if (sscanf(v, "%lf,%lf,%lf,%lf%c", &f->min_lon, &f->min_lat, &f->max_lon, &f->max_lat,
                   &tail) != 4 ||
            !(f->min_lon <= f->max_lon && f->min_lat <= f->max_lat) || f->min_lon < -180 ||
            f->max_lon > 180 || f->min_lat < -90 || f->max_lat > 90) {
            api_reply_error(rep, API_E_BADREQ, "bbox",
                            "bbox is minLon,minLat,maxLon,maxLat in WGS84 degrees, min <= max");
            return 0;
        }
        f->has_bbox = 1;
    }
    const char *tn[2] = {"from", "to"};
    int64_t *tv[2] = {&f->from_us, &f->to_us};
    for (int i = 0; i < 2; i++) {
        if ((v = arg(req, tn[i], &dup)) &&
            (tk_time_parse_rfc3339(v, strlen(v), tv[i]) || *tv[i] == 0)) {
            api_reply_error(rep, API_E_BADREQ, tn[i],
                            "%s must be an RFC 3339 time with an offset, e.g. "
                            "2026-11-27T09:00:00+09:00",
                            tn[i]);
            return 0;
        }
    }
    if ((v = arg(req, "$top", &dup)) && !parse_i64(v, 0, req->cfg->page_max, &f->top)) {
        api_reply_error(rep, API_E_BADREQ, "$top", "$top must be an integer from 0 to %lld",
                        (long long)req->cfg->page_max);
        return 0;
    }
    if ((v = arg(req, "$skip", &dup)) && !parse_i64(v, 0, INT64_MAX / 2, &f->skip)) {
        api_reply_error(rep, API_E_BADREQ, "$skip", "$skip must be a non-negative integer");
        return 0;
    }
    if ((v = arg(req, "$count", &dup))) {
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
            api_reply_error(rep, API_E_BADREQ, "$count", "$count must be true or false");
            return 0;
        }
        *count = strcmp(v, "true") == 0;
    }
    if (dup) {
        api_reply_error(rep, API_E_BADREQ, NULL, "a parameter is given twice");
        return 0;
    }
    return 1;
bad_state:
    api_reply_error(rep, API_E_BADREQ, "state", "state must be active or cleared");
    return 0;
}

struct list_out {
    struct api_buf *b;
    const struct api_config *cfg;
    int64_t n, cap;
    int more; /* a row beyond cap exists: there is a next page */
};

static int list_json(const struct store_alert *a, void *ud)
{
    struct list_out *o = ud;
    if (o->n == o->cap) {
        o->more = 1;
        return 1;
    }
    if (o->n++)
        api_buf_put(o->b, ",", 1);
    put_alert_json(o->b, a);
    return o->b->err != TK_OK;
}

static int list_atom(const struct store_alert *a, void *ud)
{
    struct list_out *o = ud;
    struct api_buf *b = o->b;
    o->n++;
    api_buf_puts(b, "<entry><id>");
    put_xml(b, o->cfg->base_url);
    api_buf_printf(b, "/alerts/%lld.cap?rev=%lld</id><title>", (long long)a->id, (long long)a->rev);
    cap_headline(b, &cap_en, a);
    api_buf_puts(b, "</title><updated>");
    put_cap_time(b, a->updated_us);
    api_buf_puts(b, "</updated><link rel=\"alternate\" type=\"application/cap+xml\" href=\"");
    put_xml(b, o->cfg->base_url);
    api_buf_printf(b, "/alerts/%lld.cap\"/><content type=\"application/cap+xml\">",
                   (long long)a->id);
    cap_alert(b, o->cfg, a);
    api_buf_puts(b, "</content></entry>");
    return b->err != TK_OK;
}

static int stop_at_first(const struct store_alert *a, void *ud)
{
    (void)a;
    (void)ud;
    return 1;
}

/* The query string again without $skip, for @iot.nextLink. */
static void next_link(struct api_buf *b, const struct api_request *req, const char *path,
                      int64_t skip)
{
    api_buf_puts(b, ",\"@iot.nextLink\":\"");
    api_buf_puts(b, req->cfg->base_url);
    api_buf_puts(b, path);
    api_buf_printf(b, "?$skip=%lld", (long long)skip);
    for (size_t i = 0; i < req->nargs; i++) {
        if (strcmp(req->args[i].key, "$skip") == 0)
            continue;
        api_buf_put(b, "&", 1);
        api_buf_url(b, req->args[i].key, 1);
        if (req->args[i].value) {
            api_buf_put(b, "=", 1);
            api_buf_url(b, req->args[i].value, 1);
        }
    }
    api_buf_put(b, "\"", 1);
}

static void alert_list(const struct api_request *req, struct api_reply *rep, int atom)
{
    struct store_alert_filter f;
    int want_count;
    if (!parse_filter(req, rep, &f, &want_count))
        return;
    struct api_buf *b = &rep->body;
    struct list_out o = {b, req->cfg, 0, f.top, 0};
    int64_t total = 0;
    enum tk_rc rc = TK_OK;
    if (atom) {
        api_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><id>");
        put_xml(b, req->cfg->base_url);
        api_buf_puts(b, "/alerts.atom</id><title>Takumi alerts (CAP 1.2)</title><updated>");
        put_cap_time(b, tk_now_utc_us());
        api_buf_puts(b, "</updated><author><name>Takumi</name></author><link rel=\"self\" href=\"");
        put_xml(b, req->cfg->base_url);
        api_buf_puts(b, "/alerts.atom\"/>");
        rc = store_alert_list(req->st, &f, list_atom, &o, NULL);
        api_buf_puts(b, "</feed>\n");
        rep->content_type = "application/atom+xml; charset=utf-8";
    } else {
        /* ask for one more than a page to know whether a next page exists */
        int64_t top = f.top;
        f.top = top + 1;
        if (want_count) {
            rc = store_alert_list(req->st, &f, stop_at_first, NULL, &total);
            api_buf_printf(b, "{\"@iot.count\":%lld,\"value\":[", (long long)total);
        } else {
            api_buf_puts(b, "{\"value\":[");
        }
        if (!rc)
            rc = store_alert_list(req->st, &f, list_json, &o, NULL);
        api_buf_puts(b, "]");
        if (o.more && top > 0)
            next_link(b, req, "/alerts", f.skip + top);
        api_buf_puts(b, "}");
        rep->content_type = "application/json";
    }
    if (rc) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "listing alerts failed: %s (%s)",
                        tk_strerror(rc), store_errmsg(req->st));
        return;
    }
    rep->status = 200;
}

/* ---- one alert -------------------------------------------------------------------- */

static void alert_one(const struct api_request *req, struct api_reply *rep, const char *rest)
{
    size_t n = strlen(rest);
    int cap = n > 4 && strcmp(rest + n - 4, ".cap") == 0;
    char idtext[24];
    if (cap)
        n -= 4;
    if (n == 0 || n >= sizeof idtext) {
        api_reply_error(rep, API_E_NOTFOUND, NULL, "no such alert");
        return;
    }
    memcpy(idtext, rest, n);
    idtext[n] = '\0';
    int64_t id;
    if (!parse_i64(idtext, 1, INT64_MAX, &id)) {
        api_reply_error(rep, API_E_NOTFOUND, NULL, "alert ids are positive integers");
        return;
    }
    struct store_alert a;
    enum tk_rc rc = store_alert_get(req->st, id, &a);
    if (rc) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "%s", store_errmsg(req->st));
        return;
    }
    if (cap) {
        api_buf_puts(&rep->body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        cap_alert(&rep->body, req->cfg, &a);
        api_buf_puts(&rep->body, "\n");
        rep->content_type = "application/cap+xml; charset=utf-8";
    } else {
        put_alert_json(&rep->body, &a);
        rep->content_type = "application/json";
    }
    rep->status = 200;
}

/* ---- settings (admin) ------------------------------------------------------------- */

static void config_reply(struct api_reply *rep, const struct store_alert_config *c)
{
    char buf[512];
    size_t len;
    if (store_alert_config_json(c, buf, sizeof buf, &len)) {
        api_reply_error(rep, API_E_INTERNAL, NULL, "rendering the settings failed");
        return;
    }
    api_buf_put(&rep->body, buf, len);
    rep->content_type = "application/json";
    rep->status = 200;
}

static void alert_config(const struct api_request *req, struct api_reply *rep, const char *id)
{
    if (req->method != API_M_GET && req->method != API_M_HEAD && req->method != API_M_PUT) {
        method_not_allowed(rep, "GET, HEAD, PUT");
        return;
    }
    if (!api_require(req, API_SCOPE_ADMIN, rep))
        return;
    if (!tk_device_id_valid(id)) {
        api_reply_error(rep, API_E_NOTFOUND, NULL, "device ids match [a-z0-9-]{3,48}");
        return;
    }
    /* the pool's connections are read-only: a change gets a connection of its own */
    struct store *st = req->st, *wst = NULL;
    enum tk_rc rc = TK_OK;
    if (req->method == API_M_PUT) {
        struct store_options so = {.busy_timeout_ms = 5000};
        rc = store_open(req->cfg->db, &so, &wst);
        if (rc) {
            api_reply_error(rep, API_E_DB, NULL, "cannot open the store for writing: %s",
                            tk_strerror(rc));
            return;
        }
        st = wst;
    }
    struct store_device dev;
    struct store_alert_config c;
    rc = store_device_get(st, id, &dev);
    if (rc) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "%s", store_errmsg(st));
        goto out;
    }
    if (dev.kind != TK_KIND_WATER_LEVEL) {
        api_reply_error(rep, API_E_NOTFOUND, NULL,
                        "'%s' is a %s device; alert settings exist for water_level gauges", id,
                        tk_kind_name(dev.kind));
        goto out;
    }
    rc = store_alert_config_effective(st, &dev, &c);
    if (rc) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "%s", store_errmsg(st));
        goto out;
    }
    if (req->method == API_M_PUT) {
        struct tk_error e = {0};
        if (!req->body || !req->body_len) {
            api_reply_error(rep, API_E_BADREQ, NULL,
                            "send the settings to change as a JSON object "
                            "(schemas/alert-config.schema.json)");
            goto out;
        }
        if (store_alert_config_parse(req->body, req->body_len, &c, &e)) {
            api_reply_error(rep, API_E_BADREQ, e.path[0] ? e.path : NULL, "%s", e.text);
            goto out;
        }
        c.is_set = 1;
        rc = store_alert_config_put(st, &c);
        if (rc) {
            api_reply_error(rep, api_err_of_rc(rc), NULL, "%s", store_errmsg(st));
            goto out;
        }
    }
    config_reply(rep, &c);
out:
    store_close(wst);
}

/* ---- device health (admin) ---------------------------------------------------------- */

struct health_ctx {
    const struct api_request *req;
    struct api_buf *b;
    int n, rows;
    enum tk_rc rc;
};

static int health_alert(const struct store_alert *a, void *ud)
{
    struct health_ctx *h = ud;
    if (h->n++)
        api_buf_put(h->b, ",", 1);
    put_alert_json(h->b, a);
    return 0;
}

/* The alert side of a device's health in the operator view (admin_view.c):
 * ,"status":{...} (its last status message, null if none) and ,"openAlerts":[...]. */
enum tk_rc api_alerts_device_health(const struct api_request *req, struct api_buf *b,
                                    const struct store_device *d)
{
    struct store_device_status s;
    api_buf_puts(b, ",\"status\":");
    enum tk_rc rc = store_device_status_get(req->st, d->id, &s);
    if (rc == TK_ENOTFOUND) {
        api_buf_puts(b, "null");
    } else if (rc) {
        return rc;
    } else {
        api_buf_printf(b, "{\"state\":\"%s\",\"fw\":", s.online ? "online" : "offline");
        if (s.fw[0])
            api_buf_json_str(b, s.fw, strlen(s.fw));
        else
            api_buf_puts(b, "null");
        api_buf_puts(b, ",\"battery_v\":");
        if (s.has_battery)
            api_buf_num(b, s.battery_v);
        else
            api_buf_puts(b, "null");
        api_buf_puts(b, ",\"rssi_dbm\":");
        if (s.has_rssi)
            api_buf_i64(b, s.rssi_dbm);
        else
            api_buf_puts(b, "null");
        api_buf_puts(b, ",\"received\":\"");
        api_buf_time(b, s.received_us);
        api_buf_puts(b, "\"}");
    }
    api_buf_puts(b, ",\"openAlerts\":[");
    struct store_alert_filter f = {.state = 1, .cond = -1, .device_id = d->id};
    struct health_ctx h = {req, b, 0, 0, TK_OK};
    rc = store_alert_list(req->st, &f, health_alert, &h, NULL);
    api_buf_puts(b, "]");
    return rc;
}

/* ---- dispatch --------------------------------------------------------------------- */

int api_alerts_path(const char *url)
{
    return strcmp(url, "/alerts") == 0 || strcmp(url, "/alerts.atom") == 0 ||
           strncmp(url, "/alerts/", 8) == 0;
}

void api_alerts_handle(const struct api_request *req, struct api_reply *rep)
{
    const char *p = req->path;
    if (strncmp(p, "/alerts/config/", 15) == 0) {
        alert_config(req, rep, p + 15);
        return;
    }
    if (req->method != API_M_GET && req->method != API_M_HEAD) {
        method_not_allowed(rep, "GET, HEAD");
        return;
    }
    if (strcmp(p, "/alerts") == 0 || strcmp(p, "/alerts.atom") == 0)
        alert_list(req, rep, p[7] == '.');
    else
        alert_one(req, rep, p + 8);
}
