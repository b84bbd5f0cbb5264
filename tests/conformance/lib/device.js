'use strict';
// Register a device with the unmodified azure-iot-provisioning-device client
// (symmetric key, X.509 or TPM security client),
// under a deadline (the SDK has none: it polls for ever while "assigning"),
// cancelling the client when the deadline passes; connect a device to its hub
// with azure-iot-device + azure-iot-device-mqtt through GatewayHostName.

const { ProvisioningDeviceClient } = require('azure-iot-provisioning-device');
const { SymmetricKeySecurityClient } = require('azure-iot-security-symmetric-key');
const { X509Security } = require('azure-iot-security-x509');
const { SDK_TIMEOUT_MS, sdk, hubdFromEnv } = require('./harness');

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

// register() with any security client, under a deadline that cancels the
// client. `transport` is a name of TRANSPORTS or a transport object.
async function register({ transport, idScope, security, payload, ms = SDK_TIMEOUT_MS }) {
  const name = typeof transport === 'string' ? transport : 'http';
  const t = typeof transport === 'string' ? TRANSPORTS[transport]() : transport;
  // public option of the transports: no need to wait the default 2 s per poll
  if (typeof t.setTransportOptions === 'function') t.setTransportOptions({ pollingInterval: 500 });
  const client = ProvisioningDeviceClient.create(provisioningHost(name), idScope, t, security);
  if (payload !== undefined) client.setProvisioningPayload(payload);
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => {
      Promise.resolve().then(() => client.cancel()).catch(() => {});
      reject(new Error(`register() over ${name} took longer than ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([client.register(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function registerSymmetricKey({ registrationId, key, ...rest }) {
  return register({ ...rest, security: new SymmetricKeySecurityClient(registrationId, key) });
}

// X.509: azure-iot-security-x509's X509Security with {cert, key}; `cert` is
// the PEM the device presents in TLS, leaf first, then any intermediates
// (the transports hand it to Node's TLS, which sends it all).
function registerX509({ registrationId, cert, key, ...rest }) {
  return register({ ...rest, security: new X509Security(registrationId, { cert, key }) });
}

// The device connection string a user writes after provisioning:
// HostName = the assigned hub (it goes into the MQTT username and the SAS
// audience), GatewayHostName = hubd's MQTT listener on loopback, where the
// client actually connects (sdk-conformance.md §4, §10 step 4).
function deviceConnectionString({ hubHost, deviceId, key }) {
  return `HostName=${hubHost};DeviceId=${deviceId};SharedAccessKey=${key}`
    + `;GatewayHostName=127.0.0.1:${hubdFromEnv().mqttPort}`;
}

// Open an azure-iot-device Client over MQTT (deadline on open()), with a
// symmetric key (`key`), a certificate (`x509`: {certFile, keyFile}) or a
// TPM (`tpm`: the TpmSecurityClient that registered, which signs the hub
// SAS tokens with the key imported from dpsd's second blob). The caller
// closes it with closeDevice().
//
// X.509: Client.fromConnectionString with `x509=true` drops GatewayHostName
// (azure-iot-device 1.18.4 builds its X509AuthenticationProvider from
// HostName and DeviceId only), so the client would look up the hub's name.
// The SDK's public way around it is the provider's constructor, which takes
// the whole transport configuration, gatewayHostName included.
//
// TPM: TpmAuthenticationProvider.fromTpmSecurityClient(deviceId, host,
// client) takes no gateway either; its constructor takes the credentials
// object, so the same route applies.
async function connectDevice({ hubHost, deviceId, key, x509, tpm }) {
  const fs = require('fs');
  const { Client, X509AuthenticationProvider } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  let client;
  if (x509) {
    const provider = new X509AuthenticationProvider({
      host: hubHost,
      deviceId,
      gatewayHostName: `127.0.0.1:${hubdFromEnv().mqttPort}`,
      x509: { cert: fs.readFileSync(x509.certFile, 'utf8'), key: fs.readFileSync(x509.keyFile, 'utf8') },
    });
    client = Client.fromAuthenticationProvider(provider, Mqtt);
  } else if (tpm) {
    const { TpmAuthenticationProvider } = require('azure-iot-security-tpm');
    const provider = new TpmAuthenticationProvider({
      host: hubHost, deviceId, gatewayHostName: `127.0.0.1:${hubdFromEnv().mqttPort}`,
    }, tpm);
    client = Client.fromAuthenticationProvider(provider, Mqtt);
  } else {
    client = Client.fromConnectionString(deviceConnectionString({ hubHost, deviceId, key }), Mqtt);
  }
  client.on('error', () => { /* reported through the failing call */ });
  try {
    await sdk('device Client.open over MQTT', () => client.open());
  } catch (e) {
    await closeDevice(client);
    throw e;
  }
  return client;
}

async function closeDevice(client) {
  if (!client) return;
  try {
    await sdk('device Client.close', () => client.close(), 5000);
  } catch (_) { /* best effort: the process ends anyway */ }
}

module.exports = {
  register, registerSymmetricKey, registerX509, provisioningHost, deviceConnectionString, connectDevice, closeDevice,
};
