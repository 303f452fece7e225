/* SensorThings query options ($top, $skip, $count, $select, $orderby, $expand) parsed into
 * struct api_query. Only the syntax is checked here; whether a name exists for the entity
 * at hand is checked by sta_render.c (api_sta_validate), which knows the entity.
 *
 * $expand items may carry nested options in parentheses, separated by ';'
 * ("Datastreams($top=2;$select=name;$expand=Observations($top=1))"), and may be paths
 * ("Datastreams/Observations", the same as "Datastreams($expand=Observations)"). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static enum tk_rc fail(struct tk_error *err, const char *opt, const char *fmt, ...) TK_PRINTF(3, 4);
static enum tk_rc fail(struct tk_error *err, const char *opt, const char *fmt, ...)
{
    if (err) {
        char msg[TK_ERROR_TEXT_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        tk_error_set(err, TK_EINVAL, opt, "%s", msg);
    }
    return TK_EINVAL;
}

/* at most this much of the client's text is quoted back */
#define QUOTE(n) ((n) > 60 ? 60 : (int)(n))

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_space((*s)[*n - 1]))
        (*n)--;
}

static int name_char(char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '@')
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '_' || c == '.');
}

/* A property or navigation name into out. */
static int copy_name(const char *s, size_t n, char out[API_NAME_MAX])
{
    if (n == 0 || n >= API_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i], i == 0))
            return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

static int parse_count(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* Next item of a list separated by sep at parenthesis depth 0; 0 at the end. */
static int next_item(const char **p, const char *end, char sep, const char **item, size_t *len,
                     int *bad)
{
    if (*p > end)
        return 0;
    const char *s = *p;
    int depth = 0;
    const char *q = s;
    for (; q < end; q++) {
        if (*q == '(')
            depth++;
        else if (*q == ')' && --depth < 0)
            break;
        else if (*q == sep && depth == 0)
            break;
    }
    if (depth != 0) {
        *bad = 1;
        return 0;
    }
    *item = s;
    *len = (size_t)(q - s);
    *p = q + 1; /* past the separator; past end when q == end */
    return 1;
}

static enum tk_rc parse_select(struct api_query *q, const char *v, size_t n, struct tk_error *err)
{
    const char *p = v, *it, *end = v + n;
    size_t len;
    int bad = 0;
    while (next_item(&p, end, ',', &it, &len, &bad)) {
        trim(&it, &len);
        if (q->nselect == API_SELECT_MAX)
            return fail(err, "$select", "more than 24 properties");
        if (!copy_name(it, len, q->select[q->nselect]))
            return fail(err, "$select", "'%.*s' is not a property name", QUOTE(len), it);
        q->nselect++;
    }
    return bad ? fail(err, "$select", "unbalanced parentheses") : TK_OK;
}

static enum tk_rc parse_orderby(struct api_query *q, const char *v, size_t n, struct tk_error *err)
{
    const char *p = v, *it, *end = v + n;
    size_t len;
    int bad = 0;
    while (next_item(&p, end, ',', &it, &len, &bad)) {
        trim(&it, &len);
        size_t k = 0;
        while (k < len && !is_space(it[k]))
            k++;
        const char *dir = it + k;
        size_t dlen = len - k;
        trim(&dir, &dlen);
        if (q->norder == API_ORDER_MAX)
            return fail(err, "$orderby", "more than 8 sort keys");
        struct api_order *o = &q->order[q->norder];
        if (!copy_name(it, k, o->name))
            return fail(err, "$orderby", "'%.*s' is not a property name", QUOTE(k), it);
        if (dlen == 0 || (dlen == 3 && strncmp(dir, "asc", 3) == 0))
            o->desc = 0;
        else if (dlen == 4 && strncmp(dir, "desc", 4) == 0)
            o->desc = 1;
        else
            return fail(err, "$orderby", "'%.*s': the direction must be asc or desc", QUOTE(len),
                        it);
        q->norder++;
    }
    return bad ? fail(err, "$orderby", "unbalanced parentheses") : TK_OK;
}

static struct api_expand *expand_slot(struct api_query *q, const char *name, size_t n,
                                      struct tk_error *err, enum tk_rc *rc)
{
    char nm[API_NAME_MAX];
    if (!copy_name(name, n, nm)) {
        *rc = fail(err, "$expand", "'%.*s' is not a navigation property name", QUOTE(n), name);
        return NULL;
    }
    for (size_t i = 0; i < q->nexpand; i++)
        if (strcmp(q->expand[i].name, nm) == 0)
            return &q->expand[i];
    if (q->nexpand == API_EXPAND_MAX) {
        *rc = fail(err, "$expand", "more than 8 expansions");
        return NULL;
    }
    struct api_expand *x = &q->expand[q->nexpand];
    x->q = calloc(1, sizeof *x->q);
    if (!x->q) {
        *rc = TK_ENOMEM;
        return NULL;
    }
    memcpy(x->name, nm, sizeof nm);
    q->nexpand++;
    return x;
}

static enum tk_rc parse_expand(struct api_query *q, const char *v, size_t n, int depth,
                               struct tk_error *err);

/* One item: Name, Name(options), Name/Rest */
static enum tk_rc expand_item(struct api_query *q, const char *it, size_t len, int depth,
                              struct tk_error *err)
{
    if (depth >= API_EXPAND_DEPTH_MAX)
        return fail(err, "$expand", "'%.*s': expansions nest at most 3 levels deep", QUOTE(len),
                    it);
    size_t k = 0;
    while (k < len && it[k] != '/' && it[k] != '(')
        k++;
    enum tk_rc rc = TK_OK;
    size_t nk = k;
    const char *nm = it;
    trim(&nm, &nk);
    struct api_expand *x = expand_slot(q, nm, nk, err, &rc);
    if (!x)
        return rc;
    if (k == len)
        return TK_OK;
    if (it[k] == '/')
        return expand_item(x->q, it + k + 1, len - k - 1, depth + 1, err);
    /* Name( options ) and nothing after the closing parenthesis */
    const char *close = it + len - 1;
    while (close > it + k && is_space(*close))
        close--;
    if (*close != ')')
        return fail(err, "$expand", "'%.*s': text after the options", QUOTE(len), it);
    return api_query_parse_nested(it + k + 1, (size_t)(close - (it + k + 1)), x->q, depth + 1, err);
}

static enum tk_rc parse_expand(struct api_query *q, const char *v, size_t n, int depth,
                               struct tk_error *err)
{
    const char *p = v, *it, *end = v + n;
    size_t len;
    int bad = 0;
    while (next_item(&p, end, ',', &it, &len, &bad)) {
        trim(&it, &len);
        enum tk_rc rc = expand_item(q, it, len, depth, err);
        if (rc)
            return rc;
    }
    return bad ? fail(err, "$expand", "unbalanced parentheses in '%.*s'", QUOTE(n), v) : TK_OK;
}

struct seen {
    unsigned mask;
};

static enum tk_rc apply(struct api_query *q, struct seen *seen, const char *k, size_t kn,
                        const char *v, size_t vn, int has_value, int depth, struct tk_error *err)
{
    static const char *const names[] = {"$top",     "$skip",   "$count",  "$select",
                                        "$orderby", "$expand", "$filter", "$resultFormat"};
    size_t which = sizeof names / sizeof names[0];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == kn && strncmp(names[i], k, kn) == 0)
            which = i;
    if (which == sizeof names / sizeof names[0]) {
        char key[API_NAME_MAX];
        size_t kl = kn < sizeof key - 1 ? kn : sizeof key - 1;
        memcpy(key, k, kl);
        key[kl] = '\0';
        return fail(err, key, "unknown query option '%.*s'", QUOTE(kn), k);
    }
    const char *opt = names[which];
    if (seen->mask & (1u << which))
        return fail(err, opt, "given more than once");
    seen->mask |= 1u << which;
    trim(&v, &vn);
    if (!has_value || vn == 0)
        return fail(err, opt, "needs a value");
    switch (which) {
    case 0:
        if (!parse_count(v, vn, &q->top))
            return fail(err, opt, "'%.*s' is not a non-negative integer", QUOTE(vn), v);
        q->has_top = 1;
        return TK_OK;
    case 1:
        if (!parse_count(v, vn, &q->skip))
            return fail(err, opt, "'%.*s' is not a non-negative integer", QUOTE(vn), v);
        q->has_skip = 1;
        return TK_OK;
    case 2:
        if (vn == 4 && strncmp(v, "true", 4) == 0)
            q->count = 1;
        else if (vn == 5 && strncmp(v, "false", 5) == 0)
            q->count = 0;
        else
            return fail(err, opt, "'%.*s' is neither true nor false", QUOTE(vn), v);
        q->has_count = 1;
        return TK_OK;
    case 3:
        return parse_select(q, v, vn, err);
    case 4:
        return parse_orderby(q, v, vn, err);
    case 5:
        return parse_expand(q, v, vn, depth, err);
    case 6:
        return api_filter_parse(v, vn, &q->filter, err);
    default:
        if (vn == 9 && strncmp(v, "dataArray", 9) == 0) {
            q->data_array = 1;
            return TK_OK;
        }
        if (vn == 3 && strncmp(v, "CSV", 3) == 0) {
            q->csv = 1;
            return TK_OK;
        }
        if (vn == 7 && strncmp(v, "GeoJSON", 7) == 0) {
            q->geojson = 1;
            return TK_OK;
        }
        return fail(err, opt, "'%.*s' is not a result format (dataArray, CSV, GeoJSON are)",
                    QUOTE(vn), v);
    }
}

enum tk_rc api_query_parse(const struct api_qarg *args, size_t n, struct api_query *q,
                           struct tk_error *err)
{
    memset(q, 0, sizeof *q);
    struct seen seen = {0};
    for (size_t i = 0; i < n; i++) {
        const char *k = args[i].key;
        if (!k || k[0] != '$')
            continue; /* custom options are the client's business */
        const char *v = args[i].value ? args[i].value : "";
        enum tk_rc rc = apply(q, &seen, k, strlen(k), v, strlen(v), args[i].value != NULL, 0, err);
        if (rc) {
            api_query_free(q);
            return rc;
        }
    }
    return TK_OK;
}

enum tk_rc api_query_parse_nested(const char *s, size_t len, struct api_query *q, int depth,
                                  struct tk_error *err)
{
    struct seen seen = {0};
    const char *p = s, *it, *end = s + len;
    size_t ilen;
    int bad = 0;
    while (next_item(&p, end, ';', &it, &ilen, &bad)) {
        trim(&it, &ilen);
        if (ilen == 0)
            continue;
        const char *eq = memchr(it, '=', ilen);
        size_t kn = eq ? (size_t)(eq - it) : ilen;
        const char *k = it;
        trim(&k, &kn);
        if (kn == 0 || k[0] != '$')
            return fail(err, "$expand", "nested option '%.*s' must be a $-option", QUOTE(ilen), it);
        const char *v = eq ? eq + 1 : "";
        size_t vn = eq ? (size_t)(it + ilen - v) : 0;
        enum tk_rc rc = apply(q, &seen, k, kn, v, vn, eq != NULL, depth, err);
        if (rc)
            return rc;
    }
    return bad ? fail(err, "$expand", "unbalanced parentheses in '%.*s'", QUOTE(len), s) : TK_OK;
}

void api_query_free(struct api_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nexpand; i++) {
        api_query_free(q->expand[i].q);
        free(q->expand[i].q);
        q->expand[i].q = NULL;
    }
    q->nexpand = 0;
    api_filter_free(q->filter);
    q->filter = NULL;
}
