'use strict';
// Helpers shared by the test files: deadlines around SDK calls, cell-named
// tests, pending placeholders, independent HTTPS clients for checking what
// dpsd and hubd hold (and hubd's telemetry stream), and test data (IDs,
// keys, certificates, TPM keys).

const crypto = require('crypto');
const { execFileSync } = require('child_process');
const fs = require('fs');
const https = require('https');
const os = require('os');
const path = require('path');
const {
  dpsdFromEnv, hubdFromEnv, httpsJson, serviceSas, parseConnectionString,
} = require('./servers');

const SDK_TIMEOUT_MS = (Number(process.env.CONF_SDK_TIMEOUT) || 20) * 1000;

// Run one SDK call (a function returning a promise) under its own deadline.
// The SDKs have no overall deadline of their own (sdk-conformance.md §8).
async function sdk(what, fn, ms = SDK_TIMEOUT_MS) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`SDK call "${what}" took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(fn), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// Adapt an SDK method used in its callback form, (err, body, response) =>,
// to the {responseBody, httpResponse} shape its promise form has. Needed where
// the promise form of azure-iot-provisioning-service 1.11.2 is broken:
// runBulkEnrollmentOperation() without a callback never settles, and
// Query.next() without arguments ignores the stored continuation token.
function viaCallback(call) {
  return () => new Promise((resolve, reject) => {
    call((err, responseBody, httpResponse) => {
      if (err) reject(err);
      else resolve({ responseBody, httpResponse });
    });
  });
}

// Same, for a call that must fail: resolves to the error, rejects on success.
async function sdkError(what, fn, ms = SDK_TIMEOUT_MS) {
  let result;
  try {
    result = await sdk(what, fn, ms);
  } catch (e) {
    if (/took longer than/.test(e.message)) throw e;
    return e;
  }
  throw new Error(`SDK call "${what}" succeeded but should have failed: ${JSON.stringify(result && result.responseBody)}`);
}

// Every test name starts with the id of the matrix cell it proves, in square
// brackets; lib/matrix.js relies on it and rejects unknown ids.
const { CELL_ID, allCells } = require('./matrix');
const KNOWN_CELLS = new Set(allCells());

function checkCell(id) {
  if (!KNOWN_CELLS.has(id)) throw new Error(`unknown matrix cell id ${id} (see lib/matrix.js)`);
}

// Name and options for test(): test(...cell('svc-bulk', 'title'), async () => {}).
// The test files call test() themselves so that the runner records the test
// file (not this helper) as the test's location.
function cell(id, title, opts = {}) {
  checkCell(id);
  return [`[${id}] ${title}`, { timeout: 120000, ...opts }];
}

// A scenario whose server feature has not landed:
//   test(...pending(id, title, 'needs issue N (...)'[, fn]))
// It is reported as todo (never as a silent skip); the reason must start
// with "needs ". When the body is already written, pass it as `fn`: it runs
// only with CONF_TRY_PENDING=1, and even then stays todo (its failure does
// not fail the run, the matrix still says not-yet). When the feature lands,
// change the call to test(...cell(id, title), fn).
function pending(id, title, needs, fn) {
  if (!/^needs /.test(needs)) throw new Error(`pending reason must start with "needs ": ${needs}`);
  checkCell(id);
  const name = `[${id}] ${title}`;
  if (fn && process.env.CONF_TRY_PENDING === '1') return [name, { todo: needs, timeout: 120000 }, fn];
  return [name, { todo: needs }];
}

let uidCounter = 0;
function uid(prefix) {
  uidCounter += 1;
  return `${prefix}-${process.pid}-${uidCounter}-${crypto.randomBytes(3).toString('hex')}`;
}

function randomKey(bytes = 32) {
  return crypto.randomBytes(bytes).toString('base64');
}

// Group device key as a device maker derives it: HMAC-SHA256 keyed with the
// decoded group key over the registration ID, base64.
function deriveDeviceKey(groupKey, registrationId) {
  return crypto.createHmac('sha256', Buffer.from(groupKey, 'base64'))
    .update(registrationId, 'utf8').digest('base64');
}

// --- independent HTTPS view of what the servers hold ---------------------------

// A plain HTTPS request to dpsd's service API that trusts only the CA dpsd
// printed; used to check what the server holds independently of the SDK
// under test.
function dpsHttp(method, urlPath, body, headers = {}) {
  const dps = dpsdFromEnv();
  const sep = urlPath.includes('?') ? '&' : '?';
  return httpsJson({
    port: dps.port,
    caFile: dps.caFile,
    method,
    path: `${urlPath}${sep}api-version=2021-10-01`,
    body,
    headers: Object.assign({ Host: dps.serviceHost, Authorization: serviceSas(dps.connectionString) }, headers),
  });
}

// A plain HTTPS request to dpsd's device API (api-version 2019-03-31, what
// the Node device clients send), without any credential: for checking what
// dpsd answers a device independently of the SDK's reading of it.
function dpsDeviceHttp(method, urlPath, body, headers = {}) {
  const dps = dpsdFromEnv();
  return httpsJson({
    port: dps.port,
    caFile: dps.caFile,
    method,
    path: `/${dps.idScope}${urlPath}?api-version=2019-03-31`,
    body,
    headers: Object.assign({ Host: dps.serviceHost }, headers),
  });
}

// The same for one hub of hubd's REST API (docs/hubd-api.md), trusting only
// hubd's CA: the Host header and the token's sr name the hub, signed with its
// iothubowner key; the certificate is checked under the hub's name.
function hubHttp(hubHost, method, urlPath, body, headers = {}) {
  const hub = hubdFromEnv();
  const cs = hub.connectionStrings[hubHost];
  if (!cs) throw new Error(`unknown hub ${hubHost} (hubd hosts ${hub.hosts.join(', ')})`);
  const sep = urlPath.includes('?') ? '&' : '?';
  return httpsJson({
    port: hub.restPort,
    caFile: hub.caFile,
    servername: hubHost,
    method,
    path: `${urlPath}${sep}api-version=2021-04-12`,
    body,
    headers: Object.assign({ Host: hubHost, Authorization: serviceSas(cs) }, headers),
  });
}

// Wait (bounded) for telemetry from one device on hubd's live stream
// GET /_hubd/telemetry (Server-Sent Events, docs/hubd-api.md), reading from
// sequence `since` on so nothing sent before the call is missed. Resolves to
// the first event for which match(event) is true.
function hubTelemetry(hubHost, match, { since = 0, ms = SDK_TIMEOUT_MS } = {}) {
  const hub = hubdFromEnv();
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      if (err) reject(err); else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`no matching telemetry on ${hubHost} within ${ms} ms`)), ms);
    const req = https.request({
      host: '127.0.0.1',
      port: hub.restPort,
      servername: hubHost,
      ca: fs.readFileSync(hub.caFile),
      method: 'GET',
      path: `/_hubd/telemetry?since=${since}`,
      agent: false,
      headers: { Host: hubHost, Accept: 'text/event-stream', Authorization: serviceSas(hub.connectionStrings[hubHost]) },
      checkServerIdentity: (host, cert) => require('tls').checkServerIdentity(hubHost, cert),
    }, (res) => {
      if (res.statusCode !== 200) {
        finish(new Error(`GET /_hubd/telemetry: ${res.statusCode} ${res.headers['content-type']}`));
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
          const event = (/^event: *(.*)$/m.exec(block) || [])[1];
          if (!data || event !== 'telemetry') continue;
          let msg;
          try { msg = JSON.parse(data); } catch (e) { finish(new Error(`telemetry event is not JSON: ${data}`)); return; }
          if (match(msg)) { finish(null, msg); return; }
        }
      });
      res.on('end', () => finish(new Error('telemetry stream ended')));
    });
    req.on('error', (e) => finish(e));
    req.end();
  });
}

// --- test data ----------------------------------------------------------------

let tmpDir = null;
function scratchDir() {
  if (!tmpDir) {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opendps-conformance-data-'));
    process.on('exit', () => {
      if (!process.env.DPS_KEEP_TMP) fs.rmSync(tmpDir, { recursive: true, force: true });
    });
  }
  return tmpDir;
}

function openssl(args) {
  return execFileSync('openssl', args, { timeout: 15000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

let certCounter = 0;

// A certificate made by the openssl CLI (OpenSSL 3: `req -x509`, with `-CA`
// when issued), ECDSA P-256, SHA-256, valid 30 days from now. Returns the
// PEM, the file names and the facts openssl reports about it (for comparing
// with what the servers compute):
//   { pem, certFile, keyFile, sha1, sha256, subject, issuer, serial }
// Options: ca (basicConstraints CA:TRUE, keyCertSign, cRLSign; otherwise a
// device certificate: CA:FALSE, digitalSignature, EKU clientAuth), issuer (a
// certificate returned by this function that signs this one; none: self-signed).
function opensslCert(commonName, { ca = false, issuer = null } = {}) {
  certCounter += 1;
  const base = path.join(scratchDir(), `cert-${certCounter}`);
  const ext = ca
    ? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']
    : ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature',
      '-addext', 'extendedKeyUsage=clientAuth'];
  const signer = issuer ? ['-CA', issuer.certFile, '-CAkey', issuer.keyFile] : [];
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${base}.key`, '-out', `${base}.pem`, '-days', '30',
    '-subj', `/CN=${commonName}`, ...signer, ...ext]);
  const fp = (alg) => openssl(['x509', '-in', `${base}.pem`, '-noout', '-fingerprint', `-${alg}`])
    .trim().split('=')[1].replace(/:/g, '').toUpperCase();
  const field = (opt) => openssl(['x509', '-in', `${base}.pem`, '-noout', `-${opt}`, '-nameopt', 'RFC2253'])
    .trim().replace(/^[a-z]+=\s*/i, '');
  return {
    commonName,
    pem: fs.readFileSync(`${base}.pem`, 'utf8'),
    keyFile: `${base}.key`,
    certFile: `${base}.pem`,
    sha1: fp('sha1'),
    sha256: fp('sha256'),
    subject: field('subject'),
    issuer: field('issuer'),
    serial: field('serial').toUpperCase(),
  };
}

// A device certificate hierarchy: root CA -> intermediate CA -> one leaf per
// registration ID (subject CN = the ID). `chain(leaf)` is the PEM a device
// presents: the leaf, then the intermediate.
function opensslHierarchy(tag, registrationIds) {
  const root = opensslCert(`${tag} Root CA`, { ca: true });
  const intermediate = opensslCert(`${tag} Intermediate CA`, { ca: true, issuer: root });
  const leaves = registrationIds.map((id) => opensslCert(id, { issuer: intermediate }));
  return { root, intermediate, leaves, chain: (leaf) => leaf.pem + intermediate.pem };
}

// A well-formed TPM 2.0 endorsement key (TPM2B_PUBLIC, RSA 2048, the default
// EK template of tpm.md §3.2) with a random modulus.
function tpmEndorsementKey() {
  const head = Buffer.from(
    '013a0001000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa'
    + '00060080004300100800000000000100', 'hex');
  const modulus = crypto.randomBytes(256);
  modulus[0] |= 0x80;
  modulus[255] |= 0x01;
  const ek = Buffer.concat([head, modulus]);
  if (ek.length !== 316 || ek.readUInt16BE(0) !== 314) throw new Error('bad EK template');
  return ek.toString('base64');
}

module.exports = {
  sdk, sdkError, viaCallback, cell, pending, CELL_ID, uid, randomKey, deriveDeviceKey,
  dpsHttp, dpsDeviceHttp, hubHttp, hubTelemetry, serviceSas, parseConnectionString, opensslCert, opensslHierarchy, tpmEndorsementKey,
  scratchDir,
  dpsdFromEnv, hubdFromEnv, SDK_TIMEOUT_MS,
};
