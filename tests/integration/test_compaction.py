#!/usr/bin/env python3
# spindle-test: runner=system-python variants=once
"""Log compaction seen by real clients: a topic created through CreateTopics
(AdminClient) with cleanup.policy=compact, a small segment.bytes and a low
min.cleanable.dirty.ratio takes 60 keys written 40 times each with
confluent-kafka (acks=all), then tombstones for 6 of them; once a last
message has rolled the active segment, the broker's cleaner runs by itself
and a consumer reading from the start must see, within a bounded wait,
exactly one record per key, carrying its latest value (None for the
tombstoned keys), at increasing offsets with gaps where records were
removed; the high watermark does not move."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import (Fail, create_topic, expect, need_confluent, produce_queued,  # noqa: E402
                           read_partitions, run, watermarks)

need_confluent()
from confluent_kafka import Producer  # noqa: E402

TOPIC = "compacted"
KEYS = 60
VERSIONS = 40
TOMBSTONED = range(0, KEYS, 10)
WAIT_S = 30


def body(b):
    create_topic(b.bootstrap, TOPIC, 1, config={
        "cleanup.policy": "compact",
        "segment.bytes": "8192",
        "segment.ms": "300",
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "3600000",
    })
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5,
                  "enable.idempotence": False, "batch.num.messages": 20})
    latest = {}
    errors = []

    def report(err, m):
        if err is not None:
            errors.append(err)

    for v in range(VERSIONS):
        for k in range(KEYS):
            key = b"key-%03d" % k
            value = b"%s/version-%02d/%s" % (key, v, b"x" * (k % 50))
            produce_queued(p, TOPIC, key=key, value=value, on_delivery=report)
            latest[key] = value
        p.poll(0)
    for k in TOMBSTONED:
        key = b"key-%03d" % k
        produce_queued(p, TOPIC, key=key, value=None, on_delivery=report)
        latest[key] = None
    expect(p.flush(60) == 0 and not errors, "produce failed: %s" % errors[:5])
    # The active segment is never cleaned: let segment.ms pass, then one more
    # message rolls it, so every record above is in a cleanable segment.
    time.sleep(0.5)
    produce_queued(p, TOPIC, key=b"zz-last", value=b"last", on_delivery=report)
    expect(p.flush(30) == 0 and not errors, "produce failed: %s" % errors[:5])
    latest[b"zz-last"] = b"last"
    total = KEYS * VERSIONS + len(TOMBSTONED) + 1
    marks = watermarks(b.bootstrap, TOPIC, [0])
    expect(marks[0] == (0, total), "watermarks %s, want (0, %d)" % (marks[0], total))

    deadline = time.monotonic() + WAIT_S
    seen = None
    while time.monotonic() < deadline:
        got = read_partitions(b.bootstrap, TOPIC, {0: total})[0]
        seen = [(m.offset(), m.key(), m.value()) for m in got]
        offsets = [o for o, _, _ in seen]
        expect(offsets == sorted(set(offsets)), "offsets not increasing")
        per_key = {}
        for _, key, value in seen:
            per_key.setdefault(key, []).append(value)
        # Whatever the cleaner has done so far, each key's last record is its latest value.
        for key, values in per_key.items():
            expect(values[-1] == latest[key], "key %s ends with %r, want %r"
                   % (key, values[-1], latest[key]))
        expect(set(per_key) == set(latest), "keys %d, want %d" % (len(per_key), len(latest)))
        if len(seen) == len(latest):
            break
        time.sleep(0.5)
    else:
        raise Fail("after %d s the consumer still sees %d records for %d keys"
                   % (WAIT_S, len(seen), len(latest)))
    marks = watermarks(b.bootstrap, TOPIC, [0])
    expect(marks[0] == (0, total), "watermarks after cleaning %s, want (0, %d)" % (marks[0], total))
    return "%d records compacted to %d, one per key" % (total, len(seen))


if __name__ == "__main__":
    run(body, name="compaction")
