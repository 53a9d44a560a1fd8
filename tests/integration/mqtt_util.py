"""MQTT helpers for the broker's end-to-end tests.

Three kinds of client, all talking mutual TLS to 127.0.0.1 only:
- the Debian mosquitto clients (`MosquittoSub`, `mosquitto_pub`): the reference for "a real
  client works";
- python3-paho-mqtt 1.6.1 (`PahoClient`), driven by our own loop thread so that it never
  reconnects behind the test's back and every callback is recorded with its time;
- `RawMqtt`: a minimal hand-written MQTT 3.1.1/5 codec over an `ssl` socket, for what the other
  two cannot show (MQTT 5 PUBACK/SUBACK reason codes with paho 1.6.1, malformed input).

Every wait is bounded by a timeout.
"""

import contextlib
import json
import os
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid

import harness
from harness import ACCOUNT_ID, REGION

import paho.mqtt.client as paho

MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
HOST = "127.0.0.1"
SNI = "localhost"  # names no account's endpoint: the server's default account
ALPN = "x-amzn-mqtt-ca"
ARN = "arn:aws:iot:%s:%s:" % (REGION, ACCOUNT_ID)
WAIT = 10.0  # default bound on any single wait

# Packet types.
CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


# ---------------------------------------------------------------------------------------------
# Policies and devices
# ---------------------------------------------------------------------------------------------

def statement(effect, actions, resources):
    if isinstance(actions, str):
        actions = [actions]
    if isinstance(resources, str):
        resources = [resources]
    return {"Effect": effect, "Action": actions,
            "Resource": [r if r == "*" else ARN + r for r in resources]}


def allow(actions, *resources):
    return statement("Allow", actions, list(resources))


def deny(actions, *resources):
    return statement("Deny", actions, list(resources))


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_ALL = policy({"Effect": "Allow", "Action": "iot:*", "Resource": "*"})


class Device:
    """A registered certificate and its private key on disk (0600)."""

    def __init__(self, cert, key, cert_id, arn=None):
        self.cert = cert
        self.key = key
        self.cert_id = cert_id
        self.arn = arn or (ARN + "cert/" + cert_id if cert_id else None)

    def __repr__(self):
        return "Device(%s)" % self.cert_id[:12]


def write_private(directory, name, text):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def device_from_keys_and_certificate(directory, response):
    """Writes the answer of CreateKeysAndCertificate (boto3 or CLI JSON) to files."""
    name = response["certificateId"][:16]
    cert = write_private(directory, name + ".crt", response["certificatePem"])
    key = write_private(directory, name + ".key", response["keyPair"]["PrivateKey"])
    return Device(cert, key, response["certificateId"], response["certificateArn"])


def create_device(iot, directory, policy_names=()):
    """boto3 CreateKeysAndCertificate (ACTIVE) with the policies attached."""
    response = iot.create_keys_and_certificate(setAsActive=True)
    device = device_from_keys_and_certificate(directory, response)
    for name in policy_names:
        iot.attach_policy(policyName=name, target=device.arn)
    return device


def ensure_policy(iot, name, document):
    iot.create_policy(policyName=name, policyDocument=document)
    return name


class MqttPki(harness.Pki):
    """harness.Pki plus self-signed certificates with a full subject."""

    def self_signed_subject(self, key, subject, days=365):
        """Self-signed leaf with a full subject string such as '/CN=x/O=y'."""
        path = self.path(self._unique("subject") + ".pem")
        self.openssl("req", "-x509", "-new", "-config", self.config, "-key", key,
                     "-subj", subject, "-days", str(days), "-sha256", "-extensions", "v3_leaf",
                     "-out", path)
        return path

    def subject(self, cert):
        return harness.run([harness.OPENSSL, "x509", "-in", cert, "-noout", "-subject",
                            "-nameopt", "compat"]).stdout.strip()


def register_without_ca(iot, pki, cert_path, key_path, status="ACTIVE", policy_names=()):
    response = iot.register_certificate_without_ca(certificatePem=pki.read(cert_path),
                                                   status=status)
    device = Device(cert_path, key_path, response["certificateId"], response["certificateArn"])
    for name in policy_names:
        iot.attach_policy(policyName=name, target=device.arn)
    return device


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

def metrics(server):
    """GET /metrics (no auth): {'name{labels}': float}."""
    context = ssl.create_default_context(cafile=server.ca_bundle)
    import http.client
    conn = http.client.HTTPSConnection(HOST, server.port, context=context, timeout=30)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, (response.status, body)
    finally:
        conn.close()
    values = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


# ---------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------

def client_context(cafile, device=None, alpn=None, cert=None, key=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile)
    if device is not None:
        context.load_cert_chain(device.cert, device.key)
    elif cert is not None:
        context.load_cert_chain(cert, key)
    if alpn:
        context.set_alpn_protocols(alpn if isinstance(alpn, list) else [alpn])
    return context


# ---------------------------------------------------------------------------------------------
# Raw MQTT codec
# ---------------------------------------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def mstr(value):
    if isinstance(value, str):
        value = value.encode()
    return struct.pack("!H", len(value)) + value


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def props(raw=b""):
    return varint(len(raw)) + raw


def connect_packet(client_id, version=4, clean=True, keepalive=60, will=None,
                   session_expiry=None, protocol_name="MQTT"):
    """will: (topic, payload, qos, retain)."""
    flags = 0x02 if clean else 0
    payload = mstr(client_id)
    if will:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        if version == 5:
            payload += props()
        payload += mstr(topic) + mstr(message)
    body = mstr(protocol_name) + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == 5:
        raw = b""
        if session_expiry is not None:
            raw += b"\x11" + struct.pack("!I", session_expiry)
        body += props(raw)
    return packet(CONNECT, 0, body + payload)


def publish_packet(topic, payload, qos=0, retain=False, pid=1, version=4, dup=False):
    if isinstance(payload, str):
        payload = payload.encode()
    body = mstr(topic)
    if qos:
        body += struct.pack("!H", pid)
    if version == 5:
        body += props()
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    return packet(PUBLISH, flags, body + payload)


def subscribe_packet(pid, filters, version=4):
    """filters: [(filter, qos)]."""
    body = struct.pack("!H", pid) + (props() if version == 5 else b"")
    for f, qos in filters:
        body += mstr(f) + bytes([qos])
    return packet(SUBSCRIBE, 2, body)


def unsubscribe_packet(pid, filters, version=4):
    body = struct.pack("!H", pid) + (props() if version == 5 else b"")
    for f in filters:
        body += mstr(f)
    return packet(UNSUBSCRIBE, 2, body)


def puback_packet(pid):
    return packet(PUBACK, 0, struct.pack("!H", pid))


def disconnect_packet():
    return packet(DISCONNECT, 0, b"")


class Closed(Exception):
    """The broker closed the connection."""


class RawMqtt:
    """One MQTT connection over TLS with a hand-written codec. Packets come back as
    (type, flags, body bytes)."""

    def __init__(self, port, cafile, device=None, alpn=None, server_hostname=SNI, timeout=WAIT,
                 version=4):
        self.version = version
        self.timeout = timeout
        raw = socket.create_connection((HOST, port), timeout=timeout)
        context = client_context(cafile, device, alpn)
        if server_hostname is None:
            context.check_hostname = False  # no SNI; the chain is still verified
        try:
            self.sock = context.wrap_socket(raw, server_hostname=server_hostname)
        except Exception:
            raw.close()
            raise
        self.buffer = b""
        self.received = []  # every packet read, in order
        self.inbox = []  # PUBLISHes read while waiting for something else
        self.pid = 0

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _read_more(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no packet within the timeout")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise TimeoutError("no packet within the timeout")
        except (ssl.SSLError, ConnectionError, OSError) as e:
            raise Closed(repr(e))
        if not chunk:
            raise Closed("EOF")
        self.buffer += chunk

    def recv_packet(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buffer) >= 2:
                length, shift, i = 0, 0, 1
                complete = False
                while i < len(self.buffer) and i <= 4:
                    byte = self.buffer[i]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    i += 1
                    if not byte & 0x80:
                        complete = True
                        break
                if complete and len(self.buffer) >= i + length:
                    first = self.buffer[0]
                    body = self.buffer[i:i + length]
                    self.buffer = self.buffer[i + length:]
                    result = (first >> 4, first & 0x0F, body)
                    self.received.append(result)
                    return result
            self._read_more(deadline)

    def expect(self, ptype, timeout=None):
        """Next packet that is not a PUBLISH (those are acknowledged and kept)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            got = self.recv_packet(max(0.01, deadline - time.monotonic()))
            if got[0] == PUBLISH and ptype != PUBLISH:
                self.inbox.append(self.parse_publish(got))  # for messages()
                self._ack(got)
                continue
            if got[0] != ptype:
                raise AssertionError("expected packet type %d, got %r" % (ptype, got))
            return got

    def _ack(self, got):
        qos = (got[1] >> 1) & 3
        if qos:
            topic_len = struct.unpack("!H", got[2][:2])[0]
            pid = struct.unpack("!H", got[2][2 + topic_len:4 + topic_len])[0]
            self.send(puback_packet(pid))

    def closed_within(self, timeout):
        """True when the broker ends the connection within `timeout` (packets before the end
        are read and kept in self.received)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.recv_packet(max(0.01, deadline - time.monotonic()))
            except Closed:
                return True
            except TimeoutError:
                return False

    def next_id(self):
        self.pid = self.pid % 65535 + 1
        return self.pid

    # ---- protocol operations ----
    def connect(self, client_id, clean=True, keepalive=60, will=None, session_expiry=None):
        """Returns (session_present, reason code)."""
        self.send(connect_packet(client_id, self.version, clean, keepalive, will, session_expiry))
        _, _, body = self.expect(CONNACK)
        return bool(body[0] & 1), body[1]

    def publish(self, topic, payload, qos=0, retain=False):
        """QoS 1: waits for PUBACK and returns its reason code (0 in 3.1.1)."""
        pid = self.next_id() if qos else 0
        self.send(publish_packet(topic, payload, qos, retain, pid, self.version))
        if not qos:
            return None
        _, _, body = self.expect(PUBACK)
        assert struct.unpack("!H", body[:2])[0] == pid, body
        return body[2] if len(body) > 2 else 0

    def subscribe(self, filters):
        """filters: [(filter, qos)] or [filter] (QoS 1). Returns the SUBACK reason codes."""
        filters = [f if isinstance(f, tuple) else (f, 1) for f in filters]
        pid = self.next_id()
        self.send(subscribe_packet(pid, filters, self.version))
        _, _, body = self.expect(SUBACK)
        assert struct.unpack("!H", body[:2])[0] == pid, body
        rest = body[2:]
        if self.version == 5:
            n, i = self._varint(rest)
            rest = rest[i + n:]
        return list(rest)

    def unsubscribe(self, filters):
        pid = self.next_id()
        self.send(unsubscribe_packet(pid, filters, self.version))
        return self.expect(UNSUBACK)

    def disconnect(self):
        with contextlib.suppress(OSError):
            self.send(disconnect_packet())
        self.close()

    def ping(self, timeout=None):
        self.send(packet(PINGREQ, 0, b""))
        return self.expect(PINGRESP, timeout)

    @staticmethod
    def _varint(data):
        n, shift, i = 0, 0, 0
        while True:
            byte = data[i]
            n |= (byte & 0x7F) << shift
            shift += 7
            i += 1
            if not byte & 0x80:
                return n, i

    def drain(self, timeout=None):
        """Every PUBLISH the broker wrote to this connection before it answered a PINGREQ sent
        now (acknowledging QoS 1): [(topic, payload bytes, qos, retain)]. A message routed before
        this call (its publisher had its PUBACK) is written before the PINGRESP, so an empty list
        proves nothing was delivered, without waiting for a quiet period."""
        self.ping(timeout)
        out, self.inbox = self.inbox, []
        return out

    def messages(self, timeout):
        """Reads PUBLISHes (acknowledging QoS 1) until `timeout` passes quietly; returns
        [(topic, payload bytes, qos, retain)]."""
        out, self.inbox = self.inbox, []
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.recv_packet(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                return out
            if got[0] == PUBLISH:
                out.append(self.parse_publish(got))
                self._ack(got)

    def parse_publish(self, got):
        _, flags, body = got
        qos = (flags >> 1) & 3
        topic_len = struct.unpack("!H", body[:2])[0]
        topic = body[2:2 + topic_len].decode()
        i = 2 + topic_len + (2 if qos else 0)
        if self.version == 5:
            n, used = self._varint(body[i:])
            i += used + n
        return topic, body[i:], qos, bool(flags & 1)


# ---------------------------------------------------------------------------------------------
# paho
# ---------------------------------------------------------------------------------------------

class Message:
    __slots__ = ("topic", "payload", "qos", "retain", "at")

    def __init__(self, topic, payload, qos, retain, at):
        self.topic, self.payload, self.qos, self.retain, self.at = topic, payload, qos, retain, at

    def key(self):
        return (self.topic, self.payload, self.qos, self.retain)

    def __repr__(self):
        return "Message(%r, %r, qos=%d, retain=%s)" % (self.topic, self.payload[:60], self.qos,
                                                       self.retain)


class PahoClient:
    """paho-mqtt 1.6.1 with a loop thread of our own (no automatic reconnect). Records CONNACK,
    SUBACK, PUBACK and messages; the disconnect time is kept (time.monotonic())."""

    def __init__(self, port, cafile, device=None, client_id=None, version=4, clean=True,
                 keepalive=60, alpn=None, context=None, will=None, session_expiry=None):
        self.client_id = client_id if client_id is not None else unique("paho")
        self.version = version
        self.port = port
        self.clean = clean
        self.session_expiry = session_expiry
        protocol = paho.MQTTv5 if version == 5 else paho.MQTTv311
        if version == 5:
            self.client = paho.Client(client_id=self.client_id, protocol=protocol)
        else:
            self.client = paho.Client(client_id=self.client_id, clean_session=clean,
                                      protocol=protocol)
        self.client.tls_set_context(context or client_context(cafile, device, alpn))
        self.keepalive = keepalive
        if will:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos, retain)
        self.cond = threading.Condition()
        self.connack = None  # (flags dict, rc int)
        self.disconnected_at = None
        self.disconnect_rc = None
        self.messages = []
        self.subacks = {}
        self.published = set()
        self._stop = False
        self._thread = None
        c = self.client
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish

    # ---- callbacks (loop thread) ----
    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.connack = (flags, int(rc.value if hasattr(rc, "value") else rc))
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self.cond:
            if self.disconnected_at is None:
                self.disconnected_at = time.monotonic()
                self.disconnect_rc = int(rc.value if hasattr(rc, "value") else rc)
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain),
                                         time.monotonic()))
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.cond:
            self.subacks[mid] = [int(g.value if hasattr(g, "value") else g) for g in granted]
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self.cond:
            self.published.add(mid)
            self.cond.notify_all()

    def _loop(self):
        while not self._stop:
            rc = self.client.loop(timeout=0.05)
            if rc != paho.MQTT_ERR_SUCCESS:
                with self.cond:
                    if self.disconnected_at is None:
                        self.disconnected_at = time.monotonic()
                        self.disconnect_rc = rc
                    self.cond.notify_all()
                return

    def wait(self, predicate, timeout=WAIT):
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    # ---- operations ----
    def connect(self, timeout=WAIT):
        """Returns the CONNACK return code (3.1.1) / reason code (5), or None when the
        connection ended without one."""
        kwargs = {}
        if self.version == 5:
            kwargs["clean_start"] = self.clean
            if self.session_expiry is not None:
                from paho.mqtt.properties import Properties
                from paho.mqtt.packettypes import PacketTypes
                p = Properties(PacketTypes.CONNECT)
                p.SessionExpiryInterval = self.session_expiry
                kwargs["properties"] = p
        self.client.connect(HOST, self.port, keepalive=self.keepalive, **kwargs)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        # paho writes from the caller's thread unless it believes its own loop thread runs;
        # with ours registered, publish/subscribe only queue and wake the loop (one writer on
        # the SSL socket).
        self.client._thread = self._thread
        self._thread.start()
        self.wait(lambda: self.connack is not None or self.disconnected_at is not None, timeout)
        return None if self.connack is None else self.connack[1]

    @property
    def session_present(self):
        return bool(self.connack[0].get("session present"))

    def subscribe(self, filters, qos=1, timeout=WAIT):
        """Returns the granted QoS / reason codes, or None if no SUBACK came."""
        if isinstance(filters, str):
            filters = [filters]
        rc, mid = self.client.subscribe([(f, qos) for f in filters])
        if rc != paho.MQTT_ERR_SUCCESS:
            return None
        self.wait(lambda: mid in self.subacks or self.disconnected_at is not None, timeout)
        return self.subacks.get(mid)

    def subscribe_many(self, filters, timeout=WAIT):
        """filters: [(filter, qos)] in one SUBSCRIBE. Returns the granted QoS list."""
        rc, mid = self.client.subscribe(list(filters))
        if rc != paho.MQTT_ERR_SUCCESS:
            return None
        self.wait(lambda: mid in self.subacks or self.disconnected_at is not None, timeout)
        return self.subacks.get(mid)

    def unsubscribe(self, filters):
        if isinstance(filters, str):
            filters = [filters]
        self.client.unsubscribe(filters)

    def publish(self, topic, payload, qos=0, retain=False, timeout=WAIT):
        """QoS 1 waits for the PUBACK; returns True once acknowledged (QoS 0: sent)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return info.rc == paho.MQTT_ERR_SUCCESS
        self.wait(lambda: info.mid in self.published or self.disconnected_at is not None,
                  timeout)
        return info.mid in self.published

    def wait_messages(self, count, timeout=WAIT, topic=None):
        def matching():
            return [m for m in self.messages if topic is None or m.topic == topic]
        self.wait(lambda: len(matching()) >= count, timeout)
        return matching()

    def wait_disconnected(self, timeout=WAIT):
        self.wait(lambda: self.disconnected_at is not None, timeout)
        return self.disconnected_at

    def payloads(self, topic=None):
        with self.cond:
            return [m.payload for m in self.messages if topic is None or m.topic == topic]

    def disconnect(self):
        """Clean DISCONNECT, then stop the loop."""
        if self.disconnected_at is None and self._thread is not None:
            self.client.disconnect()
            self.wait_disconnected(5)
        self.stop()

    def stop(self):
        self._stop = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        with contextlib.suppress(Exception):
            self.client.socket() and self.client.socket().close()

    def drop(self):
        """Abrupt close: the socket goes away without DISCONNECT."""
        self._stop = True
        if self._thread is not None:
            self._thread.join(5)
        sock = self.client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


# ---------------------------------------------------------------------------------------------
# Lifecycle events
# ---------------------------------------------------------------------------------------------

class EventWatcher(PahoClient):
    """An allow-all client subscribed to `$aws/events/#` (QoS 1)."""

    def start(self):
        rc = self.connect()
        assert rc == 0, "event watcher refused: %r" % rc
        granted = self.subscribe("$aws/events/#", qos=1)
        assert granted == [1], granted
        return self

    def events(self, kind=None, client_id=None):
        """kind: 'presence/connected', 'subscriptions/subscribed', ..."""
        out = []
        with self.cond:
            messages = list(self.messages)
        for m in messages:
            if kind is not None and not m.topic.startswith("$aws/events/%s/" % kind):
                continue
            if client_id is not None and m.topic.rsplit("/", 1)[1] != client_id:
                continue
            out.append((m.topic, json.loads(m.payload)))
        return out

    def wait_event(self, kind, client_id, count=1, timeout=WAIT):
        self.wait(lambda: len(self.events(kind, client_id)) >= count, timeout)
        found = self.events(kind, client_id)
        assert len(found) >= count, "no %s event for %s within %ss; have %r" % (
            kind, client_id, timeout, [t for t, _ in self.events()][-20:])
        return [e for _, e in found]


# ---------------------------------------------------------------------------------------------
# mosquitto clients
# ---------------------------------------------------------------------------------------------

def mosquitto_args(port, cafile, device, version="mqttv311", alpn=None, cert=None, key=None):
    args = ["-h", HOST, "-p", str(port), "--cafile", cafile, "-V", version]
    if device is not None:
        args += ["--cert", device.cert, "--key", device.key]
    elif cert is not None:
        args += ["--cert", cert, "--key", key]
    if alpn:
        args += ["--tls-alpn", alpn]
    return args


def mosquitto_pub(port, cafile, device, topic, message, qos=0, retain=False, client_id=None,
                  version="mqttv311", alpn=None, extra=(), timeout=30):
    args = [MOSQUITTO_PUB] + mosquitto_args(port, cafile, device, version, alpn) + [
        "-t", topic, "-q", str(qos)] + (["-n"] if message is None else ["-m", message])
    if retain:
        args.append("-r")
    if client_id:
        args += ["-i", client_id]
    return subprocess.run(args + list(extra), capture_output=True, text=True, timeout=timeout)


FORMAT = "MSG\t%t\t%q\t%r\t%p"


class MosquittoSub:
    """mosquitto_sub in the background with -d (to see the SUBACK) and a tab-separated format
    (topic, qos, retain, payload) for messages."""

    def __init__(self, port, cafile, device, filters, qos=1, client_id=None, version="mqttv311",
                 count=None, clean=True, alpn=None, extra=(), wait_seconds=60):
        if isinstance(filters, str):
            filters = [filters]
        args = [MOSQUITTO_SUB] + mosquitto_args(port, cafile, device, version, alpn) + [
            "-q", str(qos), "-d", "-F", FORMAT, "-W", str(wait_seconds)]
        for f in filters:
            args += ["-t", f]
        if client_id:
            args += ["-i", client_id]
        if count:
            args += ["-C", str(count)]
        if not clean:
            args.append("-c")
        # stdbuf: mosquitto_sub's stdout is a pipe here, line-buffer it to see the SUBACK.
        self.proc = subprocess.Popen(["/usr/bin/stdbuf", "-oL"] + args + list(extra), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     text=True, bufsize=1)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF
            self.cond.notify_all()

    def wait(self, predicate, timeout=WAIT):
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def wait_subscribed(self, timeout=WAIT):
        ok = self.wait(lambda: any(l and "received SUBACK" in l for l in self.lines), timeout)
        assert ok, "mosquitto_sub got no SUBACK:\n%s" % self.output()
        return self

    def messages(self):
        with self.cond:
            lines = [l for l in self.lines if l and l.startswith("MSG\t")]
        out = []
        for l in lines:
            _, topic, qos, retain, payload = l.split("\t", 4)
            out.append((topic, payload, int(qos), retain == "1"))
        return out

    def wait_messages(self, count, timeout=WAIT):
        self.wait(lambda: len(self.messages()) >= count, timeout)
        return self.messages()

    def finish(self, timeout=WAIT):
        """Waits for the process to exit by itself; returns its exit code (None if it did not)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(5)
        return self.proc.returncode

    def output(self):
        with self.cond:
            return "\n".join(l for l in self.lines if l is not None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.reader.join(5)
        with contextlib.suppress(Exception):
            self.proc.stdout.close()
