/* Registry: devices become SensorThings entities; add, get, list, remove (cascade). With
 * the argument "pg", against the PostgreSQL store in TK_TEST_PG_URI (ctest
 * store_registry_pg, under tests/pg/pgserver.py). */
#include "store_test_util.h"

static char text_buf[512];
static const char *text_sql(const char *uri, const char *sql)
{
    test_sql_text(uri, sql, text_buf, sizeof text_buf);
    return text_buf;
}

struct list_ctx {
    char ids[8][TK_ID_MAX + 1];
    int n;
    int stop_at;
};

static int list_cb(const struct store_device *d, void *ud)
{
    struct list_ctx *c = ud;
    if (c->n < 8)
        snprintf(c->ids[c->n], sizeof c->ids[0], "%s", d->id);
    c->n++;
    return c->n == c->stop_at ? 42 : 0;
}

int main(int argc, char **argv)
{
    struct tmpdb t = {{0}, {0}};
    char uri[1024];
    int pg = test_store_uri(argc, argv, &t, uri, sizeof uri);
    struct store *st = NULL;
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    if (!st)
        return tk_check_result("store_registry");
    CHECK_EQ_INT(store_schema_version(st), pg ? 4 : 10);

    /* add: every entity, the ids returned */
    struct store_device d = test_device("wl-naka-0001", TK_KIND_WATER_LEVEL, 35.17, 136.88);
    d.mount_height_m = 2.5;
    snprintf(d.transport, sizeof d.transport, "coap");
    struct store_device out;
    CHECK_EQ_INT(store_device_add(st, &d, &out), TK_OK);
    CHECK(out.thing_id > 0);
    CHECK(out.location_id > 0);
    CHECK_EQ_STR(out.name, "wl-naka-0001");
    CHECK(out.created_us > 0);
    enum tk_quantity qs[TK_Q_MAX];
    int nq = tk_kind_quantities(TK_KIND_WATER_LEVEL, qs);
    CHECK(nq >= 1);
    for (int i = 0; i < nq; i++)
        CHECK(out.ds[qs[i]] > 0);
    CHECK_EQ_INT(out.ds[TK_Q_PEOPLE_IN], 0);

    /* get returns what was added */
    struct store_device g;
    CHECK_EQ_INT(store_device_get(st, "wl-naka-0001", &g), TK_OK);
    CHECK_EQ_STR(g.id, "wl-naka-0001");
    CHECK_EQ_STR(g.name, "wl-naka-0001");
    CHECK_EQ_INT(g.kind, TK_KIND_WATER_LEVEL);
    CHECK(g.lat == 35.17 && g.lon == 136.88);
    CHECK(g.mount_height_m == 2.5);
    CHECK(g.density_kg_m3 == 0);
    CHECK_EQ_STR(g.transport, "coap");
    CHECK_EQ_INT(g.thing_id, out.thing_id);
    CHECK_EQ_INT(g.location_id, out.location_id);
    CHECK_EQ_INT(g.created_us, out.created_us);
    CHECK(memcmp(g.ds, out.ds, sizeof g.ds) == 0);
    CHECK_EQ_INT(store_device_get(st, "nobody", &g), TK_ENOTFOUND);

    /* duplicate and invalid input */
    CHECK_EQ_INT(store_device_add(st, &d, NULL), TK_EDUP);
    struct store_device bad = test_device("Bad/Id", TK_KIND_WATER_LEVEL, 35, 136);
    CHECK_EQ_INT(store_device_add(st, &bad, NULL), TK_EINVAL);
    bad = test_device("ok-id", TK_KIND_WATER_LEVEL, 91, 136);
    CHECK_EQ_INT(store_device_add(st, &bad, NULL), TK_EINVAL);
    bad = test_device("ok-id", TK_KIND_WATER_LEVEL, 35, 1.0 / 0.0);
    CHECK_EQ_INT(store_device_add(st, &bad, NULL), TK_EINVAL);
    bad = test_device("ok-id", (enum tk_kind)7, 35, 136);
    CHECK_EQ_INT(store_device_add(st, &bad, NULL), TK_EINVAL);
    bad = test_device("ok-id", TK_KIND_WATER_LEVEL, 35, 136);
    snprintf(bad.transport, sizeof bad.transport, "http");
    CHECK_EQ_INT(store_device_add(st, &bad, NULL), TK_EINVAL);
    CHECK_EQ_INT(store_device_get(st, "ok-id", &g), TK_ENOTFOUND);

    /* SensorThings shape */
    CHECK_EQ_STR(text_sql(uri, "SELECT name FROM datastreams WHERE quantity = 0"),
                 "wl-naka-0001 water_level");
    CHECK_EQ_STR(text_sql(uri, "SELECT location FROM locations"),
                 "{\"type\":\"Point\",\"coordinates\":[136.88,35.17]}");
    CHECK_EQ_STR(text_sql(uri, "SELECT encoding_type FROM locations"), "application/geo+json");
    CHECK_EQ_STR(text_sql(uri, pg ? "SELECT properties::jsonb ->> 'kind' FROM things"
                                   : "SELECT json_extract(properties, '$.kind') FROM things"),
                 "water_level");
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM historical_locations"), 1);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM features_of_interest"), 1);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM sensors"), 1);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM observed_properties"), nq);

    /* a second device of the same kind shares the ObservedProperties */
    struct store_device d2 = test_device("wl-naka-0002", TK_KIND_WATER_LEVEL, 35.2, 136.9);
    snprintf(d2.name, sizeof d2.name, "Naka gauge 2");
    CHECK_EQ_INT(store_device_add(st, &d2, &d2), TK_OK);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM observed_properties"), nq);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM datastreams"), 2 * nq);
    struct store_device d3 = test_device("pf-sakae-01", TK_KIND_PEOPLE_FLOW, 35.17, 136.9);
    CHECK_EQ_INT(store_device_add(st, &d3, &d3), TK_OK);
    CHECK(d3.ds[TK_Q_PEOPLE_IN] > 0 && d3.ds[TK_Q_PEOPLE_OUT] > 0);
    CHECK_EQ_INT(d3.ds[TK_Q_WATER_LEVEL], 0);
    CHECK_EQ_INT(store_device_get(st, "wl-naka-0002", &g), TK_OK);
    CHECK_EQ_STR(g.name, "Naka gauge 2");
    CHECK_EQ_STR(g.transport, "mqtt");

    /* list: ordered by id; a non-zero callback return stops and is returned */
    struct list_ctx lc = {.stop_at = 0};
    CHECK_EQ_INT(store_device_list(st, list_cb, &lc), TK_OK);
    CHECK_EQ_INT(lc.n, 3);
    CHECK_EQ_STR(lc.ids[0], "pf-sakae-01");
    CHECK_EQ_STR(lc.ids[1], "wl-naka-0001");
    CHECK_EQ_STR(lc.ids[2], "wl-naka-0002");
    struct list_ctx stop = {.stop_at = 2};
    CHECK_EQ_INT(store_device_list(st, list_cb, &stop), 42);
    CHECK_EQ_INT(stop.n, 2);

    /* device_add inside a caller's transaction is rolled back with it */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    struct store_device d4 = test_device("tmp-dev", TK_KIND_WIFI_AP, 35, 136);
    CHECK_EQ_INT(store_device_add(st, &d4, NULL), TK_OK);
    CHECK_EQ_INT(store_device_add(st, &d4, NULL), TK_EDUP); /* the transaction survives */
    store_rollback(st);
    CHECK_EQ_INT(store_device_get(st, "tmp-dev", &g), TK_ENOTFOUND);

    /* remove cascades to everything of that device, staged and moved observations too */
    int64_t ds1 = out.ds[TK_Q_WATER_LEVEL];
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int i = 0; i < 10; i++) {
        struct store_obs o = {.ds_id = ds1, .t_us = T0 + i * MIN_US, .result = i};
        CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
        struct store_obs o2 = {
            .ds_id = d2.ds[TK_Q_WATER_LEVEL], .t_us = T0 + i * MIN_US, .result = i};
        CHECK_EQ_INT(store_obs_add(st, &o2), TK_OK);
    }
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_flush(st), TK_OK);
    struct store_obs late = {.ds_id = ds1, .t_us = T0 + 20 * MIN_US, .result = 1};
    CHECK_EQ_INT(store_obs_add(st, &late), TK_OK); /* staged */
    CHECK_EQ_INT(store_device_remove(st, "wl-naka-0001"), TK_OK);
    CHECK_EQ_INT(store_device_get(st, "wl-naka-0001", &g), TK_ENOTFOUND);
    CHECK_EQ_INT(store_device_remove(st, "wl-naka-0001"), TK_ENOTFOUND);
    struct store_point pts[32];
    size_t n = 99;
    CHECK_EQ_INT(store_range(st, ds1, 0, INT64_MAX, 0, pts, 32, &n), TK_OK);
    CHECK_EQ_INT(n, 0);
    int found = 1;
    CHECK_EQ_INT(store_latest(st, &ds1, 1, pts, &found), TK_OK);
    CHECK_EQ_INT(found, 0);
    struct store_obs again = {.ds_id = ds1, .t_us = T0, .result = 1};
    CHECK_EQ_INT(store_obs_add(st, &again), TK_ENOTFOUND);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM things"), 2);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM datastreams"), nq + 2);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM sensors"), 2);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM locations"), 2);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM features_of_interest"), 2);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM historical_locations"), 2);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM thing_locations"), 2);
    CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM observations"), 10);
    if (pg) {
        CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM rollup_minute"), 10);
        CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM rollup_hour"), 1);
        CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM rollup_day"), 1);
        CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM latest"), nq + 2);
    } else {
        CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM obs_staging"), 0);
        /* 10 minutes of one hour */
        CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM rollup_minute_slots"), 1);
        CHECK_EQ_INT(test_sql_int(uri, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    }
    /* the other device is intact */
    CHECK_EQ_INT(store_range(st, d2.ds[TK_Q_WATER_LEVEL], 0, INT64_MAX, 0, pts, 32, &n), TK_OK);
    CHECK_EQ_INT(n, 10);

    /* URIs: a plain path is an SQLite file; another connection sees the registry */
    struct store *st2 = NULL;
    CHECK_EQ_INT(store_open(pg ? uri : t.path, NULL, &st2), TK_OK);
    CHECK_EQ_INT(store_device_get(st2, "wl-naka-0002", &g), TK_OK);
    store_close(st2);
    CHECK_EQ_INT(store_open("mysql://db/takumi", NULL, &st2), TK_EINVAL);
    CHECK(st2 == NULL);
    CHECK_EQ_INT(store_open("", NULL, &st2), TK_EINVAL);
    store_close(NULL);

    store_close(st);
    if (!pg)
        tmpdb_remove(&t);
    return tk_check_result("store_registry");
}
