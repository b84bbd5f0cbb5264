/* Statistics in Azure's shapes: GET /statistics/devices
 * {"totalDeviceCount", "enabledDeviceCount", "disabledDeviceCount"} and
 * GET /statistics/service {"connectedDeviceCount"}. Both count the hub's
 * records (exact, O(devices)): fine for the hub sizes hubd serves. */
#include "api/api_internal.h"
#include "model/device_query.h"

void hubd_api__stats_devices(const hubd_call *call, dps_http_response *res)
{
    hubd_device_stats st;
    hubd_result hr = hubd_device_stats_count(call->ctx, call->hub, NULL, NULL, &st);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, "");
        return;
    }
    hubd_api__send(res, 200,
                   json_pack("{s:I,s:I,s:I}", "totalDeviceCount", (json_int_t)st.total,
                             "enabledDeviceCount", (json_int_t)st.enabled,
                             "disabledDeviceCount", (json_int_t)st.disabled),
                   NULL);
}

void hubd_api__stats_service(const hubd_call *call, dps_http_response *res)
{
    hubd_device_stats st;
    hubd_result hr = hubd_device_stats_count(call->ctx, call->hub, hubd_api__conn, call->ctx,
                                             &st);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, "");
        return;
    }
    hubd_api__send(res, 200,
                   json_pack("{s:I}", "connectedDeviceCount", (json_int_t)st.connected), NULL);
}
