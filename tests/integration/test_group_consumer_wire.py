#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""The KIP-848 consumer group protocol over the wire, hand-built:
ConsumerGroupHeartbeat joins (the coordinator makes the member id), member
and group epochs, the uniform assignor's balance as members come and go,
reconciliation (a member is given only partitions no other member still
owns: revocation comes first, the newcomer waits, then gets them), leave
(-1), a member fenced when it does not revoke within its rebalance timeout,
a static member's temporary leave (-2) and its return with a new
member id and the old assignment without a rebalance, session expiry
(the others take over), the range assignor, a topic created after the
subscription and a subscribed topic's partition growth, OffsetCommit
membership checks (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID), every refusal
(INVALID_REQUEST for each missing field, UNSUPPORTED_ASSIGNOR,
UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH, UNRELEASED_INSTANCE_ID,
FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED, GROUP_ID_NOT_FOUND for a classic
group with members, an offsets-only classic group taken over),
ConsumerGroupDescribe field by field, DescribeGroups and ListGroups naming
the group's state and type, and the members' epochs and assignments
surviving a kill -9. Regex subscriptions (SubscribedTopicRegex) exist from
ConsumerGroupHeartbeat v1: checked when the broker advertises v1."""
import os
import re
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, guard, restart_same_port  # noqa: E402
from kwire import (Conn, Reader, request, cstr, kstr, uvarint, _answer, api_versions,  # noqa: E402
                   create_partitions_request, parse_create_partitions)

exe, smp = args("2")

E_NONE, E_COORD_NA, E_NOT_COORD, E_UNKNOWN_MEMBER, E_INVALID_GROUP = 0, 15, 16, 25, 24
E_INCONSISTENT, E_INVALID_REQUEST, E_GROUP_NOT_FOUND, E_MAX_SIZE = 23, 42, 69, 81
E_FENCED_INSTANCE, E_FENCED_EPOCH, E_UNRELEASED, E_UNSUPPORTED_ASSIGNOR = 82, 110, 111, 112
E_STALE_EPOCH, E_BAD_REGEX, E_MEMBER_ID_REQUIRED = 113, 128, 79
SESSION_MS, HB_MS, MAX_SIZE = 2500, 400, 4
ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
UNSET = object()


# ---- ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69) ----

def _carr(items):
    return uvarint(0) if items is None else uvarint(len(items) + 1)


def cg_heartbeat(corr, v, group, member="", epoch=0, instance=None, rack=None, rebalance_ms=-1,
                 topics=None, regex=None, assignor=None, owned=None, client=b"it"):
    """owned: {topic id: [partitions]} or None."""
    body = cstr(group) + cstr(member) + struct.pack(">i", epoch) + cstr(instance) + cstr(rack)
    body += struct.pack(">i", rebalance_ms) + _carr(topics)
    for t in topics or ():
        body += cstr(t)
    if v >= 1:
        body += cstr(regex)
    body += cstr(assignor)
    body += _carr(None if owned is None else list(owned))
    for tid, parts in (owned or {}).items():
        body += tid + uvarint(len(parts) + 1) + b"".join(struct.pack(">i", p) for p in parts)
        body += b"\x00"
    return request(68, v, corr, body + b"\x00", client=client, flexible=True)


def _tps(r):
    out = {}
    for _ in range(r.array_len(True)):
        tid = r.uuid()
        out[tid] = [r.i32() for _ in range(r.array_len(True))]
        r.tags(True)
    return out


def parse_cg_heartbeat(frame, v):
    r = _answer(frame, True, True)
    a = {"ErrorCode": r.i16(), "ErrorMessage": r.string(True), "MemberId": r.string(True),
         "MemberEpoch": r.i32(), "HeartbeatIntervalMs": r.i32(), "Assignment": None}
    if r.i8() >= 0:
        a["Assignment"] = _tps(r)
        r.tags(True)
    r.tags(True)
    return a


def cg_describe(corr, v, groups, ops=False):
    body = _carr(groups) + b"".join(cstr(g) for g in groups) + struct.pack(">b", 1 if ops else 0)
    return request(69, v, corr, body + b"\x00", flexible=True)


def _named_tps(r):
    out = {}
    for _ in range(r.array_len(True)):
        tid, name = r.uuid(), r.string(True)
        out[name] = ([r.i32() for _ in range(r.array_len(True))], tid)
        r.tags(True)
    return out


def parse_cg_describe(frame, v):
    r = _answer(frame, True, True)
    groups = []
    for _ in range(r.array_len(True)):
        g = {"ErrorCode": r.i16(), "ErrorMessage": r.string(True), "GroupId": r.string(True),
             "GroupState": r.string(True), "GroupEpoch": r.i32(), "AssignmentEpoch": r.i32(),
             "AssignorName": r.string(True), "Members": []}
        for _ in range(r.array_len(True)):
            m = {"MemberId": r.string(True), "InstanceId": r.string(True),
                 "RackId": r.string(True), "MemberEpoch": r.i32(), "ClientId": r.string(True),
                 "ClientHost": r.string(True),
                 "SubscribedTopicNames": [r.string(True) for _ in range(r.array_len(True))],
                 "SubscribedTopicRegex": r.string(True)}
            m["Assignment"] = _named_tps(r)
            r.tags(True)
            m["TargetAssignment"] = _named_tps(r)
            r.tags(True)
            r.tags(True)
            g["Members"].append(m)
        g["AuthorizedOperations"] = r.i32()
        r.tags(True)
        groups.append(g)
    r.tags(True)
    return groups


def offset_commit_v9(corr, v, group, epoch, member, topic, parts):
    body = cstr(group) + struct.pack(">i", epoch) + cstr(member) + cstr(None)
    body += uvarint(2) + cstr(topic) + uvarint(len(parts) + 1)
    for p, off in parts:
        body += struct.pack(">iqi", p, off, -1) + cstr("") + b"\x00"
    body += b"\x00" + b"\x00"
    return request(8, 9, corr, body, flexible=True)


def parse_offset_commit_v9(frame, v):
    r = _answer(frame, True, True)
    out = {}
    for _ in range(r.array_len(True)):
        name = r.string(True)
        for _ in range(r.array_len(True)):
            p, err = r.i32(), r.i16()
            r.tags(True)
            out[(name, p)] = err
        r.tags(True)
    return out


def offset_commit_v2(corr, v, group, topic, parts):
    body = struct.pack(">h", len(group)) + group.encode() + struct.pack(">i", -1)
    body += struct.pack(">h", 0) + struct.pack(">q", -1) + struct.pack(">i", 1)
    body += struct.pack(">h", len(topic)) + topic.encode() + struct.pack(">i", len(parts))
    for p, off in parts:
        body += struct.pack(">iqh", p, off, 0)
    return request(8, 2, corr, body)


def join_group_v3(corr, v, group, session_ms=10000, rebalance_ms=10000):
    body = kstr(group) + struct.pack(">ii", session_ms, rebalance_ms) + kstr("") + kstr("consumer")
    body += struct.pack(">i", 1) + kstr("range") + struct.pack(">i", 4) + b"meta"
    return request(11, 3, corr, body)


def parse_join_group_v3(frame, v):
    r = _answer(frame, False, True)
    return {"ErrorCode": r.i16(), "GenerationId": r.i32()}


def describe_groups_v5(corr, v, groups):
    body = uvarint(len(groups) + 1) + b"".join(cstr(g) for g in groups) + b"\x00"
    return request(15, 5, corr, body + b"\x00", flexible=True)


def parse_describe_groups_v5(frame, v):
    r = _answer(frame, True, True)
    out = []
    for _ in range(r.array_len(True)):
        g = {"ErrorCode": r.i16(), "GroupId": r.string(True), "GroupState": r.string(True),
             "ProtocolType": r.string(True), "ProtocolData": r.string(True), "Members": []}
        for _ in range(r.array_len(True)):
            g["Members"].append({"MemberId": r.string(True), "GroupInstanceId": r.string(True),
                                 "ClientId": r.string(True), "ClientHost": r.string(True),
                                 "MemberMetadata": r.bytes_(True),
                                 "MemberAssignment": r.bytes_(True)})
            r.tags(True)
        g["AuthorizedOperations"] = r.i32()
        r.tags(True)
        out.append(g)
    r.tags(True)
    return out


def classic_assignment(raw):
    """A ConsumerProtocolAssignment: {topic: [partitions]}."""
    r = Reader(raw)
    r.i16()
    out = {}
    for _ in range(r.i32()):
        name = r.string(False)
        out[name] = [r.i32() for _ in range(r.i32())]
    return out


def list_groups_v5(corr, v):
    return request(16, 5, corr, uvarint(1) + uvarint(1) + b"\x00", flexible=True)


def parse_list_groups_v5(frame, v):
    r = _answer(frame, True, True)
    err = r.i16()
    out = {}
    for _ in range(r.array_len(True)):
        gid, ptype, state, gtype = r.string(True), r.string(True), r.string(True), r.string(True)
        r.tags(True)
        out[gid] = (ptype, state, gtype)
    r.tags(True)
    return err, out


# ---- A member --------------------------------------------------------------------

class Member:
    """One connection acting as one KIP-848 member. `owned` is what it holds:
    it takes what an answer's assignment says at once, as a client does."""

    def __init__(self, b, group, topics=("cg-a",), assignor=None, instance=None, v=0,
                 rebalance_ms=5000):
        self.c = Conn(b)
        self.group, self.topics, self.assignor, self.instance = group, list(topics), assignor, instance
        self.v, self.rebalance_ms = v, rebalance_ms
        self.id, self.epoch, self.owned = "", 0, {}

    def hb(self, epoch=UNSET, owned=UNSET, topics=None, rebalance_ms=-1, member=UNSET, **kw):
        a = self.c.ask(cg_heartbeat, parse_cg_heartbeat, self.v, self.group,
                       member=self.id if member is UNSET else member,
                       epoch=self.epoch if epoch is UNSET else epoch,
                       instance=kw.pop("instance", self.instance), rebalance_ms=rebalance_ms,
                       topics=topics, owned=self.owned if owned is UNSET else owned, **kw)
        if a["ErrorCode"] == E_NONE:
            self.id = a["MemberId"] or self.id
            self.epoch = a["MemberEpoch"]
            if a["Assignment"] is not None:
                self.owned = {t: sorted(p) for t, p in a["Assignment"].items() if p}
        return a

    def join(self, **kw):
        self.epoch, self.owned = 0, {}
        kw.setdefault("assignor", self.assignor)
        return self.hb(epoch=0, owned={}, topics=self.topics, rebalance_ms=self.rebalance_ms,
                       **kw)

    def leave(self, epoch=-1):
        return self.hb(epoch=epoch, owned=None)

    def parts(self, tid):
        return self.owned.get(tid, [])

    def close(self):
        self.c.close()


def describe(b, group, ops=False):
    with Conn(b) as c:
        return c.ask(cg_describe, parse_cg_describe, 0, [group], ops)[0]


def wait_coordinator(b):
    """The first group request creates __consumer_offsets: COORDINATOR_NOT_AVAILABLE until then."""
    m = Member(b, "warmup", topics=())
    seen = []
    deadline = time.time() + 20
    while time.time() < deadline:
        a = m.join()
        seen.append(a["ErrorCode"])
        if a["ErrorCode"] != E_COORD_NA:
            break
        time.sleep(0.1)
    check(seen[-1] == E_NONE and set(seen[:-1]) <= {E_COORD_NA},
          "a join once __consumer_offsets exists (before: COORDINATOR_NOT_AVAILABLE): %r" % seen)
    m.leave()
    m.close()


def member_of(d, mid):
    return next((x for x in d["Members"] if x["MemberId"] == mid), None)


# ---- The tests ---------------------------------------------------------------------

def test_reconcile(b, tid):
    g = "rec"
    a = Member(b, g)
    j = a.join()
    check(j["ErrorCode"] == E_NONE and ID_RE.match(j["MemberId"] or "") and j["MemberEpoch"] == 1
          and j["HeartbeatIntervalMs"] == HB_MS and j["Assignment"] == {tid: [0, 1, 2, 3, 4, 5]},
          "the first member: a coordinator-made id, epoch 1, the interval, all 6 partitions: %r"
          % (j,))
    d = describe(b, g)
    m = member_of(d, a.id)
    check(d["ErrorCode"] == 0 and d["GroupState"] == "Stable" and d["GroupEpoch"] == 1
          and d["AssignmentEpoch"] == 1 and d["AssignorName"] == "uniform" and m is not None
          and m["MemberEpoch"] == 1 and m["ClientId"] == "it" and m["ClientHost"] == "/127.0.0.1"
          and m["InstanceId"] is None and m["RackId"] is None
          and m["SubscribedTopicNames"] == ["cg-a"] and m["SubscribedTopicRegex"] is None
          and m["Assignment"] == {"cg-a": ([0, 1, 2, 3, 4, 5], tid)}
          and m["TargetAssignment"] == {"cg-a": ([0, 1, 2, 3, 4, 5], tid)}
          and d["AuthorizedOperations"] == -2147483648,
          "ConsumerGroupDescribe: Stable, epochs 1/1, uniform, the member field by field: %r" % (d,))
    h = a.hb()
    check(h["ErrorCode"] == E_NONE and h["MemberEpoch"] == 1 and h["Assignment"] is None,
          "a plain heartbeat with nothing new: same epoch, no assignment: %r" % (h,))

    bm = Member(b, g)
    j = bm.join()
    check(j["ErrorCode"] == E_NONE and j["MemberEpoch"] == 2 and j["Assignment"] == {},
          "the second member: group epoch 2, nothing yet (all still owned): %r" % (j,))
    d = describe(b, g)
    check(d["GroupState"] == "Reconciling" and d["GroupEpoch"] == 2 and d["AssignmentEpoch"] == 2
          and member_of(d, a.id)["TargetAssignment"]["cg-a"][0] == [0, 1, 2]
          and member_of(d, bm.id)["TargetAssignment"]["cg-a"][0] == [3, 4, 5],
          "Reconciling; the targets split 3/3: %r" % (d,))
    h = a.hb()
    check(h["MemberEpoch"] == 1 and h["Assignment"] == {tid: [0, 1, 2]},
          "the first member is asked to revoke 3,4,5 and stays at epoch 1: %r" % (h,))
    h = bm.hb()
    check(h["MemberEpoch"] == 2 and h["Assignment"] is None,
          "the newcomer still waits while they are not released: %r" % (h,))
    h = a.hb()
    check(h["MemberEpoch"] == 2 and h["Assignment"] is None,
          "once its heartbeat no longer lists them, the first member moves to epoch 2: %r" % (h,))
    h = bm.hb()
    check(h["MemberEpoch"] == 2 and h["Assignment"] == {tid: [3, 4, 5]},
          "then the newcomer gets 3,4,5: %r" % (h,))
    check(describe(b, g)["GroupState"] == "Stable", "Stable again")

    # A third member: 2/2/2, each taking over only what was let go.
    c = Member(b, g)
    j = c.join()
    check(j["MemberEpoch"] == 3 and j["Assignment"] == {}, "the third member: epoch 3, nothing yet")
    d = describe(b, g)
    targets = {x["MemberId"]: x["TargetAssignment"].get("cg-a", ([], None))[0] for x in d["Members"]}
    check(sorted(len(p) for p in targets.values()) == [2, 2, 2]
          and sorted(sum(targets.values(), [])) == [0, 1, 2, 3, 4, 5]
          and set(targets[a.id]) <= {0, 1, 2} and set(targets[bm.id]) <= {3, 4, 5},
          "the targets are 2/2/2 and the old members keep what they had: %r" % (targets,))
    ha = a.hb()
    hb_ = bm.hb()
    check(ha["MemberEpoch"] == 2 and hb_["MemberEpoch"] == 2 and len(a.parts(tid)) == 2
          and len(bm.parts(tid)) == 2, "both old members revoke one partition each, epoch 2")
    h = c.hb()
    check(h["Assignment"] is None and c.parts(tid) == [], "the newcomer waits for both")
    a.hb()
    h = c.hb()
    check(h["MemberEpoch"] == 3 and h["Assignment"] is not None and len(c.parts(tid)) == 1,
          "one released: it gets that one at epoch 3 (the other still pending): %r" % (h,))
    check(describe(b, g)["GroupState"] == "Reconciling", "Reconciling while one is unreleased")
    bm.hb()
    h = c.hb()
    check(h["MemberEpoch"] == 3 and c.parts(tid) == targets[c.id],
          "both released: it has its target %r: %r" % (targets[c.id], h))
    owners = a.parts(tid) + bm.parts(tid) + c.parts(tid)
    check(sorted(owners) == [0, 1, 2, 3, 4, 5], "no partition is owned twice: %r" % owners)
    d = describe(b, g)
    check(d["GroupState"] == "Stable" and d["GroupEpoch"] == 3
          and all(x["MemberEpoch"] == 3 for x in d["Members"]), "Stable at epoch 3")

    # OffsetCommit from a member: its epoch must be the current one.
    oc = a.c.ask(offset_commit_v9, parse_offset_commit_v9, 9, g, a.epoch, a.id, "cg-a", [(0, 5)])
    check(oc == {("cg-a", 0): E_NONE}, "OffsetCommit with the member's epoch: %r" % oc)
    oc = a.c.ask(offset_commit_v9, parse_offset_commit_v9, 9, g, a.epoch - 1, a.id, "cg-a", [(0, 5)])
    check(oc == {("cg-a", 0): E_STALE_EPOCH}, "an older epoch: STALE_MEMBER_EPOCH: %r" % oc)
    oc = a.c.ask(offset_commit_v9, parse_offset_commit_v9, 9, g, 3, "nobody", "cg-a", [(0, 5)])
    check(oc == {("cg-a", 0): E_UNKNOWN_MEMBER}, "an unknown member: UNKNOWN_MEMBER_ID: %r" % oc)

    # Errors of a member.
    h = a.hb(epoch=a.epoch + 5)
    check(h["ErrorCode"] == E_FENCED_EPOCH and "greater member epoch" in (h["ErrorMessage"] or ""),
          "a greater epoch: FENCED_MEMBER_EPOCH: %r" % (h,))
    h = a.hb(epoch=1)
    check(h["ErrorCode"] == E_FENCED_EPOCH, "an old epoch that is not the previous: FENCED: %r" % (h,))
    h = a.hb(member="ghost", epoch=3)
    check(h["ErrorCode"] == E_UNKNOWN_MEMBER,
          "an unknown member id: UNKNOWN_MEMBER_ID: %r" % (h,))

    # A leave: the others take its partitions back.
    h = c.leave()
    check(h["ErrorCode"] == E_NONE and h["MemberEpoch"] == -1 and h["MemberId"] == c.id,
          "a leave (-1) is answered with epoch -1: %r" % (h,))
    c.close()
    for _ in range(4):
        a.hb()
        bm.hb()
    check(sorted(a.parts(tid) + bm.parts(tid)) == [0, 1, 2, 3, 4, 5] and a.epoch == 4
          and bm.epoch == 4 and len(a.parts(tid)) == 3,
          "after the leave the two share all six again at epoch 4: %r %r" % (a.owned, bm.owned))
    lg = a.c.ask(list_groups_v5, parse_list_groups_v5, 5)
    check(lg[0] == 0 and lg[1].get(g) == ("consumer", "Stable", "consumer"),
          "ListGroups v5: the group is Stable, of type consumer: %r" % (lg[1].get(g),))
    dg = a.c.ask(describe_groups_v5, parse_describe_groups_v5, 5, [g])[0]
    check(dg["ErrorCode"] == 0 and dg["GroupState"] == "Stable" and dg["ProtocolType"] == "consumer"
          and sorted(x["MemberId"] for x in dg["Members"]) == sorted([a.id, bm.id]),
          "DescribeGroups names the consumer group's state and members: %r" % (dg,))
    got = {x["MemberId"]: classic_assignment(x["MemberAssignment"]) for x in dg["Members"]}
    check(got == {a.id: {"cg-a": a.parts(tid)}, bm.id: {"cg-a": bm.parts(tid)}},
          "and each member's assignment as a ConsumerProtocolAssignment: %r" % (got,))
    return a, bm


def test_expiry(b, tid, a, bm):
    """bm stops heartbeating: after the session timeout a gets everything."""
    g = a.group
    deadline = time.time() + SESSION_MS / 1000.0 + 5
    while time.time() < deadline and len(describe(b, g)["Members"]) > 1:
        a.hb()
        time.sleep(0.3)
    d = describe(b, g)
    check(len(d["Members"]) == 1 and d["GroupEpoch"] == 5,
          "the silent member is fenced after its session (group epoch 5): %r" % (d,))
    a.hb()
    check(a.parts(tid) == [0, 1, 2, 3, 4, 5] and a.epoch == 5,
          "the remaining member gets all six at epoch 5: %r" % (a.owned,))
    h = bm.hb()
    check(h["ErrorCode"] == E_UNKNOWN_MEMBER, "the fenced member is unknown now: %r" % (h,))
    j = bm.join(member=bm.id)
    check(j["ErrorCode"] == E_NONE and j["MemberEpoch"] == 6, "and may join again: %r" % (j,))
    bm.leave()
    a.leave()
    d = describe(b, g)
    check(d["GroupState"] == "Empty" and d["Members"] == [] and d["GroupEpoch"] == 8,
          "both left: Empty, the epoch kept: %r" % (d,))
    a.close()
    bm.close()


def test_rebalance_timeout(b, tid):
    """A member that keeps heartbeating but never lets go of what it must revoke is
    fenced after its rebalance timeout; the waiting member then gets everything."""
    g = "stubborn"
    a = Member(b, g, rebalance_ms=1000)
    a.join()
    bm = Member(b, g)
    bm.join()
    h = a.hb(owned={tid: [0, 1, 2, 3, 4, 5]})
    check(h["Assignment"] is not None and len(h["Assignment"][tid]) == 3,
          "the first member is asked to revoke three: %r" % (h,))
    fenced = None
    deadline = time.time() + 6
    while time.time() < deadline:
        h = a.hb(owned={tid: [0, 1, 2, 3, 4, 5]})
        bm.hb()
        if h["ErrorCode"] != E_NONE:
            fenced = h
            break
        time.sleep(0.2)
    check(fenced is not None and fenced["ErrorCode"] == E_UNKNOWN_MEMBER,
          "it still lists them past its 1 s rebalance timeout: fenced, then unknown: %r" % (fenced,))
    for _ in range(2):
        bm.hb()
    check(bm.parts(tid) == [0, 1, 2, 3, 4, 5], "the other member gets all six: %r" % (bm.owned,))
    bm.leave()
    a.close()
    bm.close()


def test_refusals(b):
    with Conn(b) as c:
        def hb(**kw):
            kw.setdefault("rebalance_ms", 5000)
            kw.setdefault("topics", ["cg-a"])
            kw.setdefault("owned", {})
            return c.ask(cg_heartbeat, parse_cg_heartbeat, 0, kw.pop("group", "ref"), **kw)

        cases = [
            ("an empty group id", dict(group=""), E_INVALID_REQUEST, "GroupId can't be empty."),
            ("no RebalanceTimeoutMs on join", dict(rebalance_ms=-1), E_INVALID_REQUEST,
             "RebalanceTimeoutMs must be provided in first request."),
            ("owned partitions on join", dict(owned={b"\x01" * 16: [0]}), E_INVALID_REQUEST,
             "TopicPartitions must be empty when (re-)joining."),
            ("null owned partitions on join", dict(owned=None), E_INVALID_REQUEST,
             "TopicPartitions must be empty when (re-)joining."),
            ("no subscription on join", dict(topics=None), E_INVALID_REQUEST, None),
            ("an empty member id past epoch 0", dict(epoch=3), E_INVALID_REQUEST,
             "MemberId can't be empty."),
            ("epoch -3", dict(member="x", epoch=-3), E_INVALID_REQUEST, "MemberEpoch is invalid."),
            ("-2 without an instance id", dict(member="x", epoch=-2), E_INVALID_REQUEST,
             "InstanceId can't be null."),
            ("an empty instance id", dict(instance=""), E_INVALID_REQUEST,
             "InstanceId can't be empty."),
            ("an unknown assignor", dict(assignor="sticky"), E_UNSUPPORTED_ASSIGNOR, None),
            ("a heartbeat to an unknown group", dict(group="nosuch", member="m", epoch=4),
             E_GROUP_NOT_FOUND, "Consumer group nosuch not found."),
            ("a leave of an unknown group", dict(group="nosuch", member="m", epoch=-1),
             E_GROUP_NOT_FOUND, "Consumer group nosuch not found."),
        ]
        for what, kw, want, text in cases:
            a = hb(**kw)
            check(a["ErrorCode"] == want and (text is None or a["ErrorMessage"] == text)
                  and a["MemberId"] is None,
                  "%s: %d %r" % (what, want, a))
        d = c.ask(cg_describe, parse_cg_describe, 0, ["nosuch", ""])
        check([x["ErrorCode"] for x in d] == [E_GROUP_NOT_FOUND, E_INVALID_GROUP]
              and d[0]["GroupId"] == "nosuch" and "not found" in (d[0]["ErrorMessage"] or ""),
              "describe: an unknown group GROUP_ID_NOT_FOUND, an empty id INVALID_GROUP_ID: %r" % d)


def test_max_size_and_static(b, tid):
    g = "static"
    ms = [Member(b, g, instance="inst-%d" % i) for i in range(MAX_SIZE)]
    for m in ms:
        check(m.join()["ErrorCode"] == E_NONE, "member %s joins" % m.instance)
    extra = Member(b, g)
    j = extra.join()
    check(j["ErrorCode"] == E_MAX_SIZE, "group.consumer.max.size=%d: GROUP_MAX_SIZE_REACHED: %r"
          % (MAX_SIZE, j))
    extra.close()
    for _ in range(4):
        for m in ms:
            m.hb()
    epoch = describe(b, g)["GroupEpoch"]
    s = ms[0]
    dup = Member(b, g, instance=s.instance)
    j = dup.join()
    check(j["ErrorCode"] == E_UNRELEASED, "the same instance id while it is in: "
          "UNRELEASED_INSTANCE_ID: %r" % (j,))
    h = dup.hb(member="other", epoch=s.epoch, instance=s.instance)
    check(h["ErrorCode"] == E_FENCED_INSTANCE, "another member id with its instance id: "
          "FENCED_INSTANCE_ID: %r" % (h,))
    had = dict(s.owned)
    h = s.leave(epoch=-2)
    check(h["ErrorCode"] == E_NONE and h["MemberEpoch"] == -2, "a static member leaves with -2: %r"
          % (h,))
    d = describe(b, g)
    check(d["GroupEpoch"] == epoch and member_of(d, s.id)["MemberEpoch"] == -2,
          "it stays a member at epoch -2, no rebalance: %r" % (d,))
    j = dup.join()
    check(j["ErrorCode"] == E_NONE and j["MemberId"] != s.id and dup.owned == had
          and j["MemberEpoch"] == epoch,
          "it comes back with a new member id and its old assignment at epoch %d: %r" % (epoch, j))
    d = describe(b, g)
    check(d["GroupEpoch"] == epoch and member_of(d, s.id) is None and len(d["Members"]) == MAX_SIZE
          and member_of(d, dup.id)["InstanceId"] == s.instance,
          "the group epoch stays %d, the old id is gone: %r" % (epoch, d))
    for m in ms[1:] + [dup]:
        m.leave()
        m.close()
    s.close()


def test_range_and_topics(b, c, tid):
    """range over 5 partitions; then a topic created after the subscription and partition growth."""
    _, tid5 = c.create_topic("cg-r5", 5)
    g = "ranged"
    x = Member(b, g, topics=("cg-r5", "cg-late"), assignor="range")
    y = Member(b, g, topics=("cg-r5", "cg-late"), assignor="range")
    x.join()
    y.join()
    for _ in range(3):
        x.hb()
        y.hb()
    first, second = sorted([x, y], key=lambda m: m.id)
    d = describe(b, g)
    check(d["AssignorName"] == "range" and first.parts(tid5) == [0, 1, 2]
          and second.parts(tid5) == [3, 4],
          "range: the member with the lower id gets 0-2, the other 3-4: %r %r"
          % (first.owned, second.owned))
    epoch = d["GroupEpoch"]
    err, tid_late = c.create_topic("cg-late", 2)
    check(err == 0, "the subscribed topic cg-late is created")
    for _ in range(3):
        x.hb()
        y.hb()
    d = describe(b, g)
    check(d["GroupEpoch"] == epoch + 1 and first.parts(tid_late) == [0]
          and second.parts(tid_late) == [1],
          "its creation bumps the group epoch and its partitions are assigned: %r" % (d,))
    res = c.ask(create_partitions_request, parse_create_partitions, 0, [("cg-r5", 7, None)])
    check(res[0][1] == 0, "cg-r5 grows to 7 partitions: %r" % res)
    for _ in range(4):
        x.hb()
        y.hb()
    d = describe(b, g)
    check(d["GroupEpoch"] == epoch + 2 and sorted(first.parts(tid5) + second.parts(tid5))
          == list(range(7)) and len(first.parts(tid5)) == 4,
          "the growth bumps the epoch again and the new partitions are assigned: %r %r"
          % (first.owned, second.owned))
    x.leave()
    y.leave()
    x.close()
    y.close()


def test_classic_conflicts(b, c, tid):
    # A classic group with a member: a consumer-protocol join is refused.
    g = "classic-busy"
    j = c.ask(join_group_v3, parse_join_group_v3, 3, g)
    check(j["ErrorCode"] == 0, "a classic member joins %s: %r" % (g, j))
    m = Member(b, g)
    h = m.join()
    check(h["ErrorCode"] == E_GROUP_NOT_FOUND and "not a consumer group" in (h["ErrorMessage"] or ""),
          "a consumer-protocol join of a classic group with members: GROUP_ID_NOT_FOUND: %r" % (h,))
    d = describe(b, g)
    check(d["ErrorCode"] == E_GROUP_NOT_FOUND and "not a consumer group" in (d["ErrorMessage"] or ""),
          "ConsumerGroupDescribe of a classic group: GROUP_ID_NOT_FOUND with a message: %r" % (d,))
    m.close()
    # A classic group holding only offsets becomes a consumer group.
    g = "offsets-only"
    r = c.call(offset_commit_v2, 2, g, "cg-a", [(1, 42)])
    check(r is not None, "a simple consumer commits into %s" % g)
    m = Member(b, g)
    h = m.join()
    check(h["ErrorCode"] == E_NONE and h["MemberEpoch"] == 1,
          "a consumer-protocol join takes over the offsets-only group: %r" % (h,))
    d = describe(b, g)
    check(d["ErrorCode"] == 0 and d["GroupState"] == "Stable", "it is a consumer group now")
    j = c.ask(join_group_v3, parse_join_group_v3, 3, g)
    check(j["ErrorCode"] == E_INCONSISTENT, "and a classic join of it is refused "
          "(INCONSISTENT_GROUP_PROTOCOL): %r" % (j,))
    m.leave()
    m.close()


def test_regex(b, c, tid):
    with Conn(b) as v:
        vers = v.ask(api_versions, lambda f, ver: f, 0)
    # The ApiVersions v0 answer after the correlation id: error, [key, min, max].
    n = struct.unpack(">i", vers[6:10])[0]
    top = 0
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", vers[10 + 6 * i:16 + 6 * i])
        if k == 68:
            top = hi
    if top < 1:
        print("note: ConsumerGroupHeartbeat v1 (SubscribedTopicRegex) is not advertised: "
              "regex subscriptions not checked over the wire")
        return
    c.create_topic("rx-one", 2)
    c.create_topic("rx-two", 1)
    m = Member(b, "regexed", topics=(), v=1)
    m.id = "rx-member-1"
    j = m.join(member=m.id, regex="^rx-.*")
    check(j["ErrorCode"] == E_NONE and sum(len(p) for p in m.owned.values()) == 3,
          "a regex subscription gets the partitions of every matching topic: %r" % (j,))
    epoch = describe(b, "regexed")["GroupEpoch"]
    c.create_topic("rx-three", 2)
    c.create_topic("other", 1)
    for _ in range(3):
        m.hb()
    check(sum(len(p) for p in m.owned.values()) == 5 and describe(b, "regexed")["GroupEpoch"]
          == epoch + 1, "a topic created later that matches is assigned too (one epoch bump): %r"
          % (m.owned,))
    bad = Member(b, "regexed", topics=(), v=1)
    h = bad.join(member="rx-member-2", regex="([a-")
    check(h["ErrorCode"] == E_BAD_REGEX, "a bad regex: INVALID_REGULAR_EXPRESSION: %r" % (h,))
    d = describe(b, "regexed")
    check(d["Members"][0]["SubscribedTopicRegex"] == "^rx-.*", "describe shows the regex")
    m.leave()
    m.close()
    bad.close()


def test_restart(b, tid):
    g = "durable"
    a, bm = Member(b, g), Member(b, g)
    a.join()
    bm.join()
    for _ in range(3):
        a.hb()
        bm.hb()
    before = describe(b, g)
    restart_same_port(b, signal.SIGKILL)
    d = None
    deadline = time.time() + 20
    while time.time() < deadline:
        d = describe(b, g)
        if d["ErrorCode"] == 0:
            break
        time.sleep(0.1)

    def norm(x):
        return (x["GroupState"], x["GroupEpoch"], x["AssignmentEpoch"], x["AssignorName"],
                sorted((m["MemberId"], m["MemberEpoch"], m["ClientHost"], m["SubscribedTopicNames"],
                        m["Assignment"], m["TargetAssignment"]) for m in x["Members"]))

    check(d["ErrorCode"] == 0 and norm(d) == norm(before),
          "after kill -9 the group is back: epochs, members and assignments: %r vs %r"
          % (d, before))
    a.c = Conn(b)
    bm.c = Conn(b)
    ha, hb_ = a.hb(), bm.hb()
    check(ha["ErrorCode"] == E_NONE and hb_["ErrorCode"] == E_NONE and ha["MemberEpoch"] == a.epoch
          and hb_["MemberEpoch"] == bm.epoch, "the members heartbeat on at their epochs: %r %r"
          % (ha, hb_))
    a.leave()
    bm.leave()
    a.close()
    bm.close()


with Broker(exe, extra=["--smp", smp, "--set", "offsets.topic.num.partitions=6",
                        "--set", "group.consumer.session.timeout.ms=%d" % SESSION_MS,
                        "--set", "group.consumer.heartbeat.interval.ms=%d" % HB_MS,
                        "--set", "group.consumer.max.size=%d" % MAX_SIZE,
                        "--set", "group.initial.rebalance.delay.ms=50"]) as b:
    with Conn(b) as c:
        err, tid = c.create_topic("cg-a", 6)
        check(err == 0, "topic cg-a, 6 partitions")
        wait_coordinator(b)
        guard("refusals", test_refusals, b)
        out = []
        if guard("reconcile", lambda: out.append(test_reconcile(b, tid))):
            guard("expiry", test_expiry, b, tid, *out[0])
        guard("rebalance timeout", test_rebalance_timeout, b, tid)
        guard("max size and static", test_max_size_and_static, b, tid)
        guard("range and topics", test_range_and_topics, b, c, tid)
        guard("classic conflicts", test_classic_conflicts, b, c, tid)
        guard("regex", test_regex, b, c, tid)
    guard("restart", test_restart, b, tid)
    log = b.log_text()
finish(log)
