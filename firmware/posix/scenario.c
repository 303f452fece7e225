#include "scenario.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next(struct scenario *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static double uniform(struct scenario *s)
{
    return (double)(next(s) >> 11) / 9007199254740992.0;
}

int scenario_parse(const char *name, enum scen_kind *k)
{
    if (strcmp(name, "calm") == 0)
        *k = SCEN_CALM;
    else if (strcmp(name, "storm") == 0)
        *k = SCEN_STORM;
    else if (strcmp(name, "spiky") == 0)
        *k = SCEN_SPIKY;
    else
        return -1;
    return 0;
}

void scenario_init(struct scenario *s, enum scen_kind k, double speed, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->kind = k;
    s->speed = speed > 0 ? speed : 1;
    s->rng = seed ? seed : 88172645463325252ULL;
    s->offset_s = 0;
    s->storm_at_s = 60;
    s->rise_mm_per_min = 200;
    s->mount_height_mm = 3200;
    s->t0 = now_s();
    s->last_count_t = s->last_wifi_t = s->t0;
}

static double scen_time(const struct scenario *s)
{
    return (now_s() - s->t0) * s->speed + s->offset_s;
}

double scenario_level_mm(struct scenario *s)
{
    double t = scen_time(s), lv = 300.0 + 3.0 * sin(t / 300.0);
    if (s->kind == SCEN_STORM && t > s->storm_at_s) {
        double up = (t - s->storm_at_s) / 60.0 * s->rise_mm_per_min;
        double peak = 2500.0 - 300.0;
        double rise_s = peak / s->rise_mm_per_min * 60.0, plateau_s = 600.0;
        double after = t - s->storm_at_s - rise_s - plateau_s;
        if (up > peak)
            up = peak;
        if (after > 0)
            up = fmax(0.0, peak - after / 60.0 * 20.0); /* recedes 20 mm/min */
        lv += up;
    }
    return lv;
}

static int32_t noisy(struct scenario *s, double v, double noise)
{
    return (int32_t)lround(v + (uniform(s) - 0.5) * 2.0 * noise);
}

enum fw_rc scenario_read(struct scenario *s, enum fw_channel ch, void *out, size_t size)
{
    int32_t v;
    if (ch == FW_CH_WIFI_EVENT) {
        if (size != sizeof(struct fw_wifi_event))
            return FW_EINVAL;
        /* about 20 frames per second of scenario time */
        double t = now_s();
        if ((t - s->last_wifi_t) * s->speed < 0.05)
            return FW_ENOENT;
        s->last_wifi_t = t;
        struct fw_wifi_event ev;
        memset(&ev, 0, sizeof ev);
        uint64_t r = next(s);
        if (r % 4 == 0) {
            /* a phone probing with a randomised MAC: fresh every time */
            uint64_t m = next(s);
            for (int i = 0; i < 6; i++)
                ev.mac[i] = (uint8_t)(m >> (8 * i));
            ev.mac[0] = (uint8_t)((ev.mac[0] | 0x02) & 0xfe);
        } else {
            /* one of 300 fixed devices, a third of them associated */
            unsigned who = (unsigned)(next(s) % 300);
            ev.mac[0] = 0x00;
            ev.mac[1] = 0x1b;
            ev.mac[2] = 0x63;
            ev.mac[3] = (uint8_t)(who >> 8);
            ev.mac[4] = (uint8_t)who;
            ev.mac[5] = 0x42;
            ev.associated = who % 3 == 0;
        }
        memcpy(out, &ev, sizeof ev);
        return FW_OK;
    }
    if (size != sizeof v)
        return FW_EINVAL;
    double level = scenario_level_mm(s);
    int spike_pct = s->kind == SCEN_SPIKY ? 20 : 2;
    int spike = (int)(next(s) % 100) < spike_pct;
    switch (ch) {
    case FW_CH_DISTANCE_MM:
        v = spike ? (int32_t)(next(s) % 3000) : noisy(s, s->mount_height_mm - level, 3);
        break;
    case FW_CH_PRESSURE_PA:
        v = spike ? 0 : noisy(s, level * 9.80665, 20);
        break;
    case FW_CH_BATTERY_MV:
        v = noisy(s, 3650 - scen_time(s) / 3600.0, 5);
        break;
    case FW_CH_RSSI_DBM:
        v = noisy(s, -85, 6);
        break;
    case FW_CH_TEMP_CC:
        v = noisy(s, 1450, 20);
        break;
    case FW_CH_COUNT_IN:
    case FW_CH_COUNT_OUT: {
        double t = now_s();
        double dt = (t - s->last_count_t) * s->speed;
        if (dt > 1) {
            s->count_in += (uint32_t)(dt * 0.3 * uniform(s) * 2);
            s->count_out += (uint32_t)(dt * 0.28 * uniform(s) * 2);
            s->last_count_t = t;
        }
        v = (int32_t)(ch == FW_CH_COUNT_IN ? s->count_in : s->count_out);
        break;
    }
    case FW_CH_WIFI_ASSOC:
        v = 40 + (int32_t)(next(s) % 30);
        break;
    default:
        return FW_EINVAL;
    }
    memcpy(out, &v, sizeof v);
    return FW_OK;
}
