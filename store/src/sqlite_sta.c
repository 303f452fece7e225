/* SQLite backend: SensorThings API reads (store_sta.h).
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
 * Registry entities are read straight from their tables. Statements are prepared per
 * call: an API request runs a handful, and the texts vary with the options. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_sta_int.h"

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

/* One observation by id (?1) in either table. */
#define OBS_BY_ID(col_main, col_staged)                                                            \
    "(SELECT " col_main " FROM observations WHERE id = ?1 UNION ALL SELECT " col_staged            \
    " FROM obs_staging WHERE batch = " BATCH_OF("?1") " AND id = ?1 LIMIT 1)"

struct nav {
    enum store_sta_entity from, to;
    int card;         /* 1 to one, 2 to many */
    const char *cond; /* on the target's alias e, parent id ?1; NULL: see obs_sql() */
};

static const struct nav navs[] = {
    {STORE_STA_THING, STORE_STA_LOCATION, 2,
     "e.id IN (SELECT location_id FROM thing_locations WHERE thing_id = ?1)"},
    {STORE_STA_THING, STORE_STA_HLOCATION, 2, "e.thing_id = ?1"},
    {STORE_STA_THING, STORE_STA_DATASTREAM, 2, "e.thing_id = ?1"},
    {STORE_STA_LOCATION, STORE_STA_THING, 2,
     "e.id IN (SELECT thing_id FROM thing_locations WHERE location_id = ?1)"},
    {STORE_STA_LOCATION, STORE_STA_HLOCATION, 2,
     "e.id IN (SELECT historical_location_id FROM historical_location_locations"
     " WHERE location_id = ?1)"},
    {STORE_STA_HLOCATION, STORE_STA_THING, 1,
     "e.id = (SELECT thing_id FROM historical_locations WHERE id = ?1)"},
    {STORE_STA_HLOCATION, STORE_STA_LOCATION, 2,
     "e.id IN (SELECT location_id FROM historical_location_locations"
     " WHERE historical_location_id = ?1)"},
    {STORE_STA_DATASTREAM, STORE_STA_THING, 1,
     "e.id = (SELECT thing_id FROM datastreams WHERE id = ?1)"},
    {STORE_STA_DATASTREAM, STORE_STA_SENSOR, 1,
     "e.id = (SELECT sensor_id FROM datastreams WHERE id = ?1)"},
    {STORE_STA_DATASTREAM, STORE_STA_OPROPERTY, 1,
     "e.id = (SELECT observed_property_id FROM datastreams WHERE id = ?1)"},
    {STORE_STA_DATASTREAM, STORE_STA_OBSERVATION, 2, NULL},
    {STORE_STA_SENSOR, STORE_STA_DATASTREAM, 2, "e.sensor_id = ?1"},
    {STORE_STA_OPROPERTY, STORE_STA_DATASTREAM, 2, "e.observed_property_id = ?1"},
    {STORE_STA_OBSERVATION, STORE_STA_DATASTREAM, 1, "e.id = " OBS_BY_ID("ds_id", "ds_id")},
    {STORE_STA_OBSERVATION, STORE_STA_FOI, 1,
     "e.id = " OBS_BY_ID("coalesce(foi_id, " DS_FOI("ds_id") ")", DS_FOI("ds_id"))},
    {STORE_STA_FOI, STORE_STA_OBSERVATION, 2, NULL},
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

static enum tk_rc check_query(struct sq_store *sq, const struct store_sta_query *q)
{
    if ((unsigned)q->entity >= STORE_STA_N || q->norder > STORE_STA_ORDER_MAX)
        return store__fail(&sq->base, TK_EINVAL, "bad SensorThings query");
    if (q->has_parent && !find_nav(q->parent, q->entity))
        return store__fail(&sq->base, TK_EINVAL, "no navigation between these entities");
    for (size_t i = 0; i < q->norder; i++) {
        int p = q->order[i].prop;
        if (p < 0 || (size_t)p >= ents[q->entity].nprops || !ents[q->entity].props[p].sortable)
            return store__fail(&sq->base, TK_EINVAL, "property cannot be ordered by");
    }
    return TK_OK;
}

static void order_by(struct sqlbuf *b, const struct store_sta_query *q, int default_desc_time)
{
    const struct ent *en = &ents[q->entity];
    put(b, " ORDER BY ");
    if (q->norder == 0 && default_desc_time) {
        put(b, "t DESC, id DESC");
        return;
    }
    for (size_t i = 0; i < q->norder; i++)
        put(b, "%s%s, ", en->cols[q->order[i].prop], q->order[i].desc ? " DESC" : "");
    put(b, "%s", en->cols[0]);
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

static enum tk_rc obs_arms_(const struct store_sta_query *q, struct sqlbuf *main_arm,
                            struct sqlbuf *stage_arm, int *cte);

/* The FROM .. WHERE of both arms, with the filter; *cte when the staging arm walks the
 * batches. */
static enum tk_rc obs_arms(const struct store_sta_query *q, int hide, struct sqlbuf *main_arm,
                           struct sqlbuf *stage_arm, int *cte, const char **why)
{
    enum tk_rc rc = obs_arms_(q, main_arm, stage_arm, cte);
    if (rc)
        return rc;
    if (hide) {
        store_sta__visible_sql(main_arm, STORE_STA_OBSERVATION, "o");
        store_sta__visible_sql(stage_arm, STORE_STA_OBSERVATION, "s");
    }
    if (!q->filter)
        return TK_OK;
    rc = store_sta__filter_sql(main_arm, q->filter, STORE_STA_OBSERVATION, "o", 0, &q->withhold,
                               hide, why);
    if (!rc)
        rc = store_sta__filter_sql(stage_arm, q->filter, STORE_STA_OBSERVATION, "s", 1,
                                   &q->withhold, hide, why);
    return rc;
}

static enum tk_rc obs_arms_(const struct store_sta_query *q, struct sqlbuf *main_arm,
                            struct sqlbuf *stage_arm, int *cte)
{
    *cte = 0;
    const char *id_main = q->has_id ? " AND o.id = ?2" : "";
    if (!q->has_parent) {
        put(main_arm, " FROM observations o WHERE 1%s", id_main);
        if (q->has_id)
            put(stage_arm, " FROM obs_staging s WHERE s.batch = " BATCH_OF("?2") " AND s.id = ?2");
        else
            put(stage_arm, " FROM obs_staging s WHERE 1");
        return TK_OK;
    }
    if (q->parent == STORE_STA_DATASTREAM) {
        put(main_arm, " FROM observations o WHERE o.ds_id = ?1%s", id_main);
        if (q->has_id) {
            put(stage_arm, " FROM obs_staging s WHERE s.batch = " BATCH_OF(
                               "?2") " AND s.id = ?2 AND s.ds_id = ?1");
        } else {
            put(stage_arm, " FROM b CROSS JOIN obs_staging s ON s.batch = b.x AND s.ds_id = ?1"
                           " WHERE 1");
            *cte = 1;
        }
        return TK_OK;
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
    return TK_OK;
}

static enum tk_rc build_list(const struct store_sta_query *q, int hide, struct sqlbuf *b,
                             struct sqlbuf *m, struct sqlbuf *s, const char **why)
{
    const struct ent *en = &ents[q->entity];
    enum tk_rc rc = TK_OK;
    if (q->entity == STORE_STA_OBSERVATION) {
        int cte;
        rc = obs_arms(q, hide, m, s, &cte, why);
        if (rc)
            return rc;
        b->overflow |= m->overflow | s->overflow;
        put(b, "%s", cte ? SQ_BATCHES_CTE : "");
        obs_cols(b, &q->withhold, "o");
        put(b, "%s UNION ALL ", m->s);
        obs_cols(b, &q->withhold, "s");
        put(b, "%s", s->s);
        order_by(b, q, q->has_parent);
    } else {
        put(b, "SELECT ");
        for (size_t i = 0; i < en->nprops; i++)
            put(b, "%s%s", i ? ", " : "", en->cols[i]);
        put(b, " FROM %s WHERE 1", en->from);
        if (q->has_parent)
            put(b, " AND %s", find_nav(q->parent, q->entity)->cond);
        if (q->has_id)
            put(b, " AND e.id = ?2");
        if (hide)
            store_sta__visible_sql(b, q->entity, "e");
        if (q->filter)
            rc = store_sta__filter_sql(b, q->filter, q->entity, "e", 0, &q->withhold, hide, why);
        order_by(b, q, 0);
    }
    put(b, " LIMIT ?3 OFFSET ?4");
    return rc;
}

static enum tk_rc build_count(const struct store_sta_query *q, int hide, struct sqlbuf *b,
                              struct sqlbuf *m, struct sqlbuf *s, const char **why)
{
    const struct ent *en = &ents[q->entity];
    if (q->entity == STORE_STA_OBSERVATION) {
        int cte;
        enum tk_rc rc = obs_arms(q, hide, m, s, &cte, why);
        if (rc)
            return rc;
        b->overflow |= m->overflow | s->overflow;
        put(b, "%sSELECT (SELECT count(*)%s) + (SELECT count(*)%s)", cte ? SQ_BATCHES_CTE : "",
            m->s, s->s);
        return TK_OK;
    }
    put(b, "SELECT count(*) FROM %s WHERE 1", en->from);
    if (q->has_parent)
        put(b, " AND %s", find_nav(q->parent, q->entity)->cond);
    if (q->has_id)
        put(b, " AND e.id = ?2");
    if (hide)
        store_sta__visible_sql(b, q->entity, "e");
    if (q->filter)
        return store_sta__filter_sql(b, q->filter, q->entity, "e", 0, &q->withhold, hide, why);
    return TK_OK;
}

/* the statement and its two observation arms (too large for a worker thread's stack) */
struct bufs {
    struct sqlbuf b, m, s;
};

/* The statement cache (sq->sta_cache): take a free statement of this text, or prepare one
 * and keep it in place of the least recently used free one. */
static int cache_take(struct sq_store *sq, const char *sql, size_t len, sqlite3_stmt **out)
{
    for (int i = 0; i < SQ_STA_CACHE_N; i++) {
        if (sq->sta_cache[i].s && !sq->sta_cache[i].busy && sq->sta_cache[i].len == len &&
            memcmp(sq->sta_cache[i].sql, sql, len) == 0) {
            sq->sta_cache[i].busy = 1;
            sq->sta_cache[i].used = ++sq->sta_tick;
            sqlite3_clear_bindings(sq->sta_cache[i].s);
            *out = sq->sta_cache[i].s;
            return 1;
        }
    }
    return 0;
}

static void cache_put(struct sq_store *sq, const char *sql, size_t len, sqlite3_stmt *s)
{
    int slot = -1;
    for (int i = 0; i < SQ_STA_CACHE_N; i++) {
        if (sq->sta_cache[i].busy)
            continue;
        if (!sq->sta_cache[i].s) {
            slot = i;
            break;
        }
        if (slot < 0 || sq->sta_cache[i].used < sq->sta_cache[slot].used)
            slot = i;
    }
    if (slot < 0)
        return; /* every slot in use: this one is finalized at its release */
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, sql, len);
    copy[len] = '\0';
    sqlite3_finalize(sq->sta_cache[slot].s);
    free(sq->sta_cache[slot].sql);
    sq->sta_cache[slot].sql = copy;
    sq->sta_cache[slot].len = len;
    sq->sta_cache[slot].s = s;
    sq->sta_cache[slot].busy = 1;
    sq->sta_cache[slot].used = ++sq->sta_tick;
}

/* Done with a statement from prepare(): reset and back into the cache (which ends its
 * read), or finalized when it is not cached. */
static void release(struct sq_store *sq, sqlite3_stmt *s)
{
    if (!s)
        return;
    for (int i = 0; i < SQ_STA_CACHE_N; i++)
        if (sq->sta_cache[i].s == s) {
            sqlite3_reset(s);
            sq->sta_cache[i].busy = 0;
            return;
        }
    sqlite3_finalize(s);
}

void store_sqlite__sta_cache_free(struct sq_store *sq)
{
    for (int i = 0; i < SQ_STA_CACHE_N; i++) {
        sqlite3_finalize(sq->sta_cache[i].s);
        free(sq->sta_cache[i].sql);
        sq->sta_cache[i].s = NULL;
        sq->sta_cache[i].sql = NULL;
    }
}

static enum tk_rc prepare(struct sq_store *sq, const struct store_sta_query *q,
                          const struct sqlbuf *b, sqlite3_stmt **out)
{
    *out = NULL;
    if (b->overflow)
        return store__fail(&sq->base, TK_EFULL, "SensorThings query too long");
    if (!cache_take(sq, b->s, b->len, out)) {
        int src =
            sqlite3_prepare_v3(sq->db, b->s, (int)b->len, SQLITE_PREPARE_PERSISTENT, out, NULL);
        if (src != SQLITE_OK)
            return store_sqlite__err(sq, src, "preparing a SensorThings query");
        cache_put(sq, b->s, b->len, *out);
    }
    /* parameters a statement does not use are ignored by name position; bind what exists */
    int np = sqlite3_bind_parameter_count(*out);
    if (np >= 1)
        sqlite3_bind_int64(*out, 1, q->has_parent ? q->parent_id : 0);
    if (np >= 2)
        sqlite3_bind_int64(*out, 2, q->has_id ? q->id : 0);
    if (np >= 3)
        sqlite3_bind_int64(*out, 3, q->top < 0 ? -1 : q->top);
    if (np >= 4)
        sqlite3_bind_int64(*out, 4, q->skip > 0 ? q->skip : 0);
    store_sta__filter_bind(*out, q->filter);
    if (np >= STA_VPARAM) {
        if (sq->view_owner[0])
            sqlite3_bind_text(*out, STA_VPARAM, sq->view_owner, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(*out, STA_VPARAM);
    }
    return TK_OK;
}

static void read_text(sqlite3_stmt *s, int c, enum store_sta_vtype t, struct store_sta_value *v)
{
    v->type = t;
    v->s = (const char *)sqlite3_column_text(s, c);
    v->len = (size_t)sqlite3_column_bytes(s, c);
    if (!v->s) {
        v->s = "";
        v->len = 0;
    }
}

static void read_row(enum store_sta_entity e, sqlite3_stmt *s, struct store_sta_value *row)
{
    const struct ent *en = &ents[e];
    memset(row, 0, sizeof *row * en->nprops);
    if (e == STORE_STA_OBSERVATION) {
        /* id, t, te, rt, r, p */
        row[0].type = STORE_STA_INT;
        row[0].i = sqlite3_column_int64(s, 0);
        row[1].i = sqlite3_column_int64(s, 1);
        row[1].i2 = sqlite3_column_int64(s, 2);
        row[1].type = row[1].i2 > row[1].i ? STORE_STA_INTERVAL : STORE_STA_TIME;
        row[2].type = sqlite3_column_type(s, 3) == SQLITE_NULL ? STORE_STA_NULL : STORE_STA_TIME;
        row[2].i = sqlite3_column_int64(s, 3);
        row[3].type = sqlite3_column_type(s, 4) == SQLITE_NULL ? STORE_STA_NULL : STORE_STA_REAL;
        row[3].d = sqlite3_column_double(s, 4);
        if (sqlite3_column_type(s, 5) != SQLITE_NULL)
            read_text(s, 5, STORE_STA_JSON, &row[4]);
        row[5].type = STORE_STA_INT; /* the Datastream, past the properties */
        row[5].i = sqlite3_column_int64(s, 6);
        row[6].type = STORE_STA_INT; /* 1: the result was withheld */
        row[6].i = sqlite3_column_int64(s, 7);
        return;
    }
    for (size_t i = 0; i < en->nprops; i++) {
        int c = (int)i;
        if (sqlite3_column_type(s, c) == SQLITE_NULL)
            continue; /* STORE_STA_NULL */
        switch (en->props[i].type) {
        case STORE_STA_INT:
        case STORE_STA_TIME:
            row[i].type = en->props[i].type;
            row[i].i = sqlite3_column_int64(s, c);
            break;
        case STORE_STA_REAL:
            row[i].type = STORE_STA_REAL;
            row[i].d = sqlite3_column_double(s, c);
            break;
        case STORE_STA_TEXT:
        case STORE_STA_JSON:
            read_text(s, c, en->props[i].type, &row[i]);
            break;
        default:
            break;
        }
    }
}

static enum tk_rc check_store(struct store *st)
{
    if (!st)
        return TK_EINVAL;
    if (st->ops != &store_sqlite__ops)
        return store__fail(st, TK_EINVAL, "SensorThings reads need the SQLite backend");
    return TK_OK;
}

typedef enum tk_rc (*sql_builder)(const struct store_sta_query *q, int hide, struct sqlbuf *b,
                                  struct sqlbuf *m, struct sqlbuf *s, const char **why);

/* The Observations of one Datastream share its quantity: when that quantity is not one the
 * caller's results are withheld for, the rows need no withholding at all. Deciding it here
 * once spares every row two lookups of its Datastream (the CASE of store_sta__result_sql),
 * most of the cost of a day of readings. */
static enum tk_rc narrow_withhold(struct sq_store *sq, const struct store_sta_query *q,
                                  struct store_sta_query *local, const struct store_sta_query **use)
{
    *use = q;
    if (!q->withhold.mask || q->entity != STORE_STA_OBSERVATION || !q->has_parent ||
        q->parent != STORE_STA_DATASTREAM)
        return TK_OK;
    int quantity = -1;
    enum tk_rc rc = store_datastream_quantity(&sq->base, q->parent_id, &quantity);
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

/* Build the query's SQL with build and prepare it: the common start of a list and a
 * count. *bb is new (free it), *out finalised by the caller. */
static enum tk_rc build_prepared(struct sq_store *sq, const struct store_sta_query *q,
                                 sql_builder build, struct bufs **bb, sqlite3_stmt **out)
{
    const char *why = NULL;
    struct store_sta_query local;
    enum tk_rc rc;
    *out = NULL;
    *bb = NULL;
    rc = narrow_withhold(sq, q, &local, &q);
    if (rc)
        return rc;
    *bb = malloc(sizeof **bb); /* 48 KiB: initialised, not zeroed */
    if (!*bb)
        return TK_ENOMEM;
    (*bb)->b.len = (*bb)->m.len = (*bb)->s.len = 0;
    (*bb)->b.overflow = (*bb)->m.overflow = (*bb)->s.overflow = 0;
    (*bb)->b.s[0] = (*bb)->m.s[0] = (*bb)->s.s[0] = '\0';
    rc = build(q, store_sta__hides(sq), &(*bb)->b, &(*bb)->m, &(*bb)->s, &why);
    if (rc)
        return store__fail(&sq->base, rc, "%s", why ? why : "bad filter");
    return prepare(sq, q, &(*bb)->b, out);
}

enum tk_rc store_sta_list(struct store *st, const struct store_sta_query *q, store_sta_row_cb cb,
                          void *ud)
{
    enum tk_rc rc = check_store(st);
    if (rc || !q || !cb)
        return rc ? rc : TK_EINVAL;
    struct sq_store *sq = sq_of(st);
    rc = check_query(sq, q);
    if (rc)
        return rc;
    struct bufs *bb = NULL;
    sqlite3_stmt *s = NULL;
    rc = build_prepared(sq, q, build_list, &bb, &s);
    if (rc)
        goto cleanup;
    struct store_sta_value row[STORE_STA_PROPS_MAX];
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        read_row(q->entity, s, row);
        rc = cb(ud, row, ents[q->entity].nprops);
        if (rc)
            goto cleanup;
    }
    if (src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "reading SensorThings entities");
cleanup:
    release(sq, s);
    free(bb);
    return rc;
}

/* A cursor is store_sta_list's loop turned inside out: the statement stays open (and
 * with it SQLite's read snapshot) between calls, so a caller can stream rows out in
 * pieces as its consumer takes them. */
struct store_sta_cursor {
    struct sq_store *sq;
    enum store_sta_entity e;
    sqlite3_stmt *s;
    struct bufs *bb;
    int done;
    struct store_sta_value row[STORE_STA_PROPS_MAX];
};

enum tk_rc store_sta_cursor_open(struct store *st, const struct store_sta_query *q,
                                 struct store_sta_cursor **out)
{
    *out = NULL;
    enum tk_rc rc = check_store(st);
    if (rc || !q)
        return rc ? rc : TK_EINVAL;
    struct sq_store *sq = sq_of(st);
    rc = check_query(sq, q);
    if (rc)
        return rc;
    struct store_sta_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return TK_ENOMEM;
    c->sq = sq;
    c->e = q->entity;
    rc = build_prepared(sq, q, build_list, &c->bb, &c->s);
    free(c->bb); /* the statement keeps its own copy of the text */
    c->bb = NULL;
    if (rc) {
        store_sta_cursor_close(c);
        return rc;
    }
    *out = c;
    return TK_OK;
}

enum tk_rc store_sta_cursor_next(struct store_sta_cursor *c, const struct store_sta_value **row,
                                 size_t *n)
{
    if (!c || c->done)
        return c ? TK_ENOTFOUND : TK_EINVAL;
    int src = sqlite3_step(c->s);
    if (src == SQLITE_ROW) {
        read_row(c->e, c->s, c->row);
        *row = c->row;
        *n = ents[c->e].nprops;
        return TK_OK;
    }
    c->done = 1;
    if (src == SQLITE_DONE)
        return TK_ENOTFOUND;
    return store_sqlite__err(c->sq, src, "reading SensorThings entities");
}

void store_sta_cursor_close(struct store_sta_cursor *c)
{
    if (!c)
        return;
    release(c->sq, c->s);
    free(c->bb);
    free(c);
}

enum tk_rc store_sta_count(struct store *st, const struct store_sta_query *q, int64_t *n)
{
    enum tk_rc rc = check_store(st);
    if (rc || !q || !n)
        return rc ? rc : TK_EINVAL;
    struct sq_store *sq = sq_of(st);
    rc = check_query(sq, q);
    if (rc)
        return rc;
    struct bufs *bb = NULL;
    sqlite3_stmt *s = NULL;
    rc = build_prepared(sq, q, build_count, &bb, &s);
    if (rc)
        goto cleanup;
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    else
        rc = store_sqlite__err(sq, src == SQLITE_DONE ? SQLITE_CORRUPT : src,
                               "counting SensorThings entities");
cleanup:
    release(sq, s);
    free(bb);
    return rc;
}

enum tk_rc store_sta_plan(struct store *st, const struct store_sta_query *q, char *buf, size_t size)
{
    enum tk_rc rc = check_store(st);
    if (rc || !q || !buf || size == 0)
        return rc ? rc : TK_EINVAL;
    buf[0] = '\0';
    struct sq_store *sq = sq_of(st);
    rc = check_query(sq, q);
    if (rc)
        return rc;
    struct bufs *bb = calloc(2, sizeof *bb); /* [1].b: the EXPLAIN statement */
    sqlite3_stmt *s = NULL;
    if (!bb)
        return TK_ENOMEM;
    const char *why = NULL;
    rc = build_list(q, store_sta__hides(sq), &bb[0].b, &bb[0].m, &bb[0].s, &why);
    if (rc) {
        rc = store__fail(&sq->base, rc, "%s", why ? why : "bad filter");
        goto cleanup;
    }
    put(&bb[1].b, "EXPLAIN QUERY PLAN %s", bb[0].b.s);
    bb[1].b.overflow |= bb[0].b.overflow;
    rc = prepare(sq, q, &bb[1].b, &s);
    if (rc)
        goto cleanup;
    size_t len = 0;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(s, 3);
        int k = snprintf(buf + len, size - len, "%s\n", d ? d : "");
        if (k < 0 || (size_t)k >= size - len) {
            len = size - 1;
            break;
        }
        len += (size_t)k;
    }
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_sqlite__err(sq, src, "explaining a SensorThings query");
cleanup:
    release(sq, s);
    free(bb);
    return rc;
}

void store_sta_viewer_set(struct store *st, int all, const char *owner)
{
    if (check_store(st))
        return;
    struct sq_store *sq = sq_of(st);
    sq->view_all = all != 0;
    snprintf(sq->view_owner, sizeof sq->view_owner, "%s", owner ? owner : "");
}

/* BEGIN and COMMIT through the statement cache: an API request makes one of each. */
static int exec_cached(struct sq_store *sq, const char *sql)
{
    sqlite3_stmt *s = NULL;
    size_t len = strlen(sql);
    if (!cache_take(sq, sql, len, &s)) {
        int src = sqlite3_prepare_v3(sq->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (src != SQLITE_OK)
            return src;
        cache_put(sq, sql, len, s);
    }
    int src = sqlite3_step(s);
    release(sq, s);
    return src == SQLITE_DONE ? SQLITE_OK : src;
}

enum tk_rc store_sta_snapshot_begin(struct store *st)
{
    enum tk_rc rc = check_store(st);
    if (rc)
        return rc;
    struct sq_store *sq = sq_of(st);
    if (!sqlite3_get_autocommit(sq->db))
        return store__fail(st, TK_EINVAL, "a transaction is already open");
    int src = exec_cached(sq, "BEGIN");
    return src == SQLITE_OK ? TK_OK : store_sqlite__err(sq, src, "BEGIN (read)");
}

void store_sta_snapshot_end(struct store *st)
{
    if (check_store(st))
        return;
    struct sq_store *sq = sq_of(st);
    if (!sqlite3_get_autocommit(sq->db) && exec_cached(sq, "COMMIT"))
        (void)sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
}
