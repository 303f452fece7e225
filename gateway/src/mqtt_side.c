/* The forwarder: spooled readings go to the broker on each device's own topic, QoS 1,
 * as the gateway identity (whose ACL allows exactly the devices behind it).
 *
 * A PUBACK proves nothing about storage (docs/delivery.md), so nothing is deleted on
 * it. The gateway subscribes to each device's retained watermark ack
 * city/{kind}/{id}/ack (one subscription per device: the ACL refuses wildcards) and
 * deletes a device's rows only when an ack covers them. What stays unacknowledged is
 * sent again: everything after a reconnect (the spool holds only unacknowledged rows),
 * and, when the oldest row was sent more than --ack-timeout-ms ago and is still there,
 * everything from it on, with doubling pauses while no ack makes progress. The ingest
 * absorbs the duplicates this makes.
 *
 * The same subscription pattern follows each device's retained configuration
 * city/{kind}/{id}/config: the latest is cached in the device for GET /cfg (coap_side.c
 * notifies its observers when it changes).
 *
 * The gateway's own state is retained on cfg->status_topic: {"online":true} once
 * connected, {"online":false} as its MQTT will (a crash or a lost link) and on a clean
 * stop, so the platform can tell a silent gauge from a silent gateway.
 *
 * Paho calls back on its own threads; those only move acks and configs into locked
 * lists and count.
 * Spool and device table are touched by the main thread alone (gw_mqtt_tick).
 * Catching up after an outage, a tick reads a page of the spool and sends each device's
 * rows in it as one JSON array (up to --batch-max readings). */
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "tk_log.h"
#include "tk_mqtt.h"

#define ACKQ_MAX 8192
#define PAYLOAD_MAX 60000
#define CHECKPOINTS 64
#define CFGQ_MAX 256
#define STATUS_ONLINE "{\"online\":true}"
#define STATUS_OFFLINE "{\"online\":false}"

struct ack_item {
    char id[TK_ID_MAX + 1];
    uint32_t seq;
};

struct cfg_item {
    char id[TK_ID_MAX + 1];
    char body[GW_CONFIG_MAX];
    size_t len;
};

struct send_ctx {
    struct gw_mqtt *m;
    unsigned gen;
    int readings;
};

struct gw_mqtt {
    const struct gw_config *cfg;
    struct gw_stats *stats;
    MQTTAsync client;
    char password[256];
    atomic_int connected;
    atomic_uint gen;     /* connection generation, bumped by on_connected */
    unsigned seen_gen;   /* main thread: the generation the cursor belongs to */
    atomic_int inflight; /* publishes of the current generation not yet completed */
    atomic_int failed;   /* a publish failed: rewind */
    atomic_ullong published_msgs, published_readings, publish_failures;
    pthread_mutex_t mu; /* guards acks and cfgs */
    struct ack_item *acks;
    size_t nacks;
    struct cfg_item *cfgs;
    size_t ncfgs;
    atomic_int status_due; /* publish the retained online status (main thread) */
    struct gw_device **watch;
    size_t nwatch, capwatch;
    int64_t cursor; /* rowids <= cursor have been sent on this connection */
    struct {
        int64_t at_us, cursor;
    } cp[CHECKPOINTS]; /* the cursor once a second, for "sent more than T ago" */
    size_t cp_head;
    int64_t next_cp_us, next_stall_check_us, stall_pause_us, last_progress_us;
};

static void on_lost(void *context, char *cause)
{
    struct gw_mqtt *m = context;
    atomic_store(&m->connected, 0);
    tk_log(TK_LOG_WARN, "broker connection lost (%s); spooling and reconnecting",
           cause ? cause : "no cause");
}

static void on_connected(void *context, char *cause)
{
    struct gw_mqtt *m = context;
    (void)cause;
    atomic_fetch_add(&m->gen, 1);
    atomic_store(&m->connected, 1);
    atomic_store(&m->status_due, 1);
    tk_log(TK_LOG_INFO, "connected to %s:%lld as %s", m->cfg->mqtt_host,
           (long long)m->cfg->mqtt_port, m->cfg->mqtt_user);
}

static void on_connect_fail(void *context, MQTTAsync_failureData *resp)
{
    struct gw_mqtt *m = context;
    tk_log(TK_LOG_WARN, "connect to %s:%lld failed (%s); retrying with back-off", m->cfg->mqtt_host,
           (long long)m->cfg->mqtt_port,
           resp && resp->message ? resp->message : MQTTAsync_strerror(resp ? resp->code : -1));
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct gw_mqtt *m = context;
    enum tk_kind kind;
    enum tk_topic_type type;
    struct ack_item it;
    (void)topic_len;
    if (tk_topic_parse(topic, &kind, it.id, &type, NULL) != TK_OK) {
        /* not a device topic: nothing subscribed to delivers it */
    } else if (type == TK_TOPIC_ACK &&
               tk_ack_parse(msg->payload, (size_t)msg->payloadlen, &it.seq, NULL) == TK_OK) {
        pthread_mutex_lock(&m->mu);
        if (m->nacks < ACKQ_MAX) /* past that, a lost ack is asked for again by a resend */
            m->acks[m->nacks++] = it;
        pthread_mutex_unlock(&m->mu);
    } else if (type == TK_TOPIC_CONFIG) {
        if (msg->payloadlen < 0 || (size_t)msg->payloadlen > GW_CONFIG_MAX) {
            tk_log(TK_LOG_WARN, "config of %s: %d bytes, more than %d: not cached", it.id,
                   msg->payloadlen, GW_CONFIG_MAX);
        } else {
            pthread_mutex_lock(&m->mu);
            int full = m->ncfgs == CFGQ_MAX;
            if (!full) {
                struct cfg_item *c = &m->cfgs[m->ncfgs++];
                memcpy(c->id, it.id, sizeof c->id);
                memcpy(c->body, msg->payload, (size_t)msg->payloadlen);
                c->len = (size_t)msg->payloadlen;
            }
            pthread_mutex_unlock(&m->mu);
            if (full)
                return 0; /* Paho delivers it again later: configs are never dropped */
        }
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void send_done(struct send_ctx *sc, int ok)
{
    struct gw_mqtt *m = sc->m;
    if (sc->gen == atomic_load(&m->gen)) {
        atomic_fetch_sub(&m->inflight, 1);
        if (!ok)
            atomic_store(&m->failed, 1);
    }
    if (ok) {
        atomic_fetch_add(&m->published_msgs, 1);
        atomic_fetch_add(&m->published_readings, (unsigned long long)sc->readings);
    } else {
        atomic_fetch_add(&m->publish_failures, 1);
    }
    free(sc);
}

static void on_send_ok(void *context, MQTTAsync_successData *r)
{
    (void)r;
    send_done(context, 1);
}

static void on_send_fail(void *context, MQTTAsync_failureData *r)
{
    (void)r;
    send_done(context, 0);
}

enum tk_rc gw_mqtt_start(const struct gw_config *cfg, const char *password, struct gw_stats *stats,
                         struct gw_mqtt **out)
{
    char uri[320];
    int prc;
    struct gw_mqtt *m = calloc(1, sizeof *m);
    if (!m)
        return TK_ENOMEM;
    m->acks = calloc(ACKQ_MAX, sizeof *m->acks);
    m->cfgs = calloc(CFGQ_MAX, sizeof *m->cfgs);
    if (!m->acks || !m->cfgs) {
        free(m->acks);
        free(m->cfgs);
        free(m);
        return TK_ENOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->cfg = cfg;
    m->stats = stats;
    snprintf(m->password, sizeof m->password, "%s", password);
    if (tk_mqtt_uri(uri, sizeof uri, cfg->mqtt_host, (long long)cfg->mqtt_port, cfg->mqtt_tls_ca)) {
        tk_log(TK_LOG_ERR, "broker host name too long: %s", cfg->mqtt_host);
        goto fail;
    }

    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.sendWhileDisconnected = 0;
    co.maxBufferedMessages = 1 << 16; /* the default 100 limits sends even while connected */
    prc = MQTTAsync_createWithOptions(&m->client, uri, cfg->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                      NULL, &co);
    if (prc != MQTTASYNC_SUCCESS) {
        tk_log(TK_LOG_ERR, "MQTT client: %s", MQTTAsync_strerror(prc));
        goto fail;
    }
    MQTTAsync_setCallbacks(m->client, m, on_lost, on_message, NULL);
    MQTTAsync_setConnected(m->client, m, on_connected);
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    MQTTAsync_SSLOptions so;
    o.ssl = tk_mqtt_tls(&so, cfg->mqtt_tls_ca);
    o.keepAliveInterval = 20;
    o.cleansession = 1; /* acks are retained: a fresh subscription gets the latest */
    o.username = cfg->mqtt_user;
    o.password = m->password;
    o.automaticReconnect = 1;
    o.minRetryInterval = 1;
    o.maxRetryInterval = 16;
    o.connectTimeout = 10;
    o.onFailure = on_connect_fail;
    o.context = m;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    will.topicName = cfg->status_topic;
    will.message = STATUS_OFFLINE;
    will.retained = 1;
    will.qos = 1;
    o.will = &will;
    prc = MQTTAsync_connect(m->client, &o);
    if (prc != MQTTASYNC_SUCCESS) {
        tk_log(TK_LOG_ERR, "MQTT connect: %s", MQTTAsync_strerror(prc));
        goto fail;
    }
    *out = m;
    return TK_OK;
fail:
    gw_mqtt_stop(m);
    return TK_EIO;
}

void gw_mqtt_stop(struct gw_mqtt *m)
{
    if (!m)
        return;
    if (m->client) {
        if (MQTTAsync_isConnected(m->client)) {
            /* a clean stop sends no will: say offline ourselves */
            MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
            MQTTAsync_message msg = MQTTAsync_message_initializer;
            msg.payload = (void *)STATUS_OFFLINE;
            msg.payloadlen = (int)strlen(STATUS_OFFLINE);
            msg.qos = 1;
            msg.retained = 1;
            if (MQTTAsync_sendMessage(m->client, m->cfg->status_topic, &msg, &ro) ==
                MQTTASYNC_SUCCESS)
                (void)MQTTAsync_waitForCompletion(m->client, ro.token, 1000);
            MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
            d.timeout = 1000;
            (void)MQTTAsync_disconnect(m->client, &d);
            for (int i = 0; i < 30 && MQTTAsync_isConnected(m->client); i++) {
                struct timespec ts = {0, 50 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        MQTTAsync_destroy(&m->client);
    }
    pthread_mutex_destroy(&m->mu);
    free(m->acks);
    free(m->cfgs);
    free(m->watch);
    memset(m->password, 0, sizeof m->password);
    free(m);
}

int gw_mqtt_connected(const struct gw_mqtt *m)
{
    return atomic_load(&m->connected);
}

void gw_mqtt_watch(struct gw_mqtt *m, struct gw_device *dev)
{
    if (dev->watched)
        return;
    if (m->nwatch == m->capwatch) {
        size_t cap = m->capwatch ? m->capwatch * 2 : 64;
        struct gw_device **v = realloc(m->watch, cap * sizeof *v);
        if (!v)
            return; /* retried on the next POST of this device */
        m->watch = v;
        m->capwatch = cap;
    }
    dev->watched = 1;
    dev->subscribed = 0;
    m->watch[m->nwatch++] = dev;
}

static void apply_acks(struct gw_mqtt *m, struct gw_spool *sp, struct gw_psk *psk, int64_t now)
{
    struct ack_item local[256];
    for (;;) {
        size_t n;
        pthread_mutex_lock(&m->mu);
        n = m->nacks < 256 ? m->nacks : 256;
        memcpy(local, m->acks + (m->nacks - n), n * sizeof *local);
        m->nacks -= n;
        pthread_mutex_unlock(&m->mu);
        if (n == 0)
            return;
        for (size_t i = 0; i < n; i++) {
            struct gw_device *d;
            size_t del = 0;
            m->stats->acks++;
            if (gw_psk_get(psk, local[i].id, strlen(local[i].id), &d) == TK_OK) {
                d->watermark = local[i].seq;
                d->has_watermark = 1;
            }
            enum tk_rc rc = gw_spool_ack(sp, local[i].id, local[i].seq, &del);
            if (rc) {
                tk_log(TK_LOG_ERR, "spool: cannot apply ack %s seq %u: %s (%s)", local[i].id,
                       local[i].seq, tk_strerror(rc), gw_spool_errmsg(sp));
                continue;
            }
            if (del) {
                m->stats->deleted += del;
                m->last_progress_us = now;
                m->stall_pause_us = 0;
            }
        }
    }
}

/* Configurations that arrived: cached in their device. Returns how many changed. */
static int apply_configs(struct gw_mqtt *m, struct gw_psk *psk)
{
    static struct cfg_item local[32];
    int changed = 0;
    for (;;) {
        size_t n;
        pthread_mutex_lock(&m->mu);
        n = m->ncfgs < 32 ? m->ncfgs : 32;
        memcpy(local, m->cfgs, n * sizeof *local);
        memmove(m->cfgs, m->cfgs + n, (m->ncfgs - n) * sizeof *m->cfgs);
        m->ncfgs -= n;
        pthread_mutex_unlock(&m->mu);
        if (n == 0)
            return changed;
        for (size_t i = 0; i < n; i++) {
            struct gw_device *d;
            if (gw_psk_get(psk, local[i].id, strlen(local[i].id), &d) != TK_OK)
                continue;
            m->stats->configs++;
            if (d->has_config && d->config_len == local[i].len &&
                memcmp(d->config, local[i].body, local[i].len) == 0)
                continue; /* the retained config again, after a reconnect */
            memcpy(d->config, local[i].body, local[i].len);
            d->config_len = local[i].len;
            d->has_config = local[i].len > 0; /* an empty retained message clears it */
            changed++;
        }
    }
}

static void subscribe_new(struct gw_mqtt *m)
{
    char topics[2][160];
    for (size_t i = 0; i < m->nwatch; i++) {
        struct gw_device *d = m->watch[i];
        if (d->subscribed)
            continue;
        if (tk_topic_make(topics[0], sizeof topics[0], d->kind, d->id, TK_TOPIC_ACK) ||
            tk_topic_make(topics[1], sizeof topics[1], d->kind, d->id, TK_TOPIC_CONFIG))
            continue;
        char *tv[2] = {topics[0], topics[1]};
        int qos[2] = {1, 1};
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        if (MQTTAsync_subscribeMany(m->client, 2, tv, qos, &ro) == MQTTASYNC_SUCCESS)
            d->subscribed = 1;
        else
            return; /* next tick */
    }
}

static void publish_status(struct gw_mqtt *m)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    if (MQTTAsync_send(m->client, m->cfg->status_topic, (int)strlen(STATUS_ONLINE),
                       STATUS_ONLINE, 1, 1, &ro) != MQTTASYNC_SUCCESS)
        atomic_store(&m->status_due, 1); /* next tick */
}

/* A page of rows, grouped per device into JSON arrays. */
struct page {
    struct gw_mqtt *m;
    struct gw_psk *psk;
    struct {
        struct gw_device *dev;
        char *buf;
        size_t len;
        int n;
    } g[64];
    size_t ng;
    int msgs_left;
    int stop, failed;
};

static int flush_group(struct page *pg, size_t i)
{
    struct gw_mqtt *m = pg->m;
    char topic[160];
    int ok = 0;
    if (pg->g[i].n == 0)
        return 1;
    if (tk_topic_make(topic, sizeof topic, pg->g[i].dev->kind, pg->g[i].dev->id,
                      TK_TOPIC_READING) == TK_OK) {
        pg->g[i].buf[pg->g[i].len++] = ']';
        struct send_ctx *sc = malloc(sizeof *sc);
        if (sc) {
            sc->m = m;
            sc->gen = m->seen_gen;
            sc->readings = pg->g[i].n;
            MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
            ro.onSuccess = on_send_ok;
            ro.onFailure = on_send_fail;
            ro.context = sc;
            atomic_fetch_add(&m->inflight, 1);
            int rc = MQTTAsync_send(m->client, topic, (int)pg->g[i].len, pg->g[i].buf, 1, 0, &ro);
            if (rc == MQTTASYNC_SUCCESS) {
                ok = 1;
            } else {
                atomic_fetch_sub(&m->inflight, 1);
                free(sc);
            }
        }
    }
    pg->g[i].len = 0;
    pg->g[i].n = 0;
    pg->msgs_left--;
    return ok;
}

static int add_row(const struct gw_spool_row *row, void *ud)
{
    struct page *pg = ud;
    struct gw_device *d;
    size_t i;
    if (pg->stop)
        return 1;
    if (gw_psk_get(pg->psk, row->device, strlen(row->device), &d) != TK_OK)
        return 0; /* key removed: the device is gone; its rows wait for an ack that never
                   * comes, and are skipped here */
    for (i = 0; i < pg->ng; i++)
        if (pg->g[i].dev == d)
            break;
    if (i == pg->ng) {
        if (pg->ng == sizeof pg->g / sizeof pg->g[0] || pg->msgs_left <= (int)pg->ng)
            return 1; /* the page is full: this row waits for the next turn */
        pg->g[i].dev = d;
        pg->g[i].n = 0;
        pg->g[i].len = 0;
        pg->ng++;
    }
    if (pg->g[i].n >= pg->m->cfg->batch_max || pg->g[i].len + row->body_len + 2 > PAYLOAD_MAX) {
        if (!flush_group(pg, i))
            pg->failed = 1;
        if (pg->failed || pg->msgs_left < (int)pg->ng) {
            pg->stop = 1;
            return 1;
        }
    }
    pg->g[i].buf[pg->g[i].len++] = pg->g[i].n ? ',' : '[';
    memcpy(pg->g[i].buf + pg->g[i].len, row->body, row->body_len);
    pg->g[i].len += row->body_len;
    pg->g[i].n++;
    return 0;
}

static void forward(struct gw_mqtt *m, struct gw_spool *sp, struct gw_psk *psk)
{
    static struct page pg; /* 64 x 60 kB buffers, allocated once */
    int room = (int)m->cfg->inflight_max - atomic_load(&m->inflight);
    if (room <= 0 || gw_spool_count(sp) == 0)
        return;
    if (!pg.g[0].buf)
        for (size_t i = 0; i < sizeof pg.g / sizeof pg.g[0]; i++)
            if (!(pg.g[i].buf = malloc(PAYLOAD_MAX + 2)))
                return; /* a static: freed at exit */
    pg.m = m;
    pg.psk = psk;
    pg.ng = 0;
    pg.stop = 0;
    pg.failed = 0;
    pg.msgs_left = room;
    int64_t last = m->cursor;
    size_t limit = (size_t)room * (size_t)m->cfg->batch_max;
    if (limit > 20000)
        limit = 20000;
    enum tk_rc rc = gw_spool_scan(sp, m->cursor, limit, add_row, &pg, &last);
    int sent_all = !pg.failed;
    for (size_t i = 0; i < pg.ng; i++)
        if (!flush_group(&pg, i))
            sent_all = 0;
    if (rc) {
        tk_log(TK_LOG_ERR, "spool scan: %s", gw_spool_errmsg(sp));
        return;
    }
    if (sent_all)
        m->cursor = last;
    /* else: the cursor stays, the rows go again next turn (duplicates are absorbed) */
}

static void check_stall(struct gw_mqtt *m, struct gw_spool *sp, int64_t now)
{
    if (now >= m->next_cp_us) {
        m->cp[m->cp_head % CHECKPOINTS].at_us = now;
        m->cp[m->cp_head % CHECKPOINTS].cursor = m->cursor;
        m->cp_head++;
        m->next_cp_us = now + 1000000;
    }
    if (now < m->next_stall_check_us || gw_spool_count(sp) == 0)
        return;
    m->next_stall_check_us = now + 500000;
    /* the cursor as it was ack_timeout ago */
    int64_t horizon = now - m->cfg->ack_timeout_ms * 1000, old = 0;
    int found = 0;
    for (size_t k = 0; k < CHECKPOINTS && k < m->cp_head; k++) {
        size_t idx = (m->cp_head - 1 - k) % CHECKPOINTS;
        if (m->cp[idx].at_us <= horizon) {
            old = m->cp[idx].cursor;
            found = 1;
            break;
        }
    }
    int64_t minrow = 0;
    if (!found || gw_spool_min_rowid(sp, &minrow) || minrow == 0 || minrow > old)
        return;
    if (now - m->last_progress_us < m->stall_pause_us)
        return;
    /* The oldest row went out more than ack_timeout ago and no ack covers it yet. */
    m->stats->resends++;
    tk_log(TK_LOG_INFO, "no ack covers spool row %lld after %lld ms: sending again from it",
           (long long)minrow, (long long)m->cfg->ack_timeout_ms);
    m->cursor = minrow - 1;
    m->last_progress_us = now;
    m->stall_pause_us = m->stall_pause_us ? m->stall_pause_us * 2 : m->cfg->ack_timeout_ms * 1000;
    if (m->stall_pause_us > 60000000)
        m->stall_pause_us = 60000000;
    memset(m->cp, 0, sizeof m->cp); /* history before the rewind says nothing now */
    m->cp_head = 0;
}

int gw_mqtt_tick(struct gw_mqtt *m, struct gw_spool *sp, struct gw_psk *psk, int64_t now)
{
    unsigned gen = atomic_load(&m->gen);
    if (gen != m->seen_gen) {
        /* A new connection: subscriptions are gone (clean session) and whatever was in
         * flight may be lost, so everything still spooled is sent again. */
        m->seen_gen = gen;
        atomic_store(&m->inflight, 0);
        m->cursor = 0;
        m->last_progress_us = now;
        m->cp_head = 0;
        for (size_t i = 0; i < m->nwatch; i++)
            m->watch[i]->subscribed = 0;
    }
    if (atomic_exchange(&m->failed, 0))
        m->cursor = 0;
    apply_acks(m, sp, psk, now);
    int changed = apply_configs(m, psk);
    m->stats->published_msgs = atomic_load(&m->published_msgs);
    m->stats->published_readings = atomic_load(&m->published_readings);
    m->stats->publish_failures = atomic_load(&m->publish_failures);
    if (!atomic_load(&m->connected))
        return changed;
    if (atomic_exchange(&m->status_due, 0))
        publish_status(m);
    subscribe_new(m);
    forward(m, sp, psk);
    check_stall(m, sp, now);
    return changed;
}
