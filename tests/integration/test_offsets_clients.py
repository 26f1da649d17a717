#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Committed offsets through confluent-kafka-python (librdkafka): a
consumer with a manual assignment reads part of each partition, commits
synchronously (OffsetCommit with generation -1, no membership) and reads
its commit back with committed(); the broker is killed (kill -9) and
restarted on the same port; a new consumer with the same group.id and the
same manual assignment resumes exactly at the committed offsets: the rest
of each partition, once, nothing before it."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import create_topic, expect, need_confluent, run  # noqa: E402
from harness import restart_same_port  # noqa: E402

need_confluent()
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

TOPIC = "oc-resume"
GROUP = "oc-resume-group"
PARTS = 3
PER_PART = 100
FIRST = 40  # what the first consumer reads and commits per partition


def consumer(b, **extra):
    conf = {"bootstrap.servers": b.bootstrap, "group.id": GROUP, "enable.auto.commit": False,
            "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": False}
    conf.update(extra)
    return Consumer(conf)


def read(c, want, deadline_s=60):
    """{partition: [offsets]} until each partition p has want[p] messages."""
    got = {p: [] for p in want}
    deadline = time.time() + deadline_s
    while any(len(got[p]) < want[p] for p in want):
        expect(time.time() < deadline, "reading stalled at %s" % {p: len(v) for p, v in got.items()})
        for m in c.consume(num_messages=500, timeout=0.5):
            err = m.error()
            if err is not None:
                expect(err.code() == KafkaError._PARTITION_EOF, "consumer error: %s" % err)
                continue
            p = m.partition()
            if len(got[p]) < want[p]:
                got[p].append(m.offset())
                expect(m.value() == b"p%d-m%d" % (p, m.offset()),
                       "message %s at %d: %r" % (p, m.offset(), m.value()))
    return got


def committed(c, timeout=20):
    """{partition: committed offset}, retried while the coordinator is loading."""
    deadline = time.time() + timeout
    while True:
        try:
            res = c.committed([TopicPartition(TOPIC, p) for p in range(PARTS)], timeout=10)
            return {tp.partition: tp.offset for tp in res}
        except Exception:  # noqa: BLE001 - the coordinator may still be coming up
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def body(b):
    create_topic(b.bootstrap, TOPIC, PARTS)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
    for part in range(PARTS):
        for i in range(PER_PART):
            p.produce(TOPIC, value=b"p%d-m%d" % (part, i), partition=part)
    expect(p.flush(60) == 0, "produce: messages left undelivered")

    c = consumer(b)
    c.assign([TopicPartition(TOPIC, part) for part in range(PARTS)])
    got = read(c, {part: FIRST for part in range(PARTS)})
    expect(all(got[part] == list(range(FIRST)) for part in range(PARTS)),
           "first consumer read 0..%d of each partition: %s"
           % (FIRST - 1, {k: (v[0], v[-1], len(v)) for k, v in got.items()}))
    res = c.commit(offsets=[TopicPartition(TOPIC, part, FIRST) for part in range(PARTS)],
                   asynchronous=False)
    expect(res is not None and all(tp.error is None for tp in res),
           "synchronous commit: %s" % [(tp.partition, tp.error) for tp in res or []])
    seen = committed(c)
    expect(seen == {part: FIRST for part in range(PARTS)}, "committed() after commit: %s" % seen)
    c.close()

    restart_same_port(b, signal.SIGKILL)

    c = consumer(b)
    seen = committed(c)
    expect(seen == {part: FIRST for part in range(PARTS)},
           "committed() after the kill -9 restart: %s" % seen)
    c.assign([TopicPartition(TOPIC, part) for part in range(PARTS)])
    got = read(c, {part: PER_PART - FIRST for part in range(PARTS)})
    expect(all(got[part] == list(range(FIRST, PER_PART)) for part in range(PARTS)),
           "the new consumer resumed at the committed offsets: %s"
           % {k: (v[0], v[-1], len(v)) for k, v in got.items()})
    # Nothing more arrives: no message before the commit is read again.
    extra = [m for m in c.consume(num_messages=100, timeout=1.0) if m.error() is None]
    expect(not extra, "no further messages: %s" % [(m.partition(), m.offset()) for m in extra])
    res = c.commit(offsets=[TopicPartition(TOPIC, part, PER_PART) for part in range(PARTS)],
                   asynchronous=False)
    expect(all(tp.error is None for tp in res), "second commit after the restart")
    seen = committed(c)
    c.close()
    expect(seen == {part: PER_PART for part in range(PARTS)}, "committed() at the end: %s" % seen)
    return "resumed at %d of %d on %d partitions after kill -9" % (FIRST, PER_PART, PARTS)


run(body, extra=["--set", "offsets.topic.num.partitions=6",
                 "--set", "group.initial.rebalance.delay.ms=50"], name="offsets with confluent-kafka")
