/* hubd's REST side through hubd_api_handle, with requests as structs over a
 * real store: error shape, hub resolution and rights, registry, query
 * paging, twins, statistics, and the refusals of methods and C2D that need
 * no live device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/api_internal.h"
#include "common/log.h"
#include "common/sas.h"
#include "common/timeutil.h"
#include "model/hub_policies.h"
#include "model/hubs.h"

#define HUB1 "hub1.example.net"
#define HUB2 "hub2.example.net"

typedef struct {
    char dir[64];
    hubd_ctx ctx;
} fixture;

static int setup(void **state)
{
    dps_log_set_level(DPS_LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hubd-api-XXXXXX");
    if (f == NULL || mkdtemp(f->dir) == NULL)
        return -1;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/hub.db", f->dir);
    f->ctx.store = dps_store_open(path, err, sizeof err);
    if (f->ctx.store == NULL || hubd_hub_ensure(&f->ctx, HUB1, err, sizeof err) != 0 ||
        hubd_hub_ensure(&f->ctx, HUB2, err, sizeof err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dps_store_close(&f->ctx.store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* A service token of a hub policy with sr = sr. */
static char *token(hubd_ctx *ctx, const char *hub, const char *policy, const char *sr)
{
    json_t *doc = NULL;
    assert_int_equal(hubd_policy_load(ctx, hub, policy, &doc), HUBD_OK);
    char *t = dps_sas_build(sr, json_string_value(json_object_get(doc, "primaryKey")), policy,
                            dps_now_s() + 600);
    json_decref(doc);
    assert_non_null(t);
    return t;
}

typedef struct {
    dps_http_response res;
    json_t *json;
} reply;

/* Runs one request. extra: "Name: value" header lines, NULL-terminated. */
static reply call(hubd_ctx *ctx, dps_http_method m, const char *path, const char *query,
                  const char *host, const char *auth, const char *body, const char *const *extra)
{
    dps_http_header headers[16];
    size_t n = 0;
    char names[8][64];
    if (host != NULL)
        headers[n++] = (dps_http_header){"Host", host};
    if (auth != NULL)
        headers[n++] = (dps_http_header){"Authorization", auth};
    for (size_t i = 0; extra != NULL && extra[i] != NULL && i < 8; i++) {
        const char *colon = strchr(extra[i], ':');
        snprintf(names[i], sizeof names[i], "%.*s", (int)(colon - extra[i]), extra[i]);
        headers[n++] = (dps_http_header){names[i], colon + 2};
    }
    dps_http_request req = {.method = m, .path = path, .query = query, .headers = headers,
                            .nheaders = n, .body = body, .body_len = body ? strlen(body) : 0};
    assert_int_equal(dps_http_split_path(&req, path), 0);
    reply r = {0};
    hubd_api_handle(ctx, &req, &r.res);
    dps_http_request_free_segments(&req);
    if (r.res.body != NULL)
        r.json = json_loadb(r.res.body, r.res.body_len, JSON_DECODE_ANY, NULL);
    return r;
}

static const char *header(const reply *r, const char *name)
{
    for (size_t i = 0; i < r->res.nheaders; i++)
        if (strcasecmp(r->res.header_names[i], name) == 0)
            return r->res.header_values[i];
    return NULL;
}

static void reply_free(reply *r)
{
    json_decref(r->json);
    dps_http_response_free(&r->res);
}

/* Asserts the legacy error shape with code name. */
static void assert_error(const reply *r, int status, const char *name)
{
    assert_int_equal(r->res.status, status);
    const char *msg = json_string_value(json_object_get(r->json, "Message"));
    assert_non_null(msg);
    char prefix[80];
    snprintf(prefix, sizeof prefix, "ErrorCode:%s;", name);
    assert_memory_equal(msg, prefix, strlen(prefix));
    const char *ex = json_string_value(json_object_get(r->json, "ExceptionMessage"));
    assert_non_null(ex);
    assert_memory_equal(ex, "Tracking ID:", 12);
    assert_non_null(strstr(ex, " Timestamp:"));
    assert_string_equal(header(r, "iothub-errorcode"), name);
}

static void test_errors_and_auth(void **state)
{
    hubd_ctx *ctx = &((fixture *)*state)->ctx;
    reply r = call(ctx, DPS_HTTP_GET, "/nowhere", NULL, HUB1, NULL, NULL, NULL);
    assert_error(&r, 404, "NotFound");
    reply_free(&r);
    r = call(ctx, DPS_HTTP_POST, "/devices/d1", NULL, HUB1, NULL, NULL, NULL);
    assert_error(&r, 405, "MethodNotAllowed");
    reply_free(&r);
    r = call(ctx, DPS_HTTP_GET, "/devices/d1", NULL, HUB1, NULL, NULL, NULL);
    assert_error(&r, 401, "IotHubUnauthorizedAccess");
    reply_free(&r);
    /* registryRead cannot write */
    char *t = token(ctx, HUB1, "registryRead", HUB1);
    r = call(ctx, DPS_HTTP_PUT, "/devices/d1", NULL, HUB1, t, "{}", NULL);
    assert_error(&r, 401, "IotHubUnauthorizedAccess");
    reply_free(&r);
    free(t);
    /* a host that is no hub and a token no hub verifies */
    t = dps_sas_build("localhost", "i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY=", "iothubowner",
                      dps_now_s() + 60);
    r = call(ctx, DPS_HTTP_GET, "/devices", NULL, "localhost:8444", t, NULL, NULL);
    assert_error(&r, 401, "IotHubUnauthorizedAccess");
    reply_free(&r);
    free(t);
    /* the server's own refusals */
    dps_http_response res = {0};
    hubd_api_write_error(ctx, &res, 413, "too big");
    assert_int_equal(res.status, 413);
    assert_non_null(strstr(res.body, "ErrorCode:MessageTooLarge;too big"));
    dps_http_response_free(&res);
}

static void test_registry(void **state)
{
    hubd_ctx *ctx = &((fixture *)*state)->ctx;
    char *t = token(ctx, HUB1, "iothubowner", HUB1);
    const char *node_body = "{\"deviceId\":\"sensor-0001\",\"status\":\"enabled\","
                            "\"authentication\":{\"type\":\"sas\",\"symmetricKey\":"
                            "{\"primaryKey\":\"\",\"secondaryKey\":\"\"}}}";
    reply r = call(ctx, DPS_HTTP_PUT, "/devices/sensor-0001", "api-version=2021-04-12", HUB1, t,
                   node_body, NULL);
    assert_int_equal(r.res.status, 200);
    const char *pk = json_string_value(json_object_get(
        json_object_get(json_object_get(r.json, "authentication"), "symmetricKey"),
        "primaryKey"));
    assert_int_equal(strlen(pk), 44);
    assert_string_equal(json_string_value(json_object_get(r.json, "connectionState")),
                        "Disconnected");
    char etag[32];
    snprintf(etag, sizeof etag, "%s", json_string_value(json_object_get(r.json, "etag")));
    reply_free(&r);

    r = call(ctx, DPS_HTTP_PUT, "/devices/sensor-0001", NULL, HUB1, t, node_body, NULL);
    assert_error(&r, 409, "DeviceAlreadyExists");
    reply_free(&r);
    const char *stale[] = {"If-Match: \"AAAAAAAAAAE=\"", NULL};
    r = call(ctx, DPS_HTTP_PUT, "/devices/sensor-0001", NULL, HUB1, t, "{}", stale);
    assert_error(&r, 412, "PreconditionFailed");
    reply_free(&r);
    char ifm[64];
    snprintf(ifm, sizeof ifm, "If-Match: \"%s\"", etag);
    const char *good[] = {ifm, NULL};
    r = call(ctx, DPS_HTTP_PUT, "/devices/sensor-0001", NULL, HUB1, t,
             "{\"status\":\"disabled\",\"statusReason\":\"test\"}", good);
    assert_int_equal(r.res.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "disabled");
    reply_free(&r);

    r = call(ctx, DPS_HTTP_GET, "/devices/sensor-0001", NULL, HUB1, t, NULL, NULL);
    assert_int_equal(r.res.status, 200);
    assert_non_null(header(&r, "ETag"));
    reply_free(&r);
    r = call(ctx, DPS_HTTP_GET, "/devices/SENSOR-0001", NULL, HUB1, t, NULL, NULL);
    assert_error(&r, 404, "DeviceNotFound");
    reply_free(&r);
    /* the device lives in hub1 only */
    char *t2 = token(ctx, HUB2, "iothubowner", HUB2);
    r = call(ctx, DPS_HTTP_GET, "/devices/sensor-0001", NULL, HUB2, t2, NULL, NULL);
    assert_error(&r, 404, "DeviceNotFound");
    reply_free(&r);
    free(t2);
    r = call(ctx, DPS_HTTP_PUT, "/devices/bad%20id", NULL, HUB1, t, "{}", NULL);
    assert_error(&r, 400, "ArgumentInvalid");
    reply_free(&r);
    r = call(ctx, DPS_HTTP_PUT, "/devices/x", NULL, HUB1, t, "{not json", NULL);
    assert_error(&r, 400, "ArgumentInvalid");
    reply_free(&r);

    const char *any[] = {"If-Match: \"*\"", NULL};
    r = call(ctx, DPS_HTTP_DELETE, "/devices/sensor-0001", NULL, HUB1, t, NULL, any);
    assert_int_equal(r.res.status, 204);
    reply_free(&r);
    r = call(ctx, DPS_HTTP_DELETE, "/devices/sensor-0001", NULL, HUB1, t, NULL, any);
    assert_error(&r, 404, "DeviceNotFound");
    reply_free(&r);
    free(t);
}

static void test_localhost_resolution(void **state)
{
    hubd_ctx *ctx = &((fixture *)*state)->ctx;
    /* HostName=localhost:8444 in the connection string: the signature picks
     * the hub */
    char *t = token(ctx, HUB2, "registryReadWrite", "localhost:8444");
    reply r = call(ctx, DPS_HTTP_PUT, "/devices/via-localhost", NULL, "localhost:8444", t, "{}",
                   NULL);
    assert_int_equal(r.res.status, 200);
    reply_free(&r);
    free(t);
    json_t *doc = NULL;
    assert_int_equal(hubd_device_load(ctx, HUB2, "via-localhost", &doc, NULL), HUBD_OK);
    json_decref(doc);
    assert_int_equal(hubd_device_load(ctx, HUB1, "via-localhost", &doc, NULL), HUBD_NOT_FOUND);
}

static void test_query_list_stats(void **state)
{
    hubd_ctx *ctx = &((fixture *)*state)->ctx;
    char *t = token(ctx, HUB1, "iothubowner", HUB1);
    char path[64];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "/devices/q%d", i);
        reply r = call(ctx, DPS_HTTP_PUT, path, NULL, HUB1, t,
                       i == 4 ? "{\"status\":\"disabled\"}" : "{}", NULL);
        assert_int_equal(r.res.status, 200);
        reply_free(&r);
    }
    const char *page[] = {"x-ms-max-item-count: 2", NULL};
    reply r = call(ctx, DPS_HTTP_POST, "/devices/query", NULL, HUB1, t,
                   "{\"query\":\"SELECT * FROM devices WHERE status = 'enabled'\"}", page);
    assert_int_equal(r.res.status, 200);
    assert_int_equal(json_array_size(r.json), 2);
    assert_string_equal(header(&r, "x-ms-item-type"), "twin");
    const char *cont = header(&r, "x-ms-continuation");
    assert_non_null(cont);
    char cont_hdr[128];
    snprintf(cont_hdr, sizeof cont_hdr, "x-ms-continuation: %s", cont);
    reply_free(&r);
    const char *page2[] = {"x-ms-max-item-count: 2", cont_hdr, NULL};
    r = call(ctx, DPS_HTTP_POST, "/devices/query", NULL, HUB1, t,
             "{\"query\":\"SELECT * FROM devices WHERE status = 'enabled'\"}", page2);
    assert_int_equal(json_array_size(r.json), 2); /* q2, q3 */
    /* q4 follows (disabled): the scan cannot know before reading it */
    snprintf(cont_hdr, sizeof cont_hdr, "x-ms-continuation: %s", header(&r, "x-ms-continuation"));
    reply_free(&r);
    r = call(ctx, DPS_HTTP_POST, "/devices/query", NULL, HUB1, t,
             "{\"query\":\"SELECT * FROM devices WHERE status = 'enabled'\"}", page2);
    assert_int_equal(r.res.status, 200);
    assert_int_equal(json_array_size(r.json), 0);
    assert_null(header(&r, "x-ms-continuation"));
    reply_free(&r);
    const char *forged[] = {"x-ms-continuation: Li4vZXRj", NULL};
    r = call(ctx, DPS_HTTP_POST, "/devices/query", NULL, HUB1, t,
             "{\"query\":\"SELECT * FROM devices\"}", forged);
    assert_error(&r, 400, "ArgumentInvalid");
    reply_free(&r);
    r = call(ctx, DPS_HTTP_POST, "/devices/query", NULL, HUB1, t,
             "{\"query\":\"SELECT deviceId FROM devices\"}", NULL);
    assert_error(&r, 400, "ArgumentInvalid");
    reply_free(&r);

    r = call(ctx, DPS_HTTP_GET, "/devices", "top=3", HUB1, t, NULL, NULL);
    assert_int_equal(r.res.status, 200);
    assert_int_equal(json_array_size(r.json), 3);
    reply_free(&r);
    r = call(ctx, DPS_HTTP_GET, "/devices", "top=0", HUB1, t, NULL, NULL);
    assert_error(&r, 400, "ArgumentInvalid");
    reply_free(&r);

    r = call(ctx, DPS_HTTP_GET, "/statistics/devices", NULL, HUB1, t, NULL, NULL);
    json_t *want = json_loads("{\"totalDeviceCount\":5,\"enabledDeviceCount\":4,"
                              "\"disabledDeviceCount\":1}",
                              0, NULL);
    assert_true(json_equal(r.json, want));
    json_decref(want);
    reply_free(&r);
    r = call(ctx, DPS_HTTP_GET, "/statistics/service", NULL, HUB1, t, NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(r.json, "connectedDeviceCount")), 0);
    reply_free(&r);
    free(t);
}

static void test_twins(void **state)
{
    hubd_ctx *ctx = &((fixture *)*state)->ctx;
    char *owner = token(ctx, HUB1, "iothubowner", HUB1);
    reply r = call(ctx, DPS_HTTP_PUT, "/devices/tw", NULL, HUB1, owner, "{}", NULL);
    reply_free(&r);
    free(owner);
    char *t = token(ctx, HUB1, "service", HUB1);
    r = call(ctx, DPS_HTTP_PATCH, "/twins/tw", NULL, HUB1, t,
             "{\"tags\":{\"site\":\"lab\"},\"properties\":{\"desired\":{\"rate\":5}}}", NULL);
    assert_int_equal(r.res.status, 200);
    const json_t *desired = json_object_get(json_object_get(r.json, "properties"), "desired");
    assert_int_equal(json_integer_value(json_object_get(desired, "rate")), 5);
    assert_int_equal(json_integer_value(json_object_get(desired, "$version")), 2);
    char ifm[64];
    snprintf(ifm, sizeof ifm, "If-Match: %s", json_string_value(json_object_get(r.json, "etag")));
    reply_free(&r);
    const char *good[] = {ifm, NULL};
    r = call(ctx, DPS_HTTP_PUT, "/twins/tw", NULL, HUB1, t, "{\"tags\":{\"b\":1}}", good);
    assert_int_equal(r.res.status, 200);
    assert_null(json_object_get(json_object_get(r.json, "tags"), "site"));
    reply_free(&r);
    r = call(ctx, DPS_HTTP_PATCH, "/twins/tw", NULL, HUB1, t, "{\"tags\":{\"c\":1}}", good);
    assert_error(&r, 412, "PreconditionFailed");
    reply_free(&r);
    r = call(ctx, DPS_HTTP_PATCH, "/twins/tw", NULL, HUB1, t,
             "{\"properties\":{\"desired\":{\"a.b\":1}}}", NULL);
    assert_error(&r, 400, "ArgumentInvalid");
    reply_free(&r);
    r = call(ctx, DPS_HTTP_GET, "/twins/nobody", NULL, HUB1, t, NULL, NULL);
    assert_error(&r, 404, "DeviceNotFound");
    reply_free(&r);
    /* the service policy has no registry rights */
    r = call(ctx, DPS_HTTP_GET, "/devices/tw", NULL, HUB1, t, NULL, NULL);
    assert_error(&r, 401, "IotHubUnauthorizedAccess");
    reply_free(&r);

    /* direct methods and C2D refusals that need no live device */
    r = call(ctx, DPS_HTTP_POST, "/twins/tw/methods", NULL, HUB1, t,
             "{\"methodName\":\"reboot\",\"responseTimeoutInSeconds\":1}", NULL);
    assert_error(&r, 400, "ArgumentInvalid");
    reply_free(&r);
    r = call(ctx, DPS_HTTP_POST, "/twins/nobody/methods", NULL, HUB1, t,
             "{\"methodName\":\"reboot\"}", NULL);
    assert_error(&r, 404, "DeviceNotFound");
    reply_free(&r);
    r = call(ctx, DPS_HTTP_POST, "/twins/tw/methods", NULL, HUB1, t,
             "{\"methodName\":\"reboot\",\"payload\":{\"delay\":1}}", NULL);
    assert_error(&r, 404, "DeviceNotOnline"); /* no device endpoint in this test */
    reply_free(&r);
    r = call(ctx, DPS_HTTP_POST, "/_hubd/devices/nobody/messages", NULL, HUB1, t, "hi", NULL);
    assert_error(&r, 404, "DeviceNotFound");
    reply_free(&r);
    const char *props[] = {"x-hubd-prop-: empty name", NULL};
    r = call(ctx, DPS_HTTP_POST, "/_hubd/devices/tw/messages", NULL, HUB1, t, "hi", props);
    assert_error(&r, 400, "ArgumentInvalid");
    reply_free(&r);
    r = call(ctx, DPS_HTTP_GET, "/_hubd/telemetry", "since=x", HUB1, t, NULL, NULL);
    assert_error(&r, 400, "ArgumentInvalid");
    reply_free(&r);
    free(t);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_errors_and_auth), T(test_registry), T(test_localhost_resolution),
        T(test_query_list_stats), T(test_twins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
