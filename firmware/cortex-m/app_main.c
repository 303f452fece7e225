/* A device app on mps2-an385: one image per app (FW_APP_WATER_LEVEL, FW_APP_PEOPLE_FLOW
 * or FW_APP_WIFI_AP defined at build time), each checked against the 16 KiB flash /
 * 4 KiB RAM budget, and each run by QEMU as a smoke test.
 *
 * Port: SysTick (1 ms) for the monotonic clock, the UTC clock set from a build-time epoch
 * (a real gauge sets it from the cellular network), the CMSDK UART0 as the transport (a
 * line per message, as to an AT-command modem; acks come back on the same line), a
 * storage partition at FW_NV_BASE, a synthetic ultrasonic sensor, the watchdog kick
 * counted. Built with FW_DEMO_MS, the image runs that long and exits through
 * semihosting with status 0 only if readings were recorded, sent and acknowledged. */
#include "fw_device.h"
#include "fw_json.h"
#include "fw_people_flow.h"
#include "fw_water_level.h"
#include "fw_wifi_ap.h"

#if defined(FW_APP_WATER_LEVEL) + defined(FW_APP_PEOPLE_FLOW) + defined(FW_APP_WIFI_AP) != 1
#error "define exactly one of FW_APP_WATER_LEVEL, FW_APP_PEOPLE_FLOW, FW_APP_WIFI_AP"
#endif

#define UART0_DATA (*(volatile uint32_t *)0x40004000u)
#define UART0_STATE (*(volatile uint32_t *)0x40004004u)
#define UART0_CTRL (*(volatile uint32_t *)0x40004008u)
#define UART0_BAUDDIV (*(volatile uint32_t *)0x40004010u)
#define SYST_CSR (*(volatile uint32_t *)0xe000e010u)
#define SYST_RVR (*(volatile uint32_t *)0xe000e014u)
#define SYST_CVR (*(volatile uint32_t *)0xe000e018u)
#define FW_NV_BASE 0x00300000u /* storage partition, outside the image */
#define FW_NV_SIZE 4096u
#define CPU_HZ 25000000u

#ifndef FW_DEMO_MS
#define FW_DEMO_MS 3000u
#endif

void fw_semihost_exit(int status) __attribute__((noreturn));

struct board {
    volatile uint32_t ms;
    uint32_t kicks;
    uint32_t rng;
    uint32_t published, acked_upto;
    int pending_ack;
    uint32_t last_seq;
    uint32_t last_event_ms;
};

/* The one global: an interrupt handler has no context argument. */
static struct board board;

void SysTick_Handler(void)
{
    board.ms++;
}

/* gcc may emit calls to these for struct copies and zeroing; no C library is linked. */
void *memcpy(void *d, const void *s, unsigned n);
void *memset(void *d, int c, unsigned n);
void *memcpy(void *d, const void *s, unsigned n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}
void *memset(void *d, int c, unsigned n)
{
    uint8_t *dp = d;
    while (n--)
        *dp++ = (uint8_t)c;
    return d;
}

static void uart_put(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (UART0_STATE & 1u) /* TX full */
            ;
        UART0_DATA = (uint8_t)s[i];
    }
}

static uint32_t mono_ms(void *ctx)
{
    return ((struct board *)ctx)->ms;
}

static int64_t utc_ms(void *ctx)
{
    return 1795651200000LL + ((struct board *)ctx)->ms; /* 2026-11-26T00:00:00Z at boot */
}

static enum fw_rc net_connect(void *ctx)
{
    (void)ctx;
    return FW_OK;
}

static void net_close(void *ctx)
{
    (void)ctx;
}

static enum fw_net net_state(void *ctx)
{
    (void)ctx;
    return FW_NET_UP;
}

/* The seq of the last reading in a payload (the batch is in order). */
static uint32_t last_seq(const char *p, size_t n)
{
    uint32_t seq = 0;
    for (size_t i = 0; i + 6 < n; i++) {
        if (p[i] == '"' && p[i + 1] == 's' && p[i + 2] == 'e' && p[i + 3] == 'q' &&
            p[i + 4] == '"' && p[i + 5] == ':') {
            seq = 0;
            for (size_t j = i + 6; j < n && p[j] >= '0' && p[j] <= '9'; j++)
                seq = seq * 10u + (uint32_t)(p[j] - '0');
        }
    }
    return seq;
}

static enum fw_rc net_publish(void *ctx, enum fw_topic topic, const char *payload, size_t len,
                              int retain)
{
    struct board *b = ctx;
    (void)retain;
    uart_put(topic == FW_TOPIC_STATUS ? "status " : "reading ", topic == FW_TOPIC_STATUS ? 7 : 8);
    uart_put(payload, len);
    uart_put("\n", 1);
    if (topic == FW_TOPIC_READING) {
        /* the demo's platform: acknowledges what it got */
        b->published++;
        b->last_seq = last_seq(payload, len);
        b->pending_ack = 1;
    }
    return FW_OK;
}

static enum fw_rc net_poll(void *ctx, enum fw_topic *topic, char *buf, size_t cap, size_t *len)
{
    struct board *b = ctx;
    if (!b->pending_ack || cap < 24)
        return FW_ENOENT;
    struct fw_jw w;
    fw_jw_init(&w, buf, cap);
    fw_jw_raw(&w, "{\"seq\":");
    fw_jw_u64(&w, b->last_seq);
    fw_jw_raw(&w, "}");
    *topic = FW_TOPIC_ACK;
    *len = w.len;
    b->pending_ack = 0;
    b->acked_upto = b->last_seq;
    return FW_OK;
}

static enum fw_rc nv_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    (void)ctx;
    if (off > FW_NV_SIZE || len > FW_NV_SIZE - off)
        return FW_EIO;
    memcpy(buf, (const void *)(uintptr_t)(FW_NV_BASE + off), len);
    return FW_OK;
}

static enum fw_rc nv_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    (void)ctx;
    if (off > FW_NV_SIZE || len > FW_NV_SIZE - off)
        return FW_EIO;
    memcpy((void *)(uintptr_t)(FW_NV_BASE + off), buf, len);
    return FW_OK;
}

static enum fw_rc nv_commit(void *ctx)
{
    (void)ctx;
    return FW_OK;
}

static enum fw_rc sensor_read(void *ctx, enum fw_channel ch, void *out, size_t size)
{
    struct board *b = ctx;
    int32_t v;
    if (ch == FW_CH_WIFI_EVENT) {
        /* a synthetic radio: one station per millisecond tick, 40 distinct, every 4th a
         * phone probing with a randomised MAC */
        struct fw_wifi_event ev;
        if (size != sizeof ev || b->ms == b->last_event_ms)
            return FW_ENOENT;
        b->last_event_ms = b->ms;
        uint32_t who = b->ms % 40u;
        ev.mac[0] = who % 4u == 3u ? 0x06 : 0x00;
        ev.mac[1] = 0x1b;
        ev.mac[2] = 0x63;
        ev.mac[3] = (uint8_t)(who % 4u == 3u ? b->ms >> 8 : 0);
        ev.mac[4] = (uint8_t)(who % 4u == 3u ? b->ms : who);
        ev.mac[5] = 0x42;
        ev.associated = who % 3u == 0u && who % 4u != 3u;
        memcpy(out, &ev, sizeof ev);
        return FW_OK;
    }
    if (size != sizeof v)
        return FW_EINVAL;
    switch (ch) {
    case FW_CH_COUNT_IN:
        v = (int32_t)(b->ms / 7u); /* people passing the counter */
        break;
    case FW_CH_COUNT_OUT:
        v = (int32_t)(b->ms / 9u);
        break;
    case FW_CH_WIFI_ASSOC:
        v = 12;
        break;
    case FW_CH_DISTANCE_MM:
        v = 2900 - (int32_t)(b->ms / 100u); /* slowly rising water */
        break;
    case FW_CH_BATTERY_MV:
        v = 3610;
        break;
    case FW_CH_RSSI_DBM:
        v = -91;
        break;
    default:
        return FW_EINVAL;
    }
    memcpy(out, &v, sizeof v);
    return FW_OK;
}

static void wdt_kick(void *ctx)
{
    ((struct board *)ctx)->kicks++;
}

static uint32_t rand32(void *ctx)
{
    struct board *b = ctx;
    b->rng = b->rng * 1664525u + 1013904223u + b->ms;
    return b->rng;
}

static const struct fw_port port = {
    &board,    mono_ms,  utc_ms,      net_connect, net_close, net_state, net_publish, net_poll,
    nv_read,   nv_write, nv_commit,   FW_NV_SIZE,  sensor_read, wdt_kick, rand32,     0,
};

static struct fw_dev dev;
#if defined(FW_APP_WATER_LEVEL)
#define APP_KIND FW_KIND_WATER_LEVEL
#define APP_ID "wl-m3-0001"
static struct fw_wl app;
#elif defined(FW_APP_PEOPLE_FLOW)
#define APP_KIND FW_KIND_PEOPLE_FLOW
#define APP_ID "pf-m3-0001"
static struct fw_pf app;
#else
#define APP_KIND FW_KIND_WIFI_AP
#define APP_ID "ap-m3-0001"
static struct fw_wifi app;
#endif

int main(void)
{
    UART0_BAUDDIV = 16;
    UART0_CTRL = 1u; /* TX enable */
    SYST_RVR = CPU_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */

    struct fw_dev_opts o;
    fw_dev_default_opts(&o, APP_ID, APP_KIND);
    o.ring_slots = 16;
    o.slot_size = 192;
    o.max_batch = 3;
    o.defaults.sample_ms = 100;
    o.defaults.interval_ms = 500;
    o.defaults.fast_interval_ms = 500;
#if !defined(FW_APP_WATER_LEVEL)
    o.defaults.interval_ms = 100; /* counts every 100 ms, sent as they come */
    o.defaults.fast_interval_ms = 100;
#endif
    if (fw_dev_init(&dev, &port, &o) != FW_OK)
        return 2;
#if defined(FW_APP_WATER_LEVEL)
    struct fw_wl_opts wo;
    fw_wl_default_opts(&wo);
    wo.mount_height_mm = 3200;
    fw_wl_init(&app, &dev, &wo);
#elif defined(FW_APP_PEOPLE_FLOW)
    fw_pf_init(&app, &dev);
#else
    fw_wifi_init(&app, &dev);
#endif
    while (board.ms < FW_DEMO_MS) {
#if defined(FW_APP_WATER_LEVEL)
        fw_wl_tick(&app);
#elif defined(FW_APP_PEOPLE_FLOW)
        fw_pf_tick(&app);
#else
        fw_wifi_tick(&app);
#endif
        fw_dev_tick(&dev);
        __asm__ volatile("wfi"); /* sleep until the next SysTick */
    }
    uart_put("done\n", 5);
    /* success: readings were recorded, sent, acknowledged, and the watchdog was kicked */
    int ok = dev.st.recorded >= 10 && board.published > 0 && dev.st.acks > 0 && board.kicks > 0 &&
             fw_ring_count(&dev.ring) <= 5;
#if defined(FW_APP_PEOPLE_FLOW)
    ok = ok && app.cum_in > 0 && app.cum_out > 0 && app.cum_in > app.cum_out;
#elif defined(FW_APP_WIFI_AP)
    /* 30 fixed stations a 100 ms interval sees (the randomised probes are not counted) */
    ok = ok && app.last_unique > 0 && app.last_unique <= 30 && app.la_probes_ignored > 0;
#endif
    return ok ? 0 : 1;
}
