/* Back-off, watchdog, and the device state machine against the simulated board. */
#include "fw_backoff.h"
#include "fw_device.h"
#include "fw_wdog.h"
#include "sim_port.h"
#include "tk_check.h"

#include <stdio.h>
#include <stdlib.h>

static struct sim sim;
static struct fw_port port;
static struct fw_dev dev;

static void test_backoff(void)
{
    struct fw_backoff b;
    uint32_t rng = 1;
    fw_backoff_init(&b, 1000, 60000);
    uint32_t prev_nominal = 0;
    for (int k = 0; k < 40; k++) {
        uint32_t nominal = fw_backoff_nominal(&b);
        CHECK(nominal >= prev_nominal);
        CHECK(nominal <= 60000);
        uint32_t lo = UINT32_MAX, hi = 0;
        for (int j = 0; j < 200; j++) { /* same attempt, many draws: the jitter range */
            struct fw_backoff c = b;
            rng = rng * 1103515245u + 12345u;
            uint32_t d = fw_backoff_next(&c, rng);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        CHECK(lo >= nominal / 2);
        CHECK(hi <= nominal);
        if (nominal >= 1000)
            CHECK(hi > lo); /* there is jitter */
        uint32_t want = k < 6 ? 1000u << k : 60000u; /* 1,2,4,8,16,32 s, then the cap */
        CHECK_EQ_INT(nominal, want);
        prev_nominal = nominal;
        (void)fw_backoff_next(&b, rng);
    }
    fw_backoff_reset(&b);
    CHECK_EQ_INT(fw_backoff_nominal(&b), 1000);
    CHECK(fw_backoff_next(&b, 0xffffffffu) <= 1000);
}

static void test_wdog(void)
{
    struct fw_wdog w;
    sim_init(&sim);
    sim_port(&sim, &port);
    fw_wdog_init(&w);
    CHECK(fw_wdog_poll(&w, &port) == 0); /* no tasks registered: never kicks */
    fw_wdog_add(&w, 0);
    fw_wdog_add(&w, 3);
    fw_wdog_checkin(&w, 0);
    CHECK(fw_wdog_poll(&w, &port) == 0);
    CHECK_EQ_INT(sim.kicks, 0);
    fw_wdog_checkin(&w, 3);
    CHECK(fw_wdog_poll(&w, &port) == 1);
    CHECK_EQ_INT(sim.kicks, 1);
    CHECK(fw_wdog_poll(&w, &port) == 0); /* check-ins are consumed by the kick */
    fw_wdog_checkin(&w, 3);
    fw_wdog_checkin(&w, 5); /* unregistered task does not count */
    CHECK(fw_wdog_poll(&w, &port) == 0);
    CHECK_EQ_INT(sim.kicks, 1);
}

static void boot(void)
{
    struct fw_dev_opts o;
    fw_dev_default_opts(&o, "gauge-001", FW_KIND_WATER_LEVEL);
    o.ring_slots = 16;
    o.slot_size = 192;
    o.max_batch = 4;
    o.defaults.interval_ms = 60000;
    o.defaults.sample_ms = 10000;
    o.ack_timeout_ms = 20000;
    o.backoff_base_ms = 1000;
    o.backoff_cap_ms = 8000;
    CHECK(fw_dev_init(&dev, &port, &o) == FW_OK);
}

static void record(int32_t distance)
{
    struct fw_reading r = {0};
    r.ts_ms = sim.utc;
    r.has = FW_R_DISTANCE | FW_R_BATTERY;
    r.distance_mm = distance;
    r.battery_mv = 3610;
    CHECK(fw_dev_record(&dev, &r) == FW_OK);
}

static void run(uint32_t ms, uint32_t step)
{
    for (uint32_t t = 0; t < ms; t += step) {
        sim.mono += step;
        sim.utc += step;
        fw_dev_checkin(&dev, FW_TASK_APP);
        fw_dev_tick(&dev);
    }
}

/* Count readings (by "seq":) in publishes from index from on. */
static unsigned readings_since(unsigned from, uint32_t *max_seq)
{
    unsigned n = 0;
    for (unsigned i = from; i < sim.npub; i++) {
        const struct sim_pub *p = sim_pub(&sim, i);
        if (!p || p->topic != FW_TOPIC_READING)
            continue;
        for (const char *s = strstr(p->payload, "\"seq\":"); s; s = strstr(s + 1, "\"seq\":")) {
            n++;
            uint32_t v = (uint32_t)strtoul(s + 6, NULL, 10);
            if (max_seq && v > *max_seq)
                *max_seq = v;
        }
    }
    return n;
}

static void test_device_flow(void)
{
    sim_init(&sim);
    sim_port(&sim, &port);
    sim.connect_to = FW_NET_DOWN; /* no network at first */
    boot();
    record(2800);
    record(2790);
    run(20000, 100);
    CHECK(sim.connects >= 3);           /* retried with back-off */
    CHECK(sim.connects <= 6);           /* ... not hammering: 1+2+4+8 s of waits */
    CHECK_EQ_INT(dev.phase, FW_PHASE_IDLE);
    CHECK_EQ_INT(sim.npub, 0);

    sim.connect_to = FW_NET_UP;
    run(10000, 100);
    CHECK_EQ_INT(dev.phase, FW_PHASE_ONLINE);
    /* status first (retained), then the backlog as one batch */
    const struct sim_pub *st = sim_pub(&sim, 0);
    CHECK(st && st->topic == FW_TOPIC_STATUS && st->retain);
    CHECK(st && strstr(st->payload, "\"state\":\"online\"") && strstr(st->payload, "\"buffered\":2"));
    const struct sim_pub *b = sim_pub(&sim, 1);
    CHECK(b && b->topic == FW_TOPIC_READING && b->payload[0] == '[');
    CHECK_EQ_INT(readings_since(0, NULL), 2);

    /* ack 2: the ring empties */
    sim_deliver(&sim, FW_TOPIC_ACK, "{\"seq\":2}");
    run(200, 100);
    CHECK_EQ_INT(fw_ring_count(&dev.ring), 0);

    /* normal interval: readings wait for the interval, then go as one message */
    unsigned before = sim.npub;
    for (int i = 0; i < 5; i++) {
        record(2780 - i);
        run(10000, 100);
    }
    run(15000, 100); /* the interval (60 s) is over */
    uint32_t maxs = 0;
    CHECK_EQ_INT(readings_since(before, &maxs), 5);
    CHECK(sim.npub - before <= 2);
    CHECK_EQ_INT(maxs, 7);

    /* no ack: after ack_timeout everything unacknowledged is sent again */
    before = sim.npub;
    run(25000, 100);
    CHECK(readings_since(before, NULL) >= 5);
    CHECK(dev.st.resends >= 1);
    sim_deliver(&sim, FW_TOPIC_ACK, "{\"seq\":7}");
    run(200, 100);
    CHECK_EQ_INT(fw_ring_count(&dev.ring), 0);

    /* connection lost while readings wait: after reconnect they are resent */
    record(2700);
    record(2690);
    fw_dev_set_fast(&dev, 1);
    run(200, 100);
    before = sim.npub;
    sim.net = FW_NET_DOWN;
    run(3000, 100);
    CHECK(dev.phase != FW_PHASE_ONLINE || sim.connects > 0);
    run(10000, 100);
    CHECK_EQ_INT(dev.phase, FW_PHASE_ONLINE);
    CHECK(readings_since(before, NULL) >= 2);

    /* the watchdog: kicked while all tasks check in, not when the app stops */
    uint32_t kicks = sim.kicks;
    run(1000, 100);
    CHECK(sim.kicks >= kicks + 9);
    kicks = sim.kicks;
    for (int i = 0; i < 50; i++) {
        sim.mono += 100;
        fw_dev_tick(&dev); /* the app task hangs: no check-in */
    }
    CHECK_EQ_INT(sim.kicks, kicks);
}

static void test_config_via_mqtt(void)
{
    sim_init(&sim);
    sim_port(&sim, &port);
    boot();
    run(2000, 100);
    CHECK_EQ_INT(dev.phase, FW_PHASE_ONLINE);
    sim_deliver(&sim, FW_TOPIC_CONFIG,
                "{\"version\":5,\"interval_s\":120,\"sample_s\":30,\"fast_interval_s\":30,"
                "\"fast_start_level_m\":1.5,\"fast_hysteresis_m\":0.2}");
    sim_deliver(&sim, FW_TOPIC_CONFIG, "{\"version\":6,\"interval_s\":5}"); /* refused */
    run(500, 100);
    CHECK_EQ_INT(dev.cfg.version, 5);
    CHECK_EQ_INT(dev.cfg.interval_ms, 120000);
    CHECK_EQ_INT(dev.cfg.fast_start_level_mm, 1500);
    CHECK_EQ_INT(dev.st.cfg_applied, 1);
    CHECK_EQ_INT(dev.st.cfg_rejected, 1);
    /* the status reports the new version */
    int seen = 0;
    for (unsigned i = 0; i < sim.npub; i++) {
        const struct sim_pub *p = sim_pub(&sim, i);
        if (p && p->topic == FW_TOPIC_STATUS && strstr(p->payload, "\"config_version\":5"))
            seen = 1;
    }
    CHECK(seen);
    /* reboot: the stored config is back */
    boot();
    CHECK_EQ_INT(dev.cfg.version, 5);
    CHECK_EQ_INT(dev.cfg.sample_ms, 30000);
    /* a bit flip in the stored block: refused at boot, defaults run */
    sim.nv[8] ^= 0x04;
    boot();
    CHECK_EQ_INT(dev.cfg.version, 0);
    CHECK_EQ_INT(dev.cfg.interval_ms, 60000);
}

int main(void)
{
    test_backoff();
    test_wdog();
    test_device_flow();
    test_config_via_mqtt();
    return tk_check_result("fw_device");
}
