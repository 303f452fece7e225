/* water_level app: a sewer gauge with an ultrasonic/radar distance sensor or a submerged
 * pressure sensor, a battery, and fast reporting when the level is high or rising.
 *
 * Every sample_s: a burst of reads, median, spike filter (fw_filter.h); the accepted
 * value becomes one reading (distance_mm or pressure_kpa as measured, the platform
 * converts with the calibrated mount height or water density) and feeds the reporting
 * policy (fw_policy.h), which switches the device between interval_s and
 * fast_interval_s. The level for the policy is mount_height - distance (ultrasonic) or
 * p / (rho g) (pressure); with no mount height known locally, only the rise rate can
 * start fast mode (a rise in level is a fall in distance either way). */
#ifndef FW_WATER_LEVEL_H
#define FW_WATER_LEVEL_H

#include "fw_device.h"
#include "fw_filter.h"
#include "fw_policy.h"

enum fw_wl_sensor { FW_WL_ULTRASONIC = 0, FW_WL_PRESSURE };

struct fw_wl_opts {
    enum fw_wl_sensor sensor;
    int32_t mount_height_mm; /* 0: unknown */
    unsigned burst;          /* reads per sample, odd, <= FW_BURST_MAX */
    int32_t max_step_mm;     /* spike filter: larger steps need confirmation */
    int temp;                /* the sensor also reports water temperature */
};

struct fw_wl {
    struct fw_dev *dev; /* borrowed */
    struct fw_wl_opts o;
    struct fw_spike spike;
    struct fw_policy pol;
    uint32_t next_sample;
    int32_t level_mm; /* last accepted level (policy view) */
    uint32_t samples, sensor_errors, no_clock;
};

void fw_wl_default_opts(struct fw_wl_opts *o);
void fw_wl_init(struct fw_wl *w, struct fw_dev *dev, const struct fw_wl_opts *o);
/** Sample when due; checks in FW_TASK_APP. Call fw_dev_tick() as well, every loop turn. */
void fw_wl_tick(struct fw_wl *w);

#endif
