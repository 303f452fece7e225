/* A simulated board for the core's unit tests, on the host and under QEMU: a clock the
 * test advances, storage in RAM (with a log of every byte written), a transport whose
 * state the test sets and whose publishes it inspects, scripted sensors. */
#ifndef SIM_PORT_H
#define SIM_PORT_H

#include "fw_port.h"

#define SIM_NV_SIZE 32768u
#define SIM_PUBS 64
#define SIM_PUB_MAX 2048
#define SIM_INBOX 8

struct sim_pub {
    enum fw_topic topic;
    int retain;
    size_t len;
    char payload[SIM_PUB_MAX + 1];
};

struct sim {
    uint32_t mono;
    int64_t utc; /* 0: clock not set */
    uint8_t nv[SIM_NV_SIZE];
    uint32_t commits, nv_writes;
    /* every byte ever passed to nv_write, for the "raw MAC never stored" test */
    uint8_t *nv_log;
    size_t nv_log_cap, nv_log_len;

    enum fw_net net;
    enum fw_net connect_to; /* state after net_connect */
    uint32_t connects, closes;
    int publish_busy;
    struct sim_pub pub[SIM_PUBS];
    unsigned npub; /* total published; pub[i % SIM_PUBS] */

    struct {
        enum fw_topic topic;
        size_t len;
        char buf[400];
    } inbox[SIM_INBOX];
    unsigned in_r, in_w;

    int32_t ch[16];
    int ch_fail[16];
    int32_t (*script)(struct sim *s, enum fw_channel ch); /* overrides ch[] when set */
    const struct fw_wifi_event *events;
    unsigned nevents, evpos;

    uint32_t kicks;
    uint32_t rng;
};

void sim_init(struct sim *s);
void sim_port(struct sim *s, struct fw_port *p);
/** Queue a message for the device (as if it arrived on topic). */
void sim_deliver(struct sim *s, enum fw_topic topic, const char *payload);
/** The i-th publish (0-based, in order) if still kept, else NULL. */
const struct sim_pub *sim_pub(const struct sim *s, unsigned i);

#endif
