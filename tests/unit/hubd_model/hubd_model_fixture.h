/* Shared set-up of the hubd model tests: a real SQLite store in a fresh
 * temporary directory and a hubd_ctx around it, with two hubs created. */
#ifndef HUBD_MODEL_FIXTURE_H
#define HUBD_MODEL_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "hubd.h"
#include "model/hubs.h"
#include "model/registry.h"

#define HUB1 "hub1.example.net"
#define HUB2 "hub2.example.net"

typedef struct {
    char dir[64];
    char path[128];
    hubd_ctx ctx;
} hubd_fixture;

static inline int hubd_fixture_setup(void **state)
{
    dps_log_set_level(DPS_LOG_WARN);
    hubd_fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/hubd-model-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/hub.db", f->dir);
    char err[256];
    f->ctx.store = dps_store_open(f->path, err, sizeof err);
    if (f->ctx.store == NULL ||
        hubd_hub_ensure(&f->ctx, HUB1, err, sizeof err) != 0 ||
        hubd_hub_ensure(&f->ctx, HUB2, err, sizeof err) != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static inline int hubd_fixture_teardown(void **state)
{
    hubd_fixture *f = *state;
    dps_store_close(&f->ctx.store);
    char p[192];
    static const char *const files[] = {"hub.db", "hub.db-wal", "hub.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", f->dir, files[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

static inline hubd_ctx *hubd_fixture_ctx(void **state)
{
    return &((hubd_fixture *)*state)->ctx;
}

#endif
