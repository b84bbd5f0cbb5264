/* hubd's administration API and its key (see admin.h). */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/b64.h"
#include "common/errtext.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/sas.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "api/migration.h"
#include "config.h"
#include "instance.h"
#include "model/hubs.h"
#include "model/registry.h"

#define KEY_FILE_MAX 512   /* bytes read from admin.key */
#define KEY_MIN_BYTES 16   /* a shorter decoded key is refused */
#define SAS_SKEW_S 300     /* hub.md §3.2: about 5 minutes */

struct hubd_admin {
    hubd_ctx *ctx;
    SSL_CTX *live[HUBD_ADMIN_MAX_TLS];
    size_t nlive;
    uint8_t key[KEY_FILE_MAX];
    size_t keylen;
    char *key_b64;
};

/* ---- the key file ------------------------------------------------------- */

static int write_new_key(const char *path, char *err, size_t errlen)
{
    uint8_t raw[HUBD_ADMIN_KEY_BYTES];
    if (dps_random_bytes(raw, sizeof raw) != 0) {
        dps_set_err(err, errlen, "random source failed");
        return -1;
    }
    char *b64 = dps_b64_encode(raw, sizeof raw);
    dps_wipe(raw, sizeof raw);
    if (b64 == NULL) {
        dps_set_err(err, errlen, "out of memory");
        return -1;
    }
    /* O_EXCL: two starts racing on one data directory keep the first key. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        dps_free_secret_string(b64);
        if (e == EEXIST)
            return 0;
        dps_set_err(err, errlen, "cannot create %s: %s", path, strerror(e));
        return -1;
    }
    size_t n = strlen(b64);
    b64[n] = '\n'; /* the terminator becomes the newline; length kept in n */
    ssize_t w = write(fd, b64, n + 1);
    b64[n] = '\0';
    int rc = w == (ssize_t)(n + 1) && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) != 0)
        rc = -1;
    dps_free_secret_string(b64);
    if (rc != 0) {
        dps_set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    log_info("admin: created admin key %s", path);
    return 0;
}

static int read_key(hubd_admin *a, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        dps_set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    char buf[KEY_FILE_MAX + 1];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((st.st_mode & 077) != 0)
            log_warn("admin: %s is readable by others; chmod 600 it", path);
        n = read(fd, buf, KEY_FILE_MAX);
    }
    close(fd);
    if (n < 0) {
        dps_set_err(err, errlen, "cannot read %s", path);
        return -1;
    }
    size_t len = (size_t)n;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    buf[len] = '\0';
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int rc = -1;
    if (dps_b64_decode(buf, len, &raw, &rawlen) != 0 || rawlen < KEY_MIN_BYTES ||
        rawlen > sizeof a->key) {
        dps_set_err(err, errlen, "%s does not hold a base64 key of %d to %zu bytes", path,
                    KEY_MIN_BYTES, sizeof a->key);
    } else if ((a->key_b64 = strdup(buf)) == NULL) {
        dps_set_err(err, errlen, "out of memory");
    } else {
        memcpy(a->key, raw, rawlen);
        a->keylen = rawlen;
        rc = 0;
    }
    if (raw != NULL) {
        dps_wipe(raw, rawlen);
        free(raw);
    }
    dps_wipe(buf, sizeof buf);
    return rc;
}

hubd_admin *hubd_admin_new(hubd_ctx *ctx, SSL_CTX *const *live, size_t nlive, char *err,
                           size_t errlen)
{
    if (nlive > HUBD_ADMIN_MAX_TLS) {
        dps_set_err(err, errlen, "too many TLS contexts");
        return NULL;
    }
    char path[1100];
    if (snprintf(path, sizeof path, "%s/%s", ctx->config->data_dir, HUBD_ADMIN_KEY_FILE) >=
        (int)sizeof path) {
        dps_set_err(err, errlen, "data_dir path too long");
        return NULL;
    }
    hubd_admin *a = calloc(1, sizeof *a);
    if (a == NULL) {
        dps_set_err(err, errlen, "out of memory");
        return NULL;
    }
    a->ctx = ctx;
    for (size_t i = 0; i < nlive; i++)
        a->live[i] = live[i];
    a->nlive = nlive;
    struct stat st;
    if ((lstat(path, &st) != 0 && write_new_key(path, err, errlen) != 0) ||
        read_key(a, path, err, errlen) != 0) {
        hubd_admin_free(&a);
        return NULL;
    }
    return a;
}

void hubd_admin_free(hubd_admin **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    hubd_admin *a = *ap;
    dps_wipe(a->key, sizeof a->key);
    dps_free_secret_string(a->key_b64);
    free(a);
    *ap = NULL;
}

char *hubd_admin_connection_string(const hubd_admin *a, const char *host)
{
    size_t n = strlen("HostName=;SharedAccessKeyName=;SharedAccessKey=") + strlen(host) +
               strlen(HUBD_ADMIN_KEY_NAME) + strlen(a->key_b64) + 1;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s", host,
                 HUBD_ADMIN_KEY_NAME, a->key_b64);
    return out;
}

/* ---- the migration credential ------------------------------------------ */

#define MIGRATION_LABEL "opendps hubd migration"

static int migration_key(const hubd_admin *a, uint8_t out[32])
{
    return dps_hmac_sha256(a->key, a->keylen, MIGRATION_LABEL, strlen(MIGRATION_LABEL), out);
}

char *hubd_admin_migration_connection_string(const hubd_admin *a, const char *host)
{
    uint8_t key[32];
    if (migration_key(a, key) != 0)
        return NULL;
    char *b64 = dps_b64_encode(key, sizeof key);
    dps_wipe(key, sizeof key);
    if (b64 == NULL)
        return NULL;
    size_t n = strlen("HostName=;SharedAccessKeyName=;SharedAccessKey=") + strlen(host) +
               strlen(HUBD_MIGRATION_KEY_NAME) + strlen(b64) + 1;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s", host,
                 HUBD_MIGRATION_KEY_NAME, b64);
    dps_free_secret_string(b64);
    return out;
}

/* ---- answers ------------------------------------------------------------ */

/* The hub's legacy error body (hub.md §4), which the Node service SDK and
 * dpsctl parse the same way for every hubd endpoint. */
static void admin_error(dps_http_response *res, int status, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void admin_error(dps_http_response *res, int status, const char *code,
                        const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char tracking[DPS_UUID_LEN] = "";
    if (dps_uuid_v4(tracking) != 0)
        tracking[0] = '\0';
    char when[DPS_ISO_TIME_LEN];
    dps_time_iso(dps_now_ns(), when);
    char message[512];
    char exception[160];
    snprintf(message, sizeof message, "ErrorCode:%s;%s", code, text);
    snprintf(exception, sizeof exception, "Tracking ID:%s Timestamp:%s", tracking, when);
    json_t *body = json_pack("{s:s, s:s}", "Message", message, "ExceptionMessage", exception);
    dps_http_response_set_json(res, status, body);
    if (body == NULL)
        res->status = status;
    json_decref(body);
    dps_http_response_add_header(res, "iothub-errorcode", code);
}

/* {"hostName", "connectionString"} of one hub, or NULL. */
static json_t *hub_json(hubd_admin *a, const char *canon)
{
    char *cs = hubd_hub_connection_string(a->ctx, canon, HUBD_OWNER_POLICY);
    json_t *o = json_pack("{s:s, s:s?}", "hostName", canon, "connectionString", cs);
    dps_free_secret_string(cs);
    return o;
}

static bool authorized(const hubd_admin *a, const dps_http_request *req, char *why,
                       size_t whylen)
{
    const char *auth = dps_http_header_get(req, "Authorization");
    if (auth == NULL) {
        snprintf(why, whylen, "no Authorization header");
        return false;
    }
    size_t len = strlen(auth);
    if (len > DPS_SAS_MAX_TOKEN_LEN) {
        snprintf(why, whylen, "Authorization header too long");
        return false;
    }
    dps_sas_token t;
    if (dps_sas_parse(auth, len, &t) != DPS_SAS_OK) {
        snprintf(why, whylen, "malformed SharedAccessSignature");
        return false;
    }
    bool ok = false;
    if (t.skn == NULL || strcmp(t.skn, HUBD_ADMIN_KEY_NAME) != 0)
        snprintf(why, whylen, "the admin API needs skn=%s", HUBD_ADMIN_KEY_NAME);
    else if (dps_sas_expired(&t, dps_now_s(), SAS_SKEW_S))
        snprintf(why, whylen, "the token has expired");
    else if (!dps_sas_signed_with(&t, a->key, a->keylen))
        snprintf(why, whylen, "the signature does not match the admin key");
    else
        ok = true;
    dps_sas_token_free(&t);
    return ok;
}

static void put_hub(hubd_admin *a, const char *host, dps_http_response *res)
{
    char err[512] = "";
    bool created = false;
    char canon[HUBD_HUB_NAME_SIZE];
    if (!hubd_hub_canon(host, canon)) {
        admin_error(res, 400, "ArgumentInvalid",
                    "'%.64s' is not a hub host name (a DNS name without port)", host);
        return;
    }
    int rc = hubd_instance_add_hub(a->ctx, canon, a->live, a->nlive, &created, err, sizeof err);
    if (rc != 0) {
        log_error("admin: adding hub %s: %s", canon, err);
        /* The hub may exist by now even though the certificate step failed. */
        if (hubd_hub_exists(a->ctx, canon, NULL) && created)
            admin_error(res, 500, "ServerError", "hub %s created, but: %s", canon, err);
        else if (strstr(err, "already hosts") != NULL)
            admin_error(res, 400, "ArgumentInvalid", "%s", err);
        else
            admin_error(res, 500, "ServerError", "cannot create hub %s", canon);
        return;
    }
    json_t *o = hub_json(a, canon);
    if (o == NULL || json_object_set_new(o, "created", json_boolean(created)) != 0) {
        json_decref(o);
        admin_error(res, 500, "ServerError", "out of memory");
        return;
    }
    dps_http_response_set_json(res, created ? 201 : 200, o);
    json_decref(o);
}

static void get_hub(hubd_admin *a, const char *host, dps_http_response *res)
{
    char canon[HUBD_HUB_NAME_SIZE];
    if (!hubd_hub_exists(a->ctx, host, canon)) {
        admin_error(res, 404, "IotHubNotFound", "hub %.64s is not hosted here", host);
        return;
    }
    json_t *o = hub_json(a, canon);
    if (o == NULL) {
        admin_error(res, 500, "ServerError", "out of memory");
        return;
    }
    dps_http_response_set_json(res, 200, o);
    json_decref(o);
}

static void list_hubs(hubd_admin *a, dps_http_response *res)
{
    char **names = NULL;
    size_t n = 0;
    if (hubd_hub_list(a->ctx, &names, &n) != 0) {
        admin_error(res, 500, "ServerError", "cannot list the hubs");
        return;
    }
    json_t *arr = json_array();
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = json_array_append_new(arr, hub_json(a, names[i])) == 0;
    hubd_hub_list_free(names, n);
    if (!ok) {
        json_decref(arr);
        admin_error(res, 500, "ServerError", "out of memory");
        return;
    }
    dps_http_response_set_json(res, 200, arr);
    json_decref(arr);
}

bool hubd_admin_handle(hubd_admin *a, const dps_http_request *req, dps_http_response *res)
{
    if (req->nsegments >= 2 && strcasecmp(req->segments[0], HUBD_ADMIN_PREFIX) == 0 &&
        strcasecmp(req->segments[1], HUBD_MIGRATION_SEGMENT) == 0) {
        uint8_t key[32];
        if (migration_key(a, key) == 0)
            (void)hubd_api_migration_handle(a->ctx, key, sizeof key, req, res);
        else
            admin_error(res, 500, "ServerError", "cannot derive the migration key");
        dps_wipe(key, sizeof key);
        return true;
    }
    if (req->nsegments < 2 || strcasecmp(req->segments[0], HUBD_ADMIN_PREFIX) != 0 ||
        strcasecmp(req->segments[1], "hubs") != 0)
        return false;

    char why[160];
    if (!authorized(a, req, why, sizeof why)) {
        admin_error(res, 401, "IotHubUnauthorizedAccess", "Unauthorized: %s", why);
        return true;
    }
    if (req->nsegments == 2 && req->method == DPS_HTTP_GET) {
        list_hubs(a, res);
    } else if (req->nsegments == 3 && req->method == DPS_HTTP_PUT) {
        put_hub(a, req->segments[2], res);
    } else if (req->nsegments == 3 && req->method == DPS_HTTP_GET) {
        get_hub(a, req->segments[2], res);
    } else if (req->nsegments <= 3) {
        admin_error(res, 405, "ArgumentInvalid", "%s is not supported on %s",
                    dps_http_method_name(req->method), req->path);
        dps_http_response_add_header(res, "Allow", req->nsegments == 2 ? "GET" : "GET, PUT");
    } else {
        admin_error(res, 404, "ArgumentInvalid", "no such admin resource");
    }
    log_debug("admin: %s %s -> %d", dps_http_method_name(req->method), req->path, res->status);
    return true;
}
