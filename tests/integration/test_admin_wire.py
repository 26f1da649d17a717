#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""The admin APIs with hand-built requests, checked field by field:
OffsetForLeaderEpoch (every version, across restarts, against a model of
Kafka's leader-epoch cache), DescribeTopicPartitions (pagination with the
cursor over several topics, named and unknown topics), DeleteRecords (then
ListOffsets earliest, Fetch below the new start, a clean restart and a
kill -9), DescribeLogDirs, DescribeCluster, ElectLeaders and
DescribeProducers after an idempotent produce."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, guard, restart_same_port  # noqa: E402
import kwire  # noqa: E402

exe, smp = args("1")
NONE, OUT_OF_RANGE, UNKNOWN_TOPIC, INVALID_TOPIC, INVALID_REQUEST = 0, 1, 3, 17, 42
POLICY_VIOLATION, FENCED_EPOCH, UNKNOWN_EPOCH, ELECTION_NOT_NEEDED = 44, 74, 75, 84
MISMATCHED_ENDPOINT = 114
CLUSTER_OPS = sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))
TOPIC_OPS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))


class Conn(kwire.Conn):
    def ole(self, v, topics, **kw):
        return self.ask(kwire.offset_for_leader_epoch_request,
                        kwire.parse_offset_for_leader_epoch, v, topics, **kw)

    def dtp(self, topics, limit=2000, cursor=None):
        return self.ask(kwire.describe_topic_partitions_request,
                        kwire.parse_describe_topic_partitions, 0, topics, limit, cursor)

    def dr(self, v, topics):
        return self.ask(kwire.delete_records_request, kwire.parse_delete_records, v, topics)

    def earliest(self, topic, p):
        res = self.ask(kwire.list_offsets_request, kwire.parse_list_offsets, 7,
                       [(topic, [(p, -2)])])
        return res[0][1][2]

    def fetch_error(self, topic, p, offset):
        f = self.ask(kwire.fetch_request, kwire.parse_fetch, 11,
                     [(topic, [(p, offset, 1 << 20)])])
        return f["topics"][0][1][0]["error"]

    def leader_epoch(self, topic, p):
        md = self.ask(kwire.metadata_request, kwire.parse_metadata, 12, [topic])
        return md[1][0]["partitions"][p]["epoch"]


def records(tag, n, ts=1000):
    return kwire.batch_v2([(None, b"%s-%d" % (tag, i), ts + i) for i in range(n)])


# ---- OffsetForLeaderEpoch ----

def kafka_epoch_answer(entries, current, leo, log_start, asked):
    """Kafka's leader-epoch cache, whose newest entry is the current epoch.
    entries: [(epoch, start offset)] of the epochs that have data, in order."""
    if asked < 0 or asked > current:
        return -1, -1
    if asked == current:
        return current, leo
    floor = [i for i, (e, _) in enumerate(entries) if e <= asked]
    if not floor:
        return asked, log_start
    i = floor[-1]
    return entries[i][0], entries[i + 1][1] if i + 1 < len(entries) else leo


def check_epochs(c, topic, entries, current, leo, what):
    asks = sorted({-1, 0, current, current + 1, current + 5} | {e for e, _ in entries}
                  | {e + 1 for e, _ in entries})
    for v in range(5):
        parts = [(0, -1, a) for a in asks]
        res = c.ole(v, [(topic, parts)])
        got = [(p, err, ep, end) for _, p, err, ep, end in res]
        want = []
        for a in asks:
            ep, end = kafka_epoch_answer(entries, current, leo, 0, a)
            want.append((0, NONE, ep if v >= 1 else None, end))
        check(got == want, "OffsetForLeaderEpoch v%d %s: %s (want %s)" % (v, what, got, want))


def run_epochs(b, c):
    T = "ole"
    check(c.create_topic(T, 2)[0] == 0, "create %s" % T)
    entries = []  # (epoch, start) of epochs with data
    leo = 0
    for round_ in range(3):
        current = c.leader_epoch(T, 0)
        for i in range(2):
            r = c.produce_v7(T, {0: records(b"r%d" % round_, 3)})
            check(r[0][0] == NONE, "produce round %d" % round_)
            if not entries or entries[-1][0] != current:
                entries.append((current, leo))
            leo += 3
        check_epochs(c, T, entries, current, leo, "after round %d (epochs %s)" % (round_, entries))
        if round_ < 2:
            c.close()
            restart_same_port(b)
            c = Conn(b)
    print("note: leader epochs seen across restarts: %s" % [e for e, _ in entries])

    current = c.leader_epoch(T, 0)
    # v2+: CurrentLeaderEpoch checked as Fetch checks it; v3+ ReplicaId accepted.
    for v in (2, 3, 4):
        res = c.ole(v, [(T, [(0, current, current), (0, current + 1, current),
                             (1, current, 0)])], replica_id=1 if v >= 3 else -1)
        got = [(p, err, ep, end) for _, p, err, ep, end in res]
        want = [(0, NONE, current, leo), (0, UNKNOWN_EPOCH, -1, -1), (1, NONE, current, 0)]
        if current > 0:
            res2 = c.ole(v, [(T, [(0, current - 1, current)])])
            check(res2[0][2] == FENCED_EPOCH and res2[0][3:] == (-1, -1),
                  "v%d: an older CurrentLeaderEpoch is FENCED_LEADER_EPOCH" % v)
        check(got == want, "OffsetForLeaderEpoch v%d current epoch checks %s (want %s)"
              % (v, got, want))
    # v0-1 ignore current epochs (none on the wire); unknown topic and partition.
    for v in range(5):
        res = c.ole(v, [("nope", [(0, -1, 0)]), (T, [(7, -1, 0)])])
        check([(t, p, err) for t, p, err, _, _ in res] == [("nope", 0, UNKNOWN_TOPIC),
                                                           (T, 7, UNKNOWN_TOPIC)],
              "OffsetForLeaderEpoch v%d: unknown topic and partition %s" % (v, res))
        check(all(end == -1 and ep in (-1, None) for _, _, _, ep, end in res),
              "OffsetForLeaderEpoch v%d: errors carry epoch -1, offset -1" % v)
    return c


# ---- DescribeTopicPartitions ----

def run_dtp(c):
    layout = {"dtp-a": 3, "dtp-b": 2, "dtp-c": 4}
    for name, n in layout.items():
        check(c.create_topic(name, n)[0] == 0, "create %s" % name)
    ids = {t["name"]: t["id"] for t in c.dtp(list(layout))["topics"]}
    want_all = [(t, p) for t in sorted(layout) for p in range(layout[t])]

    for limit in (1, 2, 4, 9, 100):
        for named in (True, False):
            seen, cursor, pages = [], None, 0
            while pages < 20:
                res = c.dtp(list(reversed(list(layout))) if named else [], limit, cursor)
                pages += 1
                got = [(t["name"], p["index"]) for t in res["topics"] for p in t["partitions"]
                       if t["name"] in layout]
                check(len([x for t in res["topics"] for x in t["partitions"]]) <= limit,
                      "limit %d: a page holds at most %d partitions" % (limit, limit))
                seen += got
                cursor = res["cursor"]
                if cursor is None:
                    break
                check(cursor[0] in layout or not named, "cursor names a topic: %s" % (cursor,))
            check(seen == want_all, "limit %d %s: pages cover every partition once, in order "
                  "(%d pages): %s" % (limit, "named" if named else "all", pages, seen))

    # A page that ends at the end of a topic points at the next one.
    res = c.dtp(list(layout), 3)
    check(res["cursor"] == ("dtp-b", 0) and [t["name"] for t in res["topics"]] == ["dtp-a"],
          "a page ending with dtp-a points at dtp-b/0: %s" % (res["cursor"],))
    res = c.dtp(list(layout), 4, ("dtp-b", 1))
    check([(t["name"], [p["index"] for p in t["partitions"]]) for t in res["topics"]]
          == [("dtp-b", [1]), ("dtp-c", [0, 1, 2])] and res["cursor"] == ("dtp-c", 3),
          "cursor dtp-b/1 limit 4: b1 c0 c1 c2, next dtp-c/3: %s" % res)

    # Field by field: one partition.
    res = c.dtp(["dtp-b", "dtp-b"])
    t = res["topics"][0]
    check(len(res["topics"]) == 1 and res["cursor"] is None, "a name twice is answered once")
    check(t["error"] == 0 and t["name"] == "dtp-b" and t["id"] == ids["dtp-b"]
          and t["internal"] == 0 and t["ops"] == TOPIC_OPS,
          "topic fields (error, name, id, internal, authorized operations %d)" % t["ops"])
    p = t["partitions"][1]
    epoch = c.leader_epoch("dtp-b", 1)
    check(p == {"error": 0, "index": 1, "leader": 1, "epoch": epoch, "replicas": [1],
                "isr": [1], "elr": [], "last_elr": [], "offline": []},
          "partition fields: %s" % p)

    # Unknown and illegal names: errors that take no room; sorted with the rest.
    res = c.dtp(["zz-none", "dtp-a", "bad/name"], 2)
    got = [(t["name"], t["error"], len(t["partitions"]), t["id"]) for t in res["topics"]]
    check(got == [("bad/name", INVALID_TOPIC, 0, bytes(16)), ("dtp-a", 0, 2, ids["dtp-a"])]
          and res["cursor"] == ("dtp-a", 2), "unknown names after a full page: %s %s"
          % (got, res["cursor"]))
    res = c.dtp(["zz-none", "dtp-a"], 5)
    got = [(t["name"], t["error"], len(t["partitions"])) for t in res["topics"]]
    check(got == [("dtp-a", 0, 3), ("zz-none", UNKNOWN_TOPIC, 0)] and res["cursor"] is None,
          "an unknown name is UNKNOWN_TOPIC_OR_PARTITION: %s" % got)
    # The cursor's topic must be one of the names.
    res = c.dtp(["dtp-a", "dtp-c"], 5, ("dtp-b", 0))
    got = [(t["name"], t["error"], t["partitions"]) for t in res["topics"]]
    check(got == [("dtp-a", INVALID_REQUEST, []), ("dtp-c", INVALID_REQUEST, [])],
          "a cursor outside the names is INVALID_REQUEST for each: %s" % got)
    # Limit 0 is taken as 1; a cursor past the topic's end gives it no partitions.
    res = c.dtp(["dtp-a"], 0)
    check(sum(len(t["partitions"]) for t in res["topics"]) == 1
          and res["cursor"] == ("dtp-a", 1), "limit 0 answers one partition")
    res = c.dtp(["dtp-a", "dtp-b"], 10, ("dtp-a", 9))
    check([(t["name"], len(t["partitions"])) for t in res["topics"]]
          == [("dtp-a", 0), ("dtp-b", 2)], "a cursor past the end: %s" % res["topics"])


# ---- DeleteRecords ----

def run_delete_records(b, c):
    T, TC = "dr", "dr-compact"
    check(c.create_topic(T, 3)[0] == 0, "create %s" % T)
    check(c.create_topic(TC, 1, [("cleanup.policy", "compact")])[0] == 0, "create %s" % TC)
    for i in range(4):
        r = c.produce_v7(T, {0: records(b"d%d" % i, 5), 1: records(b"e%d" % i, 2)})
        check(r[0][0] == NONE and r[1][0] == NONE, "produce %d" % i)
    check(c.produce_v7(TC, {0: kwire.batch_v2([(b"k", b"v", 1)])})[0][0] == NONE, "produce")
    # p0: 20 records, p1: 8, p2: none.
    for v in range(3):
        off = 3 + v
        res = c.dr(v, [(T, [(0, off)])])
        check(res == [(T, 0, off, NONE)], "DeleteRecords v%d to %d: %s" % (v, off, res))
    res = c.dr(2, [(T, [(0, 2), (1, -1), (2, 1), (2, -1), (0, -7), (9, 0)]),
                   (TC, [(0, 0)]), ("nope", [(0, 0)])])
    want = [(T, 0, 5, NONE),            # below the start: nothing moves
            (T, 1, 8, NONE),            # -1: the high watermark
            (T, 2, -1, OUT_OF_RANGE),   # past the high watermark
            (T, 2, 0, NONE),            # -1 of an empty partition
            (T, 0, -1, OUT_OF_RANGE),   # negative
            (T, 9, -1, UNKNOWN_TOPIC),
            (TC, 0, -1, POLICY_VIOLATION),
            ("nope", 0, -1, UNKNOWN_TOPIC)]
    check(res == want, "DeleteRecords refusals and -1: %s" % res)

    def verify(what):
        check(c.earliest(T, 0) == 5 and c.earliest(T, 1) == 8,
              "%s: ListOffsets earliest is the new start (5, 8)" % what)
        check(c.fetch_error(T, 0, 4) == OUT_OF_RANGE and c.fetch_error(T, 0, 0) == OUT_OF_RANGE,
              "%s: Fetch below the start is OFFSET_OUT_OF_RANGE" % what)
        f = c.ask(kwire.fetch_request, kwire.parse_fetch, 11, [(T, [(0, 5, 1 << 20)])])
        part = f["topics"][0][1][0]
        offs = [o for o, _, _, _ in kwire.parse_records(part["records"])] \
            if part["records"] else []
        check(part["error"] == NONE and 5 in offs and max(offs) == 19,
              "%s: Fetch from the start reads 5..19 (%s)" % (what, offs[:3]))
        check(c.fetch_error(T, 1, 8) == NONE, "%s: Fetch at the end of p1 works" % what)
    verify("after DeleteRecords")

    c.close()
    restart_same_port(b)
    c = Conn(b)
    verify("after a clean restart")
    check(c.dr(1, [(T, [(0, 10)])]) == [(T, 0, 10, NONE)], "DeleteRecords to 10")
    # The new start is written in the background: wait for the file, then crash.
    path = os.path.join(b.data_dir, "%s-0" % T, "log-start-offset")
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with open(path) as fh:
                if fh.read().strip() == "10":
                    break
        except OSError:
            pass
        time.sleep(0.05)
    c.close()
    restart_same_port(b, signal.SIGKILL)
    c = Conn(b)
    check(c.earliest(T, 0) == 10 and c.fetch_error(T, 0, 9) == OUT_OF_RANGE,
          "after kill -9: the start is still 10")
    return c


# ---- DescribeLogDirs, DescribeCluster, ElectLeaders, DescribeProducers ----

def run_log_dirs(b, c):
    T = "ld"
    check(c.create_topic(T, 2)[0] == 0, "create %s" % T)
    batch = records(b"l", 50)
    check(c.produce_v7(T, {0: batch})[0][0] == NONE, "produce")
    real = os.path.realpath(b.data_dir)
    for v in range(5):
        res = c.ask(kwire.describe_log_dirs_request, kwire.parse_describe_log_dirs, v, None)
        check(res["error"] == 0 and len(res["dirs"]) == 1, "DescribeLogDirs v%d: one dir" % v)
        d = res["dirs"][0]
        check(d["error"] == 0 and os.path.realpath(d["dir"]) == real
              and os.path.isabs(d["dir"]), "v%d: the log dir %s" % (v, d["dir"]))
        parts = d["topics"].get(T, {})
        check(sorted(parts) == [0, 1] and parts[1] == (0, 0, 0)
              and parts[0] == (len(batch), 0, 0),
              "v%d: partitions with sizes, lag 0, not future: %s" % (v, parts))
        check(all(t in d["topics"] for t in ("ole", "dr", "dtp-a")),
              "v%d: every topic is listed" % v)
        if v >= 4:
            check(d["total"] > 0 and 0 <= d["usable"] <= d["total"],
                  "v4: total %d and usable %d bytes" % (d["total"], d["usable"]))
        else:
            check(d["total"] is None, "v%d: no byte counts" % v)
    res = c.ask(kwire.describe_log_dirs_request, kwire.parse_describe_log_dirs, 4,
                [(T, [1, 0, 0, 5]), ("nope", [0])])
    parts = res["dirs"][0]["topics"]
    check(list(parts) == [T] and sorted(parts[T]) == [0, 1],
          "named partitions only, each once, unknown ones left out: %s" % parts)
    check(parts[T][0][0] == len(batch), "the size is the bytes of the batch written (%d, %d)"
          % (parts[T][0][0], len(batch)))


def run_cluster(b, c):
    md = c.ask(kwire.metadata_request, kwire.parse_metadata, 12, [])
    for v in range(2):
        for ops in (False, True):
            res = c.ask(kwire.describe_cluster_request, kwire.parse_describe_cluster, v, ops)
            check(res["error"] == 0 and res["message"] is None
                  and res["endpoint_type"] == (1 if v >= 1 else None)
                  and res["controller"] == 1 and len(res["cluster_id"]) == 22
                  and res["brokers"] == [(1, b.host, b.port, None)]
                  and res["ops"] == (CLUSTER_OPS if ops else -2**31),
                  "DescribeCluster v%d ops=%s: %s" % (v, ops, res))
    check(md[0] == {1: (b.host, b.port)}, "Metadata names the same broker")
    res = c.ask(kwire.describe_cluster_request, kwire.parse_describe_cluster, 1, False, 2)
    check(res["error"] == MISMATCHED_ENDPOINT and res["brokers"] == [] and res["message"],
          "DescribeCluster for controllers: MISMATCHED_ENDPOINT_TYPE")


def run_elect(c):
    for v in range(3):
        for etype in (0, 1):
            err, res = c.ask(kwire.elect_leaders_request, kwire.parse_elect_leaders, v,
                             [("ld", [0, 1, 4]), ("nope", [0])], etype)
            check(err == 0 and res == [("ld", 0, ELECTION_NOT_NEEDED, None),
                                       ("ld", 1, ELECTION_NOT_NEEDED, None),
                                       ("ld", 4, UNKNOWN_TOPIC, "No such partition as ld-4"),
                                       ("nope", 0, UNKNOWN_TOPIC, "No such topic as nope")],
                  "ElectLeaders v%d type %d: %s" % (v, etype, res))
        err, res = c.ask(kwire.elect_leaders_request, kwire.parse_elect_leaders, v, None)
        check(err == 0 and res == [], "ElectLeaders v%d of every partition: none needed" % v)
    err, res = c.ask(kwire.elect_leaders_request, kwire.parse_elect_leaders, 2, [("ld", [0])], 7)
    check(err == INVALID_REQUEST and res == [("ld", 0, INVALID_REQUEST, None)],
          "an unknown election type is INVALID_REQUEST: %s %s" % (err, res))


def run_producers(b, c):
    T = "dp"
    check(c.create_topic(T, 2)[0] == 0, "create %s" % T)
    err, pid, epoch = c.ask(kwire.init_producer_id_request, kwire.parse_init_producer_id, 4)
    check(err == 0 and pid >= 0, "InitProducerId")
    b1 = kwire.batch_v2([(None, b"i%d" % i, 5000 + i) for i in range(5)], producer_id=pid,
                        producer_epoch=epoch, base_seq=0)
    b2 = kwire.batch_v2([(None, b"j%d" % i, 6000 + 2 * i) for i in range(3)], producer_id=pid,
                        producer_epoch=epoch, base_seq=5)
    for bt in (b1, b2):
        check(c.produce_v7(T, {0: bt})[0][0] == NONE, "idempotent produce")
    check(c.produce_v7(T, {1: records(b"plain", 2)})[1][0] == NONE, "plain produce")
    want = (pid, epoch, 7, 6004, -1, -1)

    def ask(what):
        res = c.ask(kwire.describe_producers_request, kwire.parse_describe_producers, 0,
                    [(T, [0, 1, 9]), ("nope", [0])])
        check(res == [(T, 0, NONE, None, [want]), (T, 1, NONE, None, []),
                      (T, 9, UNKNOWN_TOPIC, None, []), ("nope", 0, UNKNOWN_TOPIC, None, [])],
              "DescribeProducers %s: %s" % (what, res))
    ask("after an idempotent produce")
    c.close()
    restart_same_port(b)
    c = Conn(b)
    ask("after a restart")
    return c


def run(b):
    c = Conn(b)
    c = run_epochs(b, c)
    run_dtp(c)
    c = run_delete_records(b, c)
    run_log_dirs(b, c)
    run_cluster(b, c)
    run_elect(c)
    c = run_producers(b, c)
    c.close()


b = Broker(exe, extra=["--smp", smp])
b.start()
try:
    guard("admin wire", run, b)
finally:
    b.close()
finish(b.log_text())
