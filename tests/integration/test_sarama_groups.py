#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""Sarama 1.22 (Debian's golang-github-shopify-sarama-dev, GOPATH mode)
consumer groups: sarama.NewConsumerGroup with a ConsumerGroupHandler that
marks each message as it reads it (tests/clients/go/src/spindle_sarama_group).

Sarama 1.22 sends FindCoordinator v0, JoinGroup v1, SyncGroup, Heartbeat
and LeaveGroup v0, OffsetFetch v1 and OffsetCommit v1 (generation, member
id, a per-partition timestamp of -1) or, with Consumer.Offsets.Retention
set, v2. Each run:

  - two members of one group read 3,000 keyed messages of a 6-partition
    topic exactly once between them, key and value checked; a third of the
    way through the first one leaves (its session's marks committed, then
    LeaveGroup) and the other takes its partitions over from those commits
    (the messages are sent once both members hold claims of one generation);
  - a new member reads half of 600 more and stops; a restarted one resumes
    from its commits: each read once, none of the earlier ones again;
  - OffsetFetch gives the log ends and the committing member's metadata;
  - no error reaches the group's Errors() channel.

Versions: 0.10.2.0 (the oldest Sarama runs groups at; Fetch v3 answered in
message format v1) and 2.1.0, each with OffsetCommit v1 and v2."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients_go  # noqa: E402
from clients_kafka import Fail, run  # noqa: E402

clients_go.need("spindle_sarama_group")

PARTITIONS = 6
N, N2 = 3000, 600
DELAY_MS = 100
CASES = [  # (version, Consumer.Offsets.Retention: "0" -> OffsetCommit v1, else v2)
    ("0.10.2.0", "0"),
    ("0.10.2.0", "1h"),
    ("2.1.0", "0"),
    ("2.1.0", "24h"),
]


def body(b):
    exe = clients_go.build("spindle_sarama_group")
    passed, failed = [], []
    for version, retention in CASES:
        tag = "%s-%s" % (version.replace(".", "_"), retention)
        case = "Sarama %s OffsetCommit %s" % (version, "v1" if retention == "0" else "v2")
        t0 = time.monotonic()
        rc, summary, out = clients_go.run_json(exe, [
            "-brokers", b.bootstrap, "-version", version, "-topic", "sg-" + tag, "-group", "sg-group-" + tag,
            "-partitions", str(PARTITIONS), "-n", str(N), "-n2", str(N2), "-retention", retention,
            "-timeout", "20s"], timeout=55)
        took = time.monotonic() - t0
        if rc == 0 and summary and not summary["errors"] and summary["consumed"] == N:
            passed.append("%s: %d (the leaver read %d, %d of its partitions' messages read by the "
                          "other), then %s across a restart; both joined in %d ms; group phase %d ms "
                          "(%.1f s in all)"
                          % (case, summary["consumed"], summary["leaver_read"], summary["taken_over"],
                             summary["restart_split"], summary["join_ms"], summary["group_ms"],
                             took))
        else:
            why = (summary["errors"], summary["generations"]) if summary else out[-3000:]
            failed.append("%s: exit %s: %s" % (case, rc, why))
            print("FAIL:", failed[-1], flush=True)
    for p in passed:
        print("ok:", p)
    if failed:
        raise Fail("%d of %d Sarama group runs failed:\n  %s"
                   % (len(failed), len(CASES), "\n  ".join(failed)))
    return "%d Sarama group runs" % len(CASES)


run(body, extra=["--set", "group.initial.rebalance.delay.ms=%d" % DELAY_MS,
                 "--set", "offsets.topic.num.partitions=4"], name="sarama groups")
