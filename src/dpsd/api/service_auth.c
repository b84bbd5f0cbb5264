/* Service-side SAS authentication and rights (service-api.md §10). Every
 * refusal is 401 / 401002; the message names the check that failed but
 * never key material or the signature. */
#include "api/service_auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/errors.h"
#include "api/service_auth_internal.h"
#include "common/access_policy.h"
#include "common/log.h"
#include "common/sas.h"
#include "common/timeutil.h"
#include "config.h"

#define POLICY_NAME_MAX 256

static const dps_right_name rights_table[] = {
    {"ServiceConfig", DPS_RIGHT_SERVICE_CONFIG},
    {"EnrollmentRead", DPS_RIGHT_ENROLLMENT_READ},
    {"EnrollmentWrite", DPS_RIGHT_ENROLLMENT_WRITE},
    {"DeviceConnect", DPS_RIGHT_DEVICE_CONNECT},
    {"RegistrationStatusRead", DPS_RIGHT_REGISTRATION_STATUS_READ},
    {"RegistrationStatusWrite", DPS_RIGHT_REGISTRATION_STATUS_WRITE},
};
#define NRIGHTS (sizeof rights_table / sizeof rights_table[0])

int dps_rights_parse(const char *text, unsigned *mask)
{
    return dps_rights_table_parse(rights_table, NRIGHTS, text, mask);
}

char *dps_rights_format(unsigned mask)
{
    return dps_rights_table_format(rights_table, NRIGHTS, mask);
}

/* ---- authentication ------------------------------------------------------ */

/* Loads the policy named by skn; NULL with a reason in why. */
static json_t *load_policy(dpsd_ctx *ctx, const char *skn, char *why, size_t whylen,
                           bool *store_failed)
{
    char key[POLICY_NAME_MAX];
    size_t n = strlen(skn);
    *store_failed = false;
    if (n == 0 || n >= sizeof key) {
        snprintf(why, whylen, "the token names no valid policy (skn)");
        return NULL;
    }
    for (size_t i = 0; i <= n; i++)
        key[i] = (char)tolower((unsigned char)skn[i]);
    dps_record rec = {0};
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_ACCESS_POLICY, key, &rec);
    if (r != DPS_STORE_OK) {
        *store_failed = r != DPS_STORE_NOT_FOUND;
        snprintf(why, whylen, "unknown access policy '%s'", key);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = rec.doc ? json_loads(rec.doc, 0, &jerr) : NULL;
    dps_record_free(&rec);
    if (!json_is_object(doc)) {
        json_decref(doc);
        snprintf(why, whylen, "access policy '%s' is unreadable", key);
        return NULL;
    }
    return doc;
}

/* The port of the service host ("localhost:8443" -> ":8443"), or "". */
static const char *service_port(const dpsd_ctx *ctx)
{
    const char *colon = strrchr(ctx->service_host, ':');
    return colon != NULL && strchr(colon, ']') == NULL ? colon : "";
}

/* The decoded sr must cover the service host or one of the configured host
 * names. A configured name without a port stands for that name on the port
 * clients reach us on, so a token for the same name on another port (another
 * service) is refused; a token without a port is fine (see sas.h). */
static bool audience_ok(const dpsd_ctx *ctx, const char *sr)
{
    if (ctx->service_host[0] != '\0' && dps_sas_audience_covers(sr, ctx->service_host))
        return true;
    if (ctx->config == NULL)
        return false;
    const dpsd_strlist *names = &ctx->config->host_name;
    for (size_t i = 0; i < names->count; i++) {
        const char *name = names->items[i];
        if (name == NULL || name[0] == '\0')
            continue;
        char target[320];
        bool has_port = strchr(name, ':') != NULL;
        int n = snprintf(target, sizeof target, "%s%s", name, has_port ? "" : service_port(ctx));
        if (n > 0 && (size_t)n < sizeof target && dps_sas_audience_covers(sr, target))
            return true;
    }
    return false;
}

/* Runs the checks of §10.2 in order; false with a reason in why. */
static bool check_token(dpsd_ctx *ctx, const dps_http_request *req, unsigned any_of,
                        int64_t now_s, char *why, size_t whylen, bool *store_failed)
{
    dps_sas_token tok = {0};
    json_t *policy = NULL;
    bool ok = false;
    *store_failed = false;
    const char *auth = dps_http_header_get(req, "Authorization");
    if (auth == NULL || auth[0] == '\0') {
        snprintf(why, whylen, "missing Authorization header");
        goto done;
    }
    if (dps_sas_parse(auth, strlen(auth), &tok) != DPS_SAS_OK) {
        snprintf(why, whylen, "malformed SharedAccessSignature");
        goto done;
    }
    if (tok.skn == NULL || tok.skn[0] == '\0') {
        snprintf(why, whylen, "the token names no policy (skn)");
        goto done;
    }
    policy = load_policy(ctx, tok.skn, why, whylen, store_failed);
    if (policy == NULL)
        goto done;
    if (!dps_access_policy_signed(policy, &tok)) {
        snprintf(why, whylen, "the signature does not match the keys of policy '%s'", tok.skn);
        goto done;
    }
    if (!audience_ok(ctx, tok.sr)) {
        snprintf(why, whylen, "the token's audience (sr) does not cover this service host");
        goto done;
    }
    if (dps_sas_expired(&tok, now_s, DPS_SAS_SKEW_S)) {
        snprintf(why, whylen, "the token expired");
        goto done;
    }
    unsigned held = 0;
    if (dps_rights_parse(json_string_value(json_object_get(policy, "rights")), &held) != 0 ||
        (held & any_of) == 0) {
        snprintf(why, whylen, "policy '%s' lacks the rights this operation needs", tok.skn);
        goto done;
    }
    ok = true;
done:
    json_decref(policy);
    dps_sas_token_free(&tok);
    return ok;
}

bool dps_service_authorize_at(dpsd_ctx *ctx, const dps_http_request *req, unsigned any_of,
                              int64_t now_s, dps_http_response *res)
{
    char why[320] = "";
    bool store_failed = false;
    if (check_token(ctx, req, any_of, now_s, why, sizeof why, &store_failed))
        return true;
    if (store_failed)
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot read the access policies");
    else
        dps_api_error(res, DPS_ERR_UNAUTHORIZED, "Unauthorized: %s", why);
    log_info("service request from %s refused: %s", req->peer ? req->peer : "?", why);
    return false;
}

bool dps_service_authorize(dpsd_ctx *ctx, const dps_http_request *req, unsigned any_of,
                           dps_http_response *res)
{
    return dps_service_authorize_at(ctx, req, any_of, dps_now_s(), res);
}
