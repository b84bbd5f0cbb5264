/* SAS authentication (hub_auth.h): hub resolution and service tokens for
 * the REST side, device tokens (own key or a DeviceConnect policy) for the
 * MQTT side. Messages name the failed check, never key material. */
#include "model/hub_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/sas.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "model/devices.h"
#include "model/hub_errors.h"
#include "model/hub_policies.h"

/* Copies the host part of s (up to '/' or the end, without ":port"). */
static bool host_part(const char *s, char out[HUBD_HUB_NAME_SIZE])
{
    if (s == NULL)
        return false;
    size_t n = strcspn(s, "/");
    const char *colon = memchr(s, ':', n);
    if (colon != NULL)
        n = (size_t)(colon - s);
    if (n == 0 || n >= HUBD_HUB_NAME_SIZE)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

/* Case 3 of the resolution: the hub whose policy verifies the token. */
static hubd_result hub_by_signature(hubd_ctx *ctx, const dps_sas_token *tok,
                                    char hub[HUBD_HUB_NAME_SIZE])
{
    char **names = NULL;
    size_t n = 0;
    if (tok->skn == NULL)
        return HUBD_NOT_FOUND;
    if (hubd_hub_list(ctx, &names, &n) != 0)
        return HUBD_ERROR;
    hubd_result hr = HUBD_NOT_FOUND;
    for (size_t i = 0; i < n && hr == HUBD_NOT_FOUND; i++) {
        json_t *policy = NULL;
        hubd_result pr = hubd_policy_load(ctx, names[i], tok->skn, &policy);
        if (pr == HUBD_ERROR)
            hr = HUBD_ERROR;
        if (pr == HUBD_OK && hubd_policy_signed(policy, tok)) {
            snprintf(hub, HUBD_HUB_NAME_SIZE, "%s", names[i]);
            hr = HUBD_OK;
        }
        json_decref(policy);
    }
    hubd_hub_list_free(names, n);
    return hr;
}

hubd_result hubd_resolve_hub(hubd_ctx *ctx, const char *host_header, const char *authorization,
                             char hub[HUBD_HUB_NAME_SIZE])
{
    char name[HUBD_HUB_NAME_SIZE];
    if (host_part(host_header, name) && hubd_hub_exists(ctx, name, hub))
        return HUBD_OK;
    if (authorization == NULL)
        return HUBD_NOT_FOUND;
    dps_sas_token tok = {0};
    if (dps_sas_parse(authorization, strlen(authorization), &tok) != DPS_SAS_OK)
        return HUBD_NOT_FOUND;
    hubd_result hr = HUBD_NOT_FOUND;
    if (host_part(tok.sr, name) && hubd_hub_exists(ctx, name, hub))
        hr = HUBD_OK;
    else
        hr = hub_by_signature(ctx, &tok, hub);
    dps_sas_token_free(&tok);
    return hr;
}

hubd_auth_result hubd_service_auth(hubd_ctx *ctx, const char *hub, const char *authorization,
                                   const char *host_header, unsigned any_of, int64_t now_s,
                                   char *why, size_t whylen)
{
    dps_sas_token tok = {0};
    json_t *policy = NULL;
    hubd_auth_result ar = HUBD_AUTH_DENIED;
    if (authorization == NULL || authorization[0] == '\0') {
        snprintf(why, whylen, "missing Authorization header");
        goto done;
    }
    if (dps_sas_parse(authorization, strlen(authorization), &tok) != DPS_SAS_OK) {
        snprintf(why, whylen, "malformed SharedAccessSignature");
        goto done;
    }
    if (tok.skn == NULL || tok.skn[0] == '\0') {
        snprintf(why, whylen, "the token names no policy (skn)");
        goto done;
    }
    hubd_result pr = hubd_policy_load(ctx, hub, tok.skn, &policy);
    if (pr == HUBD_ERROR) {
        snprintf(why, whylen, "cannot read the access policies");
        ar = HUBD_AUTH_ERROR;
        goto done;
    }
    if (pr != HUBD_OK) {
        snprintf(why, whylen, "hub %s has no access policy '%.64s'", hub, tok.skn);
        goto done;
    }
    if (!hubd_policy_signed(policy, &tok)) {
        snprintf(why, whylen, "the signature does not match the keys of policy '%.64s'",
                 tok.skn);
        goto done;
    }
    bool audience = dps_sas_audience_covers(tok.sr, hub) ||
                    (host_header != NULL && host_header[0] != '\0' &&
                     dps_sas_audience_covers(tok.sr, host_header));
    if (!audience) {
        snprintf(why, whylen, "the token's audience (sr) does not cover hub %s", hub);
        goto done;
    }
    if (dps_sas_expired(&tok, now_s, HUBD_SAS_SKEW_S)) {
        snprintf(why, whylen, "the token expired");
        goto done;
    }
    if ((hubd_policy_rights(policy) & any_of) == 0) {
        snprintf(why, whylen, "policy '%.64s' lacks the rights this operation needs", tok.skn);
        goto done;
    }
    ar = HUBD_AUTH_OK;
done:
    json_decref(policy);
    dps_sas_token_free(&tok);
    return ar;
}

/* True when the token was signed with one of the device's symmetric keys. */
static bool device_key_signed(const json_t *doc, const dps_sas_token *tok)
{
    const json_t *auth = json_object_get(doc, "authentication");
    const char *type = json_string_value(json_object_get(auth, "type"));
    if (type == NULL || strcmp(type, "sas") != 0)
        return false;
    const json_t *sk = json_object_get(auth, "symmetricKey");
    bool ok = false;
    static const char *const slots[] = {"primaryKey", "secondaryKey"};
    for (size_t i = 0; i < 2; i++) {
        const char *b64 = json_string_value(json_object_get(sk, slots[i]));
        uint8_t *key = NULL;
        size_t keylen = 0;
        if (b64 == NULL || dps_b64_decode(b64, strlen(b64), &key, &keylen) != 0)
            continue;
        ok |= dps_sas_signed_with(tok, key, keylen);
        dps_wipe(key, keylen);
        free(key);
    }
    return ok;
}

hubd_auth_result hubd_device_auth_sas_at(hubd_ctx *ctx, const char *hub, const char *device_id,
                                         const char *password, size_t password_len,
                                         int64_t now_s)
{
    char canon[HUBD_HUB_NAME_SIZE];
    char target[HUBD_DEVICE_KEY_SIZE + 16];
    dps_sas_token tok = {0};
    json_t *doc = NULL, *policy = NULL;
    hubd_auth_result ar = HUBD_AUTH_DENIED;
    if (!hubd_hub_canon(hub, canon) || !hubd_device_id_valid(device_id))
        return HUBD_AUTH_UNKNOWN_DEVICE;
    if (password == NULL || password_len == 0 || password_len > DPS_SAS_MAX_TOKEN_LEN ||
        dps_sas_parse(password, password_len, &tok) != DPS_SAS_OK)
        goto done;
    hubd_result hr = hubd_device_load(ctx, canon, device_id, &doc, NULL);
    if (hr != HUBD_OK) {
        ar = hr == HUBD_NOT_FOUND ? HUBD_AUTH_UNKNOWN_DEVICE : HUBD_AUTH_ERROR;
        goto done;
    }
    bool is_signed = false;
    if (tok.skn == NULL) {
        is_signed = device_key_signed(doc, &tok);
    } else {
        hr = hubd_policy_load(ctx, canon, tok.skn, &policy);
        if (hr == HUBD_ERROR) {
            ar = HUBD_AUTH_ERROR;
            goto done;
        }
        is_signed = hr == HUBD_OK &&
                    (hubd_policy_rights(policy) & HUBD_RIGHT_DEVICE_CONNECT) != 0 &&
                    hubd_policy_signed(policy, &tok);
    }
    /* sr must be a segment prefix of {hub}/devices/{id}: the device's own
     * resource or the whole hub. */
    snprintf(target, sizeof target, "%s/devices/%s", canon, device_id);
    if (!is_signed || !dps_sas_audience_covers(tok.sr, target) ||
        dps_sas_expired(&tok, now_s, HUBD_SAS_SKEW_S))
        goto done;
    const char *status = json_string_value(json_object_get(doc, "status"));
    ar = status != NULL && strcmp(status, "enabled") == 0 ? HUBD_AUTH_OK : HUBD_AUTH_DISABLED;
done:
    json_decref(policy);
    json_decref(doc);
    dps_sas_token_free(&tok);
    return ar;
}

hubd_auth_result hubd_device_auth_sas(hubd_ctx *ctx, const char *hub, const char *device_id,
                                      const char *password, size_t password_len)
{
    return hubd_device_auth_sas_at(ctx, hub, device_id, password, password_len, dps_now_s());
}
