/* Device identities: create / update / delete with ETags, key generation,
 * validation, the disconnect decision and the device JSON (hub.md §5, §6). */
#include "hubd_model_fixture.h"

#include "common/b64.h"
#include "model/devices.h"
#include "model/etags.h"

static json_t *put(hubd_ctx *ctx, const char *id, const char *body, hubd_ifm_kind kind,
                   const char *etag, hubd_result want, bool *disconnect)
{
    json_t *b = json_loads(body, 0, NULL);
    assert_non_null(b);
    hubd_if_match im = {.kind = kind};
    if (etag != NULL)
        snprintf(im.etag, sizeof im.etag, "%s", etag);
    json_t *doc = NULL;
    bool disc = false;
    hubd_result hr = hubd_device_put(ctx, HUB1, id, b, &im, &doc, &disc);
    json_decref(b);
    if (hr != want)
        fail_msg("put %s: got %d want %d (%s)", id, hr, want, hubd_last_error());
    if (disconnect != NULL)
        *disconnect = disc;
    return doc;
}

static const char *str_at(const json_t *doc, const char *a, const char *b)
{
    const json_t *v = json_object_get(doc, a);
    if (b != NULL)
        v = json_object_get(v, b);
    return json_string_value(v);
}

static void test_id_rules(void **state)
{
    (void)state;
    assert_true(hubd_device_id_valid("sensor-0001"));
    assert_true(hubd_device_id_valid("a.b+c%d_e#f*g?h!i(j)k,l=m@n$o'p"));
    assert_false(hubd_device_id_valid(""));
    assert_false(hubd_device_id_valid("with/slash"));
    assert_false(hubd_device_id_valid("with space"));
    assert_false(hubd_device_id_valid("caf\xc3\xa9"));
    char id[130];
    memset(id, 'a', 128);
    id[128] = '\0';
    assert_true(hubd_device_id_valid(id));
    id[128] = 'a';
    id[129] = '\0';
    assert_false(hubd_device_id_valid(id));
}

static void test_if_match_forms(void **state)
{
    (void)state;
    hubd_if_match im;
    assert_int_equal(hubd_if_match_parse(NULL, &im), 0);
    assert_int_equal(im.kind, HUBD_IFM_NONE);
    assert_int_equal(hubd_if_match_parse("*", &im), 0);
    assert_int_equal(im.kind, HUBD_IFM_ANY);
    assert_int_equal(hubd_if_match_parse("\"*\"", &im), 0); /* Node */
    assert_int_equal(im.kind, HUBD_IFM_ANY);
    assert_int_equal(hubd_if_match_parse(" W/\"AAAAAAAAAAE=\" ", &im), 0);
    assert_int_equal(im.kind, HUBD_IFM_ETAG);
    assert_string_equal(im.etag, "AAAAAAAAAAE=");
    char longv[100];
    memset(longv, 'x', 99);
    longv[99] = '\0';
    assert_int_equal(hubd_if_match_parse(longv, &im), -1);
}

static void test_create_generates_keys(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    /* Node's Registry.create body (hub.md §5) */
    json_t *doc = put(ctx, "Sensor-A",
                      "{\"deviceId\":\"Sensor-A\",\"status\":\"enabled\",\"authentication\":"
                      "{\"type\":\"sas\",\"symmetricKey\":{\"primaryKey\":\"\",\"secondaryKey\":"
                      "\"\"}}}",
                      HUBD_IFM_NONE, NULL, HUBD_OK, NULL);
    const json_t *sk = json_object_get(json_object_get(doc, "authentication"), "symmetricKey");
    const char *pk = json_string_value(json_object_get(sk, "primaryKey"));
    const char *sk2 = json_string_value(json_object_get(sk, "secondaryKey"));
    uint8_t *raw = NULL;
    size_t n = 0;
    assert_int_equal(dps_b64_decode(pk, strlen(pk), &raw, &n), 0);
    assert_int_equal(n, 32);
    free(raw);
    assert_string_not_equal(pk, sk2);
    assert_non_null(str_at(doc, "generationId", NULL));
    assert_non_null(str_at(doc, "etag", NULL));
    assert_string_equal(str_at(doc, "status", NULL), "enabled");
    json_decref(doc);

    /* no authentication at all: sas with generated keys as well */
    doc = put(ctx, "bare", "{}", HUBD_IFM_NONE, NULL, HUBD_OK, NULL);
    assert_string_equal(str_at(doc, "authentication", "type"), "sas");
    assert_non_null(str_at(json_object_get(doc, "authentication"), "symmetricKey",
                           "primaryKey"));
    json_decref(doc);

    /* device IDs are case-sensitive: another spelling is another device */
    json_decref(put(ctx, "sensor-a", "{}", HUBD_IFM_NONE, NULL, HUBD_OK, NULL));
    assert_null(put(ctx, "Sensor-A", "{}", HUBD_IFM_NONE, NULL, HUBD_CONFLICT, NULL));
}

static void test_update_etags(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    json_t *doc = put(ctx, "d1", "{\"deviceId\":\"d1\"}", HUBD_IFM_NONE, NULL, HUBD_OK, NULL);
    char etag[HUBD_ETAG_SIZE], gen[HUBD_ETAG_SIZE], pk[128];
    snprintf(etag, sizeof etag, "%s", str_at(doc, "etag", NULL));
    snprintf(gen, sizeof gen, "%s", str_at(doc, "generationId", NULL));
    snprintf(pk, sizeof pk, "%s",
             str_at(json_object_get(doc, "authentication"), "symmetricKey", "primaryKey"));
    json_decref(doc);

    /* stale ETag */
    assert_null(put(ctx, "d1", "{}", HUBD_IFM_ETAG, "AAAAAAAAAAE=", HUBD_PRECONDITION, NULL));
    /* right ETag: keys kept when the update sends none, new device ETag */
    bool disc = true;
    doc = put(ctx, "d1", "{\"statusReason\":\"maintenance\"}", HUBD_IFM_ETAG, etag, HUBD_OK,
              &disc);
    assert_false(disc);
    assert_string_not_equal(str_at(doc, "etag", NULL), etag);
    assert_string_equal(str_at(doc, "generationId", NULL), gen);
    assert_string_equal(str_at(json_object_get(doc, "authentication"), "symmetricKey",
                               "primaryKey"),
                        pk);
    assert_string_equal(str_at(doc, "statusReason", NULL), "maintenance");
    json_decref(doc);

    /* disabling disconnects */
    doc = put(ctx, "d1", "{\"status\":\"disabled\"}", HUBD_IFM_ANY, NULL, HUBD_OK, &disc);
    assert_true(disc);
    assert_string_equal(str_at(doc, "status", NULL), "disabled");
    json_decref(doc);
    /* changing credentials disconnects */
    doc = put(ctx, "d1",
              "{\"status\":\"enabled\",\"authentication\":{\"type\":\"selfSigned\","
              "\"x509Thumbprint\":{\"primaryThumbprint\":"
              "\"aabbccddeeff00112233445566778899aabbccdd\"}}}",
              HUBD_IFM_ANY, NULL, HUBD_OK, &disc);
    assert_true(disc);
    assert_string_equal(str_at(json_object_get(doc, "authentication"), "x509Thumbprint",
                               "primaryThumbprint"),
                        "AABBCCDDEEFF00112233445566778899AABBCCDD");
    assert_true(json_is_null(
        json_object_get(json_object_get(json_object_get(doc, "authentication"), "symmetricKey"),
                        "primaryKey")));
    json_decref(doc);

    /* update of a missing device */
    assert_null(put(ctx, "nobody", "{}", HUBD_IFM_ANY, NULL, HUBD_NOT_FOUND, NULL));
}

static void test_validation(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    static const struct {
        const char *id;
        const char *body;
    } bad[] = {
        {"bad/id", "{}"},
        {"d", "{\"deviceId\":\"other\"}"},
        {"d", "{\"status\":\"sleeping\"}"},
        {"d", "{\"authentication\":{\"type\":\"magic\"}}"},
        {"d", "{\"authentication\":{\"type\":\"sas\",\"symmetricKey\":{\"primaryKey\":\"!!\"}}}"},
        {"d", "{\"authentication\":{\"type\":\"sas\",\"symmetricKey\":{\"primaryKey\":\"AAAA\"}}}"},
        {"d", "{\"authentication\":{\"type\":\"selfSigned\"}}"},
        {"d", "{\"authentication\":{\"type\":\"selfSigned\",\"x509Thumbprint\":"
              "{\"primaryThumbprint\":\"abc\"}}}"},
        {"d", "{\"authentication\":{\"type\":\"certificateAuthority\",\"symmetricKey\":"
              "{\"primaryKey\":\"i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY=\"}}}"},
        {"d", "{\"capabilities\":{\"iotEdge\":\"yes\"}}"},
        {"d", "{\"parentScopes\":\"x\"}"},
        {"d", "{\"status\":5}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads(bad[i].body, 0, NULL);
        hubd_if_match none = {.kind = HUBD_IFM_NONE};
        json_t *doc = NULL;
        bool disc = false;
        hubd_result hr = hubd_device_put(ctx, HUB1, bad[i].id, b, &none, &doc, &disc);
        if (hr != HUBD_INVALID)
            fail_msg("case %zu accepted (%d)", i, hr);
        assert_true(hubd_last_error()[0] != '\0');
        json_decref(b);
    }
    /* the accepted shapes */
    json_t *doc = put(ctx, "edge1",
                      "{\"authentication\":{\"type\":\"certificateAuthority\"},\"capabilities\":"
                      "{\"iotEdge\":true},\"deviceScope\":\"ms-azure-iot-edge://edge1-1\","
                      "\"parentScopes\":[\"ms-azure-iot-edge://p-2\"]}",
                      HUBD_IFM_NONE, NULL, HUBD_OK, NULL);
    assert_true(json_is_true(json_object_get(json_object_get(doc, "capabilities"), "iotEdge")));
    assert_string_equal(str_at(doc, "deviceScope", NULL), "ms-azure-iot-edge://edge1-1");
    assert_int_equal(json_array_size(json_object_get(doc, "parentScopes")), 1);
    json_decref(doc);
    doc = put(ctx, "none1", "{\"authentication\":{\"type\":\"none\"}}", HUBD_IFM_NONE, NULL,
              HUBD_OK, NULL);
    assert_string_equal(str_at(doc, "authentication", "type"), "none");
    json_decref(doc);
}

static void test_delete(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    json_t *doc = put(ctx, "gone", "{}", HUBD_IFM_NONE, NULL, HUBD_OK, NULL);
    char etag[HUBD_ETAG_SIZE];
    snprintf(etag, sizeof etag, "%s", str_at(doc, "etag", NULL));
    json_decref(doc);
    hubd_if_match im = {.kind = HUBD_IFM_ETAG};
    snprintf(im.etag, sizeof im.etag, "AAAAAAAAAAE=");
    assert_int_equal(hubd_device_delete(ctx, HUB1, "gone", &im), HUBD_PRECONDITION);
    snprintf(im.etag, sizeof im.etag, "%s", etag);
    assert_int_equal(hubd_device_delete(ctx, HUB1, "gone", &im), HUBD_OK);
    im.kind = HUBD_IFM_ANY;
    assert_int_equal(hubd_device_delete(ctx, HUB1, "gone", &im), HUBD_NOT_FOUND);

    /* re-created: a new generationId */
    doc = put(ctx, "again", "{}", HUBD_IFM_NONE, NULL, HUBD_OK, NULL);
    char gen[HUBD_ETAG_SIZE];
    snprintf(gen, sizeof gen, "%s", str_at(doc, "generationId", NULL));
    json_decref(doc);
    im.kind = HUBD_IFM_NONE;
    assert_int_equal(hubd_device_delete(ctx, HUB1, "again", &im), HUBD_OK);
    doc = put(ctx, "again", "{}", HUBD_IFM_NONE, NULL, HUBD_OK, NULL);
    assert_string_not_equal(str_at(doc, "generationId", NULL), gen);
    json_decref(doc);
    /* hubs are separate */
    json_t *other = NULL;
    assert_int_equal(hubd_device_load(ctx, HUB2, "again", &other, NULL), HUBD_NOT_FOUND);
}

static void test_present(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    json_t *doc = put(ctx, "p1", "{}", HUBD_IFM_NONE, NULL, HUBD_OK, NULL);
    hubd_conn_info off = {0};
    json_t *dev = hubd_device_present(doc, &off);
    assert_string_equal(str_at(dev, "connectionState", NULL), "Disconnected");
    assert_string_equal(str_at(dev, "lastActivityTime", NULL), "0001-01-01T00:00:00Z");
    assert_null(json_object_get(dev, "twin")); /* the twin stays out of device JSON */
    assert_int_equal(json_integer_value(json_object_get(dev, "cloudToDeviceMessageCount")), 0);
    json_decref(dev);
    hubd_conn_info on = {.connected = true, .state_updated_ns = 1767225600000000000LL,
                         .last_activity_ns = 1767225601000000000LL};
    dev = hubd_device_present(doc, &on);
    assert_string_equal(str_at(dev, "connectionState", NULL), "Connected");
    assert_string_equal(str_at(dev, "connectionStateUpdatedTime", NULL),
                        "2026-01-01T00:00:00.0000000Z");
    json_decref(dev);
    json_decref(doc);
}

#define T(f) cmocka_unit_test_setup_teardown(f, hubd_fixture_setup, hubd_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_rules),
        cmocka_unit_test(test_if_match_forms),
        T(test_create_generates_keys),
        T(test_update_etags),
        T(test_validation),
        T(test_delete),
        T(test_present),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
