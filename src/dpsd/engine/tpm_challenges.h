/* Pending TPM challenges (tpm.md §9.3, docs/internals/tpm.md): for each
 * 401 challenge handed out, the HMAC key it delivers, the EK it was made
 * for, the SRK it was wrapped to, when it expires and whether a register
 * has used it already. The second PUT proves the device's TPM opened the
 * challenge by signing its SAS token with one of these keys.
 *
 * In memory only (a restart loses them: the device starts again with a
 * first PUT). Used on the engine's thread only. Expiry is lazy: every call
 * first retires what is due, so no timer is needed. A key is wiped when its
 * challenge expires; the entry stays as long again as a tombstone, so that
 * a late answer hears "expired" rather than "no challenge". */
#ifndef DPSD_ENGINE_TPM_CHALLENGES_H
#define DPSD_ENGINE_TPM_CHALLENGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sas.h"
#include "engine/tpm_activation.h"
#include "pki/pki.h"

#define DPS_TPM_CHALLENGE_TTL_S 300  /* tpm.md §5 step 5 [project] */
#define DPS_TPM_CHALLENGES_MAX 10000 /* in total; the oldest goes first */
/* Per registration: a device that retries, and anyone who knows the
 * (public) EK asking as well, do not throw the device's own challenge away
 * at once. The oldest goes first. */
#define DPS_TPM_CHALLENGES_PER_ID 4

typedef struct dps_tpm_challenges dps_tpm_challenges;

/* ttl_ms > 0; max 0 = DPS_TPM_CHALLENGES_MAX. NULL without memory. */
dps_tpm_challenges *dps_tpm_challenges_new(int64_t ttl_ms, size_t max);
/* Wipes every key and frees; sets *t to NULL. */
void dps_tpm_challenges_free(dps_tpm_challenges **t);

/* Records a challenge for regkey (lower-case registration ID) delivering
 * key, made for the EK whose public area hashes to ek_digest (SHA-256) and
 * wrapped to srk. 0, or -1 without memory. */
int dps_tpm_challenges_add(dps_tpm_challenges *t, const char *regkey,
                           const uint8_t key[DPS_TPM_HMAC_KEY_LEN],
                           const uint8_t ek_digest[32], const dps_tpm_public *srk,
                           int64_t now_ms);

typedef enum {
    DPS_TPM_CH_MATCH,    /* signed with a live key (now used, when consuming) */
    DPS_TPM_CH_NONE,     /* no challenge known for the registration */
    DPS_TPM_CH_MISMATCH, /* no live key made this signature */
    DPS_TPM_CH_EXPIRED,  /* none matched, and the registration's challenges expired */
    DPS_TPM_CH_USED,     /* consuming, and the matching key already served a register */
} dps_tpm_ch_result;

/* What a matching challenge was made with. */
typedef struct {
    uint8_t ek_digest[32];
    dps_tpm_public srk;
} dps_tpm_challenge_info;

/* Checks a SAS token against the live keys of regkey's challenges (every
 * one is tried, in constant time each). consume: a register, which uses a
 * key up (a second register with it is a replay); polls and lookups pass
 * false and are accepted with a used key until it expires. On MATCH fills
 * *info. */
dps_tpm_ch_result dps_tpm_challenges_check(dps_tpm_challenges *t, const char *regkey,
                                           const dps_sas_token *token, bool consume,
                                           int64_t now_ms, dps_tpm_challenge_info *info);

/* True when regkey has a challenge (live, used or expired tombstone): a SAS
 * request for it is then TPM. */
bool dps_tpm_challenges_known(dps_tpm_challenges *t, const char *regkey, int64_t now_ms);

/* Entries held (live and tombstones), after retiring what is due. */
size_t dps_tpm_challenges_count(dps_tpm_challenges *t, int64_t now_ms);

#endif
