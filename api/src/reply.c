/* The reply layer: the bounded output buffer every renderer writes into, the one table
 * that maps an outcome to an HTTP status and an error code, and gzip.
 *
 * Every error the API returns goes through api_reply_error, so each has the same JSON
 * shape {"code": ..., "message": ...[, "field": ...]} (GNU Taler's mhd_parsing.c keeps its
 * statuses in one table the same way). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "api.h"
#include "tk_reading.h"
#include "tk_time.h"

/* ---- buffer ------------------------------------------------------------------------- */

void api_buf_init(struct api_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void api_buf_free(struct api_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void api_buf_reset(struct api_buf *b)
{
    b->len = 0;
    b->err = TK_OK;
    if (b->data)
        b->data[0] = '\0';
}

static int grow(struct api_buf *b, size_t need)
{
    if (b->err)
        return 0;
    if (need > b->max) {
        b->err = TK_EFULL;
        return 0;
    }
    if (need + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->err = TK_ENOMEM;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void api_buf_put(struct api_buf *b, const char *s, size_t n)
{
    if (n > SIZE_MAX - b->len - 1 || !grow(b, b->len + n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void api_buf_puts(struct api_buf *b, const char *s)
{
    api_buf_put(b, s, strlen(s));
}

void api_buf_printf(struct api_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) {
        if (!b->err)
            b->err = TK_EFULL; /* callers only format short things */
        return;
    }
    api_buf_put(b, tmp, (size_t)k);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none starts there
 * (RFC 3629's table: what PostgreSQL accepts as UTF8 text). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || len > n || p[0] == 0xc0 || p[0] == 0xc1 || p[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    /* overlong three- and four-byte forms, UTF-16 surrogates, beyond U+10FFFF */
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return len;
}

int api_utf8_valid(const void *s, size_t n)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

void api_buf_json_str(struct api_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    api_buf_put(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one put */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            u[0] = '\\';
            u[1] = 'u';
            u[2] = '0';
            u[3] = '0';
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
        } else {
            continue;
        }
        api_buf_put(b, s + run, i - run);
        if (esc)
            api_buf_puts(b, esc);
        else
            api_buf_put(b, u, sizeof u);
        run = i + 1;
    }
    api_buf_put(b, s + run, n - run);
    api_buf_put(b, "\"", 1);
}

void api_buf_i64(struct api_buf *b, int64_t v)
{
    char tmp[24];
    size_t k = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--k] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--k] = '-';
    api_buf_put(b, tmp + k, sizeof tmp - k);
}

void api_buf_num(struct api_buf *b, double d)
{
    char tmp[TK_JSON_NUMBER_MAX];
    size_t k = tk_json_number(d, tmp);
    api_buf_put(b, tmp, k);
}

void api_buf_time(struct api_buf *b, int64_t us)
{
    enum { TIME_MAX = 40 };
    char tmp[TIME_MAX];
    /* in place when there is room (the NUL it writes ends the buffer), else as a put */
    int in_place = !b->err && b->cap > TIME_MAX && b->len < b->cap - TIME_MAX;
    char *out = in_place ? b->data + b->len : tmp;
    if (tk_time_format(us, out, TIME_MAX)) {
        if (in_place)
            b->data[b->len] = '\0';
        if (!b->err)
            b->err = TK_EINVAL;
        return;
    }
    if (in_place)
        b->len += strlen(out);
    else
        api_buf_puts(b, tmp);
}

void api_buf_url(struct api_buf *b, const char *s, int query_component)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *run = s; /* characters kept as they are, copied in one put */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   strchr("-._~/()$',:@", c) != NULL;
        if (!query_component && (c == '=' || c == '&' || c == '+'))
            keep = 1;
        if (!keep) {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            api_buf_put(b, run, (size_t)(s - run));
            api_buf_put(b, e, 3);
            run = s + 1;
        }
    }
    api_buf_put(b, run, (size_t)(s - run));
}

size_t api_link_prefix(const struct api_config *cfg, char out[API_LINK_PREFIX_MAX])
{
    struct api_buf t;
    api_buf_init(&t, API_LINK_PREFIX_MAX - 1);
    api_buf_url(&t, cfg->base_url, 0);
    api_buf_puts(&t, "/v1.1/");
    size_t n = t.err ? 0 : t.len;
    if (n)
        memcpy(out, t.data, n);
    out[n] = '\0';
    api_buf_free(&t);
    return n;
}

/* ---- errors ------------------------------------------------------------------------- */

static const struct {
    unsigned status;
    const char *code;
} err_table[API_E_N] = {
    [API_E_BADREQ] = {400, "EINVAL"},      [API_E_NOTFOUND] = {404, "ENOTFOUND"},
    [API_E_METHOD] = {405, "EMETHOD"},     [API_E_TOOLARGE] = {413, "ETOOLARGE"},
    [API_E_REPLYMAX] = {500, "EFULL"},     [API_E_NOTIMPL] = {501, "ENOTIMPL"},
    [API_E_BUSY] = {503, "EBUSY"},         [API_E_DB] = {500, "EDB"},
    [API_E_INTERNAL] = {500, "EINTERNAL"}, [API_E_UNAUTH] = {401, "EUNAUTH"},
    [API_E_FORBIDDEN] = {403, "EFORBIDDEN"}, [API_E_RATE] = {429, "ERATE"},
    [API_E_CONFLICT] = {409, "ECONFLICT"},
};

unsigned api_err_status(enum api_err e)
{
    return (unsigned)e < API_E_N ? err_table[e].status : 500;
}

enum api_err api_err_of_rc(enum tk_rc rc)
{
    switch (rc) {
    case TK_EINVAL:
        return API_E_BADREQ;
    case TK_ENOTFOUND:
        return API_E_NOTFOUND;
    case TK_EFULL:
        return API_E_REPLYMAX;
    case TK_EBUSY:
        return API_E_BUSY;
    case TK_EDUP:
        return API_E_CONFLICT;
    case TK_EDB:
    case TK_EIO:
    case TK_ESCHEMA:
        return API_E_DB;
    default:
        return API_E_INTERNAL;
    }
}

void api_reply_init(struct api_reply *r, size_t max)
{
    memset(r, 0, sizeof *r);
    api_buf_init(&r->body, max);
}

void api_reply_free(struct api_reply *r)
{
    if (!r)
        return;
    api_buf_free(&r->body);
    if (r->stream) /* never handed to the connection */
        r->stream->destroy(r->stream);
    r->stream = NULL;
}

void api_reply_error(struct api_reply *r, enum api_err e, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if ((unsigned)e >= API_E_N)
        e = API_E_INTERNAL;
    /* an error body is small: it always fits, whatever filled the buffer before */
    api_buf_reset(&r->body);
    if (r->body.max < 4096)
        r->body.max = 4096;
    r->status = err_table[e].status;
    r->content_type = "application/json";
    r->gzipped = 0;
    r->nheaders = 0;
    api_buf_puts(&r->body, "{\"code\":");
    api_buf_json_str(&r->body, err_table[e].code, strlen(err_table[e].code));
    api_buf_puts(&r->body, ",\"message\":");
    api_buf_json_str(&r->body, msg, strlen(msg));
    if (field) {
        api_buf_puts(&r->body, ",\"field\":");
        api_buf_json_str(&r->body, field, strlen(field));
    }
    api_buf_puts(&r->body, "}");
    if (e == API_E_METHOD)
        r->allow = "GET, HEAD";
}

void api_reply_header(struct api_reply *r, const char *name, const char *fmt, ...)
{
    if (r->nheaders == API_REPLY_HEADERS_MAX) {
        if (!r->body.err)
            r->body.err = TK_EINVAL;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(r->headers[r->nheaders].value, sizeof r->headers[0].value, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof r->headers[0].value) {
        if (!r->body.err)
            r->body.err = TK_EINVAL;
        return;
    }
    r->headers[r->nheaders++].name = name;
}

void api_reply_finish(struct api_reply *r)
{
    if (r->body.err == TK_EFULL)
        api_reply_error(r, API_E_REPLYMAX, NULL,
                        "the response exceeds the server's limit of %zu bytes; use $top or $select",
                        r->body.max);
    else if (r->body.err)
        api_reply_error(r, API_E_INTERNAL, NULL, "%s", tk_strerror(r->body.err));
    if (!r->status)
        r->status = 200;
    if (!r->content_type)
        r->content_type = "application/json";
}

/* ---- gzip ----------------------------------------------------------------------------- */

/* Accept-Encoding: a comma list of codings with optional ";q=" weights; gzip (or "*")
 * with q > 0 is accepted. */
int api_accepts_gzip(const char *ae)
{
    if (!ae)
        return 0;
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t tl = (size_t)(p - tok);
        int is_gzip = (tl == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
                      (tl == 6 && strncasecmp(tok, "x-gzip", 6) == 0) || (tl == 1 && tok[0] == '*');
        int q_zero = 0;
        while (*p && *p != ',') {
            if (*p == ';') {
                p++;
                while (*p == ' ')
                    p++;
                if ((*p == 'q' || *p == 'Q') && p[1] == '=') {
                    const char *v = p + 2;
                    /* q=0, q=0.0, q=0.000 mean "not acceptable" */
                    if (*v == '0') {
                        v++;
                        if (*v == '.')
                            v++;
                        while (*v == '0')
                            v++;
                        q_zero = !(*v >= '1' && *v <= '9');
                    }
                }
            }
            if (*p && *p != ',')
                p++;
        }
        if (is_gzip && tl)
            return !q_zero;
    }
    return 0;
}

enum tk_rc api_reply_gzip(struct api_reply *r)
{
    if (r->gzipped || r->body.len < 256)
        return TK_OK;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return TK_ENOMEM;
    uLong bound = deflateBound(&z, (uLong)r->body.len);
    char *out = malloc(bound + 1);
    enum tk_rc rc = TK_OK;
    if (!out) {
        rc = TK_ENOMEM;
        goto cleanup;
    }
    z.next_in = (Bytef *)r->body.data;
    z.avail_in = (uInt)r->body.len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        rc = TK_EIO;
        free(out);
        goto cleanup;
    }
    free(r->body.data);
    r->body.data = out;
    r->body.len = (size_t)z.total_out;
    r->body.cap = bound + 1;
    r->gzipped = 1;
cleanup:
    deflateEnd(&z);
    return rc;
}
