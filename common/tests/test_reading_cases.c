/* Data-driven parser cases (jansson test/suites, curl tests/data style).
 *
 * Usage: test_reading_cases DIR, where each DIR/<case>/ holds
 *   topic          the MQTT topic the payload arrived on (gives kind and device id)
 *   input.json     the payload bytes, as received (may be broken on purpose)
 * and exactly one of
 *   expected.json  the parsed reading (an object), or for a batch an array of them; an
 *                  element {"error": "<path> <text>"} expects that element to fail
 *   error          "<path> <text>": the whole message, or its first failing element, must
 *                  fail at JSON pointer <path> ("" written as "") with a text containing
 *                  <text>
 * Expected readings name id, seq, ts_us and the kind's fields; optional fields that are
 * absent must be absent from the reading, and "extra" holds the unknown fields. Every
 * good reading is also round-tripped through tk_reading_to_json. */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_check.h"
#include "tk_reading.h"

#define CAP 64
#define FILE_MAX (256 * 1024)

static const char *current;

/* CHECK, naming the case on failure; evaluates expr once */
#define CASE_CHECK(expr)                                                                           \
    do {                                                                                           \
        int ok_ = !!(expr);                                                                        \
        if (!ok_)                                                                                  \
            fprintf(stderr, "case %s: %s\n", current, #expr);                                     \
        CHECK(ok_);                                                                                \
    } while (0)

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf = malloc(FILE_MAX + 1);
    if (buf) {
        *len = fread(buf, 1, FILE_MAX, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

static void chomp(char *s)
{
    size_t l = strlen(s);
    while (l && (s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == ' '))
        s[--l] = '\0';
}

/* "<path> <text>" -> path ("" for the literal ""), text */
static void split_error(char *line, const char **path, const char **text)
{
    char *sp = strchr(line, ' ');
    *text = "";
    if (sp) {
        *sp = '\0';
        *text = sp + 1;
    }
    *path = strcmp(line, "\"\"") == 0 ? "" : line;
}

static int error_matches(const struct tk_error *e, char *want)
{
    const char *path, *text;
    split_error(want, &path, &text);
    if (strcmp(e->path, path) != 0 || !strstr(e->text, text)) {
        fprintf(stderr, "case %s: got error '%s' '%s', want '%s' '%s'\n", current, e->path,
                e->text, path, text);
        return 0;
    }
    return 1;
}

static int num_eq(const json_t *exp, const char *key, double got, int has)
{
    json_t *v = json_object_get(exp, key);
    if (!v)
        return !has;
    return has && json_is_number(v) && json_number_value(v) == got;
}

static int int_eq(const json_t *exp, const char *key, int64_t got, int has)
{
    json_t *v = json_object_get(exp, key);
    if (!v)
        return !has;
    return has && json_is_integer(v) && json_integer_value(v) == got;
}

static void check_reading(const json_t *exp, const struct tk_reading *r)
{
    const char *kind = json_string_value(json_object_get(exp, "kind"));
    json_t *extra = json_object_get(exp, "extra");
    int pf = r->kind == TK_KIND_PEOPLE_FLOW, wa = r->kind == TK_KIND_WIFI_AP;

    if (kind)
        CASE_CHECK(strcmp(kind, tk_kind_name(r->kind)) == 0);
    CASE_CHECK(json_is_string(json_object_get(exp, "id")));
    const char *id = json_string_value(json_object_get(exp, "id"));
    CASE_CHECK(id && strcmp(id, r->id) == 0);
    CASE_CHECK(int_eq(exp, "seq", r->seq, 1));
    CASE_CHECK(int_eq(exp, "ts_us", r->ts_us, 1));
    CASE_CHECK(num_eq(exp, "level_m", r->level_m, !!(r->has & TK_F_LEVEL_M)));
    CASE_CHECK(num_eq(exp, "distance_mm", r->distance_mm, !!(r->has & TK_F_DISTANCE_MM)));
    CASE_CHECK(num_eq(exp, "pressure_kpa", r->pressure_kpa, !!(r->has & TK_F_PRESSURE_KPA)));
    CASE_CHECK(num_eq(exp, "battery_v", r->battery_v, !!(r->has & TK_F_BATTERY_V)));
    CASE_CHECK(num_eq(exp, "temp_c", r->temp_c, !!(r->has & TK_F_TEMP_C)));
    CASE_CHECK(int_eq(exp, "interval_s", r->interval_s, pf || wa));
    CASE_CHECK(int_eq(exp, "in", r->in, pf));
    CASE_CHECK(int_eq(exp, "out", r->out, pf));
    CASE_CHECK(int_eq(exp, "cum_in", r->cum_in, !!(r->has & TK_F_CUM_IN)));
    CASE_CHECK(int_eq(exp, "cum_out", r->cum_out, !!(r->has & TK_F_CUM_OUT)));
    CASE_CHECK(int_eq(exp, "unique_devices", r->unique_devices, wa));
    CASE_CHECK(int_eq(exp, "associated", r->associated, wa));
    CASE_CHECK(int_eq(exp, "probe_only", r->probe_only, !!(r->has & TK_F_PROBE_ONLY)));
    if (extra) {
        json_t *got = r->extra ? json_loads(r->extra, 0, NULL) : NULL;
        CASE_CHECK(got && json_equal(got, extra));
        json_decref(got);
    } else {
        CASE_CHECK(r->extra == NULL);
    }

    /* the round trip property: parse(to_json(r)) == r */
    char buf[4096];
    size_t len = 0, n = 0;
    struct tk_reading back;
    struct tk_error e, we;
    CASE_CHECK(tk_reading_to_json(r, buf, sizeof buf, &len) == TK_OK);
    CASE_CHECK(tk_readings_parse(buf, len, r->kind, r->id, &back, &e, 1, &n, &we) == TK_OK);
    CASE_CHECK(n == 1 && e.code == TK_OK);
    if (n == 1 && e.code == TK_OK) {
        CASE_CHECK(back.seq == r->seq && back.ts_us == r->ts_us && back.has == r->has);
        CASE_CHECK(back.level_m == r->level_m && back.distance_mm == r->distance_mm &&
                   back.pressure_kpa == r->pressure_kpa && back.battery_v == r->battery_v &&
                   back.temp_c == r->temp_c && back.interval_s == r->interval_s &&
                   back.in == r->in && back.out == r->out && back.cum_in == r->cum_in &&
                   back.cum_out == r->cum_out && back.unique_devices == r->unique_devices &&
                   back.associated == r->associated && back.probe_only == r->probe_only);
        CASE_CHECK((!back.extra && !r->extra) ||
                   (back.extra && r->extra && strcmp(back.extra, r->extra) == 0));
    }
    tk_reading_clear(&back);
}

static void run_case(const char *root, const char *name)
{
    char dir[1024];
    size_t tlen = 0, ilen = 0, xlen = 0, elen = 0, n = 0;
    char *topic, *input, *expected, *error;
    enum tk_kind kind;
    enum tk_topic_type type;
    char id[TK_ID_MAX + 1];
    static struct tk_reading out[CAP];
    static struct tk_error errs[CAP];
    struct tk_error err;
    enum tk_rc rc;

    snprintf(dir, sizeof dir, "%s/%s", root, name);
    current = name;
    topic = slurp(dir, "topic", &tlen);
    input = slurp(dir, "input.json", &ilen);
    expected = slurp(dir, "expected.json", &xlen);
    error = slurp(dir, "error", &elen);
    CASE_CHECK(topic && input && (!expected != !error));
    if (!topic || !input || !expected == !error)
        goto cleanup;
    chomp(topic);
    CASE_CHECK(tk_topic_parse(topic, &kind, id, &type, NULL) == TK_OK && type == TK_TOPIC_READING);
    if (tk_topic_parse(topic, &kind, id, &type, NULL) != TK_OK)
        goto cleanup;

    rc = tk_readings_parse(input, ilen, kind, id, out, errs, CAP, &n, &err);
    if (error) {
        chomp(error);
        if (rc != TK_OK) {
            CASE_CHECK(n == 0 && err.code == rc);
            CASE_CHECK(error_matches(&err, error));
        } else {
            size_t i = 0;
            while (i < n && errs[i].code == TK_OK)
                i++;
            CASE_CHECK(i < n);
            if (i < n) {
                CASE_CHECK(errs[i].code == TK_ESCHEMA);
                CASE_CHECK(error_matches(&errs[i], error));
            }
        }
    } else {
        json_error_t jerr;
        json_t *exp = json_loadb(expected, xlen, 0, &jerr);
        CASE_CHECK(exp != NULL);
        if (!exp)
            fprintf(stderr, "case %s: expected.json: %s\n", name, jerr.text);
        if (rc != TK_OK)
            fprintf(stderr, "case %s: unexpected error '%s' %s\n", name, err.path, err.text);
        CASE_CHECK(rc == TK_OK);
        if (exp && rc == TK_OK) {
            size_t want = json_is_array(exp) ? json_array_size(exp) : 1;
            CASE_CHECK(n == want);
            for (size_t i = 0; i < n && i < want; i++) {
                json_t *e = json_is_array(exp) ? json_array_get(exp, i) : exp;
                json_t *ee = json_object_get(e, "error");
                if (ee) {
                    char buf[256];
                    snprintf(buf, sizeof buf, "%s", json_is_string(ee) ? json_string_value(ee) : "");
                    CASE_CHECK(errs[i].code == TK_ESCHEMA && error_matches(&errs[i], buf));
                } else {
                    if (errs[i].code != TK_OK)
                        fprintf(stderr, "case %s: element %zu: '%s' %s\n", name, i,
                                errs[i].path, errs[i].text);
                    CASE_CHECK(errs[i].code == TK_OK);
                    if (errs[i].code == TK_OK)
                        check_reading(e, &out[i]);
                }
            }
        }
        json_decref(exp);
    }
    for (size_t i = 0; i < n; i++)
        tk_reading_clear(&out[i]);

cleanup:
    free(topic);
    free(input);
    free(expected);
    free(error);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    DIR *d;
    struct dirent *de;
    char *names[1024];
    size_t count = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    d = opendir(argv[1]);
    CHECK(d != NULL);
    if (!d)
        return tk_check_result("test_reading_cases");
    while ((de = readdir(d)) != NULL && count < 1024) {
        if (de->d_name[0] != '.' && de->d_name[0] != '_' && strcmp(de->d_name, "README.md") != 0)
            names[count++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof names[0], cmp);
    for (size_t i = 0; i < count; i++) {
        run_case(argv[1], names[i]);
        free(names[i]);
    }
    /* a walk that finds nothing must not pass */
    CHECK(count >= 25);
    fprintf(stderr, "%zu cases\n", count);
    return tk_check_result("test_reading_cases");
}
