#include "nv_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int nv_file_commit(struct nv_file *nv)
{
    if (!nv->dirty)
        return 0;
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
    free(nv->img);
    nv->img = NULL;
}
