#include "output.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/dynbuf.h"

/* A cell longer than this is cut in table output (never in tsv), so that one
 * long initial twin does not push every other column off the screen. */
#define CELL_MAX_CHARS 120
/* Derived tables never grow wider than this many columns. */
#define MAX_DERIVED_COLUMNS 16
/* Widest table printed; column lists are far shorter. */
#define MAX_COLUMNS 64

int dpsctl_output_parse(const char *text, dpsctl_output_format *out)
{
    static const struct {
        const char *name;
        dpsctl_output_format fmt;
    } names[] = {{"json", DPSCTL_OUT_JSON}, {"table", DPSCTL_OUT_TABLE}, {"tsv", DPSCTL_OUT_TSV}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].fmt;
            return 0;
        }
    }
    return -1;
}

json_t *dpsctl_json_path(const json_t *v, const char *path)
{
    const char *p = path;
    json_t *cur = (json_t *)v;
    while (cur != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        cur = json_object_getn(cur, p, len);
        p += len;
        if (*p == '.')
            p++;
    }
    return cur;
}

static void redact_one(json_t *obj, const char *path)
{
    const char *last = strrchr(path, '.');
    json_t *parent = obj;
    if (last != NULL) {
        char prefix[256];
        size_t plen = (size_t)(last - path);
        if (plen >= sizeof prefix)
            return;
        memcpy(prefix, path, plen);
        prefix[plen] = '\0';
        parent = dpsctl_json_path(obj, prefix);
    }
    if (json_is_object(parent))
        json_object_del(parent, last ? last + 1 : path);
}

void dpsctl_redact(json_t *v, const char *const *paths)
{
    if (v == NULL || paths == NULL)
        return;
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) dpsctl_redact(item, paths);
        return;
    }
    for (const char *const *p = paths; *p != NULL; p++)
        redact_one(v, *p);
}

static bool scalar_items(const json_t *arr)
{
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        if (json_is_object(item) || json_is_array(item))
            return false;
    }
    return true;
}

static int append_compact(dps_buf *b, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = s ? dps_buf_append_str(b, s) : -1;
    free(s);
    return rc;
}

/* Text of one cell: strings as they are, arrays of scalars joined by a
 * space (iotHubs), other structures as compact JSON. Returns a new string. */
static char *cell_text(const json_t *v)
{
    dps_buf b;
    dps_buf_init(&b, 1024 * 1024);
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_STRING:
        rc = dps_buf_append(&b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        rc = dps_buf_printf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        rc = dps_buf_printf(&b, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        rc = dps_buf_append_str(&b, "true");
        break;
    case JSON_FALSE:
        rc = dps_buf_append_str(&b, "false");
        break;
    case JSON_NULL:
        break;
    case JSON_ARRAY:
        if (scalar_items(v)) {
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item) {
                char *s = cell_text(item);
                if (s == NULL) {
                    rc = -1;
                    break;
                }
                if (i > 0)
                    rc = dps_buf_append_str(&b, " ");
                if (rc == 0)
                    rc = dps_buf_append_str(&b, s);
                free(s);
                if (rc != 0)
                    break;
            }
        } else {
            rc = append_compact(&b, v);
        }
        break;
    case JSON_OBJECT:
        rc = append_compact(&b, v);
        break;
    }
    if (rc != 0) {
        dps_buf_free(&b);
        return NULL;
    }
    /* one record per line: tabs and line breaks inside a value become spaces */
    char *out = dps_buf_take(&b);
    for (char *p = out; p != NULL && *p != '\0'; p++) {
        if (*p == '\t' || *p == '\n' || *p == '\r')
            *p = ' ';
    }
    return out;
}

/* Characters, not bytes, so that UTF-8 text lines up. */
static size_t display_width(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p & 0xC0) != 0x80)
            n++;
    }
    return n;
}

/* Cuts s to at most max characters (on a character boundary), marking the
 * cut with "..." so nobody mistakes a shortened value for the real one. */
static void truncate_cell(char *s, size_t max)
{
    size_t chars = 0;
    for (char *p = s; *p != '\0'; p++) {
        if ((*p & 0xC0) != 0x80) {
            if (chars == max - 3) {
                if (display_width(p) > 3)
                    strcpy(p, "...");
                return;
            }
            chars++;
        }
    }
}

typedef struct {
    const char **headers;
    char **cells; /* rows * ncols */
    size_t ncols;
    size_t nrows;
} grid;

static void grid_free(grid *g)
{
    for (size_t i = 0; i < g->ncols * g->nrows; i++)
        free(g->cells[i]);
    free(g->cells);
    free(g->headers);
}

/* Writes one aligned line; trailing blanks (empty last cells) are trimmed. */
static int print_line(FILE *f, const char *const *cells, size_t ncols, const size_t *widths)
{
    dps_buf line;
    dps_buf_init(&line, 64 * 1024 * 1024);
    int rc = 0;
    for (size_t c = 0; c < ncols && rc == 0; c++) {
        if (c > 0)
            rc = dps_buf_append_str(&line, "  ");
        if (rc == 0)
            rc = dps_buf_append_str(&line, cells[c]);
        for (size_t k = display_width(cells[c]); rc == 0 && k < widths[c]; k++)
            rc = dps_buf_append(&line, " ", 1);
    }
    while (rc == 0 && line.len > 0 && line.data[line.len - 1] == ' ')
        line.data[--line.len] = '\0';
    if (rc == 0)
        fprintf(f, "%s\n", line.data ? line.data : "");
    dps_buf_free(&line);
    return rc;
}

static int print_grid(FILE *f, const grid *g, dpsctl_output_format fmt)
{
    if (fmt == DPSCTL_OUT_TSV) {
        for (size_t r = 0; r < g->nrows; r++) {
            for (size_t c = 0; c < g->ncols; c++)
                fprintf(f, "%s%s", c ? "\t" : "", g->cells[r * g->ncols + c]);
            fputc('\n', f);
        }
        return ferror(f) ? -1 : 0;
    }
    size_t widths[MAX_COLUMNS] = {0};
    const char *dashes[MAX_COLUMNS];
    char *rule = NULL;
    size_t ncols = g->ncols < MAX_COLUMNS ? g->ncols : MAX_COLUMNS;
    size_t total = 0;
    for (size_t c = 0; c < ncols; c++) {
        widths[c] = display_width(g->headers[c]);
        for (size_t r = 0; r < g->nrows; r++) {
            char *cell = g->cells[r * g->ncols + c];
            truncate_cell(cell, CELL_MAX_CHARS);
            size_t w = display_width(cell);
            if (w > widths[c])
                widths[c] = w;
        }
        total += widths[c] + 1;
    }
    /* one run of dashes, each column's rule pointing into it */
    rule = malloc(total + 1);
    if (rule == NULL)
        return -1;
    memset(rule, '-', total);
    rule[total] = '\0';
    for (size_t c = 0, off = 0; c < ncols; c++) {
        rule[off + widths[c]] = '\0';
        dashes[c] = rule + off;
        off += widths[c] + 1;
    }
    int rc = print_line(f, g->headers, ncols, widths);
    if (rc == 0)
        rc = print_line(f, dashes, ncols, widths);
    for (size_t r = 0; rc == 0 && r < g->nrows; r++)
        rc = print_line(f, (const char *const *)&g->cells[r * g->ncols], ncols, widths);
    free(rule);
    return (rc != 0 || ferror(f)) ? -1 : 0;
}

/* Builds a grid with the given columns, one row per element of rows. */
static int fill_grid(grid *g, const json_t *rows, const dpsctl_column *cols)
{
    memset(g, 0, sizeof *g);
    size_t ncols = 0;
    while (cols[ncols].header != NULL)
        ncols++;
    size_t nrows = json_array_size(rows);
    g->ncols = ncols;
    g->headers = calloc(ncols ? ncols : 1, sizeof *g->headers);
    size_t ncells = ncols * nrows;
    g->cells = calloc(ncells > 0 ? ncells : 1, sizeof *g->cells);
    if (g->headers == NULL || g->cells == NULL)
        return -1;
    for (size_t c = 0; c < ncols; c++)
        g->headers[c] = cols[c].header;
    for (size_t r = 0; r < nrows; r++) {
        const json_t *row = json_array_get(rows, r);
        for (size_t c = 0; c < ncols; c++) {
            const json_t *v = dpsctl_json_path(row, cols[c].path);
            char *s = v ? cell_text(v) : strdup("");
            if (s == NULL)
                return -1;
            g->cells[r * ncols + c] = s;
        }
        g->nrows = r + 1;
    }
    return 0;
}

/* Columns taken from the scalar members of the first object of an array
 * (used for resources without a fixed column list). */
static int derive_columns(const json_t *first, dpsctl_column *cols, size_t max)
{
    size_t n = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)first, key, v) {
        if (n + 1 >= max)
            break;
        if (json_is_object(v) || json_is_array(v))
            continue;
        cols[n].header = key;
        cols[n].path = key;
        n++;
    }
    cols[n].header = NULL;
    cols[n].path = NULL;
    return (int)n;
}

static int print_table(FILE *f, const json_t *v, dpsctl_output_format fmt,
                       const dpsctl_column *cols)
{
    json_t *rows = NULL;
    int rc = -1;
    grid g;
    memset(&g, 0, sizeof g);
    if (json_is_array(v)) {
        rows = json_incref((json_t *)v);
    } else if (cols != NULL) {
        rows = json_array();
        if (rows == NULL || json_array_append(rows, (json_t *)v) != 0)
            goto out;
    } else {
        /* a single object without a column list: one Name/Value row each */
        static const dpsctl_column kv[] = {{"Name", "name"}, {"Value", "value"}, {NULL, NULL}};
        rows = json_array();
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)v, key, member) {
            json_t *row = json_pack("{s:s,s:O}", "name", key, "value", member);
            if (row == NULL || json_array_append_new(rows, row) != 0)
                goto out;
        }
        cols = kv;
    }
    dpsctl_column derived[MAX_DERIVED_COLUMNS];
    if (cols == NULL) {
        if (json_array_size(rows) == 0) {
            rc = 0; /* nothing to show */
            goto out;
        }
        if (!json_is_object(json_array_get(rows, 0))) {
            /* a list of plain values: one per line */
            size_t i;
            json_t *item;
            json_array_foreach(rows, i, item) {
                char *s = cell_text(item);
                if (s == NULL)
                    goto out;
                fprintf(f, "%s\n", s);
                free(s);
            }
            rc = ferror(f) ? -1 : 0;
            goto out;
        }
        derive_columns(json_array_get(rows, 0), derived, MAX_DERIVED_COLUMNS);
        cols = derived;
    }
    if (fill_grid(&g, rows, cols) != 0)
        goto out;
    rc = print_grid(f, &g, fmt);
out:
    grid_free(&g);
    json_decref(rows);
    return rc;
}

int dpsctl_print(FILE *f, const json_t *v, dpsctl_output_format fmt, const dpsctl_column *cols)
{
    if (v == NULL)
        return 0;
    if (fmt == DPSCTL_OUT_JSON) {
        if (json_dumpf(v, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) != 0)
            return -1;
        fputc('\n', f);
        return ferror(f) ? -1 : 0;
    }
    if (json_is_object(v) || json_is_array(v))
        return print_table(f, v, fmt, cols);
    /* a bare value (a derived key): just the text, easy to capture in scripts */
    char *s = cell_text(v);
    if (s == NULL)
        return -1;
    fprintf(f, "%s\n", s);
    free(s);
    return ferror(f) ? -1 : 0;
}
