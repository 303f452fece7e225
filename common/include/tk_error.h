/* Return codes and the parser error struct shared by every Takumi component.
 *
 * Fallible functions return enum tk_rc (TK_OK == 0). Parsers additionally fill an
 * optional struct tk_error owned by the caller (on its stack), in the manner of
 * jansson's json_error_t: the quarantine reason and API error bodies come from it. */
#ifndef TK_ERROR_H
#define TK_ERROR_H

#include <stddef.h>

#if defined(__GNUC__)
#define TK_WUR __attribute__((warn_unused_result))
#define TK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TK_WUR
#define TK_PRINTF(a, b)
#endif

enum tk_rc {
    TK_OK = 0,
    TK_ENOMEM,    /* allocation failed */
    TK_EINVAL,    /* invalid argument or input value */
    TK_EIO,       /* file or socket I/O failed */
    TK_EDB,       /* database error */
    TK_EPROTO,    /* malformed message (not JSON, bad framing) */
    TK_ESCHEMA,   /* well-formed but breaks the wire contract */
    TK_ENOTFOUND, /* no such device / entity */
    TK_EDUP,      /* duplicate, absorbed */
    TK_EFULL,     /* a configured limit was reached */
    TK_EBUSY,     /* resource busy, try again */
    TK_ENOSPC,    /* disk full */
    TK_ERC_MAX
};

/** Human-readable text for a return code. Never NULL; static storage. */
const char *tk_strerror(enum tk_rc rc);
/** The code's name without its prefix ("EPROTO", "ESCHEMA"; "OK" for TK_OK), as stored in
 *  quarantine records and API bodies. Never NULL; static storage ("EUNKNOWN" if out of range). */
const char *tk_rc_name(enum tk_rc rc);

#define TK_ERROR_PATH_MAX 64
#define TK_ERROR_TEXT_MAX 160

/** Where and why input was refused. path is a JSON pointer into the message
 *  ("" for the whole message, "/seq", "/3/ts" for the 4th element of a batch);
 *  text names the rule broken ("must be an integer in 0..4294967295"). */
struct tk_error {
    enum tk_rc code;
    char path[TK_ERROR_PATH_MAX];
    char text[TK_ERROR_TEXT_MAX];
};

/** Fill err (may be NULL: does nothing) and return code. */
enum tk_rc tk_error_set(struct tk_error *err, enum tk_rc code, const char *path, const char *fmt,
                        ...) TK_PRINTF(4, 5);

#endif
