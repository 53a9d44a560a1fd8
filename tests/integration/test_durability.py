"""Acknowledged writes survive a crash: `kill -9` of `fleetgate serve` under a writer load, then a
restart on the same data directory."""

import threading
import time
import unittest

import botocore.exceptions

import harness

WRITERS = 6
KILL_AFTER_ACKNOWLEDGED = 150  # the kill comes once this many creates have returned 200
MAX_PER_WRITER = 5000          # bound on the loop; never reached before the kill
LOAD_DEADLINE = 40             # seconds to reach KILL_AFTER_ACKNOWLEDGED


class DurabilityTest(unittest.TestCase):
    def test_acknowledged_things_survive_kill_9(self):
        server = harness.Server(issued_key_type="ec")
        self.addCleanup(server.cleanup)
        server.start()
        clients = [server.client(connect_timeout=5, read_timeout=20) for _ in range(WRITERS)]

        lock = threading.Lock()
        acknowledged = {}    # name -> attributes, create returned 200
        attempted = {}       # name -> attributes, create sent (maybe not acknowledged)
        errors_before_kill = []
        killed = threading.Event()
        finished_early = []

        def writer(i):
            for n in range(MAX_PER_WRITER):
                if killed.is_set():
                    return
                name = "durable-%d-%05d" % (i, n)
                attributes = {"writer": str(i), "n": str(n)}
                with lock:
                    attempted[name] = attributes
                try:
                    clients[i].create_thing(thingName=name,
                                            attributePayload={"attributes": attributes})
                except Exception as e:  # noqa: BLE001 - expected only once the server is gone
                    if killed.is_set():
                        return
                    errors_before_kill.append((name, repr(e)))
                    return
                with lock:
                    acknowledged[name] = attributes
            finished_early.append(i)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + LOAD_DEADLINE
        while time.monotonic() < deadline:
            with lock:
                count = len(acknowledged)
            if count >= KILL_AFTER_ACKNOWLEDGED or errors_before_kill:
                break
            time.sleep(0.02)
        # Crash the server while the writers are still sending.
        killed.set()
        rc = server.kill()
        for t in threads:
            t.join(timeout=60)
            self.assertFalse(t.is_alive(), "a writer did not notice the crash")

        self.assertEqual(errors_before_kill, [])
        self.assertEqual(rc, -9, "the server was not killed by SIGKILL (exit %r)" % rc)
        self.assertEqual(finished_early, [], "the load ended before the kill")
        self.assertGreaterEqual(len(acknowledged), KILL_AFTER_ACKNOWLEDGED,
                                "the load never reached %d acknowledged creates" %
                                KILL_AFTER_ACKNOWLEDGED)

        # Restart on the same data directory.
        server.start()
        iot = server.client()
        listed = [t["thingName"] for t in harness_paginate(iot)]
        self.assertEqual(len(listed), len(set(listed)), "list-things returned a thing twice")
        missing = sorted(set(acknowledged) - set(listed))
        self.assertEqual(missing, [], "acknowledged things lost in the crash")
        self.assertTrue(set(listed) <= set(attempted), "things nobody created appeared")
        for name, attributes in sorted(acknowledged.items()):
            d = iot.describe_thing(thingName=name)
            self.assertEqual((d["attributes"], d["version"]), (attributes, 1), name)

        # Every create that was in flight either committed whole or not at all: repeating it
        # with the same configuration is accepted (idempotent) and leaves one thing.
        in_flight = sorted(set(attempted) - set(acknowledged))
        for name in in_flight:
            try:
                iot.create_thing(thingName=name,
                                 attributePayload={"attributes": attempted[name]})
            except botocore.exceptions.ClientError as e:
                self.fail("in-flight create of %s left a partial thing: %r" % (name, e.response))
        listed = [t["thingName"] for t in harness_paginate(iot)]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertEqual(set(listed), set(acknowledged) | set(in_flight))

        rc = server.stop()
        self.assertEqual(rc, 0, server.log_tail())


def harness_paginate(iot):
    things = []
    for page in iot.get_paginator("list_things").paginate(PaginationConfig={"PageSize": 250}):
        things.extend(page["things"])
    return things


if __name__ == "__main__":
    unittest.main()
