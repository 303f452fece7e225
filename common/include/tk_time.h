/* Time: one UTC clock for readings, one monotonic clock for timeouts. */
#ifndef TK_TIME_H
#define TK_TIME_H

#include <stdint.h>
#include <stddef.h>
#include "tk_error.h"

/** UTC wall clock, microseconds since the Unix epoch. */
int64_t tk_now_utc_us(void);
/** Monotonic clock, microseconds, for timeouts and latency only. */
int64_t tk_mono_us(void);

/** Parse RFC 3339 with a mandatory offset ("2026-11-26T09:00:00.123+09:00", "...Z")
 *  to UTC microseconds. Fractions beyond microseconds are truncated. Rejects
 *  out-of-range fields (month 13, Feb 30, hour 24, offset beyond +-23:59) and years
 *  outside 1970..9999. Returns TK_EINVAL. */
enum tk_rc tk_time_parse_rfc3339(const char *s, size_t len, int64_t *us) TK_WUR;

/** Format UTC microseconds as "2026-11-26T00:00:00.123456Z" (always 27 chars + NUL;
 *  size must be >= 28). */
enum tk_rc tk_time_format(int64_t us, char *buf, size_t size) TK_WUR;

#endif
