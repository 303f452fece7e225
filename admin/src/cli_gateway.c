/* `gateway add|list|remove`: identities that publish on behalf of devices (the field
 * gateway forwarding CoAP readings, load publishers in tests and benchmarks). A gateway
 * gets exactly the four device topics of each device it fronts, so it can do nothing a
 * device could not; "all" follows the registry, since the ACL is regenerated on every
 * device change. */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Check every id of "id1,id2" is valid and registered. */
static int check_devices(struct store *st, const char *list)
{
    if (strcmp(list, "all") == 0)
        return 1;
    char id[TK_ID_MAX + 2];
    const char *s = list;
    if (!*s) {
        fprintf(stderr, "takumi-admin gateway add: --devices must be 'all' or id1,id2,...\n");
        return 0;
    }
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n > TK_ID_MAX)
            n = TK_ID_MAX + 1;
        memcpy(id, s, n);
        id[n] = '\0';
        struct store_device d;
        if (!tk_device_id_valid(id)) {
            fprintf(stderr,
                    "takumi-admin gateway add: invalid device id '%s' in --devices: ids "
                    "must match [a-z0-9-]{3,48}\n",
                    id);
            return 0;
        }
        if (store_device_get(st, id, &d) != TK_OK) {
            fprintf(stderr, "takumi-admin gateway add: no device '%s' (register it first)\n", id);
            return 0;
        }
        s += (comma ? (size_t)(comma - s) + 1 : strlen(s));
    }
    return 1;
}

static int gateway_add(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *id = NULL, *devices = "all", *password_file = NULL;
    struct admin_flag flags[] = {
        {"id", ADMIN_FLAG_STR, &id, 1, 0, "gateway id, [a-z0-9-]{3,48}"},
        {"devices", ADMIN_FLAG_STR, &devices, 0, 0, "'all' (default) or id1,id2,..."},
        {"password-file", ADMIN_FLAG_STR, &password_file, 0, 0,
         "write the password there (mode 0600) instead of printing it"},
    };
    struct tk_error err = {0};
    if (admin_args__parse(argc, argv, flags, 3, &err)) {
        fprintf(stderr, "takumi-admin gateway add: %s\n", err.text);
        admin_args__usage("gateway add --id GW [--devices all|id1,id2] [--password-file F]",
                          flags, 3);
        return ADMIN_EXIT_USAGE;
    }
    if (!tk_device_id_valid(id)) {
        fprintf(stderr, "takumi-admin gateway add: invalid id: gateway ids must match "
                        "[a-z0-9-]{3,48} (they become broker usernames)\n");
        return ADMIN_EXIT_USAGE;
    }
    int ex = ADMIN_EXIT_FAIL;
    struct store *st = NULL;
    struct admin_creds creds = {0};
    char password[ADMIN_PASSWORD_LEN + 8], hash[ADMIN_HASH_MAX];
    memset(password, 0, sizeof password);
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (!rc)
        rc = admin_creds__load(ctx->creds, &creds);
    if (rc) {
        fprintf(stderr, "takumi-admin gateway add: cannot open %s: %s\n", ctx->data,
                tk_strerror(rc));
        goto cleanup;
    }
    if (!check_devices(st, devices)) {
        ex = ADMIN_EXIT_USAGE;
        goto cleanup;
    }
    struct store_device d;
    struct admin_cred *existing = admin_creds__find(&creds, id);
    if (existing || store_device_get(st, id, &d) == TK_OK) {
        fprintf(stderr, "takumi-admin gateway add: '%s' already exists as a %s\n", id,
                existing ? admin_role_name(existing->role) : "device");
        goto cleanup;
    }
    rc = admin_passwd__new(password, sizeof password);
    if (!rc)
        rc = admin_passwd__hash(password, hash, sizeof hash);
    if (!rc)
        rc = admin_creds__put(&creds, id, ADMIN_ROLE_GATEWAY, hash, devices);
    if (!rc)
        rc = admin_creds__save(ctx->creds, &creds);
    if (rc) {
        fprintf(stderr, "takumi-admin gateway add: cannot store the credentials: %s\n",
                tk_strerror(rc));
        goto cleanup;
    }
    if (password_file) { /* before the broker learns it: a failure leaves nothing usable */
        size_t plen = strlen(password);
        password[plen] = '\n';
        rc = admin_fs__write_atomic(password_file, password, plen + 1, 0600);
        password[plen] = '\0';
        if (rc) {
            fprintf(stderr, "takumi-admin gateway add: cannot write %s: %s\n", password_file,
                    tk_strerror(rc));
            goto cleanup;
        }
    }
    if (admin_broker__apply(ctx, "gateway add", &creds, st) != ADMIN_EXIT_OK)
        goto cleanup;
    printf("gateway %s registered for %s%s\nmqtt username: %s\n", id,
           strcmp(devices, "all") == 0 ? "all devices" : "devices ",
           strcmp(devices, "all") == 0 ? "" : devices, id);
    if (password_file)
        printf("mqtt password in %s (mode 0600)\n", password_file);
    else
        printf("mqtt password: %s\n(the password is shown only this once; only its hash is "
               "kept)\n", password);
    ex = ADMIN_EXIT_OK;
cleanup:
    memset(password, 0, sizeof password);
    admin_creds__free(&creds);
    store_close(st);
    return ex;
}

static int gateway_list(struct admin_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "takumi-admin gateway list: takes no arguments\n");
        return ADMIN_EXIT_USAGE;
    }
    struct admin_creds creds = {0};
    enum tk_rc rc = admin_creds__load(ctx->creds, &creds);
    if (rc) {
        fprintf(stderr, "takumi-admin gateway list: cannot read %s: %s\n", ctx->creds,
                tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    printf("%-24s %s\n", "ID", "DEVICES");
    for (size_t i = 0; i < creds.n; i++)
        if (creds.v[i].role == ADMIN_ROLE_GATEWAY)
            printf("%-24s %s\n", creds.v[i].name, creds.v[i].devices ? creds.v[i].devices : "-");
    admin_creds__free(&creds);
    return ADMIN_EXIT_OK;
}

static int gateway_remove(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *id = NULL;
    struct admin_flag flags[] = {{"id", ADMIN_FLAG_STR, &id, 1, 0, "gateway id"}};
    struct tk_error err = {0};
    if (admin_args__parse(argc, argv, flags, 1, &err)) {
        fprintf(stderr, "takumi-admin gateway remove: %s\n", err.text);
        return ADMIN_EXIT_USAGE;
    }
    if (!tk_device_id_valid(id)) {
        fprintf(stderr, "takumi-admin gateway remove: invalid id: ids match [a-z0-9-]{3,48}\n");
        return ADMIN_EXIT_USAGE;
    }
    int ex = ADMIN_EXIT_FAIL;
    struct store *st = NULL;
    struct admin_creds creds = {0};
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (!rc)
        rc = admin_creds__load(ctx->creds, &creds);
    if (rc) {
        fprintf(stderr, "takumi-admin gateway remove: cannot open %s: %s\n", ctx->data,
                tk_strerror(rc));
        goto cleanup;
    }
    struct admin_cred *c = admin_creds__find(&creds, id);
    if (!c || c->role != ADMIN_ROLE_GATEWAY) {
        fprintf(stderr, "takumi-admin gateway remove: no gateway '%s'\n", id);
        goto cleanup;
    }
    admin_creds__remove(&creds, id);
    rc = admin_creds__save(ctx->creds, &creds);
    if (rc) {
        fprintf(stderr, "takumi-admin gateway remove: cannot write %s: %s\n", ctx->creds,
                tk_strerror(rc));
        goto cleanup;
    }
    ex = admin_broker__apply(ctx, "gateway remove", &creds, st);
    if (!ex)
        printf("gateway %s removed\n", id);
cleanup:
    admin_creds__free(&creds);
    store_close(st);
    return ex;
}

int admin_cmd_gateway(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    if (strcmp(sub, "add") == 0)
        return gateway_add(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return gateway_list(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "remove") == 0)
        return gateway_remove(ctx, argc - 1, argv + 1);
    fprintf(stderr, "usage: takumi-admin --data DIR gateway add|list|remove ...\n");
    return ADMIN_EXIT_USAGE;
}
