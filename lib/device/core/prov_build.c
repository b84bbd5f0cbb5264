/* The provisioning core's builders: HTTPS requests, MQTT username and
 * topics, register bodies and SAS audiences (device-api.md §5, §6, §8). */
#include <assert.h>
#include <string.h>

#include "device/core/ids.h"
#include "device/core/writer.h"
#include "dps/prov_core.h"

static const char *api_or_default(const char *v)
{
    return v != NULL ? v : DPS_PROV_DEFAULT_API_VERSION;
}

/* ---- SAS audience and body ------------------------------------------------ */

typedef struct {
    const char *scope;
    const char *reg;
} sr_args;

static void build_sr(dps_w *w, const void *arg)
{
    const sr_args *a = arg;
    dps_w_str(w, a->scope);
    dps_w_str(w, "/registrations/");
    dps_w_str(w, a->reg);
}

dps_result dps_prov_sas_resource(const char *id_scope, const char *registration_id, char *out,
                                 size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!dps_id_scope_valid(id_scope) || !dps_registration_id_valid(registration_id))
        return DPS_E_INVALID;
    sr_args a = {id_scope, registration_id};
    return dps_w_run(build_sr, &a, out, cap, out_len);
}

typedef struct {
    const char *reg;
    const char *payload;
    const char *ek, *srk; /* TPM only */
} body_args;

static void build_body(dps_w *w, const void *arg)
{
    const body_args *a = arg;
    /* The registration ID's alphabet needs no JSON escaping, nor does base64's. */
    dps_w_str(w, "{\"registrationId\":\"");
    dps_w_str(w, a->reg);
    dps_w_char(w, '"');
    if (a->ek != NULL) {
        dps_w_str(w, ",\"tpm\":{\"endorsementKey\":\"");
        dps_w_str(w, a->ek);
        dps_w_str(w, "\",\"storageRootKey\":\"");
        dps_w_str(w, a->srk);
        dps_w_str(w, "\"}");
    }
    if (a->payload != NULL && a->payload[0] != '\0') {
        dps_w_str(w, ",\"payload\":");
        dps_w_str(w, a->payload);
    }
    dps_w_char(w, '}');
}

dps_result dps_prov_register_body(const char *registration_id, const char *payload_json,
                                  char *out, size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!dps_registration_id_valid(registration_id))
        return DPS_E_INVALID;
    body_args a = {registration_id, payload_json, NULL, NULL};
    return dps_w_run(build_body, &a, out, cap, out_len);
}

static bool base64_text(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return false;
    }
    return true;
}

dps_result dps_prov_register_body_tpm(const char *registration_id, const char *ek_b64,
                                      const char *srk_b64, const char *payload_json, char *out,
                                      size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!dps_registration_id_valid(registration_id) || !base64_text(ek_b64) ||
        !base64_text(srk_b64))
        return DPS_E_INVALID;
    body_args a = {registration_id, payload_json, ek_b64, srk_b64};
    return dps_w_run(build_body, &a, out, cap, out_len);
}

/* ---- HTTPS ---------------------------------------------------------------- */

typedef struct {
    const dps_prov_http_params *p;
    const char *method;
    const char *operation_id; /* GET only */
    const char *body;         /* PUT only */
} http_args;

static void build_http(dps_w *w, const void *arg)
{
    const http_args *a = arg;
    const dps_prov_http_params *p = a->p;
    dps_w_str(w, a->method);
    dps_w_char(w, ' ');
    dps_w_char(w, '/');
    dps_w_pct(w, p->id_scope);
    dps_w_str(w, "/registrations/");
    dps_w_pct(w, p->registration_id);
    if (a->operation_id != NULL) {
        dps_w_str(w, "/operations/");
        dps_w_pct(w, a->operation_id);
    } else {
        dps_w_str(w, "/register");
    }
    dps_w_str(w, "?api-version=");
    dps_w_pct(w, api_or_default(p->api_version));
    dps_w_str(w, " HTTP/1.1\r\nHost: ");
    dps_w_str(w, p->host);
    dps_w_str(w, "\r\nAccept: application/json\r\n");
    if (a->body != NULL)
        dps_w_str(w, "Content-Type: application/json; charset=utf-8\r\n");
    if (p->user_agent != NULL) {
        dps_w_str(w, "User-Agent: ");
        dps_w_str(w, p->user_agent);
        dps_w_str(w, "\r\n");
    }
    if (p->authorization != NULL) {
        dps_w_str(w, "Authorization: ");
        dps_w_str(w, p->authorization);
        dps_w_str(w, "\r\n");
    }
    if (a->body != NULL) {
        dps_w_str(w, "Content-Length: ");
        dps_w_u64(w, strlen(a->body));
        dps_w_str(w, "\r\n");
    }
    dps_w_str(w, "\r\n");
    if (a->body != NULL)
        dps_w_str(w, a->body);
}

/* Header values may not carry CR, LF or other control characters: they
 * would split the request. */
static bool header_value_ok(const char *v, size_t max)
{
    if (v == NULL || v[0] == '\0')
        return false;
    size_t n = 0;
    for (; v[n] != '\0'; n++) {
        unsigned char c = (unsigned char)v[n];
        if (n >= max || c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static bool params_ok(const dps_prov_http_params *p)
{
    return p != NULL && header_value_ok(p->host, DPS_MAX_HOST_NAME + 7) &&
           dps_id_scope_valid(p->id_scope) && dps_registration_id_valid(p->registration_id) &&
           (p->api_version == NULL || dps__token_valid(p->api_version, DPS_MAX_API_VERSION)) &&
           (p->user_agent == NULL || header_value_ok(p->user_agent, DPS_MAX_CLIENT_VERSION)) &&
           (p->authorization == NULL || header_value_ok(p->authorization, DPS_MAX_SAS_TOKEN));
}

dps_result dps_prov_http_register_request(const dps_prov_http_params *p, const char *body,
                                          char *out, size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!params_ok(p) || body == NULL)
        return DPS_E_INVALID;
    http_args a = {p, "PUT", NULL, body};
    return dps_w_run(build_http, &a, out, cap, out_len);
}

dps_result dps_prov_http_operation_request(const dps_prov_http_params *p,
                                           const char *operation_id, char *out, size_t cap,
                                           size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!params_ok(p) || !dps_operation_id_valid(operation_id))
        return DPS_E_INVALID;
    http_args a = {p, "GET", operation_id, NULL};
    return dps_w_run(build_http, &a, out, cap, out_len);
}

/* ---- MQTT ----------------------------------------------------------------- */

typedef struct {
    const char *scope;
    const char *reg;
    const char *api;
    const char *client_version;
} user_args;

static void build_username(dps_w *w, const void *arg)
{
    const user_args *a = arg;
    dps_w_str(w, a->scope);
    dps_w_str(w, "/registrations/");
    dps_w_str(w, a->reg);
    dps_w_str(w, "/api-version=");
    dps_w_str(w, a->api);
    if (a->client_version != NULL) {
        dps_w_str(w, "&ClientVersion=");
        dps_w_pct(w, a->client_version);
    }
}

dps_result dps_prov_mqtt_username(const char *id_scope, const char *registration_id,
                                  const char *api_version, const char *client_version,
                                  char *out, size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    const char *api = api_or_default(api_version);
    if (!dps_id_scope_valid(id_scope) || !dps_registration_id_valid(registration_id) ||
        !dps__token_valid(api, DPS_MAX_API_VERSION) ||
        (client_version != NULL &&
         (client_version[0] == '\0' || strlen(client_version) > DPS_MAX_CLIENT_VERSION)))
        return DPS_E_INVALID;
    user_args a = {id_scope, registration_id, api, client_version};
    return dps_w_run(build_username, &a, out, cap, out_len);
}

typedef struct {
    const char *rid;
    const char *op;
} topic_args;

static void build_register_topic(dps_w *w, const void *arg)
{
    const topic_args *a = arg;
    dps_w_str(w, DPS_PROV_TOPIC_REGISTER_PREFIX);
    dps_w_str(w, a->rid);
}

static void build_status_topic(dps_w *w, const void *arg)
{
    const topic_args *a = arg;
    dps_w_str(w, DPS_PROV_TOPIC_STATUS_PREFIX);
    dps_w_str(w, a->rid);
    dps_w_str(w, "&operationId=");
    dps_w_str(w, a->op);
}

dps_result dps_prov_mqtt_register_topic(const char *rid, char *out, size_t cap,
                                        size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!dps__rid_valid(rid))
        return DPS_E_INVALID;
    topic_args a = {rid, NULL};
    return dps_w_run(build_register_topic, &a, out, cap, out_len);
}

dps_result dps_prov_mqtt_status_topic(const char *rid, const char *operation_id, char *out,
                                      size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    /* Operation IDs are [A-Za-z0-9.-], so they go into the topic raw. */
    if (!dps__rid_valid(rid) || !dps_operation_id_valid(operation_id))
        return DPS_E_INVALID;
    topic_args a = {rid, operation_id};
    return dps_w_run(build_status_topic, &a, out, cap, out_len);
}
