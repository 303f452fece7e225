/* API keys of the data-linkage API, kept in the store so that the admin tool creates and
 * revokes them and every API process sees the change on its next request.
 *
 * A key is "tk_" followed by 43 base64url characters (32 random bytes from the OpenSSL
 * CSPRNG). It is returned once, by store_apikey_add; the store keeps only its SHA-256 and
 * its first STORE_APIKEY_PREFIX_LEN characters (not secret: they name the key in listings
 * and find its row). store_apikey_check hashes what a client sent and compares the hashes
 * in constant time.
 *
 * Threading: as store.h, one struct store per thread. */
#ifndef STORE_APIKEY_H
#define STORE_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_APIKEY_TOKEN_LEN 46 /* "tk_" + 43 base64url characters */
#define STORE_APIKEY_PREFIX_LEN 10
#define STORE_APIKEY_HASH_LEN 32 /* SHA-256 */
#define STORE_APIKEY_OWNER_MAX 63

/* Scopes (SPEC section 5), as bits. */
enum store_apikey_scope {
    STORE_SCOPE_READ = 1u << 0,
    STORE_SCOPE_RAW = 1u << 1, /* "read:raw": unsuppressed counts */
    STORE_SCOPE_WRITE = 1u << 2,
    STORE_SCOPE_ADMIN = 1u << 3,
    STORE_SCOPE_ALL = 15u,
};

struct store_apikey {
    int64_t id;
    char prefix[STORE_APIKEY_PREFIX_LEN + 1];
    char owner[STORE_APIKEY_OWNER_MAX + 1];
    unsigned scopes;      /* enum store_apikey_scope bits, as granted */
    int64_t rate_per_min; /* requests per minute */
    int64_t created_us;
    int64_t revoked_us; /* 0: in force */
};

/** Parse "read,write" (names: read, read:raw, write, admin; no repeats, no empty items)
 *  into *out. TK_EINVAL with err->text naming the bad item. */
enum tk_rc store_apikey_scopes_parse(const char *s, unsigned *out, struct tk_error *err) TK_WUR;
/** Format scope bits as "read,read:raw,write,admin" (in that order) into buf; TK_EFULL if
 *  it does not fit, TK_EINVAL for no scope or unknown bits. */
enum tk_rc store_apikey_scopes_format(unsigned scopes, char *buf, size_t size) TK_WUR;
/** 1 if token (len bytes, not NUL-terminated) has the shape of a key, else 0. */
int store_apikey_token_valid(const char *token, size_t len);
/** SHA-256 of token (len bytes) into out. TK_EIO if the digest failed. */
enum tk_rc store_apikey_hash(const char *token, size_t len,
                             unsigned char out[STORE_APIKEY_HASH_LEN]) TK_WUR;

/** Create a key for k->owner (1..STORE_APIKEY_OWNER_MAX printable bytes), k->scopes (at
 *  least one) and k->rate_per_min (>= 1). The key is written to token (size >
 *  STORE_APIKEY_TOKEN_LEN, NUL-terminated): show it to the operator once, it cannot be
 *  recovered. *out (may be NULL) gets the stored row (id, prefix, created_us).
 *  @return TK_OK; TK_EINVAL for a bad owner, scope or rate; TK_EIO if no random bytes;
 *          TK_EDB */
enum tk_rc store_apikey_add(struct store *st, const struct store_apikey *k, char *token,
                            size_t size, struct store_apikey *out) TK_WUR;
/** Find the key a client presented (len bytes). TK_OK with *out filled when it is a key
 *  in force. TK_ENOTFOUND when it is no key (malformed, unknown, or a wrong secret behind
 *  a known prefix) or a revoked one (then out->revoked_us != 0 and out->id is set);
 *  TK_EDB / TK_EBUSY on a store error. Reads only: works on a read-only store. */
enum tk_rc store_apikey_check(struct store *st, const char *token, size_t len,
                              struct store_apikey *out) TK_WUR;
/** Revoke key id (now). TK_ENOTFOUND if there is no such key; revoking twice keeps the
 *  first time and returns TK_OK. */
enum tk_rc store_apikey_revoke(struct store *st, int64_t id) TK_WUR;
/** Call cb for every key (revoked ones too) ordered by id; a non-zero return stops the
 *  walk and is returned. The row is borrowed for the call. */
typedef int (*store_apikey_cb)(const struct store_apikey *k, void *ud);
enum tk_rc store_apikey_list(struct store *st, store_apikey_cb cb, void *ud) TK_WUR;

#endif
