/* takumi-api internals: the HTTP data-linkage API (SensorThings API v1.1 over the store).
 *
 * Request flow: http.c (libmicrohttpd) collects method, path and query arguments, takes a
 * store connection from the pool (pool.c), and hands them to the SensorThings handler
 * (sta.c), which parses the path (router.c) and the query options (query.c), reads
 * through store_sta.h and renders entities (sta_render.c) into one struct api_reply.
 * reply.c is the single place that turns an outcome into a status and a JSON body, and
 * that gzips bodies for clients that accept it. */
#ifndef API_H
#define API_H

#include <stddef.h>
#include <stdint.h>

#include "store_sta.h"
#include "tk_error.h"
#include "tk_quantity.h"

/* ---- configuration (main.c fills it from one tk_opt table) ------------------------- */

struct api_config {
    char data_dir[512];
    char db[600];
    char bind[64];
    char base_url[256]; /* without a trailing '/' */
    int64_t http_port;
    int64_t page_max;  /* server-side limit on $top */
    int64_t threads;   /* HTTP worker threads and store connections */
    int64_t reply_max; /* largest response body in bytes */
    int64_t body_max;  /* largest request body in bytes */
    int64_t conn_max;  /* concurrent connections */
    int64_t timeout_s; /* idle connection timeout */
    int64_t log_level;
    int64_t anon_rate;  /* requests per minute per client address without a key; 0: no limit */
    int64_t rate_slots; /* most callers (addresses and keys) the rate limiter tracks */
    char static_dir[512];       /* --static: the dashboard's files ("": not served) */
    char ws_url[256];           /* --ws-url: MQTT over WebSockets as the browser reaches it */
    int64_t ws_port;            /* --ws-port: used when ws_url is "" (0: no live updates) */
    char ws_user[64];           /* --ws-user: the broker's read-only dashboard identity */
    char ws_password_file[600]; /* --ws-password-file (default DATA/secrets/dashboard.pass) */
    /* exports and live push (export.c, sse.c) */
    int64_t export_rows_max; /* rows in one CSV export */
    int64_t exports_max;     /* CSV exports streaming at once */
    int64_t sse_max;         /* Server-Sent Events clients at once */
    int64_t sse_keepalive_s; /* comment line after this long without an event */
    char mqtt_host[256];     /* broker feeding the event streams ("" : no streams) */
    int64_t mqtt_port;
    char mqtt_user[64];
    char mqtt_password_file[600];
    char tls_cert[512];      /* PEM certificate chain file: serve HTTPS ("" : plain HTTP) */
    char tls_key[512];       /* PEM private key file for tls_cert */
    char *tls_cert_pem;      /* owned: contents of tls_cert, read by main (NULL: plain HTTP) */
    char *tls_key_pem;       /* owned: contents of tls_key */
    int64_t conn_per_ip_max; /* concurrent connections from one address (0: no limit) */
};

/* ---- bounded output buffer (reply.c) ------------------------------------------------ */

/* Grows up to max bytes; past that (or on allocation failure) it records err and ignores
 * further writes, so renderers check once at the end (curl's dynbuf). */
struct api_buf {
    char *data; /* owned, NUL-terminated when len > 0 */
    size_t len, cap, max;
    enum tk_rc err; /* TK_EFULL over max, TK_ENOMEM */
};

void api_buf_init(struct api_buf *b, size_t max);
void api_buf_free(struct api_buf *b);
void api_buf_reset(struct api_buf *b);
void api_buf_put(struct api_buf *b, const char *s, size_t n);
void api_buf_puts(struct api_buf *b, const char *s);
void api_buf_printf(struct api_buf *b, const char *fmt, ...) TK_PRINTF(2, 3);
/** 1 if s (n bytes) is valid UTF-8 (no overlong forms, nothing above U+10FFFF), else 0. */
int api_utf8_valid(const void *s, size_t n);
/** s (n bytes) as a quoted JSON string. */
void api_buf_json_str(struct api_buf *b, const char *s, size_t n);
void api_buf_i64(struct api_buf *b, int64_t v);
/** d as the shortest JSON number (null for NaN and infinities). */
void api_buf_num(struct api_buf *b, double d);
/** UTC microseconds as RFC 3339 ("2026-11-26T00:00:00.000000Z"), unquoted. */
void api_buf_time(struct api_buf *b, int64_t us);
/** Percent-encode s for a URL path or query (keeps unreserved and "/()$',:@"; in a query
 *  component also encodes '&', '=', '+' and '#'). */
void api_buf_url(struct api_buf *b, const char *s, int query_component);
/** The start of every SensorThings link: cfg's base URL as api_buf_url writes it, then
 *  "/v1.1/", written once per request to out (NUL-terminated); returns its length. */
#define API_LINK_PREFIX_MAX (3 * sizeof(((struct api_config *)0)->base_url) + 8)
size_t api_link_prefix(const struct api_config *cfg, char out[API_LINK_PREFIX_MAX]);

/* ---- replies (reply.c) ------------------------------------------------------------ */

enum api_err {
    API_E_BADREQ = 0, /* 400: bad path syntax or query option */
    API_E_NOTFOUND,   /* 404 */
    API_E_METHOD,     /* 405 */
    API_E_TOOLARGE,   /* 413: request body over body-max */
    API_E_REPLYMAX,   /* 500: response over reply-max */
    API_E_NOTIMPL,    /* 501 */
    API_E_BUSY,       /* 503: no store connection in time, database busy */
    API_E_DB,         /* 500: store error */
    API_E_INTERNAL,   /* 500 */
    API_E_UNAUTH,     /* 401: a wrong or revoked key, or none where one is needed */
    API_E_FORBIDDEN,  /* 403: the key lacks the scope */
    API_E_RATE,       /* 429: over the caller's rate limit */
    API_E_CONFLICT,   /* 409: e.g. an Observation at a phenomenonTime its Datastream has */
    API_E_N
};

#define API_REPLY_HEADERS_MAX 6

struct api_reply {
    unsigned status;          /* 0 until set */
    const char *content_type; /* static string */
    struct api_buf body;
    const char *allow; /* Allow header for 405, static */
    int gzipped;       /* body is gzip (Content-Encoding) */
    int64_t retry_after_s; /* > 0: a Retry-After header (429) */
    char location[512]; /* Location header (201 Created); "" for none */
    size_t nheaders;   /* further response headers (api_reply_header) */
    struct {
        const char *name; /* static */
        char value[256];
    } headers[API_REPLY_HEADERS_MAX];
    /* a body produced while it is sent instead of body (CSV exports, event streams) */
    struct api_stream *stream;
};

/* A streamed body: http.c hands it to libmicrohttpd as a callback response and destroys
 * it when the connection is done with it. */
#define API_STREAM_END (-1)  /* nothing more: the body is complete */
#define API_STREAM_FAIL (-2) /* abort the transfer (the client sees it incomplete) */
struct api_stream {
    /** Copy up to max bytes into buf: the count, API_STREAM_END or API_STREAM_FAIL; 0 only
     *  after the stream suspended its connection (resumed when it has more). */
    long (*read)(struct api_stream *s, char *buf, size_t max);
    void (*destroy)(struct api_stream *s);
    void *conn; /* the HTTP connection (set by http.c before the first read) */
};

void api_reply_init(struct api_reply *r, size_t max);
void api_reply_free(struct api_reply *r);
/** Replace whatever the reply holds by a JSON error body {"code","message"[,"field"]}
 *  with the status of e (from the one table in reply.c). field may be NULL. */
void api_reply_error(struct api_reply *r, enum api_err e, const char *field, const char *fmt, ...)
    TK_PRINTF(4, 5);
/** The error class for a store or internal return code. */
enum api_err api_err_of_rc(enum tk_rc rc);
unsigned api_err_status(enum api_err e);
/** 1 if an Accept-Encoding header value (may be NULL) accepts gzip. */
int api_accepts_gzip(const char *accept_encoding);
/** Gzip the body in place when it is worth it (>= 256 bytes); sets gzipped. */
enum tk_rc api_reply_gzip(struct api_reply *r) TK_WUR;
/** Add a response header (name static, value formatted; longer than 255 bytes or past
 *  API_REPLY_HEADERS_MAX: not added, and the reply becomes a 500). api_reply_error drops
 *  the headers added before it. */
void api_reply_header(struct api_reply *r, const char *name, const char *fmt, ...) TK_PRINTF(3, 4);
/** Before sending: turn a buffer error into a JSON error reply. */
void api_reply_finish(struct api_reply *r);

/* ---- query options (query.c) -------------------------------------------------------- */

#define API_NAME_MAX 64
#define API_SELECT_MAX 24
#define API_ORDER_MAX STORE_STA_ORDER_MAX
#define API_EXPAND_MAX 8
#define API_EXPAND_DEPTH_MAX 3
#define API_ARGS_MAX 32

struct api_qarg {
    const char *key;   /* borrowed */
    const char *value; /* borrowed; NULL for "?$count" without '=' */
};

struct api_order {
    char name[API_NAME_MAX];
    int desc;
};

struct api_query;
struct api_filter;

struct api_expand {
    char name[API_NAME_MAX]; /* navigation property */
    struct api_query *q;     /* new (owned by the parent query): its nested options */
};

struct api_query {
    int has_top, has_skip, has_count;
    int64_t top, skip;
    int count;
    size_t nselect;
    char select[API_SELECT_MAX][API_NAME_MAX];
    size_t norder;
    struct api_order order[API_ORDER_MAX];
    size_t nexpand;
    struct api_expand expand[API_EXPAND_MAX];
    struct api_filter *filter; /* $filter, new (owned): parsed, names resolved by
                                  api_sta_validate */
    int data_array;            /* $resultFormat=dataArray */
    int csv;                   /* $resultFormat=CSV (export.c) */
    int geojson;               /* $resultFormat=GeoJSON (export.c) */
};

/** Parse the query options of a request. Options not starting with '$' are ignored (custom
 *  options); unknown or repeated $-options and bad values fail with TK_EINVAL, err->path
 *  naming the option ("$top") and err->text the rule. Free with api_query_free. */
enum tk_rc api_query_parse(const struct api_qarg *args, size_t n, struct api_query *q,
                           struct tk_error *err) TK_WUR;
/** Parse nested options "$top=2;$select=name" (the text inside $expand's parentheses). */
enum tk_rc api_query_parse_nested(const char *s, size_t len, struct api_query *q, int depth,
                                  struct tk_error *err) TK_WUR;
/** Free what q owns (nested queries); q itself is the caller's. NULL does nothing. */
void api_query_free(struct api_query *q);

/* ---- $filter (filter.c) ---------------------------------------------------------------- */

#define API_FILTER_LEN_MAX 4096

/** Parse a $filter text into a tree (new, free with api_filter_free). TK_EINVAL with
 *  err->path "$filter" and err->text ending in "at position N" (N counts characters from
 *  0); TK_ENOMEM. Never reads past len; any input is safe. */
enum tk_rc api_filter_parse(const char *s, size_t len, struct api_filter **out,
                            struct tk_error *err) TK_WUR;
/** Resolve the filter's property paths for entity e and check its types (a string
 *  literal compared with a date-time is read as one). TK_EINVAL with a position. */
enum tk_rc api_filter_resolve(struct api_filter *f, enum store_sta_entity e,
                              struct tk_error *err) TK_WUR;
/** The tree for store_sta_query.filter (borrowed from f); NULL for a NULL f. */
const struct store_sta_filter *api_filter_tree(const struct api_filter *f);
void api_filter_free(struct api_filter *f);

/* ---- entity names and the router (router.c) ---------------------------------------- */

/** "Things", "Locations", ... (NULL for a bad e). */
const char *api_set_name(enum store_sta_entity e);
/** The navigation property from e to to ("Datastreams", "Thing"), NULL if none. */
const char *api_nav_name(enum store_sta_entity e, enum store_sta_entity to);
/** The entity a navigation property of e leads to; *card 1 (to one) or 2 (to many).
 *  -1 if e has no such navigation property. */
int api_nav_find(enum store_sta_entity e, const char *name, size_t len, int *card);
/** Index of a property of e by its name ("id" and "@iot.id" are 0); -1 if none. */
int api_prop_find(enum store_sta_entity e, const char *name, size_t len);

enum api_target {
    API_T_ROOT = 0,   /* /v1.1 */
    API_T_COLLECTION, /* /Things, /Things(1)/Datastreams */
    API_T_ENTITY,     /* /Things(1), /Datastreams(1)/Thing */
    API_T_PROPERTY,   /* /Things(1)/name */
    API_T_VALUE,      /* /Things(1)/name/$value */
};

#define API_STEPS_MAX 6

struct api_step {
    enum store_sta_entity entity;
    int card; /* from the step before: 1 to one, 2 to many; 0 for the first */
    int has_id;
    int64_t id;
};

struct api_route {
    enum api_target target;
    int ref; /* ended in /$ref */
    size_t nsteps;
    struct api_step steps[API_STEPS_MAX];
    int prop; /* API_T_PROPERTY, API_T_VALUE: property index of the last step's entity */
};

/** Parse a resource path below /v1.1 ("" or "/" is the service root). TK_ENOTFOUND for a
 *  path that names nothing, TK_EINVAL for bad syntax (an id that is not an integer);
 *  err->text says which segment. */
enum tk_rc api_route_parse(const char *path, struct api_route *r, struct tk_error *err) TK_WUR;

/* ---- SensorThings handler (sta.c, sta_render.c) ------------------------------------ */

enum api_method {
    API_M_GET = 0,
    API_M_HEAD,
    API_M_POST,
    API_M_PUT,
    API_M_PATCH,
    API_M_DELETE,
    API_M_OTHER,
};

/* Scopes of an API key (SPEC section 5); anonymous callers have none of them. */
enum api_scope {
    API_SCOPE_READ = 1u << 0,
    API_SCOPE_RAW = 1u << 1, /* read:raw */
    API_SCOPE_WRITE = 1u << 2,
    API_SCOPE_ADMIN = 1u << 3,
};

/* Who is asking: filled by the access layer before a handler runs. */
struct api_principal {
    int anonymous;      /* no key presented */
    unsigned scopes;    /* enum api_scope bits */
    int64_t key_id;     /* 0 when anonymous */
    char owner[64];     /* the key's owner (firm, team); "" when anonymous */
    char client[64];    /* the client's address, for per-address limits and logs */
};

struct api_request {
    const struct api_config *cfg;
    struct store *st;
    const char *path; /* below /v1.1, decoded */
    const struct api_qarg *args;
    size_t nargs;
    enum api_method method;
    const char *body; /* request body (POST, PUT, PATCH), NUL-terminated; NULL if none */
    size_t body_len;
    const struct api_principal *who; /* never NULL: anonymous has .anonymous = 1 */
    /* a request header by name (case-insensitive), NULL if absent */
    const char *(*header)(const struct api_request *req, const char *name);
    void *conn;            /* the HTTP connection, for header() */
    struct api_live *live; /* shared state of exports and event streams (NULL in tests) */
};

/* ---- access control (access.c, privacy.c) -------------------------------------------
 * Every request passes api_access_admit before any handler: a key in
 * "Authorization: Bearer KEY" or "X-API-Key: KEY" is looked up in the store on every
 * request (a revocation counts from the next one); a wrong or revoked key is 401. Then the
 * caller's token bucket is charged: per key at the key's rate, per client address at
 * --anon-rate without one; over it, 429 with Retry-After. Handlers then ask for the scope
 * they need with api_require, and pass every observation value they publish through
 * api_suppress. */

/* The scopes a principal holds are the granted ones widened: admin holds every scope,
 * and write and read:raw also hold read. */
#define API_SCOPE_ALL 15u

struct api_access;
/** The rate limiter for cfg (borrowed, must outlive it). New, free with api_access_destroy. */
enum tk_rc api_access_create(const struct api_config *cfg, struct api_access **out) TK_WUR;
void api_access_destroy(struct api_access *a);
/** Identify the caller of req (who->client already set) into *who and charge its bucket.
 *  1: the request may go on. 0: rep holds the refusal (401 with WWW-Authenticate, 429
 *  with Retry-After, 503 when the store is busy). Never logs the key. */
int api_access_admit(struct api_access *a, const struct api_request *req,
                     struct api_principal *who, struct api_reply *rep);
/** 1 if req's caller holds scope (enum api_scope); else rep holds 401 (no key) or 403
 *  (a key without it) and 0 is returned. */
int api_require(const struct api_request *req, unsigned scope, struct api_reply *rep);

/* A token bucket (access.c): holds up to a minute's worth of requests, refilled
 * continuously at rate_per_min. */
struct api_bucket {
    double tokens;
    int64_t last_us; /* 0: never used (full) */
};
/** Take one request from b at now_us. 1 if allowed; else 0 with *retry_s, the whole
 *  seconds (>= 1) until one is available again. */
int api_bucket_take(struct api_bucket *b, int64_t rate_per_min, int64_t now_us, int64_t *retry_s);

/** A bounded table of buckets by name ("a:ADDRESS", "k:ID"), safe across threads. When
 *  the probed slots are all taken, the bucket with the most tokens is reused: a full
 *  bucket is the same as a new one, so only a flood of distinct callers can reset one. */
struct api_limiter;
enum tk_rc api_limiter_create(size_t slots, struct api_limiter **out) TK_WUR;
void api_limiter_destroy(struct api_limiter *l);
int api_limiter_take(struct api_limiter *l, const char *name, int64_t rate_per_min, int64_t now_us,
                     int64_t *retry_s);

/* The privacy rule of SPEC section 5: Wi-Fi (wifi_ap) and people (people_flow) counts under
 * API_SUPPRESS_BELOW in one interval are not published to anonymous callers nor to keys
 * without read:raw (admin holds it). The value becomes JSON null and the observation (or
 * aggregate bucket, or latest value) carries "suppressed": true (see docs/api.md,
 * "Access"). Every place observation values leave the API (entities, $expand, dataArray,
 * latest values, aggregates, and any export: CSV, GeoJSON, NGSI) asks this one function. */
#define API_SUPPRESS_BELOW TK_PRIVATE_COUNT_BELOW
/** 1 if value, of a Datastream measuring quantity (enum tk_quantity; -1 when the
 *  Datastream has none), must be withheld from who; 0 to publish it. */
int api_suppress(const struct api_principal *who, int quantity, double value);
/** 1 if values of quantity may ever be withheld from who. */
int api_suppress_applies(const struct api_principal *who, int quantity);
/** api_suppress for a value of the ObservedProperty named property ("people_in"); 0 for a
 *  name that is not one of the platform's quantities. */
int api_suppress_named(const struct api_principal *who, const char *property, double value);
/** The same rule for a query the store runs (store_sta_query.withhold): set it on every
 *  query of Observations made for who, so that rows, $filter and $orderby see withheld
 *  results as null. Rows then say which results were withheld (row[n + 1]). */
struct store_sta_withhold api_withhold(const struct api_principal *who);
/** Tell store connection st whom its reads and writes are for (firm-private data,
 *  store_sta_viewer_set): admin keys see and may change everything, other keys their
 *  owner's private Things, anonymous callers no private Thing. */
void api_viewer_set(struct store *st, const struct api_principal *who);
/* The marker next to a withheld value: "resultQuality": API_SUPPRESSED_MARK. */
#define API_SUPPRESSED_MARK "suppressed"


/** ,"@iot.nextLink":"..." for the request with $skip moved on by top (other options kept). */
void api_next_link(const struct api_request *req, struct api_buf *b, int64_t top, int64_t skip);
/** Answer a GET under /v1.1 into rep (always a complete reply, error or success). */
void api_sta_handle(const struct api_request *req, struct api_reply *rep);

/* sta_render.c: used by sta.c */
struct api_render {
    const struct api_config *cfg;
    struct store *st;
    const struct api_principal *who; /* the caller, for the privacy rule */
    struct api_buf *out;
    char errmsg[256]; /* set with a failing rc */
    enum api_err errcls;
    /* worked out at the first entity and kept for the request's others */
    char link[API_LINK_PREFIX_MAX]; /* api_link_prefix; link_len 0 until then */
    size_t link_len;
    const char *nav[STORE_STA_N]; /* api_nav_name of nav_e, once nav_ok */
    enum store_sta_entity nav_e;
    int nav_ok;
};
/** Check that q's $select, $orderby and $expand name things e has (recursively).
 *  API_E_BADREQ with a message in ro->errmsg otherwise. */
enum tk_rc api_sta_validate(struct api_render *ro, enum store_sta_entity e,
                            const struct api_query *q, const char **field) TK_WUR;
/** Fill sq's order from q's $orderby (validated). */
void api_sta_order(enum store_sta_entity e, const struct api_query *q, struct store_sta_query *sq);
/** Render one entity row as a JSON object with its links, $select and $expand. */
enum tk_rc api_sta_render_entity(struct api_render *ro, enum store_sta_entity e,
                                 const struct store_sta_value *row, size_t n,
                                 const struct api_query *q, int depth) TK_WUR;
/** Render a property value as JSON. */
void api_sta_render_value(struct api_buf *b, const struct store_sta_value *v);

/* ---- operator writes (sta_write.c) --------------------------------------------------- */

#define API_DEEP_MAX 256 /* entities created by one request (deep insert) */
#define API_CREATE_OBS_ROWS_MAX 10000 /* rows of one CreateObservations request */

/** Answer a POST, PUT, PATCH or DELETE under /v1.1: create (with deep insert, all or
 *  nothing), update, delete with the standard's cascades, and /CreateObservations. Needs
 *  req->st writable (api_pool_take_writer) and a caller with the write or admin scope. */
void api_sta_write(const struct api_request *req, struct api_reply *rep);

/* ---- extensions (sta_ext.c, openapi.c) -------------------------------------------- */

#define API_AGG_BUCKETS_MAX 10000 /* buckets in one aggregate reply */
#define API_LATEST_MAX 1000       /* Datastreams in one latest-values reply */

/** The value of query argument key ("" for "?key" without '='), NULL if absent; *seen
 *  counts how often it was given. */
const char *api_arg(const struct api_request *req, const char *key, int *seen);
/** Answer the paths beyond the standard (aggregate, latest); 0 if req is not one. */
int api_ext_handle(const struct api_request *req, struct api_reply *rep);
/** The OpenAPI 3 document of the extensions into rep's body. */
void api_openapi(struct api_reply *rep);

/* ---- operator view (admin_view.c), for keys with the admin scope ----------------------
 *   GET /admin/ingest                      the ingest's counters, as last committed
 *   GET /admin/quarantine[?device=&from=&to=&top=&before=]   refused messages, newest first
 *   GET /admin/devices[?top=&after=]       device health: delivery state, newest reading */
#define API_QUARANTINE_TOP 100 /* default page */
#define API_QUARANTINE_MAX 1000
/** Answer a request under /admin/ (req->path is the whole path) into rep. */
void api_admin_handle(const struct api_request *req, struct api_reply *rep);
/* ---- the dashboard (static.c, dashcfg.c) ------------------------------------------- */

/** Answer "/" (a redirect), "/dashboard" and everything below it from cfg->static_dir: GET
 *  and HEAD, content types by extension, no path outside the directory, a precompressed
 *  FILE.gz for clients that accept gzip, ETag/If-None-Match and Cache-Control. req->path
 *  is the whole decoded URL path. Returns 0 (rep untouched) when the path is not one of
 *  these or no static directory is configured. */
int api_static_handle(const struct api_request *req, struct api_reply *rep);
/** The page's settings (/dashboard/config.json): the API base path, the MQTT WebSocket URL
 *  and the read-only dashboard identity with its password (public by design: that
 *  identity may only read observations and alerts). */
void api_dashboard_config(const struct api_request *req, struct api_reply *rep);

/* ---- alerts (alerts.c, docs/alerts.md) ---------------------------------------------- */

/** 1 if url is one of the alert paths (/alerts...). */
int api_alerts_path(const char *url);
/** Answer an alert path (req->path is the whole URL path) into rep. */
void api_alerts_handle(const struct api_request *req, struct api_reply *rep);
/** The alert side of device d's health in the operator view: ,"status":...,"openAlerts":[...] */
enum tk_rc api_alerts_device_health(const struct api_request *req, struct api_buf *b,
                                    const struct store_device *d) TK_WUR;
/* ---- exports, live push, NGSI-v2 (export.c, things.c, sse.c, ngsi.c) ----------------- */

/* The privacy rule in the outputs: CSV sets the query's withhold (api_withhold), GeoJSON
 * and NGSI-v2 write null and event streams leave the event out when api_suppress_named
 * answers 1 for a value of the named ObservedProperty. */

/** $resultFormat=CSV of the collection q selects: a streamed reply (its own store
 *  connection, rows read in chunks, deflated when gzip is accepted). */
void api_export_csv(const struct api_request *req, struct api_reply *rep, const struct api_query *q,
                    const struct store_sta_query *sq);
/** $resultFormat=GeoJSON of Things: a FeatureCollection with Locations and latest values. */
void api_export_geojson(const struct api_request *req, struct api_reply *rep,
                        const struct api_query *q, const struct store_sta_query *sq);

#define API_THING_DS_MAX 32 /* Datastreams shown per Thing (GeoJSON, NGSI-v2) */

/* A Thing as the outputs that show "a device and its latest values" need it. */
struct api_thing_ds {
    int64_t id;
    char name[128];
    char property[64]; /* ObservedProperty name */
    char *unit;        /* unitOfMeasurement JSON, new */
    int found;         /* has an Observation */
    struct store_point latest;
};

struct api_thing_view {
    int64_t id;
    char name[128];
    char kind[64];     /* properties.kind, "" if none */
    char *description; /* new */
    char *properties;  /* JSON, new (NULL if none) */
    char *geometry;    /* GeoJSON geometry of its first Location, new (NULL if none) */
    int64_t location_id;
    size_t nds;
    struct api_thing_ds ds[API_THING_DS_MAX];
};

/** Fill v from a Thing row (store_sta_props order): Location, Datastreams with their
 *  ObservedProperty and latest Observation. Free with api_thing_view_free. */
enum tk_rc api_thing_view_load(struct store *st, const struct store_sta_value *row, size_t n,
                               struct api_thing_view *v) TK_WUR;
void api_thing_view_free(struct api_thing_view *v);

/** NGSI-v2 read-only view under /v2 (path below /v2); always a complete reply. */
void api_ngsi_handle(const struct api_request *req, struct api_reply *rep);

/* Live state shared by the HTTP workers: export slots and the event hub (sse.c). */
struct api_live;
/** Create the hub; when cfg->mqtt_host is set, subscribe (Paho MQTTAsync, the read-only
 *  dashboard identity) to v1.1/+/Observations and city/alerts/+. */
enum tk_rc api_live_start(const struct api_config *cfg, struct api_live **out) TK_WUR;
/** End every event stream (their connections are resumed and finish): before stopping
 *  the HTTP server. */
void api_live_close_streams(struct api_live *l);
/** Disconnect and free (after the HTTP server stopped); NULL does nothing. */
void api_live_stop(struct api_live *l);
/** Take / give back a CSV export slot (at most cfg->exports_max at once). */
int api_live_export_take(struct api_live *l);
void api_live_export_give(struct api_live *l);
/** Answer the event-stream paths (GET .../stream, /alerts/stream); 0 if path is not one.
 *  path is the full URL path. */
int api_sse_handle(const struct api_request *req, const char *path, struct api_reply *rep);

/* ---- store connection pool (pool.c) ------------------------------------------------ */

struct api_pool;
/** Open n read-only store connections to uri. */
enum tk_rc api_pool_create(const char *uri, size_t n, struct api_pool **out, char *errbuf,
                           size_t errsize) TK_WUR;
void api_pool_destroy(struct api_pool *p);
/** Take a connection, waiting at most wait_ms; NULL if none became free. */
struct store *api_pool_take(struct api_pool *p, int64_t wait_ms);
/** Give back a connection from api_pool_take or api_pool_take_writer. */
void api_pool_give(struct api_pool *p, struct store *st);
/** Take the one writable connection (opened at the first call; writes are serialised
 *  through it), waiting at most wait_ms; NULL if it stayed busy or cannot be opened. */
struct store *api_pool_take_writer(struct api_pool *p, int64_t wait_ms);

/* ---- HTTP server (http.c) ----------------------------------------------------------- */

struct api_server;
/** Start listening (cfg and pool borrowed, must outlive the server). */
enum tk_rc api_server_start(const struct api_config *cfg, struct api_pool *pool,
                            struct api_server **out) TK_WUR;
/** Hand the live state (exports, event streams) to the server's requests (borrowed). */
void api_server_set_live(struct api_server *s, struct api_live *live);
/** The port bound (useful with --http-port 0). */
unsigned api_server_port(const struct api_server *s);
void api_server_stop(struct api_server *s);

#endif
