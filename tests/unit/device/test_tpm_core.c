/* The TPM pieces that need no TPM: the registration-ID derivation against
 * tpm.md §3.4's vector, the activation-blob parser (§6 sizes, every
 * truncation, trailing bytes), the TPM register body, the 401 challenge and
 * the final tpm.authenticationKey in the parsers, and the provisioning
 * state machine's TPM flow (first PUT without SAS → 401 challenge → PUT with
 * a SAS signed with the activated key → poll → hub key activated) against a
 * scripted fake DPS over TLS, with a fake TPM credential. */
#include "device_test.h"

#include "common/sas.h"
#include "device/tpm/tpm_blob.h"
#include "tls_fixture.h"

/* tpm.md §3.4 */
#define VECTOR_EK                                                                                  \
    "AToAAQALAAMAsgAgg3GXZ0SEs/gakMyNRqXXJP1S124GUgtk8qHaGzMUaaoABgCAAEMAEAgAAAAAAAEAtKEADl/"      \
    "sNRgmYAjP6gXmbccRaJoTnVixisUaek0OwAzFGN70xt9ZOYp6fhIwfcft3fdVKOrKpXYcTe72CGNkGJGlQz5ti9n2pQ0" \
    "uJhcX8aefh4Onm7lVlUCQAVp1K0r6zI8vkEXWsBIvwvxk0eMJbFaq146kbTkJHIGczb89RkFH2TX+CgXeZOG9oXQzUNw" \
    "ktmTUacspamune5Wywc/ce8HsDFYchyUHogFhrZ/LPnzyTDXO8sSC5z5dvsUBtUME3iRYDyKgZOfBtmRMqQewD+"      \
    "4iH+ZEJjtsyJiWR8hFhyKROnOuqXfNFwjd5IcNU4wtlKO0cLyXmTOfQK6Da1pr5Q=="
#define VECTOR_ID "y5wivfciikcievvnsbpkhzcahwm4chuzx6v4hnqnlqfs3fjf6rxa"
#define VECTOR_ID_NO_PREFIX "tklqc7v6ubgesgf24bbl2snms5cj6xp66bqne6yposdwpnbcbpca"

/* ---- Registration ID ------------------------------------------------------ */

static uint8_t ek[400];
static size_t ek_len;

static dps_result derive(void *ctx, char *out, size_t cap, size_t *out_len)
{
    (void)ctx;
    return dps_tpm_registration_id_derive(ek, ek_len, out, cap, out_len);
}

static void test_registration_id_vector(void **state)
{
    (void)state;
    assert_int_equal(dps_base64_decode(VECTOR_EK, strlen(VECTOR_EK), ek, sizeof ek, &ek_len),
                     DPS_OK);
    assert_int_equal(ek_len, 316);
    check_builder(derive, NULL, VECTOR_ID);
    /* the classic mistake: hashing without the size prefix */
    char id[64];
    size_t n = 0;
    assert_int_equal(dps_tpm_registration_id_derive(ek + 2, ek_len - 2, id, sizeof id, &n), DPS_OK);
    assert_string_equal(id, VECTOR_ID_NO_PREFIX);
    assert_int_equal(n, DPS_TPM_REGISTRATION_ID_LEN);
    assert_true(dps_registration_id_valid(id));
    assert_int_equal(dps_tpm_registration_id_derive(ek, 0, id, sizeof id, &n), DPS_E_INVALID);
}

/* ---- The activation blob ------------------------------------------------- */

/* tpm.md §9.4: the identity key's TPMT_PUBLIC (80 bytes). */
static const char identity_public_hex[] =
    "0008000b000404400020bef56b8c1cc84e11edd717528d2cd99356bd2bbf8f015209c3f84aeeaba8e8a2"
    "0005000b002084e4bd6ca2af96412fdc62fe44d4e9709cdc31933081a62486a48a154b582d53";

static size_t put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

/* A blob with §6's element sizes for RSA-2048 (contents arbitrary except
 * the well-formed ID object and public area). with6: element 6 or not. */
static size_t synthetic_blob(uint8_t *b, bool with6)
{
    size_t o = 0;
    o += put16(b + o, 52); /* 1: TPM2B_ID_OBJECT = TPM2B_DIGEST(32) + 18 */
    o += put16(b + o, 32);
    memset(b + o, 0x11, 50);
    o += 50;
    o += put16(b + o, 256); /* 2 */
    memset(b + o, 0x22, 256);
    o += 256;
    o += put16(b + o, 142); /* 3 */
    memset(b + o, 0x33, 142);
    o += 142;
    o += put16(b + o, 256); /* 4 */
    memset(b + o, 0x44, 256);
    o += 256;
    o += put16(b + o, 80); /* 5 */
    for (size_t i = 0; i < 80; i++) {
        unsigned v = 0;
        sscanf(identity_public_hex + 2 * i, "%2x", &v);
        b[o++] = (uint8_t)v;
    }
    if (with6) {
        o += put16(b + o, 7);
        memcpy(b + o, "opendps", 7);
        o += 7;
    }
    return o;
}

static size_t b64_encode(const uint8_t *b, size_t len, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)b[i + 1] << 8;
        if (i + 2 < len)
            v |= b[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static void test_blob_parse(void **state)
{
    (void)state;
    uint8_t b[1024];
    size_t len = synthetic_blob(b, true);
    assert_int_equal(len, 54 + 258 + 144 + 258 + 82 + 9);
    static dps_tpm_blob blob;
    assert_int_equal(dps__tpm_blob_parse(b, len, &blob), DPS_OK);
    assert_int_equal(blob.credential.size, 52);
    assert_int_equal(blob.secret.size, 256);
    assert_int_equal(blob.duplicate.size, 142);
    assert_int_equal(blob.sym_seed.size, 256);
    assert_int_equal(blob.public_area.size, 80);
    assert_int_equal(blob.public_area.publicArea.type, TPM2_ALG_KEYEDHASH);
    assert_int_equal(blob.public_area.publicArea.objectAttributes, 0x00040440);
    assert_int_equal(blob.uri.size, 7);

    /* element 6 may be missing (parsers that read 1-5 only) */
    size_t len5 = synthetic_blob(b, false);
    assert_int_equal(dps__tpm_blob_parse(b, len5, &blob), DPS_OK);
    /* every other truncation is refused, and so are trailing bytes */
    len = synthetic_blob(b, true);
    for (size_t cut = 0; cut < len; cut++) {
        if (cut == len5)
            continue;
        assert_int_equal(dps__tpm_blob_parse(b, cut, &blob), DPS_E_INVALID);
    }
    b[len] = 0;
    assert_int_equal(dps__tpm_blob_parse(b, len + 1, &blob), DPS_E_INVALID);
    /* element 5 must be a KEYEDHASH key */
    b[54 + 258 + 144 + 258 + 2 + 1] = 0x01; /* type 0x0001: RSA */
    assert_int_equal(dps__tpm_blob_parse(b, len, &blob), DPS_E_INVALID);

    /* base64 front end */
    len = synthetic_blob(b, true);
    char b64[2048];
    size_t n = b64_encode(b, len, b64);
    assert_int_equal(n, (len + 2) / 3 * 4);
    assert_int_equal(dps__tpm_blob_decode(b64, &blob), DPS_OK);
    assert_int_equal(dps__tpm_blob_decode("not base64!", &blob), DPS_E_INVALID);
    assert_int_equal(dps__tpm_blob_decode("", &blob), DPS_E_INVALID);
    assert_int_equal(dps__tpm_blob_decode("QUJD", &blob), DPS_E_INVALID);
}

/* ---- Register body and parsers ------------------------------------------- */

static dps_result body_tpm(void *ctx, char *out, size_t cap, size_t *out_len)
{
    const char *payload = ctx;
    return dps_prov_register_body_tpm("tpmreg01", "AToAAQ==", "ARoAAQ==", payload, out, cap,
                                      out_len);
}

static void test_register_body(void **state)
{
    (void)state;
    check_builder(body_tpm, NULL,
                  "{\"registrationId\":\"tpmreg01\",\"tpm\":{\"endorsementKey\":\"AToAAQ==\","
                  "\"storageRootKey\":\"ARoAAQ==\"}}");
    check_builder(body_tpm, "{\"fw\":1}",
                  "{\"registrationId\":\"tpmreg01\",\"tpm\":{\"endorsementKey\":\"AToAAQ==\","
                  "\"storageRootKey\":\"ARoAAQ==\"},\"payload\":{\"fw\":1}}");
    char out[256];
    size_t n = 0;
    assert_int_equal(dps_prov_register_body_tpm("tpmreg01", "AT\"oA", "ARoAAQ==", NULL, out,
                                                sizeof out, &n),
                     DPS_E_INVALID);
    assert_int_equal(dps_prov_register_body_tpm("tpmreg01", "AToAAQ==", "", NULL, out, sizeof out,
                                                &n),
                     DPS_E_INVALID);
    assert_int_equal(dps_prov_register_body_tpm("bad id", "AToAAQ==", "ARoAAQ==", NULL, out,
                                                sizeof out, &n),
                     DPS_E_INVALID);
}

static void test_parse_challenge_and_hub_key(void **state)
{
    (void)state;
    static dps_prov_response r;
    const char *challenge =
        "{\"message\":\"TPM challenge\",\"authenticationKey\":\"QUFBQQ==\",\"keyName\":\"registration\"}";
    assert_int_equal(dps_prov_parse_http_response(401, NULL, challenge, strlen(challenge), &r),
                     DPS_OK);
    assert_int_equal(r.kind, DPS_PROV_BODY_ERROR);
    assert_string_equal(r.authentication_key, "QUFBQQ==");
    assert_string_equal(r.key_name, "registration");
    assert_string_equal(r.error_message, "TPM challenge");
    /* an ordinary 401 has no challenge */
    const char *plain = "{\"errorCode\":401002,\"message\":\"Unauthorized\"}";
    assert_int_equal(dps_prov_parse_http_response(401, NULL, plain, strlen(plain), &r), DPS_OK);
    assert_string_equal(r.authentication_key, "");

    const char *assigned =
        "{\"operationId\":\"op1\",\"status\":\"assigned\",\"registrationState\":{"
        "\"registrationId\":\"tpmreg01\",\"assignedHub\":\"hub1.opendps.local\",\"deviceId\":\"d1\","
        "\"status\":\"assigned\",\"tpm\":{\"authenticationKey\":\"QkJCQg==\"}}}";
    assert_int_equal(dps_prov_parse_http_response(200, NULL, assigned, strlen(assigned), &r),
                     DPS_OK);
    assert_string_equal(r.registration.tpm_authentication_key, "QkJCQg==");
    /* not a string: a broken answer */
    const char *broken =
        "{\"operationId\":\"op1\",\"status\":\"assigned\",\"registrationState\":{"
        "\"assignedHub\":\"h\",\"deviceId\":\"d1\",\"tpm\":{\"authenticationKey\":5}}}";
    assert_int_equal(dps_prov_parse_http_response(200, NULL, broken, strlen(broken), &r),
                     DPS_E_PROTOCOL);
}

/* ---- The provisioning flow with a fake TPM -------------------------------- */

#define SCOPE "0ne000AB12C"
#define REG "tpmreg01"
#define OP "4.9f3c1d2e4b5a6078.5b8e2f1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define BLOB1 "QUFBQQ=="
#define BLOB2 "QkJCQg=="

typedef struct {
    dps_credential base;
    uint8_t key[32];
    bool has_key;
    int activations;
    char blobs[4][32];
    dps_result activate_rc;
} fake_tpm;

static dps_result fake_sign(const dps_credential *c, const char *resource, const char *skn,
                            int64_t expiry, char *out, size_t cap, size_t *out_len)
{
    const fake_tpm *f = (const fake_tpm *)c;
    assert_true(f->has_key); /* nobody signs before the challenge */
    return dps_sas_write(f->key, sizeof f->key, resource, skn, expiry, out, cap, out_len);
}

static const char *fake_identity(const dps_credential *c)
{
    (void)c;
    return REG;
}

static dps_result fake_keys(const dps_credential *c, const char **ek_b64, const char **srk_b64)
{
    (void)c;
    *ek_b64 = "AToAAQ==";
    *srk_b64 = "ARoAAQ==";
    return DPS_OK;
}

/* The key a blob "delivers": 0x11.. for BLOB1, 0x22.. for BLOB2. */
static dps_result fake_activate(const dps_credential *c, const char *blob)
{
    fake_tpm *f = (fake_tpm *)(uintptr_t)c;
    snprintf(f->blobs[f->activations++ % 4], sizeof f->blobs[0], "%s", blob);
    if (f->activate_rc != DPS_OK)
        return f->activate_rc;
    memset(f->key, strcmp(blob, BLOB1) == 0 ? 0x11 : 0x22, sizeof f->key);
    f->has_key = true;
    return DPS_OK;
}

static const dps_credential_ops fake_ops = {
    .name = "fake-tpm",
    .sign_sas = fake_sign,
    .identity = fake_identity,
    .tpm_keys = fake_keys,
    .tpm_activate = fake_activate,
};

static fx_server srv;
static dps_prov_client client;
static dps_registration_result result;
static fake_tpm tpm;

typedef struct {
    const char *responses[6];
    int next;
    char requests[6][4096];
    int count;
} http_script;

static void serve_script(SSL *ssl, int index, void *arg)
{
    (void)index;
    http_script *s = arg;
    while (s->responses[s->next] != NULL) {
        char *req = s->requests[s->count];
        if (fx_read_request(ssl, req, sizeof s->requests[0]) == 0)
            return;
        s->count++;
        const char *resp = s->responses[s->next++];
        fx_write(ssl, resp);
        if (strstr(resp, "Connection: close") != NULL)
            return;
    }
}

static const char *json_response(int code, const char *reason, const char *extra,
                                 const char *body, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n%s"
             "Content-Length: %zu\r\n\r\n%s",
             code, reason, extra, strlen(body), body);
    return buf;
}

static char r0[1024], r1[1024], r2[1024];

#define CHALLENGE(keyname)                                                                         \
    "{\"message\":\"TPM challenge\",\"authenticationKey\":\"" BLOB1 "\",\"keyName\":\"" keyname   \
    "\"}"
#define ASSIGNED(tpm_member)                                                                       \
    "{\"operationId\":\"" OP "\",\"status\":\"assigned\",\"registrationState\":{"                  \
    "\"registrationId\":\"" REG "\",\"assignedHub\":\"hub1.opendps.local\",\"deviceId\":\"" REG   \
    "\",\"status\":\"assigned\"" tpm_member "}}"

static int setup(void **state)
{
    (void)state;
    fx_init(&srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(&srv);
    return 0;
}

static dps_prov_options options(void)
{
    memset(&tpm, 0, sizeof tpm);
    tpm.base.ops = &fake_ops;
    dps_prov_options o;
    dps_prov_options_default(&o);
    o.host = "localhost";
    o.port = srv.port;
    o.connect_address = "127.0.0.1";
    o.id_scope = SCOPE;
    o.registration_id = NULL; /* the credential's: the derived ID */
    o.credential = &tpm.base;
    o.ca_file = srv.ca_path;
    o.timeout_ms = 10000;
    return o;
}

/* The Authorization header's token was signed with key byte b, skn as given. */
static void assert_signed(const char *req, uint8_t b, const char *skn)
{
    const char *auth = strstr(req, "\r\nAuthorization: ");
    assert_non_null(auth);
    auth += strlen("\r\nAuthorization: ");
    dps_sas_token t;
    assert_int_equal(dps_sas_parse(auth, strcspn(auth, "\r"), &t), DPS_SAS_OK);
    uint8_t k[32];
    memset(k, b, sizeof k);
    assert_true(dps_sas_signed_with(&t, k, sizeof k));
    assert_true(dps_sas_audience_covers(t.sr, SCOPE "/registrations/" REG));
    assert_non_null(t.skn);
    assert_string_equal(t.skn, skn);
    dps_sas_token_free(&t);
}

static void test_flow(void **state)
{
    (void)state;
    http_script s = {.next = 0};
    s.responses[0] = json_response(401, "Unauthorized", "", CHALLENGE("registration"), r0, sizeof r0);
    s.responses[1] = json_response(202, "Accepted", "retry-after: 1\r\n",
                                   "{\"operationId\":\"" OP "\",\"status\":\"assigning\"}", r1,
                                   sizeof r1);
    s.responses[2] = json_response(
        200, "OK", "", ASSIGNED(",\"tpm\":{\"authenticationKey\":\"" BLOB2 "\"}"), r2, sizeof r2);
    fx_start(&srv, serve_script, &s, 1);
    dps_prov_options o = options();
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_OK);
    fx_join(&srv);
    assert_int_equal(s.count, 3);
    /* 1: no Authorization, EK and SRK in the body */
    assert_null(strstr(s.requests[0], "Authorization"));
    assert_non_null(strstr(s.requests[0], "PUT /" SCOPE "/registrations/" REG "/register?"));
    assert_non_null(strstr(s.requests[0],
                           "\r\n\r\n{\"registrationId\":\"" REG "\",\"tpm\":{\"endorsementKey\":"
                           "\"AToAAQ==\",\"storageRootKey\":\"ARoAAQ==\"}}"));
    /* 2: the same PUT (tpm resent, as the C SDK and Node do), signed with K1 */
    assert_non_null(strstr(s.requests[1], "PUT /" SCOPE "/registrations/" REG "/register?"));
    assert_non_null(strstr(s.requests[1], "\"tpm\":{\"endorsementKey\""));
    assert_signed(s.requests[1], 0x11, "registration");
    /* 3: the poll, same key */
    assert_non_null(strstr(s.requests[2], "GET /" SCOPE "/registrations/" REG "/operations/" OP));
    assert_signed(s.requests[2], 0x11, "registration");
    /* both blobs went to the TPM; the hub key is the second */
    assert_int_equal(tpm.activations, 2);
    assert_string_equal(tpm.blobs[0], BLOB1);
    assert_string_equal(tpm.blobs[1], BLOB2);
    assert_int_equal(tpm.key[0], 0x22);
    assert_string_equal(result.assigned_hub, "hub1.opendps.local");
    assert_string_equal(result.tpm_authentication_key, BLOB2);
}

static void test_key_name_used_as_skn(void **state)
{
    (void)state;
    http_script s = {.next = 0};
    s.responses[0] = json_response(401, "Unauthorized", "", CHALLENGE("mykey"), r0, sizeof r0);
    s.responses[1] = json_response(
        200, "OK", "", ASSIGNED(",\"tpm\":{\"authenticationKey\":\"" BLOB2 "\"}"), r1, sizeof r1);
    fx_start(&srv, serve_script, &s, 1);
    dps_prov_options o = options();
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_OK);
    fx_join(&srv);
    assert_signed(s.requests[1], 0x11, "mykey");
}

static void test_refusals(void **state)
{
    (void)state;
    /* a second 401 after the challenge was answered is a refusal */
    http_script s = {.next = 0};
    s.responses[0] = json_response(401, "Unauthorized", "", CHALLENGE("registration"), r0, sizeof r0);
    s.responses[1] = json_response(401, "Unauthorized", "",
                                   "{\"errorCode\":401002,\"message\":\"the TPM challenge has expired\"}",
                                   r1, sizeof r1);
    fx_start(&srv, serve_script, &s, 1);
    dps_prov_options o = options();
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_UNAUTHORIZED);
    fx_join(&srv);
    assert_int_equal(result.error_code, 401002);
    assert_string_equal(result.error_message, "the TPM challenge has expired");

    /* the TPM refuses the blob: the error, and no second request */
    http_script t = {.next = 0};
    t.responses[0] = json_response(401, "Unauthorized", "", CHALLENGE("registration"), r0, sizeof r0);
    fx_start(&srv, serve_script, &t, 1);
    o = options();
    tpm.activate_rc = DPS_E_TPM;
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_TPM);
    fx_join(&srv);
    assert_int_equal(t.count, 1);

    /* assigned without the hub key's blob is a broken answer */
    http_script u = {.next = 0};
    u.responses[0] = json_response(401, "Unauthorized", "", CHALLENGE("registration"), r0, sizeof r0);
    u.responses[1] = json_response(200, "OK", "", ASSIGNED(""), r1, sizeof r1);
    fx_start(&srv, serve_script, &u, 1);
    o = options();
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_PROTOCOL);
    fx_join(&srv);

    /* 404 for the first PUT (no enrollment): no challenge, no activation */
    http_script v = {.next = 0};
    v.responses[0] = json_response(404, "Not Found", "",
                                   "{\"errorCode\":404201,\"message\":\"no enrollment\"}", r0,
                                   sizeof r0);
    fx_start(&srv, serve_script, &v, 1);
    o = options();
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_NOT_FOUND);
    fx_join(&srv);
    assert_int_equal(tpm.activations, 0);

    /* MQTT has no TPM flow: refused before any connection */
    o = options();
    o.transport = DPS_TRANSPORT_MQTT;
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration_id_vector),
        cmocka_unit_test(test_blob_parse),
        cmocka_unit_test(test_register_body),
        cmocka_unit_test(test_parse_challenge_and_hub_key),
        cmocka_unit_test(test_flow),
        cmocka_unit_test(test_key_name_used_as_skn),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
