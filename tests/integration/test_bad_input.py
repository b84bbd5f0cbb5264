"""Bad input never takes dpsd down and always gets the DPS error shape
(service-api.md §9.3, §10; design.md "Safe with bad input")."""

import json
import os
import socket
import ssl
import threading
import time
import unittest
import urllib.parse

from dpsd_harness import (DpsdTestCase, HTTP_TIMEOUT, make_sas, random_key,
                          sas_signature, tls_context, unique_id)

BODY_CAP = 98304


def sym(rid, **extra):
    b = {"registrationId": rid, "attestation": {"type": "symmetricKey"}}
    b.update(extra)
    return b


class BadInputBase(DpsdTestCase):

    def tearDown(self):
        # After every bad-input test the daemon must still answer.
        self.dpsd.alive_check()

    def raw_put(self, path, raw):
        return self.client.put(path, raw_body=raw)

    def raw_exchange(self, data, tls=True, read_timeout=5.0, shutdown=False):
        """Sends raw bytes (over TLS or plain TCP); returns what came back
        before the server closed or the timeout passed."""
        s = socket.create_connection((self.dpsd.ip, self.dpsd.port), timeout=HTTP_TIMEOUT)
        try:
            if tls:
                s = tls_context(self.dpsd.ca_file).wrap_socket(s, server_hostname="localhost")
            try:
                s.sendall(data)
                if shutdown and not tls:
                    s.shutdown(socket.SHUT_WR)
            except (ConnectionError, OSError, ssl.SSLError):
                pass   # the server may hang up before reading everything
            s.settimeout(read_timeout)
            out = b""
            deadline = time.monotonic() + read_timeout
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, ssl.SSLError, ConnectionError):
                    break
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out and not tls:
                    break
            return out
        finally:
            try:
                s.close()
            except OSError:
                pass


class MalformedBodyTest(BadInputBase):

    def test_malformed_json(self):
        for name, raw in (("truncated", b'{"registrationId": '),
                          ("trailing garbage", b'{"registrationId": "x"} xyz'),
                          ("single quotes", b"{'registrationId': 'x'}"),
                          ("trailing comma", b'{"registrationId": "x",}'),
                          ("invalid utf-8", b'{"registrationId": "\xff\xfe"}'),
                          ("binary", os.urandom(200)),
                          ("nul in string", b'{"registrationId": "a\\u0000b"}')):
            with self.subTest(name):
                rid = unique_id("malformed")
                self.assertError(self.raw_put("/enrollments/" + rid, raw), 400)
                self.assertError(self.client.get("/enrollments/" + rid), 404)

    def test_body_not_an_object(self):
        for raw in (b"[]", b'"string"', b"null", b"42", b"true"):
            with self.subTest(raw):
                rid = unique_id("notobj")
                self.assertError(self.raw_put("/enrollments/" + rid, raw), 400)

    def test_empty_body_on_put(self):
        rid = unique_id("empty")
        r = self.client.request("PUT", "/enrollments/" + rid,
                                headers={"Content-Type": "application/json"})
        self.assertError(r, 400)

    def test_duplicate_keys_rejected(self):
        rid = unique_id("dup")
        raw = ('{"registrationId": "%s", "registrationId": "%s", '
               '"attestation": {"type": "symmetricKey"}}' % (rid, rid)).encode()
        self.assertError(self.raw_put("/enrollments/" + rid, raw), 400)
        raw = ('{"registrationId": "%s", "attestation": {"type": "symmetricKey", '
               '"type": "tpm"}}' % rid).encode()
        self.assertError(self.raw_put("/enrollments/" + rid, raw), 400)
        self.assertError(self.client.get("/enrollments/" + rid), 404)

    def test_wrong_types(self):
        cases = {
            "registrationId number": {"registrationId": 5, "attestation": {"type": "symmetricKey"}},
            "attestation string": {"attestation": "symmetricKey"},
            "attestation type number": {"attestation": {"type": 1}},
            "provisioningStatus bool": {"provisioningStatus": True},
            "iotEdge string": {"capabilities": {"iotEdge": "yes"}},
            "capabilities array": {"capabilities": []},
            "iotHubs string": {"iotHubs": "hub1.example.net"},
            "iotHubs numbers": {"iotHubs": [1, 2]},
            "initialTwin array": {"initialTwin": []},
            "tags string": {"initialTwin": {"tags": "x"}},
            "reprovision string bools": {"reprovisionPolicy": {"updateHubAssignment": "true",
                                                               "migrateDeviceData": "false"}},
            "symmetricKey number": {"attestation": {"type": "symmetricKey",
                                                    "symmetricKey": {"primaryKey": 12}}},
            "deviceId object": {"deviceId": {}},
        }
        for name, override in cases.items():
            with self.subTest(name):
                rid = unique_id("types")
                body = sym(rid)
                body.update(override)
                r = self.client.put("/enrollments/" + rid, body)
                self.assertError(r, 400)

    def test_deep_nesting_rejected(self):
        rid = unique_id("deep")
        depth = 5000
        raw = ('{"registrationId": "%s", "attestation": {"type": "symmetricKey"}, '
               '"optionalDeviceInformation": %s1%s}' % (rid, '{"a":' * depth, "}" * depth)).encode()
        self.assertError(self.raw_put("/enrollments/" + rid, raw), 400)

    def test_body_at_cap_accepted(self):
        rid = unique_id("atcap")
        body = sym(rid, optionalDeviceInformation={"pad": ""})
        base = len(json.dumps(body).encode())
        body["optionalDeviceInformation"]["pad"] = "p" * (BODY_CAP - base)
        raw = json.dumps(body).encode()
        self.assertEqual(len(raw), BODY_CAP)
        r = self.raw_put("/enrollments/" + rid, raw)
        self.assertStatus(r, 200)

    def test_oversized_body_413(self):
        rid = unique_id("big")
        body = sym(rid, optionalDeviceInformation={"pad": ""})
        base = len(json.dumps(body).encode())
        body["optionalDeviceInformation"]["pad"] = "p" * (BODY_CAP + 1 - base)
        raw = json.dumps(body).encode()
        self.assertEqual(len(raw), BODY_CAP + 1)
        self.assertError(self.raw_put("/enrollments/" + rid, raw), 413, 413001)
        self.assertError(self.client.get("/enrollments/" + rid), 404)
        r = self.client.post("/enrollments", raw_body=b"[" + b" " * (4 * BODY_CAP) + b"]")
        self.assertError(r, 413, 413001)


class StalledClientTest(BadInputBase):
    """Runs with --connection-timeout 2: stalled clients are cut off."""

    dpsd_args = ["--connection-timeout", "2"]

    def test_lying_content_length_refused_or_cut_off(self):
        # Announces 10 MB, sends one byte: refused at once (413) or closed
        # when the connection timeout passes; never held open.
        req = ("PUT /enrollments/x?api-version=2021-10-01 HTTP/1.1\r\n"
               "Host: localhost:%d\r\nAuthorization: %s\r\n"
               "Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"
               % (self.dpsd.port, self.client.token())).encode()
        t0 = time.monotonic()
        out = self.raw_exchange(req, read_timeout=8)
        self.assertLess(time.monotonic() - t0, 6, "connection held open past the timeout")
        if out:
            self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:200])

    def test_half_sent_headers_cut_off(self):
        t0 = time.monotonic()
        self.raw_exchange(b"GET /enrollments/x HTTP/1.1\r\nHost: loc", read_timeout=8)
        self.assertLess(time.monotonic() - t0, 6, "connection held open past the timeout")

    def test_idle_tls_connection_cut_off(self):
        t0 = time.monotonic()
        self.raw_exchange(b"", read_timeout=8)
        self.assertLess(time.monotonic() - t0, 6, "idle connection held open past the timeout")


class TokenTest(BadInputBase):

    def key(self):
        return self.dpsd.cs["SharedAccessKey"]

    def host(self):
        return self.dpsd.cs["HostName"]

    def policy(self):
        return self.dpsd.cs["SharedAccessKeyName"]

    def get_with(self, token):
        rid = getattr(self, "_rid", None)
        if rid is None:
            rid = self._rid = unique_id("tok")
            self.assertStatus(self.client.put("/enrollments/" + rid, sym(rid)), 200)
        return self.client.get("/enrollments/" + rid, token=token)

    def test_good_token_variants_accepted(self):
        now = int(time.time())
        variants = {
            "plain": make_sas(self.key(), self.host(), self.policy()),
            "sr url-encoded (CLI)": make_sas(self.key(), self.host(), self.policy(), encode_sr=True),
            "sr without port": make_sas(self.key(), self.host().split(":")[0], self.policy()),
            "sr upper case": make_sas(self.key(), self.host().upper(), self.policy()),
            "se in milliseconds": make_sas(self.key(), self.host(), self.policy(),
                                           se=int(time.time() * 1000)),
            "se far future": make_sas(self.key(), self.host(), self.policy(), se=2 ** 40),
            "se just past (skew)": make_sas(self.key(), self.host(), self.policy(), se=now - 60),
        }
        sig = sas_signature(self.key(), self.host(), now + 600)
        variants["fields reordered (Node)"] = (
            "SharedAccessSignature sr=%s&sig=%s&skn=%s&se=%d"
            % (self.host(), urllib.parse.quote(sig, safe=""), self.policy(), now + 600))
        for name, tok in variants.items():
            with self.subTest(name):
                self.assertStatus(self.get_with(tok), 200)

    def test_audience_with_other_port_refused(self):
        # sas.c: "two different ports name two different services"; a token for
        # localhost:1 must not open localhost:PORT (the host_name fallback in
        # service_auth.c audience_ok() matches "localhost" without a port).
        tok = make_sas(self.key(), "localhost:1", self.policy())
        self.assertError(self.get_with(tok), 401, 401002)

    def test_missing_authorization_401(self):
        self.assertError(self.get_with(False), 401, 401002)
        r = self.client.put("/enrollments/" + unique_id("noauth"), sym("x"), token=False)
        self.assertError(r, 401, 401002)

    def test_bad_tokens_401(self):
        now = int(time.time())
        k, h, p = self.key(), self.host(), self.policy()
        sig = urllib.parse.quote(sas_signature(k, h, now + 600), safe="")
        bad = {
            "bearer": "Bearer abc.def.ghi",
            "empty sas": "SharedAccessSignature ",
            "garbage": "SharedAccessSignature %%%%&&&===",
            "wrong key": make_sas(random_key(32), h, p),
            "expired": make_sas(k, h, p, se=now - 3600),
            "expired long ago": make_sas(k, h, p, se=1),
            "wrong audience": make_sas(k, "otherhost.example.net", p),
            "audience suffix": make_sas(k, h + "x", p),
            "unknown policy": make_sas(k, h, "nosuchpolicy"),
            "missing skn": "SharedAccessSignature sr=%s&sig=%s&se=%d" % (h, sig, now + 600),
            "missing se": "SharedAccessSignature sr=%s&sig=%s&skn=%s" % (h, sig, p),
            "missing sig": "SharedAccessSignature sr=%s&se=%d&skn=%s" % (h, now + 600, p),
            "se not a number": "SharedAccessSignature sr=%s&sig=%s&se=soon&skn=%s" % (h, sig, p),
            "se changed after signing": "SharedAccessSignature sr=%s&sig=%s&se=%d&skn=%s"
                                        % (h, sig, now + 601, p),
            "sig not base64": "SharedAccessSignature sr=%s&sig=%%%%%%&se=%d&skn=%s" % (h, now + 600, p),
            "huge token": "SharedAccessSignature sr=%s&sig=%s&se=%d&skn=%s"
                          % (h, "A" * 6000, now + 600, p),
        }
        for name, tok in bad.items():
            with self.subTest(name):
                self.assertError(self.get_with(tok), 401, 401002)

    def test_bad_token_on_every_operation(self):
        tok = make_sas(random_key(32), self.host(), self.policy())
        rid = unique_id("tokops")
        for method, path, body in (("GET", "/enrollments/" + rid, None),
                                   ("PUT", "/enrollments/" + rid, sym(rid)),
                                   ("DELETE", "/enrollments/" + rid, None),
                                   ("POST", "/enrollments/%s/attestationmechanism" % rid, None),
                                   ("POST", "/enrollments/query", {"query": "SELECT *"}),
                                   ("POST", "/enrollments", {"mode": "create", "enrollments": []}),
                                   ("GET", "/enrollmentGroups/" + rid, None),
                                   ("POST", "/registrations/%s/query" % rid, None),
                                   ("GET", "/registrations/" + rid, None),
                                   ("GET", "/admin/instance", None)):
            with self.subTest("%s %s" % (method, path)):
                r = self.client.request(method, path, body, token=tok)
                self.assertError(r, 401, 401002)
        self.assertError(self.client.get("/enrollments/" + rid), 404)


class ProtocolAbuseTest(BadInputBase):

    def test_unknown_paths_404001(self):
        for path in ("/", "/nothing", "/enrollments/a/b/c", "/enrollments/x/unknownaction",
                     "/registrations/x/y/z", "/enrollmentGroups/x/attestationmechanism/more",
                     "/admin/nothing"):
            with self.subTest(path):
                self.assertError(self.client.get(path), 404, 404001)

    def test_wrong_methods_405001(self):
        rid = unique_id("meth")
        for method, path in (("PATCH", "/enrollments/" + rid),
                             ("POST", "/enrollments/" + rid),
                             ("GET", "/enrollments"),
                             ("PUT", "/enrollments"),
                             ("GET", "/enrollments/%s/attestationmechanism" % rid),
                             ("PUT", "/registrations/" + rid),
                             ("POST", "/registrations/" + rid),
                             ("GET", "/registrations/%s/query" % rid),
                             ("DELETE", "/enrollmentGroups")):
            with self.subTest("%s %s" % (method, path)):
                self.assertError(self.client.request(method, path), 405, 405001)

    def test_other_http_methods_405001(self):
        # libevent answers methods it was not told to allow with its own 501
        # HTML page; the spec wants 405001 in the DPS error shape.
        for method in ("OPTIONS", "TRACE"):
            with self.subTest(method):
                self.assertError(self.client.request(method, "/enrollments/x"), 405, 405001)
        r = self.client.request("HEAD", "/enrollments/x")
        self.assertEqual(r.status, 405, r)
        # libevent 2.1 cannot parse methods outside RFC 7231 + PATCH: it refuses
        # them itself (docs/internals/net.md); the daemon must go on serving.
        r = self.client.request("PROPFIND", "/enrollments/x")
        self.assertIn(r.status, (400, 405, 501), r)

    def test_chunked_bodies(self):
        rid = unique_id("chunk")
        body = json.dumps(sym(rid)).encode()
        for payload, want in ((body, 200), (b" " * (2 * BODY_CAP), 413)):
            conn = self.client.connection()
            try:
                conn.putrequest("PUT", "/enrollments/%s?api-version=2021-10-01" % rid)
                conn.putheader("Authorization", self.client.token())
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                try:
                    conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
                except (ConnectionError, ssl.SSLError):
                    pass
                r = conn.getresponse()
                out = r.read()
                self.assertEqual(r.status, want, out[:300])
                if want == 413:
                    self.assertEqual(json.loads(out)["errorCode"], 413001)
            finally:
                conn.close()

    @unittest.skip("libevent 2.1 loses the final response when the body follows "
                   "'Expect: 100-continue' at once; see docs/internals/net.md")
    def test_expect_100_continue(self):
        # Headers with "Expect: 100-continue", then the body right away (as
        # RFC 9110 allows, and as http.client does): every request must get its
        # final response. Seen failing intermittently: "100 Continue" arrives,
        # the final 200 never does although dpsd logs status=200.
        for i in range(10):
            rid = unique_id("expect")
            body = json.dumps(sym(rid)).encode()
            head = ("PUT /enrollments/%s?api-version=2021-10-01 HTTP/1.1\r\n"
                    "Host: localhost:%d\r\nAuthorization: %s\r\n"
                    "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                    "Content-Length: %d\r\n\r\n"
                    % (rid, self.dpsd.port, self.client.token(), len(body))).encode()
            s = tls_context(self.dpsd.ca_file).wrap_socket(
                socket.create_connection((self.dpsd.ip, self.dpsd.port), timeout=5),
                server_hostname="localhost")
            try:
                s.sendall(head)
                s.sendall(body)
                s.settimeout(2)
                out = b""
                try:
                    while b"HTTP/1.1 200" not in out:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        out += chunk
                except (socket.timeout, ssl.SSLError):
                    pass
            finally:
                s.close()
            self.assertIn(b"HTTP/1.1 200", out,
                          "attempt %d: no final response after %r" % (i, out[:80]))

    def test_bad_percent_escapes(self):
        for path in ("/enrollments/%ZZ", "/enrollments/%", "/enrollments/a%2"):
            with self.subTest(path):
                r = self.client.get(path)
                self.assertIn(r.status, (400, 404), r)
                self.assertError(r, r.status)

    def test_encoded_slash_and_nul_in_id(self):
        for enc in ("a%2Fb", "a%00b", "..%2F..%2Fetc"):
            with self.subTest(enc):
                r = self.client.put("/enrollments/" + enc, sym("x"))
                self.assertIn(r.status, (400, 404), r)
                self.assertError(r, r.status)

    def test_garbage_over_tls(self):
        for data in (os.urandom(4096), b"GARBAGE\r\n\r\n", b"\x00" * 100 + b"\r\n\r\n",
                     b"GET / HTTP/9.9\r\n\r\n", b"PUT /enrollments/x HTTP/1.1\r\n" + b"X" * 20000):
            out = self.raw_exchange(data, read_timeout=3)
            if out:
                self.assertTrue(out.startswith(b"HTTP/1."), out[:100])
                self.assertRegex(out[:12].decode("latin-1"), r"HTTP/1\.[01] [45]\d\d")

    def test_plain_http_and_garbage_on_tls_port(self):
        out = self.raw_exchange(b"GET /enrollments/x HTTP/1.1\r\nHost: localhost\r\n\r\n",
                                tls=False, read_timeout=5, shutdown=True)
        self.assertFalse(out.startswith(b"HTTP/1.1 200"), out[:100])
        self.raw_exchange(os.urandom(3000), tls=False, read_timeout=3, shutdown=True)

    def test_abandoned_handshakes(self):
        socks = []
        try:
            for _ in range(20):
                s = socket.create_connection((self.dpsd.ip, self.dpsd.port), timeout=5)
                s.sendall(b"\x16\x03\x01\x00\x05\x01\x00")   # start of a ClientHello
                socks.append(s)
            # the daemon must serve others while these hang
            self.dpsd.alive_check()
        finally:
            for s in socks:
                s.close()

    def test_oversized_header_refused(self):
        # libevent answers these itself (HTML body, not the DPS error shape)
        r = self.client.get("/enrollments/x", headers={"x-ms-continuation": "A" * 20000})
        self.assertIn(r.status, (400, 413, 431), r)

    def test_very_long_url(self):
        r = self.client.get("/enrollments/" + "a" * 8000)
        self.assertIn(r.status, (400, 404, 414), r)
        r = self.client.get("/" + "/".join(["enrollments"] * 500))
        self.assertIn(r.status, (400, 404, 414), r)

    def test_header_flood(self):
        headers = {"X-Junk-%d" % i: "v" * 50 for i in range(200)}
        try:
            r = self.client.get("/enrollments/x", headers=headers)
            self.assertGreaterEqual(r.status, 400)
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        try:
            r = self.client.get("/enrollments/x", headers={"X-Big": "b" * 200000})
            self.assertGreaterEqual(r.status, 400)
        except (ConnectionError, ssl.SSLError, OSError):
            pass

    def test_many_keepalive_requests_on_one_connection(self):
        conn = self.client.connection()
        try:
            for _ in range(30):
                conn.request("GET", "/enrollments/%s?api-version=2021-10-01" % unique_id("ka"),
                             headers={"Authorization": self.client.token()})
                r = conn.getresponse()
                body = r.read()
                self.assertEqual(r.status, 404, body)
        finally:
            conn.close()


class ConcurrencyTest(BadInputBase):

    N = 8

    def run_threads(self, fn):
        barrier = threading.Barrier(self.N, timeout=30)
        results, errors = [None] * self.N, []

        def worker(i):
            try:
                barrier.wait()
                results[i] = fn(i)
            except Exception as e:   # noqa: reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(self.N)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "worker thread hung")
        self.assertEqual(errors, [])
        return results

    def test_concurrent_if_match_exactly_one_wins(self):
        rid = unique_id("race")
        etag = self.client.put("/enrollments/" + rid, sym(rid)).json()["etag"]

        def put(i):
            body = sym(rid, optionalDeviceInformation={"writer": i})
            r = self.client.put("/enrollments/" + rid, body, headers={"If-Match": etag})
            return r.status, r.json()

        res = self.run_threads(put)
        statuses = sorted(s for s, _ in res)
        self.assertEqual(statuses.count(200), 1, statuses)
        self.assertEqual(statuses.count(412), self.N - 1, statuses)
        for s, body in res:
            if s == 412:
                self.assertEqual(body["errorCode"], 412001)
        winner = [b for s, b in res if s == 200][0]
        stored = self.client.get("/enrollments/" + rid).json()
        self.assertEqual(stored["etag"], winner["etag"])
        self.assertEqual(stored["optionalDeviceInformation"], winner["optionalDeviceInformation"])

    def test_concurrent_create_exactly_one_wins(self):
        rid = unique_id("race")

        def put(i):
            return self.client.put("/enrollments/" + rid, sym(rid)).status

        statuses = sorted(self.run_threads(put))
        self.assertEqual(statuses.count(200), 1, statuses)
        self.assertEqual(statuses.count(409), self.N - 1, statuses)

    def test_concurrent_delete_exactly_one_wins(self):
        rid = unique_id("race")
        self.client.put("/enrollments/" + rid, sym(rid))
        statuses = sorted(self.run_threads(
            lambda i: self.client.delete("/enrollments/" + rid).status))
        self.assertEqual(statuses.count(204), 1, statuses)
        self.assertEqual(statuses.count(404), self.N - 1, statuses)

    def test_parallel_independent_writers(self):
        prefix = unique_id("par")

        def work(i):
            out = []
            for j in range(5):
                rid = "%s-%d-%d" % (prefix, i, j)
                out.append(self.client.put("/enrollments/" + rid, sym(rid)).status)
                out.append(self.client.get("/enrollments/" + rid).status)
            return out

        for out in self.run_threads(work):
            self.assertEqual(set(out), {200})


if __name__ == "__main__":
    unittest.main()
