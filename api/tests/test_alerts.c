/* api/src/alerts.c on a real store, called as http.c calls it, with callers of every
 * kind (API keys come from elsewhere; here the principal is built by hand): the alert
 * settings over GET and PUT for an admin key (stored, read back, refusals with the
 * member named), 401/403 for others, the device-health view, the alert list and one
 * alert, CAP with both languages, method refusals. */
#include <string.h>

#include "api.h"
#include "store_test_util.h"

static struct api_config cfg;
static struct store *ro;

static struct api_reply *call(const struct api_principal *who, enum api_method m, const char *path,
                              const char *body, const struct api_qarg *args, size_t nargs)
{
    static struct api_reply rep;
    api_reply_free(&rep);
    api_reply_init(&rep, 1 << 20);
    struct api_request req = {.cfg = &cfg,
                              .st = ro,
                              .path = path,
                              .args = args,
                              .nargs = nargs,
                              .method = m,
                              .body = body,
                              .body_len = body ? strlen(body) : 0,
                              .who = who};
    CHECK(api_alerts_path(path));
    api_alerts_handle(&req, &rep);
    api_reply_finish(&rep);
    return &rep;
}

/* the operator view (admin_view.c), which shows each device's status and open alerts */
static struct api_reply *call_admin(const struct api_principal *who, const char *path)
{
    static struct api_reply rep;
    api_reply_free(&rep);
    api_reply_init(&rep, 1 << 20);
    struct api_request req = {.cfg = &cfg, .st = ro, .path = path, .method = API_M_GET,
                              .who = who};
    api_admin_handle(&req, &rep);
    api_reply_finish(&rep);
    return &rep;
}

static int has(const struct api_reply *r, const char *text)
{
    return r->body.data && strstr(r->body.data, text) != NULL;
}

int main(void)
{
    struct tmpdb db;
    struct store *st;
    tmpdb_make(&db);
    CHECK_EQ_INT(store_open(db.path, NULL, &st), TK_OK);
    struct store_device g = test_device("wl-api-0001", TK_KIND_WATER_LEVEL, 34.39, 132.45);
    g.mount_height_m = 2.0;
    CHECK_EQ_INT(store_device_add(st, &g, &g), TK_OK);
    struct store_device pf = test_device("pf-api-0001", TK_KIND_PEOPLE_FLOW, 34.4, 132.4);
    CHECK_EQ_INT(store_device_add(st, &pf, NULL), TK_OK);

    snprintf(cfg.db, sizeof cfg.db, "%s", db.path);
    snprintf(cfg.base_url, sizeof cfg.base_url, "http://127.0.0.1:8080");
    cfg.page_max = 100;
    cfg.reply_max = 1 << 20;
    struct store_options so = {.readonly = 1};
    CHECK_EQ_INT(store_open(db.path, &so, &ro), TK_OK);

    struct api_principal anon = {.anonymous = 1};
    struct api_principal reader = {.scopes = API_SCOPE_READ, .key_id = 1};
    struct api_principal admin = {.scopes = API_SCOPE_READ | API_SCOPE_ADMIN, .key_id = 2};
    const char *cp = "/alerts/config/wl-api-0001";

    /* refusals before anything is read */
    struct api_reply *r = call(&anon, API_M_GET, cp, NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 401);
    CHECK(has(r, "\"code\":\"EUNAUTH\""));
    r = call(&reader, API_M_PUT, cp, "{\"caution_m\":0.5}", NULL, 0);
    CHECK_EQ_INT(r->status, 403);
    CHECK(has(r, "EFORBIDDEN"));
    r = call_admin(&anon, "/admin/devices");
    CHECK_EQ_INT(r->status, 401);
    r = call(&admin, API_M_DELETE, cp, NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 405);

    /* admin: defaults from the 2 m mount height */
    r = call(&admin, API_M_GET, cp, NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK(has(r, "\"source\":\"default\",\"caution_m\":1,\"warning_m\":1.4,\"danger_m\":1.7"));
    /* a partial PUT is stored (through a connection of its own: the pool's is read-only) */
    r = call(&admin, API_M_PUT, cp, "{\"caution_m\":0.8,\"silence_intervals\":5}", NULL, 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK(has(r, "\"source\":\"set\",\"caution_m\":0.8,\"warning_m\":1.4"));
    struct store_alert_config c;
    CHECK_EQ_INT(store_alert_config_get(st, "wl-api-0001", &c), TK_OK);
    CHECK(c.caution_m == 0.8 && c.silence_intervals == 5 && c.danger_m == 1.7);
    r = call(&admin, API_M_GET, cp, NULL, NULL, 0);
    CHECK(has(r, "\"caution_m\":0.8"));
    /* what GET returns may be sent back as is */
    char back[512];
    snprintf(back, sizeof back, "%s", r->body.data);
    r = call(&admin, API_M_PUT, cp, back, NULL, 0);
    CHECK_EQ_INT(r->status, 200);

    /* bad bodies: 400 naming the member, nothing stored */
    r = call(&admin, API_M_PUT, cp, "{\"warning_m\":0.5}", NULL, 0);
    CHECK_EQ_INT(r->status, 400);
    CHECK(has(r, "\"field\":\"/warning_m\""));
    r = call(&admin, API_M_PUT, cp, "{\"caution\":1}", NULL, 0);
    CHECK_EQ_INT(r->status, 400);
    CHECK(has(r, "unknown member"));
    r = call(&admin, API_M_PUT, cp, "{\"caution_m\":\"high\"}", NULL, 0);
    CHECK_EQ_INT(r->status, 400);
    r = call(&admin, API_M_PUT, cp, "not json", NULL, 0);
    CHECK_EQ_INT(r->status, 400);
    r = call(&admin, API_M_PUT, cp, NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 400);
    CHECK_EQ_INT(store_alert_config_get(st, "wl-api-0001", &c), TK_OK);
    CHECK(c.caution_m == 0.8 && c.warning_m == 1.4);
    r = call(&admin, API_M_PUT, "/alerts/config/pf-api-0001", "{\"caution_m\":1}", NULL, 0);
    CHECK_EQ_INT(r->status, 404);
    r = call(&admin, API_M_GET, "/alerts/config/wl-none", NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 404);
    r = call(&admin, API_M_GET, "/alerts/config/BAD..", NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 404);

    /* an alert and a status, then the health view and the alert paths */
    struct store_alert a = {.cond = STORE_ALERT_LEVEL,
                            .active = 1,
                            .event = STORE_EV_RAISED,
                            .severity = STORE_SEV_WARNING,
                            .severity_max = STORE_SEV_WARNING,
                            .value = 1.45,
                            .threshold = 1.4,
                            .start_us = T0,
                            .peak_value = 1.45,
                            .peak_us = T0,
                            .updated_us = T0,
                            .rev = 1,
                            .lat = 34.39,
                            .lon = 132.45};
    strcpy(a.device_id, "wl-api-0001");
    strcpy(a.name, "Kita <inlet> & \"pump\"");
    CHECK_EQ_INT(store_alert_add(st, &a), TK_OK);
    struct store_device_status ds = {
        .online = 1, .has_rssi = 1, .rssi_dbm = -90, .received_us = T0};
    strcpy(ds.device_id, "wl-api-0001");
    CHECK_EQ_INT(store_device_status_put(st, &ds), TK_OK);

    r = call_admin(&admin, "/admin/devices");
    CHECK_EQ_INT(r->status, 200);
    CHECK(has(r, "{\"value\":[{\"deviceId\":\"pf-api-0001\""));
    CHECK(has(r, "\"status\":null"));
    CHECK(
        has(r, "\"status\":{\"state\":\"online\",\"fw\":null,\"battery_v\":null,\"rssi_dbm\":-90"));
    CHECK(has(r, "\"openAlerts\":[{\"v\":1,\"id\":1,"));
    r = call_admin(&reader, "/admin/devices");
    CHECK_EQ_INT(r->status, 403);

    r = call(&anon, API_M_GET, "/alerts", NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK(has(r, "\"name\":\"Kita <inlet> & \\\"pump\\\"\""));
    struct api_qarg q1[] = {{"state", "cleared"}, {"$count", "true"}};
    r = call(&anon, API_M_GET, "/alerts", NULL, q1, 2);
    CHECK(has(r, "{\"@iot.count\":0,\"value\":[]}"));
    struct api_qarg q2[] = {{"state", "active"}, {"state", "cleared"}};
    r = call(&anon, API_M_GET, "/alerts", NULL, q2, 2);
    CHECK_EQ_INT(r->status, 400);
    r = call(&anon, API_M_GET, "/alerts/1", NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK(has(r, "\"severity\":\"warning\""));
    r = call(&anon, API_M_GET, "/alerts/1.cap", NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK(!strncmp(r->content_type, "application/cap+xml", 19));
    CHECK(has(r, "<language>ja-JP</language>") && has(r, "<language>en-US</language>"));
    CHECK(has(r, "<severity>Severe</severity>") && has(r, "<msgType>Alert</msgType>"));
    CHECK(has(r, "Kita &lt;inlet&gt; &amp; &quot;pump&quot;"));
    CHECK(has(r, "<sent>2026-11-26T00:00:00+00:00</sent>"));
    CHECK(has(r, "<circle>34.390000,132.450000 0.1</circle>"));
    CHECK(has(r, "下水道水位 警戒"));
    r = call(&anon, API_M_GET, "/alerts/0.cap", NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 404);
    r = call(&anon, API_M_GET, "/alerts/x", NULL, NULL, 0);
    CHECK_EQ_INT(r->status, 404);
    r = call(&anon, API_M_POST, "/alerts", "{}", NULL, 0);
    CHECK_EQ_INT(r->status, 405);
    CHECK(!api_alerts_path("/alertsx") && !api_alerts_path("/admin/other"));

    api_reply_free(r);
    store_close(ro);
    store_close(st);
    tmpdb_remove(&db);
    return tk_check_result("api_alerts");
}
