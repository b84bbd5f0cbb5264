/* Admin API: CA certificates and proof of possession (docs/admin-api.md
 * "CA certificates", service-api.md §11.4). The document rules are in
 * model/ca_certificate.h; this file is the HTTP side: paths, If-Match,
 * bodies, and keeping the X.509 lookup index in step with every write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/admin_internal.h"
#include "api/errors.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "model/ca_certificate.h"
#include "model/x509_index.h"
#include "pki/pki.h"

#define WHAT "CA certificate"
/* Groups named in a refused DELETE's message. */
#define MAX_NAMED_GROUPS 5

/* The answer object: {"name", "etag", "properties"}; the outstanding code
 * is shown only by generateVerificationCode (with_code). */
static json_t *present(const json_t *doc, const char *etag, bool with_code)
{
    json_t *props = json_deep_copy(json_object_get(doc, "properties"));
    const char *code = json_string_value(json_object_get(doc, "verificationCode"));
    if (props == NULL)
        return NULL;
    if (with_code && code != NULL &&
        json_object_set_new(props, "verificationCode", json_string(code)) != 0) {
        json_decref(props);
        return NULL;
    }
    return json_pack("{s:O,s:s,s:o}", "name", json_object_get(doc, "name"), "etag", etag,
                     "properties", props);
}

static void reply(const json_t *doc, const char *etag, bool with_code, dps_http_response *res)
{
    json_t *out = present(doc, etag, with_code);
    if (out == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot build the " WHAT " answer");
        return;
    }
    dps_http_response_set_json(res, 200, out);
    json_decref(out);
}

/* Stored document without the "etag" dps_admin__record_doc adds. */
static json_t *load_doc(const dps_record *rec)
{
    json_t *doc = dps_admin__record_doc(rec);
    if (doc != NULL)
        json_object_del(doc, "etag");
    return doc;
}

static char *now_text(char out[DPS_RFC1123_TIME_LEN])
{
    dps_time_rfc1123(dps_now_s(), out);
    return out;
}

/* ARM requires If-Match on DELETE and the POST actions; "*" is accepted. */
static int if_match_required(const dps_http_request *req, dps_if_match *im,
                             dps_http_response *res)
{
    if (dps_admin__if_match(req, im, res) != 0)
        return -1;
    if (im->kind == DPS_IFM_NONE) {
        dps_api_error(res, DPS_ERR_BAD_REQUEST,
                      "If-Match is required (the certificate's etag, or *)");
        return -1;
    }
    return 0;
}

/* The certificate member of a body, parsed; fills res and returns NULL when
 * it is missing or does not parse. */
static X509 *body_cert(const json_t *body, dps_http_response *res)
{
    const json_t *v = json_object_get(body, "certificate");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "certificate must be a PEM or base64 string");
        return NULL;
    }
    if (json_string_length(v) > DPS_PKI_MAX_CERT_TEXT) {
        dps_api_error(res, DPS_ERR_INVALID_CERT, "certificate is longer than %d bytes",
                      DPS_PKI_MAX_CERT_TEXT);
        return NULL;
    }
    char why[200];
    X509 *cert = dps_x509_parse_text(json_string_value(v), json_string_length(v), why, sizeof why);
    if (cert == NULL)
        dps_api_error(res, DPS_ERR_INVALID_CERT, "certificate is not a certificate: %s", why);
    return cert;
}

/* ---- list and get --------------------------------------------------------- */

static bool list_visit(const dps_record *rec, void *arg)
{
    json_t *arr = arg;
    json_t *doc = load_doc(rec);
    json_t *item = doc != NULL ? present(doc, rec->etag, false) : NULL;
    json_decref(doc);
    if (item != NULL)
        json_array_append_new(arr, item);
    return true;
}

static void list_certificates(dpsd_ctx *ctx, dps_http_response *res)
{
    json_t *arr = json_array();
    if (arr == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
        return;
    }
    dps_store_result r = dps_admin__each(ctx, DPS_COLL_CA_CERTIFICATE, list_visit, arr);
    if (r != DPS_STORE_OK)
        dps_admin__store_error(res, r, WHAT, "*");
    else
        dps_http_response_set_json(res, 200, arr);
    json_decref(arr);
}

static void get_certificate(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                            const char *key, dps_http_response *res)
{
    (void)req;
    dps_record rec = {0};
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_CA_CERTIFICATE, key, &rec);
    if (r != DPS_STORE_OK) {
        dps_admin__store_error(res, r, WHAT, name);
        return;
    }
    json_t *doc = load_doc(&rec);
    if (doc == NULL)
        dps_api_error(res, DPS_ERR_INTERNAL, "stored " WHAT " '%s' is unreadable", name);
    else
        reply(doc, rec.etag, false, res);
    json_decref(doc);
    dps_record_free(&rec);
}

/* ---- PUT ------------------------------------------------------------------- */

static bool same_certificate(const json_t *prev, X509 *cert)
{
    char tp[65];
    const char *old =
        json_string_value(json_object_get(json_object_get(prev, "properties"), "sha256Thumbprint"));
    return old != NULL && dps_x509_thumbprint_sha256(cert, tp) == 0 && strcasecmp(old, tp) == 0;
}

static void put_certificate(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                            const char *key, dps_http_response *res)
{
    dps_if_match im;
    if (dps_admin__if_match(req, &im, res) != 0)
        return;
    json_t *body = dps_admin__parse_body(req, res);
    if (body == NULL)
        return;
    static const char *const members[] = {"certificate", "isVerified", "name", "etag",
                                          "properties", NULL};
    dps_record cur = {0};
    json_t *prev = NULL, *doc = NULL;
    X509 *cert = NULL;
    char msg[200];
    if (dps_admin__only_members(body, members, res) != 0)
        goto done;
    const json_t *bname = json_object_get(body, "name");
    if (bname != NULL && (!json_is_string(bname) || strcasecmp(json_string_value(bname), name))) {
        dps_api_error(res, DPS_ERR_ID_MISMATCH, "name in the body differs from the path");
        goto done;
    }
    const json_t *verified = json_object_get(body, "isVerified");
    if (verified != NULL && !json_is_boolean(verified)) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "isVerified must be true or false");
        goto done;
    }
    if ((cert = body_cert(body, res)) == NULL)
        goto done;
    if (dps_ca_upload_check(cert, dps_now_s(), msg, sizeof msg) != 0) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "certificate: %s", msg);
        goto done;
    }
    dps_store_result got = dps_store_get(ctx->store, DPS_COLL_CA_CERTIFICATE, key, &cur);
    dps_put_mode mode;
    const char *expected = NULL;
    if (dps_admin__put_plan(&im, got, &cur, &mode, &expected, WHAT, name, res) != 0)
        goto done;
    if (got == DPS_STORE_OK && (prev = load_doc(&cur)) == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "stored " WHAT " '%s' is unreadable", name);
        goto done;
    }
    /* A replace with the same certificate keeps its verification (and an
     * outstanding code) unless the body says otherwise; a new certificate
     * has to be proven again. */
    bool same = prev != NULL && same_certificate(prev, cert);
    bool is_verified = verified != NULL ? json_is_true(verified)
                                        : same && dps_ca_doc_verified(prev);
    char now[DPS_RFC1123_TIME_LEN];
    now_text(now);
    const char *created = json_string_value(
        json_object_get(json_object_get(prev, "properties"), "created"));
    const char *shown = prev != NULL ? json_string_value(json_object_get(prev, "name")) : NULL;
    doc = dps_ca_doc_build(shown != NULL ? shown : name, cert, is_verified,
                           created != NULL ? created : now, now);
    const json_t *code = json_object_get(prev, "verificationCode");
    char etag[DPS_ETAG_MAX];
    if (doc == NULL || dps_etag_new(etag) != 0 ||
        (same && !is_verified && code != NULL &&
         json_object_set(doc, "verificationCode", (json_t *)code) != 0)) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot store the " WHAT " '%s'", name);
        goto done;
    }
    dps_store_result r =
        dps_admin__store_put(ctx, DPS_COLL_CA_CERTIFICATE, key, doc, etag, mode, expected);
    if (r != DPS_STORE_OK) {
        dps_admin__store_error(res, r, WHAT, name);
        goto done;
    }
    (void)dps_x509_index_ca(ctx->store, key,
                            json_string_value(json_object_get(
                                json_object_get(doc, "properties"), "subject")));
    log_info("admin: CA certificate %s %s (verified %s)", name, prev ? "replaced" : "created",
             is_verified ? "yes" : "no");
    reply(doc, etag, false, res);
done:
    X509_free(cert);
    json_decref(doc);
    json_decref(prev);
    dps_record_free(&cur);
    json_decref(body);
}

/* ---- DELETE ---------------------------------------------------------------- */

static void delete_certificate(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                               const char *key, dps_http_response *res)
{
    dps_if_match im;
    if (if_match_required(req, &im, res) != 0)
        return;
    dps_record cur = {0};
    dps_store_result got = dps_store_get(ctx->store, DPS_COLL_CA_CERTIFICATE, key, &cur);
    if (dps_admin__update_plan(&im, got, &cur, WHAT, name, res) != 0)
        goto done;
    if (!dps_admin__query_is(req, "force", "true")) {
        /* Groups naming the CA are found through the index, not a scan. */
        char value[DPS_X509_INDEX_VALUE_MAX];
        dps_x509_hit hits[DPS_X509_INDEX_MAX_HITS];
        size_t n = 0;
        snprintf(value, sizeof value, "ca:%s", key);
        dps_store_result r =
            dps_x509_index_lookup(ctx->store, value, hits, DPS_X509_INDEX_MAX_HITS, &n);
        if (r != DPS_STORE_OK) {
            dps_admin__store_error(res, r, WHAT, name);
            goto done;
        }
        /* A stale row must not block the delete: count groups that exist
         * and still name this CA. */
        char names[MAX_NAMED_GROUPS * 140] = "";
        size_t named = 0, found = 0;
        for (size_t i = 0; i < n; i++) {
            dps_record g = {0};
            if (dps_store_get(ctx->store, DPS_COLL_ENROLLMENT_GROUP, hits[i].id, &g) !=
                DPS_STORE_OK)
                continue;
            json_t *gdoc = dps_admin__record_doc(&g);
            const char *ref = json_string_value(json_object_get(
                json_object_get(json_object_get(json_object_get(gdoc, "attestation"), "x509"),
                                "caReferences"),
                hits[i].slot));
            if (ref != NULL && strcasecmp(ref, key) == 0) {
                found++;
                if (named < MAX_NAMED_GROUPS) {
                    size_t len = strlen(names);
                    snprintf(names + len, sizeof names - len, "%s'%.128s'", named ? ", " : "",
                             hits[i].id);
                    named++;
                }
            }
            json_decref(gdoc);
            dps_record_free(&g);
        }
        if (found > 0) {
            dps_api_error(res, DPS_ERR_CONFLICT,
                          "CA certificate '%s' is named in caReferences of enrollment group "
                          "%s%s; edit them first or delete with force=true",
                          name, names, found > named ? " and more" : "");
            goto done;
        }
    }
    if (dps_admin__delete(ctx, DPS_COLL_CA_CERTIFICATE, key, cur.etag, WHAT, name, res) == 0)
        (void)dps_x509_index_ca(ctx->store, key, NULL);
done:
    dps_record_free(&cur);
}

/* ---- proof of possession --------------------------------------------------- */

/* Reads the record for a POST action, checking If-Match. NULL after
 * answering. */
static json_t *action_load(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                           const char *key, dps_record *cur, dps_http_response *res)
{
    dps_if_match im;
    if (if_match_required(req, &im, res) != 0)
        return NULL;
    dps_store_result got = dps_store_get(ctx->store, DPS_COLL_CA_CERTIFICATE, key, cur);
    if (dps_admin__update_plan(&im, got, cur, WHAT, name, res) != 0)
        return NULL;
    json_t *doc = load_doc(cur);
    if (doc == NULL)
        dps_api_error(res, DPS_ERR_INTERNAL, "stored " WHAT " '%s' is unreadable", name);
    return doc;
}

/* Writes doc back over the version read, stamping updated. */
static int action_store(dpsd_ctx *ctx, const char *name, const char *key, json_t *doc,
                        const dps_record *cur, char etag[DPS_ETAG_MAX], dps_http_response *res)
{
    char now[DPS_RFC1123_TIME_LEN];
    json_t *props = json_object_get(doc, "properties");
    if (!json_is_object(props) || dps_etag_new(etag) != 0 ||
        json_object_set_new(props, "updated", json_string(now_text(now))) != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot update the " WHAT " '%s'", name);
        return -1;
    }
    dps_store_result r = dps_admin__store_put(ctx, DPS_COLL_CA_CERTIFICATE, key, doc, etag,
                                              DPS_PUT_IF_ETAG, cur->etag);
    if (r != DPS_STORE_OK) {
        dps_admin__store_error(res, r, WHAT, name);
        return -1;
    }
    return 0;
}

static void generate_code(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                          const char *key, dps_http_response *res)
{
    dps_record cur = {0};
    json_t *doc = action_load(ctx, req, name, key, &cur, res);
    if (doc == NULL)
        goto done;
    char code[DPS_CA_CODE_LEN + 1], etag[DPS_ETAG_MAX];
    if (dps_ca_new_code(code) != 0 ||
        json_object_set_new(doc, "verificationCode", json_string(code)) != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot make a verification code");
        goto done;
    }
    if (action_store(ctx, name, key, doc, &cur, etag, res) != 0)
        goto done;
    log_info("admin: CA certificate %s: verification code issued", name);
    reply(doc, etag, true, res);
done:
    json_decref(doc);
    dps_record_free(&cur);
}

static void verify(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                   const char *key, dps_http_response *res)
{
    dps_record cur = {0};
    json_t *body = NULL, *doc = NULL;
    X509 *pop = NULL, *ca = NULL;
    char msg[200], etag[DPS_ETAG_MAX];
    static const char *const members[] = {"certificate", NULL};
    if ((doc = action_load(ctx, req, name, key, &cur, res)) == NULL)
        goto done;
    const char *code = json_string_value(json_object_get(doc, "verificationCode"));
    if (code == NULL) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD,
                      "no verification code is outstanding for '%s'; generate one first", name);
        goto done;
    }
    if ((body = dps_admin__parse_body(req, res)) == NULL ||
        dps_admin__only_members(body, members, res) != 0 || (pop = body_cert(body, res)) == NULL)
        goto done;
    if ((ca = dps_ca_doc_cert(doc)) == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "stored " WHAT " '%s' is unreadable", name);
        goto done;
    }
    if (dps_ca_pop_check(ca, pop, code, dps_now_s(), msg, sizeof msg) != 0) {
        log_info("admin: CA certificate %s: proof of possession refused: %s", name, msg);
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "verification failed: %s", msg);
        goto done;
    }
    /* The code is single-use: a second verify needs a new one. */
    json_object_del(doc, "verificationCode");
    if (json_object_set_new(json_object_get(doc, "properties"), "isVerified", json_true()) != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (action_store(ctx, name, key, doc, &cur, etag, res) != 0)
        goto done;
    log_info("admin: CA certificate %s verified by proof of possession", name);
    reply(doc, etag, false, res);
done:
    X509_free(pop);
    X509_free(ca);
    json_decref(body);
    json_decref(doc);
    dps_record_free(&cur);
}

/* ---- dispatch -------------------------------------------------------------- */

void dps_admin__certificates(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res)
{
    static const dps_admin_resource rs = {.path = "/admin/certificates",
                                          .list = list_certificates,
                                          .get = get_certificate,
                                          .put = put_certificate,
                                          .del = delete_certificate};
    if (dps_admin__collection(ctx, &rs, req, res))
        return;
    if (req->nsegments != 3 && req->nsegments != 4) {
        dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no admin resource at this path");
        return;
    }
    const char *name = req->segments[2];
    char key[DPS_CA_NAME_MAX + 1];
    if (!dps_ca_name_valid(name) || !dps_admin__key(name, key, sizeof key)) {
        dps_api_error(res, DPS_ERR_INVALID_ID,
                      "certificate names are 1..%d characters of A-Z a-z 0-9 - . _",
                      DPS_CA_NAME_MAX);
        return;
    }
    if (req->nsegments == 4) {
        const char *action = req->segments[3];
        bool gen = strcasecmp(action, "generateVerificationCode") == 0;
        bool ver = strcasecmp(action, "verify") == 0;
        if (!gen && !ver) {
            dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no admin resource at this path");
        } else if (req->method != DPS_HTTP_POST) {
            dps_api_error(res, DPS_ERR_METHOD_NOT_ALLOWED, "%s takes POST", action);
        } else if (gen) {
            generate_code(ctx, req, name, key, res);
        } else {
            verify(ctx, req, name, key, res);
        }
        return;
    }
    dps_admin__item(ctx, &rs, req, name, key, res);
}
