'use strict';
// Start and stop the servers under test (dpsd now, hubd later) and describe
// them to the test processes through environment variables.
//
// startDpsd() runs `dpsd --data-dir <fresh temp dir> --listen 127.0.0.1:0` in
// its own process group, reads its stdout start-up lines until `ready` (with a
// deadline), and returns what they said. stop() sends SIGTERM, waits (bounded)
// and reports the exit status; the suite fails unless it is 0.

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const ROOT = path.resolve(__dirname, '..');

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
const STARTUP_LINES = [
  ['idScope', /^id scope: (\S+)$/],
  ['httpsUrl', /^https: listening on (https:\/\/\S+)/],
  ['serviceHost', /^service host: (\S+)$/],
  ['caFile', /^ca certificate: (.+)$/],
  ['connectionString', /^service connection string: (\S+)$/],
  ['dataDirectory', /^data directory: (.+)$/],
  ['store', /^store: (\S+)$/],
];

async function startDpsd(opts = {}) {
  const exe = path.join(binDir(), 'dpsd');
  if (!fs.existsSync(exe)) {
    throw new Error(`dpsd not found at ${exe} (set DPS_BIN_DIR to the build's bin directory)`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opendps-conformance-'));
  const dataDir = path.join(tmp, 'data');
  const stderrFile = path.join(tmp, 'dpsd.stderr');
  const errFd = fs.openSync(stderrFile, 'w');
  const args = ['--data-dir', dataDir, '--listen', '127.0.0.1:0', ...(opts.args || [])];
  const child = spawn(exe, args, {
    stdio: ['ignore', 'pipe', errFd],
    detached: true, // own process group, so a stray child cannot outlive us
  });
  fs.closeSync(errFd);
  const server = {
    name: 'dpsd', pid: child.pid, child, tmp, dataDir, stderrFile, stdout: [],
    exited: null, listeners: {},
  };
  running.add(server);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(server);
      server.exited = { code, signal };
      resolve(server.exited);
    });
  });
  server.exitPromise = exited;

  const ready = new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      server.stdout.push(line);
      for (const [key, re] of STARTUP_LINES) {
        const m = re.exec(line);
        if (m) server[key] = m[1];
      }
      // any "<name>: listening on <scheme>://<host:port>..." line (mqtts,
      // amqps listeners when dpsd gets them)
      const l = /^\w+: listening on (\w+):\/\/([^\s/]+)/.exec(line);
      if (l) server.listeners[l[1]] = l[2];
      if (line === 'ready') resolve();
    });
    child.on('error', reject);
    exited.then((st) => reject(new Error(`dpsd exited before ready: ${JSON.stringify(st)}`)));
  });
  const timeoutMs = seconds('DPS_START_TIMEOUT', 30);
  let timer;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`dpsd not ready within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone */ }
    e.message += `\nstdout:\n${server.stdout.join('\n')}\nstderr tail:\n${tail(stderrFile)}`;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  for (const key of ['idScope', 'httpsUrl', 'serviceHost', 'caFile', 'connectionString']) {
    if (!server[key]) throw new Error(`dpsd start-up output lacks ${key}:\n${server.stdout.join('\n')}`);
  }
  server.port = Number(new URL(server.httpsUrl).port);
  server.stop = (sig) => stopServer(server, sig);
  // After `ready`, keep draining stdout so the pipe never fills up.
  child.stdout.resume();
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

function removeTemp(server) {
  if (process.env.DPS_KEEP_TMP) return;
  fs.rmSync(server.tmp, { recursive: true, force: true });
}

// The variables through which the suite hands a running dpsd to the test
// processes (which must be started with NODE_EXTRA_CA_CERTS already set).
function dpsdEnv(server) {
  return {
    CONF_DPS_CA_FILE: server.caFile,
    CONF_DPS_CONNECTION_STRING: server.connectionString,
    CONF_DPS_SERVICE_HOST: server.serviceHost,
    CONF_DPS_ID_SCOPE: server.idScope,
    CONF_DPS_PORT: String(server.port),
    CONF_DPS_MQTT_HOST: server.listeners.mqtts || '',
    CONF_DPS_AMQP_HOST: server.listeners.amqps || '',
  };
}

// For test files: the dpsd the suite started, or an explanation.
function dpsdFromEnv() {
  const e = process.env;
  if (!e.CONF_DPS_CONNECTION_STRING) {
    throw new Error('no dpsd: run the suite with tests/conformance/run.sh '
      + '(or `node lib/suite.js [test files]`), which starts dpsd and sets CONF_DPS_*');
  }
  if (e.NODE_EXTRA_CA_CERTS !== e.CONF_DPS_CA_FILE) {
    throw new Error('NODE_EXTRA_CA_CERTS must name the CA dpsd generated');
  }
  return {
    caFile: e.CONF_DPS_CA_FILE,
    connectionString: e.CONF_DPS_CONNECTION_STRING,
    serviceHost: e.CONF_DPS_SERVICE_HOST,
    idScope: e.CONF_DPS_ID_SCOPE,
    port: Number(e.CONF_DPS_PORT),
  };
}

module.exports = { startDpsd, stopServer, removeTemp, dpsdEnv, dpsdFromEnv, binDir, tail };
