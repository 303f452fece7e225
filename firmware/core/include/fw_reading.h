/* Readings and status in the wire contract (SPEC section 3, schemas/), encoded without
 * malloc or floating point. The output is byte-identical to common/'s tk_reading_to_json
 * for the same reading (the host test compares them): ts as RFC 3339 UTC with
 * microseconds, fields in the same order, decimals without trailing zeros. */
#ifndef FW_READING_H
#define FW_READING_H

#include "fw_port.h"

#define FW_ID_MAX 48

enum {
    FW_R_LEVEL = 1u << 0,      /* level_m from level_mm */
    FW_R_DISTANCE = 1u << 1,   /* distance_mm */
    FW_R_PRESSURE = 1u << 2,   /* pressure_kpa from pressure_pa */
    FW_R_BATTERY = 1u << 3,    /* battery_v from battery_mv */
    FW_R_TEMP = 1u << 4,       /* temp_c from temp_cc */
    FW_R_CUM_IN = 1u << 5,
    FW_R_CUM_OUT = 1u << 6,
    FW_R_PROBE_ONLY = 1u << 7,
};

struct fw_reading {
    enum fw_kind kind;
    uint32_t seq;
    int64_t ts_ms; /* UTC */
    uint32_t has;  /* FW_R_* */
    /* water_level: exactly one of level/distance/pressure */
    int32_t level_mm, distance_mm, pressure_pa, battery_mv, temp_cc;
    /* people_flow and wifi_ap */
    uint32_t interval_s;
    uint32_t in, out;
    uint64_t cum_in, cum_out;
    uint32_t unique_devices, associated, probe_only;
};

/** "water_level", "people_flow", "wifi_ap". */
const char *fw_kind_name(enum fw_kind kind);
/** 1 if id matches [a-z0-9-]{3,48}. */
int fw_id_valid(const char *id);

/** Encode one reading of device id into buf (NUL-terminated). FW_EFULL if it does not
 *  fit, FW_EINVAL for an invalid id or ts before the epoch. */
enum fw_rc fw_reading_encode(const struct fw_reading *r, const char *id, char *buf, size_t cap,
                             size_t *len) FW_WUR;

struct fw_status {
    int online;
    const char *fw;    /* firmware version, [0-9A-Za-z.+_-]{1,31} */
    int32_t battery_mv; /* < 0: unknown */
    int32_t rssi_dbm;   /* > 0: unknown */
    uint32_t buffered;  /* readings waiting for their ack */
    uint32_t dropped;   /* readings dropped unacknowledged (ring full) since first boot */
    uint32_t config_version;
};

/** {"state":"online","fw":"0.1.0","battery_v":3.61,"rssi_dbm":-95,"buffered":0,
 *  "dropped":0,"config_version":3}; the offline will carries state and fw only. */
enum fw_rc fw_status_encode(const struct fw_status *s, char *buf, size_t cap,
                            size_t *len) FW_WUR;

#endif
