/* Unit tests of the admin internals: password hashes against a mosquitto_passwd vector,
 * the credentials file round trip, gateway list editing and config rendering. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "tk_check.h"

static char dir[64];

static void test_passwd(void)
{
    /* made by `mosquitto_passwd -b -c pw alice secret` (mosquitto 2.0.11) */
    const char *vec = "$7$101$8AxNJCtO1SD5b9ST$BrmhLDCY8LwVEHzR9LJeizR7N+pdIefAe0BIil76NS9nQkPln4"
                      "G/q59O/peGWLe9Xt7UsAiRTZd9do9tVE8wqg==";
    CHECK(admin_passwd__verify("secret", vec));
    CHECK(!admin_passwd__verify("secreT", vec));
    CHECK(!admin_passwd__verify("", vec));
    CHECK(!admin_passwd__verify("secret", "$6$101$8AxNJCtO1SD5b9ST$x"));
    CHECK(!admin_passwd__verify("secret", "$7$101$short$x"));

    char pw[ADMIN_PASSWORD_LEN + 1], pw2[ADMIN_PASSWORD_LEN + 1], hash[ADMIN_HASH_MAX];
    CHECK_EQ_INT(admin_passwd__new(pw, sizeof pw), TK_OK);
    CHECK_EQ_INT(admin_passwd__new(pw2, sizeof pw2), TK_OK);
    CHECK_EQ_INT(strlen(pw), ADMIN_PASSWORD_LEN);
    CHECK(strcmp(pw, pw2) != 0);
    CHECK(strspn(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") ==
          strlen(pw));
    CHECK_EQ_INT(admin_passwd__new(pw, ADMIN_PASSWORD_LEN), TK_EFULL);
    CHECK_EQ_INT(admin_passwd__hash("secret", hash, sizeof hash), TK_OK);
    CHECK(strncmp(hash, "$7$101$", 7) == 0);
    CHECK_EQ_INT(strlen(hash), 7 + 16 + 1 + 88);
    CHECK(admin_passwd__verify("secret", hash));
    CHECK(!admin_passwd__verify("secret2", hash));
    CHECK_EQ_INT(admin_passwd__hash("secret", hash, 40), TK_EFULL);
}

static void test_creds(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/credentials", dir);
    struct admin_creds c = {0}, d = {0};
    CHECK_EQ_INT(admin_creds__load(path, &c), TK_OK); /* missing file: empty */
    CHECK_EQ_INT(c.n, 0);
    CHECK_EQ_INT(admin_creds__put(&c, "takumi-ingest", ADMIN_ROLE_SERVICE, "$7$h1", NULL), TK_OK);
    CHECK_EQ_INT(admin_creds__put(&c, "wl-a-0001", ADMIN_ROLE_DEVICE, "$7$h2", NULL), TK_OK);
    CHECK_EQ_INT(admin_creds__put(&c, "gw-1", ADMIN_ROLE_GATEWAY, "$7$h3", "wl-a-0001,wl-b-0001"),
                 TK_OK);
    CHECK_EQ_INT(admin_creds__put(&c, "gw-2", ADMIN_ROLE_GATEWAY, "$7$h4", "wl-a-0001"), TK_OK);
    CHECK_EQ_INT(admin_creds__put(&c, "wl-a-0001", ADMIN_ROLE_DEVICE, "$7$h5", NULL), TK_OK);
    CHECK_EQ_INT(c.n, 4); /* replaced, not duplicated */
    CHECK_EQ_INT(admin_creds__save(path, &c), TK_OK);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK_EQ_INT(admin_creds__load(path, &d), TK_OK);
    CHECK_EQ_INT(d.n, 4);
    struct admin_cred *e = admin_creds__find(&d, "wl-a-0001");
    CHECK(e && e->role == ADMIN_ROLE_DEVICE && strcmp(e->hash, "$7$h5") == 0);
    e = admin_creds__find(&d, "gw-1");
    CHECK(e && e->devices && strcmp(e->devices, "wl-a-0001,wl-b-0001") == 0);

    CHECK_EQ_INT(admin_creds__forget_device(&d, "wl-a-0001"), 1);
    CHECK(strcmp(admin_creds__find(&d, "gw-1")->devices, "wl-b-0001") == 0);
    CHECK(strcmp(admin_creds__find(&d, "gw-2")->devices, "-") == 0);
    CHECK_EQ_INT(admin_creds__forget_device(&d, "wl-a-0001"), 0);
    CHECK_EQ_INT(admin_creds__save(path, &d), TK_OK); /* "-" survives a round trip */
    admin_creds__free(&c);
    CHECK_EQ_INT(admin_creds__load(path, &c), TK_OK);
    CHECK_EQ_INT(c.n, 4);
    CHECK_EQ_INT(admin_creds__remove(&c, "gw-2"), 1);
    CHECK_EQ_INT(admin_creds__remove(&c, "gw-2"), 0);
    CHECK_EQ_INT(c.n, 3);
    admin_creds__free(&c);
    admin_creds__free(&d);

    /* a hand-edited line with a hostile name is refused, not turned into an ACL entry */
    const char *bad[] = {"a/b device $7$x\n", "wl-1 device\n", "wl-1 admin $7$x\n",
                         "gw-1 gateway $7$x a/b\n", "wl-1 device $7$x extra\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(admin_fs__write_atomic(path, bad[i], strlen(bad[i]), 0600), TK_OK);
        CHECK_EQ_INT(admin_creds__load(path, &c), TK_EINVAL);
        CHECK_EQ_INT(c.n, 0);
    }
}

static char *render_tls(const char *tmpl, int ws_port, int mqtts_port, const char *plain_bind,
                        enum tk_rc *rc, struct tk_error *err)
{
    char tpath[128], out[128];
    snprintf(tpath, sizeof tpath, "%s/t.conf", dir);
    snprintf(out, sizeof out, "%s/o.conf", dir);
    CHECK_EQ_INT(admin_fs__write_atomic(tpath, tmpl, strlen(tmpl), 0600), TK_OK);
    unlink(out);
    struct admin_conf_vars v = {1883,     ws_port,    "0.0.0.0",  "/data",
                                "takumi", mqtts_port, plain_bind, "/data/tls"};
    *rc = admin_broker__render_conf(tpath, out, &v, err);
    char *text = NULL;
    if (*rc == TK_OK)
        CHECK_EQ_INT(admin_fs__read_all(out, 1 << 20, &text, NULL), TK_OK);
    return text;
}

static char *render(const char *tmpl, int ws_port, enum tk_rc *rc, struct tk_error *err)
{
    return render_tls(tmpl, ws_port, 0, NULL, rc, err);
}

static void test_render(void)
{
    const char *tmpl = "listener @MQTT_PORT@ @PLAIN_BIND@\n"
                       "# mail me@example.org @ home\n"
                       "# @BEGIN_WS@\n"
                       "listener @WS_PORT@ @BIND@\n"
                       "# @END_WS@\n"
                       "password_file @DATA@/broker/passwd\n"
                       "user @USER@\n";
    enum tk_rc rc;
    struct tk_error err = {0};
    char *t = render(tmpl, 9001, &rc, &err);
    CHECK_EQ_INT(rc, TK_OK);
    CHECK(t && strstr(t, "listener 1883 0.0.0.0\n"));
    CHECK(t && strstr(t, "listener 9001 0.0.0.0\n"));
    CHECK(t && strstr(t, "password_file /data/broker/passwd\n"));
    CHECK(t && strstr(t, "user takumi\n"));
    CHECK(t && strstr(t, "me@example.org @ home"));
    CHECK(t && !strstr(t, "BEGIN_WS"));
    free(t);
    t = render(tmpl, 0, &rc, &err);
    CHECK_EQ_INT(rc, TK_OK);
    CHECK(t && !strstr(t, "9001") && !strstr(t, "listener 0"));
    CHECK(t && strstr(t, "user takumi\n"));
    free(t);
    t = render("x @PORT@\n", 0, &rc, &err);
    CHECK_EQ_INT(rc, TK_EINVAL);
    CHECK(strstr(err.text, "@PORT@") != NULL);
    free(t);
    t = render("# @BEGIN_WS@\nlistener 1\n", 9001, &rc, &err);
    CHECK_EQ_INT(rc, TK_EINVAL);
    free(t);

    /* the TLS block, and devices on TLS only: plaintext on loopback */
    const char *tls = "listener @MQTT_PORT@ @PLAIN_BIND@\n"
                      "# @BEGIN_TLS@\n"
                      "listener @MQTTS_PORT@ @BIND@\n"
                      "certfile @TLS_DIR@/server.crt\n"
                      "# @END_TLS@\n"
                      "user @USER@\n";
    t = render_tls(tls, 0, 8883, "127.0.0.1", &rc, &err);
    CHECK_EQ_INT(rc, TK_OK);
    CHECK(t && strstr(t, "listener 1883 127.0.0.1\n"));
    CHECK(t && strstr(t, "listener 8883 0.0.0.0\n"));
    CHECK(t && strstr(t, "certfile /data/tls/server.crt\n"));
    CHECK(t && !strstr(t, "BEGIN_TLS"));
    free(t);
    t = render_tls(tls, 0, 0, NULL, &rc, &err);
    CHECK_EQ_INT(rc, TK_OK);
    CHECK(t && strstr(t, "listener 1883 0.0.0.0\n") && !strstr(t, "certfile"));
    CHECK(t && strstr(t, "user takumi\n"));
    free(t);
    t = render_tls("# @BEGIN_TLS@\nlistener 1\n", 0, 8883, NULL, &rc, &err);
    CHECK_EQ_INT(rc, TK_EINVAL);
    CHECK(strstr(err.text, "@BEGIN_TLS@") != NULL);
    free(t);
}

static void test_args(void)
{
    const char *s = NULL;
    int n = 0;
    double d = 0;
    struct admin_flag f[] = {
        {"id", ADMIN_FLAG_STR, &s, 1, 0, ""},
        {"port", ADMIN_FLAG_INT, &n, 0, 0, ""},
        {"lat", ADMIN_FLAG_DOUBLE, &d, 0, 0, ""},
    };
    struct tk_error err = {0};
    char *ok[] = {"--id", "x", "--port=5", "--lat", "-1.5"};
    CHECK_EQ_INT(admin_args__parse(5, ok, f, 3, &err), TK_OK);
    CHECK(s && strcmp(s, "x") == 0 && n == 5 && d == -1.5);
    char *missing[] = {"--port", "5"};
    f[0].seen = f[1].seen = f[2].seen = 0;
    CHECK_EQ_INT(admin_args__parse(2, missing, f, 3, &err), TK_EINVAL);
    CHECK(strstr(err.text, "--id is required") != NULL);
    char *badnum[] = {"--id", "x", "--lat", "1e999"};
    f[0].seen = f[1].seen = f[2].seen = 0;
    CHECK_EQ_INT(admin_args__parse(4, badnum, f, 3, &err), TK_EINVAL);
    char *twice[] = {"--id", "x", "--id", "y"};
    f[0].seen = f[1].seen = f[2].seen = 0;
    CHECK_EQ_INT(admin_args__parse(4, twice, f, 3, &err), TK_EINVAL);
    char *unknown[] = {"--id", "x", "--bogus", "1"};
    f[0].seen = f[1].seen = f[2].seen = 0;
    CHECK_EQ_INT(admin_args__parse(4, unknown, f, 3, &err), TK_EINVAL);
    char *novalue[] = {"--id"};
    f[0].seen = f[1].seen = f[2].seen = 0;
    CHECK_EQ_INT(admin_args__parse(1, novalue, f, 3, &err), TK_EINVAL);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/tk-admin-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_passwd();
    test_creds();
    test_render();
    test_args();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tk_check_result("admin");
}
