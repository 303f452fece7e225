/* Configuration from one table of options: defaults < file < environment < flags.
 *
 * The file is "name value" lines ('#' starts a comment line; a value may be wrapped in
 * double quotes to keep spaces at its ends). The environment variable of "mqtt-port" is
 * TAKUMI_MQTT_PORT. Flags are "--name value" or "--name=value"; a boolean flag given
 * alone ("--verbose") means true. Every failure names the option in err->path. */
#include "tk_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 4096
#define NAME_MAX_LEN 64

static const struct tk_opt *find_opt(const struct tk_opt *opts, size_t nopts, const char *name,
                                     size_t len)
{
    for (size_t i = 0; i < nopts; i++) {
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    }
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = 1;
            return 1;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

static enum tk_rc set_value(const struct tk_opt *o, const char *val, const char *src,
                            struct tk_error *err)
{
    char *end = NULL;

    switch (o->type) {
    case TK_OPT_STR: {
        size_t len = strlen(val);
        if (!o->ptr || len >= o->str_size)
            return tk_error_set(err, TK_EINVAL, o->name, "value from %s is longer than %zu bytes",
                                src, o->str_size ? o->str_size - 1 : 0);
        memcpy(o->ptr, val, len + 1);
        return TK_OK;
    }
    case TK_OPT_INT: {
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end != '\0' || isspace((unsigned char)val[0]))
            return tk_error_set(err, TK_EINVAL, o->name, "'%.40s' from %s is not an integer",
                                val, src);
        if ((o->min != 0 || o->max != 0) && (v < o->min || v > o->max))
            return tk_error_set(err, TK_EINVAL, o->name,
                                "%lld from %s is out of range %lld..%lld", v, src,
                                (long long)o->min, (long long)o->max);
        *(int64_t *)o->ptr = (int64_t)v;
        return TK_OK;
    }
    case TK_OPT_DOUBLE: {
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || *end != '\0' || !isfinite(v) ||
            isspace((unsigned char)val[0]))
            return tk_error_set(err, TK_EINVAL, o->name, "'%.40s' from %s is not a number", val,
                                src);
        *(double *)o->ptr = v;
        return TK_OK;
    }
    case TK_OPT_BOOL: {
        int b;
        if (!parse_bool(val, &b))
            return tk_error_set(err, TK_EINVAL, o->name,
                                "'%.40s' from %s is not a boolean (true/false, yes/no, on/off, 1/0)",
                                val, src);
        *(int *)o->ptr = b;
        return TK_OK;
    }
    }
    return tk_error_set(err, TK_EINVAL, o->name, "bad option type");
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static enum tk_rc load_file(const struct tk_opt *opts, size_t nopts, const char *path,
                            struct tk_error *err)
{
    enum tk_rc rc = TK_OK;
    FILE *f = fopen(path, "r");
    char line[LINE_MAX_LEN], src[96];
    unsigned lineno = 0;

    if (!f) {
        rc = tk_error_set(err, TK_EIO, "config", "cannot open '%.100s'", path);
        goto cleanup;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof line - 1 && line[l - 1] != '\n' && !feof(f)) {
            rc = tk_error_set(err, TK_EINVAL, "config", "%.80s:%u: line too long", path, lineno);
            goto cleanup;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        size_t nlen = strcspn(s, " \t");
        char *val = trim(s + nlen);
        const struct tk_opt *o = find_opt(opts, nopts, s, nlen);
        if (!o) {
            s[nlen < NAME_MAX_LEN ? nlen : NAME_MAX_LEN - 1] = '\0';
            rc = tk_error_set(err, TK_EINVAL, s, "unknown option at %.80s:%u", path, lineno);
            goto cleanup;
        }
        size_t vlen = strlen(val);
        if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
            val[vlen - 1] = '\0';
            val++;
        }
        snprintf(src, sizeof src, "%.80s:%u", path, lineno);
        rc = set_value(o, val, src, err);
        if (rc)
            goto cleanup;
    }
    if (ferror(f))
        rc = tk_error_set(err, TK_EIO, "config", "cannot read '%.100s'", path);

cleanup:
    if (f)
        fclose(f);
    return rc;
}

enum tk_rc tk_config_load(const struct tk_opt *opts, size_t nopts, int argc, char **argv,
                          struct tk_error *err)
{
    enum tk_rc rc = TK_OK;
    const char *config_file = NULL;

    if (err)
        tk_error_set(err, TK_OK, "", "%s", "");
    if ((nopts && !opts) || (argc > 0 && !argv)) {
        rc = tk_error_set(err, TK_EINVAL, "", "invalid arguments");
        goto cleanup;
    }
    /* 1. defaults */
    for (size_t i = 0; i < nopts; i++) {
        if (opts[i].defval) {
            rc = set_value(&opts[i], opts[i].defval, "default", err);
            if (rc)
                goto cleanup;
        }
    }
    /* --help and --config are looked for first: the file sits below env and flags */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            rc = tk_error_set(err, TK_EINVAL, "help", "usage requested");
            goto cleanup;
        }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                rc = tk_error_set(err, TK_EINVAL, "config", "--config needs a file name");
                goto cleanup;
            }
            config_file = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_file = argv[i] + 9;
        }
    }
    /* 2. file */
    if (config_file) {
        rc = load_file(opts, nopts, config_file, err);
        if (rc)
            goto cleanup;
    }
    /* 3. environment */
    for (size_t i = 0; i < nopts; i++) {
        char env[NAME_MAX_LEN + 8] = "TAKUMI_";
        size_t nl = strlen(opts[i].name);
        if (nl + 8 > sizeof env)
            continue;
        for (size_t k = 0; k < nl; k++) {
            char c = opts[i].name[k];
            env[7 + k] = c == '-' ? '_' : (char)toupper((unsigned char)c);
        }
        env[7 + nl] = '\0';
        const char *v = getenv(env);
        if (v) {
            rc = set_value(&opts[i], v, env, err);
            if (rc)
                goto cleanup;
        }
    }
    /* 4. flags */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        if (strncmp(a, "--", 2) != 0) {
            rc = tk_error_set(err, TK_EINVAL, "", "unexpected argument '%.60s'", a);
            goto cleanup;
        }
        a += 2;
        eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const struct tk_opt *o = find_opt(opts, nopts, a, nl);
        if (nl == 6 && memcmp(a, "config", 6) == 0) {
            if (!eq)
                i++; /* its value was consumed above */
            if (!o)
                continue;
            val = config_file;
        } else if (!o) {
            char name[NAME_MAX_LEN];
            snprintf(name, sizeof name, "%.*s", (int)(nl < NAME_MAX_LEN ? nl : NAME_MAX_LEN - 1), a);
            rc = tk_error_set(err, TK_EINVAL, name, "unknown option --%s", name);
            goto cleanup;
        } else if (eq) {
            val = eq + 1;
        } else if (o->type == TK_OPT_BOOL) {
            val = "true";
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            rc = tk_error_set(err, TK_EINVAL, o->name, "--%s needs a value", o->name);
            goto cleanup;
        }
        rc = set_value(o, val, "the command line", err);
        if (rc)
            goto cleanup;
    }

cleanup:
    return rc;
}

void tk_config_usage(const struct tk_opt *opts, size_t nopts, void *f)
{
    FILE *out = f ? (FILE *)f : stderr;
    static const char *const metavar[] = {"TEXT", "N", "X", "BOOL"};
    for (size_t i = 0; i < nopts; i++) {
        const struct tk_opt *o = &opts[i];
        fprintf(out, "  --%s %s  %s", o->name, metavar[o->type], o->help ? o->help : "");
        if (o->defval)
            fprintf(out, " (default %s)", o->defval);
        fputc('\n', out);
    }
}

enum tk_rc tk_secret_read(const char *path, char *buf, size_t size)
{
    enum tk_rc rc = TK_EIO;
    FILE *f;
    if (!path || !buf || size < 2 || size > INT32_MAX)
        return TK_EINVAL;
    buf[0] = '\0';
    f = fopen(path, "r");
    if (!f)
        return TK_EIO;
    if (!fgets(buf, (int)size, f))
        goto cleanup;
    size_t n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n == size - 1 && !feof(f)) {
        rc = TK_EFULL;
        goto cleanup;
    }
    buf[n] = '\0';
    rc = n ? TK_OK : TK_EIO;
cleanup:
    fclose(f);
    return rc;
}

int tk_config_load_main(const char *prog, const struct tk_opt *opts, size_t nopts, int argc,
                        char **argv)
{
    struct tk_error err = {0};
    if (!tk_config_load(opts, nopts, argc, argv, &err))
        return -1;
    if (strcmp(err.path, "help") == 0) {
        tk_config_usage(opts, nopts, stdout);
        return 0;
    }
    fprintf(stderr, "%s: %s: %s\n", prog, err.path, err.text);
    tk_config_usage(opts, nopts, stderr);
    return 2;
}

enum tk_rc tk_file_read(const char *path, size_t max, char **out, size_t *len)
{
    enum tk_rc rc = TK_EIO;
    char *buf = NULL;
    size_t n = 0;
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return TK_EIO;
    buf = malloc(max + 1);
    if (!buf) {
        rc = TK_ENOMEM;
        goto cleanup;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f))
        goto cleanup;
    if (n > max) {
        rc = TK_EFULL;
        goto cleanup;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = TK_OK;
cleanup:
    free(buf);
    fclose(f);
    return rc;
}
