/* Normalisation of each kind and each water-level variant. */
#include <math.h>
#include <string.h>

#include "normalize.h"
#include "tk_check.h"

static int near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

int main(void)
{
    struct ing_norm nm = {0};
    struct tk_error e = {0};
    struct store_device dev = {.kind = TK_KIND_WATER_LEVEL, .mount_height_m = 3.2};
    snprintf(dev.id, sizeof dev.id, "wl-1");
    struct tk_reading r = {.kind = TK_KIND_WATER_LEVEL, .seq = 1, .ts_us = 1000000};

    r.has = TK_F_LEVEL_M | TK_F_BATTERY_V;
    r.level_m = 0.42;
    r.battery_v = 3.6;
    CHECK_EQ_INT(ing_normalize(&r, &dev, 0, 0, 0, &nm, &e), TK_OK);
    CHECK_EQ_INT(nm.n, 2);
    CHECK_EQ_INT(nm.obs[0].q, TK_Q_WATER_LEVEL);
    CHECK(near(nm.obs[0].result, 0.42));
    CHECK_EQ_INT(nm.obs[1].q, TK_Q_BATTERY_VOLTAGE);
    CHECK_EQ_INT(nm.params_len, 0);

    r.has = TK_F_DISTANCE_MM;
    r.distance_mm = 2700;
    CHECK_EQ_INT(ing_normalize(&r, &dev, 0, 0, 0, &nm, &e), TK_OK);
    CHECK(near(nm.obs[0].result, 0.5));
    CHECK(strstr(nm.params, "\"distance_mm\":2700") != NULL);

    /* derived levels carry no floating-point noise */
    dev.mount_height_m = 3.2;
    r.distance_mm = 1434;
    CHECK_EQ_INT(ing_normalize(&r, &dev, 0, 0, 0, &nm, &e), TK_OK);
    CHECK(nm.obs[0].result == 1.766);

    dev.mount_height_m = 0;
    CHECK_EQ_INT(ing_normalize(&r, &dev, 0, 0, 0, &nm, &e), TK_EINVAL);
    CHECK_EQ_STR(e.path, "/distance_mm");
    CHECK(strstr(e.text, "mount height") != NULL);

    r.has = TK_F_PRESSURE_KPA | TK_F_TEMP_C;
    r.pressure_kpa = 9.80665;
    r.temp_c = 12.5;
    CHECK_EQ_INT(ing_normalize(&r, &dev, 0, 0, 0, &nm, &e), TK_OK);
    CHECK(near(nm.obs[0].result, 1.0));
    CHECK_EQ_INT(nm.obs[1].q, TK_Q_WATER_TEMPERATURE);

    /* unknown fields are carried into the parameters */
    char extra[] = "{\"firmware_note\":\"x\",\"vibration\":3}";
    r.has = TK_F_LEVEL_M;
    r.extra = extra;
    CHECK_EQ_INT(ing_normalize(&r, &dev, 0, 0, 0, &nm, &e), TK_OK);
    CHECK_EQ_STR(nm.params, "{\"firmware_note\":\"x\",\"vibration\":3}");
    r.has = TK_F_PRESSURE_KPA;
    CHECK_EQ_INT(ing_normalize(&r, &dev, 0, 0, 0, &nm, &e), TK_OK);
    CHECK_EQ_STR(nm.params, "{\"firmware_note\":\"x\",\"vibration\":3,\"pressure_kpa\":9.80665}");
    r.extra = NULL;

    /* people flow: interval phenomenon time, counter reset flagged */
    struct store_device pf = {.kind = TK_KIND_PEOPLE_FLOW};
    struct tk_reading p = {.kind = TK_KIND_PEOPLE_FLOW, .seq = 2, .ts_us = 900000000,
                           .interval_s = 900, .in = 5, .out = 7, .cum_in = 3, .cum_out = 100,
                           .has = TK_F_CUM_IN | TK_F_CUM_OUT};
    CHECK_EQ_INT(ing_normalize(&p, &pf, 1, 50, 90, &nm, &e), TK_OK);
    CHECK_EQ_INT(nm.n, 2);
    CHECK_EQ_INT(nm.obs[0].t_us, 0);
    CHECK_EQ_INT(nm.obs[0].t_end_us, 900000000);
    CHECK(near(nm.obs[1].result, 7));
    CHECK(strstr(nm.params, "\"counter_reset\":true") != NULL);
    CHECK_EQ_INT(ing_normalize(&p, &pf, 1, 2, 90, &nm, &e), TK_OK);
    CHECK(strstr(nm.params, "counter_reset") == NULL);

    /* wifi */
    struct store_device ap = {.kind = TK_KIND_WIFI_AP};
    struct tk_reading wr = {.kind = TK_KIND_WIFI_AP, .ts_us = 60000000, .interval_s = 60,
                            .unique_devices = 12, .associated = 4, .probe_only = 8,
                            .has = TK_F_PROBE_ONLY};
    CHECK_EQ_INT(ing_normalize(&wr, &ap, 0, 0, 0, &nm, &e), TK_OK);
    CHECK_EQ_INT(nm.n, 3);
    CHECK_EQ_INT(nm.obs[2].q, TK_Q_PROBE_ONLY);

    /* kind mismatch */
    CHECK_EQ_INT(ing_normalize(&wr, &dev, 0, 0, 0, &nm, &e), TK_EINVAL);

    ing_norm_free(&nm);
    return tk_check_result("ingest_normalize");
}
