/* The attestation member of enrollments and enrollment groups, built from
 * the attestation options (--attestation-type, keys, endorsement key,
 * certificate files, CA references) for create, or edited in place for
 * update. */
#ifndef DPSCTL_ATTEST_H
#define DPSCTL_ATTEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "args.h"

/* True when any attestation option other than --attestation-type was given. */
bool dpsctl_attest_options_given(const dpsctl_args *a);

/* Makes *att reflect the options. When *att is NULL (create) or
 * --attestation-type names another type than (*att)["type"], a fresh
 * mechanism of that type replaces it; otherwise the given keys, certificates
 * or CA references are set inside the existing one. Options that do not fit
 * the type are refused, and so is a result that cannot attest (TPM without an
 * endorsement key, X.509 without any certificate or CA). For groups, TPM is
 * refused and X.509 uses signing certificates or CA references (exclusive).
 * Certificates are read from their files, checked, and sent as base64 DER,
 * so a private key in the same PEM file never leaves the machine.
 * default_type (wire spelling) is used when *att is NULL and no type was
 * given; NULL makes the type mandatory. Returns 0, or -1 with a reason. */
/* Checks a symmetric key given with opt: base64 of 16..64 bytes, what dpsd
 * and hubd accept. Returns 0, or -1 with "--option: reason" in err. */
int dpsctl_check_key(dpsctl_opt opt, const char *key, char *err, size_t errlen);

int dpsctl_attest_apply(json_t **att, const dpsctl_args *a, bool group, const char *default_type,
                        char *err, size_t errlen);

/* Reads a certificate file (PEM, bare base64 or binary DER; of a PEM file
 * only the first CERTIFICATE block) and returns the base64 DER of the
 * certificate (free()), or NULL with "--<opt>: reason" in err. A private key
 * in the same file never leaves the machine. */
char *dpsctl_load_certificate(dpsctl_opt opt, const char *path, char *err, size_t errlen);

#endif
