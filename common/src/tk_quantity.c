/* The quantity table: one SensorThings ObservedProperty per quantity, with its unit.
 * Units are UCUM codes (the symbol) with QUDT unit URIs (the definition); physical
 * quantities point at QUDT quantity kinds, counts at Takumi's own definitions. */
#include "tk_quantity.h"

#define OM_MEASUREMENT "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
#define OM_COUNT "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CountObservation"
#define COUNT_UNIT "count", "{count}", "http://qudt.org/vocab/unit/NUM"

static const struct tk_quantity_info quantities[TK_Q_MAX] = {
    [TK_Q_WATER_LEVEL] = {"water_level",
                          "Water level in the sewer above the pipe invert",
                          "http://qudt.org/vocab/quantitykind/Height", "metre", "m",
                          "http://qudt.org/vocab/unit/M", OM_MEASUREMENT, TK_KIND_WATER_LEVEL},
    [TK_Q_BATTERY_VOLTAGE] = {"battery_voltage", "Battery voltage of the gauge",
                              "http://qudt.org/vocab/quantitykind/Voltage", "volt", "V",
                              "http://qudt.org/vocab/unit/V", OM_MEASUREMENT,
                              TK_KIND_WATER_LEVEL},
    [TK_Q_WATER_TEMPERATURE] = {"water_temperature", "Temperature of the water at the gauge",
                                "http://qudt.org/vocab/quantitykind/Temperature",
                                "degree Celsius", "Cel", "http://qudt.org/vocab/unit/DEG_C",
                                OM_MEASUREMENT, TK_KIND_WATER_LEVEL},
    [TK_Q_PEOPLE_IN] = {"people_in", "People entering the counted area during the interval",
                        "urn:takumi:def:observedProperty:people_in", COUNT_UNIT, OM_COUNT,
                        TK_KIND_PEOPLE_FLOW},
    [TK_Q_PEOPLE_OUT] = {"people_out", "People leaving the counted area during the interval",
                         "urn:takumi:def:observedProperty:people_out", COUNT_UNIT, OM_COUNT,
                         TK_KIND_PEOPLE_FLOW},
    [TK_Q_UNIQUE_DEVICES] = {"unique_devices",
                             "Distinct devices (salted-hash MAC addresses) seen by the access "
                             "point during the interval",
                             "urn:takumi:def:observedProperty:unique_devices", COUNT_UNIT,
                             OM_COUNT, TK_KIND_WIFI_AP},
    [TK_Q_ASSOCIATED] = {"associated", "Stations associated with the access point",
                         "urn:takumi:def:observedProperty:associated", COUNT_UNIT, OM_COUNT,
                         TK_KIND_WIFI_AP},
    [TK_Q_PROBE_ONLY] = {"probe_only",
                         "Devices seen only through probe requests during the interval",
                         "urn:takumi:def:observedProperty:probe_only", COUNT_UNIT, OM_COUNT,
                         TK_KIND_WIFI_AP},
};

const struct tk_quantity_info *tk_quantity_info(enum tk_quantity q)
{
    if ((int)q < 0 || q >= TK_Q_MAX)
        return NULL;
    return &quantities[q];
}

int tk_quantity_is_head_count(enum tk_quantity q)
{
    switch (q) {
    case TK_Q_PEOPLE_IN:
    case TK_Q_PEOPLE_OUT:
    case TK_Q_UNIQUE_DEVICES:
    case TK_Q_ASSOCIATED:
    case TK_Q_PROBE_ONLY:
        return 1;
    default:
        return 0;
    }
}

int tk_quantity_private(enum tk_quantity q, double value)
{
    return tk_quantity_is_head_count(q) && !(value >= TK_PRIVATE_COUNT_BELOW);
}

int tk_kind_quantities(enum tk_kind kind, enum tk_quantity out[TK_Q_MAX])
{
    int n = 0;
    if (!out)
        return 0;
    for (int q = 0; q < TK_Q_MAX; q++) {
        if (quantities[q].kind == kind)
            out[n++] = (enum tk_quantity)q;
    }
    return n;
}
