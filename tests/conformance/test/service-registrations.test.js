'use strict';
// azure-iot-provisioning-service: registration records, without devices and
// of devices provisioned with the unmodified device client (over HTTPS, into
// one of hubd's linked hubs).

const assert = require('node:assert/strict');
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service');
const { test } = require('node:test');
const h = require('../lib/harness');
const { registerSymmetricKey } = require('../lib/device');

function client() {
  return ProvisioningServiceClient.fromConnectionString(h.dpsdFromEnv().connectionString);
}

test(...h.cell('svc-registrations', 'getDeviceRegistrationState of an unknown ID: 404 error'), async () => {
  const c = client();
  const id = h.uid('noreg');
  const err = await h.sdkError('getDeviceRegistrationState', () => c.getDeviceRegistrationState(id));
  assert.equal(err.response.statusCode, 404);
  assert.equal(err.message, 'Not found', 'the SDK maps a DPS 404 body to its generic not-found error');
  assert.match(String(JSON.parse(err.responseBody).errorCode), /^404\d{3}$/);
  const r = await h.dpsHttp('GET', `/registrations/${id}`);
  assert.equal(r.status, 404);

  const derr = await h.sdkError('deleteDeviceRegistrationState', () => c.deleteDeviceRegistrationState(id));
  assert.equal(derr.response.statusCode, 404);
});

test(...h.cell('svc-registrations', 'createEnrollmentGroupDeviceRegistrationStateQuery: empty for a new group'), async () => {
  const c = client();
  const group = h.uid('reggrp');
  await h.sdk('create group', () => c.createOrUpdateEnrollmentGroup({ enrollmentGroupId: group, attestation: { type: 'symmetricKey' } }));
  try {
    const q = c.createEnrollmentGroupDeviceRegistrationStateQuery({ query: 'SELECT *' }, group, 5);
    const r = await h.sdk('registration query next()', () => q.next());
    assert.equal(r.httpResponse.statusCode, 200);
    assert.deepEqual(r.responseBody, []);
    assert.equal(r.httpResponse.headers['x-ms-item-type'], 'DeviceRegistration');
    assert.equal(q.hasMoreResults, false);

    // the same for a group that does not exist (service-api.md §5)
    const q2 = c.createEnrollmentGroupDeviceRegistrationStateQuery({ query: 'SELECT *' }, h.uid('nogrp'));
    const r2 = await h.sdk('registration query of unknown group', () => q2.next());
    assert.deepEqual(r2.responseBody, []);
    assert.equal(q2.hasMoreResults, false);
  } finally {
    await h.sdk('delete group', () => c.deleteEnrollmentGroup(group));
  }
});

test(...h.cell('svc-registrations-device',
  'record of a provisioned device: get, group query lists it, delete with etag (stale etag refused)'), async () => {
  const c = client();
  const group = h.uid('recgrp');
  const groupKey = h.randomKey(64);
  await h.sdk('create group', () => c.createOrUpdateEnrollmentGroup({
    enrollmentGroupId: group, attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: groupKey, secondaryKey: h.randomKey(64) } },
  }));
  const ids = [h.uid('rec'), h.uid('rec'), h.uid('rec')];
  const hubs = [];
  try {
    const { idScope } = h.dpsdFromEnv();
    for (const id of ids) {
      const result = await registerSymmetricKey({
        transport: 'http', idScope, registrationId: id, key: h.deriveDeviceKey(groupKey, id),
      });
      assert.equal(result.status, 'assigned', JSON.stringify(result));
      hubs.push(result.assignedHub);
    }

    // get: the record the device was told about
    const got = await h.sdk('getDeviceRegistrationState', () => c.getDeviceRegistrationState(ids[0]));
    assert.equal(got.httpResponse.statusCode, 200);
    const rec = got.responseBody;
    assert.equal(rec.registrationId, ids[0]);
    assert.equal(rec.status, 'assigned');
    assert.equal(rec.assignedHub, hubs[0]);
    assert.equal(rec.deviceId, ids[0]);
    assert.equal(rec.symmetricKey && rec.symmetricKey.enrollmentGroupId, group);
    assert.equal(typeof rec.etag, 'string');
    assert.match(rec.createdDateTimeUtc, /Z$/);
    assert.match(rec.lastUpdatedDateTimeUtc, /Z$/);

    // group query, paged by 2 (callback form: see docs/compatibility.md)
    const q = c.createEnrollmentGroupDeviceRegistrationStateQuery({ query: 'SELECT *' }, group, 2);
    const seen = [];
    for (let page = 0; page < 5; page++) {
      const r = await h.sdk(`registration query page ${page + 1}`, h.viaCallback((done) => q.next(done)));
      assert.ok(r.responseBody.length <= 2);
      seen.push(...r.responseBody.map((x) => x.registrationId));
      if (!q.hasMoreResults) break;
    }
    assert.equal(q.hasMoreResults, false);
    assert.deepEqual(seen.sort(), [...ids].sort());

    // delete with a stale etag: 412, record kept
    const stale = `${rec.etag.slice(0, -2)}x=`;
    const e = await h.sdkError('deleteDeviceRegistrationState with a stale etag',
      () => c.deleteDeviceRegistrationState(ids[0], stale));
    assert.equal(e.response.statusCode, 412);
    assert.equal((await h.dpsHttp('GET', `/registrations/${ids[0]}`)).status, 200);

    // delete with its etag: gone from dpsd, the hub device stays
    // (the promise form resolves to nothing: errorCallbackToPromise)
    await h.sdk('deleteDeviceRegistrationState with etag', () => c.deleteDeviceRegistrationState(ids[0], rec.etag));
    assert.equal((await h.dpsHttp('GET', `/registrations/${ids[0]}`)).status, 404);
    const dev = await h.hubHttp(hubs[0], 'GET', `/devices/${encodeURIComponent(ids[0])}`);
    assert.equal(dev.status, 200, 'deleting a record never touches the hub device');

    // the record object itself can be passed (its etag is used)
    const got2 = await h.sdk('getDeviceRegistrationState', () => c.getDeviceRegistrationState(ids[1]));
    await h.sdk('deleteDeviceRegistrationState(record)', () => c.deleteDeviceRegistrationState(got2.responseBody));
    assert.equal((await h.dpsHttp('GET', `/registrations/${ids[1]}`)).status, 404);
  } finally {
    for (const id of ids) await h.dpsHttp('DELETE', `/registrations/${encodeURIComponent(id)}`);
    await h.sdk('delete group', () => c.deleteEnrollmentGroup(group));
    for (let i = 0; i < hubs.length; i++) {
      await h.hubHttp(hubs[i], 'DELETE', `/devices/${encodeURIComponent(ids[i])}`);
    }
  }
});
