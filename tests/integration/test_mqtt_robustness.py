"""Bad input, keep-alive and concurrent connects: the broker stays up and says no.

The broker end to end with real clients (see mqtt_case.py); one server per class.
"""

import socket
import time
import unittest

import mqtt_util as mu
from mqtt_util import unique
from mqtt_case import MqttTestCase, parse_v5_properties


# =============================================================================================
# 9. Bad input
# =============================================================================================

class BadInputTest(MqttTestCase):

    def fresh(self, version=4, connect=True):
        c = self.raw(self.admin, version, timeout=5)
        if connect:
            self.assertEqual(c.connect(unique("bad"))[1], 0)
        return c

    def assertClosed(self, c, timeout=3):
        self.assertTrue(c.closed_within(timeout), "connection still open; got %r" % c.received)

    def test_malformed_and_truncated_packets(self):
        cases = {
            "bad protocol name": (False, mu.connect_packet("x", 4, protocol_name="MQTX")),
            "reserved CONNECT flag": (False, mu.packet(mu.CONNECT, 0, mu.mstr("MQTT") +
                                                       bytes([4, 0x03]) + b"\x00\x3c" +
                                                       mu.mstr("x"))),
            "CONNECT fixed-header flags": (False, bytes([0x11]) + mu.connect_packet("x")[1:]),
            "CONNECT body truncated inside a string":
                (False, mu.packet(mu.CONNECT, 0, mu.mstr("MQTT") + bytes([4, 2]) + b"\x00\x3c" +
                                  b"\x00\x20abc")),
            "PUBLISH body shorter than its topic length":
                (True, mu.packet(mu.PUBLISH, 0, b"\x00\x40ab")),
            "SUBSCRIBE with wrong fixed-header flags":
                (True, bytes([0x80]) + mu.subscribe_packet(1, [("a/b", 1)])[1:]),
            "SUBSCRIBE with no filters": (True, mu.packet(mu.SUBSCRIBE, 2, b"\x00\x01")),
            "SUBSCRIBE QoS 3": (True, mu.packet(mu.SUBSCRIBE, 2, b"\x00\x01" + mu.mstr("a") +
                                                b"\x03")),
            "reserved packet type 0": (True, b"\x00\x00"),
            "reserved packet type 15": (True, b"\xf0\x00"),
            "CONNACK from a client": (True, mu.packet(mu.CONNACK, 0, b"\x00\x00")),
            "PUBLISH QoS 3": (True, mu.packet(mu.PUBLISH, 6, mu.mstr("a/b") + b"\x00\x01x")),
            "empty topic (3.1.1)": (True, mu.publish_packet("", "x")),
            "five-byte remaining length": (True, b"\x30\xff\xff\xff\xff\x7f"),
            "remaining length of 256 MB": (True, b"\x30\xff\xff\xff\x7f"),
            "topic with +": (True, mu.publish_packet("a/+/c", "x")),
            "topic with #": (True, mu.publish_packet("a/#", "x", qos=1)),
            "topic with U+0000": (True, mu.publish_packet("a/\x00/c", "x")),
            "invalid UTF-8 topic": (True, mu.packet(mu.PUBLISH, 0, b"\x00\x03a\xff\xfe" + b"x")),
            "UTF-16 surrogate in topic": (True, mu.packet(mu.PUBLISH, 0,
                                                           b"\x00\x05a/\xed\xa0\x80x")),
            "second CONNECT": (True, mu.connect_packet(unique("again"))),
            "QoS 2 PUBLISH": (True, mu.publish_packet("a/b", "x", qos=2, pid=4)),
            "PUBREL": (True, mu.packet(6, 2, b"\x00\x01")),
            "129 KB payload": (True, mu.publish_packet("big/x", b"x" * (129 * 1024), qos=1)),
            "topic over 256 bytes": (True, mu.publish_packet("a" * 257, "x")),
            "topic with 8 slashes": (True, mu.publish_packet("a/b/c/d/e/f/g/h/i", "x")),
        }
        for name, (after_connect, data) in cases.items():
            with self.subTest(name):
                c = self.fresh(connect=after_connect)
                c.send(data)
                self.assertClosed(c)
                if not after_connect:
                    # No session: at most a refusing CONNACK (return code 1 for a protocol
                    # name/level the server does not speak, MQTT 3.1.1 §3.1.2.1-2).
                    self.assertEqual([p for p in c.received if p[0] == mu.CONNACK and
                                      p[2][1:2] == b"\x00"], [])
                self.assertBrokerAlive()

    def test_truncated_packet_then_client_goes_away(self):
        for data in (mu.connect_packet("trunc")[:7], b"\x30", b"\x30\x80",
                     mu.publish_packet("a/b", "x" * 100)[:20]):
            c = self.fresh(connect=data[0] != 0x10)
            c.send(data)
            c.close()
        self.assertBrokerAlive()

    def test_publish_before_connect(self):
        for data in (mu.publish_packet("a/b", "x"), mu.subscribe_packet(1, [("a", 0)]),
                     mu.packet(mu.PINGREQ, 0, b""), mu.disconnect_packet()):
            with self.subTest(packet=data[0] >> 4):
                c = self.fresh(connect=False)
                c.send(data)
                self.assertClosed(c)
                self.assertEqual(c.received, [])
        self.assertBrokerAlive()

    def test_wrong_protocol_level(self):
        for level in (3, 6, 0):
            with self.subTest(level=level):
                c = self.fresh(connect=False)
                c.send(mu.connect_packet("lvl", level))
                self.assertClosed(c)
                self.assertEqual(c.received, [(mu.CONNACK, 0, b"\x00\x01")])
        self.assertBrokerAlive()

    def test_payload_limit_boundary(self):
        c = self.fresh(5)
        self.assertEqual(c.publish("big/ok", b"y" * (128 * 1024), qos=1), 0)
        c.send(mu.publish_packet("big/no", b"y" * (128 * 1024 + 1), qos=1, pid=9, version=5))
        self.assertClosed(c)
        self.assertBrokerAlive()

    def test_subscribe_limits(self):
        c = self.fresh(4)
        nine = [("lim/%d" % i, 1) for i in range(9)]
        self.assertEqual(c.subscribe(nine), [1] * 8 + [0x80])
        self.assertEqual(c.subscribe([("lim/q2", 2)]), [1])  # QoS 2 granted as 1
        more = [("lim/more/%d" % i, 0) for i in range(42)]
        codes = []
        for i in range(0, len(more), 8):
            codes += c.subscribe(more[i:i + 8])
        # 9 held so far; 42 more: the 50-subscription cap refuses exactly the last.
        self.assertEqual(codes, [0] * 41 + [0x80])
        # Re-subscribing to a held filter is not a new subscription.
        self.assertEqual(c.subscribe([("lim/0", 0)]), [0])
        # `$` topics outside the AWS device namespace: SUBACK failure.
        self.assertEqual(c.subscribe([("$SYS/#", 0)]), [0x80])
        c.disconnect()
        c5 = self.fresh(5)
        self.assertEqual(c5.subscribe([("$SYS/#", 0), ("$aws/things/t/shadow/get/+", 1),
                                       ("$aws/events/presence/#", 1), ("$share/g/a", 0)]),
                         [0x8F, 1, 1, 0x9E])
        # Publishing outside the allowed `$` topics: v5 PUBACK 0x90, 3.1.1 closed.
        self.assertEqual(c5.publish("$foo/bar", "x", qos=1), 0x90)
        self.assertEqual(c5.publish("$aws/events/presence/connected/spoof", "x", qos=1), 0x90)
        self.assertEqual(c5.publish("$aws/things/t/shadow/update", "{}", qos=1), 0)
        self.assertEqual(c5.publish("$aws/rules/myrule/data", "{}", qos=1), 0)
        c5.disconnect()
        c3 = self.fresh(4)
        c3.send(mu.publish_packet("$aws/events/presence/connected/spoof", "x", qos=1))
        self.assertClosed(c3)
        self.assertBrokerAlive()

    def test_basic_ingest_reaches_no_subscriber(self):
        c = self.fresh(5)
        self.assertEqual(c.subscribe([("$aws/things/t/shadow/#", 1)]), [1])
        spy = self.fresh(4)
        self.assertEqual(spy.subscribe([("#", 1)]), [1])
        c.publish("$aws/rules/r1/sensors/a", "ingest", qos=1)
        c.publish("$aws/things/t/shadow/update", "shadow", qos=1)
        self.assertEqual([(t, p) for t, p, _, _ in c.drain()],
                         [("$aws/things/t/shadow/update", b"shadow")])
        # `#` does not match topics starting with `$` (MQTT §4.7.2).
        self.assertEqual(spy.drain(), [])

    def test_unfinished_handshake_and_missing_connect_are_closed(self):
        """Slowloris: one TCP connection that never starts TLS, one that never finishes it,
        one TLS session that never sends CONNECT; all closed within the 10 s connect timeout."""
        silent = socket.create_connection((mu.HOST, self.server.mqtt_port), timeout=20)
        self.addCleanup(silent.close)
        partial = socket.create_connection((mu.HOST, self.server.mqtt_port), timeout=20)
        self.addCleanup(partial.close)
        partial.sendall(b"\x16\x03\x01\x00\x50\x01\x00\x00\x4c\x03\x03")  # half a ClientHello
        no_connect = self.raw(self.admin, 4, timeout=20)
        half_connect = self.raw(self.admin, 4, timeout=20)
        half_connect.send(mu.connect_packet("half")[:5])
        started = time.monotonic()
        ends = {}
        for name, sock in (("silent", silent), ("partial", partial)):
            sock.settimeout(max(0.1, started + 15 - time.monotonic()))
            try:
                while sock.recv(4096):
                    pass
            except (socket.timeout, TimeoutError):
                self.fail("%s TCP connection not closed within 15 s" % name)
            except OSError:
                pass
            ends[name] = time.monotonic() - started
        for name, c in (("no CONNECT", no_connect), ("half CONNECT", half_connect)):
            self.assertTrue(c.closed_within(max(0.1, started + 15 - time.monotonic())),
                            "%s not closed within 15 s" % name)
            ends[name] = time.monotonic() - started
        for name, t in ends.items():
            self.assertGreater(t, 5, "%s closed after %.1f s: too early for a 10 s timeout" % (
                name, t))
        self.assertBrokerAlive()

    def test_client_disconnects_mid_stream(self):
        """Connections torn down at awkward moments: after CONNECT without reading CONNACK,
        in the middle of a QoS 1 exchange, with unacknowledged deliveries."""
        sub = self.fresh(4)
        self.assertEqual(sub.subscribe([("mid/#", 1)]), [1])
        for i in range(5):
            c = self.fresh(4, connect=False)
            c.send(mu.connect_packet(unique("mid")) + mu.publish_packet("mid/x", "m%d" % i, 1, pid=1))
            c.close()
        sub.close()  # unacknowledged deliveries pending
        self.assertBrokerAlive()


class KeepAliveTest(MqttTestCase):
    """Idle connection past keep-alive: 1 s requested -> 30 s effective -> closed at 45 s.
    Its own class: it costs ~46 s."""

    def test_idle_connection_closed_after_one_and_a_half_keep_alive(self):
        watcher = self.watcher()
        cid = unique("idle")
        c = self.raw(self.admin, 5, timeout=60)
        c.send(mu.connect_packet(cid, 5, keepalive=1))
        _, _, body = c.expect(mu.CONNACK)
        self.assertEqual(parse_v5_properties(body[2:]).get(0x13), 30)  # Server Keep Alive
        # A 3.1.1 client that pings stays connected throughout.
        pinger = self.raw(self.admin, 4, timeout=60)
        self.assertEqual(pinger.connect(unique("pinger"), keepalive=1)[1], 0)
        started = time.monotonic()
        closed_at = None
        while time.monotonic() - started < 55:
            pinger.ping(5)
            if c.closed_within(5):
                closed_at = time.monotonic() - started
                break
        self.assertIsNotNone(closed_at, "idle client still connected after 55 s")
        self.assertGreater(closed_at, 40)
        self.assertLess(closed_at, 50)
        disconnects = [p for p in c.received if p[0] == mu.DISCONNECT]
        self.assertEqual([d[2][:1] for d in disconnects], [b"\x8d"])  # Keep Alive timeout
        event = watcher.wait_event("presence/disconnected", cid)[0]
        self.assertEqual(event["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT")
        pinger.ping(5)  # still alive
        pinger.disconnect()


class ConcurrentConnectTest(MqttTestCase):
    """Many clients at once, each pipelining CONNECT, SUBSCRIBE and PUBLISH in one write: a
    connection accepted by one broker worker moves to the worker owning its client id while
    the packets behind its CONNECT are still being handled. More workers than cores, so that
    most connections move and the two threads interleave."""

    serve_args = ("--mqtt-workers", "8")

    def test_pipelined_connects_in_parallel(self):
        import concurrent.futures

        def one(i):
            cid = "pipe-%d-%s" % (i, unique("c"))
            with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, self.admin,
                            timeout=10, version=4 + (i % 2)) as c:
                c.send(mu.connect_packet(cid, c.version) +
                       mu.subscribe_packet(1, [("pipe/%s" % cid, 1)], c.version) +
                       mu.publish_packet("pipe/%s" % cid, "m%d" % i, qos=1, pid=2,
                                         version=c.version))
                got = set()
                deadline = time.monotonic() + 10
                while len(got) < 4 and time.monotonic() < deadline:
                    ptype, _, body = c.recv_packet(max(0.01, deadline - time.monotonic()))
                    got.add(ptype)
                    if ptype == mu.PUBLISH:
                        c._ack((ptype, _, body))
                c.disconnect()
                return got

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(300)))
        self.assertTrue(self.server.running(), "broker died:\n" + self.server.log_tail())
        self.assertEqual([r for r in results if r != {mu.CONNACK, mu.SUBACK, mu.PUBACK,
                                                        mu.PUBLISH}], [])
        self.assertBrokerAlive()

    def test_connect_then_immediate_close_in_parallel(self):
        """CONNECT + PUBLISH + end of stream in one burst, without waiting for CONNACK: the
        end of stream is seen by the worker that accepted the connection, while the
        connection is being handed to the worker that owns its client id."""
        import concurrent.futures

        def one(i):
            try:
                c = mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, self.admin,
                               timeout=5)
            except OSError:
                return "connect failed"
            try:
                c.send(mu.connect_packet("burst-%d-%s" % (i, unique("c"))) +
                       mu.publish_packet("burst/x", "m", qos=1, pid=1))
                if i % 2:
                    c.sock.settimeout(0.5)
                    try:
                        c.sock.unwrap()  # TLS close_notify right behind the packets
                    except (OSError, ValueError):
                        pass
            finally:
                c.close()
            return "ok"

        for round in range(5):
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                results = list(pool.map(one, range(200)))
            self.assertTrue(self.server.running(),
                            "broker died in round %d:\n%s" % (round, self.server.log_tail()))
            self.assertEqual(set(results), {"ok"})
        self.assertBrokerAlive()
        # Every one of those connections is gone again.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.metrics()["fleetgate_mqtt_connections"] == 0:
                break
            time.sleep(0.2)
        self.assertEqual(self.metrics()["fleetgate_mqtt_connections"], 0)


if __name__ == "__main__":
    unittest.main()
