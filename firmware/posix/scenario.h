/* Simulated sensors, driven by a scenario in simulated time (seconds since the device
 * started, from the process's accelerated clock; see simclock.h).
 *
 *   dry          water low and flat (0.1-0.3 m, a few mm of noise); daytime crowds;
 *                a station's worth of Wi-Fi devices
 *   rain-storm   dry, then from storm_at_s rain fills the sewer: the level follows a
 *                logistic rise of about 2.3 m whose steepest point is peak_rise_mm_per_min
 *                (default 150 mm/min, past the 100 mm/min of typhoon logs), past typical
 *                warning levels (1.5-2.0 m above the invert) to about 2.6 m, holds for an
 *                hour and recedes; each gauge starts at its own offset (water arrives down
 *                the network) and fills to its own share. People stay in: counts fall.
 *   festival     dry weather; people counts rise over ten minutes to eight times the
 *                daytime rate and the Wi-Fi population from 300 to 1,500 devices
 *   quiet-night  dry weather; a few passers-by and a few dozen Wi-Fi devices
 *   spiky        dry with frequent false echoes (for the spike filter)
 * A small share of burst reads return a false echo in every scenario. The Wi-Fi
 * population mixes fixed (globally unique) MACs, a third of them associated, and phones
 * probing with randomised (locally administered) MACs. With a MAC list (scenario_macs)
 * the radio instead reports exactly those stations, the whole list once per simulated
 * second: tests feed known MACs that way. */
#ifndef FW_POSIX_SCENARIO_H
#define FW_POSIX_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "fw_port.h"

enum scen_kind { SCEN_DRY = 0, SCEN_RAIN_STORM, SCEN_FESTIVAL, SCEN_QUIET_NIGHT, SCEN_SPIKY };

/** A station the radio reports (MAC list mode). */
struct scen_mac {
    uint8_t mac[6];
    uint8_t associated;
};

struct scenario {
    enum scen_kind kind;
    uint64_t rng;
    double offset_s;          /* this device's phase in the scenario */
    double storm_at_s;        /* rain-storm: when the rise starts (before offset_s) */
    double peak_rise_mm_per_min;
    double fill_share;        /* rain-storm: this gauge's share of the full rise */
    double base_mm;           /* level in dry weather */
    int32_t mount_height_mm;
    /* counters and radio, in simulated seconds */
    uint32_t count_in, count_out;
    double last_count_t, last_wifi_t;
    double frac_in, frac_out; /* arrivals not yet whole */
    const struct scen_mac *macs; /* borrowed; NULL: the scenario's population */
    size_t nmacs, mac_pos;
};

/** Name to kind: dry, rain-storm, festival, quiet-night, spiky (calm and storm are kept
 *  as aliases of dry and rain-storm). 0, or -1 for an unknown name. */
int scenario_parse(const char *name, enum scen_kind *k);
const char *scenario_name(enum scen_kind k);
/** Set up; the per-device variation (offset, fill share, base level) is drawn from seed. */
void scenario_init(struct scenario *s, enum scen_kind k, uint64_t seed);
/** Level above the invert (mm) at simulated time t_s. */
double scenario_level_mm(const struct scenario *s, double t_s);
/** Read a channel at simulated time t_s (see fw_port.h for units). */
enum fw_rc scenario_read(struct scenario *s, double t_s, enum fw_channel ch, void *out,
                         size_t size);
/** Parse a MAC list: one station per line, "aa:bb:cc:dd:ee:ff assoc|probe" (':' or '-'
 *  separators or none, any case; '#' comments). Fills up to cap entries; returns the count
 *  or -1 on a malformed line (*line set to its number). */
int scenario_parse_macs(const char *text, struct scen_mac *out, size_t cap, int *line);

#endif
