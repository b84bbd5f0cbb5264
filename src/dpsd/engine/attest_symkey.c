/* Symmetric-key attestation (device-api.md §8, §9; service-api.md §12.1).
 *
 * The device signs "{scope}/registrations/{id}" with its key. An individual
 * enrollment for the registration ID decides alone: its primary or
 * secondary key must have made the signature. Without one, symmetric-key
 * groups are tried: the device key of a group member is
 * HMAC-SHA256(base64-decode(group key), registration ID as the device sent
 * it). Nothing in the request names the group, so every group is tried
 * (two HMACs each), the group of the device's last registration first.
 *
 * A disabled individual enrollment blocks the device even when a group
 * would take it (the documented way to shut one member out): a device
 * proving either key gets the final status "disabled" rather than an
 * error. Unauthenticated callers never learn an enrollment's status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/sas.h"
#include "common/secret.h"
#include "engine/attest.h"

#define SAS_PREFIX "SharedAccessSignature "
#define GROUP_PAGE 200

/* Candidate keys of one enrollment, raw bytes (wiped by keys_clear). */
typedef struct {
    uint8_t *k[2];
    size_t len[2];
} keyset;

static void keys_clear(keyset *ks)
{
    for (int i = 0; i < 2; i++) {
        if (ks->k[i] != NULL)
            dps_wipe(ks->k[i], ks->len[i]);
        free(ks->k[i]);
        ks->k[i] = NULL;
        ks->len[i] = 0;
    }
}

/* The symmetricKey member of a stored enrollment, or NULL when it uses
 * another attestation. */
static const json_t *symkey_of(const json_t *doc)
{
    const json_t *att = json_object_get(doc, "attestation");
    const char *type = json_string_value(json_object_get(att, "type"));
    if (type == NULL || strcasecmp(type, "symmetricKey") != 0)
        return NULL;
    const json_t *sk = json_object_get(att, "symmetricKey");
    return json_is_object(sk) ? sk : NULL;
}

static int decode_keys(const json_t *sk, keyset *ks)
{
    static const char *const names[2] = {"primaryKey", "secondaryKey"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(sk, names[i]));
        if (v != NULL && dps_b64_decode(v, strlen(v), &ks->k[i], &ks->len[i]) != 0)
            return -1;
    }
    return 0;
}

/* Index (0, 1) of the key that signed the token, or -1. Both keys are
 * always tried so the time taken does not say which one matched. */
static int signed_by(const dps_sas_token *t, const keyset *ks)
{
    int hit = -1;
    for (int i = 1; i >= 0; i--)
        if (ks->k[i] != NULL && dps_sas_signed_with(t, ks->k[i], ks->len[i]))
            hit = i;
    return hit;
}

/* Device keys of a group member: HMAC of the registration ID under each
 * group key. */
static int derive_keys(const keyset *group, const char *registration_id, keyset *dev)
{
    for (int i = 0; i < 2; i++) {
        if (group->k[i] == NULL)
            continue;
        dev->k[i] = malloc(DPS_HMAC_SHA256_LEN);
        if (dev->k[i] == NULL ||
            dps_hmac_sha256(group->k[i], group->len[i], registration_id,
                            strlen(registration_id), dev->k[i]) != 0)
            return -1;
        dev->len[i] = DPS_HMAC_SHA256_LEN;
    }
    return 0;
}

static bool is_disabled(const json_t *doc)
{
    const char *s = json_string_value(json_object_get(doc, "provisioningStatus"));
    return s != NULL && strcasecmp(s, "disabled") == 0;
}

static json_t *load_doc(const dps_record *rec)
{
    json_error_t jerr;
    json_t *doc = json_loads(rec->doc, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        log_error("registration: stored enrollment '%s' is not a JSON object", rec->key);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Hands the keys of the deciding enrollment to the result as base64. */
static int export_keys(const keyset *ks, dps_attest_result *out)
{
    for (int i = 0; i < 2; i++) {
        if (ks->k[i] == NULL)
            continue;
        char *b = dps_b64_encode(ks->k[i], ks->len[i]);
        if (b == NULL)
            return -1;
        if (i == 0)
            out->primary_key = b;
        else
            out->secondary_key = b;
    }
    /* A hub "sas" identity wants both keys; an enrollment with one key
     * gives it twice (the service API always stores both, so this is for
     * documents written by hand). */
    if (out->primary_key == NULL && out->secondary_key != NULL)
        out->primary_key = strdup(out->secondary_key);
    if (out->secondary_key == NULL && out->primary_key != NULL)
        out->secondary_key = strdup(out->primary_key);
    return out->primary_key != NULL && out->secondary_key != NULL ? 0 : -1;
}

typedef enum { GROUP_NO, GROUP_YES, GROUP_RAW_KEY, GROUP_ERROR } group_match;

/* Does the group in doc accept the token? GROUP_RAW_KEY: the device signed
 * with the group key itself, a common mistake worth naming. On GROUP_YES
 * the derived keys are left in dev. */
static group_match try_group(const json_t *doc, const dps_sas_token *t,
                             const char *registration_id, keyset *dev)
{
    const json_t *sk = symkey_of(doc);
    if (sk == NULL)
        return GROUP_NO;
    keyset gk = {0};
    group_match m = GROUP_NO;
    if (decode_keys(sk, &gk) != 0) {
        m = GROUP_NO; /* a corrupt group never accepts anyone */
    } else if (derive_keys(&gk, registration_id, dev) != 0) {
        m = GROUP_ERROR;
    } else if (signed_by(t, dev) >= 0) {
        m = GROUP_YES;
    } else if (signed_by(t, &gk) >= 0) {
        m = GROUP_RAW_KEY;
    }
    if (m != GROUP_YES)
        keys_clear(dev);
    keys_clear(&gk);
    return m;
}

static dps_attest_status group_result(json_t *doc, const char *gkey, keyset *dev,
                                      dps_attest_result *out)
{
    out->enrollment = doc;
    out->is_group = true;
    snprintf(out->group_key, sizeof out->group_key, "%s", gkey);
    out->disabled = is_disabled(doc);
    if (!out->disabled && export_keys(dev, out) != 0)
        return DPS_ATTEST_ERROR;
    return DPS_ATTEST_OK;
}

/* Walks the groups: the hinted one first, then all in key order. Returns
 * OK (out filled), NOT_FOUND (msg says whether the group key itself was
 * used) or ERROR. */
static dps_attest_status find_group(const dps_attest_ctx *ctx, const dps_sas_token *t,
                                    const char *registration_id, dps_attest_result *out)
{
    bool raw_key_seen = false;
    keyset dev = {0};
    if (ctx->group_hint != NULL && ctx->group_hint[0] != '\0') {
        dps_record rec = {0};
        dps_store_result r =
            dps_store_get(ctx->store, DPS_COLL_ENROLLMENT_GROUP, ctx->group_hint, &rec);
        if (r == DPS_STORE_ERROR)
            return DPS_ATTEST_ERROR;
        if (r == DPS_STORE_OK) {
            json_t *doc = load_doc(&rec);
            group_match m = doc != NULL ? try_group(doc, t, registration_id, &dev) : GROUP_NO;
            dps_attest_status st = DPS_ATTEST_NOT_FOUND;
            if (m == GROUP_YES)
                st = group_result(doc, rec.key, &dev, out);
            else
                json_decref(doc);
            keys_clear(&dev);
            dps_record_free(&rec);
            if (m == GROUP_YES)
                return st;
            if (m == GROUP_ERROR)
                return DPS_ATTEST_ERROR;
            raw_key_seen = m == GROUP_RAW_KEY;
        }
    }
    char after[DPS_ID_KEY_SIZE] = "";
    for (;;) {
        dps_record_list list = {0};
        if (dps_store_list(ctx->store, DPS_COLL_ENROLLMENT_GROUP, NULL,
                           after[0] != '\0' ? after : NULL, GROUP_PAGE,
                           &list) != DPS_STORE_OK)
            return DPS_ATTEST_ERROR;
        for (size_t i = 0; i < list.count; i++) {
            const dps_record *rec = &list.items[i];
            if (ctx->group_hint != NULL && strcmp(rec->key, ctx->group_hint) == 0)
                continue; /* tried above */
            json_t *doc = load_doc(rec);
            if (doc == NULL)
                continue;
            group_match m = try_group(doc, t, registration_id, &dev);
            if (m == GROUP_YES) {
                dps_attest_status st = group_result(doc, rec->key, &dev, out);
                keys_clear(&dev);
                dps_record_list_free(&list);
                return st;
            }
            json_decref(doc);
            if (m == GROUP_ERROR) {
                dps_record_list_free(&list);
                return DPS_ATTEST_ERROR;
            }
            raw_key_seen = raw_key_seen || m == GROUP_RAW_KEY;
        }
        bool more = list.more && list.count > 0;
        if (more)
            snprintf(after, sizeof after, "%s", list.items[list.count - 1].key);
        dps_record_list_free(&list);
        if (!more)
            break;
    }
    if (raw_key_seen) {
        snprintf(out->message, sizeof out->message,
                 "the SAS token was signed with an enrollment group key itself; sign with the "
                 "device key derived from it (HMAC-SHA256 of the registration ID)");
        return DPS_ATTEST_UNAUTHORIZED;
    }
    snprintf(out->message, sizeof out->message,
             "no enrollment found for registration ID '%.128s'", registration_id);
    return DPS_ATTEST_NOT_FOUND;
}

dps_attest_status dps_attest_sas_precheck(const dps_reg_request *req, int64_t now_s, char *msg,
                                          size_t msglen)
{
    const char *text = req->sas_token;
    size_t plen = sizeof SAS_PREFIX - 1;
    if (text == NULL || strncasecmp(text, SAS_PREFIX, plen) != 0) {
        snprintf(msg, msglen, "the Authorization value is not a SharedAccessSignature token");
        return DPS_ATTEST_UNAUTHORIZED;
    }
    dps_sas_token t = {0};
    if (dps_sas_parse(text, strlen(text), &t) != DPS_SAS_OK) {
        snprintf(msg, msglen, "malformed SAS token (sr, sig and se are required)");
        return DPS_ATTEST_UNAUTHORIZED;
    }
    dps_attest_status st = DPS_ATTEST_OK;
    size_t n = strlen(req->id_scope) + strlen(req->registration_id) + 16;
    char *target = malloc(n);
    if (target == NULL) {
        st = DPS_ATTEST_ERROR;
    } else {
        snprintf(target, n, "%s/registrations/%s", req->id_scope, req->registration_id);
        if (dps_sas_expired(&t, now_s, DPS_REG_SAS_SKEW_S)) {
            snprintf(msg, msglen, "the SAS token has expired");
            st = DPS_ATTEST_UNAUTHORIZED;
        } else if (strcasecmp(t.sr, target) != 0) {
            /* The audience names exactly one registration (§8.3 step 6):
             * a token for another device or scope is refused even when
             * the key would verify it. */
            snprintf(msg, msglen, "the SAS token's sr does not name %.200s", target);
            st = DPS_ATTEST_UNAUTHORIZED;
        } else if (t.skn != NULL && t.skn[0] != '\0' && strcmp(t.skn, "registration") != 0) {
            log_debug("registration %s: SAS key name '%.64s' accepted", req->registration_id,
                      t.skn);
        }
    }
    free(target);
    dps_sas_token_free(&t);
    return st;
}

dps_attest_status dps_attest__symkey(const dps_attest_ctx *ctx, const dps_reg_request *req,
                                     const char *regkey, dps_attest_result *out)
{
    dps_attest_status st =
        dps_attest_sas_precheck(req, ctx->now_s, out->message, sizeof out->message);
    if (st != DPS_ATTEST_OK)
        return st;
    dps_sas_token t = {0};
    if (dps_sas_parse(req->sas_token, strlen(req->sas_token), &t) != DPS_SAS_OK)
        return DPS_ATTEST_UNAUTHORIZED; /* precheck parsed it already */

    dps_record rec = {0};
    keyset ks = {0};
    json_t *doc = NULL;
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_ENROLLMENT, regkey, &rec);
    if (r == DPS_STORE_ERROR) {
        st = DPS_ATTEST_ERROR;
        goto done;
    }
    if (r == DPS_STORE_NOT_FOUND) {
        st = find_group(ctx, &t, req->registration_id, out);
        goto done;
    }
    doc = load_doc(&rec);
    if (doc == NULL) {
        st = DPS_ATTEST_ERROR;
        goto done;
    }
    const json_t *sk = symkey_of(doc);
    if (sk == NULL) {
        snprintf(out->message, sizeof out->message,
                 "the enrollment for '%.128s' does not use symmetric-key attestation",
                 req->registration_id);
        st = DPS_ATTEST_UNAUTHORIZED;
        goto done;
    }
    if (decode_keys(sk, &ks) != 0) {
        log_error("registration: enrollment '%s' holds a key that is not base64", regkey);
        st = DPS_ATTEST_ERROR;
        goto done;
    }
    bool disabled = is_disabled(doc);
    if (signed_by(&t, &ks) >= 0) {
        out->enrollment = doc;
        doc = NULL;
        out->disabled = disabled;
        st = DPS_ATTEST_OK;
        if (!disabled && export_keys(&ks, out) != 0)
            st = DPS_ATTEST_ERROR;
        goto done;
    }
    if (disabled) {
        /* A group member shut out by a disabled individual enrollment: the
         * group proves the device, the individual enrollment decides. */
        dps_attest_result g = {0};
        dps_attest_status gs = find_group(ctx, &t, req->registration_id, &g);
        dps_attest_result_free(&g);
        if (gs == DPS_ATTEST_OK) {
            out->enrollment = doc;
            doc = NULL;
            out->disabled = true;
            st = DPS_ATTEST_OK;
            goto done;
        }
        if (gs == DPS_ATTEST_ERROR) {
            st = DPS_ATTEST_ERROR;
            goto done;
        }
    }
    snprintf(out->message, sizeof out->message,
             "the SAS signature matches neither key of the enrollment for '%.128s'",
             req->registration_id);
    st = DPS_ATTEST_UNAUTHORIZED;
done:
    keys_clear(&ks);
    json_decref(doc);
    dps_record_free(&rec);
    dps_sas_token_free(&t);
    return st;
}
