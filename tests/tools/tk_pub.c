/* tk-pub: a load publisher that behaves like a fleet of devices behind one gateway
 * identity, for integration tests and benchmarks.
 *
 * In "ack" mode it does what the firmware does (SPEC section 4): each device sends
 * readings with increasing seq, watches its retained watermark ack
 * city/{kind}/{id}/ack, and when the ack makes no progress for --ack-timeout-ms it
 * sends again everything after the watermark. It finishes when every device's ack
 * covers its last reading. In "raw" mode it only publishes at QoS 1 (the transport
 * baseline; a counting subscriber measures the other end).
 *
 * Readings are deterministic: device d, seq s has ts = base + s minutes, so a test can
 * check the store for exactly the readings the acks cover. Prints one JSON line. */
#include <MQTTAsync.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct dev {
    char id[49];
    uint32_t next;       /* next seq to send */
    uint32_t acked;      /* watermark from the platform (0 = none) */
    int64_t progress_us; /* last time the ack moved or a resend started */
};

static struct {
    const char *host, *user, *password, *prefix, *kind, *client_id;
    int port, ndev, inflight_max, raw, timeout_s;
    long count, ack_timeout_ms, rate;
    long long base_ms;
    uint32_t first_seq;
} opt = {"127.0.0.1", NULL, NULL, "ld", "water_level", NULL, 1883, 10, 1000, 0, 120,
         100,         3000, 0,    1767225600000LL,   1};

static struct dev *devs;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int inflight, connected, subscribed, failed;
static long sent, resent, acks_seen, publish_failures, delivered, delivered_goal;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_delivered(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx;
    (void)r;
    pthread_mutex_lock(&mu);
    inflight--;
    /* once: tests wait for this line before they let a backlog drain */
    if (++delivered + publish_failures == delivered_goal)
        fprintf(stderr, "tk-pub: %ld publishes acknowledged by the broker, %ld failed\n",
                delivered, publish_failures);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_delivery_failed(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    inflight--;
    /* the first few are named: a test waiting for every publish can then say why not */
    if (publish_failures < 5)
        fprintf(stderr, "tk-pub: publish failed (%d %s)\n", r ? r->code : 0,
                r && r->message ? r->message : "");
    if (delivered + ++publish_failures == delivered_goal)
        fprintf(stderr, "tk-pub: %ld publishes acknowledged by the broker, %ld failed\n",
                delivered, publish_failures);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static int dev_index(const char *topic)
{
    /* city/<kind>/<prefix>-NNNNN/ack */
    const char *p = strrchr(topic, '/');
    if (!p)
        return -1;
    const char *q = p;
    while (q > topic && q[-1] != '-')
        q--;
    char *end;
    long i = strtol(q, &end, 10);
    return end == p && i >= 0 && i < opt.ndev ? (int)i : -1;
}

static int on_message(void *ctx, char *topic, int tl, MQTTAsync_message *m)
{
    (void)ctx;
    (void)tl;
    int i = dev_index(topic);
    char buf[64];
    size_t n = m->payloadlen < 63 ? (size_t)m->payloadlen : 63;
    memcpy(buf, m->payload, n);
    buf[n] = '\0';
    const char *s = strstr(buf, "\"seq\":");
    if (i >= 0 && s) {
        uint32_t seq = (uint32_t)strtoul(s + 6, NULL, 10);
        pthread_mutex_lock(&mu);
        acks_seen++;
        /* progress only when the ack covers more: a device's ack timer runs on, as the
         * firmware's does, while acks repeat a watermark that drops nothing */
        if (devs[i].acked == 0 ? seq != 0 : (int32_t)(seq - devs[i].acked) > 0) {
            devs[i].acked = seq;
            devs[i].progress_us = now_us();
        }
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_lost(void *ctx, char *cause)
{
    (void)ctx;
    fprintf(stderr, "tk-pub: connection lost: %s\n", cause ? cause : "?");
    pthread_mutex_lock(&mu);
    connected = 0;
    subscribed = 0;
    pthread_mutex_unlock(&mu);
}

static void on_subscribed(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx;
    (void)r;
    pthread_mutex_lock(&mu);
    subscribed++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_sub_failed(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    fprintf(stderr, "tk-pub: subscribe failed (%d)\n", r ? r->code : 0);
    pthread_mutex_lock(&mu);
    failed = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_connected(void *ctx, char *cause)
{
    MQTTAsync c = *(MQTTAsync *)ctx;
    (void)cause;
    pthread_mutex_lock(&mu);
    connected = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (!opt.raw) {
        /* one subscription per device: a gateway identity may read exactly its devices'
         * ack topics, so a wildcard would be refused by the ACL */
        pthread_mutex_lock(&mu);
        subscribed = 0;
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < opt.ndev; i++) {
            char topic[128];
            snprintf(topic, sizeof topic, "city/%s/%s/ack", opt.kind, devs[i].id);
            MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
            ro.onSuccess = on_subscribed;
            ro.onFailure = on_sub_failed;
            (void)MQTTAsync_subscribe(c, topic, 1, &ro);
        }
    }
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    fprintf(stderr, "tk-pub: connect failed (%d %s)\n", r ? r->code : 0,
            r && r->message ? r->message : "");
}

static int payload(char *buf, size_t size, const struct dev *d, uint32_t seq)
{
    long long ts = opt.base_ms + (long long)seq * 60000;
    if (strcmp(opt.kind, "people_flow") == 0)
        return snprintf(buf, size,
                        "{\"v\":1,\"id\":\"%s\",\"seq\":%" PRIu32 ",\"ts\":%lld,\"interval_s\":60,"
                        "\"in\":%u,\"out\":%u,\"cum_in\":%" PRIu32 ",\"cum_out\":%" PRIu32 "}",
                        d->id, seq, ts, seq % 7, seq % 5, seq * 3, seq * 2);
    return snprintf(buf, size,
                    "{\"v\":1,\"id\":\"%s\",\"seq\":%" PRIu32 ",\"ts\":%lld,\"level_m\":%.3f,"
                    "\"battery_v\":3.61,\"temp_c\":14.2}",
                    d->id, seq, ts, (double)(seq % 1000) / 1000.0);
}

static int usage(void)
{
    fprintf(stderr, "usage: tk-pub --user U --password P [--host H] [--port N] [--devices N]\n"
                    "  [--prefix P] [--kind K] [--count N] [--inflight N] [--raw]\n"
                    "  [--ack-timeout-ms N] [--timeout-s N] [--rate N] [--base-ms N]\n"
                    "  [--first-seq N] [--client-id ID]\n");
    return 2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--raw") == 0) {
            opt.raw = 1;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--port")) opt.port = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--user")) opt.user = v;
        else if (!strcmp(a, "--password")) opt.password = v;
        else if (!strcmp(a, "--client-id")) opt.client_id = v;
        else if (!strcmp(a, "--devices")) opt.ndev = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--prefix")) opt.prefix = v;
        else if (!strcmp(a, "--kind")) opt.kind = v;
        else if (!strcmp(a, "--count")) opt.count = strtol(v, NULL, 10);
        else if (!strcmp(a, "--inflight")) opt.inflight_max = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--ack-timeout-ms")) opt.ack_timeout_ms = strtol(v, NULL, 10);
        else if (!strcmp(a, "--timeout-s")) opt.timeout_s = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--rate")) opt.rate = strtol(v, NULL, 10);
        else if (!strcmp(a, "--base-ms")) opt.base_ms = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--first-seq")) opt.first_seq = (uint32_t)strtoul(v, NULL, 10);
        else return usage();
    }
    if (!opt.user || !opt.password || opt.ndev <= 0 || opt.count <= 0 || opt.inflight_max <= 0)
        return usage();

    devs = calloc((size_t)opt.ndev, sizeof *devs);
    if (!devs)
        return 1;
    for (int i = 0; i < opt.ndev; i++) {
        snprintf(devs[i].id, sizeof devs[i].id, "%s-%05d", opt.prefix, i);
        devs[i].next = opt.first_seq;
    }
    uint32_t last = opt.first_seq + (uint32_t)opt.count - 1;

    char uri[300], cid[64];
    snprintf(uri, sizeof uri, "tcp://%s:%d", opt.host, opt.port);
    if (opt.client_id)
        snprintf(cid, sizeof cid, "%s", opt.client_id);
    else
        snprintf(cid, sizeof cid, "tk-pub-%d", (int)getpid());
    MQTTAsync client;
    /* Paho's trace ring as takumi-ingest keeps it (errors only), so that the bench's
     * baseline and the ingest pay the same for their MQTT library */
    if (!getenv("MQTT_C_CLIENT_TRACE"))
        MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.maxBufferedMessages = 1 << 20;
    if (MQTTAsync_createWithOptions(&client, uri, cid, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co) !=
        MQTTASYNC_SUCCESS)
        return 1;
    MQTTAsync_setCallbacks(client, &client, on_lost, on_message, NULL);
    MQTTAsync_setConnected(client, &client, on_connected);
    MQTTAsync_connectOptions cop = MQTTAsync_connectOptions_initializer;
    cop.keepAliveInterval = 30;
    cop.cleansession = 1;
    cop.username = opt.user;
    cop.password = opt.password;
    cop.automaticReconnect = 1;
    cop.minRetryInterval = 1;
    cop.maxRetryInterval = 2;
    cop.maxInflight = opt.inflight_max + 16;
    cop.onFailure = on_connect_failed;
    if (MQTTAsync_connect(client, &cop) != MQTTASYNC_SUCCESS)
        return 1;

    int64_t t_start = now_us(), deadline = t_start + (int64_t)opt.timeout_s * 1000000;
    double wall_start = 0;
    int ok = 0;
    pthread_mutex_lock(&mu);
    while (!(connected && (opt.raw || subscribed >= opt.ndev)) && !failed && now_us() < deadline) {
        pthread_mutex_unlock(&mu);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&mu);
    }
    if (failed || now_us() >= deadline) {
        pthread_mutex_unlock(&mu);
        fprintf(stderr, "tk-pub: could not connect and subscribe\n");
        return 1;
    }
    wall_start = wall_s();
    t_start = now_us();
    delivered_goal = (long)opt.count * opt.ndev;
    for (int i = 0; i < opt.ndev; i++)
        devs[i].progress_us = t_start;
    pthread_mutex_unlock(&mu);

    char buf[512];
    int64_t sent_at_rate = 0;
    for (;;) {
        int64_t now = now_us();
        if (now >= deadline)
            break;
        int done = 1, progressed = 0;
        pthread_mutex_lock(&mu);
        for (int i = 0; i < opt.ndev; i++) {
            struct dev *d = &devs[i];
            int d_done = opt.raw ? (int32_t)(d->next - last) > 0
                                 : d->acked != 0 && (int32_t)(d->acked - last) >= 0;
            if (d_done)
                continue;
            done = 0;
            if (!opt.raw && (int32_t)(d->next - last) > 0) {
                /* all sent: resend after the ack stalls */
                if (now - d->progress_us > opt.ack_timeout_ms * 1000) {
                    uint32_t from = d->acked ? d->acked + 1 : opt.first_seq;
                    resent += (long)(d->next - from);
                    d->next = from;
                    d->progress_us = now;
                }
                continue;
            }
            uint32_t oldest = d->acked ? d->acked + 1 : opt.first_seq;
            if (!opt.raw && now - d->progress_us > opt.ack_timeout_ms * 1000 &&
                (int32_t)(d->next - oldest) > 0) {
                /* the ack stalled while sending: go back to the oldest unacknowledged
                 * reading, as the firmware does (also before any ack came) */
                resent += (long)(d->next - oldest);
                d->next = oldest;
                d->progress_us = now;
            }
            while (inflight >= opt.inflight_max && now_us() < deadline) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 20 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&cv, &mu, &ts);
            }
            if (!connected)
                break;
            uint32_t seq = d->next++;
            int n = payload(buf, sizeof buf, d, seq);
            char topic[128];
            snprintf(topic, sizeof topic, "city/%s/%s/reading", opt.kind, d->id);
            MQTTAsync_message m = MQTTAsync_message_initializer;
            m.payload = buf;
            m.payloadlen = n;
            m.qos = 1;
            MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
            ro.onSuccess = on_delivered;
            ro.onFailure = on_delivery_failed;
            inflight++;
            pthread_mutex_unlock(&mu);
            int rc = MQTTAsync_sendMessage(client, topic, &m, &ro);
            pthread_mutex_lock(&mu);
            if (rc != MQTTASYNC_SUCCESS) {
                inflight--;
                d->next--;
                publish_failures++;
            } else {
                sent++;
                progressed = 1;
            }
        }
        if (done && (!opt.raw || inflight == 0)) {
            ok = 1;
            pthread_mutex_unlock(&mu);
            break;
        }
        if (!progressed) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&cv, &mu, &ts);
        }
        pthread_mutex_unlock(&mu);
        if (opt.rate > 0) {
            sent_at_rate = (now_us() - t_start) * opt.rate / 1000000;
            while (sent > sent_at_rate && now_us() < deadline) {
                struct timespec ts = {0, 1000000L};
                nanosleep(&ts, NULL);
                sent_at_rate = (now_us() - t_start) * opt.rate / 1000000;
            }
        }
    }
    double elapsed = (double)(now_us() - t_start) / 1e6;
    long total = opt.count * opt.ndev;
    printf("{\"mode\":\"%s\",\"ok\":%s,\"devices\":%d,\"readings\":%ld,\"sent\":%ld,"
           "\"resent\":%ld,\"acks_seen\":%ld,\"publish_failures\":%ld,\"start\":%.6f,"
           "\"elapsed_s\":%.6f,\"rate\":%.1f}\n",
           opt.raw ? "raw" : "ack", ok ? "true" : "false", opt.ndev, total, sent, resent,
           acks_seen, publish_failures, wall_start, elapsed, (double)total / elapsed);
    fflush(stdout);
    MQTTAsync_disconnectOptions dop = MQTTAsync_disconnectOptions_initializer;
    dop.timeout = 1000;
    (void)MQTTAsync_disconnect(client, &dop);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    MQTTAsync_destroy(&client);
    free(devs);
    return ok ? 0 : 1;
}
