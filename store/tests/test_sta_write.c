/* SensorThings writes on a real database: creates with links and side effects
 * (HistoricalLocation, auto FeatureOfInterest), updates, deletes with their cascades, and
 * the derived structures (rollups at every interval, latest values, the staged count)
 * equal to what the remaining raw observations give after each change, with ingest-style
 * staged rows of the same streams around. Against SQLite on a temporary file, or with the
 * argument "pg" against the PostgreSQL server in TK_TEST_PG_URI (tests/pg/pgserver.py). */
#include <math.h>

#include "store_sta.h"
#include "store_test_util.h"

static struct store *st;

static void text(struct store_sta_input *in, int p, const char *s)
{
    in->set |= 1u << p;
    in->v[p] = (struct store_sta_value){.type = STORE_STA_TEXT, .s = s, .len = strlen(s)};
}

static void json(struct store_sta_input *in, int p, const char *s)
{
    in->set |= 1u << p;
    in->v[p] = (struct store_sta_value){.type = STORE_STA_JSON, .s = s, .len = strlen(s)};
}

static void add_link(struct store_sta_input *in, enum store_sta_entity to, int64_t id)
{
    in->links[in->nlinks++] = (struct store_sta_link){to, id};
}

static int64_t count(enum store_sta_entity e, int has_parent, enum store_sta_entity parent,
                     int64_t pid)
{
    struct store_sta_query q = {
        .entity = e, .has_parent = has_parent, .parent = parent, .parent_id = pid, .top = -1};
    int64_t n = -1;
    CHECK_EQ_INT(store_sta_count(st, &q, &n), TK_OK);
    return n;
}

static int64_t one_id;
static enum tk_rc take(void *ud, const struct store_sta_value *row, size_t n)
{
    (void)ud;
    (void)n;
    one_id = row[0].i;
    return TK_OK;
}

/* The id of the entity e related to (parent, pid) by a to-one navigation; 0 if none. */
static int64_t related(enum store_sta_entity parent, int64_t pid, enum store_sta_entity e)
{
    struct store_sta_query q = {
        .entity = e, .has_parent = 1, .parent = parent, .parent_id = pid, .top = -1};
    one_id = 0;
    CHECK_EQ_INT(store_sta_list(st, &q, take, NULL), TK_OK);
    return one_id;
}

static int64_t thing_create(const char *name, int64_t loc)
{
    struct store_sta_input in = {.entity = STORE_STA_THING};
    text(&in, 1, name);
    text(&in, 2, "a thing");
    json(&in, 3, "{\"owner\":\"city\"}");
    if (loc)
        add_link(&in, STORE_STA_LOCATION, loc);
    int64_t id = 0;
    CHECK_EQ_INT(store_sta_create(st, &in, &id), TK_OK);
    return id;
}

static int64_t location_create(double lon, double lat)
{
    char geo[128];
    snprintf(geo, sizeof geo, "{\"type\":\"Point\",\"coordinates\":[%g,%g]}", lon, lat);
    struct store_sta_input in = {.entity = STORE_STA_LOCATION};
    text(&in, 1, "site");
    text(&in, 2, "a site");
    text(&in, 3, "application/geo+json");
    json(&in, 4, geo);
    int64_t id = 0;
    CHECK_EQ_INT(store_sta_create(st, &in, &id), TK_OK);
    return id;
}

static int64_t ds_create(int64_t thing)
{
    struct store_sta_input s = {.entity = STORE_STA_SENSOR}, op = {.entity = STORE_STA_OPROPERTY},
                           d = {.entity = STORE_STA_DATASTREAM};
    text(&s, 1, "gauge");
    text(&s, 2, "ultrasonic");
    text(&s, 3, "application/pdf");
    json(&s, 4, "\"https://example.org/gauge.pdf\"");
    text(&op, 1, "level");
    text(&op, 2, "https://example.org/level");
    text(&op, 3, "water level");
    int64_t sid = 0, opid = 0, id = 0;
    CHECK_EQ_INT(store_sta_create(st, &s, &sid), TK_OK);
    CHECK_EQ_INT(store_sta_create(st, &op, &opid), TK_OK);
    text(&d, 1, "level");
    text(&d, 2, "level in the pipe");
    json(&d, 3,
         "{\"name\":\"metre\",\"symbol\":\"m\",\"definition\":\"http://qudt.org/vocab/unit/M\"}");
    text(&d, 4, "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement");
    add_link(&d, STORE_STA_THING, thing);
    add_link(&d, STORE_STA_SENSOR, sid);
    add_link(&d, STORE_STA_OPROPERTY, opid);
    CHECK_EQ_INT(store_sta_create(st, &d, &id), TK_OK);
    return id;
}

static enum tk_rc obs_create(int64_t ds, int64_t t, double result, int64_t foi, int64_t *id)
{
    struct store_sta_input in = {.entity = STORE_STA_OBSERVATION};
    in.set = 1u << 1 | 1u << 3;
    in.v[1] = (struct store_sta_value){.type = STORE_STA_TIME, .i = t};
    in.v[3] = (struct store_sta_value){.type = STORE_STA_REAL, .d = result};
    add_link(&in, STORE_STA_DATASTREAM, ds);
    if (foi)
        add_link(&in, STORE_STA_FOI, foi);
    return store_sta_create(st, &in, id);
}

/* Every interval's aggregates over a wide range equal those of the raw rows. */
static void check_rollups(int64_t ds)
{
    static struct store_point pts[4096];
    size_t n = 0;
    CHECK_EQ_INT(store_range(st, ds, T0 - 10 * DAY_US, T0 + 10 * DAY_US, 0, pts, 4096, &n), TK_OK);
    static const int64_t ivs[3] = {MIN_US, HOUR_US, DAY_US};
    for (int k = 0; k < 3; k++) {
        static struct store_agg agg[4096];
        size_t na = 0;
        CHECK_EQ_INT(store_aggregate(st, ds, (enum store_interval)k, T0 - 10 * DAY_US,
                                     T0 + 10 * DAY_US, agg, 4096, &na),
                     TK_OK);
        size_t i = 0, a = 0;
        while (i < n) {
            int64_t b = pts[i].t_us - (((pts[i].t_us % ivs[k]) + ivs[k]) % ivs[k]);
            int64_t c = 0;
            double sum = 0, lo = INFINITY, hi = -INFINITY;
            for (; i < n && pts[i].t_us < b + ivs[k]; i++) {
                c++;
                sum += pts[i].result;
                lo = fmin(lo, pts[i].result);
                hi = fmax(hi, pts[i].result);
            }
            CHECK(a < na);
            if (a >= na)
                return;
            CHECK_EQ_INT(agg[a].bucket_us, b);
            CHECK_EQ_INT(agg[a].count, c);
            CHECK(fabs(agg[a].sum - sum) < 1e-6);
            CHECK(agg[a].min == lo);
            CHECK(agg[a].max == hi);
            a++;
        }
        CHECK_EQ_INT(na, a);
    }
}

static void check_latest(int64_t ds, int64_t want_id)
{
    struct store_point p;
    int found = 0;
    CHECK_EQ_INT(store_latest(st, &ds, 1, &p, &found), TK_OK);
    CHECK_EQ_INT(found, want_id != 0);
    if (found)
        CHECK_EQ_INT(p.id, want_id);
}

/* Rows of e the viewer sees whose navigation path (nav, prop) equals text: the $filter
 * "Thing/name eq 'x'" as the API hands it over. */
static int64_t count_where(enum store_sta_entity e, enum store_sta_entity nav, int prop,
                          const char *text_)
{
    struct store_sta_fnode nd[3];
    memset(nd, 0, sizeof nd);
    nd[0].op = STORE_F_PATH;
    nd[0].path.nnav = nav == e ? 0 : 1;
    nd[0].path.nav[0] = nav;
    nd[0].path.prop = prop;
    nd[1].op = STORE_F_LIT;
    nd[1].v = (struct store_sta_value){.type = STORE_STA_TEXT, .s = text_, .len = strlen(text_)};
    nd[2].op = STORE_F_EQ;
    nd[2].nargs = 2;
    nd[2].arg[0] = 0;
    nd[2].arg[1] = 1;
    struct store_sta_filter f = {nd, 3, 2};
    struct store_sta_query q = {.entity = e, .top = -1, .filter = &f};
    int64_t n = -1;
    CHECK_EQ_INT(store_sta_count(st, &q, &n), TK_OK);
    return n;
}

static int64_t count_id(enum store_sta_entity e, int64_t id)
{
    struct store_sta_query q = {.entity = e, .has_id = 1, .id = id, .top = -1};
    int64_t n = -1;
    CHECK_EQ_INT(store_sta_count(st, &q, &n), TK_OK);
    return n;
}

/* Firm-private data: the rule is in the SQL of every query, for every viewer. */
static void test_private(void)
{
    int64_t city_loc = location_create(132.40, 34.30);
    int64_t city = thing_create("city gauge", city_loc);
    int64_t city_ds = ds_create(city);
    store_sta_viewer_set(st, 0, "Firm A");
    int64_t loc = location_create(132.41, 34.31);
    struct store_sta_input in = {.entity = STORE_STA_THING};
    text(&in, 1, "secret");
    text(&in, 2, "a private thing");
    json(&in, 3, "{\"access\":\"private\"}");
    add_link(&in, STORE_STA_LOCATION, loc);
    int64_t thing = 0;
    CHECK_EQ_INT(store_sta_create(st, &in, &thing), TK_OK);
    int64_t ds = ds_create(thing);
    int64_t ob = 0;
    CHECK_EQ_INT(obs_create(ds, T0 + 7 * MIN_US, 4.5, 0, &ob), TK_OK);
    int64_t sensor = related(STORE_STA_DATASTREAM, ds, STORE_STA_SENSOR);
    int64_t foi = related(STORE_STA_OBSERVATION, ob, STORE_STA_FOI);
    CHECK(sensor > 0 && foi > 0);

    static const struct {
        int all;
        const char *owner;
        int sees;
    } viewers[] = {{0, NULL, 0}, {0, "Firm B", 0}, {0, "Firm A", 1}, {1, "City ops", 1}};
    for (size_t v = 0; v < sizeof viewers / sizeof viewers[0]; v++) {
        store_sta_viewer_set(st, viewers[v].all, viewers[v].owner);
        int s = viewers[v].sees;
        CHECK_EQ_INT(count_id(STORE_STA_THING, thing), s);
        CHECK_EQ_INT(count_id(STORE_STA_DATASTREAM, ds), s);
        CHECK_EQ_INT(count_id(STORE_STA_OBSERVATION, ob), s);
        CHECK_EQ_INT(count_id(STORE_STA_LOCATION, loc), s);
        CHECK_EQ_INT(count_id(STORE_STA_SENSOR, sensor), s);
        CHECK_EQ_INT(count_id(STORE_STA_FOI, foi), s);
        CHECK_EQ_INT(count(STORE_STA_HLOCATION, 1, STORE_STA_THING, thing), s);
        CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 1, STORE_STA_DATASTREAM, ds), s);
        CHECK_EQ_INT(count(STORE_STA_DATASTREAM, 1, STORE_STA_THING, thing), s);
        CHECK_EQ_INT(count(STORE_STA_THING, 1, STORE_STA_DATASTREAM, ds), s);
        /* $filter through a navigation path cannot probe it */
        CHECK_EQ_INT(count_where(STORE_STA_DATASTREAM, STORE_STA_THING, 1, "secret"), s);
        CHECK_EQ_INT(count_where(STORE_STA_THING, STORE_STA_THING, 1, "secret"), s);
        CHECK_EQ_INT(count_where(STORE_STA_LOCATION, STORE_STA_THING, 1, "secret"), s);
        /* the city's entities are everyone's */
        CHECK_EQ_INT(count_id(STORE_STA_THING, city), 1);
        CHECK_EQ_INT(count_id(STORE_STA_DATASTREAM, city_ds), 1);
        CHECK_EQ_INT(count_id(STORE_STA_LOCATION, city_loc), 1);
        /* many Datastreams at once (repeated, and one that does not exist): the same rule */
        int64_t dsids[4] = {ds, city_ds, ds, city_ds + 1000000};
        int vis[4] = {-1, -1, -1, -1}, qty[4] = {9, 9, 9, 9};
        CHECK_EQ_INT(store_sta_datastreams(st, dsids, 4, vis, qty), TK_OK);
        CHECK(vis[0] == s && vis[1] == 1 && vis[2] == s && vis[3] == 0);
        CHECK(qty[0] == -1 && qty[1] == -1 && qty[2] == -1 && qty[3] == -1); /* none: API-made */
        /* writes: another owner's private data does not exist; the city's is admin's */
        int may = -1;
        enum tk_rc rc = store_sta_may_change(st, STORE_STA_THING, thing, &may);
        CHECK_EQ_INT(rc, s ? TK_OK : TK_ENOTFOUND);
        CHECK_EQ_INT(may, s);
        CHECK_EQ_INT(store_sta_may_change(st, STORE_STA_OBSERVATION, ob, &may),
                     s ? TK_OK : TK_ENOTFOUND);
        CHECK_EQ_INT(may, s);
        CHECK_EQ_INT(store_sta_may_change(st, STORE_STA_THING, city, &may), TK_OK);
        CHECK_EQ_INT(may, viewers[v].all);
        if (!s) {
            CHECK_EQ_INT(store_sta_delete(st, STORE_STA_THING, thing), TK_ENOTFOUND);
            CHECK_EQ_INT(obs_create(ds, T0 + 8 * MIN_US, 1.0, 0, NULL), TK_ENOTFOUND);
        }
        if (!viewers[v].all) {
            CHECK_EQ_INT(store_sta_delete(st, STORE_STA_THING, city), TK_EINVAL);
            /* moving the city's Datastream under another Thing is a change of it; adding a
             * Thing to the city's Location is not */
            struct store_sta_input mv = {.entity = STORE_STA_DATASTREAM};
            add_link(&mv, STORE_STA_THING, city);
            CHECK_EQ_INT(store_sta_update(st, city_ds, &mv), TK_EINVAL);
            struct store_sta_input at = {.entity = STORE_STA_LOCATION};
            add_link(&at, STORE_STA_THING, city); /* the city's Thing would move */
            CHECK_EQ_INT(store_sta_update(st, city_loc, &at), TK_EINVAL);
            CHECK_EQ_INT(obs_create(city_ds, T0 + 9 * MIN_US, 1.0, 0, NULL), TK_EINVAL);
            struct store_sta_input mvt = {.entity = STORE_STA_THING};
            add_link(&mvt, STORE_STA_LOCATION, loc);
            CHECK_EQ_INT(store_sta_update(st, city, &mvt), TK_EINVAL);
        }
    }
    /* the owner may put its Thing at the city's Location: the Location does not change */
    store_sta_viewer_set(st, 0, "Firm A");
    struct store_sta_input at = {.entity = STORE_STA_LOCATION};
    add_link(&at, STORE_STA_THING, thing);
    CHECK_EQ_INT(store_sta_update(st, city_loc, &at), TK_OK);
    /* made public by its owner: everyone sees it; deleted: its owner row goes with it */
    struct store_sta_input pub = {.entity = STORE_STA_THING};
    json(&pub, 3, "{\"access\":\"public\"}");
    CHECK_EQ_INT(store_sta_update(st, thing, &pub), TK_OK);
    store_sta_viewer_set(st, 0, NULL);
    CHECK_EQ_INT(count_id(STORE_STA_THING, thing), 1);
    store_sta_viewer_set(st, 0, "Firm A");
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_THING, thing), TK_OK);
    store_sta_viewer_set(st, 1, NULL);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_THING, city), TK_OK);
}

int main(int argc, char **argv)
{
    struct tmpdb db = {{0}, {0}};
    char uri[1024];
    test_store_uri(argc, argv, &db, uri, sizeof uri);
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    if (!st)
        return tk_check_result("store_sta_write");
    CHECK_EQ_INT(store_sta_init(st), TK_OK);

    /* a Thing with a Location: one HistoricalLocation */
    int64_t loc = location_create(132.45, 34.39);
    int64_t thing = thing_create("pump station", loc);
    CHECK_EQ_INT(count(STORE_STA_HLOCATION, 1, STORE_STA_THING, thing), 1);
    CHECK_EQ_INT(count(STORE_STA_LOCATION, 1, STORE_STA_THING, thing), 1);
    /* the same Locations again: no new HistoricalLocation; a new one: one more */
    struct store_sta_input up = {.entity = STORE_STA_THING, .replace_links = 1};
    add_link(&up, STORE_STA_LOCATION, loc);
    CHECK_EQ_INT(store_sta_update(st, thing, &up), TK_OK);
    CHECK_EQ_INT(count(STORE_STA_HLOCATION, 1, STORE_STA_THING, thing), 1);
    int64_t loc2 = location_create(132.46, 34.40);
    up.links[0].id = loc2;
    CHECK_EQ_INT(store_sta_update(st, thing, &up), TK_OK);
    CHECK_EQ_INT(count(STORE_STA_HLOCATION, 1, STORE_STA_THING, thing), 2);
    CHECK_EQ_INT(count(STORE_STA_LOCATION, 1, STORE_STA_THING, thing), 1);
    CHECK_EQ_INT(related(STORE_STA_THING, thing, STORE_STA_LOCATION), loc2);

    /* refusals: missing mandatory property, missing link, link to nothing */
    struct store_sta_input bad = {.entity = STORE_STA_THING};
    text(&bad, 1, "no description");
    CHECK_EQ_INT(store_sta_create(st, &bad, NULL), TK_EINVAL);
    CHECK(strstr(store_errmsg(st), "description") != NULL);
    bad = (struct store_sta_input){.entity = STORE_STA_THING};
    text(&bad, 1, "x");
    text(&bad, 2, "y");
    add_link(&bad, STORE_STA_LOCATION, 999);
    CHECK_EQ_INT(store_sta_create(st, &bad, NULL), TK_ENOTFOUND);
    CHECK(strstr(store_errmsg(st), "Location(999)") != NULL);
    CHECK_EQ_INT(count(STORE_STA_THING, 0, 0, 0), 1);

    /* Observations without a FeatureOfInterest get one made from the Thing's Location */
    int64_t ds = ds_create(thing);
    int64_t ids[8];
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(obs_create(ds, T0 + i * 20 * MIN_US, 1.0 + i, 0, &ids[i]), TK_OK);
    int64_t foi = related(STORE_STA_OBSERVATION, ids[0], STORE_STA_FOI);
    CHECK(foi > 0);
    CHECK_EQ_INT(count(STORE_STA_FOI, 0, 0, 0), 1);
    CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 1, STORE_STA_FOI, foi), 8);
    check_rollups(ds);
    check_latest(ds, ids[7]);
    /* a duplicate phenomenonTime is refused */
    CHECK_EQ_INT(obs_create(ds, T0, 5, 0, NULL), TK_EDUP);

    /* an explicit FeatureOfInterest elsewhere is kept and found from it */
    struct store_sta_input f = {.entity = STORE_STA_FOI};
    text(&f, 1, "river");
    text(&f, 2, "the river");
    text(&f, 3, "application/geo+json");
    json(&f, 4, "{\"type\":\"Point\",\"coordinates\":[1,2]}");
    int64_t foi2 = 0, o9 = 0;
    CHECK_EQ_INT(store_sta_create(st, &f, &foi2), TK_OK);
    CHECK_EQ_INT(obs_create(ds, T0 + 3 * DAY_US, 0.5, foi2, &o9), TK_OK);
    CHECK_EQ_INT(related(STORE_STA_OBSERVATION, o9, STORE_STA_FOI), foi2);
    CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 1, STORE_STA_FOI, foi2), 1);
    check_latest(ds, o9);

    /* update: result and time of the extreme row; rollups follow */
    struct store_sta_input uo = {.entity = STORE_STA_OBSERVATION};
    uo.set = 1u << 1 | 1u << 3;
    uo.v[1] = (struct store_sta_value){.type = STORE_STA_TIME, .i = T0 + 5 * MIN_US};
    uo.v[3] = (struct store_sta_value){.type = STORE_STA_REAL, .d = -3};
    CHECK_EQ_INT(store_sta_update(st, ids[7], &uo), TK_OK);
    check_rollups(ds);
    CHECK_EQ_INT(related(STORE_STA_OBSERVATION, ids[7], STORE_STA_DATASTREAM), ds);
    /* deleting the latest: the one before becomes the latest */
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_OBSERVATION, o9), TK_OK);
    check_latest(ds, ids[6]);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_OBSERVATION, ids[3]), TK_OK);
    check_rollups(ds);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_OBSERVATION, ids[3]), TK_ENOTFOUND);

    /* a device's stream with staged rows (the ingest's path) beside API writes */
    struct store_device dev = test_device("wl-001", TK_KIND_WATER_LEVEL, 34.4, 132.4), got;
    CHECK_EQ_INT(store_device_add(st, &dev, &got), TK_OK);
    int64_t dds = 0;
    for (int q = 0; q < TK_Q_MAX; q++)
        if (got.ds[q] && !dds)
            dds = got.ds[q];
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int i = 0; i < 100; i++) {
        struct store_obs o = {.ds_id = dds, .t_us = T0 + i * MIN_US, .result = i};
        CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
    }
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_flush(st), TK_OK); /* moved: in the rollups */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    int64_t last_staged = 0;
    for (int i = 100; i < 150; i++) {
        struct store_obs o = {.ds_id = dds, .t_us = T0 + i * MIN_US, .result = i};
        CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
        last_staged = o.id;
    }
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(obs_create(dds, T0 + 120 * MIN_US, 7, 0, NULL), TK_EDUP); /* staged there */
    int64_t mid = 0;
    CHECK_EQ_INT(obs_create(dds, T0 + 30 * MIN_US + 1, 1000, 0, &mid), TK_OK);
    check_rollups(dds);
    check_latest(dds, last_staged);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_OBSERVATION, last_staged), TK_OK);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_OBSERVATION, mid), TK_OK);
    struct store_point p49;
    size_t n49 = 0;
    CHECK_EQ_INT(store_range(st, dds, T0 + 49 * MIN_US, T0 + 50 * MIN_US, 0, &p49, 1, &n49), TK_OK);
    CHECK_EQ_INT(n49, 1);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_OBSERVATION, p49.id), TK_OK); /* a moved row */
    check_rollups(dds);
    check_latest(dds, last_staged - 1);
    CHECK_EQ_INT(store_flush(st), TK_OK); /* the move still works after API writes */
    check_rollups(dds);
    CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 1, STORE_STA_DATASTREAM, dds), 148);

    /* a device (its rows written by the ingest's path only) moves: its Observations stay
     * with the FeatureOfInterest they had, also once the old Location is deleted */
    struct store_device dev2 = test_device("wl-002", TK_KIND_WATER_LEVEL, 34.5, 132.5), got2;
    CHECK_EQ_INT(store_device_add(st, &dev2, &got2), TK_OK);
    int64_t ds2 = 0;
    for (int q = 0; q < TK_Q_MAX; q++)
        if (got2.ds[q] && !ds2)
            ds2 = got2.ds[q];
    CHECK_EQ_INT(store_begin(st), TK_OK);
    int64_t o2 = 0;
    for (int i = 0; i < 20; i++) {
        struct store_obs o = {.ds_id = ds2, .t_us = T0 + i * MIN_US, .result = i};
        CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
        o2 = o.id;
    }
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_flush(st), TK_OK);
    int64_t foi2dev = related(STORE_STA_OBSERVATION, o2, STORE_STA_FOI);
    CHECK(foi2dev > 0);
    CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 1, STORE_STA_FOI, foi2dev), 20);
    int64_t newloc = location_create(132.6, 34.6);
    struct store_sta_input mv = {.entity = STORE_STA_THING, .replace_links = 1};
    add_link(&mv, STORE_STA_LOCATION, newloc);
    CHECK_EQ_INT(store_sta_update(st, got2.thing_id, &mv), TK_OK);
    CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 1, STORE_STA_FOI, foi2dev), 20);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_LOCATION, got2.location_id), TK_OK);
    CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 1, STORE_STA_FOI, foi2dev), 20);
    CHECK_EQ_INT(related(STORE_STA_OBSERVATION, o2, STORE_STA_FOI), foi2dev);
    CHECK_EQ_INT(count(STORE_STA_HLOCATION, 1, STORE_STA_THING, got2.thing_id), 1);

    /* atomic: a deep insert whose second part fails leaves nothing */
    int64_t before = count(STORE_STA_THING, 0, 0, 0);
    CHECK_EQ_INT(store_begin(st), TK_OK);
    int64_t t2 = thing_create("temporary", 0);
    CHECK(t2 > 0);
    struct store_sta_input d = {.entity = STORE_STA_DATASTREAM};
    text(&d, 1, "x");
    text(&d, 2, "x");
    json(&d, 3, "{\"name\":\"m\",\"symbol\":\"m\",\"definition\":\"m\"}");
    text(&d, 4, "OM_Measurement");
    add_link(&d, STORE_STA_THING, t2);
    add_link(&d, STORE_STA_SENSOR, 999);
    add_link(&d, STORE_STA_OPROPERTY, 1);
    CHECK_EQ_INT(store_sta_create(st, &d, NULL), TK_ENOTFOUND);
    CHECK(strstr(store_errmsg(st), "Sensor(999)") != NULL);
    store_rollback(st);
    CHECK_EQ_INT(count(STORE_STA_THING, 0, 0, 0), before);

    /* cascades: FeatureOfInterest -> Observations; Thing -> Datastreams -> Observations,
     * HistoricalLocations; Location -> HistoricalLocations; Sensor -> Datastreams */
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_FOI, foi), TK_OK);
    CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 1, STORE_STA_DATASTREAM, ds), 0);
    check_rollups(ds);
    check_latest(ds, 0);
    CHECK_EQ_INT(obs_create(ds, T0, 1, 0, &o9), TK_OK); /* a new FoI is made */
    CHECK(related(STORE_STA_OBSERVATION, o9, STORE_STA_FOI) != foi);
    int64_t obs_before = count(STORE_STA_OBSERVATION, 0, 0, 0);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_THING, thing), TK_OK);
    CHECK_EQ_INT(count(STORE_STA_DATASTREAM, 1, STORE_STA_THING, thing), 0);
    CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 0, 0, 0), obs_before - 1);
    CHECK_EQ_INT(count(STORE_STA_HLOCATION, 1, STORE_STA_THING, thing), 0);
    CHECK_EQ_INT(count(STORE_STA_LOCATION, 0, 0, 0), 4); /* Locations stay */
    check_latest(ds, 0);
    int64_t t3 = thing_create("again", loc);
    CHECK_EQ_INT(count(STORE_STA_HLOCATION, 1, STORE_STA_THING, t3), 1);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_LOCATION, loc), TK_OK);
    CHECK_EQ_INT(count(STORE_STA_HLOCATION, 1, STORE_STA_THING, t3), 0);
    int64_t ds3 = ds_create(t3);
    int64_t sensor = related(STORE_STA_DATASTREAM, ds3, STORE_STA_SENSOR);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_SENSOR, sensor), TK_OK);
    CHECK_EQ_INT(count(STORE_STA_DATASTREAM, 1, STORE_STA_THING, t3), 0);
    CHECK_EQ_INT(store_sta_delete(st, STORE_STA_SENSOR, sensor), TK_ENOTFOUND);

    /* the device's stream was not touched by any of it */
    CHECK_EQ_INT(count(STORE_STA_OBSERVATION, 1, STORE_STA_DATASTREAM, dds), 148);
    check_rollups(dds);

    test_private();

    store_close(st);
    if (db.path[0])
        tmpdb_remove(&db);
    return tk_check_result("store_sta_write");
}
