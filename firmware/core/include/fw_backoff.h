/* Reconnect back-off: exponential, capped, with jitter.
 *
 * The k-th consecutive failure waits a delay drawn uniformly from [d/2, d] where
 * d = min(cap, base * 2^k) ("equal jitter"): never less than half the nominal delay, so
 * a fleet that lost its broker at once spreads its reconnects instead of arriving
 * together, and never more than the cap, so a device comes back soon after the network
 * does. A success resets k. */
#ifndef FW_BACKOFF_H
#define FW_BACKOFF_H

#include "fw_port.h"

struct fw_backoff {
    uint32_t base_ms, cap_ms;
    uint32_t attempt; /* consecutive failures so far */
};

void fw_backoff_init(struct fw_backoff *b, uint32_t base_ms, uint32_t cap_ms);
/** The nominal (upper) delay for the next failure. */
uint32_t fw_backoff_nominal(const struct fw_backoff *b);
/** Delay to wait after a failure (counts it); rnd is 32 random bits. */
uint32_t fw_backoff_next(struct fw_backoff *b, uint32_t rnd);
void fw_backoff_reset(struct fw_backoff *b);

#endif
