/* takumi-gateway: CoAP/DTLS-PSK readings from constrained gauges -> durable spool ->
 * the broker on each device's topic, deleted only under the platform's watermark ack.
 * See gw.h for the parts, spool.c and mqtt_side.c for the design notes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gw.h"
#include "tk_config.h"
#include "tk_log.h"
#include "tk_time.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* dst = a + b; 0 on success, -1 if it does not fit (reported by the caller). */
static int join(char *dst, size_t size, const char *a, const char *b)
{
    int n = snprintf(dst, size, "%s%s", a, b);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

struct watch_arg {
    struct gw_psk *psk;
    struct gw_mqtt *mqtt;
};

static void watch_spooled(const char *id, void *ud)
{
    struct watch_arg *w = ud;
    struct gw_device *d;
    if (gw_psk_get(w->psk, id, strlen(id), &d) == TK_OK)
        gw_mqtt_watch(w->mqtt, d);
}

static void log_stats(const struct gw_stats *s, const struct gw_spool *sp, int connected)
{
    tk_log(TK_LOG_INFO,
           "stats {\"posts\":%llu,\"readings_in\":%llu,\"duplicates\":%llu,\"refused_full\":%llu,"
           "\"refused_forbidden\":%llu,\"refused_bad\":%llu,\"spooled\":%lld,"
           "\"published_msgs\":%llu,\"published_readings\":%llu,\"publish_failures\":%llu,"
           "\"acks\":%llu,\"deleted\":%llu,\"resends\":%llu,\"spool_commits\":%llu,"
           "\"commit_us_avg\":%lld,\"commit_us_max\":%lld,\"configs\":%llu,\"cfg_sent\":%llu,"
           "\"refused_busy\":%llu,\"backhaul\":%s}",
           (unsigned long long)s->posts, (unsigned long long)s->readings_in,
           (unsigned long long)s->duplicates, (unsigned long long)s->refused_full,
           (unsigned long long)s->refused_forbidden, (unsigned long long)s->refused_bad,
           (long long)gw_spool_count(sp), (unsigned long long)s->published_msgs,
           (unsigned long long)s->published_readings, (unsigned long long)s->publish_failures,
           (unsigned long long)s->acks, (unsigned long long)s->deleted,
           (unsigned long long)s->resends, (unsigned long long)s->spool_commits,
           (long long)(s->spool_commits ? s->commit_us_sum / (int64_t)s->spool_commits : 0),
           (long long)s->commit_us_max, (unsigned long long)s->configs,
           (unsigned long long)s->notifies, (unsigned long long)s->refused_busy,
           connected ? "\"up\"" : "\"down\"");
}

int main(int argc, char **argv)
{
    static struct gw_config cfg;
    static struct gw_stats stats;
    struct gw_config *c = &cfg;
    const struct tk_opt opts[] = {
        {"data", TK_OPT_STR, c->data_dir, sizeof c->data_dir, "var", 0, 0, "data directory"},
        {"spool", TK_OPT_STR, c->spool, sizeof c->spool, "", 0, 0,
         "spool database (default DATA/gateway/spool.db)"},
        {"psk-dir", TK_OPT_STR, c->psk_dir, sizeof c->psk_dir, "", 0, 0,
         "device keys (default DATA/secrets/psk)"},
        {"bind", TK_OPT_STR, c->bind, sizeof c->bind, "127.0.0.1", 0, 0, "CoAP listen address"},
        {"coaps-port", TK_OPT_INT, &c->coaps_port, 0, "5684", 1, 65535, "CoAP over DTLS-PSK port"},
        {"coap-plain-port", TK_OPT_INT, &c->coap_plain_port, 0, "0", 0, 65535,
         "plain CoAP port, for tests only (0: off)"},
        {"mqtt-host", TK_OPT_STR, c->mqtt_host, sizeof c->mqtt_host, "127.0.0.1", 0, 0,
         "broker host"},
        {"mqtt-port", TK_OPT_INT, &c->mqtt_port, 0, "1883", 1, 65535, "broker port"},
        {"mqtt-tls-ca", TK_OPT_STR, c->mqtt_tls_ca, sizeof c->mqtt_tls_ca, "", 0, 0,
         "CA file: connect over TLS, verifying the broker's certificate and host name "
         "(with --mqtt-port the broker's TLS port)"},
        {"mqtt-user", TK_OPT_STR, c->mqtt_user, sizeof c->mqtt_user, "takumi-gateway", 0, 0,
         "the gateway's broker identity (takumi-admin gateway add --id ...)"},
        {"mqtt-password-file", TK_OPT_STR, c->password_file, sizeof c->password_file, "", 0, 0,
         "file holding the broker password (default DATA/secrets/gateway.pass)"},
        {"status-topic", TK_OPT_STR, c->status_topic, sizeof c->status_topic, "", 0, 0,
         "retained online/offline of the gateway (default gateway/USER/status)"},
        {"client-id", TK_OPT_STR, c->client_id, sizeof c->client_id, "", 0, 0,
         "MQTT client id (default: the user)"},
        {"payload-max", TK_OPT_INT, &c->payload_max, 0, "16384", 64, 1048576,
         "largest request body in bytes (after block-wise reassembly)"},
        {"bodies-max", TK_OPT_INT, &c->bodies_max, 0, "16", 1, 100000,
         "block-wise bodies reassembled at once (memory: bodies-max x payload-max)"},
        {"readings-max", TK_OPT_INT, &c->readings_max, 0, "128", 1, 4096, "readings in one POST"},
        {"spool-max", TK_OPT_INT, &c->spool_max, 0, "1000000", 1, 1000000000,
         "readings held in the spool; beyond it POSTs get 5.03"},
        {"spool-fsync", TK_OPT_INT, &c->spool_fsync, 0, "1", 0, 1,
         "1: fsync every spool commit; 0: none, to measure its cost only (not power-safe)"},
        {"sessions-max", TK_OPT_INT, &c->sessions_max, 0, "1000", 1, 1000000,
         "idle DTLS sessions kept"},
        {"handshakes-max", TK_OPT_INT, &c->handshakes_max, 0, "100", 1, 100000,
         "DTLS handshakes in progress"},
        {"session-timeout-s", TK_OPT_INT, &c->session_timeout_s, 0, "300", 1, 86400,
         "idle session lifetime"},
        {"batch-max", TK_OPT_INT, &c->batch_max, 0, "128", 1, 256,
         "readings per forwarded MQTT message"},
        {"inflight-max", TK_OPT_INT, &c->inflight_max, 0, "64", 1, 10000,
         "QoS 1 publishes outstanding"},
        {"ack-timeout-ms", TK_OPT_INT, &c->ack_timeout_ms, 0, "5000", 100, 600000,
         "send again what no ack covers after this"},
        {"stats-interval-s", TK_OPT_INT, &c->stats_interval_s, 0, "10", 0, 86400,
         "seconds between stats lines (0: only at exit)"},
        {"log-level", TK_OPT_INT, &c->log_level, 0, "2", 0, 3, "0 error .. 3 debug"},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];
    char password[256], dir[1040];
    struct gw_psk *psk = NULL;
    struct gw_spool *spool = NULL;
    struct gw_mqtt *mqtt = NULL;
    struct gw_coap *coap = NULL;
    int rc = 1;

    tk_log_set_name("gateway");
    int cfg_rc = tk_config_load_main("takumi-gateway", opts, nopts, argc, argv);
    if (cfg_rc >= 0)
        return cfg_rc;
    tk_log_set_level((enum tk_log_level)c->log_level);
    if ((!c->spool[0] && join(dir, sizeof dir, c->data_dir, "/gateway")) ||
        (!c->psk_dir[0] && join(c->psk_dir, sizeof c->psk_dir, c->data_dir, "/secrets/psk")) ||
        (!c->password_file[0] &&
         join(c->password_file, sizeof c->password_file, c->data_dir, "/secrets/gateway.pass")) ||
        (!c->client_id[0] && join(c->client_id, sizeof c->client_id, c->mqtt_user, ""))) {
        tk_log(TK_LOG_ERR, "--data or --mqtt-user is too long");
        return 2;
    }
    if (!c->status_topic[0]) /* the user is at most 63 bytes: it fits */
        snprintf(c->status_topic, sizeof c->status_topic, "gateway/%s/status", c->mqtt_user);
    if (!c->spool[0]) {
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            tk_log(TK_LOG_ERR, "cannot create %s: %s", dir, strerror(errno));
            return 1;
        }
        if (join(c->spool, sizeof c->spool, dir, "/spool.db")) {
            tk_log(TK_LOG_ERR, "--data is too long");
            return 2;
        }
    }
    enum tk_rc src = tk_secret_read(c->password_file, password, sizeof password);
    if (src) {
        tk_log(TK_LOG_ERR, "cannot read the broker password from %s: %s", c->password_file,
               tk_strerror(src));
        return 1;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (gw_psk_create(c->psk_dir, &psk))
        goto cleanup;
    if (gw_spool_open(c->spool, c->spool_max, &spool)) {
        tk_log(TK_LOG_ERR, "cannot open the spool %s", c->spool);
        goto cleanup;
    }
    if (!c->spool_fsync) {
        if (gw_spool_set_fsync(spool, 0))
            goto cleanup;
        tk_log(TK_LOG_WARN, "--spool-fsync 0: spool commits are not fsynced (measurement only)");
    }
    if (gw_mqtt_start(c, password, &stats, &mqtt))
        goto cleanup;
    struct watch_arg wa = {psk, mqtt};
    if (gw_spool_devices(spool, watch_spooled, &wa))
        tk_log(TK_LOG_WARN, "spool: cannot list its devices: %s", gw_spool_errmsg(spool));
    /* follow every provisioned device's ack and configuration from the start */
    if (gw_psk_load_all(psk))
        tk_log(TK_LOG_WARN, "cannot list the device keys in %s", c->psk_dir);
    for (size_t i = 0; i < gw_psk_count(psk); i++)
        gw_mqtt_watch(mqtt, gw_psk_at(psk, i));
    struct gw_coap_env env = {c, spool, psk, mqtt, &stats};
    if (gw_coap_start(&env, &coap))
        goto cleanup;
    tk_log(TK_LOG_INFO,
           "gateway running: coaps://%s:%lld%s, spool %s (%lld readings), broker %s:%lld", c->bind,
           (long long)c->coaps_port, c->coap_plain_port ? " (+ plain CoAP for tests)" : "",
           c->spool, (long long)gw_spool_count(spool), c->mqtt_host, (long long)c->mqtt_port);
    int64_t next_stats = tk_mono_us() + c->stats_interval_s * 1000000;
    while (!stop_flag) {
        gw_coap_run(coap, 10);
        int64_t now = tk_mono_us();
        if (gw_mqtt_tick(mqtt, spool, psk, now) > 0)
            gw_coap_config_changed(coap);
        if (c->stats_interval_s && now >= next_stats) {
            log_stats(&stats, spool, gw_mqtt_connected(mqtt));
            next_stats = now + c->stats_interval_s * 1000000;
        }
    }
    rc = 0;
cleanup:
    if (spool)
        log_stats(&stats, spool, mqtt && gw_mqtt_connected(mqtt));
    gw_coap_stop(coap);
    gw_mqtt_stop(mqtt);
    gw_spool_close(spool);
    gw_psk_destroy(psk);
    memset(password, 0, sizeof password);
    tk_log(TK_LOG_INFO, "gateway stopped");
    return rc;
}
