/* wifi_ap app: presence counting on a public Wi-Fi access point, without raw MACs.
 *
 * Design note. Every station event (probe request, or a frame of an associated station)
 * arrives with its MAC through the port. The MAC is hashed at once with SipHash-2-4 under
 * a 128-bit salt drawn from the port's RNG, and the caller's copy is wiped; only 31 bits
 * of the keyed hash go into a fixed-size set for the interval. The salt lives in RAM only
 * (never in storage, never sent) and is replaced when the UTC day changes, so hashes of
 * one day cannot be linked to the next, and the set is cleared every interval. Nothing
 * derived from a MAC leaves the device except the counts.
 *
 * Randomised MACs: phones probe with locally-administered random addresses that change
 * from scan to scan, so counting them would count scans, not people. A locally
 * administered MAC seen only in probe requests is therefore not counted (it is tallied
 * in la_probes_ignored for diagnostics); one used by an associated station is stable for
 * that association and is counted. Group (multicast) addresses are not stations and are
 * dropped. unique_devices = distinct hashes in the interval; probe_only = those never
 * seen associated; associated = stations associated at the end of the interval (from the
 * radio). A full set counts further new devices without remembering them (an
 * over-count, reported in set_overflow).
 *
 * For diagnostics the app keeps, per finished interval, its counts and a digest: the sum
 * of the interval's salted hashes. It is order-independent, so the same stations give the
 * same digest all day and a different one after the salt changes: a test can see the
 * rotation from outside without any hash of a single MAC leaving the app. */
#ifndef FW_WIFI_AP_H
#define FW_WIFI_AP_H

#include "fw_device.h"

#ifndef FW_WIFI_SET
#define FW_WIFI_SET 2048 /* power of two */
#endif

struct fw_wifi {
    struct fw_dev *dev; /* borrowed */
    uint8_t salt[16];
    int64_t salt_day; /* UTC day the salt belongs to; -1 before the clock is set */
    uint32_t started;
    uint32_t set[FW_WIFI_SET]; /* 0 empty; bit 0: seen associated; bits 1..31: hash */
    uint32_t unique, probe_only;
    uint32_t la_probes_ignored, set_overflow, salt_rotations, lost_intervals;
    uint32_t reports;                       /* intervals finished */
    uint32_t last_unique, last_probe_only;  /* of the last finished interval */
    uint32_t last_digest;                   /* sum of its salted hashes */
};

void fw_wifi_init(struct fw_wifi *w, struct fw_dev *dev);
/** Drain station events, report when the interval is over. */
void fw_wifi_tick(struct fw_wifi *w);
/** SipHash-2-4 of msg under key (exposed for tests). */
uint64_t fw_siphash24(const uint8_t key[16], const uint8_t *msg, size_t len);

#endif
