/* SQLite backend: the latest observation of each datastream, kept in blocks.
 *
 * Design note. store_obs_add has to know each stream's newest time (a newer row cannot
 * be a duplicate) and store_latest has to answer it for every committed row. One row
 * per stream updated per observation cost about 2.3 us a row: the UPDATE itself, and a
 * WAL page per few streams in every commit. So streams are grouped by id into blocks of
 * LT_PER_BLOCK (latest_blocks: blk = ds_id >> LT_SHIFT, one blob each) and the writer
 * keeps the blocks it touched in memory: store_obs_add changes only memory, and the
 * commit writes each dirty block once (one row of under 1 KB for up to 32 streams).
 *
 * The cache is only trusted inside a write transaction of this connection. At BEGIN
 * IMMEDIATE, PRAGMA data_version tells whether another connection committed since this
 * one last looked; if so the cache is dropped (another writer process may have moved
 * the latest rows). It is dropped too on any rollback (to a savepoint as well: dirty
 * blocks are written before a savepoint opens, so the database then holds everything
 * the savepoint may undo). Reads never use the cache: they read the blocks in their own
 * snapshot, after writing this connection's dirty blocks when inside its transaction.
 *
 * Blob layout, entries in ascending slot order: slot byte, flags byte (LT_PACKED set),
 * then per flag: LT_HAS_T: t and result (8 bytes, little-endian), id (varint), t - t_end
 * if LT_HAS_TEND and t - result time if LT_HAS_RT (zigzag varints; absent: none / same
 * as t); LT_HAS_FOI: FeatureOfInterest id (varint); LT_HAS_STAGED: t - staged_min
 * (zigzag varint; staged_min itself without LT_HAS_T), staged_min being the oldest
 * staged time of the stream (see the layout note in sqlite_schema.c). A stream is in the
 * block from its registration to its removal.
 *
 * Why packed: every commit rewrites the blocks of the streams it touched, and those
 * pages are most of what a commit writes besides the staged rows themselves. Entries of
 * fixed 8-byte fields (50 bytes for a stream with a staged reading; versions 4 to 9,
 * still read, converted by version 10) made two blocks to a 4 KiB page; packed ones (about
 * 26 bytes) make about four, so a 1,000-row commit writes about eight pages fewer. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

/* slot, flags, t, result, then up to five varints of at most 10 bytes */
#define LT_ENTRY_MAX (2 + 2 * 8 + 5 * 10)

static const char *const lt_sql[LT_N] = {
    [LT_GET] = "SELECT data FROM latest_blocks WHERE blk = ?1",
    [LT_PUT] = "INSERT OR REPLACE INTO latest_blocks (blk, data) VALUES (?1, ?2)",
    [LT_DEL] = "DELETE FROM latest_blocks WHERE blk = ?1",
    [LT_DATA_VERSION] = "PRAGMA data_version",
};

enum tk_rc store_sqlite__latest_prepare(struct sq_store *sq)
{
    return store_sqlite__prepare(sq, sq->lt, lt_sql, LT_N);
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int put_varint(unsigned char *p, uint64_t v)
{
    int k = 0;
    while (v >= 0x80) {
        p[k++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[k++] = (unsigned char)v;
    return k;
}

/* Reads a varint at p[*k] (at most len bytes in all); -1 when it runs past len or 10 bytes. */
static int get_varint(const unsigned char *p, int len, int *k, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70 && *k < len; shift += 7) {
        unsigned char c = p[(*k)++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Differences of two int64 as a zigzag varint, in unsigned arithmetic (wraps, never
 * overflows): delta_put(a, b) then delta_get(a) gives b back. */
static int delta_put(unsigned char *p, int64_t a, int64_t b)
{
    uint64_t d = (uint64_t)a - (uint64_t)b;
    return put_varint(p, (d << 1) ^ (0 - (d >> 63)));
}

static int delta_get(const unsigned char *p, int len, int *k, int64_t a, int64_t *b)
{
    uint64_t z;
    if (get_varint(p, len, k, &z))
        return -1;
    uint64_t d = (z >> 1) ^ (0 - (z & 1));
    *b = (int64_t)((uint64_t)a - d);
    return 0;
}

static int encode(const struct sq_lt_block *b, unsigned char *buf)
{
    int k = 0;
    for (int i = 0; i < LT_PER_BLOCK; i++) {
        const struct sq_lt_entry *e = &b->e[i];
        if (!(e->flags & LT_EXISTS))
            continue;
        unsigned flags = (e->flags & ~LT_STORED_BITS) | LT_PACKED;
        int has_t = (flags & LT_HAS_T) != 0;
        if (has_t && e->t_end)
            flags |= LT_HAS_TEND;
        if (has_t && e->rt)
            flags |= LT_HAS_RT;
        buf[k++] = (unsigned char)i;
        buf[k++] = (unsigned char)flags;
        if (has_t) {
            uint64_t r;
            memcpy(&r, &e->result, sizeof r);
            put64(buf + k, (uint64_t)e->t);
            put64(buf + k + 8, r);
            k += 16;
            k += put_varint(buf + k, (uint64_t)e->id);
            if (flags & LT_HAS_TEND)
                k += delta_put(buf + k, e->t, e->t_end);
            if (flags & LT_HAS_RT)
                k += delta_put(buf + k, e->t, e->rt);
        }
        if (flags & LT_HAS_FOI)
            k += put_varint(buf + k, (uint64_t)e->foi);
        if (flags & LT_HAS_STAGED)
            k += delta_put(buf + k, has_t ? e->t : 0, e->staged_min);
    }
    return k;
}

/* The rest of an entry in the packed layout, from p[*k]; 0, or -1 when malformed. */
static int decode_packed(const unsigned char *p, int len, int *k, unsigned flags,
                         struct sq_lt_entry *e)
{
    uint64_t v;
    if (flags & LT_HAS_T) {
        if (len - *k < 16)
            return -1;
        uint64_t r = get64(p + *k + 8);
        e->t = (int64_t)get64(p + *k);
        memcpy(&e->result, &r, sizeof r);
        *k += 16;
        if (get_varint(p, len, k, &v))
            return -1;
        e->id = (int64_t)v;
        if ((flags & LT_HAS_TEND) && delta_get(p, len, k, e->t, &e->t_end))
            return -1;
        if ((flags & LT_HAS_RT) && delta_get(p, len, k, e->t, &e->rt))
            return -1;
    } else if (flags & (LT_HAS_TEND | LT_HAS_RT)) {
        return -1;
    }
    if (flags & LT_HAS_FOI) {
        if (get_varint(p, len, k, &v))
            return -1;
        e->foi = (int64_t)v;
    }
    if ((flags & LT_HAS_STAGED) &&
        delta_get(p, len, k, (flags & LT_HAS_T) ? e->t : 0, &e->staged_min))
        return -1;
    return 0;
}

static int decode(const unsigned char *p, int len, struct sq_lt_block *b)
{
    memset(b->e, 0, sizeof b->e);
    int k = 0;
    while (k < len) {
        if (len - k < 2 || p[k] >= LT_PER_BLOCK)
            return -1;
        struct sq_lt_entry *e = &b->e[p[k]];
        unsigned flags = p[k + 1];
        k += 2;
        if (!(flags & LT_EXISTS))
            return -1;
        e->flags = (unsigned char)(flags & ~LT_STORED_BITS);
        if (flags & LT_PACKED) {
            if (decode_packed(p, len, &k, flags, e))
                return -1;
            continue;
        }
        /* versions 4 to 9: fixed 8-byte fields */
        if (flags & LT_STORED_BITS)
            return -1;
        int need = (e->flags & LT_HAS_T ? 40 : 0) + (e->flags & LT_HAS_FOI ? 8 : 0) +
                   (e->flags & LT_HAS_STAGED ? 8 : 0);
        if (len - k < need)
            return -1;
        if (e->flags & LT_HAS_T) {
            uint64_t r = get64(p + k + 24);
            e->t = (int64_t)get64(p + k);
            e->t_end = (int64_t)get64(p + k + 8);
            e->rt = (int64_t)get64(p + k + 16);
            memcpy(&e->result, &r, sizeof r);
            e->id = (int64_t)get64(p + k + 32);
            k += 40;
        }
        if (e->flags & LT_HAS_FOI) {
            e->foi = (int64_t)get64(p + k);
            k += 8;
        }
        if (e->flags & LT_HAS_STAGED) {
            e->staged_min = (int64_t)get64(p + k);
            k += 8;
        }
    }
    return 0;
}

/* Read block blk from the database into b (all entries empty when it has no row). */
static enum tk_rc load_block(struct sq_store *sq, int64_t blk, struct sq_lt_block *b)
{
    sqlite3_stmt *s = sq->lt[LT_GET];
    sqlite3_bind_int64(s, 1, blk);
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    b->blk = blk;
    if (src == SQLITE_ROW) {
        if (decode(sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0), b))
            rc = store__fail(&sq->base, TK_EDB, "malformed latest block %lld", (long long)blk);
    } else if (src == SQLITE_DONE) {
        memset(b->e, 0, sizeof b->e);
    } else {
        rc = store_sqlite__err(sq, src, "reading latest");
    }
    sqlite3_reset(s);
    return rc;
}

/* ---- the writer's cache: open addressing on blk ------------------------------------ */

void store_sqlite__lt_drop(struct sq_store *sq)
{
    for (size_t i = 0; i < sq->lt_cap; i++) {
        free(sq->lt_map[i]);
        sq->lt_map[i] = NULL;
    }
    sq->lt_count = 0;
    sq->lt_ndirty = 0;
}

void store_sqlite__lt_free(struct sq_store *sq)
{
    store_sqlite__lt_drop(sq);
    free(sq->lt_map);
    free(sq->lt_dirty);
    sq->lt_map = NULL;
    sq->lt_dirty = NULL;
    sq->lt_cap = sq->lt_dirty_cap = 0;
}

static size_t slot_of(int64_t blk, size_t cap)
{
    uint64_t h = (uint64_t)blk * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

static int grow(struct sq_store *sq)
{
    size_t ncap = sq->lt_cap ? sq->lt_cap * 2 : 256;
    struct sq_lt_block **m = calloc(ncap, sizeof *m);
    if (!m)
        return -1;
    for (size_t i = 0; i < sq->lt_cap; i++) {
        struct sq_lt_block *b = sq->lt_map[i];
        if (!b)
            continue;
        size_t j = slot_of(b->blk, ncap);
        while (m[j])
            j = (j + 1) & (ncap - 1);
        m[j] = b;
    }
    free(sq->lt_map);
    sq->lt_map = m;
    sq->lt_cap = ncap;
    return 0;
}

static enum tk_rc cached_block(struct sq_store *sq, int64_t blk, struct sq_lt_block **out)
{
    if (sq->lt_cap) {
        for (size_t j = slot_of(blk, sq->lt_cap); sq->lt_map[j]; j = (j + 1) & (sq->lt_cap - 1)) {
            if (sq->lt_map[j]->blk == blk) {
                *out = sq->lt_map[j];
                return TK_OK;
            }
        }
    }
    if (2 * (sq->lt_count + 1) > sq->lt_cap && grow(sq))
        return store__fail(&sq->base, TK_ENOMEM, "out of memory");
    struct sq_lt_block *b = malloc(sizeof *b);
    if (!b)
        return store__fail(&sq->base, TK_ENOMEM, "out of memory");
    enum tk_rc rc = load_block(sq, blk, b);
    if (rc) {
        free(b);
        return rc;
    }
    b->dirty = 0;
    size_t j = slot_of(blk, sq->lt_cap);
    while (sq->lt_map[j])
        j = (j + 1) & (sq->lt_cap - 1);
    sq->lt_map[j] = b;
    sq->lt_count++;
    *out = b;
    return TK_OK;
}

enum tk_rc store_sqlite__lt_entry(struct sq_store *sq, int64_t ds, int create,
                                  struct sq_lt_entry **out)
{
    struct sq_lt_block *b;
    enum tk_rc rc = cached_block(sq, ds >> LT_SHIFT, &b);
    if (rc)
        return rc;
    struct sq_lt_entry *e = &b->e[ds & (LT_PER_BLOCK - 1)];
    if (!(e->flags & LT_EXISTS) && !create)
        return store__fail(&sq->base, TK_ENOTFOUND, "no datastream %lld", (long long)ds);
    *out = e;
    return TK_OK;
}

enum tk_rc store_sqlite__lt_touch(struct sq_store *sq, int64_t ds)
{
    struct sq_lt_block *b;
    enum tk_rc rc = cached_block(sq, ds >> LT_SHIFT, &b);
    if (rc || b->dirty)
        return rc;
    if (sq->lt_ndirty == sq->lt_dirty_cap) {
        size_t ncap = sq->lt_dirty_cap ? sq->lt_dirty_cap * 2 : 64;
        struct sq_lt_block **p = realloc(sq->lt_dirty, ncap * sizeof *p);
        if (!p)
            return store__fail(&sq->base, TK_ENOMEM, "out of memory");
        sq->lt_dirty = p;
        sq->lt_dirty_cap = ncap;
    }
    sq->lt_dirty[sq->lt_ndirty++] = b;
    b->dirty = 1;
    return TK_OK;
}

static int cmp_blk(const void *a, const void *b)
{
    const struct sq_lt_block *x = *(struct sq_lt_block *const *)a;
    const struct sq_lt_block *y = *(struct sq_lt_block *const *)b;
    return x->blk < y->blk ? -1 : x->blk > y->blk;
}

enum tk_rc store_sqlite__lt_flush(struct sq_store *sq)
{
    if (sq->lt_ndirty == 0)
        return TK_OK;
    qsort(sq->lt_dirty, sq->lt_ndirty, sizeof *sq->lt_dirty, cmp_blk);
    unsigned char buf[LT_PER_BLOCK * LT_ENTRY_MAX];
    enum tk_rc rc = TK_OK;
    size_t i = 0;
    for (; !rc && i < sq->lt_ndirty; i++) {
        struct sq_lt_block *b = sq->lt_dirty[i];
        int len = encode(b, buf);
        sqlite3_stmt *s = sq->lt[len ? LT_PUT : LT_DEL];
        sqlite3_bind_int64(s, 1, b->blk);
        if (len)
            sqlite3_bind_blob(s, 2, buf, len, SQLITE_STATIC);
        rc = store_sqlite__exec(sq, s, "writing latest");
        if (!rc)
            b->dirty = 0;
    }
    /* on failure the transaction is rolled back and the cache dropped */
    sq->lt_ndirty = 0;
    if (rc)
        store_sqlite__lt_drop(sq);
    return rc;
}

enum tk_rc store_sqlite__lt_validate(struct sq_store *sq)
{
    sqlite3_stmt *s = sq->lt[LT_DATA_VERSION];
    int src = sqlite3_step(s);
    int64_t dv = src == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (src != SQLITE_ROW)
        return store_sqlite__err(sq, src, "reading data_version");
    if (dv != sq->lt_data_version) {
        store_sqlite__lt_drop(sq);
        sq->lt_data_version = dv;
    }
    return TK_OK;
}

/* ---- reads: straight from the database, in the caller's snapshot ---------------------- */

enum tk_rc store_sqlite__lt_read(struct sq_store *sq, int64_t ds, struct sq_lt_block *memo,
                                 struct sq_lt_entry *out)
{
    enum tk_rc rc = TK_OK;
    if (sq->lt_ndirty || sq->npend) {
        rc = store_sqlite__flush_pending(sq);
        if (rc)
            return rc;
        memo->blk = -1;
    }
    if (memo->blk != ds >> LT_SHIFT) {
        memo->blk = -1;
        rc = load_block(sq, ds >> LT_SHIFT, memo);
        if (rc) {
            memo->blk = -1;
            return rc;
        }
    }
    *out = memo->e[ds & (LT_PER_BLOCK - 1)];
    return TK_OK;
}

/* ---- schema version 4: latest rows become blocks ------------------------------------- */

enum tk_rc store_sqlite__migrate_v4(struct sq_store *sq)
{
    static const char *const sql[2] = {
        "SELECT ds_id, t_us, t_end_us, result_time_us, result, id, foi_id, staged_min_t"
        " FROM latest ORDER BY ds_id",
        "INSERT INTO latest_blocks (blk, data) VALUES (?1, ?2)"};
    sqlite3_stmt *st[2] = {NULL, NULL};
    enum tk_rc rc = store_sqlite__prepare(sq, st, sql, 2);
    struct sq_lt_block b = {.blk = -1};
    unsigned char buf[LT_PER_BLOCK * LT_ENTRY_MAX];
    int src = SQLITE_DONE;
    for (;;) {
        int64_t ds = 0;
        if (!rc) {
            src = sqlite3_step(st[0]);
            if (src == SQLITE_ROW)
                ds = sqlite3_column_int64(st[0], 0);
            else if (src != SQLITE_DONE)
                rc = store_sqlite__err(sq, src, "reading latest");
        }
        if (!rc && b.blk >= 0 && (src != SQLITE_ROW || ds >> LT_SHIFT != b.blk)) {
            sqlite3_bind_int64(st[1], 1, b.blk);
            sqlite3_bind_blob(st[1], 2, buf, encode(&b, buf), SQLITE_STATIC);
            rc = store_sqlite__exec(sq, st[1], "migrating latest");
            b.blk = -1;
        }
        if (rc || src != SQLITE_ROW)
            break;
        if (b.blk < 0) {
            memset(&b, 0, sizeof b);
            b.blk = ds >> LT_SHIFT;
        }
        sqlite3_stmt *s = st[0];
        struct sq_lt_entry *e = &b.e[ds & (LT_PER_BLOCK - 1)];
        e->flags = LT_EXISTS;
        if (sqlite3_column_type(s, 1) != SQLITE_NULL) {
            e->flags |= LT_HAS_T;
            e->t = sqlite3_column_int64(s, 1);
            e->t_end = sqlite3_column_int64(s, 2);
            e->rt = sqlite3_column_int64(s, 3);
            e->result = sqlite3_column_double(s, 4);
            e->id = sqlite3_column_int64(s, 5);
        }
        if (sqlite3_column_type(s, 6) != SQLITE_NULL) {
            e->flags |= LT_HAS_FOI;
            e->foi = sqlite3_column_int64(s, 6);
        }
        if (sqlite3_column_type(s, 7) != SQLITE_NULL) {
            e->flags |= LT_HAS_STAGED;
            e->staged_min = sqlite3_column_int64(s, 7);
        }
    }
    store_sqlite__finalize(st, 2);
    return rc;
}

/* ---- schema version 10: blocks rewritten in the packed layout -------------------------- */

enum tk_rc store_sqlite__migrate_v10(struct sq_store *sq)
{
    static const char *const sql[2] = {
        "SELECT blk, data FROM latest_blocks WHERE blk > ?1 ORDER BY blk LIMIT 1",
        "UPDATE latest_blocks SET data = ?2 WHERE blk = ?1"};
    sqlite3_stmt *st[2] = {NULL, NULL};
    enum tk_rc rc = store_sqlite__prepare(sq, st, sql, 2);
    struct sq_lt_block *b = malloc(sizeof *b);
    unsigned char *buf = malloc(LT_PER_BLOCK * LT_ENTRY_MAX);
    if (!rc && (!b || !buf))
        rc = store__fail(&sq->base, TK_ENOMEM, "out of memory");
    int64_t blk = INT64_MIN;
    while (!rc) {
        sqlite3_bind_int64(st[0], 1, blk);
        int src = sqlite3_step(st[0]);
        if (src == SQLITE_ROW) {
            blk = sqlite3_column_int64(st[0], 0);
            if (decode(sqlite3_column_blob(st[0], 1), sqlite3_column_bytes(st[0], 1), b))
                rc = store__fail(&sq->base, TK_EDB, "malformed latest block %lld", (long long)blk);
        } else if (src != SQLITE_DONE) {
            rc = store_sqlite__err(sq, src, "reading latest");
        }
        sqlite3_reset(st[0]);
        if (rc || src == SQLITE_DONE)
            break;
        sqlite3_bind_int64(st[1], 1, blk);
        sqlite3_bind_blob(st[1], 2, buf, encode(b, buf), SQLITE_STATIC);
        rc = store_sqlite__exec(sq, st[1], "migrating latest");
    }
    free(b);
    free(buf);
    store_sqlite__finalize(st, 2);
    return rc;
}
