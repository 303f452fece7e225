/* takumi-fw: the device firmware as a Linux process (like RIOT's native board).
 *
 *   takumi-fw --id ID --kind KIND --user U --password P --state-dir DIR [options]
 *   takumi-fw --fleet N --prefix P --kind KIND --user GW --password GWPASS --state-dir DIR
 *
 * One device speaks MQTT with its own identity; a fleet runs N devices (ids P-00000 ..)
 * over one connection under a gateway identity. Prints "fw <id>: stats ..." lines and,
 * at exit, one JSON line of totals on stdout. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pdevice.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: takumi-fw --kind water_level|people_flow|wifi_ap --user U --password P\n"
            "  --state-dir DIR (--id ID | --fleet N --prefix P) [--host H] [--port N]\n"
            "  [--scenario calm|storm|spiky] [--speed X] [--storm-at-s S] [--rise-mm-per-min R]\n"
            "  [--sample-ms N] [--interval-ms N] [--fast-interval-ms N] [--ack-timeout-ms N]\n"
            "  [--ring-slots N] [--mount-height-mm N] [--sensor ultrasonic|pressure]\n"
            "  [--count N] [--exit-when-drained] [--duration-s N] [--wdt-ms N] [-v]\n");
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

static int parse_kind(const char *s, enum fw_kind *k)
{
    for (int i = 0; i <= FW_KIND_WIFI_AP; i++)
        if (strcmp(s, fw_kind_name((enum fw_kind)i)) == 0) {
            *k = (enum fw_kind)i;
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    struct pdevice_opts o;
    memset(&o, 0, sizeof o);
    fw_dev_default_opts(&o.dev, "unset", FW_KIND_WATER_LEVEL);
    o.dev.ring_slots = 256;
    o.dev.slot_size = 256;
    o.dev.backoff_base_ms = 500;
    o.dev.backoff_cap_ms = 10000;
    o.dev.connect_timeout_ms = 15000;
    o.dev.max_batch = 32;
    fw_wl_default_opts(&o.wl);
    o.wl.mount_height_mm = 3200;
    o.speed = 1;
    o.storm_at_s = 60;
    o.rise_mm_per_min = 200;
    o.scen = SCEN_CALM;
    const char *host = "127.0.0.1", *user = NULL, *password = NULL, *id = NULL;
    const char *prefix = "sim";
    enum fw_kind kind = FW_KIND_WATER_LEVEL;
    long long port = 1883, fleet = 0, count = 0, duration_s = 0, wdt_ms = 60000, v;
    int drained_exit = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v")) {
            o.verbose++;
            continue;
        }
        if (!strcmp(a, "--exit-when-drained")) {
            drained_exit = 1;
            continue;
        }
        if (!val)
            return usage();
        i++;
        if (!strcmp(a, "--host")) host = val;
        else if (!strcmp(a, "--port") && !num(val, 1, 65535, &port)) {}
        else if (!strcmp(a, "--user")) user = val;
        else if (!strcmp(a, "--password")) password = val;
        else if (!strcmp(a, "--id")) id = val;
        else if (!strcmp(a, "--prefix")) prefix = val;
        else if (!strcmp(a, "--state-dir")) o.state_dir = val;
        else if (!strcmp(a, "--kind") && !parse_kind(val, &kind)) {}
        else if (!strcmp(a, "--scenario") && !scenario_parse(val, &o.scen)) {}
        else if (!strcmp(a, "--speed") && !num(val, 1, 100000, &v)) o.speed = (double)v;
        else if (!strcmp(a, "--storm-at-s") && !num(val, 0, 1000000, &v)) o.storm_at_s = (double)v;
        else if (!strcmp(a, "--rise-mm-per-min") && !num(val, 1, 100000, &v)) o.rise_mm_per_min = (double)v;
        else if (!strcmp(a, "--sample-ms") && !num(val, 10, 3600000, &v)) o.dev.defaults.sample_ms = (uint32_t)v;
        else if (!strcmp(a, "--interval-ms") && !num(val, 10, 86400000, &v)) o.dev.defaults.interval_ms = (uint32_t)v;
        else if (!strcmp(a, "--fast-interval-ms") && !num(val, 10, 3600000, &v)) o.dev.defaults.fast_interval_ms = (uint32_t)v;
        else if (!strcmp(a, "--ack-timeout-ms") && !num(val, 10, 3600000, &v)) o.dev.ack_timeout_ms = (uint32_t)v;
        else if (!strcmp(a, "--ring-slots") && !num(val, 2, 65536, &v)) o.dev.ring_slots = (uint32_t)v;
        else if (!strcmp(a, "--mount-height-mm") && !num(val, 0, 100000, &v)) o.wl.mount_height_mm = (int32_t)v;
        else if (!strcmp(a, "--sensor") && !strcmp(val, "pressure")) o.wl.sensor = FW_WL_PRESSURE;
        else if (!strcmp(a, "--sensor") && !strcmp(val, "ultrasonic")) o.wl.sensor = FW_WL_ULTRASONIC;
        else if (!strcmp(a, "--fleet") && !num(val, 1, 100000, &fleet)) {}
        else if (!strcmp(a, "--count") && !num(val, 1, 100000000, &count)) {}
        else if (!strcmp(a, "--duration-s") && !num(val, 1, 100000000, &duration_s)) {}
        else if (!strcmp(a, "--wdt-ms") && !num(val, 100, 3600000, &wdt_ms)) {}
        else return usage();
    }
    if (!user || !password || !o.state_dir || (!id && !fleet) || (id && fleet))
        return usage();
    if (o.dev.defaults.fast_interval_ms > o.dev.defaults.interval_ms)
        o.dev.defaults.fast_interval_ms = o.dev.defaults.interval_ms;
    if (mkdir(o.state_dir, 0700) != 0 && errno != EEXIST) {
        perror(o.state_dir);
        return 1;
    }
    size_t n = fleet ? (size_t)fleet : 1;
    struct pdevice *devs = calloc(n, sizeof *devs);
    struct pdev_net **nets = calloc(n, sizeof *nets);
    if (!devs || !nets)
        return 1;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < n; i++) {
        char did[64];
        if (fleet)
            snprintf(did, sizeof did, "%s-%05zu", prefix, i);
        else
            snprintf(did, sizeof did, "%s", id);
        if (!fw_id_valid(did)) {
            fprintf(stderr, "takumi-fw: invalid device id '%s'\n", did);
            return 2;
        }
        if (pdevice_init(&devs[i], &o, did, kind, seed + i * 7919) != 0)
            return 1;
        nets[i] = &devs[i].net;
    }

    /* the will: a single device's status goes offline when it vanishes */
    char will[128] = "", cid[128];
    struct fw_status off = {0, o.dev.fw_version, -1, 1, 0, 0, 0};
    size_t wl;
    if (fw_status_encode(&off, will, sizeof will, &wl) != FW_OK)
        return 1;
    snprintf(cid, sizeof cid, fleet ? "fleet-%s-%d" : "%s", fleet ? user : id, (int)getpid());
    if (!fleet)
        snprintf(cid, sizeof cid, "%s", id);
    struct link_opts lo = {host, (int)port, user, password, cid, 30,
                           fleet ? NULL : devs[0].net.t_status, fleet ? NULL : will};
    struct link *link = link_create(&lo, nets, n);
    if (!link)
        return 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    time_t last_stats = 0;
    int rc = 0;
    while (!stop) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int all_drained = 1;
        for (size_t i = 0; i < n; i++) {
            struct pdevice *p = &devs[i];
            int record = !count || p->dev.st.recorded < (uint32_t)count;
            pdevice_tick(p, record);
            if (record || fw_ring_count(&p->dev.ring) != 0)
                all_drained = 0;
            /* the software watchdog: a real one would reset the board */
            if (fw_diff32(p->dev.now, p->last_kick) > (int32_t)wdt_ms) {
                fprintf(stderr, "fw %s: watchdog reset\n", p->id);
                stop = 1;
                rc = 3;
            }
        }
        if (!fleet && (now.tv_sec != last_stats || (drained_exit && all_drained))) {
            last_stats = now.tv_sec;
            struct fw_dev *d = &devs[0].dev;
            fprintf(stderr,
                    "fw %s: stats recorded=%" PRIu32 " head=%" PRIu32 " tail=%" PRIu32
                    " buffered=%" PRIu32 " dropped=%" PRIu32 " acked=%" PRIu32 " connects=%" PRIu32
                    " resends=%" PRIu32 " fast=%d phase=%d\n",
                    devs[0].id, d->st.recorded, d->ring.head, d->ring.tail, fw_ring_count(&d->ring),
                    d->ring.dropped, d->acked, d->st.connects, d->st.resends, d->fast, (int)d->phase);
        }
        if (drained_exit && all_drained)
            break;
        if (duration_s && now.tv_sec - t0.tv_sec >= duration_s)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }

    unsigned long long recorded = 0, buffered = 0, dropped = 0, sent = 0, resends = 0;
    for (size_t i = 0; i < n; i++) {
        recorded += devs[i].dev.st.recorded;
        buffered += fw_ring_count(&devs[i].dev.ring);
        dropped += devs[i].dev.ring.dropped;
        sent += devs[i].dev.st.sent_readings;
        resends += devs[i].dev.st.resends;
    }
    link_shutdown(link, fleet ? NULL : devs[0].net.t_status, will, 2000);
    printf("{\"devices\":%zu,\"recorded\":%llu,\"buffered\":%llu,\"dropped\":%llu,\"sent\":%llu,"
           "\"resends\":%llu}\n",
           n, recorded, buffered, dropped, sent, resends);
    fflush(stdout);
    link_destroy(link);
    for (size_t i = 0; i < n; i++)
        pdevice_close(&devs[i]);
    free(devs);
    free(nets);
    return rc;
}
