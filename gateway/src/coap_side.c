/* The CoAP side: coaps (DTLS-PSK) with one PSK identity per device, the device id.
 *
 *   POST /r    one reading or a JSON array of them (Content-Format 50 or none); 2.04 with
 *              {"accepted":N,"duplicates":D} once they are in the spool on disk.
 *              4.03 when a reading's "id" is not the session's identity; 4.00 (with the
 *              parser's "CODE path: rule" as diagnostic payload) for bad JSON or a reading
 *              that breaks the contract; 4.15 for another content format; 4.13 beyond
 *              --payload-max or --readings-max; 5.03 when the spool is full.
 *   GET /ack   {"seq":W}: the platform's watermark for the device (4.04 before the first).
 *
 * Block-wise transfer (RFC 7959) is reassembled by libcoap (COAP_BLOCK_USE_LIBCOAP |
 * COAP_BLOCK_SINGLE_BODY): the handler sees a whole body. Plain CoAP is off unless
 * --coap-plain-port is given (tests only); there is no identity then, so the device
 * names itself with the query "id=DEV". */
#include <coap3/coap.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "tk_log.h"
#include "tk_time.h"

struct gw_coap {
    const struct gw_coap_env *env;
    coap_context_t *ctx;
    coap_bin_const_t key; /* handed to libcoap, which copies it at once */
    struct tk_reading *rs;
    struct tk_error *errs;
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
                   struct gw_device *d, long cf, const uint8_t *data, size_t len, size_t offset,
                   size_t total, struct gw_post_reply *out)
{
    const struct gw_config *cfg = env->cfg;
    struct gw_stats *stats = env->stats;
    struct tk_error err = {0};
    size_t n = 0, fresh = 0;

    if (cf >= 0 && cf != COAP_MEDIATYPE_APPLICATION_JSON) {
        stats->refused_bad++;
        say(out, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT,
            "content format %ld: readings are application/json (50)", cf);
        return;
    }
    if (!data || len == 0) {
        stats->refused_bad++;
        say(out, COAP_RESPONSE_CODE_BAD_REQUEST, "EPROTO : empty payload");
        return;
    }
    if (total > (size_t)cfg->payload_max) {
        stats->refused_bad++;
        say(out, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE, "payload of %zu bytes: at most %lld", total,
            (long long)cfg->payload_max);
        return;
    }
    if (offset != 0 || len != total) {
        stats->refused_bad++;
        say(out, COAP_RESPONSE_CODE_INCOMPLETE, "incomplete body: %zu of %zu bytes", len, total);
        return;
    }
    size_t cap = (size_t)cfg->readings_max;
    enum tk_rc rc =
        tk_readings_parse((const char *)data, len, d->kind, NULL, rs, errs, cap, &n, &err);
    if (rc) {
        stats->refused_bad++;
        say(out,
            rc == TK_EFULL ? COAP_RESPONSE_CODE_REQUEST_TOO_LARGE : COAP_RESPONSE_CODE_BAD_REQUEST,
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
            say(out, COAP_RESPONSE_CODE_BAD_REQUEST, "%s %s: %s", tk_rc_name(errs[i].code),
                errs[i].path, errs[i].text);
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
    say(out, COAP_RESPONSE_CODE_CHANGED, "{\"accepted\":%zu,\"duplicates\":%zu}", fresh, n - fresh);
    out->json = 1;
cleanup:
    for (size_t i = 0; i < n; i++)
        tk_reading_clear(&rs[i]);
}

static void post_r(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *request,
                   const coap_string_t *query, coap_pdu_t *response)
{
    struct gw_coap *c = coap_get_app_data(coap_session_get_context(session));
    size_t len = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    coap_opt_iterator_t oi;
    struct gw_post_reply out;
    long cf = -1;
    (void)res;
    c->env->stats->posts++;

    struct gw_device *d = device_of(c, session, query);
    if (!d) {
        c->env->stats->refused_forbidden++;
        reply(response, COAP_RESPONSE_CODE_UNAUTHORIZED, "no device identity");
        return;
    }
    coap_opt_t *opt = coap_check_option(request, COAP_OPTION_CONTENT_FORMAT, &oi);
    if (opt)
        cf = (long)coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
    if (!coap_get_data_large(request, &len, &data, &offset, &total))
        data = NULL;
    gw_coap__post(c->env, c->rs, c->errs, d, cf, data, len, offset, total, &out);
    if (out.json) {
        reply_json(response, (coap_pdu_code_t)out.code, out.body, out.len);
        gw_mqtt_watch(c->env->mqtt, d);
    } else {
        coap_pdu_set_code(response, (coap_pdu_code_t)out.code);
        coap_add_data(response, out.len, (const uint8_t *)out.body);
    }
}

static void get_ack(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *request,
                    const coap_string_t *query, coap_pdu_t *response)
{
    struct gw_coap *c = coap_get_app_data(coap_session_get_context(session));
    (void)res;
    (void)request;
    struct gw_device *d = device_of(c, session, query);
    if (!d) {
        reply(response, COAP_RESPONSE_CODE_UNAUTHORIZED, "no device identity");
        return;
    }
    gw_mqtt_watch(c->env->mqtt, d);
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
    if (!c->rs || !c->errs)
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
    coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
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
    if (!r || !a)
        goto cleanup;
    coap_register_handler(r, COAP_REQUEST_POST, post_r);
    coap_register_handler(a, COAP_REQUEST_GET, get_ack);
    coap_add_resource(c->ctx, r);
    coap_add_resource(c->ctx, a);
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
    free(c->rs);
    free(c->errs);
    free(c);
}

void gw_coap_run(struct gw_coap *c, unsigned timeout_ms)
{
    coap_io_process(c->ctx, timeout_ms);
}
