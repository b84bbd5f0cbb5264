/* X.509 attestation (device-api.md §10, service-api.md §8.3, §11.4, §12.1).
 *
 * The device's identity is its TLS client certificate: the handshake
 * proved it holds the leaf's key (CertificateVerify), and the listener
 * accepted any chain so that the decision is made here, against the
 * enrollments as they are now, and refused in the protocol's own shape
 * (401 / 401002) instead of a failed handshake.
 *
 * Order:
 *  1. the leaf's subject CN is the registration ID (any case);
 *  2. an individual enrollment for the registration ID decides alone: the
 *     leaf's SHA-256 thumbprint equals its primary or secondary client
 *     certificate's, and the leaf is valid now (the enrolled leaf is the
 *     trust anchor: pinned, as Azure does). A disabled one that does not
 *     match still lets a group prove the device, then blocks it;
 *  3. otherwise groups, nearest issuer first: for the leaf, then each
 *     certificate the device sent after it, the issuer name is looked up in
 *     the X.509 index (model/x509_index.h) for groups holding a signing
 *     certificate with that subject and for CA certificates with it (and the
 *     groups whose caReferences name them). The first level with a match
 *     decides alone: a disabled group, an unverified CA or a chain that
 *     fails validation ends the attempt rather than falling through to a
 *     group higher up (device-api.md §10 "Enrollment choice");
 *  4. the chain is validated with OpenSSL against that one certificate as
 *     the trust anchor (partial chain: an intermediate attached to a group
 *     is trusted as such), the device's other certificates as untrusted
 *     intermediates: signatures, validity at the engine's clock, basic
 *     constraints and path length, key usage and extended key usage for
 *     client authentication when present.
 *
 * Every refusal is DPS_ATTEST_UNAUTHORIZED (401002), with a message that
 * says what is wrong with the certificate; none of them needs a secret. */
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "engine/attest.h"
#include "model/ca_certificate.h"
#include "model/x509_index.h"
#include "pki/pki.h"

/* Certificates of a presented chain considered, leaf included: real
 * chains are 2-4 deep; OpenSSL's own default limit is 100. */
#define MAX_PRESENTED 10
/* Groups one CA certificate's index row may lead to. */
#define MAX_CA_GROUPS DPS_X509_INDEX_MAX_HITS

static const char *const slots[] = {"primary", "secondary"};

/* ---- small helpers -------------------------------------------------------- */

static json_t *load_doc(const dps_record *rec)
{
    json_error_t jerr;
    json_t *doc = json_loads(rec->doc, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        log_error("registration: stored document '%s' is not a JSON object", rec->key);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Reads one document; *doc NULL when absent. -1 on a store failure. */
static int read_doc(dps_store *s, dps_collection c, const char *key, json_t **doc)
{
    *doc = NULL;
    dps_record rec = {0};
    dps_store_result r = dps_store_get(s, c, key, &rec);
    if (r == DPS_STORE_NOT_FOUND)
        return 0;
    if (r != DPS_STORE_OK)
        return -1;
    *doc = load_doc(&rec);
    dps_record_free(&rec);
    return *doc != NULL ? 0 : -1;
}

static bool is_disabled(const json_t *doc)
{
    const char *s = json_string_value(json_object_get(doc, "provisioningStatus"));
    return s != NULL && strcasecmp(s, "disabled") == 0;
}

/* attestation.x509 of an X.509 enrollment or group, else NULL. */
static const json_t *x509_of(const json_t *doc)
{
    const json_t *att = json_object_get(doc, "attestation");
    const char *type = json_string_value(json_object_get(att, "type"));
    if (type == NULL || strcasecmp(type, "x509") != 0)
        return NULL;
    const json_t *x = json_object_get(att, "x509");
    return json_is_object(x) ? x : NULL;
}

/* The certificate in one {"certificate", "info"} slot. */
static X509 *slot_cert(const json_t *slot)
{
    const char *text = json_string_value(json_object_get(slot, "certificate"));
    char err[160];
    return text != NULL ? dps_x509_parse_text(text, strlen(text), err, sizeof err) : NULL;
}

static void fail(dps_attest_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(dps_attest_result *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
}

/* ---- chain validation ----------------------------------------------------- */

/* Validates leaf up to anchor (trusted as is, root or not) through the
 * untrusted certificates the device sent. 0, or -1 with the reason. */
static int validate(X509 *leaf, STACK_OF(X509) *untrusted, X509 *anchor, int64_t now_s,
                    char *msg, size_t msglen)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *vc = X509_STORE_CTX_new();
    int rc = -1;
    if (store == NULL || vc == NULL || X509_STORE_add_cert(store, anchor) != 1 ||
        X509_STORE_CTX_init(vc, store, leaf, untrusted) != 1) {
        snprintf(msg, msglen, "cannot validate the certificate chain (out of memory)");
        goto done;
    }
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(vc);
    /* The anchor may be an intermediate (a group's signing certificate):
     * trusted without going on to a root. */
    X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
    /* The engine's clock, so tests can move time and all checks agree. */
    X509_VERIFY_PARAM_set_time(p, (time_t)now_s);
    X509_VERIFY_PARAM_set_depth(p, MAX_PRESENTED);
    /* Key usage and extended key usage must allow TLS client
     * authentication where the certificates restrict them; CA
     * certificates must be CAs (basic constraints, path length). */
    if (X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_CLIENT) != 1) {
        snprintf(msg, msglen, "cannot validate the certificate chain");
        goto done;
    }
    if (X509_verify_cert(vc) == 1) {
        rc = 0;
    } else {
        int e = X509_STORE_CTX_get_error(vc);
        snprintf(msg, msglen, "Invalid certificate: %s (at depth %d of the chain)",
                 X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(vc));
    }
done:
    X509_STORE_CTX_free(vc);
    X509_STORE_free(store);
    return rc;
}

/* ---- the result ------------------------------------------------------------ */

/* registrationState.x509 and the hub thumbprint. anchor and group_id are
 * NULL for individual enrollments. */
static int fill_x509(dps_attest_result *out, X509 *leaf, X509 *anchor, const char *group_id)
{
    json_t *x = json_object();
    json_t *leaf_info = dps_x509_info(leaf);
    char tp[65];
    int rc = -1;
    if (x != NULL && leaf_info != NULL && dps_x509_thumbprint_sha256(leaf, tp) == 0 &&
        json_object_set(x, "certificateInfo", leaf_info) == 0) {
        rc = 0;
        if (group_id != NULL)
            rc |= json_object_set_new(x, "enrollmentGroupId", json_string(group_id));
        if (anchor != NULL)
            rc |= json_object_set_new(x, "signingCertificateInfo", dps_x509_info(anchor));
        out->x509_thumbprint = rc == 0 ? strdup(tp) : NULL;
        if (out->x509_thumbprint == NULL)
            rc = -1;
    }
    json_decref(leaf_info);
    if (rc == 0)
        out->x509 = x;
    else
        json_decref(x);
    return rc;
}

/* ---- groups ---------------------------------------------------------------- */

/* One group that could have issued a certificate at the current level. */
typedef struct {
    json_t *group;        /* the group's document (owned) */
    char group_key[DPS_ID_KEY_SIZE];
    X509 *anchor;         /* its signing certificate or CA certificate (owned) */
    char ca_name[DPS_CA_NAME_MAX + 1]; /* "" for a signing certificate */
    bool ca_verified;
    bool signed_it;       /* anchor's key verifies the certificate's signature */
} candidate;

typedef struct {
    candidate c[DPS_X509_INDEX_MAX_HITS];
    size_t n;
} candidates;

static void candidates_free(candidates *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        json_decref(cs->c[i].group);
        X509_free(cs->c[i].anchor);
    }
    cs->n = 0;
}

/* True when anchor's subject is cert's issuer; signed says whether its key
 * also made cert's signature. */
static bool issued(X509 *anchor, X509 *cert, bool *signed_it)
{
    if (X509_NAME_cmp(X509_get_subject_name(anchor), X509_get_issuer_name(cert)) != 0)
        return false;
    EVP_PKEY *key = X509_get0_pubkey(anchor);
    *signed_it = key != NULL && X509_verify(cert, key) == 1;
    return true;
}

static void add_candidate(candidates *cs, json_t *group, const char *gkey, X509 *anchor,
                          const char *ca_name, bool ca_verified, bool signed_it)
{
    if (cs->n >= DPS_X509_INDEX_MAX_HITS) {
        json_decref(group);
        X509_free(anchor);
        return;
    }
    candidate *c = &cs->c[cs->n++];
    memset(c, 0, sizeof *c);
    c->group = group;
    snprintf(c->group_key, sizeof c->group_key, "%s", gkey);
    c->anchor = anchor;
    snprintf(c->ca_name, sizeof c->ca_name, "%s", ca_name != NULL ? ca_name : "");
    c->ca_verified = ca_verified;
    c->signed_it = signed_it;
}

/* A group's signing certificate in slot, when it issued cert. */
static int from_signing(dps_store *s, const dps_x509_hit *h, X509 *cert, candidates *cs)
{
    json_t *g = NULL;
    if (read_doc(s, DPS_COLL_ENROLLMENT_GROUP, h->id, &g) != 0)
        return -1;
    const json_t *x = x509_of(g);
    X509 *anchor = x != NULL ? slot_cert(json_object_get(
                                   json_object_get(x, "signingCertificates"), h->slot))
                             : NULL;
    bool signed_it = false;
    if (anchor != NULL && issued(anchor, cert, &signed_it)) {
        add_candidate(cs, g, h->id, anchor, NULL, false, signed_it);
        return 0;
    }
    X509_free(anchor);
    json_decref(g);
    return 0; /* a stale index row */
}

/* A CA certificate that issued cert, and the groups naming it. */
static int from_ca(dps_store *s, const dps_x509_hit *h, X509 *cert, candidates *cs)
{
    json_t *ca_doc = NULL;
    if (read_doc(s, DPS_COLL_CA_CERTIFICATE, h->id, &ca_doc) != 0)
        return -1;
    X509 *ca = ca_doc != NULL ? dps_ca_doc_cert(ca_doc) : NULL;
    bool signed_it = false;
    int rc = 0;
    if (ca != NULL && issued(ca, cert, &signed_it)) {
        bool verified = dps_ca_doc_verified(ca_doc);
        char value[DPS_X509_INDEX_VALUE_MAX];
        dps_x509_hit refs[MAX_CA_GROUPS];
        size_t n = 0;
        snprintf(value, sizeof value, "ca:%s", h->id);
        if (dps_x509_index_lookup(s, value, refs, MAX_CA_GROUPS, &n) != DPS_STORE_OK)
            rc = -1;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            json_t *g = NULL;
            if (refs[i].kind != DPS_X509_HIT_CAREF)
                continue;
            if (read_doc(s, DPS_COLL_ENROLLMENT_GROUP, refs[i].id, &g) != 0) {
                rc = -1;
                break;
            }
            const json_t *x = x509_of(g);
            const char *ref = json_string_value(
                json_object_get(json_object_get(x, "caReferences"), refs[i].slot));
            X509 *copy = ref != NULL && strcasecmp(ref, h->id) == 0 ? X509_dup(ca) : NULL;
            if (copy != NULL)
                add_candidate(cs, g, refs[i].id, copy, h->id, verified, signed_it);
            else
                json_decref(g); /* stale row, or no memory for the copy */
        }
    }
    X509_free(ca);
    json_decref(ca_doc);
    return rc;
}

/* The groups that could have issued cert, found by its issuer name. */
static int level_candidates(dps_store *s, X509 *cert, candidates *cs)
{
    char value[DPS_X509_INDEX_VALUE_MAX];
    if (dps_x509_index_name_value(X509_get_issuer_name(cert), value, sizeof value) != 0)
        return 0; /* a name too long to be indexed names no stored certificate */
    dps_x509_hit hits[DPS_X509_INDEX_MAX_HITS];
    size_t n = 0;
    if (dps_x509_index_lookup(s, value, hits, DPS_X509_INDEX_MAX_HITS, &n) != DPS_STORE_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int rc = 0;
        if (hits[i].kind == DPS_X509_HIT_SIGNING)
            rc = from_signing(s, &hits[i], cert, cs);
        else if (hits[i].kind == DPS_X509_HIT_CA)
            rc = from_ca(s, &hits[i], cert, cs);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Of several candidates at one level (a CA rolled over under the same name,
 * two groups on one CA), the one whose key signed the certificate, a
 * verified CA before an unverified one, else the first in key order (the
 * index lists in key order). */
static const candidate *pick(const candidates *cs)
{
    const candidate *best = NULL;
    int best_score = -1;
    for (size_t i = 0; i < cs->n; i++) {
        const candidate *c = &cs->c[i];
        int score = (c->signed_it ? 2 : 0) + (c->ca_name[0] == '\0' || c->ca_verified ? 1 : 0);
        if (score > best_score) {
            best = c;
            best_score = score;
        }
    }
    return best;
}

/* Decides with the group c found at one level. */
static dps_attest_status decide_group(const dps_attest_ctx *ctx, const candidate *c, X509 *leaf,
                                      STACK_OF(X509) *untrusted, dps_attest_result *out)
{
    const char *gid = json_string_value(json_object_get(c->group, "enrollmentGroupId"));
    if (gid == NULL)
        gid = c->group_key;
    if (c->ca_name[0] != '\0' && !c->ca_verified) {
        fail(out, "CA certificate '%.100s' named by enrollment group '%.100s' is not verified",
             c->ca_name, gid);
        return DPS_ATTEST_UNAUTHORIZED;
    }
    char why[200];
    if (validate(leaf, untrusted, c->anchor, ctx->now_s, why, sizeof why) != 0) {
        fail(out, "%s (enrollment group '%.100s')", why, gid);
        return DPS_ATTEST_UNAUTHORIZED;
    }
    out->enrollment = json_incref(c->group);
    out->is_group = true;
    snprintf(out->group_key, sizeof out->group_key, "%s", c->group_key);
    out->disabled = is_disabled(c->group);
    return fill_x509(out, leaf, c->anchor, gid) == 0 ? DPS_ATTEST_OK : DPS_ATTEST_ERROR;
}

/* Walks the presented chain upward; the first level with a candidate
 * decides. */
static dps_attest_status find_group(const dps_attest_ctx *ctx, X509 *const *presented,
                                    size_t npresented, STACK_OF(X509) *untrusted,
                                    dps_attest_result *out)
{
    for (size_t level = 0; level < npresented; level++) {
        candidates cs = {.n = 0};
        if (level_candidates(ctx->store, presented[level], &cs) != 0) {
            candidates_free(&cs);
            return DPS_ATTEST_ERROR;
        }
        const candidate *c = pick(&cs);
        if (c != NULL) {
            dps_attest_status st = decide_group(ctx, c, presented[0], untrusted, out);
            candidates_free(&cs);
            return st;
        }
    }
    snprintf(out->message, sizeof out->message,
             "Invalid certificate: no enrollment accepts it (no enrollment group or verified "
             "CA certificate issued the chain presented; a device sends its intermediates up "
             "to the enrolled certificate)");
    return DPS_ATTEST_UNAUTHORIZED;
}

/* ---- individual enrollments ------------------------------------------------ */

/* Index (0, 1) of the client certificate slot matching the leaf, or -1;
 * *enrolled gets that certificate. */
static int match_client(const json_t *x, const char *leaf_tp, X509 **enrolled)
{
    *enrolled = NULL;
    const json_t *certs = json_object_get(x, "clientCertificates");
    for (int i = 0; i < 2; i++) {
        const json_t *slot = json_object_get(certs, slots[i]);
        if (slot == NULL)
            continue;
        X509 *c = slot_cert(slot);
        char tp[65];
        if (c != NULL && dps_x509_thumbprint_sha256(c, tp) == 0 && strcmp(tp, leaf_tp) == 0) {
            *enrolled = c;
            return i;
        }
        X509_free(c);
    }
    return -1;
}

static dps_attest_status individual(const dps_attest_ctx *ctx, const dps_reg_request *req,
                                    json_t *doc, X509 *const *presented, size_t npresented,
                                    STACK_OF(X509) *untrusted, dps_attest_result *out)
{
    X509 *leaf = presented[0];
    const json_t *x = x509_of(doc);
    if (x == NULL) {
        fail(out, "the enrollment for '%.128s' does not use X.509 attestation",
             req->registration_id);
        return DPS_ATTEST_UNAUTHORIZED;
    }
    char tp[65];
    if (dps_x509_thumbprint_sha256(leaf, tp) != 0)
        return DPS_ATTEST_ERROR;
    X509 *enrolled = NULL;
    bool disabled = is_disabled(doc);
    if (match_client(x, tp, &enrolled) >= 0) {
        char why[200];
        /* The enrolled certificate itself is the anchor (pinned): its
         * validity and usage still count. */
        int ok = validate(leaf, NULL, enrolled, ctx->now_s, why, sizeof why);
        X509_free(enrolled);
        if (ok != 0) {
            snprintf(out->message, sizeof out->message, "%s", why);
            return DPS_ATTEST_UNAUTHORIZED;
        }
        out->enrollment = json_incref(doc);
        out->disabled = disabled;
        return fill_x509(out, leaf, NULL, NULL) == 0 ? DPS_ATTEST_OK : DPS_ATTEST_ERROR;
    }
    if (disabled) {
        /* A group member shut out by a disabled individual enrollment
         * (service-api.md §12.1 rule 3): the group proves the device, the
         * individual enrollment decides. */
        dps_attest_result g = {0};
        dps_attest_status gs = find_group(ctx, presented, npresented, untrusted, &g);
        dps_attest_result_free(&g);
        if (gs == DPS_ATTEST_OK) {
            out->enrollment = json_incref(doc);
            out->disabled = true;
            return fill_x509(out, leaf, NULL, NULL) == 0 ? DPS_ATTEST_OK : DPS_ATTEST_ERROR;
        }
        if (gs == DPS_ATTEST_ERROR)
            return DPS_ATTEST_ERROR;
    }
    fail(out, "Invalid certificate: it is not the certificate enrolled for '%.128s'",
         req->registration_id);
    return DPS_ATTEST_UNAUTHORIZED;
}

/* ---- entry ------------------------------------------------------------------ */

dps_attest_status dps_attest__x509(const dps_attest_ctx *ctx, const dps_reg_request *req,
                                   const char *regkey, dps_attest_result *out)
{
    X509 *leaf = req->client_leaf;
    /* The registration ID is the leaf's CN (at most 64 characters). */
    char cn[DPS_ID_MAX + 2];
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn,
                                      sizeof cn);
    if (n <= 0 || (size_t)n >= sizeof cn - 1) {
        snprintf(out->message, sizeof out->message,
                 "Invalid certificate: the subject has no usable CN (it must be the "
                 "registration ID)");
        return DPS_ATTEST_UNAUTHORIZED;
    }
    if (strlen(cn) != (size_t)n || strcasecmp(cn, req->registration_id) != 0) {
        fail(out, "Invalid certificate: its subject CN '%.64s' is not the registration ID "
                  "'%.128s'",
             cn, req->registration_id);
        return DPS_ATTEST_UNAUTHORIZED;
    }

    /* The leaf, then what the device sent after it (its intermediates),
     * without repeats of the leaf; the same list minus the leaf is the
     * untrusted set for validation. */
    X509 *presented[MAX_PRESENTED];
    size_t npresented = 0;
    presented[npresented++] = leaf;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    if (untrusted == NULL)
        return DPS_ATTEST_ERROR;
    int nchain = req->client_chain != NULL ? sk_X509_num(req->client_chain) : 0;
    for (int i = 0; i < nchain; i++) {
        X509 *c = sk_X509_value(req->client_chain, i);
        if (c == NULL || X509_cmp(c, leaf) == 0)
            continue;
        if (npresented >= MAX_PRESENTED) {
            sk_X509_free(untrusted);
            snprintf(out->message, sizeof out->message,
                     "Invalid certificate: the chain is longer than %d certificates",
                     MAX_PRESENTED);
            return DPS_ATTEST_UNAUTHORIZED;
        }
        presented[npresented++] = c;
        if (sk_X509_push(untrusted, c) <= 0) {
            sk_X509_free(untrusted);
            return DPS_ATTEST_ERROR;
        }
    }

    dps_attest_status st;
    json_t *doc = NULL;
    if (read_doc(ctx->store, DPS_COLL_ENROLLMENT, regkey, &doc) != 0)
        st = DPS_ATTEST_ERROR;
    else if (doc != NULL)
        st = individual(ctx, req, doc, presented, npresented, untrusted, out);
    else
        st = find_group(ctx, presented, npresented, untrusted, out);
    json_decref(doc);
    sk_X509_free(untrusted); /* the certificates belong to the connection */
    return st;
}
