#include "nv_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int nv_file_open(struct nv_file *nv, const char *dir, const char *name, size_t size)
{
    memset(nv, 0, sizeof *nv);
    if ((size_t)snprintf(nv->path, sizeof nv->path, "%s/%s.nv", dir, name) >= sizeof nv->path)
        return -1;
    snprintf(nv->tmp, sizeof nv->tmp, "%s.tmp", nv->path);
    snprintf(nv->dir, sizeof nv->dir, "%s", dir);
    nv->img = malloc(size);
    if (!nv->img)
        return -1;
    nv->size = size;
    memset(nv->img, 0xff, size);
    int fd = open(nv->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, nv->img + got, size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) /* a different geometry: start erased */
        memset(nv->img, 0xff, size);
    return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int nv_file_write(struct nv_file *nv, uint32_t off, const void *buf, size_t len)
{
    if (off > nv->size || len > nv->size - off)
        return -1;
    memcpy(nv->img + off, buf, len);
    nv->dirty = 1;
    if (nv->group) {
        nv->group->dirty = 1;
        return pwrite_all(nv->group->fd, nv->img + off, len, (off_t)(nv->group_off + off));
    }
    return 0;
}

int nv_file_commit(struct nv_file *nv)
{
    if (!nv->dirty)
        return 0;
    if (nv->group) {
        nv->dirty = 0;
        nv->commits++;
        return 0; /* durable at the group's next sync */
    }
    int fd = open(nv->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < nv->size) {
        ssize_t n = write(fd, nv->img + done, nv->size - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    if (fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    if (rename(nv->tmp, nv->path) != 0)
        return -1;
    int dfd = open(nv->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    nv->dirty = 0;
    nv->commits++;
    return 0;
}

void nv_file_close(struct nv_file *nv)
{
    if (!nv->group)
        free(nv->img);
    nv->img = NULL;
}

int nv_group_open(struct nv_group *g, const char *dir, size_t nparts, size_t size)
{
    memset(g, 0, sizeof *g);
    g->fd = -1;
    if ((size_t)snprintf(g->path, sizeof g->path, "%s/fleet.nv", dir) >= sizeof g->path)
        return -1;
    g->part_size = size + NV_TAG_SIZE;
    g->nparts = nparts;
    if (nparts == 0 || g->part_size > SIZE_MAX / nparts)
        return -1;
    size_t total = g->part_size * nparts;
    g->img = malloc(total);
    if (!g->img)
        return -1;
    g->fd = open(g->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (g->fd < 0)
        goto fail;
    struct stat sb;
    if (fstat(g->fd, &sb) != 0)
        goto fail;
    size_t got = 0;
    if ((size_t)sb.st_size == total) {
        while (got < total) {
            ssize_t n = pread(g->fd, g->img + got, total - got, (off_t)got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    if (got != total) { /* new, or a different geometry: erased partitions, no owners */
        memset(g->img, 0xff, total);
        for (size_t i = 0; i < nparts; i++)
            memset(g->img + i * g->part_size, 0, NV_TAG_SIZE);
        if (ftruncate(g->fd, 0) != 0 || pwrite_all(g->fd, g->img, total, 0) != 0 ||
            fdatasync(g->fd) != 0)
            goto fail;
    }
    return 0;
fail:
    nv_group_close(g);
    return -1;
}

int nv_group_attach(struct nv_group *g, size_t i, const char *id, struct nv_file *nv)
{
    memset(nv, 0, sizeof *nv);
    if (i >= g->nparts || strlen(id) >= NV_TAG_SIZE)
        return -1;
    uint8_t *part = g->img + i * g->part_size;
    char tag[NV_TAG_SIZE];
    memset(tag, 0, sizeof tag);
    memcpy(tag, id, strlen(id));
    if (memcmp(part, tag, NV_TAG_SIZE) != 0) { /* another owner or none: erase */
        memcpy(part, tag, NV_TAG_SIZE);
        memset(part + NV_TAG_SIZE, 0xff, g->part_size - NV_TAG_SIZE);
        if (pwrite_all(g->fd, part, g->part_size, (off_t)(i * g->part_size)) != 0)
            return -1;
        g->dirty = 1;
    }
    snprintf(nv->path, sizeof nv->path, "%s", g->path);
    nv->img = part + NV_TAG_SIZE;
    nv->size = g->part_size - NV_TAG_SIZE;
    nv->group = g;
    nv->group_off = i * g->part_size + NV_TAG_SIZE;
    return 0;
}

int nv_group_sync(struct nv_group *g)
{
    if (!g->dirty)
        return 0;
    if (fdatasync(g->fd) != 0)
        return -1;
    g->dirty = 0;
    g->syncs++;
    return 0;
}

void nv_group_close(struct nv_group *g)
{
    if (!g)
        return;
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
    free(g->img);
    g->img = NULL;
}
