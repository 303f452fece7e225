#include "tk_check.h"
#include "tk_quantity.h"

#define OM "http://www.opengis.net/def/observationType/OGC-OM/2.0/"

int main(void)
{
    enum tk_quantity q[TK_Q_MAX];
    int seen[TK_Q_MAX] = {0};

    CHECK_EQ_INT(tk_kind_quantities(TK_KIND_WATER_LEVEL, q), 3);
    CHECK_EQ_INT(q[0], TK_Q_WATER_LEVEL);
    CHECK_EQ_INT(q[1], TK_Q_BATTERY_VOLTAGE);
    CHECK_EQ_INT(q[2], TK_Q_WATER_TEMPERATURE);
    CHECK_EQ_INT(tk_kind_quantities(TK_KIND_PEOPLE_FLOW, q), 2);
    CHECK_EQ_INT(q[0], TK_Q_PEOPLE_IN);
    CHECK_EQ_INT(q[1], TK_Q_PEOPLE_OUT);
    CHECK_EQ_INT(tk_kind_quantities(TK_KIND_WIFI_AP, q), 3);
    CHECK_EQ_INT(q[0], TK_Q_UNIQUE_DEVICES);
    CHECK_EQ_INT(q[1], TK_Q_ASSOCIATED);
    CHECK_EQ_INT(q[2], TK_Q_PROBE_ONLY);
    CHECK_EQ_INT(tk_kind_quantities(TK_KIND_MAX, q), 0);

    /* every quantity belongs to exactly one kind and is fully described */
    for (int k = 0; k < TK_KIND_MAX; k++) {
        int n = tk_kind_quantities((enum tk_kind)k, q);
        for (int i = 0; i < n; i++)
            seen[q[i]]++;
    }
    for (int i = 0; i < TK_Q_MAX; i++) {
        const struct tk_quantity_info *in = tk_quantity_info((enum tk_quantity)i);
        CHECK_EQ_INT(seen[i], 1);
        CHECK(in && in->name && in->description && in->definition && in->unit_name &&
              in->unit_symbol && in->unit_def && in->obs_type);
        CHECK(in && strncmp(in->obs_type, OM, strlen(OM)) == 0);
    }
    CHECK(tk_quantity_info(TK_Q_MAX) == NULL);

    const struct tk_quantity_info *wl = tk_quantity_info(TK_Q_WATER_LEVEL);
    CHECK_EQ_STR(wl->name, "water_level");
    CHECK_EQ_STR(wl->unit_name, "metre");
    CHECK_EQ_STR(wl->unit_symbol, "m");
    CHECK_EQ_STR(wl->obs_type, OM "OM_Measurement");
    CHECK_EQ_STR(tk_quantity_info(TK_Q_BATTERY_VOLTAGE)->unit_symbol, "V");
    CHECK_EQ_STR(tk_quantity_info(TK_Q_WATER_TEMPERATURE)->unit_symbol, "Cel");
    CHECK_EQ_STR(tk_quantity_info(TK_Q_WATER_TEMPERATURE)->unit_name, "degree Celsius");
    for (int i = TK_Q_PEOPLE_IN; i <= TK_Q_PROBE_ONLY; i++)
        CHECK_EQ_STR(tk_quantity_info((enum tk_quantity)i)->obs_type, OM "OM_CountObservation");
    return tk_check_result("test_quantity");
}
