'use strict';
// azure-iot-provisioning-service: individual enrollments (symmetric key,
// X.509, TPM), attestation mechanism, and the etag / conflict error cases.
// Every step asserts what the SDK returns and then what dpsd holds, read
// through an independent HTTPS client (harness.dpsHttp).

const assert = require('node:assert/strict');
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service');
const { test } = require('node:test');
const h = require('../lib/harness');

function client() {
  return ProvisioningServiceClient.fromConnectionString(h.dpsdFromEnv().connectionString);
}

function assertEtag(etag) {
  assert.equal(typeof etag, 'string');
  assert.ok(etag.length > 0, 'etag is empty');
}

async function serverHolds(id) {
  const r = await h.dpsHttp('GET', `/enrollments/${encodeURIComponent(id)}`);
  assert.equal(r.status, 200, `GET /enrollments/${id}: ${r.text}`);
  return r.json;
}

async function serverLacks(id) {
  const r = await h.dpsHttp('GET', `/enrollments/${encodeURIComponent(id)}`);
  assert.equal(r.status, 404, `GET /enrollments/${id} should be 404: ${r.status} ${r.text}`);
  assert.match(String(r.json && r.json.errorCode), /^404\d{3}$/);
}

async function serverKeys(id) {
  const r = await h.dpsHttp('POST', `/enrollments/${encodeURIComponent(id)}/attestationmechanism`);
  assert.equal(r.status, 200, r.text);
  return r.json.symmetricKey;
}

test(...h.cell('svc-enrollment-symkey', 'create, get, update with etag, delete (supplied keys)'), async () => {
  const c = client();
  const id = h.uid('sym');
  const primaryKey = h.randomKey();
  const secondaryKey = h.randomKey();

  // create
  const created = await h.sdk('createOrUpdateIndividualEnrollment', () => c.createOrUpdateIndividualEnrollment({
    registrationId: id,
    deviceId: `${id}-device`,
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey, secondaryKey } },
    initialTwin: { tags: { floor: 3 }, properties: { desired: { interval: 30 } } },
    capabilities: { iotEdge: false },
    provisioningStatus: 'enabled',
  }));
  assert.equal(created.httpResponse.statusCode, 200);
  const e1 = created.responseBody;
  assert.equal(e1.registrationId, id);
  assert.equal(e1.deviceId, `${id}-device`);
  assert.equal(e1.attestation.type, 'symmetricKey');
  assert.equal(e1.attestation.symmetricKey.primaryKey, primaryKey, 'PUT response shows the keys');
  assert.equal(e1.attestation.symmetricKey.secondaryKey, secondaryKey);
  assert.equal(e1.provisioningStatus, 'enabled');
  assert.deepEqual(e1.initialTwin.tags, { floor: 3 });
  assertEtag(e1.etag);
  assert.match(e1.createdDateTimeUtc, /Z$/);

  // get: keys hidden, same etag; the server agrees
  const got = await h.sdk('getIndividualEnrollment', () => c.getIndividualEnrollment(id));
  assert.equal(got.httpResponse.statusCode, 200);
  assert.equal(got.responseBody.registrationId, id);
  assert.equal(got.responseBody.etag, e1.etag);
  assert.equal(got.responseBody.attestation.type, 'symmetricKey');
  assert.equal(got.responseBody.attestation.symmetricKey, undefined, 'GET must not show keys');
  const held = await serverHolds(id);
  assert.equal(held.etag, e1.etag);

  // update: PUT back the object the create returned (read-only fields and
  // etag included, as the SDK's own e2e tests do) with one change
  const updated = await h.sdk('update with etag', () => c.createOrUpdateIndividualEnrollment({
    ...e1, provisioningStatus: 'disabled',
  }));
  assert.equal(updated.httpResponse.statusCode, 200);
  const e2 = updated.responseBody;
  assert.equal(e2.provisioningStatus, 'disabled');
  assertEtag(e2.etag);
  assert.notEqual(e2.etag, e1.etag, 'etag must change on every write');
  assert.equal(e2.createdDateTimeUtc, e1.createdDateTimeUtc);
  const held2 = await serverHolds(id);
  assert.equal(held2.provisioningStatus, 'disabled');
  assert.equal(held2.etag, e2.etag);
  assert.deepEqual(await serverKeys(id), { primaryKey, secondaryKey }, 'keys kept by the update');

  // delete with the current etag
  await h.sdk('deleteIndividualEnrollment', () => c.deleteIndividualEnrollment(id, e2.etag));
  await serverLacks(id);
  const err = await h.sdkError('get deleted', () => c.getIndividualEnrollment(id));
  assert.equal(err.response.statusCode, 404);
});

test(...h.cell('svc-enrollment-symkey', 'keys generated when absent, kept on update without keys'), async () => {
  const c = client();
  const id = h.uid('symgen');
  const { responseBody: e1 } = await h.sdk('create without keys', () => c.createOrUpdateIndividualEnrollment({
    registrationId: id, attestation: { type: 'symmetricKey' },
  }));
  const k = e1.attestation.symmetricKey;
  assert.ok(k && k.primaryKey && k.secondaryKey, 'generated keys in the PUT response');
  assert.ok(Buffer.from(k.primaryKey, 'base64').length >= 16);
  assert.notEqual(k.primaryKey, k.secondaryKey);
  assert.equal(e1.provisioningStatus, 'enabled', 'provisioningStatus defaults to enabled');

  // what GET returns (keys hidden) goes back with the etag: keys must survive
  const { responseBody: g } = await h.sdk('get', () => c.getIndividualEnrollment(id));
  const { responseBody: e2 } = await h.sdk('update from GET', () => c.createOrUpdateIndividualEnrollment({
    ...g, optionalDeviceInformation: { properties: { desired: { model: 'x1' } } },
  }));
  assert.notEqual(e2.etag, e1.etag);
  assert.deepEqual(await serverKeys(id), { primaryKey: k.primaryKey, secondaryKey: k.secondaryKey });

  await h.sdk('delete without etag', () => c.deleteIndividualEnrollment(id));
  await serverLacks(id);
});

test(...h.cell('svc-enrollment-symkey', 'IDs with ":" "." "_" and upper case: encoded by the SDK, found case-insensitively'), async () => {
  const c = client();
  const id = `Conf:Dev.${h.uid('Mixed_Case')}`;
  const { responseBody: e1 } = await h.sdk('create', () => c.createOrUpdateIndividualEnrollment({
    registrationId: id, attestation: { type: 'symmetricKey' },
  }));
  assert.equal(e1.registrationId, id, 'the caller\'s spelling is kept');
  const { responseBody: g } = await h.sdk('get in lower case', () => c.getIndividualEnrollment(id.toLowerCase()));
  assert.equal(g.registrationId, id);
  assert.equal(g.etag, e1.etag);
  const att = await h.sdk('attestation mechanism', () => c.getIndividualEnrollmentAttestationMechanism(id));
  assert.equal(att.responseBody.symmetricKey.primaryKey, e1.attestation.symmetricKey.primaryKey);
  assert.equal((await serverHolds(id)).registrationId, id);
  await h.sdk('delete', () => c.deleteIndividualEnrollment(id, g.etag));
  await serverLacks(id);
});

test(...h.cell('svc-enrollment-x509', 'client certificate made by openssl: info computed, get, delete'), async () => {
  const c = client();
  const id = h.uid('x509');
  const cert = h.opensslCert(id);
  const { responseBody: e1, httpResponse } = await h.sdk('create x509', () => c.createOrUpdateIndividualEnrollment({
    registrationId: id,
    attestation: { type: 'x509', x509: { clientCertificates: { primary: { certificate: cert.pem } } } },
  }));
  assert.equal(httpResponse.statusCode, 200);
  assert.equal(e1.attestation.type, 'x509');
  const info = e1.attestation.x509.clientCertificates.primary.info;
  assert.ok(info, 'x509 info computed by the server');
  assert.equal(info.sha1Thumbprint.toUpperCase(), cert.sha1);
  assert.equal(info.sha256Thumbprint.toUpperCase(), cert.sha256);
  assert.match(info.subjectName, new RegExp(`CN ?= ?${id}`));
  assert.match(info.notAfterUtc, /Z$/);

  const { responseBody: g } = await h.sdk('get x509', () => c.getIndividualEnrollment(id));
  assert.equal(g.attestation.x509.clientCertificates.primary.info.sha256Thumbprint, info.sha256Thumbprint);
  const held = await serverHolds(id);
  assert.equal(held.attestation.x509.clientCertificates.primary.info.sha1Thumbprint, info.sha1Thumbprint);

  // a round trip of what GET returned (info present) keeps the certificate
  const { responseBody: e2 } = await h.sdk('update x509', () => c.createOrUpdateIndividualEnrollment({
    ...g, provisioningStatus: 'disabled',
  }));
  assert.equal(e2.attestation.x509.clientCertificates.primary.info.sha256Thumbprint, info.sha256Thumbprint);

  await h.sdk('delete x509', () => c.deleteIndividualEnrollment(id, e2.etag));
  await serverLacks(id);
});

test(...h.cell('svc-enrollment-tpm', 'endorsement key stored and returned; malformed key refused'), async () => {
  const c = client();
  const id = h.uid('tpm');
  const ek = h.tpmEndorsementKey();
  const { responseBody: e1, httpResponse } = await h.sdk('create tpm', () => c.createOrUpdateIndividualEnrollment({
    registrationId: id, attestation: { type: 'tpm', tpm: { endorsementKey: ek } },
  }));
  assert.equal(httpResponse.statusCode, 200);
  assert.equal(e1.attestation.type, 'tpm');
  assert.equal(e1.attestation.tpm.endorsementKey, ek);

  const { responseBody: g } = await h.sdk('get tpm', () => c.getIndividualEnrollment(id));
  assert.equal(g.attestation.tpm.endorsementKey, ek);
  assert.equal((await serverHolds(id)).attestation.tpm.endorsementKey, ek);

  const bad = h.uid('tpmbad');
  const err = await h.sdkError('create tpm with malformed EK', () => c.createOrUpdateIndividualEnrollment({
    registrationId: bad, attestation: { type: 'tpm', tpm: { endorsementKey: Buffer.from('not a key').toString('base64') } },
  }));
  assert.equal(err.constructor.name, 'ArgumentError');
  assert.equal(err.response.statusCode, 400);
  await serverLacks(bad);

  await h.sdk('delete tpm', () => c.deleteIndividualEnrollment(id));
  await serverLacks(id);
});

test(...h.cell('svc-attestation-mechanism', 'individual enrollment: keys present'), async () => {
  const c = client();
  const id = h.uid('att');
  const primaryKey = h.randomKey();
  const secondaryKey = h.randomKey(64);
  await h.sdk('create', () => c.createOrUpdateIndividualEnrollment({
    registrationId: id, attestation: { type: 'symmetricKey', symmetricKey: { primaryKey, secondaryKey } },
  }));
  const r = await h.sdk('getIndividualEnrollmentAttestationMechanism',
    () => c.getIndividualEnrollmentAttestationMechanism(id));
  assert.equal(r.httpResponse.statusCode, 200);
  assert.equal(r.responseBody.type, 'symmetricKey');
  assert.deepEqual(r.responseBody.symmetricKey, { primaryKey, secondaryKey });

  const err = await h.sdkError('attestation mechanism of unknown ID',
    () => c.getIndividualEnrollmentAttestationMechanism(h.uid('missing')));
  assert.equal(err.response.statusCode, 404);
  await h.sdk('delete', () => c.deleteIndividualEnrollment(id));
});

test(...h.cell('svc-errors', 'create-only conflict: a bare PUT on an existing ID fails, record unchanged'), async () => {
  const c = client();
  const id = h.uid('conflict');
  const { responseBody: e1 } = await h.sdk('create', () => c.createOrUpdateIndividualEnrollment({
    registrationId: id, attestation: { type: 'symmetricKey' }, provisioningStatus: 'enabled',
  }));
  const err = await h.sdkError('create again without etag', () => c.createOrUpdateIndividualEnrollment({
    registrationId: id, attestation: { type: 'symmetricKey' }, provisioningStatus: 'disabled',
  }));
  assert.equal(err.constructor.name, 'DeviceAlreadyExistsError');
  assert.equal(err.response.statusCode, 409);
  const body = JSON.parse(err.responseBody);
  assert.match(String(body.errorCode), /^409\d{3}$/);
  const held = await serverHolds(id);
  assert.equal(held.etag, e1.etag);
  assert.equal(held.provisioningStatus, 'enabled');
  await h.sdk('delete', () => c.deleteIndividualEnrollment(id));
});

test(...h.cell('svc-errors', 'stale etag: update and delete fail with 412, record unchanged'), async () => {
  const c = client();
  const id = h.uid('stale');
  const { responseBody: e1 } = await h.sdk('create', () => c.createOrUpdateIndividualEnrollment({
    registrationId: id, attestation: { type: 'symmetricKey' },
  }));
  const { responseBody: e2 } = await h.sdk('update', () => c.createOrUpdateIndividualEnrollment({
    ...e1, provisioningStatus: 'disabled',
  }));
  assert.notEqual(e2.etag, e1.etag);

  const err = await h.sdkError('update with stale etag', () => c.createOrUpdateIndividualEnrollment({
    ...e1, provisioningStatus: 'enabled',
  }));
  assert.equal(err.constructor.name, 'InvalidEtagError');
  assert.equal(err.response.statusCode, 412);
  assert.match(String(JSON.parse(err.responseBody).errorCode), /^412\d{3}$/);

  const derr = await h.sdkError('delete with stale etag', () => c.deleteIndividualEnrollment(id, e1.etag));
  assert.equal(derr.constructor.name, 'InvalidEtagError');
  assert.equal(derr.response.statusCode, 412);

  const held = await serverHolds(id);
  assert.equal(held.etag, e2.etag);
  assert.equal(held.provisioningStatus, 'disabled');

  // delete through the SDK's object form, which sends the object's etag
  await h.sdk('delete with current etag (object form)', () => c.deleteIndividualEnrollment(e2));
  await serverLacks(id);
  const gone = await h.sdkError('delete missing', () => c.deleteIndividualEnrollment(id));
  assert.equal(gone.response.statusCode, 404);
});
