'use strict';
// The provisioned device on its assigned hub (azure-iot-device +
// azure-iot-device-mqtt, connected through GatewayHostName), and the hub's
// service side (azure-iothub Registry and Client) against hubd.
//
// Device cells: one device per credential type is connected once; each cell
// then checks one feature from the device's side (what the SDK delivers) and
// from hubd's (REST API, telemetry stream), through clients independent of
// the SDK under test. The X.509 cells run twice: with a device dpsd
// provisioned from an X.509 enrollment group (the hub holds its leaf's
// thumbprint), and with a self-signed device created in the hub registry.
//
// Service cells: azure-iothub with HostName=localhost:<hubd REST port> and
// the iothubowner key of the second hub (sdk-conformance.md §10 step 6): the
// key alone selects the hub (docs/hubd-api.md, "Which hub a request is for").

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service');
const { Message } = require('azure-iot-device');
const iothub = require('azure-iothub');
const { test, after } = require('node:test');
const h = require('../lib/harness');
const { registerSymmetricKey, registerX509, connectDevice, closeDevice } = require('../lib/device');

// --- devices on the hub ------------------------------------------------------

// Each device is set up once, on first use, and closed after the file.
//  - symkey: provisioned over HTTPS from a symmetric-key individual enrollment
//    whose initial twin dpsd writes into the assigned hub;
//  - x509: provisioned over MQTT with azure-iot-security-x509 from an X.509
//    enrollment group (intermediate signing certificate; openssl root ->
//    intermediate -> leaf, CN = registration ID) whose initial twin dpsd
//    writes; it connects to the hub with the same leaf certificate;
//  - x509-registry: created in the second hub with a self-signed certificate
//    thumbprint, the same twin written through hubd's REST API.
const devices = {};
const setups = {};

function dpsService() {
  return ProvisioningServiceClient.fromConnectionString(h.dpsdFromEnv().connectionString);
}

const INITIAL_TWIN = { tags: { suite: 'conformance' }, properties: { desired: { interval: 30 } } };

async function setupSymkey() {
  const dev = { cred: 'symkey' };
  devices.symkey = dev;
  const id = h.uid('hubdev');
  const key = h.randomKey();
  await h.sdk('create enrollment', () => dpsService().createOrUpdateIndividualEnrollment({
    registrationId: id,
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: key, secondaryKey: h.randomKey() } },
    initialTwin: INITIAL_TWIN,
  }));
  dev.registrationId = id;
  const result = await registerSymmetricKey({ transport: 'http', idScope: h.dpsdFromEnv().idScope, registrationId: id, key });
  assert.equal(result.status, 'assigned', JSON.stringify(result));
  dev.hub = result.assignedHub;
  dev.deviceId = result.deviceId;
  dev.client = await connectDevice({ hubHost: dev.hub, deviceId: dev.deviceId, key });
  return dev;
}

async function setupX509Provisioned() {
  const dev = { cred: 'x509' };
  devices.x509 = dev;
  const group = h.uid('hubgrp');
  const id = h.uid('hubx509');
  const pki = h.opensslHierarchy(group, [id]);
  const [leaf] = pki.leaves;
  await h.sdk('create x509 group', () => dpsService().createOrUpdateEnrollmentGroup({
    enrollmentGroupId: group,
    attestation: { type: 'x509', x509: { signingCertificates: { primary: { certificate: pki.intermediate.pem } } } },
    initialTwin: INITIAL_TWIN,
  }));
  dev.groupId = group;
  dev.registrationId = id;
  const result = await registerX509({
    transport: 'mqtt', idScope: h.dpsdFromEnv().idScope, registrationId: id,
    cert: pki.chain(leaf), key: fs.readFileSync(leaf.keyFile, 'utf8'),
  });
  assert.equal(result.status, 'assigned', JSON.stringify(result));
  assert.equal(result.x509.enrollmentGroupId, group);
  dev.hub = result.assignedHub;
  dev.deviceId = result.deviceId;
  const held = await h.hubHttp(dev.hub, 'GET', `/devices/${encodeURIComponent(dev.deviceId)}`);
  assert.equal(held.status, 200, held.text);
  assert.equal(held.json.authentication.type, 'selfSigned');
  assert.equal(held.json.authentication.x509Thumbprint.primaryThumbprint, leaf.sha256);
  // another leaf with the same subject from the same CA is not this device
  const impostor = h.opensslCert(id, { issuer: pki.intermediate });
  const refused = await h.sdkError('device Client.open with another certificate of the same CA',
    () => connectDevice({ hubHost: dev.hub, deviceId: dev.deviceId, x509: impostor }));
  assert.equal(refused.constructor.name, 'UnauthorizedError', refused.message);
  dev.client = await connectDevice({ hubHost: dev.hub, deviceId: dev.deviceId, x509: leaf });
  return dev;
}

async function setupX509Registry() {
  const dev = { cred: 'x509-registry' };
  devices['x509-registry'] = dev;
  dev.hub = h.hubdFromEnv().hosts[1];
  dev.deviceId = h.uid('x509dev');
  const cert = h.opensslCert(dev.deviceId);
  const r = await h.hubHttp(dev.hub, 'PUT', `/devices/${encodeURIComponent(dev.deviceId)}`, {
    deviceId: dev.deviceId,
    authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: cert.sha256, secondaryThumbprint: cert.sha1 } },
  });
  assert.equal(r.status, 200, r.text);
  const t = await h.hubHttp(dev.hub, 'PATCH', `/twins/${encodeURIComponent(dev.deviceId)}`, INITIAL_TWIN);
  assert.equal(t.status, 200, t.text);
  // a certificate whose thumbprint the hub does not hold is refused
  const stranger = h.opensslCert(`${dev.deviceId}-other`);
  const refused = await h.sdkError('device Client.open with an unregistered certificate',
    () => connectDevice({ hubHost: dev.hub, deviceId: dev.deviceId, x509: stranger }));
  assert.equal(refused.constructor.name, 'UnauthorizedError', refused.message);
  dev.client = await connectDevice({ hubHost: dev.hub, deviceId: dev.deviceId, x509: cert });
  return dev;
}

const SETUPS = { symkey: setupSymkey, x509: setupX509Provisioned, 'x509-registry': setupX509Registry };

function device(cred) {
  if (!setups[cred]) setups[cred] = SETUPS[cred]();
  return setups[cred];
}

after(async () => {
  for (const dev of Object.values(devices)) {
    await closeDevice(dev.client);
    if (dev.groupId) {
      await h.sdk('delete group', () => dpsService().deleteEnrollmentGroup(dev.groupId)).catch(() => {});
    } else if (dev.registrationId) {
      await h.sdk('delete enrollment', () => dpsService().deleteIndividualEnrollment(dev.registrationId)).catch(() => {});
    }
    if (dev.registrationId) {
      await h.dpsHttp('DELETE', `/registrations/${encodeURIComponent(dev.registrationId)}`).catch(() => {});
    }
    if (dev.hub) await h.hubHttp(dev.hub, 'DELETE', `/devices/${encodeURIComponent(dev.deviceId)}`).catch(() => {});
  }
});

// Callback-only SDK call as a promise.
function reportedUpdate(twin, patch) {
  return new Promise((resolve, reject) => twin.properties.reported.update(patch, (e) => (e ? reject(e) : resolve())));
}

async function deviceTwin(dev) {
  if (!dev.twin) dev.twin = await h.sdk('device getTwin', () => dev.client.getTwin());
  return dev.twin;
}

async function telemetry(dev) {
  const connected = await h.hubHttp(dev.hub, 'GET', `/devices/${encodeURIComponent(dev.deviceId)}`);
  assert.equal(connected.status, 200, connected.text);
  assert.equal(connected.json.connectionState, 'Connected');

  const messageId = h.uid('msg');
  const body = JSON.stringify({ temperature: 21.5, messageId });
  const msg = new Message(body);
  msg.messageId = messageId;
  msg.contentType = 'application/json';
  msg.contentEncoding = 'utf-8';
  msg.properties.add('alert', 'no');
  const seen = h.hubTelemetry(dev.hub, (m) => m.deviceId === dev.deviceId && m.systemProperties
    && m.systemProperties.messageId === messageId);
  const sent = await h.sdk('device sendEvent', () => dev.client.sendEvent(msg));
  assert.equal(sent.constructor.name, 'MessageEnqueued');
  const event = await seen;
  assert.equal(event.hub, dev.hub);
  assert.equal(event.body, body);
  assert.equal(event.bodyEncoding, undefined);
  assert.equal(event.systemProperties.contentType, 'application/json');
  assert.equal(event.applicationProperties.alert, 'no');
  assert.match(event.enqueuedTimeUtc, /Z$/);
}

async function twinGetAndReported(dev) {
  const twin = await deviceTwin(dev);
  assert.equal(twin.properties.desired.interval, 30, 'the initial twin reaches the device');
  assert.equal(typeof twin.properties.desired.$version, 'number');
  const before = twin.properties.reported.$version;
  assert.equal(typeof before, 'number');

  const marker = h.uid('fw');
  await h.sdk('device reported.update', () => reportedUpdate(twin, { firmware: { version: marker, ok: true }, battery: 87 }));
  const t = await h.hubHttp(dev.hub, 'GET', `/twins/${encodeURIComponent(dev.deviceId)}`);
  assert.equal(t.status, 200, t.text);
  assert.deepEqual(t.json.properties.reported.firmware, { version: marker, ok: true });
  assert.equal(t.json.properties.reported.battery, 87);
  assert.ok(t.json.properties.reported.$version > before, 'reported $version grows');
  assert.deepEqual(t.json.tags, { suite: 'conformance' });

  // null removes a reported property
  await h.sdk('device reported.update (delete)', () => reportedUpdate(twin, { battery: null }));
  const t2 = await h.hubHttp(dev.hub, 'GET', `/twins/${encodeURIComponent(dev.deviceId)}`);
  assert.equal(t2.json.properties.reported.battery, undefined);
  assert.deepEqual(t2.json.properties.reported.firmware, { version: marker, ok: true });

  // a fresh get from the device sees what the hub holds
  const again = await h.sdk('device twin.get', () => twin.get());
  assert.deepEqual(again.properties.reported.firmware, { version: marker, ok: true });
}

async function desiredUpdate(dev) {
  const twin = await deviceTwin(dev);
  const marker = h.uid('desired');
  const got = new Promise((resolve) => {
    const onDesired = (delta) => {
      if (delta && delta.marker === marker) {
        twin.removeListener('properties.desired', onDesired);
        resolve(delta);
      }
    };
    twin.on('properties.desired', onDesired);
  });
  // attaching the listener subscribes to desired patches; a patch made
  // before that subscription is in place would only show in a later get
  await new Promise((r) => setTimeout(r, 300));
  const r = await h.hubHttp(dev.hub, 'PATCH', `/twins/${encodeURIComponent(dev.deviceId)}`,
    { properties: { desired: { marker, nested: { level: 2 } } } });
  assert.equal(r.status, 200, r.text);
  const delta = await h.sdk('desired-property update delivered', () => got);
  assert.deepEqual(delta.nested, { level: 2 });
  assert.equal(delta.$version, r.json.properties.desired.$version, 'the delta carries the twin\'s desired $version');
  assert.equal(twin.properties.desired.marker, marker, 'the SDK merged the delta into its twin');
  assert.equal(twin.properties.desired.interval, 30);
}

async function directMethod(dev) {
  const calls = [];
  const methodName = 'reboot';
  dev.client.onDeviceMethod(methodName, (request, response) => {
    calls.push(request);
    response.send(201, { echo: request.payload, method: request.methodName }, () => {});
  });
  await new Promise((r) => setTimeout(r, 300)); // SUBSCRIBE $iothub/methods/POST/#
  const r = await h.hubHttp(dev.hub, 'POST', `/twins/${encodeURIComponent(dev.deviceId)}/methods`, {
    methodName, payload: { delay: 5, why: 'conformance' }, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 5,
  });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 201, payload: { echo: { delay: 5, why: 'conformance' }, method: methodName } });
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].payload, { delay: 5, why: 'conformance' });
}

const FEATURES = [
  ['telemetry', 'sends telemetry with properties; the hub\'s telemetry stream shows it', telemetry],
  ['twin', 'gets its twin (initial twin) and patches reported properties; the hub\'s twin shows them', twinGetAndReported],
  ['desired', 'receives a desired-property update made through the hub REST API', desiredUpdate],
  ['method', 'answers a direct method invoked through the hub REST API', directMethod],
];

for (const [feature, what, body] of FEATURES) {
  test(...h.cell(`hub-mqtt-symkey-${feature}`, `device provisioned with a symmetric key ${what}`),
    async () => body(await device('symkey')));
}
for (const [feature, what, body] of FEATURES) {
  test(...h.cell(`hub-mqtt-x509-${feature}`, `device provisioned by an X.509 group, connecting with its leaf certificate, ${what}`),
    async () => body(await device('x509')));
  test(...h.cell(`hub-mqtt-x509-${feature}`, `self-signed X.509 device created in the hub registry ${what}`),
    async () => body(await device('x509-registry')));
}

// --- azure-iothub against hubd --------------------------------------------------

// HostName=localhost:<REST port> (the preload supplies the port), policy and
// key of the given hub.
function ownerConnectionString(hubHost) {
  const hub = h.hubdFromEnv();
  const { SharedAccessKeyName, SharedAccessKey } = h.parseConnectionString(hub.connectionStrings[hubHost]);
  return `HostName=localhost:${hub.restPort};SharedAccessKeyName=${SharedAccessKeyName};SharedAccessKey=${SharedAccessKey}`;
}

function serviceHub() {
  return h.hubdFromEnv().hosts[1];
}

test(...h.cell('hub-registry-devices', 'Registry create (server-generated keys), get, update, delete with If-Match "*"'), async () => {
  const hub = serviceHub();
  const others = h.hubdFromEnv().hosts.filter((x) => x !== hub);
  const registry = iothub.Registry.fromConnectionString(ownerConnectionString(hub));
  const deviceId = h.uid('regdev');

  const created = await h.sdk('Registry.create', () => registry.create({ deviceId }));
  assert.equal(created.httpResponse.statusCode, 200);
  const d1 = created.responseBody;
  assert.equal(d1.deviceId, deviceId);
  assert.equal(d1.status, 'enabled');
  assert.equal(d1.authentication.type, 'sas');
  const { primaryKey, secondaryKey } = d1.authentication.symmetricKey;
  assert.equal(Buffer.from(primaryKey, 'base64').length, 32, 'server-generated primary key');
  assert.equal(Buffer.from(secondaryKey, 'base64').length, 32, 'server-generated secondary key');
  assert.notEqual(primaryKey, secondaryKey);
  assert.equal(typeof d1.etag, 'string');
  assert.equal(typeof d1.generationId, 'string');

  // the key picked the hub: the device is in this hub only
  const held = await h.hubHttp(hub, 'GET', `/devices/${encodeURIComponent(deviceId)}`);
  assert.equal(held.status, 200, held.text);
  assert.equal(held.json.authentication.symmetricKey.primaryKey, primaryKey);
  for (const other of others) {
    assert.equal((await h.hubHttp(other, 'GET', `/devices/${encodeURIComponent(deviceId)}`)).status, 404);
  }

  // create again: conflict
  const dup = await h.sdkError('Registry.create of an existing device', () => registry.create({ deviceId }));
  assert.equal(dup.constructor.name, 'DeviceAlreadyExistsError');

  const got = await h.sdk('Registry.get', () => registry.get(deviceId));
  assert.equal(got.responseBody.deviceId, deviceId);
  assert.equal(got.responseBody.etag, d1.etag);
  assert.equal(got.responseBody.authentication.symmetricKey.primaryKey, primaryKey);
  assert.equal(got.responseBody.connectionState, 'Disconnected');

  // update: disable, keys kept (the SDK sends If-Match "*")
  const updated = await h.sdk('Registry.update', () => registry.update({
    deviceId, status: 'disabled', statusReason: 'conformance', authentication: d1.authentication,
  }));
  assert.equal(updated.responseBody.status, 'disabled');
  assert.notEqual(updated.responseBody.etag, d1.etag);
  const held2 = await h.hubHttp(hub, 'GET', `/devices/${encodeURIComponent(deviceId)}`);
  assert.equal(held2.json.status, 'disabled');
  assert.equal(held2.json.statusReason, 'conformance');
  assert.equal(held2.json.authentication.symmetricKey.primaryKey, primaryKey);

  // list
  const list = await h.sdk('Registry.list', () => registry.list());
  assert.ok(list.responseBody.some((d) => d.deviceId === deviceId));

  const del = await h.sdk('Registry.delete', () => registry.delete(deviceId));
  assert.equal(del.httpResponse.statusCode, 204);
  assert.equal((await h.hubHttp(hub, 'GET', `/devices/${encodeURIComponent(deviceId)}`)).status, 404);
  const gone = await h.sdkError('Registry.get of a deleted device', () => registry.get(deviceId));
  assert.equal(gone.constructor.name, 'DeviceNotFoundError');
});

test(...h.cell('hub-registry-twin', 'Registry getTwin and updateTwin with etag; stale etag refused'), async () => {
  const hub = serviceHub();
  const registry = iothub.Registry.fromConnectionString(ownerConnectionString(hub));
  const deviceId = h.uid('twindev');
  await h.sdk('Registry.create', () => registry.create({ deviceId }));
  try {
    const t1 = await h.sdk('Registry.getTwin', () => registry.getTwin(deviceId));
    const twin = t1.responseBody;
    assert.equal(twin.deviceId, deviceId);
    assert.equal(typeof twin.etag, 'string');
    assert.deepEqual(Object.keys(twin.properties.desired).filter((k) => !k.startsWith('$')), []);

    const patch = { tags: { site: 'lab', floor: 2 }, properties: { desired: { interval: 15, mode: 'eco' } } };
    const t2 = await h.sdk('Registry.updateTwin', () => registry.updateTwin(deviceId, patch, twin.etag));
    assert.deepEqual(t2.responseBody.tags, { site: 'lab', floor: 2 });
    assert.equal(t2.responseBody.properties.desired.interval, 15);
    assert.notEqual(t2.responseBody.etag, twin.etag);

    const held = await h.hubHttp(hub, 'GET', `/twins/${encodeURIComponent(deviceId)}`);
    assert.equal(held.status, 200, held.text);
    assert.deepEqual(held.json.tags, { site: 'lab', floor: 2 });
    assert.equal(held.json.properties.desired.mode, 'eco');
    assert.equal(held.json.etag, t2.responseBody.etag);

    // the Twin object's own update (merge patch; null deletes), with its etag
    const t3 = await h.sdk('Registry.getTwin again', () => registry.getTwin(deviceId));
    const upd = await h.sdk('Twin.update', () => t3.responseBody.update({ properties: { desired: { mode: null } } }));
    assert.equal(upd.result, t3.responseBody, 'Twin.update resolves to the Twin itself ({result, message})');
    assert.equal(upd.message.statusCode, 200);
    assert.equal(upd.result.properties.desired.mode, undefined);
    assert.equal(upd.result.properties.desired.interval, 15);

    // the first etag is stale now
    const stale = await h.sdkError('Registry.updateTwin with a stale etag',
      () => registry.updateTwin(deviceId, { tags: { site: 'x' } }, twin.etag));
    assert.equal(stale.response && stale.response.statusCode, 412);
    const held2 = await h.hubHttp(hub, 'GET', `/twins/${encodeURIComponent(deviceId)}`);
    assert.equal(held2.json.tags.site, 'lab', 'refused update changed nothing');
  } finally {
    await h.sdk('Registry.delete', () => registry.delete(deviceId));
  }
});

test(...h.cell('hub-registry-method', 'Client.invokeDeviceMethod reaches a connected device; offline device refused'), async () => {
  const hub = serviceHub();
  const cs = ownerConnectionString(hub);
  const registry = iothub.Registry.fromConnectionString(cs);
  const service = iothub.Client.fromConnectionString(cs);
  const deviceId = h.uid('methdev');
  const created = await h.sdk('Registry.create', () => registry.create({ deviceId }));
  const key = created.responseBody.authentication.symmetricKey.primaryKey;
  let client = null;
  try {
    // not connected yet: DeviceNotOnline
    const offline = await h.sdkError('invokeDeviceMethod on an offline device',
      () => service.invokeDeviceMethod(deviceId, { methodName: 'ping', payload: {}, responseTimeoutInSeconds: 5 }));
    assert.equal(offline.response && offline.response.statusCode, 404, offline.message);
    // the SDK knows no DeviceNotOnline error: a 404 other than DeviceNotFound
    // becomes a plain Error('Not found'); the hub's code is in the body
    assert.equal(offline.message, 'Not found');
    assert.match(offline.responseBody, /ErrorCode:DeviceNotOnline;/);

    client = await connectDevice({ hubHost: hub, deviceId, key });
    client.onDeviceMethod('setLevel', (request, response) => {
      response.send(200, { level: request.payload.level, ok: true }, () => {});
    });
    await new Promise((r) => setTimeout(r, 300)); // SUBSCRIBE $iothub/methods/POST/#
    const r = await h.sdk('Client.invokeDeviceMethod', () => service.invokeDeviceMethod(deviceId, {
      methodName: 'setLevel', payload: { level: 7 }, responseTimeoutInSeconds: 10,
    }));
    assert.deepEqual(r.result, { status: 200, payload: { level: 7, ok: true } });
    assert.equal(r.message.statusCode, 200);
  } finally {
    await closeDevice(client);
    await h.sdk('Registry.delete', () => registry.delete(deviceId));
  }
});
