/* Alerts, backend-independent part: names of the enums, the default settings derived from
 * a gauge's calibration, the settings' rules, their JSON (schemas/alert-config.schema.json)
 * and the alert's JSON (schemas/alert.schema.json, the city/alerts/{id} payload and the
 * API's alert body: one renderer for both), then the store.h entry points. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "tk_time.h"

static const char *const cond_names[STORE_ALERT_NCOND] = {"level", "rise", "silence"};
static const char *const sev_names[] = {"none", "caution", "warning", "danger"};
static const char *const event_names[] = {"raised", "escalated", "deescalated", "cleared"};
static const char *const units[STORE_ALERT_NCOND] = {"m", "m/10min", "s"};

const char *store_alert_cond_name(enum store_alert_cond c)
{
    return (unsigned)c < STORE_ALERT_NCOND ? cond_names[c] : NULL;
}

const char *store_alert_sev_name(enum store_alert_sev s)
{
    return s >= STORE_SEV_CAUTION && s <= STORE_SEV_DANGER ? sev_names[s] : NULL;
}

const char *store_alert_event_name(enum store_alert_event e)
{
    return (unsigned)e <= STORE_EV_CLEARED ? event_names[e] : NULL;
}

const char *store_alert_unit(enum store_alert_cond c)
{
    return (unsigned)c < STORE_ALERT_NCOND ? units[c] : NULL;
}

static int find(const char *const *names, int lo, int n, const char *s, size_t len)
{
    for (int i = lo; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

int store_alert_cond_find(const char *s, size_t n)
{
    return find(cond_names, 0, STORE_ALERT_NCOND, s, n);
}

int store_alert_sev_find(const char *s, size_t n)
{
    return find(sev_names, STORE_SEV_CAUTION, STORE_SEV_DANGER + 1, s, n);
}

/* ---- settings ---------------------------------------------------------------------- */

void store_alert_config_default(const struct store_device *dev, struct store_alert_config *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->device_id, sizeof out->device_id, "%s", dev->id);
    double h = dev->mount_height_m;
    if (h > 0.2) {
        /* round to millimetres: these are shown to people */
        out->caution_m = round(h * 500.0) / 1000.0;
        out->warning_m = round(h * 700.0) / 1000.0;
        out->danger_m = round(h * 850.0) / 1000.0;
    } else {
        out->caution_m = 1.0;
        out->warning_m = 1.5;
        out->danger_m = 2.0;
    }
    out->rise_m_per_10min = 0.3;
    out->hysteresis_m = 0.05;
    out->silence_intervals = 3;
    out->interval_s = 600;
    out->fast_interval_s = 60;
    double gap = out->warning_m - out->caution_m;
    if (out->hysteresis_m >= gap / 2)
        out->hysteresis_m = round(gap * 250.0) / 1000.0; /* a quarter of the smallest gap */
}

static enum tk_rc bad(struct tk_error *err, const char *path, const char *fmt, ...) TK_PRINTF(3, 4);
static enum tk_rc bad(struct tk_error *err, const char *path, const char *fmt, ...)
{
    char text[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return tk_error_set(err, TK_EINVAL, path, "%s", text);
}

enum tk_rc store_alert_config_check(const struct store_alert_config *c, struct tk_error *err)
{
    const struct {
        const char *name;
        double v, lo, hi;
        int lo_open;
    } r[] = {
        {"/caution_m", c->caution_m, 0, 100, 1},
        {"/warning_m", c->warning_m, 0, 100, 1},
        {"/danger_m", c->danger_m, 0, 100, 1},
        {"/rise_m_per_10min", c->rise_m_per_10min, 0, 10, 1},
        {"/hysteresis_m", c->hysteresis_m, 0, 10, 0},
        {"/silence_intervals", (double)c->silence_intervals, 1, 1000, 0},
        {"/interval_s", (double)c->interval_s, 10, 86400, 0},
        {"/fast_interval_s", (double)c->fast_interval_s, 10, 3600, 0},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        if (!isfinite(r[i].v) || r[i].v > r[i].hi || r[i].v < r[i].lo ||
            (r[i].lo_open && r[i].v <= r[i].lo))
            return bad(err, r[i].name, "must be %s %g and at most %g",
                       r[i].lo_open ? "greater than" : "at least", r[i].lo, r[i].hi);
    }
    if (!(c->caution_m < c->warning_m))
        return bad(err, "/warning_m",
                   "the warning level (%g m) must be above the caution level (%g m)", c->warning_m,
                   c->caution_m);
    if (!(c->warning_m < c->danger_m))
        return bad(err, "/danger_m",
                   "the danger level (%g m) must be above the warning level (%g m)", c->danger_m,
                   c->warning_m);
    double gap = fmin(c->caution_m, fmin(c->warning_m - c->caution_m, c->danger_m - c->warning_m));
    if (!(c->hysteresis_m < gap))
        return bad(err, "/hysteresis_m",
                   "the hysteresis (%g m) must be smaller than the caution level and the gap "
                   "between neighbouring levels (%g m)",
                   c->hysteresis_m, gap);
    if (c->fast_interval_s > c->interval_s)
        return bad(err, "/fast_interval_s",
                   "the fast interval (%lld s) must not exceed the normal interval (%lld s)",
                   (long long)c->fast_interval_s, (long long)c->interval_s);
    return TK_OK;
}

enum tk_rc store_alert_config_parse(const char *buf, size_t len, struct store_alert_config *c,
                                    struct tk_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return tk_error_set(err, TK_EINVAL, "", "not JSON: %s (at character %d)", je.text,
                            je.position);
    enum tk_rc rc = TK_OK;
    if (!json_is_object(root)) {
        rc = tk_error_set(err, TK_EINVAL, "", "the settings must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        double *d = NULL;
        int64_t *i = NULL;
        if (strcmp(key, "caution_m") == 0)
            d = &c->caution_m;
        else if (strcmp(key, "warning_m") == 0)
            d = &c->warning_m;
        else if (strcmp(key, "danger_m") == 0)
            d = &c->danger_m;
        else if (strcmp(key, "rise_m_per_10min") == 0)
            d = &c->rise_m_per_10min;
        else if (strcmp(key, "hysteresis_m") == 0)
            d = &c->hysteresis_m;
        else if (strcmp(key, "silence_intervals") == 0)
            i = &c->silence_intervals;
        else if (strcmp(key, "interval_s") == 0)
            i = &c->interval_s;
        else if (strcmp(key, "fast_interval_s") == 0)
            i = &c->fast_interval_s;
        else if (strcmp(key, "device_id") == 0 || strcmp(key, "source") == 0)
            continue; /* read-only members a client may send back as it got them */
        else {
            rc = tk_error_set(err, TK_EINVAL, "", "unknown member '%.64s'", key);
            goto out;
        }
        if (!json_is_number(v)) {
            rc = tk_error_set(err, TK_EINVAL, "", "member '%s' must be a number", key);
            goto out;
        }
        double x = json_number_value(v);
        if (d) {
            *d = x;
        } else {
            if (x != floor(x) || fabs(x) > 1e15) {
                rc = tk_error_set(err, TK_EINVAL, "", "member '%s' must be a whole number", key);
                goto out;
            }
            *i = (int64_t)x;
        }
    }
    rc = store_alert_config_check(c, err);
out:
    json_decref(root);
    return rc;
}

/* A number in the shortest form that reads back the same. */
static int num(char *buf, size_t size, double v)
{
    char t[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v)
            break;
    }
    return snprintf(buf, size, "%s", t);
}

enum tk_rc store_alert_config_json(const struct store_alert_config *c, char *buf, size_t size,
                                   size_t *len)
{
    char n[5][40];
    num(n[0], sizeof n[0], c->caution_m);
    num(n[1], sizeof n[1], c->warning_m);
    num(n[2], sizeof n[2], c->danger_m);
    num(n[3], sizeof n[3], c->rise_m_per_10min);
    num(n[4], sizeof n[4], c->hysteresis_m);
    int k = snprintf(buf, size,
                     "{\"device_id\":\"%s\",\"source\":\"%s\",\"caution_m\":%s,\"warning_m\":%s,"
                     "\"danger_m\":%s,\"rise_m_per_10min\":%s,\"silence_intervals\":%lld,"
                     "\"hysteresis_m\":%s,\"interval_s\":%lld,\"fast_interval_s\":%lld}",
                     c->device_id, c->is_set ? "set" : "default", n[0], n[1], n[2], n[3],
                     (long long)c->silence_intervals, n[4], (long long)c->interval_s,
                     (long long)c->fast_interval_s);
    if (k < 0 || (size_t)k >= size)
        return TK_EFULL;
    *len = (size_t)k;
    return TK_OK;
}

/* ---- the alert's JSON ------------------------------------------------------------- */

/* s as JSON string contents (names come from operators: quote, backslash, controls). */
static size_t json_escape(char *out, size_t size, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return o;
}

enum tk_rc store_alert_json(const struct store_alert *a, char *buf, size_t size, size_t *len)
{
    char start[32], end[40] = "null", peak_t[32], upd[32], name[800];
    char value[40], thr[40], peak_v[40], lat[40], lon[40];
    if (!store_alert_cond_name(a->cond) || !store_alert_sev_name(a->severity) ||
        !store_alert_sev_name(a->severity_max) || !store_alert_event_name(a->event))
        return TK_EINVAL;
    if (tk_time_format(a->start_us, start, sizeof start) ||
        tk_time_format(a->peak_us, peak_t, sizeof peak_t) ||
        tk_time_format(a->updated_us, upd, sizeof upd))
        return TK_EINVAL;
    if (!a->active) {
        char e[32];
        if (tk_time_format(a->end_us, e, sizeof e))
            return TK_EINVAL;
        snprintf(end, sizeof end, "\"%s\"", e);
    }
    json_escape(name, sizeof name, a->name);
    num(value, sizeof value, a->value);
    num(thr, sizeof thr, a->threshold);
    num(peak_v, sizeof peak_v, a->peak_value);
    num(lat, sizeof lat, a->lat);
    num(lon, sizeof lon, a->lon);
    int k = snprintf(buf, size,
                     "{\"v\":1,\"id\":%lld,\"device_id\":\"%s\",\"name\":\"%s\","
                     "\"location\":{\"lat\":%s,\"lon\":%s},\"condition\":\"%s\",\"state\":\"%s\","
                     "\"event\":\"%s\",\"severity\":\"%s\",\"severity_max\":\"%s\",\"value\":%s,"
                     "\"threshold\":%s,\"unit\":\"%s\",\"start\":\"%s\",\"end\":%s,"
                     "\"peak\":{\"value\":%s,\"time\":\"%s\"},\"updated\":\"%s\",\"rev\":%lld}",
                     (long long)a->id, a->device_id, name, lat, lon, store_alert_cond_name(a->cond),
                     a->active ? "active" : "cleared", store_alert_event_name(a->event),
                     store_alert_sev_name(a->severity), store_alert_sev_name(a->severity_max),
                     value, thr, store_alert_unit(a->cond), start, end, peak_v, peak_t, upd,
                     (long long)a->rev);
    if (k < 0 || (size_t)k >= size)
        return TK_EFULL;
    *len = (size_t)k;
    return TK_OK;
}

/* ---- store.h entry points ------------------------------------------------------------ */

enum tk_rc store_alert_config_get(struct store *st, const char *device_id,
                                  struct store_alert_config *out)
{
    if (!st || !device_id || !out)
        return TK_EINVAL;
    if (!st->ops->alert_config_get)
        return store__unsupported(st, "alerts");
    return st->ops->alert_config_get(st, device_id, out);
}

enum tk_rc store_alert_config_effective(struct store *st, const struct store_device *dev,
                                        struct store_alert_config *out)
{
    if (!st || !dev || !out)
        return TK_EINVAL;
    if (!st->ops->alert_config_get)
        return store__unsupported(st, "alerts");
    enum tk_rc rc = st->ops->alert_config_get(st, dev->id, out);
    if (rc == TK_ENOTFOUND) {
        store_alert_config_default(dev, out);
        rc = TK_OK;
    }
    return rc;
}

enum tk_rc store_alert_config_put(struct store *st, const struct store_alert_config *c)
{
    struct tk_error e = {0};
    if (!st || !c || !tk_device_id_valid(c->device_id))
        return TK_EINVAL;
    if (store_alert_config_check(c, &e))
        return store__fail(st, TK_EINVAL, "%s: %s", e.path, e.text);
    struct store_alert_config s = *c;
    int64_t now = tk_now_utc_us();
    s.updated_us = now > c->updated_us ? now : c->updated_us + 1;
    if (!st->ops->alert_config_put)
        return store__unsupported(st, "alerts");
    return st->ops->alert_config_put(st, &s);
}

enum tk_rc store_alert_config_stamp(struct store *st, int64_t *stamp)
{
    if (!st || !stamp)
        return TK_EINVAL;
    if (!st->ops->alert_config_stamp)
        return store__unsupported(st, "alerts");
    return st->ops->alert_config_stamp(st, stamp);
}

static int alert_valid(const struct store_alert *a)
{
    return tk_device_id_valid(a->device_id) && store_alert_cond_name(a->cond) &&
           store_alert_sev_name(a->severity) && store_alert_sev_name(a->severity_max) &&
           store_alert_event_name(a->event) && a->rev >= 1;
}

enum tk_rc store_alert_add(struct store *st, struct store_alert *a)
{
    if (!st || !a || !alert_valid(a))
        return TK_EINVAL;
    if (!st->ops->alert_add)
        return store__unsupported(st, "alerts");
    return st->ops->alert_add(st, a);
}

enum tk_rc store_alert_update(struct store *st, const struct store_alert *a)
{
    if (!st || !a || a->id <= 0 || !alert_valid(a))
        return TK_EINVAL;
    if (!st->ops->alert_update)
        return store__unsupported(st, "alerts");
    return st->ops->alert_update(st, a);
}

enum tk_rc store_alert_get(struct store *st, int64_t id, struct store_alert *out)
{
    if (!st || !out)
        return TK_EINVAL;
    if (id <= 0)
        return store__fail(st, TK_ENOTFOUND, "no alert %lld", (long long)id);
    if (!st->ops->alert_get)
        return store__unsupported(st, "alerts");
    return st->ops->alert_get(st, id, out);
}

enum tk_rc store_alert_list(struct store *st, const struct store_alert_filter *f, store_alert_cb cb,
                            void *ud, int64_t *total)
{
    if (!st || !f || !cb)
        return TK_EINVAL;
    if (!st->ops->alert_list)
        return store__unsupported(st, "alerts");
    return st->ops->alert_list(st, f, cb, ud, total);
}

enum tk_rc store_alert_device_get(struct store *st, const char *device_id,
                                  struct store_alert_device *out)
{
    if (!st || !device_id || !out)
        return TK_EINVAL;
    if (!st->ops->alert_device_get)
        return store__unsupported(st, "alerts");
    return st->ops->alert_device_get(st, device_id, out);
}

enum tk_rc store_alert_device_put(struct store *st, const char *device_id,
                                  const struct store_alert_device *d)
{
    if (!st || !device_id || !d)
        return TK_EINVAL;
    if (!st->ops->alert_device_put)
        return store__unsupported(st, "alerts");
    return st->ops->alert_device_put(st, device_id, d);
}

enum tk_rc store_device_status_put(struct store *st, const struct store_device_status *s)
{
    if (!st || !s || !tk_device_id_valid(s->device_id))
        return TK_EINVAL;
    if (!st->ops->device_status_put)
        return store__unsupported(st, "alerts");
    return st->ops->device_status_put(st, s);
}

enum tk_rc store_device_status_get(struct store *st, const char *device_id,
                                   struct store_device_status *out)
{
    if (!st || !device_id || !out)
        return TK_EINVAL;
    if (!st->ops->device_status_get)
        return store__unsupported(st, "alerts");
    return st->ops->device_status_get(st, device_id, out);
}
