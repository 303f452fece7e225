/* takumi-admin: provision the data directory, broker configuration, devices and gateways.
 *
 *   takumi-admin --data DIR init
 *   takumi-admin --data DIR broker-conf --template FILE --mqtt-port N [--ws-port N] [--bind A]
 *   takumi-admin --data DIR device add|list|remove ...
 *   takumi-admin --data DIR gateway add|list|remove ...
 *   takumi-admin --data DIR apikey add|list|revoke ...
 *   takumi-admin --data DIR alert set|list|show ...
 *   --store URI before the command: another store than DIR/takumi.db (postgresql://...)
 *
 * Exit codes: 0 ok, 2 usage or invalid input, 1 any other failure. */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(
        stderr,
        "usage: takumi-admin --data DIR [--store URI] COMMAND ...\n"
        "  init                         create the store, service identities, broker files\n"
        "  broker-conf --template FILE --mqtt-port N [--ws-port N] [--bind ADDR]\n"
        "  device add --kind K --id ID --lat X --lon Y [--mount-height-m H] [--density D]\n"
        "             [--name N] [--transport mqtt|coap]\n"
        "  device list | device remove --id ID\n"
        "  gateway add --id GW [--devices all|id1,id2] | gateway list | gateway remove --id GW\n"
        "  apikey add --owner NAME --scope read[,read:raw,write,admin] [--rate N]\n"
        "  apikey list | apikey revoke ID\n"
        "  alert set --device ID [--caution M] [--warning M] [--danger M] [--rise M_PER_10MIN]\n"
        "            [--silence-intervals N] [--hysteresis M] [--interval-s S] [--fast-interval-s S]\n"
        "  alert list | alert show ID   alert settings of water-level gauges\n");
}

int main(int argc, char **argv)
{
    const char *data = NULL, *store = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (strncmp(argv[i], "--data=", 7) == 0) {
            data = argv[i] + 7;
        } else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            store = argv[++i]; /* e.g. postgresql://...; default DIR/takumi.db */
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return ADMIN_EXIT_OK;
        } else {
            fprintf(stderr, "takumi-admin: unknown global flag %s\n", argv[i]);
            usage();
            return ADMIN_EXIT_USAGE;
        }
    }
    if (!data || !*data || i >= argc) {
        fprintf(stderr, "takumi-admin: %s\n",
                !data || !*data ? "--data DIR is required" : "a command is required");
        usage();
        return ADMIN_EXIT_USAGE;
    }
    const char *cmd = argv[i++];
    int (*run)(struct admin_ctx *, int, char **) = NULL;
    if (strcmp(cmd, "init") == 0)
        run = admin_cmd_init;
    else if (strcmp(cmd, "broker-conf") == 0)
        run = admin_cmd_broker_conf;
    else if (strcmp(cmd, "device") == 0)
        run = admin_cmd_device;
    else if (strcmp(cmd, "gateway") == 0)
        run = admin_cmd_gateway;
    else if (strcmp(cmd, "apikey") == 0)
        run = admin_cmd_apikey;
    else if (strcmp(cmd, "alert") == 0)
        run = admin_cmd_alert;
    if (!run) {
        fprintf(stderr, "takumi-admin: unknown command '%s'\n", cmd);
        usage();
        return ADMIN_EXIT_USAGE;
    }
    struct admin_ctx ctx;
    enum tk_rc rc = admin_ctx__init(&ctx, data);
    if (rc) {
        fprintf(stderr, "takumi-admin: cannot use data directory %s: %s\n", data, tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    if (store && (size_t)snprintf(ctx.db, sizeof ctx.db, "%s", store) >= sizeof ctx.db) {
        fprintf(stderr, "takumi-admin: --store URI too long\n");
        return ADMIN_EXIT_USAGE;
    }
    int ex = run(&ctx, argc - i, argv + i);
    admin_ctx__unlock(&ctx);
    return ex;
}
