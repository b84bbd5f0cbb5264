/* dps-device: a simulated device on libdpsdevice (see docs/dps-device.md).
 * This file dispatches the commands, installs the SIGINT/SIGTERM handler
 * whose flag every library wait watches, and maps outcomes to exit codes:
 * 0 success, 1 a device did not register or its hub session failed,
 * 2 usage error. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

volatile sig_atomic_t sim_stop;

static void on_signal(int sig)
{
    (void)sig;
    sim_stop = 1;
}

static int derive_key(const sim_config *cfg)
{
    char key[64];
    size_t n = 0;
    dps_result rc = dps_group_key_derive(cfg->group_key, cfg->registration_id, key, sizeof key, &n);
    if (rc != DPS_OK) {
        fprintf(stderr, "dps-device: derive-key: %s\n",
                dps_registration_id_valid(cfg->registration_id)
                    ? "--group-key is not a valid base64 key"
                    : "invalid registration ID (1..128 of A-Z a-z 0-9 - . _ :)");
        return 2;
    }
    printf("%s\n", key);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "x509") == 0)
        return sim_x509_main(argc, argv);
    sim_config cfg;
    int rc = sim_parse_args(argc, argv, &cfg);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    if (strcmp(cfg.command, "derive-key") == 0)
        return derive_key(&cfg);
    if (strcmp(cfg.command, "tpm-info") == 0)
        return sim_tpm_info(&cfg);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sim_set_log_level(cfg.log_level);

    if (cfg.tpm)
        return sim_run_tpm_device(&cfg);
    if (cfg.count > 1)
        return sim_run_fleet(&cfg);
    sim_device_outcome *o = calloc(1, sizeof *o);
    if (o == NULL)
        return 1;
    rc = sim_run_device(&cfg, cfg.registration_id, o);
    free(o);
    return rc;
}
