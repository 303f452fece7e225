/* Store-and-forward ring buffer of encoded readings in non-volatile storage.
 *
 * Design note. A reading is the exact payload that goes on the wire (its JSON, seq
 * included), kept in slot seq % nslots until the platform's watermark ack
 * ({"seq":N}: every seq <= N is stored durably, SPEC section 4) covers it. Seqs are
 * uint32 in serial-number order and wrap; nslots is a power of two so that slot indexes
 * stay distinct across the wrap. The live window is [tail, head): head is the next seq to
 * assign, tail the oldest reading not yet acknowledged.
 *
 * When the ring is full the oldest reading is dropped (tail advances) and `dropped`
 * counts it: the device reports the count in its status and the platform sees the gap
 * in seqs. The header (head, tail, dropped) is written in two copies, alternately, each
 * with a generation number and a CRC: a write torn by power loss leaves the other copy,
 * so at boot the newest valid copy wins. Each slot carries its seq, length and CRC; a
 * slot that fails them reads as FW_ECRC and is skipped, never sent as garbage. Nothing
 * here is durable until the port's nv_commit, which the device calls once per change. */
#ifndef FW_RING_H
#define FW_RING_H

#include "fw_port.h"

#define FW_RING_HDR_SIZE 64u  /* two header copies of 32 bytes */
#define FW_RING_SLOT_HDR 12u  /* seq, length, CRC before each slot's payload */

struct fw_ring {
    const struct fw_port *port; /* borrowed */
    uint32_t base;              /* offset of the ring in non-volatile storage */
    uint32_t nslots;            /* power of two */
    uint32_t slot_size;         /* bytes per slot including FW_RING_SLOT_HDR */
    uint32_t head, tail;        /* live window [tail, head) */
    uint32_t dropped;           /* readings dropped unacknowledged, since first boot */
    uint32_t gen;               /* generation of the newest header copy */
};

/** Storage the ring needs for nslots slots of slot_size bytes. */
uint32_t fw_ring_nv_size(uint32_t nslots, uint32_t slot_size);

/** Attach to the ring at base: FW_OK when a valid header was found, FW_ENOENT when the
 *  storage held none (a fresh ring starting at seq 1 is set up and written), FW_EINVAL
 *  for bad geometry (nslots not a power of two, too small a slot, beyond nv_size). */
enum fw_rc fw_ring_open(struct fw_ring *r, const struct fw_port *port, uint32_t base,
                        uint32_t nslots, uint32_t slot_size) FW_WUR;
/** Empty the ring and let the next reading get first_seq (tests use it for the wrap). */
enum fw_rc fw_ring_reset(struct fw_ring *r, uint32_t first_seq) FW_WUR;

static inline uint32_t fw_ring_count(const struct fw_ring *r)
{
    return r->head - r->tail;
}
/** The seq the next fw_ring_push will store. */
static inline uint32_t fw_ring_next_seq(const struct fw_ring *r)
{
    return r->head;
}
/** Largest payload a slot holds. */
static inline uint32_t fw_ring_payload_max(const struct fw_ring *r)
{
    return r->slot_size - FW_RING_SLOT_HDR;
}

/** Store the payload under seq fw_ring_next_seq(); when full, drop the oldest first and
 *  count it. FW_EFULL if len exceeds a slot. */
enum fw_rc fw_ring_push(struct fw_ring *r, const char *payload, uint32_t len) FW_WUR;
/** Copy the payload of seq (which must be in [tail, head)) into buf. FW_ECRC when the slot
 *  is corrupt, FW_ENOENT when seq is not live, FW_EFULL when cap is too small. */
enum fw_rc fw_ring_get(const struct fw_ring *r, uint32_t seq, char *buf, size_t cap,
                       size_t *len) FW_WUR;
/** Apply a watermark ack: drop every live reading with seq <= acked (serial order). An
 *  ack behind tail changes nothing; one at or past head empties the ring. Returns the
 *  number of readings removed via *removed (may be NULL). */
enum fw_rc fw_ring_ack(struct fw_ring *r, uint32_t acked, uint32_t *removed) FW_WUR;

#endif
