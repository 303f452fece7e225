/* SQLite backend: $filter trees compiled to SQL conditions.
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
 * rows have none yet and take the one of their Thing's Location, as the move will). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sqlite_sta_int.h"

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
    [STORE_STA_OBSERVATION] =
        "(SELECT id, ds_id, t_us, t_end_us, result_time_us, result, params, foi_id"
        " FROM observations UNION ALL SELECT id, ds_id, t_us, t_end_us, result_time_us,"
        " result, params, NULL FROM obs_staging)",
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
static const char *const vis[STORE_STA_N] = {
    [STORE_STA_THING] = "@T.id NOT IN " H,
    [STORE_STA_LOCATION] = ONLY_HIDDEN(
        "SELECT 1 FROM thing_locations vl WHERE vl.location_id = @T.id AND vl.thing_id"),
    [STORE_STA_HLOCATION] = "@T.thing_id NOT IN " H,
    [STORE_STA_DATASTREAM] = "@T.thing_id NOT IN " H,
    [STORE_STA_SENSOR] =
        ONLY_HIDDEN("SELECT 1 FROM datastreams vd WHERE vd.sensor_id = @T.id AND vd.thing_id"),
    [STORE_STA_OPROPERTY] = ONLY_HIDDEN(
        "SELECT 1 FROM datastreams vd WHERE vd.observed_property_id = @T.id AND vd.thing_id"),
    [STORE_STA_OBSERVATION] = "@T.ds_id NOT IN (SELECT id FROM datastreams WHERE thing_id IN " H ")",
    [STORE_STA_FOI] = ONLY_HIDDEN(
        "SELECT 1 FROM (SELECT vl.thing_id AS t FROM thing_locations vl"
        " WHERE vl.location_id = @T.location_id UNION ALL SELECT vd.thing_id FROM obs_foi_ds vf"
        " JOIN datastreams vd ON vd.id = vf.ds_id WHERE vf.foi_id = @T.id) WHERE t"),
};
#undef H

int store_sta__hides(const struct sq_store *sq)
{
    return !sq->view_all;
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

static int expr(struct fctx *c, int i, int depth);

static int arg(struct fctx *c, const struct store_sta_fnode *n, int k, int depth)
{
    if (k >= n->nargs || k >= STORE_STA_FARGS_MAX)
        return bad(c, "a function lacks an argument");
    return expr(c, n->arg[k], depth + 1);
}

static int path_sql(struct fctx *c, int i)
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
    if (p->json) {
        store_sta__put(c->b, "json_extract(");
        tmpl(c->b, col, alias, alias, "NULL");
        store_sta__put(c->b, ", ?%d)", STA_FPARAM + i);
    } else {
        tmpl(c->b, col, alias, alias, "NULL");
    }
    return 1;
}

static const char *const binop[] = {
    [STORE_F_AND] = "AND", [STORE_F_OR] = "OR", [STORE_F_EQ] = "=",  [STORE_F_NE] = "<>",
    [STORE_F_GT] = ">",    [STORE_F_GE] = ">=", [STORE_F_LT] = "<",  [STORE_F_LE] = "<=",
    [STORE_F_ADD] = "+",   [STORE_F_SUB] = "-", [STORE_F_MUL] = "*", [STORE_F_DIV] = "/",
    [STORE_F_MOD] = "%",
};

static int is_null_lit(struct fctx *c, int i)
{
    return i >= 0 && (size_t)i < c->f->n && c->f->nodes[i].op == STORE_F_LIT &&
           c->f->nodes[i].v.type == STORE_STA_NULL;
}

static int call_sql(struct fctx *c, const struct store_sta_fnode *n, int depth)
{
    struct sqlbuf *b = c->b;
    static const char *const part[] = {"%Y", "%m", "%d", "%H", "%M", "%S"};
    switch (n->fn) {
    case STORE_FN_SUBSTRINGOF: /* substringof(needle, haystack) */
        store_sta__put(b, "(instr(");
        if (!arg(c, n, 1, depth))
            return 0;
        store_sta__put(b, ", ");
        if (!arg(c, n, 0, depth))
            return 0;
        store_sta__put(b, ") > 0)");
        return 1;
    case STORE_FN_ENDSWITH:
        store_sta__put(b, "(length(");
        if (!arg(c, n, 1, depth))
            return 0;
        store_sta__put(b, ") = 0 OR substr(");
        if (!arg(c, n, 0, depth))
            return 0;
        store_sta__put(b, ", -length(");
        if (!arg(c, n, 1, depth))
            return 0;
        store_sta__put(b, ")) = ");
        if (!arg(c, n, 1, depth))
            return 0;
        store_sta__put(b, ")");
        return 1;
    case STORE_FN_STARTSWITH:
        store_sta__put(b, "(substr(");
        if (!arg(c, n, 0, depth))
            return 0;
        store_sta__put(b, ", 1, length(");
        if (!arg(c, n, 1, depth))
            return 0;
        store_sta__put(b, ")) = ");
        if (!arg(c, n, 1, depth))
            return 0;
        store_sta__put(b, ")");
        return 1;
    case STORE_FN_INDEXOF:
        store_sta__put(b, "(instr(");
        if (!arg(c, n, 0, depth))
            return 0;
        store_sta__put(b, ", ");
        if (!arg(c, n, 1, depth))
            return 0;
        store_sta__put(b, ") - 1)");
        return 1;
    case STORE_FN_SUBSTRING:
        store_sta__put(b, "substr(");
        if (!arg(c, n, 0, depth))
            return 0;
        store_sta__put(b, ", (");
        if (!arg(c, n, 1, depth))
            return 0;
        store_sta__put(b, ") + 1");
        if (n->nargs == 3) {
            store_sta__put(b, ", ");
            if (!arg(c, n, 2, depth))
                return 0;
        }
        store_sta__put(b, ")");
        return 1;
    case STORE_FN_CONCAT:
        store_sta__put(b, "(");
        if (!arg(c, n, 0, depth))
            return 0;
        store_sta__put(b, " || ");
        if (!arg(c, n, 1, depth))
            return 0;
        store_sta__put(b, ")");
        return 1;
    case STORE_FN_YEAR:
    case STORE_FN_MONTH:
    case STORE_FN_DAY:
    case STORE_FN_HOUR:
    case STORE_FN_MINUTE:
    case STORE_FN_SECOND:
        store_sta__put(b, "CAST(strftime('%s', (", part[n->fn - STORE_FN_YEAR]);
        if (!arg(c, n, 0, depth))
            return 0;
        store_sta__put(b, ") / 1000000, 'unixepoch') AS INTEGER)");
        return 1;
    case STORE_FN_DATE:
    case STORE_FN_TIME:
        store_sta__put(b, "%s((", n->fn == STORE_FN_DATE ? "date" : "time");
        if (!arg(c, n, 0, depth))
            return 0;
        store_sta__put(b, ") / 1000000, 'unixepoch')");
        return 1;
    case STORE_FN_GEO_DISTANCE:
    case STORE_FN_GEO_INTERSECTS:
    case STORE_FN_ST_EQUALS:
    case STORE_FN_ST_DISJOINT:
    case STORE_FN_ST_TOUCHES:
    case STORE_FN_ST_WITHIN:
    case STORE_FN_ST_OVERLAPS:
    case STORE_FN_ST_CROSSES:
    case STORE_FN_ST_INTERSECTS:
    case STORE_FN_ST_CONTAINS:
        store_sta__put(b, "%s(", n->fn == STORE_FN_GEO_DISTANCE ? "tk_geo_distance" : "tk_geo_rel");
        if (!arg(c, n, 0, depth))
            return 0;
        store_sta__put(b, ", ");
        if (!arg(c, n, 1, depth))
            return 0;
        if (n->fn == STORE_FN_GEO_INTERSECTS)
            store_sta__put(b, ", %d)", STORE_FN_ST_INTERSECTS - STORE_FN_ST_EQUALS);
        else if (n->fn != STORE_FN_GEO_DISTANCE)
            store_sta__put(b, ", %d)", (int)(n->fn - STORE_FN_ST_EQUALS));
        else
            store_sta__put(b, ")");
        return 1;
    default:
        break;
    }
    /* one-argument functions that are plain SQL functions */
    const char *fn = NULL;
    switch (n->fn) {
    case STORE_FN_LENGTH:
        fn = "length";
        break;
    case STORE_FN_TOLOWER:
        fn = "lower";
        break;
    case STORE_FN_TOUPPER:
        fn = "upper";
        break;
    case STORE_FN_TRIM:
        fn = "trim";
        break;
    case STORE_FN_ROUND:
        fn = "round";
        break;
    case STORE_FN_FLOOR:
        fn = "tk_floor";
        break;
    case STORE_FN_CEILING:
        fn = "tk_ceil";
        break;
    case STORE_FN_GEO_LENGTH:
        fn = "tk_geo_length";
        break;
    default:
        return bad(c, "unknown function");
    }
    store_sta__put(b, "%s(", fn);
    if (!arg(c, n, 0, depth))
        return 0;
    store_sta__put(b, ")");
    return 1;
}

static int expr(struct fctx *c, int i, int depth)
{
    if (!valid_node(c, i))
        return 0;
    if (depth > DEPTH_MAX)
        return bad(c, "filter nested too deeply");
    const struct store_sta_fnode *n = &c->f->nodes[i];
    struct sqlbuf *b = c->b;
    switch (n->op) {
    case STORE_F_LIT:
        if (n->v.type == STORE_STA_NULL)
            store_sta__put(b, "NULL");
        else
            store_sta__put(b, "?%d", STA_FPARAM + i);
        return 1;
    case STORE_F_GEO:
        store_sta__put(b, "?%d", STA_FPARAM + i);
        return 1;
    case STORE_F_PATH:
        return path_sql(c, i);
    case STORE_F_NOT:
    case STORE_F_NEG:
        if (n->nargs < 1)
            return bad(c, "an operator lacks its operand");
        store_sta__put(b, n->op == STORE_F_NOT ? "(NOT " : "(-");
        if (!expr(c, n->arg[0], depth + 1))
            return 0;
        store_sta__put(b, ")");
        return 1;
    case STORE_F_CALL:
        return call_sql(c, n, depth);
    default:
        break;
    }
    if (n->op < STORE_F_AND || n->op > STORE_F_MOD || n->nargs < 2)
        return bad(c, "unknown operator");
    const char *op = binop[n->op];
    if ((n->op == STORE_F_EQ || n->op == STORE_F_NE) &&
        (is_null_lit(c, n->arg[0]) || is_null_lit(c, n->arg[1])))
        op = n->op == STORE_F_EQ ? "IS" : "IS NOT";
    store_sta__put(b, "(");
    if (!expr(c, n->arg[0], depth + 1))
        return 0;
    store_sta__put(b, " %s ", op);
    if (!expr(c, n->arg[1], depth + 1))
        return 0;
    store_sta__put(b, ")");
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
            store_sta__put(c->b, "%s%s %s", s ? ", " : "", ftables[p->nav[s]], cur);
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
    int ok = expr(c, i, depth);
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

enum tk_rc store_sta__filter_sql(struct sqlbuf *b, const struct store_sta_filter *f,
                                 enum store_sta_entity e, const char *alias, int staged,
                                 const struct store_sta_withhold *w, int hide,
                                 const char **why)
{
    struct fctx c = {.b = b,
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

void store_sta__filter_bind(sqlite3_stmt *s, const struct store_sta_filter *f)
{
    if (!f || !f->nodes)
        return;
    int np = sqlite3_bind_parameter_count(s);
    for (size_t i = 0; i < f->n && i + STA_FPARAM <= (size_t)np; i++) {
        const struct store_sta_fnode *n = &f->nodes[i];
        int k = STA_FPARAM + (int)i;
        if (n->op == STORE_F_PATH && n->path.json) {
            sqlite3_bind_text(s, k, n->path.json, (int)n->path.json_len, SQLITE_TRANSIENT);
            continue;
        }
        if (n->op == STORE_F_GEO) {
            sqlite3_bind_text(s, k, n->v.s ? n->v.s : "", (int)n->v.len, SQLITE_TRANSIENT);
            continue;
        }
        if (n->op != STORE_F_LIT)
            continue;
        switch (n->v.type) {
        case STORE_STA_INT:
        case STORE_STA_TIME:
            sqlite3_bind_int64(s, k, n->v.i);
            break;
        case STORE_STA_REAL:
            sqlite3_bind_double(s, k, n->v.d);
            break;
        case STORE_STA_TEXT:
            sqlite3_bind_text(s, k, n->v.s ? n->v.s : "", (int)n->v.len, SQLITE_TRANSIENT);
            break;
        default:
            break;
        }
    }
}
