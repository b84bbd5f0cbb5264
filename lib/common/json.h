/* JSON input rules shared by every API: the body is capped before parsing,
 * duplicate keys are refused, and the top level must be an object. */
#ifndef DPS_COMMON_JSON_H
#define DPS_COMMON_JSON_H

#include <jansson.h>
#include <stddef.h>

#define DPS_JSON_MAX_BODY (96 * 1024) /* Azure DPS's message size limit */

/* Parses len bytes as a JSON object. On failure returns NULL and writes a
 * short human-readable reason into err (size errlen). */
json_t *dps_json_parse_object(const char *data, size_t len, size_t max, char *err,
                              size_t errlen);

/* Compact serialisation that keeps member order; caller frees. */
char *dps_json_dump(const json_t *v);

/* Typed lookups that return NULL/default when the member is absent or of
 * another type (callers that must distinguish use json_object_get). */
const char *dps_json_string(const json_t *obj, const char *key);

#endif
