/* fw-encode-dump: the firmware encoder against the platform's own encoder.
 *
 *   fw-encode-dump check N   encode N random readings of each kind with fw_reading_encode
 *                            and with common/'s tk_reading_to_json: the bytes must be equal,
 *                            and tk_readings_parse must accept them (exit 1 otherwise)
 *   fw-encode-dump dump N    print "<schema>\t<payload>" lines (readings of each kind,
 *                            batches, status) for tests/validate_fw.mjs (ajv)
 * Only this host tool links common/; the firmware never does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_json.h"
#include "fw_reading.h"
#include "tk_reading.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int64_t between(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static void make(struct fw_reading *r, struct tk_reading *t, enum fw_kind kind, uint32_t seq)
{
    memset(r, 0, sizeof *r);
    memset(t, 0, sizeof *t);
    r->kind = kind;
    t->kind = (enum tk_kind)kind;
    r->seq = t->seq = seq;
    r->ts_ms = between(946684800000LL, 4102444799999LL);
    t->ts_us = r->ts_ms * 1000;
    switch (kind) {
    case FW_KIND_WATER_LEVEL:
        switch (rnd() % 3) {
        case 0:
            r->has = FW_R_LEVEL;
            r->level_mm = (int32_t)between(-1000, 100000);
            t->has = TK_F_LEVEL_M;
            t->level_m = r->level_mm / 1000.0;
            break;
        case 1:
            r->has = FW_R_DISTANCE;
            r->distance_mm = (int32_t)between(0, 100000);
            t->has = TK_F_DISTANCE_MM;
            t->distance_mm = r->distance_mm;
            break;
        default:
            r->has = FW_R_PRESSURE;
            r->pressure_pa = (int32_t)between(0, 1000000);
            t->has = TK_F_PRESSURE_KPA;
            t->pressure_kpa = r->pressure_pa / 1000.0;
        }
        if (rnd() % 2) {
            r->has |= FW_R_BATTERY;
            r->battery_mv = (int32_t)between(0, 10000);
            t->has |= TK_F_BATTERY_V;
            t->battery_v = r->battery_mv / 1000.0;
        }
        if (rnd() % 2) {
            r->has |= FW_R_TEMP;
            r->temp_cc = (int32_t)between(-5000, 10000);
            t->has |= TK_F_TEMP_C;
            t->temp_c = r->temp_cc / 100.0;
        }
        break;
    case FW_KIND_PEOPLE_FLOW:
        r->interval_s = (uint32_t)between(1, 86400);
        r->in = (uint32_t)between(0, 1000000);
        r->out = (uint32_t)between(0, 1000000);
        t->interval_s = r->interval_s;
        t->in = r->in;
        t->out = r->out;
        if (rnd() % 2) {
            r->has |= FW_R_CUM_IN | FW_R_CUM_OUT;
            r->cum_in = (uint64_t)between(0, 9007199254740991LL);
            r->cum_out = (uint64_t)between(0, 9007199254740991LL);
            t->has |= TK_F_CUM_IN | TK_F_CUM_OUT;
            t->cum_in = (int64_t)r->cum_in;
            t->cum_out = (int64_t)r->cum_out;
        }
        break;
    case FW_KIND_WIFI_AP:
        r->interval_s = (uint32_t)between(1, 86400);
        r->unique_devices = (uint32_t)between(0, 100000);
        r->associated = (uint32_t)between(0, 100000);
        t->interval_s = r->interval_s;
        t->unique_devices = r->unique_devices;
        t->associated = r->associated;
        if (rnd() % 2) {
            r->has = FW_R_PROBE_ONLY;
            r->probe_only = (uint32_t)between(0, 100000);
            t->has = TK_F_PROBE_ONLY;
            t->probe_only = r->probe_only;
        }
        break;
    }
}

static const char *ids[] = {"gauge-001", "pc-shibuya-01", "ap-station-3"};

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "check") && strcmp(argv[1], "dump")))
        return 2;
    int dump = strcmp(argv[1], "dump") == 0;
    long n = strtol(argv[2], NULL, 10);
    long failures = 0, checked = 0;
    char a[512], b[512], batch[4096];
    for (int k = 0; k <= FW_KIND_WIFI_AP; k++) {
        const char *id = ids[k];
        struct fw_jw w;
        fw_jw_init(&w, batch, sizeof batch);
        fw_jw_raw(&w, "[");
        for (long i = 0; i < n; i++) {
            struct fw_reading r;
            struct tk_reading t;
            size_t la = 0, lb = 0;
            make(&r, &t, (enum fw_kind)k, (uint32_t)rnd());
            snprintf(t.id, sizeof t.id, "%s", id);
            if (fw_reading_encode(&r, id, a, sizeof a, &la) != FW_OK ||
                tk_reading_to_json(&t, b, sizeof b, &lb) != TK_OK) {
                fprintf(stderr, "encode failed\n");
                return 1;
            }
            checked++;
            if (la != lb || memcmp(a, b, la) != 0) {
                failures++;
                if (failures < 10)
                    fprintf(stderr, "differ:\n  fw:     %s\n  common: %s\n", a, b);
            }
            struct tk_reading back;
            struct tk_error e;
            size_t got = 0;
            enum tk_rc rc = tk_readings_parse(a, la, (enum tk_kind)k, id, &back, &e, 1, &got, NULL);
            if (rc != TK_OK || got != 1 || e.code != TK_OK) {
                failures++;
                fprintf(stderr, "refused by tk_readings_parse: %s\n", a);
            }
            tk_reading_clear(&back);
            if (dump) {
                printf("reading-%s\t%s\n", fw_kind_name((enum fw_kind)k), a);
                if (i < 8) {
                    if (i)
                        fw_jw_raw(&w, ",");
                    fw_jw_raw(&w, a);
                }
            }
        }
        if (dump) {
            fw_jw_raw(&w, "]");
            printf("reading-%s\t%s\n", fw_kind_name((enum fw_kind)k), batch);
        }
    }
    if (dump) {
        struct fw_status s = {1, "0.1.0", 3610, -95, 3, 1, 7};
        size_t len;
        if (fw_status_encode(&s, a, sizeof a, &len) == FW_OK)
            printf("status\t%s\n", a);
        s.online = 0;
        if (fw_status_encode(&s, a, sizeof a, &len) == FW_OK)
            printf("status\t%s\n", a);
    }
    fprintf(stderr, "fw-encode-dump: %ld readings compared, %ld failures\n", checked, failures);
    return failures ? 1 : 0;
}
