/* dpsctl's self-contained parts: command-line splitting and parsing, option
 * values mapped to JSON fields, connection strings, output formatting, and
 * the text helpers of the hub commands (Server-Sent Events, C2D properties,
 * telemetry lines).
 * These files depend on libc, jansson and dpscommon only, so the test
 * compiles them in directly and links with dpscommon alone (the CLI's
 * libcurl and pki parts are covered by the integration tests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../src/dpsctl/args.c"
#include "../../../src/dpsctl/connstr.c"
#include "../../../src/dpsctl/fields.c"
#include "../../../src/dpsctl/hub_util.c"
#include "../../../src/dpsctl/output.c"

/* argc of a NULL-terminated argv array declared in the test */
#define ARGC(argv) ((int)(sizeof(argv) / sizeof((argv)[0])) - 1)

/* The option table of `enrollment show` and `enrollment-group
 * compute-device-key`, as the commands declare them. */
static const dpsctl_cmd_opt show_opts[] = {
    {DPSCTL_OPT_ENROLLMENT_ID, "registration-id", true, NULL},
    {DPSCTL_OPT_SHOW_KEYS, NULL, false, NULL},
    {DPSCTL_OPT_NONE, NULL, false, NULL},
};
static const dpsctl_cmd_opt regen_opts[] = {
    {DPSCTL_OPT_POLICY_NAME, NULL, true, NULL},
    {DPSCTL_OPT_KEY_TYPE, NULL, true, NULL},
    {DPSCTL_OPT_NONE, NULL, false, NULL},
};

/* Splits and parses argv for cmd; returns the parse result. */
static int parse(int argc, char **argv, const dpsctl_cmd_opt *cmd, dpsctl_args *out, char *err,
                 size_t errlen)
{
    dpsctl_split s;
    int rc = dpsctl_args_split(argc, argv, &s, err, errlen);
    if (rc == 0)
        rc = dpsctl_args_parse(&s, cmd, out, err, errlen);
    dpsctl_split_free(&s);
    return rc;
}

static void test_split_separates_words_and_options(void **state)
{
    (void)state;
    char *argv[] = {"dpsctl", "--login", "HostName=h", "enrollment", "--enrollment-id=a", "show",
                       "-o", "table", "--show-keys", NULL};
    dpsctl_split s;
    char err[256];
    assert_int_equal(dpsctl_args_split(ARGC(argv), argv, &s, err, sizeof err), 0);
    assert_int_equal(s.nwords, 2);
    assert_string_equal(s.words[0], "enrollment");
    assert_string_equal(s.words[1], "show");
    /* argv[0], --login and its value, --enrollment-id=a, -o and its value, --show-keys */
    assert_int_equal(s.nopts, 7);
    assert_string_equal(s.opts[2], "HostName=h");
    assert_null(s.opts[7]);
    dpsctl_split_free(&s);
}

static void test_split_value_that_looks_like_a_word(void **state)
{
    (void)state;
    /* the value after a value-taking option is never a command word */
    char *argv[] = {"dpsctl", "enrollment", "show", "--enrollment-id", "list", NULL};
    dpsctl_split s;
    char err[256];
    assert_int_equal(dpsctl_args_split(ARGC(argv), argv, &s, err, sizeof err), 0);
    assert_int_equal(s.nwords, 2);
    assert_string_equal(s.words[1], "show");
    dpsctl_split_free(&s);
}

static void test_split_errors(void **state)
{
    (void)state;
    dpsctl_split s;
    char err[256];
    char *unknown[] = {"dpsctl", "enrollment", "show", "--enroll", "x", NULL};
    assert_int_equal(dpsctl_args_split(ARGC(unknown), unknown, &s, err, sizeof err), -1);
    assert_string_equal(err, "unknown option '--enroll'");
    /* words seen before the error stay, for the hint */
    assert_int_equal(s.nwords, 2);
    dpsctl_split_free(&s);

    char *missing[] = {"dpsctl", "enrollment", "show", "--enrollment-id", NULL};
    assert_int_equal(dpsctl_args_split(ARGC(missing), missing, &s, err, sizeof err), -1);
    assert_string_equal(err, "option '--enrollment-id' needs a value (ID)");
    dpsctl_split_free(&s);

    char *flag_value[] = {"dpsctl", "enrollment", "show", "--show-keys=yes", NULL};
    assert_int_equal(dpsctl_args_split(ARGC(flag_value), flag_value, &s, err, sizeof err), -1);
    assert_string_equal(err, "option '--show-keys' takes no value");
    dpsctl_split_free(&s);

    char *bundle[] = {"dpsctl", "-hx", NULL};
    assert_int_equal(dpsctl_args_split(ARGC(bundle), bundle, &s, err, sizeof err), -1);
    dpsctl_split_free(&s);

    char *many[] = {"dpsctl", "a", "b", "c", "d", "e", NULL};
    assert_int_equal(dpsctl_args_split(ARGC(many), many, &s, err, sizeof err), -1);
    assert_string_equal(err, "unexpected argument 'e'");
    dpsctl_split_free(&s);
}

static void test_split_double_dash(void **state)
{
    (void)state;
    char *argv[] = {"dpsctl", "enrollment", "--", "--show-keys", NULL};
    dpsctl_split s;
    char err[256];
    assert_int_equal(dpsctl_args_split(ARGC(argv), argv, &s, err, sizeof err), 0);
    assert_int_equal(s.nwords, 2);
    assert_string_equal(s.words[1], "--show-keys");
    assert_int_equal(s.nopts, 1);
    dpsctl_split_free(&s);
}

static void test_parse_values_alias_and_flags(void **state)
{
    (void)state;
    dpsctl_args a;
    char err[256];
    char *argv[] = {"dpsctl", "enrollment", "show", "--registration-id", "pump-17", "--show-keys",
                       "-otsv", "--timeout=5", NULL};
    assert_int_equal(parse(ARGC(argv), argv, show_opts, &a, err, sizeof err), 0);
    assert_string_equal(a.val[DPSCTL_OPT_ENROLLMENT_ID], "pump-17");
    assert_true(dpsctl_args_flag(&a, DPSCTL_OPT_SHOW_KEYS));
    assert_string_equal(a.val[DPSCTL_OPT_OUTPUT], "tsv");
    assert_string_equal(a.val[DPSCTL_OPT_TIMEOUT], "5");
    assert_null(a.val[DPSCTL_OPT_LOGIN]);
    assert_false(dpsctl_args_flag(&a, DPSCTL_OPT_HELP));
}

static void test_parse_runs_repeatedly(void **state)
{
    (void)state;
    /* getopt keeps global state; every parse must start afresh */
    for (int i = 0; i < 3; i++) {
        dpsctl_args a;
        char err[256];
        char *argv[] = {"dpsctl", "enrollment", "show", "--enrollment-id", "x", NULL};
        assert_int_equal(parse(ARGC(argv), argv, show_opts, &a, err, sizeof err), 0);
        assert_string_equal(a.val[DPSCTL_OPT_ENROLLMENT_ID], "x");
    }
}

static void test_parse_refusals(void **state)
{
    (void)state;
    dpsctl_args a;
    char err[256];

    char *twice[] = {"dpsctl", "enrollment", "show", "--enrollment-id", "a", "--registration-id", "b", NULL};
    assert_int_equal(parse(ARGC(twice), twice, show_opts, &a, err, sizeof err), -1);
    assert_string_equal(err, "option '--enrollment-id' given more than once");

    char *foreign[] = {"dpsctl", "enrollment", "show", "--enrollment-id", "a", "--key-type", "primary", NULL};
    assert_int_equal(parse(ARGC(foreign), foreign, show_opts, &a, err, sizeof err), -1);
    assert_string_equal(err, "option '--key-type' is not valid here");

    /* --key is a real option elsewhere and a prefix of --key-type here: it
     * must not be taken as an abbreviation */
    char *prefix[] = {"dpsctl", "policy", "regenerate-key", "--policy-name", "p", "--key", "primary", NULL};
    assert_int_equal(parse(ARGC(prefix), prefix, regen_opts, &a, err, sizeof err), -1);
    assert_string_equal(err, "option '--key' is not valid here");

    char *required[] = {"dpsctl", "enrollment", "show", "--show-keys", NULL};
    assert_int_equal(parse(ARGC(required), required, show_opts, &a, err, sizeof err), -1);
    assert_string_equal(err, "missing required option '--enrollment-id'");

    /* --help needs no required option */
    char *help[] = {"dpsctl", "enrollment", "show", "--help", NULL};
    assert_int_equal(parse(ARGC(help), help, show_opts, &a, err, sizeof err), 0);
    assert_true(dpsctl_args_flag(&a, DPSCTL_OPT_HELP));

    /* global-only parsing (no command yet) refuses command options */
    char *early[] = {"dpsctl", "--enrollment-id", "a", NULL};
    assert_int_equal(parse(ARGC(early), early, NULL, &a, err, sizeof err), -1);
}

static void test_help_lists_options(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    dpsctl_args_print_help(f, show_opts);
    fclose(f);
    assert_non_null(strstr(text, "--enrollment-id, --registration-id ID"));
    assert_non_null(strstr(text, "(required)"));
    assert_non_null(strstr(text, "--show-keys"));
    assert_null(strstr(text, "--login"));
    free(text);
}

static void test_enums_and_values(void **state)
{
    (void)state;
    assert_string_equal(dpsctl_enum_lookup(dpsctl_enum_allocation_policy, "GeoLatency"),
                        "geoLatency");
    assert_string_equal(dpsctl_enum_lookup(dpsctl_enum_instance_allocation, "static"), "Static");
    assert_null(dpsctl_enum_lookup(dpsctl_enum_instance_allocation, "custom"));
    assert_string_equal(dpsctl_enum_lookup(dpsctl_enum_attestation_type, "SymmetricKey"),
                        "symmetricKey");
    char names[128];
    dpsctl_enum_names(dpsctl_enum_provisioning_status, names, sizeof names);
    assert_string_equal(names, "enabled or disabled");
    dpsctl_enum_names(dpsctl_enum_instance_allocation, names, sizeof names);
    assert_string_equal(names, "hashed, geolatency or static");

    bool b;
    assert_int_equal(dpsctl_parse_bool("TRUE", &b), 0);
    assert_true(b);
    assert_int_equal(dpsctl_parse_bool("no", &b), -1);
    long long n;
    assert_int_equal(dpsctl_parse_long("1000", 1, 1000, &n), 0);
    assert_int_equal(n, 1000);
    assert_int_equal(dpsctl_parse_long("1001", 1, 1000, &n), -1);
    assert_int_equal(dpsctl_parse_long("10x", 1, 1000, &n), -1);

    json_t *list = dpsctl_split_list(" hub1, hub2  hub3,");
    char *s = json_dumps(list, JSON_COMPACT);
    assert_string_equal(s, "[\"hub1\",\"hub2\",\"hub3\"]");
    free(s);
    json_decref(list);
    list = dpsctl_split_list("");
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

static void test_rights_normalize(void **state)
{
    (void)state;
    char err[256];
    char *r = dpsctl_rights_normalize("serviceconfig EnrollmentRead,DeviceConnect", err,
                                      sizeof err);
    assert_string_equal(r, "ServiceConfig, EnrollmentRead, DeviceConnect");
    free(r);
    assert_null(dpsctl_rights_normalize("ServiceConfig Foo", err, sizeof err));
    assert_non_null(strstr(err, "unknown right 'Foo'"));
    assert_null(dpsctl_rights_normalize("EnrollmentRead enrollmentread", err, sizeof err));
    assert_null(dpsctl_rights_normalize(" , ", err, sizeof err));
}

static const dpsctl_field test_fields[] = {
    {DPSCTL_OPT_PROVISIONING_STATUS, "provisioningStatus", DPSCTL_FIELD_ENUM,
     dpsctl_enum_provisioning_status, 0, 0},
    {DPSCTL_OPT_INITIAL_TWIN_PROPERTIES, "initialTwin.properties.desired", DPSCTL_FIELD_OBJECT,
     NULL, 0, 0},
    {DPSCTL_OPT_INITIAL_TWIN_TAGS, "initialTwin.tags", DPSCTL_FIELD_OBJECT, NULL, 0, 0},
    {DPSCTL_OPT_EDGE_ENABLED, "capabilities.iotEdge", DPSCTL_FIELD_BOOL, NULL, 0, 0},
    {DPSCTL_OPT_REPROVISION_POLICY, "reprovisionPolicy", DPSCTL_FIELD_ENUM_JSON,
     dpsctl_enum_reprovision_policy, 0, 0},
    {DPSCTL_OPT_ALLOCATION_WEIGHT, "allocationWeight", DPSCTL_FIELD_INT, NULL, 1, 1000},
    {DPSCTL_OPT_IOT_HUBS, "iotHubs", DPSCTL_FIELD_LIST, NULL, 0, 0},
};
#define N_TEST_FIELDS (sizeof test_fields / sizeof test_fields[0])

static void test_fields_apply(void **state)
{
    (void)state;
    dpsctl_args a;
    memset(&a, 0, sizeof a);
    a.val[DPSCTL_OPT_PROVISIONING_STATUS] = "Disabled";
    a.val[DPSCTL_OPT_INITIAL_TWIN_PROPERTIES] = "{\"rate\": 15}";
    a.val[DPSCTL_OPT_INITIAL_TWIN_TAGS] = "{\"plant\": \"north\"}";
    a.val[DPSCTL_OPT_EDGE_ENABLED] = "false";
    a.val[DPSCTL_OPT_REPROVISION_POLICY] = "never";
    a.val[DPSCTL_OPT_ALLOCATION_WEIGHT] = "7";
    a.val[DPSCTL_OPT_IOT_HUBS] = "h1 h2";
    /* an existing member next to the new ones must survive */
    json_t *obj = json_pack("{s:{s:{s:i}}}", "initialTwin", "properties", "reported", 1);
    char err[256];
    assert_int_equal(dpsctl_fields_apply(obj, test_fields, N_TEST_FIELDS, &a, err, sizeof err),
                     0);
    char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"allocationWeight\":7,\"capabilities\":{\"iotEdge\":false},"
                           "\"initialTwin\":{\"properties\":{\"desired\":{\"rate\":15},"
                           "\"reported\":1},\"tags\":{\"plant\":\"north\"}},"
                           "\"iotHubs\":[\"h1\",\"h2\"],\"provisioningStatus\":\"disabled\","
                           "\"reprovisionPolicy\":{\"migrateDeviceData\":false,"
                           "\"updateHubAssignment\":false}}");
    free(s);
    json_decref(obj);
}

static void test_fields_apply_errors(void **state)
{
    (void)state;
    char err[256];
    json_t *obj = json_object();
    dpsctl_args a;

    memset(&a, 0, sizeof a);
    a.val[DPSCTL_OPT_PROVISIONING_STATUS] = "paused";
    assert_int_equal(dpsctl_fields_apply(obj, test_fields, N_TEST_FIELDS, &a, err, sizeof err),
                     -1);
    assert_string_equal(err, "--provisioning-status: 'paused' is not one of enabled or disabled");

    memset(&a, 0, sizeof a);
    a.val[DPSCTL_OPT_ALLOCATION_WEIGHT] = "0";
    assert_int_equal(dpsctl_fields_apply(obj, test_fields, N_TEST_FIELDS, &a, err, sizeof err),
                     -1);
    assert_string_equal(err, "--allocation-weight: '0' is not a number from 1 to 1000");

    memset(&a, 0, sizeof a);
    a.val[DPSCTL_OPT_INITIAL_TWIN_TAGS] = "[1]";
    assert_int_equal(dpsctl_fields_apply(obj, test_fields, N_TEST_FIELDS, &a, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "--initial-twin-tags: "));

    memset(&a, 0, sizeof a);
    a.val[DPSCTL_OPT_EDGE_ENABLED] = "1";
    assert_int_equal(dpsctl_fields_apply(obj, test_fields, N_TEST_FIELDS, &a, err, sizeof err),
                     -1);
    json_decref(obj);
}

static void test_object_from_file(void **state)
{
    (void)state;
    char path[] = "/tmp/dpsctl-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "{\"a\": {\"b\": true}}\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    char arg[64];
    snprintf(arg, sizeof arg, "@%s", path);
    char err[256];
    json_t *v = dpsctl_parse_object(arg, err, sizeof err);
    unlink(path);
    assert_non_null(v);
    assert_true(json_is_true(dpsctl_json_path(v, "a.b")));
    json_decref(v);
    assert_null(dpsctl_parse_object("@/nonexistent/x.json", err, sizeof err));
    assert_string_equal(err, "cannot open /nonexistent/x.json");
}

static void test_connstr(void **state)
{
    (void)state;
    dpsctl_connstr cs;
    char err[256];
    assert_int_equal(dpsctl_connstr_parse(" hostname=localhost:8443; SharedAccessKeyName=owner;"
                                          "SharedAccessKey=ab+c/d==;Extra=1;",
                                          &cs, err, sizeof err),
                     0);
    assert_string_equal(cs.host_name, "localhost:8443");
    assert_string_equal(cs.key_name, "owner");
    assert_string_equal(cs.key, "ab+c/d==");
    dpsctl_connstr_free(&cs);

    assert_int_equal(dpsctl_connstr_parse("SharedAccessKey=abc", &cs, err, sizeof err), -1);
    assert_string_equal(err, "connection string has no HostName");
    assert_int_equal(dpsctl_connstr_parse("HostName=a;HostName=b", &cs, err, sizeof err), -1);
    assert_int_equal(dpsctl_connstr_parse("HostName=a;junk", &cs, err, sizeof err), -1);
    /* the key itself never appears in a message */
    assert_int_equal(dpsctl_connstr_parse("HostName=a;SharedAccessKey=s3cret;SharedAccessKey=x",
                                          &cs, err, sizeof err),
                     -1);
    assert_null(strstr(err, "s3cret"));
}

/* Runs dpsctl_print into a string. */
static char *render(const json_t *v, dpsctl_output_format fmt, const dpsctl_column *cols)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(dpsctl_print(f, v, fmt, cols), 0);
    fclose(f);
    return text;
}

static const dpsctl_column columns[] = {
    {"RegistrationId", "registrationId"},
    {"Attestation", "attestation.type"},
    {"IotHubs", "iotHubs"},
    {"Edge", "capabilities.iotEdge"},
    {NULL, NULL},
};

static void test_output_formats(void **state)
{
    (void)state;
    json_t *rows = json_loads("[{\"registrationId\":\"pump-17\",\"attestation\":{\"type\":"
                              "\"tpm\"},\"iotHubs\":[\"h1\",\"h2\"],\"capabilities\":{\"iotEdge\""
                              ":true}},{\"registrationId\":\"x\"}]",
                              0, NULL);
    assert_non_null(rows);
    char *t = render(rows, DPSCTL_OUT_TABLE, columns);
    assert_string_equal(t, "RegistrationId  Attestation  IotHubs  Edge\n"
                           "--------------  -----------  -------  ----\n"
                           "pump-17         tpm          h1 h2    true\n"
                           "x\n");
    free(t);
    t = render(rows, DPSCTL_OUT_TSV, columns);
    assert_string_equal(t, "pump-17\ttpm\th1 h2\ttrue\nx\t\t\t\n");
    free(t);
    t = render(json_array_get(rows, 1), DPSCTL_OUT_JSON, columns);
    assert_string_equal(t, "{\n  \"registrationId\": \"x\"\n}\n");
    free(t);
    json_decref(rows);

    json_t *key = json_string("abc=");
    t = render(key, DPSCTL_OUT_TSV, NULL);
    assert_string_equal(t, "abc=\n");
    free(t);
    t = render(key, DPSCTL_OUT_JSON, NULL);
    assert_string_equal(t, "\"abc=\"\n");
    free(t);
    json_decref(key);
}

static void test_output_single_object_without_columns(void **state)
{
    (void)state;
    json_t *obj = json_loads("{\"idScope\":\"0ne00000001\",\"endpoints\":{\"https\":\"u\"}}", 0,
                             NULL);
    char *t = render(obj, DPSCTL_OUT_TABLE, NULL);
    assert_string_equal(t, "Name       Value\n"
                           "---------  -------------\n"
                           "idScope    0ne00000001\n"
                           "endpoints  {\"https\":\"u\"}\n");
    free(t);
    json_decref(obj);
}

static void test_output_cuts_long_cells_and_flattens_lines(void **state)
{
    (void)state;
    char longtext[300];
    memset(longtext, 'a', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    json_t *rows = json_pack("[{s:s},{s:s}]", "registrationId", longtext, "registrationId",
                             "two\nlines");
    char *t = render(rows, DPSCTL_OUT_TABLE, columns);
    /* 120 characters: 117 kept and "..." */
    assert_non_null(strstr(t, "aaa...\n"));
    assert_null(strstr(t, "two\n"));
    assert_non_null(strstr(t, "two lines"));
    free(t);
    json_decref(rows);
}

static void test_redact(void **state)
{
    (void)state;
    static const char *const secrets[] = {"attestation.symmetricKey", "primaryKey", NULL};
    json_t *v = json_loads("[{\"primaryKey\":\"k\",\"attestation\":{\"type\":\"symmetricKey\","
                           "\"symmetricKey\":{\"primaryKey\":\"p\"}}},{\"rights\":\"r\"}]",
                           0, NULL);
    dpsctl_redact(v, secrets);
    char *s = json_dumps(v, JSON_COMPACT);
    assert_string_equal(s, "[{\"attestation\":{\"type\":\"symmetricKey\"}},{\"rights\":\"r\"}]");
    free(s);
    json_decref(v);
}

/* ---- hub commands */

/* The option table of `hub device create` in short: hub connection options
 * are command options, not global ones. */
static const dpsctl_cmd_opt hub_opts[] = {
    {DPSCTL_OPT_DEVICE_ID, NULL, true, NULL},
    {DPSCTL_OPT_AUTH_METHOD, NULL, false, NULL},
    {DPSCTL_OPT_HUB_LOGIN, NULL, false, NULL},
    {DPSCTL_OPT_HUB_ENDPOINT, NULL, false, NULL},
    {DPSCTL_OPT_NONE, NULL, false, NULL},
};

static void test_hub_words_and_options(void **state)
{
    (void)state;
    char *argv[] = {"dpsctl", "hub", "--hub-login", "HostName=h", "device", "create",
                    "--device-id=d1", "--auth-method", "x509_ca", "-o", "table", NULL};
    dpsctl_split s;
    char err[256];
    assert_int_equal(dpsctl_args_split(ARGC(argv), argv, &s, err, sizeof err), 0);
    assert_int_equal(s.nwords, 3);
    assert_string_equal(s.words[2], "create");
    dpsctl_args a;
    assert_int_equal(dpsctl_args_parse(&s, hub_opts, &a, err, sizeof err), 0);
    assert_string_equal(a.val[DPSCTL_OPT_HUB_LOGIN], "HostName=h");
    assert_string_equal(a.val[DPSCTL_OPT_DEVICE_ID], "d1");
    assert_string_equal(a.val[DPSCTL_OPT_OUTPUT], "table");
    /* dpsd commands do not take the hub options */
    assert_int_equal(dpsctl_args_parse(&s, show_opts, &a, err, sizeof err), -1);
    assert_string_equal(err, "option '--hub-login' is not valid here");
    dpsctl_split_free(&s);
}

typedef struct {
    char text[1024];
    int calls;
    int stop_after; /* 0: never */
} sse_log;

static int log_event(void *arg, const char *event, const char *id, const char *data, size_t len)
{
    sse_log *l = arg;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "[%s|%s|%.*s]", event, id, (int)len, data);
    l->calls++;
    return (l->stop_after > 0 && l->calls >= l->stop_after) ? 1 : 0;
}

/* Feeds text to a fresh parser in pieces of step bytes (0: all at once). */
static int feed_in_steps(const char *text, size_t step, size_t max, sse_log *l)
{
    dpsctl_sse p;
    dpsctl_sse_init(&p, max);
    size_t len = strlen(text);
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < len; off += step ? step : len) {
        size_t n = (step && off + step < len) ? step : len - off;
        rc = dpsctl_sse_feed(&p, text + off, n, log_event, l);
    }
    dpsctl_sse_free(&p);
    return rc;
}

static void test_sse_parser(void **state)
{
    (void)state;
    /* hubd's shape, a heartbeat comment, CRLF and bare CR line ends, a
     * multi-line data field, an event without data (dropped), fields
     * without a space after the colon, and an unnamed event */
    static const char stream[] = ": heartbeat\n\n"
                                 "id: 17\nevent: telemetry\ndata: {\"a\":1}\n\n"
                                 "id: 18\r\nevent: telemetry\r\ndata: line1\r\ndata:line2\r\n\r\n"
                                 "event: telemetry\rid: 19\r\r"
                                 "retry: 5\ndata\n\n"
                                 "data:  two spaces\n\n"
                                 "data: unterminated";
    static const char expected[] = "[telemetry|17|{\"a\":1}][telemetry|18|line1\nline2]"
                                   "[message|19|][message|19| two spaces]";
    static const size_t steps[] = {0, 1, 2, 3, 7};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        sse_log l;
        memset(&l, 0, sizeof l);
        assert_int_equal(feed_in_steps(stream, steps[i], 4096, &l), 0);
        assert_string_equal(l.text, expected);
    }
    /* a stop from the callback ends the feed at once */
    sse_log l;
    memset(&l, 0, sizeof l);
    l.stop_after = 1;
    assert_int_equal(feed_in_steps(stream, 0, 4096, &l), 1);
    assert_int_equal(l.calls, 1);
    /* a line or an event longer than the bound is refused */
    memset(&l, 0, sizeof l);
    assert_int_equal(feed_in_steps("data: 0123456789abcdef\n\n", 3, 16, &l), -2);
    memset(&l, 0, sizeof l);
    assert_int_equal(feed_in_steps("data: 01234567\ndata: 01234567\n\n", 0, 16, &l), -2);
    assert_int_equal(l.calls, 0);
}

static void test_c2d_prop_headers(void **state)
{
    (void)state;
    char err[256];
    char **h = dpsctl_c2d_prop_headers("priority=high;source=ops,,empty=,eq=a=b", err,
                                       sizeof err);
    assert_non_null(h);
    assert_string_equal(h[0], "x-hubd-prop-priority: high");
    assert_string_equal(h[1], "x-hubd-prop-source: ops");
    assert_string_equal(h[2], "x-hubd-prop-empty;");
    assert_string_equal(h[3], "x-hubd-prop-eq: a=b");
    assert_null(h[4]);
    dpsctl_strv_free(h);
    h = dpsctl_c2d_prop_headers("", err, sizeof err);
    assert_non_null(h);
    assert_null(h[0]);
    dpsctl_strv_free(h);

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"novalue", "'novalue' is not name=value"},
        {"=v", "a property name has 1 to 128 characters"},
        {"sp ace=1", "property name 'sp ace' may hold only"},
        {"a:b=1", "property name 'a:b' may hold only"},
        {"A=1,a=2", "property 'a' given twice"},
        {"empty=,EMPTY=x", "property 'EMPTY' given twice"},
        {"k=\x01", "the value of 'k' holds a control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(dpsctl_c2d_prop_headers(bad[i].text, err, sizeof err));
        assert_non_null(strstr(err, bad[i].why));
    }
    /* hubd's bounds: 32 properties, values up to 1024 bytes */
    char many[33 * 8 + 1] = "";
    for (int i = 0; i < 33; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "p%02d=1,", i);
    assert_null(dpsctl_c2d_prop_headers(many, err, sizeof err));
    assert_string_equal(err, "at most 32 properties");
    many[32 * 6] = '\0';
    h = dpsctl_c2d_prop_headers(many, err, sizeof err);
    assert_non_null(h);
    assert_non_null(h[31]);
    dpsctl_strv_free(h);
    char longval[1100] = "k=";
    memset(longval + 2, 'v', 1025);
    longval[1027] = '\0';
    assert_null(dpsctl_c2d_prop_headers(longval, err, sizeof err));
    assert_string_equal(err, "the value of 'k' is longer than 1024 bytes");
}

static void test_hub_values(void **state)
{
    (void)state;
    assert_true(dpsctl_thumbprint_valid("0123456789abcdefABCDEF0123456789abcdef01"));
    assert_true(dpsctl_thumbprint_valid(
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(dpsctl_thumbprint_valid("0123456789abcdef0123456789abcdef0123456"));
    assert_false(dpsctl_thumbprint_valid("g123456789abcdef0123456789abcdef01234567"));
    assert_false(dpsctl_thumbprint_valid(""));

    char err[256];
    json_t *v = dpsctl_parse_json_value("\"text\"", 100, err, sizeof err);
    assert_true(json_is_string(v));
    json_decref(v);
    v = dpsctl_parse_json_value("[1, {\"a\": null}]", 100, err, sizeof err);
    assert_true(json_is_array(v));
    json_decref(v);
    v = dpsctl_parse_json_value("42", 100, err, sizeof err);
    assert_int_equal(json_integer_value(v), 42);
    json_decref(v);
    assert_null(dpsctl_parse_json_value("hello", 100, err, sizeof err));
    assert_non_null(strstr(err, "not JSON"));
    assert_null(dpsctl_parse_json_value("{\"a\":1,\"a\":2}", 100, err, sizeof err));
    assert_null(dpsctl_parse_json_value("[1,2,3]", 4, err, sizeof err));
    assert_string_equal(err, "longer than 4 bytes");
    assert_null(dpsctl_parse_json_value("@/nonexistent/p.json", 100, err, sizeof err));
    assert_string_equal(err, "cannot open /nonexistent/p.json");
}

static void test_event_line(void **state)
{
    (void)state;
    json_t *ev = json_loads("{\"sequence\":17,\"enqueuedTimeUtc\":\"2026-03-02T08:15:30Z\","
                            "\"hub\":\"hub1\",\"deviceId\":\"sensor-1\","
                            "\"systemProperties\":{\"messageId\":\"m\"},"
                            "\"applicationProperties\":{\"alert\":\"no\",\"n\":\"2\"},"
                            "\"body\":\"{\\\"t\\\":1}\\n\\tend\"}",
                            JSON_PRESERVE_ORDER, NULL);
    assert_non_null(ev);
    char *s = dpsctl_event_line(ev, DPSCTL_OUT_JSON);
    assert_null(strchr(s, '\n'));
    json_t *back = json_loads(s, 0, NULL);
    assert_true(json_equal(back, ev));
    json_decref(back);
    free(s);
    /* control characters in the body become spaces: one event, one line */
    s = dpsctl_event_line(ev, DPSCTL_OUT_TABLE);
    assert_string_equal(s, "2026-03-02T08:15:30Z  sensor-1  {\"t\":1}  end  alert=no n=2");
    free(s);
    s = dpsctl_event_line(ev, DPSCTL_OUT_TSV);
    assert_string_equal(s, "17\t2026-03-02T08:15:30Z\tsensor-1\t{\"t\":1}  end\t"
                           "{\"alert\":\"no\",\"n\":\"2\"}");
    free(s);
    json_decref(ev);

    ev = json_loads("{\"sequence\":3,\"enqueuedTimeUtc\":\"t\",\"deviceId\":\"d\","
                    "\"body\":\"/wA=\",\"bodyEncoding\":\"base64\"}",
                    0, NULL);
    s = dpsctl_event_line(ev, DPSCTL_OUT_TABLE);
    assert_string_equal(s, "t  d  base64:/wA=");
    free(s);
    s = dpsctl_event_line(ev, DPSCTL_OUT_TSV);
    assert_string_equal(s, "3\tt\td\tbase64:/wA=\t{}");
    free(s);
    json_decref(ev);
}

/* The options of `certificate verify` / `create`, as cmd_certificate.c
 * declares them: --name, --path, --etag and --verified BOOL. */
static void test_certificate_options(void **state)
{
    (void)state;
    static const dpsctl_cmd_opt verify_opts[] = {
        {DPSCTL_OPT_NAME, NULL, true, NULL},
        {DPSCTL_OPT_PATH, NULL, true, NULL},
        {DPSCTL_OPT_ETAG, NULL, false, NULL},
        {DPSCTL_OPT_VERIFIED, NULL, false, NULL},
        {DPSCTL_OPT_NONE, NULL, false, NULL},
    };
    char *argv[] = {"dpsctl", "certificate", "verify", "--name", "fleet-root", "--path=pop.pem",
                    "--verified", "false", NULL};
    dpsctl_args a;
    char err[256];
    assert_int_equal(parse(ARGC(argv), argv, verify_opts, &a, err, sizeof err), 0);
    assert_string_equal(a.val[DPSCTL_OPT_NAME], "fleet-root");
    assert_string_equal(a.val[DPSCTL_OPT_PATH], "pop.pem");
    assert_string_equal(a.val[DPSCTL_OPT_VERIFIED], "false");
    assert_null(a.val[DPSCTL_OPT_ETAG]);
    bool v = true;
    assert_int_equal(dpsctl_parse_bool(a.val[DPSCTL_OPT_VERIFIED], &v), 0);
    assert_false(v);

    char *missing[] = {"dpsctl", "certificate", "verify", "--name", "fleet-root", NULL};
    assert_int_equal(parse(ARGC(missing), missing, verify_opts, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "--path"));
    /* --name belongs to the certificate commands only */
    char *elsewhere[] = {"dpsctl", "enrollment", "show", "--enrollment-id", "x", "--name", "y",
                         NULL};
    assert_int_equal(parse(ARGC(elsewhere), elsewhere, show_opts, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "--name"));
    /* --verified takes a value */
    char *novalue[] = {"dpsctl", "certificate", "create", "--verified", NULL};
    dpsctl_split sp;
    assert_int_equal(dpsctl_args_split(ARGC(novalue), novalue, &sp, err, sizeof err), -1);
    assert_non_null(strstr(err, "--verified"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_separates_words_and_options),
        cmocka_unit_test(test_split_value_that_looks_like_a_word),
        cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_split_double_dash),
        cmocka_unit_test(test_parse_values_alias_and_flags),
        cmocka_unit_test(test_parse_runs_repeatedly),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_help_lists_options),
        cmocka_unit_test(test_enums_and_values),
        cmocka_unit_test(test_rights_normalize),
        cmocka_unit_test(test_fields_apply),
        cmocka_unit_test(test_fields_apply_errors),
        cmocka_unit_test(test_object_from_file),
        cmocka_unit_test(test_connstr),
        cmocka_unit_test(test_output_formats),
        cmocka_unit_test(test_output_single_object_without_columns),
        cmocka_unit_test(test_output_cuts_long_cells_and_flattens_lines),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_hub_words_and_options),
        cmocka_unit_test(test_sse_parser),
        cmocka_unit_test(test_c2d_prop_headers),
        cmocka_unit_test(test_hub_values),
        cmocka_unit_test(test_event_line),
        cmocka_unit_test(test_certificate_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
