/* SAS tokens and symmetric keys without allocation: strict base64 into a
 * caller buffer, HMAC-SHA256 over the audience as it is sent, and the
 * symmetric-key credential. common/sas.h has the allocating versions the
 * daemons use; the device core keeps to caller buffers (style.md practice
 * 10), and the unit tests check both produce identical tokens. */
#include <assert.h>
#include <string.h>

#include "common/sas.h"
#include "common/secret.h"
#include "device/core/sas_token.h"
#include "device/core/writer.h"
#include "dps/credential.h"
#include "dps/prov_core.h"

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

dps_result dps_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                             size_t *out_len)
{
    assert(in != NULL && out_len != NULL);
    *out_len = 0;
    if (len % 4 != 0)
        return DPS_E_INVALID;
    size_t pad = 0;
    if (len > 0 && in[len - 1] == '=')
        pad++;
    if (len > 1 && in[len - 2] == '=')
        pad++;
    size_t n = len / 4 * 3 - pad;
    /* Validate everything before writing a byte. */
    for (size_t i = 0; i < len - pad; i++) {
        if (b64_value((unsigned char)in[i]) < 0)
            return DPS_E_INVALID;
    }
    if (n > cap) {
        *out_len = n;
        return DPS_E_NO_SPACE;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = i + j < len - pad ? b64_value((unsigned char)in[i + j]) : 0;
            v = v << 6 | (uint32_t)d;
        }
        uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        for (size_t j = 0; j < 3 && o < n; j++)
            out[o++] = b[j];
        /* Non-canonical padding bits ("QR==") are refused: strict decoding
         * keeps one text per key. */
        if (i + 4 == len && ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0))) {
            dps_wipe(out, o);
            return DPS_E_INVALID;
        }
    }
    *out_len = n;
    return DPS_OK;
}

/* base64(HMAC-SHA256(key, msg)) into sig (45 bytes suffice for 32 bytes). */
static dps_result hmac_b64(const uint8_t *key, size_t key_len, const char *msg, size_t msg_len,
                           char sig[48])
{
    uint8_t mac[DPS_HMAC_SHA256_LEN];
    if (dps_hmac_sha256(key, key_len, msg, msg_len, mac) != 0)
        return DPS_E_CRYPTO;
    dps_w w;
    dps_w_target(&w, sig, 48);
    dps_w_b64(&w, mac, sizeof mac);
    size_t n = 0;
    dps_result rc = dps_w_done(&w, &n);
    dps_wipe(mac, sizeof mac);
    return rc;
}

dps_result dps_sas_signature_write(const uint8_t *key, size_t key_len, const char *sr_as_sent,
                                   const char *se_text, char *out, size_t cap, size_t *out_len)
{
    assert(key != NULL && sr_as_sent != NULL && se_text != NULL && out_len != NULL);
    size_t srl = strlen(sr_as_sent), sel = strlen(se_text);
    *out_len = 0;
    if (srl + 1 + sel > DPS__SAS_MSG_MAX)
        return DPS_E_INVALID;
    char msg[DPS__SAS_MSG_MAX];
    memcpy(msg, sr_as_sent, srl);
    msg[srl] = '\n';
    memcpy(msg + srl + 1, se_text, sel);
    char sig[48];
    dps_result rc = hmac_b64(key, key_len, msg, srl + 1 + sel, sig);
    if (rc == DPS_OK) {
        size_t n = strlen(sig);
        if (n >= cap) {
            *out_len = n + 1;
            rc = DPS_E_NO_SPACE;
        } else {
            memcpy(out, sig, n + 1);
            *out_len = n;
        }
    }
    dps_wipe(sig, sizeof sig);
    return rc;
}

typedef struct {
    const char *sr;  /* encoded audience */
    const char *sig; /* base64 signature, encoded by the writer */
    const char *se;
    const char *skn;
} sas_parts;

static void build_sas(dps_w *w, const void *arg)
{
    const sas_parts *p = arg;
    dps_w_str(w, "SharedAccessSignature sr=");
    dps_w_str(w, p->sr);
    dps_w_str(w, "&sig=");
    dps_w_pct(w, p->sig);
    dps_w_str(w, "&se=");
    dps_w_str(w, p->se);
    if (p->skn != NULL) {
        dps_w_str(w, "&skn=");
        dps_w_pct(w, p->skn);
    }
}

dps_result dps__sas_token_write(const char *sr, const char *sig, const char *se,
                                const char *skn, char *out, size_t cap, size_t *out_len)
{
    sas_parts parts = {sr, sig, se, skn};
    return dps_w_run(build_sas, &parts, out, cap, out_len);
}

dps_result dps_sas_write(const uint8_t *key, size_t key_len, const char *resource,
                         const char *skn, int64_t expiry_s, char *out, size_t cap,
                         size_t *out_len)
{
    assert(key != NULL && resource != NULL && out_len != NULL);
    *out_len = 0;
    if (resource[0] == '\0' || expiry_s < 0 || (skn != NULL && skn[0] == '\0'))
        return DPS_E_INVALID;

    /* The audience is encoded once and signed exactly as the token shows it. */
    char sr[DPS__SAS_MSG_MAX];
    dps_w w;
    dps_w_count(&w);
    dps_w_pct(&w, resource);
    if (w.len >= sizeof sr)
        return DPS_E_INVALID;
    dps_w_target(&w, sr, sizeof sr);
    dps_w_pct(&w, resource);
    size_t srl = 0;
    dps_result rc = dps_w_done(&w, &srl);
    if (rc != DPS_OK)
        return rc;

    char se[24];
    dps_w_target(&w, se, sizeof se);
    dps_w_i64(&w, expiry_s);
    size_t sel = 0;
    rc = dps_w_done(&w, &sel);
    if (rc != DPS_OK)
        return rc;

    char sig[48];
    size_t sig_len = 0;
    rc = dps_sas_signature_write(key, key_len, sr, se, sig, sizeof sig, &sig_len);
    if (rc != DPS_OK)
        return rc;
    rc = dps__sas_token_write(sr, sig, se, skn, out, cap, out_len);
    dps_wipe(sig, sizeof sig);
    return rc;
}

dps_result dps_group_key_derive(const char *group_key_b64, const char *registration_id,
                                char *out, size_t cap, size_t *out_len)
{
    assert(group_key_b64 != NULL && registration_id != NULL && out_len != NULL);
    *out_len = 0;
    if (!dps_registration_id_valid(registration_id))
        return DPS_E_INVALID;
    uint8_t key[DPS_MAX_KEY_BYTES];
    size_t key_len = 0;
    dps_result rc =
        dps_base64_decode(group_key_b64, strlen(group_key_b64), key, sizeof key, &key_len);
    if (rc != DPS_OK || key_len == 0) {
        *out_len = 0;
        return DPS_E_INVALID;
    }
    char sig[48];
    rc = hmac_b64(key, key_len, registration_id, strlen(registration_id), sig);
    dps_wipe(key, sizeof key);
    if (rc == DPS_OK) {
        size_t n = strlen(sig);
        if (n >= cap) {
            *out_len = n + 1;
            rc = DPS_E_NO_SPACE;
        } else {
            memcpy(out, sig, n + 1);
            *out_len = n;
        }
    }
    dps_wipe(sig, sizeof sig);
    return rc;
}

/* ---- The symmetric-key credential ----------------------------------------- */

static dps_result symkey_sign(const dps_credential *cred, const char *resource, const char *skn,
                              int64_t expiry_s, char *out, size_t cap, size_t *out_len)
{
    /* base is the first member, so the credential pointer is the key's. */
    const dps_symmetric_key *k = (const dps_symmetric_key *)cred;
    return dps_sas_write(k->key, k->key_len, resource, skn, expiry_s, out, cap, out_len);
}

static const dps_credential_ops symkey_ops = {
    .name = "symmetric-key",
    .sign_sas = symkey_sign,
    .tls_configure = NULL,
};

dps_result dps_symmetric_key_init(dps_symmetric_key *out, const char *key_b64)
{
    assert(out != NULL && key_b64 != NULL);
    dps_symmetric_key k = {.base = {&symkey_ops}};
    dps_result rc = dps_base64_decode(key_b64, strlen(key_b64), k.key, sizeof k.key, &k.key_len);
    if (rc != DPS_OK || k.key_len == 0) {
        dps_wipe(&k, sizeof k);
        return DPS_E_INVALID;
    }
    *out = k;
    dps_wipe(&k, sizeof k);
    return DPS_OK;
}

dps_result dps_symmetric_key_init_group(dps_symmetric_key *out, const char *group_key_b64,
                                        const char *registration_id)
{
    assert(out != NULL && group_key_b64 != NULL && registration_id != NULL);
    char derived[64];
    size_t n = 0;
    dps_result rc =
        dps_group_key_derive(group_key_b64, registration_id, derived, sizeof derived, &n);
    if (rc == DPS_OK)
        rc = dps_symmetric_key_init(out, derived);
    dps_wipe(derived, sizeof derived);
    return rc;
}

static void build_key(dps_w *w, const void *arg)
{
    const dps_symmetric_key *k = arg;
    dps_w_b64(w, k->key, k->key_len);
}

dps_result dps_symmetric_key_export(const dps_symmetric_key *k, char *out, size_t cap,
                                    size_t *out_len)
{
    assert(k != NULL && out_len != NULL);
    return dps_w_run(build_key, k, out, cap, out_len);
}

void dps_symmetric_key_wipe(dps_symmetric_key *k)
{
    if (k != NULL)
        dps_wipe(k, sizeof *k);
}
