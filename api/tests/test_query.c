/* Query options: every option, nested $expand, and each kind of refusal with the option
 * named in err.path. */
#include <string.h>

#include "api.h"
#include "tk_check.h"

static enum tk_rc parse1(const char *k, const char *v, struct api_query *q, struct tk_error *e)
{
    struct api_qarg a[1] = {{k, v}};
    memset(e, 0, sizeof *e);
    return api_query_parse(a, 1, q, e);
}

static void test_simple(void)
{
    struct api_qarg a[] = {{"$top", "5"},
                           {"$skip", "10"},
                           {"$count", "true"},
                           {"$select", "id, name,Datastreams"},
                           {"$orderby", "name desc, id"},
                           {"foo", "bar"}};
    struct api_query q;
    struct tk_error e = {0};
    CHECK_EQ_INT(api_query_parse(a, 6, &q, &e), TK_OK);
    CHECK(q.has_top && q.top == 5);
    CHECK(q.has_skip && q.skip == 10);
    CHECK(q.has_count && q.count == 1);
    CHECK_EQ_INT(q.nselect, 3);
    CHECK_EQ_STR(q.select[0], "id");
    CHECK_EQ_STR(q.select[1], "name");
    CHECK_EQ_STR(q.select[2], "Datastreams");
    CHECK_EQ_INT(q.norder, 2);
    CHECK_EQ_STR(q.order[0].name, "name");
    CHECK(q.order[0].desc == 1);
    CHECK_EQ_STR(q.order[1].name, "id");
    CHECK(q.order[1].desc == 0);
    CHECK_EQ_INT(q.nexpand, 0);
    api_query_free(&q);
}

static void test_expand(void)
{
    struct api_query q;
    struct tk_error e;
    CHECK_EQ_INT(parse1("$expand",
                        "Locations,Datastreams($top=2;$select=name;$expand=Observations($top=1)),"
                        "Datastreams/Sensor",
                        &q, &e),
                 TK_OK);
    CHECK_EQ_INT(q.nexpand, 2);
    CHECK_EQ_STR(q.expand[0].name, "Locations");
    CHECK_EQ_STR(q.expand[1].name, "Datastreams");
    struct api_query *d = q.expand[1].q;
    CHECK(d && d->has_top && d->top == 2);
    CHECK(d && d->nselect == 1 && strcmp(d->select[0], "name") == 0);
    CHECK(d && d->nexpand == 2);
    if (d && d->nexpand == 2) {
        CHECK_EQ_STR(d->expand[0].name, "Observations");
        CHECK(d->expand[0].q->has_top && d->expand[0].q->top == 1);
        CHECK_EQ_STR(d->expand[1].name, "Sensor"); /* the path form merged in */
    }
    api_query_free(&q);
}

static void refused(const char *k, const char *v, const char *field)
{
    struct api_query q;
    struct tk_error e;
    enum tk_rc rc = parse1(k, v, &q, &e);
    CHECK_EQ_INT(rc, TK_EINVAL);
    CHECK_EQ_STR(e.path, field);
    CHECK(e.text[0] != '\0');
    if (rc == TK_OK)
        api_query_free(&q);
}

static void test_refusals(void)
{
    refused("$top", "-1", "$top");
    refused("$top", "abc", "$top");
    refused("$top", "", "$top");
    refused("$top", NULL, "$top");
    refused("$top", "1234567890123456789", "$top");
    refused("$skip", "1.5", "$skip");
    refused("$count", "yes", "$count");
    refused("$select", "name,,id", "$select");
    refused("$select", "na me", "$select");
    refused("$orderby", "name sideways", "$orderby");
    refused("$orderby", "1abc", "$orderby");
    refused("$expand", "Datastreams($top=x)", "$top");
    refused("$expand", "Datastreams($top=1", "$expand");
    refused("$expand", "Datastreams(top=1)", "$expand");
    refused("$expand", "A/B/C/D", "$expand");
    refused("$bogus", "1", "$bogus");
    refused("$resultFormat", "XML", "$resultFormat");
    refused("$resultFormat", "csv", "$resultFormat");
    refused("$filter", "name eq", "$filter");

    /* an option twice */
    struct api_qarg a[] = {{"$top", "1"}, {"$top", "2"}};
    struct api_query q;
    struct tk_error e = {0};
    CHECK_EQ_INT(api_query_parse(a, 2, &q, &e), TK_EINVAL);
    CHECK_EQ_STR(e.path, "$top");

    /* $filter is parsed here (names are resolved for the entity later) */
    CHECK_EQ_INT(parse1("$filter", "result gt 1", &q, &e), TK_OK);
    CHECK(q.filter != NULL);
    api_query_free(&q);
    CHECK(q.filter == NULL);
    CHECK_EQ_INT(parse1("$resultFormat", "dataArray", &q, &e), TK_OK);
    CHECK(q.data_array);
    api_query_free(&q);
    CHECK_EQ_INT(parse1("$resultFormat", "CSV", &q, &e), TK_OK);
    CHECK(q.csv && !q.geojson && !q.data_array);
    api_query_free(&q);
    CHECK_EQ_INT(parse1("$resultFormat", "GeoJSON", &q, &e), TK_OK);
    CHECK(q.geojson && !q.csv);
    api_query_free(&q);
}

int main(void)
{
    test_simple();
    test_expand();
    test_refusals();
    return tk_check_result("api_query");
}
