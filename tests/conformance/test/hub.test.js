'use strict';
// The provisioned device on its assigned hub (azure-iot-device +
// azure-iot-device-mqtt, connected through GatewayHostName), and the hub's
// service side (azure-iothub Registry and Client). Pending until hubd exists.

const { test } = require('node:test');
const h = require('../lib/harness');
const { NEEDS } = require('../lib/matrix');

for (const [cred, needs] of [['symkey', NEEDS.DEVICE], ['x509', NEEDS.HUB_X509]]) {
  test(...h.pending(`hub-mqtt-${cred}-telemetry`, `${cred} device sends telemetry; the hub sees it`, needs));
  test(...h.pending(`hub-mqtt-${cred}-twin`, `${cred} device gets its twin and patches reported properties`, needs));
  test(...h.pending(`hub-mqtt-${cred}-desired`, `${cred} device receives a desired-property update`, needs));
  test(...h.pending(`hub-mqtt-${cred}-method`, `${cred} device answers a direct method`, needs));
}

test(...h.pending('hub-registry-devices', 'Registry create (server-generated keys), get, update, delete with If-Match "*"', NEEDS.HUB));
test(...h.pending('hub-registry-twin', 'Registry getTwin and updateTwin with etag', NEEDS.HUB));
test(...h.pending('hub-registry-method', 'Client.invokeDeviceMethod reaches a connected device', NEEDS.HUB));
