#include "fw_water_level.h"

void fw_wl_default_opts(struct fw_wl_opts *o)
{
    o->sensor = FW_WL_ULTRASONIC;
    o->mount_height_mm = 0;
    o->burst = 5;
    o->max_step_mm = 150;
    o->temp = 0;
}

void fw_wl_init(struct fw_wl *w, struct fw_dev *dev, const struct fw_wl_opts *o)
{
    w->dev = dev;
    w->o = *o;
    if (w->o.burst == 0 || w->o.burst > FW_BURST_MAX)
        w->o.burst = 5;
    fw_spike_init(&w->spike, o->max_step_mm);
    fw_policy_init(&w->pol);
    w->next_sample = dev->port->mono_ms(dev->port->ctx);
    w->level_mm = 0;
    w->samples = w->sensor_errors = w->no_clock = 0;
}

static int read_i32(const struct fw_port *p, enum fw_channel ch, int32_t *v)
{
    return p->sensor_read(p->ctx, ch, v, sizeof *v) == FW_OK;
}

/* Pressure in Pa to level in mm of fresh water: h = p / (1000 kg/m3 * 9.80665 m/s2). */
static int32_t pa_to_mm(int32_t pa)
{
    return (int32_t)((int64_t)pa * 100000 / 980665);
}

static void sample(struct fw_wl *w, uint32_t now)
{
    const struct fw_port *p = w->dev->port;
    int32_t v[FW_BURST_MAX];
    unsigned n = 0;
    enum fw_channel ch = w->o.sensor == FW_WL_PRESSURE ? FW_CH_PRESSURE_PA : FW_CH_DISTANCE_MM;
    for (unsigned i = 0; i < w->o.burst; i++)
        if (read_i32(p, ch, &v[n]))
            n++;
    if (n * 2 <= w->o.burst) { /* most reads failed: no sample */
        w->sensor_errors++;
        return;
    }
    int32_t raw = fw_median(v, n), value;
    if (!fw_spike_push(&w->spike, raw, &value))
        return; /* a step waiting for confirmation */
    w->samples++;

    int32_t level;
    if (w->o.sensor == FW_WL_PRESSURE)
        level = pa_to_mm(value);
    else
        level = w->o.mount_height_mm ? w->o.mount_height_mm - value : -value;
    w->level_mm = level;
    struct fw_config pc = w->dev->cfg;
    if (w->o.sensor == FW_WL_ULTRASONIC && !w->o.mount_height_mm)
        pc.has &= ~(uint32_t)FW_CFG_START_LEVEL; /* no absolute level known */
    if (fw_policy_update(&w->pol, &pc, now, level))
        fw_dev_set_fast(w->dev, w->pol.fast);

    int64_t ts = p->utc_ms(p->ctx);
    if (ts <= 0) {
        w->no_clock++;
        return;
    }
    struct fw_reading r = {0};
    r.ts_ms = ts;
    if (w->o.sensor == FW_WL_PRESSURE) {
        r.has = FW_R_PRESSURE;
        r.pressure_pa = value < 0 ? 0 : value;
    } else {
        r.has = FW_R_DISTANCE;
        r.distance_mm = value < 0 ? 0 : value;
    }
    int32_t mv, dbm, cc;
    if (read_i32(p, FW_CH_BATTERY_MV, &mv) && mv >= 0 && mv <= 10000) {
        r.has |= FW_R_BATTERY;
        r.battery_mv = mv;
    } else {
        mv = -1;
    }
    if (w->o.temp && read_i32(p, FW_CH_TEMP_CC, &cc) && cc >= -5000 && cc <= 10000) {
        r.has |= FW_R_TEMP;
        r.temp_cc = cc;
    }
    if (!read_i32(p, FW_CH_RSSI_DBM, &dbm))
        dbm = 1;
    fw_dev_set_health(w->dev, mv, dbm);
    if (fw_dev_record(w->dev, &r) != FW_OK)
        w->sensor_errors++;
}

void fw_wl_tick(struct fw_wl *w)
{
    const struct fw_port *p = w->dev->port;
    uint32_t now = p->mono_ms(p->ctx);
    if (fw_diff32(now, w->next_sample) >= 0) {
        sample(w, now);
        w->next_sample += w->dev->cfg.sample_ms;
        if (fw_diff32(now, w->next_sample) >= 0) /* fell behind (or slept): no catch-up burst */
            w->next_sample = now + w->dev->cfg.sample_ms;
    }
    fw_dev_checkin(w->dev, FW_TASK_APP);
}
