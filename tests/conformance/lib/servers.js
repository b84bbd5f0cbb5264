'use strict';
// Start and stop the servers under test (dpsd and hubd), link hubd's hubs
// into dpsd, and describe them to the test processes through environment
// variables.
//
// startHubd() runs `hubd --data-dir <fresh dir> --rest-listen 127.0.0.1:0
// --mqtt-listen 127.0.0.1:0 --hub H1 --hub H2`; startDpsd() runs `dpsd
// --data-dir <fresh dir> --listen 127.0.0.1:0 --mqtt-listen 127.0.0.1:0
// [--hub-ca-file <hubd's ca.pem>]`. Each runs in its own process group; its
// stdout start-up lines are read until `ready` (with a deadline). stop()
// sends SIGTERM, waits (bounded) and reports the exit status; the suite fails
// unless it is 0. linkHubs() puts every hub of hubd into dpsd through the
// admin API (PUT /admin/linkedHubs/{host}).

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const os = require('os');
const path = require('path');
const readline = require('readline');
const tls = require('tls');

const ROOT = path.resolve(__dirname, '..');

// The hubs the suite asks hubd for. Realistic names that need not resolve:
// devices reach them through GatewayHostName, service clients through the
// preload (sdk-conformance.md §4, §6).
const HUB_NAMES = ['hub1.conformance.opendps.local', 'hub2.conformance.opendps.local'];

function binDir() {
  return path.resolve(ROOT, process.env.DPS_BIN_DIR || '../../build/bin');
}

function seconds(name, dflt) {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v * 1000 : dflt * 1000;
}

const running = new Set();

// Last-resort cleanup: never leave a daemon behind, even on a crash.
process.on('exit', () => {
  for (const s of running) {
    try { process.kill(-s.pid, 'SIGKILL'); } catch (_) { /* already gone */ }
  }
});

// Lines dpsd prints at start, before `ready`.
const DPSD_LINES = [
  ['idScope', /^id scope: (\S+)$/],
  ['httpsUrl', /^https: listening on (https:\/\/\S+)/],
  ['serviceHost', /^service host: (\S+)$/],
  ['caFile', /^ca certificate: (.+)$/],
  ['connectionString', /^service connection string: (\S+)$/],
  ['dataDirectory', /^data directory: (.+)$/],
  ['store', /^store: (\S+)$/],
];

// Lines hubd prints at start (docs/hubd.md, "Start-up output"); the
// `hub NAME: CONNECTION STRING` lines are collected into server.hubs.
const HUBD_LINES = [
  ['httpsUrl', /^https: listening on (https:\/\/\S+)/],
  ['caFile', /^ca certificate: (.+)$/],
  ['adminConnectionString', /^admin connection string: (\S+)$/],
  ['dataDirectory', /^data directory: (.+)$/],
  ['store', /^store: (\S+)$/],
];

function makeTemp() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'opendps-conformance-'));
}

// Run one daemon and wait for its `ready` line. Returns the server object:
// pid, tmp, stderrFile, stdout lines, the parsed start-up values,
// listeners (scheme -> host:port), stop(signal).
async function startDaemon({ name, args, lines, required, tmp }) {
  const exe = path.join(binDir(), name);
  if (!fs.existsSync(exe)) {
    throw new Error(`${name} not found at ${exe} (set DPS_BIN_DIR to the build's bin directory)`);
  }
  const stderrFile = path.join(tmp, `${name}.stderr`);
  const errFd = fs.openSync(stderrFile, 'w');
  const child = spawn(exe, args, {
    stdio: ['ignore', 'pipe', errFd],
    detached: true, // own process group, so a stray child cannot outlive us
  });
  fs.closeSync(errFd);
  const server = {
    name, pid: child.pid, child, tmp, stderrFile, stdout: [], exited: null, listeners: {}, hubs: {},
  };
  running.add(server);
  server.exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(server);
      server.exited = { code, signal };
      resolve(server.exited);
    });
  });

  const ready = new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      server.stdout.push(line);
      for (const [key, re] of lines) {
        const m = re.exec(line);
        if (m && server[key] === undefined) server[key] = m[1]; // the first listener wins
      }
      // "<name>: listening on <scheme>://<host:port> ..." (https, mqtts, amqps)
      const l = /^\w+: listening on (\w+):\/\/([^\s/]+)/.exec(line);
      if (l && !server.listeners[l[1]]) server.listeners[l[1]] = l[2];
      const hub = /^hub (\S+): (HostName=\S+)$/.exec(line);
      if (hub) server.hubs[hub[1]] = hub[2];
      if (line === 'ready') resolve();
    });
    child.on('error', reject);
    server.exitPromise.then((st) => reject(new Error(`${name} exited before ready: ${JSON.stringify(st)}`)));
  });
  const timeoutMs = seconds('DPS_START_TIMEOUT', 30);
  let timer;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name} not ready within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone */ }
    e.message += `\nstdout:\n${server.stdout.join('\n')}\nstderr tail:\n${tail(stderrFile)}`;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  server.stop = (sig) => stopServer(server, sig);
  // After `ready`, keep draining stdout so the pipe never fills up.
  child.stdout.resume();
  for (const key of required) {
    if (!server[key]) {
      await server.stop('SIGKILL');
      throw new Error(`${name} start-up output lacks ${key}:\n${server.stdout.join('\n')}`);
    }
  }
  server.port = Number(new URL(server.httpsUrl).port);
  return server;
}

async function startDpsd(opts = {}) {
  const tmp = opts.tmp || makeTemp();
  const dataDir = path.join(tmp, 'dpsd-data');
  const args = ['--data-dir', dataDir, '--listen', '127.0.0.1:0', '--mqtt-listen', '127.0.0.1:0'];
  if (opts.hubCaFile) args.push('--hub-ca-file', opts.hubCaFile);
  const server = await startDaemon({
    name: 'dpsd', tmp, lines: DPSD_LINES,
    args: [...args, ...(opts.args || [])],
    required: ['idScope', 'httpsUrl', 'serviceHost', 'caFile', 'connectionString'],
  });
  server.dataDir = dataDir;
  return server;
}

async function startHubd(opts = {}) {
  const tmp = opts.tmp || makeTemp();
  const dataDir = path.join(tmp, 'hubd-data');
  const hubs = opts.hubs || HUB_NAMES;
  const args = ['--data-dir', dataDir, '--rest-listen', '127.0.0.1:0', '--mqtt-listen', '127.0.0.1:0'];
  for (const hub of hubs) args.push('--hub', hub);
  const server = await startDaemon({
    name: 'hubd', tmp, lines: HUBD_LINES,
    args: [...args, ...(opts.args || [])],
    required: ['httpsUrl', 'caFile'],
  });
  server.dataDir = dataDir;
  for (const hub of hubs) {
    if (!server.hubs[hub]) {
      await server.stop('SIGKILL');
      throw new Error(`hubd printed no connection string for hub ${hub}:\n${server.stdout.join('\n')}`);
    }
  }
  if (!server.listeners.mqtts) {
    await server.stop('SIGKILL');
    throw new Error(`hubd printed no mqtts listener:\n${server.stdout.join('\n')}`);
  }
  server.mqttPort = Number(server.listeners.mqtts.split(':').pop());
  return server;
}

function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch (_) {
    return '(none)';
  }
}

// SIGTERM, bounded wait; resolves to {code, signal}; SIGKILL after the bound.
async function stopServer(server, signal = 'SIGTERM') {
  if (!server.exited) {
    try { process.kill(server.pid, signal); } catch (_) { /* gone */ }
    const ms = seconds('DPS_STOP_TIMEOUT', 20);
    let timer;
    const res = await Promise.race([
      server.exitPromise,
      new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); }),
    ]);
    clearTimeout(timer);
    if (!res) {
      try { process.kill(-server.pid, 'SIGKILL'); } catch (_) { /* gone */ }
      await server.exitPromise;
      server.exited = { code: null, signal: 'SIGKILL', timedOut: true };
    }
  }
  return server.exited;
}

function removeTemp(tmp) {
  if (process.env.DPS_KEEP_TMP) return;
  fs.rmSync(tmp, { recursive: true, force: true });
}

// --- a plain HTTPS client (no SDK) ----------------------------------------------

function parseConnectionString(cs) {
  const out = {};
  for (const part of cs.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

// Service SAS from a connection string: sr = HostName as written (raw, as
// the Node service clients send it), signed with the policy key.
function serviceSas(cs, ttlSeconds = 600, sr) {
  const { HostName, SharedAccessKeyName, SharedAccessKey } = parseConnectionString(cs);
  const audience = sr || HostName;
  const se = Math.floor(Date.now() / 1000) + ttlSeconds;
  const sig = crypto.createHmac('sha256', Buffer.from(SharedAccessKey, 'base64'))
    .update(`${audience}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${audience}&sig=${encodeURIComponent(sig)}`
    + `&se=${se}&skn=${encodeURIComponent(SharedAccessKeyName)}`;
}

const HTTP_TIMEOUT_MS = (Number(process.env.CONF_HTTP_TIMEOUT) || 15) * 1000;

// One HTTPS request to 127.0.0.1:port trusting only `caFile`, the server
// certificate checked under `servername`. Resolves to {status, headers,
// text, json}.
function httpsJson({ port, caFile, servername = 'localhost', method, path: urlPath, body, headers = {} }) {
  const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port,
      servername,
      ca: fs.readFileSync(caFile),
      method,
      path: urlPath,
      agent: false,
      timeout: HTTP_TIMEOUT_MS,
      headers: Object.assign({ Accept: 'application/json' },
        payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {},
        headers),
      checkServerIdentity: (host, cert) => tls.checkServerIdentity(servername, cert),
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

// Link every hub of hubd into dpsd (admin API, docs/admin-api.md), weight 1
// each, registry calls going to hubd's REST listener.
async function linkHubs(dps, hub) {
  for (const [host, connectionString] of Object.entries(hub.hubs)) {
    const r = await httpsJson({
      port: dps.port,
      caFile: dps.caFile,
      method: 'PUT',
      path: `/admin/linkedHubs/${encodeURIComponent(host)}?api-version=2021-10-01`,
      headers: { Host: dps.serviceHost, Authorization: serviceSas(dps.connectionString) },
      body: { connectionString, registryUrl: `https://127.0.0.1:${hub.port}`, allocationWeight: 1 },
    });
    if (r.status !== 200) throw new Error(`PUT /admin/linkedHubs/${host}: ${r.status} ${r.text}`);
  }
}

// One file with both CAs, for NODE_EXTRA_CA_CERTS.
function writeCaBundle(file, caFiles) {
  fs.writeFileSync(file, caFiles.map((f) => fs.readFileSync(f, 'utf8').trim() + '\n').join(''));
  return file;
}

// The variables through which the suite hands the running servers to the
// test processes (which must be started with NODE_EXTRA_CA_CERTS already set
// to the bundle).
function serversEnv(dps, hub, caBundle) {
  const hosts = Object.keys(hub.hubs).sort();
  return {
    CONF_CA_BUNDLE: caBundle,
    CONF_DPS_CA_FILE: dps.caFile,
    CONF_DPS_CONNECTION_STRING: dps.connectionString,
    CONF_DPS_SERVICE_HOST: dps.serviceHost,
    CONF_DPS_ID_SCOPE: dps.idScope,
    CONF_DPS_PORT: String(dps.port),
    CONF_DPS_MQTT_HOST: dps.listeners.mqtts || '',
    CONF_DPS_AMQP_HOST: dps.listeners.amqps || '',
    CONF_HUB_HOSTS: hosts.join(','),
    CONF_HUB_CONNECTION_STRINGS: JSON.stringify(hub.hubs),
    CONF_HUB_CA_FILE: hub.caFile,
    CONF_HUB_REST_PORT: String(hub.port),
    CONF_HUB_REST_URL: `https://127.0.0.1:${hub.port}`,
    CONF_HUB_MQTT_PORT: String(hub.mqttPort),
  };
}

const NO_SUITE = 'run the suite with tests/conformance/run.sh (or `node lib/suite.js [test files]`), '
  + 'which starts dpsd and hubd and sets CONF_*';

function checkTrust(e) {
  if (e.NODE_EXTRA_CA_CERTS !== e.CONF_CA_BUNDLE) {
    throw new Error('NODE_EXTRA_CA_CERTS must name the CA bundle the suite wrote (dpsd and hubd CAs)');
  }
}

// For test files: the dpsd the suite started, or an explanation.
function dpsdFromEnv() {
  const e = process.env;
  if (!e.CONF_DPS_CONNECTION_STRING) throw new Error(`no dpsd: ${NO_SUITE}`);
  checkTrust(e);
  return {
    caFile: e.CONF_DPS_CA_FILE,
    connectionString: e.CONF_DPS_CONNECTION_STRING,
    serviceHost: e.CONF_DPS_SERVICE_HOST,
    idScope: e.CONF_DPS_ID_SCOPE,
    port: Number(e.CONF_DPS_PORT),
    mqttHost: e.CONF_DPS_MQTT_HOST,
  };
}

// For test files: the hubd the suite started (two hubs, linked into dpsd).
function hubdFromEnv() {
  const e = process.env;
  if (!e.CONF_HUB_HOSTS) throw new Error(`no hubd: ${NO_SUITE}`);
  checkTrust(e);
  return {
    hosts: e.CONF_HUB_HOSTS.split(','),
    connectionStrings: JSON.parse(e.CONF_HUB_CONNECTION_STRINGS),
    caFile: e.CONF_HUB_CA_FILE,
    restPort: Number(e.CONF_HUB_REST_PORT),
    restUrl: e.CONF_HUB_REST_URL,
    mqttPort: Number(e.CONF_HUB_MQTT_PORT),
  };
}

module.exports = {
  HUB_NAMES, startDpsd, startHubd, stopServer, removeTemp, linkHubs, writeCaBundle, serversEnv,
  dpsdFromEnv, hubdFromEnv, binDir, tail, makeTemp, httpsJson, serviceSas, parseConnectionString,
};
