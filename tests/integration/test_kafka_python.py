#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""kafka-python 2.0.2 (Debian's python3-kafka, pure Python) at three protocol
levels, each with every codec it has for them (none, gzip, snappy, lz4):

  auto      ApiVersions negotiated: Produce v7+ and Fetch v10+ with v2
            record batches, headers included;
  0.10.0    api_version=(0, 10, 0) forced, no ApiVersions: Metadata v1,
            Produce v2 and Fetch v2 with message format v1 (magic 1,
            timestamps, compressed wrapper messages with relative offsets),
            ListOffsets v0;
  0.9       api_version=(0, 9): Metadata v0, Produce v1 and Fetch v1 with
            message format v0 (magic 0, no timestamps; lz4 with the old
            Kafka framing), ListOffsets v0.

Every producer level writes keyed messages (the default murmur2
partitioner) into its own topic per codec, created with KafkaAdminClient or,
for the uncompressed old-level topics, auto-created by the producer's
metadata request. Every topic is then read back by a consumer at each of the
three levels, without a group (assign + seek_to_beginning): each message
once, at the offset its delivery report gave, with its key and value; its
timestamp as the broker must convert it (what the producer set; -1 when a
magic 0 producer sent none; none at all in magic 0); headers only where both
ends speak v2 (down-conversion drops them, as Kafka does)."""
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import Deadline, Fail, expect, run, skip  # noqa: E402

try:
    import kafka  # noqa: F401
    import kafka.codec
    from kafka.codec import has_lz4, has_snappy
except ImportError:
    skip("kafka-python is not installed (apt install python3-kafka)")
if not (has_snappy() and has_lz4() and kafka.codec.xxhash is not None):
    skip("kafka-python lacks a codec module (apt install python3-snappy python3-lz4 python3-xxhash; "
         "xxhash is for lz4 in magic 0's framing)")
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402
from kafka.partitioner.default import murmur2  # noqa: E402

LEVELS = {"auto": None, "0.10.0": (0, 10, 0), "0.9": (0, 9)}
CODECS = ["none", "gzip", "snappy", "lz4"]
PARTITIONS = 2  # also the broker's num.partitions, for the auto-created topics
N = 150
BASE_TS = int(time.time() * 1000) - 3_600_000
READ_LIMIT_S = 20  # one read of N messages takes well under a second


def key(level, i):
    return ("%s-k%02d" % (level, i % 23)).encode()


def value(level, codec, i):
    body = ("%s/%s/%d " % (level, codec, i)) * (1 + i % 9)
    if i == 4:
        body += "L" * 50_000  # a large one, many in a compressed wrapper
    return body.encode()


def topic_name(level, codec):
    return "kp-%s-%s" % (level.replace(".", "_"), codec)


def auto_created(level, codec):
    return level != "auto" and codec == "none"


def produce(b, level, codec):
    """Sends N keyed messages; returns {partition: [i]} in offset order."""
    topic = topic_name(level, codec)
    p = KafkaProducer(bootstrap_servers=b.bootstrap, api_version=LEVELS[level],
                      compression_type=None if codec == "none" else codec,
                      acks="all", linger_ms=20, batch_size=64 * 1024, max_request_size=1_000_000,
                      request_timeout_ms=20000, max_block_ms=20000, retries=0)
    try:
        futs = []
        for i in range(N):
            kw = {}
            if level == "auto":
                kw["headers"] = [("i", b"%d" % i), ("codec", codec.encode())]
            futs.append(p.send(topic, key=key(level, i), value=value(level, codec, i),
                               timestamp_ms=BASE_TS + i, **kw))
        p.flush(30)
        md = [f.get(timeout=30) for f in futs]
    finally:
        p.close(10)
    per_part = {q: [] for q in range(PARTITIONS)}
    for i, m in enumerate(md):
        want_q = (murmur2(key(level, i)) & 0x7FFFFFFF) % PARTITIONS
        expect(m.partition == want_q, "%s: message %d on partition %d, want %d (murmur2 of its key)"
               % (topic, i, m.partition, want_q))
        per_part[m.partition].append((m.offset, i))
    for q, offs in per_part.items():
        expect([o for o, _ in offs] == list(range(len(offs))),
               "%s partition %d: delivery offsets %s..., want 0..%d in produce order"
               % (topic, q, [o for o, _ in offs][:12], len(offs) - 1))
    return {q: [i for _, i in offs] for q, offs in per_part.items()}


def expected(level, codec, i, reader):
    """(key, value, timestamp, headers) a reader at level `reader` must see."""
    if reader == "0.9":
        ts = None  # message format v0 has no timestamp
    elif level == "0.9":
        ts = -1  # converted from magic 0: no timestamp, as Kafka keeps it
    else:
        ts = BASE_TS + i
    headers = []
    if level == "auto" and reader == "auto":
        headers = [("i", b"%d" % i), ("codec", codec.encode())]
    return key(level, i), value(level, codec, i), ts, headers


def consume(b, level, codec, reader, want):
    topic = topic_name(level, codec)
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, api_version=LEVELS[reader], group_id=None,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      max_partition_fetch_bytes=1 << 20, fetch_max_wait_ms=100,
                      request_timeout_ms=30000)
    try:
        tps = [TopicPartition(topic, q) for q in range(PARTITIONS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {q: [] for q in range(PARTITIONS)}
        deadline = Deadline(30)
        while any(len(got[q]) < len(want[q]) for q in got):
            deadline.check("%s read at %s: %s of %s" % (topic, reader, {q: len(v) for q, v in got.items()},
                                                        {q: len(v) for q, v in want.items()}))
            for tp, records in c.poll(timeout_ms=200).items():
                got[tp.partition].extend(records)
        # Nothing past the end: one more short poll.
        extra = c.poll(timeout_ms=150)
        expect(not any(extra.values()), "%s read at %s: records past the end: %s"
               % (topic, reader, {tp.partition: [r.offset for r in rs] for tp, rs in extra.items()}))
    finally:
        c.close()
    for q in range(PARTITIONS):
        expect([r.offset for r in got[q]] == list(range(len(want[q]))),
               "%s read at %s partition %d: offsets %s..., want 0..%d"
               % (topic, reader, q, [r.offset for r in got[q]][:12], len(want[q]) - 1))
        for r, i in zip(got[q], want[q]):
            k, v, ts, hdrs = expected(level, codec, i, reader)
            seen = (r.key, r.value, r.timestamp, list(r.headers or []))
            expect(seen == (k, v, ts, hdrs),
                   "%s read at %s partition %d offset %d: key %r value %r... ts %r headers %r, "
                   "want %r %r... %r %r" % (topic, reader, q, r.offset, r.key, (r.value or b"")[:30],
                                           r.timestamp, seen[3], k, v[:30], ts, hdrs))


def _child(conn, fn, a):
    try:
        fn(*a)
        conn.send(None)
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        conn.send("%s: %s" % (type(e).__name__, e))
    conn.close()


def bounded(limit, fn, *a):
    """Runs fn(*a) in a forked child for at most `limit` seconds: kafka-python
    retries an offset lookup that a broker keeps failing without end.
    Returns None or the child's error text; raises TimeoutError."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, a), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(limit):
            raise TimeoutError("no result in %d s" % limit)
        return parent.recv()
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def body(b):
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=20000)
    try:
        admin.create_topics([NewTopic(topic_name(level, codec), PARTITIONS, 1)
                             for level in LEVELS for codec in CODECS if not auto_created(level, codec)],
                            timeout_ms=20000)
    finally:
        admin.close()

    failed = []
    passed = []
    times = {}
    stuck = set()  # reader levels that hung once: the bound, not a repeat of it
    for level in LEVELS:
        for codec in CODECS:
            case = "produce %s %s" % (level, codec)
            t0 = time.monotonic()
            try:
                want = produce(b, level, codec)
            except Exception as e:  # noqa: BLE001 - each case is reported, the rest still run
                failed.append("%s: %s: %s" % (case, type(e).__name__, e))
                print("FAIL:", failed[-1], flush=True)
                continue
            times[case] = time.monotonic() - t0
            passed.append(case)
            for reader in LEVELS:
                case = "%s %s read at %s" % (level, codec, reader)
                if reader in stuck:
                    failed.append("%s: not run, a read at %s got stuck before" % (case, reader))
                    continue
                t0 = time.monotonic()
                try:
                    err = bounded(READ_LIMIT_S, consume, b, level, codec, reader, want)
                except TimeoutError as e:
                    stuck.add(reader)
                    err = "stuck: %s" % e
                times[case] = time.monotonic() - t0
                if err is None:
                    passed.append(case)
                else:
                    failed.append("%s: %s" % (case, err))
                    print("FAIL:", failed[-1], flush=True)
    for case in passed:
        print("ok: %s (%.2f s)" % (case, times.get(case, 0)))
    if failed:
        raise Fail("%d of %d cases failed:\n  %s" % (len(failed), len(failed) + len(passed),
                                                      "\n  ".join(failed)))
    return "%d cases: producers and consumers at %s, codecs %s" % (len(passed), ", ".join(LEVELS),
                                                                   ", ".join(CODECS))


run(body, extra=["--set", "num.partitions=%d" % PARTITIONS], name="kafka-python")
