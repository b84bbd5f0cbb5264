#include "hub_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fields.h"

/* ---- Server-Sent Events */

void dpsctl_sse_init(dpsctl_sse *p, size_t max)
{
    memset(p, 0, sizeof *p);
    dps_buf_init(&p->line, max);
    dps_buf_init(&p->data, max);
}

void dpsctl_sse_free(dpsctl_sse *p)
{
    dps_buf_free(&p->line);
    dps_buf_free(&p->data);
}

static void buf_clear(dps_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static void copy_field(char *dst, size_t dstlen, const char *src, size_t len)
{
    if (len >= dstlen)
        len = dstlen - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Handles one complete line (without its end). */
static int sse_line(dpsctl_sse *p, const char *line, size_t len, dpsctl_sse_fn fn, void *arg)
{
    if (len == 0) {
        /* a blank line dispatches; an event without data lines is dropped */
        int rc = 0;
        if (p->data.len > 0) {
            p->data.data[--p->data.len] = '\0'; /* the '\n' after the last data line */
            rc = fn(arg, p->event[0] != '\0' ? p->event : "message", p->id, p->data.data,
                    p->data.len);
        }
        buf_clear(&p->data);
        p->event[0] = '\0';
        return rc;
    }
    if (line[0] == ':')
        return 0; /* a comment: hubd's heartbeat */
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t vlen = colon ? len - flen - 1 : 0;
    if (vlen > 0 && value[0] == ' ') {
        value++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        if (dps_buf_append(&p->data, value, vlen) != 0 || dps_buf_append(&p->data, "\n", 1) != 0)
            return -2;
    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        copy_field(p->event, sizeof p->event, value, vlen);
    } else if (flen == 2 && memcmp(line, "id", 2) == 0 && memchr(value, '\0', vlen) == NULL) {
        copy_field(p->id, sizeof p->id, value, vlen);
    }
    /* retry and unknown fields: nothing to do for a one-shot reader */
    return 0;
}

int dpsctl_sse_feed(dpsctl_sse *p, const char *buf, size_t len, dpsctl_sse_fn fn, void *arg)
{
    size_t i = 0;
    if (p->after_cr && len > 0) {
        p->after_cr = false;
        if (buf[0] == '\n')
            i = 1;
    }
    while (i < len) {
        /* the longest run without a line end goes into the line at once */
        size_t j = i;
        while (j < len && buf[j] != '\r' && buf[j] != '\n')
            j++;
        if (dps_buf_append(&p->line, buf + i, j - i) != 0)
            return -2;
        if (j == len)
            break;
        /* CRLF, LF and CR all end a line */
        if (buf[j] == '\r') {
            if (j + 1 < len && buf[j + 1] == '\n')
                j++;
            else if (j + 1 == len)
                p->after_cr = true;
        }
        i = j + 1;
        int rc = sse_line(p, p->line.data ? p->line.data : "", p->line.len, fn, arg);
        buf_clear(&p->line);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- cloud-to-device properties */

void dpsctl_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **s = v; *s != NULL; s++)
        free(*s);
    free(v);
}

/* RFC 9110 token characters: what an HTTP header name may hold. */
static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

char **dpsctl_c2d_prop_headers(const char *text, char *err, size_t errlen)
{
    static const char prefix[] = "x-hubd-prop-";
    char **out = calloc(DPSCTL_C2D_MAX_PROPS + 1, sizeof *out);
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = 0;
    const char *p = text;
    while (*p != '\0') {
        size_t len = strcspn(p, ",;");
        const char *item = p;
        p += len;
        if (*p != '\0')
            p++;
        if (len == 0)
            continue;
        const char *eq = memchr(item, '=', len);
        if (eq == NULL) {
            snprintf(err, errlen, "'%.*s' is not name=value", (int)(len > 60 ? 60 : len), item);
            goto fail;
        }
        size_t nlen = (size_t)(eq - item);
        const char *value = eq + 1;
        size_t vlen = len - nlen - 1;
        if (nlen == 0 || nlen > DPSCTL_C2D_MAX_PROP_NAME) {
            snprintf(err, errlen, "a property name has 1 to %d characters",
                     DPSCTL_C2D_MAX_PROP_NAME);
            goto fail;
        }
        for (size_t k = 0; k < nlen; k++) {
            if (!is_tchar((unsigned char)item[k])) {
                snprintf(err, errlen,
                         "property name '%.*s' may hold only letters, digits and "
                         "!#$%%&'*+-.^_`|~ (it travels as an HTTP header name)",
                         (int)nlen, item);
                goto fail;
            }
        }
        if (vlen > DPSCTL_C2D_MAX_PROP_VALUE) {
            snprintf(err, errlen, "the value of '%.*s' is longer than %d bytes", (int)nlen, item,
                     DPSCTL_C2D_MAX_PROP_VALUE);
            goto fail;
        }
        for (size_t k = 0; k < vlen; k++) {
            unsigned char c = (unsigned char)value[k];
            if (c < 0x20 || c == 0x7f) {
                snprintf(err, errlen, "the value of '%.*s' holds a control character", (int)nlen,
                         item);
                goto fail;
            }
        }
        for (size_t k = 0; k < n; k++) {
            const char *other = out[k] + sizeof prefix - 1;
            if (strncasecmp(other, item, nlen) == 0 && (other[nlen] == ':' || other[nlen] == ';')) {
                snprintf(err, errlen, "property '%.*s' given twice", (int)nlen, item);
                goto fail;
            }
        }
        if (n == DPSCTL_C2D_MAX_PROPS) {
            snprintf(err, errlen, "at most %d properties", DPSCTL_C2D_MAX_PROPS);
            goto fail;
        }
        size_t total = sizeof prefix - 1 + nlen + 2 + vlen + 1;
        out[n] = malloc(total);
        if (out[n] == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        /* libcurl drops a header written "Name:" with nothing after it and
         * sends "Name;" as an empty one */
        if (vlen == 0)
            snprintf(out[n], total, "%s%.*s;", prefix, (int)nlen, item);
        else
            snprintf(out[n], total, "%s%.*s: %.*s", prefix, (int)nlen, item, (int)vlen, value);
        n++;
    }
    return out;
fail:
    dpsctl_strv_free(out);
    return NULL;
}

/* ---- values */

bool dpsctl_thumbprint_valid(const char *text)
{
    size_t n = strlen(text);
    if (n != 40 && n != 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)text[i]))
            return false;
    }
    return true;
}

json_t *dpsctl_parse_json_value(const char *text, size_t max, char *err, size_t errlen)
{
    char *file = NULL;
    size_t len = strlen(text);
    if (text[0] == '@') {
        file = dpsctl_read_file(text + 1, max, &len, err, errlen);
        if (file == NULL)
            return NULL;
        text = file;
    } else if (len > max) {
        snprintf(err, errlen, "longer than %zu bytes", max);
        return NULL;
    }
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    free(file);
    if (v == NULL)
        snprintf(err, errlen, "not JSON (%s at position %d; a string needs quotes: '\"text\"')",
                 jerr.text, jerr.position);
    return v;
}

/* Appends text with control characters as spaces, so one event stays one
 * line whatever the device sent. */
static int append_flat(dps_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char ch = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        if (dps_buf_append(b, &ch, 1) != 0)
            return -1;
    }
    return 0;
}

static int append_json(dps_buf *b, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    int rc = s != NULL ? append_flat(b, s, strlen(s)) : -1;
    free(s);
    return rc;
}

static int append_str_member(dps_buf *b, const json_t *ev, const char *name)
{
    const json_t *v = json_object_get(ev, name);
    if (json_is_string(v))
        return append_flat(b, json_string_value(v), json_string_length(v));
    return v != NULL ? append_json(b, v) : 0;
}

char *dpsctl_event_line(const json_t *ev, dpsctl_output_format fmt)
{
    if (fmt == DPSCTL_OUT_JSON)
        return json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    dps_buf b;
    /* an event is at most hubd's 2 MiB; the line cannot be much longer */
    dps_buf_init(&b, 8u * 1024u * 1024u);
    const char *sep = fmt == DPSCTL_OUT_TSV ? "\t" : "  ";
    const json_t *props = json_object_get(ev, "applicationProperties");
    const char *enc = json_string_value(json_object_get(ev, "bodyEncoding"));
    int rc = 0;
    if (fmt == DPSCTL_OUT_TSV) {
        rc = append_str_member(&b, ev, "sequence");
        if (rc == 0)
            rc = dps_buf_append_str(&b, sep);
    }
    if (rc == 0)
        rc = append_str_member(&b, ev, "enqueuedTimeUtc");
    if (rc == 0)
        rc = dps_buf_append_str(&b, sep);
    if (rc == 0)
        rc = append_str_member(&b, ev, "deviceId");
    if (rc == 0)
        rc = dps_buf_append_str(&b, sep);
    /* a binary body comes base64-encoded; say so rather than pass it off as text */
    if (rc == 0 && enc != NULL && strcmp(enc, "base64") == 0)
        rc = dps_buf_append_str(&b, "base64:");
    if (rc == 0)
        rc = append_str_member(&b, ev, "body");
    if (fmt == DPSCTL_OUT_TSV) {
        if (rc == 0)
            rc = dps_buf_append_str(&b, sep);
        if (rc == 0)
            rc = json_is_object(props) ? append_json(&b, props) : dps_buf_append_str(&b, "{}");
    } else if (json_is_object(props) && json_object_size(props) > 0) {
        const char *key;
        json_t *v;
        rc = dps_buf_append_str(&b, sep);
        bool first = true;
        json_object_foreach((json_t *)props, key, v) {
            if (rc == 0 && !first)
                rc = dps_buf_append_str(&b, " ");
            first = false;
            if (rc == 0)
                rc = append_flat(&b, key, strlen(key));
            if (rc == 0)
                rc = dps_buf_append_str(&b, "=");
            if (rc == 0)
                rc = json_is_string(v) ? append_flat(&b, json_string_value(v), json_string_length(v))
                                       : append_json(&b, v);
        }
    }
    if (rc != 0) {
        dps_buf_free(&b);
        return NULL;
    }
    return dps_buf_take(&b);
}
