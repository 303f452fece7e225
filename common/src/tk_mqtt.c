/* tk_mqtt: plain or TLS connections to the broker (see tk_mqtt.h). */
#include <stdio.h>
#include <string.h>

#include "tk_mqtt.h"

enum tk_rc tk_mqtt_uri(char *buf, size_t size, const char *host, long long port, const char *tls_ca)
{
    const char *scheme = tls_ca && *tls_ca ? "ssl" : "tcp";
    int v6 = strchr(host, ':') != NULL;
    int n =
        snprintf(buf, size, "%s://%s%s%s:%lld", scheme, v6 ? "[" : "", host, v6 ? "]" : "", port);
    return n < 0 || (size_t)n >= size ? TK_EFULL : TK_OK;
}

MQTTAsync_SSLOptions *tk_mqtt_tls(MQTTAsync_SSLOptions *o, const char *tls_ca)
{
    if (!tls_ca || !*tls_ca)
        return NULL;
    MQTTAsync_SSLOptions init = MQTTAsync_SSLOptions_initializer;
    *o = init;
    o->trustStore = tls_ca;
    o->enableServerCertAuth = 1; /* the chain must lead to tls_ca */
    o->verify = 1;               /* and the certificate must name the host we dialled */
    /* sslVersion stays DEFAULT: the highest both sides speak (the broker offers 1.2, 1.3) */
    return o;
}
