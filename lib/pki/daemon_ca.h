/* The generated PKI of a daemon run without tls_cert/tls_key: the local CA
 * and server certificate in DATA_DIR/pki, the directory created 0700 as it
 * holds private keys. dpsd and hubd differ only in the CA's name and the
 * host names the certificate must carry. In lib/pki, apart from pki.h,
 * because it is daemon policy (where the files live, how errors read) on
 * top of dps_pki_ensure_local_ca. */
#ifndef DPS_PKI_DAEMON_CA_H
#define DPS_PKI_DAEMON_CA_H

#include <stddef.h>

#include "pki/pki.h"

/* Makes sure DATA_DIR/pki holds the local CA named ca_name and a server
 * certificate for names (see dps_pki_ensure_local_ca) and fills out with
 * the file paths. 0, or -1 with "local CA in DIR: reason" (or why DIR
 * cannot be made) in err. */
int dps_pki_daemon_local_ca(const char *data_dir, const char *ca_name,
                            const char *const *names, size_t nnames, dps_pki_paths *out,
                            char *err, size_t errlen);

/* Adds name to the names a server certificate is to carry (*nnames of cap
 * used) unless it is already there; once cap is reached names are dropped,
 * as both daemons size the array for every name their options allow. */
void dps_pki_daemon_add_name(const char **names, size_t *nnames, size_t cap, const char *name);

#endif
