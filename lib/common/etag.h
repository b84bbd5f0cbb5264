/* ETags both daemons hand out and the If-Match values clients send back.
 * The two forms are different on purpose, each copying the Azure service
 * it stands in for: dpsd uses base64 of a quoted UUID (DPS), hubd base64 of
 * 8 random bytes (IoT Hub's "AAAAAAAAAAE=" shape); the If-Match reading is
 * one, with the single place they differ as a flag. */
#ifndef DPS_COMMON_ETAG_H
#define DPS_COMMON_ETAG_H

#include <stddef.h>

typedef enum {
    DPS_IFM_NONE, /* absent or blank */
    DPS_IFM_ANY,  /* "*": any existing version */
    DPS_IFM_ETAG, /* this version only */
} dps_ifm_kind;

/* Base64 of a quoted random UUID (DPS's form, so clients that quote or
 * strip quotes themselves cannot corrupt it) into out. 0, or -1 when the
 * random source fails or out is too small (53 bytes suffice). */
int dps_etag_make_uuid(char *out, size_t outsize);

/* Base64 of nbytes random bytes (IoT Hub's form) into out. 0, or -1 when
 * the random source fails or out is too small. */
int dps_etag_make_random(char *out, size_t outsize, size_t nbytes);

/* Also read a quoted (or W/-prefixed) "*" as "any": the Node SDK sends
 * If-Match: "*" to hubd. Without it only a bare * is "any". */
#define DPS_IFM_QUOTED_STAR 1u

/* Reads an If-Match value (or a bulk item's etag): NULL or blank is NONE,
 * "*" is ANY, anything else one ETag, blanks trimmed and a W/ prefix and
 * surrounding double quotes removed, copied into etag. -1 when it is empty
 * inside the quotes or longer than etagsize - 1 (too long to be one of
 * ours); *kind is NONE and etag "" then. */
int dps_if_match_read(const char *value, unsigned flags, dps_ifm_kind *kind, char *etag,
                      size_t etagsize);

#endif
