#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Topics survive restarts: names, partition counts, configs and topic ids
after a clean stop (SIGTERM) and after kill -9; a deleted topic stays
deleted with its data gone; producer ids are never handed out twice; and a
restart with another shard count places the same partitions again."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, failures, finish, guard  # noqa: E402
from kwire import (ask_once, create_partitions_request, create_topics_request,  # noqa: E402
                   delete_topics_request, init_producer_id_request, metadata_request,
                   parse_create_partitions, parse_create_topics, parse_delete_topics,
                   parse_init_producer_id, parse_metadata)

exe, smp = args("2")
other_smp = "3" if smp == "1" else "1"
E_TOO_LARGE = 10


def init_producer_id(b):
    """A producer id from InitProducerId v0 (no transactional id)."""
    err, pid, _ = ask_once(b, init_producer_id_request, parse_init_producer_id, 0, timeout_ms=30000)
    return pid if err == 0 else -err


def topics_of(b):
    _, ts = ask_once(b, metadata_request, parse_metadata, 12, None)
    return {t["name"]: (len(t["partitions"]), t["id"],
                        sorted(p["epoch"] for p in t["partitions"])) for t in ts}


def produce_code(b, topic, size):
    """The delivery error code of one message of `size` bytes (0 when stored)."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": b.bootstrap, "message.max.bytes": 1000000,
                  "retries": 0, "linger.ms": 0})
    out = []
    p.produce(topic, b"x" * size, partition=0,
              on_delivery=lambda err, msg: out.append(err.code() if err else 0))
    p.flush(30)
    return out[0] if out else None


def dirs(b, topic):
    return sorted(d for d in os.listdir(b.data_dir) if d.startswith(topic + "-"))


def wait_no_dirs(b, topic, timeout=10.0):
    deadline = time.time() + timeout
    while dirs(b, topic) and time.time() < deadline:
        time.sleep(0.05)
    return dirs(b, topic) == []


def body(b):
    res = ask_once(b, create_topics_request, parse_create_topics, 7, [
        {"name": "keep", "parts": 4, "configs": [("max.message.bytes", "2000"),
                                                  ("retention.ms", "7777")]},
        {"name": "gone", "parts": 2},
        {"name": "grow", "parts": 1}])
    check([t["error"] for t in res] == [0, 0, 0], "three topics created")
    res = ask_once(b, create_partitions_request, parse_create_partitions, 3, [("grow", 3, None)])
    check(res[0][1] == 0, "grow grown to 3 partitions")
    res = ask_once(b, delete_topics_request, parse_delete_topics, 6, [("gone", None)])
    check(res[0]["error"] == 0, "gone deleted")
    before = topics_of(b)
    check(sorted(before) == ["grow", "keep"] and before["keep"][0] == 4 and before["grow"][0] == 3,
          "before the restart: %s" % {k: v[0] for k, v in before.items()})
    check(produce_code(b, "keep", 5000) == E_TOO_LARGE and produce_code(b, "grow", 5000) == 0,
          "keep's max.message.bytes=2000 refuses 5000 bytes, grow takes them")
    pid1 = init_producer_id(b)
    check(pid1 >= 0, "a producer id: %d" % pid1)

    # A clean restart.
    rc = b.stop()
    check(rc == 0, "clean stop exits 0 (%s)" % rc)
    b.start()
    after = topics_of(b)
    check(after == before, "after SIGTERM: same topics, partition counts, ids, leader epochs")
    check(dirs(b, "gone") == [], "gone's data stays gone")
    check(produce_code(b, "keep", 5000) == E_TOO_LARGE, "keep's config survived the restart")
    pid2 = init_producer_id(b)
    check(pid2 > pid1, "producer ids never repeat across a restart (%d then %d)" % (pid1, pid2))

    # kill -9 right after the changes are answered.
    res = ask_once(b, create_topics_request, parse_create_topics, 7, [{"name": "late", "parts": 2}])
    late_id = res[0]["id"]
    check(res[0]["error"] == 0, "late created")
    res = ask_once(b, delete_topics_request, parse_delete_topics, 6, [("grow", None)])
    check(res[0]["error"] == 0, "grow deleted")
    pid3 = init_producer_id(b)
    b.kill()
    b.start()
    after = topics_of(b)
    check(sorted(after) == ["keep", "late"] and after["late"][:2] == (2, late_id) and
          after["keep"] == before["keep"], "after kill -9: late there with its id, grow gone")
    check(wait_no_dirs(b, "grow"), "grow's data is removed after the crash restart")
    leftovers = [d for d in os.listdir(b.data_dir) if d.endswith("-delete")]
    deadline = time.time() + 10
    while leftovers and time.time() < deadline:
        time.sleep(0.05)
        leftovers = [d for d in os.listdir(b.data_dir) if d.endswith("-delete")]
    check(leftovers == [], "no *-delete directory is left: %s" % leftovers)
    pid4 = init_producer_id(b)
    check(pid4 > pid3 > pid2, "producer ids keep growing after kill -9 (%d, %d)" % (pid3, pid4))

    # Another shard count: the same topics, every partition served.
    rc = b.stop()
    check(rc == 0, "clean stop exits 0 (%s)" % rc)
    b.extra = ["--smp", other_smp, "--set", "auto.create.topics.enable=false"]
    b.start()
    check(topics_of(b) == after, "restart with --smp %s: same topics" % other_smp)
    check(produce_code(b, "late", 10) == 0 and produce_code(b, "keep", 5000) == E_TOO_LARGE,
          "partitions served after re-placement")


def main():
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        print("SKIP: confluent-kafka-python is not installed")
        sys.exit(77)
    b = Broker(exe, extra=["--smp", smp, "--set", "auto.create.topics.enable=false"])
    try:
        b.start()
        guard("body", body, b)
        rc = b.stop()
        check(rc == 0, "broker exits 0 on SIGTERM (%s)" % rc)
        if failures:
            print(b.log_text())
    finally:
        b.close()
    finish()


main()
