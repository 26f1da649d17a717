#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Error paths as Kafka clients see them, with auto-creation off:
- a missing topic is UNKNOWN_TOPIC_OR_PARTITION (metadata and producer);
- an invalid topic name is INVALID_TOPIC_EXCEPTION;
- a message over the topic's max.message.bytes, or the broker's
  message.max.bytes, fails with MSG_SIZE_TOO_LARGE and nothing of it lands;
- a fetch past the end is OFFSET_OUT_OF_RANGE, and auto.offset.reset then
  does its job: error surfaces it, earliest rereads, latest waits for new;
- a 2 MiB message round-trips once the topic and producer allow it, read by
  a consumer with raised fetch limits and by one with the defaults;
- acks=0 to a partition that does not exist: the client reports it without
  hanging, a raw request gets no answer and its connection is closed, and
  the broker goes on serving."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import (Deadline, consumer_conf, create_topic, expect, need_confluent,  # noqa: E402
                           produce_v3, read_partitions, record_batch, run, watermarks)

need_confluent()
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

T = 30


def deliver(b, topic, msgs, **conf):
    """Produces msgs [(value, partition)] and flushes; returns the delivery
    errors (None for success) in order."""
    base = {"bootstrap.servers": b.bootstrap, "acks": "all", "compression.type": "none",
            "message.timeout.ms": 15000, "topic.metadata.propagation.max.ms": 1000}
    base.update(conf)
    p = Producer(base)
    out = [None] * len(msgs)
    done = [False] * len(msgs)

    def report(i, err, m):
        out[i] = err
        done[i] = True

    for i, (value, part) in enumerate(msgs):
        kw = {} if part is None else {"partition": part}
        p.produce(topic, value=value, on_delivery=lambda err, m, i=i: report(i, err, m), **kw)
    left = p.flush(60)
    expect(left == 0 and all(done), "%s: %d messages still queued after flush" % (topic, left))
    return out


def code(err):
    return None if err is None else err.code()


def unknown_and_invalid(b):
    # The client would let the broker create it; the broker must refuse.
    admin = AdminClient({"bootstrap.servers": b.bootstrap, "allow.auto.create.topics": True})
    t = admin.list_topics(topic="no-such-topic", timeout=T).topics.get("no-such-topic")
    expect(t is not None and t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART,
           "metadata for a missing topic: %s" % (t and t.error))
    errs = deliver(b, "no-such-topic", [(b"lost", None)])
    expect(code(errs[0]) in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC),
           "produce to a missing topic: %s" % errs[0])
    md = admin.list_topics(timeout=T)
    expect("no-such-topic" not in md.topics, "the missing topic was created: %s" % sorted(md.topics))

    for name in ("bad/name", "spaces are bad", "x" * 250):
        t = admin.list_topics(topic=name, timeout=T).topics.get(name)
        expect(t is not None and t.error is not None and t.error.code() == KafkaError.TOPIC_EXCEPTION,
               "metadata for invalid name %r: %s" % (name[:30], t and t.error))


def too_large(b):
    create_topic(b.bootstrap, "small", 1, config={"max.message.bytes": "10000"})
    big = os.urandom(20000)
    errs = [deliver(b, "small", [(b"first", 0)])[0],
            deliver(b, "small", [(big, 0)])[0],
            deliver(b, "small", [(b"second", 0)])[0]]
    expect(code(errs[0]) is None and code(errs[2]) is None, "small messages refused: %s" % errs)
    expect(code(errs[1]) == KafkaError.MSG_SIZE_TOO_LARGE,
           "20000 bytes into max.message.bytes=10000: %s" % errs[1])
    got = read_partitions(b.bootstrap, "small", {0: 2})
    expect([m.value() for m in got[0]] == [b"first", b"second"],
           "small holds %r" % [m.value()[:20] for m in got[0]])
    expect(watermarks(b.bootstrap, "small", [0]) == {0: (0, 2)}, "small watermarks")

    # The broker's own message.max.bytes (default 1048588) for a topic
    # without its own limit; the producer would send up to 2 MB.
    create_topic(b.bootstrap, "default-limit", 1)
    err = deliver(b, "default-limit", [(os.urandom(1_500_000), 0)], **{"message.max.bytes": 2_000_000})[0]
    expect(code(err) == KafkaError.MSG_SIZE_TOO_LARGE, "1.5 MB under the broker default: %s" % err)
    expect(watermarks(b.bootstrap, "default-limit", [0]) == {0: (0, 0)}, "default-limit got data")


def out_of_range(b):
    create_topic(b.bootstrap, "range", 1)
    errs = deliver(b, "range", [(b"m%d" % i, 0) for i in range(10)])
    expect(errs == [None] * 10, "produce to range: %s" % errs)
    tp = TopicPartition("range", 0, 50)

    # auto.offset.reset=error: the broker's OFFSET_OUT_OF_RANGE surfaces.
    c = Consumer(consumer_conf(b.bootstrap, **{"auto.offset.reset": "error"}))
    try:
        c.assign([tp])
        seen = None
        for _ in range(100):
            m = c.poll(0.2)
            if m is not None and m.error() is not None and m.error().code() != KafkaError._PARTITION_EOF:
                seen = m.error()
                break
            expect(m is None or m.error() is not None, "reset=error delivered offset %s" % (m and m.offset()))
        expect(seen is not None and seen.code() == KafkaError._AUTO_OFFSET_RESET
               and "out of range" in seen.str().lower(),
               "fetch at 50 of 10 with reset=error: %s" % seen)
    finally:
        c.close()

    # earliest: everything from offset 0.
    got = read_partitions(b.bootstrap, "range", {0: 10}, start=50, conf={"auto.offset.reset": "earliest"})
    expect([(m.offset(), m.value()) for m in got[0]] == [(i, b"m%d" % i) for i in range(10)],
           "reset=earliest read %s" % [(m.offset(), m.value()) for m in got[0]])

    # latest: positioned at the end (EOF at 10), then only what comes next.
    c = Consumer(consumer_conf(b.bootstrap, **{"auto.offset.reset": "latest"}))
    try:
        c.assign([tp])
        eof = None
        for _ in range(100):
            m = c.poll(0.2)
            if m is None:
                continue
            expect(m.error() is not None, "reset=latest delivered old offset %d" % m.offset())
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof = m.offset()
                break
            expect(False, "reset=latest: %s" % m.error())
        expect(eof == 10, "reset=latest reached EOF at %s, want 10" % eof)
        errs = deliver(b, "range", [(b"n%d" % i, 0) for i in range(3)])
        expect(errs == [None] * 3, "produce after reset: %s" % errs)
        got = []
        for _ in range(100):
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append((m.offset(), m.value()))
                if len(got) == 3:
                    break
            elif m is not None and m.error().code() != KafkaError._PARTITION_EOF:
                expect(False, "reset=latest, reading: %s" % m.error())
        expect(got == [(10 + i, b"n%d" % i) for i in range(3)], "reset=latest read %s" % got)
    finally:
        c.close()

    # kafka-python sees the same: out of range, reset to earliest.
    try:
        from kafka import KafkaConsumer, TopicPartition as KTP
    except ImportError:
        return
    kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                       auto_offset_reset="earliest")
    try:
        ktp = KTP("range", 0)
        kc.assign([ktp])
        kc.seek(ktp, 50)
        got = []
        deadline = Deadline(30)
        while len(got) < 13:
            deadline.check("kafka-python after reset: %s" % got)
            for recs in kc.poll(timeout_ms=200).values():
                got += [(r.offset, r.value) for r in recs]
        expect(got == [(i, b"m%d" % i) for i in range(10)] + [(10 + i, b"n%d" % i) for i in range(3)],
               "kafka-python reset=earliest read %s" % got)
    finally:
        kc.close()


def two_mib(b):
    create_topic(b.bootstrap, "big", 1, config={"max.message.bytes": str(3 << 20)})
    value = os.urandom(2 << 20)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "compression.type": "none",
                  "message.max.bytes": 4 << 20, "message.timeout.ms": 30000})
    errs = []
    p.produce("big", key=b"big-key", value=value, partition=0, headers=[("size", b"2MiB")],
              on_delivery=lambda err, m: errs.append(err))
    p.produce("big", key=b"after", value=b"small", partition=0, on_delivery=lambda err, m: errs.append(err))
    expect(p.flush(60) == 0 and errs == [None, None], "2 MiB produce: %s" % errs)
    raised = {"fetch.max.bytes": 8 << 20, "max.partition.fetch.bytes": 8 << 20,
              "receive.message.max.bytes": 16 << 20}
    for label, conf in (("raised fetch limits", raised), ("default fetch limits", {})):
        got = read_partitions(b.bootstrap, "big", {0: 2}, conf=conf)[0]
        expect(len(got) == 2 and got[0].key() == b"big-key" and got[0].value() == value
               and got[0].headers() == [("size", b"2MiB")] and got[1].value() == b"small",
               "%s: read %s" % (label, [(m.offset(), m.key(), len(m.value() or b"")) for m in got]))


def acks0_missing_partition(b):
    create_topic(b.bootstrap, "acks0", 2)
    # The client knows the topic has 2 partitions: it refuses locally,
    # at once, and flush() returns.
    errs = deliver(b, "acks0", [(b"nowhere", 7)], acks=0)
    expect(code(errs[0]) == KafkaError._UNKNOWN_PARTITION, "acks=0 to partition 7 of 2: %s" % errs[0])

    # On the wire: acks=0 to partition 7, and to a missing topic.
    ts = int(time.time() * 1000)
    for topic, part in (("acks0", 7), ("no-such-topic", 0)):
        s = socket.create_connection((b.host, b.port), timeout=T)
        try:
            s.sendall(produce_v3(1, 0, topic, part, record_batch([b"raw"], ts)))
            s.settimeout(T)
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            expect(data == b"", "acks=0 to %s [%d] was answered: %r" % (topic, part, data[:40]))
        finally:
            s.close()

    # The broker goes on: acks=1 and acks=0 to real partitions land. The
    # acks=0 producer stays connected until its message is seen (a sender
    # that hangs up at once is test_client_errors_hangup.py's subject).
    errs = deliver(b, "acks0", [(b"one", 1)], acks=1)
    expect(errs == [None], "acks=1 to partition 1: %s" % errs)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": 0})
    zero = []
    p.produce("acks0", value=b"zero", partition=0, on_delivery=lambda err, m: zero.append(err))
    expect(p.flush(T) == 0 and zero == [None], "acks=0 to partition 0: %s" % zero)
    want = {0: (0, 1), 1: (0, 1)}
    for _ in range(50):  # acks=0 has no answer to wait for
        marks = watermarks(b.bootstrap, "acks0", [0, 1])
        if marks == want:
            break
        time.sleep(0.1)
    del p
    expect(marks == want, "after acks=0 and acks=1: watermarks %s, want %s" % (marks, want))
    got = read_partitions(b.bootstrap, "acks0", {0: 1, 1: 1})
    expect([m.value() for m in got[0]] == [b"zero"] and [m.value() for m in got[1]] == [b"one"],
           "acks0 holds %s" % {p: [m.value() for m in ms] for p, ms in got.items()})
    md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=T)
    expect(sorted(len(t.partitions) for n, t in md.topics.items() if n == "acks0") == [2]
           and "no-such-topic" not in md.topics, "topics after raw acks=0: %s" % sorted(md.topics))


def body(b):
    # Each scenario runs even when an earlier one failed; all are reported.
    failed = []
    for scenario in (unknown_and_invalid, too_large, out_of_range, two_mib, acks0_missing_partition):
        try:
            scenario(b)
        except Exception as e:  # noqa: BLE001 - reported below with its traceback
            import traceback
            failed.append("%s: %s\n%s" % (scenario.__name__, e, traceback.format_exc()))
    expect(not failed, "%d of 5 scenarios failed:\n%s" % (len(failed), "\n".join(failed)))
    return "unknown topic, invalid name, too large, out of range, 2 MiB, acks=0"


run(body, extra=["--set", "auto.create.topics.enable=false"], name="client errors")
