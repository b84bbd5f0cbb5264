/* Names of the library's results and its version string. */
#include "dps/device.h"

const char *dps_result_name(dps_result r)
{
    switch (r) {
    case DPS_OK: return "OK";
    case DPS_E_NO_SPACE: return "E_NO_SPACE";
    case DPS_E_INVALID: return "E_INVALID";
    case DPS_E_PROTOCOL: return "E_PROTOCOL";
    case DPS_E_TOO_LARGE: return "E_TOO_LARGE";
    case DPS_E_TIMEOUT: return "E_TIMEOUT";
    case DPS_E_RESOLVE: return "E_RESOLVE";
    case DPS_E_CONNECT: return "E_CONNECT";
    case DPS_E_TLS: return "E_TLS";
    case DPS_E_CLOSED: return "E_CLOSED";
    case DPS_E_IO: return "E_IO";
    case DPS_E_UNAUTHORIZED: return "E_UNAUTHORIZED";
    case DPS_E_NOT_FOUND: return "E_NOT_FOUND";
    case DPS_E_REJECTED: return "E_REJECTED";
    case DPS_E_FAILED: return "E_FAILED";
    case DPS_E_DISABLED: return "E_DISABLED";
    case DPS_E_CANCELLED: return "E_CANCELLED";
    case DPS_E_UNSUPPORTED: return "E_UNSUPPORTED";
    case DPS_E_BUSY: return "E_BUSY";
    case DPS_E_CRYPTO: return "E_CRYPTO";
    case DPS_E_TPM: return "E_TPM";
    }
    return "E_UNKNOWN";
}

const char *dps_device_version(void)
{
#ifdef DPS_VERSION
    return DPS_VERSION;
#else
    return "0";
#endif
}
