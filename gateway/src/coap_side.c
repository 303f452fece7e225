/* The CoAP side: coaps (DTLS-PSK) with one PSK identity per device, the device id.
 *
 *   POST /r    one reading or a JSON array of them (Content-Format 50 or none); 2.04 with
 *              {"accepted":N,"duplicates":D} once they are in the spool on disk.
 *              4.03 when a reading's "id" is not the session's identity; 4.00 (with the
 *              parser's "CODE path: rule" as diagnostic payload) for bad JSON or a reading
 *              that breaks the contract; 4.15 for another content format; 4.13 beyond
 *              --payload-max or --readings-max; 5.03 when the spool is full.
 *              The answer carries "ack":W, the platform's watermark, once one is known.
 *   GET /ack   {"seq":W}: the platform's watermark for the device (4.04 before the first).
 *   GET /cfg   the device's configuration as the platform publishes it retained on
 *              city/{kind}/{id}/config (4.04 until one is known); observable (RFC 7641):
 *              observers are notified (confirmable) when it changes.
 *
 * Block-wise transfer (RFC 7959). libcoap 4.3.1 reassembling a body itself
 * (COAP_BLOCK_SINGLE_BODY) allocates whatever Size1 the client declares, per session and
 * Request-Tag, before any handler sees it: an unbounded amount. So libcoap only tracks
 * blocks here (COAP_BLOCK_USE_LIBCOAP: it answers 2.31 and keeps no body) and the handler
 * sees each block: a transfer is refused with 4.13 at the first block whose declared
 * Size1 or end passes --payload-max, and reassembled (per session and Request-Tag) in one
 * of --bodies-max buffers of
 * --payload-max bytes (5.03 when all are busy; a buffer idle for BODY_IDLE_US or whose
 * session closes is freed). Reassembly memory is thus at most bodies_max x payload_max.
 *
 * Plain CoAP is off unless --coap-plain-port is given (tests only); there is no identity
 * then, so the device names itself with the query "id=DEV". */
#include <coap3/coap.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "tk_log.h"
#include "tk_time.h"

#define BODY_IDLE_US (30 * 1000000LL)

/* One block-wise body being reassembled: a session may send several at once, told apart
 * by their Request-Tag (RFC 9175). */
struct body {
    coap_session_t *session; /* owner (NULL: free) */
    uint8_t rtag[8];
    size_t rtag_len;
    unsigned char *buf;      /* payload_max bytes, allocated on first use, kept */
    size_t len;
    int64_t last_us;
};

struct gw_coap {
    const struct gw_coap_env *env;
    coap_context_t *ctx;
    coap_resource_t *cfg_res;
    coap_bin_const_t key; /* handed to libcoap, which copies it at once */
    struct tk_reading *rs;
    struct tk_error *errs;
    struct body *bodies; /* bodies_max */
    int64_t next_sweep_us;
};

static const coap_bin_const_t *psk_for(coap_bin_const_t *identity, coap_session_t *session,
                                       void *arg)
{
    struct gw_coap *c = arg;
    struct gw_device *d;
    (void)session;
    if (!identity || !identity->s ||
        gw_psk_get(c->env->psk, (const char *)identity->s, identity->length, &d) != TK_OK) {
        tk_log(TK_LOG_WARN, "DTLS: unknown PSK identity refused");
        return NULL;
    }
    c->key.s = d->key;
    c->key.length = d->key_len;
    return &c->key;
}

static void reply(coap_pdu_t *response, coap_pdu_code_t code, const char *fmt, ...) TK_PRINTF(3, 4);
static void reply(coap_pdu_t *response, coap_pdu_code_t code, const char *fmt, ...)
{
    char text[320];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof text)
        n = (int)sizeof text - 1;
    coap_pdu_set_code(response, code);
    coap_add_data(response, (size_t)n, (const uint8_t *)text);
}

static void reply_json(coap_pdu_t *response, coap_pdu_code_t code, const char *json, size_t len)
{
    unsigned char cf[4];
    coap_pdu_set_code(response, code);
    coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON), cf);
    coap_add_data(response, len, (const uint8_t *)json);
}

/* The device behind a request: the DTLS identity, or ?id= on plain CoAP. */
static struct gw_device *device_of(struct gw_coap *c, coap_session_t *session,
                                   const coap_string_t *query)
{
    struct gw_device *d = NULL;
    if (coap_session_get_proto(session) == COAP_PROTO_DTLS) {
        const coap_bin_const_t *id = coap_session_get_psk_identity(session);
        if (id && gw_psk_get(c->env->psk, (const char *)id->s, id->length, &d) == TK_OK)
            return d;
        return NULL;
    }
    if (c->env->cfg->coap_plain_port && query && query->length > 3 &&
        memcmp(query->s, "id=", 3) == 0 &&
        gw_psk_get(c->env->psk, (const char *)query->s + 3, query->length - 3, &d) == TK_OK)
        return d;
    return NULL;
}

/* The transfer a block belongs to: its session and Request-Tag (empty if none). */
struct body_key {
    const coap_session_t *session;
    uint8_t rtag[8];
    size_t rtag_len;
};

static struct body_key key_of(const coap_session_t *session, const coap_pdu_t *request)
{
    struct body_key k = {session, {0}, 0};
    coap_opt_iterator_t oi;
    coap_opt_t *opt = coap_check_option(request, COAP_OPTION_RTAG, &oi);
    if (opt && coap_opt_length(opt) <= sizeof k.rtag) {
        k.rtag_len = coap_opt_length(opt);
        memcpy(k.rtag, coap_opt_value(opt), k.rtag_len);
    }
    return k;
}

static struct body *body_of(struct gw_coap *c, const struct body_key *k)
{
    for (int64_t i = 0; i < c->env->cfg->bodies_max; i++) {
        struct body *b = &c->bodies[i];
        if (b->session == k->session && b->rtag_len == k->rtag_len &&
            memcmp(b->rtag, k->rtag, k->rtag_len) == 0)
            return b;
    }
    return NULL;
}

static void body_free(struct body *b)
{
    if (b) {
        b->session = NULL;
        b->len = 0;
    }
}

/* A fresh buffer for the transfer (restarted if it was open); NULL if all are busy. */
static struct body *body_new(struct gw_coap *c, const struct body_key *k, int64_t now)
{
    struct body *b = body_of(c, k);
    for (int64_t i = 0; !b && i < c->env->cfg->bodies_max; i++)
        if (!c->bodies[i].session)
            b = &c->bodies[i];
    if (!b)
        return NULL;
    if (!b->buf && !(b->buf = malloc((size_t)c->env->cfg->payload_max)))
        return NULL;
    b->session = (coap_session_t *)(uintptr_t)k->session;
    memcpy(b->rtag, k->rtag, sizeof b->rtag);
    b->rtag_len = k->rtag_len;
    b->len = 0;
    b->last_us = now;
    return b;
}

/* Format into a reply's text body. */
static void say(struct gw_post_reply *out, unsigned code, const char *fmt, ...) TK_PRINTF(3, 4);
static void say(struct gw_post_reply *out, unsigned code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out->body, sizeof out->body, fmt, ap);
    va_end(ap);
    out->code = code;
    out->json = 0;
    out->len = n < 0 ? 0 : (size_t)n >= sizeof out->body ? sizeof out->body - 1 : (size_t)n;
}

void gw_coap__post(const struct gw_coap_env *env, struct tk_reading *rs, struct tk_error *errs,
                   struct gw_device *d, const uint8_t *data, size_t len,
                   struct gw_post_reply *out)
{
    const struct gw_config *cfg = env->cfg;
    struct gw_stats *stats = env->stats;
    struct tk_error err = {0};
    size_t n = 0, fresh = 0;
    size_t cap = (size_t)cfg->readings_max;
    enum tk_rc rc =
        tk_readings_parse((const char *)data, len, d->kind, NULL, rs, errs, cap, &n, &err);
    if (rc) {
        stats->refused_bad++;
        say(out, rc == TK_EFULL ? COAP_RESPONSE_CODE_REQUEST_TOO_LARGE
                             : COAP_RESPONSE_CODE_BAD_REQUEST,
              "%s %s: %s", tk_rc_name(rc), err.path, err.text);
        goto cleanup;
    }
    /* Identity first: a device may post only its own readings. */
    for (size_t i = 0; i < n; i++)
        if (rs[i].id[0] && strcmp(rs[i].id, d->id) != 0) {
            stats->refused_forbidden++;
            say(out, COAP_RESPONSE_CODE_FORBIDDEN,
                  "reading %zu is device '%s'; this session is '%s'", i, rs[i].id, d->id);
            goto cleanup;
        }
    for (size_t i = 0; i < n; i++)
        if (errs[i].code) {
            stats->refused_bad++;
            say(out, COAP_RESPONSE_CODE_BAD_REQUEST, "%s %s: %s",
                  tk_rc_name(errs[i].code), errs[i].path, errs[i].text);
            goto cleanup;
        }
    /* Readings the platform already acknowledged are resends: answer, do not spool. */
    size_t keep = 0;
    for (size_t i = 0; i < n; i++) {
        if (d->has_watermark && (uint32_t)(d->watermark - rs[i].seq) < 0x80000000u)
            continue;
        if (keep != i) {
            struct tk_reading t = rs[keep];
            rs[keep] = rs[i];
            rs[i] = t;
        }
        keep++;
    }
    int64_t t0 = tk_mono_us();
    rc = keep ? gw_spool_put(env->spool, rs, keep, &fresh) : TK_OK;
    int64_t dt = tk_mono_us() - t0;
    if (keep) {
        stats->spool_commits++;
        stats->commit_us_sum += dt;
        if (dt > stats->commit_us_max)
            stats->commit_us_max = dt;
    }
    if (rc == TK_EFULL) {
        stats->refused_full++;
        say(out, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE,
              "spool full (%lld readings): try again later", (long long)cfg->spool_max);
        goto cleanup;
    }
    if (rc) {
        tk_log(TK_LOG_ERR, "spool: %s (%s)", tk_strerror(rc), gw_spool_errmsg(env->spool));
        say(out, COAP_RESPONSE_CODE_INTERNAL_ERROR, "spool: %s", tk_strerror(rc));
        goto cleanup;
    }
    stats->readings_in += fresh;
    stats->duplicates += n - fresh;
    int bl = d->has_watermark
                 ? snprintf(out->body, sizeof out->body,
                            "{\"accepted\":%zu,\"duplicates\":%zu,\"ack\":%lu}", fresh,
                            n - fresh, (unsigned long)d->watermark)
                 : snprintf(out->body, sizeof out->body, "{\"accepted\":%zu,\"duplicates\":%zu}",
                            fresh, n - fresh);
    out->code = COAP_RESPONSE_CODE_CHANGED;
    out->json = 1;
    out->len = bl < 0 ? 0 : (size_t)bl;
cleanup:
    for (size_t i = 0; i < n; i++)
        tk_reading_clear(&rs[i]);
}

/* A whole body from device d: the answer of gw_coap__post; after a success the forwarder
 * watches the device (its ack topic), so the watermark in later answers stays current. */
static void post_body(struct gw_coap *c, struct gw_device *d, const uint8_t *data, size_t len,
                      coap_pdu_t *response)
{
    struct gw_post_reply out;
    gw_coap__post(c->env, c->rs, c->errs, d, data, len, &out);
    if (out.json) {
        gw_mqtt_watch(c->env->mqtt, d);
        reply_json(response, (coap_pdu_code_t)out.code, out.body, out.len);
    } else {
        reply(response, (coap_pdu_code_t)out.code, "%s", out.body);
    }
}

static void post_r(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *request,
                   const coap_string_t *query, coap_pdu_t *response)
{
    struct gw_coap *c = coap_get_app_data(coap_session_get_context(session));
    const struct gw_config *cfg = c->env->cfg;
    struct gw_stats *stats = c->env->stats;
    size_t len = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    coap_opt_iterator_t oi;
    (void)res;

    struct body_key key = key_of(session, request);
    struct gw_device *d = device_of(c, session, query);
    if (!d) {
        stats->posts++;
        stats->refused_forbidden++;
        reply(response, COAP_RESPONSE_CODE_UNAUTHORIZED, "no device identity");
        return;
    }
    coap_opt_t *opt = coap_check_option(request, COAP_OPTION_CONTENT_FORMAT, &oi);
    if (opt) {
        unsigned cf = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
        if (cf != COAP_MEDIATYPE_APPLICATION_JSON) {
            stats->posts++;
            stats->refused_bad++;
            body_free(body_of(c, &key));
            reply(response, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT,
                  "content format %u: readings are application/json (50)", cf);
            return;
        }
    }
    if (!coap_get_data_large(request, &len, &data, &offset, &total) || len == 0) {
        stats->posts++;
        stats->refused_bad++;
        body_free(body_of(c, &key));
        reply(response, COAP_RESPONSE_CODE_BAD_REQUEST, "EPROTO : empty payload");
        return;
    }
    /* total is the declared Size1, or offset + len (+1 while more blocks follow) */
    if (total > (size_t)cfg->payload_max || offset + len > (size_t)cfg->payload_max) {
        stats->posts++;
        stats->refused_bad++;
        body_free(body_of(c, &key));
        reply(response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE,
              "payload of %zu bytes or more: at most %lld", total > offset + len ? total
              : offset + len, (long long)cfg->payload_max);
        return;
    }
    int more = offset + len < total;
    if (offset == 0 && !more) { /* one datagram */
        stats->posts++;
        body_free(body_of(c, &key));
        post_body(c, d, data, len, response);
        return;
    }
    int64_t now = tk_mono_us();
    struct body *b = offset == 0 ? body_new(c, &key, now) : body_of(c, &key);
    if (offset == 0 && !b) {
        stats->posts++;
        stats->refused_busy++;
        reply(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE,
              "%lld block-wise transfers in progress (--bodies-max): try again later",
              (long long)cfg->bodies_max);
        return;
    }
    if (!b || b->len != offset) {
        stats->posts++;
        stats->refused_bad++;
        reply(response, COAP_RESPONSE_CODE_INCOMPLETE,
              "incomplete body: a block at byte %zu, %zu bytes received before it", offset,
              b ? b->len : 0);
        body_free(b);
        return;
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    b->last_us = now;
    if (more) { /* libcoap answers 2.31 Continue with the Block1 option */
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(231));
        return;
    }
    stats->posts++;
    post_body(c, d, b->buf, b->len, response);
    body_free(b);
}

static int on_event(coap_session_t *session, const coap_event_t event)
{
    if (event == COAP_EVENT_DTLS_CLOSED || event == COAP_EVENT_SESSION_CLOSED ||
        event == COAP_EVENT_DTLS_ERROR || event == COAP_EVENT_SESSION_FAILED) {
        struct gw_coap *c = coap_get_app_data(coap_session_get_context(session));
        for (int64_t i = 0; c && i < c->env->cfg->bodies_max; i++)
            if (c->bodies[i].session == session)
                body_free(&c->bodies[i]);
    }
    return 0;
}

/* The device a GET speaks for, followed by the forwarder from now on; NULL after
 * answering 4.01 when there is none. */
static struct gw_device *getter_device(coap_session_t *session, const coap_string_t *query,
                                       coap_pdu_t *response, struct gw_coap **cp)
{
    struct gw_coap *c = coap_get_app_data(coap_session_get_context(session));
    struct gw_device *d = device_of(c, session, query);
    *cp = c;
    if (!d) {
        reply(response, COAP_RESPONSE_CODE_UNAUTHORIZED, "no device identity");
        return NULL;
    }
    gw_mqtt_watch(c->env->mqtt, d);
    return d;
}

static void get_cfg(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *request,
                    const coap_string_t *query, coap_pdu_t *response)
{
    struct gw_coap *c;
    (void)res;
    (void)request;
    struct gw_device *d = getter_device(session, query, response, &c);
    if (!d)
        return;
    if (!d->has_config) {
        reply(response, COAP_RESPONSE_CODE_NOT_FOUND,
              "no configuration published for %s yet: ask again later", d->id);
        return;
    }
    c->env->stats->notifies++;
    reply_json(response, COAP_RESPONSE_CODE_CONTENT, d->config, d->config_len);
}

void gw_coap_config_changed(struct gw_coap *c)
{
    if (c && c->cfg_res)
        coap_resource_notify_observers(c->cfg_res, NULL);
}

static void get_ack(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *request,
                    const coap_string_t *query, coap_pdu_t *response)
{
    struct gw_coap *c;
    (void)res;
    (void)request;
    struct gw_device *d = getter_device(session, query, response, &c);
    if (!d)
        return;
    if (!d->has_watermark) {
        reply(response, COAP_RESPONSE_CODE_NOT_FOUND, "no ack from the platform yet");
        return;
    }
    char body[32];
    size_t bl = 0;
    if (tk_ack_to_json(d->watermark, body, sizeof body, &bl) != TK_OK)
        return;
    reply_json(response, COAP_RESPONSE_CODE_CONTENT, body, bl);
}

static enum tk_rc listen_on(struct gw_coap *c, int64_t port, coap_proto_t proto)
{
    char portstr[16];
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%lld", (long long)port);
    if (getaddrinfo(c->env->cfg->bind, portstr, &hints, &res) != 0 || !res)
        return TK_EINVAL;
    coap_address_t addr;
    coap_address_init(&addr);
    addr.size = (socklen_t)res->ai_addrlen;
    memcpy(&addr.addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (!coap_new_endpoint(c->ctx, &addr, proto))
        return TK_EIO;
    return TK_OK;
}

enum tk_rc gw_coap_start(const struct gw_coap_env *env, struct gw_coap **out)
{
    const struct gw_config *cfg = env->cfg;
    enum tk_rc rc = TK_ENOMEM;
    struct gw_coap *c = calloc(1, sizeof *c);
    if (!c)
        return TK_ENOMEM;
    c->env = env;
    c->rs = calloc((size_t)cfg->readings_max, sizeof *c->rs);
    c->errs = calloc((size_t)cfg->readings_max, sizeof *c->errs);
    c->bodies = calloc((size_t)cfg->bodies_max, sizeof *c->bodies);
    if (!c->rs || !c->errs || !c->bodies)
        goto cleanup;
    coap_startup();
    coap_set_log_level(cfg->log_level >= 3 ? LOG_INFO : LOG_ERR);
    coap_dtls_set_log_level(cfg->log_level >= 3 ? LOG_INFO : LOG_ERR);
    rc = TK_EIO;
    if (!coap_dtls_is_supported()) {
        tk_log(TK_LOG_ERR, "libcoap has no DTLS support");
        goto cleanup;
    }
    c->ctx = coap_new_context(NULL);
    if (!c->ctx)
        goto cleanup;
    coap_set_app_data(c->ctx, c);
    coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP); /* bodies: see the top */
    coap_register_event_handler(c->ctx, on_event);
    coap_context_set_max_idle_sessions(c->ctx, (unsigned)cfg->sessions_max);
    coap_context_set_max_handshake_sessions(c->ctx, (unsigned)cfg->handshakes_max);
    coap_context_set_session_timeout(c->ctx, (unsigned)cfg->session_timeout_s);

    coap_dtls_spsk_t psk;
    memset(&psk, 0, sizeof psk);
    psk.version = COAP_DTLS_SPSK_SETUP_VERSION;
    psk.validate_id_call_back = psk_for;
    psk.id_call_back_arg = c;
    psk.psk_info.hint.s = (const uint8_t *)"takumi-gateway";
    psk.psk_info.hint.length = strlen("takumi-gateway");
    if (!coap_context_set_psk2(c->ctx, &psk)) {
        tk_log(TK_LOG_ERR, "cannot set up DTLS-PSK");
        goto cleanup;
    }
    if (listen_on(c, cfg->coaps_port, COAP_PROTO_DTLS)) {
        tk_log(TK_LOG_ERR, "cannot listen on coaps://%s:%lld", cfg->bind,
               (long long)cfg->coaps_port);
        goto cleanup;
    }
    if (cfg->coap_plain_port && listen_on(c, cfg->coap_plain_port, COAP_PROTO_UDP)) {
        tk_log(TK_LOG_ERR, "cannot listen on coap://%s:%lld", cfg->bind,
               (long long)cfg->coap_plain_port);
        goto cleanup;
    }
    coap_resource_t *r = coap_resource_init(coap_make_str_const("r"), 0);
    coap_resource_t *a = coap_resource_init(coap_make_str_const("ack"), 0);
    c->cfg_res = coap_resource_init(coap_make_str_const("cfg"), COAP_RESOURCE_FLAGS_NOTIFY_CON);
    if (!r || !a || !c->cfg_res)
        goto cleanup;
    coap_register_handler(r, COAP_REQUEST_POST, post_r);
    coap_register_handler(a, COAP_REQUEST_GET, get_ack);
    coap_register_handler(c->cfg_res, COAP_REQUEST_GET, get_cfg);
    coap_resource_set_get_observable(c->cfg_res, 1);
    coap_add_resource(c->ctx, r);
    coap_add_resource(c->ctx, a);
    coap_add_resource(c->ctx, c->cfg_res);
    rc = TK_OK;
cleanup:
    if (rc) {
        gw_coap_stop(c);
        return rc;
    }
    *out = c;
    return TK_OK;
}

void gw_coap_stop(struct gw_coap *c)
{
    if (!c)
        return;
    if (c->ctx)
        coap_free_context(c->ctx);
    coap_cleanup();
    for (int64_t i = 0; c->bodies && i < c->env->cfg->bodies_max; i++)
        free(c->bodies[i].buf);
    free(c->bodies);
    free(c->rs);
    free(c->errs);
    free(c);
}

void gw_coap_run(struct gw_coap *c, unsigned timeout_ms)
{
    coap_io_process(c->ctx, timeout_ms);
    int64_t now = tk_mono_us();
    if (now < c->next_sweep_us)
        return;
    c->next_sweep_us = now + 1000000;
    for (int64_t i = 0; i < c->env->cfg->bodies_max; i++)
        if (c->bodies[i].session && now - c->bodies[i].last_us > BODY_IDLE_US)
            body_free(&c->bodies[i]);
}
