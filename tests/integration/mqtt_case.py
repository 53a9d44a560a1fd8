"""The MQTT test case the broker's end-to-end tests share: one server per class, an allow-all
`admin` device, and helpers that clean up after themselves. Real clients: the Debian mosquitto
clients, python3-paho-mqtt 1.6.1 and mqtt_util.RawMqtt; clients only on 127.0.0.1; every wait is
bounded.
"""

import os
import re
import struct

import harness
import mqtt_util as mu
from mqtt_util import ALLOW_ALL, policy, unique

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
