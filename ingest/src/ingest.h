/* takumi-ingest internals shared by its files. */
#ifndef ING_INGEST_H
#define ING_INGEST_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "store.h"
#include "tk_error.h"

struct ing_config {
    char data_dir[1024];
    char db[1100];
    char mqtt_host[256];
    int64_t mqtt_port;
    char mqtt_tls_ca[1100]; /* "": plain TCP; else TLS verified against this CA file */
    char mqtt_user[64];
    char password_file[1100];
    char client_id[64];
    char share_group[64];
    int64_t batch_max;      /* messages per transaction */
    int64_t commit_interval_ms; /* gather this long after a commit before the next */
    int64_t queue_max;      /* messages held between the MQTT thread and the writer */
    int64_t payload_max;    /* bytes; larger messages are quarantined (truncated copy) */
    int64_t readings_max;   /* readings per message (batch payloads) */
    int64_t gap_timeout_s;  /* a seq gap older than this is declared lost */
    int64_t stats_interval_s;
    int publish_observations; /* SensorThings MQTT extension */
    int64_t retention_days;   /* raw observations older than this go (0: kept forever) */
    int64_t quarantine_retention_days; /* quarantined messages older than this go (0: kept) */
    int alerts;               /* run the alert engine (docs/alerts.md) */
    int64_t log_level;
};

struct ing_stats {
    uint64_t received, readings, stored_obs, quarantined, duplicates, dup_obs, lost_seqs,
        untracked, filled, commits, commit_failures, acks, published, publish_failures,
        statuses;
    uint64_t quarantine_by_code[TK_ERC_MAX];
    int64_t commit_us_max, commit_us_sum;
};

/* The queue between Paho's receive thread and the writer: owned Paho messages. */
struct ing_msg {
    char *topic;  /* Paho-allocated; freed with MQTTAsync_free */
    void *message; /* MQTTAsync_message* */
    int64_t recv_us;
};

struct ing_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    struct ing_msg *items;
    size_t cap, head, len;
    int closing; /* set at shutdown: new messages are released, not queued */
};

struct ing_sub;    /* sub.c: the MQTT side */
struct ing_writer; /* writer.c: batching, commit, acks */

struct ing_ctx {
    struct ing_config cfg;
    struct ing_queue q;
    struct ing_stats stats;
    struct ing_sub *sub;
    volatile sig_atomic_t *stop;
    const char *password; /* broker password (borrowed from main) */
};

/* queue.c */
enum tk_rc ing_queue_init(struct ing_queue *q, size_t cap) TK_WUR;
void ing_queue_destroy(struct ing_queue *q);
/** Block while full (backpressure into the broker connection). After ing_queue_close the
 *  message is released instead: its device resends what the watermark does not cover. */
void ing_queue_push(struct ing_queue *q, struct ing_msg m);
/** Stop queueing; wake blocked producers. */
void ing_queue_close(struct ing_queue *q);
/** Take up to max messages; waits up to wait_ms for the first one. Returns the count. */
size_t ing_queue_take(struct ing_queue *q, struct ing_msg *out, size_t max, int wait_ms);
void ing_msg_free(struct ing_msg *m);
/** Payload bytes of a queued message. */
const void *ing_msg_payload(const struct ing_msg *m, size_t *len);

/* sub.c */
enum tk_rc ing_sub_start(struct ing_ctx *ctx, const char *password) TK_WUR;
void ing_sub_stop(struct ing_ctx *ctx);

/* writer.c: runs on the calling thread until *ctx->stop, then drains the queue. */
enum tk_rc ing_writer_run(struct ing_ctx *ctx) TK_WUR;

#endif
