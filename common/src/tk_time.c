/* Time: a strict RFC 3339 parser and formatter, and the two clocks.
 *
 * The parser accepts exactly date-time from RFC 3339 section 5.6 with an upper-case 'T'
 * and 'Z' and a mandatory offset: devices that send local time without an offset are
 * refused rather than guessed at. Leap seconds (":60") are refused as well: POSIX time
 * has no slot for them and no gauge clock produces them. */
#include "tk_time.h"

#include <stdio.h>
#include <time.h>

int64_t tk_now_utc_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tk_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Read exactly n decimal digits at s[*i]; -1 if any is not a digit. */
static int64_t digits(const char *s, size_t len, size_t *i, int n)
{
    int64_t v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[*i] - '0');
        (*i)++;
    }
    return v;
}

static int expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return 0;
    (*i)++;
    return 1;
}

enum tk_rc tk_time_parse_rfc3339(const char *s, size_t len, int64_t *us)
{
    size_t i = 0;
    int64_t year, mon, day, hour, min, sec, frac = 0, off = 0;

    if (!s || !us)
        return TK_EINVAL;
    year = digits(s, len, &i, 4);
    if (year < 0 || !expect(s, len, &i, '-'))
        return TK_EINVAL;
    mon = digits(s, len, &i, 2);
    if (mon < 0 || !expect(s, len, &i, '-'))
        return TK_EINVAL;
    day = digits(s, len, &i, 2);
    if (day < 0 || !expect(s, len, &i, 'T'))
        return TK_EINVAL;
    hour = digits(s, len, &i, 2);
    if (hour < 0 || !expect(s, len, &i, ':'))
        return TK_EINVAL;
    min = digits(s, len, &i, 2);
    if (min < 0 || !expect(s, len, &i, ':'))
        return TK_EINVAL;
    sec = digits(s, len, &i, 2);
    if (sec < 0)
        return TK_EINVAL;
    if (i < len && s[i] == '.') {
        int n = 0;
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (n < 6)
                frac = frac * 10 + (s[i] - '0');
            n++;
            i++;
        }
        if (n == 0)
            return TK_EINVAL;
        for (; n < 6; n++)
            frac *= 10;
    }
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int neg = s[i] == '-';
        int64_t oh, om;
        i++;
        oh = digits(s, len, &i, 2);
        if (oh < 0 || !expect(s, len, &i, ':'))
            return TK_EINVAL;
        om = digits(s, len, &i, 2);
        if (om < 0 || oh > 23 || om > 59)
            return TK_EINVAL;
        off = (oh * 60 + om) * 60;
        if (neg)
            off = -off;
    } else {
        return TK_EINVAL; /* the offset is mandatory */
    }
    if (i != len)
        return TK_EINVAL;
    if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, (int)mon) ||
        hour > 23 || min > 59 || sec > 59)
        return TK_EINVAL;

    int64_t secs = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - off;
    *us = secs * 1000000 + frac;
    return TK_OK;
}

/* Write v (>= 0) as exactly width decimal digits, zero-padded. */
static void put_digits(char *buf, int *n, int64_t v, int width)
{
    unsigned u = (unsigned)v; /* every field fits: 32-bit division is the cheaper one */
    for (int i = width - 1; i >= 0; i--) {
        buf[*n + i] = (char)('0' + u % 10);
        u /= 10;
    }
    *n += width;
}

enum tk_rc tk_time_format(int64_t us, char *buf, size_t size)
{
    int64_t secs, days, rem, y;
    int m, d, n;

    if (!buf || size < 28)
        return TK_EINVAL;
    /* floor division so that times before 1970 format too */
    secs = us / 1000000;
    rem = us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        secs--;
    }
    days = secs / 86400;
    int64_t sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return TK_EINVAL;
    /* by hand: this runs for every observation published, and snprintf is slow */
    n = 0;
    put_digits(buf, &n, y, 4);
    buf[n++] = '-';
    put_digits(buf, &n, m, 2);
    buf[n++] = '-';
    put_digits(buf, &n, d, 2);
    buf[n++] = 'T';
    put_digits(buf, &n, sod / 3600, 2);
    buf[n++] = ':';
    put_digits(buf, &n, sod / 60 % 60, 2);
    buf[n++] = ':';
    put_digits(buf, &n, sod % 60, 2);
    buf[n++] = '.';
    put_digits(buf, &n, rem, 6);
    buf[n++] = 'Z';
    buf[n] = '\0';
    return TK_OK;
}
