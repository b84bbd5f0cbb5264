/* ETags of hubd documents and the If-Match forms clients send (hub.md §5).
 * One form serves every ETag hubd makes (store records, the device ETag,
 * the twin ETag): base64 of 8 random bytes, e.g. "q9V0V3n4Xj0=", the shape
 * Azure's weak ETags have ("AAAAAAAAAAE="). Random rather than a counter so
 * an ETag of a deleted device never matches its re-created successor. */
#ifndef HUBD_MODEL_ETAGS_H
#define HUBD_MODEL_ETAGS_H

#include "common/etag.h"

#define HUBD_ETAG_SIZE 16 /* 12 characters + NUL, with room */
#define HUBD_IF_MATCH_MAX 64 /* longer If-Match values are refused */

/* A fresh ETag into out; -1 when the random source fails. */
int hubd_etag_new(char out[HUBD_ETAG_SIZE]);

/* Read by common/etag.c, with a quoted "*" counting as "any". */
typedef enum {
    HUBD_IFM_NONE = DPS_IFM_NONE, /* absent or blank */
    HUBD_IFM_ANY = DPS_IFM_ANY,   /* * or "*" (Node sends the quotes) */
    HUBD_IFM_ETAG = DPS_IFM_ETAG, /* one version */
} hubd_ifm_kind;

typedef struct {
    hubd_ifm_kind kind;
    char etag[HUBD_IF_MATCH_MAX + 1];
} hubd_if_match;

/* Reads an If-Match value: blanks trimmed, a W/ prefix and surrounding
 * double quotes removed (hub.md §5: the CLI quotes, Node quotes "*").
 * -1 when the value is too long to be an ETag of ours. */
int hubd_if_match_parse(const char *value, hubd_if_match *out);

#endif
