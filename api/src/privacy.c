/* The privacy rule of SPEC section 5, in one place: counts of people (people_flow in/out)
 * and of Wi-Fi devices (wifi_ap) under API_SUPPRESS_BELOW in one interval could single
 * out a person, so they are withheld from anonymous callers and from keys without
 * read:raw (admin holds it). Water levels, temperatures and battery voltages are never
 * withheld.
 *
 * Three ways in, one rule: api_suppress for a value in hand, api_suppress_ds when only
 * the Datastream's id is known (looks its quantity up only when the value could be
 * withheld), and api_withhold for queries the store evaluates (rows, $filter and
 * $orderby see a withheld result as null, so no condition can probe it). */
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

static int restricted(const struct api_principal *who)
{
    return !who || !(who->scopes & API_SCOPE_RAW);
}

static int small(double value)
{
    return !(value >= API_SUPPRESS_BELOW); /* NaN is not a count to publish either */
}

int api_suppress_applies(const struct api_principal *who, int quantity)
{
    return is_count(quantity) && restricted(who);
}

int api_suppress(const struct api_principal *who, int quantity, double value)
{
    return api_suppress_applies(who, quantity) && small(value);
}

enum tk_rc api_suppress_ds(struct store *st, const struct api_principal *who, int64_t ds,
                           double value, int *withheld)
{
    *withheld = 0;
    if (!restricted(who) || !small(value))
        return TK_OK;
    int quantity = -1;
    enum tk_rc rc = store_datastream_quantity(st, ds, &quantity);
    if (rc == TK_ENOTFOUND)
        return TK_OK;
    if (rc)
        return rc;
    *withheld = api_suppress(who, quantity, value);
    return TK_OK;
}

struct store_sta_withhold api_withhold(const struct api_principal *who)
{
    struct store_sta_withhold w = {0, API_SUPPRESS_BELOW};
    for (int q = 0; q < TK_Q_MAX; q++)
        if (api_suppress_applies(who, q))
            w.mask |= 1u << q;
    return w;
}
