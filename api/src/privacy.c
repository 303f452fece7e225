/* The privacy rule of SPEC section 5, in one place: counts of people (people_flow in/out)
 * and of Wi-Fi devices (wifi_ap) under API_SUPPRESS_BELOW in one interval could single
 * out a person, so they are withheld from anonymous callers and from keys without
 * read:raw. Water levels, temperatures and battery voltages are never withheld. */
#include "api.h"
#include "tk_quantity.h"

static int is_count(int quantity)
{
    switch (quantity) {
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

int api_suppress_applies(const struct api_principal *who, int quantity)
{
    if (!is_count(quantity))
        return 0;
    return !who || !(who->scopes & API_SCOPE_RAW);
}

int api_suppress(const struct api_principal *who, int quantity, double value)
{
    /* NaN is not a count to publish either */
    return api_suppress_applies(who, quantity) && !(value >= API_SUPPRESS_BELOW);
}
