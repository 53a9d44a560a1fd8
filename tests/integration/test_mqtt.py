"""The MQTT broker end to end (spec §8 policies, §9 broker behaviour).

Real clients: the Debian mosquitto clients (mosquitto_pub / mosquitto_sub 2.0.11) and
python3-paho-mqtt 1.6.1; a small hand-written codec (mqtt_util.RawMqtt) where a real client
cannot show what the broker answered (MQTT 5 PUBACK reason codes under paho 1.6.1) or cannot
send bad input. Certificates come from the real `aws iot create-keys-and-certificate` for the
headline flows, boto3 for bulk setup, and openssl for CSRs, self-signed and dated certificates.
One server per class; clients only on 127.0.0.1; every wait is bounded.
"""

import os
import re
import socket
import ssl
import struct
import time
import unittest

import harness
import mqtt_util as mu
from mqtt_util import ALLOW_ALL, allow, deny, policy, unique

HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


class MqttTestCase(harness.ServerTestCase):
    """A server, an allow-all `admin` device and helpers that clean up after themselves."""

    serve_args = ()  # extra `fleetgate serve` flags for the class's server

    @classmethod
    def setUpClass(cls):
        # harness.ServerTestCase.setUpClass, with the class's serve flags.
        cls.server = harness.Server(serve_args=cls.serve_args)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.iot = cls.server.client()
        cls.devdir = os.path.join(cls.server.tmp, "devices")
        os.makedirs(cls.devdir, mode=0o700)
        cls.pki = mu.MqttPki(os.path.join(cls.server.tmp, "pki"))
        mu.ensure_policy(cls.iot, "allow-all", ALLOW_ALL)
        cls.admin = mu.create_device(cls.iot, cls.devdir, ["allow-all"])

    # ---- clients ----
    def paho(self, device, **kwargs):
        client = mu.PahoClient(self.server.mqtt_port if "port" not in kwargs else kwargs.pop("port"),
                               self.server.ca_bundle, device, **kwargs)
        self.addCleanup(client.stop)
        return client

    def connected_paho(self, device, **kwargs):
        client = self.paho(device, **kwargs)
        rc = client.connect()
        self.assertEqual(rc, 0, "paho refused: %r\n%s" % (rc, self.server.log_tail()))
        return client

    def raw(self, device, version=4, port=None, **kwargs):
        client = mu.RawMqtt(port or self.server.mqtt_port, self.server.ca_bundle, device,
                            version=version, **kwargs)
        self.addCleanup(client.close)
        return client

    def connected_raw(self, device, client_id=None, version=4, **kwargs):
        client = self.raw(device, version)
        present, rc = client.connect(client_id or unique("raw"), **kwargs)
        self.assertEqual(rc, 0)
        return client

    def watcher(self):
        w = mu.EventWatcher(self.server.mqtt_port, self.server.ca_bundle, self.admin,
                            client_id=unique("watcher"))
        self.addCleanup(w.stop)
        return w.start()

    def sub(self, device, filters, **kwargs):
        s = mu.MosquittoSub(self.server.mqtt_port, self.server.ca_bundle, device, filters,
                            **kwargs)
        self.addCleanup(s.stop)
        return s

    def pub(self, device, topic, message, **kwargs):
        port = kwargs.pop("port", self.server.mqtt_port)
        return mu.mosquitto_pub(port, self.server.ca_bundle, device, topic, message, **kwargs)

    def pub_ok(self, device, topic, message, **kwargs):
        proc = self.pub(device, topic, message, **kwargs)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def device(self, *policy_names):
        return mu.create_device(self.iot, self.devdir, policy_names)

    def make_policy(self, *statements):
        name = unique("pol")
        mu.ensure_policy(self.iot, name, policy(*statements))
        return name

    def cli_device(self, *policy_names):
        """CreateKeysAndCertificate through the real aws CLI, policies attached with it too."""
        out = self.aws_ok("create-keys-and-certificate", "--set-as-active")
        self.assertRegex(out["certificateId"], HEX64_RE)
        device = mu.device_from_keys_and_certificate(self.devdir, out)
        self.assertEqual(os.stat(device.key).st_mode & 0o777, 0o600)
        for name in policy_names:
            self.aws_ok("attach-policy", "--policy-name", name, "--target", device.arn)
        return device

    def assertBrokerAlive(self):
        """A well-behaved client still connects and gets its QoS 1 PUBACK."""
        with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, self.admin) as c:
            present, rc = c.connect(unique("alive"))
            self.assertEqual(rc, 0)
            self.assertEqual(c.publish("alive/check", "ping", qos=1), 0)
            c.disconnect()
        self.assertTrue(self.server.running(), self.server.log_tail())

    def metrics(self):
        return mu.metrics(self.server)


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
# 2-3. Denied traffic, policy variables
# =============================================================================================

class PolicyEnforcementTest(MqttTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Scoped to the client's own topics; Connect restricted to client ids `dev-*`.
        mu.ensure_policy(cls.iot, "own-topics", policy(
            allow("iot:Connect", "client/dev-*"),
            allow(["iot:Publish", "iot:Receive"], "topic/dev/${iot:ClientId}/*"),
            allow("iot:Subscribe", "topicfilter/dev/${iot:ClientId}/*")))
        cls.own = mu.create_device(cls.iot, cls.devdir, ["own-topics"])

    def spy(self, filters="#"):
        """An allow-all subscriber that would see any message that got through."""
        spy = self.connected_paho(self.admin, version=5)
        self.assertEqual(spy.subscribe(filters, qos=1), [1])
        return spy

    def test_publish_outside_grant_v5_puback_0x87(self):
        spy = self.spy()
        cid = unique("dev")
        c = self.connected_raw(self.own, cid, version=5)
        self.assertEqual(c.publish("dev/%s-other/x" % cid, "denied", qos=1), 0x87)
        self.assertEqual(c.publish("elsewhere/x", "denied", qos=1), 0x87)
        c.publish("elsewhere/y", "denied qos0", qos=0)
        # The connection stays up and allowed traffic flows.
        self.assertEqual(c.publish("dev/%s/ok" % cid, "allowed", qos=1), 0)
        # One publisher's messages arrive in order: once "allowed" is in, anything published
        # before it would be too.
        got = spy.wait_messages(1, topic="dev/%s/ok" % cid)
        self.assertEqual(len(got), 1)
        self.assertEqual([m.payload for m in spy.messages
                          if m.payload.startswith(b"denied")], [])
        c.disconnect()

    def test_publish_outside_grant_v311_closes(self):
        spy = self.spy()
        for qos in (0, 1):
            with self.subTest(qos=qos):
                cid = unique("dev")
                c = self.connected_raw(self.own, cid, version=4)
                c.send(mu.publish_packet("elsewhere/%s" % cid, "denied", qos=qos, pid=7))
                self.assertTrue(c.closed_within(3), "3.1.1 client not closed")
                self.assertNotIn(mu.PUBACK, [p[0] for p in c.received])
        # mosquitto_pub (3.1.1, QoS 1) sees its connection closed: it fails.
        proc = self.pub(self.own, "elsewhere/mosq", "denied", qos=1, client_id=unique("dev"))
        self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        time.sleep(0.5)
        self.assertEqual([m.topic for m in spy.messages if m.topic.startswith("elsewhere/")], [])
        self.assertBrokerAlive()

    def test_subscribe_outside_grant(self):
        cid = unique("dev")
        c = self.connected_raw(self.own, cid, version=5)
        self.assertEqual(c.subscribe([("dev/%s/#" % cid, 1), ("elsewhere/#", 1),
                                      ("dev/%s/+/x" % cid, 0), ("#", 0)]),
                         [1, 0x87, 0, 0x87])
        c.disconnect()
        c3 = self.connected_raw(self.own, unique("dev"), version=4)
        c3.send(mu.subscribe_packet(3, [("elsewhere/#", 1)]))
        self.assertTrue(c3.closed_within(3))
        self.assertNotIn(mu.SUBACK, [p[0] for p in c3.received])
        # mosquitto_sub (3.1.1) is closed too.
        s = self.sub(self.own, "elsewhere/#", client_id=unique("dev"), wait_seconds=5)
        self.assertIsNotNone(s.finish(8))
        self.assertEqual(s.messages(), [])
        self.assertNotIn("received SUBACK", s.output())

    def test_connect_restricted_by_client_id(self):
        for version, refused in ((4, 5), (5, 0x87)):
            with self.subTest(version=version):
                c = self.raw(self.own, version)
                self.assertEqual(c.connect("not-dev-" + unique("x")), (False, refused))
                self.assertTrue(c.closed_within(3))
                ok = self.raw(self.own, version)
                self.assertEqual(ok.connect(unique("dev"))[1], 0)
                ok.disconnect()
        # mosquitto_pub reports the refusal.
        proc = self.pub(self.own, "dev/x/y", "m", client_id="intruder")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("refused", (proc.stdout + proc.stderr).lower())

    def test_receive_denied(self):
        name = self.make_policy(
            allow("iot:Connect", "client/*"),
            allow("iot:Subscribe", "topicfilter/rx/*"),
            allow("iot:Receive", "topic/rx/ok/*"))
        listener = self.device(name)
        base = unique("x")
        s = self.sub(listener, "rx/#", qos=1).wait_subscribed()
        self.pub_ok(self.admin, "rx/no/" + base, "must not arrive", qos=1)
        self.pub_ok(self.admin, "rx/ok/" + base, "arrives", qos=1)
        # The first publish was routed before its PUBACK, so before the second was sent: the
        # second's arrival means the first was decided.
        s.wait_messages(1)
        self.assertEqual(s.messages(), [("rx/ok/" + base, "arrives", 1, False)])

    def test_deny_wins_over_broad_allow(self):
        name = self.make_policy(
            allow("iot:*", "*"),
            deny("iot:Publish", "topic/secret/*"),
            deny("iot:Subscribe", "topicfilter/blocked/*"),
            deny("iot:Receive", "topic/hidden/*"),
            deny("iot:Connect", "client/banned-*"))
        device = self.device(name)
        c = self.connected_raw(device, unique("ok"), version=5)
        self.assertEqual(c.publish("secret/a", "no", qos=1), 0x87)
        self.assertEqual(c.publish("public/a", "yes", qos=1), 0)
        self.assertEqual(c.subscribe([("blocked/a", 1), ("hidden/#", 1), ("public/#", 1)]),
                         [0x87, 1, 1])
        self.pub_ok(self.admin, "hidden/x", "denied receive", qos=1)
        self.pub_ok(self.admin, "public/x", "marker", qos=1)
        got = c.drain()
        self.assertEqual([(t, p) for t, p, _, _ in got], [("public/x", b"marker")])
        c.disconnect()
        banned = self.raw(device, 5)
        self.assertEqual(banned.connect("banned-1"), (False, 0x87))

    def test_thing_name_variable(self):
        name = self.make_policy(
            allow("iot:Connect", "client/${iot:Connection.Thing.ThingName}"),
            allow("iot:Publish", "topic/things/${iot:Connection.Thing.ThingName}/*"))
        device = self.device(name)
        thing = unique("thing")
        self.iot.create_thing(thingName=thing)
        self.iot.attach_thing_principal(thingName=thing, principal=device.arn)
        c = self.connected_raw(device, thing, version=5)
        self.assertEqual(c.publish("things/%s/telemetry" % thing, "t", qos=1), 0)
        self.assertEqual(c.publish("things/other/telemetry", "t", qos=1), 0x87)
        c.disconnect()
        # A client id that is not the attached thing resolves nothing: refused.
        other = self.raw(device, 5)
        self.assertEqual(other.connect(unique("notathing")), (False, 0x87))

    def test_certificate_common_name_variable(self):
        name = self.make_policy(
            allow("iot:Connect", "client/*"),
            allow("iot:Publish", "topic/cn/${iot:Certificate.Subject.CommonName}/*"))
        # An openssl certificate with its own CN, registered without a CA.
        cn = unique("sensor")
        key = self.pki.key("ec")
        device = mu.register_without_ca(self.iot, self.pki, self.pki.self_signed(key, cn), key,
                                        policy_names=[name])
        c = self.connected_raw(device, unique("c"), version=5)
        self.assertEqual(c.publish("cn/%s/x" % cn, "mine", qos=1), 0)
        self.assertEqual(c.publish("cn/%s-2/x" % cn, "not mine", qos=1), 0x87)
        self.assertEqual(c.publish("cn/*/x", "literal star", qos=1), 0x87)
        c.disconnect()
        # CreateCertificateFromCsr (openssl CSR with a CN): as AWS, the issued certificate's
        # subject is CN=AWS IoT Certificate whatever the CSR said, and the variable follows it.
        key = self.pki.key("ec")
        out = self.iot.create_certificate_from_csr(
            certificateSigningRequest=self.pki.read(self.pki.csr(key, cn=cn)), setAsActive=True)
        cert = mu.write_private(self.devdir, cn + ".crt", out["certificatePem"])
        issued = mu.Device(cert, key, out["certificateId"], out["certificateArn"])
        self.iot.attach_policy(policyName=name, target=issued.arn)
        self.assertIn("CN=AWS IoT Certificate", self.pki.subject(cert))
        c = self.connected_raw(issued, unique("c"), version=5)
        self.assertEqual(c.publish("cn/AWS IoT Certificate/x", "issued", qos=1), 0)
        self.assertEqual(c.publish("cn/%s/x" % cn, "csr name", qos=1), 0x87)
        c.disconnect()

    def test_wildcard_client_id_cannot_widen_topicfilter_grant(self):
        name = self.make_policy(
            allow("iot:Connect", "client/*"),
            allow("iot:Subscribe", "topicfilter/dev/${iot:ClientId}/#"),
            allow("iot:Receive", "topic/dev/*"))
        device = self.device(name)
        # Control: a plain client id gets exactly its own subtree.
        c = self.connected_raw(device, "plain", version=5)
        self.assertEqual(c.subscribe([("dev/plain/#", 1), ("dev/other/#", 1)]), [1, 0x87])
        c.disconnect()
        for cid, filt in (("+", "dev/+/#"), ("*", "dev/x/#"), ("*", "dev/#"), ("#", "dev/#"),
                          ("?", "dev/x/#")):
            with self.subTest(client_id=cid, filter=filt):
                w = self.connected_raw(device, cid, version=5)
                self.assertEqual(w.subscribe([(filt, 1)]), [0x87])
                w.disconnect()


# =============================================================================================
# 4. Authentication failures
# =============================================================================================

class AuthFailureTest(MqttTestCase):

    def refused(self, device=None, cert=None, key=None, version=4, client_id=None):
        """Connects with the certificate; asserts CONNACK 5 / 0x87 then close. Returns the
        client id sent."""
        cid = client_id or unique("refused")
        if device is None:
            device = mu.Device(cert, key, None)
        c = self.raw(device, version)
        present, rc = c.connect(cid)
        self.assertEqual((present, rc), (False, 5 if version == 4 else 0x87))
        self.assertTrue(c.closed_within(3))
        return cid

    def assertConnectFailedEvent(self, watcher, cid, cert_id):
        events = watcher.wait_event("presence/connect_failed", cid)
        self.assertEqual(len(events), 1, events)
        e = events[0]
        self.assertEqual(set(e), {"clientId", "timestamp", "eventType", "connectFailureReason",
                                  "principalIdentifier", "sessionIdentifier", "ipAddress"})
        self.assertEqual(e["clientId"], cid)
        self.assertEqual(e["eventType"], "connect_failed")
        self.assertEqual(e["connectFailureReason"], "AUTHORIZATION_FAILED")
        self.assertEqual(e["principalIdentifier"], cert_id)
        self.assertEqual(e["ipAddress"], "127.0.0.1")
        self.assertLess(abs(e["timestamp"] - time.time() * 1000), 120000)

    def reason_count(self, values, reason):
        return values.get('fleetgate_mqtt_auth_failures_total{reason="%s"}' % reason, 0)

    def test_refused_certificates(self):
        watcher = self.watcher()
        before = self.metrics()
        cases = {}  # reason label -> expected increment

        # Unknown: a self-signed certificate never registered.
        unknown_key = self.pki.key("ec")
        unknown = self.pki.self_signed(unknown_key, "unregistered")
        cid = self.refused(cert=unknown, key=unknown_key)
        self.assertConnectFailedEvent(watcher, cid, self.pki.certificate_id(unknown))
        cases["unknown_certificate"] = 1

        # Same subject as a registered certificate, different key: still unknown.
        reg_key = self.pki.key("ec")
        registered = self.pki.self_signed_subject(reg_key, "/CN=twin/O=Fleet/OU=Line 1")
        mu.register_without_ca(self.iot, self.pki, registered, reg_key, policy_names=["allow-all"])
        c = self.connected_raw(mu.Device(registered, reg_key, None), unique("twin"))
        c.disconnect()
        twin_key = self.pki.key("ec")
        twin = self.pki.self_signed_subject(twin_key, "/CN=twin/O=Fleet/OU=Line 1")
        self.assertEqual(self.pki.subject(twin), self.pki.subject(registered))
        cid = self.refused(cert=twin, key=twin_key, version=5)
        self.assertConnectFailedEvent(watcher, cid, self.pki.certificate_id(twin))
        cases["unknown_certificate"] += 1

        # INACTIVE (created without --set-as-active, through the aws CLI).
        out = self.aws_ok("create-keys-and-certificate")
        inactive = mu.device_from_keys_and_certificate(self.devdir, out)
        self.iot.attach_policy(policyName="allow-all", target=inactive.arn)
        self.assertEqual(self.iot.describe_certificate(certificateId=inactive.cert_id)
                         ["certificateDescription"]["status"], "INACTIVE")
        cid = self.refused(inactive)
        self.assertConnectFailedEvent(watcher, cid, inactive.cert_id)
        cases["certificate_not_active"] = 1

        # REVOKED.
        revoked = self.device("allow-all")
        self.connected_raw(revoked).disconnect()
        self.iot.update_certificate(certificateId=revoked.cert_id, newStatus="REVOKED")
        cid = self.refused(revoked, version=5)
        self.assertConnectFailedEvent(watcher, cid, revoked.cert_id)
        cases["certificate_not_active"] += 1

        # Expired: registration refuses an expired certificate, so register one that expires
        # a few seconds later, and connect after. Not yet valid (2099): registered ACTIVE.
        key = self.pki.key("ec")
        start = time.gmtime(time.time() - 3600)
        end_epoch = int(time.time()) + 4
        expiring = self.pki.dated(key, "expiring", time.strftime("%Y%m%d%H%M%SZ", start),
                                  time.strftime("%Y%m%d%H%M%SZ", time.gmtime(end_epoch)))
        with self.assertRaises(Exception):
            self.iot.register_certificate_without_ca(
                certificatePem=self.pki.read(self.pki.expired(self.pki.key("ec"), "old")),
                status="ACTIVE")
        expired = mu.register_without_ca(self.iot, self.pki, expiring, key,
                                         policy_names=["allow-all"])
        time.sleep(max(0, end_epoch + 1.5 - time.time()))
        cid = self.refused(expired)
        self.assertConnectFailedEvent(watcher, cid, expired.cert_id)
        cases["certificate_expired"] = 1
        key = self.pki.key("ec")
        future = mu.register_without_ca(
            self.iot, self.pki,
            self.pki.dated(key, "future", "20990101000000Z", "21000101000000Z"), key,
            policy_names=["allow-all"])
        cid = self.refused(future, version=5)
        self.assertConnectFailedEvent(watcher, cid, future.cert_id)
        cases["certificate_not_yet_valid"] = 1

        # Registered and ACTIVE, but no policy: connect denied.
        bare = self.device()
        cid = self.refused(bare)
        self.assertConnectFailedEvent(watcher, cid, bare.cert_id)
        cases["connect_denied"] = 1

        # mosquitto_pub with the unknown certificate is refused too.
        proc = self.pub(None, "x/y", "m", extra=["--cert", unknown, "--key", unknown_key])
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("refused", (proc.stdout + proc.stderr).lower())
        cases["unknown_certificate"] += 1

        # No client certificate at all: the TLS handshake fails; no CONNACK, no event.
        self.assertFalse(self._session_without_certificate())
        cases["tls_handshake"] = 1

        self.assertBrokerAlive()
        after = self.metrics()
        for reason, n in cases.items():
            with self.subTest(reason=reason):
                self.assertEqual(self.reason_count(after, reason) - self.reason_count(before, reason),
                                 n)
        self.assertEqual(after['fleetgate_mqtt_policy_denials_total{action="iot:Connect"}'] -
                         before.get('fleetgate_mqtt_policy_denials_total{action="iot:Connect"}', 0),
                         1)

    def _session_without_certificate(self):
        try:
            c = mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, None, timeout=5)
        except (ssl.SSLError, OSError):
            return False
        with c:
            try:
                present, rc = c.connect(unique("nocert"))
            except (mu.Closed, TimeoutError, OSError):
                return False
            return rc == 0

    def test_no_event_for_refused_wildcard_client_id(self):
        watcher = self.watcher()
        key = self.pki.key("ec")
        unknown = self.pki.self_signed(key, "unregistered-2")
        self.refused(cert=unknown, key=key, client_id="bad+id")
        marker = self.refused(cert=unknown, key=key)
        watcher.wait_event("presence/connect_failed", marker)
        self.assertEqual(watcher.events("presence/connect_failed", "bad+id"), [])


# =============================================================================================
# 5, 7. Lifecycle events, duplicate client id
# =============================================================================================

COMMON = {"clientId", "timestamp", "eventType", "sessionIdentifier", "principalIdentifier"}


class LifecycleEventTest(MqttTestCase):

    def test_connect_subscribe_disconnect_events(self):
        watcher = self.watcher()
        device = self.device("allow-all")
        cid = unique("life")
        start_ms = time.time() * 1000
        versions = []
        for round in range(2):
            c = self.connected_paho(device, client_id=cid, version=4)
            self.assertEqual(c.subscribe(["life/a", "life/+/b"], qos=1), [1, 1])
            self.assertEqual(c.subscribe(["life/c/#"], qos=0), [0])
            c.unsubscribe(["life/a", "life/c/#"])
            watcher.wait_event("subscriptions/unsubscribed", cid, count=round + 1)
            c.disconnect()
            connected = watcher.wait_event("presence/connected", cid, count=round + 1)[round]
            disconnected = watcher.wait_event("presence/disconnected", cid, count=round + 1)[round]
            subscribed = watcher.wait_event("subscriptions/subscribed", cid,
                                            count=2 * round + 2)[2 * round:]
            unsubscribed = watcher.wait_event("subscriptions/unsubscribed", cid,
                                              count=round + 1)[round]
            self.assertEqual(set(connected), COMMON | {"ipAddress", "versionNumber"})
            self.assertEqual(set(disconnected), COMMON | {"clientInitiatedDisconnect",
                                                          "disconnectReason", "versionNumber"})
            for e in subscribed + [unsubscribed]:
                self.assertEqual(set(e), COMMON | {"topics"})
            self.assertEqual(connected["eventType"], "connected")
            self.assertEqual(disconnected["eventType"], "disconnected")
            self.assertEqual([e["eventType"] for e in subscribed], ["subscribed"] * 2)
            self.assertEqual(unsubscribed["eventType"], "unsubscribed")
            self.assertEqual(sorted(subscribed[0]["topics"]), ["life/+/b", "life/a"])
            self.assertEqual(subscribed[1]["topics"], ["life/c/#"])
            self.assertEqual(sorted(unsubscribed["topics"]), ["life/a", "life/c/#"])
            all_events = [connected, disconnected, unsubscribed] + subscribed
            for e in all_events:
                self.assertEqual(e["clientId"], cid)
                self.assertEqual(e["principalIdentifier"], device.cert_id)
                self.assertEqual(e["sessionIdentifier"], connected["sessionIdentifier"])
                self.assertIsInstance(e["timestamp"], int)
                self.assertGreaterEqual(e["timestamp"], start_ms - 2000)
                self.assertLess(e["timestamp"], time.time() * 1000 + 2000)
                self.assertNotIn("thingName", e)
            self.assertEqual(connected["ipAddress"], "127.0.0.1")
            self.assertIs(disconnected["clientInitiatedDisconnect"], True)
            self.assertEqual(disconnected["disconnectReason"], "CLIENT_INITIATED_DISCONNECT")
            self.assertEqual(connected["versionNumber"], disconnected["versionNumber"])
            self.assertIsInstance(connected["versionNumber"], int)
            versions.append(connected["versionNumber"])
            self.assertLessEqual(connected["timestamp"], disconnected["timestamp"])
        self.assertGreater(versions[1], versions[0])
        first, second = (watcher.wait_event("presence/connected", cid, count=2))
        self.assertNotEqual(first["sessionIdentifier"], second["sessionIdentifier"])

    def test_connection_lost_and_exclusive_thing_name(self):
        watcher = self.watcher()
        device = self.device("allow-all")
        thing = unique("exclusive")
        self.iot.create_thing(thingName=thing)
        status, _, body = self.server.raw_request(
            "PUT", "/things/%s/principals" % thing, headers={"x-amzn-principal": device.arn},
            query="thingPrincipalType=EXCLUSIVE_THING")
        self.assertEqual(status, 200, body)
        # The thing is named in events whatever the client id (exclusive association).
        cid = unique("lost")
        c = self.connected_paho(device, client_id=cid)
        c.drop()
        connected = watcher.wait_event("presence/connected", cid)[0]
        disconnected = watcher.wait_event("presence/disconnected", cid)[0]
        self.assertEqual(connected["thingName"], thing)
        self.assertEqual(disconnected["thingName"], thing)
        self.assertEqual(disconnected["disconnectReason"], "CONNECTION_LOST")
        self.assertIs(disconnected["clientInitiatedDisconnect"], False)

    def test_no_events_for_wildcard_client_ids(self):
        watcher = self.watcher()
        for cid in ("with+plus", "with#hash"):
            c = self.connected_raw(self.admin, cid)
            self.assertEqual(c.subscribe(["nothing/here"]), [1])
            c.disconnect()
        marker = unique("marker")
        self.connected_raw(self.admin, marker).disconnect()
        watcher.wait_event("presence/disconnected", marker)
        seen = [t for t, _ in watcher.events()]
        self.assertEqual([t for t in seen if "with+plus" in t or "with#hash" in t], [])

    def test_duplicate_client_id_takeover(self):
        watcher = self.watcher()
        device = self.device("allow-all")
        cid = unique("dup")
        old = self.connected_paho(device, client_id=cid)
        self.assertEqual(old.subscribe("dup/topic"), [1])
        new = self.connected_paho(device, client_id=cid)
        self.assertIsNotNone(old.wait_disconnected(5), "old connection still open")
        self.assertTrue(new.publish("dup/topic", b"after takeover", qos=1))
        disconnected = watcher.wait_event("presence/disconnected", cid)[0]
        self.assertEqual(disconnected["disconnectReason"], "DUPLICATE_CLIENTID")
        self.assertIs(disconnected["clientInitiatedDisconnect"], False)
        connected = watcher.wait_event("presence/connected", cid, count=2)
        self.assertEqual(disconnected["sessionIdentifier"], connected[0]["sessionIdentifier"])
        self.assertEqual(disconnected["versionNumber"], connected[0]["versionNumber"])
        self.assertGreater(connected[1]["versionNumber"], connected[0]["versionNumber"])
        new.disconnect()
        # MQTT 5: the old connection is told why (DISCONNECT 0x8E, Session taken over).
        cid5 = unique("dup5")
        first = self.connected_raw(device, cid5, version=5)
        second = self.connected_raw(device, cid5, version=5)
        self.assertTrue(first.closed_within(5))
        disconnects = [p for p in first.received if p[0] == mu.DISCONNECT]
        self.assertEqual(len(disconnects), 1, first.received)
        self.assertEqual(disconnects[0][2][0], 0x8E)
        self.assertEqual(second.publish("dup/topic", "still here", qos=1), 0)
        second.disconnect()


# =============================================================================================
# 6. Retained messages, persistent sessions
# =============================================================================================

def parse_v5_properties(data):
    """The CONNACK properties we read: {id: value} for integer and string properties."""
    n, used = mu.RawMqtt._varint(data)
    data = data[used:used + n]
    out, i = {}, 0
    sizes = {0x11: 4, 0x21: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x22: 2, 0x28: 1, 0x29: 1, 0x2A: 1,
             0x13: 2}
    while i < len(data):
        pid = data[i]
        i += 1
        if pid in sizes:
            out[pid] = int.from_bytes(data[i:i + sizes[pid]], "big")
            i += sizes[pid]
        elif pid in (0x12, 0x1F, 0x1A, 0x1C):
            length = struct.unpack("!H", data[i:i + 2])[0]
            out[pid] = data[i + 2:i + 2 + length].decode()
            i += 2 + length
        else:
            raise AssertionError("unexpected CONNACK property %#x" % pid)
    return out


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
# 8. Live enforcement
# =============================================================================================

class LiveEnforcementTest(MqttTestCase):

    def subscriber(self, device, client_id=None, filters="live/#"):
        c = self.connected_paho(device, client_id=client_id or unique("live"), keepalive=60)
        self.assertEqual(c.subscribe(filters, qos=1), [1] * (1 if isinstance(filters, str)
                                                             else len(filters)))
        return c

    def assertDroppedWithin(self, client, started, bound=1.0):
        at = client.wait_disconnected(10)
        self.assertIsNotNone(at, "still connected 10 s after the change")
        self.assertLess(at - started, bound, "dropped %.3f s after the change" % (at - started))

    def test_update_certificate_inactive_drops_connection(self):
        watcher = self.watcher()
        device = self.cli_device("allow-all")
        c = self.subscriber(device)
        result = self.server.aws("update-certificate", "--certificate-id", device.cert_id,
                                 "--new-status", "INACTIVE")
        returned = time.monotonic()
        self.assertEqual(result.returncode, 0, repr(result))
        self.assertDroppedWithin(c, returned)
        event = watcher.wait_event("presence/disconnected", c.client_id)[0]
        self.assertEqual(event["disconnectReason"], "AUTH_ERROR")
        again = self.paho(device, client_id=c.client_id)
        self.assertEqual(again.connect(), 5)
        # Back to ACTIVE: connects again.
        self.aws_ok("update-certificate", "--certificate-id", device.cert_id,
                    "--new-status", "ACTIVE")
        self.connected_paho(device).disconnect()

    def test_revoked_drops_connection(self):
        device = self.device("allow-all")
        c = self.subscriber(device)
        self.iot.update_certificate(certificateId=device.cert_id, newStatus="REVOKED")
        self.assertDroppedWithin(c, time.monotonic())
        self.assertEqual(self.paho(device, version=5).connect(), 0x87)

    def test_detach_policy_drops_connection(self):
        device = self.device()
        self.aws_ok("attach-policy", "--policy-name", "allow-all", "--target", device.arn)
        c = self.subscriber(device)
        result = self.server.aws("detach-policy", "--policy-name", "allow-all",
                                 "--target", device.arn)
        returned = time.monotonic()
        self.assertEqual(result.returncode, 0, repr(result))
        self.assertDroppedWithin(c, returned)
        self.assertEqual(self.paho(device).connect(), 5)

    def test_detach_thing_principal_drops_connection(self):
        name = self.make_policy(
            allow("iot:Connect", "client/${iot:Connection.Thing.ThingName}"),
            allow(["iot:Subscribe", "iot:Receive"], "*"))
        device = self.device(name)
        thing = unique("livething")
        self.iot.create_thing(thingName=thing)
        self.iot.attach_thing_principal(thingName=thing, principal=device.arn)
        c = self.subscriber(device, client_id=thing)
        result = self.server.aws("detach-thing-principal", "--thing-name", thing,
                                 "--principal", device.arn)
        returned = time.monotonic()
        self.assertEqual(result.returncode, 0, repr(result))
        self.assertDroppedWithin(c, returned)
        self.assertEqual(self.paho(device, client_id=thing).connect(), 5)

    def test_default_policy_version_narrows_subscriptions(self):
        wide = policy(allow("iot:Connect", "client/*"),
                      allow("iot:Subscribe", "topicfilter/narrow/*"),
                      allow("iot:Receive", "topic/narrow/*"))
        name = unique("versioned")
        mu.ensure_policy(self.iot, name, wide)
        device = self.device(name)
        c = self.subscriber(device, filters=["narrow/a/#", "narrow/b/#"])
        self.pub_ok(self.admin, "narrow/b/1", "before", qos=1)
        self.assertEqual(len(c.wait_messages(1, topic="narrow/b/1")), 1)
        narrowed = policy(allow("iot:Connect", "client/*"),
                          allow("iot:Subscribe", "topicfilter/narrow/a/*"),
                          allow("iot:Receive", "topic/narrow/*"))
        version = self.iot.create_policy_version(policyName=name, policyDocument=narrowed,
                                                 setAsDefault=False)["policyVersionId"]
        self.aws_ok("set-default-policy-version", "--policy-name", name,
                    "--policy-version-id", version)
        time.sleep(1.0)  # the behaviour bound: live subscriptions are re-checked within 1 s
        self.pub_ok(self.admin, "narrow/b/2", "after: dropped subscription", qos=1)
        self.pub_ok(self.admin, "narrow/a/2", "after: kept subscription", qos=1)
        c.wait_messages(1, topic="narrow/a/2")
        time.sleep(0.5)
        self.assertEqual(c.payloads("narrow/b/2"), [])
        self.assertEqual(c.payloads("narrow/a/2"), [b"after: kept subscription"])
        self.assertIsNone(c.disconnected_at)  # still allowed to connect
        # Back to the wide version: the dropped subscription does not come back by itself.
        self.iot.set_default_policy_version(policyName=name, policyVersionId="1")
        time.sleep(0.5)
        self.pub_ok(self.admin, "narrow/b/3", "not resubscribed", qos=1)
        self.pub_ok(self.admin, "narrow/a/3", "marker", qos=1)
        c.wait_messages(1, topic="narrow/a/3")
        time.sleep(0.3)
        self.assertEqual(c.payloads("narrow/b/3"), [])
        c.disconnect()


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
