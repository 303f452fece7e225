#include "fw_config.h"

#include "fw_bytes.h"
#include "fw_crc.h"
#include "fw_json.h"

#define CFG_MAGIC 0x31434b54u /* "TKC1" */

static const char *const cfg_keys[] = {
    "version",           "interval_s",         "sample_s",
    "fast_interval_s",   "fast_start_level_m", "fast_start_rise_m_per_10min",
    "fast_hysteresis_m", "fast_hold_s",        0,
};

/* A member read as fixed point with 3 decimals. 1: present, 0: absent, -1: bad. */
static int get3(const char *buf, size_t len, const char *key, int64_t *milli)
{
    enum fw_rc rc = fw_json_get_fixed(buf, len, key, 3, milli);
    if (rc == FW_ENOENT)
        return 0;
    return rc == FW_OK ? 1 : -1;
}

/* An integer member within [lo, hi]: 1 present, 0 absent, -1 bad. */
static int get_int(const char *buf, size_t len, const char *key, int64_t lo, int64_t hi,
                   int64_t *v)
{
    int64_t m;
    int r = get3(buf, len, key, &m);
    if (r <= 0)
        return r;
    if (m % 1000 != 0 || m / 1000 < lo || m / 1000 > hi)
        return -1;
    *v = m / 1000;
    return 1;
}

/* A metre-valued member in [lo_mm, hi_mm] (inclusive) as millimetres. */
static int get_mm(const char *buf, size_t len, const char *key, int64_t lo_mm, int64_t hi_mm,
                  int32_t *mm)
{
    int64_t m;
    int r = get3(buf, len, key, &m);
    if (r <= 0)
        return r;
    if (m < lo_mm || m > hi_mm)
        return -1;
    *mm = (int32_t)m;
    return 1;
}

enum fw_rc fw_config_parse(const char *buf, size_t len, const struct fw_config *running,
                           struct fw_config *out)
{
    struct fw_config c = *running;
    int64_t v;
    int r;

    if (fw_json_check_flat(buf, len, cfg_keys, 1) != FW_OK)
        return FW_EINVAL;
    if (get_int(buf, len, "version", 1, 4294967295LL, &v) != 1)
        return FW_EINVAL;
    c.version = (uint32_t)v;
    if (get_int(buf, len, "interval_s", 10, 86400, &v) != 1)
        return FW_EINVAL;
    c.interval_ms = (uint32_t)v * 1000u;
    r = get_int(buf, len, "sample_s", 1, 3600, &v);
    if (r < 0)
        return FW_EINVAL;
    if (r)
        c.sample_ms = (uint32_t)v * 1000u;
    c.has = 0;
    r = get_int(buf, len, "fast_interval_s", 10, 3600, &v);
    if (r < 0)
        return FW_EINVAL;
    if (r) {
        c.has |= FW_CFG_FAST_INTERVAL;
        c.fast_interval_ms = (uint32_t)v * 1000u;
    }
    r = get_int(buf, len, "fast_hold_s", 0, 86400, &v);
    if (r < 0)
        return FW_EINVAL;
    if (r) {
        c.has |= FW_CFG_HOLD;
        c.fast_hold_ms = (uint32_t)v * 1000u;
    } else {
        c.fast_hold_ms = 0;
    }
    r = get_mm(buf, len, "fast_start_level_m", -1000, 100000, &c.fast_start_level_mm);
    if (r < 0)
        return FW_EINVAL;
    c.has |= r ? FW_CFG_START_LEVEL : 0;
    /* exclusiveMinimum 0: a rise below 1 mm per 10 min truncates to 0 and is refused too */
    r = get_mm(buf, len, "fast_start_rise_m_per_10min", 1, 10000,
               &c.fast_start_rise_mm_per_10min);
    if (r < 0)
        return FW_EINVAL;
    c.has |= r ? FW_CFG_START_RISE : 0;
    r = get_mm(buf, len, "fast_hysteresis_m", 0, 10000, &c.fast_hysteresis_mm);
    if (r < 0)
        return FW_EINVAL;
    if (r)
        c.has |= FW_CFG_HYSTERESIS;
    else
        c.fast_hysteresis_mm = 0;
    /* dependentRequired, and the rules the schema cannot state */
    if ((c.has & (FW_CFG_START_LEVEL | FW_CFG_START_RISE | FW_CFG_HOLD)) &&
        !(c.has & FW_CFG_FAST_INTERVAL))
        return FW_EINVAL;
    if ((c.has & FW_CFG_HYSTERESIS) && !(c.has & FW_CFG_START_LEVEL))
        return FW_EINVAL;
    if ((c.has & FW_CFG_FAST_INTERVAL) && c.fast_interval_ms > c.interval_ms)
        return FW_EINVAL;
    if (c.sample_ms > c.interval_ms)
        return FW_EINVAL;
    if (!(c.has & FW_CFG_FAST_INTERVAL))
        c.fast_interval_ms = c.interval_ms;
    if (c.version <= running->version)
        return FW_ESTALE;
    *out = c;
    return FW_OK;
}

static void pack(uint8_t *b, const struct fw_config *c)
{
    const uint32_t w[10] = {CFG_MAGIC,
                            c->version,
                            c->interval_ms,
                            c->sample_ms,
                            c->fast_interval_ms,
                            c->fast_hold_ms,
                            (uint32_t)c->fast_start_level_mm,
                            (uint32_t)c->fast_start_rise_mm_per_10min,
                            (uint32_t)c->fast_hysteresis_mm,
                            c->has};
    for (unsigned i = 0; i < 10; i++)
        fw_put32(b + 4 * i, w[i]);
    fw_put32(b + 40, fw_crc32(0, b, 40));
}

enum fw_rc fw_config_save(const struct fw_port *port, uint32_t off, const struct fw_config *cfg)
{
    uint8_t b[FW_CONFIG_BLOCK_SIZE] = {0};
    pack(b, cfg);
    return port->nv_write(port->ctx, off, b, sizeof b);
}

enum fw_rc fw_config_load(const struct fw_port *port, uint32_t off, struct fw_config *cfg)
{
    uint8_t b[FW_CONFIG_BLOCK_SIZE];
    if (port->nv_read(port->ctx, off, b, sizeof b) != FW_OK)
        return FW_EIO;
    if (fw_get32(b) != CFG_MAGIC || fw_get32(b + 40) != fw_crc32(0, b, 40))
        return FW_ECRC;
    struct fw_config c;
    c.version = fw_get32(b + 4);
    c.interval_ms = fw_get32(b + 8);
    c.sample_ms = fw_get32(b + 12);
    c.fast_interval_ms = fw_get32(b + 16);
    c.fast_hold_ms = fw_get32(b + 20);
    c.fast_start_level_mm = (int32_t)fw_get32(b + 24);
    c.fast_start_rise_mm_per_10min = (int32_t)fw_get32(b + 28);
    c.fast_hysteresis_mm = (int32_t)fw_get32(b + 32);
    c.has = fw_get32(b + 36);
    if (c.interval_ms == 0 || c.sample_ms == 0 || c.fast_interval_ms == 0)
        return FW_ECRC;
    *cfg = c;
    return FW_OK;
}
