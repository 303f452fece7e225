/* Ring buffer: ack, full, persistence across a reboot, seq wrap, corruption. */
#include "fw_ring.h"
#include "sim_port.h"
#include "tk_check.h"

#include <stdio.h>

static struct sim sim;
static struct fw_port port;

static void push(struct fw_ring *r, const char *tag)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "{\"seq\":%lu,\"t\":\"%s\"}",
                     (unsigned long)fw_ring_next_seq(r), tag);
    CHECK(fw_ring_push(r, buf, (uint32_t)n) == FW_OK);
}

static int holds(const struct fw_ring *r, uint32_t seq)
{
    char buf[128], want[32];
    size_t len = 0;
    if (fw_ring_get(r, seq, buf, sizeof buf - 1, &len) != FW_OK)
        return 0;
    buf[len] = '\0';
    snprintf(want, sizeof want, "{\"seq\":%lu,", (unsigned long)seq);
    return strncmp(buf, want, strlen(want)) == 0;
}

static void test_ack_and_full(void)
{
    struct fw_ring r;
    sim_init(&sim);
    sim_port(&sim, &port);
    CHECK(fw_ring_open(&r, &port, 64, 7, 64) == FW_EINVAL);   /* not a power of two */
    CHECK(fw_ring_open(&r, &port, 64, 8, 20) == FW_EINVAL);   /* slot too small */
    CHECK(fw_ring_open(&r, &port, 64, 1024, 64) == FW_EINVAL); /* beyond storage */
    CHECK(fw_ring_open(&r, &port, 64, 8, 64) == FW_ENOENT);
    CHECK_EQ_INT(fw_ring_next_seq(&r), 1);
    for (int i = 0; i < 5; i++)
        push(&r, "a");
    CHECK_EQ_INT(fw_ring_count(&r), 5);
    uint32_t removed = 0;
    CHECK(fw_ring_ack(&r, 3, &removed) == FW_OK);
    CHECK_EQ_INT(removed, 3);
    CHECK_EQ_INT(fw_ring_count(&r), 2);
    CHECK(!holds(&r, 3) && holds(&r, 4) && holds(&r, 5));
    CHECK(fw_ring_ack(&r, 2, &removed) == FW_OK && removed == 0); /* old ack: nothing */
    CHECK_EQ_INT(fw_ring_count(&r), 2);
    /* fill: 8 slots; pushing 10 more drops the 4 oldest and counts them */
    for (int i = 0; i < 10; i++)
        push(&r, "b");
    CHECK_EQ_INT(fw_ring_count(&r), 8);
    CHECK_EQ_INT(r.dropped, 4);
    CHECK_EQ_INT(r.tail, 8);
    CHECK(!holds(&r, 7) && holds(&r, 8) && holds(&r, 15));
    char small[8];
    size_t len;
    CHECK(fw_ring_get(&r, 8, small, sizeof small, &len) == FW_EFULL);
    char big[100];
    memset(big, 'x', sizeof big);
    CHECK(fw_ring_push(&r, big, sizeof big) == FW_EFULL); /* larger than a slot */
    CHECK(fw_ring_ack(&r, 15, &removed) == FW_OK && removed == 8);
    CHECK_EQ_INT(fw_ring_count(&r), 0);
}

static void test_reboot(void)
{
    struct fw_ring r, r2;
    sim_init(&sim);
    sim_port(&sim, &port);
    CHECK(fw_ring_open(&r, &port, 0, 16, 64) == FW_ENOENT);
    for (int i = 0; i < 6; i++)
        push(&r, "p");
    CHECK(fw_ring_ack(&r, 2, NULL) == FW_OK);
    /* reboot: RAM state gone, storage kept */
    memset(&r2, 0xa5, sizeof r2);
    CHECK(fw_ring_open(&r2, &port, 0, 16, 64) == FW_OK);
    CHECK_EQ_INT(r2.tail, 3);
    CHECK_EQ_INT(r2.head, 7);
    for (uint32_t s = 3; s <= 6; s++)
        CHECK(holds(&r2, s));
    push(&r2, "after");
    CHECK(holds(&r2, 7));

    /* a torn header write: the newest copy is garbage, the older one wins */
    uint32_t newest = r2.base + (r2.gen & 1u) * 32u;
    sim.nv[newest + 9] ^= 0xff;
    struct fw_ring r3;
    CHECK(fw_ring_open(&r3, &port, 0, 16, 64) == FW_OK);
    CHECK_EQ_INT(r3.gen, r2.gen - 1);
    CHECK_EQ_INT(r3.head, 7); /* the reading pushed last is not known: at most one lost */
    CHECK_EQ_INT(r3.tail, 3);

    /* a corrupt slot is reported, not returned */
    uint32_t off = FW_RING_HDR_SIZE + (4 & 15u) * 64u + FW_RING_SLOT_HDR + 2;
    sim.nv[off] ^= 0x01;
    char buf[80];
    size_t len;
    CHECK(fw_ring_get(&r3, 4, buf, sizeof buf, &len) == FW_ECRC);
    CHECK(holds(&r3, 5));

    /* both copies bad: a fresh ring */
    memset(sim.nv, 0xff, 64);
    CHECK(fw_ring_open(&r3, &port, 0, 16, 64) == FW_ENOENT);
    CHECK_EQ_INT(fw_ring_count(&r3), 0);
}

static void test_wrap(void)
{
    struct fw_ring r;
    sim_init(&sim);
    sim_port(&sim, &port);
    CHECK(fw_ring_open(&r, &port, 0, 8, 64) == FW_ENOENT);
    CHECK(fw_ring_reset(&r, 0xfffffffcu) == FW_OK);
    for (int i = 0; i < 8; i++)
        push(&r, "w"); /* fffffffc .. 3 */
    CHECK_EQ_INT(fw_ring_count(&r), 8);
    CHECK_EQ_INT(r.head, 4);
    CHECK(holds(&r, 0xfffffffcu) && holds(&r, 0xffffffffu) && holds(&r, 0) && holds(&r, 3));
    uint32_t removed;
    CHECK(fw_ring_ack(&r, 0xfffffffeu, &removed) == FW_OK && removed == 3);
    CHECK(fw_ring_ack(&r, 1, &removed) == FW_OK && removed == 3); /* across the wrap */
    CHECK_EQ_INT(r.tail, 2);
    CHECK(fw_ring_ack(&r, 0xfffffff0u, &removed) == FW_OK && removed == 0); /* behind */
    struct fw_ring r2;
    CHECK(fw_ring_open(&r2, &port, 0, 8, 64) == FW_OK);
    CHECK_EQ_INT(r2.tail, 2);
    CHECK_EQ_INT(r2.head, 4);
    CHECK(holds(&r2, 2) && holds(&r2, 3));
    /* an ack beyond head (storage replaced, platform remembers): continue after it */
    CHECK(fw_ring_ack(&r2, 500, &removed) == FW_OK && removed == 2);
    CHECK_EQ_INT(fw_ring_next_seq(&r2), 501);
    CHECK_EQ_INT(r2.dropped, 2);
}

int main(void)
{
    test_ack_and_full();
    test_reboot();
    test_wrap();
    return tk_check_result("fw_ring");
}
