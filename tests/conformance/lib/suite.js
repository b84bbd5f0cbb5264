'use strict';
// Suite driver: start hubd (two hubs) and dpsd (trusting hubd's CA for its
// registry calls, with an MQTT listener), link both hubs into dpsd, run the
// test files with Node's test runner in a child process whose environment
// trusts both CAs (NODE_EXTRA_CA_CERTS, read only at process start, names a
// bundle of the two) and preloads lib/preload.js, stop both servers with
// SIGTERM (exit status must be 0), then check docs/compatibility.md against
// the results.
//
//   node lib/suite.js                    all test/*.test.js, matrix checked
//   node lib/suite.js --update-matrix    same, rewriting the matrix block
//   node lib/suite.js test/a.test.js     some files; matrix not checked
//
// Bounds: CONF_SUITE_TIMEOUT (s, default 600) for the whole test run,
// 120 s per test (lib/harness.js), CONF_SDK_TIMEOUT (s, default 20) per SDK
// call; DPS_START_TIMEOUT and DPS_STOP_TIMEOUT (s) for each server.

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const servers = require('./servers');
const matrix = require('./matrix');

const ROOT = path.resolve(__dirname, '..');

function log(msg) {
  process.stdout.write(`[suite] ${msg}\n`);
}

function allTestFiles() {
  const dir = path.join(ROOT, 'test');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join('test', f));
}

let currentRunner = null;

// Interrupted (Ctrl-C, CTest timeout): take the runner and the servers down with us.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (currentRunner) {
      try { process.kill(-currentRunner.pid, 'SIGKILL'); } catch (_) { /* gone */ }
    }
    log(`${sig}: stopping`);
    process.exit(128 + os.constants.signals[sig]); // servers.js kills the servers on exit
  });
}

// One `node --test` per file, one after the other: the files share one dpsd
// and one hubd, and the paging tests need a quiet server. (--test-concurrency would do the
// same in one process, but Debian 12's Node 18 lacks it.) Results of all
// files are appended to resultsFile. Resolves to the worst exit status.
async function runTests(files, env, resultsFile) {
  const suiteMs = (Number(process.env.CONF_SUITE_TIMEOUT) || 600) * 1000;
  const end = Date.now() + suiteMs;
  let worst = 0;
  for (const file of files) {
    const part = `${resultsFile}.part`;
    const args = [
      '--test',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      `--test-reporter=${path.join(__dirname, 'reporter.js')}`,
      `--test-reporter-destination=${part}`,
      file,
    ];
    log(`running ${file}`);
    const code = await new Promise((resolve) => {
      const child = spawn(process.execPath, args, {
        cwd: ROOT, env: { ...env, CONF_TEST_FILE: file }, stdio: 'inherit', detached: true,
      });
      currentRunner = child;
      const timer = setTimeout(() => {
        log(`test run exceeded CONF_SUITE_TIMEOUT (${suiteMs} ms): killing ${file}`);
        try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone */ }
      }, Math.max(0, end - Date.now()));
      child.on('exit', (c, signal) => {
        clearTimeout(timer);
        currentRunner = null;
        resolve(c === null ? 128 + (os.constants.signals[signal] || 0) : c);
      });
    });
    if (fs.existsSync(part)) {
      fs.appendFileSync(resultsFile, fs.readFileSync(part));
      fs.unlinkSync(part);
    }
    if (code !== 0) {
      log(`${file}: test runner exit status ${code}`);
      worst = worst || code;
    }
    if (Date.now() >= end) { worst = worst || 1; break; }
  }
  return worst;
}

const SANITIZER = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: \w+Sanitizer/;

async function main(argv) {
  const update = argv.includes('--update-matrix');
  const named = argv.filter((a) => !a.startsWith('--'));
  const files = named.length ? named : allTestFiles();
  const full = named.length === 0;

  const tmp = servers.makeTemp();
  const started = [];
  let failed = false;
  let code = null; // test runner exit status; null when the servers did not start
  try {
    const hub = await servers.startHubd({ tmp });
    started.push(hub);
    log(`hubd pid ${hub.pid}: REST port ${hub.port}, MQTT port ${hub.mqttPort}, hubs ${Object.keys(hub.hubs).join(', ')}`);
    const dps = await servers.startDpsd({ tmp, hubCaFile: hub.caFile });
    started.push(dps);
    log(`dpsd pid ${dps.pid}: HTTPS port ${dps.port}, MQTT ${dps.listeners.mqtts || '(none)'}, id scope ${dps.idScope}`);
    await servers.linkHubs(dps, hub);
    log(`linked ${Object.keys(hub.hubs).length} hubs into dpsd; data in ${tmp}`);
    const caBundle = servers.writeCaBundle(path.join(tmp, 'ca-bundle.pem'), [dps.caFile, hub.caFile]);
    const env = {
      ...process.env,
      ...servers.serversEnv(dps, hub, caBundle),
      NODE_EXTRA_CA_CERTS: caBundle,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS || ''} --require "${path.join(__dirname, 'preload.js')}"`.trim(),
    };
    delete env.NODE_TLS_REJECT_UNAUTHORIZED; // trust comes from the CAs only
    code = await runTests(files, env, path.join(tmp, 'results.jsonl'));
  } catch (e) {
    failed = true;
    log(`FAIL: ${e.message}`);
  } finally {
    // dpsd first: it talks to hubd, not the other way round
    for (const server of started.reverse()) {
      const st = await server.stop('SIGTERM');
      const stderr = fs.readFileSync(server.stderrFile, 'utf8');
      if (st.code !== 0) {
        failed = true;
        log(`FAIL: ${server.name} did not exit 0 after SIGTERM: ${JSON.stringify(st)}\n${servers.tail(server.stderrFile)}`);
      } else {
        log(`${server.name} stopped with SIGTERM, exit status 0`);
      }
      if (SANITIZER.test(stderr)) {
        failed = true;
        log(`FAIL: sanitizer report in ${server.name} stderr (${server.stderrFile})`);
      }
    }
  }
  const resultsFile = path.join(tmp, 'results.jsonl');
  if (code !== 0 && code !== null) {
    failed = true;
    log(`FAIL: test runner exit status ${code}`);
  }

  if (fs.existsSync(resultsFile)) {
    const counts = { pass: 0, fail: 0, todo: 0 };
    for (const line of fs.readFileSync(resultsFile, 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line);
      if (r.type === 'suite') continue;
      counts[r.todo !== null ? 'todo' : r.status] += 1;
    }
    log(`${counts.pass} passed, ${counts.fail} failed, ${counts.todo} todo (not yet testable)`);
  }
  if (full && fs.existsSync(resultsFile)) {
    if (process.env.CONF_RESULTS_OUT) fs.copyFileSync(resultsFile, process.env.CONF_RESULTS_OUT);
    const rc = matrix.main([update ? '--write' : '--check', resultsFile]);
    if (rc !== 0) failed = true;
  } else if (full) {
    failed = true;
    log('FAIL: no results file; matrix not checked');
  } else {
    log('some files only: matrix not checked');
  }
  if (!failed) servers.removeTemp(tmp);
  else log(`kept ${tmp} (server data, stderr and results)`);
  log(failed ? 'FAILED' : 'OK');
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then((rc) => { process.exitCode = rc; }, (e) => {
  process.stderr.write(`[suite] FAILED: ${e.message || e}\n`);
  process.exitCode = 1;
});
