/* From option text to JSON: typed value parsing (enums, booleans, numbers,
 * lists, JSON objects) and tables that map options onto members of a
 * resource, so that create and update of every resource share one code path
 * ("--edge-enabled true" -> "capabilities": {"iotEdge": true}). */
#ifndef DPSCTL_FIELDS_H
#define DPSCTL_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "args.h"

/* One accepted spelling and what goes on the wire for it. For
 * DPSCTL_FIELD_ENUM_JSON the wire text is a JSON document. Tables end with
 * an entry whose name is NULL. */
typedef struct {
    const char *name;
    const char *wire;
} dpsctl_enum;

typedef enum {
    DPSCTL_FIELD_STRING,    /* the text as is */
    DPSCTL_FIELD_ENUM,      /* a name from values, any case, sent as its wire string */
    DPSCTL_FIELD_ENUM_JSON, /* a name from values, sent as its wire JSON */
    DPSCTL_FIELD_BOOL,      /* true / false */
    DPSCTL_FIELD_INT,       /* a decimal number in [min, max] */
    DPSCTL_FIELD_OBJECT,    /* a JSON object, inline or "@file" */
    DPSCTL_FIELD_LIST,      /* words separated by spaces or commas -> array of strings */
} dpsctl_field_kind;

typedef struct {
    dpsctl_opt opt;
    const char *path; /* dotted member path; intermediate objects are created */
    dpsctl_field_kind kind;
    const dpsctl_enum *values;
    long long min, max;
} dpsctl_field;

/* Shared value sets. */
extern const dpsctl_enum dpsctl_enum_provisioning_status[];
extern const dpsctl_enum dpsctl_enum_allocation_policy[];     /* enrollment spelling */
extern const dpsctl_enum dpsctl_enum_instance_allocation[];   /* instance spelling */
extern const dpsctl_enum dpsctl_enum_reprovision_policy[];    /* ENUM_JSON */
extern const dpsctl_enum dpsctl_enum_attestation_type[];
extern const dpsctl_enum dpsctl_enum_key_type[];

/* Finds text (any case) in values; returns the wire text or NULL. */
const char *dpsctl_enum_lookup(const dpsctl_enum *values, const char *text);
/* "a, b or c" listing of the accepted names, into buf. */
void dpsctl_enum_names(const dpsctl_enum *values, char *buf, size_t len);

int dpsctl_parse_bool(const char *text, bool *out);
int dpsctl_parse_long(const char *text, long long min, long long max, long long *out);
/* Splits on spaces and commas; empty words are dropped, so "" gives []. */
json_t *dpsctl_split_list(const char *text);
/* Reads a whole file of at most max bytes into a new NUL-terminated buffer
 * (*len bytes). NULL with a reason in err otherwise. */
char *dpsctl_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);
/* A JSON object given inline or as "@path" (a file of at most 96 KiB). */
json_t *dpsctl_parse_object(const char *text, char *err, size_t errlen);

/* Normalises a rights list ("serviceconfig EnrollmentRead,DeviceConnect")
 * into the service spelling "ServiceConfig, EnrollmentRead, DeviceConnect".
 * Unknown or repeated names are refused. Returns a new string or NULL with a
 * reason in err. */
char *dpsctl_rights_normalize(const char *text, char *err, size_t errlen);

/* Sets (replacing) the member at a dotted path, creating intermediate
 * objects; steals value. Returns 0 or -1. */
int dpsctl_json_set_path(json_t *obj, const char *path, json_t *value);

/* Applies every option of table (n rows) that was given in a to obj.
 * Returns 0, or -1 with "--option: reason" in err. */
int dpsctl_fields_apply(json_t *obj, const dpsctl_field *table, size_t n, const dpsctl_args *a,
                        char *err, size_t errlen);

#endif
