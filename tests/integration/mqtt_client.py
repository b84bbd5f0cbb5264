"""A small MQTT 3.1.1 client for the end-to-end tests: the project's own test
MQTT client (Python standard library only: socket + ssl).

It speaks just enough MQTT to drive hubd (and dpsd's MQTT device API) the way
a device SDK would, and it can also send arbitrary bytes, so tests can check
how the server handles malformed input.

Connecting
----------
    c = MqttClient("127.0.0.1", 8884, cafile=ca_pem)          # TLS, server verified
    c = MqttClient(host, port, cafile=ca, certfile=crt, keyfile=key)  # X.509 device
    c = MqttClient(host, port, cafile=None)                    # TLS, no verification
    c = MqttClient(host, port, tls=False)                      # plain TCP (other servers)
    ack = c.connect("sensor-0001",
                    username=hub_username("hub1.opendps.local", "sensor-0001"),
                    password=device_sas("hub1.opendps.local", "sensor-0001", key_b64),
                    clean_session=False, keep_alive=60)
    ack.return_code    # 0 accepted, 2 identifier rejected, 3 unavailable, 5 not authorized
    ack.session_present

connect() returns the CONNACK (it does not raise on a refusal); if the server
closes instead of answering it raises ConnectionClosed. The TCP and TLS
connection is made in the constructor (server_hostname defaults to host;
pass server_hostname="localhost" when the certificate names that).

Talking
-------
    c.subscribe("$iothub/twin/res/#", qos=0)        -> [granted codes]
    c.subscribe([("a/#", 1), ("b/#", 0)])           -> [codes]; 0x80 = refused
    c.unsubscribe("a/#")
    c.publish(topic, b"payload", qos=1)              -> packet id (QoS 1 waits for
                                                        the PUBACK unless wait_ack=False)
    c.ping()                                         PINGREQ, waits for PINGRESP
    c.disconnect()                                   DISCONNECT, then close
    msg = c.recv_publish(timeout=5)                  next PUBLISH from the server
    msg = c.recv_publish(topic_prefix="$iothub/twin/res/")
    msg.topic, msg.payload, msg.qos, msg.packet_id, msg.dup, msg.retain
    c.puback(msg.packet_id)                          settle a QoS 1 delivery
                                                     (auto_puback=True does it for you)
    pkt = c.recv(timeout=5)                          next packet of any type (a Packet)
    c.expect_closed(timeout=5)                       True when the server closes
                                                     the connection in time

Packets that arrive while waiting for something else are kept (in order)
and returned by later recv()/recv_publish() calls, so a PUBLISH that races
a SUBACK is never lost.

IoT Hub helpers
---------------
    status, body, props = c.twin_get(rid="1")                 # needs $iothub/twin/res/# subscribed
    status, body, props = c.twin_patch_reported({"fw": "2"}, rid="2")
    hub_username(host, device_id, api_version="2021-04-12", extra="")
    device_sas(host, device_id, key_b64, ttl=3600, encode=True)   # SAS password
    sas_token(resource, key_b64, expiry, policy=None, encode=True)
    parse_property_bag("%24.mid=1&k=v&flag") -> {"$.mid": "1", "k": "v", "flag": None}
    topic_query(topic) -> the property bag after "?"  (for $rid / $version)

Raw bytes
---------
    c.send_raw(b"\\x10\\xff\\xff\\xff\\xff\\x7f")    # anything, unframed
    encode_connect(...), encode_publish(...), encode_subscribe(...), encode_packet(type, flags, body),
    encode_varint(n), encode_string(s) build packets (or parts) for send_raw.

Errors: TimeoutError when nothing arrives in time; ConnectionClosed when the
server closes the connection; MqttProtocolError for bytes that are not MQTT.
"""

import base64
import collections
import hashlib
import hmac
import json
import socket
import ssl
import struct
import time
import urllib.parse

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

TYPE_NAMES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
    7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
    12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT",
}


class MqttError(Exception):
    pass


class ConnectionClosed(MqttError):
    """The server closed the connection (or reset it)."""


class MqttProtocolError(MqttError):
    """The server sent bytes that are not a valid MQTT packet."""


# ---- encoding ---------------------------------------------------------------

def encode_varint(n):
    if n < 0 or n > 268435455:
        raise ValueError("remaining length out of range")
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def encode_string(s):
    if isinstance(s, str):
        s = s.encode("utf-8")
    return struct.pack("!H", len(s)) + s


def encode_packet(ptype, flags, body=b""):
    return bytes([(ptype << 4) | (flags & 0x0F)]) + encode_varint(len(body)) + body


def encode_connect(client_id, username=None, password=None, clean_session=True, keep_alive=60,
                   will=None, protocol_name="MQTT", protocol_level=4):
    """will = (topic, message_bytes, qos, retain) or None."""
    flags = 0
    if clean_session:
        flags |= 0x02
    payload = encode_string(client_id)
    if will is not None:
        wtopic, wmsg, wqos, wretain = will
        flags |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        payload += encode_string(wtopic) + encode_string(wmsg)
    if username is not None:
        flags |= 0x80
        payload += encode_string(username)
    if password is not None:
        flags |= 0x40
        payload += encode_string(password)
    body = encode_string(protocol_name) + bytes([protocol_level, flags]) + struct.pack(
        "!H", keep_alive) + payload
    return encode_packet(CONNECT, 0, body)


def encode_publish(topic, payload=b"", qos=0, packet_id=None, retain=False, dup=False):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    flags = (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    body = encode_string(topic)
    if qos > 0:
        body += struct.pack("!H", packet_id)
    return encode_packet(PUBLISH, flags, body + payload)


def encode_subscribe(packet_id, filters):
    """filters: list of (filter, qos)."""
    body = struct.pack("!H", packet_id)
    for f, q in filters:
        body += encode_string(f) + bytes([q])
    return encode_packet(SUBSCRIBE, 0x02, body)


def encode_unsubscribe(packet_id, filters):
    body = struct.pack("!H", packet_id)
    for f in filters:
        body += encode_string(f)
    return encode_packet(UNSUBSCRIBE, 0x02, body)


def encode_ack(ptype, packet_id):
    return encode_packet(ptype, 0x02 if ptype == PUBREL else 0, struct.pack("!H", packet_id))


# ---- IoT Hub helpers ----------------------------------------------------------

def hub_username(host, device_id, api_version="2021-04-12", extra=""):
    """{host}/{deviceId}/?api-version=...[&extra]"""
    u = "%s/%s/?api-version=%s" % (host, device_id, api_version)
    return u + ("&" + extra if extra else "")


def sas_token(resource, key_b64, expiry, policy=None, encode=True):
    """SharedAccessSignature over `resource` (URL-encoded first when encode,
    as the Node SDK does; raw as the C SDK does)."""
    sr = urllib.parse.quote(resource, safe="") if encode else resource
    to_sign = ("%s\n%d" % (sr, expiry)).encode("utf-8")
    sig = base64.b64encode(hmac.new(base64.b64decode(key_b64), to_sign,
                                    hashlib.sha256).digest()).decode("ascii")
    token = "SharedAccessSignature sr=%s&sig=%s&se=%d" % (
        sr, urllib.parse.quote(sig, safe=""), expiry)
    if policy:
        token += "&skn=" + policy
    return token


def device_sas(host, device_id, key_b64, ttl=3600, encode=True):
    return sas_token("%s/devices/%s" % (host, device_id), key_b64, int(time.time()) + ttl,
                     encode=encode)


def parse_property_bag(bag):
    """'%24.mid=1&k=v&flag' -> {'$.mid': '1', 'k': 'v', 'flag': None}."""
    out = {}
    for item in bag.split("&"):
        if not item:
            continue
        if "=" in item:
            k, v = item.split("=", 1)
            out[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
        else:
            out[urllib.parse.unquote(item)] = None
    return out


def topic_query(topic):
    """The part after the first '?', or ''."""
    return topic.split("?", 1)[1] if "?" in topic else ""


# ---- received packets ---------------------------------------------------------

class Packet:
    """One packet from the server. type, flags, body always; plus, by type:
    PUBLISH topic, payload, qos, packet_id, dup, retain; CONNACK
    session_present, return_code; SUBACK packet_id, codes; PUBACK/PUBREC/
    PUBREL/PUBCOMP/UNSUBACK packet_id."""

    def __init__(self, ptype, flags, body):
        self.type = ptype
        self.flags = flags
        self.body = body
        self.packet_id = None
        if ptype == PUBLISH:
            self.qos = (flags >> 1) & 3
            self.dup = bool(flags & 8)
            self.retain = bool(flags & 1)
            if len(body) < 2:
                raise MqttProtocolError("short PUBLISH")
            (tlen,) = struct.unpack("!H", body[:2])
            pos = 2 + tlen
            self.topic = body[2:pos].decode("utf-8")
            if self.qos > 0:
                (self.packet_id,) = struct.unpack("!H", body[pos:pos + 2])
                pos += 2
            self.payload = body[pos:]
        elif ptype == CONNACK:
            if len(body) != 2:
                raise MqttProtocolError("CONNACK of %d bytes" % len(body))
            self.session_present = bool(body[0] & 1)
            self.return_code = body[1]
        elif ptype == SUBACK:
            (self.packet_id,) = struct.unpack("!H", body[:2])
            self.codes = list(body[2:])
        elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
            (self.packet_id,) = struct.unpack("!H", body[:2])

    @property
    def name(self):
        return TYPE_NAMES.get(self.type, "RESERVED")

    def json(self):
        return json.loads(self.payload) if self.payload.strip() else None

    def __repr__(self):
        if self.type == PUBLISH:
            return "<PUBLISH %s qos=%d id=%s %d bytes>" % (self.topic, self.qos, self.packet_id,
                                                         len(self.payload))
        return "<%s %r>" % (self.name, self.body)


# ---- the client -----------------------------------------------------------------

class MqttClient:
    def __init__(self, host, port, cafile=None, certfile=None, keyfile=None,
                 server_hostname=None, tls=True, timeout=10.0, auto_puback=False):
        self.timeout = timeout
        self.auto_puback = auto_puback
        self._buf = bytearray()
        self._queue = collections.deque()
        self._next_id = 0
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if cafile:
                ctx.load_verify_locations(cafile)
            else:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if certfile:
                ctx.load_cert_chain(certfile, keyfile)
            try:
                self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname or host)
            except Exception:
                raw.close()
                raise
        else:
            self.sock = raw
        self.closed = False

    # -- context manager ---------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    # -- low level ---------------------------------------------------------------
    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError) as e:
            raise ConnectionClosed(str(e)) from e

    def _packet_id(self):
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no packet from the server in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout as e:
            raise TimeoutError("no packet from the server in time") from e
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:
            raise ConnectionClosed(str(e)) from e
        except ssl.SSLError as e:
            raise ConnectionClosed("TLS: %s" % e) from e
        if not chunk:
            raise ConnectionClosed("server closed the connection")
        self._buf += chunk

    def _read_packet(self, deadline):
        while True:
            if len(self._buf) >= 2:
                mult, length, pos = 1, 0, 1
                complete = False
                while pos < len(self._buf) and pos <= 4:
                    b = self._buf[pos]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    pos += 1
                    if not b & 0x80:
                        complete = True
                        break
                if not complete and pos > 4:
                    raise MqttProtocolError("remaining length over 4 bytes")
                if complete and len(self._buf) >= pos + length:
                    first = self._buf[0]
                    body = bytes(self._buf[pos:pos + length])
                    del self._buf[:pos + length]
                    return Packet(first >> 4, first & 0x0F, body)
            self._fill(deadline)

    def recv(self, timeout=None):
        """The next packet of any type (queued ones first)."""
        if self._queue:
            return self._queue.popleft()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        pkt = self._read_packet(deadline)
        self._auto_ack(pkt)
        return pkt

    def _auto_ack(self, pkt):
        if self.auto_puback and pkt.type == PUBLISH and pkt.qos == 1:
            self.puback(pkt.packet_id)

    def _wait_for(self, match, timeout=None):
        """The first packet (queued or new) for which match(pkt) is true;
        others stay queued in order."""
        for i, pkt in enumerate(self._queue):
            if match(pkt):
                del self._queue[i]
                return pkt
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            pkt = self._read_packet(deadline)
            self._auto_ack(pkt)
            if match(pkt):
                return pkt
            self._queue.append(pkt)

    def expect_closed(self, timeout=5.0):
        """True when the server closes the connection within timeout
        (packets received meanwhile are kept)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._queue.append(self._read_packet(deadline))
        except ConnectionClosed:
            return True
        except TimeoutError:
            return False

    # -- MQTT operations -----------------------------------------------------------
    def connect(self, client_id, username=None, password=None, clean_session=True,
                keep_alive=60, will=None, timeout=None):
        self.send_raw(encode_connect(client_id, username, password, clean_session, keep_alive,
                                     will))
        return self._wait_for(lambda p: p.type == CONNACK, timeout)

    def subscribe(self, filters, qos=0, timeout=None):
        if isinstance(filters, str):
            filters = [(filters, qos)]
        pid = self._packet_id()
        self.send_raw(encode_subscribe(pid, filters))
        return self._wait_for(lambda p: p.type == SUBACK and p.packet_id == pid, timeout).codes

    def unsubscribe(self, filters, timeout=None):
        if isinstance(filters, str):
            filters = [filters]
        pid = self._packet_id()
        self.send_raw(encode_unsubscribe(pid, filters))
        self._wait_for(lambda p: p.type == UNSUBACK and p.packet_id == pid, timeout)

    def publish(self, topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None,
                wait_ack=True, timeout=None):
        pid = None
        if qos > 0:
            pid = packet_id or self._packet_id()
        self.send_raw(encode_publish(topic, payload, qos, pid, retain, dup))
        if qos == 1 and wait_ack:
            self._wait_for(lambda p: p.type == PUBACK and p.packet_id == pid, timeout)
        return pid

    def puback(self, packet_id):
        self.send_raw(encode_ack(PUBACK, packet_id))

    def ping(self, timeout=None):
        self.send_raw(encode_packet(PINGREQ, 0))
        self._wait_for(lambda p: p.type == PINGRESP, timeout)

    def disconnect(self):
        try:
            self.send_raw(encode_packet(DISCONNECT, 0))
        finally:
            self.close()

    def recv_publish(self, timeout=None, topic_prefix=None):
        return self._wait_for(
            lambda p: p.type == PUBLISH and (topic_prefix is None or
                                             p.topic.startswith(topic_prefix)), timeout)

    # -- IoT Hub twin round trips -------------------------------------------------
    def _twin_call(self, topic, payload, rid, timeout):
        self.publish(topic, payload, qos=0)
        want = "$iothub/twin/res/"
        while True:
            msg = self.recv_publish(timeout=timeout, topic_prefix=want)
            props = parse_property_bag(topic_query(msg.topic))
            if props.get("$rid") == rid:
                status = int(msg.topic[len(want):].split("/", 1)[0])
                body = json.loads(msg.payload) if msg.payload.strip() else None
                return status, body, props

    def twin_get(self, rid="1", timeout=None):
        """(status, body, response properties) of $iothub/twin/GET."""
        return self._twin_call("$iothub/twin/GET/?$rid=%s" % rid, b"", rid, timeout)

    def twin_patch_reported(self, patch, rid="2", timeout=None):
        """(status, None, properties incl. '$version') of a reported patch."""
        body = patch if isinstance(patch, (bytes, str)) else json.dumps(patch)
        return self._twin_call("$iothub/twin/PATCH/properties/reported/?$rid=%s" % rid, body,
                               rid, timeout)
