/* Allocation policies (allocate.h). Each policy is one function over the
 * candidate hubs; the table maps the enrollment spelling to it. */
#include "engine/allocate.h"

#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/registration.h"

#define MAX_CANDIDATES DPS_ALLOC_MAX_CANDIDATES

typedef int (*policy_fn)(const dps_alloc_input *in, const int *cand, size_t ncand,
                         dps_alloc_result *out);

static int fail(dps_alloc_result *out, int code, const char *msg)
{
    out->hub = -1;
    out->error_code = code;
    snprintf(out->message, sizeof out->message, "%s", msg);
    return -1;
}

double dps_alloc_hashed_score(const char *registration_key, const char *hub_name, int weight)
{
    /* Registration keys are at most 128 characters and hub names 255: the
     * hashed message fits a fixed buffer; longer input is truncated (it
     * cannot come from validated records). */
    unsigned char msg[512];
    size_t n = 0;
    for (const char *p = registration_key; *p != '\0' && n < 200; p++)
        msg[n++] = (unsigned char)*p;
    msg[n++] = 0x00; /* the separator */
    for (const char *p = hub_name; *p != '\0' && n < sizeof msg; p++)
        msg[n++] = (unsigned char)tolower((unsigned char)*p);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (EVP_Digest(msg, n, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen < 8)
        return 0; /* never seen; the hub then simply loses every comparison */
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | digest[i];
    /* (x + 0.5) / 2^64 lies strictly inside (0, 1) in exact arithmetic; in
     * doubles x near 2^64 rounds to 1.0, so clamp to keep ln(u) < 0. */
    double u = ((double)x + 0.5) / 18446744073709551616.0;
    if (u >= 1.0)
        u = 0x1.fffffffffffffp-1;
    return -(double)weight / log(u);
}

/* Weighted rendezvous hashing: deterministic while the hub set is
 * unchanged, and when it changes only the devices of the hub that came or
 * went move. Ties (never seen in practice) go to the lower name. */
static int policy_hashed(const dps_alloc_input *in, const int *cand, size_t ncand,
                         dps_alloc_result *out)
{
    snprintf(out->detail, sizeof out->detail, "weighted hash over %zu candidate hub(s)", ncand);
    int best = -1;
    double best_score = 0;
    for (size_t i = 0; i < ncand; i++) {
        const dps_alloc_hub *h = &in->linked[cand[i]];
        double s = dps_alloc_hashed_score(in->registration_key, h->name, h->weight);
        if (best < 0 || s > best_score ||
            (s == best_score && strcasecmp(h->name, in->linked[best].name) < 0)) {
            best = cand[i];
            best_score = s;
        }
    }
    if (best < 0)
        return fail(out, DPS_REG_FAIL_NO_HUB, "no IoT hub is available for allocation");
    out->hub = best;
    return 0;
}

/* Static: the one hub the enrollment names. */
static int policy_static(const dps_alloc_input *in, const int *cand, size_t ncand,
                         dps_alloc_result *out)
{
    if (in->nlisted != 1)
        return fail(out, DPS_REG_FAIL_NO_HUB,
                    "static allocation needs exactly one hub in the enrollment's iotHubs");
    if (ncand != 1)
        return fail(out, DPS_REG_FAIL_NO_HUB,
                    "the enrollment's static hub is not a linked hub");
    out->hub = cand[0];
    snprintf(out->detail, sizeof out->detail, "the enrollment's one hub");
    return 0;
}

/* Never reached through dps_allocate from the engine: the webhook decides
 * (decide.c). A caller that asks anyway learns why. */
static int policy_custom(const dps_alloc_input *in, const int *cand, size_t ncand,
                         dps_alloc_result *out)
{
    (void)in;
    (void)cand;
    (void)ncand;
    return fail(out, DPS_REG_FAIL_CUSTOM, "custom allocation is decided by its webhook");
}

/* geoLatency (geo.h): the candidate with the lowest modelled round trip
 * from the device's location; candidates within the model's tie margin of
 * the best are hashed by weight. Without a device location, or when no
 * candidate's location can be estimated, every candidate is hashed: a
 * device is never refused for lack of geography [project]. */
static int policy_geo(const dps_alloc_input *in, const int *cand, size_t ncand,
                      dps_alloc_result *out)
{
    double lat[MAX_CANDIDATES];
    double best = -1;
    for (size_t i = 0; i < ncand; i++) {
        const dps_alloc_hub *h = &in->linked[cand[i]];
        lat[i] = in->device_location != NULL && h->location != NULL
                     ? dps_geo_latency_ms(in->geo, in->device_location, h->location)
                     : -1;
        if (lat[i] >= 0 && (best < 0 || lat[i] < best))
            best = lat[i];
    }
    if (best < 0) {
        int rc = policy_hashed(in, cand, ncand, out);
        snprintf(out->detail, sizeof out->detail,
                 "device location %s%.64s; no candidate's latency is known: weighted hash over "
                 "%zu hub(s)",
                 in->device_location != NULL ? "" : "unknown",
                 in->device_location != NULL ? in->device_location : "", ncand);
        return rc;
    }
    int near[MAX_CANDIDATES];
    size_t nnear = 0;
    double tie = dps_geo_tie_ms(in->geo);
    for (size_t i = 0; i < ncand; i++)
        if (lat[i] >= 0 && lat[i] <= best + tie)
            near[nnear++] = cand[i];
    int rc = policy_hashed(in, near, nnear, out);
    snprintf(out->detail, sizeof out->detail,
             "device in %.64s: nearest %zu hub(s) at about %.1f ms, weighted hash among them",
             in->device_location, nnear, best);
    return rc;
}

static const struct {
    const char *name;
    policy_fn fn;
} policies[] = {
    {"hashed", policy_hashed},
    {"geoLatency", policy_geo},
    {"static", policy_static},
    {"custom", policy_custom},
};

/* The candidate set (§12.2): the listed hubs that are linked (an explicit
 * listing overrides applyAllocationPolicy false), else every linked hub
 * that takes part in automatic allocation. */
size_t dps_alloc_candidates(const dps_alloc_input *in, int *cand, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < in->nlinked && n < max; i++) {
        const dps_alloc_hub *h = &in->linked[i];
        bool take = false;
        if (in->nlisted > 0) {
            for (size_t j = 0; j < in->nlisted && !take; j++)
                take = in->listed[j] != NULL && strcasecmp(in->listed[j], h->name) == 0;
        } else {
            take = h->apply_allocation_policy;
        }
        if (take)
            cand[n++] = (int)i;
    }
    return n;
}

const char *dps_alloc_policy_name(const char *policy)
{
    for (size_t i = 0; policy != NULL && i < sizeof policies / sizeof policies[0]; i++)
        if (strcasecmp(policy, policies[i].name) == 0)
            return policies[i].name;
    return NULL;
}

int dps_allocate(const dps_alloc_input *in, dps_alloc_result *out)
{
    out->hub = -1;
    out->error_code = 0;
    out->message[0] = '\0';
    out->detail[0] = '\0';
    const char *policy = in->policy != NULL && in->policy[0] != '\0' ? in->policy : "hashed";
    policy_fn fn = NULL;
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++)
        if (strcasecmp(policy, policies[i].name) == 0)
            fn = policies[i].fn;
    if (fn == NULL) {
        fail(out, DPS_REG_FAIL_NO_HUB, "");
        snprintf(out->message, sizeof out->message, "unknown allocation policy '%.64s'",
                 policy);
        return -1;
    }
    int cand[MAX_CANDIDATES];
    size_t ncand = dps_alloc_candidates(in, cand, MAX_CANDIDATES);
    return fn(in, cand, ncand, out);
}
