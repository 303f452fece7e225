/* A simulated device: the fw_port table implemented on Linux (clocks, the MQTT link,
 * a storage file, scenario sensors, a software watchdog) plus the core and one app. */
#ifndef FW_POSIX_PDEVICE_H
#define FW_POSIX_PDEVICE_H

#include "fw_device.h"
#include "fw_people_flow.h"
#include "fw_water_level.h"
#include "fw_wifi_ap.h"
#include "link.h"
#include "nv_file.h"
#include "scenario.h"

struct pdevice {
    char id[49];
    enum fw_kind kind;
    struct pdev_net net;
    struct nv_file nv;
    struct scenario scen;
    struct fw_port port;
    struct fw_dev dev;
    union {
        struct fw_wl wl;
        struct fw_pf pf;
        struct fw_wifi wifi;
    } app;
    uint32_t last_kick;
    int verbose;
};

struct pdevice_opts {
    const char *state_dir;
    uint32_t ring_slots, slot_size;
    struct fw_dev_opts dev;      /* id and kind filled per device */
    struct fw_wl_opts wl;
    enum scen_kind scen;
    double speed;
    double storm_at_s, rise_mm_per_min;
    int verbose;
};

/** Set up storage, port and core (not the link: pdev_net_init is done here, the link
 *  attaches later). 0 on success, -1 with a message on stderr. */
int pdevice_init(struct pdevice *p, const struct pdevice_opts *o, const char *id, enum fw_kind kind,
                 uint64_t seed);
/** One loop turn: the app (unless recording has stopped) and the core. */
void pdevice_tick(struct pdevice *p, int record);
void pdevice_close(struct pdevice *p);

#endif
