/* dps-device's certificate tooling (x509.c), kept apart from the libdpsdevice
 * headers: x509.c works on lib/pki and OpenSSL alone, so this header names
 * no library type. */
#ifndef DPS_DEVICE_X509_TOOL_H
#define DPS_DEVICE_X509_TOOL_H

#include <stddef.h>
#include <stdint.h>

/* `dps-device x509 make-ca|issue ...`: returns the exit code. */
int sim_x509_main(int argc, char **argv);

/* A fresh ECDSA P-256 device certificate for cn, valid for days, issued
 * under the CA in ca_cert/ca_key. *cert_pem: the certificate, the CA and the
 * certificates of chain_file (may be NULL), PEM; *key_pem: its key. Both
 * NUL-terminated; release with sim_x509_free_pem. 0, or -1 with err. */
int sim_x509_issue_pem(const char *ca_cert, const char *ca_key, const char *chain_file,
                       const char *cn, uint32_t days, char **cert_pem, size_t *cert_len,
                       char **key_pem, size_t *key_len, char *err, size_t errlen);

/* Wipes and frees a text from sim_x509_issue_pem (NULL is fine). */
void sim_x509_free_pem(char *pem, size_t len);

#endif
