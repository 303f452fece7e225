#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "tk_check.h"
#include "tk_config.h"

static char host[32];
static int64_t port;
static double ratio;
static int verbose;

static const struct tk_opt opts[] = {
    {"mqtt-host", TK_OPT_STR, host, sizeof host, "localhost", 0, 0, "broker host"},
    {"mqtt-port", TK_OPT_INT, &port, 0, "1883", 1, 65535, "broker port"},
    {"ratio", TK_OPT_DOUBLE, &ratio, 0, "0.5", 0, 0, "a ratio"},
    {"verbose", TK_OPT_BOOL, &verbose, 0, "no", 0, 0, "log more"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static enum tk_rc load(struct tk_error *e, int argc, const char **argv)
{
    return tk_config_load(opts, NOPTS, argc, (char **)argv, e);
}

static void test_secret_read(void)
{
    char path[] = "/tmp/tk-secret-XXXXXX", buf[16];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("s3cret-pass\nsecond line\n", f);
    fclose(f);
    CHECK_EQ_INT(tk_secret_read(path, buf, sizeof buf), TK_OK);
    CHECK_EQ_STR(buf, "s3cret-pass");
    CHECK_EQ_INT(tk_secret_read(path, buf, 8), TK_EFULL);
    f = fopen(path, "w");
    fclose(f);
    CHECK_EQ_INT(tk_secret_read(path, buf, sizeof buf), TK_EIO);
    unlink(path);
    CHECK_EQ_INT(tk_secret_read(path, buf, sizeof buf), TK_EIO);
}

int main(void)
{
    test_secret_read();
    struct tk_error e;
    char path[] = "/tmp/tk-test-config-XXXXXX";

    unsetenv("TAKUMI_MQTT_PORT");
    unsetenv("TAKUMI_MQTT_HOST");
    unsetenv("TAKUMI_RATIO");
    unsetenv("TAKUMI_VERBOSE");

    /* defaults */
    const char *a0[] = {"prog"};
    CHECK_EQ_INT(load(&e, 1, a0), TK_OK);
    CHECK_EQ_STR(host, "localhost");
    CHECK_EQ_INT(port, 1883);
    CHECK(ratio == 0.5);
    CHECK_EQ_INT(verbose, 0);

    /* file < env < flags */
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "# comment\n\nmqtt-host  \"broker.local\"  \nmqtt-port 1884\nratio 0.25\n"
                       "verbose yes\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    const char *a1[] = {"prog", "--config", path};
    CHECK_EQ_INT(load(&e, 3, a1), TK_OK);
    CHECK_EQ_STR(host, "broker.local");
    CHECK_EQ_INT(port, 1884);
    CHECK(ratio == 0.25);
    CHECK_EQ_INT(verbose, 1);

    setenv("TAKUMI_MQTT_PORT", "1885", 1);
    CHECK_EQ_INT(load(&e, 3, a1), TK_OK);
    CHECK_EQ_INT(port, 1885);
    const char *a2[] = {"prog", "--mqtt-port=1886", "--config=", "--verbose=off"};
    a2[2] = NULL;
    char cfg[64];
    snprintf(cfg, sizeof cfg, "--config=%s", path);
    a2[2] = cfg;
    CHECK_EQ_INT(load(&e, 4, a2), TK_OK);
    CHECK_EQ_INT(port, 1886);
    CHECK_EQ_INT(verbose, 0);
    CHECK_EQ_STR(host, "broker.local");
    const char *a3[] = {"prog", "--mqtt-port", "1887", "--verbose", "--mqtt-host", "h"};
    CHECK_EQ_INT(load(&e, 6, a3), TK_OK);
    CHECK_EQ_INT(port, 1887);
    CHECK_EQ_INT(verbose, 1);
    CHECK_EQ_STR(host, "h");
    unsetenv("TAKUMI_MQTT_PORT");

    /* errors name the option */
    setenv("TAKUMI_MQTT_PORT", "70000", 1);
    CHECK_EQ_INT(load(&e, 1, a0), TK_EINVAL);
    CHECK_EQ_STR(e.path, "mqtt-port");
    CHECK(strstr(e.text, "TAKUMI_MQTT_PORT") != NULL);
    unsetenv("TAKUMI_MQTT_PORT");
    const char *b1[] = {"prog", "--mqtt-port", "12x"};
    CHECK_EQ_INT(load(&e, 3, b1), TK_EINVAL);
    CHECK_EQ_STR(e.path, "mqtt-port");
    const char *b2[] = {"prog", "--nope", "1"};
    CHECK_EQ_INT(load(&e, 3, b2), TK_EINVAL);
    CHECK_EQ_STR(e.path, "nope");
    const char *b3[] = {"prog", "--mqtt-port"};
    CHECK_EQ_INT(load(&e, 2, b3), TK_EINVAL);
    const char *b4[] = {"prog", "--ratio", "nan"};
    CHECK_EQ_INT(load(&e, 3, b4), TK_EINVAL);
    CHECK_EQ_STR(e.path, "ratio");
    const char *b5[] = {"prog", "--verbose=maybe"};
    CHECK_EQ_INT(load(&e, 2, b5), TK_EINVAL);
    const char *b6[] = {"prog", "--mqtt-host", "0123456789012345678901234567890123456789"};
    CHECK_EQ_INT(load(&e, 3, b6), TK_EINVAL);
    CHECK_EQ_STR(e.path, "mqtt-host");
    const char *b7[] = {"prog", "stray"};
    CHECK_EQ_INT(load(&e, 2, b7), TK_EINVAL);
    const char *b8[] = {"prog", "--mqtt-port", "1", "--help"};
    CHECK_EQ_INT(load(&e, 4, b8), TK_EINVAL);
    CHECK_EQ_STR(e.path, "help");
    const char *b9[] = {"prog", "--config", "/nonexistent/takumi.conf"};
    CHECK_EQ_INT(load(&e, 3, b9), TK_EIO);
    CHECK_EQ_STR(e.path, "config");

    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("mqtt-port 1\nbogus 2\n", f);
    fclose(f);
    CHECK_EQ_INT(load(&e, 3, a1), TK_EINVAL);
    CHECK_EQ_STR(e.path, "bogus");
    CHECK(strstr(e.text, ":2") != NULL);
    unlink(path);

    tk_config_usage(opts, NOPTS, stderr);
    return tk_check_result("test_config");
}
