#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""Sarama 1.22 (Debian's golang-github-shopify-sarama-dev, built in GOPATH
mode) at five config.Version settings, each as Sarama speaks it:

  2.1.0   CreateTopics v2, Metadata v5, Produce v3 and Fetch v4 with v2
          record batches, ListOffsets v1;
  1.0.0   the same requests, with a gzip run;
  0.10.0  no CreateTopics (Sarama wants 0.10.1 for it): the producer's
          Metadata v1 auto-creates the topic; Produce v2 with message format
          v1 (magic 1, timestamps; gzip, snappy and lz4 as one compressed
          wrapper message per partition with relative inner offsets),
          Fetch v2 answered in message format v1, ListOffsets v0;
  0.9.0, 0.8.2  beyond the issue's list, as cheap: Produce v1/v0 and
          Fetch v1/v0 with message format v0 (magic 0, no timestamps).

Each run (tests/clients/go/src/spindle_sarama) sends 500 keyed messages with
a SyncProducer into its own 3-partition topic and reads every partition back
with a partition consumer from the oldest offset, no group: each message at
the offset its delivery gave, key, value and timestamp exact, on the
partition Sarama's hash partitioner picks, nothing more; the high water
marks and ListOffsets' oldest and newest agree."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients_go  # noqa: E402
from clients_kafka import Fail, run  # noqa: E402

clients_go.need("spindle_sarama")

PARTITIONS = 3
CASES = [  # (version, compression, create the topic with CreateTopics)
    ("2.1.0", "none", True),
    ("1.0.0", "none", True),
    ("1.0.0", "gzip", True),
    ("0.10.0.0", "none", False),
    ("0.10.0.0", "gzip", False),
    ("0.10.0.0", "snappy", False),
    ("0.10.0.0", "lz4", False),
    ("0.9.0.0", "none", False),
    ("0.9.0.0", "snappy", False),
    ("0.8.2.0", "gzip", False),
]


def body(b):
    exe = clients_go.build("spindle_sarama")
    passed, failed = [], []
    for version, codec, create in CASES:
        topic = "sarama-%s-%s" % (version.replace(".", "_"), codec)
        case = "Sarama Version %s %s" % (version, codec)
        t0 = time.monotonic()
        rc, summary, out = clients_go.run_json(exe, [
            "-brokers", b.bootstrap, "-version", version, "-topic", topic, "-compression", codec,
            "-partitions", str(PARTITIONS), "-create=%s" % ("true" if create else "false"),
            "-n", "500", "-timeout", "20s"], timeout=45)
        took = time.monotonic() - t0
        if rc == 0 and summary and not summary["errors"] and summary["consumed"] == 500:
            passed.append("%s: %s (%.1f s)" % (case, summary["per_partition"], took))
        else:
            why = summary["errors"] if summary else out[-2000:]
            if os.environ.get("SARAMA_DEBUG"):
                print(out[-8000:])
            failed.append("%s: exit %s: %s" % (case, rc, why))
            print("FAIL:", failed[-1], flush=True)
    for p in passed:
        print("ok:", p)
    if failed:
        raise Fail("%d of %d Sarama runs failed:\n  %s" % (len(failed), len(CASES), "\n  ".join(failed)))
    return "%d Sarama runs" % len(CASES)


run(body, extra=["--set", "num.partitions=%d" % PARTITIONS], name="sarama")
