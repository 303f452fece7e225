/* Key files: read on first use, cached, ids validated before they become file names. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw.h"
#include "tk_check.h"

static void put(const char *dir, const char *name, const char *text)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(int argc, char **argv)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/test-psk-%d", argc > 1 ? argv[1] : ".", (int)getpid());
    CHECK(mkdir(dir, 0700) == 0);
    put(dir, "wl-good-1", "water_level s3cret-key\n");
    put(dir, "wl-bad-kind", "lava_flow k\n");
    put(dir, "wl-no-key", "water_level\n");
    struct gw_psk *p = NULL;
    struct gw_device *d = NULL, *d2 = NULL;
    CHECK(gw_psk_create(dir, &p) == TK_OK);
    CHECK(gw_psk_get(p, "wl-good-1", 9, &d) == TK_OK);
    CHECK(d && d->kind == TK_KIND_WATER_LEVEL && d->key_len == 10 &&
          memcmp(d->key, "s3cret-key", 10) == 0);
    CHECK(gw_psk_get(p, "wl-good-1", 9, &d2) == TK_OK && d2 == d);
    CHECK_EQ_INT(gw_psk_count(p), 1);
    CHECK(gw_psk_get(p, "wl-bad-kind", 11, &d) == TK_EPROTO);
    CHECK(gw_psk_get(p, "wl-no-key", 9, &d) == TK_EPROTO);
    CHECK(gw_psk_get(p, "wl-missing", 10, &d) == TK_ENOTFOUND);
    CHECK(gw_psk_get(p, "../psk", 6, &d) == TK_ENOTFOUND);
    CHECK(gw_psk_get(p, "wl-good-1\0x", 11, &d) == TK_ENOTFOUND);
    CHECK_EQ_INT(gw_psk_count(p), 1);
    gw_psk_destroy(p);
    gw_psk_destroy(NULL);
    char f[1200];
    const char *names[] = {"wl-good-1", "wl-bad-kind", "wl-no-key"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s/%s", dir, names[i]);
        unlink(f);
    }
    rmdir(dir);
    return tk_check_result("gateway_psk");
}
