'use strict';
// A software TPM for the TPM scenarios, and the Node TPM security client
// talking to it (sdk-conformance.md §3.2).
//
// swtpm (Debian packages swtpm and swtpm-tools, installed by
// scripts/setup.sh) runs as `swtpm socket --tpm2` with a fresh state
// directory on a free loopback port pair (commands on P, control on P + 1),
// in its own process group, and is stopped by its PID (SIGTERM, bounded
// wait, then SIGKILL). A missing swtpm fails the test: it is part of the
// project's set-up, and a skip would hide a broken machine.
//
// azure-iot-security-tpm 1.9.3 is installed without install scripts (its
// tss.js dependency pulls in ffi-napi, whose native build fails on current
// Node; ffi is only used for the Windows TBS device). On Linux, with no
// /dev/tpm0 or /dev/tpmrm0, tss.js falls back to TCP 127.0.0.1:2323 with the
// "user-mode TRM" framing, which swtpm's command port accepts. To avoid a
// fixed port (two suite runs at once), the test hands TpmSecurityClient its
// documented second argument, a custom tss.js Tpm, whose device is the same
// TCP device tss.js would have made, on swtpm's port.

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const path = require('path');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function freePortPair() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const p = await freePort();
    if (p >= 65535) continue;
    const ok = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.on('error', () => resolve(false));
      srv.listen(p + 1, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error('no free loopback port pair for swtpm');
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

function swtpmPath() {
  try {
    return execFileSync('sh', ['-c', 'command -v swtpm'], { encoding: 'utf8', timeout: 5000 }).trim() || null;
  } catch (_) {
    return null;
  }
}

// Start swtpm; resolves to { pid, port, dir, stop() }.
async function startSwtpm(scratch) {
  const exe = swtpmPath();
  if (!exe) throw new Error('swtpm not found: install the Debian packages swtpm and swtpm-tools (scripts/setup.sh does)');
  const dir = fs.mkdtempSync(path.join(scratch, 'swtpm-'));
  const port = await freePortPair();
  const logFile = path.join(dir, 'swtpm.log');
  const child = spawn(exe, ['socket', '--tpm2', '--tpmstate', `dir=${dir}`,
    '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
    '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
    '--flags', 'not-need-init,startup-clear', '--log', `file=${logFile}`],
  { stdio: 'ignore', detached: true });
  let exited = null;
  const exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => { exited = { code, signal }; resolve(exited); }));
  const killGroup = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone */ } };
  process.on('exit', killGroup);
  const end = Date.now() + 10000;
  while (!(await portOpen(port))) {
    if (exited) throw new Error(`swtpm exited at start: ${JSON.stringify(exited)}`);
    if (Date.now() > end) { killGroup(); throw new Error(`swtpm not listening on 127.0.0.1:${port} within 10 s`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: child.pid,
    port,
    dir,
    async stop() {
      if (!exited) {
        try { process.kill(child.pid, 'SIGTERM'); } catch (_) { /* gone */ }
        let timer;
        const done = await Promise.race([exitPromise,
          new Promise((r) => { timer = setTimeout(() => r(null), 5000); })]);
        clearTimeout(timer);
        if (!done) { killGroup(); await exitPromise; }
      }
      process.removeListener('exit', killGroup);
      fs.rmSync(dir, { recursive: true, force: true });
      return exited;
    },
  };
}

// azure-iot-security-tpm's TpmSecurityClient on swtpm's port. `registrationId`
// undefined: the client derives it from the EK (tpm.md §3.4).
function tpmSecurityClient(port, registrationId) {
  const { TpmSecurityClient } = require('azure-iot-security-tpm');
  const tss = require('tss.js');
  const tpm = new tss.Tpm(false);
  tpm.device = new tss.TpmTcpDevice('127.0.0.1', port, true);
  return new TpmSecurityClient(registrationId, tpm);
}

module.exports = { startSwtpm, tpmSecurityClient };
