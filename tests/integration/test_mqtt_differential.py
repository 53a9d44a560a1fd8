"""Differential test: the same scripted MQTT sessions against Debian's mosquitto 2.0.11 and
against fleetgate, comparing what every subscriber received (topic, payload, QoS, RETAIN flag)
as multisets.

Where AWS IoT deliberately differs from mosquitto, the difference is applied to mosquitto's
observed result by a named, commented transformation (`aws_expectation`), and the test also
asserts that mosquitto really behaved the way the transformation assumes, so the comparison
itself is never weakened:
  1. Retained messages on subscribe: mosquitto sends them to every matching filter; AWS only to
     a filter that equals the topic exactly (spec §9.5).
  2. Overlapping subscriptions of one session: mosquitto 2.0.11 sends an MQTT 5 session one
     copy per matching subscription (each at that subscription's QoS) and an MQTT 3.1.1
     session a single copy at the QoS of one of them, not the highest (both observed, and
     asserted below); AWS/fleetgate sends one copy per session at the highest granted QoS
     (MQTT 5 §3.3.4 allows either).
"""

import collections
import contextlib
import os
import socket
import subprocess
import tempfile
import time
import unittest

import harness
import mqtt_util as mu
from mqtt_util import unique

SETTLE = 0.5  # quiet time after a sentinel


def free_port():
    with socket.socket() as s:
        s.bind((mu.HOST, 0))
        return s.getsockname()[1]


class Mosquitto:
    """/usr/sbin/mosquitto with its own openssl PKI, mutual TLS on a free 127.0.0.1 port."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="fleetgate-mosq-")
        os.chmod(self.tmp, 0o700)
        self.pki = harness.Pki(os.path.join(self.tmp, "pki"))
        ca_cert, ca_key = self.pki.root_ca("mosquitto test CA")
        self.ca = ca_cert
        server_key = self.pki.key("ec")
        ext = self.pki.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                             "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n", ".ext")
        server_cert = self.pki.path("server.pem")
        self.pki.openssl("x509", "-req", "-in", self.pki.csr(server_key, "localhost"),
                         "-CA", ca_cert, "-CAkey", ca_key, "-days", "2", "-sha256",
                         "-set_serial", "2", "-extfile", ext, "-out", server_cert)
        client_cert, client_key = self.pki.leaf("client", ca_cert, ca_key)
        self.device = mu.Device(client_cert, client_key, "mosquitto-client")
        self.port = free_port()
        self.config = os.path.join(self.tmp, "mosquitto.conf")
        # `user root`: run as root, mosquitto would otherwise drop to user `mosquitto`, which
        # cannot read the 0700 temporary directory.
        with open(self.config, "w") as f:
            f.write("per_listener_settings false\nuser root\nallow_anonymous true\n"
                    "persistence false\nlog_dest stdout\nlog_type all\n"
                    "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
                    "require_certificate true\n" % (self.port, ca_cert, server_cert, server_key))
        self.log = open(os.path.join(self.tmp, "mosquitto.log"), "wb")
        self.proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection((mu.HOST, self.port), timeout=1).close()
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("mosquitto did not start:\n" + self.log_tail())
            time.sleep(0.05)

    def log_tail(self):
        with open(os.path.join(self.tmp, "mosquitto.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)


class Target:
    """Where a scenario runs: port, CA bundle, the client certificate every client uses."""

    def __init__(self, name, port, cafile, device):
        self.name, self.port, self.cafile, self.device = name, port, cafile, device


# The subscribers of the scenario: name -> (MQTT version, [(filter, qos)] in one SUBSCRIBE).
SUBSCRIBERS = {
    "all_a_q1": (4, [("a/#", 1)]),
    "a_plus_c_q0": (4, [("a/+/c", 0)]),
    "exact_abc_q1_v5": (5, [("a/b/c", 1)]),
    "plus_b_hash_q1": (4, [("+/b/#", 1)]),
    "overlap_v5": (5, [("a/#", 0), ("a/b/c", 1), ("+/b/#", 0)]),
    "overlap_v311": (4, [("a/b/c", 0), ("a/+/c", 1)]),
    "wills": (4, [("w/#", 1)]),
}


PUBLISHED = {}  # (topic, payload) -> QoS published with (payloads are unique per publish)


def run_scenario(target):
    """Runs the script; returns {subscriber: Counter((topic, payload, qos, retain))}."""
    clients = []

    def client(version=4, **kwargs):
        c = mu.PahoClient(target.port, target.cafile, target.device, version=version, **kwargs)
        clients.append(c)
        return c

    def connected(version=4, **kwargs):
        c = client(version, **kwargs)
        rc = c.connect()
        assert rc == 0, "%s refused a client: %r" % (target.name, rc)
        return c

    tag = unique("run")
    try:
        pub = connected(4, client_id="pub-" + tag)
        sync = {}

        def send(topic, payload, qos, retain=False):
            PUBLISHED[(topic, payload)] = qos
            return pub.publish(topic, payload, qos=qos, retain=retain)

        def sentinel_all(subs, label):
            """One QoS 1 message per subscriber on its own sync topic, published after
            everything else by the same publisher; waits until each has arrived."""
            for name, c in subs.items():
                assert pub.publish("sync/%s" % name, label.encode(), qos=1)
            for name, c in subs.items():
                got = c.wait_messages(sync.get(name, 0) + 1, topic="sync/%s" % name)
                assert len(got) == sync.get(name, 0) + 1, "%s: no sentinel for %s" % (
                    target.name, name)
                sync[name] = len(got)
            time.sleep(SETTLE)

        # 1. Retained messages published before anyone subscribes.
        assert send("a/b/c", b"retained abc", qos=1, retain=True)
        assert send("a/x/c", b"retained axc", qos=0, retain=True)
        assert send("a/b", b"retained ab", qos=1, retain=True)
        assert send("z/b/q", b"retained zbq", qos=1, retain=True)
        assert send("a/b/d/e", b"retained abde", qos=1, retain=True)
        time.sleep(0.3)

        # 2. Subscribers with overlapping wildcard filters.
        subs = {}
        for name, (version, filters) in SUBSCRIBERS.items():
            c = connected(version, client_id="%s-%s" % (name, tag))
            granted = c.subscribe_many(filters + [("sync/%s" % name, 1)])
            assert granted == [q for _, q in filters] + [1], (target.name, name, granted)
            subs[name] = c
        sentinel_all(subs, "after subscribe")

        # 3. Live traffic, QoS 0/1 mixes, a live retained publish and a retained delete.
        live = [("a/b/c", b"live abc q0", 0, False), ("a/b/c", b"live abc q1", 1, False),
                ("a/x/c", b"live axc q1", 1, False), ("a/b/d/e", b"live abde q1", 1, False),
                ("x/b/y", b"live xby q0", 0, False), ("a", b"live a q1", 1, False),
                ("a/b", b"live ab q0", 0, False), ("q/b", b"live qb q1", 1, False),
                ("a/b/c", b"retained abc v2", 1, True), ("a/x/c", b"", 1, True),
                ("a/b/d/e", b"", 0, True), ("b", b"live b", 1, False)]
        for topic, payload, qos, retain in live:
            assert send(topic, payload, qos, retain)
        sentinel_all(subs, "after live")

        # 4. A late subscriber with exact filters: retained a/b/c (v2), z/b/q; a/x/c deleted.
        late = connected(4, client_id="late-" + tag)
        granted = late.subscribe_many([("a/b/c", 1), ("z/b/q", 0), ("a/x/c", 1),
                                       ("a/b/d/e", 1), ("sync/late", 1)])
        assert granted == [1, 0, 1, 1, 1], granted
        subs["late"] = late
        sentinel_all({"late": late}, "late")

        # 5. A persistent session that goes offline and comes back.
        pid = "persist-" + tag
        p = connected(4, client_id=pid, clean=False)
        assert p.subscribe_many([("p/#", 1), ("sync/persist", 1)]) == [1, 1]
        p.disconnect()
        assert send("p/1", b"offline q1 #1", qos=1)
        assert send("p/2", b"offline q0", qos=0)
        assert send("p/3", b"offline q1 #2", qos=1)
        time.sleep(0.3)
        p2 = client(4, client_id=pid, clean=False)
        assert p2.connect() == 0
        assert p2.session_present, "%s: no session present" % target.name
        assert send("p/4", b"online again", qos=1)
        subs["persist"] = p2
        sentinel_all({"persist": p2}, "persist")

        # 6. Will messages on abrupt socket close (no DISCONNECT): a plain one and a retained
        # one; then an exact subscriber for the retained will.
        PUBLISHED[("w/gone", b"will 1")] = 1
        PUBLISHED[("w/kept", b"will 2 retained")] = 0
        w1 = connected(4, client_id="will1-" + tag, will=("w/gone", b"will 1", 1, False))
        w2 = connected(4, client_id="will2-" + tag, will=("w/kept", b"will 2 retained", 0, True))
        w1.drop()
        w2.drop()
        subs["wills"].wait_messages(sync.get("wills", 0) + 2)
        sentinel_all({"wills": subs["wills"]}, "wills")
        # A clean DISCONNECT sends no will.
        w3 = connected(4, client_id="will3-" + tag, will=("w/never", b"will 3", 1, False))
        w3.disconnect()
        sentinel_all({"wills": subs["wills"]}, "no will")
        wl = connected(4, client_id="will-late-" + tag)
        assert wl.subscribe_many([("w/kept", 1), ("sync/will-late", 1)]) == [1, 1]
        subs["will-late"] = wl
        sentinel_all({"will-late": wl}, "will late")

        results = {}
        for name, c in subs.items():
            results[name] = collections.Counter(
                m.key() for m in c.messages if not m.topic.startswith("sync/"))
        return results
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                c.disconnect()


# Every subscriber's filters, the late ones included: name -> [(filter, granted QoS)].
FILTERS = dict({name: filters for name, (_, filters) in SUBSCRIBERS.items()},
               late=[("a/b/c", 1), ("z/b/q", 0), ("a/x/c", 1), ("a/b/d/e", 1)],
               persist=[("p/#", 1)], **{"will-late": [("w/kept", 1)]})


def matches(filt, topic):
    """MQTT topic filter matching (§4.7)."""
    f, t = filt.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


def aws_expectation(name, observed, published):
    """mosquitto's multiset for one subscriber, turned into what AWS rules produce.
    `published`: {(topic, payload): QoS it was published with}."""
    expected = collections.Counter()
    for (topic, payload, qos, retain), count in observed.items():
        if retain:
            # Difference 1: retained messages on subscribe reach only a filter equal to the
            # topic (at min(retained QoS, that filter's QoS)); wildcard-only matches get none.
            exact = [q for f, q in FILTERS[name] if f == topic]
            if not exact:
                continue
            qos = min(published[(topic, payload)], max(exact))
        else:
            # Difference 2: one copy per session, at min(publish QoS, the highest QoS among the
            # matching subscriptions). mosquitto 2.0 sends MQTT 5 sessions one copy per
            # matching subscription, each at its own QoS, and MQTT 3.1.1 sessions a single copy
            # at the QoS of one of the subscriptions (not the highest); see the asserts below.
            granted = [q for f, q in FILTERS[name] if matches(f, topic)]
            assert granted, (name, topic)
            qos = min(published[(topic, payload)], max(granted))
        expected[(topic, payload, qos, retain)] = 1
    return expected


class DifferentialTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.mosquitto = Mosquitto()
        cls.addClassCleanup(cls.mosquitto.stop)
        cls.server = harness.Server()
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        iot = cls.server.client()
        iot.create_policy(policyName="allow-all", policyDocument=mu.ALLOW_ALL)
        devdir = os.path.join(cls.server.tmp, "devices")
        os.makedirs(devdir, mode=0o700)
        cls.device = mu.create_device(iot, devdir, ["allow-all"])

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        assert rc == 0, "fleetgate serve exited %r:\n%s" % (rc, cls.server.log_tail())

    def test_same_sessions_same_deliveries(self):
        mosq = run_scenario(Target("mosquitto", self.mosquitto.port, self.mosquitto.ca,
                                   self.mosquitto.device))
        fleet = run_scenario(Target("fleetgate", self.server.mqtt_port, self.server.ca_bundle,
                                    self.device))
        self.assertEqual(set(mosq), set(fleet))

        # The scenario exercised what it claims (on the reference broker).
        self.assertIn(("a/b/c", b"retained abc", 1, True), mosq["exact_abc_q1_v5"])
        self.assertIn(("p/1", b"offline q1 #1", 1, False), mosq["persist"])
        self.assertNotIn(("p/2", b"offline q0", 0, False), mosq["persist"])
        self.assertIn(("w/gone", b"will 1", 1, False), mosq["wills"])
        self.assertIn(("w/kept", b"will 2 retained", 0, True), mosq["will-late"])
        self.assertNotIn("w/never", [t for t, _, _, _ in mosq["wills"]])
        # Difference 1 really exists: mosquitto sent retained messages to wildcard filters.
        self.assertIn(("a/b/c", b"retained abc", 1, True), mosq["all_a_q1"])
        self.assertIn(("z/b/q", b"retained zbq", 1, True), mosq["plus_b_hash_q1"])
        # Difference 2 really exists: mosquitto 2.0 delivers a message matching several
        # subscriptions of one session once per subscription, each at its own QoS.
        self.assertEqual(mosq["overlap_v5"][("a/b/c", b"live abc q1", 0, False)], 2)
        self.assertEqual(mosq["overlap_v5"][("a/b/c", b"live abc q1", 1, False)], 1)
        self.assertEqual(mosq["overlap_v5"][("a/b/c", b"live abc q0", 0, False)], 3)
        # ... and MQTT 3.1.1 sessions a single copy, here at QoS 0 although `a/+/c` was
        # granted QoS 1 (fleetgate: QoS 1).
        self.assertEqual(mosq["overlap_v311"][("a/b/c", b"live abc q1", 0, False)], 1)
        self.assertEqual(mosq["overlap_v311"][("a/b/c", b"live abc q1", 1, False)], 0)

        for name in sorted(mosq):
            with self.subTest(subscriber=name):
                expected = aws_expectation(name, mosq[name], PUBLISHED)
                self.assertEqual(
                    sorted(fleet[name].items()), sorted(expected.items()),
                    "fleetgate vs mosquitto-with-AWS-rules for %s\nmosquitto raw: %s" % (
                        name, sorted(mosq[name].items())))


if __name__ == "__main__":
    unittest.main()
