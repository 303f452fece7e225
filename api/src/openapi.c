/* The OpenAPI 3 document served at /openapi.json: what takumi-api offers beyond the
 * SensorThings standard (the aggregation extension, latest values, alerts). Static
 * text, checked as JSON by the integration test. */
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
    ERR_REF("403") "," ERR_REF("404") "}}},"                                                       \
    "\"/admin/devices\":{\"get\":{\"summary\":\"Device health: last status, last reading, open"    \
    " alerts (admin scope)\",\"responses\":{\"200\":{\"description\":\"every device\"},"           \
    ERR_REF("401") "," ERR_REF("403") "}}}"
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
    " one request. Errors are {code, message[, field]} with the HTTP status.\"},"
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
    "\"404\":{\"$ref\":\"#/components/responses/Error\"}}}},"
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
    "\"400\":{\"$ref\":\"#/components/responses/Error\"}}}}," ALERT_PATHS "},"
    "\"components\":{"
    "\"responses\":{\"Error\":{\"description\":\"a JSON error\",\"content\":{\"application/json\":"
    "{\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}}},"
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
    "\"avg\":{\"type\":\"number\"},\"min\":{\"type\":\"number\"},\"max\":{\"type\":\"number\"},"
    "\"sum\":{\"type\":\"number\"},\"count\":{\"type\":\"integer\"}}}}}},"
    "\"Latest\":{\"type\":\"object\",\"properties\":{"
    "\"value\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"Datastream@iot.id\":{\"type\":\"integer\"},"
    "\"Datastream@iot.navigationLink\":{\"type\":\"string\"},"
    "\"Observation@iot.id\":{\"type\":\"integer\"},"
    "\"phenomenonTime\":{\"type\":\"string\",\"nullable\":true,\"description\":\"an instant or"
    " start/end\"},"
    "\"resultTime\":{\"type\":\"string\",\"nullable\":true},"
    "\"result\":{\"type\":\"number\",\"nullable\":true}}}},"
    "\"@iot.nextLink\":{\"type\":\"string\"}}}," ALERT_SCHEMAS "}}}";

void api_openapi(struct api_reply *rep)
{
    api_buf_put(&rep->body, doc, sizeof doc - 1);
}
