/* takumi-gateway internals shared by the files of gateway/src.
 *
 * The field gateway takes readings from constrained gauges over CoAP/DTLS-PSK
 * (coap_side.c), writes them to a durable spool before answering (spool.c), and forwards
 * them to the broker on each device's topic (mqtt_side.c), deleting them from the spool
 * only when the platform's end-to-end watermark ack covers them (docs/delivery.md).
 * Everything but Paho's callbacks runs on the main thread: the spool has one user. */
#ifndef GW_GW_H
#define GW_GW_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "tk_error.h"
#include "tk_reading.h"

#define GW_PATH_MAX 1100
#define GW_PSK_MAX 64 /* bytes of one pre-shared key */
#define GW_CONFIG_MAX 512 /* bytes of one device configuration (retained config topic) */

struct gw_config {
    char data_dir[1024];
    char spool[GW_PATH_MAX];   /* spool database (default DATA/gateway/spool.db) */
    char psk_dir[GW_PATH_MAX]; /* DATA/secrets/psk: one file per CoAP device */
    char bind[256];            /* CoAP listen address */
    int64_t coaps_port;        /* DTLS-PSK port */
    int64_t coap_plain_port;   /* plain CoAP for tests only (0: off) */
    char mqtt_host[256];
    int64_t mqtt_port;
    char mqtt_tls_ca[GW_PATH_MAX];   /* "": plain TCP; else TLS verified against this CA */
    char mqtt_user[64];              /* the gateway's broker identity */
    char password_file[GW_PATH_MAX]; /* default DATA/secrets/gateway.pass */
    char status_topic[128];          /* the gateway's retained online/offline (MQTT will) */
    char client_id[64];
    int64_t payload_max;       /* largest request body (after block-wise reassembly) */
    int64_t bodies_max;        /* block-wise bodies being reassembled at once */
    int64_t readings_max;      /* readings in one POST */
    int64_t spool_max;         /* readings held in the spool; beyond: 5.03 */
    int64_t spool_fsync;       /* 1: fsync every commit; 0: measurement only */
    int64_t sessions_max;      /* idle DTLS sessions kept */
    int64_t handshakes_max;    /* DTLS handshakes in progress */
    int64_t session_timeout_s; /* an idle session is dropped after this */
    int64_t batch_max;         /* readings per forwarded MQTT message */
    int64_t inflight_max;      /* QoS 1 publishes outstanding */
    int64_t ack_timeout_ms;    /* resend what the watermark does not cover after this */
    int64_t stats_interval_s;
    int64_t log_level;
};

struct gw_stats {
    uint64_t posts, readings_in, duplicates, refused_full, refused_forbidden, refused_bad,
        published_msgs, published_readings, publish_failures, acks, deleted, resends, spool_commits,
        configs, notifies, refused_busy;
    int64_t commit_us_sum, commit_us_max;
};

/* ---- psk.c: per-device keys provisioned by takumi-admin -------------------------- */

/* A device known to the gateway: its kind and key from DATA/secrets/psk/<id>, and the
 * platform's watermark once an ack was seen. Entries live as long as the table. */
struct gw_device {
    char id[TK_ID_MAX + 1];
    enum tk_kind kind;
    unsigned char key[GW_PSK_MAX];
    size_t key_len;
    uint32_t watermark;
    int has_watermark;
    char config[GW_CONFIG_MAX]; /* the retained city/{kind}/{id}/config, as published */
    size_t config_len;
    int has_config;
    int watched;    /* the forwarder knows it (mqtt_side.c) */
    int subscribed; /* ack topic subscription requested on the current connection */
};

struct gw_psk;

/** Create a table reading keys from dir (borrowed; copied). New: gw_psk_destroy. */
enum tk_rc gw_psk_create(const char *dir, struct gw_psk **out) TK_WUR;
void gw_psk_destroy(struct gw_psk *p);
/** The device named id, read from its key file on first use. Borrowed pointer, valid
 *  until gw_psk_destroy. TK_ENOTFOUND if there is no key file (or id is not a valid
 *  device id: ids are file names here), TK_EPROTO if the file is malformed. */
enum tk_rc gw_psk_get(struct gw_psk *p, const char *id, size_t id_len,
                      struct gw_device **out) TK_WUR;
/** Load every device with a key file in the directory (so its acks and configuration
 *  are followed before it first speaks). Files that are not valid keys are skipped with
 *  a warning. TK_EIO if the directory cannot be read (a missing one is empty). */
enum tk_rc gw_psk_load_all(struct gw_psk *p) TK_WUR;
/** Number of devices loaded, and the i-th (borrowed). */
size_t gw_psk_count(const struct gw_psk *p);
struct gw_device *gw_psk_at(struct gw_psk *p, size_t i);

/* ---- spool.c: the durable spool -------------------------------------------------- */

struct gw_spool;

/** One spooled reading as handed to the forwarder. body is borrowed until the next call. */
struct gw_spool_row {
    int64_t rowid;
    char device[TK_ID_MAX + 1];
    enum tk_kind kind;
    uint32_t seq;
    const char *body; /* contract JSON of one reading */
    size_t body_len;
};

/** Open (create) the spool at path, holding at most max_rows readings. New. */
enum tk_rc gw_spool_open(const char *path, int64_t max_rows, struct gw_spool **out) TK_WUR;
void gw_spool_close(struct gw_spool *sp);
/** Store readings (all of one device) durably in one transaction: when this returns
 *  TK_OK they are on disk. Readings already spooled (same device and seq) are absorbed.
 *  TK_EFULL (nothing written) if they would take the spool beyond its cap.
 *  *added (may be NULL) gets the number of new rows. */
enum tk_rc gw_spool_put(struct gw_spool *sp, const struct tk_reading *r, size_t n,
                        size_t *added) TK_WUR;
/** Call fn for up to limit rows with rowid > after, in rowid order; stops early if fn
 *  returns nonzero. *last gets the rowid of the last row passed to fn (unchanged if none). */
enum tk_rc gw_spool_scan(struct gw_spool *sp, int64_t after, size_t limit,
                         int (*fn)(const struct gw_spool_row *row, void *ud), void *ud,
                         int64_t *last) TK_WUR;
/** Delete device's rows with seq <= watermark (serial arithmetic: seq may wrap) and
 *  remember the watermark. *deleted (may be NULL) gets the count. */
enum tk_rc gw_spool_ack(struct gw_spool *sp, const char *device, uint32_t watermark,
                        size_t *deleted) TK_WUR;
/** on: every commit is fsynced (synchronous=FULL, the default); off: none
 *  (synchronous=OFF), which survives a killed process but not a power loss: only for
 *  measuring what the fsync costs. */
enum tk_rc gw_spool_set_fsync(struct gw_spool *sp, int on) TK_WUR;
/** Readings in the spool, and the smallest rowid (0 when empty). */
int64_t gw_spool_count(const struct gw_spool *sp);
enum tk_rc gw_spool_min_rowid(struct gw_spool *sp, int64_t *rowid) TK_WUR;
/** Devices with rows in the spool, for subscribing to their acks after a restart.
 *  fn gets each distinct device id (borrowed for the call). */
enum tk_rc gw_spool_devices(struct gw_spool *sp, void (*fn)(const char *id, void *ud),
                            void *ud) TK_WUR;
/** Last error text of the database (static until the next call). */
const char *gw_spool_errmsg(struct gw_spool *sp);

/* ---- mqtt_side.c: the forwarder -------------------------------------------------- */

struct gw_mqtt;

/** Connect (in the background, reconnecting with back-off) as cfg->mqtt_user. New. */
enum tk_rc gw_mqtt_start(const struct gw_config *cfg, const char *password, struct gw_stats *stats,
                         struct gw_mqtt **out) TK_WUR;
void gw_mqtt_stop(struct gw_mqtt *m);
/** Remember that dev has readings to forward (subscribes to its ack topic). */
void gw_mqtt_watch(struct gw_mqtt *m, struct gw_device *dev);
/** One turn of the forwarder, on the main thread: apply acks that arrived (deleting
 *  from the spool) and configurations (cached in the device), subscribe to new devices'
 *  ack and config topics, publish spooled readings not yet sent (batched per device),
 *  resend what stays unacknowledged. Returns the number of devices whose cached
 *  configuration changed in this turn (their observers are due a notification). */
int gw_mqtt_tick(struct gw_mqtt *m, struct gw_spool *sp, struct gw_psk *psk, int64_t now_us);
int gw_mqtt_connected(const struct gw_mqtt *m);

/* ---- coap_side.c: the CoAP server ------------------------------------------------ */

struct gw_coap;

struct gw_coap_env {
    const struct gw_config *cfg;
    struct gw_spool *spool;
    struct gw_psk *psk;
    struct gw_mqtt *mqtt;
    struct gw_stats *stats;
};

/** Listen on cfg->coaps_port (DTLS-PSK) and, if set, cfg->coap_plain_port. env is
 *  borrowed and must outlive the server. New. */
enum tk_rc gw_coap_start(const struct gw_coap_env *env, struct gw_coap **out) TK_WUR;
void gw_coap_stop(struct gw_coap *c);
/** A device's configuration changed: notify the observers of GET /cfg. */
void gw_coap_config_changed(struct gw_coap *c);
/** Serve requests for up to timeout_ms. */
void gw_coap_run(struct gw_coap *c, unsigned timeout_ms);

/* What POST /r answers: a CoAP response code ((class << 5) | detail) and its payload,
 * JSON ({"accepted":N,"duplicates":D}, after which the forwarder must watch the device) or
 * a diagnostic text. */
struct gw_post_reply {
    unsigned code;
    int json;
    size_t len;
    char body[320];
};
/** The whole (reassembled) body of POST /r for device d, data/len, its Content-Format
 *  and size already checked (no sockets: the fuzzer drives it too): parse, the identity
 *  check, resend absorption, the spool. rs and errs hold cfg->readings_max entries
 *  (scratch). Spools what is new; counts in env->stats. */
void gw_coap__post(const struct gw_coap_env *env, struct tk_reading *rs, struct tk_error *errs,
                   struct gw_device *d, const uint8_t *data, size_t len,
                   struct gw_post_reply *out);

#endif
