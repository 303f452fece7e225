/* takumi-ingest: MQTT readings -> validated, normalised observations in the store,
 * acknowledged end to end with per-device watermarks. See writer.c for the design. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ingest.h"
#include "tk_config.h"
#include "tk_log.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct writer_arg {
    struct ing_ctx *ctx;
    enum tk_rc rc;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    a->rc = ing_writer_run(a->ctx);
    stop_flag = 1; /* a writer that gave up stops the process */
    return NULL;
}

int main(int argc, char **argv)
{
    static struct ing_ctx ctx;
    struct ing_config *c = &ctx.cfg;
    const struct tk_opt opts[] = {
        {"data", TK_OPT_STR, c->data_dir, sizeof c->data_dir, "var", 0, 0, "data directory"},
        {"db", TK_OPT_STR, c->db, sizeof c->db, "", 0, 0, "store (default DATA/takumi.db)"},
        {"mqtt-host", TK_OPT_STR, c->mqtt_host, sizeof c->mqtt_host, "127.0.0.1", 0, 0,
         "broker host"},
        {"mqtt-port", TK_OPT_INT, &c->mqtt_port, 0, "1883", 1, 65535, "broker port"},
        {"mqtt-tls-ca", TK_OPT_STR, c->mqtt_tls_ca, sizeof c->mqtt_tls_ca, "", 0, 0,
         "CA file: connect over TLS, verifying the broker's certificate and host name "
         "(with --mqtt-port the broker's TLS port)"},
        {"mqtt-user", TK_OPT_STR, c->mqtt_user, sizeof c->mqtt_user, "takumi-ingest", 0, 0,
         "broker username"},
        {"password-file", TK_OPT_STR, c->password_file, sizeof c->password_file, "", 0, 0,
         "file holding the broker password (default DATA/secrets/ingest.pass)"},
        {"client-id", TK_OPT_STR, c->client_id, sizeof c->client_id, "takumi-ingest", 0, 0,
         "MQTT client id (one per worker: it names the persistent session)"},
        {"share-group", TK_OPT_STR, c->share_group, sizeof c->share_group, "", 0, 0,
         "subscribe as $share/GROUP/... so several workers share the load"},
        {"batch-max", TK_OPT_INT, &c->batch_max, 0, "4000", 1, 1000000,
         "messages per transaction"},
        {"commit-interval-ms", TK_OPT_INT, &c->commit_interval_ms, 0, "50", 0, 10000,
         "gather readings this long after a commit (bounds ack latency; 0: commit at once)"},
        {"queue-max", TK_OPT_INT, &c->queue_max, 0, "20000", 16, 10000000,
         "messages held in memory before backpressure"},
        {"payload-max", TK_OPT_INT, &c->payload_max, 0, "65536", 64, 16777216,
         "largest accepted payload in bytes"},
        {"readings-max", TK_OPT_INT, &c->readings_max, 0, "256", 1, 65536,
         "largest batch of readings in one message"},
        {"gap-timeout-s", TK_OPT_INT, &c->gap_timeout_s, 0, "600", 1, 86400 * 30,
         "a seq gap open this long is declared lost"},
        {"stats-interval-s", TK_OPT_INT, &c->stats_interval_s, 0, "10", 0, 86400,
         "seconds between stats lines (0: only at exit)"},
        {"publish-observations", TK_OPT_BOOL, &c->publish_observations, 0, "1", 0, 0,
         "publish each observation on v1.1/Datastreams(id)/Observations"},
        {"retention-days", TK_OPT_INT, &c->retention_days, 0, "0", 0, 36500,
         "remove raw observations older than this many days, rollups stay (0: keep forever)"},
        {"quarantine-retention-days", TK_OPT_INT, &c->quarantine_retention_days, 0, "0", 0,
         36500, "remove quarantined messages older than this many days (0: keep forever)"},
        {"alerts", TK_OPT_BOOL, &c->alerts, 0, "1", 0, 0,
         "evaluate alerts of water-level gauges (one worker only when sharing load)"},
        {"log-level", TK_OPT_INT, &c->log_level, 0, "2", 0, 3, "0 error .. 3 debug"},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];
    char password[256];
    pthread_t writer;
    struct writer_arg wa = {&ctx, TK_OK};
    int started = 0;

    tk_log_set_name("ingest");
    int cfg_rc = tk_config_load_main("takumi-ingest", opts, nopts, argc, argv);
    if (cfg_rc >= 0)
        return cfg_rc;
    tk_log_set_level((enum tk_log_level)c->log_level);
    if (!c->db[0])
        snprintf(c->db, sizeof c->db, "%s/takumi.db", c->data_dir);
    if (!c->password_file[0])
        snprintf(c->password_file, sizeof c->password_file, "%s/secrets/ingest.pass", c->data_dir);
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
    ctx.stop = &stop_flag;
    ctx.password = password;

    int rc = 1;
    if (ing_queue_init(&ctx.q, (size_t)c->queue_max))
        goto cleanup;
    if (pthread_create(&writer, NULL, writer_main, &wa) != 0)
        goto cleanup;
    started = 1;
    if (ing_sub_start(&ctx, password))
        goto cleanup;
    tk_log(TK_LOG_INFO, "ingest running: store %s, broker %s:%lld", c->db, c->mqtt_host,
           (long long)c->mqtt_port);
    while (!stop_flag) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rc = 0;
cleanup:
    stop_flag = 1;
    /* Stop taking new messages, let the writer commit and acknowledge what it holds,
     * then leave the broker: the persistent session keeps the rest. */
    ing_queue_close(&ctx.q);
    if (started) {
        pthread_join(writer, NULL);
        if (wa.rc)
            rc = 1;
    }
    ing_sub_stop(&ctx);
    ing_queue_destroy(&ctx.q);
    tk_log(TK_LOG_INFO, "ingest stopped");
    return rc;
}
