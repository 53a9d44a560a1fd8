"""RegisterThing (spec §1.8, §7.4) through the real AWS CLI: a template whose certificate comes
from a CSR made by `openssl req`, then what it made as describe-thing, list-thing-principals and
list-attached-policies show it; a failing template changes nothing.
"""

import json
import unittest
import uuid

import harness
from harness import DEFAULT_ACCOUNT


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def template(policy_resources):
    return json.dumps({
        "Parameters": {
            "ThingName": {"Type": "String"},
            "CSR": {"Type": "String"},
            "Site": {"Type": "String", "Default": "berlin"},
        },
        "Resources": dict({
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {
                    "ThingName": {"Ref": "ThingName"},
                    "AttributePayload": {"site": {"Ref": "Site"},
                                         "serial": {"Fn::Select": [1, {"Fn::Split": [
                                             "-", {"Ref": "ThingName"}]}]}},
                },
                "OverrideSettings": {"AttributePayload": "MERGE"},
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "Active"},
            },
        }, **policy_resources),
    })


class RegisterThingTest(harness.ServerTestCase):

    def listing(self):
        things = self.aws_ok("list-things")["things"]
        certs = self.aws_ok("list-certificates")["certificates"]
        return (sorted(t["thingName"] for t in things), sorted(c["certificateId"] for c in certs))

    def test_register_thing_with_a_csr(self):
        arn = DEFAULT_ACCOUNT.arn
        policy = unique("rt-policy")
        self.aws_ok("create-policy", "--policy-name", policy, "--policy-document",
                    harness.policy_document("iot:Connect"))
        thing = unique("rt")
        serial = thing.split("-")[1]
        key = self.pki.key()
        csr_path = self.pki.csr(key, cn=thing)
        csr = harness.Pki.read(csr_path)
        document = json.loads(harness.policy_document("iot:Publish"))

        body = template({
            "named": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": policy}},
            "inline": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": document}},
        })
        out = self.aws_ok("register-thing", "--template-body", body, "--parameters",
                          json.dumps({"ThingName": thing, "CSR": csr}))

        arns = out["resourceArns"]
        self.assertEqual(set(arns), {"thing", "certificate", "named", "inline"})
        self.assertEqual(arns["thing"], arn("thing", thing))
        self.assertEqual(arns["named"], arn("policy", policy))
        cert_arn = arns["certificate"]
        cert_id = cert_arn.rsplit("/", 1)[1]
        inline_name = arns["inline"].rsplit("/", 1)[1]
        self.assertRegex(inline_name, r"^[0-9a-f]{64}$")

        # The certificate is the CSR's key, signed by the device CA, and ACTIVE.
        cert_path = self.pki.write(out["certificatePem"])
        self.assertTrue(self.pki.verify(self.server.device_ca, cert_path))
        self.assertEqual(self.pki.certificate_id(cert_path), cert_id)
        cert_key = self.pki.openssl("x509", "-in", cert_path, "-noout", "-pubkey").stdout
        csr_key = self.pki.openssl("req", "-in", csr_path, "-noout", "-pubkey").stdout
        self.assertEqual(cert_key, csr_key)
        described_cert = self.aws_ok("describe-certificate", "--certificate-id",
                                     cert_id)["certificateDescription"]
        self.assertEqual(described_cert["status"], "ACTIVE")
        self.assertEqual(described_cert["certificatePem"].strip(), out["certificatePem"].strip())

        described = self.aws_ok("describe-thing", "--thing-name", thing)
        self.assertEqual(described["attributes"], {"site": "berlin", "serial": serial})
        principals = self.aws_ok("list-thing-principals", "--thing-name", thing)["principals"]
        self.assertEqual(principals, [cert_arn])
        attached = self.aws_ok("list-attached-policies", "--target", cert_arn)["policies"]
        self.assertEqual(sorted(p["policyName"] for p in attached), sorted([policy, inline_name]))
        inline = self.aws_ok("get-policy", "--policy-name", inline_name)
        self.assertEqual(json.loads(inline["policyDocument"]), document)

        # The same template again with a new CSR: the thing is merged, a second certificate and
        # no second inline policy (same document, same name).
        policies_before = self.iot.list_policies()["policies"]
        csr2 = harness.Pki.read(self.pki.csr(self.pki.key(), cn=thing))
        again = self.iot.register_thing(templateBody=body,
                                        parameters={"ThingName": thing, "CSR": csr2})
        self.assertEqual(again["resourceArns"]["inline"], arns["inline"])
        self.assertNotEqual(again["resourceArns"]["certificate"], cert_arn)
        self.assertEqual(self.iot.list_policies()["policies"], policies_before)
        self.assertEqual(len(self.iot.list_thing_principals(thingName=thing)["principals"]), 2)

    def test_missing_policy_fails_and_changes_nothing(self):
        before = self.listing()
        thing = unique("rt-missing")
        csr = harness.Pki.read(self.pki.csr(self.pki.key(), cn=thing))
        missing = unique("no-such-policy")
        body = template({"policy": {"Type": "AWS::IoT::Policy",
                                    "Properties": {"PolicyName": missing}}})
        result = self.aws_error("ResourceRegistrationFailureException", "register-thing",
                                "--template-body", body, "--parameters",
                                json.dumps({"ThingName": thing, "CSR": csr}))
        self.assertIn(missing, result.stderr)
        self.assertEqual(self.listing(), before)

    def test_evaluation_and_shape_errors(self):
        before = self.listing()
        # A parameter without a value or Default is a registration failure, naming it.
        result = self.aws_error("ResourceRegistrationFailureException", "register-thing",
                                "--template-body", template({}), "--parameters",
                                json.dumps({"ThingName": unique("rt-nocsr")}))
        self.assertIn("CSR", result.stderr)
        # A body that is not a template at all is an invalid request.
        self.client_error(self.iot.register_thing, "InvalidRequestException", 400,
                          templateBody="[1, 2, 3]")
        self.client_error(self.iot.register_thing, "InvalidRequestException", 400,
                          templateBody=template({}),
                          parameters={"ThingName": "x", "CSR": "y" * 4097})
        self.assertEqual(self.listing(), before)


if __name__ == "__main__":
    unittest.main()
