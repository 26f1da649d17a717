#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Topic auto-creation as clients meet it (auto.create.topics.enable=true,
num.partitions=4): a producer's first message creates its topic with 4
partitions and lands; a consumer, whose metadata requests do not allow
auto-creation, is told UNKNOWN_TOPIC_OR_PARTITION and creates nothing; an
invalid name is INVALID_TOPIC_EXCEPTION even with auto-creation on, and
creates nothing."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import consumer_conf, expect, need_confluent, read_partitions, run  # noqa: E402

need_confluent()
from confluent_kafka import Consumer, KafkaError, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

T = 30


def body(b):
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "message.timeout.ms": 20000})
    errs = []
    for i in range(8):
        p.produce("auto-made", key=b"k%d" % i, value=b"v%d" % i, partition=i % 4,
                  on_delivery=lambda err, m: errs.append(err))
    expect(p.flush(T) == 0 and errs == [None] * 8, "produce to a new topic: %s" % errs)

    admin = AdminClient({"bootstrap.servers": b.bootstrap, "allow.auto.create.topics": False})
    md = admin.list_topics(timeout=T)
    t = md.topics.get("auto-made")
    expect(t is not None and t.error is None and sorted(t.partitions) == [0, 1, 2, 3]
           and all(x.leader == 1 for x in t.partitions.values()),
           "auto-made: %r" % ((t and (t.error, sorted(t.partitions))),))
    got = read_partitions(b.bootstrap, "auto-made", {q: 2 for q in range(4)})
    expect({q: [m.value() for m in ms] for q, ms in got.items()}
           == {q: [b"v%d" % q, b"v%d" % (q + 4)] for q in range(4)}, "auto-made contents")

    c = Consumer(consumer_conf(b.bootstrap, **{"allow.auto.create.topics": False}))
    try:
        t = c.list_topics(topic="not-made", timeout=T).topics.get("not-made")
    finally:
        c.close()
    expect(t is not None and t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART,
           "consumer metadata for a new topic: %s" % (t and t.error))

    producer_admin = AdminClient({"bootstrap.servers": b.bootstrap, "allow.auto.create.topics": True})
    for name in ("bad/name", "bad name", "x" * 250):
        t = producer_admin.list_topics(topic=name, timeout=T).topics.get(name)
        expect(t is not None and t.error is not None and t.error.code() == KafkaError.TOPIC_EXCEPTION,
               "metadata for invalid name %r with auto-create on: %s" % (name[:30], t and t.error))

    md = admin.list_topics(timeout=T)
    # The consumer's group created the internal __consumer_offsets, as Kafka does.
    user = sorted(n for n in md.topics if n != "__consumer_offsets")
    expect(user == ["auto-made"], "topics at the end: %s" % sorted(md.topics))
    return "auto-made with 4 partitions; consumer and invalid names create nothing"


run(body, extra=["--set", "auto.create.topics.enable=true", "--set", "num.partitions=4"],
    name="auto-create")
