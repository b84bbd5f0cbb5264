/* X.509 device authentication for MQTT CONNECT (registry.h,
 * hubd_device_auth_x509; hub.md §8.1):
 *   selfSigned            the leaf's SHA-1 or SHA-256 thumbprint equals the
 *                         device's primary or secondary thumbprint;
 *   certificateAuthority  the chain validates to a CA the hub trusts and the
 *                         leaf's CN equals the device ID.
 * Trusted CAs are stored in DPS_COLL_HUB_CA (key "<hub>/<name>", group hub),
 * document {"name", "certificate": "<PEM or base64 DER>", "isVerified": bool};
 * a record with isVerified false is not trusted (absent counts as true: CAs
 * from the config file are verified by whoever wrote it). */
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "model/devices.h"
#include "model/hubs.h"
#include "model/registry.h"
#include "pki/pki.h"

#define HUBD_MAX_HUB_CAS 100 /* trusted CAs per hub considered */

static bool thumbprint_matches(const json_t *tp, const char *sha1, const char *sha256)
{
    static const char *const slots[] = {"primaryThumbprint", "secondaryThumbprint"};
    for (size_t i = 0; i < 2; i++) {
        const char *want = json_string_value(json_object_get(tp, slots[i]));
        if (want == NULL)
            continue;
        if (strcasecmp(want, sha1) == 0 || strcasecmp(want, sha256) == 0)
            return true;
    }
    return false;
}

static bool cn_is(X509 *leaf, const char *device_id)
{
    char cn[HUBD_DEVICE_ID_MAX + 2];
    X509_NAME *subject = X509_get_subject_name(leaf);
    int n = subject != NULL ? X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn)
                            : -1;
    return n > 0 && (size_t)n == strlen(device_id) && strcmp(cn, device_id) == 0;
}

/* Adds the hub's trusted CAs to store; the number added, -1 on failure. */
static int load_cas(hubd_ctx *ctx, const char *hub, X509_STORE *store)
{
    dps_record_list list = {0};
    if (dps_store_list(ctx->store, DPS_COLL_HUB_CA, hub, NULL, HUBD_MAX_HUB_CAS, &list) !=
        DPS_STORE_OK)
        return -1;
    int added = 0;
    for (size_t i = 0; i < list.count; i++) {
        json_t *doc = json_loads(list.items[i].doc, 0, NULL);
        const char *pem = json_string_value(json_object_get(doc, "certificate"));
        const json_t *verified = json_object_get(doc, "isVerified");
        char err[160];
        X509 *ca = NULL;
        if (pem != NULL && !json_is_false(verified))
            ca = dps_x509_parse_text(pem, strlen(pem), err, sizeof err);
        if (ca != NULL && X509_STORE_add_cert(store, ca) == 1)
            added++;
        else if (pem != NULL && !json_is_false(verified))
            log_warn("hub %s: trusted CA %s is unusable", hub, list.items[i].key);
        X509_free(ca);
        json_decref(doc);
    }
    dps_record_list_free(&list);
    return added;
}

static bool chain_valid(hubd_ctx *ctx, const char *hub, X509 *leaf, STACK_OF(X509) *chain)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    bool ok = false;
    if (store == NULL || vctx == NULL || load_cas(ctx, hub, store) <= 0)
        goto done;
    /* A trusted intermediate is enough: Azure lets a hub trust any CA in the
     * chain, not only a root. */
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_STORE_CTX_init(vctx, store, leaf, chain) != 1)
        goto done;
    ok = X509_verify_cert(vctx) == 1;
    if (!ok)
        log_debug("hub %s: device certificate chain refused: %s", hub,
                  X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
done:
    X509_STORE_CTX_free(vctx);
    X509_STORE_free(store);
    return ok;
}

hubd_auth_result hubd_device_auth_x509(hubd_ctx *ctx, const char *hub, const char *device_id,
                                       X509 *leaf, STACK_OF(X509) *chain)
{
    char canon[HUBD_HUB_NAME_SIZE];
    if (!hubd_hub_canon(hub, canon) || !hubd_device_id_valid(device_id))
        return HUBD_AUTH_UNKNOWN_DEVICE;
    if (leaf == NULL)
        return HUBD_AUTH_DENIED;
    json_t *doc = NULL;
    hubd_result hr = hubd_device_load(ctx, canon, device_id, &doc, NULL);
    if (hr != HUBD_OK)
        return hr == HUBD_NOT_FOUND ? HUBD_AUTH_UNKNOWN_DEVICE : HUBD_AUTH_ERROR;
    const json_t *auth = json_object_get(doc, "authentication");
    const char *type = json_string_value(json_object_get(auth, "type"));
    bool ok = false;
    if (type != NULL && strcmp(type, "selfSigned") == 0) {
        char sha1[41], sha256[65];
        ok = dps_x509_thumbprint_sha1(leaf, sha1) == 0 &&
             dps_x509_thumbprint_sha256(leaf, sha256) == 0 &&
             thumbprint_matches(json_object_get(auth, "x509Thumbprint"), sha1, sha256);
    } else if (type != NULL && strcmp(type, "certificateAuthority") == 0) {
        ok = cn_is(leaf, device_id) && chain_valid(ctx, canon, leaf, chain);
    }
    hubd_auth_result ar = HUBD_AUTH_DENIED;
    if (ok) {
        const char *status = json_string_value(json_object_get(doc, "status"));
        ar = status != NULL && strcmp(status, "enabled") == 0 ? HUBD_AUTH_OK
                                                                : HUBD_AUTH_DISABLED;
    }
    json_decref(doc);
    return ar;
}
