/* $filter: the parser (valid filters of every family, refusals with their positions, a
 * random-input loop that must never crash), name resolution and types, and the filters
 * run by the store on a real database: each family selects exactly the expected
 * entities, and a phenomenonTime range under one Datastream is a key range. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "store_test_util.h"

/* ---- parsing ------------------------------------------------------------------------ */

static int parses(const char *s)
{
    struct api_filter *f = NULL;
    struct tk_error e = {0};
    enum tk_rc rc = api_filter_parse(s, strlen(s), &f, &e);
    if (rc)
        fprintf(stderr, "  '%s': %s\n", s, e.text);
    api_filter_free(f);
    return rc == TK_OK;
}

/* parses and resolves for e */
static int valid_for(enum store_sta_entity ent, const char *s)
{
    struct api_filter *f = NULL;
    struct tk_error e = {0};
    enum tk_rc rc = api_filter_parse(s, strlen(s), &f, &e);
    if (!rc)
        rc = api_filter_resolve(f, ent, &e);
    if (rc)
        fprintf(stderr, "  '%s': %s\n", s, e.text);
    api_filter_free(f);
    return rc == TK_OK;
}

/* refused, with "at position pos" in the message */
static int refused_at(enum store_sta_entity ent, const char *s, int pos)
{
    struct api_filter *f = NULL;
    struct tk_error e = {0};
    enum tk_rc rc = api_filter_parse(s, strlen(s), &f, &e);
    if (!rc)
        rc = api_filter_resolve(f, ent, &e);
    api_filter_free(f);
    char want[48];
    snprintf(want, sizeof want, "at position %d", pos);
    if (rc != TK_EINVAL || !strstr(e.text, want) || strcmp(e.path, "$filter") != 0) {
        fprintf(stderr, "  '%s': rc %d, '%s' (wanted %s)\n", s, rc, e.text, want);
        return 0;
    }
    return 1;
}

static void test_parse(void)
{
    static const char *const ok[] = {
        "name eq 'x'",
        "name eq 'it''s'",
        "result gt 1 and result le 2.5 or not (result eq 3)",
        "result add 1 mul 2 sub -3 div 4 mod 5 gt 0",
        "(((result)))  eq 1",
        "phenomenonTime ge 2026-11-26T15:00:00Z and phenomenonTime lt 2026-11-26T15:05:00.5+09:00",
        "phenomenonTime ge 2026-11-26",
        "result eq null or result ne null",
        "true",
        "not false",
        "substringof('a', name) and endswith(name, 'b') and startswith(name, 'c')",
        "length(name) gt 2 and indexof(name, 'x') eq -1",
        "substring(name, 1) eq 'x' and substring(name, 1, 2) eq 'y'",
        "tolower(name) eq toupper(name) and trim(name) eq concat(name, 'z')",
        "year(phenomenonTime) eq 2026 and month(phenomenonTime) eq 11 and day(phenomenonTime) eq "
        "26",
        "hour(phenomenonTime) eq 1 and minute(phenomenonTime) eq 2 and second(phenomenonTime) eq 3",
        "date(phenomenonTime) eq date(resultTime) and time(phenomenonTime) ne '00:00:00'",
        "phenomenonTime lt now()",
        "round(result) eq 1 and floor(result) eq 1 and ceiling(result) eq 2",
        "geo.distance(location, geography'POINT(132.45 34.39)') lt 0.1",
        "geo.length(geography'LINESTRING(0 0, 1 1)') gt 1",
        "geo.intersects(location, geography'POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))')",
        "st_within(location, geography'POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))')",
        "st_equals(location, geography'POINT(1 2)') or st_disjoint(location, geography'POINT(1 "
        "2)')",
        "st_touches(location, geography'POINT(1 2)') or st_overlaps(location, geography'POINT(1 "
        "2)')",
        "st_crosses(location, geography'POINT(1 2)') or st_intersects(location, geography'POINT(1 "
        "2)')",
        "st_contains(geography'POLYGON((0 0, 1 0, 1 1, 0 0))', location)",
        "Datastreams/ObservedProperty/name eq 'water_level'",
        "properties/kind eq 'water_level'",
        "1.5e3 gt 1 and 1E-2 lt 1",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK(parses(ok[i]));

    /* syntax errors, with the position of the offending character (from 0) */
    static const struct {
        const char *s;
        int pos;
    } bad[] = {
        {"", 0},
        {"name eq", 7},
        {"name eq 'x", 8},
        {"name eq 'x' and", 15},
        {"(name eq 'x'", 12},
        {"name eq 'x')", 11},
        {"name eq 'x' foo", 12},
        {"name # 'x'", 5},
        {"nosuchfn(name) eq 1", 0},
        {"length(name, 'x') eq 1", 13},
        {"substringof('a') eq true", 15},
        {"phenomenonTime gt 2026-13-45T00:00:00Z", 18},
        {"geo.distance(location, geography'POINT(1 2)) lt 1", 23},
        {"name eq eq 'x'", 8},
        {"result gt 1 and", 15},
        {"2026-1 eq 1", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(refused_at(STORE_STA_THING, bad[i].s, bad[i].pos));

    /* too long, too deep, too many terms */
    char big[API_FILTER_LEN_MAX + 8];
    memset(big, '(', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(refused_at(STORE_STA_THING, big, API_FILTER_LEN_MAX));
    char deep[400];
    memset(deep, '(', 200);
    snprintf(deep + 200, sizeof deep - 200, "true");
    CHECK(refused_at(STORE_STA_THING, deep, 32)); /* two levels per parenthesis */
    char many[3000] = "";
    size_t len = 0;
    for (int i = 0; i < 200 && len < sizeof many - 20; i++)
        len += (size_t)snprintf(many + len, sizeof many - len, "%sid eq %d", i ? " or " : "", i);
    CHECK(!parses(many));
}

static void test_resolve(void)
{
    CHECK(valid_for(STORE_STA_THING, "name eq 'x'"));
    CHECK(valid_for(STORE_STA_THING, "id eq 1 and @iot.id eq 1"));
    CHECK(valid_for(STORE_STA_THING, "Datastreams/ObservedProperty/name eq 'water_level'"));
    CHECK(valid_for(STORE_STA_THING, "properties/kind eq 'water_level'"));
    CHECK(valid_for(STORE_STA_THING, "st_within(Locations/location, geography'POINT(1 2)')"));
    CHECK(valid_for(STORE_STA_DATASTREAM, "Thing/name eq 'x' and unitOfMeasurement/symbol eq 'm'"));
    CHECK(valid_for(STORE_STA_OBSERVATION, "phenomenonTime gt '2026-11-26T00:00:00Z'"));
    CHECK(valid_for(STORE_STA_OBSERVATION, "date(phenomenonTime) eq 2026-11-26"));
    CHECK(valid_for(STORE_STA_OBSERVATION, "Datastream/Thing/Locations/name ne 'x'"));
    CHECK(valid_for(STORE_STA_OBSERVATION, "FeatureOfInterest/name ne 'x'"));
    CHECK(valid_for(STORE_STA_OBSERVATION, "parameters/distance_mm gt 100"));

    CHECK(refused_at(STORE_STA_THING, "nme eq 'x'", 0));
    CHECK(refused_at(STORE_STA_THING, "name eq 'x' and Datastreams/nope eq 1", 16));
    CHECK(refused_at(STORE_STA_THING, "Datastreams eq 1", 0));
    CHECK(refused_at(STORE_STA_THING, "name/x eq 1", 0));
    CHECK(refused_at(STORE_STA_THING, "name", 0));
    CHECK(refused_at(STORE_STA_THING, "name add 1 eq 2", 0));
    CHECK(refused_at(STORE_STA_THING, "name eq 1", 5));
    CHECK(refused_at(STORE_STA_THING, "length(1) eq 1", 7));
    CHECK(refused_at(STORE_STA_OBSERVATION, "phenomenonTime gt 5", 15));
    CHECK(refused_at(STORE_STA_OBSERVATION, "phenomenonTime gt 'yesterday'", 15));
    CHECK(refused_at(STORE_STA_OBSERVATION, "result gt 1 and 5", 16));
    CHECK(refused_at(STORE_STA_OBSERVATION, "year(result) eq 1", 5));
    CHECK(refused_at(STORE_STA_LOCATION, "location eq geography'POINT(1 2)'", 9));
    CHECK(refused_at(STORE_STA_LOCATION, "true gt false", 5));
}

/* random bytes and random mixes of filter tokens: nothing may crash (ASan watches) */
static void test_fuzz(void)
{
    static const char *const toks[] = {
        "name",
        " eq ",
        " and ",
        " or ",
        "not ",
        "(",
        ")",
        "'a''b'",
        "'",
        "1",
        "-2.5e3",
        ",",
        "geography'POINT(1 2)'",
        "geography'",
        "substring(",
        "st_within(",
        "now()",
        "null",
        "true",
        "Datastreams/",
        "Thing/",
        "2026-11-26T00:00:00Z",
        "2026-",
        " add ",
        " mul ",
        " ",
        "/",
        "@iot.id",
        "properties/kind",
        "location",
        "\x01",
        "\xff",
        "date(",
    };
    unsigned seed = 12345;
    int ok = 0;
    for (int round = 0; round < 20000; round++) {
        char s[256];
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        int len = (int)((seed >> 16) % 24);
        for (int k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            if (round % 2) {
                s[n++] = (char)(seed >> 16);
            } else {
                const char *t = toks[(seed >> 16) % (sizeof toks / sizeof toks[0])];
                size_t tl = strlen(t);
                if (n + tl >= sizeof s)
                    break;
                memcpy(s + n, t, tl);
                n += tl;
            }
        }
        struct api_filter *f = NULL;
        struct tk_error e = {0};
        enum tk_rc rc = api_filter_parse(s, n, &f, &e); /* s is not NUL-terminated */
        if (!rc) {
            rc = api_filter_resolve(f, (enum store_sta_entity)(round % STORE_STA_N), &e);
            ok += rc == TK_OK;
        } else {
            CHECK(rc == TK_EINVAL && strstr(e.text, "at position"));
        }
        api_filter_free(f);
    }
    CHECK(ok > 0); /* some random token mixes are valid filters */
}

/* ---- on a real store ---------------------------------------------------------------- */

struct ids {
    size_t n;
    int64_t id[64];
};

static enum tk_rc take(void *ud, const struct store_sta_value *row, size_t n)
{
    struct ids *r = ud;
    (void)n;
    if (r->n < 64)
        r->id[r->n++] = row[0].i;
    return TK_OK;
}

static struct store *g_st;

/* the ids of entity e (under an optional parent Datastream) matching the filter */
static struct ids run(enum store_sta_entity ent, int64_t parent_ds, const char *filter,
                      int64_t *count)
{
    struct ids r;
    memset(&r, 0, sizeof r);
    struct api_filter *f = NULL;
    struct tk_error e = {0};
    enum tk_rc rc = api_filter_parse(filter, strlen(filter), &f, &e);
    if (!rc)
        rc = api_filter_resolve(f, ent, &e);
    if (rc) {
        fprintf(stderr, "  '%s': %s\n", filter, e.text);
        CHECK(0);
        r.n = 999;
        return r;
    }
    struct store_sta_query q = {.entity = ent, .top = -1, .filter = api_filter_tree(f)};
    if (parent_ds) {
        q.has_parent = 1;
        q.parent = STORE_STA_DATASTREAM;
        q.parent_id = parent_ds;
        q.norder = 1; /* ascending time, for predictable lists */
        q.order[0].prop = 1;
    }
    rc = store_sta_list(g_st, &q, take, &r);
    if (rc)
        fprintf(stderr, "  '%s': %s\n", filter, store_errmsg(g_st));
    CHECK_EQ_INT(rc, TK_OK);
    if (count) {
        CHECK_EQ_INT(store_sta_count(g_st, &q, count), TK_OK);
    }
    api_filter_free(f);
    return r;
}

static int64_t n_of(enum store_sta_entity ent, int64_t ds, const char *filter)
{
    int64_t c = -1;
    struct ids r = run(ent, ds, filter, &c);
    if ((int64_t)r.n != c)
        fprintf(stderr, "  '%s': %zu listed, %lld counted\n", filter, r.n, (long long)c);
    CHECK_EQ_INT((int64_t)r.n, c);
    return (int64_t)r.n;
}

static void test_store(void)
{
    struct tmpdb db;
    tmpdb_make(&db);
    CHECK_EQ_INT(store_open(db.path, NULL, &g_st), TK_OK);
    if (!g_st)
        return;
    CHECK_EQ_INT(store_sta_init(g_st), TK_OK);
    /* a at (132.45, 34.39), b at (132.46, 34.40), c far away */
    struct store_device a = test_device("wl-f-a", TK_KIND_WATER_LEVEL, 34.39, 132.45), ra;
    struct store_device b = test_device("wl-f-b", TK_KIND_WATER_LEVEL, 34.40, 132.46), rb;
    struct store_device c = test_device("pf-f-c", TK_KIND_PEOPLE_FLOW, 35.0, 135.0), rc_;
    CHECK_EQ_INT(store_device_add(g_st, &a, &ra), TK_OK);
    CHECK_EQ_INT(store_device_add(g_st, &b, &rb), TK_OK);
    CHECK_EQ_INT(store_device_add(g_st, &c, &rc_), TK_OK);
    int64_t ds = ra.ds[TK_Q_WATER_LEVEL];
    /* 20 observations a minute apart from T0 + 1 min, result m / 10; 1..10 moved, 11..20
     * staged */
    CHECK_EQ_INT(store_begin(g_st), TK_OK);
    for (int m = 1; m <= 20; m++) {
        if (m == 11) {
            CHECK_EQ_INT(store_commit(g_st), TK_OK);
            CHECK_EQ_INT(store_flush(g_st), TK_OK);
            CHECK_EQ_INT(store_begin(g_st), TK_OK);
        }
        struct store_obs o = {.ds_id = ds,
                              .t_us = T0 + m * MIN_US,
                              .result = m / 10.0,
                              .params = m % 2 ? "{\"odd\":1}" : "{\"odd\":0}"};
        CHECK_EQ_INT(store_obs_add(g_st, &o), TK_OK);
    }
    CHECK_EQ_INT(store_commit(g_st), TK_OK);

    /* comparison, logical, arithmetic on Observations of one Datastream (both tables) */
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "result gt 1.5"), 5);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "result ge 0.5 and result le 1.2"), 8);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "result lt 0.2 or result gt 1.9"), 2);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "not (result lt 1)"), 11);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "result mul 10 eq 7"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "result ne null"), 20);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "result eq null"), 0);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "round(result mul 10) mod 2 eq 0"), 10);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "floor(result) eq 1"), 10);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "ceiling(result) eq 1"), 10);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "parameters/odd eq 1"), 10);
    /* time: 2026-11-26T00:05Z .. 00:15Z: minutes 5..14 */
    struct ids r = run(STORE_STA_OBSERVATION, ds,
                       "phenomenonTime ge 2026-11-26T00:05:00Z and "
                       "phenomenonTime lt 2026-11-26T09:15:00+09:00",
                       NULL);
    CHECK_EQ_INT(r.n, 10);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "minute(phenomenonTime) eq 7"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds,
                      "year(phenomenonTime) eq 2026 and month(phenomenonTime) eq 11 and "
                      "day(phenomenonTime) eq 26 and hour(phenomenonTime) eq 0 and "
                      "second(phenomenonTime) eq 0"),
                 20);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "date(phenomenonTime) eq 2026-11-26"), 20);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "time(phenomenonTime) eq '00:03:00'"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "phenomenonTime lt now()"), 20);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, "phenomenonTime gt '2026-11-26T00:18:00Z'"), 2);
    /* the time range is a key range in both tables */
    struct api_filter *f = NULL;
    struct tk_error e = {0};
    const char *range = "phenomenonTime ge 2026-11-26T00:05:00Z and phenomenonTime lt "
                        "2026-11-26T00:15:00Z";
    CHECK_EQ_INT(api_filter_parse(range, strlen(range), &f, &e), TK_OK);
    CHECK_EQ_INT(api_filter_resolve(f, STORE_STA_OBSERVATION, &e), TK_OK);
    struct store_sta_query q = {.entity = STORE_STA_OBSERVATION,
                                .has_parent = 1,
                                .parent = STORE_STA_DATASTREAM,
                                .parent_id = ds,
                                .top = 10,
                                .filter = api_filter_tree(f)};
    char plan[4096];
    CHECK_EQ_INT(store_sta_plan(g_st, &q, plan, sizeof plan), TK_OK);
    CHECK(strstr(plan, "SEARCH o USING PRIMARY KEY (ds_id=? AND t_us>? AND t_us<?)"));
    CHECK(strstr(plan, "SEARCH s USING PRIMARY KEY (batch=? AND ds_id=? AND t_us>? AND t_us<?)"));
    if (!strstr(plan, "t_us>? AND t_us<?"))
        fprintf(stderr, "plan:\n%s", plan);
    /* and still for a caller from whom other owners' private Things are hidden */
    store_sta_viewer_set(g_st, 0, NULL);
    CHECK_EQ_INT(store_sta_plan(g_st, &q, plan, sizeof plan), TK_OK);
    CHECK(strstr(plan, "SEARCH o USING PRIMARY KEY (ds_id=? AND t_us>? AND t_us<?)"));
    CHECK(strstr(plan, "SEARCH s USING PRIMARY KEY (batch=? AND ds_id=? AND t_us>? AND t_us<?)"));
    if (!strstr(plan, "ds_id=? AND t_us>? AND t_us<?"))
        fprintf(stderr, "plan (hiding private Things):\n%s", plan);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, ds, range), 10);
    store_sta_viewer_set(g_st, 1, NULL);
    api_filter_free(f);

    /* strings on Things */
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "name eq 'wl-f-a'"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "name ne 'wl-f-a'"), 2);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "startswith(name, 'wl-')"), 2);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "endswith(name, '-c')"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "substringof('f-b', name)"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "length(name) eq 6 and indexof(name, '-f') eq 2"), 3);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "substring(name, 5) eq 'a'"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "substring(name, 0, 2) eq 'pf'"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "toupper(name) eq 'WL-F-A' or tolower('PF-F-C') eq name"),
                 2);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "trim(concat(' ', name)) eq 'wl-f-b'"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "name eq 'it''s'"), 0);
    /* across entities */
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "Datastreams/ObservedProperty/name eq 'water_level'"), 2);
    CHECK_EQ_INT(
        n_of(STORE_STA_THING, 0, "not (Datastreams/ObservedProperty/name eq 'water_level')"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_DATASTREAM, 0, "Thing/name eq 'wl-f-a'"), 3);
    CHECK_EQ_INT(n_of(STORE_STA_DATASTREAM, 0,
                      "Thing/name eq 'wl-f-a' and "
                      "ObservedProperty/name eq 'water_level'"),
                 1);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "Datastreams/Observations/result gt 1.9"), 1);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, 0, "Datastream/Thing/name eq 'wl-f-a'"), 20);
    CHECK_EQ_INT(n_of(STORE_STA_OBSERVATION, 0, "FeatureOfInterest/Observations/result eq 2"), 20);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "properties/kind eq 'people_flow'"), 1);
    /* geometry */
    const char *sq = "geography'POLYGON((132.4 34.3, 132.5 34.3, 132.5 34.395, 132.4 34.395, "
                     "132.4 34.3))'";
    char flt[512];
    snprintf(flt, sizeof flt, "st_within(location, %s)", sq);
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0, flt), 1);
    snprintf(flt, sizeof flt, "st_contains(%s, location)", sq);
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0, flt), 1);
    snprintf(flt, sizeof flt, "geo.intersects(location, %s)", sq);
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0, flt), 1);
    snprintf(flt, sizeof flt, "st_intersects(%s, location)", sq);
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0, flt), 1);
    snprintf(flt, sizeof flt, "st_disjoint(location, %s)", sq);
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0, flt), 2);
    snprintf(flt, sizeof flt, "st_within(Locations/location, %s)", sq);
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, flt), 1);
    snprintf(flt, sizeof flt, "st_within(feature, %s)", sq);
    CHECK_EQ_INT(n_of(STORE_STA_FOI, 0, flt), 1);
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0,
                      "geo.distance(location, geography'POINT(132.45 34.39)') lt 0.001"),
                 1);
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0,
                      "geo.distance(location, geography'POINT(132.45 34.39)') lt 0.02"),
                 2);
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0, "st_equals(location, geography'POINT(135 35)')"), 1);
    CHECK_EQ_INT(
        n_of(STORE_STA_LOCATION, 0,
             "st_touches(geography'POLYGON((135 35, 136 35, 136 36, 135 36, 135 35))', location)"),
        1);
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0, "geo.length(geography'LINESTRING(0 0, 3 4)') eq 5"),
                 3);
    CHECK_EQ_INT(
        n_of(STORE_STA_LOCATION, 0,
             "st_overlaps(geography'POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))', "
             "geography'POLYGON((1 1, 3 1, 3 3, 1 3, 1 1))') and "
             "not st_overlaps(geography'POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))', "
             "geography'POLYGON((0.5 0.5, 1 0.5, 1 1, 0.5 0.5))') and "
             "st_crosses(geography'LINESTRING(-1 1, 3 1)', "
             "geography'POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))') and "
             "st_crosses(geography'LINESTRING(0 0, 2 2)', geography'LINESTRING(0 2, 2 0)') "
             "and not st_crosses(geography'LINESTRING(0.5 0.5, 1 1)', "
             "geography'POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))')"),
        3);
    /* a polygon with a hole: the point in the hole is not within */
    CHECK_EQ_INT(n_of(STORE_STA_LOCATION, 0,
                      "st_within(geography'POINT(1 1)', geography'POLYGON((0 0, 3 0, 3 3, 0 3, 0 "
                      "0), (0.5 0.5, 1.5 0.5, 1.5 1.5, 0.5 1.5, 0.5 0.5))')"),
                 0);
    /* values are bound, never pasted: a quote and SQL text are just a name */
    CHECK_EQ_INT(n_of(STORE_STA_THING, 0, "name eq 'x'' OR 1=1 --'"), 0);

    store_close(g_st);
    g_st = NULL;
    tmpdb_remove(&db);
}

int main(void)
{
    test_parse();
    test_resolve();
    test_fuzz();
    test_store();
    return tk_check_result("api_filter");
}
