/* The alert engine's pure core. Design note.
 *
 * One alert per condition and gauge. The level alert carries the band as its severity:
 * it is raised at the caution level, goes up a band as soon as the level reaches the
 * band's level, and down a band only once the level is hysteresis below it, so a level
 * hovering at a threshold changes nothing; it clears below caution - hysteresis. The
 * rise alert is raised above the threshold and clears below half of it (the rule the
 * firmware's fast mode uses, so the gauge and the platform agree on "rising fast").
 * Silence is wall-clock time since the last arrival, checked by the writer's timer;
 * any reading clears it. Peaks are kept while active; only raise, band changes and
 * clear are published, so a storm produces a handful of messages per gauge, not one per
 * reading. */
#include <string.h>

#include "alert.h"

static const enum store_alert_sev band_sev[4] = {STORE_SEV_NONE, STORE_SEV_CAUTION,
                                                 STORE_SEV_WARNING, STORE_SEV_DANGER};

static double level_of(const struct store_alert_config *c, int band)
{
    return band == 1 ? c->caution_m : band == 2 ? c->warning_m : c->danger_m;
}

void ing_alert_init(struct ing_alert_gauge *g, const struct store_alert_config *cfg,
                    const char *name, double lat, double lon)
{
    memset(g, 0, sizeof *g);
    g->cfg = *cfg;
    size_t n = strlen(name);
    if (n >= sizeof g->name)
        n = sizeof g->name - 1;
    memcpy(g->name, name, n);
    g->lat = lat;
    g->lon = lon;
}

void ing_alert_remember(struct ing_alert_gauge *g, int64_t t_us, double level_m)
{
    if (g->hn > 0) {
        int64_t newest = g->ht[(g->hpos + ING_ALERT_HIST - 1) % ING_ALERT_HIST];
        if (t_us - newest < ING_ALERT_SPACING_US)
            return;
    }
    g->ht[g->hpos] = t_us;
    g->hv[g->hpos] = level_m;
    g->hpos = (g->hpos + 1) % ING_ALERT_HIST;
    if (g->hn < ING_ALERT_HIST)
        g->hn++;
}

double ing_alert_rise(const struct ing_alert_gauge *g, int64_t t_us, double level_m, int *have)
{
    double best = 0;
    *have = 0;
    for (int i = 0; i < g->hn; i++) {
        int64_t dt = t_us - g->ht[i];
        if (dt < ING_ALERT_RISE_MIN_US || dt > ING_ALERT_RISE_MAX_US)
            continue;
        double r = (level_m - g->hv[i]) * 600e6 / (double)dt;
        if (!*have || r > best)
            best = r;
        *have = 1;
    }
    return best;
}

int64_t ing_alert_silence_us(const struct ing_alert_gauge *g)
{
    int fast = g->pub.fast && g->last_seen_us > g->pub.fast_since_us;
    int64_t iv = fast ? g->cfg.fast_interval_s : g->cfg.interval_s;
    return g->cfg.silence_intervals * iv * 1000000;
}

int ing_alert_any_active(const struct ing_alert_gauge *g)
{
    for (int c = 0; c < STORE_ALERT_NCOND; c++)
        if (g->al[c].active)
            return 1;
    return 0;
}

/* A new alert of condition c at time t. */
static void raise(struct ing_alert_gauge *g, enum store_alert_cond c, enum store_alert_sev sev,
                  double value, double threshold, int64_t t)
{
    struct store_alert *a = &g->al[c];
    memset(a, 0, sizeof *a);
    memcpy(a->device_id, g->cfg.device_id, sizeof a->device_id);
    memcpy(a->name, g->name, sizeof a->name);
    a->lat = g->lat;
    a->lon = g->lon;
    a->cond = c;
    a->active = 1;
    a->event = STORE_EV_RAISED;
    a->severity = a->severity_max = sev;
    a->value = a->peak_value = value;
    a->threshold = threshold;
    a->start_us = a->peak_us = a->updated_us = t;
    a->rev = 1;
}

static void change(struct store_alert *a, enum store_alert_event ev, double value, double threshold,
                   int64_t t)
{
    a->event = ev;
    a->value = value;
    a->threshold = threshold;
    a->updated_us = t;
    a->rev++;
    if (ev == STORE_EV_CLEARED) {
        a->active = 0;
        a->end_us = t;
    }
}

/* Keep the peak; 1 if it moved. */
static int peak(struct store_alert *a, double value, int64_t t)
{
    if (value <= a->peak_value)
        return 0;
    a->peak_value = value;
    a->peak_us = t;
    return 1;
}

static unsigned eval_level(struct ing_alert_gauge *g, int64_t t, double level)
{
    const struct store_alert_config *c = &g->cfg;
    struct store_alert *a = &g->al[STORE_ALERT_LEVEL];
    int up = level >= c->danger_m ? 3 : level >= c->warning_m ? 2 : level >= c->caution_m ? 1 : 0;
    if (!a->active) {
        if (!up)
            return 0;
        raise(g, STORE_ALERT_LEVEL, band_sev[up], level, level_of(c, up), t);
        return ING_AL_NEW | ING_AL_PUBLISH;
    }
    int moved = peak(a, level, t);
    int band = (int)a->severity;
    if (up > band) {
        a->severity = band_sev[up];
        if (a->severity > a->severity_max)
            a->severity_max = a->severity;
        change(a, STORE_EV_ESCALATED, level, level_of(c, up), t);
        return ING_AL_STORE | ING_AL_PUBLISH;
    }
    int down = band;
    while (down >= 1 && level < level_of(c, down) - c->hysteresis_m)
        down--;
    if (down == 0) {
        change(a, STORE_EV_CLEARED, level, c->caution_m, t);
        return ING_AL_STORE | ING_AL_PUBLISH;
    }
    if (down < band) {
        a->severity = band_sev[down];
        change(a, STORE_EV_DEESCALATED, level, level_of(c, down), t);
        return ING_AL_STORE | ING_AL_PUBLISH;
    }
    return moved ? ING_AL_STORE : 0;
}

static unsigned eval_rise(struct ing_alert_gauge *g, int64_t t, double level)
{
    struct store_alert *a = &g->al[STORE_ALERT_RISE];
    double limit = g->cfg.rise_m_per_10min;
    int have;
    double r = ing_alert_rise(g, t, level, &have);
    if (!have)
        return 0;
    if (!a->active) {
        if (r <= limit)
            return 0;
        raise(g, STORE_ALERT_RISE, STORE_SEV_WARNING, r, limit, t);
        return ING_AL_NEW | ING_AL_PUBLISH;
    }
    if (r < limit / 2) {
        change(a, STORE_EV_CLEARED, r, limit, t);
        return ING_AL_STORE | ING_AL_PUBLISH;
    }
    return peak(a, r, t) ? ING_AL_STORE : 0;
}

int ing_alert_level(struct ing_alert_gauge *g, int64_t t_us, double level_m, int64_t now_us,
                    struct ing_alert_change *out)
{
    int n = 0;
    struct store_alert *s = &g->al[STORE_ALERT_SILENCE];
    if (s->active) {
        double silent = (double)(now_us - g->last_seen_us) / 1e6;
        peak(s, silent, now_us);
        change(s, STORE_EV_CLEARED, silent, s->threshold, now_us);
        out[n++] = (struct ing_alert_change){STORE_ALERT_SILENCE, ING_AL_STORE | ING_AL_PUBLISH};
    }
    if (now_us > g->last_seen_us)
        g->last_seen_us = now_us;
    if (t_us <= g->last_t_us)
        return n; /* older than what was evaluated: a backlog describing the past */
    g->last_t_us = t_us;
    unsigned f = eval_level(g, t_us, level_m);
    if (f)
        out[n++] = (struct ing_alert_change){STORE_ALERT_LEVEL, f};
    f = eval_rise(g, t_us, level_m);
    if (f)
        out[n++] = (struct ing_alert_change){STORE_ALERT_RISE, f};
    ing_alert_remember(g, t_us, level_m);
    return n;
}

int ing_alert_tick(struct ing_alert_gauge *g, int64_t now_us, struct ing_alert_change *out)
{
    struct store_alert *s = &g->al[STORE_ALERT_SILENCE];
    if (s->active || g->last_seen_us <= 0)
        return 0; /* a gauge that never reported cannot fall silent */
    int64_t timeout = ing_alert_silence_us(g);
    if (now_us - g->last_seen_us < timeout)
        return 0;
    raise(g, STORE_ALERT_SILENCE, STORE_SEV_CAUTION, (double)(now_us - g->last_seen_us) / 1e6,
          (double)timeout / 1e6, g->last_seen_us + timeout);
    s->updated_us = now_us;
    out[0] = (struct ing_alert_change){STORE_ALERT_SILENCE, ING_AL_NEW | ING_AL_PUBLISH};
    return 1;
}
