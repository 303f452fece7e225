/* Non-volatile storage of simulated devices.
 *
 * One device (nv_file_open): an image in memory, made durable by writing it whole to a
 * temp file, fsync, rename over the old one, fsync the directory (a crash leaves the old
 * image or the new one, never a mix).
 *
 * A fleet (nv_group_open): thousands of devices recording several readings a second each
 * cannot rewrite a file and fsync per reading, so a fleet keeps every device's partition
 * in one file, like a flash chip: writes go through at once (pwrite, in place, as a board
 * writes its flash) and the commit is one fdatasync per loop turn for every device
 * (nv_group_sync), a group commit. A torn write is what real flash gives too: the ring's
 * per-slot CRC and two alternating header copies are made for it. Each partition starts
 * with the owner's id, so a changed device list never hands one device another's ring. */
#ifndef FW_POSIX_NV_FILE_H
#define FW_POSIX_NV_FILE_H

#include <stddef.h>
#include <stdint.h>

#define NV_TAG_SIZE 64u /* partition header: the owner's id, NUL-padded */

struct nv_group {
    char path[500];
    int fd;
    uint8_t *img; /* new: freed by nv_group_close */
    size_t part_size, nparts; /* part_size includes NV_TAG_SIZE */
    int dirty;
    unsigned long syncs;
};

struct nv_file {
    char path[512], tmp[520], dir[512];
    uint8_t *img; /* single: new, freed by nv_file_close; group: borrowed */
    size_t size;
    int dirty;
    unsigned long commits;
    struct nv_group *group; /* borrowed; NULL for a file of its own */
    size_t group_off;       /* offset of img in the group file */
};

/** Load path (missing or wrong-sized file: erased image of 0xff). 0 on success. */
int nv_file_open(struct nv_file *nv, const char *dir, const char *name, size_t size);
/** Write len bytes at off into the image (and through to the group file). 0 or -1. */
int nv_file_write(struct nv_file *nv, uint32_t off, const void *buf, size_t len);
/** Single: write the image if changed (0, or -1 with errno). Group: nothing to do here,
 *  the group's next nv_group_sync makes it durable. */
int nv_file_commit(struct nv_file *nv);
void nv_file_close(struct nv_file *nv);

/** Open or create DIR/fleet.nv for nparts partitions of size bytes each. 0 or -1. */
int nv_group_open(struct nv_group *g, const char *dir, size_t nparts, size_t size);
/** Attach partition i to device id (erased first if it belonged to another id). */
int nv_group_attach(struct nv_group *g, size_t i, const char *id, struct nv_file *nv);
/** fdatasync if anything was written since the last sync. 0 or -1 with errno. */
int nv_group_sync(struct nv_group *g);
void nv_group_close(struct nv_group *g);

#endif
