/* mhd-bare: the baseline of the API request-rate figure. A libmicrohttpd server with the
 * settings of takumi-api's http.c (internal epoll thread pool of --threads, the same
 * connection limit, timeout and per-connection memory) that answers every GET with the
 * bytes of --body (an entity reply saved from the API), so the ratio measures what the
 * API adds to libmicrohttpd: routing, the store read and the rendering.
 *
 * Usage: mhd-bare --port N --threads N --body FILE   (prints "listening PORT", runs until
 * SIGTERM or SIGINT) */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct body {
    char *data;
    size_t len;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    const struct body *b = cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_size;
    if (!*con_cls) { /* headers only so far, as the API's handler sees them */
        *con_cls = (void *)1;
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b->len, b->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    long port = 0, threads = 2;
    const char *path = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--threads"))
            threads = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--body"))
            path = argv[i + 1];
    }
    if (!path || port < 0 || port > 65535 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: mhd-bare --port N --threads N --body FILE\n");
        return 2;
    }
    struct body b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    b.data = malloc(1 << 20);
    if (!b.data)
        return 1;
    b.len = fread(b.data, 1, 1 << 20, f);
    fclose(f);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, on_request, &b, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mhd-bare: cannot listen on port %ld\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening %u\n", di ? di->port : (unsigned)port);
    fflush(stdout);
    while (!stop_flag) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(d);
    free(b.data);
    return 0;
}
