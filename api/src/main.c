/* takumi-api: the data-linkage API (OGC SensorThings API v1.1 under /v1.1) over the store.
 * Parse the options, open the read-only store connections, serve until SIGINT/SIGTERM. */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "tk_config.h"
#include "tk_log.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void base_url(struct api_config *c, unsigned port)
{
    const char *scheme = c->tls_cert_pem ? "https" : "http";
    if (strchr(c->bind, ':'))
        snprintf(c->base_url, sizeof c->base_url, "%s://[%s]:%u", scheme, c->bind, port);
    else
        snprintf(c->base_url, sizeof c->base_url, "%s://%s:%u", scheme, c->bind, port);
}

/* The certificate and key for HTTPS, read whole (libmicrohttpd takes PEM in memory). */
static int load_tls(struct api_config *c)
{
    if (!c->tls_cert[0] && !c->tls_key[0])
        return 0;
    if (!c->tls_cert[0] || !c->tls_key[0]) {
        tk_log(TK_LOG_ERR, "HTTPS needs both --tls-cert and --tls-key");
        return -1;
    }
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        tk_log(TK_LOG_ERR, "this libmicrohttpd was built without TLS; serve HTTP behind a "
                           "reverse proxy instead (docs/security.md)");
        return -1;
    }
    size_t n;
    enum tk_rc r = tk_file_read(c->tls_cert, 1 << 20, &c->tls_cert_pem, &n);
    if (!r)
        r = tk_file_read(c->tls_key, 1 << 20, &c->tls_key_pem, &n);
    if (r) {
        tk_log(TK_LOG_ERR, "cannot read %s: %s", c->tls_cert_pem ? c->tls_key : c->tls_cert,
               tk_strerror(r));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct api_config c;
    const struct tk_opt opts[] = {
        {"data", TK_OPT_STR, c.data_dir, sizeof c.data_dir, "var", 0, 0, "data directory"},
        {"db", TK_OPT_STR, c.db, sizeof c.db, "", 0, 0, "store (default DATA/takumi.db)"},
        {"http-port", TK_OPT_INT, &c.http_port, 0, "8080", 0, 65535,
         "HTTP port (0: any free port, printed at start)"},
        {"bind", TK_OPT_STR, c.bind, sizeof c.bind, "127.0.0.1", 0, 0,
         "address to listen on (IPv4 or IPv6)"},
        {"base-url", TK_OPT_STR, c.base_url, sizeof c.base_url, "", 0, 0,
         "URL clients reach the API at, for links (default http://BIND:PORT)"},
        {"page-max", TK_OPT_INT, &c.page_max, 0, "100", 1, 10000,
         "most entities in one response page ($top is capped to it)"},
        {"threads", TK_OPT_INT, &c.threads, 0, "4", 1, 64,
         "HTTP worker threads (each with its own store connection)"},
        {"reply-max", TK_OPT_INT, &c.reply_max, 0, "16777216", 4096, 1073741824,
         "largest response body in bytes"},
        {"body-max", TK_OPT_INT, &c.body_max, 0, "1048576", 0, 1073741824,
         "largest request body in bytes"},
        {"conn-max", TK_OPT_INT, &c.conn_max, 0, "512", 1, 100000, "concurrent connections"},
        {"conn-per-ip-max", TK_OPT_INT, &c.conn_per_ip_max, 0, "64", 0, 100000,
         "concurrent connections from one address (0: no limit; behind a reverse proxy "
         "every client has the proxy's address)"},
        {"timeout-s", TK_OPT_INT, &c.timeout_s, 0, "30", 1, 3600,
         "idle connection timeout in seconds"},
        {"export-rows-max", TK_OPT_INT, &c.export_rows_max, 0, "1000000", 1, 1000000000,
         "rows in one CSV export (a larger result without $top fails the transfer)"},
        {"exports-max", TK_OPT_INT, &c.exports_max, 0, "2", 1, 1000,
         "CSV exports streaming at once (each with its own store connection)"},
        {"sse-max", TK_OPT_INT, &c.sse_max, 0, "256", 1, 100000,
         "Server-Sent Events clients at once"},
        {"sse-keepalive-s", TK_OPT_INT, &c.sse_keepalive_s, 0, "15", 1, 3600,
         "keep-alive comment on an idle event stream after this many seconds"},
        {"mqtt-host", TK_OPT_STR, c.mqtt_host, sizeof c.mqtt_host, "", 0, 0,
         "broker feeding the event streams (empty: no event streams)"},
        {"mqtt-port", TK_OPT_INT, &c.mqtt_port, 0, "1883", 1, 65535, "broker port"},
        {"mqtt-user", TK_OPT_STR, c.mqtt_user, sizeof c.mqtt_user, "takumi-dashboard", 0, 0,
         "broker identity (read-only: v1.1/# and city/alerts/#)"},
        {"mqtt-password-file", TK_OPT_STR, c.mqtt_password_file, sizeof c.mqtt_password_file, "", 0,
         0, "file holding its password (default DATA/secrets/dashboard.pass)"},
        {"log-level", TK_OPT_INT, &c.log_level, 0, "2", 0, 3, "0 error .. 3 debug"},
        {"anon-rate", TK_OPT_INT, &c.anon_rate, 0, "300", 0, 100000000,
         "requests per minute from one client address without a key (0: no limit)"},
        {"rate-slots", TK_OPT_INT, &c.rate_slots, 0, "65536", 16, 16777216,
         "callers (addresses and keys) the rate limiter tracks at once"},
        {"static", TK_OPT_STR, c.static_dir, sizeof c.static_dir, "", 0, 0,
         "the dashboard's built files, served at /dashboard/ (\"\": none)"},
        {"ws-port", TK_OPT_INT, &c.ws_port, 0, "0", 0, 65535,
         "the broker's MQTT WebSocket port the dashboard connects to (0: none)"},
        {"ws-url", TK_OPT_STR, c.ws_url, sizeof c.ws_url, "", 0, 0,
         "the MQTT WebSocket URL as browsers reach it (default ws://PAGE-HOST:WS-PORT)"},
        {"ws-user", TK_OPT_STR, c.ws_user, sizeof c.ws_user, "takumi-dashboard", 0, 0,
         "the broker's read-only identity the dashboard logs in with"},
        {"ws-password-file", TK_OPT_STR, c.ws_password_file, sizeof c.ws_password_file, "", 0, 0,
         "its password (default DATA/secrets/dashboard.pass)"},
        {"tls-cert", TK_OPT_STR, c.tls_cert, sizeof c.tls_cert, "", 0, 0,
         "PEM certificate (chain) file: serve HTTPS instead of HTTP"},
        {"tls-key", TK_OPT_STR, c.tls_key, sizeof c.tls_key, "", 0, 0,
         "PEM private key file of --tls-cert"},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];
    struct api_pool *pool = NULL;
    struct api_server *srv = NULL;
    struct api_live *live = NULL;
    char why[512] = "";
    int rc = 1;

    tk_log_set_name("api");
    int cfg_rc = tk_config_load_main("takumi-api", opts, nopts, argc, argv);
    if (cfg_rc >= 0)
        return cfg_rc;
    tk_log_set_level((enum tk_log_level)c.log_level);
    size_t bl = strlen(c.base_url);
    while (bl && c.base_url[bl - 1] == '/')
        c.base_url[--bl] = '\0';
    if (!c.db[0])
        snprintf(c.db, sizeof c.db, "%s/takumi.db", c.data_dir);
    if (!c.mqtt_password_file[0])
        snprintf(c.mqtt_password_file, sizeof c.mqtt_password_file, "%s/secrets/dashboard.pass",
                 c.data_dir);
    if (load_tls(&c))
        goto cleanup;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    enum tk_rc r = api_pool_create(c.db, (size_t)c.threads, &pool, why, sizeof why);
    if (r) {
        tk_log(TK_LOG_ERR, "cannot open the store %s: %s", c.db, why);
        goto cleanup;
    }
    /* links need the port: known now unless it is 0 (then set before anyone can know it) */
    if (!c.base_url[0] && c.http_port)
        base_url(&c, (unsigned)c.http_port);
    r = api_server_start(&c, pool, &srv);
    if (r) {
        tk_log(TK_LOG_ERR, "cannot listen on %s port %lld: %s", c.bind, (long long)c.http_port,
               tk_strerror(r));
        goto cleanup;
    }
    if (!c.base_url[0])
        base_url(&c, api_server_port(srv));
    r = api_live_start(&c, &live);
    if (r) {
        tk_log(TK_LOG_ERR, "cannot start exports and event streams: %s", tk_strerror(r));
        goto cleanup;
    }
    api_server_set_live(srv, live);
    tk_log(TK_LOG_INFO, "api listening (%s) on %s port %u: %s/v1.1 (store %s)",
           c.tls_cert_pem ? "HTTPS" : "HTTP", c.bind, api_server_port(srv), c.base_url, c.db);
    if (c.static_dir[0])
        tk_log(TK_LOG_INFO, "dashboard at %s/dashboard/ (files in %s)", c.base_url, c.static_dir);
    while (!stop_flag) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rc = 0;
cleanup:
    api_live_close_streams(live);
    api_server_stop(srv);
    api_live_stop(live);
    api_pool_destroy(pool);
    free(c.tls_cert_pem);
    free(c.tls_key_pem);
    tk_log(TK_LOG_INFO, "api stopped");
    return rc;
}
