#!/usr/bin/env python3
# spindle-test: runner=system-python variants=once
"""confluent-kafka-python's idempotent producer (enable.idempotence=true,
acks=all) keeps producing while the broker restarts under it, on the same
data dir and port: first a clean stop (SIGTERM), then a crash (SIGKILL),
each once a quarter of the messages is acknowledged, the second half
produced while the broker is down. The producer reconnects and retries
what was in flight; afterwards every
message is in the log exactly once: no duplicates, no gaps, each partition
in the order produced, at the offsets its delivery report gave."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import (Deadline, create_topic, expect, expect_produce_order,  # noqa: E402
                           need_confluent, produce_queued, read_partitions, run, watermarks)
from harness import restart_same_port  # noqa: E402

need_confluent()
from confluent_kafka import Producer  # noqa: E402

PARTITIONS = 3
N = 30_000


def phase(b, p, topic, sig):
    """Produces N messages to `topic`: the first half, then (once a quarter
    is acknowledged) the broker is stopped with `sig`, the second half is
    produced while it is down, and it is started again on the same data dir
    and port. Checks exactly-once afterwards."""
    create_topic(b.bootstrap, topic, PARTITIONS)
    delivered = {}
    errors = []
    stop = {}

    def report(i, err, m):
        if err is not None:
            errors.append((i, err))
            return
        delivered[i] = (m.partition(), m.offset())
        if not stop and len(delivered) >= N // 4:
            # From the delivery callback, so that later batches are still
            # in flight when the broker goes.
            stop["rc"] = b.stop(sig)
            stop["acked"] = len(delivered)

    def produce(lo, hi):
        for i in range(lo, hi):
            produce_queued(p, topic, key=b"k%d" % (i % 97), value=b"%s-%d" % (topic.encode(), i),
                           on_delivery=lambda err, m, i=i: report(i, err, m))
            if i % 500 == 0:
                p.poll(0)

    deadline = Deadline(240)
    produce(0, N // 2)
    while not stop and not errors:
        deadline.check("%s: %d of %d acknowledged before the restart" % (topic, len(delivered), N // 4))
        p.poll(0.05)
    expect(not errors, "%s: delivery errors before the restart: %s" % (topic, errors[:5]))
    expect(sig != signal.SIGTERM or stop["rc"] == 0, "%s: SIGTERM stop exited %s" % (topic, stop["rc"]))
    acked_at_stop = stop["acked"]
    produce(N // 2, N)
    restart_same_port(b, sig)  # already stopped: starts it on the same port
    left = p.flush(180)
    expect(left == 0, "%s: %d messages undelivered after the restart" % (topic, left))
    expect(not errors, "%s: delivery errors %s" % (topic, errors[:5]))
    expect(len(delivered) == N, "%s: %d reports, want %d" % (topic, len(delivered), N))

    # Delivery offsets per partition: 0..n-1 in produce order.
    per_part = expect_produce_order(delivered, PARTITIONS, topic)

    ends = {q: len(v) for q, v in per_part.items()}
    got = read_partitions(b.bootstrap, topic, ends)
    for q in range(PARTITIONS):
        values = [m.value() for m in got[q]]
        want = [b"%s-%d" % (topic.encode(), i) for _, i in per_part[q]]
        if values != want:
            seen = set()
            dups = [v for v in values if v in seen or seen.add(v)]
            missing = sorted(set(want) - set(values))
            expect(False, "%s partition %d: %d read, want %d; duplicates %s; missing %s; "
                   "first difference at %s" % (topic, q, len(values), len(want), dups[:5],
                                               missing[:5], next((j for j, (x, y) in enumerate(zip(values, want)) if x != y), None)))
        expect([m.offset() for m in got[q]] == list(range(ends[q])),
               "%s partition %d: offsets not contiguous" % (topic, q))
    # The log has nothing past what was produced.
    marks = watermarks(b.bootstrap, topic, range(PARTITIONS))
    expect(marks == {q: (0, ends[q]) for q in ends}, "%s: watermarks %s, want %s" % (topic, marks, ends))
    return "%s acknowledged at the stop, then %s" % (acked_at_stop, ends)


def body(b):
    p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, "batch.num.messages": 500, "message.timeout.ms": 200000,
                  "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
                  "queue.buffering.max.messages": 2 * N})
    term = phase(b, p, "idem-sigterm", signal.SIGTERM)
    kill = phase(b, p, "idem-sigkill", signal.SIGKILL)
    p.flush(30)
    return "exactly once across a clean restart %s and a crash %s" % (term, kill)


run(body, name="confluent idempotent restart")
