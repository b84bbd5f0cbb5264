#include "rest.h"

int dpsctl_rest_fetch(dpsctl_ctx *ctx, const char *path, const char *query, json_t **out)
{
    *out = NULL;
    dpsctl_client *c;
    int rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;
    dpsctl_req_opts o = {.query = query};
    dpsctl_response res;
    rc = dpsctl_call(c, "GET", path, NULL, &o, &res);
    if (rc != 0)
        return rc;
    if (res.body == NULL) {
        dpsctl_response_free(&res);
        return dpsctl_fail("the service answered GET %s with an empty body", path);
    }
    *out = json_incref(res.body);
    dpsctl_response_free(&res);
    return 0;
}

int dpsctl_rest_show(dpsctl_ctx *ctx, const char *path, const char *query,
                     const dpsctl_column *cols, const char *const *secret_paths)
{
    json_t *v;
    int rc = dpsctl_rest_fetch(ctx, path, query, &v);
    if (rc != 0)
        return rc;
    rc = dpsctl_emit(ctx, v, cols, secret_paths);
    json_decref(v);
    return rc;
}

int dpsctl_rest_send(dpsctl_ctx *ctx, const char *method, const char *path, const json_t *body,
                     const char *if_match, const dpsctl_column *cols,
                     const char *const *secret_paths)
{
    dpsctl_client *c;
    int rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;
    dpsctl_req_opts o = {.if_match = if_match, .empty_body = body == NULL};
    dpsctl_response res;
    rc = dpsctl_call(c, method, path, body, &o, &res);
    if (rc != 0)
        return rc;
    rc = dpsctl_emit(ctx, res.body, cols, secret_paths);
    dpsctl_response_free(&res);
    return rc;
}

int dpsctl_rest_delete(dpsctl_ctx *ctx, const char *path, const char *query,
                       const char *if_match)
{
    dpsctl_client *c;
    int rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;
    dpsctl_req_opts o = {.if_match = if_match, .query = query};
    dpsctl_response res;
    rc = dpsctl_call(c, "DELETE", path, NULL, &o, &res);
    if (rc == 0)
        dpsctl_response_free(&res);
    return rc;
}
