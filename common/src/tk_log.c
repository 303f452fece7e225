/* One logging function with levels and a pluggable sink. The message is formatted once
 * into a stack buffer and handed to the sink under a mutex, so lines from several
 * threads never interleave. A sink must not call tk_log itself. */
#include "tk_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "tk_time.h"

#define LOG_LINE_MAX 1024

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static enum tk_log_level log_level = TK_LOG_INFO;
static tk_log_sink log_sink;
static void *log_ud;
static const char *log_name = "takumi";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static void default_sink(enum tk_log_level level, const char *msg, void *ud)
{
    char ts[32];
    (void)ud;
    if (tk_time_format(tk_now_utc_us(), ts, sizeof ts) != TK_OK)
        ts[0] = '\0';
    fprintf(stderr, "%s %s %s: %s\n", ts, level_names[level], log_name, msg);
}

void tk_log_set_level(enum tk_log_level level)
{
    if ((int)level < TK_LOG_ERR)
        level = TK_LOG_ERR;
    if (level > TK_LOG_DEBUG)
        level = TK_LOG_DEBUG;
    pthread_mutex_lock(&log_mu);
    log_level = level;
    pthread_mutex_unlock(&log_mu);
}

void tk_log_set_sink(tk_log_sink sink, void *ud)
{
    pthread_mutex_lock(&log_mu);
    log_sink = sink;
    log_ud = sink ? ud : NULL;
    pthread_mutex_unlock(&log_mu);
}

void tk_log_set_name(const char *name)
{
    pthread_mutex_lock(&log_mu);
    log_name = name ? name : "takumi";
    pthread_mutex_unlock(&log_mu);
}

void tk_log(enum tk_log_level level, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;

    if ((int)level < TK_LOG_ERR || level > TK_LOG_DEBUG || !fmt)
        return;
    pthread_mutex_lock(&log_mu);
    if (level > log_level) {
        pthread_mutex_unlock(&log_mu);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_sink)
        log_sink(level, msg, log_ud);
    else
        default_sink(level, msg, NULL);
    pthread_mutex_unlock(&log_mu);
}
