#include "client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/b64.h"
#include "common/dynbuf.h"
#include "common/sas.h"
#include "common/secret.h"
#include "common/urlcode.h"
#include "connstr.h"

#ifndef DPSCTL_VERSION
#define DPSCTL_VERSION "0"
#endif

/* A page of 1000 enrollments with initial twins stays far below this; the cap
 * only protects the CLI from a runaway or hostile server. */
#define RESPONSE_MAX_BYTES (32u * 1024u * 1024u)
/* Tokens are short-lived but comfortably cover one slow request. */
#define SAS_LIFETIME_S 3600
/* A server that keeps answering empty pages with a new continuation token
 * would otherwise keep the CLI looping forever. */
#define MAX_EMPTY_PAGES 16
/* Error messages from the server are echoed on one line, shortened. */
#define MESSAGE_MAX 512

struct dpsctl_client {
    CURL *curl;
    dpsctl_connstr cs;
    char *base_url;    /* scheme://host[:port][/prefix], no trailing '/' */
    char *api_version; /* percent-encoded */
    const char *cafile;
    long timeout_s;
    long request_timeout_s; /* limit of the request being sent, for messages */
    const char *cafile_option, *cafile_env; /* how the CA is configured, for the TLS hint */
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct {
    dps_buf body;
    bool too_large;
    char *continuation;
} transfer;

static bool starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int dpsctl_client_open(const dpsctl_client_config *cfg, dpsctl_client **out)
{
    *out = NULL;
    char err[256];
    const char *login_opt = cfg->login_option ? cfg->login_option : "--login";
    const char *cafile_opt = cfg->cafile_option ? cfg->cafile_option : "--cafile";
    const char *endpoint_opt = cfg->endpoint_option ? cfg->endpoint_option : "--endpoint";
    dpsctl_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        fprintf(stderr, "dpsctl: out of memory\n");
        return 1;
    }
    if (dpsctl_connstr_parse(cfg->connection_string, &c->cs, err, sizeof err) != 0) {
        fprintf(stderr, "dpsctl: %s: %s\n", login_opt, err);
        goto usage;
    }
    if (c->cs.key_name == NULL || c->cs.key == NULL) {
        fprintf(stderr, "dpsctl: %s: the connection string needs SharedAccessKeyName "
                        "and SharedAccessKey\n", login_opt);
        goto usage;
    }
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    if (dps_b64_decode(c->cs.key, strlen(c->cs.key), &raw, &rawlen) != 0) {
        fprintf(stderr, "dpsctl: %s: SharedAccessKey is not valid base64\n", login_opt);
        goto usage;
    }
    dps_wipe(raw, rawlen);
    free(raw);

    /* TLS is the only way the SAS token travels: plain http is refused
     * rather than offered behind a flag. */
    if (cfg->endpoint != NULL) {
        if (!starts_with_ci(cfg->endpoint, "https://") || cfg->endpoint[8] == '\0') {
            fprintf(stderr, "dpsctl: %s must be an https:// URL\n", endpoint_opt);
            goto usage;
        }
        c->base_url = strdup(cfg->endpoint);
    } else {
        size_t n = strlen(c->cs.host_name) + sizeof "https://";
        c->base_url = malloc(n);
        if (c->base_url != NULL)
            snprintf(c->base_url, n, "https://%s", c->cs.host_name);
    }
    c->api_version = dps_url_encode(cfg->api_version);
    if (c->base_url == NULL || c->api_version == NULL) {
        fprintf(stderr, "dpsctl: out of memory\n");
        goto fail;
    }
    size_t blen = strlen(c->base_url);
    while (blen > 8 && c->base_url[blen - 1] == '/')
        c->base_url[--blen] = '\0';

    /* Checked here so that a typo reads as a usage error, not as a TLS
     * failure later on. */
    if (cfg->cafile != NULL && access(cfg->cafile, R_OK) != 0) {
        fprintf(stderr, "dpsctl: %s %s: cannot read the file\n", cafile_opt, cfg->cafile);
        goto usage;
    }
    c->cafile = cfg->cafile;
    c->cafile_option = cafile_opt;
    c->cafile_env = cfg->cafile_env ? cfg->cafile_env : "DPSCTL_CA_FILE";
    c->timeout_s = cfg->timeout_s;
    c->request_timeout_s = cfg->timeout_s;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "dpsctl: cannot initialise libcurl\n");
        goto fail;
    }
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        curl_global_cleanup();
        fprintf(stderr, "dpsctl: cannot initialise libcurl\n");
        goto fail;
    }
    *out = c;
    return 0;
usage:
    dpsctl_client_close(&c);
    return 2;
fail:
    dpsctl_client_close(&c);
    return 1;
}

void dpsctl_client_close(dpsctl_client **pc)
{
    dpsctl_client *c = *pc;
    if (c == NULL)
        return;
    if (c->curl != NULL) {
        curl_easy_cleanup(c->curl);
        curl_global_cleanup();
    }
    dpsctl_connstr_free(&c->cs);
    free(c->base_url);
    free(c->api_version);
    free(c);
    *pc = NULL;
}

void dpsctl_response_free(dpsctl_response *r)
{
    json_decref(r->body);
    free(r->continuation);
    memset(r, 0, sizeof *r);
}

char *dpsctl_path(const char *prefix, const char *id, const char *suffix)
{
    char *enc = dps_url_encode(id);
    if (enc == NULL)
        return NULL;
    dps_buf b;
    dps_buf_init(&b, 64 * 1024);
    int rc = dps_buf_printf(&b, "%s%s%s", prefix, enc, suffix ? suffix : "");
    free(enc);
    if (rc != 0) {
        dps_buf_free(&b);
        return NULL;
    }
    return dps_buf_take(&b);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    transfer *t = userdata;
    size_t n = size * nmemb;
    if (dps_buf_append(&t->body, ptr, n) != 0) {
        t->too_large = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Keeps x-ms-continuation of the final response only: an interim response
 * (100 Continue) starts with its own status line, which resets the state. */
static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    transfer *t = userdata;
    size_t n = size * nitems;
    static const char name[] = "x-ms-continuation:";
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        free(t->continuation);
        t->continuation = NULL;
    } else if (n > sizeof name - 1 && strncasecmp(buf, name, sizeof name - 1) == 0) {
        const char *v = buf + sizeof name - 1;
        size_t vlen = n - (sizeof name - 1);
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        free(t->continuation);
        t->continuation = vlen > 0 ? strndup(v, vlen) : NULL;
    }
    return n;
}

/* Adds a "name: value" line. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[DPS_SAS_MAX_TOKEN_LEN + 64];
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    if (n < 0 || (size_t)n >= sizeof line)
        return -1;
    struct curl_slist *next = curl_slist_append(*list, line);
    dps_wipe(line, sizeof line);
    if (next == NULL)
        return -1;
    *list = next;
    return 0;
}

/* The Authorization line is a bearer credential for an hour: wipe the copies
 * curl made before giving them back. */
static void free_headers(struct curl_slist *list)
{
    for (struct curl_slist *h = list; h != NULL; h = h->next) {
        if (h->data != NULL)
            dps_wipe(h->data, strlen(h->data));
    }
    curl_slist_free_all(list);
}

/* Copies text onto one line (control characters become spaces), shortened. */
static void one_line(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    size_t o = 0;
    for (size_t i = 0; i < srclen && o + 4 < dstlen; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    if (o + 4 >= dstlen && srclen > o) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* IoT Hub's legacy error body (hubd, docs/hubd-api.md):
 *   {"Message":"ErrorCode:<Name>;<text>","ExceptionMessage":"Tracking ID:..."}
 * Prints "error <Name> (<status>): <text>" and returns true when body has
 * that shape. */
static bool report_hub_error(long status, const json_t *err)
{
    static const char prefix[] = "ErrorCode:";
    const char *m = json_string_value(json_object_get(err, "Message"));
    if (m == NULL || strncmp(m, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *name = m + sizeof prefix - 1;
    size_t nlen = strcspn(name, ";");
    const char *text = name[nlen] == ';' ? name + nlen + 1 : "(no message)";
    char nbuf[64];
    char msg[MESSAGE_MAX];
    one_line(nbuf, sizeof nbuf, name, nlen);
    one_line(msg, sizeof msg, text, strlen(text));
    fprintf(stderr, "dpsctl: error %s (%ld): %s\n", nbuf, status, msg);
    return true;
}

static void report_service_error(long status, const dps_buf *body)
{
    char msg[MESSAGE_MAX];
    json_t *err = NULL;
    if (body->len > 0)
        err = json_loadb(body->data, body->len, 0, NULL);
    json_t *code = json_object_get(err, "errorCode");
    const char *text = json_string_value(json_object_get(err, "message"));
    if (report_hub_error(status, err)) {
        /* printed */
    } else if (json_is_integer(code)) {
        one_line(msg, sizeof msg, text ? text : "(no message)", text ? strlen(text) : 12);
        fprintf(stderr, "dpsctl: error %lld (%ld): %s\n", (long long)json_integer_value(code),
                status, msg);
    } else if (body->len > 0) {
        one_line(msg, sizeof msg, body->data, body->len);
        fprintf(stderr, "dpsctl: error (%ld): %s\n", status, msg);
    } else {
        fprintf(stderr, "dpsctl: error (%ld): the server gave no details\n", status);
    }
    json_decref(err);
}

static void report_transport_error(const dpsctl_client *c, CURLcode rc)
{
    const char *detail = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
        fprintf(stderr, "dpsctl: TLS failure with %s: %s (does %s / %s name the CA that "
                        "issued the server certificate?)\n",
                c->base_url, detail, c->cafile_option, c->cafile_env);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        fprintf(stderr, "dpsctl: %s did not answer within %ld s\n", c->base_url,
                c->request_timeout_s);
        break;
    default:
        fprintf(stderr, "dpsctl: cannot reach %s: %s\n", c->base_url, detail);
        break;
    }
}

/* Sets every option of one request on a freshly reset handle; reuse of the
 * handle keeps only its connection cache. */
static int setup_request(dpsctl_client *c, const char *method, const char *url,
                         const char *payload, size_t payload_len, bool has_body,
                         struct curl_slist *headers, long timeout_s, transfer *t)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    c->errbuf[0] = '\0';
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                        \
    do {                                                                                     \
        if (rc == CURLE_OK)                                                                  \
            rc = curl_easy_setopt(h, opt, val);                                              \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->cafile != NULL)
        SET(CURLOPT_CAINFO, c->cafile);
    c->request_timeout_s = timeout_s;
    if (timeout_s > 0)
        SET(CURLOPT_TIMEOUT, timeout_s);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_USERAGENT, "dpsctl/" DPSCTL_VERSION);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    if (strcmp(method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, method);
        if (has_body) {
            SET(CURLOPT_POSTFIELDSIZE, (long)payload_len);
            SET(CURLOPT_POSTFIELDS, payload);
        }
    }
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

static struct curl_slist *build_headers(const dpsctl_client *c, bool has_body,
                                        const dpsctl_req_opts *o, const char *const *extra)
{
    struct curl_slist *list = NULL;
    char *token = dps_sas_build(c->cs.host_name, c->cs.key, c->cs.key_name,
                                (int64_t)time(NULL) + SAS_LIFETIME_S);
    int rc = token != NULL ? 0 : -1;
    if (rc == 0)
        rc = add_header(&list, "Authorization", token);
    dps_free_secret_string(token);
    /* a streamed call names its own media type (text/event-stream) */
    bool own_accept = false;
    for (const char *const *h = extra; h != NULL && *h != NULL; h++)
        own_accept = own_accept || starts_with_ci(*h, "Accept:");
    if (rc == 0 && !own_accept)
        rc = add_header(&list, "Accept", "application/json");
    /* "Expect:" with nothing after it removes the header: libcurl would
     * otherwise hold large bodies back waiting for 100 Continue */
    if (rc == 0) {
        struct curl_slist *next = curl_slist_append(list, "Expect:");
        if (next == NULL)
            rc = -1;
        else
            list = next;
    }
    if (rc == 0 && has_body) {
        const char *type = "application/json; charset=utf-8";
        if (o != NULL && o->raw_body != NULL)
            type = o->content_type ? o->content_type : "application/octet-stream";
        rc = add_header(&list, "Content-Type", type);
    }
    for (const char *const *h = extra; rc == 0 && h != NULL && *h != NULL; h++) {
        struct curl_slist *next = curl_slist_append(list, *h);
        if (next == NULL)
            rc = -1;
        else
            list = next;
    }
    if (rc == 0 && o != NULL && o->if_match != NULL)
        rc = add_header(&list, "If-Match", o->if_match);
    if (rc == 0 && o != NULL && o->continuation != NULL)
        rc = add_header(&list, "x-ms-continuation", o->continuation);
    if (rc == 0 && o != NULL && o->max_items > 0) {
        char n[24];
        snprintf(n, sizeof n, "%ld", o->max_items);
        rc = add_header(&list, "x-ms-max-item-count", n);
    }
    if (rc != 0) {
        free_headers(list);
        return NULL;
    }
    return list;
}

int dpsctl_call(dpsctl_client *c, const char *method, const char *path, const json_t *body,
                const dpsctl_req_opts *o, dpsctl_response *res)
{
    memset(res, 0, sizeof *res);
    int exit_code = 1;
    char *payload = NULL;
    char *url = NULL;
    struct curl_slist *headers = NULL;
    transfer t = {.too_large = false, .continuation = NULL};
    dps_buf_init(&t.body, RESPONSE_MAX_BYTES);

    bool raw = o != NULL && o->raw_body != NULL;
    bool has_body = body != NULL || raw || (o != NULL && o->empty_body);
    if (raw) {
        payload = malloc(o->raw_len + 1);
        if (payload == NULL)
            goto oom;
        memcpy(payload, o->raw_body, o->raw_len);
        payload[o->raw_len] = '\0';
    } else if (body != NULL) {
        payload = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (payload == NULL)
            goto oom;
    }
    dps_buf u;
    dps_buf_init(&u, 64 * 1024);
    if (dps_buf_printf(&u, "%s%s?api-version=%s%s%s", c->base_url, path, c->api_version,
                       (o != NULL && o->query != NULL) ? "&" : "",
                       (o != NULL && o->query != NULL) ? o->query : "") != 0) {
        dps_buf_free(&u);
        goto oom;
    }
    url = dps_buf_take(&u);
    headers = build_headers(c, has_body, o, o != NULL ? o->headers : NULL);
    if (url == NULL || headers == NULL)
        goto oom;
    size_t payload_len = raw ? o->raw_len : payload ? strlen(payload) : 0;
    long timeout_s = (o != NULL && o->timeout_s > 0) ? o->timeout_s : c->timeout_s;
    if (setup_request(c, method, url, payload ? payload : "", payload_len, has_body, headers,
                      timeout_s, &t) != 0) {
        fprintf(stderr, "dpsctl: libcurl refused an option (is it built with HTTPS?)\n");
        goto done;
    }

    CURLcode rc = curl_easy_perform(c->curl);
    if (rc == CURLE_WRITE_ERROR && t.too_large) {
        fprintf(stderr, "dpsctl: the response exceeds %u bytes\n", RESPONSE_MAX_BYTES);
        goto done;
    }
    if (rc != CURLE_OK) {
        report_transport_error(c, rc);
        exit_code = 3;
        goto done;
    }
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        report_service_error(status, &t.body);
        goto done;
    }
    json_t *parsed = NULL;
    if (t.body.len > 0) {
        json_error_t jerr;
        parsed = json_loadb(t.body.data, t.body.len, JSON_DECODE_ANY, &jerr);
        if (parsed == NULL) {
            fprintf(stderr, "dpsctl: the server answered %ld with a body that is not JSON: %s\n",
                    status, jerr.text);
            goto done;
        }
    }
    res->status = status;
    res->body = parsed;
    res->continuation = t.continuation;
    t.continuation = NULL;
    exit_code = 0;
    goto done;
oom:
    fprintf(stderr, "dpsctl: out of memory\n");
done:
    free_headers(headers);
    /* request bodies may carry keys (enrollment or policy PUTs) */
    dps_free_secret_string(payload);
    free(url);
    /* response bodies too (attestationmechanism, connectionString) */
    if (t.body.data != NULL)
        dps_wipe(t.body.data, t.body.len);
    dps_buf_free(&t.body);
    free(t.continuation);
    return exit_code;
}

int dpsctl_query_all(dpsctl_client *c, const char *path, const json_t *body, long top,
                     json_t **out)
{
    *out = NULL;
    json_t *all = json_array();
    if (all == NULL) {
        fprintf(stderr, "dpsctl: out of memory\n");
        return 1;
    }
    char *token = NULL;
    int empty_pages = 0;
    int rc = 0;
    for (;;) {
        size_t have = json_array_size(all);
        dpsctl_req_opts o = {
            .continuation = token,
            .max_items = top > 0 ? top - (long)have : 0,
            .empty_body = body == NULL,
        };
        dpsctl_response res;
        rc = dpsctl_call(c, "POST", path, body, &o, &res);
        if (rc != 0)
            break;
        if (!json_is_array(res.body)) {
            fprintf(stderr, "dpsctl: the server answered a query without a JSON array\n");
            dpsctl_response_free(&res);
            rc = 1;
            break;
        }
        size_t i;
        json_t *item;
        json_array_foreach(res.body, i, item) {
            if (top > 0 && (long)json_array_size(all) >= top)
                break;
            if (json_array_append(all, item) != 0) {
                rc = 1;
                break;
            }
        }
        empty_pages = json_array_size(res.body) == 0 ? empty_pages + 1 : 0;
        char *next = res.continuation;
        res.continuation = NULL;
        dpsctl_response_free(&res);
        if (rc != 0) {
            free(next);
            fprintf(stderr, "dpsctl: out of memory\n");
            break;
        }
        if (next == NULL || (top > 0 && (long)json_array_size(all) >= top)) {
            free(next);
            break;
        }
        if ((token != NULL && strcmp(token, next) == 0) || empty_pages > MAX_EMPTY_PAGES) {
            free(next);
            fprintf(stderr, "dpsctl: the server keeps returning the same page; stopping\n");
            rc = 1;
            break;
        }
        free(token);
        token = next;
    }
    free(token);
    if (rc != 0) {
        json_decref(all);
        return rc;
    }
    *out = all;
    return 0;
}

/* State of one streamed GET, shared by the curl callbacks. */
typedef struct {
    const dpsctl_stream_opts *o;
    long status;          /* of the final response, once its status line arrived */
    bool headers_done;    /* the final response's header block is complete */
    bool stopped;         /* on_data or *stop ended it */
    bool failed;          /* on_data failed (reason printed) */
    bool no_answer;       /* no response headers within the client's timeout */
    bool idle;            /* nothing arrived for idle_max_s */
    struct timespec started, last_data;
    long answer_limit_s;
    dps_buf error_body;   /* a non-2xx body, for the error line */
} stream_state;

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static size_t on_stream_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    stream_state *st = userdata;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* "HTTP/1.1 200 OK": a new response (after an interim 1xx) */
        const char *sp = memchr(buf, ' ', n);
        st->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
        st->headers_done = false;
    } else if ((n == 2 && buf[0] == '\r' && buf[1] == '\n') || (n == 1 && buf[0] == '\n')) {
        if (st->status >= 200) {
            st->headers_done = true;
            clock_gettime(CLOCK_MONOTONIC, &st->last_data);
        }
    }
    return n;
}

static size_t on_stream_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    stream_state *st = userdata;
    size_t n = size * nmemb;
    clock_gettime(CLOCK_MONOTONIC, &st->last_data);
    if (st->status < 200 || st->status > 299) {
        /* an error answer is short; keep its start for the one-line report */
        (void)dps_buf_append(&st->error_body, ptr, n);
        return n;
    }
    int rc = st->o->on_data(st->o->arg, ptr, n);
    if (rc == 0)
        return n;
    if (rc > 0)
        st->stopped = true;
    else
        st->failed = true;
    return 0; /* CURLE_WRITE_ERROR ends the transfer */
}

/* Called by libcurl about once a second even while nothing arrives: the
 * place to notice Ctrl-C, a silent server, or a dead stream. */
static int on_stream_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                              curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    stream_state *st = userdata;
    if (st->o->stop != NULL && *st->o->stop) {
        st->stopped = true;
        return 1;
    }
    if (!st->headers_done && seconds_since(&st->started) > (double)st->answer_limit_s) {
        st->no_answer = true;
        return 1;
    }
    if (st->headers_done && st->o->idle_max_s > 0 &&
        seconds_since(&st->last_data) > (double)st->o->idle_max_s) {
        st->idle = true;
        return 1;
    }
    return 0;
}

int dpsctl_stream(dpsctl_client *c, const char *path, const dpsctl_stream_opts *o,
                  dpsctl_stream_end *end)
{
    *end = DPSCTL_STREAM_CLOSED;
    int exit_code = 1;
    char *url = NULL;
    struct curl_slist *headers = NULL;
    stream_state st;
    memset(&st, 0, sizeof st);
    st.o = o;
    st.answer_limit_s = c->timeout_s;
    dps_buf_init(&st.error_body, 64 * 1024);
    /* the unused transfer keeps setup_request's signature shared */
    transfer t = {.too_large = false, .continuation = NULL};
    dps_buf_init(&t.body, 1);

    dps_buf u;
    dps_buf_init(&u, 64 * 1024);
    if (dps_buf_printf(&u, "%s%s?api-version=%s", c->base_url, path, c->api_version) != 0) {
        dps_buf_free(&u);
        goto oom;
    }
    url = dps_buf_take(&u);
    headers = build_headers(c, false, NULL, o->headers);
    if (url == NULL || headers == NULL)
        goto oom;
    /* no overall limit: the stream runs until duration_s or a stop */
    if (setup_request(c, "GET", url, "", 0, false, headers, 0, &t) != 0) {
        fprintf(stderr, "dpsctl: libcurl refused an option (is it built with HTTPS?)\n");
        goto done;
    }
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                        \
    do {                                                                                     \
        if (rc == CURLE_OK)                                                                  \
            rc = curl_easy_setopt(h, opt, val);                                              \
    } while (0)
    SET(CURLOPT_CONNECTTIMEOUT, c->timeout_s);
    if (o->duration_s > 0)
        SET(CURLOPT_TIMEOUT, o->duration_s);
    SET(CURLOPT_WRITEFUNCTION, on_stream_body);
    SET(CURLOPT_WRITEDATA, &st);
    SET(CURLOPT_HEADERFUNCTION, on_stream_header);
    SET(CURLOPT_HEADERDATA, &st);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_stream_progress);
    SET(CURLOPT_XFERINFODATA, &st);
#undef SET
    if (rc != CURLE_OK) {
        fprintf(stderr, "dpsctl: libcurl refused a streaming option\n");
        goto done;
    }
    c->request_timeout_s = c->timeout_s;
    clock_gettime(CLOCK_MONOTONIC, &st.started);
    rc = curl_easy_perform(h);
    bool ok_status = st.status >= 200 && st.status <= 299;
    if (st.failed)
        goto done;
    if (st.stopped) {
        *end = DPSCTL_STREAM_STOPPED;
        exit_code = 0;
    } else if (st.no_answer) {
        fprintf(stderr, "dpsctl: %s did not answer within %ld s\n", c->base_url,
                c->timeout_s);
        exit_code = 3;
    } else if (st.idle) {
        fprintf(stderr, "dpsctl: nothing arrived from %s for %ld s; the connection seems dead\n",
                c->base_url, o->idle_max_s);
        exit_code = 3;
    } else if (rc == CURLE_OPERATION_TIMEDOUT && st.headers_done && ok_status) {
        *end = DPSCTL_STREAM_DURATION;
        exit_code = 0;
    } else if (rc == CURLE_OK && !ok_status) {
        report_service_error(st.status, &st.error_body);
    } else if (rc == CURLE_OK) {
        *end = DPSCTL_STREAM_CLOSED;
        exit_code = 0;
    } else if (st.headers_done && ok_status) {
        const char *detail = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc);
        fprintf(stderr, "dpsctl: the connection to %s broke: %s\n", c->base_url, detail);
        exit_code = 3;
    } else {
        report_transport_error(c, rc);
        exit_code = 3;
    }
    goto done;
oom:
    fprintf(stderr, "dpsctl: out of memory\n");
done:
    free_headers(headers);
    free(url);
    dps_buf_free(&st.error_body);
    dps_buf_free(&t.body);
    return exit_code;
}
