/* hubd's option table and its own checks: defaults and derived values,
 * flags over the config file, hub names, listener clashes, limits. */
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

/* Loads argv (NULL-terminated, program name first); returns the rc. */
static int load(hubd_config *cfg, hubd_action *action, char *err, size_t errlen, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    return hubd_config_load(cfg, argc, argv, action, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    hubd_config cfg;
    hubd_action action;
    char err[512];
    assert_int_equal(load(&cfg, &action, err, sizeof err, "hubd", NULL), 0);
    assert_int_equal(action, HUBD_ACTION_RUN);
    assert_int_equal(cfg.nrest, 1);
    assert_string_equal(cfg.rest_addrs[0].host, "127.0.0.1");
    assert_int_equal(cfg.rest_addrs[0].port, 8444);
    assert_int_equal(cfg.nmqtt, 1);
    assert_string_equal(cfg.mqtt_addrs[0].host, "127.0.0.1");
    assert_int_equal(cfg.mqtt_addrs[0].port, 8884);
    assert_int_equal(cfg.hub.count, 1);
    assert_string_equal(cfg.hub.items[0], "hub1.opendps.local");
    assert_int_equal(cfg.telemetry_log_size, 10000);
    assert_int_equal(cfg.telemetry_log_bytes, 64 * 1024 * 1024);
    assert_int_equal(cfg.max_connections, 10000);
    assert_int_equal(cfg.log_level, DPS_LOG_INFO);
    assert_string_equal(cfg.tls_cert, "");

    /* data_dir is absolute, store derives from it. */
    char *cwd = getcwd(NULL, 0);
    assert_non_null(cwd);
    char want[2048];
    snprintf(want, sizeof want, "%s/hubd-data", strcmp(cwd, "/") == 0 ? "" : cwd);
    assert_string_equal(cfg.data_dir, want);
    char store[2100];
    snprintf(store, sizeof store, "sqlite:%s/hubd.db", want);
    assert_string_equal(cfg.store, store);
    free(cwd);
    hubd_config_free(&cfg);
}

static void test_flags_and_hubs(void **state)
{
    (void)state;
    hubd_config cfg;
    hubd_action action;
    char err[512];
    assert_int_equal(load(&cfg, &action, err, sizeof err, "hubd", "--rest-listen",
                          "127.0.0.1:0", "--mqtt-listen=[::1]:0", "--hub",
                          "Hub1.Example.NET,hub2.example.net", "--hub", "hub3.example.net",
                          "--data-dir", "/tmp/x/../y/./z//", "--telemetry-log-size", "5",
                          "--max-connections", "3", "--log-level", "debug", NULL),
                     0);
    assert_int_equal(cfg.rest_addrs[0].port, 0);
    assert_string_equal(cfg.mqtt_addrs[0].host, "::1");
    assert_int_equal(cfg.hub.count, 3);
    assert_string_equal(cfg.hub.items[0], "hub1.example.net"); /* lower-cased */
    assert_string_equal(cfg.hub.items[1], "hub2.example.net");
    assert_string_equal(cfg.hub.items[2], "hub3.example.net");
    assert_string_equal(cfg.data_dir, "/tmp/y/z");
    assert_string_equal(cfg.store, "sqlite:/tmp/y/z/hubd.db");
    assert_int_equal(cfg.telemetry_log_size, 5);
    assert_int_equal(cfg.max_connections, 3);
    assert_int_equal(cfg.log_level, DPS_LOG_DEBUG);
    hubd_config_free(&cfg);
}

static void test_file_then_flags(void **state)
{
    (void)state;
    char *path = write_temp("# hubd test\n"
                            "hub = a.example.net\n"
                            "hub = b.example.net\n"
                            "rest_listen = 127.0.0.1:9444\n"
                            "store = sqlite:/tmp/elsewhere.db\n"
                            "telemetry_log_bytes = 1048576\n");
    hubd_config cfg;
    hubd_action action;
    char err[512];
    assert_int_equal(load(&cfg, &action, err, sizeof err, "hubd", "-c", path, NULL), 0);
    assert_int_equal(cfg.hub.count, 2);
    assert_int_equal(cfg.rest_addrs[0].port, 9444);
    assert_string_equal(cfg.store, "sqlite:/tmp/elsewhere.db"); /* kept, not derived */
    assert_int_equal(cfg.telemetry_log_bytes, 1048576);
    assert_string_equal(cfg.config_file, path);
    hubd_config_free(&cfg);

    /* A flag replaces the file's list. */
    assert_int_equal(load(&cfg, &action, err, sizeof err, "hubd", "--config", path, "--hub",
                          "c.example.net", "--check", NULL),
                     0);
    assert_int_equal(action, HUBD_ACTION_CHECK);
    assert_int_equal(cfg.hub.count, 1);
    assert_string_equal(cfg.hub.items[0], "c.example.net");
    hubd_config_free(&cfg);
    remove_temp(path);

    /* An unknown key names the file and line. */
    path = write_temp("hub = a.example.net\nmqtt_lisen = 127.0.0.1:1\n");
    assert_int_equal(load(&cfg, &action, err, sizeof err, "hubd", "-c", path, NULL), -1);
    assert_non_null(strstr(err, ":2:"));
    assert_non_null(strstr(err, "mqtt_lisen"));
    hubd_config_free(&cfg);
    remove_temp(path);
}

static void expect_error(const char *needle, ...)
{
    char *argv[16] = {"hubd"};
    int argc = 1;
    va_list ap;
    va_start(ap, needle);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    hubd_config cfg;
    hubd_action action;
    char err[512] = "";
    assert_int_equal(hubd_config_load(&cfg, argc, argv, &action, err, sizeof err), -1);
    if (strstr(err, needle) == NULL)
        fail_msg("error '%s' does not mention '%s'", err, needle);
    hubd_config_free(&cfg);
}

static void test_bad_values(void **state)
{
    (void)state;
    /* Flag errors name the flag; cross-checks name the option. */
    expect_error("--hub", "--hub", "bad_name.example", NULL);
    expect_error("no port", "--hub", "hub1.example.net:443", NULL);
    expect_error("--hub", "--hub", "", NULL);
    expect_error("listed twice", "--hub", "a.example.net,A.example.NET", NULL);
    expect_error("--rest-listen", "--rest-listen", "nohostport", NULL);
    expect_error("--mqtt-listen", "--mqtt-listen", "127.0.0.1:70000", NULL);
    expect_error("both use", "--rest-listen", "127.0.0.1:9000", "--mqtt-listen",
                 "127.0.0.1:9000", NULL);
    expect_error("tls_cert and tls_key", "--tls-cert", "/tmp/c.pem", NULL);
    expect_error("tls_cert and tls_key", "--tls-key", "/tmp/k.pem", NULL);
    expect_error("--telemetry-log-size", "--telemetry-log-size", "0", NULL);
    expect_error("--telemetry-log-bytes", "--telemetry-log-bytes", "100", NULL);
    expect_error("--max-connections", "--max-connections", "0", NULL);
    expect_error("--max-body-bytes", "--max-body-bytes", "5", NULL);
    expect_error("--data-dir", "--data-dir", "", NULL);
    expect_error("--log-level", "--log-level", "chatty", NULL);
    expect_error("unknown", "--no-such-option", "1", NULL);
}

static void test_port_zero_never_clashes(void **state)
{
    (void)state;
    hubd_config cfg;
    hubd_action action;
    char err[512];
    assert_int_equal(load(&cfg, &action, err, sizeof err, "hubd", "--rest-listen",
                          "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", NULL),
                     0);
    hubd_config_free(&cfg);
}

static void test_help_and_version(void **state)
{
    (void)state;
    hubd_config cfg;
    hubd_action action;
    char err[512];
    /* --help wins even over a bad flag. */
    assert_int_equal(load(&cfg, &action, err, sizeof err, "hubd", "--hub", "bad_", "--help",
                          NULL),
                     0);
    assert_int_equal(action, HUBD_ACTION_HELP);
    hubd_config_free(&cfg);
    assert_int_equal(load(&cfg, &action, err, sizeof err, "hubd", "-V", NULL), 0);
    assert_int_equal(action, HUBD_ACTION_VERSION);
    hubd_config_free(&cfg);

    /* The help text is generated from the table: every option is there. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    hubd_config_print_help(f, "hubd");
    fclose(f);
    const char *names[] = {"--rest-listen", "--mqtt-listen", "--hub", "--data-dir",
                           "--tls-cert", "--tls-key", "--store", "--log-level",
                           "--max-body-bytes", "--connection-timeout", "--max-connections",
                           "--telemetry-log-size", "--telemetry-log-bytes", "--config",
                           "--check", "--help", "--version"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strstr(buf, names[i]) == NULL)
            fail_msg("help lacks %s", names[i]);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags_and_hubs),
        cmocka_unit_test(test_file_then_flags),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_port_zero_never_clashes),
        cmocka_unit_test(test_help_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
