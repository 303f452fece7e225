#include "fw_wdog.h"

void fw_wdog_init(struct fw_wdog *w)
{
    w->tasks = w->checked = 0;
    w->kicks = 0;
}

void fw_wdog_add(struct fw_wdog *w, unsigned task)
{
    w->tasks |= 1u << (task & 31u);
}

void fw_wdog_checkin(struct fw_wdog *w, unsigned task)
{
    w->checked |= 1u << (task & 31u);
}

int fw_wdog_poll(struct fw_wdog *w, const struct fw_port *port)
{
    if (w->tasks == 0 || (w->checked & w->tasks) != w->tasks)
        return 0;
    w->checked = 0;
    w->kicks++;
    if (port && port->wdt_kick)
        port->wdt_kick(port->ctx);
    return 1;
}
