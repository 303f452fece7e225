/* libFuzzer target for every parser in common (STYLE: fuzz every parser).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icommon/include
 *         common/tests/fuzz_reading.c common/src/tk_[a-z]*.c -ljansson -lpthread
 *         -o fuzz_reading
 *   ./fuzz_reading -max_total_time=60 CORPUS_DIR
 *
 * A corpus: each example payload prefixed with one byte, the kind (0, 1, 2).
 * The first byte picks the kind and the parser; every good reading must survive the round
 * trip through tk_reading_to_json. Not built by CMake: it needs clang's libFuzzer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tk_reading.h"
#include "tk_time.h"

#define CAP 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tk_reading out[CAP], back;
    struct tk_error errs[CAP], err, e1;
    size_t n = 0, n1 = 0, len = 0;
    char buf[8192];

    if (size < 1)
        return 0;
    unsigned sel = data[0];
    const char *p = (const char *)data + 1;
    size--;

    if (sel % 5 == 3) {
        struct tk_status st;
        (void)tk_status_parse(p, size, &st, &err);
        return 0;
    }
    if (sel % 5 == 4) {
        uint32_t seq;
        int64_t us;
        (void)tk_ack_parse(p, size, &seq, &err);
        (void)tk_time_parse_rfc3339(p, size, &us);
        return 0;
    }
    enum tk_kind kind = (enum tk_kind)(sel % 5);
    if (tk_readings_parse(p, size, kind, NULL, out, errs, CAP, &n, &err) != TK_OK)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (errs[i].code == TK_OK) {
            if (tk_reading_to_json(&out[i], buf, sizeof buf, &len) != TK_OK)
                abort();
            if (tk_readings_parse(buf, len, kind, out[i].id, &back, &e1, 1, &n1, &err) != TK_OK ||
                n1 != 1 || e1.code != TK_OK || back.ts_us != out[i].ts_us ||
                back.seq != out[i].seq || back.has != out[i].has)
                abort();
            tk_reading_clear(&back);
        }
        tk_reading_clear(&out[i]);
    }
    return 0;
}
