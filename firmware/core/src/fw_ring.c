#include "fw_ring.h"

#include "fw_bytes.h"
#include "fw_crc.h"

#define RING_MAGIC 0x31524b54u /* "TKR1" */

uint32_t fw_ring_nv_size(uint32_t nslots, uint32_t slot_size)
{
    return FW_RING_HDR_SIZE + nslots * slot_size;
}

static uint32_t slot_off(const struct fw_ring *r, uint32_t seq)
{
    return r->base + FW_RING_HDR_SIZE + (seq & (r->nslots - 1u)) * r->slot_size;
}

static enum fw_rc write_header(struct fw_ring *r)
{
    uint8_t b[24];
    r->gen++;
    fw_put32(b, RING_MAGIC);
    fw_put32(b + 4, r->gen);
    fw_put32(b + 8, r->head);
    fw_put32(b + 12, r->tail);
    fw_put32(b + 16, r->dropped);
    fw_put32(b + 20, fw_crc32(0, b, 20));
    /* alternate copies: the one not written last survives a torn write */
    return r->port->nv_write(r->port->ctx, r->base + (r->gen & 1u) * 32u, b, sizeof b);
}

/* 1 and the fields when the copy at off is valid. */
static int read_header(const struct fw_ring *r, uint32_t off, uint32_t f[4])
{
    uint8_t b[24];
    if (r->port->nv_read(r->port->ctx, off, b, sizeof b) != FW_OK)
        return 0;
    if (fw_get32(b) != RING_MAGIC || fw_get32(b + 20) != fw_crc32(0, b, 20))
        return 0;
    f[0] = fw_get32(b + 4);
    f[1] = fw_get32(b + 8);
    f[2] = fw_get32(b + 12);
    f[3] = fw_get32(b + 16);
    return f[1] - f[2] <= r->nslots; /* a window wider than the ring is not ours */
}

enum fw_rc fw_ring_reset(struct fw_ring *r, uint32_t first_seq)
{
    r->head = r->tail = first_seq;
    r->dropped = 0;
    return write_header(r);
}

enum fw_rc fw_ring_open(struct fw_ring *r, const struct fw_port *port, uint32_t base,
                        uint32_t nslots, uint32_t slot_size)
{
    r->port = port;
    r->base = base;
    r->nslots = nslots;
    r->slot_size = slot_size;
    r->gen = 0;
    if (nslots < 2 || (nslots & (nslots - 1u)) || slot_size <= FW_RING_SLOT_HDR + 16u ||
        slot_size > 0xffffu || nslots > 0x10000u ||
        base + fw_ring_nv_size(nslots, slot_size) > port->nv_size)
        return FW_EINVAL;
    uint32_t a[4], b[4];
    int va = read_header(r, base, a), vb = read_header(r, base + 32u, b);
    if (!va && !vb) {
        enum fw_rc rc = fw_ring_reset(r, 1);
        return rc ? rc : FW_ENOENT;
    }
    const uint32_t *f = !vb || (va && fw_diff32(a[0], b[0]) > 0) ? a : b;
    r->gen = f[0];
    r->head = f[1];
    r->tail = f[2];
    r->dropped = f[3];
    return FW_OK;
}

enum fw_rc fw_ring_push(struct fw_ring *r, const char *payload, uint32_t len)
{
    uint8_t h[FW_RING_SLOT_HDR];
    if (len > fw_ring_payload_max(r))
        return FW_EFULL;
    if (fw_ring_count(r) >= r->nslots) {
        r->tail++;
        r->dropped++;
    }
    uint32_t seq = r->head, off = slot_off(r, seq);
    fw_put32(h, seq);
    fw_put32(h + 4, len);
    fw_put32(h + 8, fw_crc32(fw_crc32(0, h, 8), payload, len));
    enum fw_rc rc = r->port->nv_write(r->port->ctx, off, h, sizeof h);
    if (!rc)
        rc = r->port->nv_write(r->port->ctx, off + FW_RING_SLOT_HDR, payload, len);
    if (rc)
        return rc;
    r->head++;
    return write_header(r);
}

enum fw_rc fw_ring_get(const struct fw_ring *r, uint32_t seq, char *buf, size_t cap,
                       size_t *len)
{
    uint8_t h[FW_RING_SLOT_HDR];
    if (seq - r->tail >= fw_ring_count(r))
        return FW_ENOENT;
    uint32_t off = slot_off(r, seq);
    if (r->port->nv_read(r->port->ctx, off, h, sizeof h) != FW_OK)
        return FW_EIO;
    uint32_t n = fw_get32(h + 4);
    if (fw_get32(h) != seq || n > fw_ring_payload_max(r))
        return FW_ECRC;
    if (n > cap)
        return FW_EFULL;
    if (r->port->nv_read(r->port->ctx, off + FW_RING_SLOT_HDR, buf, n) != FW_OK)
        return FW_EIO;
    if (fw_crc32(fw_crc32(0, h, 8), buf, n) != fw_get32(h + 8))
        return FW_ECRC;
    *len = n;
    return FW_OK;
}

enum fw_rc fw_ring_ack(struct fw_ring *r, uint32_t acked, uint32_t *removed)
{
    uint32_t n = 0;
    if (removed)
        *removed = 0;
    if (fw_diff32(acked, r->tail) < 0)
        return FW_OK; /* old news (a retained ack from before) */
    if (fw_diff32(acked, r->head) >= 0) {
        /* The platform has stored seqs this ring never assigned: the storage was wiped
         * or replaced while the platform kept the device's watermark. Readings numbered
         * at or below it would be absorbed as duplicates, so continue after it; what the
         * ring held is counted as dropped. */
        n = fw_ring_count(r);
        r->dropped += n;
        r->head = r->tail = acked + 1u;
        if (removed)
            *removed = n;
        return write_header(r);
    }
    n = acked - r->tail + 1u;
    r->tail += n;
    if (removed)
        *removed = n;
    return write_header(r);
}
