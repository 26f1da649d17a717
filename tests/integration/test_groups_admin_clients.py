#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""The group admin APIs through librdkafka (confluent-kafka's library),
against a live group of two confluent-kafka consumers.

confluent-kafka-python 1.7 (Debian's) has only AdminClient.list_groups()
(librdkafka's ListGroups + DescribeGroups); the group admin calls of
confluent-kafka 2.x (list/describe/delete consumer groups, list/alter
consumer group offsets) are librdkafka 2.0's C admin API, which the
installed librdkafka has: they are called here through ctypes, the same
calls the 2.x binding makes.

Checked: both members listed and described (client ids, hosts,
assignments covering the topic once), the state filter, a non-empty
group's deletion refused with NON_EMPTY_GROUP, committed offsets listed
and altered once the group is empty, the empty group deleted (its
offsets gone with it, an unknown group not found)."""
import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import create_topic, expect, need_confluent, run, skip  # noqa: E402

need_confluent()
from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

T = 30
TOPIC = "grp-admin"
PARTS = 4
GROUP = "grp-admin-live"
E_NON_EMPTY, E_NOT_FOUND = 68, 69

# librdkafka's enums (rdkafka.h, 2.0).
OP_DELETEGROUPS, OP_LISTCONSUMERGROUPS, OP_DESCRIBECONSUMERGROUPS = 7, 12, 13
OP_LISTCONSUMERGROUPOFFSETS, OP_ALTERCONSUMERGROUPOFFSETS = 14, 15
EV_DELETEGROUPS = 106
EV_LISTCONSUMERGROUPS, EV_DESCRIBECONSUMERGROUPS = 0x2000, 0x4000
EV_LISTCONSUMERGROUPOFFSETS, EV_ALTERCONSUMERGROUPOFFSETS = 0x8000, 0x10000
STATES = {0: "Unknown", 1: "PreparingRebalance", 2: "CompletingRebalance", 3: "Stable",
          4: "Dead", 5: "Empty"}
STATE_STABLE, STATE_EMPTY = 3, 5


class TopicPartition(ctypes.Structure):
    _fields_ = [("topic", ctypes.c_char_p), ("partition", ctypes.c_int32),
                ("offset", ctypes.c_int64), ("metadata", ctypes.c_void_p),
                ("metadata_size", ctypes.c_size_t), ("opaque", ctypes.c_void_p),
                ("err", ctypes.c_int), ("_private", ctypes.c_void_p)]


class TopicPartitionList(ctypes.Structure):
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int),
                ("elems", ctypes.POINTER(TopicPartition))]


def _lib():
    try:
        lib = ctypes.CDLL("librdkafka.so.1")
        lib.rd_kafka_ListConsumerGroups  # noqa: B018 - librdkafka 2.0 or later
    except (OSError, AttributeError) as e:
        skip("librdkafka 2.0+ with the consumer group admin API is not installed: %s" % e)
    P, S, I, Z = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
    PL = ctypes.POINTER(TopicPartitionList)
    sigs = {
        "rd_kafka_conf_new": (P, []),
        "rd_kafka_conf_set": (I, [P, S, S, S, Z]),
        "rd_kafka_new": (P, [I, P, S, Z]),
        "rd_kafka_destroy": (None, [P]),
        "rd_kafka_queue_new": (P, [P]),
        "rd_kafka_queue_destroy": (None, [P]),
        "rd_kafka_queue_poll": (P, [P, I]),
        "rd_kafka_event_type": (I, [P]),
        "rd_kafka_event_error": (I, [P]),
        "rd_kafka_event_error_string": (S, [P]),
        "rd_kafka_event_destroy": (None, [P]),
        "rd_kafka_error_code": (I, [P]),
        "rd_kafka_AdminOptions_new": (P, [P, I]),
        "rd_kafka_AdminOptions_destroy": (None, [P]),
        "rd_kafka_AdminOptions_set_request_timeout": (I, [P, I, S, Z]),
        "rd_kafka_AdminOptions_set_match_consumer_group_states": (P, [P, P, Z]),
        "rd_kafka_ListConsumerGroups": (None, [P, P, P]),
        "rd_kafka_event_ListConsumerGroups_result": (P, [P]),
        "rd_kafka_ListConsumerGroups_result_valid": (ctypes.POINTER(P), [P, ctypes.POINTER(Z)]),
        "rd_kafka_ListConsumerGroups_result_errors": (ctypes.POINTER(P), [P, ctypes.POINTER(Z)]),
        "rd_kafka_ConsumerGroupListing_group_id": (S, [P]),
        "rd_kafka_ConsumerGroupListing_is_simple_consumer_group": (I, [P]),
        "rd_kafka_ConsumerGroupListing_state": (I, [P]),
        "rd_kafka_DescribeConsumerGroups": (None, [P, ctypes.POINTER(S), Z, P, P]),
        "rd_kafka_event_DescribeConsumerGroups_result": (P, [P]),
        "rd_kafka_DescribeConsumerGroups_result_groups": (ctypes.POINTER(P),
                                                          [P, ctypes.POINTER(Z)]),
        "rd_kafka_ConsumerGroupDescription_group_id": (S, [P]),
        "rd_kafka_ConsumerGroupDescription_error": (P, [P]),
        "rd_kafka_ConsumerGroupDescription_is_simple_consumer_group": (I, [P]),
        "rd_kafka_ConsumerGroupDescription_partition_assignor": (S, [P]),
        "rd_kafka_ConsumerGroupDescription_state": (I, [P]),
        "rd_kafka_ConsumerGroupDescription_coordinator": (P, [P]),
        "rd_kafka_ConsumerGroupDescription_member_count": (Z, [P]),
        "rd_kafka_ConsumerGroupDescription_member": (P, [P, Z]),
        "rd_kafka_MemberDescription_client_id": (S, [P]),
        "rd_kafka_MemberDescription_consumer_id": (S, [P]),
        "rd_kafka_MemberDescription_host": (S, [P]),
        "rd_kafka_MemberDescription_assignment": (P, [P]),
        "rd_kafka_MemberAssignment_partitions": (PL, [P]),
        "rd_kafka_Node_id": (I, [P]),
        "rd_kafka_Node_host": (S, [P]),
        "rd_kafka_Node_port": (ctypes.c_uint16, [P]),
        "rd_kafka_DeleteGroup_new": (P, [S]),
        "rd_kafka_DeleteGroup_destroy": (None, [P]),
        "rd_kafka_DeleteGroups": (None, [P, ctypes.POINTER(P), Z, P, P]),
        "rd_kafka_event_DeleteGroups_result": (P, [P]),
        "rd_kafka_DeleteGroups_result_groups": (ctypes.POINTER(P), [P, ctypes.POINTER(Z)]),
        "rd_kafka_group_result_name": (S, [P]),
        "rd_kafka_group_result_error": (P, [P]),
        "rd_kafka_group_result_partitions": (PL, [P]),
        "rd_kafka_topic_partition_list_new": (PL, [I]),
        "rd_kafka_topic_partition_list_add": (ctypes.POINTER(TopicPartition), [PL, S, I]),
        "rd_kafka_topic_partition_list_destroy": (None, [PL]),
        "rd_kafka_ListConsumerGroupOffsets_new": (P, [S, PL]),
        "rd_kafka_ListConsumerGroupOffsets_destroy": (None, [P]),
        "rd_kafka_ListConsumerGroupOffsets": (None, [P, ctypes.POINTER(P), Z, P, P]),
        "rd_kafka_event_ListConsumerGroupOffsets_result": (P, [P]),
        "rd_kafka_ListConsumerGroupOffsets_result_groups": (ctypes.POINTER(P),
                                                            [P, ctypes.POINTER(Z)]),
        "rd_kafka_AlterConsumerGroupOffsets_new": (P, [S, PL]),
        "rd_kafka_AlterConsumerGroupOffsets_destroy": (None, [P]),
        "rd_kafka_AlterConsumerGroupOffsets": (None, [P, ctypes.POINTER(P), Z, P, P]),
        "rd_kafka_event_AlterConsumerGroupOffsets_result": (P, [P]),
        "rd_kafka_AlterConsumerGroupOffsets_result_groups": (ctypes.POINTER(P),
                                                             [P, ctypes.POINTER(Z)]),
    }
    for name, (res, argtypes) in sigs.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = argtypes
    return lib


def _s(b):
    return b.decode() if b is not None else None


def _parts(pl):
    """{(topic, partition): (offset, error)} of a partition list pointer."""
    if not pl:
        return {}
    lst = pl.contents
    return {(_s(lst.elems[i].topic), lst.elems[i].partition): (lst.elems[i].offset,
                                                               lst.elems[i].err)
            for i in range(lst.cnt)}


class GroupAdmin:
    """librdkafka 2.0's consumer group admin calls, one at a time, each waited for."""

    def __init__(self, bootstrap):
        self.lib = lib = _lib()
        err = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        for k, v in (("bootstrap.servers", bootstrap), ("client.id", "group-admin")):
            expect(lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), err, 512) == 0,
                   "conf %s: %s" % (k, err.value))
        self.rk = lib.rd_kafka_new(0, conf, err, 512)  # a producer handle serves admin calls
        expect(self.rk, "rd_kafka_new: %s" % err.value)
        self.q = lib.rd_kafka_queue_new(self.rk)

    def close(self):
        self.lib.rd_kafka_queue_destroy(self.q)
        self.lib.rd_kafka_destroy(self.rk)

    def _options(self, op):
        opts = self.lib.rd_kafka_AdminOptions_new(self.rk, op)
        err = ctypes.create_string_buffer(256)
        self.lib.rd_kafka_AdminOptions_set_request_timeout(opts, T * 1000, err, 256)
        return opts

    def _wait(self, want):
        deadline = time.time() + T + 5
        while time.time() < deadline:
            ev = self.lib.rd_kafka_queue_poll(self.q, 500)
            if not ev:
                continue
            if self.lib.rd_kafka_event_type(ev) == want:
                return ev
            self.lib.rd_kafka_event_destroy(ev)
        raise AssertionError("no admin result event %#x" % want)

    def _call(self, op, ev_type, start):
        """start(options) issues the request; returns the result event (to destroy)."""
        opts = self._options(op)
        try:
            start(opts)
            ev = self._wait(ev_type)
        finally:
            self.lib.rd_kafka_AdminOptions_destroy(opts)
        code = self.lib.rd_kafka_event_error(ev)
        if code != 0:
            msg = _s(self.lib.rd_kafka_event_error_string(ev))
            self.lib.rd_kafka_event_destroy(ev)
            raise AssertionError("admin request failed: %d %s" % (code, msg))
        return ev

    def list_groups(self, states=()):
        """({group id: (state name, simple)}, [error codes])."""
        lib = self.lib

        def start(opts):
            if states:
                arr = (ctypes.c_int * len(states))(*states)
                e = lib.rd_kafka_AdminOptions_set_match_consumer_group_states(
                    opts, ctypes.cast(arr, ctypes.c_void_p), len(states))
                expect(not e, "set_match_consumer_group_states refused")
            lib.rd_kafka_ListConsumerGroups(self.rk, opts, self.q)

        ev = self._call(OP_LISTCONSUMERGROUPS, EV_LISTCONSUMERGROUPS, start)
        try:
            res = lib.rd_kafka_event_ListConsumerGroups_result(ev)
            n = ctypes.c_size_t()
            valid = lib.rd_kafka_ListConsumerGroups_result_valid(res, ctypes.byref(n))
            out = {}
            for i in range(n.value):
                g = valid[i]
                out[_s(lib.rd_kafka_ConsumerGroupListing_group_id(g))] = (
                    STATES.get(lib.rd_kafka_ConsumerGroupListing_state(g)),
                    bool(lib.rd_kafka_ConsumerGroupListing_is_simple_consumer_group(g)))
            errs = lib.rd_kafka_ListConsumerGroups_result_errors(res, ctypes.byref(n))
            codes = [lib.rd_kafka_error_code(errs[i]) for i in range(n.value)]
            return out, codes
        finally:
            lib.rd_kafka_event_destroy(ev)

    def describe(self, groups):
        """{group id: dict} with error, state, assignor, coordinator, simple, members."""
        lib = self.lib
        names = (ctypes.c_char_p * len(groups))(*[g.encode() for g in groups])
        ev = self._call(OP_DESCRIBECONSUMERGROUPS, EV_DESCRIBECONSUMERGROUPS,
                        lambda o: lib.rd_kafka_DescribeConsumerGroups(self.rk, names, len(groups),
                                                                      o, self.q))
        try:
            res = lib.rd_kafka_event_DescribeConsumerGroups_result(ev)
            n = ctypes.c_size_t()
            arr = lib.rd_kafka_DescribeConsumerGroups_result_groups(res, ctypes.byref(n))
            out = {}
            for i in range(n.value):
                d = arr[i]
                e = lib.rd_kafka_ConsumerGroupDescription_error(d)
                node = lib.rd_kafka_ConsumerGroupDescription_coordinator(d)
                members = []
                for j in range(lib.rd_kafka_ConsumerGroupDescription_member_count(d)):
                    m = lib.rd_kafka_ConsumerGroupDescription_member(d, j)
                    a = lib.rd_kafka_MemberDescription_assignment(m)
                    members.append({
                        "client": _s(lib.rd_kafka_MemberDescription_client_id(m)),
                        "id": _s(lib.rd_kafka_MemberDescription_consumer_id(m)),
                        "host": _s(lib.rd_kafka_MemberDescription_host(m)),
                        "parts": sorted(_parts(lib.rd_kafka_MemberAssignment_partitions(a)))
                        if a else []})
                out[_s(lib.rd_kafka_ConsumerGroupDescription_group_id(d))] = {
                    "error": lib.rd_kafka_error_code(e) if e else 0,
                    "state": STATES.get(lib.rd_kafka_ConsumerGroupDescription_state(d)),
                    "assignor": _s(lib.rd_kafka_ConsumerGroupDescription_partition_assignor(d)),
                    "coordinator": lib.rd_kafka_Node_id(node) if node else None,
                    "simple": bool(lib.rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(
                        d)),
                    "members": sorted(members, key=lambda m: m["client"] or "")}
            return out
        finally:
            lib.rd_kafka_event_destroy(ev)

    def delete(self, groups):
        """{group id: error code}."""
        lib = self.lib
        dels = (ctypes.c_void_p * len(groups))(*[lib.rd_kafka_DeleteGroup_new(g.encode())
                                                 for g in groups])
        try:
            ev = self._call(OP_DELETEGROUPS, EV_DELETEGROUPS,
                            lambda o: lib.rd_kafka_DeleteGroups(self.rk, dels, len(groups), o,
                                                                self.q))
        finally:
            for d in dels:
                lib.rd_kafka_DeleteGroup_destroy(d)
        try:
            res = lib.rd_kafka_event_DeleteGroups_result(ev)
            return self._group_results(lib.rd_kafka_DeleteGroups_result_groups, res)[0]
        finally:
            lib.rd_kafka_event_destroy(ev)

    def _group_results(self, fn, res):
        n = ctypes.c_size_t()
        arr = fn(res, ctypes.byref(n))
        errors, parts = {}, {}
        for i in range(n.value):
            name = _s(self.lib.rd_kafka_group_result_name(arr[i]))
            e = self.lib.rd_kafka_group_result_error(arr[i])
            errors[name] = self.lib.rd_kafka_error_code(e) if e else 0
            parts[name] = _parts(self.lib.rd_kafka_group_result_partitions(arr[i]))
        return errors, parts

    def list_offsets(self, group):
        """(error, {(topic, partition): (offset, error)}) of every committed offset."""
        lib = self.lib
        req = (ctypes.c_void_p * 1)(lib.rd_kafka_ListConsumerGroupOffsets_new(group.encode(),
                                                                              None))
        try:
            ev = self._call(OP_LISTCONSUMERGROUPOFFSETS, EV_LISTCONSUMERGROUPOFFSETS,
                            lambda o: lib.rd_kafka_ListConsumerGroupOffsets(self.rk, req, 1, o,
                                                                            self.q))
        finally:
            lib.rd_kafka_ListConsumerGroupOffsets_destroy(req[0])
        try:
            res = lib.rd_kafka_event_ListConsumerGroupOffsets_result(ev)
            errors, parts = self._group_results(
                lib.rd_kafka_ListConsumerGroupOffsets_result_groups, res)
            return errors.get(group), parts.get(group, {})
        finally:
            lib.rd_kafka_event_destroy(ev)

    def alter_offsets(self, group, offsets):
        """offsets: {(topic, partition): offset}. (error, {(topic, partition): (offset, error)})."""
        lib = self.lib
        pl = lib.rd_kafka_topic_partition_list_new(len(offsets))
        for (t, p), off in offsets.items():
            lib.rd_kafka_topic_partition_list_add(pl, t.encode(), p).contents.offset = off
        req = (ctypes.c_void_p * 1)(lib.rd_kafka_AlterConsumerGroupOffsets_new(group.encode(), pl))
        lib.rd_kafka_topic_partition_list_destroy(pl)
        try:
            ev = self._call(OP_ALTERCONSUMERGROUPOFFSETS, EV_ALTERCONSUMERGROUPOFFSETS,
                            lambda o: lib.rd_kafka_AlterConsumerGroupOffsets(self.rk, req, 1, o,
                                                                             self.q))
        finally:
            lib.rd_kafka_AlterConsumerGroupOffsets_destroy(req[0])
        try:
            res = lib.rd_kafka_event_AlterConsumerGroupOffsets_result(ev)
            errors, parts = self._group_results(
                lib.rd_kafka_AlterConsumerGroupOffsets_result_groups, res)
            return errors.get(group), parts.get(group, {})
        finally:
            lib.rd_kafka_event_destroy(ev)


# ---- The live group ----

def consumer(b, client_id):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": GROUP, "client.id": client_id,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 300})
    c.subscribe([TOPIC])
    return c


def consume_all(consumers, want, deadline):
    """Polls every consumer until `want` messages arrived in all; commits each
    consumer's progress synchronously. Returns {value: client id}."""
    got = {}
    while len(got) < want and time.time() < deadline:
        for cid, c in consumers.items():
            m = c.poll(0.1)
            if m is None:
                continue
            expect(m.error() is None, "%s: consumer error %s" % (cid, m.error()))
            v = m.value().decode()
            expect(v not in got, "%s got %s again (first %s)" % (cid, v, got.get(v)))
            got[v] = cid
            c.commit(message=m, asynchronous=False)
    return got


def wait_assigned(consumers, deadline):
    """Polls until every consumer holds a share of the partitions, together all, once."""
    while time.time() < deadline:
        for c in consumers.values():
            m = c.poll(0.1)
            expect(m is None, "a message before anything was produced")
        shares = [sorted(tp.partition for tp in c.assignment()) for c in consumers.values()]
        if all(shares) and sorted(sum(shares, [])) == list(range(PARTS)):
            return shares
    raise AssertionError("the group never settled: %s"
                         % [c.assignment() for c in consumers.values()])


def body(b):
    ga = GroupAdmin(b.bootstrap)
    create_topic(b.bootstrap, TOPIC, PARTS)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    consumers = {}
    try:
        groups, errs = ga.list_groups()
        expect(groups == {} and errs == [], "groups before any: %s %s" % (groups, errs))

        deadline = time.time() + 40
        consumers = {cid: consumer(b, cid) for cid in ("member-a", "member-b")}
        shares = wait_assigned(consumers, deadline)

        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        for i in range(40):
            p.produce(TOPIC, key=b"k%d" % i, value=b"v%d" % i, partition=i % PARTS)
        expect(p.flush(T) == 0, "produce")
        got = consume_all(consumers, 40, deadline)
        expect(len(got) == 40, "consumed %d of 40" % len(got))

        # confluent-kafka 1.7's own call: ListGroups + DescribeGroups.
        md = [g for g in admin.list_groups(timeout=T) if g.id == GROUP]
        expect(len(md) == 1, "list_groups: %s" % [g.id for g in admin.list_groups(timeout=T)])
        g = md[0]
        expect(g.error is None and g.state == "Stable" and g.protocol_type == "consumer"
               and g.protocol == "range", "list_groups %s: %s %s %s %s"
               % (GROUP, g.error, g.state, g.protocol_type, g.protocol))
        expect(sorted(m.client_id for m in g.members) == ["member-a", "member-b"]
               and all("127.0.0.1" in m.client_host for m in g.members),
               "list_groups members: %s" % [(m.id, m.client_id, m.client_host)
                                            for m in g.members])

        # ListConsumerGroups, all and filtered by state.
        groups, errs = ga.list_groups()
        expect(groups == {GROUP: ("Stable", False)} and errs == [],
               "ListConsumerGroups: %s %s" % (groups, errs))
        groups, _ = ga.list_groups([STATE_STABLE])
        expect(list(groups) == [GROUP], "ListConsumerGroups Stable: %s" % groups)
        groups, _ = ga.list_groups([STATE_EMPTY])
        expect(groups == {}, "ListConsumerGroups Empty: %s" % groups)

        # DescribeConsumerGroups: both members with their client ids, hosts and partitions.
        d = ga.describe([GROUP]).get(GROUP)
        expect(d is not None and d["error"] == 0 and d["state"] == "Stable"
               and d["assignor"] == "range" and d["coordinator"] == 1 and not d["simple"],
               "describe %s: %s" % (GROUP, d))
        ms = d["members"]
        expect([m["client"] for m in ms] == ["member-a", "member-b"]
               and all(m["id"] and "127.0.0.1" in (m["host"] or "") for m in ms),
               "described members: %s" % ms)
        described = [[p for _, p in m["parts"]] for m in ms]
        expect(described == shares, "described assignments %s, consumers hold %s"
               % (described, shares))

        # A live group cannot be deleted.
        res = ga.delete([GROUP])
        expect(res == {GROUP: E_NON_EMPTY}, "delete a live group: %s" % res)

        # Its committed offsets: each partition read to its end.
        err, offs = ga.list_offsets(GROUP)
        want = {(TOPIC, q): (10, 0) for q in range(PARTS)}
        expect(err == 0 and offs == want, "list_offsets of the live group: %s %s" % (err, offs))

        # The members leave: Empty, then offsets can be altered and the group deleted.
        for c in consumers.values():
            c.close()
        consumers = {}
        d = ga.describe([GROUP]).get(GROUP)
        expect(d["state"] == "Empty" and d["members"] == [], "after close: %s" % d)
        groups, _ = ga.list_groups([STATE_EMPTY])
        expect(list(groups) == [GROUP], "ListConsumerGroups Empty after close: %s" % groups)

        err, res = ga.alter_offsets(GROUP, {(TOPIC, 0): 3, (TOPIC, 1): 4})
        expect(err == 0 and res == {(TOPIC, 0): (3, 0), (TOPIC, 1): (4, 0)},
               "alter_offsets: %s %s" % (err, res))
        err, offs = ga.list_offsets(GROUP)
        want = {(TOPIC, 0): (3, 0), (TOPIC, 1): (4, 0), (TOPIC, 2): (10, 0), (TOPIC, 3): (10, 0)}
        expect(err == 0 and offs == want, "list_offsets after alter: %s %s" % (err, offs))

        res = ga.delete([GROUP, "no-such-group"])
        expect(res == {GROUP: 0, "no-such-group": E_NOT_FOUND}, "delete: %s" % res)
        err, offs = ga.list_offsets(GROUP)
        expect(err == 0 and offs == {}, "offsets of the deleted group: %s %s" % (err, offs))
        groups, _ = ga.list_groups()
        expect(groups == {}, "groups after delete: %s" % groups)
        d = ga.describe([GROUP]).get(GROUP)
        expect(d["state"] == "Dead" and d["members"] == [], "deleted group described: %s" % d)
        return "2 members described, deleted once empty"
    finally:
        for c in consumers.values():
            c.close()
        ga.close()


run(body, extra=["--set", "group.initial.rebalance.delay.ms=100",
                 "--set", "offsets.topic.num.partitions=6"], name="group admin (librdkafka)")
