/* SensorThings API reads (store_sta.h), for both backends.
 *
 * Design note. Each query is one SQL statement assembled from fixed fragments (the
 * entity's columns, one WHERE fragment per navigation, ORDER BY from the property table),
 * so nothing the client sends ever becomes SQL text: ids, $top and $skip are bound as
 * parameters (?1 the parent's id, ?2 the entity's id, ?3 LIMIT, ?4 OFFSET), and a
 * $filter's values from ?5 on (sqlite_sta_filter.c compiles the filter into each arm).
 *
 * Observations live in two tables (see sqlite_schema.c): obs_staging, keyed by
 * (batch, ds_id, t_us) with batch = id >> SQ_BATCH_SHIFT, and observations, keyed by
 * (ds_id, t_us). Every read is the UNION ALL of both; the staging arm reaches one
 * datastream with one seek per batch (SQ_BATCHES_CTE) and one id with one seek
 * (batch = id >> SQ_BATCH_SHIFT). A compound ORDER BY ... LIMIT lets SQLite merge the two
 * ordered arms, so a page of a datastream's newest observations reads about a page of
 * rows from the clustered table. Staged rows get their FeatureOfInterest at the move;
 * until then it is the one at their Thing's Location, as the move will set it (DS_FOI).
 *
 * PostgreSQL keeps Observations in one partitioned table (pg_schema.c): there the
 * statement has one arm, and the partitions' (ds_id, t_us) keys serve the same ranges.
 * The text is the same for both backends but for the fragments of struct sta_dialect;
 * the backend table (struct sta_backend) runs it.
 *
 * Registry entities are read straight from their tables. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "sta_int.h"

_Static_assert(STA_VPARAM > STA_FPARAM + STORE_STA_FNODES_MAX,
               "the viewer's parameter comes after every filter parameter");

#define STR_(x) #x
#define STR(x) STR_(x)
#define BATCH_OF(p) "(" p " >> " STR(SQ_BATCH_SHIFT) ")"

/* ---- the property tables ------------------------------------------------------------ */

#define P_ID                                                                                       \
    {                                                                                              \
        "@iot.id", STORE_STA_INT, 1, 0                                                             \
    }
#define P_TEXT(n)                                                                                  \
    {                                                                                              \
        n, STORE_STA_TEXT, 1, 0                                                                    \
    }
#define P_JSON(n)                                                                                  \
    {                                                                                              \
        n, STORE_STA_JSON, 0, 0                                                                    \
    }

static const struct store_sta_prop thing_props[] = {
    P_ID, P_TEXT("name"), P_TEXT("description"), {"properties", STORE_STA_JSON, 0, 1}};
static const struct store_sta_prop location_props[] = {P_ID, P_TEXT("name"), P_TEXT("description"),
                                                       P_TEXT("encodingType"), P_JSON("location")};
static const struct store_sta_prop hlocation_props[] = {P_ID, {"time", STORE_STA_TIME, 1, 0}};
static const struct store_sta_prop datastream_props[] = {
    P_ID, P_TEXT("name"), P_TEXT("description"), P_JSON("unitOfMeasurement"),
    P_TEXT("observationType")};
static const struct store_sta_prop sensor_props[] = {P_ID, P_TEXT("name"), P_TEXT("description"),
                                                     P_TEXT("encodingType"), P_JSON("metadata")};
static const struct store_sta_prop oproperty_props[] = {P_ID, P_TEXT("name"), P_TEXT("definition"),
                                                        P_TEXT("description")};
static const struct store_sta_prop observation_props[] = {
    P_ID,
    {"phenomenonTime", STORE_STA_INTERVAL, 1, 0},
    {"resultTime", STORE_STA_TIME, 1, 0},
    {"result", STORE_STA_REAL, 1, 0},
    {"parameters", STORE_STA_JSON, 0, 1}};
static const struct store_sta_prop foi_props[] = {P_ID, P_TEXT("name"), P_TEXT("description"),
                                                  P_TEXT("encodingType"), P_JSON("feature")};

/* JSON columns are made valid JSON whatever was stored (text becomes a JSON string) */
#define AS_JSON(c) "CASE WHEN json_valid(" c ") THEN " c " ELSE json_quote(" c ") END"

struct ent {
    const struct store_sta_prop *props;
    size_t nprops;
    const char *from;
    const char *cols[STORE_STA_PROPS_MAX]; /* one SQL expression per property */
};

#define ENT(p) p, sizeof p / sizeof p[0]

static const struct ent ents[STORE_STA_N] = {
    [STORE_STA_THING] = {ENT(thing_props),
                         "things e",
                         {"e.id", "e.name", "e.description", "e.properties"}},
    [STORE_STA_LOCATION] = {ENT(location_props),
                            "locations e",
                            {"e.id", "e.name", "e.description", "e.encoding_type",
                             AS_JSON("e.location")}},
    [STORE_STA_HLOCATION] = {ENT(hlocation_props), "historical_locations e", {"e.id", "e.time_us"}},
    [STORE_STA_DATASTREAM] = {ENT(datastream_props),
                              "datastreams e",
                              {"e.id", "e.name", "e.description",
                               "json_object('name', e.unit_name, 'symbol', e.unit_symbol,"
                               " 'definition', e.unit_definition)",
                               "e.observation_type"}},
    [STORE_STA_SENSOR] = {ENT(sensor_props),
                          "sensors e",
                          {"e.id", "e.name", "e.description", "e.encoding_type",
                           AS_JSON("e.metadata")}},
    [STORE_STA_OPROPERTY] = {ENT(oproperty_props),
                             "observed_properties e",
                             {"e.id", "e.name", "e.definition", "e.description"}},
    /* observations are assembled by obs_sql(); cols name the compound's result columns */
    [STORE_STA_OBSERVATION] = {ENT(observation_props), NULL, {"id", "t", "rt", "r", "p"}},
    [STORE_STA_FOI] = {ENT(foi_props),
                       "features_of_interest e",
                       {"e.id", "e.name", "e.description", "e.encoding_type",
                        AS_JSON("e.feature")}},
};

const struct store_sta_prop *store_sta_props(enum store_sta_entity e, size_t *n)
{
    if ((unsigned)e >= STORE_STA_N) {
        if (n)
            *n = 0;
        return NULL;
    }
    if (n)
        *n = ents[e].nprops;
    return ents[e].props;
}

/* One observation's column by id (?1): d->obs_by_id with these. */
#define OBS_DS "ds_id", "ds_id"
#define OBS_FOI "coalesce(foi_id, " DS_FOI("ds_id") ")", DS_FOI("ds_id")

struct nav {
    enum store_sta_entity from, to;
    int card;         /* 1 to one, 2 to many */
    const char *cond; /* on the target's alias e, parent id ?1; NULL: see obs_arms() */
    const char *main_col, *staged_col; /* with cond "e.id = ": Observation ?1's column */
};

static const struct nav navs[] = {
    {STORE_STA_THING, STORE_STA_LOCATION, 2,
     "e.id IN (SELECT location_id FROM thing_locations WHERE thing_id = ?1)", NULL, NULL},
    {STORE_STA_THING, STORE_STA_HLOCATION, 2, "e.thing_id = ?1", NULL, NULL},
    {STORE_STA_THING, STORE_STA_DATASTREAM, 2, "e.thing_id = ?1", NULL, NULL},
    {STORE_STA_LOCATION, STORE_STA_THING, 2,
     "e.id IN (SELECT thing_id FROM thing_locations WHERE location_id = ?1)", NULL, NULL},
    {STORE_STA_LOCATION, STORE_STA_HLOCATION, 2,
     "e.id IN (SELECT historical_location_id FROM historical_location_locations"
     " WHERE location_id = ?1)", NULL, NULL},
    {STORE_STA_HLOCATION, STORE_STA_THING, 1,
     "e.id = (SELECT thing_id FROM historical_locations WHERE id = ?1)", NULL, NULL},
    {STORE_STA_HLOCATION, STORE_STA_LOCATION, 2,
     "e.id IN (SELECT location_id FROM historical_location_locations"
     " WHERE historical_location_id = ?1)", NULL, NULL},
    {STORE_STA_DATASTREAM, STORE_STA_THING, 1,
     "e.id = (SELECT thing_id FROM datastreams WHERE id = ?1)", NULL, NULL},
    {STORE_STA_DATASTREAM, STORE_STA_SENSOR, 1,
     "e.id = (SELECT sensor_id FROM datastreams WHERE id = ?1)", NULL, NULL},
    {STORE_STA_DATASTREAM, STORE_STA_OPROPERTY, 1,
     "e.id = (SELECT observed_property_id FROM datastreams WHERE id = ?1)", NULL, NULL},
    {STORE_STA_DATASTREAM, STORE_STA_OBSERVATION, 2, NULL, NULL, NULL},
    {STORE_STA_SENSOR, STORE_STA_DATASTREAM, 2, "e.sensor_id = ?1", NULL, NULL},
    {STORE_STA_OPROPERTY, STORE_STA_DATASTREAM, 2, "e.observed_property_id = ?1", NULL, NULL},
    {STORE_STA_OBSERVATION, STORE_STA_DATASTREAM, 1, "e.id = ", OBS_DS},
    {STORE_STA_OBSERVATION, STORE_STA_FOI, 1, "e.id = ", OBS_FOI},
    {STORE_STA_FOI, STORE_STA_OBSERVATION, 2, NULL, NULL, NULL},
};

static const struct nav *find_nav(enum store_sta_entity from, enum store_sta_entity to)
{
    for (size_t i = 0; i < sizeof navs / sizeof navs[0]; i++)
        if (navs[i].from == from && navs[i].to == to)
            return &navs[i];
    return NULL;
}

int store_sta_nav(enum store_sta_entity from, enum store_sta_entity to)
{
    const struct nav *n = find_nav(from, to);
    return n ? n->card : 0;
}

/* ---- SQL assembly --------------------------------------------------------------------- */

#define put store_sta__put

const struct sta_backend *store_sta__backend(struct store *st)
{
    if (st->ops == &store_sqlite__ops)
        return &store_sta__sqlite;
    if (st->ops == &store_pg__ops)
        return &store_sta__pg;
    (void)store__fail(st, TK_EINVAL, "the %s backend has no SensorThings reads", st->ops->name);
    return NULL;
}

static enum tk_rc check_query(struct store *st, const struct store_sta_query *q)
{
    if ((unsigned)q->entity >= STORE_STA_N || q->norder > STORE_STA_ORDER_MAX)
        return store__fail(st, TK_EINVAL, "bad SensorThings query");
    if (q->has_parent && !find_nav(q->parent, q->entity))
        return store__fail(st, TK_EINVAL, "no navigation between these entities");
    for (size_t i = 0; i < q->norder; i++) {
        int p = q->order[i].prop;
        if (p < 0 || (size_t)p >= ents[q->entity].nprops || !ents[q->entity].props[p].sortable)
            return store__fail(st, TK_EINVAL, "property cannot be ordered by");
    }
    return TK_OK;
}

static void order_by(struct sqlbuf *b, const struct sta_dialect *d,
                     const struct store_sta_query *q, int default_desc_time)
{
    const struct ent *en = &ents[q->entity];
    put(b, " ORDER BY ");
    if (q->norder == 0 && default_desc_time) {
        put(b, "t DESC, id DESC");
        return;
    }
    for (size_t i = 0; i < q->norder; i++)
        put(b, "%s%s, ", en->cols[q->order[i].prop], q->order[i].desc ? d->desc : d->asc);
    put(b, "%s", en->cols[0]);
}

void store_sta__obs_by_id(struct sqlbuf *b, const struct sta_dialect *d, const char *main_col,
                          const char *staged_col)
{
    if (d->two_obs_tables)
        put(b, "(SELECT %s FROM observations WHERE id = ?1 UNION ALL SELECT %s FROM obs_staging"
               " WHERE batch = " BATCH_OF("?1") " AND id = ?1 LIMIT 1)",
            main_col, staged_col);
    else
        put(b, "(SELECT %s FROM observations WHERE id = ?1 LIMIT 1)", main_col);
}

/* The parent condition of a registry entity's list. */
static void nav_cond(struct sqlbuf *b, const struct sta_dialect *d, const struct nav *n)
{
    put(b, " AND %s", n->cond);
    if (n->main_col)
        store_sta__obs_by_id(b, d, n->main_col, n->staged_col);
}

/* The selected columns of one arm of the Observations union: the result as the caller may
 * see it (store_sta_withhold), and w, whether it was withheld. */
static void obs_cols(struct sqlbuf *b, const struct store_sta_withhold *w, const char *a)
{
    put(b, "SELECT %s.id AS id, %s.t_us AS t, %s.t_end_us AS te,"
           " coalesce(%s.result_time_us, %s.t_us) AS rt, ", a, a, a, a, a);
    store_sta__result_sql(b, w, a);
    put(b, " AS r, %s.params AS p, %s.ds_id AS ds, ", a, a);
    if (w->mask)
        store_sta__withheld_sql(b, w, a);
    else
        put(b, "0");
    put(b, " AS w");
}

/* The FROM .. WHERE of the arms (the staging one only in SQLite), without the viewer's
 * rule and the filter; *cte when the staging arm walks the batches. */
static void obs_arms_(const struct store_sta_query *q, struct sqlbuf *main_arm,
                      struct sqlbuf *stage_arm, int *cte)
{
    *cte = 0;
    const char *id_main = q->has_id ? " AND o.id = ?2" : "";
    if (!q->has_parent) {
        put(main_arm, " FROM observations o WHERE TRUE%s", id_main);
        if (q->has_id)
            put(stage_arm, " FROM obs_staging s WHERE s.batch = " BATCH_OF("?2") " AND s.id = ?2");
        else
            put(stage_arm, " FROM obs_staging s WHERE TRUE");
        return;
    }
    if (q->parent == STORE_STA_DATASTREAM) {
        put(main_arm, " FROM observations o WHERE o.ds_id = ?1%s", id_main);
        if (q->has_id) {
            put(stage_arm, " FROM obs_staging s WHERE s.batch = " BATCH_OF(
                               "?2") " AND s.id = ?2 AND s.ds_id = ?1");
        } else {
            put(stage_arm, " FROM b CROSS JOIN obs_staging s ON s.batch = b.x AND s.ds_id = ?1"
                           " WHERE TRUE");
            *cte = 1;
        }
        return;
    }
    /* FeatureOfInterest */
    put(main_arm,
        " FROM observations o WHERE o.ds_id IN (" FOI_DS ")"
        " AND coalesce(o.foi_id, " DS_FOI("o.ds_id") ") = ?1%s",
        id_main);
    if (q->has_id) {
        put(stage_arm, " FROM obs_staging s WHERE s.batch = " BATCH_OF(
                           "?2") " AND s.id = ?2 AND " DS_FOI("s.ds_id") " = ?1");
    } else {
        put(stage_arm, " FROM b CROSS JOIN obs_staging s ON s.batch = b.x"
                       " AND s.ds_id IN (" FOI_DS ") WHERE " DS_FOI("s.ds_id") " = ?1");
        *cte = 1;
    }
}

/* One arm's visibility rule and filter. */
static enum tk_rc arm_where(struct sqlbuf *arm, const struct sta_dialect *d,
                            const struct store_sta_query *q, enum store_sta_entity e,
                            const char *alias, int staged, int hide, const char **why)
{
    if (hide)
        store_sta__visible_sql(arm, e, alias);
    if (!q->filter)
        return TK_OK;
    return store_sta__filter_sql(arm, d, q->filter, e, alias, staged, &q->withhold, hide, why);
}

/* The FROM .. WHERE of both arms, with the filter; *cte when the staging arm walks the
 * batches; *two when there is a staging arm. */
static enum tk_rc obs_arms(const struct store_sta_query *q, const struct sta_dialect *d,
                           int hide, struct sqlbuf *main_arm, struct sqlbuf *stage_arm, int *cte,
                           const char **why)
{
    obs_arms_(q, main_arm, stage_arm, cte);
    enum tk_rc rc =
        arm_where(main_arm, d, q, STORE_STA_OBSERVATION, "o", 0, hide, why);
    if (!rc && d->two_obs_tables)
        rc = arm_where(stage_arm, d, q, STORE_STA_OBSERVATION, "s", 1, hide, why);
    if (!d->two_obs_tables)
        *cte = 0;
    return rc;
}

/* The FROM .. WHERE of a registry entity's list or count. */
static enum tk_rc reg_where(struct sqlbuf *b, const struct sta_dialect *d,
                            const struct store_sta_query *q, int hide, const char **why)
{
    put(b, " FROM %s WHERE TRUE", ents[q->entity].from);
    if (q->has_parent)
        nav_cond(b, d, find_nav(q->parent, q->entity));
    if (q->has_id)
        put(b, " AND e.id = ?2");
    return arm_where(b, d, q, q->entity, "e", 0, hide, why);
}

static enum tk_rc build_list(const struct store_sta_query *q, const struct sta_dialect *d,
                             int hide, struct sqlbuf *b, struct sqlbuf *m, struct sqlbuf *s,
                             const char **why)
{
    const struct ent *en = &ents[q->entity];
    enum tk_rc rc = TK_OK;
    if (q->entity == STORE_STA_OBSERVATION) {
        int cte;
        rc = obs_arms(q, d, hide, m, s, &cte, why);
        if (rc)
            return rc;
        b->overflow |= m->overflow | s->overflow;
        put(b, "%s", cte ? SQ_BATCHES_CTE : "");
        obs_cols(b, &q->withhold, "o");
        put(b, "%s", m->s);
        if (d->two_obs_tables) {
            put(b, " UNION ALL ");
            obs_cols(b, &q->withhold, "s");
            put(b, "%s", s->s);
        }
        order_by(b, d, q, q->has_parent);
    } else {
        put(b, "SELECT ");
        for (size_t i = 0; i < en->nprops; i++)
            put(b, "%s%s", i ? ", " : "", en->cols[i]);
        rc = reg_where(b, d, q, hide, why);
        order_by(b, d, q, 0);
    }
    put(b, " LIMIT ?3 OFFSET ?4");
    return rc;
}

static enum tk_rc build_count(const struct store_sta_query *q, const struct sta_dialect *d,
                              int hide, struct sqlbuf *b, struct sqlbuf *m, struct sqlbuf *s,
                              const char **why)
{
    if (q->entity == STORE_STA_OBSERVATION) {
        int cte;
        enum tk_rc rc = obs_arms(q, d, hide, m, s, &cte, why);
        if (rc)
            return rc;
        b->overflow |= m->overflow | s->overflow;
        if (d->two_obs_tables)
            put(b, "%sSELECT (SELECT count(*)%s) + (SELECT count(*)%s)",
                cte ? SQ_BATCHES_CTE : "", m->s, s->s);
        else
            put(b, "SELECT count(*)%s", m->s);
        return TK_OK;
    }
    put(b, "SELECT count(*)");
    return reg_where(b, d, q, hide, why);
}

/* the statement, its two observation arms and its parameters (too large for a worker
 * thread's stack) */
struct bufs {
    struct sqlbuf b, m, s;
    struct store_sta_value params[STA_PARAMS_MAX];
    int np;
};

/* The parameters of q: ?1 the parent, ?2 the id, ?3 LIMIT, ?4 OFFSET, the filter's from
 * ?5, the viewer's owner at ?300 when the text has it. */
static void query_params(struct store *st, const struct sta_dialect *d,
                         const struct store_sta_query *q, struct bufs *bb)
{
    struct store_sta_value *p = bb->params;
    memset(p, 0, sizeof bb->params);
    p[1] = (struct store_sta_value){.type = STORE_STA_INT, .i = q->has_parent ? q->parent_id : 0};
    p[2] = (struct store_sta_value){.type = STORE_STA_INT, .i = q->has_id ? q->id : 0};
    p[3] = (struct store_sta_value){.type = STORE_STA_INT, .i = q->top < 0 ? -1 : q->top};
    if (q->top < 0 && d->limit_null)
        p[3].type = STORE_STA_NULL;
    p[4] = (struct store_sta_value){.type = STORE_STA_INT, .i = q->skip > 0 ? q->skip : 0};
    bb->np = 5;
    store_sta__filter_params(q->filter, p, &bb->np);
    if (strstr(bb->b.s, "?" STR(STA_VPARAM))) {
        if (st->sta_owner[0])
            p[STA_VPARAM] = (struct store_sta_value){
                .type = STORE_STA_TEXT, .s = st->sta_owner, .len = strlen(st->sta_owner)};
        bb->np = STA_PARAMS_MAX;
    }
}

static void read_text(const struct sta_backend *be, struct sta_stmt *s, int c,
                      enum store_sta_vtype t, struct store_sta_value *v)
{
    v->type = t;
    v->s = be->text(s, c, &v->len);
    if (!v->s) {
        v->s = "";
        v->len = 0;
    }
}

static void read_row(const struct sta_backend *be, enum store_sta_entity e, struct sta_stmt *s,
                     struct store_sta_value *row)
{
    const struct ent *en = &ents[e];
    memset(row, 0, sizeof *row * en->nprops);
    if (e == STORE_STA_OBSERVATION) {
        /* id, t, te, rt, r, p, ds, w */
        row[0].type = STORE_STA_INT;
        row[0].i = be->int64(s, 0);
        row[1].i = be->int64(s, 1);
        row[1].i2 = be->int64(s, 2);
        row[1].type = row[1].i2 > row[1].i ? STORE_STA_INTERVAL : STORE_STA_TIME;
        row[2].type = be->is_null(s, 3) ? STORE_STA_NULL : STORE_STA_TIME;
        row[2].i = be->int64(s, 3);
        row[3].type = be->is_null(s, 4) ? STORE_STA_NULL : STORE_STA_REAL;
        row[3].d = be->real(s, 4);
        if (!be->is_null(s, 5))
            read_text(be, s, 5, STORE_STA_JSON, &row[4]);
        row[5].type = STORE_STA_INT; /* the Datastream, past the properties */
        row[5].i = be->int64(s, 6);
        row[6].type = STORE_STA_INT; /* 1: the result was withheld */
        row[6].i = be->int64(s, 7);
        return;
    }
    for (size_t i = 0; i < en->nprops; i++) {
        int c = (int)i;
        if (be->is_null(s, c))
            continue; /* STORE_STA_NULL */
        switch (en->props[i].type) {
        case STORE_STA_INT:
        case STORE_STA_TIME:
            row[i].type = en->props[i].type;
            row[i].i = be->int64(s, c);
            break;
        case STORE_STA_REAL:
            row[i].type = STORE_STA_REAL;
            row[i].d = be->real(s, c);
            break;
        case STORE_STA_TEXT:
        case STORE_STA_JSON:
            read_text(be, s, c, en->props[i].type, &row[i]);
            break;
        default:
            break;
        }
    }
}

typedef enum tk_rc (*sql_builder)(const struct store_sta_query *q, const struct sta_dialect *d,
                                  int hide, struct sqlbuf *b, struct sqlbuf *m, struct sqlbuf *s,
                                  const char **why);

/* The Observations of one Datastream share its quantity: when that quantity is not one the
 * caller's results are withheld for, the rows need no withholding at all. Deciding it here
 * once spares every row two lookups of its Datastream (the CASE of store_sta__result_sql),
 * most of the cost of a day of readings. A backend that cannot tell keeps the rule per row. */
static enum tk_rc narrow_withhold(struct store *st, const struct store_sta_query *q,
                                  struct store_sta_query *local, const struct store_sta_query **use)
{
    *use = q;
    if (!q->withhold.mask || q->entity != STORE_STA_OBSERVATION || !q->has_parent ||
        q->parent != STORE_STA_DATASTREAM || !st->ops->ds_quantity)
        return TK_OK;
    int quantity = -1;
    enum tk_rc rc = store_datastream_quantity(st, q->parent_id, &quantity);
    if (rc == TK_ENOTFOUND)
        return TK_OK; /* no rows either way; the query says so */
    if (rc)
        return rc;
    if (quantity >= 0 && quantity < 32 && (q->withhold.mask & (1u << quantity)))
        return TK_OK;
    *local = *q;
    local->withhold.mask = 0;
    *use = local;
    return TK_OK;
}

/* Check st and q, build q's SQL with build (prefix: text before it, "" for none) and
 * prepare it: the common start of every read. *bb is new (free it), *out finished by the
 * caller. */
static enum tk_rc build_prepared(struct store *st, const struct store_sta_query *q,
                                 sql_builder build, const char *prefix, int stream,
                                 const struct sta_backend **bep, struct bufs **bb,
                                 struct sta_stmt **out)
{
    const char *why = NULL;
    struct store_sta_query local;
    *out = NULL;
    *bb = NULL;
    if (!st || !q)
        return TK_EINVAL;
    const struct sta_backend *be = store_sta__backend(st);
    if (!be)
        return TK_EINVAL;
    *bep = be;
    enum tk_rc rc = check_query(st, q);
    if (!rc)
        rc = narrow_withhold(st, q, &local, &q);
    if (rc)
        return rc;
    *bb = malloc(sizeof **bb); /* about 64 KiB: initialised, not zeroed */
    if (!*bb)
        return TK_ENOMEM;
    struct bufs *p = *bb;
    p->b.len = p->m.len = p->s.len = 0;
    p->b.overflow = p->m.overflow = p->s.overflow = 0;
    p->b.s[0] = p->m.s[0] = p->s.s[0] = '\0';
    put(&p->b, "%s", prefix);
    rc = build(q, be->d, store_sta__hides(st), &p->b, &p->m, &p->s, &why);
    if (rc)
        return store__fail(st, rc, "%s", why ? why : "bad filter");
    if (p->b.overflow)
        return store__fail(st, TK_EFULL, "SensorThings query too long");
    query_params(st, be->d, q, p);
    return be->prepare(st, p->b.s, p->b.len, p->params, p->np, stream, out);
}

enum tk_rc store_sta_list(struct store *st, const struct store_sta_query *q, store_sta_row_cb cb,
                          void *ud)
{
    if (!cb)
        return TK_EINVAL;
    const struct sta_backend *be = NULL;
    struct bufs *bb = NULL;
    struct sta_stmt *s = NULL;
    enum tk_rc rc = build_prepared(st, q, build_list, "", 0, &be, &bb, &s);
    if (rc)
        goto cleanup;
    struct store_sta_value row[STORE_STA_PROPS_MAX];
    int r;
    while ((r = be->step(s, &rc)) == 1) {
        read_row(be, q->entity, s, row);
        rc = cb(ud, row, ents[q->entity].nprops);
        if (rc)
            goto cleanup;
    }
cleanup:
    if (be)
        be->finish(s);
    free(bb);
    return rc;
}

/* A cursor is store_sta_list's loop turned inside out: the statement stays open (and
 * with it the read snapshot) between calls, so a caller can stream rows out in pieces as
 * its consumer takes them. */
struct store_sta_cursor {
    const struct sta_backend *be;
    enum store_sta_entity e;
    struct sta_stmt *s;
    int done;
    struct store_sta_value row[STORE_STA_PROPS_MAX];
};

enum tk_rc store_sta_cursor_open(struct store *st, const struct store_sta_query *q,
                                 struct store_sta_cursor **out)
{
    *out = NULL;
    struct store_sta_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return TK_ENOMEM;
    struct bufs *bb = NULL;
    enum tk_rc rc = build_prepared(st, q, build_list, "", 1, &c->be, &bb, &c->s);
    free(bb); /* the statement keeps its own copy of the text */
    if (rc) {
        store_sta_cursor_close(c);
        return rc;
    }
    c->e = q->entity;
    *out = c;
    return TK_OK;
}

enum tk_rc store_sta_cursor_next(struct store_sta_cursor *c, const struct store_sta_value **row,
                                 size_t *n)
{
    if (!c || c->done)
        return c ? TK_ENOTFOUND : TK_EINVAL;
    enum tk_rc rc = TK_OK;
    int r = c->be->step(c->s, &rc);
    if (r == 1) {
        read_row(c->be, c->e, c->s, c->row);
        *row = c->row;
        *n = ents[c->e].nprops;
        return TK_OK;
    }
    c->done = 1;
    return r == 0 ? TK_ENOTFOUND : rc;
}

void store_sta_cursor_close(struct store_sta_cursor *c)
{
    if (!c)
        return;
    if (c->be)
        c->be->finish(c->s);
    free(c);
}

enum tk_rc store_sta_count(struct store *st, const struct store_sta_query *q, int64_t *n)
{
    if (!n)
        return TK_EINVAL;
    const struct sta_backend *be = NULL;
    struct bufs *bb = NULL;
    struct sta_stmt *s = NULL;
    enum tk_rc rc = build_prepared(st, q, build_count, "", 0, &be, &bb, &s);
    if (!rc) {
        int r = be->step(s, &rc);
        if (r == 1)
            *n = be->int64(s, 0);
        else if (r == 0)
            rc = store__fail(st, TK_EDB, "counting SensorThings entities: no row");
    }
    if (be)
        be->finish(s);
    free(bb);
    return rc;
}

/* Positions of ids, by id (the rows of a statement come back in any order). */
struct id_pos {
    int64_t id;
    size_t pos;
};

static int id_pos_cmp(const void *a, const void *b)
{
    const struct id_pos *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

enum tk_rc store_sta_datastreams(struct store *st, const int64_t *ids, size_t n, int *visible,
                                 int *quantity)
{
    if (!st || (n && (!ids || !visible || !quantity)))
        return TK_EINVAL;
    const struct sta_backend *be = store_sta__backend(st);
    if (!be)
        return TK_EINVAL;
    for (size_t i = 0; i < n; i++) {
        visible[i] = 0;
        quantity[i] = -1;
    }
    if (n == 0)
        return TK_OK;
    /* the ids as one JSON array bound at ?1: one statement text whatever their number */
    size_t cap = n * 21 + 3, len = 1;
    char *list = malloc(cap);
    struct bufs *bb = malloc(sizeof *bb);
    struct id_pos *by_id = malloc(n * sizeof *by_id);
    struct sta_stmt *s = NULL;
    enum tk_rc rc = TK_OK;
    if (!list || !bb || !by_id) {
        rc = store__fail(st, TK_ENOMEM, "out of memory");
        goto cleanup;
    }
    list[0] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(list + len, cap - len, "%s%" PRId64, i ? "," : "", ids[i]);
    len += (size_t)snprintf(list + len, cap - len, "]");
    for (size_t i = 0; i < n; i++)
        by_id[i] = (struct id_pos){ids[i], i};
    qsort(by_id, n, sizeof *by_id, id_pos_cmp);
    bb->b.len = 0;
    bb->b.overflow = 0;
    put(&bb->b, "SELECT e.id, e.quantity FROM datastreams e WHERE e.id IN ");
    const char *t = be->d->id_list;
    while (store_sta__tmpl_next(&bb->b, &t) >= 0)
        put(&bb->b, "?1");
    int hide = store_sta__hides(st);
    if (hide)
        store_sta__visible_sql(&bb->b, STORE_STA_DATASTREAM, "e");
    memset(bb->params, 0, sizeof bb->params);
    bb->params[1] = (struct store_sta_value){.type = STORE_STA_TEXT, .s = list, .len = len};
    bb->np = 2;
    if (hide) {
        if (st->sta_owner[0])
            bb->params[STA_VPARAM] = (struct store_sta_value){
                .type = STORE_STA_TEXT, .s = st->sta_owner, .len = strlen(st->sta_owner)};
        bb->np = STA_PARAMS_MAX;
    }
    rc = be->prepare(st, bb->b.s, bb->b.len, bb->params, bb->np, 0, &s);
    int r;
    while (!rc && (r = be->step(s, &rc)) == 1) {
        int64_t id = be->int64(s, 0);
        int q = be->is_null(s, 1) ? -1 : (int)be->int64(s, 1);
        size_t lo = 0, hi = n; /* the first position of id */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (by_id[mid].id < id)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < n && by_id[lo].id == id; lo++) {
            visible[by_id[lo].pos] = 1;
            quantity[by_id[lo].pos] = q;
        }
    }
cleanup:
    if (s)
        be->finish(s);
    free(by_id);
    free(bb);
    free(list);
    return rc;
}

enum tk_rc store_sta_plan(struct store *st, const struct store_sta_query *q, char *buf, size_t size)
{
    if (!st || !buf || size == 0)
        return TK_EINVAL;
    buf[0] = '\0';
    const struct sta_backend *be = store_sta__backend(st);
    if (!be)
        return TK_EINVAL;
    struct bufs *bb = NULL;
    struct sta_stmt *s = NULL;
    enum tk_rc rc = build_prepared(st, q, build_list, be->explain, 0, &be, &bb, &s);
    size_t len = 0;
    int r;
    while (!rc && (r = be->step(s, &rc)) == 1) {
        size_t dl = 0;
        const char *d = be->text(s, be->explain_col, &dl);
        int k = snprintf(buf + len, size - len, "%.*s\n", (int)dl, d ? d : "");
        if (k < 0 || (size_t)k >= size - len) {
            len = size - 1;
            break;
        }
        len += (size_t)k;
    }
    be->finish(s);
    free(bb);
    return rc;
}

enum tk_rc store_sta_init(struct store *st)
{
    if (!st)
        return TK_EINVAL;
    if (!store_sta__backend(st))
        return TK_EINVAL;
    /* PostgreSQL's functions come with its schema (migration 3) */
    return st->ops == &store_sqlite__ops ? store_sqlite__geo_init(sq_of(st)) : TK_OK;
}

void store_sta_viewer_set(struct store *st, int all, const char *owner)
{
    if (!st)
        return;
    st->sta_hide = all == 0;
    snprintf(st->sta_owner, sizeof st->sta_owner, "%s", owner ? owner : "");
}

enum tk_rc store_sta_snapshot_begin(struct store *st)
{
    if (!st)
        return TK_EINVAL;
    const struct sta_backend *be = store_sta__backend(st);
    return be ? be->snapshot_begin(st) : TK_EINVAL;
}

void store_sta_snapshot_end(struct store *st)
{
    const struct sta_backend *be = st ? store_sta__backend(st) : NULL;
    if (be)
        be->snapshot_end(st);
}
