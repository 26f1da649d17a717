#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Produce with hand-built requests: offsets under acks 0, 1 and all at
several versions, every per-partition error Kafka answers (unknown topic or
partition, bad CRC, too large, bad timestamp, several batches, old magic,
transactional and control batches, invalid acks), acks=0 errors closing the
connection, LogAppendTime stamping, compression.type recompression read
back through Fetch, and pipelined produce answered and appended in order."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, failures, finish, guard  # noqa: E402
import kwire  # noqa: E402

exe, smp = args("2")

E_CORRUPT, E_UNKNOWN, E_TOO_LARGE, E_ACKS, E_TIMESTAMP = 2, 3, 10, 21, 32
E_TXN_STATE, E_ZSTD, E_INVALID_RECORD = 48, 76, 87


class Client(kwire.Conn):
    def __init__(self, b):
        super().__init__(b, timeout=15)

    def create(self, name, parts, configs=()):
        return self.create_topic(name, parts, configs)[0]

    def produce(self, version, topics, acks=-1, **kw):
        if acks == 0:
            self.s.sendall(kwire.produce_request(self.next(), version, topics, acks=acks, **kw))
            return None
        return self.ask(kwire.produce_request, kwire.parse_produce, version, topics, acks=acks,
                        **kw)

    def produce1(self, topic, part, batch, version=9, acks=-1):
        return self.produce(version, [(topic, [(part, batch)])], acks=acks)[0]

    def fetch(self, topic, part, offset=0):
        f = self.ask(kwire.fetch_request, kwire.parse_fetch, 11,
                     [(topic, [(part, offset, 1 << 20)])])
        p = f["topics"][0][1][0]
        return p, kwire.parse_batches(p["records"] or b"")


def now_ms():
    return int(time.time() * 1000)


def recs(n, tag, ts=None):
    ts = now_ms() if ts is None else ts
    return [(b"k%d" % i, b"%s-%d" % (tag.encode(), i), ts) for i in range(n)]


def test_offsets(b):
    c = Client(b)
    check(c.create("offs", 2) == 0, "create offs")
    expect = 0
    for version in (3, 5, 7, 8, 9, 11):
        for acks in (1, -1):
            r = c.produce1("offs", 0, kwire.batch_v2(recs(3, "v%d" % version)), version, acks)
            check(r[2] == 0 and r[3] == expect,
                  "v%d acks=%d: base offset %d (got %r)" % (version, acks, expect, r))
            if version >= 5:
                check(r[5] == 0, "v%d: log start offset 0" % version)
            check(r[4] == -1, "v%d: LogAppendTimeMs -1 for CreateTime" % version)
            expect += 3
    # acks=0: nothing comes back, but the batch is appended: the next one follows it.
    c.produce(9, [("offs", [(0, kwire.batch_v2(recs(2, "zero")))])], acks=0)
    r = c.produce1("offs", 0, kwire.batch_v2(recs(1, "after-zero")))
    check(r[2] == 0 and r[3] == expect + 2, "acks=0 appended before the next request's batch")
    r = c.produce1("offs", 1, kwire.batch_v2(recs(1, "p1")))
    check(r[2] == 0 and r[3] == 0, "partition 1 has its own offsets")
    p, batches = c.fetch("offs", 0)
    values = [rec[2] for bt in batches for rec in bt["records"]]
    check(p["error"] == 0 and values[:3] == [b"v3-0", b"v3-1", b"v3-2"],
          "fetch reads the produced records back")
    check(all(bt["crc_ok"] for bt in batches), "stored batches keep valid CRCs")
    c.close()


def test_errors(b):
    c = Client(b)
    check(c.create("errs", 1, [("max.message.bytes", "2000"),
                               ("message.timestamp.after.max.ms", "60000"),
                               ("message.timestamp.before.max.ms", "3600000")]) == 0,
          "create errs")
    good = kwire.batch_v2(recs(1, "good"))
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0xFF
    big = kwire.batch_v2([(None, b"x" * 3000, now_ms())])
    future = kwire.batch_v2(recs(1, "future", now_ms() + 3600 * 1000))
    past = kwire.batch_v2(recs(1, "past", now_ms() - 7200 * 1000))
    two = good + good
    magic1 = kwire.batch_v2(recs(1, "m1"), magic=1)
    txn = kwire.batch_v2(recs(1, "txn"), attrs=0x10, producer_id=5, producer_epoch=0, base_seq=0)
    control = kwire.batch_v2(recs(1, "ctl"), attrs=0x20)
    offset7 = kwire.batch_v2(recs(1, "off"), base_offset=7)
    truncated = good[:40]
    res = c.produce(9, [("errs", [(0, good), (1, good), (-1, good), (0, bytes(bad_crc)),
                                  (0, big), (0, future), (0, past), (0, two), (0, magic1),
                                  (0, txn), (0, control), (0, offset7), (0, truncated),
                                  (0, None)]),
                        ("nosuch", [(0, good)])])
    errs = [r[2] for r in res]
    want = [0, E_UNKNOWN, E_UNKNOWN, E_CORRUPT, E_TOO_LARGE, E_TIMESTAMP, E_TIMESTAMP,
            E_INVALID_RECORD, E_INVALID_RECORD, E_TXN_STATE, E_INVALID_RECORD, E_INVALID_RECORD,
            E_CORRUPT, E_INVALID_RECORD, E_UNKNOWN]
    check(errs == want, "per-partition errors %r (want %r)" % (errs, want))
    check(all(r[6] for r in res if r[2] != 0), "v9 errors carry an ErrorMessage")
    check(all(r[3] == -1 for r in res if r[2] != 0), "failed partitions answer offset -1")
    check(res[0][3] == 0, "the good batch beside the bad ones is appended at 0")
    t = now_ms()
    hidden = [(None, b"a", t), (None, b"old", t - 7200 * 1000), (None, b"c", t)]
    for codec in (0, 1):
        check(c.produce1("errs", 0, kwire.batch_v2(hidden, codec=codec))[2] == E_TIMESTAMP,
              "codec %d: one record too old inside a batch: INVALID_TIMESTAMP" % codec)
    # zstd needs v7.
    z = kwire.batch_v2(recs(1, "z"), codec=4)
    check(c.produce1("errs", 0, z, version=5)[2] == E_ZSTD, "zstd before v7: "
          "UNSUPPORTED_COMPRESSION_TYPE")
    check(c.produce1("errs", 0, z, version=7)[2] == 0, "zstd at v7 is accepted")
    check(c.produce(9, []) == [] and c.produce(3, [("errs", [])]) == [],
          "a request without partitions gets an empty answer")
    res = c.produce(9, [("errs", [(0, good)])], acks=2)
    check(res[0][2] == E_ACKS, "acks=2: INVALID_REQUIRED_ACKS")
    p, batches = c.fetch("errs", 0)
    check([bt["base"] for bt in batches] == [0, 1], "only the good batches are in the log")
    check(c.create("cmp", 1, [("cleanup.policy", "compact")]) == 0, "create cmp")
    keyless = [(b"k", b"a", now_ms()), (None, b"b", now_ms())]
    for codec in (0, 1):
        check(c.produce1("cmp", 0, kwire.batch_v2(keyless, codec=codec))[2] == E_INVALID_RECORD,
              "compacted topic, codec %d: a record without a key is INVALID_RECORD" % codec)
    check(c.produce1("cmp", 0, kwire.batch_v2(recs(2, "keyed"), codec=1))[2] == 0,
          "compacted topic: keyed records are accepted")
    c.close()


def test_acks0_close(b):
    c = Client(b)
    check(c.create("zero", 1) == 0, "create zero")
    c.produce(9, [("zero", [(0, kwire.batch_v2(recs(1, "ok")))])], acks=0)
    r = c.produce1("zero", 0, kwire.batch_v2(recs(1, "next")))
    check(r[2] == 0 and r[3] == 1, "acks=0 success keeps the connection")
    c.produce(9, [("zero", [(3, kwire.batch_v2(recs(1, "bad")))])], acks=0)
    check(kwire.is_closed(c.s, 5.0), "acks=0 to a nonexistent partition closes the connection")
    c.close()
    c = Client(b)
    bad = bytearray(kwire.batch_v2(recs(1, "crc")))
    bad[-1] ^= 1
    c.produce(9, [("zero", [(0, bytes(bad))])], acks=0)
    check(kwire.is_closed(c.s, 5.0), "acks=0 with a bad CRC closes the connection")
    c.close()


def test_log_append_time(b):
    c = Client(b)
    check(c.create("lat", 1, [("message.timestamp.type", "LogAppendTime")]) == 0, "create lat")
    before = now_ms()
    r = c.produce1("lat", 0, kwire.batch_v2(recs(2, "lat", ts=1000)))
    after = now_ms()
    check(r[2] == 0 and before - 5000 <= r[4] <= after + 5000,
          "LogAppendTimeMs is the broker's time (%r)" % (r,))
    p, batches = c.fetch("lat", 0)
    bt = batches[0] if batches else {}
    check(bt.get("attrs", 0) & 0x08 and bt.get("max_ts") == r[4] and bt.get("crc_ok"),
          "the stored batch says LogAppendTime, with that max timestamp and a good CRC")
    # An old CreateTime is no error on a LogAppendTime topic.
    c.close()


def test_recompress(b):
    c = Client(b)
    check(c.create("tozstd", 1, [("compression.type", "zstd")]) == 0, "create tozstd")
    check(c.create("toplain", 1, [("compression.type", "uncompressed")]) == 0, "create toplain")
    check(c.create("keep", 1, [("compression.type", "producer")]) == 0, "create keep")
    data = [(b"k%d" % i, b"value-%d-" % i + b"y" * 100, now_ms()) for i in range(50)]
    for topic, want in (("tozstd", 4), ("toplain", 0), ("keep", 1)):
        r = c.produce1(topic, 0, kwire.batch_v2(data, codec=1))
        check(r[2] == 0, "%s: gzip batch accepted" % topic)
        p, batches = c.fetch(topic, 0)
        bt = batches[0] if batches else {}
        check(bt.get("codec") == want, "%s: stored with codec %d (got %r)" % (topic, want,
                                                                                bt.get("codec")))
        got = [(k, v) for _, k, v, _ in bt.get("records", [])]
        check(got == [(k, v) for k, v, _ in data] and bt.get("crc_ok"),
              "%s: records read back intact" % topic)
    c.close()


def test_pipelined(b):
    c = Client(b)
    check(c.create("pipe", 3) == 0, "create pipe")
    n = 150
    frames = []
    for i in range(n):
        part = i % 3
        frames.append(kwire.produce_request(1000 + i, 7, [("pipe", [(part, kwire.batch_v2(
            [(None, b"%d" % i, now_ms())]))])], acks=1 if i % 2 else -1))
    c.s.sendall(b"".join(frames))
    offsets = {0: [], 1: [], 2: []}
    corrs = []
    for i in range(n):
        frame = kwire.read_frame(c.s)
        corrs.append(kwire.corr_of(frame))
        (_, part, err, base, _, _, _), = kwire.parse_produce(frame, 7)
        offsets[part].append(base if err == 0 else None)
    check(corrs == [1000 + i for i in range(n)], "pipelined responses come in request order")
    check(all(offsets[p] == list(range(n // 3)) for p in offsets),
          "each partition's offsets follow request order")
    r = c.produce1("pipe", 0, kwire.batch_v2([(None, b"last", now_ms())]))
    p, batches = c.fetch("pipe", 0)
    values = [rec[2] for bt in batches for rec in bt["records"]]
    check(values[:n // 3] == [b"%d" % i for i in range(0, n, 3)],
          "the log holds partition 0's batches in request order")
    c.close()


def test_delete_while_producing(b):
    """A topic deleted under pipelined produce: every request is answered
    (appended, or a partition error), and the broker carries on."""
    from confluent_kafka.admin import AdminClient
    c = Client(b)
    check(c.create("gone", 3) == 0, "create gone")
    n = 120
    frames = [kwire.produce_request(5000 + i, 9, [("gone", [(i % 3, kwire.batch_v2(
        [(None, b"x" * 2000, now_ms())]))])]) for i in range(n)]
    c.s.sendall(b"".join(frames[:n // 2]))
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    fut = admin.delete_topics(["gone"], operation_timeout=20)["gone"]
    c.s.sendall(b"".join(frames[n // 2:]))
    errs = set()
    for _ in range(n):
        (_, _, err, _, _, _, _), = kwire.parse_produce(kwire.read_frame(c.s), 9)
        errs.add(err)
    fut.result(30)
    check(errs <= {0, E_UNKNOWN, 6}, "answers while deleting: %r" % errs)
    check(c.create("after", 1) == 0 and c.produce1("after", 0, kwire.batch_v2(
        recs(1, "after")))[2] == 0, "the broker produces on after the deletion")
    c.close()


def test_backlog():
    """A 1 MiB write-behind budget: appends wait for buffer space, in order."""
    with Broker(exe, extra=["--smp", smp, "--set", "log.write.buffer.bytes=1048576",
                            "--set", "logger.level=debug"]) as b2:
        c = Client(b2)
        check(c.create("bl", 2) == 0, "backlog: create")
        n = 60
        frames = [kwire.produce_request(7000 + i, 9, [("bl", [(i % 2, kwire.batch_v2(
            [(None, b"%04d" % i + b"z" * 100000, now_ms())]))])], acks=1 if i % 3 else -1)
            for i in range(n)]
        c.s.sendall(b"".join(frames))
        got = {0: [], 1: []}
        for i in range(n):
            (_, part, err, base, _, _, _), = kwire.parse_produce(kwire.read_frame(c.s), 9)
            got[part].append(base if err == 0 else ("err", err))
        check(got[0] == list(range(n // 2)) and got[1] == list(range(n // 2)),
              "backlog: every append in order (%r)" % got)
        c.produce1("bl", 0, kwire.batch_v2(recs(1, "flush")))
        out, offset = [], 0
        while len(out) < n // 2:
            p, batches = c.fetch("bl", 0, offset)
            if not batches:
                break
            out += [rec[2][:4] for bt in batches for rec in bt["records"]]
            offset = batches[-1]["last"] + 1
        check(out[:n // 2] == [b"%04d" % i for i in range(0, n, 2)],
              "backlog: the log holds them in request order")
        c.close()
        waits = sum("waits for write-buffer" in ln for ln in b2.log_text().splitlines())
        check(waits > 0, "backlog: appends did wait for buffer space (%d times)" % waits)
        rc = b2.stop()
        check(rc == 0, "backlog: broker exits 0 (rc %r)" % rc)


with Broker(exe, extra=["--smp", smp]) as b:
    for t in (test_offsets, test_errors, test_acks0_close, test_log_append_time, test_recompress,
              test_pipelined, test_delete_while_producing):
        guard(t.__name__, t, b)
    rc = b.stop()
    check(rc == 0, "broker exits 0 on SIGTERM (rc %r)" % rc)
    if failures:
        print(b.log_text()[-4000:])

guard("test_backlog", test_backlog)

finish()
