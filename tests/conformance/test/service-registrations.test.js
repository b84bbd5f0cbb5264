'use strict';
// azure-iot-provisioning-service: registration records. Records of real
// devices need the device registration API (pending); what exists without
// devices is checked now.

const assert = require('node:assert/strict');
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service');
const { test } = require('node:test');
const h = require('../lib/harness');
const { NEEDS } = require('../lib/matrix');

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

test(...h.pending('svc-registrations-device',
  'record of a provisioned device: get, group query lists it, delete with etag', NEEDS.DEVICE));
