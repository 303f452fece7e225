/* Internal to the store component: the backend table behind store.h.
 *
 * struct store is the base every backend embeds as its first member; store.c checks the
 * arguments every backend would check and then dispatches through st->ops. A PostgreSQL
 * backend adds one more `struct store_ops` and one line in store.c's scheme table. */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "store.h"

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
};

#define STORE_ERRMSG_MAX 256

struct store {
    const struct store_ops *ops;
    char errmsg[STORE_ERRMSG_MAX];
};

/** Record the message store_errmsg returns; returns code. */
enum tk_rc store__fail(struct store *st, enum tk_rc code, const char *fmt, ...) TK_PRINTF(3, 4);

extern const struct store_ops store_sqlite__ops;
extern const struct store_ops store_pg__ops;

#endif
