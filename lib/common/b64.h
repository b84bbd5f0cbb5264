/* Standard base64 (RFC 4648 §4, with padding). Decoding is strict: only the
 * standard alphabet, correct padding, no whitespace; anything else fails. */
#ifndef DPS_COMMON_B64_H
#define DPS_COMMON_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encodes len bytes into a new NUL-terminated string (caller frees).
 * Returns NULL only when out of memory. */
char *dps_b64_encode(const uint8_t *in, size_t len);

/* Decodes inlen characters into a new buffer (caller frees) and sets *outlen.
 * Returns 0, or -1 for invalid input or no memory (*out untouched). */
int dps_b64_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen);

#endif
