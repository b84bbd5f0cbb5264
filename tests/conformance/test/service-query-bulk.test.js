'use strict';
// azure-iot-provisioning-service: paged queries and bulk operations.
// The suite runs test files one at a time, so no other test writes while a
// query pages through the server.

const assert = require('node:assert/strict');
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service');
const { test } = require('node:test');
const h = require('../lib/harness');

function client() {
  return ProvisioningServiceClient.fromConnectionString(h.dpsdFromEnv().connectionString);
}

// Page through a Query with the SDK; returns the pages. Bounded.
async function pages(query, what) {
  const out = [];
  while (query.hasMoreResults) {
    if (out.length > 500) throw new Error(`${what}: more than 500 pages`);
    // callback form: the promise form of next() restarts at page one
    const r = await h.sdk(`${what} next()`, h.viaCallback((done) => query.next(done)));
    out.push({ items: r.responseBody, headers: r.httpResponse.headers, more: query.hasMoreResults });
  }
  return out;
}

// Every ID the server holds, read in one page through plain HTTPS.
async function serverIds(kind, idField) {
  const r = await h.dpsHttp('POST', `/${kind}/query`, { query: 'SELECT *' }, { 'x-ms-max-item-count': '1000' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-ms-continuation'], undefined, 'test expects fewer than 1000 records');
  return r.json.map((x) => x[idField]).sort();
}

async function checkPagedQuery({ kind, idField, itemType, create, remove, makeQuery, pageSize, count }) {
  const c = client();
  const ids = [];
  for (let i = 0; i < count; i++) {
    const id = h.uid(`q${kind.slice(0, 3)}`);
    await h.sdk('create', () => create(c, id));
    ids.push(id);
  }
  try {
    const result = await pages(makeQuery(c, pageSize), kind);
    assert.ok(result.length >= Math.ceil(count / pageSize), `${result.length} pages for ${count} records`);
    const seen = [];
    result.forEach((p, i) => {
      const last = i === result.length - 1;
      assert.ok(Array.isArray(p.items), 'a page is an array');
      assert.ok(p.items.length <= pageSize, `page ${i} has ${p.items.length} > ${pageSize} items`);
      assert.equal(p.headers['x-ms-item-type'], itemType);
      assert.equal(p.more, !last, `hasMoreResults after page ${i}`);
      if (last) assert.equal(p.headers['x-ms-continuation'], undefined, 'no continuation on the last page');
      else assert.ok(p.headers['x-ms-continuation'], 'continuation while more pages exist');
      for (const item of p.items) {
        seen.push(item[idField]);
        if (item.attestation && item.attestation.type === 'symmetricKey') {
          assert.equal(item.attestation.symmetricKey, undefined, 'query results must not show keys');
        }
      }
    });
    assert.equal(new Set(seen).size, seen.length, 'no record twice across pages');
    for (const id of ids) assert.ok(seen.includes(id), `${id} missing from the paged query`);
    assert.deepEqual([...seen].sort(), await serverIds(kind, idField), 'paged query = everything the server holds');
  } finally {
    for (const id of ids) await h.sdk('delete', () => remove(c, id));
  }
}

test(...h.cell('svc-query-enrollments', 'createIndividualEnrollmentQuery with pageSize 3 over 8 records'), () => checkPagedQuery({
  kind: 'enrollments',
  idField: 'registrationId',
  itemType: 'Enrollment',
  pageSize: 3,
  count: 8,
  create: (c, id) => c.createOrUpdateIndividualEnrollment({ registrationId: id, attestation: { type: 'symmetricKey' } }),
  remove: (c, id) => c.deleteIndividualEnrollment(id),
  makeQuery: (c, n) => c.createIndividualEnrollmentQuery({ query: 'SELECT * FROM enrollments' }, n),
}));

test(...h.cell('svc-query-enrollments', 'default page size: one page, hasMoreResults false'), async () => {
  const c = client();
  const id = h.uid('qdef');
  await h.sdk('create', () => c.createOrUpdateIndividualEnrollment({ registrationId: id, attestation: { type: 'symmetricKey' } }));
  const q = c.createIndividualEnrollmentQuery({ query: 'SELECT * FROM enrollments' });
  const r = await h.sdk('next()', () => q.next());
  assert.ok(r.responseBody.some((e) => e.registrationId === id));
  assert.equal(q.hasMoreResults, false);
  await h.sdk('delete', () => c.deleteIndividualEnrollment(id));
});

test(...h.cell('svc-query-groups', 'createEnrollmentGroupQuery with pageSize 2 over 5 groups'), () => checkPagedQuery({
  kind: 'enrollmentGroups',
  idField: 'enrollmentGroupId',
  itemType: 'EnrollmentGroup',
  pageSize: 2,
  count: 5,
  create: (c, id) => c.createOrUpdateEnrollmentGroup({ enrollmentGroupId: id, attestation: { type: 'symmetricKey' } }),
  remove: (c, id) => c.deleteEnrollmentGroup(id),
  makeQuery: (c, n) => c.createEnrollmentGroupQuery({ query: 'SELECT * FROM enrollmentGroups' }, n),
}));

// Callback form: the promise form of runBulkEnrollmentOperation never settles.
const bulk = (c, op) => h.viaCallback((done) => c.runBulkEnrollmentOperation(op, done));

async function status(id) {
  return (await h.dpsHttp('GET', `/enrollments/${encodeURIComponent(id)}`)).status;
}

test(...h.cell('svc-bulk', 'runBulkEnrollmentOperation create, per-item conflict, updateIfMatchEtag, delete'), async () => {
  const c = client();
  const [a, b, d] = [h.uid('bulka'), h.uid('bulkb'), h.uid('bulkd')];
  const sym = (id, extra = {}) => ({ registrationId: id, attestation: { type: 'symmetricKey' }, ...extra });

  // create two
  const r1 = await h.sdk('bulk create', bulk(c, { mode: 'create', enrollments: [sym(a), sym(b)] }));
  assert.equal(r1.httpResponse.statusCode, 200);
  assert.equal(r1.responseBody.isSuccessful, true, JSON.stringify(r1.responseBody));
  assert.deepEqual(r1.responseBody.errors || [], []);
  assert.equal(await status(a), 200);
  assert.equal(await status(b), 200);

  // create again: the existing one fails alone, the new one is created
  const r2 = await h.sdk('bulk create with an existing item',
    bulk(c, { mode: 'create', enrollments: [sym(a), sym(d)] }));
  assert.equal(r2.httpResponse.statusCode, 200);
  assert.equal(r2.responseBody.isSuccessful, false);
  assert.equal(r2.responseBody.errors.length, 1, JSON.stringify(r2.responseBody));
  assert.equal(r2.responseBody.errors[0].registrationId, a);
  assert.match(String(r2.responseBody.errors[0].errorCode), /^409\d{3}$/);
  assert.equal(typeof r2.responseBody.errors[0].errorStatus, 'string');
  assert.equal(await status(d), 200);

  // updateIfMatchEtag (the SDK's spelling): a current etag wins, a stale one loses
  const { responseBody: ea } = await h.sdk('get a', () => c.getIndividualEnrollment(a));
  const { responseBody: eb } = await h.sdk('get b', () => c.getIndividualEnrollment(b));
  await h.sdk('touch b', () => c.createOrUpdateIndividualEnrollment({ ...eb, provisioningStatus: 'enabled' }));
  const r3 = await h.sdk('bulk updateIfMatchEtag', bulk(c, {
    mode: 'updateIfMatchEtag',
    enrollments: [
      sym(a, { etag: ea.etag, provisioningStatus: 'disabled' }),
      sym(b, { etag: eb.etag, provisioningStatus: 'disabled' }),
    ],
  }));
  assert.equal(r3.responseBody.isSuccessful, false);
  assert.deepEqual(r3.responseBody.errors.map((e) => e.registrationId), [b]);
  assert.match(String(r3.responseBody.errors[0].errorCode), /^412\d{3}$/);
  const heldA = await h.dpsHttp('GET', `/enrollments/${a}`);
  const heldB = await h.dpsHttp('GET', `/enrollments/${b}`);
  assert.equal(heldA.json.provisioningStatus, 'disabled');
  assert.equal(heldB.json.provisioningStatus, 'enabled');

  // delete all three plus a missing one: only the missing one errs
  const missing = h.uid('bulkmissing');
  const r4 = await h.sdk('bulk delete', bulk(c, {
    mode: 'delete', enrollments: [sym(a), sym(b), sym(d), sym(missing)],
  }));
  assert.equal(r4.responseBody.isSuccessful, false);
  assert.deepEqual(r4.responseBody.errors.map((e) => e.registrationId), [missing]);
  assert.match(String(r4.responseBody.errors[0].errorCode), /^404\d{3}$/);
  for (const id of [a, b, d]) assert.equal(await status(id), 404, `${id} deleted`);
});

test(...h.cell('svc-bulk', 'more than 10 items refused as a whole'), async () => {
  const c = client();
  const items = Array.from({ length: 11 }, () => ({ registrationId: h.uid('bulk11'), attestation: { type: 'symmetricKey' } }));
  const err = await h.sdkError('bulk create of 11', bulk(c, { mode: 'create', enrollments: items }));
  assert.equal(err.response.statusCode, 400);
  assert.equal(err.constructor.name, 'ArgumentError');
  for (const it of items) assert.equal(await status(it.registrationId), 404);
});
