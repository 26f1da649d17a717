#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""confluent-kafka-python's AdminClient.list_topics() against a real broker."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker  # noqa: E402

exe, smp = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "2")
try:
    from confluent_kafka.admin import AdminClient
except ImportError:
    print("SKIP: confluent-kafka-python is not installed (apt install python3-confluent-kafka)")
    sys.exit(77)

with Broker(exe, extra=["--smp", smp]) as b:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    md = admin.list_topics(timeout=10)
    missing = admin.list_topics(topic="not-there", timeout=10)
    rc = b.stop()
    brokers = {k: (v.host, v.port) for k, v in md.brokers.items()}
    t = missing.topics.get("not-there")
    ok = (brokers == {1: (b.host, b.port)} and md.controller_id == 1 and md.topics == {}
          and t is not None and t.error is not None and t.error.code() == 3 and rc == 0)
    if not ok:
        print("FAIL: brokers %s controller %s topics %s missing %s exit %s\n%s"
              % (brokers, md.controller_id, md.topics, t and t.error, rc, b.log_text()))
        sys.exit(1)
    print("ok: cluster %s brokers %s" % (md.cluster_id, brokers))
