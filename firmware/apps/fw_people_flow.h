/* people_flow app: an edge counter at a crossing. Its hardware counts entries and exits
 * since power-up (FW_CH_COUNT_IN/OUT, 32-bit, wrapping); every interval_s the app reports
 * the counts of the interval and cumulative totals since boot. The totals restart at 0 on
 * reboot: the platform sees the drop and flags a counter reset, and fills intervals lost
 * in between from the totals on both sides. */
#ifndef FW_PEOPLE_FLOW_H
#define FW_PEOPLE_FLOW_H

#include "fw_device.h"

struct fw_pf {
    struct fw_dev *dev; /* borrowed */
    uint32_t started;   /* mono ms at the start of the interval */
    uint32_t last_in, last_out;
    uint64_t cum_in, cum_out;
    uint8_t primed;
    uint32_t sensor_errors;
};

void fw_pf_init(struct fw_pf *p, struct fw_dev *dev);
void fw_pf_tick(struct fw_pf *p);

#endif
