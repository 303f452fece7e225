/* Reporting policy of a water-level gauge: normal or fast mode.
 *
 * Fast mode starts when the level reaches fast_start_level or rises faster than
 * fast_start_rise per 10 minutes. The rate is the steepest rise from any point of the
 * last 10 minutes that is at least a minute old (points are kept a minute apart): a
 * sudden rise shows within a minute, while sensor noise over a minute or more stays far
 * below any sensible threshold. It ends only when all of
 * these hold: the level is at least fast_hysteresis below the start level, the rise is
 * below half the start rate (hysteresis on the rate too, so a rise hovering around the
 * threshold does not flap), and fast_hold has passed since entering. */
#ifndef FW_POLICY_H
#define FW_POLICY_H

#include "fw_config.h"

#define FW_POLICY_HIST 11     /* points kept for the rate: 10 minutes at one a minute */
#define FW_POLICY_SPACING_MS 60000u /* rates are taken over at least a minute */

struct fw_policy {
    uint32_t t[FW_POLICY_HIST]; /* sample times (mono ms) */
    int32_t mm[FW_POLICY_HIST]; /* level above invert, mm */
    uint8_t n, pos;
    uint8_t fast;
    uint32_t entered_ms;
    int32_t rise_mm_per_10min; /* last computed rate */
};

void fw_policy_init(struct fw_policy *p);
/** Feed an accepted level sample; returns 1 when the mode changed (p->fast tells which). */
int fw_policy_update(struct fw_policy *p, const struct fw_config *cfg, uint32_t now_ms,
                     int32_t level_mm);

#endif
