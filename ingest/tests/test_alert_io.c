/* The alert engine on a real store: settings (defaults from the calibration, rules,
 * JSON), alerts stored and rendered as the schema says, the published config, restart
 * recovery (a reopened store gives the same open alert, its points and the fast state,
 * so the next change updates the same alert), filters and pages of store_alert_list,
 * device status. With the argument "pg", against the PostgreSQL store in TK_TEST_PG_URI
 * (ctest ingest_alert_io_pg, under tests/pg/pgserver.py). */
#include <math.h>

#include "alert_io.h"
#include "store_test_util.h"

#define S INT64_C(1000000)

static struct store *st;

static void settings(const struct store_device *dev)
{
    struct store_alert_config c, d;
    struct tk_error e = {0};
    char buf[512];
    size_t len;

    /* defaults from the mount height (2.5 m): 50/70/85 % */
    CHECK_EQ_INT(store_alert_config_effective(st, dev, &c), TK_OK);
    CHECK(!c.is_set && c.caution_m == 1.25 && c.warning_m == 1.75 && c.danger_m == 2.125);
    CHECK(c.silence_intervals == 3 && c.interval_s == 600 && c.fast_interval_s == 60);
    CHECK_EQ_INT(store_alert_config_check(&c, &e), TK_OK);
    CHECK_EQ_INT(store_alert_config_get(st, dev->id, &d), TK_ENOTFOUND);
    /* no calibration: fixed levels */
    struct store_device p = *dev;
    p.mount_height_m = 0;
    store_alert_config_default(&p, &d);
    CHECK(d.caution_m == 1.0 && d.warning_m == 1.5 && d.danger_m == 2.0);

    /* a partial JSON update keeps the rest */
    const char *body = "{\"caution_m\":1.0,\"warning_m\":1.4,\"danger_m\":1.7}";
    CHECK_EQ_INT(store_alert_config_parse(body, strlen(body), &c, &e), TK_OK);
    CHECK(c.caution_m == 1.0 && c.rise_m_per_10min == 0.3);
    /* rules with the member named */
    d = c;
    body = "{\"warning_m\":0.9}";
    CHECK_EQ_INT(store_alert_config_parse(body, strlen(body), &d, &e), TK_EINVAL);
    CHECK_EQ_STR(e.path, "/warning_m");
    d = c;
    body = "{\"hysteresis_m\":0.35}";
    CHECK_EQ_INT(store_alert_config_parse(body, strlen(body), &d, &e), TK_EINVAL);
    CHECK_EQ_STR(e.path, "/hysteresis_m");
    d = c;
    body = "{\"fast_interval_s\":900}";
    CHECK_EQ_INT(store_alert_config_parse(body, strlen(body), &d, &e), TK_EINVAL);
    d = c;
    body = "{\"silence_intervals\":2.5}";
    CHECK_EQ_INT(store_alert_config_parse(body, strlen(body), &d, &e), TK_EINVAL);
    body = "{\"caution\":1}";
    CHECK_EQ_INT(store_alert_config_parse(body, strlen(body), &d, &e), TK_EINVAL);
    CHECK(strstr(e.text, "unknown member 'caution'") != NULL);
    body = "[1]";
    CHECK_EQ_INT(store_alert_config_parse(body, strlen(body), &d, &e), TK_EINVAL);
    body = "{\"caution_m\":";
    CHECK_EQ_INT(store_alert_config_parse(body, strlen(body), &d, &e), TK_EINVAL);

    /* stored, read back, stamped */
    int64_t stamp0 = 0, stamp1 = 0;
    CHECK_EQ_INT(store_alert_config_stamp(st, &stamp0), TK_OK);
    CHECK_EQ_INT(store_alert_config_put(st, &c), TK_OK);
    CHECK_EQ_INT(store_alert_config_stamp(st, &stamp1), TK_OK);
    CHECK(stamp1 != stamp0);
    CHECK_EQ_INT(store_alert_config_effective(st, dev, &d), TK_OK);
    CHECK(d.is_set && d.caution_m == 1.0 && d.warning_m == 1.4 && d.danger_m == 1.7);
    CHECK_EQ_INT(store_alert_config_json(&d, buf, sizeof buf, &len), TK_OK);
    CHECK(strstr(buf, "\"source\":\"set\"") && strstr(buf, "\"warning_m\":1.4,"));
    /* invalid settings are refused by the store too */
    d.danger_m = 1.0;
    CHECK_EQ_INT(store_alert_config_put(st, &d), TK_EINVAL);
}

/* Store one level observation and evaluate it, as the writer does. */
static int feed(struct ing_alert_gauge *g, const struct store_device *dev, struct ing_pub *pub,
                int64_t t, double level, uint64_t *npub)
{
    struct store_obs o = {.ds_id = dev->ds[TK_Q_WATER_LEVEL], .t_us = t, .result = level};
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
    enum tk_rc rc = ing_alerts_reading(st, pub, g, t, level, t, npub);
    CHECK_EQ_INT(rc, TK_OK);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    return rc == TK_OK;
}

static int count_cb(const struct store_alert *a, void *ud)
{
    (void)a;
    (*(int *)ud)++;
    return 0;
}

static int count(const struct store_alert_filter *f)
{
    int n = 0;
    int64_t total = -1;
    CHECK_EQ_INT(store_alert_list(st, f, count_cb, &n, &total), TK_OK);
    if (!f->top && !f->skip)
        CHECK_EQ_INT(total, n);
    return n;
}

static void engine(const char *uri, struct store_device *dev)
{
    struct ing_pub *pub = NULL;
    struct ing_alert_gauge *g = NULL;
    uint64_t npub = 0;
    char buf[2048];
    size_t len;
    CHECK_EQ_INT(ing_pub_create("127.0.0.1", 1, NULL, "t", "u", "p", 1 << 20, &pub), TK_OK);
    CHECK_EQ_INT(ing_alerts_load(st, dev, T0, &g), TK_OK);
    CHECK(g && g->cfg.caution_m == 1.0 && !ing_alert_any_active(g));
    CHECK_EQ_STR(g->name, "Kita inlet");

    for (int m = 0; m < 5; m++)
        feed(g, dev, pub, T0 + m * MIN_US, 0.5, &npub);
    CHECK_EQ_INT(npub, 0);
    /* crossing caution: the alert and the fast config are queued */
    feed(g, dev, pub, T0 + 5 * MIN_US, 1.05, &npub);
    CHECK_EQ_INT(npub, 3); /* level alert, rise alert (0.55 m in a minute), config */
    const struct store_alert *a = &g->al[STORE_ALERT_LEVEL];
    CHECK(a->id > 0 && a->active);
    int64_t id = a->id;
    CHECK(g->pub.fast == 1 && g->pub.config_version >= (uint32_t)(T0 / S));
    struct store_alert got;
    CHECK_EQ_INT(store_alert_get(st, id, &got), TK_OK);
    CHECK(got.active && got.severity == STORE_SEV_CAUTION && got.rev == 1);
    CHECK_EQ_INT(store_alert_json(&got, buf, sizeof buf, &len), TK_OK);
    CHECK(strstr(buf, "\"condition\":\"level\",\"state\":\"active\",\"event\":\"raised\""));
    CHECK(strstr(buf, "\"end\":null") && strstr(buf, "\"name\":\"Kita inlet\""));
    CHECK(strstr(buf, "\"start\":\"2026-11-26T00:05:00.000000Z\""));

    /* restart: a new store connection and a freshly loaded gauge */
    free(g);
    store_close(st);
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    char id_copy[TK_ID_MAX + 1];
    snprintf(id_copy, sizeof id_copy, "%s", dev->id);
    CHECK_EQ_INT(store_device_get(st, id_copy, dev), TK_OK);
    CHECK_EQ_INT(ing_alerts_load(st, dev, T0 + 6 * MIN_US, &g), TK_OK);
    CHECK(g->al[STORE_ALERT_LEVEL].active && g->al[STORE_ALERT_LEVEL].id == id);
    CHECK(g->al[STORE_ALERT_RISE].active);
    CHECK(g->pub.fast == 1);
    CHECK(g->last_t_us == T0 + 5 * MIN_US && g->hn == 6);
    /* the same reading again changes nothing (not newer) */
    npub = 0;
    CHECK_EQ_INT(ing_alerts_reading(st, pub, g, T0 + 5 * MIN_US, 1.05, T0 + 6 * MIN_US, &npub),
                 TK_OK);
    CHECK_EQ_INT(npub, 0);
    /* escalation updates the same alert */
    feed(g, dev, pub, T0 + 6 * MIN_US, 1.45, &npub);
    CHECK(g->al[STORE_ALERT_LEVEL].id == id);
    CHECK_EQ_INT(store_alert_get(st, id, &got), TK_OK);
    CHECK(got.severity == STORE_SEV_WARNING && got.rev == 2 && got.peak_value == 1.45);
    /* falling: level clears, rise clears; when the last clears the config goes back */
    for (int m = 7; m < 30; m++)
        feed(g, dev, pub, T0 + m * MIN_US, 0.5, &npub);
    CHECK(!ing_alert_any_active(g));
    CHECK(g->pub.fast == 0);
    CHECK_EQ_INT(store_alert_get(st, id, &got), TK_OK);
    CHECK(!got.active && got.end_us == T0 + 7 * MIN_US && got.severity_max == STORE_SEV_WARNING);
    CHECK_EQ_INT(store_alert_json(&got, buf, sizeof buf, &len), TK_OK);
    CHECK(strstr(buf, "\"state\":\"cleared\"") && strstr(buf, "\"end\":\"2026-11-26T00:07:00"));
    struct store_alert_device pd;
    CHECK_EQ_INT(store_alert_device_get(st, dev->id, &pd), TK_OK);
    CHECK(pd.fast == 0 && pd.config_version == g->pub.config_version);

    /* silence through the timer, stored */
    npub = 0;
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(ing_alerts_tick(st, pub, g, T0 + 29 * MIN_US + 1800 * S, &npub), TK_OK);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(npub, 2); /* alert and fast config */
    CHECK(g->al[STORE_ALERT_SILENCE].active && g->al[STORE_ALERT_SILENCE].id > 0);

    /* filters */
    struct store_alert_filter f = {.state = -1, .cond = -1};
    CHECK_EQ_INT(count(&f), 3);
    f.state = 1;
    CHECK_EQ_INT(count(&f), 1);
    f.state = 0;
    CHECK_EQ_INT(count(&f), 2);
    f = (struct store_alert_filter){.state = -1, .cond = STORE_ALERT_RISE};
    CHECK_EQ_INT(count(&f), 1);
    f = (struct store_alert_filter){.state = -1, .cond = -1, .severities = 1u << STORE_SEV_WARNING};
    CHECK_EQ_INT(count(&f), 2); /* level (warning now) and rise */
    f = (struct store_alert_filter){.state = -1, .cond = -1, .device_id = "wl-other"};
    CHECK_EQ_INT(count(&f), 0);
    f = (struct store_alert_filter){.state = -1,
                                    .cond = -1,
                                    .has_bbox = 1,
                                    .min_lon = 139,
                                    .min_lat = 35,
                                    .max_lon = 140,
                                    .max_lat = 36};
    CHECK_EQ_INT(count(&f), 3);
    f.min_lon = 139.8;
    CHECK_EQ_INT(count(&f), 0);
    f = (struct store_alert_filter){.state = -1, .cond = -1, .from_us = T0 + 10 * MIN_US};
    CHECK_EQ_INT(count(&f), 1); /* level and rise ended at 00:07: silence only */
    f = (struct store_alert_filter){.state = -1, .cond = -1, .to_us = T0 + 5 * MIN_US};
    CHECK_EQ_INT(count(&f), 0);
    f = (struct store_alert_filter){.state = -1, .cond = -1, .top = 2, .skip = 2};
    CHECK_EQ_INT(count(&f), 1);

    /* after lost packets the current config goes out again; none for a new gauge */
    npub = 0;
    CHECK_EQ_INT(ing_alerts_config_resend(pub, g, &npub), TK_OK);
    CHECK_EQ_INT(npub, 1);
    struct ing_alert_gauge fresh;
    ing_alert_init(&fresh, &g->cfg, "x", 0, 0);
    CHECK_EQ_INT(ing_alerts_config_resend(pub, &fresh, &npub), TK_OK);
    CHECK_EQ_INT(npub, 1);

    /* the config payload */
    CHECK_EQ_INT(ing_alerts_config_json(&g->cfg, 7, 1, buf, sizeof buf, &len), TK_OK);
    CHECK_EQ_STR(buf, "{\"version\":7,\"interval_s\":60,\"sample_s\":60,\"fast_interval_s\":60,"
                      "\"fast_start_level_m\":1.000,\"fast_start_rise_m_per_10min\":0.300,"
                      "\"fast_hysteresis_m\":0.050}");
    free(g);
    ing_pub_destroy(pub);
}

/* A callback that reads the store while the walk is under way. */
static int reread_cb(const struct store_alert *a, void *ud)
{
    struct store_alert again;
    CHECK_EQ_INT(store_alert_get(st, a->id, &again), TK_OK);
    CHECK(again.id == a->id && strcmp(again.device_id, a->device_id) == 0);
    int *n = ud;
    (*n)++;
    return 0;
}

/* More alerts than one statement reads at a time (pg_alert.c reads 256 a page). */
static void pages(void)
{
    struct store_alert a = {.cond = STORE_ALERT_LEVEL,
                            .active = 0,
                            .severity = STORE_SEV_CAUTION,
                            .severity_max = STORE_SEV_DANGER,
                            .lat = 35.1,
                            .lon = 139.1,
                            .start_us = T0,
                            .end_us = T0 + MIN_US,
                            .updated_us = T0,
                            .rev = 1};
    snprintf(a.device_id, sizeof a.device_id, "wl-many");
    snprintf(a.name, sizeof a.name, "many");
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int i = 0; i < 600; i++)
        CHECK_EQ_INT(store_alert_add(st, &a), TK_OK);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    struct store_alert_filter f = {.state = 0, .cond = -1, .device_id = "wl-many"};
    CHECK_EQ_INT(count(&f), 600);
    int n = 0;
    int64_t total = 0;
    CHECK_EQ_INT(store_alert_list(st, &f, reread_cb, &n, &total), TK_OK);
    CHECK_EQ_INT(n, 600);
    /* a page of it: how many came, and the count of all */
    static const struct {
        int64_t skip, top, want;
    } pg[] = {{10, 300, 300}, {590, 0, 10}, {700, 0, 0} /* past the end */, {0, 256, 256}};
    for (size_t i = 0; i < sizeof pg / sizeof pg[0]; i++) {
        f.skip = pg[i].skip;
        f.top = pg[i].top;
        n = 0;
        total = -1;
        CHECK_EQ_INT(store_alert_list(st, &f, count_cb, &n, &total), TK_OK);
        CHECK_EQ_INT(n, pg[i].want);
        CHECK_EQ_INT(total, 600);
    }
    /* an alert added in a transaction that is rolled back is not kept */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_alert_add(st, &a), TK_OK);
    store_rollback(st);
    f = (struct store_alert_filter){.state = -1, .cond = -1, .device_id = "wl-many"};
    CHECK_EQ_INT(count(&f), 600);
    CHECK_EQ_INT(store_alert_get(st, a.id, &a), TK_ENOTFOUND);
    a.id = INT64_C(1) << 50;
    CHECK_EQ_INT(store_alert_update(st, &a), TK_ENOTFOUND);
}

static void status(void)
{
    struct store_device_status s = {.online = 1,
                                    .has_battery = 1,
                                    .battery_v = 3.6,
                                    .received_us = T0},
                               got;
    strcpy(s.device_id, "wl-kita-001");
    strcpy(s.fw, "1.2.0");
    CHECK_EQ_INT(store_device_status_get(st, "wl-kita-001", &got), TK_ENOTFOUND);
    CHECK_EQ_INT(store_device_status_put(st, &s), TK_OK);
    CHECK_EQ_INT(store_device_status_get(st, "wl-kita-001", &got), TK_OK);
    CHECK(got.online && got.has_battery && got.battery_v == 3.6 && !got.has_rssi);
    CHECK_EQ_STR(got.fw, "1.2.0");
    s.online = 0;
    s.received_us = T0 + 1;
    CHECK_EQ_INT(store_device_status_put(st, &s), TK_OK);
    CHECK_EQ_INT(store_device_status_get(st, "wl-kita-001", &got), TK_OK);
    CHECK(!got.online && got.received_us == T0 + 1);
    strcpy(s.device_id, "BAD/ID");
    CHECK_EQ_INT(store_device_status_put(st, &s), TK_EINVAL);
}

int main(int argc, char **argv)
{
    struct tmpdb db = {{0}, {0}};
    char uri[1024];
    test_store_uri(argc, argv, &db, uri, sizeof uri);
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    if (!st)
        return tk_check_result("ingest_alert_io");
    struct store_device dev = test_device("wl-kita-001", TK_KIND_WATER_LEVEL, 35.66, 139.70);
    dev.mount_height_m = 2.5;
    snprintf(dev.name, sizeof dev.name, "Kita inlet");
    CHECK_EQ_INT(store_device_add(st, &dev, &dev), TK_OK);
    settings(&dev);
    engine(uri, &dev);
    pages();
    status();
    store_close(st);
    if (db.dir[0])
        tmpdb_remove(&db);
    return tk_check_result("ingest_alert_io");
}
