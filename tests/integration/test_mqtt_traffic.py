"""Allowed traffic, retained messages, persistent sessions and metrics (spec §9).

The broker end to end with real clients (see mqtt_case.py); one server per class.
"""

import ssl
import time
import unittest

import mqtt_util as mu
from mqtt_util import allow, policy, unique
from mqtt_case import MqttTestCase, parse_v5_properties


# =============================================================================================
# 1. Allowed traffic
# =============================================================================================

class AllowedTrafficTest(MqttTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.scoped = "traffic-scope"
        mu.ensure_policy(cls.iot, cls.scoped, policy(
            allow("iot:Connect", "client/*"),
            allow(["iot:Publish", "iot:Receive"], "topic/traffic/*"),
            allow("iot:Subscribe", "topicfilter/traffic/*")))

    def test_mosquitto_v311_and_v5_qos0_and_qos1(self):
        device = self.cli_device(self.scoped)  # the real aws CLI makes the certificate
        for version in ("mqttv311", "mqttv5"):
            with self.subTest(version=version):
                base = "traffic/%s/%s" % (version, unique("t"))
                s = self.sub(device, base + "/#", qos=1, count=3, version=version).wait_subscribed()
                self.pub_ok(device, base + "/a", "zero", qos=0, version=version)
                self.pub_ok(device, base + "/b", "one", qos=1, version=version)
                self.pub_ok(device, base + "/c/d", "x" * 5000, qos=1, version=version)
                self.assertEqual(s.finish(), 0, s.output())
                self.assertEqual(s.messages(), [(base + "/a", "zero", 0, False),
                                                (base + "/b", "one", 1, False),
                                                (base + "/c/d", "x" * 5000, 1, False)])

    def test_paho_cross_version(self):
        device = self.device(self.scoped)
        base = "traffic/paho/" + unique("t")
        v5 = self.connected_paho(device, version=5)
        v3 = self.connected_paho(device, version=4)
        self.assertEqual(v5.subscribe(base + "/v3/+", qos=1), [1])
        self.assertEqual(v3.subscribe(base + "/v5/#", qos=0), [0])
        self.assertTrue(v3.publish(base + "/v3/a", b"q1 from 3.1.1", qos=1))
        self.assertTrue(v3.publish(base + "/v3/b", b"q0 from 3.1.1", qos=0))
        self.assertTrue(v5.publish(base + "/v5/a", b"q1 from 5", qos=1))
        got5 = v5.wait_messages(2)
        got3 = v3.wait_messages(1)
        self.assertEqual(sorted(m.key() for m in got5),
                         [(base + "/v3/a", b"q1 from 3.1.1", 1, False),
                          (base + "/v3/b", b"q0 from 3.1.1", 0, False)])
        # Granted QoS 0: delivered at QoS 0 although published at QoS 1.
        self.assertEqual([m.key() for m in got3], [(base + "/v5/a", b"q1 from 5", 0, False)])
        v3.disconnect()
        v5.disconnect()

    def test_alpn_port_requires_alpn(self):
        device = self.device(self.scoped)
        port = self.server.mqtt_alpn_port
        topic = "traffic/alpn/" + unique("t")
        # mosquitto 2.0.11 has --tls-alpn.
        s = mu.MosquittoSub(port, self.server.ca_bundle, device, topic, count=1,
                            alpn=mu.ALPN)
        self.addCleanup(s.stop)
        s.wait_subscribed()
        self.pub_ok(device, topic, "via alpn", qos=1, port=port, alpn=mu.ALPN)
        self.assertEqual(s.finish(), 0, s.output())
        self.assertEqual(s.messages(), [(topic, "via alpn", 1, False)])
        # paho with an ssl context that offers the protocol.
        p = self.paho(device, port=port, alpn=mu.ALPN)
        self.assertEqual(p.connect(), 0)
        self.assertTrue(p.publish(topic, b"paho alpn", qos=1))
        p.disconnect()
        # Without ALPN, or with another protocol: no MQTT session on that port.
        for alpn in (None, "mqtt", "http/1.1"):
            with self.subTest(alpn=alpn):
                proc = self.pub(device, topic, "x", qos=1, port=port, alpn=alpn)
                self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                self.assertFalse(self._raw_session_works(port, device, alpn))
        # The 8883-style port does not require ALPN, and ignores an offered protocol.
        self.assertTrue(self._raw_session_works(self.server.mqtt_port, device, None))
        self.assertTrue(self._raw_session_works(self.server.mqtt_port, device, "bogus"))
        self.assertBrokerAlive()

    def _raw_session_works(self, port, device, alpn):
        try:
            c = mu.RawMqtt(port, self.server.ca_bundle, device, alpn=alpn, timeout=5)
        except (ssl.SSLError, OSError):
            return False
        with c:
            try:
                present, rc = c.connect(unique("alpn"))
            except (mu.Closed, TimeoutError, OSError):
                return False
            return rc == 0


# =============================================================================================
# 6. Retained messages, persistent sessions
# =============================================================================================

class RetainedAndSessionTest(MqttTestCase):

    def test_retained_only_for_exact_filter(self):
        base = "ret/" + unique("r")
        topic = base + "/a/b"
        self.pub_ok(self.admin, topic, "kept", qos=1, retain=True)
        exact = self.sub(self.admin, topic, qos=1, count=1).wait_subscribed()
        self.assertEqual(exact.finish(), 0, exact.output())
        self.assertEqual(exact.messages(), [(topic, "kept", 1, True)])
        # Wildcard filters get nothing on subscribe (AWS rule).
        wild = self.connected_raw(self.admin, version=4)
        self.assertEqual(wild.subscribe([(base + "/#", 1), (base + "/+/b", 1)]), [1, 1])
        self.assertEqual(wild.drain(), [])
        # An exact subscriber at QoS 0 gets it at QoS 0, flagged retained.
        exact0 = self.connected_raw(self.admin, version=5)
        self.assertEqual(exact0.subscribe([(topic, 0)]), [0])
        self.assertEqual(exact0.drain(), [(topic, b"kept", 0, True)])
        # A live retained publish reaches everyone once, RETAIN=0 (3.1.1) on live delivery.
        self.pub_ok(self.admin, topic, "replaced", qos=1, retain=True)
        self.assertEqual(wild.drain(), [(topic, b"replaced", 1, False)])
        self.assertEqual(exact0.drain(), [(topic, b"replaced", 0, False)])
        again = self.sub(self.admin, topic, qos=1, count=1).wait_subscribed()
        self.assertEqual(again.finish(), 0)
        self.assertEqual(again.messages(), [(topic, "replaced", 1, True)])
        # An empty retained payload deletes it (and is forwarded to live subscribers).
        proc = self.pub(self.admin, topic, None, qos=1, retain=True)  # -n: empty payload
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(wild.drain(), [(topic, b"", 1, False)])
        late = self.connected_raw(self.admin, version=4)
        self.assertEqual(late.subscribe([(topic, 1)]), [1])
        self.assertEqual(late.drain(), [])
        for c in (wild, exact0, late):
            c.disconnect()

    def test_retain_requires_retain_publish(self):
        name = self.make_policy(allow("iot:Connect", "client/*"),
                                allow("iot:Publish", "topic/rp/*"),
                                allow("iot:RetainPublish", "topic/rp/ok/*"))
        device = self.device(name)
        c = self.connected_raw(device, version=5)
        self.assertEqual(c.publish("rp/no/x", "r", qos=1, retain=True), 0x87)
        self.assertEqual(c.publish("rp/no/x", "not retained", qos=1), 0)
        self.assertEqual(c.publish("rp/ok/x", "r", qos=1, retain=True), 0)
        c.disconnect()
        check = self.connected_raw(self.admin, version=4)
        self.assertEqual(check.subscribe(["rp/no/x", "rp/ok/x"]), [1, 1])
        self.assertEqual(check.drain(), [("rp/ok/x", b"r", 1, True)])
        check.disconnect()

    def test_persistent_session_v311(self):
        cid = unique("persist")
        base = "ps/" + unique("s")
        # mosquitto_sub -c -E: subscribe QoS 1 in a persistent session and leave at once.
        s = self.sub(self.admin, base + "/#", qos=1, client_id=cid, clean=False, extra=["-E"])
        self.assertEqual(s.finish(), 0, s.output())
        for i in range(3):
            self.pub_ok(self.admin, "%s/m%d" % (base, i), "offline %d" % i, qos=1)
        self.pub_ok(self.admin, base + "/q0", "qos0 not stored", qos=0)
        # Resume with the raw client: sessionPresent and the queued QoS 1 messages in order.
        c = self.raw(self.admin, 4)
        self.assertEqual(c.connect(cid, clean=False), (True, 0))
        got = c.drain()
        self.assertEqual(got, [("%s/m%d" % (base, i), b"offline %d" % i, 1, False)
                               for i in range(3)])
        c.disconnect()
        # mosquitto_sub resumes too.
        self.pub_ok(self.admin, base + "/m3", "offline 3", qos=1)
        s = self.sub(self.admin, base + "/#", qos=1, client_id=cid, clean=False, count=1)
        self.assertEqual(s.finish(), 0, s.output())
        self.assertEqual(s.messages(), [(base + "/m3", "offline 3", 1, False)])
        # A clean connect drops the session and what it held.
        self.pub_ok(self.admin, base + "/m4", "dropped", qos=1)
        c = self.raw(self.admin, 4)
        self.assertEqual(c.connect(cid, clean=True), (False, 0))
        self.assertEqual(c.drain(), [])
        c.disconnect()
        c = self.raw(self.admin, 4)
        self.assertEqual(c.connect(cid, clean=False), (False, 0))
        self.pub_ok(self.admin, base + "/m5", "no subscription any more", qos=1)
        self.assertEqual(c.drain(), [])
        c.disconnect()

    def test_v5_session_expiry_capped(self):
        cid = unique("expiry")
        c = self.raw(self.admin, 5)
        c.send(mu.connect_packet(cid, 5, clean=True, session_expiry=7200))
        _, _, body = c.expect(mu.CONNACK)
        self.assertEqual(body[1], 0)
        properties = parse_v5_properties(body[2:])
        self.assertEqual(properties.get(0x11), 3600)     # Session Expiry Interval, capped
        self.assertEqual(properties.get(0x24), 1)        # Maximum QoS
        self.assertEqual(properties.get(0x29), 0)        # Subscription Identifiers: no
        self.assertEqual(properties.get(0x13), 60)       # Server Keep Alive
        self.assertEqual(c.subscribe([(unique("exp") + "/x", 1)]), [1])
        c.disconnect()
        c = self.raw(self.admin, 5)
        c.send(mu.connect_packet(cid, 5, clean=False, session_expiry=60))
        _, _, body = c.expect(mu.CONNACK)
        self.assertEqual((body[0] & 1, body[1]), (1, 0))
        self.assertNotIn(0x11, parse_v5_properties(body[2:]))
        c.disconnect()


# =============================================================================================
# 10. Metrics
# =============================================================================================

class MetricsTest(MqttTestCase):

    def test_metrics_reflect_traffic(self):
        before = self.metrics()
        self.assertIn("fleetgate_mqtt_connections", before)
        limited = self.device(self.make_policy(allow("iot:Connect", "client/*"),
                                               allow("iot:Publish", "topic/m/*")))
        sub = self.connected_raw(self.admin, version=4)
        self.assertEqual(sub.subscribe([("m/#", 1)]), [1])
        pubber = self.connected_raw(limited, version=5)
        for i in range(3):
            self.assertEqual(pubber.publish("m/%d" % i, "x", qos=1), 0)
        self.assertEqual(pubber.publish("other/x", "x", qos=1), 0x87)
        self.assertEqual(len(sub.drain()), 3)
        during = self.metrics()

        def delta(name):
            return during.get(name, 0) - before.get(name, 0)
        self.assertEqual(delta("fleetgate_mqtt_connects_total"), 2)
        self.assertEqual(during["fleetgate_mqtt_connections"], 2)
        self.assertEqual(delta("fleetgate_mqtt_messages_received_total"), 3)
        # The subscriber's 3 plus the lifecycle events nobody subscribed to are not sent.
        self.assertEqual(delta("fleetgate_mqtt_messages_sent_total"), 3)
        self.assertEqual(delta('fleetgate_mqtt_policy_denials_total{action="iot:Publish"}'), 1)
        self.assertGreater(delta("fleetgate_mqtt_received_bytes_total"), 0)
        sub.disconnect()
        pubber.disconnect()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            after = self.metrics()
            if after["fleetgate_mqtt_connections"] == 0:
                break
            time.sleep(0.1)
        self.assertEqual(after["fleetgate_mqtt_connections"], 0)
        self.assertEqual(after['fleetgate_mqtt_disconnects_total{reason="CLIENT_INITIATED_DISCONNECT"}']
                         - before.get('fleetgate_mqtt_disconnects_total{reason="CLIENT_INITIATED_DISCONNECT"}', 0), 2)


if __name__ == "__main__":
    unittest.main()
