/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) for the blocks kept in non-volatile
 * storage. Bitwise: a table would cost 1 KiB of flash on a 16 KiB part. */
#ifndef FW_CRC_H
#define FW_CRC_H

#include <stddef.h>
#include <stdint.h>

/** Continue a CRC: crc = fw_crc32(0, a, n); crc = fw_crc32(crc, b, m); */
uint32_t fw_crc32(uint32_t crc, const void *buf, size_t len);

#endif
