#include "fw_wifi_ap.h"

static uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64u - b));
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8u * i);
    return v;
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

uint64_t fw_siphash24(const uint8_t key[16], const uint8_t *msg, size_t len)
{
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m = le64(msg + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (unsigned j = 0; i + j < len; j++)
        b |= (uint64_t)msg[i + j] << (8u * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

static void new_salt(struct fw_wifi *w)
{
    const struct fw_port *port = w->dev->port;
    for (unsigned i = 0; i < 16; i += 4) {
        uint32_t r = port->rand32(port->ctx);
        w->salt[i] = (uint8_t)r;
        w->salt[i + 1] = (uint8_t)(r >> 8);
        w->salt[i + 2] = (uint8_t)(r >> 16);
        w->salt[i + 3] = (uint8_t)(r >> 24);
    }
}

static int64_t utc_day(const struct fw_port *port)
{
    int64_t ms = port->utc_ms(port->ctx);
    return ms > 0 ? ms / 86400000 : -1;
}

static void clear_set(struct fw_wifi *w)
{
    for (unsigned i = 0; i < FW_WIFI_SET; i++)
        w->set[i] = 0;
    w->unique = w->probe_only = 0;
}

void fw_wifi_init(struct fw_wifi *w, struct fw_dev *dev)
{
    w->dev = dev;
    new_salt(w);
    w->salt_day = utc_day(dev->port);
    w->started = dev->port->mono_ms(dev->port->ctx);
    w->la_probes_ignored = w->set_overflow = w->salt_rotations = w->lost_intervals = 0;
    w->reports = w->last_unique = w->last_probe_only = w->last_digest = 0;
    clear_set(w);
}

/* Count one station; ev->mac is wiped by the caller right after. */
static void seen(struct fw_wifi *w, const struct fw_wifi_event *ev)
{
    if (ev->mac[0] & 0x01u)
        return; /* group address: not a station */
    if ((ev->mac[0] & 0x02u) && !ev->associated) {
        w->la_probes_ignored++; /* randomised MAC in a probe: changes per scan */
        return;
    }
    uint32_t h = (uint32_t)(fw_siphash24(w->salt, ev->mac, 6) >> 32) & ~1u;
    if (h == 0)
        h = 2;
    uint32_t mask = FW_WIFI_SET - 1u, i = (h >> 1) & mask;
    for (uint32_t n = 0; n < FW_WIFI_SET; n++, i = (i + 1u) & mask) {
        uint32_t e = w->set[i];
        if (e == 0) {
            w->set[i] = h | (ev->associated ? 1u : 0u);
            w->unique++;
            if (!ev->associated)
                w->probe_only++;
            return;
        }
        if ((e & ~1u) == h) {
            if (ev->associated && !(e & 1u)) {
                w->set[i] = e | 1u;
                w->probe_only--;
            }
            return;
        }
    }
    w->set_overflow++; /* full: counted, not remembered */
    w->unique++;
    if (!ev->associated)
        w->probe_only++;
}

static void report(struct fw_wifi *w, uint32_t now)
{
    const struct fw_port *port = w->dev->port;
    int32_t assoc = 0;
    struct fw_reading r = {0};
    uint32_t secs = (now - w->started + 500u) / 1000u;
    if (port->sensor_read(port->ctx, FW_CH_WIFI_ASSOC, &assoc, sizeof assoc) != FW_OK ||
        assoc < 0)
        assoc = 0;
    r.ts_ms = port->utc_ms(port->ctx);
    r.interval_s = secs < 1 ? 1 : secs > 86400 ? 86400 : secs;
    r.unique_devices = w->unique > 100000u ? 100000u : w->unique;
    r.associated = assoc > 100000 ? 100000u : (uint32_t)assoc;
    r.has = FW_R_PROBE_ONLY;
    r.probe_only = w->probe_only;
    if (r.ts_ms <= 0 || fw_dev_record(w->dev, &r) != FW_OK)
        w->lost_intervals++;
    uint32_t digest = 0;
    for (unsigned i = 0; i < FW_WIFI_SET; i++)
        digest += w->set[i] & ~1u;
    w->last_digest = digest;
    w->last_unique = w->unique;
    w->last_probe_only = w->probe_only;
    w->reports++;
    clear_set(w);
    w->started = now;
    int64_t day = utc_day(port);
    if (day != w->salt_day) { /* a new day: yesterday's hashes become unlinkable */
        new_salt(w);
        w->salt_day = day;
        w->salt_rotations++;
    }
}

void fw_wifi_tick(struct fw_wifi *w)
{
    const struct fw_port *port = w->dev->port;
    struct fw_wifi_event ev;
    for (int i = 0; i < 256; i++) { /* bounded work per tick */
        if (port->sensor_read(port->ctx, FW_CH_WIFI_EVENT, &ev, sizeof ev) != FW_OK)
            break;
        seen(w, &ev);
        wipe(&ev, sizeof ev);
    }
    uint32_t now = port->mono_ms(port->ctx);
    if (now - w->started >= w->dev->cfg.interval_ms)
        report(w, now);
    fw_dev_checkin(w->dev, FW_TASK_APP);
}
