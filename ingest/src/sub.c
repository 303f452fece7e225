/* The MQTT side: one Paho MQTTAsync client with a persistent session (clean session
 * off) subscribed at QoS 1 to every device's reading topic, optionally as an MQTT
 * shared subscription so several ingest workers share the load.
 *
 * Paho acknowledges a QoS 1 message before the application has stored it, and this
 * process keeps no Paho persistence: a message PUBACKed here and lost in a crash is not
 * covered by the device's watermark ack, so the device sends it again. The delivery
 * guarantee rests on that end-to-end ack (writer.c), not on MQTT's. */
#include <MQTTAsync.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest.h"
#include "tk_log.h"
#include "tk_mqtt.h"
#include "tk_time.h"

struct ing_sub {
    MQTTAsync client;
    struct ing_ctx *ctx;
    char topic[160];
    char status_topic[160]; /* device health: retained status and wills */
    char password[256];
    volatile int connected;
};

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct ing_ctx *ctx = context;
    (void)topic_len;
    struct ing_msg msg = {.topic = topic, .message = m, .recv_us = tk_now_utc_us()};
    ing_queue_push(&ctx->q, msg);
    return 1;
}

static void on_lost(void *context, char *cause)
{
    struct ing_ctx *ctx = context;
    ctx->sub->connected = 0;
    tk_log(TK_LOG_WARN, "broker connection lost (%s); reconnecting", cause ? cause : "no cause");
}

static void on_sub_ok(void *context, MQTTAsync_successData *resp)
{
    struct ing_ctx *ctx = context;
    (void)resp;
    tk_log(TK_LOG_INFO, "subscribed to %s and %s", ctx->sub->topic, ctx->sub->status_topic);
}

static void on_sub_fail(void *context, MQTTAsync_failureData *resp)
{
    struct ing_ctx *ctx = context;
    /* With a persistent session the subscription usually exists already; a subscribe
     * stuck behind a backlog times out harmlessly. */
    tk_log(TK_LOG_WARN, "subscribe to %s failed (rc %d); relying on the persistent session",
           ctx->sub->topic, resp ? resp->code : 0);
}

static void on_connected(void *context, char *cause)
{
    struct ing_ctx *ctx = context;
    struct ing_sub *s = ctx->sub;
    (void)cause;
    s->connected = 1;
    tk_log(TK_LOG_INFO, "connected to %s:%lld as %s", ctx->cfg.mqtt_host,
           (long long)ctx->cfg.mqtt_port, ctx->cfg.mqtt_user);
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_sub_ok;
    ro.onFailure = on_sub_fail;
    ro.context = ctx;
    char *topics[2] = {s->topic, s->status_topic};
    int qos[2] = {1, 1};
    int rc = MQTTAsync_subscribeMany(s->client, 2, topics, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        tk_log(TK_LOG_WARN, "subscribe request failed: %s", MQTTAsync_strerror(rc));
}

static void on_connect_fail(void *context, MQTTAsync_failureData *resp)
{
    struct ing_ctx *ctx = context;
    tk_log(TK_LOG_WARN, "connect to %s:%lld failed (%s); retrying", ctx->cfg.mqtt_host,
           (long long)ctx->cfg.mqtt_port,
           resp && resp->message ? resp->message : MQTTAsync_strerror(resp ? resp->code : -1));
}

enum tk_rc ing_sub_start(struct ing_ctx *ctx, const char *password)
{
    struct ing_sub *s = calloc(1, sizeof *s);
    char uri[320];
    enum tk_rc rc = TK_EIO;
    int prc;
    if (!s)
        return TK_ENOMEM;
    s->ctx = ctx;
    ctx->sub = s;
    snprintf(s->password, sizeof s->password, "%s", password);
    if (ctx->cfg.share_group[0]) {
        snprintf(s->topic, sizeof s->topic, "$share/%s/city/+/+/reading", ctx->cfg.share_group);
        snprintf(s->status_topic, sizeof s->status_topic, "$share/%s/city/+/+/status",
                 ctx->cfg.share_group);
    } else {
        snprintf(s->topic, sizeof s->topic, "city/+/+/reading");
        snprintf(s->status_topic, sizeof s->status_topic, "city/+/+/status");
    }
    if (tk_mqtt_uri(uri, sizeof uri, ctx->cfg.mqtt_host, (long long)ctx->cfg.mqtt_port,
                    ctx->cfg.mqtt_tls_ca)) {
        tk_log(TK_LOG_ERR, "broker host name too long: %s", ctx->cfg.mqtt_host);
        goto cleanup;
    }

    /* Paho records every function entry and exit, and formats a line for every packet,
     * into an in-memory trace ring at its default level (MINIMUM), under a global mutex,
     * whether or not anyone reads it (perf: about 5% of the ingest's CPU, in mutexes and
     * vsnprintf). This process reads no Paho trace, so only errors are kept, unless
     * someone asked for the trace with MQTT_C_CLIENT_TRACE (docs/performance.md). */
    if (!getenv("MQTT_C_CLIENT_TRACE"))
        MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.sendWhileDisconnected = 0;
    /* Acks and observations are QoS 0 bursts after each commit; the default of 100
     * buffered commands would refuse most of a burst. */
    co.maxBufferedMessages = 1 << 20;
    prc = MQTTAsync_createWithOptions(&s->client, uri, ctx->cfg.client_id,
                                      MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (prc != MQTTASYNC_SUCCESS) {
        tk_log(TK_LOG_ERR, "MQTT client: %s", MQTTAsync_strerror(prc));
        goto cleanup;
    }
    MQTTAsync_setCallbacks(s->client, ctx, on_lost, on_message, NULL);
    MQTTAsync_setConnected(s->client, ctx, on_connected);

    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    MQTTAsync_SSLOptions so;
    opts.ssl = tk_mqtt_tls(&so, ctx->cfg.mqtt_tls_ca);
    opts.keepAliveInterval = 30;
    opts.cleansession = 0;
    opts.username = ctx->cfg.mqtt_user;
    opts.password = s->password;
    opts.automaticReconnect = 1;
    opts.minRetryInterval = 1;
    opts.maxRetryInterval = 16;
    opts.connectTimeout = 10;
    opts.onFailure = on_connect_fail;
    opts.context = ctx;
    prc = MQTTAsync_connect(s->client, &opts);
    if (prc != MQTTASYNC_SUCCESS) {
        tk_log(TK_LOG_ERR, "MQTT connect: %s", MQTTAsync_strerror(prc));
        goto cleanup;
    }
    rc = TK_OK;
cleanup:
    return rc;
}

void ing_sub_stop(struct ing_ctx *ctx)
{
    struct ing_sub *s = ctx->sub;
    if (!s)
        return;
    if (s->client) {
        if (MQTTAsync_isConnected(s->client)) {
            MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
            d.timeout = 2000;
            (void)MQTTAsync_disconnect(s->client, &d);
            for (int i = 0; i < 40 && MQTTAsync_isConnected(s->client); i++) {
                struct timespec ts = {0, 50 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        MQTTAsync_destroy(&s->client);
    }
    free(s);
    ctx->sub = NULL;
}
