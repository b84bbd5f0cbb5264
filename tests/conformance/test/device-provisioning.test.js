'use strict';
// Device provisioning with azure-iot-provisioning-device and its transports.
// Every combination of the matrix exists here; those whose server feature has
// not landed are todo (pending). Symmetric key over HTTPS and MQTT runs
// against dpsd with hubd's two hubs linked: each test checks what the SDK's
// register() resolved to, the registration record dpsd keeps (service API,
// read both through the SDK and independently), and the device identity and
// twin dpsd wrote into the assigned hub (hubd's REST API).

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service');
const { test } = require('node:test');
const h = require('../lib/harness');
const { NEEDS } = require('../lib/matrix');
const { registerSymmetricKey } = require('../lib/device');

function service() {
  return ProvisioningServiceClient.fromConnectionString(h.dpsdFromEnv().connectionString);
}

// The hub dpsd's default `hashed` allocation picks (docs/device-api.md,
// "Allocation"): weighted rendezvous hashing over the lower-case
// registration ID; with equal weights the largest 64-bit prefix of
// SHA-256(regId || 0x00 || hub) wins.
function hashedHub(registrationId, hubs) {
  const score = (hub) => crypto.createHash('sha256')
    .update(Buffer.concat([Buffer.from(registrationId.toLowerCase()), Buffer.from([0]), Buffer.from(hub.toLowerCase())]))
    .digest().readBigUInt64BE(0);
  return [...hubs].sort((a, b) => (score(b) > score(a) ? 1 : score(b) < score(a) ? -1 : 0))[0];
}

// What the device was told must match the record dpsd keeps and the device
// dpsd created in the hub. Returns the hub's device JSON.
async function assertProvisioned(result, { registrationId, deviceId, key, groupId }) {
  const hubs = h.hubdFromEnv().hosts;
  assert.equal(result.status, 'assigned', JSON.stringify(result));
  assert.equal(result.registrationId, registrationId);
  assert.equal(result.deviceId, deviceId);
  assert.ok(hubs.includes(result.assignedHub), `assignedHub ${result.assignedHub} is not one of ${hubs.join(', ')}`);
  assert.equal(result.assignedHub, hashedHub(registrationId, hubs), 'hashed allocation as documented');
  assert.equal(result.substatus, 'initialAssignment');
  if (groupId) assert.equal(result.symmetricKey && result.symmetricKey.enrollmentGroupId, groupId);

  // dpsd's registration record, independently and through the service SDK
  const r = await h.dpsHttp('GET', `/registrations/${encodeURIComponent(registrationId)}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'assigned');
  assert.equal(r.json.assignedHub, result.assignedHub);
  assert.equal(r.json.deviceId, deviceId);
  const viaSdk = await h.sdk('getDeviceRegistrationState', () => service().getDeviceRegistrationState(registrationId));
  assert.equal(viaSdk.responseBody.assignedHub, result.assignedHub);
  assert.equal(viaSdk.responseBody.deviceId, deviceId);
  assert.equal(viaSdk.responseBody.etag, r.json.etag);

  // the device in the assigned hub: enabled, SAS with the device's own key
  const d = await h.hubHttp(result.assignedHub, 'GET', `/devices/${encodeURIComponent(deviceId)}`);
  assert.equal(d.status, 200, `hub ${result.assignedHub} GET /devices/${deviceId}: ${d.text}`);
  assert.equal(d.json.deviceId, deviceId);
  assert.equal(d.json.status, 'enabled');
  assert.equal(d.json.authentication.type, 'sas');
  assert.equal(d.json.authentication.symmetricKey.primaryKey, key, 'the hub device has the key the device holds');
  // and nowhere else
  for (const other of hubs.filter((x) => x !== result.assignedHub)) {
    const o = await h.hubHttp(other, 'GET', `/devices/${encodeURIComponent(deviceId)}`);
    assert.equal(o.status, 404, `device ${deviceId} also in ${other}: ${o.text}`);
  }
  return d.json;
}

async function deleteHubDevice(result) {
  if (result && result.assignedHub && result.deviceId) {
    await h.hubHttp(result.assignedHub, 'DELETE', `/devices/${encodeURIComponent(result.deviceId)}`);
  }
}

function symkeyIndividual(transport) {
  return async () => {
    const c = service();
    const id = h.uid(`dev-${transport}`);
    const deviceId = `${id}-device`;
    const key = h.randomKey();
    await h.sdk('create enrollment', () => c.createOrUpdateIndividualEnrollment({
      registrationId: id,
      deviceId,
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: key, secondaryKey: h.randomKey() } },
      initialTwin: { tags: { suite: 'conformance' }, properties: { desired: { interval: 30, transport } } },
    }));
    let result;
    try {
      const { idScope } = h.dpsdFromEnv();
      result = await registerSymmetricKey({
        transport, idScope, registrationId: id, key, payload: { conformance: true, transport },
      });
      await assertProvisioned(result, { registrationId: id, deviceId, key });
      // the enrollment's initial twin is in the hub
      const t = await h.hubHttp(result.assignedHub, 'GET', `/twins/${encodeURIComponent(deviceId)}`);
      assert.equal(t.status, 200, t.text);
      assert.deepEqual(t.json.tags, { suite: 'conformance' });
      assert.equal(t.json.properties.desired.interval, 30);
      assert.equal(t.json.properties.desired.transport, transport);

      // registering again: same hub, same device, still initialAssignment
      const again = await registerSymmetricKey({ transport, idScope, registrationId: id, key });
      assert.equal(again.status, 'assigned');
      assert.equal(again.assignedHub, result.assignedHub);
      assert.equal(again.deviceId, deviceId);
    } finally {
      await h.sdk('delete enrollment', () => c.deleteIndividualEnrollment(id));
      await h.dpsHttp('DELETE', `/registrations/${encodeURIComponent(id)}`);
      await deleteHubDevice(result);
    }
  };
}

function symkeyGroup(transport) {
  return async () => {
    const c = service();
    const group = h.uid(`grp-${transport}`);
    const groupKey = h.randomKey(64);
    await h.sdk('create group', () => c.createOrUpdateEnrollmentGroup({
      enrollmentGroupId: group, attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: groupKey, secondaryKey: h.randomKey(64) } },
    }));
    const ids = [h.uid(`member-${transport}`), h.uid(`member-${transport}`)];
    const results = [];
    try {
      const { idScope } = h.dpsdFromEnv();
      for (const id of ids) {
        // the device key derived as a device maker does, from the group key
        const key = h.deriveDeviceKey(groupKey, id);
        const result = await registerSymmetricKey({
          transport, idScope, registrationId: id, key, payload: { member: true, id },
        });
        results.push(result);
        await assertProvisioned(result, { registrationId: id, deviceId: id, key, groupId: group });
      }
      const q = c.createEnrollmentGroupDeviceRegistrationStateQuery({ query: 'SELECT *' }, group);
      const page = await h.sdk('group registration query', h.viaCallback((done) => q.next(done)));
      assert.deepEqual(page.responseBody.map((r) => r.registrationId).sort(), [...ids].sort());

      // a key derived from the wrong group key is refused, nothing is assigned
      const stranger = h.uid(`stranger-${transport}`);
      const err = await h.sdkError('register with a wrong derived key', () => registerSymmetricKey({
        transport, idScope, registrationId: stranger, key: h.deriveDeviceKey(h.randomKey(64), stranger),
      }));
      assert.ok(err instanceof Error);
      const none = await h.dpsHttp('GET', `/registrations/${encodeURIComponent(stranger)}`);
      assert.equal(none.status, 404, none.text);
    } finally {
      for (const id of ids) await h.dpsHttp('DELETE', `/registrations/${encodeURIComponent(id)}`);
      await h.sdk('delete group', () => c.deleteEnrollmentGroup(group));
      for (const r of results) await deleteHubDevice(r);
    }
  };
}

for (const transport of ['http', 'mqtt', 'amqp']) {
  const individualTitle = `symmetric key, individual enrollment, over ${transport}, with a payload`;
  const groupTitle = `symmetric key, group enrollment (derived device keys), over ${transport}, with a payload`;
  if (transport === 'amqp') {
    test(...h.pending(`dev-${transport}-symkey-individual`, individualTitle, NEEDS.AMQP, symkeyIndividual(transport)));
    test(...h.pending(`dev-${transport}-symkey-group`, groupTitle, NEEDS.AMQP, symkeyGroup(transport)));
  } else {
    test(...h.cell(`dev-${transport}-symkey-individual`, individualTitle), symkeyIndividual(transport));
    test(...h.cell(`dev-${transport}-symkey-group`, groupTitle), symkeyGroup(transport));
  }
  test(...h.pending(`dev-${transport}-x509-individual`,
    `X.509 device certificate, individual enrollment, over ${transport}`, transport === 'amqp' ? NEEDS.AMQP : NEEDS.X509));
  test(...h.pending(`dev-${transport}-x509-group`,
    `X.509 leaf via intermediate, group enrollment, over ${transport}`, transport === 'amqp' ? NEEDS.AMQP : NEEDS.X509));
  if (transport !== 'mqtt') {
    test(...h.pending(`dev-${transport}-tpm-individual`,
      `TPM (swtpm), individual enrollment, over ${transport}`, transport === 'amqp' ? NEEDS.AMQP : NEEDS.TPM));
  }
}
