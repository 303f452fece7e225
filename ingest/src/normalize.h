/* Normalisation: a validated reading of a registered device becomes observations of
 * fixed quantities in SI units with UTC microsecond times (SPEC section 3). */
#ifndef ING_NORMALIZE_H
#define ING_NORMALIZE_H

#include <stddef.h>
#include "store.h"
#include "tk_quantity.h"
#include "tk_reading.h"

#define ING_OBS_PER_READING 4

struct ing_obs {
    enum tk_quantity q;
    int64_t t_us, t_end_us; /* t_end_us 0 for an instant */
    double result;
};

struct ing_norm {
    struct ing_obs obs[ING_OBS_PER_READING];
    int n;
    /* SensorThings "parameters" shared by the reading's observations: unknown fields,
     * raw values behind a conversion, cumulative counters. JSON object text or "" */
    char *params;
    size_t params_len, params_cap;
};

/** Free the params buffer. */
void ing_norm_free(struct ing_norm *nm);

/** Normalise r (whose kind equals dev->kind). prev_cum_in/out (when have_prev) are the
 *  cumulative counters of the device's previous people_flow reading, used to flag
 *  counter resets. On TK_EINVAL err names the rule (e.g. a distance reading from a
 *  device with no calibrated mount height). */
enum tk_rc ing_normalize(const struct tk_reading *r, const struct store_device *dev, int have_prev,
                         int64_t prev_cum_in, int64_t prev_cum_out, struct ing_norm *nm,
                         struct tk_error *err) TK_WUR;

/** Water level in metres from an ultrasonic distance (mm) and the mount height (m). */
double ing_level_from_distance(double distance_mm, double mount_height_m);
/** Water level in metres above the sensor from a submerged pressure reading (kPa). */
double ing_level_from_pressure(double pressure_kpa, double density_kg_m3);

#endif
