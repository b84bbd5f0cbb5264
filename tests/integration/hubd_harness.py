"""Harness for hubd end-to-end tests: runs the real hubd over real TLS.

Python 3 standard library only; builds on dpsd_harness (binaries, SAS
tokens, the HTTPS client, process clean-up and sanitizer checks).

    from hubd_harness import Hubd

    h = Hubd.start_new(hubs=["hub1.opendps.local", "hub2.opendps.local"])
    svc = h.service("hub1.opendps.local")     # HTTPS + iothubowner SAS
    svc.put("/devices/d1", {"deviceId": "d1"})
    dev, ack = h.connect_device("hub1.opendps.local", "d1", key)   # MQTT over TLS
    with h.telemetry_stream("hub1.opendps.local") as events:
        events.get(timeout=10)                 # one SSE event as a dict
    h.stop()                                   # SIGTERM: exit 0, no sanitizer report

REST and MQTT listen on 127.0.0.1 port 0; the printed start-up lines give
the ports. Clients connect to 127.0.0.1 and verify the certificate as the
hub's host name (the generated certificate names every hub), as a client
resolving the hub name to this machine would.
"""

import http.client
import json
import queue
import re
import socket
import ssl
import threading
import time
import unittest
import urllib.parse

from dpsd_harness import (HTTP_TIMEOUT, Dpsd, DpsdStartError, Response,
                          ServiceClient, binary, make_sas,
                          parse_connection_string, random_key, run_dpsctl,
                          sanitizer_report, tls_context, unique_id)
from mqtt_client import MqttClient, device_sas, hub_username

HUB_API_VERSION = "2021-04-12"
ADMIN_KEY_NAME = "hubdadmin"
DEFAULT_HUBS = ("hub1.opendps.local", "hub2.opendps.local")


class HubdStartError(DpsdStartError):
    pass


class Hubd(Dpsd):
    """One hubd process in a data directory it owns (or was given).
    Inherits start/stop/kill/cleanup/restart and the stderr checks of Dpsd;
    only the command line and the start-up lines are hubd's own."""

    NAME = "hubd"
    START_ERROR = HubdStartError

    def __init__(self, data_dir=None, extra_args=None, keep_data=False, hubs=DEFAULT_HUBS):
        super().__init__(data_dir=data_dir, extra_args=extra_args, keep_data=keep_data)
        self.hub_names = list(hubs)
        self.hubs = {}

    @classmethod
    def start_new(cls, extra_args=None, data_dir=None, hubs=DEFAULT_HUBS):
        h = cls(data_dir=data_dir, extra_args=extra_args, hubs=hubs)
        try:
            h.start()
        except BaseException:
            h.cleanup()
            raise
        return h

    start_fresh = start_new

    def command(self):
        args = [binary("hubd"), "--data-dir", self.data_dir,
                "--rest-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"]
        for hub in self.hub_names:
            args += ["--hub", hub]
        return args + self.extra_args

    def _parse_lines(self):
        """Reads the start-up lines (docs/hubd.md) into attributes."""
        self.info = {}
        self.rest_urls, self.mqtt_urls, self.hubs = [], [], {}
        for line in self.lines[1:-1]:
            key, sep, val = line.partition(": ")
            if not sep:
                raise HubdStartError("start-up line without ': ': %r" % line)
            if key == "https":
                self.rest_urls.append(val.split()[2])
            elif key == "mqtts":
                self.mqtt_urls.append(val.split()[2])
            elif key.startswith("hub "):
                self.hubs[key[4:]] = val
            else:
                self.info[key] = val
        for k in ("data directory", "store", "ca certificate", "admin connection string"):
            if k not in self.info:
                raise HubdStartError("start-up output lacks %r: %r" % (k, self.lines))
        if not self.rest_urls or not self.mqtt_urls:
            raise HubdStartError("no https/mqtts line: %r" % self.lines)
        m = re.match(r"https://([0-9.]+):(\d+)$", self.rest_urls[0])
        n = re.match(r"mqtts://([0-9.]+):(\d+)$", self.mqtt_urls[0])
        if not m or not n:
            raise HubdStartError("cannot parse listener URLs: %r" % self.lines)
        self.ip, self.port = m.group(1), int(m.group(2))
        self.rest_port = self.port
        self.mqtt_ip, self.mqtt_port = n.group(1), int(n.group(2))
        self.url = self.rest_urls[0]
        self.ca_file = self.info["ca certificate"]
        self.admin_connection_string = self.info["admin connection string"]
        # Dpsd's helpers read these names.
        self.connection_string = self.admin_connection_string
        self.cs = parse_connection_string(self.connection_string)

    # ---- clients

    def hub_connection_string(self, hub):
        if hub not in self.hubs:
            raise AssertionError("hub %s not in the start-up output: %r" % (hub, self.hubs))
        return self.hubs[hub]

    def service(self, hub, connection_string=None, api_version=HUB_API_VERSION):
        """HTTPS client for one hub's REST APIs, signed with its iothubowner
        policy (or the given connection string)."""
        return ServiceClient(self.rest_port, self.ca_file,
                             connection_string or self.hub_connection_string(hub),
                             ip=self.ip, tls_name=hub, api_version=api_version)

    def admin(self):
        """HTTPS client for /_hubd/hubs, signed with the admin key."""
        return ServiceClient(self.rest_port, self.ca_file, self.admin_connection_string,
                             ip=self.ip, tls_name="localhost", api_version=None)

    def client(self, connection_string=None):
        return self.admin() if connection_string is None else ServiceClient(
            self.rest_port, self.ca_file, connection_string, ip=self.ip,
            tls_name="localhost", api_version=HUB_API_VERSION)

    def mqtt(self, hub, **kw):
        """A TLS connection to the MQTT listener that verifies the server as
        the hub (not yet CONNECTed): tests/integration/mqtt_client.py."""
        return MqttClient(self.mqtt_ip, self.mqtt_port, cafile=self.ca_file,
                          server_hostname=hub, **kw)

    def connect_device(self, hub, device_id, key, clean_session=True, keep_alive=60, **kw):
        """Connects a SAS device; returns (client, CONNACK)."""
        c = self.mqtt(hub, **kw)
        try:
            ack = c.connect(device_id, username=hub_username(hub, device_id),
                            password=device_sas(hub, device_id, key),
                            clean_session=clean_session, keep_alive=keep_alive)
        except BaseException:
            c.close()
            raise
        return c, ack

    def telemetry_stream(self, hub, since=None, path="/_hubd/telemetry"):
        return SseStream(self.service(hub), path, since=since)

    def alive_check(self, testcase=None):
        if not self.running():
            raise AssertionError("hubd is not running (rc=%s); stderr:\n%s"
                                 % (self.proc.returncode, self.stderr_tail()))
        r = self.admin().get("/_hubd/hubs")
        if r.status != 200:
            raise AssertionError("hubd does not answer the admin API: %r" % r)
        return r

    def check_stderr(self):
        rep = sanitizer_report(self.stderr_text())
        if rep:
            raise AssertionError("sanitizer report in hubd stderr: %s\n%s"
                                 % (rep, self.stderr_tail(80)))


class SseStream:
    """Follows a Server-Sent Events response on a thread. Each event lands
    in a queue as a dict {"id", "event", "data"} (data parsed as JSON when
    it is JSON). Use as a context manager; close() drops the connection."""

    def __init__(self, client, path, since=None, timeout=HTTP_TIMEOUT):
        self.client = client
        self.events = queue.Queue()
        self.status = None
        self.headers = {}
        self._closed = False
        self._ready = threading.Event()
        self._error = None
        headers = {"Accept": "text/event-stream"}
        if since is not None:
            headers["Last-Event-ID"] = str(since)
        self._conn = client.connection(timeout=timeout)
        self._conn.request("GET", client.url(path), headers=self._auth(headers))
        self._resp = self._conn.getresponse()
        self.status = self._resp.status
        self.headers = {k.lower(): v for k, v in self._resp.getheaders()}
        if self.status != 200:
            body = self._resp.read()
            self._conn.close()
            self.error_response = Response(self.status, self._resp.reason, self.headers, body)
            return
        # Live streams wait for events much longer than a request timeout.
        self._conn.sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _auth(self, headers):
        t = self.client.token()
        if t:
            headers["Authorization"] = t
        return headers

    def _read(self):
        ev = {}
        data = []
        try:
            while not self._closed:
                # HTTPResponse.readline undoes the chunked encoding.
                raw = self._resp.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if data or ev:
                        text = "\n".join(data)
                        try:
                            ev["data"] = json.loads(text)
                        except ValueError:
                            ev["data"] = text
                        self.events.put(ev)
                    ev, data = {}, []
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if field == "data":
                    data.append(value)
                elif field in ("id", "event", "retry"):
                    ev[field] = value
        except Exception as e:  # noqa: BLE001 - any failure ends the stream
            if not self._closed:
                self._error = e
        finally:
            self.events.put(None)

    def get(self, timeout=10):
        """The next event (dict); AssertionError on timeout or end of stream."""
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no telemetry event within %ss" % timeout)
        if ev is None:
            self.events.put(None)
            raise AssertionError("telemetry stream ended (%r)" % (self._error,))
        return ev

    def wait_for(self, pred, timeout=10):
        """Skips events until pred(event) holds; returns that event."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching telemetry event within %ss" % timeout)
            ev = self.get(timeout=left)
            if pred(ev):
                return ev

    def close(self):
        """Shuts the socket down so the reader sees the end, waits for it,
        then closes (closing under a running reader races http.client)."""
        self._closed = True
        try:
            if self._conn.sock is not None:
                self._conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        t = getattr(self, "_thread", None)
        if t is not None:
            t.join(5)
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class HubdTestCase(unittest.TestCase):
    """One hubd (two hubs) per test class, stopped cleanly in tearDownClass
    with the exit-code and sanitizer checks."""

    hubd_args = []
    hub_list = DEFAULT_HUBS
    hubd = None

    @classmethod
    def setUpClass(cls):
        cls.hubd = Hubd.start_new(extra_args=cls.hubd_args, hubs=cls.hub_list)
        cls.addClassCleanup(cls.hubd.cleanup)

    @classmethod
    def tearDownClass(cls):
        if cls.hubd is not None and cls.hubd.proc is not None:
            cls.hubd.stop()

    def assertStatus(self, r, status, msg=None):
        if r.status != status:
            self.fail("%sexpected HTTP %d, got %d: %r"
                      % ((msg + ": ") if msg else "", status, r.status, r))

    def assertHubError(self, r, status, code=None):
        """The legacy hub error body (hub.md section 4)."""
        self.assertStatus(r, status)
        body = r.json()
        self.assertIn("Message", body, body)
        self.assertTrue(body["Message"].startswith("ErrorCode:"), body)
        if code is not None:
            name = body["Message"][len("ErrorCode:"):].split(";", 1)[0]
            self.assertEqual(name, code, body)
        return body

    def create_device(self, hub, device_id=None, status="enabled", **extra):
        """Creates a SAS device through the registry REST API; returns the
        device JSON (with the generated keys)."""
        device_id = device_id or unique_id("dev")
        body = {"deviceId": device_id, "status": status,
                "authentication": {"type": "sas",
                                   "symmetricKey": {"primaryKey": "", "secondaryKey": ""}}}
        body.update(extra)
        r = self.hubd.service(hub).put("/devices/%s" % urllib.parse.quote(device_id, safe=""),
                                       body)
        self.assertStatus(r, 200, "create device %s" % device_id)
        return r.json()
