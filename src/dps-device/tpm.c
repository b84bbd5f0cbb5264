/* dps-device's TPM commands (tpm.md): `tpm-info` prints what an operator
 * enrolls (the EK and the registration ID derived from it), and
 * `register --tpm` opens the TPM once, hands it to the device as its
 * credential (device.c) and closes it afterwards. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* tpm2-tss logs its own errors on stderr (TSS2_LOG); the library's log lines
 * say the same with context, so it stays quiet unless asked for debug. */
static void quiet_tss(const sim_config *cfg)
{
    if (cfg->log_level < DPS_DEVICE_LOG_DEBUG)
        setenv("TSS2_LOG", "all+none", 0);
}

static dps_result open_tpm(const sim_config *cfg, dps_tpm *tpm)
{
    quiet_tss(cfg);
    sim_set_log_level(cfg->log_level);
    dps_device_logger log = {sim_log_sink, (void *)"device", cfg->log_level};
    if (log.level < DPS_DEVICE_LOG_ERROR)
        log.level = DPS_DEVICE_LOG_ERROR;
    dps_result rc = dps_tpm_open(tpm, cfg->tcti, &log);
    if (rc != DPS_OK)
        fprintf(stderr,
                "dps-device: cannot use the TPM through '%s': %s%s\n",
                cfg->tcti != NULL ? cfg->tcti : DPS_TPM_DEFAULT_TCTI, dps_result_name(rc),
                rc == DPS_E_CONNECT ? " (is the TPM or swtpm running? see --tcti)" : "");
    return rc;
}

int sim_tpm_info(const sim_config *cfg)
{
    dps_tpm *tpm = calloc(1, sizeof *tpm);
    if (tpm == NULL)
        return 1;
    if (open_tpm(cfg, tpm) != DPS_OK) {
        free(tpm);
        return 1;
    }
    if (cfg->output == SIM_OUT_JSON) {
        json_t *o = json_object();
        json_object_set_new(o, "registrationId", json_string(dps_tpm_registration_id(tpm)));
        json_object_set_new(o, "endorsementKey", json_string(dps_tpm_endorsement_key(tpm)));
        json_object_set_new(o, "storageRootKey", json_string(dps_tpm_storage_root_key(tpm)));
        json_object_set_new(o, "tcti",
                            json_string(cfg->tcti != NULL ? cfg->tcti : DPS_TPM_DEFAULT_TCTI));
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text != NULL)
            printf("%s\n", text);
        free(text);
        json_decref(o);
    } else {
        printf("registration ID: %s\n", dps_tpm_registration_id(tpm));
        printf("endorsement key: %s\n", dps_tpm_endorsement_key(tpm));
        printf("storage root key: %s\n", dps_tpm_storage_root_key(tpm));
    }
    dps_tpm_close(tpm);
    free(tpm);
    return 0;
}

int sim_run_tpm_device(const sim_config *cfg)
{
    dps_tpm *tpm = calloc(1, sizeof *tpm);
    sim_device_outcome *o = calloc(1, sizeof *o);
    int rc = 1;
    if (tpm != NULL && o != NULL && open_tpm(cfg, tpm) == DPS_OK) {
        sim_config c = *cfg;
        c.tpm_credential = &tpm->base;
        const char *id = cfg->registration_id != NULL ? cfg->registration_id
                                                      : dps_tpm_registration_id(tpm);
        rc = sim_run_device(&c, id, o);
        dps_tpm_close(tpm);
    }
    free(o);
    free(tpm);
    return rc;
}
