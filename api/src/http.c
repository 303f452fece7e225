/* The HTTP side, on libmicrohttpd: a daemon with its own epoll thread pool (one thread per
 * --threads, each request served whole on one of them), connection and memory limits,
 * keep-alive (MHD's default for HTTP/1.1), request bodies counted against --body-max.
 *
 * A request is answered on the access handler's last call (after any body): method and
 * path are routed, a store connection is taken from the pool for the request's whole
 * life, and the reply is handed to MHD without copying (MHD frees it). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "tk_log.h"

#define POOL_WAIT_MS 5000
#define CONN_MEMORY 65536 /* per connection: request line and headers must fit */

struct api_server {
    struct MHD_Daemon *d;
    const struct api_config *cfg;
    struct api_pool *pool;
    struct api_access *access;
    unsigned port;
    struct api_live *live; /* set once after the start (atomic access) */
};

#define STREAM_BLOCK 32768 /* bytes asked of a streamed body at a time */

struct conn_state {
    char *body; /* NUL-terminated, up to body-max bytes */
    size_t body_len;
    int too_large;
    int headers_seen;
    int nul_in_path; /* %00 in the path, which libmicrohttpd's decoded URL would stop at */
};

static const struct {
    const char *name;
    enum api_method m;
} methods[] = {
    {MHD_HTTP_METHOD_GET, API_M_GET},     {MHD_HTTP_METHOD_HEAD, API_M_HEAD},
    {MHD_HTTP_METHOD_POST, API_M_POST},   {MHD_HTTP_METHOD_PUT, API_M_PUT},
    {MHD_HTTP_METHOD_PATCH, API_M_PATCH}, {MHD_HTTP_METHOD_DELETE, API_M_DELETE},
};

static enum api_method method_of(const char *name)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(name, methods[i].name) == 0)
            return methods[i].m;
    return API_M_OTHER;
}

static const char *header_of(const struct api_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* The client's address as text ("" if unknown). */
static void client_addr(struct MHD_Connection *c, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
}

struct args {
    struct api_qarg v[API_ARGS_MAX];
    size_t n;
    int overflow;
    int nul; /* a name or value decoded to text with a NUL byte (%00) in it */
    int not_utf8; /* a name or value whose bytes are not UTF-8 (%FF, an overlong %C0%A7) */
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    struct args *a = cls;
    (void)kind;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        a->nul = 1; /* the C string would silently stop at the NUL */
        return MHD_NO;
    }
    /* text the store would compare as bytes (SQLite) or refuse (PostgreSQL): refused here,
     * the same on every store */
    if (!api_utf8_valid(key, key_size) || (value && !api_utf8_valid(value, value_size))) {
        a->not_utf8 = 1;
        return MHD_NO;
    }
    if (a->n == API_ARGS_MAX) {
        a->overflow = 1;
        return MHD_NO;
    }
    a->v[a->n].key = key;
    a->v[a->n].value = value;
    a->n++;
    return MHD_YES;
}

static void handle(struct api_server *s, struct MHD_Connection *c, const char *url,
                   const char *method, const struct conn_state *cs, struct api_reply *rep)
{
    if (cs->too_large) {
        api_reply_error(rep, API_E_TOOLARGE, NULL, "the request body exceeds %lld bytes",
                        (long long)s->cfg->body_max);
        return;
    }
    if (cs->nul_in_path) {
        api_reply_error(rep, API_E_BADREQ, NULL, "the path holds a NUL byte (%%00)");
        return;
    }
    enum api_method m = method_of(method);
    /* the dashboard's static files are public and need no store */
    struct api_request sreq = {
        .cfg = s->cfg, .path = url, .method = m, .header = header_of, .conn = c};
    if (api_static_handle(&sreq, rep))
        return;
    int is_openapi = strcmp(url, "/openapi.json") == 0;
    int is_sta = strncmp(url, "/v1.1", 5) == 0 && (url[5] == '\0' || url[5] == '/');
    int is_ngsi = strncmp(url, "/v2", 3) == 0 && (url[3] == '\0' || url[3] == '/');
    int is_admin = strncmp(url, "/admin/", 7) == 0;
    int is_alerts = api_alerts_path(url); /* also /alerts/stream */
    if (!api_utf8_valid(url, strlen(url))) { /* decoded: an id in /v2/entities/{id} is text */
        api_reply_error(rep, API_E_BADREQ, NULL, "the path is not valid UTF-8");
        return;
    }
    if (!is_openapi && !is_sta && !is_ngsi && !is_admin && !is_alerts) {
        api_reply_error(rep, API_E_NOTFOUND, NULL,
                        "no resource here; the SensorThings API is under /v1.1, NGSI-v2 under"
                        " /v2");
        return;
    }
    struct args a = {.n = 0};
    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    if (a.nul) {
        api_reply_error(rep, API_E_BADREQ, NULL, "a query argument holds a NUL byte (%%00)");
        return;
    }
    if (a.not_utf8) {
        api_reply_error(rep, API_E_BADREQ, NULL, "a query argument is not valid UTF-8");
        return;
    }
    if (a.overflow) {
        api_reply_error(rep, API_E_BADREQ, NULL, "more than %d query arguments", API_ARGS_MAX);
        return;
    }
    int writes = is_sta && (m == API_M_POST || m == API_M_PUT || m == API_M_PATCH || m == API_M_DELETE);
    struct store *st = writes ? api_pool_take_writer(s->pool, POOL_WAIT_MS)
                              : api_pool_take(s->pool, POOL_WAIT_MS);
    if (!st) {
        api_reply_error(rep, API_E_BUSY, NULL, "no store connection free; try again");
        return;
    }
    struct api_principal who = {.anonymous = 1};
    client_addr(c, who.client, sizeof who.client);
    struct api_request req = {.cfg = s->cfg,
                              .st = st,
                              .path = is_sta ? url + 5 : url,
                              .args = a.v,
                              .nargs = a.n,
                              .method = m,
                              .body = cs->body,
                              .body_len = cs->body_len,
                              .who = &who,
                              .header = header_of,
                              .conn = c,
                              .live = __atomic_load_n(&s->live, __ATOMIC_ACQUIRE)};
    if (!api_access_admit(s->access, &req, &who, rep)) {
        /* refused: 401, 429 or 503 */
    } else if (is_openapi) {
        if (m != API_M_GET && m != API_M_HEAD) {
            rep->allow = "GET, HEAD";
            api_reply_error(rep, API_E_METHOD, NULL, "method %.16s is not allowed here", method);
        } else {
            api_openapi(rep);
        }
    } else if (is_admin) {
        api_admin_handle(&req, rep);
    } else if (api_sse_handle(&req, url, rep)) {
        /* an event stream: .../Observations/stream, /alerts/stream */
    } else if (is_alerts) {
        api_alerts_handle(&req, rep);
    } else if (is_ngsi) {
        req.path = url + 3;
        api_ngsi_handle(&req, rep);
    } else {
        api_sta_handle(&req, rep);
    }
    api_pool_give(s->pool, st);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct api_stream *st = cls;
    (void)pos;
    long n = st->read(st, buf, max);
    if (n == API_STREAM_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct api_stream *st = cls;
    st->destroy(st);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct api_reply *rep)
{
    struct MHD_Response *resp;
    if (rep->stream) { /* produced while sent: it deflates itself if it wants to */
        rep->stream->conn = c;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read,
                                                 rep->stream, stream_free);
        if (!resp)
            rep->stream->destroy(rep->stream);
        rep->stream = NULL; /* MHD owns it now */
        if (!resp)
            return MHD_NO;
        if (!rep->status)
            rep->status = 200;
        goto headers;
    }
    api_reply_finish(rep);
    const char *ae =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    if (rep->status == 200 && api_accepts_gzip(ae) && api_reply_gzip(rep))
        api_reply_error(rep, API_E_INTERNAL, NULL, "compressing the response failed");
    if (rep->body.len && rep->body.data) {
        resp =
            MHD_create_response_from_buffer_with_free_callback(rep->body.len, rep->body.data, free);
        if (resp)
            rep->body.data = NULL; /* MHD owns it now */
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
headers:
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    if (rep->gzipped)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    if (rep->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep->allow);
    if (rep->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, rep->location);
    if (rep->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"takumi\"");
    if (rep->retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)rep->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    for (size_t i = 0; i < rep->nheaders; i++)
        MHD_add_response_header(resp, rep->headers[i].name, rep->headers[i].value);
    enum MHD_Result r = MHD_queue_response(c, rep->status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct api_server *s = cls;
    struct conn_state *cs = *con_cls;
    (void)version;
    if (!cs || !cs->headers_seen) { /* headers only so far */
        if (!cs)
            cs = calloc(1, sizeof *cs);
        if (!cs)
            return MHD_NO;
        cs->headers_seen = 1;
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_data_size) { /* a body: kept up to body-max, then only counted */
        size_t n = *upload_data_size;
        if (!cs->too_large && cs->body_len + n <= (size_t)s->cfg->body_max) {
            char *nb = realloc(cs->body, cs->body_len + n + 1);
            if (!nb) {
                cs->too_large = 1;
            } else {
                memcpy(nb + cs->body_len, upload_data, n);
                nb[cs->body_len + n] = '\0';
                cs->body = nb;
            }
        } else {
            cs->too_large = 1;
        }
        cs->body_len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct api_reply rep;
    api_reply_init(&rep, (size_t)s->cfg->reply_max);
    handle(s, c, url, method, cs, &rep);
    enum MHD_Result r = send_reply(c, &rep);
    tk_log(TK_LOG_DEBUG, "%s %s -> %u (%zu bytes%s)", method, url, rep.status, rep.body.len,
           rep.gzipped ? ", gzip" : "");
    api_reply_free(&rep);
    return r;
}

/* The raw request target, before libmicrohttpd decodes it: the connection's state starts here
 * so that a %00 in the path is seen (query arguments are checked with their lengths). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct conn_state *cs = calloc(1, sizeof *cs);
    if (cs) {
        size_t path_len = strcspn(uri, "?");
        for (size_t i = 0; i + 3 <= path_len; i++)
            if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0')
                cs->nul_in_path = 1;
    }
    return cs;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct conn_state *cs = *con_cls;
    if (cs)
        free(cs->body);
    free(cs);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    tk_log(TK_LOG_WARN, "libmicrohttpd: %s", msg);
}

enum tk_rc api_server_start(const struct api_config *cfg, struct api_pool *pool,
                            struct api_server **out)
{
    *out = NULL;
    struct api_server *s = calloc(1, sizeof *s);
    if (!s)
        return TK_ENOMEM;
    s->cfg = cfg;
    s->pool = pool;
    if (api_access_create(cfg, &s->access)) {
        free(s);
        return TK_ENOMEM;
    }

    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    const struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME; /* event streams wait suspended */
    memset(&in4, 0, sizeof in4);
    memset(&in6, 0, sizeof in6);
    if (strchr(cfg->bind, ':')) {
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons((uint16_t)cfg->http_port);
        if (inet_pton(AF_INET6, cfg->bind, &in6.sin6_addr) != 1)
            goto invalid;
        sa = (const struct sockaddr *)&in6;
        flags |= MHD_USE_IPv6;
    } else {
        in4.sin_family = AF_INET;
        in4.sin_port = htons((uint16_t)cfg->http_port);
        if (inet_pton(AF_INET, cfg->bind, &in4.sin_addr) != 1)
            goto invalid;
        sa = (const struct sockaddr *)&in4;
    }
    /* HTTPS through libmicrohttpd's GnuTLS support when a certificate is given */
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    /* one address cannot take every connection (slowloris): the rest are refused at once */
    struct MHD_OptionItem per_ip[] = {
        {cfg->conn_per_ip_max ? MHD_OPTION_PER_IP_CONNECTION_LIMIT : MHD_OPTION_END,
         (intptr_t)cfg->conn_per_ip_max, NULL},
        {MHD_OPTION_END, 0, NULL}};
    if (cfg->tls_cert_pem) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cfg->tls_cert_pem};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, cfg->tls_key_pem};
    }
    /* the logger first, so that MHD's messages about the other options reach it */
    s->d = MHD_start_daemon(
        flags, (uint16_t)cfg->http_port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->conn_max,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
        NULL, MHD_OPTION_ARRAY, tls,
        MHD_OPTION_ARRAY, per_ip, MHD_OPTION_END);
    if (!s->d) {
        api_access_destroy(s->access);
        free(s);
        return TK_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : (unsigned)cfg->http_port;
    *out = s;
    return TK_OK;
invalid:
    api_access_destroy(s->access);
    free(s);
    return TK_EINVAL;
}

void api_server_set_live(struct api_server *s, struct api_live *live)
{
    if (s)
        __atomic_store_n(&s->live, live, __ATOMIC_RELEASE);
}

unsigned api_server_port(const struct api_server *s)
{
    return s ? s->port : 0;
}

void api_server_stop(struct api_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    api_access_destroy(s->access);
    free(s);
}
