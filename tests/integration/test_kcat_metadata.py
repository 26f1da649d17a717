#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""kcat -L against a real broker: this broker's id, host and port, and a
requested missing topic with its error (auto-creation off: kcat's metadata
requests allow it, as a producer's do)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import need_kcat  # noqa: E402
from harness import Broker, args  # noqa: E402

exe, smp = args()
need_kcat()

with Broker(exe, extra=["--smp", smp, "--set", "auto.create.topics.enable=false"]) as b:
    out = subprocess.run(["kcat", "-b", b.bootstrap, "-L", "-J", "-t", "missing-topic"],
                         capture_output=True, text=True, timeout=30)
    rc = b.stop()
    md = json.loads(out.stdout)
    brokers = md["brokers"]
    topics = {t["topic"]: t for t in md["topics"]}
    ok = (brokers == [{"id": 1, "name": b.bootstrap}] and md["controllerid"] == 1
          and "missing-topic" in topics and "Unknown topic" in topics["missing-topic"]["error"]
          and rc == 0)
    if not ok:
        print("FAIL: kcat saw %s (exit %s)\n%s\n%s" % (out.stdout, rc, out.stderr, b.log_text()))
        sys.exit(1)
    print("ok:", out.stdout.strip())
