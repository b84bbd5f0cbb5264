/* Printing results: pretty JSON (2-space indent, the default), an aligned
 * table with per-resource columns, or tab-separated values for scripts; and
 * removal of secrets from results the user did not ask to see. */
#ifndef DPSCTL_OUTPUT_H
#define DPSCTL_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

typedef enum {
    DPSCTL_OUT_JSON = 0,
    DPSCTL_OUT_TABLE,
    DPSCTL_OUT_TSV,
} dpsctl_output_format;

/* A table column: header text and a dotted member path ("attestation.type").
 * Column lists end with an entry whose header is NULL. */
typedef struct {
    const char *header;
    const char *path;
} dpsctl_column;

/* "json", "table", "tsv" (any case). Returns 0 or -1. */
int dpsctl_output_parse(const char *text, dpsctl_output_format *out);

/* Prints v (an object, an array of objects, or a scalar) in the format.
 * cols NULL means "derive columns": the scalar members of the first object
 * (arrays) or one Name/Value row per member (a single object). Returns 0, or
 * -1 when writing failed. */
int dpsctl_print(FILE *f, const json_t *v, dpsctl_output_format fmt, const dpsctl_column *cols);

/* Looks up a dotted member path; NULL when any step is missing. */
json_t *dpsctl_json_path(const json_t *v, const char *path);

/* Deletes the members named by dotted paths (list ends with NULL) from v, or
 * from every element when v is an array. Used to keep keys off the screen
 * unless --show-keys was given. */
void dpsctl_redact(json_t *v, const char *const *paths);

#endif
