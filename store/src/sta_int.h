/* Internal to the SensorThings reads and writes (sta.c, sta_filter.c, sta_write.c), which
 * serve both backends: one statement builder and one write logic, over a small table per
 * backend (struct sta_backend) that says how its SQL differs (struct sta_dialect), runs a
 * statement and keeps the Observations' derived data (rollups, latest).
 *
 * The builder writes parameters as ?N (N from 1); the PostgreSQL side turns them into $N
 * and declares a type for every N up to the highest (the values' own types). */
#ifndef STA_INT_H
#define STA_INT_H

#include "store_int.h"
#include "store_sta.h"

#define STA_SQL_MAX 16384

/* The FeatureOfInterest of a datastream's new observations: the one at its Thing's
 * Location (what the registry creates and the move assigns). */
#define DS_FOI(ds)                                                                                 \
    "(SELECT ff.id FROM datastreams fd JOIN thing_locations ftl ON ftl.thing_id = fd.thing_id"     \
    " JOIN features_of_interest ff ON ff.location_id = ftl.location_id WHERE fd.id = " ds          \
    " ORDER BY ff.id DESC LIMIT 1)"
/* The datastreams whose observations may have FeatureOfInterest ?1: those of the Things at
 * its Location, and those written with it explicitly (obs_foi_ds). */
#define FOI_DS                                                                                     \
    "SELECT gd.id FROM features_of_interest gf JOIN thing_locations gtl"                           \
    " ON gtl.location_id = gf.location_id JOIN datastreams gd ON gd.thing_id = gtl.thing_id"       \
    " WHERE gf.id = ?1 UNION SELECT ds_id FROM obs_foi_ds WHERE foi_id = ?1"

struct sqlbuf {
    char s[STA_SQL_MAX];
    size_t len;
    int overflow;
};

/** Append printf-style text; on overflow set b->overflow and ignore further text. */
void store_sta__put(struct sqlbuf *b, const char *fmt, ...) TK_PRINTF(2, 3);
/** Append dialect template *t up to its next placeholder #k (k a digit) and return k, with
 *  *t moved past it; at the end append the rest and return -1. The caller writes operand
 *  k in between (a template may name one more than once). */
int store_sta__tmpl_next(struct sqlbuf *b, const char **t);

/* The viewer's owner (NULL for anonymous callers), bound where a query hides the private
 * Things of others; well above the filter's parameters (STA_FPARAM + STORE_STA_FNODES_MAX). */
#define STA_VPARAM 300
#define STA_PARAMS_MAX (STA_VPARAM + 1) /* index 0 unused */
/* The Things private to an owner other than the viewer ?300 (anonymous sees none). */
#define HIDDEN_THINGS                                                                              \
    "SELECT id FROM sta_owners WHERE entity = 0 AND private = 1 AND owner IS DISTINCT FROM ?300"

/* ---- the dialect: SQL that differs between the backends ----------------------------------
 * Templates write #0, #1, #2 for their arguments. */
enum sta_type { STA_T_NULL = 0, STA_T_NUM, STA_T_TEXT, STA_T_BOOL, STA_T_ANY /* JSON member */ };

/* The geometry functions, which both backends provide under the same names (SQLite
 * registers them per connection, sqlite_geo.c; PostgreSQL has them from its migrations):
 * tk_geo_distance, tk_geo_length and tk_geo_rel(a, b, k) for relation k; rel(k) makes the
 * last a condition of the backend. */
#define STA_GEO_FNS(rel)                                                                           \
    [STORE_FN_GEO_DISTANCE] = "tk_geo_distance(#0, #1)",                                           \
    [STORE_FN_GEO_LENGTH] = "tk_geo_length(#0)", [STORE_FN_GEO_INTERSECTS] = rel(6),               \
    [STORE_FN_ST_EQUALS] = rel(0), [STORE_FN_ST_DISJOINT] = rel(1),                                \
    [STORE_FN_ST_TOUCHES] = rel(2), [STORE_FN_ST_WITHIN] = rel(3),                                 \
    [STORE_FN_ST_OVERLAPS] = rel(4), [STORE_FN_ST_CROSSES] = rel(5),                               \
    [STORE_FN_ST_INTERSECTS] = rel(6), [STORE_FN_ST_CONTAINS] = rel(7)

struct sta_dialect {
    int two_obs_tables;      /* SQLite: observations and obs_staging, read as one */
    const char *obs_source;  /* Observations as a FROM item for navigation paths */
    const char *fn[STORE_FN_N];
    const char *substring3;  /* substring with a length */
    const char *div, *mod;   /* arithmetic that must not fail on a zero */
    const char *eq_null, *ne_null;
    /* a JSON member as a number (numbers, true/false as 1/0) or as text (strings), NULL
     * for a member of any other type: #0 a JSON text, #1 a path (bound) */
    const char *json_num, *json_text;
    const char *asc, *desc; /* $orderby suffixes: NULLs first going up, last going down */
    const char *thing_private;        /* 1/0: Thing ?2 says properties.access "private" */
    /* turning an expression of one type into another where the dialect needs it (NULL:
     * as it is) */
    const char *num_as_text, *text_as_num, *bool_as_num, *num_as_bool;
    int limit_null; /* no $top: LIMIT NULL rather than LIMIT -1 */
    const char *id_list; /* the integers of JSON array text #0, as a subquery for IN */
};

/* ---- statements ------------------------------------------------------------------------- */

struct sta_stmt; /* a running statement of a backend */

/* An Observation as the writes handle it. */
struct sta_obs {
    int64_t ds, t, t_end, rt, id, foi; /* t_end, rt, foi: 0 for none */
    double result;
    char *params; /* owned, or NULL */
    int staged;
};

struct sta_backend {
    const struct sta_dialect *d;
    /** Prepare sql with params[1..np - 1] (type STORE_STA_NULL: SQL NULL); stream: the
     *  caller takes rows one by one over a long time (a cursor). */
    enum tk_rc (*prepare)(struct store *st, const char *sql, size_t len,
                          const struct store_sta_value *params, int np, int stream,
                          struct sta_stmt **out);
    /** The next row: 1 a row, 0 done, -1 error (*rc set). */
    int (*step)(struct sta_stmt *s, enum tk_rc *rc);
    int (*is_null)(struct sta_stmt *s, int c);
    int64_t (*int64)(struct sta_stmt *s, int c);
    double (*real)(struct sta_stmt *s, int c);
    const char *(*text)(struct sta_stmt *s, int c, size_t *len); /* NULL for NULL */
    int64_t (*changes)(struct sta_stmt *s); /* rows a finished write changed */
    void (*finish)(struct sta_stmt *s);     /* NULL does nothing */
    const char *explain;                    /* prefix of a plan query */
    int explain_col;                        /* its column of text */
    enum tk_rc (*snapshot_begin)(struct store *st);
    void (*snapshot_end)(struct store *st);
    /** A write in its own transaction, or a savepoint of the caller's. */
    enum tk_rc (*write_enter)(struct store *st, int *nested);
    enum tk_rc (*write_leave)(struct store *st, int nested, enum tk_rc rc);

    /* the Observations' storage and what derives from it */
    /** Insert o (o->id 0: take a new id) after the duplicate check, fold it into the
     *  rollups, update latest and obs_foi_ds. */
    enum tk_rc (*obs_insert)(struct store *st, struct sta_obs *o);
    /** Remove rows (sorted by ds, t) from their table, the rollups and latest. */
    enum tk_rc (*obs_remove)(struct store *st, struct sta_obs *rows, size_t n);
    /** A Datastream was created / is to be deleted with its observations. */
    enum tk_rc (*ds_created)(struct store *st, int64_t ds);
    enum tk_rc (*ds_delete)(struct store *st, int64_t ds);
    /** FeatureOfInterest foi is going: the latest entries of datastreams ds no longer
     *  name it. */
    enum tk_rc (*foi_forget)(struct store *st, int64_t foi, const int64_t *ds, size_t n);
};

extern const struct sta_backend store_sta__sqlite;
extern const struct sta_backend store_sta__pg;

/** The backend table of st, NULL (with a message) for a store without SensorThings. */
const struct sta_backend *store_sta__backend(struct store *st);

/* ---- helpers over a backend (sta_write.c) ----------------------------------------------- */

/** Run sql with integer parameters ?1..?n; *changes (may be NULL) gets the rows changed. */
enum tk_rc store_sta__run(struct store *st, const char *sql, const int64_t *args, int n,
                          int64_t *changes);
/** The first column of the first row as an integer: 1 found (not NULL), 0 none, -1 error. */
int store_sta__first_int(struct store *st, const char *sql, const int64_t *args, int n,
                         int64_t *out, enum tk_rc *rc);
/** Take removed rows (sorted by ds, t) out of the rollup table of buckets iv long, whose
 *  rows are (ds_id, bucket_us, n, total, lo, hi). */
enum tk_rc store_sta__unfold(struct store *st, const char *table, int64_t iv,
                             struct sta_obs *const *rows, size_t n);
/** The refusal of a second Observation at (ds, t). */
enum tk_rc store_sta__dup(struct store *st, const struct sta_obs *o, int64_t dup);

/** Append a scalar subquery: column main_col (staged_col in obs_staging) of Observation ?1. */
void store_sta__obs_by_id(struct sqlbuf *b, const struct sta_dialect *d, const char *main_col,
                          const char *staged_col);

/* ---- the builder ------------------------------------------------------------------------ */

/** 1 when queries on st must hide other owners' private Things. */
int store_sta__hides(const struct store *st);
/** Append " AND <entity e named alias is visible to the viewer>" (alias as in the filter:
 *  an Observation alias has ds_id). */
void store_sta__visible_sql(struct sqlbuf *b, enum store_sta_entity e, const char *alias);

/* A filter's values are bound at ?(STA_FPARAM + node index); ?1..?4 are the query's own. */
#define STA_FPARAM 5

/** Append the filter f as an SQL condition on rows of entity e named alias ("e", or for
 *  Observations "o" in observations and "s" in obs_staging: staged rows have no foi_id).
 *  TK_EINVAL (message in *why) for a tree the compiler cannot use. */
enum tk_rc store_sta__filter_sql(struct sqlbuf *b, const struct sta_dialect *d,
                                 const struct store_sta_filter *f, enum store_sta_entity e,
                                 const char *alias, int staged,
                                 const struct store_sta_withhold *w, int hide,
                                 const char **why) TK_WUR;
/** Append the condition "the result of the Observation named alias is withheld" under w
 *  (w->mask != 0). Only constants of the server go into it, never client text. */
void store_sta__withheld_sql(struct sqlbuf *b, const struct store_sta_withhold *w,
                             const char *alias);
/** Append the result column of the Observation named alias as the caller may see it. */
void store_sta__result_sql(struct sqlbuf *b, const struct store_sta_withhold *w,
                           const char *alias);
/** The filter's values into params (index STA_FPARAM + node); *np raised to cover them. */
void store_sta__filter_params(const struct store_sta_filter *f, struct store_sta_value *params,
                              int *np);

#endif
