/* hubd's own administration API: hubs added and listed at run time, under a
 * prefix no Azure route uses (/_hubd/hubs). It is not a hub API: it is
 * authorised by a hubd-level admin key, not by any hub's policies.
 *
 *   PUT /_hubd/hubs/{host}   create a hub with its default policies
 *                            (201, or 200 when it already exists):
 *                            {"hostName", "connectionString", "created"}
 *   GET /_hubd/hubs/{host}   {"hostName", "connectionString"}; 404 IotHubNotFound
 *   GET /_hubd/hubs          [{"hostName", "connectionString"}, ...]
 * connectionString is the hub's iothubowner connection string (what gets
 * linked into dpsd). Errors use the hub's legacy error body (hub.md §4).
 *
 * Authorization: a SAS token "SharedAccessSignature sr=..&sig=..&se=..&skn=
 * hubdadmin" signed with the admin key. The key belongs to this hubd, not
 * to a host name, so sr is signed but not compared with anything. The key
 * lives in <data_dir>/admin.key (base64, mode 0600), created on the first
 * start; hubd prints it as "admin connection string: HostName=<REST host>;
 * SharedAccessKeyName=hubdadmin;SharedAccessKey=<key>". Delete the file and
 * restart to change the key. */
#ifndef HUBD_ADMIN_H
#define HUBD_ADMIN_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "hubd.h"
#include "net/http_request.h"

#define HUBD_ADMIN_KEY_NAME "hubdadmin"
#define HUBD_ADMIN_KEY_FILE "admin.key"
#define HUBD_ADMIN_KEY_BYTES 32
#define HUBD_ADMIN_PREFIX "_hubd" /* first path segment */

typedef struct hubd_admin hubd_admin;

#define HUBD_ADMIN_MAX_TLS 2 /* REST and MQTT contexts */

/* Loads <data_dir>/admin.key, creating it (random key, 0600) when absent.
 * live[0..nlive) are the TLS contexts of the listeners, reloaded when a hub
 * is added (at most HUBD_ADMIN_MAX_TLS; they must outlive the admin).
 * Returns NULL with the reason in err. */
hubd_admin *hubd_admin_new(hubd_ctx *ctx, SSL_CTX *const *live, size_t nlive, char *err,
                           size_t errlen);

/* Frees it and wipes the key; sets *a to NULL. */
void hubd_admin_free(hubd_admin **a);

/* "HostName=<host>;SharedAccessKeyName=hubdadmin;SharedAccessKey=<key>" in
 * a new string (a secret: free with dps_free_secret_string), NULL without
 * memory. host is where clients reach the REST listener ("localhost:8444"). */
char *hubd_admin_connection_string(const hubd_admin *a, const char *host);

/* The migration credential (api/migration.h, hub.md §9.4) as
 * "HostName=<host>;SharedAccessKeyName=hubdmigration;SharedAccessKey=<key>"
 * (a secret, NULL without memory). Its key is HMAC-SHA256(admin key,
 * "opendps hubd migration"): dedicated (it opens nothing but the migration
 * endpoint, and the admin key cannot be recovered from it) without a second
 * key file; it changes with the admin key. */
char *hubd_admin_migration_connection_string(const hubd_admin *a, const char *host);

/* True when the request is for the admin API (/_hubd/hubs...) or the
 * migration endpoint (/_hubd/migration/...), which is then answered into
 * res; false leaves res untouched for the hub APIs. */
bool hubd_admin_handle(hubd_admin *a, const dps_http_request *req, dps_http_response *res);

#endif
