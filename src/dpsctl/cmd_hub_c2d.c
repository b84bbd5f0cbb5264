/* dpsctl hub c2d send: a cloud-to-device message through hubd's own REST
 * endpoint POST /_hubd/devices/{id}/messages (on Azure only AMQP can send
 * one; hub.md §7.3). The body is the payload, each property an
 * x-hubd-prop-<name> header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "hub_util.h"

#define MESSAGE_ID_MAX 128 /* hubd's bound on x-hubd-message-id */

static const dpsctl_cmd_opt send_opts[] = {
    DPSCTL_HUB_DEVICE_ID_OPT(true),
    {DPSCTL_OPT_DATA, NULL, true, "message body (text, up to 64 KiB)"},
    {DPSCTL_OPT_PROPS, NULL, false, NULL},
    {DPSCTL_OPT_MESSAGE_ID, NULL, false, NULL},
    DPSCTL_HUB_CONN_OPTS};

/* The property headers plus x-hubd-message-id, NULL-terminated. */
static char **message_headers(const dpsctl_ctx *ctx, char *err, size_t errlen)
{
    const char *props = dpsctl_opt_value(ctx, DPSCTL_OPT_PROPS);
    char **h = dpsctl_c2d_prop_headers(props ? props : "", err, errlen);
    if (h == NULL)
        return NULL;
    const char *mid = dpsctl_opt_value(ctx, DPSCTL_OPT_MESSAGE_ID);
    if (mid == NULL)
        return h;
    size_t len = strlen(mid);
    bool ok = len > 0 && len <= MESSAGE_ID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)mid[i] >= 0x20 && mid[i] != 0x7f;
    if (!ok) {
        snprintf(err, errlen, "--message-id: 1 to %d characters without control characters",
                 MESSAGE_ID_MAX);
        dpsctl_strv_free(h);
        return NULL;
    }
    size_t n = 0;
    while (h[n] != NULL)
        n++;
    /* dpsctl_c2d_prop_headers leaves room for DPSCTL_C2D_MAX_PROPS + 1
     * entries; one more is needed here */
    char **grown = realloc(h, (n + 2) * sizeof *h);
    size_t total = sizeof "x-hubd-message-id: " + len;
    char *line = grown != NULL ? malloc(total) : NULL;
    if (line == NULL) {
        dpsctl_strv_free(grown != NULL ? grown : h);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(line, total, "x-hubd-message-id: %s", mid);
    grown[n] = line;
    grown[n + 1] = NULL;
    return grown;
}

static int run_send(dpsctl_ctx *ctx)
{
    char err[512];
    char **headers = message_headers(ctx, err, sizeof err);
    if (headers == NULL)
        return dpsctl_usage(ctx, "%s", err);
    dpsctl_client *c;
    char *path =
        dpsctl_path("/_hubd/devices/", dpsctl_opt_value(ctx, DPSCTL_OPT_DEVICE_ID), "/messages");
    int rc = path != NULL ? dpsctl_connect(ctx, &c) : dpsctl_fail("out of memory");
    if (rc == 0) {
        const char *data = dpsctl_opt_value(ctx, DPSCTL_OPT_DATA);
        dpsctl_req_opts o = {.raw_body = data,
                             .raw_len = strlen(data),
                             .content_type = "text/plain; charset=utf-8",
                             .headers = (const char *const *)headers};
        dpsctl_response res;
        /* 202: queued for the device (delivered when it is subscribed);
         * like az, nothing is printed */
        rc = dpsctl_call(c, "POST", path, NULL, &o, &res);
        if (rc == 0)
            dpsctl_response_free(&res);
    }
    free(path);
    dpsctl_strv_free(headers);
    return rc;
}

static const dpsctl_command commands[] = {
    {"send", "queue a cloud-to-device message for a device", send_opts, run_send,
     "  dpsctl hub c2d send --device-id sensor-1 --data '{\"led\":\"on\"}' \\\n"
     "      --props 'priority=high,source=ops' --message-id cmd-17\n"},
};

const dpsctl_group dpsctl_group_hub_c2d = {"hub c2d", "cloud-to-device messages", commands,
                                           sizeof commands / sizeof commands[0]};
