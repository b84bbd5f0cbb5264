/* The X.509 credential (dps/x509_credential.h): loading leaf, chain and key
 * from PEM files made at run time with lib/pki (root -> intermediate ->
 * leaf, EC and RSA), the refusals (missing file, no certificate, key of
 * another certificate, encrypted key, too long a chain), and the credential
 * at work against the in-process TLS server: the server sees the leaf and
 * the intermediate in the handshake, HTTPS provisioning sends no
 * Authorization header and registers under the leaf's CN, MQTT provisioning
 * and the hub client send no password. */
#include "device_test.h"

#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sys/stat.h>

/* dps/tpm.h (through device_test.h) and pki/pki.h both define a TPM size
 * cap under one name, with different values; this test uses neither. */
#undef DPS_TPM_MAX_PUBLIC
#include "pki/pki.h"
#include "tls_fixture.h"

#define SCOPE "0ne000AB12C"
#define CN "device-x1"

static fx_server srv;
static dps_prov_client client; /* about 120 KiB: not on the stack */
static dps_registration_result result;

/* The PKI of the tests, and its files. */
static EVP_PKEY *root_key, *inter_key, *leaf_key, *other_key, *rsa_key;
static X509 *root, *inter, *leaf, *rsa_leaf;
static char dir[64];
static char p_leaf[128], p_inter[128], p_leaf_key[128], p_bundle[128], p_other_key[128],
    p_enc_key[128], p_rsa[128], p_rsa_key[128], p_many[128], p_empty[128];

static X509 *issue(const char *cn, bool ca, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
    dps_cert_spec spec = {
        .common_name = cn,
        .not_before_s = (int64_t)time(NULL) - 3600,
        .not_after_s = (int64_t)time(NULL) + 86400,
        .is_ca = ca,
        .path_len = -1,
        .client_auth = !ca,
    };
    char err[256];
    X509 *c = dps_pki_issue_cert(&spec, key, issuer, issuer_key, err, sizeof err);
    if (c == NULL)
        fail_msg("issue %s: %s", cn, err);
    return c;
}

static void write_pem(const char *path, X509 *const *certs, size_t n, EVP_PKEY *key,
                      const EVP_CIPHER *cipher)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(PEM_write_X509(f, certs[i]), 1);
    if (key != NULL)
        assert_int_equal(PEM_write_PrivateKey(f, key, cipher, cipher ? (unsigned char *)"secret" : NULL,
                                              cipher ? 6 : 0, NULL, NULL),
                         1);
    fclose(f);
}

static int accept_any(int ok, X509_STORE_CTX *ctx)
{
    (void)ok;
    (void)ctx;
    return 1;
}

static int setup(void **state)
{
    (void)state;
    fx_init(&srv);
    /* ask for a client certificate and accept any: the application decides,
     * as dpsd does (device-api.md §10) */
    SSL_CTX_set_verify(srv.ctx, SSL_VERIFY_PEER, accept_any);
    root_key = dps_pki_generate_p256();
    inter_key = dps_pki_generate_p256();
    leaf_key = dps_pki_generate_p256();
    other_key = dps_pki_generate_p256();
    rsa_key = EVP_RSA_gen(2048);
    assert_non_null(rsa_key);
    root = issue("x509 test root", true, root_key, NULL, root_key);
    inter = issue("x509 test intermediate", true, inter_key, root, root_key);
    leaf = issue(CN, false, leaf_key, inter, inter_key);
    rsa_leaf = issue("device-rsa", false, rsa_key, inter, inter_key);

    strcpy(dir, "/tmp/dps-x509-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
#define P(var, name) snprintf(var, sizeof var, "%s/%s", dir, name)
    P(p_leaf, "leaf.pem");
    P(p_inter, "inter.pem");
    P(p_leaf_key, "leaf.key");
    P(p_bundle, "bundle.pem");
    P(p_other_key, "other.key");
    P(p_enc_key, "enc.key");
    P(p_rsa, "rsa.pem");
    P(p_rsa_key, "rsa.key");
    P(p_many, "many.pem");
    P(p_empty, "empty.pem");
#undef P
    write_pem(p_leaf, &leaf, 1, NULL, NULL);
    write_pem(p_inter, &inter, 1, NULL, NULL);
    write_pem(p_leaf_key, NULL, 0, leaf_key, NULL);
    X509 *bundle[] = {leaf, inter};
    write_pem(p_bundle, bundle, 2, leaf_key, NULL); /* leaf, chain and key in one file */
    write_pem(p_other_key, NULL, 0, other_key, NULL);
    write_pem(p_enc_key, NULL, 0, leaf_key, EVP_aes_128_cbc());
    write_pem(p_rsa, &rsa_leaf, 1, NULL, NULL);
    write_pem(p_rsa_key, NULL, 0, rsa_key, NULL);
    X509 *many[DPS_X509_MAX_CHAIN + 1];
    for (size_t i = 0; i < DPS_X509_MAX_CHAIN + 1; i++)
        many[i] = inter;
    write_pem(p_many, many, DPS_X509_MAX_CHAIN + 1, NULL, NULL);
    FILE *f = fopen(p_empty, "w");
    fputs("no certificate here\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(&srv);
    const char *files[] = {p_leaf, p_inter, p_leaf_key, p_bundle, p_other_key,
                           p_enc_key, p_rsa, p_rsa_key, p_many, p_empty};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(dir);
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
    X509_free(rsa_leaf);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(inter_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(rsa_key);
    return 0;
}

static char log_text[8192];

static void capture_log(void *ctx, dps_device_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    strncat(log_text, msg, sizeof log_text - strlen(log_text) - 2);
    strcat(log_text, "\n");
}

static const dps_device_logger test_log = {capture_log, NULL, DPS_DEVICE_LOG_DEBUG};

/* ---- Loading -------------------------------------------------------------- */

static void test_load_leaf_chain_key(void **state)
{
    (void)state;
    dps_x509_credential x;
    assert_int_equal(dps_x509_credential_init(&x, p_leaf, p_inter, p_leaf_key, &test_log),
                     DPS_OK);
    assert_string_equal(x.common_name, CN);
    assert_int_equal(x.chain_len, 1);
    char sha1[41], sha256[65];
    dps_x509_thumbprint_sha1(leaf, sha1);
    dps_x509_thumbprint_sha256(leaf, sha256);
    assert_string_equal(x.thumbprint_sha1, sha1);
    assert_string_equal(x.thumbprint_sha256, sha256);
    int64_t now = (int64_t)time(NULL);
    assert_true(x.not_before_s <= now && x.not_after_s > now + 86000);
    assert_true(dps_credential_is_x509(&x.base));
    assert_string_equal(x.base.ops->name, "x509");
    assert_string_equal(x.base.ops->identity(&x.base), CN);
    /* no SAS: the transports then send no Authorization and no password */
    char out[64];
    size_t n = 99;
    assert_int_equal(x.base.ops->sign_sas(&x.base, SCOPE "/registrations/" CN, "registration",
                                          now + 3600, out, sizeof out, &n),
                     DPS_E_UNSUPPORTED);
    assert_int_equal(n, 0);
    dps_x509_credential_free(&x);
    assert_null(x.base.ops); /* wiped */
    dps_x509_credential_free(&x); /* a second free does nothing */
    dps_x509_credential_free(NULL);
}

static void test_load_one_file(void **state)
{
    (void)state;
    /* the C SDK's form: leaf and intermediates (and here the key) in one file */
    dps_x509_credential x;
    assert_int_equal(dps_x509_credential_init(&x, p_bundle, NULL, p_bundle, &test_log), DPS_OK);
    assert_string_equal(x.common_name, CN);
    assert_int_equal(x.chain_len, 1);
    dps_x509_credential_free(&x);
    /* a separate chain file adds to the certificates of the leaf's file */
    assert_int_equal(dps_x509_credential_init(&x, p_bundle, p_inter, p_leaf_key, &test_log),
                     DPS_OK);
    assert_int_equal(x.chain_len, 2);
    dps_x509_credential_free(&x);
}

static void test_load_rsa(void **state)
{
    (void)state;
    dps_x509_credential x;
    assert_int_equal(dps_x509_credential_init(&x, p_rsa, p_inter, p_rsa_key, &test_log), DPS_OK);
    assert_string_equal(x.common_name, "device-rsa");
    dps_x509_credential_free(&x);
}

static void test_load_from_memory(void **state)
{
    (void)state;
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, leaf);
    char *cert = NULL;
    long cl = BIO_get_mem_data(b, &cert);
    BIO *k = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(k, leaf_key, NULL, NULL, 0, NULL, NULL);
    char *key = NULL;
    long kl = BIO_get_mem_data(k, &key);
    dps_x509_credential x;
    assert_int_equal(dps_x509_credential_init_pem(&x, cert, (size_t)cl, NULL, 0, key, (size_t)kl,
                                                  NULL),
                     DPS_OK);
    assert_int_equal(x.chain_len, 0);
    assert_string_equal(x.common_name, CN);
    dps_x509_credential_free(&x);
    BIO_free(b);
    BIO_free(k);
}

static void test_load_refusals(void **state)
{
    (void)state;
    dps_x509_credential x;
    memset(&x, 0x5A, sizeof x); /* untouched on failure */
    dps_x509_credential before = x;
    log_text[0] = '\0';
    assert_int_equal(dps_x509_credential_init(&x, "/nonexistent/leaf.pem", NULL, p_leaf_key,
                                              &test_log),
                     DPS_E_IO);
    assert_non_null(strstr(log_text, "/nonexistent/leaf.pem"));
    log_text[0] = '\0';
    assert_int_equal(dps_x509_credential_init(&x, p_leaf, NULL, p_other_key, &test_log),
                     DPS_E_INVALID);
    assert_non_null(strstr(log_text, "does not belong"));
    log_text[0] = '\0';
    assert_int_equal(dps_x509_credential_init(&x, p_leaf, NULL, p_enc_key, &test_log),
                     DPS_E_INVALID);
    assert_non_null(strstr(log_text, "encrypted"));
    log_text[0] = '\0';
    assert_int_equal(dps_x509_credential_init(&x, p_empty, NULL, p_leaf_key, &test_log),
                     DPS_E_INVALID);
    assert_non_null(strstr(log_text, "no PEM CERTIFICATE"));
    assert_int_equal(dps_x509_credential_init(&x, p_leaf, p_empty, p_leaf_key, &test_log),
                     DPS_E_INVALID);
    assert_int_equal(dps_x509_credential_init(&x, p_leaf, NULL, p_leaf, &test_log),
                     DPS_E_INVALID); /* no key in the file */
    log_text[0] = '\0';
    assert_int_equal(dps_x509_credential_init(&x, p_leaf, p_many, p_leaf_key, &test_log),
                     DPS_E_INVALID);
    assert_non_null(strstr(log_text, "more than"));
    assert_memory_equal(&x, &before, sizeof x);
}

/* ---- In the handshake --------------------------------------------------------- */

/* What the server saw of the client's certificate chain. */
typedef struct {
    char leaf_cn[64];
    int chain_count;      /* certificates after the leaf */
    char chain0_cn[64];
    char request[4096];
    char client_id[64];
    char username[256];
    bool has_password;
} seen_t;

static void note_peer(SSL *ssl, seen_t *s)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (peer != NULL) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, s->leaf_cn,
                                  sizeof s->leaf_cn);
        X509_free(peer);
    }
    /* on the server side the stack holds what came after the leaf */
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    s->chain_count = chain != NULL ? sk_X509_num(chain) : 0;
    if (s->chain_count > 0)
        X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, 0)),
                                  NID_commonName, s->chain0_cn, sizeof s->chain0_cn);
}

static char assigned_body[1024];

static void serve_https(SSL *ssl, int index, void *arg)
{
    (void)index;
    seen_t *s = arg;
    note_peer(ssl, s);
    if (fx_read_request(ssl, s->request, sizeof s->request) == 0)
        return;
    char resp[1536];
    snprintf(resp, sizeof resp,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(assigned_body), assigned_body);
    fx_write(ssl, resp);
}

static dps_prov_options prov_options(dps_prov_transport t, const dps_credential *cred)
{
    dps_prov_options o;
    dps_prov_options_default(&o);
    o.transport = t;
    o.host = "localhost";
    o.port = srv.port;
    o.connect_address = "127.0.0.1";
    o.id_scope = SCOPE;
    o.registration_id = NULL; /* the leaf's CN */
    o.credential = cred;
    o.ca_file = srv.ca_path;
    o.timeout_ms = 10000;
    o.log.fn = capture_log;
    o.log.level = DPS_DEVICE_LOG_DEBUG;
    log_text[0] = '\0';
    return o;
}

static void test_https_register_with_chain(void **state)
{
    (void)state;
    snprintf(assigned_body, sizeof assigned_body,
             "{\"operationId\":\"op1\",\"status\":\"assigned\",\"registrationState\":{"
             "\"registrationId\":\"" CN "\",\"x509\":{\"enrollmentGroupId\":\"line-a\"},"
             "\"assignedHub\":\"hub1.opendps.local\",\"deviceId\":\"" CN "\","
             "\"status\":\"assigned\",\"substatus\":\"initialAssignment\"}}");
    dps_x509_credential x;
    assert_int_equal(dps_x509_credential_init(&x, p_leaf, p_inter, p_leaf_key, &test_log),
                     DPS_OK);
    seen_t s;
    memset(&s, 0, sizeof s);
    fx_start(&srv, serve_https, &s, 1);
    dps_prov_options o = prov_options(DPS_TRANSPORT_HTTPS, &x.base);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_OK);
    fx_join(&srv);
    assert_string_equal(s.leaf_cn, CN);
    assert_int_equal(s.chain_count, 1);
    assert_string_equal(s.chain0_cn, "x509 test intermediate");
    assert_non_null(strstr(s.request, "PUT /" SCOPE "/registrations/" CN "/register?"));
    assert_non_null(strstr(s.request, "{\"registrationId\":\"" CN "\"}"));
    assert_null(strcasestr(s.request, "authorization:"));
    assert_string_equal(result.device_id, CN);
    assert_string_equal(result.enrollment_group_id, "line-a");
    dps_x509_credential_free(&x);
}

static void test_https_rsa_leaf(void **state)
{
    (void)state;
    snprintf(assigned_body, sizeof assigned_body,
             "{\"operationId\":\"op1\",\"status\":\"assigned\",\"registrationState\":{"
             "\"assignedHub\":\"hub1.opendps.local\",\"deviceId\":\"device-rsa\","
             "\"status\":\"assigned\"}}");
    dps_x509_credential x;
    assert_int_equal(dps_x509_credential_init(&x, p_rsa, p_inter, p_rsa_key, &test_log), DPS_OK);
    seen_t s;
    memset(&s, 0, sizeof s);
    fx_start(&srv, serve_https, &s, 1);
    dps_prov_options o = prov_options(DPS_TRANSPORT_HTTPS, &x.base);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_OK);
    fx_join(&srv);
    assert_string_equal(s.leaf_cn, "device-rsa");
    assert_int_equal(s.chain_count, 1);
    assert_non_null(strstr(s.request, "/registrations/device-rsa/register?"));
    dps_x509_credential_free(&x);
}

static void test_explicit_registration_id_wins(void **state)
{
    (void)state;
    snprintf(assigned_body, sizeof assigned_body,
             "{\"operationId\":\"op1\",\"status\":\"assigned\",\"registrationState\":{"
             "\"assignedHub\":\"hub1.opendps.local\",\"deviceId\":\"other-id\","
             "\"status\":\"assigned\"}}");
    dps_x509_credential x;
    assert_int_equal(dps_x509_credential_init(&x, p_bundle, NULL, p_bundle, NULL), DPS_OK);
    seen_t s;
    memset(&s, 0, sizeof s);
    fx_start(&srv, serve_https, &s, 1);
    dps_prov_options o = prov_options(DPS_TRANSPORT_HTTPS, &x.base);
    o.registration_id = "other-id"; /* the server will say 401; the client does as told */
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_OK);
    fx_join(&srv);
    assert_non_null(strstr(s.request, "/registrations/other-id/register?"));
    dps_x509_credential_free(&x);
}

static fx_mqtt fm;

/* CONNECT (noted), CONNACK, SUBACK, then one answer to the register
 * publish; hub: only CONNECT, CONNACK and SUBACK. */
static void serve_mqtt(SSL *ssl, int index, void *arg)
{
    (void)index;
    seen_t *s = arg;
    note_peer(ssl, s);
    memset(&fm, 0, sizeof fm);
    dps_mqtt_packet pkt;
    if (fx_mqtt_read(ssl, &fm, &pkt) != 0 || pkt.type != DPS_MQTT_CONNECT)
        return;
    const dps_mqtt_connect *c = &pkt.u.connect;
    fx_copy(s->client_id, sizeof s->client_id, c->client_id.ptr, c->client_id.len);
    fx_copy(s->username, sizeof s->username, c->username.ptr, c->username.len);
    s->has_password = c->has_password;
    fx_mqtt_connack(ssl, 0);
    if (fx_mqtt_read(ssl, &fm, &pkt) != 0 || pkt.type != DPS_MQTT_SUBSCRIBE)
        return;
    bool hub = !dps_mqtt_str_eq(pkt.u.subscribe.subs[0].filter, "$dps/registrations/res/#");
    fx_mqtt_suback(ssl, pkt.u.subscribe.packet_id, hub ? 3 : 1, hub ? 0 : 1);
    if (!hub) {
        if (fx_mqtt_read(ssl, &fm, &pkt) != 0 || pkt.type != DPS_MQTT_PUBLISH)
            return;
        if (pkt.u.publish.qos == 1)
            fx_mqtt_ack(ssl, DPS_MQTT_PUBACK, pkt.u.publish.packet_id);
        fx_mqtt_publish(ssl, "$dps/registrations/res/200/?$rid=1", assigned_body, 0, 0);
    }
    while (fx_mqtt_read(ssl, &fm, &pkt) == 0 && pkt.type != DPS_MQTT_DISCONNECT) {
    }
}

static void test_mqtt_register_no_password(void **state)
{
    (void)state;
    snprintf(assigned_body, sizeof assigned_body,
             "{\"operationId\":\"op1\",\"status\":\"assigned\",\"registrationState\":{"
             "\"assignedHub\":\"hub1.opendps.local\",\"deviceId\":\"" CN "\","
             "\"status\":\"assigned\"}}");
    dps_x509_credential x;
    assert_int_equal(dps_x509_credential_init(&x, p_leaf, p_inter, p_leaf_key, &test_log),
                     DPS_OK);
    seen_t s;
    memset(&s, 0, sizeof s);
    fx_start(&srv, serve_mqtt, &s, 1);
    dps_prov_options o = prov_options(DPS_TRANSPORT_MQTT, &x.base);
    o.client_version = "test/1.0";
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_OK);
    fx_join(&srv);
    assert_string_equal(s.leaf_cn, CN);
    assert_int_equal(s.chain_count, 1);
    assert_string_equal(s.client_id, CN);
    assert_string_equal(s.username, SCOPE "/registrations/" CN
                                          "/api-version=2021-06-01&ClientVersion=test%2F1.0");
    assert_false(s.has_password);
    assert_string_equal(result.assigned_hub, "hub1.opendps.local");
    dps_x509_credential_free(&x);
}

static void test_hub_connect_with_certificate(void **state)
{
    (void)state;
    dps_x509_credential x;
    assert_int_equal(dps_x509_credential_init(&x, p_bundle, NULL, p_bundle, &test_log), DPS_OK);
    seen_t s;
    memset(&s, 0, sizeof s);
    fx_start(&srv, serve_mqtt, &s, 1);
    static dps_hub_client hub;
    static uint8_t rx[4096], tx[4096];
    dps_hub_options h;
    dps_hub_options_default(&h);
    char gw[32];
    snprintf(gw, sizeof gw, "127.0.0.1:%u", (unsigned)srv.port);
    h.hub_host = "hub1.opendps.local";
    h.gateway_address = gw;
    h.device_id = CN;
    h.credential = &x.base;
    h.ca_file = srv.ca_path;
    h.client_type = "test/1.0";
    h.rx_buffer = rx;
    h.rx_buffer_size = sizeof rx;
    h.tx_buffer = tx;
    h.tx_buffer_size = sizeof tx;
    h.timeout_ms = 5000;
    h.log = test_log;
    assert_int_equal(dps_hub_client_connect(&hub, &h), DPS_OK);
    /* nothing expires with a certificate: a poll does not reconnect */
    assert_int_equal(dps_hub_client_poll(&hub, 50), DPS_OK);
    dps_hub_client_close(&hub);
    fx_join(&srv);
    assert_string_equal(s.leaf_cn, CN);
    assert_int_equal(s.chain_count, 1);
    assert_string_equal(s.client_id, CN);
    assert_string_equal(s.username,
                        "hub1.opendps.local/" CN "/?api-version=2021-04-12&DeviceClientType=test%2F1.0");
    assert_false(s.has_password);
    assert_null(strstr(log_text, "renewing"));
    dps_x509_credential_free(&x);
}

static void test_symmetric_key_has_no_identity(void **state)
{
    (void)state;
    /* without a registration ID and without an identity: an option error */
    dps_symmetric_key k;
    assert_int_equal(dps_symmetric_key_init(&k, "AAECAwQFBgcICQoLDA0ODw=="), DPS_OK);
    assert_false(dps_credential_is_x509(&k.base));
    dps_prov_options o = prov_options(DPS_TRANSPORT_HTTPS, &k.base);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_INVALID);
    assert_non_null(strstr(log_text, "a registration ID is required"));
    dps_symmetric_key_wipe(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_leaf_chain_key),
        cmocka_unit_test(test_load_one_file),
        cmocka_unit_test(test_load_rsa),
        cmocka_unit_test(test_load_from_memory),
        cmocka_unit_test(test_load_refusals),
        cmocka_unit_test(test_https_register_with_chain),
        cmocka_unit_test(test_https_rsa_leaf),
        cmocka_unit_test(test_explicit_registration_id_wins),
        cmocka_unit_test(test_mqtt_register_no_password),
        cmocka_unit_test(test_hub_connect_with_certificate),
        cmocka_unit_test(test_symmetric_key_has_no_identity),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
