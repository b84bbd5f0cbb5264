/* The HTTPS adapter of the device API (api/device_api.c) through the
 * router: routes, the lower-case retry-after header, the JSON content type,
 * the DPS error shape, GET polls with a "{}" body, and the service routes
 * that share the path prefix. */
#include "engine_fixture.h"

#include <strings.h>

#include "api/api.h"
#include "dpsd.h"
#include "net/http_request.h"

typedef struct {
    dps_http_response res;
    json_t *json;
} reply;

static void call(engine_fx *fx, dps_http_method m, const char *path, const char *query,
                 const char *auth, const char *body, reply *out)
{
    dpsd_ctx ctx = {0};
    ctx.store = fx->store;
    ctx.engine = fx->engine;
    snprintf(ctx.id_scope, sizeof ctx.id_scope, FX_SCOPE);
    snprintf(ctx.service_host, sizeof ctx.service_host, "dps.example.net");
    dps_http_header h[2];
    size_t nh = 0;
    if (auth != NULL)
        h[nh++] = (dps_http_header){"Authorization", auth};
    dps_http_request req = {.method = m,
                            .path = path,
                            .query = query,
                            .headers = h,
                            .nheaders = nh,
                            .body = body,
                            .body_len = body ? strlen(body) : 0,
                            .peer = "test"};
    assert_int_equal(dps_http_split_path(&req, path), 0);
    memset(out, 0, sizeof *out);
    dps_api_handle(&ctx, &req, &out->res);
    dps_http_request_free_segments(&req);
    if (out->res.body_len > 0) {
        json_error_t e;
        out->json = json_loadb(out->res.body, out->res.body_len, 0, &e);
        assert_non_null(out->json);
    }
}

static const char *header(const reply *r, const char *name, bool exact_case)
{
    for (size_t i = 0; i < r->res.nheaders; i++)
        if (exact_case ? strcmp(r->res.header_names[i], name) == 0
                       : strcasecmp(r->res.header_names[i], name) == 0)
            return r->res.header_values[i];
    return NULL;
}

static void reply_free(reply *r)
{
    json_decref(r->json);
    dps_http_response_free(&r->res);
}

static void test_register_poll_lookup(void **state)
{
    engine_fx *fx = *state;
    fx_link_hub(fx, FX_HUB1, 1);
    fx_enroll(fx, "sensor-0001", FX_DEVICE_KEY, FX_DEVICE_KEY, "");
    char *tok = fx_token("sensor-0001", FX_DEVICE_KEY);
    reply r;
    /* The C SDK percent-encodes the path segments; the server decodes them. */
    call(fx, DPS_HTTP_PUT, "/0ne000AB12C/registrations/sensor%2D0001/register",
         "api-version=2021-06-01", tok, "{\"registrationId\":\"sensor-0001\"}", &r);
    assert_int_equal(r.res.status, 202);
    assert_string_equal(r.res.content_type, "application/json; charset=utf-8");
    assert_non_null(header(&r, "retry-after", true)); /* lower-case, exactly */
    assert_string_equal(header(&r, "retry-after", true), "1");
    char op[80];
    snprintf(op, sizeof op, "%s", json_string_value(json_object_get(r.json, "operationId")));
    reply_free(&r);

    char path[200];
    snprintf(path, sizeof path, "/0ne000ab12c/Registrations/sensor-0001/operations/%s", op);
    call(fx, DPS_HTTP_GET, path, "api-version=2019-03-31", tok, "{}", &r);
    assert_int_equal(r.res.status, 202);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(r.json, "registrationState"), "status")),
                        "assigning");
    reply_free(&r);
    fx_complete(fx, 0, true, 0, NULL);
    call(fx, DPS_HTTP_GET, path, "api-version=2019-03-31", tok, NULL, &r);
    assert_int_equal(r.res.status, 200);
    assert_null(header(&r, "retry-after", false));
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "assigned");
    reply_free(&r);

    call(fx, DPS_HTTP_POST, "/0ne000AB12C/registrations/sensor-0001", "api-version=2021-06-01",
         tok, "{\"registrationId\":\"sensor-0001\"}", &r);
    assert_int_equal(r.res.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "assignedHub")), FX_HUB1);
    reply_free(&r);
    free(tok);
}

static void test_errors_in_dps_shape(void **state)
{
    engine_fx *fx = *state;
    reply r;
    call(fx, DPS_HTTP_PUT, "/0ne000AB12C/registrations/sensor-0001/register",
         "api-version=2021-06-01", NULL, NULL, &r);
    assert_int_equal(r.res.status, 401);
    assert_int_equal(json_integer_value(json_object_get(r.json, "errorCode")), 401002);
    assert_string_equal(header(&r, "x-ms-error-code", false), "401002");
    assert_string_equal(header(&r, "x-ms-request-id", false),
                        json_string_value(json_object_get(r.json, "trackingId")));
    assert_string_equal(r.res.content_type, "application/json; charset=utf-8");
    reply_free(&r);
    call(fx, DPS_HTTP_PUT, "/0ne00000000/registrations/sensor-0001/register",
         "api-version=2021-06-01", NULL, NULL, &r);
    assert_int_equal(r.res.status, 404);
    assert_int_equal(json_integer_value(json_object_get(r.json, "errorCode")), 404201);
    reply_free(&r);
    /* Wrong method on a device path: 405. */
    call(fx, DPS_HTTP_DELETE, "/0ne000AB12C/registrations/sensor-0001/register", NULL, NULL,
         NULL, &r);
    assert_int_equal(r.res.status, 405);
    reply_free(&r);
    /* The service query keeps its route (service SAS required: 401, not a
     * device answer for scope "registrations"). */
    call(fx, DPS_HTTP_POST, "/registrations/registrations/query", NULL, NULL, NULL, &r);
    assert_int_equal(r.res.status, 401);
    reply_free(&r);
}

static void test_no_engine(void **state)
{
    engine_fx *fx = *state;
    dps_engine_free(&fx->engine);
    reply r;
    call(fx, DPS_HTTP_PUT, "/0ne000AB12C/registrations/sensor-0001/register",
         "api-version=2021-06-01", NULL, NULL, &r);
    assert_int_equal(r.res.status, 500);
    reply_free(&r);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_register_poll_lookup),
        T(test_errors_in_dps_shape),
        T(test_no_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
