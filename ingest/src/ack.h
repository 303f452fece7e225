/* Watermark bookkeeping (SPEC section 4): per device, the highest seq stored with no
 * gap below it, plus the seqs stored beyond a gap. Pure functions over
 * struct store_seq_state so the logic is unit-tested without a broker or a database. */
#ifndef ING_ACK_H
#define ING_ACK_H

#include <stdint.h>
#include "store.h"

/** 1 if seq is already stored (at or below the watermark, or pending), else 0. */
int ing_seq_is_dup(const struct store_seq_state *s, uint32_t seq);

/** Record seq as stored. Advances the watermark over every contiguous pending seq.
 *  Returns 1 if the watermark moved, 0 if not, and -1 if seq lies beyond a gap while
 *  the pending set is full: it is then not remembered (never acknowledged on a guess);
 *  the device resends it and it is recorded once there is room. seq must not be a dup. */
int ing_seq_record(struct store_seq_state *s, uint32_t seq, int64_t now_us);

/** Declare the oldest gap lost when it has been open for at least timeout_us AND the
 *  device has shown it no longer holds the missing readings (device_resent_beyond: it
 *  resent the first pending seq, and a device resends in order from its oldest
 *  unacknowledged reading, so anything it still had below would have come first).
 *  Time alone is not evidence: a device offline for a day still holds its buffer. The
 *  watermark jumps to just below the first pending seq and drains; *gap_first and
 *  *gap_last (may be NULL) receive the lost range, its size is added to *lost. Returns 1
 *  if it skipped a gap. */
int ing_seq_expire(struct store_seq_state *s, int64_t now_us, int64_t timeout_us,
                   int device_resent_beyond, uint64_t *lost, uint32_t *gap_first,
                   uint32_t *gap_last);

#endif
