/* The outbound side: acks and SensorThings observations as MQTT 3.1.1 QoS 0 PUBLISH
 * packets written in one burst per commit on a connection of their own.
 *
 * Why not Paho for these: every MQTTAsync_sendMessage takes several mutexes, copies the
 * message and wakes Paho's send thread; with three observations per reading that cost
 * more CPU than parsing and storing the reading (measured with perf: about half of the
 * ingest's time). QoS 0 needs no state: a PUBLISH is a header, the topic and the payload,
 * so the packets of a whole commit are encoded into one buffer and written with a few
 * send() calls. Nothing here needs an acknowledgement: an ack lost with a broken
 * connection is answered again when the device resends (see docs/delivery.md).
 *
 * With a CA file the connection is TLS (OpenSSL), verified like the Paho connections
 * (tk_mqtt.h): the chain must lead to the CA and the certificate must name the host. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pub.h"
#include "tk_log.h"
#include "tk_time.h"

#define KEEPALIVE_S 60
#define IO_TIMEOUT_MS 5000

struct ing_pub {
    char host[256];
    int port;
    char client_id[80];
    char user[64];
    char password[256];
    int fd;
    SSL_CTX *tls; /* NULL: plain TCP */
    SSL *ssl;     /* the TLS session on fd */
    unsigned char *buf;
    size_t len, cap, max;
    int64_t last_send_us;  /* monotonic */
    int64_t retry_at_us;   /* monotonic: no reconnect before */
    int64_t backoff_us;
};

static enum tk_rc reserve(struct ing_pub *p, size_t extra)
{
    if (p->len + extra <= p->cap)
        return TK_OK;
    if (p->len + extra > p->max)
        return TK_EFULL;
    size_t cap = p->cap ? p->cap : 65536;
    while (cap < p->len + extra)
        cap *= 2;
    unsigned char *b = realloc(p->buf, cap);
    if (!b)
        return TK_ENOMEM;
    p->buf = b;
    p->cap = cap;
    return TK_OK;
}

static void put_u16(unsigned char *b, size_t n)
{
    b[0] = (unsigned char)(n >> 8);
    b[1] = (unsigned char)(n & 0xff);
}

/* Fixed header: type byte and the variable-length remaining length. */
static size_t put_header(unsigned char *b, unsigned char type, size_t remaining)
{
    size_t i = 0;
    b[i++] = type;
    do {
        unsigned char d = (unsigned char)(remaining % 128);
        remaining /= 128;
        b[i++] = remaining ? (unsigned char)(d | 0x80) : d;
    } while (remaining);
    return i;
}

static void pub_close(struct ing_pub *p)
{
    if (p->ssl)
        SSL_free(p->ssl); /* no close_notify: the socket may be broken */
    p->ssl = NULL;
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* One send or receive on the connection, plain or TLS: bytes moved, 0 at end of stream,
 * -1 on error (errno EINTR/EAGAIN for the caller to judge; TLS errors are EIO). */
static ssize_t io(struct ing_pub *p, int out, void *b, size_t n, int dontwait)
{
    if (!p->ssl) {
        return out ? send(p->fd, b, n, MSG_NOSIGNAL)
                   : recv(p->fd, b, n, dontwait ? MSG_DONTWAIT : 0);
    }
    /* "dontwait" over TLS: read only when bytes are waiting; a record that arrived in part
     * blocks for the rest, at most the socket's IO_TIMEOUT_MS */
    if (!out && dontwait && SSL_pending(p->ssl) == 0) {
        struct pollfd pf = {p->fd, POLLIN, 0};
        int r = poll(&pf, 1, 0);
        if (r <= 0) {
            errno = r == 0 ? EAGAIN : errno;
            return -1;
        }
    }
    int k = out ? SSL_write(p->ssl, b, n > INT32_MAX ? INT32_MAX : (int)n)
                : SSL_read(p->ssl, b, n > INT32_MAX ? INT32_MAX : (int)n);
    if (k > 0)
        return k;
    int e = SSL_get_error(p->ssl, k);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EIO;
    return -1;
}

/* The TLS handshake on the connected p->fd, verifying the broker's name (DNS or IP). */
static enum tk_rc tls_start(struct ing_pub *p)
{
    unsigned char a[16];
    p->ssl = SSL_new(p->tls);
    if (!p->ssl || SSL_set_fd(p->ssl, p->fd) != 1)
        goto fail;
    int ip = inet_pton(AF_INET, p->host, a) == 1 || inet_pton(AF_INET6, p->host, a) == 1;
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(p->ssl), p->host) != 1
           : (SSL_set1_host(p->ssl, p->host) != 1 ||
              SSL_set_tlsext_host_name(p->ssl, p->host) != 1))
        goto fail;
    if (SSL_connect(p->ssl) != 1) {
        long v = SSL_get_verify_result(p->ssl);
        tk_log(TK_LOG_ERR, "publisher TLS handshake with %s:%d failed: %s", p->host, p->port,
               v != X509_V_OK ? X509_verify_cert_error_string(v) : "no TLS on that port?");
        goto fail;
    }
    return TK_OK;
fail:
    ERR_clear_error();
    return TK_EIO;
}

static enum tk_rc send_all(struct ing_pub *p, const unsigned char *b, size_t n)
{
    while (n) {
        ssize_t k = io(p, 1, (void *)b, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return TK_EIO;
        b += k;
        n -= (size_t)k;
    }
    p->last_send_us = tk_mono_us();
    return TK_OK;
}

static enum tk_rc pub_connect(struct ing_pub *p)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char port[16];
    unsigned char pkt[512], ack[4];
    enum tk_rc rc = TK_EIO;
    size_t cid = strlen(p->client_id), ul = strlen(p->user), pl = strlen(p->password);

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", p->port);
    if (getaddrinfo(p->host, port, &hints, &ai) != 0)
        return TK_EIO;
    p->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (p->fd < 0)
        goto cleanup;
    struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
    int one = 1;
    setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(p->fd, ai->ai_addr, ai->ai_addrlen) != 0)
        goto cleanup;
    if (p->tls && tls_start(p))
        goto cleanup;

    /* CONNECT: protocol "MQTT" level 4, clean session, username and password */
    size_t rem = 10 + 2 + cid + 2 + ul + 2 + pl;
    if (rem + 5 > sizeof pkt)
        goto cleanup;
    size_t i = put_header(pkt, 0x10, rem);
    const unsigned char vh[10] = {0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, 0, KEEPALIVE_S};
    memcpy(pkt + i, vh, sizeof vh);
    i += sizeof vh;
    put_u16(pkt + i, cid);
    memcpy(pkt + i + 2, p->client_id, cid);
    i += 2 + cid;
    put_u16(pkt + i, ul);
    memcpy(pkt + i + 2, p->user, ul);
    i += 2 + ul;
    put_u16(pkt + i, pl);
    memcpy(pkt + i + 2, p->password, pl);
    i += 2 + pl;
    if (send_all(p, pkt, i))
        goto cleanup;
    size_t got = 0;
    while (got < sizeof ack) {
        ssize_t k = io(p, 0, ack + got, sizeof ack - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            goto cleanup;
        got += (size_t)k;
    }
    if (ack[0] != 0x20 || ack[1] != 2 || ack[3] != 0) {
        tk_log(TK_LOG_ERR, "publisher connection refused by the broker (CONNACK code %u)", ack[3]);
        goto cleanup;
    }
    rc = TK_OK;
cleanup:
    if (ai)
        freeaddrinfo(ai);
    if (rc)
        pub_close(p);
    return rc;
}

enum tk_rc ing_pub_create(const char *host, int port, const char *tls_ca, const char *client_id,
                          const char *user, const char *password, size_t max_buffer,
                          struct ing_pub **out)
{
    struct ing_pub *p = calloc(1, sizeof *p);
    if (!p)
        return TK_ENOMEM;
    if (tls_ca && *tls_ca) {
        p->tls = SSL_CTX_new(TLS_client_method());
        if (!p->tls || SSL_CTX_set_min_proto_version(p->tls, TLS1_2_VERSION) != 1 ||
            SSL_CTX_load_verify_locations(p->tls, tls_ca, NULL) != 1) {
            tk_log(TK_LOG_ERR, "publisher: cannot load the CA file %s", tls_ca);
            ERR_clear_error();
            SSL_CTX_free(p->tls);
            free(p);
            return TK_EIO;
        }
        SSL_CTX_set_verify(p->tls, SSL_VERIFY_PEER, NULL);
    }
    snprintf(p->host, sizeof p->host, "%s", host);
    p->port = port;
    snprintf(p->client_id, sizeof p->client_id, "%s-pub", client_id);
    snprintf(p->user, sizeof p->user, "%s", user);
    snprintf(p->password, sizeof p->password, "%s", password);
    p->fd = -1;
    p->max = max_buffer;
    p->backoff_us = 500000;
    *out = p;
    return TK_OK;
}

void ing_pub_destroy(struct ing_pub *p)
{
    if (!p)
        return;
    if (p->fd >= 0) {
        const unsigned char disconnect[2] = {0xE0, 0};
        (void)send_all(p, disconnect, sizeof disconnect);
    }
    pub_close(p);
    SSL_CTX_free(p->tls);
    free(p->buf);
    free(p);
}

enum tk_rc ing_pub_add(struct ing_pub *p, const char *topic, const void *payload, size_t len,
                       int retain)
{
    size_t tl = strlen(topic), rem = 2 + tl + len;
    enum tk_rc rc = reserve(p, rem + 5);
    if (rc)
        return rc;
    unsigned char *b = p->buf + p->len;
    size_t i = put_header(b, (unsigned char)(0x30 | (retain ? 1 : 0)), rem);
    put_u16(b + i, tl);
    memcpy(b + i + 2, topic, tl);
    memcpy(b + i + 2 + tl, payload, len);
    p->len += i + rem;
    return TK_OK;
}

/* Discard what the broker sent us (PINGRESP only: we never subscribe). A closed or
 * failed socket is reported. */
static enum tk_rc drain_input(struct ing_pub *p)
{
    unsigned char junk[256];
    for (;;) {
        ssize_t k = io(p, 0, junk, sizeof junk, 1);
        if (k > 0)
            continue;
        if (k == 0)
            return TK_EIO;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? TK_OK : TK_EIO;
    }
}

enum tk_rc ing_pub_flush(struct ing_pub *p, size_t *dropped_bytes)
{
    int64_t now = tk_mono_us();
    enum tk_rc rc = TK_OK;
    if (p->fd < 0) {
        if (now < p->retry_at_us) {
            rc = TK_EIO;
            goto out;
        }
        if (pub_connect(p)) {
            p->retry_at_us = now + p->backoff_us;
            p->backoff_us = p->backoff_us < 16000000 ? p->backoff_us * 2 : 16000000;
            tk_log(TK_LOG_WARN, "publisher cannot connect to %s:%d; retrying", p->host, p->port);
            rc = TK_EIO;
            goto out;
        }
        p->backoff_us = 500000;
        tk_log(TK_LOG_INFO, "publisher connected to %s:%d", p->host, p->port);
    }
    if (drain_input(p) || (p->len && send_all(p, p->buf, p->len))) {
        tk_log(TK_LOG_WARN, "publisher connection to %s:%d lost", p->host, p->port);
        pub_close(p);
        rc = TK_EIO;
        goto out;
    }
out:
    if (dropped_bytes)
        *dropped_bytes = rc ? p->len : 0;
    p->len = 0;
    return rc;
}

void ing_pub_discard(struct ing_pub *p)
{
    p->len = 0;
}

enum tk_rc ing_pub_tick(struct ing_pub *p)
{
    if (p->fd >= 0 && tk_mono_us() - p->last_send_us > (int64_t)KEEPALIVE_S * 500000) {
        const unsigned char ping[2] = {0xC0, 0};
        if (drain_input(p) || send_all(p, ping, sizeof ping)) {
            pub_close(p);
            return TK_EIO;
        }
    }
    return TK_OK;
}
