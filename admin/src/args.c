/* Subcommand flags from one table each. The admin tool takes flags only (no config file,
 * no TAKUMI_* environment): a device's identity must come from what the operator typed,
 * never from a variable left over in the shell. */
#include "admin.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum tk_rc set_value(struct admin_flag *f, const char *val, struct tk_error *err)
{
    char *end;
    errno = 0;
    switch (f->type) {
    case ADMIN_FLAG_STR:
        *(const char **)f->ptr = val;
        break;
    case ADMIN_FLAG_INT: {
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < INT_MIN || v > INT_MAX)
            return tk_error_set(err, TK_EINVAL, f->name, "--%s must be an integer, not '%s'",
                                f->name, val);
        *(int *)f->ptr = (int)v;
        break;
    }
    case ADMIN_FLAG_DOUBLE: {
        double v = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(v))
            return tk_error_set(err, TK_EINVAL, f->name, "--%s must be a number, not '%s'", f->name,
                                val);
        *(double *)f->ptr = v;
        break;
    }
    }
    f->seen = 1;
    return TK_OK;
}

enum tk_rc admin_args__parse(int argc, char **argv, struct admin_flag *flags, size_t n,
                             struct tk_error *err)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return tk_error_set(err, TK_EINVAL, a, "unexpected argument '%s'", a);
        a += 2;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        struct admin_flag *f = NULL;
        for (size_t k = 0; k < n; k++)
            if (strlen(flags[k].name) == len && memcmp(flags[k].name, a, len) == 0)
                f = &flags[k];
        if (!f)
            return tk_error_set(err, TK_EINVAL, argv[i], "unknown flag %.*s", (int)len + 2,
                                argv[i]);
        const char *val;
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return tk_error_set(err, TK_EINVAL, f->name, "--%s needs a value", f->name);
            val = argv[++i];
        }
        if (f->seen)
            return tk_error_set(err, TK_EINVAL, f->name, "--%s given twice", f->name);
        enum tk_rc rc = set_value(f, val, err);
        if (rc)
            return rc;
    }
    for (size_t k = 0; k < n; k++)
        if (flags[k].required && !flags[k].seen)
            return tk_error_set(err, TK_EINVAL, flags[k].name, "--%s is required", flags[k].name);
    return TK_OK;
}

void admin_args__usage(const char *synopsis, const struct admin_flag *flags, size_t n)
{
    fprintf(stderr, "usage: takumi-admin --data DIR %s\n", synopsis);
    for (size_t k = 0; k < n; k++)
        fprintf(stderr, "  --%-16s %s%s\n", flags[k].name, flags[k].help,
                flags[k].required ? " (required)" : "");
}

int admin_exit_for(enum tk_rc rc)
{
    return rc == TK_OK ? ADMIN_EXIT_OK : rc == TK_EINVAL ? ADMIN_EXIT_USAGE : ADMIN_EXIT_FAIL;
}
