/* `init` and `broker-conf`: prepare a data directory for the broker and services. */
#include "admin.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int admin_cmd_init(struct admin_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "takumi-admin init: takes no arguments\n");
        admin_args__usage("init", NULL, 0);
        return ADMIN_EXIT_USAGE;
    }
    struct store *st = NULL;
    struct admin_creds creds = {0};
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (rc) {
        fprintf(stderr, "takumi-admin init: cannot prepare %s: %s\n", ctx->data, tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    /* init always rewrites the broker files, so rerunning it repairs them */
    rc = admin_creds__load(ctx->creds, &creds);
    if (!rc)
        rc = admin_broker__regenerate(ctx, &creds, st);
    admin_creds__free(&creds);
    store_close(st);
    if (rc) {
        fprintf(stderr, "takumi-admin init: cannot write the broker files: %s\n", tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    if (admin_broker__reload(ctx) < 0)
        fprintf(stderr, "takumi-admin init: warning: could not signal the broker to reload\n");
    printf("data directory  %s\n"
           "store           %s\n"
           "broker files    %s/{passwd,acl}\n"
           "service secrets %s/{ingest,dashboard}.pass\n",
           ctx->data, ctx->db, ctx->broker, ctx->secrets);
    return ADMIN_EXIT_OK;
}

int admin_cmd_broker_conf(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *tmpl = NULL, *bind = "127.0.0.1", *user = NULL, *outp = NULL;
    const char *plain_bind = NULL, *tls_dir = NULL;
    int mqtt_port = 0, ws_port = 0, mqtts_port = 0;
    struct admin_flag flags[] = {
        {"template", ADMIN_FLAG_STR, &tmpl, 1, 0,
         "template to render (broker-config/mosquitto.conf)"},
        {"mqtt-port", ADMIN_FLAG_INT, &mqtt_port, 1, 0, "MQTT listener port"},
        {"ws-port", ADMIN_FLAG_INT, &ws_port, 0, 0,
         "MQTT over WebSockets port; 0 = none (default)"},
        {"bind", ADMIN_FLAG_STR, &bind, 0, 0, "listener address (default 127.0.0.1)"},
        {"mqtts-port", ADMIN_FLAG_INT, &mqtts_port, 0, 0,
         "MQTT over TLS port on --bind; 0 = none (default)"},
        {"plain-bind", ADMIN_FLAG_STR, &plain_bind, 0, 0,
         "address of the plaintext MQTT and WebSockets listeners (default: --bind); "
         "127.0.0.1 with --bind 0.0.0.0 makes devices use TLS"},
        {"tls-dir", ADMIN_FLAG_STR, &tls_dir, 0, 0,
         "folder with ca.crt, server.crt, server.key (default DIR/tls)"},
        {"user", ADMIN_FLAG_STR, &user, 0, 0, "user the broker runs as (default: the caller)"},
        {"out", ADMIN_FLAG_STR, &outp, 0, 0, "output file (default DIR/broker/mosquitto.conf)"},
    };
    size_t nf = sizeof flags / sizeof flags[0];
    const char *synopsis = "broker-conf --template FILE --mqtt-port N [--ws-port N] [--bind ADDR] "
                           "[--mqtts-port N [--tls-dir DIR] [--plain-bind ADDR]]";
    struct tk_error err = {0};
    if (admin_args__parse(argc, argv, flags, nf, &err)) {
        fprintf(stderr, "takumi-admin broker-conf: %s\n", err.text);
        admin_args__usage(synopsis, flags, nf);
        return ADMIN_EXIT_USAGE;
    }
    if (mqtt_port < 1 || mqtt_port > 65535 || ws_port < 0 || ws_port > 65535 ||
        ws_port == mqtt_port || mqtts_port < 0 || mqtts_port > 65535 ||
        (mqtts_port && (mqtts_port == mqtt_port || mqtts_port == ws_port))) {
        fprintf(stderr, "takumi-admin broker-conf: ports must be in 1..65535 (ws-port and "
                        "mqtts-port 0 = none) and differ\n");
        return ADMIN_EXIT_USAGE;
    }
    if (!*bind || strpbrk(bind, " \t\n#") ||
        (plain_bind && (!*plain_bind || strpbrk(plain_bind, " \t\n#")))) {
        fprintf(stderr, "takumi-admin broker-conf: --bind and --plain-bind must be one address\n");
        return ADMIN_EXIT_USAGE;
    }
    char tls[ADMIN_PATH_MAX];
    if (admin_fs__path(tls, sizeof tls, "%s", tls_dir ? tls_dir : "") ||
        (!tls_dir && admin_fs__path(tls, sizeof tls, "%s/tls", ctx->data)) || strpbrk(tls, "\n#")) {
        fprintf(stderr, "takumi-admin broker-conf: --tls-dir: bad path\n");
        return ADMIN_EXIT_USAGE;
    }
    if (mqtts_port) {
        static const char *const need[] = {"ca.crt", "server.crt", "server.key"};
        for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
            char f[ADMIN_PATH_MAX];
            if (admin_fs__path(f, sizeof f, "%s/%s", tls, need[i]) || access(f, R_OK) != 0) {
                fprintf(stderr,
                        "takumi-admin broker-conf: %s/%s is missing; create the certificates "
                        "first (broker-config/tls-certs.sh %s)\n",
                        tls, need[i], tls);
                return ADMIN_EXIT_FAIL;
            }
        }
    }
    if (!user) {
        struct passwd *pw = getpwuid(geteuid());
        if (!pw) {
            fprintf(stderr, "takumi-admin broker-conf: cannot name the current user; use --user\n");
            return ADMIN_EXIT_FAIL;
        }
        user = pw->pw_name;
    }
    char out[ADMIN_PATH_MAX];
    enum tk_rc rc = outp ? admin_fs__path(out, sizeof out, "%s", outp)
                         : admin_fs__path(out, sizeof out, "%s/mosquitto.conf", ctx->broker);
    if (!rc)
        rc = admin_fs__mkdir(ctx->broker, 0700);
    if (!rc)
        rc = admin_fs__mkdir(ctx->log, 0755);
    if (rc) {
        fprintf(stderr, "takumi-admin broker-conf: %s: %s\n", ctx->broker, tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    struct admin_conf_vars v = {mqtt_port, ws_port,    bind,       ctx->data,
                                user,      mqtts_port, plain_bind, tls};
    rc = admin_broker__render_conf(tmpl, out, &v, &err);
    if (rc) {
        fprintf(stderr, "takumi-admin broker-conf: %s\n", err.text);
        return ADMIN_EXIT_FAIL;
    }
    printf("%s\n", out);
    return ADMIN_EXIT_OK;
}
