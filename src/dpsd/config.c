/* dpsd configuration (see config.h). The option table below is the single
 * description of every dpsd option: the engine (common/conftable.c) reads it
 * for the file parser, the flag parser, --help and the defaults. What stays
 * here is dpsd's own: the value checks its options need, the cross-checks
 * and derived values, and the store URL display. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- value checks ------------------------------------------------------- */

static int check_listen(const char *value, char *err, size_t errlen)
{
    return dps_listen_addr_parse(value, NULL, err, errlen);
}

/* "ADDR[,ADDR]" or "" into out (NULL: only check); *n entries. */
static int parse_mqtt_listen(const char *value, dps_listen_addr *out, size_t *n, char *err,
                             size_t errlen)
{
    *n = 0;
    for (const char *p = value; *p != '\0';) {
        size_t len = strcspn(p, ",");
        char item[300];
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0 || len >= sizeof item || *n == DPS_CONF_MAX_LIST) {
            set_err(err, errlen, "'%s': up to %d addresses host:port or [ipv6]:port, or nothing",
                    value, DPS_CONF_MAX_LIST);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (dps_listen_addr_parse(item, out != NULL ? &out[*n] : NULL, err, errlen) != 0)
            return -1;
        (*n)++;
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    return 0;
}

static int check_mqtt_listen(const char *value, char *err, size_t errlen)
{
    size_t n;
    return parse_mqtt_listen(value, NULL, &n, err, errlen);
}

static int check_optional_host_name(const char *value, char *err, size_t errlen)
{
    return value[0] == '\0' ? 0 : dps_host_port_check(value, err, errlen);
}

static int check_not_empty(const char *value, char *err, size_t errlen)
{
    if (value[0] == '\0') {
        set_err(err, errlen, "must not be empty");
        return -1;
    }
    return 0;
}

/* A comma-separated list of up to 8 api-version names (letters, digits,
 * '-', '.'), or nothing. A string option rather than a list: lists cannot
 * default to empty. */
static int check_api_versions(const char *value, char *err, size_t errlen)
{
    size_t entries = 0;
    const char *p = value;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        size_t ok = 0;
        while (ok < n && (isalnum((unsigned char)p[ok]) || p[ok] == '-' || p[ok] == '.'))
            ok++;
        if (n == 0 || ok != n || n > 40) {
            set_err(err, errlen, "'%s': comma-separated api-versions such as 2019-03-31",
                    value);
            return -1;
        }
        if (++entries > 8) {
            set_err(err, errlen, "at most 8 api-versions");
            return -1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

#define FIELD(f) offsetof(struct dpsd_config, f)

static const dps_conf_option options[] = {
    {"listen", DPS_CONF_LIST, FIELD(listen), "127.0.0.1:8443", 0, 0, NULL, "ADDR[,ADDR]",
     check_listen,
     "HTTPS listen address(es): host:port or [ipv6]:port; port 0 picks a free port; "
     "repeat or separate with commas"},
    {"mqtt_listen", DPS_CONF_STRING, FIELD(mqtt_listen), "127.0.0.1:8883", 0, 0, NULL,
     "ADDR[,ADDR]", check_mqtt_listen,
     "device API over MQTT (TLS) listen address(es), comma-separated; empty: no MQTT endpoint"},
    {"host_name", DPS_CONF_LIST, FIELD(host_name), "localhost", 0, 0, NULL, "NAME[,NAME]",
     dps_host_port_check,
     "host name(s) clients use for the service API; the first goes into the connection "
     "string; each is also put in the generated server certificate"},
    {"device_host_name", DPS_CONF_STRING, FIELD(device_host_name), "", 0, 0, NULL, "NAME",
     check_optional_host_name, "host name devices use as provisioning host (default: the "
     "first host_name)"},
    {"data_dir", DPS_CONF_STRING, FIELD(data_dir), "./dpsd-data", 0, 0, NULL, "DIR",
     check_not_empty, "directory for the database and the generated PKI"},
    {"tls_cert", DPS_CONF_STRING, FIELD(tls_cert), "", 0, 0, NULL, "FILE", NULL,
     "server certificate chain (PEM); empty: generate a local CA in DATA_DIR/pki"},
    {"tls_key", DPS_CONF_STRING, FIELD(tls_key), "", 0, 0, NULL, "FILE", NULL,
     "private key of tls_cert (PEM); set both or neither"},
    {"store", DPS_CONF_STRING, FIELD(store), "", 0, 0, NULL, "URL", NULL,
     "store: sqlite:PATH (default: sqlite:DATA_DIR/dpsd.db)"},
    {"log_level", DPS_CONF_LOG_LEVEL, FIELD(log_level), "info", 0, 0, NULL, "LEVEL", NULL,
     "error, warn, info or debug"},
    {"max_body_bytes", DPS_CONF_INT, FIELD(max_body_bytes), "98304", 1024, 16 * 1024 * 1024,
     NULL, "BYTES", NULL, "largest request body accepted (bigger: 413)"},
    {"connection_timeout", DPS_CONF_INT, FIELD(connection_timeout), "60", 1, 3600, NULL,
     "SECONDS", NULL, "close a connection idle (or stalled mid-request) this long"},
    {"retry_after", DPS_CONF_INT, FIELD(retry_after), "1", 1, 300, NULL, "SECONDS", NULL,
     "retry-after devices get with every 202 of the device API (clients accept 1..300)"},
    {"operation_ttl", DPS_CONF_INT, FIELD(operation_ttl), "600", 10, 86400, NULL, "SECONDS",
     NULL, "how long a finished registration operation stays in memory for polls (later "
     "polls are answered from the registration record)"},
    {"max_operations", DPS_CONF_INT, FIELD(max_operations), "10000", 1, 10000000, NULL, "N",
     NULL, "registration operations held in memory at once; beyond it registrations get 429"},
    {"extra_api_versions", DPS_CONF_STRING, FIELD(extra_api_versions), "", 0, 0, NULL,
     "VERSION[,VERSION]", check_api_versions,
     "device api-versions to admit besides the built-in table (docs/device-api.md)"},
    {"hub_timeout", DPS_CONF_INT, FIELD(hub_timeout), "10", 1, 300, NULL, "SECONDS", NULL,
     "deadline of each registry call to a linked hub; a hub that misses it fails the "
     "registration (503101)"},
    {"hub_max_inflight", DPS_CONF_INT, FIELD(hub_max_inflight), "64", 1, 100000, NULL, "N",
     NULL, "device provisionings talking to hubs at once; the rest wait their turn"},
    {"hub_ca_file", DPS_CONF_STRING, FIELD(hub_ca_file), "", 0, 0, NULL, "FILE", NULL,
     "PEM file of the CAs linked hubs' certificates must chain to (e.g. hubd's ca.pem); "
     "empty: the system trust store"},
};

#define NOPTIONS (sizeof options / sizeof options[0])
_Static_assert(NOPTIONS <= DPS_CONF_MAX_OPTIONS, "the engine tracks at most this many rows");

static const dps_conf_table table = {
    .options = options,
    .noptions = NOPTIONS,
    .state_offset = FIELD(conf),
};

int dpsd_config_set(dpsd_config *cfg, const char *name, const char *value, bool from_flag,
                    char *err, size_t errlen)
{
    return dps_conf_set(&table, cfg, name, value,
                        from_flag ? DPS_CONF_SRC_FLAG : DPS_CONF_SRC_FILE, err, errlen);
}

int dpsd_config_init(dpsd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char err[512];
    if (dps_conf_init(&table, cfg, err, sizeof err) != 0) {
        log_error("config: %s", err);
        return -1;
    }
    return 0;
}

void dpsd_config_free(dpsd_config *cfg)
{
    if (cfg == NULL)
        return;
    dps_conf_free(&table, cfg);
    free(cfg->config_file);
    cfg->config_file = NULL;
}

int dpsd_config_load_file(dpsd_config *cfg, const char *path, char *err, size_t errlen)
{
    return dps_conf_load_file(&table, cfg, path, err, errlen);
}

/* ---- derived values and cross-checks ------------------------------------ */

/* Joins a relative path to the working directory and removes "." and ".."
 * components and doubled slashes, without touching the file system (the
 * directory may not exist yet; --check must not create it). */
static char *absolute_path(const char *path)
{
    char *joined;
    if (path[0] == '/') {
        joined = strdup(path);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (cwd == NULL)
            return NULL;
        size_t n = strlen(cwd) + 1 + strlen(path) + 1;
        joined = malloc(n);
        if (joined != NULL)
            snprintf(joined, n, "%s/%s", cwd, path);
        free(cwd);
    }
    if (joined == NULL)
        return NULL;

    size_t n = strlen(joined);
    char *out = malloc(n + 2);
    if (out == NULL) {
        free(joined);
        return NULL;
    }
    size_t o = 0;
    const char *p = joined;
    while (*p != '\0') {
        while (*p == '/')
            p++;
        size_t seg = strcspn(p, "/");
        if (seg == 0)
            break;
        if (seg == 1 && p[0] == '.') {
            /* "." : nothing */
        } else if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* drop the slash too */
        } else {
            out[o++] = '/';
            memcpy(out + o, p, seg);
            o += seg;
        }
        p += seg;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    free(joined);
    return out;
}

static int replace_string(char **slot, char *value, char *err, size_t errlen)
{
    if (value == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    free(*slot);
    *slot = value;
    return 0;
}

int dpsd_config_finish(dpsd_config *cfg, char *err, size_t errlen)
{
    if (replace_string(&cfg->data_dir, absolute_path(cfg->data_dir), err, errlen) != 0)
        return -1;

    if (cfg->store[0] == '\0') {
        /* data_dir is absolute and normalised: it ends in '/' only when it
         * is the root. */
        const char *sep = strcmp(cfg->data_dir, "/") == 0 ? "" : "/";
        size_t n = strlen("sqlite:") + strlen(cfg->data_dir) + strlen("/dpsd.db") + 1;
        char *url = malloc(n);
        if (url != NULL)
            snprintf(url, n, "sqlite:%s%sdpsd.db", cfg->data_dir, sep);
        if (replace_string(&cfg->store, url, err, errlen) != 0)
            return -1;
    }

    if (cfg->host_name.count == 0) {
        set_err(err, errlen, "host_name: at least one host name is needed");
        return -1;
    }
    if (cfg->device_host_name[0] == '\0' &&
        replace_string(&cfg->device_host_name, strdup(cfg->host_name.items[0]), err,
                       errlen) != 0)
        return -1;

    bool have_cert = cfg->tls_cert[0] != '\0';
    bool have_key = cfg->tls_key[0] != '\0';
    if (have_cert != have_key) {
        set_err(err, errlen, "tls_cert and tls_key: set both (own certificate) or neither "
                             "(generated local CA)");
        return -1;
    }

    if (cfg->listen.count == 0) {
        set_err(err, errlen, "listen: at least one address is needed");
        return -1;
    }
    cfg->nlisten = 0;
    for (size_t i = 0; i < cfg->listen.count; i++) {
        char reason[300];
        if (dps_listen_addr_parse(cfg->listen.items[i], &cfg->listen_addrs[i], reason,
                                  sizeof reason) != 0) {
            set_err(err, errlen, "listen: %s", reason);
            return -1;
        }
        cfg->nlisten = i + 1;
    }
    if (parse_mqtt_listen(cfg->mqtt_listen, cfg->mqtt_addrs, &cfg->nmqtt, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < cfg->nmqtt; i++) {
        for (size_t k = 0; k < cfg->nlisten; k++) {
            const dps_listen_addr *a = &cfg->mqtt_addrs[i], *b = &cfg->listen_addrs[k];
            if (a->port != 0 && a->port == b->port && strcmp(a->host, b->host) == 0) {
                set_err(err, errlen, "listen and mqtt_listen both use %s port %u", a->host,
                        (unsigned)a->port);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- the whole load ----------------------------------------------------- */

int dpsd_config_load(dpsd_config *cfg, int argc, char *const argv[], dpsd_action *action,
                     char *err, size_t errlen)
{
    *action = DPSD_ACTION_RUN;
    if (dpsd_config_init(cfg) != 0) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    dps_conf_action what;
    const char *config_file = NULL;
    int rc = dps_conf_parse_args(&table, cfg, argc, argv, &what, &config_file, err, errlen);
    /* Recorded even when the file fails to load, for whoever reports it. */
    if (config_file != NULL) {
        cfg->config_file = strdup(config_file);
        if (cfg->config_file == NULL) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
    }
    if (rc != 0)
        return -1;
    switch (what) {
    case DPS_CONF_ACTION_HELP:
        *action = DPSD_ACTION_HELP;
        return 0;
    case DPS_CONF_ACTION_VERSION:
        *action = DPSD_ACTION_VERSION;
        return 0;
    case DPS_CONF_ACTION_CHECK:
    case DPS_CONF_ACTION_RUN:
        break;
    }
    if (dpsd_config_finish(cfg, err, errlen) != 0)
        return -1;
    *action = what == DPS_CONF_ACTION_CHECK ? DPSD_ACTION_CHECK : DPSD_ACTION_RUN;
    return 0;
}

/* ---- display ------------------------------------------------------------ */

void dpsd_config_store_display(const char *url, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    /* "scheme://user:password@host/..." -> "scheme://user:***@host/...". A
     * key=value connection string ("password=...") is cut at the password. */
    const char *scheme_end = strstr(url, "://");
    const char *at = scheme_end != NULL ? strchr(scheme_end + 3, '@') : NULL;
    const char *colon = NULL;
    if (at != NULL) {
        colon = memchr(scheme_end + 3, ':', (size_t)(at - (scheme_end + 3)));
    }
    if (colon != NULL) {
        snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
        return;
    }
    const char *pw = strstr(url, "password=");
    if (pw != NULL) {
        const char *end = pw + strcspn(pw, " &;");
        snprintf(out, outlen, "%.*spassword=***%s", (int)(pw - url), url, end);
        return;
    }
    snprintf(out, outlen, "%s", url);
}

void dpsd_config_print_help(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s [options]\n"
            "\n"
            "opendps provisioning service daemon: service, admin and device APIs over HTTPS.\n"
            "\n"
            "Options (each is also a 'name = value' line in the --config file; flags win):\n",
            prog);
    dps_conf_print_options(&table, out);
    fprintf(out, "\nCommand line only:\n");
    dps_conf_print_cli_help(out);
}
