/* $filter (OGC SensorThings API v1.1, 9.3.3.5): text -> tree -> names resolved and types
 * checked for one entity. The store compiles the tree to SQL (store_sta.h); nothing here
 * knows SQL.
 *
 * Design note. A recursive-descent parser over a small lexer, with OData's precedence:
 *
 *   or_expr   = and_expr *("or" and_expr)
 *   and_expr  = cmp_expr *("and" cmp_expr)
 *   cmp_expr  = add_expr [("eq"|"ne"|"gt"|"ge"|"lt"|"le") add_expr]
 *   add_expr  = mul_expr *(("add"|"sub") mul_expr)
 *   mul_expr  = unary *(("mul"|"div"|"mod") unary)
 *   unary     = "not" cmp_expr | "-" unary | primary
 *   primary   = "(" or_expr ")" | literal | name "(" [args] ")" | path
 *
 * ("not" takes a whole comparison, so "not name eq 'x'" means what it says.) Literals:
 * 'text' with '' for a quote, numbers, true/false/null, date-times (2026-11-26T15:00:00Z,
 * with an offset or not; a bare date 2026-11-26 is midnight UTC where a time is wanted),
 * geography'POINT(x y)' / geography'POLYGON((...))'. now() is read once, when parsed.
 *
 * Everything is bounded (text length, node count, nesting depth), every error carries
 * the character position (from 0) where it was found, and no input crashes the parser
 * (the unit test feeds it random bytes). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "tk_time.h"

#define DEPTH_MAX 64

enum ty { TY_ANY = 0, TY_BOOL, TY_NUM, TY_TEXT, TY_TIME, TY_GEO, TY_NULL };

static const char *const ty_name[] = {"a value",     "a boolean",  "a number", "a string",
                                      "a date-time", "a geometry", "null"};

struct api_filter {
    struct store_sta_filter f;
    struct store_sta_fnode node[STORE_STA_FNODES_MAX];
    int pos[STORE_STA_FNODES_MAX];  /* where each node starts in the text */
    int plen[STORE_STA_FNODES_MAX]; /* paths: length of the raw path text */
    unsigned char date_only[STORE_STA_FNODES_MAX];
    const char *src; /* the text (in arena) */
    size_t srclen;
    size_t alen, acap;
    char arena[]; /* the text, unescaped strings, JSON paths */
};

/* ---- errors ------------------------------------------------------------------------ */

static enum tk_rc ferr(struct tk_error *err, size_t pos, const char *fmt, ...) TK_PRINTF(3, 4);
static enum tk_rc ferr(struct tk_error *err, size_t pos, const char *fmt, ...)
{
    if (err) {
        char msg[TK_ERROR_TEXT_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        tk_error_set(err, TK_EINVAL, "$filter", "%.110s at position %zu", msg, pos);
    }
    return TK_EINVAL;
}

static char *arena_put(struct api_filter *f, const char *s, size_t n)
{
    if (n + 1 > f->acap - f->alen)
        return NULL;
    char *p = f->arena + f->alen;
    memcpy(p, s, n);
    p[n] = '\0';
    f->alen += n + 1;
    return p;
}

/* ---- lexer -------------------------------------------------------------------------- */

enum tok {
    T_EOF = 0,
    T_LP,
    T_RP,
    T_COMMA,
    T_MINUS,
    T_NAME, /* a name or a path of names separated by '/' */
    T_STR,
    T_NUM,
    T_TIME, /* a date-time or a date */
    T_GEO,
    T_BAD,
};

struct lex {
    const char *s;
    size_t n, i;
    enum tok t;
    size_t start, len; /* the token's text */
    const char *bad;   /* T_BAD: why */
};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '@';
}

static int name_char(char c)
{
    return name_start(c) || is_digit(c) || c == '.';
}

/* a quoted string from s[i] == '\'': sets *end one past the closing quote */
static int scan_string(const char *s, size_t n, size_t i, size_t *end)
{
    for (i++; i < n; i++) {
        if (s[i] == '\'') {
            if (i + 1 < n && s[i + 1] == '\'') {
                i++;
                continue;
            }
            *end = i + 1;
            return 1;
        }
    }
    return 0;
}

static void next(struct lex *lx)
{
    const char *s = lx->s;
    size_t n = lx->n, i = lx->i;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    lx->start = i;
    lx->bad = NULL;
    if (i == n) {
        lx->t = T_EOF;
        lx->len = 0;
        lx->i = i;
        return;
    }
    char c = s[i];
    size_t j = i + 1;
    if (c == '(' || c == ')' || c == ',' || c == '-') {
        lx->t = c == '(' ? T_LP : c == ')' ? T_RP : c == ',' ? T_COMMA : T_MINUS;
    } else if (c == '\'') {
        if (!scan_string(s, n, i, &j)) {
            lx->t = T_BAD;
            lx->bad = "unterminated string";
            j = n;
        } else {
            lx->t = T_STR;
        }
    } else if (is_digit(c)) {
        /* a date-time starts with four digits and '-' */
        if (i + 4 < n && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
            s[i + 4] == '-') {
            j = i + 4;
            while (j < n &&
                   (is_digit(s[j]) || s[j] == '-' || s[j] == ':' || s[j] == 'T' || s[j] == 'Z' ||
                    s[j] == '.' || s[j] == '+' || s[j] == 't' || s[j] == 'z'))
                j++;
            lx->t = T_TIME;
        } else {
            while (j < n && is_digit(s[j]))
                j++;
            if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1])) {
                j++;
                while (j < n && is_digit(s[j]))
                    j++;
            }
            if (j < n && (s[j] == 'e' || s[j] == 'E')) {
                size_t k = j + 1;
                if (k < n && (s[k] == '+' || s[k] == '-'))
                    k++;
                if (k < n && is_digit(s[k])) {
                    while (k < n && is_digit(s[k]))
                        k++;
                    j = k;
                }
            }
            lx->t = T_NUM;
        }
    } else if (name_start(c)) {
        for (;;) {
            while (j < n && name_char(s[j]))
                j++;
            if (j + 1 < n && s[j] == '/' && name_start(s[j + 1])) {
                j += 2;
                continue;
            }
            break;
        }
        lx->t = T_NAME;
        if (j < n && s[j] == '\'' &&
            ((j - i == 9 && strncmp(s + i, "geography", 9) == 0) ||
             (j - i == 8 && strncmp(s + i, "geometry", 8) == 0))) {
            size_t e;
            if (!scan_string(s, n, j, &e)) {
                lx->t = T_BAD;
                lx->bad = "unterminated geography literal";
                j = n;
            } else {
                lx->t = T_GEO;
                j = e;
            }
        }
    } else {
        lx->t = T_BAD;
        lx->bad = "unexpected character";
    }
    lx->len = j - i;
    lx->i = j;
}

static int tok_is(const struct lex *lx, const char *word)
{
    return lx->t == T_NAME && strlen(word) == lx->len &&
           strncmp(lx->s + lx->start, word, lx->len) == 0;
}

/* ---- parser ------------------------------------------------------------------------- */

struct parser {
    struct api_filter *f;
    struct lex lx;
    struct tk_error *err;
    enum tk_rc rc;
    int depth;
};

static int fail_at(struct parser *p, size_t pos, const char *what)
{
    if (!p->rc)
        p->rc = ferr(p->err, pos, "%s", what);
    return -1;
}

static int fail_tok(struct parser *p, const char *what)
{
    if (p->lx.t == T_BAD)
        return fail_at(p, p->lx.start, p->lx.bad);
    if (p->rc)
        return -1;
    if (p->lx.t == T_EOF)
        p->rc = ferr(p->err, p->lx.start, "%s, found the end of the filter", what);
    else
        p->rc = ferr(p->err, p->lx.start, "%s, found '%.*s'", what,
                     (int)(p->lx.len > 30 ? 30 : p->lx.len), p->lx.s + p->lx.start);
    return -1;
}

static int new_node(struct parser *p, enum store_sta_fop op, size_t pos)
{
    struct api_filter *f = p->f;
    if (f->f.n == STORE_STA_FNODES_MAX)
        return fail_at(p, pos, "the filter has too many terms (at most 256)");
    int i = (int)f->f.n++;
    memset(&f->node[i], 0, sizeof f->node[i]);
    f->node[i].op = op;
    f->pos[i] = (int)pos;
    return i;
}

static int binary(struct parser *p, enum store_sta_fop op, int a, int b, size_t pos)
{
    if (a < 0 || b < 0)
        return -1;
    int i = new_node(p, op, pos);
    if (i < 0)
        return -1;
    p->f->node[i].nargs = 2;
    p->f->node[i].arg[0] = a;
    p->f->node[i].arg[1] = b;
    return i;
}

static int or_expr(struct parser *p);
static int cmp_expr(struct parser *p);

static const struct fninfo {
    const char *name;
    int fn; /* enum store_sta_ffn, or -1 for now() */
    int min, max;
    enum ty ret, args[3];
} fns[] = {
    {"substringof", STORE_FN_SUBSTRINGOF, 2, 2, TY_BOOL, {TY_TEXT, TY_TEXT}},
    {"endswith", STORE_FN_ENDSWITH, 2, 2, TY_BOOL, {TY_TEXT, TY_TEXT}},
    {"startswith", STORE_FN_STARTSWITH, 2, 2, TY_BOOL, {TY_TEXT, TY_TEXT}},
    {"length", STORE_FN_LENGTH, 1, 1, TY_NUM, {TY_TEXT}},
    {"indexof", STORE_FN_INDEXOF, 2, 2, TY_NUM, {TY_TEXT, TY_TEXT}},
    {"substring", STORE_FN_SUBSTRING, 2, 3, TY_TEXT, {TY_TEXT, TY_NUM, TY_NUM}},
    {"tolower", STORE_FN_TOLOWER, 1, 1, TY_TEXT, {TY_TEXT}},
    {"toupper", STORE_FN_TOUPPER, 1, 1, TY_TEXT, {TY_TEXT}},
    {"trim", STORE_FN_TRIM, 1, 1, TY_TEXT, {TY_TEXT}},
    {"concat", STORE_FN_CONCAT, 2, 2, TY_TEXT, {TY_TEXT, TY_TEXT}},
    {"year", STORE_FN_YEAR, 1, 1, TY_NUM, {TY_TIME}},
    {"month", STORE_FN_MONTH, 1, 1, TY_NUM, {TY_TIME}},
    {"day", STORE_FN_DAY, 1, 1, TY_NUM, {TY_TIME}},
    {"hour", STORE_FN_HOUR, 1, 1, TY_NUM, {TY_TIME}},
    {"minute", STORE_FN_MINUTE, 1, 1, TY_NUM, {TY_TIME}},
    {"second", STORE_FN_SECOND, 1, 1, TY_NUM, {TY_TIME}},
    {"date", STORE_FN_DATE, 1, 1, TY_TEXT, {TY_TIME}},
    {"time", STORE_FN_TIME, 1, 1, TY_TEXT, {TY_TIME}},
    {"now", -1, 0, 0, TY_TIME, {TY_ANY}},
    {"round", STORE_FN_ROUND, 1, 1, TY_NUM, {TY_NUM}},
    {"floor", STORE_FN_FLOOR, 1, 1, TY_NUM, {TY_NUM}},
    {"ceiling", STORE_FN_CEILING, 1, 1, TY_NUM, {TY_NUM}},
    {"geo.distance", STORE_FN_GEO_DISTANCE, 2, 2, TY_NUM, {TY_GEO, TY_GEO}},
    {"geo.length", STORE_FN_GEO_LENGTH, 1, 1, TY_NUM, {TY_GEO}},
    {"geo.intersects", STORE_FN_GEO_INTERSECTS, 2, 2, TY_BOOL, {TY_GEO, TY_GEO}},
    {"st_equals", STORE_FN_ST_EQUALS, 2, 2, TY_BOOL, {TY_GEO, TY_GEO}},
    {"st_disjoint", STORE_FN_ST_DISJOINT, 2, 2, TY_BOOL, {TY_GEO, TY_GEO}},
    {"st_touches", STORE_FN_ST_TOUCHES, 2, 2, TY_BOOL, {TY_GEO, TY_GEO}},
    {"st_within", STORE_FN_ST_WITHIN, 2, 2, TY_BOOL, {TY_GEO, TY_GEO}},
    {"st_overlaps", STORE_FN_ST_OVERLAPS, 2, 2, TY_BOOL, {TY_GEO, TY_GEO}},
    {"st_crosses", STORE_FN_ST_CROSSES, 2, 2, TY_BOOL, {TY_GEO, TY_GEO}},
    {"st_intersects", STORE_FN_ST_INTERSECTS, 2, 2, TY_BOOL, {TY_GEO, TY_GEO}},
    {"st_contains", STORE_FN_ST_CONTAINS, 2, 2, TY_BOOL, {TY_GEO, TY_GEO}},
};

static const struct fninfo *fn_by_id(int fn)
{
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (fns[i].fn == fn)
            return &fns[i];
    return NULL;
}

/* a string literal's text without quotes, '' unescaped, into the arena */
static const char *unquote(struct parser *p, size_t start, size_t len, size_t *out_len)
{
    const char *s = p->lx.s + start + 1;
    size_t n = len - 2, k = 0;
    struct api_filter *f = p->f;
    if (n + 1 > f->acap - f->alen)
        return NULL;
    char *d = f->arena + f->alen;
    for (size_t i = 0; i < n; i++) {
        d[k++] = s[i];
        if (s[i] == '\'')
            i++; /* '' */
    }
    d[k] = '\0';
    f->alen += k + 1;
    *out_len = k;
    return d;
}

static int lit_time(struct parser *p)
{
    const char *s = p->lx.s + p->lx.start;
    size_t n = p->lx.len, pos = p->lx.start;
    int64_t us;
    int date_only = n == 10;
    char buf[40];
    if (n < 10)
        return fail_at(p, pos, "not a valid date-time");
    if (date_only) {
        snprintf(buf, sizeof buf, "%.10sT00:00:00Z", s);
        s = buf;
        n = strlen(buf);
    } else if (n < sizeof buf - 1 && n > 0 && (s[n - 1] != 'Z' && s[n - 1] != 'z') &&
               !memchr(s + 10, '+', n - 10) && !memchr(s + 10, '-', n - 10)) {
        snprintf(buf, sizeof buf, "%.*sZ", (int)n, s); /* no offset: UTC */
        s = buf;
        n = strlen(buf);
    }
    if (tk_time_parse_rfc3339(s, n, &us))
        return fail_at(p, pos, "not a valid date-time");
    int i = new_node(p, STORE_F_LIT, pos);
    if (i < 0)
        return -1;
    p->f->node[i].v.type = STORE_STA_TIME;
    p->f->node[i].v.i = us;
    p->f->date_only[i] = (unsigned char)date_only;
    next(&p->lx);
    return i;
}

static int lit_num(struct parser *p)
{
    char buf[64];
    size_t pos = p->lx.start, n = p->lx.len;
    if (n >= sizeof buf)
        return fail_at(p, pos, "number too long");
    memcpy(buf, p->lx.s + pos, n);
    buf[n] = '\0';
    int i = new_node(p, STORE_F_LIT, pos);
    if (i < 0)
        return -1;
    struct store_sta_value *v = &p->f->node[i].v;
    if (!memchr(buf, '.', n) && !memchr(buf, 'e', n) && !memchr(buf, 'E', n) && n <= 18) {
        v->type = STORE_STA_INT;
        v->i = strtoll(buf, NULL, 10);
    } else {
        char *end;
        v->type = STORE_STA_REAL;
        v->d = strtod(buf, &end);
        if (*end || v->d != v->d || v->d > 1e308 || v->d < -1e308)
            return fail_at(p, pos, "not a valid number");
    }
    next(&p->lx);
    return i;
}

static int call(struct parser *p, size_t pos, size_t nlen)
{
    const char *name = p->lx.s + pos;
    const struct fninfo *fi = NULL;
    for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++)
        if (strlen(fns[k].name) == nlen && strncmp(fns[k].name, name, nlen) == 0)
            fi = &fns[k];
    if (!fi)
        return fail_at(p, pos, "unknown function");
    next(&p->lx); /* past '(' */
    int args[STORE_STA_FARGS_MAX];
    int nargs = 0;
    if (p->lx.t != T_RP) {
        for (;;) {
            if (nargs == fi->max) {
                char msg[80];
                snprintf(msg, sizeof msg, "%s takes at most %d argument%s", fi->name, fi->max,
                         fi->max == 1 ? "" : "s");
                return fail_at(p, p->lx.start, msg);
            }
            int a = or_expr(p);
            if (a < 0)
                return -1;
            args[nargs++] = a;
            if (p->lx.t == T_COMMA) {
                next(&p->lx);
                continue;
            }
            break;
        }
    }
    if (p->lx.t != T_RP)
        return fail_tok(p, "expected ',' or ')'");
    if (nargs < fi->min) {
        char msg[80];
        snprintf(msg, sizeof msg, "%s needs %d argument%s", fi->name, fi->min,
                 fi->min == 1 ? "" : "s");
        return fail_at(p, p->lx.start, msg);
    }
    next(&p->lx);
    if (fi->fn < 0) { /* now(): read once */
        int i = new_node(p, STORE_F_LIT, pos);
        if (i < 0)
            return -1;
        p->f->node[i].v.type = STORE_STA_TIME;
        p->f->node[i].v.i = tk_now_utc_us();
        return i;
    }
    int i = new_node(p, STORE_F_CALL, pos);
    if (i < 0)
        return -1;
    struct store_sta_fnode *nd = &p->f->node[i];
    nd->fn = (enum store_sta_ffn)fi->fn;
    nd->nargs = nargs;
    for (int k = 0; k < nargs; k++)
        nd->arg[k] = args[k];
    return i;
}

static int primary(struct parser *p)
{
    struct lex *lx = &p->lx;
    size_t pos = lx->start;
    switch (lx->t) {
    case T_LP: {
        next(lx);
        int e = or_expr(p);
        if (e < 0)
            return -1;
        if (lx->t != T_RP)
            return fail_tok(p, "expected ')'");
        next(lx);
        return e;
    }
    case T_STR:
    case T_GEO: {
        int geo = lx->t == T_GEO;
        size_t qs = geo ? (size_t)((const char *)memchr(lx->s + pos, '\'', lx->len) - lx->s) : pos;
        size_t len;
        const char *s = unquote(p, qs, lx->len - (qs - pos), &len);
        if (!s)
            return fail_at(p, pos, "out of room for literals");
        int i = new_node(p, geo ? STORE_F_GEO : STORE_F_LIT, pos);
        if (i < 0)
            return -1;
        p->f->node[i].v.type = STORE_STA_TEXT;
        p->f->node[i].v.s = s;
        p->f->node[i].v.len = len;
        next(lx);
        return i;
    }
    case T_NUM:
        return lit_num(p);
    case T_TIME:
        return lit_time(p);
    case T_NAME: {
        size_t len = lx->len;
        if (tok_is(lx, "true") || tok_is(lx, "false") || tok_is(lx, "null")) {
            int i = new_node(p, STORE_F_LIT, pos);
            if (i < 0)
                return -1;
            if (tok_is(lx, "null")) {
                p->f->node[i].v.type = STORE_STA_NULL;
            } else {
                p->f->node[i].v.type = STORE_STA_INT;
                p->f->node[i].v.i = tok_is(lx, "true");
                p->f->pos[i] = (int)pos;
                p->f->plen[i] = -1; /* marks a boolean literal */
            }
            next(lx);
            return i;
        }
        static const char *const kw[] = {"eq", "ne",  "gt",  "ge",  "lt",  "le", "and",
                                         "or", "add", "sub", "mul", "div", "mod"};
        for (size_t k = 0; k < sizeof kw / sizeof kw[0]; k++)
            if (tok_is(lx, kw[k]))
                return fail_tok(p, "expected a value, a property or '('");
        next(lx);
        if (lx->t == T_LP)
            return call(p, pos, len);
        int i = new_node(p, STORE_F_PATH, pos);
        if (i < 0)
            return -1;
        p->f->plen[i] = (int)len;
        return i;
    }
    default:
        return fail_tok(p, "expected a value, a property or '('");
    }
}

static int unary(struct parser *p)
{
    struct lex *lx = &p->lx;
    size_t pos = lx->start;
    if (++p->depth > DEPTH_MAX) {
        p->depth--;
        return fail_at(p, pos, "the filter nests too deeply");
    }
    int r;
    if (tok_is(lx, "not")) {
        next(lx);
        int a = cmp_expr(p);
        r = a < 0 ? -1 : new_node(p, STORE_F_NOT, pos);
        if (r >= 0) {
            p->f->node[r].nargs = 1;
            p->f->node[r].arg[0] = a;
        }
    } else if (lx->t == T_MINUS) {
        next(lx);
        int a = unary(p);
        r = -1;
        if (a >= 0 && p->f->node[a].op == STORE_F_LIT && p->f->node[a].v.type == STORE_STA_INT &&
            p->f->plen[a] == 0) {
            p->f->node[a].v.i = -p->f->node[a].v.i; /* a negative number */
            p->f->pos[a] = (int)pos;
            r = a;
        } else if (a >= 0 && p->f->node[a].op == STORE_F_LIT &&
                   p->f->node[a].v.type == STORE_STA_REAL) {
            p->f->node[a].v.d = -p->f->node[a].v.d;
            p->f->pos[a] = (int)pos;
            r = a;
        } else if (a >= 0) {
            r = new_node(p, STORE_F_NEG, pos);
            if (r >= 0) {
                p->f->node[r].nargs = 1;
                p->f->node[r].arg[0] = a;
            }
        }
    } else {
        r = primary(p);
    }
    p->depth--;
    return r;
}

static int mul_expr(struct parser *p)
{
    int a = unary(p);
    while (a >= 0) {
        enum store_sta_fop op;
        if (tok_is(&p->lx, "mul"))
            op = STORE_F_MUL;
        else if (tok_is(&p->lx, "div"))
            op = STORE_F_DIV;
        else if (tok_is(&p->lx, "mod"))
            op = STORE_F_MOD;
        else
            break;
        size_t pos = p->lx.start;
        next(&p->lx);
        a = binary(p, op, a, unary(p), pos);
    }
    return a;
}

static int add_expr(struct parser *p)
{
    int a = mul_expr(p);
    while (a >= 0) {
        enum store_sta_fop op;
        if (tok_is(&p->lx, "add"))
            op = STORE_F_ADD;
        else if (tok_is(&p->lx, "sub"))
            op = STORE_F_SUB;
        else
            break;
        size_t pos = p->lx.start;
        next(&p->lx);
        a = binary(p, op, a, mul_expr(p), pos);
    }
    return a;
}

static int cmp_expr(struct parser *p)
{
    int a = add_expr(p);
    if (a < 0)
        return -1;
    static const struct {
        const char *w;
        enum store_sta_fop op;
    } ops[] = {{"eq", STORE_F_EQ}, {"ne", STORE_F_NE}, {"gt", STORE_F_GT},
               {"ge", STORE_F_GE}, {"lt", STORE_F_LT}, {"le", STORE_F_LE}};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        if (tok_is(&p->lx, ops[k].w)) {
            size_t pos = p->lx.start;
            next(&p->lx);
            return binary(p, ops[k].op, a, add_expr(p), pos);
        }
    }
    return a;
}

static int and_expr(struct parser *p)
{
    int a = cmp_expr(p);
    while (a >= 0 && tok_is(&p->lx, "and")) {
        size_t pos = p->lx.start;
        next(&p->lx);
        a = binary(p, STORE_F_AND, a, cmp_expr(p), pos);
    }
    return a;
}

static int or_expr(struct parser *p)
{
    if (++p->depth > DEPTH_MAX) {
        p->depth--;
        return fail_at(p, p->lx.start, "the filter nests too deeply");
    }
    int a = and_expr(p);
    while (a >= 0 && tok_is(&p->lx, "or")) {
        size_t pos = p->lx.start;
        next(&p->lx);
        a = binary(p, STORE_F_OR, a, and_expr(p), pos);
    }
    p->depth--;
    return a;
}

enum tk_rc api_filter_parse(const char *s, size_t len, struct api_filter **out,
                            struct tk_error *err)
{
    *out = NULL;
    if (len > API_FILTER_LEN_MAX)
        return ferr(err, API_FILTER_LEN_MAX, "the filter is longer than %d characters",
                    API_FILTER_LEN_MAX);
    if (memchr(s, '\0', len))
        return ferr(err, (size_t)((const char *)memchr(s, '\0', len) - s), "a NUL character");
    size_t acap = 3 * len + 64; /* the text, its strings, JSON paths ("$." + a path) */
    struct api_filter *f = calloc(1, sizeof *f + acap);
    if (!f)
        return TK_ENOMEM;
    f->acap = acap;
    f->src = arena_put(f, s, len);
    f->srclen = len;
    f->f.nodes = f->node;
    struct parser p = {.f = f, .lx = {.s = f->src, .n = len}, .err = err};
    next(&p.lx);
    int root = or_expr(&p);
    if (root >= 0 && p.lx.t != T_EOF)
        root = fail_tok(&p, "expected an operator or the end of the filter");
    if (root < 0) {
        enum tk_rc rc = p.rc ? p.rc : TK_EINVAL;
        free(f);
        return rc;
    }
    f->f.root = root;
    *out = f;
    return TK_OK;
}

void api_filter_free(struct api_filter *f)
{
    free(f);
}

const struct store_sta_filter *api_filter_tree(const struct api_filter *f)
{
    return f ? &f->f : NULL;
}

/* ---- names and types ------------------------------------------------------------------ */

struct checker {
    struct api_filter *f;
    enum store_sta_entity e;
    struct tk_error *err;
    enum tk_rc rc;
    enum ty ty[STORE_STA_FNODES_MAX];
};

static enum ty prop_type(enum store_sta_vtype t)
{
    switch (t) {
    case STORE_STA_INT:
    case STORE_STA_REAL:
        return TY_NUM;
    case STORE_STA_TEXT:
        return TY_TEXT;
    case STORE_STA_TIME:
    case STORE_STA_INTERVAL:
        return TY_TIME;
    default:
        return TY_ANY;
    }
}

static int cfail(struct checker *c, int i, const char *fmt, ...) TK_PRINTF(3, 4);
static int cfail(struct checker *c, int i, const char *fmt, ...)
{
    if (!c->rc) {
        char msg[TK_ERROR_TEXT_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        c->rc = ferr(c->err, (size_t)c->f->pos[i], "%s", msg);
    }
    return 0;
}

static int resolve_path(struct checker *c, int i)
{
    struct api_filter *f = c->f;
    struct store_sta_fnode *nd = &f->node[i];
    const char *s = f->src + f->pos[i];
    size_t n = (size_t)f->plen[i], k = 0;
    enum store_sta_entity cur = c->e;
    struct store_sta_fpath *p = &nd->path;
    memset(p, 0, sizeof *p);
    p->prop = -1;
    char json[API_FILTER_LEN_MAX + 8];
    size_t jl = 0;
    while (k < n) {
        size_t j = k;
        while (j < n && s[j] != '/')
            j++;
        const char *seg = s + k;
        size_t sl = j - k;
        if (p->prop >= 0) { /* inside a JSON property */
            for (size_t q = 0; q < sl; q++)
                if (seg[q] == '.' || seg[q] == '@')
                    return cfail(c, i, "'%.*s' is not a JSON member name", (int)(sl > 40 ? 40 : sl),
                                 seg);
            if (jl + sl + 2 >= sizeof json)
                return cfail(c, i, "path too long");
            json[jl++] = '.';
            memcpy(json + jl, seg, sl);
            jl += sl;
        } else {
            int card = 0;
            int to = api_nav_find(cur, seg, sl, &card);
            if (to >= 0) {
                if (p->nnav == STORE_STA_NAV_MAX)
                    return cfail(c, i, "a path crosses at most %d entities", STORE_STA_NAV_MAX);
                p->nav[p->nnav++] = (enum store_sta_entity)to;
                cur = (enum store_sta_entity)to;
            } else {
                int prop = api_prop_find(cur, seg, sl);
                if (prop < 0)
                    return cfail(c, i, "%s have no property or navigation '%.*s'",
                                 api_set_name(cur), (int)(sl > 40 ? 40 : sl), seg);
                p->prop = prop;
                size_t np;
                const struct store_sta_prop *props = store_sta_props(cur, &np);
                if (j < n && props[prop].type != STORE_STA_JSON)
                    return cfail(c, i, "'%s' has no members", props[prop].name);
                json[0] = '$';
                jl = 1;
            }
        }
        k = j + 1;
    }
    if (p->prop < 0)
        return cfail(c, i, "the path must end in a property, not an entity");
    size_t np;
    const struct store_sta_prop *props = store_sta_props(cur, &np);
    if (jl > 1) {
        char *js = arena_put(f, json, jl);
        if (!js)
            return cfail(c, i, "out of room for paths");
        p->json = js;
        p->json_len = jl;
        c->ty[i] = TY_ANY;
    } else {
        c->ty[i] = prop_type(props[p->prop].type);
    }
    return 1;
}

static int compatible(enum ty want, enum ty have)
{
    return want == have || want == TY_ANY || have == TY_ANY || have == TY_NULL;
}

/* A string literal where a date-time is wanted: read it as one. */
static int coerce_time(struct checker *c, int i)
{
    struct store_sta_fnode *nd = &c->f->node[i];
    if (nd->op != STORE_F_LIT || nd->v.type != STORE_STA_TEXT)
        return 0;
    char buf[48];
    if (nd->v.len == 10 || (nd->v.len > 10 && nd->v.len < 40)) {
        if (nd->v.len == 10)
            snprintf(buf, sizeof buf, "%.10sT00:00:00Z", nd->v.s);
        else
            snprintf(buf, sizeof buf, "%.*s", (int)nd->v.len, nd->v.s);
        int64_t us;
        if (tk_time_parse_rfc3339(buf, strlen(buf), &us) == TK_OK) {
            nd->v.type = STORE_STA_TIME;
            nd->v.i = us;
            c->ty[i] = TY_TIME;
            return 1;
        }
    }
    return 0;
}

/* A date-only literal where text from date() is compared: back to 'YYYY-MM-DD'. */
static void date_as_text(struct checker *c, int i)
{
    struct api_filter *f = c->f;
    struct store_sta_fnode *nd = &f->node[i];
    if (nd->op != STORE_F_LIT || nd->v.type != STORE_STA_TIME || !f->date_only[i])
        return;
    const char *txt = arena_put(f, f->src + f->pos[i], 10);
    if (!txt)
        return;
    nd->v.type = STORE_STA_TEXT;
    nd->v.s = txt;
    nd->v.len = 10;
    c->ty[i] = TY_TEXT;
}

static int check(struct checker *c, int i, int depth);

static int want(struct checker *c, int i, enum ty t, const char *what)
{
    if (!check(c, i, 0))
        return 0;
    if (t == TY_TIME && c->ty[i] == TY_TEXT)
        coerce_time(c, i);
    if (!compatible(t, c->ty[i]))
        return cfail(c, i, "%s needs %s here, not %s", what, ty_name[t], ty_name[c->ty[i]]);
    return 1;
}

static int check(struct checker *c, int i, int depth)
{
    (void)depth;
    struct store_sta_fnode *nd = &c->f->node[i];
    switch (nd->op) {
    case STORE_F_LIT:
        c->ty[i] = nd->v.type == STORE_STA_NULL   ? TY_NULL
                   : nd->v.type == STORE_STA_TEXT ? TY_TEXT
                   : nd->v.type == STORE_STA_TIME ? TY_TIME
                   : c->f->plen[i] == -1          ? TY_BOOL
                                                  : TY_NUM;
        return 1;
    case STORE_F_GEO:
        c->ty[i] = TY_GEO;
        return 1;
    case STORE_F_PATH:
        return resolve_path(c, i);
    case STORE_F_AND:
    case STORE_F_OR:
        c->ty[i] = TY_BOOL;
        return want(c, nd->arg[0], TY_BOOL, nd->op == STORE_F_AND ? "'and'" : "'or'") &&
               want(c, nd->arg[1], TY_BOOL, nd->op == STORE_F_AND ? "'and'" : "'or'");
    case STORE_F_NOT:
        c->ty[i] = TY_BOOL;
        return want(c, nd->arg[0], TY_BOOL, "'not'");
    case STORE_F_NEG:
        c->ty[i] = TY_NUM;
        return want(c, nd->arg[0], TY_NUM, "'-'");
    case STORE_F_ADD:
    case STORE_F_SUB:
    case STORE_F_MUL:
    case STORE_F_DIV:
    case STORE_F_MOD:
        c->ty[i] = TY_NUM;
        return want(c, nd->arg[0], TY_NUM, "arithmetic") &&
               want(c, nd->arg[1], TY_NUM, "arithmetic");
    case STORE_F_CALL: {
        const struct fninfo *fi = fn_by_id((int)nd->fn);
        if (!fi)
            return cfail(c, i, "unknown function");
        c->ty[i] = fi->ret;
        for (int k = 0; k < nd->nargs; k++)
            if (!want(c, nd->arg[k], fi->args[k], fi->name))
                return 0;
        return 1;
    }
    default:
        break;
    }
    /* comparisons */
    c->ty[i] = TY_BOOL;
    int a = nd->arg[0], b = nd->arg[1];
    if (!check(c, a, 0) || !check(c, b, 0))
        return 0;
    if (c->ty[a] == TY_TIME && c->ty[b] == TY_TEXT)
        coerce_time(c, b);
    if (c->ty[b] == TY_TIME && c->ty[a] == TY_TEXT) {
        if (c->f->node[a].op == STORE_F_CALL && c->f->node[a].fn == STORE_FN_DATE)
            date_as_text(c, b);
        else
            coerce_time(c, a);
    }
    if (c->ty[a] == TY_TIME && c->ty[b] == TY_TEXT && c->f->node[b].op == STORE_F_CALL &&
        c->f->node[b].fn == STORE_FN_DATE)
        date_as_text(c, a);
    if (c->ty[a] == TY_GEO || c->ty[b] == TY_GEO)
        return cfail(c, i, "geometries are compared with st_equals, not an operator");
    if (!compatible(c->ty[a], c->ty[b]))
        return cfail(c, i, "cannot compare %s with %s", ty_name[c->ty[a]], ty_name[c->ty[b]]);
    if (nd->op != STORE_F_EQ && nd->op != STORE_F_NE &&
        (c->ty[a] == TY_BOOL || c->ty[b] == TY_BOOL))
        return cfail(c, i, "booleans are only compared with eq and ne");
    return 1;
}

enum tk_rc api_filter_resolve(struct api_filter *f, enum store_sta_entity e, struct tk_error *err)
{
    if (!f)
        return TK_OK;
    struct checker *c = calloc(1, sizeof *c);
    if (!c)
        return TK_ENOMEM;
    c->f = f;
    c->e = e;
    c->err = err;
    enum tk_rc rc = TK_OK;
    /* children precede parents in node order, but check() recurses from the root so that
     * coercions see their context */
    if (!check(c, f->f.root, 0)) {
        rc = c->rc ? c->rc : TK_EINVAL;
    } else if (c->ty[f->f.root] != TY_BOOL && c->ty[f->f.root] != TY_ANY) {
        rc = ferr(err, 0, "the filter must be a condition (true or false), not %s",
                  ty_name[c->ty[f->f.root]]);
    }
    free(c);
    return rc;
}
