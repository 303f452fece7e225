/* Internal to the SQLite SensorThings reads and writes (sqlite_sta.c, sqlite_sta_filter.c,
 * sqlite_sta_write.c): how Observations find their FeatureOfInterest, the bounded SQL text
 * buffer and the $filter compiler. */
#ifndef SQLITE_STA_INT_H
#define SQLITE_STA_INT_H

#include "sqlite_int.h"
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

/* The viewer's owner (NULL for anonymous callers), bound where a query hides the private
 * Things of others; well above the filter's parameters (STA_FPARAM + STORE_STA_FNODES_MAX). */
#define STA_VPARAM 300
/* The Things private to an owner other than the viewer ?300 (IS NOT: anonymous sees none). */
#define HIDDEN_THINGS                                                                              \
    "SELECT id FROM sta_owners WHERE entity = 0 AND private = 1 AND owner IS NOT ?300"

/** 1 when queries on sq must hide other owners' private Things. */
int store_sta__hides(const struct sq_store *sq);
/** Append " AND <entity e named alias is visible to the viewer>" (alias as in the filter:
 *  an Observation alias has ds_id). */
void store_sta__visible_sql(struct sqlbuf *b, enum store_sta_entity e, const char *alias);

/* A filter's values are bound at ?(STA_FPARAM + node index); ?1..?4 are the query's own. */
#define STA_FPARAM 5

/** Append the filter f as an SQL condition on rows of entity e named alias ("e", or for
 *  Observations "o" in observations and "s" in obs_staging: staged rows have no foi_id).
 *  TK_EINVAL (message in *why) for a tree the compiler cannot use. */
enum tk_rc store_sta__filter_sql(struct sqlbuf *b, const struct store_sta_filter *f,
                                 enum store_sta_entity e, const char *alias, int staged,
                                 const struct store_sta_withhold *w, int hide,
                                 const char **why) TK_WUR;
/** Append the condition "the result of the Observation named alias is withheld" under w
 *  (w->mask != 0). Only constants of the server go into it, never client text. */
void store_sta__withheld_sql(struct sqlbuf *b, const struct store_sta_withhold *w,
                             const char *alias);
/** Append the result column of the Observation named alias as the caller may see it. */
void store_sta__result_sql(struct sqlbuf *b, const struct store_sta_withhold *w,
                           const char *alias);
/** Bind the filter's values on s (the parameters s does not have are skipped). */
void store_sta__filter_bind(sqlite3_stmt *s, const struct store_sta_filter *f);

#endif
