/* The reading codec: wire JSON <-> struct tk_reading, topics, acks and status.
 *
 * Design note. This is the ingest hot path (tens of thousands of messages a second), so
 * a payload is parsed once with json_loadb and each object is walked once: every key is
 * looked up in a small static table (a switch on its first byte, then one strcmp) that
 * says which kinds own the field, its type and its range. The walk fills the reading and
 * a bit set of the fields seen; required fields and the water-level "exactly one of" rule
 * are checked from that bit set afterwards. Nothing is allocated except the `extra` text,
 * and only when a reading carries fields this version does not know.
 *
 * The rules are those of schemas/reading-*.schema.json, and follow JSON Schema's number
 * model on purpose: an integer field accepts any number with no fractional part (1.0,
 * 1e3), exactly as a JSON Schema "integer" does, so that the C parser and the schemas
 * never disagree about a payload. The single rule the schemas cannot state is that "id"
 * equals the device id of the topic. */
#include "tk_reading.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_time.h"

/* Bounds shared with the schemas. */
#define TS_MS_MIN INT64_C(946684800000)   /* 2000-01-01T00:00:00Z */
#define TS_MS_MAX INT64_C(4102444799999)  /* 2099-12-31T23:59:59.999Z */
#define SAFE_INT_MAX INT64_C(9007199254740991) /* 2^53 - 1: exact in every JSON reader */

static const char *const kind_names[TK_KIND_MAX] = {"water_level", "people_flow", "wifi_ap"};

const char *tk_kind_name(enum tk_kind kind)
{
    if ((int)kind < 0 || kind >= TK_KIND_MAX)
        return NULL;
    return kind_names[kind];
}

enum tk_rc tk_kind_parse(const char *name, enum tk_kind *out)
{
    if (!name || !out)
        return TK_EINVAL;
    for (int k = 0; k < TK_KIND_MAX; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (enum tk_kind)k;
            return TK_OK;
        }
    }
    return TK_EINVAL;
}

static int id_valid_n(const char *id, size_t len)
{
    if (len < 3 || len > TK_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

int tk_device_id_valid(const char *id)
{
    if (!id)
        return 0;
    size_t len = strnlen(id, TK_ID_MAX + 1);
    return id_valid_n(id, len);
}

void tk_reading_clear(struct tk_reading *r)
{
    if (!r)
        return;
    free(r->extra);
    memset(r, 0, sizeof *r);
}

/* ---- the field table ---------------------------------------------------------------- */

enum fid {
    F_V,
    F_ID,
    F_SEQ,
    F_TS,
    F_LEVEL_M,
    F_DISTANCE_MM,
    F_PRESSURE_KPA,
    F_BATTERY_V,
    F_TEMP_C,
    F_INTERVAL_S,
    F_IN,
    F_OUT,
    F_CUM_IN,
    F_CUM_OUT,
    F_UNIQUE_DEVICES,
    F_ASSOCIATED,
    F_PROBE_ONLY,
    F_COUNT
};

#define K_WL (1u << TK_KIND_WATER_LEVEL)
#define K_PF (1u << TK_KIND_PEOPLE_FLOW)
#define K_WA (1u << TK_KIND_WIFI_AP)
#define K_ALL (K_WL | K_PF | K_WA)

enum ftype { T_SPECIAL, T_NUM, T_INT };

struct field {
    const char *name;
    unsigned kinds;   /* kinds that own the field */
    unsigned req;     /* kinds that require it */
    enum ftype type;
    double min, max;  /* T_NUM */
    int64_t imin, imax; /* T_INT */
    unsigned has;     /* TK_F_* bit for optional fields */
    size_t off;       /* offset of the double or int64_t in struct tk_reading */
};

#define OFF(m) offsetof(struct tk_reading, m)
static const struct field fields[F_COUNT] = {
    [F_V] = {"v", K_ALL, K_ALL, T_SPECIAL, 0, 0, 0, 0, 0, 0},
    [F_ID] = {"id", K_ALL, K_ALL, T_SPECIAL, 0, 0, 0, 0, 0, 0},
    [F_SEQ] = {"seq", K_ALL, K_ALL, T_SPECIAL, 0, 0, 0, 0, 0, 0},
    [F_TS] = {"ts", K_ALL, K_ALL, T_SPECIAL, 0, 0, 0, 0, 0, 0},
    [F_LEVEL_M] = {"level_m", K_WL, 0, T_NUM, -1, 100, 0, 0, TK_F_LEVEL_M, OFF(level_m)},
    [F_DISTANCE_MM] = {"distance_mm", K_WL, 0, T_NUM, 0, 100000, 0, 0, TK_F_DISTANCE_MM,
                       OFF(distance_mm)},
    [F_PRESSURE_KPA] = {"pressure_kpa", K_WL, 0, T_NUM, 0, 1000, 0, 0, TK_F_PRESSURE_KPA,
                        OFF(pressure_kpa)},
    [F_BATTERY_V] = {"battery_v", K_WL, 0, T_NUM, 0, 10, 0, 0, TK_F_BATTERY_V, OFF(battery_v)},
    [F_TEMP_C] = {"temp_c", K_WL, 0, T_NUM, -50, 100, 0, 0, TK_F_TEMP_C, OFF(temp_c)},
    [F_INTERVAL_S] = {"interval_s", K_PF | K_WA, K_PF | K_WA, T_INT, 0, 0, 1, 86400, 0,
                      OFF(interval_s)},
    [F_IN] = {"in", K_PF, K_PF, T_INT, 0, 0, 0, 1000000, 0, OFF(in)},
    [F_OUT] = {"out", K_PF, K_PF, T_INT, 0, 0, 0, 1000000, 0, OFF(out)},
    [F_CUM_IN] = {"cum_in", K_PF, 0, T_INT, 0, 0, 0, SAFE_INT_MAX, TK_F_CUM_IN, OFF(cum_in)},
    [F_CUM_OUT] = {"cum_out", K_PF, 0, T_INT, 0, 0, 0, SAFE_INT_MAX, TK_F_CUM_OUT, OFF(cum_out)},
    [F_UNIQUE_DEVICES] = {"unique_devices", K_WA, K_WA, T_INT, 0, 0, 0, 100000, 0,
                          OFF(unique_devices)},
    [F_ASSOCIATED] = {"associated", K_WA, K_WA, T_INT, 0, 0, 0, 100000, 0, OFF(associated)},
    [F_PROBE_ONLY] = {"probe_only", K_WA, 0, T_INT, 0, 0, 0, SAFE_INT_MAX, TK_F_PROBE_ONLY,
                      OFF(probe_only)},
};

/* Index of a known field, or -1. One switch and at most a few strcmp. */
static int field_lookup(const char *k)
{
    int f = -1;
    switch (k[0]) {
    case 'v': f = F_V; break;
    case 'i':
        f = k[1] == 'd' ? F_ID : k[1] == 'n' && k[2] == '\0' ? F_IN : F_INTERVAL_S;
        break;
    case 's': f = F_SEQ; break;
    case 't': f = k[1] == 's' ? F_TS : F_TEMP_C; break;
    case 'l': f = F_LEVEL_M; break;
    case 'd': f = F_DISTANCE_MM; break;
    case 'p': f = k[1] == 'r' && k[2] == 'e' ? F_PRESSURE_KPA : F_PROBE_ONLY; break;
    case 'b': f = F_BATTERY_V; break;
    case 'o': f = F_OUT; break;
    case 'c': f = strcmp(k, "cum_in") == 0 ? F_CUM_IN : F_CUM_OUT; break;
    case 'u': f = F_UNIQUE_DEVICES; break;
    case 'a': f = F_ASSOCIATED; break;
    default: return -1;
    }
    return strcmp(k, fields[f].name) == 0 ? f : -1;
}

/* ---- value readers, JSON Schema number model ---------------------------------------- */

/* A JSON value as the field rules see it: read from a jansson value, or scanned by the
 * fast path. Strings are not NUL-terminated. */
enum jv_type { JV_OTHER, JV_INT, JV_REAL, JV_STR };

struct jv {
    enum jv_type type;
    int64_t i;     /* JV_INT */
    double d;      /* JV_REAL */
    const char *s; /* JV_STR: len bytes */
    size_t len;
};

static struct jv jv_of(const json_t *v)
{
    struct jv x = {JV_OTHER, 0, 0, NULL, 0};
    if (json_is_integer(v)) {
        x.type = JV_INT;
        x.i = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        x.type = JV_REAL;
        x.d = json_real_value(v);
    } else if (json_is_string(v)) {
        x.type = JV_STR;
        x.s = json_string_value(v);
        x.len = json_string_length(v);
    }
    return x;
}

/* An integer in [min, max]: a JSON integer, or a real with no fractional part. */
static int get_int(const struct jv *v, int64_t min, int64_t max, int64_t *out)
{
    if (v->type == JV_INT) {
        if (v->i < min || v->i > max)
            return 0;
        *out = v->i;
        return 1;
    }
    if (v->type == JV_REAL) {
        double d = v->d;
        /* every bound used here is exact as a double (|bound| <= 2^53) */
        if (!(d >= (double)min && d <= (double)max))
            return 0;
        int64_t x = (int64_t)d;
        if ((double)x != d)
            return 0;
        *out = x;
        return 1;
    }
    return 0;
}

static int get_num(const struct jv *v, double min, double max, double *out)
{
    if (v->type != JV_INT && v->type != JV_REAL)
        return 0;
    double d = v->type == JV_INT ? (double)v->i : v->d;
    if (!isfinite(d) || d < min || d > max)
        return 0;
    *out = d;
    return 1;
}

static int jget_int(const json_t *v, int64_t min, int64_t max, int64_t *out)
{
    struct jv x = jv_of(v);
    return get_int(&x, min, max, out);
}

static int jget_num(const json_t *v, double min, double max, double *out)
{
    struct jv x = jv_of(v);
    return get_num(&x, min, max, out);
}

/* ---- one reading -------------------------------------------------------------------- */

static enum tk_rc fail(struct tk_error *e, enum tk_rc code, const char *prefix, const char *key,
                       const char *fmt, ...) TK_PRINTF(5, 6);

static enum tk_rc fail(struct tk_error *e, enum tk_rc code, const char *prefix, const char *key,
                       const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    snprintf(e->path, sizeof e->path, "%s%s%s", prefix, key ? "/" : "", key ? key : "");
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    return code;
}

static enum tk_rc parse_ts(const struct jv *v, struct tk_reading *r, struct tk_error *e,
                           const char *prefix)
{
    if (v->type == JV_STR) {
        const char *s = v->s;
        size_t len = v->len;
        int64_t us;
        /* Years 2000..2099 are read from the text, as the schema's pattern does. On the
         * first and last day an offset could carry the instant outside them (and its UTC
         * text would then not parse back), so there the offset may not point outwards:
         * a rule the schema can state with two patterns. */
        if (tk_time_parse_rfc3339(s, len, &us) != TK_OK || s[0] != '2' || s[1] != '0' ||
            (s[len - 1] != 'Z' && memcmp(s + len - 5, "00:00", 5) != 0 &&
             ((s[len - 6] == '+' && memcmp(s, "2000-01-01T", 11) == 0) ||
              (s[len - 6] == '-' && memcmp(s, "2099-12-31T", 11) == 0))))
            return fail(e, TK_ESCHEMA, prefix, "ts",
                        "must be an RFC 3339 date-time with an offset in years 2000..2099 "
                        "(2026-11-26T09:00:00+09:00) or integer epoch milliseconds");
        r->ts_us = us;
        return TK_OK;
    }
    int64_t ms;
    if (v->type == JV_INT || v->type == JV_REAL) {
        if (!get_int(v, TS_MS_MIN, TS_MS_MAX, &ms))
            return fail(e, TK_ESCHEMA, prefix, "ts",
                        "epoch milliseconds must be an integer in %lld..%lld (years 2000..2099)",
                        (long long)TS_MS_MIN, (long long)TS_MS_MAX);
        r->ts_us = ms * 1000;
        return TK_OK;
    }
    return fail(e, TK_ESCHEMA, prefix, "ts",
                "must be an RFC 3339 date-time string or integer epoch milliseconds");
}

/* A failed reading's seq, when it is valid and the reading names the topic's device. */
static void seq_of_failed(const json_t *obj, const char *topic_id, struct tk_reading *r)
{
    int64_t iv;
    const json_t *id = json_object_get(obj, "id"), *seq = json_object_get(obj, "seq");
    r->has &= ~(unsigned)TK_F_SEQ;
    if (!json_is_object(obj) || !json_is_string(id) || !seq || !jget_int(seq, 0, UINT32_MAX, &iv))
        return;
    if (topic_id && strcmp(json_string_value(id), topic_id) != 0)
        return;
    r->seq = (uint32_t)iv;
    r->has |= TK_F_SEQ;
}

/* A reading about to be filled: zeroed, of the topic's kind, no error. */
static void reading_start(struct tk_reading *r, enum tk_kind kind, struct tk_error *e)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    e->code = TK_OK;
    e->path[0] = '\0';
    e->text[0] = '\0';
}

/* One known field f (named key) of a reading: checked against its rule and stored. */
static enum tk_rc take_field(int f, const char *key, const struct jv *val, enum tk_kind kind,
                             const char *prefix, struct tk_reading *r, struct tk_error *e)
{
    const struct field *fd = &fields[f];
    int64_t iv;
    if (!(fd->kinds & (1u << kind))) {
        const char *owner = fd->kinds & K_WL ? "water_level" : fd->kinds & K_PF ? "people_flow"
                                                                              : "wifi_ap";
        return fail(e, TK_ESCHEMA, prefix, key, "is a %s field, not allowed in a %s reading",
                    owner, kind_names[kind]);
    }
    switch (f) {
    case F_V:
        if (!get_int(val, 1, 1, &iv))
            return fail(e, TK_ESCHEMA, prefix, key, "must be 1 (the only contract version)");
        return TK_OK;
    case F_ID:
        if (val->type != JV_STR || !id_valid_n(val->s, val->len))
            return fail(e, TK_ESCHEMA, prefix, key, "must be a string matching [a-z0-9-]{3,48}");
        memcpy(r->id, val->s, val->len);
        r->id[val->len] = '\0';
        return TK_OK;
    case F_SEQ:
        if (!get_int(val, 0, UINT32_MAX, &iv))
            return fail(e, TK_ESCHEMA, prefix, key, "must be an integer in 0..4294967295");
        r->seq = (uint32_t)iv;
        return TK_OK;
    case F_TS:
        return parse_ts(val, r, e, prefix);
    default:
        if (fd->type == T_NUM) {
            if (!get_num(val, fd->min, fd->max, (double *)((char *)r + fd->off)))
                return fail(e, TK_ESCHEMA, prefix, key, "must be a number in %g..%g", fd->min,
                            fd->max);
        } else {
            if (!get_int(val, fd->imin, fd->imax, (int64_t *)((char *)r + fd->off)))
                return fail(e, TK_ESCHEMA, prefix, key, "must be an integer in %lld..%lld",
                            (long long)fd->imin, (long long)fd->imax);
        }
        r->has |= fd->has;
        return TK_OK;
    }
}

/* After the last field (seen: the known fields present): required fields, the
 * water-level "exactly one of" rule, the topic's device id. */
static enum tk_rc finish(unsigned seen, enum tk_kind kind, const char *topic_id,
                         const char *prefix, struct tk_reading *r, struct tk_error *e)
{
    for (int f = 0; f < F_COUNT; f++) {
        if ((fields[f].req & (1u << kind)) && !(seen & (1u << f)))
            return fail(e, TK_ESCHEMA, prefix, fields[f].name, "required");
    }
    if (kind == TK_KIND_WATER_LEVEL) {
        unsigned alt = r->has & (TK_F_LEVEL_M | TK_F_DISTANCE_MM | TK_F_PRESSURE_KPA);
        if (alt == 0 || (alt & (alt - 1)) != 0)
            return fail(e, TK_ESCHEMA, prefix, NULL,
                        "exactly one of level_m, distance_mm, pressure_kpa is required");
    }
    if (topic_id && strcmp(r->id, topic_id) != 0)
        return fail(e, TK_ESCHEMA, prefix, "id", "must equal the topic's device id '%.48s'",
                    topic_id);
    return TK_OK;
}

static enum tk_rc parse_one(const json_t *obj, enum tk_kind kind, const char *topic_id,
                            const char *prefix, struct tk_reading *r, struct tk_error *e)
{
    enum tk_rc rc = TK_OK;
    json_t *extra = NULL;
    const char *key;
    json_t *val;
    unsigned seen = 0;

    reading_start(r, kind, e);
    if (!json_is_object(obj)) {
        rc = fail(e, TK_ESCHEMA, prefix, NULL, "must be a reading object");
        goto cleanup;
    }
    json_object_foreach((json_t *)obj, key, val) {
        int f = field_lookup(key);
        if (f < 0) {
            if (!extra && !(extra = json_object())) {
                rc = fail(e, TK_ENOMEM, prefix, NULL, "out of memory");
                goto cleanup;
            }
            if (json_object_set(extra, key, val) != 0) {
                rc = fail(e, TK_ENOMEM, prefix, NULL, "out of memory");
                goto cleanup;
            }
            continue;
        }
        struct jv v = jv_of(val);
        seen |= 1u << f;
        rc = take_field(f, key, &v, kind, prefix, r, e);
        if (rc)
            goto cleanup;
    }
    rc = finish(seen, kind, topic_id, prefix, r, e);
    if (!rc && extra) {
        r->extra = json_dumps(extra, JSON_COMPACT);
        if (!r->extra)
            rc = fail(e, TK_ENOMEM, prefix, NULL, "out of memory");
    }

cleanup:
    json_decref(extra);
    if (rc) {
        free(r->extra);
        r->extra = NULL;
        seq_of_failed(obj, topic_id, r);
    } else {
        r->has |= TK_F_SEQ;
    }
    return rc;
}

/* ---- the fast path ------------------------------------------------------------------ */

/* Almost every message is one flat object of known fields whose values are numbers or
 * plain ASCII strings, each field once. That shape is scanned here in one pass over the
 * bytes, with no allocation, and checked by the very rules above (take_field, finish).
 * Anything else returns 0 without a verdict: arrays, unknown fields, escapes or non-ASCII
 * bytes in strings, literals, nesting, a repeated field, numbers the scan does not convert
 * exactly as jansson would (more than 18 integer digits, out of range for a double), and
 * every broken rule. The general path (jansson) then reads the message from the start and
 * gives the verdict and the error text, so a message gets the same answer either way
 * (checked by test_common_reading and the differential fuzz target fuzz_reading). */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* A string of printable ASCII without escapes, *p at its opening quote. */
static int scan_string(const char **p, const char *end, const char **s, size_t *len)
{
    const char *q = *p + 1;
    *s = q;
    while (q < end && *q != '"') {
        if (*q < 0x20 || *q > 0x7e || *q == '\\')
            return 0;
        q++;
    }
    if (q == end)
        return 0;
    *len = (size_t)(q - *s);
    *p = q + 1;
    return 1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A JSON number, *p at its first byte. An integer (no fraction, no exponent) of up to 18
 * digits is exact in int64_t; a real goes through strtod, as jansson's does. */
static int scan_number(const char **p, const char *end, struct jv *v)
{
    const char *q = *p, *start = *p;
    int neg = 0, real = 0, digits = 0;
    int64_t i = 0;
    if (*q == '-') {
        neg = 1;
        q++;
    }
    if (q == end || !is_digit(*q))
        return 0;
    if (*q == '0') {
        q++;
        digits = 1;
    } else {
        for (; q < end && is_digit(*q); q++, digits++)
            if (digits < 18)
                i = i * 10 + (*q - '0'); /* longer integers are left to jansson below */
    }
    int frac = 0, expo = 0; /* digits after the point; an exponent seen */
    if (q < end && *q == '.') {
        real = 1;
        if (++q == end || !is_digit(*q))
            return 0;
        for (; q < end && is_digit(*q); q++, frac++)
            if (digits + frac < 18)
                i = i * 10 + (*q - '0');
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        real = expo = 1;
        if (++q < end && (*q == '+' || *q == '-'))
            q++;
        if (q == end || !is_digit(*q))
            return 0;
        while (q < end && is_digit(*q))
            q++;
    }
    if (!real) {
        if (digits > 18)
            return 0;
        v->type = JV_INT;
        v->i = neg ? -i : i;
    } else if (!expo && digits + frac <= 15 && frac <= 22) {
        /* d.ddd with at most 15 digits: the digits as an integer (below 2^53) and 10^frac
         * are exact doubles, so their quotient, correctly rounded, is the correctly
         * rounded value of the text: what strtod returns (Clinger's fast path) */
        static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
        double d = (double)i / p10[frac];
        v->type = JV_REAL;
        v->d = neg ? -d : d;
    } else {
        char tmp[64];
        size_t n = (size_t)(q - start);
        if (n >= sizeof tmp)
            return 0;
        memcpy(tmp, start, n);
        tmp[n] = '\0';
        errno = 0;
        v->type = JV_REAL;
        v->d = strtod(tmp, NULL);
        if (errno)
            return 0;
    }
    *p = q;
    return 1;
}

static int parse_fast(const char *buf, size_t len, enum tk_kind kind, const char *topic_id,
                      struct tk_reading *r, struct tk_error *e)
{
    const char *p = buf, *end = buf + len;
    unsigned seen = 0;
    reading_start(r, kind, e);
    p = skip_ws(p, end);
    if (p == end || *p++ != '{')
        return 0;
    for (;;) {
        char key[16];
        const char *ks;
        size_t kl;
        struct jv v = {JV_OTHER, 0, 0, NULL, 0};
        p = skip_ws(p, end);
        if (p == end || *p != '"' || !scan_string(&p, end, &ks, &kl) || kl == 0 ||
            kl >= sizeof key)
            return 0;
        memcpy(key, ks, kl);
        key[kl] = '\0';
        int f = field_lookup(key);
        if (f < 0 || (seen & (1u << f)))
            return 0;
        p = skip_ws(p, end);
        if (p == end || *p++ != ':')
            return 0;
        p = skip_ws(p, end);
        if (p == end)
            return 0;
        if (*p == '"') {
            if (!scan_string(&p, end, &v.s, &v.len))
                return 0;
            v.type = JV_STR;
        } else if (!scan_number(&p, end, &v)) {
            return 0;
        }
        seen |= 1u << f;
        if (take_field(f, key, &v, kind, "", r, e))
            return 0;
        p = skip_ws(p, end);
        if (p == end)
            return 0;
        if (*p == '}')
            break;
        if (*p++ != ',')
            return 0;
    }
    if (skip_ws(p + 1, end) != end || finish(seen, kind, topic_id, "", r, e))
        return 0;
    r->has |= TK_F_SEQ;
    return 1;
}

enum tk_rc tk_readings_parse(const char *buf, size_t len, enum tk_kind kind, const char *topic_id,
                             struct tk_reading *out, struct tk_error *errs, size_t cap,
                             size_t *n, struct tk_error *err)
{
    struct tk_error scratch;
    if (buf && out && n && cap > 0 && (int)kind >= 0 && kind < TK_KIND_MAX) {
        struct tk_error *e0 = errs ? &errs[0] : &scratch;
        if (parse_fast(buf, len, kind, topic_id, &out[0], e0)) {
            if (err)
                tk_error_set(err, TK_OK, "", "%s", "");
            *n = 1;
            return TK_OK;
        }
        reading_start(&out[0], kind, e0); /* nothing of the attempt is left */
    }
    return tk_readings__parse_general(buf, len, kind, topic_id, out, errs, cap, n, err);
}

enum tk_rc tk_readings__parse_general(const char *buf, size_t len, enum tk_kind kind,
                                      const char *topic_id, struct tk_reading *out,
                                      struct tk_error *errs, size_t cap, size_t *n,
                                      struct tk_error *err)
{
    enum tk_rc rc = TK_OK;
    json_t *root = NULL;
    json_error_t jerr;
    struct tk_error scratch;
    const void *nul;
    size_t count = 0;

    if (n)
        *n = 0;
    if (err)
        tk_error_set(err, TK_OK, "", "%s", "");
    if ((!buf && len) || !out || !n || cap == 0 || (int)kind < 0 || kind >= TK_KIND_MAX) {
        rc = tk_error_set(err, TK_EINVAL, "", "invalid arguments");
        goto cleanup;
    }
    if (len && (nul = memchr(buf, '\0', len)) != NULL) {
        rc = tk_error_set(err, TK_EPROTO, "", "not JSON: NUL byte at offset %zu",
                          (size_t)((const char *)nul - buf));
        goto cleanup;
    }
    root = json_loadb(buf ? buf : "", len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = tk_error_set(err, TK_EPROTO, "", "not JSON: %s at line %d column %d (byte %d)",
                          jerr.text, jerr.line, jerr.column, jerr.position);
        goto cleanup;
    }
    if (json_is_object(root)) {
        rc = parse_one(root, kind, topic_id, "", &out[0], errs ? &errs[0] : &scratch);
        count = 1;
    } else if (json_is_array(root)) {
        size_t size = json_array_size(root);
        if (size == 0) {
            rc = tk_error_set(err, TK_ESCHEMA, "", "empty array: a batch needs at least one reading");
            goto cleanup;
        }
        if (size > cap) {
            rc = tk_error_set(err, TK_EFULL, "", "batch of %zu readings exceeds the limit of %zu",
                              size, cap);
            goto cleanup;
        }
        for (size_t i = 0; i < size; i++) {
            char prefix[24];
            snprintf(prefix, sizeof prefix, "/%zu", i);
            enum tk_rc erc = parse_one(json_array_get(root, i), kind, topic_id, prefix, &out[i],
                                       errs ? &errs[i] : &scratch);
            count = i + 1;
            if (erc == TK_ENOMEM) {
                rc = erc;
                break;
            }
        }
    } else {
        rc = tk_error_set(err, TK_ESCHEMA, "",
                          "must be a reading object or a non-empty array of readings");
        goto cleanup;
    }
    if (rc == TK_ENOMEM) {
        /* a whole-message failure: give nothing back half-owned */
        for (size_t i = 0; i < count; i++)
            tk_reading_clear(&out[i]);
        count = 0;
        tk_error_set(err, TK_ENOMEM, "", "out of memory");
        goto cleanup;
    }
    rc = TK_OK; /* element errors live in errs[] */
    *n = count;

cleanup:
    json_decref(root);
    return rc;
}

/* ---- encoding ----------------------------------------------------------------------- */

struct outbuf {
    char *buf;
    size_t size, len;
    int full;
};

static void put(struct outbuf *o, const char *fmt, ...) TK_PRINTF(2, 3);

static void put(struct outbuf *o, const char *fmt, ...)
{
    va_list ap;
    if (o->full)
        return;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= o->size - o->len) {
        o->full = 1;
        return;
    }
    o->len += (size_t)k;
}

static void put_bytes(struct outbuf *o, const char *s, size_t n)
{
    if (o->full)
        return;
    if (n >= o->size - o->len) {
        o->full = 1;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* The exact product a * b as hi + lo (Dekker's product with Veltkamp's split): exact in
 * binary64 with round-to-nearest as long as nothing overflows. */
static void two_prod(double a, double b, double *hi, double *lo)
{
    const double split = 134217729.0; /* 2^27 + 1 */
    double p = a * b;
    double ca = split * a, ah = ca - (ca - a), al = a - ah;
    double cb = split * b, bh = cb - (cb - b), bl = b - bh;
    *hi = p;
    *lo = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

/* a * scale rounded to the nearest integer, exactly (a > 0, a * scale < 2^57); 0 on an
 * exact tie, which printf's own rounding then settles. */
static int round_scaled(double a, double scale, uint64_t *v)
{
    double hi, lo;
    two_prod(a, scale, &hi, &lo); /* a * scale == hi + lo, |lo| <= half an ulp of hi */
    uint64_t i = (uint64_t)hi;
    double f = hi - (double)i;     /* exact */
    if (hi < 4503599627370496.0) { /* 2^52: f is on hi's grid, 0.5 is on it too */
        if (f > 0.5 || (f == 0.5 && lo > 0))
            i++;
        else if (f == 0.5 && lo == 0)
            return 0;
        *v = i;
        return 1;
    }
    /* hi is a whole number: round the rest, lo (|lo| <= 16) */
    int64_t j = (int64_t)lo;
    double g = lo - (double)j; /* exact */
    if (g == 0.5 || g == -0.5)
        return 0;
    j += g > 0.5 ? 1 : g < -0.5 ? -1 : 0;
    *v = (uint64_t)((int64_t)i + j);
    return 1;
}

size_t tk_json_number(double d, char buf[TK_JSON_NUMBER_MAX])
{
    if (!isfinite(d)) {
        memcpy(buf, "null", 5);
        return 4;
    }
    /* integral values (counts, whole millimetres) without printf */
    if (d == (double)(int64_t)d && d > -9007199254740992.0 && d < 9007199254740992.0) {
        int64_t v = (int64_t)d;
        char tmp[24];
        size_t n = 0, k = 0;
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        do {
            tmp[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0 || (v == 0 && signbit(d)))
            buf[k++] = '-';
        while (n)
            buf[k++] = tmp[--n];
        buf[k] = '\0';
        return k;
    }
    /* Fixed-point values (levels in metres, volts, averages): the text "%.15g", "%.16g"
     * or "%.17g" gives, the first that reads back as d, without printf. With k decimals
     * the candidate is d * 10^k rounded exactly (round_scaled): fewer than 17 digits are
     * taken when they read back as d ((double)v / 10^k is then the correctly rounded
     * quotient of two exact values, as strtod would give); the 17-digit one always does. */
    double a = fabs(d);
    if (a >= 1e-4 && a < 1e9) {
        static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
        /* Start at about 14 significant digits: a shorter decimal that reads back as d
         * is also the 15-digit one with its zeros dropped, so nothing shorter needs a
         * try; e10 may be one too large near a power of ten, never too small. */
        int e10 = 0; /* about floor(log10(a)) */
        if (a < 1)
            e10 = a >= 0.0999 ? -1 : a >= 0.00999 ? -2 : a >= 0.000999 ? -3 : -4;
        else
            while (e10 < 8 && a >= p10[e10 + 1] * 0.99999)
                e10++;
        int k0 = 13 - e10 < 1 ? 1 : 13 - e10;
        for (int k = k0; k < (int)(sizeof p10 / sizeof p10[0]); k++) {
            uint64_t v;
            if (!round_scaled(a, p10[k], &v))
                break; /* a decimal tie: printf's rounding */
            if (v >= 100000000000000000ULL)
                break;                      /* 18 digits: never reached, 17 always read back */
            if (v < 10000000000000000ULL) { /* fewer than 17 digits */
                if (v >= 9007199254740992ULL)
                    break; /* 2^53: (double)v would not be exact */
                if ((double)v / p10[k] != a)
                    continue;
            }
            while (k > 1 && v % 10 == 0) { /* "%g" drops trailing zeros */
                v /= 10;
                k--;
            }
            char tmp[32];
            size_t n = 0, j = 0;
            for (int i = 0; i < k; i++) { /* k decimals, least significant first */
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
            }
            tmp[n++] = '.';
            do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
            } while (v);
            if (d < 0)
                buf[j++] = '-';
            while (n)
                buf[j++] = tmp[--n];
            buf[j] = '\0';
            return j;
        }
    }
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, TK_JSON_NUMBER_MAX, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return n > 0 ? (size_t)n : 0;
}

/* Shortest text that reads back as the same double, so that parse(to_json(r)) == r. */
static void put_double(struct outbuf *o, const char *key, double d)
{
    char tmp[TK_JSON_NUMBER_MAX];
    tk_json_number(d, tmp);
    put(o, ",\"%s\":%s", key, tmp);
}

enum tk_rc tk_reading_to_json(const struct tk_reading *r, char *buf, size_t size, size_t *len)
{
    enum tk_rc rc = TK_OK;
    struct outbuf o = {buf, size, 0, 0};
    char ts[32];

    if (len)
        *len = 0;
    if (!r || !buf || size == 0 || (int)r->kind < 0 || r->kind >= TK_KIND_MAX ||
        !tk_device_id_valid(r->id)) {
        rc = TK_EINVAL;
        goto cleanup;
    }
    buf[0] = '\0';
    double dv[] = {r->level_m, r->distance_mm, r->pressure_kpa, r->battery_v, r->temp_c};
    for (size_t i = 0; i < sizeof dv / sizeof dv[0]; i++) {
        if (!isfinite(dv[i])) {
            rc = TK_EINVAL; /* JSON has no NaN or infinity */
            goto cleanup;
        }
    }
    rc = tk_time_format(r->ts_us, ts, sizeof ts);
    if (rc)
        goto cleanup;
    put(&o, "{\"v\":1,\"id\":\"%s\",\"seq\":%lu,\"ts\":\"%s\"", r->id, (unsigned long)r->seq, ts);
    switch (r->kind) {
    case TK_KIND_WATER_LEVEL:
        if (r->has & TK_F_LEVEL_M)
            put_double(&o, "level_m", r->level_m);
        if (r->has & TK_F_DISTANCE_MM)
            put_double(&o, "distance_mm", r->distance_mm);
        if (r->has & TK_F_PRESSURE_KPA)
            put_double(&o, "pressure_kpa", r->pressure_kpa);
        if (r->has & TK_F_BATTERY_V)
            put_double(&o, "battery_v", r->battery_v);
        if (r->has & TK_F_TEMP_C)
            put_double(&o, "temp_c", r->temp_c);
        break;
    case TK_KIND_PEOPLE_FLOW:
        put(&o, ",\"interval_s\":%lld,\"in\":%lld,\"out\":%lld", (long long)r->interval_s,
            (long long)r->in, (long long)r->out);
        if (r->has & TK_F_CUM_IN)
            put(&o, ",\"cum_in\":%lld", (long long)r->cum_in);
        if (r->has & TK_F_CUM_OUT)
            put(&o, ",\"cum_out\":%lld", (long long)r->cum_out);
        break;
    default:
        put(&o, ",\"interval_s\":%lld,\"unique_devices\":%lld,\"associated\":%lld",
            (long long)r->interval_s, (long long)r->unique_devices, (long long)r->associated);
        if (r->has & TK_F_PROBE_ONLY)
            put(&o, ",\"probe_only\":%lld", (long long)r->probe_only);
        break;
    }
    if (r->extra) {
        /* merge the members of the extra object: the text between its outer braces */
        const char *s = r->extra, *e = r->extra + strlen(r->extra);
        while (s < e && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e - s < 2 || *s != '{' || e[-1] != '}') {
            rc = TK_EINVAL;
            goto cleanup;
        }
        s++;
        e--;
        while (s < e && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r'))
            s++;
        if (s < e) {
            put_bytes(&o, ",", 1);
            put_bytes(&o, s, (size_t)(e - s));
        }
    }
    put_bytes(&o, "}", 1);
    if (o.full) {
        rc = TK_EFULL;
        goto cleanup;
    }
    if (len)
        *len = o.len;

cleanup:
    if (rc && buf && size)
        buf[0] = '\0';
    return rc;
}

/* ---- topics ------------------------------------------------------------------------- */

static const char *const topic_types[] = {"reading", "status", "ack", "config"};

enum tk_rc tk_topic_parse(const char *topic, enum tk_kind *kind, char id[TK_ID_MAX + 1],
                          enum tk_topic_type *type, struct tk_error *err)
{
    enum tk_rc rc = TK_OK;
    const char *p[4];
    size_t l[4];
    char kname[16];
    enum tk_kind k;
    int t = -1;

    if (!topic || !kind || !id || !type) {
        rc = tk_error_set(err, TK_EINVAL, "topic", "invalid arguments");
        goto cleanup;
    }
    /* split into exactly four levels */
    const char *s = topic;
    for (int i = 0; i < 4; i++) {
        const char *slash = strchr(s, '/');
        if ((i < 3) != (slash != NULL)) {
            rc = tk_error_set(err, TK_EINVAL, "topic",
                              "must be city/{kind}/{device_id}/{reading|status|ack|config}");
            goto cleanup;
        }
        p[i] = s;
        l[i] = slash ? (size_t)(slash - s) : strlen(s);
        s = slash ? slash + 1 : s;
    }
    if (l[0] != 4 || memcmp(p[0], "city", 4) != 0 || l[1] >= sizeof kname) {
        rc = tk_error_set(err, TK_EINVAL, "topic",
                          "must be city/{kind}/{device_id}/{reading|status|ack|config}");
        goto cleanup;
    }
    memcpy(kname, p[1], l[1]);
    kname[l[1]] = '\0';
    if (tk_kind_parse(kname, &k) != TK_OK) {
        rc = tk_error_set(err, TK_EINVAL, "topic",
                          "unknown kind (water_level, people_flow or wifi_ap)");
        goto cleanup;
    }
    if (!id_valid_n(p[2], l[2])) {
        rc = tk_error_set(err, TK_EINVAL, "topic", "device id must match [a-z0-9-]{3,48}");
        goto cleanup;
    }
    for (int i = 0; i < 4; i++) {
        if (strlen(topic_types[i]) == l[3] && memcmp(p[3], topic_types[i], l[3]) == 0)
            t = i;
    }
    if (t < 0) {
        rc = tk_error_set(err, TK_EINVAL, "topic", "last level must be reading, status, ack or config");
        goto cleanup;
    }
    *kind = k;
    memcpy(id, p[2], l[2]);
    id[l[2]] = '\0';
    *type = (enum tk_topic_type)t;

cleanup:
    return rc;
}

enum tk_rc tk_topic_make(char *buf, size_t size, enum tk_kind kind, const char *id,
                         enum tk_topic_type type)
{
    if (!buf || size == 0 || !tk_kind_name(kind) || !tk_device_id_valid(id) || (int)type < 0 ||
        type > TK_TOPIC_CONFIG)
        return TK_EINVAL;
    int k = snprintf(buf, size, "city/%s/%s/%s", kind_names[kind], id, topic_types[type]);
    if (k < 0 || (size_t)k >= size) {
        buf[0] = '\0';
        return TK_EFULL;
    }
    return TK_OK;
}

/* ---- ack and status ----------------------------------------------------------------- */

enum tk_rc tk_ack_to_json(uint32_t seq, char *buf, size_t size, size_t *len)
{
    if (!buf || size == 0)
        return TK_EINVAL;
    int k = snprintf(buf, size, "{\"seq\":%lu}", (unsigned long)seq);
    if (k < 0 || (size_t)k >= size) {
        buf[0] = '\0';
        return TK_EFULL;
    }
    if (len)
        *len = (size_t)k;
    return TK_OK;
}

/* Load a small control message; NUL bytes and bad JSON are TK_EPROTO. */
static enum tk_rc load_object(const char *buf, size_t len, json_t **root, struct tk_error *err)
{
    json_error_t jerr;
    *root = NULL;
    if ((!buf && len))
        return tk_error_set(err, TK_EINVAL, "", "invalid arguments");
    if (len && memchr(buf, '\0', len))
        return tk_error_set(err, TK_EPROTO, "", "not JSON: contains a NUL byte");
    *root = json_loadb(buf ? buf : "", len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!*root)
        return tk_error_set(err, TK_EPROTO, "", "not JSON: %s at line %d column %d (byte %d)",
                            jerr.text, jerr.line, jerr.column, jerr.position);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return tk_error_set(err, TK_ESCHEMA, "", "must be an object");
    }
    return TK_OK;
}

enum tk_rc tk_ack_parse(const char *buf, size_t len, uint32_t *seq, struct tk_error *err)
{
    enum tk_rc rc;
    json_t *root = NULL;
    const char *key;
    json_t *val;
    int64_t v = 0;
    int have = 0;

    if (err)
        tk_error_set(err, TK_OK, "", "%s", "");
    if (!seq) {
        rc = tk_error_set(err, TK_EINVAL, "", "invalid arguments");
        goto cleanup;
    }
    rc = load_object(buf, len, &root, err);
    if (rc)
        goto cleanup;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "seq") != 0) {
            char path[TK_ERROR_PATH_MAX];
            snprintf(path, sizeof path, "/%s", key);
            rc = tk_error_set(err, TK_ESCHEMA, path, "unknown field in an ack");
            goto cleanup;
        }
        if (!jget_int(val, 0, UINT32_MAX, &v)) {
            rc = tk_error_set(err, TK_ESCHEMA, "/seq", "must be an integer in 0..4294967295");
            goto cleanup;
        }
        have = 1;
    }
    if (!have) {
        rc = tk_error_set(err, TK_ESCHEMA, "/seq", "required");
        goto cleanup;
    }
    *seq = (uint32_t)v;

cleanup:
    json_decref(root);
    return rc;
}

static int fw_valid(const char *s, size_t len)
{
    if (len < 1 || len > 31)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '+' || c == '_'))
            return 0;
    }
    return 1;
}

enum tk_rc tk_status_parse(const char *buf, size_t len, struct tk_status *st, struct tk_error *err)
{
    enum tk_rc rc;
    json_t *root = NULL, *v;
    int64_t iv;

    if (err)
        tk_error_set(err, TK_OK, "", "%s", "");
    if (!st) {
        rc = tk_error_set(err, TK_EINVAL, "", "invalid arguments");
        goto cleanup;
    }
    memset(st, 0, sizeof *st);
    rc = load_object(buf, len, &root, err);
    if (rc)
        goto cleanup;
    v = json_object_get(root, "state");
    if (!v) {
        rc = tk_error_set(err, TK_ESCHEMA, "/state", "required");
        goto cleanup;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "online") == 0) {
        st->online = 1;
    } else if (json_is_string(v) && strcmp(json_string_value(v), "offline") == 0) {
        st->online = 0;
    } else {
        rc = tk_error_set(err, TK_ESCHEMA, "/state", "must be \"online\" or \"offline\"");
        goto cleanup;
    }
    if ((v = json_object_get(root, "fw")) != NULL) {
        if (!json_is_string(v) || !fw_valid(json_string_value(v), json_string_length(v))) {
            rc = tk_error_set(err, TK_ESCHEMA, "/fw", "must be a string matching [0-9A-Za-z.+_-]{1,31}");
            goto cleanup;
        }
        memcpy(st->fw, json_string_value(v), json_string_length(v) + 1);
    }
    if ((v = json_object_get(root, "battery_v")) != NULL) {
        if (!jget_num(v, 0, 10, &st->battery_v)) {
            rc = tk_error_set(err, TK_ESCHEMA, "/battery_v", "must be a number in 0..10");
            goto cleanup;
        }
        st->has_battery = 1;
    }
    if ((v = json_object_get(root, "rssi_dbm")) != NULL) {
        if (!jget_int(v, -150, 0, &iv)) {
            rc = tk_error_set(err, TK_ESCHEMA, "/rssi_dbm", "must be an integer in -150..0");
            goto cleanup;
        }
        st->rssi_dbm = (int)iv;
        st->has_rssi = 1;
    }

cleanup:
    json_decref(root);
    if (rc && st)
        memset(st, 0, sizeof *st);
    return rc;
}
