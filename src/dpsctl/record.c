#include "record.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attest.h"
#include "rest.h"

/* The symmetricKey object holds nothing but the two keys; dropping it whole
 * gives the shape GET itself has ({"type": "symmetricKey"}). */
const char *const dpsctl_record_secret_paths[] = {"attestation.symmetricKey", NULL};

/* Read-only members the service computes: left out of PUT bodies so that a
 * round trip sends only what the caller owns. X.509 "info" blocks stay: a
 * slot with info but no certificate tells the service to keep the stored
 * certificate (service-api.md §7). */
static const char *const read_only_members[] = {
    "etag", "createdDateTimeUtc", "lastUpdatedDateTimeUtc", "registrationState", NULL};

/* The service requires both members of customAllocationDefinition; the
 * webhook's schema version is rarely something people care to choose. */
static const char default_webhook_api_version[] = "2021-10-01";

static int fail_oom(void) { return dpsctl_fail("out of memory"); }

int dpsctl_record_mechanism(dpsctl_client *c, const dpsctl_record_kind *k, const char *id,
                            json_t **out)
{
    *out = NULL;
    char *path = dpsctl_path(k->collection, id, "/attestationmechanism");
    if (path == NULL)
        return fail_oom();
    dpsctl_req_opts o = {.empty_body = true};
    dpsctl_response res;
    int rc = dpsctl_call(c, "POST", path, NULL, &o, &res);
    free(path);
    if (rc != 0)
        return rc;
    if (!json_is_object(res.body)) {
        dpsctl_response_free(&res);
        return dpsctl_fail("the service returned no attestation mechanism for '%s'", id);
    }
    *out = json_incref(res.body);
    dpsctl_response_free(&res);
    return 0;
}

static int get_record(dpsctl_client *c, const dpsctl_record_kind *k, const char *id,
                      json_t **out)
{
    *out = NULL;
    char *path = dpsctl_path(k->collection, id, NULL);
    if (path == NULL)
        return fail_oom();
    dpsctl_response res;
    int rc = dpsctl_call(c, "GET", path, NULL, NULL, &res);
    free(path);
    if (rc != 0)
        return rc;
    if (!json_is_object(res.body)) {
        dpsctl_response_free(&res);
        return dpsctl_fail("the service returned no %s for '%s'", k->noun, id);
    }
    *out = json_incref(res.body);
    dpsctl_response_free(&res);
    return 0;
}

/* Fills customAllocationDefinition.apiVersion when only the URL is known. */
static int default_webhook_version(json_t *rec)
{
    json_t *def = json_object_get(rec, "customAllocationDefinition");
    if (json_is_object(def) && json_object_get(def, "webhookUrl") != NULL &&
        json_object_get(def, "apiVersion") == NULL)
        return json_object_set_new(def, "apiVersion", json_string(default_webhook_api_version));
    return 0;
}

/* The shared part of create and update once the body is ready: PUT it and
 * print what the service stored. */
static int put_record(dpsctl_ctx *ctx, const dpsctl_record_kind *k, const char *id, json_t *body,
                      const char *if_match)
{
    dpsctl_client *c;
    int rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;
    char *path = dpsctl_path(k->collection, id, NULL);
    if (path == NULL)
        return fail_oom();
    dpsctl_req_opts o = {.if_match = if_match};
    dpsctl_response res;
    rc = dpsctl_call(c, "PUT", path, body, &o, &res);
    free(path);
    if (rc != 0)
        return rc;
    rc = dpsctl_emit(ctx, res.body, k->columns, dpsctl_record_secret_paths);
    dpsctl_response_free(&res);
    return rc;
}

/* A group's type follows from its options when not named, as in the az CLI. */
static const char *group_default_type(const dpsctl_args *a)
{
    if (a->val[DPSCTL_OPT_CERTIFICATE_PATH] || a->val[DPSCTL_OPT_SECONDARY_CERTIFICATE_PATH] ||
        a->val[DPSCTL_OPT_CA_NAME] || a->val[DPSCTL_OPT_SECONDARY_CA_NAME])
        return "x509";
    return "symmetricKey";
}

int dpsctl_record_create(dpsctl_ctx *ctx, const dpsctl_record_kind *k)
{
    const char *id = dpsctl_opt_value(ctx, k->id_opt);
    char err[512];
    json_t *att = NULL;
    if (dpsctl_attest_apply(&att, &ctx->args, k->group,
                            k->group ? group_default_type(&ctx->args) : NULL, err,
                            sizeof err) != 0)
        return dpsctl_usage(ctx, "%s", err);
    json_t *body = json_pack("{s:s,s:o}", k->id_member, id, "attestation", att);
    if (body == NULL)
        return fail_oom();
    int rc;
    if (dpsctl_fields_apply(body, k->fields, k->nfields, &ctx->args, err, sizeof err) != 0) {
        rc = dpsctl_usage(ctx, "%s", err);
    } else if (default_webhook_version(body) != 0) {
        rc = fail_oom();
    } else {
        /* no If-Match: create-only, an existing record answers 409 */
        rc = put_record(ctx, k, id, body, NULL);
    }
    json_decref(body);
    return rc;
}

int dpsctl_record_show(dpsctl_ctx *ctx, const dpsctl_record_kind *k)
{
    const char *id = dpsctl_opt_value(ctx, k->id_opt);
    dpsctl_client *c;
    int rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;
    json_t *rec;
    rc = get_record(c, k, id, &rec);
    if (rc != 0)
        return rc;
    if (dpsctl_args_flag(&ctx->args, DPSCTL_OPT_SHOW_KEYS)) {
        /* GET never carries keys; the attestation mechanism call does */
        json_t *mech;
        rc = dpsctl_record_mechanism(c, k, id, &mech);
        if (rc == 0 && json_object_set_new(rec, "attestation", mech) != 0)
            rc = fail_oom();
    }
    if (rc == 0)
        rc = dpsctl_emit(ctx, rec, k->columns, dpsctl_record_secret_paths);
    json_decref(rec);
    return rc;
}

int dpsctl_record_list(dpsctl_ctx *ctx, const dpsctl_record_kind *k)
{
    long top;
    int rc = dpsctl_parse_top(ctx, &top);
    if (rc != 0)
        return rc;
    dpsctl_client *c;
    rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;
    char *path = dpsctl_path(k->collection, "query", NULL);
    json_t *query = json_pack("{s:s}", "query", "SELECT *");
    json_t *all = NULL;
    if (path == NULL || query == NULL)
        rc = fail_oom();
    else
        rc = dpsctl_query_all(c, path, query, top, &all);
    free(path);
    json_decref(query);
    if (rc == 0)
        rc = dpsctl_emit(ctx, all, k->columns, dpsctl_record_secret_paths);
    json_decref(all);
    return rc;
}

/* Applies the options to a fetched record. Returns an exit code. */
static int edit_record(dpsctl_ctx *ctx, const dpsctl_record_kind *k, json_t *rec)
{
    char err[512];
    for (const char *const *m = read_only_members; *m != NULL; m++)
        json_object_del(rec, *m);
    if (dpsctl_attest_options_given(&ctx->args) ||
        dpsctl_opt_value(ctx, DPSCTL_OPT_ATTESTATION_TYPE) != NULL) {
        json_t *att = json_incref(json_object_get(rec, "attestation"));
        if (dpsctl_attest_apply(&att, &ctx->args, k->group, NULL, err, sizeof err) != 0) {
            json_decref(att);
            return dpsctl_usage(ctx, "%s", err);
        }
        if (json_object_set_new(rec, "attestation", att) != 0)
            return fail_oom();
    }
    if (dpsctl_fields_apply(rec, k->fields, k->nfields, &ctx->args, err, sizeof err) != 0)
        return dpsctl_usage(ctx, "%s", err);
    /* a webhook definition left behind after leaving custom allocation would
     * come back to life if someone switched to custom again later */
    const char *policy = json_string_value(json_object_get(rec, "allocationPolicy"));
    if (dpsctl_opt_value(ctx, DPSCTL_OPT_ALLOCATION_POLICY) != NULL &&
        (policy == NULL || strcasecmp(policy, "custom") != 0))
        json_object_del(rec, "customAllocationDefinition");
    if (default_webhook_version(rec) != 0)
        return fail_oom();
    return 0;
}

int dpsctl_record_update(dpsctl_ctx *ctx, const dpsctl_record_kind *k)
{
    const char *id = dpsctl_opt_value(ctx, k->id_opt);
    dpsctl_client *c;
    int rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;
    /* Like the az CLI: read the record, put its keys back (GET hides them),
     * edit, and write it back. The write is conditional on the ETag we read
     * (or the one given), so a concurrent change is reported, not lost. */
    json_t *rec;
    rc = get_record(c, k, id, &rec);
    if (rc != 0)
        return rc;
    json_t *mech = NULL;
    char *etag = NULL;
    rc = dpsctl_record_mechanism(c, k, id, &mech);
    if (rc == 0 && json_object_set_new(rec, "attestation", mech) != 0)
        rc = fail_oom();
    if (rc == 0) {
        const char *given = dpsctl_opt_value(ctx, DPSCTL_OPT_ETAG);
        const char *fetched = json_string_value(json_object_get(rec, "etag"));
        etag = strdup(given ? given : fetched ? fetched : "*");
        if (etag == NULL)
            rc = fail_oom();
    }
    if (rc == 0)
        rc = edit_record(ctx, k, rec);
    if (rc == 0)
        rc = put_record(ctx, k, id, rec, etag);
    free(etag);
    json_decref(rec);
    return rc;
}

int dpsctl_record_delete(dpsctl_ctx *ctx, const dpsctl_record_kind *k)
{
    char *path = dpsctl_path(k->collection, dpsctl_opt_value(ctx, k->id_opt), NULL);
    if (path == NULL)
        return fail_oom();
    /* without --etag the delete is unconditional, as the service defines it */
    int rc = dpsctl_rest_delete(ctx, path, NULL, dpsctl_opt_value(ctx, DPSCTL_OPT_ETAG));
    free(path);
    return rc;
}
