/* store-bench: prints one JSON line per figure (SPEC section 9, store):
 *
 *   store.insert        rows/s, readings of 1,000 devices interleaved (3 streams each,
 *                       1-minute timestamps), tx_rows rows per commit as ingest makes them,
 *                       store_maintain after each commit and the final store_flush included
 *   store.insert_naive  rows/s, the same rows and commits into a plain table keyed
 *                       (stream, time): the baseline the ratio is taken against
 *   store.day_range     median microseconds for one day of one datastream (1,440 rows) out of
 *                       a store of --db-rows rows (default 10M: 30 days of 1-minute readings)
 *   store.hourly_30d    median microseconds for 30 days of hourly aggregates of one stream
 *   store.latest_1000   median microseconds for the latest values of 1,000 datastreams
 *   store.load          rows/s of building that store (informational)
 *
 * Usage: store-bench [--rows N] [--tx-rows N] [--db-rows N] [--runs N] [--dir DIR] [--keep]
 *                    [--query-store URI] [--insert-store URI] [--load-tx-rows N]
 * --keep reuses DIR/query.db when it already holds --db-rows rows. --query-store URI builds
 * the query store there instead (an empty database, e.g. postgresql://...) and skips the
 * insert figures. --insert-store URI measures only store.insert, into that store (an empty
 * database: the PostgreSQL write path at the ingest's transaction sizes). --load-tx-rows
 * sets the rows per transaction of building the query store (default 5,000). --stage-rows
 * sets the insert store's stage_rows (store_options; default the store's own). */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define MIN_US INT64_C(60000000)
#define DAY_US (1440 * MIN_US)
#define T0 INT64_C(1795651200000000) /* 2026-11-26T00:00:00Z */
#define STREAMS 3

struct opts {
    long long rows, tx_rows, db_rows, runs;
    const char *dir;
    const char *query_store;  /* NULL: DIR/query.db */
    const char *insert_store; /* NULL: DIR/insert.db, with the naive baseline and queries */
    long long load_tx_rows;
    long long stage_rows; /* 0: the store's default */
    int keep;
};

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, enum tk_rc rc, struct store *st)
{
    fprintf(stderr, "store-bench: %s: %s (%s)\n", what, tk_strerror(rc),
            st ? store_errmsg(st) : "");
    exit(1);
}

static void remove_db(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[600];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, long long n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A plausible reading: level, battery, temperature of device i at minute m. */
static double value(int stream, long long i, long long m)
{
    switch (stream) {
    case 0:
        return 0.3 + 0.001 * (double)((i * 7 + m) % 500);
    case 1:
        return 3.6 - 0.0001 * (double)(m % 1000);
    default:
        return 18.0 + 0.01 * (double)((i + m) % 300);
    }
}

/* Register ndev water-level gauges; ds receives their STREAMS datastream ids each. */
static void add_devices(struct store *st, long long ndev, int64_t *ds)
{
    enum tk_quantity qs[TK_Q_MAX];
    int nq = tk_kind_quantities(TK_KIND_WATER_LEVEL, qs);
    if (nq < STREAMS) {
        fprintf(stderr, "store-bench: water_level has %d quantities\n", nq);
        exit(1);
    }
    enum tk_rc rc = store_begin(st);
    if (rc)
        die("begin", rc, st);
    for (long long i = 0; i < ndev; i++) {
        struct store_device d;
        memset(&d, 0, sizeof d);
        snprintf(d.id, sizeof d.id, "wl-bench-%05lld", i);
        d.kind = TK_KIND_WATER_LEVEL;
        d.lat = 35.0 + (double)i * 1e-4;
        d.lon = 136.8 + (double)i * 1e-4;
        rc = store_device_add(st, &d, &d);
        if (rc)
            die("device_add", rc, st);
        for (int s = 0; s < STREAMS; s++)
            ds[i * STREAMS + s] = d.ds[qs[s]];
    }
    rc = store_commit(st);
    if (rc)
        die("commit", rc, st);
}

/* Readings of ndev devices, minute after minute, each device at its own second within the
 * minute; commits of tx_rows rows; store_maintain after each commit. Returns seconds. */
static double insert_interleaved(struct store *st, const int64_t *ds, long long ndev,
                                 long long rows, long long tx_rows, int flush)
{
    /* only commits and moves are timed on their own: two clock reads per row would cost
     * about as much as the store's own work in store_obs_add */
    double c0 = cpu_s(), t0 = now_s(), ta, t_commit = 0, t_maint = 0;
    long long done = 0, in_tx = 0;
    enum tk_rc rc;
    for (long long m = 0; done < rows; m++) {
        for (long long i = 0; i < ndev && done < rows; i++) {
            int64_t t = T0 + m * MIN_US + (i % 60) * 1000000;
            for (int s = 0; s < STREAMS && done < rows; s++) {
                if (in_tx == 0 && (rc = store_begin(st)))
                    die("begin", rc, st);
                struct store_obs o = {
                    .ds_id = ds[i * STREAMS + s], .t_us = t, .result = value(s, i, m)};
                rc = store_obs_add(st, &o);
                if (rc)
                    die("obs_add", rc, st);
                done++;
                if (++in_tx == tx_rows) {
                    ta = now_s();
                    if ((rc = store_commit(st)))
                        die("commit", rc, st);
                    t_commit += now_s() - ta;
                    ta = now_s();
                    if ((rc = store_maintain(st)))
                        die("maintain", rc, st);
                    t_maint += now_s() - ta;
                    in_tx = 0;
                }
            }
        }
    }
    ta = now_s();
    if (in_tx && (rc = store_commit(st)))
        die("commit", rc, st);
    t_commit += now_s() - ta;
    ta = now_s();
    if (flush && (rc = store_flush(st)))
        die("flush", rc, st);
    t_maint += now_s() - ta;
    double el = now_s() - t0;
    fprintf(stderr,
            "store-bench: per row: obs_add and begin %.2f us, commit %.2f us, maintain %.2f us"
            " (wall); %.2f us CPU in all\n",
            (el - t_commit - t_maint) * 1e6 / (double)rows, t_commit * 1e6 / (double)rows,
            t_maint * 1e6 / (double)rows, (cpu_s() - c0) * 1e6 / (double)rows);
    return el;
}

static void sq_check(sqlite3 *db, int src, const char *what)
{
    if (src != SQLITE_OK && src != SQLITE_DONE && src != SQLITE_ROW) {
        fprintf(stderr, "store-bench: naive %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

/* The same rows into a plain (stream, time)-keyed table with the same commits. */
static double insert_naive(const char *path, long long ndev, long long rows, long long tx_rows)
{
    sqlite3 *db;
    remove_db(path);
    sq_check(NULL, sqlite3_open(path, &db), "open");
    sq_check(db,
             sqlite3_exec(db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                          " PRAGMA cache_size=-65536;"
                          " CREATE TABLE obs(ds INTEGER NOT NULL, t INTEGER NOT NULL,"
                          " result REAL, PRIMARY KEY (ds, t)) WITHOUT ROWID",
                          NULL, NULL, NULL),
             "schema");
    sqlite3_stmt *ins;
    sq_check(db, sqlite3_prepare_v2(db, "INSERT INTO obs VALUES (?1, ?2, ?3)", -1, &ins, NULL),
             "prepare");
    double t0 = now_s();
    long long done = 0, in_tx = 0;
    for (long long m = 0; done < rows; m++) {
        for (long long i = 0; i < ndev && done < rows; i++) {
            int64_t t = T0 + m * MIN_US + (i % 60) * 1000000;
            for (int s = 0; s < STREAMS && done < rows; s++) {
                if (in_tx == 0)
                    sq_check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
                sqlite3_bind_int64(ins, 1, i * STREAMS + s + 1);
                sqlite3_bind_int64(ins, 2, t);
                sqlite3_bind_double(ins, 3, value(s, i, m));
                sq_check(db, sqlite3_step(ins), "insert");
                sqlite3_reset(ins);
                done++;
                if (++in_tx == tx_rows) {
                    sq_check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
                    in_tx = 0;
                }
            }
        }
    }
    if (in_tx)
        sq_check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    double el = now_s() - t0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    remove_db(path);
    return el;
}

static long long count_rows(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    long long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM observations", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: store-bench [--rows N] [--tx-rows N] [--db-rows N] [--runs N]"
                    " [--dir DIR] [--keep] [--query-store URI] [--insert-store URI]"
                    " [--load-tx-rows N] [--stage-rows N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct opts o = {.rows = 3000000,
                     .tx_rows = 1000,
                     .db_rows = 10000000,
                     .runs = 301,
                     .dir = "/tmp/tk-store-bench",
                     .load_tx_rows = 5000,
                     .keep = 0};
    for (int i = 1; i < argc; i++) {
        long long *num = NULL;
        if (!strcmp(argv[i], "--rows"))
            num = &o.rows;
        else if (!strcmp(argv[i], "--tx-rows"))
            num = &o.tx_rows;
        else if (!strcmp(argv[i], "--db-rows"))
            num = &o.db_rows;
        else if (!strcmp(argv[i], "--runs"))
            num = &o.runs;
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            o.dir = argv[++i];
        else if (!strcmp(argv[i], "--stage-rows"))
            num = &o.stage_rows;
        else if (!strcmp(argv[i], "--load-tx-rows"))
            num = &o.load_tx_rows;
        else if (!strcmp(argv[i], "--query-store") && i + 1 < argc)
            o.query_store = argv[++i];
        else if (!strcmp(argv[i], "--insert-store") && i + 1 < argc)
            o.insert_store = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            o.keep = 1;
        else
            usage();
        if (num) {
            char *end;
            if (i + 1 >= argc)
                usage();
            errno = 0;
            *num = strtoll(argv[++i], &end, 10);
            if (errno || *end || *num <= 0)
                usage();
        }
    }
    if (mkdir(o.dir, 0755) && errno != EEXIST) {
        perror(o.dir);
        return 1;
    }
    char path[512], naive[512], qpath[512];
    snprintf(path, sizeof path, "%s/insert.db", o.dir);
    snprintf(naive, sizeof naive, "%s/naive.db", o.dir);
    snprintf(qpath, sizeof qpath, "%s/query.db", o.dir);
    struct store *st;
    enum tk_rc rc;
    double el;
    if (o.query_store)
        goto queries;

    /* (d) insert, then the naive baseline with the same rows and commits */
    const long long ndev = 1000;
    int64_t *ds = malloc(sizeof *ds * (size_t)(ndev * STREAMS));
    if (!ds)
        return 1;
    if (!o.insert_store)
        remove_db(path);
    struct store_options iopt = {.stage_rows = o.stage_rows};
    if ((rc = store_open(o.insert_store ? o.insert_store : path, &iopt, &st)))
        die("open", rc, NULL);
    add_devices(st, ndev, ds);
    el = insert_interleaved(st, ds, ndev, o.rows, o.tx_rows, 1);
    printf("{\"figure\":\"store.insert\",\"value\":%.0f,\"unit\":\"rows/s\",\"rows\":%lld,"
           "\"devices\":%lld,\"tx_rows\":%lld}\n",
           (double)o.rows / el, o.rows, ndev, o.tx_rows);
    fflush(stdout);
    store_close(st);
    free(ds);
    if (o.insert_store)
        return 0;
    remove_db(path);

    el = insert_naive(naive, ndev, o.rows, o.tx_rows);
    printf("{\"figure\":\"store.insert_naive\",\"value\":%.0f,\"unit\":\"rows/s\",\"rows\":%lld,"
           "\"devices\":%lld,\"tx_rows\":%lld}\n",
           (double)o.rows / el, o.rows, ndev, o.tx_rows);
    fflush(stdout);

    /* (e), (f): a store of db_rows rows, 30 days of 1-minute readings per stream */
queries:;
    const long long per_stream = 30 * 1440;
    long long qdev = (o.db_rows + STREAMS * per_stream - 1) / (STREAMS * per_stream);
    long long qrows = qdev * STREAMS * per_stream;
    if (qrows > o.db_rows)
        qrows = o.db_rows;
    int64_t *qds = malloc(sizeof *qds * (size_t)(qdev * STREAMS));
    if (!qds)
        return 1;
    int reuse = !o.query_store && o.keep && count_rows(qpath) == qrows;
    if (!reuse && !o.query_store)
        remove_db(qpath);
    struct store_options sopt = {.stage_rows = 1 << 20};
    if ((rc = store_open(o.query_store ? o.query_store : qpath, &sopt, &st)))
        die("open", rc, NULL);
    if (reuse) {
        for (long long i = 0; i < qdev; i++) {
            char id[32];
            struct store_device d;
            snprintf(id, sizeof id, "wl-bench-%05lld", i);
            if ((rc = store_device_get(st, id, &d)))
                die("device_get", rc, st);
            for (int s = 0; s < STREAMS; s++)
                qds[i * STREAMS + s] = d.ds[s];
        }
    } else {
        add_devices(st, qdev, qds);
        el = insert_interleaved(st, qds, qdev, qrows, o.load_tx_rows, 1);
        printf("{\"figure\":\"store.load\",\"value\":%.0f,\"unit\":\"rows/s\",\"rows\":%lld,"
               "\"devices\":%lld,\"tx_rows\":%lld}\n",
               (double)qrows / el, qrows, qdev, o.load_tx_rows);
        fflush(stdout);
    }
    long long days = qrows / (qdev * STREAMS) / 1440; /* full days every stream has */
    if (days < 1)
        days = 1;

    double *v = malloc(sizeof *v * (size_t)o.runs);
    struct store_point *pts = malloc(sizeof *pts * 2000);
    struct store_agg *agg = malloc(sizeof *agg * 800);
    if (!v || !pts || !agg)
        return 1;
    size_t n = 0, nmin = SIZE_MAX;
    for (long long r = 0; r < o.runs; r++) {
        int64_t d = qds[rnd() % (uint64_t)(qdev * STREAMS)];
        int64_t from = T0 + (int64_t)(rnd() % (uint64_t)days) * DAY_US;
        double t0 = now_s();
        rc = store_range(st, d, from, from + DAY_US, 0, pts, 2000, &n);
        v[r] = (now_s() - t0) * 1e6;
        if (rc)
            die("range", rc, st);
        if (n < nmin)
            nmin = n;
    }
    printf("{\"figure\":\"store.day_range\",\"value\":%.1f,\"unit\":\"us\",\"rows_returned\":%zu,"
           "\"db_rows\":%lld,\"runs\":%lld}\n",
           median(v, o.runs), nmin, qrows, o.runs);
    fflush(stdout);

    nmin = SIZE_MAX;
    double sink = 0;
    for (long long r = 0; r < o.runs; r++) {
        int64_t d = qds[rnd() % (uint64_t)(qdev * STREAMS)];
        double t0 = now_s();
        rc = store_aggregate(st, d, STORE_HOUR, T0, T0 + 30 * DAY_US, agg, 800, &n);
        for (size_t i = 0; i < n; i++)
            sink += agg[i].sum / (double)agg[i].count;
        v[r] = (now_s() - t0) * 1e6;
        if (rc)
            die("aggregate", rc, st);
        if (n < nmin)
            nmin = n;
    }
    printf("{\"figure\":\"store.hourly_30d\",\"value\":%.1f,\"unit\":\"us\",\"buckets\":%zu,"
           "\"db_rows\":%lld,\"runs\":%lld}\n",
           median(v, o.runs), nmin, qrows, o.runs);
    fflush(stdout);

    /* latest of 1,000 streams (the live map; a store of fewer streams repeats them) */
    int64_t ids[1000];
    struct store_point lp[1000];
    int found[1000];
    for (int i = 0; i < 1000; i++)
        ids[i] = qds[(uint64_t)i % (uint64_t)(qdev * STREAMS)];
    for (long long r = 0; r < o.runs; r++) {
        double t0 = now_s();
        rc = store_latest(st, ids, 1000, lp, found);
        v[r] = (now_s() - t0) * 1e6;
        if (rc)
            die("latest", rc, st);
    }
    printf("{\"figure\":\"store.latest_1000\",\"value\":%.1f,\"unit\":\"us\",\"runs\":%lld}\n",
           median(v, o.runs), o.runs);
    fprintf(stderr, "store-bench: checksum %g\n", sink);

    store_close(st);
    if (!o.keep && !o.query_store)
        remove_db(qpath);
    free(v);
    free(pts);
    free(agg);
    free(qds);
    return 0;
}
