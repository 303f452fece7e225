/* Little-endian packing of the blocks kept in non-volatile storage, so that a storage
 * image means the same on every port (and a test can corrupt a chosen byte). */
#ifndef FW_BYTES_H
#define FW_BYTES_H

#include <stdint.h>

static inline void fw_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t fw_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
