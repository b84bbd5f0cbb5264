/* libdpsdevice: the one result enum of the device library.
 *
 * Every function of the library that can fail returns a dps_result, and
 * ignoring one is a compile error under -Werror (DPS_NODISCARD). Programmer
 * errors (a NULL where a pointer is required) are assert()s; everything the
 * network, a server or a user can cause is a returned code. The library never
 * prints and never exits: human detail goes to the log callback (dps/log.h). */
#ifndef DPS_DEVICE_RESULT_H
#define DPS_DEVICE_RESULT_H

#define DPS_NODISCARD __attribute__((warn_unused_result))

typedef enum {
    DPS_OK = 0,
    DPS_E_NO_SPACE,     /* a caller buffer is too small; nothing was written and
                           *out_len holds the size needed (NUL included) */
    DPS_E_INVALID,      /* an input value breaks a rule: ID syntax, base64 key,
                           JSON payload, option out of range */
    DPS_E_PROTOCOL,     /* the peer broke the protocol: malformed HTTP, MQTT,
                           JSON or topic, an unexpected packet */
    DPS_E_TOO_LARGE,    /* a peer's message is over one of the library's caps */
    DPS_E_TIMEOUT,      /* the deadline passed */
    DPS_E_RESOLVE,      /* the connect address did not resolve */
    DPS_E_CONNECT,      /* TCP connect refused or unreachable */
    DPS_E_TLS,          /* TLS handshake or server verification failed */
    DPS_E_CLOSED,       /* the peer closed the connection */
    DPS_E_IO,           /* a socket error */
    DPS_E_UNAUTHORIZED, /* HTTP 401 or MQTT CONNACK 4/5: credentials refused */
    DPS_E_NOT_FOUND,    /* HTTP 404: no enrollment, unknown operation */
    DPS_E_REJECTED,     /* any other 3xx/4xx answer, or a CONNACK refusal
                           other than 4/5, or a SUBACK failure */
    DPS_E_FAILED,       /* the registration ended with status "failed" */
    DPS_E_DISABLED,     /* the registration ended with status "disabled" */
    DPS_E_CANCELLED,    /* the caller's stop flag was raised */
    DPS_E_UNSUPPORTED,  /* the credential cannot do what the transport needs */
    DPS_E_BUSY,         /* called from inside one of the client's callbacks
                           where that call is not allowed, or not connected */
    DPS_E_CRYPTO,       /* OpenSSL failed (HMAC, context creation, CA file) */
    DPS_E_TPM,          /* the TPM refused a command (dps/tpm.h; the response
                           code is logged) */
} dps_result;

/* A stable upper-case name ("OK", "E_TIMEOUT", ...); never NULL. */
const char *dps_result_name(dps_result r);

#endif
