/* gw-load: CoAP load on takumi-gateway for bench/gateway.py (not a test).
 *
 *   gw-load --port N --devices D --prefix P --seconds S [--psk-dir DIR | --plain]
 *           [--inflight K] [--batch B] [--seq-file F] [--host H]
 *
 * D devices P-00000.., each its own session (DTLS-PSK with the key from DIR/<id>, or plain
 * CoAP naming itself with ?id=), post confirmable POST /r with B readings each (the
 * firmware's encoding: RFC 3339 time, distance and battery), at most K outstanding per
 * device, for S seconds after every DTLS handshake is done (sessions are kept: the rate
 * is of requests, not handshakes). --seq-file keeps each device's next seq between runs
 * (no gaps, no repeats: the platform's watermark follows). Prints one JSON line: readings acknowledged (2.04) per
 * second, posts, refusals, timeouts, the next seq per device. */
#include <coap3/coap.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dev {
    char id[64];
    uint8_t key[64];
    size_t key_len;
    coap_session_t *s;
    int inflight, up;
    unsigned seq;
};

struct load {
    struct dev *d;
    int n, inflight_max, batch, plain;
    unsigned long long posts, ok_readings, refused, nacks;
    int connected;
};

static struct load L;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd, const coap_mid_t mid)
{
    struct dev *d = coap_session_get_app_data(s);
    (void)sent;
    (void)mid;
    if (!d)
        return COAP_RESPONSE_OK;
    d->inflight--;
    if (coap_pdu_get_code(rcvd) == COAP_RESPONSE_CODE_CHANGED)
        L.ok_readings += (unsigned long long)L.batch;
    else
        L.refused++;
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t r,
                    const coap_mid_t mid)
{
    struct dev *d = coap_session_get_app_data(s);
    (void)sent;
    (void)r;
    (void)mid;
    if (d && d->inflight > 0)
        d->inflight--;
    L.nacks++;
}

static int on_event(coap_session_t *s, const coap_event_t e)
{
    struct dev *d = coap_session_get_app_data(s);
    if (d && e == COAP_EVENT_DTLS_CONNECTED && !d->up) {
        d->up = 1;
        L.connected++;
    }
    return 0;
}

static int read_key(const char *dir, struct dev *d)
{
    char path[1200], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, d->id);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(line, sizeof line, f)) {
        perror(path);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    const char *k = strrchr(line, ' ');
    k = k ? k + 1 : line;
    d->key_len = strlen(k);
    if (d->key_len == 0 || d->key_len > sizeof d->key)
        return -1;
    memcpy(d->key, k, d->key_len);
    return 0;
}

static void post(struct dev *d, double t)
{
    char body[4096];
    size_t len = 0;
    uint8_t tok[8], cf[4];
    size_t tl;
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST,
                                    coap_new_message_id(d->s), coap_session_max_pdu_size(d->s));
    if (!pdu)
        return;
    coap_session_new_token(d->s, &tl, tok);
    coap_add_token(pdu, tl, tok);
    coap_add_option(pdu, COAP_OPTION_URI_PATH, 1, (const uint8_t *)"r");
    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON), cf);
    if (L.plain) {
        char q[80];
        int ql = snprintf(q, sizeof q, "id=%s", d->id);
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, (size_t)ql, (const uint8_t *)q);
    }
    if (L.batch > 1)
        body[len++] = '[';
    for (int i = 0; i < L.batch; i++) {
        time_t sec = (time_t)1767225600 + (time_t)(d->seq * 60u);
        struct tm tm;
        gmtime_r(&sec, &tm);
        char ts[40];
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        len += (size_t)snprintf(body + len, sizeof body - len,
                                "%s{\"v\":1,\"id\":\"%s\",\"seq\":%u,\"ts\":\"%s.%03uZ\","
                                "\"distance_mm\":%u,\"battery_v\":%.3f}",
                                i ? "," : "", d->id, d->seq, ts, d->seq % 1000,
                                2900 + d->seq % 97, 3.6 + (double)(d->seq % 50) / 1000.0);
        d->seq++;
    }
    if (L.batch > 1)
        body[len++] = ']';
    coap_add_data(pdu, len, (const uint8_t *)body);
    if (coap_send(d->s, pdu) != COAP_INVALID_MID) {
        d->inflight++;
        L.posts++;
    }
    (void)t;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *prefix = "gl", *psk_dir = NULL;
    int port = 5684, devices = 10;
    double seconds = 5;
    const char *seq_file = NULL;
    L.inflight_max = 1;
    L.batch = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--plain")) {
            L.plain = 1;
            continue;
        }
        i++;
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--devices")) devices = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--prefix")) prefix = v;
        else if (!strcmp(a, "--psk-dir")) psk_dir = v;
        else if (!strcmp(a, "--seconds")) seconds = strtod(v, NULL);
        else if (!strcmp(a, "--inflight")) L.inflight_max = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--batch")) L.batch = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--seq-file")) seq_file = v;
        else {
            fprintf(stderr, "gw-load: unknown flag %s (see the top of bench/gw_load.c)\n", a);
            return 2;
        }
    }
    if (devices < 1 || L.batch < 1 || L.batch > 20 || L.inflight_max < 1 ||
        (!L.plain && !psk_dir)) {
        fprintf(stderr, "gw-load: need --devices >= 1, --batch 1..20, and --psk-dir or --plain\n");
        return 2;
    }
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    coap_dtls_set_log_level(LOG_EMERG);
    coap_context_t *ctx = coap_new_context(NULL);
    coap_register_response_handler(ctx, on_response);
    coap_register_nack_handler(ctx, on_nack);
    coap_register_event_handler(ctx, on_event);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) {
        fprintf(stderr, "gw-load: cannot resolve %s\n", host);
        return 1;
    }
    coap_address_t dst;
    coap_address_init(&dst);
    dst.size = (socklen_t)res->ai_addrlen;
    memcpy(&dst.addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    L.n = devices;
    L.d = calloc((size_t)devices, sizeof *L.d);
    for (int i = 0; i < devices; i++) {
        struct dev *d = &L.d[i];
        snprintf(d->id, sizeof d->id, "%s-%05d", prefix, i);
        d->seq = 1;
        if (L.plain) {
            d->s = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
            d->up = 1;
            L.connected++;
        } else {
            if (read_key(psk_dir, d))
                return 1;
            coap_dtls_cpsk_t c;
            memset(&c, 0, sizeof c);
            c.version = COAP_DTLS_CPSK_SETUP_VERSION;
            c.psk_info.identity.s = (const uint8_t *)d->id;
            c.psk_info.identity.length = strlen(d->id);
            c.psk_info.key.s = d->key;
            c.psk_info.key.length = d->key_len;
            d->s = coap_new_client_session_psk2(ctx, NULL, &dst, COAP_PROTO_DTLS, &c);
        }
        if (!d->s) {
            fprintf(stderr, "gw-load: no session for %s\n", d->id);
            return 1;
        }
        coap_session_set_app_data(d->s, d);
    }
    FILE *sf = seq_file ? fopen(seq_file, "r") : NULL;
    if (sf) {
        char id[64];
        unsigned seq;
        while (fscanf(sf, "%63s %u", id, &seq) == 2)
            for (int i = 0; i < devices; i++)
                if (!strcmp(L.d[i].id, id))
                    L.d[i].seq = seq;
        fclose(sf);
    }
    double t0 = now_s(), handshake_s = 0;
    while (L.connected < devices && now_s() - t0 < 60)
        coap_io_process(ctx, 10);
    handshake_s = now_s() - t0;
    if (L.connected < devices) {
        fprintf(stderr, "gw-load: %d of %d DTLS sessions after 60 s\n", L.connected, devices);
        return 1;
    }
    double start = now_s(), end = start + seconds;
    unsigned long long ok0 = L.ok_readings;
    while (now_s() < end) {
        double t = now_s();
        for (int i = 0; i < devices; i++)
            while (L.d[i].inflight < L.inflight_max)
                post(&L.d[i], t);
        coap_io_process(ctx, COAP_IO_NO_WAIT);
    }
    double measured = now_s() - start;
    unsigned long long ok = L.ok_readings - ok0;
    /* let what is in flight finish, so the seqs the caller learns were all answered */
    double drain_end = now_s() + 10;
    int busy = 1;
    while (busy && now_s() < drain_end) {
        coap_io_process(ctx, 10);
        busy = 0;
        for (int i = 0; i < devices; i++)
            busy |= L.d[i].inflight > 0;
    }
    if (seq_file && (sf = fopen(seq_file, "w")) != NULL) {
        for (int i = 0; i < devices; i++)
            fprintf(sf, "%s %u\n", L.d[i].id, L.d[i].seq);
        fclose(sf);
    }
    printf("{\"devices\":%d,\"batch\":%d,\"inflight\":%d,\"seconds\":%.3f,\"posts\":%llu,"
           "\"readings_ok\":%llu,\"readings_ok_total\":%llu,\"refused\":%llu,\"nacks\":%llu,"
           "\"rate\":%.1f,\"handshake_s\":%.3f,\"plain\":%s}\n",
           devices, L.batch, L.inflight_max, measured, L.posts, ok, L.ok_readings, L.refused,
           L.nacks, (double)ok / measured, handshake_s, L.plain ? "true" : "false");
    for (int i = 0; i < devices; i++)
        coap_session_release(L.d[i].s);
    coap_free_context(ctx);
    coap_cleanup();
    free(L.d);
    return 0;
}
