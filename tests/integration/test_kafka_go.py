#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""segmentio/kafka-go 0.2 (Debian's golang-github-segmentio-kafka-go-dev,
built in GOPATH mode), which knows message format v1 only and never sends
ApiVersions: Metadata v1, CreateTopics v0, Produce v2 (magic 1, plain or one
gzip/snappy/lz4 wrapper message per partition), Fetch v2 answered in message
format v1, ListOffsets v1.

Each run (tests/clients/go/src/spindle_kafkago) makes a 3-partition topic
(CreateTopics, or auto-created by its Metadata request), writes 400 keyed
messages with a kafka.Writer and the Hash balancer, reads every partition
back with a kafka.Reader without a GroupID (key, value, timestamp, offset
and order exact, nothing more), then over a bare kafka.Conn: ReadOffsets,
one more compressed write of 20 and a ReadBatch of them."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients_go  # noqa: E402
from clients_kafka import Fail, run  # noqa: E402

clients_go.need("spindle_kafkago")

PARTITIONS = 3
N = 400
CASES = [  # (compression, create the topic with CreateTopics)
    ("none", True),
    ("none", False),
    ("gzip", True),
    ("snappy", False),
    ("lz4", True),
]


def body(b):
    exe = clients_go.build("spindle_kafkago")
    passed, failed = [], []
    for codec, create in CASES:
        topic = "kafka-go-%s-%s" % (codec, "created" if create else "auto")
        case = "kafka-go %s %s" % (codec, "CreateTopics" if create else "auto-created")
        t0 = time.monotonic()
        rc, summary, out = clients_go.run_json(exe, [
            "-broker", b.bootstrap, "-topic", topic, "-compression", codec,
            "-partitions", str(PARTITIONS), "-create=%s" % ("true" if create else "false"),
            "-n", str(N), "-timeout", "20s"], timeout=45)
        took = time.monotonic() - t0
        if rc == 0 and summary and not summary["errors"] and summary["consumed"] == N \
                and summary["conn_batch"] == 20:
            passed.append("%s: %s (%.1f s)" % (case, summary["per_partition"], took))
        else:
            why = summary["errors"] if summary else out[-2000:]
            failed.append("%s: exit %s: %s" % (case, rc, why))
            print("FAIL:", failed[-1], flush=True)
    for p in passed:
        print("ok:", p)
    if failed:
        raise Fail("%d of %d kafka-go runs failed:\n  %s" % (len(failed), len(CASES), "\n  ".join(failed)))
    return "%d kafka-go runs" % len(CASES)


run(body, extra=["--set", "num.partitions=%d" % PARTITIONS], name="kafka-go")
