#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""confluent-kafka (librdkafka) groups beyond the eager protocol:

  - static membership (group.instance.id, KIP-345): of three static
    members, one is closed and a new consumer with its instance id takes
    its place within the session timeout: the other two see no rebalance
    (no assign or revoke callback), the newcomer gets the old member's
    partitions back, the group stays Stable with a new member id and no
    record is lost or read twice;
  - cooperative-sticky (partition.assignment.strategy): three consumers
    join one after another while the first reads; the first gives up only
    the partitions that move (incremental revoke, never all of them at
    once after its first assignment), each newcomer gets incremental
    assignments, and every record is read exactly once (a record may be
    read again only when its commit was refused during a rebalance)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import (create_topic, expect, need_confluent, produce_queued, run,  # noqa: E402
                           stop_all, wait_for)
from kwire import Conn, describe_groups_request, parse_describe_groups  # noqa: E402

need_confluent()
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402

PARTS = 6


def produce(b, topic, count):
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    for i in range(count):
        produce_queued(p, topic, value=b"%d" % i, partition=i % PARTS)
    expect(p.flush(30) == 0, "the producer flushed")


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}
        self.unacked = set()
        self.events = []  # (member, "assign"/"revoke", [partitions], time)

    def total(self):
        with self.lock:
            return len(self.seen)

    def of(self, name):
        with self.lock:
            return [e for e in self.events if e[0] == name]


class Member(threading.Thread):
    def __init__(self, b, name, group, topic, tally, pace_s=0.0, **conf):
        super().__init__(daemon=True)
        self.name_, self.topic, self.tally, self.pace_s = name, topic, tally, pace_s
        self.conf = {"bootstrap.servers": b.bootstrap, "group.id": group, "client.id": name,
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "session.timeout.ms": 6000, "heartbeat.interval.ms": 300}
        self.conf.update(conf)
        self.stop = threading.Event()
        self.error = None
        self.owned = set()

    def _event(self, kind, parts):
        ps = sorted(p.partition for p in parts)
        with self.tally.lock:
            self.tally.events.append((self.name_, kind, ps, time.time()))
            if kind == "assign":
                self.owned |= set(ps)
            else:
                self.owned -= set(ps)

    def run(self):
        try:
            c = Consumer(self.conf)
            c.subscribe([self.topic], on_assign=lambda c, ps: self._event("assign", ps),
                        on_revoke=lambda c, ps: self._event("revoke", ps))
            while not self.stop.is_set():
                self.step(c)
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = e

    def step(self, c):
        msgs = [m for m in c.consume(200, 0.1) if not m.error()]
        if not msgs:
            return
        last = {}
        with self.tally.lock:
            for m in msgs:
                k = (m.partition(), m.offset())
                self.tally.seen[k] = self.tally.seen.get(k, 0) + 1
                last[m.partition()] = m.offset()
        try:
            res = c.commit(offsets=[TopicPartition(self.topic, p, o + 1) for p, o in last.items()],
                           asynchronous=False)
            ok = all(r.error is None for r in res)
        except KafkaException:
            ok = False
        if not ok:
            with self.tally.lock:
                self.tally.unacked.update((m.partition(), m.offset()) for m in msgs)
        if self.pace_s:
            time.sleep(self.pace_s)


def exactly_once(tally, n, what):
    want = {(p, o) for p in range(PARTS) for o in range(n // PARTS)}
    expect(set(tally.seen) == want, "%s: every record read (%d of %d)"
           % (what, len(set(tally.seen) & want), len(want)))
    dups = [k for k, c in tally.seen.items() if c > 1 and k not in tally.unacked]
    expect(not dups, "%s: no record read twice after an acknowledged commit: %r" % (what, dups[:5]))
    return sum(1 for c in tally.seen.values() if c > 1)


def describe(b, group):
    with Conn(b) as c:
        return c.ask(describe_groups_request, parse_describe_groups, 5, [group])[0]


def static_restart(b):
    topic, group, n = "cg-static", "cg-static", 6000
    create_topic(b.bootstrap, topic, PARTS)
    produce(b, topic, n)
    tally = Tally()
    ms = [Member(b, "s%d" % i, group, topic, tally, pace_s=0.05, **{"group.instance.id": "s%d" % i})
          for i in range(3)]
    for m in ms:
        m.start()
    wait_for(lambda: all(len(m.owned) == 2 for m in ms), 30, "three static members assigned")
    time.sleep(0.5)
    before = describe(b, group)
    old = ms[1]
    owned = set(old.owned)
    n_events = {m.name_: len(tally.of(m.name_)) for m in ms}
    old.stop.set()  # a static member's close() sends no LeaveGroup
    old.join(30)
    expect(old.error is None, "the old s1 closed: %r" % (old.error,))
    new = Member(b, "s1-again", group, topic, tally, pace_s=0.05, **{"group.instance.id": "s1"})
    new.start()
    wait_for(lambda: new.owned, 20, "the new s1 is assigned")
    time.sleep(1.0)
    others = {m.name_: tally.of(m.name_)[n_events[m.name_]:] for m in (ms[0], ms[2])}
    expect(all(not e for e in others.values()),
           "the other static members saw no rebalance: %r" % (others,))
    expect(new.owned == owned, "the new s1 got the old one's partitions back: %r vs %r"
           % (sorted(new.owned), sorted(owned)))
    after = describe(b, group)
    ids_before = {m["GroupInstanceId"]: m["MemberId"] for m in before["Members"]}
    ids_after = {m["GroupInstanceId"]: m["MemberId"] for m in after["Members"]}
    expect(after["GroupState"] == "Stable" and set(ids_after) == {"s0", "s1", "s2"}
           and ids_after["s1"] != ids_before["s1"] and ids_after["s0"] == ids_before["s0"],
           "DescribeGroups: Stable, s1 has a new member id, the others are unchanged: %r -> %r"
           % (ids_before, ids_after))
    wait_for(lambda: tally.total() >= n, 60, "every record read (%d)" % tally.total())
    stop_all([ms[0], ms[2], new])
    exactly_once(tally, n, "static")


def cooperative(b):
    topic, group, n = "cg-coop", "cg-coop", 12000
    create_topic(b.bootstrap, topic, PARTS)
    produce(b, topic, n)
    tally = Tally()
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    ms = [Member(b, "c%d" % i, group, topic, tally, pace_s=0.1, **conf) for i in range(3)]
    ms[0].start()
    wait_for(lambda: len(ms[0].owned) == PARTS, 20, "the first member owns every partition")
    ms[1].start()
    wait_for(lambda: len(ms[0].owned) == 3 and len(ms[1].owned) == 3, 20,
             "two members share the partitions 3 + 3")
    ms[2].start()
    wait_for(lambda: sorted(len(m.owned) for m in ms) == [2, 2, 2]
             and set().union(*(m.owned for m in ms)) == set(range(PARTS)), 20,
             "three members share the partitions 2 + 2 + 2")
    ev0 = tally.of("c0")
    revokes = [e[2] for e in ev0 if e[1] == "revoke"]
    expect(len(revokes) >= 2 and all(0 < len(r) < PARTS for r in revokes),
           "the first member gave up partitions incrementally: %r" % [e[1:3] for e in ev0])
    assigns = [e[2] for e in ev0 if e[1] == "assign"]
    expect(assigns[0] == list(range(PARTS)) and all(a == [] for a in assigns[1:]),
           "the first member's later assignments add nothing (incremental, sticky): %r" % assigns)
    for m in ms[1:]:
        got = [e[2] for e in tally.of(m.name_) if e[1] == "assign" and e[2]]
        expect(got and all(len(a) < PARTS for a in got),
               "%s got incremental assignments: %r" % (m.name_, got))
    wait_for(lambda: tally.total() >= n, 60, "every record read (%d)" % tally.total())
    stop_all(ms)
    return exactly_once(tally, n, "cooperative-sticky")


def body(b):
    static_restart(b)
    again = cooperative(b)
    return "static rejoin without a rebalance; cooperative-sticky, %d record(s) re-read" % again


run(body, extra=["--set", "group.initial.rebalance.delay.ms=100",
                 "--set", "offsets.topic.num.partitions=6"], name="confluent static and cooperative")
