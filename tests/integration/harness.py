"""Fixtures shared by the fleetgate integration tests.

The tests drive the real `fleetgate` binary (FLEETGATE_BIN) with the real Debian clients:
/usr/bin/aws (AWS CLI v2) and boto3 under /usr/bin/python3. Nothing here reads ~/.aws: every
client gets the endpoint, the server root CA, the region and the credentials explicitly. All
PKI material is generated with the `openssl` CLI in temporary directories at test time.
"""

import base64
import contextlib
import datetime
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse

# Keep botocore (in this process and in the aws CLI children) away from any ambient AWS
# configuration: profiles, environment credentials, instance metadata.
for _var in [v for v in os.environ if v.startswith("AWS_")]:
    del os.environ[_var]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402  (after the environment is cleaned)
import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.config  # noqa: E402
import botocore.credentials  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FLEETGATE_BIN = os.environ.get("FLEETGATE_BIN") or os.path.join(
    HERE, "..", "..", "build-it", "src", "cli", "fleetgate")
AWS_BIN = "/usr/bin/aws"
OPENSSL = shutil.which("openssl", path="/usr/bin:/bin") or "openssl"
REGION = "us-east-1"

# The default account every Server is initialized with (explicit, never random).
ACCOUNT_ID = "123456789012"
ACCESS_KEY_ID = "AKIAFLEETGATETEST001"
SECRET_ACCESS_KEY = "fleetgate/integration/test/secret/key/000"

START_TIMEOUT = 30  # seconds for `serve` to write its port file
STOP_TIMEOUT = 30   # seconds for `serve` to exit after SIGTERM
COMMAND_TIMEOUT = 120  # any single child process (aws, openssl, fleetgate init/account)

# The "An error occurred (XxxException) when calling ..." line the aws CLI prints.
_AWS_ERROR_RE = re.compile(r"An error occurred \(([A-Za-z0-9_.]+)\)")


class Account:
    def __init__(self, account_id, access_key_id, secret_access_key, region=REGION):
        self.account_id = account_id
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region

    def arn(self, kind, name):
        return "arn:aws:iot:%s:%s:%s/%s" % (self.region, self.account_id, kind, name)


DEFAULT_ACCOUNT = Account(ACCOUNT_ID, ACCESS_KEY_ID, SECRET_ACCESS_KEY)


def run(args, check=True, timeout=COMMAND_TIMEOUT, input=None, env=None):
    """Runs a child process to completion and returns the CompletedProcess (text mode)."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input,
                          env=env)
    if check and proc.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(args), proc.returncode, proc.stdout, proc.stderr))
    return proc


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class AwsResult:
    """The outcome of one `aws iot ...` run."""

    def __init__(self, args, proc):
        self.args = args
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.json = None
        if proc.returncode == 0 and proc.stdout.strip():
            self.json = json.loads(proc.stdout)
        match = _AWS_ERROR_RE.search(proc.stderr)
        self.error_code = match.group(1) if match else None

    def __repr__(self):
        return "aws %s -> rc=%d\nstdout: %s\nstderr: %s" % (
            " ".join(self.args), self.returncode, self.stdout[-2000:], self.stderr[-2000:])


class Server:
    """One fleetgate data directory and, while started, its `serve` process.

    The data directory is created by `fleetgate init` with the explicit default account above.
    """

    def __init__(self, issued_key_type=None, init=True, serve_args=()):
        self.tmp = tempfile.mkdtemp(prefix="fleetgate-it-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.port_file = os.path.join(self.tmp, "ports.json")
        self.serve_args = tuple(serve_args)  # extra `fleetgate serve` options
        self.home = os.path.join(self.tmp, "home")  # HOME of the aws CLI: never the real one
        os.makedirs(self.home)
        self.proc = None
        self.port = None
        self.mqtt_port = None
        self.mqtt_alpn_port = None
        self.log_path = None
        self._log = None
        self._starts = 0
        self._extra_credentials = {}
        self.accounts = {ACCOUNT_ID: DEFAULT_ACCOUNT}
        if init:
            self.init(issued_key_type=issued_key_type)

    # ---- paths ----
    @property
    def ca_bundle(self):
        return os.path.join(self.data_dir, "pki", "server-root-ca.pem")

    @property
    def device_ca(self):
        return os.path.join(self.data_dir, "pki", "device-ca.pem")

    @property
    def credentials_file(self):
        return os.path.join(self.data_dir, "aws-credentials")

    @property
    def endpoint_url(self):
        return "https://127.0.0.1:%d" % self.port

    # ---- fleetgate commands ----
    def fleetgate(self, *args, check=True, timeout=COMMAND_TIMEOUT):
        return run([FLEETGATE_BIN] + list(args), check=check, timeout=timeout,
                   input="")  # never wait on a confirmation prompt

    def init(self, issued_key_type=None, account=DEFAULT_ACCOUNT, check=True, extra=()):
        args = ["init", "--data-dir", self.data_dir, "--account-id", account.account_id,
                "--region", REGION, "--access-key-id", account.access_key_id,
                "--secret-access-key", account.secret_access_key]
        if issued_key_type:
            args += ["--issued-key-type", issued_key_type]
        return self.fleetgate(*(args + list(extra)), check=check)

    def create_account(self, account_id, access_key_id, secret_access_key, region=None):
        args = ["account", "create", "--data-dir", self.data_dir, "--account-id", account_id,
                "--access-key-id", access_key_id, "--secret-access-key", secret_access_key]
        if region:
            args += ["--region", region]
        self.fleetgate(*args)
        account = Account(account_id, access_key_id, secret_access_key, region or REGION)
        self.accounts[account_id] = account
        return account

    # ---- serve lifecycle ----
    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None, "server already running"
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.port_file)
        self._starts += 1
        self.log_path = os.path.join(self.tmp, "serve-%d.log" % self._starts)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [FLEETGATE_BIN, "serve", "--data-dir", self.data_dir, "--api-port", "0",
             "--mqtt-port", "0", "--mqtt-alpn-port", "0", "--port-file", self.port_file]
            + list(self.serve_args),
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    ports = json.loads(text)
                    self.port = ports["api"]
                    self.mqtt_port = ports["mqtt"]
                    self.mqtt_alpn_port = ports["mqtt_alpn"]
                    return self
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self._reap()
                raise AssertionError("fleetgate serve exited %d before writing its port:\n%s" % (
                    rc, self.log_tail()))
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("fleetgate serve wrote no port file within %ds:\n%s" % (
                    timeout, self.log_tail()))
            time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, and return the exit code (the caller asserts on it)."""
        assert self.proc is not None, "server not running"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("fleetgate serve did not exit within %ds of SIGTERM:\n%s" % (
                timeout, self.log_tail()))
        self._reap()
        return rc

    def kill(self):
        """SIGKILL (a crash) and reap."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait(timeout=STOP_TIMEOUT)
        self._reap()
        return rc

    def _reap(self):
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    def log_tail(self, chars=4000):
        if not self.log_path or not os.path.exists(self.log_path):
            return "(no log)"
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-chars:]

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- clients ----
    def client(self, account=DEFAULT_ACCOUNT, region=None, **config):
        """A boto3 `iot` client for this server, signing for the account's region unless told
        otherwise. No retries: every call is seen exactly once."""
        session = boto3.session.Session(
            aws_access_key_id=account.access_key_id,
            aws_secret_access_key=account.secret_access_key,
            region_name=region or account.region)
        options = dict(retries={"total_max_attempts": 1, "mode": "standard"},
                       max_pool_connections=32, connect_timeout=10, read_timeout=60)
        options.update(config)
        return session.client("iot", endpoint_url=self.endpoint_url, verify=self.ca_bundle,
                              config=botocore.config.Config(**options))

    def _credentials_file_for(self, account):
        if account is DEFAULT_ACCOUNT or account.account_id == ACCOUNT_ID:
            return self.credentials_file  # the file `fleetgate init` wrote
        path = self._extra_credentials.get(account.account_id)
        if path is None:
            path = os.path.join(self.tmp, "credentials-%s" % account.account_id)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
                    account.access_key_id, account.secret_access_key))
            self._extra_credentials[account.account_id] = path
        return path

    def aws(self, *args, account=DEFAULT_ACCOUNT):
        """Runs `/usr/bin/aws iot <args>` against this server and returns an AwsResult."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(HOME=self.home, AWS_SHARED_CREDENTIALS_FILE=self._credentials_file_for(account),
                   AWS_CONFIG_FILE=os.devnull, AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true",
                   AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
        full = [AWS_BIN, "iot"] + [str(a) for a in args] + [
            "--endpoint-url", self.endpoint_url, "--ca-bundle", self.ca_bundle,
            "--region", REGION, "--output", "json", "--no-cli-pager"]
        proc = run(full, check=False, env=env)
        return AwsResult([str(a) for a in args], proc)

    # ---- raw signed HTTP ----
    def raw_request(self, method, path, body=b"", headers=None, account=DEFAULT_ACCOUNT,
                    sign=True, signed_at=None, secret=None, service="iot", query="",
                    expect_continue=False):
        """Sends one request signed with botocore's SigV4Auth over http.client.

        Returns (status, headers dict with lower-case names, body bytes). `signed_at` signs with
        that UTC datetime instead of now; `secret` signs with another secret key. With
        `expect_continue` the body is only sent after the server's `100 Continue` (as curl and
        botocore's S3 uploads do), so a server that refuses by the header answers first.
        """
        if isinstance(body, str):
            body = body.encode()
        target = path + ("?" + query if query else "")
        hdrs = {"Host": "127.0.0.1:%d" % self.port, "Content-Type": "application/json"}
        if expect_continue:
            hdrs["Expect"] = "100-continue"
        hdrs.update(headers or {})
        request = botocore.awsrequest.AWSRequest(method=method, url=self.endpoint_url + target,
                                                 data=body, headers=hdrs)
        if sign:
            credentials = botocore.credentials.Credentials(
                account.access_key_id, secret if secret is not None else account.secret_access_key)
            _SigV4AuthAt(credentials, service, REGION, signed_at).add_auth(request)
        context = ssl.create_default_context(cafile=self.ca_bundle)
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=60)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            if expect_continue:
                status, reason, head = _read_head(conn.sock)
                if status != 100:  # a final answer before the body: read it and stop
                    length = int(head.get("content-length", "0"))
                    data = b""
                    while len(data) < length:
                        chunk = conn.sock.recv(length - len(data))
                        if not chunk:
                            break
                        data += chunk
                    return status, head, data
            if body:
                conn.send(body)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()


def _read_head(sock):
    """Reads one response head (status line and headers) byte by byte, so nothing after it is
    consumed. Returns (status, reason, {lower-case name: value})."""
    raw = b""
    while not raw.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("connection closed inside a response head: %r" % raw)
        raw += byte
    lines = raw.decode("latin-1").split("\r\n")
    _, status, reason = (lines[0].split(" ", 2) + [""])[:3]
    head = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            head[name.strip().lower()] = value.strip()
    return int(status), reason, head


class _SigV4AuthAt(botocore.auth.SigV4Auth):
    """botocore's SigV4Auth, signing at a chosen time (None = now, as botocore does)."""

    def __init__(self, credentials, service, region, when=None):
        super().__init__(credentials, service, region)
        self._when = when

    def add_auth(self, request):
        if self._when is None:
            return super().add_auth(request)
        request.context["timestamp"] = self._when.strftime(botocore.auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class ServerTestCase(unittest.TestCase):
    """One server per test class: started in setUpClass, stopped with SIGTERM (exit code 0
    asserted) in tearDownClass, killed and removed on any failure."""

    issued_key_type = None
    server = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = Server(issued_key_type=cls.issued_key_type)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.iot = cls.server.client()
        cls.pki = Pki(os.path.join(cls.server.tmp, "pki"))

    @classmethod
    def tearDownClass(cls):
        server = cls.server
        if server is not None and server.proc is not None:
            alive = server.running()
            rc = server.stop() if alive else server.kill()
            if not alive or rc != 0:
                raise AssertionError("fleetgate serve: alive=%s, exit code %s after SIGTERM:\n%s"
                                     % (alive, rc, server.log_tail()))
        super().tearDownClass()

    # ---- aws CLI helpers ----
    def aws_ok(self, *args, account=DEFAULT_ACCOUNT):
        """Runs the CLI, asserts success, returns the parsed JSON output ({} when empty)."""
        result = self.server.aws(*args, account=account)
        self.assertEqual(result.returncode, 0, repr(result))
        return result.json if result.json is not None else {}

    def aws_error(self, expected_code, *args, account=DEFAULT_ACCOUNT):
        """Runs the CLI, asserts it failed with `expected_code` (parsed from stderr)."""
        result = self.server.aws(*args, account=account)
        self.assertNotEqual(result.returncode, 0, repr(result))
        self.assertEqual(result.error_code, expected_code, repr(result))
        return result

    # ---- boto3 helpers ----
    def client_error(self, call, expected_code, expected_status, *args, **kwargs):
        """Calls a boto3 method that must fail; asserts the error code and HTTP status (never
        a 5xx for client input) and returns the ClientError's response dict."""
        import botocore.exceptions
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            call(*args, **kwargs)
        response = ctx.exception.response
        status = response["ResponseMetadata"]["HTTPStatusCode"]
        code = response["Error"]["Code"]
        self.assertLess(status, 500, "server error for client input: %r" % (response,))
        self.assertEqual(code, expected_code, response)
        if expected_status is not None:
            self.assertEqual(status, expected_status, response)
        return response


class Pki:
    """Keys, CSRs and certificates made with the openssl CLI in one temporary directory."""

    _CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_ca_signed]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
[v3_leaf_signed]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o700)
        self.config = os.path.join(directory, "openssl.cnf")
        with open(self.config, "w") as f:
            f.write(self._CONFIG)
        self._n = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def _unique(self, stem):
        self._n += 1
        return "%s-%d" % (stem, self._n)

    def openssl(self, *args, input=None):
        return run([OPENSSL] + list(args), input=input)

    # ---- keys ----
    def key(self, kind="ec", name=None):
        """kind: 'ec' (P-256), 'ec384', 'ec521', 'rsaN'. Returns the key path (0600)."""
        path = self.path((name or self._unique("key")) + ".key")
        if kind == "ec":
            opts = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        elif kind in ("ec384", "ec521"):
            opts = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-%s" % kind[2:]]
        elif kind.startswith("rsa"):
            opts = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % int(kind[3:])]
        else:
            raise ValueError(kind)
        self.openssl("genpkey", *opts, "-out", path)
        os.chmod(path, 0o600)
        return path

    # ---- CSRs ----
    def csr(self, key, cn="device", der=False):
        path = self.path(self._unique("csr") + (".der" if der else ".csr"))
        self.openssl("req", "-new", "-config", self.config, "-key", key, "-subj", "/CN=%s" % cn,
                     "-outform", "DER" if der else "PEM", "-out", path)
        return path

    # ---- certificates ----
    def self_signed(self, key, cn, ca=False, days=365):
        path = self.path(self._unique("selfsigned") + ".pem")
        self.openssl("req", "-x509", "-new", "-config", self.config, "-key", key,
                     "-subj", "/CN=%s" % cn, "-days", str(days), "-sha256",
                     "-extensions", "v3_ca" if ca else "v3_leaf",
                     "-set_serial", str(secrets.randbits(63)), "-out", path)
        return path

    def sign(self, csr, ca_cert, ca_key, ca=False, days=365):
        """Signs a CSR with a CA; ca=True makes an intermediate CA certificate."""
        path = self.path(self._unique("signed") + ".pem")
        args = ["x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-days", str(days),
                "-sha256", "-set_serial", str(secrets.randbits(63)), "-out", path]
        if ca is not None:
            args += ["-extfile", self.config, "-extensions",
                     "v3_ca_signed" if ca else "v3_leaf_signed"]
        self.openssl(*args)
        return path

    def root_ca(self, cn, kind="ec"):
        key = self.key(kind)
        return self.self_signed(key, cn, ca=True, days=3650), key

    def intermediate_ca(self, cn, root_cert, root_key, kind="ec"):
        key = self.key(kind)
        return self.sign(self.csr(key, cn), root_cert, root_key, ca=True, days=1825), key

    def leaf(self, cn, ca_cert, ca_key, kind="ec"):
        key = self.key(kind)
        return self.sign(self.csr(key, cn), ca_cert, ca_key, ca=False), key

    def verification_cert(self, registration_code, ca_cert, ca_key, kind="ec"):
        """The proof-of-possession certificate: CN = registration code, signed by the CA key
        (no extensions, as the AWS documentation's openssl steps produce)."""
        key = self.key(kind)
        return self.sign(self.csr(key, registration_code), ca_cert, ca_key, ca=None, days=30)

    def expired(self, key, cn, ca_cert=None, ca_key=None, ca=False):
        """A certificate valid only in January 2020: self-signed, or signed by ca_cert/ca_key."""
        return self.dated(key, cn, "20200101000000Z", "20200131000000Z", ca_cert, ca_key, ca)

    def dated(self, key, cn, startdate, enddate, ca_cert=None, ca_key=None, ca=False):
        """A certificate with explicit validity dates (`openssl ca -startdate/-enddate`, which,
        unlike `x509 -days`, can also make expired and not-yet-valid ones): self-signed, or
        signed by ca_cert/ca_key."""
        db = self.path(self._unique("ca-db"))
        os.makedirs(db)
        open(os.path.join(db, "index.txt"), "w").close()
        config = os.path.join(db, "ca.cnf")
        with open(config, "w") as f:
            f.write(self._CONFIG + """
[ca]
default_ca = ca_default
[ca_default]
database = %s/index.txt
new_certs_dir = %s
default_md = sha256
policy = policy_any
unique_subject = no
rand_serial = yes
[policy_any]
commonName = supplied
""" % (db, db))
        path = self.path(self._unique("dated") + ".pem")
        args = ["ca", "-batch", "-notext", "-config", config, "-in", self.csr(key, cn),
                "-startdate", startdate, "-enddate", enddate,
                "-extensions", "v3_ca" if ca else "v3_leaf", "-out", path]
        if ca_cert:
            args += ["-cert", ca_cert, "-keyfile", ca_key]
        else:
            args += ["-selfsign", "-keyfile", key]
        self.openssl(*args)
        return path

    # ---- inspection ----
    def certificate_id(self, pem_path):
        """SHA-256 of the DER encoding, exactly as `openssl x509 -outform der | sha256sum`."""
        proc = run(["sh", "-c", '"$0" x509 -in "$1" -outform der | sha256sum', OPENSSL, pem_path])
        return proc.stdout.split()[0]

    def verify(self, ca_file, cert_file, untrusted=None):
        """True when `openssl verify` accepts the chain."""
        args = [OPENSSL, "verify", "-CAfile", ca_file]
        if untrusted:
            args += ["-untrusted", untrusted]
        proc = run(args + [cert_file], check=False)
        return proc.returncode == 0 and cert_file + ": OK" in proc.stdout

    def text(self, cert_file):
        return run([OPENSSL, "x509", "-in", cert_file, "-noout", "-text"]).stdout

    def write(self, content, suffix=".pem"):
        path = self.path(self._unique("file") + suffix)
        with open(path, "w") as f:
            f.write(content)
        return path

    @staticmethod
    def read(path):
        with open(path) as f:
            return f.read()


def pem_encode(der, label):
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def quote_arn(arn):
    return urllib.parse.quote(arn, safe="")


def policy_document(*actions, resource="*", effect="Allow"):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": list(actions) or ["iot:Connect"], "Resource": resource}]})
