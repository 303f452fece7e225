/* Unit tests of the reading codec API; the many payload cases live as files in
 * tests/data/readings (test_reading_cases.c). */
#include <math.h>
#include <stdlib.h>

#include "tk_check.h"
#include "tk_reading.h"

#define CAP 8

static enum tk_rc parse(const char *s, enum tk_kind kind, const char *topic_id,
                        struct tk_reading *out, struct tk_error *errs, size_t *n,
                        struct tk_error *err)
{
    return tk_readings_parse(s, strlen(s), kind, topic_id, out, errs, CAP, n, err);
}

static void clear_all(struct tk_reading *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tk_reading_clear(&out[i]);
}

static int same(const struct tk_reading *a, const struct tk_reading *b)
{
    return a->kind == b->kind && strcmp(a->id, b->id) == 0 && a->seq == b->seq &&
           a->ts_us == b->ts_us && (a->has | TK_F_SEQ) == (b->has | TK_F_SEQ) && a->level_m == b->level_m &&
           a->distance_mm == b->distance_mm && a->pressure_kpa == b->pressure_kpa &&
           a->battery_v == b->battery_v && a->temp_c == b->temp_c &&
           a->interval_s == b->interval_s && a->in == b->in && a->out == b->out &&
           a->cum_in == b->cum_in && a->cum_out == b->cum_out &&
           a->unique_devices == b->unique_devices && a->associated == b->associated &&
           a->probe_only == b->probe_only &&
           ((!a->extra && !b->extra) || (a->extra && b->extra && strcmp(a->extra, b->extra) == 0));
}

/* parse(to_json(r)) == r */
static void round_trip(const struct tk_reading *r)
{
    char buf[1024];
    size_t len = 0, n = 0;
    struct tk_reading back[CAP];
    struct tk_error errs[CAP], err;

    CHECK_EQ_INT(tk_reading_to_json(r, buf, sizeof buf, &len), TK_OK);
    CHECK_EQ_INT(len, strlen(buf));
    CHECK_EQ_INT(tk_readings_parse(buf, len, r->kind, r->id, back, errs, CAP, &n, &err), TK_OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(errs[0].code, TK_OK);
        if (!same(r, &back[0]))
            fprintf(stderr, "round trip changed: %s\n", buf);
        CHECK(same(r, &back[0]));
    }
    clear_all(back, n);
    /* every shorter buffer is refused with TK_EFULL, never overflowed */
    for (size_t sz = 1; sz <= len; sz++) {
        char *small = malloc(sz);
        CHECK_EQ_INT(tk_reading_to_json(r, small, sz, NULL), TK_EFULL);
        free(small);
    }
}

static void test_names(void)
{
    enum tk_kind k;
    CHECK_EQ_STR(tk_kind_name(TK_KIND_WATER_LEVEL), "water_level");
    CHECK_EQ_STR(tk_kind_name(TK_KIND_PEOPLE_FLOW), "people_flow");
    CHECK_EQ_STR(tk_kind_name(TK_KIND_WIFI_AP), "wifi_ap");
    CHECK(tk_kind_name(TK_KIND_MAX) == NULL);
    CHECK_EQ_INT(tk_kind_parse("wifi_ap", &k), TK_OK);
    CHECK_EQ_INT(k, TK_KIND_WIFI_AP);
    CHECK_EQ_INT(tk_kind_parse("wifi", &k), TK_EINVAL);
    CHECK_EQ_INT(tk_kind_parse(NULL, &k), TK_EINVAL);

    CHECK(tk_device_id_valid("abc"));
    CHECK(tk_device_id_valid("gauge-0001"));
    CHECK(tk_device_id_valid("012345678901234567890123456789012345678901234567")); /* 48 */
    CHECK(!tk_device_id_valid("0123456789012345678901234567890123456789012345678")); /* 49 */
    CHECK(!tk_device_id_valid("ab"));
    CHECK(!tk_device_id_valid("Gauge-1"));
    CHECK(!tk_device_id_valid("a/b"));
    CHECK(!tk_device_id_valid("a+b"));
    CHECK(!tk_device_id_valid("a#b"));
    CHECK(!tk_device_id_valid("a_b"));
    CHECK(!tk_device_id_valid(""));
    CHECK(!tk_device_id_valid(NULL));
}

static void test_topics(void)
{
    enum tk_kind k;
    enum tk_topic_type t;
    char id[TK_ID_MAX + 1], buf[128];
    struct tk_error e;

    CHECK_EQ_INT(tk_topic_parse("city/water_level/gauge-01/reading", &k, id, &t, &e), TK_OK);
    CHECK_EQ_INT(k, TK_KIND_WATER_LEVEL);
    CHECK_EQ_STR(id, "gauge-01");
    CHECK_EQ_INT(t, TK_TOPIC_READING);
    CHECK_EQ_INT(tk_topic_parse("city/wifi_ap/ap-7/status", &k, id, &t, NULL), TK_OK);
    CHECK_EQ_INT(t, TK_TOPIC_STATUS);
    CHECK_EQ_INT(tk_topic_parse("city/people_flow/pc-1/ack", &k, id, &t, NULL), TK_OK);
    CHECK_EQ_INT(t, TK_TOPIC_ACK);
    CHECK_EQ_INT(tk_topic_parse("city/people_flow/pc-1/config", &k, id, &t, NULL), TK_OK);
    CHECK_EQ_INT(t, TK_TOPIC_CONFIG);

    const char *bad[] = {"",
                         "city",
                         "city/water_level/gauge-01",
                         "city/water_level/gauge-01/reading/x",
                         "town/water_level/gauge-01/reading",
                         "city/sewer/gauge-01/reading",
                         "city/water_level/Gauge-01/reading",
                         "city/water_level/+/reading",
                         "city/water_level/#",
                         "city/water_level//reading",
                         "city/water_level/gauge-01/readings",
                         "city/water_level/gauge-01/",
                         "city/alerts/gauge-01",
                         "city/averyveryveryverylongkindname/gauge-01/reading"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.code = TK_OK;
        CHECK_EQ_INT(tk_topic_parse(bad[i], &k, id, &t, &e), TK_EINVAL);
        CHECK_EQ_INT(e.code, TK_EINVAL);
        CHECK_EQ_STR(e.path, "topic");
    }

    CHECK_EQ_INT(tk_topic_make(buf, sizeof buf, TK_KIND_WIFI_AP, "ap-7", TK_TOPIC_ACK), TK_OK);
    CHECK_EQ_STR(buf, "city/wifi_ap/ap-7/ack");
    CHECK_EQ_INT(tk_topic_make(buf, 10, TK_KIND_WIFI_AP, "ap-7", TK_TOPIC_ACK), TK_EFULL);
    CHECK_EQ_INT(tk_topic_make(buf, sizeof buf, TK_KIND_WIFI_AP, "a/b", TK_TOPIC_ACK), TK_EINVAL);
    CHECK_EQ_INT(tk_topic_make(buf, sizeof buf, TK_KIND_MAX, "ap-7", TK_TOPIC_ACK), TK_EINVAL);
}

static void test_ack_status(void)
{
    char buf[32];
    size_t len;
    uint32_t seq = 0;
    struct tk_error e;
    struct tk_status st;

    CHECK_EQ_INT(tk_ack_to_json(4294967295u, buf, sizeof buf, &len), TK_OK);
    CHECK_EQ_STR(buf, "{\"seq\":4294967295}");
    CHECK_EQ_INT(len, strlen(buf));
    CHECK_EQ_INT(tk_ack_parse(buf, len, &seq, &e), TK_OK);
    CHECK_EQ_INT(seq, 4294967295u);
    CHECK_EQ_INT(tk_ack_to_json(7, buf, 8, &len), TK_EFULL);
    CHECK_EQ_INT(tk_ack_parse("{\"seq\":-1}", 10, &seq, &e), TK_ESCHEMA);
    CHECK_EQ_STR(e.path, "/seq");
    CHECK_EQ_INT(tk_ack_parse("{}", 2, &seq, &e), TK_ESCHEMA);
    CHECK_EQ_INT(tk_ack_parse("{\"seq\":1,\"x\":2}", 15, &seq, &e), TK_ESCHEMA);
    CHECK_EQ_STR(e.path, "/x");
    CHECK_EQ_INT(tk_ack_parse("{\"seq\":1.5}", 11, &seq, &e), TK_ESCHEMA);
    CHECK_EQ_INT(tk_ack_parse("[1]", 3, &seq, &e), TK_ESCHEMA);
    CHECK_EQ_INT(tk_ack_parse("{\"seq\":", 7, &seq, &e), TK_EPROTO);
    CHECK_EQ_INT(tk_ack_parse("{\"seq\":1}\0", 10, &seq, &e), TK_EPROTO);

    const char *ok = "{\"state\":\"online\",\"fw\":\"1.2.0\",\"battery_v\":3.6,\"rssi_dbm\":-95}";
    CHECK_EQ_INT(tk_status_parse(ok, strlen(ok), &st, &e), TK_OK);
    CHECK_EQ_INT(st.online, 1);
    CHECK_EQ_STR(st.fw, "1.2.0");
    CHECK_EQ_INT(st.has_battery, 1);
    CHECK(st.battery_v == 3.6);
    CHECK_EQ_INT(st.has_rssi, 1);
    CHECK_EQ_INT(st.rssi_dbm, -95);
    CHECK_EQ_INT(tk_status_parse("{\"state\":\"offline\"}", 19, &st, &e), TK_OK);
    CHECK_EQ_INT(st.online, 0);
    CHECK_EQ_INT(st.has_battery, 0);
    CHECK_EQ_STR(st.fw, "");
    CHECK_EQ_INT(tk_status_parse("{\"state\":\"asleep\"}", 18, &st, &e), TK_ESCHEMA);
    CHECK_EQ_STR(e.path, "/state");
    CHECK_EQ_INT(tk_status_parse("{\"fw\":\"1\"}", 10, &st, &e), TK_ESCHEMA);
    CHECK_EQ_STR(e.path, "/state");
    const char *longfw = "{\"state\":\"online\",\"fw\":\"01234567890123456789012345678901\"}";
    CHECK_EQ_INT(tk_status_parse(longfw, strlen(longfw), &st, &e), TK_ESCHEMA);
    CHECK_EQ_STR(e.path, "/fw");
    CHECK_EQ_INT(tk_status_parse("{\"state\":\"online\",\"rssi_dbm\":5}", 31, &st, &e),
                 TK_ESCHEMA);
    CHECK_EQ_STR(e.path, "/rssi_dbm");
}

static void test_parse_api(void)
{
    struct tk_reading out[CAP];
    struct tk_error errs[CAP], err;
    size_t n = 99;

    /* a single object */
    const char *wl = "{\"v\":1,\"id\":\"g-01\",\"seq\":7,\"ts\":1795651200000,\"level_m\":0.42,"
                     "\"battery_v\":3.61,\"fw_note\":{\"a\":[1,2]},\"rain\":true}";
    CHECK_EQ_INT(parse(wl, TK_KIND_WATER_LEVEL, "g-01", out, errs, &n, &err), TK_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(errs[0].code, TK_OK);
    CHECK_EQ_INT(err.code, TK_OK);
    CHECK_EQ_STR(out[0].id, "g-01");
    CHECK_EQ_INT(out[0].seq, 7);
    CHECK_EQ_INT(out[0].ts_us, INT64_C(1795651200000000));
    CHECK_EQ_INT(out[0].has, TK_F_LEVEL_M | TK_F_BATTERY_V | TK_F_SEQ);
    CHECK(out[0].level_m == 0.42);
    CHECK_EQ_STR(out[0].extra, "{\"fw_note\":{\"a\":[1,2]},\"rain\":true}");
    round_trip(&out[0]);
    clear_all(out, n);
    CHECK(out[0].extra == NULL);
    tk_reading_clear(NULL);

    /* NULL topic id: not checked; NULL errs: allowed */
    CHECK_EQ_INT(parse(wl, TK_KIND_WATER_LEVEL, NULL, out, NULL, &n, NULL), TK_OK);
    clear_all(out, n);

    /* a batch with one bad element: the message is fine, the element is not */
    const char *batch = "[{\"v\":1,\"id\":\"pc-1\",\"seq\":1,\"ts\":1795651200000,\"interval_s\":900,"
                        "\"in\":3,\"out\":4},"
                        "{\"v\":1,\"id\":\"pc-1\",\"seq\":2,\"ts\":1795651200000,\"interval_s\":900,"
                        "\"in\":-3,\"out\":4}]";
    CHECK_EQ_INT(parse(batch, TK_KIND_PEOPLE_FLOW, "pc-1", out, errs, &n, &err), TK_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(errs[0].code, TK_OK);
    CHECK_EQ_INT(errs[1].code, TK_ESCHEMA);
    CHECK_EQ_STR(errs[1].path, "/1/in");
    CHECK_EQ_STR(errs[1].text, "must be an integer in 0..1000000");
    clear_all(out, n);

    /* whole-message failures leave n == 0 */
    n = 5;
    CHECK_EQ_INT(parse("[]", TK_KIND_WIFI_AP, "ap-1", out, errs, &n, &err), TK_ESCHEMA);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(err.code, TK_ESCHEMA);
    CHECK_EQ_STR(err.path, "");
    CHECK_EQ_INT(parse("{\"v\":", TK_KIND_WIFI_AP, "ap-1", out, errs, &n, &err), TK_EPROTO);
    CHECK(strstr(err.text, "not JSON") != NULL);
    CHECK(strstr(err.text, "line 1") != NULL);
    CHECK_EQ_INT(parse("\"x\"", TK_KIND_WIFI_AP, "ap-1", out, errs, &n, &err), TK_ESCHEMA);
    CHECK_EQ_INT(parse("", TK_KIND_WIFI_AP, "ap-1", out, errs, &n, &err), TK_EPROTO);
    CHECK_EQ_INT(tk_readings_parse("{}\0", 3, TK_KIND_WIFI_AP, "ap-1", out, errs, CAP, &n, &err),
                 TK_EPROTO);
    CHECK(strstr(err.text, "NUL byte at offset 2") != NULL);
    CHECK_EQ_INT(tk_readings_parse("{\"id\":\"\xff\"}", 10, TK_KIND_WIFI_AP, "ap-1", out, errs, CAP,
                                   &n, &err),
                 TK_EPROTO);
    CHECK_EQ_INT(tk_readings_parse("[1,2,3]", 7, TK_KIND_WIFI_AP, "ap-1", out, errs, 2, &n, &err),
                 TK_EFULL);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(tk_readings_parse("[1,2]", 5, TK_KIND_WIFI_AP, "ap-1", out, errs, 2, &n, &err),
                 TK_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_STR(errs[1].path, "/1");
    clear_all(out, n);
    CHECK_EQ_INT(tk_readings_parse("{}", 2, TK_KIND_MAX, "ap-1", out, errs, 2, &n, &err),
                 TK_EINVAL);
    CHECK_EQ_INT(tk_readings_parse("{}", 2, TK_KIND_WIFI_AP, "ap-1", out, errs, 0, &n, &err),
                 TK_EINVAL);
    CHECK_EQ_INT(tk_readings_parse(NULL, 2, TK_KIND_WIFI_AP, "ap-1", out, errs, 1, &n, &err),
                 TK_EINVAL);
    /* duplicate keys are ambiguous: refused */
    CHECK_EQ_INT(parse("{\"v\":1,\"v\":1}", TK_KIND_WIFI_AP, "ap-1", out, errs, &n, &err),
                 TK_EPROTO);
}

static void test_round_trips(void)
{
    struct tk_reading r;

    memset(&r, 0, sizeof r);
    r.kind = TK_KIND_WATER_LEVEL;
    memcpy(r.id, "gauge-0001", 11);
    r.seq = 4294967295u;
    r.ts_us = INT64_C(1795651200123456);
    r.has = TK_F_DISTANCE_MM | TK_F_TEMP_C | TK_F_BATTERY_V;
    r.distance_mm = 1234.5;
    r.temp_c = -0.1;
    r.battery_v = 0.1 + 0.2; /* needs 17 digits */
    round_trip(&r);

    /* absent fields are zero in a parsed reading: keep r canonical */
    r.distance_mm = r.temp_c = r.battery_v = 0;
    r.has = TK_F_PRESSURE_KPA;
    r.pressure_kpa = 1e-7;
    round_trip(&r);
    r.pressure_kpa = 0;
    r.has = TK_F_LEVEL_M;
    r.level_m = -1;
    round_trip(&r);
    r.level_m = 100;
    r.seq = 0;
    round_trip(&r);

    memset(&r, 0, sizeof r);
    r.kind = TK_KIND_PEOPLE_FLOW;
    memcpy(r.id, "pc-1", 5);
    r.seq = 12;
    r.ts_us = INT64_C(946684800000000);
    r.interval_s = 900;
    r.in = 1000000;
    r.out = 0;
    r.has = TK_F_CUM_IN | TK_F_CUM_OUT;
    r.cum_in = INT64_C(9007199254740991);
    r.cum_out = 5;
    round_trip(&r);

    memset(&r, 0, sizeof r);
    r.kind = TK_KIND_WIFI_AP;
    memcpy(r.id, "ap-1", 5);
    r.seq = 1;
    r.ts_us = INT64_C(4102444799999000);
    r.interval_s = 86400;
    r.unique_devices = 100000;
    r.associated = 3;
    r.has = TK_F_PROBE_ONLY;
    r.probe_only = 17;
    r.extra = strdup("{\"band\":\"5GHz\",\"ch\":[36,40]}");
    round_trip(&r);
    free(r.extra);
    r.extra = strdup(" { } ");
    char buf[512];
    CHECK_EQ_INT(tk_reading_to_json(&r, buf, sizeof buf, NULL), TK_OK);
    CHECK(strstr(buf, "\"probe_only\":17}") != NULL);
    free(r.extra);
    r.extra = strdup("[1]");
    CHECK_EQ_INT(tk_reading_to_json(&r, buf, sizeof buf, NULL), TK_EINVAL);
    free(r.extra);
    r.extra = NULL;

    /* what cannot be encoded */
    memcpy(r.id, "A/B", 4);
    CHECK_EQ_INT(tk_reading_to_json(&r, buf, sizeof buf, NULL), TK_EINVAL);
    memcpy(r.id, "ap-1", 5);
    r.kind = TK_KIND_WATER_LEVEL;
    r.has = TK_F_LEVEL_M;
    r.level_m = NAN;
    CHECK_EQ_INT(tk_reading_to_json(&r, buf, sizeof buf, NULL), TK_EINVAL);
    r.level_m = INFINITY;
    CHECK_EQ_INT(tk_reading_to_json(&r, buf, sizeof buf, NULL), TK_EINVAL);
}

/* A reading that fails for another reason still reports its seq (TK_F_SEQ), unless
 * it claims another device's id or the seq itself is bad. */
static void test_seq_of_failed(void)
{
    struct tk_reading out[4];
    struct tk_error errs[4], err;
    size_t n = 0;
    const char *batch = "[{\"v\":1,\"id\":\"g-01\",\"seq\":5,\"ts\":\"bad\",\"level_m\":1},"
                        "{\"v\":1,\"id\":\"g-02\",\"seq\":6,\"ts\":0,\"level_m\":1},"
                        "{\"v\":1,\"id\":\"g-01\",\"seq\":-6,\"ts\":0,\"level_m\":1},"
                        "{\"seq\":9,\"v\":1,\"id\":\"g-01\",\"ts\":1767225600000,\"level_m\":1}]";
    CHECK_EQ_INT(tk_readings_parse(batch, strlen(batch), TK_KIND_WATER_LEVEL, "g-01", out, errs, 4,
                                   &n, &err),
                 TK_OK);
    CHECK_EQ_INT(n, 4);
    CHECK(errs[0].code != TK_OK);
    CHECK(out[0].has & TK_F_SEQ);
    CHECK_EQ_INT(out[0].seq, 5);
    CHECK(errs[1].code != TK_OK);
    CHECK(!(out[1].has & TK_F_SEQ));
    CHECK(errs[2].code != TK_OK);
    CHECK(!(out[2].has & TK_F_SEQ));
    CHECK_EQ_INT(errs[3].code, TK_OK);
    CHECK(out[3].has & TK_F_SEQ);
    CHECK_EQ_INT(out[3].seq, 9);
    clear_all(out, n);
}

/* tk_json_number on fractional values against the printf definition it follows: "%.15g",
 * "%.16g", "%.17g", the first that reads back as the value. */
static size_t json_number_ref(double d, char *buf)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, TK_JSON_NUMBER_MAX, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return (size_t)n;
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}

static void test_json_number(void)
{
    char got[TK_JSON_NUMBER_MAX], want[TK_JSON_NUMBER_MAX];
    uint64_t seed = 42;
    long bad = 0, n = 0;
    for (int i = 0; i < 400000; i++) {
        double d;
        uint64_t r = lcg(&seed);
        switch (i % 6) {
        case 0: /* a few decimals, as gauges send them */
            d = (double)(int64_t)(r % 100000000) /
                (double[]){10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}[(r >> 40) % 8];
            break;
        case 1: /* sums of readings (0.588 + 0.001 = 0.5890000000000001) */
            d = (double)(r % 1000) / 1000 + (double)((r >> 20) % 1000) / 1000;
            break;
        case 2: { /* averages of readings */
            double sum = 0;
            int cnt = 1 + (int)((r >> 30) % 90);
            for (int k = 0; k < cnt; k++)
                sum += (double)((lcg(&seed) % 2000)) / 1000;
            d = sum / cnt;
            break;
        }
        case 3: /* any double of the fast path's range */
            d = 1e-4 + (double)r / (double)(1ULL << 53) * (1e9 - 1e-4);
            break;
        case 4: { /* any bit pattern, every exponent */
            uint64_t bits = lcg(&seed) << 11 ^ lcg(&seed);
            memcpy(&d, &bits, sizeof d);
            break;
        }
        default: /* near the edges of the range, and negative */
            d = -(double)(r % 1000000) * (r & 1 ? 1e-10 : 1e3) / 7;
            break;
        }
        size_t k = tk_json_number(d, got);
        if (!isfinite(d) || fabs(d) >= 4503599627370496.0 || d == (double)(int64_t)d)
            continue; /* whole numbers are written as integers, not as "%g" would */
        size_t kr = json_number_ref(d, want);
        n++;
        if (k != kr || strcmp(got, want) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "tk_json_number(%a) = %s, printf gives %s\n", d, got, want);
        }
    }
    CHECK(n > 300000);
    CHECK_EQ_INT(bad, 0);
    static const double edges[] = {1e-4,
                                   0.00010000000000000002,
                                   999999999.99999988,
                                   0.1,
                                   0.2 + 0.1,
                                   1.0 / 3,
                                   2.0 / 3,
                                   123456.789,
                                   0.5880000000000001,
                                   0.32950000000000007,
                                   5e-324,
                                   1e300,
                                   -0.0,
                                   0.000123,
                                   0.09999999999999999,
                                   9.999999999999998,
                                   99999999.99999999,
                                   0.0009999999999999998,
                                   0.001,
                                   0.01,
                                   1.0000000000000002,
                                   10.000000000000002,
                                   0.9999999999999999,
                                   0.00999999999999999};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        tk_json_number(edges[i], got);
        json_number_ref(edges[i], want);
        CHECK_EQ_STR(got, want);
    }
}

/* The fast path for single flat objects gives what the general (jansson) path gives, for
 * every kind, with and without a topic id: readings, errors and their texts. */
static void test_fast_path_same(void)
{
    static const char *const payloads[] = {
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":0.5,"
        "\"battery_v\":3.61,\"temp_c\":14.2}",
        " {\r\n\t\"v\" : 1 , \"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":-0.25 }\n",
        "{\"v\":1.0,\"id\":\"wl-01\",\"seq\":7e0,\"ts\":1.764e12,\"distance_mm\":1E3}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":-0,\"ts\":\"2026-11-26T09:00:00+09:00\","
        "\"pressure_kpa\":12}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":\"2099-12-31T23:59:59-01:00\",\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":4294967295,\"ts\":1764000000000,\"level_m\":1e-400}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":4294967296,\"ts\":1764000000000,\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":1234567890123456789,\"ts\":1764000000000,\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":12345678901234567890,\"ts\":1764000000000,"
        "\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1e400}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":01}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1.}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":.5}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1e}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":+1}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1,\"level_m\":2}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1,\"distance_mm\":2}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1,\"note\":\"x\"}",
        "{\"v\":1,\"id\":\"wl\\u002d01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-\xc3\xa9\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":true}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":null}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":[1]}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1} x",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1,}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1",
        "{\"v\":2,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1}",
        "{\"v\":1,\"id\":\"WL-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-02\",\"seq\":7,\"ts\":1764000000000,\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":946684799999,\"level_m\":1}",
        "{\"v\":1,\"id\":\"wl-01\",\"seq\":7,\"ts\":1764000000000,\"level_m\":100.5}",
        "{\"v\":1,\"id\":\"pf-01\",\"seq\":3,\"ts\":1764000000000,\"interval_s\":60,\"in\":4,"
        "\"out\":2,\"cum_in\":9007199254740991,\"cum_out\":0}",
        "{\"v\":1,\"id\":\"pf-01\",\"seq\":3,\"ts\":1764000000000,\"interval_s\":60.5,\"in\":4,"
        "\"out\":2}",
        "{\"v\":1,\"id\":\"ap-01\",\"seq\":3,\"ts\":1764000000000,\"interval_s\":60,"
        "\"unique_devices\":12,\"associated\":3,\"probe_only\":9}",
        "{\"v\":1,\"id\":\"ap-01\",\"seq\":3,\"ts\":1764000000000,\"interval_s\":60,"
        "\"unique_devices\":12,\"associated\":3,\"in\":9}",
        "{}", "{ }", "[]", "[{\"v\":1}]", "", " ", "1", "\"x\"", "{\"\":1}", "{\"v\"}",
        "{\"v\":1 \"id\":\"wl-01\"}", "{\"v\":-}", "{\"v\":1}\n\n",
    };
    const char *const ids[] = {"wl-01", "pf-01", "ap-01"};
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        for (int k = 0; k < TK_KIND_MAX; k++) {
            for (int t = 0; t < 2; t++) {
                struct tk_reading a[CAP], b[CAP];
                struct tk_error ea[CAP], eb[CAP], wa, wb;
                size_t na = 0, nb = 0, len = strlen(payloads[i]);
                const char *tid = t ? ids[k] : NULL;
                enum tk_rc ra = tk_readings_parse(payloads[i], len, (enum tk_kind)k, tid, a, ea,
                                                  CAP, &na, &wa);
                enum tk_rc rb = tk_readings__parse_general(payloads[i], len, (enum tk_kind)k,
                                                           tid, b, eb, CAP, &nb, &wb);
                int ok = ra == rb && na == nb && wa.code == wb.code &&
                         strcmp(wa.path, wb.path) == 0 && strcmp(wa.text, wb.text) == 0;
                for (size_t j = 0; ok && j < na; j++)
                    ok = ea[j].code == eb[j].code && strcmp(ea[j].path, eb[j].path) == 0 &&
                         strcmp(ea[j].text, eb[j].text) == 0 && same(&a[j], &b[j]) &&
                         a[j].has == b[j].has;
                if (!ok)
                    fprintf(stderr, "fast and general paths differ (kind %d, id %s): %s\n", k,
                            tid ? tid : "-", payloads[i]);
                CHECK(ok);
                clear_all(a, na);
                clear_all(b, nb);
            }
        }
    }
}

int main(void)
{
    test_fast_path_same();
    test_json_number();
    test_seq_of_failed();
    test_names();
    test_topics();
    test_ack_status();
    test_parse_api();
    test_round_trips();
    return tk_check_result("test_reading");
}
