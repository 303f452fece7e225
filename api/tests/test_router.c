/* Resource paths: each form of section 9.2 and the refusals (404 for names that do not
 * exist, 400 for bad syntax). */
#include "api.h"
#include "tk_check.h"

static enum tk_rc route(const char *p, struct api_route *r)
{
    struct tk_error e = {0};
    enum tk_rc rc = api_route_parse(p, r, &e);
    if (rc)
        CHECK(e.text[0] != '\0');
    return rc;
}

int main(void)
{
    struct api_route r;
    CHECK_EQ_INT(route("", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_ROOT);
    CHECK_EQ_INT(route("/", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_ROOT);

    CHECK_EQ_INT(route("/Things", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_COLLECTION);
    CHECK_EQ_INT(r.nsteps, 1);
    CHECK_EQ_INT(r.steps[0].entity, STORE_STA_THING);
    CHECK(!r.steps[0].has_id);

    CHECK_EQ_INT(route("/FeaturesOfInterest(42)", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_ENTITY);
    CHECK_EQ_INT(r.steps[0].entity, STORE_STA_FOI);
    CHECK(r.steps[0].has_id && r.steps[0].id == 42);

    CHECK_EQ_INT(route("/Things(1)/name", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_PROPERTY);
    CHECK_EQ_INT(r.prop, 1);
    CHECK_EQ_INT(route("/Things(1)/name/$value", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_VALUE);
    CHECK_EQ_INT(route("/Observations(7)/phenomenonTime", &r), TK_OK);
    CHECK_EQ_INT(r.prop, 1);
    CHECK_EQ_INT(route("/Things(1)/id", &r), TK_OK);
    CHECK_EQ_INT(r.prop, 0);

    CHECK_EQ_INT(route("/Things(1)/Datastreams", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_COLLECTION);
    CHECK_EQ_INT(r.nsteps, 2);
    CHECK_EQ_INT(r.steps[1].entity, STORE_STA_DATASTREAM);
    CHECK_EQ_INT(r.steps[1].card, 2);

    CHECK_EQ_INT(route("/Datastreams(1)/Thing", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_ENTITY);
    CHECK_EQ_INT(r.steps[1].card, 1);

    CHECK_EQ_INT(route("/Datastreams(1)/Thing/Locations", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_COLLECTION);
    CHECK_EQ_INT(r.nsteps, 3);
    CHECK_EQ_INT(r.steps[2].entity, STORE_STA_LOCATION);

    CHECK_EQ_INT(route("/Things(1)/Datastreams(3)/Observations", &r), TK_OK);
    CHECK_EQ_INT(r.nsteps, 3);
    CHECK(r.steps[1].has_id && r.steps[1].id == 3);
    CHECK_EQ_INT(r.steps[2].entity, STORE_STA_OBSERVATION);

    CHECK_EQ_INT(route("/Observations(5)/FeatureOfInterest/name", &r), TK_OK);
    CHECK_EQ_INT(r.target, API_T_PROPERTY);

    CHECK_EQ_INT(route("/Things/$ref", &r), TK_OK);
    CHECK(r.ref && r.target == API_T_COLLECTION);
    CHECK_EQ_INT(route("/Things(1)/Locations/$ref", &r), TK_OK);
    CHECK(r.ref && r.target == API_T_COLLECTION);
    CHECK_EQ_INT(route("/Datastreams(1)/Sensor/$ref", &r), TK_OK);
    CHECK(r.ref && r.target == API_T_ENTITY);

    /* names that do not exist */
    CHECK_EQ_INT(route("/Thingz", &r), TK_ENOTFOUND);
    CHECK_EQ_INT(route("/Things(1)/Sensor", &r), TK_ENOTFOUND);
    CHECK_EQ_INT(route("/Things(1)/nosuch", &r), TK_ENOTFOUND);
    CHECK_EQ_INT(route("/Things/Datastreams", &r), TK_ENOTFOUND);
    CHECK_EQ_INT(route("/Things(1)/Datastreams/Thing", &r), TK_ENOTFOUND);
    CHECK_EQ_INT(route("/Things(1)/name/other", &r), TK_ENOTFOUND);
    CHECK_EQ_INT(route("/Things(1)/$ref/x", &r), TK_ENOTFOUND);
    CHECK_EQ_INT(route("/Things(1)//", &r), TK_ENOTFOUND);
    /* bad syntax */
    CHECK_EQ_INT(route("/Things(abc)", &r), TK_EINVAL);
    CHECK_EQ_INT(route("/Things('1')", &r), TK_EINVAL);
    CHECK_EQ_INT(route("/Things(1", &r), TK_EINVAL);
    CHECK_EQ_INT(route("/Things(1)x", &r), TK_EINVAL);
    CHECK_EQ_INT(route("/Things(-1)", &r), TK_EINVAL);
    CHECK_EQ_INT(route("/Datastreams(1)/Thing(2)", &r), TK_EINVAL);
    CHECK_EQ_INT(
        route("/Things(1)/Datastreams(1)/Thing/Datastreams(1)/Thing/Datastreams(1)/Thing", &r),
        TK_EINVAL);

    /* names of the data model */
    CHECK_EQ_STR(api_nav_name(STORE_STA_THING, STORE_STA_DATASTREAM), "Datastreams");
    CHECK_EQ_STR(api_nav_name(STORE_STA_DATASTREAM, STORE_STA_OPROPERTY), "ObservedProperty");
    CHECK(api_nav_name(STORE_STA_THING, STORE_STA_SENSOR) == NULL);
    CHECK_EQ_INT(api_prop_find(STORE_STA_OBSERVATION, "result", 6), 3);
    CHECK_EQ_INT(api_prop_find(STORE_STA_THING, "@iot.id", 7), 0);
    CHECK_EQ_INT(api_prop_find(STORE_STA_THING, "nope", 4), -1);
    return tk_check_result("api_router");
}
