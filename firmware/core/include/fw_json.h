/* A JSON writer and a flat-object reader without malloc or floating point.
 *
 * The writer appends to a caller-owned buffer and remembers overflow, so an encoder
 * writes all its fields and checks once at the end (curl's dynbuf, bounded). Numbers
 * are integers or fixed-point decimals (value / 10^decimals) printed the way the
 * platform's common/ encoder prints the same double ("%.15g": no trailing zeros, no
 * exponent for the magnitudes devices send), so payloads are byte-identical.
 *
 * The reader handles what the platform sends devices: one flat object whose members
 * are numbers ({"seq":12}, the config). Other member values are skipped. */
#ifndef FW_JSON_H
#define FW_JSON_H

#include "fw_port.h"

struct fw_jw {
    char *buf;  /* borrowed, cap bytes; always NUL-terminated while cap > 0 */
    size_t cap;
    size_t len;
    int overflow; /* set once anything did not fit */
};

void fw_jw_init(struct fw_jw *w, char *buf, size_t cap);
void fw_jw_raw(struct fw_jw *w, const char *s);
void fw_jw_mem(struct fw_jw *w, const char *s, size_t n);
/** A JSON string with escaping of '"', '\\' and control characters. */
void fw_jw_str(struct fw_jw *w, const char *s);
void fw_jw_u64(struct fw_jw *w, uint64_t v);
void fw_jw_i64(struct fw_jw *w, int64_t v);
/** v / 10^decimals (decimals <= 9) as the shortest exact decimal: 3610,3 -> 3.61. */
void fw_jw_fixed(struct fw_jw *w, int64_t v, unsigned decimals);
/** RFC 3339 UTC with microseconds, as common/'s tk_time_format: 2026-11-26T00:00:00.250000Z.
 *  Years outside 0..9999 set overflow. */
void fw_jw_ts(struct fw_jw *w, int64_t utc_ms);
/** ,"key": (or "key": right after '{' / '[') */
void fw_jw_key(struct fw_jw *w, const char *key);
/** FW_OK or FW_EFULL. */
enum fw_rc fw_jw_result(const struct fw_jw *w) FW_WUR;

/** Find member key in a flat JSON object and read its number as fixed point: *out =
 *  value * 10^decimals, rounded toward zero. FW_ENOENT if absent, FW_EINVAL if the text
 *  is not a JSON object, the member is not a number, or the value does not fit int64.
 *  Exponents are accepted. */
enum fw_rc fw_json_get_fixed(const char *buf, size_t len, const char *key, unsigned decimals,
                             int64_t *out) FW_WUR;
/** Checks that buf is one JSON object whose member values are all numbers, strings,
 *  booleans or null, with no duplicate of `keys` (NULL-terminated list of known keys)
 *  and no member outside it when strict. FW_OK or FW_EINVAL. */
enum fw_rc fw_json_check_flat(const char *buf, size_t len, const char *const *keys,
                              int strict) FW_WUR;

#endif
