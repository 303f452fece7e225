#include "pdevice.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint32_t mono_ms(void *ctx)
{
    return simclock_mono_ms(((struct pdevice *)ctx)->clock);
}

static int64_t utc_ms(void *ctx)
{
    return simclock_utc_ms(((struct pdevice *)ctx)->clock);
}

static enum fw_rc net_connect(void *ctx)
{
    struct pdevice *p = ctx;
    return p->coap ? coap_link_connect(p->coap) : link_connect(p->net.link);
}

static void net_close(void *ctx)
{
    struct pdevice *p = ctx;
    if (p->coap)
        coap_link_close(p->coap);
    else
        link_close(p->net.link);
}

static enum fw_net net_state(void *ctx)
{
    struct pdevice *p = ctx;
    return p->coap ? coap_link_state(p->coap) : link_state(p->net.link);
}

static enum fw_rc net_publish(void *ctx, enum fw_topic topic, const char *payload, size_t len,
                              int retain)
{
    struct pdevice *p = ctx;
    const char *t = topic == FW_TOPIC_STATUS ? p->net.t_status : p->net.t_reading;
    enum fw_rc rc = p->coap ? coap_link_publish(p->coap, topic, payload, len)
                            : link_publish(p->net.link, t, payload, len, retain);
    if (p->verbose > 1 && rc == FW_OK)
        fprintf(stderr, "fw %s: publish %s %.*s\n", p->id, t, (int)len, payload);
    return rc;
}

static enum fw_rc net_poll(void *ctx, enum fw_topic *topic, char *buf, size_t cap, size_t *len)
{
    struct pdevice *p = ctx;
    return p->coap ? coap_link_poll(p->coap, topic, buf, cap, len)
                   : link_poll(&p->net, topic, buf, cap, len);
}

static enum fw_rc nv_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    struct pdevice *p = ctx;
    if (off > p->nv.size || len > p->nv.size - off)
        return FW_EIO;
    memcpy(buf, p->nv.img + off, len);
    return FW_OK;
}

static enum fw_rc nv_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    struct pdevice *p = ctx;
    return nv_file_write(&p->nv, off, buf, len) == 0 ? FW_OK : FW_EIO;
}

static enum fw_rc nv_commit(void *ctx)
{
    struct pdevice *p = ctx;
    if (nv_file_commit(&p->nv) != 0) {
        perror(p->nv.path);
        return FW_EIO;
    }
    return FW_OK;
}

static enum fw_rc sensor_read(void *ctx, enum fw_channel ch, void *out, size_t size)
{
    struct pdevice *p = ctx;
    return scenario_read(&p->scen, simclock_sim_s(p->clock), ch, out, size);
}

static void wdt_kick(void *ctx)
{
    struct pdevice *p = ctx;
    p->last_kick_real = p->clock->real_ms;
}

static uint32_t rand32(void *ctx)
{
    (void)ctx;
    uint32_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = (uint32_t)time(NULL) * 2654435761u;
    return v;
}

static void logf_(void *ctx, int level, const char *msg)
{
    struct pdevice *p = ctx;
    if (level <= 1 || p->verbose)
        fprintf(stderr, "fw %s: %s\n", p->id, msg);
}

int pdevice_init(struct pdevice *p, const struct pdevice_opts *o, const struct simclock *clock,
                 const char *id, enum fw_kind kind, int32_t mount_height_mm, size_t part,
                 uint64_t seed)
{
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", id);
    p->kind = kind;
    p->clock = clock;
    p->verbose = o->verbose;
    pdev_net_init(&p->net, NULL, fw_kind_name(kind), id);
    p->net.log_acks = o->verbose > 0;
    struct fw_dev_opts d = o->dev;
    d.id = p->id;
    d.kind = kind;
    /* network timeouts are real time; the core counts simulated ms */
    d.connect_timeout_ms = simclock_real_to_sim(clock, d.connect_timeout_ms);
    d.ack_timeout_ms = simclock_real_to_sim(clock, d.ack_timeout_ms);
    d.backoff_base_ms = simclock_real_to_sim(clock, d.backoff_base_ms);
    d.backoff_cap_ms = simclock_real_to_sim(clock, d.backoff_cap_ms);
    uint32_t nv_size = d.nv_ring_off + fw_ring_nv_size(d.ring_slots, d.slot_size);
    int rc = o->group ? nv_group_attach(o->group, part, id, &p->nv)
                      : nv_file_open(&p->nv, o->state_dir, id, nv_size);
    if (rc != 0 || p->nv.size < nv_size) {
        fprintf(stderr, "fw %s: cannot open storage in %s\n", id, o->state_dir);
        return -1;
    }
    scenario_init(&p->scen, o->scen, seed);
    if (o->storm_at_s > 0)
        p->scen.storm_at_s = o->storm_at_s;
    if (o->peak_rise_mm_per_min > 0)
        p->scen.peak_rise_mm_per_min = o->peak_rise_mm_per_min;
    struct fw_wl_opts wl = o->wl;
    if (mount_height_mm > 0)
        wl.mount_height_mm = mount_height_mm;
    if (wl.mount_height_mm)
        p->scen.mount_height_mm = wl.mount_height_mm;
    if (o->macs) {
        p->scen.macs = o->macs;
        p->scen.nmacs = o->nmacs;
    }

    struct fw_port *pt = &p->port;
    pt->ctx = p;
    pt->mono_ms = mono_ms;
    pt->utc_ms = utc_ms;
    pt->net_connect = net_connect;
    pt->net_close = net_close;
    pt->net_state = net_state;
    pt->net_publish = net_publish;
    pt->net_poll = net_poll;
    pt->nv_read = nv_read;
    pt->nv_write = nv_write;
    pt->nv_commit = nv_commit;
    pt->nv_size = nv_size;
    pt->sensor_read = sensor_read;
    pt->wdt_kick = wdt_kick;
    pt->rand32 = rand32;
    pt->log = logf_;
    p->last_kick_real = clock->real_ms;

    enum fw_rc frc = fw_dev_init(&p->dev, pt, &d);
    if (frc) {
        fprintf(stderr, "fw %s: init failed (%d)\n", id, (int)frc);
        return -1;
    }
    p->ring_at_start = fw_ring_count(&p->dev.ring);
    p->dropped_at_start = p->dev.ring.dropped;
    switch (kind) {
    case FW_KIND_WATER_LEVEL:
        fw_wl_init(&p->app.wl, &p->dev, &wl);
        break;
    case FW_KIND_PEOPLE_FLOW:
        fw_pf_init(&p->app.pf, &p->dev);
        break;
    case FW_KIND_WIFI_AP:
        fw_wifi_init(&p->app.wifi, &p->dev);
        break;
    }
    return 0;
}

void pdevice_tick(struct pdevice *p, int record)
{
    if (!record) {
        fw_dev_checkin(&p->dev, FW_TASK_APP);
    } else {
        switch (p->kind) {
        case FW_KIND_WATER_LEVEL:
            fw_wl_tick(&p->app.wl);
            break;
        case FW_KIND_PEOPLE_FLOW:
            fw_pf_tick(&p->app.pf);
            break;
        case FW_KIND_WIFI_AP: {
            struct fw_wifi *w = &p->app.wifi;
            fw_wifi_tick(w);
            if (w->reports != p->wifi_reports && p->verbose) {
                /* counts and the digest of salted hashes only: nothing of a MAC */
                fprintf(stderr,
                        "fw %s: wifi interval unique=%u probe_only=%u digest=%08x "
                        "salt_rotations=%u la_probes_ignored=%u\n",
                        p->id, w->last_unique, w->last_probe_only, w->last_digest,
                        w->salt_rotations, w->la_probes_ignored);
            }
            p->wifi_reports = w->reports;
            break;
        }
        }
    }
    fw_dev_tick(&p->dev);
}

uint32_t pdevice_acked(const struct pdevice *p)
{
    return p->dev.st.recorded + p->ring_at_start - fw_ring_count(&p->dev.ring) -
           (p->dev.ring.dropped - p->dropped_at_start);
}

void pdevice_close(struct pdevice *p)
{
    nv_file_close(&p->nv);
}
