'use strict';
// Loaded with `node --require` (through NODE_OPTIONS) into every process that
// runs SDK code; see ../../../docs/compatibility.md and sdk-conformance.md §6.
//
// The Azure SDK HTTPS clients put the connection-string host, e.g.
// "localhost:34779", into the `host` option of https.request and never set a
// port, so Node would look up a host literally named "localhost:34779" on
// port 443. This wraps https.Agent.prototype.createConnection (the prototype,
// because azure-iothub's Registry builds its own Agent) and splits a trailing
// ":digits" off the host into `port`, using the bare host for SNI as well.
// Options without such a suffix pass through untouched.

const https = require('https');

const MARK = Symbol.for('opendps.conformance.hostPortPreload');
const proto = https.Agent.prototype;

if (!proto[MARK]) {
  const original = proto.createConnection;
  const hostWithPort = /^(.*[^:\]]|\[[0-9a-fA-F:.]+\]):(\d{1,5})$/;

  proto.createConnection = function createConnectionWithHostPort(options, ...rest) {
    const host = options && typeof options.host === 'string' ? options.host : null;
    const m = host ? hostWithPort.exec(host) : null;
    if (!m) return original.call(this, options, ...rest);
    const bare = m[1].replace(/^\[(.*)\]$/, '$1');
    const patched = Object.assign({}, options, {
      host: bare,
      hostname: bare,
      port: Number(m[2]),
    });
    // SNI must be a DNS name: omit it for IP literals, as Node itself does.
    if (/^[\d.]+$/.test(bare) || bare.includes(':')) delete patched.servername;
    else patched.servername = bare;
    return original.call(this, patched, ...rest);
  };
  Object.defineProperty(proto, MARK, { value: true });
}
