/* MQTT string and topic rules: UTF-8 validity, topic name and filter syntax,
 * filter matching, and the percent-encoded property bags IoT Hub puts at the
 * end of its topics. */
#include <assert.h>

#include "mqtt/mqtt.h"

bool dps_mqtt_utf8_valid(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint8_t b = p[i];
        if (b == 0)
            return false; /* U+0000 is forbidden in MQTT strings (1.5.3-2) */
        if (b < 0x80) {
            i++;
            continue;
        }
        /* Lead byte: how many continuation bytes follow, and the allowed
         * range of the first one. The narrowed ranges after E0, ED, F0 and
         * F4 exclude overlong forms, surrogates (U+D800..DFFF) and code
         * points past U+10FFFF. */
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
        } else if (b == 0xe0) {
            need = 2;
            lo = 0xa0;
        } else if (b == 0xed) {
            need = 2;
            hi = 0x9f;
        } else if (b >= 0xe1 && b <= 0xef) {
            need = 2;
        } else if (b == 0xf0) {
            need = 3;
            lo = 0x90;
        } else if (b >= 0xf1 && b <= 0xf3) {
            need = 3;
        } else if (b == 0xf4) {
            need = 3;
            hi = 0x8f;
        } else {
            return false; /* 80..C1 (continuation or overlong lead), F5..FF */
        }
        if (need > len - i - 1)
            return false;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= need; k++) {
            if ((p[i + k] & 0xc0u) != 0x80u)
                return false;
        }
        i += need + 1;
    }
    return true;
}

bool dps_mqtt_topic_name_valid(dps_mqtt_str topic)
{
    if (topic.len == 0 || topic.len > DPS_MQTT_MAX_STRING)
        return false;
    if (memchr(topic.ptr, '+', topic.len) != NULL || memchr(topic.ptr, '#', topic.len) != NULL)
        return false;
    return dps_mqtt_utf8_valid(topic.ptr, topic.len);
}

/* Index of the '/' ending the level that starts at pos, or len. */
static size_t level_end(dps_mqtt_str s, size_t pos)
{
    const char *slash = pos < s.len ? memchr(s.ptr + pos, '/', s.len - pos) : NULL;
    return slash != NULL ? (size_t)(slash - s.ptr) : s.len;
}

bool dps_mqtt_topic_filter_valid(dps_mqtt_str filter)
{
    if (filter.len == 0 || filter.len > DPS_MQTT_MAX_STRING)
        return false;
    if (!dps_mqtt_utf8_valid(filter.ptr, filter.len))
        return false;
    size_t pos = 0;
    for (;;) {
        size_t end = level_end(filter, pos);
        size_t n = end - pos;
        const char *lvl = filter.ptr + pos;
        bool has_plus = memchr(lvl, '+', n) != NULL;
        bool has_hash = memchr(lvl, '#', n) != NULL;
        /* A wildcard must fill its whole level; '#' must also be last. */
        if (has_plus && !(n == 1))
            return false;
        if (has_hash && !(n == 1 && end == filter.len))
            return false;
        if (end == filter.len)
            return true;
        pos = end + 1;
    }
}

bool dps_mqtt_topic_matches(dps_mqtt_str filter, dps_mqtt_str topic)
{
    if (!dps_mqtt_topic_filter_valid(filter) || !dps_mqtt_topic_name_valid(topic))
        return false;
    /* 4.7.2: "$SYS/..." and "$iothub/..." are not for "#" or "+/..." */
    if (topic.ptr[0] == '$' && (filter.ptr[0] == '+' || filter.ptr[0] == '#'))
        return false;

    size_t fp = 0;
    size_t tp = 0;
    bool topic_done = false; /* every topic level has been matched */
    for (;;) {
        size_t fe = level_end(filter, fp);
        size_t fn = fe - fp;
        /* '#' matches what is left, including nothing: "a/#" matches "a". */
        if (fn == 1 && filter.ptr[fp] == '#')
            return true;
        if (topic_done)
            return false;
        size_t te = level_end(topic, tp);
        size_t tn = te - tp;
        bool plus = fn == 1 && filter.ptr[fp] == '+';
        if (!plus && (fn != tn || memcmp(filter.ptr + fp, topic.ptr + tp, fn) != 0))
            return false;
        bool filter_last = fe == filter.len;
        bool topic_last = te == topic.len;
        if (filter_last)
            return topic_last;
        fp = fe + 1;
        if (topic_last)
            topic_done = true;
        else
            tp = te + 1;
    }
}

/* ---- Property bags ------------------------------------------------------ */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes in[0..n) to scratch at *used, NUL-terminated, and returns
 * the view. The decoded text is never longer than the input. */
static dps_mqtt_result decode_part(const char *in, size_t n, char *scratch, size_t cap,
                                   size_t *used, dps_mqtt_str *out)
{
    size_t start = *used;
    size_t w = start;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            if (n - i < 3)
                return DPS_MQTT_MALFORMED;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return DPS_MQTT_MALFORMED;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return DPS_MQTT_MALFORMED; /* results are usable as C strings */
            i += 2;
        }
        if (w >= cap)
            return DPS_MQTT_NO_SPACE;
        scratch[w++] = c;
    }
    if (w >= cap)
        return DPS_MQTT_NO_SPACE;
    scratch[w] = '\0';
    if (!dps_mqtt_utf8_valid(scratch + start, w - start))
        return DPS_MQTT_MALFORMED;
    out->ptr = scratch + start;
    out->len = w - start;
    *used = w + 1;
    return DPS_MQTT_OK;
}

dps_mqtt_result dps_mqtt_props_parse(const char *bag, size_t len, dps_mqtt_prop *props,
                                     size_t max_props, char *scratch, size_t scratch_cap,
                                     size_t *count)
{
    assert(bag != NULL || len == 0);
    assert(props != NULL || max_props == 0);
    assert(scratch != NULL || scratch_cap == 0);
    assert(count != NULL);

    size_t n = 0;
    size_t used = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *amp = memchr(bag + pos, '&', len - pos);
        size_t end = amp != NULL ? (size_t)(amp - bag) : len;
        size_t item_len = end - pos;
        if (item_len > 0) {
            if (n == max_props)
                return DPS_MQTT_TOO_MANY;
            const char *item = bag + pos;
            const char *eq = memchr(item, '=', item_len);
            size_t key_len = eq != NULL ? (size_t)(eq - item) : item_len;
            if (key_len == 0)
                return DPS_MQTT_MALFORMED;
            dps_mqtt_prop p;
            dps_mqtt_result rc = decode_part(item, key_len, scratch, scratch_cap, &used, &p.key);
            if (rc != DPS_MQTT_OK)
                return rc;
            if (p.key.len == 0)
                return DPS_MQTT_MALFORMED;
            p.has_value = eq != NULL;
            if (p.has_value) {
                rc = decode_part(eq + 1, item_len - key_len - 1, scratch, scratch_cap, &used,
                                 &p.value);
                if (rc != DPS_MQTT_OK)
                    return rc;
            } else {
                p.value.ptr = "";
                p.value.len = 0;
            }
            props[n++] = p;
        }
        if (amp == NULL)
            break;
        pos = end + 1;
    }
    *count = n;
    return DPS_MQTT_OK;
}

const dps_mqtt_prop *dps_mqtt_props_find(const dps_mqtt_prop *props, size_t count,
                                         const char *key)
{
    assert(key != NULL);
    for (size_t i = 0; i < count; i++) {
        if (dps_mqtt_str_eq(props[i].key, key))
            return &props[i];
    }
    return NULL;
}
