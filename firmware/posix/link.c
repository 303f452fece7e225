#include "link.h"

#include <MQTTAsync.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_mqtt.h"

struct link {
    MQTTAsync c;
    struct link_opts o;
    char uri[300];
    pthread_mutex_t mu;
    enum fw_net state;
    size_t subs_pending;
    unsigned gen; /* connection attempt, so stale callbacks are ignored */
    struct pdev_net **devs; /* sorted by id */
    size_t ndev;
};

void pdev_net_init(struct pdev_net *d, struct link *l, const char *kind, const char *id)
{
    memset(d, 0, sizeof *d);
    d->link = l;
    snprintf(d->id, sizeof d->id, "%s", id);
    snprintf(d->t_reading, sizeof d->t_reading, "city/%s/%s/reading", kind, id);
    snprintf(d->t_status, sizeof d->t_status, "city/%s/%s/status", kind, id);
    snprintf(d->t_ack, sizeof d->t_ack, "city/%s/%s/ack", kind, id);
    snprintf(d->t_config, sizeof d->t_config, "city/%s/%s/config", kind, id);
}

static int cmp_dev(const void *a, const void *b)
{
    return strcmp((*(struct pdev_net *const *)a)->id, (*(struct pdev_net *const *)b)->id);
}

static struct pdev_net *find_dev(struct link *l, const char *topic, int *is_ack)
{
    /* city/{kind}/{id}/{ack|config} */
    const char *p = strchr(topic, '/');
    p = p ? strchr(p + 1, '/') : NULL;
    if (!p)
        return NULL;
    const char *id = p + 1, *e = strchr(id, '/');
    if (!e || e - id > 48)
        return NULL;
    char key[49];
    memcpy(key, id, (size_t)(e - id));
    key[e - id] = '\0';
    *is_ack = strcmp(e + 1, "ack") == 0;
    if (!*is_ack && strcmp(e + 1, "config") != 0)
        return NULL;
    struct pdev_net k, *kp = &k;
    memcpy(k.id, key, sizeof key);
    struct pdev_net **f = bsearch(&kp, l->devs, l->ndev, sizeof *l->devs, cmp_dev);
    return f ? *f : NULL;
}

static int on_message(void *ctx, char *topic, int tl, MQTTAsync_message *m)
{
    struct link *l = ctx;
    (void)tl;
    int is_ack = 0;
    pthread_mutex_lock(&l->mu);
    struct pdev_net *d = find_dev(l, topic, &is_ack);
    if (d) {
        size_t n = (size_t)m->payloadlen;
        if (n > PDEV_MSG_MAX) {
            d->oversized++;
        } else if (is_ack) {
            memcpy(d->ack, m->payload, n);
            d->ack_len = n;
            d->has_ack = 1;
            if (d->log_acks) {
                char tmp[64];
                size_t k = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
                memcpy(tmp, m->payload, k);
                tmp[k] = '\0';
                fprintf(stderr, "fw %s: ack %s\n", d->id, tmp);
            }
        } else {
            memcpy(d->config, m->payload, n);
            d->config_len = n;
            d->has_config = 1;
        }
    }
    pthread_mutex_unlock(&l->mu);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_lost(void *ctx, char *cause)
{
    struct link *l = ctx;
    pthread_mutex_lock(&l->mu);
    l->state = FW_NET_DOWN;
    l->gen++;
    pthread_mutex_unlock(&l->mu);
    fprintf(stderr, "fw: connection lost (%s)\n", cause ? cause : "no cause");
}

struct attempt {
    struct link *l;
    unsigned gen;
};

static void on_sub_ok(void *ctx, MQTTAsync_successData *r)
{
    struct attempt *a = ctx;
    struct link *l = a->l;
    (void)r;
    pthread_mutex_lock(&l->mu);
    if (a->gen == l->gen && l->state == FW_NET_CONNECTING && l->subs_pending > 0 &&
        --l->subs_pending == 0)
        l->state = FW_NET_UP;
    pthread_mutex_unlock(&l->mu);
    free(a);
}

static void on_sub_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct attempt *a = ctx;
    struct link *l = a->l;
    fprintf(stderr, "fw: subscribe failed (%d)\n", r ? r->code : 0);
    pthread_mutex_lock(&l->mu);
    if (a->gen == l->gen)
        l->state = FW_NET_DOWN;
    pthread_mutex_unlock(&l->mu);
    free(a);
}

#define SUB_CHUNK 64 /* topics per SUBSCRIBE packet */

static void on_connect_ok(void *ctx, MQTTAsync_successData *r)
{
    struct attempt *a = ctx;
    struct link *l = a->l;
    (void)r;
    pthread_mutex_lock(&l->mu);
    unsigned gen = a->gen;
    int current = gen == l->gen && l->state == FW_NET_CONNECTING;
    size_t ntopics = 2 * l->ndev;
    l->subs_pending = (ntopics + SUB_CHUNK - 1) / SUB_CHUNK;
    pthread_mutex_unlock(&l->mu);
    free(a);
    if (!current)
        return;
    /* acks and configs of every device on this link (a gateway identity may read
     * exactly its devices' topics: no wildcard) */
    char *topics[SUB_CHUNK];
    int qos[SUB_CHUNK];
    for (size_t i = 0; i < ntopics; i += SUB_CHUNK) {
        int n = 0;
        for (size_t j = i; j < ntopics && n < SUB_CHUNK; j++, n++) {
            struct pdev_net *d = l->devs[j / 2];
            topics[n] = j % 2 ? d->t_config : d->t_ack;
            qos[n] = 1;
        }
        struct attempt *s = malloc(sizeof *s);
        if (!s)
            break;
        s->l = l;
        s->gen = gen;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.onSuccess = on_sub_ok;
        ro.onFailure = on_sub_fail;
        ro.context = s;
        if (MQTTAsync_subscribeMany(l->c, n, topics, qos, &ro) != MQTTASYNC_SUCCESS) {
            free(s);
            pthread_mutex_lock(&l->mu);
            if (gen == l->gen)
                l->state = FW_NET_DOWN;
            pthread_mutex_unlock(&l->mu);
            return;
        }
    }
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct attempt *a = ctx;
    struct link *l = a->l;
    pthread_mutex_lock(&l->mu);
    if (a->gen == l->gen)
        l->state = FW_NET_DOWN;
    pthread_mutex_unlock(&l->mu);
    fprintf(stderr, "fw: connect failed (%d %s)\n", r ? r->code : 0,
            r && r->message ? r->message : "");
    free(a);
}

struct link *link_create(const struct link_opts *o, struct pdev_net **devs, size_t ndev)
{
    struct link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->o = *o;
    if (tk_mqtt_uri(l->uri, sizeof l->uri, o->host, o->port, o->tls_ca)) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->devs = devs;
    l->ndev = ndev;
    qsort(devs, ndev, sizeof *devs, cmp_dev);
    for (size_t i = 0; i < ndev; i++)
        devs[i]->link = l;
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.maxBufferedMessages = 100000;
    if (MQTTAsync_createWithOptions(&l->c, l->uri, o->client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                    &co) != MQTTASYNC_SUCCESS) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        return NULL;
    }
    MQTTAsync_setCallbacks(l->c, l, on_lost, on_message, NULL);
    return l;
}

void link_destroy(struct link *l)
{
    if (!l)
        return;
    MQTTAsync_destroy(&l->c);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

enum fw_rc link_connect(struct link *l)
{
    pthread_mutex_lock(&l->mu);
    if (l->state != FW_NET_DOWN) {
        pthread_mutex_unlock(&l->mu);
        return FW_OK;
    }
    l->state = FW_NET_CONNECTING;
    unsigned gen = ++l->gen;
    pthread_mutex_unlock(&l->mu);

    struct attempt *a = malloc(sizeof *a);
    if (!a)
        return FW_EIO;
    a->l = l;
    a->gen = gen;
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions wo = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions so;
    co.ssl = tk_mqtt_tls(&so, l->o.tls_ca);
    co.keepAliveInterval = l->o.keepalive_s;
    co.cleansession = 1; /* state lives in the ring and the retained ack, not the session */
    co.username = l->o.user;
    co.password = l->o.password;
    co.automaticReconnect = 0; /* the core reconnects, with its own back-off */
    co.connectTimeout = 10;
    co.onSuccess = on_connect_ok;
    co.onFailure = on_connect_fail;
    co.context = a;
    if (l->o.will_topic) {
        wo.topicName = l->o.will_topic;
        wo.message = l->o.will_payload;
        wo.retained = 1;
        wo.qos = 1;
        co.will = &wo;
    }
    int rc = MQTTAsync_connect(l->c, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        free(a);
        pthread_mutex_lock(&l->mu);
        if (gen == l->gen)
            l->state = FW_NET_DOWN;
        pthread_mutex_unlock(&l->mu);
        return FW_EIO;
    }
    return FW_OK;
}

void link_close(struct link *l)
{
    pthread_mutex_lock(&l->mu);
    l->state = FW_NET_DOWN;
    l->gen++;
    pthread_mutex_unlock(&l->mu);
    if (MQTTAsync_isConnected(l->c)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 0;
        (void)MQTTAsync_disconnect(l->c, &d);
    }
}

enum fw_net link_state(struct link *l)
{
    pthread_mutex_lock(&l->mu);
    enum fw_net s = l->state;
    pthread_mutex_unlock(&l->mu);
    return s;
}

enum fw_rc link_publish(struct link *l, const char *topic, const char *payload, size_t len,
                        int retain)
{
    if (link_state(l) != FW_NET_UP)
        return FW_EBUSY;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = (void *)(uintptr_t)payload;
    m.payloadlen = (int)len;
    m.qos = 1;
    m.retained = retain;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    return MQTTAsync_sendMessage(l->c, topic, &m, &ro) == MQTTASYNC_SUCCESS ? FW_OK : FW_EBUSY;
}

enum fw_rc link_poll(struct pdev_net *d, enum fw_topic *topic, char *buf, size_t cap,
                     size_t *len)
{
    struct link *l = d->link;
    enum fw_rc rc = FW_ENOENT;
    pthread_mutex_lock(&l->mu);
    if (d->has_config || d->has_ack) {
        int cfg = d->has_config;
        const char *src = cfg ? d->config : d->ack;
        size_t n = cfg ? d->config_len : d->ack_len;
        *topic = cfg ? FW_TOPIC_CONFIG : FW_TOPIC_ACK;
        if (cfg)
            d->has_config = 0;
        else
            d->has_ack = 0;
        if (n > cap) {
            rc = FW_EFULL;
        } else {
            memcpy(buf, src, n);
            *len = n;
            rc = FW_OK;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void link_shutdown(struct link *l, const char *topic, const char *payload, int timeout_ms)
{
    if (link_state(l) == FW_NET_UP && topic) {
        MQTTAsync_message m = MQTTAsync_message_initializer;
        m.payload = (void *)(uintptr_t)payload;
        m.payloadlen = (int)strlen(payload);
        m.qos = 1;
        m.retained = 1;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        if (MQTTAsync_sendMessage(l->c, topic, &m, &ro) == MQTTASYNC_SUCCESS)
            (void)MQTTAsync_waitForCompletion(l->c, ro.token, (unsigned long)timeout_ms);
    }
    if (MQTTAsync_isConnected(l->c)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = timeout_ms;
        (void)MQTTAsync_disconnect(l->c, &d);
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
