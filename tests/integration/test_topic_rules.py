"""Topic rules (spec §1.10, docs/topic_rules.md) end to end.

CRUD through the real AWS CLI (/usr/bin/aws); rules exercised with the Debian mosquitto clients
over mutual TLS, and webhooks received by Python http.server / raw sockets on 127.0.0.1.
Every wait is bounded; nothing asserts on elapsed time.
"""

import base64
import http.server
import json
import os
import socket
import threading
import time
import unittest

import harness
import mqtt_util as mu
from harness import DEFAULT_ACCOUNT
from mqtt_util import ALLOW_ALL, unique

ROLE = "arn:aws:iam::%s:role/rules" % harness.ACCOUNT_ID
WAIT = 30.0  # bound on any wait; an http action that times out 3 times takes about 9 s


def republish(topic, qos=None):
    body = {"roleArn": ROLE, "topic": topic}
    if qos is not None:
        body["qos"] = qos
    return {"republish": body}


def http_action(url, headers=None):
    body = {"url": url}
    if headers:
        body["headers"] = [{"key": k, "value": v} for k, v in headers.items()]
    return {"http": body}


def rule_payload(sql, actions, **extra):
    payload = {"sql": sql, "actions": actions}
    payload.update(extra)
    return payload


class Webhook:
    """http.server on 127.0.0.1 that records POSTs; paths starting /fail answer 500."""

    def __init__(self, on_post=None):
        self.on_post = on_post  # called with (path, body) before answering
        self.requests = []
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with outer.cond:
                    outer.requests.append((self.path, dict(self.headers.items()), body))
                    outer.cond.notify_all()
                status = 500 if self.path.startswith("/fail") else 200
                if outer.on_post:
                    try:
                        outer.on_post(self.path, body)
                    except Exception:  # noqa: BLE001 - the test sees the missing effect
                        status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def wait(self, predicate, timeout=WAIT):
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.requests), timeout)

    def on(self, path):
        with self.cond:
            return [r for r in self.requests if r[0] == path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class RawEndpoint:
    """A TCP listener on 127.0.0.1 that reads a request and then answers garbage, or says
    nothing and keeps the connection open (the client must time out)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.held = []
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def _loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(5)
            try:
                conn.recv(65536)
            except OSError:
                pass
            if self.mode == "garbage":
                try:
                    conn.sendall(b"garbage garbage\r\n\r\n")
                except OSError:
                    pass
                conn.close()
            else:
                self.held.append(conn)

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        for c in self.held:
            c.close()
        self.sock.close()


class TopicRuleCrudTest(harness.ServerTestCase):
    """Every operation through the aws CLI; state checks through boto3."""

    def create(self, name, payload):
        return self.aws_ok("create-topic-rule", "--rule-name", name,
                           "--topic-rule-payload", json.dumps(payload))

    def names(self):
        return [r["ruleName"] for r in self.iot.list_topic_rules()["rules"]]

    def test_crud(self):
        name = "crud_" + unique("r").replace("-", "_")
        arn = DEFAULT_ACCOUNT.arn("rule", name)
        payload = rule_payload("SELECT temp FROM 'sensors/+/temp' WHERE temp > 30",
                               [republish("alerts/${topic(2)}", qos=1)],
                               description="hot sensors",
                               errorAction=http_action("http://127.0.0.1:9/errors"))
        self.assertEqual(self.create(name, payload), {})

        got = self.aws_ok("get-topic-rule", "--rule-name", name)
        self.assertEqual(got["ruleArn"], arn)
        rule = got["rule"]
        self.assertEqual(rule["ruleName"], name)
        self.assertEqual(rule["sql"], payload["sql"])
        self.assertEqual(rule["description"], "hot sensors")
        self.assertEqual(rule["actions"], payload["actions"])
        self.assertEqual(rule["errorAction"], payload["errorAction"])
        self.assertFalse(rule["ruleDisabled"])
        self.assertEqual(rule["awsIotSqlVersion"], "2015-10-08")
        # The CLI prints timestamps as text; boto3 parses the epoch seconds on the wire.
        created = self.iot.get_topic_rule(ruleName=name)["rule"]["createdAt"]
        self.assertLess(abs(created.timestamp() - time.time()), 600)

        listed = self.aws_ok("list-topic-rules")
        item = [r for r in listed["rules"] if r["ruleName"] == name]
        self.assertEqual(len(item), 1, listed)
        self.assertEqual(item[0]["ruleArn"], arn)
        self.assertEqual(item[0]["topicPattern"], "sensors/+/temp")
        self.assertFalse(item[0]["ruleDisabled"])
        matching = self.aws_ok("list-topic-rules", "--topic", "sensors/kitchen/temp")
        self.assertIn(name, [r["ruleName"] for r in matching["rules"]])
        other = self.aws_ok("list-topic-rules", "--topic", "somewhere/else")
        self.assertNotIn(name, [r["ruleName"] for r in other["rules"]])

        self.aws_error("ResourceAlreadyExistsException", "create-topic-rule", "--rule-name", name,
                       "--topic-rule-payload", json.dumps(payload))

        replaced = rule_payload("SELECT * FROM 'other/#'", [republish("copy/${topic()}")],
                                awsIotSqlVersion="2016-03-23")
        self.aws_ok("replace-topic-rule", "--rule-name", name,
                    "--topic-rule-payload", json.dumps(replaced))
        rule = self.iot.get_topic_rule(ruleName=name)["rule"]
        self.assertEqual(rule["sql"], "SELECT * FROM 'other/#'")
        self.assertNotIn("errorAction", rule)
        self.assertNotIn("description", rule)
        self.assertEqual(rule["awsIotSqlVersion"], "2016-03-23")

        self.aws_ok("disable-topic-rule", "--rule-name", name)
        self.assertTrue(self.iot.get_topic_rule(ruleName=name)["rule"]["ruleDisabled"])
        disabled = self.aws_ok("list-topic-rules", "--rule-disabled")
        self.assertIn(name, [r["ruleName"] for r in disabled["rules"]])
        self.aws_ok("enable-topic-rule", "--rule-name", name)
        self.assertFalse(self.iot.get_topic_rule(ruleName=name)["rule"]["ruleDisabled"])

        self.aws_ok("delete-topic-rule", "--rule-name", name)
        self.assertNotIn(name, self.names())
        # AWS answers UnauthorizedException for a rule that does not exist.
        self.aws_error("UnauthorizedException", "get-topic-rule", "--rule-name", name)
        self.aws_error("UnauthorizedException", "delete-topic-rule", "--rule-name", name)
        self.aws_error("UnauthorizedException", "enable-topic-rule", "--rule-name", name)

    def test_invalid_rules_store_nothing(self):
        name = "bad_" + unique("r").replace("-", "_")
        result = self.aws_error("SqlParseException", "create-topic-rule", "--rule-name", name,
                                "--topic-rule-payload",
                                json.dumps(rule_payload("SELECT * FORM 'x'", [republish("y")])))
        self.assertIn("position 10", result.stderr)
        result = self.aws_error(
            "InvalidRequestException", "create-topic-rule", "--rule-name", name,
            "--topic-rule-payload",
            json.dumps(rule_payload("SELECT * FROM 'x'", [
                republish("y"),
                {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:%s:function:f"
                            % harness.ACCOUNT_ID}}])))
        self.assertIn("lambda", result.stderr)
        self.aws_error("InvalidRequestException", "create-topic-rule", "--rule-name", name,
                       "--topic-rule-payload",
                       json.dumps(rule_payload("SELECT * FROM 'x'",
                                               [http_action("https://example.com/hook")])))
        self.aws_error("InvalidRequestException", "create-topic-rule", "--rule-name", name,
                       "--topic-rule-payload",
                       json.dumps(rule_payload("SELECT * FROM 'x'", [republish("y")] * 11)))
        self.aws_error("InvalidRequestException", "create-topic-rule", "--rule-name",
                       "has-dash", "--topic-rule-payload",
                       json.dumps(rule_payload("SELECT * FROM 'x'", [republish("y")])))
        self.assertNotIn(name, self.names())
        self.aws_error("UnauthorizedException", "get-topic-rule", "--rule-name", name)

        # A refused replace keeps the stored rule.
        self.create(name, rule_payload("SELECT * FROM 'x'", [republish("y")]))
        self.aws_error("SqlParseException", "replace-topic-rule", "--rule-name", name,
                       "--topic-rule-payload",
                       json.dumps(rule_payload("SELECT * FROM 'x' WHERE", [republish("y")])))
        self.assertEqual(self.iot.get_topic_rule(ruleName=name)["rule"]["sql"],
                         "SELECT * FROM 'x'")
        self.iot.delete_topic_rule(ruleName=name)

    def test_pagination(self):
        prefix = "page_" + unique("r").replace("-", "_")
        for i in range(3):
            self.iot.create_topic_rule(ruleName="%s_%d" % (prefix, i), topicRulePayload=rule_payload(
                "SELECT * FROM 'p/%d'" % i, [republish("y")]))
        seen, token = [], None
        for _ in range(10):
            kwargs = {"maxResults": 2}
            if token:
                kwargs["nextToken"] = token
            page = self.iot.list_topic_rules(**kwargs)
            self.assertLessEqual(len(page["rules"]), 2)
            seen += [r["ruleName"] for r in page["rules"]]
            token = page.get("nextToken")
            if not token:
                break
        self.assertEqual([n for n in seen if n.startswith(prefix)],
                         ["%s_%d" % (prefix, i) for i in range(3)])


class TopicRuleMqttTest(harness.ServerTestCase):
    """Rules fed by the broker: republish, Basic Ingest, http webhooks, error actions, the
    republish loop bound."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.devdir = os.path.join(cls.server.tmp, "devices")
        os.makedirs(cls.devdir, mode=0o700)
        mu.ensure_policy(cls.iot, "allow-all", ALLOW_ALL)
        cls.device = mu.create_device(cls.iot, cls.devdir, ["allow-all"])

    def sub(self, filters, **kwargs):
        s = mu.MosquittoSub(self.server.mqtt_port, self.server.ca_bundle, self.device, filters,
                            **kwargs)
        self.addCleanup(s.stop)
        return s.wait_subscribed()

    def pub(self, topic, message, client_id=None):
        proc = mu.mosquitto_pub(self.server.mqtt_port, self.server.ca_bundle, self.device, topic,
                                message, qos=1, client_id=client_id)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def create(self, payload):
        name = "r_" + unique("x").replace("-", "_")
        self.iot.create_topic_rule(ruleName=name, topicRulePayload=payload)
        self.addCleanup(self.iot.delete_topic_rule, ruleName=name)
        return name

    def webhook(self, on_post=None):
        w = Webhook(on_post)
        self.addCleanup(w.stop)
        return w

    def test_republish_with_where_and_substitution(self):
        base = unique("s")
        self.create(rule_payload(
            "SELECT temp, topic(2) AS room, clientid() AS client FROM '%s/+/temp' WHERE temp > 30"
            % base, [republish("%s-alerts/${topic(2)}" % base, qos=1)]))
        s = self.sub("%s-alerts/#" % base)
        self.pub("%s/cellar/temp" % base, json.dumps({"temp": 10}))
        self.pub("%s/kitchen/temp" % base, json.dumps({"temp": 35}), client_id="dev-kitchen")
        self.pub("%s/kitchen/humidity" % base, json.dumps({"temp": 99}))
        self.pub("%s/hall/temp" % base, json.dumps({"temp": 31}), client_id="dev-hall")
        messages = s.wait_messages(2, WAIT)
        self.assertEqual([m[0] for m in messages],
                         ["%s-alerts/kitchen" % base, "%s-alerts/hall" % base], s.output())
        self.assertEqual(json.loads(messages[0][1]),
                         {"temp": 35, "room": "kitchen", "client": "dev-kitchen"})
        self.assertEqual(messages[0][2], 1)  # qos 1

    def test_disabled_rule_does_not_fire(self):
        base = unique("d")
        name = self.create(rule_payload("SELECT * FROM '%s/in'" % base,
                                        [republish("%s/out" % base)], ruleDisabled=True))
        s = self.sub("%s/out" % base)
        self.pub("%s/in" % base, "{\"n\": 1}")
        self.iot.enable_topic_rule(ruleName=name)
        self.pub("%s/in" % base, "{\"n\": 2}")
        messages = s.wait_messages(1, WAIT)
        self.assertEqual([json.loads(m[1]) for m in messages], [{"n": 2}], s.output())

    def test_basic_ingest(self):
        base = unique("bi")
        name = self.create(rule_payload("SELECT *, topic() AS t FROM '%s/#'" % base,
                                        [republish("%s-out" % base)]))
        s = self.sub("%s-out" % base)
        self.pub("$aws/rules/%s/%s/dev1" % (name, base), "{\"v\": 1}")
        messages = s.wait_messages(1, WAIT)
        self.assertEqual(json.loads(messages[0][1]), {"v": 1, "t": "%s/dev1" % base})

    def test_lifecycle_events_reach_rules_without_subscribers(self):
        # Nobody subscribes to $aws/events: the broker builds the events for the rule alone.
        base = unique("presence")
        client_id = unique("dev")
        self.create(rule_payload(
            "SELECT clientId, eventType FROM '$aws/events/presence/connected/%s'" % client_id,
            [republish("%s/out" % base)]))
        s = self.sub("%s/out" % base)
        self.pub("%s/hello" % base, "{}", client_id=client_id)
        messages = s.wait_messages(1, WAIT)
        self.assertEqual(json.loads(messages[0][1]),
                         {"clientId": client_id, "eventType": "connected"}, s.output())

    def test_http_webhook(self):
        hook = self.webhook()
        base = unique("h")
        self.create(rule_payload("SELECT *, clientid() AS client FROM '%s/+'" % base,
                                 [http_action(hook.url("/jitr"), {"x-origin": "${topic(2)}"})]))
        self.pub("%s/dev7" % base, json.dumps({"certificateId": "abc"}), client_id="dev7")
        self.assertTrue(hook.wait(lambda reqs: len(reqs) >= 1), "no webhook call")
        path, headers, body = hook.on("/jitr")[0]
        self.assertEqual(json.loads(body), {"certificateId": "abc", "client": "dev7"})
        lower = {k.lower(): v for k, v in headers.items()}
        self.assertEqual(lower["x-origin"], "dev7")
        self.assertEqual(lower["content-type"], "application/json")

    def test_failing_webhooks_run_the_error_action(self):
        hook = self.webhook()
        garbage = RawEndpoint("garbage")
        silent = RawEndpoint("silent")
        self.addCleanup(garbage.stop)
        self.addCleanup(silent.stop)
        base = unique("e")
        s = self.sub("%s-errors/#" % base)
        error_action = republish("%s-errors/${topic(2)}" % base)
        targets = {"status": hook.url("/fail"), "garbage": garbage.url(),
                   "timeout": silent.url()}
        for kind, url in targets.items():
            self.create(rule_payload("SELECT * FROM '%s/%s'" % (base, kind), [http_action(url)],
                                     errorAction=error_action))
        for kind in targets:
            self.pub("%s/%s" % (base, kind), json.dumps({"kind": kind}), client_id="dev-" + kind)
        messages = s.wait_messages(3, WAIT)
        self.assertEqual(len(messages), 3, s.output())
        by_kind = {m[0].rsplit("/", 1)[1]: json.loads(m[1]) for m in messages}
        self.assertEqual(set(by_kind), set(targets))
        for kind, error in by_kind.items():
            self.assertEqual(error["topic"], "%s/%s" % (base, kind))
            self.assertEqual(error["clientId"], "dev-" + kind)
            self.assertTrue(error["ruleName"].startswith("r_"))
            self.assertEqual(json.loads(base64.b64decode(error["base64OriginalPayload"])),
                             {"kind": kind})
            self.assertEqual(len(error["failures"]), 1)
            self.assertEqual(error["failures"][0]["failedAction"], "HttpAction")
            self.assertEqual(error["failures"][0]["failedResource"], targets[kind])
        self.assertIn("500", by_kind["status"]["failures"][0]["errorMessage"])
        self.assertIn("timeout", by_kind["timeout"]["failures"][0]["errorMessage"])
        self.assertIn("invalid or no HTTP response",
                      by_kind["garbage"]["failures"][0]["errorMessage"])
        # Three attempts each before giving up.
        self.assertEqual(len(hook.on("/fail")), 3)
        self.assertEqual(garbage.connections, 3)
        self.assertEqual(silent.connections, 3)

    def metric(self, name):
        return mu.metrics(self.server).get(name, 0.0)

    def test_republish_loop_is_bounded(self):
        base = unique("loop")
        before = self.metric("fleetgate_rules_loop_drops_total")
        self.create(rule_payload("SELECT * FROM '%s/+'" % base, [republish("%s/again" % base)]))
        s = self.sub("%s/again" % base)
        self.pub("%s/start" % base, "{}")
        deadline = time.monotonic() + WAIT
        while self.metric("fleetgate_rules_loop_drops_total") < before + 1:
            self.assertLess(time.monotonic(), deadline, "the loop was never cut")
            time.sleep(0.1)
        # The chain is linear and ended: exactly 8 republishes (depths 1..8) reach subscribers.
        messages = s.wait_messages(8, WAIT)
        self.assertEqual(len(messages), 8, s.output())
        self.assertEqual(self.metric("fleetgate_rules_loop_drops_total"), before + 1)


class TopicRuleRestartTest(harness.ServerTestCase):
    """Rules are loaded from the registry when `serve` starts."""

    def test_rules_survive_a_restart(self):
        mu.ensure_policy(self.iot, "allow-all", ALLOW_ALL)
        devdir = os.path.join(self.server.tmp, "devices")
        os.makedirs(devdir, mode=0o700)
        device = mu.create_device(self.iot, devdir, ["allow-all"])
        self.iot.create_topic_rule(ruleName="persisted", topicRulePayload=rule_payload(
            "SELECT * FROM 'persist/in'", [republish("persist/out")]))
        self.assertEqual(self.server.stop(), 0)
        self.server.start()
        type(self).iot = self.server.client()
        s = mu.MosquittoSub(self.server.mqtt_port, self.server.ca_bundle, device, "persist/out")
        self.addCleanup(s.stop)
        s.wait_subscribed()
        proc = mu.mosquitto_pub(self.server.mqtt_port, self.server.ca_bundle, device,
                                "persist/in", "{\"after\": \"restart\"}", qos=1)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        messages = s.wait_messages(1, WAIT)
        self.assertEqual([json.loads(m[1]) for m in messages], [{"after": "restart"}])


if __name__ == "__main__":
    unittest.main()
