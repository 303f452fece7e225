/* Remote configuration (city/{kind}/{id}/config, schemas/config.schema.json).
 *
 * Held in fixed point (seconds, millimetres) so the core needs no floating point. A
 * configuration is applied only when it parses completely, passes the schema's ranges
 * and the rules the schema cannot state, and carries a higher version than the one
 * running. It is then written to non-volatile storage as one block with a magic, the
 * version and a CRC-32; a block that fails the check at boot is ignored (the defaults
 * built into the firmware run until the platform's retained config arrives again). */
#ifndef FW_CONFIG_H
#define FW_CONFIG_H

#include "fw_port.h"

enum {
    FW_CFG_FAST_INTERVAL = 1u << 0,
    FW_CFG_START_LEVEL = 1u << 1,
    FW_CFG_START_RISE = 1u << 2,
    FW_CFG_HYSTERESIS = 1u << 3,
    FW_CFG_HOLD = 1u << 4,
};

struct fw_config {
    uint32_t version;          /* 0: firmware defaults, never configured */
    uint32_t interval_ms;      /* normal reporting interval (uplink of the batch) */
    uint32_t sample_ms;        /* sensor sampling period: one reading per sample */
    uint32_t fast_interval_ms; /* reporting interval in fast mode */
    uint32_t fast_hold_ms;     /* minimum time in fast mode */
    int32_t fast_start_level_mm;
    int32_t fast_start_rise_mm_per_10min;
    int32_t fast_hysteresis_mm;
    uint32_t has; /* FW_CFG_* bits: which optional settings are present */
};

#define FW_CONFIG_BLOCK_SIZE 48u /* bytes the block takes in non-volatile storage */

/** Parse a config payload into *out (which the caller filled with the running config:
 *  absent optional settings are cleared, present ones replace). FW_EINVAL for anything
 *  the schema or its stated rules refuse; FW_ESTALE when version <= running->version. */
enum fw_rc fw_config_parse(const char *buf, size_t len, const struct fw_config *running,
                           struct fw_config *out) FW_WUR;

/** Store / load the block at off. Load returns FW_ECRC (and leaves *cfg untouched) for a
 *  block with a bad magic or CRC, e.g. erased or torn storage. */
enum fw_rc fw_config_save(const struct fw_port *port, uint32_t off,
                          const struct fw_config *cfg) FW_WUR;
enum fw_rc fw_config_load(const struct fw_port *port, uint32_t off, struct fw_config *cfg) FW_WUR;

#endif
