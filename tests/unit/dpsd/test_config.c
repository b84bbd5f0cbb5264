/* config.c: defaults, the config file, flags and their precedence,
 * validation messages, derived values, --help. Listen-address parsing
 * itself is tested in tests/unit/net/test_listen_addr.c, the engine on a
 * made-up table in tests/unit/common/test_conftable.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/conf_fixture.h"
#include "config.h"

/* Runs dpsd_config_load on a NULL-terminated argument list. */
static int load_args(dpsd_config *cfg, dpsd_action *action, char *err, size_t errlen, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "dpsd";
    va_list ap;
    va_start(ap, errlen);
    for (char *a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *)) {
        assert_true(argc < 31);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    return dpsd_config_load(cfg, argc, argv, action, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    dpsd_config cfg;
    dpsd_action action;
    char err[512];
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, NULL), 0);
    assert_int_equal(action, DPSD_ACTION_RUN);
    assert_int_equal(cfg.listen.count, 1);
    assert_string_equal(cfg.listen.items[0], "127.0.0.1:8443");
    assert_int_equal(cfg.nlisten, 1);
    assert_string_equal(cfg.listen_addrs[0].host, "127.0.0.1");
    assert_int_equal(cfg.listen_addrs[0].port, 8443);
    assert_int_equal(cfg.host_name.count, 1);
    assert_string_equal(cfg.host_name.items[0], "localhost");
    assert_string_equal(cfg.device_host_name, "localhost"); /* = first host_name */
    assert_string_equal(cfg.tls_cert, "");
    assert_string_equal(cfg.tls_key, "");
    assert_int_equal(cfg.log_level, DPS_LOG_INFO);
    assert_int_equal(cfg.max_body_bytes, 98304);
    assert_int_equal(cfg.connection_timeout, 60);
    assert_null(cfg.config_file);

    /* data_dir becomes absolute (without "./"), the store follows it */
    char *cwd = getcwd(NULL, 0);
    assert_non_null(cwd);
    char expect[2048];
    snprintf(expect, sizeof expect, "%s/dpsd-data", strcmp(cwd, "/") == 0 ? "" : cwd);
    assert_string_equal(cfg.data_dir, expect);
    char expect_store[2100];
    snprintf(expect_store, sizeof expect_store, "sqlite:%s/dpsd.db", expect);
    assert_string_equal(cfg.store, expect_store);
    free(cwd);
    dpsd_config_free(&cfg);
}

static void test_file_values(void **state)
{
    (void)state;
    char *path = write_temp("# dpsd test configuration\n"
                            "\n"
                            "   listen = 127.0.0.1:0 , [::1]:9443\n"
                            "listen=0.0.0.0:8443\r\n"
                            "host_name = dps.example.net, localhost\n"
                            "  # indented comment\n"
                            "device-host-name = devices.example.net:443\n"
                            "data_dir = /var/lib/./dpsd/../dpsd-x/\n"
                            "log_level = DEBUG\n"
                            "max_body_bytes = 2048\n"
                            "tls_cert = \"\"\n"
                            "store = \"sqlite:/tmp/x y.db\"\n");
    dpsd_config cfg;
    dpsd_action action;
    char err[512];
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--config", path, NULL), 0);
    assert_string_equal(cfg.config_file, path);
    assert_int_equal(cfg.listen.count, 3); /* repeated and comma-separated add up */
    assert_int_equal(cfg.nlisten, 3);
    assert_string_equal(cfg.listen_addrs[0].host, "127.0.0.1");
    assert_int_equal(cfg.listen_addrs[0].port, 0);
    assert_string_equal(cfg.listen_addrs[1].host, "::1");
    assert_int_equal(cfg.listen_addrs[1].port, 9443);
    assert_string_equal(cfg.listen_addrs[2].host, "0.0.0.0"); /* CR stripped */
    assert_int_equal(cfg.host_name.count, 2);
    assert_string_equal(cfg.host_name.items[0], "dps.example.net");
    assert_string_equal(cfg.host_name.items[1], "localhost");
    assert_string_equal(cfg.device_host_name, "devices.example.net:443");
    assert_string_equal(cfg.data_dir, "/var/lib/dpsd-x");
    assert_string_equal(cfg.store, "sqlite:/tmp/x y.db"); /* explicit store is kept */
    assert_int_equal(cfg.log_level, DPS_LOG_DEBUG);
    assert_int_equal(cfg.max_body_bytes, 2048);
    assert_string_equal(cfg.tls_cert, "");
    dpsd_config_free(&cfg);
    remove_temp(path);
}

static void expect_file_error(const char *text, const char *fragment)
{
    char *path = write_temp(text);
    dpsd_config cfg;
    dpsd_action action;
    char err[512];
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "-c", path, NULL), -1);
    if (strstr(err, fragment) == NULL)
        fail_msg("error '%s' lacks '%s'", err, fragment);
    if (fragment[0] == ':') /* a line error names the file too */
        assert_non_null(strstr(err, path));
    dpsd_config_free(&cfg);
    remove_temp(path);
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_file_error("listen = 127.0.0.1:1\n# c\nbogus = 1\n", ":3: unknown option 'bogus'");
    expect_file_error("\n\njust words\n", ":3: expected 'key = value'");
    expect_file_error("max_body_bytes = 1023\n",
                      ":1: max_body_bytes: '1023': must be an integer from 1024 to 16777216");
    expect_file_error("max_body_bytes = 16777217\n", ":1: max_body_bytes");
    expect_file_error("max_body_bytes = 12k\n", ":1: max_body_bytes");
    expect_file_error("max_body_bytes =\n", ":1: max_body_bytes");
    expect_file_error("log_level = verbose\n", ":1: log_level: 'verbose'");
    expect_file_error("listen = 8443\n", ":1: listen: '8443': expected host:port");
    expect_file_error("listen = a:1,,b:2\n", ":1: listen: empty entry");
    expect_file_error("host_name = bad;name\n", ":1: host_name");
    expect_file_error("host_name = \n", ":1: host_name: empty entry");
    expect_file_error("data_dir = \"\"\n", ":1: data_dir: must not be empty");
    expect_file_error("listen = a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9\n", "at most 8 entries");
    expect_file_error("tls_cert = /etc/x.pem\n", "tls_cert and tls_key");

    dpsd_config cfg;
    dpsd_action action;
    char err[512];

    /* a NUL byte means this is no text file */
    char *nul = write_temp("log_level = info\n");
    FILE *f = fopen(nul, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("x\0y\n", 1, 4, f), 4);
    fclose(f);
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--config", nul, NULL), -1);
    assert_non_null(strstr(err, "NUL byte"));
    dpsd_config_free(&cfg);
    remove_temp(nul);
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--config",
                               "/nonexistent/dpsd.conf", NULL),
                     -1);
    assert_non_null(strstr(err, "/nonexistent/dpsd.conf"));
    dpsd_config_free(&cfg);
}

static void test_flags_override_file(void **state)
{
    (void)state;
    char *path = write_temp("listen = 127.0.0.1:1, 127.0.0.1:2\n"
                            "host_name = from-file\n"
                            "max_body_bytes = 4096\n"
                            "data_dir = /srv/dpsd\n");
    dpsd_config cfg;
    dpsd_action action;
    char err[512];
    /* flags may come before --config and still win */
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--listen", "127.0.0.1:3",
                               "--config", path, "--listen=[::1]:4", "--max-body-bytes=8192",
                               "--host_name", "from-flag", NULL),
                     0);
    /* the first flag replaces the file's list, later flags add to it */
    assert_int_equal(cfg.nlisten, 2);
    assert_int_equal(cfg.listen_addrs[0].port, 3);
    assert_string_equal(cfg.listen_addrs[1].host, "::1");
    assert_int_equal(cfg.listen_addrs[1].port, 4);
    assert_int_equal(cfg.host_name.count, 1);
    assert_string_equal(cfg.host_name.items[0], "from-flag");
    assert_string_equal(cfg.device_host_name, "from-flag");
    assert_int_equal(cfg.max_body_bytes, 8192);
    assert_string_equal(cfg.data_dir, "/srv/dpsd"); /* untouched by flags */
    assert_string_equal(cfg.store, "sqlite:/srv/dpsd/dpsd.db");
    dpsd_config_free(&cfg);
    remove_temp(path);
}

static void expect_flag_error(const char *fragment, const char *a1, const char *a2)
{
    dpsd_config cfg;
    dpsd_action action;
    char err[512];
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, a1, a2, NULL), -1);
    if (strstr(err, fragment) == NULL)
        fail_msg("error '%s' lacks '%s'", err, fragment);
    dpsd_config_free(&cfg);
}

static void test_flag_errors(void **state)
{
    (void)state;
    expect_flag_error("unknown option '--bogus'", "--bogus", NULL);
    expect_flag_error("unknown option '--bogus=1'", "--bogus=1", NULL);
    expect_flag_error("unexpected argument 'stray'", "stray", NULL);
    expect_flag_error("'--listen' needs a value", "--listen", NULL);
    expect_flag_error("'--config' needs a value", "--config", NULL);
    expect_flag_error("'--check=yes' takes no value", "--check=yes", NULL);
    expect_flag_error("--max-body-bytes: '1'", "--max-body-bytes", "1");
    expect_flag_error("--log-level: 'loud'", "--log-level=loud", NULL);
    expect_flag_error("--listen: '[::1]8443'", "--listen", "[::1]8443");
    expect_flag_error("tls_cert and tls_key", "--tls-key", "/k.pem");
}

static void test_actions(void **state)
{
    (void)state;
    dpsd_config cfg;
    dpsd_action action;
    char err[512];
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--check", NULL), 0);
    assert_int_equal(action, DPSD_ACTION_CHECK);
    dpsd_config_free(&cfg);

    /* --help wins even over a broken configuration */
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--max-body-bytes", "1",
                               "--help", NULL),
                     0);
    assert_int_equal(action, DPSD_ACTION_HELP);
    dpsd_config_free(&cfg);
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "-h", NULL), 0);
    assert_int_equal(action, DPSD_ACTION_HELP);
    dpsd_config_free(&cfg);
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--version", NULL), 0);
    assert_int_equal(action, DPSD_ACTION_VERSION);
    dpsd_config_free(&cfg);
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "-V", NULL), 0);
    assert_int_equal(action, DPSD_ACTION_VERSION);
    dpsd_config_free(&cfg);

    /* --check still validates */
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--check", "--listen", "x",
                               NULL),
                     -1);
    dpsd_config_free(&cfg);
}

static void test_bad_value_keeps_previous(void **state)
{
    (void)state;
    dpsd_config cfg;
    char err[256];
    assert_int_equal(dpsd_config_init(&cfg), 0);
    assert_int_equal(dpsd_config_set(&cfg, "listen", "127.0.0.1:1", false, err, sizeof err),
                     0);
    assert_int_equal(dpsd_config_set(&cfg, "listen", "127.0.0.1:2,nope", false, err,
                                     sizeof err),
                     -1);
    assert_int_equal(cfg.listen.count, 1);
    assert_string_equal(cfg.listen.items[0], "127.0.0.1:1");
    assert_int_equal(dpsd_config_set(&cfg, "max_body_bytes", "99999999", true, err, sizeof err),
                     -1);
    assert_int_equal(cfg.max_body_bytes, 98304);
    assert_int_equal(dpsd_config_set(&cfg, "nope", "1", true, err, sizeof err), -1);
    assert_string_equal(err, "unknown option 'nope'");
    dpsd_config_free(&cfg);
}

static void test_relative_data_dir(void **state)
{
    (void)state;
    dpsd_config cfg;
    dpsd_action action;
    char err[512];
    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--data-dir", "a/./b/../c//",
                               NULL),
                     0);
    char *cwd = getcwd(NULL, 0);
    char expect[2048];
    snprintf(expect, sizeof expect, "%s/a/c", strcmp(cwd, "/") == 0 ? "" : cwd);
    assert_string_equal(cfg.data_dir, expect);
    free(cwd);
    dpsd_config_free(&cfg);

    assert_int_equal(load_args(&cfg, &action, err, sizeof err, "--data-dir", "/../..", NULL),
                     0);
    assert_string_equal(cfg.data_dir, "/");
    assert_string_equal(cfg.store, "sqlite:/dpsd.db");
    dpsd_config_free(&cfg);
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    dpsd_config_print_help(f, "dpsd");
    fclose(f);
    const char *expected[] = {
        "Usage: dpsd", "--listen ADDR", "--host-name NAME", "--device-host-name NAME",
        "--data-dir DIR", "--tls-cert FILE", "--tls-key FILE", "--store URL",
        "--log-level LEVEL", "--max-body-bytes BYTES", "--connection-timeout SECONDS",
        "--config FILE", "--check", "--help", "--version", "127.0.0.1:8443)",
        "(default: 98304; 1024 to 16777216)", "(default: info)",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (strstr(text, expected[i]) == NULL)
            fail_msg("help lacks '%s'", expected[i]);
    free(text);
}

int main(void)
{
    dps_log_set_level(DPS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_values),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_bad_value_keeps_previous),
        cmocka_unit_test(test_relative_data_dir),
        cmocka_unit_test(test_help_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
