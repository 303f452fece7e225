/* PostgreSQL backend: alerts, their settings, what the platform last published to each
 * gauge's config topic, and the latest device status, as sqlite_alert.c for SQLite.
 *
 * Inside store_begin (the ingest raises and updates alerts in the transaction of the
 * reading that caused them) every statement here runs at once in that transaction, while
 * the transaction's observations wait in memory until commit (pg_writer.c): both become
 * visible to others at the one COMMIT or not at all. A read of observations inside the
 * transaction writes them first (pg_query.c), so reads see the alerts and rows written
 * before them.
 *
 * The alert list has optional filters; one prepared statement takes them all, each bound
 * to NULL when unused. The number matching and the first page come from one statement
 * (one snapshot); a walk longer than a page goes on by id in further statements, each
 * calling back from its own result so that memory stays bounded and the callback may
 * use the store. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pg_int.h"
#include "tk_time.h"

#define PAGE_ROWS 256 /* alerts per statement of a walk */

enum {
    AL_CFG_GET,
    AL_CFG_PUT,
    AL_CFG_STAMP,
    AL_ADD,
    AL_UPDATE,
    AL_GET,
    AL_LIST,
    AL_LIST_COUNT,
    AL_DEV_GET,
    AL_DEV_PUT,
    AL_STATUS_PUT,
    AL_STATUS_GET,
    AL_N
};

#define AL_COLS                                                                                    \
    "id, device_id, name, lat, lon, cond, active, event, severity, severity_max, value,"           \
    " threshold, start_us, end_us, peak_value, peak_us, updated_us, rev"

/* $1 active, $2 severity bits, $3 cond, $4 device, $5-$8 bbox (min lon, min lat, max lon,
 * max lat), $9 from, $10 to, $13 now (an open alert lasts until now) */
#define AL_WHERE                                                                                   \
    " WHERE ($1::integer IS NULL OR active = $1)"                                                  \
    " AND ($2::bigint = 0 OR ((1::bigint << severity) & $2) <> 0)"                                 \
    " AND ($3::integer IS NULL OR cond = $3)"                                                      \
    " AND ($4::text IS NULL OR device_id = $4)"                                                    \
    " AND ($5::float8 IS NULL OR (lon BETWEEN $5 AND $7::float8"                                   \
    " AND lat BETWEEN $6::float8 AND $8::float8))"                                                 \
    " AND ($9::bigint IS NULL OR coalesce(end_us, $13::bigint) >= $9)"                             \
    " AND ($10::bigint IS NULL OR start_us < $10)"

/* $11 limit, $12 offset, $14 ids below it (the next page) */
#define AL_PAGE                                                                                    \
    "SELECT " AL_COLS " FROM alerts" AL_WHERE " AND id < $14::bigint ORDER BY id DESC"             \
    " LIMIT $11::bigint OFFSET $12::bigint"

#define AL_FIELDS                                                                                  \
    "device_id, name, lat, lon, cond, active, event, severity, severity_max, value, threshold,"    \
    " start_us, end_us, peak_value, peak_us, updated_us, rev"

static const char *const al_sql[AL_N] = {
    [AL_CFG_GET] = "SELECT caution_m, warning_m, danger_m, rise_m_per_10min, hysteresis_m,"
                   " silence_intervals, interval_s, fast_interval_s, updated_us"
                   " FROM alert_config WHERE device_id = $1",
    [AL_CFG_PUT] = "INSERT INTO alert_config (device_id, caution_m, warning_m, danger_m,"
                   " rise_m_per_10min, hysteresis_m, silence_intervals, interval_s,"
                   " fast_interval_s, updated_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                   " ON CONFLICT (device_id) DO UPDATE SET caution_m = excluded.caution_m,"
                   " warning_m = excluded.warning_m, danger_m = excluded.danger_m,"
                   " rise_m_per_10min = excluded.rise_m_per_10min,"
                   " hysteresis_m = excluded.hysteresis_m,"
                   " silence_intervals = excluded.silence_intervals,"
                   " interval_s = excluded.interval_s, fast_interval_s = excluded.fast_interval_s,"
                   " updated_us = excluded.updated_us",
    [AL_CFG_STAMP] = "SELECT coalesce(max(updated_us), 0) + count(*) FROM alert_config",
    [AL_ADD] = "INSERT INTO alerts (" AL_FIELDS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
               " $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
    [AL_UPDATE] = "UPDATE alerts SET (" AL_FIELDS ") = ($2, $3, $4, $5, $6, $7, $8, $9, $10,"
                  " $11, $12, $13, $14, $15, $16, $17, $18) WHERE id = $1",
    [AL_GET] = "SELECT " AL_COLS " FROM alerts WHERE id = $1",
    [AL_LIST] = AL_PAGE,
    /* one row even when the page is empty (its columns then NULL), with the count */
    [AL_LIST_COUNT] = "SELECT (SELECT count(*) FROM alerts" AL_WHERE "), p.*"
                      " FROM (VALUES (0)) AS one(x) LEFT JOIN LATERAL (" AL_PAGE ") p ON true"
                      " ORDER BY p.id DESC",
    [AL_DEV_GET] = "SELECT config_version, fast, fast_since_us FROM alert_device"
                   " WHERE device_id = $1",
    [AL_DEV_PUT] = "INSERT INTO alert_device (device_id, config_version, fast, fast_since_us)"
                   " VALUES ($1, $2, $3, $4) ON CONFLICT (device_id) DO UPDATE SET"
                   " config_version = excluded.config_version, fast = excluded.fast,"
                   " fast_since_us = excluded.fast_since_us",
    [AL_STATUS_PUT] = "INSERT INTO device_status (device_id, online, fw, battery_v, rssi_dbm,"
                      " received_us) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (device_id)"
                      " DO UPDATE SET online = excluded.online, fw = excluded.fw,"
                      " battery_v = excluded.battery_v, rssi_dbm = excluded.rssi_dbm,"
                      " received_us = excluded.received_us",
    [AL_STATUS_GET] = "SELECT online, fw, battery_v, rssi_dbm, received_us FROM device_status"
                      " WHERE device_id = $1",
};

enum tk_rc store_pg__alert_prepare(struct pg_store *pg)
{
    return store_pg__prepare(pg, "al", al_sql, AL_N);
}

static enum tk_rc run(struct pg_store *pg, int i, int n, const char *const *vals, PGresult **out,
                      const char *what)
{
    return store_pg__run_tagged(pg, "al", i, n, vals, out, what);
}

static enum tk_rc write1(struct pg_store *pg, int i, int n, const char *const *vals, PGresult **out,
                         const char *what)
{
    return store_pg__write_tagged(pg, "al", i, n, vals, out, what);
}

/* ---- settings ---------------------------------------------------------------------- */

enum tk_rc store_pg__alert_config_get(struct store *st, const char *id,
                                      struct store_alert_config *out)
{
    struct pg_store *pg = pg_of(st);
    const char *v[1] = {id};
    PGresult *res = NULL;
    enum tk_rc rc = run(pg, AL_CFG_GET, 1, v, &res, "reading alert settings");
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        rc = store__fail(st, TK_ENOTFOUND, "no alert settings stored for %s", id);
    } else {
        memset(out, 0, sizeof *out);
        snprintf(out->device_id, sizeof out->device_id, "%s", id);
        out->is_set = 1;
        out->caution_m = store_pg__real(res, 0, 0);
        out->warning_m = store_pg__real(res, 0, 1);
        out->danger_m = store_pg__real(res, 0, 2);
        out->rise_m_per_10min = store_pg__real(res, 0, 3);
        out->hysteresis_m = store_pg__real(res, 0, 4);
        out->silence_intervals = store_pg__int(res, 0, 5);
        out->interval_s = store_pg__int(res, 0, 6);
        out->fast_interval_s = store_pg__int(res, 0, 7);
        out->updated_us = store_pg__int(res, 0, 8);
    }
    PQclear(res);
    return rc;
}

enum tk_rc store_pg__alert_config_put(struct store *st, const struct store_alert_config *c)
{
    struct pg_num n[9];
    const char *v[10] = {c->device_id,
                         store_pg__fmt_d(&n[0], c->caution_m),
                         store_pg__fmt_d(&n[1], c->warning_m),
                         store_pg__fmt_d(&n[2], c->danger_m),
                         store_pg__fmt_d(&n[3], c->rise_m_per_10min),
                         store_pg__fmt_d(&n[4], c->hysteresis_m),
                         store_pg__fmt_i(&n[5], c->silence_intervals),
                         store_pg__fmt_i(&n[6], c->interval_s),
                         store_pg__fmt_i(&n[7], c->fast_interval_s),
                         store_pg__fmt_i(&n[8], c->updated_us)};
    return write1(pg_of(st), AL_CFG_PUT, 10, v, NULL, "storing alert settings");
}

enum tk_rc store_pg__alert_config_stamp(struct store *st, int64_t *stamp)
{
    struct pg_store *pg = pg_of(st);
    PGresult *res = NULL;
    enum tk_rc rc = run(pg, AL_CFG_STAMP, 0, NULL, &res, "reading the alert settings stamp");
    if (rc)
        return rc;
    *stamp = store_pg__int(res, 0, 0);
    PQclear(res);
    return TK_OK;
}

/* ---- alerts ----------------------------------------------------------------------- */

/* The values of an alert as AL_UPDATE takes them: v[0] the id, v[1..17] AL_FIELDS. */
struct alert_vals {
    struct pg_num n[15];
    const char *v[18];
};

static void alert_vals(struct alert_vals *b, const struct store_alert *a)
{
    struct pg_num *n = b->n;
    const char **v = b->v;
    v[0] = store_pg__fmt_i(&n[0], a->id);
    v[1] = a->device_id;
    v[2] = a->name;
    v[3] = store_pg__fmt_d(&n[1], a->lat);
    v[4] = store_pg__fmt_d(&n[2], a->lon);
    v[5] = store_pg__fmt_i(&n[3], (int64_t)a->cond);
    v[6] = a->active ? "1" : "0";
    v[7] = store_pg__fmt_i(&n[4], (int64_t)a->event);
    v[8] = store_pg__fmt_i(&n[5], (int64_t)a->severity);
    v[9] = store_pg__fmt_i(&n[6], (int64_t)a->severity_max);
    v[10] = store_pg__fmt_d(&n[7], a->value);
    v[11] = store_pg__fmt_d(&n[8], a->threshold);
    v[12] = store_pg__fmt_i(&n[9], a->start_us);
    v[13] = a->active ? NULL : store_pg__fmt_i(&n[10], a->end_us);
    v[14] = store_pg__fmt_d(&n[11], a->peak_value);
    v[15] = store_pg__fmt_i(&n[12], a->peak_us);
    v[16] = store_pg__fmt_i(&n[13], a->updated_us);
    v[17] = store_pg__fmt_i(&n[14], a->rev);
}

/* Row r of an AL_COLS result starting at column c. */
static void read_alert(PGresult *res, int r, int c, struct store_alert *a)
{
    memset(a, 0, sizeof *a);
    a->id = store_pg__int(res, r, c + 0);
    snprintf(a->device_id, sizeof a->device_id, "%s", PQgetvalue(res, r, c + 1));
    snprintf(a->name, sizeof a->name, "%s", PQgetvalue(res, r, c + 2));
    a->lat = store_pg__real(res, r, c + 3);
    a->lon = store_pg__real(res, r, c + 4);
    a->cond = (enum store_alert_cond)store_pg__int(res, r, c + 5);
    a->active = (int)store_pg__int(res, r, c + 6);
    a->event = (enum store_alert_event)store_pg__int(res, r, c + 7);
    a->severity = (enum store_alert_sev)store_pg__int(res, r, c + 8);
    a->severity_max = (enum store_alert_sev)store_pg__int(res, r, c + 9);
    a->value = store_pg__real(res, r, c + 10);
    a->threshold = store_pg__real(res, r, c + 11);
    a->start_us = store_pg__int(res, r, c + 12);
    a->end_us = store_pg__int(res, r, c + 13);
    a->peak_value = store_pg__real(res, r, c + 14);
    a->peak_us = store_pg__int(res, r, c + 15);
    a->updated_us = store_pg__int(res, r, c + 16);
    a->rev = store_pg__int(res, r, c + 17);
}

enum tk_rc store_pg__alert_add(struct store *st, struct store_alert *a)
{
    struct alert_vals b;
    alert_vals(&b, a);
    PGresult *res = NULL;
    enum tk_rc rc = write1(pg_of(st), AL_ADD, 17, b.v + 1, &res, "adding an alert");
    if (!rc) {
        a->id = store_pg__int(res, 0, 0);
        PQclear(res);
    }
    return rc;
}

enum tk_rc store_pg__alert_update(struct store *st, const struct store_alert *a)
{
    struct alert_vals b;
    alert_vals(&b, a);
    PGresult *res = NULL;
    enum tk_rc rc = write1(pg_of(st), AL_UPDATE, 18, b.v, &res, "updating an alert");
    if (!rc) {
        if (store_pg__changes(res) == 0)
            rc = store__fail(st, TK_ENOTFOUND, "no alert %" PRId64, a->id);
        PQclear(res);
    }
    return rc;
}

enum tk_rc store_pg__alert_get(struct store *st, int64_t id, struct store_alert *out)
{
    struct pg_store *pg = pg_of(st);
    struct pg_num a;
    const char *v[1] = {store_pg__fmt_i(&a, id)};
    PGresult *res = NULL;
    enum tk_rc rc = run(pg, AL_GET, 1, v, &res, "reading an alert");
    if (rc)
        return rc;
    if (PQntuples(res) == 0)
        rc = store__fail(st, TK_ENOTFOUND, "no alert %" PRId64, id);
    else
        read_alert(res, 0, 0, out);
    PQclear(res);
    return rc;
}

enum tk_rc store_pg__alert_list(struct store *st, const struct store_alert_filter *f,
                                store_alert_cb cb, void *ud, int64_t *total)
{
    struct pg_store *pg = pg_of(st);
    struct pg_num n[13];
    const char *v[14] = {NULL};
    if (f->state >= 0)
        v[0] = f->state ? "1" : "0";
    v[1] = store_pg__fmt_i(&n[0], (int64_t)f->severities);
    if (f->cond >= 0)
        v[2] = store_pg__fmt_i(&n[1], f->cond);
    v[3] = f->device_id;
    if (f->has_bbox) {
        v[4] = store_pg__fmt_d(&n[2], f->min_lon);
        v[5] = store_pg__fmt_d(&n[3], f->min_lat);
        v[6] = store_pg__fmt_d(&n[4], f->max_lon);
        v[7] = store_pg__fmt_d(&n[5], f->max_lat);
    }
    if (f->from_us)
        v[8] = store_pg__fmt_i(&n[6], f->from_us);
    if (f->to_us)
        v[9] = store_pg__fmt_i(&n[7], f->to_us);
    v[12] = store_pg__fmt_i(&n[8], tk_now_utc_us());
    int64_t left = f->top > 0 ? f->top : INT64_MAX; /* rows still wanted */
    int64_t skip = f->skip > 0 ? f->skip : 0, below = INT64_MAX;
    int counted = total == NULL;
    for (;;) {
        int64_t want = left < PAGE_ROWS ? left : PAGE_ROWS;
        v[10] = store_pg__fmt_i(&n[9], want);
        v[11] = store_pg__fmt_i(&n[10], skip);
        v[13] = store_pg__fmt_i(&n[11], below);
        PGresult *res = NULL;
        int col = counted ? 0 : 1; /* AL_LIST_COUNT: the count first */
        enum tk_rc rc = run(pg, counted ? AL_LIST : AL_LIST_COUNT, 14, v, &res, "listing alerts");
        if (rc)
            return rc;
        if (!counted) {
            *total = store_pg__int(res, 0, 0);
            counted = 1;
        }
        int rows = PQntuples(res), stop = 0, got = 0;
        for (int r = 0; !stop && r < rows; r++) {
            if (PQgetisnull(res, r, col))
                continue; /* the empty page of AL_LIST_COUNT */
            struct store_alert a;
            read_alert(res, r, col, &a);
            below = a.id;
            got++;
            stop = cb(&a, ud) != 0;
        }
        PQclear(res);
        if (stop || got < want)
            return TK_OK;
        left -= want;
        skip = 0;
        if (left == 0)
            return TK_OK;
    }
}

/* ---- what the gauge was told ------------------------------------------------------ */

enum tk_rc store_pg__alert_device_get(struct store *st, const char *id,
                                      struct store_alert_device *out)
{
    struct pg_store *pg = pg_of(st);
    const char *v[1] = {id};
    PGresult *res = NULL;
    memset(out, 0, sizeof *out);
    enum tk_rc rc = run(pg, AL_DEV_GET, 1, v, &res, "reading the published config state");
    if (rc)
        return rc;
    if (PQntuples(res) > 0) {
        out->config_version = (uint32_t)store_pg__int(res, 0, 0);
        out->fast = (int)store_pg__int(res, 0, 1);
        out->fast_since_us = store_pg__int(res, 0, 2);
    }
    PQclear(res);
    return TK_OK;
}

enum tk_rc store_pg__alert_device_put(struct store *st, const char *id,
                                      const struct store_alert_device *d)
{
    struct pg_num a, b;
    const char *v[4] = {id, store_pg__fmt_i(&a, d->config_version), d->fast ? "1" : "0",
                        store_pg__fmt_i(&b, d->fast_since_us)};
    return write1(pg_of(st), AL_DEV_PUT, 4, v, NULL, "saving the published config state");
}

/* ---- device status ---------------------------------------------------------------- */

enum tk_rc store_pg__device_status_put(struct store *st, const struct store_device_status *d)
{
    struct pg_num bat, rssi, recv;
    const char *v[6] = {d->device_id,
                        d->online ? "1" : "0",
                        d->fw[0] ? d->fw : NULL,
                        d->has_battery ? store_pg__fmt_d(&bat, d->battery_v) : NULL,
                        d->has_rssi ? store_pg__fmt_i(&rssi, d->rssi_dbm) : NULL,
                        store_pg__fmt_i(&recv, d->received_us)};
    return write1(pg_of(st), AL_STATUS_PUT, 6, v, NULL, "saving a device status");
}

enum tk_rc store_pg__device_status_get(struct store *st, const char *id,
                                       struct store_device_status *out)
{
    struct pg_store *pg = pg_of(st);
    const char *v[1] = {id};
    PGresult *res = NULL;
    memset(out, 0, sizeof *out);
    enum tk_rc rc = run(pg, AL_STATUS_GET, 1, v, &res, "reading a device status");
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        rc = store__fail(st, TK_ENOTFOUND, "no status from %s", id);
    } else {
        snprintf(out->device_id, sizeof out->device_id, "%s", id);
        out->online = (int)store_pg__int(res, 0, 0);
        snprintf(out->fw, sizeof out->fw, "%s", PQgetvalue(res, 0, 1));
        out->has_battery = !PQgetisnull(res, 0, 2);
        out->battery_v = store_pg__real(res, 0, 2);
        out->has_rssi = !PQgetisnull(res, 0, 3);
        out->rssi_dbm = (int)store_pg__int(res, 0, 3);
        out->received_us = store_pg__int(res, 0, 4);
    }
    PQclear(res);
    return rc;
}
