/* takumi-device's command line (one table of flags, parsed into struct fw_opts) and its
 * device list: one device (--id), a numbered fleet of one kind (--fleet N --prefix P,
 * ids P-00000 ..), or a devices file of mixed kinds (--devices FILE). */
#ifndef FW_POSIX_OPTS_H
#define FW_POSIX_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "pdevice.h"

struct devspec {
    char id[49];
    enum fw_kind kind;
    int32_t mount_height_mm; /* 0: the default */
};

struct fw_opts {
    struct pdevice_opts pd;
    const char *host, *user, *password, *password_file, *id, *prefix, *devices_file, *macs_file;
    int coap;                          /* --transport coap: one device through the gateway */
    const char *coap_host, *psk_file;  /* coap_host NULL: --host */
    long long coap_port, ack_poll_ms;
    const char *tls_ca; /* CA file: TLS to the broker, verifying its certificate and name */
    char password_buf[257];
    enum fw_kind kind;
    long long port, fleet, count, duration_s, wdt_ms, stats_ms, connections, utc_start_s;
    double time_scale;
    int drained_exit;
};

/** Defaults, then argv. 0 on success; 2 after printing the usage (bad flag or value). */
int fw_opts_parse(int argc, char **argv, struct fw_opts *o);

/** The devices this process runs (new array, free()). 0, or -1 with a message. */
int fw_devlist(const struct fw_opts *o, struct devspec **out, size_t *n);

/** Read a whole small text file (new, free()); NULL with a message on failure. */
char *fw_read_text(const char *path, size_t max);

#endif
