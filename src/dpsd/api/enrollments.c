/* Single-record handlers of the service API, shared by individual
 * enrollments and enrollment groups (the route row passes the kind):
 * PUT, GET, DELETE and POST .../attestationmechanism (service-api.md §2). */
#include "api/enroll_ops.h"
#include "api/errors.h"
#include "api/service_internal.h"

const dps_enroll_desc dps_enroll_individual_desc = {
    .kind = DPS_ENROLL_INDIVIDUAL,
    .coll = DPS_COLL_ENROLLMENT,
    .id_field = "registrationId",
    .bulk_field = "enrollments",
    .item_type = "Enrollment",
    .noun = "enrollment",
    .decorate = dps_api__embed_registration_state,
};

void dps_api__enroll_put(dpsd_ctx *ctx, const dps_http_request *req, const dps_route_match *m,
                         dps_http_response *res)
{
    const dps_enroll_desc *d = m->arg;
    dps_if_match im;
    if (dps_api__if_match(req, &im, res) != 0)
        return;
    json_t *body = dps_api__parse_body(ctx, req, false, res);
    if (body == NULL)
        return;
    dps_model_err err = {0};
    /* A concrete ETag on a missing record cannot match: 412 (§4). */
    json_t *doc = dps_enroll_write(ctx, d, m->params[0], body, &im, DPS_ERR_PRECONDITION, &err);
    json_decref(body);
    if (doc == NULL) {
        dps_api__fail(res, &err);
        return;
    }
    /* The PUT answer is the stored record with its keys, always 200. */
    if (dps_enroll_present(ctx, d, doc, true) != 0) {
        json_decref(doc);
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot read the registration state");
        return;
    }
    dps_api__send(res, 200, doc);
}

void dps_api__enroll_get(dpsd_ctx *ctx, const dps_http_request *req, const dps_route_match *m,
                         dps_http_response *res)
{
    (void)req;
    const dps_enroll_desc *d = m->arg;
    dps_model_err err = {0};
    json_t *doc = dps_enroll_load(ctx, d, m->params[0], &err);
    if (doc == NULL) {
        dps_api__fail(res, &err);
        return;
    }
    if (dps_enroll_present(ctx, d, doc, false) != 0) {
        json_decref(doc);
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot read the registration state");
        return;
    }
    dps_api__send(res, 200, doc);
}

void dps_api__enroll_delete(dpsd_ctx *ctx, const dps_http_request *req,
                            const dps_route_match *m, dps_http_response *res)
{
    const dps_enroll_desc *d = m->arg;
    dps_if_match im;
    if (dps_api__if_match(req, &im, res) != 0)
        return;
    dps_model_err err = {0};
    if (dps_enroll_remove(ctx, d, m->params[0], &im, &err) != 0) {
        dps_api__fail(res, &err);
        return;
    }
    res->status = 204;
}

/* A POST with an empty body (any body is ignored) that returns the
 * attestation with its secrets, for `--show-keys` style callers. */
void dps_api__enroll_attestation(dpsd_ctx *ctx, const dps_http_request *req,
                                 const dps_route_match *m, dps_http_response *res)
{
    (void)req;
    const dps_enroll_desc *d = m->arg;
    dps_model_err err = {0};
    json_t *doc = dps_enroll_load(ctx, d, m->params[0], &err);
    if (doc == NULL) {
        dps_api__fail(res, &err);
        return;
    }
    json_t *att = json_object_get(doc, "attestation");
    json_t *out = json_is_object(att) ? json_deep_copy(att) : NULL;
    json_decref(doc);
    dps_api__send(res, 200, out);
}
