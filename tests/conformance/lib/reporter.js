'use strict';
// A node:test reporter that writes one JSON object per finished test:
//   {"file": "test/x.test.js", "name": "[cell-id] ...", "status": "pass"|"fail",
//    "todo": "reason"|null, "skip": "reason"|null, "type": "test"|"suite",
//    "error": "message"|null}
// lib/matrix.js reads these to compute the compatibility matrix.

const path = require('path');

const ROOT = path.resolve(__dirname, '..');

function reason(v) {
  if (v === undefined || v === false || v === null) return null;
  return v === true ? '' : String(v);
}

module.exports = async function* jsonLines(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const d = event.data;
    // Node 18 also reports each file as a test named by its path
    if (typeof d.name === 'string' && path.isAbsolute(d.name)) continue;
    const err = d.details && d.details.error;
    const cause = err && err.cause ? err.cause : err;
    yield JSON.stringify({
      // lib/suite.js runs one file per runner and names it; d.file is where
      // test() was called, which Node 18 does not report
      file: process.env.CONF_TEST_FILE || (d.file ? path.relative(ROOT, d.file) : null),
      name: d.name,
      nesting: d.nesting,
      status: event.type === 'test:pass' ? 'pass' : 'fail',
      todo: reason(d.todo),
      skip: reason(d.skip),
      type: (d.details && d.details.type) || 'test',
      error: cause ? String(cause.message || cause).split('\n')[0] : null,
    }) + '\n';
  }
};
