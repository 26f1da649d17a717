#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""Committed offsets over the wire, hand-built: OffsetCommit (v0, v1, v2,
v5, v7, v8 flexible) read back by OffsetFetch at the matching versions,
OffsetFetch v8-v9 with several groups per request (one unknown, one
invalid, one for all its offsets), the refusals (metadata too large,
unknown topic or partition, COORDINATOR_NOT_AVAILABLE while
__consumer_offsets is first created, then success), OffsetDelete, the
offsets surviving a clean restart and a kill -9, and expiry.

Expiry: offsets.retention.minutes is at least one minute, too long for a
test, so the test commits with OffsetCommit v2's RetentionTimeMs (which
Kafka honours as the offset's expire time) for a group with no members,
and sets offsets.retention.check.interval.ms small; offsets committed
without a retention time stay.

Many group names are used so that, with 3 shards, the groups land on
every shard; NOT_COORDINATOR must never be seen by a client that asks
the broker (a single node routes every group itself)."""
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, guard, restart_same_port  # noqa: E402
from kwire import Conn, _answer, _arr, _s, _tags, metadata_request, parse_metadata  # noqa: E402
from kwire import request  # noqa: E402

exe, smp = args("2")

E_NONE, E_UNKNOWN_TP, E_COORD_NA, E_NOT_COORD = 0, 3, 15, 16
E_MD_TOO_LARGE, E_INVALID_GROUP, E_NOT_FOUND, E_SUBSCRIBED = 12, 24, 69, 86
MD_MAX = 64
TOPIC, OTHER = "ow-topic", "ow-other"

seen_errors = set()


# ---- Requests and answers ----

def offset_commit(corr, v, group, topics, generation=-1, member="", instance=None,
                  retention=-1):
    """topics: [(name, [(partition, offset, metadata, leader_epoch)])]."""
    flex = v >= 8
    body = _s(group, flex)
    if v >= 1:
        body += struct.pack(">i", generation) + _s(member, flex)
    if v >= 7:
        body += _s(instance, flex)
    if 2 <= v <= 4:
        body += struct.pack(">q", retention)
    body += _arr(topics, flex)
    for name, parts in topics:
        body += _s(name, flex) + _arr(parts, flex)
        for p, off, md, epoch in parts:
            body += struct.pack(">iq", p, off)
            if v >= 6:
                body += struct.pack(">i", epoch)
            if v == 1:
                body += struct.pack(">q", -1)
            body += _s(md, flex) + _tags(flex)
        body += _tags(flex)
    body += _tags(flex)
    return request(8, v, corr, body, flexible=flex)


def parse_offset_commit(frame, v):
    flex = v >= 8
    r = _answer(frame, flex, v >= 3)
    out = {}
    for _ in range(r.array_len(flex)):
        name = r.string(flex)
        for _ in range(r.array_len(flex)):
            p, err = r.i32(), r.i16()
            r.tags(flex)
            out[(name, p)] = err
            seen_errors.add(err)
        r.tags(flex)
    return out


def _fetch_topics(topics, flex):
    if topics is None:
        return b"\x00" if flex else struct.pack(">i", -1)
    body = _arr(topics, flex)
    for name, parts in topics:
        body += _s(name, flex) + _arr(parts, flex) + b"".join(struct.pack(">i", p) for p in parts)
        body += _tags(flex)
    return body


def offset_fetch(corr, v, group, topics, require_stable=False):
    """topics: [(name, [partitions])] or None (all)."""
    flex = v >= 6
    body = _s(group, flex) + _fetch_topics(topics, flex)
    if v >= 7:
        body += struct.pack(">b", 1 if require_stable else 0)
    body += _tags(flex)
    return request(9, v, corr, body, flexible=flex)


def offset_fetch_groups(corr, v, groups, require_stable=False):
    """v8+: groups: [(group, topics or None)]."""
    body = _arr(groups, True)
    for group, topics in groups:
        body += _s(group, True)
        if v >= 9:
            body += _s(None, True) + struct.pack(">i", -1)
        body += _fetch_topics(topics, True) + _tags(True)
    body += struct.pack(">b", 1 if require_stable else 0) + _tags(True)
    return request(9, v, corr, body, flexible=True)


def _parse_fetch_topics(r, v, flex):
    out = {}
    for _ in range(r.array_len(flex)):
        name = r.string(flex)
        for _ in range(r.array_len(flex)):
            p, off = r.i32(), r.i64()
            epoch = r.i32() if v >= 5 else None
            md, err = r.string(flex), r.i16()
            r.tags(flex)
            out[(name, p)] = (off, md, epoch, err)
            seen_errors.add(err)
        r.tags(flex)
    return out


def parse_offset_fetch(frame, v):
    """v0-7: (top-level error or None, {(topic, p): (offset, metadata, epoch, error)})."""
    flex = v >= 6
    r = _answer(frame, flex, v >= 3)
    out = _parse_fetch_topics(r, v, flex)
    err = r.i16() if v >= 2 else None
    seen_errors.add(err)
    return err, out


def parse_offset_fetch_groups(frame, v):
    """v8+: [(group, error, {(topic, p): (offset, metadata, epoch, error)})] in order."""
    r = _answer(frame, True, True)
    groups = []
    for _ in range(r.array_len(True)):
        gid = r.string(True)
        parts = _parse_fetch_topics(r, v, True)
        err = r.i16()
        r.tags(True)
        groups.append((gid, err, parts))
        seen_errors.add(err)
    return groups


def offset_delete(corr, v, group, topics):
    body = _s(group, False) + _arr(topics, False)
    for name, parts in topics:
        body += _s(name, False) + _arr(parts, False) + b"".join(struct.pack(">i", p) for p in parts)
    return request(47, v, corr, body)


def parse_offset_delete(frame, v):
    r = _answer(frame, False, False)
    err = r.i16()
    r.i32()
    out = {}
    for _ in range(r.array_len(False)):
        name = r.string(False)
        for _ in range(r.array_len(False)):
            p = r.i32()
            out[(name, p)] = r.i16()
    seen_errors.add(err)
    return err, out


def join_group_v1(corr, v, group, member, protocols, session_ms=30000, rebalance_ms=30000):
    body = _s(group, False) + struct.pack(">ii", session_ms, rebalance_ms) + _s(member, False)
    body += _s("consumer", False) + _arr(protocols, False)
    for name, meta in protocols:
        body += _s(name, False) + struct.pack(">i", len(meta)) + meta
    return request(11, 1, corr, body)


def parse_join_group_v1(frame, v):
    r = _answer(frame, False, False)
    err, gen = r.i16(), r.i32()
    proto, leader, me = r.string(False), r.string(False), r.string(False)
    return {"error": err, "generation": gen, "protocol": proto, "leader": leader, "member": me}


def subscription(topics):
    return struct.pack(">h", 0) + struct.pack(">i", len(topics)) + \
        b"".join(struct.pack(">h", len(t)) + t.encode() for t in topics) + struct.pack(">i", -1)


# ---- Helpers ----

def commit(c, v, group, parts, topic=TOPIC, **kw):
    """parts: [(partition, offset, metadata, epoch)] -> {partition: error}."""
    res = c.ask(offset_commit, parse_offset_commit, v, group, [(topic, parts)], **kw)
    return {p: e for (_, p), e in res.items()}


def fetch(c, v, group, parts, topic=TOPIC):
    err, res = c.ask(offset_fetch, parse_offset_fetch, v, group, [(topic, parts)])
    return err, {p: val for (_, p), val in res.items()}


def commit_retry(c, v, group, parts, timeout=20.0, **kw):
    """Commits until the coordinator is there; returns (errors seen before, last answer)."""
    deadline = time.time() + timeout
    before = []
    while True:
        res = commit(c, v, group, parts, **kw)
        if all(e == E_NONE for e in res.values()) or time.time() > deadline:
            return before, res
        before.extend(res.values())
        time.sleep(0.05)


GROUPS = ["ow-group-%d" % i for i in range(12)]


# ---- The checks ----

def run_first_commit(b, c):
    err, _ = c.create_topic(TOPIC, 4)
    check(err == E_NONE, "topic %s created: %d" % (TOPIC, err))
    err, _ = c.create_topic(OTHER, 2)
    check(err == E_NONE, "topic %s created: %d" % (OTHER, err))
    first = commit(c, 2, "ow-first", [(0, 1, "", -1)])
    check(first == {0: E_COORD_NA},
          "the very first commit: COORDINATOR_NOT_AVAILABLE while __consumer_offsets is created: %s"
          % first)
    before, res = commit_retry(c, 2, "ow-first", [(0, 1, "", -1)])
    check(res == {0: E_NONE} and set(before) <= {E_COORD_NA},
          "then the commit succeeds (errors before: %s): %s" % (sorted(set(before)), res))
    _, topics = c.ask(metadata_request, parse_metadata, 1, ["__consumer_offsets"])
    t = topics[0] if topics else {}
    check(t.get("error") == 0 and t.get("internal") == 1 and len(t.get("partitions", [])) == 6,
          "Metadata: __consumer_offsets is internal with 6 partitions: %s"
          % {k: t.get(k) for k in ("error", "internal")})
    _, alltopics = c.ask(metadata_request, parse_metadata, 1, None)
    names = {x["name"]: x["internal"] for x in alltopics}
    check(names.get("__consumer_offsets") == 1, "Metadata of all topics lists it, internal")


def run_versions(b, c):
    # v0: no generation or member; fetch v0 answers per partition only.
    g = GROUPS[0]
    res = commit(c, 0, g, [(0, 10, "v0-md", -1), (1, 11, None, -1)])
    check(res == {0: 0, 1: 0}, "OffsetCommit v0: %s" % res)
    err, got = fetch(c, 0, g, [0, 1, 2])
    check(err is None and got == {0: (10, "v0-md", None, 0), 1: (11, "", None, 0),
                                  2: (-1, "", None, 0)},
          "OffsetFetch v0: committed offsets, metadata, none for partition 2: %s" % got)
    # v1: generation -1 and no member, a commit timestamp.
    g = GROUPS[1]
    res = commit(c, 1, g, [(2, 21, "one", -1)])
    check(res == {2: 0}, "OffsetCommit v1 (generation -1, no member): %s" % res)
    err, got = fetch(c, 1, g, [2, 3])
    check(err is None and got == {2: (21, "one", None, 0), 3: (-1, "", None, 0)},
          "OffsetFetch v1: %s" % got)
    # v2 with the default retention; fetch v2 has a top-level error.
    g = GROUPS[2]
    res = commit(c, 2, g, [(0, 31, "two", -1), (3, 33, "", -1)])
    check(res == {0: 0, 3: 0}, "OffsetCommit v2: %s" % res)
    err, got = fetch(c, 2, g, [0, 3])
    check(err == 0 and got == {0: (31, "two", None, 0), 3: (33, "", None, 0)},
          "OffsetFetch v2: %s %s" % (err, got))
    # v5 (no retention); fetch v5 carries the leader epoch (none: -1).
    g = GROUPS[3]
    res = commit(c, 5, g, [(1, 41, "five", -1)])
    check(res == {1: 0}, "OffsetCommit v5: %s" % res)
    err, got = fetch(c, 5, g, [1])
    check(err == 0 and got == {1: (41, "five", -1, 0)}, "OffsetFetch v5: %s %s" % (err, got))
    # v7: leader epoch and a null group instance id; fetch v7 with require_stable.
    g = GROUPS[4]
    res = commit(c, 7, g, [(0, 51, "seven", 3), (2, 52, "", 4)])
    check(res == {0: 0, 2: 0}, "OffsetCommit v7 with leader epochs: %s" % res)
    err, got = c.ask(offset_fetch, parse_offset_fetch, 7, g, [(TOPIC, [0, 2])],
                     require_stable=True)
    got = {p: val for (_, p), val in got.items()}
    check(err == 0 and got == {0: (51, "seven", 3, 0), 2: (52, "", 4, 0)},
          "OffsetFetch v7 (require_stable): epochs kept: %s %s" % (err, got))
    # v8: flexible; two topics in one commit.
    g = GROUPS[5]
    res = c.ask(offset_commit, parse_offset_commit, 8, g,
                [(TOPIC, [(3, 61, "eight", 7)]), (OTHER, [(1, 62, "x" * MD_MAX, -1)])])
    check(res == {(TOPIC, 3): 0, (OTHER, 1): 0}, "OffsetCommit v8 (flexible), two topics: %s" % res)
    err, got = c.ask(offset_fetch, parse_offset_fetch, 6, g, [(TOPIC, [3]), (OTHER, [1])])
    check(err == 0 and got == {(TOPIC, 3): (61, "eight", 7, 0), (OTHER, 1): (62, "x" * MD_MAX, -1, 0)},
          "OffsetFetch v6 (flexible): %s" % got)
    # Every offset of a group: null topics (v2+).
    err, got = c.ask(offset_fetch, parse_offset_fetch, 3, g, None)
    check(err == 0 and got == {(TOPIC, 3): (61, "eight", None, 0),
                               (OTHER, 1): (62, "x" * MD_MAX, None, 0)},
          "OffsetFetch v3 with null topics: every offset of the group: %s" % got)
    # A second commit replaces the first.
    res = commit(c, 8, g, [(3, 63, "again", 8)])
    err, got = fetch(c, 8 - 2, g, [3])
    check(res == {3: 0} and got == {3: (63, "again", 8, 0)}, "a later commit wins: %s" % got)


def run_batched(b, c):
    for v in (8, 9):
        groups = [(GROUPS[3], [(TOPIC, [1, 0])]), ("ow-nobody", [(TOPIC, [0])]),
                  ("", [(TOPIC, [0])]), (GROUPS[5], None), (GROUPS[0], [(TOPIC, [0])])]
        got = c.ask(offset_fetch_groups, parse_offset_fetch_groups, v, groups)
        want = [(GROUPS[3], 0, {(TOPIC, 1): (41, "five", -1, 0), (TOPIC, 0): (-1, "", -1, 0)}),
                ("ow-nobody", 0, {(TOPIC, 0): (-1, "", -1, 0)}),
                ("", E_INVALID_GROUP, {}),
                (GROUPS[5], 0, {(TOPIC, 3): (63, "again", 8, 0),
                                (OTHER, 1): (62, "x" * MD_MAX, -1, 0)}),
                (GROUPS[0], 0, {(TOPIC, 0): (10, "v0-md", -1, 0)})]
        check(got == want, "OffsetFetch v%d, five groups in order (unknown, invalid, all): %s"
              % (v, got))


def run_errors(b, c):
    g = GROUPS[6]
    res = c.ask(offset_commit, parse_offset_commit, 2, g,
                [(TOPIC, [(0, 70, "y" * (MD_MAX + 1), -1), (1, 71, "ok", -1), (9, 72, "", -1)]),
                 ("ow-missing", [(0, 1, "", -1)])])
    check(res == {(TOPIC, 0): E_MD_TOO_LARGE, (TOPIC, 1): 0, (TOPIC, 9): E_UNKNOWN_TP,
                  ("ow-missing", 0): E_UNKNOWN_TP},
          "OffsetCommit: metadata too large, unknown partition and topic beside a good one: %s"
          % res)
    err, got = fetch(c, 2, g, [0, 1, 9])
    check(got == {0: (-1, "", None, 0), 1: (71, "ok", None, 0), 9: (-1, "", None, 0)},
          "only the good partition was stored: %s" % got)
    res = commit(c, 2, "", [(0, 1, "", -1)])
    check(res == {0: E_INVALID_GROUP}, "OffsetCommit with an empty group id: %s" % res)
    err, _ = fetch(c, 2, "", [0])
    check(err == E_INVALID_GROUP, "OffsetFetch v2 with an empty group id: %s" % err)
    res = commit(c, 2, "ow-ghost", [(0, 1, "", -1)], generation=3, member="someone")
    check(res == {0: 25} or res == {0: 22},
          "a member's commit to a group that does not exist is refused: %s" % res)


def run_delete(b, c):
    g = GROUPS[7]
    commit(c, 2, g, [(0, 80, "", -1), (1, 81, "", -1)])
    commit(c, 2, g, [(0, 82, "", -1)], topic=OTHER)
    err, res = c.ask(offset_delete, parse_offset_delete, 0, g,
                     [(TOPIC, [0, 2, 7]), ("ow-missing", [0])])
    check(err == 0 and res == {(TOPIC, 0): 0, (TOPIC, 2): 0, (TOPIC, 7): E_UNKNOWN_TP,
                               ("ow-missing", 0): E_UNKNOWN_TP},
          "OffsetDelete: committed and uncommitted partitions, unknown ones: %s %s" % (err, res))
    err, got = c.ask(offset_fetch, parse_offset_fetch, 2, g, None)
    check(got == {(TOPIC, 1): (81, "", None, 0), (OTHER, 0): (82, "", None, 0)},
          "the deleted offset is gone, the others stay: %s" % got)
    err, res = c.ask(offset_delete, parse_offset_delete, 0, "ow-never", [(TOPIC, [0])])
    check(err == E_NOT_FOUND, "OffsetDelete of an unknown group: GROUP_ID_NOT_FOUND: %s" % err)
    # A group with a live member subscribed to TOPIC.
    live = GROUPS[8]
    commit(c, 2, live, [(0, 90, "", -1)])
    commit(c, 2, live, [(1, 91, "", -1)], topic=OTHER)
    j = c.ask(join_group_v1, parse_join_group_v1, 1, live, "",
              [("range", subscription([TOPIC]))])
    if j["error"] == 79:  # MEMBER_ID_REQUIRED
        j = c.ask(join_group_v1, parse_join_group_v1, 1, live, j["member"],
                  [("range", subscription([TOPIC]))])
    check(j["error"] == 0, "a member joined %s: %s" % (live, j))
    err, res = c.ask(offset_delete, parse_offset_delete, 0, live, [(TOPIC, [0]), (OTHER, [1])])
    check(err == 0 and res == {(TOPIC, 0): E_SUBSCRIBED, (OTHER, 1): 0},
          "OffsetDelete of a live group: the subscribed topic refused, another deleted: %s %s"
          % (err, res))


def snapshot(c):
    out = {}
    for g in GROUPS[:8]:
        err, got = c.ask(offset_fetch, parse_offset_fetch, 2, g, None)
        out[g] = (err, got)
    return out


def run_restarts(b, c):
    before = snapshot(c)
    check(sum(len(v[1]) for v in before.values()) >= 12, "offsets to keep: %d"
          % sum(len(v[1]) for v in before.values()))
    c.close()
    restart_same_port(b, signal.SIGTERM)
    c = Conn(b)
    after = snapshot(c)
    check(after == before, "every offset is back after a clean restart")
    # Commits answered just before a crash are there after it.
    for i, g in enumerate(GROUPS):
        res = commit(c, 7, g, [(i % 4, 1000 + i, "crash-%d" % i, 1)])
        check(res == {i % 4: 0}, "commit before the kill -9 (%s): %s" % (g, res))
    expected = snapshot(c)
    c.close()
    restart_same_port(b, signal.SIGKILL)
    c = Conn(b)
    got = snapshot(c)
    check(got == expected, "every offset answered before a kill -9 is back after it")
    for i, g in enumerate(GROUPS):
        err, val = fetch(c, 5, g, [i % 4])
        if val != {i % 4: (1000 + i, "crash-%d" % i, 1, 0)}:
            check(False, "the last commit of %s after the kill -9: %s" % (g, val))
            break
    else:
        check(True, "the last commit of every group after the kill -9, leader epochs too")
    return c


def run_expiry(b, c):
    g, keep = "ow-expiring", "ow-keeping"
    res = commit(c, 2, g, [(0, 5, "soon gone", -1)], retention=1500)
    check(res == {0: 0}, "commit with RetentionTimeMs 1500: %s" % res)
    res = commit(c, 2, keep, [(0, 6, "stays", -1)])
    check(res == {0: 0}, "commit with the default retention: %s" % res)
    err, got = fetch(c, 2, g, [0])
    check(got == {0: (5, "soon gone", None, 0)}, "there at first: %s" % got)
    deadline = time.time() + 15
    while time.time() < deadline:
        err, got = fetch(c, 2, g, [0])
        if got[0][0] == -1:
            break
        time.sleep(0.2)
    check(got == {0: (-1, "", None, 0)}, "expired after its retention: %s" % got)
    err, got = fetch(c, 2, keep, [0])
    check(got == {0: (6, "stays", None, 0)}, "the other group's offset stays: %s" % got)
    c.close()
    restart_same_port(b, signal.SIGTERM)
    c = Conn(b)
    err, got = fetch(c, 2, g, [0])
    err2, got2 = fetch(c, 2, keep, [0])
    check(got == {0: (-1, "", None, 0)} and got2 == {0: (6, "stays", None, 0)},
          "after a restart the expired offset stays gone (its tombstone is durable): %s %s"
          % (got, got2))
    return c


def run(b):
    c = Conn(b)
    ok = guard("first commit", run_first_commit, b, c)
    ok = ok and guard("versions", run_versions, b, c)
    ok = ok and guard("batched fetch", run_batched, b, c)
    ok = ok and guard("errors", run_errors, b, c)
    ok = ok and guard("delete", run_delete, b, c)
    if ok:
        try:
            c = run_restarts(b, c)
            c = run_expiry(b, c)
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            check(False, "restarts/expiry raised %r" % e)
    c.close()
    check(E_NOT_COORD not in seen_errors, "NOT_COORDINATOR never answered: %s"
          % sorted(x for x in seen_errors if x is not None))


with Broker(exe, extra=["--smp", smp, "--set", "offsets.topic.num.partitions=6",
                        "--set", "offset.metadata.max.bytes=%d" % MD_MAX,
                        "--set", "offsets.retention.check.interval.ms=200",
                        "--set", "group.initial.rebalance.delay.ms=50"]) as broker:
    broker.start()
    run(broker)
    log = broker.log_text()
finish(log)
