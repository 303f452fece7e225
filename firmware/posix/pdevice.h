/* A simulated device: the fw_port table implemented on Linux (the process's accelerated
 * clock, the MQTT link, a storage file or a fleet partition, scenario sensors, a software
 * watchdog) plus the core and one app. */
#ifndef FW_POSIX_PDEVICE_H
#define FW_POSIX_PDEVICE_H

#include "coap_link.h"
#include "fw_device.h"
#include "fw_people_flow.h"
#include "fw_water_level.h"
#include "fw_wifi_ap.h"
#include "link.h"
#include "nv_file.h"
#include "scenario.h"
#include "simclock.h"

struct pdevice {
    char id[49];
    enum fw_kind kind;
    const struct simclock *clock; /* borrowed */
    struct pdev_net net;
    struct coap_link *coap; /* borrowed; set: the CoAP transport instead of net.link */
    struct nv_file nv;
    struct scenario scen;
    struct fw_port port;
    struct fw_dev dev;
    union {
        struct fw_wl wl;
        struct fw_pf pf;
        struct fw_wifi wifi;
    } app;
    uint64_t last_kick_real; /* real ms, for the software watchdog */
    uint32_t ring_at_start;  /* readings buffered at boot (to count acks) */
    uint32_t dropped_at_start;
    uint32_t wifi_reports;   /* for the interval log line */
    int verbose;
};

struct pdevice_opts {
    const char *state_dir;
    struct fw_dev_opts dev;  /* id and kind filled per device; timeouts in real ms */
    struct fw_wl_opts wl;
    enum scen_kind scen;
    double storm_at_s, peak_rise_mm_per_min; /* rain-storm; 0: the scenario's default */
    const struct scen_mac *macs;             /* borrowed; wifi_ap MAC list or NULL */
    size_t nmacs;
    struct nv_group *group;                  /* borrowed; NULL: a file per device */
    int verbose;
};

/** Set up storage (partition part of the group, or a file of its own), port and core
 *  (pdev_net_init is done here, the link attaches later). 0 on success, -1 with a
 *  message on stderr. */
int pdevice_init(struct pdevice *p, const struct pdevice_opts *o, const struct simclock *clock,
                 const char *id, enum fw_kind kind, int32_t mount_height_mm, size_t part,
                 uint64_t seed);
/** One loop turn: the app (unless recording has stopped) and the core. */
void pdevice_tick(struct pdevice *p, int record);
/** Readings acknowledged (and so removed from the ring) since start. */
uint32_t pdevice_acked(const struct pdevice *p);
void pdevice_close(struct pdevice *p);

#endif
