/* Hubs, policies, service tokens, hub resolution and device SAS (hub.md
 * §3), on a real store. */
#include "hubd_model_fixture.h"

#include "common/b64.h"
#include "common/sas.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "model/devices.h"
#include "model/hub_auth.h"
#include "model/hub_policies.h"

#define NOW 1767225000
#define VECTOR_KEY "i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY="

/* The primary key of a hub policy, as a new string. */
static char *policy_key(hubd_ctx *ctx, const char *hub, const char *policy)
{
    json_t *doc = NULL;
    assert_int_equal(hubd_policy_load(ctx, hub, policy, &doc), HUBD_OK);
    char *key = strdup(json_string_value(json_object_get(doc, "primaryKey")));
    json_decref(doc);
    return key;
}

static char *service_token(hubd_ctx *ctx, const char *hub, const char *policy, const char *sr,
                           int64_t expiry)
{
    char *key = policy_key(ctx, hub, policy);
    char *tok = dps_sas_build(sr, key, policy, expiry);
    free(key);
    assert_non_null(tok);
    return tok;
}

static void test_rights_text(void **state)
{
    (void)state;
    unsigned m = 0;
    assert_int_equal(hubd_rights_parse("RegistryRead, registrywrite,ServiceConnect", &m), 0);
    assert_int_equal(m, HUBD_RIGHT_REGISTRY_READ | HUBD_RIGHT_REGISTRY_WRITE |
                            HUBD_RIGHT_SERVICE_CONNECT);
    assert_int_equal(hubd_rights_parse("RegistryRead, Bogus", &m), -1);
    assert_int_equal(hubd_rights_parse("", &m), -1);
    char *t = hubd_rights_format(HUBD_RIGHTS_ALL);
    assert_string_equal(t, "RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect");
    free(t);
}

static void test_hub_ensure_idempotent(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    char *before = policy_key(ctx, HUB1, "iothubowner");
    char err[128];
    assert_int_equal(hubd_hub_ensure(ctx, "HUB1.Example.NET", err, sizeof err), 0);
    char *after = policy_key(ctx, HUB1, "iothubowner");
    assert_string_equal(before, after); /* keys survive a restart */
    free(before);
    free(after);
    assert_int_equal(hubd_hub_ensure(ctx, "bad host/name", err, sizeof err), -1);

    /* five default policies with their rights */
    static const struct {
        const char *name;
        unsigned rights;
    } want[] = {{"iothubowner", HUBD_RIGHTS_ALL},
                {"service", HUBD_RIGHT_SERVICE_CONNECT},
                {"device", HUBD_RIGHT_DEVICE_CONNECT},
                {"registryRead", HUBD_RIGHT_REGISTRY_READ},
                {"registryReadWrite", HUBD_RIGHT_REGISTRY_READ | HUBD_RIGHT_REGISTRY_WRITE}};
    for (size_t i = 0; i < 5; i++) {
        json_t *doc = NULL;
        assert_int_equal(hubd_policy_load(ctx, HUB2, want[i].name, &doc), HUBD_OK);
        assert_int_equal(hubd_policy_rights(doc), want[i].rights);
        assert_string_equal(json_string_value(json_object_get(doc, "keyName")), want[i].name);
        uint8_t *raw = NULL;
        size_t n = 0;
        const char *k = json_string_value(json_object_get(doc, "secondaryKey"));
        assert_int_equal(dps_b64_decode(k, strlen(k), &raw, &n), 0);
        assert_int_equal(n, 32);
        free(raw);
        json_decref(doc);
    }

    char **names = NULL;
    size_t count = 0;
    assert_int_equal(hubd_hub_list(ctx, &names, &count), 0);
    assert_int_equal(count, 2);
    assert_string_equal(names[0], HUB1);
    assert_string_equal(names[1], HUB2);
    hubd_hub_list_free(names, count);

    char canon[HUBD_HUB_NAME_SIZE];
    assert_true(hubd_hub_exists(ctx, "Hub1.example.net", canon));
    assert_string_equal(canon, HUB1);
    assert_false(hubd_hub_exists(ctx, "hub3.example.net", NULL));
}

static void test_connection_string(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    char *cs = hubd_hub_connection_string(ctx, HUB1, "iothubowner");
    char *key = policy_key(ctx, HUB1, "iothubowner");
    char want[256];
    snprintf(want, sizeof want, "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s",
             HUB1, key);
    assert_string_equal(cs, want);
    dps_free_secret_string(cs);
    free(key);
    assert_null(hubd_hub_connection_string(ctx, HUB1, "nosuchpolicy"));
    assert_null(hubd_hub_connection_string(ctx, "hub9.example.net", "iothubowner"));
}

static void test_service_auth(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    char why[256];
    char *tok = service_token(ctx, HUB1, "registryRead", HUB1, NOW + 3600);
    assert_int_equal(hubd_service_auth(ctx, HUB1, tok, HUB1, HUBD_RIGHT_REGISTRY_READ, NOW, why,
                                       sizeof why),
                     HUBD_AUTH_OK);
    /* the policy lacks the right */
    assert_int_equal(hubd_service_auth(ctx, HUB1, tok, HUB1, HUBD_RIGHT_REGISTRY_WRITE, NOW,
                                       why, sizeof why),
                     HUBD_AUTH_DENIED);
    assert_non_null(strstr(why, "rights"));
    /* expired beyond the skew, but fine within it */
    assert_int_equal(hubd_service_auth(ctx, HUB1, tok, HUB1, HUBD_RIGHT_REGISTRY_READ,
                                       NOW + 3600 + 301, why, sizeof why),
                     HUBD_AUTH_DENIED);
    assert_int_equal(hubd_service_auth(ctx, HUB1, tok, HUB1, HUBD_RIGHT_REGISTRY_READ,
                                       NOW + 3600 + 299, why, sizeof why),
                     HUBD_AUTH_OK);
    /* another hub's keys do not verify */
    assert_int_equal(hubd_service_auth(ctx, HUB2, tok, HUB2, HUBD_RIGHT_REGISTRY_READ, NOW, why,
                                       sizeof why),
                     HUBD_AUTH_DENIED);
    free(tok);

    /* sr for another host is refused, unless it is the Host the client used */
    tok = service_token(ctx, HUB1, "iothubowner", "localhost:8444", NOW + 60);
    assert_int_equal(hubd_service_auth(ctx, HUB1, tok, "hub1.example.net",
                                       HUBD_RIGHT_SERVICE_CONNECT, NOW, why, sizeof why),
                     HUBD_AUTH_DENIED);
    assert_int_equal(hubd_service_auth(ctx, HUB1, tok, "localhost:8444",
                                       HUBD_RIGHT_SERVICE_CONNECT, NOW, why, sizeof why),
                     HUBD_AUTH_OK);
    free(tok);

    assert_int_equal(hubd_service_auth(ctx, HUB1, NULL, HUB1, 1, NOW, why, sizeof why),
                     HUBD_AUTH_DENIED);
    assert_int_equal(hubd_service_auth(ctx, HUB1, "SharedAccessSignature sr=x", HUB1, 1, NOW,
                                       why, sizeof why),
                     HUBD_AUTH_DENIED);
}

static void test_resolve_hub(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    char hub[HUBD_HUB_NAME_SIZE];
    /* 1: Host header, port ignored, any case */
    assert_int_equal(hubd_resolve_hub(ctx, "HUB2.example.net:8444", NULL, hub), HUBD_OK);
    assert_string_equal(hub, HUB2);
    /* 2: the token's sr */
    char *tok = service_token(ctx, HUB2, "iothubowner", "hub2.example.net:8444", NOW + 60);
    assert_int_equal(hubd_resolve_hub(ctx, "127.0.0.1:8444", tok, hub), HUBD_OK);
    assert_string_equal(hub, HUB2);
    free(tok);
    /* 3: the hub whose policy verifies (HostName=localhost:PORT) */
    tok = service_token(ctx, HUB2, "service", "localhost:8444", NOW + 60);
    assert_int_equal(hubd_resolve_hub(ctx, "localhost:8444", tok, hub), HUBD_OK);
    assert_string_equal(hub, HUB2);
    free(tok);
    tok = service_token(ctx, HUB1, "service", "localhost:8444", NOW + 60);
    assert_int_equal(hubd_resolve_hub(ctx, "localhost:8444", tok, hub), HUBD_OK);
    assert_string_equal(hub, HUB1);
    free(tok);
    /* nothing names a hub */
    assert_int_equal(hubd_resolve_hub(ctx, "localhost", NULL, hub), HUBD_NOT_FOUND);
    char *forged = dps_sas_build("localhost", VECTOR_KEY, "iothubowner", NOW + 60);
    assert_int_equal(hubd_resolve_hub(ctx, "localhost", forged, hub), HUBD_NOT_FOUND);
    free(forged);
}

static void create_vector_device(hubd_ctx *ctx, const char *status)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"deviceId\":\"sensor-0001\",\"status\":\"%s\",\"authentication\":{\"type\":"
             "\"sas\",\"symmetricKey\":{\"primaryKey\":\"%s\",\"secondaryKey\":\"\"}}}",
             status, VECTOR_KEY);
    json_t *b = json_loads(body, 0, NULL);
    hubd_if_match none = {.kind = HUBD_IFM_NONE};
    json_t *doc = NULL;
    bool disc = false;
    assert_int_equal(hubd_device_put(ctx, HUB1, "sensor-0001", b, &none, &doc, &disc), HUBD_OK);
    json_decref(doc);
    json_decref(b);
}

/* hub.md §3.2's computed vector, as Node sends it (sr URL-encoded). */
static const char vector_token[] =
    "SharedAccessSignature sr=hub1.example.net%2Fdevices%2Fsensor-0001"
    "&sig=%2Fn%2BdCeGE27iXh%2BeEc023nejkOsuvFvFZ8KedwdItU3s%3D&se=1767225600";

static void test_device_sas_vector(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    create_vector_device(ctx, "enabled");
    size_t n = strlen(vector_token);
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB1, "sensor-0001", vector_token, n, NOW),
                     HUBD_AUTH_OK);
    /* expired: se + skew is past */
    assert_int_equal(
        hubd_device_auth_sas_at(ctx, HUB1, "sensor-0001", vector_token, n, 1767225600 + 301),
        HUBD_AUTH_DENIED);
    /* the token names another device */
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB1, "sensor-0002", vector_token, n, NOW),
                     HUBD_AUTH_UNKNOWN_DEVICE);
    /* the same token presented to another hub */
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB2, "sensor-0001", vector_token, n, NOW),
                     HUBD_AUTH_UNKNOWN_DEVICE);
    /* a tampered signature */
    char bad[sizeof vector_token];
    memcpy(bad, vector_token, sizeof bad);
    char *s = strstr(bad, "sig=%2Fn") + 8;
    *s = *s == 'd' ? 'e' : 'd';
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB1, "sensor-0001", bad, n, NOW),
                     HUBD_AUTH_DENIED);
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB1, "sensor-0001", "garbage", 7, NOW),
                     HUBD_AUTH_DENIED);
}

static void test_device_sas_raw_sr_and_disabled(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    create_vector_device(ctx, "disabled");
    /* The C SDK sends raw slashes; the signature is over sr as sent. */
    uint8_t *key = NULL;
    size_t keylen = 0;
    assert_int_equal(dps_b64_decode(VECTOR_KEY, strlen(VECTOR_KEY), &key, &keylen), 0);
    char *sig = dps_sas_signature(key, keylen, "hub1.example.net/devices/sensor-0001",
                                  "1767225600");
    free(key);
    char *esig = NULL;
    {
        /* percent-encode the base64 signature for the token */
        size_t m = strlen(sig);
        esig = calloc(3 * m + 1, 1);
        for (size_t i = 0, o = 0; i < m; i++) {
            if (sig[i] == '+' || sig[i] == '/' || sig[i] == '=')
                o += (size_t)sprintf(esig + o, "%%%02X", (unsigned char)sig[i]);
            else
                esig[o++] = sig[i];
        }
    }
    char tok[512];
    snprintf(tok, sizeof tok,
             "SharedAccessSignature sr=hub1.example.net/devices/sensor-0001&sig=%s&se=1767225600",
             esig);
    free(sig);
    free(esig);
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB1, "sensor-0001", tok, strlen(tok), NOW),
                     HUBD_AUTH_DISABLED);
}

static void test_device_sas_policy_signed(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    create_vector_device(ctx, "enabled");
    char *key = policy_key(ctx, HUB1, "device");
    char *tok = dps_sas_build("hub1.example.net/devices/sensor-0001", key, "device", NOW + 60);
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB1, "sensor-0001", tok, strlen(tok), NOW),
                     HUBD_AUTH_OK);
    free(tok);
    /* sr = the hub host also covers the device */
    tok = dps_sas_build(HUB1, key, "device", NOW + 60);
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB1, "sensor-0001", tok, strlen(tok), NOW),
                     HUBD_AUTH_OK);
    free(tok);
    free(key);
    /* a policy without DeviceConnect cannot sign device tokens */
    key = policy_key(ctx, HUB1, "service");
    tok = dps_sas_build("hub1.example.net/devices/sensor-0001", key, "service", NOW + 60);
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB1, "sensor-0001", tok, strlen(tok), NOW),
                     HUBD_AUTH_DENIED);
    free(tok);
    free(key);
    /* a device token whose sr names another device */
    tok = dps_sas_build("hub1.example.net/devices/sensor-0002", VECTOR_KEY, NULL, NOW + 60);
    assert_int_equal(hubd_device_auth_sas_at(ctx, HUB1, "sensor-0001", tok, strlen(tok), NOW),
                     HUBD_AUTH_DENIED);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rights_text),
        cmocka_unit_test_setup_teardown(test_hub_ensure_idempotent, hubd_fixture_setup,
                                        hubd_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_connection_string, hubd_fixture_setup,
                                        hubd_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_service_auth, hubd_fixture_setup,
                                        hubd_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_hub, hubd_fixture_setup,
                                        hubd_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_device_sas_vector, hubd_fixture_setup,
                                        hubd_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_device_sas_raw_sr_and_disabled, hubd_fixture_setup,
                                        hubd_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_device_sas_policy_signed, hubd_fixture_setup,
                                        hubd_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
