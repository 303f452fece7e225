/* Helpers shared by the store unit tests: the store to run against (a fresh SQLite file in
 * a temporary directory, or PostgreSQL), a look at its tables behind the store's back, and
 * a device factory. */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

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

/* The store a test runs against: with the argument "pg", the PostgreSQL server in
 * TK_TEST_PG_URI (ctest *_pg tests run under tests/pg/pgserver.py, which sets it), else a
 * fresh SQLite file in t ("sqlite:PATH"). Exits with a message when "pg" is asked for
 * without a server. uri gets the URI (size bytes). Returns 1 for PostgreSQL, 0 for
 * SQLite. */
static inline int test_store_uri(int argc, char **argv, struct tmpdb *t, char *uri, size_t size)
{
    if (argc > 1 && strcmp(argv[1], "pg") == 0) {
        const char *env = getenv("TK_TEST_PG_URI");
        if (!env || !*env) {
            fprintf(stderr, "TK_TEST_PG_URI is not set (run under tests/pg/pgserver.py)\n");
            exit(1);
        }
        snprintf(uri, size, "%s", env);
        return 1;
    }
    tmpdb_make(t);
    snprintf(uri, size, "sqlite:%s", t->path);
    return 0;
}

/* Runs sql (no parameters, in the backend's dialect) on the database behind store URI uri
 * ("postgresql://..." or "postgres://...", else an SQLite file: "sqlite:PATH" or a plain
 * path) on a connection of its own, read-only for SQLite, and copies the first column of
 * the first row into buf (size bytes; "" for NULL). Returns 0, or -1 with a message on
 * stderr when the query fails or returns no row. */
static inline int test_sql_text(const char *uri, const char *sql, char *buf, size_t size)
{
    int ok = 0;
    buf[0] = 0;
    if (strncmp(uri, "postgresql:", 11) == 0 || strncmp(uri, "postgres:", 9) == 0) {
        PGconn *c = PQconnectdb(uri);
        PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
        ok = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0;
        if (ok)
            snprintf(buf, size, "%s", PQgetvalue(r, 0, 0));
        else
            fprintf(stderr, "test_sql_text(%s): %s", sql,
                    r && PQresultStatus(r) == PGRES_TUPLES_OK ? "no row\n" : PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
    } else {
        const char *path = strncmp(uri, "sqlite:", 7) == 0 ? uri + 7 : uri;
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(s);
        ok = rc == SQLITE_ROW;
        if (ok && sqlite3_column_text(s, 0))
            snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
        else if (!ok)
            fprintf(stderr, "test_sql_text(%s): %s\n", sql,
                    rc == SQLITE_DONE ? "no row" : sqlite3_errmsg(db));
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
    return ok ? 0 : -1;
}

/* test_sql_text's value as an integer (a count); -1 when the query failed. */
static inline int64_t test_sql_int(const char *uri, const char *sql)
{
    char buf[32];
    return test_sql_text(uri, sql, buf, sizeof buf) ? -1 : strtoll(buf, NULL, 10);
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
