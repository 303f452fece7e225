/* `alert set|list|show`: alert settings of water-level gauges (docs/alerts.md). The
 * settings live in the store; a running ingest picks a change up within a second. */
#include "admin.h"

#include <stdio.h>
#include <string.h>

static struct store *open_store(struct admin_ctx *ctx, const char *cmd)
{
    struct store *st = NULL;
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (rc) {
        fprintf(stderr, "takumi-admin alert %s: cannot open %s: %s\n", cmd, ctx->data,
                tk_strerror(rc));
        return NULL;
    }
    admin_ctx__unlock(ctx); /* settings are not identities: no lock needed */
    return st;
}

/* The gauge, or an error message and NULL-like failure. */
static int find_gauge(struct store *st, const char *cmd, const char *id, struct store_device *dev)
{
    if (!tk_device_id_valid(id)) {
        fprintf(stderr, "takumi-admin alert %s: invalid device id (ids match [a-z0-9-]{3,48})\n",
                cmd);
        return ADMIN_EXIT_USAGE;
    }
    enum tk_rc rc = store_device_get(st, id, dev);
    if (rc == TK_ENOTFOUND) {
        fprintf(stderr, "takumi-admin alert %s: no device '%s' (see takumi device list)\n", cmd,
                id);
        return ADMIN_EXIT_FAIL;
    }
    if (rc) {
        fprintf(stderr, "takumi-admin alert %s: %s (%s)\n", cmd, tk_strerror(rc), store_errmsg(st));
        return ADMIN_EXIT_FAIL;
    }
    if (dev->kind != TK_KIND_WATER_LEVEL) {
        fprintf(stderr,
                "takumi-admin alert %s: '%s' is a %s device; alerts apply to water_level "
                "gauges only\n",
                cmd, id, tk_kind_name(dev->kind));
        return ADMIN_EXIT_USAGE;
    }
    return ADMIN_EXIT_OK;
}

static int alert_set(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *id = NULL;
    double caution = 0, warning = 0, danger = 0, rise = 0, hyst = 0;
    int silence = 0, interval = 0, fast = 0;
    struct admin_flag flags[] = {
        {"device", ADMIN_FLAG_STR, &id, 1, 0, "the water-level gauge's id"},
        {"caution", ADMIN_FLAG_DOUBLE, &caution, 0, 0, "caution level (注意), m above invert"},
        {"warning", ADMIN_FLAG_DOUBLE, &warning, 0, 0, "warning level (警戒), m above invert"},
        {"danger", ADMIN_FLAG_DOUBLE, &danger, 0, 0, "danger level (危険), m above invert"},
        {"rise", ADMIN_FLAG_DOUBLE, &rise, 0, 0, "rate-of-rise threshold, m per 10 minutes"},
        {"silence-intervals", ADMIN_FLAG_INT, &silence, 0, 0,
         "silence alert after this many reporting intervals without a reading"},
        {"hysteresis", ADMIN_FLAG_DOUBLE, &hyst, 0, 0,
         "a level band is left this far below its level, m"},
        {"interval-s", ADMIN_FLAG_INT, &interval, 0, 0, "normal reporting interval, s"},
        {"fast-interval-s", ADMIN_FLAG_INT, &fast, 0, 0, "reporting interval while alerted, s"},
    };
    size_t nf = sizeof flags / sizeof flags[0];
    const char *synopsis = "alert set --device ID [--caution M --warning M --danger M "
                           "--rise M_PER_10MIN --silence-intervals N --hysteresis M "
                           "--interval-s S --fast-interval-s S]";
    struct tk_error err = {0};
    if (admin_args__parse(argc, argv, flags, nf, &err)) {
        fprintf(stderr, "takumi-admin alert set: %s\n", err.text);
        admin_args__usage(synopsis, flags, nf);
        return ADMIN_EXIT_USAGE;
    }
    int given = 0;
    for (size_t i = 1; i < nf; i++)
        given += flags[i].seen;
    if (!given) {
        fprintf(stderr, "takumi-admin alert set: give at least one setting to change\n");
        admin_args__usage(synopsis, flags, nf);
        return ADMIN_EXIT_USAGE;
    }
    struct store *st = open_store(ctx, "set");
    if (!st)
        return ADMIN_EXIT_FAIL;
    struct store_device dev;
    struct store_alert_config c;
    int ex = find_gauge(st, "set", id, &dev);
    enum tk_rc rc = TK_OK;
    if (ex)
        goto out;
    rc = store_alert_config_effective(st, &dev, &c);
    if (rc)
        goto out;
    if (flags[1].seen)
        c.caution_m = caution;
    if (flags[2].seen)
        c.warning_m = warning;
    if (flags[3].seen)
        c.danger_m = danger;
    if (flags[4].seen)
        c.rise_m_per_10min = rise;
    if (flags[5].seen)
        c.silence_intervals = silence;
    if (flags[6].seen)
        c.hysteresis_m = hyst;
    if (flags[7].seen)
        c.interval_s = interval;
    if (flags[8].seen)
        c.fast_interval_s = fast;
    if (store_alert_config_check(&c, &err)) {
        /* err.path is the JSON member ("/warning_m"); name the flag instead */
        static const char *const members[][2] = {
            {"/caution_m", "caution"},       {"/warning_m", "warning"},
            {"/danger_m", "danger"},         {"/rise_m_per_10min", "rise"},
            {"/hysteresis_m", "hysteresis"}, {"/silence_intervals", "silence-intervals"},
            {"/interval_s", "interval-s"},   {"/fast_interval_s", "fast-interval-s"},
        };
        const char *flag = err.path;
        for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
            if (strcmp(err.path, members[i][0]) == 0)
                flag = members[i][1];
        fprintf(stderr, "takumi-admin alert set: --%s: %s\n", flag, err.text);
        ex = ADMIN_EXIT_USAGE;
        goto out;
    }
    c.is_set = 1;
    rc = store_alert_config_put(st, &c);
    if (!rc) {
        char buf[512];
        size_t len;
        if (store_alert_config_json(&c, buf, sizeof buf, &len) == TK_OK)
            printf("%s\n", buf);
    }
out:
    if (rc) {
        fprintf(stderr, "takumi-admin alert set: %s (%s)\n", tk_strerror(rc), store_errmsg(st));
        ex = ADMIN_EXIT_FAIL;
    }
    store_close(st);
    return ex;
}

struct list_ctx {
    struct store *st;
    enum tk_rc rc;
};

static int count_open(const struct store_alert *a, void *ud)
{
    char *s = ud;
    size_t n = strlen(s);
    snprintf(s + n, 64 - n, "%s%s:%s", n ? "," : "", store_alert_cond_name(a->cond),
             store_alert_sev_name(a->severity));
    return 0;
}

static int list_row(const struct store_device *dev, void *ud)
{
    struct list_ctx *lc = ud;
    struct store_alert_config c;
    char open[64] = "";
    if (dev->kind != TK_KIND_WATER_LEVEL)
        return 0;
    struct store_alert_filter f = {.state = 1, .cond = -1, .device_id = dev->id};
    lc->rc = store_alert_config_effective(lc->st, dev, &c);
    if (!lc->rc)
        lc->rc = store_alert_list(lc->st, &f, count_open, open, NULL);
    if (lc->rc)
        return 1;
    printf("%-24s %-7s %7.3f %7.3f %7.3f %6.3f %4lld %6.3f %6lld %5lld  %s\n", dev->id,
           c.is_set ? "set" : "default", c.caution_m, c.warning_m, c.danger_m, c.rise_m_per_10min,
           (long long)c.silence_intervals, c.hysteresis_m, (long long)c.interval_s,
           (long long)c.fast_interval_s, open[0] ? open : "-");
    return 0;
}

static int alert_list(struct admin_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "takumi-admin alert list: takes no arguments\n");
        return ADMIN_EXIT_USAGE;
    }
    struct store *st = open_store(ctx, "list");
    if (!st)
        return ADMIN_EXIT_FAIL;
    printf("%-24s %-7s %7s %7s %7s %6s %4s %6s %6s %5s  %s\n", "DEVICE", "SOURCE", "CAUTION",
           "WARNING", "DANGER", "RISE", "SIL", "HYST", "INTV", "FAST", "OPEN ALERTS");
    struct list_ctx lc = {st, TK_OK};
    enum tk_rc rc = store_device_list(st, list_row, &lc);
    if (!rc)
        rc = lc.rc;
    if (rc)
        fprintf(stderr, "takumi-admin alert list: %s (%s)\n", tk_strerror(rc), store_errmsg(st));
    store_close(st);
    return rc ? ADMIN_EXIT_FAIL : ADMIN_EXIT_OK;
}

static int print_alert(const struct store_alert *a, void *ud)
{
    (void)ud;
    char buf[2048];
    size_t len;
    if (store_alert_json(a, buf, sizeof buf, &len) == TK_OK)
        printf("%s\n", buf);
    return 0;
}

static int alert_show(struct admin_ctx *ctx, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: takumi-admin --data DIR alert show ID\n");
        return ADMIN_EXIT_USAGE;
    }
    struct store *st = open_store(ctx, "show");
    if (!st)
        return ADMIN_EXIT_FAIL;
    struct store_device dev;
    struct store_alert_config c;
    char buf[512];
    size_t len;
    int ex = find_gauge(st, "show", argv[0], &dev);
    enum tk_rc rc = TK_OK;
    if (!ex) {
        /* the settings, then one line per alert of the gauge, newest first (at most 20) */
        rc = store_alert_config_effective(st, &dev, &c);
        if (!rc)
            rc = store_alert_config_json(&c, buf, sizeof buf, &len);
        if (!rc)
            printf("%s\n", buf);
        struct store_alert_filter f = {.state = -1, .cond = -1, .device_id = dev.id, .top = 20};
        if (!rc)
            rc = store_alert_list(st, &f, print_alert, NULL, NULL);
        if (rc) {
            fprintf(stderr, "takumi-admin alert show: %s (%s)\n", tk_strerror(rc),
                    store_errmsg(st));
            ex = ADMIN_EXIT_FAIL;
        }
    }
    store_close(st);
    return ex;
}

int admin_cmd_alert(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    if (strcmp(sub, "set") == 0)
        return alert_set(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return alert_list(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0)
        return alert_show(ctx, argc - 1, argv + 1);
    fprintf(stderr, "usage: takumi-admin --data DIR alert set|list|show ...\n");
    return ADMIN_EXIT_USAGE;
}
