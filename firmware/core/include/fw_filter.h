/* Sampling filters for a level sensor.
 *
 * Two stages. Within a burst (N reads a few ms apart) the median rejects the odd bad
 * echo: an ultrasonic pulse that hits a ladder rung or a drop of condensation. Across
 * samples a step larger than max_step from the last accepted value is held as
 * "suspect" rather than reported; the next sample decides. If it lies near the suspect
 * or continues in the same direction, the change is real and is followed (a sewer can
 * rise faster than 100 mm/min in a typhoon, so a plain rate limit would clip exactly
 * the readings that matter); if it falls back, the suspect was a spike and is dropped.
 * Once a fast change is confirmed, steps in the same direction up to twice its rate
 * (plus max_step) continue it without waiting. A genuine rise is thus reported one
 * sample late at worst, never suppressed. */
#ifndef FW_FILTER_H
#define FW_FILTER_H

#include <stdint.h>

#define FW_BURST_MAX 9

/** Median of n (1..FW_BURST_MAX) values; v is reordered. */
int32_t fw_median(int32_t *v, unsigned n);

struct fw_spike {
    int32_t max_step; /* largest step accepted without confirmation */
    int32_t last;     /* last accepted value */
    int32_t suspect;  /* value waiting for confirmation */
    int32_t trend;    /* last accepted step per sample (0: none yet) */
    uint8_t have, have_suspect;
    uint32_t rejected; /* spikes dropped, for diagnostics */
};

void fw_spike_init(struct fw_spike *f, int32_t max_step);
/** Feed one sample. Returns 1 and sets *out when a value is accepted (it may be the
 *  previous suspect confirmed by this one: then *out is this sample), 0 while a step
 *  waits for confirmation. */
int fw_spike_push(struct fw_spike *f, int32_t x, int32_t *out);

#endif
