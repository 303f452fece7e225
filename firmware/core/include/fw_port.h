/* The port table: everything hardware-specific the portable core needs.
 *
 * The core (firmware/core) includes no OS header, allocates nothing and keeps no global
 * state; a board gives it one `struct fw_port` (RIOT's SAUL `{read, write}` table and Paho
 * Embedded-C's Network/Timer split are the models). The POSIX port implements it with
 * clock_gettime, Paho MQTTAsync and a file; the Cortex-M port with SysTick, a UART and a
 * flash partition; unit tests with a simulated clock and in-memory storage.
 *
 * Every function receives `ctx` back unchanged. None may block for long: the core is a
 * tick-driven state machine and the watchdog expects every task to check in. */
#ifndef FW_PORT_H
#define FW_PORT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define FW_WUR __attribute__((warn_unused_result))
#else
#define FW_WUR
#endif

/** Return codes of the core and the port. */
enum fw_rc {
    FW_OK = 0,
    FW_EINVAL,  /* bad argument or malformed input */
    FW_EFULL,   /* buffer too small / ring full */
    FW_EIO,     /* storage or transport failure */
    FW_ECRC,    /* stored block failed its CRC or magic check */
    FW_EBUSY,   /* try again later (transport not ready, send window full) */
    FW_ESTALE,  /* configuration not newer than the running one */
    FW_ENOENT,  /* nothing there (no message, no key) */
};

/** Device kinds, in the wire contract's order. */
enum fw_kind { FW_KIND_WATER_LEVEL = 0, FW_KIND_PEOPLE_FLOW, FW_KIND_WIFI_AP };

/** Topics a device uses: city/{kind}/{id}/{reading|status|ack|config}. The port builds
 *  the topic string (it knows the kind and id). */
enum fw_topic { FW_TOPIC_READING = 0, FW_TOPIC_STATUS, FW_TOPIC_ACK, FW_TOPIC_CONFIG };

/** Transport state as the port reports it. UP means connected and subscribed to the
 *  device's ack and config topics. */
enum fw_net { FW_NET_DOWN = 0, FW_NET_CONNECTING, FW_NET_UP };

/** Sensor channels (fw_port.sensor_read). Values are integers in the unit named. */
enum fw_channel {
    FW_CH_DISTANCE_MM = 0, /* ultrasonic/radar distance to the surface, mm (int32) */
    FW_CH_PRESSURE_PA,     /* submerged pressure sensor, Pa (int32) */
    FW_CH_BATTERY_MV,      /* battery voltage, mV (int32) */
    FW_CH_RSSI_DBM,        /* uplink signal strength, dBm (int32) */
    FW_CH_TEMP_CC,         /* water temperature, 1/100 degC (int32) */
    FW_CH_COUNT_IN,        /* people counter: entries since power-up (uint32, wraps) */
    FW_CH_COUNT_OUT,       /* people counter: exits since power-up (uint32, wraps) */
    FW_CH_WIFI_EVENT,      /* next station event: struct fw_wifi_event; FW_ENOENT if none */
    FW_CH_WIFI_ASSOC,      /* stations associated right now (int32) */
};

/** One station seen by the Wi-Fi radio. The MAC is borrowed for the duration of the
 *  call chain only; the wifi_ap app hashes it at once and never stores it. */
struct fw_wifi_event {
    uint8_t mac[6];
    uint8_t associated; /* 1: data/association frame of an associated station, 0: probe */
};

struct fw_port {
    void *ctx;
    /** Monotonic milliseconds; wraps at 2^32 (the core compares with signed differences). */
    uint32_t (*mono_ms)(void *ctx);
    /** UTC, milliseconds since the epoch; 0 while the clock is not set. */
    int64_t (*utc_ms)(void *ctx);

    /** Start connecting (non-blocking). FW_OK when started or already connecting/up. */
    enum fw_rc (*net_connect)(void *ctx);
    /** Drop the connection (the core calls it after a connect timeout). */
    void (*net_close)(void *ctx);
    enum fw_net (*net_state)(void *ctx);
    /** Publish (QoS 1). payload is borrowed for the call. FW_EBUSY: not now. */
    enum fw_rc (*net_publish)(void *ctx, enum fw_topic topic, const char *payload, size_t len,
                              int retain);
    /** Take the next received message on the ack or config topic, if any: copies at most
     *  cap bytes into buf (a longer message is dropped and reported as FW_EFULL).
     *  FW_ENOENT when nothing is waiting. */
    enum fw_rc (*net_poll)(void *ctx, enum fw_topic *topic, char *buf, size_t cap, size_t *len);

    /** Non-volatile storage: byte-addressed, nv_size bytes. Writes become durable at
     *  nv_commit (the POSIX port rewrites its file atomically there). Erased storage
     *  reads as 0xff or 0x00; the core checks magic and CRC, never trusts contents. */
    enum fw_rc (*nv_read)(void *ctx, uint32_t off, void *buf, size_t len);
    enum fw_rc (*nv_write)(void *ctx, uint32_t off, const void *buf, size_t len);
    enum fw_rc (*nv_commit)(void *ctx);
    uint32_t nv_size;

    /** Read a sensor channel into out (int32_t or struct fw_wifi_event, size bytes). */
    enum fw_rc (*sensor_read)(void *ctx, enum fw_channel ch, void *out, size_t size);
    /** Kick the hardware watchdog. */
    void (*wdt_kick)(void *ctx);
    /** 32 random bits (hardware RNG or a seeded CSPRNG). */
    uint32_t (*rand32)(void *ctx);
    /** Optional log sink (may be NULL); the core caps verbosity at compile time. */
    void (*log)(void *ctx, int level, const char *msg);
};

/** Serial-number order (RFC 1982) of uint32 seqs and of wrapping millisecond clocks. */
static inline int32_t fw_diff32(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b);
}

#endif
