/* Access control: who is asking (an API key, or an anonymous client address), whether they
 * are within their rate limit, and whether they hold the scope a handler needs.
 *
 * Keys are checked against the store on every request that presents one (one indexed
 * read on the request's own connection), not cached: a revocation made by
 * `takumi apikey revoke` counts from the very next request, and several API processes
 * agree without talking to each other. Anonymous requests cost no store read.
 *
 * Rate limits are token buckets in memory, per key and per client address, in a table of
 * --rate-slots entries probed in a small window: bounded memory whatever the number of
 * callers. A wrong key is charged to the client's address, so guessing keys is limited
 * like any anonymous use. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "store_apikey.h"
#include "tk_log.h"
#include "tk_time.h"

_Static_assert((unsigned)API_SCOPE_READ == (unsigned)STORE_SCOPE_READ &&
                   (unsigned)API_SCOPE_RAW == (unsigned)STORE_SCOPE_RAW &&
                   (unsigned)API_SCOPE_WRITE == (unsigned)STORE_SCOPE_WRITE &&
                   (unsigned)API_SCOPE_ADMIN == (unsigned)STORE_SCOPE_ADMIN &&
                   API_SCOPE_ALL == (unsigned)STORE_SCOPE_ALL,
               "API scopes are the store's key scopes");

#define MINUTE_US 60000000.0
#define PROBE 16
#define NAME_MAX_LEN 72

/* ---- token bucket ------------------------------------------------------------------ */

int api_bucket_take(struct api_bucket *b, int64_t rate_per_min, int64_t now_us, int64_t *retry_s)
{
    double cap = (double)rate_per_min;
    if (b->last_us == 0) {
        b->tokens = cap;
    } else if (now_us > b->last_us) {
        b->tokens += (double)(now_us - b->last_us) * cap / MINUTE_US;
        if (b->tokens > cap)
            b->tokens = cap;
    }
    if (now_us > b->last_us || b->last_us == 0)
        b->last_us = now_us;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 1;
    }
    double wait_s = (1.0 - b->tokens) * 60.0 / cap;
    int64_t s = (int64_t)ceil(wait_s);
    *retry_s = s < 1 ? 1 : s;
    return 0;
}

/* ---- bounded table of buckets ------------------------------------------------------ */

struct slot {
    char name[NAME_MAX_LEN];
    int64_t rate; /* the rate it was last charged at, to value its tokens */
    struct api_bucket b;
};

struct api_limiter {
    pthread_mutex_t mu;
    size_t mask;
    struct slot *slots;
};

enum tk_rc api_limiter_create(size_t slots, struct api_limiter **out)
{
    *out = NULL;
    size_t n = PROBE;
    while (n < slots && n < ((size_t)1 << 24))
        n <<= 1;
    struct api_limiter *l = calloc(1, sizeof *l);
    if (!l)
        return TK_ENOMEM;
    l->slots = calloc(n, sizeof *l->slots);
    if (!l->slots) {
        free(l);
        return TK_ENOMEM;
    }
    l->mask = n - 1;
    pthread_mutex_init(&l->mu, NULL);
    *out = l;
    return TK_OK;
}

void api_limiter_destroy(struct api_limiter *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->slots);
    free(l);
}

static size_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)h;
}

/* Tokens the slot would hold at now (a minute's worth when unused). */
static double tokens_at(const struct slot *sl, int64_t now_us)
{
    if (!sl->name[0] || sl->b.last_us == 0)
        return INFINITY;
    double t = sl->b.tokens + (double)(now_us - sl->b.last_us) * (double)sl->rate / MINUTE_US;
    return t >= (double)sl->rate ? INFINITY : t;
}

int api_limiter_take(struct api_limiter *l, const char *name, int64_t rate_per_min, int64_t now_us,
                     int64_t *retry_s)
{
    if (rate_per_min <= 0)
        return 1;
    pthread_mutex_lock(&l->mu);
    size_t h = hash_name(name);
    struct slot *hit = NULL, *victim = NULL;
    double best = -1;
    for (size_t i = 0; i < PROBE && !hit; i++) {
        struct slot *sl = &l->slots[(h + i) & l->mask];
        if (sl->name[0] && strcmp(sl->name, name) == 0) {
            hit = sl;
        } else {
            double t = tokens_at(sl, now_us);
            if (t > best) {
                best = t;
                victim = sl;
            }
        }
    }
    if (!hit) {
        hit = victim;
        memset(hit, 0, sizeof *hit);
        snprintf(hit->name, sizeof hit->name, "%s", name);
    }
    hit->rate = rate_per_min;
    int ok = api_bucket_take(&hit->b, rate_per_min, now_us, retry_s);
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* ---- the access layer -------------------------------------------------------------- */

struct api_access {
    const struct api_config *cfg;
    struct api_limiter *lim;
};

enum tk_rc api_access_create(const struct api_config *cfg, struct api_access **out)
{
    *out = NULL;
    struct api_access *a = calloc(1, sizeof *a);
    if (!a)
        return TK_ENOMEM;
    a->cfg = cfg;
    enum tk_rc rc = api_limiter_create((size_t)(cfg->rate_slots > 0 ? cfg->rate_slots : 1), &a->lim);
    if (rc) {
        free(a);
        return rc;
    }
    *out = a;
    return TK_OK;
}

void api_access_destroy(struct api_access *a)
{
    if (!a)
        return;
    api_limiter_destroy(a->lim);
    free(a);
}

static unsigned widen(unsigned granted)
{
    if (granted & API_SCOPE_ADMIN)
        return API_SCOPE_ALL;
    if (granted & (API_SCOPE_WRITE | API_SCOPE_RAW))
        granted |= API_SCOPE_READ;
    return granted;
}

/* The key a request presents (key, len), or NULL when none. -1 for a header that is not
 * a key at all (another Authorization scheme, two different keys). */
static int presented_key(const struct api_request *req, const char **key, size_t *len)
{
    const char *auth = req->header ? req->header(req, "Authorization") : NULL;
    const char *xkey = req->header ? req->header(req, "X-API-Key") : NULL;
    const char *k = NULL;
    size_t kl = 0;
    *key = NULL;
    *len = 0;
    if (auth) {
        while (*auth == ' ')
            auth++;
        if (strncasecmp(auth, "Bearer", 6) != 0 || (auth[6] != ' ' && auth[6] != '\t'))
            return -1;
        k = auth + 6;
        while (*k == ' ' || *k == '\t')
            k++;
        kl = strlen(k);
        while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
            kl--;
    }
    if (xkey) {
        while (*xkey == ' ')
            xkey++;
        size_t xl = strlen(xkey);
        while (xl && xkey[xl - 1] == ' ')
            xl--;
        if (k && (xl != kl || memcmp(k, xkey, kl) != 0))
            return -1;
        k = xkey;
        kl = xl;
    }
    *key = k;
    *len = kl;
    return 0;
}

static int refuse_rate(struct api_reply *rep, int64_t retry_s, const char *who)
{
    api_reply_error(rep, API_E_RATE, NULL,
                    "rate limit of %s exceeded; retry after %lld s (a key with a higher rate "
                    "raises it)",
                    who, (long long)retry_s);
    rep->retry_after_s = retry_s;
    return 0;
}

int api_access_admit(struct api_access *a, const struct api_request *req,
                     struct api_principal *who, struct api_reply *rep)
{
    char name[NAME_MAX_LEN];
    int64_t retry = 0, now = tk_mono_us();
    const char *key;
    size_t klen;
    who->anonymous = 1;
    who->scopes = 0;
    who->key_id = 0;
    who->owner[0] = '\0';
    api_viewer_set(req->st, who); /* anonymous until a key says otherwise */
    snprintf(name, sizeof name, "a:%s", who->client);
    int shape = presented_key(req, &key, &klen);
    if (shape == 0 && !key) {
        if (!api_limiter_take(a->lim, name, a->cfg->anon_rate, now, &retry))
            return refuse_rate(rep, retry, "anonymous requests from your address");
        return 1;
    }
    struct store_apikey k;
    memset(&k, 0, sizeof k);
    enum tk_rc rc = TK_ENOTFOUND;
    if (shape == 0)
        rc = store_apikey_check(req->st, key, klen, &k);
    if (rc == TK_OK) {
        who->anonymous = 0;
        who->key_id = k.id;
        who->scopes = widen(k.scopes);
        snprintf(who->owner, sizeof who->owner, "%s", k.owner);
        api_viewer_set(req->st, who);
        snprintf(name, sizeof name, "k:%lld", (long long)k.id);
        if (!api_limiter_take(a->lim, name, k.rate_per_min, now, &retry))
            return refuse_rate(rep, retry, "this key");
        return 1;
    }
    if (rc != TK_ENOTFOUND) {
        tk_log(TK_LOG_WARN, "checking an API key: %s", store_errmsg(req->st));
        api_reply_error(rep, rc == TK_EBUSY ? API_E_BUSY : API_E_DB, NULL,
                        "the key could not be checked; try again");
        return 0;
    }
    /* wrong keys count against the address: guessing is as limited as anonymous use */
    if (!api_limiter_take(a->lim, name, a->cfg->anon_rate, now, &retry))
        return refuse_rate(rep, retry, "anonymous requests from your address");
    tk_log(TK_LOG_INFO, "refused %s from %s",
           shape < 0 ? "a malformed key header" : k.revoked_us ? "a revoked API key" : "a wrong API key",
           who->client);
    if (shape < 0)
        api_reply_error(rep, API_E_UNAUTH, NULL,
                        "send the API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY' "
                        "(one key)");
    else if (k.revoked_us)
        api_reply_error(rep, API_E_UNAUTH, NULL, "this API key was revoked");
    else
        api_reply_error(rep, API_E_UNAUTH, NULL,
                        "unknown API key; leave the key out for anonymous access");
    return 0;
}

static const char *scope_name(unsigned scope)
{
    switch (scope) {
    case API_SCOPE_READ:
        return "read";
    case API_SCOPE_RAW:
        return "read:raw";
    case API_SCOPE_WRITE:
        return "write";
    default:
        return "admin";
    }
}

int api_require(const struct api_request *req, unsigned scope, struct api_reply *rep)
{
    const struct api_principal *who = req->who;
    if (who && (who->scopes & scope) == scope)
        return 1;
    if (!who || who->anonymous)
        api_reply_error(rep, API_E_UNAUTH, NULL, "this needs an API key with the %s scope",
                        scope_name(scope));
    else
        api_reply_error(rep, API_E_FORBIDDEN, NULL,
                        "API key %lld (%s) does not have the %s scope", (long long)who->key_id,
                        who->owner, scope_name(scope));
    return 0;
}
