/* Storing and publishing alert changes; rebuilding a gauge's state after a restart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_io.h"
#include "tk_log.h"

#define RECOVER_POINTS 64 /* level points read back at load: 11 minutes at 10 s a point */

struct open_ctx {
    struct ing_alert_gauge *g;
};

static int take_open(const struct store_alert *a, void *ud)
{
    struct open_ctx *c = ud;
    if ((unsigned)a->cond < STORE_ALERT_NCOND && !c->g->al[a->cond].active)
        c->g->al[a->cond] = *a;
    return 0;
}

enum tk_rc ing_alerts_load(struct store *st, const struct store_device *dev, int64_t now_us,
                           struct ing_alert_gauge **out)
{
    struct store_alert_config cfg;
    struct ing_alert_gauge *g = NULL;
    enum tk_rc rc = store_alert_config_effective(st, dev, &cfg);
    if (rc)
        return rc;
    g = malloc(sizeof *g);
    if (!g)
        return TK_ENOMEM;
    ing_alert_init(g, &cfg, dev->name[0] ? dev->name : dev->id, dev->lat, dev->lon);
    struct store_alert_filter f = {.state = 1, .cond = -1, .device_id = dev->id};
    struct open_ctx oc = {g};
    rc = store_alert_list(st, &f, take_open, &oc, NULL);
    if (!rc)
        rc = store_alert_device_get(st, dev->id, &g->pub);
    int64_t ds = dev->ds[TK_Q_WATER_LEVEL];
    if (!rc && ds) {
        struct store_point last, pts[RECOVER_POINTS];
        int found = 0;
        size_t n = 0;
        rc = store_latest(st, &ds, 1, &last, &found);
        if (!rc && found) {
            rc = store_range(st, ds, last.t_us - ING_ALERT_RISE_MAX_US, last.t_us + 1, 1, pts,
                             RECOVER_POINTS, &n);
            for (size_t i = n; !rc && i > 0; i--) /* descending: oldest last */
                ing_alert_remember(g, pts[i - 1].t_us, pts[i - 1].result);
            g->last_t_us = last.t_us;
            /* resultTime is when the ingest received the reading */
            int64_t seen = last.result_time_us ? last.result_time_us : last.t_us;
            g->last_seen_us = seen < now_us ? seen : now_us;
        }
    }
    if (rc) {
        free(g);
        return rc;
    }
    *out = g;
    return TK_OK;
}

enum tk_rc ing_alerts_reconfig(struct store *st, struct ing_alert_gauge *g,
                               const struct store_device *dev)
{
    struct store_alert_config cfg;
    enum tk_rc rc = store_alert_config_effective(st, dev, &cfg);
    if (!rc)
        g->cfg = cfg;
    return rc;
}

enum tk_rc ing_alerts_config_json(const struct store_alert_config *c, uint32_t version, int fast,
                                  char *buf, size_t size, size_t *len)
{
    /* sample every minute at most; the gauge keeps its own fast mode as well */
    int64_t sample = c->fast_interval_s < 60 ? c->fast_interval_s : 60;
    int k = snprintf(buf, size,
                     "{\"version\":%u,\"interval_s\":%lld,\"sample_s\":%lld,"
                     "\"fast_interval_s\":%lld,\"fast_start_level_m\":%.3f,"
                     "\"fast_start_rise_m_per_10min\":%.3f,\"fast_hysteresis_m\":%.3f}",
                     (unsigned)version, (long long)(fast ? c->fast_interval_s : c->interval_s),
                     (long long)sample, (long long)c->fast_interval_s, c->caution_m,
                     c->rise_m_per_10min, c->hysteresis_m);
    if (k < 0 || (size_t)k >= size)
        return TK_EFULL;
    *len = (size_t)k;
    return TK_OK;
}

static enum tk_rc queue_config(struct ing_pub *pub, const struct ing_alert_gauge *g,
                               const struct store_alert_device *d, uint64_t *npub)
{
    char topic[128], body[512];
    size_t len;
    enum tk_rc rc =
        ing_alerts_config_json(&g->cfg, d->config_version, d->fast, body, sizeof body, &len);
    if (rc)
        return rc;
    snprintf(topic, sizeof topic, "city/water_level/%s/config", g->cfg.device_id);
    if (ing_pub_add(pub, topic, body, len, 1) == TK_OK)
        (*npub)++;
    return TK_OK;
}

enum tk_rc ing_alerts_config_resend(struct ing_pub *pub, const struct ing_alert_gauge *g,
                                    uint64_t *npub)
{
    return g->pub.config_version ? queue_config(pub, g, &g->pub, npub) : TK_OK;
}

/* Enter or leave fast reporting when the gauge's alerting changed. */
static enum tk_rc fast_mode(struct store *st, struct ing_pub *pub, struct ing_alert_gauge *g,
                            int64_t now_us, uint64_t *npub)
{
    int want = ing_alert_any_active(g);
    if (want == g->pub.fast)
        return TK_OK;
    struct store_alert_device d = g->pub;
    uint32_t now_s = (uint32_t)(now_us / 1000000);
    d.config_version = d.config_version + 1 > now_s ? d.config_version + 1 : now_s;
    d.fast = want;
    d.fast_since_us = now_us;
    enum tk_rc rc = store_alert_device_put(st, g->cfg.device_id, &d);
    if (!rc)
        rc = queue_config(pub, g, &d, npub);
    if (rc)
        return rc;
    g->pub = d;
    tk_log(TK_LOG_INFO, "gauge %s: %s reporting (config version %u)", g->cfg.device_id,
           want ? "fast" : "normal", (unsigned)d.config_version);
    return TK_OK;
}

static enum tk_rc apply(struct store *st, struct ing_pub *pub, struct ing_alert_gauge *g,
                        const struct ing_alert_change *ch, int n, int64_t now_us, uint64_t *npub)
{
    enum tk_rc rc = TK_OK;
    for (int i = 0; i < n && !rc; i++) {
        struct store_alert *a = &g->al[ch[i].cond];
        rc = ch[i].flags & ING_AL_NEW ? store_alert_add(st, a) : store_alert_update(st, a);
        if (rc || !(ch[i].flags & ING_AL_PUBLISH))
            continue;
        char topic[96], body[2048];
        size_t len;
        snprintf(topic, sizeof topic, "city/alerts/%s", a->device_id);
        rc = store_alert_json(a, body, sizeof body, &len);
        if (!rc && ing_pub_add(pub, topic, body, len, 0) == TK_OK)
            (*npub)++;
        tk_log(TK_LOG_INFO, "alert %lld gauge %s: %s %s %s (%.3f %s)", (long long)a->id,
               a->device_id, store_alert_cond_name(a->cond), store_alert_event_name(a->event),
               store_alert_sev_name(a->severity), a->value, store_alert_unit(a->cond));
    }
    if (!rc && n)
        rc = fast_mode(st, pub, g, now_us, npub);
    return rc;
}

enum tk_rc ing_alerts_reading(struct store *st, struct ing_pub *pub, struct ing_alert_gauge *g,
                              int64_t t_us, double level_m, int64_t now_us, uint64_t *npub)
{
    struct ing_alert_change ch[STORE_ALERT_NCOND];
    int n = ing_alert_level(g, t_us, level_m, now_us, ch);
    return apply(st, pub, g, ch, n, now_us, npub);
}

enum tk_rc ing_alerts_tick(struct store *st, struct ing_pub *pub, struct ing_alert_gauge *g,
                           int64_t now_us, uint64_t *npub)
{
    struct ing_alert_change ch[1];
    int n = ing_alert_tick(g, now_us, ch);
    return apply(st, pub, g, ch, n, now_us, npub);
}
