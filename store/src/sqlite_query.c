/* SQLite backend: range and latest queries.
 *
 * A range is the main table's key range merged with the stream's staged rows; the staged
 * part is only read when the stream's staged window [latest.staged_min_t, latest.t_us]
 * overlaps the range, so history queries cost one index range scan. */
#include <stdlib.h>

#include "sqlite_int.h"

#define POINT_COLS "id, t_us, t_end_us, coalesce(result_time_us, t_us), result"

static const char *const q_sql[Q_N] = {
    [Q_ID_MAIN] = "SELECT " POINT_COLS ", ds_id FROM observations WHERE id = ?1",
    [Q_ID_STAGED] = "SELECT " POINT_COLS ", ds_id FROM obs_staging WHERE batch = ?1 AND id = ?2",
    [Q_MAIN_ASC] = "SELECT " POINT_COLS " FROM observations"
                   " WHERE ds_id = ?1 AND t_us >= ?2 AND t_us < ?3 ORDER BY t_us LIMIT ?4",
    [Q_MAIN_DESC] = "SELECT " POINT_COLS " FROM observations"
                    " WHERE ds_id = ?1 AND t_us >= ?2 AND t_us < ?3 ORDER BY t_us DESC LIMIT ?4",
    [Q_STAGE_ASC] = SQ_BATCHES_CTE
    "SELECT s.id, s.t_us, s.t_end_us, coalesce(s.result_time_us, s.t_us), s.result"
    " FROM b CROSS JOIN obs_staging s ON s.batch = b.x AND s.ds_id = ?1"
    " AND s.t_us >= ?2 AND s.t_us < ?3 ORDER BY s.t_us LIMIT ?4",
    [Q_STAGE_DESC] = SQ_BATCHES_CTE
    "SELECT s.id, s.t_us, s.t_end_us, coalesce(s.result_time_us, s.t_us), s.result"
    " FROM b CROSS JOIN obs_staging s ON s.batch = b.x AND s.ds_id = ?1"
    " AND s.t_us >= ?2 AND s.t_us < ?3 ORDER BY s.t_us DESC LIMIT ?4",
};

enum tk_rc store_sqlite__query_prepare(struct sq_store *sq)
{
    return store_sqlite__prepare(sq, sq->q, q_sql, Q_N);
}

static void read_point(sqlite3_stmt *s, struct store_point *p)
{
    p->id = sqlite3_column_int64(s, 0);
    p->t_us = sqlite3_column_int64(s, 1);
    p->t_end_us = sqlite3_column_int64(s, 2);
    p->result_time_us = sqlite3_column_int64(s, 3);
    p->result = sqlite3_column_double(s, 4);
}

/* The stream's staged window; *any = 0 when nothing of it is staged. */
enum tk_rc store_sqlite__staged_window(struct sq_store *sq, int64_t ds, int *any, int64_t *lo,
                                       int64_t *hi)
{
    struct sq_lt_block memo = {.blk = -1};
    struct sq_lt_entry e;
    enum tk_rc rc = store_sqlite__lt_read(sq, ds, &memo, &e);
    *any = !rc && (e.flags & LT_HAS_STAGED) && (e.flags & LT_HAS_T);
    *lo = *any ? e.staged_min : 0;
    *hi = *any ? e.t : 0;
    return rc;
}

static void bind_range(sqlite3_stmt *s, int64_t ds, int64_t from, int64_t to, size_t limit)
{
    sqlite3_bind_int64(s, 1, ds);
    sqlite3_bind_int64(s, 2, from);
    sqlite3_bind_int64(s, 3, to);
    sqlite3_bind_int64(s, 4, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
}

enum tk_rc store_sqlite__range(struct store *st, int64_t ds_id, int64_t from_us, int64_t to_us,
                               int desc, struct store_point *out, size_t limit, size_t *n)
{
    struct sq_store *sq = sq_of(st);
    struct store_point *staged = NULL;
    size_t nstaged = 0, cap = 0;
    int own;
    enum tk_rc rc = store_sqlite__read_enter(sq, &own);
    if (rc)
        return rc;

    int any;
    int64_t lo = 0, hi = 0;
    rc = store_sqlite__staged_window(sq, ds_id, &any, &lo, &hi);
    if (rc)
        goto cleanup;
    int src;
    if (any && lo < to_us && hi >= from_us) {
        sqlite3_stmt *s = sq->q[desc ? Q_STAGE_DESC : Q_STAGE_ASC];
        bind_range(s, ds_id, from_us, to_us, limit);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            if (nstaged == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct store_point *p = realloc(staged, ncap * sizeof *p);
                if (!p) {
                    rc = store__fail(st, TK_ENOMEM, "out of memory");
                    break;
                }
                staged = p;
                cap = ncap;
            }
            read_point(s, &staged[nstaged++]);
        }
        sqlite3_reset(s);
        if (!rc && src != SQLITE_DONE)
            rc = store_sqlite__err(sq, src, "reading staged observations");
        if (rc)
            goto cleanup;
    }

    /* merge: both inputs are ordered by t and a (ds, t) lives in only one of them */
    sqlite3_stmt *s = sq->q[desc ? Q_MAIN_DESC : Q_MAIN_ASC];
    bind_range(s, ds_id, from_us, to_us, limit);
    size_t k = 0, j = 0;
    struct store_point p;
    int have = 0, done = 0; /* stepping a finished statement would restart it */
    while (k < limit) {
        if (!have && !done) {
            src = sqlite3_step(s);
            if (src == SQLITE_ROW) {
                read_point(s, &p);
                have = 1;
            } else if (src == SQLITE_DONE) {
                done = 1;
            } else {
                rc = store_sqlite__err(sq, src, "reading observations");
                break;
            }
        }
        if (!have && j == nstaged)
            break;
        int take_staged =
            j < nstaged && (!have || (desc ? staged[j].t_us > p.t_us : staged[j].t_us < p.t_us));
        if (take_staged) {
            out[k++] = staged[j++];
        } else {
            out[k++] = p;
            have = 0;
        }
    }
    sqlite3_reset(s);
    if (!rc)
        *n = k;

cleanup:
    free(staged);
    store_sqlite__read_leave(sq, own);
    return rc;
}

enum tk_rc store_sqlite__latest(struct store *st, const int64_t *ds_ids, size_t n,
                                struct store_point *out, int *found)
{
    struct sq_store *sq = sq_of(st);
    struct sq_lt_block *memo = malloc(sizeof *memo);
    if (!memo)
        return store__fail(st, TK_ENOMEM, "out of memory");
    memo->blk = -1;
    int own;
    enum tk_rc rc = store_sqlite__read_enter(sq, &own);
    for (size_t i = 0; !rc && i < n; i++) {
        struct sq_lt_entry e;
        found[i] = 0;
        rc = store_sqlite__lt_read(sq, ds_ids[i], memo, &e);
        if (!rc && (e.flags & LT_HAS_T)) {
            out[i] = (struct store_point){.id = e.id,
                                          .t_us = e.t,
                                          .t_end_us = e.t_end,
                                          .result_time_us = e.rt ? e.rt : e.t,
                                          .result = e.result};
            found[i] = 1;
        }
    }
    if (own)
        store_sqlite__read_leave(sq, own);
    free(memo);
    return rc;
}

/* A moved row through the index on observations(id); a staged one in its batch (at
 * most 2^SQ_BATCH_SHIFT rows). */
enum tk_rc store_sqlite__obs_get(struct store *st, int64_t id, struct store_point *out,
                                 int64_t *ds_id)
{
    struct sq_store *sq = sq_of(st);
    int own;
    enum tk_rc rc = store_sqlite__flush_pending(sq);
    if (!rc)
        rc = store_sqlite__read_enter(sq, &own);
    if (rc)
        return rc;
    int found = 0, src = SQLITE_DONE;
    for (int k = 0; k < 2 && !found && src == SQLITE_DONE; k++) {
        sqlite3_stmt *s = sq->q[k == 0 ? Q_ID_MAIN : Q_ID_STAGED];
        if (k == 0) {
            sqlite3_bind_int64(s, 1, id);
        } else {
            sqlite3_bind_int64(s, 1, id >> SQ_BATCH_SHIFT);
            sqlite3_bind_int64(s, 2, id);
        }
        src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            read_point(s, out);
            *ds_id = sqlite3_column_int64(s, 5);
            found = 1;
        }
        sqlite3_reset(s);
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "looking up an observation");
    else if (!found)
        rc = store__fail(st, TK_ENOTFOUND, "no observation %lld", (long long)id);
    store_sqlite__read_leave(sq, own);
    return rc;
}
