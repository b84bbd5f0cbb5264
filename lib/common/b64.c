#include "common/b64.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

char *dps_b64_encode(const uint8_t *in, size_t len)
{
    if (len > (SIZE_MAX / 4) * 3 - 3 || len > (size_t)INT32_MAX / 2)
        return NULL;
    size_t outcap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(outcap);
    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

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

int dps_b64_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen)
{
    if (inlen % 4 != 0)
        return -1;
    size_t pad = 0;
    if (inlen >= 1 && in[inlen - 1] == '=')
        pad++;
    if (inlen >= 2 && in[inlen - 2] == '=')
        pad++;
    size_t n = inlen / 4 * 3 - pad;
    uint8_t *buf = malloc(n + 1); /* +1: never malloc(0) */
    if (buf == NULL)
        return -1;

    size_t o = 0;
    for (size_t i = 0; i < inlen; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            bool last_group = i + 4 == inlen;
            if (c == '=' && last_group && k >= 4 - (int)pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64_value(c);
            if (v[k] < 0) {
                free(buf);
                return -1;
            }
        }
        uint32_t triple = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                          (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t take = (i + 4 == inlen) ? 3 - pad : 3;
        /* Non-canonical encodings (stray bits under the padding) are refused. */
        if (i + 4 == inlen && ((pad == 1 && (triple & 0xFF)) ||
                               (pad == 2 && (triple & 0xFFFF)))) {
            free(buf);
            return -1;
        }
        for (size_t k = 0; k < take; k++)
            buf[o++] = (uint8_t)(triple >> (16 - 8 * k));
    }
    *out = buf;
    *outlen = n;
    return 0;
}
