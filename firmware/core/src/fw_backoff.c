#include "fw_backoff.h"

void fw_backoff_init(struct fw_backoff *b, uint32_t base_ms, uint32_t cap_ms)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
    b->attempt = 0;
}

uint32_t fw_backoff_nominal(const struct fw_backoff *b)
{
    uint32_t d = b->base_ms;
    for (uint32_t i = 0; i < b->attempt && d < b->cap_ms; i++)
        d = d > b->cap_ms / 2 ? b->cap_ms : d * 2;
    return d < b->cap_ms ? d : b->cap_ms;
}

uint32_t fw_backoff_next(struct fw_backoff *b, uint32_t rnd)
{
    uint32_t d = fw_backoff_nominal(b);
    if (b->attempt < 64)
        b->attempt++;
    uint32_t half = d / 2;
    return half + rnd % (d - half + 1u);
}

void fw_backoff_reset(struct fw_backoff *b)
{
    b->attempt = 0;
}
