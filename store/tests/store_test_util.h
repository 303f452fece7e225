/* Helpers shared by the store unit tests: a fresh database in a temporary directory and
 * a device factory. */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "tk_check.h"

struct tmpdb {
    char dir[64];
    char path[128];
};

static inline void tmpdb_make(struct tmpdb *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/tk-store-test-XXXXXX");
    if (!mkdtemp(t->dir)) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(t->path, sizeof t->path, "%s/store.db", t->dir);
}

static inline void tmpdb_remove(struct tmpdb *t)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        snprintf(p, sizeof p, "%s%s", t->path, sfx[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

/* The store a test runs on: with the argument "pg", the PostgreSQL server in
 * TK_TEST_PG_URI (tests/pg/pgserver.py starts one); otherwise SQLite in a new temporary
 * file (t->path, remove it with tmpdb_remove when set). NULL after a message if unset. */
static inline const char *test_store_uri(int argc, char **argv, struct tmpdb *t)
{
    memset(t, 0, sizeof *t);
    if (argc > 1 && strcmp(argv[1], "pg") == 0) {
        const char *uri = getenv("TK_TEST_PG_URI");
        if (!uri || !*uri) {
            fprintf(stderr, "TK_TEST_PG_URI is not set (run under tests/pg/pgserver.py)\n");
            return NULL;
        }
        return uri;
    }
    tmpdb_make(t);
    return t->path;
}

static inline struct store_device test_device(const char *id, enum tk_kind kind, double lat,
                                              double lon)
{
    struct store_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", id);
    d.kind = kind;
    d.lat = lat;
    d.lon = lon;
    return d;
}

#define MIN_US INT64_C(60000000)
#define HOUR_US (60 * MIN_US)
#define DAY_US (24 * HOUR_US)
/* 2026-11-26T00:00:00Z */
#define T0 INT64_C(1795651200000000)

#endif
