/* libFuzzer target: tk_readings_parse of every kind, with and without a topic id, against
 * its general path alone (tk_readings__parse_general: the fast path must give the same
 * result, error texts included), and the round trip of every good reading through
 * tk_reading_to_json.
 *
 * Input layout (the seeds in fuzz/make_corpus.py follow it):
 *   byte 0     selector: kind = sel % 3; bit 2 set: a topic id line follows;
 *              cap = 1 + (sel >> 3) % CAP (small caps exercise the batch limit)
 *   [id "\n"]  the topic's device id, when bit 2 is set (up to the first newline)
 *   payload    the MQTT payload bytes
 *
 * A good reading must encode without error and parse back, as the topic device's own, to
 * the very same fields: the ingest stores what the parser gives and the API serves what
 * the encoder writes, so any difference would be a silent change of a citizen's data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tk_reading.h"

#define CAP 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_reading(const struct tk_reading *a, const struct tk_reading *b)
{
    if (a->kind != b->kind || strcmp(a->id, b->id) != 0 || a->seq != b->seq ||
        a->ts_us != b->ts_us || a->has != b->has)
        return 0;
    if ((a->extra == NULL) != (b->extra == NULL) || (a->extra && strcmp(a->extra, b->extra) != 0))
        return 0;
    switch (a->kind) {
    case TK_KIND_WATER_LEVEL:
        return (!(a->has & TK_F_LEVEL_M) || a->level_m == b->level_m) &&
               (!(a->has & TK_F_DISTANCE_MM) || a->distance_mm == b->distance_mm) &&
               (!(a->has & TK_F_PRESSURE_KPA) || a->pressure_kpa == b->pressure_kpa) &&
               (!(a->has & TK_F_BATTERY_V) || a->battery_v == b->battery_v) &&
               (!(a->has & TK_F_TEMP_C) || a->temp_c == b->temp_c);
    case TK_KIND_PEOPLE_FLOW:
        return a->interval_s == b->interval_s && a->in == b->in && a->out == b->out &&
               (!(a->has & TK_F_CUM_IN) || a->cum_in == b->cum_in) &&
               (!(a->has & TK_F_CUM_OUT) || a->cum_out == b->cum_out);
    default:
        return a->interval_s == b->interval_s && a->unique_devices == b->unique_devices &&
               a->associated == b->associated &&
               (!(a->has & TK_F_PROBE_ONLY) || a->probe_only == b->probe_only);
    }
}

static int same_error(const struct tk_error *a, const struct tk_error *b)
{
    return a->code == b->code && strcmp(a->path, b->path) == 0 && strcmp(a->text, b->text) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tk_reading out[CAP], back, gen[CAP];
    struct tk_error errs[CAP], err, e1, gerrs[CAP], gerr;
    size_t gn = 0;
    char topic_id[TK_ID_MAX + 8];
    const char *tid = NULL;
    size_t n = 0, n1 = 0, len = 0;

    if (size < 1)
        return 0;
    unsigned sel = data[0];
    const char *p = (const char *)data + 1;
    size--;
    enum tk_kind kind = (enum tk_kind)(sel % 3);
    size_t cap = 1 + (sel >> 3) % CAP;
    if (sel & 4) {
        const char *nl = memchr(p, '\n', size);
        size_t idl = nl ? (size_t)(nl - p) : size;
        if (idl >= sizeof topic_id)
            idl = sizeof topic_id - 1;
        memcpy(topic_id, p, idl);
        topic_id[idl] = '\0';
        tid = topic_id;
        if (nl) {
            size -= (size_t)(nl + 1 - p);
            p = nl + 1;
        } else {
            size = 0;
        }
    }
    /* the parser must not read beyond len: give it a copy with no slack */
    char *payload = malloc(size ? size : 1);
    if (!payload)
        return 0;
    memcpy(payload, p, size);

    memset(out, 0xa5, sizeof out); /* the parser must not rely on zeroed output */
    enum tk_rc rc = tk_readings_parse(payload, size, kind, tid, out, errs, cap, &n, &err);
    /* the fast path must give exactly what the general path (jansson) gives */
    memset(gen, 0x5a, sizeof gen);
    enum tk_rc grc =
        tk_readings__parse_general(payload, size, kind, tid, gen, gerrs, cap, &gn, &gerr);
    if (grc != rc || gn != n || !same_error(&err, &gerr))
        abort();
    for (size_t i = 0; i < n; i++) {
        if (!same_error(&errs[i], &gerrs[i]))
            abort();
        if (errs[i].code == TK_OK ? !same_reading(&out[i], &gen[i])
                                  : (out[i].has & TK_F_SEQ) != (gen[i].has & TK_F_SEQ) ||
                                        ((out[i].has & TK_F_SEQ) && out[i].seq != gen[i].seq))
            abort();
        tk_reading_clear(&gen[i]);
    }
    if (rc != TK_OK) {
        if (n != 0)
            abort();
        goto done;
    }
    if (n == 0 || n > cap)
        abort();
    /* JSON text of a reading can grow: numbers are re-spelled, extra is re-serialized */
    size_t jsize = 2 * size + 4096;
    char *json = malloc(jsize);
    if (!json)
        goto clear;
    for (size_t i = 0; i < n; i++) {
        if (errs[i].code != TK_OK)
            continue;
        if (tid && strcmp(out[i].id, tid) != 0)
            abort(); /* a topic's device may only speak for itself */
        if (!(out[i].has & TK_F_SEQ))
            abort();
        if (tk_reading_to_json(&out[i], json, jsize, &len) != TK_OK || strlen(json) != len)
            abort();
        if (tk_readings_parse(json, len, kind, out[i].id, &back, &e1, 1, &n1, &err) != TK_OK ||
            n1 != 1 || e1.code != TK_OK)
            abort();
        if (!same_reading(&out[i], &back))
            abort();
        tk_reading_clear(&back);
    }
    free(json);
clear:
    for (size_t i = 0; i < n; i++)
        tk_reading_clear(&out[i]);
done:
    free(payload);
    return 0;
}
