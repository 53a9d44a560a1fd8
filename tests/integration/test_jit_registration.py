"""Registration at first connect (spec §4 JITP, §5 JITR, §6 multi-account registration).

A root CA and an intermediate are made with openssl; the intermediate is registered with the real
`aws iot register-ca-certificate` (verification certificate signed for the registration code).
Devices present openssl-made certificates: mosquitto_pub with the chain file (device + CA), or a
python ssl client / `openssl s_client` where the test must choose the SNI. Every wait is bounded;
clients only on 127.0.0.1.
"""

import json
import os
import subprocess
import threading
import time
import unittest

import harness
import mqtt_util as mu
from mqtt_util import unique
from mqtt_case import MqttTestCase

DEVICE_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
        {"Effect": "Allow", "Action": "iot:Publish",
         "Resource": "arn:aws:iot:*:*:topic/devices/${iot:Connection.Thing.ThingName}/*"},
    ]})

JITP_TEMPLATE = {
    "Parameters": {
        "AWS::IoT::Certificate::CommonName": {"Type": "String"},
        "AWS::IoT::Certificate::Organization": {"Type": "String"},
        "AWS::IoT::Certificate::Id": {"Type": "String"},
    },
    "Resources": {
        "thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {
                "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                "AttributePayload": {"maker": {"Ref": "AWS::IoT::Certificate::Organization"},
                                     "version": "v1"},
            },
            "OverrideSettings": {"AttributePayload": "MERGE"},
        },
        "certificate": {
            "Type": "AWS::IoT::Certificate",
            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                           "Status": "ACTIVE"},
        },
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": DEVICE_POLICY}},
    },
}

REFUSED = "not authorised"


class JitTestCase(MqttTestCase):
    """Helpers to register CAs and make devices under them."""

    def register_ca(self, cn, template=None, template_name=None, active=True, auto=True,
                    account=harness.DEFAULT_ACCOUNT, sni_only=False):
        """An intermediate CA under a fresh root, registered in `account`. Returns
        (ca_cert, ca_key, ca_id)."""
        root_cert, root_key = self.pki.root_ca(unique("root"))
        ca_cert, ca_key = self.pki.intermediate_ca(cn, root_cert, root_key)
        args = ["register-ca-certificate", "--ca-certificate", "file://" + ca_cert]
        if sni_only:
            args += ["--certificate-mode", "SNI_ONLY"]
        else:
            code = self.aws_ok("get-registration-code", account=account)["registrationCode"]
            verification = self.pki.verification_cert(code, ca_cert, ca_key)
            args += ["--verification-cert", "file://" + verification]
        if active:
            args.append("--set-as-active")
        if auto:
            args.append("--allow-auto-registration")
        config = {}
        if template is not None:
            config = {"templateBody": json.dumps(template),
                      "roleArn": "arn:aws:iam::%s:role/JITP" % account.account_id}
        elif template_name is not None:
            config = {"templateName": template_name}
        if config:
            args += ["--registration-config", json.dumps(config)]
        out = self.aws_ok(*args, account=account)
        return ca_cert, ca_key, out["certificateId"]

    def new_device(self, ca_cert, ca_key, cn=None, organization="Acme", chain=True):
        """A device certificate signed by the CA; with chain, its file holds device + CA."""
        cn = cn or unique("dev")
        key = self.pki.key()
        cert = self.pki.sign(self.pki.csr(key, "%s/O=%s" % (cn, organization)), ca_cert, ca_key)
        if chain:
            combined = self.pki.path(unique("chain") + ".pem")
            with open(combined, "w") as f:
                f.write(self.pki.read(cert) + self.pki.read(ca_cert))
            cert = combined
        return mu.Device(cert, key, self.pki.certificate_id(cert)), cn

    def connect_pub(self, device, client_id, topic=None):
        return self.pub(device, topic or "devices/%s/hello" % client_id, "hi", client_id=client_id)

    def registry_snapshot(self):
        """What a refused connection must not change."""
        certificates = sorted(c["certificateId"] for c in
                              self.iot.list_certificates(pageSize=250)["certificates"])
        things = sorted(t["thingName"] for t in self.iot.list_things(maxResults=250)["things"])
        policies = sorted(p["policyName"] for p in self.iot.list_policies()["policies"])
        return certificates, things, policies

    def assertRefusedLeavingNothing(self, device, client_id, reason=REFUSED, **raw):
        """Refused twice (no second-chance registration either), a connect_failed event each
        time, and the registry as it was."""
        watcher = self.watcher()
        before = self.registry_snapshot()
        for attempt in (1, 2):
            if raw:
                with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, device, **raw) as c:
                    _, rc = c.connect(client_id)
                    self.assertEqual(rc, 5)
            else:
                proc = self.connect_pub(device, client_id)
                self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                self.assertIn(reason, proc.stdout + proc.stderr)
            watcher.wait_event("presence/connect_failed", client_id, count=attempt)
        self.assertEqual(self.registry_snapshot(), before)


class JitpTest(JitTestCase):

    def setUp(self):
        # One JITP CA for the class, registered by the first test that runs.
        cls = type(self)
        if not hasattr(cls, "ca_id"):
            cls.ca_cert, cls.ca_key, cls.ca_id = self.register_ca(unique("jitp-ca"),
                                                                  template=JITP_TEMPLATE)

    def test_first_connect_provisions_and_is_refused_second_connects(self):
        device, name = self.new_device(self.ca_cert, self.ca_key)
        before = mu.metrics(self.server)
        first = self.connect_pub(device, name)
        self.assertNotEqual(first.returncode, 0, first.stdout + first.stderr)
        self.assertIn(REFUSED, first.stdout + first.stderr)
        self.pub_ok(device, "devices/%s/hello" % name, "hi", client_id=name)

        thing = self.aws_ok("describe-thing", "--thing-name", name)
        self.assertEqual(thing["attributes"], {"maker": "Acme", "version": "v1"})
        principals = self.aws_ok("list-thing-principals", "--thing-name", name)["principals"]
        cert_arn = harness.DEFAULT_ACCOUNT.arn("cert", device.cert_id)
        self.assertEqual(principals, [cert_arn])
        described = self.aws_ok("describe-certificate", "--certificate-id", device.cert_id)
        self.assertEqual(described["certificateDescription"]["status"], "ACTIVE")
        self.assertEqual(described["certificateDescription"]["caCertificateId"], self.ca_id)
        policies = self.aws_ok("list-attached-policies", "--target", cert_arn)["policies"]
        self.assertEqual(len(policies), 1)
        # The thing's own policy variables apply: another thing's topic is denied.
        with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, device, version=5) as c:
            self.assertEqual(c.connect(name)[1], 0)
            self.assertEqual(c.publish("devices/%s/x" % name, "hi", qos=1), 0)
            self.assertEqual(c.publish("devices/someone-else/x", "hi", qos=1), 0x87)
        after = mu.metrics(self.server)
        self.assertEqual(after.get("fleetgate_jitp_provisioned_total", 0)
                         - before.get("fleetgate_jitp_provisioned_total", 0), 1)
        for resource in ("thing", "certificate"):
            key = 'fleetgate_registry_events_total{resource="%s",operation="created"}' % resource
            self.assertGreaterEqual(after.get(key, 0) - before.get(key, 0), 1, resource)

    def test_concurrent_first_connects_provision_once(self):
        device, name = self.new_device(self.ca_cert, self.ca_key)
        before = mu.metrics(self.server)
        codes = []
        handshaken = threading.Barrier(8, timeout=30)

        def attempt():
            with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, device) as c:
                handshaken.wait()  # every CONNECT leaves at once
                codes.append(c.connect(name)[1])

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        # Refused while the registration runs; a CONNECT that arrives after it commits gets in.
        self.assertEqual(len(codes), 8)
        self.assertTrue(set(codes) <= {0, 5}, codes)
        self.assertIn(5, codes)
        after = mu.metrics(self.server)
        key = 'fleetgate_registry_events_total{resource="certificate",operation="created"}'
        self.assertEqual(after.get(key, 0) - before.get(key, 0), 1)
        self.assertEqual(after.get("fleetgate_jitp_provisioned_total", 0)
                         - before.get("fleetgate_jitp_provisioned_total", 0), 1)
        self.assertEqual(len(self.aws_ok("list-thing-principals", "--thing-name", name)
                             ["principals"]), 1)
        self.pub_ok(device, "devices/%s/x" % name, "hi", client_id=name)

    def test_template_by_name_and_leaf_only_with_sni(self):
        template = unique("jitp")
        self.aws_ok("create-provisioning-template", "--template-name", template,
                    "--type", "JITP", "--enabled", "--template-body", json.dumps(JITP_TEMPLATE),
                    "--provisioning-role-arn", "arn:aws:iam::123456789012:role/JITP")
        ca_cert, ca_key, ca_id = self.register_ca(unique("named-ca"), template_name=template)
        device, name = self.new_device(ca_cert, ca_key, chain=False)
        endpoint = self.aws_ok("describe-endpoint", "--endpoint-type",
                               "iot:Data-ATS")["endpointAddress"]
        # Leaf only and no SNI: the CA cannot be told, nothing happens.
        self.assertRefusedLeavingNothing(device, name, server_hostname=None)
        for expected in (5, 0):
            with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, device,
                            server_hostname=endpoint) as c:
                self.assertEqual(c.connect(name)[1], expected)
        self.assertEqual(self.aws_ok("describe-thing", "--thing-name", name)["thingName"], name)

    # ---- refusals that leave nothing behind ----
    def test_unregistered_ca(self):
        root_cert, root_key = self.pki.root_ca(unique("stranger"))
        device, name = self.new_device(root_cert, root_key)
        self.assertRefusedLeavingNothing(device, name)

    def test_inactive_ca(self):
        ca_cert, ca_key, _ = self.register_ca(unique("inactive"), template=JITP_TEMPLATE,
                                              active=False)
        device, name = self.new_device(ca_cert, ca_key)
        self.assertRefusedLeavingNothing(device, name)

    def test_ca_deactivated_after_registration(self):
        ca_cert, ca_key, ca_id = self.register_ca(unique("deactivated"), template=JITP_TEMPLATE)
        self.aws_ok("update-ca-certificate", "--certificate-id", ca_id, "--new-status", "INACTIVE")
        device, name = self.new_device(ca_cert, ca_key)
        self.assertRefusedLeavingNothing(device, name)
        # AWS CA certificates have no REVOKED state (spec §2.2): the API refuses it.
        self.aws_error("InvalidRequestException", "update-ca-certificate", "--certificate-id",
                       ca_id, "--new-status", "REVOKED")

    def test_auto_registration_disabled(self):
        ca_cert, ca_key, _ = self.register_ca(unique("noauto"), template=JITP_TEMPLATE,
                                              auto=False)
        device, name = self.new_device(ca_cert, ca_key)
        self.assertRefusedLeavingNothing(device, name)

    def test_expired_and_not_yet_valid_device_certificates(self):
        for start, end in (("20200101000000Z", "20200131000000Z"),
                           ("20990101000000Z", "20991231000000Z")):
            with self.subTest(start=start):
                key = self.pki.key()
                name = unique("dated")
                cert = self.pki.dated(key, name, start, end, self.ca_cert, self.ca_key)
                chain = self.pki.write(self.pki.read(cert) + self.pki.read(self.ca_cert))
                device = mu.Device(chain, key, self.pki.certificate_id(cert))
                self.assertRefusedLeavingNothing(device, name, server_hostname=None)

    def test_forged_ca_copying_the_registered_subject(self):
        subject_cn = self.pki.subject(self.ca_cert).split("CN=", 1)[1].split(",")[0].strip()
        forged_root, forged_root_key = self.pki.root_ca(unique("forger"))
        forged_cert, forged_key = self.pki.intermediate_ca(subject_cn, forged_root,
                                                           forged_root_key)
        device, name = self.new_device(forged_cert, forged_key)
        self.assertRefusedLeavingNothing(device, name)
        # Leaf only, with SNI: the registered CA of that subject did not sign it either.
        leaf_only, _ = self.new_device(forged_cert, forged_key, cn=name, chain=False)
        endpoint = self.aws_ok("describe-endpoint", "--endpoint-type",
                               "iot:Data-ATS")["endpointAddress"]
        self.assertRefusedLeavingNothing(leaf_only, name, server_hostname=endpoint)

    def test_chain_whose_ca_certificate_is_not_the_signer(self):
        other_cert, _, _ = self.register_ca(unique("other"), template=JITP_TEMPLATE)
        key = self.pki.key()
        name = unique("wrongchain")
        cert = self.pki.sign(self.pki.csr(key, name), self.ca_cert, self.ca_key)
        chain = self.pki.write(self.pki.read(cert) + self.pki.read(other_cert))
        device = mu.Device(chain, key, self.pki.certificate_id(cert))
        self.assertRefusedLeavingNothing(device, name, server_hostname=None)

    def test_template_failures_roll_back(self):
        missing_parameter = json.loads(json.dumps(JITP_TEMPLATE))
        missing_parameter["Parameters"]["AWS::IoT::Certificate::Country"] = {"Type": "String"}
        missing_policy = json.loads(json.dumps(JITP_TEMPLATE))
        missing_policy["Resources"]["policy"]["Properties"] = {"PolicyName": unique("nosuch")}
        fail_on_existing = json.loads(json.dumps(JITP_TEMPLATE))
        fail_on_existing["Resources"]["thing"]["OverrideSettings"] = {"AttributePayload": "FAIL"}
        existing = unique("existing")
        self.aws_ok("create-thing", "--thing-name", existing)
        for label, template, cn in (("missing parameter", missing_parameter, None),
                                    ("missing policy", missing_policy, None),
                                    ("FAIL override", fail_on_existing, existing)):
            with self.subTest(label):
                ca_cert, ca_key, _ = self.register_ca(unique("bad-template"), template=template)
                device, name = self.new_device(ca_cert, ca_key, cn=cn)
                before = mu.metrics(self.server)
                self.assertRefusedLeavingNothing(device, name)
                after = mu.metrics(self.server)
                self.assertGreaterEqual(
                    after.get("fleetgate_auto_registration_failures_total", 0)
                    - before.get("fleetgate_auto_registration_failures_total", 0), 1)
        self.assertEqual(self.aws_ok("describe-thing", "--thing-name", existing)["attributes"], {})


class JitrTest(JitTestCase):

    def test_pending_activation_event_then_activation_lets_the_device_in(self):
        ca_cert, ca_key, ca_id = self.register_ca(unique("jitr-ca"))
        device, name = self.new_device(ca_cert, ca_key)
        topic = "$aws/events/certificates/registered/%s" % ca_id
        admin = self.sub(self.admin, topic).wait_subscribed()
        for attempt in (1, 2):
            proc = self.connect_pub(device, name)
            self.assertIn(REFUSED, proc.stdout + proc.stderr)
            self.assertTrue(admin.wait(lambda: len(admin.messages()) >= attempt),
                            admin.output())
        events = [json.loads(m[1]) for m in admin.messages()]
        first = events[0]
        self.assertEqual(set(first), {"certificateId", "caCertificateId", "timestamp",
                                      "certificateStatus", "awsAccountId",
                                      "certificateRegistrationTimestamp"})
        self.assertEqual(first["certificateId"], device.cert_id)
        self.assertEqual(first["caCertificateId"], ca_id)
        self.assertEqual(first["certificateStatus"], "PENDING_ACTIVATION")
        self.assertEqual(first["awsAccountId"], harness.DEFAULT_ACCOUNT.account_id)
        self.assertIsInstance(first["timestamp"], int)
        self.assertEqual(events[1]["certificateRegistrationTimestamp"],
                         first["certificateRegistrationTimestamp"])
        described = self.aws_ok("describe-certificate", "--certificate-id", device.cert_id)
        self.assertEqual(described["certificateDescription"]["status"], "PENDING_ACTIVATION")

        self.aws_ok("update-certificate", "--certificate-id", device.cert_id,
                    "--new-status", "ACTIVE")
        self.aws_ok("attach-policy", "--policy-name", "allow-all", "--target",
                    harness.DEFAULT_ACCOUNT.arn("cert", device.cert_id))
        self.pub_ok(device, "devices/%s/hello" % name, "hi", client_id=name)


class JitrActivationServiceTest(JitTestCase):
    """The JITR loop with no code in fleetgate: a topic rule's http action posts the registered
    event to examples/jitr_activation.py, which activates the certificate with the aws CLI."""

    EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                           "jitr_activation.py")

    def start_activation_service(self, trusted_ca, policy_name):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(HOME=self.server.home, AWS_SHARED_CREDENTIALS_FILE=self.server.credentials_file,
                   AWS_CONFIG_FILE=os.devnull, AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true")
        proc = subprocess.Popen(
            ["/usr/bin/python3", self.EXAMPLE, "--port", "0", "--policy-name", policy_name,
             "--trusted-ca", trusted_ca, "--endpoint-url", self.server.endpoint_url,
             "--ca-bundle", self.server.ca_bundle, "--region", harness.REGION],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.terminate)
        first = proc.stdout.readline()
        self.assertTrue(first.startswith("listening on "), first)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        return int(first.split()[-1]), lines

    def create_rule(self, ca_id, port):
        name = unique("jitr").replace("-", "_")
        payload = {"sql": "SELECT * FROM '$aws/events/certificates/registered/%s'" % ca_id,
                   "actions": [{"http": {"url": "http://127.0.0.1:%d/" % port}}]}
        self.aws_ok("create-topic-rule", "--rule-name", name, "--topic-rule-payload",
                    json.dumps(payload))
        self.addCleanup(self.server.aws, "delete-topic-rule", "--rule-name", name)

    def connects_within(self, device, name, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.connect_pub(device, name).returncode == 0:
                return True
            time.sleep(1)
        return False

    def test_webhook_activates_the_certificate_and_the_device_connects(self):
        ca_cert, ca_key, ca_id = self.register_ca(unique("jitr-hook-ca"))
        port, service_log = self.start_activation_service(ca_id, "allow-all")
        self.create_rule(ca_id, port)
        admin = self.sub(self.admin, "$aws/events/certificates/registered/%s" % ca_id)
        admin.wait_subscribed()
        device, name = self.new_device(ca_cert, ca_key)
        first = self.connect_pub(device, name)
        self.assertIn(REFUSED, first.stdout + first.stderr)
        self.assertTrue(admin.wait(lambda: len(admin.messages()) >= 1), admin.output())
        self.assertTrue(self.connects_within(device, name, 60),
                        "%r\n%s\n%r" % (service_log, self.server.log_tail(),
                                          {k: v for k, v in mu.metrics(self.server).items() if "rule" in k}))
        activated = "activated %s as %s\n" % (device.cert_id, name)
        deadline = time.monotonic() + 10  # the line is printed after the last aws call returns
        while activated not in service_log and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn(activated, service_log)
        self.assertEqual(self.aws_ok("list-thing-principals", "--thing-name", name)["principals"],
                         [harness.DEFAULT_ACCOUNT.arn("cert", device.cert_id)])

    def test_webhook_refusing_leaves_the_device_out(self):
        ca_cert, ca_key, ca_id = self.register_ca(unique("jitr-refused-ca"))
        port, service_log = self.start_activation_service("0" * 64, "allow-all")  # trusts another CA
        self.create_rule(ca_id, port)
        device, name = self.new_device(ca_cert, ca_key)
        watcher = self.watcher()
        for attempt in (1, 2):
            proc = self.connect_pub(device, name)
            self.assertIn(REFUSED, proc.stdout + proc.stderr)
            watcher.wait_event("presence/connect_failed", name, count=attempt)
        deadline = time.monotonic() + 10
        while not any(l.startswith("422") for l in service_log) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(any(l.startswith("422") for l in service_log), service_log)
        described = self.aws_ok("describe-certificate", "--certificate-id", device.cert_id)
        self.assertEqual(described["certificateDescription"]["status"], "PENDING_ACTIVATION")
        self.aws_error("ResourceNotFoundException", "describe-thing", "--thing-name", name)


class MultiAccountTest(JitTestCase):
    """Two accounts, one certificate registered without a CA in both, and the SNI choosing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Made while the server runs: the broker learns of it at the first SNI naming it.
        cls.other = cls.server.create_account("210987654321", "AKIAOTHERACCOUNT0001",
                                              "other-secret-access-key-000000000000")
        cls.other_iot = cls.server.client(account=cls.other)

    def endpoint(self, account):
        return self.aws_ok("describe-endpoint", "--endpoint-type", "iot:Data-ATS",
                           account=account)["endpointAddress"]

    def v5_publish(self, device, sni, topic):
        with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, device,
                        server_hostname=sni, version=5) as c:
            _, rc = c.connect(unique("multi"))
            if rc != 0:
                return "refused %d" % rc
            return c.publish(topic, "hi", qos=1)

    def test_same_certificate_in_two_accounts_gets_each_accounts_policies(self):
        key = self.pki.key()
        cert = self.pki.self_signed(key, unique("shared"))
        for iot, prefix in ((self.iot, "mine"), (self.other_iot, "theirs")):
            name = unique("pol")
            iot.create_policy(policyName=name, policyDocument=mu.policy(
                mu.allow("iot:Connect", "client/*"),
                mu.allow("iot:Publish", "topic/%s/*" % prefix)).replace(
                    mu.ARN, "arn:aws:iot:*:*:"))
            mu.register_without_ca(iot, self.pki, cert, key, policy_names=[name])
        device = mu.Device(cert, key, self.pki.certificate_id(cert))
        mine, theirs = self.endpoint(harness.DEFAULT_ACCOUNT), self.endpoint(self.other)
        self.assertNotEqual(mine, theirs)
        self.assertEqual(self.v5_publish(device, mine, "mine/x"), 0)
        self.assertEqual(self.v5_publish(device, mine, "theirs/x"), 0x87)
        self.assertEqual(self.v5_publish(device, theirs, "theirs/x"), 0)
        self.assertEqual(self.v5_publish(device, theirs, "mine/x"), 0x87)
        # A real client choosing the SNI: openssl s_client carrying an MQTT CONNECT.
        for sni in (mine, theirs):
            self.assertEqual(self.s_client_connack(device, sni), 0, sni)

    def s_client_connack(self, device, sni):
        """CONNACK return code a CONNECT sent through `openssl s_client -servername` gets."""
        proc = subprocess.run(
            [harness.OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % self.server.mqtt_port,
             "-servername", sni, "-cert", device.cert, "-key", device.key,
             "-CAfile", self.server.ca_bundle, "-verify_return_error", "-quiet",
             "-ign_eof"],
            input=mu.connect_packet(unique("sclient")) + mu.disconnect_packet(),
            capture_output=True, timeout=30)
        out = proc.stdout
        self.assertGreaterEqual(len(out), 4, proc.stderr)
        self.assertEqual(out[0] >> 4, mu.CONNACK, out)
        return out[3]

    def test_certificate_of_account_a_with_account_b_sni_is_refused(self):
        key = self.pki.key()
        cert = self.pki.self_signed(key, unique("only-mine"))
        device = mu.register_without_ca(self.iot, self.pki, cert, key, policy_names=["allow-all"])
        self.assertEqual(self.v5_publish(device, self.endpoint(harness.DEFAULT_ACCOUNT), "a/b"), 0)
        self.assertEqual(self.v5_publish(device, self.endpoint(self.other), "a/b"), "refused 135")
        self.assertEqual(self.s_client_connack(device, self.endpoint(self.other)), 5)

    def test_sni_naming_no_account_is_refused(self):
        nowhere = "nosuchprefix-ats.iot.%s.localhost" % harness.REGION
        self.assertEqual(self.v5_publish(self.admin, nowhere, "a/b"), "refused 135")
        # The admin's own endpoint still works.
        self.assertEqual(self.v5_publish(self.admin, self.endpoint(harness.DEFAULT_ACCOUNT),
                                         "a/b"), 0)

    def test_sni_only_ca_registered_in_both_accounts(self):
        root_cert, root_key = self.pki.root_ca(unique("shared-root"))
        ca_cert, ca_key = self.pki.intermediate_ca(unique("shared-ca"), root_cert, root_key)
        for account in (harness.DEFAULT_ACCOUNT, self.other):
            self.aws_ok("register-ca-certificate", "--ca-certificate", "file://" + ca_cert,
                        "--certificate-mode", "SNI_ONLY", "--set-as-active",
                        "--allow-auto-registration", account=account)
        device, name = self.new_device(ca_cert, ca_key, chain=False)
        # JITR in each account the device addresses, independently.
        for account in (harness.DEFAULT_ACCOUNT, self.other):
            with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, device,
                            server_hostname=self.endpoint(account)) as c:
                self.assertEqual(c.connect(name)[1], 5)
            described = self.aws_ok("describe-certificate", "--certificate-id", device.cert_id,
                                    account=account)["certificateDescription"]
            self.assertEqual(described["status"], "PENDING_ACTIVATION")
            self.assertEqual(described["certificateMode"], "SNI_ONLY")


class RequireSniTest(JitTestCase):
    serve_args = ("--require-sni",)

    def test_no_sni_is_refused_and_the_endpoint_is_accepted(self):
        endpoint = self.aws_ok("describe-endpoint", "--endpoint-type",
                               "iot:Data-ATS")["endpointAddress"]
        with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, self.admin,
                        server_hostname=None) as c:
            self.assertEqual(c.connect(unique("nosni"))[1], 5)
        with mu.RawMqtt(self.server.mqtt_port, self.server.ca_bundle, self.admin,
                        server_hostname=endpoint) as c:
            self.assertEqual(c.connect(unique("sni"))[1], 0)


if __name__ == "__main__":
    unittest.main()
