/* fw_json and fw_config: writer formats, reader, config parse, config block CRC. */
#include "fw_config.h"
#include "fw_json.h"
#include "sim_port.h"
#include "tk_check.h"

static struct sim sim; /* large: keep it off the (small) Cortex-M stack */

static const char *fixed(int64_t v, unsigned dec)
{
    static char buf[64];
    struct fw_jw w;
    fw_jw_init(&w, buf, sizeof buf);
    fw_jw_fixed(&w, v, dec);
    return buf;
}

static const char *ts(int64_t ms)
{
    static char buf[64];
    struct fw_jw w;
    fw_jw_init(&w, buf, sizeof buf);
    fw_jw_ts(&w, ms);
    return w.overflow ? "overflow" : buf;
}

static void test_writer(void)
{
    CHECK_EQ_STR(fixed(3610, 3), "3.61");
    CHECK_EQ_STR(fixed(420, 3), "0.42");
    CHECK_EQ_STR(fixed(1, 3), "0.001");
    CHECK_EQ_STR(fixed(-500, 3), "-0.5");
    CHECK_EQ_STR(fixed(0, 3), "0");
    CHECK_EQ_STR(fixed(12000, 3), "12");
    CHECK_EQ_STR(fixed(1450, 2), "14.5");
    CHECK_EQ_STR(fixed(-5, 2), "-0.05");
    CHECK_EQ_STR(fixed(INT64_MIN, 0), "-9223372036854775808");
    CHECK_EQ_STR(ts(1795651200000LL), "2026-11-26T00:00:00.000000Z");
    CHECK_EQ_STR(ts(1795651200250LL + 86399000LL), "2026-11-26T23:59:59.250000Z");
    CHECK_EQ_STR(ts(951782400000LL), "2000-02-29T00:00:00.000000Z");
    CHECK_EQ_STR(ts(0), "1970-01-01T00:00:00.000000Z");
    CHECK_EQ_STR(ts(4102444799999LL), "2099-12-31T23:59:59.999000Z");
    CHECK_EQ_STR(ts(-1), "1969-12-31T23:59:59.999000Z");
    CHECK_EQ_STR(ts(253402300800000LL), "overflow"); /* year 10000 */

    char buf[32];
    struct fw_jw w;
    fw_jw_init(&w, buf, sizeof buf);
    fw_jw_raw(&w, "{");
    fw_jw_key(&w, "a\"b");
    fw_jw_str(&w, "x\\\n");
    fw_jw_key(&w, "n");
    fw_jw_i64(&w, -7);
    fw_jw_raw(&w, "}");
    CHECK_EQ_STR(buf, "{\"a\\\"b\":\"x\\\\\\u000a\",\"n\":-7}");
    CHECK(fw_jw_result(&w) == FW_OK);
    fw_jw_raw(&w, "0123456789");
    CHECK(fw_jw_result(&w) == FW_EFULL);
    CHECK(buf[sizeof buf - 1] == '\0' || w.len < sizeof buf);

    char tiny[4];
    fw_jw_init(&w, tiny, sizeof tiny);
    fw_jw_u64(&w, 1234); /* needs 5 bytes with the NUL */
    CHECK(fw_jw_result(&w) == FW_EFULL);
    CHECK_EQ_INT(w.len, 0);
}

static int64_t get(const char *s, const char *key, unsigned dec, enum fw_rc want)
{
    int64_t v = -999;
    enum fw_rc rc = fw_json_get_fixed(s, strlen(s), key, dec, &v);
    CHECK_EQ_INT(rc, want);
    return v;
}

static void test_reader(void)
{
    CHECK_EQ_INT(get("{\"seq\":1041}", "seq", 0, FW_OK), 1041);
    CHECK_EQ_INT(get(" { \"x\" : \"s\\\"}\", \"seq\" : 4294967295 } ", "seq", 0, FW_OK),
                 4294967295LL);
    CHECK_EQ_INT(get("{\"a\":1.2}", "a", 3, FW_OK), 1200);
    CHECK_EQ_INT(get("{\"a\":-0.0015}", "a", 3, FW_OK), -1);
    CHECK_EQ_INT(get("{\"a\":1.5e2}", "a", 0, FW_OK), 150);
    CHECK_EQ_INT(get("{\"a\":12E-3}", "a", 3, FW_OK), 12);
    CHECK_EQ_INT(get("{\"a\":true,\"b\":null,\"c\":0}", "c", 0, FW_OK), 0);
    get("{\"seq\":1}", "other", 0, FW_ENOENT);
    get("{}", "seq", 0, FW_ENOENT);
    get("{\"seq\":\"1\"}", "seq", 0, FW_EINVAL);
    get("{\"seq\":1,\"seq\":2}", "seq", 0, FW_EINVAL);
    get("{\"seq\":01}", "seq", 0, FW_EINVAL);
    get("{\"seq\":1", "seq", 0, FW_EINVAL);
    get("{\"seq\":1} x", "seq", 0, FW_EINVAL);
    get("[1]", "seq", 0, FW_EINVAL);
    get("{\"seq\":[1]}", "seq", 0, FW_EINVAL);
    get("{\"seq\":1.}", "seq", 0, FW_EINVAL);
    get("{\"seq\":99999999999999999999}", "seq", 0, FW_EINVAL);
    get("", "seq", 0, FW_EINVAL);
}

static void test_config(void)
{
    struct fw_config run = {0, 600000, 60000, 600000, 0, 0, 0, 0, 0}, c;
    const char *ex = "{\"version\": 3, \"interval_s\": 600, \"sample_s\": 60, \"fast_interval_s\": 60,"
                     " \"fast_start_level_m\": 1.2, \"fast_start_rise_m_per_10min\": 0.1,"
                     " \"fast_hysteresis_m\": 0.1, \"fast_hold_s\": 1800}";
    CHECK(fw_config_parse(ex, strlen(ex), &run, &c) == FW_OK);
    CHECK_EQ_INT(c.version, 3);
    CHECK_EQ_INT(c.interval_ms, 600000);
    CHECK_EQ_INT(c.sample_ms, 60000);
    CHECK_EQ_INT(c.fast_interval_ms, 60000);
    CHECK_EQ_INT(c.fast_start_level_mm, 1200);
    CHECK_EQ_INT(c.fast_start_rise_mm_per_10min, 100);
    CHECK_EQ_INT(c.fast_hysteresis_mm, 100);
    CHECK_EQ_INT(c.fast_hold_ms, 1800000);
    CHECK(c.has == (FW_CFG_FAST_INTERVAL | FW_CFG_START_LEVEL | FW_CFG_START_RISE |
                    FW_CFG_HYSTERESIS | FW_CFG_HOLD));
    /* stale: same or lower version */
    struct fw_config c2;
    CHECK(fw_config_parse(ex, strlen(ex), &c, &c2) == FW_ESTALE);
    const char *minimal = "{\"version\":4,\"interval_s\":300}";
    CHECK(fw_config_parse(minimal, strlen(minimal), &c, &c2) == FW_OK);
    CHECK_EQ_INT(c2.interval_ms, 300000);
    CHECK_EQ_INT(c2.sample_ms, 60000); /* kept */
    CHECK_EQ_INT(c2.has, 0);
    static const char *const bad[] = {
        "{\"interval_s\":600}",                                     /* no version */
        "{\"version\":0,\"interval_s\":600}",                       /* version >= 1 */
        "{\"version\":9,\"interval_s\":9}",                         /* interval >= 10 */
        "{\"version\":9,\"interval_s\":600.5}",                     /* integer */
        "{\"version\":9,\"interval_s\":600,\"colour\":1}",          /* unknown key */
        "{\"version\":9,\"interval_s\":600,\"fast_start_level_m\":1}", /* needs fast_interval_s */
        "{\"version\":9,\"interval_s\":60,\"fast_interval_s\":120}",   /* fast > normal */
        "{\"version\":9,\"interval_s\":60,\"sample_s\":120}",          /* sample > interval */
        "{\"version\":9,\"interval_s\":600,\"fast_interval_s\":60,\"fast_start_rise_m_per_10min\":0}",
        "{\"version\":9,\"interval_s\":600,\"fast_interval_s\":60,\"fast_start_level_m\":101}",
        "{\"version\":9,\"interval_s\":600,\"fast_interval_s\":60,\"fast_hysteresis_m\":0.1}",
        "{\"version\":\"9\",\"interval_s\":600}",
        "not json",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum fw_rc rc = fw_config_parse(bad[i], strlen(bad[i]), &c, &c2);
        CHECK_EQ_INT(rc, FW_EINVAL);
        if (rc != FW_EINVAL)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
    }

    /* the stored block: round trip, then every corrupted byte is refused */
    struct fw_port port;
    sim_init(&sim);
    sim_port(&sim, &port);
    struct fw_config loaded = run;
    CHECK(fw_config_load(&port, 100, &loaded) == FW_ECRC); /* erased storage */
    CHECK(fw_config_save(&port, 100, &c) == FW_OK);
    CHECK(fw_config_load(&port, 100, &loaded) == FW_OK);
    CHECK(memcmp(&loaded, &c, sizeof c) == 0);
    int refused = 0;
    for (unsigned i = 0; i < 44; i++) {
        sim.nv[100 + i] ^= 0x10;
        struct fw_config x = run;
        if (fw_config_load(&port, 100, &x) == FW_ECRC && memcmp(&x, &run, sizeof x) == 0)
            refused++;
        sim.nv[100 + i] ^= 0x10;
    }
    CHECK_EQ_INT(refused, 44);
}

int main(void)
{
    test_writer();
    test_reader();
    test_config();
    return tk_check_result("fw_json");
}
