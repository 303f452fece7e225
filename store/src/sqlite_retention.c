/* Retention: raw observations and quarantined messages older than a cutoff go, a few at a
 * time, between the ingest's transactions.
 *
 * Design note
 * -----------
 * Rollups are what old data is kept as: raw rows go, rollup_minute_slots / hour / day stay,
 * so aggregates over any range keep answering (from then on they no longer equal the raw
 * rows, which are gone). Everything is reached by key, never by a scan:
 *   - observations: per datastream, the oldest rows by (ds_id, t_us), a key range;
 *   - obs_staging: a staged row has not been folded into the rollups yet (that happens at
 *     the move), so an old one is folded first, then deleted by its (batch, ds_id, t_us)
 *     key and the staged count lowered. Streams with nothing staged below the cutoff are
 *     skipped from their latest entry's staged_min without touching the table; after
 *     removing all of a stream's old staged rows, staged_min is raised to the cutoff, which
 *     keeps "every staged row of the stream is >= staged_min" true;
 *   - quarantine: by its received_us index.
 * The latest observation of a stream is never removed, however old (a sensor that went
 * quiet keeps its last value on the live map, and latest_blocks keep pointing at a row
 * that exists). Datastreams are visited in id order from a cursor kept on the connection,
 * at most RET_STREAMS per call, so one call's work is bounded by max_rows row deletions
 * plus RET_STREAMS key seeks, whatever the size of the database. */
#include <stdlib.h>

#include "sqlite_int.h"

#define RET_STREAMS 256 /* datastreams visited per call at most */

static const char *const ret_sql[RET_N] = {
    [RET_DS_NEXT] = "SELECT id FROM datastreams WHERE id > ?1 ORDER BY id LIMIT ?2",
    [RET_OBS_DEL] = "DELETE FROM observations WHERE ds_id = ?1 AND t_us IN (SELECT t_us"
                    " FROM observations WHERE ds_id = ?1 AND t_us < ?2 ORDER BY t_us LIMIT ?3)",
    [RET_STAGED_OLD] = SQ_BATCHES_CTE
    "SELECT s.batch, s.t_us, s.id, s.t_end_us, s.result_time_us, s.result FROM b"
    " CROSS JOIN obs_staging s ON s.batch = b.x AND s.ds_id = ?1 AND s.t_us < ?2 LIMIT ?3",
    [RET_STAGED_DEL] = "DELETE FROM obs_staging WHERE batch = ?1 AND ds_id = ?2 AND t_us = ?3",
    [RET_QUAR_DEL] = "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine"
                     " WHERE received_us < ?1 ORDER BY received_us LIMIT ?2)",
};

enum tk_rc store_sqlite__retention_prepare(struct sq_store *sq)
{
    return store_sqlite__prepare(sq, sq->ret, ret_sql, RET_N);
}

static int64_t as_i64(size_t v)
{
    return v > (size_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static int cmp_t(const void *a, const void *b)
{
    const struct store_row *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* Delete up to *budget old rows of obs_staging for ds (all < cut), folding them into the
 * rollups first. *all = 1 when none below cut is left. */
static enum tk_rc staged_expire(struct sq_store *sq, int64_t ds, int64_t cut, size_t *budget,
                                size_t *removed, int *all)
{
    struct store_row *rows = NULL;
    int64_t *batch = NULL;
    size_t n = 0, cap = *budget;
    enum tk_rc rc = TK_OK;
    int src;

    *all = 0;
    rows = malloc(cap * sizeof *rows);
    batch = malloc(cap * sizeof *batch);
    if (!rows || !batch) {
        rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
        goto cleanup;
    }
    sqlite3_stmt *s = sq->ret[RET_STAGED_OLD];
    sqlite3_bind_int64(s, 1, ds);
    sqlite3_bind_int64(s, 2, cut);
    sqlite3_bind_int64(s, 3, as_i64(cap));
    while (n < cap && (src = sqlite3_step(s)) == SQLITE_ROW) {
        batch[n] = sqlite3_column_int64(s, 0);
        rows[n] = (struct store_row){.ds = ds,
                                  .t = sqlite3_column_int64(s, 1),
                                  .id = sqlite3_column_int64(s, 2),
                                  .t_end = sqlite3_column_int64(s, 3),
                                  .rt = sqlite3_column_int64(s, 4),
                                  .result = sqlite3_column_double(s, 5)};
        n++;
    }
    sqlite3_reset(s);
    if (n < cap && src != SQLITE_DONE) {
        rc = store_sqlite__err(sq, src, "reading old staged observations");
        goto cleanup;
    }
    *all = n < cap;
    s = sq->ret[RET_STAGED_DEL];
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_int64(s, 1, batch[i]);
        sqlite3_bind_int64(s, 2, ds);
        sqlite3_bind_int64(s, 3, rows[i].t);
        rc = store_sqlite__exec(sq, s, "removing an old staged observation");
    }
    if (rc)
        goto cleanup;
    qsort(rows, n, sizeof *rows, cmp_t);
    rc = store_sqlite__fold(sq, rows, n);
    if (rc)
        goto cleanup;
    sq->staged = sq->staged > (int64_t)n ? sq->staged - (int64_t)n : 0;
    sq->counter_dirty = 1;
    *budget -= n;
    *removed += n;

cleanup:
    free(rows);
    free(batch);
    return rc;
}

/* One datastream: *done = 1 when nothing older than the cutoff is left of it. */
static enum tk_rc stream_expire(struct sq_store *sq, int64_t ds, int64_t before, size_t *budget,
                                size_t *removed, int *done)
{
    struct sq_lt_entry *e = NULL;
    enum tk_rc rc = store_sqlite__lt_entry(sq, ds, 0, &e);
    *done = 1;
    if (rc == TK_ENOTFOUND)
        return TK_OK;
    if (rc)
        return rc;
    if (!(e->flags & LT_HAS_T))
        return TK_OK; /* no observation at all */
    int64_t cut = before < e->t ? before : e->t; /* the latest row stays */

    if ((e->flags & LT_HAS_STAGED) && e->staged_min < cut) {
        int all = 0;
        rc = staged_expire(sq, ds, cut, budget, removed, &all);
        if (rc)
            return rc;
        if (!all) {
            *done = 0;
            return TK_OK;
        }
        rc = store_sqlite__lt_touch(sq, ds);
        if (!rc)
            rc = store_sqlite__lt_entry(sq, ds, 0, &e);
        if (rc)
            return rc;
        e->staged_min = cut;
    }
    if (*budget == 0) {
        *done = 0;
        return TK_OK;
    }
    sqlite3_stmt *s = sq->ret[RET_OBS_DEL];
    sqlite3_bind_int64(s, 1, ds);
    sqlite3_bind_int64(s, 2, cut);
    sqlite3_bind_int64(s, 3, as_i64(*budget));
    rc = store_sqlite__exec(sq, s, "removing old observations");
    if (rc)
        return rc;
    size_t k = (size_t)sqlite3_changes(sq->db);
    if (k > *budget)
        k = *budget;
    *done = k < *budget;
    *budget -= k;
    *removed += k;
    return TK_OK;
}

static enum tk_rc observations_expire(struct sq_store *sq, int64_t before, size_t budget,
                                      size_t *removed)
{
    int64_t ids[RET_STREAMS];
    size_t nids = 0;
    enum tk_rc rc = TK_OK;
    int src;

    sqlite3_stmt *s = sq->ret[RET_DS_NEXT];
    sqlite3_bind_int64(s, 1, sq->ret_cursor);
    sqlite3_bind_int64(s, 2, RET_STREAMS);
    while (nids < RET_STREAMS && (src = sqlite3_step(s)) == SQLITE_ROW)
        ids[nids++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (nids < RET_STREAMS && src != SQLITE_DONE)
        return store_sqlite__err(sq, src, "listing datastreams");
    for (size_t i = 0; i < nids && budget > 0; i++) {
        int done = 0;
        rc = stream_expire(sq, ids[i], before, &budget, removed, &done);
        if (rc)
            return rc;
        if (!done)
            break; /* out of budget: the next call goes on with this stream */
        sq->ret_cursor = ids[i];
    }
    if (nids < RET_STREAMS && budget > 0)
        sq->ret_cursor = 0; /* went round: start again from the first stream */
    return rc;
}

enum tk_rc store_sqlite__retention(struct store *st, int64_t obs_before_us,
                                   int64_t quarantine_before_us, size_t max_rows,
                                   size_t *removed)
{
    struct sq_store *sq = sq_of(st);
    size_t k = 0;
    int nested;

    *removed = 0;
    if (sq->readonly)
        return store__fail(st, TK_EINVAL, "retention on a read-only store");
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 1);
    if (rc)
        return rc;
    /* the quarantine gets a share of its own, so a long backlog of observations (retention
     * just switched on) does not hold it up */
    size_t budget = max_rows;
    if (quarantine_before_us != 0) {
        size_t qb = obs_before_us != 0 ? max_rows / 4 + 1 : max_rows;
        if (qb > max_rows)
            qb = max_rows;
        sqlite3_stmt *s = sq->ret[RET_QUAR_DEL];
        sqlite3_bind_int64(s, 1, quarantine_before_us);
        sqlite3_bind_int64(s, 2, as_i64(qb));
        rc = store_sqlite__exec(sq, s, "removing old quarantined messages");
        if (!rc) {
            size_t q = (size_t)sqlite3_changes(sq->db);
            k += q;
            budget -= q < budget ? q : budget;
        }
    }
    if (!rc && obs_before_us != 0 && budget > 0)
        rc = observations_expire(sq, obs_before_us, budget, &k);
    rc = store_sqlite__write_leave(sq, nested, rc);
    if (!rc)
        *removed = k;
    return rc;
}
