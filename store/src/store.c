/* store.h entry points: argument checks common to every backend, then dispatch through
 * the backend's ops table. The backend is chosen once, at store_open, from the URI
 * scheme ("sqlite:/path" or a plain path; "postgresql://..." or "postgres://..." for the
 * PostgreSQL backend, which is given the whole URI back). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

struct scheme {
    const char *prefix; /* including the colon */
    const struct store_ops *ops;
};

static const struct scheme schemes[] = {
    {"sqlite:", &store_sqlite__ops},
    {"postgresql:", &store_pg__ops},
    {"postgres:", &store_pg__ops},
};

enum tk_rc store__fail(struct store *st, enum tk_rc code, const char *fmt, ...)
{
    if (st) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->errmsg, sizeof st->errmsg, fmt, ap);
        va_end(ap);
    }
    return code;
}

enum tk_rc store__row_push(struct store *st, struct store_row **v, size_t *n, size_t *cap,
                           const struct store_obs *o, int64_t id)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        struct store_row *p = realloc(*v, ncap * sizeof *p);
        if (!p)
            return store__fail(st, TK_ENOMEM, "out of memory");
        *v = p;
        *cap = ncap;
    }
    struct store_row *r = &(*v)[*n];
    *r = (struct store_row){.ds = o->ds_id,
                            .t = o->t_us,
                            .id = id,
                            .t_end = o->t_end_us,
                            .rt = o->result_time_us == o->t_us ? 0 : o->result_time_us,
                            .result = o->result};
    if (o->params && !(r->params = strdup(o->params)))
        return store__fail(st, TK_ENOMEM, "out of memory");
    (*n)++;
    return TK_OK;
}

void store__rows_clear(struct store_row *v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free(v[i].params);
    *n = 0;
}

/* A URI scheme is letters, digits, '+', '-', '.' before the first ':' (RFC 3986); a path
 * like "C:/x" or "./a:b" is not taken for one unless the scheme is known. */
static int has_scheme(const char *uri, size_t *len)
{
    size_t i = 0;
    while ((uri[i] >= 'a' && uri[i] <= 'z') || (uri[i] >= '0' && uri[i] <= '9') || uri[i] == '+' ||
           uri[i] == '-' || uri[i] == '.')
        i++;
    if (i >= 2 && uri[i] == ':' && uri[0] >= 'a' && uri[0] <= 'z') {
        *len = i + 1;
        return 1;
    }
    return 0;
}

enum tk_rc store_open(const char *uri, const struct store_options *opt, struct store **out)
{
    if (!out)
        return TK_EINVAL;
    *out = NULL;
    if (!uri || !*uri)
        return TK_EINVAL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncmp(uri, schemes[i].prefix, n) == 0) {
            if (!uri[n])
                return TK_EINVAL;
            return schemes[i].ops->open(uri + n, opt, out);
        }
    }
    size_t n;
    if (has_scheme(uri, &n) && strncmp(uri, "file:", 5) != 0)
        return TK_EINVAL; /* an unknown backend */
    return store_sqlite__ops.open(uri, opt, out);
}

void store_close(struct store *st)
{
    if (st)
        st->ops->close(st);
}

const char *store_errmsg(struct store *st)
{
    return st ? st->errmsg : "no store";
}

int store_schema_version(struct store *st)
{
    return st ? st->ops->schema_version(st) : 0;
}

static int valid_device(const struct store_device *d)
{
    if (!tk_device_id_valid(d->id) || !tk_kind_name(d->kind))
        return 0;
    if (!isfinite(d->lat) || !isfinite(d->lon) || d->lat < -90 || d->lat > 90 || d->lon < -180 ||
        d->lon > 180)
        return 0;
    if (!isfinite(d->mount_height_m) || d->mount_height_m < 0 || !isfinite(d->density_kg_m3) ||
        d->density_kg_m3 < 0)
        return 0;
    if (d->transport[0] && strcmp(d->transport, "mqtt") != 0 && strcmp(d->transport, "coap") != 0)
        return 0;
    if (memchr(d->name, '\0', sizeof d->name) == NULL)
        return 0;
    return 1;
}

enum tk_rc store_device_add(struct store *st, const struct store_device *dev,
                            struct store_device *out)
{
    if (!st || !dev)
        return TK_EINVAL;
    if (!valid_device(dev))
        return store__fail(st, TK_EINVAL, "invalid device (id, kind, coordinates or transport)");
    return st->ops->device_add(st, dev, out);
}

enum tk_rc store_device_get(struct store *st, const char *id, struct store_device *out)
{
    if (!st || !id || !out)
        return TK_EINVAL;
    return st->ops->device_get(st, id, out);
}

enum tk_rc store_device_remove(struct store *st, const char *id)
{
    if (!st || !id)
        return TK_EINVAL;
    return st->ops->device_remove(st, id);
}

enum tk_rc store_device_list(struct store *st, store_device_cb cb, void *ud)
{
    if (!st || !cb)
        return TK_EINVAL;
    return st->ops->device_list(st, cb, ud);
}

enum tk_rc store_begin(struct store *st)
{
    if (!st)
        return TK_EINVAL;
    return st->ops->begin(st);
}

enum tk_rc store_commit(struct store *st)
{
    if (!st)
        return TK_EINVAL;
    return st->ops->commit(st);
}

void store_rollback(struct store *st)
{
    if (st)
        st->ops->rollback(st);
}

enum tk_rc store_obs_add(struct store *st, struct store_obs *o)
{
    if (!st || !o)
        return TK_EINVAL;
    return st->ops->obs_add(st, o);
}

enum tk_rc store_obs_get(struct store *st, int64_t id, struct store_point *out, int64_t *ds_id)
{
    if (!st || !out || !ds_id)
        return TK_EINVAL;
    if (id <= 0)
        return store__fail(st, TK_ENOTFOUND, "no observation %lld", (long long)id);
    return st->ops->obs_get(st, id, out, ds_id);
}

enum tk_rc store_seq_load(struct store *st, const char *device_id, struct store_seq_state *out)
{
    if (!st || !device_id || !out)
        return TK_EINVAL;
    return st->ops->seq_load(st, device_id, out);
}

enum tk_rc store_seq_save(struct store *st, const char *device_id, const struct store_seq_state *s)
{
    if (!st || !device_id || !s || s->npending < 0 || s->npending > STORE_PENDING_MAX)
        return TK_EINVAL;
    return st->ops->seq_save(st, device_id, s);
}

enum tk_rc store_quarantine_add(struct store *st, struct store_quarantine *q)
{
    if (!st || !q || (!q->payload && q->payload_len))
        return TK_EINVAL;
    return st->ops->quarantine_add(st, q);
}

enum tk_rc store_quarantine_count(struct store *st, int64_t *n)
{
    if (!st || !n)
        return TK_EINVAL;
    return st->ops->quarantine_count(st, n);
}

enum tk_rc store_range(struct store *st, int64_t ds_id, int64_t from_us, int64_t to_us, int desc,
                       struct store_point *out, size_t limit, size_t *n)
{
    if (!st || !n || (!out && limit))
        return TK_EINVAL;
    *n = 0;
    if (limit == 0 || from_us >= to_us)
        return TK_OK;
    return st->ops->range(st, ds_id, from_us, to_us, desc, out, limit, n);
}

enum tk_rc store_latest(struct store *st, const int64_t *ds_ids, size_t n, struct store_point *out,
                        int *found)
{
    if (!st || (n && (!ds_ids || !out || !found)))
        return TK_EINVAL;
    if (n == 0)
        return TK_OK;
    return st->ops->latest(st, ds_ids, n, out, found);
}

enum tk_rc store_aggregate(struct store *st, int64_t ds_id, enum store_interval iv, int64_t from_us,
                           int64_t to_us, struct store_agg *out, size_t limit, size_t *n)
{
    if (!st || !n || (!out && limit) || (iv != STORE_MINUTE && iv != STORE_HOUR && iv != STORE_DAY))
        return TK_EINVAL;
    *n = 0;
    if (limit == 0 || from_us >= to_us)
        return TK_OK;
    return st->ops->aggregate(st, ds_id, iv, from_us, to_us, out, limit, n);
}

enum tk_rc store_maintain(struct store *st)
{
    if (!st)
        return TK_EINVAL;
    return st->ops->maintain(st, 0);
}

enum tk_rc store_flush(struct store *st)
{
    if (!st)
        return TK_EINVAL;
    return st->ops->maintain(st, 1);
}

enum tk_rc store_retention(struct store *st, int64_t obs_before_us, int64_t quarantine_before_us,
                           size_t max_rows, size_t *removed)
{
    if (removed)
        *removed = 0;
    if (!st)
        return TK_EINVAL;
    if (max_rows == 0 || (obs_before_us == 0 && quarantine_before_us == 0))
        return TK_OK;
    size_t k = 0;
    enum tk_rc rc = st->ops->retention(st, obs_before_us, quarantine_before_us, max_rows, &k);
    if (!rc && removed)
        *removed = k;
    return rc;
}

unsigned store_caps(const struct store *st)
{
    const struct store_ops *o = st->ops;
    unsigned c = 0;
    if (o->alert_config_get && o->alert_config_put && o->alert_config_stamp && o->alert_add &&
        o->alert_update && o->alert_get && o->alert_list && o->alert_device_get &&
        o->alert_device_put && o->device_status_put && o->device_status_get)
        c |= STORE_CAP_ALERTS;
    if (o->counters_put && o->counters_get)
        c |= STORE_CAP_COUNTERS;
    if (o->apikey_add && o->apikey_find && o->apikey_revoke && o->apikey_list)
        c |= STORE_CAP_KEYS;
    return c;
}

/* The operations added with schema version 6 (keys, operator view): a backend that lacks
 * one says so instead of crashing. */
enum tk_rc store__unsupported(struct store *st, const char *what)
{
    return store__fail(st, TK_EDB, "the %s backend does not support %s", st->ops->name, what);
}

enum tk_rc store_quarantine_list(struct store *st, const struct store_quarantine_filter *f,
                                 store_quarantine_cb cb, void *ud)
{
    if (!st || !f || !cb)
        return TK_EINVAL;
    if (!st->ops->quarantine_list)
        return store__unsupported(st, "listing the quarantine");
    if (f->limit == 0)
        return TK_OK;
    return st->ops->quarantine_list(st, f, cb, ud);
}

enum tk_rc store_counters_put(struct store *st, const struct store_counter *c, size_t n)
{
    if (!st || (n && !c))
        return TK_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!c[i].name[0] || memchr(c[i].name, '\0', sizeof c[i].name) == NULL)
            return TK_EINVAL;
    if (!st->ops->counters_put)
        return store__unsupported(st, "ingest counters");
    return n ? st->ops->counters_put(st, c, n) : TK_OK;
}

enum tk_rc store_counters_get(struct store *st, struct store_counter *out, size_t max, size_t *n)
{
    if (!st || !n || (max && !out))
        return TK_EINVAL;
    *n = 0;
    if (!st->ops->counters_get)
        return store__unsupported(st, "ingest counters");
    return max ? st->ops->counters_get(st, out, max, n) : TK_OK;
}

enum tk_rc store_datastream_quantity(struct store *st, int64_t ds_id, int *quantity)
{
    if (!st || !quantity)
        return TK_EINVAL;
    *quantity = -1;
    if (!st->ops->ds_quantity)
        return store__unsupported(st, "Datastream quantities");
    return st->ops->ds_quantity(st, ds_id, quantity);
}

enum tk_rc store_device_ids(struct store *st, const char *after, char (*ids)[TK_ID_MAX + 1],
                            size_t max, size_t *n)
{
    if (!st || !n || (max && !ids))
        return TK_EINVAL;
    *n = 0;
    if (!st->ops->device_ids)
        return store__unsupported(st, "paging device ids");
    return max ? st->ops->device_ids(st, after ? after : "", ids, max, n) : TK_OK;
}
