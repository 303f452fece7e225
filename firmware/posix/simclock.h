/* The process's clock, accelerated by a time-scale factor (60: one simulated minute per
 * second). Every simulated device reads the same clock, and "now" is read once per loop
 * turn (simclock_tick): sampling, reporting intervals, interval_s, the scenario and the
 * readings' timestamps all run in simulated time, so at --time-scale 60 a gauge sampling
 * every 60 s and reporting every 600 s samples every second and reports every 10 s, and
 * its readings are stamped a minute apart. Network timeouts are given in real time and
 * multiplied by the scale where they enter the core, so the device still waits 15 real
 * seconds for a broker whatever the scale. The monotonic clock starts at 0 and wraps at
 * 2^32 ms like a board's (the core compares with signed differences). */
#ifndef FW_POSIX_SIMCLOCK_H
#define FW_POSIX_SIMCLOCK_H

#include <stdint.h>
#include <time.h>

struct simclock {
    double scale;
    struct timespec t0; /* CLOCK_MONOTONIC at start */
    int64_t utc0_ms;    /* simulated UTC at start */
    uint64_t real_ms;   /* real ms since start, at the last tick */
    double sim_ms;      /* simulated ms since start, at the last tick */
};

/** Start now; utc_start_ms 0 means the real time of day. */
static inline void simclock_init(struct simclock *c, double scale, int64_t utc_start_ms)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    c->scale = scale > 0 ? scale : 1;
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    c->utc0_ms = utc_start_ms ? utc_start_ms : (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    c->real_ms = 0;
    c->sim_ms = 0;
}

/** Read the real clock (once per loop turn). */
static inline void simclock_tick(struct simclock *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ns = (int64_t)(now.tv_sec - c->t0.tv_sec) * 1000000000 + (now.tv_nsec - c->t0.tv_nsec);
    c->real_ms = (uint64_t)(ns / 1000000);
    c->sim_ms = (double)ns / 1e6 * c->scale;
}

static inline uint32_t simclock_mono_ms(const struct simclock *c)
{
    return (uint32_t)(uint64_t)c->sim_ms;
}

static inline int64_t simclock_utc_ms(const struct simclock *c)
{
    return c->utc0_ms + (int64_t)c->sim_ms;
}

static inline double simclock_sim_s(const struct simclock *c)
{
    return c->sim_ms / 1000.0;
}

/** A real-time duration in simulated ms (for the core's network timeouts). */
static inline uint32_t simclock_real_to_sim(const struct simclock *c, uint32_t real_ms)
{
    double v = (double)real_ms * c->scale;
    return v > 2.0e9 ? 2000000000u : (uint32_t)v;
}

#endif
