#include "fw_policy.h"

void fw_policy_init(struct fw_policy *p)
{
    p->n = p->pos = 0;
    p->fast = 0;
    p->entered_ms = 0;
    p->rise_mm_per_10min = 0;
}

/* Steepest rise per 10 minutes against the kept points 1..10 minutes old; 0 if none. */
static int32_t rise(const struct fw_policy *p, uint32_t now_ms, int32_t level_mm)
{
    int64_t best = 0;
    int have = 0;
    for (unsigned i = 0; i < p->n; i++) {
        uint32_t dt = now_ms - p->t[i];
        if (dt < FW_POLICY_SPACING_MS || dt > 600000u)
            continue;
        int64_t r = ((int64_t)level_mm - p->mm[i]) * 600000 / (int64_t)dt;
        if (!have || r > best)
            best = r;
        have = 1;
    }
    return best > INT32_MAX ? INT32_MAX : best < INT32_MIN ? INT32_MIN : (int32_t)best;
}

int fw_policy_update(struct fw_policy *p, const struct fw_config *cfg, uint32_t now_ms,
                     int32_t level_mm)
{
    int32_t r = rise(p, now_ms, level_mm);
    p->rise_mm_per_10min = r;
    uint32_t newest = p->t[(p->pos + FW_POLICY_HIST - 1u) % FW_POLICY_HIST];
    if (p->n == 0 || now_ms - newest >= FW_POLICY_SPACING_MS) {
        p->t[p->pos] = now_ms;
        p->mm[p->pos] = level_mm;
        p->pos = (uint8_t)((p->pos + 1u) % FW_POLICY_HIST);
        if (p->n < FW_POLICY_HIST)
            p->n++;
    }

    int has_level = (cfg->has & FW_CFG_START_LEVEL) != 0;
    int has_rise = (cfg->has & FW_CFG_START_RISE) != 0;
    if (!p->fast) {
        if ((has_level && level_mm >= cfg->fast_start_level_mm) ||
            (has_rise && r > cfg->fast_start_rise_mm_per_10min)) {
            p->fast = 1;
            p->entered_ms = now_ms;
            return 1;
        }
        return 0;
    }
    int low = !has_level || (level_mm <= cfg->fast_start_level_mm - cfg->fast_hysteresis_mm &&
                             level_mm < cfg->fast_start_level_mm);
    int calm = !has_rise || r < cfg->fast_start_rise_mm_per_10min / 2;
    int held = now_ms - p->entered_ms >= cfg->fast_hold_ms;
    if (low && calm && held) {
        p->fast = 0;
        return 1;
    }
    return 0;
}
