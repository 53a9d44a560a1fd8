"""Administration of a data directory: `fleetgate init`, `account create/reset`, the serve lock
and signal handling."""

import json
import os
import signal
import socket
import stat
import unittest

import botocore.exceptions

import harness
from harness import ACCOUNT_ID, DEFAULT_ACCOUNT, FLEETGATE_BIN

DB_FILES = ("registry.db", "registry.db-wal", "registry.db-shm", "serve.lock")


def tree(root, include_db):
    """{relative path: (sha256, mode)} of every file under root."""
    out = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            if not include_db and rel in DB_FILES:
                continue
            out[rel] = (harness.file_digest(path), stat.S_IMODE(os.stat(path).st_mode))
    return out


def paginate(client, operation, key):
    items = []
    for page in client.get_paginator(operation).paginate():
        items.extend(page[key])
    return items


def inventory(iot):
    """Everything an account holds, as listings."""
    return {
        "things": sorted(t["thingName"] for t in paginate(iot, "list_things", "things")),
        "certificates": sorted(c["certificateId"] for c in
                               paginate(iot, "list_certificates", "certificates")),
        "cas": sorted(c["certificateId"] for c in
                      paginate(iot, "list_ca_certificates", "certificates")),
        "policies": sorted(p["policyName"] for p in paginate(iot, "list_policies", "policies")),
        "groups": sorted(g["groupName"] for g in paginate(iot, "list_thing_groups",
                                                           "thingGroups")),
        "types": sorted(t["thingTypeName"] for t in paginate(iot, "list_thing_types",
                                                             "thingTypes")),
        "templates": sorted(t["templateName"] for t in
                            paginate(iot, "list_provisioning_templates", "templates")),
    }


class AdminTest(unittest.TestCase):
    def new_server(self, **kwargs):
        server = harness.Server(**kwargs)
        self.addCleanup(server.cleanup)
        return server

    def stop_cleanly(self, server):
        rc = server.stop()
        self.assertEqual(rc, 0, "serve exited %d after SIGTERM:\n%s" % (rc, server.log_tail()))

    def test_init_is_idempotent_and_never_overwrites(self):
        server = self.new_server()
        data = server.data_dir
        with open(server.credentials_file) as f:
            credentials = f.read()
        self.assertIn(harness.ACCESS_KEY_ID, credentials)
        self.assertIn(harness.SECRET_ACCESS_KEY, credentials)
        # Secrets are 0600: the credentials and every private key.
        secret_files = [server.credentials_file] + [
            os.path.join(data, "pki", n) for n in os.listdir(os.path.join(data, "pki"))
            if n.endswith(".key")]
        self.assertGreaterEqual(len(secret_files), 3, secret_files)
        for path in secret_files:
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
        before = tree(data, include_db=False)

        # The same command again: success, nothing rewritten.
        server.init()
        self.assertEqual(tree(data, include_db=False), before)
        # Without explicit keys: the stored credentials are kept, no new random ones.
        server.fleetgate("init", "--data-dir", data)
        self.assertEqual(tree(data, include_db=False), before)
        # Other keys for the same account are refused and overwrite nothing.
        rekeyed = harness.Account(ACCOUNT_ID, "AKIAREPLACEMENTKEY01", "replacement-secret" * 3)
        proc = server.init(account=rekeyed, check=False)
        self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(tree(data, include_db=False), before)

        # Other settings on an initialized directory: refused, and nothing changes at all.
        full_before = tree(data, include_db=True)
        other = harness.Account("111111111111", "AKIAOTHEROTHEROTHER1", "other-secret" * 4)
        for extra_args in (["--account-id", "111111111111"], ["--region", "eu-west-1"],
                           ["--domain", "other.example"], ["--endpoint-prefix", "otherprefix"],
                           ["--api-port", "1"], ["--issued-key-type", "ec"]):
            with self.subTest(extra_args):
                proc = server.fleetgate("init", "--data-dir", data, *extra_args, check=False)
                self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                self.assertEqual(tree(data, include_db=True), full_before)
        proc = server.init(account=other, check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(tree(data, include_db=True), full_before)

        # The original credentials still work and no other account was created.
        server.start()
        iot = server.client()
        self.assertEqual(iot.list_things()["things"], [])
        self.assertEqual(iot.create_thing(thingName="after-reinit")["thingArn"],
                         DEFAULT_ACCOUNT.arn("thing", "after-reinit"))
        for stranger in (other, rekeyed):
            with self.assertRaises(botocore.exceptions.ClientError) as ctx:
                server.client(stranger).list_things()
            self.assertEqual(ctx.exception.response["Error"]["Code"],
                             "UnrecognizedClientException")
        self.stop_cleanly(server)

    def _populate(self, iot, pki, tag):
        iot.create_thing_type(thingTypeName=tag + "-type")
        iot.create_thing(thingName=tag + "-thing", thingTypeName=tag + "-type")
        iot.create_thing_group(thingGroupName=tag + "-group")
        iot.add_thing_to_thing_group(thingGroupName=tag + "-group", thingName=tag + "-thing")
        cert = iot.create_certificate_from_csr(
            certificateSigningRequest=pki.read(pki.csr(pki.key("ec"), tag)), setAsActive=True)
        iot.create_policy(policyName=tag + "-policy",
                          policyDocument=harness.policy_document("iot:Connect"))
        iot.attach_policy(policyName=tag + "-policy", target=cert["certificateArn"])
        iot.attach_thing_principal(thingName=tag + "-thing", principal=cert["certificateArn"])
        iot.create_provisioning_template(
            templateName=tag + "-template", provisioningRoleArn="arn:aws:iam::%s:role/P" % (
                "0" * 12),
            templateBody=json.dumps({"Resources": {"thing": {"Type": "AWS::IoT::Thing",
                                                             "Properties": {}}}}))
        code = iot.get_registration_code()["registrationCode"]
        ca_cert, ca_key = pki.root_ca(tag + " CA")
        iot.register_ca_certificate(
            caCertificate=pki.read(ca_cert),
            verificationCertificate=pki.read(pki.verification_cert(code, ca_cert, ca_key)),
            setAsActive=True)

    def test_account_reset_empties_only_that_account(self):
        server = self.new_server(issued_key_type="ec")
        pki = harness.Pki(os.path.join(server.tmp, "pki"))
        server.start()
        account_b = server.create_account("222222222222", "AKIAFLEETGATEACCTB22",
                                          "secret-of-account-b-2222222222222222222")
        a, b = server.client(), server.client(account_b)
        self._populate(a, pki, "a")
        self._populate(b, pki, "b")
        a_before, b_before = inventory(a), inventory(b)
        for view in (a_before, b_before):
            self.assertTrue(all(view.values()), view)  # every kind of resource is present

        # Refused while the server runs; nothing changes.
        proc = server.fleetgate("account", "reset", "--data-dir", server.data_dir,
                                "--account-id", ACCOUNT_ID, "--yes", check=False)
        self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual((inventory(a), inventory(b)), (a_before, b_before))
        self.stop_cleanly(server)

        # An account that does not exist: an error, not a silent success.
        proc = server.fleetgate("account", "reset", "--data-dir", server.data_dir,
                                "--account-id", "999999999999", "--yes", check=False)
        self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        # Without --yes a wrong confirmation is refused.
        proc = harness.run([FLEETGATE_BIN, "account", "reset", "--data-dir", server.data_dir,
                            "--account-id", ACCOUNT_ID], check=False, input="not-the-id\n")
        self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        server.start()
        a, b = server.client(), server.client(account_b)  # the new server has a new port
        self.assertEqual((inventory(a), inventory(b)), (a_before, b_before))
        self.stop_cleanly(server)

        server.fleetgate("account", "reset", "--data-dir", server.data_dir, "--account-id",
                         ACCOUNT_ID, "--yes")
        server.start()
        a, b = server.client(), server.client(account_b)  # new port
        self.assertEqual(inventory(a), {k: [] for k in a_before})
        self.assertEqual(inventory(b), b_before)
        b_cert = b.list_certificates()["certificates"][0]
        self.assertEqual(b.list_principal_things(principal=b_cert["certificateArn"])["things"],
                         ["b-thing"])
        # The account and its keys are kept; names are free again.
        a.create_thing(thingName="a-thing")
        self.assertEqual(b.describe_thing(thingName="b-thing")["thingTypeName"], "b-type")
        self.stop_cleanly(server)

    def test_account_create(self):
        server = self.new_server(issued_key_type="ec")
        server.start()
        # Created while the server runs, in another region: usable at once, with its region.
        eu = server.create_account("333333333333", "AKIAFLEETGATEACCTEU3",
                                   "secret-of-account-eu-333333333333333333", region="eu-west-1")
        eu_client = server.client(eu)
        created = eu_client.create_thing(thingName="eu-thing")
        self.assertEqual(created["thingArn"], "arn:aws:iot:eu-west-1:333333333333:thing/eu-thing")
        self.assertIn(".iot.eu-west-1.", eu_client.describe_endpoint(
            endpointType="iot:Data-ATS")["endpointAddress"])
        # Its keys signing for another region are refused.
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            server.client(eu, region=harness.REGION).list_things()
        self.assertEqual(ctx.exception.response["Error"]["Code"], "InvalidSignatureException")

        # Duplicates are refused and change nothing: the same id, the same access key id.
        for account_id, key_id in [("333333333333", "AKIAFLEETGATEOTHER01"),
                                   ("444444444444", eu.access_key_id),
                                   ("555555555555", harness.ACCESS_KEY_ID)]:
            with self.subTest(account=account_id, key=key_id):
                proc = server.fleetgate("account", "create", "--data-dir", server.data_dir,
                                        "--account-id", account_id, "--access-key-id", key_id,
                                        "--secret-access-key", "a-different-secret-00000000000",
                                        check=False)
                self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        listed = server.fleetgate("account", "list", "--data-dir", server.data_dir).stdout
        self.assertEqual(sorted(line.split()[0] for line in listed.splitlines() if line.strip()),
                         [ACCOUNT_ID, "333333333333"])
        self.assertEqual(server.client(eu).describe_thing(thingName="eu-thing")["thingName"],
                         "eu-thing")
        self.assertEqual(server.client().list_things()["things"], [])
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            server.client(harness.Account("333333333333", eu.access_key_id,
                                          "a-different-secret-00000000000",
                                          "eu-west-1")).list_things()
        self.assertEqual(ctx.exception.response["Error"]["Code"], "InvalidSignatureException")
        self.stop_cleanly(server)

    def test_second_serve_on_the_same_data_dir_fails(self):
        server = self.new_server(issued_key_type="ec")
        server.start()
        server.client().create_thing(thingName="first-server")
        second_port_file = os.path.join(server.tmp, "second.port")
        proc = harness.run([FLEETGATE_BIN, "serve", "--data-dir", server.data_dir, "--api-port",
                            "0", "--port-file", second_port_file], check=False, timeout=60)
        self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertFalse(os.path.exists(second_port_file))
        # The first one is unaffected.
        self.assertTrue(server.running())
        self.assertEqual(server.client().describe_thing(thingName="first-server")["thingName"],
                         "first-server")
        self.stop_cleanly(server)
        # Once it stopped, serving again works.
        server.start()
        server.client().describe_thing(thingName="first-server")
        self.stop_cleanly(server)

    def test_stop_signals_exit_cleanly(self):
        server = self.new_server(issued_key_type="ec")
        server.start()
        server.client().create_thing(thingName="before-sigterm")
        port = server.port
        self.stop_cleanly(server)  # SIGTERM -> 0
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        # SIGINT (Ctrl-C) stops it cleanly too, and the data is there after a restart.
        server.start()
        server.proc.send_signal(signal.SIGINT)
        self.assertEqual(server.proc.wait(timeout=harness.STOP_TIMEOUT), 0, server.log_tail())
        server._reap()
        server.start()
        self.assertEqual(server.client().describe_thing(thingName="before-sigterm")["version"], 1)
        self.stop_cleanly(server)

    def test_serve_refuses_an_uninitialized_directory(self):
        server = self.new_server(init=False)
        proc = harness.run([FLEETGATE_BIN, "serve", "--data-dir", server.data_dir, "--api-port",
                            "0", "--port-file", server.port_file], check=False, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertFalse(os.path.exists(server.port_file))
        self.assertFalse(os.path.exists(os.path.join(server.data_dir, "registry.db")))


if __name__ == "__main__":
    unittest.main()
