/* Syntax rules of the identifiers the core puts on the wire, checked before
 * anything is built so that no request can carry a broken one. */
#include <stdbool.h>
#include <string.h>

#include "device/core/ids.h"
#include "dps/hub_core.h"
#include "dps/prov_core.h"

static bool is_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* True when s is 1..max characters, each accepted by ok(). */
static bool all_chars(const char *s, size_t max, bool (*ok)(unsigned char))
{
    if (s == NULL || s[0] == '\0')
        return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n >= max || !ok((unsigned char)s[n]))
            return false;
    }
    return true;
}

static bool reg_char(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == ':';
}

static bool scope_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '/' && c != '?' && c != '#' && c != '&' && c != '%';
}

static bool opid_char(unsigned char c)
{
    return is_alnum(c) || c == '.' || c == '-';
}

static bool device_char(unsigned char c)
{
    return is_alnum(c) || strchr("-.%_*?!(),=@$'", c) != NULL;
}

static bool host_char(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.';
}

/* Characters a hub may put into a $rid that we echo into a topic name: any
 * printable ASCII except the ones that would change the topic's structure. */
static bool echo_rid_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '&' && c != '#' && c != '+' && c != '/';
}

bool dps_registration_id_valid(const char *id)
{
    return all_chars(id, DPS_MAX_REGISTRATION_ID, reg_char);
}

bool dps_id_scope_valid(const char *scope)
{
    return all_chars(scope, DPS_MAX_ID_SCOPE, scope_char);
}

bool dps_operation_id_valid(const char *op)
{
    return all_chars(op, DPS_MAX_OPERATION_ID, opid_char);
}

bool dps_hub_device_id_valid(const char *device_id)
{
    return all_chars(device_id, DPS_MAX_DEVICE_ID, device_char);
}

bool dps_hub_host_valid(const char *host)
{
    return all_chars(host, DPS_MAX_HOST_NAME, host_char);
}

bool dps__rid_valid(const char *rid)
{
    return all_chars(rid, DPS_MAX_RID, opid_char);
}

bool dps__echo_rid_valid(const char *rid)
{
    return all_chars(rid, DPS_MAX_RID, echo_rid_char);
}

bool dps__token_valid(const char *s, size_t max)
{
    /* api-versions and similar: printable ASCII without space, '&', '/', '?' */
    return all_chars(s, max, scope_char);
}
