/* dps-device: the device simulator and sample of libdpsdevice. Shared
 * declarations of its files:
 *   main.c    commands, signals, exit status
 *   args.c    the command line (getopt_long) into a sim_config
 *   device.c  one device: register, print the assignment, hub session
 *   fleet.c   --count N devices from one process, a small thread pool, summary
 *   output.c  printing (serialised across threads) and the library's log sink
 *   x509.c    `x509 make-ca|issue`, and certificates issued for a fleet
 *   tpm.c     `tpm-info`, and `register --tpm` (the TPM credential) */
#ifndef DPS_DEVICE_SIM_H
#define DPS_DEVICE_SIM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dps/device.h"
#include "x509_tool.h"

#define SIM_MAX_COUNT 10000
#define SIM_MAX_PARALLEL 64
#define SIM_MAX_MESSAGES 1000000
#define SIM_MAX_RUN_SECONDS (7 * 24 * 3600)

typedef enum { SIM_OUT_TEXT, SIM_OUT_JSON } sim_output;

typedef struct {
    const char *command;           /* "register" or "derive-key" ("x509" parses apart) */
    dps_prov_transport transport;
    char prov_host[DPS_MAX_HOST_NAME + 1];
    uint16_t prov_port;            /* 0: by transport (8443 HTTPS, mqtt_port MQTT) */
    uint16_t mqtt_port;            /* --mqtt-port, default 8883 */
    const char *connect_address;
    const char *id_scope;
    const char *registration_id;   /* the ID, or the prefix with --count */
    const char *symmetric_key;
    const char *group_key;
    const char *x509_cert;         /* device certificate (PEM; may hold the chain) */
    const char *x509_key;          /* its key (default: the x509_cert file) */
    const char *x509_chain;        /* intermediates (PEM), optional */
    const char *x509_ca_cert;      /* issue each device a certificate under this CA */
    const char *x509_ca_key;
    uint32_t x509_days;            /* validity of those certificates */
    bool tpm;                      /* --tpm: the TPM is the credential */
    const char *tcti;              /* --tcti; NULL: DPS_TPM_DEFAULT_TCTI */
    const dps_credential *tpm_credential; /* the opened TPM (tpm.c), for device.c */
    const char *ca_file;
    const char *payload;
    const char *api_version;
    uint32_t timeout_s;
    sim_output output;
    bool no_hub;
    const char *hub_gateway;
    const char *hub_ca_file;
    uint32_t messages;
    uint32_t interval_ms;
    uint32_t run_seconds;
    uint32_t count;
    uint32_t parallel;
    dps_device_log_level log_level;
} sim_config;

/* Set by SIGINT/SIGTERM; every wait in the library watches it. */
extern volatile sig_atomic_t sim_stop;

/* args.c: 0 ok, 1 help/version printed (exit 0), 2 usage error printed. */
int sim_parse_args(int argc, char **argv, sim_config *cfg);

/* device.c: runs one device; returns 0 when it registered (and, unless
 * --no-hub, its hub session went well), 1 otherwise. Fills the result. */
typedef struct {
    dps_result register_rc;
    dps_result hub_rc;
    dps_registration_result reg;
    uint32_t messages_sent;
} sim_device_outcome;

int sim_run_device(const sim_config *cfg, const char *registration_id,
                   sim_device_outcome *outcome);

/* tpm.c: `tpm-info`, and one device registering with its TPM. */
int sim_tpm_info(const sim_config *cfg);
int sim_run_tpm_device(const sim_config *cfg);

/* fleet.c: --count N. */
int sim_run_fleet(const sim_config *cfg);

/* output.c */
void sim_print_assignment(const sim_config *cfg, const char *registration_id, dps_result rc,
                          const dps_registration_result *r);
void sim_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sim_log_sink(void *ctx, dps_device_log_level level, const char *message);
void sim_set_log_level(dps_device_log_level level);

#endif
