/* Who may see what, in one place. Firm-private data (docs/api.md, Access): api_viewer_set
 * tells a store connection whose request it serves; the store hides other owners' private
 * Things and everything under them in every query it builds.
 *
 * The privacy rule of SPEC section 5: counts of people (people_flow in/out)
 * and of Wi-Fi devices (wifi_ap) under API_SUPPRESS_BELOW in one interval could single
 * out a person, so they are withheld from anonymous callers and from keys without
 * read:raw (admin holds it). Water levels, temperatures and battery voltages are never
 * withheld.
 *
 * Two ways in, one rule: api_suppress for a value in hand (of a Datastream whose quantity
 * the caller read, for many at once with store_sta_datastreams), and api_withhold for
 * queries the store evaluates (rows, $filter and $orderby see a withheld result as null,
 * so no condition can probe it). */
#include <string.h>

#include "api.h"
#include "tk_quantity.h"

static int restricted(const struct api_principal *who)
{
    return !who || !(who->scopes & API_SCOPE_RAW);
}


int api_suppress_applies(const struct api_principal *who, int quantity)
{
    return quantity >= 0 && quantity < TK_Q_MAX &&
           tk_quantity_is_head_count((enum tk_quantity)quantity) && restricted(who);
}

int api_suppress(const struct api_principal *who, int quantity, double value)
{
    return api_suppress_applies(who, quantity) &&
           tk_quantity_private((enum tk_quantity)quantity, value);
}

int api_suppress_named(const struct api_principal *who, const char *property, double value)
{
    for (int q = 0; property && q < TK_Q_MAX; q++)
        if (strcmp(tk_quantity_info((enum tk_quantity)q)->name, property) == 0)
            return api_suppress(who, q, value);
    return 0;
}

void api_viewer_set(struct store *st, const struct api_principal *who)
{
    if (!who || who->anonymous)
        store_sta_viewer_set(st, 0, NULL);
    else
        store_sta_viewer_set(st, (who->scopes & API_SCOPE_ADMIN) != 0, who->owner);
}

struct store_sta_withhold api_withhold(const struct api_principal *who)
{
    struct store_sta_withhold w = {0, API_SUPPRESS_BELOW};
    for (int q = 0; q < TK_Q_MAX; q++)
        if (api_suppress_applies(who, q))
            w.mask |= 1u << q;
    return w;
}
