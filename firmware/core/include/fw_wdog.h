/* Task watchdog: the hardware watchdog is kicked only when every registered task has
 * checked in since the last kick. A task that hangs (a sampling loop stuck on a sensor,
 * a network state machine stuck in one state) stops the kicks and the hardware resets
 * the device, even though the main loop itself still runs. */
#ifndef FW_WDOG_H
#define FW_WDOG_H

#include "fw_port.h"

struct fw_wdog {
    uint32_t tasks;   /* bit per registered task */
    uint32_t checked; /* tasks checked in since the last kick */
    uint32_t kicks;
};

void fw_wdog_init(struct fw_wdog *w);
/** Register task bit (0..31). */
void fw_wdog_add(struct fw_wdog *w, unsigned task);
void fw_wdog_checkin(struct fw_wdog *w, unsigned task);
/** Kick through the port when every task checked in; returns 1 if it kicked. */
int fw_wdog_poll(struct fw_wdog *w, const struct fw_port *port);

#endif
