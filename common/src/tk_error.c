/* Return codes and the parser error struct. */
#include "tk_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const rc_text[TK_ERC_MAX] = {
    [TK_OK] = "ok",
    [TK_ENOMEM] = "out of memory",
    [TK_EINVAL] = "invalid argument",
    [TK_EIO] = "input/output error",
    [TK_EDB] = "database error",
    [TK_EPROTO] = "malformed message",
    [TK_ESCHEMA] = "message breaks the wire contract",
    [TK_ENOTFOUND] = "not found",
    [TK_EDUP] = "duplicate",
    [TK_EFULL] = "limit reached",
    [TK_EBUSY] = "resource busy",
    [TK_ENOSPC] = "no space left",
};

const char *tk_strerror(enum tk_rc rc)
{
    if ((int)rc < 0 || rc >= TK_ERC_MAX || !rc_text[rc])
        return "unknown error";
    return rc_text[rc];
}

static const char *const rc_names[TK_ERC_MAX] = {
    [TK_OK] = "OK",           [TK_ENOMEM] = "ENOMEM",       [TK_EINVAL] = "EINVAL",
    [TK_EIO] = "EIO",         [TK_EDB] = "EDB",             [TK_EPROTO] = "EPROTO",
    [TK_ESCHEMA] = "ESCHEMA", [TK_ENOTFOUND] = "ENOTFOUND", [TK_EDUP] = "EDUP",
    [TK_EFULL] = "EFULL",     [TK_EBUSY] = "EBUSY",         [TK_ENOSPC] = "ENOSPC",
};

const char *tk_rc_name(enum tk_rc rc)
{
    if ((int)rc < 0 || rc >= TK_ERC_MAX || !rc_names[rc])
        return "EUNKNOWN";
    return rc_names[rc];
}

enum tk_rc tk_error_set(struct tk_error *err, enum tk_rc code, const char *path, const char *fmt,
                        ...)
{
    if (!err)
        return code;
    err->code = code;
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof err->text, fmt, ap);
        va_end(ap);
    } else {
        snprintf(err->text, sizeof err->text, "%s", tk_strerror(code));
    }
    return code;
}
