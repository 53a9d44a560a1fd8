"""The development-phase flows of spec §1-3 driven through the real AWS CLI (/usr/bin/aws).

Every operation under test, reads included, goes through the CLI at least once. Each step then
checks the state it left; those repeated checks, and fixtures that only set the stage (many
things for a listing), use boto3, since every CLI start costs about a second of CPU.
"""

import json
import os
import re
import unittest
import uuid

import botocore.exceptions

import harness
from harness import ACCOUNT_ID, DEFAULT_ACCOUNT, OPENSSL, REGION

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
ROLE_ARN = "arn:aws:iam::%s:role/FleetgateProvisioning" % ACCOUNT_ID

FLEET_TEMPLATE = json.dumps({
    "Parameters": {
        "SerialNumber": {"Type": "String"},
        "AWS::IoT::Certificate::Id": {"Type": "String"},
    },
    "Resources": {
        "certificate": {
            "Type": "AWS::IoT::Certificate",
            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                           "Status": "ACTIVE"},
        },
        "thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {"ThingName": {"Fn::Join": ["", ["dev-", {"Ref": "SerialNumber"}]]}},
        },
    },
})


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


class CliTestCase(harness.ServerTestCase):
    """State checks between CLI steps, through boto3."""

    def cert(self, cert_id):
        return self.iot.describe_certificate(certificateId=cert_id)["certificateDescription"]

    def assertMissing(self, call, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            call(**kwargs)
        self.assertEqual(ctx.exception.response["Error"]["Code"], "ResourceNotFoundException")


class CliDevelopmentFlowTest(CliTestCase):
    """CreateKeysAndCertificate as AWS does it (RSA-2048 keys) and the whole attach/detach/delete
    cycle, with the preconditions each delete enforces."""

    issued_key_type = None  # the default: RSA-2048, like AWS

    def test_development_flow(self):
        arn = DEFAULT_ACCOUNT.arn
        thing = unique("dev-thing")
        policy = unique("dev-policy")

        created = self.aws_ok("create-thing", "--thing-name", thing, "--attribute-payload",
                              json.dumps({"attributes": {"model": "m1", "fw": "1.0.0"}}))
        self.assertEqual(created["thingName"], thing)
        self.assertEqual(created["thingArn"], arn("thing", thing))
        self.assertRegex(created["thingId"], UUID_RE)

        # ---- CreateKeysAndCertificate ----
        keys = self.aws_ok("create-keys-and-certificate", "--set-as-active")
        cert_id, cert_arn = keys["certificateId"], keys["certificateArn"]
        self.assertRegex(cert_id, HEX64_RE)
        self.assertEqual(cert_arn, arn("cert", cert_id))
        self.assertEqual(set(keys["keyPair"]), {"PublicKey", "PrivateKey"})
        self.assertIn("-----BEGIN PUBLIC KEY-----", keys["keyPair"]["PublicKey"])
        self.assertRegex(keys["keyPair"]["PrivateKey"], r"-----BEGIN (RSA )?PRIVATE KEY-----")
        cert_file = self.pki.write(keys["certificatePem"])
        key_file = self.pki.write(keys["keyPair"]["PrivateKey"], ".key")
        os.chmod(key_file, 0o600)
        # The id is the SHA-256 of the DER; the certificate chains to the device CA.
        self.assertEqual(self.pki.certificate_id(cert_file), cert_id)
        self.assertTrue(self.pki.verify(self.server.device_ca, cert_file),
                        "openssl verify rejected the issued certificate")
        # The key pair belongs to the certificate, and it is RSA-2048 (spec §1.5).
        cert_pub = harness.run([OPENSSL, "x509", "-in", cert_file, "-noout", "-pubkey"]).stdout
        key_pub = harness.run([OPENSSL, "pkey", "-in", key_file, "-pubout"]).stdout
        self.assertEqual(cert_pub.strip(), key_pub.strip())
        self.assertEqual(key_pub.strip(), keys["keyPair"]["PublicKey"].strip())
        self.assertIn("Public-Key: (2048 bit)", self.pki.text(cert_file))
        self.assertIn("rsaEncryption", self.pki.text(cert_file))

        desc = self.aws_ok("describe-certificate", "--certificate-id", cert_id)
        d = desc["certificateDescription"]
        self.assertEqual(d["certificateId"], cert_id)
        self.assertEqual(d["certificateArn"], cert_arn)
        self.assertEqual(d["status"], "ACTIVE")
        self.assertEqual(d["ownedBy"], ACCOUNT_ID)
        self.assertEqual(d["certificateMode"], "DEFAULT")
        self.assertEqual(d["certificatePem"].strip(), keys["certificatePem"].strip())
        self.assertLess(d["validity"]["notBefore"], d["validity"]["notAfter"])

        # ---- policy and attachments ----
        document = harness.policy_document("iot:Connect", "iot:Publish")
        pol = self.aws_ok("create-policy", "--policy-name", policy, "--policy-document", document)
        self.assertEqual(pol["policyName"], policy)
        self.assertEqual(pol["policyArn"], arn("policy", policy))
        self.assertEqual(pol["policyVersionId"], "1")
        self.assertEqual(json.loads(pol["policyDocument"]), json.loads(document))

        self.aws_ok("attach-policy", "--policy-name", policy, "--target", cert_arn)
        self.aws_ok("attach-thing-principal", "--thing-name", thing, "--principal", cert_arn)

        t = self.aws_ok("describe-thing", "--thing-name", thing)
        self.assertEqual(t["thingName"], thing)
        self.assertEqual(t["thingId"], created["thingId"])
        self.assertEqual(t["thingArn"], arn("thing", thing))
        self.assertEqual(t["attributes"], {"model": "m1", "fw": "1.0.0"})
        self.assertEqual(t["version"], 1)
        self.assertEqual(t["defaultClientId"], thing)

        self.assertEqual(self.aws_ok("list-thing-principals", "--thing-name", thing)["principals"],
                         [cert_arn])
        self.assertEqual(
            self.aws_ok("list-principal-things", "--principal", cert_arn)["things"], [thing])
        self.assertEqual(
            self.aws_ok("list-attached-policies", "--target", cert_arn)["policies"],
            [{"policyName": policy, "policyArn": arn("policy", policy)}])
        self.assertEqual(
            self.aws_ok("list-targets-for-policy", "--policy-name", policy)["targets"], [cert_arn])

        # ---- preconditions of the deletes; each refusal changes nothing ----
        self.aws_error("CertificateStateException", "delete-certificate", "--certificate-id",
                       cert_id)
        self.assertEqual(self.cert(cert_id)["status"], "ACTIVE")
        self.aws_error("InvalidRequestException", "delete-thing", "--thing-name", thing)
        self.assertEqual(self.iot.describe_thing(thingName=thing)["version"], 1)
        self.aws_error("DeleteConflictException", "delete-policy", "--policy-name", policy)
        self.assertEqual(self.aws_ok("get-policy", "--policy-name", policy)["defaultVersionId"],
                         "1")

        self.aws_ok("update-certificate", "--certificate-id", cert_id, "--new-status", "INACTIVE")
        self.assertEqual(self.cert(cert_id)["status"], "INACTIVE")
        # INACTIVE but still attached to a thing: DeleteConflictException (spec §1.5).
        self.aws_error("DeleteConflictException", "delete-certificate", "--certificate-id",
                       cert_id)

        self.aws_ok("detach-thing-principal", "--thing-name", thing, "--principal", cert_arn)
        self.assertEqual(self.aws_ok("list-thing-principals", "--thing-name", thing)["principals"],
                         [])
        self.assertEqual(self.iot.list_principal_things(principal=cert_arn)["things"], [])
        # Still a policy attached: DeleteConflictException without forceDelete.
        self.aws_error("DeleteConflictException", "delete-certificate", "--certificate-id",
                       cert_id)
        self.assertEqual(self.iot.list_attached_policies(target=cert_arn)["policies"],
                         [{"policyName": policy, "policyArn": arn("policy", policy)}])

        self.aws_ok("detach-policy", "--policy-name", policy, "--target", cert_arn)
        self.assertEqual(self.iot.list_attached_policies(target=cert_arn)["policies"], [])
        self.assertEqual(self.iot.list_targets_for_policy(policyName=policy)["targets"], [])

        self.aws_ok("delete-certificate", "--certificate-id", cert_id)
        self.aws_error("ResourceNotFoundException", "describe-certificate", "--certificate-id",
                       cert_id)
        self.aws_ok("delete-policy", "--policy-name", policy)
        self.assertMissing(self.iot.get_policy, policyName=policy)
        self.aws_ok("delete-thing", "--thing-name", thing)
        self.aws_error("ResourceNotFoundException", "describe-thing", "--thing-name", thing)
        # Deleting a thing that does not exist succeeds (spec §1.4).
        self.aws_ok("delete-thing", "--thing-name", thing)

    def test_force_delete_detaches_policies_but_not_things(self):
        thing, policy = unique("force-thing"), unique("force-policy")
        cert = self.aws_ok("create-keys-and-certificate")  # INACTIVE without --set-as-active
        cert_id, cert_arn = cert["certificateId"], cert["certificateArn"]
        self.assertEqual(self.cert(cert_id)["status"], "INACTIVE")
        iot = self.iot
        iot.create_thing(thingName=thing)
        iot.create_policy(policyName=policy, policyDocument=harness.policy_document("iot:Connect"))
        iot.attach_policy(policyName=policy, target=cert_arn)
        iot.attach_thing_principal(thingName=thing, principal=cert_arn)
        # forceDelete does not override attached things (spec §1.5).
        self.aws_error("DeleteConflictException", "delete-certificate", "--certificate-id",
                       cert_id, "--force-delete")
        self.assertEqual(self.cert(cert_id)["status"], "INACTIVE")
        iot.detach_thing_principal(thingName=thing, principal=cert_arn)
        self.aws_ok("delete-certificate", "--certificate-id", cert_id, "--force-delete")
        self.assertMissing(iot.describe_certificate, certificateId=cert_id)
        self.assertEqual(iot.list_targets_for_policy(policyName=policy)["targets"], [])
        iot.delete_policy(policyName=policy)
        iot.delete_thing(thingName=thing)


class CliCertificatesTest(CliTestCase):
    """CreateCertificateFromCsr, RegisterCertificateWithoutCA and the CA flow of spec §3."""

    issued_key_type = "ec"

    def _check_issued(self, result, csr_key):
        cert_id = result["certificateId"]
        self.assertRegex(cert_id, HEX64_RE)
        self.assertEqual(result["certificateArn"], DEFAULT_ACCOUNT.arn("cert", cert_id))
        cert_file = self.pki.write(result["certificatePem"])
        self.assertEqual(self.pki.certificate_id(cert_file), cert_id)
        self.assertTrue(self.pki.verify(self.server.device_ca, cert_file))
        # The certificate carries the CSR's key: the private key never left the "device".
        cert_pub = harness.run([OPENSSL, "x509", "-in", cert_file, "-noout", "-pubkey"]).stdout
        key_pub = harness.run([OPENSSL, "pkey", "-in", csr_key, "-pubout"]).stdout
        self.assertEqual(cert_pub.strip(), key_pub.strip())
        return cert_id

    def test_create_certificate_from_csr_ec_and_rsa(self):
        ec_key = self.pki.key("ec")
        ec_csr = self.pki.csr(ec_key, "ec-device")
        ec = self.aws_ok("create-certificate-from-csr", "--certificate-signing-request",
                         "file://" + ec_csr, "--set-as-active")
        ec_id = self._check_issued(ec, ec_key)
        self.assertEqual(self.cert(ec_id)["status"], "ACTIVE")

        rsa_key = self.pki.key("rsa2048")
        rsa_csr = self.pki.csr(rsa_key, "rsa-device")
        rsa = self.aws_ok("create-certificate-from-csr", "--certificate-signing-request",
                          "file://" + rsa_csr)
        rsa_id = self._check_issued(rsa, rsa_key)
        self.assertEqual(self.cert(rsa_id)["status"], "INACTIVE")

        # The same CSR again yields a new, distinct certificate (spec §1.5).
        again = self.aws_ok("create-certificate-from-csr", "--certificate-signing-request",
                            "file://" + ec_csr)
        self.assertNotEqual(self._check_issued(again, ec_key), ec_id)

        listed = {c["certificateId"]: c for c in self.aws_ok("list-certificates")["certificates"]}
        self.assertEqual(listed[ec_id]["status"], "ACTIVE")
        self.assertEqual(listed[rsa_id]["status"], "INACTIVE")
        self.assertIn(again["certificateId"], listed)

    def test_register_certificate_without_ca(self):
        key = self.pki.key("ec")
        cert = self.pki.self_signed(key, "self-signed-device")
        expected_id = self.pki.certificate_id(cert)
        reg = self.aws_ok("register-certificate-without-ca", "--certificate-pem", "file://" + cert,
                          "--status", "ACTIVE")
        self.assertEqual(reg["certificateId"], expected_id)
        self.assertEqual(reg["certificateArn"], DEFAULT_ACCOUNT.arn("cert", expected_id))
        d = self.cert(expected_id)
        self.assertEqual(d["status"], "ACTIVE")
        self.assertEqual(d["certificateMode"], "SNI_ONLY")
        self.assertNotIn("caCertificateId", d)
        self.assertEqual(d["certificatePem"].strip(), self.pki.read(cert).strip())
        # The same certificate twice: ResourceAlreadyExistsException, and still ACTIVE.
        self.aws_error("ResourceAlreadyExistsException", "register-certificate-without-ca",
                       "--certificate-pem", "file://" + cert, "--status", "INACTIVE")
        self.assertEqual(self.cert(expected_id)["status"], "ACTIVE")

    def test_ca_registration_flow(self):
        code = self.aws_ok("get-registration-code")["registrationCode"]
        self.assertRegex(code, HEX64_RE)
        self.assertEqual(self.iot.get_registration_code()["registrationCode"], code)

        root_cert, root_key = self.pki.root_ca("CLI Test Root CA")
        inter_cert, inter_key = self.pki.intermediate_ca("CLI Test Intermediate CA", root_cert,
                                                         root_key)
        # Sanity of the fixture itself: the intermediate chains to the root.
        self.assertTrue(self.pki.verify(root_cert, inter_cert))
        verification = self.pki.verification_cert(code, inter_cert, inter_key)

        reg = self.aws_ok("register-ca-certificate", "--ca-certificate", "file://" + inter_cert,
                          "--verification-certificate", "file://" + verification,
                          "--set-as-active", "--allow-auto-registration")
        ca_id = reg["certificateId"]
        self.assertEqual(ca_id, self.pki.certificate_id(inter_cert))
        self.assertEqual(reg["certificateArn"], DEFAULT_ACCOUNT.arn("cacert", ca_id))

        d = self.aws_ok("describe-ca-certificate", "--certificate-id", ca_id)
        cd = d["certificateDescription"]
        self.assertEqual(cd["certificateId"], ca_id)
        self.assertEqual(cd["status"], "ACTIVE")
        self.assertEqual(cd["autoRegistrationStatus"], "ENABLE")
        self.assertEqual(cd["certificateMode"], "DEFAULT")
        self.assertEqual(cd["ownedBy"], ACCOUNT_ID)
        self.assertEqual(cd["certificatePem"].strip(), self.pki.read(inter_cert).strip())
        self.assertIn(ca_id, [c["certificateId"]
                              for c in self.aws_ok("list-ca-certificates")["certificates"]])

        # A device certificate signed by the registered intermediate.
        device_cert, _ = self.pki.leaf("ca-device-1", inter_cert, inter_key)
        device = self.aws_ok("register-certificate", "--certificate-pem", "file://" + device_cert,
                             "--status", "ACTIVE")
        device_id = device["certificateId"]
        self.assertEqual(device_id, self.pki.certificate_id(device_cert))
        dd = self.cert(device_id)
        self.assertEqual(dd["status"], "ACTIVE")
        self.assertEqual(dd["caCertificateId"], ca_id)
        self.assertEqual(dd["certificateMode"], "DEFAULT")
        by_ca = self.aws_ok("list-certificates-by-ca", "--ca-certificate-id", ca_id)
        self.assertEqual([c["certificateId"] for c in by_ca["certificates"]], [device_id])

        # A device certificate signed by the (unregistered) root: no registered issuer.
        stray_cert, _ = self.pki.leaf("ca-device-stray", root_cert, root_key)
        self.aws_error("CertificateValidationException", "register-certificate",
                       "--certificate-pem", "file://" + stray_cert)
        self.assertMissing(self.iot.describe_certificate,
                           certificateId=self.pki.certificate_id(stray_cert))

        # Deactivating the CA stops new registrations, existing certificates stay (spec §2.2).
        self.aws_ok("update-ca-certificate", "--certificate-id", ca_id, "--new-status", "INACTIVE",
                    "--new-auto-registration-status", "DISABLE")
        cd = self.iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]
        self.assertEqual((cd["status"], cd["autoRegistrationStatus"]), ("INACTIVE", "DISABLE"))
        second_cert, _ = self.pki.leaf("ca-device-2", inter_cert, inter_key)
        self.aws_error("CertificateStateException", "register-certificate", "--certificate-pem",
                       "file://" + second_cert)
        self.assertEqual([c["certificateId"] for c in self.iot.list_certificates_by_ca(
            caCertificateId=ca_id)["certificates"]], [device_id])
        self.assertEqual(self.cert(device_id)["status"], "ACTIVE")

        # Registering the same CA again: ResourceAlreadyExistsException.
        self.aws_error("ResourceAlreadyExistsException", "register-ca-certificate",
                       "--ca-certificate", "file://" + inter_cert,
                       "--verification-certificate", "file://" + verification)

        # An ACTIVE CA cannot be deleted (spec §1.6); an INACTIVE one can.
        self.iot.update_ca_certificate(certificateId=ca_id, newStatus="ACTIVE")
        self.aws_error("CertificateStateException", "delete-ca-certificate", "--certificate-id",
                       ca_id)
        self.assertEqual(self.iot.describe_ca_certificate(certificateId=ca_id)
                         ["certificateDescription"]["status"], "ACTIVE")
        self.iot.update_certificate(certificateId=device_id, newStatus="REVOKED")
        self.iot.delete_certificate(certificateId=device_id)
        self.iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
        self.aws_ok("delete-ca-certificate", "--certificate-id", ca_id)
        self.aws_error("ResourceNotFoundException", "describe-ca-certificate", "--certificate-id",
                       ca_id)
        self.assertNotIn(ca_id, [c["certificateId"] for c in
                                 self.iot.list_ca_certificates()["certificates"]])

    def test_revoked_certificate_cannot_be_reactivated(self):
        cert_id = self.iot.create_keys_and_certificate()["certificateId"]
        self.aws_ok("update-certificate", "--certificate-id", cert_id, "--new-status", "REVOKED")
        self.aws_error("CertificateStateException", "update-certificate", "--certificate-id",
                       cert_id, "--new-status", "ACTIVE")
        self.assertEqual(self.cert(cert_id)["status"], "REVOKED")
        # Service-internal states cannot be requested (spec §2.1).
        result = self.server.aws("update-certificate", "--certificate-id", cert_id,
                                 "--new-status", "PENDING_ACTIVATION")
        self.assertIn(result.error_code, ("InvalidRequestException", "CertificateStateException"),
                      repr(result))
        self.assertEqual(self.cert(cert_id)["status"], "REVOKED")
        self.iot.delete_certificate(certificateId=cert_id)


class CliThingsTest(CliTestCase):
    """Thing types, thing groups, UpdateThing and ListThings through the CLI."""

    issued_key_type = "ec"

    def test_thing_types(self):
        type_name = unique("sensor")
        created = self.aws_ok("create-thing-type", "--thing-type-name", type_name,
                              "--thing-type-properties",
                              json.dumps({"thingTypeDescription": "temperature sensor",
                                          "searchableAttributes": ["serial"]}))
        self.assertEqual(created["thingTypeName"], type_name)
        self.assertEqual(created["thingTypeArn"], DEFAULT_ACCOUNT.arn("thingtype", type_name))
        self.assertTrue(created["thingTypeId"])

        d = self.aws_ok("describe-thing-type", "--thing-type-name", type_name)
        self.assertEqual(d["thingTypeProperties"]["thingTypeDescription"], "temperature sensor")
        self.assertEqual(d["thingTypeProperties"]["searchableAttributes"], ["serial"])
        self.assertFalse(d["thingTypeMetadata"]["deprecated"])
        self.assertIn(type_name, [t["thingTypeName"]
                                  for t in self.aws_ok("list-thing-types")["thingTypes"]])

        # Without a type a thing has at most 3 attributes; with one, more (spec §1.2).
        four = {"attributes": {"a": "1", "b": "2", "c": "3", "d": "4"}}
        untyped = unique("untyped")
        self.aws_error("InvalidRequestException", "create-thing", "--thing-name", untyped,
                       "--attribute-payload", json.dumps(four))
        self.assertMissing(self.iot.describe_thing, thingName=untyped)
        typed = unique("typed")
        self.aws_ok("create-thing", "--thing-name", typed, "--thing-type-name", type_name,
                    "--attribute-payload", json.dumps(four))
        t = self.iot.describe_thing(thingName=typed)
        self.assertEqual(t["thingTypeName"], type_name)
        self.assertEqual(t["attributes"], four["attributes"])
        filtered = self.aws_ok("list-things", "--thing-type-name", type_name)["things"]
        self.assertEqual([x["thingName"] for x in filtered], [typed])

        # Deletion needs deprecation first.
        self.aws_error("InvalidRequestException", "delete-thing-type", "--thing-type-name",
                       type_name)
        self.aws_ok("deprecate-thing-type", "--thing-type-name", type_name)
        d = self.iot.describe_thing_type(thingTypeName=type_name)
        self.assertTrue(d["thingTypeMetadata"]["deprecated"])
        self.assertIn("deprecationDate", d["thingTypeMetadata"])
        # A deprecated type takes no new things.
        self.aws_error("InvalidRequestException", "create-thing", "--thing-name", unique("late"),
                       "--thing-type-name", type_name)
        # Undo and redo the deprecation.
        self.aws_ok("deprecate-thing-type", "--thing-type-name", type_name, "--undo-deprecate")
        self.assertFalse(self.iot.describe_thing_type(thingTypeName=type_name)
                         ["thingTypeMetadata"]["deprecated"])
        self.iot.deprecate_thing_type(thingTypeName=type_name)
        # Still used by a thing: refused, and the type is still there.
        self.aws_error("InvalidRequestException", "delete-thing-type", "--thing-type-name",
                       type_name)
        self.iot.describe_thing_type(thingTypeName=type_name)
        self.iot.delete_thing(thingName=typed)
        self.aws_ok("delete-thing-type", "--thing-type-name", type_name)
        self.aws_error("ResourceNotFoundException", "describe-thing-type", "--thing-type-name",
                       type_name)
        self.aws_error("ResourceNotFoundException", "create-thing", "--thing-name", unique("x"),
                       "--thing-type-name", type_name)

    def test_thing_groups(self):
        root, child, leaf = unique("root"), unique("child"), unique("leaf")
        r = self.aws_ok("create-thing-group", "--thing-group-name", root,
                        "--thing-group-properties",
                        json.dumps({"thingGroupDescription": "all devices"}))
        self.assertEqual(r["thingGroupArn"], DEFAULT_ACCOUNT.arn("thinggroup", root))
        self.aws_ok("create-thing-group", "--thing-group-name", child, "--parent-group-name", root)
        self.aws_ok("create-thing-group", "--thing-group-name", leaf, "--parent-group-name", child)
        # Identical again: 200 with the same group; different properties: already exists.
        again = self.aws_ok("create-thing-group", "--thing-group-name", root,
                            "--thing-group-properties",
                            json.dumps({"thingGroupDescription": "all devices"}))
        self.assertEqual(again["thingGroupId"], r["thingGroupId"])
        self.aws_error("ResourceAlreadyExistsException", "create-thing-group",
                       "--thing-group-name", root, "--thing-group-properties",
                       json.dumps({"thingGroupDescription": "something else"}))
        self.aws_error("ResourceNotFoundException", "create-thing-group", "--thing-group-name",
                       unique("orphan"), "--parent-group-name", unique("missing"))

        d = self.aws_ok("describe-thing-group", "--thing-group-name", leaf)
        self.assertEqual(d["thingGroupName"], leaf)
        self.assertEqual(d["thingGroupMetadata"]["parentGroupName"], child)
        self.assertEqual(d["thingGroupMetadata"]["rootToParentThingGroups"], [
            {"groupName": root, "groupArn": DEFAULT_ACCOUNT.arn("thinggroup", root)},
            {"groupName": child, "groupArn": DEFAULT_ACCOUNT.arn("thinggroup", child)}])
        droot = self.iot.describe_thing_group(thingGroupName=root)
        self.assertEqual(droot["thingGroupProperties"]["thingGroupDescription"], "all devices")
        self.assertNotIn("parentGroupName", droot["thingGroupMetadata"])

        things = [unique("member") for _ in range(3)]
        for name in things:
            self.iot.create_thing(thingName=name)
        self.aws_ok("add-thing-to-thing-group", "--thing-group-name", root, "--thing-name",
                    things[0])
        self.aws_ok("add-thing-to-thing-group", "--thing-group-name", child, "--thing-name",
                    things[1])
        self.aws_ok("add-thing-to-thing-group", "--thing-group-arn",
                    DEFAULT_ACCOUNT.arn("thinggroup", leaf), "--thing-arn",
                    DEFAULT_ACCOUNT.arn("thing", things[2]))
        self.aws_error("ResourceNotFoundException", "add-thing-to-thing-group",
                       "--thing-group-name", root, "--thing-name", unique("ghost"))

        def members(group, recursive):
            args = ["list-things-in-thing-group", "--thing-group-name", group]
            if recursive:
                args.append("--recursive")
            return sorted(self.aws_ok(*args)["things"])

        def members_b3(group, recursive):
            return sorted(self.iot.list_things_in_thing_group(thingGroupName=group,
                                                              recursive=recursive)["things"])

        self.assertEqual(members(root, False), [things[0]])
        self.assertEqual(members(root, True), sorted(things))
        self.assertEqual(members_b3(child, True), sorted(things[1:]))
        self.assertEqual(members_b3(leaf, False), [things[2]])

        self.aws_ok("remove-thing-from-thing-group", "--thing-group-name", child, "--thing-name",
                    things[1])
        self.assertEqual(members_b3(root, True), sorted([things[0], things[2]]))
        self.assertEqual(members_b3(child, False), [])

    def test_update_thing_merge_and_expected_version(self):
        name = unique("updatable")
        self.iot.create_thing(thingName=name, attributePayload={"attributes": {"a": "1", "b": "2"}})
        self.aws_ok("update-thing", "--thing-name", name, "--attribute-payload",
                    json.dumps({"attributes": {"b": "3", "c": "4"}, "merge": True}))
        t = self.iot.describe_thing(thingName=name)
        self.assertEqual(t["attributes"], {"a": "1", "b": "3", "c": "4"})
        self.assertEqual(t["version"], 2)

        # A stale expectedVersion: VersionConflictException, nothing changes.
        self.aws_error("VersionConflictException", "update-thing", "--thing-name", name,
                       "--expected-version", "1", "--attribute-payload",
                       json.dumps({"attributes": {"a": "9"}, "merge": True}))
        t = self.iot.describe_thing(thingName=name)
        self.assertEqual((t["attributes"], t["version"]), ({"a": "1", "b": "3", "c": "4"}, 2))

        # Merge with an empty value removes that attribute.
        self.aws_ok("update-thing", "--thing-name", name, "--expected-version", "2",
                    "--attribute-payload", json.dumps({"attributes": {"a": ""}, "merge": True}))
        t = self.iot.describe_thing(thingName=name)
        self.assertEqual((t["attributes"], t["version"]), ({"b": "3", "c": "4"}, 3))

        # Without merge the map is replaced.
        self.aws_ok("update-thing", "--thing-name", name, "--attribute-payload",
                    json.dumps({"attributes": {"z": "26"}}))
        t = self.iot.describe_thing(thingName=name)
        self.assertEqual((t["attributes"], t["version"]), ({"z": "26"}, 4))

        # DeleteThing honours expectedVersion too.
        self.aws_error("VersionConflictException", "delete-thing", "--thing-name", name,
                       "--expected-version", "3")
        self.iot.describe_thing(thingName=name)
        self.aws_ok("delete-thing", "--thing-name", name, "--expected-version", "4")
        self.assertMissing(self.iot.describe_thing, thingName=name)
        self.aws_error("ResourceNotFoundException", "update-thing", "--thing-name", name,
                       "--attribute-payload", json.dumps({"attributes": {"a": "1"}}))

    def test_list_things_filters_and_pagination(self):
        batch = unique("batch")  # an attribute value no other test uses
        red = sorted("%s-red-%02d" % (batch, i) for i in range(7))
        blue = sorted("%s-blue-%02d" % (batch, i) for i in range(4))
        iot = self.iot  # bulk fixture through boto3; the listing under test is the CLI's
        for name in red:
            iot.create_thing(thingName=name, attributePayload={
                "attributes": {"batch": batch, "color": "red"}})
        for name in blue:
            iot.create_thing(thingName=name, attributePayload={
                "attributes": {"batch": batch, "color": "blue"}})

        def names(result):
            return [t["thingName"] for t in result["things"]]

        # Filter by name and value; several pages of 2 followed by the CLI.
        got = names(self.aws_ok("list-things", "--attribute-name", "batch", "--attribute-value",
                                batch, "--page-size", "2"))
        self.assertEqual(len(got), len(set(got)), "an item appeared twice: %s" % got)
        self.assertEqual(sorted(got), sorted(red + blue))
        reds = self.aws_ok("list-things", "--attribute-name", "color", "--attribute-value",
                           "red", "--page-size", "3")["things"]
        self.assertEqual({t["attributes"]["color"] for t in reds}, {"red"})
        # Other tests' things may be red too; of this batch exactly the red ones are listed.
        self.assertEqual({t["thingName"] for t in reds} & set(red + blue), set(red))

        # The server honours maxResults itself: one raw page of 2, then the rest by token.
        page = self.aws_ok("list-things", "--attribute-name", "batch", "--attribute-value", batch,
                           "--max-results", "2", "--no-paginate")
        self.assertEqual(len(page["things"]), 2)
        self.assertIn("nextToken", page)
        rest = self.aws_ok("list-things", "--attribute-name", "batch", "--attribute-value", batch,
                           "--max-results", "50", "--next-token", page["nextToken"],
                           "--no-paginate")
        self.assertNotIn("nextToken", rest)
        self.assertEqual(names(page) + names(rest), sorted(red + blue))

        # usePrefixAttributeValue matches on a value prefix.
        got = names(self.aws_ok("list-things", "--attribute-name", "batch", "--attribute-value",
                                batch[:-2], "--use-prefix-attribute-value"))
        self.assertEqual(sorted(got), sorted(red + blue))
        self.assertEqual(self.iot.list_things(attributeName="batch",
                                              attributeValue=batch[:-2])["things"], [])

        # --max-items stops early and hands back a token; resuming yields the rest exactly once.
        first = self.aws_ok("list-things", "--attribute-name", "batch", "--attribute-value",
                            batch, "--page-size", "2", "--max-items", "5")
        self.assertEqual(len(first["things"]), 5)
        self.assertIn("NextToken", first)
        rest = self.aws_ok("list-things", "--attribute-name", "batch", "--attribute-value", batch,
                           "--page-size", "2", "--starting-token", first["NextToken"])
        self.assertNotIn("NextToken", rest)
        combined = names(first) + names(rest)
        self.assertEqual(len(combined), len(set(combined)), combined)
        self.assertEqual(sorted(combined), sorted(red + blue))

        # Without filters every thing of the account appears exactly once, page size 4.
        everything = names(self.aws_ok("list-things", "--page-size", "4"))
        self.assertEqual(len(everything), len(set(everything)))
        self.assertTrue(set(red + blue) <= set(everything))


class CliPoliciesAndTemplatesTest(CliTestCase):
    """Policy versions, provisioning templates and DescribeEndpoint."""

    issued_key_type = "ec"

    def test_policy_versions(self):
        name = unique("versioned")
        docs = [harness.policy_document("iot:Connect", resource="arn:aws:iot:%s:%s:client/c%d" % (
            REGION, ACCOUNT_ID, i)) for i in range(7)]
        self.assertEqual(self.aws_ok("create-policy", "--policy-name", name, "--policy-document",
                                     docs[0])["policyVersionId"], "1")
        for i in range(2, 6):  # versions 2..5; 4 becomes the default
            args = ["create-policy-version", "--policy-name", name, "--policy-document",
                    docs[i - 1]]
            if i == 4:
                args.append("--set-as-default")
            v = self.aws_ok(*args)
            self.assertEqual(v["policyVersionId"], str(i))
            self.assertEqual(v["isDefaultVersion"], i == 4)
        # The sixth: VersionsLimitExceededException, nothing added.
        self.aws_error("VersionsLimitExceededException", "create-policy-version", "--policy-name",
                       name, "--policy-document", docs[5])
        versions = self.aws_ok("list-policy-versions", "--policy-name", name)["policyVersions"]
        self.assertEqual(sorted(v["versionId"] for v in versions), ["1", "2", "3", "4", "5"])
        self.assertEqual([v["versionId"] for v in versions if v["isDefaultVersion"]], ["4"])
        p = self.aws_ok("get-policy", "--policy-name", name)
        self.assertEqual(p["defaultVersionId"], "4")
        self.assertEqual(json.loads(p["policyDocument"]), json.loads(docs[3]))

        self.aws_ok("set-default-policy-version", "--policy-name", name, "--policy-version-id",
                    "3")
        self.assertEqual(self.iot.get_policy(policyName=name)["defaultVersionId"], "3")
        v3 = self.aws_ok("get-policy-version", "--policy-name", name, "--policy-version-id", "3")
        self.assertTrue(v3["isDefaultVersion"])
        self.assertEqual(json.loads(v3["policyDocument"]), json.loads(docs[2]))
        self.assertFalse(self.iot.get_policy_version(policyName=name, policyVersionId="4")
                         ["isDefaultVersion"])

        # The default version cannot be deleted. The spec leaves the name open (moto:
        # InvalidRequestException); either client error is accepted, the state must not change.
        result = self.server.aws("delete-policy-version", "--policy-name", name,
                                 "--policy-version-id", "3")
        self.assertIn(result.error_code, ("InvalidRequestException", "DeleteConflictException"),
                      repr(result))
        self.assertTrue(self.iot.get_policy_version(policyName=name, policyVersionId="3")
                        ["isDefaultVersion"])

        self.aws_ok("delete-policy-version", "--policy-name", name, "--policy-version-id", "2")
        self.aws_error("ResourceNotFoundException", "get-policy-version", "--policy-name", name,
                       "--policy-version-id", "2")
        versions = self.iot.list_policy_versions(policyName=name)["policyVersions"]
        self.assertEqual(sorted(v["versionId"] for v in versions), ["1", "3", "4", "5"])
        # Ids are never reused: the next one is 6.
        self.assertEqual(self.aws_ok("create-policy-version", "--policy-name", name,
                                     "--policy-document", docs[6])["policyVersionId"], "6")

        # DeletePolicy with non-default versions: DeleteConflictException.
        self.aws_error("DeleteConflictException", "delete-policy", "--policy-name", name)
        self.iot.get_policy(policyName=name)
        for version in ("1", "4", "5", "6"):
            self.iot.delete_policy_version(policyName=name, policyVersionId=version)
        self.aws_ok("delete-policy", "--policy-name", name)
        self.assertMissing(self.iot.get_policy, policyName=name)
        self.aws_error("ResourceNotFoundException", "create-policy-version", "--policy-name",
                       name, "--policy-document", docs[0])

    def test_provisioning_templates(self):
        name = unique("fleet")[:36]
        created = self.aws_ok("create-provisioning-template", "--template-name", name,
                              "--description", "first", "--template-body", FLEET_TEMPLATE,
                              "--provisioning-role-arn", ROLE_ARN, "--enabled")
        self.assertEqual(created["templateName"], name)
        self.assertEqual(created["templateArn"],
                         DEFAULT_ACCOUNT.arn("provisioningtemplate", name))
        self.assertEqual(created["defaultVersionId"], 1)

        d = self.aws_ok("describe-provisioning-template", "--template-name", name)
        self.assertEqual(json.loads(d["templateBody"]), json.loads(FLEET_TEMPLATE))
        self.assertEqual((d["enabled"], d["description"], d["provisioningRoleArn"], d["type"],
                          d["defaultVersionId"]),
                         (True, "first", ROLE_ARN, "FLEET_PROVISIONING", 1))
        listed = self.aws_ok("list-provisioning-templates")["templates"]
        self.assertEqual([t["templateName"] for t in listed if t["templateName"] == name], [name])

        self.aws_ok("update-provisioning-template", "--template-name", name, "--description",
                    "second", "--no-enabled")
        d = self.iot.describe_provisioning_template(templateName=name)
        self.assertEqual((d["enabled"], d["description"]), (False, "second"))

        body2 = json.loads(FLEET_TEMPLATE)
        body2["Resources"]["thing"]["Properties"]["ThingName"] = {"Ref": "SerialNumber"}
        body2 = json.dumps(body2)
        v2 = self.aws_ok("create-provisioning-template-version", "--template-name", name,
                         "--template-body", body2, "--set-as-default")
        self.assertEqual((v2["versionId"], v2["isDefaultVersion"]), (2, True))
        versions = self.aws_ok("list-provisioning-template-versions", "--template-name",
                               name)["versions"]
        self.assertEqual(sorted((v["versionId"], v["isDefaultVersion"]) for v in versions),
                         [(1, False), (2, True)])
        v1 = self.aws_ok("describe-provisioning-template-version", "--template-name", name,
                         "--version-id", "1")
        self.assertEqual(json.loads(v1["templateBody"]), json.loads(FLEET_TEMPLATE))
        self.assertEqual(json.loads(self.iot.describe_provisioning_template(
            templateName=name)["templateBody"]), json.loads(body2))

        # The default version cannot be deleted; after moving the default it can.
        self.aws_error("DeleteConflictException", "delete-provisioning-template-version",
                       "--template-name", name, "--version-id", "2")
        self.aws_ok("update-provisioning-template", "--template-name", name,
                    "--default-version-id", "1")
        self.assertEqual(self.iot.describe_provisioning_template(templateName=name)
                         ["defaultVersionId"], 1)
        self.aws_ok("delete-provisioning-template-version", "--template-name", name,
                    "--version-id", "2")
        self.assertMissing(self.iot.describe_provisioning_template_version, templateName=name,
                           versionId=2)

        # Malformed bodies: InvalidRequestException and nothing is created or added.
        bad = unique("bad")[:36]
        self.aws_error("InvalidRequestException", "create-provisioning-template",
                       "--template-name", bad, "--template-body", "{not json",
                       "--provisioning-role-arn", ROLE_ARN)
        self.aws_error("InvalidRequestException", "create-provisioning-template-version",
                       "--template-name", name, "--template-body", json.dumps(
                           {"Resources": {"x": {"Type": "AWS::S3::Bucket", "Properties": {}}}}))
        self.assertMissing(self.iot.describe_provisioning_template, templateName=bad)
        self.assertEqual(len(self.iot.list_provisioning_template_versions(templateName=name)
                             ["versions"]), 1)
        # A duplicate name: ResourceAlreadyExistsException.
        self.aws_error("ResourceAlreadyExistsException", "create-provisioning-template",
                       "--template-name", name, "--template-body", FLEET_TEMPLATE,
                       "--provisioning-role-arn", ROLE_ARN)

        self.aws_ok("delete-provisioning-template", "--template-name", name)
        self.aws_error("ResourceNotFoundException", "describe-provisioning-template",
                       "--template-name", name)
        self.assertNotIn(name, [t["templateName"] for t in
                                self.iot.list_provisioning_templates()["templates"]])

    def test_describe_endpoint(self):
        ats = self.aws_ok("describe-endpoint", "--endpoint-type", "iot:Data-ATS")["endpointAddress"]
        match = re.fullmatch(r"([a-z0-9]+)-ats\.iot\.us-east-1\.(.+)", ats)
        self.assertIsNotNone(match, ats)
        prefix, domain = match.groups()
        self.assertEqual(
            self.aws_ok("describe-endpoint", "--endpoint-type", "iot:Data")["endpointAddress"],
            "%s.iot.us-east-1.%s" % (prefix, domain))
        self.assertEqual(
            self.aws_ok("describe-endpoint",
                        "--endpoint-type", "iot:CredentialProvider")["endpointAddress"],
            "%s.credentials.iot.us-east-1.%s" % (prefix, domain))
        # Omitted type: the legacy iot:Data form (spec §1.9); stable across calls.
        self.assertEqual(self.aws_ok("describe-endpoint")["endpointAddress"],
                         "%s.iot.us-east-1.%s" % (prefix, domain))
        self.assertEqual(self.iot.describe_endpoint(endpointType="iot:Data-ATS")
                         ["endpointAddress"], ats)
        self.aws_error("InvalidRequestException", "describe-endpoint", "--endpoint-type",
                       "iot:Nonsense")


if __name__ == "__main__":
    unittest.main()
