/* The spool: durable put, duplicates absorbed, cap refused with TK_EFULL, watermark
 * deletion with seq wrap, scan order, and state surviving a reopen. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gw.h"
#include "tk_check.h"

static void reading(struct tk_reading *r, const char *id, uint32_t seq)
{
    memset(r, 0, sizeof *r);
    r->kind = TK_KIND_WATER_LEVEL;
    snprintf(r->id, sizeof r->id, "%s", id);
    r->seq = seq;
    r->ts_us = 1767225600000000LL + (int64_t)(seq & 0xffffu) * 60000000LL;
    r->level_m = 0.25;
    r->has = TK_F_LEVEL_M;
}

struct seen {
    int n;
    uint32_t seqs[64];
    char dev[64][TK_ID_MAX + 1];
};

static int collect(const struct gw_spool_row *row, void *ud)
{
    struct seen *s = ud;
    if (s->n < 64) {
        s->seqs[s->n] = row->seq;
        snprintf(s->dev[s->n], sizeof s->dev[0], "%s", row->device);
    }
    s->n++;
    CHECK(row->body_len > 10 && row->body[0] == '{');
    return 0;
}

int main(int argc, char **argv)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/test-spool-%d.db", argc > 1 ? argv[1] : ".", (int)getpid());
    struct gw_spool *sp = NULL;
    struct tk_reading r[4];
    size_t added = 0, del = 0;
    CHECK(gw_spool_open(path, 6, &sp) == TK_OK);
    reading(&r[0], "wl-a", 1);
    reading(&r[1], "wl-a", 2);
    reading(&r[2], "wl-a", 3);
    CHECK(gw_spool_put(sp, r, 3, &added) == TK_OK);
    CHECK_EQ_INT(added, 3);
    CHECK(gw_spool_put(sp, r + 1, 1, &added) == TK_OK); /* a resend */
    CHECK_EQ_INT(added, 0);
    reading(&r[0], "wl-b", 0xfffffffeu);
    reading(&r[1], "wl-b", 0xffffffffu);
    reading(&r[2], "wl-b", 0);
    reading(&r[3], "wl-b", 1);
    CHECK(gw_spool_put(sp, r, 4, &added) == TK_EFULL); /* 3 + 4 > 6: nothing written */
    CHECK_EQ_INT(gw_spool_count(sp), 3);
    CHECK_EQ_INT(gw_spool_put(sp, r, 3, &added), TK_OK);
    CHECK_EQ_INT(gw_spool_count(sp), 6);

    struct seen s = {0};
    int64_t last = 0;
    CHECK(gw_spool_scan(sp, 0, 100, collect, &s, &last) == TK_OK);
    CHECK_EQ_INT(s.n, 6);
    CHECK_EQ_STR(s.dev[0], "wl-a");
    CHECK_EQ_INT(s.seqs[3], 0xfffffffeu);
    memset(&s, 0, sizeof s);
    int64_t last2 = 0;
    CHECK(gw_spool_scan(sp, last - 2, 100, collect, &s, &last2) == TK_OK);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(last2, last);

    /* a watermark of 0 across the wrap covers 0xfffffffe, 0xffffffff and 0, not wl-a */
    CHECK(gw_spool_ack(sp, "wl-b", 0, &del) == TK_OK);
    CHECK_EQ_INT(del, 3);
    CHECK(gw_spool_ack(sp, "wl-a", 2, &del) == TK_OK);
    CHECK_EQ_INT(del, 2);
    CHECK_EQ_INT(gw_spool_count(sp), 1);
    int64_t minrow = 0;
    CHECK(gw_spool_min_rowid(sp, &minrow) == TK_OK);
    CHECK(minrow > 0);
    gw_spool_close(sp);

    sp = NULL;
    CHECK(gw_spool_open(path, 6, &sp) == TK_OK);
    CHECK_EQ_INT(gw_spool_count(sp), 1);
    memset(&s, 0, sizeof s);
    CHECK(gw_spool_scan(sp, 0, 100, collect, &s, &last) == TK_OK);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(s.seqs[0], 3);
    gw_spool_close(sp);
    gw_spool_close(NULL);
    unlink(path);
    char aux[1100];
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
    return tk_check_result("gateway_spool");
}
