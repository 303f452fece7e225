/* Outbound QoS 0 publisher for acks and observations: packets are queued with
 * ing_pub_add and written in one burst by ing_pub_flush after each commit. */
#ifndef ING_PUB_H
#define ING_PUB_H

#include <stddef.h>
#include "tk_error.h"

struct ing_pub;

/** New publisher (not yet connected; ing_pub_flush connects). Strings are copied.
 *  tls_ca: NULL or "" for plain TCP, else a CA file: TLS, verifying the broker's
 *  certificate and host name (TK_EIO if the file cannot be loaded).
 *  max_buffer bounds the bytes queued between flushes. Free with ing_pub_destroy. */
enum tk_rc ing_pub_create(const char *host, int port, const char *tls_ca, const char *client_id,
                          const char *user, const char *password, size_t max_buffer,
                          struct ing_pub **out) TK_WUR;
/** Disconnect and free; NULL does nothing. */
void ing_pub_destroy(struct ing_pub *p);
/** Queue one QoS 0 PUBLISH. TK_EFULL past max_buffer (the caller flushes first). */
enum tk_rc ing_pub_add(struct ing_pub *p, const char *topic, const void *payload, size_t len,
                       int retain) TK_WUR;
/** Write everything queued, connecting first if needed (with back-off). On TK_EIO the
 *  queued packets are dropped and *dropped_bytes (may be NULL) says how many bytes. */
enum tk_rc ing_pub_flush(struct ing_pub *p, size_t *dropped_bytes) TK_WUR;
/** Drop everything queued (the transaction it belonged to was rolled back). */
void ing_pub_discard(struct ing_pub *p);
/** Keep the connection alive while idle (PINGREQ). */
enum tk_rc ing_pub_tick(struct ing_pub *p) TK_WUR;

#endif
