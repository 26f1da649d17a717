#!/usr/bin/env python3
# spindle-test: runner=python variants=once
"""__consumer_offsets asked for by name through Metadata is created the
way the groups create it, never as an ordinary auto-created topic: the
first answer is LEADER_NOT_AVAILABLE, then it is listed as internal with
offsets.topic.num.partitions partitions (not num.partitions)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, guard  # noqa: E402
from kwire import connect, metadata_request, parse_metadata, read_frame  # noqa: E402

exe, smp = args("2")
E_LEADER_NOT_AVAILABLE = 5
NAME = "__consumer_offsets"


def ask(b, corr):
    with connect(b, timeout=10) as s:
        s.sendall(metadata_request(corr, 9, [NAME]))
        return parse_metadata(read_frame(s), 9)[1][0]


def body(b):
    first = ask(b, 1)
    check(first["error"] == E_LEADER_NOT_AVAILABLE and not first["partitions"],
          "first Metadata for %s: LEADER_NOT_AVAILABLE (got %d)" % (NAME, first["error"]))
    deadline = time.monotonic() + 15
    t = first
    while t["error"] != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        t = ask(b, 2)
    check(t["error"] == 0 and t["internal"] == 1 and len(t["partitions"]) == 7,
          "then it exists, internal, with offsets.topic.num.partitions=7 partitions "
          "(error %d, internal %d, %d partitions)" % (t["error"], t["internal"],
                                                       len(t["partitions"])))


with Broker(exe, extra=["--smp", smp, "--set", "offsets.topic.num.partitions=7",
                        "--set", "num.partitions=3"]) as b:
    guard("internal topic", body, b)
    finish(b.log_text())
