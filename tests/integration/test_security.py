"""Regression tests for the findings of the hostile review (issue 9), each through the real
binary with the clients the review used: python ssl + raw MQTT over mutual TLS, boto3 and the aws
CLI, the fleetgate commands, and file modes read with os.stat and by another user (nobody).

No test waits for "nothing happened": what a resumed session is sent comes before the PINGRESP
that answers a PINGREQ sent after CONNACK, so the PINGRESP is the sentinel.
"""

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

import harness
import mqtt_util as mu
from mqtt_util import allow, policy, unique
from mqtt_case import MqttTestCase

NOBODY = 65534


def as_nobody():
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@contextlib.contextmanager
def permissive_umask():
    """What fleetgate creates must not depend on the umask it is started with."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return os.stat(path).st_mode & 0o777


def stored_secrets(db_path):
    """The secret_access_key column as the database file holds it (read-only, beside the server)."""
    with sqlite3.connect("file:%s?mode=ro" % db_path, uri=True) as db:
        return [row[0] for row in db.execute("SELECT secret_access_key FROM access_keys")]


# =============================================================================================
# 1. Every delivery is authorized when it is sent: resumed, queued and redelivered messages too
# =============================================================================================

class ResumedSessionAuthorizationTest(MqttTestCase):

    def resumed(self, device, client_id):
        """Reconnects with cleanSession=0; returns (session present, the PUBLISHes the broker
        sent before answering a PINGREQ sent right after CONNACK)."""
        c = self.raw(device, 4)
        present, rc = c.connect(client_id, clean=False)
        self.assertEqual(rc, 0)
        got = [(topic, payload) for topic, payload, _, _ in c.drain()]
        c.disconnect()
        return present, got

    def test_another_certificate_resuming_the_client_id_gets_a_fresh_session(self):
        victim_policy = self.make_policy(
            allow("iot:Connect", "client/*"),
            allow("iot:Subscribe", "topicfilter/victim/*"),
            allow("iot:Receive", "topic/victim/*"))
        # The attacker may connect as any client id, but receive only on its own topics.
        attacker_policy = self.make_policy(
            allow("iot:Connect", "client/*"),
            allow("iot:Subscribe", "topicfilter/own/${iot:ClientId}/*"),
            allow("iot:Receive", "topic/own/${iot:ClientId}/*"))
        victim, attacker = self.device(victim_policy), self.device(attacker_policy)
        cid = unique("victim")
        base = "victim/secret/" + unique("q")
        c = self.raw(victim, 4)
        self.assertEqual(c.connect(cid, clean=False), (False, 0))
        self.assertEqual(c.subscribe([(base + "/#", 1)]), [1])
        c.disconnect()

        # Control: the owner, whose policy allows it, gets what was queued while it was away.
        for i in range(3):
            self.pub_ok(self.admin, "%s/%d" % (base, i), "for the owner %d" % i, qos=1)
        present, got = self.resumed(victim, cid)
        self.assertTrue(present)
        self.assertEqual(got, [("%s/%d" % (base, i), b"for the owner %d" % i) for i in range(3)])

        for i in range(3, 8):
            self.pub_ok(self.admin, "%s/%d" % (base, i), "secret %d" % i, qos=1)
        # The attacker's CONNECT takes the client id over, but not the session.
        present, got = self.resumed(attacker, cid)
        self.assertFalse(present)
        self.assertEqual(got, [])
        # The fresh session is the attacker's own: it holds no subscription of the victim's.
        self.pub_ok(self.admin, base + "/after", "after the takeover", qos=1)
        present, got = self.resumed(attacker, cid)
        self.assertTrue(present)
        self.assertEqual(got, [])

    def test_policy_narrowed_while_offline_stops_queued_and_inflight_messages(self):
        name = unique("narrowing")
        mu.ensure_policy(self.iot, name, policy(
            allow("iot:Connect", "client/*"),
            allow("iot:Subscribe", "topicfilter/nq/*"),
            allow("iot:Receive", "topic/nq/*")))
        device = self.device(name)
        cid = unique("narrowed")
        base = unique("nq")
        c = self.raw(device, 4)
        self.assertEqual(c.connect(cid, clean=False), (False, 0))
        self.assertEqual(c.subscribe([("nq/#", 1)]), [1])
        # One message in flight: received, never acknowledged, then the connection drops.
        self.pub_ok(self.admin, "nq/secret/%s/inflight" % base, "in flight", qos=1)
        ptype, _, _ = c.recv_packet()
        self.assertEqual(ptype, mu.PUBLISH)
        c.close()
        # Queued while the device is away, under the policy that still allowed them.
        for i in range(3):
            self.pub_ok(self.admin, "nq/secret/%s/%d" % (base, i), "queued %d" % i, qos=1)
        self.pub_ok(self.admin, "nq/open/" + base, "still allowed", qos=1)
        denials = 'fleetgate_mqtt_policy_denials_total{action="iot:Receive"}'
        before = self.metrics().get(denials, 0)
        # A new default version takes iot:Receive on nq/secret/* away.
        narrowed = policy(allow("iot:Connect", "client/*"),
                          allow("iot:Subscribe", "topicfilter/nq/*"),
                          allow("iot:Receive", "topic/nq/open/*"))
        self.iot.create_policy_version(policyName=name, policyDocument=narrowed, setAsDefault=True)

        present, got = self.resumed(device, cid)
        self.assertTrue(present)
        self.assertEqual(got, [("nq/open/" + base, b"still allowed")])
        self.assertEqual(self.metrics().get(denials, 0) - before, 4)
        # Refused deliveries leave the session: the next resume has nothing more.
        present, got = self.resumed(device, cid)
        self.assertEqual((present, got), (True, []))


# =============================================================================================
# 2. The subscription quota counts what is granted, pipelined SUBSCRIBEs included
# =============================================================================================

class PipelinedSubscribeQuotaTest(MqttTestCase):

    def test_fifty_subscriptions_at_most_when_subscribes_are_pipelined(self):
        for version, refused in ((4, 0x80), (5, 0x97)):
            c = self.raw(self.admin, version)
            self.assertEqual(c.connect(unique("quota"))[1], 0)
            # Twenty SUBSCRIBEs of eight new filters each, in one write.
            burst = b"".join(
                mu.subscribe_packet(n + 1, [("quota/%d/%d" % (n, i), 1) for i in range(8)],
                                    version)
                for n in range(20))
            c.send(burst)
            codes = []
            for n in range(20):
                _, _, body = c.expect(mu.SUBACK)
                rest = body[2:]
                if version == 5:
                    length, used = c._varint(rest)
                    rest = rest[used + length:]
                codes += list(rest)
            self.assertEqual(codes, [1] * 50 + [refused] * 110, "MQTT %d" % version)
            # A filter already held is a replacement, not a 51st subscription.
            self.assertEqual(c.subscribe([("quota/0/0", 0), ("quota/new", 0)]), [0, refused])
            c.disconnect()


# =============================================================================================
# 3 and 5. A taken port fails the start, clearly; out-of-range options are refused by name
# =============================================================================================

class StartupRefusalTest(harness.ServerTestCase):

    def second_server(self, *args):
        """`fleetgate serve` on another data directory; returns the finished process."""
        other = harness.Server()
        self.addCleanup(other.cleanup)
        return harness.run([harness.FLEETGATE_BIN, "serve", "--data-dir", other.data_dir] +
                           [str(a) for a in args], check=False, timeout=60)

    def assertRefusedStart(self, proc, *needles):
        self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        for needle in needles:
            self.assertIn(needle, proc.stderr)
        self.assertNotIn("internal error", proc.stderr.lower())

    def test_a_port_another_server_holds_fails_the_start(self):
        s = self.server
        free = "0"
        cases = [
            ("--mqtt-port", s.mqtt_port, ["--api-port", free, "--mqtt-alpn-port", "-1"]),
            ("--mqtt-alpn-port", s.mqtt_alpn_port, ["--api-port", free, "--mqtt-port", "-1"]),
            ("--api-port", s.port, ["--mqtt-port", free, "--mqtt-alpn-port", free]),
        ]
        for option, port, rest in cases:
            proc = self.second_server(option, port, *rest)
            self.assertRefusedStart(proc, "127.0.0.1:%d" % port, "Address already in use", option)
        # Every connection still reaches the first server, which authorizes it.
        name = unique("alive")
        mu.ensure_policy(self.iot, name, mu.ALLOW_ALL)
        device = mu.create_device(self.iot, self.server.tmp, [name])
        for _ in range(20):
            with mu.RawMqtt(s.mqtt_port, s.ca_bundle, device) as c:
                self.assertEqual(c.connect(unique("one-server"))[1], 0)
                self.assertEqual(c.publish("alive/x", "x", qos=1), 0)
                c.disconnect()

    def test_out_of_range_options_are_refused_by_name(self):
        for option, value in (("--api-port", "70000"), ("--api-port", "-1"),
                              ("--mqtt-port", "65537"), ("--mqtt-port", "-5"),
                              ("--mqtt-alpn-port", "70000"), ("--mqtt-workers", "-3"),
                              ("--threads", "-1"), ("--key-pool", "-5")):
            proc = harness.run([harness.FLEETGATE_BIN, "serve", "--data-dir", self.server.data_dir,
                                option, value], check=False)
            self.assertNotEqual(proc.returncode, 0, (option, value, proc.stderr))
            self.assertIn(option, proc.stderr, (option, value))
        proc = harness.run([harness.FLEETGATE_BIN, "init", "--data-dir",
                            os.path.join(self.server.tmp, "other"), "--api-port", "0"],
                           check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("--api-port", proc.stderr)

    def test_an_unusable_data_directory_says_what_is_wrong(self):
        blocker = os.path.join(self.server.tmp, "a-file")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        proc = harness.run([harness.FLEETGATE_BIN, "init", "--data-dir",
                            os.path.join(blocker, "data")], check=False)
        self.assertRefusedStart(proc, blocker, "Not a directory")


# =============================================================================================
# 4. Secrets at rest: private files from creation, sealed secrets, a key kept apart
# =============================================================================================

class SecretsAtRestTest(unittest.TestCase):

    def server(self, init=True, **kwargs):
        s = harness.Server(init=False, **kwargs)
        self.addCleanup(s.cleanup)
        if init:
            with permissive_umask():
                s.init()
        return s

    def assertWorks(self, s):
        """The admin key signs with the aws CLI and boto3 against the running server."""
        name = unique("t")
        out = s.aws("create-thing", "--thing-name", name)
        self.assertEqual(out.returncode, 0, repr(out))
        self.assertEqual(s.client().describe_thing(thingName=name)["thingName"], name)

    def test_data_directory_files_are_private_and_secrets_sealed(self):
        s = self.server()
        with permissive_umask():
            s.start()
        self.assertWorks(s)
        data = s.data_dir
        self.assertEqual(mode(data), 0o700)
        self.assertEqual(mode(os.path.join(data, "pki")), 0o700)
        for name in ("registry.db", "registry.db-wal", "registry.db-shm", "secrets.key",
                     "aws-credentials", "serve.lock", "pki/device-ca.key", "pki/server.key",
                     "pki/server-root-ca.key"):
            self.assertEqual(mode(os.path.join(data, name)), 0o600, name)
        # Another local user reads nothing.
        for name in ("registry.db", "registry.db-wal", "secrets.key", "aws-credentials"):
            proc = subprocess.run(["cat", os.path.join(data, name)], capture_output=True,
                                  preexec_fn=as_nobody, timeout=30)
            self.assertNotEqual(proc.returncode, 0, name)
            self.assertIn(b"Permission denied", proc.stderr)
        # The database and its log hold the secret only sealed.
        secret = harness.SECRET_ACCESS_KEY.encode()
        for name in ("registry.db", "registry.db-wal"):
            with open(os.path.join(data, name), "rb") as f:
                self.assertNotIn(secret, f.read(), name)
        [stored] = stored_secrets(os.path.join(data, "registry.db"))
        self.assertTrue(stored.startswith("fgsealed1:"), stored)
        self.assertEqual(s.stop(), 0)

    def test_an_existing_data_directory_is_tightened_and_its_plain_secrets_sealed(self):
        s = self.server()
        data = s.data_dir
        db = os.path.join(data, "registry.db")
        # As an older fleetgate left it: world-readable files, the secret in plain text.
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE access_keys SET secret_access_key = ?",
                         (harness.SECRET_ACCESS_KEY,))
        for path, m in ((data, 0o755), (os.path.join(data, "pki"), 0o755), (db, 0o644),
                        (os.path.join(data, "pki", "device-ca.key"), 0o644)):
            os.chmod(path, m)
        s.start()
        self.assertEqual(mode(data), 0o700)
        self.assertEqual(mode(os.path.join(data, "pki")), 0o700)
        self.assertEqual(mode(db), 0o600)
        self.assertEqual(mode(os.path.join(data, "pki", "device-ca.key")), 0o600)
        [stored] = stored_secrets(db)
        self.assertTrue(stored.startswith("fgsealed1:"), stored)
        self.assertWorks(s)
        self.assertEqual(s.stop(), 0)

    def test_rotate_key_reseals_and_a_missing_key_is_named(self):
        s = self.server()
        s.create_account("210987654321", "AKIAFLEETGATETEST002", "second/account/secret/key/0002")
        key_file = os.path.join(s.data_dir, "secrets.key")
        db = os.path.join(s.data_dir, "registry.db")

        def key_ids():
            with open(key_file) as f:
                return [line.split()[1] for line in f if line.startswith("fleetgate-secret-key-v1")]

        [old] = key_ids()
        self.assertEqual({v.split(":")[1] for v in stored_secrets(db)}, {old})
        # Not while a server holds the data directory.
        s.start()
        busy = s.fleetgate("secrets", "rotate-key", "--data-dir", s.data_dir, check=False)
        self.assertNotEqual(busy.returncode, 0)
        self.assertIn("stop it", busy.stderr)
        self.assertEqual(key_ids(), [old])
        self.assertEqual(s.stop(), 0)

        out = s.fleetgate("secrets", "rotate-key", "--data-dir", s.data_dir)
        [new] = key_ids()
        self.assertNotEqual(new, old)
        self.assertIn("re-sealed 2 secrets under key " + new, out.stdout)
        self.assertEqual(mode(key_file), 0o600)
        self.assertEqual({v.split(":")[1] for v in stored_secrets(db)}, {new})
        s.start()
        self.assertWorks(s)
        second = s.accounts["210987654321"]
        self.assertEqual(s.client(account=second).list_things()["things"], [])
        self.assertEqual(s.stop(), 0)

        # Without its key the registry does not start, and says which key it needs.
        shutil.move(key_file, key_file + ".away")
        proc = harness.run([harness.FLEETGATE_BIN, "serve", "--data-dir", s.data_dir,
                            "--api-port", "0", "--mqtt-port", "-1", "--mqtt-alpn-port", "-1"],
                           check=False, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(new, proc.stderr)
        self.assertIn("secrets key file", proc.stderr)
        self.assertFalse(os.path.exists(key_file))  # no new key that could not open them

    def test_a_key_file_kept_outside_the_data_directory(self):
        keys = os.path.join(tempfile.mkdtemp(prefix="fleetgate-keys-"), "fleetgate.key")
        self.addCleanup(shutil.rmtree, os.path.dirname(keys), True)
        s = self.server(init=False, serve_args=("--secrets-key-file", keys))
        s.init(extra=("--secrets-key-file", keys))
        self.assertTrue(os.path.exists(keys))
        self.assertEqual(mode(keys), 0o600)
        self.assertFalse(os.path.exists(os.path.join(s.data_dir, "secrets.key")))
        s.start()
        self.assertWorks(s)
        self.assertEqual(s.stop(), 0)
        # The data directory alone (a copy, a backup) cannot open its secrets.
        proc = harness.run([harness.FLEETGATE_BIN, "account", "list", "--data-dir", s.data_dir],
                           check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("does not exist, but the registry's secrets are sealed", proc.stderr)
        # An operator's key file others can read is refused.
        os.chmod(keys, 0o644)
        proc = harness.run([harness.FLEETGATE_BIN, "account", "list", "--data-dir", s.data_dir,
                            "--secrets-key-file", keys], check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("chmod 600", proc.stderr)


if __name__ == "__main__":
    unittest.main()
