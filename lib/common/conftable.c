/* The option-table engine (see conftable.h). Every value, defaults
 * included, goes through set_option, so a default is checked exactly like
 * a value from a file or a flag. */
#include "common/conftable.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errtext.h"
#include "common/log.h"
#include "common/strparse.h"

static void *field_ptr(const dps_conf_option *o, void *obj)
{
    return (char *)obj + o->offset;
}

static dps_conf_state *state_of(const dps_conf_table *t, void *obj)
{
    return (dps_conf_state *)((char *)obj + t->state_offset);
}

/* Accepts '-' for '_' so "host-name" works in a file and "--host_name" on
 * the command line. Returns the row index, or -1. */
static int find_option(const dps_conf_table *t, const char *name)
{
    char norm[DPS_CONF_MAX_NAME];
    size_t n = strlen(name);
    if (n >= sizeof norm)
        return -1;
    for (size_t i = 0; i <= n; i++)
        norm[i] = name[i] == '-' ? '_' : name[i];
    for (size_t i = 0; i < t->noptions; i++)
        if (strcmp(t->options[i].name, norm) == 0)
            return (int)i;
    return -1;
}

static void list_clear(dps_conf_list *l)
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

/* ---- setting values ----------------------------------------------------- */

/* Appends the comma-separated entries of value to l, each trimmed and
 * checked. l may be partly filled on failure; the caller works on a copy. */
static int list_add(dps_conf_list *l, const dps_conf_option *o, const char *value, char *err,
                    size_t errlen)
{
    const char *p = value;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *item = dup_trimmed(p, len);
        if (item == NULL) {
            dps_set_err(err, errlen, "out of memory");
            return -1;
        }
        if (item[0] == '\0') {
            free(item);
            dps_set_err(err, errlen, "empty entry in list");
            return -1;
        }
        if (o->check != NULL && o->check(item, err, errlen) != 0) {
            free(item);
            return -1;
        }
        if (l->count == DPS_CONF_MAX_LIST) {
            free(item);
            dps_set_err(err, errlen, "at most %d entries", DPS_CONF_MAX_LIST);
            return -1;
        }
        l->items[l->count++] = item;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

static int set_list(dps_conf_list *l, const dps_conf_option *o, const char *value,
                    bool replace, char *err, size_t errlen)
{
    /* Work on a copy so a bad entry leaves the option as it was. */
    dps_conf_list next = {0};
    if (!replace) {
        for (size_t i = 0; i < l->count; i++) {
            next.items[i] = strdup(l->items[i]);
            if (next.items[i] == NULL) {
                list_clear(&next);
                dps_set_err(err, errlen, "out of memory");
                return -1;
            }
            next.count = i + 1;
        }
    }
    if (list_add(&next, o, value, err, errlen) != 0) {
        list_clear(&next);
        return -1;
    }
    list_clear(l);
    *l = next;
    return 0;
}

static int parse_bool(const char *value, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static void enum_choices_text(const dps_conf_option *o, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; o->choices[i] != NULL && used < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", i > 0 ? ", " : "", o->choices[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Sets row idx from text; writes only the reason into err. */
static int set_option(const dps_conf_table *t, void *obj, size_t idx, const char *value,
                      dps_conf_source src, char *err, size_t errlen)
{
    const dps_conf_option *o = &t->options[idx];
    dps_conf_state *st = state_of(t, obj);
    void *field = field_ptr(o, obj);

    if (strlen(value) > DPS_CONF_MAX_VALUE) {
        dps_set_err(err, errlen, "value longer than %d bytes", DPS_CONF_MAX_VALUE);
        return -1;
    }
    switch (o->type) {
    case DPS_CONF_STRING: {
        if (o->check != NULL && o->check(value, err, errlen) != 0)
            return -1;
        char *copy = strdup(value);
        if (copy == NULL) {
            dps_set_err(err, errlen, "out of memory");
            return -1;
        }
        char **slot = field;
        free(*slot);
        *slot = copy;
        break;
    }
    case DPS_CONF_LIST:
        /* Values from one source add up (repeated lines, repeated flags);
         * the first value from a higher source starts afresh. */
        if (set_list(field, o, value, src > st->source[idx], err, errlen) != 0)
            return -1;
        break;
    case DPS_CONF_INT: {
        int64_t v;
        if (dps_parse_int64(value, strlen(value), o->min, o->max, &v) != 0) {
            dps_set_err(err, errlen, "'%s': must be an integer from %lld to %lld", value,
                        (long long)o->min, (long long)o->max);
            return -1;
        }
        *(int64_t *)field = v;
        break;
    }
    case DPS_CONF_BOOL: {
        bool b;
        if (parse_bool(value, &b) != 0) {
            dps_set_err(err, errlen, "'%s': must be true or false", value);
            return -1;
        }
        *(bool *)field = b;
        break;
    }
    case DPS_CONF_ENUM: {
        int found = -1;
        for (int i = 0; o->choices != NULL && o->choices[i] != NULL; i++) {
            if (strcasecmp(value, o->choices[i]) == 0) {
                found = i;
                break;
            }
        }
        if (found < 0) {
            char choices[256] = "";
            if (o->choices != NULL)
                enum_choices_text(o, choices, sizeof choices);
            dps_set_err(err, errlen, "'%s': must be one of %s", value, choices);
            return -1;
        }
        *(int *)field = found;
        break;
    }
    case DPS_CONF_LOG_LEVEL: {
        dps_log_level lv;
        if (!dps_log_level_parse(value, &lv)) {
            dps_set_err(err, errlen, "'%s': must be error, warn, info or debug", value);
            return -1;
        }
        *(dps_log_level *)field = lv;
        break;
    }
    }
    if (src > st->source[idx])
        st->source[idx] = (unsigned char)src;
    return 0;
}

int dps_conf_set(const dps_conf_table *t, void *obj, const char *name, const char *value,
                 dps_conf_source src, char *err, size_t errlen)
{
    int idx = find_option(t, name);
    if (idx < 0) {
        dps_set_err(err, errlen, "unknown option '%s'", name);
        return -1;
    }
    char reason[512];
    if (set_option(t, obj, (size_t)idx, value, src, reason, sizeof reason) != 0) {
        dps_set_err(err, errlen, "%s: %s", t->options[idx].name, reason);
        return -1;
    }
    return 0;
}

int dps_conf_init(const dps_conf_table *t, void *obj, char *err, size_t errlen)
{
    if (t->noptions > DPS_CONF_MAX_OPTIONS) {
        dps_set_err(err, errlen, "option table has more than %d rows", DPS_CONF_MAX_OPTIONS);
        return -1;
    }
    for (size_t i = 0; i < t->noptions; i++) {
        /* A field is zero before its default is set (and after a failure),
         * so dps_conf_free never frees garbage. */
        const dps_conf_option *o = &t->options[i];
        if (o->type == DPS_CONF_STRING)
            *(char **)field_ptr(o, obj) = NULL;
        else if (o->type == DPS_CONF_LIST)
            memset(field_ptr(o, obj), 0, sizeof(dps_conf_list));
    }
    memset(state_of(t, obj), 0, sizeof(dps_conf_state));
    for (size_t i = 0; i < t->noptions; i++) {
        char reason[256];
        /* The defaults are part of the table and checked like any value; a
         * failure here is a bug in the table or no memory. */
        if (set_option(t, obj, i, t->options[i].def, DPS_CONF_SRC_DEFAULT, reason,
                       sizeof reason) != 0) {
            dps_set_err(err, errlen, "default of %s: %s", t->options[i].name, reason);
            dps_conf_free(t, obj);
            return -1;
        }
    }
    return 0;
}

void dps_conf_free(const dps_conf_table *t, void *obj)
{
    if (t == NULL || obj == NULL)
        return;
    for (size_t i = 0; i < t->noptions; i++) {
        const dps_conf_option *o = &t->options[i];
        if (o->type == DPS_CONF_STRING) {
            char **slot = field_ptr(o, obj);
            free(*slot);
            *slot = NULL;
        } else if (o->type == DPS_CONF_LIST) {
            list_clear(field_ptr(o, obj));
        }
    }
}

/* ---- the config file ---------------------------------------------------- */

static int read_whole_file(const char *path, char **out, size_t *outlen, char *err,
                           size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        dps_set_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    /* One read of up to the cap plus one byte tells "too big" apart without
     * trusting a size reported by stat (pipes, /proc). */
    char *buf = malloc(DPS_CONF_MAX_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        dps_set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, DPS_CONF_MAX_FILE + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        dps_set_err(err, errlen, "%s: read error", path);
        return -1;
    }
    if (n > DPS_CONF_MAX_FILE) {
        free(buf);
        dps_set_err(err, errlen, "%s: larger than %d bytes", path, DPS_CONF_MAX_FILE);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

static int parse_line(const dps_conf_table *t, void *obj, const char *path, unsigned lineno,
                      const char *line, size_t len, char *err, size_t errlen)
{
    char *text = dup_trimmed(line, len);
    if (text == NULL) {
        dps_set_err(err, errlen, "out of memory");
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
        dps_set_err(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
        goto out;
    }
    key = dup_trimmed(text, (size_t)(eq - text));
    value = dup_trimmed(eq + 1, strlen(eq + 1));
    if (key == NULL || value == NULL) {
        dps_set_err(err, errlen, "out of memory");
        goto out;
    }
    /* A value may be quoted to make an empty string or keep blanks at its
     * ends explicit; nothing is escaped inside. */
    size_t vlen = strlen(value);
    if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
        memmove(value, value + 1, vlen - 2);
        value[vlen - 2] = '\0';
    }
    int idx = find_option(t, key);
    if (idx < 0) {
        dps_set_err(err, errlen, "%s:%u: unknown option '%s'", path, lineno, key);
        goto out;
    }
    char reason[512];
    if (set_option(t, obj, (size_t)idx, value, DPS_CONF_SRC_FILE, reason, sizeof reason) !=
        0) {
        dps_set_err(err, errlen, "%s:%u: %s: %s", path, lineno, t->options[idx].name, reason);
        goto out;
    }
    rc = 0;
out:
    free(key);
    free(value);
    free(text);
    return rc;
}

int dps_conf_load_file(const dps_conf_table *t, void *obj, const char *path, char *err,
                       size_t errlen)
{
    char *buf;
    size_t len;
    if (read_whole_file(path, &buf, &len, err, errlen) != 0)
        return -1;
    if (memchr(buf, '\0', len) != NULL) {
        free(buf);
        dps_set_err(err, errlen, "%s: not a text file (NUL byte)", path);
        return -1;
    }
    int rc = 0;
    unsigned lineno = 0;
    const char *p = buf;
    while (*p != '\0') {
        lineno++;
        size_t linelen = strcspn(p, "\n");
        if (linelen > DPS_CONF_MAX_LINE) {
            dps_set_err(err, errlen, "%s:%u: line longer than %d bytes", path, lineno,
                        DPS_CONF_MAX_LINE);
            rc = -1;
            break;
        }
        /* dup_trimmed drops a trailing '\r' with the other blanks. */
        if (parse_line(t, obj, path, lineno, p, linelen, err, errlen) != 0) {
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

/* ---- command line ------------------------------------------------------- */

/* Flags that are not table rows; above any row index. */
enum {
    CLI_CONFIG = DPS_CONF_MAX_OPTIONS + 1,
    CLI_CHECK,
    CLI_HELP,
    CLI_VERSION,
};

typedef struct {
    size_t idx;        /* row index, or one of the CLI_* above */
    const char *value; /* NULL for switches */
    char flag[64];     /* as written without "=value", for messages */
} cli_item;

/* Splits argv into recognised flags (with their values) without applying
 * anything, so --help wins over everything and --config is known before
 * the flags that override it. */
static int tokenise(const dps_conf_table *t, int argc, char *const argv[], cli_item *items,
                    size_t *nitems, char *err, size_t errlen)
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
                dps_set_err(err, errlen, "unknown option '%s' (see --help)", arg);
                return -1;
            }
            memcpy(name, arg + 2, nlen);
            name[nlen] = '\0';
            inline_value = eq != NULL ? eq + 1 : NULL;
            int idx;
            if (strcmp(name, "config") == 0)
                it.idx = CLI_CONFIG;
            else if (strcmp(name, "check") == 0)
                it.idx = CLI_CHECK;
            else if (strcmp(name, "help") == 0)
                it.idx = CLI_HELP;
            else if (strcmp(name, "version") == 0)
                it.idx = CLI_VERSION;
            else if ((idx = find_option(t, name)) >= 0)
                it.idx = (size_t)idx;
            else {
                dps_set_err(err, errlen, "unknown option '%s' (see --help)", arg);
                return -1;
            }
        } else {
            dps_set_err(err, errlen, "unexpected argument '%s' (see --help)", arg);
            return -1;
        }

        bool takes_value = it.idx < t->noptions || it.idx == CLI_CONFIG;
        if (takes_value) {
            if (inline_value != NULL) {
                it.value = inline_value;
            } else if (i + 1 < argc) {
                it.value = argv[++i];
            } else {
                dps_set_err(err, errlen, "option '%s' needs a value", arg);
                return -1;
            }
        } else if (inline_value != NULL) {
            dps_set_err(err, errlen, "option '%s' takes no value", arg);
            return -1;
        }
        items[n++] = it; /* at most one item per argument: items has argc slots */
    }
    *nitems = n;
    return 0;
}

int dps_conf_parse_args(const dps_conf_table *t, void *obj, int argc, char *const argv[],
                        dps_conf_action *action, const char **config_file, char *err,
                        size_t errlen)
{
    *action = DPS_CONF_ACTION_RUN;
    *config_file = NULL;
    if (argc < 1)
        argc = 1;
    cli_item *items = calloc((size_t)argc, sizeof *items);
    if (items == NULL) {
        dps_set_err(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    size_t nitems = 0;
    if (tokenise(t, argc, argv, items, &nitems, err, errlen) != 0)
        goto out;

    const char *file = NULL;
    bool check = false;
    for (size_t i = 0; i < nitems; i++) {
        if (items[i].idx == CLI_HELP || items[i].idx == CLI_VERSION) {
            *action = items[i].idx == CLI_HELP ? DPS_CONF_ACTION_HELP : DPS_CONF_ACTION_VERSION;
            rc = 0;
            goto out;
        }
        if (items[i].idx == CLI_CHECK)
            check = true;
        if (items[i].idx == CLI_CONFIG)
            file = items[i].value; /* the last one counts */
    }

    *config_file = file;
    if (file != NULL && dps_conf_load_file(t, obj, file, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < nitems; i++) {
        if (items[i].idx >= t->noptions)
            continue;
        char reason[512];
        if (set_option(t, obj, items[i].idx, items[i].value, DPS_CONF_SRC_FLAG, reason,
                       sizeof reason) != 0) {
            dps_set_err(err, errlen, "%s: %s", items[i].flag, reason);
            goto out;
        }
    }
    *action = check ? DPS_CONF_ACTION_CHECK : DPS_CONF_ACTION_RUN;
    rc = 0;
out:
    free(items);
    return rc;
}

/* ---- --help ------------------------------------------------------------- */

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

void dps_conf_print_options(const dps_conf_table *t, FILE *out)
{
    for (size_t i = 0; i < t->noptions; i++) {
        const dps_conf_option *o = &t->options[i];
        char flag[96];
        int n = snprintf(flag, sizeof flag, "--%s%s%s", o->name, o->metavar != NULL ? " " : "",
                         o->metavar != NULL ? o->metavar : "");
        size_t end = n < 0 ? 0 : (size_t)n < sizeof flag ? (size_t)n : sizeof flag - 1;
        for (size_t k = 2; k < end && flag[k] != ' '; k++)
            if (flag[k] == '_')
                flag[k] = '-';
        char text[768];
        if (o->type == DPS_CONF_INT) {
            snprintf(text, sizeof text, "%s (default: %s; %lld to %lld)", o->help, o->def,
                     (long long)o->min, (long long)o->max);
        } else if (o->type == DPS_CONF_ENUM && o->choices != NULL) {
            char choices[256];
            enum_choices_text(o, choices, sizeof choices);
            snprintf(text, sizeof text, "%s (default: %s; one of %s)", o->help, o->def,
                     choices);
        } else if (o->def[0] != '\0') {
            snprintf(text, sizeof text, "%s (default: %s)", o->help, o->def);
        } else {
            snprintf(text, sizeof text, "%s", o->help);
        }
        fprintf(out, "  %-30s ", flag);
        print_wrapped(out, text, 33);
    }
}

void dps_conf_print_cli_help(FILE *out)
{
    fprintf(out,
            "  %-30s %s\n  %-30s %s\n  %-30s %s\n  %-30s %s\n",
            "-c, --config FILE", "read options from FILE first",
            "--check", "validate the configuration and exit",
            "-h, --help", "show this help and exit",
            "-V, --version", "show the version and exit");
}
