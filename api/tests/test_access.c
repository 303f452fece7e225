/* Access control parts that need no server: the token bucket and its Retry-After, the
 * bounded limiter table, the key headers (Authorization: Bearer, X-API-Key) against a real
 * store, scope checks (401 without a key, 403 without the scope), the error table's new
 * statuses, and the privacy rule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "store_apikey.h"
#include "tk_check.h"
#include "tk_quantity.h"

#define S_US INT64_C(1000000)

static void test_bucket(void)
{
    struct api_bucket b = {0};
    int64_t retry = 0, t = 1000 * S_US;
    for (int i = 0; i < 30; i++)
        CHECK(api_bucket_take(&b, 30, t, &retry)); /* a minute's worth at once */
    CHECK(!api_bucket_take(&b, 30, t, &retry));
    CHECK_EQ_INT(retry, 2); /* 30 a minute: one every 2 s */
    CHECK(!api_bucket_take(&b, 30, t + S_US, &retry));
    CHECK_EQ_INT(retry, 1);
    CHECK(api_bucket_take(&b, 30, t + 2 * S_US, &retry));
    CHECK(!api_bucket_take(&b, 30, t + 2 * S_US, &retry));
    /* refill stops at the cap */
    CHECK(api_bucket_take(&b, 30, t + 3600 * S_US, &retry));
    CHECK(fabs(b.tokens - 29) < 1e-9);
    /* a slow rate: Retry-After rounds up to whole seconds */
    struct api_bucket s = {0};
    CHECK(api_bucket_take(&s, 1, t, &retry));
    CHECK(!api_bucket_take(&s, 1, t + 500000, &retry));
    CHECK_EQ_INT(retry, 60);
    /* a clock that goes back does not mint tokens */
    struct api_bucket c = {0};
    CHECK(api_bucket_take(&c, 2, t, &retry));
    CHECK(api_bucket_take(&c, 2, t, &retry));
    CHECK(!api_bucket_take(&c, 2, t - 100 * S_US, &retry));
}

static void test_limiter(void)
{
    struct api_limiter *l = NULL;
    int64_t retry = 0, t = 5000 * S_US;
    CHECK_EQ_INT(api_limiter_create(16, &l), TK_OK);
    if (!l)
        return;
    for (int i = 0; i < 3; i++)
        CHECK(api_limiter_take(l, "a:10.0.0.1", 3, t, &retry));
    CHECK(!api_limiter_take(l, "a:10.0.0.1", 3, t, &retry));
    CHECK_EQ_INT(retry, 20);
    CHECK(api_limiter_take(l, "a:10.0.0.2", 3, t, &retry)); /* its own bucket */
    CHECK(api_limiter_take(l, "k:1", 0, t, &retry));         /* 0: no limit */
    /* many more callers than slots: bounded, and the drained one is kept while idle ones
     * (full buckets) are reused */
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "a:192.168.%d.%d", i / 256, i % 256);
        CHECK(api_limiter_take(l, name, 1000, t, &retry));
    }
    CHECK(!api_limiter_take(l, "a:10.0.0.1", 3, t, &retry));
    CHECK(api_limiter_take(l, "a:10.0.0.1", 3, t + 20 * S_US, &retry));
    api_limiter_destroy(l);
    api_limiter_destroy(NULL);
}

/* ---- a request with headers, against a real store ----------------------------------- */

struct hdrs {
    const char *auth, *xkey;
};

static const char *get_header(const struct api_request *req, const char *name)
{
    const struct hdrs *h = req->conn;
    if (strcmp(name, "Authorization") == 0)
        return h->auth;
    if (strcmp(name, "X-API-Key") == 0)
        return h->xkey;
    return NULL;
}

static int admit(struct api_access *a, struct store *st, const char *auth, const char *xkey,
                 struct api_principal *who, struct api_reply *rep)
{
    struct hdrs h = {auth, xkey};
    struct api_request req = {.st = st, .who = who, .header = get_header, .conn = &h};
    memset(who, 0, sizeof *who);
    snprintf(who->client, sizeof who->client, "127.0.0.9");
    api_reply_free(rep);
    api_reply_init(rep, 1 << 16);
    return api_access_admit(a, &req, who, rep);
}

static void test_admit(void)
{
    char dir[] = "/tmp/tk-api-access-XXXXXX", path[64];
    if (!mkdtemp(dir))
        return;
    snprintf(path, sizeof path, "%s/s.db", dir);
    struct store *st = NULL;
    CHECK_EQ_INT(store_open(path, NULL, &st), TK_OK);
    if (!st)
        return;
    char rk[STORE_APIKEY_TOKEN_LEN + 1], ak[STORE_APIKEY_TOKEN_LEN + 1];
    char wk[STORE_APIKEY_TOKEN_LEN + 1], bearer[80];
    struct store_apikey k = {.owner = "acme", .scopes = STORE_SCOPE_READ, .rate_per_min = 2};
    CHECK_EQ_INT(store_apikey_add(st, &k, rk, sizeof rk, NULL), TK_OK);
    k.scopes = STORE_SCOPE_ADMIN;
    k.rate_per_min = 100;
    CHECK_EQ_INT(store_apikey_add(st, &k, ak, sizeof ak, NULL), TK_OK);
    k.scopes = STORE_SCOPE_WRITE;
    CHECK_EQ_INT(store_apikey_add(st, &k, wk, sizeof wk, NULL), TK_OK);

    struct api_config cfg = {.anon_rate = 5, .rate_slots = 64};
    struct api_access *a = NULL;
    CHECK_EQ_INT(api_access_create(&cfg, &a), TK_OK);
    if (!a)
        return;
    struct api_principal who;
    struct api_reply rep;
    api_reply_init(&rep, 1 << 16);

    /* anonymous */
    CHECK(admit(a, st, NULL, NULL, &who, &rep));
    CHECK(who.anonymous && who.scopes == 0 && who.key_id == 0);
    struct api_request req = {.st = st, .who = &who};
    CHECK(!api_require(&req, API_SCOPE_ADMIN, &rep));
    CHECK_EQ_INT(rep.status, 401);
    CHECK(strstr(rep.body.data, "\"EUNAUTH\"") != NULL);

    /* a read key, both ways of sending it, any case of "Bearer" */
    snprintf(bearer, sizeof bearer, "bearer   %s ", rk);
    CHECK(admit(a, st, bearer, NULL, &who, &rep));
    CHECK(!who.anonymous && who.key_id == 1 && who.scopes == API_SCOPE_READ);
    CHECK_EQ_STR(who.owner, "acme");
    CHECK(!api_require(&req, API_SCOPE_WRITE, &rep));
    CHECK_EQ_INT(rep.status, 403);
    CHECK(strstr(rep.body.data, "\"EFORBIDDEN\"") != NULL);
    CHECK(strstr(rep.body.data, rk) == NULL); /* never echoed */
    CHECK(admit(a, st, NULL, rk, &who, &rep));
    /* its rate (2 a minute) is spent: 429 with Retry-After */
    CHECK(!admit(a, st, NULL, rk, &who, &rep));
    CHECK_EQ_INT(rep.status, 429);
    CHECK_EQ_INT(rep.retry_after_s, 30);
    CHECK(strstr(rep.body.data, "\"ERATE\"") != NULL);

    /* scopes widen: admin holds all, write holds read */
    snprintf(bearer, sizeof bearer, "Bearer %s", ak);
    CHECK(admit(a, st, bearer, ak, &who, &rep));
    CHECK_EQ_INT(who.scopes, API_SCOPE_ALL);
    CHECK(api_require(&req, API_SCOPE_ADMIN, &rep));
    CHECK(admit(a, st, NULL, wk, &who, &rep));
    CHECK_EQ_INT(who.scopes, API_SCOPE_READ | API_SCOPE_WRITE);

    /* refusals: wrong key, two different keys, another scheme, a revoked key */
    char wrong[STORE_APIKEY_TOKEN_LEN + 1];
    memcpy(wrong, ak, sizeof wrong);
    wrong[20] = wrong[20] == 'x' ? 'y' : 'x';
    CHECK(!admit(a, st, NULL, wrong, &who, &rep));
    CHECK_EQ_INT(rep.status, 401);
    CHECK(who.anonymous);
    CHECK(strstr(rep.body.data, "unknown API key") != NULL);
    CHECK(!admit(a, st, bearer, rk, &who, &rep));
    CHECK_EQ_INT(rep.status, 401);
    CHECK(!admit(a, st, "Basic dXNlcjpwYXNz", NULL, &who, &rep));
    CHECK_EQ_INT(rep.status, 401);
    CHECK_EQ_INT(store_apikey_revoke(st, 3), TK_OK);
    CHECK(!admit(a, st, NULL, wk, &who, &rep));
    CHECK_EQ_INT(rep.status, 401);
    CHECK(strstr(rep.body.data, "revoked") != NULL);
    /* wrong keys are charged to the address: 5 a minute, all spent by now */
    CHECK(!admit(a, st, NULL, NULL, &who, &rep));
    CHECK_EQ_INT(rep.status, 429);
    CHECK(rep.retry_after_s >= 1 && rep.retry_after_s <= 12);

    api_reply_free(&rep);
    api_access_destroy(a);
    store_close(st);
    char p2[80];
    snprintf(p2, sizeof p2, "%s-wal", path);
    unlink(p2);
    snprintf(p2, sizeof p2, "%s-shm", path);
    unlink(p2);
    unlink(path);
    rmdir(dir);
}

static void test_suppress(void)
{
    struct api_principal anon = {.anonymous = 1};
    struct api_principal rd = {.scopes = API_SCOPE_READ};
    struct api_principal raw = {.scopes = API_SCOPE_READ | API_SCOPE_RAW};
    struct api_principal adm = {.scopes = API_SCOPE_ALL};
    const int counts[] = {TK_Q_PEOPLE_IN, TK_Q_PEOPLE_OUT, TK_Q_UNIQUE_DEVICES, TK_Q_ASSOCIATED,
                          TK_Q_PROBE_ONLY};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        int q = counts[i];
        CHECK(api_suppress(&anon, q, 0));
        CHECK(api_suppress(&anon, q, 9));
        CHECK(api_suppress(&anon, q, 9.999));
        CHECK(!api_suppress(&anon, q, 10));
        CHECK(api_suppress(&rd, q, 3));
        CHECK(api_suppress(NULL, q, 3));
        CHECK(api_suppress(&anon, q, NAN));
        CHECK(!api_suppress(&raw, q, 3));
        CHECK(!api_suppress(&adm, q, 0));
        CHECK(api_suppress_applies(&rd, q) && !api_suppress_applies(&raw, q));
    }
    /* the same rule as a store query condition */
    struct store_sta_withhold w = api_withhold(&anon);
    unsigned want = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        want |= 1u << counts[i];
    CHECK_EQ_INT(w.mask, want);
    CHECK(w.below == API_SUPPRESS_BELOW);
    CHECK_EQ_INT(api_withhold(&rd).mask, want);
    CHECK_EQ_INT(api_withhold(&raw).mask, 0);
    CHECK_EQ_INT(api_withhold(&adm).mask, 0);
    CHECK(!api_suppress(&anon, TK_Q_WATER_LEVEL, 0.1));
    CHECK(!api_suppress(&anon, TK_Q_BATTERY_VOLTAGE, 3.6));
    CHECK(!api_suppress(&anon, -1, 1));
    CHECK(!api_suppress_applies(&anon, TK_Q_WATER_TEMPERATURE));
    CHECK_EQ_INT(api_err_status(API_E_UNAUTH), 401);
    CHECK_EQ_INT(api_err_status(API_E_FORBIDDEN), 403);
    CHECK_EQ_INT(api_err_status(API_E_RATE), 429);
}

int main(void)
{
    test_bucket();
    test_limiter();
    test_admit();
    test_suppress();
    return tk_check_result("api_access");
}
