/* The registration ID of a TPM device (tpm.md §3.4): lower-case RFC 4648
 * base32 of SHA-256 over the EK's TPM2B_PUBLIC exactly as sent (size prefix
 * included), trailing '=' removed: 52 characters. */
#include <assert.h>
#include <openssl/evp.h>
#include <string.h>

#include "dps/tpm.h"

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

dps_result dps_tpm_registration_id_derive(const uint8_t *ek, size_t ek_len, char *out,
                                          size_t cap, size_t *out_len)
{
    assert(ek != NULL && out_len != NULL);
    *out_len = 0;
    if (ek_len == 0)
        return DPS_E_INVALID;
    if (cap < DPS_TPM_REGISTRATION_ID_LEN + 1) {
        *out_len = DPS_TPM_REGISTRATION_ID_LEN + 1;
        return DPS_E_NO_SPACE;
    }
    uint8_t digest[32];
    unsigned int dl = 0;
    if (EVP_Digest(ek, ek_len, digest, &dl, EVP_sha256(), NULL) != 1 || dl != sizeof digest)
        return DPS_E_CRYPTO;
    /* 256 bits in groups of five, the last group padded with zero bits. */
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof digest; i++) {
        acc = (acc << 8) | digest[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31u];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31u];
    assert(o == DPS_TPM_REGISTRATION_ID_LEN);
    out[o] = '\0';
    *out_len = o;
    return DPS_OK;
}
