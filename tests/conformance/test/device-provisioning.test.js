'use strict';
// Device provisioning with azure-iot-provisioning-device and its transports.
// Every combination of the matrix exists here; those whose server feature has
// not landed (AMQP) are todo (pending). The rest run against dpsd with
// hubd's two hubs linked: each test checks what the SDK's register()
// resolved to, the registration record dpsd keeps (service API, read both
// through the SDK and independently), and the device identity and twin dpsd
// wrote into the assigned hub (hubd's REST API).
//
//  - symmetric key (azure-iot-security-symmetric-key), HTTPS and MQTT,
//    individual and group (device keys derived as a device maker does);
//  - X.509 (azure-iot-security-x509), HTTPS and MQTT: certificates made at
//    run time by the openssl CLI (root -> intermediate -> leaf, CN =
//    registration ID), the device presenting leaf + intermediate; individual
//    by leaf, group by intermediate signing certificate, and by root (which
//    needs the intermediate the SDK sends);
//  - TPM (azure-iot-security-tpm, installed without scripts) on swtpm over
//    HTTPS: the 401 challenge, the second blob, the hub key in the TPM.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service');
const { test } = require('node:test');
const h = require('../lib/harness');
const { NEEDS } = require('../lib/matrix');
const {
  register, registerSymmetricKey, registerX509, connectDevice, closeDevice,
} = require('../lib/device');
const { startSwtpm, tpmSecurityClient } = require('../lib/tpm');
const { Message } = require('azure-iot-device');

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
async function assertProvisioned(result, { registrationId, deviceId, key, groupId, x509, tpm }) {
  const hubs = h.hubdFromEnv().hosts;
  assert.equal(result.status, 'assigned', JSON.stringify(result));
  assert.equal(result.registrationId, registrationId);
  assert.equal(result.deviceId, deviceId);
  assert.ok(hubs.includes(result.assignedHub), `assignedHub ${result.assignedHub} is not one of ${hubs.join(', ')}`);
  assert.equal(result.assignedHub, hashedHub(registrationId, hubs), 'hashed allocation as documented');
  assert.equal(result.substatus, 'initialAssignment');
  if (groupId && !x509) assert.equal(result.symmetricKey && result.symmetricKey.enrollmentGroupId, groupId);
  if (x509) assertX509State(result.x509, { ...x509, groupId });

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
  if (x509) {
    assertX509State(r.json.x509, { ...x509, groupId });
    assertX509State(viaSdk.responseBody.x509, { ...x509, groupId });
  }

  // the device in the assigned hub: enabled, SAS with the device's own key,
  // or (X.509) self-signed with the leaf's SHA-256 thumbprint in both slots
  const d = await h.hubHttp(result.assignedHub, 'GET', `/devices/${encodeURIComponent(deviceId)}`);
  assert.equal(d.status, 200, `hub ${result.assignedHub} GET /devices/${deviceId}: ${d.text}`);
  assert.equal(d.json.deviceId, deviceId);
  assert.equal(d.json.status, 'enabled');
  if (x509) {
    assert.equal(d.json.authentication.type, 'selfSigned');
    assert.deepEqual(d.json.authentication.x509Thumbprint,
      { primaryThumbprint: x509.leaf.sha256, secondaryThumbprint: x509.leaf.sha256 });
  } else {
    assert.equal(d.json.authentication.type, 'sas');
    // TPM: the key is inside the TPM; the caller checks it by HMAC
    if (!tpm) assert.equal(d.json.authentication.symmetricKey.primaryKey, key, 'the hub device has the key the device holds');
  }
  // and nowhere else
  for (const other of hubs.filter((x) => x !== result.assignedHub)) {
    const o = await h.hubHttp(other, 'GET', `/devices/${encodeURIComponent(deviceId)}`);
    assert.equal(o.status, 404, `device ${deviceId} also in ${other}: ${o.text}`);
  }
  return d.json;
}

// registrationState.x509 (device result and registration record):
// certificateInfo describes the leaf the device presented; for a group,
// enrollmentGroupId and signingCertificateInfo (the enrolled certificate).
// openssl prints the serial as a plain hex number; opendps (like .NET and
// Azure) shows the bytes of the DER INTEGER, which start with 00 when the
// number's top bit is set. Compare in that form.
function derSerialHex(hex) {
  let h = hex.toUpperCase();
  if (h.length % 2) h = '0' + h;
  return parseInt(h.slice(0, 2), 16) >= 0x80 ? '00' + h : h;
}

function certInfoMatches(info, cert, what) {
  assert.ok(info, `${what} missing`);
  assert.equal(info.sha256Thumbprint, cert.sha256, `${what}.sha256Thumbprint`);
  assert.equal(info.sha1Thumbprint, cert.sha1, `${what}.sha1Thumbprint`);
  assert.equal(info.subjectName, cert.subject, `${what}.subjectName`);
  assert.equal(info.issuerName, cert.issuer, `${what}.issuerName`);
  assert.equal(info.serialNumber, derSerialHex(cert.serial), `${what}.serialNumber`);
  assert.equal(info.version, 3);
}

function assertX509State(x509, { leaf, signer, groupId }) {
  assert.ok(x509, 'registrationState.x509 present');
  certInfoMatches(x509.certificateInfo, leaf, 'x509.certificateInfo');
  if (groupId) {
    assert.equal(x509.enrollmentGroupId, groupId);
    certInfoMatches(x509.signingCertificateInfo, signer, 'x509.signingCertificateInfo');
  } else {
    assert.equal(x509.enrollmentGroupId, undefined);
    assert.equal(x509.signingCertificateInfo, undefined);
  }
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


// --- X.509 -------------------------------------------------------------------

// How each transport reports a refused certificate: HTTP answers 401 with
// dpsd's error body (UnauthorizedError); MQTT refuses the CONNECT with
// CONNACK 5, which the client passes on as mqtt.js's error (code 5).
function assertRefused(err, transport, message) {
  if (transport === 'http') {
    assert.equal(err.constructor.name, 'UnauthorizedError', err.message);
    assert.equal(err.response && err.response.statusCode, 401);
    const body = JSON.parse(err.responseBody);
    assert.equal(body.errorCode, 401002);
    if (message) assert.match(body.message, message);
  } else {
    assert.equal(err.code, 5, `CONNACK 5 expected: ${err.message}`);
    assert.match(err.message, /Not authorized/);
  }
}

function keyOf(cert) {
  return fs.readFileSync(cert.keyFile, 'utf8');
}

// Individual enrollment holding the leaf (openssl root -> intermediate ->
// leaf, CN = registration ID) as primary and a second leaf as secondary
// certificate; the device presents leaf + intermediate, later the secondary
// leaf alone (rotation: the hub device follows the certificate presented).
function x509Individual(transport) {
  return async () => {
    const c = service();
    const id = h.uid(`x509-${transport}`);
    const pki = h.opensslHierarchy(id, [id, id]);
    const [leaf, secondary] = pki.leaves;
    await h.sdk('create x509 enrollment', () => c.createOrUpdateIndividualEnrollment({
      registrationId: id,
      attestation: {
        type: 'x509',
        x509: { clientCertificates: { primary: { certificate: leaf.pem }, secondary: { certificate: secondary.pem } } },
      },
      initialTwin: { tags: { suite: 'conformance' }, properties: { desired: { transport } } },
    }));
    const { idScope } = h.dpsdFromEnv();
    let result;
    try {
      // another certificate with the same subject, from the same CA, is refused
      const impostor = h.opensslCert(id, { issuer: pki.intermediate });
      const refused = await h.sdkError('register with a certificate that is not the enrolled one',
        () => registerX509({ transport, idScope, registrationId: id, cert: pki.chain(impostor), key: keyOf(impostor) }));
      assertRefused(refused, transport, /not the certificate enrolled/);
      assert.equal((await h.dpsHttp('GET', `/registrations/${encodeURIComponent(id)}`)).status, 404);

      result = await registerX509({
        transport, idScope, registrationId: id, cert: pki.chain(leaf), key: keyOf(leaf), payload: { x509: true, transport },
      });
      await assertProvisioned(result, { registrationId: id, deviceId: id, x509: { leaf } });
      const t = await h.hubHttp(result.assignedHub, 'GET', `/twins/${encodeURIComponent(id)}`);
      assert.equal(t.status, 200, t.text);
      assert.deepEqual(t.json.tags, { suite: 'conformance' });
      assert.equal(t.json.properties.desired.transport, transport);

      // registering again: same hub, same device
      const again = await registerX509({ transport, idScope, registrationId: id, cert: pki.chain(leaf), key: keyOf(leaf) });
      assert.equal(again.status, 'assigned');
      assert.equal(again.assignedHub, result.assignedHub);
      assert.equal(again.deviceId, id);

      // the secondary certificate, presented alone (an individual enrollment
      // matches the leaf by thumbprint, no chain needed): same device, whose
      // hub identity now holds the secondary's thumbprint
      const rotated = await registerX509({ transport, idScope, registrationId: id, cert: secondary.pem, key: keyOf(secondary) });
      assert.equal(rotated.status, 'assigned');
      assert.equal(rotated.assignedHub, result.assignedHub);
      assert.equal(rotated.deviceId, id);
      certInfoMatches(rotated.x509.certificateInfo, secondary, 'x509.certificateInfo after rotation');
      const d = await h.hubHttp(result.assignedHub, 'GET', `/devices/${encodeURIComponent(id)}`);
      assert.deepEqual(d.json.authentication.x509Thumbprint,
        { primaryThumbprint: secondary.sha256, secondaryThumbprint: secondary.sha256 });
    } finally {
      await h.sdk('delete enrollment', () => c.deleteIndividualEnrollment(id));
      await h.dpsHttp('DELETE', `/registrations/${encodeURIComponent(id)}`);
      await deleteHubDevice(result);
    }
  };
}

// Enrollment group whose signing certificate is the intermediate; two
// devices with leaves it issued present leaf + intermediate. Then a group
// enrolled by its root: a device under that root's intermediate is refused
// when it presents its leaf alone and admitted with leaf + intermediate, so
// the chain the SDK was given reached dpsd.
function x509Group(transport) {
  return async () => {
    const c = service();
    const group = h.uid(`grpx509-${transport}`);
    const ids = [h.uid(`x509m-${transport}`), h.uid(`x509m-${transport}`)];
    const pki = h.opensslHierarchy(group, ids);
    const rootGroup = h.uid(`grpx509root-${transport}`);
    const viaRoot = h.uid(`x509r-${transport}`);
    const rootPki = h.opensslHierarchy(rootGroup, [viaRoot]);
    await h.sdk('create x509 group (intermediate)', () => c.createOrUpdateEnrollmentGroup({
      enrollmentGroupId: group,
      attestation: { type: 'x509', x509: { signingCertificates: { primary: { certificate: pki.intermediate.pem } } } },
    }));
    await h.sdk('create x509 group (root)', () => c.createOrUpdateEnrollmentGroup({
      enrollmentGroupId: rootGroup,
      attestation: { type: 'x509', x509: { signingCertificates: { primary: { certificate: rootPki.root.pem } } } },
    }));
    const results = [];
    const { idScope } = h.dpsdFromEnv();
    try {
      for (const [i, id] of ids.entries()) {
        const leaf = pki.leaves[i];
        const result = await registerX509({
          transport, idScope, registrationId: id, cert: pki.chain(leaf), key: keyOf(leaf), payload: { member: i },
        });
        results.push(result);
        await assertProvisioned(result, {
          registrationId: id, deviceId: id, groupId: group, x509: { leaf, signer: pki.intermediate },
        });
      }
      const q = c.createEnrollmentGroupDeviceRegistrationStateQuery({ query: 'SELECT *' }, group);
      const page = await h.sdk('group registration query', h.viaCallback((done) => q.next(done)));
      assert.deepEqual(page.responseBody.map((r) => r.registrationId).sort(), [...ids].sort());

      // a renewed certificate (new key, same subject, same CA): same device,
      // record and hub identity follow the new leaf
      const renewed = h.opensslCert(ids[0], { issuer: pki.intermediate });
      const again = await registerX509({ transport, idScope, registrationId: ids[0], cert: pki.chain(renewed), key: keyOf(renewed) });
      await assertProvisioned(again, {
        registrationId: ids[0], deviceId: ids[0], groupId: group, x509: { leaf: renewed, signer: pki.intermediate },
      });
      assert.equal(again.assignedHub, results[0].assignedHub);

      // a leaf whose subject CN is not the registration ID is refused
      const wrongId = h.uid(`x509wrong-${transport}`);
      const misnamed = await h.sdkError('register with a certificate for another ID',
        () => registerX509({ transport, idScope, registrationId: wrongId, cert: pki.chain(pki.leaves[0]), key: keyOf(pki.leaves[0]) }));
      assertRefused(misnamed, transport, /subject CN/);
      assert.equal((await h.dpsHttp('GET', `/registrations/${encodeURIComponent(wrongId)}`)).status, 404);

      // the root group: leaf alone refused (dpsd cannot build the chain) ...
      const [rootLeaf] = rootPki.leaves;
      const alone = await h.sdkError('register under a root group with the leaf alone',
        () => registerX509({ transport, idScope, registrationId: viaRoot, cert: rootLeaf.pem, key: keyOf(rootLeaf) }));
      assertRefused(alone, transport);
      assert.equal((await h.dpsHttp('GET', `/registrations/${encodeURIComponent(viaRoot)}`)).status, 404);
      // ... leaf + intermediate admitted, the root as signing certificate
      const r = await registerX509({ transport, idScope, registrationId: viaRoot, cert: rootPki.chain(rootLeaf), key: keyOf(rootLeaf) });
      results.push(r);
      await assertProvisioned(r, {
        registrationId: viaRoot, deviceId: viaRoot, groupId: rootGroup, x509: { leaf: rootLeaf, signer: rootPki.root },
      });
    } finally {
      for (const id of [...ids, viaRoot]) await h.dpsHttp('DELETE', `/registrations/${encodeURIComponent(id)}`);
      await h.sdk('delete group', () => c.deleteEnrollmentGroup(group));
      await h.sdk('delete group', () => c.deleteEnrollmentGroup(rootGroup));
      for (const r of results) await deleteHubDevice(r);
    }
  };
}

// Enrollment group by CA reference: the root uploaded to dpsd's admin API
// and verified by proof of possession (a certificate with CN = the
// verification code, signed by the root's key, docs/admin-api.md); before
// verification the service refuses a group naming it. The device presents
// leaf + intermediate.
function x509CaReference(transport) {
  return async () => {
    const c = service();
    const group = h.uid(`grpca-${transport}`);
    const caName = h.uid(`ca-${transport}`);
    const id = h.uid(`x509ca-${transport}`);
    const pki = h.opensslHierarchy(caName, [id]);
    const [leaf] = pki.leaves;
    const certPath = `/admin/certificates/${encodeURIComponent(caName)}`;
    let result;
    let groupCreated = false;
    try {
      const up = await h.dpsHttp('PUT', certPath, { certificate: pki.root.pem });
      assert.equal(up.status, 200, up.text);
      assert.equal(up.json.properties.isVerified, false);
      assert.equal(up.json.properties.sha256Thumbprint, pki.root.sha256);
      const groupBody = {
        enrollmentGroupId: group,
        attestation: { type: 'x509', x509: { caReferences: { primary: caName } } },
      };
      const unverified = await h.sdkError('create group naming an unverified CA',
        () => c.createOrUpdateEnrollmentGroup(groupBody));
      assert.equal(unverified.response && unverified.response.statusCode, 400, unverified.message);

      const code = await h.dpsHttp('POST', `${certPath}/generateVerificationCode`, undefined, { 'If-Match': '*' });
      assert.equal(code.status, 200, code.text);
      const pop = h.opensslCert(code.json.properties.verificationCode, { issuer: pki.root });
      const verified = await h.dpsHttp('POST', `${certPath}/verify`, { certificate: pop.pem }, { 'If-Match': code.json.etag });
      assert.equal(verified.status, 200, verified.text);
      assert.equal(verified.json.properties.isVerified, true);

      const { responseBody: g } = await h.sdk('create group by CA reference', () => c.createOrUpdateEnrollmentGroup(groupBody));
      groupCreated = true;
      assert.equal(g.attestation.x509.caReferences.primary, caName);

      result = await registerX509({
        transport, idScope: h.dpsdFromEnv().idScope, registrationId: id, cert: pki.chain(leaf), key: keyOf(leaf),
      });
      assert.equal(result.status, 'assigned', JSON.stringify(result));
      assert.equal(result.x509.enrollmentGroupId, group);
      certInfoMatches(result.x509.certificateInfo, leaf, 'x509.certificateInfo');
      await assertProvisioned(result, { registrationId: id, deviceId: id, groupId: group, x509: { leaf, signer: pki.root } });
    } finally {
      await h.dpsHttp('DELETE', `/registrations/${encodeURIComponent(id)}`);
      if (groupCreated) await h.sdk('delete group', () => c.deleteEnrollmentGroup(group));
      await h.dpsHttp('DELETE', certPath, undefined, { 'If-Match': '*' });
      await deleteHubDevice(result);
    }
  };
}

// --- TPM ---------------------------------------------------------------------

function callback(fn) {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

// lower-case base32 (RFC 4648) of SHA-256 over the EK as sent, no padding
// (tpm.md §3.4): what the client derives and dpsd is enrolled under.
function derivedRegistrationId(ek) {
  const digest = crypto.createHash('sha256').update(ek).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

// azure-iot-security-tpm against swtpm (fresh state, free port) over HTTPS:
// the client's EK and derived registration ID; refusals before the right
// enrollment exists (read both through the SDK and from dpsd directly); the
// 401 challenge round trip; the assignment's second blob imported into the
// TPM, whose HMAC equals one made with the hub device's primary key; the
// device connected to its hub with TPM-signed tokens; re-registration
// delivers a new hub key.
function tpmIndividual(transport) {
  return async () => {
    const c = service();
    const swtpm = await startSwtpm(h.scratchDir());
    let client = null;
    let result;
    let id;
    try {
      const tpm = tpmSecurityClient(swtpm.port);
      const ek = await h.sdk('TpmSecurityClient.getEndorsementKey', () => callback((cb) => tpm.getEndorsementKey(cb)));
      const srk = await h.sdk('TpmSecurityClient.getStorageRootKey', () => callback((cb) => tpm.getStorageRootKey(cb)));
      assert.equal(ek.length, 316, 'RSA-2048 EK as TPM2B_PUBLIC');
      assert.equal(srk.length, 284, 'RSA-2048 SRK as TPM2B_PUBLIC');
      id = await h.sdk('TpmSecurityClient.getRegistrationId', () => callback((cb) => tpm.getRegistrationId(cb)));
      assert.equal(id, derivedRegistrationId(ek));
      const { idScope } = h.dpsdFromEnv();
      const challengeBody = { registrationId: id, tpm: { endorsementKey: ek.toString('base64'), storageRootKey: srk.toString('base64') } };
      const path = `/registrations/${id}/register`;

      // no enrollment: dpsd 404 / 404201; the SDK only says "not 401"
      const direct404 = await h.dpsDeviceHttp('PUT', path, challengeBody);
      assert.equal(direct404.status, 404, direct404.text);
      assert.equal(direct404.json.errorCode, 404201);
      const noEnrollment = await h.sdkError('TPM register without an enrollment', () => register({ transport, idScope, security: tpm }));
      assert.equal(noEnrollment.constructor.name, 'InvalidOperationError', noEnrollment.message);

      // an enrollment holding another EK: 401 / 401002 without a challenge
      const { responseBody: other } = await h.sdk('create TPM enrollment with another EK',
        () => c.createOrUpdateIndividualEnrollment({ registrationId: id, attestation: { type: 'tpm', tpm: { endorsementKey: h.tpmEndorsementKey() } } }));
      const direct401 = await h.dpsDeviceHttp('PUT', path, challengeBody);
      assert.equal(direct401.status, 401, direct401.text);
      assert.equal(direct401.json.errorCode, 401002);
      assert.equal(direct401.json.authenticationKey, undefined);
      const wrongEk = await h.sdkError('TPM register with another EK enrolled', () => register({ transport, idScope, security: tpm }));
      assert.equal(wrongEk.constructor.name, 'FormatError', wrongEk.message);
      assert.equal((await h.dpsHttp('GET', `/registrations/${id}`)).status, 404);

      // the enrolled EK: the challenge (what the SDK needs: a 401 with authenticationKey)
      await h.sdk('update TPM enrollment to the swtpm EK', () => c.createOrUpdateIndividualEnrollment({
        ...other, attestation: { type: 'tpm', tpm: { endorsementKey: ek.toString('base64') } },
        initialTwin: { tags: { suite: 'conformance' }, properties: { desired: { tpm: true } } },
      }));
      const challenge = await h.dpsDeviceHttp('PUT', path, challengeBody);
      assert.equal(challenge.status, 401, challenge.text);
      assert.equal(typeof challenge.json.authenticationKey, 'string');
      assert.equal(challenge.json.keyName, 'registration');
      assert.equal(challenge.json.status, undefined);

      // TpmRegistration.register() resolves with the whole operation result
      // ({operationId, status, registrationState}), unlike the symmetric-key
      // and X.509 paths, which resolve with registrationState alone
      const op = await register({ transport, idScope, security: tpm, payload: { tpm: true } });
      assert.equal(op.status, 'assigned', JSON.stringify(op));
      assert.equal(typeof op.operationId, 'string');
      result = op.registrationState;
      await assertProvisioned(result, { registrationId: id, deviceId: id, tpm: true });
      assert.equal(typeof result.tpm.authenticationKey, 'string');
      const t = await h.hubHttp(result.assignedHub, 'GET', `/twins/${encodeURIComponent(id)}`);
      assert.deepEqual(t.json.tags, { suite: 'conformance' });

      // the key the TPM imported from the second blob is the hub device's key
      const hubKey = async () => (await h.hubHttp(result.assignedHub, 'GET', `/devices/${encodeURIComponent(id)}`))
        .json.authentication.symmetricKey.primaryKey;
      const probe = Buffer.from(`${result.assignedHub}/devices/${id}\n${Date.now()}`);
      const tpmHmac = async () => h.sdk('TpmSecurityClient.signWithIdentity', () => callback((cb) => tpm.signWithIdentity(probe, cb)));
      const hmac = (key) => crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(probe).digest();
      const key1 = await hubKey();
      assert.deepEqual(await tpmHmac(), hmac(key1), 'TPM HMAC = HMAC with the hub device key');

      // the device on its hub, SAS tokens signed inside the TPM
      client = await connectDevice({ hubHost: result.assignedHub, deviceId: id, tpm });
      const messageId = h.uid('tpm-msg');
      const msg = new Message(JSON.stringify({ tpm: true }));
      msg.messageId = messageId;
      const seen = h.hubTelemetry(result.assignedHub, (m) => m.deviceId === id && m.systemProperties && m.systemProperties.messageId === messageId);
      await h.sdk('device sendEvent (TPM)', () => client.sendEvent(msg));
      await seen;
      await closeDevice(client);
      client = null;

      // registering again: same hub, new keys, and the TPM holds the new one
      const again = await register({ transport, idScope, security: tpm });
      assert.equal(again.status, 'assigned');
      assert.equal(again.registrationState.assignedHub, result.assignedHub);
      const key2 = await hubKey();
      assert.notEqual(key2, key1, 'every registration makes a new hub key');
      assert.deepEqual(await tpmHmac(), hmac(key2));
    } finally {
      await closeDevice(client);
      if (id) {
        await h.sdk('delete enrollment', () => c.deleteIndividualEnrollment(id)).catch(() => {});
        await h.dpsHttp('DELETE', `/registrations/${id}`);
      }
      await deleteHubDevice(result);
      const st = await swtpm.stop();
      assert.equal(st && st.code, 0, `swtpm exit ${JSON.stringify(st)}`);
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
  const x509IndividualTitle = `X.509 (azure-iot-security-x509), individual enrollment by leaf certificate (primary with chain, secondary alone), over ${transport}`;
  const x509GroupTitle = `X.509 (azure-iot-security-x509), group by intermediate signing certificate (renewed leaf too), and by root (chain sent), over ${transport}`;
  if (transport === 'amqp') {
    test(...h.pending(`dev-${transport}-x509-individual`, x509IndividualTitle, NEEDS.AMQP, x509Individual(transport)));
    test(...h.pending(`dev-${transport}-x509-group`, x509GroupTitle, NEEDS.AMQP, x509Group(transport)));
  } else {
    test(...h.cell(`dev-${transport}-x509-individual`, x509IndividualTitle), x509Individual(transport));
    test(...h.cell(`dev-${transport}-x509-group`, x509GroupTitle), x509Group(transport));
    test(...h.cell(`dev-${transport}-x509-group`,
      `X.509 (azure-iot-security-x509), group by verified CA reference (root, proof of possession), over ${transport}`),
    x509CaReference(transport));
  }
  const tpmTitle = `TPM (azure-iot-security-tpm on swtpm), individual enrollment, over ${transport}: challenge, hub key in the TPM`;
  if (transport === 'http') test(...h.cell(`dev-${transport}-tpm-individual`, tpmTitle), tpmIndividual(transport));
  if (transport === 'amqp') test(...h.pending(`dev-${transport}-tpm-individual`, tpmTitle, NEEDS.AMQP, tpmIndividual(transport)));
}
