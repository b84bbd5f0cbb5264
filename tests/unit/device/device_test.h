/* Helpers shared by the libdpsdevice unit tests: guard bytes around output
 * buffers (az_test_span.h style), so that a builder writing one byte too
 * many, or anything at all on DPS_E_NO_SPACE, fails the test. */
#ifndef DPS_TEST_DEVICE_TEST_H
#define DPS_TEST_DEVICE_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dps/device.h"

#define GUARD_BYTE 0xA5
#define GUARD_LEN 16

/* A buffer of cap usable bytes followed by GUARD_LEN guard bytes, all
 * filled with the guard pattern. */
typedef struct {
    char *buf;
    size_t cap;
} guarded;

static inline guarded guarded_new(size_t cap)
{
    guarded g = {malloc(cap + GUARD_LEN), cap};
    assert_non_null(g.buf);
    memset(g.buf, GUARD_BYTE, cap + GUARD_LEN);
    return g;
}

/* True when bytes [from, cap + GUARD_LEN) still hold the pattern. */
static inline int guarded_untouched_from(const guarded *g, size_t from)
{
    for (size_t i = from; i < g->cap + GUARD_LEN; i++) {
        if ((unsigned char)g->buf[i] != GUARD_BYTE)
            return 0;
    }
    return 1;
}

static inline void guarded_free(guarded *g)
{
    free(g->buf);
    g->buf = NULL;
}

typedef dps_result (*build_fn)(void *ctx, char *out, size_t cap, size_t *out_len);

/* Runs a builder with exactly the size it needs, and with one byte less:
 * checks the expected text, the NUL, untouched guards, and that NO_SPACE
 * writes nothing and reports the size. */
static inline void check_builder(build_fn fn, void *ctx, const char *expected)
{
    size_t need = strlen(expected) + 1;
    size_t n = 12345;
    /* size query */
    assert_int_equal(fn(ctx, NULL, 0, &n), DPS_E_NO_SPACE);
    assert_int_equal(n, need);
    /* one byte short: nothing written */
    guarded g = guarded_new(need - 1);
    n = 0;
    assert_int_equal(fn(ctx, g.buf, g.cap, &n), DPS_E_NO_SPACE);
    assert_int_equal(n, need);
    assert_true(guarded_untouched_from(&g, 0));
    guarded_free(&g);
    /* exact fit */
    g = guarded_new(need);
    n = 0;
    assert_int_equal(fn(ctx, g.buf, g.cap, &n), DPS_OK);
    assert_int_equal(n, need - 1);
    assert_string_equal(g.buf, expected);
    assert_true(guarded_untouched_from(&g, need));
    guarded_free(&g);
}

#endif
