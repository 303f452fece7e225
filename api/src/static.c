/* The dashboard's static files (--static DIR, the bundle `./takumi` builds from
 * dashboard/), served under /dashboard/; "/" redirects there.
 *
 * Safety comes from what a path may be, not from cleaning it: below /dashboard/ only
 * letters, digits, '-', '_', '.' and '/' are accepted, no segment may be empty or start
 * with '.', so "..", hidden files and encoded tricks (MHD has already decoded %2e) never
 * reach open(), which also refuses a final symlink (O_NOFOLLOW). Anything else is a 404.
 *
 * The bundle is built once and then read many times, so the build writes FILE.gz beside
 * each compressible file and a client that accepts gzip gets those bytes as they are (no
 * compression per request); without a .gz the reply layer compresses as for any reply.
 * Files under assets/ carry a content hash in their names and are cached for a year;
 * everything else (index.html) is revalidated with its ETag (size and mtime). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"

#define PREFIX "/dashboard"
#define PREFIX_LEN (sizeof PREFIX - 1)
#define REL_MAX 200

static const struct {
    const char *ext;
    const char *type;
    int compress; /* worth a .gz */
} types[] = {
    {".html", "text/html; charset=utf-8", 1},
    {".js", "text/javascript; charset=utf-8", 1},
    {".mjs", "text/javascript; charset=utf-8", 1},
    {".css", "text/css; charset=utf-8", 1},
    {".json", "application/json", 1},
    {".geojson", "application/geo+json", 1},
    {".map", "application/json", 1},
    {".svg", "image/svg+xml", 1},
    {".txt", "text/plain; charset=utf-8", 1},
    {".png", "image/png", 0},
    {".ico", "image/x-icon", 0},
    {".woff2", "font/woff2", 0},
};

static const char *type_of(const char *name, int *compress)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t k = strlen(types[i].ext);
        if (n > k && strcmp(name + n - k, types[i].ext) == 0) {
            *compress = types[i].compress;
            return types[i].type;
        }
    }
    *compress = 0;
    return "application/octet-stream";
}

/* 1 if rel (below /dashboard/, without the leading '/') may name a file. */
static int rel_ok(const char *rel)
{
    size_t n = strlen(rel);
    if (n == 0 || n > REL_MAX)
        return 0;
    const char *seg = rel;
    for (const char *p = rel;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            if (p == seg || seg[0] == '.')
                return 0;
            if (c == '\0')
                return 1;
            seg = p + 1;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
}

/* Open a regular file (no symlink as its last component); -1 otherwise. */
static int open_regular(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

static enum tk_rc read_all(int fd, size_t size, struct api_buf *b)
{
    char chunk[16384];
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, chunk, sizeof chunk);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return TK_EIO; /* shorter than fstat said: changed under us */
        api_buf_put(b, chunk, (size_t)k);
        got += (size_t)k;
    }
    return b->err;
}

/* The ETag in If-None-Match (a list, or "*"). */
static int etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return 0;
    if (strcmp(inm, "*") == 0)
        return 1;
    size_t n = strlen(etag);
    for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag)) {
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ')
            return 1;
    }
    return 0;
}

static void serve_file(const struct api_request *req, struct api_reply *rep, const char *rel)
{
    const struct api_config *cfg = req->cfg;
    char path[1024];
    int compress;
    const char *type = type_of(rel, &compress);
    int n = snprintf(path, sizeof path, "%s/%s", cfg->static_dir, rel);
    if (n < 0 || (size_t)n + 3 >= sizeof path) {
        api_reply_error(rep, API_E_NOTFOUND, NULL, "no such file in the dashboard");
        return;
    }
    struct stat st, gst;
    int fd = open_regular(path, &st);
    if (fd < 0) {
        api_reply_error(rep, API_E_NOTFOUND, NULL, "no such file in the dashboard: /dashboard/%s",
                        rel);
        return;
    }
    /* the precompressed copy, when the client takes gzip and it is not older */
    int gz = -1;
    if (compress && api_accepts_gzip(req->header(req, "Accept-Encoding"))) {
        memcpy(path + n, ".gz", 4);
        gz = open_regular(path, &gst);
        if (gz >= 0 && gst.st_mtime < st.st_mtime) {
            close(gz);
            gz = -1;
        }
    }
    /* one validator per representation: the plain file's, with a suffix for gzip */
    char etag[96];
    snprintf(etag, sizeof etag, "\"%llx-%llx%s\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec,
             gz >= 0 ? "-gz" : "");
    rep->content_type = type;
    api_reply_header(rep, "ETag", "%s", etag);
    api_reply_header(rep, "Cache-Control", "%s",
                     strncmp(rel, "assets/", 7) == 0 ? "public, max-age=31536000, immutable"
                                                     : "no-cache");
    api_reply_header(rep, "X-Content-Type-Options", "nosniff");
    if (etag_matches(req->header(req, "If-None-Match"), etag)) {
        rep->status = 304;
        rep->gzipped = gz >= 0;
        goto cleanup;
    }
    const struct stat *which = gz >= 0 ? &gst : &st;
    if ((uint64_t)which->st_size > (uint64_t)cfg->reply_max) {
        api_reply_error(rep, API_E_REPLYMAX, NULL, "/dashboard/%s is larger than --reply-max", rel);
        goto cleanup;
    }
    if (read_all(gz >= 0 ? gz : fd, (size_t)which->st_size, &rep->body)) {
        api_reply_error(rep, API_E_INTERNAL, NULL, "reading /dashboard/%s failed", rel);
        goto cleanup;
    }
    rep->status = 200;
    rep->gzipped = gz >= 0;
cleanup:
    if (gz >= 0)
        close(gz);
    close(fd);
}

int api_static_handle(const struct api_request *req, struct api_reply *rep)
{
    const char *url = req->path;
    if (!req->cfg->static_dir[0])
        return 0;
    int root = strcmp(url, "/") == 0;
    if (!root && (strncmp(url, PREFIX, PREFIX_LEN) != 0 ||
                  (url[PREFIX_LEN] != '\0' && url[PREFIX_LEN] != '/')))
        return 0;
    if (req->method != API_M_GET && req->method != API_M_HEAD) {
        api_reply_error(rep, API_E_METHOD, NULL, "the dashboard only answers GET and HEAD");
        return 1;
    }
    if (root || url[PREFIX_LEN] == '\0') {
        rep->status = root ? 302 : 301;
        rep->content_type = "text/plain; charset=utf-8";
        api_reply_header(rep, "Location", "%s/", PREFIX);
        api_buf_puts(&rep->body, "the dashboard is at /dashboard/\n");
        return 1;
    }
    const char *rel = url + PREFIX_LEN + 1;
    if (strcmp(rel, "config.json") == 0) {
        api_dashboard_config(req, rep);
        return 1;
    }
    if (rel[0] == '\0')
        rel = "index.html";
    if (!rel_ok(rel)) {
        api_reply_error(rep, API_E_NOTFOUND, NULL,
                        "no such file in the dashboard (names use letters, digits, '-', '_'"
                        " and '.', and no segment starts with '.')");
        return 1;
    }
    serve_file(req, rep, rel);
    return 1;
}
