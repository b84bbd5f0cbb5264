/* Shared access signature (SAS) tokens, as used by DPS and IoT Hub:
 *   SharedAccessSignature sr=<resource>&sig=<sig>&se=<expiry>[&skn=<policy>]
 * and symmetric-key derivation for enrollment groups.
 *
 * Signing rule: sig = base64(HMAC-SHA256(key, sr_as_sent + "\n" + se)),
 * where sr_as_sent is the sr field exactly as it appears in the token (still
 * URL-encoded if the client encoded it). The verifier never re-encodes sr. */
#ifndef DPS_COMMON_SAS_H
#define DPS_COMMON_SAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DPS_SAS_MAX_TOKEN_LEN 4096
#define DPS_HMAC_SHA256_LEN 32

typedef struct {
    char *sr_raw;     /* sr exactly as received (what was signed) */
    char *sr;         /* sr URL-decoded, for the audience check */
    char *sig;        /* URL-decoded base64 signature */
    int64_t se;       /* expiry, Unix seconds */
    char *se_raw;     /* se as received after URL-decoding (what was signed) */
    char *skn;        /* URL-decoded policy name, NULL when absent */
} dps_sas_token;

typedef enum {
    DPS_SAS_OK = 0,
    DPS_SAS_MALFORMED,     /* not a token, missing field, bad number */
    DPS_SAS_BAD_SIGNATURE, /* no key produced this signature */
    DPS_SAS_EXPIRED,       /* se is in the past beyond the allowed skew */
    DPS_SAS_WRONG_AUDIENCE,/* sr does not cover the resource */
} dps_sas_result;

/* Parses a token with or without the "SharedAccessSignature " prefix; fields
 * may come in any order; unknown fields are ignored; duplicates are refused.
 * On success fills *out (free with dps_sas_token_free). */
dps_sas_result dps_sas_parse(const char *text, size_t len, dps_sas_token *out);
void dps_sas_token_free(dps_sas_token *t);

/* HMAC-SHA256 helper. */
int dps_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t len,
                    uint8_t out[DPS_HMAC_SHA256_LEN]);

/* Computes the base64 signature of (sr_raw, se_text) under key.
 * Returns a new string or NULL. */
char *dps_sas_signature(const uint8_t *key, size_t keylen, const char *sr_raw,
                        const char *se_text);

/* True when the token's signature was made with key (constant time). */
bool dps_sas_signed_with(const dps_sas_token *t, const uint8_t *key, size_t keylen);

/* Expiry check: se must not lie more than skew_s seconds before now. */
bool dps_sas_expired(const dps_sas_token *t, int64_t now_s, int64_t skew_s);

/* Audience check: the decoded sr, lower-cased, must be a segment prefix of
 * target (also lower-cased): equal, or target continues with '/' after it.
 * A ":port" right after the host part is ignored when only one side has
 * one, so "localhost:8443" covers "localhost" and vice versa; two different
 * ports never match. */
bool dps_sas_audience_covers(const char *sr_decoded, const char *target);

/* Builds a complete token "SharedAccessSignature sr=..&sig=..&se=..[&skn=..]"
 * for a client. sr is URL-encoded in the token and signed in encoded form.
 * key_b64 is the base64 policy or device key. Returns a new string or NULL. */
char *dps_sas_build(const char *resource, const char *key_b64, const char *skn,
                    int64_t expiry_s);

/* Enrollment-group device key: base64(HMAC-SHA256(base64dec(group_key_b64),
 * registration_id)). Returns a new string or NULL (bad base64, no memory). */
char *dps_derive_device_key(const char *group_key_b64, const char *registration_id);

#endif
