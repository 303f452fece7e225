/* API keys: scope names, key shape, hashing, add/check/revoke/list on a real database
 * (only the hash is stored), and the operator view (quarantine pages, counters, device id
 * pages, a Datastream's quantity). With the argument "pg", against the PostgreSQL store in
 * TK_TEST_PG_URI (ctest store_apikey_pg, under tests/pg/pgserver.py). */
#include <libpq-fe.h>

#include "store_apikey.h"
#include "tk_quantity.h"
#include "store_test_util.h"

static int count_cb(const struct store_apikey *k, void *ud)
{
    int *n = ud;
    (*n)++;
    return k->id == 99 ? 7 : 0;
}

/* the last quarantined message a walk passed (copied) */
struct qlast {
    unsigned char payload[8];
    size_t payload_len;
    char reason[64], path[16];
    int has_device;
};

static int quar_last(const struct store_quarantine *q, void *ud)
{
    struct qlast *l = ud;
    l->payload_len = q->payload_len;
    memcpy(l->payload, q->payload, q->payload_len < 8 ? q->payload_len : 8);
    snprintf(l->reason, sizeof l->reason, "%s", q->reason ? q->reason : "(null)");
    snprintf(l->path, sizeof l->path, "%s", q->path ? q->path : "(null)");
    l->has_device = q->device_id != NULL;
    return 0;
}

struct qpage {
    int64_t ids[16];
    size_t n;
};

static int quar_cb(const struct store_quarantine *q, void *ud)
{
    struct qpage *p = ud;
    if (p->n < 16)
        p->ids[p->n++] = q->id;
    return 0;
}

/* 1 if the rows of api_keys, as PostgreSQL prints them, hold s anywhere */
static int pg_keys_contain(const char *uri, const char *s)
{
    PGconn *c = PQconnectdb(uri);
    int found = 0;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "SELECT coalesce(string_agg(k::text, '|'), '') FROM api_keys k");
        CHECK_EQ_INT(PQresultStatus(r), PGRES_TUPLES_OK);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            found = strstr(PQgetvalue(r, 0, 0), s) != NULL;
        PQclear(r);
    } else {
        CHECK(!"connecting to PostgreSQL");
    }
    PQfinish(c);
    return found;
}

/* 1 if the file holds the bytes of s anywhere */
static int file_contains(const char *path, const char *s)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = strlen(s), k = 0;
    int c, found = 0;
    char *win = calloc(1, n);
    while (!found && (c = fgetc(f)) != EOF) {
        memmove(win, win + 1, n - 1);
        win[n - 1] = (char)c;
        if (++k >= n && memcmp(win, s, n) == 0)
            found = 1;
    }
    free(win);
    fclose(f);
    return found;
}

/* 1 if the stored key table holds s: the SQLite file, or PostgreSQL's rows */
static int stored(int pg, const char *uri, const char *path, const char *s)
{
    return pg ? pg_keys_contain(uri, s) : file_contains(path, s);
}

static int stop_at_70(const struct store_quarantine *q, void *ud)
{
    (void)q;
    (*(int *)ud)++;
    return *(int *)ud == 70 ? 5 : 0;
}

static int stop_cb(const struct store_apikey *k, void *ud)
{
    (*(int *)ud)++;
    return k->id == 70 ? 9 : 0;
}

int main(int argc, char **argv)
{
    /* scopes */
    unsigned sc = 0;
    char buf[64];
    struct tk_error err = {0};
    CHECK_EQ_INT(store_apikey_scopes_parse("read", &sc, &err), TK_OK);
    CHECK_EQ_INT(sc, STORE_SCOPE_READ);
    CHECK_EQ_INT(store_apikey_scopes_parse("admin,read:raw,write,read", &sc, &err), TK_OK);
    CHECK_EQ_INT(sc, STORE_SCOPE_ALL);
    CHECK_EQ_INT(store_apikey_scopes_format(sc, buf, sizeof buf), TK_OK);
    CHECK_EQ_STR(buf, "read,read:raw,write,admin");
    CHECK_EQ_INT(store_apikey_scopes_format(STORE_SCOPE_RAW, buf, sizeof buf), TK_OK);
    CHECK_EQ_STR(buf, "read:raw");
    CHECK_EQ_INT(store_apikey_scopes_format(STORE_SCOPE_ALL, buf, 10), TK_EFULL);
    CHECK_EQ_INT(store_apikey_scopes_format(0, buf, sizeof buf), TK_EINVAL);
    CHECK_EQ_INT(store_apikey_scopes_format(16, buf, sizeof buf), TK_EINVAL);
    const char *bad[] = {"", "read,", ",read", "read,,write", "Read", "read,read", "raw",
                         "read:raw:x", "admin ", "read;write"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.text[0] = '\0';
        CHECK_EQ_INT(store_apikey_scopes_parse(bad[i], &sc, &err), TK_EINVAL);
        CHECK(err.text[0] != '\0');
    }

    /* key shape and hash (SHA-256 of "abc", FIPS 180-2) */
    unsigned char h[STORE_APIKEY_HASH_LEN];
    CHECK_EQ_INT(store_apikey_hash("abc", 3, h), TK_OK);
    CHECK(h[0] == 0xba && h[1] == 0x78 && h[30] == 0x15 && h[31] == 0xad);
    const char *good = "tk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    CHECK_EQ_INT(strlen(good), STORE_APIKEY_TOKEN_LEN);
    CHECK(store_apikey_token_valid(good, strlen(good)));
    CHECK(!store_apikey_token_valid(good, strlen(good) - 1));
    CHECK(!store_apikey_token_valid("tK_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 46));
    CHECK(!store_apikey_token_valid("tk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 46));
    CHECK(!store_apikey_token_valid("tk_AAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAA", 46));
    CHECK(!store_apikey_token_valid(NULL, 0));

    struct tmpdb t = {{0}, {0}};
    char uri[1024];
    int pg = test_store_uri(argc, argv, &t, uri, sizeof uri);
    struct store *st = NULL;
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    if (!st)
        return tk_check_result("store_apikey");

    /* add: refusals */
    char tok[STORE_APIKEY_TOKEN_LEN + 1], tok2[STORE_APIKEY_TOKEN_LEN + 1];
    struct store_apikey k = {.scopes = STORE_SCOPE_READ, .rate_per_min = 60}, got, chk;
    CHECK_EQ_INT(store_apikey_add(st, &k, tok, sizeof tok, &got), TK_EINVAL); /* no owner */
    snprintf(k.owner, sizeof k.owner, "bad\nowner");
    CHECK_EQ_INT(store_apikey_add(st, &k, tok, sizeof tok, &got), TK_EINVAL);
    snprintf(k.owner, sizeof k.owner, "Acme Mobility");
    CHECK_EQ_INT(store_apikey_add(st, &k, tok, sizeof tok - 1, &got), TK_EINVAL);
    k.rate_per_min = 0;
    CHECK_EQ_INT(store_apikey_add(st, &k, tok, sizeof tok, &got), TK_EINVAL);
    k.rate_per_min = 60;
    k.scopes = 0;
    CHECK_EQ_INT(store_apikey_add(st, &k, tok, sizeof tok, &got), TK_EINVAL);

    /* add and check */
    k.scopes = STORE_SCOPE_READ | STORE_SCOPE_RAW;
    CHECK_EQ_INT(store_apikey_add(st, &k, tok, sizeof tok, &got), TK_OK);
    CHECK(store_apikey_token_valid(tok, strlen(tok)));
    CHECK_EQ_INT(got.id, 1);
    CHECK(strncmp(got.prefix, tok, STORE_APIKEY_PREFIX_LEN) == 0);
    CHECK(got.created_us > 0);
    k.scopes = STORE_SCOPE_ADMIN;
    snprintf(k.owner, sizeof k.owner, "city ops");
    k.rate_per_min = 6000;
    CHECK_EQ_INT(store_apikey_add(st, &k, tok2, sizeof tok2, NULL), TK_OK);
    CHECK(strcmp(tok, tok2) != 0);

    CHECK_EQ_INT(store_apikey_check(st, tok, strlen(tok), &chk), TK_OK);
    CHECK_EQ_INT(chk.id, 1);
    CHECK_EQ_STR(chk.owner, "Acme Mobility");
    CHECK_EQ_INT(chk.scopes, STORE_SCOPE_READ | STORE_SCOPE_RAW);
    CHECK_EQ_INT(chk.rate_per_min, 60);
    CHECK_EQ_INT(chk.revoked_us, 0);
    CHECK_EQ_INT(store_apikey_check(st, tok2, strlen(tok2), &chk), TK_OK);
    CHECK_EQ_INT(chk.id, 2);
    CHECK_EQ_INT(chk.scopes, STORE_SCOPE_ADMIN);

    /* the right prefix with a wrong secret, a truncated key, garbage */
    char wrong[STORE_APIKEY_TOKEN_LEN + 1];
    memcpy(wrong, tok, sizeof wrong);
    wrong[STORE_APIKEY_TOKEN_LEN - 1] = wrong[STORE_APIKEY_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(store_apikey_check(st, wrong, strlen(wrong), &chk), TK_ENOTFOUND);
    CHECK_EQ_INT(chk.id, 0);
    CHECK_EQ_INT(store_apikey_check(st, tok, strlen(tok) - 1, &chk), TK_ENOTFOUND);
    CHECK_EQ_INT(store_apikey_check(st, "' OR 1=1 --", 11, &chk), TK_ENOTFOUND);

    /* only the hash is kept: the key's secret part is nowhere in the file */
    store_close(st);
    st = NULL;
    CHECK(!stored(pg, uri, t.path, tok + STORE_APIKEY_PREFIX_LEN));
    CHECK(!stored(pg, uri, t.path, tok2 + STORE_APIKEY_PREFIX_LEN));
    CHECK(stored(pg, uri, t.path, "Acme Mobility"));

    /* a read-only connection sees a revocation made by another one */
    struct store *ro = NULL;
    struct store_options roo = {.readonly = 1};
    CHECK_EQ_INT(store_open(uri, NULL, &st), TK_OK);
    CHECK_EQ_INT(store_open(uri, &roo, &ro), TK_OK);
    if (!st || !ro)
        return tk_check_result("store_apikey");
    CHECK_EQ_INT(store_apikey_check(ro, tok, strlen(tok), &chk), TK_OK);
    CHECK_EQ_INT(store_apikey_revoke(st, 1), TK_OK);
    CHECK_EQ_INT(store_apikey_check(ro, tok, strlen(tok), &chk), TK_ENOTFOUND);
    CHECK_EQ_INT(chk.id, 1);
    CHECK(chk.revoked_us > 0);
    int64_t first = chk.revoked_us;
    CHECK_EQ_INT(store_apikey_revoke(st, 1), TK_OK); /* twice: keeps the first time */
    CHECK_EQ_INT(store_apikey_check(ro, tok, strlen(tok), &chk), TK_ENOTFOUND);
    CHECK_EQ_INT(chk.revoked_us, first);
    CHECK_EQ_INT(store_apikey_revoke(st, 42), TK_ENOTFOUND);
    CHECK_EQ_INT(store_apikey_revoke(st, 0), TK_ENOTFOUND);
    CHECK_EQ_INT(store_apikey_revoke(ro, 2), TK_EINVAL); /* read-only */
    CHECK_EQ_INT(store_apikey_check(ro, tok2, strlen(tok2), &chk), TK_OK);

    int n = 0;
    CHECK_EQ_INT(store_apikey_list(st, count_cb, &n), TK_OK);
    CHECK_EQ_INT(n, 2);
    /* a key added inside a transaction that is rolled back is not kept */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_apikey_add(st, &k, tok2, sizeof tok2, &got), TK_OK);
    store_rollback(st);
    CHECK_EQ_INT(store_apikey_check(ro, tok2, strlen(tok2), &chk), TK_ENOTFOUND);
    n = 0;
    CHECK_EQ_INT(store_apikey_list(ro, count_cb, &n), TK_OK);
    CHECK_EQ_INT(n, 2);
    /* a longer walk than a page of rows, stopped by the callback */
    for (int i = 0; i < 80; i++)
        CHECK_EQ_INT(store_apikey_add(st, &k, tok2, sizeof tok2, NULL), TK_OK);
    n = 0;
    CHECK_EQ_INT(store_apikey_list(ro, count_cb, &n), TK_OK);
    CHECK_EQ_INT(n, 82);
    n = 0;
    CHECK_EQ_INT(store_apikey_list(ro, stop_cb, &n), 9);
    /* the rolled-back id is taken again by SQLite, not by PostgreSQL's identity */
    CHECK_EQ_INT(n, pg ? 69 : 70);

    /* quarantine pages, newest first, by device and time */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int i = 0; i < 10; i++) {
        struct store_quarantine q = {.received_us = T0 + i * MIN_US,
                                     .topic = "city/x",
                                     .payload = "{",
                                     .payload_len = 1,
                                     .device_id = i % 2 ? "wl-odd-0001" : NULL,
                                     .code = TK_EPROTO,
                                     .path = "",
                                     .reason = "not JSON"};
        CHECK_EQ_INT(store_quarantine_add(st, &q), TK_OK);
    }
    CHECK_EQ_INT(store_commit(st), TK_OK);
    struct qpage p = {.n = 0};
    struct qlast ql = {.payload_len = 0};
    struct store_quarantine_filter f = {.limit = 4};
    CHECK_EQ_INT(store_quarantine_list(ro, &f, quar_cb, &p), TK_OK);
    CHECK(p.n == 4 && p.ids[0] == 10 && p.ids[3] == 7);
    f.before_id = p.ids[3];
    p.n = 0;
    CHECK_EQ_INT(store_quarantine_list(ro, &f, quar_cb, &p), TK_OK);
    CHECK(p.n == 4 && p.ids[0] == 6 && p.ids[3] == 3);
    f = (struct store_quarantine_filter){.device_id = "wl-odd-0001", .limit = 16};
    p.n = 0;
    CHECK_EQ_INT(store_quarantine_list(ro, &f, quar_cb, &p), TK_OK);
    CHECK(p.n == 5 && p.ids[0] == 10 && p.ids[4] == 2);
    f = (struct store_quarantine_filter){.from_us = T0 + 2 * MIN_US, .to_us = T0 + 4 * MIN_US,
                                         .limit = 16};
    p.n = 0;
    CHECK_EQ_INT(store_quarantine_list(ro, &f, quar_cb, &p), TK_OK);
    CHECK(p.n == 2 && p.ids[0] == 4 && p.ids[1] == 3);
    /* longer than a page, stopped by the callback */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    for (int i = 0; i < 100; i++) {
        struct store_quarantine q = {.received_us = T0 + DAY_US,
                                     .topic = "city/y",
                                     .payload = "\0\xff",
                                     .payload_len = 2,
                                     .code = TK_ESCHEMA,
                                     .path = "/v"};
        CHECK_EQ_INT(store_quarantine_add(st, &q), TK_OK);
    }
    CHECK_EQ_INT(store_commit(st), TK_OK);
    int nq = 0;
    f = (struct store_quarantine_filter){.limit = 1000};
    CHECK_EQ_INT(store_quarantine_list(ro, &f, stop_at_70, &nq), 5);
    CHECK_EQ_INT(nq, 70);
    f = (struct store_quarantine_filter){.from_us = T0 + DAY_US, .to_us = T0 + 2 * DAY_US,
                                         .limit = 1000};
    p.n = 0;
    CHECK_EQ_INT(store_quarantine_list(ro, &f, quar_cb, &p), TK_OK);
    CHECK_EQ_INT(p.n, 16);
    f.limit = 90;
    nq = 0;
    CHECK_EQ_INT(store_quarantine_list(ro, &f, stop_at_70, &nq), 5);
    f.limit = 65;
    nq = 0;
    CHECK_EQ_INT(store_quarantine_list(ro, &f, stop_at_70, &nq), TK_OK);
    CHECK_EQ_INT(nq, 65);
    f.limit = 1;
    CHECK_EQ_INT(store_quarantine_list(ro, &f, quar_last, &ql), TK_OK);
    CHECK_EQ_INT(ql.payload_len, 2);
    CHECK(ql.payload[0] == 0 && ql.payload[1] == 0xff);
    CHECK_EQ_STR(ql.reason, tk_strerror(TK_ESCHEMA)); /* no reason: the code's text */
    CHECK_EQ_STR(ql.path, "/v");
    CHECK_EQ_INT(ql.has_device, 0);

    /* counters: written in the caller's transaction, read back by name */
    struct store_counter c[3] = {{"received", 10, T0}, {"stored", 8, T0}, {"quarantined", 2, T0}};
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_counters_put(st, c, 3), TK_OK);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    c[0].value = 11;
    CHECK_EQ_INT(store_counters_put(st, c, 1), TK_OK);
    /* rolled back with the transaction they were written in */
    CHECK_EQ_INT(store_begin(st), TK_OK);
    c[0].value = 99;
    CHECK_EQ_INT(store_counters_put(st, c, 3), TK_OK);
    store_rollback(st);
    c[0].value = 11;
    /* a name given twice keeps the last value */
    struct store_counter twice[2] = {{"twice", 1, T0}, {"twice", 2, T0}};
    CHECK_EQ_INT(store_counters_put(st, twice, 2), TK_OK);
    struct store_counter r[4];
    size_t nr = 0;
    CHECK_EQ_INT(store_counters_get(ro, r, 4, &nr), TK_OK);
    CHECK_EQ_INT(nr, 4);
    CHECK_EQ_STR(r[0].name, "quarantined");
    CHECK_EQ_STR(r[1].name, "received");
    CHECK_EQ_INT(r[1].value, 11);
    CHECK_EQ_STR(r[3].name, "twice");
    CHECK_EQ_INT(r[3].value, 2);
    CHECK_EQ_INT(store_counters_get(ro, r, 2, &nr), TK_OK);
    CHECK_EQ_INT(nr, 2);

    /* device ids a page at a time; the quantity of a Datastream */
    const char *devs[] = {"pf-b-0002", "wl-a-0001", "ap-c-0003"};
    struct store_device got_dev;
    for (size_t i = 0; i < 3; i++) {
        struct store_device d = test_device(devs[i], i == 0   ? TK_KIND_PEOPLE_FLOW
                                                     : i == 1 ? TK_KIND_WATER_LEVEL
                                                              : TK_KIND_WIFI_AP,
                                            34.4, 132.4);
        CHECK_EQ_INT(store_device_add(st, &d, &got_dev), TK_OK);
    }
    char ids[2][TK_ID_MAX + 1];
    size_t nid = 0;
    CHECK_EQ_INT(store_device_ids(ro, "", ids, 2, &nid), TK_OK);
    CHECK(nid == 2 && strcmp(ids[0], "ap-c-0003") == 0 && strcmp(ids[1], "pf-b-0002") == 0);
    CHECK_EQ_INT(store_device_ids(ro, ids[1], ids, 2, &nid), TK_OK);
    CHECK(nid == 1 && strcmp(ids[0], "wl-a-0001") == 0);
    CHECK_EQ_INT(store_device_ids(ro, "wl-a-0001", ids, 2, &nid), TK_OK);
    CHECK_EQ_INT(nid, 0);
    int quantity = 99;
    CHECK_EQ_INT(store_datastream_quantity(ro, got_dev.ds[TK_Q_ASSOCIATED], &quantity), TK_OK);
    CHECK_EQ_INT(quantity, TK_Q_ASSOCIATED);
    CHECK_EQ_INT(store_datastream_quantity(ro, 987654, &quantity), TK_ENOTFOUND);

    store_close(ro);
    store_close(st);
    if (t.dir[0])
        tmpdb_remove(&t);
    return tk_check_result("store_apikey");
}
