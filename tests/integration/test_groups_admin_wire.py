#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""The group admin APIs over the wire, hand-built, field by field, at old
and new versions: FindCoordinator (v0-v6: single key and batched keys,
the transaction key type, an unknown key type), DescribeGroups (v0-v5:
unknown groups as Dead, a live classic group's members, authorized
operations), ListGroups (v0-v5: state and type filters, case-insensitive)
and DeleteGroups (v0-v2: a non-empty group refused, an unknown one not
found, an empty one deleted with its committed offsets, a name given
twice answered once). The groups are real: a member joined with
JoinGroup/SyncGroup, a group that only has committed offsets, and a
KIP-848 group joined with ConsumerGroupHeartbeat."""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, guard  # noqa: E402
from kwire import Conn, _answer, _arr, _nbytes, _s, _tags, cstr, request, uvarint  # noqa: E402

exe, smp = args("2")

E_NONE, E_COORD_NA, E_INVALID_REQUEST, E_NON_EMPTY, E_NOT_FOUND = 0, 15, 42, 68, 69
NODE = 1
INT32_MIN = -2147483648
GROUP_OPS = (1 << 3) | (1 << 6) | (1 << 8)  # READ, DELETE, DESCRIBE


# ---- Requests and answers ----

def find_coordinator(corr, v, keys, key_type=0):
    """keys: one key (str) before v4, a list from v4."""
    flex = v >= 3
    if v < 4:
        body = _s(keys, flex)
        if v >= 1:
            body += struct.pack(">b", key_type)
    else:
        body = struct.pack(">b", key_type) + _arr(keys, flex)
        for k in keys:
            body += _s(k, flex)
    return request(10, v, corr, body + _tags(flex), flexible=flex)


def parse_find_coordinator(frame, v):
    """v0-3: one dict; v4+: a list of dicts with "key"."""
    flex = v >= 3
    r = _answer(frame, flex, v >= 1)
    if v < 4:
        out = {"error": r.i16()}
        out["message"] = r.string(flex) if v >= 1 else None
        out["node"], out["host"], out["port"] = r.i32(), r.string(flex), r.i32()
        r.tags(flex)
        return out
    res = []
    for _ in range(r.array_len(flex)):
        c = {"key": r.string(flex), "node": r.i32(), "host": r.string(flex), "port": r.i32(),
             "error": r.i16(), "message": r.string(flex)}
        r.tags(flex)
        res.append(c)
    r.tags(flex)
    return res


def describe_groups(corr, v, groups, include_ops=False):
    flex = v >= 5
    body = _arr(groups, flex)
    for g in groups:
        body += _s(g, flex)
    if v >= 3:
        body += struct.pack(">b", 1 if include_ops else 0)
    return request(15, v, corr, body + _tags(flex), flexible=flex)


def parse_describe_groups(frame, v):
    flex = v >= 5
    r = _answer(frame, flex, v >= 1)
    out = []
    for _ in range(r.array_len(flex)):
        g = {"error": r.i16(), "id": r.string(flex), "state": r.string(flex),
             "ptype": r.string(flex), "pdata": r.string(flex), "members": []}
        for _ in range(r.array_len(flex)):
            m = {"id": r.string(flex)}
            m["instance"] = r.string(flex) if v >= 4 else None
            m["client"], m["host"] = r.string(flex), r.string(flex)
            m["metadata"], m["assignment"] = r.bytes_(flex), r.bytes_(flex)
            r.tags(flex)
            g["members"].append(m)
        g["ops"] = r.i32() if v >= 3 else None
        r.tags(flex)
        out.append(g)
    r.tags(flex)
    return out


def list_groups(corr, v, states=(), types=()):
    flex = v >= 3
    body = b""
    if v >= 4:
        body += _arr(states, flex) + b"".join(_s(s, flex) for s in states)
    if v >= 5:
        body += _arr(types, flex) + b"".join(_s(t, flex) for t in types)
    return request(16, v, corr, body + _tags(flex), flexible=flex)


def parse_list_groups(frame, v):
    """(error, {group id: (protocol type, state or None, type or None)})."""
    flex = v >= 3
    r = _answer(frame, flex, v >= 1)
    err = r.i16()
    groups = {}
    for _ in range(r.array_len(flex)):
        gid, ptype = r.string(flex), r.string(flex)
        state = r.string(flex) if v >= 4 else None
        gtype = r.string(flex) if v >= 5 else None
        r.tags(flex)
        groups[gid] = (ptype, state, gtype)
    r.tags(flex)
    return err, groups


def delete_groups(corr, v, groups):
    flex = v >= 2
    body = _arr(groups, flex) + b"".join(_s(g, flex) for g in groups)
    return request(42, v, corr, body + _tags(flex), flexible=flex)


def parse_delete_groups(frame, v):
    """[(group id, error)] in answer order."""
    flex = v >= 2
    r = _answer(frame, flex, True)
    out = []
    for _ in range(r.array_len(flex)):
        out.append((r.string(flex), r.i16()))
        r.tags(flex)
    r.tags(flex)
    return out


def join_group_v1(corr, v, group, member, protocols, session_ms=30000, rebalance_ms=30000):
    body = _s(group, False) + struct.pack(">ii", session_ms, rebalance_ms) + _s(member, False)
    body += _s("consumer", False) + _arr(protocols, False)
    for name, meta in protocols:
        body += _s(name, False) + _nbytes(meta, False)
    return request(11, 1, corr, body)


def parse_join_group_v1(frame, v):
    r = _answer(frame, False, False)
    out = {"error": r.i16(), "generation": r.i32(), "protocol": r.string(False),
           "leader": r.string(False), "member": r.string(False), "members": []}
    for _ in range(r.array_len(False)):
        out["members"].append((r.string(False), r.bytes_(False)))
    return out


def sync_group_v1(corr, v, group, generation, member, assignments):
    body = _s(group, False) + struct.pack(">i", generation) + _s(member, False)
    body += _arr(assignments, False)
    for mid, data in assignments:
        body += _s(mid, False) + _nbytes(data, False)
    return request(14, 1, corr, body)


def parse_sync_group_v1(frame, v):
    r = _answer(frame, False, True)
    return r.i16(), r.bytes_(False)


def leave_group_v0(corr, v, group, member):
    return request(13, 0, corr, _s(group, False) + _s(member, False))


def parse_error_v0(frame, v):
    return _answer(frame, False, False).i16()


def offset_commit_v2(corr, v, group, topic, offsets):
    body = _s(group, False) + struct.pack(">i", -1) + _s("", False) + struct.pack(">q", -1)
    body += _arr([topic], False) + _s(topic, False) + _arr(offsets, False)
    for p, off in offsets:
        body += struct.pack(">iq", p, off) + _s("", False)
    return request(8, 2, corr, body)


def parse_offset_commit_v2(frame, v):
    r = _answer(frame, False, False)
    out = {}
    for _ in range(r.array_len(False)):
        name = r.string(False)
        for _ in range(r.array_len(False)):
            p = r.i32()
            out[(name, p)] = r.i16()
    return out


def offset_fetch_v1(corr, v, group, topic, parts):
    body = _s(group, False) + _arr([topic], False) + _s(topic, False) + _arr(parts, False)
    body += b"".join(struct.pack(">i", p) for p in parts)
    return request(9, 1, corr, body)


def parse_offset_fetch_v1(frame, v):
    r = _answer(frame, False, False)
    out = {}
    for _ in range(r.array_len(False)):
        name = r.string(False)
        for _ in range(r.array_len(False)):
            p, off = r.i32(), r.i64()
            r.string(False)
            out[(name, p)] = (off, r.i16())
    return out


def cg_heartbeat(corr, v, group, member, epoch, topics=None):
    """ConsumerGroupHeartbeat v0 (KIP-848): a join (epoch 0, topics) or a leave (epoch -1)."""
    body = cstr(group) + cstr(member) + struct.pack(">i", epoch) + cstr(None) + cstr(None)
    body += struct.pack(">i", 5000)
    body += uvarint(0) if topics is None else uvarint(len(topics) + 1)
    body += b"".join(cstr(t) for t in topics or ())
    body += cstr(None) + (uvarint(0) if topics is None else uvarint(1))
    return request(68, v, corr, body + b"\x00", flexible=True)


def parse_cg_heartbeat(frame, v):
    """(error, member id, member epoch)."""
    r = _answer(frame, True, True)
    err = r.i16()
    r.string(True)
    return err, r.string(True), r.i32()


# Consumer protocol metadata and assignment (version 0), as a client sends them.
def subscription(topics):
    return struct.pack(">h", 0) + struct.pack(">i", len(topics)) + \
        b"".join(struct.pack(">h", len(t)) + t.encode() for t in topics) + struct.pack(">i", -1)


def assignment(topic, parts):
    return struct.pack(">hi", 0, 1) + struct.pack(">h", len(topic)) + topic.encode() + \
        struct.pack(">i", len(parts)) + b"".join(struct.pack(">i", p) for p in parts) + \
        struct.pack(">i", -1)


# ---- The checks ----

def wait_coordinator(c, group, timeout=20.0):
    """FindCoordinator v0 until the coordinator is there: the first asks may
    see COORDINATOR_NOT_AVAILABLE while __consumer_offsets is created."""
    deadline = time.time() + timeout
    seen = []
    while True:
        a = c.ask(find_coordinator, parse_find_coordinator, 0, group)
        seen.append(a["error"])
        if a["error"] == E_NONE or time.time() > deadline:
            break
        time.sleep(0.05)
    check(set(seen) <= {E_NONE, E_COORD_NA}, "FindCoordinator while the topic is created: %s"
          % sorted(set(seen)))
    return a


def run_find_coordinator(b, c):
    a = wait_coordinator(c, "alpha")
    check(a == {"error": 0, "message": None, "node": NODE, "host": b.host, "port": b.port},
          "FindCoordinator v0: %s" % a)
    for v in (1, 2, 3):
        a = c.ask(find_coordinator, parse_find_coordinator, v, "alpha")
        check(a == {"error": 0, "message": None, "node": NODE, "host": b.host, "port": b.port},
              "FindCoordinator v%d group: %s" % (v, a))
    # Kafka routes the empty group id too (old consumers commit offsets under it).
    a = c.ask(find_coordinator, parse_find_coordinator, 3, "")
    check(a["error"] == 0 and a["node"] == NODE, "FindCoordinator v3 empty key: %s" % a)
    for v in (1, 3):
        a = c.ask(find_coordinator, parse_find_coordinator, v, "txn-1", key_type=1)
        check(a["error"] == E_COORD_NA and (a["node"], a["host"], a["port"]) == (-1, "", -1)
              and a["message"], "FindCoordinator v%d transaction key: %s" % (v, a))
        a = c.ask(find_coordinator, parse_find_coordinator, v, "x", key_type=7)
        check(a["error"] == E_INVALID_REQUEST and a["node"] == -1,
              "FindCoordinator v%d unknown key type: %s" % (v, a))
    keys = ["alpha", "beta", "", "gamma-%d" % os.getpid()]
    for v in (4, 5, 6):
        res = c.ask(find_coordinator, parse_find_coordinator, v, keys)
        want = [{"key": k, "node": NODE, "host": b.host, "port": b.port, "error": 0,
                 "message": None} for k in keys]
        check(res == want, "FindCoordinator v%d batched keys: %s" % (v, res))
    res = c.ask(find_coordinator, parse_find_coordinator, 4, ["t1", "t2"], key_type=1)
    check([(x["key"], x["error"], x["node"], x["port"]) for x in res]
          == [("t1", E_COORD_NA, -1, -1), ("t2", E_COORD_NA, -1, -1)],
          "FindCoordinator v4 transaction keys: %s" % res)
    res = c.ask(find_coordinator, parse_find_coordinator, 6, ["a", "b"], key_type=3)
    check([(x["key"], x["error"]) for x in res] == [("a", E_INVALID_REQUEST),
                                                     ("b", E_INVALID_REQUEST)],
          "FindCoordinator v6 unknown key type: %s" % res)
    res = c.ask(find_coordinator, parse_find_coordinator, 4, [])
    check(res == [], "FindCoordinator v4 no keys: %s" % res)


def join_one(c, group, topic):
    """One member joins group and gets partitions 0-1 of topic: (member id, generation,
    metadata sent, assignment given)."""
    meta = subscription([topic])
    j = c.ask(join_group_v1, parse_join_group_v1, 1, group, "", [("range", meta)])
    check(j["error"] == 0 and j["member"] and j["leader"] == j["member"]
          and j["protocol"] == "range" and j["members"] == [(j["member"], meta)],
          "JoinGroup v1 of %s: %s" % (group, j))
    asg = assignment(topic, [0, 1])
    err, got = c.ask(sync_group_v1, parse_sync_group_v1, 1, group, j["generation"], j["member"],
                     [(j["member"], asg)])
    check(err == 0 and got == asg, "SyncGroup v1 of %s: %d %r" % (group, err, got))
    return j["member"], j["generation"], meta, asg


def run_groups(b, c):
    topic = "admin-topic"
    err, _ = c.create_topic(topic, 2)
    check(err == 0, "create %s: %d" % (topic, err))
    live, offsets_only = "live-group", "offsets-only"
    for g in (live, offsets_only):
        wait_coordinator(c, g)

    # Nothing listed yet, at every version.
    for v in range(6):
        err, groups = c.ask(list_groups, parse_list_groups, v)
        check(err == 0 and groups == {}, "ListGroups v%d before any group: %d %s" % (v, err, groups))

    # An unknown group is Dead, without an error.
    for v in (0, 3, 5):
        res = c.ask(describe_groups, parse_describe_groups, v, ["nobody"], include_ops=True)
        want = {"error": 0, "id": "nobody", "state": "Dead", "ptype": "", "pdata": "",
                "members": [], "ops": GROUP_OPS if v >= 3 else None}
        check(res == [want], "DescribeGroups v%d unknown group: %s" % (v, res))
    res = c.ask(describe_groups, parse_describe_groups, 5, ["nobody"])
    check(res[0]["ops"] == INT32_MIN, "DescribeGroups v5 ops not asked for: %s" % res)

    # A group that only has committed offsets.
    res = c.ask(offset_commit_v2, parse_offset_commit_v2, 2, offsets_only, topic, [(0, 5), (1, 7)])
    check(res == {(topic, 0): 0, (topic, 1): 0}, "OffsetCommit v2: %s" % res)
    # A live classic group: one member, Stable.
    member, gen, meta, asg = join_one(c, live, topic)

    for v in (0, 1, 2, 3, 4, 5):
        res = c.ask(describe_groups, parse_describe_groups, v, [live, offsets_only, "nobody"])
        check(len(res) == 3, "DescribeGroups v%d: three answers: %s" % (v, res))
        if len(res) != 3:
            continue
        g = res[0]
        ok = (g["error"], g["id"], g["state"], g["ptype"], g["pdata"]) == \
            (0, live, "Stable", "consumer", "range") and len(g["members"]) == 1
        check(ok, "DescribeGroups v%d live group: %s" % (v, g))
        if ok:
            m = g["members"][0]
            check(m["id"] == member and m["client"] == "it" and "127.0.0.1" in m["host"]
                  and m["metadata"] == meta and m["assignment"] == asg
                  and m["instance"] is None,
                  "DescribeGroups v%d member: %s" % (v, m))
            check(g["ops"] == (INT32_MIN if v >= 3 else None), "DescribeGroups v%d ops: %s"
                  % (v, g["ops"]))
        g = res[1]
        check((g["error"], g["id"], g["state"], g["ptype"], g["members"]) ==
              (0, offsets_only, "Empty", "", []), "DescribeGroups v%d offsets-only: %s" % (v, g))
        check(res[2]["state"] == "Dead", "DescribeGroups v%d unknown: %s" % (v, res[2]))

    # ListGroups: every version, then the filters.
    err, groups = c.ask(list_groups, parse_list_groups, 0)
    check(err == 0 and groups == {live: ("consumer", None, None), offsets_only: ("", None, None)},
          "ListGroups v0: %d %s" % (err, groups))
    err, groups = c.ask(list_groups, parse_list_groups, 4)
    check(groups == {live: ("consumer", "Stable", None), offsets_only: ("", "Empty", None)},
          "ListGroups v4: %s" % groups)
    err, groups = c.ask(list_groups, parse_list_groups, 5)
    check(groups == {live: ("consumer", "Stable", "classic"),
                     offsets_only: ("", "Empty", "classic")}, "ListGroups v5: %s" % groups)
    cases = [
        (4, ["Stable"], [], {live}),
        (4, ["stable", "DEAD"], [], {live}),
        (4, ["Empty"], [], {offsets_only}),
        (4, ["PreparingRebalance"], [], set()),
        (5, [], ["classic"], {live, offsets_only}),
        (5, [], ["Consumer"], set()),
        (5, ["Empty"], ["classic"], {offsets_only}),
        (5, [], ["nonsense"], set()),
    ]
    for v, states, types, want in cases:
        err, groups = c.ask(list_groups, parse_list_groups, v, states, types)
        check(err == 0 and set(groups) == want, "ListGroups v%d states %s types %s: %s"
              % (v, states, types, sorted(groups)))

    # DeleteGroups: a live group is refused, an unknown one not found; a name given twice
    # is answered once.
    for v in (0, 1, 2):
        res = c.ask(delete_groups, parse_delete_groups, v, [live, "nobody", live])
        check(sorted(res) == sorted([(live, E_NON_EMPTY), ("nobody", E_NOT_FOUND)]),
              "DeleteGroups v%d live and unknown: %s" % (v, res))
    err, groups = c.ask(list_groups, parse_list_groups, 0)
    check(set(groups) == {live, offsets_only}, "both groups still there: %s" % sorted(groups))

    # The member leaves: the group is Empty, then deletable; its offsets go with it.
    res = c.ask(offset_commit_v2, parse_offset_commit_v2, 2, live, topic, [(0, 3)])
    check(res == {(topic, 0): 25}, "OffsetCommit by an outsider to the live group: %s" % res)
    err = c.ask(leave_group_v0, parse_error_v0, 0, live, member)
    check(err == 0, "LeaveGroup v0: %d" % err)
    res = c.ask(describe_groups, parse_describe_groups, 0, [live])
    check(res[0]["state"] == "Empty" and res[0]["members"] == [],
          "DescribeGroups after leave: %s" % res)
    res = c.ask(offset_commit_v2, parse_offset_commit_v2, 2, live, topic, [(0, 11)])
    check(res == {(topic, 0): 0}, "OffsetCommit v2 to the empty group: %s" % res)

    res = c.ask(delete_groups, parse_delete_groups, 2, [live, offsets_only])
    check(sorted(res) == sorted([(live, 0), (offsets_only, 0)]), "DeleteGroups v2: %s" % res)
    err, groups = c.ask(list_groups, parse_list_groups, 5)
    check(err == 0 and groups == {}, "ListGroups after delete: %s" % groups)
    res = c.ask(describe_groups, parse_describe_groups, 5, [live, offsets_only])
    check([g["state"] for g in res] == ["Dead", "Dead"], "DescribeGroups after delete: %s" % res)
    for g in (live, offsets_only):
        got = c.ask(offset_fetch_v1, parse_offset_fetch_v1, 1, g, topic, [0, 1])
        check(got == {(topic, 0): (-1, 0), (topic, 1): (-1, 0)},
              "OffsetFetch of deleted %s: %s" % (g, got))
    res = c.ask(delete_groups, parse_delete_groups, 1, [live])
    check(res == [(live, E_NOT_FOUND)], "DeleteGroups of a deleted group: %s" % res)
    res = c.ask(delete_groups, parse_delete_groups, 2, [])
    check(res == [], "DeleteGroups of nothing: %s" % res)


def run_consumer_protocol(b, c):
    """A KIP-848 group: listed with its type, described, deleted only once empty."""
    topic, group = "admin-cg-topic", "admin-cg"
    err, _ = c.create_topic(topic, 2)
    check(err == 0, "create %s: %d" % (topic, err))
    wait_coordinator(c, group)
    err, member, epoch = c.ask(cg_heartbeat, parse_cg_heartbeat, 0, group, "", 0, [topic])
    check(err == 0 and member and epoch >= 1, "ConsumerGroupHeartbeat join: %d %s %d"
          % (err, member, epoch))
    err, groups = c.ask(list_groups, parse_list_groups, 5, [], ["consumer"])
    check(err == 0 and list(groups) == [group] and groups[group][0] == "consumer"
          and groups[group][2] == "consumer", "ListGroups v5 consumer type: %s" % groups)
    err, groups = c.ask(list_groups, parse_list_groups, 5, [], ["classic"])
    check(group not in groups, "ListGroups v5 classic type lists the consumer group: %s" % groups)
    res = c.ask(describe_groups, parse_describe_groups, 5, [group])
    g = res[0]
    check(g["error"] == 0 and g["ptype"] == "consumer" and g["state"] != "Dead"
          and [m["id"] for m in g["members"]] == [member] and g["members"][0]["client"] == "it",
          "DescribeGroups v5 of a consumer group: %s" % g)
    res = c.ask(delete_groups, parse_delete_groups, 2, [group])
    check(res == [(group, E_NON_EMPTY)], "DeleteGroups of a consumer group with a member: %s" % res)
    err, _, epoch = c.ask(cg_heartbeat, parse_cg_heartbeat, 0, group, member, -1)
    check(err == 0 and epoch == -1, "ConsumerGroupHeartbeat leave: %d %d" % (err, epoch))
    err, groups = c.ask(list_groups, parse_list_groups, 5, ["empty"], ["CONSUMER"])
    check(list(groups) == [group] and groups[group][1] == "Empty",
          "ListGroups v5 empty consumer groups: %s" % groups)
    res = c.ask(delete_groups, parse_delete_groups, 0, [group])
    check(res == [(group, 0)], "DeleteGroups of the empty consumer group: %s" % res)
    err, groups = c.ask(list_groups, parse_list_groups, 5)
    check(group not in groups, "ListGroups after deleting the consumer group: %s" % groups)


def run(b):
    c = Conn(b)
    try:
        guard("find_coordinator", run_find_coordinator, b, c)
        guard("groups", run_groups, b, c)
        guard("consumer protocol", run_consumer_protocol, b, c)
    finally:
        c.close()


with Broker(exe, extra=["--smp", smp, "--set", "group.initial.rebalance.delay.ms=50",
                        "--set", "offsets.topic.num.partitions=6"]) as b:
    guard("run", run, b)
    log = b.log_text()
finish(log)
