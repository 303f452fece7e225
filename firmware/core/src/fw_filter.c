#include "fw_filter.h"

int32_t fw_median(int32_t *v, unsigned n)
{
    if (n == 0)
        return 0;
    if (n > FW_BURST_MAX)
        n = FW_BURST_MAX;
    for (unsigned i = 1; i < n; i++) { /* insertion sort: n is tiny */
        int32_t x = v[i];
        unsigned j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    return v[n / 2];
}

static int32_t iabs(int32_t v)
{
    return v < 0 ? -v : v;
}

static int sign(int32_t v)
{
    return (v > 0) - (v < 0);
}

void fw_spike_init(struct fw_spike *f, int32_t max_step)
{
    f->max_step = max_step;
    f->last = f->suspect = 0;
    f->have = f->have_suspect = 0;
    f->trend = 0;
    f->rejected = 0;
}

int fw_spike_push(struct fw_spike *f, int32_t x, int32_t *out)
{
    int32_t d = x - f->last;
    /* inside a confirmed fast change, a step like the last ones continues it */
    int32_t allowed = f->max_step;
    if (f->have && f->trend != 0 && sign(d) == sign(f->trend))
        allowed = f->max_step + 2 * iabs(f->trend);
    if (!f->have || iabs(d) <= allowed) {
        f->trend = f->have ? d : 0;
        if (f->have_suspect)
            f->rejected++; /* back near the last value: the suspect was a spike */
        f->have = 1;
        f->have_suspect = 0;
        f->last = x;
        *out = x;
        return 1;
    }
    if (f->have_suspect) {
        int32_t step = f->suspect - f->last;
        /* confirmed: the new sample stays near the suspect, or moves on the same way */
        if (iabs(x - f->suspect) <= f->max_step || sign(x - f->suspect) == sign(step)) {
            f->have_suspect = 0;
            f->trend = (x - f->last) / 2; /* per sample, over the two */
            f->last = x;
            *out = x;
            return 1;
        }
        f->rejected++; /* the suspect was a spike; x is a new suspect */
    }
    f->suspect = x;
    f->have_suspect = 1;
    return 0;
}
