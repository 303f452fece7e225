/* Sampling filter and reporting policy. */
#include "fw_filter.h"
#include "fw_policy.h"
#include "tk_check.h"

static void test_median(void)
{
    int32_t a[] = {5, 1, 4, 2, 3};
    CHECK_EQ_INT(fw_median(a, 5), 3);
    int32_t b[] = {1000, 1002, 60, 1001, 4000}; /* two bad echoes in a burst of five */
    CHECK_EQ_INT(fw_median(b, 5), 1001);
    int32_t c[] = {7};
    CHECK_EQ_INT(fw_median(c, 1), 7);
}

static void test_spikes(void)
{
    struct fw_spike f;
    int32_t out = 0;
    fw_spike_init(&f, 150);
    /* a calm level with single-sample spikes both ways: none is ever reported */
    int32_t calm[] = {2800, 2805, 2798, 1200, 2801, 2802, 4500, 2799, 2800, 100, 2803};
    for (unsigned i = 0; i < sizeof calm / sizeof calm[0]; i++) {
        if (fw_spike_push(&f, calm[i], &out)) {
            CHECK(out >= 2790 && out <= 2810);
        }
    }
    CHECK_EQ_INT(f.rejected, 3);
    CHECK(f.last >= 2790 && f.last <= 2810);
    /* two spikes in a row in opposite directions */
    CHECK(fw_spike_push(&f, 1000, &out) == 0);
    CHECK(fw_spike_push(&f, 4000, &out) == 0);
    CHECK_EQ_INT(f.rejected, 4);
    CHECK(fw_spike_push(&f, 2801, &out) == 1 && out == 2801);
    CHECK_EQ_INT(f.rejected, 5);
}

/* A typhoon rise: distance falls 300 mm per minute (sampled every minute) for 10 min.
 * Every sample after the first step is followed, the first one at most one sample late. */
static void test_fast_rise(void)
{
    struct fw_spike f;
    int32_t out = 0, last_out = 2800;
    fw_spike_init(&f, 150);
    CHECK(fw_spike_push(&f, 2800, &out) == 1);
    unsigned accepted = 0;
    for (int i = 1; i <= 10; i++) {
        int32_t d = 2800 - 300 * i;
        if (fw_spike_push(&f, d, &out)) {
            accepted++;
            CHECK_EQ_INT(out, d);
            last_out = out;
        }
    }
    CHECK_EQ_INT(accepted, 9); /* only the first step waited */
    CHECK_EQ_INT(last_out, 2800 - 3000);
    /* a rise of 120 mm/min is under max_step: followed with no delay at all */
    fw_spike_init(&f, 150);
    accepted = 0;
    for (int i = 0; i <= 10; i++)
        accepted += (unsigned)fw_spike_push(&f, 2000 - 120 * i, &out);
    CHECK_EQ_INT(accepted, 11);
    CHECK_EQ_INT(out, 800);
    /* a step that then stays (sensor remounted, pipe filling at once) is followed too */
    fw_spike_init(&f, 150);
    CHECK(fw_spike_push(&f, 2000, &out));
    CHECK(fw_spike_push(&f, 1000, &out) == 0);
    CHECK(fw_spike_push(&f, 1010, &out) == 1 && out == 1010);
}

static void test_policy(void)
{
    struct fw_config cfg = {3, 600000, 60000, 60000, 600000, 1200, 100, 100,
                            FW_CFG_FAST_INTERVAL | FW_CFG_START_LEVEL | FW_CFG_START_RISE |
                                FW_CFG_HYSTERESIS | FW_CFG_HOLD};
    struct fw_policy p;
    fw_policy_init(&p);
    uint32_t t = 0;
    /* steady low level: normal */
    for (int i = 0; i < 10; i++, t += 60000)
        CHECK(fw_policy_update(&p, &cfg, t, 400) == 0);
    CHECK(!p.fast);
    /* rising 30 mm/min = 300 mm/10 min > 100: fast within a couple of samples */
    int changed_at = -1;
    for (int i = 1; i <= 5; i++, t += 60000)
        if (fw_policy_update(&p, &cfg, t, 400 + 30 * i) && changed_at < 0)
            changed_at = i;
    CHECK(p.fast);
    CHECK(changed_at == 1); /* 30 mm in a minute: 300 mm per 10 min */
    /* level steady at 550 (below the start level): fast until the hold has passed and
     * the rise has left the 10-minute window, then normal */
    uint32_t entered = p.entered_ms, last_rise = t - 60000, left = 0;
    for (int i = 0; i < 30 && !left; i++, t += 60000)
        if (fw_policy_update(&p, &cfg, t, 550))
            left = t;
    CHECK(!p.fast);
    CHECK(left - entered >= cfg.fast_hold_ms);
    CHECK(left - last_rise <= 660000);
    /* noise of 5 mm between samples a second apart is no rise */
    fw_policy_init(&p);
    for (int i = 0; i < 600; i++)
        fw_policy_update(&p, &cfg, t += 1000, 400 + (i % 2) * 5);
    CHECK(!p.fast);
    /* 150 mm/min sampled every second: fast within about a minute */
    for (int i = 1; i <= 75 && !p.fast; i++)
        fw_policy_update(&p, &cfg, t += 1000, 400 + 150 * i / 60);
    CHECK(p.fast);

    /* level threshold with hysteresis: enter at 1200, stay at 1150, leave at <= 1100 */
    fw_policy_init(&p);
    cfg.has &= ~(uint32_t)FW_CFG_START_RISE;
    cfg.fast_hold_ms = 0;
    t = 0;
    CHECK(fw_policy_update(&p, &cfg, t += 60000, 1190) == 0);
    CHECK(fw_policy_update(&p, &cfg, t += 60000, 1200) == 1 && p.fast);
    CHECK(fw_policy_update(&p, &cfg, t += 60000, 1150) == 0 && p.fast);
    CHECK(fw_policy_update(&p, &cfg, t += 60000, 1199) == 0 && p.fast);
    CHECK(fw_policy_update(&p, &cfg, t += 60000, 1101) == 0 && p.fast);
    CHECK(fw_policy_update(&p, &cfg, t += 60000, 1100) == 1 && !p.fast);
    CHECK(fw_policy_update(&p, &cfg, t += 60000, 1150) == 0 && !p.fast);

    /* rate hysteresis: fast at > 100 mm/10 min, leave only below 50 */
    fw_policy_init(&p);
    cfg.has = FW_CFG_FAST_INTERVAL | FW_CFG_START_RISE;
    t = 0;
    int32_t lv = 0;
    for (int i = 0; i < 3; i++)
        fw_policy_update(&p, &cfg, t += 60000, lv += 15); /* 150 mm / 10 min */
    CHECK(p.fast);
    for (int i = 0; i < 12; i++)
        fw_policy_update(&p, &cfg, t += 60000, lv += 7); /* 70 mm / 10 min: between */
    CHECK(p.fast);
    for (int i = 0; i < 12; i++)
        fw_policy_update(&p, &cfg, t += 60000, lv += 2); /* 20 mm / 10 min */
    CHECK(!p.fast);
}

int main(void)
{
    test_median();
    test_spikes();
    test_fast_rise();
    test_policy();
    return tk_check_result("fw_filter");
}
