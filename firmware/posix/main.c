/* takumi-device: the device firmware as a Linux process (like RIOT's native board).
 *
 *   takumi-device --id ID --kind KIND --user U --password P --state-dir DIR [options]
 *   takumi-device --fleet N --prefix P --kind KIND --user GW --password GWPASS --state-dir DIR
 *   takumi-device --devices FILE --user GW --password GWPASS --state-dir DIR
 *   takumi-device --transport coap --id ID --psk-file F --coap-port N --state-dir DIR
 *
 * One device speaks MQTT with its own identity (and its will); a fleet runs thousands of
 * devices over one or a few connections under a gateway identity, their storage in one
 * file with a group commit per loop turn. With --transport coap one device reports
 * through the CoAP field gateway over DTLS-PSK instead (coap_link.h). Flags: opts.c. Prints "fw <id>: stats ..." lines
 * (one device), JSON stats lines on stdout every --stats-ms, and one JSON line of totals
 * at exit. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opts.h"

/* 1: stop now (SIGTERM, SIGINT); 2: stop recording, exit when drained (SIGUSR1) */
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    if (sig != SIGUSR1)
        stop = 1;
    else if (!stop)
        stop = 2;
}

static void print_totals(const struct pdevice *devs, size_t n, const struct simclock *clk,
                         int final)
{
    unsigned long long recorded = 0, buffered = 0, dropped = 0, sent = 0, resends = 0, acked = 0;
    size_t online = 0;
    for (size_t i = 0; i < n; i++) {
        const struct fw_dev *d = &devs[i].dev;
        recorded += d->st.recorded;
        buffered += fw_ring_count(&d->ring);
        dropped += d->ring.dropped - devs[i].dropped_at_start;
        sent += d->st.sent_readings;
        resends += d->st.resends;
        acked += pdevice_acked(&devs[i]);
        online += d->phase == FW_PHASE_ONLINE;
    }
    printf("{\"t_s\":%.3f,\"sim_s\":%.1f,\"devices\":%zu,\"online\":%zu,\"recorded\":%llu,"
           "\"acked\":%llu,\"buffered\":%llu,\"dropped\":%llu,\"sent\":%llu,\"resends\":%llu%s}\n",
           (double)clk->real_ms / 1000.0, simclock_sim_s(clk), n, online, recorded, acked,
           buffered, dropped, sent, resends, final ? ",\"final\":true" : "");
    fflush(stdout);
}

static void print_stats(const struct pdevice *p)
{
    const struct fw_dev *d = &p->dev;
    fprintf(stderr,
            "fw %s: stats recorded=%" PRIu32 " head=%" PRIu32 " tail=%" PRIu32
            " buffered=%" PRIu32 " dropped=%" PRIu32 " acked=%" PRIu32 " connects=%" PRIu32
            " resends=%" PRIu32 " fast=%d phase=%d\n",
            p->id, d->st.recorded, d->ring.head, d->ring.tail, fw_ring_count(&d->ring),
            d->ring.dropped, d->acked, d->st.connects, d->st.resends, d->fast, (int)d->phase);
}

int main(int argc, char **argv)
{
    struct fw_opts o;
    if (fw_opts_parse(argc, argv, &o) != 0)
        return 2;
    int rc = 1, fleet = o.id == NULL;
    size_t n = 0, nlinks = 0;
    struct devspec *specs = NULL;
    struct pdevice *devs = NULL;
    struct pdev_net **nets = NULL;
    struct link **links = NULL;
    struct coap_link *coap = NULL;
    struct scen_mac *macs = NULL;
    struct nv_group group = {.fd = -1};
    struct simclock clk;
    char will[128] = "";

    if (mkdir(o.pd.state_dir, 0700) != 0 && errno != EEXIST) {
        perror(o.pd.state_dir);
        goto cleanup;
    }
    if (fw_devlist(&o, &specs, &n) != 0)
        goto cleanup;
    if (o.macs_file) {
        char *text = fw_read_text(o.macs_file, 1 << 20);
        int line = 0, nm = -1;
        macs = calloc(4096, sizeof *macs);
        if (text && macs)
            nm = scenario_parse_macs(text, macs, 4096, &line);
        free(text);
        if (nm < 0) {
            fprintf(stderr, "takumi-device: %s:%d: want \"aa:bb:cc:dd:ee:ff assoc|probe\"\n",
                    o.macs_file, line);
            goto cleanup;
        }
        o.pd.macs = macs;
        o.pd.nmacs = (size_t)nm;
    }
    simclock_init(&clk, o.time_scale, o.utc_start_s * 1000);
    uint32_t nv_size = o.pd.dev.nv_ring_off + fw_ring_nv_size(o.pd.dev.ring_slots,
                                                              o.pd.dev.slot_size);
    if (fleet) {
        if (nv_group_open(&group, o.pd.state_dir, n, nv_size) != 0) {
            fprintf(stderr, "takumi-device: cannot open %s/fleet.nv\n", o.pd.state_dir);
            goto cleanup;
        }
        o.pd.group = &group;
    }
    devs = calloc(n, sizeof *devs);
    nets = calloc(n, sizeof *nets);
    nlinks = o.coap ? 0 : (size_t)o.connections < n ? (size_t)o.connections : n;
    links = calloc(nlinks ? nlinks : 1, sizeof *links);
    if (!devs || !nets || !links)
        goto cleanup;
    uint64_t seed = (uint64_t)clk.utc0_ms ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < n; i++) {
        if (pdevice_init(&devs[i], &o.pd, &clk, specs[i].id, specs[i].kind,
                         specs[i].mount_height_mm, i, seed + i * 7919) != 0) {
            n = i; /* close only those opened */
            goto cleanup;
        }
        nets[i] = &devs[i].net;
    }

    /* the will (one device only: MQTT has one will per connection) */
    struct fw_status off = {0, o.pd.dev.fw_version, -1, 1, 0, 0, 0};
    size_t wl;
    if (fw_status_encode(&off, will, sizeof will, &wl) != FW_OK)
        goto cleanup;
    if (o.coap) {
        struct coap_link_opts co = {0};
        co.host = o.coap_host ? o.coap_host : o.host;
        co.port = (int)o.coap_port;
        co.identity = devs[0].id;
        co.ack_poll_ms = (int)o.ack_poll_ms;
        co.cfg_retry_ms = 5000;
        co.verbose = o.pd.verbose;
        if (coap_link_read_key(o.psk_file, &co) != 0 || !(coap = coap_link_create(&co))) {
            memset(co.key, 0, sizeof co.key);
            goto cleanup;
        }
        memset(co.key, 0, sizeof co.key);
        devs[0].coap = coap;
    }
    for (size_t k = 0; k < nlinks; k++) {
        char cid[160];
        size_t lo_i = k * n / nlinks, hi_i = (k + 1) * n / nlinks;
        if (fleet)
            snprintf(cid, sizeof cid, "fleet-%.60s-%d-%zu", o.user, (int)getpid(), k);
        else
            snprintf(cid, sizeof cid, "%s", o.id);
        struct link_opts lo = {o.host,     (int)o.port, o.tls_ca, o.user,
                               o.password, cid,         30,       fleet ? NULL : devs[0].net.t_status,
                               fleet ? NULL : will};
        links[k] = link_create(&lo, nets + lo_i, hi_i - lo_i);
        if (!links[k])
            goto cleanup;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    uint64_t last_stats = 0, last_json = 0;
    rc = 0;
    while (stop != 1) {
        simclock_tick(&clk);
        int all_drained = 1;
        for (size_t i = 0; i < n; i++) {
            struct pdevice *p = &devs[i];
            int record = stop != 2 && (!o.count || p->dev.st.recorded < (uint64_t)o.count);
            pdevice_tick(p, record);
            if (record || fw_ring_count(&p->dev.ring) != 0)
                all_drained = 0;
            /* the software watchdog: a real one would reset the board */
            if (clk.real_ms - p->last_kick_real > (uint64_t)o.wdt_ms) {
                fprintf(stderr, "fw %s: watchdog reset\n", p->id);
                stop = 1;
                rc = 3;
            }
        }
        if (fleet && nv_group_sync(&group) != 0) {
            perror(group.path);
            stop = 1;
            rc = 1;
        }
        int drained = (o.drained_exit || stop == 2) && all_drained;
        if (!fleet && (clk.real_ms / 1000 != last_stats / 1000 || drained)) {
            last_stats = clk.real_ms;
            print_stats(&devs[0]);
        }
        if (o.stats_ms && clk.real_ms - last_json >= (uint64_t)o.stats_ms) {
            last_json = clk.real_ms;
            print_totals(devs, n, &clk, 0);
        }
        if (drained)
            break;
        if (o.duration_s && clk.real_ms >= (uint64_t)o.duration_s * 1000)
            break;
        if (coap) {
            coap_link_run(coap, 10);
        } else {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    simclock_tick(&clk);
    for (size_t k = 0; k < nlinks; k++)
        link_shutdown(links[k], fleet ? NULL : devs[0].net.t_status, will, 2000);
    print_totals(devs, n, &clk, 1);
    if (coap) /* what is still in flight gets its chance to be answered */
        for (int k = 0; k < 50; k++)
            coap_link_run(coap, 10);
cleanup:
    coap_link_destroy(coap);
    for (size_t k = 0; links && k < nlinks; k++)
        link_destroy(links[k]);
    for (size_t i = 0; devs && i < n; i++)
        pdevice_close(&devs[i]);
    nv_group_close(&group);
    free(links);
    free(devs);
    free(nets);
    free(specs);
    free(macs);
    return rc;
}
