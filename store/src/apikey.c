/* API keys, the part every backend shares: making a key, its hash, the scope names, and
 * the constant-time comparison of a presented key with the stored hashes. The backend
 * (sqlite_apikey.c) only keeps rows: prefix, hash, owner, scopes, rate, times.
 *
 * Why SHA-256 and not a slow password hash: a key is 256 random bits, not something a
 * person chose, so guessing it from its hash is hopeless either way, and the API checks it
 * on every request; a stolen database must still not hand out working keys, which a
 * plain digest already ensures. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "store_apikey.h"
#include "store_int.h"

#define RAW_LEN 32
#define CANDIDATES_MAX 8 /* rows sharing a prefix (a collision is already improbable) */

static const struct {
    const char *name;
    unsigned bit;
} scope_names[] = {
    {"read", STORE_SCOPE_READ},
    {"read:raw", STORE_SCOPE_RAW},
    {"write", STORE_SCOPE_WRITE},
    {"admin", STORE_SCOPE_ADMIN},
};
#define NSCOPES (sizeof scope_names / sizeof scope_names[0])

enum tk_rc store_apikey_scopes_parse(const char *s, unsigned *out, struct tk_error *err)
{
    *out = 0;
    if (!s || !*s)
        return tk_error_set(err, TK_EINVAL, "scope",
                            "at least one scope is needed: read, read:raw, write or admin");
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        unsigned bit = 0;
        for (size_t i = 0; i < NSCOPES; i++)
            if (strlen(scope_names[i].name) == len && memcmp(scope_names[i].name, p, len) == 0)
                bit = scope_names[i].bit;
        if (!bit)
            return tk_error_set(err, TK_EINVAL, "scope",
                                "unknown scope '%.*s': use read, read:raw, write or admin",
                                (int)(len > 32 ? 32 : len), p);
        if (*out & bit)
            return tk_error_set(err, TK_EINVAL, "scope", "scope '%.*s' given twice", (int)len, p);
        *out |= bit;
        if (!p[len])
            return TK_OK;
        p += len + 1;
    }
}

enum tk_rc store_apikey_scopes_format(unsigned scopes, char *buf, size_t size)
{
    if (!scopes || (scopes & ~(unsigned)STORE_SCOPE_ALL))
        return TK_EINVAL;
    size_t k = 0;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < NSCOPES; i++) {
        if (!(scopes & scope_names[i].bit))
            continue;
        int n = snprintf(buf + k, size > k ? size - k : 0, "%s%s", k ? "," : "",
                         scope_names[i].name);
        if (n < 0 || (size_t)n >= (size > k ? size - k : 0))
            return TK_EFULL;
        k += (size_t)n;
    }
    return TK_OK;
}

static int b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

int store_apikey_token_valid(const char *token, size_t len)
{
    if (!token || len != STORE_APIKEY_TOKEN_LEN || memcmp(token, "tk_", 3) != 0)
        return 0;
    for (size_t i = 3; i < len; i++)
        if (!b64url_char((unsigned char)token[i]))
            return 0;
    return 1;
}

enum tk_rc store_apikey_hash(const char *token, size_t len, unsigned char out[STORE_APIKEY_HASH_LEN])
{
    unsigned n = 0;
    if (EVP_Digest(token, len, out, &n, EVP_sha256(), NULL) != 1 || n != STORE_APIKEY_HASH_LEN)
        return TK_EIO;
    return TK_OK;
}

static int owner_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > STORE_APIKEY_OWNER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

enum tk_rc store_apikey_add(struct store *st, const struct store_apikey *k, char *token,
                            size_t size, struct store_apikey *out)
{
    if (!st || !k || !token || size <= STORE_APIKEY_TOKEN_LEN)
        return TK_EINVAL;
    token[0] = '\0';
    if (!owner_valid(k->owner))
        return store__fail(st, TK_EINVAL, "the owner must be 1 to %d printable bytes",
                           STORE_APIKEY_OWNER_MAX);
    if (!k->scopes || (k->scopes & ~(unsigned)STORE_SCOPE_ALL))
        return store__fail(st, TK_EINVAL, "a key needs at least one known scope");
    if (k->rate_per_min < 1 || k->rate_per_min > 100000000)
        return store__fail(st, TK_EINVAL, "the rate must be 1 to 100000000 requests a minute");

    unsigned char raw[RAW_LEN], hash[STORE_APIKEY_HASH_LEN];
    unsigned char enc[4 * ((RAW_LEN + 2) / 3) + 1];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return store__fail(st, TK_EIO, "no random bytes from the OpenSSL generator");
    int n = EVP_EncodeBlock(enc, raw, RAW_LEN); /* 44 characters, the last one '=' */
    OPENSSL_cleanse(raw, sizeof raw);
    memcpy(token, "tk_", 3);
    for (int i = 0; i < n && enc[i] != '='; i++)
        token[3 + i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : (char)enc[i];
    token[STORE_APIKEY_TOKEN_LEN] = '\0';
    OPENSSL_cleanse(enc, sizeof enc);

    struct store_apikey row = *k;
    memcpy(row.prefix, token, STORE_APIKEY_PREFIX_LEN);
    row.prefix[STORE_APIKEY_PREFIX_LEN] = '\0';
    row.revoked_us = 0;
    enum tk_rc rc = store_apikey_hash(token, STORE_APIKEY_TOKEN_LEN, hash);
    if (!rc)
        rc = st->ops->apikey_add ? st->ops->apikey_add(st, &row, hash)
                                 : store__unsupported(st, "API keys");
    OPENSSL_cleanse(hash, sizeof hash);
    if (rc) {
        OPENSSL_cleanse(token, size);
        return rc;
    }
    if (out)
        *out = row;
    return TK_OK;
}

enum tk_rc store_apikey_check(struct store *st, const char *token, size_t len,
                              struct store_apikey *out)
{
    if (!st || !out)
        return TK_EINVAL;
    memset(out, 0, sizeof *out);
    if (!store_apikey_token_valid(token, len))
        return TK_ENOTFOUND;
    char prefix[STORE_APIKEY_PREFIX_LEN + 1];
    memcpy(prefix, token, STORE_APIKEY_PREFIX_LEN);
    prefix[STORE_APIKEY_PREFIX_LEN] = '\0';
    unsigned char hash[STORE_APIKEY_HASH_LEN];
    enum tk_rc rc = store_apikey_hash(token, len, hash);
    if (rc)
        return rc;
    struct store_apikey rows[CANDIDATES_MAX];
    unsigned char hashes[CANDIDATES_MAX][STORE_APIKEY_HASH_LEN];
    size_t n = 0;
    if (!st->ops->apikey_find)
        return store__unsupported(st, "API keys");
    rc = st->ops->apikey_find(st, prefix, rows, hashes, CANDIDATES_MAX, &n);
    if (rc)
        return rc;
    /* every candidate is compared whole, in constant time, whatever matched before */
    size_t hit = n;
    for (size_t i = 0; i < n; i++)
        if (CRYPTO_memcmp(hashes[i], hash, STORE_APIKEY_HASH_LEN) == 0)
            hit = i;
    if (hit == n)
        return TK_ENOTFOUND;
    *out = rows[hit];
    return out->revoked_us ? TK_ENOTFOUND : TK_OK;
}

enum tk_rc store_apikey_revoke(struct store *st, int64_t id)
{
    if (!st)
        return TK_EINVAL;
    if (id <= 0)
        return store__fail(st, TK_ENOTFOUND, "no key %lld", (long long)id);
    if (!st->ops->apikey_revoke)
        return store__unsupported(st, "API keys");
    return st->ops->apikey_revoke(st, id);
}

enum tk_rc store_apikey_list(struct store *st, store_apikey_cb cb, void *ud)
{
    if (!st || !cb)
        return TK_EINVAL;
    if (!st->ops->apikey_list)
        return store__unsupported(st, "API keys");
    return st->ops->apikey_list(st, cb, ud);
}
