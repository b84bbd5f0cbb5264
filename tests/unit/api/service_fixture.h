/* Shared by the service API tests (test_service_*.c): a real SQLite store in
 * a temporary directory, a hand-filled dpsd_ctx with an owner policy and two
 * linked hubs, and calls through dps_api_handle with requests built as
 * dps_http_request structs carrying a fresh SAS token. */
#ifndef TEST_SERVICE_FIXTURE_H
#define TEST_SERVICE_FIXTURE_H

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/service_auth.h"
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/sas.h"
#include "common/timeutil.h"
#include "dpsd.h"
#include "net/http_request.h"
#include "store/store.h"

#define SVC_HOST "dps.example.net"
#define SVC_OWNER_KEY "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
#define SVC_OWNER_KEY2 "c2Vjb25kYXJ5LWtleS1mb3ItdGVzdHMtMDEyMzQ1Njc="
#define SVC_HUB1 "hub1.example.net"
#define SVC_HUB2 "hub2.example.net"
/* A valid 32-byte symmetric key. */
#define SVC_SYMKEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

typedef struct {
    char dir[64];
    dpsd_ctx ctx;
    char *auth; /* owner token for SVC_HOST */
} svc_fx;

typedef struct {
    dps_http_response res;
    json_t *json; /* parsed body, NULL when empty */
} svc_reply;

static inline void svc_put_raw(svc_fx *fx, dps_collection coll, const char *key,
                               const char *doc, const char *etag, const char *group)
{
    dps_record rec = {.key = (char *)key, .doc = (char *)doc, .etag = (char *)etag,
                      .group = (char *)group};
    assert_int_equal(dps_store_put(fx->ctx.store, coll, &rec, DPS_PUT_UPSERT, NULL),
                     DPS_STORE_OK);
}

static inline void svc_put_policy(svc_fx *fx, const char *key, const char *name,
                                  const char *primary, const char *secondary, const char *rights)
{
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s}", "keyName", name, "primaryKey", primary,
                            "secondaryKey", secondary, "rights", rights);
    assert_non_null(doc);
    char *text = json_dumps(doc, 0);
    assert_non_null(text);
    svc_put_raw(fx, DPS_COLL_ACCESS_POLICY, key, text, "IjEi", NULL);
    free(text);
    json_decref(doc);
}

static inline int svc_setup(void **state)
{
    svc_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    dps_log_set_level(DPS_LOG_WARN); /* refusals are expected here */
    snprintf(fx->dir, sizeof fx->dir, "/tmp/dps-svc-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    char url[128], err[256] = "";
    snprintf(url, sizeof url, "sqlite:%s/x.db", fx->dir);
    fx->ctx.store = dps_store_open(url, err, sizeof err);
    if (fx->ctx.store == NULL)
        fail_msg("store: %s", err);
    snprintf(fx->ctx.service_host, sizeof fx->ctx.service_host, "%s", SVC_HOST);
    snprintf(fx->ctx.id_scope, sizeof fx->ctx.id_scope, "0ne0000ABCD");
    svc_put_policy(fx, DPS_OWNER_POLICY, DPS_OWNER_POLICY, SVC_OWNER_KEY, SVC_OWNER_KEY2,
                   DPS_OWNER_RIGHTS);
    svc_put_raw(fx, DPS_COLL_LINKED_HUB, SVC_HUB1, "{\"name\":\"" SVC_HUB1 "\"}", "IjEi", NULL);
    svc_put_raw(fx, DPS_COLL_LINKED_HUB, SVC_HUB2, "{\"name\":\"" SVC_HUB2 "\"}", "IjEi", NULL);
    fx->auth = dps_sas_build(SVC_HOST, SVC_OWNER_KEY, DPS_OWNER_POLICY, dps_now_s() + 3600);
    assert_non_null(fx->auth);
    *state = fx;
    return 0;
}

static inline int svc_teardown(void **state)
{
    svc_fx *fx = *state;
    dps_store_close(&fx->ctx.store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", fx->dir);
    free(fx->auth);
    free(fx);
    return 0;
}

/* Makes a request. extra holds name/value pairs ending in NULL; a name of
 * "Authorization" replaces the owner token (value NULL: no token). */
static inline void svc_callv(svc_fx *fx, dps_http_method method, const char *path,
                             const char *body, const char *const *extra, svc_reply *out)
{
    dps_http_header headers[16];
    size_t nh = 0;
    bool own_auth = false;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i += 2) {
        if (strcasecmp(extra[i], "Authorization") == 0)
            own_auth = true;
        if (extra[i + 1] != NULL && nh < 15)
            headers[nh++] = (dps_http_header){extra[i], extra[i + 1]};
    }
    if (!own_auth)
        headers[nh++] = (dps_http_header){"Authorization", fx->auth};
    dps_http_request req = {0};
    req.method = method;
    req.path = path;
    req.headers = headers;
    req.nheaders = nh;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.peer = "test";
    assert_int_equal(dps_http_split_path(&req, path), 0);
    memset(out, 0, sizeof *out);
    dps_api_handle(&fx->ctx, &req, &out->res);
    dps_http_request_free_segments(&req);
    if (out->res.body != NULL && out->res.body_len > 0) {
        json_error_t jerr;
        out->json = json_loadb(out->res.body, out->res.body_len, JSON_DECODE_ANY, &jerr);
        assert_non_null(out->json);
    }
}

static inline void svc_call(svc_fx *fx, dps_http_method method, const char *path,
                            const char *body, svc_reply *out)
{
    svc_callv(fx, method, path, body, NULL, out);
}

static inline const char *svc_header(const svc_reply *r, const char *name)
{
    for (size_t i = 0; i < r->res.nheaders; i++)
        if (strcasecmp(r->res.header_names[i], name) == 0)
            return r->res.header_values[i];
    return NULL;
}

static inline void svc_reply_free(svc_reply *r)
{
    json_decref(r->json);
    r->json = NULL;
    dps_http_response_free(&r->res);
}

/* Checks the DPS error shape and returns nothing; code is the errorCode. */
static inline void svc_assert_error(const svc_reply *r, int status, int code)
{
    if (r->res.status != status)
        fail_msg("status %d, expected %d: %.*s", r->res.status, status, (int)r->res.body_len,
                 r->res.body ? r->res.body : "");
    assert_non_null(r->json);
    assert_int_equal(json_integer_value(json_object_get(r->json, "errorCode")), code);
    const char *tracking = json_string_value(json_object_get(r->json, "trackingId"));
    assert_non_null(tracking);
    assert_int_equal(strlen(tracking), 36);
    assert_non_null(json_string_value(json_object_get(r->json, "message")));
    assert_true(json_is_object(json_object_get(r->json, "info")));
    assert_non_null(json_string_value(json_object_get(r->json, "timestampUtc")));
    char text[16];
    snprintf(text, sizeof text, "%d", code);
    assert_non_null(svc_header(r, "x-ms-error-code"));
    assert_string_equal(svc_header(r, "x-ms-error-code"), text);
    assert_non_null(svc_header(r, "x-ms-request-id"));
    assert_string_equal(svc_header(r, "x-ms-request-id"), tracking);
}

static inline void svc_assert_status(const svc_reply *r, int status)
{
    if (r->res.status != status)
        fail_msg("status %d, expected %d: %.*s", r->res.status, status, (int)r->res.body_len,
                 r->res.body ? r->res.body : "");
}

/* The message of an error reply contains needle. */
static inline void svc_assert_message_has(const svc_reply *r, const char *needle)
{
    const char *msg = json_string_value(json_object_get(r->json, "message"));
    assert_non_null(msg);
    if (strstr(msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", msg, needle);
}

/* PUTs body and expects status; returns the reply's JSON (new reference). */
static inline json_t *svc_put_expect(svc_fx *fx, const char *path, const char *body, int status)
{
    svc_reply r;
    svc_call(fx, DPS_HTTP_PUT, path, body, &r);
    svc_assert_status(&r, status);
    json_t *j = json_incref(r.json);
    svc_reply_free(&r);
    return j;
}

static inline const char *svc_str(const json_t *obj, const char *path)
{
    /* "a.b.c" lookup through nested objects */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *cur = obj;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, tok);
    return json_string_value(cur);
}

static inline const json_t *svc_get(const json_t *obj, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *cur = obj;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, tok);
    return cur;
}

/* A self-signed P-256 certificate for CN=cn, made with OpenSSL directly,
 * as PEM text (caller frees). */
static inline char *svc_make_cert_pem(const char *cn)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30));
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)cn, -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char *pem = strndup(data, (size_t)len);
    assert_non_null(pem);
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(key);
    return pem;
}

/* Base64 of an RSA-2048 TPM2B_PUBLIC shaped like an endorsement key (the
 * modulus is filler: only the structure is checked at enrollment). type 0x23
 * makes an ECC-P256 one instead. Caller frees. */
static inline char *svc_make_ek_b64(uint16_t type)
{
    uint8_t buf[600];
    size_t n = 2;
#define PUT16(v) (buf[n++] = (uint8_t)((v) >> 8), buf[n++] = (uint8_t)(v))
    PUT16(type);
    PUT16(0x000B);                        /* nameAlg SHA-256 */
    PUT16(0x0003), PUT16(0x00B2);         /* objectAttributes */
    PUT16(32);                            /* authPolicy */
    memset(buf + n, 0x83, 32), n += 32;
    PUT16(0x0006), PUT16(128), PUT16(0x0043); /* AES-128-CFB */
    PUT16(0x0010);                        /* scheme NULL */
    if (type == 0x0001) {
        PUT16(2048);
        PUT16(0), PUT16(0);               /* exponent 0 = 65537 */
        PUT16(256);
        memset(buf + n, 0xA5, 256), n += 256;
    } else {
        PUT16(0x0003);                    /* curve P-256 */
        PUT16(0x0010);                    /* kdf NULL */
        PUT16(32);
        memset(buf + n, 0x11, 32), n += 32;
        PUT16(32);
        memset(buf + n, 0x22, 32), n += 32;
    }
#undef PUT16
    buf[0] = (uint8_t)((n - 2) >> 8);
    buf[1] = (uint8_t)(n - 2);
    char *b64 = dps_b64_encode(buf, n);
    assert_non_null(b64);
    return b64;
}

#endif
