/* Files the broker and the tool depend on are replaced whole: temp file, fsync, rename,
 * fsync of the directory (as mosquitto's libcommon/file_common.c does), so the broker
 * reloading on SIGHUP, or a crash at any point, sees either the old or the new file. */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum tk_rc errno_rc(int e)
{
    if (e == ENOSPC || e == EDQUOT)
        return TK_ENOSPC;
    if (e == ENOMEM)
        return TK_ENOMEM;
    if (e == ENOENT)
        return TK_ENOTFOUND;
    return TK_EIO;
}

static enum tk_rc fsync_dir_of(const char *path)
{
    char dir[ADMIN_PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n == 0) {
        dir[0] = slash ? '/' : '.';
        dir[1] = '\0';
    } else {
        if (n >= sizeof dir)
            return TK_EFULL;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno_rc(errno);
    enum tk_rc rc = fsync(fd) == 0 ? TK_OK : errno_rc(errno);
    close(fd);
    return rc;
}

enum tk_rc admin_fs__write_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
    char tmp[ADMIN_PATH_MAX];
    enum tk_rc rc = admin_fs__path(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (rc)
        return rc;
    (void)unlink(tmp); /* a leftover of a crashed run with the same pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return errno_rc(errno);
    if (fchmod(fd, mode) != 0) {
        rc = errno_rc(errno);
        goto fail;
    }
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = errno_rc(errno);
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = errno_rc(errno);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = errno_rc(errno);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = errno_rc(errno);
        goto fail;
    }
    return fsync_dir_of(path);
fail:
    if (fd >= 0)
        close(fd);
    (void)unlink(tmp);
    return rc;
}

enum tk_rc admin_fs__mkdir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return errno_rc(errno);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return errno_rc(errno);
    if (!S_ISDIR(sb.st_mode))
        return TK_EIO;
    if ((sb.st_mode & 07777) != mode && chmod(path, mode) != 0)
        return errno_rc(errno);
    return TK_OK;
}

enum tk_rc admin_fs__read_all(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno_rc(errno);
    enum tk_rc rc = TK_OK;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b) {
        rc = TK_ENOMEM;
        goto cleanup;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max + 1) {
                rc = TK_EFULL;
                goto cleanup;
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                rc = TK_ENOMEM;
                goto cleanup;
            }
            b = nb;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        rc = TK_EIO;
        goto cleanup;
    }
    if (n > max) {
        rc = TK_EFULL;
        goto cleanup;
    }
    b[n] = '\0';
    *out = b;
    b = NULL;
    if (len)
        *len = n;
cleanup:
    free(b);
    fclose(f);
    return rc;
}

enum tk_rc admin_fs__path(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t)n >= size) ? TK_EFULL : TK_OK;
}

void admin_buf__append(struct admin_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void admin_buf__printf(struct admin_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        admin_buf__append(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    admin_buf__append(b, big, (size_t)n);
    free(big);
}

void admin_buf__free(struct admin_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
