/* API keys: scope names, key shape, hashing, add/check/revoke/list on a real database
 * (only the hash is in the file), and the operator view (quarantine pages, counters). */
#include <sqlite3.h>

#include "store_apikey.h"
#include "store_test_util.h"

static int count_cb(const struct store_apikey *k, void *ud)
{
    int *n = ud;
    (*n)++;
    return k->id == 99 ? 7 : 0;
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

int main(void)
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

    struct tmpdb t;
    tmpdb_make(&t);
    struct store *st = NULL;
    CHECK_EQ_INT(store_open(t.path, NULL, &st), TK_OK);
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
    CHECK(!file_contains(t.path, tok + STORE_APIKEY_PREFIX_LEN));
    CHECK(!file_contains(t.path, tok2 + STORE_APIKEY_PREFIX_LEN));
    CHECK(file_contains(t.path, "Acme Mobility"));

    /* a read-only connection sees a revocation made by another one */
    struct store *ro = NULL;
    struct store_options roo = {.readonly = 1};
    CHECK_EQ_INT(store_open(t.path, NULL, &st), TK_OK);
    CHECK_EQ_INT(store_open(t.path, &roo, &ro), TK_OK);
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

    /* counters: written in the caller's transaction, read back by name */
    struct store_counter c[3] = {{"received", 10, T0}, {"stored", 8, T0}, {"quarantined", 2, T0}};
    CHECK_EQ_INT(store_begin(st), TK_OK);
    CHECK_EQ_INT(store_counters_put(st, c, 3), TK_OK);
    CHECK_EQ_INT(store_commit(st), TK_OK);
    c[0].value = 11;
    CHECK_EQ_INT(store_counters_put(st, c, 1), TK_OK);
    struct store_counter r[4];
    size_t nr = 0;
    CHECK_EQ_INT(store_counters_get(ro, r, 4, &nr), TK_OK);
    CHECK_EQ_INT(nr, 3);
    CHECK_EQ_STR(r[0].name, "quarantined");
    CHECK_EQ_STR(r[1].name, "received");
    CHECK_EQ_INT(r[1].value, 11);
    CHECK_EQ_INT(store_counters_get(ro, r, 2, &nr), TK_OK);
    CHECK_EQ_INT(nr, 2);

    store_close(ro);
    store_close(st);
    tmpdb_remove(&t);
    return tk_check_result("store_apikey");
}
