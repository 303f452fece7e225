/* tk-count: the transport baseline's other end. Subscribes at QoS 1 and only counts
 * until it has seen --count messages (or --timeout-s passes), then prints one JSON line
 * with the wall-clock time of the first and last message. */
#include <MQTTAsync.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile long seen;
static volatile int subscribed;
static double first_s, last_s;

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_message(void *ctx, char *topic, int tl, MQTTAsync_message *m)
{
    (void)ctx;
    (void)tl;
    double t = wall_s();
    if (seen == 0)
        first_s = t;
    last_s = t;
    seen++;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_sub(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx;
    (void)r;
    subscribed = 1;
}

static void on_connected(void *ctx, char *cause)
{
    MQTTAsync c = *(MQTTAsync *)ctx;
    (void)cause;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_sub;
    (void)MQTTAsync_subscribe(c, getenv("TK_COUNT_TOPIC"), 1, &ro);
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: tk-count HOST PORT USER PASSWORD TOPIC COUNT [TIMEOUT_S]\n");
        return 2;
    }
    char uri[300];
    snprintf(uri, sizeof uri, "tcp://%s:%s", argv[1], argv[2]);
    setenv("TK_COUNT_TOPIC", argv[5], 1);
    long want = strtol(argv[6], NULL, 10);
    int timeout_s = argc > 7 ? (int)strtol(argv[7], NULL, 10) : 120;
    MQTTAsync c;
    /* Paho's trace ring as takumi-ingest keeps it (errors only), so that the bench's
     * baseline and the ingest pay the same for their MQTT library */
    if (!getenv("MQTT_C_CLIENT_TRACE"))
        MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
    if (MQTTAsync_create(&c, uri, "tk-count", MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTASYNC_SUCCESS)
        return 1;
    MQTTAsync_setCallbacks(c, &c, NULL, on_message, NULL);
    MQTTAsync_setConnected(c, &c, on_connected);
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    o.cleansession = 1;
    o.username = argv[3];
    o.password = argv[4];
    o.automaticReconnect = 1;
    if (MQTTAsync_connect(c, &o) != MQTTASYNC_SUCCESS)
        return 1;
    time_t end = time(NULL) + timeout_s;
    int announced = 0;
    while (seen < want && time(NULL) < end) {
        if (subscribed && !announced) {
            printf("{\"subscribed\":true}\n");
            fflush(stdout);
            announced = 1;
        }
        usleep(2000);
    }
    printf("{\"count\":%ld,\"first\":%.6f,\"last\":%.6f}\n", seen, first_s, last_s);
    fflush(stdout);
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    (void)MQTTAsync_disconnect(c, &d);
    usleep(100000);
    MQTTAsync_destroy(&c);
    return seen >= want ? 0 : 1;
}
