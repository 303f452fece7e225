/* The alert engine's pure core through every transition: level bands up and down with
 * hysteresis (no flapping at a threshold), escalation inside one alert, clear, peak;
 * rate of rise against the points 1..11 minutes old, clear at half the threshold;
 * silence after N intervals (normal and fast), cleared by a reading; readings older than
 * the newest are stored but change nothing. */
#include <math.h>
#include <string.h>

#include "alert.h"
#include "tk_check.h"

#define S 1000000LL
#define MIN (60 * S)
#define T0 (1790000000LL * S)

static struct store_alert_config config(void)
{
    struct store_alert_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.device_id, "wl-test-01");
    c.caution_m = 1.0;
    c.warning_m = 1.4;
    c.danger_m = 1.7;
    c.rise_m_per_10min = 0.3;
    c.hysteresis_m = 0.05;
    c.silence_intervals = 3;
    c.interval_s = 600;
    c.fast_interval_s = 60;
    return c;
}

static struct ing_alert_change ch[STORE_ALERT_NCOND];

/* Feed a level at minute m (arrival = reading time); returns the number of changes. */
static int feed(struct ing_alert_gauge *g, int m, double level)
{
    return ing_alert_level(g, T0 + m * MIN, level, T0 + m * MIN, ch);
}

static int has(int n, enum store_alert_cond c, unsigned flags)
{
    for (int i = 0; i < n; i++)
        if (ch[i].cond == c && (ch[i].flags & flags) == flags)
            return 1;
    return 0;
}

static void level_bands(void)
{
    struct store_alert_config c = config();
    struct ing_alert_gauge g;
    ing_alert_init(&g, &c, "Kita inlet", 35.6, 139.7);
    const struct store_alert *a = &g.al[STORE_ALERT_LEVEL];

    /* below caution: nothing; flat, so no rise either */
    CHECK_EQ_INT(feed(&g, 0, 0.5), 0);
    CHECK_EQ_INT(feed(&g, 1, 0.5), 0);
    CHECK(!ing_alert_any_active(&g));

    /* raise at caution exactly */
    CHECK_EQ_INT(feed(&g, 20, 1.0), 1);
    CHECK(has(1, STORE_ALERT_LEVEL, ING_AL_NEW | ING_AL_PUBLISH));
    CHECK(a->active && a->severity == STORE_SEV_CAUTION && a->event == STORE_EV_RAISED);
    CHECK(a->rev == 1 && a->start_us == T0 + 20 * MIN && a->threshold == 1.0);
    CHECK_EQ_STR(a->name, "Kita inlet");
    CHECK_EQ_STR(a->device_id, "wl-test-01");

    /* hovering around the caution level within the hysteresis: no change (no flapping) */
    for (int m = 21; m < 40; m++) {
        int n = feed(&g, m, m % 2 ? 0.96 : 1.01);
        CHECK(!has(n, STORE_ALERT_LEVEL, ING_AL_PUBLISH));
    }
    CHECK(a->active && a->rev == 1);
    CHECK(a->peak_value == 1.01);

    /* a new peak is stored, not published */
    int n = feed(&g, 40, 1.2);
    CHECK(has(n, STORE_ALERT_LEVEL, ING_AL_STORE));
    CHECK(!has(n, STORE_ALERT_LEVEL, ING_AL_PUBLISH));
    CHECK(a->peak_value == 1.2 && a->peak_us == T0 + 40 * MIN);

    /* escalate to warning, then straight to danger: the same alert */
    n = feed(&g, 50, 1.4);
    CHECK(has(n, STORE_ALERT_LEVEL, ING_AL_STORE | ING_AL_PUBLISH));
    CHECK(a->severity == STORE_SEV_WARNING && a->event == STORE_EV_ESCALATED && a->rev == 2);
    CHECK(a->threshold == 1.4);
    int64_t id_start = a->start_us;
    feed(&g, 60, 1.8);
    CHECK(a->severity == STORE_SEV_DANGER && a->severity_max == STORE_SEV_DANGER && a->rev == 3);
    CHECK(a->start_us == id_start && a->peak_value == 1.8);

    /* down within the hysteresis of danger: stays danger */
    n = feed(&g, 70, 1.66);
    CHECK(!has(n, STORE_ALERT_LEVEL, ING_AL_PUBLISH));
    CHECK(a->severity == STORE_SEV_DANGER);
    /* below danger - hysteresis: deescalated to warning */
    n = feed(&g, 80, 1.6);
    CHECK(has(n, STORE_ALERT_LEVEL, ING_AL_PUBLISH));
    CHECK(a->severity == STORE_SEV_WARNING && a->event == STORE_EV_DEESCALATED && a->rev == 4);
    /* back up to danger level: escalated again */
    feed(&g, 90, 1.7);
    CHECK(a->severity == STORE_SEV_DANGER && a->rev == 5);
    /* far down in one step: from danger below caution - hysteresis clears at once */
    n = feed(&g, 100, 0.9);
    CHECK(has(n, STORE_ALERT_LEVEL, ING_AL_STORE | ING_AL_PUBLISH));
    CHECK(!a->active && a->event == STORE_EV_CLEARED && a->end_us == T0 + 100 * MIN);
    CHECK(a->severity_max == STORE_SEV_DANGER && a->peak_value == 1.8 && a->rev == 6);
    CHECK(!ing_alert_any_active(&g));

    /* a new crossing is a new alert */
    n = feed(&g, 130, 1.5);
    CHECK(has(n, STORE_ALERT_LEVEL, ING_AL_NEW));
    CHECK(a->active && a->rev == 1 && a->severity == STORE_SEV_WARNING && a->end_us == 0);
    /* hysteresis at warning: 1.36 keeps it, 1.34 leaves it; at caution: 0.96 keeps the
     * alert, 0.949 clears it */
    feed(&g, 140, 1.36);
    CHECK(a->severity == STORE_SEV_WARNING);
    feed(&g, 150, 1.34);
    CHECK(a->severity == STORE_SEV_CAUTION);
    feed(&g, 160, 0.96);
    CHECK(a->active && a->severity == STORE_SEV_CAUTION);
    feed(&g, 170, 0.949);
    CHECK(!a->active);
}

static void deescalate_steps(void)
{
    struct store_alert_config c = config();
    struct ing_alert_gauge g;
    ing_alert_init(&g, &c, "x", 0, 0);
    const struct store_alert *a = &g.al[STORE_ALERT_LEVEL];
    feed(&g, 0, 1.45);
    CHECK(a->severity == STORE_SEV_WARNING);
    feed(&g, 20, 1.36); /* within hysteresis of warning */
    CHECK(a->severity == STORE_SEV_WARNING);
    feed(&g, 40, 1.34); /* below warning - h: caution */
    CHECK(a->severity == STORE_SEV_CAUTION && a->event == STORE_EV_DEESCALATED);
    CHECK(a->threshold == 1.0);
}

static void rise(void)
{
    struct store_alert_config c = config();
    struct ing_alert_gauge g;
    ing_alert_init(&g, &c, "x", 0, 0);
    const struct store_alert *a = &g.al[STORE_ALERT_RISE];
    int have;

    /* one point: no rate yet */
    feed(&g, 0, 0.10);
    ing_alert_rise(&g, T0 + 30 * S, 0.2, &have);
    CHECK(!have); /* the only point is under a minute old */
    double r = ing_alert_rise(&g, T0 + 5 * MIN, 0.2, &have);
    CHECK(have && fabs(r - 0.2) < 1e-9); /* 0.1 m in 5 min = 0.2 m per 10 min */
    ing_alert_rise(&g, T0 + 12 * MIN, 0.2, &have);
    CHECK(!have); /* older than 11 minutes */

    /* a slow rise: 0.02 m a minute = 0.2 per 10 min: below 0.3 */
    for (int m = 1; m <= 10; m++) {
        int n = feed(&g, m, 0.10 + 0.02 * m);
        CHECK(!has(n, STORE_ALERT_RISE, ING_AL_PUBLISH));
    }
    CHECK(!a->active);
    /* a fast rise: +0.1 m in a minute = 1.0 m per 10 min */
    int n = feed(&g, 11, 0.40);
    CHECK(has(n, STORE_ALERT_RISE, ING_AL_NEW | ING_AL_PUBLISH));
    CHECK(a->active && a->severity == STORE_SEV_WARNING && a->threshold == 0.3);
    CHECK(a->value > 0.9 && a->value < 1.1);
    double first = a->peak_value;
    /* still steep: peak grows, not republished */
    n = feed(&g, 12, 0.55);
    CHECK(has(n, STORE_ALERT_RISE, ING_AL_STORE) && !has(n, STORE_ALERT_RISE, ING_AL_PUBLISH));
    CHECK(a->peak_value > first);
    /* levels off: the steepest rise against 1..11-minute-old points stays high for a while
     * (hysteresis on time), then falls under half the threshold and clears */
    int cleared_at = -1;
    for (int m = 13; m < 40 && cleared_at < 0; m++) {
        n = feed(&g, m, 0.55);
        if (has(n, STORE_ALERT_RISE, ING_AL_PUBLISH))
            cleared_at = m;
    }
    CHECK(cleared_at > 13);
    CHECK(!a->active && a->event == STORE_EV_CLEARED && a->value < 0.15);
    CHECK(a->end_us == T0 + cleared_at * MIN);

    /* no flapping: a rise hovering just under and over the threshold (0.25 .. 0.35) keeps
     * one alert, since it clears only under 0.15 */
    struct ing_alert_gauge h;
    ing_alert_init(&h, &c, "x", 0, 0);
    double lv = 0.1;
    int raised = 0, cleared = 0;
    for (int m = 0; m < 60; m++) {
        lv += (m % 2 ? 0.035 : 0.025); /* 0.25 / 0.35 per 10 min alternately */
        n = ing_alert_level(&h, T0 + m * MIN, lv, T0 + m * MIN, ch);
        for (int i = 0; i < n; i++)
            if (ch[i].cond == STORE_ALERT_RISE && (ch[i].flags & ING_AL_PUBLISH))
                h.al[STORE_ALERT_RISE].active ? raised++ : cleared++;
    }
    CHECK_EQ_INT(raised, 1);
    CHECK_EQ_INT(cleared, 0);
}

static void silence(void)
{
    struct store_alert_config c = config();
    struct ing_alert_gauge g;
    ing_alert_init(&g, &c, "x", 0, 0);
    const struct store_alert *s = &g.al[STORE_ALERT_SILENCE];

    /* never reported: never silent */
    CHECK_EQ_INT(ing_alert_tick(&g, T0 + 1000 * MIN, ch), 0);

    feed(&g, 0, 0.3);
    CHECK_EQ_INT(ing_alert_silence_us(&g), 3 * 600 * S);
    CHECK_EQ_INT(ing_alert_tick(&g, T0 + 29 * MIN, ch), 0);
    CHECK_EQ_INT(ing_alert_tick(&g, T0 + 30 * MIN, ch), 1);
    CHECK(ch[0].cond == STORE_ALERT_SILENCE && (ch[0].flags & ING_AL_NEW));
    CHECK(s->active && s->severity == STORE_SEV_CAUTION && s->start_us == T0 + 30 * MIN);
    CHECK(s->threshold == 1800 && s->value == 1800);
    /* once raised, the timer does not raise again */
    CHECK_EQ_INT(ing_alert_tick(&g, T0 + 40 * MIN, ch), 0);
    CHECK(ing_alert_any_active(&g));

    /* a reading clears it, with the silence as its peak */
    int n = feed(&g, 45, 0.3);
    CHECK(has(n, STORE_ALERT_SILENCE, ING_AL_STORE | ING_AL_PUBLISH));
    CHECK(!s->active && s->end_us == T0 + 45 * MIN && s->peak_value == 2700);
    CHECK(s->start_us <= s->peak_us && s->peak_us <= s->updated_us);

    /* fast reporting: once the gauge reported after being told, N fast intervals */
    g.pub.fast = 1;
    g.pub.fast_since_us = T0 + 46 * MIN;
    CHECK_EQ_INT(ing_alert_silence_us(&g), 3 * 600 * S); /* not reported since */
    feed(&g, 47, 0.3);
    CHECK_EQ_INT(ing_alert_silence_us(&g), 3 * 60 * S);
    CHECK_EQ_INT(ing_alert_tick(&g, T0 + 49 * MIN, ch), 0);
    CHECK_EQ_INT(ing_alert_tick(&g, T0 + 50 * MIN, ch), 1);

    /* a late (backlog) reading clears silence: it arrived */
    n = ing_alert_level(&g, T0 + 10 * MIN, 0.3, T0 + 51 * MIN, ch);
    CHECK(has(n, STORE_ALERT_SILENCE, ING_AL_PUBLISH) && !s->active);
}

static void backlog(void)
{
    struct store_alert_config c = config();
    struct ing_alert_gauge g;
    ing_alert_init(&g, &c, "x", 0, 0);
    feed(&g, 100, 0.5);
    /* older readings (resent after an outage), even above danger, change nothing */
    CHECK_EQ_INT(ing_alert_level(&g, T0 + 50 * MIN, 1.9, T0 + 101 * MIN, ch), 0);
    CHECK(!ing_alert_any_active(&g));
    /* the same time again: nothing either */
    CHECK_EQ_INT(ing_alert_level(&g, T0 + 100 * MIN, 1.9, T0 + 101 * MIN, ch), 0);
    /* newer: evaluated */
    CHECK_EQ_INT(ing_alert_level(&g, T0 + 102 * MIN, 1.9, T0 + 102 * MIN, ch), 2); /* level, rise */
}

static void recovery_points(void)
{
    /* points remembered from the store give the rise of the first reading after a restart */
    struct store_alert_config c = config();
    struct ing_alert_gauge g;
    ing_alert_init(&g, &c, "x", 0, 0);
    ing_alert_remember(&g, T0, 0.2);
    ing_alert_remember(&g, T0 + 10 * S, 0.25); /* under 30 s after the last: not kept */
    ing_alert_remember(&g, T0 + 2 * MIN, 0.22);
    CHECK_EQ_INT(g.hn, 2);
    g.last_t_us = T0 + 2 * MIN;
    int n = feed(&g, 3, 0.6);
    CHECK(has(n, STORE_ALERT_RISE, ING_AL_NEW));
    /* the ring keeps the newest ING_ALERT_HIST points */
    for (int i = 0; i < 3 * ING_ALERT_HIST; i++)
        ing_alert_remember(&g, T0 + (10 + i) * MIN, 0.1);
    CHECK_EQ_INT(g.hn, ING_ALERT_HIST);
}

int main(void)
{
    level_bands();
    deescalate_steps();
    rise();
    silence();
    backlog();
    recovery_points();
    return tk_check_result("ingest_alert");
}
