/* hubd's admin API on plain request/response structs, over a real SQLite
 * store and a generated PKI in a temporary data directory: the admin key
 * file, authorisation, adding and listing hubs, and the certificate that
 * follows the hubs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "admin.h"
#include "common/sas.h"
#include "common/timeutil.h"
#include "config.h"
#include "instance.h"
#include "model/hubs.h"
#include "model/registry.h"
#include "pki/pki.h"

typedef struct {
    char dir[64];
    hubd_config cfg;
    hubd_ctx ctx;
    hubd_instance_tls tls;
    hubd_admin *admin;
    char key_b64[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hubd-admin-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(hubd_config_init(&f->cfg), 0);
    char err[512];
    assert_int_equal(hubd_config_set(&f->cfg, "data_dir", f->dir, true, err, sizeof err), 0);
    assert_int_equal(hubd_config_finish(&f->cfg, err, sizeof err), 0);
    if (hubd_instance_open(&f->ctx, &f->cfg, &f->tls, err, sizeof err) != 0)
        fail_msg("instance: %s", err);
    f->admin = hubd_admin_new(&f->ctx, NULL, 0, err, sizeof err);
    if (f->admin == NULL)
        fail_msg("admin: %s", err);

    char path[128];
    snprintf(path, sizeof path, "%s/admin.key", f->dir);
    FILE *kf = fopen(path, "r");
    assert_non_null(kf);
    assert_non_null(fgets(f->key_b64, sizeof f->key_b64, kf));
    fclose(kf);
    f->key_b64[strcspn(f->key_b64, "\n")] = '\0';
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hubd_admin_free(&f->admin);
    hubd_instance_close(&f->ctx);
    hubd_config_free(&f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

/* Runs one request through the admin handler; returns the parsed body. */
static json_t *call(fixture *f, dps_http_method m, const char *path, const char *auth,
                    int *status, bool *handled)
{
    dps_http_request req;
    memset(&req, 0, sizeof req);
    req.method = m;
    req.path = path;
    dps_http_header h = {"authorization", auth};
    req.headers = &h;
    req.nheaders = auth != NULL ? 1 : 0;
    assert_int_equal(dps_http_split_path(&req, path), 0);
    dps_http_response res;
    memset(&res, 0, sizeof res);
    *handled = hubd_admin_handle(f->admin, &req, &res);
    dps_http_request_free_segments(&req);
    *status = res.status;
    json_t *body = NULL;
    if (res.body != NULL)
        body = json_loadb(res.body, res.body_len, 0, NULL);
    dps_http_response_free(&res);
    return body;
}

static char *admin_token(fixture *f, const char *skn, int64_t ttl)
{
    char *t = dps_sas_build("localhost:8444", f->key_b64, skn, dps_now_s() + ttl);
    assert_non_null(t);
    return t;
}

static const char *error_code(const json_t *body)
{
    static char code[64];
    const char *msg = json_string_value(json_object_get(body, "Message"));
    assert_non_null(msg);
    assert_true(strncmp(msg, "ErrorCode:", 10) == 0);
    snprintf(code, sizeof code, "%.*s", (int)strcspn(msg + 10, ";"), msg + 10);
    return code;
}

static void test_key_file(void **state)
{
    fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/admin.key", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    assert_true(strlen(f->key_b64) >= 43);

    /* A second start reads the same key. */
    char err[256];
    hubd_admin *again = hubd_admin_new(&f->ctx, NULL, 0, err, sizeof err);
    assert_non_null(again);
    char *a = hubd_admin_connection_string(f->admin, "localhost:8444");
    char *b = hubd_admin_connection_string(again, "localhost:8444");
    assert_string_equal(a, b);
    char want[256];
    snprintf(want, sizeof want,
             "HostName=localhost:8444;SharedAccessKeyName=hubdadmin;SharedAccessKey=%s",
             f->key_b64);
    assert_string_equal(a, want);
    free(a);
    free(b);
    hubd_admin_free(&again);
    assert_null(again);

    /* A corrupt key file is an error, not a silent new key. */
    FILE *kf = fopen(path, "w");
    assert_non_null(kf);
    fputs("not base64!\n", kf);
    fclose(kf);
    assert_null(hubd_admin_new(&f->ctx, NULL, 0, err, sizeof err));
    assert_non_null(strstr(err, "admin.key"));
}

static void test_other_paths_not_handled(void **state)
{
    fixture *f = *state;
    int status;
    bool handled;
    const char *paths[] = {"/devices/x", "/_hubd/telemetry", "/_hubd", "/twins/_hubd/hubs"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        json_t *b = call(f, DPS_HTTP_GET, paths[i], NULL, &status, &handled);
        assert_false(handled);
        assert_null(b);
    }
}

static void test_authorisation(void **state)
{
    fixture *f = *state;
    int status;
    bool handled;
    json_t *b = call(f, DPS_HTTP_GET, "/_hubd/hubs", NULL, &status, &handled);
    assert_true(handled);
    assert_int_equal(status, 401);
    assert_string_equal(error_code(b), "IotHubUnauthorizedAccess");
    json_decref(b);

    char *wrong_skn = admin_token(f, "iothubowner", 3600);
    char *expired = admin_token(f, "hubdadmin", -3600);
    char *no_skn = admin_token(f, NULL, 3600);
    const char *bad[] = {wrong_skn, expired, no_skn, "SharedAccessSignature sr=x",
                         "Bearer abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = call(f, DPS_HTTP_PUT, "/_hubd/hubs/evil.example.net", bad[i], &status, &handled);
        assert_int_equal(status, 401);
        json_decref(b);
    }
    assert_false(hubd_hub_exists(&f->ctx, "evil.example.net", NULL));
    free(wrong_skn);
    free(expired);
    free(no_skn);

    char *other_key = dps_sas_build("localhost", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                                    "hubdadmin", dps_now_s() + 3600);
    b = call(f, DPS_HTTP_GET, "/_hubd/hubs", other_key, &status, &handled);
    assert_int_equal(status, 401);
    json_decref(b);
    free(other_key);
}

static void test_add_and_list(void **state)
{
    fixture *f = *state;
    int status;
    bool handled;
    char *tok = admin_token(f, "hubdadmin", 3600);

    json_t *b = call(f, DPS_HTTP_PUT, "/_hubd/hubs/Hub9.Example.NET", tok, &status, &handled);
    assert_int_equal(status, 201);
    assert_string_equal(json_string_value(json_object_get(b, "hostName")), "hub9.example.net");
    assert_true(json_is_true(json_object_get(b, "created")));
    const char *cs = json_string_value(json_object_get(b, "connectionString"));
    assert_non_null(cs);
    assert_non_null(strstr(cs, "HostName=hub9.example.net;SharedAccessKeyName=iothubowner;"));
    char *first_cs = strdup(cs);
    json_decref(b);

    /* The generated server certificate names it now. */
    FILE *pf = fopen(f->tls.cert, "r");
    assert_non_null(pf);
    X509 *cert = PEM_read_X509(pf, NULL, NULL, NULL);
    fclose(pf);
    assert_non_null(cert);
    assert_true(dps_x509_has_san(cert, "hub9.example.net"));
    assert_true(dps_x509_has_san(cert, "hub1.opendps.local"));
    X509_free(cert);

    /* Again: 200, same keys. */
    b = call(f, DPS_HTTP_PUT, "/_hubd/hubs/hub9.example.net", tok, &status, &handled);
    assert_int_equal(status, 200);
    assert_true(json_is_false(json_object_get(b, "created")));
    assert_string_equal(json_string_value(json_object_get(b, "connectionString")), first_cs);
    json_decref(b);

    b = call(f, DPS_HTTP_GET, "/_hubd/hubs/HUB9.example.net", tok, &status, &handled);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(b, "connectionString")), first_cs);
    json_decref(b);
    free(first_cs);

    b = call(f, DPS_HTTP_GET, "/_hubd/hubs", tok, &status, &handled);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(b), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "hostName")),
                        "hub1.opendps.local");
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 1), "hostName")),
                        "hub9.example.net");
    json_decref(b);

    b = call(f, DPS_HTTP_GET, "/_hubd/hubs/none.example.net", tok, &status, &handled);
    assert_int_equal(status, 404);
    assert_string_equal(error_code(b), "IotHubNotFound");
    json_decref(b);
    b = call(f, DPS_HTTP_PUT, "/_hubd/hubs/bad_name", tok, &status, &handled);
    assert_int_equal(status, 400);
    assert_string_equal(error_code(b), "ArgumentInvalid");
    json_decref(b);
    b = call(f, DPS_HTTP_DELETE, "/_hubd/hubs/hub9.example.net", tok, &status, &handled);
    assert_int_equal(status, 405);
    json_decref(b);
    b = call(f, DPS_HTTP_GET, "/_hubd/hubs/a/b", tok, &status, &handled);
    assert_int_equal(status, 404);
    json_decref(b);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_paths_not_handled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorisation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_and_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
