/* Service-side authentication: the SharedAccessSignature in the Authorization
 * header, checked against the instance's access policies, then the right the
 * operation needs (service-api.md §10).
 *
 * Access policies are stored in DPS_COLL_ACCESS_POLICY, key = lower-case
 * policy name, document:
 *   {"keyName": "provisioningserviceowner", "primaryKey": "<b64>",
 *    "secondaryKey": "<b64>", "rights": "ServiceConfig, EnrollmentRead, ..."}
 * The rights string lists names from dps_right separated by ", ". */
#ifndef DPSD_API_SERVICE_AUTH_H
#define DPSD_API_SERVICE_AUTH_H

#include <stdbool.h>

#include "dpsd.h"
#include "http/request.h"

typedef enum {
    DPS_RIGHT_SERVICE_CONFIG = 1u << 0,
    DPS_RIGHT_ENROLLMENT_READ = 1u << 1,
    DPS_RIGHT_ENROLLMENT_WRITE = 1u << 2,
    DPS_RIGHT_DEVICE_CONNECT = 1u << 3,
    DPS_RIGHT_REGISTRATION_STATUS_READ = 1u << 4,
    DPS_RIGHT_REGISTRATION_STATUS_WRITE = 1u << 5,
} dps_right;

#define DPS_RIGHTS_ALL 0x3Fu
#define DPS_OWNER_POLICY "provisioningserviceowner"
#define DPS_OWNER_RIGHTS "ServiceConfig, EnrollmentRead, EnrollmentWrite, DeviceConnect, RegistrationStatusRead, RegistrationStatusWrite"

/* Parses "ServiceConfig, EnrollmentWrite" (names compared without regard to
 * case, separators ',' with optional spaces) into a mask; -1 on an unknown
 * name or an empty list. */
int dps_rights_parse(const char *text, unsigned *mask);
/* Canonical text of a mask ("ServiceConfig, EnrollmentRead, ..."), in a new
 * string (caller frees). */
char *dps_rights_format(unsigned mask);

/* Authenticates req and checks that the policy holds at least one of the
 * rights in any_of. On failure fills res with 401 / 401002 and returns false. */
bool dps_service_authorize(dpsd_ctx *ctx, const dps_http_request *req, unsigned any_of,
                           dps_http_response *res);

#endif
