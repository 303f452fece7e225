/* libFuzzer target: tk_config_load, with a table of options of every type.
 *
 * The input up to the first NUL byte becomes a config file (one temporary file, rewritten
 * each run); what follows the NUL, split at newlines, becomes extra command-line arguments
 * after "--config FILE". Whatever the input, the load must not crash, a string option must
 * stay NUL-terminated within its buffer and an integer option within its bounds. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tk_config.h"

#define MAX_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int fd = -1;

static void remove_file(void)
{
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char host[16], dir[64];
    int64_t port = 0, count = 0;
    double ratio = 0;
    int flag = 0, verbose = 0;
    const struct tk_opt opts[] = {
        {"host", TK_OPT_STR, host, sizeof host, "127.0.0.1", 0, 0, "a short string"},
        {"data", TK_OPT_STR, dir, sizeof dir, NULL, 0, 0, "a string without default"},
        {"port", TK_OPT_INT, &port, 0, "1883", 1, 65535, "a bounded integer"},
        {"count", TK_OPT_INT, &count, 0, "0", 0, 0, "an unbounded integer"},
        {"ratio", TK_OPT_DOUBLE, &ratio, 0, "0.5", 0, 0, "a number"},
        {"flag", TK_OPT_BOOL, &flag, 0, "false", 0, 0, "a boolean"},
        {"verbose", TK_OPT_BOOL, &verbose, 0, NULL, 0, 0, "a boolean without default"},
    };
    char *argv[3 + MAX_ARGS];
    int argc = 0;
    struct tk_error err;

    if (fd < 0) {
        snprintf(path, sizeof path, "/tmp/tk-fuzz-config-%ld.conf", (long)getpid());
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            abort();
        atexit(remove_file);
    }
    const uint8_t *nul = memchr(data, '\0', size);
    size_t flen = nul ? (size_t)(nul - data) : size;
    if (ftruncate(fd, 0) != 0 || (flen && pwrite(fd, data, flen, 0) != (ssize_t)flen))
        abort();

    /* the arguments: NUL-terminated copies of the lines after the first NUL */
    size_t alen = nul ? size - flen - 1 : 0;
    char *args = malloc(alen + 1);
    if (!args)
        return 0;
    if (alen)
        memcpy(args, nul + 1, alen);
    args[alen] = '\0';
    argv[argc++] = "fuzz_config";
    argv[argc++] = "--config";
    argv[argc++] = path;
    if (alen) {
        char *s = args;
        while (argc < 3 + MAX_ARGS) {
            char *nl = memchr(s, '\n', (size_t)(args + alen - s));
            argv[argc++] = s;
            if (!nl)
                break;
            *nl = '\0';
            s = nl + 1;
        }
    }

    memset(host, 0xa5, sizeof host);
    memset(dir, 0xa5, sizeof dir);
    dir[0] = '\0';
    if (tk_config_load(opts, sizeof opts / sizeof opts[0], argc, argv, &err) == TK_OK) {
        if (!memchr(host, '\0', sizeof host) || !memchr(dir, '\0', sizeof dir))
            abort();
        if (port < 1 || port > 65535)
            abort();
    } else if (err.code == TK_OK) {
        abort(); /* a refusal must say why */
    }
    free(args);
    return 0;
}
