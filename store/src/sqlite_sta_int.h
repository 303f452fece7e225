/* Internal to the SQLite SensorThings reads (sqlite_sta.c, sqlite_sta_filter.c): the
 * bounded SQL text buffer and the $filter compiler. */
#ifndef SQLITE_STA_INT_H
#define SQLITE_STA_INT_H

#include "sqlite_int.h"
#include "store_sta.h"

#define STA_SQL_MAX 16384

struct sqlbuf {
    char s[STA_SQL_MAX];
    size_t len;
    int overflow;
};

/** Append printf-style text; on overflow set b->overflow and ignore further text. */
void store_sta__put(struct sqlbuf *b, const char *fmt, ...) TK_PRINTF(2, 3);

/* A filter's values are bound at ?(STA_FPARAM + node index); ?1..?4 are the query's own. */
#define STA_FPARAM 5

/** Append the filter f as an SQL condition on rows of entity e named alias ("e", or for
 *  Observations "o" in observations and "s" in obs_staging: staged rows have no foi_id).
 *  TK_EINVAL (message in *why) for a tree the compiler cannot use. */
enum tk_rc store_sta__filter_sql(struct sqlbuf *b, const struct store_sta_filter *f,
                                 enum store_sta_entity e, const char *alias, int staged,
                                 const struct store_sta_withhold *w, const char **why) TK_WUR;
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
