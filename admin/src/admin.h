/* takumi-admin internals shared by the files of admin/src.
 *
 * The admin tool owns the identities that may talk to the broker. Its source of truth
 * is two things: the device registry in the store (what devices exist, of which kind)
 * and the credentials file DIR/broker/credentials (who may log in, with which role, and
 * only a hash of each password). The mosquitto password file and ACL file are derived
 * from both and rewritten whole on every change, then the broker is told to reload
 * (SIGHUP). Nothing is edited in place: every file is written to a temp file, fsynced
 * and renamed, so a crash leaves either the old or the new version. */
#ifndef ADMIN_H
#define ADMIN_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "store.h"
#include "tk_error.h"
#include "tk_reading.h"

/* Exit codes of the tool. */
enum { ADMIN_EXIT_OK = 0, ADMIN_EXIT_FAIL = 1, ADMIN_EXIT_USAGE = 2 };

#define ADMIN_PATH_MAX 4096
#define ADMIN_NAME_MAX TK_ID_MAX /* identity names follow the device id rule */
#define ADMIN_HASH_MAX 160       /* "$7$101$" + 16 + "$" + 88 + NUL fits */
#define ADMIN_PASSWORD_LEN 32    /* base64url of 24 random bytes */

#define ADMIN_INGEST_USER "takumi-ingest"
#define ADMIN_DASHBOARD_USER "takumi-dashboard"

/* Paths derived from --data DIR (all absolute). */
struct admin_ctx {
    char data[ADMIN_PATH_MAX];
    char db[ADMIN_PATH_MAX];      /* DIR/takumi.db */
    char broker[ADMIN_PATH_MAX];  /* DIR/broker */
    char creds[ADMIN_PATH_MAX];   /* DIR/broker/credentials */
    char passwd[ADMIN_PATH_MAX];  /* DIR/broker/passwd */
    char acl[ADMIN_PATH_MAX];     /* DIR/broker/acl */
    char pidfile[ADMIN_PATH_MAX]; /* DIR/broker/mosquitto.pid */
    char secrets[ADMIN_PATH_MAX]; /* DIR/secrets */
    char log[ADMIN_PATH_MAX];     /* DIR/log */
    int lock_fd;                  /* flock on DIR/broker/.lock while changing identities, or -1 */
};

/* ---- fs.c: files written whole, atomically ------------------------------------- */

/** Write buf to path via path.tmp.PID: write, fsync, rename, fsync the directory.
 *  The file gets exactly mode (umask does not apply). */
enum tk_rc admin_fs__write_atomic(const char *path, const void *buf, size_t len,
                                  mode_t mode) TK_WUR;
/** mkdir path (one level) if missing, then chmod it to mode. */
enum tk_rc admin_fs__mkdir(const char *path, mode_t mode) TK_WUR;
/** Read a whole file of at most max bytes. *out is new (free()), NUL-terminated.
 *  TK_ENOTFOUND if it does not exist, TK_EFULL if larger than max. */
enum tk_rc admin_fs__read_all(const char *path, size_t max, char **out, size_t *len) TK_WUR;
/** snprintf into buf; TK_EFULL if truncated. */
enum tk_rc admin_fs__path(char *buf, size_t size, const char *fmt, ...) TK_WUR TK_PRINTF(3, 4);

/* A growable text buffer for generated files. */
struct admin_buf {
    char *p;
    size_t len, cap;
    int failed; /* an append ran out of memory: the content is incomplete */
};
void admin_buf__printf(struct admin_buf *b, const char *fmt, ...) TK_PRINTF(2, 3);
void admin_buf__append(struct admin_buf *b, const char *s, size_t n);
void admin_buf__free(struct admin_buf *b);

/* ---- passwd.c: passwords in the mosquitto 2.0 format ------------------------------ */

/** A new random password: base64url of 24 bytes from RAND_bytes (32 chars).
 *  size must be > ADMIN_PASSWORD_LEN. */
enum tk_rc admin_passwd__new(char *out, size_t size) TK_WUR;
/** Hash as mosquitto 2.0 does: "$7$101$<b64 12-byte salt>$<b64 PBKDF2-HMAC-SHA512, 64 bytes>". */
enum tk_rc admin_passwd__hash(const char *password, char *out, size_t size) TK_WUR;
/** 1 if password matches a hash made by admin_passwd__hash, else 0. */
int admin_passwd__verify(const char *password, const char *hash);

/* ---- creds.c: the credentials file ------------------------------------------------ */

enum admin_role { ADMIN_ROLE_SERVICE = 0, ADMIN_ROLE_DEVICE, ADMIN_ROLE_GATEWAY };

struct admin_cred {
    char name[ADMIN_NAME_MAX + 1];
    enum admin_role role;
    char hash[ADMIN_HASH_MAX];
    char *devices; /* gateways: "all" or "id1,id2"; NULL otherwise. Owned. */
};

struct admin_creds {
    struct admin_cred *v;
    size_t n, cap;
};

const char *admin_role_name(enum admin_role r);
/** Load DIR/broker/credentials (a missing file is an empty set). */
enum tk_rc admin_creds__load(const char *path, struct admin_creds *c) TK_WUR;
/** Write it atomically, mode 0600. */
enum tk_rc admin_creds__save(const char *path, const struct admin_creds *c) TK_WUR;
/** Borrowed pointer into c, or NULL. */
struct admin_cred *admin_creds__find(struct admin_creds *c, const char *name);
/** Add or replace name. devices is copied (may be NULL). */
enum tk_rc admin_creds__put(struct admin_creds *c, const char *name, enum admin_role role,
                            const char *hash, const char *devices) TK_WUR;
/** Remove name; 1 if it was there. */
int admin_creds__remove(struct admin_creds *c, const char *name);
/** Drop id from every gateway's explicit device list; 1 if any list changed. */
int admin_creds__forget_device(struct admin_creds *c, const char *id);
void admin_creds__free(struct admin_creds *c);

/* ---- broker_files.c: passwd, acl, mosquitto.conf, reload -------------------------- */

/** Regenerate DIR/broker/passwd and DIR/broker/acl from creds and the registry in st. */
enum tk_rc admin_broker__regenerate(const struct admin_ctx *ctx, const struct admin_creds *creds,
                                    struct store *st) TK_WUR;
/** SIGHUP the broker named by DIR/broker/mosquitto.pid if it is a live mosquitto process.
 *  Returns 1 when signalled, 0 when no broker runs, -1 when signalling failed. */
int admin_broker__reload(const struct admin_ctx *ctx);
/** After a credentials or registry change: regenerate the broker files and signal the
 *  broker, reporting on stderr as "takumi-admin CMD: ...". Returns ADMIN_EXIT_OK, or
 *  ADMIN_EXIT_FAIL when the files could not be written (a failed signal only warns). */
int admin_broker__apply(const struct admin_ctx *ctx, const char *cmd,
                        const struct admin_creds *creds, struct store *st);

struct admin_conf_vars {
    int mqtt_port;
    int ws_port; /* 0: the WebSockets block is left out */
    const char *bind;
    const char *data;
    const char *user;
    int mqtts_port;         /* 0: the TLS block is left out */
    const char *plain_bind; /* address of the plaintext listeners (default: bind) */
    const char *tls_dir;    /* ca.crt, server.crt, server.key (default DATA/tls) */
};
/** Render the template to out (atomically). Unknown @PLACEHOLDERS@ are an error
 *  (err->text names it), so template and tool cannot drift apart silently. */
enum tk_rc admin_broker__render_conf(const char *template_path, const char *out_path,
                                     const struct admin_conf_vars *v, struct tk_error *err) TK_WUR;

/* ---- args.c: flags of the subcommands --------------------------------------------- */

enum admin_flag_type { ADMIN_FLAG_STR, ADMIN_FLAG_INT, ADMIN_FLAG_DOUBLE };

struct admin_flag {
    const char *name; /* "kind" for --kind */
    enum admin_flag_type type;
    void *ptr; /* const char ** (borrowed from argv), int *, double * */
    int required;
    int seen; /* out */
    const char *help;
};

/** Parse "--name VALUE" / "--name=VALUE" into flags. Unknown flags, missing values,
 *  bad numbers and missing required flags fail with err->text naming the flag. */
enum tk_rc admin_args__parse(int argc, char **argv, struct admin_flag *flags, size_t n,
                             struct tk_error *err) TK_WUR;
void admin_args__usage(const char *synopsis, const struct admin_flag *flags, size_t n);

/* ---- ctx.c: the data directory ---------------------------------------------------- */

/** Fill the paths from DIR (created if missing, then made absolute). */
enum tk_rc admin_ctx__init(struct admin_ctx *ctx, const char *dir) TK_WUR;
/** Create the directories, the store and the service identities if missing; regenerate
 *  the broker files. Takes the lock. *st (may be NULL) gets the open store. */
enum tk_rc admin_ctx__ensure(struct admin_ctx *ctx, struct store **st) TK_WUR;
/** Serialise identity changes between concurrent runs (flock DIR/broker/.lock). */
enum tk_rc admin_ctx__lock(struct admin_ctx *ctx) TK_WUR;
void admin_ctx__unlock(struct admin_ctx *ctx);

/* ---- subcommands: return an ADMIN_EXIT_* code ------------------------------------- */

int admin_cmd_init(struct admin_ctx *ctx, int argc, char **argv);
int admin_cmd_broker_conf(struct admin_ctx *ctx, int argc, char **argv);
int admin_cmd_device(struct admin_ctx *ctx, int argc, char **argv);
int admin_cmd_gateway(struct admin_ctx *ctx, int argc, char **argv);
int admin_cmd_apikey(struct admin_ctx *ctx, int argc, char **argv);
int admin_cmd_alert(struct admin_ctx *ctx, int argc, char **argv);

/** Exit code for a library return code: TK_EINVAL is the caller's fault (2), the rest 1. */
int admin_exit_for(enum tk_rc rc);

#endif
