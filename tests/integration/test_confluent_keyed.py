#!/usr/bin/env python3
# spindle-test: runner=system-python variants=once
"""100,000 keyed messages with headers from confluent-kafka-python into a
6-partition topic with acks=all, read back with assign(): every message
once, with its key, value and headers; each partition in the order produced
at offsets 0..n-1, at the offsets the delivery reports gave; each key on one
partition (the one librdkafka's partitioner picks for 6 partitions); the
watermarks match."""
import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import (create_topic, expect, expect_produce_order, need_confluent,  # noqa: E402
                           produce_queued, read_partitions, run, watermarks)

need_confluent()
from confluent_kafka import Producer  # noqa: E402

TOPIC = "keyed"
PARTITIONS = 6
N = 100_000
KEYS = 1000


def message(i):
    k = i % KEYS
    key = b"key-%04d" % k
    value = b"%s/seq-%d/payload-%s" % (key, i // KEYS, b"x" * (i % 37))
    headers = [("msg", b"%d" % i), ("source", b"spindle-it"), ("empty", b"")]
    return key, value, headers


def body(b):
    create_topic(b.bootstrap, TOPIC, PARTITIONS)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 20,
                  "queue.buffering.max.messages": 2 * N, "enable.idempotence": False,
                  "compression.type": "none", "message.timeout.ms": 120000})
    delivered = {}  # msg index -> (partition, offset)
    errors = []

    def report(i, err, m):
        if err is not None:
            errors.append(err)
            return
        delivered[i] = (m.partition(), m.offset())

    for i in range(N):
        key, value, headers = message(i)
        produce_queued(p, TOPIC, 0.1, key=key, value=value, headers=headers,
                       on_delivery=lambda err, m, i=i: report(i, err, m))
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(120)
    expect(left == 0 and not errors, "produce: %d undelivered, errors %s" % (left, errors[:5]))
    expect(len(delivered) == N, "%d delivery reports, want %d" % (len(delivered), N))

    # Per key one partition: crc32(key) % 6 is librdkafka's default
    # (consistent_random) partitioner, so the client saw 6 partitions.
    for i, (part, _) in delivered.items():
        key = message(i)[0]
        expect(part == zlib.crc32(key) % PARTITIONS,
               "message %d key %s on partition %d, want %d" % (i, key, part, zlib.crc32(key) % PARTITIONS))
    counts = {q: 0 for q in range(PARTITIONS)}
    for part, _ in delivered.values():
        counts[part] += 1
    expect(all(counts.values()), "a partition got nothing: %s" % counts)
    # Delivery offsets: per partition 0..n-1, increasing in produce order.
    per_part = expect_produce_order(delivered, PARTITIONS, TOPIC)

    marks = watermarks(b.bootstrap, TOPIC, range(PARTITIONS))
    expect(marks == {q: (0, counts[q]) for q in counts}, "watermarks %s, want %s" % (marks, counts))

    got = read_partitions(b.bootstrap, TOPIC, counts, conf={"fetch.max.bytes": 4 << 20})
    for q in range(PARTITIONS):
        msgs = got[q]
        expect(len(msgs) == counts[q], "partition %d: read %d, want %d" % (q, len(msgs), counts[q]))
        for j, m in enumerate(msgs):
            off, i = per_part[q][j]
            key, value, headers = message(i)
            expect(m.offset() == off, "partition %d #%d at offset %d, want %d" % (q, j, m.offset(), off))
            expect(m.key() == key and m.value() == value,
                   "partition %d offset %d: key %r value %r, want %r %r" % (q, off, m.key(), m.value()[:60], key, value[:60]))
            expect(m.headers() == headers,
                   "partition %d offset %d: headers %r, want %r" % (q, off, m.headers(), headers))
    return "%d messages, per partition %s" % (N, counts)


run(body, name="confluent keyed 100k")
