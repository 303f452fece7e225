/* The reply layer: JSON escaping, numbers, URL encoding, the buffer limit, error bodies
 * with their statuses, Accept-Encoding parsing, gzip that inflates back, UTF-8 validation. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "api.h"
#include "tk_check.h"

static void test_buf(void)
{
    struct api_buf b;
    api_buf_init(&b, 64);
    api_buf_json_str(&b, "a\"b\\c\n\x01", 7);
    CHECK_EQ_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    api_buf_reset(&b);
    api_buf_i64(&b, -9223372036854775807LL - 1);
    api_buf_put(&b, " ", 1);
    api_buf_i64(&b, 0);
    api_buf_put(&b, " ", 1);
    api_buf_num(&b, 0.5);
    CHECK_EQ_STR(b.data, "-9223372036854775808 0 0.5");
    api_buf_reset(&b);
    api_buf_url(&b, "/Things(1)?a b&c=d/é", 1);
    CHECK_EQ_STR(b.data, "/Things(1)%3Fa%20b%26c%3Dd/%C3%A9");
    api_buf_reset(&b);
    api_buf_time(&b, 1795968000000000LL);
    CHECK_EQ_STR(b.data, "2026-11-29T16:00:00.000000Z");
    api_buf_reset(&b);
    for (int i = 0; i < 100; i++)
        api_buf_puts(&b, "0123456789");
    CHECK_EQ_INT(b.err, TK_EFULL);
    CHECK(b.len <= 64);
    api_buf_free(&b);
}

static void test_errors(void)
{
    struct api_reply r;
    api_reply_init(&r, 1 << 20);
    api_buf_puts(&r.body, "{\"partial\":");
    api_reply_error(&r, API_E_NOTFOUND, NULL, "Things(%d) does not exist", 9);
    CHECK_EQ_INT(r.status, 404);
    CHECK_EQ_STR(r.body.data, "{\"code\":\"ENOTFOUND\",\"message\":\"Things(9) does not exist\"}");
    api_reply_error(&r, API_E_BADREQ, "$top", "bad \"x\"");
    CHECK_EQ_INT(r.status, 400);
    CHECK_EQ_STR(r.body.data,
                 "{\"code\":\"EINVAL\",\"message\":\"bad \\\"x\\\"\",\"field\":\"$top\"}");
    api_reply_error(&r, API_E_METHOD, NULL, "no");
    CHECK_EQ_INT(r.status, 405);
    CHECK(r.allow != NULL);
    api_reply_free(&r);

    /* a body over the limit becomes a JSON error at finish */
    api_reply_init(&r, 4096);
    for (int i = 0; i < 1000; i++)
        api_buf_puts(&r.body, "0123456789");
    api_reply_finish(&r);
    CHECK_EQ_INT(r.status, 500);
    CHECK(strstr(r.body.data, "\"EFULL\"") != NULL);
    api_reply_free(&r);

    CHECK_EQ_INT(api_err_status(api_err_of_rc(TK_ENOTFOUND)), 404);
    CHECK_EQ_INT(api_err_status(api_err_of_rc(TK_EBUSY)), 503);
    CHECK_EQ_INT(api_err_status(api_err_of_rc(TK_EDB)), 500);
}

static void test_gzip(void)
{
    CHECK(api_accepts_gzip("gzip"));
    CHECK(api_accepts_gzip("deflate, gzip;q=0.5"));
    CHECK(api_accepts_gzip("br, *"));
    CHECK(api_accepts_gzip("GZIP"));
    CHECK(!api_accepts_gzip(NULL));
    CHECK(!api_accepts_gzip("deflate, br"));
    CHECK(!api_accepts_gzip("gzip;q=0"));
    CHECK(!api_accepts_gzip("gzip; q=0.000"));
    CHECK(!api_accepts_gzip("gzipx"));

    struct api_reply r;
    api_reply_init(&r, 1 << 20);
    for (int i = 0; i < 200; i++)
        api_buf_puts(&r.body, "{\"name\":\"water level\"},");
    size_t orig = r.body.len;
    char *copy = malloc(orig);
    CHECK(copy != NULL);
    if (!copy)
        return;
    memcpy(copy, r.body.data, orig);
    CHECK_EQ_INT(api_reply_gzip(&r), TK_OK);
    CHECK(r.gzipped);
    CHECK(r.body.len < orig / 4);
    CHECK((unsigned char)r.body.data[0] == 0x1f && (unsigned char)r.body.data[1] == 0x8b);
    /* inflate it back */
    char *back = malloc(orig + 16);
    z_stream z;
    memset(&z, 0, sizeof z);
    CHECK(inflateInit2(&z, 15 + 16) == Z_OK);
    z.next_in = (Bytef *)r.body.data;
    z.avail_in = (uInt)r.body.len;
    z.next_out = (Bytef *)back;
    z.avail_out = (uInt)(orig + 16);
    CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
    CHECK_EQ_INT(z.total_out, orig);
    CHECK(memcmp(back, copy, orig) == 0);
    inflateEnd(&z);
    free(back);
    free(copy);
    api_reply_free(&r);

    /* small bodies are left alone */
    api_reply_init(&r, 1024);
    api_buf_puts(&r.body, "{}");
    CHECK_EQ_INT(api_reply_gzip(&r), TK_OK);
    CHECK(!r.gzipped);
    api_reply_free(&r);
}

/* What the API refuses in a query argument or path before any store sees it (PostgreSQL
 * would refuse the text with an error; SQLite would compare its bytes). */
static void test_utf8(void)
{
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"", 1},
        {"plain ascii", 1},
        {"\xc3\xa9t\xc3\xa9", 1},              /* été */
        {"\xe2\x80\xae", 1},                    /* U+202E, valid though odd */
        {"\xef\xbc\x87", 1},                    /* fullwidth apostrophe */
        {"\xf0\x9f\x8c\xa7", 1},                /* U+1F327 */
        {"\xf4\x8f\xbf\xbf", 1},                /* U+10FFFF */
        {"\xff\xfe", 0},                        /* never in UTF-8 */
        {"\xc0\xa7", 0},                        /* overlong apostrophe */
        {"\xc1\xbf", 0},                        /* overlong */
        {"\xe0\x80\xa7", 0},                    /* overlong, three bytes */
        {"\xf0\x80\x80\xa7", 0},                /* overlong, four bytes */
        {"\xed\xa0\x80", 0},                    /* U+D800, a surrogate */
        {"\xf4\x90\x80\x80", 0},                /* beyond U+10FFFF */
        {"\xf5\x80\x80\x80", 0},
        {"a\xc3", 0},                            /* cut short */
        {"\xe2\x80", 0},
        {"\x80", 0},                             /* a continuation byte alone */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(api_utf8_valid(cases[i].s, strlen(cases[i].s)) == cases[i].ok);
}

int main(void)
{
    test_buf();
    test_utf8();
    test_errors();
    test_gzip();
    return tk_check_result("api_reply");
}
