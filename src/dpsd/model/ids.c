#include "model/ids.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static bool id_special(char c)
{
    return c == ':' || c == '.' || c == '_' || c == '-';
}

bool dps_id_valid(const char *id)
{
    if (id == NULL)
        return false;
    size_t n = strnlen(id, DPS_ID_MAX + 1);
    if (n == 0 || n > DPS_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        /* isalnum would accept locale letters; the spec allows ASCII only. */
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !id_special(c))
            return false;
    }
    return !id_special(id[0]) && !id_special(id[n - 1]);
}

bool dps_id_key(const char *id, char key[DPS_ID_KEY_SIZE])
{
    if (!dps_id_valid(id))
        return false;
    size_t i = 0;
    for (; id[i] != '\0'; i++)
        key[i] = (char)tolower((unsigned char)id[i]);
    key[i] = '\0';
    return true;
}

bool dps_id_equal(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}
