/* The HTTPS provisioning transport (device-api.md §5): one keep-alive TLS
 * connection, PUT register and GET operation status. */
#include <string.h>

#include "device/devlog.h"
#include "device/io/addr.h"
#include "device/io/http_client.h"
#include "device/io/tls_conn.h"
#include "device/prov/prov_transport.h"

static dps_result build_request(dps_prov_client *c, const char *operation_id, size_t *len)
{
    const dps_prov_options *o = c->opt;
    dps_prov_http_params p = {
        .host = c->host_header,
        .id_scope = o->id_scope,
        .registration_id = o->registration_id,
        .api_version = o->api_version,
        .user_agent = o->client_version,
        .authorization = c->sas[0] != '\0' ? c->sas : NULL,
    };
    if (operation_id == NULL)
        return dps_prov_http_register_request(&p, c->body, c->req, sizeof c->req, len);
    return dps_prov_http_operation_request(&p, operation_id, c->req, sizeof c->req, len);
}

static dps_result https_exchange(dps_prov_client *c, const char *operation_id,
                                 int64_t deadline_ms, dps_prov_response *out)
{
    size_t len = 0;
    dps_result rc = build_request(c, operation_id, &len);
    if (rc != DPS_OK)
        return rc;
    dps_tls_params tp;
    dps__prov_tls_params(c, &tp);
    dps_http_response resp;
    /* A kept-alive connection the server has closed in the meantime shows
     * up as DPS_E_CLOSED before any answer: then one fresh connection. */
    for (int attempt = 0; attempt < 2; attempt++) {
        bool reused = dps__tls_is_open(&c->tls);
        if (!reused) {
            rc = dps__tls_connect(&c->tls, &tp, deadline_ms);
            if (rc != DPS_OK)
                return rc;
        }
        DLOG_DEBUG(&c->opt->log, "HTTPS: %s %s", operation_id == NULL ? "PUT" : "GET",
                   operation_id == NULL ? "register" : operation_id);
        rc = dps__http_exchange(&c->tls, c->req, len, c->rx, sizeof c->rx, DPS_PROV_MAX_BODY,
                                deadline_ms, &c->opt->log, &resp);
        if (rc == DPS_OK)
            break;
        dps__tls_close(&c->tls);
        if (!(rc == DPS_E_CLOSED && reused))
            return rc;
    }
    if (rc != DPS_OK)
        return rc;
    if (resp.head.close)
        dps__tls_close(&c->tls);
    DLOG_DEBUG(&c->opt->log, "HTTPS: status %d, %zu body bytes", resp.head.status, resp.body_len);
    rc = dps_prov_parse_http_response(resp.head.status,
                                      resp.head.has_retry_after ? resp.head.retry_after : NULL,
                                      resp.body, resp.body_len, out);
    if (rc != DPS_OK)
        DLOG_ERROR(&c->opt->log, "HTTPS: unusable answer (status %d): %s", resp.head.status,
                   dps_result_name(rc));
    return rc;
}

static dps_result https_idle(dps_prov_client *c, int64_t until_ms)
{
    return dps__prov_sleep(c, until_ms);
}

static void https_close(dps_prov_client *c)
{
    dps__tls_close(&c->tls);
}

const dps_prov_transport_ops dps__prov_https = {
    .name = "https",
    .default_port = DPS_PROV_HTTPS_PORT,
    .exchange = https_exchange,
    .idle = https_idle,
    .close = https_close,
};
