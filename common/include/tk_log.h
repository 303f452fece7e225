/* One logging function with levels and a pluggable sink. Libraries do not print:
 * they return codes; the caller logs once. Binaries log through this. */
#ifndef TK_LOG_H
#define TK_LOG_H

#include "tk_error.h"

enum tk_log_level { TK_LOG_ERR = 0, TK_LOG_WARN, TK_LOG_INFO, TK_LOG_DEBUG };

typedef void (*tk_log_sink)(enum tk_log_level level, const char *msg, void *ud);

/** Set the minimum level printed (default TK_LOG_INFO). */
void tk_log_set_level(enum tk_log_level level);
/** Replace the sink (default: "2026-11-26T00:00:00.000000Z level component: msg" to stderr).
 *  NULL restores the default. */
void tk_log_set_sink(tk_log_sink sink, void *ud);
/** Set the component name printed by the default sink ("ingest"). Borrowed, must outlive logging. */
void tk_log_set_name(const char *name);
void tk_log(enum tk_log_level level, const char *fmt, ...) TK_PRINTF(2, 3);

#endif
