/* $filter trees compiled to SQL conditions, for both backends.
 *
 * Design note. The tree's literals never become SQL text: node i's value is bound at
 * ?(STA_FPARAM + i), so the same numbers serve both arms of an Observations union and a
 * count. Properties become column expressions of fixed templates; a comparison on the
 * filtered entity's own columns stays a plain "col op ?N", which is what lets SQLite use
 * its keys: phenomenonTime ge X and phenomenonTime lt Y under one Datastream is a range on
 * observations' (ds_id, t_us) key and on obs_staging's (batch, ds_id, t_us).
 *
 * A path through navigation properties (Datastreams/ObservedProperty/name on Things,
 * Thing/name on Datastreams) turns the smallest boolean expression that holds it (a
 * comparison, a boolean function) into EXISTS (SELECT 1 FROM <the entities walked> WHERE
 * <the links> AND <that expression>): "some related entity satisfies it", as the
 * standard reads a to-many path, and plain equality for a to-one one. and, or and not
 * stay outside, so "not Thing/name eq 'x'" is NOT EXISTS (...).
 *
 * Templates write @T for the entity's alias, @S for the alias of the entity the
 * navigation starts from, and @F for that Observation's FeatureOfInterest column (staged
 * rows have none yet and take the one of their Thing's Location, as the move will).
 *
 * SQLite compares values of any types; PostgreSQL wants the types of both sides to agree.
 * So every expression has a static type (enum sta_type, from the property table and the
 * functions' signatures), each operand is asked for the type its operator needs, and the
 * dialect says how to turn one into the other (num_as_text...; nothing in SQLite, where
 * the text stays as it was). A JSON member (properties/kind) is read as a number or as
 * text, whichever the other side of its comparison is, and only when it holds one: a
 * string member is no number (NULL, so properties/s gt 10 is false whatever SQLite would
 * say of a text against a number) and a number member no text (properties/n eq '5' is
 * false, as SQLite's json_extract would have it and PostgreSQL's casts would not);
 * true/false count as numbers 1/0. One rule, spelt in each dialect. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sta_int.h"

/* Property columns per entity, in store_sta_props order. */
static const char *const fcols[STORE_STA_N][STORE_STA_PROPS_MAX] = {
    [STORE_STA_THING] = {"@T.id", "@T.name", "@T.description", "@T.properties"},
    [STORE_STA_LOCATION] = {"@T.id", "@T.name", "@T.description", "@T.encoding_type",
                            "@T.location"},
    [STORE_STA_HLOCATION] = {"@T.id", "@T.time_us"},
    [STORE_STA_DATASTREAM] = {"@T.id", "@T.name", "@T.description",
                              "json_object('name', @T.unit_name, 'symbol', @T.unit_symbol,"
                              " 'definition', @T.unit_definition)",
                              "@T.observation_type"},
    [STORE_STA_SENSOR] = {"@T.id", "@T.name", "@T.description", "@T.encoding_type", "@T.metadata"},
    [STORE_STA_OPROPERTY] = {"@T.id", "@T.name", "@T.definition", "@T.description"},
    [STORE_STA_OBSERVATION] = {"@T.id", "@T.t_us", "coalesce(@T.result_time_us, @T.t_us)",
                               "@T.result", "@T.params"},
    [STORE_STA_FOI] = {"@T.id", "@T.name", "@T.description", "@T.encoding_type", "@T.feature"},
};

#define OBS_RESULT 3 /* index of "result" in the Observation properties */

void store_sta__withheld_sql(struct sqlbuf *b, const struct store_sta_withhold *w,
                             const char *alias)
{
    store_sta__put(b, "(%s.result < %.17g AND (SELECT quantity FROM datastreams WHERE id = %s.ds_id)"
                      " IN (", alias, w->below, alias);
    int first = 1;
    for (unsigned q = 0; q < 32; q++)
        if (w->mask & (1u << q)) {
            store_sta__put(b, "%s%u", first ? "" : ", ", q);
            first = 0;
        }
    store_sta__put(b, "))");
}

void store_sta__result_sql(struct sqlbuf *b, const struct store_sta_withhold *w,
                           const char *alias)
{
    if (!w || !w->mask) {
        store_sta__put(b, "%s.result", alias);
        return;
    }
    store_sta__put(b, "CASE WHEN ");
    store_sta__withheld_sql(b, w, alias);
    store_sta__put(b, " THEN NULL ELSE %s.result END", alias);
}

static const char *const ftables[STORE_STA_N] = {
    [STORE_STA_THING] = "things",
    [STORE_STA_LOCATION] = "locations",
    [STORE_STA_HLOCATION] = "historical_locations",
    [STORE_STA_DATASTREAM] = "datastreams",
    [STORE_STA_SENSOR] = "sensors",
    [STORE_STA_OPROPERTY] = "observed_properties",
    [STORE_STA_OBSERVATION] = NULL, /* the dialect's obs_source */
    [STORE_STA_FOI] = "features_of_interest",
};

#define FOI_OF(ds)                                                                                 \
    "(SELECT ff.id FROM datastreams fd JOIN thing_locations ftl ON ftl.thing_id = fd.thing_id"     \
    " JOIN features_of_interest ff ON ff.location_id = ftl.location_id WHERE fd.id = " ds          \
    " ORDER BY ff.id DESC LIMIT 1)"

static const struct {
    enum store_sta_entity from, to;
    const char *cond;
} flinks[] = {
    {STORE_STA_THING, STORE_STA_LOCATION,
     "@T.id IN (SELECT location_id FROM thing_locations WHERE thing_id = @S.id)"},
    {STORE_STA_THING, STORE_STA_HLOCATION, "@T.thing_id = @S.id"},
    {STORE_STA_THING, STORE_STA_DATASTREAM, "@T.thing_id = @S.id"},
    {STORE_STA_LOCATION, STORE_STA_THING,
     "@T.id IN (SELECT thing_id FROM thing_locations WHERE location_id = @S.id)"},
    {STORE_STA_LOCATION, STORE_STA_HLOCATION,
     "@T.id IN (SELECT historical_location_id FROM historical_location_locations"
     " WHERE location_id = @S.id)"},
    {STORE_STA_HLOCATION, STORE_STA_THING, "@T.id = @S.thing_id"},
    {STORE_STA_HLOCATION, STORE_STA_LOCATION,
     "@T.id IN (SELECT location_id FROM historical_location_locations"
     " WHERE historical_location_id = @S.id)"},
    {STORE_STA_DATASTREAM, STORE_STA_THING, "@T.id = @S.thing_id"},
    {STORE_STA_DATASTREAM, STORE_STA_SENSOR, "@T.id = @S.sensor_id"},
    {STORE_STA_DATASTREAM, STORE_STA_OPROPERTY, "@T.id = @S.observed_property_id"},
    {STORE_STA_DATASTREAM, STORE_STA_OBSERVATION, "@T.ds_id = @S.id"},
    {STORE_STA_SENSOR, STORE_STA_DATASTREAM, "@T.sensor_id = @S.id"},
    {STORE_STA_OPROPERTY, STORE_STA_DATASTREAM, "@T.observed_property_id = @S.id"},
    {STORE_STA_OBSERVATION, STORE_STA_DATASTREAM, "@T.id = @S.ds_id"},
    {STORE_STA_OBSERVATION, STORE_STA_FOI, "@T.id = coalesce(@F, " FOI_OF("@S.ds_id") ")"},
    {STORE_STA_FOI, STORE_STA_OBSERVATION,
     "@T.ds_id IN (SELECT gd.id FROM features_of_interest gf JOIN thing_locations gtl"
     " ON gtl.location_id = gf.location_id JOIN datastreams gd ON gd.thing_id = gtl.thing_id"
     " WHERE gf.id = @S.id) AND coalesce(@T.foi_id, " FOI_OF("@T.ds_id") ") = @S.id"},
};

/* Visibility of firm-private data (store_sta.h): what hides each entity, on its alias @T.
 * Locations, Sensors, ObservedProperties and FeaturesOfInterest are hidden when every
 * Thing (Datastream, Observation) that uses them is hidden, and they are used at all. */
#define H "(" HIDDEN_THINGS ")"
#define ONLY_HIDDEN(uses)                                                                          \
    "NOT (EXISTS (" uses " IN " H ") AND NOT EXISTS (" uses " NOT IN " H "))"
/* Thing id `col` is not hidden: one probe of sta_owners' key per row (a NOT IN list of
 * the hidden Things would be built again by every statement, even for one entity) */
#define NOT_HIDDEN(col)                                                                            \
    "NOT EXISTS (SELECT 1 FROM sta_owners vo WHERE vo.entity = 0 AND vo.id = " col                \
    " AND vo.private = 1 AND vo.owner IS DISTINCT FROM ?300)"
static const char *const vis[STORE_STA_N] = {
    [STORE_STA_THING] = NOT_HIDDEN("@T.id"),
    [STORE_STA_LOCATION] = ONLY_HIDDEN(
        "SELECT 1 FROM thing_locations vl WHERE vl.location_id = @T.id AND vl.thing_id"),
    [STORE_STA_HLOCATION] = NOT_HIDDEN("@T.thing_id"),
    [STORE_STA_DATASTREAM] = NOT_HIDDEN("@T.thing_id"),
    [STORE_STA_SENSOR] =
        ONLY_HIDDEN("SELECT 1 FROM datastreams vd WHERE vd.sensor_id = @T.id AND vd.thing_id"),
    [STORE_STA_OPROPERTY] = ONLY_HIDDEN(
        "SELECT 1 FROM datastreams vd WHERE vd.observed_property_id = @T.id AND vd.thing_id"),
    [STORE_STA_OBSERVATION] = "@T.ds_id NOT IN (SELECT id FROM datastreams WHERE thing_id IN " H ")",
    [STORE_STA_FOI] = ONLY_HIDDEN(
        "SELECT 1 FROM (SELECT vl.thing_id AS t FROM thing_locations vl"
        " WHERE vl.location_id = @T.location_id UNION ALL SELECT vd.thing_id FROM obs_foi_ds vf"
        " JOIN datastreams vd ON vd.id = vf.ds_id WHERE vf.foi_id = @T.id) vt WHERE t"),
};
#undef H
#undef NOT_HIDDEN

int store_sta__hides(const struct store *st)
{
    return st->sta_hide;
}

static void tmpl(struct sqlbuf *b, const char *t, const char *T, const char *S, const char *F);

void store_sta__visible_sql(struct sqlbuf *b, enum store_sta_entity e, const char *alias)
{
    if ((unsigned)e >= STORE_STA_N)
        return;
    store_sta__put(b, " AND ");
    tmpl(b, vis[e], alias, alias, alias);
}

static const char *link_cond(enum store_sta_entity from, enum store_sta_entity to)
{
    for (size_t i = 0; i < sizeof flinks / sizeof flinks[0]; i++)
        if (flinks[i].from == from && flinks[i].to == to)
            return flinks[i].cond;
    return NULL;
}

void store_sta__put(struct sqlbuf *b, const char *fmt, ...)
{
    if (b->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->len, sizeof b->s - b->len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof b->s - b->len)
        b->overflow = 1;
    else
        b->len += (size_t)k;
}

#define CHAINS_MAX 8
#define DEPTH_MAX 200

struct chain {
    const struct store_sta_fpath *p; /* its nav list */
    char alias[8];                   /* of its last entity */
};

struct fctx {
    struct sqlbuf *b;
    const struct sta_dialect *d;
    const struct store_sta_filter *f;
    enum store_sta_entity e;
    const char *alias;
    int staged;
    const struct store_sta_withhold *w;
    int hide; /* paths walk only the entities the viewer may see */
    struct chain ch[CHAINS_MAX];
    size_t nch;
    int next_alias;
    const char *why;
};

int store_sta__tmpl_next(struct sqlbuf *b, const char **t)
{
    const char *at = *t;
    while ((at = strchr(at, '#')) != NULL && (at[1] < '0' || at[1] > '9'))
        at++;
    if (!at) {
        store_sta__put(b, "%s", *t);
        return -1;
    }
    store_sta__put(b, "%.*s", (int)(at - *t), *t);
    *t = at + 2;
    return at[1] - '0';
}

static void tmpl(struct sqlbuf *b, const char *t, const char *T, const char *S, const char *F)
{
    while (*t) {
        const char *at = strchr(t, '@');
        if (!at) {
            store_sta__put(b, "%s", t);
            return;
        }
        store_sta__put(b, "%.*s", (int)(at - t), t);
        const char *with = NULL;
        if (at[1] == 'T')
            with = T;
        else if (at[1] == 'S')
            with = S;
        else if (at[1] == 'F')
            with = F;
        if (with) {
            store_sta__put(b, "%s", with);
            t = at + 2;
        } else {
            store_sta__put(b, "@");
            t = at + 1;
        }
    }
}

static int same_chain(const struct store_sta_fpath *a, const struct store_sta_fpath *b)
{
    if (a->nnav != b->nnav)
        return 0;
    for (size_t i = 0; i < a->nnav; i++)
        if (a->nav[i] != b->nav[i])
            return 0;
    return 1;
}

static int bad(struct fctx *c, const char *why)
{
    if (!c->why)
        c->why = why;
    return 0;
}

static int valid_node(struct fctx *c, int i)
{
    return i >= 0 && (size_t)i < c->f->n ? 1 : bad(c, "a filter node out of range");
}

/* ---- types ------------------------------------------------------------------------------ */

/* What a function gives and wants. */
static const struct {
    enum sta_type ret, args[STORE_STA_FARGS_MAX];
} fsig[STORE_FN_N] = {
#define T STA_T_TEXT
#define N STA_T_NUM
#define B STA_T_BOOL
    [STORE_FN_SUBSTRINGOF] = {B, {T, T}},  [STORE_FN_ENDSWITH] = {B, {T, T}},
    [STORE_FN_STARTSWITH] = {B, {T, T}},   [STORE_FN_LENGTH] = {N, {T}},
    [STORE_FN_INDEXOF] = {N, {T, T}},      [STORE_FN_SUBSTRING] = {T, {T, N, N}},
    [STORE_FN_TOLOWER] = {T, {T}},         [STORE_FN_TOUPPER] = {T, {T}},
    [STORE_FN_TRIM] = {T, {T}},            [STORE_FN_CONCAT] = {T, {T, T}},
    [STORE_FN_YEAR] = {N, {N}},            [STORE_FN_MONTH] = {N, {N}},
    [STORE_FN_DAY] = {N, {N}},             [STORE_FN_HOUR] = {N, {N}},
    [STORE_FN_MINUTE] = {N, {N}},          [STORE_FN_SECOND] = {N, {N}},
    [STORE_FN_DATE] = {T, {N}},            [STORE_FN_TIME] = {T, {N}},
    [STORE_FN_ROUND] = {N, {N}},           [STORE_FN_FLOOR] = {N, {N}},
    [STORE_FN_CEILING] = {N, {N}},         [STORE_FN_GEO_DISTANCE] = {N, {T, T}},
    [STORE_FN_GEO_LENGTH] = {N, {T}},      [STORE_FN_GEO_INTERSECTS] = {B, {T, T}},
    [STORE_FN_ST_EQUALS] = {B, {T, T}},    [STORE_FN_ST_DISJOINT] = {B, {T, T}},
    [STORE_FN_ST_TOUCHES] = {B, {T, T}},   [STORE_FN_ST_WITHIN] = {B, {T, T}},
    [STORE_FN_ST_OVERLAPS] = {B, {T, T}},  [STORE_FN_ST_CROSSES] = {B, {T, T}},
    [STORE_FN_ST_INTERSECTS] = {B, {T, T}}, [STORE_FN_ST_CONTAINS] = {B, {T, T}},
#undef T
#undef N
#undef B
};

static enum sta_type prop_type(enum store_sta_vtype t)
{
    switch (t) {
    case STORE_STA_INT:
    case STORE_STA_REAL:
    case STORE_STA_TIME:
    case STORE_STA_INTERVAL:
        return STA_T_NUM;
    case STORE_STA_NULL:
        return STA_T_NULL;
    default:
        return STA_T_TEXT;
    }
}

static enum sta_type type_of(const struct fctx *c, int i, int depth)
{
    if (i < 0 || (size_t)i >= c->f->n || depth > DEPTH_MAX)
        return STA_T_NULL;
    const struct store_sta_fnode *n = &c->f->nodes[i];
    switch (n->op) {
    case STORE_F_LIT:
        return prop_type(n->v.type);
    case STORE_F_GEO:
        return STA_T_TEXT;
    case STORE_F_PATH: {
        if (n->path.json)
            return STA_T_ANY;
        enum store_sta_entity e = n->path.nnav ? n->path.nav[n->path.nnav - 1] : c->e;
        size_t np;
        const struct store_sta_prop *props = store_sta_props(e, &np);
        if (!props || n->path.prop < 0 || (size_t)n->path.prop >= np)
            return STA_T_NULL;
        return prop_type(props[n->path.prop].type);
    }
    case STORE_F_CALL:
        return (unsigned)n->fn < STORE_FN_N ? fsig[n->fn].ret : STA_T_NULL;
    case STORE_F_ADD:
    case STORE_F_SUB:
    case STORE_F_MUL:
    case STORE_F_DIV:
    case STORE_F_MOD:
    case STORE_F_NEG:
        return STA_T_NUM;
    default:
        return STA_T_BOOL;
    }
}

/* The type both sides of a comparison are read as. */
static enum sta_type common_type(enum sta_type a, enum sta_type b)
{
    if (a == STA_T_NULL || a == STA_T_ANY)
        a = b == STA_T_NULL || b == STA_T_ANY ? STA_T_TEXT : b;
    if (b == STA_T_NULL || b == STA_T_ANY)
        b = a;
    if (a == b)
        return a;
    if (a == STA_T_TEXT || b == STA_T_TEXT)
        return STA_T_TEXT;
    return STA_T_NUM; /* a boolean against a number: as 1 / 0 */
}

/* The dialect's conversion of an expression of type have into type want, or NULL. */
static const char *conversion(const struct sta_dialect *d, enum sta_type have, enum sta_type want)
{
    if (have == want || have == STA_T_NULL || have == STA_T_ANY)
        return NULL;
    if (want == STA_T_TEXT)
        return have == STA_T_NUM ? d->num_as_text : NULL;
    if (want == STA_T_NUM)
        return have == STA_T_TEXT ? d->text_as_num : have == STA_T_BOOL ? d->bool_as_num : NULL;
    if (want == STA_T_BOOL)
        return have == STA_T_NUM ? d->num_as_bool : NULL;
    return NULL;
}

/* ---- expressions ----------------------------------------------------------------------- */

static int expr(struct fctx *c, int i, int depth, enum sta_type want);

/* Expand template t, whose #k are operand k of n read as types[k]. */
static int expand(struct fctx *c, const char *t, const struct store_sta_fnode *n,
                  const enum sta_type *types, int depth)
{
    while (*t) {
        const char *at = strchr(t, '#');
        if (!at || at[1] < '0' || at[1] > '2') {
            store_sta__put(c->b, "%.*s", (int)(at ? at - t + 1 : (long)strlen(t)), t);
            if (!at)
                return 1;
            t = at + 1;
            continue;
        }
        store_sta__put(c->b, "%.*s", (int)(at - t), t);
        int k = at[1] - '0';
        if (k >= n->nargs || k >= STORE_STA_FARGS_MAX)
            return bad(c, "a function lacks an argument");
        if (!expr(c, n->arg[k], depth + 1, types[k]))
            return 0;
        t = at + 2;
    }
    return 1;
}

static int path_sql(struct fctx *c, int i, enum sta_type want)
{
    const struct store_sta_fpath *p = &c->f->nodes[i].path;
    enum store_sta_entity e = c->e;
    const char *alias = c->alias;
    if (p->nnav > STORE_STA_NAV_MAX)
        return bad(c, "path too long");
    if (p->nnav) {
        e = p->nav[p->nnav - 1];
        alias = NULL;
        for (size_t k = 0; k < c->nch; k++)
            if (same_chain(c->ch[k].p, p))
                alias = c->ch[k].alias;
        if (!alias)
            return bad(c, "a navigation path outside a comparison");
    }
    size_t np;
    if ((unsigned)e >= STORE_STA_N || !store_sta_props(e, &np) || p->prop < 0 ||
        (size_t)p->prop >= np)
        return bad(c, "no such property");
    const char *col = fcols[e][p->prop];
    if (e == STORE_STA_OBSERVATION && p->prop == OBS_RESULT && c->w && c->w->mask && !p->json) {
        store_sta__result_sql(c->b, c->w, alias);
        return 1;
    }
    if (!p->json) {
        tmpl(c->b, col, alias, alias, "NULL");
        return 1;
    }
    /* a JSON member: #0 the document, #1 the path */
    const char *t = want == STA_T_NUM || want == STA_T_BOOL ? c->d->json_num : c->d->json_text;
    for (int k; (k = store_sta__tmpl_next(c->b, &t)) >= 0;) {
        if (k == 0)
            tmpl(c->b, col, alias, alias, "NULL");
        else
            store_sta__put(c->b, "?%d", STA_FPARAM + i);
    }
    return 1;
}

static const char *const binop[] = {
    [STORE_F_AND] = "(#0 AND #1)", [STORE_F_OR] = "(#0 OR #1)",  [STORE_F_EQ] = "(#0 = #1)",
    [STORE_F_NE] = "(#0 <> #1)",   [STORE_F_GT] = "(#0 > #1)",   [STORE_F_GE] = "(#0 >= #1)",
    [STORE_F_LT] = "(#0 < #1)",    [STORE_F_LE] = "(#0 <= #1)",  [STORE_F_ADD] = "(#0 + #1)",
    [STORE_F_SUB] = "(#0 - #1)",   [STORE_F_MUL] = "(#0 * #1)",
};

static int is_null_lit(struct fctx *c, int i)
{
    return i >= 0 && (size_t)i < c->f->n && c->f->nodes[i].op == STORE_F_LIT &&
           c->f->nodes[i].v.type == STORE_STA_NULL;
}

/* Node i as SQL of its own type; the template of its operator or function. */
static int expr_as_is(struct fctx *c, int i, int depth, enum sta_type want)
{
    const struct store_sta_fnode *n = &c->f->nodes[i];
    enum sta_type types[STORE_STA_FARGS_MAX] = {STA_T_NUM, STA_T_NUM, STA_T_NUM};
    const char *t = NULL;
    switch (n->op) {
    case STORE_F_LIT:
        if (n->v.type == STORE_STA_NULL)
            store_sta__put(c->b, "NULL");
        else
            store_sta__put(c->b, "?%d", STA_FPARAM + i);
        return 1;
    case STORE_F_GEO:
        store_sta__put(c->b, "?%d", STA_FPARAM + i);
        return 1;
    case STORE_F_PATH:
        return path_sql(c, i, want);
    case STORE_F_NOT:
    case STORE_F_NEG:
        if (n->nargs < 1)
            return bad(c, "an operator lacks its operand");
        types[0] = n->op == STORE_F_NOT ? STA_T_BOOL : STA_T_NUM;
        return expand(c, n->op == STORE_F_NOT ? "(NOT #0)" : "(-#0)", n, types, depth);
    case STORE_F_CALL:
        if ((unsigned)n->fn >= STORE_FN_N || !c->d->fn[n->fn])
            return bad(c, "unknown function");
        memcpy(types, fsig[n->fn].args, sizeof types);
        t = n->fn == STORE_FN_SUBSTRING && n->nargs == 3 ? c->d->substring3 : c->d->fn[n->fn];
        return expand(c, t, n, types, depth);
    default:
        break;
    }
    if (n->op < STORE_F_AND || n->op > STORE_F_MOD || n->nargs < 2)
        return bad(c, "unknown operator");
    if (n->op == STORE_F_AND || n->op == STORE_F_OR) {
        types[0] = types[1] = STA_T_BOOL;
    } else if (n->op >= STORE_F_EQ && n->op <= STORE_F_LE) {
        types[0] = types[1] = common_type(type_of(c, n->arg[0], depth + 1),
                                          type_of(c, n->arg[1], depth + 1));
    }
    t = n->op == STORE_F_DIV ? c->d->div : n->op == STORE_F_MOD ? c->d->mod : binop[n->op];
    if ((n->op == STORE_F_EQ || n->op == STORE_F_NE) &&
        (is_null_lit(c, n->arg[0]) || is_null_lit(c, n->arg[1])))
        t = n->op == STORE_F_EQ ? "(#0 IS NOT DISTINCT FROM #1)" : "(#0 IS DISTINCT FROM #1)";
    return expand(c, t, n, types, depth);
}

/* Node i as SQL of type want (as far as the dialect needs it). */
static int expr(struct fctx *c, int i, int depth, enum sta_type want)
{
    if (!valid_node(c, i))
        return 0;
    if (depth > DEPTH_MAX)
        return bad(c, "filter nested too deeply");
    enum sta_type have = type_of(c, i, depth);
    const char *conv = conversion(c->d, have, want);
    if (!conv)
        return expr_as_is(c, i, depth, want);
    const char *at = strstr(conv, "#0");
    store_sta__put(c->b, "%.*s", (int)(at - conv), conv);
    if (!expr_as_is(c, i, depth, want))
        return 0;
    store_sta__put(c->b, "%s", at + 2);
    return 1;
}

/* The navigation paths under node i not yet in the context. */
static int collect(struct fctx *c, int i, const struct store_sta_fpath **out, size_t *n, int depth)
{
    if (!valid_node(c, i))
        return 0;
    if (depth > DEPTH_MAX)
        return bad(c, "filter nested too deeply");
    const struct store_sta_fnode *nd = &c->f->nodes[i];
    if (nd->op == STORE_F_PATH) {
        if (nd->path.nnav == 0)
            return 1;
        for (size_t k = 0; k < *n; k++)
            if (same_chain(out[k], &nd->path))
                return 1;
        if (*n == CHAINS_MAX)
            return bad(c, "more than 8 navigation paths in one comparison");
        out[(*n)++] = &nd->path;
        return 1;
    }
    if (nd->op == STORE_F_LIT || nd->op == STORE_F_GEO)
        return 1;
    for (int k = 0; k < nd->nargs && k < STORE_STA_FARGS_MAX; k++)
        if (!collect(c, nd->arg[k], out, n, depth + 1))
            return 0;
    return 1;
}

/* A comparison or boolean function: EXISTS over its navigation paths, then itself. */
static int predicate(struct fctx *c, int i, int depth)
{
    const struct store_sta_fpath *paths[CHAINS_MAX];
    size_t np = 0;
    if (!collect(c, i, paths, &np, depth))
        return 0;
    size_t base = c->nch;
    for (size_t k = 0; k < np; k++) {
        const struct store_sta_fpath *p = paths[k];
        enum store_sta_entity from = c->e;
        const char *src = c->alias;
        char prev[8], cur[8];
        char foi[24];
        store_sta__put(c->b, "EXISTS (SELECT 1 FROM ");
        int first_alias = c->next_alias;
        for (size_t s = 0; s < p->nnav; s++) {
            if ((unsigned)p->nav[s] >= STORE_STA_N)
                return bad(c, "no such entity");
            snprintf(cur, sizeof cur, "f%d", first_alias + (int)s);
            const char *from_item =
                p->nav[s] == STORE_STA_OBSERVATION ? c->d->obs_source : ftables[p->nav[s]];
            store_sta__put(c->b, "%s%s %s", s ? ", " : "", from_item, cur);
        }
        store_sta__put(c->b, " WHERE ");
        for (size_t s = 0; s < p->nnav; s++) {
            const char *cond = link_cond(from, p->nav[s]);
            if (!cond)
                return bad(c, "no navigation between these entities");
            snprintf(cur, sizeof cur, "f%d", c->next_alias++);
            if (from == STORE_STA_OBSERVATION && s == 0 && c->staged)
                snprintf(foi, sizeof foi, "NULL");
            else
                snprintf(foi, sizeof foi, "%s.foi_id", src);
            tmpl(c->b, cond, cur, src, foi);
            if (c->hide)
                store_sta__visible_sql(c->b, p->nav[s], cur);
            store_sta__put(c->b, " AND ");
            memcpy(prev, cur, sizeof prev);
            src = prev;
            from = p->nav[s];
        }
        c->ch[c->nch].p = p;
        memcpy(c->ch[c->nch].alias, prev, sizeof prev);
        c->nch++;
    }
    int ok = expr(c, i, depth, STA_T_BOOL);
    for (size_t k = 0; k < np; k++)
        store_sta__put(c->b, ")");
    c->nch = base;
    return ok;
}

static int cond(struct fctx *c, int i, int depth)
{
    if (!valid_node(c, i))
        return 0;
    if (depth > DEPTH_MAX)
        return bad(c, "filter nested too deeply");
    const struct store_sta_fnode *n = &c->f->nodes[i];
    if ((n->op == STORE_F_AND || n->op == STORE_F_OR) && n->nargs >= 2) {
        store_sta__put(c->b, "(");
        if (!cond(c, n->arg[0], depth + 1))
            return 0;
        store_sta__put(c->b, n->op == STORE_F_AND ? " AND " : " OR ");
        if (!cond(c, n->arg[1], depth + 1))
            return 0;
        store_sta__put(c->b, ")");
        return 1;
    }
    if (n->op == STORE_F_NOT && n->nargs >= 1) {
        /* NOT of NULL is NULL: "not" a comparison on a missing value stays false, as
         * SQL and OData's three-valued logic agree */
        store_sta__put(c->b, "(NOT ");
        if (!cond(c, n->arg[0], depth + 1))
            return 0;
        store_sta__put(c->b, ")");
        return 1;
    }
    return predicate(c, i, depth);
}

enum tk_rc store_sta__filter_sql(struct sqlbuf *b, const struct sta_dialect *d,
                                 const struct store_sta_filter *f, enum store_sta_entity e,
                                 const char *alias, int staged,
                                 const struct store_sta_withhold *w, int hide,
                                 const char **why)
{
    struct fctx c = {.b = b,
                     .d = d,
                     .f = f,
                     .e = e,
                     .alias = alias,
                     .staged = staged,
                     .w = w,
                     .hide = hide,
                     .next_alias = 1};
    if (!f || !f->nodes || f->n == 0 || f->n > STORE_STA_FNODES_MAX) {
        *why = "an empty filter";
        return TK_EINVAL;
    }
    store_sta__put(b, " AND (");
    int ok = cond(&c, f->root, 0);
    store_sta__put(b, ")");
    if (!ok) {
        *why = c.why ? c.why : "a filter the store cannot compile";
        return TK_EINVAL;
    }
    return TK_OK;
}

void store_sta__filter_params(const struct store_sta_filter *f, struct store_sta_value *params,
                              int *np)
{
    if (!f || !f->nodes)
        return;
    for (size_t i = 0; i < f->n && i < STORE_STA_FNODES_MAX; i++) {
        const struct store_sta_fnode *n = &f->nodes[i];
        struct store_sta_value *v = &params[STA_FPARAM + i];
        if (n->op == STORE_F_PATH && n->path.json)
            *v = (struct store_sta_value){
                .type = STORE_STA_TEXT, .s = n->path.json, .len = n->path.json_len};
        else if (n->op == STORE_F_GEO)
            *v = (struct store_sta_value){
                .type = STORE_STA_TEXT, .s = n->v.s ? n->v.s : "", .len = n->v.s ? n->v.len : 0};
        else if (n->op == STORE_F_LIT && n->v.type != STORE_STA_NULL)
            *v = n->v;
        else
            continue;
        if (v->type == STORE_STA_TIME)
            v->type = STORE_STA_INT;
        if (v->type == STORE_STA_TEXT && !v->s)
            v->s = "";
        if ((int)(STA_FPARAM + i) + 1 > *np)
            *np = STA_FPARAM + (int)i + 1;
    }
}
