/* Simulated sensors, driven by a scenario in scenario time (wall time since start times
 * --speed, offset per device so a fleet does not move in lockstep).
 *
 *   calm   level 0.30 m with a few mm of noise
 *   storm  calm, then from storm_at_s a rise of rise_mm_per_min up to 2.5 m, a plateau,
 *          then a slow fall
 *   spiky  calm with frequent false echoes (the filter must drop them)
 * A small share of burst reads return a false echo in every scenario. People counters and
 * the Wi-Fi radio get random arrivals; the Wi-Fi population mixes fixed (globally unique)
 * MACs and phones with randomised (locally administered) MACs. */
#ifndef FW_POSIX_SCENARIO_H
#define FW_POSIX_SCENARIO_H

#include <stdint.h>

#include "fw_port.h"

enum scen_kind { SCEN_CALM = 0, SCEN_STORM, SCEN_SPIKY };

struct scenario {
    enum scen_kind kind;
    double speed;
    double offset_s;
    double storm_at_s;
    double rise_mm_per_min;
    int32_t mount_height_mm;
    uint64_t rng;
    double t0;
    /* counters */
    uint32_t count_in, count_out;
    double last_count_t;
    double last_wifi_t;
    uint32_t assoc;
};

int scenario_parse(const char *name, enum scen_kind *k);
void scenario_init(struct scenario *s, enum scen_kind k, double speed, uint64_t seed);
/** Level above invert (mm) at scenario time now. */
double scenario_level_mm(struct scenario *s);
enum fw_rc scenario_read(struct scenario *s, enum fw_channel ch, void *out, size_t size);

#endif
