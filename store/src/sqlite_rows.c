/* SQLite backend: tk_rows, a virtual table over an array of observation rows in memory.
 *
 * Executing a one-row INSERT costs about 1 us of statement overhead (opening and closing
 * cursors, halting the program) on top of the B-tree work; one INSERT ... SELECT FROM
 * tk_rows writes a whole array with that overhead paid once. The array is the
 * connection's (sq->vt_rows, set by store_sqlite__rows_exec for the duration of one
 * statement), so the table is eponymous and read-only, and only ever read in order. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

enum { COL_DS, COL_T, COL_ID, COL_T_END, COL_RT, COL_RESULT, COL_PARAMS, COL_FOI, COL_BATCH };

struct rows_vtab {
    sqlite3_vtab base;
    struct sq_store *sq;
};

struct rows_cursor {
    sqlite3_vtab_cursor base;
    size_t i;
};

static int rows_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err)
{
    (void)argc;
    (void)argv;
    (void)err;
    int src = sqlite3_declare_vtab(db, "CREATE TABLE x(ds_id, t_us, id, t_end_us, result_time_us,"
                                       " result, params, foi_id, batch)");
    if (src != SQLITE_OK)
        return src;
    struct rows_vtab *v = sqlite3_malloc(sizeof *v);
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->sq = aux;
    *out = &v->base;
    return SQLITE_OK;
}

static int rows_disconnect(sqlite3_vtab *v)
{
    sqlite3_free(v);
    return SQLITE_OK;
}

static int rows_best_index(sqlite3_vtab *v, sqlite3_index_info *info)
{
    (void)v;
    info->estimatedCost = 1e6;
    return SQLITE_OK;
}

static int rows_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
    (void)v;
    struct rows_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int rows_close(sqlite3_vtab_cursor *c)
{
    sqlite3_free(c);
    return SQLITE_OK;
}

static int rows_filter(sqlite3_vtab_cursor *c, int idx, const char *idxs, int argc,
                       sqlite3_value **argv)
{
    (void)idx;
    (void)idxs;
    (void)argc;
    (void)argv;
    ((struct rows_cursor *)c)->i = 0;
    return SQLITE_OK;
}

static int rows_next(sqlite3_vtab_cursor *c)
{
    ((struct rows_cursor *)c)->i++;
    return SQLITE_OK;
}

static int rows_eof(sqlite3_vtab_cursor *c)
{
    struct sq_store *sq = ((struct rows_vtab *)c->pVtab)->sq;
    return ((struct rows_cursor *)c)->i >= sq->vt_n;
}

static void opt_int(sqlite3_context *ctx, int64_t v)
{
    if (v)
        sqlite3_result_int64(ctx, v);
    else
        sqlite3_result_null(ctx);
}

static int rows_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int col)
{
    struct sq_store *sq = ((struct rows_vtab *)c->pVtab)->sq;
    const struct store_row *r = sq->vt_rows[((struct rows_cursor *)c)->i];
    switch (col) {
    case COL_DS:
        sqlite3_result_int64(ctx, r->ds);
        break;
    case COL_T:
        sqlite3_result_int64(ctx, r->t);
        break;
    case COL_ID:
        sqlite3_result_int64(ctx, r->id);
        break;
    case COL_T_END:
        opt_int(ctx, r->t_end);
        break;
    case COL_RT:
        opt_int(ctx, r->rt);
        break;
    case COL_RESULT:
        sqlite3_result_double(ctx, r->result);
        break;
    case COL_PARAMS:
        if (r->params)
            sqlite3_result_text(ctx, r->params, -1, SQLITE_STATIC);
        else
            sqlite3_result_null(ctx);
        break;
    case COL_FOI:
        opt_int(ctx, r->foi);
        break;
    default:
        sqlite3_result_int64(ctx, r->id >> SQ_BATCH_SHIFT);
        break;
    }
    return SQLITE_OK;
}

static int rows_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((struct rows_cursor *)c)->i;
    return SQLITE_OK;
}

static const sqlite3_module rows_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only */
    .xConnect = rows_connect,
    .xBestIndex = rows_best_index,
    .xDisconnect = rows_disconnect,
    .xDestroy = rows_disconnect,
    .xOpen = rows_open,
    .xClose = rows_close,
    .xFilter = rows_filter,
    .xNext = rows_next,
    .xEof = rows_eof,
    .xColumn = rows_column,
    .xRowid = rows_rowid,
};

enum tk_rc store_sqlite__rows_register(struct sq_store *sq)
{
    int src = sqlite3_create_module_v2(sq->db, "tk_rows", &rows_module, sq, NULL);
    return src == SQLITE_OK ? TK_OK : store_sqlite__err(sq, src, "registering tk_rows");
}

enum tk_rc store_sqlite__rows_exec(struct sq_store *sq, sqlite3_stmt *s,
                                   struct store_row *const *rows, size_t n, const char *what)
{
    if (n == 0)
        return TK_OK;
    sq->vt_rows = rows;
    sq->vt_n = n;
    enum tk_rc rc = store_sqlite__exec(sq, s, what);
    sq->vt_rows = NULL;
    sq->vt_n = 0;
    return rc;
}
