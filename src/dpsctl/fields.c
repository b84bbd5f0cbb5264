#include "fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/strparse.h"

const dpsctl_enum dpsctl_enum_provisioning_status[] = {
    {"enabled", "enabled"}, {"disabled", "disabled"}, {NULL, NULL}};

/* The service spells geoLatency in camel case; the CLI habit is lower case. */
const dpsctl_enum dpsctl_enum_allocation_policy[] = {{"hashed", "hashed"},
                                                     {"geolatency", "geoLatency"},
                                                     {"static", "static"},
                                                     {"custom", "custom"},
                                                     {NULL, NULL}};

/* The instance default uses ARM's capitalised names and cannot be custom. */
const dpsctl_enum dpsctl_enum_instance_allocation[] = {
    {"hashed", "Hashed"}, {"geolatency", "GeoLatency"}, {"static", "Static"}, {NULL, NULL}};

const dpsctl_enum dpsctl_enum_reprovision_policy[] = {
    {"reprovisionandmigratedata", "{\"updateHubAssignment\": true, \"migrateDeviceData\": true}"},
    {"reprovisionandresetdata", "{\"updateHubAssignment\": true, \"migrateDeviceData\": false}"},
    {"never", "{\"updateHubAssignment\": false, \"migrateDeviceData\": false}"},
    {NULL, NULL}};

const dpsctl_enum dpsctl_enum_attestation_type[] = {
    {"symmetrickey", "symmetricKey"}, {"tpm", "tpm"}, {"x509", "x509"}, {NULL, NULL}};

const dpsctl_enum dpsctl_enum_key_type[] = {
    {"primary", "primary"}, {"secondary", "secondary"}, {NULL, NULL}};

/* The rights of service-api.md §10.3, in their canonical spelling. */
static const char *const known_rights[] = {
    "ServiceConfig",          "EnrollmentRead",         "EnrollmentWrite", "DeviceConnect",
    "RegistrationStatusRead", "RegistrationStatusWrite", NULL};

/* Largest file accepted for "@file" JSON values (the service's body cap). */
#define OBJECT_FILE_MAX DPS_JSON_MAX_BODY

const char *dpsctl_enum_lookup(const dpsctl_enum *values, const char *text)
{
    for (const dpsctl_enum *e = values; e->name != NULL; e++) {
        if (strcasecmp(e->name, text) == 0)
            return e->wire;
    }
    return NULL;
}

void dpsctl_enum_names(const dpsctl_enum *values, char *buf, size_t len)
{
    size_t count = 0;
    while (values[count].name != NULL)
        count++;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && used < len; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
        int n = snprintf(buf + used, len - used, "%s%s", sep, values[i].name);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

int dpsctl_parse_bool(const char *text, bool *out)
{
    if (strcasecmp(text, "true") == 0) {
        *out = true;
        return 0;
    }
    if (strcasecmp(text, "false") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

int dpsctl_parse_long(const char *text, long long min, long long max, long long *out)
{
    int64_t v;
    if (dps_parse_int64(text, strlen(text), (int64_t)min, (int64_t)max, &v) != 0)
        return -1;
    *out = (long long)v;
    return 0;
}

json_t *dpsctl_split_list(const char *text)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    const char *p = text;
    while (*p != '\0') {
        size_t skip = strspn(p, " ,\t");
        p += skip;
        size_t len = strcspn(p, " ,\t");
        if (len == 0)
            break;
        if (json_array_append_new(arr, json_stringn(p, len)) != 0) {
            json_decref(arr);
            return NULL;
        }
        p += len;
    }
    return arr;
}

char *dpsctl_read_file(const char *path, size_t max, size_t *len, char *err,
                             size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool failed = buf == NULL || ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        snprintf(err, errlen, "cannot read %s", path);
        return NULL;
    }
    if (n > max) {
        free(buf);
        snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

json_t *dpsctl_parse_object(const char *text, char *err, size_t errlen)
{
    if (text[0] == '@') {
        size_t len = 0;
        char *data = dpsctl_read_file(text + 1, OBJECT_FILE_MAX, &len, err, errlen);
        if (data == NULL)
            return NULL;
        json_t *v = dps_json_parse_object(data, len, OBJECT_FILE_MAX, err, errlen);
        free(data);
        return v;
    }
    return dps_json_parse_object(text, strlen(text), OBJECT_FILE_MAX, err, errlen);
}

char *dpsctl_rights_normalize(const char *text, char *err, size_t errlen)
{
    unsigned seen = 0;
    size_t total = 0;
    const char *p = text;
    while (*p != '\0') {
        p += strspn(p, " ,\t");
        size_t len = strcspn(p, " ,\t");
        if (len == 0)
            break;
        unsigned i = 0;
        while (known_rights[i] != NULL &&
               !(strlen(known_rights[i]) == len && strncasecmp(known_rights[i], p, len) == 0))
            i++;
        if (known_rights[i] == NULL) {
            snprintf(err, errlen,
                     "unknown right '%.*s' (known: ServiceConfig, EnrollmentRead, "
                     "EnrollmentWrite, DeviceConnect, RegistrationStatusRead, "
                     "RegistrationStatusWrite)",
                     (int)len, p);
            return NULL;
        }
        if (seen & (1u << i)) {
            snprintf(err, errlen, "right '%s' listed twice", known_rights[i]);
            return NULL;
        }
        seen |= 1u << i;
        total += strlen(known_rights[i]) + 2;
        p += len;
    }
    if (seen == 0) {
        snprintf(err, errlen, "no rights given");
        return NULL;
    }
    /* emitted in the order the user gave them, as the service stores text */
    char *out = malloc(total + 1);
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    out[0] = '\0';
    p = text;
    while (*p != '\0') {
        p += strspn(p, " ,\t");
        size_t len = strcspn(p, " ,\t");
        if (len == 0)
            break;
        for (unsigned i = 0; known_rights[i] != NULL; i++) {
            if (strlen(known_rights[i]) == len && strncasecmp(known_rights[i], p, len) == 0) {
                if (out[0] != '\0')
                    strcat(out, ", ");
                strcat(out, known_rights[i]);
            }
        }
        p += len;
    }
    return out;
}

int dpsctl_json_set_path(json_t *obj, const char *path, json_t *value)
{
    if (value == NULL)
        return -1;
    json_t *cur = obj;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        if (dot == NULL)
            return json_object_set_new(cur, p, value);
        size_t len = (size_t)(dot - p);
        json_t *next = json_object_getn(cur, p, len);
        if (!json_is_object(next)) {
            next = json_object();
            if (next == NULL || json_object_setn_new(cur, p, len, next) != 0) {
                json_decref(value);
                return -1;
            }
        }
        cur = next;
        p = dot + 1;
    }
}

/* Turns one option's text into its JSON value per the field's kind. */
static json_t *field_value(const dpsctl_field *f, const char *text, char *err, size_t errlen)
{
    char names[256];
    switch (f->kind) {
    case DPSCTL_FIELD_STRING:
        return json_string(text);
    case DPSCTL_FIELD_ENUM:
    case DPSCTL_FIELD_ENUM_JSON: {
        const char *wire = dpsctl_enum_lookup(f->values, text);
        if (wire == NULL) {
            dpsctl_enum_names(f->values, names, sizeof names);
            snprintf(err, errlen, "'%.60s' is not one of %.100s", text, names);
            return NULL;
        }
        if (f->kind == DPSCTL_FIELD_ENUM)
            return json_string(wire);
        return json_loads(wire, 0, NULL);
    }
    case DPSCTL_FIELD_BOOL: {
        bool b;
        if (dpsctl_parse_bool(text, &b) != 0) {
            snprintf(err, errlen, "'%s' is not true or false", text);
            return NULL;
        }
        return json_boolean(b);
    }
    case DPSCTL_FIELD_INT: {
        long long v;
        if (dpsctl_parse_long(text, f->min, f->max, &v) != 0) {
            snprintf(err, errlen, "'%s' is not a number from %lld to %lld", text, f->min,
                     f->max);
            return NULL;
        }
        return json_integer((json_int_t)v);
    }
    case DPSCTL_FIELD_OBJECT:
        return dpsctl_parse_object(text, err, errlen);
    case DPSCTL_FIELD_LIST:
        return dpsctl_split_list(text);
    }
    snprintf(err, errlen, "unsupported field kind");
    return NULL;
}

int dpsctl_fields_apply(json_t *obj, const dpsctl_field *table, size_t n, const dpsctl_args *a,
                        char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const dpsctl_field *f = &table[i];
        const char *text = a->val[f->opt];
        if (text == NULL)
            continue;
        const char *name = dpsctl_opt_get(f->opt)->name;
        char why[200] = "out of memory";
        json_t *v = field_value(f, text, why, sizeof why);
        if (v == NULL || dpsctl_json_set_path(obj, f->path, v) != 0) {
            snprintf(err, errlen, "--%s: %s", name, why);
            return -1;
        }
    }
    return 0;
}
