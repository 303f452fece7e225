/* tk-check-reading SCHEMA FILE...
 *
 * Classifies each file with the C parser, as the schema test compares it with ajv:
 *   FILE<TAB>valid
 *   FILE<TAB>invalid<TAB>POINTER<TAB>REASON
 * SCHEMA is reading-water_level, reading-people_flow, reading-wifi_ap, status or ack.
 * A reading file is checked with the id of its own (first) reading as the topic's id,
 * since the one rule JSON Schema cannot state is "id equals the topic's device id".
 * Exit status: 0 all valid, 1 some invalid, 2 usage or I/O error. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_reading.h"

#define FILE_MAX (1024 * 1024)
#define CAP 1024

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f)
        return NULL;
    buf = malloc(FILE_MAX);
    if (buf) {
        *len = fread(buf, 1, FILE_MAX, f);
        if (ferror(f) || !feof(f)) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* The id of the payload's first reading, if it has a valid one. */
static void own_id(const char *buf, size_t len, char id[TK_ID_MAX + 1])
{
    json_t *root = json_loadb(buf, len, JSON_DECODE_ANY, NULL), *first, *v;
    id[0] = '\0';
    first = json_is_array(root) ? json_array_get(root, 0) : root;
    v = json_object_get(first, "id");
    if (json_is_string(v) && tk_device_id_valid(json_string_value(v)))
        memcpy(id, json_string_value(v), json_string_length(v) + 1);
    json_decref(root);
}

static enum tk_rc check_reading(enum tk_kind kind, const char *buf, size_t len,
                                struct tk_error *err)
{
    static struct tk_reading out[CAP];
    static struct tk_error errs[CAP];
    char id[TK_ID_MAX + 1];
    size_t n = 0;
    enum tk_rc rc;

    own_id(buf, len, id);
    rc = tk_readings_parse(buf, len, kind, id[0] ? id : NULL, out, errs, CAP, &n, err);
    for (size_t i = 0; i < n; i++) {
        if (rc == TK_OK && errs[i].code != TK_OK) {
            *err = errs[i];
            rc = errs[i].code;
        }
        tk_reading_clear(&out[i]);
    }
    return rc;
}

int main(int argc, char **argv)
{
    int status = 0;
    enum tk_kind kind = TK_KIND_WATER_LEVEL;
    int what; /* 0 reading, 1 status, 2 ack */

    if (argc < 3) {
        fprintf(stderr, "usage: %s reading-KIND|status|ack FILE...\n", argv[0]);
        return 2;
    }
    if (strncmp(argv[1], "reading-", 8) == 0 && tk_kind_parse(argv[1] + 8, &kind) == TK_OK) {
        what = 0;
    } else if (strcmp(argv[1], "status") == 0) {
        what = 1;
    } else if (strcmp(argv[1], "ack") == 0) {
        what = 2;
    } else {
        fprintf(stderr, "%s: unknown schema '%s'\n", argv[0], argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        size_t len = 0;
        char *buf = slurp(argv[i], &len);
        struct tk_error err = {TK_OK, "", ""};
        enum tk_rc rc;
        if (!buf) {
            fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[i]);
            return 2;
        }
        if (what == 0) {
            rc = check_reading(kind, buf, len, &err);
        } else if (what == 1) {
            struct tk_status st;
            rc = tk_status_parse(buf, len, &st, &err);
        } else {
            uint32_t seq;
            rc = tk_ack_parse(buf, len, &seq, &err);
        }
        free(buf);
        if (rc == TK_OK) {
            printf("%s\tvalid\n", argv[i]);
        } else {
            printf("%s\tinvalid\t%s\t%s: %s\n", argv[i], err.path,
                   tk_rc_name(rc), err.text);
            status = 1;
        }
    }
    return status;
}
