/* Handling of secret bytes: wiping and constant-time comparison. */
#ifndef DPS_COMMON_SECRET_H
#define DPS_COMMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* Overwrite n bytes so the compiler cannot drop the store. */
void dps_wipe(void *p, size_t n);
/* Wipe a NUL-terminated string in place and free it; NULL is fine. */
void dps_free_secret_string(char *s);
/* Constant-time equality of two byte strings of possibly different length
 * (the length difference itself is not secret). */
bool dps_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
