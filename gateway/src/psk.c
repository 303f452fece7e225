/* Pre-shared keys, one per CoAP device, as takumi-admin provisions them:
 * DATA/secrets/psk/<device id>, mode 0600, one line "KIND KEY" where KEY is the key's
 * bytes as printable text (what coap-client -k takes).
 *
 * A key is read on first use (the DTLS handshake naming the identity), so a device
 * provisioned while the gateway runs works at once, with no reload. The PSK identity is
 * the device id; it is validated as one before it becomes a file name. Entries are
 * allocated one by one and never moved, so libcoap may keep a pointer to a key. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "tk_log.h"

struct gw_psk {
    char dir[GW_PATH_MAX];
    struct gw_device **v;
    size_t n, cap;
};

enum tk_rc gw_psk_create(const char *dir, struct gw_psk **out)
{
    struct gw_psk *p = calloc(1, sizeof *p);
    if (!p)
        return TK_ENOMEM;
    if ((size_t)snprintf(p->dir, sizeof p->dir, "%s", dir) >= sizeof p->dir) {
        free(p);
        return TK_EINVAL;
    }
    *out = p;
    return TK_OK;
}

void gw_psk_destroy(struct gw_psk *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        memset(p->v[i]->key, 0, sizeof p->v[i]->key);
        free(p->v[i]);
    }
    free(p->v);
    free(p);
}

size_t gw_psk_count(const struct gw_psk *p)
{
    return p->n;
}

struct gw_device *gw_psk_at(struct gw_psk *p, size_t i)
{
    return i < p->n ? p->v[i] : NULL;
}

static enum tk_rc load(const struct gw_psk *p, const char *id, struct gw_device *d)
{
    char path[GW_PATH_MAX + TK_ID_MAX + 2], line[256], kind[32];
    enum tk_rc rc = TK_EPROTO;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", p->dir, id) >= sizeof path)
        return TK_EINVAL;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? TK_ENOTFOUND : TK_EIO;
    if (!fgets(line, sizeof line, f))
        goto cleanup;
    line[strcspn(line, "\r\n")] = '\0';
    const char *sp = strchr(line, ' ');
    if (!sp || (size_t)(sp - line) >= sizeof kind)
        goto cleanup;
    memcpy(kind, line, (size_t)(sp - line));
    kind[sp - line] = '\0';
    const char *key = sp + 1;
    size_t klen = strlen(key);
    if (klen == 0 || klen > GW_PSK_MAX || tk_kind_parse(kind, &d->kind) != TK_OK)
        goto cleanup;
    memcpy(d->key, key, klen);
    d->key_len = klen;
    snprintf(d->id, sizeof d->id, "%s", id);
    rc = TK_OK;
cleanup:
    memset(line, 0, sizeof line);
    fclose(f);
    return rc;
}

enum tk_rc gw_psk_get(struct gw_psk *p, const char *id, size_t id_len, struct gw_device **out)
{
    char name[TK_ID_MAX + 1];
    if (id_len > TK_ID_MAX)
        return TK_ENOTFOUND;
    memcpy(name, id, id_len);
    name[id_len] = '\0';
    if (strlen(name) != id_len || !tk_device_id_valid(name))
        return TK_ENOTFOUND;
    /* A linear scan: a gateway fronts hundreds of gauges, and a lookup happens once per
     * handshake or request, next to a DTLS record decryption and an fsync. */
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i]->id, name) == 0) {
            *out = p->v[i];
            return TK_OK;
        }
    struct gw_device *d = calloc(1, sizeof *d);
    if (!d)
        return TK_ENOMEM;
    enum tk_rc rc = load(p, name, d);
    if (rc) {
        free(d);
        return rc;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct gw_device **v = realloc(p->v, cap * sizeof *v);
        if (!v) {
            free(d);
            return TK_ENOMEM;
        }
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = d;
    *out = d;
    return TK_OK;
}

enum tk_rc gw_psk_load_all(struct gw_psk *p)
{
    DIR *dir = opendir(p->dir);
    if (!dir)
        return errno == ENOENT ? TK_OK : TK_EIO;
    struct dirent *e;
    enum tk_rc rc = TK_OK;
    while ((e = readdir(dir)) != NULL) {
        struct gw_device *d;
        if (e->d_name[0] == '.')
            continue;
        enum tk_rc r = gw_psk_get(p, e->d_name, strlen(e->d_name), &d);
        if (r == TK_ENOMEM) {
            rc = r;
            break;
        }
        if (r)
            tk_log(TK_LOG_WARN, "%s/%s: not a device key (%s); skipped", p->dir, e->d_name,
                   tk_strerror(r));
    }
    closedir(dir);
    return rc;
}
