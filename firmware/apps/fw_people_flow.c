#include "fw_people_flow.h"

static int counters(const struct fw_port *port, uint32_t *in, uint32_t *out)
{
    int32_t a, b;
    if (port->sensor_read(port->ctx, FW_CH_COUNT_IN, &a, sizeof a) != FW_OK ||
        port->sensor_read(port->ctx, FW_CH_COUNT_OUT, &b, sizeof b) != FW_OK)
        return 0;
    *in = (uint32_t)a;
    *out = (uint32_t)b;
    return 1;
}

void fw_pf_init(struct fw_pf *p, struct fw_dev *dev)
{
    const struct fw_port *port = dev->port;
    p->dev = dev;
    p->started = port->mono_ms(port->ctx);
    p->cum_in = p->cum_out = 0;
    p->sensor_errors = 0;
    p->primed = (uint8_t)counters(port, &p->last_in, &p->last_out);
}

void fw_pf_tick(struct fw_pf *p)
{
    const struct fw_port *port = p->dev->port;
    uint32_t now = port->mono_ms(port->ctx);
    uint32_t in, out;
    if (!p->primed) {
        p->primed = (uint8_t)counters(port, &p->last_in, &p->last_out);
        p->started = now;
    } else if (now - p->started >= p->dev->cfg.interval_ms) {
        if (!counters(port, &in, &out)) {
            p->sensor_errors++;
        } else {
            uint32_t di = in - p->last_in, dout = out - p->last_out; /* wrap-safe */
            uint32_t secs = (now - p->started + 500u) / 1000u;
            struct fw_reading r = {0};
            r.ts_ms = port->utc_ms(port->ctx);
            r.interval_s = secs < 1 ? 1 : secs > 86400 ? 86400 : secs;
            r.in = di > 1000000u ? 1000000u : di;
            r.out = dout > 1000000u ? 1000000u : dout;
            p->cum_in += di;
            p->cum_out += dout;
            r.has = FW_R_CUM_IN | FW_R_CUM_OUT;
            r.cum_in = p->cum_in;
            r.cum_out = p->cum_out;
            p->last_in = in;
            p->last_out = out;
            p->started = now;
            if (r.ts_ms <= 0 || fw_dev_record(p->dev, &r) != FW_OK)
                p->sensor_errors++;
        }
    }
    fw_dev_checkin(p->dev, FW_TASK_APP);
}
