/* JSON writer and flat-object reader; see fw_json.h. No malloc, no floating point. */
#include "fw_json.h"

/* ---- writer --------------------------------------------------------------------------- */

void fw_jw_init(struct fw_jw *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = cap == 0;
    if (cap)
        buf[0] = '\0';
}

void fw_jw_mem(struct fw_jw *w, const char *s, size_t n)
{
    if (w->overflow)
        return;
    if (n >= w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        w->buf[w->len + i] = s[i];
    w->len += n;
    w->buf[w->len] = '\0';
}

static size_t slen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

void fw_jw_raw(struct fw_jw *w, const char *s)
{
    fw_jw_mem(w, s, slen(s));
}

void fw_jw_str(struct fw_jw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    fw_jw_mem(w, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            fw_jw_mem(w, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            fw_jw_mem(w, e, 6);
        } else {
            fw_jw_mem(w, (const char *)&c, 1);
        }
    }
    fw_jw_mem(w, "\"", 1);
}

/* Digits of v, at least min_digits (zero-padded). 32-bit steps where possible: a 64-bit
 * division costs a library call on a Cortex-M3. */
static void put_udec(struct fw_jw *w, uint64_t v, unsigned min_digits)
{
    char tmp[21];
    unsigned n = 0;
    while (v > 0xffffffffu) {
        tmp[n++] = (char)('0' + (unsigned)(v % 10u));
        v /= 10u;
    }
    uint32_t v32 = (uint32_t)v;
    do {
        tmp[n++] = (char)('0' + v32 % 10u);
        v32 /= 10u;
    } while (v32);
    while (n < min_digits && n < sizeof tmp)
        tmp[n++] = '0';
    char out[21];
    for (unsigned i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    fw_jw_mem(w, out, n);
}

void fw_jw_u64(struct fw_jw *w, uint64_t v)
{
    put_udec(w, v, 1);
}

static uint64_t uabs64(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

void fw_jw_i64(struct fw_jw *w, int64_t v)
{
    if (v < 0)
        fw_jw_mem(w, "-", 1);
    put_udec(w, uabs64(v), 1);
}

void fw_jw_fixed(struct fw_jw *w, int64_t v, unsigned decimals)
{
    uint64_t scale = 1;
    if (decimals > 9) {
        w->overflow = 1;
        return;
    }
    for (unsigned i = 0; i < decimals; i++)
        scale *= 10u;
    uint64_t a = uabs64(v);
    uint64_t ip = a / scale, fp = a % scale;
    if (v < 0)
        fw_jw_mem(w, "-", 1);
    put_udec(w, ip, 1);
    if (fp == 0)
        return;
    /* strip trailing zeros of the fraction */
    unsigned digits = decimals;
    while (fp % 10u == 0) {
        fp /= 10u;
        digits--;
    }
    fw_jw_mem(w, ".", 1);
    put_udec(w, fp, digits);
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian), the era-based method
 * described by H. Hinnant ("chrono-compatible low-level date algorithms"). */
static void civil(int32_t z, int32_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    uint32_t doe = (uint32_t)(z - era * 146097);
    uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint32_t mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int32_t)yoe + era * 400 + (*m <= 2);
}

void fw_jw_ts(struct fw_jw *w, int64_t utc_ms)
{
    int64_t secs = utc_ms / 1000, ms = utc_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    if (days < -719468 || days > 2932896) { /* 0000-03-01 .. 9999-12-31 */
        w->overflow = 1;
        return;
    }
    int32_t y;
    unsigned m, d;
    civil((int32_t)days, &y, &m, &d);
    if (y < 0 || y > 9999) {
        w->overflow = 1;
        return;
    }
    uint32_t s = (uint32_t)sod;
    put_udec(w, (uint64_t)y, 4);
    fw_jw_mem(w, "-", 1);
    put_udec(w, m, 2);
    fw_jw_mem(w, "-", 1);
    put_udec(w, d, 2);
    fw_jw_mem(w, "T", 1);
    put_udec(w, s / 3600u, 2);
    fw_jw_mem(w, ":", 1);
    put_udec(w, s / 60u % 60u, 2);
    fw_jw_mem(w, ":", 1);
    put_udec(w, s % 60u, 2);
    fw_jw_mem(w, ".", 1);
    put_udec(w, (uint64_t)ms, 3);
    fw_jw_mem(w, "000Z", 4);
}

void fw_jw_key(struct fw_jw *w, const char *key)
{
    if (w->len > 0 && w->buf[w->len - 1] != '{' && w->buf[w->len - 1] != '[')
        fw_jw_mem(w, ",", 1);
    fw_jw_str(w, key);
    fw_jw_mem(w, ":", 1);
}

enum fw_rc fw_jw_result(const struct fw_jw *w)
{
    return w->overflow ? FW_EFULL : FW_OK;
}

/* ---- reader --------------------------------------------------------------------------- */

enum vtype { V_NUM, V_STR, V_LIT };

struct cur {
    const char *p, *e;
};

static void ws(struct cur *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* A string; s and n get its raw inside (escapes not decoded). */
static int str(struct cur *c, const char **s, size_t *n)
{
    if (c->p >= c->e || *c->p != '"')
        return -1;
    const char *b = ++c->p;
    while (c->p < c->e && *c->p != '"') {
        if ((unsigned char)*c->p < 0x20)
            return -1;
        if (*c->p == '\\') {
            c->p++;
            if (c->p >= c->e)
                return -1;
        }
        c->p++;
    }
    if (c->p >= c->e)
        return -1;
    *s = b;
    *n = (size_t)(c->p - b);
    c->p++;
    return 0;
}

/* JSON number grammar. */
static int num(struct cur *c)
{
    if (c->p < c->e && *c->p == '-')
        c->p++;
    if (c->p >= c->e || !is_digit(*c->p))
        return -1;
    if (*c->p == '0')
        c->p++;
    else
        while (c->p < c->e && is_digit(*c->p))
            c->p++;
    if (c->p < c->e && *c->p == '.') {
        c->p++;
        if (c->p >= c->e || !is_digit(*c->p))
            return -1;
        while (c->p < c->e && is_digit(*c->p))
            c->p++;
    }
    if (c->p < c->e && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->e && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (c->p >= c->e || !is_digit(*c->p))
            return -1;
        while (c->p < c->e && is_digit(*c->p))
            c->p++;
    }
    return 0;
}

static int lit(struct cur *c, const char *word)
{
    size_t n = slen(word);
    if ((size_t)(c->e - c->p) < n)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (c->p[i] != word[i])
            return -1;
    c->p += n;
    return 0;
}

static int value(struct cur *c, enum vtype *t, const char **s, size_t *n)
{
    const char *b = c->p;
    int rc;
    if (c->p >= c->e)
        return -1;
    switch (*c->p) {
    case '"':
        *t = V_STR;
        return str(c, s, n);
    case 't':
        rc = lit(c, "true");
        break;
    case 'f':
        rc = lit(c, "false");
        break;
    case 'n':
        rc = lit(c, "null");
        break;
    default:
        *t = V_NUM;
        rc = num(c);
        *s = b;
        *n = (size_t)(c->p - b);
        return rc;
    }
    *t = V_LIT;
    return rc;
}

/* Walks the members of one flat object. Returns 1 with the next member, 0 at the end,
 * -1 on malformed input. *first is 1 before the first call. */
static int member(struct cur *c, int *first, const char **k, size_t *kn, enum vtype *t,
                  const char **v, size_t *vn)
{
    ws(c);
    if (*first) {
        if (c->p >= c->e || *c->p != '{')
            return -1;
        c->p++;
        ws(c);
        if (c->p < c->e && *c->p == '}') {
            c->p++;
            *first = 0;
            return 0;
        }
    } else {
        if (c->p < c->e && *c->p == '}') {
            c->p++;
            return 0;
        }
        if (c->p >= c->e || *c->p != ',')
            return -1;
        c->p++;
        ws(c);
    }
    *first = 0;
    if (str(c, k, kn))
        return -1;
    ws(c);
    if (c->p >= c->e || *c->p != ':')
        return -1;
    c->p++;
    ws(c);
    if (value(c, t, v, vn))
        return -1;
    return 1;
}

static int key_is(const char *k, size_t kn, const char *key)
{
    size_t i = 0;
    for (; i < kn; i++)
        if (key[i] != k[i])
            return 0;
    return key[i] == '\0';
}

/* The end of the object must be the end of the text (trailing whitespace allowed). */
static int tail_ok(struct cur *c)
{
    ws(c);
    return c->p == c->e;
}

static enum fw_rc to_fixed(const char *s, size_t n, unsigned decimals, int64_t *out)
{
    const char *e = s + n;
    int neg = 0;
    uint64_t mant = 0;
    int shift = (int)decimals; /* power of ten to apply to the digits read */
    int dropped = 0;           /* digits beyond uint64 precision: value is too large */
    if (s < e && *s == '-') {
        neg = 1;
        s++;
    }
    int in_frac = 0;
    for (; s < e && (is_digit(*s) || *s == '.'); s++) {
        if (*s == '.') {
            in_frac = 1;
            continue;
        }
        if (mant > (UINT64_MAX - 9) / 10) {
            if (!in_frac)
                dropped++;
            continue;
        }
        mant = mant * 10u + (uint64_t)(*s - '0');
        if (in_frac)
            shift--;
    }
    shift += dropped;
    if (s < e && (*s == 'e' || *s == 'E')) {
        s++;
        int eneg = 0, ex = 0;
        if (s < e && (*s == '+' || *s == '-'))
            eneg = *s++ == '-';
        for (; s < e; s++)
            ex = ex < 10000 ? ex * 10 + (*s - '0') : ex;
        shift += eneg ? -ex : ex;
    }
    for (; shift > 0; shift--) {
        if (mant > UINT64_MAX / 10)
            return mant ? FW_EINVAL : FW_OK;
        mant *= 10u;
    }
    for (; shift < 0 && mant; shift++)
        mant /= 10u;
    if (mant > (uint64_t)INT64_MAX)
        return FW_EINVAL;
    *out = neg ? -(int64_t)mant : (int64_t)mant;
    return FW_OK;
}

enum fw_rc fw_json_get_fixed(const char *buf, size_t len, const char *key, unsigned decimals,
                             int64_t *out)
{
    struct cur c = {buf, buf + len};
    int first = 1, r;
    const char *k, *v;
    size_t kn, vn;
    enum vtype t;
    enum fw_rc found = FW_ENOENT;
    while ((r = member(&c, &first, &k, &kn, &t, &v, &vn)) == 1) {
        if (!key_is(k, kn, key))
            continue;
        if (t != V_NUM || found != FW_ENOENT)
            return FW_EINVAL; /* wrong type or duplicate key */
        found = to_fixed(v, vn, decimals, out);
        if (found != FW_OK)
            return found;
    }
    if (r < 0 || !tail_ok(&c))
        return FW_EINVAL;
    return found;
}

enum fw_rc fw_json_check_flat(const char *buf, size_t len, const char *const *keys, int strict)
{
    struct cur c = {buf, buf + len};
    int first = 1, r;
    const char *k, *v;
    size_t kn, vn;
    enum vtype t;
    uint32_t seen = 0;
    while ((r = member(&c, &first, &k, &kn, &t, &v, &vn)) == 1) {
        int known = 0;
        for (unsigned i = 0; keys[i] && i < 32; i++) {
            if (key_is(k, kn, keys[i])) {
                if (seen & (1u << i))
                    return FW_EINVAL;
                seen |= 1u << i;
                known = 1;
            }
        }
        if (strict && !known)
            return FW_EINVAL;
    }
    if (r < 0 || !tail_ok(&c))
        return FW_EINVAL;
    return FW_OK;
}
