/* The DPS error shape, used for every 4xx/5xx answer of the service, admin
 * and device APIs:
 *   {"errorCode": 404201, "trackingId": "<uuid>", "message": "...",
 *    "info": {}, "timestampUtc": "2026-...Z"}
 * with headers x-ms-error-code: <errorCode> and x-ms-request-id: <trackingId>.
 * errorCode is six digits, the first three being the HTTP status. The
 * catalogue of codes is in docs/errors.md. */
#ifndef DPSD_API_ERRORS_H
#define DPSD_API_ERRORS_H

#include "http/request.h"

/* Error codes opendps uses (HTTP status * 1000 + sub-code). */
enum {
    DPS_ERR_BAD_REQUEST = 400001,        /* generic malformed request */
    DPS_ERR_INVALID_JSON = 400002,       /* body is not valid JSON / not an object */
    DPS_ERR_INVALID_FIELD = 400003,      /* a field fails validation */
    DPS_ERR_INVALID_EK = 400004,         /* endorsement key invalid (Azure's code) */
    DPS_ERR_INVALID_ID = 400005,         /* registration / group / hub ID syntax */
    DPS_ERR_ID_MISMATCH = 400006,        /* path ID and body ID disagree */
    DPS_ERR_INVALID_CERT = 400007,       /* certificate does not parse */
    DPS_ERR_BULK_TOO_LARGE = 400008,     /* more than 10 bulk items */
    DPS_ERR_UNAUTHORIZED = 401002,       /* SAS missing, invalid, expired, wrong audience or rights */
    DPS_ERR_NOT_FOUND = 404201,          /* enrollment / registration not found */
    DPS_ERR_ROUTE_NOT_FOUND = 404001,    /* no such path */
    DPS_ERR_METHOD_NOT_ALLOWED = 405001,
    DPS_ERR_CONFLICT = 409201,           /* create-only PUT on an existing record */
    DPS_ERR_PRECONDITION = 412001,       /* ETag mismatch */
    DPS_ERR_TOO_LARGE = 413001,          /* body over the cap */
    DPS_ERR_UNSUPPORTED_MEDIA = 415001,
    DPS_ERR_INTERNAL = 500001,           /* store or other internal failure */
};

/* Fills res with the error shape; status = error_code / 1000. */
void dps_api_error(dps_http_response *res, int error_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
