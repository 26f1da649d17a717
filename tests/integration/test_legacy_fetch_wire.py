#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Old Fetch and ListOffsets versions over hand-built requests: records
produced as v2 batches (keys, null keys and values, headers, gzip, zstd,
LogAppendTime) come back from Fetch v0-1 as magic 0 and from Fetch v2-3 as
magic 1 message sets, each message checked (CRC-32, offset, key, value,
timestamp, attributes); zstd answers UNSUPPORTED_COMPRESSION_TYPE to
Fetch v0-3 (message sets cannot carry it) and is served as stored from v4;
the byte limits of v0-3; ListOffsets v0
(OldStyleOffsets) for latest, earliest and times. Then real old clients:
kafka-python at api_version 0.9 and 0.10.0 and kcat with the 0.9/0.8 protocol
fallback consume what was produced."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, guard  # noqa: E402
import kwire  # noqa: E402

exe, smp = args("1")
UNKNOWN_TOPIC, UNSUPPORTED_COMPRESSION = 3, 76
GZIP, ZSTD, LOG_APPEND_TIME = 1, 4, 0x08


class Conn(kwire.Conn):
    def fetch_old(self, version, topics, **kw):
        r = self.ask(kwire.fetch_request_legacy, kwire.parse_fetch_legacy, version, topics, **kw)
        check(r["rest"] == 0, "fetch v%d: the response has no bytes left over" % version)
        return r

    def part(self, version, topic, partition, offset, pmb=1 << 20, **kw):
        r = self.fetch_old(version, [(topic, [(partition, offset, pmb)])], **kw)
        parts = [p for _, ps in r["topics"] for p in ps]
        assert len(parts) == 1, r
        return parts[0]

    def fetch(self, version, topics, **kw):
        return self.ask(kwire.fetch_request, kwire.parse_fetch, version, topics, **kw)

    def lo0(self, topic, partition, ts, n):
        return self.ask(kwire.list_offsets_v0_request, kwire.parse_list_offsets_v0, 0,
                        [(topic, [(partition, ts, n)])])[0][1]


# p0 of "lf": what was produced, offset by offset: (key, value, timestamp).
A = [(b"k0", b"plain zero", 1000, [(b"h", b"dropped")]),
     (None, b"null key", 1001, []),
     (b"k2", None, 1002, [(b"h1", b"x"), (b"h2", None)])]
B = [(b"g%d" % i, b"gzipped value %d " % i * 3, 2000 + i, [(b"gh", b"v")]) for i in range(4)]
C = [(b"z%d" % i, b"zstd value %d" % i, 3000 + i, []) for i in range(2)]
D = [(b"d%d" % i, b"after zstd %d" % i, 4000 + i, []) for i in range(2)]
P0 = [(k, v, ts) for k, v, ts, _ in A + B + C + D]  # offsets 0..10
ZSTD_AT = len(A) + len(B)  # 7


def produce(c, topic, partition, batch):
    r = c.produce_v7(topic, {partition: batch})
    check(r[partition][0] == 0, "produce to %s/%d" % (topic, partition))
    return r[partition][1]


def msg_size(magic, key, value):
    return (34 if magic == 1 else 26) + len(key or b"") + len(value or b"")


def expect_messages(msgs, version, first, last, what, produced=P0, log_append=None):
    """msgs hold exactly the produced messages first..last, in the magic of version."""
    magic = 1 if version >= 2 else 0
    ok = [m["offset"] for m in msgs] == list(range(first, last + 1))
    check(ok, "%s: offsets %d..%d (got %s)" % (what, first, last, [m["offset"] for m in msgs]))
    for m in msgs:
        key, value, ts = produced[m["offset"]]
        attrs = LOG_APPEND_TIME if magic == 1 and log_append is not None else 0
        want_ts = None if magic == 0 else (log_append if log_append is not None else ts)
        good = (m["crc_ok"] and m["magic"] == magic and m["attributes"] == attrs and
                m["timestamp"] == want_ts and m["key"] == key and m["value"] == value and
                m["trailing"] == 0 and "wrapper" not in m)
        check(good, "%s: message %d is magic %d, CRC-32 good, key/value/timestamp/attributes "
              "right (%r)" % (what, m["offset"], magic, m))


def fetch_messages(c, version, topic, offset, **kw):
    p = c.part(version, topic, 0, offset, **kw)
    return p, kwire.parse_message_set(p["records"], allow_partial=False)


def conversions(c):
    check(c.create_topic("lf", 2)[0] == 0, "create lf")
    check(produce(c, "lf", 0, kwire.batch_v2_headers(A)) == 0, "p0: plain batch with headers")
    check(produce(c, "lf", 0, kwire.batch_v2_headers(B, codec=GZIP)) == 3, "p0: gzip batch")
    check(produce(c, "lf", 0, kwire.batch_v2_headers(C, codec=ZSTD)) == 7, "p0: zstd batch")
    check(produce(c, "lf", 0, kwire.batch_v2_headers(D)) == 9, "p0: plain batch after zstd")

    for v in range(4):
        p, msgs = fetch_messages(c, v, "lf", 0)
        check(p["error"] == 0 and p["hw"] == 11, "v%d: no error, high watermark 11" % v)
        expect_messages(msgs, v, 0, ZSTD_AT - 1, "v%d from 0 (stops before zstd)" % v)
        _, msgs = fetch_messages(c, v, "lf", 1)
        expect_messages(msgs, v, 1, ZSTD_AT - 1, "v%d from 1 (inside a batch)" % v)
        _, msgs = fetch_messages(c, v, "lf", 5)
        expect_messages(msgs, v, 5, ZSTD_AT - 1, "v%d from 5 (inside the gzip batch)" % v)
        p, msgs = fetch_messages(c, v, "lf", ZSTD_AT)
        check(p["error"] == UNSUPPORTED_COMPRESSION and msgs == [] and p["hw"] == -1,
              "v%d at the zstd batch: UNSUPPORTED_COMPRESSION_TYPE (%r)" % (v, p))
        p, msgs = fetch_messages(c, v, "lf", 9)
        expect_messages(msgs, v, 9, 10, "v%d from 9 (past zstd)" % v)
        p, msgs = fetch_messages(c, v, "lf", 11)
        check(p["error"] == 0 and msgs == [], "v%d at the end: nothing" % v)
        p = c.part(v, "lf", 0, 12)
        check(p["error"] == 1, "v%d past the end: OFFSET_OUT_OF_RANGE" % v)
        p = c.part(v, "nosuch", 0, 0)
        check(p["error"] == UNKNOWN_TOPIC, "v%d unknown topic" % v)

    # v4+ get the stored batches, zstd included (Kafka refuses v4-9 only for
    # topics whose compression.type is zstd; kafka-python 2.0.2 fetches at v4).
    for v in (4, 9):
        r = c.fetch(v, [("lf", [(0, 0, 1 << 20)])])
        p = r["topics"][0][1][0]
        got = [(k, val, ts) for _, k, val, ts in kwire.parse_records(p["records"])]
        check(p["error"] == 0 and got == P0, "v%d from 0: every batch, zstd included" % v)
    for v in (4, 10, 12):
        p = c.fetch(v, [("lf", [(0, ZSTD_AT, 1 << 20)])])["topics"][0][1][0]
        bts = kwire.parse_batches(p["records"])
        check(p["error"] == 0 and bts and bts[0]["codec"] == ZSTD and
              [(k, val, ts) for _, k, val, ts in bts[0]["records"]] == P0[7:9],
              "v%d at zstd: the zstd batch, records intact" % v)

    # LogAppendTime: magic 1 carries the batch's time and attribute bit 3.
    check(c.create_topic("lfa", 1, [("message.timestamp.type", "LogAppendTime")])[0] == 0,
          "create lfa (LogAppendTime)")
    lat = [(b"a%d" % i, b"appended %d" % i, 10 + i, []) for i in range(3)]
    produce(c, "lfa", 0, kwire.batch_v2_headers(lat))
    produce(c, "lfa", 0, kwire.batch_v2_headers(lat, codec=GZIP))
    stored = kwire.parse_batches(c.fetch(11, [("lfa", [(0, 0, 1 << 20)])])["topics"][0][1][0]
                                 ["records"])
    check(len(stored) == 2 and all(bt["attrs"] & LOG_APPEND_TIME for bt in stored),
          "lfa: two LogAppendTime batches stored")
    produced = [(k, v, ts) for k, v, ts, _ in lat + lat]
    for v in range(4):
        _, msgs = fetch_messages(c, v, "lfa", 0)
        expect_messages(msgs[:3], v, 0, 2, "lfa v%d, first batch" % v, produced,
                        log_append=stored[0]["max_ts"])
        expect_messages(msgs[3:], v, 3, 5, "lfa v%d, gzip batch" % v, produced,
                        log_append=stored[1]["max_ts"])


def limits(c):
    # p1 of "lf": a 100 kB message, then small ones.
    big = (b"big", b"x" * 100000, 5000)
    small = [(b"s%d" % i, b"small %d" % i, 5001 + i) for i in range(4)]
    produced = [big] + small
    produce(c, "lf", 1, kwire.batch_v2([big]))
    produce(c, "lf", 1, kwire.batch_v2(small))
    for v in range(4):
        magic = 1 if v >= 2 else 0
        # The first message of a partition comes whole past PartitionMaxBytes.
        p = c.part(v, "lf", 1, 0, pmb=1000)
        msgs = kwire.parse_message_set(p["records"], allow_partial=False)
        expect_messages(msgs, v, 0, 0, "v%d: a 100 kB first message past a 1000-byte "
                        "PartitionMaxBytes comes whole, alone" % v, produced)
        # Exactly two small messages fit.
        two = sum(msg_size(magic, k, val) for k, val, _ in small[:2])
        p = c.part(v, "lf", 1, 1, pmb=two)
        msgs = kwire.parse_message_set(p["records"], allow_partial=False)
        expect_messages(msgs, v, 1, 2, "v%d: PartitionMaxBytes of two messages gives two" % v,
                        produced)
        p = c.part(v, "lf", 1, 1, pmb=two - 1)
        msgs = kwire.parse_message_set(p["records"], allow_partial=False)
        expect_messages(msgs, v, 1, 1, "v%d: one byte less gives one" % v, produced)
        p = c.part(v, "lf", 1, 1, pmb=5)
        msgs = kwire.parse_message_set(p["records"], allow_partial=False)
        expect_messages(msgs, v, 1, 1, "v%d: a 5-byte PartitionMaxBytes still gives the first "
                        "message" % v, produced)
    # v3: MaxBytes over partitions; KIP-74's first message only for the first partition.
    one = msg_size(1, *small[0][:2])
    r = c.fetch_old(3, [("lf", [(1, 1, 1 << 20), (0, 9, 1 << 20)])], max_bytes=one)
    p1, p0 = r["topics"][0][1]
    check(len(kwire.parse_message_set(p1["records"], False)) == 1 and p0["records"] == b"",
          "v3 MaxBytes of one message: one from the first partition, none from the second")
    r = c.fetch_old(3, [("lf", [(1, 0, 1 << 20), (0, 9, 1 << 20)])], max_bytes=10)
    p1, p0 = r["topics"][0][1]
    check([m["offset"] for m in kwire.parse_message_set(p1["records"], False)] == [0] and
          p0["records"] == b"", "v3 MaxBytes 10: the 100 kB first message alone")
    # v0-2 have no MaxBytes: every partition gets its first message past PartitionMaxBytes.
    for v in range(3):
        r = c.fetch_old(v, [("lf", [(1, 0, 10), (0, 9, 10)])])
        p1, p0 = r["topics"][0][1]
        check([m["offset"] for m in kwire.parse_message_set(p1["records"], False)] == [0] and
              [m["offset"] for m in kwire.parse_message_set(p0["records"], False)] == [9],
              "v%d: each partition gives its first message past a tiny PartitionMaxBytes" % v)


def zstd_only(c):
    check(c.create_topic("lfz", 1)[0] == 0, "create lfz")
    produce(c, "lfz", 0, kwire.batch_v2_headers(C, codec=ZSTD))
    for v in range(4):
        p = c.part(v, "lfz", 0, 0)
        check(p["error"] == UNSUPPORTED_COMPRESSION and p["records"] == b"",
              "lfz v%d: a zstd-only partition answers UNSUPPORTED_COMPRESSION_TYPE" % v)
    # Another partition of the same request is unaffected.
    r = c.fetch_old(2, [("lfz", [(0, 0, 1 << 20)]), ("lf", [(0, 0, 1 << 20)])])
    errs = [p["error"] for _, ps in r["topics"] for p in ps]
    check(errs == [UNSUPPORTED_COMPRESSION, 0], "the error stays with its partition (%s)" % errs)


def list_offsets_v0(c):
    check(c.lo0("lf", 0, -1, 1) == (0, [11]), "v0 latest, 1 offset: [11]")
    check(c.lo0("lf", 0, -1, 10) == (0, [11, 0]), "v0 latest, 10 offsets: [11, 0]")
    check(c.lo0("lf", 0, -2, 1) == (0, [0]), "v0 earliest: [0]")
    check(c.lo0("lf", 0, -2, 10) == (0, [0]), "v0 earliest, 10 offsets: [0]")
    check(c.lo0("lf", 0, 2001, 1) == (0, [4]), "v0 time 2001: [4]")
    check(c.lo0("lf", 0, 2001, 2) == (0, [4, 0]), "v0 time 2001, 2 offsets: [4, 0]")
    check(c.lo0("lf", 0, 0, 5) == (0, [0]), "v0 time 0: [0]")
    check(c.lo0("lf", 0, 1 << 50, 5) == (0, [11, 0]), "v0 time past all records: [11, 0]")
    check(c.lo0("lf", 0, -3, 5) == (0, []), "v0 time -3: []")
    check(c.lo0("lf", 0, -1, 0) == (0, []), "v0 MaxNumOffsets 0: []")
    check(c.create_topic("lfe", 1)[0] == 0, "create lfe")
    check(c.lo0("lfe", 0, -1, 1) == (0, [0]), "v0 latest of an empty partition: [0]")
    check(c.lo0("lfe", 0, -2, 5) == (0, [0]), "v0 earliest of an empty partition: [0]")
    check(c.lo0("nosuch", 0, -1, 1) == (UNKNOWN_TOPIC, []), "v0 unknown topic")
    check(c.lo0("lf", 7, -1, 1) == (UNKNOWN_TOPIC, []), "v0 unknown partition")
    # v1 is unchanged.
    r = c.ask(kwire.list_offsets_request, kwire.parse_list_offsets, 1, [("lf", [(0, -1)])])
    check(r[0][1][:3] == (0, -1, 11), "v1 latest still 11 (%r)" % (r,))


def keyed(c):
    """Topic lfk: keyed messages, plain and gzip, for the real clients."""
    check(c.create_topic("lfk", 1)[0] == 0, "create lfk")
    first = [(b"key-%d" % i, b"value-%d" % i, 7000 + i, [(b"h", b"1")]) for i in range(5)]
    second = [(b"key-%d" % i, b"value-%d" % i, 7000 + i, []) for i in range(5, 10)]
    produce(c, "lfk", 0, kwire.batch_v2_headers(first))
    produce(c, "lfk", 0, kwire.batch_v2_headers(second, codec=GZIP))
    return [(k, v) for k, v, _, _ in first + second]


# Run by a Python that has kafka-python (Debian's /usr/bin/python3 when the
# test's own interpreter lacks it): prints (offset, key, value, timestamp)
# per message read from lfk.
KAFKA_PYTHON_READ = """
import sys
from kafka import KafkaConsumer, TopicPartition
api = tuple(int(x) for x in sys.argv[2].split("."))
c = KafkaConsumer(bootstrap_servers=sys.argv[1], api_version=api, group_id=None,
                  enable_auto_commit=False, auto_offset_reset="earliest",
                  consumer_timeout_ms=5000)
tp = TopicPartition("lfk", 0)
c.assign([tp])
c.seek_to_beginning(tp)
n = 0
for m in c:
    print(repr((m.offset, m.key, m.value, m.timestamp)))
    n += 1
    if n == int(sys.argv[3]):
        break
c.close()
"""


def kafka_python_interpreter():
    for py in (sys.executable, "/usr/bin/python3"):
        if py and os.path.exists(py) and subprocess.run(
                [py, "-c", "import kafka"], capture_output=True).returncode == 0:
            return py
    return None


def kafka_python(b, want):
    import ast
    py = kafka_python_interpreter()
    if py is None:
        print("kafka-python missing: its part is skipped")
        return
    for api in ("0.9", "0.10.0"):
        out = subprocess.run([py, "-c", KAFKA_PYTHON_READ, "%s:%d" % (b.host, b.port), api,
                              str(len(want))], capture_output=True, timeout=60)
        got = [ast.literal_eval(line) for line in out.stdout.decode().splitlines()]
        ok = (out.returncode == 0 and [(k, v) for _, k, v, _ in got] == want and
              [o for o, _, _, _ in got] == list(range(len(want))))
        check(ok, "kafka-python api_version %s reads lfk back, keys and values (%d of %d)"
              % (api, len(got), len(want)))
        if not ok:
            print(out.stderr.decode()[-1500:])
        if api != "0.9":
            check([ts for _, _, _, ts in got] == [7000 + i for i in range(len(want))],
                  "kafka-python api_version %s sees the CreateTime timestamps" % api)


def kcat(b, want):
    if shutil.which("kcat") is None:
        print("kcat missing: its part is skipped")
        return
    for fallback in ("0.9.0", "0.8.2"):
        out = subprocess.run(
            ["kcat", "-C", "-b", "%s:%d" % (b.host, b.port), "-t", "lfk", "-p", "0",
             "-o", "beginning", "-e", "-f", "%o %k %s\\n", "-X", "api.version.request=false",
             "-X", "broker.version.fallback=" + fallback],
            capture_output=True, timeout=30)
        lines = out.stdout.decode().splitlines()
        exp = ["%d %s %s" % (i, k.decode(), v.decode()) for i, (k, v) in enumerate(want)]
        ok = out.returncode == 0 and lines == exp
        check(ok, "kcat with broker.version.fallback=%s reads lfk back" % fallback)
        if not ok:
            print(lines, out.stderr.decode()[-500:])


with Broker(exe, extra=["--smp", smp]) as b:
    c = Conn(b)
    guard("conversions", conversions, c)
    guard("limits", limits, c)
    guard("zstd_only", zstd_only, c)
    guard("list_offsets_v0", list_offsets_v0, c)
    want = keyed(c)
    c.close()
    guard("kafka_python", kafka_python, b, want)
    guard("kcat", kcat, b, want)
    code = b.stop()
    check(code == 0, "broker exits 0 (exit %s)" % code)
    check("runtime error" not in b.log_text(), "no sanitizer report")
    log = b.log_text()
finish(log)
