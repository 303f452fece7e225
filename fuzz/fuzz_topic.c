/* libFuzzer target: tk_topic_parse, the split of every MQTT topic the ingest receives.
 *
 * The input is the topic text (cut at the first NUL, as MQTT topics cannot hold one). A
 * topic that parses must name a valid device and rebuild, through tk_topic_make, into the
 * very same text: the ingest acknowledges on the topic it builds, so a parse that accepted
 * more than make produces would ack a device that never hears it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tk_reading.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum tk_kind kind;
    enum tk_topic_type type;
    struct tk_error err;
    char id[TK_ID_MAX + 1];
    char again[128];

    char *topic = malloc(size + 1);
    if (!topic)
        return 0;
    memcpy(topic, data, size);
    topic[size] = '\0';

    if (tk_topic_parse(topic, &kind, id, &type, &err) == TK_OK) {
        if (!tk_device_id_valid(id) || !tk_kind_name(kind))
            abort();
        if (tk_topic_make(again, sizeof again, kind, id, type) != TK_OK ||
            strcmp(again, topic) != 0)
            abort();
    } else if (err.code != TK_EINVAL) {
        abort();
    }
    /* the id check on its own is also a security boundary (broker usernames, ACLs) */
    if (tk_device_id_valid(topic)) {
        for (const char *c = topic; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
                abort();
    }
    if (tk_kind_parse(topic, &kind) == TK_OK && strcmp(tk_kind_name(kind), topic) != 0)
        abort();
    free(topic);
    return 0;
}
