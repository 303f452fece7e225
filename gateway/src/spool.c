/* The spool: readings the gateway has acknowledged to a device and the platform has not
 * yet acknowledged to the gateway.
 *
 * Design note. The promise is "a device that saw 2.04 never loses that reading", so a
 * POST is answered only after its readings are on disk. This is SQLite in WAL mode with
 * synchronous=FULL, not a hand-made append-only file, because the spool is not only
 * appended to: the platform's watermark acks delete rows of one device out of the middle
 * (devices progress at different speeds), duplicates from a device's resends must be
 * absorbed by (device, seq), and a restart must find what is left. An append-only log
 * would need its own index, compaction and torn-tail recovery to do the same; SQLite's WAL
 * already is an append-only log with fsync at commit and checksummed frames, and a torn
 * last frame is discarded on recovery. synchronous=FULL fsyncs the WAL at every commit,
 * which is exactly the durability point of a POST; one commit per POST (a batch POST is
 * one commit), measured by bench/gateway.py.
 *
 * Full spool: new readings are refused (the POST gets 5.03 and the device keeps them in
 * its ring buffer) rather than old acknowledged ones dropped; refusals are counted.
 *
 * Row ids are AUTOINCREMENT: the forwarder remembers "sent up to id N", and a plain rowid
 * would hand the id of a just-deleted last row to the next reading, which the cursor would
 * then skip (seen in test_gateway.py before the change).
 *
 * Compression: rows hold one reading's contract JSON (about 100-150 bytes). zlib on
 * such a row saves little (deflate's header and a tiny window), so rows are stored
 * plain; see docs/gateway.md for the measurement. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "tk_time.h"

#define BODY_MAX 2048

struct gw_spool {
    sqlite3 *db;
    sqlite3_stmt *ins, *scan, *del, *minrow, *devs, *state;
    int64_t count, max_rows;
};

static const char *SCHEMA =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS spool("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT," /* never reuse an id: the forwarder's cursor */
    "  device TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  UNIQUE(device, seq));"
    "CREATE TABLE IF NOT EXISTS device_state("
    "  device TEXT PRIMARY KEY,"
    "  watermark INTEGER NOT NULL,"
    "  updated_us INTEGER NOT NULL);";

const char *gw_spool_errmsg(struct gw_spool *sp)
{
    return sp && sp->db ? sqlite3_errmsg(sp->db) : "no database";
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK;
}

enum tk_rc gw_spool_open(const char *path, int64_t max_rows, struct gw_spool **out)
{
    struct gw_spool *sp = calloc(1, sizeof *sp);
    enum tk_rc rc = TK_EDB;
    if (!sp)
        return TK_ENOMEM;
    sp->max_rows = max_rows;
    if (sqlite3_open_v2(path, &sp->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        goto cleanup;
    sqlite3_busy_timeout(sp->db, 5000);
    if (sqlite3_exec(sp->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(sp->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
        goto cleanup;
    /* Serial arithmetic on uint32 seqs: rows at or below the watermark modulo 2^32. */
    if (prep(sp->db, "INSERT OR IGNORE INTO spool(device, kind, seq, body) VALUES(?1, ?2, ?3, ?4)",
             &sp->ins) ||
        prep(sp->db,
             "SELECT id, device, kind, seq, body FROM spool WHERE id > ?1 ORDER BY id "
             "LIMIT ?2",
             &sp->scan) ||
        prep(sp->db,
             "DELETE FROM spool WHERE device = ?1 AND ((?2 - seq) & 4294967295) < 2147483648",
             &sp->del) ||
        prep(sp->db, "SELECT COALESCE(MIN(id), 0) FROM spool", &sp->minrow) ||
        prep(sp->db, "SELECT DISTINCT device FROM spool", &sp->devs) ||
        prep(sp->db,
             "INSERT INTO device_state(device, watermark, updated_us) VALUES(?1, ?2, ?3) "
             "ON CONFLICT(device) DO UPDATE SET watermark = excluded.watermark, "
             "updated_us = excluded.updated_us",
             &sp->state))
        goto cleanup;
    sqlite3_stmt *cnt = NULL;
    if (prep(sp->db, "SELECT COUNT(*) FROM spool", &cnt))
        goto cleanup;
    if (sqlite3_step(cnt) == SQLITE_ROW)
        sp->count = sqlite3_column_int64(cnt, 0);
    sqlite3_finalize(cnt);
    rc = TK_OK;
cleanup:
    if (rc) {
        gw_spool_close(sp);
        return rc;
    }
    *out = sp;
    return TK_OK;
}

void gw_spool_close(struct gw_spool *sp)
{
    if (!sp)
        return;
    sqlite3_finalize(sp->ins);
    sqlite3_finalize(sp->scan);
    sqlite3_finalize(sp->del);
    sqlite3_finalize(sp->minrow);
    sqlite3_finalize(sp->devs);
    sqlite3_finalize(sp->state);
    sqlite3_close(sp->db);
    free(sp);
}

int64_t gw_spool_count(const struct gw_spool *sp)
{
    return sp->count;
}

enum tk_rc gw_spool_put(struct gw_spool *sp, const struct tk_reading *r, size_t n, size_t *added)
{
    char body[BODY_MAX];
    size_t len, add = 0;
    enum tk_rc rc = TK_OK;
    if (added)
        *added = 0;
    if (sp->count + (int64_t)n > sp->max_rows)
        return TK_EFULL;
    if (sqlite3_exec(sp->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return TK_EDB;
    for (size_t i = 0; i < n; i++) {
        rc = tk_reading_to_json(&r[i], body, sizeof body, &len);
        if (rc)
            goto cleanup;
        sqlite3_bind_text(sp->ins, 1, r[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int(sp->ins, 2, (int)r[i].kind);
        sqlite3_bind_int64(sp->ins, 3, (sqlite3_int64)r[i].seq);
        sqlite3_bind_text(sp->ins, 4, body, (int)len, SQLITE_STATIC);
        int s = sqlite3_step(sp->ins);
        sqlite3_reset(sp->ins);
        if (s != SQLITE_DONE) {
            rc = s == SQLITE_FULL ? TK_ENOSPC : TK_EDB;
            goto cleanup;
        }
        add += (size_t)sqlite3_changes(sp->db);
    }
    if (sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = TK_EDB;
cleanup:
    if (rc) {
        sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    sp->count += (int64_t)add;
    if (added)
        *added = add;
    return TK_OK;
}

enum tk_rc gw_spool_scan(struct gw_spool *sp, int64_t after, size_t limit,
                         int (*fn)(const struct gw_spool_row *row, void *ud), void *ud,
                         int64_t *last)
{
    enum tk_rc rc = TK_OK;
    int s;
    sqlite3_bind_int64(sp->scan, 1, after);
    sqlite3_bind_int64(sp->scan, 2, (sqlite3_int64)limit);
    while ((s = sqlite3_step(sp->scan)) == SQLITE_ROW) {
        struct gw_spool_row row;
        const unsigned char *dev = sqlite3_column_text(sp->scan, 1);
        row.rowid = sqlite3_column_int64(sp->scan, 0);
        snprintf(row.device, sizeof row.device, "%s", dev ? (const char *)dev : "");
        row.kind = (enum tk_kind)sqlite3_column_int(sp->scan, 2);
        row.seq = (uint32_t)sqlite3_column_int64(sp->scan, 3);
        row.body = (const char *)sqlite3_column_text(sp->scan, 4);
        row.body_len = (size_t)sqlite3_column_bytes(sp->scan, 4);
        if (!row.body)
            continue;
        if (fn(&row, ud))
            break;
        *last = row.rowid;
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = TK_EDB;
    sqlite3_reset(sp->scan);
    return rc;
}

enum tk_rc gw_spool_ack(struct gw_spool *sp, const char *device, uint32_t watermark,
                        size_t *deleted)
{
    enum tk_rc rc = TK_OK;
    size_t del = 0;
    if (deleted)
        *deleted = 0;
    if (sqlite3_exec(sp->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return TK_EDB;
    sqlite3_bind_text(sp->del, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sp->del, 2, (sqlite3_int64)watermark);
    if (sqlite3_step(sp->del) != SQLITE_DONE)
        rc = TK_EDB;
    sqlite3_reset(sp->del);
    if (rc)
        goto cleanup;
    del = (size_t)sqlite3_changes(sp->db);
    sqlite3_bind_text(sp->state, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sp->state, 2, (sqlite3_int64)watermark);
    sqlite3_bind_int64(sp->state, 3, tk_now_utc_us());
    if (sqlite3_step(sp->state) != SQLITE_DONE)
        rc = TK_EDB;
    sqlite3_reset(sp->state);
    if (!rc && sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = TK_EDB;
cleanup:
    if (rc) {
        sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    sp->count -= (int64_t)del;
    if (deleted)
        *deleted = del;
    return TK_OK;
}

enum tk_rc gw_spool_min_rowid(struct gw_spool *sp, int64_t *rowid)
{
    enum tk_rc rc = TK_EDB;
    if (sqlite3_step(sp->minrow) == SQLITE_ROW) {
        *rowid = sqlite3_column_int64(sp->minrow, 0);
        rc = TK_OK;
    }
    sqlite3_reset(sp->minrow);
    return rc;
}

enum tk_rc gw_spool_devices(struct gw_spool *sp, void (*fn)(const char *id, void *ud), void *ud)
{
    int s;
    while ((s = sqlite3_step(sp->devs)) == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text(sp->devs, 0);
        if (id)
            fn((const char *)id, ud);
    }
    sqlite3_reset(sp->devs);
    return s == SQLITE_DONE ? TK_OK : TK_EDB;
}

enum tk_rc gw_spool_set_fsync(struct gw_spool *sp, int on)
{
    return sqlite3_exec(sp->db, on ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF", NULL,
                        NULL, NULL) == SQLITE_OK
               ? TK_OK
               : TK_EDB;
}
