/* tk_mqtt: how every Takumi MQTT client (ingest, gateway, takumi-device) reaches the broker
 * over plain TCP or TLS, so that the rules for TLS (verify the server's certificate against
 * the given CA and its host name, TLS 1.2 or later) live in one place. Link tk_mqtt, which
 * brings Paho's TLS-enabled library (paho-mqtt3as). */
#ifndef TK_MQTT_H
#define TK_MQTT_H

#include <stddef.h>

#include <MQTTAsync.h>

#include "tk_error.h"

/** Write the server URI: "tcp://HOST:PORT", or "ssl://HOST:PORT" when tls_ca is a non-empty
 *  path (borrowed; may be NULL). IPv6 literals are bracketed. TK_EFULL if it does not fit. */
enum tk_rc tk_mqtt_uri(char *buf, size_t size, const char *host, long long port,
                       const char *tls_ca) TK_WUR;

/** For TLS (tls_ca non-empty): fill *o to verify the broker's certificate chain against the
 *  CA file tls_ca and its name against the host in the URI, and return o, to be set as
 *  MQTTAsync_connectOptions.ssl (tls_ca must outlive the connection). Returns NULL for plain
 *  TCP (tls_ca NULL or empty), leaving *o alone. */
MQTTAsync_SSLOptions *tk_mqtt_tls(MQTTAsync_SSLOptions *o, const char *tls_ca);

#endif
