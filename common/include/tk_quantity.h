/* The fixed quantities readings are normalised into. Each becomes one SensorThings
 * ObservedProperty, and each device gets one Datastream per quantity of its kind. */
#ifndef TK_QUANTITY_H
#define TK_QUANTITY_H

#include "tk_reading.h"

enum tk_quantity {
    TK_Q_WATER_LEVEL = 0, /* metres above pipe invert */
    TK_Q_BATTERY_VOLTAGE, /* volts (water_level gauges) */
    TK_Q_WATER_TEMPERATURE, /* degrees Celsius */
    TK_Q_PEOPLE_IN,       /* count per interval */
    TK_Q_PEOPLE_OUT,      /* count per interval */
    TK_Q_UNIQUE_DEVICES,  /* distinct hashed MACs per interval */
    TK_Q_ASSOCIATED,      /* associated stations */
    TK_Q_PROBE_ONLY,      /* devices seen only by probe requests */
    TK_Q_MAX
};

struct tk_quantity_info {
    const char *name;        /* ObservedProperty name, "water_level" */
    const char *description; /* ObservedProperty description */
    const char *definition;  /* ObservedProperty definition URI */
    const char *unit_name;   /* unitOfMeasurement.name, "metre" */
    const char *unit_symbol; /* unitOfMeasurement.symbol, "m" */
    const char *unit_def;    /* unitOfMeasurement.definition (UCUM / QUDT URI) */
    const char *obs_type;    /* Datastream observationType URI */
    enum tk_kind kind;       /* the device kind that measures it */
};

/** Static description of a quantity; NULL if out of range. */
const struct tk_quantity_info *tk_quantity_info(enum tk_quantity q);
/* The privacy rule (SPEC section 5): a count of people or of Wi-Fi devices under
 * TK_PRIVATE_COUNT_BELOW in one interval could single out a person, so it is withheld from
 * open data (the API without read:raw, the public SensorThings MQTT topics). */
#define TK_PRIVATE_COUNT_BELOW 10
/** 1 if value, of quantity q, is such a count (NaN counts as one: never published). */
int tk_quantity_private(enum tk_quantity q, double value);
/** 1 if values of q are counts the privacy rule covers (people, Wi-Fi devices). */
int tk_quantity_is_head_count(enum tk_quantity q);

/** The quantities a kind measures, in a fixed order; returns their count (<= TK_Q_MAX). */
int tk_kind_quantities(enum tk_kind kind, enum tk_quantity out[TK_Q_MAX]);

#endif
