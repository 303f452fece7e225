/* Internal to the store component: the backend table behind store.h.
 *
 * struct store is the base every backend embeds as its first member; store.c checks the
 * arguments every backend would check and then dispatches through st->ops. A PostgreSQL
 * backend adds one more `struct store_ops` and one line in store.c's scheme table. */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "store.h"
#include "store_apikey.h"

struct store_ops {
    const char *name;
    /* path: the URI with its scheme removed */
    enum tk_rc (*open)(const char *path, const struct store_options *opt, struct store **out);
    void (*close)(struct store *st);
    int (*schema_version)(struct store *st);

    enum tk_rc (*device_add)(struct store *st, const struct store_device *dev,
                             struct store_device *out);
    enum tk_rc (*device_get)(struct store *st, const char *id, struct store_device *out);
    enum tk_rc (*device_remove)(struct store *st, const char *id);
    enum tk_rc (*device_list)(struct store *st, store_device_cb cb, void *ud);

    enum tk_rc (*begin)(struct store *st);
    enum tk_rc (*commit)(struct store *st);
    void (*rollback)(struct store *st);
    enum tk_rc (*obs_add)(struct store *st, struct store_obs *o);
    enum tk_rc (*obs_get)(struct store *st, int64_t id, struct store_point *out, int64_t *ds_id);

    enum tk_rc (*seq_load)(struct store *st, const char *device_id, struct store_seq_state *out);
    enum tk_rc (*seq_save)(struct store *st, const char *device_id,
                           const struct store_seq_state *s);
    enum tk_rc (*quarantine_add)(struct store *st, struct store_quarantine *q);
    enum tk_rc (*quarantine_count)(struct store *st, int64_t *n);

    enum tk_rc (*range)(struct store *st, int64_t ds_id, int64_t from_us, int64_t to_us, int desc,
                        struct store_point *out, size_t limit, size_t *n);
    enum tk_rc (*latest)(struct store *st, const int64_t *ds_ids, size_t n, struct store_point *out,
                         int *found);
    enum tk_rc (*aggregate)(struct store *st, int64_t ds_id, enum store_interval iv,
                            int64_t from_us, int64_t to_us, struct store_agg *out, size_t limit,
                            size_t *n);
    enum tk_rc (*maintain)(struct store *st, int all);
    enum tk_rc (*retention)(struct store *st, int64_t obs_before_us,
                            int64_t quarantine_before_us, size_t max_rows, size_t *removed);

    /* API keys (apikey.c makes and checks them; the backend keeps the rows) */
    enum tk_rc (*apikey_add)(struct store *st, struct store_apikey *k,
                             const unsigned char hash[STORE_APIKEY_HASH_LEN]);
    enum tk_rc (*apikey_find)(struct store *st, const char *prefix, struct store_apikey *rows,
                              unsigned char (*hashes)[STORE_APIKEY_HASH_LEN], size_t max,
                              size_t *n);
    enum tk_rc (*apikey_revoke)(struct store *st, int64_t id);
    enum tk_rc (*apikey_list)(struct store *st, store_apikey_cb cb, void *ud);
    enum tk_rc (*ds_quantity)(struct store *st, int64_t ds_id, int *quantity);
    enum tk_rc (*device_ids)(struct store *st, const char *after, char (*ids)[TK_ID_MAX + 1],
                             size_t max, size_t *n);
    /* the operator view */
    enum tk_rc (*quarantine_list)(struct store *st, const struct store_quarantine_filter *f,
                                  store_quarantine_cb cb, void *ud);
    enum tk_rc (*counters_put)(struct store *st, const struct store_counter *c, size_t n);
    enum tk_rc (*counters_get)(struct store *st, struct store_counter *out, size_t max,
                               size_t *n);
    enum tk_rc (*alert_config_get)(struct store *st, const char *id, struct store_alert_config *out);
    enum tk_rc (*alert_config_put)(struct store *st, const struct store_alert_config *c);
    enum tk_rc (*alert_config_stamp)(struct store *st, int64_t *stamp);
    enum tk_rc (*alert_add)(struct store *st, struct store_alert *a);
    enum tk_rc (*alert_update)(struct store *st, const struct store_alert *a);
    enum tk_rc (*alert_get)(struct store *st, int64_t id, struct store_alert *out);
    enum tk_rc (*alert_list)(struct store *st, const struct store_alert_filter *f,
                             store_alert_cb cb, void *ud, int64_t *total);
    enum tk_rc (*alert_device_get)(struct store *st, const char *id, struct store_alert_device *out);
    enum tk_rc (*alert_device_put)(struct store *st, const char *id,
                                   const struct store_alert_device *d);
    enum tk_rc (*device_status_put)(struct store *st, const struct store_device_status *s);
    enum tk_rc (*device_status_get)(struct store *st, const char *id,
                                    struct store_device_status *out);
};

#define STORE_ERRMSG_MAX 256

struct store {
    const struct store_ops *ops;
    char errmsg[STORE_ERRMSG_MAX];
    /* whom SensorThings reads and writes are for (store_sta_viewer_set; zero: everything
     * visible, the default) */
    int sta_hide;        /* other owners' private Things are hidden */
    char sta_owner[64];  /* "" : anonymous; owner recorded for what is created */
};

/** TK_EDB with "the <backend> backend does not support <what>", for an operation a
 *  backend leaves NULL in its ops table. */
enum tk_rc store__unsupported(struct store *st, const char *what);
/** Record the message store_errmsg returns; returns code. */
enum tk_rc store__fail(struct store *st, enum tk_rc code, const char *fmt, ...) TK_PRINTF(3, 4);

/* An observation a writer holds in memory until its transaction writes them all at
 * once (both backends). */
struct store_row {
    int64_t ds, t, id, t_end, rt; /* t_end, rt: 0 for NULL */
    double result;
    char *params; /* NULL or owned */
    int64_t foi;  /* 0: none (SQLite fills it in) */
};

/** Append o, with observation id id, to the rows v[0..*n) (capacity *cap, grown as
 *  needed); TK_ENOMEM (recorded in st) when memory runs out. */
enum tk_rc store__row_push(struct store *st, struct store_row **v, size_t *n, size_t *cap,
                           const struct store_obs *o, int64_t id);
/** Free the rows' parameters and empty the list (its memory stays for the next). */
void store__rows_clear(struct store_row *v, size_t *n);

extern const struct store_ops store_sqlite__ops;
extern const struct store_ops store_pg__ops;

#endif
