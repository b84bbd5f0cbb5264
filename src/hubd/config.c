/* hubd configuration (see config.h). The option table below is the single
 * description of every hubd option; the engine (common/conftable.c) reads it
 * for the file parser, the flag parser, --help and the defaults. What stays
 * here is hubd's own: its value checks, the cross-checks and the derived
 * values. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/hubs.h"
#include "model/telemetry.h"

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

static int check_hub(const char *value, char *err, size_t errlen)
{
    /* The hub name is the SAS audience, the MQTT username prefix and a
     * certificate name: a plain DNS name, no port (every hub shares the
     * listeners, so a port would mean nothing). */
    char canon[HUBD_HUB_NAME_SIZE];
    if (!hubd_hub_canon(value, canon)) {
        set_err(err, errlen, "'%s': a hub is a DNS name (letters, digits, '-' and '.'; no port)",
                value);
        return -1;
    }
    return 0;
}

static int check_not_empty(const char *value, char *err, size_t errlen)
{
    if (value[0] == '\0') {
        set_err(err, errlen, "must not be empty");
        return -1;
    }
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

#define FIELD(f) offsetof(struct hubd_config, f)
#define STR_(x) #x
#define STR(x) STR_(x)

static const dps_conf_option options[] = {
    {"rest_listen", DPS_CONF_LIST, FIELD(rest_listen), "127.0.0.1:8444", 0, 0, NULL,
     "ADDR[,ADDR]", check_listen,
     "HTTPS listen address(es) of the registry, twin and method APIs: host:port or "
     "[ipv6]:port; port 0 picks a free port"},
    {"mqtt_listen", DPS_CONF_LIST, FIELD(mqtt_listen), "127.0.0.1:8884", 0, 0, NULL,
     "ADDR[,ADDR]", check_listen,
     "MQTT over TLS listen address(es) of the device endpoint; port 0 picks a free port"},
    {"hub", DPS_CONF_LIST, FIELD(hub), "hub1.opendps.local", 0, 0, NULL, "NAME[,NAME]",
     check_hub,
     "host name(s) of the hubs to host; each is created with its default access policies "
     "on first start, and put in the generated server certificate"},
    {"data_dir", DPS_CONF_STRING, FIELD(data_dir), "./hubd-data", 0, 0, NULL, "DIR",
     check_not_empty, "directory for the database, the admin key and the generated PKI"},
    {"tls_cert", DPS_CONF_STRING, FIELD(tls_cert), "", 0, 0, NULL, "FILE", NULL,
     "server certificate chain (PEM); empty: generate a local CA in DATA_DIR/pki"},
    {"tls_key", DPS_CONF_STRING, FIELD(tls_key), "", 0, 0, NULL, "FILE", NULL,
     "private key of tls_cert (PEM); set both or neither"},
    {"store", DPS_CONF_STRING, FIELD(store), "", 0, 0, NULL, "URL", NULL,
     "store: sqlite:PATH (default: sqlite:DATA_DIR/hubd.db)"},
    {"log_level", DPS_CONF_LOG_LEVEL, FIELD(log_level), "info", 0, 0, NULL, "LEVEL", NULL,
     "error, warn, info or debug"},
    {"max_body_bytes", DPS_CONF_INT, FIELD(max_body_bytes), "262144", 1024, 16 * 1024 * 1024,
     NULL, "BYTES", NULL, "largest REST request body accepted (bigger: 413)"},
    {"connection_timeout", DPS_CONF_INT, FIELD(connection_timeout), "60", 1, 3600, NULL,
     "SECONDS", NULL, "close a REST connection idle (or stalled mid-request) this long"},
    {"max_connections", DPS_CONF_INT, FIELD(max_connections), "10000", 1, 1000000, NULL,
     "N", NULL, "most device (MQTT) connections at once, all hubs together; more are refused"},
    {"telemetry_log_size", DPS_CONF_INT, FIELD(telemetry_log_size),
     STR(HUBD_TELEMETRY_DEFAULT_MESSAGES), 1, 1000000, NULL, "N", NULL,
     "device-to-cloud messages kept in memory per hub for GET /_hubd/telemetry; the oldest "
     "drop out"},
    {"telemetry_log_bytes", DPS_CONF_INT, FIELD(telemetry_log_bytes), "67108864", 65536,
     (int64_t)8 << 30, NULL, "BYTES", NULL,
     "memory the kept messages of one hub may use (bodies and properties); the oldest drop "
     "out first"},
};

#define NOPTIONS (sizeof options / sizeof options[0])
_Static_assert(NOPTIONS <= DPS_CONF_MAX_OPTIONS, "the engine tracks at most this many rows");

static const dps_conf_table table = {
    .options = options,
    .noptions = NOPTIONS,
    .state_offset = FIELD(conf),
};

int hubd_config_set(hubd_config *cfg, const char *name, const char *value, bool from_flag,
                    char *err, size_t errlen)
{
    return dps_conf_set(&table, cfg, name, value,
                        from_flag ? DPS_CONF_SRC_FLAG : DPS_CONF_SRC_FILE, err, errlen);
}

int hubd_config_init(hubd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char err[512];
    if (dps_conf_init(&table, cfg, err, sizeof err) != 0) {
        log_error("config: %s", err);
        return -1;
    }
    return 0;
}

void hubd_config_free(hubd_config *cfg)
{
    if (cfg == NULL)
        return;
    dps_conf_free(&table, cfg);
    free(cfg->config_file);
    cfg->config_file = NULL;
}

int hubd_config_load_file(hubd_config *cfg, const char *path, char *err, size_t errlen)
{
    return dps_conf_load_file(&table, cfg, path, err, errlen);
}

/* ---- derived values and cross-checks ------------------------------------ */

/* cwd + path with ".", ".." and doubled slashes resolved lexically: the
 * directory may not exist yet and --check must not create it, so realpath()
 * cannot be used. NULL when out of memory or without a working directory. */
static char *absolute_path(const char *path)
{
    char *cwd = NULL;
    if (path[0] != '/') {
        cwd = getcwd(NULL, 0);
        if (cwd == NULL)
            return NULL;
    }
    size_t n = (cwd != NULL ? strlen(cwd) : 0) + strlen(path) + 3;
    char *joined = malloc(n);
    char *out = malloc(n);
    if (joined == NULL || out == NULL) {
        free(cwd);
        free(joined);
        free(out);
        return NULL;
    }
    snprintf(joined, n, "%s/%s", cwd != NULL ? cwd : "", path);
    free(cwd);

    size_t o = 0;
    for (const char *p = joined; *p != '\0';) {
        while (*p == '/')
            p++;
        size_t seg = strcspn(p, "/");
        if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* and the slash before it */
        } else if (seg > 0 && !(seg == 1 && p[0] == '.')) {
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

static int parse_addrs(const char *name, const dps_conf_list *l, dps_listen_addr *out,
                       size_t *n, char *err, size_t errlen)
{
    if (l->count == 0) {
        set_err(err, errlen, "%s: at least one address is needed", name);
        return -1;
    }
    *n = 0;
    for (size_t i = 0; i < l->count; i++) {
        char reason[300];
        if (dps_listen_addr_parse(l->items[i], &out[i], reason, sizeof reason) != 0) {
            set_err(err, errlen, "%s: %s", name, reason);
            return -1;
        }
        *n = i + 1;
    }
    return 0;
}

/* REST and MQTT listeners must not ask for the same fixed port on an
 * overlapping address; catching it here gives a config error (exit 2)
 * instead of a bind failure half-way through start-up. */
static int check_port_clash(const hubd_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->nrest; i++) {
        for (size_t k = 0; k < cfg->nmqtt; k++) {
            const dps_listen_addr *a = &cfg->rest_addrs[i];
            const dps_listen_addr *b = &cfg->mqtt_addrs[k];
            if (a->port != 0 && a->port == b->port && strcmp(a->host, b->host) == 0) {
                set_err(err, errlen, "rest_listen and mqtt_listen both use %s port %u",
                        a->host, (unsigned)a->port);
                return -1;
            }
        }
    }
    return 0;
}

static int canon_hubs(hubd_config *cfg, char *err, size_t errlen)
{
    if (cfg->hub.count == 0) {
        set_err(err, errlen, "hub: at least one hub is needed");
        return -1;
    }
    for (size_t i = 0; i < cfg->hub.count; i++) {
        char canon[HUBD_HUB_NAME_SIZE];
        if (!hubd_hub_canon(cfg->hub.items[i], canon)) {
            set_err(err, errlen, "hub: '%s' is not a DNS name", cfg->hub.items[i]);
            return -1;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(cfg->hub.items[k], canon) == 0) {
                set_err(err, errlen, "hub: '%s' is listed twice", cfg->hub.items[i]);
                return -1;
            }
        }
        if (replace_string(&cfg->hub.items[i], strdup(canon), err, errlen) != 0)
            return -1;
    }
    return 0;
}

int hubd_config_finish(hubd_config *cfg, char *err, size_t errlen)
{
    if (replace_string(&cfg->data_dir, absolute_path(cfg->data_dir), err, errlen) != 0)
        return -1;
    if (cfg->store[0] == '\0') {
        /* data_dir is absolute and normalised: it ends in '/' only when it
         * is the root. */
        const char *sep = strcmp(cfg->data_dir, "/") == 0 ? "" : "/";
        size_t n = strlen("sqlite:") + strlen(cfg->data_dir) + strlen("/hubd.db") + 1;
        char *url = malloc(n);
        if (url != NULL)
            snprintf(url, n, "sqlite:%s%shubd.db", cfg->data_dir, sep);
        if (replace_string(&cfg->store, url, err, errlen) != 0)
            return -1;
    }
    if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        set_err(err, errlen, "tls_cert and tls_key: set both (own certificate) or neither "
                             "(generated local CA)");
        return -1;
    }
    if (parse_addrs("rest_listen", &cfg->rest_listen, cfg->rest_addrs, &cfg->nrest, err,
                    errlen) != 0 ||
        parse_addrs("mqtt_listen", &cfg->mqtt_listen, cfg->mqtt_addrs, &cfg->nmqtt, err,
                    errlen) != 0 ||
        check_port_clash(cfg, err, errlen) != 0)
        return -1;
    return canon_hubs(cfg, err, errlen);
}

/* ---- the whole load ----------------------------------------------------- */

int hubd_config_load(hubd_config *cfg, int argc, char *const argv[], hubd_action *action,
                     char *err, size_t errlen)
{
    *action = HUBD_ACTION_RUN;
    if (hubd_config_init(cfg) != 0) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    dps_conf_action what;
    const char *config_file = NULL;
    int rc = dps_conf_parse_args(&table, cfg, argc, argv, &what, &config_file, err, errlen);
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
        *action = HUBD_ACTION_HELP;
        return 0;
    case DPS_CONF_ACTION_VERSION:
        *action = HUBD_ACTION_VERSION;
        return 0;
    case DPS_CONF_ACTION_CHECK:
    case DPS_CONF_ACTION_RUN:
        break;
    }
    if (hubd_config_finish(cfg, err, errlen) != 0)
        return -1;
    *action = what == DPS_CONF_ACTION_CHECK ? HUBD_ACTION_CHECK : HUBD_ACTION_RUN;
    return 0;
}

/* ---- display ------------------------------------------------------------ */

void hubd_config_store_display(const char *url, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    /* "scheme://user:password@host/..." -> "scheme://user:***@host/...";
     * "...password=secret..." -> "...password=***...". */
    const char *scheme_end = strstr(url, "://");
    const char *at = scheme_end != NULL ? strchr(scheme_end + 3, '@') : NULL;
    const char *colon =
        at != NULL ? memchr(scheme_end + 3, ':', (size_t)(at - (scheme_end + 3))) : NULL;
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

void hubd_config_print_help(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s [options]\n"
            "\n"
            "opendps hub daemon: hosts IoT hubs (registry, twin and method APIs over HTTPS,\n"
            "device endpoint over MQTT/TLS).\n"
            "\n"
            "Options (each is also a 'name = value' line in the --config file; flags win):\n",
            prog);
    dps_conf_print_options(&table, out);
    fprintf(out, "\nCommand line only:\n");
    dps_conf_print_cli_help(out);
}
