#!/usr/bin/env python3
# spindle-test: runner=system-python variants=once
"""Every codec (gzip, snappy, lz4, zstd) end to end across different
clients: confluent-kafka-python (librdkafka), kcat (librdkafka's CLI) and
kafka-python (its own pure-Python codecs) each produce compressed batches
into one topic per codec, and each of the three reads every message back,
key, value, headers and offset exact. Then topics whose compression.type is
set make the broker recompress (gzip in, zstd stored; lz4 in, uncompressed
stored) and the readers still get the producer's bytes. A topic stored as
zstd is refused to Fetch below v10 (UNSUPPORTED_COMPRESSION_TYPE, Kafka's
rule), which kafka-python 2.0.2 (Fetch v4) meets: it is checked on the wire
there instead of read."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import (Deadline, create_topic, expect, kcat, need_confluent,  # noqa: E402
                           need_kcat, read_partitions, run, skip)

need_confluent()
need_kcat()
try:
    import kafka  # noqa: F401
    from kafka.codec import has_lz4, has_snappy, has_zstd
except ImportError:
    skip("kafka-python is not installed (apt install python3-kafka)")
if not (has_snappy() and has_lz4() and has_zstd()):
    skip("kafka-python lacks a codec module (apt install python3-snappy python3-lz4 python3-zstandard)")
from confluent_kafka import Producer  # noqa: E402
import kwire  # noqa: E402

CODECS = ["gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 2
PER_CLIENT = 60  # messages per producer per codec


def payload(client, codec, i):
    # Compressible, different per message, one large one per client.
    body = ("%s/%s/%d " % (client, codec, i)) * (3 + i % 20)
    if i == 7:
        body += "L" * 300_000
    return body.encode()


def expected(codec):
    """{partition: [(key, value, headers)]} in offset order: each producer
    ran after the previous one finished, each wrote i % 2's partition."""
    want = {p: [] for p in range(PARTITIONS)}
    for client in ("confluent", "kcat", "kafka-python"):
        for i in range(PER_CLIENT):
            key = ("%s-%s-%d" % (client, codec, i)).encode()
            headers = [("codec", codec.encode()), ("client", client.encode())]
            want[i % PARTITIONS].append((key, payload(client, codec, i), headers))
    return want


def produce_confluent(b, topic, codec):
    p = Producer({"bootstrap.servers": b.bootstrap, "compression.type": codec, "linger.ms": 50,
                  "acks": "all", "message.max.bytes": 2_000_000})
    errs = []
    for i in range(PER_CLIENT):
        p.produce(topic, key=b"confluent-%s-%d" % (codec.encode(), i), value=payload("confluent", codec, i),
                  partition=i % PARTITIONS, headers=[("codec", codec.encode()), ("client", b"confluent")],
                  on_delivery=lambda err, m: err and errs.append(err))
    expect(p.flush(60) == 0 and not errs, "confluent %s produce: %s" % (codec, errs))


def produce_kcat(b, topic, codec):
    for part in range(PARTITIONS):
        lines = ["kcat-%s-%d\t%s" % (codec, i, payload("kcat", codec, i).decode())
                 for i in range(PER_CLIENT) if i % PARTITIONS == part]
        kcat(b.bootstrap, "-P", "-t", topic, "-p", str(part), "-K", "\t", "-X", "compression.codec=" + codec,
             "-X", "linger.ms=50", "-X", "acks=all", "-X", "message.max.bytes=2000000",
             "-H", "codec=" + codec, "-H", "client=kcat", stdin="\n".join(lines) + "\n")


def produce_kafka_python(b, topic, codec):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=b.bootstrap, compression_type=codec, linger_ms=50, acks="all",
                      max_request_size=2_000_000, request_timeout_ms=30000)
    futs = [p.send(topic, key=("kafka-python-%s-%d" % (codec, i)).encode(),
                   value=payload("kafka-python", codec, i), partition=i % PARTITIONS,
                   headers=[("codec", codec.encode()), ("client", b"kafka-python")])
            for i in range(PER_CLIENT)]
    p.flush(60)
    for f in futs:
        f.get(timeout=60)
    p.close(10)


def read_confluent(b, topic, ends):
    got = read_partitions(b.bootstrap, topic, ends, conf={"fetch.max.bytes": 8 << 20})
    return {p: [(m.key(), m.value(), m.headers() or []) for m in ms] for p, ms in got.items()}, \
        {p: [m.offset() for m in ms] for p, ms in got.items()}


def read_kcat(b, topic, ends):
    out = kcat(b.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J",
               "-X", "fetch.message.max.bytes=4000000").stdout
    msgs = sorted((json.loads(line) for line in out.splitlines() if line.strip()),
                  key=lambda m: (m["partition"], m["offset"]))
    got = {p: [] for p in range(PARTITIONS)}
    offs = {p: [] for p in range(PARTITIONS)}
    for m in msgs:
        h = m.get("headers") or {}
        if isinstance(h, list):
            h = dict(zip(h[0::2], h[1::2]))
        got[m["partition"]].append((m["key"].encode(), m["payload"].encode(),
                                    [(k, v.encode()) for k, v in h.items()]))
        offs[m["partition"]].append(m["offset"])
    return got, offs


def read_kafka_python(b, topic, ends):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20,
                      fetch_max_bytes=8 << 20)
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in ends}
        offs = {p: [] for p in ends}
        deadline = Deadline(60)
        while any(len(offs[p]) < ends[p] for p in ends):
            deadline.check("kafka-python reading %s: %s of %s" % (topic, {p: len(v) for p, v in offs.items()}, ends))
            for tp, records in c.poll(timeout_ms=500).items():
                for r in records:
                    got[tp.partition].append((r.key, r.value, list(r.headers)))
                    offs[tp.partition].append(r.offset)
        return got, offs
    finally:
        c.close()


def check_zstd_refused_below_v10(b, topic):
    """Fetch v4 and v9 of a zstd topic: UNSUPPORTED_COMPRESSION_TYPE; v10 gets the batches."""
    for version, want in ((4, 76), (9, 76), (10, 0)):
        with kwire.connect(b, timeout=10) as s:
            s.sendall(kwire.fetch_request(1, version, [(topic, [(0, 0, 1 << 20)])]))
            part = kwire.parse_fetch(kwire.read_frame(s), version)["topics"][0][1][0]
        expect(part["error"] == want and (want != 0 or len(part["records"] or b"") > 0),
               "%s: Fetch v%d answers error %d with %d bytes, want error %d"
               % (topic, version, part["error"], len(part["records"] or b""), want))


READERS = {"confluent": read_confluent, "kcat": read_kcat, "kafka-python": read_kafka_python}


def check_all_readers(b, topic, want, label, skip_readers=()):
    ends = {p: len(v) for p, v in want.items()}
    for name, reader in READERS.items():
        if name in skip_readers:
            continue
        got, offs = reader(b, topic, ends)
        for p in range(PARTITIONS):
            expect(offs[p] == list(range(ends[p])),
                   "%s: %s read partition %d at offsets %s, want 0..%d" % (label, name, p, offs[p][:10], ends[p] - 1))
            for j, (g, w) in enumerate(zip(got[p], want[p])):
                expect(g == w, "%s: %s partition %d offset %d: got key %r value %r... headers %r, want %r %r... %r"
                       % (label, name, p, j, g[0], g[1][:40], g[2], w[0], w[1][:40], w[2]))


def body(b):
    for codec in CODECS:
        topic = "codec-" + codec
        create_topic(b.bootstrap, topic, PARTITIONS, config={"max.message.bytes": "2000000"})
        produce_confluent(b, topic, codec)
        produce_kcat(b, topic, codec)
        produce_kafka_python(b, topic, codec)
        check_all_readers(b, topic, expected(codec), codec)

    # The topic's compression.type overrides what producers send.
    for stored, sent in (("zstd", "gzip"), ("uncompressed", "lz4"), ("snappy", "zstd")):
        topic = "stored-%s-sent-%s" % (stored, sent)
        create_topic(b.bootstrap, topic, PARTITIONS,
                     config={"compression.type": stored, "max.message.bytes": "2000000"})
        produce_confluent(b, topic, sent)
        produce_kcat(b, topic, sent)
        produce_kafka_python(b, topic, sent)
        old_fetch = ("kafka-python",) if stored == "zstd" else ()
        check_all_readers(b, topic, expected(sent), topic, skip_readers=old_fetch)
        if old_fetch:
            check_zstd_refused_below_v10(b, topic)
    return "codecs %s, each written and read by confluent, kcat and kafka-python" % ",".join(CODECS)


run(body, name="codecs")
