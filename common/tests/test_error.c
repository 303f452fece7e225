#include "tk_check.h"
#include "tk_error.h"

int main(void)
{
    struct tk_error e;
    for (int rc = 0; rc < TK_ERC_MAX; rc++)
        CHECK(tk_strerror((enum tk_rc)rc) != NULL && tk_strerror((enum tk_rc)rc)[0] != '\0');
    CHECK_EQ_STR(tk_strerror(TK_OK), "ok");
    for (int rc = 0; rc < TK_ERC_MAX; rc++)
        CHECK(tk_rc_name((enum tk_rc)rc)[0] != '\0' && strcmp(tk_rc_name((enum tk_rc)rc), "EUNKNOWN") != 0);
    CHECK_EQ_STR(tk_rc_name(TK_OK), "OK");
    CHECK_EQ_STR(tk_rc_name(TK_ESCHEMA), "ESCHEMA");
    CHECK_EQ_STR(tk_rc_name(TK_ERC_MAX), "EUNKNOWN");
    CHECK_EQ_STR(tk_strerror((enum tk_rc)999), "unknown error");
    CHECK_EQ_STR(tk_strerror((enum tk_rc)-1), "unknown error");

    CHECK_EQ_INT(tk_error_set(NULL, TK_ESCHEMA, "/x", "y"), TK_ESCHEMA);
    CHECK_EQ_INT(tk_error_set(&e, TK_ESCHEMA, "/seq", "must be %s", "an integer"), TK_ESCHEMA);
    CHECK_EQ_INT(e.code, TK_ESCHEMA);
    CHECK_EQ_STR(e.path, "/seq");
    CHECK_EQ_STR(e.text, "must be an integer");
    CHECK_EQ_INT(tk_error_set(&e, TK_EIO, NULL, NULL), TK_EIO);
    CHECK_EQ_STR(e.path, "");
    CHECK_EQ_STR(e.text, "input/output error");

    /* long texts and paths are truncated, never overflow */
    char longs[400];
    memset(longs, 'x', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    tk_error_set(&e, TK_EINVAL, longs, "%s", longs);
    CHECK_EQ_INT(strlen(e.path), TK_ERROR_PATH_MAX - 1);
    CHECK_EQ_INT(strlen(e.text), TK_ERROR_TEXT_MAX - 1);
    return tk_check_result("test_error");
}
