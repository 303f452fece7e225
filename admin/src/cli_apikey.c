/* `apikey add|list|revoke`: keys of the data-linkage API, kept in the store (hashed; see
 * store_apikey.h). A running takumi-api reads the key table on every request that presents
 * a key, so a revocation needs no restart. The key is printed once, at creation. */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_apikey.h"
#include "tk_time.h"

/* Requests per minute a key gets when --rate is not given: that of its widest scope. */
static int64_t default_rate(unsigned scopes)
{
    if (scopes & STORE_SCOPE_ADMIN)
        return 6000;
    if (scopes & STORE_SCOPE_WRITE)
        return 1200;
    return 600; /* read, read:raw */
}

static int apikey_add(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *owner = NULL, *scope_s = NULL;
    int rate = 0;
    struct admin_flag flags[] = {
        {"owner", ADMIN_FLAG_STR, &owner, 1, 0, "who holds the key (firm, team), 1..63 bytes"},
        {"scope", ADMIN_FLAG_STR, &scope_s, 1, 0, "comma list of read, read:raw, write, admin"},
        {"rate", ADMIN_FLAG_INT, &rate, 0, 0,
         "requests per minute (default: read 600, write 1200, admin 6000)"},
    };
    size_t nf = sizeof flags / sizeof flags[0];
    const char *synopsis = "apikey add --owner NAME --scope read[,read:raw,write,admin] [--rate N]";
    struct tk_error err = {0};
    if (admin_args__parse(argc, argv, flags, nf, &err)) {
        fprintf(stderr, "takumi-admin apikey add: %s\n", err.text);
        admin_args__usage(synopsis, flags, nf);
        return ADMIN_EXIT_USAGE;
    }
    struct store_apikey k;
    memset(&k, 0, sizeof k);
    if (store_apikey_scopes_parse(scope_s, &k.scopes, &err)) {
        fprintf(stderr, "takumi-admin apikey add: --scope: %s\n", err.text);
        return ADMIN_EXIT_USAGE;
    }
    if (flags[2].seen && (rate < 1 || rate > 100000000)) {
        fprintf(stderr, "takumi-admin apikey add: --rate must be 1..100000000 requests a minute\n");
        return ADMIN_EXIT_USAGE;
    }
    size_t ol = strlen(owner);
    int printable = ol > 0 && ol <= STORE_APIKEY_OWNER_MAX;
    for (size_t i = 0; printable && i < ol; i++)
        printable = (unsigned char)owner[i] >= 0x20 && owner[i] != 0x7f;
    if (!printable) {
        fprintf(stderr, "takumi-admin apikey add: --owner must be 1 to %d printable bytes\n",
                STORE_APIKEY_OWNER_MAX);
        return ADMIN_EXIT_USAGE;
    }
    memcpy(k.owner, owner, ol + 1);
    k.rate_per_min = flags[2].seen ? rate : default_rate(k.scopes);

    struct store *st = NULL;
    char token[STORE_APIKEY_TOKEN_LEN + 8], scopes[64];
    struct store_apikey got;
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (rc) {
        fprintf(stderr, "takumi-admin apikey add: cannot open %s: %s\n", ctx->data,
                tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    admin_ctx__unlock(ctx); /* keys are the store's business, not the broker's */
    rc = store_apikey_add(st, &k, token, sizeof token, &got);
    if (rc) {
        fprintf(stderr, "takumi-admin apikey add: %s (%s)\n", tk_strerror(rc), store_errmsg(st));
        store_close(st);
        return admin_exit_for(rc);
    }
    if (store_apikey_scopes_format(got.scopes, scopes, sizeof scopes))
        snprintf(scopes, sizeof scopes, "?");
    printf("api key %lld for %s: scopes %s, %lld requests a minute\n"
           "key: %s\n"
           "(the key is shown only this once; only its SHA-256 is kept. Send it as\n"
           " 'Authorization: Bearer KEY' or 'X-API-Key: KEY'; revoke it with\n"
           " ./takumi apikey revoke %lld)\n",
           (long long)got.id, got.owner, scopes, (long long)got.rate_per_min, token,
           (long long)got.id);
    memset(token, 0, sizeof token);
    store_close(st);
    return ADMIN_EXIT_OK;
}

static int print_key(const struct store_apikey *k, void *ud)
{
    (void)ud;
    char scopes[64], created[40], revoked[40] = "-";
    if (store_apikey_scopes_format(k->scopes, scopes, sizeof scopes))
        snprintf(scopes, sizeof scopes, "?");
    if (tk_time_format(k->created_us, created, sizeof created))
        snprintf(created, sizeof created, "?");
    if (k->revoked_us && tk_time_format(k->revoked_us, revoked, sizeof revoked))
        snprintf(revoked, sizeof revoked, "?");
    printf("%-6lld %-12s %-24s %-26s %8lld %-28s %s\n", (long long)k->id, k->prefix, k->owner,
           scopes, (long long)k->rate_per_min, created, revoked);
    return 0;
}

static int apikey_list(struct admin_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "takumi-admin apikey list: takes no arguments\n");
        return ADMIN_EXIT_USAGE;
    }
    struct store *st = NULL;
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (rc) {
        fprintf(stderr, "takumi-admin apikey list: cannot open %s: %s\n", ctx->data,
                tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    admin_ctx__unlock(ctx);
    printf("%-6s %-12s %-24s %-26s %8s %-28s %s\n", "ID", "PREFIX", "OWNER", "SCOPES", "RATE/MIN",
           "CREATED", "REVOKED");
    rc = store_apikey_list(st, print_key, NULL);
    if (rc)
        fprintf(stderr, "takumi-admin apikey list: %s (%s)\n", tk_strerror(rc), store_errmsg(st));
    store_close(st);
    return rc ? ADMIN_EXIT_FAIL : ADMIN_EXIT_OK;
}

static int apikey_revoke(struct admin_ctx *ctx, int argc, char **argv)
{
    char *end = NULL;
    long long id = 0;
    if (argc == 1) {
        errno = 0;
        id = strtoll(argv[0], &end, 10);
    }
    if (argc != 1 || errno || !end || end == argv[0] || *end || id <= 0) {
        fprintf(stderr, "usage: takumi-admin --data DIR apikey revoke ID (the number shown by "
                        "apikey list)\n");
        return ADMIN_EXIT_USAGE;
    }
    struct store *st = NULL;
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (rc) {
        fprintf(stderr, "takumi-admin apikey revoke: cannot open %s: %s\n", ctx->data,
                tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    admin_ctx__unlock(ctx);
    rc = store_apikey_revoke(st, (int64_t)id);
    if (rc == TK_ENOTFOUND)
        fprintf(stderr, "takumi-admin apikey revoke: no key %lld (see apikey list)\n", id);
    else if (rc)
        fprintf(stderr, "takumi-admin apikey revoke: %s (%s)\n", tk_strerror(rc),
                store_errmsg(st));
    else
        printf("api key %lld revoked (refused from the next request on)\n", id);
    store_close(st);
    return rc ? ADMIN_EXIT_FAIL : ADMIN_EXIT_OK;
}

int admin_cmd_apikey(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    if (strcmp(sub, "add") == 0)
        return apikey_add(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return apikey_list(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "revoke") == 0)
        return apikey_revoke(ctx, argc - 1, argv + 1);
    fprintf(stderr, "usage: takumi-admin --data DIR apikey add|list|revoke ...\n");
    return ADMIN_EXIT_USAGE;
}
