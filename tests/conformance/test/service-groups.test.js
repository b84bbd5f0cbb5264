'use strict';
// azure-iot-provisioning-service: enrollment groups (symmetric key, X.509
// signing certificate) and their attestation mechanism.

const assert = require('node:assert/strict');
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service');
const { test } = require('node:test');
const h = require('../lib/harness');

function client() {
  return ProvisioningServiceClient.fromConnectionString(h.dpsdFromEnv().connectionString);
}

async function serverHolds(id) {
  const r = await h.dpsHttp('GET', `/enrollmentGroups/${encodeURIComponent(id)}`);
  assert.equal(r.status, 200, `GET /enrollmentGroups/${id}: ${r.text}`);
  return r.json;
}

async function serverLacks(id) {
  const r = await h.dpsHttp('GET', `/enrollmentGroups/${encodeURIComponent(id)}`);
  assert.equal(r.status, 404, `GET /enrollmentGroups/${id} should be 404: ${r.status} ${r.text}`);
}

test(...h.cell('svc-group-symkey', 'create, get, update with etag, stale etag, delete'), async () => {
  const c = client();
  const id = h.uid('grp');
  const primaryKey = h.randomKey(64);
  const secondaryKey = h.randomKey(64);

  const created = await h.sdk('createOrUpdateEnrollmentGroup', () => c.createOrUpdateEnrollmentGroup({
    enrollmentGroupId: id,
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey, secondaryKey } },
    initialTwin: { tags: { line: 'a' } },
    reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: false },
  }));
  assert.equal(created.httpResponse.statusCode, 200);
  const g1 = created.responseBody;
  assert.equal(g1.enrollmentGroupId, id);
  assert.deepEqual(g1.attestation.symmetricKey, { primaryKey, secondaryKey });
  assert.equal(g1.provisioningStatus, 'enabled');
  assert.deepEqual(g1.reprovisionPolicy, { updateHubAssignment: true, migrateDeviceData: false });
  assert.equal(typeof g1.etag, 'string');

  const got = await h.sdk('getEnrollmentGroup', () => c.getEnrollmentGroup(id));
  assert.equal(got.httpResponse.statusCode, 200);
  assert.equal(got.responseBody.etag, g1.etag);
  assert.equal(got.responseBody.attestation.type, 'symmetricKey');
  assert.equal(got.responseBody.attestation.symmetricKey, undefined, 'GET must not show keys');
  assert.equal((await serverHolds(id)).etag, g1.etag);

  const { responseBody: g2 } = await h.sdk('update with etag', () => c.createOrUpdateEnrollmentGroup({
    ...got.responseBody, provisioningStatus: 'disabled',
  }));
  assert.equal(g2.provisioningStatus, 'disabled');
  assert.notEqual(g2.etag, g1.etag);
  const held = await serverHolds(id);
  assert.equal(held.provisioningStatus, 'disabled');
  assert.equal(held.etag, g2.etag);

  const stale = await h.sdkError('update with stale etag', () => c.createOrUpdateEnrollmentGroup({
    ...g1, provisioningStatus: 'enabled',
  }));
  assert.equal(stale.response.statusCode, 412);
  assert.equal(stale.constructor.name, 'InvalidEtagError');
  const conflict = await h.sdkError('create-only on existing group', () => c.createOrUpdateEnrollmentGroup({
    enrollmentGroupId: id, attestation: { type: 'symmetricKey' },
  }));
  assert.equal(conflict.response.statusCode, 409);
  assert.equal(conflict.constructor.name, 'DeviceAlreadyExistsError');
  const staleDelete = await h.sdkError('delete with stale etag', () => c.deleteEnrollmentGroup(id, g1.etag));
  assert.equal(staleDelete.response.statusCode, 412);
  assert.equal((await serverHolds(id)).etag, g2.etag);

  await h.sdk('deleteEnrollmentGroup', () => c.deleteEnrollmentGroup(id, g2.etag));
  await serverLacks(id);
  const err = await h.sdkError('get deleted group', () => c.getEnrollmentGroup(id));
  assert.equal(err.response.statusCode, 404);
});

test(...h.cell('svc-group-x509', 'signing certificate made by openssl: info computed, get, delete'), async () => {
  const c = client();
  const id = h.uid('grpx509');
  const root = h.opensslCert(`${id}-root`, { ca: true });
  const { responseBody: g1, httpResponse } = await h.sdk('create x509 group', () => c.createOrUpdateEnrollmentGroup({
    enrollmentGroupId: id,
    attestation: { type: 'x509', x509: { signingCertificates: { primary: { certificate: root.pem } } } },
  }));
  assert.equal(httpResponse.statusCode, 200);
  assert.equal(g1.attestation.type, 'x509');
  const info = g1.attestation.x509.signingCertificates.primary.info;
  assert.equal(info.sha1Thumbprint.toUpperCase(), root.sha1);
  assert.equal(info.sha256Thumbprint.toUpperCase(), root.sha256);

  const { responseBody: got } = await h.sdk('get x509 group', () => c.getEnrollmentGroup(id));
  assert.equal(got.attestation.x509.signingCertificates.primary.info.sha256Thumbprint, info.sha256Thumbprint);
  const held = await serverHolds(id);
  assert.equal(held.attestation.x509.signingCertificates.primary.info.sha1Thumbprint, info.sha1Thumbprint);

  const tpmGroup = await h.sdkError('TPM group refused', () => c.createOrUpdateEnrollmentGroup({
    enrollmentGroupId: h.uid('grptpm'), attestation: { type: 'tpm', tpm: { endorsementKey: h.tpmEndorsementKey() } },
  }));
  assert.equal(tpmGroup.response.statusCode, 400);

  await h.sdk('delete x509 group', () => c.deleteEnrollmentGroup(id));
  await serverLacks(id);
});

test(...h.cell('svc-attestation-mechanism', 'enrollment group: keys present'), async () => {
  const c = client();
  const id = h.uid('grpatt');
  const { responseBody: g } = await h.sdk('create group, generated keys', () => c.createOrUpdateEnrollmentGroup({
    enrollmentGroupId: id, attestation: { type: 'symmetricKey' },
  }));
  const keys = g.attestation.symmetricKey;
  assert.ok(keys && keys.primaryKey && keys.secondaryKey, 'generated keys in the PUT response');

  const r = await h.sdk('getEnrollmentGroupAttestationMechanism', () => c.getEnrollmentGroupAttestationMechanism(id));
  assert.equal(r.httpResponse.statusCode, 200);
  assert.equal(r.responseBody.type, 'symmetricKey');
  assert.deepEqual(r.responseBody.symmetricKey, keys);

  await h.sdk('delete', () => c.deleteEnrollmentGroup(id));
});
