/* common/conftable.c: the option-table engine on a small made-up table
 * (every option type, a check hook, bounds), independent of any daemon:
 * defaults, the config file, flags and their precedence, list replacement,
 * error messages, --help text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/conftable.h"
#include "common/log.h"
#include "conf_fixture.h"

typedef struct {
    char *name;
    dps_conf_list peers;
    int64_t workers;
    bool verbose;
    int mode; /* index into modes[] */
    dps_log_level level;
    dps_conf_state conf;
} toy_config;

static const char *const modes[] = {"fast", "safe", "paranoid", NULL};

/* Accepts only lower-case words, to see a hook's reason come through. */
static int check_lower(const char *value, char *err, size_t errlen)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (*p < 'a' || *p > 'z') {
            snprintf(err, errlen, "'%s': lower-case letters only", value);
            return -1;
        }
    }
    return 0;
}

#define F(f) offsetof(toy_config, f)

static const dps_conf_option toy_options[] = {
    {"name", DPS_CONF_STRING, F(name), "toy", 0, 0, NULL, "NAME", check_lower, "the name"},
    {"peers", DPS_CONF_LIST, F(peers), "alpha,beta", 0, 0, NULL, "PEER[,PEER]", check_lower,
     "who to talk to"},
    {"worker_count", DPS_CONF_INT, F(workers), "4", 1, 64, NULL, "N", NULL, "threads"},
    {"verbose", DPS_CONF_BOOL, F(verbose), "no", 0, 0, NULL, "BOOL", NULL, "say more"},
    {"mode", DPS_CONF_ENUM, F(mode), "safe", 0, 0, modes, "MODE", NULL, "how careful"},
    {"log_level", DPS_CONF_LOG_LEVEL, F(level), "warn", 0, 0, NULL, "LEVEL", NULL, "noise"},
};

static const dps_conf_table toy = {
    .options = toy_options,
    .noptions = sizeof toy_options / sizeof toy_options[0],
    .state_offset = F(conf),
};

static void init(toy_config *c)
{
    char err[256];
    memset(c, 0x5a, sizeof *c); /* init must not trust what was there */
    assert_int_equal(dps_conf_init(&toy, c, err, sizeof err), 0);
}

/* Runs dps_conf_parse_args on a NULL-terminated argument list. */
static int parse(toy_config *c, dps_conf_action *action, const char **file, char *err,
                 size_t errlen, ...)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = "toyd";
    va_list ap;
    va_start(ap, errlen);
    for (char *a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *)) {
        assert_true(argc < 15);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    return dps_conf_parse_args(&toy, c, argc, argv, action, file, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    toy_config c;
    init(&c);
    assert_string_equal(c.name, "toy");
    assert_int_equal(c.peers.count, 2);
    assert_string_equal(c.peers.items[0], "alpha");
    assert_string_equal(c.peers.items[1], "beta");
    assert_int_equal(c.workers, 4);
    assert_false(c.verbose);
    assert_int_equal(c.mode, 1);
    assert_int_equal(c.level, DPS_LOG_WARN);
    dps_conf_free(&toy, &c);
    assert_null(c.name);
    assert_int_equal(c.peers.count, 0);
    dps_conf_free(&toy, &c); /* twice is harmless */
}

static void test_bad_default_is_reported(void **state)
{
    (void)state;
    static const dps_conf_option broken[] = {
        {"name", DPS_CONF_STRING, F(name), "ok", 0, 0, NULL, "N", NULL, "x"},
        {"worker_count", DPS_CONF_INT, F(workers), "0", 1, 2, NULL, "N", NULL, "x"},
    };
    dps_conf_table t = {broken, 2, F(conf)};
    toy_config c;
    char err[256];
    assert_int_equal(dps_conf_init(&t, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "default of worker_count"));
    assert_null(c.name); /* freed again */
}

static void test_set_each_type(void **state)
{
    (void)state;
    toy_config c;
    char err[256];
    init(&c);
    assert_int_equal(dps_conf_set(&toy, &c, "worker-count", "64", DPS_CONF_SRC_FILE, err,
                                  sizeof err),
                     0);
    assert_int_equal(c.workers, 64);
    const char *yes[] = {"true", "YES", "on", "1"};
    const char *no[] = {"false", "No", "OFF", "0"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(dps_conf_set(&toy, &c, "verbose", yes[i], DPS_CONF_SRC_FILE, err,
                                      sizeof err),
                         0);
        assert_true(c.verbose);
        assert_int_equal(dps_conf_set(&toy, &c, "verbose", no[i], DPS_CONF_SRC_FILE, err,
                                      sizeof err),
                         0);
        assert_false(c.verbose);
    }
    assert_int_equal(dps_conf_set(&toy, &c, "mode", "Paranoid", DPS_CONF_SRC_FILE, err,
                                  sizeof err),
                     0);
    assert_int_equal(c.mode, 2);
    assert_int_equal(dps_conf_set(&toy, &c, "log_level", "debug", DPS_CONF_SRC_FILE, err,
                                  sizeof err),
                     0);
    assert_int_equal(c.level, DPS_LOG_DEBUG);

    /* failures keep the old value and say why, naming the option */
    assert_int_equal(dps_conf_set(&toy, &c, "worker_count", "65", DPS_CONF_SRC_FLAG, err,
                                  sizeof err),
                     -1);
    assert_string_equal(err, "worker_count: '65': must be an integer from 1 to 64");
    assert_int_equal(c.workers, 64);
    assert_int_equal(dps_conf_set(&toy, &c, "verbose", "maybe", DPS_CONF_SRC_FLAG, err,
                                  sizeof err),
                     -1);
    assert_string_equal(err, "verbose: 'maybe': must be true or false");
    assert_int_equal(dps_conf_set(&toy, &c, "mode", "reckless", DPS_CONF_SRC_FLAG, err,
                                  sizeof err),
                     -1);
    assert_string_equal(err, "mode: 'reckless': must be one of fast, safe, paranoid");
    assert_int_equal(c.mode, 2);
    assert_int_equal(dps_conf_set(&toy, &c, "name", "Bad", DPS_CONF_SRC_FLAG, err,
                                  sizeof err),
                     -1);
    assert_string_equal(err, "name: 'Bad': lower-case letters only");
    assert_string_equal(c.name, "toy");
    assert_int_equal(dps_conf_set(&toy, &c, "peers", "gamma,Delta", DPS_CONF_SRC_FLAG, err,
                                  sizeof err),
                     -1);
    assert_int_equal(c.peers.count, 2); /* the good entry did not stick */
    assert_int_equal(dps_conf_set(&toy, &c, "nope", "1", DPS_CONF_SRC_FLAG, err, sizeof err),
                     -1);
    assert_string_equal(err, "unknown option 'nope'");

    /* caps */
    char big[DPS_CONF_MAX_VALUE + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(dps_conf_set(&toy, &c, "name", big, DPS_CONF_SRC_FLAG, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "value longer than"));
    assert_int_equal(dps_conf_set(&toy, &c, "peers", "a,b,c,d,e,f,g,h,i", DPS_CONF_SRC_FLAG,
                                  err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "at most 8 entries"));
    dps_conf_free(&toy, &c);
}

static void test_list_sources(void **state)
{
    (void)state;
    toy_config c;
    char err[256];
    init(&c);
    /* the file's first value replaces the default, later ones add */
    assert_int_equal(dps_conf_set(&toy, &c, "peers", "one", DPS_CONF_SRC_FILE, err, sizeof err),
                     0);
    assert_int_equal(dps_conf_set(&toy, &c, "peers", "two, three", DPS_CONF_SRC_FILE, err,
                                  sizeof err),
                     0);
    assert_int_equal(c.peers.count, 3);
    /* the same for the first flag over the file */
    assert_int_equal(dps_conf_set(&toy, &c, "peers", "four", DPS_CONF_SRC_FLAG, err, sizeof err),
                     0);
    assert_int_equal(c.peers.count, 1);
    assert_string_equal(c.peers.items[0], "four");
    assert_int_equal(dps_conf_set(&toy, &c, "peers", "five", DPS_CONF_SRC_FLAG, err, sizeof err),
                     0);
    assert_int_equal(c.peers.count, 2);
    /* a file read after flags adds to them rather than replacing */
    assert_int_equal(dps_conf_set(&toy, &c, "peers", "six", DPS_CONF_SRC_FILE, err, sizeof err),
                     0);
    assert_int_equal(c.peers.count, 3);
    /* empty entries are refused */
    assert_int_equal(dps_conf_set(&toy, &c, "peers", "a,,b", DPS_CONF_SRC_FLAG, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "empty entry in list"));
    dps_conf_free(&toy, &c);
}

static void test_file(void **state)
{
    (void)state;
    char *path = write_temp("# toy\n"
                            "\n"
                            "  name = \"quoted\"  \n"
                            "worker-count=8\r\n"
                            "   # indented comment\n"
                            "peers = x\n"
                            "peers = y , z\n"
                            "verbose = yes\n");
    toy_config c;
    char err[512];
    init(&c);
    assert_int_equal(dps_conf_load_file(&toy, &c, path, err, sizeof err), 0);
    assert_string_equal(c.name, "quoted");
    assert_int_equal(c.workers, 8);
    assert_int_equal(c.peers.count, 3);
    assert_string_equal(c.peers.items[2], "z");
    assert_true(c.verbose);
    dps_conf_free(&toy, &c);
    remove_temp(path);

    struct {
        const char *text;
        const char *expect;
    } bad[] = {
        {"name = ok\n\nbogus = 1\n", ":3: unknown option 'bogus'"},
        {"just words\n", ":1: expected 'key = value'"},
        {"# c\nworker_count = 0\n", ":2: worker_count: '0': must be an integer from 1 to 64"},
        {"mode = \n", ":1: mode: '': must be one of"},
        {"name = \"\"\n", NULL}, /* empty string passes the hook: fine */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = write_temp(bad[i].text);
        init(&c);
        int rc = dps_conf_load_file(&toy, &c, path, err, sizeof err);
        if (bad[i].expect == NULL) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            if (strstr(err, bad[i].expect) == NULL || strstr(err, path) != err)
                fail_msg("error '%s' lacks '%s' after the path", err, bad[i].expect);
        }
        dps_conf_free(&toy, &c);
        remove_temp(path);
    }

    /* a line over the cap, a NUL byte, a missing file */
    char *longline = malloc(DPS_CONF_MAX_LINE + 16);
    assert_non_null(longline);
    memset(longline, ' ', DPS_CONF_MAX_LINE + 14);
    memcpy(longline + DPS_CONF_MAX_LINE + 2, "name=x\n", 7);
    longline[DPS_CONF_MAX_LINE + 9] = '\0';
    path = write_temp(longline);
    free(longline);
    init(&c);
    assert_int_equal(dps_conf_load_file(&toy, &c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1: line longer than"));
    dps_conf_free(&toy, &c);
    remove_temp(path);

    path = write_temp("name = x\n");
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("a\0b\n", 1, 4, f), 4);
    fclose(f);
    init(&c);
    assert_int_equal(dps_conf_load_file(&toy, &c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "NUL byte"));
    dps_conf_free(&toy, &c);
    remove_temp(path);

    init(&c);
    assert_int_equal(dps_conf_load_file(&toy, &c, "/nonexistent/toy.conf", err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "/nonexistent/toy.conf: "));
    dps_conf_free(&toy, &c);
}

static void test_args(void **state)
{
    (void)state;
    char *path = write_temp("peers = fromfile\nworker_count = 2\nname = filename\n");
    toy_config c;
    dps_conf_action action;
    const char *file;
    char err[512];

    /* flags before --config still win; the first flag replaces the file's list */
    init(&c);
    assert_int_equal(parse(&c, &action, &file, err, sizeof err, "--peers", "flagone", "-c",
                           path, "--peers=flagtwo", "--worker_count", "3", NULL),
                     0);
    assert_int_equal(action, DPS_CONF_ACTION_RUN);
    assert_string_equal(file, path);
    assert_int_equal(c.peers.count, 2);
    assert_string_equal(c.peers.items[0], "flagone");
    assert_string_equal(c.peers.items[1], "flagtwo");
    assert_int_equal(c.workers, 3);
    assert_string_equal(c.name, "filename"); /* untouched by flags */
    dps_conf_free(&toy, &c);

    /* the last --config counts; --check is reported */
    init(&c);
    assert_int_equal(parse(&c, &action, &file, err, sizeof err, "--config", "/nonexistent",
                           "--check", "--config", path, NULL),
                     0);
    assert_int_equal(action, DPS_CONF_ACTION_CHECK);
    assert_string_equal(c.name, "filename");
    dps_conf_free(&toy, &c);

    /* --help and --version win over anything, and nothing is read */
    init(&c);
    assert_int_equal(parse(&c, &action, &file, err, sizeof err, "--worker-count", "999",
                           "--config", "/nonexistent", "--help", NULL),
                     0);
    assert_int_equal(action, DPS_CONF_ACTION_HELP);
    assert_null(file);
    assert_int_equal(c.workers, 4);
    assert_int_equal(parse(&c, &action, &file, err, sizeof err, "-V", NULL), 0);
    assert_int_equal(action, DPS_CONF_ACTION_VERSION);
    assert_int_equal(parse(&c, &action, &file, err, sizeof err, "-h", NULL), 0);
    assert_int_equal(action, DPS_CONF_ACTION_HELP);
    dps_conf_free(&toy, &c);

    struct {
        const char *a1, *a2, *expect;
    } bad[] = {
        {"--bogus", NULL, "unknown option '--bogus' (see --help)"},
        {"stray", NULL, "unexpected argument 'stray' (see --help)"},
        {"--mode", NULL, "option '--mode' needs a value"},
        {"-c", NULL, "option '-c' needs a value"},
        {"--version=2", NULL, "option '--version=2' takes no value"},
        {"--worker-count=0", NULL, "--worker-count: '0': must be an integer from 1 to 64"},
        {"--verbose", "perhaps", "--verbose: 'perhaps': must be true or false"},
        {"--config", "/nonexistent/toy.conf", "/nonexistent/toy.conf: "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        init(&c);
        assert_int_equal(parse(&c, &action, &file, err, sizeof err, bad[i].a1, bad[i].a2,
                               NULL),
                         -1);
        if (strstr(err, bad[i].expect) == NULL)
            fail_msg("error '%s' lacks '%s'", err, bad[i].expect);
        dps_conf_free(&toy, &c);
    }
    remove_temp(path);
}

static void test_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    dps_conf_print_options(&toy, f);
    dps_conf_print_cli_help(f);
    fclose(f);
    const char *expected[] = {
        " --name NAME the name",
        "the name (default: toy)",
        "--peers PEER[,PEER]",
        "--worker-count N", /* '_' shown as '-' in the flag */
        "threads (default: 4; 1 to 64)",
        "--verbose BOOL",
        "(default: safe; one of fast, safe, paranoid)",
        "--log-level LEVEL",
        "-c, --config FILE",
        "--check",
        "-h, --help",
        "-V, --version",
    };
    /* no line is wider than 79 columns */
    for (const char *p = text; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        assert_true(n <= 79);
        p += n + (p[n] == '\n');
    }
    /* compare with the wrapping undone: runs of blanks become one space */
    char *flat = malloc(len + 1);
    assert_non_null(flat);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        bool blank = text[i] == ' ' || text[i] == '\n';
        if (blank && o > 0 && flat[o - 1] == ' ')
            continue;
        flat[o++] = blank ? ' ' : text[i];
    }
    flat[o] = '\0';
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (strstr(flat, expected[i]) == NULL)
            fail_msg("help lacks '%s' in:\n%s", expected[i], text);
    free(flat);
    free(text);
}

int main(void)
{
    dps_log_set_level(DPS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_default_is_reported),
        cmocka_unit_test(test_set_each_type),
        cmocka_unit_test(test_list_sources),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
