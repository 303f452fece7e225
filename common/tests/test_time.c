#include <stdint.h>

#include "tk_check.h"
#include "tk_time.h"

static int64_t parse(const char *s)
{
    int64_t us = -1;
    if (tk_time_parse_rfc3339(s, strlen(s), &us) != TK_OK)
        return INT64_MIN;
    return us;
}

static int bad(const char *s)
{
    int64_t us;
    return tk_time_parse_rfc3339(s, strlen(s), &us) == TK_EINVAL;
}

int main(void)
{
    char buf[32];

    /* basics and offsets */
    CHECK_EQ_INT(parse("1970-01-01T00:00:00Z"), 0);
    CHECK_EQ_INT(parse("2026-11-26T09:00:00+09:00"), INT64_C(1795651200) * 1000000);
    CHECK_EQ_INT(parse("2026-11-26T00:00:00Z"), INT64_C(1795651200) * 1000000);
    CHECK_EQ_INT(parse("2026-11-25T15:00:00-09:00"), INT64_C(1795651200) * 1000000);
    CHECK_EQ_INT(parse("2026-11-26T00:00:00-00:00"), INT64_C(1795651200) * 1000000);
    CHECK_EQ_INT(parse("2026-11-26T23:59:00+23:59"), INT64_C(1795651200) * 1000000);
    /* fractions: scaled to microseconds, truncated beyond */
    CHECK_EQ_INT(parse("1970-01-01T00:00:00.1Z"), 100000);
    CHECK_EQ_INT(parse("1970-01-01T00:00:00.123Z"), 123000);
    CHECK_EQ_INT(parse("1970-01-01T00:00:00.123456Z"), 123456);
    CHECK_EQ_INT(parse("1970-01-01T00:00:00.1234569Z"), 123456);
    CHECK_EQ_INT(parse("1970-01-01T00:00:00.000000001Z"), 0);
    /* leap years */
    CHECK(parse("2024-02-29T00:00:00Z") != INT64_MIN);
    CHECK(parse("2000-02-29T00:00:00Z") != INT64_MIN);
    CHECK(bad("2100-02-29T00:00:00Z"));
    CHECK(bad("2026-02-29T00:00:00Z"));
    CHECK(bad("2026-02-30T00:00:00Z"));
    CHECK(bad("2026-04-31T00:00:00Z"));
    CHECK_EQ_INT(parse("2024-03-01T00:00:00Z") - parse("2024-02-28T00:00:00Z"),
                 INT64_C(2) * 86400 * 1000000);
    CHECK_EQ_INT(parse("2000-03-01T00:00:00Z"), INT64_C(951868800) * 1000000);
    CHECK_EQ_INT(parse("9999-12-31T23:59:59Z"), INT64_C(253402300799) * 1000000);

    /* strictness */
    CHECK(bad(""));
    CHECK(bad("2026-11-26T09:00:00"));        /* no offset */
    CHECK(bad("2026-11-26 09:00:00Z"));       /* space separator */
    CHECK(bad("2026-11-26t09:00:00z"));       /* lower case */
    CHECK(bad("2026-11-26T09:00:00+0900"));   /* offset without colon */
    CHECK(bad("2026-11-26T09:00:00+09"));
    CHECK(bad("2026-11-26T09:00:00+24:00"));
    CHECK(bad("2026-11-26T09:00:00+09:60"));
    CHECK(bad("2026-13-01T00:00:00Z"));
    CHECK(bad("2026-00-01T00:00:00Z"));
    CHECK(bad("2026-01-00T00:00:00Z"));
    CHECK(bad("2026-01-01T24:00:00Z"));
    CHECK(bad("2026-01-01T23:60:00Z"));
    CHECK(bad("2026-01-01T23:59:60Z"));       /* leap second */
    CHECK(bad("2026-01-01T00:00:00.Z"));
    CHECK(bad("2026-01-01T00:00:00Zjunk"));
    CHECK(bad("26-01-01T00:00:00Z"));
    CHECK(bad("+2026-01-01T00:00:00Z"));
    CHECK(bad("1969-12-31T23:59:59Z"));
    CHECK(bad("2026-1-01T00:00:00Z"));
    CHECK(bad("2026-01-01T00:00:0aZ"));
    /* length is honoured: no reading past len */
    CHECK(tk_time_parse_rfc3339("2026-01-01T00:00:00Z", 19, &(int64_t){0}) == TK_EINVAL);
    CHECK(tk_time_parse_rfc3339(NULL, 0, &(int64_t){0}) == TK_EINVAL);

    /* formatting */
    CHECK_EQ_INT(tk_time_format(0, buf, sizeof buf), TK_OK);
    CHECK_EQ_STR(buf, "1970-01-01T00:00:00.000000Z");
    CHECK_EQ_INT(tk_time_format(INT64_C(1795651200123456), buf, sizeof buf), TK_OK);
    CHECK_EQ_STR(buf, "2026-11-26T00:00:00.123456Z");
    CHECK_EQ_INT(tk_time_format(-1, buf, sizeof buf), TK_OK);
    CHECK_EQ_STR(buf, "1969-12-31T23:59:59.999999Z");
    CHECK_EQ_INT(tk_time_format(0, buf, 27), TK_EINVAL);
    CHECK_EQ_INT(tk_time_format(INT64_C(253402300800) * 1000000, buf, sizeof buf), TK_EINVAL);
    CHECK_EQ_INT(tk_time_format(INT64_MIN, buf, sizeof buf), TK_EINVAL);
    /* round trip across leap days and every month */
    for (int64_t t = INT64_C(946684800) * 1000000; t < INT64_C(4102444800) * 1000000;
         t += INT64_C(86399123457) * 7) {
        CHECK_EQ_INT(tk_time_format(t, buf, sizeof buf), TK_OK);
        CHECK_EQ_INT(parse(buf), t);
    }

    /* clocks */
    int64_t now = tk_now_utc_us();
    CHECK(now > INT64_C(1700000000) * 1000000);
    int64_t m1 = tk_mono_us(), m2 = tk_mono_us();
    CHECK(m2 >= m1);
    return tk_check_result("test_time");
}
