#include "coap_link.h"

#include <coap3/coap.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INBOX_MAX 512
#define TOKEN_MAX 8

struct token {
    uint8_t s[TOKEN_MAX];
    size_t len;
};

struct coap_link {
    struct coap_link_opts o;
    char host[256];
    coap_context_t *ctx;
    coap_session_t *session;
    enum fw_net state;
    struct token posts[COAP_LINK_POSTS]; /* outstanding POST /r (len 0: free) */
    struct token cfg_tok, ack_tok;       /* the Observe registration, the last GET /ack */
    int ack_inflight, ack_wanted;
    uint32_t posted_max; /* largest seq posted on any connection */
    int posted_any;
    uint32_t logged_ack; /* the last watermark logged (-v) */
    int logged_any;
    uint64_t next_ack_poll, next_cfg_try; /* monotonic ms */
    int cfg_pending;                      /* GET /cfg to (re)send */
    char ack[INBOX_MAX], cfg[INBOX_MAX];
    size_t ack_len, cfg_len;
    int has_ack, has_cfg;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int coap_link_read_key(const char *path, struct coap_link_opts *o)
{
    char line[256] = "";
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    const char *key = strrchr(line, ' '); /* "KIND KEY" (the gateway's file) or "KEY" */
    key = key ? key + 1 : line;
    size_t n = strlen(key);
    if (!ok || n == 0 || n > sizeof o->key) {
        fprintf(stderr, "takumi-device: %s: want one line with the PSK (1..%zu bytes)\n", path,
                sizeof o->key);
        memset(line, 0, sizeof line);
        return -1;
    }
    memcpy(o->key, key, n);
    o->key_len = n;
    memset(line, 0, sizeof line);
    return 0;
}

static int tok_eq(const struct token *t, coap_bin_const_t b)
{
    return t->len && t->len == b.length && memcmp(t->s, b.s, b.length) == 0;
}

static void set_down(struct coap_link *l, const char *why)
{
    if (l->state != FW_NET_DOWN && l->o.verbose)
        fprintf(stderr, "fw %s: coap: %s\n", l->o.identity, why);
    l->state = FW_NET_DOWN;
    memset(l->posts, 0, sizeof l->posts);
    l->cfg_tok.len = 0;
    l->ack_tok.len = 0;
    l->ack_inflight = 0;
}

static void set_ack(struct coap_link *l, uint32_t seq)
{
    int n = snprintf(l->ack, sizeof l->ack, "{\"seq\":%lu}", (unsigned long)seq);
    if (l->o.verbose && (!l->logged_any || seq != l->logged_ack))
        fprintf(stderr, "fw %s: ack %s\n", l->o.identity, l->ack);
    l->logged_ack = seq;
    l->logged_any = 1;
    l->ack_len = (size_t)n;
    l->has_ack = 1;
    if (!l->posted_any || (int32_t)(seq - l->posted_max) >= 0)
        l->ack_wanted = 0; /* everything posted is covered */
}

/* The value of the last "key":N in buf (the largest seq of a batch is its last). */
static int last_uint(const char *buf, size_t len, const char *key, uint32_t *out)
{
    size_t kl = strlen(key);
    for (size_t i = len; i-- > 0;) {
        if (i + kl > len || memcmp(buf + i, key, kl) != 0)
            continue;
        unsigned long long v = 0;
        size_t j = i + kl, digits = 0;
        while (j < len && buf[j] >= '0' && buf[j] <= '9' && digits < 11) {
            v = v * 10 + (unsigned)(buf[j++] - '0');
            digits++;
        }
        if (digits == 0 || v > 0xffffffffull)
            return -1;
        *out = (uint32_t)v;
        return 0;
    }
    return -1;
}

static coap_pdu_t *request(struct coap_link *l, coap_pdu_code_t code, const char *path,
                           struct token *tok)
{
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, code, coap_new_message_id(l->session),
                                    coap_session_max_pdu_size(l->session));
    if (!pdu)
        return NULL;
    coap_session_new_token(l->session, &tok->len, tok->s);
    if (!coap_add_token(pdu, tok->len, tok->s) ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(path), (const uint8_t *)path)) {
        coap_delete_pdu(pdu);
        tok->len = 0;
        return NULL;
    }
    return pdu;
}

static void send_get(struct coap_link *l, const char *path, struct token *tok, int observe)
{
    struct token t;
    coap_pdu_t *pdu;
    if (observe) {
        /* Observe (6) comes before Uri-Path (11): build it by hand in option order */
        pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET,
                            coap_new_message_id(l->session), coap_session_max_pdu_size(l->session));
        if (!pdu)
            return;
        coap_session_new_token(l->session, &t.len, t.s);
        if (!coap_add_token(pdu, t.len, t.s) ||
            !coap_add_option(pdu, COAP_OPTION_OBSERVE, 0, NULL) ||
            !coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(path), (const uint8_t *)path)) {
            coap_delete_pdu(pdu);
            return;
        }
    } else if (!(pdu = request(l, COAP_REQUEST_CODE_GET, path, &t))) {
        return;
    }
    if (coap_send(l->session, pdu) == COAP_INVALID_MID)
        return;
    *tok = t;
}

static void release_copy(coap_session_t *session, void *app_ptr)
{
    (void)session;
    free(app_ptr);
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd, const coap_mid_t mid)
{
    struct coap_link *l = coap_get_app_data(coap_session_get_context(session));
    coap_bin_const_t tok = coap_pdu_get_token(rcvd);
    coap_pdu_code_t code = coap_pdu_get_code(rcvd);
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    (void)sent;
    (void)mid;
    if (!l || session != l->session)
        return COAP_RESPONSE_OK;
    (void)coap_get_data_large(rcvd, &len, &data, &off, &total);
    int cls = (int)code >> 5, detail = (int)code & 31;
    for (int i = 0; i < COAP_LINK_POSTS; i++) {
        if (!tok_eq(&l->posts[i], tok))
            continue;
        l->posts[i].len = 0;
        uint32_t w;
        if (cls == 2 && data && last_uint((const char *)data, len, "\"ack\":", &w) == 0)
            set_ack(l, w);
        if (cls != 2)
            fprintf(stderr, "fw %s: coap: POST /r: %d.%02d %.*s\n", l->o.identity, cls, detail,
                    (int)(len < 200 ? len : 200), data ? (const char *)data : "");
        /* the watermark follows once the platform stored them: ask in a moment */
        l->next_ack_poll = now_ms() + (uint64_t)l->o.ack_poll_ms;
        return COAP_RESPONSE_OK;
    }
    if (tok_eq(&l->ack_tok, tok)) {
        l->ack_tok.len = 0;
        l->ack_inflight = 0;
        uint32_t w;
        if (cls == 2 && data && last_uint((const char *)data, len, "\"seq\":", &w) == 0)
            set_ack(l, w);
        else if (!l->posted_any)
            l->ack_wanted = 0; /* no watermark yet and nothing posted: nothing to learn */
        return COAP_RESPONSE_OK;
    }
    if (tok_eq(&l->cfg_tok, tok)) {
        if (cls == 2 && data && len <= sizeof l->cfg) {
            memcpy(l->cfg, data, len);
            l->cfg_len = len;
            l->has_cfg = 1;
        } else if (cls != 2) { /* no configuration yet, or refused: ask again later */
            l->cfg_tok.len = 0;
            l->cfg_pending = 1;
            l->next_cfg_try = now_ms() + (uint64_t)l->o.cfg_retry_ms;
            if (l->o.verbose)
                fprintf(stderr, "fw %s: coap: GET /cfg: %d.%02d %.*s\n", l->o.identity, cls,
                        detail, (int)(len < 200 ? len : 200), data ? (const char *)data : "");
        }
        return COAP_RESPONSE_OK;
    }
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent,
                    const coap_nack_reason_t reason, const coap_mid_t mid)
{
    struct coap_link *l = coap_get_app_data(coap_session_get_context(session));
    (void)sent;
    (void)mid;
    if (!l || session != l->session)
        return;
    if (reason == COAP_NACK_TOO_MANY_RETRIES || reason == COAP_NACK_TLS_FAILED ||
        reason == COAP_NACK_NOT_DELIVERABLE || reason == COAP_NACK_RST ||
        reason == COAP_NACK_ICMP_ISSUE)
        set_down(l, "no answer from the gateway: session dropped");
}

static int on_event(coap_session_t *session, const coap_event_t event)
{
    struct coap_link *l = coap_get_app_data(coap_session_get_context(session));
    if (!l || session != l->session)
        return 0;
    if (event == COAP_EVENT_DTLS_CONNECTED && l->state == FW_NET_CONNECTING) {
        l->state = FW_NET_UP;
        l->cfg_pending = 1;
        l->next_cfg_try = 0;
        l->ack_wanted = 1; /* learn the watermark at once */
        l->next_ack_poll = 0;
        if (l->o.verbose)
            fprintf(stderr, "fw %s: coap: DTLS session up\n", l->o.identity);
    } else if (event == COAP_EVENT_DTLS_CLOSED || event == COAP_EVENT_DTLS_ERROR ||
               event == COAP_EVENT_SESSION_FAILED || event == COAP_EVENT_SESSION_CLOSED) {
        set_down(l, "DTLS session closed");
    }
    return 0;
}

/* A context per connection: freeing it is the one way to drop a session that libcoap
 * 4.3.1 has itself half-closed after a DTLS failure without touching freed memory. */
static int new_context(struct coap_link *l)
{
    l->ctx = coap_new_context(NULL);
    if (!l->ctx)
        return -1;
    coap_set_app_data(l->ctx, l);
    coap_context_set_block_mode(l->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(l->ctx, on_response);
    coap_register_nack_handler(l->ctx, on_nack);
    coap_register_event_handler(l->ctx, on_event);
    return 0;
}

struct coap_link *coap_link_create(const struct coap_link_opts *o)
{
    struct coap_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->o = *o;
    snprintf(l->host, sizeof l->host, "%s", o->host);
    coap_startup();
    coap_set_log_level(o->verbose > 1 ? LOG_INFO : LOG_EMERG);
    coap_dtls_set_log_level(o->verbose > 1 ? LOG_INFO : LOG_EMERG);
    if (!coap_dtls_is_supported()) {
        fprintf(stderr, "takumi-device: libcoap has no DTLS support\n");
        coap_link_destroy(l);
        return NULL;
    }
    return l;
}

void coap_link_close(struct coap_link *l)
{
    if (l->ctx) {
        coap_context_t *ctx = l->ctx;
        l->session = NULL; /* events of the closing session are not ours any more */
        l->ctx = NULL;
        coap_free_context(ctx); /* releases the session and everything queued on it */
    }
    set_down(l, "closed");
}

void coap_link_destroy(struct coap_link *l)
{
    if (!l)
        return;
    coap_link_close(l);
    coap_cleanup();
    memset(l->o.key, 0, sizeof l->o.key);
    free(l);
}

enum fw_rc coap_link_connect(struct coap_link *l)
{
    if (l->state != FW_NET_DOWN)
        return FW_OK;
    coap_link_close(l);
    if (new_context(l) != 0)
        return FW_EIO;
    char port[16];
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    snprintf(port, sizeof port, "%d", l->o.port);
    if (getaddrinfo(l->host, port, &hints, &res) != 0 || !res) {
        fprintf(stderr, "fw %s: coap: cannot resolve %s\n", l->o.identity, l->host);
        return FW_EIO;
    }
    coap_address_t dst;
    coap_address_init(&dst);
    dst.size = (socklen_t)res->ai_addrlen;
    memcpy(&dst.addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);

    coap_dtls_cpsk_t psk;
    memset(&psk, 0, sizeof psk);
    psk.version = COAP_DTLS_CPSK_SETUP_VERSION;
    psk.psk_info.identity.s = (const uint8_t *)l->o.identity;
    psk.psk_info.identity.length = strlen(l->o.identity);
    psk.psk_info.key.s = l->o.key;
    psk.psk_info.key.length = l->o.key_len;
    l->state = FW_NET_CONNECTING;
    l->session = coap_new_client_session_psk2(l->ctx, NULL, &dst, COAP_PROTO_DTLS, &psk);
    if (!l->session) {
        coap_link_close(l);
        return FW_EIO;
    }
    /* fail fast: a restarted gateway has forgotten the session, and every request then
     * goes unanswered; a new handshake is the only way back */
    coap_session_set_ack_timeout(l->session, (coap_fixed_point_t){1, 0});
    coap_session_set_max_retransmit(l->session, 3);
    return FW_OK;
}

enum fw_net coap_link_state(struct coap_link *l)
{
    return l->state;
}

enum fw_rc coap_link_publish(struct coap_link *l, enum fw_topic topic, const char *payload,
                             size_t len)
{
    if (l->state != FW_NET_UP)
        return FW_EBUSY;
    if (topic != FW_TOPIC_READING)
        return FW_OK; /* see the top of coap_link.h */
    int slot = -1;
    for (int i = 0; i < COAP_LINK_POSTS && slot < 0; i++)
        if (!l->posts[i].len)
            slot = i;
    if (slot < 0)
        return FW_EBUSY;
    struct token t;
    coap_pdu_t *pdu = request(l, COAP_REQUEST_CODE_POST, "r", &t);
    if (!pdu)
        return FW_EBUSY;
    uint8_t cf[4];
    char *copy = malloc(len ? len : 1);
    if (!copy ||
        !coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                         coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON),
                         cf)) {
        free(copy);
        coap_delete_pdu(pdu);
        return FW_EBUSY;
    }
    memcpy(copy, payload, len);
    if (!coap_add_data_large_request(l->session, pdu, len, (const uint8_t *)copy, release_copy,
                                     copy)) {
        free(copy);
        coap_delete_pdu(pdu);
        return FW_EBUSY;
    }
    if (coap_send(l->session, pdu) == COAP_INVALID_MID)
        return FW_EBUSY; /* libcoap released the copy with the PDU */
    l->posts[slot] = t;
    uint32_t seq;
    if (last_uint(payload, len, "\"seq\":", &seq) == 0 &&
        (!l->posted_any || (int32_t)(seq - l->posted_max) > 0)) {
        l->posted_max = seq;
        l->posted_any = 1;
    }
    l->ack_wanted = 1;
    return FW_OK;
}

enum fw_rc coap_link_poll(struct coap_link *l, enum fw_topic *topic, char *buf, size_t cap,
                          size_t *len)
{
    char *src;
    size_t n;
    if (l->has_cfg) {
        l->has_cfg = 0;
        *topic = FW_TOPIC_CONFIG;
        src = l->cfg;
        n = l->cfg_len;
    } else if (l->has_ack) {
        l->has_ack = 0;
        *topic = FW_TOPIC_ACK;
        src = l->ack;
        n = l->ack_len;
    } else {
        return FW_ENOENT;
    }
    if (n > cap)
        return FW_EFULL;
    memcpy(buf, src, n);
    *len = n;
    return FW_OK;
}

void coap_link_run(struct coap_link *l, unsigned timeout_ms)
{
    if (l->state == FW_NET_UP) {
        uint64_t now = now_ms();
        if (l->cfg_pending && now >= l->next_cfg_try) {
            l->cfg_pending = 0;
            send_get(l, "cfg", &l->cfg_tok, 1);
        }
        if (l->ack_wanted && !l->ack_inflight && now >= l->next_ack_poll) {
            send_get(l, "ack", &l->ack_tok, 0);
            l->ack_inflight = l->ack_tok.len != 0;
            l->next_ack_poll = now + (uint64_t)l->o.ack_poll_ms;
        }
    }
    if (l->ctx) {
        coap_io_process(l->ctx, timeout_ms);
    } else {
        struct timespec ts = {0, (long)timeout_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}
