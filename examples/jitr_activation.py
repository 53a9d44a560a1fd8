#!/usr/bin/python3
"""A JITR activation service: the code AWS users put in the Lambda behind their JITR rule.

fleetgate registers an unknown device certificate signed by an auto-registration CA as
PENDING_ACTIVATION and publishes `$aws/events/certificates/registered/<caCertificateId>`.
A topic rule forwards that event here:

    aws iot create-topic-rule --rule-name jitr_activation --topic-rule-payload '{
      "sql": "SELECT * FROM '"'"'$aws/events/certificates/registered/#'"'"'",
      "actions": [{"http": {"url": "http://127.0.0.1:8080/"}}]}'

For each event this service checks the certificate (its CA is one we trust, it is still
PENDING_ACTIVATION, its subject CN is a usable thing name), then with the aws CLI creates a thing
named after the CN, attaches the policy and the thing, and activates the certificate. The device's
next connect succeeds. The aws CLI takes seconds per call, longer than a rule's HTTP request may
last, so events from trusted CAs are answered 202 at once and activated in order by one worker;
422 refuses a CA that is not trusted, 400 a body that is not a JITR event.

    examples/jitr_activation.py --port 8080 --policy-name device-policy \\
        --trusted-ca <caCertificateId> --endpoint-url https://127.0.0.1:8443 \\
        --ca-bundle <data-dir>/server-root.pem --region us-east-1

Credentials come from the usual AWS environment (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE...).
"""

import argparse
import http.server
import json
import queue
import re
import subprocess
import sys
import threading

THING_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")


class Activator:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.seen = set()
        self.queue = queue.Queue()
        threading.Thread(target=self.work, daemon=True).start()

    def aws(self, *command):
        argv = [self.args.aws, "iot", *command, "--endpoint-url", self.args.endpoint_url,
                "--ca-bundle", self.args.ca_bundle, "--region", self.args.region,
                "--output", "json"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError("aws iot %s failed: %s" % (command[0], proc.stderr.strip()))
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    @staticmethod
    def common_name(pem):
        proc = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253"],
                              input=pem, capture_output=True, text=True, timeout=30)
        match = re.search(r"(?:^|,)CN=([^,]+)", proc.stdout.strip().removeprefix("subject="))
        return match.group(1) if match else None

    def accept(self, event):
        """Returns (HTTP status, message); queues the events worth activating."""
        certificate_id = event.get("certificateId")
        ca_id = event.get("caCertificateId")
        if not isinstance(certificate_id, str) or not isinstance(ca_id, str):
            return 400, "not a JITR event"
        if ca_id not in self.args.trusted_ca:
            return 422, "CA %s is not trusted" % ca_id
        with self.lock:
            # The event repeats at every connect attempt while the certificate is pending.
            if certificate_id in self.seen:
                return 202, "already queued %s" % certificate_id
            self.seen.add(certificate_id)
        self.queue.put((certificate_id, ca_id))
        return 202, "queued %s" % certificate_id

    def work(self):
        while True:
            certificate_id, ca_id = self.queue.get()
            try:
                print(self.activate(certificate_id, ca_id), flush=True)
            except RuntimeError as e:
                with self.lock:
                    self.seen.discard(certificate_id)  # the next event retries
                print("failed %s: %s" % (certificate_id, e), flush=True)

    def activate(self, certificate_id, ca_id):
        description = self.aws("describe-certificate", "--certificate-id",
                               certificate_id)["certificateDescription"]
        if description["status"] != "PENDING_ACTIVATION" or description.get("caCertificateId") != ca_id:
            return "refused %s: it is %s" % (certificate_id, description["status"])
        name = self.common_name(description["certificatePem"])
        if not name or not THING_NAME.match(name):
            return "refused %s: no usable CN" % certificate_id
        arn = description["certificateArn"]
        self.aws("create-thing", "--thing-name", name)
        self.aws("attach-policy", "--policy-name", self.args.policy_name, "--target", arn)
        self.aws("attach-thing-principal", "--thing-name", name, "--principal", arn)
        self.aws("update-certificate", "--certificate-id", certificate_id,
                 "--new-status", "ACTIVE")
        return "activated %s as %s" % (certificate_id, name)


def serve(args):
    activator = Activator(args)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 65536))
            try:
                event = json.loads(body)
                status, message = activator.accept(event) if isinstance(event, dict) else (
                    400, "not a JSON object")
            except json.JSONDecodeError:
                status, message = 400, "not JSON"
            print("%d %s" % (status, message), flush=True)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(message.encode())

        def log_message(self, *unused):
            pass  # one line per event is printed above

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening on %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="0: any free port")
    parser.add_argument("--policy-name", required=True)
    parser.add_argument("--trusted-ca", action="append", required=True,
                        help="caCertificateId whose devices may be activated (repeatable)")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--ca-bundle", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--aws", default="/usr/bin/aws")
    serve(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
