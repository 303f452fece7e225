/* SensorThings API v1.1 reads over the store: entity lists, gets by id, navigation between
 * entities, counting, and pages of Observations (which the SQLite backend keeps in two
 * tables; see store/src/sqlite_sta.c). The API renders what these return; it never sees
 * SQL.
 *
 * Entities carry their properties as an ordered table (store_sta_props): index 0 is always
 * the @iot.id; a query returns every property of each row in that order, and names
 * properties by index in $orderby. Values are borrowed for the duration of the row
 * callback only.
 *
 * Threading: as store.h, one struct store per thread. Every function here reads; a read
 * made of several calls sees one snapshot between store_sta_snapshot_begin/_end. */
#ifndef STORE_STA_H
#define STORE_STA_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum store_sta_entity {
    STORE_STA_THING = 0,
    STORE_STA_LOCATION,
    STORE_STA_HLOCATION, /* HistoricalLocation */
    STORE_STA_DATASTREAM,
    STORE_STA_SENSOR,
    STORE_STA_OPROPERTY, /* ObservedProperty */
    STORE_STA_OBSERVATION,
    STORE_STA_FOI, /* FeatureOfInterest */
    STORE_STA_N
};

enum store_sta_vtype {
    STORE_STA_NULL = 0,
    STORE_STA_INT,      /* i */
    STORE_STA_REAL,     /* d */
    STORE_STA_TEXT,     /* s, len: UTF-8 text to be quoted */
    STORE_STA_JSON,     /* s, len: JSON text to be embedded as is */
    STORE_STA_TIME,     /* i: UTC microseconds */
    STORE_STA_INTERVAL, /* i .. i2 (UTC microseconds); as a property type: an instant when
                           the value's type is STORE_STA_TIME */
};

struct store_sta_prop {
    const char *name;          /* SensorThings property name ("@iot.id" for index 0) */
    enum store_sta_vtype type; /* declared type; a value may also be STORE_STA_NULL */
    int sortable;              /* usable in $orderby */
    int omit_null;             /* optional property: leave it out of the JSON when null */
};

/** Properties of entity e (static storage), *n set to their number; NULL for a bad e. */
const struct store_sta_prop *store_sta_props(enum store_sta_entity e, size_t *n);

/** Cardinality of the navigation from an entity of type from to related ones of type to:
 *  0 none (no such navigation property), 1 to one, 2 to many. */
int store_sta_nav(enum store_sta_entity from, enum store_sta_entity to);

struct store_sta_value {
    enum store_sta_vtype type;
    int64_t i, i2;
    double d;
    const char *s; /* borrowed, valid during the row callback; not NUL-terminated */
    size_t len;
};

#define STORE_STA_ORDER_MAX 8
#define STORE_STA_PROPS_MAX 8

struct store_sta_order {
    int prop; /* index into store_sta_props(entity) */
    int desc;
};

/* ---- $filter ---------------------------------------------------------------------------
 * A filter arrives here as an abstract syntax tree whose names are already resolved (the
 * API parses the text and looks the names up). The backend compiles it to SQL in which
 * every literal is a bound parameter, so nothing the client wrote becomes SQL text. */

enum store_sta_fop {
    STORE_F_LIT = 0, /* v: NULL, INT (booleans are 0/1), REAL, TEXT or TIME */
    STORE_F_GEO,     /* v.s, v.len: a geometry as WKT ("POINT(132.45 34.39)") */
    STORE_F_PATH,    /* path: a property of the filtered entity or of a related one */
    STORE_F_AND,
    STORE_F_OR,
    STORE_F_NOT,
    STORE_F_EQ,
    STORE_F_NE,
    STORE_F_GT,
    STORE_F_GE,
    STORE_F_LT,
    STORE_F_LE,
    STORE_F_ADD,
    STORE_F_SUB,
    STORE_F_MUL,
    STORE_F_DIV,
    STORE_F_MOD,
    STORE_F_NEG,
    STORE_F_CALL, /* fn with nargs arguments */
};

enum store_sta_ffn {
    STORE_FN_SUBSTRINGOF = 0,
    STORE_FN_ENDSWITH,
    STORE_FN_STARTSWITH,
    STORE_FN_LENGTH,
    STORE_FN_INDEXOF,
    STORE_FN_SUBSTRING,
    STORE_FN_TOLOWER,
    STORE_FN_TOUPPER,
    STORE_FN_TRIM,
    STORE_FN_CONCAT,
    STORE_FN_YEAR,
    STORE_FN_MONTH,
    STORE_FN_DAY,
    STORE_FN_HOUR,
    STORE_FN_MINUTE,
    STORE_FN_SECOND,
    STORE_FN_DATE, /* 'YYYY-MM-DD' text */
    STORE_FN_TIME, /* 'HH:MM:SS' text */
    STORE_FN_ROUND,
    STORE_FN_FLOOR,
    STORE_FN_CEILING,
    STORE_FN_GEO_DISTANCE, /* in degrees, as the standard's examples */
    STORE_FN_GEO_LENGTH,
    STORE_FN_GEO_INTERSECTS,
    STORE_FN_ST_EQUALS,
    STORE_FN_ST_DISJOINT,
    STORE_FN_ST_TOUCHES,
    STORE_FN_ST_WITHIN,
    STORE_FN_ST_OVERLAPS,
    STORE_FN_ST_CROSSES,
    STORE_FN_ST_INTERSECTS,
    STORE_FN_ST_CONTAINS,
    STORE_FN_N
};

#define STORE_STA_NAV_MAX 4
#define STORE_STA_FARGS_MAX 3
#define STORE_STA_FNODES_MAX 256

struct store_sta_fpath {
    size_t nnav; /* entities walked through from the filtered one (0: its own property) */
    enum store_sta_entity nav[STORE_STA_NAV_MAX];
    int prop;         /* property index (store_sta_props) of the last entity */
    const char *json; /* NULL, or a JSON path ("$.kind") into that JSON property (borrowed) */
    size_t json_len;
};

struct store_sta_fnode {
    enum store_sta_fop op;
    enum store_sta_ffn fn;        /* STORE_F_CALL */
    int nargs;                    /* operands: 1 (NOT, NEG), 2 (binary), fn's arity */
    int arg[STORE_STA_FARGS_MAX]; /* indices of operand nodes */
    struct store_sta_value v;     /* STORE_F_LIT, STORE_F_GEO (borrowed text) */
    struct store_sta_fpath path;  /* STORE_F_PATH */
};

/* The tree: nodes[root] is a boolean expression; n <= STORE_STA_FNODES_MAX. Borrowed by
 * the query for the duration of the call. */
struct store_sta_filter {
    const struct store_sta_fnode *nodes;
    size_t n;
    int root;
};

/** Register the SQL functions that filters use (geometry predicates, floor, ceiling) on
 *  st's connection: call once after store_open on every connection that runs filtered
 *  queries. TK_EDB if SQLite refuses. */
enum tk_rc store_sta_init(struct store *st) TK_WUR;

/* Privacy (SPEC section 5): with mask set, the result of an Observation whose Datastream
 * measures a quantity in mask (bit 1u << enum tk_quantity) and is below `below` reads as
 * null everywhere in the query: in the rows, in $filter (also through navigation paths)
 * and in $orderby, so nothing about the value leaks through a condition or an order.
 * Such rows carry row[n + 1].i = 1 (STORE_STA_INT; 0 otherwise). The API decides the
 * mask per caller (api_withhold, from api_suppress's rule). */
struct store_sta_withhold {
    unsigned mask;
    double below;
};

struct store_sta_query {
    enum store_sta_entity entity;
    int has_parent; /* only the entities related to (parent, parent_id) */
    enum store_sta_entity parent;
    int64_t parent_id;
    int has_id; /* only the entity with this @iot.id */
    int64_t id;
    struct store_sta_order order[STORE_STA_ORDER_MAX];
    size_t norder; /* 0: by @iot.id; Observations under a Datastream or FeatureOfInterest:
                      by phenomenonTime descending. @iot.id always breaks ties. */
    int64_t top;   /* at most this many rows; < 0: no limit */
    int64_t skip;  /* rows skipped first */
    const struct store_sta_filter *filter; /* NULL: every row (borrowed) */
    struct store_sta_withhold withhold;    /* zero: results as stored */
};

/** Called once per row with every property of the entity (n values, in the order of
 *  store_sta_props). Observation rows carry two values more: row[n], the @iot.id of their
 *  Datastream, and row[n + 1], 1 when the result was withheld (both STORE_STA_INT). A non-zero return stops the walk and is returned by store_sta_list.
 */
typedef enum tk_rc (*store_sta_row_cb)(void *ud, const struct store_sta_value *row, size_t n);

/** Walk the rows selected by q. Rows whose parent does not exist are simply none: check
 *  the parent with a query by id first when that matters. TK_EINVAL for a query the data
 *  model does not allow (a navigation that does not exist, a non-sortable $orderby);
 *  TK_EDB / TK_EBUSY / TK_ENOMEM from the backend (store_errmsg says more). */
enum tk_rc store_sta_list(struct store *st, const struct store_sta_query *q, store_sta_row_cb cb,
                          void *ud) TK_WUR;

/* A cursor over the rows of one query, for callers that hand rows on in pieces (a
 * streamed export): the read snapshot lasts from open to close. One thread at a time. */
struct store_sta_cursor;

/** Prepare q (its filter is copied: borrowed for this call only). *out is new (close it
 *  with store_sta_cursor_close). Errors as store_sta_list. */
enum tk_rc store_sta_cursor_open(struct store *st, const struct store_sta_query *q,
                                 struct store_sta_cursor **out) TK_WUR;
/** The next row: *row (borrowed until the next call or the close) holds *n values as a
 *  store_sta_list callback gets them. TK_ENOTFOUND after the last row; TK_EDB, TK_EBUSY. */
enum tk_rc store_sta_cursor_next(struct store_sta_cursor *c, const struct store_sta_value **row,
                                 size_t *n) TK_WUR;
/** Finish the statement and free c; NULL does nothing. */
void store_sta_cursor_close(struct store_sta_cursor *c);

/** Number of rows q selects (with its filter), ignoring top, skip and order. */
enum tk_rc store_sta_count(struct store *st, const struct store_sta_query *q, int64_t *n) TK_WUR;

/** What a request about many Datastreams at once needs of each of ids[0..n-1], in one
 *  statement: visible[i] 1 when the Datastream exists and the viewer (store_sta_viewer_set)
 *  may see it, else 0; quantity[i] its quantity (enum tk_quantity; -1 for none, or when
 *  not visible). TK_EDB / TK_EBUSY / TK_ENOMEM from the backend. */
enum tk_rc store_sta_datastreams(struct store *st, const int64_t *ids, size_t n, int *visible,
                                 int *quantity) TK_WUR;

/** The backend's plan for listing q (SQLite: EXPLAIN QUERY PLAN, one step per line) into
 *  buf (NUL-terminated, truncated to size): for tests and tuning, e.g. to see that a time
 *  range under one Datastream is a key range. */
enum tk_rc store_sta_plan(struct store *st, const struct store_sta_query *q, char *buf,
                          size_t size) TK_WUR;

/** Start / end one read snapshot for several calls (nesting is not supported). */
enum tk_rc store_sta_snapshot_begin(struct store *st) TK_WUR;
void store_sta_snapshot_end(struct store *st);

/* ---- firm-private data ------------------------------------------------------------------
 * A Thing created through the API with properties {"access": "private"} is private to the
 * owner of the key that created it: that Thing, its Datastreams, their Observations, its
 * HistoricalLocations, and the Locations, Sensors, ObservedProperties and
 * FeaturesOfInterest that only private Things of other owners use do not exist for anyone
 * else. The rule is part of every query's SQL (rows, $filter paths, $expand, $count,
 * cursors), so no condition can probe a hidden row. A connection sees everything until
 * told otherwise (the city's own tools); the API sets the caller on each request. */

/** Whom the following reads and writes on st are for. all: every private Thing is visible
 *  and every entity may be changed (admin keys, the city's tools). owner (borrowed, may be
 *  NULL or "" for anonymous callers): the key's owner, whose private Things stay visible;
 *  entities created on st from now on are recorded as this owner's. */
void store_sta_viewer_set(struct store *st, int all, const char *owner);

/** Whether the viewer of st may change or delete (e, id): *may = 1 for an admin viewer, for
 *  entities created by the viewer's owner, for Observations and HistoricalLocations of a
 *  Datastream or Thing the owner created; 0 for anything else (the city's devices, other
 *  owners' public entities). TK_ENOTFOUND when the viewer cannot see the entity at all;
 *  TK_EDB / TK_EBUSY from the backend. */
enum tk_rc store_sta_may_change(struct store *st, enum store_sta_entity e, int64_t id,
                                int *may) TK_WUR;

/** 1 when linking an entity of type from to one of type to changes the latter, so that
 *  only a viewer who may change it may make the link: an Observation added to a
 *  Datastream, a Datastream or HistoricalLocation added to a Thing, a Location given to
 *  a Thing (it moves). 0 for links that leave the target as it was (a Thing at an
 *  existing Location, a Datastream with an existing Sensor). */
int store_sta_link_changes(enum store_sta_entity from, enum store_sta_entity to);

/* ---- writes (operators' POST, PATCH, PUT, DELETE) -----------------------------------------
 * Each call is all-or-nothing. Calls made between store_begin and store_commit form one
 * transaction (a deep insert): a failed call then undoes only its own changes, and the
 * caller decides whether to roll the whole back. The side effects the standard asks for
 * happen here: a Thing whose Locations change gets a HistoricalLocation; an Observation
 * without a FeatureOfInterest gets the one at its Thing's Location (made from that Location
 * when there is none yet); deletes cascade (Thing -> Datastreams, HistoricalLocations;
 * Location -> HistoricalLocations; Datastream -> Observations; Sensor, ObservedProperty ->
 * Datastreams; FeatureOfInterest -> Observations). Rollups and latest values stay equal to
 * what the remaining observations give. */

#define STORE_STA_LINKS_MAX 64

/* A link to another entity: for a to-one navigation (Datastream -> Thing) it sets the
 * related entity; for a to-many one (Thing -> Locations, Location -> Things,
 * HistoricalLocation -> Locations) it adds one. */
struct store_sta_link {
    enum store_sta_entity to;
    int64_t id;
};

/* An entity's properties as written. Values by type: text properties STORE_STA_TEXT;
 * JSON properties STORE_STA_JSON with valid JSON text (a Datastream's unitOfMeasurement:
 * an object with string name, symbol and definition), or STORE_STA_NULL for an optional
 * one; HistoricalLocation time STORE_STA_TIME; Observation phenomenonTime STORE_STA_TIME
 * or STORE_STA_INTERVAL, resultTime STORE_STA_TIME or STORE_STA_NULL (the same as the
 * phenomenonTime), result STORE_STA_REAL (this store keeps numeric results). Strings are
 * borrowed for the call. */
struct store_sta_input {
    enum store_sta_entity entity;
    unsigned set; /* bit p: v[p] holds property p of store_sta_props(entity) (p >= 1) */
    struct store_sta_value v[STORE_STA_PROPS_MAX];
    size_t nlinks;
    struct store_sta_link links[STORE_STA_LINKS_MAX];
    int replace_links; /* update: to-many links given replace the current ones (PUT, or a
                          PATCH that names the navigation property) */
};

/** The properties an entity must have when created (bit p for property p). */
unsigned store_sta_mandatory(enum store_sta_entity e);

/** Create an entity; *id (may be NULL) gets its @iot.id. TK_EINVAL (store_errmsg says
 *  which property or link) when a mandatory property or link is missing or a value is
 *  unusable; TK_ENOTFOUND when a linked entity does not exist; TK_EDUP for an Observation
 *  at a phenomenonTime its Datastream already has; TK_EDB / TK_EBUSY from the backend. */
enum tk_rc store_sta_create(struct store *st, const struct store_sta_input *in,
                            int64_t *id) TK_WUR;

/** Change the properties set in `in` and the links it names on entity (in->entity, id).
 *  TK_ENOTFOUND if it does not exist; otherwise as store_sta_create. */
enum tk_rc store_sta_update(struct store *st, int64_t id, const struct store_sta_input *in) TK_WUR;

/** Delete entity (e, id) with the standard's cascade. TK_ENOTFOUND if it does not exist. */
enum tk_rc store_sta_delete(struct store *st, enum store_sta_entity e, int64_t id) TK_WUR;

#endif
