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
    API_E_N
};

struct api_reply {
    unsigned status;          /* 0 until set */
    const char *content_type; /* static string */
    struct api_buf body;
    const char *allow; /* Allow header for 405, static */
    int gzipped;       /* body is gzip (Content-Encoding) */
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
    const struct api_principal *who;
    /* a request header by name (case-insensitive), NULL if absent */
    const char *(*header)(const struct api_request *req, const char *name);
    void *conn; /* the HTTP connection, for header() */
};

/** Answer a GET under /v1.1 into rep (always a complete reply, error or success). */
void api_sta_handle(const struct api_request *req, struct api_reply *rep);

/* sta_render.c: used by sta.c */
struct api_render {
    const struct api_config *cfg;
    struct store *st;
    struct api_buf *out;
    char errmsg[256]; /* set with a failing rc */
    enum api_err errcls;
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

/* ---- extensions (sta_ext.c, openapi.c) -------------------------------------------- */

#define API_AGG_BUCKETS_MAX 10000 /* buckets in one aggregate reply */
#define API_LATEST_MAX 1000       /* Datastreams in one latest-values reply */

/** Answer the paths beyond the standard (aggregate, latest); 0 if req is not one. */
int api_ext_handle(const struct api_request *req, struct api_reply *rep);
/** The OpenAPI 3 document of the extensions into rep's body. */
void api_openapi(struct api_reply *rep);

/* ---- store connection pool (pool.c) ------------------------------------------------ */

struct api_pool;
/** Open n read-only store connections to uri. */
enum tk_rc api_pool_create(const char *uri, size_t n, struct api_pool **out, char *errbuf,
                           size_t errsize) TK_WUR;
void api_pool_destroy(struct api_pool *p);
/** Take a connection, waiting at most wait_ms; NULL if none became free. */
struct store *api_pool_take(struct api_pool *p, int64_t wait_ms);
void api_pool_give(struct api_pool *p, struct store *st);

/* ---- HTTP server (http.c) ----------------------------------------------------------- */

struct api_server;
/** Start listening (cfg and pool borrowed, must outlive the server). */
enum tk_rc api_server_start(const struct api_config *cfg, struct api_pool *pool,
                            struct api_server **out) TK_WUR;
/** The port bound (useful with --http-port 0). */
unsigned api_server_port(const struct api_server *s);
void api_server_stop(struct api_server *s);

#endif
