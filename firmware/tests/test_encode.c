/* The encoder's payloads, byte for byte (on the host and on the Cortex-M3). */
#include "fw_reading.h"
#include "tk_check.h"

static char buf[512];

static const char *enc(const struct fw_reading *r, const char *id)
{
    size_t len = 0;
    enum fw_rc rc = fw_reading_encode(r, id, buf, sizeof buf, &len);
    if (rc)
        return "error";
    CHECK_EQ_INT(len, strlen(buf));
    return buf;
}

static void test_kinds(void)
{
    struct fw_reading r = {0};
    r.kind = FW_KIND_WATER_LEVEL;
    r.seq = 42;
    r.ts_ms = 1795651200000LL;
    r.has = FW_R_DISTANCE | FW_R_BATTERY | FW_R_TEMP;
    r.distance_mm = 2700;
    r.battery_mv = 3610;
    r.temp_cc = 1450;
    CHECK_EQ_STR(enc(&r, "gauge-001"),
                 "{\"v\":1,\"id\":\"gauge-001\",\"seq\":42,\"ts\":\"2026-11-26T00:00:00.000000Z\","
                 "\"distance_mm\":2700,\"battery_v\":3.61,\"temp_c\":14.5}");
    r.has = FW_R_PRESSURE;
    r.pressure_pa = 9807;
    r.seq = 4294967295u;
    r.ts_ms = 1795651200250LL;
    CHECK_EQ_STR(enc(&r, "gauge-001"),
                 "{\"v\":1,\"id\":\"gauge-001\",\"seq\":4294967295,\"ts\":\"2026-11-26T00:00:00.250000Z\","
                 "\"pressure_kpa\":9.807}");
    r.has = FW_R_LEVEL | FW_R_BATTERY;
    r.level_mm = -20;
    r.battery_mv = 4000;
    r.seq = 0;
    CHECK_EQ_STR(enc(&r, "wl-x"),
                 "{\"v\":1,\"id\":\"wl-x\",\"seq\":0,\"ts\":\"2026-11-26T00:00:00.250000Z\","
                 "\"level_m\":-0.02,\"battery_v\":4}");

    struct fw_reading p = {0};
    p.kind = FW_KIND_PEOPLE_FLOW;
    p.seq = 7;
    p.ts_ms = 1795651200000LL;
    p.interval_s = 900;
    p.in = 12;
    p.out = 7;
    p.has = FW_R_CUM_IN | FW_R_CUM_OUT;
    p.cum_in = 123456;
    p.cum_out = 9007199254740991ULL;
    CHECK_EQ_STR(enc(&p, "pc-shibuya-01"),
                 "{\"v\":1,\"id\":\"pc-shibuya-01\",\"seq\":7,\"ts\":\"2026-11-26T00:00:00.000000Z\","
                 "\"interval_s\":900,\"in\":12,\"out\":7,\"cum_in\":123456,\"cum_out\":9007199254740991}");

    struct fw_reading a = {0};
    a.kind = FW_KIND_WIFI_AP;
    a.seq = 3;
    a.ts_ms = 1795652100000LL;
    a.interval_s = 300;
    a.unique_devices = 412;
    a.associated = 57;
    CHECK_EQ_STR(enc(&a, "ap-station-3"),
                 "{\"v\":1,\"id\":\"ap-station-3\",\"seq\":3,\"ts\":\"2026-11-26T00:15:00.000000Z\","
                 "\"interval_s\":300,\"unique_devices\":412,\"associated\":57}");
    a.has = FW_R_PROBE_ONLY;
    a.probe_only = 25;
    CHECK(strstr(enc(&a, "ap-station-3"), ",\"associated\":57,\"probe_only\":25}") != NULL);

    /* refusals */
    size_t len;
    CHECK(fw_reading_encode(&a, "AP", buf, sizeof buf, &len) == FW_EINVAL);
    CHECK(fw_reading_encode(&a, "ap/x", buf, sizeof buf, &len) == FW_EINVAL);
    CHECK(fw_reading_encode(&a, "ap-station-3", buf, 40, &len) == FW_EFULL);
    /* every truncation length fails cleanly */
    size_t full = strlen(enc(&p, "pc-shibuya-01"));
    for (size_t cap = 0; cap <= full; cap++)
        CHECK(fw_reading_encode(&p, "pc-shibuya-01", buf, cap, &len) == FW_EFULL);
    CHECK(fw_reading_encode(&p, "pc-shibuya-01", buf, full + 1, &len) == FW_OK);
}

static void test_status(void)
{
    struct fw_status s = {1, "1.2.0", 3600, -95, 3, 0, 2};
    size_t len;
    CHECK(fw_status_encode(&s, buf, sizeof buf, &len) == FW_OK);
    CHECK_EQ_STR(buf, "{\"state\":\"online\",\"fw\":\"1.2.0\",\"battery_v\":3.6,\"rssi_dbm\":-95,"
                      "\"buffered\":3,\"dropped\":0,\"config_version\":2}");
    s.online = 0;
    CHECK(fw_status_encode(&s, buf, sizeof buf, &len) == FW_OK);
    CHECK_EQ_STR(buf, "{\"state\":\"offline\",\"fw\":\"1.2.0\"}");
    s.online = 1;
    s.battery_mv = -1;
    s.rssi_dbm = 1;
    CHECK(fw_status_encode(&s, buf, sizeof buf, &len) == FW_OK);
    CHECK_EQ_STR(buf, "{\"state\":\"online\",\"fw\":\"1.2.0\",\"buffered\":3,\"dropped\":0,"
                      "\"config_version\":2}");
}

int main(void)
{
    test_kinds();
    test_status();
    return tk_check_result("fw_encode");
}
