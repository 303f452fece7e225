/* libFuzzer target: the API's $filter parser (api_filter_parse), the resolution of its
 * property paths for an entity set (api_filter_resolve), and the store's translation of
 * the resolved tree into SQL, run against an empty store (store_sta_count).
 *
 * Input: byte 0 picks the entity set (b % STORE_STA_N); the rest is the $filter text as it
 * arrives after URL decoding. Properties checked beyond "no crash": a refusal is TK_EINVAL
 * with err.path "$filter" and a position; a tree that resolves must become SQL that SQLite
 * accepts (TK_EDB would mean the store built broken SQL from a tree the API let through). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "store.h"
#include "store_sta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *g_st;
static char g_dir[64];

static void cleanup(void)
{
    char p[128];
    store_close(g_st);
    g_st = NULL;
    static const char *const files[] = {"db", "db-wal", "db-shm", "db-journal"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
        unlink(p);
    }
    rmdir(g_dir);
}

static struct store *store_once(void)
{
    if (g_st)
        return g_st;
    char path[128];
    snprintf(g_dir, sizeof g_dir, "/tmp/tk-fuzz-filter-XXXXXX");
    if (!mkdtemp(g_dir))
        abort();
    snprintf(path, sizeof path, "%s/db", g_dir);
    if (store_open(path, NULL, &g_st) != TK_OK || store_sta_init(g_st) != TK_OK)
        abort();
    atexit(cleanup);
    return g_st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct store *st = store_once();
    enum store_sta_entity e = (enum store_sta_entity)(data[0] % STORE_STA_N);
    struct api_filter *f = NULL;
    struct tk_error err = {0};
    enum tk_rc rc = api_filter_parse((const char *)data + 1, size - 1, &f, &err);
    if (rc) {
        if (f || (rc == TK_EINVAL && strcmp(err.path, "$filter") != 0))
            abort();
        return 0;
    }
    if (!f)
        abort();
    rc = api_filter_resolve(f, e, &err);
    if (rc == TK_OK) {
        struct store_sta_query q = {0};
        q.entity = e;
        q.top = -1;
        q.filter = api_filter_tree(f);
        int64_t n = -1;
        rc = store_sta_count(st, &q, &n);
        if (rc == TK_EDB) {
            fprintf(stderr, "SQL refused: %s\n", store_errmsg(st));
            abort();
        }
        if (rc == TK_OK && n != 0)
            abort(); /* the store is empty */
    } else if (rc == TK_EINVAL && strcmp(err.path, "$filter") != 0) {
        abort();
    }
    api_filter_free(f);
    return 0;
}
