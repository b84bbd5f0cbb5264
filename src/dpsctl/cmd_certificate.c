/* dpsctl certificate create|list|show|update|delete|generate-verification-code|verify:
 * CA certificates with proof of possession (admin API /admin/certificates,
 * service-api.md §11.4), which X.509 enrollment groups name with --ca-name.
 * Calls that need If-Match (delete, generate-verification-code, verify,
 * update) take --etag, or read the current ETag first when it is absent. */
#include <stdlib.h>
#include <string.h>

#include "attest.h"
#include "dpsctl.h"
#include "fields.h"
#include "rest.h"

static const dpsctl_column cert_columns[] = {
    {"Name", "name"},
    {"Subject", "properties.subject"},
    {"Verified", "properties.isVerified"},
    {"Expiry", "properties.expiry"},
    {"Thumbprint", "properties.thumbprint"},
    {NULL, NULL},
};

/* generate-verification-code: what the next step needs first */
static const dpsctl_column code_columns[] = {
    {"VerificationCode", "properties.verificationCode"},
    {"Etag", "etag"},
    {"Name", "name"},
    {NULL, NULL},
};

#define END_OPT {DPSCTL_OPT_NONE, NULL, false, NULL}
#define NAME_OPT {DPSCTL_OPT_NAME, NULL, true, NULL}
#define ETAG_OPT                                                                             \
    {DPSCTL_OPT_ETAG, NULL, false, "act only if the certificate still has this ETag "        \
                                   "(default: the current one, read first)"}

static const dpsctl_cmd_opt create_opts[] = {
    NAME_OPT,
    {DPSCTL_OPT_PATH, NULL, true, "the CA certificate (root or intermediate), PEM or DER; "
                                  "of a PEM file only the first certificate is sent"},
    {DPSCTL_OPT_VERIFIED, NULL, false, NULL},
    END_OPT};
static const dpsctl_cmd_opt update_opts[] = {
    NAME_OPT,
    {DPSCTL_OPT_PATH, NULL, true, "the new CA certificate, PEM or DER"},
    {DPSCTL_OPT_VERIFIED, NULL, false, "true or false (default: kept for the same "
                                       "certificate, false for another)"},
    ETAG_OPT, END_OPT};
static const dpsctl_cmd_opt list_opts[] = {END_OPT};
static const dpsctl_cmd_opt show_opts[] = {NAME_OPT, END_OPT};
static const dpsctl_cmd_opt delete_opts[] = {
    NAME_OPT, ETAG_OPT,
    {DPSCTL_OPT_FORCE, NULL, false, "delete even if enrollment groups name it in caReferences"},
    END_OPT};
static const dpsctl_cmd_opt code_opts[] = {NAME_OPT, ETAG_OPT, END_OPT};
static const dpsctl_cmd_opt verify_opts[] = {
    NAME_OPT,
    {DPSCTL_OPT_PATH, NULL, true, "the verification certificate: CN = the verification code, "
                                  "signed with the CA's key"},
    ETAG_OPT, END_OPT};

static char *cert_path(const dpsctl_ctx *ctx, const char *suffix)
{
    return dpsctl_path("/admin/certificates/", dpsctl_opt_value(ctx, DPSCTL_OPT_NAME), suffix);
}

/* --etag, or the certificate's current ETag (a GET). *etag is a new string.
 * Returns an exit code. */
static int etag_of(dpsctl_ctx *ctx, const char *path, char **etag)
{
    *etag = NULL;
    const char *given = dpsctl_opt_value(ctx, DPSCTL_OPT_ETAG);
    if (given != NULL) {
        *etag = strdup(given);
        return *etag != NULL ? 0 : dpsctl_fail("out of memory");
    }
    json_t *cur = NULL;
    int rc = dpsctl_rest_fetch(ctx, path, NULL, &cur);
    if (rc != 0)
        return rc;
    const char *e = json_string_value(json_object_get(cur, "etag"));
    /* a server without ETags: "*" still satisfies If-Match */
    *etag = strdup(e != NULL ? e : "*");
    json_decref(cur);
    return *etag != NULL ? 0 : dpsctl_fail("out of memory");
}

/* {"certificate": <base64 DER of --path>} plus isVerified from --verified. */
static int certificate_body(dpsctl_ctx *ctx, json_t **body)
{
    *body = NULL;
    char err[512];
    char *b64 = dpsctl_load_certificate(DPSCTL_OPT_PATH, dpsctl_opt_value(ctx, DPSCTL_OPT_PATH),
                                        err, sizeof err);
    if (b64 == NULL)
        return dpsctl_usage(ctx, "%s", err);
    *body = json_pack("{s:s}", "certificate", b64);
    free(b64);
    if (*body == NULL)
        return dpsctl_fail("out of memory");
    const char *verified = dpsctl_opt_value(ctx, DPSCTL_OPT_VERIFIED);
    if (verified != NULL) {
        bool v;
        if (dpsctl_parse_bool(verified, &v) != 0) {
            json_decref(*body);
            *body = NULL;
            return dpsctl_usage(ctx, "--verified: '%s' is not true or false", verified);
        }
        if (json_object_set_new(*body, "isVerified", json_boolean(v)) != 0) {
            json_decref(*body);
            *body = NULL;
            return dpsctl_fail("out of memory");
        }
    }
    return 0;
}

static int run_create(dpsctl_ctx *ctx)
{
    char *path = cert_path(ctx, NULL);
    json_t *body = NULL;
    int rc = path != NULL ? certificate_body(ctx, &body) : dpsctl_fail("out of memory");
    /* no If-Match: create only, an existing name answers 409 */
    if (rc == 0)
        rc = dpsctl_rest_send(ctx, "PUT", path, body, NULL, cert_columns, NULL);
    json_decref(body);
    free(path);
    return rc;
}

static int run_update(dpsctl_ctx *ctx)
{
    char *path = cert_path(ctx, NULL);
    json_t *body = NULL;
    char *etag = NULL;
    int rc = path != NULL ? certificate_body(ctx, &body) : dpsctl_fail("out of memory");
    if (rc == 0)
        rc = etag_of(ctx, path, &etag);
    if (rc == 0)
        rc = dpsctl_rest_send(ctx, "PUT", path, body, etag, cert_columns, NULL);
    free(etag);
    json_decref(body);
    free(path);
    return rc;
}

static int run_list(dpsctl_ctx *ctx)
{
    return dpsctl_rest_show(ctx, "/admin/certificates", NULL, cert_columns, NULL);
}

static int run_show(dpsctl_ctx *ctx)
{
    char *path = cert_path(ctx, NULL);
    if (path == NULL)
        return dpsctl_fail("out of memory");
    int rc = dpsctl_rest_show(ctx, path, NULL, cert_columns, NULL);
    free(path);
    return rc;
}

static int run_delete(dpsctl_ctx *ctx)
{
    char *path = cert_path(ctx, NULL);
    char *etag = NULL;
    int rc = path != NULL ? etag_of(ctx, path, &etag) : dpsctl_fail("out of memory");
    if (rc == 0)
        rc = dpsctl_rest_delete(ctx, path,
                                dpsctl_args_flag(&ctx->args, DPSCTL_OPT_FORCE) ? "force=true"
                                                                                : NULL,
                                etag);
    free(etag);
    free(path);
    return rc;
}

static int run_generate_code(dpsctl_ctx *ctx)
{
    char *path = cert_path(ctx, NULL);
    char *action = cert_path(ctx, "/generateVerificationCode");
    char *etag = NULL;
    int rc = path != NULL && action != NULL ? etag_of(ctx, path, &etag)
                                            : dpsctl_fail("out of memory");
    if (rc == 0)
        rc = dpsctl_rest_send(ctx, "POST", action, NULL, etag, code_columns, NULL);
    free(etag);
    free(action);
    free(path);
    return rc;
}

static int run_verify(dpsctl_ctx *ctx)
{
    char *path = cert_path(ctx, NULL);
    char *action = cert_path(ctx, "/verify");
    json_t *body = NULL;
    char *etag = NULL;
    int rc = path != NULL && action != NULL ? certificate_body(ctx, &body)
                                            : dpsctl_fail("out of memory");
    if (rc == 0)
        rc = etag_of(ctx, path, &etag);
    if (rc == 0)
        rc = dpsctl_rest_send(ctx, "POST", action, body, etag, cert_columns, NULL);
    free(etag);
    json_decref(body);
    free(action);
    free(path);
    return rc;
}

static const dpsctl_command commands[] = {
    {"create", "upload a CA certificate (unverified unless --verified true)", create_opts,
     run_create,
     "  dpsctl certificate create --name fleet-root --path root.pem\n"
     "  dpsctl certificate create --name lab-root --path lab-root.pem --verified true\n"},
    {"list", "list the CA certificates", list_opts, run_list,
     "  dpsctl certificate list --output table\n"},
    {"show", "show a CA certificate", show_opts, run_show,
     "  dpsctl certificate show --name fleet-root\n"},
    {"update", "replace the certificate stored under a name", update_opts, run_update,
     "  dpsctl certificate update --name fleet-root --path root-2.pem\n"},
    {"delete", "delete a CA certificate", delete_opts, run_delete,
     "  dpsctl certificate delete --name fleet-root\n"},
    {"generate-verification-code", "get a code to prove possession of the CA's key",
     code_opts, run_generate_code,
     "  dpsctl certificate generate-verification-code --name fleet-root -o tsv\n"
     "  CODE=$(dpsctl certificate generate-verification-code --name fleet-root -o tsv "
     "| cut -f1)\n"},
    {"verify", "prove possession: upload a certificate with CN = the code, signed by the CA",
     verify_opts, run_verify,
     "  dps-device x509 issue --ca-cert root.pem --ca-key root.key --cn \"$CODE\" \\\n"
     "      --out-cert pop.pem --out-key pop.key --days 1\n"
     "  dpsctl certificate verify --name fleet-root --path pop.pem\n"},
};

const dpsctl_group dpsctl_group_certificate = {
    "certificate", "CA certificates for X.509 enrollment groups, with proof of possession",
    commands, sizeof commands / sizeof commands[0]};
