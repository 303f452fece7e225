/* The POSIX port's scenarios (host only): the rain storm fills a sewer past warning levels
 * at more than 100 mm/min at its steepest, the festival surges, the quiet night is quiet;
 * the MAC list parser takes the usual textual forms and refuses junk. */
#include <math.h>
#include <string.h>

#include "scenario.h"
#include "tk_check.h"

static double max_rise_mm_per_min(struct scenario *s, double from, double to, double *peak)
{
    double best = 0, prev = scenario_level_mm(s, from);
    *peak = prev;
    for (double t = from + 60; t <= to; t += 60) {
        double lv = scenario_level_mm(s, t);
        if (lv - prev > best)
            best = lv - prev;
        if (lv > *peak)
            *peak = lv;
        prev = lv;
    }
    return best;
}

static void test_rain_storm(void)
{
    for (uint64_t seed = 1; seed < 40; seed++) {
        struct scenario s;
        scenario_init(&s, SCEN_RAIN_STORM, seed);
        double peak;
        double dry = scenario_level_mm(&s, 30);
        CHECK(dry > 100 && dry < 320);
        double rise = max_rise_mm_per_min(&s, 0, 4 * 3600, &peak);
        CHECK(rise > 100 && rise < 200);    /* steepest minute: typhoon-class */
        CHECK(peak > 2000 && peak < 3000);  /* past a 1.5-2.0 m warning level */
        CHECK(scenario_level_mm(&s, 6 * 3600) < 1000); /* and it recedes */
    }
    struct scenario d;
    scenario_init(&d, SCEN_DRY, 7);
    double peak;
    CHECK(max_rise_mm_per_min(&d, 0, 4 * 3600, &peak) < 5);
    CHECK(peak < 320);
}

static uint32_t count_in_after(enum scen_kind k, double t)
{
    struct scenario s;
    int32_t v0, v1;
    scenario_init(&s, k, 3);
    CHECK_EQ_INT(scenario_read(&s, t, FW_CH_COUNT_IN, &v0, sizeof v0), FW_OK);
    CHECK_EQ_INT(scenario_read(&s, t + 3600, FW_CH_COUNT_IN, &v1, sizeof v1), FW_OK);
    return (uint32_t)(v1 - v0);
}

static unsigned distinct_stations(enum scen_kind k, double t0)
{
    static uint8_t seen[65536];
    struct scenario s;
    struct fw_wifi_event ev;
    unsigned n = 0;
    memset(seen, 0, sizeof seen);
    scenario_init(&s, k, 5);
    s.last_wifi_t = t0;
    for (double t = t0; t < t0 + 600; t += 0.5)
        while (scenario_read(&s, t, FW_CH_WIFI_EVENT, &ev, sizeof ev) == FW_OK)
            if (!(ev.mac[0] & 2)) {
                unsigned key = (unsigned)ev.mac[3] << 8 | ev.mac[4];
                n += !seen[key];
                seen[key] = 1;
            }
    return n;
}

static void test_crowds(void)
{
    uint32_t dry = count_in_after(SCEN_DRY, 3600), fest = count_in_after(SCEN_FESTIVAL, 3600);
    uint32_t night = count_in_after(SCEN_QUIET_NIGHT, 3600);
    CHECK(dry > 500 && dry < 1700);        /* 0.3 a second */
    CHECK(fest > 5 * dry);                 /* the surge */
    CHECK(night * 10 < dry);
    unsigned w_dry = distinct_stations(SCEN_DRY, 3600);
    unsigned w_fest = distinct_stations(SCEN_FESTIVAL, 3600);
    unsigned w_night = distinct_stations(SCEN_QUIET_NIGHT, 3600);
    CHECK(w_dry > 250 && w_dry <= 300);
    CHECK(w_fest > 1200 && w_fest <= 1500);
    CHECK(w_night > 10 && w_night <= 30);
}

static void test_names_and_macs(void)
{
    enum scen_kind k;
    CHECK_EQ_INT(scenario_parse("rain-storm", &k), 0);
    CHECK_EQ_INT(k, SCEN_RAIN_STORM);
    CHECK_EQ_INT(scenario_parse("quiet-night", &k), 0);
    CHECK_EQ_INT(scenario_parse("storm", &k), 0);
    CHECK_EQ_INT(k, SCEN_RAIN_STORM);
    CHECK(scenario_parse("hurricane", &k) != 0);
    CHECK_EQ_STR(scenario_name(SCEN_FESTIVAL), "festival");

    struct scen_mac m[4];
    int line = 0;
    CHECK_EQ_INT(scenario_parse_macs("# test\n00:1B:63:aa:01:02 assoc\nda-a1-19-5e-77-01 probe\n"
                                     "\n0a0b0c0d0e0f probe\n",
                                     m, 4, &line),
                 3);
    CHECK(m[0].mac[1] == 0x1b && m[0].mac[5] == 0x02 && m[0].associated == 1);
    CHECK(m[1].mac[0] == 0xda && m[1].associated == 0);
    CHECK(m[2].mac[5] == 0x0f);
    CHECK_EQ_INT(scenario_parse_macs("00:1b:63:aa:01:02 assoc\n00:1b:63 probe\n", m, 4, &line),
                 -1);
    CHECK_EQ_INT(line, 2);
    CHECK_EQ_INT(scenario_parse_macs("00:1b:63:aa:01:02 maybe\n", m, 4, &line), -1);
}

int main(void)
{
    test_rain_storm();
    test_crowds();
    test_names_and_macs();
    return tk_check_result("fw_scenario");
}
