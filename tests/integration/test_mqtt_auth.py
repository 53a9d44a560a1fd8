"""Authentication failures, lifecycle events and duplicate client ids (spec §9.3, §9.6).

The broker end to end with real clients (see mqtt_case.py); one server per class.
"""

import ssl
import time
import unittest

import mqtt_util as mu
from mqtt_util import unique
from mqtt_case import MqttTestCase


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


if __name__ == "__main__":
    unittest.main()
