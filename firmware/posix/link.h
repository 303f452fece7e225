/* One MQTT connection (Paho MQTTAsync) carrying one device, or many in fleet mode under
 * a gateway identity. The core decides when to connect (its back-off); the link only
 * reports its state: DOWN, CONNECTING (TCP/CONNECT/SUBSCRIBE in progress), UP (every
 * device's ack and config topics subscribed). Received acks and configs are kept per
 * device, latest only: a newer watermark or config replaces an older one unread. */
#ifndef FW_POSIX_LINK_H
#define FW_POSIX_LINK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_port.h"

#define PDEV_MSG_MAX 512

struct link;

/** One device's view of the link: its topics and its inbox. */
struct pdev_net {
    struct link *link; /* borrowed */
    char id[49];
    char t_reading[128], t_status[128], t_ack[128], t_config[128];
    /* inbox, under link->mu */
    char ack[PDEV_MSG_MAX], config[PDEV_MSG_MAX];
    size_t ack_len, config_len;
    int has_ack, has_config, oversized;
    uint32_t last_ack; /* for the log */
    int log_acks;
};

struct link_opts {
    const char *host;
    int port;
    const char *tls_ca; /* NULL or "": plain TCP; else TLS verified against this CA file */
    const char *user, *password, *client_id;
    int keepalive_s;
    /* will (single device): topic and payload, retained; NULL for none */
    const char *will_topic, *will_payload;
};

/** New link (free with link_destroy); devs is borrowed for the link's life (sorted by id
 *  here for routing). NULL on failure. */
struct link *link_create(const struct link_opts *o, struct pdev_net **devs, size_t ndev);
void link_destroy(struct link *l);

enum fw_rc link_connect(struct link *l);
void link_close(struct link *l);
enum fw_net link_state(struct link *l);
enum fw_rc link_publish(struct link *l, const char *topic, const char *payload, size_t len,
                        int retain);
/** Take the device's pending config (first) or ack. */
enum fw_rc link_poll(struct pdev_net *d, enum fw_topic *topic, char *buf, size_t cap,
                     size_t *len);
/** Publish retained payload on topic and disconnect cleanly (waits up to timeout_ms). */
void link_shutdown(struct link *l, const char *topic, const char *payload, int timeout_ms);

/** Topic strings for a device. */
void pdev_net_init(struct pdev_net *d, struct link *l, const char *kind, const char *id);

#endif
