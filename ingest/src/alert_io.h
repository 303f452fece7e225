/* The alert engine's side effects: loading a gauge's alert state from the store, and
 * storing and publishing what the pure core (alert.h) reports. Everything runs inside
 * the writer's transaction; the packets wait in the publisher's buffer and go out right
 * after the commit (or are discarded with a rollback). */
#ifndef ING_ALERT_IO_H
#define ING_ALERT_IO_H

#include "alert.h"
#include "pub.h"
#include "store.h"

/** A gauge's engine state rebuilt from the store: its settings (stored or default), its
 *  open alerts, the level points of the last 11 minutes before its latest observation,
 *  what its config topic says. The last arrival is the resultTime (receive time) of the
 *  latest observation, at most now_us. *out is new (free()). */
enum tk_rc ing_alerts_load(struct store *st, const struct store_device *dev, int64_t now_us,
                           struct ing_alert_gauge **out) TK_WUR;

/** Reload the settings (after an operator changed them); the alert state stays. */
enum tk_rc ing_alerts_reconfig(struct store *st, struct ing_alert_gauge *g,
                               const struct store_device *dev) TK_WUR;

/** A stored level reading: evaluate, store the changed alerts, queue their messages on
 *  city/alerts/{id} and, when the gauge enters or leaves alerting, its retained config.
 *  *npub is increased by the packets queued. */
enum tk_rc ing_alerts_reading(struct store *st, struct ing_pub *pub, struct ing_alert_gauge *g,
                              int64_t t_us, double level_m, int64_t now_us, uint64_t *npub) TK_WUR;

/** The silence timer, the same way. */
enum tk_rc ing_alerts_tick(struct store *st, struct ing_pub *pub, struct ing_alert_gauge *g,
                           int64_t now_us, uint64_t *npub) TK_WUR;

/** Queue the gauge's current retained config again (same version: a gauge that has it
 *  ignores it), after the publisher lost packets. Nothing if none was ever published. */
enum tk_rc ing_alerts_config_resend(struct ing_pub *pub, const struct ing_alert_gauge *g,
                                    uint64_t *npub) TK_WUR;

/** The retained config payload for the gauge (fast: report every fast_interval_s) into
 *  buf. */
enum tk_rc ing_alerts_config_json(const struct store_alert_config *c, uint32_t version, int fast,
                                  char *buf, size_t size, size_t *len) TK_WUR;

#endif
