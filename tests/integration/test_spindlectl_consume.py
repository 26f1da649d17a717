#!/usr/bin/env python3
# spindle-test: runner=system-python variants=once
"""spindlectl consume against a real Spindle (and librdkafka's mock cluster
when tools/kafka-mock is built): records written by confluent-kafka with
keys, headers, timestamps, a null key, a null value and bytes that are not
UTF-8 come back exactly in every output form (plain values, JSON lines,
--format with every directive), from the beginning, the end, an offset, a
negative offset and a point in time, of one partition or all, -n and -e;
a follower prints each record as it comes and stops cleanly on SIGINT or
after --timeout without records; a missing topic, a bad option and a
broker that is down fail with their exit codes.

This file also holds what test_spindlectl_groups.py shares with it."""
import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import Fail, expect  # noqa: E402

BUILD = os.environ.get("SPINDLE_BUILD_ROOT", "")
CTL = os.path.join(BUILD, "tools/spindlectl")
MOCK = os.path.join(BUILD, "tools/kafka-mock")


def need_ctl():
    if not os.access(CTL, os.X_OK):
        print("SKIP: %s is not built" % CTL)
        sys.exit(77)


def ctl(bootstrap, *argv, timeout=60, check=True, stdin=None):
    """Runs spindlectl -b bootstrap argv...; returns the CompletedProcess (bytes)."""
    t0 = time.time()
    out = subprocess.run([CTL, "-b", bootstrap, *argv], input=stdin, capture_output=True,
                         timeout=timeout)
    out.elapsed = time.time() - t0
    if check and out.returncode != 0:
        raise Fail("spindlectl %s exited %d: %s" % (" ".join(argv), out.returncode,
                                                    out.stderr.decode(errors="replace")))
    return out


def lines(out):
    return out.stdout.decode().splitlines()


class Stream:
    """A spindlectl running in the background whose stdout lines are
    collected as they come (the test sees records before it exits)."""

    def __init__(self, bootstrap, *argv):
        self.proc = subprocess.Popen([CTL, "-b", bootstrap, *argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines = []
        self.err = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip(b"\n"))

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line.decode(errors="replace"))

    def got(self):
        with self._lock:
            return list(self.lines)

    def wait_lines(self, n, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline and len(self.got()) < n and self.proc.poll() is None:
            time.sleep(0.05)
        return self.got()

    def interrupt(self, seconds=15):
        """SIGINT; returns the exit status (a clean stop within seconds)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fail("spindlectl did not stop within %ss of SIGINT: %s" % (seconds, self.err))

    def wait(self, seconds):
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fail("spindlectl did not exit within %ss: %s" % (seconds, self.err))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def produce(bootstrap, topic, records):
    """records: (partition, key, value, headers, timestamp_ms); confluent-kafka, acks=all."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    errors = []

    def report(err, _msg):
        if err is not None:
            errors.append(err)

    for part, key, value, headers, ts in records:
        kw = {"partition": part, "key": key, "value": value, "on_delivery": report}
        if headers:
            kw["headers"] = headers
        if ts is not None:
            kw["timestamp"] = ts
        p.produce(topic, **kw)
    left = p.flush(30)
    expect(left == 0 and not errors, "produce: %d left, errors %s" % (left, errors))


class Mock:
    """tools/kafka-mock: librdkafka's mock cluster in its own process."""

    def __init__(self, *argv):
        self.proc = subprocess.Popen([MOCK, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("bootstrap "):
            self.close()
            raise Fail("kafka-mock printed %r" % line)
        self.bootstrap = line.split(" ", 1)[1]

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        try:
            self.proc.stdin.close()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def have_mock():
    return os.access(MOCK, os.X_OK)


# ---- the test ----

TOPIC = "ctl-consume"
BASE = 1700000000000  # record timestamps: BASE + partition * 100 + i * 10


def records():
    """(partition, key, value, headers, timestamp) in produce order; offsets follow."""
    out = []
    for p in range(3):
        for i in range(5):
            out.append((p, b"k%d-%d" % (p, i), b"v%d-%d" % (p, i),
                        [("h", b"x%d" % i), ("src", b"ctl")], BASE + p * 100 + i * 10))
    out.append((0, None, b"\xffbin\x01", None, BASE + 50))
    out.append((0, b"tomb", None, [("empty", b""), ("nullh", None)], BASE + 60))
    return out


def with_offsets(recs):
    nxt, out = {}, []
    for p, k, v, h, ts in recs:
        out.append((p, nxt.get(p, 0), k, v, h or [], ts))
        nxt[p] = nxt.get(p, 0) + 1
    return out


def as_json(b):
    return None if b is None else b.decode("utf-8", "replace")


def want_json(topic, r):
    p, off, k, v, hdrs, ts = r
    d = {"topic": topic, "partition": p, "offset": off, "timestamp": ts,
         "timestamp_type": "create", "key": as_json(k)}
    if k is not None and as_json(k).encode() != k:
        d["key_base64"] = base64.b64encode(k).decode()
    d["value"] = as_json(v)
    if v is not None and as_json(v).encode() != v:
        d["value_base64"] = base64.b64encode(v).decode()
    d["headers"] = [{"key": hk, "value": as_json(hv)} for hk, hv in hdrs]
    return d


def want_format(topic, r):
    p, off, k, v, hdrs, ts = r
    h = b",".join(hk.encode() + b"=" + (hv or b"") for hk, hv in hdrs)
    return b"%s|%d|%d|%d|%s|%s|%s|%d|%d|%%\t." % (
        topic.encode(), p, off, ts, k or b"", v or b"", h,
        len(k) if k is not None else -1, len(v) if v is not None else -1)


def check_outputs(bs, topic, sent):
    # Plain values, every partition from the beginning, until each end (-e).
    out = ctl(bs, "consume", topic, "--from-beginning", "-e", "--timeout", "20s")
    got = out.stdout.split(b"\n")
    expect(got[-1] == b"", "plain output ends with a newline")
    want = sorted((v or b"") for _, _, _, v, _, _ in sent)
    expect(sorted(got[:-1]) == want, "plain values: %r, want %r" % (sorted(got[:-1]), want))

    # JSON lines: every field of every record, keys in order.
    out = ctl(bs, "consume", topic, "--from-beginning", "-e", "--json", "--timeout", "20s")
    objs = [json.loads(line) for line in out.stdout.decode("utf-8").splitlines()]
    objs.sort(key=lambda d: (d["partition"], d["offset"]))
    want = [want_json(topic, r) for r in sorted(sent, key=lambda r: (r[0], r[1]))]
    expect(objs == want, "JSON lines:\n%s\nwant\n%s" % (objs, want))
    expect(all(list(o.keys()) == list(w.keys()) for o, w in zip(objs, want)),
           "JSON key order: %s" % [list(o.keys()) for o in objs[:2]])

    # --format with every directive and escape; per partition in offset order.
    fmt = "%t|%p|%o|%T|%k|%s|%h|%K|%S|%%\\t.\\n"
    out = ctl(bs, "consume", topic, "--from-beginning", "-e", "-f", fmt, "--timeout", "20s")
    got = out.stdout.split(b"\n")[:-1]
    for p in range(3):
        mine = [g for g in got if g.startswith(b"%s|%d|" % (topic.encode(), p))]
        want = [want_format(topic, r) for r in sent if r[0] == p]
        expect(mine == want, "--format partition %d:\n%r\nwant\n%r" % (p, mine, want))


def check_starts(bs, topic):
    def plain(*argv):
        return lines(ctl(bs, "consume", topic, "-e", "--timeout", "20s", *argv))

    got = plain("-p", "1", "--from-beginning")
    expect(got == ["v1-%d" % i for i in range(5)], "-p 1 --from-beginning: %s" % got)
    got = plain("-p", "1", "--offset", "2")
    expect(got == ["v1-2", "v1-3", "v1-4"], "-p 1 --offset 2: %s" % got)
    got = plain("--partition", "2", "--offset", "-2")
    expect(got == ["v2-3", "v2-4"], "-p 2 --offset -2: %s" % got)
    got = plain("-p", "1", "--from-end")
    expect(got == [], "-p 1 --from-end -e: %s" % got)

    want = {"1:3", "1:4"} | {"2:%d" % i for i in range(5)}
    got = set(plain("--from-time", str(BASE + 125), "-f", "%p:%o\\n"))
    expect(got == want, "--from-time ms: %s, want %s" % (sorted(got), sorted(want)))
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((BASE + 125) // 1000)) + ".%03dZ" % (
        (BASE + 125) % 1000)
    got = set(plain("--from-time", iso, "-f", "%p:%o\\n"))
    expect(got == want, "--from-time %s: %s" % (iso, sorted(got)))

    out = ctl(bs, "consume", topic, "--from-beginning", "-n", "3", "--timeout", "20s")
    expect(len(lines(out)) == 3, "-n 3 printed %s" % lines(out))
    got = lines(ctl(bs, "consume", topic, "-p", "0", "--from-beginning", "-n", "2"))
    expect(got == ["v0-0", "v0-1"], "-p 0 -n 2: %s" % got)


def check_follow(bs, topic):
    # --from-end follows: records produced once it runs are printed as they
    # come (the pipe sees them before the process exits); SIGINT stops it.
    s = Stream(bs, "consume", topic, "--from-end", "-f", "%p:%s\\n")
    sent = []
    try:
        deadline = time.time() + 30
        while not s.got() and time.time() < deadline and s.proc.poll() is None:
            v = b"follow-%d" % len(sent)
            produce(bs, topic, [(1, None, v, None, None)])
            sent.append(b"1:" + v)
            s.wait_lines(1, 0.5)
        got = s.got()
        expect(got and all(g in sent for g in got), "follower printed %s of %s" % (got, sent))
        expect(got == sent[len(sent) - len(got):], "follower order %s of %s" % (got, sent))
    finally:
        rc = s.interrupt()
    expect(rc == 0, "SIGINT: exit %s, stderr %s" % (rc, s.err))

    # --timeout: exits by itself once no record came for that long.
    s = Stream(bs, "consume", topic, "-p", "2", "--offset", "5", "--timeout", "3s")
    try:
        produce(bs, topic, [(2, None, b"late", None, None)])
        got = s.wait_lines(1, 20)
        expect(got == [b"late"], "--timeout follower printed %s" % got)
        t0 = time.time()
        rc = s.wait(20)
        expect(rc == 0, "idle exit status %s: %s" % (rc, s.err))
        expect(time.time() - t0 < 10, "idle exit took %.1fs" % (time.time() - t0))
    finally:
        s.kill()


def check_errors(bs, topic):
    out = ctl(bs, "consume", "no-such-topic", "-e", "--timeout", "5s", check=False)
    err = out.stderr.decode()
    expect(out.returncode == 1 and 'topic "no-such-topic": UNKNOWN_TOPIC_OR_PARTITION' in err,
           "missing topic: exit %d, %r" % (out.returncode, err))
    for argv in (["--bogus"], ["--from-beginning", "--offset", "3"], ["-f", "%x"],
                 ["-n", "0"], [], ["-p", "x"], ["--json", "-f", "%s"]):
        args = ["consume", topic, *argv] if argv != [] else ["consume"]
        out = ctl(bs, *args, check=False)
        expect(out.returncode == 2 and out.stderr.startswith(b"spindlectl"),
               "usage error %s: exit %d, %r" % (argv, out.returncode, out.stderr))
    out = ctl(bs, "consume", topic, "-p", "7", "-e", check=False)
    expect(out.returncode == 1 and b"partition 7" in out.stderr,
           "-p 7: exit %d, %r" % (out.returncode, out.stderr))
    out = ctl(bs, "consume", "--help")
    help_text = out.stdout.decode()
    for word in ("%k", "%s", "%h", "%p", "%o", "%t", "%T", "%%", "\\n", "--from-time",
                 "--group", "Example"):
        expect(word in help_text, "consume --help mentions %s" % word)

    # A broker that is down: a clear message and exit 3 within the timeout.
    out = subprocess.run([CTL, "-b", "127.0.0.1:1", "consume", topic, "--timeout", "2s"],
                         capture_output=True, timeout=30)
    expect(out.returncode == 3 and out.stderr.startswith(b"spindlectl: "),
           "down broker: exit %d, %r" % (out.returncode, out.stderr))


def check_mock():
    if not have_mock():
        print("kafka-mock is not built: its part is skipped")
        return
    m = Mock("--topic", "mk:2")
    try:
        bs = m.bootstrap
        recs = [(0, b"a", b"one", [("h", b"1")], BASE), (0, None, b"two", None, BASE + 1),
                (1, b"c", b"three", None, BASE + 2)]
        produce(bs, "mk", recs)
        sent = with_offsets(recs)
        out = ctl(bs, "consume", "mk", "--from-beginning", "-e", "--json", "--timeout", "20s")
        objs = sorted((json.loads(x) for x in lines(out)),
                      key=lambda d: (d["partition"], d["offset"]))
        want = [want_json("mk", r) for r in sorted(sent, key=lambda r: (r[0], r[1]))]
        expect(objs == want, "mock JSON:\n%s\nwant\n%s" % (objs, want))
        got = lines(ctl(bs, "consume", "mk", "-p", "0", "--offset", "1", "-e"))
        expect(got == ["two"], "mock -p 0 --offset 1: %s" % got)

        # A group member on the mock: every record, then its commits.
        out = ctl(bs, "consume", "mk", "-g", "mock-group", "--from-beginning", "-n", "3",
                  "--timeout", "20s", timeout=90)
        expect(sorted(lines(out)) == ["one", "three", "two"], "mock group: %s" % lines(out))
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": bs, "group.id": "mock-group"})
        try:
            com = c.committed([TopicPartition("mk", 0), TopicPartition("mk", 1)], timeout=20)
        finally:
            c.close()
        expect([tp.offset for tp in com] == [2, 1], "mock group commits %s" % com)
    finally:
        m.close()


def body(b):
    bs = b.bootstrap
    from clients_kafka import create_topic

    create_topic(bs, TOPIC, 3)
    recs = records()
    produce(bs, TOPIC, recs)
    sent = with_offsets(recs)
    check_outputs(bs, TOPIC, sent)
    check_starts(bs, TOPIC)
    check_follow(bs, TOPIC)
    check_errors(bs, TOPIC)
    check_mock()


if __name__ == "__main__":
    from clients_kafka import need_confluent, run

    need_ctl()
    need_confluent()
    run(body, name="spindlectl consume")
