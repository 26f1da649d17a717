#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""segmentio/kafka-go 0.2 (Debian's golang-github-segmentio-kafka-go-dev,
GOPATH mode) consumer groups: kafka.Reader with a GroupID
(tests/clients/go/src/spindle_kafkago_group). kafka-go 0.2 sends
FindCoordinator v0, JoinGroup v1, SyncGroup, Heartbeat and LeaveGroup v0,
OffsetCommit v2 and OffsetFetch v1, and fetches with Fetch v2 (message
format v1).

Two readers of one group read 2,000 keyed messages of a 6-partition topic,
committing each (CommitMessages, synchronous) before the next: each read
exactly once, key and value checked; a third of the way through one closes
and the other takes its partitions over from its commits. kafka-go 0.2's
Reader.Close never sends its LeaveGroup (it dials the coordinator with the
context it has just cancelled), so the closed reader leaves when its
session times out: the readers' session timeout is 2 s here, and the
broker's group.min.session.timeout.ms 1000 to allow it. Then
a new reader reads half of 400 more and stops, a restarted one reads the
rest from its commits, and a last reader of the group finds nothing left."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients_go  # noqa: E402
from clients_kafka import Fail, run  # noqa: E402

clients_go.need("spindle_kafkago_group")

PARTITIONS = 6
N, N2 = 2000, 400
DELAY_MS = 100


def body(b):
    exe = clients_go.build("spindle_kafkago_group")
    t0 = time.monotonic()
    rc, s, out = clients_go.run_json(exe, [
        "-broker", b.bootstrap, "-topic", "kgg", "-group", "kgg-group", "-partitions", str(PARTITIONS),
        "-n", str(N), "-n2", str(N2), "-timeout", "20s"], timeout=100)
    took = time.monotonic() - t0
    if rc != 0 or not s or s["errors"] or s["consumed"] != N:
        raise Fail("kafka-go group run: exit %s: %s" % (rc, s if s else out[-3000:]))
    return ("%d messages over two readers (the leaver read %d, %d of its partitions' messages read by "
            "the other), then %s across a restart; join %d ms, group phase %d ms, %.1f s in all"
            % (s["consumed"], s["leaver_read"], s["taken_over"], s["restart_split"], s["join_ms"],
               s["group_ms"], took))


run(body, extra=["--set", "group.initial.rebalance.delay.ms=%d" % DELAY_MS,
                 "--set", "group.min.session.timeout.ms=1000",
                 "--set", "offsets.topic.num.partitions=4"], name="kafka-go groups")
