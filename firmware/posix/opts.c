#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: takumi-device --kind water_level|people_flow|wifi_ap --user U\n"
            "  (--password P | --password-file FILE)\n"
            "  --state-dir DIR (--id ID | --fleet N --prefix P | --devices FILE)\n"
            "  [--host H] [--port N] [--mqtt-tls-ca FILE] [--connections K]\n"
            "  [--scenario dry|rain-storm|festival|quiet-night|spiky] [--time-scale X]\n"
            "  [--utc-start-s EPOCH] [--storm-at-s S] [--rise-mm-per-min R]\n"
            "  [--sample-ms N] [--interval-ms N] [--fast-interval-ms N] (simulated time)\n"
            "  [--ack-timeout-ms N] (real time) [--ring-slots N] [--mount-height-mm N]\n"
            "  [--sensor ultrasonic|pressure] [--macs FILE] [--count N] [--exit-when-drained]\n"
            "  [--duration-s N] [--stats-ms N] [--wdt-ms N] [-v]\n"
            "  or, through the CoAP field gateway (one device, no MQTT user):\n"
            "  --transport coap --id ID --psk-file F [--coap-host H] [--coap-port 5684]\n"
            "  [--ack-poll-ms 1000] (real time)\n"
            "devices file: one device a line, \"KIND ID [MOUNT_HEIGHT_MM]\", '#' comments\n"
            "SIGUSR1: stop recording, exit when every reading is acknowledged\n");
    return 2;
}

static int num(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int real(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_kind(const char *s, enum fw_kind *k)
{
    for (int i = 0; i <= FW_KIND_WIFI_AP; i++)
        if (strcmp(s, fw_kind_name((enum fw_kind)i)) == 0) {
            *k = (enum fw_kind)i;
            return 0;
        }
    return -1;
}

static void defaults(struct fw_opts *o)
{
    memset(o, 0, sizeof *o);
    struct pdevice_opts *pd = &o->pd;
    fw_dev_default_opts(&pd->dev, "unset", FW_KIND_WATER_LEVEL);
    pd->dev.ring_slots = 0; /* 256 for one device, 64 in a fleet (see fw_opts_parse) */
    pd->dev.slot_size = 256;
    pd->dev.backoff_base_ms = 500;
    pd->dev.backoff_cap_ms = 10000;
    pd->dev.connect_timeout_ms = 15000;
    pd->dev.max_batch = 32;
    fw_wl_default_opts(&pd->wl);
    pd->wl.mount_height_mm = 3200;
    pd->scen = SCEN_DRY;
    o->host = "127.0.0.1";
    o->prefix = "sim";
    o->kind = FW_KIND_WATER_LEVEL;
    o->port = 1883;
    o->wdt_ms = 60000;
    o->connections = 1;
    o->time_scale = 1;
    o->coap_port = 5684;
    o->ack_poll_ms = 1000;
}

int fw_opts_parse(int argc, char **argv, struct fw_opts *o)
{
    defaults(o);
    struct pdevice_opts *pd = &o->pd;
    struct fw_config *c = &pd->dev.defaults;
    long long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v")) {
            pd->verbose++;
            continue;
        }
        if (!strcmp(a, "--exit-when-drained")) {
            o->drained_exit = 1;
            continue;
        }
        if (!val)
            return usage();
        i++;
        if (!strcmp(a, "--host")) o->host = val;
        else if (!strcmp(a, "--port") && !num(val, 1, 65535, &o->port)) {}
        else if (!strcmp(a, "--mqtt-tls-ca")) o->tls_ca = val;
        else if (!strcmp(a, "--user")) o->user = val;
        else if (!strcmp(a, "--password")) o->password = val;
        else if (!strcmp(a, "--password-file")) o->password_file = val;
        else if (!strcmp(a, "--id")) o->id = val;
        else if (!strcmp(a, "--transport") && (!strcmp(val, "coap") || !strcmp(val, "mqtt"))) o->coap = !strcmp(val, "coap");
        else if (!strcmp(a, "--coap-host")) o->coap_host = val;
        else if (!strcmp(a, "--coap-port") && !num(val, 1, 65535, &o->coap_port)) {}
        else if (!strcmp(a, "--psk-file")) o->psk_file = val;
        else if (!strcmp(a, "--ack-poll-ms") && !num(val, 10, 3600000, &o->ack_poll_ms)) {}
        else if (!strcmp(a, "--prefix")) o->prefix = val;
        else if (!strcmp(a, "--devices")) o->devices_file = val;
        else if (!strcmp(a, "--macs")) o->macs_file = val;
        else if (!strcmp(a, "--state-dir")) pd->state_dir = val;
        else if (!strcmp(a, "--kind") && !parse_kind(val, &o->kind)) {}
        else if (!strcmp(a, "--scenario") && !scenario_parse(val, &pd->scen)) {}
        else if ((!strcmp(a, "--time-scale") || !strcmp(a, "--speed")) &&
                 !real(val, 0.01, 10000, &o->time_scale)) {}
        else if (!strcmp(a, "--utc-start-s") && !num(val, 1, 32503680000LL, &o->utc_start_s)) {}
        else if (!strcmp(a, "--storm-at-s") && !num(val, 0, 100000000, &v)) pd->storm_at_s = (double)v;
        else if (!strcmp(a, "--rise-mm-per-min") && !num(val, 1, 100000, &v)) pd->peak_rise_mm_per_min = (double)v;
        else if (!strcmp(a, "--sample-ms") && !num(val, 10, 3600000, &v)) c->sample_ms = (uint32_t)v;
        else if (!strcmp(a, "--interval-ms") && !num(val, 10, 86400000, &v)) c->interval_ms = (uint32_t)v;
        else if (!strcmp(a, "--fast-interval-ms") && !num(val, 10, 3600000, &v)) c->fast_interval_ms = (uint32_t)v;
        else if (!strcmp(a, "--ack-timeout-ms") && !num(val, 10, 3600000, &v)) pd->dev.ack_timeout_ms = (uint32_t)v;
        else if (!strcmp(a, "--ring-slots") && !num(val, 2, 65536, &v) && !(v & (v - 1))) pd->dev.ring_slots = (uint32_t)v;
        else if (!strcmp(a, "--mount-height-mm") && !num(val, 0, 100000, &v)) pd->wl.mount_height_mm = (int32_t)v;
        else if (!strcmp(a, "--sensor") && !strcmp(val, "pressure")) pd->wl.sensor = FW_WL_PRESSURE;
        else if (!strcmp(a, "--sensor") && !strcmp(val, "ultrasonic")) pd->wl.sensor = FW_WL_ULTRASONIC;
        else if (!strcmp(a, "--fleet") && !num(val, 1, 100000, &o->fleet)) {}
        else if (!strcmp(a, "--connections") && !num(val, 1, 64, &o->connections)) {}
        else if (!strcmp(a, "--count") && !num(val, 1, 100000000, &o->count)) {}
        else if (!strcmp(a, "--duration-s") && !num(val, 1, 100000000, &o->duration_s)) {}
        else if (!strcmp(a, "--stats-ms") && !num(val, 100, 3600000, &o->stats_ms)) {}
        else if (!strcmp(a, "--wdt-ms") && !num(val, 100, 3600000, &o->wdt_ms)) {}
        else return usage();
    }
    int sources = (o->id != NULL) + (o->fleet != 0) + (o->devices_file != NULL);
    if (o->password_file && !o->password) { /* kept out of argv, where ps shows it */
        char *pw = fw_read_text(o->password_file, 256);
        if (!pw)
            return usage();
        pw[strcspn(pw, "\r\n")] = '\0';
        snprintf(o->password_buf, sizeof o->password_buf, "%s", pw);
        free(pw);
        o->password = o->password_buf;
    }
    if (o->coap) {
        if (!o->id || !o->psk_file || !pd->state_dir || sources != 1) {
            fprintf(stderr, "takumi-device: --transport coap needs --id, --psk-file and "
                            "--state-dir (one device)\n");
            return usage();
        }
    } else if (!o->user || !o->password || !pd->state_dir || sources != 1) {
        return usage();
    }
    if (!pd->dev.ring_slots)
        pd->dev.ring_slots = o->id ? 256 : 64;
    if (c->fast_interval_ms > c->interval_ms)
        c->fast_interval_ms = c->interval_ms;
    return 0;
}

char *fw_read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!buf || err || n > max) {
        fprintf(stderr, "takumi-device: cannot read %s (larger than %zu bytes?)\n", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int add(struct devspec **v, size_t *n, size_t *cap, const char *id, enum fw_kind kind,
               int32_t mount)
{
    if (!fw_id_valid(id)) {
        fprintf(stderr, "takumi-device: invalid device id '%.60s'\n", id);
        return -1;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct devspec *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    struct devspec *d = &(*v)[(*n)++];
    snprintf(d->id, sizeof d->id, "%s", id);
    d->kind = kind;
    d->mount_height_mm = mount;
    return 0;
}

static int from_file(const char *path, struct devspec **v, size_t *n, size_t *cap)
{
    char *text = fw_read_text(path, (size_t)16 << 20);
    if (!text)
        return -1;
    int rc = 0, ln = 0;
    for (char *line = text, *next; line && *line && !rc; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        ln++;
        char kind_s[24], id[64];
        long long mount = 0;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        int got = sscanf(line, "%23s %63s %lld", kind_s, id, &mount);
        if (got <= 0)
            continue; /* blank */
        enum fw_kind kind;
        if (got < 2 || parse_kind(kind_s, &kind) != 0 || mount < 0 || mount > 100000) {
            fprintf(stderr, "takumi-device: %s:%d: want \"KIND ID [MOUNT_HEIGHT_MM]\"\n", path, ln);
            rc = -1;
        } else {
            rc = add(v, n, cap, id, kind, (int32_t)mount);
        }
    }
    free(text);
    return rc;
}

int fw_devlist(const struct fw_opts *o, struct devspec **out, size_t *n)
{
    struct devspec *v = NULL;
    size_t cap = 0;
    int rc = 0;
    *n = 0;
    if (o->id) {
        rc = add(&v, n, &cap, o->id, o->kind, 0);
    } else if (o->fleet) {
        for (long long i = 0; i < o->fleet && !rc; i++) {
            char id[64];
            snprintf(id, sizeof id, "%s-%05lld", o->prefix, i);
            rc = add(&v, n, &cap, id, o->kind, 0);
        }
    } else {
        rc = from_file(o->devices_file, &v, n, &cap);
        if (!rc && *n == 0) {
            fprintf(stderr, "takumi-device: no devices in %s\n", o->devices_file);
            rc = -1;
        }
    }
    if (rc) {
        free(v);
        return -1;
    }
    *out = v;
    return 0;
}
