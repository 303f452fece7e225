/* The OpenAPI 3 document served at /openapi.json: what takumi-api offers beyond the
 * SensorThings standard (the aggregation extension, latest values, the operator view,
 * alerts) and how callers authenticate (API keys: bearer or X-API-Key; 401, 403, 429).
 * Static text, checked as JSON by the integration tests. */
#include <string.h>

#include "api.h"

/* Alerts (docs/alerts.md, api/src/alerts.c). */
#define ERR_REF(code) "\"" code "\":{\"$ref\":\"#/components/responses/Error\"}"
#define QP(name, type, desc)                                                                       \
    "{\"name\":\"" name "\",\"in\":\"query\",\"required\":false,\"description\":\"" desc          \
    "\",\"schema\":{\"type\":\"" type "\"}}"
#define DEVICE_PARAM                                                                               \
    "\"parameters\":[{\"name\":\"device\",\"in\":\"path\",\"required\":true,"                      \
    "\"schema\":{\"type\":\"string\"}}]"
#define ALERT_PATHS                                                                                \
    "\"/alerts\":{\"get\":{\"summary\":\"Alerts of water-level gauges, newest first\","             \
    "\"parameters\":[" QP("state", "string", "active or cleared") ","                             \
    QP("severity", "string", "caution, warning, danger; comma-separated") ","                     \
    QP("condition", "string", "level, rise or silence") ","                                        \
    QP("device", "string", "a gauge id") ","                                                       \
    QP("bbox", "string", "minLon,minLat,maxLon,maxLat") ","                                        \
    QP("from", "string", "RFC 3339: alerts active at or after") ","                                \
    QP("to", "string", "RFC 3339: alerts that started before") ","                                 \
    QP("$top", "integer", "page size, default 100") "," QP("$skip", "integer", "") ","             \
    QP("$count", "boolean", "add @iot.count") "],"                                                 \
    "\"responses\":{\"200\":{\"description\":\"a page of alerts\",\"content\":{"                  \
    "\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/AlertList\"}}}},"          \
    ERR_REF("400") "}}},"                                                                          \
    "\"/alerts/{id}\":{\"get\":{\"summary\":\"One alert (the city/alerts payload)\","               \
    "\"parameters\":[{\"name\":\"id\",\"in\":\"path\",\"required\":true,"                          \
    "\"schema\":{\"type\":\"integer\"}}],\"responses\":{\"200\":{\"description\":\"the alert\","   \
    "\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Alert\"}}}},"   \
    ERR_REF("404") "}}},"                                                                          \
    "\"/alerts/{id}.cap\":{\"get\":{\"summary\":\"One alert as CAP 1.2 (ja-JP and en-US info)\","   \
    "\"parameters\":[{\"name\":\"id\",\"in\":\"path\",\"required\":true,"                          \
    "\"schema\":{\"type\":\"integer\"}}],\"responses\":{\"200\":{\"description\":"                \
    "\"urn:oasis:names:tc:emergency:cap:1.2 alert\",\"content\":{\"application/cap+xml\":{}}},"     \
    ERR_REF("404") "}}},"                                                                          \
    "\"/alerts.atom\":{\"get\":{\"summary\":\"Atom feed of CAP 1.2 alerts (the /alerts filters)\"," \
    "\"responses\":{\"200\":{\"description\":\"the feed\",\"content\":{"                          \
    "\"application/atom+xml\":{}}}," ERR_REF("400") "}}},"                                        \
    "\"/alerts/config/{device}\":{"                                                                 \
    "\"get\":{\"summary\":\"Alert settings of a gauge (admin scope)\"," DEVICE_PARAM            \
    ",\"responses\":{"                                                                            \
    "\"200\":{\"description\":\"the settings\",\"content\":{\"application/json\":{\"schema\":"     \
    "{\"$ref\":\"#/components/schemas/AlertConfig\"}}}}," ERR_REF("401") "," ERR_REF("403") ","   \
    ERR_REF("404") "}},"                                                                           \
    "\"put\":{\"summary\":\"Change some settings (admin scope)\"," DEVICE_PARAM                  \
    ",\"requestBody\":{\"required\":"                                                             \
    "true,\"content\":{\"application/json\":{\"schema\":{\"$ref\":"                                 \
    "\"#/components/schemas/AlertConfig\"}}}},\"responses\":{\"200\":{\"description\":"             \
    "\"the settings now\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":"               \
    "\"#/components/schemas/AlertConfig\"}}}}," ERR_REF("400") "," ERR_REF("401") ","              \
    ERR_REF("403") "," ERR_REF("404") "}}}"
#define ALERT_SCHEMAS                                                                              \
    "\"Alert\":{\"type\":\"object\",\"description\":\"schemas/alert.schema.json\"},"                \
    "\"AlertList\":{\"type\":\"object\",\"properties\":{\"value\":{\"type\":\"array\","           \
    "\"items\":{\"$ref\":\"#/components/schemas/Alert\"}},\"@iot.count\":{\"type\":\"integer\"},"  \
    "\"@iot.nextLink\":{\"type\":\"string\"}}},"                                                   \
    "\"AlertConfig\":{\"type\":\"object\",\"description\":\"schemas/alert-config.schema.json\"}"

static const char doc[] =
    "{\"openapi\":\"3.0.3\","
    "\"info\":{\"title\":\"Takumi data-linkage API: extensions\",\"version\":\"1.1\","
    "\"description\":\"Beyond OGC SensorThings API v1.1 (served under /v1.1): aggregates per"
    " minute, hour or day answered from rollups, and the latest values of many Datastreams in"
    " one request; for admin keys, the ingest's counters and quarantine. Errors are {code,"
    " message[, field]} with the HTTP status. Access: anonymous callers get open data,"
    " rate-limited per client address; an API key (Authorization: Bearer KEY or X-API-Key:"
    " KEY) has scopes (read, read:raw, write, admin) and its own rate. People and Wi-Fi"
    " counts under 10 are null with resultQuality 'suppressed' unless the key has read:raw"
    " or admin.\"},"
    "\"security\":[{},{\"bearerKey\":[]},{\"headerKey\":[]}],"
    "\"paths\":{"
    "\"/v1.1/Datastreams({id})/Observations/aggregate\":{\"get\":{"
    "\"summary\":\"Aggregates of a Datastream's Observations per bucket\","
    "\"description\":\"Answered from the store's rollups, never by scanning raw rows. from is"
    " rounded down to the start of its bucket; every bucket that starts before to and holds"
    " data is returned, oldest first; empty buckets are left out. At most 10000 buckets.\","
    "\"parameters\":["
    "{\"name\":\"id\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"integer\"}},"
    "{\"name\":\"interval\",\"in\":\"query\",\"required\":true,"
    "\"schema\":{\"type\":\"string\",\"enum\":[\"minute\",\"hour\",\"day\"]}},"
    "{\"name\":\"from\",\"in\":\"query\",\"required\":true,"
    "\"schema\":{\"type\":\"string\",\"format\":\"date-time\"}},"
    "{\"name\":\"to\",\"in\":\"query\",\"required\":true,"
    "\"schema\":{\"type\":\"string\",\"format\":\"date-time\"}},"
    "{\"name\":\"fn\",\"in\":\"query\",\"required\":false,\"description\":\"comma-separated;"
    " all five when absent\",\"schema\":{\"type\":\"string\",\"example\":\"avg,min,max\"}}],"
    "\"responses\":{\"200\":{\"description\":\"the buckets\",\"content\":{\"application/json\":"
    "{\"schema\":{\"$ref\":\"#/components/schemas/Aggregates\"}}}},"
    "\"400\":{\"$ref\":\"#/components/responses/Error\"},"
    "\"401\":{\"$ref\":\"#/components/responses/Unauthorized\"},"
    "\"404\":{\"$ref\":\"#/components/responses/Error\"},"
    "\"429\":{\"$ref\":\"#/components/responses/TooManyRequests\"}}}},"
    "\"/v1.1/Datastreams/latest\":{\"get\":{"
    "\"summary\":\"The newest Observation of many Datastreams\","
    "\"description\":\"Constant time per Datastream (the store keeps each stream's latest row)."
    " With ids, those Datastreams in that order (at most 1000); without, every Datastream by"
    " id, a page at a time ($top up to 1000, $skip, @iot.nextLink).\","
    "\"parameters\":["
    "{\"name\":\"ids\",\"in\":\"query\",\"required\":false,"
    "\"schema\":{\"type\":\"string\",\"example\":\"1,2,3\"}},"
    "{\"name\":\"$top\",\"in\":\"query\",\"required\":false,\"schema\":{\"type\":\"integer\"}},"
    "{\"name\":\"$skip\",\"in\":\"query\",\"required\":false,\"schema\":{\"type\":\"integer\"}}],"
    "\"responses\":{\"200\":{\"description\":\"one entry per Datastream\",\"content\":"
    "{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Latest\"}}}},"
    "\"400\":{\"$ref\":\"#/components/responses/Error\"},"
    "\"401\":{\"$ref\":\"#/components/responses/Unauthorized\"},"
    "\"429\":{\"$ref\":\"#/components/responses/TooManyRequests\"}}}},"
    "\"/admin/ingest\":{\"get\":{"
    "\"summary\":\"The ingest's counters (admin keys only)\","
    "\"description\":\"Written by the ingest in its normal commits, about once a second:"
    " what was committed, counted since started_at_us (UTC microseconds of the ingest's"
    " start). received, readings, stored, duplicates, duplicate_observations, quarantined"
    " (and quarantined_CODE per reason), lost_seqs, untracked, filled, commits,"
    " commit_failures, commit_us_avg, commit_us_max, acks_sent, published, publish_failures,"
    " queue_depth, queue_max.\","
    "\"security\":[{\"bearerKey\":[]},{\"headerKey\":[]}],"
    "\"responses\":{\"200\":{\"description\":\"the counters\",\"content\":"
    "{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/IngestCounters\"}}}},"
    "\"401\":{\"$ref\":\"#/components/responses/Unauthorized\"},"
    "\"403\":{\"$ref\":\"#/components/responses/Forbidden\"},"
    "\"429\":{\"$ref\":\"#/components/responses/TooManyRequests\"}}}},"
    "\"/admin/devices\":{\"get\":{"
    "\"summary\":\"Device health by id (admin keys only)\","
    "\"description\":\"Kind, Thing, the newest phenomenonTime of the device's readings, its"
    " last status message (online/offline, fw, battery, signal), its open alerts, and"
    " its delivery state: watermark (highest seq stored with none missing below; null before"
    " its first reading), seqs stored above a gap, since when the gap is open.\","
    "\"parameters\":["
    "{\"name\":\"top\",\"in\":\"query\",\"required\":false,"
    "\"schema\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"default\":100}},"
    "{\"name\":\"after\",\"in\":\"query\",\"required\":false,\"description\":\"only devices"
    " with a greater id (the next page; see @iot.nextLink)\",\"schema\":{\"type\":\"string\"}}],"
    "\"security\":[{\"bearerKey\":[]},{\"headerKey\":[]}],"
    "\"responses\":{\"200\":{\"description\":\"a page of devices\",\"content\":"
    "{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Devices\"}}}},"
    "\"400\":{\"$ref\":\"#/components/responses/Error\"},"
    "\"401\":{\"$ref\":\"#/components/responses/Unauthorized\"},"
    "\"403\":{\"$ref\":\"#/components/responses/Forbidden\"},"
    "\"429\":{\"$ref\":\"#/components/responses/TooManyRequests\"}}}},"
    "\"/admin/quarantine\":{\"get\":{"
    "\"summary\":\"Refused messages with their reasons, newest first (admin keys only)\","
    "\"parameters\":["
    "{\"name\":\"device\",\"in\":\"query\",\"required\":false,\"schema\":{\"type\":\"string\"}},"
    "{\"name\":\"from\",\"in\":\"query\",\"required\":false,\"description\":\"received at"
    " or after\",\"schema\":{\"type\":\"string\",\"format\":\"date-time\"}},"
    "{\"name\":\"to\",\"in\":\"query\",\"required\":false,\"description\":\"received before\","
    "\"schema\":{\"type\":\"string\",\"format\":\"date-time\"}},"
    "{\"name\":\"top\",\"in\":\"query\",\"required\":false,"
    "\"schema\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"default\":100}},"
    "{\"name\":\"before\",\"in\":\"query\",\"required\":false,\"description\":\"only ids"
    " below this one (the next page; see @iot.nextLink)\",\"schema\":{\"type\":\"integer\"}}],"
    "\"security\":[{\"bearerKey\":[]},{\"headerKey\":[]}],"
    "\"responses\":{\"200\":{\"description\":\"a page of quarantined messages\",\"content\":"
    "{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Quarantine\"}}}},"
    "\"400\":{\"$ref\":\"#/components/responses/Error\"},"
    "\"401\":{\"$ref\":\"#/components/responses/Unauthorized\"},"
    "\"403\":{\"$ref\":\"#/components/responses/Forbidden\"},"
    "\"429\":{\"$ref\":\"#/components/responses/TooManyRequests\"}}}}," ALERT_PATHS "},"
    "\"components\":{"
    "\"securitySchemes\":{"
    "\"bearerKey\":{\"type\":\"http\",\"scheme\":\"bearer\",\"description\":\"an API key"
    " from takumi apikey add (tk_...), scopes read, read:raw, write, admin\"},"
    "\"headerKey\":{\"type\":\"apiKey\",\"in\":\"header\",\"name\":\"X-API-Key\","
    "\"description\":\"the same key in its own header\"}},"
    "\"responses\":{\"Error\":{\"description\":\"a JSON error\",\"content\":{\"application/json\":"
    "{\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}},"
    "\"Unauthorized\":{\"description\":\"a wrong or revoked key, or none where one is needed"
    " (code EUNAUTH)\",\"headers\":{\"WWW-Authenticate\":{\"schema\":{\"type\":\"string\","
    "\"example\":\"Bearer realm=\\\"takumi\\\"\"}}},\"content\":{\"application/json\":"
    "{\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}},"
    "\"Forbidden\":{\"description\":\"the key lacks the scope (code EFORBIDDEN)\","
    "\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}},"
    "\"TooManyRequests\":{\"description\":\"over the rate of the key, or of the client address"
    " without one (code ERATE)\",\"headers\":{\"Retry-After\":{\"description\":\"seconds"
    " until a request is served again\",\"schema\":{\"type\":\"integer\",\"minimum\":1}}},"
    "\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}}},"
    "\"schemas\":{"
    "\"Error\":{\"type\":\"object\",\"required\":[\"code\",\"message\"],\"properties\":{"
    "\"code\":{\"type\":\"string\",\"example\":\"EINVAL\"},\"message\":{\"type\":\"string\"},"
    "\"field\":{\"type\":\"string\"}}},"
    "\"Aggregates\":{\"type\":\"object\",\"properties\":{"
    "\"Datastream@iot.id\":{\"type\":\"integer\"},"
    "\"Datastream@iot.navigationLink\":{\"type\":\"string\"},"
    "\"interval\":{\"type\":\"string\"},"
    "\"from\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"to\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"fn\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"value\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"bucket\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"avg\":{\"type\":\"number\",\"nullable\":true},\"min\":{\"type\":\"number\","
    "\"nullable\":true},\"max\":{\"type\":\"number\",\"nullable\":true},"
    "\"sum\":{\"type\":\"number\",\"nullable\":true},\"count\":{\"type\":\"integer\"},"
    "\"resultQuality\":{\"$ref\":\"#/components/schemas/Suppressed\"}}}}}},"
    "\"Suppressed\":{\"type\":\"string\",\"enum\":[\"suppressed\"],\"description\":\"present"
    " when a people or Wi-Fi count under 10 was withheld (its values are null)\"},"
    "\"IngestCounters\":{\"type\":\"object\",\"properties\":{"
    "\"updatedAt\":{\"type\":\"string\",\"format\":\"date-time\",\"nullable\":true},"
    "\"counters\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}}},"
    "\"Devices\":{\"type\":\"object\",\"properties\":{"
    "\"value\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"deviceId\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},"
    "\"transport\":{\"type\":\"string\"},\"Thing@iot.id\":{\"type\":\"integer\"},"
    "\"lastPhenomenonTime\":{\"type\":\"string\",\"format\":\"date-time\",\"nullable\":true},"
    "\"delivery\":{\"type\":\"object\",\"properties\":{"
    "\"watermark\":{\"type\":\"integer\",\"nullable\":true},"
    "\"pendingAboveGap\":{\"type\":\"integer\"},"
    "\"gapSince\":{\"type\":\"string\",\"format\":\"date-time\",\"nullable\":true}}}}}},"
    "\"@iot.nextLink\":{\"type\":\"string\"}}},"
    "\"Quarantine\":{\"type\":\"object\",\"properties\":{"
    "\"value\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"integer\"},\"receivedAt\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"deviceId\":{\"type\":\"string\",\"nullable\":true},"
    "\"topic\":{\"type\":\"string\",\"nullable\":true},"
    "\"code\":{\"type\":\"string\",\"example\":\"ESCHEMA\"},"
    "\"path\":{\"type\":\"string\",\"nullable\":true,\"description\":\"JSON pointer of the"
    " offending field\"},"
    "\"reason\":{\"type\":\"string\",\"nullable\":true},"
    "\"payloadLength\":{\"type\":\"integer\"},"
    "\"payload\":{\"type\":\"string\",\"nullable\":true,\"description\":\"as received when"
    " UTF-8 (first 4096 bytes)\"},"
    "\"payloadHex\":{\"type\":\"string\",\"description\":\"hex, when not UTF-8\"}}}},"
    "\"@iot.nextLink\":{\"type\":\"string\"}}},"
    "\"Latest\":{\"type\":\"object\",\"properties\":{"
    "\"value\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"Datastream@iot.id\":{\"type\":\"integer\"},"
    "\"Datastream@iot.navigationLink\":{\"type\":\"string\"},"
    "\"Observation@iot.id\":{\"type\":\"integer\"},"
    "\"phenomenonTime\":{\"type\":\"string\",\"nullable\":true,\"description\":\"an instant or"
    " start/end\"},"
    "\"resultTime\":{\"type\":\"string\",\"nullable\":true},"
    "\"result\":{\"type\":\"number\",\"nullable\":true},"
    "\"resultQuality\":{\"$ref\":\"#/components/schemas/Suppressed\"}}}},"
    "\"@iot.nextLink\":{\"type\":\"string\"}}}," ALERT_SCHEMAS "}}}";

void api_openapi(struct api_reply *rep)
{
    api_buf_put(&rep->body, doc, sizeof doc - 1);
}
