"""The control plane through boto3 (/usr/bin/python3's botocore): the development flow,
paginators, every client-input error path (code, HTTP status, and that nothing changed),
SigV4 refusals, account isolation and concurrent writers."""

import base64
import contextlib
import datetime
import json
import re
import threading
import unittest
import uuid

import botocore.exceptions

import harness
from harness import ACCOUNT_ID, DEFAULT_ACCOUNT, REGION

HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def paginate(client, operation, key, **kwargs):
    items = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page[key])
    return items


class SnapshotMixin:
    """What a failing call must leave untouched: every listing of the account."""

    def snapshot(self, client=None):
        iot = client or self.iot
        things = sorted((t["thingName"], t["version"], json.dumps(t["attributes"], sort_keys=True))
                        for t in paginate(iot, "list_things", "things"))
        certs = sorted((c["certificateId"], c["status"])
                       for c in paginate(iot, "list_certificates", "certificates"))
        cas = sorted((c["certificateId"], c["status"])
                     for c in paginate(iot, "list_ca_certificates", "certificates"))
        policies = sorted(p["policyName"] for p in paginate(iot, "list_policies", "policies"))
        versions = {p: sorted((v["versionId"], v["isDefaultVersion"]) for v in
                              iot.list_policy_versions(policyName=p)["policyVersions"])
                    for p in policies}
        templates = sorted(t["templateName"] for t in
                           paginate(iot, "list_provisioning_templates", "templates"))
        groups = sorted(g["groupName"] for g in paginate(iot, "list_thing_groups", "thingGroups"))
        types = sorted(t["thingTypeName"] for t in paginate(iot, "list_thing_types", "thingTypes"))
        targets = {p: sorted(paginate(iot, "list_targets_for_policy", "targets", policyName=p))
                   for p in policies}
        principals = {t[0]: sorted(iot.list_thing_principals(thingName=t[0])["principals"])
                      for t in things}
        members = {g: sorted(paginate(iot, "list_things_in_thing_group", "things",
                                      thingGroupName=g)) for g in groups}
        return {"things": things, "certificates": certs, "cas": cas, "policies": policies,
                "versions": versions, "templates": templates, "groups": groups, "types": types,
                "targets": targets, "principals": principals, "members": members}

    @contextlib.contextmanager
    def unchanged(self, client=None):
        before = self.snapshot(client)
        yield
        self.assertEqual(self.snapshot(client), before, "a failing call changed the registry")

    def fails(self, _call, _code, _status, **kwargs):
        """The call fails with `_code`/`_status` (never 5xx) and leaves the registry as it was."""
        with self.unchanged():
            return self.client_error(_call, _code, _status, **kwargs)


class Boto3FlowTest(SnapshotMixin, harness.ServerTestCase):
    issued_key_type = "ec"

    def test_development_flow(self):
        iot, arn = self.iot, DEFAULT_ACCOUNT.arn
        thing, policy = unique("b3-thing"), unique("b3-policy")
        created = iot.create_thing(thingName=thing,
                                   attributePayload={"attributes": {"model": "m2"}})
        self.assertEqual(created["thingArn"], arn("thing", thing))
        self.assertEqual(created["ResponseMetadata"]["HTTPStatusCode"], 200)
        # Identical CreateThing again: 200 with the same thing (spec §1.4).
        self.assertEqual(iot.create_thing(thingName=thing, attributePayload={
            "attributes": {"model": "m2"}})["thingId"], created["thingId"])

        keys = iot.create_keys_and_certificate(setAsActive=True)
        cert_id, cert_arn = keys["certificateId"], keys["certificateArn"]
        self.assertRegex(cert_id, HEX64_RE)
        cert_file = self.pki.write(keys["certificatePem"])
        self.assertEqual(self.pki.certificate_id(cert_file), cert_id)
        self.assertTrue(self.pki.verify(self.server.device_ca, cert_file))
        self.assertIn("PRIVATE KEY-----", keys["keyPair"]["PrivateKey"])
        self.assertIn("-----BEGIN PUBLIC KEY-----", keys["keyPair"]["PublicKey"])

        iot.create_policy(policyName=policy,
                          policyDocument=harness.policy_document("iot:Connect"))
        iot.attach_policy(policyName=policy, target=cert_arn)
        iot.attach_policy(policyName=policy, target=cert_arn)  # attaching twice is a no-op
        iot.attach_thing_principal(thingName=thing, principal=cert_arn)

        self.assertEqual(iot.list_thing_principals(thingName=thing)["principals"], [cert_arn])
        self.assertEqual(iot.list_principal_things(principal=cert_arn)["things"], [thing])
        self.assertEqual(iot.list_attached_policies(target=cert_arn)["policies"],
                         [{"policyName": policy, "policyArn": arn("policy", policy)}])
        self.assertEqual(iot.list_targets_for_policy(policyName=policy)["targets"], [cert_arn])
        d = iot.describe_certificate(certificateId=cert_id)["certificateDescription"]
        self.assertEqual((d["status"], d["ownedBy"], d["certificateMode"]),
                         ("ACTIVE", ACCOUNT_ID, "DEFAULT"))
        # Timestamps are epoch seconds (boto3 turns them into datetimes); issued certificates
        # expire at the end of 2049 as AWS's do (spec §1.5).
        utc = datetime.timezone.utc
        now = datetime.datetime.now(utc)
        for field in ("creationDate", "lastModifiedDate"):
            self.assertLess(abs(d[field] - now), datetime.timedelta(days=1), (field, d[field]))
        self.assertEqual(d["validity"]["notAfter"], datetime.datetime(2049, 12, 31, 23, 59, 59,
                                                                      tzinfo=utc))
        self.assertLess(d["validity"]["notBefore"], now)
        self.assertEqual(d["customerVersion"], 1)
        self.assertTrue(d["generationId"])

        self.fails(iot.delete_certificate, "CertificateStateException", 406, certificateId=cert_id)
        self.fails(iot.delete_thing, "InvalidRequestException", 400, thingName=thing)
        self.fails(iot.delete_policy, "DeleteConflictException", 409, policyName=policy)

        iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
        iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")  # idempotent
        self.assertEqual(iot.describe_certificate(certificateId=cert_id)
                         ["certificateDescription"]["status"], "INACTIVE")
        self.fails(iot.delete_certificate, "DeleteConflictException", 409, certificateId=cert_id)
        iot.detach_thing_principal(thingName=thing, principal=cert_arn)
        self.fails(iot.delete_certificate, "DeleteConflictException", 409, certificateId=cert_id)
        iot.detach_policy(policyName=policy, target=cert_arn)
        self.assertEqual(iot.list_attached_policies(target=cert_arn)["policies"], [])
        self.assertEqual(iot.list_thing_principals(thingName=thing)["principals"], [])

        iot.delete_certificate(certificateId=cert_id)
        iot.delete_policy(policyName=policy)
        iot.delete_thing(thingName=thing)
        self.client_error(iot.describe_certificate, "ResourceNotFoundException", 404,
                          certificateId=cert_id)
        self.client_error(iot.get_policy, "ResourceNotFoundException", 404, policyName=policy)
        self.client_error(iot.describe_thing, "ResourceNotFoundException", 404, thingName=thing)
        self.client_error(iot.attach_thing_principal, "ResourceNotFoundException", 404,
                          thingName=unique("ghost"), principal=cert_arn)

    def test_names_at_the_edge_of_the_patterns_are_accepted(self):
        """Every character the patterns allow survives botocore's percent-encoding, the SigV4
        canonical URI and the router (spec §1.2)."""
        iot = self.iot
        thing = ("Az09:_-" * 19)[:128]
        iot.create_thing(thingName=thing, attributePayload={"attributes": {
            "k_.,@/:#-": "v_.,@/:#=[]-", "empty-ok": "x"}})
        d = iot.describe_thing(thingName=thing)
        self.assertEqual((d["thingName"], d["thingArn"]), (thing, DEFAULT_ACCOUNT.arn("thing",
                                                                                     thing)))
        self.assertEqual(d["attributes"]["k_.,@/:#-"], "v_.,@/:#=[]-")
        listed = iot.list_things(attributeName="k_.,@/:#-", attributeValue="v_.,@/:#=[]-")
        self.assertEqual([t["thingName"] for t in listed["things"]], [thing])
        group = "g:_-" + "x" * 124
        iot.create_thing_group(thingGroupName=group)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
        self.assertEqual(iot.list_things_in_thing_group(thingGroupName=group)["things"], [thing])

        policy = "p+=,.@-_" + "y" * 120
        iot.create_policy(policyName=policy, policyDocument=harness.policy_document("iot:Connect"))
        self.assertEqual(iot.get_policy(policyName=policy)["policyArn"],
                         DEFAULT_ACCOUNT.arn("policy", policy))
        v2 = iot.create_policy_version(policyName=policy, setAsDefault=True,
                                       policyDocument=harness.policy_document("iot:Publish"))
        self.assertEqual(iot.get_policy_version(policyName=policy, policyVersionId="2")
                         ["policyVersionId"], v2["policyVersionId"])
        cert = iot.create_keys_and_certificate()
        iot.attach_policy(policyName=policy, target=cert["certificateArn"])
        self.assertEqual(iot.list_targets_for_policy(policyName=policy)["targets"],
                         [cert["certificateArn"]])
        self.assertEqual(iot.list_attached_policies(target=cert["certificateArn"])["policies"],
                         [{"policyName": policy, "policyArn": DEFAULT_ACCOUNT.arn("policy",
                                                                                  policy)}])
        iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
        self.assertEqual(iot.list_principal_things(principal=cert["certificateArn"])["things"],
                         [thing])

        template = "T_-" + "z" * 33
        iot.create_provisioning_template(
            templateName=template, provisioningRoleArn="arn:aws:iam::%s:role/P" % ACCOUNT_ID,
            templateBody=json.dumps({"Resources": {"thing": {"Type": "AWS::IoT::Thing",
                                                             "Properties": {}}}}))
        self.assertEqual(iot.describe_provisioning_template(templateName=template)
                         ["templateName"], template)

        iot.delete_provisioning_template(templateName=template)
        iot.detach_thing_principal(thingName=thing, principal=cert["certificateArn"])
        iot.delete_certificate(certificateId=cert["certificateId"], forceDelete=True)
        iot.delete_policy_version(policyName=policy, policyVersionId="1")
        iot.delete_policy(policyName=policy)
        iot.delete_thing_group(thingGroupName=group)
        iot.delete_thing(thingName=thing)
        self.client_error(iot.describe_thing, "ResourceNotFoundException", 404, thingName=thing)

    def test_paginators(self):
        iot = self.iot
        key = self.pki.key("ec")
        csr = self.pki.read(self.pki.csr(key, "paginated"))
        created = [iot.create_certificate_from_csr(certificateSigningRequest=csr)["certificateId"]
                   for _ in range(11)]
        self.assertEqual(len(set(created)), 11)

        pages = list(iot.get_paginator("list_certificates").paginate(PaginationConfig={
            "PageSize": 3}))
        self.assertGreaterEqual(len(pages), 4)
        for page in pages[:-1]:
            self.assertEqual(len(page["certificates"]), 3)
            self.assertIn("nextMarker", page)
        self.assertNotIn("nextMarker", pages[-1])
        ids = [c["certificateId"] for p in pages for c in p["certificates"]]
        self.assertEqual(len(ids), len(set(ids)), "a certificate appeared twice")
        self.assertTrue(set(created) <= set(ids))
        one_page = iot.list_certificates(pageSize=250)
        self.assertEqual(sorted(ids), sorted(c["certificateId"] for c in
                                             one_page["certificates"]))
        # Descending order walks the same set backwards.
        desc = paginate(iot, "list_certificates", "certificates", ascendingOrder=False,
                        PaginationConfig={"PageSize": 4})
        self.assertEqual([c["certificateId"] for c in desc], list(reversed(ids)))

        names = sorted(unique("paged") for _ in range(10))
        for name in names:
            iot.create_thing(thingName=name)
        pages = list(iot.get_paginator("list_things").paginate(PaginationConfig={"PageSize": 3}))
        self.assertGreaterEqual(len(pages), 4)
        listed = [t["thingName"] for p in pages for t in p["things"]]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertTrue(set(names) <= set(listed))
        self.assertEqual(sorted(listed), sorted(t["thingName"] for t in
                                                iot.list_things(maxResults=250)["things"]))
        # MaxItems stops early and resumes from the token exactly once.
        first = iot.get_paginator("list_things").paginate(
            PaginationConfig={"PageSize": 2, "MaxItems": 5}).build_full_result()
        self.assertEqual(len(first["things"]), 5)
        rest = iot.get_paginator("list_things").paginate(
            PaginationConfig={"PageSize": 2, "StartingToken": first["NextToken"]}
        ).build_full_result()
        resumed = [t["thingName"] for t in first["things"] + rest["things"]]
        self.assertEqual(resumed, listed)

        # An invalid token is a client error, never a 500.
        self.client_error(iot.list_things, "InvalidRequestException", 400,
                          nextToken="%%%not-a-token")
        self.client_error(iot.list_certificates, "InvalidRequestException", 400,
                          marker="bm90LWEtbWFya2Vy")


class Boto3ErrorPathsTest(SnapshotMixin, harness.ServerTestCase):
    issued_key_type = "ec"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Some state for the failing calls to (not) change.
        cls.iot.create_thing(thingName="existing-thing",
                             attributePayload={"attributes": {"color": "red"}})
        cls.iot.create_policy(policyName="existing-policy",
                              policyDocument=harness.policy_document("iot:Connect"))
        cls.good_key = cls.pki.key("ec")
        cls.good_cert = cls.pki.self_signed(cls.good_key, "good-device")
        cls.good_pem = cls.pki.read(cls.good_cert)
        cls.good_id = cls.iot.register_certificate_without_ca(
            certificatePem=cls.good_pem, status="ACTIVE")["certificateId"]

    # ---- certificates ----
    def test_malformed_certificate_pem(self):
        iot = self.iot
        other_key = self.pki.key("ec")
        other_pem = self.pki.read(self.pki.self_signed(other_key, "never-registered"))
        der = harness.run(["sh", "-c", '"$0" x509 -in "$1" -outform der | base64 -w0',
                           harness.OPENSSL, self.pki.write(other_pem)]).stdout.strip()
        body_lines = other_pem.strip().splitlines()[1:-1]
        csr_pem = self.pki.read(self.pki.csr(other_key, "a-csr-not-a-cert"))
        cases = {
            "garbage": "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                       "-----END CERTIFICATE-----\n",
            "truncated": other_pem[:len(other_pem) // 2],
            "truncated body": "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % (
                "\n".join(body_lines[:len(body_lines) // 2])),
            "DER base64 without armor": der,
            "DER bytes as text": base64.b64decode(der).decode("latin-1"),
            "CSR instead of certificate": csr_pem,
            "not PEM at all": "hello",
        }
        for label, pem in cases.items():
            with self.subTest(label):
                self.fails(iot.register_certificate_without_ca, "CertificateValidationException",
                           400, certificatePem=pem)
                self.fails(iot.register_certificate, "CertificateValidationException", 400,
                           certificatePem=pem)
        with self.subTest("CA certificate"):
            self.fails(iot.register_ca_certificate, "CertificateValidationException", 400,
                       caCertificate=cases["truncated"], verificationCertificate=other_pem)

    def test_bad_csrs(self):
        iot = self.iot
        key = self.pki.key("ec")
        der_path = self.pki.csr(key, "flipped", der=True)
        with open(der_path, "rb") as f:
            der = bytearray(f.read())
        der[-1] ^= 0x01  # last byte of the ECDSA signature's s
        flipped = harness.pem_encode(bytes(der), "CERTIFICATE REQUEST")
        # Sanity of the fixture: openssl itself rejects the signature, but still parses the CSR.
        flipped_file = self.pki.write(flipped, ".csr")
        check = harness.run([harness.OPENSSL, "req", "-in", flipped_file, "-noout", "-verify"],
                            check=False)
        self.assertIn("verify failure", check.stdout + check.stderr)
        harness.run([harness.OPENSSL, "req", "-in", flipped_file, "-noout", "-subject"])

        weak = self.pki.read(self.pki.csr(self.pki.key("rsa1024"), "weak"))
        good = self.pki.read(self.pki.csr(key, "good"))
        cases = {
            "flipped signature byte": flipped,
            "RSA-1024": weak,
            "garbage": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                       "-----END CERTIFICATE REQUEST-----\n",
            "truncated": good[:len(good) // 2],
            "certificate instead of CSR": self.good_pem,
            "longer than 4096": good + "\n" * 4096,
        }
        for label, csr in cases.items():
            with self.subTest(label):
                self.fails(iot.create_certificate_from_csr, "InvalidRequestException", 400,
                           certificateSigningRequest=csr, setAsActive=True)
        # The accepted key types still work (spec §1.5: P-256/P-384, RSA >= 2048).
        for kind in ("ec384", "ec521"):
            csr = self.pki.read(self.pki.csr(self.pki.key(kind), kind))
            cert_id = iot.create_certificate_from_csr(certificateSigningRequest=csr)[
                "certificateId"]
            iot.delete_certificate(certificateId=cert_id)

    def test_ca_registration_errors(self):
        iot = self.iot
        code = iot.get_registration_code()["registrationCode"]
        ca_cert, ca_key = self.pki.root_ca("Errors Test CA")
        ca_pem = self.pki.read(ca_cert)
        other_cert, other_key = self.pki.root_ca("Someone Else's CA")

        with self.subTest("verification signed by another key"):
            wrong_signer = self.pki.read(self.pki.verification_cert(code, other_cert, other_key))
            self.fails(iot.register_ca_certificate, "CertificateValidationException", 400,
                       caCertificate=ca_pem, verificationCertificate=wrong_signer,
                       setAsActive=True)
        with self.subTest("verification with the wrong CN"):
            wrong_cn = self.pki.read(self.pki.verification_cert("0" * 64, ca_cert, ca_key))
            self.fails(iot.register_ca_certificate, "RegistrationCodeValidationException", 400,
                       caCertificate=ca_pem, verificationCertificate=wrong_cn)
        with self.subTest("a non-CA certificate as CA"):
            leaf_key = self.pki.key("ec")
            leaf_pem = self.pki.read(self.pki.self_signed(leaf_key, "not-a-ca", ca=False))
            self.assertIn("CA:FALSE", self.pki.text(self.pki.write(leaf_pem)))
            leaf_verification = self.pki.read(self.pki.verification_cert(
                code, self.pki.write(leaf_pem), leaf_key))
            self.fails(iot.register_ca_certificate, "CertificateValidationException", 400,
                       caCertificate=leaf_pem, verificationCertificate=leaf_verification)
        with self.subTest("DEFAULT mode without a verification certificate"):
            self.fails(iot.register_ca_certificate, "InvalidRequestException", 400,
                       caCertificate=ca_pem)

        # The correct registration works, and a second one is a duplicate.
        good = self.pki.read(self.pki.verification_cert(code, ca_cert, ca_key))
        ca_id = iot.register_ca_certificate(caCertificate=ca_pem, verificationCertificate=good,
                                            setAsActive=True)["certificateId"]
        self.assertEqual(ca_id, self.pki.certificate_id(ca_cert))
        with self.subTest("duplicate CA"):
            response = self.fails(iot.register_ca_certificate, "ResourceAlreadyExistsException",
                                  409, caCertificate=ca_pem, verificationCertificate=good)
            self.assertEqual(response.get("resourceId"), ca_id)
            self.assertEqual(response.get("resourceArn"), DEFAULT_ACCOUNT.arn("cacert", ca_id))
        # Only the CA that directly signed a device certificate counts (spec §3.2): a device
        # certificate of an unregistered intermediate below the registered root is refused.
        inter_cert, inter_key = self.pki.intermediate_ca("Unregistered Intermediate", ca_cert,
                                                         ca_key)
        below, _ = self.pki.leaf("below-intermediate", inter_cert, inter_key)
        self.assertTrue(self.pki.verify(ca_cert, below, untrusted=inter_cert))
        self.fails(iot.register_certificate, "CertificateValidationException", 400,
                   certificatePem=self.pki.read(below), status="ACTIVE")
        # A device certificate of another CA is not registrable with this one named.
        stray, _ = self.pki.leaf("stray", other_cert, other_key)
        self.fails(iot.register_certificate, "CertificateValidationException", 400,
                   certificatePem=self.pki.read(stray), caCertificatePem=ca_pem)
        self.fails(iot.delete_ca_certificate, "CertificateStateException", 406,
                   certificateId=ca_id)
        self.fails(iot.describe_ca_certificate, "ResourceNotFoundException", 404,
                   certificateId="ab" * 32)
        iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
        iot.delete_ca_certificate(certificateId=ca_id)

    def test_attribute_limits_on_update(self):
        iot = self.iot
        iot.create_thing_type(thingTypeName="roomy-type")
        iot.create_thing(thingName="three-attributes", attributePayload={
            "attributes": {"a": "1", "b": "2", "c": "3"}})
        # A fourth attribute on a thing without a type: refused, nothing merged.
        self.fails(iot.update_thing, "InvalidRequestException", 400,
                   thingName="three-attributes",
                   attributePayload={"attributes": {"d": "4"}, "merge": True})
        # With a type it fits; dropping the type again would leave too many.
        iot.update_thing(thingName="three-attributes", thingTypeName="roomy-type",
                         attributePayload={"attributes": {"d": "4"}, "merge": True})
        self.fails(iot.update_thing, "InvalidRequestException", 400,
                   thingName="three-attributes", removeThingType=True)
        self.fails(iot.update_thing, "InvalidRequestException", 400,
                   thingName="three-attributes", thingTypeName="roomy-type",
                   removeThingType=True)
        self.fails(iot.update_thing, "ResourceNotFoundException", 404,
                   thingName="three-attributes", thingTypeName="no-such-type")
        d = iot.describe_thing(thingName="three-attributes")
        self.assertEqual((d["version"], d["thingTypeName"], len(d["attributes"])),
                         (2, "roomy-type", 4))
        iot.delete_thing(thingName="three-attributes")
        iot.deprecate_thing_type(thingTypeName="roomy-type")
        iot.delete_thing_type(thingTypeName="roomy-type")

    def test_expired_certificates(self):
        iot = self.iot
        with self.subTest("expired self-signed, without CA"):
            old = self.pki.read(self.pki.expired(self.pki.key("ec"), "old-device"))
            self.fails(iot.register_certificate_without_ca, "CertificateValidationException", 400,
                       certificatePem=old, status="ACTIVE")
        code = iot.get_registration_code()["registrationCode"]
        with self.subTest("expired CA"):
            ca_key = self.pki.key("ec")
            old_ca = self.pki.expired(ca_key, "Old CA", ca=True)
            verification = self.pki.read(self.pki.verification_cert(code, old_ca, ca_key))
            self.fails(iot.register_ca_certificate, "CertificateValidationException", 400,
                       caCertificate=self.pki.read(old_ca), verificationCertificate=verification)
        with self.subTest("expired device certificate of a registered CA"):
            ca_cert, ca_key = self.pki.root_ca("Expiry Test CA")
            ca_id = iot.register_ca_certificate(
                caCertificate=self.pki.read(ca_cert), setAsActive=True,
                verificationCertificate=self.pki.read(
                    self.pki.verification_cert(code, ca_cert, ca_key)))["certificateId"]
            old_device = self.pki.expired(self.pki.key("ec"), "old-ca-device", ca_cert, ca_key)
            self.fails(iot.register_certificate, "CertificateValidationException", 400,
                       certificatePem=self.pki.read(old_device), status="ACTIVE")
            iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
            iot.delete_ca_certificate(certificateId=ca_id)

    def test_arns_of_another_account_or_region_are_refused(self):
        """An ARN names one resource: the same id under another region or account is not the
        caller's resource, and must not be stored as an alias that later checks miss."""
        iot = self.iot
        cert = iot.create_keys_and_certificate()  # INACTIVE: deletable once unattached
        cert_id = cert["certificateId"]
        iot.create_thing_group(thingGroupName="arn-test-group")
        aliases = ["arn:aws:iot:us-west-2:%s:cert/%s" % (ACCOUNT_ID, cert_id),
                   "arn:aws:iot:%s:999999999999:cert/%s" % (REGION, cert_id),
                   "arn:aws:iot:%s:%s:thing/existing-thing" % (REGION, ACCOUNT_ID)]
        refusals = ("InvalidRequestException", "ResourceNotFoundException")
        for alias in aliases:
            for call, kwargs in [
                    (iot.attach_policy, dict(policyName="existing-policy", target=alias)),
                    (iot.attach_thing_principal, dict(thingName="existing-thing",
                                                      principal=alias)),
                    (iot.list_attached_policies, dict(target=alias)),
                    (iot.list_principal_things, dict(principal=alias))]:
                with self.subTest(call=call.__name__, arn=alias):
                    with self.unchanged():
                        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
                            call(**kwargs)
                    r = ctx.exception.response
                    self.assertLess(r["ResponseMetadata"]["HTTPStatusCode"], 500, r)
                    self.assertIn(r["Error"]["Code"], refusals, r)
        for kwargs in [
                dict(thingGroupName="arn-test-group",
                     thingArn="arn:aws:iot:%s:999999999999:thing/existing-thing" % REGION),
                dict(thingGroupName="arn-test-group",
                     thingArn="arn:aws:iot:eu-west-1:%s:thing/existing-thing" % ACCOUNT_ID),
                dict(thingGroupName="arn-test-group",
                     thingArn="arn:aws:iot:%s:%s:thinggroup/existing-thing" % (REGION,
                                                                               ACCOUNT_ID)),
                dict(thingGroupArn="arn:aws:iot:eu-west-1:%s:thinggroup/arn-test-group" %
                     ACCOUNT_ID, thingName="existing-thing")]:
            with self.subTest(add=kwargs):
                with self.unchanged():
                    with self.assertRaises(botocore.exceptions.ClientError) as ctx:
                        iot.add_thing_to_thing_group(**kwargs)
                r = ctx.exception.response
                self.assertLess(r["ResponseMetadata"]["HTTPStatusCode"], 500, r)
                self.assertIn(r["Error"]["Code"], refusals, r)
        # The canonical ARNs work, and then the delete preconditions see the attachments.
        iot.attach_thing_principal(thingName="existing-thing", principal=cert["certificateArn"])
        self.fails(iot.delete_certificate, "DeleteConflictException", 409, certificateId=cert_id)
        iot.detach_thing_principal(thingName="existing-thing", principal=cert["certificateArn"])
        iot.add_thing_to_thing_group(
            thingGroupArn=DEFAULT_ACCOUNT.arn("thinggroup", "arn-test-group"),
            thingArn=DEFAULT_ACCOUNT.arn("thing", "existing-thing"))
        self.assertEqual(iot.list_things_in_thing_group(thingGroupName="arn-test-group")
                         ["things"], ["existing-thing"])
        iot.delete_thing_group(thingGroupName="arn-test-group")
        iot.delete_certificate(certificateId=cert_id)

    def test_jitp_template_in_use_cannot_be_deleted(self):
        iot = self.iot
        body = json.dumps({
            "Parameters": {"AWS::IoT::Certificate::CommonName": {"Type": "String"}},
            "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"}}}}})
        iot.create_provisioning_template(
            templateName="jitp-in-use", type="JITP", templateBody=body, enabled=True,
            provisioningRoleArn="arn:aws:iam::%s:role/JITP" % ACCOUNT_ID)
        code = iot.get_registration_code()["registrationCode"]
        ca_cert, ca_key = self.pki.root_ca("JITP Test CA")
        ca_id = iot.register_ca_certificate(
            caCertificate=self.pki.read(ca_cert), setAsActive=True, allowAutoRegistration=True,
            verificationCertificate=self.pki.read(self.pki.verification_cert(code, ca_cert,
                                                                             ca_key)),
            registrationConfig={"templateName": "jitp-in-use"})["certificateId"]
        self.assertEqual(iot.describe_ca_certificate(certificateId=ca_id)["registrationConfig"],
                         {"templateName": "jitp-in-use"})
        self.assertEqual([c["certificateId"] for c in iot.list_ca_certificates(
            templateName="jitp-in-use")["certificates"]], [ca_id])
        # A CA names it: DeleteConflictException (spec §1.8), and both stay as they were.
        self.fails(iot.delete_provisioning_template, "DeleteConflictException", 409,
                   templateName="jitp-in-use")
        # A registrationConfig may only name an existing JITP template.
        self.fails(iot.update_ca_certificate, "ResourceNotFoundException", 404,
                   certificateId=ca_id, registrationConfig={"templateName": "no-such-template"})
        iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
        iot.delete_ca_certificate(certificateId=ca_id)
        iot.delete_provisioning_template(templateName="jitp-in-use")

    def test_at_most_ten_policies_per_certificate(self):
        iot = self.iot
        cert = iot.create_keys_and_certificate()
        names = ["limit-%02d" % i for i in range(11)]
        for name in names:
            iot.create_policy(policyName=name,
                              policyDocument=harness.policy_document("iot:Connect"))
        for name in names[:10]:
            iot.attach_policy(policyName=name, target=cert["certificateArn"])
        self.fails(iot.attach_policy, "LimitExceededException", 410, policyName=names[10],
                   target=cert["certificateArn"])
        # Re-attaching one of the ten is still a no-op success.
        iot.attach_policy(policyName=names[0], target=cert["certificateArn"])
        attached = paginate(iot, "list_attached_policies", "policies",
                            target=cert["certificateArn"], PaginationConfig={"PageSize": 3})
        self.assertEqual(sorted(p["policyName"] for p in attached), names[:10])
        iot.delete_certificate(certificateId=cert["certificateId"], forceDelete=True)
        for name in names:
            iot.delete_policy(policyName=name)

    # ---- duplicates ----
    def test_duplicates_carry_resource_id_and_arn(self):
        iot = self.iot
        thing_id = iot.describe_thing(thingName="existing-thing")["thingId"]
        response = self.fails(iot.create_thing, "ResourceAlreadyExistsException", 409,
                              thingName="existing-thing",
                              attributePayload={"attributes": {"color": "blue"}})
        self.assertEqual(response.get("resourceId"), thing_id)
        self.assertEqual(response.get("resourceArn"), DEFAULT_ACCOUNT.arn("thing",
                                                                          "existing-thing"))
        self.assertTrue(response["Error"].get("Message"))
        # Same name, no attributes at all: also a different configuration.
        self.fails(iot.create_thing, "ResourceAlreadyExistsException", 409,
                   thingName="existing-thing")

        response = self.fails(iot.register_certificate_without_ca,
                              "ResourceAlreadyExistsException", 409,
                              certificatePem=self.good_pem, status="INACTIVE")
        self.assertEqual(response.get("resourceId"), self.good_id)
        self.assertEqual(response.get("resourceArn"), DEFAULT_ACCOUNT.arn("cert", self.good_id))

        response = self.fails(iot.create_policy, "ResourceAlreadyExistsException", 409,
                              policyName="existing-policy",
                              policyDocument=harness.policy_document("iot:Publish"))
        self.assertEqual(response.get("resourceId"), "existing-policy")
        self.assertEqual(response.get("resourceArn"),
                         DEFAULT_ACCOUNT.arn("policy", "existing-policy"))

    # ---- names ----
    def test_names_outside_the_documented_patterns(self):
        iot = self.iot
        bad_thing_names = ["has space", "slash/inside", "x" * 129, "ümlaut", "semi;colon",
                           "dot.name", "percent%41"]
        for name in bad_thing_names:
            with self.subTest(thing=name):
                self.fails(iot.create_thing, "InvalidRequestException", 400, thingName=name)
                self.fails(iot.create_thing_group, "InvalidRequestException", 400,
                           thingGroupName=name)
                self.fails(iot.create_thing_type, "InvalidRequestException", 400,
                           thingTypeName=name)
        for name in ["bad#name", "x" * 129, "a b", "colon:name", "slash/name"]:
            with self.subTest(policy=name):
                self.fails(iot.create_policy, "InvalidRequestException", 400, policyName=name,
                           policyDocument=harness.policy_document("iot:Connect"))
        for name in ["x" * 37, "dot.name", "a b"]:
            with self.subTest(template=name):
                self.fails(iot.create_provisioning_template, "InvalidRequestException", 400,
                           templateName=name, templateBody=json.dumps({"Resources": {
                               "thing": {"Type": "AWS::IoT::Thing", "Properties": {}}}}),
                           provisioningRoleArn="arn:aws:iam::%s:role/Provision" % ACCOUNT_ID)
        for attributes in [{"bad key!": "v"}, {"k": "bad value!"}, {"k" * 129: "v"},
                           {"k": "v" * 801}]:
            with self.subTest(attributes=str(attributes)[:40]):
                self.fails(iot.create_thing, "InvalidRequestException", 400,
                           thingName=unique("attr"),
                           attributePayload={"attributes": attributes})
        # 64 characters at least, or botocore refuses them before sending.
        for cert_id in ["zz" * 32, "ab" * 33, "-" * 64]:
            with self.subTest(certificate=cert_id):
                self.fails(iot.update_certificate, "InvalidRequestException", 400,
                           certificateId=cert_id, newStatus="ACTIVE")
        fresh = self.pki.read(self.pki.self_signed(self.pki.key("ec"), "never-registered"))
        for status in ("SOMETIMES", "PENDING_ACTIVATION", "PENDING_TRANSFER"):
            with self.subTest(status=status):
                self.fails(iot.register_certificate_without_ca, "InvalidRequestException", 400,
                           certificatePem=fresh, status=status)

    # ---- policies ----
    def test_malformed_policy_documents(self):
        iot = self.iot
        documents = {
            "not JSON": "{this is not json",
            "JSON array": "[]",
            "no Statement": json.dumps({"Version": "2012-10-17"}),
            "empty Statement": json.dumps({"Version": "2012-10-17", "Statement": []}),
            "bad Effect": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Maybe", "Action": "iot:Connect", "Resource": "*"}]}),
            "no Action": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Resource": "*"}]}),
            "no Resource": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "iot:Connect"}]}),
            "Action is a number": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": 7, "Resource": "*"}]}),
            # The quota: 2048 characters excluding whitespace (spec §8.1).
            "over 2048 characters": harness.policy_document(
                "iot:Connect", resource=["arn:aws:iot:%s:%s:client/%s" % (
                    REGION, ACCOUNT_ID, "c" * 60 + str(i)) for i in range(40)]),
        }
        self.assertGreater(len(documents["over 2048 characters"]), 2048)
        for label, document in documents.items():
            with self.subTest(label):
                self.fails(iot.create_policy, "MalformedPolicyException", 400,
                           policyName=unique("malformed"), policyDocument=document)
                self.fails(iot.create_policy_version, "MalformedPolicyException", 400,
                           policyName="existing-policy", policyDocument=document,
                           setAsDefault=True)

    def test_policy_size_counts_characters_without_whitespace(self):
        document = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}, indent=400)
        self.assertGreater(len(document), 4096)
        name = unique("roomy")
        self.iot.create_policy(policyName=name, policyDocument=document)
        self.assertEqual(json.loads(self.iot.get_policy(policyName=name)["policyDocument"]),
                         json.loads(document))
        self.iot.delete_policy(policyName=name)

    def test_error_bodies_are_aws_shaped(self):
        status, headers, body = self.server.raw_request("GET", "/things/no-such-thing-here")
        self.assertEqual(status, 404)
        self.assertTrue(headers.get("x-amzn-errortype", "").startswith(
            "ResourceNotFoundException"), headers)
        self.assertTrue(headers.get("x-amzn-requestid"))
        doc = json.loads(body)
        self.assertTrue(doc.get("message"))

    # ---- the HTTP edge ----
    def test_oversized_body(self):
        name = unique("huge")
        payload = json.dumps({"attributePayload": {"attributes": {"blob": "x" * (1 << 20)}}})
        self.assertGreater(len(payload), 1 << 20)
        with self.unchanged():
            status, headers, body = self.server.raw_request("POST", "/things/" + name,
                                                            body=payload, expect_continue=True)
            self.assertEqual(status, 413, body[:500])
            self.assertTrue(headers.get("x-amzn-errortype"), headers)
            self.assertTrue(json.loads(body).get("message"), body)
            # A client that sends the whole body without waiting: a 413 too, or the connection
            # is closed under it; never a success.
            try:
                status, headers, body = self.server.raw_request("POST", "/things/" + name,
                                                                body=payload)
            except (ConnectionError, OSError):
                pass
            else:
                self.assertEqual(status, 413, body[:500])
                self.assertTrue(json.loads(body).get("message"), body)
        self.client_error(self.iot.describe_thing, "ResourceNotFoundException", 404,
                          thingName=name)
        # The server is still healthy.
        self.iot.list_things()

    def test_unknown_path_and_wrong_method(self):
        with self.unchanged():
            for method, path, expected in [("GET", "/no/such/operation", 404),
                                           ("POST", "/definitely-not-iot", 404),
                                           ("DELETE", "/things", 405),
                                           ("PATCH", "/keys-and-certificate", 405),
                                           ("GET", "/policies/existing-policy/version/1/x", 404)]:
                with self.subTest(method=method, path=path):
                    status, headers, body = self.server.raw_request(method, path)
                    self.assertEqual(status, expected, body)
                    self.assertTrue(headers.get("x-amzn-errortype"), headers)
                    self.assertTrue(json.loads(body).get("message"), body)

    def test_sigv4_refusals(self):
        server = self.server
        stranger = harness.Account("999999999999", "AKIANOSUCHKEY0000000", "x" * 40)
        now = harness.utcnow()
        cases = [
            ("bad signature", dict(secret="not-the-secret"), "InvalidSignatureException"),
            ("unknown key", dict(account=stranger), "UnrecognizedClientException"),
            ("expired date", dict(signed_at=now - datetime.timedelta(minutes=20)),
             "InvalidSignatureException"),
            ("date in the future", dict(signed_at=now + datetime.timedelta(minutes=20)),
             "InvalidSignatureException"),
            ("missing Authorization", dict(sign=False), "MissingAuthenticationTokenException"),
            ("wrong service", dict(service="s3"), None),
        ]
        name = unique("unauthenticated")
        with self.unchanged():
            for label, kwargs, error_type in cases:
                with self.subTest(label):
                    status, headers, body = server.raw_request(
                        "POST", "/things/" + name, body=json.dumps({}), **kwargs)
                    self.assertEqual(status, 403, body)
                    got = headers.get("x-amzn-errortype", "")
                    if error_type:
                        self.assertEqual(got.split(":")[0], error_type, headers)
                    else:
                        self.assertTrue(got, headers)
                    self.assertTrue(json.loads(body).get("message"), body)
        # The same request correctly signed, with either signing name botocore versions use.
        for service in ("iot", "execute-api"):
            status, _, body = server.raw_request("GET", "/things/existing-thing", service=service)
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["thingName"], "existing-thing")
        # The body is covered by the signature: altering it after signing is refused.
        status, headers, _ = server.raw_request(
            "POST", "/things/" + name, body=json.dumps({}),
            headers={"X-Amz-Content-SHA256": "0" * 64})
        self.assertEqual(status, 403)
        # A signature scoped to another region is not valid for this account (us-east-1).
        with self.unchanged():
            other_region = server.client(region="eu-west-1")
            self.client_error(other_region.create_thing, "InvalidSignatureException", 403,
                              thingName=name)
        # boto3 itself reports the codes too.
        bad = server.client(harness.Account(ACCOUNT_ID, harness.ACCESS_KEY_ID, "wrong-secret"))
        self.client_error(bad.list_things, "InvalidSignatureException", 403)
        self.client_error(server.client(stranger).list_things, "UnrecognizedClientException", 403)
        self.client_error(self.iot.describe_thing, "ResourceNotFoundException", 404,
                          thingName=name)


class Boto3AccountIsolationTest(SnapshotMixin, harness.ServerTestCase):
    issued_key_type = "ec"

    def test_accounts_see_only_their_own_resources(self):
        a = self.iot
        # Account B is created while the server runs and is usable at once.
        account_b = self.server.create_account("210987654321", "AKIAFLEETGATETESTBBB",
                                               "secret-of-account-b-0000000000000000000")
        b = self.server.client(account_b)
        self.assertEqual(b.list_things()["things"], [])

        a.create_thing(thingName="a-only", attributePayload={"attributes": {"owner": "a"}})
        a.create_thing(thingName="same-name", attributePayload={"attributes": {"owner": "a"}})
        a_cert = a.create_keys_and_certificate(setAsActive=True)
        a.create_policy(policyName="a-policy",
                        policyDocument=harness.policy_document("iot:Connect"))
        a.attach_policy(policyName="a-policy", target=a_cert["certificateArn"])
        a.create_thing_group(thingGroupName="a-group")
        a_before = self.snapshot(a)

        # B does not see A's names: ResourceNotFoundException.
        self.client_error(b.describe_thing, "ResourceNotFoundException", 404, thingName="a-only")
        self.client_error(b.describe_certificate, "ResourceNotFoundException", 404,
                          certificateId=a_cert["certificateId"])
        self.client_error(b.get_policy, "ResourceNotFoundException", 404, policyName="a-policy")
        self.client_error(b.describe_thing_group, "ResourceNotFoundException", 404,
                          thingGroupName="a-group")
        self.client_error(b.update_certificate, "ResourceNotFoundException", 404,
                          certificateId=a_cert["certificateId"], newStatus="REVOKED")
        self.client_error(b.list_targets_for_policy, "ResourceNotFoundException", 404,
                          policyName="a-policy")
        # B cannot reach A's certificate through its ARN either.
        b.create_policy(policyName="b-policy",
                        policyDocument=harness.policy_document("iot:Connect"))
        b.create_thing(thingName="b-only")
        for call, kwargs in [
                (b.attach_policy, dict(policyName="b-policy", target=a_cert["certificateArn"])),
                (b.attach_thing_principal, dict(thingName="b-only",
                                                principal=a_cert["certificateArn"])),
                (b.list_principal_things, dict(principal=a_cert["certificateArn"]))]:
            with self.subTest(call.__name__):
                with self.assertRaises(botocore.exceptions.ClientError) as ctx:
                    call(**kwargs)
                r = ctx.exception.response
                self.assertLess(r["ResponseMetadata"]["HTTPStatusCode"], 500, r)
                self.assertIn(r["Error"]["Code"],
                              ("ResourceNotFoundException", "InvalidRequestException"), r)
        # Deleting "A's" thing through B deletes nothing of A's (it does not exist in B).
        b.delete_thing(thingName="a-only")
        # The same name is free in B.
        b.create_thing(thingName="same-name", attributePayload={"attributes": {"owner": "b"}})
        b_cert = b.create_keys_and_certificate(setAsActive=True)

        self.assertEqual(self.snapshot(a), a_before, "account B's calls changed account A")
        self.assertEqual(a.describe_thing(thingName="same-name")["attributes"], {"owner": "a"})
        self.assertEqual(b.describe_thing(thingName="same-name")["attributes"], {"owner": "b"})
        b_view = self.snapshot(b)
        self.assertEqual([t[0] for t in b_view["things"]], ["b-only", "same-name"])
        self.assertEqual([c[0] for c in b_view["certificates"]], [b_cert["certificateId"]])
        self.assertEqual(b_view["policies"], ["b-policy"])
        self.assertEqual(b_view["groups"], [])
        self.assertEqual(sorted(t[0] for t in a_before["things"]), ["a-only", "same-name"])
        self.assertEqual([c[0] for c in a_before["certificates"]], [a_cert["certificateId"]])
        self.assertEqual(a_before["policies"], ["a-policy"])
        # Each account has its own registration code and endpoint.
        self.assertNotEqual(a.get_registration_code()["registrationCode"],
                            b.get_registration_code()["registrationCode"])
        self.assertNotEqual(a.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"],
                            b.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"])
        # ARNs carry the caller's account.
        self.assertEqual(b_cert["certificateArn"],
                         account_b.arn("cert", b_cert["certificateId"]))


    def test_one_ca_in_two_accounts(self):
        """Spec §3.3 / §6: a CA is registered in DEFAULT mode by one account per region; other
        accounts register it in SNI_ONLY mode, and a device certificate can be in both."""
        a = self.iot
        account_c = self.server.create_account("310987654321", "AKIAFLEETGATETESTCCC",
                                               "secret-of-account-c-0000000000000000000")
        c = self.server.client(account_c)
        ca_cert, ca_key = self.pki.root_ca("Shared Manufacturer CA")
        ca_pem = self.pki.read(ca_cert)
        code_a = a.get_registration_code()["registrationCode"]
        code_c = c.get_registration_code()["registrationCode"]
        ca_id = a.register_ca_certificate(
            caCertificate=ca_pem, setAsActive=True,
            verificationCertificate=self.pki.read(self.pki.verification_cert(code_a, ca_cert,
                                                                             ca_key)))[
            "certificateId"]
        # C's own proof of possession does not give it a second DEFAULT registration.
        c_before = self.snapshot(c)
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            c.register_ca_certificate(
                caCertificate=ca_pem, setAsActive=True,
                verificationCertificate=self.pki.read(self.pki.verification_cert(
                    code_c, ca_cert, ca_key)))
        r = ctx.exception.response
        self.assertLess(r["ResponseMetadata"]["HTTPStatusCode"], 500, r)
        self.assertIn(r["Error"]["Code"], ("ResourceAlreadyExistsException",
                                           "InvalidRequestException"), r)
        self.assertEqual(self.snapshot(c), c_before)
        # A verification certificate has no place in SNI_ONLY mode.
        self.client_error(c.register_ca_certificate, "InvalidRequestException", 400,
                          caCertificate=ca_pem, certificateMode="SNI_ONLY",
                          verificationCertificate=self.pki.read(self.pki.verification_cert(
                              code_c, ca_cert, ca_key)))
        self.assertEqual(self.snapshot(c), c_before)
        c_ca = c.register_ca_certificate(caCertificate=ca_pem, certificateMode="SNI_ONLY",
                                         setAsActive=True)
        self.assertEqual(c_ca["certificateId"], ca_id)
        self.assertEqual(c_ca["certificateArn"], account_c.arn("cacert", ca_id))
        self.assertEqual(c.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]
                         ["certificateMode"], "SNI_ONLY")

        # One device certificate registered in both accounts; each sees its own registration.
        device, _ = self.pki.leaf("shared-device", ca_cert, ca_key)
        device_pem = self.pki.read(device)
        in_a = a.register_certificate(certificatePem=device_pem, status="ACTIVE")
        in_c = c.register_certificate(certificatePem=device_pem, status="INACTIVE")
        self.assertEqual(in_a["certificateId"], in_c["certificateId"])
        da = a.describe_certificate(certificateId=in_a["certificateId"])["certificateDescription"]
        dc = c.describe_certificate(certificateId=in_c["certificateId"])["certificateDescription"]
        self.assertEqual((da["status"], da["certificateMode"], da["ownedBy"]),
                         ("ACTIVE", "DEFAULT", ACCOUNT_ID))
        self.assertEqual((dc["status"], dc["certificateMode"], dc["ownedBy"]),
                         ("INACTIVE", "SNI_ONLY", account_c.account_id))
        # Changing one registration leaves the other alone.
        c.update_certificate(certificateId=in_c["certificateId"], newStatus="REVOKED")
        self.assertEqual(a.describe_certificate(certificateId=in_a["certificateId"])
                         ["certificateDescription"]["status"], "ACTIVE")
        c.delete_certificate(certificateId=in_c["certificateId"])
        a.describe_certificate(certificateId=in_a["certificateId"])


class Boto3ConcurrencyTest(harness.ServerTestCase):
    issued_key_type = "ec"
    THREADS = 8
    THINGS_PER_THREAD = 70
    CERTS_PER_THREAD = 20

    def test_concurrent_writers(self):
        prefix = unique("conc")
        csrs = [self.pki.read(self.pki.csr(self.pki.key("ec"), "writer-%d" % i))
                for i in range(self.THREADS)]
        clients = [self.server.client() for _ in range(self.THREADS)]
        failures, cert_ids = [], []
        lock = threading.Lock()
        start = threading.Barrier(self.THREADS)

        def writer(i):
            iot = clients[i]
            start.wait(timeout=60)
            mine = []
            for n in range(self.THINGS_PER_THREAD):
                try:
                    iot.create_thing(thingName="%s-%d-%03d" % (prefix, i, n),
                                     attributePayload={"attributes": {"writer": str(i)}})
                except Exception as e:  # noqa: BLE001 - every failure is reported
                    failures.append(("thing", i, n, repr(e)))
                if n % 3 == 0 and len(mine) < self.CERTS_PER_THREAD:
                    try:
                        mine.append(iot.create_certificate_from_csr(
                            certificateSigningRequest=csrs[i])["certificateId"])
                    except Exception as e:  # noqa: BLE001
                        failures.append(("cert", i, n, repr(e)))
            while len(mine) < self.CERTS_PER_THREAD:
                try:
                    mine.append(iot.create_certificate_from_csr(
                        certificateSigningRequest=csrs[i])["certificateId"])
                except Exception as e:  # noqa: BLE001
                    failures.append(("cert", i, -1, repr(e)))
                    break
            with lock:
                cert_ids.extend(mine)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(self.THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
            self.assertFalse(t.is_alive(), "a writer thread hung")
        self.assertEqual(failures, [])

        things = [t["thingName"] for t in paginate(self.iot, "list_things", "things",
                                                   PaginationConfig={"PageSize": 250})]
        self.assertEqual(len(things), len(set(things)))
        ours = [t for t in things if t.startswith(prefix + "-")]
        self.assertEqual(len(ours), self.THREADS * self.THINGS_PER_THREAD)
        self.assertEqual(len(cert_ids), self.THREADS * self.CERTS_PER_THREAD)
        self.assertEqual(len(set(cert_ids)), len(cert_ids), "two calls returned one certificate")
        # ListCertificates pages 25 by default (spec §1.1).
        first_page = self.iot.list_certificates()
        self.assertEqual(len(first_page["certificates"]), 25)
        self.assertIn("nextMarker", first_page)
        listed = [c["certificateId"] for c in paginate(self.iot, "list_certificates",
                                                      "certificates",
                                                      PaginationConfig={"PageSize": 250})]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertEqual(set(cert_ids) - set(listed), set())
        # A filtered listing scans past the writers' interleaved things, page by page.
        for i in (0, self.THREADS - 1):
            filtered = [t["thingName"] for t in paginate(
                self.iot, "list_things", "things", attributeName="writer",
                attributeValue=str(i), PaginationConfig={"PageSize": 7})]
            self.assertEqual(filtered, ["%s-%d-%03d" % (prefix, i, n)
                                        for n in range(self.THINGS_PER_THREAD)])
        # Spot-check content: attributes went to the right thing.
        for i in (0, self.THREADS - 1):
            d = self.iot.describe_thing(thingName="%s-%d-%03d" % (prefix, i, 7))
            self.assertEqual(d["attributes"], {"writer": str(i)})

    def test_racing_creates_of_one_name(self):
        clients = [self.server.client() for _ in range(self.THREADS)]
        for round_number in range(5):
            name = unique("race-%d" % round_number)
            outcomes = [None] * self.THREADS
            barrier = threading.Barrier(self.THREADS)

            def racer(i):
                barrier.wait(timeout=60)
                try:
                    r = clients[i].create_thing(
                        thingName=name, attributePayload={"attributes": {"racer": str(i)}})
                    outcomes[i] = ("ok", r["thingId"])
                except botocore.exceptions.ClientError as e:
                    outcomes[i] = (e.response["Error"]["Code"],
                                   e.response["ResponseMetadata"]["HTTPStatusCode"],
                                   e.response.get("resourceId"))
                except Exception as e:  # noqa: BLE001
                    outcomes[i] = ("exception", repr(e))

            threads = [threading.Thread(target=racer, args=(i,)) for i in range(self.THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            winners = [i for i, o in enumerate(outcomes) if o and o[0] == "ok"]
            self.assertEqual(len(winners), 1, outcomes)
            winner = winners[0]
            thing_id = outcomes[winner][1]
            for i, o in enumerate(outcomes):
                if i != winner:
                    self.assertEqual(o, ("ResourceAlreadyExistsException", 409, thing_id),
                                     outcomes)
            d = self.iot.describe_thing(thingName=name)
            self.assertEqual((d["thingId"], d["attributes"], d["version"]),
                             (thing_id, {"racer": str(winner)}, 1))

        # Identical configurations racing: every caller gets the one thing (idempotent create).
        name = unique("same-config")
        ids = [None] * self.THREADS
        barrier = threading.Barrier(self.THREADS)

        def same(i):
            barrier.wait(timeout=60)
            try:
                ids[i] = clients[i].create_thing(
                    thingName=name, attributePayload={"attributes": {"k": "v"}})["thingId"]
            except Exception as e:  # noqa: BLE001
                ids[i] = repr(e)

        threads = [threading.Thread(target=same, args=(i,)) for i in range(self.THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(set(ids), {self.iot.describe_thing(thingName=name)["thingId"]}, ids)


if __name__ == "__main__":
    unittest.main()
