#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Configs through confluent-kafka-python's AdminClient: describe_configs of
a topic (values, sources, synonyms) and of the broker (read-only keys),
alter_configs (the whole set replaced, validate_only, refusals as
KafkaError codes), and a retention change made through AlterConfigs that
takes effect without a restart: old segments are deleted, ListOffsets'
earliest offset moves up and the segment files leave the data dir."""
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import expect, need_confluent, produce_queued, run, watermarks  # noqa: E402

need_confluent()
from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

T = 30
E_UNKNOWN_TOPIC, E_CONFIG, E_REQUEST = 3, 40, 42
SRC_TOPIC, SRC_STATIC, SRC_DEFAULT = 1, 4, 5


def code_of(fut):
    try:
        fut.result(timeout=T)
        return 0
    except KafkaException as e:
        return e.args[0].code()


def describe_topic(a, name):
    (fut,) = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)]).values()
    return fut.result(timeout=T)


def alter_topic(a, name, configs, validate_only=False):
    r = ConfigResource(ConfigResource.Type.TOPIC, name, set_config=configs)
    (fut,) = a.alter_configs([r], validate_only=validate_only).values()
    return fut


def segment_files(data_dir, topic):
    return sorted(glob.glob(os.path.join(data_dir, topic + "-0", "*.log")))


def check_describe(b, a):
    fs = a.create_topics([NewTopic("cc", 1, 1, config={"retention.ms": "3600000"})])
    expect(code_of(fs["cc"]) == 0, "create cc")
    cfg = describe_topic(a, "cc")
    expect(len(cfg) >= 34, "every documented topic config: %d" % len(cfg))
    rm, seg = cfg["retention.ms"], cfg["segment.bytes"]
    expect(rm.value == "3600000" and rm.source == SRC_TOPIC and not rm.is_default and
           not rm.is_read_only and not rm.is_sensitive, "retention.ms from the topic: %r" % rm)
    expect(seg.value == "1073741824" and seg.source == SRC_DEFAULT and seg.is_default,
           "segment.bytes default: %r" % seg)
    syn = [(s.name, s.value, s.source) for s in rm.synonyms.values()]
    expect(syn[0] == ("retention.ms", "3600000", SRC_TOPIC) and
           ("log.retention.hours", "168", SRC_DEFAULT) in syn, "retention.ms synonyms %s" % syn)

    res = ConfigResource(ConfigResource.Type.BROKER, "1")
    (fut,) = a.describe_configs([res]).values()
    bcfg = fut.result(timeout=T)
    expect("log.retention.hours" in bcfg and "num.partitions" in bcfg and
           all(e.is_read_only for e in bcfg.values()), "broker keys, read-only")
    expect(bcfg["num.partitions"].value == "1" and
           bcfg["log.segment.bytes"].source in (SRC_DEFAULT, SRC_STATIC), "broker values")

    (fut,) = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "nope")]).values()
    expect(code_of(fut) == E_UNKNOWN_TOPIC, "describe of a missing topic: UNKNOWN_TOPIC")
    return len(cfg)


def check_alter(b, a):
    expect(code_of(alter_topic(a, "cc", {"max.message.bytes": "5000",
                                         "cleanup.policy": "compact"})) == 0, "alter cc")
    cfg = describe_topic(a, "cc")
    explicit = {k: e.value for k, e in cfg.items() if e.source == SRC_TOPIC}
    expect(explicit == {"max.message.bytes": "5000", "cleanup.policy": "compact"},
           "alter_configs replaced the whole set: %s" % explicit)
    expect(code_of(alter_topic(a, "cc", {"retention.ms": "1"}, validate_only=True)) == 0,
           "validate_only")
    expect(describe_topic(a, "cc")["retention.ms"].source != SRC_TOPIC,
           "validate_only changed nothing")
    expect(code_of(alter_topic(a, "cc", {"retention.ms": "soon"})) == E_CONFIG,
           "a bad value: INVALID_CONFIG")
    expect(code_of(alter_topic(a, "cc", {"no.such.config": "1"})) == E_CONFIG,
           "an unknown name: INVALID_CONFIG")
    expect(code_of(alter_topic(a, "nope", {"retention.ms": "1"})) == E_UNKNOWN_TOPIC,
           "a missing topic: UNKNOWN_TOPIC_OR_PARTITION")
    r = ConfigResource(ConfigResource.Type.BROKER, "1", set_config={"num.partitions": "4"})
    (fut,) = a.alter_configs([r]).values()
    expect(code_of(fut) == E_REQUEST, "a broker key that cannot change live: refused")


def wait_for(cond, seconds, step=0.2):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def check_retention(b, a):
    topic, seg_bytes = "ret", "16384"
    fs = a.create_topics([NewTopic(topic, 1, 1, config={"segment.bytes": seg_bytes})])
    expect(code_of(fs[topic]) == 0, "create ret")
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    old_ts = int(time.time() * 1000) - 3 * 3600 * 1000  # three hours ago
    for i in range(120):
        produce_queued(p, topic, value=b"%04d" % i + b"x" * 1000, partition=0, timestamp=old_ts)
        p.poll(0)
    expect(p.flush(T) == 0, "120 old records delivered")
    before = segment_files(b.data_dir, topic)
    low, high = watermarks(b.bootstrap, topic, [0])[0]
    expect(len(before) >= 5 and low == 0 and high == 120,
           "several segments (%d), offsets 0..120 (%d..%d)" % (len(before), low, high))

    # retention.ms of one hour: every inactive segment is older; only the active one stays.
    expect(code_of(alter_topic(a, topic, {"segment.bytes": seg_bytes,
                                          "retention.ms": "3600000"})) == 0,
           "alter retention.ms down")
    expect(wait_for(lambda: watermarks(b.bootstrap, topic, [0])[0][0] > 0, 20),
           "ListOffsets earliest moves up after retention.ms changed")
    expect(wait_for(lambda: len(segment_files(b.data_dir, topic)) == 1, 20),
           "old segment files deleted: %s" % segment_files(b.data_dir, topic))
    low1 = watermarks(b.bootstrap, topic, [0])[0][0]

    # New records, now, under retention.bytes: the oldest go until the rest fits.
    for i in range(120):
        produce_queued(p, topic, value=b"%04d" % i + b"y" * 1000, partition=0)
        p.poll(0)
    expect(p.flush(T) == 0, "120 new records delivered")
    n_new = len(segment_files(b.data_dir, topic))
    expect(n_new >= 5, "new segments: %d" % n_new)
    expect(code_of(alter_topic(a, topic, {"segment.bytes": seg_bytes, "retention.ms": "3600000",
                                          "retention.bytes": "40000"})) == 0,
           "alter retention.bytes down")
    expect(wait_for(lambda: len(segment_files(b.data_dir, topic)) <= 4, 20),
           "segments beyond retention.bytes deleted: %d left of %d"
           % (len(segment_files(b.data_dir, topic)), n_new))
    del p  # destroyed now, not after the broker stops (no reconnect noise in the log)
    low2, high2 = watermarks(b.bootstrap, topic, [0])[0]
    expect(low2 > low1 and high2 == 240, "earliest %d -> %d, latest %d" % (low1, low2, high2))
    return "earliest 0 -> %d -> %d; %d -> %d segment files" % (low1, low2, len(before),
                                                               len(segment_files(b.data_dir,
                                                                                 topic)))


def body(b):
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    n = check_describe(b, a)
    check_alter(b, a)
    return "%d topic configs; %s" % (n, check_retention(b, a))


run(body, extra=["--set", "auto.create.topics.enable=false"], name="configs through AdminClient")
