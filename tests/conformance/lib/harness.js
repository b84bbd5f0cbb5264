'use strict';
// Helpers shared by the test files: deadlines around SDK calls, cell-named
// tests, pending placeholders, an independent HTTPS client for checking what
// the server holds, and test data (IDs, keys, certificates, TPM keys).

const crypto = require('crypto');
const { execFileSync } = require('child_process');
const fs = require('fs');
const https = require('https');
const os = require('os');
const path = require('path');
const { dpsdFromEnv } = require('./servers');

const SDK_TIMEOUT_MS = (Number(process.env.CONF_SDK_TIMEOUT) || 20) * 1000;
const HTTP_TIMEOUT_MS = (Number(process.env.CONF_HTTP_TIMEOUT) || 15) * 1000;

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

// --- independent HTTPS view of the service API ------------------------------

function parseConnectionString(cs) {
  const out = {};
  for (const part of cs.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

function serviceSas(cs, ttlSeconds = 600) {
  const { HostName, SharedAccessKeyName, SharedAccessKey } = parseConnectionString(cs);
  const se = Math.floor(Date.now() / 1000) + ttlSeconds;
  const sig = crypto.createHmac('sha256', Buffer.from(SharedAccessKey, 'base64'))
    .update(`${HostName}\n${se}`).digest('base64');
  // sr goes out exactly as signed (raw, as the Node service client sends it)
  return `SharedAccessSignature sr=${HostName}&sig=${encodeURIComponent(sig)}`
    + `&se=${se}&skn=${encodeURIComponent(SharedAccessKeyName)}`;
}

// A plain HTTPS request to dpsd that trusts only the CA dpsd printed; used to
// check what the server holds independently of the SDK under test.
function dpsHttp(method, urlPath, body, headers = {}) {
  const dps = dpsdFromEnv();
  const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
  const sep = urlPath.includes('?') ? '&' : '?';
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: dps.port,
      servername: 'localhost',
      ca: fs.readFileSync(dps.caFile),
      method,
      path: `${urlPath}${sep}api-version=2021-10-01`,
      agent: false,
      timeout: HTTP_TIMEOUT_MS,
      headers: Object.assign({
        Host: dps.serviceHost,
        Authorization: serviceSas(dps.connectionString),
        Accept: 'application/json',
      }, payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {},
      headers),
      checkServerIdentity: (host, cert) => require('tls').checkServerIdentity('localhost', cert),
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within ${HTTP_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    if (payload) req.write(payload);
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

// Self-signed device certificate made by the openssl CLI; returns the PEM and
// the facts openssl reports about it (for comparing with the server's `info`).
// With { ca: true } it is a root CA certificate (basicConstraints CA:TRUE).
function opensslCert(commonName, { ca = false } = {}) {
  const dir = scratchDir();
  const base = path.join(dir, commonName);
  const ext = ca
    ? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']
    : ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=clientAuth'];
  const run = (args) => execFileSync('openssl', args, {
    timeout: 15000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${base}.key`, '-out', `${base}.pem`, '-days', '30',
    '-subj', `/CN=${commonName}`, ...ext]);
  const fp = (alg) => run(['x509', '-in', `${base}.pem`, '-noout', '-fingerprint', `-${alg}`])
    .trim().split('=')[1].replace(/:/g, '').toUpperCase();
  return {
    pem: fs.readFileSync(`${base}.pem`, 'utf8'),
    keyFile: `${base}.key`,
    certFile: `${base}.pem`,
    sha1: fp('sha1'),
    sha256: fp('sha256'),
  };
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
  dpsHttp, serviceSas, parseConnectionString, opensslCert, tpmEndorsementKey,
  dpsdFromEnv, SDK_TIMEOUT_MS,
};
