#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Produce v0, v1 and v2 with hand-built message sets of magic 0 and 1
(plain, and compressed wrappers in gzip, snappy and lz4, lz4 of magic 0 in
Kafka 0.8's framing), read back through Fetch as v2 batches: one batch per
set, keys, values, offsets, timestamps, codec kept or the topic's, and
LogAppendTime stamping. Then every refusal Kafka answers for a message
set, each on its own partition entry beside entries that succeed, and
acks 0 and 1. Runs on Debian's python3 for its snappy and lz4 modules; a
codec whose module is missing is skipped, gzip always runs."""
import gzip
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, failures, finish, guard  # noqa: E402
import kwire  # noqa: E402

exe, smp = args("2")

E_CORRUPT, E_TOO_LARGE, E_TIMESTAMP, E_INVALID_RECORD = 2, 10, 32, 87
NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4


def have(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


CODECS = [NONE, GZIP] + ([SNAPPY] if have("snappy") else []) + ([LZ4] if have("lz4.frame") else [])
if SNAPPY not in CODECS:
    print("skip: snappy cases (python3-snappy is not importable)")
if LZ4 not in CODECS:
    print("skip: lz4 cases (python3-lz4 is not importable)")


def now_ms():
    return int(time.time() * 1000)


class Client(kwire.Conn):
    def __init__(self, b):
        super().__init__(b, timeout=15)

    def create(self, name, parts, configs=()):
        return self.create_topic(name, parts, configs)[0]

    def produce(self, version, topics, acks=-1):
        if acks == 0:
            self.s.sendall(kwire.produce_request_legacy(self.next(), version, topics, acks=acks))
            return None
        return self.ask(kwire.produce_request_legacy, kwire.parse_produce_legacy, version,
                        topics, acks=acks)

    def produce1(self, version, topic, part, records, acks=-1):
        res = self.produce(version, [(topic, [(part, records)])], acks)
        return None if res is None else res[0]

    def batches(self, topic, part, offset=0):
        f = self.ask(kwire.fetch_request, kwire.parse_fetch, 11,
                     [(topic, [(part, offset, 8 << 20)])])
        p = f["topics"][0][1][0]
        return kwire.parse_batches(p["records"] or b"")


def sample(n, tag, ts):
    """n records with a null key in the second and a null value in the
    third, as old clients send them."""
    out = []
    for i in range(n):
        key = None if i == 1 else b"%s-k%d" % (tag.encode(), i)
        value = None if i == 2 else b"%s-v%d-" % (tag.encode(), i) + b"z" * (i * 7)
        out.append((key, value, ts + i))
    return out


def message_set(magic, codec, records, **kw):
    if codec == NONE:
        return kwire.legacy_set(magic, records)
    return kwire.legacy_wrapper(magic, codec, records, **kw)


def expect_batch(bt, base, records, magic, codec, what):
    """bt holds records at base.. with their keys, values and timestamps
    (none for magic 0), stored in codec, CreateTime, no producer id."""
    got = [(o, k, v, ts) for o, k, v, ts in bt.get("records", [])]
    want = [(base + i, k, v, ts if magic == 1 else -1) for i, (k, v, ts) in enumerate(records)]
    check(got == want, "%s: records read back (got %r, want %r)" % (what, got[:2], want[:2]))
    check(bt.get("codec") == codec and bt.get("crc_ok") and bt.get("attrs", 0) & 0x08 == 0,
          "%s: one CreateTime batch in codec %d with a good CRC (codec %r)" % (
              what, codec, bt.get("codec")))
    check(bt.get("pid") == -1 and bt.get("seq") == -1, "%s: no producer id" % what)
    max_ts = max(r[2] for r in records) if magic == 1 else -1
    check(bt.get("max_ts") == max_ts, "%s: max timestamp %d (got %r)" % (what, max_ts,
                                                                           bt.get("max_ts")))


def test_round_trip(b):
    """Every version, magic and codec: one v2 batch per set, read back."""
    c = Client(b)
    check(c.create("lp", 3) == 0, "create lp")
    expect = {0: 0, 1: 0, 2: 0}
    ts = now_ms() - 1000
    cases = []
    for version in (0, 1, 2):
        for magic in (0, 1):
            for codec in CODECS:
                part = (version + magic + codec) % 3
                recs = sample(4, "v%dm%dc%d" % (version, magic, codec), ts)
                what = "Produce v%d magic %d codec %d" % (version, magic, codec)
                r = c.produce1(version, "lp", part, message_set(magic, codec, recs))
                check(r[2] == 0 and r[3] == expect[part],
                      "%s: appended at %d (got %r)" % (what, expect[part], r))
                check(r[4] == (-1 if version >= 2 else None),
                      "%s: LogAppendTimeMs -1 from v2, absent before" % what)
                cases.append((part, expect[part], recs, magic, codec, what))
                expect[part] += len(recs)
    stored = {p: {bt["base"]: bt for bt in c.batches("lp", p)} for p in expect}
    for part, base, recs, magic, codec, what in cases:
        expect_batch(stored[part].get(base, {}), base, recs, magic, codec, what)
    c.close()


def test_wrapper_offsets(b):
    """Inner offsets as clients send them: magic 1 relative with the wrapper
    on the last one or on 0 (some librdkafka versions), magic 0 absolute
    from anywhere: the log assigns its own either way."""
    c = Client(b)
    check(c.create("lp-off", 1) == 0, "create lp-off")
    ts = now_ms()
    recs = sample(3, "off", ts)
    base = 0
    for magic, kw in ((1, {}), (1, {"wrapper_offset": 0}), (1, {"wrapper_offset": 1000}),
                      (0, {"inner": kwire.legacy_set(0, recs, first_offset=500),
                           "wrapper_offset": 502})):
        r = c.produce1(2, "lp-off", 0, message_set(magic, GZIP, recs, **kw))
        check(r[2] == 0 and r[3] == base, "magic %d wrapper %r: appended at %d (got %r)" % (
            magic, kw.get("wrapper_offset"), base, r))
        base += 3
    # A plain set's offsets are the client's guesses too.
    r = c.produce1(1, "lp-off", 0, kwire.legacy_set(0, recs, first_offset=77))
    check(r[2] == 0 and r[3] == base, "plain set from offset 77: appended at %d" % base)
    offsets = [rec[0] for bt in c.batches("lp-off", 0) for rec in bt["records"]]
    check(offsets == list(range(base + 3)), "offsets follow one another (%r)" % offsets)
    c.close()


def test_topic_config(b):
    """compression.type and message.timestamp.type of the topic apply to
    converted sets as to v2 batches."""
    c = Client(b)
    check(c.create("lp-lz4", 1, [("compression.type", "lz4")]) == 0, "create lp-lz4")
    check(c.create("lp-plain", 1, [("compression.type", "uncompressed")]) == 0,
          "create lp-plain")
    check(c.create("lp-lat", 1, [("message.timestamp.type", "LogAppendTime")]) == 0,
          "create lp-lat")
    ts = now_ms()
    recs = sample(5, "cfg", ts)
    r = c.produce1(0, "lp-lz4", 0, kwire.legacy_set(0, recs))
    bt = (c.batches("lp-lz4", 0) or [{}])[0]
    check(r[2] == 0 and bt.get("codec") == LZ4, "plain magic 0 set on an lz4 topic: stored lz4")
    r = c.produce1(2, "lp-plain", 0, kwire.legacy_wrapper(1, GZIP, recs))
    bt = (c.batches("lp-plain", 0) or [{}])[0]
    check(r[2] == 0, "gzip wrapper on an uncompressed topic accepted")
    expect_batch(bt, 0, recs, 1, NONE, "gzip wrapper on an uncompressed topic")
    before = now_ms()
    r = c.produce1(2, "lp-lat", 0, kwire.legacy_wrapper(1, GZIP, sample(3, "lat", 1000)))
    after = now_ms()
    check(r[2] == 0 and before - 5000 <= r[4] <= after + 5000,
          "LogAppendTime topic: v2 answers the broker's time (%r)" % (r,))
    bt = (c.batches("lp-lat", 0) or [{}])[0]
    check(bt.get("attrs", 0) & 0x08 and bt.get("max_ts") == r[4] and bt.get("crc_ok"),
          "LogAppendTime topic: the stored batch is stamped with that time")
    r = c.produce1(1, "lp-lat", 0, kwire.legacy_set(0, sample(2, "lat0", 0)))
    check(r[2] == 0 and r[3] == 3 and r[4] is None, "LogAppendTime topic: v1 of magic 0 (%r)" %
          (r,))
    c.close()


def test_refusals(b):
    """Each refusal on its own partition entry, the good entries beside
    them appended."""
    c = Client(b)
    check(c.create("lp-err", 2, [("max.message.bytes", "3000"),
                                 ("message.timestamp.before.max.ms", "3600000")]) == 0,
          "create lp-err")
    check(c.create("lp-cmp", 1, [("cleanup.policy", "compact")]) == 0, "create lp-cmp")
    ts = now_ms()
    good = kwire.legacy_set(1, sample(2, "good", ts))
    bad_crc = bytearray(good)
    bad_crc[20] ^= 0x01
    inner_bad = bytearray(kwire.legacy_set(1, sample(2, "ib", ts)))
    inner_bad[-1] ^= 0x01
    nested = kwire.legacy_wrapper(1, GZIP, [(None, b"x", ts)],
                                  inner=kwire.legacy_wrapper(1, GZIP, sample(2, "n", ts)))
    corrupt_gzip = kwire.legacy_message(1, None, b"\x1f\x8b" + b"garbage" * 5, ts, 0, GZIP)
    zstd = kwire.legacy_message(1, None, b"\x28\xb5\x2f\xfd" + b"\0" * 8, ts, 0, ZSTD)
    null_wrapper = kwire.legacy_message(1, None, None, ts, 0, GZIP)
    empty_wrapper = kwire.legacy_message(1, None, gzip.compress(b""), ts, 0, GZIP)
    mixed = kwire.legacy_set(0, sample(1, "m0", ts)) + kwire.legacy_set(1, sample(1, "m1", ts))
    not_alone = kwire.legacy_wrapper(1, GZIP, sample(2, "na", ts)) + good
    big = kwire.legacy_set(1, [(None, b"x" * 3100, ts)])
    many = kwire.legacy_set(1, [(None, b"y" * 900, ts)] * 4)
    past = kwire.legacy_set(1, [(b"k", b"old", ts - 7200 * 1000)])
    lat_no_ts = kwire.legacy_message(1, b"k", b"v", -1, 0, 0x08)
    bomb = kwire.legacy_message(1, None, gzip.compress(b"\0" * (17 << 20)), ts, 0, GZIP)
    wrapper_off = kwire.legacy_wrapper(1, GZIP, sample(3, "wo", ts), wrapper_offset=1)
    cases = [
        (0, good, 0, "good"),
        (0, bytes(bad_crc), E_CORRUPT, "bad CRC"),
        (0, good[:-3], E_CORRUPT, "truncated"),
        (0, good[:10], E_CORRUPT, "truncated in the offset and size"),
        (0, kwire.legacy_wrapper(1, GZIP, sample(2, "ib", ts), inner=bytes(inner_bad)), E_CORRUPT,
         "bad inner CRC"),
        (0, corrupt_gzip, E_CORRUPT, "undecodable gzip"),
        (0, b"", E_INVALID_RECORD, "empty set"),
        (0, None, E_INVALID_RECORD, "null records"),
        (0, nested, E_INVALID_RECORD, "wrapper inside a wrapper"),
        (0, zstd, E_INVALID_RECORD, "zstd wrapper"),
        (0, null_wrapper, E_INVALID_RECORD, "wrapper with a null value"),
        (0, empty_wrapper, E_INVALID_RECORD, "wrapper with no inner message"),
        (0, mixed, E_INVALID_RECORD, "magic 0 and 1 mixed"),
        (0, not_alone, E_INVALID_RECORD, "wrapper beside another message"),
        (0, wrapper_off, E_INVALID_RECORD, "magic 1 wrapper offset below its last inner one"),
        (0, big, E_TOO_LARGE, "message larger than max.message.bytes"),
        (0, many, E_TOO_LARGE, "set larger than max.message.bytes as a batch"),
        (0, bomb, E_TOO_LARGE, "wrapper expanding past the bound"),
        (0, past, E_TIMESTAMP, "timestamp before the allowed skew"),
        (0, lat_no_ts, E_TIMESTAMP, "LogAppendTime type without a timestamp"),
        (1, good, 0, "good on partition 1"),
    ]
    for version in (0, 2):
        res = c.produce(version, [("lp-err", [(p, recs) for p, recs, _, _ in cases])])
        for (p, _, want, what), r in zip(cases, res):
            check(r[1] == p and r[2] == want,
                  "v%d %s: error %d (got %r)" % (version, what, want, r[:4]))
            if want != 0:
                check(r[3] == -1, "v%d %s: offset -1" % (version, what))
        check(len(res) == len(cases), "v%d: one answer per entry" % version)
    check([rec[0] for bt in c.batches("lp-err", 0) for rec in bt["records"]] == [0, 1, 2, 3],
          "only the good sets are in partition 0's log")
    # A v2 batch on Produce v2 is taken as Kafka takes it; a v2-era check
    # still applies to it.
    v2 = kwire.batch_v2([(b"k", b"magic2", ts)])
    r = c.produce1(2, "lp-err", 1, v2)
    check(r[2] == 0 and r[3] == 4, "magic 2 batch on Produce v2 appended (%r)" % (r,))
    res = c.produce(1, [("lp-cmp", [(0, kwire.legacy_set(0, [(None, b"v", -1)])),
                                    (0, kwire.legacy_wrapper(1, GZIP, [(b"k", b"v", ts),
                                                                       (None, b"v", ts)])),
                                    (0, kwire.legacy_set(0, [(b"k", None, -1)]))])])
    check([r[2] for r in res] == [E_INVALID_RECORD, E_INVALID_RECORD, 0],
          "compacted topic: a message without a key refused, a tombstone taken (%r)" % res)
    c.close()


def test_acks(b):
    c = Client(b)
    check(c.create("lp-acks", 1) == 0, "create lp-acks")
    ts = now_ms()
    r = c.produce1(0, "lp-acks", 0, kwire.legacy_set(0, sample(2, "a1", ts)), acks=1)
    check(r[2] == 0 and r[3] == 0, "acks=1: appended at 0")
    c.produce1(0, "lp-acks", 0, kwire.legacy_wrapper(0, GZIP, sample(3, "a0", ts)), acks=0)
    r = c.produce1(1, "lp-acks", 0, kwire.legacy_set(1, sample(1, "after", ts)))
    check(r[2] == 0 and r[3] == 5, "acks=0 set appended before the next request's (%r)" % (r,))
    c.produce1(0, "lp-acks", 0, b"\0" * 40, acks=0)
    check(kwire.is_closed(c.s, 5.0), "acks=0 with a corrupt set closes the connection")
    c.close()


with Broker(exe, extra=["--smp", smp]) as b:
    for t in (test_round_trip, test_wrapper_offsets, test_topic_config, test_refusals,
              test_acks):
        guard(t.__name__, t, b)
    rc = b.stop()
    check(rc == 0, "broker exits 0 on SIGTERM (rc %r)" % rc)
    if failures:
        print(b.log_text()[-4000:])

finish()
