/* store_sta.h over a real SQLite store: observations read across both tables (rows moved
 * by store_flush and rows still staged) in one order, with paging across the boundary,
 * counts, lookups by id in either table, navigation both ways, and refusals. */
#include <string.h>

#include "store_sta.h"
#include "store_test_util.h"

struct rows {
    size_t n;
    int64_t id[64];
    int64_t t[64];
    double r[64];
    enum store_sta_vtype ttype[64];
};

static enum tk_rc collect(void *ud, const struct store_sta_value *row, size_t n)
{
    struct rows *rs = ud;
    CHECK(n >= 1);
    if (rs->n == 64)
        return TK_EFULL;
    rs->id[rs->n] = row[0].i;
    if (n == 5) { /* Observations: id, phenomenonTime, resultTime, result, parameters */
        rs->t[rs->n] = row[1].i;
        rs->ttype[rs->n] = row[1].type;
        rs->r[rs->n] = row[3].d;
    }
    rs->n++;
    return TK_OK;
}

static struct rows list(struct store *st, struct store_sta_query q)
{
    struct rows rs;
    memset(&rs, 0, sizeof rs);
    CHECK_EQ_INT(store_sta_list(st, &q, collect, &rs), TK_OK);
    return rs;
}

static int64_t count(struct store *st, struct store_sta_query q)
{
    int64_t n = -1;
    CHECK_EQ_INT(store_sta_count(st, &q, &n), TK_OK);
    return n;
}

static void add_obs(struct store *st, int64_t ds, int minute, double v, int64_t end, int64_t *id)
{
    struct store_obs o = {.ds_id = ds, .t_us = T0 + minute * MIN_US, .result = v};
    if (end)
        o.t_end_us = o.t_us + end;
    CHECK_EQ_INT(store_obs_add(st, &o), TK_OK);
    if (id)
        *id = o.id;
}

int main(int argc, char **argv)
{
    /* SQLite on a temporary file, or with "pg" the server in TK_TEST_PG_URI */
    struct tmpdb db = {{0}, {0}};
    char uri[1024];
    test_store_uri(argc, argv, &db, uri, sizeof uri);
    struct store *st = NULL;
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    if (!st)
        return tk_check_result("api_sta_store");
    struct store_device a = test_device("wl-sta-a", TK_KIND_WATER_LEVEL, 34.39, 132.45), ra;
    struct store_device b = test_device("pf-sta-b", TK_KIND_PEOPLE_FLOW, 34.40, 132.46), rb;
    CHECK_EQ_INT(store_device_add(st, &a, &ra), TK_OK);
    CHECK_EQ_INT(store_device_add(st, &b, &rb), TK_OK);
    int64_t ds = ra.ds[TK_Q_WATER_LEVEL], dsb = rb.ds[TK_Q_PEOPLE_IN];
    CHECK(ds > 0 && dsb > 0);

    /* minutes 1..10 moved into the main table, 11..15 staged */
    int64_t moved_id = 0, staged_id = 0, iv_id = 0;
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int m = 1; m <= 10; m++)
        add_obs(st, ds, m, m / 10.0, 0, m == 3 ? &moved_id : NULL);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    CHECK_EQ_INT(store_flush(st), TK_OK);
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int m = 11; m <= 15; m++)
        add_obs(st, ds, m, m / 10.0, 0, m == 12 ? &staged_id : NULL);
    add_obs(st, dsb, 0, 7, 15 * MIN_US, &iv_id);
    CHECK_EQ_INT(store_commit(st), TK_OK);

    /* the datastream's observations: newest first across both tables */
    struct store_sta_query q = {.entity = STORE_STA_OBSERVATION,
                                .has_parent = 1,
                                .parent = STORE_STA_DATASTREAM,
                                .parent_id = ds,
                                .top = -1};
    struct rows rs = list(st, q);
    CHECK_EQ_INT(rs.n, 15);
    for (size_t i = 0; i < rs.n; i++) {
        CHECK_EQ_INT(rs.t[i], T0 + (int64_t)(15 - i) * MIN_US);
        CHECK_EQ_INT(rs.ttype[i], STORE_STA_TIME);
    }
    CHECK_EQ_INT(count(st, q), 15);
    /* a page across the boundary between the tables */
    q.top = 4;
    q.skip = 3;
    rs = list(st, q);
    CHECK_EQ_INT(rs.n, 4);
    CHECK_EQ_INT(rs.t[0], T0 + 12 * MIN_US);
    CHECK_EQ_INT(rs.t[3], T0 + 9 * MIN_US);
    /* $orderby result ascending */
    q.top = 3;
    q.skip = 9;
    q.norder = 1;
    q.order[0].prop = 3;
    q.order[0].desc = 0;
    rs = list(st, q);
    CHECK_EQ_INT(rs.n, 3);
    CHECK(rs.r[0] > 0.99 && rs.r[0] < 1.01 && rs.r[2] > 1.19 && rs.r[2] < 1.21);

    /* by id, in either table, and navigation from there */
    int64_t ids[2] = {moved_id, staged_id};
    struct rows foi0 = {0};
    for (int k = 0; k < 2; k++) {
        struct store_sta_query one = {
            .entity = STORE_STA_OBSERVATION, .has_id = 1, .id = ids[k], .top = 1};
        rs = list(st, one);
        CHECK_EQ_INT(rs.n, 1);
        CHECK_EQ_INT(rs.id[0], ids[k]);
        struct store_sta_query up = {.entity = STORE_STA_DATASTREAM,
                                     .has_parent = 1,
                                     .parent = STORE_STA_OBSERVATION,
                                     .parent_id = ids[k],
                                     .top = -1};
        rs = list(st, up);
        CHECK_EQ_INT(rs.n, 1);
        CHECK_EQ_INT(rs.id[0], ds);
        up.entity = STORE_STA_FOI;
        rs = list(st, up);
        CHECK_EQ_INT(rs.n, 1);
        if (k == 0)
            foi0 = rs;
        else
            CHECK_EQ_INT(rs.id[0], foi0.id[0]); /* staged and moved rows: the same FoI */
    }
    struct store_sta_query wrong = {.entity = STORE_STA_OBSERVATION,
                                    .has_parent = 1,
                                    .parent = STORE_STA_DATASTREAM,
                                    .parent_id = dsb,
                                    .has_id = 1,
                                    .id = moved_id,
                                    .top = -1};
    CHECK_EQ_INT(list(st, wrong).n, 0);
    struct store_sta_query none = {
        .entity = STORE_STA_OBSERVATION, .has_id = 1, .id = 999999, .top = -1};
    CHECK_EQ_INT(list(st, none).n, 0);

    /* the FeatureOfInterest's observations: device a's, both tables */
    struct store_sta_query fq = {.entity = STORE_STA_OBSERVATION,
                                 .has_parent = 1,
                                 .parent = STORE_STA_FOI,
                                 .parent_id = foi0.id[0],
                                 .top = -1};
    CHECK_EQ_INT(count(st, fq), 15);
    CHECK_EQ_INT(list(st, fq).n, 15);

    /* all observations by id; the interval one */
    struct store_sta_query all = {.entity = STORE_STA_OBSERVATION, .top = -1};
    rs = list(st, all);
    CHECK_EQ_INT(rs.n, 16);
    for (size_t i = 1; i < rs.n; i++)
        CHECK(rs.id[i] > rs.id[i - 1]);
    CHECK_EQ_INT(count(st, all), 16);
    all.has_id = 1;
    all.id = iv_id;
    rs = list(st, all);
    CHECK_EQ_INT(rs.n, 1);
    CHECK_EQ_INT(rs.ttype[0], STORE_STA_INTERVAL);

    /* registry navigation */
    struct store_sta_query th = {.entity = STORE_STA_DATASTREAM,
                                 .has_parent = 1,
                                 .parent = STORE_STA_THING,
                                 .parent_id = ra.thing_id,
                                 .top = -1};
    CHECK_EQ_INT(count(st, th), 3);
    struct store_sta_query up = {.entity = STORE_STA_THING,
                                 .has_parent = 1,
                                 .parent = STORE_STA_DATASTREAM,
                                 .parent_id = dsb,
                                 .top = -1};
    rs = list(st, up);
    CHECK_EQ_INT(rs.n, 1);
    CHECK_EQ_INT(rs.id[0], rb.thing_id);
    struct store_sta_query things = {
        .entity = STORE_STA_THING, .top = -1, .norder = 1, .order = {{1, 1}}};
    rs = list(st, things);
    CHECK_EQ_INT(rs.n, 2);
    CHECK_EQ_INT(rs.id[0], ra.thing_id); /* "wl-sta-a" > "pf-sta-b" */
    struct store_sta_query gone = {.entity = STORE_STA_DATASTREAM,
                                   .has_parent = 1,
                                   .parent = STORE_STA_THING,
                                   .parent_id = 424242,
                                   .top = -1};
    CHECK_EQ_INT(list(st, gone).n, 0);

    /* refusals */
    struct rows dummy;
    struct store_sta_query bad = {.entity = STORE_STA_OBSERVATION,
                                  .has_parent = 1,
                                  .parent = STORE_STA_SENSOR,
                                  .parent_id = 1,
                                  .top = -1};
    CHECK_EQ_INT(store_sta_list(st, &bad, collect, &dummy), TK_EINVAL);
    bad = (struct store_sta_query){.entity = STORE_STA_THING, .norder = 1, .order = {{3, 0}}};
    CHECK_EQ_INT(store_sta_list(st, &bad, collect, &dummy), TK_EINVAL); /* properties */
    CHECK(store_sta_nav(STORE_STA_THING, STORE_STA_DATASTREAM) == 2);
    CHECK(store_sta_nav(STORE_STA_DATASTREAM, STORE_STA_THING) == 1);
    CHECK(store_sta_nav(STORE_STA_THING, STORE_STA_SENSOR) == 0);

    /* a snapshot */
    CHECK_EQ_INT(store_sta_snapshot_begin(st), TK_OK);
    CHECK_EQ_INT(count(st, th), 3);
    store_sta_snapshot_end(st);

    store_close(st);
    if (db.path[0])
        tmpdb_remove(&db);
    return tk_check_result("api_sta_store");
}
