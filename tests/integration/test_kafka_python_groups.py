#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""kafka-python 2.0.2 (Debian's python3-kafka) consumer groups, at the
protocol levels it speaks them:

  auto      FindCoordinator v0, JoinGroup v2, SyncGroup v1, Heartbeat v1,
            LeaveGroup v1, OffsetCommit v2, OffsetFetch v1;
  0.10.1    JoinGroup v1 (with a rebalance timeout), the rest v0; Fetch v3;
  0.9       JoinGroup v0 (the session timeout is the rebalance timeout),
            SyncGroup, Heartbeat and LeaveGroup v0, OffsetCommit v2,
            OffsetFetch v1; Metadata v0, Fetch v1 in message format v0;
  0.8.2     no group management: assign() and OffsetCommit v1 with
            generation -1 and no member id, OffsetFetch v1.

The request classes kafka-python sends are taken from its debug log and
checked, so a client upgrade that changes them shows up here.

At each group level, three KafkaConsumer threads subscribe to a 6-partition
topic with enable_auto_commit off; once they share its partitions in one
generation, keyed messages are written, and each member commits what each
poll returned (explicit offsets with a metadata string) before the next
poll. Every message is read once across the members; one member closes (a
LeaveGroup) a third of the way through and the other two take its
partitions over from its committed offsets: nothing lost, and nothing read
twice unless its commit was refused. Then more messages are produced and a
single consumer of the group reads part of them, commits and closes, and a
restarted one resumes exactly after it; the offsets and metadata
OffsetFetch returns at the end are the log ends."""
import logging
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import Deadline, expect, run, skip, stop_all, wait_for  # noqa: E402

try:
    import kafka  # noqa: F401
except ImportError:
    skip("kafka-python is not installed (apt install python3-kafka)")
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402
from kafka.errors import CommitFailedError, KafkaError  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

PARTS = 6
N = 3000   # messages of the group phase, per level
N2 = 600   # messages of the restart phase
DELAY_MS = 100
LEVELS = {"auto": None, "0.10.1": (0, 10, 1), "0.9": (0, 9)}
# What each level must send of the group APIs (kafka-python's class names).
WIRE = {
    "auto": {"GroupCoordinatorRequest_v0", "JoinGroupRequest_v2", "SyncGroupRequest_v1",
             "HeartbeatRequest_v1", "LeaveGroupRequest_v1", "OffsetCommitRequest_v2",
             "OffsetFetchRequest_v1"},
    "0.10.1": {"GroupCoordinatorRequest_v0", "JoinGroupRequest_v1", "SyncGroupRequest_v0",
               "HeartbeatRequest_v0", "LeaveGroupRequest_v0", "OffsetCommitRequest_v2",
               "OffsetFetchRequest_v1"},
    "0.9": {"GroupCoordinatorRequest_v0", "JoinGroupRequest_v0", "SyncGroupRequest_v0",
            "HeartbeatRequest_v0", "LeaveGroupRequest_v0", "OffsetCommitRequest_v2",
            "OffsetFetchRequest_v1"},
    "0.8.2": {"GroupCoordinatorRequest_v0", "OffsetCommitRequest_v1", "OffsetFetchRequest_v1"},
}
GROUP_APIS = ("GroupCoordinator", "JoinGroup", "SyncGroup", "Heartbeat", "LeaveGroup",
              "OffsetCommit", "OffsetFetch")


class WireLog(logging.Handler):
    """The request classes kafka.conn logs at debug ('... Request %d: %s'),
    read from the record's arguments without formatting the request."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sent = set()
        self.lock_ = threading.Lock()

    def emit(self, record):
        if record.msg == "%s Request %d: %s" and len(record.args) == 3:
            name = type(record.args[2]).__name__
            if name.startswith(GROUP_APIS):
                with self.lock_:
                    self.sent.add(name)

    def take(self):
        with self.lock_:
            s, self.sent = self.sent, set()
        return s


WIRE_LOG = WireLog()
logging.getLogger("kafka.conn").addHandler(WIRE_LOG)
logging.getLogger("kafka.conn").setLevel(logging.DEBUG)


def key(i):
    return b"key-%03d" % (i % 101)


def value(topic, i):
    return ("%s/%d/" % (topic, i)).encode() + b"x" * (i % 40)


def index_of(topic, r):
    """The message index a record carries, checked against its key."""
    head = r.value.split(b"/")
    expect(head[0].decode() == topic, "%s: a record of another topic: %r" % (topic, r.value[:40]))
    i = int(head[1])
    expect(r.key == key(i) and r.value == value(topic, i),
           "%s [%d] @%d: key %r value %r, want %r %r" % (topic, r.partition, r.offset, r.key,
                                                       r.value[:40], key(i), value(topic, i)[:40]))
    return i


def produce(b, topic, start, count):
    """Sends messages start..start+count-1; returns {partition: log end}."""
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", linger_ms=5,
                      request_timeout_ms=20000, max_block_ms=20000)
    try:
        futs = [p.send(topic, key=key(i), value=value(topic, i)) for i in range(start, start + count)]
        p.flush(30)
        ends = {}
        for f in futs:
            m = f.get(timeout=30)
            ends[m.partition] = max(ends.get(m.partition, 0), m.offset + 1)
        return ends
    finally:
        p.close(10)


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}        # message index -> times read
        self.at = {}          # (partition, offset) -> member that read it last
        self.unacked = set()  # message indexes whose commit was refused
        self.acked = {}       # partition -> highest acknowledged commit
        self.assigned = {}    # member -> its latest assignment
        self.errors = []

    def total(self):
        with self.lock:
            return len(self.seen)


class Member(threading.Thread):
    def __init__(self, b, name, level, topic, group, tally, limit=None):
        super().__init__(daemon=True)
        self.b, self.name_, self.level, self.topic, self.group = b, name, level, topic, group
        self.tally, self.limit = tally, limit
        self.stop = threading.Event()
        self.joined = threading.Event()
        self.read = 0
        self.error = None

    def run(self):
        try:
            self.consume()
        except Exception as e:  # noqa: BLE001 - the main thread reports it
            self.error = "%s: %s" % (type(e).__name__, e)

    def consume(self):
        tally = self.tally
        member = self

        class Listener(kafka.ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                pass

            def on_partitions_assigned(self, assigned):
                with tally.lock:
                    tally.assigned[member.name_] = sorted(tp.partition for tp in assigned)
                member.joined.set()

        c = KafkaConsumer(bootstrap_servers=self.b.bootstrap, group_id=self.group,
                          client_id=self.name_, api_version=LEVELS[self.level],
                          enable_auto_commit=False, auto_offset_reset="earliest",
                          session_timeout_ms=6000, heartbeat_interval_ms=300,
                          max_poll_records=50, fetch_max_wait_ms=100, request_timeout_ms=20000,
                          retry_backoff_ms=50)
        try:
            c.subscribe([self.topic], listener=Listener())
            while not self.stop.is_set():
                polled = c.poll(timeout_ms=100)
                batch = [r for rs in polled.values() for r in rs]
                if not batch:
                    continue
                idx = [index_of(self.topic, r) for r in batch]
                last = {}
                with tally.lock:
                    for r, i in zip(batch, idx):
                        tally.seen[i] = tally.seen.get(i, 0) + 1
                        tally.at[(r.partition, r.offset)] = self.name_
                        last[r.partition] = max(last.get(r.partition, -1), r.offset)
                self.read += len(batch)
                offsets = {TopicPartition(self.topic, q): OffsetAndMetadata(o + 1, self.name_)
                           for q, o in last.items()}
                try:
                    c.commit(offsets)
                    with tally.lock:
                        for q, o in last.items():
                            tally.acked[q] = max(tally.acked.get(q, 0), o + 1)
                except (CommitFailedError, KafkaError) as e:
                    with tally.lock:
                        tally.errors.append("%s: commit: %s" % (self.name_, e))
                        tally.unacked.update(idx)
                if self.limit is not None and self.read >= self.limit:
                    break
                time.sleep(0.01)  # a pace the leave lands in the middle of
        finally:
            c.close(autocommit=False)


def committed(b, level, group, topic):
    """{partition: (offset, metadata)} as OffsetFetch returns them to a
    consumer of the group that is not a member."""
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group,
                      api_version=(0, 8, 2) if level == "0.8.2" else LEVELS[level],
                      enable_auto_commit=False, session_timeout_ms=6000, request_timeout_ms=20000)
    try:
        out = {}
        for q in range(PARTS):
            om = c.committed(TopicPartition(topic, q), metadata=True)
            out[q] = None if om is None else (om.offset, om.metadata)
        return out
    finally:
        c.close(autocommit=False)


def group_level(b, level):
    topic = "kpg-%s" % level.replace(".", "_")
    group = "kpg-group-%s" % level.replace(".", "_")
    WIRE_LOG.take()

    # Three members join; the messages come once the three hold partitions
    # of one generation (one that joined late would find them all read), so
    # the rebalance while they read is the leave: the first leaves a third
    # of the way through.
    tally = Tally()
    members = [Member(b, "%s-m%d" % (level, k), level, topic, group, tally) for k in range(3)]
    t0 = time.time()
    for m in members:
        m.start()

    def one_generation():
        with tally.lock:
            held = [tally.assigned.get(m.name_) for m in members]
        return all(held) and sorted(q for qs in held for q in qs) == list(range(PARTS))

    wait_for(lambda: one_generation() or any(m.error for m in members), 30,
             "%s: the three members share the partitions (%s)" % (level, tally.assigned))
    expect(not any(m.error for m in members), "%s: %s" % (level, [m.error for m in members]))
    joined = time.time() - t0
    ends = produce(b, topic, 0, N)
    expect(sum(ends.values()) == N and len(ends) == PARTS, "%s: produced over %s" % (topic, ends))
    t0 = time.time()
    wait_for(lambda: tally.total() >= N // 3 or any(m.error for m in members), 30,
             "%s: a third read (%d)" % (level, tally.total()))
    leaver = members[0]
    leaver.stop.set()
    leaver.join(30)
    expect(leaver.error is None, "%s: the leaving member: %s" % (level, leaver.error))
    left_at = tally.total()
    wait_for(lambda: tally.total() >= N or any(m.error for m in members[1:]), 40,
             "%s: all %d read (%d so far; assignments %s; errors %s)"
             % (level, N, tally.total(), tally.assigned, tally.errors[:3]))
    took = time.time() - t0
    time.sleep(0.3)  # anything read twice shows up
    with tally.lock:  # before the members stop: the last to stop gets every partition
        after_leave = {m.name_: tally.assigned.get(m.name_, []) for m in members[1:]}
    stop_all(members[1:])
    expect(len(tally.seen) == N, "%s: %d of %d messages read" % (level, len(tally.seen), N))
    dups = sorted(i for i, k in tally.seen.items() if k > 1 and i not in tally.unacked)
    expect(not dups, "%s: %d messages read twice with their commit acknowledged, e.g. %s"
           % (level, len(dups), dups[:5]))
    remaining = sorted(q for qs in after_leave.values() for q in qs)
    expect(remaining == list(range(PARTS)), "%s: the two remaining members hold every partition "
           "once after the leave: %s" % (level, after_leave))
    took_over = sorted({by for (q, o), by in tally.at.items()
                        if by != leaver.name_ and q in tally.assigned.get(leaver.name_, [])})
    expect(leaver.read > 0 and took_over, "%s: the leaver read %d and its partitions %s were "
           "taken over (by %s)" % (level, leaver.read, tally.assigned.get(leaver.name_), took_over))
    got = committed(b, level, group, topic)
    expect({q: v[0] if v else None for q, v in got.items()} == ends,
           "%s: committed offsets %s, want the ends %s" % (level, got, ends))
    expect(all(v and v[1].startswith(level + "-m") for v in got.values()),
           "%s: the metadata of each commit kept: %s" % (level, got))

    # A consumer reads part of the next messages and closes; a restarted one resumes after it.
    new_ends = produce(b, topic, N, N2)  # the log ends after them
    t2 = Tally()
    first = Member(b, "%s-r1" % level, level, topic, group, t2, limit=N2 // 2)
    first.start()
    first.join(30)
    expect(not first.is_alive() and first.error is None, "%s: the first reader: %s" % (level, first.error))
    expect(not t2.errors, "%s: its commits: %s" % (level, t2.errors[:3]))
    read_before = set(t2.seen)
    acked = dict(t2.acked)
    expect(all(i >= N for i in read_before), "%s: the first reader resumed past the group's "
           "commits: it read %s" % (level, sorted(i for i in read_before if i < N)[:5]))
    again = Member(b, "%s-r2" % level, level, topic, group, t2)
    again.start()
    wait_for(lambda: t2.total() >= N2 or again.error, 30,
             "%s: the restarted reader read the rest (%d of %d)" % (level, t2.total(), N2))
    time.sleep(0.3)
    stop_all([again])
    expect(sorted(t2.seen) == list(range(N, N + N2)), "%s: the two readers together read the "
           "%d new messages: %d" % (level, N2, len(t2.seen)))
    twice = sorted(i for i, k in t2.seen.items() if k > 1)
    expect(not twice, "%s: the restarted reader re-read %d messages past the committed "
           "offsets %s, e.g. %s" % (level, len(twice), acked, twice[:5]))
    got = committed(b, level, group, topic)
    expect({q: v[0] if v else None for q, v in got.items()} == new_ends,
           "%s: committed offsets after the restart %s, want %s" % (level, got, new_ends))
    sent = WIRE_LOG.take()
    expect(WIRE[level] <= sent, "%s: group requests sent %s, want at least %s"
           % (level, sorted(sent), sorted(WIRE[level])))
    print("ok: %s: %d messages over 3 members (joined in %d ms; leave at %d; all read in %.1f s; "
          "%d commits refused), then %d + %d across a restart; wire %s"
          % (level, N, joined * 1000, left_at, took,
             len(tally.errors),
             len(read_before), N2 - len(read_before), ", ".join(sorted(sent))), flush=True)


def manual_082(b):
    """api_version (0, 8, 2): assign(), OffsetCommit v1 with generation -1, OffsetFetch v1."""
    topic = "kpg-0_8_2"
    group = "kpg-group-0_8_2"
    ends = produce(b, topic, 0, 300)
    WIRE_LOG.take()
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group, api_version=(0, 8, 2),
                      enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=6000,
                      request_timeout_ms=20000)
    half = {q: ends[q] // 2 for q in ends}
    try:
        tps = [TopicPartition(topic, q) for q in range(PARTS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {q: [] for q in range(PARTS)}
        d = Deadline(20)
        while any(len(got[q]) < ends[q] for q in got):
            d.check("0.8.2 read %s of %s" % ({q: len(v) for q, v in got.items()}, ends))
            for tp, rs in c.poll(timeout_ms=100).items():
                got[tp.partition].extend(rs)
        for q in got:
            expect([r.offset for r in got[q]] == list(range(ends[q])), "0.8.2 [%d] offsets" % q)
            for r in got[q]:
                index_of(topic, r)
        c.commit({TopicPartition(topic, q): OffsetAndMetadata(half[q], "half-%d" % q) for q in ends})
    finally:
        c.close(autocommit=False)
    got = committed(b, "0.8.2", group, topic)
    expect(got == {q: (half[q], "half-%d" % q) for q in range(PARTS)},
           "0.8.2: committed %s, want %s" % (got, half))
    # A new consumer of the group starts at the committed offsets.
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group, api_version=(0, 8, 2),
                      enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=6000,
                      request_timeout_ms=20000)
    try:
        c.assign([TopicPartition(topic, q) for q in range(PARTS)])
        pos = {q: c.position(TopicPartition(topic, q)) for q in range(PARTS)}
        expect(pos == half, "0.8.2: a new consumer starts at %s, want the commits %s" % (pos, half))
    finally:
        c.close(autocommit=False)
    sent = WIRE_LOG.take()
    expect(WIRE["0.8.2"] <= sent and not any(s.startswith("JoinGroup") for s in sent),
           "0.8.2: group requests sent %s, want %s" % (sorted(sent), sorted(WIRE["0.8.2"])))
    print("ok: 0.8.2: manual assignment commits (generation -1) and resumes; wire %s"
          % ", ".join(sorted(sent)), flush=True)


def body(b):
    t0 = time.time()
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=20000)
    try:
        admin.create_topics([NewTopic("kpg-%s" % lv.replace(".", "_"), PARTS, 1)
                             for lv in list(LEVELS) + ["0.8.2"]], timeout_ms=20000)
    finally:
        admin.close()
    for level in LEVELS:
        group_level(b, level)
    manual_082(b)
    return "kafka-python groups at %s and manual commits at 0.8.2 in %.1f s" % (
        ", ".join(LEVELS), time.time() - t0)


run(body, extra=["--set", "group.initial.rebalance.delay.ms=%d" % DELAY_MS,
                 "--set", "offsets.topic.num.partitions=4"], name="kafka-python groups")
