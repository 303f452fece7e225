/* Normalisation.
 *
 * Water level: level_m is taken as is; an ultrasonic distance is turned into a level
 * with the device's calibrated mount height (level = mount height - distance); a
 * submerged pressure is turned into a water column above the sensor (p / (rho g)).
 * The raw value is kept in the observation parameters so a later recalibration can
 * recompute it.
 *
 * Interval counts (people_flow, wifi_ap): "ts" is the end of the counting interval, so
 * phenomenonTime is the interval [ts - interval_s, ts]. Cumulative counters are kept in
 * the parameters; a counter lower than the previous one marks a reset (device reboot),
 * which is flagged rather than turned into a negative count. */
#include "normalize.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRAVITY 9.80665

void ing_norm_free(struct ing_norm *nm)
{
    if (!nm)
        return;
    free(nm->params);
    nm->params = NULL;
    nm->params_len = nm->params_cap = 0;
}

/* Derived levels are rounded to the micrometre: finer digits are floating-point noise
 * (3.2 - 1.434 is 1.7660000000000002), far below any gauge's resolution. */
static double to_micrometre(double m)
{
    return round(m * 1e6) / 1e6;
}

double ing_level_from_distance(double distance_mm, double mount_height_m)
{
    return to_micrometre(mount_height_m - distance_mm / 1000.0);
}

double ing_level_from_pressure(double pressure_kpa, double density_kg_m3)
{
    if (density_kg_m3 <= 0)
        density_kg_m3 = 1000.0;
    return to_micrometre(pressure_kpa * 1000.0 / (density_kg_m3 * GRAVITY));
}

static enum tk_rc params_reserve(struct ing_norm *nm, size_t extra)
{
    if (nm->params_len + extra + 1 <= nm->params_cap)
        return TK_OK;
    size_t cap = nm->params_cap ? nm->params_cap : 256;
    while (cap < nm->params_len + extra + 1)
        cap *= 2;
    char *p = realloc(nm->params, cap);
    if (!p)
        return TK_ENOMEM;
    nm->params = p;
    nm->params_cap = cap;
    return TK_OK;
}

/* Append ,"key":<printf value> to the parameters object being built (opened lazily). */
static enum tk_rc param_add(struct ing_norm *nm, const char *key, const char *fmt, ...)
    TK_PRINTF(3, 4);
static enum tk_rc param_add(struct ing_norm *nm, const char *key, const char *fmt, ...)
{
    char val[64];
    va_list ap;
    va_start(ap, fmt);
    int vn = vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    if (vn < 0 || (size_t)vn >= sizeof val)
        return TK_EINVAL;
    size_t need = strlen(key) + (size_t)vn + 6;
    if (params_reserve(nm, need))
        return TK_ENOMEM;
    nm->params_len += (size_t)snprintf(nm->params + nm->params_len, nm->params_cap - nm->params_len,
                                       "%s\"%s\":%s", nm->params_len ? "," : "{", key, val);
    return TK_OK;
}

/* Append ,"key":<number> with the shortest text that reads back as the same double. */
static enum tk_rc param_num(struct ing_norm *nm, const char *key, double v)
{
    char txt[TK_JSON_NUMBER_MAX];
    tk_json_number(v, txt);
    return param_add(nm, key, "%s", txt);
}

/* Start the parameters with the reading's unknown fields (a JSON object text). */
static enum tk_rc params_begin(struct ing_norm *nm, const char *extra)
{
    nm->params_len = 0;
    if (!extra)
        return TK_OK;
    size_t n = strlen(extra);
    /* strip the closing brace; "{}" leaves nothing to carry */
    while (n > 0 && extra[n - 1] != '}')
        n--;
    if (n < 2)
        return TK_OK;
    n--; /* drop '}' */
    size_t body = n;
    while (body > 1 && (extra[body - 1] == ' ' || extra[body - 1] == '\n'))
        body--;
    if (body <= 1)
        return TK_OK; /* empty object */
    if (params_reserve(nm, body))
        return TK_ENOMEM;
    memcpy(nm->params, extra, body);
    nm->params_len = body;
    return TK_OK;
}

static void params_end(struct ing_norm *nm)
{
    if (nm->params_len == 0) {
        if (nm->params)
            nm->params[0] = '\0';
        return;
    }
    nm->params[nm->params_len++] = '}';
    nm->params[nm->params_len] = '\0';
}

static void obs_add(struct ing_norm *nm, enum tk_quantity q, int64_t t, int64_t t_end, double v)
{
    struct ing_obs *o = &nm->obs[nm->n++];
    o->q = q;
    o->t_us = t;
    o->t_end_us = t_end;
    o->result = v;
}

static enum tk_rc water_level(const struct tk_reading *r, const struct store_device *dev,
                              struct ing_norm *nm, struct tk_error *err)
{
    double level;
    enum tk_rc rc = TK_OK;
    if (r->has & TK_F_LEVEL_M) {
        level = r->level_m;
    } else if (r->has & TK_F_DISTANCE_MM) {
        if (dev->mount_height_m <= 0)
            return tk_error_set(err, TK_EINVAL, "/distance_mm",
                                "device '%s' has no calibrated mount height "
                                "(provision it with --mount-height-m)",
                                dev->id);
        level = ing_level_from_distance(r->distance_mm, dev->mount_height_m);
        if (level < -0.5)
            return tk_error_set(err, TK_EINVAL, "/distance_mm",
                                "distance %.1f mm is beyond the mount height %.3f m by more than "
                                "0.5 m",
                                r->distance_mm, dev->mount_height_m);
        rc = param_num(nm, "distance_mm", r->distance_mm);
        if (!rc)
            rc = param_num(nm, "mount_height_m", dev->mount_height_m);
    } else if (r->has & TK_F_PRESSURE_KPA) {
        level = ing_level_from_pressure(r->pressure_kpa, dev->density_kg_m3);
        rc = param_num(nm, "pressure_kpa", r->pressure_kpa);
    } else {
        return tk_error_set(err, TK_EINVAL, "",
                            "exactly one of level_m, distance_mm, pressure_kpa is required");
    }
    if (rc)
        return rc;
    obs_add(nm, TK_Q_WATER_LEVEL, r->ts_us, 0, level);
    if (r->has & TK_F_BATTERY_V)
        obs_add(nm, TK_Q_BATTERY_VOLTAGE, r->ts_us, 0, r->battery_v);
    if (r->has & TK_F_TEMP_C)
        obs_add(nm, TK_Q_WATER_TEMPERATURE, r->ts_us, 0, r->temp_c);
    return TK_OK;
}

static enum tk_rc people_flow(const struct tk_reading *r, int have_prev, int64_t prev_in,
                              int64_t prev_out, struct ing_norm *nm)
{
    int64_t t0 = r->ts_us - r->interval_s * 1000000;
    enum tk_rc rc = TK_OK;
    if (r->has & TK_F_CUM_IN)
        rc = param_add(nm, "cum_in", "%lld", (long long)r->cum_in);
    if (!rc && (r->has & TK_F_CUM_OUT))
        rc = param_add(nm, "cum_out", "%lld", (long long)r->cum_out);
    if (!rc && have_prev &&
        (((r->has & TK_F_CUM_IN) && r->cum_in < prev_in) ||
         ((r->has & TK_F_CUM_OUT) && r->cum_out < prev_out)))
        rc = param_add(nm, "counter_reset", "true");
    if (rc)
        return rc;
    obs_add(nm, TK_Q_PEOPLE_IN, t0, r->ts_us, (double)r->in);
    obs_add(nm, TK_Q_PEOPLE_OUT, t0, r->ts_us, (double)r->out);
    return TK_OK;
}

static void wifi_ap(const struct tk_reading *r, struct ing_norm *nm)
{
    int64_t t0 = r->ts_us - r->interval_s * 1000000;
    obs_add(nm, TK_Q_UNIQUE_DEVICES, t0, r->ts_us, (double)r->unique_devices);
    obs_add(nm, TK_Q_ASSOCIATED, t0, r->ts_us, (double)r->associated);
    if (r->has & TK_F_PROBE_ONLY)
        obs_add(nm, TK_Q_PROBE_ONLY, t0, r->ts_us, (double)r->probe_only);
}

enum tk_rc ing_normalize(const struct tk_reading *r, const struct store_device *dev, int have_prev,
                         int64_t prev_cum_in, int64_t prev_cum_out, struct ing_norm *nm,
                         struct tk_error *err)
{
    enum tk_rc rc;
    nm->n = 0;
    if (r->kind != dev->kind)
        return tk_error_set(err, TK_EINVAL, "", "device '%s' is registered as %s, not %s",
                            dev->id, tk_kind_name(dev->kind), tk_kind_name(r->kind));
    rc = params_begin(nm, r->extra);
    if (rc)
        return rc;
    switch (r->kind) {
    case TK_KIND_WATER_LEVEL:
        rc = water_level(r, dev, nm, err);
        break;
    case TK_KIND_PEOPLE_FLOW:
        rc = people_flow(r, have_prev, prev_cum_in, prev_cum_out, nm);
        break;
    case TK_KIND_WIFI_AP:
        wifi_ap(r, nm);
        rc = TK_OK;
        break;
    default:
        rc = tk_error_set(err, TK_EINVAL, "", "unknown kind");
    }
    if (rc)
        return rc;
    params_end(nm);
    return TK_OK;
}
