#include "fw_device.h"

#include "fw_json.h"

#ifndef FW_LOG_LEVEL
#define FW_LOG_LEVEL 2 /* 0 none, 1 errors, 2 + notices, 3 + debug: capped at build time */
#endif

static void logm(const struct fw_dev *d, int level, const char *msg)
{
    if (level <= FW_LOG_LEVEL && d->port->log)
        d->port->log(d->port->ctx, level, msg);
}

void fw_dev_default_opts(struct fw_dev_opts *o, const char *id, enum fw_kind kind)
{
    o->id = id;
    o->kind = kind;
    o->fw_version = "0.1.0";
    o->nv_config_off = 0;
    o->nv_ring_off = FW_CONFIG_BLOCK_SIZE;
    o->ring_slots = 64;
    o->slot_size = 224;
    o->defaults.version = 0;
    o->defaults.interval_ms = 600000;
    o->defaults.sample_ms = 60000;
    o->defaults.fast_interval_ms = 60000;
    o->defaults.fast_hold_ms = 1800000;
    o->defaults.fast_start_level_mm = 0;
    o->defaults.fast_start_rise_mm_per_10min = 100;
    o->defaults.fast_hysteresis_mm = 0;
    o->defaults.has = FW_CFG_FAST_INTERVAL | FW_CFG_START_RISE | FW_CFG_HOLD;
    o->backoff_base_ms = 1000;
    o->backoff_cap_ms = 300000;
    o->connect_timeout_ms = 30000;
    o->ack_timeout_ms = 30000;
    o->status_interval_ms = 3600000;
    o->max_batch = 16;
}

enum fw_rc fw_dev_init(struct fw_dev *d, const struct fw_port *port, const struct fw_dev_opts *o)
{
    enum fw_rc rc;
    d->port = port;
    d->o = *o;
    if (!fw_id_valid(o->id) || o->max_batch == 0)
        return FW_EINVAL;
    d->cfg = o->defaults;
    rc = fw_config_load(port, o->nv_config_off, &d->cfg);
    if (rc == FW_ECRC)
        logm(d, 2, "no valid stored config: defaults");
    else if (rc)
        return rc;
    rc = fw_ring_open(&d->ring, port, o->nv_ring_off, o->ring_slots, o->slot_size);
    if (rc == FW_ENOENT) {
        logm(d, 2, "fresh ring");
        rc = port->nv_commit(port->ctx);
    }
    if (rc)
        return rc;
    fw_backoff_init(&d->bo, o->backoff_base_ms, o->backoff_cap_ms);
    fw_wdog_init(&d->wd);
    fw_wdog_add(&d->wd, FW_TASK_NET);
    fw_wdog_add(&d->wd, FW_TASK_APP);
    d->phase = FW_PHASE_IDLE;
    d->now = port->mono_ms(port->ctx);
    d->phase_since = d->retry_at = d->last_flush = d->ack_wait_since = d->now;
    d->last_status = d->now;
    d->next_send = d->ring.tail;
    d->acked = 0;
    d->have_ack = d->flush_now = d->status_due = d->fast = d->nv_dirty = 0;
    d->battery_mv = -1;
    d->rssi_dbm = 1;
    struct fw_dev_stats zero = {0};
    d->st = zero;
    return FW_OK;
}

uint32_t fw_dev_interval_ms(const struct fw_dev *d)
{
    return d->fast ? d->cfg.fast_interval_ms : d->cfg.interval_ms;
}

void fw_dev_set_fast(struct fw_dev *d, int fast)
{
    if (fast && !d->fast)
        d->flush_now = 1;
    d->fast = (uint8_t)(fast != 0);
}

void fw_dev_set_health(struct fw_dev *d, int32_t battery_mv, int32_t rssi_dbm)
{
    d->battery_mv = battery_mv;
    d->rssi_dbm = rssi_dbm;
}

void fw_dev_checkin(struct fw_dev *d, enum fw_task task)
{
    fw_wdog_checkin(&d->wd, (unsigned)task);
}

enum fw_rc fw_dev_record(struct fw_dev *d, struct fw_reading *r)
{
    size_t len;
    r->kind = d->o.kind;
    r->seq = fw_ring_next_seq(&d->ring);
    enum fw_rc rc = fw_reading_encode(r, d->o.id, d->tx, sizeof d->tx, &len);
    if (rc)
        return rc;
    uint32_t tail = d->ring.tail;
    rc = fw_ring_push(&d->ring, d->tx, (uint32_t)len);
    if (!rc)
        rc = d->port->nv_commit(d->port->ctx);
    if (rc)
        return rc;
    if (d->ring.tail != tail && fw_diff32(d->next_send, d->ring.tail) < 0)
        d->next_send = d->ring.tail; /* the oldest was dropped: ring full */
    d->st.recorded++;
    return FW_OK;
}

/* ---- network ----------------------------------------------------------------------- */

static void go_idle(struct fw_dev *d, int failed)
{
    uint32_t wait = fw_backoff_next(&d->bo, d->port->rand32(d->port->ctx));
    if (failed)
        d->st.connect_failures++;
    d->phase = FW_PHASE_IDLE;
    d->phase_since = d->now;
    d->retry_at = d->now + wait;
}

static void publish_status(struct fw_dev *d)
{
    struct fw_status s = {1,
                          d->o.fw_version,
                          d->battery_mv,
                          d->rssi_dbm,
                          fw_ring_count(&d->ring),
                          d->ring.dropped,
                          d->cfg.version};
    size_t len;
    if (fw_status_encode(&s, d->tx, sizeof d->tx, &len) != FW_OK)
        return;
    if (d->port->net_publish(d->port->ctx, FW_TOPIC_STATUS, d->tx, len, 1) == FW_OK) {
        d->status_due = 0;
        d->last_status = d->now;
    }
}

static void on_ack(struct fw_dev *d, const char *buf, size_t len)
{
    int64_t seq;
    uint32_t removed = 0;
    if (fw_json_get_fixed(buf, len, "seq", 0, &seq) != FW_OK || seq < 0 ||
        seq > 4294967295LL) {
        logm(d, 1, "bad ack");
        return;
    }
    d->st.acks++;
    d->acked = (uint32_t)seq;
    d->have_ack = 1;
    if (fw_ring_ack(&d->ring, (uint32_t)seq, &removed) != FW_OK)
        return;
    if (removed) {
        d->nv_dirty = 1;
        d->ack_wait_since = d->now;
    }
    if (fw_diff32(d->next_send, d->ring.tail) < 0)
        d->next_send = d->ring.tail;
}

static void on_config(struct fw_dev *d, const char *buf, size_t len)
{
    struct fw_config c;
    enum fw_rc rc = fw_config_parse(buf, len, &d->cfg, &c);
    if (rc == FW_ESTALE)
        return; /* the retained config again, after a reconnect */
    if (rc) {
        d->st.cfg_rejected++;
        logm(d, 1, "config refused");
        return;
    }
    if (fw_config_save(d->port, d->o.nv_config_off, &c) != FW_OK) {
        logm(d, 1, "config not saved");
        return;
    }
    d->cfg = c;
    d->nv_dirty = 1;
    d->status_due = 1;
    d->st.cfg_applied++;
    logm(d, 2, "config applied");
}

static void poll_messages(struct fw_dev *d)
{
    for (int i = 0; i < 8; i++) { /* bounded work per tick */
        enum fw_topic t;
        size_t len = 0;
        enum fw_rc rc = d->port->net_poll(d->port->ctx, &t, d->rx, sizeof d->rx - 1, &len);
        if (rc == FW_ENOENT)
            break;
        if (rc)
            continue; /* oversized: dropped by the port */
        d->rx[len] = '\0';
        if (t == FW_TOPIC_ACK)
            on_ack(d, d->rx, len);
        else if (t == FW_TOPIC_CONFIG)
            on_config(d, d->rx, len);
    }
    if (d->nv_dirty) {
        if (d->port->nv_commit(d->port->ctx) == FW_OK)
            d->nv_dirty = 0;
    }
}

/* Send readings [next_send, head) as batches; stops when the port is busy. */
static void flush(struct fw_dev *d)
{
    while (d->next_send != d->ring.head) {
        struct fw_jw w;
        uint32_t seq = d->next_send, n = 0, first_len = 0;
        fw_jw_init(&w, d->tx, sizeof d->tx);
        fw_jw_raw(&w, "[");
        while (seq != d->ring.head && n < d->o.max_batch) {
            size_t len;
            size_t room = w.cap - w.len;
            /* room for the payload, a comma and the closing bracket */
            if (room < 3)
                break;
            enum fw_rc rc = fw_ring_get(&d->ring, seq, w.buf + w.len + (n ? 1 : 0),
                                        room - 2 - (n ? 1 : 0), &len);
            if (rc == FW_EFULL)
                break;
            if (rc) {
                d->st.corrupt++; /* a slot that fails its CRC is skipped, never sent */
                seq++;
                continue;
            }
            if (n)
                w.buf[w.len++] = ',';
            w.len += len;
            w.buf[w.len] = '\0';
            if (n == 0)
                first_len = (uint32_t)len;
            n++;
            seq++;
        }
        if (n == 0) {
            if (seq == d->next_send)
                return; /* one reading larger than the send buffer: cannot happen */
            d->next_send = seq;
            continue;
        }
        const char *payload = d->tx;
        size_t plen;
        if (n == 1) {
            payload = d->tx + 1; /* a single reading goes as an object */
            plen = first_len;
        } else {
            fw_jw_raw(&w, "]");
            plen = w.len;
        }
        if (w.overflow)
            return;
        enum fw_rc rc = d->port->net_publish(d->port->ctx, FW_TOPIC_READING, payload, plen, 0);
        if (rc) {
            d->st.publish_busy++;
            return;
        }
        d->st.sent_msgs++;
        d->st.sent_readings += n;
        d->next_send = seq;
        d->ack_wait_since = d->now;
    }
}

static void online(struct fw_dev *d)
{
    poll_messages(d);
    if (d->status_due || d->now - d->last_status >= d->o.status_interval_ms)
        publish_status(d);
    /* no ack progress for a while after sending: the platform may have lost them
     * (a killed ingest, a restarted broker): go back to the oldest unacknowledged */
    if (d->next_send != d->ring.tail && d->now - d->ack_wait_since >= d->o.ack_timeout_ms) {
        d->st.resends++;
        d->next_send = d->ring.tail;
        d->flush_now = 1;
        d->ack_wait_since = d->now;
        logm(d, 2, "ack timeout: resending");
    }
    if (d->flush_now || d->now - d->last_flush >= fw_dev_interval_ms(d)) {
        flush(d);
        if (d->next_send == d->ring.head) {
            d->flush_now = 0;
            d->last_flush = d->now;
        }
    }
}

void fw_dev_tick(struct fw_dev *d)
{
    const struct fw_port *p = d->port;
    d->now = p->mono_ms(p->ctx);
    switch (d->phase) {
    case FW_PHASE_IDLE:
        if (fw_diff32(d->now, d->retry_at) >= 0) {
            if (p->net_connect(p->ctx) == FW_OK) {
                d->phase = FW_PHASE_CONNECTING;
                d->phase_since = d->now;
            } else {
                go_idle(d, 1);
            }
        }
        break;
    case FW_PHASE_CONNECTING: {
        enum fw_net s = p->net_state(p->ctx);
        if (s == FW_NET_UP) {
            d->phase = FW_PHASE_ONLINE;
            d->phase_since = d->now;
            fw_backoff_reset(&d->bo);
            d->st.connects++;
            d->next_send = d->ring.tail; /* anything unacknowledged goes again */
            d->flush_now = 1;
            d->status_due = 1;
            d->ack_wait_since = d->now;
            logm(d, 2, "online");
        } else if (s == FW_NET_DOWN || d->now - d->phase_since >= d->o.connect_timeout_ms) {
            p->net_close(p->ctx);
            go_idle(d, 1);
        }
        break;
    }
    case FW_PHASE_ONLINE:
        if (p->net_state(p->ctx) != FW_NET_UP) {
            logm(d, 2, "connection lost");
            go_idle(d, 0);
            break;
        }
        online(d);
        break;
    }
    /* The network task is healthy when its state is within its bounds: a CONNECTING
     * that outlives twice its timeout means the state machine itself is stuck. */
    if (d->phase != FW_PHASE_CONNECTING ||
        d->now - d->phase_since < 2u * d->o.connect_timeout_ms)
        fw_dev_checkin(d, FW_TASK_NET);
    fw_wdog_poll(&d->wd, p);
}
