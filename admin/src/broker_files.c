/* The files mosquitto reads: passwd and acl (derived from the credentials file and the
 * device registry), mosquitto.conf (rendered from broker-config/mosquitto.conf), and the
 * SIGHUP that makes a running broker reload the first two.
 *
 * ACL design. Every device gets exactly four literal topics, built from its registered
 * kind and id: write .../reading and .../status, read .../ack and .../config. No pattern
 * ACLs (%u) and no '+' for the kind: mosquitto pattern ACLs accept '/' in usernames, and a
 * kind wildcard would let a water_level gauge write people_flow readings. Ids are checked
 * against [a-z0-9-]{3,48} before they get here (and again here, so a bad registry row
 * cannot widen the ACL). Services get the wildcard topics their job needs; gateways get
 * the device topics of the devices they front, plus their own retained status
 * gateway/{id}/status (outside city/+/+/#, so no device topic can be named so). Anything
 * not listed is denied. */
#include "admin.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATE_MAX ((size_t)1024 * 1024)

/* ---- registry snapshot ------------------------------------------------------------ */

struct reg_dev {
    char id[TK_ID_MAX + 1];
    enum tk_kind kind;
};

struct registry {
    struct reg_dev *v;
    size_t n, cap;
    int failed;
};

static int collect(const struct store_device *dev, void *ud)
{
    struct registry *r = ud;
    if (!tk_device_id_valid(dev->id) || !tk_kind_name(dev->kind))
        return 0; /* never let a malformed row into the ACL */
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct reg_dev *v = realloc(r->v, cap * sizeof *v);
        if (!v) {
            r->failed = 1;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    memcpy(r->v[r->n].id, dev->id, sizeof r->v[r->n].id);
    r->v[r->n].kind = dev->kind;
    r->n++;
    return 0;
}

static int cmp_dev(const void *a, const void *b)
{
    return strcmp(((const struct reg_dev *)a)->id, ((const struct reg_dev *)b)->id);
}

static const struct reg_dev *reg_find(const struct registry *r, const char *id)
{
    struct reg_dev key;
    size_t n = strlen(id);
    if (n > TK_ID_MAX)
        return NULL;
    memcpy(key.id, id, n + 1);
    return r->n ? bsearch(&key, r->v, r->n, sizeof *r->v, cmp_dev) : NULL;
}

/* ---- acl -------------------------------------------------------------------------- */

static void device_topics(struct admin_buf *b, const struct reg_dev *d)
{
    const char *k = tk_kind_name(d->kind);
    admin_buf__printf(b,
                      "topic write city/%s/%s/reading\n"
                      "topic write city/%s/%s/status\n"
                      "topic read city/%s/%s/ack\n"
                      "topic read city/%s/%s/config\n",
                      k, d->id, k, d->id, k, d->id, k, d->id);
}

static void gateway_topics(struct admin_buf *b, const struct registry *r, const char *devices)
{
    if (strcmp(devices, "all") == 0) {
        for (size_t i = 0; i < r->n; i++)
            device_topics(b, &r->v[i]);
        return;
    }
    char id[TK_ID_MAX + 2];
    const char *s = devices;
    while (*s && strcmp(s, "-") != 0) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n <= TK_ID_MAX) {
            memcpy(id, s, n);
            id[n] = '\0';
            const struct reg_dev *d = reg_find(r, id);
            if (d) /* a listed device that was removed gets nothing */
                device_topics(b, d);
        }
        s += n + (comma ? 1 : 0);
    }
}

static void service_topics(struct admin_buf *b, const char *name)
{
    if (strcmp(name, ADMIN_INGEST_USER) == 0) {
        admin_buf__printf(b, "# reads what devices send, answers with acks and config,\n"
                             "# publishes observations (SensorThings MQTT) and alerts\n"
                             "topic read city/+/+/reading\n"
                             "topic read city/+/+/status\n"
                             "topic write city/+/+/ack\n"
                             "topic write city/+/+/config\n"
                             "topic write v1.1/#\n"
                             "topic write city/alerts/#\n"
                             "# the field gateways' own retained online/offline\n"
                             "topic read gateway/+/status\n");
    } else if (strcmp(name, ADMIN_DASHBOARD_USER) == 0) {
        admin_buf__printf(b, "# read-only: its password ends up in a public web page\n"
                             "topic read v1.1/#\n"
                             "topic read city/alerts/#\n");
    }
    /* an unknown service name gets no topics: denied everything */
}

static enum tk_rc write_acl(const struct admin_ctx *ctx, const struct admin_creds *c,
                            const struct registry *r)
{
    struct admin_buf b = {0};
    admin_buf__printf(&b,
                      "# Generated by takumi-admin from the device registry and %s.\n"
                      "# Do not edit: it is rewritten on every device or gateway change.\n"
                      "# Every identity may use only the topics listed under it.\n",
                      ctx->creds);
    for (size_t i = 0; i < c->n; i++) {
        const struct admin_cred *e = &c->v[i];
        if (!tk_device_id_valid(e->name))
            continue;
        if (e->role == ADMIN_ROLE_DEVICE) {
            const struct reg_dev *d = reg_find(r, e->name);
            if (!d)
                continue; /* credentials without a registry entry: no topics */
            admin_buf__printf(&b, "\nuser %s\n", e->name);
            device_topics(&b, d);
        } else if (e->role == ADMIN_ROLE_GATEWAY) {
            admin_buf__printf(&b, "\nuser %s\ntopic write gateway/%s/status\n", e->name,
                              e->name);
            gateway_topics(&b, r, e->devices ? e->devices : "-");
        } else {
            admin_buf__printf(&b, "\nuser %s\n", e->name);
            service_topics(&b, e->name);
        }
    }
    enum tk_rc rc = b.failed ? TK_ENOMEM : admin_fs__write_atomic(ctx->acl, b.p, b.len, 0600);
    admin_buf__free(&b);
    return rc;
}

static enum tk_rc write_passwd(const struct admin_ctx *ctx, const struct admin_creds *c)
{
    struct admin_buf b = {0};
    for (size_t i = 0; i < c->n; i++)
        if (tk_device_id_valid(c->v[i].name))
            admin_buf__printf(&b, "%s:%s\n", c->v[i].name, c->v[i].hash);
    enum tk_rc rc =
        b.failed ? TK_ENOMEM : admin_fs__write_atomic(ctx->passwd, b.p ? b.p : "", b.len, 0600);
    admin_buf__free(&b);
    return rc;
}

enum tk_rc admin_broker__regenerate(const struct admin_ctx *ctx, const struct admin_creds *creds,
                                    struct store *st)
{
    struct registry r = {0};
    enum tk_rc rc = store_device_list(st, collect, &r);
    if (r.failed)
        rc = TK_ENOMEM;
    if (rc)
        goto cleanup;
    if (r.n > 1)
        qsort(r.v, r.n, sizeof *r.v, cmp_dev);
    /* the broker reads both only when signalled, after both are in place */
    rc = write_acl(ctx, creds, &r);
    if (rc)
        goto cleanup;
    rc = write_passwd(ctx, creds);
cleanup:
    free(r.v);
    return rc;
}

/* ---- reload ----------------------------------------------------------------------- */

int admin_broker__reload(const struct admin_ctx *ctx)
{
    char *text = NULL, *comm = NULL, path[64];
    int result = 0;
    if (admin_fs__read_all(ctx->pidfile, 64, &text, NULL) != TK_OK)
        return 0;
    char *end;
    errno = 0;
    long pid = strtol(text, &end, 10);
    if (errno || end == text || pid <= 1 || (*end && *end != '\n'))
        goto cleanup;
    /* only a live process called mosquitto: a stale pid file must not make us signal a
     * process that reused the pid */
    if (admin_fs__path(path, sizeof path, "/proc/%ld/comm", pid) != TK_OK ||
        admin_fs__read_all(path, 64, &comm, NULL) != TK_OK)
        goto cleanup;
    if (strcmp(comm, "mosquitto\n") != 0 && strcmp(comm, "mosquitto") != 0)
        goto cleanup;
    result = kill((pid_t)pid, SIGHUP) == 0 ? 1 : -1;
cleanup:
    free(text);
    free(comm);
    return result;
}

/* ---- mosquitto.conf --------------------------------------------------------------- */

static int line_has(const char *line, size_t n, const char *marker)
{
    size_t m = strlen(marker);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(line + i, marker, m) == 0)
            return 1;
    return 0;
}

/* Substitute @NAME@ placeholders in one line. */
static enum tk_rc render_line(struct admin_buf *b, const char *line, size_t n,
                              const struct admin_conf_vars *v, struct tk_error *err)
{
    char num[16];
    size_t i = 0;
    while (i < n) {
        if (line[i] != '@') {
            admin_buf__append(b, &line[i++], 1);
            continue;
        }
        size_t j = i + 1;
        while (j < n && ((line[j] >= 'A' && line[j] <= 'Z') || line[j] == '_'))
            j++;
        if (j == i + 1 || j >= n || line[j] != '@') {
            admin_buf__append(b, &line[i++], 1); /* a lone '@' */
            continue;
        }
        const char *name = line + i + 1;
        size_t len = j - i - 1;
        const char *val = NULL;
#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
        if (IS("MQTT_PORT")) {
            snprintf(num, sizeof num, "%d", v->mqtt_port);
            val = num;
        } else if (IS("WS_PORT")) {
            snprintf(num, sizeof num, "%d", v->ws_port);
            val = num;
        } else if (IS("MQTTS_PORT")) {
            snprintf(num, sizeof num, "%d", v->mqtts_port);
            val = num;
        } else if (IS("BIND")) {
            val = v->bind;
        } else if (IS("PLAIN_BIND")) {
            val = v->plain_bind ? v->plain_bind : v->bind;
        } else if (IS("TLS_DIR")) {
            val = v->tls_dir;
        } else if (IS("DATA")) {
            val = v->data;
        } else if (IS("USER")) {
            val = v->user;
        }
#undef IS
        if (!val)
            return tk_error_set(err, TK_EINVAL, "template", "unknown placeholder @%.*s@", (int)len,
                                name);
        admin_buf__append(b, val, strlen(val));
        i = j + 1;
    }
    return TK_OK;
}

enum tk_rc admin_broker__render_conf(const char *template_path, const char *out_path,
                                     const struct admin_conf_vars *v, struct tk_error *err)
{
    char *text = NULL;
    struct admin_buf b = {0};
    enum tk_rc rc = admin_fs__read_all(template_path, TEMPLATE_MAX, &text, NULL);
    if (rc) {
        tk_error_set(err, rc, "template", "cannot read %s: %s", template_path, tk_strerror(rc));
        goto cleanup;
    }
    admin_buf__printf(&b, "# Rendered by takumi-admin broker-conf from %s; edit that instead.\n",
                      template_path);
    /* Lines between markers "@BEGIN_WS@" and "@END_WS@" (each on its own comment line)
     * exist only when a WebSockets port is given; those between "@BEGIN_TLS@" and
     * "@END_TLS@" only when an MQTT TLS port is given. */
    int in_ws = 0, in_tls = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (line_has(p, n, "@BEGIN_WS@")) {
            in_ws = 1;
        } else if (line_has(p, n, "@END_WS@")) {
            in_ws = 0;
        } else if (line_has(p, n, "@BEGIN_TLS@")) {
            in_tls = 1;
        } else if (line_has(p, n, "@END_TLS@")) {
            in_tls = 0;
        } else if ((!in_ws || v->ws_port > 0) && (!in_tls || v->mqtts_port > 0)) {
            rc = render_line(&b, p, n, v, err);
            if (rc)
                goto cleanup;
            admin_buf__append(&b, "\n", 1);
        }
        p += n + (nl ? 1 : 0);
    }
    if (in_ws || in_tls) {
        rc = tk_error_set(err, TK_EINVAL, "template", "%s without its END marker",
                          in_ws ? "@BEGIN_WS@" : "@BEGIN_TLS@");
        goto cleanup;
    }
    if (b.failed) {
        rc = TK_ENOMEM;
        goto cleanup;
    }
    rc = admin_fs__write_atomic(out_path, b.p, b.len, 0600);
    if (rc)
        tk_error_set(err, rc, "output", "cannot write %s: %s", out_path, tk_strerror(rc));
cleanup:
    free(text);
    admin_buf__free(&b);
    return rc;
}

int admin_broker__apply(const struct admin_ctx *ctx, const char *cmd,
                        const struct admin_creds *creds, struct store *st)
{
    enum tk_rc rc = admin_broker__regenerate(ctx, creds, st);
    if (rc) {
        fprintf(stderr, "takumi-admin %s: cannot write the broker files: %s\n", cmd,
                tk_strerror(rc));
        return ADMIN_EXIT_FAIL;
    }
    if (admin_broker__reload(ctx) < 0)
        fprintf(stderr,
                "takumi-admin %s: warning: could not signal the broker to reload; "
                "restart it or send it SIGHUP\n",
                cmd);
    return ADMIN_EXIT_OK;
}
