/* The data directory: its layout, first-time set-up and the lock that serialises
 * identity changes.
 *
 *   DIR/takumi.db            the store (device registry and observations)
 *   DIR/broker/              0700: credentials, passwd, acl, mosquitto.conf, broker state
 *   DIR/secrets/             0700: cleartext passwords of the platform's own services
 *   DIR/log/                 logs of every process
 *
 * Service passwords are the one cleartext exception: ingest and the dashboard must log in
 * unattended, so their passwords live in DIR/secrets/NAME.pass (0600, no trailing newline).
 * The pass file is the truth: if its hash is missing or stale it is rehashed, so an
 * operator may replace a pass file and rerun init. */
#include "admin.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum tk_rc admin_ctx__init(struct admin_ctx *ctx, const char *dir)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->lock_fd = -1;
    if (mkdir(dir, 0755) != 0) {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return TK_EIO;
    }
    char abs[PATH_MAX];
    if (!realpath(dir, abs))
        return TK_EIO;
    enum tk_rc rc = admin_fs__path(ctx->data, sizeof ctx->data, "%s", abs);
    if (!rc)
        rc = admin_fs__path(ctx->db, sizeof ctx->db, "%s/takumi.db", abs);
    if (!rc)
        rc = admin_fs__path(ctx->broker, sizeof ctx->broker, "%s/broker", abs);
    if (!rc)
        rc = admin_fs__path(ctx->creds, sizeof ctx->creds, "%s/broker/credentials", abs);
    if (!rc)
        rc = admin_fs__path(ctx->passwd, sizeof ctx->passwd, "%s/broker/passwd", abs);
    if (!rc)
        rc = admin_fs__path(ctx->acl, sizeof ctx->acl, "%s/broker/acl", abs);
    if (!rc)
        rc = admin_fs__path(ctx->pidfile, sizeof ctx->pidfile, "%s/broker/mosquitto.pid", abs);
    if (!rc)
        rc = admin_fs__path(ctx->secrets, sizeof ctx->secrets, "%s/secrets", abs);
    if (!rc)
        rc = admin_fs__path(ctx->log, sizeof ctx->log, "%s/log", abs);
    return rc;
}

enum tk_rc admin_ctx__lock(struct admin_ctx *ctx)
{
    if (ctx->lock_fd >= 0)
        return TK_OK;
    char path[ADMIN_PATH_MAX];
    enum tk_rc rc = admin_fs__path(path, sizeof path, "%s/.lock", ctx->broker);
    if (rc)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return TK_EIO;
    if (flock(fd, LOCK_EX) != 0) {
        close(fd);
        return TK_EIO;
    }
    ctx->lock_fd = fd;
    return TK_OK;
}

void admin_ctx__unlock(struct admin_ctx *ctx)
{
    if (ctx->lock_fd >= 0) {
        close(ctx->lock_fd); /* releases the flock */
        ctx->lock_fd = -1;
    }
}

/* Make sure service `name` has a password in DIR/secrets/short.pass and a matching hash
 * in creds. *changed is set when creds changed. */
static enum tk_rc ensure_service(const struct admin_ctx *ctx, struct admin_creds *creds,
                                 const char *name, const char *short_name, int *changed)
{
    char path[ADMIN_PATH_MAX], pw[256], hash[ADMIN_HASH_MAX];
    char *text = NULL;
    enum tk_rc rc = admin_fs__path(path, sizeof path, "%s/%s.pass", ctx->secrets, short_name);
    if (rc)
        return rc;
    rc = admin_fs__read_all(path, sizeof pw - 1, &text, NULL);
    if (rc == TK_OK) {
        size_t n = strlen(text);
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
            text[--n] = '\0';
        if (n == 0) {
            rc = TK_EINVAL; /* an empty pass file would mean an empty password */
            goto cleanup;
        }
        memcpy(pw, text, n + 1);
    } else if (rc == TK_ENOTFOUND) {
        rc = admin_passwd__new(pw, sizeof pw);
        if (rc)
            goto cleanup;
        rc = admin_fs__write_atomic(path, pw, strlen(pw), 0600);
        if (rc)
            goto cleanup;
    } else {
        goto cleanup;
    }
    struct admin_cred *c = admin_creds__find(creds, name);
    if (c && c->role == ADMIN_ROLE_SERVICE && admin_passwd__verify(pw, c->hash))
        goto cleanup; /* already in place */
    rc = admin_passwd__hash(pw, hash, sizeof hash);
    if (rc)
        goto cleanup;
    rc = admin_creds__put(creds, name, ADMIN_ROLE_SERVICE, hash, NULL);
    if (rc)
        goto cleanup;
    *changed = 1;
cleanup:
    free(text);
    memset(pw, 0, sizeof pw);
    return rc;
}

enum tk_rc admin_ctx__ensure(struct admin_ctx *ctx, struct store **out)
{
    struct admin_creds creds = {0};
    struct store *st = NULL;
    int changed = 0;
    if (out)
        *out = NULL;
    enum tk_rc rc = admin_fs__mkdir(ctx->broker, 0700);
    if (!rc)
        rc = admin_fs__mkdir(ctx->secrets, 0700);
    if (!rc)
        rc = admin_fs__mkdir(ctx->log, 0755);
    if (rc)
        return rc;
    rc = admin_ctx__lock(ctx);
    if (rc)
        return rc;
    rc = store_open(ctx->db, NULL, &st);
    if (rc)
        goto cleanup;
    rc = admin_creds__load(ctx->creds, &creds);
    if (rc)
        goto cleanup;
    rc = ensure_service(ctx, &creds, ADMIN_INGEST_USER, "ingest", &changed);
    if (!rc)
        rc = ensure_service(ctx, &creds, ADMIN_DASHBOARD_USER, "dashboard", &changed);
    if (rc)
        goto cleanup;
    if (changed) {
        rc = admin_creds__save(ctx->creds, &creds);
        if (rc)
            goto cleanup;
    }
    if (changed || access(ctx->passwd, F_OK) != 0 || access(ctx->acl, F_OK) != 0) {
        rc = admin_broker__regenerate(ctx, &creds, st);
        if (rc)
            goto cleanup;
    }
    if (out) {
        *out = st;
        st = NULL;
    }
cleanup:
    admin_creds__free(&creds);
    store_close(st);
    return rc;
}
