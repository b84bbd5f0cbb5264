/* libFuzzer harness for the MQTT codec: the input is an untrusted byte stream
 * as a server would receive it. Every packet the framer finds is decoded; a
 * packet that decodes must re-encode to exactly the same bytes, and its
 * topics and filters go through the topic helpers. The same bytes are also
 * tried as an IoT Hub property bag and as a filter/topic pair. Any crash,
 * sanitizer report or abort() is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt.h"

#define FUZZ_MAX_PACKET (64u * 1024u)
#define FUZZ_MAX_SUBS 8u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reencode(const uint8_t *pkt, size_t len, const dps_mqtt_packet *p)
{
    /* Size query first, then an exact-size buffer: ASan catches overruns. */
    size_t need = 0;
    if (dps_mqtt_encode(p, NULL, 0, &need) != DPS_MQTT_NO_SPACE || need != len)
        abort();
    uint8_t *out = malloc(need);
    if (out == NULL)
        return;
    size_t got = 0;
    if (dps_mqtt_encode(p, out, need, &got) != DPS_MQTT_OK || got != len ||
        memcmp(out, pkt, len) != 0)
        abort();
    free(out);
}

static void check_topics(const dps_mqtt_packet *p)
{
    static const char *const filters[] = {"#", "+/+", "$iothub/twin/res/#",
                                          "devices/+/messages/events/#"};
    if (p->type == DPS_MQTT_PUBLISH) {
        if (!dps_mqtt_topic_name_valid(p->u.publish.topic))
            abort(); /* the decoder let an invalid topic through */
        for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
            (void)dps_mqtt_topic_matches(dps_mqtt_cstr(filters[i]), p->u.publish.topic);
    } else if (p->type == DPS_MQTT_SUBSCRIBE || p->type == DPS_MQTT_UNSUBSCRIBE) {
        for (size_t i = 0; i < p->u.subscribe.count; i++) {
            if (!dps_mqtt_topic_filter_valid(p->u.subscribe.subs[i].filter))
                abort();
            (void)dps_mqtt_topic_matches(p->u.subscribe.subs[i].filter,
                                         dps_mqtt_cstr("$iothub/twin/res/200/?$rid=1"));
        }
    }
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        dps_mqtt_frame fr;
        dps_mqtt_result rc = dps_mqtt_frame_peek(data + off, size - off, FUZZ_MAX_PACKET, &fr);
        if (rc != DPS_MQTT_OK)
            return;
        if (fr.total_len < 2 || fr.total_len > size - off)
            abort();
        /* An exact-size copy, as a server would hold one packet. */
        uint8_t *pkt = malloc(fr.total_len);
        if (pkt == NULL)
            return;
        memcpy(pkt, data + off, fr.total_len);
        dps_mqtt_sub subs[FUZZ_MAX_SUBS];
        dps_mqtt_packet p;
        rc = dps_mqtt_decode(pkt, fr.total_len, subs, FUZZ_MAX_SUBS, &p);
        if (rc == DPS_MQTT_OK) {
            if ((unsigned)p.type != fr.type)
                abort();
            check_reencode(pkt, fr.total_len, &p);
            check_topics(&p);
        } else if (rc == DPS_MQTT_NEED_MORE || rc == DPS_MQTT_NO_SPACE) {
            abort(); /* impossible for a whole packet */
        }
        free(pkt);
        if (rc != DPS_MQTT_OK && rc != DPS_MQTT_TOO_MANY)
            return; /* a server closes the connection here */
        off += fr.total_len;
    }
}

static void fuzz_strings(const uint8_t *data, size_t size)
{
    /* The whole input as a property bag, with the documented scratch size. */
    char *scratch = malloc(size + 1);
    if (scratch == NULL)
        return;
    dps_mqtt_prop props[16];
    size_t n = 0;
    if (dps_mqtt_props_parse((const char *)data, size, props, 16, scratch, size + 1, &n) ==
        DPS_MQTT_OK) {
        for (size_t i = 0; i < n; i++) {
            if (props[i].key.len == 0 || props[i].key.ptr[props[i].key.len] != '\0')
                abort();
        }
    }
    free(scratch);

    /* Split at the first newline into a filter and a topic. */
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl != NULL) {
        dps_mqtt_str filter = {(const char *)data, (size_t)(nl - data)};
        dps_mqtt_str topic = {(const char *)nl + 1, size - filter.len - 1};
        bool m = dps_mqtt_topic_matches(filter, topic);
        /* "#" matches every valid topic that does not start with '$'. */
        if (dps_mqtt_topic_name_valid(topic) && topic.ptr[0] != '$' &&
            !dps_mqtt_topic_matches(dps_mqtt_cstr("#"), topic))
            abort();
        /* A filter without wildcards matches exactly itself. */
        if (m && dps_mqtt_topic_name_valid(filter) &&
            (filter.len != topic.len || memcmp(filter.ptr, topic.ptr, topic.len) != 0))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_stream(data, size);
    fuzz_strings(data, size);
    return 0;
}
