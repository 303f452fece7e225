/* libFuzzer target: the gateway's CoAP resource handling without sockets: the identity
 * lookup a DTLS PSK identity or a plain "?id=" goes through (gw_psk_get, fed arbitrary
 * bytes) and the whole body of POST /r (gw_coap__post: the reading parser, the identity
 * check, resend absorption, the spool; content format, size limits and block-wise
 * reassembly are checked before it, in post_r, and by the gateway's integration tests).
 *
 * Input: byte 0 = flags (bits 0-1 unused): bit 2: an identity
 * line (up to '\n') follows, else bits 3-4 pick a provisioned device (water_level,
 * people_flow, wifi_ap); bit 5: the device has a platform watermark (next byte). The rest
 * is the payload. Properties beyond "no crash": every answer is a 2.xx, 4.xx or 5.xx with a
 * body; 2.04 only with a JSON answer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define READINGS_MAX 64
static const char *const g_ids[] = {"wl-fz-0001", "pf-fz-0001", "wa-fz-0001"};
static const char *const g_kinds[] = {"water_level", "people_flow", "wifi_ap"};
static char g_dir[64];
static struct gw_config g_cfg;
static struct gw_stats g_stats;
static struct gw_coap_env g_env;
static struct tk_reading g_rs[READINGS_MAX];
static struct tk_error g_errs[READINGS_MAX];

static void path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
}

static void cleanup(void)
{
    char p[160];
    gw_spool_close(g_env.spool);
    gw_psk_destroy(g_env.psk);
    static const char *const files[] = {"spool.db", "spool.db-wal", "spool.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        path(p, sizeof p, files[i]);
        unlink(p);
    }
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/psk/%s", g_dir, g_ids[i]);
        unlink(p);
    }
    path(p, sizeof p, "psk");
    rmdir(p);
    rmdir(g_dir);
}

static void setup(void)
{
    char p[160];
    /* /dev/shm when there is one: the spool fsyncs every commit */
    snprintf(g_dir, sizeof g_dir, "%s/tk-fuzz-coap-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(g_dir))
        abort();
    path(p, sizeof p, "psk");
    if (mkdir(p, 0700) != 0)
        abort();
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/psk/%s", g_dir, g_ids[i]);
        FILE *f = fopen(p, "w");
        if (!f)
            abort();
        fprintf(f, "%s 0123456789abcdef0123456789abcdef\n", g_kinds[i]);
        fclose(f);
    }
    g_cfg.payload_max = 8192;
    g_cfg.readings_max = READINGS_MAX;
    g_cfg.spool_max = 1000000;
    g_env.cfg = &g_cfg;
    g_env.stats = &g_stats;
    path(p, sizeof p, "psk");
    if (gw_psk_create(p, &g_env.psk) != TK_OK)
        abort();
    path(p, sizeof p, "spool.db");
    if (gw_spool_open(p, g_cfg.spool_max, &g_env.spool) != TK_OK)
        abort();
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!g_env.spool)
        setup();
    uint8_t flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    struct gw_device *d = NULL;
    if (flags & 4) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (gw_psk_get(g_env.psk, (const char *)p, n, &d) != TK_OK)
            return 0; /* refused: unknown or invalid identity */
        if (strlen(d->id) != n || memcmp(d->id, p, n) != 0)
            abort(); /* an identity must only ever find itself */
        p += nl ? n + 1 : n;
    } else if (gw_psk_get(g_env.psk, g_ids[((flags >> 3) & 3) % 3],
                          strlen(g_ids[((flags >> 3) & 3) % 3]), &d) != TK_OK) {
        abort();
    }
    d->has_watermark = 0;
    if ((flags & 0x20) && p < end) {
        d->has_watermark = 1;
        d->watermark = *p++;
    }
    size_t len = (size_t)(end - p);
    if (len == 0 || len > (size_t)g_cfg.payload_max)
        return 0; /* refused before gw_coap__post */
    struct gw_post_reply out;
    gw_coap__post(&g_env, g_rs, g_errs, d, p, len, &out);
    unsigned cls = out.code >> 5;
    if ((cls != 2 && cls != 4 && cls != 5) || out.len == 0 || out.len >= sizeof out.body)
        abort();
    if (cls == 2 && !out.json)
        abort();
    return 0;
}
