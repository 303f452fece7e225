#include "scenario.h"

#include <math.h>
#include <string.h>

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

static const struct {
    const char *name;
    enum scen_kind kind;
} names[] = {
    {"dry", SCEN_DRY},           {"rain-storm", SCEN_RAIN_STORM}, {"festival", SCEN_FESTIVAL},
    {"quiet-night", SCEN_QUIET_NIGHT}, {"spiky", SCEN_SPIKY},
    {"calm", SCEN_DRY},          {"storm", SCEN_RAIN_STORM}, /* older names */
};

int scenario_parse(const char *name, enum scen_kind *k)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *k = names[i].kind;
            return 0;
        }
    return -1;
}

const char *scenario_name(enum scen_kind k)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].kind == k)
            return names[i].name;
    return "?";
}

void scenario_init(struct scenario *s, enum scen_kind k, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->kind = k;
    s->rng = seed ? seed : 88172645463325252ULL;
    for (int i = 0; i < 4; i++)
        (void)next(s);
    s->storm_at_s = 60;
    s->peak_rise_mm_per_min = 150;
    s->mount_height_mm = 3200;
    /* gauges along a river and its sewers do not move in lockstep */
    s->offset_s = uniform(s) * 600.0;
    s->fill_share = 0.85 + 0.15 * uniform(s);
    s->base_mm = 120.0 + 180.0 * uniform(s);
}

static double logistic(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

double scenario_level_mm(const struct scenario *s, double t_s)
{
    double lv = s->base_mm + 3.0 * sin(t_s / 300.0);
    if (s->kind == SCEN_RAIN_STORM) {
        /* rise of H with steepest slope H / (4 w): w from the peak rate */
        double h = 2300.0 * s->fill_share, rate = s->peak_rise_mm_per_min / 60.0;
        double w = h / (4.0 * (rate > 0.1 ? rate : 0.1));
        double rise_mid = s->storm_at_s + s->offset_s + 6.0 * w;
        double fall_mid = rise_mid + 3600.0; /* an hour of high water, then a slow fall */
        lv += h * logistic((t_s - rise_mid) / w) * (1.0 - logistic((t_s - fall_mid) / 900.0));
    }
    return lv;
}

static int32_t noisy(struct scenario *s, double v, double noise)
{
    return (int32_t)lround(v + (uniform(s) - 0.5) * 2.0 * noise);
}

/* People per simulated second entering (leaving is a little less) at t_s. */
static double crowd_rate(const struct scenario *s, double t_s)
{
    switch (s->kind) {
    case SCEN_FESTIVAL: {
        double ramp = t_s / 600.0;
        return 0.3 * (1.0 + 7.0 * (ramp > 1.0 ? 1.0 : ramp));
    }
    case SCEN_RAIN_STORM:
        return 0.12;
    case SCEN_QUIET_NIGHT:
        return 0.01;
    default:
        return 0.3;
    }
}

/* Fixed Wi-Fi devices around (the festival's grows with the crowd). */
static unsigned wifi_population(const struct scenario *s, double t_s)
{
    switch (s->kind) {
    case SCEN_FESTIVAL: {
        double ramp = t_s / 600.0;
        return 300u + (unsigned)(1200.0 * (ramp > 1.0 ? 1.0 : ramp));
    }
    case SCEN_RAIN_STORM:
        return 150;
    case SCEN_QUIET_NIGHT:
        return 30;
    default:
        return 300;
    }
}

static enum fw_rc wifi_event(struct scenario *s, double t_s, struct fw_wifi_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (s->macs) { /* the whole list once per simulated second */
        if (s->nmacs == 0)
            return FW_ENOENT;
        double step = 1.0 / (double)s->nmacs;
        if (t_s - s->last_wifi_t > 2.0)
            s->last_wifi_t = t_s - 1.0; /* fell behind: no flood */
        if (t_s - s->last_wifi_t < step)
            return FW_ENOENT;
        s->last_wifi_t += step;
        const struct scen_mac *m = &s->macs[s->mac_pos++ % s->nmacs];
        memcpy(ev->mac, m->mac, 6);
        ev->associated = m->associated;
        return FW_OK;
    }
    unsigned pop = wifi_population(s, t_s);
    /* each device is heard about 4 times a minute; phones add random probes */
    double step = 15.0 / (double)pop;
    if (t_s - s->last_wifi_t > 2.0)
        s->last_wifi_t = t_s - 1.0;
    if (t_s - s->last_wifi_t < step)
        return FW_ENOENT;
    s->last_wifi_t += step;
    if (next(s) % 4 == 0) {
        /* a phone probing with a randomised MAC: fresh every time */
        uint64_t m = next(s);
        for (int i = 0; i < 6; i++)
            ev->mac[i] = (uint8_t)(m >> (8 * i));
        ev->mac[0] = (uint8_t)((ev->mac[0] | 0x02) & 0xfe);
    } else {
        unsigned who = (unsigned)(next(s) % pop);
        ev->mac[0] = 0x00;
        ev->mac[1] = 0x1b;
        ev->mac[2] = 0x63;
        ev->mac[3] = (uint8_t)(who >> 8);
        ev->mac[4] = (uint8_t)who;
        ev->mac[5] = 0x42;
        ev->associated = who % 3 == 0;
    }
    return FW_OK;
}

enum fw_rc scenario_read(struct scenario *s, double t_s, enum fw_channel ch, void *out,
                         size_t size)
{
    int32_t v;
    if (ch == FW_CH_WIFI_EVENT) {
        if (size != sizeof(struct fw_wifi_event))
            return FW_EINVAL;
        struct fw_wifi_event ev;
        enum fw_rc rc = wifi_event(s, t_s, &ev);
        if (rc == FW_OK)
            memcpy(out, &ev, sizeof ev);
        return rc;
    }
    if (size != sizeof v)
        return FW_EINVAL;
    double level = scenario_level_mm(s, t_s);
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
        v = noisy(s, 3650 - t_s / 3600.0, 5);
        break;
    case FW_CH_RSSI_DBM:
        v = noisy(s, s->kind == SCEN_RAIN_STORM ? -97 : -85, 6);
        break;
    case FW_CH_TEMP_CC:
        v = noisy(s, 1450, 20);
        break;
    case FW_CH_COUNT_IN:
    case FW_CH_COUNT_OUT: {
        /* arrivals second by second (a day at most per read): counts vary as crowds do,
         * not by one coin toss per interval */
        if (t_s - s->last_count_t > 86400)
            s->last_count_t = t_s - 86400;
        double in = s->frac_in, out_n = s->frac_out;
        while (t_s - s->last_count_t >= 1.0) {
            double r = crowd_rate(s, s->last_count_t);
            in += r * uniform(s) * 2;
            out_n += r * 0.93 * uniform(s) * 2;
            s->last_count_t += 1.0;
        }
        s->count_in += (uint32_t)floor(in);
        s->count_out += (uint32_t)floor(out_n);
        s->frac_in = in - floor(in);
        s->frac_out = out_n - floor(out_n);
        v = (int32_t)(ch == FW_CH_COUNT_IN ? s->count_in : s->count_out);
        break;
    }
    case FW_CH_WIFI_ASSOC: {
        if (s->macs) {
            v = 0;
            for (size_t i = 0; i < s->nmacs; i++)
                v += s->macs[i].associated;
        } else {
            unsigned pop = wifi_population(s, t_s);
            v = (int32_t)(pop / 3u) - 10 + (int32_t)(next(s) % 20);
            if (v < 0)
                v = 0;
        }
        break;
    }
    default:
        return FW_EINVAL;
    }
    memcpy(out, &v, sizeof v);
    return FW_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int scenario_parse_macs(const char *text, struct scen_mac *out, size_t cap, int *line)
{
    size_t n = 0;
    int ln = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        ln++;
        size_t i = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
            i++;
        if (i < len && p[i] != '#') {
            struct scen_mac m;
            memset(&m, 0, sizeof m);
            for (int b = 0; b < 6; b++) {
                int hi = i < len ? hexval(p[i]) : -1, lo = i + 1 < len ? hexval(p[i + 1]) : -1;
                if (hi < 0 || lo < 0)
                    goto bad;
                m.mac[b] = (uint8_t)(hi * 16 + lo);
                i += 2;
                if (b < 5 && i < len && (p[i] == ':' || p[i] == '-'))
                    i++;
            }
            while (i < len && (p[i] == ' ' || p[i] == '\t'))
                i++;
            if (len - i >= 5 && strncmp(p + i, "assoc", 5) == 0)
                m.associated = 1;
            else if (!(len - i >= 5 && strncmp(p + i, "probe", 5) == 0))
                goto bad;
            if (n < cap)
                out[n] = m;
            n++;
        }
        p += len + (e ? 1 : 0);
    }
    if (n > cap) {
        *line = ln;
        return -1;
    }
    return (int)n;
bad:
    *line = ln;
    return -1;
}
