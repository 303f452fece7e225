/* SQLite backend: alerts, their settings, what the platform last published to each
 * gauge's config topic, and the latest device status (schema version 6).
 *
 * The alert list has optional filters; one prepared statement takes them all, each
 * bound to NULL when unused, so there is no SQL built per request. */
#include <stdio.h>
#include <string.h>

#include "sqlite_int.h"
#include "tk_time.h"

#define AL_COLS                                                                                    \
    "id, device_id, name, lat, lon, cond, active, event, severity, severity_max, value,"           \
    " threshold, start_us, end_us, peak_value, peak_us, updated_us, rev"

#define AL_WHERE                                                                                   \
    " WHERE (?1 IS NULL OR active = ?1)"                                                           \
    " AND (?2 = 0 OR ((1 << severity) & ?2) != 0)"                                                 \
    " AND (?3 IS NULL OR cond = ?3)"                                                               \
    " AND (?4 IS NULL OR device_id = ?4)"                                                          \
    " AND (?5 IS NULL OR (lon BETWEEN ?5 AND ?7 AND lat BETWEEN ?6 AND ?8))"                       \
    " AND (?9 IS NULL OR coalesce(end_us, ?13) >= ?9)" /* an open alert lasts until now */         \
    " AND (?10 IS NULL OR start_us < ?10)"

static const char *const al_sql[AL_N] = {
    [AL_CFG_GET] = "SELECT caution_m, warning_m, danger_m, rise_m_per_10min, hysteresis_m,"
                   " silence_intervals, interval_s, fast_interval_s, updated_us"
                   " FROM alert_config WHERE device_id = ?1",
    [AL_CFG_PUT] = "INSERT OR REPLACE INTO alert_config (device_id, caution_m, warning_m,"
                   " danger_m, rise_m_per_10min, hysteresis_m, silence_intervals, interval_s,"
                   " fast_interval_s, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                   " ?10)",
    [AL_CFG_STAMP] = "SELECT coalesce(max(updated_us), 0) + count(*) FROM alert_config",
    [AL_ADD] = "INSERT INTO alerts (device_id, name, lat, lon, cond, active, event, severity,"
               " severity_max, value, threshold, start_us, end_us, peak_value, peak_us,"
               " updated_us, rev) VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
               " ?14, ?15, ?16, ?17, ?18)",
    [AL_UPDATE] = "UPDATE alerts SET device_id = ?2, name = ?3, lat = ?4, lon = ?5, cond = ?6,"
                  " active = ?7, event = ?8, severity = ?9, severity_max = ?10, value = ?11,"
                  " threshold = ?12, start_us = ?13, end_us = ?14, peak_value = ?15,"
                  " peak_us = ?16, updated_us = ?17, rev = ?18 WHERE id = ?1",
    [AL_GET] = "SELECT " AL_COLS " FROM alerts WHERE id = ?1",
    [AL_LIST] = "SELECT " AL_COLS " FROM alerts" AL_WHERE " ORDER BY id DESC LIMIT ?11 OFFSET ?12",
    [AL_COUNT] = "SELECT count(*) FROM alerts" AL_WHERE,
    [AL_DEV_GET] = "SELECT config_version, fast, fast_since_us FROM alert_device"
                   " WHERE device_id = ?1",
    [AL_DEV_PUT] = "INSERT OR REPLACE INTO alert_device (device_id, config_version, fast,"
                   " fast_since_us) VALUES (?1, ?2, ?3, ?4)",
    [AL_STATUS_PUT] = "INSERT OR REPLACE INTO device_status (device_id, online, fw, battery_v,"
                      " rssi_dbm, received_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [AL_STATUS_GET] = "SELECT online, fw, battery_v, rssi_dbm, received_us FROM device_status"
                      " WHERE device_id = ?1",
};

enum tk_rc store_sqlite__alert_prepare(struct sq_store *sq)
{
    return store_sqlite__prepare(sq, sq->al, al_sql, AL_N);
}

static void done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* ---- settings ---------------------------------------------------------------------- */

enum tk_rc store_sqlite__alert_config_get(struct store *st, const char *id,
                                          struct store_alert_config *out)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->al[AL_CFG_GET];
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        snprintf(out->device_id, sizeof out->device_id, "%s", id);
        out->is_set = 1;
        out->caution_m = sqlite3_column_double(s, 0);
        out->warning_m = sqlite3_column_double(s, 1);
        out->danger_m = sqlite3_column_double(s, 2);
        out->rise_m_per_10min = sqlite3_column_double(s, 3);
        out->hysteresis_m = sqlite3_column_double(s, 4);
        out->silence_intervals = sqlite3_column_int64(s, 5);
        out->interval_s = sqlite3_column_int64(s, 6);
        out->fast_interval_s = sqlite3_column_int64(s, 7);
        out->updated_us = sqlite3_column_int64(s, 8);
    } else if (src == SQLITE_DONE) {
        rc = store__fail(st, TK_ENOTFOUND, "no alert settings stored for %s", id);
    } else {
        rc = store_sqlite__err(sq, src, "reading alert settings");
    }
    done(s);
    return rc;
}

enum tk_rc store_sqlite__alert_config_put(struct store *st, const struct store_alert_config *c)
{
    struct sq_store *sq = sq_of(st);
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    sqlite3_stmt *s = sq->al[AL_CFG_PUT];
    sqlite3_bind_text(s, 1, c->device_id, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 2, c->caution_m);
    sqlite3_bind_double(s, 3, c->warning_m);
    sqlite3_bind_double(s, 4, c->danger_m);
    sqlite3_bind_double(s, 5, c->rise_m_per_10min);
    sqlite3_bind_double(s, 6, c->hysteresis_m);
    sqlite3_bind_int64(s, 7, c->silence_intervals);
    sqlite3_bind_int64(s, 8, c->interval_s);
    sqlite3_bind_int64(s, 9, c->fast_interval_s);
    sqlite3_bind_int64(s, 10, c->updated_us);
    rc = store_sqlite__exec(sq, s, "storing alert settings");
    sqlite3_clear_bindings(s);
    return store_sqlite__write_leave(sq, nested, rc);
}

enum tk_rc store_sqlite__alert_config_stamp(struct store *st, int64_t *stamp)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->al[AL_CFG_STAMP];
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW)
        *stamp = sqlite3_column_int64(s, 0);
    else
        rc = store_sqlite__err(sq, src, "reading the alert settings stamp");
    done(s);
    return rc;
}

/* ---- alerts ----------------------------------------------------------------------- */

static void bind_alert(sqlite3_stmt *s, const struct store_alert *a)
{
    sqlite3_bind_int64(s, 1, a->id);
    sqlite3_bind_text(s, 2, a->device_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 4, a->lat);
    sqlite3_bind_double(s, 5, a->lon);
    sqlite3_bind_int(s, 6, (int)a->cond);
    sqlite3_bind_int(s, 7, a->active ? 1 : 0);
    sqlite3_bind_int(s, 8, (int)a->event);
    sqlite3_bind_int(s, 9, (int)a->severity);
    sqlite3_bind_int(s, 10, (int)a->severity_max);
    sqlite3_bind_double(s, 11, a->value);
    sqlite3_bind_double(s, 12, a->threshold);
    sqlite3_bind_int64(s, 13, a->start_us);
    if (!a->active)
        sqlite3_bind_int64(s, 14, a->end_us);
    sqlite3_bind_double(s, 15, a->peak_value);
    sqlite3_bind_int64(s, 16, a->peak_us);
    sqlite3_bind_int64(s, 17, a->updated_us);
    sqlite3_bind_int64(s, 18, a->rev);
}

static void read_alert(sqlite3_stmt *s, struct store_alert *a)
{
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(s, 0);
    const char *t = (const char *)sqlite3_column_text(s, 1);
    snprintf(a->device_id, sizeof a->device_id, "%s", t ? t : "");
    t = (const char *)sqlite3_column_text(s, 2);
    snprintf(a->name, sizeof a->name, "%s", t ? t : "");
    a->lat = sqlite3_column_double(s, 3);
    a->lon = sqlite3_column_double(s, 4);
    a->cond = (enum store_alert_cond)sqlite3_column_int(s, 5);
    a->active = sqlite3_column_int(s, 6);
    a->event = (enum store_alert_event)sqlite3_column_int(s, 7);
    a->severity = (enum store_alert_sev)sqlite3_column_int(s, 8);
    a->severity_max = (enum store_alert_sev)sqlite3_column_int(s, 9);
    a->value = sqlite3_column_double(s, 10);
    a->threshold = sqlite3_column_double(s, 11);
    a->start_us = sqlite3_column_int64(s, 12);
    a->end_us = sqlite3_column_int64(s, 13);
    a->peak_value = sqlite3_column_double(s, 14);
    a->peak_us = sqlite3_column_int64(s, 15);
    a->updated_us = sqlite3_column_int64(s, 16);
    a->rev = sqlite3_column_int64(s, 17);
}

enum tk_rc store_sqlite__alert_add(struct store *st, struct store_alert *a)
{
    struct sq_store *sq = sq_of(st);
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    sqlite3_stmt *s = sq->al[AL_ADD];
    bind_alert(s, a);
    rc = store_sqlite__exec(sq, s, "adding an alert");
    sqlite3_clear_bindings(s);
    if (!rc)
        a->id = sqlite3_last_insert_rowid(sq->db);
    return store_sqlite__write_leave(sq, nested, rc);
}

enum tk_rc store_sqlite__alert_update(struct store *st, const struct store_alert *a)
{
    struct sq_store *sq = sq_of(st);
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    sqlite3_stmt *s = sq->al[AL_UPDATE];
    bind_alert(s, a);
    rc = store_sqlite__exec(sq, s, "updating an alert");
    sqlite3_clear_bindings(s);
    if (!rc && sqlite3_changes(sq->db) == 0)
        rc = store__fail(st, TK_ENOTFOUND, "no alert %lld", (long long)a->id);
    return store_sqlite__write_leave(sq, nested, rc);
}

enum tk_rc store_sqlite__alert_get(struct store *st, int64_t id, struct store_alert *out)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->al[AL_GET];
    sqlite3_bind_int64(s, 1, id);
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW)
        read_alert(s, out);
    else if (src == SQLITE_DONE)
        rc = store__fail(st, TK_ENOTFOUND, "no alert %lld", (long long)id);
    else
        rc = store_sqlite__err(sq, src, "reading an alert");
    done(s);
    return rc;
}

static void bind_filter(sqlite3_stmt *s, const struct store_alert_filter *f)
{
    if (f->state >= 0)
        sqlite3_bind_int(s, 1, f->state ? 1 : 0);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)f->severities);
    if (f->cond >= 0)
        sqlite3_bind_int(s, 3, f->cond);
    if (f->device_id)
        sqlite3_bind_text(s, 4, f->device_id, -1, SQLITE_STATIC);
    if (f->has_bbox) {
        sqlite3_bind_double(s, 5, f->min_lon);
        sqlite3_bind_double(s, 6, f->min_lat);
        sqlite3_bind_double(s, 7, f->max_lon);
        sqlite3_bind_double(s, 8, f->max_lat);
    }
    if (f->from_us)
        sqlite3_bind_int64(s, 9, f->from_us);
    sqlite3_bind_int64(s, 13, tk_now_utc_us());
    if (f->to_us)
        sqlite3_bind_int64(s, 10, f->to_us);
}

enum tk_rc store_sqlite__alert_list(struct store *st, const struct store_alert_filter *f,
                                    store_alert_cb cb, void *ud, int64_t *total)
{
    struct sq_store *sq = sq_of(st);
    int own;
    enum tk_rc rc = store_sqlite__read_enter(sq, &own);
    if (rc)
        return rc;
    if (total) {
        sqlite3_stmt *c = sq->al[AL_COUNT];
        bind_filter(c, f);
        int src = sqlite3_step(c);
        if (src == SQLITE_ROW)
            *total = sqlite3_column_int64(c, 0);
        else
            rc = store_sqlite__err(sq, src, "counting alerts");
        done(c);
    }
    sqlite3_stmt *s = sq->al[AL_LIST];
    if (!rc) {
        bind_filter(s, f);
        sqlite3_bind_int64(s, 11, f->top > 0 ? f->top : -1);
        sqlite3_bind_int64(s, 12, f->skip > 0 ? f->skip : 0);
        int src;
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            struct store_alert a;
            read_alert(s, &a);
            if (cb(&a, ud))
                break;
        }
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            rc = store_sqlite__err(sq, src, "listing alerts");
        done(s);
    }
    store_sqlite__read_leave(sq, own);
    return rc;
}

/* ---- what the gauge was told ------------------------------------------------------ */

enum tk_rc store_sqlite__alert_device_get(struct store *st, const char *id,
                                          struct store_alert_device *out)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->al[AL_DEV_GET];
    memset(out, 0, sizeof *out);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW) {
        out->config_version = (uint32_t)sqlite3_column_int64(s, 0);
        out->fast = sqlite3_column_int(s, 1);
        out->fast_since_us = sqlite3_column_int64(s, 2);
    } else if (src != SQLITE_DONE) {
        rc = store_sqlite__err(sq, src, "reading the published config state");
    }
    done(s);
    return rc;
}

enum tk_rc store_sqlite__alert_device_put(struct store *st, const char *id,
                                          const struct store_alert_device *d)
{
    struct sq_store *sq = sq_of(st);
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    sqlite3_stmt *s = sq->al[AL_DEV_PUT];
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, d->config_version);
    sqlite3_bind_int(s, 3, d->fast ? 1 : 0);
    sqlite3_bind_int64(s, 4, d->fast_since_us);
    rc = store_sqlite__exec(sq, s, "saving the published config state");
    sqlite3_clear_bindings(s);
    return store_sqlite__write_leave(sq, nested, rc);
}

/* ---- device status ---------------------------------------------------------------- */

enum tk_rc store_sqlite__device_status_put(struct store *st, const struct store_device_status *d)
{
    struct sq_store *sq = sq_of(st);
    int nested;
    enum tk_rc rc = store_sqlite__write_enter(sq, &nested, 0);
    if (rc)
        return rc;
    sqlite3_stmt *s = sq->al[AL_STATUS_PUT];
    sqlite3_bind_text(s, 1, d->device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, d->online ? 1 : 0);
    if (d->fw[0])
        sqlite3_bind_text(s, 3, d->fw, -1, SQLITE_STATIC);
    if (d->has_battery)
        sqlite3_bind_double(s, 4, d->battery_v);
    if (d->has_rssi)
        sqlite3_bind_int(s, 5, d->rssi_dbm);
    sqlite3_bind_int64(s, 6, d->received_us);
    rc = store_sqlite__exec(sq, s, "saving a device status");
    sqlite3_clear_bindings(s);
    return store_sqlite__write_leave(sq, nested, rc);
}

enum tk_rc store_sqlite__device_status_get(struct store *st, const char *id,
                                           struct store_device_status *out)
{
    struct sq_store *sq = sq_of(st);
    sqlite3_stmt *s = sq->al[AL_STATUS_GET];
    memset(out, 0, sizeof *out);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int src = sqlite3_step(s);
    enum tk_rc rc = TK_OK;
    if (src == SQLITE_ROW) {
        snprintf(out->device_id, sizeof out->device_id, "%s", id);
        out->online = sqlite3_column_int(s, 0);
        const char *fw = (const char *)sqlite3_column_text(s, 1);
        snprintf(out->fw, sizeof out->fw, "%s", fw ? fw : "");
        out->has_battery = sqlite3_column_type(s, 2) != SQLITE_NULL;
        out->battery_v = sqlite3_column_double(s, 2);
        out->has_rssi = sqlite3_column_type(s, 3) != SQLITE_NULL;
        out->rssi_dbm = sqlite3_column_int(s, 3);
        out->received_us = sqlite3_column_int64(s, 4);
    } else if (src == SQLITE_DONE) {
        rc = store__fail(st, TK_ENOTFOUND, "no status from %s", id);
    } else {
        rc = store_sqlite__err(sq, src, "reading a device status");
    }
    done(s);
    return rc;
}
