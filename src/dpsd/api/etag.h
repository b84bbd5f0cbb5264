/* ETags of enrollments and groups (service-api.md §4): base64 of a quoted
 * UUID, new on every write, and the If-Match forms clients send; both made
 * and read by common/etag.c in dpsd's form. */
#ifndef DPSD_API_ETAG_H
#define DPSD_API_ETAG_H

#include "common/etag.h"

#define DPS_ETAG_MAX 128 /* base64 of a quoted UUID is 52 characters */

/* A fresh ETag into out; -1 when the random source fails. */
int dps_etag_new(char out[DPS_ETAG_MAX]);

/* DPS_IFM_NONE: create only (PUT) / unconditional (DELETE); DPS_IFM_ANY:
 * any existing version (PUT also creates); DPS_IFM_ETAG: this version. */
typedef struct {
    dps_ifm_kind kind;
    char etag[DPS_ETAG_MAX];
} dps_if_match;

/* Reads an If-Match value (or a bulk item's etag): NULL or blank is NONE,
 * a bare "*" is ANY, anything else one ETag with a W/ prefix and
 * surrounding double quotes removed. -1 when the value is too long to be
 * one of ours. */
int dps_if_match_parse(const char *value, dps_if_match *out);

#endif
