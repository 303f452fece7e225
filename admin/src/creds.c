/* The credentials file, DIR/broker/credentials: one identity per line,
 *
 *     name role hash [devices]
 *
 * role is service, device or gateway; hash is the mosquitto 2.0 "$7$..." string; devices
 * (gateways only) is "all", "-" (none) or a comma-separated list of device ids. The mosquitto
 * passwd file is generated from it; it exists separately because the passwd format has no room for
 * the role and gateway scope the ACL needs. Names are checked against the device id rule when read
 * back, so a hand-edited line cannot smuggle '/' or '#' into the ACL. */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CREDS_FILE_MAX ((size_t)64 * 1024 * 1024)

static const char *const role_names[] = {
    [ADMIN_ROLE_SERVICE] = "service",
    [ADMIN_ROLE_DEVICE] = "device",
    [ADMIN_ROLE_GATEWAY] = "gateway",
};

const char *admin_role_name(enum admin_role r)
{
    return (r >= ADMIN_ROLE_SERVICE && r <= ADMIN_ROLE_GATEWAY) ? role_names[r] : "?";
}

static int role_parse(const char *s, size_t n, enum admin_role *out)
{
    for (int r = ADMIN_ROLE_SERVICE; r <= ADMIN_ROLE_GATEWAY; r++) {
        if (strlen(role_names[r]) == n && memcmp(s, role_names[r], n) == 0) {
            *out = (enum admin_role)r;
            return 1;
        }
    }
    return 0;
}

/* Split line (modified in place) at spaces into at most max fields. */
static size_t split(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (*p && n < max) {
        while (*p == ' ' || *p == '\t')
            *p++ = '\0';
        if (!*p)
            break;
        f[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    return n;
}

static int devices_valid(const char *s)
{
    if (strcmp(s, "all") == 0 || strcmp(s, "-") == 0)
        return 1;
    char id[TK_ID_MAX + 2];
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n == 0 || n > TK_ID_MAX)
            return 0;
        memcpy(id, s, n);
        id[n] = '\0';
        if (!tk_device_id_valid(id))
            return 0;
        s += n + (comma ? 1 : 0);
    }
    return 1;
}

enum tk_rc admin_creds__load(const char *path, struct admin_creds *c)
{
    memset(c, 0, sizeof *c);
    char *text = NULL;
    enum tk_rc rc = admin_fs__read_all(path, CREDS_FILE_MAX, &text, NULL);
    if (rc == TK_ENOTFOUND)
        return TK_OK;
    if (rc)
        return rc;
    char *line = text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (line[0] != '#' && line[0] != '\0') {
            char *f[5];
            size_t nf = split(line, f, 5);
            enum admin_role role;
            if (nf < 3 || nf > 4 || !tk_device_id_valid(f[0]) ||
                !role_parse(f[1], strlen(f[1]), &role) || strlen(f[2]) >= ADMIN_HASH_MAX ||
                (role == ADMIN_ROLE_GATEWAY) != (nf == 4) || (nf == 4 && !devices_valid(f[3]))) {
                rc = TK_EINVAL;
                goto cleanup;
            }
            rc = admin_creds__put(c, f[0], role, f[2], nf == 4 ? f[3] : NULL);
            if (rc)
                goto cleanup;
        }
        line = nl ? nl + 1 : NULL;
    }
cleanup:
    free(text);
    if (rc)
        admin_creds__free(c);
    return rc;
}

enum tk_rc admin_creds__save(const char *path, const struct admin_creds *c)
{
    struct admin_buf b = {0};
    admin_buf__printf(&b, "# Takumi broker identities: name role hash [devices].\n"
                          "# Written by takumi-admin; the passwd and acl files are generated "
                          "from it.\n");
    for (size_t i = 0; i < c->n; i++) {
        const struct admin_cred *e = &c->v[i];
        admin_buf__printf(&b, "%s %s %s%s%s\n", e->name, admin_role_name(e->role), e->hash,
                          e->devices ? " " : "", e->devices ? e->devices : "");
    }
    enum tk_rc rc = b.failed ? TK_ENOMEM : admin_fs__write_atomic(path, b.p, b.len, 0600);
    admin_buf__free(&b);
    return rc;
}

struct admin_cred *admin_creds__find(struct admin_creds *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].name, name) == 0)
            return &c->v[i];
    return NULL;
}

enum tk_rc admin_creds__put(struct admin_creds *c, const char *name, enum admin_role role,
                            const char *hash, const char *devices)
{
    if (strlen(name) > ADMIN_NAME_MAX || strlen(hash) >= ADMIN_HASH_MAX)
        return TK_EINVAL;
    char *dev = NULL;
    if (devices) {
        dev = strdup(devices);
        if (!dev)
            return TK_ENOMEM;
    }
    struct admin_cred *e = admin_creds__find(c, name);
    if (!e) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            struct admin_cred *v = realloc(c->v, cap * sizeof *v);
            if (!v) {
                free(dev);
                return TK_ENOMEM;
            }
            c->v = v;
            c->cap = cap;
        }
        e = &c->v[c->n++];
        memset(e, 0, sizeof *e);
        memcpy(e->name, name, strlen(name) + 1);
    }
    free(e->devices);
    e->devices = dev;
    e->role = role;
    memcpy(e->hash, hash, strlen(hash) + 1);
    return TK_OK;
}

int admin_creds__remove(struct admin_creds *c, const char *name)
{
    struct admin_cred *e = admin_creds__find(c, name);
    if (!e)
        return 0;
    free(e->devices);
    size_t i = (size_t)(e - c->v);
    memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof c->v[0]);
    c->n--;
    return 1;
}

int admin_creds__forget_device(struct admin_creds *c, const char *id)
{
    int changed = 0;
    size_t idlen = strlen(id);
    for (size_t i = 0; i < c->n; i++) {
        char *d = c->v[i].devices;
        if (!d || strcmp(d, "all") == 0 || strcmp(d, "-") == 0)
            continue;
        /* remove every exact list element equal to id, in place */
        char *r = d, *w = d;
        while (*r) {
            char *comma = strchr(r, ',');
            size_t n = comma ? (size_t)(comma - r) : strlen(r);
            if (n == idlen && memcmp(r, id, n) == 0) {
                changed = 1;
            } else {
                if (w != d)
                    *w++ = ',';
                memmove(w, r, n);
                w += n;
            }
            r += n + (comma ? 1 : 0);
        }
        *w = '\0';
        if (!*d)
            memcpy(d, "-", 2); /* an empty list; d held at least one id, so 2 bytes fit */
    }
    return changed;
}

void admin_creds__free(struct admin_creds *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].devices);
    free(c->v);
    memset(c, 0, sizeof *c);
}
