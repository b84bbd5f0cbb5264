/* Registration IDs and enrollment group IDs (service-api.md §3): syntax and
 * the lower-case form used as the store key. IDs are case-insensitive on the
 * wire; the caller's spelling is kept in documents for display. */
#ifndef DPSD_MODEL_IDS_H
#define DPSD_MODEL_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define DPS_ID_MAX 128              /* characters */
#define DPS_ID_KEY_SIZE (DPS_ID_MAX + 1)

/* 1..128 characters of [A-Za-z0-9:._-], neither starting nor ending with one
 * of the special characters. */
bool dps_id_valid(const char *id);
/* Lower-cases a valid ID into key; false when id is not valid. */
bool dps_id_key(const char *id, char key[DPS_ID_KEY_SIZE]);
/* Comparison without regard to (ASCII) case. */
bool dps_id_equal(const char *a, const char *b);

#endif
