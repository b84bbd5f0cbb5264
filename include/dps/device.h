/* libdpsdevice: everything in one include. Link the static library
 * "dpsdevice" (it brings dpsmqtt, dpscommon, OpenSSL and jansson). */
#ifndef DPS_DEVICE_DEVICE_H
#define DPS_DEVICE_DEVICE_H

#include "dps/credential.h"
#include "dps/hub_client.h"
#include "dps/hub_core.h"
#include "dps/log.h"
#include "dps/prov_core.h"
#include "dps/provisioning.h"
#include "dps/result.h"
#include "dps/tpm.h"
#include "dps/wire.h"
#include "dps/x509_credential.h"

/* "0.1.0": the version the library was built as. */
const char *dps_device_version(void);

#endif
