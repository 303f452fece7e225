/* SQLite backend: per-device delivery state and the quarantine.
 *
 * The pending seqs above a gap are few and always read and written whole, so they are
 * one blob of little-endian uint32 rather than a side table. */
#include <stdio.h>
#include <string.h>

#include "sqlite_int.h"

static const char *const state_sql[ST_N] = {
    [ST_SEQ_LOAD] = "SELECT watermark, pending, gap_since_us, has_cum, cum_seq, cum_ts_us, cum_in,"
                    " cum_out FROM seq_state WHERE device_id = ?1",
    [ST_SEQ_SAVE] = "INSERT OR REPLACE INTO seq_state (device_id, watermark, pending, gap_since_us,"
                    " has_cum, cum_seq, cum_ts_us, cum_in, cum_out)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_QUAR_INSERT] = "INSERT INTO quarantine (received_us, topic, payload, device_id, code,"
                       " code_text, path, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_QUAR_COUNT] = "SELECT count(*) FROM quarantine",
    [ST_QUAR_LIST] = "SELECT id, received_us, topic, payload, device_id, code, code_text, path,"
                     " reason FROM quarantine WHERE received_us >= ?2 AND received_us < ?3"
                     " AND id < ?4 ORDER BY id DESC LIMIT ?5",
    [ST_QUAR_LIST_DEVICE] = "SELECT id, received_us, topic, payload, device_id, code, code_text,"
                            " path, reason FROM quarantine WHERE device_id = ?1"
                            " AND received_us >= ?2 AND received_us < ?3 AND id < ?4"
                            " ORDER BY id DESC LIMIT ?5",
    [ST_COUNTER_PUT] = "INSERT OR REPLACE INTO ingest_counters (name, value, updated_us)"
                       " VALUES (?1, ?2, ?3)",
    [ST_COUNTER_GET] = "SELECT name, value, updated_us FROM ingest_counters ORDER BY name"
                       " LIMIT ?1",
};

enum tk_rc store_sqlite__state_prepare(struct sq_store *sq)
{
    return store_sqlite__prepare(sq, sq->state, state_sql, ST_N);
}

enum tk_rc store_sqlite__seq_load(struct store *st, const char *device_id,
                                  struct store_seq_state *out)
{
    struct sq_store *sq = sq_of(st);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = sq->state[ST_SEQ_LOAD];
    sqlite3_bind_text(s, 1, device_id, -1, SQLITE_STATIC);
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW) {
        out->known = 1;
        out->watermark = (uint32_t)sqlite3_column_int64(s, 0);
        const unsigned char *b = sqlite3_column_blob(s, 1);
        int len = sqlite3_column_bytes(s, 1);
        if (len % 4 || len / 4 > STORE_PENDING_MAX) {
            rc = store__fail(st, TK_EDB, "seq_state of %s: pending blob of %d bytes", device_id,
                             len);
        } else if (len && !b) {
            rc = store__fail(st, TK_ENOMEM, "seq_state of %s: out of memory", device_id);
        } else {
            out->npending = len / 4;
            for (int i = 0; i < out->npending; i++)
                out->pending[i] = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
                                  (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
        }
        out->gap_since_us = sqlite3_column_int64(s, 2);
        out->has_cum = sqlite3_column_int(s, 3);
        out->cum_seq = (uint32_t)sqlite3_column_int64(s, 4);
        out->cum_ts_us = sqlite3_column_int64(s, 5);
        out->cum_in = sqlite3_column_int64(s, 6);
        out->cum_out = sqlite3_column_int64(s, 7);
    } else if (src != SQLITE_DONE) {
        rc = store_sqlite__err(sq, src, "loading seq_state");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

enum tk_rc store_sqlite__seq_save(struct store *st, const char *device_id,
                                  const struct store_seq_state *s)
{
    struct sq_store *sq = sq_of(st);
    unsigned char blob[4 * STORE_PENDING_MAX];
    for (int i = 0; i < s->npending; i++) {
        blob[4 * i] = (unsigned char)(s->pending[i] & 0xff);
        blob[4 * i + 1] = (unsigned char)(s->pending[i] >> 8 & 0xff);
        blob[4 * i + 2] = (unsigned char)(s->pending[i] >> 16 & 0xff);
        blob[4 * i + 3] = (unsigned char)(s->pending[i] >> 24);
    }
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    sqlite3_stmt *q = sq->state[ST_SEQ_SAVE];
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, s->watermark);
    if (s->npending)
        sqlite3_bind_blob(q, 3, blob, 4 * s->npending, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, s->gap_since_us);
    sqlite3_bind_int(q, 5, s->has_cum);
    sqlite3_bind_int64(q, 6, s->cum_seq);
    sqlite3_bind_int64(q, 7, s->cum_ts_us);
    sqlite3_bind_int64(q, 8, s->cum_in);
    sqlite3_bind_int64(q, 9, s->cum_out);
    rc = store_sqlite__exec(sq, q, "saving seq_state");
    return store_sqlite__write_leave(sq, nested, rc);
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

enum tk_rc store_sqlite__quarantine_add(struct store *st, struct store_quarantine *q)
{
    struct sq_store *sq = sq_of(st);
    if (q->payload_len > INT32_MAX)
        return store__fail(st, TK_EINVAL, "quarantined payload too large");
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    sqlite3_stmt *s = sq->state[ST_QUAR_INSERT];
    sqlite3_bind_int64(s, 1, q->received_us);
    bind_text_or_null(s, 2, q->topic);
    sqlite3_bind_blob(s, 3, q->payload ? q->payload : "", (int)q->payload_len, SQLITE_STATIC);
    bind_text_or_null(s, 4, q->device_id);
    sqlite3_bind_int(s, 5, (int)q->code);
    sqlite3_bind_text(s, 6, tk_strerror(q->code), -1, SQLITE_STATIC);
    bind_text_or_null(s, 7, q->path);
    bind_text_or_null(s, 8, q->reason);
    rc = store_sqlite__exec(sq, s, "quarantining a message");
    if (!rc)
        q->id = sqlite3_last_insert_rowid(sq->db);
    return store_sqlite__write_leave(sq, nested, rc);
}

enum tk_rc store_sqlite__quarantine_count(struct store *st, int64_t *n)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->state[ST_QUAR_COUNT];
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    else
        rc = store_sqlite__err(sq, src, "counting the quarantine");
    sqlite3_reset(s);
    return rc;
}

/* ---- the operator view ------------------------------------------------------------ */

enum tk_rc store_sqlite__quarantine_list(struct store *st, const struct store_quarantine_filter *f,
                                         store_quarantine_cb cb, void *ud)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->state[f->device_id ? ST_QUAR_LIST_DEVICE : ST_QUAR_LIST];
    if (f->device_id)
        sqlite3_bind_text(s, 1, f->device_id, -1, SQLITE_STATIC);
    int any_time = f->from_us == 0 && f->to_us == 0;
    sqlite3_bind_int64(s, 2, any_time ? INT64_MIN : f->from_us);
    sqlite3_bind_int64(s, 3, any_time ? INT64_MAX : f->to_us);
    sqlite3_bind_int64(s, 4, f->before_id > 0 ? f->before_id : INT64_MAX);
    sqlite3_bind_int64(s, 5, f->limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)f->limit);
    int src, r = 0;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_quarantine q = {0};
        q.id = sqlite3_column_int64(s, 0);
        q.received_us = sqlite3_column_int64(s, 1);
        q.topic = (const char *)sqlite3_column_text(s, 2);
        q.payload = sqlite3_column_blob(s, 3);
        q.payload_len = (size_t)sqlite3_column_bytes(s, 3);
        q.device_id = (const char *)sqlite3_column_text(s, 4);
        q.code = (enum tk_rc)sqlite3_column_int(s, 5);
        q.path = (const char *)sqlite3_column_text(s, 7);
        q.reason = (const char *)sqlite3_column_text(s, 8);
        if (!q.reason)
            q.reason = (const char *)sqlite3_column_text(s, 6);
        r = cb(&q, ud);
        if (r)
            break;
    }
    enum tk_rc rc = TK_OK;
    if (r)
        rc = (enum tk_rc)r;
    else if (src != SQLITE_DONE)
        rc = store_sqlite__err(sq, src, "listing the quarantine");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

enum tk_rc store_sqlite__counters_put(struct store *st, const struct store_counter *c, size_t n)
{
    struct sq_store *sq = sq_of(st);
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    sqlite3_stmt *s = sq->state[ST_COUNTER_PUT];
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_text(s, 1, c[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, c[i].value);
        sqlite3_bind_int64(s, 3, c[i].updated_us);
        rc = store_sqlite__exec(sq, s, "writing the ingest counters");
    }
    return store_sqlite__write_leave(sq, nested, rc);
}

enum tk_rc store_sqlite__counters_get(struct store *st, struct store_counter *out, size_t max,
                                      size_t *n)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->state[ST_COUNTER_GET];
    sqlite3_bind_int64(s, 1, max > INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW && *n < max) {
        struct store_counter *c = &out[(*n)++];
        const char *name = (const char *)sqlite3_column_text(s, 0);
        snprintf(c->name, sizeof c->name, "%s", name ? name : "");
        c->value = sqlite3_column_int64(s, 1);
        c->updated_us = sqlite3_column_int64(s, 2);
    }
    enum tk_rc rc = src == SQLITE_DONE || src == SQLITE_ROW
                        ? TK_OK
                        : store_sqlite__err(sq, src, "reading the ingest counters");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}
