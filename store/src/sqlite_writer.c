/* SQLite backend: writing observations (see the layout note in sqlite_schema.c).
 *
 * Fast path, the steady state of in-order readings: the stream's cached latest entry
 * (sqlite_latest.c) shows the row is newer than anything the stream has, so it is new;
 * one INSERT into the staging table, and the entry changes in memory only. An older row
 * takes the slow path: a key lookup in observations and, when it falls within the
 * stream's staged window, one seek per staged batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

static const char *const wr_sql[WR_N] = {
    [WR_MAIN_FIND] = "SELECT id FROM observations WHERE ds_id = ?1 AND t_us = ?2",
    [WR_STAGE_FIND] = SQ_BATCHES_CTE "SELECT s.id FROM b CROSS JOIN obs_staging s"
                                     " ON s.batch = b.x AND s.ds_id = ?1 AND s.t_us = ?2 LIMIT 1",
    [WR_STAGE_INSERT] =
        "INSERT INTO obs_staging (batch, ds_id, t_us, id, t_end_us, result_time_us, result,"
        " params) SELECT batch, ds_id, t_us, id, t_end_us, result_time_us, result, params"
        " FROM tk_rows",
};

enum tk_rc store_sqlite__writer_prepare(struct sq_store *sq)
{
    return store_sqlite__prepare(sq, sq->wr, wr_sql, WR_N);
}

static int cmp_key(const void *a, const void *b)
{
    const struct store_row *x = *(struct store_row *const *)a, *y = *(struct store_row *const *)b;
    int64_t bx = x->id >> SQ_BATCH_SHIFT, by = y->id >> SQ_BATCH_SHIFT;
    if (bx != by)
        return bx < by ? -1 : 1;
    if (x->ds != y->ds)
        return x->ds < y->ds ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

void store_sqlite__drop_pending(struct sq_store *sq)
{
    store__rows_clear(sq->pend, &sq->npend);
    store_sqlite__lt_drop(sq);
}

/* The transaction's new rows go to obs_staging in one statement, in key order. */
static enum tk_rc flush_rows(struct sq_store *sq)
{
    if (sq->npend == 0)
        return TK_OK;
    struct store_row **p = malloc(sq->npend * sizeof *p);
    if (!p)
        return store__fail(&sq->base, TK_ENOMEM, "out of memory");
    for (size_t i = 0; i < sq->npend; i++)
        p[i] = &sq->pend[i];
    qsort(p, sq->npend, sizeof *p, cmp_key);
    enum tk_rc rc = store_sqlite__rows_exec(sq, sq->wr[WR_STAGE_INSERT], p, sq->npend,
                                            "staging observations");
    free(p);
    store__rows_clear(sq->pend, &sq->npend);
    return rc;
}

enum tk_rc store_sqlite__flush_pending(struct sq_store *sq)
{
    enum tk_rc rc = flush_rows(sq);
    if (!rc)
        rc = store_sqlite__lt_flush(sq);
    if (rc && sq->in_tx)
        sq->tx_failed = 1; /* rows or blocks are lost: only a rollback is right */
    return rc;
}

static enum tk_rc pend_add(struct sq_store *sq, const struct store_obs *o, int64_t id)
{
    return store__row_push(&sq->base, &sq->pend, &sq->npend, &sq->pend_cap, o, id);
}

/* Returns 1 and the id when (ds, t) exists, 0 when not, -1 on error (rc set). */
static int find_existing(struct sq_store *sq, sqlite3_stmt *s, int64_t ds, int64_t t, int64_t *id,
                         enum tk_rc *rc)
{
    sqlite3_bind_int64(s, 1, ds);
    sqlite3_bind_int64(s, 2, t);
    int src = sqlite3_step(s);
    int found = 0;
    if (src == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        found = 1;
    } else if (src != SQLITE_DONE) {
        *rc = store_sqlite__err(sq, src, "looking for a duplicate");
        found = -1;
    }
    sqlite3_reset(s);
    return found;
}

static enum tk_rc obs_add_in_tx(struct sq_store *sq, struct store_obs *o)
{
    int64_t id = sq->next_id;
    struct sq_lt_entry *e;
    enum tk_rc rc = store_sqlite__lt_entry(sq, o->ds_id, 0, &e);
    if (rc)
        return rc;
    int newest = !(e->flags & LT_HAS_T) || o->t_us > e->t;
    if (!newest) {
        /* slow path: not newer than the stream's latest, so maybe a duplicate; the SQL
         * lookups must see this transaction's rows */
        int64_t existing = 0;
        if (sq->npend && (rc = flush_rows(sq)))
            return rc;
        int f = find_existing(sq, sq->wr[WR_MAIN_FIND], o->ds_id, o->t_us, &existing, &rc);
        if (f == 0 && (e->flags & LT_HAS_STAGED) && o->t_us >= e->staged_min)
            f = find_existing(sq, sq->wr[WR_STAGE_FIND], o->ds_id, o->t_us, &existing, &rc);
        if (f < 0)
            return rc;
        if (f > 0) {
            o->id = existing;
            return TK_EDUP;
        }
    }
    rc = store_sqlite__lt_touch(sq, o->ds_id);
    if (!rc)
        rc = pend_add(sq, o, id);
    if (rc)
        return rc;
    /* the cached block is only written at commit (and dropped on rollback) */
    if (newest) {
        e->flags |= LT_HAS_T;
        e->t = o->t_us;
        e->t_end = o->t_end_us;
        e->rt = o->result_time_us == o->t_us ? 0 : o->result_time_us;
        e->result = o->result;
        e->id = id;
    }
    if (!(e->flags & LT_HAS_STAGED) || o->t_us < e->staged_min) {
        e->flags |= LT_HAS_STAGED;
        e->staged_min = o->t_us;
    }
    o->id = id;
    sq->next_id = id + 1;
    sq->staged++;
    sq->counter_dirty = 1;
    return TK_OK;
}

enum tk_rc store_sqlite__obs_add(struct store *st, struct store_obs *o)
{
    struct sq_store *sq = sq_of(st);
    if (!isfinite(o->result) || o->ds_id <= 0 || o->t_us < 0 || o->t_end_us < 0 ||
        (o->t_end_us && o->t_end_us < o->t_us) || o->result_time_us < 0)
        return store__fail(st, TK_EINVAL, "invalid observation");
    if (!sq->in_tx) {
        int nested;
        enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
        if (rc)
            return rc;
        rc = obs_add_in_tx(sq, o);
        if (rc == TK_EDUP || rc == TK_ENOTFOUND) {
            (void)store_sqlite__write_leave(sq, nested, TK_OK);
            return rc;
        }
        return store_sqlite__write_leave(sq, nested, rc);
    }
    if (sq->tx_failed)
        return store__fail(st, TK_EDB, "transaction failed earlier; roll it back");
    enum tk_rc rc = obs_add_in_tx(sq, o);
    if (rc && rc != TK_EDUP && rc != TK_ENOTFOUND)
        sq->tx_failed = 1; /* the staging may hold part of the transaction's rows */
    return rc;
}
