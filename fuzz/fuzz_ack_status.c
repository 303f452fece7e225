/* libFuzzer target: tk_ack_parse (devices read acks) and tk_status_parse (the ingest reads
 * status messages, retained and Last-Will ones included).
 *
 * Byte 0 picks the parser (even: ack, odd: status); the rest is the payload. A good ack
 * must rebuild through tk_ack_to_json and parse back to the same seq. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tk_reading.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tk_error err;

    if (size < 1)
        return 0;
    unsigned sel = data[0];
    size--;
    char *payload = malloc(size ? size : 1); /* no slack: reads past len are caught */
    if (!payload)
        return 0;
    memcpy(payload, data + 1, size);

    if (sel % 2 == 0) {
        uint32_t seq = 0, back = 0;
        char buf[32];
        size_t len = 0;
        if (tk_ack_parse(payload, size, &seq, &err) == TK_OK) {
            if (tk_ack_to_json(seq, buf, sizeof buf, &len) != TK_OK || strlen(buf) != len ||
                tk_ack_parse(buf, len, &back, &err) != TK_OK || back != seq)
                abort();
        }
    } else {
        struct tk_status st;
        memset(&st, 0xa5, sizeof st);
        if (tk_status_parse(payload, size, &st, &err) == TK_OK) {
            if ((st.online != 0 && st.online != 1) || memchr(st.fw, '\0', sizeof st.fw) == NULL)
                abort();
        }
    }
    free(payload);
    return 0;
}
