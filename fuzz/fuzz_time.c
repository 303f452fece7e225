/* libFuzzer target: tk_time_parse_rfc3339 (every reading's "ts") and tk_time_format.
 *
 * The input is parsed as a timestamp text; a time that parses must format and parse back
 * to the same microsecond. The first 8 bytes, read as an int64, are also formatted: any
 * value either is refused or formats to 27 characters, which parse back to it from 1970
 * on (the formatter also writes years 0..1969, which readings may not carry). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tk_time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(int64_t us)
{
    char buf[32];
    int64_t back = 0;
    if (tk_time_format(us, buf, sizeof buf) != TK_OK)
        return;
    if (strlen(buf) != 27 || buf[26] != 'Z')
        abort();
    if (us >= 0 && (tk_time_parse_rfc3339(buf, 27, &back) != TK_OK || back != us))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t us = 0;

    char *s = malloc(size ? size : 1); /* no slack: reads past len are caught */
    if (!s)
        return 0;
    memcpy(s, data, size);
    if (tk_time_parse_rfc3339(s, size, &us) == TK_OK)
        round_trip(us);
    free(s);
    if (size >= 8) {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u = u << 8 | data[i];
        round_trip((int64_t)u);
    }
    return 0;
}
