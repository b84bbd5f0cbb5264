/* Daemon configuration and data-directory helpers (see daemon.h). */
#include "common/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

int dps_daemon_conf_init(const dps_conf_table *t, void *obj, size_t size)
{
    memset(obj, 0, size);
    char err[512];
    if (dps_conf_init(t, obj, err, sizeof err) != 0) {
        log_error("config: %s", err);
        return -1;
    }
    return 0;
}

int dps_daemon_conf_set(const dps_conf_table *t, void *obj, const char *name,
                        const char *value, bool from_flag, char *err, size_t errlen)
{
    return dps_conf_set(t, obj, name, value, from_flag ? DPS_CONF_SRC_FLAG : DPS_CONF_SRC_FILE,
                        err, errlen);
}

void dps_daemon_conf_free(const dps_conf_table *t, void *obj, char **config_file)
{
    dps_conf_free(t, obj);
    free(*config_file);
    *config_file = NULL;
}

int dps_daemon_conf_load(const dps_conf_table *t, void *obj, int argc, char *const argv[],
                         char **config_file, dps_daemon_finish_fn finish,
                         dps_conf_action *action, char *err, size_t errlen)
{
    dps_conf_action what = DPS_CONF_ACTION_RUN;
    const char *file = NULL;
    int rc = dps_conf_parse_args(t, obj, argc, argv, &what, &file, err, errlen);
    if (file != NULL) {
        *config_file = strdup(file);
        if (*config_file == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (rc != 0)
        return -1;
    /* --help and --version must work whatever else is wrong. */
    if (what != DPS_CONF_ACTION_HELP && what != DPS_CONF_ACTION_VERSION &&
        finish(obj, err, errlen) != 0)
        return -1;
    *action = what;
    return 0;
}

int dps_daemon_conf_not_empty(const char *value, char *err, size_t errlen)
{
    if (value[0] == '\0') {
        snprintf(err, errlen, "must not be empty");
        return -1;
    }
    return 0;
}

char *dps_daemon_absolute_path(const char *path)
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

    /* Each kept segment is written as "/seg", so out never outgrows
     * joined; ".." takes back the last segment and its slash. */
    size_t o = 0;
    for (const char *p = joined; *p != '\0';) {
        while (*p == '/')
            p++;
        size_t seg = strcspn(p, "/");
        if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
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

int dps_daemon_replace_string(char **slot, char *value, char *err, size_t errlen)
{
    if (value == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(*slot);
    *slot = value;
    return 0;
}

int dps_daemon_conf_data_dir(char **data_dir, char **store, const char *db_file, char *err,
                             size_t errlen)
{
    if (dps_daemon_replace_string(data_dir, dps_daemon_absolute_path(*data_dir), err, errlen) != 0)
        return -1;
    if ((*store)[0] != '\0')
        return 0;
    /* data_dir is absolute and normalised: it ends in '/' only when it is
     * the root. */
    const char *sep = strcmp(*data_dir, "/") == 0 ? "" : "/";
    size_t n = strlen("sqlite:") + strlen(*data_dir) + 1 + strlen(db_file) + 1;
    char *url = malloc(n);
    if (url != NULL)
        snprintf(url, n, "sqlite:%s%s%s", *data_dir, sep, db_file);
    return dps_daemon_replace_string(store, url, err, errlen);
}

int dps_daemon_conf_tls_pair(const char *tls_cert, const char *tls_key, char *err,
                             size_t errlen)
{
    if ((tls_cert[0] != '\0') != (tls_key[0] != '\0')) {
        snprintf(err, errlen, "tls_cert and tls_key: set both (own certificate) or neither "
                              "(generated local CA)");
        return -1;
    }
    return 0;
}

void dps_daemon_store_display(const char *url, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
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

int dps_daemon_make_dirs(const char *path, mode_t mode, char *err, size_t errlen)
{
    char buf[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory %s: %s", buf, strerror(errno));
            return -1;
        }
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", path);
        return -1;
    }
    return 0;
}
