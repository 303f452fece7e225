/* Configuration from one table of options: defaults < file < environment (TAKUMI_*)
 * < command-line flags (redis config.c static_configs[] style). Each option has a
 * name used as the file key ("mqtt-port 1883"), the flag (--mqtt-port 1883 or
 * --mqtt-port=1883) and the environment variable (TAKUMI_MQTT_PORT). */
#ifndef TK_CONFIG_H
#define TK_CONFIG_H

#include <stdint.h>
#include <stddef.h>
#include "tk_error.h"

enum tk_opt_type { TK_OPT_STR, TK_OPT_INT, TK_OPT_DOUBLE, TK_OPT_BOOL };

struct tk_opt {
    const char *name;      /* "mqtt-port" */
    enum tk_opt_type type;
    void *ptr;             /* char[str_size] for TK_OPT_STR, int64_t*, double*, int* (bool) */
    size_t str_size;       /* buffer size for TK_OPT_STR */
    const char *defval;    /* default as text, applied first (NULL: leave as is) */
    int64_t min, max;      /* bounds for TK_OPT_INT (min == max == 0: unbounded) */
    const char *help;
};

/** Apply defaults, then the file given by --config FILE (if any), then TAKUMI_* environment,
 *  then flags. Unknown flags and keys, bad numbers and out-of-range values fail with err
 *  naming the option. "--help" returns TK_EINVAL with err->path "help". */
enum tk_rc tk_config_load(const struct tk_opt *opts, size_t nopts, int argc, char **argv,
                          struct tk_error *err) TK_WUR;
/** Read a secret (a broker password) from the first line of a file, so that it never
 *  appears in argv, where ps shows it. The line end is stripped. TK_EIO if the file
 *  cannot be read or is empty, TK_EFULL if the line does not fit in size bytes. */
enum tk_rc tk_secret_read(const char *path, char *buf, size_t size) TK_WUR;
/** Read a whole file of at most max bytes (a certificate, a key) into *out (new,
 *  NUL-terminated; free with free()), its length in *len. TK_EIO if it cannot be read,
 *  TK_EFULL if it is larger than max, TK_ENOMEM. */
enum tk_rc tk_file_read(const char *path, size_t max, char **out, size_t *len) TK_WUR;

/** tk_config_load for a program's main: on --help prints the usage to stdout and returns
 *  0; on a bad option prints "PROG: option: reason" and the usage to stderr and returns 2;
 *  returns -1 when the options loaded and the program should go on. */
int tk_config_load_main(const char *prog, const struct tk_opt *opts, size_t nopts, int argc,
                        char **argv);

/** Print "--name VALUE  help (default)" lines to f (a FILE*). */
void tk_config_usage(const struct tk_opt *opts, size_t nopts, void *f);

#endif
