/* The reading model: the one place that turns wire JSON into readings and back.
 *
 * A reading is what a device sends (SPEC section 3). Parsing validates it against the
 * wire contract completely (the same rules as schemas/reading-*.schema.json) so that
 * everything downstream may trust its fields. Unknown top-level fields are kept, as a
 * compact JSON object text in `extra`, never dropped. */
#ifndef TK_READING_H
#define TK_READING_H

#include <stdint.h>
#include <stddef.h>
#include "tk_error.h"

enum tk_kind { TK_KIND_WATER_LEVEL = 0, TK_KIND_PEOPLE_FLOW, TK_KIND_WIFI_AP, TK_KIND_MAX };

#define TK_ID_MAX 48 /* device ids match [a-z0-9-]{3,48} */

/** "water_level", "people_flow", "wifi_ap"; NULL for out of range. */
const char *tk_kind_name(enum tk_kind kind);
/** Parse a kind name; TK_EINVAL if unknown. */
enum tk_rc tk_kind_parse(const char *name, enum tk_kind *out) TK_WUR;
/** 1 if id matches [a-z0-9-]{3,48}, else 0. This is a security boundary: device ids
 *  become broker usernames and topic levels, and mosquitto ACL patterns accept '/'. */
int tk_device_id_valid(const char *id);

/* Presence bits for optional and alternative fields. */
enum {
    TK_F_LEVEL_M = 1u << 0,
    TK_F_DISTANCE_MM = 1u << 1,
    TK_F_PRESSURE_KPA = 1u << 2,
    TK_F_BATTERY_V = 1u << 3,
    TK_F_TEMP_C = 1u << 4,
    TK_F_CUM_IN = 1u << 5,
    TK_F_CUM_OUT = 1u << 6,
    TK_F_PROBE_ONLY = 1u << 7,
    /* "seq" is valid and the reading is the topic device's own. Set on success, and also
     * on an element that failed for another reason: its seq is then known, so the
     * platform can count a quarantined reading as kept (and a device stops resending it). */
    TK_F_SEQ = 1u << 8,
};

struct tk_reading {
    enum tk_kind kind;
    char id[TK_ID_MAX + 1];
    uint32_t seq;
    int64_t ts_us; /* UTC, microseconds since the epoch */
    unsigned has;  /* TK_F_* bits */
    /* water_level: exactly one of level_m, distance_mm, pressure_kpa */
    double level_m, distance_mm, pressure_kpa, battery_v, temp_c;
    /* people_flow and wifi_ap */
    int64_t interval_s;
    int64_t in, out, cum_in, cum_out;            /* people_flow */
    int64_t unique_devices, associated, probe_only; /* wifi_ap */
    char *extra; /* unknown fields as a JSON object text, or NULL. New: freed by tk_reading_clear */
};

/** Free what a parsed reading owns (extra) and zero it. NULL does nothing. */
void tk_reading_clear(struct tk_reading *r);

/** Parse one payload that is either one reading object or a JSON array of them.
 *
 *  @param buf,len   payload bytes (borrowed; need not be NUL-terminated)
 *  @param kind      kind from the topic; every reading is validated as that kind
 *  @param topic_id  device id from the topic; each reading's "id" must equal it (NULL: not checked)
 *  @param out       array of cap readings filled in order (caller-owned; clear each with
 *                   tk_reading_clear, including the ones that failed)
 *  @param errs      array of cap errors, errs[i] describes out[i] (may be NULL)
 *  @param n         number of elements seen (<= cap)
 *  @param err       whole-message error: not JSON, empty array, batch larger than cap,
 *                   wrong top-level type (may be NULL)
 *  @return TK_OK when the message as a whole could be read (each element then has
 *          errs[i].code == TK_OK or its own error); TK_EPROTO / TK_ESCHEMA / TK_EFULL
 *          for a whole-message failure (*n == 0). */
enum tk_rc tk_readings_parse(const char *buf, size_t len, enum tk_kind kind, const char *topic_id,
                             struct tk_reading *out, struct tk_error *errs, size_t cap,
                             size_t *n, struct tk_error *err) TK_WUR;

/** tk_readings_parse without its fast path for the common single flat object: every
 *  message read by jansson. Internal, for the differential tests (same contract). */
enum tk_rc tk_readings__parse_general(const char *buf, size_t len, enum tk_kind kind,
                                      const char *topic_id, struct tk_reading *out,
                                      struct tk_error *errs, size_t cap, size_t *n,
                                      struct tk_error *err) TK_WUR;

/** Encode a reading as contract JSON ("v":1, id, seq, ts as RFC 3339 UTC with
 *  microseconds, the kind's fields, extra fields merged). Writes at most size bytes
 *  including the NUL. Returns TK_EFULL if it does not fit. */
enum tk_rc tk_reading_to_json(const struct tk_reading *r, char *buf, size_t size,
                              size_t *len) TK_WUR;

#define TK_JSON_NUMBER_MAX 32
/** Write d as the shortest JSON number text that reads back as the same double ("0.5",
 *  "3.61", "42"; "null" for NaN and infinities). Returns the length (no NUL counted). */
size_t tk_json_number(double d, char buf[TK_JSON_NUMBER_MAX]);

/* Topics: city/{kind}/{device_id}/{reading|status|ack|config}, city/alerts/{id} */
enum tk_topic_type { TK_TOPIC_READING, TK_TOPIC_STATUS, TK_TOPIC_ACK, TK_TOPIC_CONFIG };

/** Split a device topic. Returns TK_EINVAL (with err filled, path "topic") when the
 *  topic is not city/{known kind}/{valid id}/{reading|status|ack|config}. */
enum tk_rc tk_topic_parse(const char *topic, enum tk_kind *kind, char id[TK_ID_MAX + 1],
                          enum tk_topic_type *type, struct tk_error *err) TK_WUR;

/** Build a device topic into buf. TK_EFULL if it does not fit. */
enum tk_rc tk_topic_make(char *buf, size_t size, enum tk_kind kind, const char *id,
                         enum tk_topic_type type) TK_WUR;

/** The ack payload {"seq":N}. */
enum tk_rc tk_ack_to_json(uint32_t seq, char *buf, size_t size, size_t *len) TK_WUR;
/** Parse an ack payload; TK_ESCHEMA with err filled if it is not {"seq":uint32}. */
enum tk_rc tk_ack_parse(const char *buf, size_t len, uint32_t *seq, struct tk_error *err) TK_WUR;

/** Status payload: {"state":"online"|"offline","fw":"1.2.0","battery_v":3.6,"rssi_dbm":-95} */
struct tk_status {
    int online;          /* 1 online, 0 offline */
    char fw[32];         /* "" if absent */
    double battery_v;    /* valid when has_battery */
    int has_battery;
    int rssi_dbm;        /* valid when has_rssi */
    int has_rssi;
};
enum tk_rc tk_status_parse(const char *buf, size_t len, struct tk_status *st,
                           struct tk_error *err) TK_WUR;

#endif
