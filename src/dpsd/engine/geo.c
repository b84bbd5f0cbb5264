/* The geoLatency model (geo.h). */
#include "engine/geo.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errtext.h"

#define GEO_FILE_MAX (1024 * 1024) /* a model larger than this is a mistake */
#define EARTH_RADIUS_KM 6371.0

typedef struct {
    char *name;
    bool has_coords;
    double lat, lon;
} location;

typedef struct {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix; /* bits */
    int loc;
} network;

typedef struct {
    int a, b;
    double ms;
} latency;

struct dps_geo_model {
    location locs[DPS_GEO_MAX_LOCATIONS];
    size_t nlocs;
    network *nets;
    size_t nnets;
    latency *lats;
    size_t nlats;
    char *hint_member; /* NULL: hints are off */
    int default_loc;   /* -1: none */
    double tie_ms;
};

static int find_loc(const dps_geo_model *m, const char *name)
{
    for (size_t i = 0; name != NULL && i < m->nlocs; i++)
        if (strcasecmp(m->locs[i].name, name) == 0)
            return (int)i;
    return -1;
}

double dps_geo_distance_km(double lat1, double lon1, double lat2, double lon2)
{
    const double rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    if (a > 1.0)
        a = 1.0; /* rounding near antipodes */
    return 2.0 * EARTH_RADIUS_KM * atan2(sqrt(a), sqrt(1.0 - a));
}

/* "10.1.0.0/16", "2001:db8::/32", or a bare address (a host route). */
static int parse_cidr(const char *text, network *out)
{
    char buf[80];
    if (strlen(text) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", text);
    char *slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    memset(out->addr, 0, sizeof out->addr);
    int max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    out->prefix = max;
    if (slash != NULL) {
        char *end = NULL;
        long p = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || p < 0 || p > max)
            return -1;
        out->prefix = (int)p;
    }
    return 0;
}

static bool prefix_matches(const unsigned char *addr, const network *n)
{
    int full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(addr, n->addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xFFu << (8 - rest));
    return (addr[full] & mask) == (n->addr[full] & mask);
}

static int parse_locations(dps_geo_model *m, const json_t *locs, char *err, size_t errlen)
{
    if (!json_is_object(locs) || json_object_size(locs) == 0) {
        dps_set_err(err, errlen, "\"locations\" must be a non-empty object of named locations");
        return -1;
    }
    const char *name;
    const json_t *v;
    json_object_foreach ((json_t *)locs, name, v) {
        if (m->nlocs == DPS_GEO_MAX_LOCATIONS) {
            dps_set_err(err, errlen, "more than %d locations", DPS_GEO_MAX_LOCATIONS);
            return -1;
        }
        if (name[0] == '\0' || strlen(name) > DPS_GEO_NAME_MAX || find_loc(m, name) >= 0) {
            dps_set_err(err, errlen, "location '%.64s': names are 1..%d characters, unique "
                        "without regard to case", name, DPS_GEO_NAME_MAX);
            return -1;
        }
        if (!json_is_object(v)) {
            dps_set_err(err, errlen, "location '%.64s' must be an object", name);
            return -1;
        }
        location *l = &m->locs[m->nlocs];
        const json_t *lat = json_object_get(v, "latitude");
        const json_t *lon = json_object_get(v, "longitude");
        if ((lat == NULL) != (lon == NULL) || (lat != NULL && (!json_is_number(lat) ||
                                                              !json_is_number(lon)))) {
            dps_set_err(err, errlen, "location '%.64s': latitude and longitude are numbers, "
                        "both or neither", name);
            return -1;
        }
        if (lat != NULL) {
            l->lat = json_number_value(lat);
            l->lon = json_number_value(lon);
            if (l->lat < -90 || l->lat > 90 || l->lon < -180 || l->lon > 180) {
                dps_set_err(err, errlen, "location '%.64s': latitude -90..90, longitude -180..180",
                            name);
                return -1;
            }
            l->has_coords = true;
        }
        l->name = strdup(name);
        if (l->name == NULL) {
            dps_set_err(err, errlen, "out of memory");
            return -1;
        }
        m->nlocs++;
    }
    return 0;
}

static int parse_networks(dps_geo_model *m, const json_t *nets, char *err, size_t errlen)
{
    if (nets == NULL || json_is_null(nets))
        return 0;
    if (!json_is_object(nets) || json_object_size(nets) > DPS_GEO_MAX_NETWORKS) {
        dps_set_err(err, errlen, "\"networks\" must be an object of at most %d \"CIDR\": "
                    "\"location\" members", DPS_GEO_MAX_NETWORKS);
        return -1;
    }
    m->nets = calloc(json_object_size(nets) + 1, sizeof *m->nets);
    if (m->nets == NULL) {
        dps_set_err(err, errlen, "out of memory");
        return -1;
    }
    const char *cidr;
    const json_t *v;
    json_object_foreach ((json_t *)nets, cidr, v) {
        network *n = &m->nets[m->nnets];
        if (parse_cidr(cidr, n) != 0) {
            dps_set_err(err, errlen, "network '%.64s' is not an address or CIDR block", cidr);
            return -1;
        }
        n->loc = find_loc(m, json_string_value(v));
        if (n->loc < 0) {
            dps_set_err(err, errlen, "network '%.64s' names no configured location", cidr);
            return -1;
        }
        m->nnets++;
    }
    return 0;
}

static int parse_latencies(dps_geo_model *m, const json_t *lats, char *err, size_t errlen)
{
    if (lats == NULL || json_is_null(lats))
        return 0;
    if (!json_is_array(lats) || json_array_size(lats) > DPS_GEO_MAX_LATENCIES) {
        dps_set_err(err, errlen, "\"latencyMs\" must be an array of at most %d {\"from\", \"to\", "
                    "\"ms\"} objects", DPS_GEO_MAX_LATENCIES);
        return -1;
    }
    m->lats = calloc(json_array_size(lats) + 1, sizeof *m->lats);
    if (m->lats == NULL) {
        dps_set_err(err, errlen, "out of memory");
        return -1;
    }
    size_t i;
    const json_t *v;
    json_array_foreach (lats, i, v) {
        latency *l = &m->lats[m->nlats];
        l->a = find_loc(m, json_string_value(json_object_get(v, "from")));
        l->b = find_loc(m, json_string_value(json_object_get(v, "to")));
        const json_t *ms = json_object_get(v, "ms");
        if (l->a < 0 || l->b < 0 || !json_is_number(ms) || json_number_value(ms) < 0) {
            dps_set_err(err, errlen, "latencyMs[%zu] needs \"from\" and \"to\" naming configured "
                        "locations and \"ms\" >= 0", i);
            return -1;
        }
        l->ms = json_number_value(ms);
        m->nlats++;
    }
    return 0;
}

static const char *const top_members[] = {"locations", "networks", "latencyMs",
                                          "hintMember", "defaultLocation", "tieMs", NULL};

dps_geo_model *dps_geo_parse(const json_t *doc, char *err, size_t errlen)
{
    if (!json_is_object(doc)) {
        dps_set_err(err, errlen, "the geo model must be a JSON object");
        return NULL;
    }
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)doc, k, v) {
        bool known = false;
        for (size_t i = 0; top_members[i] != NULL && !known; i++)
            known = strcmp(k, top_members[i]) == 0;
        if (!known) {
            /* Typos in an operator file should not pass silently. */
            dps_set_err(err, errlen, "unknown member \"%.64s\"", k);
            return NULL;
        }
    }
    dps_geo_model *m = calloc(1, sizeof *m);
    if (m == NULL) {
        dps_set_err(err, errlen, "out of memory");
        return NULL;
    }
    m->default_loc = -1;
    if (parse_locations(m, json_object_get(doc, "locations"), err, errlen) != 0 ||
        parse_networks(m, json_object_get(doc, "networks"), err, errlen) != 0 ||
        parse_latencies(m, json_object_get(doc, "latencyMs"), err, errlen) != 0)
        goto fail;
    const json_t *hint = json_object_get(doc, "hintMember");
    if (hint != NULL && !json_is_null(hint)) {
        if (!json_is_string(hint) || json_string_length(hint) == 0) {
            dps_set_err(err, errlen, "\"hintMember\" must be a payload member name or null");
            goto fail;
        }
        m->hint_member = strdup(json_string_value(hint));
        if (m->hint_member == NULL) {
            dps_set_err(err, errlen, "out of memory");
            goto fail;
        }
    }
    const json_t *def = json_object_get(doc, "defaultLocation");
    if (def != NULL && !json_is_null(def)) {
        m->default_loc = find_loc(m, json_string_value(def));
        if (m->default_loc < 0) {
            dps_set_err(err, errlen, "\"defaultLocation\" names no configured location");
            goto fail;
        }
    }
    const json_t *tie = json_object_get(doc, "tieMs");
    if (tie != NULL && (!json_is_number(tie) || json_number_value(tie) < 0)) {
        dps_set_err(err, errlen, "\"tieMs\" must be a number >= 0");
        goto fail;
    }
    m->tie_ms = tie != NULL ? json_number_value(tie) : 0;
    return m;
fail:
    dps_geo_free(&m);
    return NULL;
}

dps_geo_model *dps_geo_load_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        dps_set_err(err, errlen, "cannot open %s", path);
        return NULL;
    }
    char *buf = malloc(GEO_FILE_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, GEO_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > GEO_FILE_MAX) {
        dps_set_err(err, errlen, buf == NULL ? "out of memory" : "%s is larger than 1 MiB", path);
        free(buf);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &jerr);
    free(buf);
    if (doc == NULL) {
        dps_set_err(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    char why[300];
    dps_geo_model *m = dps_geo_parse(doc, why, sizeof why);
    json_decref(doc);
    if (m == NULL)
        dps_set_err(err, errlen, "%s: %s", path, why);
    return m;
}

void dps_geo_free(dps_geo_model **mp)
{
    dps_geo_model *m = *mp;
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nlocs; i++)
        free(m->locs[i].name);
    free(m->nets);
    free(m->lats);
    free(m->hint_member);
    free(m);
    *mp = NULL;
}

/* The address part of "1.2.3.4:port", "[v6]:port", or a bare address. */
static int peer_address(const char *peer, int *family, unsigned char addr[16])
{
    char buf[80];
    if (peer == NULL || strlen(peer) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", peer);
    char *host = buf;
    if (buf[0] == '[') {
        char *rb = strchr(buf, ']');
        if (rb == NULL)
            return -1;
        *rb = '\0';
        host = buf + 1;
    } else {
        char *colon = strchr(buf, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) /* one colon: host:port */
            *colon = '\0';
    }
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, host, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, addr) != 1)
        return -1;
    /* An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d. */
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (memcmp(addr, mapped, sizeof mapped) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        *family = AF_INET;
        return 0;
    }
    *family = AF_INET6;
    return 0;
}

const char *dps_geo_locate(const dps_geo_model *m, const char *peer, const json_t *payload,
                           const char **source)
{
    *source = NULL;
    if (m == NULL)
        return NULL;
    if (m->hint_member != NULL && json_is_object(payload)) {
        int l = find_loc(m, json_string_value(json_object_get(payload, m->hint_member)));
        if (l >= 0) {
            *source = "hint";
            return m->locs[l].name;
        }
    }
    int family;
    unsigned char addr[16];
    if (peer_address(peer, &family, addr) == 0) {
        const network *best = NULL;
        for (size_t i = 0; i < m->nnets; i++) {
            const network *n = &m->nets[i];
            if (n->family == family && prefix_matches(addr, n) &&
                (best == NULL || n->prefix > best->prefix))
                best = n;
        }
        if (best != NULL) {
            *source = "network";
            return m->locs[best->loc].name;
        }
    }
    if (m->default_loc >= 0) {
        *source = "default";
        return m->locs[m->default_loc].name;
    }
    return NULL;
}

double dps_geo_latency_ms(const dps_geo_model *m, const char *from, const char *to)
{
    if (m == NULL)
        return -1;
    int a = find_loc(m, from), b = find_loc(m, to);
    if (a < 0 || b < 0)
        return -1;
    for (size_t i = 0; i < m->nlats; i++)
        if ((m->lats[i].a == a && m->lats[i].b == b) || (m->lats[i].a == b && m->lats[i].b == a))
            return m->lats[i].ms;
    if (a == b)
        return 0;
    const location *la = &m->locs[a], *lb = &m->locs[b];
    if (!la->has_coords || !lb->has_coords)
        return -1;
    return dps_geo_distance_km(la->lat, la->lon, lb->lat, lb->lon) / DPS_GEO_KM_PER_MS;
}

double dps_geo_tie_ms(const dps_geo_model *m)
{
    return m != NULL ? m->tie_ms : 0;
}
