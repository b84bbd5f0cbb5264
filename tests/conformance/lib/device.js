'use strict';
// Register a device with the unmodified azure-iot-provisioning-device client,
// under a deadline (the SDK has none: it polls for ever while "assigning"),
// cancelling the client when the deadline passes.

const { ProvisioningDeviceClient } = require('azure-iot-provisioning-device');
const { SymmetricKeySecurityClient } = require('azure-iot-security-symmetric-key');
const { SDK_TIMEOUT_MS } = require('./harness');

const TRANSPORTS = {
  http: () => new (require('azure-iot-provisioning-device-http').Http)(),
  mqtt: () => new (require('azure-iot-provisioning-device-mqtt').Mqtt)(),
  amqp: () => new (require('azure-iot-provisioning-device-amqp').Amqp)(),
};

// Provisioning host for a transport, from the suite's environment: HTTPS
// shares dpsd's service listener (the preload supplies the port); MQTT and
// AMQP take host:port natively once dpsd prints their listeners.
function provisioningHost(transport) {
  const e = process.env;
  const byTransport = { http: e.CONF_DPS_SERVICE_HOST, mqtt: e.CONF_DPS_MQTT_HOST, amqp: e.CONF_DPS_AMQP_HOST };
  const host = byTransport[transport];
  if (!host) throw new Error(`dpsd printed no ${transport} listener`);
  return host;
}

async function registerSymmetricKey({ transport, idScope, registrationId, key, payload, ms = SDK_TIMEOUT_MS }) {
  const t = TRANSPORTS[transport]();
  // public option of the transports: no need to wait the default 2 s per poll
  if (typeof t.setTransportOptions === 'function') t.setTransportOptions({ pollingInterval: 500 });
  const client = ProvisioningDeviceClient.create(
    provisioningHost(transport), idScope, t, new SymmetricKeySecurityClient(registrationId, key));
  if (payload !== undefined) client.setProvisioningPayload(payload);
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => {
      Promise.resolve().then(() => client.cancel()).catch(() => {});
      reject(new Error(`register() over ${transport} took longer than ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([client.register(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

module.exports = { registerSymmetricKey, provisioningHost };
