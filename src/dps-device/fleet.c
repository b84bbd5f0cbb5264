/* --count N: devices <prefix>-0001 .. <prefix>-N (keys derived from the
 * group key) registered from one process by a small pool of threads, then
 * a summary: how many were assigned, where, and how long it took. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

#define SIM_MAX_HUBS 32

typedef struct {
    const sim_config *cfg;
    pthread_mutex_t lock;
    uint32_t next;      /* next device index, 0-based */
    uint32_t assigned;
    uint32_t failed;
    uint32_t hub_errors;
    uint32_t messages;
    struct {
        char name[DPS_MAX_HOST_NAME + 1];
        uint32_t devices;
    } hubs[SIM_MAX_HUBS];
    size_t hub_count;
} fleet;

static void tally(fleet *f, const sim_device_outcome *o)
{
    pthread_mutex_lock(&f->lock);
    if (o->register_rc == DPS_OK) {
        f->assigned++;
        size_t i = 0;
        while (i < f->hub_count && strcmp(f->hubs[i].name, o->reg.assigned_hub) != 0)
            i++;
        if (i == f->hub_count && f->hub_count < SIM_MAX_HUBS) {
            snprintf(f->hubs[i].name, sizeof f->hubs[i].name, "%s", o->reg.assigned_hub);
            f->hub_count++;
        }
        if (i < f->hub_count)
            f->hubs[i].devices++;
    } else {
        f->failed++;
    }
    if (o->hub_rc != DPS_OK)
        f->hub_errors++;
    f->messages += o->messages_sent;
    pthread_mutex_unlock(&f->lock);
}

static void *worker(void *arg)
{
    fleet *f = arg;
    sim_device_outcome *o = malloc(sizeof *o);
    if (o == NULL)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        uint32_t i = f->next < f->cfg->count && !sim_stop ? f->next++ : UINT32_MAX;
        pthread_mutex_unlock(&f->lock);
        if (i == UINT32_MAX)
            break;
        char id[DPS_MAX_REGISTRATION_ID + 1];
        int n = snprintf(id, sizeof id, "%s-%04u", f->cfg->registration_id, i + 1);
        if (n < 0 || (size_t)n >= sizeof id) {
            sim_printf("%s: registration ID too long\n", f->cfg->registration_id);
            memset(o, 0, sizeof *o);
            o->register_rc = DPS_E_INVALID;
        } else {
            (void)sim_run_device(f->cfg, id, o);
        }
        tally(f, o);
    }
    free(o);
    return NULL;
}

int sim_run_fleet(const sim_config *cfg)
{
    fleet *f = calloc(1, sizeof *f);
    if (f == NULL)
        return 1;
    f->cfg = cfg;
    pthread_mutex_init(&f->lock, NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint32_t threads = cfg->parallel < cfg->count ? cfg->parallel : cfg->count;
    pthread_t tids[SIM_MAX_PARALLEL];
    uint32_t started = 0;
    for (; started < threads; started++) {
        if (pthread_create(&tids[started], NULL, worker, f) != 0)
            break;
    }
    if (started == 0)
        worker(f); /* no threads: run them here */
    for (uint32_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    sim_printf("summary: %u of %u devices assigned, %u not registered, %u hub session "
               "error%s, %u messages, %.1f s\n",
               f->assigned, cfg->count, f->failed, f->hub_errors, f->hub_errors == 1 ? "" : "s",
               f->messages, secs);
    for (size_t i = 0; i < f->hub_count; i++)
        sim_printf("summary: %s: %u device%s\n", f->hubs[i].name, f->hubs[i].devices,
                   f->hubs[i].devices == 1 ? "" : "s");
    int rc = f->assigned == cfg->count && f->hub_errors == 0 ? 0 : 1;
    pthread_mutex_destroy(&f->lock);
    free(f);
    return rc;
}
