"""Policy enforcement: denied traffic, policy variables, live enforcement (spec §8).

The broker end to end with real clients (see mqtt_case.py); one server per class.
"""

import time
import unittest

import mqtt_util as mu
from mqtt_util import allow, deny, policy, unique
from mqtt_case import MqttTestCase


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


if __name__ == "__main__":
    unittest.main()
