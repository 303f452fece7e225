/* Faults: every SQLite allocation in turn fails once (open, migrate, register, write,
 * commit, move, read), then the file-size limit makes the disk "full" mid-stream. Each
 * call must fail with a clean code (no crash, no leak under ASan), and what a commit
 * reported durable must be there when the store is opened again. SQLite only: the faults
 * are SQLite's (its allocator, a file that cannot grow, paths that are not databases);
 * PostgreSQL's allocations and disk are the server's. */
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "store_test_util.h"

static sqlite3_mem_methods orig;
static long fail_countdown; /* 0: never fail */
static int failed;

static void *fail_malloc(int n)
{
    if (fail_countdown > 0 && --fail_countdown == 0) {
        failed = 1;
        return NULL;
    }
    return orig.xMalloc(n);
}

static void *fail_realloc(void *p, int n)
{
    if (fail_countdown > 0 && --fail_countdown == 0) {
        failed = 1;
        return NULL;
    }
    return orig.xRealloc(p, n);
}

static int clean(enum tk_rc rc)
{
    return rc == TK_OK || rc == TK_ENOMEM || rc == TK_EDB || rc == TK_EIO || rc == TK_EBUSY;
}

#define NROWS 40

/* Returns the number of rows a commit reported durable (0 or NROWS); *all_ok when every
 * call succeeded. */
static int scenario(const char *path, int *all_ok, int *unclean)
{
    struct store *st = NULL;
    int durable = 0;
    enum tk_rc rc = store_open(path, NULL, &st);
    *all_ok = 0;
    if (!clean(rc))
        (*unclean)++;
    if (rc)
        return 0;
    struct store_device d = test_device("wl-fault-01", TK_KIND_WATER_LEVEL, 35, 136);
    rc = store_device_add(st, &d, &d);
    if (!clean(rc))
        (*unclean)++;
    if (rc == TK_OK) {
        rc = store_begin(st);
        for (int i = 0; rc == TK_OK && i < NROWS; i++) {
            struct store_obs o = {
                .ds_id = d.ds[TK_Q_WATER_LEVEL], .t_us = T0 + i * MIN_US, .result = i};
            rc = store_obs_add(st, &o);
        }
        if (rc == TK_OK) {
            rc = store_commit(st);
            if (rc == TK_OK)
                durable = NROWS;
        } else {
            store_rollback(st);
        }
        if (!clean(rc))
            (*unclean)++;
        if (rc == TK_OK)
            rc = store_flush(st);
        if (!clean(rc))
            (*unclean)++;
        struct store_point p[NROWS];
        size_t n = 0;
        enum tk_rc r2 = store_range(st, d.ds[TK_Q_WATER_LEVEL], 0, INT64_MAX, 0, p, NROWS, &n);
        if (!clean(r2))
            (*unclean)++;
        struct store_agg a[4];
        enum tk_rc r3 =
            store_aggregate(st, d.ds[TK_Q_WATER_LEVEL], STORE_HOUR, 0, INT64_MAX, a, 4, &n);
        if (!clean(r3))
            (*unclean)++;
        *all_ok = rc == TK_OK && r2 == TK_OK && r3 == TK_OK;
    }
    store_close(st);
    return durable;
}

/* With no fault injected: how many rows of the device's level stream are there? */
static long stored_rows(const char *path)
{
    struct store *st = NULL;
    if (store_open(path, NULL, &st) != TK_OK)
        return -1;
    struct store_device d;
    long r = 0;
    if (store_device_get(st, "wl-fault-01", &d) == TK_OK) {
        struct store_point p[NROWS + 1];
        size_t n = 0;
        r = store_range(st, d.ds[TK_Q_WATER_LEVEL], 0, INT64_MAX, 0, p, NROWS + 1, &n) == TK_OK
                ? (long)n
                : -1;
    }
    store_close(st);
    return r;
}

static void alloc_faults(void)
{
    int unclean = 0, lost = 0, iterations = 0, completed = 0;
    for (long at = 1; at < 20000; at += at < 400 ? 1 : 7) {
        struct tmpdb t;
        tmpdb_make(&t);
        failed = 0;
        fail_countdown = at;
        int all_ok;
        int durable = scenario(t.path, &all_ok, &unclean);
        fail_countdown = 0;
        iterations++;
        long have = stored_rows(t.path);
        if (durable && have != durable)
            lost++;
        tmpdb_remove(&t);
        if (!failed) { /* the whole scenario ran without reaching the fault */
            completed = all_ok;
            break;
        }
    }
    fprintf(stderr, "alloc faults: %d runs\n", iterations);
    CHECK(iterations > 100);
    CHECK(completed);
    CHECK_EQ_INT(unclean, 0);
    CHECK_EQ_INT(lost, 0);
}

static void disk_full(void)
{
    struct tmpdb t;
    tmpdb_make(&t);
    struct store *st = NULL;
    CHECK_EQ_INT(store_open(t.path, NULL, &st), TK_OK);
    if (!st)
        return;
    struct store_device d = test_device("wl-fault-01", TK_KIND_WATER_LEVEL, 35, 136);
    CHECK_EQ_INT(store_device_add(st, &d, &d), TK_OK);

    /* room for some rows beyond what the schema and the device take (which grows with
     * the page size), then full */
    struct stat sb;
    char wal[sizeof t.path + 8];
    snprintf(wal, sizeof wal, "%s-wal", t.path);
    off_t used = stat(t.path, &sb) == 0 ? sb.st_size : 0;
    if (stat(wal, &sb) == 0 && sb.st_size > used)
        used = sb.st_size;
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)used + 512 * 1024;
    signal(SIGXFSZ, SIG_IGN);
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);

    enum tk_rc rc = TK_OK;
    long committed = 0, batches = 0;
    while (rc == TK_OK && batches < 10000) {
        rc = store_begin(st);
        for (int i = 0; rc == TK_OK && i < 100; i++) {
            struct store_obs o = {.ds_id = d.ds[TK_Q_WATER_LEVEL],
                                  .t_us = T0 + (committed + i) * MIN_US,
                                  .result = (double)i,
                                  .params =
                                      "{\"padding\":\"....................................\"}"};
            rc = store_obs_add(st, &o);
        }
        if (rc == TK_OK)
            rc = store_commit(st);
        else
            store_rollback(st);
        if (rc == TK_OK) {
            committed += 100;
            rc = store_maintain(st);
        }
        batches++;
    }
    CHECK(rc == TK_ENOSPC || rc == TK_EIO || rc == TK_EDB);
    CHECK(committed > 0);
    fprintf(stderr, "disk full after %ld rows: %s (%s)\n", committed, tk_strerror(rc),
            store_errmsg(st));
    /* still usable for reading; a new write fails cleanly too */
    struct store_point p[4];
    size_t n = 0;
    rc = store_range(st, d.ds[TK_Q_WATER_LEVEL], 0, INT64_MAX, 0, p, 4, &n);
    CHECK(clean(rc));
    store_close(st);
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);

    /* every committed row is there */
    CHECK_EQ_INT(store_open(t.path, NULL, &st), TK_OK);
    if (st) {
        static struct store_point all[20000];
        CHECK_EQ_INT(store_range(st, d.ds[TK_Q_WATER_LEVEL], 0, INT64_MAX, 0, all, 20000, &n),
                     TK_OK);
        CHECK_EQ_INT(n, committed);
        CHECK_EQ_INT(store_flush(st), TK_OK);
        CHECK_EQ_INT(store_range(st, d.ds[TK_Q_WATER_LEVEL], 0, INT64_MAX, 0, all, 20000, &n),
                     TK_OK);
        CHECK_EQ_INT(n, committed);
        store_close(st);
    }
    tmpdb_remove(&t);
}

static void bad_paths(void)
{
    struct store *st = NULL;
    CHECK_EQ_INT(store_open("/nonexistent-dir/x/store.db", NULL, &st), TK_EIO);
    CHECK(st == NULL);
    struct store_options ro = {.readonly = 1};
    CHECK_EQ_INT(store_open("/tmp/tk-store-test-does-not-exist.db", &ro, &st), TK_EIO);
    CHECK_EQ_INT(store_open("/tmp", NULL, &st), TK_EIO);
    /* not a database */
    struct tmpdb t;
    tmpdb_make(&t);
    FILE *f = fopen(t.path, "wb");
    if (f) {
        for (int i = 0; i < 256; i++)
            fputs("this is not an SQLite database\n", f);
        fclose(f);
    }
    CHECK_EQ_INT(store_open(t.path, NULL, &st), TK_EDB);
    CHECK(st == NULL);
    tmpdb_remove(&t);
}

int main(void)
{
    CHECK_EQ_INT(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &orig), SQLITE_OK);
    sqlite3_mem_methods m = orig;
    m.xMalloc = fail_malloc;
    m.xRealloc = fail_realloc;
    CHECK_EQ_INT(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);

    bad_paths();
    alloc_faults();
    disk_full();
    return tk_check_result("store_fault");
}
