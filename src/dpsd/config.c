/* dpsd configuration (see config.h). The option table below is the single
 * description of every option: the file parser, the flag parser, --help and
 * the defaults all read it. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/strparse.h"

/* Where an option's value came from; a higher source replaces a list set by
 * a lower one instead of appending to it. */
enum { SRC_DEFAULT = 0, SRC_FILE = 1, SRC_FLAG = 2 };

typedef enum {
    OPT_STRING,    /* char * */
    OPT_LIST,      /* dpsd_strlist: comma-separated and/or repeated */
    OPT_INT,       /* int64_t within [min, max] */
    OPT_LOG_LEVEL, /* dps_log_level */
} opt_type;

/* Checks one value (one list entry for OPT_LIST); writes the reason. */
typedef int (*opt_check_fn)(const char *value, char *err, size_t errlen);

typedef struct {
    const char *name;    /* file key; the flag is "--" + name with '_' -> '-' */
    opt_type type;
    size_t offset;       /* of the field in struct dpsd_config */
    const char *def;     /* default, as text: goes through the same parser */
    int64_t min, max;    /* OPT_INT bounds */
    const char *metavar; /* for --help */
    opt_check_fn check;
    const char *help;
} opt_def;

static int check_listen(const char *value, char *err, size_t errlen);
static int check_host_name(const char *value, char *err, size_t errlen);
static int check_optional_host_name(const char *value, char *err, size_t errlen);
static int check_not_empty(const char *value, char *err, size_t errlen);

#define FIELD(f) offsetof(struct dpsd_config, f)

static const opt_def options[] = {
    {"listen", OPT_LIST, FIELD(listen), "127.0.0.1:8443", 0, 0, "ADDR[,ADDR]", check_listen,
     "HTTPS listen address(es): host:port or [ipv6]:port; port 0 picks a free port; "
     "repeat or separate with commas"},
    {"host_name", OPT_LIST, FIELD(host_name), "localhost", 0, 0, "NAME[,NAME]",
     check_host_name,
     "host name(s) clients use for the service API; the first goes into the connection "
     "string; each is also put in the generated server certificate"},
    {"device_host_name", OPT_STRING, FIELD(device_host_name), "", 0, 0, "NAME",
     check_optional_host_name, "host name devices use as provisioning host (default: the first "
     "host_name)"},
    {"data_dir", OPT_STRING, FIELD(data_dir), "./dpsd-data", 0, 0, "DIR", check_not_empty,
     "directory for the database and the generated PKI"},
    {"tls_cert", OPT_STRING, FIELD(tls_cert), "", 0, 0, "FILE", NULL,
     "server certificate chain (PEM); empty: generate a local CA in DATA_DIR/pki"},
    {"tls_key", OPT_STRING, FIELD(tls_key), "", 0, 0, "FILE", NULL,
     "private key of tls_cert (PEM); set both or neither"},
    {"store", OPT_STRING, FIELD(store), "", 0, 0, "URL", NULL,
     "store: sqlite:PATH (default: sqlite:DATA_DIR/dpsd.db)"},
    {"log_level", OPT_LOG_LEVEL, FIELD(log_level), "info", 0, 0, "LEVEL", NULL,
     "error, warn, info or debug"},
    {"max_body_bytes", OPT_INT, FIELD(max_body_bytes), "98304", 1024, 16 * 1024 * 1024,
     "BYTES", NULL, "largest request body accepted (bigger: 413)"},
    {"connection_timeout", OPT_INT, FIELD(connection_timeout), "60", 1, 3600, "SECONDS", NULL,
     "close a connection idle (or stalled mid-request) this long"},
};

#define NOPTIONS (sizeof options / sizeof options[0])
_Static_assert(NOPTIONS <= DPSD_CONFIG_MAX_OPTIONS, "source[] too small for the table");

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

static void *field_ptr(dpsd_config *cfg, const opt_def *o)
{
    return (char *)cfg + o->offset;
}

static const opt_def *find_option(const char *name, size_t *index)
{
    /* Accept '-' for '_' so "host-name" works in a file and "--host_name" on
     * the command line. */
    char norm[64];
    size_t n = strlen(name);
    if (n >= sizeof norm)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        norm[i] = name[i] == '-' ? '_' : name[i];
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (strcmp(options[i].name, norm) == 0) {
            if (index != NULL)
                *index = i;
            return &options[i];
        }
    }
    return NULL;
}

static void strlist_clear(dpsd_strlist *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i]);
        l->items[i] = NULL;
    }
    l->count = 0;
}

/* Copies [s, s+len) without surrounding blanks. */
static char *dup_trimmed(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return strndup(s, len);
}

/* ---- value checks ------------------------------------------------------- */

int dpsd_parse_listen(const char *text, dpsd_listen_addr *out, char *err, size_t errlen)
{
    const char *host = text;
    size_t hostlen;
    const char *portp;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':') {
            set_err(err, errlen, "'%s': expected [ipv6]:port", text);
            return -1;
        }
        host = text + 1;
        hostlen = (size_t)(close - host);
        portp = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL) {
            set_err(err, errlen, "'%s': expected host:port", text);
            return -1;
        }
        hostlen = (size_t)(colon - text);
        if (memchr(text, ':', hostlen) != NULL) {
            set_err(err, errlen, "'%s': write an IPv6 address in brackets, e.g. [::1]:8443",
                    text);
            return -1;
        }
        portp = colon + 1;
    }
    if (hostlen == 0 || hostlen >= sizeof out->host) {
        set_err(err, errlen, "'%s': missing or overlong host", text);
        return -1;
    }
    char hostbuf[sizeof out->host];
    memcpy(hostbuf, host, hostlen);
    hostbuf[hostlen] = '\0';
    if (text[0] == '[') {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, hostbuf, &a6) != 1) {
            set_err(err, errlen, "'%s': not an IPv6 address in brackets", text);
            return -1;
        }
    } else {
        for (const char *p = hostbuf; *p != '\0'; p++) {
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-') {
                set_err(err, errlen, "'%s': invalid character in host", text);
                return -1;
            }
        }
    }
    int64_t port;
    if (dps_parse_int64(portp, strlen(portp), 0, 65535, &port) != 0 || portp[0] == '-') {
        set_err(err, errlen, "'%s': port must be a number from 0 to 65535", text);
        return -1;
    }
    if (out != NULL) {
        memcpy(out->host, hostbuf, hostlen + 1);
        out->port = (uint16_t)port;
    }
    return 0;
}

int dpsd_split_host_port(const char *text, char *host, size_t hostlen, int *port)
{
    const char *colon = strchr(text, ':');
    size_t n = colon != NULL ? (size_t)(colon - text) : strlen(text);
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, text, n);
    host[n] = '\0';
    *port = -1;
    if (colon != NULL) {
        int64_t p;
        if (dps_parse_int64(colon + 1, strlen(colon + 1), 1, 65535, &p) != 0 ||
            colon[1] == '-')
            return -1;
        *port = (int)p;
    }
    return 0;
}

static int check_host_name(const char *value, char *err, size_t errlen)
{
    char host[DPSD_HOST_NAME_MAX + 1];
    int port;
    if (dpsd_split_host_port(value, host, sizeof host, &port) != 0) {
        set_err(err, errlen, "'%s': expected a host name, optionally with :port (1-65535)",
                value);
        return -1;
    }
    /* DNS names and IPv4 literals: letters, digits, '-' and '.'. The name
     * goes into certificates, SAS audiences and connection strings, so
     * anything else (spaces, ';', '=') would corrupt those. */
    for (const char *p = host; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-') {
            set_err(err, errlen, "'%s': a host name has only letters, digits, '-' and '.'",
                    value);
            return -1;
        }
    }
    return 0;
}

static int check_optional_host_name(const char *value, char *err, size_t errlen)
{
    return value[0] == '\0' ? 0 : check_host_name(value, err, errlen);
}

static int check_listen(const char *value, char *err, size_t errlen)
{
    return dpsd_parse_listen(value, NULL, err, errlen);
}

static int check_not_empty(const char *value, char *err, size_t errlen)
{
    if (value[0] == '\0') {
        set_err(err, errlen, "must not be empty");
        return -1;
    }
    return 0;
}

/* ---- setting values ----------------------------------------------------- */

static int list_add(dpsd_strlist *l, const opt_def *o, const char *value, char *err,
                    size_t errlen)
{
    const char *p = value;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *item = dup_trimmed(p, len);
        if (item == NULL) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
        if (item[0] == '\0') {
            free(item);
            set_err(err, errlen, "empty entry in list");
            return -1;
        }
        if (o->check != NULL && o->check(item, err, errlen) != 0) {
            free(item);
            return -1;
        }
        if (l->count == DPSD_CONFIG_MAX_LIST) {
            free(item);
            set_err(err, errlen, "at most %d entries", DPSD_CONFIG_MAX_LIST);
            return -1;
        }
        l->items[l->count++] = item;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

/* Sets options[idx] from text; writes only the reason into err. */
static int set_option(dpsd_config *cfg, size_t idx, const char *value, int src, char *err,
                      size_t errlen)
{
    const opt_def *o = &options[idx];
    void *field = field_ptr(cfg, o);

    if (strlen(value) > DPSD_CONFIG_MAX_VALUE) {
        set_err(err, errlen, "value longer than %d bytes", DPSD_CONFIG_MAX_VALUE);
        return -1;
    }
    switch (o->type) {
    case OPT_STRING: {
        if (o->check != NULL && o->check(value, err, errlen) != 0)
            return -1;
        char *copy = strdup(value);
        if (copy == NULL) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
        char **slot = field;
        free(*slot);
        *slot = copy;
        break;
    }
    case OPT_LIST: {
        dpsd_strlist *l = field;
        /* Work on a copy so a bad entry leaves the option as it was. */
        dpsd_strlist next = {0};
        if (src <= cfg->source[idx]) {
            for (size_t i = 0; i < l->count; i++) {
                next.items[i] = strdup(l->items[i]);
                if (next.items[i] == NULL) {
                    strlist_clear(&next);
                    set_err(err, errlen, "out of memory");
                    return -1;
                }
                next.count = i + 1;
            }
        }
        if (list_add(&next, o, value, err, errlen) != 0) {
            strlist_clear(&next);
            return -1;
        }
        strlist_clear(l);
        *l = next;
        break;
    }
    case OPT_INT: {
        int64_t v;
        if (dps_parse_int64(value, strlen(value), o->min, o->max, &v) != 0) {
            set_err(err, errlen, "'%s': must be an integer from %lld to %lld", value,
                    (long long)o->min, (long long)o->max);
            return -1;
        }
        *(int64_t *)field = v;
        break;
    }
    case OPT_LOG_LEVEL: {
        dps_log_level lv;
        if (!dps_log_level_parse(value, &lv)) {
            set_err(err, errlen, "'%s': must be error, warn, info or debug", value);
            return -1;
        }
        *(dps_log_level *)field = lv;
        break;
    }
    }
    if (src > cfg->source[idx])
        cfg->source[idx] = (unsigned char)src;
    return 0;
}

int dpsd_config_set(dpsd_config *cfg, const char *name, const char *value, bool from_flag,
                    char *err, size_t errlen)
{
    size_t idx;
    if (find_option(name, &idx) == NULL) {
        set_err(err, errlen, "unknown option '%s'", name);
        return -1;
    }
    char reason[512];
    if (set_option(cfg, idx, value, from_flag ? SRC_FLAG : SRC_FILE, reason, sizeof reason) !=
        0) {
        set_err(err, errlen, "%s: %s", options[idx].name, reason);
        return -1;
    }
    return 0;
}

int dpsd_config_init(dpsd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTIONS; i++) {
        char reason[256];
        /* The defaults are part of the table and checked like any value; a
         * failure here is a bug in the table or no memory. */
        if (set_option(cfg, i, options[i].def, SRC_DEFAULT, reason, sizeof reason) != 0) {
            log_error("config: default of %s: %s", options[i].name, reason);
            dpsd_config_free(cfg);
            return -1;
        }
    }
    return 0;
}

void dpsd_config_free(dpsd_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NOPTIONS; i++) {
        void *field = field_ptr(cfg, &options[i]);
        if (options[i].type == OPT_STRING) {
            char **slot = field;
            free(*slot);
            *slot = NULL;
        } else if (options[i].type == OPT_LIST) {
            strlist_clear(field);
        }
    }
    free(cfg->config_file);
    cfg->config_file = NULL;
}

/* ---- the config file ---------------------------------------------------- */

static int read_whole_file(const char *path, char **out, size_t *outlen, char *err,
                           size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(DPSD_CONFIG_MAX_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, DPSD_CONFIG_MAX_FILE + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        set_err(err, errlen, "%s: read error", path);
        return -1;
    }
    if (n > DPSD_CONFIG_MAX_FILE) {
        free(buf);
        set_err(err, errlen, "%s: larger than %d bytes", path, DPSD_CONFIG_MAX_FILE);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

static int parse_line(dpsd_config *cfg, const char *path, unsigned lineno, const char *line,
                      size_t len, char *err, size_t errlen)
{
    char *text = dup_trimmed(line, len);
    if (text == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    char *key = NULL;
    char *value = NULL;
    if (text[0] == '\0' || text[0] == '#') {
        rc = 0; /* blank or comment */
        goto out;
    }
    char *eq = strchr(text, '=');
    if (eq == NULL) {
        set_err(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
        goto out;
    }
    key = dup_trimmed(text, (size_t)(eq - text));
    value = dup_trimmed(eq + 1, strlen(eq + 1));
    if (key == NULL || value == NULL) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    /* A value may be quoted to make an empty string or keep blanks at its
     * ends explicit; nothing is escaped inside. */
    size_t vlen = strlen(value);
    if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
        memmove(value, value + 1, vlen - 2);
        value[vlen - 2] = '\0';
    }
    size_t idx;
    if (find_option(key, &idx) == NULL) {
        set_err(err, errlen, "%s:%u: unknown option '%s'", path, lineno, key);
        goto out;
    }
    char reason[512];
    if (set_option(cfg, idx, value, SRC_FILE, reason, sizeof reason) != 0) {
        set_err(err, errlen, "%s:%u: %s: %s", path, lineno, options[idx].name, reason);
        goto out;
    }
    rc = 0;
out:
    free(key);
    free(value);
    free(text);
    return rc;
}

int dpsd_config_load_file(dpsd_config *cfg, const char *path, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    if (read_whole_file(path, &buf, &len, err, errlen) != 0)
        return -1;
    if (memchr(buf, '\0', len) != NULL) {
        free(buf);
        set_err(err, errlen, "%s: not a text file (NUL byte)", path);
        return -1;
    }
    int rc = 0;
    unsigned lineno = 0;
    const char *p = buf;
    while (*p != '\0') {
        lineno++;
        size_t linelen = strcspn(p, "\n");
        if (linelen > DPSD_CONFIG_MAX_LINE) {
            set_err(err, errlen, "%s:%u: line longer than %d bytes", path, lineno,
                    DPSD_CONFIG_MAX_LINE);
            rc = -1;
            break;
        }
        /* dup_trimmed drops a trailing '\r' with the other blanks. */
        if (parse_line(cfg, path, lineno, p, linelen, err, errlen) != 0) {
            rc = -1;
            break;
        }
        p += linelen;
        if (*p == '\n')
            p++;
    }
    free(buf);
    return rc;
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
        if (dpsd_parse_listen(cfg->listen.items[i], &cfg->listen_addrs[i], reason,
                              sizeof reason) != 0) {
            set_err(err, errlen, "listen: %s", reason);
            return -1;
        }
        cfg->nlisten = i + 1;
    }
    return 0;
}

/* ---- command line ------------------------------------------------------- */

typedef struct {
    size_t idx;        /* option index, or one of the CLI_* below */
    const char *value; /* NULL for switches */
    char flag[64];     /* as written without "=value", for messages */
} cli_item;

enum {
    CLI_CONFIG = 1000,
    CLI_CHECK,
    CLI_HELP,
    CLI_VERSION,
};

/* Splits argv into recognised flags (with their values) without applying
 * anything, so --help wins over everything and --config is known before
 * the flags that override it. */
static int tokenise(int argc, char *const argv[], cli_item *items, size_t *nitems, char *err,
                    size_t errlen)
{
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        cli_item it = {0};
        snprintf(it.flag, sizeof it.flag, "%.*s", (int)strcspn(arg, "="), arg);
        char name[64];
        const char *inline_value = NULL;

        if (strcmp(arg, "-h") == 0) {
            it.idx = CLI_HELP;
        } else if (strcmp(arg, "-V") == 0) {
            it.idx = CLI_VERSION;
        } else if (strcmp(arg, "-c") == 0) {
            it.idx = CLI_CONFIG;
        } else if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
            const char *eq = strchr(arg, '=');
            size_t nlen = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
            if (nlen >= sizeof name) {
                set_err(err, errlen, "unknown option '%s' (see --help)", arg);
                return -1;
            }
            memcpy(name, arg + 2, nlen);
            name[nlen] = '\0';
            inline_value = eq != NULL ? eq + 1 : NULL;
            size_t idx;
            if (strcmp(name, "config") == 0)
                it.idx = CLI_CONFIG;
            else if (strcmp(name, "check") == 0)
                it.idx = CLI_CHECK;
            else if (strcmp(name, "help") == 0)
                it.idx = CLI_HELP;
            else if (strcmp(name, "version") == 0)
                it.idx = CLI_VERSION;
            else if (find_option(name, &idx) != NULL)
                it.idx = idx;
            else {
                set_err(err, errlen, "unknown option '%s' (see --help)", arg);
                return -1;
            }
        } else {
            set_err(err, errlen, "unexpected argument '%s' (see --help)", arg);
            return -1;
        }

        bool takes_value = it.idx < NOPTIONS || it.idx == CLI_CONFIG;
        if (takes_value) {
            if (inline_value != NULL) {
                it.value = inline_value;
            } else if (i + 1 < argc) {
                it.value = argv[++i];
            } else {
                set_err(err, errlen, "option '%s' needs a value", arg);
                return -1;
            }
        } else if (inline_value != NULL) {
            set_err(err, errlen, "option '%s' takes no value", arg);
            return -1;
        }
        if (n == (size_t)argc) /* cannot happen: one item per argument at most */
            return -1;
        items[n++] = it;
    }
    *nitems = n;
    return 0;
}

int dpsd_config_load(dpsd_config *cfg, int argc, char *const argv[], dpsd_action *action,
                     char *err, size_t errlen)
{
    *action = DPSD_ACTION_RUN;
    if (dpsd_config_init(cfg) != 0) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    if (argc < 1)
        argc = 1;
    cli_item *items = calloc((size_t)argc, sizeof *items);
    if (items == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    size_t nitems = 0;
    if (tokenise(argc, argv, items, &nitems, err, errlen) != 0)
        goto out;

    const char *config_file = NULL;
    bool check = false;
    for (size_t i = 0; i < nitems; i++) {
        if (items[i].idx == CLI_HELP) {
            *action = DPSD_ACTION_HELP;
            rc = 0;
            goto out;
        }
        if (items[i].idx == CLI_VERSION) {
            *action = DPSD_ACTION_VERSION;
            rc = 0;
            goto out;
        }
        if (items[i].idx == CLI_CHECK)
            check = true;
        if (items[i].idx == CLI_CONFIG)
            config_file = items[i].value; /* the last one counts */
    }

    if (config_file != NULL) {
        cfg->config_file = strdup(config_file);
        if (cfg->config_file == NULL) {
            set_err(err, errlen, "out of memory");
            goto out;
        }
        if (dpsd_config_load_file(cfg, config_file, err, errlen) != 0)
            goto out;
    }
    for (size_t i = 0; i < nitems; i++) {
        if (items[i].idx >= NOPTIONS)
            continue;
        char reason[512];
        if (set_option(cfg, items[i].idx, items[i].value, SRC_FLAG, reason, sizeof reason) !=
            0) {
            set_err(err, errlen, "%s: %s", items[i].flag, reason);
            goto out;
        }
    }
    if (dpsd_config_finish(cfg, err, errlen) != 0)
        goto out;
    *action = check ? DPSD_ACTION_CHECK : DPSD_ACTION_RUN;
    rc = 0;
out:
    free(items);
    return rc;
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

/* Prints text in a column starting at indent, wrapped at 79 characters;
 * the first line continues after what the caller printed. */
static void print_wrapped(FILE *out, const char *text, int indent)
{
    const int width = 79 - indent;
    int col = 0;
    const char *p = text;
    while (*p != '\0') {
        size_t word = strcspn(p, " ");
        if (col > 0 && col + 1 + (int)word > width) {
            fprintf(out, "\n%*s", indent, "");
            col = 0;
        }
        if (col > 0) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)word, p);
        col += (int)word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
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
    for (size_t i = 0; i < NOPTIONS; i++) {
        const opt_def *o = &options[i];
        char flag[96];
        size_t n = (size_t)snprintf(flag, sizeof flag, "--%s %s", o->name, o->metavar);
        for (size_t k = 2; k < n && flag[k] != ' '; k++)
            if (flag[k] == '_')
                flag[k] = '-';
        char text[512];
        if (o->type == OPT_INT)
            snprintf(text, sizeof text, "%s (default: %s; %lld to %lld)", o->help, o->def,
                     (long long)o->min, (long long)o->max);
        else if (o->def[0] != '\0')
            snprintf(text, sizeof text, "%s (default: %s)", o->help, o->def);
        else
            snprintf(text, sizeof text, "%s", o->help);
        fprintf(out, "  %-30s ", flag);
        print_wrapped(out, text, 33);
    }
    fprintf(out,
            "\n"
            "Command line only:\n"
            "  %-30s %s\n  %-30s %s\n  %-30s %s\n  %-30s %s\n",
            "-c, --config FILE", "read options from FILE first",
            "--check", "validate the configuration and exit",
            "-h, --help", "show this help and exit",
            "-V, --version", "show the version and exit");
}
