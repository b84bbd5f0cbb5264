/* What individual enrollments and enrollment groups have in common: the
 * create / show / list / update / delete flows of the service API, driven by
 * a descriptor of the collection (path, ID member, option-to-field table). */
#ifndef DPSCTL_RECORD_H
#define DPSCTL_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "dpsctl.h"
#include "fields.h"

typedef struct {
    const char *collection; /* "/enrollments/" or "/enrollmentGroups/" */
    const char *id_member;  /* "registrationId" or "enrollmentGroupId" */
    const char *noun;       /* for messages */
    dpsctl_opt id_opt;      /* option holding the ID */
    bool group;
    const dpsctl_field *fields;
    size_t nfields;
    const dpsctl_column *columns;
} dpsctl_record_kind;

/* Secrets removed from enrollment output unless --show-keys. */
extern const char *const dpsctl_record_secret_paths[];

int dpsctl_record_create(dpsctl_ctx *ctx, const dpsctl_record_kind *k);
int dpsctl_record_show(dpsctl_ctx *ctx, const dpsctl_record_kind *k);
int dpsctl_record_list(dpsctl_ctx *ctx, const dpsctl_record_kind *k);
int dpsctl_record_update(dpsctl_ctx *ctx, const dpsctl_record_kind *k);
int dpsctl_record_delete(dpsctl_ctx *ctx, const dpsctl_record_kind *k);

/* POST <collection><id>/attestationmechanism: the mechanism with its
 * secrets. Returns an exit code; *out is a new object on success. */
int dpsctl_record_mechanism(dpsctl_client *c, const dpsctl_record_kind *k, const char *id,
                            json_t **out);

#endif
