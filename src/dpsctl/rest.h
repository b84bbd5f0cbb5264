/* One-call helpers shared by the commands: fetch a resource, print a GET,
 * send a body and print the answer, delete. Each returns an exit code and
 * has printed the reason when it is not 0. */
#ifndef DPSCTL_REST_H
#define DPSCTL_REST_H

#include "dpsctl.h"

/* GET path (query: extra encoded query text or NULL); *out is a new JSON
 * value (object or array) on success. */
int dpsctl_rest_fetch(dpsctl_ctx *ctx, const char *path, const char *query, json_t **out);

/* GET path and print it. */
int dpsctl_rest_show(dpsctl_ctx *ctx, const char *path, const char *query,
                     const dpsctl_column *cols, const char *const *secret_paths);

/* method path with body (NULL: a zero-length body) and If-Match if_match
 * (may be NULL); prints the answer when there is one. */
int dpsctl_rest_send(dpsctl_ctx *ctx, const char *method, const char *path, const json_t *body,
                     const char *if_match, const dpsctl_column *cols,
                     const char *const *secret_paths);

/* DELETE path (extra query text may be NULL, If-Match may be NULL);
 * prints nothing on success. */
int dpsctl_rest_delete(dpsctl_ctx *ctx, const char *path, const char *query,
                       const char *if_match);

#endif
