#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""confluent-kafka-python's AdminClient against a real broker: the cluster
as list_topics() describes it; topics created (with configs, validate_only),
described, grown and deleted; and each refusal surfacing as the KafkaError
code Kafka gives (existing topic, invalid name, replication factor, partition
count, config). A deleted topic's data is gone when the name is reused.
Auto-creation is off, so asking for a missing topic reports it missing."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import Fail, expect, need_confluent, run, watermarks  # noqa: E402

need_confluent()
from confluent_kafka import KafkaError, KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic  # noqa: E402

T = 30


def result_code(fut):
    """None when the future succeeded, else its KafkaError code."""
    try:
        fut.result(timeout=T)
        return None
    except KafkaException as e:
        return e.args[0].code()


# Internal topics: there as soon as a consumer asks for its group's coordinator, as in Kafka.
INTERNAL_TOPICS = ("__consumer_offsets",)


def describe(admin, b):
    md = admin.list_topics(timeout=T)
    return {name: sorted(((p.id, p.leader, list(p.replicas), list(p.isrs))
                          for p in t.partitions.values()))
            for name, t in md.topics.items()
            if t.error is None and name not in INTERNAL_TOPICS}, md


def layout(n):
    return [(p, 1, [1], [1]) for p in range(n)]


def body(b):
    admin = AdminClient({"bootstrap.servers": b.bootstrap})

    # The cluster: this broker, as controller, and no topics yet.
    topics, md = describe(admin, b)
    brokers = {k: (v.host, v.port) for k, v in md.brokers.items()}
    expect(brokers == {1: (b.host, b.port)} and md.controller_id == 1 and topics == {},
           "fresh cluster: brokers %s controller %s topics %s" % (brokers, md.controller_id, topics))
    missing = admin.list_topics(topic="not-there", timeout=T).topics.get("not-there")
    expect(missing is not None and missing.error is not None
           and missing.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART,
           "missing topic reported as %s" % (missing and missing.error))

    # Create two topics in one request, one with configs.
    futs = admin.create_topics([
        NewTopic("orders", 6, 1),
        NewTopic("audit", 1, 1, config={"cleanup.policy": "compact", "retention.ms": "3600000"}),
    ], operation_timeout=T, request_timeout=T)
    codes = {k: result_code(f) for k, f in futs.items()}
    expect(codes == {"orders": None, "audit": None}, "create_topics: %s" % codes)
    topics, _ = describe(admin, b)
    expect(topics == {"orders": layout(6), "audit": layout(1)}, "after create: %s" % topics)

    # validate_only: answered, nothing created.
    futs = admin.create_topics([NewTopic("dry-run", 3, 1)], validate_only=True,
                               operation_timeout=T, request_timeout=T)
    expect(result_code(futs["dry-run"]) is None, "validate_only refused")
    topics, _ = describe(admin, b)
    expect("dry-run" not in topics, "validate_only created the topic: %s" % topics)

    # Refusals, each with Kafka's code.
    cases = [
        (NewTopic("orders", 3, 1), KafkaError.TOPIC_ALREADY_EXISTS),
        (NewTopic("bad/name", 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic("bad name", 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic("..", 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic("x" * 250, 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic("three-replicas", 1, 3), KafkaError.INVALID_REPLICATION_FACTOR),
        (NewTopic("no-partitions", 0, 1), KafkaError.INVALID_PARTITIONS),
        (NewTopic("bad-config", 1, 1, config={"cleanup.policy": "sometimes"}),
         KafkaError.INVALID_CONFIG),
        (NewTopic("unknown-config", 1, 1, config={"no.such.key": "1"}), KafkaError.INVALID_CONFIG),
    ]
    for nt, want in cases:
        futs = admin.create_topics([nt], operation_timeout=T, request_timeout=T)
        got = result_code(futs[nt.topic])
        expect(got == want, "create %r (partitions %d, rf %d, config %s): code %s, want %s"
               % (nt.topic[:40], nt.num_partitions, nt.replication_factor, nt.config,
                  got, want))
    topics, _ = describe(admin, b)
    expect(sorted(topics) == ["audit", "orders"], "refused creates left topics: %s" % sorted(topics))

    # Grow a topic; shrinking is refused.
    futs = admin.create_partitions([NewPartitions("orders", 8)], operation_timeout=T,
                                   request_timeout=T)
    expect(result_code(futs["orders"]) is None, "create_partitions 6->8 refused")
    futs = admin.create_partitions([NewPartitions("orders", 4)], operation_timeout=T,
                                   request_timeout=T)
    got = result_code(futs["orders"])
    expect(got == KafkaError.INVALID_PARTITIONS, "shrink 8->4: code %s" % got)
    futs = admin.create_partitions([NewPartitions("nowhere", 4)], operation_timeout=T,
                                   request_timeout=T)
    got = result_code(futs["nowhere"])
    expect(got == KafkaError.UNKNOWN_TOPIC_OR_PART, "grow a missing topic: code %s" % got)
    topics, _ = describe(admin, b)
    expect(topics.get("orders") == layout(8), "orders after growing: %s" % topics.get("orders"))

    # Data in orders, then delete it and reuse the name: the data is gone.
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
    reports = []
    for i in range(20):
        p.produce("orders", value=b"v%d" % i, partition=i % 8,
                  on_delivery=lambda err, m: reports.append(err))
    expect(p.flush(T) == 0 and reports == [None] * 20, "produce to orders: %s" % reports)
    marks = watermarks(b.bootstrap, "orders", range(8))
    expect(marks == {q: (0, 3 if q < 4 else 2) for q in range(8)}, "orders watermarks %s" % marks)

    futs = admin.delete_topics(["audit", "orders"], operation_timeout=T, request_timeout=T)
    codes = {k: result_code(f) for k, f in futs.items()}
    expect(codes == {"audit": None, "orders": None}, "delete_topics: %s" % codes)
    topics, _ = describe(admin, b)
    expect(topics == {}, "after delete: %s" % topics)
    gone = admin.list_topics(topic="audit", timeout=T).topics.get("audit")
    expect(gone is not None and gone.error is not None
           and gone.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART,
           "deleted topic reported as %s" % (gone and gone.error))
    futs = admin.delete_topics(["audit"], operation_timeout=T, request_timeout=T)
    got = result_code(futs["audit"])
    expect(got == KafkaError.UNKNOWN_TOPIC_OR_PART, "delete a deleted topic: code %s" % got)

    futs = admin.create_topics([NewTopic("orders", 2, 1)], operation_timeout=T, request_timeout=T)
    expect(result_code(futs["orders"]) is None, "re-create orders refused")
    topics, _ = describe(admin, b)
    expect(topics == {"orders": layout(2)}, "re-created orders: %s" % topics)
    marks = watermarks(b.bootstrap, "orders", range(2))
    expect(marks == {0: (0, 0), 1: (0, 0)}, "re-created orders still has data: %s" % marks)
    p.flush(T)
    return "cluster %s" % md.cluster_id


try:
    run(body, extra=["--set", "auto.create.topics.enable=false"], name="confluent admin")
except Fail as e:  # raised only outside the body
    print("FAIL: %s" % e)
    sys.exit(1)
