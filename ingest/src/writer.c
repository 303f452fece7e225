/* The writer: batches, commits, and only then acknowledges.
 *
 * Design note. One thread owns the store. It takes whatever the MQTT thread queued
 * (up to batch-max messages; a group commit: while one transaction commits, the next
 * batch accumulates), and for each message parses, validates, checks the registry,
 * normalises, drops duplicates by seq (watermark state) and by (datastream, time)
 * (store), and writes observations or a quarantine record. The devices' watermark
 * state is saved in the same transaction. Only after store_commit returns TK_OK does
 * it publish `city/{kind}/{id}/ack` {"seq": watermark} (retained) for every device the
 * batch touched, and the observations on the SensorThings MQTT topics.
 *
 * Why a crash at any instant loses nothing a device saw acknowledged: an ack is
 * published only for seqs whose rows are in a committed transaction, and the watermark
 * never passes a gap. A message Paho PUBACKed but not yet committed is lost with the
 * process, but the device still holds it (its ack does not cover it) and resends it.
 * A resend of something already committed is absorbed by the seq check and answered
 * with the current ack again. If a commit fails (disk full, I/O error) the
 * transaction is rolled back, the touched devices' cached state is dropped and
 * reloaded from the store, and the same batch is retried after a pause; meanwhile the
 * queue fills and the broker holds the backlog.
 *
 * Several workers (--share-group): the broker spreads one device's readings over every
 * worker of the group, so no worker's memory is the truth about a device. Each
 * transaction first reloads the delivery state of every device in its batch from the
 * store, in device-id order, inside the transaction (the PostgreSQL backend locks those
 * rows until commit; SQLite serialises writers anyway), and the watermark is then
 * advanced from that state. Whichever worker commits the reading that closes a gap
 * therefore computes and publishes the new watermark (docs/delivery.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ack.h"
#include "alert_io.h"
#include "ingest.h"
#include "normalize.h"
#include "pub.h"
#include "tk_log.h"
#include "tk_time.h"

/* Rows retention may remove per periodic turn (about one a second), each turn a short
 * transaction of its own between the ingest's: a few milliseconds of deletes. */
#define RETENTION_ROWS 2000
#define DAY_US INT64_C(86400000000)

#define CUM_SLOTS 32 /* recent people_flow readings remembered for gap filling */

struct cum_slot {
    int valid;
    uint32_t seq;
    int64_t ts_us, interval_s, in, out, cum_in, cum_out;
    unsigned has;
};

struct dev_entry {
    struct dev_entry *next; /* hash chain */
    struct store_device dev;
    struct store_seq_state seq;
    int touched; /* in the current transaction */
    uint64_t fresh; /* shared mode: seq reloaded in transaction number `fresh` */
    int ack_due; /* publish the watermark after commit */
    /* The device resent resent_seq, the first seq beyond its oldest gap: evidence that
     * it no longer holds the readings of the gap (in memory only: after a restart the
     * device must show it again). */
    int resent_beyond;
    uint32_t resent_seq;
    struct cum_slot cum[CUM_SLOTS];
    struct ing_alert_gauge *al; /* water-level gauges with alerts on; owned */
    /* shared mode: a fingerprint of the delivery state as it was stored when al was last
     * known to be the store's; the same state found again means no other worker stored a
     * reading since */
    uint64_t al_seq;
};

struct time_text {
    int ok;
    int64_t us;
    char s[32];
};

struct writer {
    struct ing_ctx *ctx;
    struct store *st;
    struct dev_entry **buckets;
    size_t nbuckets, ndevs;
    struct dev_entry **touched;
    size_t ntouched, touched_cap;
    struct ing_msg *batch;
    size_t nbatch;
    struct tk_reading *rd;
    struct tk_error *errs;
    struct ing_norm nm;
    struct ing_pub *pub; /* acks and observations, written after the commit */
    int shared;          /* other workers write the same devices (--share-group) */
    uint64_t tx_no;      /* transactions begun */
    char (*ids)[TK_ID_MAX + 1]; /* shared mode: the batch's device ids */
    uint64_t npub;       /* packets queued in pub */
    int64_t now_us;
    int64_t started_us; /* UTC, when the writer started: the counters count from then */
    int64_t alert_stamp; /* store_alert_config_stamp when the settings were last read */
    int preload_due;     /* load every gauge (start, after a failed transaction) */
    int config_resend;   /* the publisher lost packets: send the gauges' configs again */
    struct time_text tt[2]; /* pub_observation: the last phenomenonTime and resultTime */
};

/* ---- the device cache ---------------------------------------------------------- */

/* FNV-1a */
static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static size_t hash_id(const char *s)
{
    return (size_t)fnv1a(s, strlen(s));
}

static enum tk_rc map_grow(struct writer *w)
{
    size_t n = w->nbuckets ? w->nbuckets * 2 : 1024;
    struct dev_entry **b = calloc(n, sizeof *b);
    if (!b)
        return TK_ENOMEM;
    for (size_t i = 0; i < w->nbuckets; i++) {
        struct dev_entry *e = w->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            size_t k = hash_id(e->dev.id) & (n - 1);
            e->next = b[k];
            b[k] = e;
        }
    }
    free(w->buckets);
    w->buckets = b;
    w->nbuckets = n;
    return TK_OK;
}

static void map_drop(struct writer *w, struct dev_entry *d)
{
    struct dev_entry **pp = &w->buckets[hash_id(d->dev.id) & (w->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            free(d->al);
            free(d);
            w->ndevs--;
            return;
        }
    }
}

/* A gauge's alert state, loaded from the store when missing (first sight, or dropped with
 * a failed transaction). */
static enum tk_rc gauge_alerts(struct writer *w, struct dev_entry *d)
{
    if (d->al || d->dev.kind != TK_KIND_WATER_LEVEL || !w->ctx->cfg.alerts)
        return TK_OK;
    return ing_alerts_load(w->st, &d->dev, w->now_us, &d->al);
}

/* The cached device, loading it (registry, and the watermark state when with_seq) on
 * first sight. TK_ENOTFOUND for an unregistered device: not cached, so a device
 * provisioned while ingest runs is found on its next message. */
static enum tk_rc device_load(struct writer *w, const char *id, int with_seq,
                              struct dev_entry **out)
{
    enum tk_rc rc;
    if (w->nbuckets) {
        for (struct dev_entry *e = w->buckets[hash_id(id) & (w->nbuckets - 1)]; e; e = e->next)
            if (strcmp(e->dev.id, id) == 0) {
                *out = e;
                return TK_OK;
            }
    }
    struct dev_entry *d = calloc(1, sizeof *d);
    if (!d)
        return TK_ENOMEM;
    rc = store_device_get(w->st, id, &d->dev);
    if (!rc && with_seq)
        rc = store_seq_load(w->st, id, &d->seq);
    if (!rc)
        rc = gauge_alerts(w, d);
    if (!rc && w->ndevs + 1 > w->nbuckets / 2)
        rc = map_grow(w);
    if (rc) {
        free(d->al);
        free(d);
        return rc;
    }
    size_t k = hash_id(id) & (w->nbuckets - 1);
    d->next = w->buckets[k];
    w->buckets[k] = d;
    w->ndevs++;
    *out = d;
    return TK_OK;
}

static enum tk_rc device_get(struct writer *w, const char *id, struct dev_entry **out)
{
    return device_load(w, id, 1, out);
}

static enum tk_rc touch(struct writer *w, struct dev_entry *d)
{
    d->ack_due = 1;
    if (d->touched)
        return TK_OK;
    if (w->ntouched == w->touched_cap) {
        size_t n = w->touched_cap ? w->touched_cap * 2 : 256;
        struct dev_entry **t = realloc(w->touched, n * sizeof *t);
        if (!t)
            return TK_ENOMEM;
        w->touched = t;
        w->touched_cap = n;
    }
    d->touched = 1;
    w->touched[w->ntouched++] = d;
    return TK_OK;
}

/* ---- several workers ------------------------------------------------------------------ */

static int cmp_id(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* A hash of the delivery state's fields (0 is never returned: "none yet"). */
static uint64_t seq_fingerprint(const struct store_seq_state *s)
{
    int64_t v[10 + STORE_PENDING_MAX];
    size_t n = 0;
    v[n++] = s->known;
    v[n++] = s->watermark;
    v[n++] = s->npending;
    v[n++] = s->gap_since_us;
    v[n++] = s->has_cum;
    v[n++] = s->cum_seq;
    v[n++] = s->cum_ts_us;
    v[n++] = s->cum_in;
    v[n++] = s->cum_out;
    for (int i = 0; i < s->npending && i < STORE_PENDING_MAX; i++)
        v[n++] = s->pending[i];
    uint64_t h = fnv1a(v, n * sizeof v[0]);
    return h ? h : 1;
}

/* Whether a shared worker's alert state of gauge d (its delivery state just read) is still
 * the store's: no other worker stored a reading of it since (the same delivery state), and
 * none can have raised its silence alert (which needs the gauge silent, as seen by that
 * worker after every reading this one saw). Settings changes are picked up by alert_turn. */
static int alerts_current(const struct dev_entry *d, int64_t now_us)
{
    return d->al_seq == seq_fingerprint(&d->seq) && d->al->last_seen_us > 0 &&
           now_us - d->al->last_seen_us < ing_alert_silence_us(d->al);
}

/* The device's state as committed, read inside this transaction (and locked there by
 * the PostgreSQL backend). A gauge's alert state goes with it: when another worker may
 * have evaluated its readings or its silence since this one last did, it is read again,
 * under the same lock, when the gauge's first level of the transaction needs it.
 * Unregistered devices are left to process_msg. */
static enum tk_rc refresh(struct writer *w, const char *id)
{
    struct dev_entry *d = NULL;
    enum tk_rc rc = TK_OK;
    if (w->nbuckets)
        for (struct dev_entry *e = w->buckets[hash_id(id) & (w->nbuckets - 1)]; e; e = e->next)
            if (strcmp(e->dev.id, id) == 0) {
                d = e;
                break;
            }
    if (d) {
        rc = store_seq_load(w->st, id, &d->seq);
        if (d->al && !alerts_current(d, w->now_us)) {
            free(d->al);
            d->al = NULL;
        }
    } else {
        rc = device_get(w, id, &d);
    }
    if (rc == TK_ENOTFOUND)
        return TK_OK;
    if (!rc)
        d->fresh = w->tx_no;
    return rc;
}

/* Reload the state of every device of the batch, in id order: two workers always take
 * the devices they share in the same order, so neither waits for the other in a cycle. */
static enum tk_rc refresh_batch(struct writer *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nbatch; i++) {
        struct tk_error e = {0};
        enum tk_kind kind;
        enum tk_topic_type type;
        if (tk_topic_parse(w->batch[i].topic, &kind, w->ids[n], &type, &e) == TK_OK)
            n++;
    }
    qsort(w->ids, n, sizeof w->ids[0], cmp_id);
    enum tk_rc rc = TK_OK;
    for (size_t i = 0; i < n && !rc; i++)
        if (i == 0 || strcmp(w->ids[i], w->ids[i - 1]) != 0)
            rc = refresh(w, w->ids[i]);
    return rc;
}

/* ---- after-commit publications --------------------------------------------------- */

/* The RFC 3339 text of us, formatted only when us differs from the last call's; NULL for
 * a time that cannot be formatted. */
static const char *time_text(struct time_text *c, int64_t us)
{
    if (c->ok && c->us == us)
        return c->s;
    c->us = us;
    c->ok = tk_time_format(us, c->s, sizeof c->s) == TK_OK;
    return c->ok ? c->s : NULL;
}

static enum tk_rc pub_add(struct writer *w, const char *topic, const char *payload, size_t len,
                          int retain)
{
    enum tk_rc rc = ing_pub_add(w->pub, topic, payload, len, retain);
    if (!rc)
        w->npub++;
    return rc;
}

static char *append(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define APPEND_LIT(p, lit) append((p), (lit), sizeof(lit) - 1)

/* The SensorThings MQTT extension's message for a new observation. Built by hand: it
 * runs for every observation stored. The topics are open data (the dashboard's public
 * identity reads them), so a people or Wi-Fi count under the privacy threshold goes out
 * as null with "resultQuality":"suppressed", as the API shows it to anonymous callers;
 * the store keeps the value. */
static enum tk_rc pub_observation(struct writer *w, const struct store_obs *o, enum tk_quantity q)
{
    char topic[64], t1[32], num[TK_JSON_NUMBER_MAX], body[600], *p = body, *tp = topic;
    size_t plen = o->params ? strlen(o->params) : 0;
    /* the observations of one reading share both times: each is formatted once */
    const char *t0 = time_text(&w->tt[0], o->t_us),
               *rt = time_text(&w->tt[1], o->result_time_us ? o->result_time_us : o->t_us);
    if (!t0 || !rt || (o->t_end_us && tk_time_format(o->t_end_us, t1, sizeof t1)))
        return TK_EINVAL;
    if (plen > sizeof body - 200)
        plen = 0; /* oversized parameters stay in the store; the live message omits them */
    tp = APPEND_LIT(tp, "v1.1/Datastreams(");
    tp = append(tp, num, tk_json_number((double)o->ds_id, num)); /* ids stay below 2^53 */
    tp = APPEND_LIT(tp, ")/Observations");
    *tp = '\0';
    p = APPEND_LIT(p, "{\"@iot.id\":");
    p = append(p, num, tk_json_number((double)o->id, num));
    p = APPEND_LIT(p, ",\"phenomenonTime\":\"");
    p = append(p, t0, 27);
    if (o->t_end_us) {
        *p++ = '/';
        p = append(p, t1, 27);
    }
    p = APPEND_LIT(p, "\",\"resultTime\":\"");
    p = append(p, rt, 27);
    p = APPEND_LIT(p, "\",\"result\":");
    if (tk_quantity_private(q, o->result))
        p = APPEND_LIT(p, "null,\"resultQuality\":\"suppressed\"");
    else
        p = append(p, num, tk_json_number(o->result, num));
    if (plen) {
        p = APPEND_LIT(p, ",\"parameters\":");
        p = append(p, o->params, plen);
    }
    *p++ = '}';
    return pub_add(w, topic, body, (size_t)(p - body), 0);
}

/* ---- processing one message ------------------------------------------------------ */

static enum tk_rc quarantine(struct writer *w, const struct ing_msg *m, const char *device_id,
                             const struct tk_error *e)
{
    size_t len;
    const void *payload = ing_msg_payload(m, &len);
    if (len > (size_t)w->ctx->cfg.payload_max)
        len = (size_t)w->ctx->cfg.payload_max; /* keep a bounded copy; the reason says more */
    struct store_quarantine q = {
        .received_us = m->recv_us,
        .topic = m->topic,
        .payload = payload,
        .payload_len = len,
        .device_id = device_id,
        .code = e->code,
        .path = e->path,
        .reason = e->text,
    };
    enum tk_rc rc = store_quarantine_add(w->st, &q);
    if (!rc) {
        w->ctx->stats.quarantined++;
        w->ctx->stats.quarantine_by_code[e->code < TK_ERC_MAX ? e->code : 0]++;
        tk_log(TK_LOG_DEBUG, "quarantined message on %s: %s %s", m->topic, e->path, e->text);
    }
    return rc;
}

static struct cum_slot *cum_find(struct dev_entry *d, uint32_t seq)
{
    struct cum_slot *c = &d->cum[seq % CUM_SLOTS];
    return c->valid && c->seq == seq ? c : NULL;
}

static enum tk_rc store_norm(struct writer *w, struct dev_entry *d, const struct ing_norm *nm,
                             int64_t result_time_us)
{
    for (int i = 0; i < nm->n; i++) {
        const struct ing_obs *io = &nm->obs[i];
        struct store_obs o = {
            .ds_id = d->dev.ds[io->q],
            .t_us = io->t_us,
            .t_end_us = io->t_end_us,
            .result_time_us = result_time_us,
            .result = io->result,
            .params = nm->params_len ? nm->params : NULL,
        };
        if (!o.ds_id)
            continue; /* quantity not provisioned for this device */
        /* the gauge's alert state is read before its level is stored: read after, the
         * latest level would be this one, and it would count as already evaluated */
        enum tk_rc rc = io->q == TK_Q_WATER_LEVEL ? gauge_alerts(w, d) : TK_OK;
        if (!rc)
            rc = store_obs_add(w->st, &o);
        if (rc == TK_EDUP) {
            w->ctx->stats.dup_obs++;
            continue;
        }
        if (rc)
            return rc;
        w->ctx->stats.stored_obs++;
        if (w->ctx->cfg.publish_observations && pub_observation(w, &o, io->q))
            w->ctx->stats.publish_failures++; /* live push only; the row is stored */
        if (io->q == TK_Q_WATER_LEVEL && d->al)
            /* in the reading's own transaction: published right after its commit */
            rc = ing_alerts_reading(w->st, w->pub, d->al, o.t_us, o.result, w->now_us, &w->npub);
        if (rc)
            return rc;
    }
    return TK_OK;
}

/* Lost people_flow intervals are filled from the cumulative counters of the readings
 * on both sides of the gap, once the gap is declared lost (a later arrival of a real
 * reading would otherwise be counted twice). */
static enum tk_rc fill_gap(struct writer *w, struct dev_entry *d, uint32_t first, uint32_t last)
{
    struct cum_slot *a = cum_find(d, first - 1), *b = cum_find(d, last + 1);
    const unsigned both = TK_F_CUM_IN | TK_F_CUM_OUT;
    if (d->dev.kind != TK_KIND_PEOPLE_FLOW || !a || !b || (a->has & both) != both ||
        (b->has & both) != both)
        return TK_OK;
    int64_t in = b->cum_in - a->cum_in - b->in, out = b->cum_out - a->cum_out - b->out;
    int64_t t0 = a->ts_us, t1 = b->ts_us - b->interval_s * 1000000;
    if (in < 0 || out < 0 || t1 <= t0)
        return TK_OK; /* a counter reset inside the gap: nothing trustworthy to fill */
    char params[128];
    int n = snprintf(params, sizeof params,
                     "{\"filled_from\":\"cumulative\",\"lost_seq_first\":%" PRIu32
                     ",\"lost_seq_last\":%" PRIu32 "}",
                     first, last);
    if (n < 0 || (size_t)n >= sizeof params)
        return TK_EINVAL;
    struct ing_norm fill = {.n = 2, .params = params, .params_len = (size_t)n};
    fill.obs[0] = (struct ing_obs){TK_Q_PEOPLE_IN, t0, t1, (double)in};
    fill.obs[1] = (struct ing_obs){TK_Q_PEOPLE_OUT, t0, t1, (double)out};
    w->ctx->stats.filled++;
    return store_norm(w, d, &fill, w->now_us);
}

static enum tk_rc record_seq(struct writer *w, struct dev_entry *d, uint32_t seq)
{
    if (ing_seq_record(&d->seq, seq, w->now_us) < 0)
        w->ctx->stats.untracked++; /* beyond a gap with the pending set full: resent later */
    return touch(w, d);
}

/* A resend of the first seq beyond the oldest gap, with nothing of the gap before it. */
static void note_resend(struct dev_entry *d, uint32_t seq)
{
    if (d->seq.npending > 0 && seq == d->seq.pending[0]) {
        d->resent_beyond = 1;
        d->resent_seq = seq;
    }
}

static enum tk_rc process_reading(struct writer *w, struct dev_entry *d, const struct ing_msg *m,
                                  const struct tk_reading *r)
{
    struct tk_error e = {0};
    enum tk_rc rc;
    w->ctx->stats.readings++;
    if (ing_seq_is_dup(&d->seq, r->seq)) {
        w->ctx->stats.duplicates++;
        note_resend(d, r->seq);
        return touch(w, d); /* answer with the current watermark again */
    }
    struct store_seq_state *s = &d->seq;
    rc = ing_normalize(r, &d->dev, s->has_cum, s->cum_in, s->cum_out, &w->nm, &e);
    if (rc == TK_ENOMEM)
        return rc;
    if (rc) {
        /* Stored in quarantine: durable, so the watermark may pass it. */
        rc = quarantine(w, m, d->dev.id, &e);
        return rc ? rc : record_seq(w, d, r->seq);
    }
    rc = store_norm(w, d, &w->nm, m->recv_us);
    if (rc)
        return rc;
    if (r->kind == TK_KIND_PEOPLE_FLOW) {
        d->cum[r->seq % CUM_SLOTS] = (struct cum_slot){1,         r->seq, r->ts_us, r->interval_s,
                                                       r->in,     r->out, r->cum_in, r->cum_out,
                                                       r->has};
        if ((r->has & TK_F_CUM_IN) && (!s->has_cum || (int32_t)(r->seq - s->cum_seq) > 0)) {
            s->has_cum = 1;
            s->cum_seq = r->seq;
            s->cum_ts_us = r->ts_us;
            s->cum_in = r->cum_in;
            s->cum_out = (r->has & TK_F_CUM_OUT) ? r->cum_out : 0;
        }
    }
    return record_seq(w, d, r->seq);
}

/* The device a message's topic names, registered with that kind; otherwise the message
 * is quarantined with the reason and *out is NULL. */
static enum tk_rc registered_device(struct writer *w, const struct ing_msg *m, const char *id,
                                    enum tk_kind kind, struct dev_entry **out)
{
    struct tk_error e = {0};
    struct dev_entry *d = NULL;
    *out = NULL;
    enum tk_rc rc = device_get(w, id, &d);
    if (rc == TK_ENOTFOUND) {
        tk_error_set(&e, TK_ENOTFOUND, "topic", "device '%s' is not registered", id);
        return quarantine(w, m, id, &e);
    }
    if (rc)
        return rc;
    if (d->dev.kind != kind) {
        tk_error_set(&e, TK_EINVAL, "topic", "device '%s' is registered as %s, not %s", id,
                     tk_kind_name(d->dev.kind), tk_kind_name(kind));
        return quarantine(w, m, id, &e);
    }
    *out = d;
    return TK_OK;
}

/* The latest city/{kind}/{id}/status of a registered device (device health). */
static enum tk_rc process_status(struct writer *w, const struct ing_msg *m, const char *id,
                                 enum tk_kind kind)
{
    struct tk_error e = {0};
    struct tk_status ts;
    struct dev_entry *d = NULL;
    size_t len;
    const char *payload = ing_msg_payload(m, &len);
    if (len == 0)
        return TK_OK; /* a retained status being deleted: nothing to record */
    enum tk_rc rc = registered_device(w, m, id, kind, &d);
    if (rc || !d)
        return rc;
    if (len > (size_t)w->ctx->cfg.payload_max || tk_status_parse(payload, len, &ts, &e)) {
        if (!e.code)
            tk_error_set(&e, TK_EFULL, "", "status of %zu bytes exceeds the limit", len);
        return quarantine(w, m, id, &e);
    }
    struct store_device_status s = {.online = ts.online,
                                     .has_battery = ts.has_battery,
                                     .has_rssi = ts.has_rssi,
                                     .battery_v = ts.battery_v,
                                     .rssi_dbm = ts.rssi_dbm,
                                     .received_us = m->recv_us};
    snprintf(s.device_id, sizeof s.device_id, "%s", id);
    snprintf(s.fw, sizeof s.fw, "%s", ts.fw);
    w->ctx->stats.statuses++;
    if (!(store_caps(w->st) & STORE_CAP_ALERTS))
        return TK_OK; /* a backend without device status: counted, not kept */
    return store_device_status_put(w->st, &s);
}

static enum tk_rc process_msg(struct writer *w, const struct ing_msg *m)
{
    struct tk_error e = {0};
    enum tk_kind kind;
    enum tk_topic_type type;
    char id[TK_ID_MAX + 1] = "";
    size_t len, n = 0;
    const char *payload = ing_msg_payload(m, &len);
    struct dev_entry *d = NULL;
    enum tk_rc rc;

    w->ctx->stats.received++;
    if (tk_topic_parse(m->topic, &kind, id, &type, &e))
        return quarantine(w, m, NULL, &e);
    if (type == TK_TOPIC_STATUS)
        return process_status(w, m, id, kind);
    if (type != TK_TOPIC_READING) {
        tk_error_set(&e, TK_EINVAL, "topic", "ingest takes readings and status only");
        return quarantine(w, m, id, &e);
    }
    if (len > (size_t)w->ctx->cfg.payload_max) {
        tk_error_set(&e, TK_EFULL, "", "payload of %zu bytes exceeds the limit of %lld bytes", len,
                     (long long)w->ctx->cfg.payload_max);
        return quarantine(w, m, id, &e);
    }
    rc = registered_device(w, m, id, kind, &d);
    if (rc || !d)
        return rc;
    size_t cap = (size_t)w->ctx->cfg.readings_max;
    rc = tk_readings_parse(payload, len, kind, id, w->rd, w->errs, cap, &n, &e);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            tk_reading_clear(&w->rd[i]);
        return quarantine(w, m, id, &e);
    }
    rc = TK_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (w->errs[i].code) {
            rc = quarantine(w, m, id, &w->errs[i]);
            /* kept in quarantine: the watermark may pass it */
            if (!rc && (w->rd[i].has & TK_F_SEQ) && !ing_seq_is_dup(&d->seq, w->rd[i].seq))
                rc = record_seq(w, d, w->rd[i].seq);
        } else
            rc = process_reading(w, d, m, &w->rd[i]);
    }
    for (size_t i = 0; i < n; i++)
        tk_reading_clear(&w->rd[i]);
    return rc;
}

/* ---- periodic work ----------------------------------------------------------------- */

static int preload_one(const struct store_device *dev, void *ud)
{
    struct writer *w = ud;
    struct dev_entry *d;
    if (dev->kind != TK_KIND_WATER_LEVEL)
        return 0;
    /* a shared worker reads (and locks) a device's watermark state only in the
     * transactions that need it (refresh) */
    enum tk_rc rc = device_load(w, dev->id, !w->shared, &d);
    if (!rc)
        rc = gauge_alerts(w, d);
    return (int)rc; /* store_device_list returns it: the log names the real cause */
}

/* Whether the silence timer would raise an alert for g now (decided on a copy). */
static int silence_due(const struct ing_alert_gauge *g, int64_t now_us)
{
    struct ing_alert_gauge c = *g;
    struct ing_alert_change ch[1];
    return ing_alert_tick(&c, now_us, ch) > 0;
}

/* Alerts: load every gauge (so one that went silent before a restart is watched too),
 * pick up changed settings, run the silence timer. */
static enum tk_rc alert_turn(struct writer *w)
{
    enum tk_rc rc;
    int64_t stamp = 0;
    if (w->preload_due) {
        rc = store_device_list(w->st, preload_one, w);
        if (rc)
            return rc;
        w->preload_due = 0;
    }
    rc = store_alert_config_stamp(w->st, &stamp);
    if (rc)
        return rc;
    int reload = stamp != w->alert_stamp, resend = w->config_resend;
    w->alert_stamp = stamp;
    w->config_resend = 0;
    for (size_t i = 0; i < w->nbuckets; i++) {
        for (struct dev_entry *d = w->buckets[i]; d; d = d->next) {
            if (!d->al)
                continue;
            if (reload && (rc = ing_alerts_reconfig(w->st, d->al, &d->dev)))
                return rc;
            if (resend && (rc = ing_alerts_config_resend(w->pub, d->al, &w->npub)))
                return rc;
            if (w->shared && d->fresh != w->tx_no && silence_due(d->al, w->now_us)) {
                /* this worker's view may be stale: the gauge's readings may have gone to
                 * another worker. Decide on the stored state, under the device's lock. */
                if ((rc = refresh(w, d->dev.id)) || (rc = gauge_alerts(w, d)) ||
                    (rc = touch(w, d)))
                    return rc;
                if (!d->al)
                    continue;
            }
            rc = ing_alerts_tick(w->st, w->pub, d->al, w->now_us, &w->npub);
            if (rc)
                return rc;
        }
    }
    return TK_OK;
}

static enum tk_rc expire_gaps(struct writer *w)
{
    int64_t timeout = w->ctx->cfg.gap_timeout_s * 1000000;
    for (size_t i = 0; i < w->nbuckets; i++) {
        for (struct dev_entry *d = w->buckets[i]; d; d = d->next) {
            uint32_t first, last;
            if (w->shared && d->fresh != w->tx_no) {
                /* only a state read in this transaction may change; worth reading only
                 * when this worker saw the evidence a gap is lost */
                if (!d->resent_beyond)
                    continue;
                enum tk_rc rc = store_seq_load(w->st, d->dev.id, &d->seq);
                if (rc)
                    return rc;
                d->fresh = w->tx_no;
            }
            while (ing_seq_expire(&d->seq, w->now_us, timeout,
                                  d->resent_beyond && d->seq.npending &&
                                      d->resent_seq == d->seq.pending[0],
                                  &w->ctx->stats.lost_seqs, &first, &last)) {
                d->resent_beyond = 0;
                tk_log(TK_LOG_WARN, "device %s: seq %" PRIu32 "..%" PRIu32 " declared lost",
                       d->dev.id, first, last);
                enum tk_rc rc = fill_gap(w, d, first, last);
                if (!rc)
                    rc = touch(w, d);
                if (rc)
                    return rc;
            }
        }
    }
    return TK_OK;
}

static void log_stats(struct ing_ctx *ctx, size_t queued)
{
    struct ing_stats *s = &ctx->stats;
    tk_log(TK_LOG_INFO,
           "stats received=%" PRIu64 " readings=%" PRIu64 " observations=%" PRIu64
           " quarantined=%" PRIu64 " duplicates=%" PRIu64 " duplicate_observations=%" PRIu64
           " lost_seqs=%" PRIu64 " untracked=%" PRIu64 " filled=%" PRIu64 " commits=%" PRIu64
           " commit_failures=%" PRIu64 " commit_ms_avg=%.2f commit_ms_max=%.2f acks=%" PRIu64
           " published=%" PRIu64 " publish_failures=%" PRIu64 " statuses=%" PRIu64 " queued=%zu",
           s->received, s->readings, s->stored_obs, s->quarantined, s->duplicates, s->dup_obs,
           s->lost_seqs, s->untracked, s->filled, s->commits, s->commit_failures,
           s->commits ? (double)s->commit_us_sum / (double)s->commits / 1000.0 : 0.0,
           (double)s->commit_us_max / 1000.0, s->acks, s->published, s->publish_failures, s->statuses, queued);
}

/* The counters for the operator view (GET /admin/ingest), written in the periodic
 * transaction (about once a second) with everything else it commits: no extra commit, no
 * second channel, and a reader sees exactly what was committed. They count since
 * started_at_us (a restart starts them again). A worker sharing a subscription names its
 * own "<client id>/<name>": workers neither overwrite each other's nor wait for each
 * other's rows, and the view adds them up. */
static enum tk_rc save_counters(struct writer *w)
{
    const struct ing_stats *s = &w->ctx->stats;
    size_t queued;
    pthread_mutex_lock(&w->ctx->q.mu);
    queued = w->ctx->q.len;
    pthread_mutex_unlock(&w->ctx->q.mu);
    const struct {
        const char *name;
        int64_t v;
    } v[] = {
        {"started_at_us", w->started_us},
        {"received", (int64_t)s->received},
        {"readings", (int64_t)s->readings},
        {"stored", (int64_t)s->stored_obs},
        {"duplicates", (int64_t)s->duplicates},
        {"duplicate_observations", (int64_t)s->dup_obs},
        {"quarantined", (int64_t)s->quarantined},
        {"lost_seqs", (int64_t)s->lost_seqs},
        {"untracked", (int64_t)s->untracked},
        {"filled", (int64_t)s->filled},
        {"commits", (int64_t)s->commits},
        {"commit_failures", (int64_t)s->commit_failures},
        {"commit_us_max", s->commit_us_max},
        {"commit_us_avg", s->commits ? s->commit_us_sum / (int64_t)s->commits : 0},
        {"acks_sent", (int64_t)s->acks},
        {"published", (int64_t)s->published},
        {"publish_failures", (int64_t)s->publish_failures},
        {"queue_depth", (int64_t)queued},
        {"queue_max", w->ctx->cfg.queue_max},
    };
    enum { NV = sizeof v / sizeof v[0] };
    struct store_counter c[NV + TK_ERC_MAX];
    size_t n = 0;
    const char *who = w->shared ? w->ctx->cfg.client_id : "", *sep = w->shared ? "/" : "";
    for (size_t i = 0; i < NV; i++) {
        snprintf(c[n].name, sizeof c[n].name, "%s%s%s", who, sep, v[i].name);
        c[n].value = v[i].v;
        c[n++].updated_us = w->now_us;
    }
    for (int code = 1; code < TK_ERC_MAX; code++) { /* quarantined_EPROTO, ... */
        snprintf(c[n].name, sizeof c[n].name, "%s%squarantined_%s", who, sep,
                 tk_rc_name((enum tk_rc)code));
        c[n].value = (int64_t)s->quarantine_by_code[code];
        c[n++].updated_us = w->now_us;
    }
    return store_counters_put(w->st, c, n);
}

/* ---- one transaction ---------------------------------------------------------------- */

static void publish_after_commit(struct writer *w)
{
    struct ing_ctx *ctx = w->ctx;
    char topic[128], body[32];
    size_t len, dropped;
    for (size_t i = 0; i < w->ntouched; i++) {
        struct dev_entry *d = w->touched[i];
        d->touched = 0;
        if (w->shared)
            d->al_seq = seq_fingerprint(&d->seq); /* as the commit left it in the store */
        if (!d->ack_due || !d->seq.known)
            continue;
        d->ack_due = 0;
        if (tk_topic_make(topic, sizeof topic, d->dev.kind, d->dev.id, TK_TOPIC_ACK) ||
            tk_ack_to_json(d->seq.watermark, body, sizeof body, &len))
            continue;
        if (pub_add(w, topic, body, len, 1) == TK_OK)
            ctx->stats.acks++;
        else
            ctx->stats.publish_failures++;
    }
    w->ntouched = 0;
    if (ing_pub_flush(w->pub, &dropped) == TK_OK) {
        ctx->stats.published += w->npub;
    } else {
        ctx->stats.publish_failures += w->npub;
        w->config_resend = 1; /* a gauge's fast/normal config may have been among them */
    }
    w->npub = 0;
}

/* Process w->batch (and the periodic work when due) in one transaction. On failure
 * nothing is kept: cached state of touched devices is dropped, the batch stays. */
static enum tk_rc run_transaction(struct writer *w, int periodic)
{
    struct ing_ctx *ctx = w->ctx;
    int64_t t0 = tk_mono_us();
    enum tk_rc rc = store_begin(w->st);
    w->tx_no++;
    if (!rc && w->shared)
        rc = refresh_batch(w);
    for (size_t i = 0; i < w->nbatch && !rc; i++)
        rc = process_msg(w, &w->batch[i]);
    if (!rc && periodic)
        rc = expire_gaps(w);
    if (!rc && periodic && (store_caps(w->st) & STORE_CAP_COUNTERS))
        rc = save_counters(w);
    if (!rc && periodic && ctx->cfg.alerts)
        rc = alert_turn(w);
    for (size_t i = 0; i < w->ntouched && !rc; i++)
        rc = store_seq_save(w->st, w->touched[i]->dev.id, &w->touched[i]->seq);
    if (!rc)
        rc = store_commit(w->st);
    if (rc) {
        store_rollback(w->st);
        ctx->stats.commit_failures++;
        tk_log(TK_LOG_ERR, "transaction of %zu messages failed: %s (%s); will retry", w->nbatch,
               tk_strerror(rc), store_errmsg(w->st));
        for (size_t i = 0; i < w->ntouched; i++)
            map_drop(w, w->touched[i]);
        w->ntouched = 0;
        /* alert state may have changed anywhere (the silence timer): reload it all */
        for (size_t i = 0; i < w->nbuckets; i++)
            for (struct dev_entry *d = w->buckets[i]; d; d = d->next) {
                free(d->al);
                d->al = NULL;
            }
        w->preload_due = 1;
        ing_pub_discard(w->pub);
        w->npub = 0;
        return rc;
    }
    int64_t dt = tk_mono_us() - t0;
    ctx->stats.commits++;
    ctx->stats.commit_us_sum += dt;
    if (dt > ctx->stats.commit_us_max)
        ctx->stats.commit_us_max = dt;
    publish_after_commit(w);
    for (size_t i = 0; i < w->nbatch; i++)
        ing_msg_free(&w->batch[i]);
    w->nbatch = 0;
    return TK_OK;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Old raw observations and quarantined messages, a bounded number per turn. */
static void retention_turn(struct writer *w)
{
    const struct ing_config *c = &w->ctx->cfg;
    int64_t obs_before = c->retention_days > 0 ? w->now_us - c->retention_days * DAY_US : 0;
    int64_t q_before = c->quarantine_retention_days > 0
                           ? w->now_us - c->quarantine_retention_days * DAY_US
                           : 0;
    size_t removed = 0;
    if (store_retention(w->st, obs_before, q_before, RETENTION_ROWS, &removed))
        tk_log(TK_LOG_WARN, "retention: %s", store_errmsg(w->st));
    else if (removed)
        tk_log(TK_LOG_DEBUG, "retention: removed %zu old rows", removed);
}

enum tk_rc ing_writer_run(struct ing_ctx *ctx)
{
    struct writer w = {.ctx = ctx,
                       .shared = ctx->cfg.share_group[0] != 0,
                       .started_us = tk_now_utc_us(),
                       .preload_due = 1,
                       .alert_stamp = -1};
    enum tk_rc rc;
    size_t batch_max = (size_t)ctx->cfg.batch_max, cap = (size_t)ctx->cfg.readings_max;
    int64_t next_periodic = 0, next_stats = tk_mono_us() + ctx->cfg.stats_interval_s * 1000000;
    long backoff_ms = 100;
    int64_t last_commit = 0;

    rc = store_open(ctx->cfg.db, NULL, &w.st);
    if (rc) {
        tk_log(TK_LOG_ERR, "cannot open store %s: %s", ctx->cfg.db, tk_strerror(rc));
        return rc;
    }
    if (ctx->cfg.alerts && !(store_caps(w.st) & STORE_CAP_ALERTS)) {
        tk_log(TK_LOG_WARN, "this store has no alerts (nor device status): the alert engine is off");
        ctx->cfg.alerts = 0;
    }
    w.batch = calloc(batch_max, sizeof *w.batch);
    w.rd = calloc(cap, sizeof *w.rd);
    w.errs = calloc(cap, sizeof *w.errs);
    w.ids = calloc(batch_max, sizeof *w.ids);
    rc = map_grow(&w);
    if (!rc)
        rc = ing_pub_create(ctx->cfg.mqtt_host, (int)ctx->cfg.mqtt_port, ctx->cfg.mqtt_tls_ca,
                            ctx->cfg.client_id, ctx->cfg.mqtt_user, ctx->password, 64u << 20,
                            &w.pub);
    if (!rc && (!w.batch || !w.rd || !w.errs || !w.ids))
        rc = TK_ENOMEM;
    if (rc)
        goto cleanup;
    for (;;) {
        int stopping = *ctx->stop != 0;
        if (w.nbatch == 0)
            w.nbatch = ing_queue_take(&ctx->q, w.batch, batch_max, stopping ? 0 : 100);
        /* Gather for at most commit-interval-ms since the last commit: under load one
         * transaction and one ack per device cover many readings instead of a few. */
        int64_t gather_until = last_commit + ctx->cfg.commit_interval_ms * 1000;
        if (w.nbatch > 0 && w.nbatch < batch_max && !stopping) {
            int64_t left = gather_until - tk_mono_us();
            if (left > 0) {
                /* sleep rather than wake per message: the queue holds what arrives */
                struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
                nanosleep(&ts, NULL);
            }
            w.nbatch += ing_queue_take(&ctx->q, w.batch + w.nbatch, batch_max - w.nbatch, 0);
        }
        int64_t mono = tk_mono_us();
        w.now_us = tk_now_utc_us();
        int periodic = mono >= next_periodic;
        if (w.nbatch == 0 && !periodic) {
            if (stopping)
                break;
            continue;
        }
        if (run_transaction(&w, periodic)) {
            if (stopping && backoff_ms > 2000)
                break; /* unacknowledged: devices will resend */
            sleep_ms(backoff_ms);
            backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
            continue;
        }
        backoff_ms = 100;
        last_commit = tk_mono_us();
        if (periodic) {
            next_periodic = mono + 1000000;
            if (ing_pub_tick(w.pub))
                tk_log(TK_LOG_WARN, "publisher connection lost while idle");
            if (store_maintain(w.st))
                tk_log(TK_LOG_WARN, "store maintenance: %s", store_errmsg(w.st));
            if (ctx->cfg.retention_days > 0 || ctx->cfg.quarantine_retention_days > 0)
                retention_turn(&w);
        }
        if (ctx->cfg.stats_interval_s > 0 && mono >= next_stats) {
            log_stats(ctx, ctx->q.len);
            next_stats = mono + ctx->cfg.stats_interval_s * 1000000;
        }
    }
    log_stats(ctx, ctx->q.len);
    rc = TK_OK;
cleanup:
    for (size_t i = 0; i < w.nbatch; i++)
        ing_msg_free(&w.batch[i]);
    for (size_t i = 0; i < w.nbuckets; i++) {
        struct dev_entry *e = w.buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e->al);
            free(e);
        }
    }
    free(w.buckets);
    free(w.touched);
    free(w.batch);
    free(w.rd);
    free(w.errs);
    free(w.ids);
    ing_pub_destroy(w.pub);
    ing_norm_free(&w.nm);
    store_close(w.st);
    return rc;
}
