"""Shared pieces of the real-client tests (confluent-kafka-python,
kafka-python, kcat): running a test body against a broker and reporting its
failure with the broker's log, and reading partitions back without consumer
groups (group APIs come later: every consumer here uses assign() with
explicit offsets and commits nothing)."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args  # noqa: E402
import kwire  # noqa: E402


class Fail(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Fail(what)


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def need_confluent():
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        skip("confluent-kafka-python is not installed (apt install python3-confluent-kafka)")


def need_kcat():
    if shutil.which("kcat") is None:
        skip("kcat is not installed (apt install kcat)")


def run(body, extra=(), name="test"):
    """Starts a broker with `extra` options, runs body(broker), stops it.
    Exits 1 with the failure and the broker's log when the body raises or
    the broker does not exit cleanly; prints body's return value as ok."""
    exe, smp = args()
    b = Broker(exe, extra=["--smp", smp, *extra])
    _watchdog(b, name)
    try:
        b.start()
    except RuntimeError as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    try:
        try:
            result = body(b)
        except Exception as e:  # noqa: BLE001 - any failure is reported with the log
            import traceback
            b.stop()
            print("FAIL: %s: %s\n%s--- broker log ---\n%s"
                  % (name, e, traceback.format_exc(), b.log_text()))
            sys.exit(1)
        rc = b.stop()
        if rc != 0:
            print("FAIL: %s: broker exited %s\n%s" % (name, rc, b.log_text()))
            sys.exit(1)
        print("ok: %s%s" % (name, (": %s" % result) if result is not None else ""))
    finally:
        b.close()


def _watchdog(b, name, seconds=float(os.environ.get("SPINDLE_IT_STUCK_S", "240"))):
    """A test stuck inside a client call (a broker that never answers) is
    reported before meson's timeout kills it: where it waited, and the
    broker's log."""
    import faulthandler
    import threading

    def fire():
        print("FAIL: %s: stuck for %.0f s; the test was here:" % (name, seconds), flush=True)
        faulthandler.dump_traceback(file=sys.stdout, all_threads=True)
        print("--- broker log ---\n%s" % b.log_text(), flush=True)
        try:
            b.proc.kill()
        except Exception:  # noqa: BLE001
            pass
        os._exit(1)

    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def consumer_conf(bootstrap, **extra):
    """A confluent-kafka consumer that joins no group: librdkafka's Python
    binding insists on a group.id, but nothing here subscribes or commits."""
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "spindle-it-assign-only",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
    }
    conf.update(extra)
    return conf


def read_partitions(bootstrap, topic, ends, start=0, conf=None, msg_limit=None,
                    idle_polls=200):
    """Reads partitions of `topic` with confluent-kafka's assign() from
    `start` until each partition p reaches offset ends[p] (exclusive).
    Returns {partition: [Message]} in the order received. Raises Fail on a
    consumer error or when idle_polls polls in a row bring nothing new."""
    from confluent_kafka import Consumer, TopicPartition, KafkaError

    c = Consumer(consumer_conf(bootstrap, **(conf or {})))
    try:
        c.assign([TopicPartition(topic, p, start) for p in ends])
        got = {p: [] for p in ends}
        # start past the end is left to auto.offset.reset (conf) to move.
        done = {p for p, end in ends.items() if end == start}
        limit = msg_limit if msg_limit is not None else sum(ends.values()) + 1
        idle = 0
        total = 0
        while len(done) < len(ends):
            batch = c.consume(num_messages=10000, timeout=0.5)
            if not batch:
                idle += 1
                if idle >= idle_polls:
                    raise Fail("no progress reading %s: at %s, want %s"
                               % (topic, {p: (got[p][-1].offset() + 1 if got[p] else start)
                                          for p in ends}, ends))
                continue
            idle = 0
            for m in batch:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if m.partition() in ends and m.offset() >= ends[m.partition()]:
                            done.add(m.partition())
                        continue
                    raise Fail("consumer error on %s [%s]: %s" % (m.topic(), m.partition(), err))
                p = m.partition()
                expect(p in got, "message from an unassigned partition %s" % p)
                got[p].append(m)
                total += 1
                expect(total <= limit, "more messages than produced: %d" % total)
                if m.offset() + 1 >= ends[p]:
                    done.add(p)
        return got
    finally:
        c.close()


def watermarks(bootstrap, topic, partitions):
    """{partition: (low, high)} as ListOffsets reports them."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(consumer_conf(bootstrap))
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
                for p in partitions}
    finally:
        c.close()


def expect_produce_order(delivered, partitions, label):
    """delivered: {message index: (partition, offset)} for messages 0..n-1.
    Each partition's offsets are 0..k-1, in the order the messages were
    produced. Returns {partition: [(offset, message index)]}."""
    per_part = {q: [] for q in range(partitions)}
    for i in range(len(delivered)):
        q, off = delivered[i]
        per_part[q].append((off, i))
    for q, offs in per_part.items():
        expect([o for o, _ in offs] == list(range(len(offs))),
               "%s partition %d: delivery offsets %s..., want 0..%d in produce order"
               % (label, q, [o for o, _ in offs][:20], len(offs) - 1))
    return per_part


def produce_queued(p, topic, wait_s=0.05, **kw):
    """p.produce(topic, **kw), serving delivery reports while the
    producer's queue is full (BufferError) until the message fits."""
    while True:
        try:
            p.produce(topic, **kw)
            return
        except BufferError:
            p.poll(wait_s)


def create_topic(bootstrap, name, partitions, config=None, timeout=30):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})],
                              operation_timeout=timeout, request_timeout=timeout)
    fut[name].result(timeout=timeout)


def kcat(bootstrap, *argv, stdin=None, check=True, timeout=60, text=True):
    out = subprocess.run(["kcat", "-b", bootstrap, *argv], input=stdin,
                         capture_output=True, text=text, timeout=timeout)
    if check and out.returncode != 0:
        raise Fail("kcat %s exited %d: %s" % (" ".join(argv), out.returncode, out.stderr))
    return out


def wait_for(cond, seconds, what):
    """Polls cond() every 20 ms until it holds; AssertionError after seconds."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out: " + what)


def stop_all(members):
    """Stops consumer threads that have a `stop` event, `name_` and `error`:
    each must end within 30 s, without an error."""
    for m in members:
        m.stop.set()
    for m in members:
        m.join(30)
        expect(not m.is_alive(), "%s stopped" % m.name_)
        expect(m.error is None, "%s: %r" % (m.name_, m.error))


class Deadline:
    """A generous outer bound for loops that wait on the broker; tests never
    assert on it, it only keeps a stuck broker from hanging the suite."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def check(self, what):
        if time.monotonic() > self.end:
            raise Fail("gave up waiting: " + what)


# ---- A raw acks=0 Produce, for what no client sends: a partition the
# client's metadata does not have. Kafka answers nothing and, on an error,
# closes the connection. ----

def record_batch(values, ts_ms):
    """An uncompressed v2 record batch of `values` (bytes), no keys, base
    offset 0, no producer id."""
    return kwire.batch_v2([(None, v, ts_ms) for v in values])


def produce_v3(corr, acks, topic, partition, batch):
    """A Produce v3 request frame: one topic, one partition."""
    return kwire.produce_request(corr, 3, [(topic, [(partition, batch)])], acks=acks)
