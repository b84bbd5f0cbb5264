#include "common/json.h"

#include <stdio.h>

json_t *dps_json_parse_object(const char *data, size_t len, size_t max, char *err,
                              size_t errlen)
{
    if (len > max) {
        snprintf(err, errlen, "body of %zu bytes exceeds the limit of %zu bytes", len, max);
        return NULL;
    }
    json_error_t jerr;
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    return v;
}

char *dps_json_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

const char *dps_json_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}
