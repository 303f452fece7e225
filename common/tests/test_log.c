#include "tk_check.h"
#include "tk_log.h"

struct capture {
    int calls;
    enum tk_log_level level;
    char msg[2048];
};

static void sink(enum tk_log_level level, const char *msg, void *ud)
{
    struct capture *c = ud;
    c->calls++;
    c->level = level;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
}

int main(void)
{
    struct capture c = {0};
    char big[3000];

    tk_log_set_name("test");
    tk_log_set_sink(sink, &c);
    tk_log(TK_LOG_INFO, "hello %d", 42);
    CHECK_EQ_INT(c.calls, 1);
    CHECK_EQ_INT(c.level, TK_LOG_INFO);
    CHECK_EQ_STR(c.msg, "hello 42");
    tk_log(TK_LOG_DEBUG, "hidden");
    CHECK_EQ_INT(c.calls, 1);
    tk_log_set_level(TK_LOG_DEBUG);
    tk_log(TK_LOG_DEBUG, "shown");
    CHECK_EQ_INT(c.calls, 2);
    tk_log_set_level(TK_LOG_ERR);
    tk_log(TK_LOG_WARN, "hidden");
    tk_log(TK_LOG_ERR, "error");
    CHECK_EQ_INT(c.calls, 3);
    CHECK_EQ_STR(c.msg, "error");
    tk_log((enum tk_log_level)42, "bad level");
    CHECK_EQ_INT(c.calls, 3);

    /* long messages are truncated, not overflowed */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tk_log(TK_LOG_ERR, "%s", big);
    CHECK_EQ_INT(c.calls, 4);
    CHECK(strlen(c.msg) < 1024);
    CHECK(strlen(c.msg) > 1000);

    /* back to the default sink (stderr) */
    tk_log_set_sink(NULL, NULL);
    tk_log(TK_LOG_ERR, "to stderr");
    CHECK_EQ_INT(c.calls, 4);
    tk_log_set_name(NULL);
    tk_log_set_level(TK_LOG_INFO);
    return tk_check_result("test_log");
}
