/* `device add|list|remove`: the registry entry (store) and the broker identity
 * (credentials, passwd, acl) of a device change together.
 *
 * The id check comes first and is strict: the id becomes a broker username and a topic
 * level, and mosquitto ACL patterns accept '/' in usernames (FACTS.md). Any id outside
 * [a-z0-9-]{3,48} is refused before anything is written. */
#include "admin.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tk_quantity.h"

#define ID_RULE                                                                                    \
    "device ids must match [a-z0-9-]{3,48}: 3 to 48 characters, each a lowercase letter, a "       \
    "digit or '-' (ids become broker usernames and topic levels)"

/* Copy s for printing in an error message: non-printable bytes become '?', long input is
 * cut, so a hostile id cannot mess up the terminal. */
static const char *printable(const char *s, char *buf, size_t size)
{
    size_t i = 0;
    for (; s[i] && i + 4 < size; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f)
            buf[i] = s[i];
        else
            buf[i] = '?';
    }
    if (s[i] && size > 4) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static int check_id(const char *cmd, const char *id)
{
    char pbuf[80];
    if (tk_device_id_valid(id))
        return 1;
    fprintf(stderr, "takumi-admin %s: invalid id '%s': %s\n", cmd, printable(id, pbuf, sizeof pbuf),
            ID_RULE);
    return 0;
}

/* CoAP devices talk to the field gateway with DTLS-PSK: the identity is the device id,
 * the key a fresh random text (what coap-client -k takes). The gateway reads it from
 * DIR/secrets/psk/<id> ("KIND KEY", mode 0600 in a 0700 folder), written atomically. */
static enum tk_rc psk_path(const struct admin_ctx *ctx, const char *id, char *buf, size_t size)
{
    return admin_fs__path(buf, size, "%s/psk/%s", ctx->secrets, id);
}

static enum tk_rc psk_write(const struct admin_ctx *ctx, const char *id, enum tk_kind kind,
                            char *key, size_t key_size)
{
    char dir[ADMIN_PATH_MAX], path[ADMIN_PATH_MAX], line[128];
    enum tk_rc rc = admin_fs__path(dir, sizeof dir, "%s/psk", ctx->secrets);
    if (!rc)
        rc = admin_fs__mkdir(dir, 0700);
    if (!rc)
        rc = psk_path(ctx, id, path, sizeof path);
    if (!rc)
        rc = admin_passwd__new(key, key_size);
    if (rc)
        return rc;
    int n = snprintf(line, sizeof line, "%s %s\n", tk_kind_name(kind), key);
    if (n < 0 || (size_t)n >= sizeof line)
        return TK_EFULL;
    rc = admin_fs__write_atomic(path, line, (size_t)n, 0600);
    memset(line, 0, sizeof line);
    return rc;
}

static int device_add(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *kind_s = NULL, *id = NULL, *name = NULL, *transport = "mqtt";
    double lat = 0, lon = 0, mount = 0, density = 0;
    struct admin_flag flags[] = {
        {"kind", ADMIN_FLAG_STR, &kind_s, 1, 0, "water_level, people_flow or wifi_ap"},
        {"id", ADMIN_FLAG_STR, &id, 1, 0, "device id, [a-z0-9-]{3,48}"},
        {"lat", ADMIN_FLAG_DOUBLE, &lat, 1, 0, "latitude, WGS84 degrees"},
        {"lon", ADMIN_FLAG_DOUBLE, &lon, 1, 0, "longitude, WGS84 degrees"},
        {"mount-height-m", ADMIN_FLAG_DOUBLE, &mount, 0, 0,
         "water_level ultrasonic: sensor height above the pipe invert, metres"},
        {"density", ADMIN_FLAG_DOUBLE, &density, 0, 0,
         "water_level pressure: water density, kg/m3 (default 1000)"},
        {"name", ADMIN_FLAG_STR, &name, 0, 0, "Thing name (default: the id)"},
        {"transport", ADMIN_FLAG_STR, &transport, 0, 0, "mqtt (default) or coap (via a gateway)"},
    };
    size_t nf = sizeof flags / sizeof flags[0];
    const char *synopsis = "device add --kind K --id ID --lat X --lon Y [--mount-height-m H] "
                           "[--density D] [--name N] [--transport mqtt|coap]";
    struct tk_error err = {0};
    if (admin_args__parse(argc, argv, flags, nf, &err)) {
        fprintf(stderr, "takumi-admin device add: %s\n", err.text);
        admin_args__usage(synopsis, flags, nf);
        return ADMIN_EXIT_USAGE;
    }
    if (!check_id("device add", id))
        return ADMIN_EXIT_USAGE;
    enum tk_kind kind;
    if (tk_kind_parse(kind_s, &kind) != TK_OK) {
        char pbuf[80];
        fprintf(stderr,
                "takumi-admin device add: unknown kind '%s': use water_level, "
                "people_flow or wifi_ap\n",
                printable(kind_s, pbuf, sizeof pbuf));
        return ADMIN_EXIT_USAGE;
    }
    if (lat < -90 || lat > 90 || lon < -180 || lon > 180) {
        fprintf(stderr, "takumi-admin device add: --lat must be in -90..90 and --lon in "
                        "-180..180 (WGS84 degrees)\n");
        return ADMIN_EXIT_USAGE;
    }
    if ((flags[4].seen || flags[5].seen) && kind != TK_KIND_WATER_LEVEL) {
        fprintf(stderr, "takumi-admin device add: --mount-height-m and --density apply to "
                        "water_level devices only\n");
        return ADMIN_EXIT_USAGE;
    }
    if (flags[4].seen && !(mount > 0 && mount <= 100)) {
        fprintf(stderr, "takumi-admin device add: --mount-height-m must be > 0 and <= 100 "
                        "(metres from the pipe invert up to the sensor)\n");
        return ADMIN_EXIT_USAGE;
    }
    if (flags[5].seen && !(density >= 500 && density <= 2000)) {
        fprintf(stderr, "takumi-admin device add: --density must be in 500..2000 kg/m3\n");
        return ADMIN_EXIT_USAGE;
    }
    if (strcmp(transport, "mqtt") != 0 && strcmp(transport, "coap") != 0) {
        fprintf(stderr, "takumi-admin device add: --transport must be mqtt or coap\n");
        return ADMIN_EXIT_USAGE;
    }
    struct store_device dev;
    memset(&dev, 0, sizeof dev);
    if (name && (strlen(name) >= sizeof dev.name || !*name)) {
        fprintf(stderr, "takumi-admin device add: --name must be 1 to %zu bytes\n",
                sizeof dev.name - 1);
        return ADMIN_EXIT_USAGE;
    }
    memcpy(dev.id, id, strlen(id) + 1);
    dev.kind = kind;
    snprintf(dev.name, sizeof dev.name, "%s", name ? name : id);
    dev.lat = lat;
    dev.lon = lon;
    dev.mount_height_m = mount;
    dev.density_kg_m3 = density;
    snprintf(dev.transport, sizeof dev.transport, "%s", transport);

    int ex = ADMIN_EXIT_FAIL;
    struct store *st = NULL;
    struct admin_creds creds = {0};
    struct store_device got;
    char password[ADMIN_PASSWORD_LEN + 8], hash[ADMIN_HASH_MAX], psk[ADMIN_PASSWORD_LEN + 8];
    memset(psk, 0, sizeof psk);
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (rc) {
        fprintf(stderr, "takumi-admin device add: cannot open %s: %s\n", ctx->data,
                tk_strerror(rc));
        goto cleanup;
    }
    rc = admin_creds__load(ctx->creds, &creds);
    if (rc) {
        fprintf(stderr, "takumi-admin device add: cannot read %s: %s\n", ctx->creds,
                tk_strerror(rc));
        goto cleanup;
    }
    struct admin_cred *existing = admin_creds__find(&creds, id);
    if (existing || store_device_get(st, id, &got) == TK_OK) {
        fprintf(stderr, "takumi-admin device add: '%s' already exists%s%s; remove it first\n", id,
                existing ? " as a " : "", existing ? admin_role_name(existing->role) : "");
        goto cleanup;
    }
    rc = store_device_add(st, &dev, &got);
    if (rc) {
        fprintf(stderr, "takumi-admin device add: the store refused %s: %s (%s)\n", id,
                tk_strerror(rc), store_errmsg(st));
        ex = admin_exit_for(rc);
        goto cleanup;
    }
    rc = admin_passwd__new(password, sizeof password);
    if (!rc)
        rc = admin_passwd__hash(password, hash, sizeof hash);
    if (!rc)
        rc = admin_creds__put(&creds, id, ADMIN_ROLE_DEVICE, hash, NULL);
    if (!rc)
        rc = admin_creds__save(ctx->creds, &creds);
    if (rc) {
        fprintf(stderr, "takumi-admin device add: cannot store the credentials: %s\n",
                tk_strerror(rc));
        if (store_device_remove(st, id) != TK_OK) /* undo, so a retry can succeed */
            fprintf(stderr, "takumi-admin device add: and could not undo the registration: %s\n",
                    store_errmsg(st));
        goto cleanup;
    }
    if (strcmp(transport, "coap") == 0 &&
        (rc = psk_write(ctx, id, kind, psk, sizeof psk)) != TK_OK) {
        fprintf(stderr, "takumi-admin device add: cannot store the CoAP key: %s\n",
                tk_strerror(rc));
        admin_creds__remove(&creds, id);
        if (admin_creds__save(ctx->creds, &creds) != TK_OK || store_device_remove(st, id) != TK_OK)
            fprintf(stderr, "takumi-admin device add: and could not undo the registration\n");
        goto cleanup;
    }
    ex = admin_broker__apply(ctx, "device add", &creds, st);
    if (ex)
        goto cleanup;
    printf("device %s (%s) registered: thing %lld, location %lld, datastreams", id,
           tk_kind_name(kind), (long long)got.thing_id, (long long)got.location_id);
    enum tk_quantity qs[TK_Q_MAX];
    int nq = tk_kind_quantities(kind, qs);
    for (int i = 0; i < nq; i++) {
        const struct tk_quantity_info *qi = tk_quantity_info(qs[i]);
        printf("%s %s=%lld", i ? "," : "", qi ? qi->name : "?", (long long)got.ds[qs[i]]);
    }
    printf("\nmqtt username: %s\nmqtt password: %s\n", id, password);
    if (psk[0])
        printf("coap psk identity: %s\ncoap psk: %s\n(the key is kept for the gateway in "
               "%s/psk/%s, mode 0600)\n",
               id, psk, ctx->secrets, id);
    printf("(the password is shown only this once; only its hash is kept)\n");
cleanup:
    memset(password, 0, sizeof password);
    memset(psk, 0, sizeof psk);
    admin_creds__free(&creds);
    store_close(st);
    return ex;
}

/* `device add-many`: N devices of one kind, ids PREFIX-00000 .. (the ids takumi-device
 * --fleet N --prefix PREFIX runs), for load tests and demos. They get no MQTT login of
 * their own (a password nobody saw would be useless): a gateway added with
 * `gateway add --devices all` speaks for them. One registry insert per device, then the
 * broker files are written and the broker signalled once, not N times. */
static int device_add_many(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *kind_s = NULL, *prefix = NULL;
    int count = 0, start = 0;
    double lat = 0, lon = 0, spread = 0, mount = 0;
    struct admin_flag flags[] = {
        {"kind", ADMIN_FLAG_STR, &kind_s, 1, 0, "water_level, people_flow or wifi_ap"},
        {"prefix", ADMIN_FLAG_STR, &prefix, 1, 0, "ids are PREFIX-00000, PREFIX-00001, ..."},
        {"count", ADMIN_FLAG_INT, &count, 1, 0, "how many, 1..100000"},
        {"start", ADMIN_FLAG_INT, &start, 0, 0, "first number (default 0)"},
        {"lat", ADMIN_FLAG_DOUBLE, &lat, 1, 0, "latitude of the first, WGS84 degrees"},
        {"lon", ADMIN_FLAG_DOUBLE, &lon, 1, 0, "longitude of the first, WGS84 degrees"},
        {"spread-deg", ADMIN_FLAG_DOUBLE, &spread, 0, 0,
         "place them on a grid this many degrees apart (default 0: all at lat/lon)"},
        {"mount-height-m", ADMIN_FLAG_DOUBLE, &mount, 0, 0, "water_level: as for device add"},
    };
    size_t nf = sizeof flags / sizeof flags[0];
    const char *synopsis = "device add-many --kind K --prefix P --count N --lat X --lon Y "
                           "[--start S] [--spread-deg D] [--mount-height-m H]";
    struct tk_error err = {0};
    enum tk_kind kind;
    if (admin_args__parse(argc, argv, flags, nf, &err)) {
        fprintf(stderr, "takumi-admin device add-many: %s\n", err.text);
        admin_args__usage(synopsis, flags, nf);
        return ADMIN_EXIT_USAGE;
    }
    char first[TK_ID_MAX + 16];
    snprintf(first, sizeof first, "%s-%05d", prefix, start);
    if (count < 1 || count > 100000 || start < 0 || start > 99999 - count + 1 ||
        !(spread >= 0 && spread <= 1) || tk_kind_parse(kind_s, &kind) != TK_OK ||
        lat < -90 || lat > 90 || lon < -180 || lon > 180 ||
        (flags[7].seen && (kind != TK_KIND_WATER_LEVEL || !(mount > 0 && mount <= 100)))) {
        fprintf(stderr, "takumi-admin device add-many: bad value (--count 1..100000 with "
                        "--start + --count <= 100000, a known --kind, --spread-deg 0..1, "
                        "--mount-height-m for water_level only)\n");
        return ADMIN_EXIT_USAGE;
    }
    if (!check_id("device add-many", first))
        return ADMIN_EXIT_USAGE;
    int ex = ADMIN_EXIT_FAIL, added = 0;
    struct store *st = NULL;
    struct admin_creds creds = {0};
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (!rc)
        rc = admin_creds__load(ctx->creds, &creds);
    if (rc) {
        fprintf(stderr, "takumi-admin device add-many: cannot open %s: %s\n", ctx->data,
                tk_strerror(rc));
        goto cleanup;
    }
    int side = 1;
    while (side * side < count)
        side++;
    for (int i = 0; i < count; i++) {
        struct store_device dev, got;
        memset(&dev, 0, sizeof dev);
        snprintf(dev.id, sizeof dev.id, "%s-%05d", prefix, start + i);
        if (admin_creds__find(&creds, dev.id) || store_device_get(st, dev.id, &got) == TK_OK) {
            fprintf(stderr, "takumi-admin device add-many: '%s' already exists; %d added\n",
                    dev.id, added);
            goto regenerate;
        }
        dev.kind = kind;
        snprintf(dev.name, sizeof dev.name, "%s", dev.id);
        dev.lat = lat + spread * (i / side);
        dev.lon = lon + spread * (i % side);
        if (dev.lat > 90)
            dev.lat = 90;
        if (dev.lon > 180)
            dev.lon -= 360;
        dev.mount_height_m = mount;
        snprintf(dev.transport, sizeof dev.transport, "mqtt");
        rc = store_device_add(st, &dev, &got);
        if (rc) {
            fprintf(stderr, "takumi-admin device add-many: the store refused %s: %s (%s); "
                            "%d added\n", dev.id, tk_strerror(rc), store_errmsg(st), added);
            goto regenerate;
        }
        added++;
    }
    ex = ADMIN_EXIT_OK;
regenerate:
    if (added && admin_broker__apply(ctx, "device add-many", &creds, st) != ADMIN_EXIT_OK)
        ex = ADMIN_EXIT_FAIL;
    if (ex == ADMIN_EXIT_OK)
        printf("%d %s devices registered: %s .. %s-%05d (no MQTT login of their own: add a "
               "gateway with --devices all to speak for them)\n",
               added, tk_kind_name(kind), first, prefix, start + count - 1);
cleanup:
    admin_creds__free(&creds);
    store_close(st);
    return ex;
}

static int print_row(const struct store_device *d, void *ud)
{
    (void)ud;
    printf("%-24s %-12s %-24s %10.6f %11.6f %-9s %lld\n", d->id, tk_kind_name(d->kind), d->name,
           d->lat, d->lon, d->transport, (long long)d->thing_id);
    return 0;
}

static int device_list(struct admin_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "takumi-admin device list: takes no arguments\n");
        return ADMIN_EXIT_USAGE;
    }
    struct store *st = NULL;
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (rc) {
        fprintf(stderr, "takumi-admin device list: cannot open %s: %s\n", ctx->data,
                tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    admin_ctx__unlock(ctx); /* listing changes nothing */
    printf("%-24s %-12s %-24s %10s %11s %-9s %s\n", "ID", "KIND", "NAME", "LAT", "LON", "TRANSPORT",
           "THING");
    rc = store_device_list(st, print_row, NULL);
    if (rc)
        fprintf(stderr, "takumi-admin device list: %s (%s)\n", tk_strerror(rc), store_errmsg(st));
    store_close(st);
    return rc ? ADMIN_EXIT_FAIL : ADMIN_EXIT_OK;
}

static int device_remove(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *id = NULL;
    struct admin_flag flags[] = {{"id", ADMIN_FLAG_STR, &id, 1, 0, "device id"}};
    struct tk_error err = {0};
    if (admin_args__parse(argc, argv, flags, 1, &err)) {
        fprintf(stderr, "takumi-admin device remove: %s\n", err.text);
        admin_args__usage("device remove --id ID", flags, 1);
        return ADMIN_EXIT_USAGE;
    }
    if (!check_id("device remove", id))
        return ADMIN_EXIT_USAGE;
    int ex = ADMIN_EXIT_FAIL;
    struct store *st = NULL;
    struct admin_creds creds = {0};
    enum tk_rc rc = admin_ctx__ensure(ctx, &st);
    if (!rc)
        rc = admin_creds__load(ctx->creds, &creds);
    if (rc) {
        fprintf(stderr, "takumi-admin device remove: cannot open %s: %s\n", ctx->data,
                tk_strerror(rc));
        goto cleanup;
    }
    struct admin_cred *c = admin_creds__find(&creds, id);
    if (c && c->role != ADMIN_ROLE_DEVICE) {
        fprintf(stderr, "takumi-admin device remove: '%s' is a %s, not a device\n", id,
                admin_role_name(c->role));
        goto cleanup;
    }
    rc = store_device_remove(st, id);
    if (rc == TK_ENOTFOUND && !c) {
        fprintf(stderr, "takumi-admin device remove: no device '%s'\n", id);
        goto cleanup;
    }
    if (rc && rc != TK_ENOTFOUND) {
        fprintf(stderr, "takumi-admin device remove: %s (%s)\n", tk_strerror(rc), store_errmsg(st));
        goto cleanup;
    }
    /* drop the login and any gateway's right to speak for it, even if the registry entry
     * was already gone (repairs a half-finished earlier run) */
    int changed = admin_creds__remove(&creds, id);
    changed |= admin_creds__forget_device(&creds, id);
    if (changed && (rc = admin_creds__save(ctx->creds, &creds)) != TK_OK) {
        fprintf(stderr, "takumi-admin device remove: cannot write %s: %s\n", ctx->creds,
                tk_strerror(rc));
        goto cleanup;
    }
    char kp[ADMIN_PATH_MAX];
    if (psk_path(ctx, id, kp, sizeof kp) == TK_OK && unlink(kp) != 0 && errno != ENOENT)
        fprintf(stderr, "takumi-admin device remove: cannot remove the CoAP key %s: %s\n", kp,
                strerror(errno));
    ex = admin_broker__apply(ctx, "device remove", &creds, st);
    if (!ex)
        printf("device %s removed\n", id);
cleanup:
    admin_creds__free(&creds);
    store_close(st);
    return ex;
}

int admin_cmd_device(struct admin_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    if (strcmp(sub, "add") == 0)
        return device_add(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "add-many") == 0)
        return device_add_many(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return device_list(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "remove") == 0)
        return device_remove(ctx, argc - 1, argv + 1);
    fprintf(stderr, "usage: takumi-admin --data DIR device add|add-many|list|remove ...\n");
    return ADMIN_EXIT_USAGE;
}
