/* The per-hub telemetry log: sequence numbers, wrap-around by count and by
 * bytes, replay and live delivery to subscribers, re-entrant callbacks and
 * the JSON form operators see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/telemetry.h"

#define MAX_SEEN 256

/* What a test callback records. */
typedef struct {
    hubd_ctx *ctx;
    uint64_t seqs[MAX_SEEN];
    char bodies[MAX_SEEN][32];
    char devices[MAX_SEEN][32];
    size_t n;
    /* optional behaviour on a given sequence */
    uint64_t unsubscribe_at;   /* unsubscribe itself when this arrives */
    uint64_t append_at;        /* append one more message when this arrives */
    size_t append_budget;      /* how many re-entrant appends are allowed */
    uint64_t subscribe_at;     /* subscribe `other` when this arrives */
    void *other;
    uint64_t other_id;
    uint64_t unsubscribe_other; /* id cancelled when unsubscribe_at arrives */
} seen;

static hubd_ctx make_ctx(size_t max_messages, size_t max_bytes)
{
    hubd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.telemetry = hubd_telemetry_new(max_messages, max_bytes);
    assert_non_null(ctx.telemetry);
    return ctx;
}

static void append(hubd_ctx *ctx, const char *hub, const char *device, const char *body)
{
    hubd_telemetry_message m = {
        .hub = hub, .device_id = device, .body = body, .body_len = strlen(body)};
    hubd_telemetry_append(ctx, &m);
}

static void record(void *arg, const hubd_telemetry_event *ev);

static void record(void *arg, const hubd_telemetry_event *ev)
{
    seen *s = arg;
    assert_true(s->n < MAX_SEEN);
    s->seqs[s->n] = ev->sequence;
    snprintf(s->bodies[s->n], sizeof s->bodies[s->n], "%.*s", (int)ev->body_len,
             (const char *)ev->body);
    snprintf(s->devices[s->n], sizeof s->devices[s->n], "%s", ev->device_id);
    s->n++;
    assert_non_null(ev->system_props);
    assert_non_null(ev->app_props);

    if (s->unsubscribe_at != 0 && ev->sequence == s->unsubscribe_at) {
        hubd_telemetry_unsubscribe(s->ctx, ev->subscription);
        if (s->unsubscribe_other != 0)
            hubd_telemetry_unsubscribe(s->ctx, s->unsubscribe_other);
    }
    if (s->append_at != 0 && ev->sequence >= s->append_at && s->append_budget > 0) {
        s->append_budget--;
        char body[32];
        snprintf(body, sizeof body, "nested-%zu", s->append_budget);
        append(s->ctx, ev->hub, "nested", body);
    }
    if (s->subscribe_at != 0 && ev->sequence == s->subscribe_at)
        s->other_id = hubd_telemetry_subscribe(s->ctx, ev->hub, 0, record, s->other);
}

static void assert_consecutive(const seen *s, uint64_t first, size_t count)
{
    assert_int_equal(s->n, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(s->seqs[i], first + i);
}

static void test_sequence_per_hub(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(100, 1 << 20);
    append(&ctx, "hub1.example.net", "d1", "a");
    append(&ctx, "HUB1.Example.NET", "d1", "b"); /* same hub, other spelling */
    append(&ctx, "hub2.example.net", "d2", "c");

    hubd_telemetry_stats st;
    hubd_telemetry_get_stats(&ctx, "hub1.example.net", &st);
    assert_int_equal(st.count, 2);
    assert_int_equal(st.first_sequence, 1);
    assert_int_equal(st.last_sequence, 2);
    assert_int_equal(st.dropped, 0);
    hubd_telemetry_get_stats(&ctx, "hub2.example.net", &st);
    assert_int_equal(st.count, 1);
    assert_int_equal(st.last_sequence, 1);
    hubd_telemetry_get_stats(&ctx, "hub3.example.net", &st);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.last_sequence, 0);

    seen s = {.ctx = &ctx};
    assert_int_equal(hubd_telemetry_read(&ctx, "Hub1.example.net", 0, 10, record, &s), 2);
    assert_consecutive(&s, 1, 2);
    assert_string_equal(s.bodies[0], "a");
    assert_string_equal(s.bodies[1], "b");
    hubd_telemetry_free(&ctx.telemetry);
    assert_null(ctx.telemetry);
}

static void test_wraps_around_by_count(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(5, 1 << 20);
    for (int i = 1; i <= 12; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        append(&ctx, "hub1", "dev", body);
    }
    hubd_telemetry_stats st;
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_int_equal(st.count, 5);
    assert_int_equal(st.first_sequence, 8);
    assert_int_equal(st.last_sequence, 12);
    assert_int_equal(st.dropped, 7);

    seen s = {.ctx = &ctx};
    assert_int_equal(hubd_telemetry_read(&ctx, "hub1", 0, 100, record, &s), 5);
    assert_consecutive(&s, 8, 5);
    assert_string_equal(s.bodies[0], "m8");
    assert_string_equal(s.bodies[4], "m12");

    /* Paging: after 9, two at a time. */
    seen p = {.ctx = &ctx};
    assert_int_equal(hubd_telemetry_read(&ctx, "hub1", 9, 2, record, &p), 2);
    assert_consecutive(&p, 10, 2);
    seen none = {.ctx = &ctx};
    assert_int_equal(hubd_telemetry_read(&ctx, "hub1", 12, 10, record, &none), 0);
    hubd_telemetry_free(&ctx.telemetry);
}

static void test_ring_grows_past_initial_size(void **state)
{
    (void)state;
    /* More than the initial ring, fewer than the cap, then wrap. */
    hubd_ctx ctx = make_ctx(200, 64u << 20);
    for (int i = 1; i <= 150; i++)
        append(&ctx, "hub1", "dev", "x");
    hubd_telemetry_stats st;
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_int_equal(st.count, 150);
    assert_int_equal(st.first_sequence, 1);
    for (int i = 151; i <= 450; i++)
        append(&ctx, "hub1", "dev", "x");
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_int_equal(st.count, 200);
    assert_int_equal(st.first_sequence, 251);
    assert_int_equal(st.last_sequence, 450);
    seen s = {.ctx = &ctx};
    assert_int_equal(hubd_telemetry_read(&ctx, "hub1", 0, MAX_SEEN, record, &s), 200);
    assert_consecutive(&s, 251, 200);
    hubd_telemetry_free(&ctx.telemetry);
}

static void test_byte_budget_evicts_and_keeps_oversized(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(1000, 4096);
    char big[1500];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 10; i++)
        append(&ctx, "hub1", "dev", big);
    hubd_telemetry_stats st;
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_true(st.count >= 1 && st.count <= 2);
    assert_true(st.bytes <= 4096);
    assert_int_equal(st.last_sequence, 10);
    assert_int_equal(st.dropped, 10 - st.count);

    /* A message larger than the whole budget is still kept, alone. */
    size_t hugelen = 10000;
    char *huge = malloc(hugelen + 1);
    assert_non_null(huge);
    memset(huge, 'h', hugelen);
    huge[hugelen] = '\0';
    append(&ctx, "hub1", "dev", huge);
    free(huge);
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_int_equal(st.count, 1);
    assert_int_equal(st.first_sequence, 11);
    append(&ctx, "hub1", "dev", "small");
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_int_equal(st.count, 1);
    assert_int_equal(st.first_sequence, 12);
    hubd_telemetry_free(&ctx.telemetry);
}

static void test_subscribe_replays_then_follows(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(5, 1 << 20);
    for (int i = 0; i < 8; i++)
        append(&ctx, "hub1", "dev", "old"); /* 4..8 retained */

    seen all = {.ctx = &ctx};
    seen after6 = {.ctx = &ctx};
    seen live = {.ctx = &ctx};
    seen early = {.ctx = &ctx}; /* since 2: 3 dropped out, starts at 4 */
    seen future = {.ctx = &ctx}; /* since 1000: from an earlier run, gets all */
    uint64_t a = hubd_telemetry_subscribe(&ctx, "hub1", 0, record, &all);
    uint64_t b = hubd_telemetry_subscribe(&ctx, "hub1", 6, record, &after6);
    uint64_t c = hubd_telemetry_subscribe(&ctx, "hub1", HUBD_TELEMETRY_LIVE, record, &live);
    uint64_t d = hubd_telemetry_subscribe(&ctx, "hub1", 2, record, &early);
    uint64_t e = hubd_telemetry_subscribe(&ctx, "hub1", 1000, record, &future);
    assert_true(a != 0 && b != 0 && c != 0 && d != 0 && e != 0);
    assert_true(a != b && b != c && c != d && d != e);
    assert_consecutive(&all, 4, 5);
    assert_consecutive(&after6, 7, 2);
    assert_int_equal(live.n, 0);
    assert_consecutive(&early, 4, 5);
    assert_consecutive(&future, 4, 5);

    append(&ctx, "hub1", "dev", "new");
    append(&ctx, "hub2", "dev", "other hub");
    assert_consecutive(&all, 4, 6);
    assert_consecutive(&after6, 7, 3);
    assert_consecutive(&live, 9, 1);
    assert_string_equal(live.bodies[0], "new");

    hubd_telemetry_stats st;
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_int_equal(st.subscribers, 5);
    hubd_telemetry_unsubscribe(&ctx, b);
    hubd_telemetry_unsubscribe(&ctx, b);      /* twice: ignored */
    hubd_telemetry_unsubscribe(&ctx, 999999); /* unknown: ignored */
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_int_equal(st.subscribers, 4);
    append(&ctx, "hub1", "dev", "after");
    assert_int_equal(after6.n, 3);
    assert_int_equal(all.n, 7);
    hubd_telemetry_free(&ctx.telemetry);
}

static void test_unsubscribe_inside_replay(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(50, 1 << 20);
    for (int i = 0; i < 10; i++)
        append(&ctx, "hub1", "dev", "m");
    seen s = {.ctx = &ctx, .unsubscribe_at = 3};
    uint64_t id = hubd_telemetry_subscribe(&ctx, "hub1", 0, record, &s);
    assert_true(id != 0);
    /* It stopped itself at 3, in the middle of its replay. */
    assert_consecutive(&s, 1, 3);
    append(&ctx, "hub1", "dev", "m");
    assert_int_equal(s.n, 3);
    hubd_telemetry_stats st;
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_int_equal(st.subscribers, 0);
    hubd_telemetry_free(&ctx.telemetry);
}

static void test_unsubscribe_other_during_live_delivery(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(50, 1 << 20);
    seen first = {.ctx = &ctx};
    seen second = {.ctx = &ctx};
    hubd_telemetry_subscribe(&ctx, "hub1", HUBD_TELEMETRY_LIVE, record, &first);
    uint64_t id2 = hubd_telemetry_subscribe(&ctx, "hub1", HUBD_TELEMETRY_LIVE, record, &second);
    first.unsubscribe_at = 1;
    first.unsubscribe_other = id2;
    append(&ctx, "hub1", "dev", "m");
    /* first got it and cancelled both itself and second before second's
     * turn: second is never called. */
    assert_int_equal(first.n, 1);
    assert_int_equal(second.n, 0);
    append(&ctx, "hub1", "dev", "m");
    assert_int_equal(first.n, 1);
    assert_int_equal(second.n, 0);
    hubd_telemetry_free(&ctx.telemetry);
}

static void test_reentrant_append_keeps_order(void **state)
{
    (void)state;
    /* A log of 1 message: every nested append evicts the entry the outer
     * callback is looking at (ASan would see a use after free). */
    hubd_ctx ctx = make_ctx(1, 1 << 20);
    seen a = {.ctx = &ctx, .append_at = 1, .append_budget = 3};
    seen b = {.ctx = &ctx};
    hubd_telemetry_subscribe(&ctx, "hub1", HUBD_TELEMETRY_LIVE, record, &a);
    hubd_telemetry_subscribe(&ctx, "hub1", HUBD_TELEMETRY_LIVE, record, &b);
    append(&ctx, "hub1", "dev", "first");
    /* a: 1, then its own nested 2, 3, 4, each after the callback returned. */
    assert_consecutive(&a, 1, 4);
    /* b: whatever is still retained when its turn comes, in order, without
     * duplicates: with one slot, that is the newest, 4, plus 1 if it ran
     * first. Either way it is strictly increasing. */
    assert_true(b.n >= 1);
    for (size_t i = 1; i < b.n; i++)
        assert_true(b.seqs[i] > b.seqs[i - 1]);
    assert_int_equal(b.seqs[b.n - 1], 4);

    hubd_ctx big = make_ctx(100, 1 << 20);
    seen c = {.ctx = &big, .append_at = 1, .append_budget = 3};
    seen d = {.ctx = &big};
    hubd_telemetry_subscribe(&big, "hub1", HUBD_TELEMETRY_LIVE, record, &c);
    hubd_telemetry_subscribe(&big, "hub1", HUBD_TELEMETRY_LIVE, record, &d);
    append(&big, "hub1", "dev", "first");
    assert_consecutive(&c, 1, 4);
    assert_consecutive(&d, 1, 4); /* nothing lost when the log is big enough */
    assert_string_equal(d.devices[0], "dev");
    assert_string_equal(d.devices[1], "nested");
    hubd_telemetry_free(&ctx.telemetry);
    hubd_telemetry_free(&big.telemetry);
}

static void test_subscribe_inside_callback(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(10, 1 << 20);
    seen inner = {.ctx = &ctx};
    seen outer = {.ctx = &ctx, .subscribe_at = 2, .other = &inner};
    append(&ctx, "hub1", "dev", "m");
    append(&ctx, "hub1", "dev", "m");
    append(&ctx, "hub1", "dev", "m");
    hubd_telemetry_subscribe(&ctx, "hub1", 0, record, &outer);
    assert_consecutive(&outer, 1, 3);
    assert_true(outer.other_id != 0);
    assert_consecutive(&inner, 1, 3); /* its own full replay */
    append(&ctx, "hub1", "dev", "m");
    assert_consecutive(&outer, 1, 4);
    assert_consecutive(&inner, 1, 4);
    hubd_telemetry_free(&ctx.telemetry);
}

static void test_subscriber_cap(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(10, 1 << 20);
    seen s = {.ctx = &ctx};
    uint64_t ids[HUBD_TELEMETRY_MAX_SUBSCRIBERS];
    for (size_t i = 0; i < HUBD_TELEMETRY_MAX_SUBSCRIBERS; i++) {
        ids[i] = hubd_telemetry_subscribe(&ctx, "hub1", HUBD_TELEMETRY_LIVE, record, &s);
        assert_true(ids[i] != 0);
    }
    assert_int_equal(hubd_telemetry_subscribe(&ctx, "hub1", 0, record, &s), 0);
    /* Another hub has its own budget; a freed slot is usable again. */
    assert_true(hubd_telemetry_subscribe(&ctx, "hub2", 0, record, &s) != 0);
    hubd_telemetry_unsubscribe(&ctx, ids[7]);
    assert_true(hubd_telemetry_subscribe(&ctx, "hub1", 0, record, &s) != 0);
    assert_int_equal(hubd_telemetry_subscribe(&ctx, NULL, 0, record, &s), 0);
    assert_int_equal(hubd_telemetry_subscribe(&ctx, "hub1", 0, NULL, &s), 0);
    hubd_telemetry_free(&ctx.telemetry);
}

static json_t *capture_json;

static void to_json_cb(void *arg, const hubd_telemetry_event *ev)
{
    (void)arg;
    json_decref(capture_json);
    capture_json = hubd_telemetry_to_json(ev);
}

static json_t *json_of_last(hubd_ctx *ctx, const char *hub)
{
    hubd_telemetry_stats st;
    hubd_telemetry_get_stats(ctx, hub, &st);
    capture_json = NULL;
    assert_int_equal(hubd_telemetry_read(ctx, hub, st.last_sequence - 1, 1, to_json_cb, NULL),
                     1);
    assert_non_null(capture_json);
    json_t *j = capture_json;
    capture_json = NULL;
    return j;
}

static void test_to_json(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(10, 1 << 20);
    json_t *sys = json_pack("{s:s, s:s}", "contentType", "application/json", "messageId", "m1");
    json_t *app = json_pack("{s:s}", "alert", "no");
    const char *text = "{\"temp\":21.5}";
    hubd_telemetry_message m = {.hub = "Hub1.example.net",
                                .device_id = "sensor-0001",
                                .system_props = sys,
                                .app_props = app,
                                .body = text,
                                .body_len = strlen(text)};
    hubd_telemetry_append(&ctx, &m);
    /* The log copied the properties: changing the caller's objects later
     * does not change the stored message. */
    json_object_set_new(app, "alert", json_string("yes"));
    json_decref(sys);
    json_decref(app);

    /* Shared properties: the log keeps a reference, the caller lets go. */
    json_t *shared = json_pack("{s:s}", "k", "v");
    hubd_telemetry_message ms = {.hub = "hub1.example.net",
                                 .device_id = "d",
                                 .app_props = shared,
                                 .body = "s",
                                 .body_len = 1,
                                 .share_props = true};
    hubd_telemetry_append(&ctx, &ms);
    json_decref(shared);
    json_t *js = json_of_last(&ctx, "hub1.example.net");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(js, "applicationProperties"), "k")),
        "v");
    json_decref(js);

    capture_json = NULL;
    assert_int_equal(hubd_telemetry_read(&ctx, "hub1.example.net", 0, 1, to_json_cb, NULL), 1);
    json_t *j = capture_json;
    capture_json = NULL;
    assert_int_equal(json_integer_value(json_object_get(j, "sequence")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "deviceId")), "sensor-0001");
    assert_string_equal(json_string_value(json_object_get(j, "hub")), "hub1.example.net");
    assert_string_equal(json_string_value(json_object_get(j, "body")), text);
    assert_null(json_object_get(j, "bodyEncoding"));
    const char *when = json_string_value(json_object_get(j, "enqueuedTimeUtc"));
    assert_non_null(when);
    assert_int_equal(strlen(when), 28);
    assert_int_equal(when[27], 'Z');
    json_t *jsys = json_object_get(j, "systemProperties");
    assert_string_equal(json_string_value(json_object_get(jsys, "contentType")),
                        "application/json");
    json_t *japp = json_object_get(j, "applicationProperties");
    assert_string_equal(json_string_value(json_object_get(japp, "alert")), "no");
    json_decref(j);

    /* Binary (invalid UTF-8) and NUL-carrying bodies travel as base64. */
    const unsigned char bin[] = {0xff, 0xfe, 0x00, 0x41};
    hubd_telemetry_message mb = {
        .hub = "hub1.example.net", .device_id = "d", .body = bin, .body_len = sizeof bin};
    hubd_telemetry_append(&ctx, &mb);
    j = json_of_last(&ctx, "hub1.example.net");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "//4AQQ==");
    assert_string_equal(json_string_value(json_object_get(j, "bodyEncoding")), "base64");
    assert_int_equal(json_object_size(json_object_get(j, "systemProperties")), 0);
    assert_int_equal(json_object_size(json_object_get(j, "applicationProperties")), 0);
    json_decref(j);

    const char nul_text[] = {'a', 0, 'b'};
    hubd_telemetry_message mn = {
        .hub = "hub1.example.net", .device_id = "d", .body = nul_text, .body_len = 3};
    hubd_telemetry_append(&ctx, &mn);
    j = json_of_last(&ctx, "hub1.example.net");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "YQBi");
    json_decref(j);

    /* Empty body: an empty string. Non-ASCII UTF-8 stays text. */
    hubd_telemetry_message me = {.hub = "hub1.example.net", .device_id = "d"};
    hubd_telemetry_append(&ctx, &me);
    j = json_of_last(&ctx, "hub1.example.net");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "");
    json_decref(j);
    append(&ctx, "hub1.example.net", "d", "gr\xc3\xbc\xc3\x9f");
    j = json_of_last(&ctx, "hub1.example.net");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "gr\xc3\xbc\xc3\x9f");
    json_decref(j);
    hubd_telemetry_free(&ctx.telemetry);
}

static void test_bad_input_ignored(void **state)
{
    (void)state;
    hubd_ctx ctx = make_ctx(10, 1 << 20);
    hubd_telemetry_message m = {.hub = NULL, .device_id = "d", .body = "x", .body_len = 1};
    hubd_telemetry_append(&ctx, &m);
    m.hub = "";
    hubd_telemetry_append(&ctx, &m);
    m.hub = "hub1";
    m.device_id = NULL;
    hubd_telemetry_append(&ctx, &m);
    hubd_telemetry_stats st;
    hubd_telemetry_get_stats(&ctx, "hub1", &st);
    assert_int_equal(st.last_sequence, 0);
    /* No telemetry at all (a context without logs): nothing happens. */
    hubd_ctx none;
    memset(&none, 0, sizeof none);
    m.device_id = "d";
    hubd_telemetry_append(&none, &m);
    hubd_telemetry_get_stats(&none, "hub1", &st);
    assert_int_equal(st.count, 0);
    assert_null(hubd_telemetry_new(0, 100));
    assert_null(hubd_telemetry_new(100, 0));
    hubd_telemetry_free(&ctx.telemetry);
    hubd_telemetry_free(&ctx.telemetry); /* NULL: fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_per_hub),
        cmocka_unit_test(test_wraps_around_by_count),
        cmocka_unit_test(test_ring_grows_past_initial_size),
        cmocka_unit_test(test_byte_budget_evicts_and_keeps_oversized),
        cmocka_unit_test(test_subscribe_replays_then_follows),
        cmocka_unit_test(test_unsubscribe_inside_replay),
        cmocka_unit_test(test_unsubscribe_other_during_live_delivery),
        cmocka_unit_test(test_reentrant_append_keeps_order),
        cmocka_unit_test(test_subscribe_inside_callback),
        cmocka_unit_test(test_subscriber_cap),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_bad_input_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
