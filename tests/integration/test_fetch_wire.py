#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""Fetch with hand-built requests: offsets in and out of range, the byte
limits and KIP-74's first-batch rule, leader epochs, long polls woken by an
append and long polls that time out, fetch sessions (KIP-227: created,
incremental, forgotten partitions, epochs, closing, eviction) and fetches by
topic id (v13+)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish  # noqa: E402
import kwire  # noqa: E402

exe, smp = args("1")

NONE, OUT_OF_RANGE, UNKNOWN_TOPIC = 0, 1, 3
SESSION_NOT_FOUND, SESSION_EPOCH, UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_ID = 70, 71, 75, 100


class Conn(kwire.Conn):
    def fetch(self, version, topics, **kw):
        return self.ask(kwire.fetch_request, kwire.parse_fetch, version, topics, **kw)


def one(resp):
    """The only partition of a fetch response."""
    parts = [p for _, ps in resp["topics"] for p in ps]
    assert len(parts) == 1, resp
    return parts[0]


def listed(resp):
    return sorted(p["partition"] for _, ps in resp["topics"] for p in ps)


def recs(n, value=b"v", ts=1000, key=b"k"):
    return [(key + b"%d" % i, value + b"%d" % i, ts + i) for i in range(n)]


def create(c, name, parts):
    err, tid = c.create_topic(name, parts)
    check(err == 0, "create topic %s" % name)
    return tid


def run(b):
    c = Conn(b)
    T = "ft"
    tid = create(c, T, 3)
    # p0: three batches of 5 records; p1: one large batch; p2: empty.
    batches = [kwire.batch_v2(recs(5, ts=1000 * (i + 1), value=b"b%d-" % i)) for i in range(3)]
    for bt in batches:
        check(c.produce_v7(T, {0: bt}).get(0, (-1,))[0] == 0, "produce a batch to p0")
    big = kwire.batch_v2([(b"big", b"x" * 100000, 5000)])
    check(c.produce_v7(T, {1: big}).get(1, (-1,))[0] == 0, "produce a 100 kB batch to p1")

    # Plain reads at v4 and v11.
    for v in (4, 11, 12):
        p = one(c.fetch(v, [(T, [(0, 0, 1 << 20)])]))
        got = kwire.parse_records(p["records"])
        check(p["error"] == 0 and p["hw"] == 15 and p["lso"] == 15 and len(got) == 15 and
              got[0][0] == 0 and got[-1][0] == 14 and got[5][2] == b"b1-0",
              "v%d fetch from 0 returns the 15 records, hw=lso=15" % v)
        if v >= 5:
            check(p["log_start"] == 0, "v%d log start 0" % v)
        check(p["aborted"] is None and p["preferred"] == -1, "v%d no aborted txns, no replica" % v)
    p = one(c.fetch(11, [(T, [(0, 7, 1 << 20)])]))
    got = kwire.parse_records(p["records"])
    check(got and got[0][0] == 5 and got[-1][0] == 14, "fetch from 7 starts at its batch (5)")
    p = one(c.fetch(11, [(T, [(0, 0, 1 << 20)])], isolation=1))
    check(p["error"] == 0 and p["aborted"] == [] and len(kwire.parse_records(p["records"])) == 15,
          "read_committed reads to the LSO, aborted list empty")
    p = one(c.fetch(11, [(T, [(0, 15, 1 << 20)])]))
    check(p["error"] == 0 and p["records"] in (b"", None) and p["hw"] == 15, "fetch at the end: empty")
    for off in (16, 1000, -1):
        p = one(c.fetch(11, [(T, [(0, off, 1 << 20)])]))
        check(p["error"] == OUT_OF_RANGE and p["hw"] == -1, "offset %d: OFFSET_OUT_OF_RANGE" % off)
    p = one(c.fetch(11, [("nope", [(0, 0, 1 << 20)])]))
    check(p["error"] == UNKNOWN_TOPIC, "unknown topic: UNKNOWN_TOPIC_OR_PARTITION")
    p = one(c.fetch(11, [(T, [(9, 0, 1 << 20)])]))
    check(p["error"] == UNKNOWN_TOPIC, "unknown partition: UNKNOWN_TOPIC_OR_PARTITION")
    p = one(c.fetch(11, [(T, [(0, 0, 1 << 20, 1000)])]))
    check(p["error"] == UNKNOWN_LEADER_EPOCH, "leader epoch from the future: UNKNOWN_LEADER_EPOCH")
    p = one(c.fetch(11, [(T, [(0, 0, 1 << 20, -1)])]))
    check(p["error"] == 0, "leader epoch -1 is not checked")

    # Byte limits (KIP-74).
    b0 = len(batches[0])
    p = one(c.fetch(11, [(T, [(0, 0, 10)])]))
    check(len(kwire.parse_records(p["records"])) == 5, "partition_max_bytes 10: still the first batch")
    p = one(c.fetch(11, [(T, [(0, 0, 2 * b0)])]))
    check(len(kwire.parse_records(p["records"])) == 10, "partition_max_bytes of two batches: two")
    r = c.fetch(11, [(T, [(1, 0, 1 << 20), (0, 0, 1 << 20)])], max_bytes=10)
    ps = {p["partition"]: p for _, pp in r["topics"] for p in pp}
    check(len(ps[1]["records"]) == len(big) and ps[0]["records"] in (b"", None),
          "max_bytes 10: the first partition's batch whole, nothing for the next")
    r = c.fetch(11, [(T, [(0, 0, 1 << 20), (1, 0, 1 << 20)])], max_bytes=3 * b0 + 100)
    ps = {p["partition"]: p for _, pp in r["topics"] for p in pp}
    check(len(kwire.parse_records(ps[0]["records"])) == 15 and ps[1]["records"] in (b"", None),
          "max_bytes spent by p0: p1's large batch left out")
    r = c.fetch(11, [(T, [(0, 0, b0), (1, 0, 1 << 20)])], max_bytes=b0 + len(big))
    ps = {p["partition"]: p for _, pp in r["topics"] for p in pp}
    check(len(kwire.parse_records(ps[0]["records"])) == 5 and len(ps[1]["records"]) == len(big),
          "max_bytes shared in request order")

    # Long polls.
    p = one(c.fetch(11, [(T, [(2, 0, 1 << 20)])], max_wait=300, min_bytes=1))
    check(p["error"] == 0 and p["records"] in (b"", None), "long poll times out empty")
    p = one(c.fetch(11, [(T, [(0, 0, 1 << 20)])], max_wait=300, min_bytes=1 << 20))
    check(len(kwire.parse_records(p["records"])) == 15, "min_bytes not reached: answered at max_wait")
    result = {}

    def poll():
        c2 = Conn(b)
        t0 = time.time()
        result["resp"] = c2.fetch(11, [(T, [(1, 1, 1 << 20), (2, 0, 1 << 20)])], max_wait=30000,
                                  min_bytes=1)
        result["took"] = time.time() - t0
        c2.close()

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    check(c.produce_v7(T, {2: kwire.batch_v2(recs(3, ts=7000))}).get(2, (-1,))[0] == 0,
          "append while a fetch waits")
    th.join(40)
    r = result.get("resp")
    got = [] if r is None else [x for _, ps in r["topics"] for x in ps if x["partition"] == 2]
    check(r is not None and got and len(kwire.parse_records(got[0]["records"])) == 3,
          "long poll answered with the appended records")
    check(result.get("took", 99) < 25, "long poll woken by the append, not by its 30 s timeout")
    # A connection closed while its fetch waits.
    s = kwire.connect(b)
    s.sendall(kwire.fetch_request(1, 11, [(T, [(2, 3, 1 << 20)])], max_wait=400, min_bytes=1))
    time.sleep(0.1)
    s.close()
    time.sleep(0.6)

    # Fetch by topic id (v13+).
    for v in (13, 16, 17):
        r = c.fetch(v, [(tid, [(0, 0, 1 << 20)])])
        p = one(r)
        check(r["topics"][0][0] == tid and p["error"] == 0 and
              len(kwire.parse_records(p["records"])) == 15, "v%d fetch by topic id" % v)
    p = one(c.fetch(13, [(b"\x01" * 16, [(0, 0, 1 << 20)])]))
    check(p["error"] == UNKNOWN_TOPIC_ID, "v13 unknown topic id: UNKNOWN_TOPIC_ID")

    sessions(b, c, T, tid)
    c.close()


def sessions(b, c, T, tid):
    # Full fetch with epoch 0 opens a session; offsets at the end: nothing new.
    r = c.fetch(11, [(T, [(0, 15, 1 << 20), (1, 1, 1 << 20)])], session_id=0, session_epoch=0)
    sid = r["session"]
    check(r["error"] == 0 and sid > 0 and listed(r) == [0, 1], "epoch 0 opens a session, full answer")
    r = c.fetch(11, [], session_id=sid, session_epoch=1)
    check(r["error"] == 0 and r["session"] == sid and listed(r) == [], "incremental: no changes")
    c.produce_v7(T, {1: kwire.batch_v2(recs(2, ts=8000))})
    r = c.fetch(11, [], session_id=sid, session_epoch=2)
    check(listed(r) == [1] and len(kwire.parse_records(one(r)["records"])) == 2,
          "incremental: only the partition with new records")
    r = c.fetch(11, [(T, [(1, 3, 1 << 20)])], session_id=sid, session_epoch=3)
    check(listed(r) == [], "incremental: offset moved to the end, nothing listed")
    r = c.fetch(11, [], session_id=sid, session_epoch=4, forgotten=[(T, [1])])
    check(r["error"] == 0 and listed(r) == [], "incremental: forget p1")
    c.produce_v7(T, {1: kwire.batch_v2(recs(1, ts=9000))})
    r = c.fetch(11, [], session_id=sid, session_epoch=5)
    check(listed(r) == [], "forgotten partition no longer reported")
    r = c.fetch(11, [(T, [(2, 0, 1 << 20)])], session_id=sid, session_epoch=6)
    check(listed(r) == [2], "incremental: an added partition is reported")
    r = c.fetch(11, [], session_id=sid, session_epoch=99)
    check(r["error"] == SESSION_EPOCH and r["topics"] == [], "wrong epoch: INVALID_FETCH_SESSION_EPOCH")
    r = c.fetch(11, [], session_id=sid, session_epoch=7)
    check(r["error"] == 0 and r["session"] == sid, "right epoch still works after a wrong one")
    r = c.fetch(11, [], session_id=sid + 1000, session_epoch=1)
    check(r["error"] == SESSION_NOT_FOUND, "unknown session: FETCH_SESSION_ID_NOT_FOUND")
    r = c.fetch(11, [(T, [(0, 0, 1 << 20)])], session_id=sid, session_epoch=-1)
    check(r["error"] == 0 and r["session"] == 0 and listed(r) == [0], "epoch -1 closes: sessionless")
    r = c.fetch(11, [], session_id=sid, session_epoch=8)
    check(r["error"] == SESSION_NOT_FOUND, "closed session: FETCH_SESSION_ID_NOT_FOUND")
    # The long poll of an incremental fetch: answered when the wait ends, nothing new.
    r = c.fetch(11, [(T, [(0, 15, 1 << 20)])], session_id=0, session_epoch=0)
    sid = r["session"]
    t0 = time.time()
    r = c.fetch(11, [], session_id=sid, session_epoch=1, max_wait=300)
    check(r["error"] == 0 and listed(r) == [] and time.time() - t0 >= 0.2,
          "incremental long poll with nothing new waits")
    # By topic id (v13).
    r = c.fetch(13, [(tid, [(0, 15, 1 << 20)])], session_id=0, session_epoch=0)
    sid = r["session"]
    check(sid > 0 and r["topics"][0][0] == tid, "v13 session by topic id")
    c.produce_v7(T, {0: kwire.batch_v2(recs(1, ts=9500))})
    r = c.fetch(13, [], session_id=sid, session_epoch=1)
    check(listed(r) == [0] and r["topics"][0][0] == tid, "v13 incremental lists the new record")
    r = c.fetch(11, [], session_id=sid, session_epoch=2)
    check(r["error"] != 0, "a by-id session refuses a by-name fetch")


def eviction(b):
    c = Conn(b)
    T = "ev"
    create(c, T, 1)
    r1 = c.fetch(11, [(T, [(0, 0, 1 << 20)])], session_id=0, session_epoch=0)
    r2 = c.fetch(11, [(T, [(0, 0, 1 << 20)])], session_id=0, session_epoch=0)
    check(r1["session"] > 0 and r2["session"] > 0 and r1["session"] != r2["session"],
          "two sessions opened")
    r = c.fetch(11, [], session_id=r1["session"], session_epoch=1)
    check(r["error"] == SESSION_NOT_FOUND, "one slot: the older session was evicted")
    r = c.fetch(11, [], session_id=r2["session"], session_epoch=1)
    check(r["error"] == 0, "the newer session lives")
    c.close()


with Broker(exe, extra=["--smp", smp]) as b:
    run(b)
    code = b.stop()
    check(code == 0, "broker exits 0 (exit %s)" % code)
    check("runtime error" not in b.log_text(), "no sanitizer report")
with Broker(exe, extra=["--smp", smp, "--set",
                        "max.incremental.fetch.session.cache.slots=%s" % smp]) as b:
    eviction(b)
    code = b.stop()
    check(code == 0, "broker exits 0 (exit %s)" % code)
    check("runtime error" not in b.log_text(), "no sanitizer report")
finish()
