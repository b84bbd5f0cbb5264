/* Randomness (OpenSSL's CSPRNG) and the identifiers built from it. */
#ifndef DPS_COMMON_RAND_H
#define DPS_COMMON_RAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DPS_UUID_LEN 37 /* 36 characters + NUL */

/* Fills buf with n random bytes; returns 0 or -1. */
int dps_random_bytes(void *buf, size_t n);
/* A random (version 4) UUID in lower-case text form; returns 0 or -1. */
int dps_uuid_v4(char out[DPS_UUID_LEN]);
/* Hex-encodes n bytes into out (2n+1 bytes). */
void dps_hex_encode(const uint8_t *in, size_t n, bool upper, char *out);

#endif
