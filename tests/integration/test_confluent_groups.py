#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""A consumer group of three confluent-kafka (librdkafka) consumers on a
6-partition topic, classic protocol, manual commits (enable.auto.commit
false, a synchronous commit after each processed batch):

  - 60,000 messages are consumed, each exactly once across the members;
    one member leaves (close()) a third of the way through and the others
    take its partitions over from its committed offsets: nothing is lost
    and nothing is read twice;
  - the broker is killed (-9) and restarted while two members consume the
    next 6,000: consumption resumes from the committed offsets (nothing is
    lost; a record is read again only when its commit had not been
    acknowledged before the kill), and the final committed offsets are
    the log ends.

Prints the time from the consumers' subscribe() to their first record for
the 3-member group (group.initial.rebalance.delay.ms=100 here)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import (create_topic, expect, need_confluent, produce_queued, run,  # noqa: E402
                           stop_all, wait_for)
from harness import restart_same_port  # noqa: E402

need_confluent()
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402

TOPIC = "cg-topic"
PARTS = 6
N = 60000
N2 = 6000
GROUP = "cg-eager"
DELAY_MS = 100


def produce(b, start, count):
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5, "acks": "all"})
    for i in range(start, start + count):
        produce_queued(p, TOPIC, value=b"%d" % i, partition=i % PARTS)
    expect(p.flush(30) == 0, "the producer flushed")


class Tally:
    """What every member read and committed, shared by the consumer threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}          # (partition, offset) -> times read
        self.unacked = set()    # (partition, offset) read but whose commit failed
        self.acked = {}         # partition -> committed offset acknowledged
        self.first = {}         # member -> seconds from subscribe to its first record
        self.events = []        # (member, "assign"/"revoke", [partitions])
        self.commit_errors = []

    def total(self):
        with self.lock:
            return len(self.seen)


class Member(threading.Thread):
    def __init__(self, b, name, tally, conf=None):
        super().__init__(daemon=True)
        self.name_, self.tally = name, tally
        self.conf = {"bootstrap.servers": b.bootstrap, "group.id": GROUP,
                     "client.id": name, "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                     "heartbeat.interval.ms": 500, "topic.metadata.refresh.interval.ms": 1000}
        self.conf.update(conf or {})
        self.stop = threading.Event()
        self.error = None
        self.read = 0

    def on_assign(self, c, parts):
        with self.tally.lock:
            self.tally.events.append((self.name_, "assign", sorted(p.partition for p in parts)))

    def on_revoke(self, c, parts):
        with self.tally.lock:
            self.tally.events.append((self.name_, "revoke", sorted(p.partition for p in parts)))

    def run(self):
        try:
            self.consume()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = e

    def consume(self):
        c = Consumer(self.conf)
        t0 = time.time()
        c.subscribe([TOPIC], on_assign=self.on_assign, on_revoke=self.on_revoke)
        while not self.stop.is_set():
            msgs = c.consume(500, 0.2)
            last = {}
            batch = []
            for m in msgs:
                if m.error():
                    continue
                batch.append((m.partition(), m.offset()))
                last[m.partition()] = m.offset()
            if not batch:
                continue
            with self.tally.lock:
                self.tally.first.setdefault(self.name_, time.time() - t0)
                for k in batch:
                    self.tally.seen[k] = self.tally.seen.get(k, 0) + 1
            self.read += len(batch)
            offs = [TopicPartition(TOPIC, p, o + 1) for p, o in last.items()]
            try:
                res = c.commit(offsets=offs, asynchronous=False)
                bad = [r for r in res if r.error is not None]
            except KafkaException as e:
                bad = [e]
            with self.tally.lock:
                if bad:
                    self.tally.commit_errors.append((self.name_, str(bad[0])))
                    self.tally.unacked.update(batch)
                else:
                    for p, o in last.items():
                        self.tally.acked[p] = max(self.tally.acked.get(p, 0), o + 1)
        c.close()


def committed(b):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": GROUP})
    res = c.committed([TopicPartition(TOPIC, p) for p in range(PARTS)], timeout=20)
    c.close()
    return {r.partition: r.offset for r in res}


def eager_group(b):
    """Three members, one leaves a third of the way; every record exactly once."""
    tally = Tally()
    members = [Member(b, "m%d" % i, tally) for i in range(3)]
    for m in members:
        m.start()
    wait_for(lambda: len(tally.first) == 3 or tally.total() >= N // 3, 30,
             "the three members read their first records")
    firsts = dict(tally.first)
    wait_for(lambda: tally.total() >= N // 3, 60, "a third of the records read")
    leaver = members[0]
    leaver.stop.set()  # close(): LeaveGroup; the others take its partitions over
    leaver.join(30)
    expect(leaver.error is None, "the leaving member: %r" % (leaver.error,))
    wait_for(lambda: tally.total() >= N, 60, "all %d records read (%d so far)" % (N, tally.total()))
    time.sleep(0.5)
    stop_all(members[1:])
    dups = {k: n for k, n in tally.seen.items() if n > 1}
    expect(len(tally.seen) == N, "every record read: %d of %d" % (len(tally.seen), N))
    expect(not tally.commit_errors, "no commit failed: %r" % tally.commit_errors[:3])
    expect(not dups, "no record read twice: %d, e.g. %r" % (len(dups), list(dups.items())[:3]))
    after_leave = [e for e in tally.events if e[0] != "m0" and e[1] == "assign"]
    expect(sorted({p for e in after_leave[-2:] for p in e[2]}) == list(range(PARTS)),
           "the two remaining members hold all partitions: %r" % (after_leave[-2:],))
    ends = committed(b)
    expect(ends == {p: N // PARTS for p in range(PARTS)}, "committed offsets at the ends: %r" % ends)
    return firsts


def kill_and_resume(b):
    """Two members read the next records; the broker is killed -9 mid-way and restarted."""
    produce(b, N, N2)
    tally = Tally()
    members = [Member(b, "k%d" % i, tally) for i in range(2)]
    for m in members:
        m.start()
    wait_for(lambda: tally.total() >= N2 // 3, 60, "a third of the new records read")
    with tally.lock:
        acked_before = dict(tally.acked)
    restart_same_port(b, __import__("signal").SIGKILL)
    wait_for(lambda: tally.total() >= N2, 60,
             "all new records read after the restart (%d so far)" % tally.total())
    time.sleep(0.5)
    stop_all(members)
    start = N // PARTS
    want = {(p, o) for p in range(PARTS) for o in range(start, start + N2 // PARTS)}
    expect(set(tally.seen) == want, "every new record read across the kill: %d of %d"
           % (len(set(tally.seen) & want), len(want)))
    # A record read twice must lie past what had been acknowledged as committed.
    bad = [k for k, n in tally.seen.items() if n > 1
           and k[1] < acked_before.get(k[0], start) and k not in tally.unacked]
    expect(not bad, "records read twice below the acknowledged commits: %r" % bad[:5])
    ends = committed(b)
    expect(ends == {p: start + N2 // PARTS for p in range(PARTS)},
           "committed offsets at the new ends after the restart: %r" % ends)
    return sum(1 for n in tally.seen.values() if n > 1)


def first_records(b, group):
    """Three new members of a fresh group: seconds from subscribe() to each one's first record."""
    tally = Tally()
    members = [Member(b, "w%d" % i, tally, {"group.id": group}) for i in range(3)]
    for m in members:
        m.start()
    wait_for(lambda: len(tally.first) == 3, 30, "the three members read their first records")
    stop_all(members)
    return dict(tally.first)


def report(label, firsts):
    print("join-to-first-record, 3 members, %s (group.initial.rebalance.delay.ms=%d): %s"
          % (label, DELAY_MS, ", ".join("%s %.0f ms" % (k, v * 1000)
                                        for k, v in sorted(firsts.items()))))


def body(b):
    create_topic(b.bootstrap, TOPIC, PARTS)
    produce(b, 0, N)
    firsts = eager_group(b)
    report("first group (__consumer_offsets created meanwhile)", firsts)
    report("a new group", first_records(b, "cg-warm"))
    again = kill_and_resume(b)
    return "%d records exactly once over a leave; %d of %d re-read after kill -9" % (N, again, N2)


run(body, extra=["--set", "group.initial.rebalance.delay.ms=%d" % DELAY_MS,
                 "--set", "offsets.topic.num.partitions=6"], name="confluent consumer group")
