/* Non-volatile storage of a simulated device: an image in memory, made durable by
 * writing it whole to a temp file, fsync, rename over the old one, fsync the directory
 * (a crash leaves the old image or the new one, never a mix). */
#ifndef FW_POSIX_NV_FILE_H
#define FW_POSIX_NV_FILE_H

#include <stddef.h>
#include <stdint.h>

struct nv_file {
    char path[512], tmp[520], dir[512];
    uint8_t *img; /* new: freed by nv_file_close */
    size_t size;
    int dirty;
    unsigned long commits;
};

/** Load path (missing or wrong-sized file: erased image of 0xff). 0 on success. */
int nv_file_open(struct nv_file *nv, const char *dir, const char *name, size_t size);
/** Write the image if changed. 0 on success, -1 with errno. */
int nv_file_commit(struct nv_file *nv);
void nv_file_close(struct nv_file *nv);

#endif
