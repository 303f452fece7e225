/* Live push over HTTP: Server-Sent Events fed from the broker.
 *
 *   GET /v1.1/Datastreams(id)/Observations/stream   one Datastream's new Observations
 *   GET /v1.1/Observations/stream?kind=NAME         every Observation of an ObservedProperty
 *   GET /alerts/stream                              alerts published on city/alerts/+
 *
 * Design note. One MQTT client (Paho MQTTAsync, the read-only dashboard identity) feeds a
 * ring of the last RING_MAX events shared by every stream; each event has a sequence
 * number that starts at the wall clock in microseconds when the process starts, so a
 * number from an earlier run is always older than the ring. A stream is a callback
 * response: its read takes the events it has not seen from the ring (under the hub's
 * lock), and when there are none it suspends its connection (no worker thread waits for
 * a client); a new matching event, a keep-alive due, or shutdown resumes it. A slow
 * client that falls out of the ring gets a "gap" event.
 *
 * Event ids: an Observation's event id is its @iot.id, so a client that reconnects with
 * Last-Event-ID is replayed what it missed from the store (ids above it, oldest first,
 * REPLAY_MAX at a time: past that the stream ends after the batch and the client's
 * reconnect fetches the next one); events of the live feed at or below the last id sent
 * are skipped, so replay and live join without gaps or repeats (the ingest publishes an
 * observation only after it is committed, and ids grow with commits). Alert ids are ring
 * sequence numbers: a Last-Event-ID still in the ring resumes exactly, an older one gets
 * a "gap" event saying the window no longer covers it. */
#include <MQTTAsync.h>
#include <inttypes.h>
#include <math.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "tk_config.h"
#include "tk_log.h"
#include "tk_time.h"

#define RING_MAX 4096       /* events kept for streams that lag */
#define EVENT_DATA_MAX 4096 /* bytes of one event's JSON */
#define REPLAY_MAX 1000     /* Observations replayed per connection */
#define PEND_MAX 65536      /* bytes gathered for a client per read */
#define KINDS_MAX 100000    /* Datastream -> ObservedProperty names cached */
#define OBS_TOPIC "v1.1/+/Observations"
#define ALERT_TOPIC "city/alerts/+"

enum ev_type { EV_OBS = 1, EV_ALERT };

struct ev {
    enum ev_type type;
    int64_t ds, obs_id;
    double result;
    char kind[64];
    char *data; /* one line of JSON, new */
    size_t len;
};

struct sse_client {
    struct api_stream base;
    struct api_live *l;
    struct sse_client *next, *prev;
    enum ev_type type;
    int64_t ds;    /* 0: any */
    char kind[64]; /* "": any */
    uint64_t next_seq;
    int64_t last_obs; /* highest Observation id sent (or the client's Last-Event-ID) */
    int replay_more;  /* the replay stopped at REPLAY_MAX: end after it */
    struct api_principal who;
    struct api_buf pend;
    size_t off;
    int suspended;
    int64_t last_write_us;
};

struct kind_entry {
    int64_t ds;
    char kind[64];
};

struct api_live {
    const struct api_config *cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ev *ring;
    uint64_t seq0, seq; /* events seq0.. were published; the ring holds the last RING_MAX */
    struct sse_client *clients;
    int64_t nclients;
    int64_t exports;
    int closing, stopping;
    pthread_t ticker;
    int ticker_on;
    /* the MQTT side: touched by Paho's callback thread only */
    MQTTAsync mqtt;
    char password[256];
    struct store *st;
    struct kind_entry *kinds;
    size_t nkinds;
};

/* ---- formatting ----------------------------------------------------------------------- */

static int64_t ring_oldest(const struct api_live *l)
{
    return (int64_t)(l->seq - l->seq0 > RING_MAX ? l->seq - RING_MAX : l->seq0);
}

static void put_event(struct api_buf *b, const char *id, const char *event, const char *data,
                      size_t len)
{
    if (id) {
        api_buf_puts(b, "id: ");
        api_buf_puts(b, id);
        api_buf_put(b, "\n", 1);
    }
    api_buf_puts(b, "event: ");
    api_buf_puts(b, event);
    api_buf_puts(b, "\ndata: ");
    api_buf_put(b, data, len);
    api_buf_puts(b, "\n\n");
}

/* An Observation event, live or replayed. */
/* withheld: the privacy rule keeps this result from this caller (api_suppress_named for a
 * live event, the query's withhold for a replayed one); the event is left out. */
static void emit_obs(struct sse_client *c, int64_t obs_id, int withheld, const char *json,
                     size_t len)
{
    if (obs_id <= c->last_obs)
        return; /* replayed already */
    c->last_obs = obs_id;
    if (withheld)
        return;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, obs_id);
    put_event(&c->pend, id, "observation", json, len);
}

static void emit_gap(struct sse_client *c, const char *fmt, ...) TK_PRINTF(2, 3);
static void emit_gap(struct sse_client *c, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct api_buf j;
    api_buf_init(&j, 1024);
    api_buf_puts(&j, "{\"message\":");
    api_buf_json_str(&j, msg, strlen(msg));
    api_buf_put(&j, "}", 1);
    put_event(&c->pend, NULL, "gap", j.data ? j.data : "{}", j.data ? j.len : 2);
    api_buf_free(&j);
}

static int matches(const struct sse_client *c, const struct ev *e)
{
    if (e->type != c->type)
        return 0;
    if (e->type == EV_ALERT)
        return 1;
    return (!c->ds || c->ds == e->ds) && (!c->kind[0] || strcmp(c->kind, e->kind) == 0);
}

/* The client's events from the ring into pend (hub locked). */
static void collect(struct api_live *l, struct sse_client *c)
{
    uint64_t oldest = (uint64_t)ring_oldest(l);
    if (c->next_seq < oldest) {
        if (c->type == EV_OBS)
            emit_gap(c,
                     "this stream fell more than %d events behind; reconnect with Last-Event-ID"
                     " %" PRId64 " to be replayed what it missed",
                     RING_MAX, c->last_obs);
        else
            emit_gap(c, "alerts were missed: only the last %d events are kept", RING_MAX);
        c->next_seq = oldest;
    }
    while (c->next_seq < l->seq && c->pend.len < PEND_MAX) {
        const struct ev *e = &l->ring[c->next_seq % RING_MAX];
        if (matches(c, e)) {
            if (e->type == EV_OBS) {
                emit_obs(c, e->obs_id, api_suppress_named(&c->who, e->kind, e->result),
                         e->data, e->len);
            } else {
                char id[24];
                snprintf(id, sizeof id, "%" PRIu64, c->next_seq);
                put_event(&c->pend, id, "alert", e->data, e->len);
            }
        }
        c->next_seq++;
    }
}

static long sse_read(struct api_stream *s, char *buf, size_t max)
{
    struct sse_client *c = (struct sse_client *)s;
    struct api_live *l = c->l;
    pthread_mutex_lock(&l->mu);
    int64_t now = tk_mono_us();
    while (c->off == c->pend.len) {
        api_buf_reset(&c->pend);
        c->off = 0;
        if (c->replay_more || l->closing) {
            pthread_mutex_unlock(&l->mu);
            return API_STREAM_END;
        }
        collect(l, c);
        if (c->pend.err) {
            pthread_mutex_unlock(&l->mu);
            return API_STREAM_FAIL;
        }
        if (c->pend.len)
            break;
        if (now - c->last_write_us >= l->cfg->sse_keepalive_s * 1000000) {
            api_buf_puts(&c->pend, ": keep-alive\n\n");
            break;
        }
        c->suspended = 1;
        MHD_suspend_connection(c->base.conn);
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    size_t k = c->pend.len - c->off;
    if (k > max)
        k = max;
    memcpy(buf, c->pend.data + c->off, k);
    c->off += k;
    c->last_write_us = now;
    pthread_mutex_unlock(&l->mu);
    return (long)k;
}

static void sse_destroy(struct api_stream *s)
{
    struct sse_client *c = (struct sse_client *)s;
    struct api_live *l = c->l;
    pthread_mutex_lock(&l->mu);
    if (c->prev)
        c->prev->next = c->next;
    else if (l->clients == c)
        l->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->nclients--;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    api_buf_free(&c->pend);
    free(c);
}

static void resume(struct sse_client *c)
{
    if (c->suspended) {
        c->suspended = 0;
        MHD_resume_connection(c->base.conn);
    }
}

/* ---- the broker side (Paho's callback thread) ------------------------------------------ */

static int parse_ds_topic(const char *t, int64_t *ds)
{
    static const char pre[] = "v1.1/Datastreams(", post[] = ")/Observations";
    if (strncmp(t, pre, sizeof pre - 1) != 0)
        return 0;
    const char *p = t + sizeof pre - 1;
    int64_t v = 0;
    int n = 0;
    while (*p >= '0' && *p <= '9' && n < 18) {
        v = v * 10 + (*p++ - '0');
        n++;
    }
    if (!n || strcmp(p, post) != 0)
        return 0;
    *ds = v;
    return 1;
}

static enum tk_rc take_kind(void *ud, const struct store_sta_value *row, size_t n)
{
    char *kind = ud;
    if (n > 1 && row[1].type == STORE_STA_TEXT && row[1].len < 64) {
        memcpy(kind, row[1].s, row[1].len);
        kind[row[1].len] = '\0';
    }
    return TK_OK;
}

/* The ObservedProperty name of a Datastream (cached: it never changes). */
static void kind_of(struct api_live *l, int64_t ds, char kind[64])
{
    kind[0] = '\0';
    for (size_t i = 0; i < l->nkinds; i++)
        if (l->kinds[i].ds == ds) {
            memcpy(kind, l->kinds[i].kind, 64);
            return;
        }
    if (!l->st)
        return;
    struct store_sta_query q = {.entity = STORE_STA_OPROPERTY,
                                .has_parent = 1,
                                .parent = STORE_STA_DATASTREAM,
                                .parent_id = ds,
                                .top = 1};
    if (store_sta_list(l->st, &q, take_kind, kind) || !kind[0])
        return; /* asked again next time */
    if (l->nkinds == KINDS_MAX)
        l->nkinds = 0;
    l->kinds[l->nkinds].ds = ds;
    memcpy(l->kinds[l->nkinds].kind, kind, 64);
    l->nkinds++;
}

static void publish(struct api_live *l, struct ev *e)
{
    pthread_mutex_lock(&l->mu);
    struct ev *slot = &l->ring[l->seq % RING_MAX];
    free(slot->data);
    *slot = *e;
    l->seq++;
    for (struct sse_client *c = l->clients; c; c = c->next)
        if (c->suspended && matches(c, slot))
            resume(c);
    pthread_mutex_unlock(&l->mu);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct api_live *l = ctx;
    struct ev e = {0};
    (void)topic_len;
    json_t *j = json_loadb(m->payload, (size_t)m->payloadlen, JSON_DECODE_ANY, NULL);
    if (parse_ds_topic(topic, &e.ds)) {
        json_t *id = json_object_get(j, "@iot.id"), *r = json_object_get(j, "result");
        if (!json_is_object(j) || !json_is_integer(id) || !(json_is_number(r) || json_is_null(r))) {
            tk_log(TK_LOG_WARN, "event streams: %s carries no Observation; ignored", topic);
            goto done;
        }
        e.type = EV_OBS;
        e.obs_id = (int64_t)json_integer_value(id);
        e.result = json_is_null(r) ? NAN : json_number_value(r); /* null: withheld upstream */
        json_object_set_new(j, "Datastream@iot.id", json_integer((json_int_t)e.ds));
        kind_of(l, e.ds, e.kind);
        e.data = json_dumps(j, JSON_COMPACT);
    } else if (strncmp(topic, "city/alerts/", 12) == 0) {
        e.type = EV_ALERT;
        json_t *alert =
            j ? json_incref(j) : json_stringn((const char *)m->payload, (size_t)m->payloadlen);
        if (!alert) {
            tk_log(TK_LOG_WARN, "event streams: an alert on %s is not UTF-8; ignored", topic);
            goto done;
        }
        json_t *a = json_object();
        json_object_set_new(a, "topic", json_string(topic));
        json_object_set_new(a, "alert", alert);
        e.data = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(a);
    }
    if (e.data) {
        e.len = strlen(e.data);
        if (e.len > EVENT_DATA_MAX) {
            tk_log(TK_LOG_WARN, "event streams: a message on %s is over %d bytes; ignored", topic,
                   EVENT_DATA_MAX);
            free(e.data);
        } else {
            publish(l, &e);
        }
    }
done:
    json_decref(j);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_subscribed(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx;
    (void)r;
    tk_log(TK_LOG_INFO, "event streams: subscribed to " OBS_TOPIC " and " ALERT_TOPIC);
}

static void on_subscribe_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    tk_log(TK_LOG_ERR, "event streams: the broker refused the subscription (%s)",
           r && r->message ? r->message : "no reason given");
}

static void on_connected(void *ctx, char *cause)
{
    struct api_live *l = ctx;
    (void)cause;
    char *topics[] = {OBS_TOPIC, ALERT_TOPIC};
    int qos[] = {0, 1};
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_subscribed;
    ro.onFailure = on_subscribe_fail;
    ro.context = l;
    int rc = MQTTAsync_subscribeMany(l->mqtt, 2, topics, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        tk_log(TK_LOG_ERR, "event streams: subscribe: %s", MQTTAsync_strerror(rc));
}

static void on_lost(void *ctx, char *cause)
{
    (void)ctx;
    tk_log(TK_LOG_WARN, "event streams: broker connection lost (%s); reconnecting",
           cause ? cause : "no cause");
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct api_live *l = ctx;
    tk_log(TK_LOG_WARN, "event streams: connect to %s:%lld as %s failed (%s); retrying",
           l->cfg->mqtt_host, (long long)l->cfg->mqtt_port, l->cfg->mqtt_user,
           r && r->message ? r->message : MQTTAsync_strerror(r ? r->code : -1));
}

static enum tk_rc mqtt_start(struct api_live *l)
{
    const struct api_config *cfg = l->cfg;
    char uri[320], cid[64];
    enum tk_rc rc = tk_secret_read(cfg->mqtt_password_file, l->password, sizeof l->password);
    if (rc) {
        tk_log(TK_LOG_ERR, "event streams: cannot read the broker password from %s: %s",
               cfg->mqtt_password_file, tk_strerror(rc));
        return rc;
    }
    snprintf(uri, sizeof uri, "tcp://%s:%lld", cfg->mqtt_host, (long long)cfg->mqtt_port);
    snprintf(cid, sizeof cid, "takumi-api-%ld", (long)getpid());
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    int prc =
        MQTTAsync_createWithOptions(&l->mqtt, uri, cid, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (prc != MQTTASYNC_SUCCESS) {
        tk_log(TK_LOG_ERR, "event streams: MQTT client: %s", MQTTAsync_strerror(prc));
        l->mqtt = NULL;
        return TK_EIO;
    }
    MQTTAsync_setCallbacks(l->mqtt, l, on_lost, on_message, NULL);
    MQTTAsync_setConnected(l->mqtt, l, on_connected);
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    o.keepAliveInterval = 20;
    o.cleansession = 1; /* the store has what a restart missed */
    o.username = cfg->mqtt_user;
    o.password = l->password;
    o.automaticReconnect = 1;
    o.minRetryInterval = 1;
    o.maxRetryInterval = 16;
    o.connectTimeout = 10;
    o.onFailure = on_connect_fail;
    o.context = l;
    prc = MQTTAsync_connect(l->mqtt, &o);
    if (prc != MQTTASYNC_SUCCESS) {
        tk_log(TK_LOG_ERR, "event streams: MQTT connect: %s", MQTTAsync_strerror(prc));
        return TK_EIO;
    }
    return TK_OK;
}

/* ---- keep-alive ------------------------------------------------------------------------ */

static void *ticker(void *arg)
{
    struct api_live *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        int64_t now = tk_mono_us();
        for (struct sse_client *c = l->clients; c; c = c->next)
            if (c->suspended && now - c->last_write_us >= l->cfg->sse_keepalive_s * 1000000)
                resume(c);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- life cycle -------------------------------------------------------------------------- */

enum tk_rc api_live_start(const struct api_config *cfg, struct api_live **out)
{
    *out = NULL;
    struct api_live *l = calloc(1, sizeof *l);
    if (!l)
        return TK_ENOMEM;
    l->cfg = cfg;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    l->seq0 = l->seq = (uint64_t)tk_now_utc_us();
    enum tk_rc rc = TK_OK;
    l->ring = calloc(RING_MAX, sizeof *l->ring);
    l->kinds = calloc(KINDS_MAX, sizeof *l->kinds);
    if (!l->ring || !l->kinds) {
        rc = TK_ENOMEM;
        goto fail;
    }
    if (pthread_create(&l->ticker, NULL, ticker, l)) {
        rc = TK_ENOMEM;
        goto fail;
    }
    l->ticker_on = 1;
    if (cfg->mqtt_host[0]) {
        struct store_options opt = {.readonly = 1, .busy_timeout_ms = 2000, .cache_kib = 1024};
        rc = store_open(cfg->db, &opt, &l->st);
        if (rc) {
            tk_log(TK_LOG_ERR, "event streams: cannot open the store: %s", tk_strerror(rc));
            goto fail;
        }
        rc = mqtt_start(l);
        if (rc)
            goto fail;
    }
    *out = l;
    return TK_OK;
fail:
    api_live_stop(l);
    return rc;
}

void api_live_close_streams(struct api_live *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->closing = 1;
    for (struct sse_client *c = l->clients; c; c = c->next)
        resume(c);
    /* wait (bounded) for the streams to end, so that none is suspended at the stop */
    int64_t until = tk_mono_us() + 3000000;
    while (l->nclients && tk_mono_us() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 50000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        for (struct sse_client *c = l->clients; c; c = c->next)
            resume(c);
    }
    pthread_mutex_unlock(&l->mu);
}

void api_live_stop(struct api_live *l)
{
    if (!l)
        return;
    if (l->mqtt) {
        if (MQTTAsync_isConnected(l->mqtt)) {
            MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
            d.timeout = 1000;
            if (MQTTAsync_disconnect(l->mqtt, &d) == MQTTASYNC_SUCCESS)
                usleep(100000);
        }
        MQTTAsync_destroy(&l->mqtt);
    }
    if (l->ticker_on) {
        pthread_mutex_lock(&l->mu);
        l->stopping = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->ticker, NULL);
    }
    store_close(l->st);
    for (size_t i = 0; l->ring && i < RING_MAX; i++)
        free(l->ring[i].data);
    free(l->ring);
    free(l->kinds);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int api_live_export_take(struct api_live *l)
{
    int ok = 0;
    pthread_mutex_lock(&l->mu);
    if (l->exports < l->cfg->exports_max) {
        l->exports++;
        ok = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void api_live_export_give(struct api_live *l)
{
    pthread_mutex_lock(&l->mu);
    l->exports--;
    pthread_mutex_unlock(&l->mu);
}

/* ---- requests ------------------------------------------------------------------------------ */

struct replay {
    struct sse_client *c;
    int64_t n;
};

static enum tk_rc replay_row(void *ud, const struct store_sta_value *row, size_t n)
{
    struct replay *r = ud;
    struct sse_client *c = r->c;
    if (r->n++ == REPLAY_MAX) {
        c->replay_more = 1;
        return TK_OK;
    }
    struct api_buf j;
    api_buf_init(&j, EVENT_DATA_MAX * 4);
    api_buf_puts(&j, "{\"@iot.id\":");
    api_buf_i64(&j, row[0].i);
    api_buf_puts(&j, ",\"phenomenonTime\":");
    api_sta_render_value(&j, &row[1]);
    api_buf_puts(&j, ",\"resultTime\":");
    api_sta_render_value(&j, &row[2]);
    api_buf_puts(&j, ",\"result\":");
    api_sta_render_value(&j, &row[3]);
    if (row[4].type != STORE_STA_NULL) {
        api_buf_puts(&j, ",\"parameters\":");
        api_sta_render_value(&j, &row[4]);
    }
    api_buf_puts(&j, ",\"Datastream@iot.id\":");
    api_buf_i64(&j, row[n].i);
    api_buf_put(&j, "}", 1);
    enum tk_rc rc = j.err;
    if (!rc)
        emit_obs(c, row[0].i, row[n + 1].type == STORE_STA_INT && row[n + 1].i, j.data, j.len);
    api_buf_free(&j);
    return rc;
}

/* Observations of the stream with @iot.id above the client's Last-Event-ID, oldest first. */
static enum tk_rc replay(const struct api_request *req, struct sse_client *c)
{
    struct store_sta_fnode nd[7];
    memset(nd, 0, sizeof nd);
    nd[0].op = STORE_F_PATH; /* @iot.id gt last */
    nd[1].op = STORE_F_LIT;
    nd[1].v.type = STORE_STA_INT;
    nd[1].v.i = c->last_obs;
    nd[2].op = STORE_F_GT;
    nd[2].nargs = 2;
    nd[2].arg[0] = 0;
    nd[2].arg[1] = 1;
    struct store_sta_filter f = {nd, 3, 2};
    if (c->kind[0]) { /* and Datastream/ObservedProperty/name eq kind */
        nd[3].op = STORE_F_PATH;
        nd[3].path.nnav = 2;
        nd[3].path.nav[0] = STORE_STA_DATASTREAM;
        nd[3].path.nav[1] = STORE_STA_OPROPERTY;
        nd[3].path.prop = 1;
        nd[4].op = STORE_F_LIT;
        nd[4].v.type = STORE_STA_TEXT;
        nd[4].v.s = c->kind;
        nd[4].v.len = strlen(c->kind);
        nd[5].op = STORE_F_EQ;
        nd[5].nargs = 2;
        nd[5].arg[0] = 3;
        nd[5].arg[1] = 4;
        nd[6].op = STORE_F_AND;
        nd[6].nargs = 2;
        nd[6].arg[0] = 2;
        nd[6].arg[1] = 5;
        f.n = 7;
        f.root = 6;
    }
    struct store_sta_query q = {.entity = STORE_STA_OBSERVATION,
                                .has_parent = c->ds != 0,
                                .parent = STORE_STA_DATASTREAM,
                                .parent_id = c->ds,
                                .norder = 1,
                                .top = REPLAY_MAX + 1,
                                .filter = &f,
                                .withhold = api_withhold(&c->who)};
    q.order[0].prop = 0;
    struct replay r = {c, 0};
    int64_t from = c->last_obs;
    enum tk_rc rc = store_sta_list(req->st, &q, replay_row, &r);
    if (!rc && c->replay_more)
        api_buf_puts(&c->pend, "retry: 100\n\n");
    tk_log(TK_LOG_DEBUG, "event stream: replayed %lld Observations after %lld%s",
           (long long)(r.n > REPLAY_MAX ? REPLAY_MAX : r.n), (long long)from,
           c->replay_more ? " (more follow on reconnect)" : "");
    return rc;
}

static int parse_i64(const char *s, size_t n, int64_t *out)
{
    if (!s || n == 0 || n > 19)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > INT64_MAX)
        return 0;
    *out = (int64_t)v;
    return 1;
}

static const char *arg_of(const struct api_request *req, const char *key)
{
    for (size_t i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, key) == 0)
            return req->args[i].value ? req->args[i].value : "";
    return NULL;
}

static int ds_exists(const struct api_request *req, int64_t ds, struct api_reply *rep)
{
    struct store_sta_query q = {.entity = STORE_STA_DATASTREAM, .has_id = 1, .id = ds, .top = 1};
    int64_t n = 0;
    enum tk_rc rc = store_sta_count(req->st, &q, &n);
    if (rc) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "store: %s", store_errmsg(req->st));
        return 0;
    }
    if (!n)
        api_reply_error(rep, API_E_NOTFOUND, NULL, "Datastreams(%lld) does not exist",
                        (long long)ds);
    return n != 0;
}

int api_sse_handle(const struct api_request *req, const char *path, struct api_reply *rep)
{
    static const char pre[] = "/v1.1/Datastreams(", post[] = ")/Observations/stream";
    enum ev_type type;
    int64_t ds = 0;
    const char *kind = NULL;
    size_t n = strlen(path);
    if (strcmp(path, "/alerts/stream") == 0) {
        type = EV_ALERT;
    } else if (strcmp(path, "/v1.1/Observations/stream") == 0) {
        type = EV_OBS;
        kind = arg_of(req, "kind");
        if (!kind || !*kind || strlen(kind) >= 64) {
            api_reply_error(rep, API_E_BADREQ, "kind",
                            "kind: name an ObservedProperty (kind=water_level), at most 63 bytes");
            return 1;
        }
    } else if (n > sizeof pre - 1 + sizeof post - 1 && strncmp(path, pre, sizeof pre - 1) == 0 &&
               strcmp(path + n - (sizeof post - 1), post) == 0) {
        type = EV_OBS;
        const char *d = path + sizeof pre - 1;
        size_t dl = n - (sizeof pre - 1) - (sizeof post - 1);
        if (!parse_i64(d, dl, &ds)) {
            api_reply_error(rep, API_E_BADREQ, NULL, "'%.*s' is not a Datastream id",
                            (int)(dl > 30 ? 30 : dl), d);
            return 1;
        }
    } else {
        return 0;
    }
    if (req->method != API_M_GET) {
        rep->allow = "GET";
        api_reply_error(rep, API_E_METHOD, NULL, "event streams answer GET only");
        return 1;
    }
    struct api_live *l = req->live;
    if (!l || !l->mqtt) {
        api_reply_error(rep, API_E_NOTIMPL, NULL,
                        "event streams are off: takumi-api was started without --mqtt-host");
        return 1;
    }
    if (ds && !ds_exists(req, ds, rep))
        return 1;
    int64_t last = -1;
    const char *lei = req->header(req, "Last-Event-ID");
    if (lei && *lei && !parse_i64(lei, strlen(lei), &last)) {
        api_reply_error(rep, API_E_BADREQ, "Last-Event-ID",
                        "Last-Event-ID: '%.30s' is not an event id of this stream", lei);
        return 1;
    }
    struct sse_client *c = calloc(1, sizeof *c);
    if (!c) {
        api_reply_error(rep, API_E_INTERNAL, NULL, "out of memory");
        return 1;
    }
    c->base.read = sse_read;
    c->base.destroy = sse_destroy;
    c->l = l;
    c->type = type;
    c->ds = ds;
    if (kind)
        snprintf(c->kind, sizeof c->kind, "%s", kind);
    c->who = *req->who;
    c->last_obs = last >= 0 ? last : 0;
    api_buf_init(&c->pend, 8 * PEND_MAX);
    api_buf_puts(&c->pend, ": takumi event stream\nretry: 3000\n\n");
    c->last_write_us = tk_mono_us();

    pthread_mutex_lock(&l->mu);
    if (l->nclients >= l->cfg->sse_max || l->closing) {
        pthread_mutex_unlock(&l->mu);
        api_buf_free(&c->pend);
        free(c);
        api_reply_error(rep, API_E_BUSY, NULL, "%lld event-stream clients are connected: the limit",
                        (long long)l->cfg->sse_max);
        return 1;
    }
    /* joined before the replay: what the replay does not see, the ring will */
    c->next_seq = l->seq;
    if (type == EV_ALERT && last >= 0) {
        uint64_t oldest = (uint64_t)ring_oldest(l);
        if ((uint64_t)last + 1 >= oldest && (uint64_t)last < l->seq) {
            c->next_seq = (uint64_t)last + 1;
        } else if ((uint64_t)last < oldest) {
            emit_gap(c, "alerts after event %lld are no longer kept (the last %d events are)",
                     (long long)last, RING_MAX);
            c->next_seq = oldest;
        }
    }
    c->next = l->clients;
    if (l->clients)
        l->clients->prev = c;
    l->clients = c;
    l->nclients++;
    pthread_mutex_unlock(&l->mu);

    if (type == EV_OBS && last >= 0) {
        enum tk_rc rc = replay(req, c);
        if (rc) {
            api_reply_error(rep, api_err_of_rc(rc), NULL, "store: %s", store_errmsg(req->st));
            sse_destroy(&c->base);
            return 1;
        }
    }
    rep->status = 200;
    rep->content_type = "text/event-stream";
    api_reply_header(rep, "Cache-Control", "no-cache");
    rep->stream = &c->base;
    return 1;
}
