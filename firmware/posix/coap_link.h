/* The CoAP transport of the POSIX port: one device talking to the field gateway
 * (takumi-gateway) over CoAP/DTLS-PSK with libcoap, behind the same port functions as the
 * MQTT link (link.h), so the core does not know which one it runs on.
 *
 *   net_connect   a DTLS-PSK session (identity: the device id); UP once the handshake is
 *                 done, when GET /cfg (Observe) and GET /ack go out
 *   net_publish   readings: a confirmable POST /r (block-wise when longer than a
 *                 datagram), at most COAP_LINK_POSTS outstanding (FW_EBUSY beyond);
 *                 status: kept for the next POST's gateway (the gateway has no status
 *                 resource: it reports its own, and the platform sees a CoAP gauge's
 *                 health in its readings), so it is accepted and dropped here
 *   net_poll      FW_TOPIC_CONFIG: the latest /cfg representation (the Observe
 *                 registration or a notification); FW_TOPIC_ACK: {"seq":W} from the
 *                 "ack" member of a POST's 2.04 or from GET /ack, which is polled every
 *                 ack_poll_ms while the largest seq posted is not yet covered
 *
 * The core's watermark logic is untouched: a reading leaves the ring only when a
 * watermark from the platform covers it. A request that exhausts its retransmissions
 * (a restarted gateway has lost the DTLS session) drops the session: the core
 * reconnects with its back-off and sends everything unacknowledged again. */
#ifndef FW_POSIX_COAP_LINK_H
#define FW_POSIX_COAP_LINK_H

#include <stddef.h>

#include "fw_port.h"

#define COAP_LINK_POSTS 4
#define COAP_LINK_KEY_MAX 64

struct coap_link;

struct coap_link_opts {
    const char *host; /* borrowed for the call */
    int port;
    const char *identity;                 /* the device id; borrowed for the link's life */
    unsigned char key[COAP_LINK_KEY_MAX]; /* the pre-shared key (copied) */
    size_t key_len;
    int ack_poll_ms;  /* GET /ack while readings are unacknowledged */
    int cfg_retry_ms; /* GET /cfg again after a 4.04 (no configuration yet) */
    int verbose;
};

/** Read a key file as `takumi-admin device add --transport coap` leaves it ("KIND KEY")
 *  or as it prints it (just KEY) into o->key. 0, or -1 with a message on stderr. */
int coap_link_read_key(const char *path, struct coap_link_opts *o);

/** New link (free with coap_link_destroy); NULL with a message on failure. */
struct coap_link *coap_link_create(const struct coap_link_opts *o);
void coap_link_destroy(struct coap_link *l);

enum fw_rc coap_link_connect(struct coap_link *l);
void coap_link_close(struct coap_link *l);
enum fw_net coap_link_state(struct coap_link *l);
enum fw_rc coap_link_publish(struct coap_link *l, enum fw_topic topic, const char *payload,
                             size_t len);
enum fw_rc coap_link_poll(struct coap_link *l, enum fw_topic *topic, char *buf, size_t cap,
                          size_t *len);
/** Do I/O (send, receive, retransmit) for up to timeout_ms. */
void coap_link_run(struct coap_link *l, unsigned timeout_ms);

#endif
