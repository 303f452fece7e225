/* Passwords: generated from the OpenSSL CSPRNG, stored only as mosquitto 2.0 hashes.
 *
 * Mosquitto 2.0 password lines are "user:$7$<iterations>$<base64 salt>$<base64 hash>" with
 * a 12-byte salt and PBKDF2-HMAC-SHA512 giving 64 bytes; mosquitto_passwd uses 101
 * iterations. Generating the same format here means the broker checks our hashes itself
 * and no cleartext device password is ever written to disk. 101 iterations is weak against
 * a stolen file for human passwords, but these are 192-bit random strings: the hash is
 * there so a leaked file does not hand out logins, not to slow down guessing. */
#include "admin.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define SALT_LEN 12
#define HASH_LEN 64
#define ITERATIONS 101

/* Standard base64 with padding into out (size >= 4 * ceil(n / 3) + 1). */
static size_t b64(const unsigned char *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

enum tk_rc admin_passwd__new(char *out, size_t size)
{
    unsigned char raw[24];
    char enc[40];
    if (size <= ADMIN_PASSWORD_LEN)
        return TK_EFULL;
    if (RAND_bytes(raw, sizeof raw) != 1)
        return TK_EIO;
    size_t n = b64(raw, sizeof raw, enc); /* 24 bytes -> 32 chars, no padding */
    OPENSSL_cleanse(raw, sizeof raw);
    for (size_t i = 0; i < n; i++) {
        /* base64url: safe in shell arguments, URLs and the passwd file */
        if (enc[i] == '+')
            enc[i] = '-';
        else if (enc[i] == '/')
            enc[i] = '_';
    }
    memcpy(out, enc, n);
    out[n] = '\0';
    OPENSSL_cleanse(enc, sizeof enc);
    return TK_OK;
}

static enum tk_rc derive(const char *password, const unsigned char *salt, int iterations,
                         unsigned char hash[HASH_LEN])
{
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, SALT_LEN, iterations, EVP_sha512(),
                          HASH_LEN, hash) != 1)
        return TK_EIO;
    return TK_OK;
}

enum tk_rc admin_passwd__hash(const char *password, char *out, size_t size)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    char salt64[24], hash64[96];
    if (RAND_bytes(salt, sizeof salt) != 1)
        return TK_EIO;
    enum tk_rc rc = derive(password, salt, ITERATIONS, hash);
    if (rc)
        return rc;
    b64(salt, sizeof salt, salt64);
    b64(hash, sizeof hash, hash64);
    OPENSSL_cleanse(hash, sizeof hash);
    int n = snprintf(out, size, "$7$%d$%s$%s", ITERATIONS, salt64, hash64);
    return (n < 0 || (size_t)n >= size) ? TK_EFULL : TK_OK;
}

int admin_passwd__verify(const char *password, const char *stored)
{
    /* "$7$ITER$SALT$HASH" */
    if (strncmp(stored, "$7$", 3) != 0)
        return 0;
    const char *p = stored + 3;
    int iterations = 0;
    while (*p >= '0' && *p <= '9' && iterations < 1000000)
        iterations = iterations * 10 + (*p++ - '0');
    if (*p++ != '$' || iterations <= 0)
        return 0;
    const char *dollar = strchr(p, '$');
    if (!dollar || dollar - p != 16)
        return 0;
    unsigned char salt[18], want[68], got[HASH_LEN];
    if (EVP_DecodeBlock(salt, (const unsigned char *)p, 16) != 12)
        return 0;
    const char *h = dollar + 1;
    if (strlen(h) != 88)
        return 0;
    /* EVP_DecodeBlock counts padding as zero bytes: 88 chars -> 66 bytes, 64 real */
    if (EVP_DecodeBlock(want, (const unsigned char *)h, 88) != 66)
        return 0;
    if (derive(password, salt, iterations, got) != TK_OK)
        return 0;
    int ok = CRYPTO_memcmp(got, want, HASH_LEN) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}
