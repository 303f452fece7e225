/* The device: a tick-driven state machine around the ring, the config and the transport.
 *
 * An app (water_level, people_flow, wifi_ap) samples its sensors and calls
 * fw_dev_record() with each reading; fw_dev_tick() does the rest, one bounded step per
 * call, reading the monotonic clock once:
 *
 *   IDLE --retry time--> CONNECTING --port UP--> ONLINE --port DOWN--> IDLE (back-off)
 *                             \--timeout / failure--> IDLE (back-off)
 *
 * ONLINE: publish status (retained) on connect; take acks and config from the port;
 * every interval (fast_interval in fast mode, at once when fast mode starts or after a
 * reconnect) send the readings not yet sent as batches (a JSON array, or one object);
 * when acks make no progress for ack_timeout after sending, start again from the oldest
 * unacknowledged reading. A reading leaves the ring only through an ack.
 *
 * Tests drive it with a simulated clock through the port table. */
#ifndef FW_DEVICE_H
#define FW_DEVICE_H

#include "fw_backoff.h"
#include "fw_config.h"
#include "fw_reading.h"
#include "fw_ring.h"
#include "fw_wdog.h"

#ifndef FW_TX_MAX
#define FW_TX_MAX 2048 /* largest batch payload */
#endif
#ifndef FW_RX_MAX
#define FW_RX_MAX 320 /* largest ack/config payload */
#endif

enum fw_task { FW_TASK_NET = 0, FW_TASK_APP = 1 };
enum fw_net_phase { FW_PHASE_IDLE = 0, FW_PHASE_CONNECTING, FW_PHASE_ONLINE };

struct fw_dev_opts {
    const char *id;         /* borrowed for the device's life; [a-z0-9-]{3,48} */
    enum fw_kind kind;
    const char *fw_version; /* borrowed */
    uint32_t nv_config_off; /* where the config block lives */
    uint32_t nv_ring_off;   /* where the ring lives */
    uint32_t ring_slots;    /* power of two */
    uint32_t slot_size;     /* bytes per slot, FW_RING_SLOT_HDR included */
    struct fw_config defaults;
    uint32_t backoff_base_ms, backoff_cap_ms;
    uint32_t connect_timeout_ms;
    uint32_t ack_timeout_ms;
    uint32_t status_interval_ms;
    uint32_t max_batch; /* readings per message */
};

/** Firmware defaults: sample every 60 s, report every 600 s, back-off 1 s .. 5 min. */
void fw_dev_default_opts(struct fw_dev_opts *o, const char *id, enum fw_kind kind);

struct fw_dev_stats {
    uint32_t recorded, sent_msgs, sent_readings, resends, acks, connects, connect_failures;
    uint32_t cfg_applied, cfg_rejected, corrupt, publish_busy;
};

struct fw_dev {
    const struct fw_port *port; /* borrowed */
    struct fw_dev_opts o;
    struct fw_config cfg;
    struct fw_ring ring;
    struct fw_backoff bo;
    struct fw_wdog wd;
    enum fw_net_phase phase;
    uint32_t now;            /* monotonic ms, read once per tick */
    uint32_t phase_since;
    uint32_t retry_at;
    uint32_t next_send;      /* first seq not sent on this connection */
    uint32_t last_flush;
    uint32_t ack_wait_since; /* last send or ack progress */
    uint32_t last_status;
    uint32_t acked;          /* last watermark seen */
    uint8_t have_ack, flush_now, status_due, fast, nv_dirty;
    int32_t battery_mv, rssi_dbm; /* for the status; -1 / 1: unknown */
    struct fw_dev_stats st;
    char tx[FW_TX_MAX];
    char rx[FW_RX_MAX];
};

/** Load config (a bad block is ignored: defaults run) and open the ring. FW_EINVAL for bad
 *  options (id, geometry); FW_EIO if storage fails. */
enum fw_rc fw_dev_init(struct fw_dev *d, const struct fw_port *port,
                       const struct fw_dev_opts *o) FW_WUR;
/** Assign the next seq to r (r->seq, r->kind are set here), encode it and keep it in the
 *  ring (durable before this returns). */
enum fw_rc fw_dev_record(struct fw_dev *d, struct fw_reading *r) FW_WUR;
/** One step of networking and housekeeping; kicks the watchdog when every task has
 *  checked in. */
void fw_dev_tick(struct fw_dev *d);
/** Enter or leave fast reporting (entering sends at once). */
void fw_dev_set_fast(struct fw_dev *d, int fast);
/** For the status message. */
void fw_dev_set_health(struct fw_dev *d, int32_t battery_mv, int32_t rssi_dbm);
/** Task check-in for the watchdog (the app calls it for FW_TASK_APP). */
void fw_dev_checkin(struct fw_dev *d, enum fw_task task);
/** Current reporting interval. */
uint32_t fw_dev_interval_ms(const struct fw_dev *d);

#endif
