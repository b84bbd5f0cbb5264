/* Linked hubs and the store-backed decision (hubset.h). */
#include "engine/hubset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define HUB_PAGE 1000

void dps_hub_set_free(dps_hub_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        dps_linked_hub_free(&s->hubs[i]);
    free(s->hubs);
    free(s->alloc);
    memset(s, 0, sizeof *s);
}

int dps_hub_set_load(dps_store *store, dps_hub_set *s)
{
    memset(s, 0, sizeof *s);
    char after[DPS_HUB_NAME_MAX + 1] = "";
    for (;;) {
        dps_record_list list = {0};
        if (dps_store_list(store, DPS_COLL_LINKED_HUB, NULL, after[0] ? after : NULL, HUB_PAGE,
                           &list) != DPS_STORE_OK)
            return -1;
        dps_linked_hub *nh = realloc(s->hubs, (s->n + list.count + 1) * sizeof *nh);
        if (nh != NULL)
            s->hubs = nh;
        dps_alloc_hub *na = realloc(s->alloc, (s->n + list.count + 1) * sizeof *na);
        if (na != NULL)
            s->alloc = na;
        if (nh == NULL || na == NULL) {
            dps_record_list_free(&list);
            return -1;
        }
        for (size_t i = 0; i < list.count; i++) {
            char err[200];
            json_error_t jerr;
            json_t *doc = json_loads(list.items[i].doc, 0, &jerr);
            dps_linked_hub h = {0};
            if (doc == NULL || dps_linked_hub_from_json(doc, &h, err, sizeof err) != 0) {
                log_error("linked hub '%s' is unusable: %s", list.items[i].key,
                          doc == NULL ? "not JSON" : err);
                json_decref(doc);
                continue;
            }
            json_decref(doc);
            s->hubs[s->n] = h;
            s->alloc[s->n] = (dps_alloc_hub){.name = h.name,
                                             .weight = h.weight,
                                             .apply_allocation_policy =
                                                 h.apply_allocation_policy,
                                             .location = h.location};
            s->n++;
        }
        bool more = list.more && list.count > 0;
        if (more)
            snprintf(after, sizeof after, "%s", list.items[list.count - 1].key);
        dps_record_list_free(&list);
        if (!more)
            return 0;
    }
}

int dps_decide_with_store(dps_store *store, const dps_geo_model *geo,
                          const dps_decide_request *r, dps_hub_set *hubs, dps_decision *d)
{
    memset(d, 0, sizeof *d);
    d->hub = -1;
    if (dps_hub_set_load(store, hubs) != 0)
        return -2;
    char *stored_default = NULL;
    if (dps_store_meta_get(store, DPS_META_ALLOCATION_POLICY, &stored_default) != DPS_STORE_OK)
        stored_default = NULL;
    dps_decide_input in = {.enrollment = r->enrollment,
                           .regkey = r->regkey,
                           .api_version = r->api_version,
                           .peer = r->peer,
                           .payload = r->payload,
                           .current_hub = r->current_hub,
                           .linked = hubs->alloc,
                           .nlinked = hubs->n,
                           .instance_default = stored_default,
                           .geo = geo};
    int rc = dps_decide(&in, d);
    /* d->policy may point into the default's text: keep a static spelling
     * (decide.c returns one for every known policy) or say what it was. */
    if (d->policy == stored_default)
        d->policy = "unknown";
    free(stored_default);
    return rc;
}
