#include "sim_port.h"

#include <string.h>

static uint32_t mono_ms(void *ctx)
{
    return ((struct sim *)ctx)->mono;
}

static int64_t utc_ms(void *ctx)
{
    return ((struct sim *)ctx)->utc;
}

static enum fw_rc net_connect(void *ctx)
{
    struct sim *s = ctx;
    s->connects++;
    s->net = s->connect_to;
    return FW_OK;
}

static void net_close(void *ctx)
{
    struct sim *s = ctx;
    s->closes++;
    s->net = FW_NET_DOWN;
}

static enum fw_net net_state(void *ctx)
{
    return ((struct sim *)ctx)->net;
}

static enum fw_rc net_publish(void *ctx, enum fw_topic topic, const char *payload, size_t len,
                              int retain)
{
    struct sim *s = ctx;
    if (s->net != FW_NET_UP || s->publish_busy)
        return FW_EBUSY;
    if (len > SIM_PUB_MAX)
        return FW_EINVAL;
    struct sim_pub *p = &s->pub[s->npub % SIM_PUBS];
    p->topic = topic;
    p->retain = retain;
    p->len = len;
    memcpy(p->payload, payload, len);
    p->payload[len] = '\0';
    s->npub++;
    return FW_OK;
}

static enum fw_rc net_poll(void *ctx, enum fw_topic *topic, char *buf, size_t cap, size_t *len)
{
    struct sim *s = ctx;
    if (s->in_r == s->in_w)
        return FW_ENOENT;
    unsigned i = s->in_r++ % SIM_INBOX;
    *topic = s->inbox[i].topic;
    if (s->inbox[i].len > cap)
        return FW_EFULL;
    memcpy(buf, s->inbox[i].buf, s->inbox[i].len);
    *len = s->inbox[i].len;
    return FW_OK;
}

static enum fw_rc nv_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    struct sim *s = ctx;
    if (off > SIM_NV_SIZE || len > SIM_NV_SIZE - off)
        return FW_EIO;
    memcpy(buf, s->nv + off, len);
    return FW_OK;
}

static enum fw_rc nv_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    struct sim *s = ctx;
    if (off > SIM_NV_SIZE || len > SIM_NV_SIZE - off)
        return FW_EIO;
    memcpy(s->nv + off, buf, len);
    s->nv_writes++;
    if (s->nv_log) {
        size_t n = len < s->nv_log_cap - s->nv_log_len ? len : s->nv_log_cap - s->nv_log_len;
        memcpy(s->nv_log + s->nv_log_len, buf, n);
        s->nv_log_len += n;
    }
    return FW_OK;
}

static enum fw_rc nv_commit(void *ctx)
{
    ((struct sim *)ctx)->commits++;
    return FW_OK;
}

static enum fw_rc sensor_read(void *ctx, enum fw_channel ch, void *out, size_t size)
{
    struct sim *s = ctx;
    if (ch == FW_CH_WIFI_EVENT) {
        if (size != sizeof(struct fw_wifi_event) || s->evpos >= s->nevents)
            return FW_ENOENT;
        memcpy(out, &s->events[s->evpos++], size);
        return FW_OK;
    }
    if ((unsigned)ch >= 16 || size != sizeof(int32_t) || s->ch_fail[ch])
        return FW_EIO;
    int32_t v = s->script ? s->script(s, ch) : s->ch[ch];
    memcpy(out, &v, sizeof v);
    return FW_OK;
}

static void wdt_kick(void *ctx)
{
    ((struct sim *)ctx)->kicks++;
}

static uint32_t rand32(void *ctx)
{
    struct sim *s = ctx; /* xorshift32: deterministic tests */
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 17;
    s->rng ^= s->rng << 5;
    return s->rng;
}

void sim_init(struct sim *s)
{
    memset(s, 0, sizeof *s);
    s->mono = 1000;
    s->utc = 1795651200000LL; /* 2026-11-26T00:00:00Z */
    s->connect_to = FW_NET_UP;
    s->rng = 0x12345678u;
}

void sim_port(struct sim *s, struct fw_port *p)
{
    memset(p, 0, sizeof *p);
    p->ctx = s;
    p->mono_ms = mono_ms;
    p->utc_ms = utc_ms;
    p->net_connect = net_connect;
    p->net_close = net_close;
    p->net_state = net_state;
    p->net_publish = net_publish;
    p->net_poll = net_poll;
    p->nv_read = nv_read;
    p->nv_write = nv_write;
    p->nv_commit = nv_commit;
    p->nv_size = SIM_NV_SIZE;
    p->sensor_read = sensor_read;
    p->wdt_kick = wdt_kick;
    p->rand32 = rand32;
}

void sim_deliver(struct sim *s, enum fw_topic topic, const char *payload)
{
    unsigned i = s->in_w++ % SIM_INBOX;
    size_t n = strlen(payload);
    if (n > sizeof s->inbox[i].buf)
        n = sizeof s->inbox[i].buf;
    s->inbox[i].topic = topic;
    s->inbox[i].len = n;
    memcpy(s->inbox[i].buf, payload, n);
}

const struct sim_pub *sim_pub(const struct sim *s, unsigned i)
{
    if (i >= s->npub || s->npub - i > SIM_PUBS)
        return NULL;
    return &s->pub[i % SIM_PUBS];
}
