'use strict';
// Device provisioning with azure-iot-provisioning-device and its transports.
// Every combination of the matrix exists here; those whose server feature has
// not landed are todo (pending). The symmetric-key bodies are written already
// (try them with CONF_TRY_PENDING=1); X.509 and TPM bodies come with their
// issues.

const assert = require('node:assert/strict');
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service');
const { test } = require('node:test');
const h = require('../lib/harness');
const { NEEDS } = require('../lib/matrix');
const { registerSymmetricKey } = require('../lib/device');

function service() {
  return ProvisioningServiceClient.fromConnectionString(h.dpsdFromEnv().connectionString);
}

// What the device was told must match the record the server keeps.
async function assertRecord(result, registrationId, deviceId) {
  assert.equal(result.status, 'assigned', JSON.stringify(result));
  assert.equal(result.registrationId, registrationId);
  assert.equal(result.deviceId, deviceId);
  assert.equal(typeof result.assignedHub, 'string');
  assert.ok(result.assignedHub.length > 0);
  if (process.env.CONF_HUB_HOST) assert.equal(result.assignedHub, process.env.CONF_HUB_HOST);

  const r = await h.dpsHttp('GET', `/registrations/${encodeURIComponent(registrationId)}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'assigned');
  assert.equal(r.json.assignedHub, result.assignedHub);
  assert.equal(r.json.deviceId, deviceId);
  const viaSdk = await h.sdk('getDeviceRegistrationState', () => service().getDeviceRegistrationState(registrationId));
  assert.equal(viaSdk.responseBody.assignedHub, result.assignedHub);
}

function symkeyIndividual(transport) {
  return async () => {
    const c = service();
    const id = h.uid(`dev-${transport}`);
    const key = h.randomKey();
    await h.sdk('create enrollment', () => c.createOrUpdateIndividualEnrollment({
      registrationId: id, attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: key, secondaryKey: h.randomKey() } },
    }));
    try {
      const { idScope } = h.dpsdFromEnv();
      const result = await registerSymmetricKey({
        transport, idScope, registrationId: id, key, payload: { conformance: true, transport },
      });
      await assertRecord(result, id, id);
    } finally {
      await h.sdk('delete enrollment', () => c.deleteIndividualEnrollment(id));
      await h.dpsHttp('DELETE', `/registrations/${encodeURIComponent(id)}`);
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
    const id = h.uid(`member-${transport}`);
    try {
      const { idScope } = h.dpsdFromEnv();
      // the device key derived as a device maker does, from the group key
      const result = await registerSymmetricKey({
        transport, idScope, registrationId: id, key: h.deriveDeviceKey(groupKey, id), payload: { member: true },
      });
      await assertRecord(result, id, id);
      const q = c.createEnrollmentGroupDeviceRegistrationStateQuery({ query: 'SELECT *' }, group);
      const page = await h.sdk('group registration query', h.viaCallback((done) => q.next(done)));
      assert.deepEqual(page.responseBody.map((r) => r.registrationId), [id]);
    } finally {
      await h.dpsHttp('DELETE', `/registrations/${encodeURIComponent(id)}`);
      await h.sdk('delete group', () => c.deleteEnrollmentGroup(group));
    }
  };
}

const TRANSPORT_NEEDS = { http: NEEDS.DEVICE, mqtt: NEEDS.DEVICE, amqp: NEEDS.AMQP };

for (const transport of ['http', 'mqtt', 'amqp']) {
  const needs = TRANSPORT_NEEDS[transport];
  test(...h.pending(`dev-${transport}-symkey-individual`,
    `symmetric key, individual enrollment, over ${transport}, with a payload`, needs, symkeyIndividual(transport)));
  test(...h.pending(`dev-${transport}-symkey-group`,
    `symmetric key, group enrollment (derived device key), over ${transport}`, needs, symkeyGroup(transport)));
  test(...h.pending(`dev-${transport}-x509-individual`,
    `X.509 device certificate, individual enrollment, over ${transport}`, transport === 'amqp' ? NEEDS.AMQP : NEEDS.X509));
  test(...h.pending(`dev-${transport}-x509-group`,
    `X.509 leaf via intermediate, group enrollment, over ${transport}`, transport === 'amqp' ? NEEDS.AMQP : NEEDS.X509));
  if (transport !== 'mqtt') {
    test(...h.pending(`dev-${transport}-tpm-individual`,
      `TPM (swtpm), individual enrollment, over ${transport}`, transport === 'amqp' ? NEEDS.AMQP : NEEDS.TPM));
  }
}
