#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""The classic group protocol over the wire, hand-built: JoinGroup,
SyncGroup, Heartbeat and LeaveGroup answered field by field, and every
refusal Kafka's coordinator gives: INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT,
MEMBER_ID_REQUIRED (KIP-394) then the join with the id it gave,
REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
INCONSISTENT_GROUP_PROTOCOL (join and SyncGroup v5), GROUP_MAX_SIZE_REACHED,
FENCED_INSTANCE_ID. Also: the leader alone gets the members' metadata, the
protocol every member supports is chosen by vote, followers' SyncGroups wait
for the leader's, a member that stops heartbeating is removed after its
session timeout and one that does not rejoin after the rebalance timeout,
a static member (KIP-345) comes back with a new member id and its old
assignment without a rebalance (the generation stays), batch leave by
instance id (v3+), old versions v0/v1, DescribeGroups' member fields, and
the group's members and generation surviving a kill -9 (restored members
heartbeat on, then expire), and OffsetCommit's member checks
(sp_group_classic_commit_check)."""
import os
import re
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, guard, restart_same_port  # noqa: E402
from kwire import Conn, read_frame, corr_of  # noqa: E402
from kwire import (join_group_request, parse_join_group, sync_group_request,  # noqa: E402
                   parse_sync_group, heartbeat_request, parse_heartbeat,
                   leave_group_request, parse_leave_group, describe_groups_request,
                   parse_describe_groups, offset_commit_v7_request, parse_offset_commit_v7)

exe, smp = args("2")

E_NONE, E_COORD_NA, E_NOT_COORD, E_ILLEGAL_GEN, E_INCONSISTENT = 0, 15, 16, 22, 23
E_INVALID_GROUP, E_UNKNOWN_MEMBER, E_INVALID_SESSION, E_REBALANCING = 24, 25, 26, 27
E_MEMBER_ID_REQUIRED, E_MAX_SIZE, E_FENCED = 79, 81, 82
TOPIC = "gcw-topic"
MIN_SESSION_MS = 300
ID_RE = re.compile(r"^it-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class Member:
    """One connection acting as one group member; requests may be left
    outstanding (a held JoinGroup) and answered later."""

    def __init__(self, b, group, v=5, instance=None, protocols=(("range", b"meta"),),
                 session_ms=5000, rebalance_ms=5000, client=b"it"):
        self.c = Conn(b)
        self.group, self.v, self.instance = group, v, instance
        self.protocols, self.session_ms, self.rebalance_ms = protocols, session_ms, rebalance_ms
        self.client = client
        self.id, self.gen, self.out = "", -1, None

    def send_join(self, v=None, member=None, **kw):
        v = self.v if v is None else v
        kw.setdefault("protocols", self.protocols)
        kw.setdefault("instance", self.instance)
        kw.setdefault("session_ms", self.session_ms)
        kw.setdefault("rebalance_ms", self.rebalance_ms)
        corr = self.c.next()
        self.c.s.sendall(join_group_request(corr, v, self.group,
                                            self.id if member is None else member,
                                            client=self.client, **kw))
        self.out = (corr, v, parse_join_group)

    def send_sync(self, assignments=(), v=None, gen=None, **kw):
        v = self.v if v is None else v
        kw.setdefault("instance", self.instance)
        corr = self.c.next()
        v = min(v, 5)
        self.c.s.sendall(sync_group_request(corr, v, self.group, self.gen if gen is None else gen,
                                            self.id, assignments, client=self.client, **kw))
        self.out = (corr, v, parse_sync_group)

    def held(self, wait=0.3):
        """Whether the outstanding request is still unanswered after wait seconds."""
        return not select.select([self.c.s], [], [], wait)[0]

    def recv(self):
        corr, v, parse = self.out
        frame = read_frame(self.c.s)
        if corr_of(frame) != corr:
            raise ValueError("correlation id %d, expected %d" % (corr_of(frame), corr))
        self.out = None
        ans = parse(frame, v)
        if parse is parse_join_group and ans["ErrorCode"] == E_NONE:
            self.id, self.gen = ans["MemberId"], ans["GenerationId"]
        return ans

    def join(self, **kw):
        self.send_join(**kw)
        return self.recv()

    def sync(self, assignments=(), **kw):
        self.send_sync(assignments, **kw)
        return self.recv()

    def heartbeat(self, v=None, gen=None, member=None, instance="same"):
        v = self.v if v is None else v
        return self.c.ask(heartbeat_request, parse_heartbeat, min(v, 4), self.group,
                          self.gen if gen is None else gen, self.id if member is None else member,
                          self.instance if instance == "same" else instance)

    def commit(self, gen=None, member=None, instance="same"):
        """OffsetCommit v7 of offset 1 of TOPIC-0 as this member: the partition's error."""
        return self.c.ask(offset_commit_v7_request, parse_offset_commit_v7, 7, self.group,
                          self.gen if gen is None else gen, self.id if member is None else member,
                          self.instance if instance == "same" else instance, TOPIC, 0, 1)

    def leave(self, v=None):
        v = self.v if v is None else v
        return self.c.ask(leave_group_request, parse_leave_group, min(v, 5), self.group,
                          [(self.id, self.instance)])

    def close(self):
        self.c.close()


def describe(b, group, v=5):
    with Conn(b) as c:
        return c.ask(describe_groups_request, parse_describe_groups, v, [group])[0]


def join_new(m):
    """A v4+ member's first join: MEMBER_ID_REQUIRED, then the join with that id is sent."""
    a = m.join(member="")
    check(a["ErrorCode"] == E_MEMBER_ID_REQUIRED and ID_RE.match(a["MemberId"] or "")
          and a["GenerationId"] == -1 and a["Members"] == [] and a["Leader"] == "",
          "first join without a member id: MEMBER_ID_REQUIRED with a member id client-uuid: %r"
          % (a,))
    m.id = a["MemberId"]
    m.send_join()
    return a["MemberId"]


def heartbeat_until(m, want, seconds=5):
    """Heartbeats until the answer is want (another connection's request may
    reach the coordinator later than this one's): the last answer."""
    deadline = time.time() + seconds
    while True:
        err = m.heartbeat()
        if err == want or time.time() > deadline:
            return err
        time.sleep(0.05)


def wait_coordinator(b):
    """The first group request creates __consumer_offsets: COORDINATOR_NOT_AVAILABLE until then."""
    m = Member(b, "warmup", v=3)
    deadline = time.time() + 20
    seen = []
    while time.time() < deadline:
        a = m.join()
        seen.append(a["ErrorCode"])
        if a["ErrorCode"] == E_NONE:
            break
        time.sleep(0.1)
    check(seen[-1] == E_NONE and set(seen[:-1]) <= {E_COORD_NA},
          "JoinGroup once __consumer_offsets exists (before: COORDINATOR_NOT_AVAILABLE): %r"
          % seen)
    m.leave()
    m.close()


def test_refusals(b):
    m = Member(b, "")
    a = m.join()
    check(a["ErrorCode"] == E_INVALID_GROUP and a["GenerationId"] == -1,
          "JoinGroup with an empty group id: INVALID_GROUP_ID: %r" % (a,))
    m.group = "refusals"
    for ms in (MIN_SESSION_MS - 1, 60001):
        a = m.join(session_ms=ms)
        check(a["ErrorCode"] == E_INVALID_SESSION,
              "session timeout %d outside [min, max]: INVALID_SESSION_TIMEOUT: %r" % (ms, a))
    a = m.join(member="nobody")
    check(a["ErrorCode"] == E_UNKNOWN_MEMBER and a["MemberId"] == "nobody",
          "a member id in a group that does not exist: UNKNOWN_MEMBER_ID: %r" % (a,))
    check(m.heartbeat(gen=1, member="nobody") == E_UNKNOWN_MEMBER,
          "Heartbeat to a group that does not exist: UNKNOWN_MEMBER_ID")
    a = m.join(member="", ptype="")
    check(a["ErrorCode"] == E_INCONSISTENT,
          "an empty protocol type: INCONSISTENT_GROUP_PROTOCOL: %r" % (a,))
    a = m.join(member="", protocols=())
    check(a["ErrorCode"] == E_INCONSISTENT, "no protocols: INCONSISTENT_GROUP_PROTOCOL: %r" % (a,))
    m.close()


def test_two_members(b):
    g = "two"
    a1 = Member(b, g, session_ms=1500, rebalance_ms=1500)
    a2 = Member(b, g, v=7, protocols=(("range", b"meta-2"),), session_ms=1500, rebalance_ms=1500)
    id1 = join_new(a1)
    j1 = a1.recv()
    check(j1["ErrorCode"] == E_NONE and j1["GenerationId"] == 1 and j1["MemberId"] == id1
          and j1["Leader"] == id1 and j1["ProtocolName"] == "range"
          and j1["Members"] == [{"MemberId": id1, "GroupInstanceId": None, "Metadata": b"meta"}],
          "the first member: generation 1, leader, its own metadata: %r" % (j1,))
    s1 = a1.sync([(id1, b"assign-1")])
    check(s1 == {"ErrorCode": 0, "ProtocolType": "consumer", "ProtocolName": "range",
                 "Assignment": b"assign-1"}, "the leader's SyncGroup v5 gives its assignment: %r"
          % (s1,))
    check(a1.heartbeat() == E_NONE, "Heartbeat of a Stable member: NONE")

    id2 = join_new(a2)
    check(a2.held(), "the second member's JoinGroup waits for the leader to rejoin")
    check(heartbeat_until(a1, E_REBALANCING) == E_REBALANCING,
          "the leader's Heartbeat: REBALANCE_IN_PROGRESS")
    check(a1.sync([(id1, b"x")]) == {"ErrorCode": E_REBALANCING, "ProtocolType": None,
                                       "ProtocolName": None, "Assignment": b""},
          "SyncGroup while preparing a rebalance: REBALANCE_IN_PROGRESS")
    a1.send_join()
    j1, j2 = a1.recv(), a2.recv()
    check(j1["ErrorCode"] == 0 and j1["GenerationId"] == 2 and j1["Leader"] == id1
          and sorted((m["MemberId"], m["Metadata"]) for m in j1["Members"])
          == sorted([(id1, b"meta"), (id2, b"meta-2")]),
          "generation 2: the leader gets both members' metadata: %r" % (j1,))
    check(j2["ErrorCode"] == 0 and j2["GenerationId"] == 2 and j2["Leader"] == id1
          and j2["MemberId"] == id2 and j2["Members"] == [] and j2["ProtocolType"] == "consumer"
          and j2["ProtocolName"] == "range", "the follower gets no members: %r" % (j2,))
    a2.send_sync()
    check(a2.held(), "the follower's SyncGroup waits for the leader's")
    check(a1.heartbeat() == E_NONE, "Heartbeat while completing the rebalance: NONE")
    check(a1.commit() == E_REBALANCING,
          "OffsetCommit while completing the rebalance: REBALANCE_IN_PROGRESS")
    s1 = a1.sync([(id1, b"a-1"), (id2, b"a-2"), ("stranger", b"z")])
    s2 = a2.recv()
    check(s1["ErrorCode"] == 0 and s1["Assignment"] == b"a-1" and s2["ErrorCode"] == 0
          and s2["Assignment"] == b"a-2", "the leader's assignment reaches both: %r %r" % (s1, s2))
    s2 = a2.sync()
    check(s2["Assignment"] == b"a-2", "SyncGroup again when Stable: the same assignment")

    check(a2.commit() == E_NONE, "OffsetCommit of a Stable member: NONE")
    check(a2.commit(gen=1) == E_ILLEGAL_GEN, "OffsetCommit of an old generation: ILLEGAL_GENERATION")
    check(a2.commit(member="someone") == E_UNKNOWN_MEMBER,
          "OffsetCommit of a stranger: UNKNOWN_MEMBER_ID")
    check(a2.commit(gen=-1, member="") == E_UNKNOWN_MEMBER,
          "OffsetCommit with generation -1 to a group with members: UNKNOWN_MEMBER_ID")
    check(a2.heartbeat(gen=1) == E_ILLEGAL_GEN, "Heartbeat of an old generation: ILLEGAL_GENERATION")
    check(a2.heartbeat(member="someone") == E_UNKNOWN_MEMBER, "Heartbeat of a stranger: UNKNOWN_MEMBER_ID")
    check(a2.sync(gen=7)["ErrorCode"] == E_ILLEGAL_GEN, "SyncGroup of another generation: ILLEGAL_GENERATION")
    check(a2.sync(ptype="connect")["ErrorCode"] == E_INCONSISTENT,
          "SyncGroup v5 with another protocol type: INCONSISTENT_GROUP_PROTOCOL")
    check(a2.sync(pname="roundrobin")["ErrorCode"] == E_INCONSISTENT,
          "SyncGroup v5 with another protocol name: INCONSISTENT_GROUP_PROTOCOL")
    a3 = Member(b, g, protocols=(("roundrobin", b""),))
    check(a3.join(member="")["ErrorCode"] == E_INCONSISTENT,
          "a join whose protocols no member supports: INCONSISTENT_GROUP_PROTOCOL")
    check(a3.join(member="", ptype="connect")["ErrorCode"] == E_INCONSISTENT,
          "a join with another protocol type: INCONSISTENT_GROUP_PROTOCOL")

    d = describe(b, g)
    ms = sorted(d["Members"], key=lambda m: m["MemberId"] != id1)
    check(d["GroupState"] == "Stable" and d["ProtocolType"] == "consumer"
          and d["ProtocolData"] == "range" and len(ms) == 2
          and ms[0]["ClientId"] == "it" and ms[0]["ClientHost"] == "/127.0.0.1"
          and ms[0]["MemberMetadata"] == b"meta" and ms[0]["MemberAssignment"] == b"a-1"
          and ms[1]["MemberAssignment"] == b"a-2", "DescribeGroups: state, protocol, members: %r"
          % (d,))

    # A follower that rejoins unchanged in Stable gets the current generation at once.
    j2 = a2.join()
    check(j2["ErrorCode"] == 0 and j2["GenerationId"] == 2 and j2["Members"] == [],
          "a follower's unchanged rejoin when Stable: the current generation, no rebalance")
    # The leader stops heartbeating: removed after its session timeout.
    return a1, a2, id1, id2


def test_expiry(b, a1, a2, id1, id2):
    """a1 stops; a2 (the follower) goes on: a1 expires and a2 leads generation 3."""
    deadline = time.time() + 15
    err = None
    while time.time() < deadline:
        err = a2.heartbeat()
        if err != E_NONE:
            break
        time.sleep(0.1)
    check(err == E_REBALANCING, "the leader stopped heartbeating: a rebalance starts (%r)" % err)
    j2 = a2.join()
    check(j2["ErrorCode"] == 0 and j2["GenerationId"] == 3 and j2["Leader"] == id2
          and [m["MemberId"] for m in j2["Members"]] == [id2],
          "after the session timeout the leader is gone; the follower leads generation 3: %r" % j2)
    check(a1.heartbeat() == E_UNKNOWN_MEMBER, "the expired member: UNKNOWN_MEMBER_ID")
    a2.sync([(id2, b"alone")])
    # A member that does not rejoin within the rebalance timeout is removed.
    a1.id = ""
    id1 = join_new(a1)
    check(heartbeat_until(a2, E_REBALANCING) == E_REBALANCING,
          "a second member joins: REBALANCE_IN_PROGRESS")
    t0 = time.time()
    j1 = a1.recv()
    took = time.time() - t0
    check(j1["ErrorCode"] == 0 and j1["GenerationId"] == 4 and j1["Leader"] == id1
          and [m["MemberId"] for m in j1["Members"]] == [id1] and took < 4,
          "a member that does not rejoin goes after the rebalance timeout (%.1fs): %r" % (took, j1))
    check(a2.heartbeat() == E_UNKNOWN_MEMBER, "the member that did not rejoin: UNKNOWN_MEMBER_ID")
    err, _ = a1.leave(v=0)
    check(err == E_NONE, "LeaveGroup v0 of the last member")
    check(describe(b, "two")["GroupState"] == "Empty", "the group is Empty after the last leave")
    for m in (a1, a2):
        m.close()


def test_protocol_vote_and_max_size(b):
    g = "vote"
    ms = [Member(b, g, v=3, protocols=p, rebalance_ms=3000) for p in (
        (("x", b"x0"), ("y", b"y0")), (("y", b"y1"), ("x", b"x1")), (("y", b"y2"), ("x", b"x2"))
    )]
    for m in ms:
        m.send_join()
    js = [m.recv() for m in ms]
    check(all(j["ErrorCode"] == 0 and j["ProtocolName"] == "y" and j["GenerationId"] == 1
              for j in js), "two of three prefer y: protocol y: %r" % ([j["ProtocolName"] for j in js],))
    leader = [j for j in js if j["Members"]]
    check(len(leader) == 1 and sorted(m["Metadata"] for m in leader[0]["Members"])
          == [b"y0", b"y1", b"y2"], "the leader gets each member's metadata of protocol y")
    lm = ms[[j["Members"] != [] for j in js].index(True)]
    for m in ms:
        if m is not lm:
            m.send_sync()
    lm.sync([(m.id, m.id.encode()) for m in ms])
    for m in ms:
        if m is not lm:
            check(m.recv()["Assignment"] == m.id.encode(), "each follower gets its own assignment")
    extra = Member(b, g, v=5, protocols=(("y", b"y3"),))
    a = extra.join()
    check(a["ErrorCode"] == E_MAX_SIZE and a["MemberId"] == "",
          "a fourth member of a group with group.max.size=3: GROUP_MAX_SIZE_REACHED: %r" % (a,))
    err, res = ms[0].c.ask(leave_group_request, parse_leave_group, 3, g,
                           [(m.id, None) for m in ms] + [("ghost", None)])
    check(err == 0 and [e for _, _, e in res] == [0, 0, 0, E_UNKNOWN_MEMBER],
          "LeaveGroup v3 of three members and a stranger: %r" % (res,))
    for m in ms + [extra]:
        m.close()


def test_static(b):
    g = "static"
    sa = Member(b, g, v=5, instance="i-a")
    sb = Member(b, g, v=5, instance="i-b")
    sa.send_join()  # static members need no MEMBER_ID_REQUIRED round
    sb.send_join()
    ja, jb = sa.recv(), sb.recv()
    check(ja["ErrorCode"] == 0 and jb["ErrorCode"] == 0 and ja["GenerationId"] == 1
          and jb["GenerationId"] == 1, "two static members join generation 1")
    leader, follower = (sa, sb) if ja["Leader"] == sa.id else (sb, sa)
    lj = ja if leader is sa else jb
    check(sorted(m["GroupInstanceId"] for m in lj["Members"]) == ["i-a", "i-b"],
          "the leader sees the members' instance ids")
    follower.send_sync()
    leader.sync([(sa.id, b"A"), (sb.id, b"B")])
    follower.recv()
    gen = sa.gen

    # The follower restarts: new connection, no member id, the same instance id.
    old_id = follower.id
    follower.close()
    nf = Member(b, g, v=5, instance=follower.instance)
    t0 = time.time()
    j = nf.join()
    check(j["ErrorCode"] == 0 and j["GenerationId"] == gen and j["MemberId"] != old_id
          and j["Leader"] == leader.id and j["Members"] == [],
          "a static follower rejoins: a new member id, the same generation, no rebalance: %r" % (j,))
    check(time.time() - t0 < 2, "... answered at once")
    check(leader.heartbeat() == E_NONE, "the other member sees no rebalance (Heartbeat NONE)")
    s = nf.sync()
    want = b"A" if follower is sa else b"B"
    check(s["ErrorCode"] == 0 and s["Assignment"] == want,
          "its old assignment comes back: %r" % (s,))
    check(nf.heartbeat(member=old_id) == E_FENCED,
          "the old member id with the instance id: FENCED_INSTANCE_ID")
    check(nf.commit(member=old_id) == E_FENCED,
          "OffsetCommit of the old member id with the instance id: FENCED_INSTANCE_ID")
    check(nf.commit() == E_NONE, "OffsetCommit of the new static member: NONE")
    a = nf.join(member=old_id)
    check(a["ErrorCode"] == E_FENCED, "JoinGroup of the old member id: FENCED_INSTANCE_ID")
    # The leader restarts the same way (JoinGroup v9: told to skip the assignment).
    old_leader = leader.id
    leader.close()
    nl = Member(b, g, v=9, instance=leader.instance)
    j = nl.join()
    check(j["ErrorCode"] == 0 and j["GenerationId"] == gen and j["Leader"] == old_leader
          and j["SkipAssignment"] and len(j["Members"]) == 2,
          "a static leader rejoins: the same generation, the old leader id, SkipAssignment: %r"
          % (j,))
    check(nf.heartbeat() == E_NONE, "still no rebalance for the other member")
    s = nl.sync()
    check(s["ErrorCode"] == 0 and s["Assignment"] == (b"A" if leader is sa else b"B"),
          "the leader's old assignment comes back")
    # Once more with JoinGroup v5, which cannot say SkipAssignment: the old leader id alone.
    old_leader = nl.id
    nl.close()
    nl = Member(b, g, v=5, instance=leader.instance)
    j = nl.join()
    check(j["ErrorCode"] == 0 and j["GenerationId"] == gen and j["Leader"] == old_leader
          and j["Members"] == [], "a static leader rejoins with v5: the old leader id, no members: %r"
          % (j,))
    s = nl.sync()
    check(s["ErrorCode"] == 0 and s["Assignment"] == (b"A" if leader is sa else b"B"),
          "... and its assignment back")
    check(nf.heartbeat() == E_NONE, "still no rebalance for the other member")
    d = describe(b, g)
    check(d["GroupState"] == "Stable" and sorted(m["MemberId"] for m in d["Members"])
          == sorted([nl.id, nf.id]), "DescribeGroups shows the new member ids")
    # A batch leave by instance id, one fenced, one unknown.
    ib = nf if nf.instance == "i-b" else nl
    err, res = nl.c.ask(leave_group_request, parse_leave_group, 5, g,
                        [("", "i-a"), ("wrong-id", "i-b"), (ib.id, "i-b"), ("", "i-z")])
    check(err == 0 and [e for _, _, e in res] == [0, E_FENCED, 0, E_UNKNOWN_MEMBER]
          and [i for _, i, _ in res] == ["i-a", "i-b", "i-b", "i-z"],
          "LeaveGroup v5 batch: by instance id, fenced, by member id, unknown: %r" % (res,))
    check(describe(b, g)["GroupState"] == "Empty", "the static group is Empty after the batch leave")
    nl.close()
    nf.close()


def test_static_race(b):
    """Two restarts of one static member at once: the later wins, the earlier is fenced or
    answered first; the group keeps its generation."""
    g = "static-race"
    sa, sb = Member(b, g, instance="r-a"), Member(b, g, instance="r-b")
    sa.send_join()
    sb.send_join()
    sa.recv(), sb.recv()
    for m in (sa, sb):
        m.send_sync([(sa.id, b"ra"), (sb.id, b"rb")])
    for m in (sa, sb):
        m.recv()
    gen = sa.gen
    x, y = Member(b, g, instance="r-b"), Member(b, g, instance="r-b")
    x.send_join()
    y.send_join()
    jx, jy = x.recv(), y.recv()
    errs = sorted([jx["ErrorCode"], jy["ErrorCode"]])
    check(errs in ([0, 0], [0, E_FENCED]) and gen in (jx["GenerationId"], jy["GenerationId"]),
          "two rejoins of one static member at once: one fenced or both answered in turn, "
          "the generation kept: %r %r" % (jx, jy))
    hb = {m: m.heartbeat(gen=gen) for m in (x, y)}
    won = [m for m in (x, y) if hb[m] == E_NONE]
    check(len(won) == 1 and sorted(hb.values()) == [E_NONE, E_FENCED],
          "the one that came last holds the instance, the other is fenced: %r"
          % sorted(hb.values()))
    if won:
        s = won[0].sync()
        check(s["ErrorCode"] == 0 and s["Assignment"] == b"rb", "it gets the assignment")
    check(sa.heartbeat() == E_NONE, "the other member sees no rebalance")
    for m in (sa, sb, x, y):
        m.close()


def test_old_versions(b):
    for v in (0, 1):
        g = "old-v%d" % v
        m = Member(b, g, v=v)
        j = m.join()
        check(j["ErrorCode"] == 0 and j["GenerationId"] == 1 and ID_RE.match(j["MemberId"])
              and j["Leader"] == j["MemberId"] and len(j["Members"]) == 1,
              "JoinGroup v%d: a member id at once (no MEMBER_ID_REQUIRED), generation 1" % v)
        s = m.sync([(m.id, b"old")], v=v)
        check(s["ErrorCode"] == 0 and s["Assignment"] == b"old", "SyncGroup v%d" % v)
        check(m.heartbeat(v=v) == 0, "Heartbeat v%d" % v)
        err, _ = m.leave(v=v)
        check(err == 0, "LeaveGroup v%d" % v)
        err, _ = m.leave(v=v)
        check(err == E_UNKNOWN_MEMBER, "LeaveGroup v%d again: UNKNOWN_MEMBER_ID" % v)
        m.close()


def test_restart(b):
    g = "durable"
    m = Member(b, g, v=4, session_ms=1500)
    join_new(m)
    m.recv()
    m.sync([(m.id, b"kept")])
    gen = m.gen
    restart_same_port(b, signal.SIGKILL)
    c = Member(b, g)
    deadline = time.time() + 20
    d = None
    while time.time() < deadline:
        d = describe(b, g)
        if d["ErrorCode"] == 0:
            break
        time.sleep(0.1)
    check(d["GroupState"] == "Stable" and [x["MemberId"] for x in d["Members"]] == [m.id]
          and d["Members"][0]["MemberAssignment"] == b"kept",
          "after kill -9 the group is back, Stable, with its member and assignment: %r" % (d,))
    m.close()
    m.c = c.c
    check(m.heartbeat() == E_NONE, "the restored member heartbeats on (generation %d)" % gen)
    s = m.sync()
    check(s["ErrorCode"] == 0 and s["Assignment"] == b"kept", "and gets its assignment")
    time.sleep(2.5)
    check(m.heartbeat() == E_UNKNOWN_MEMBER, "a restored member that stops is removed after its session")
    j = m.join(member="", v=3)
    check(j["ErrorCode"] == 0 and j["GenerationId"] == gen + 2,
          "the generation goes on from the stored one (%d -> Empty %d -> %d)"
          % (gen, gen + 1, j["GenerationId"]))
    m.close()


with Broker(exe, extra=["--smp", smp, "--set", "group.initial.rebalance.delay.ms=100",
                        "--set", "group.min.session.timeout.ms=%d" % MIN_SESSION_MS,
                        "--set", "group.max.session.timeout.ms=60000",
                        "--set", "group.max.size=3",
                        "--set", "offsets.topic.num.partitions=6"]) as b:
    with Conn(b) as c:
        check(c.create_topic(TOPIC, 1)[0] == 0, "topic %s created" % TOPIC)
    wait_coordinator(b)
    guard("refusals", test_refusals, b)
    out = []
    if guard("two members", lambda: out.append(test_two_members(b))):
        a1, a2, id1, id2 = out[0]
        guard("expiry", test_expiry, b, a1, a2, id1, id2)
    guard("protocol vote and group.max.size", test_protocol_vote_and_max_size, b)
    guard("static membership", test_static, b)
    guard("static membership race", test_static_race, b)
    guard("old versions", test_old_versions, b)
    guard("restart", test_restart, b)
    log = b.log_text()
finish(log)
