/* The alert engine's pure core (docs/alerts.md): per water-level gauge, the level band,
 * rate-of-rise and silence conditions with raise, change and clear under hysteresis.
 * No store, no clock, no broker: the writer feeds it stored level readings and the time,
 * and stores and publishes what it reports (alert_io.c). Unit-tested through every
 * transition in tests/test_alert.c. */
#ifndef ING_ALERT_H
#define ING_ALERT_H

#include <stdint.h>

#include "store.h"

#define ING_ALERT_HIST 32                 /* level points kept for the rise */
#define ING_ALERT_SPACING_US 30000000LL   /* points kept at least 30 s apart */
#define ING_ALERT_RISE_MIN_US 60000000LL  /* the rise is taken against points 1 .. */
#define ING_ALERT_RISE_MAX_US 660000000LL /* .. 11 minutes older than the reading */

struct ing_alert_gauge {
    struct store_alert_config cfg;
    char name[128];
    double lat, lon;
    /* per condition: the current or last alert (active tells which); id 0: none yet */
    struct store_alert al[STORE_ALERT_NCOND];
    /* level points for the rise, oldest first in a ring */
    int64_t ht[ING_ALERT_HIST];
    double hv[ING_ALERT_HIST];
    int hn, hpos;
    int64_t last_t_us;             /* newest reading time evaluated (0: none) */
    int64_t last_seen_us;          /* when the newest reading arrived (0: never) */
    struct store_alert_device pub; /* what the gauge's retained config says */
};

/* What changed in one alert: flags of an ing_alert_change. */
enum {
    ING_AL_NEW = 1u,     /* a new alert: store_alert_add (the writer sets its id) */
    ING_AL_STORE = 2u,   /* store_alert_update (peak, value) */
    ING_AL_PUBLISH = 4u, /* a published change (raised, escalated, deescalated, cleared) */
};

struct ing_alert_change {
    enum store_alert_cond cond;
    unsigned flags;
};

/** Start a gauge: no alerts, no points. cfg, name and position are copied. */
void ing_alert_init(struct ing_alert_gauge *g, const struct store_alert_config *cfg,
                    const char *name, double lat, double lon);

/** Remember a past level point without evaluating it (recovery from the store). */
void ing_alert_remember(struct ing_alert_gauge *g, int64_t t_us, double level_m);

/** The steepest rise per 10 minutes at (t_us, level_m) against the kept points 1 to 11
 *  minutes older; 0 and *have = 0 when there is none. */
double ing_alert_rise(const struct ing_alert_gauge *g, int64_t t_us, double level_m, int *have);

/** A stored level reading: phenomenon time t_us, level in metres, arrival now_us. Clears
 *  a silence alert; evaluates level and rise when t_us is newer than every reading seen
 *  before (an older one describes the past). Fills out[] (room for STORE_ALERT_NCOND)
 *  and returns how many alerts changed. */
int ing_alert_level(struct ing_alert_gauge *g, int64_t t_us, double level_m, int64_t now_us,
                    struct ing_alert_change *out);

/** The silence timer: raises a silence alert once no reading has arrived for
 *  silence_intervals expected intervals. Returns 0 or 1 changes in out[0]. */
int ing_alert_tick(struct ing_alert_gauge *g, int64_t now_us, struct ing_alert_change *out);

/** The silence timeout now, microseconds: silence_intervals times the expected interval
 *  (the fast one once the gauge has reported since it was told to report fast). */
int64_t ing_alert_silence_us(const struct ing_alert_gauge *g);

/** 1 if any alert of the gauge is active. */
int ing_alert_any_active(const struct ing_alert_gauge *g);

#endif
