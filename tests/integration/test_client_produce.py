#!/usr/bin/env python3
# spindle-test: runner=python variants=once
"""The client library's producer (client/producer.c) against a real Spindle
and librdkafka's mock cluster (tools/kafka-mock), through
tests/client/check_client_produce.

Against Spindle: records keyed and unkeyed, with headers, with every codec:
each delivery report is checked by the program (dense offsets, keyed
records on murmur2's partition), and here the partitions are checked
against a murmur2 of our own and the records read back with kcat, each
exactly once with its key, value and headers. An idempotent producer runs
through a proxy that drops the connection right after forwarding each of
the first Produce requests, so the producer sends the same batches again:
every record is in the log once, in order. A full buffer gives -ENOBUFS,
acks=0 works, an unknown topic gives -ENOENT naming it, and the 1 KiB
throughput is printed. Against the mock: Produce answered
NOT_LEADER_OR_FOLLOWER (plain and idempotent) is retried and everything is
delivered once; a partition whose leader is down fails within
delivery_timeout_ms; a bootstrap nobody listens on too."""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, guard, work_dir  # noqa: E402
import kwire  # noqa: E402

BUILD = os.environ.get("SPINDLE_BUILD_ROOT", "")
CHECK = os.path.join(BUILD, "tests/client/check_client_produce")
MOCK = os.path.join(BUILD, "tools/kafka-mock")
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
VALUE_BYTES = 100


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def run_check(bootstrap, scenario, *opts, timeout=120):
    """Runs the check program; prints its output; returns (rc, output)."""
    try:
        p = subprocess.run([CHECK, bootstrap, scenario, *opts], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        print(out)
        return -1, "timed out after %d s" % timeout
    out = p.stdout + p.stderr
    print(out, end="" if out.endswith("\n") or not out else "\n")
    if p.returncode == 77:
        skip("check_client_produce skipped (the client core is not built yet?)")
    return p.returncode, out


# ---- What record i is (as check_produce.c makes it) ----

def murmur2(data):
    """Kafka's murmur2 (its Java client's Utils.murmur2), as unsigned 32 bits."""
    m, length = 0x5bd1e995, len(data)
    h = (0x9747b28c ^ length) & 0xffffffff
    n4 = length // 4
    for i in range(n4):
        k = struct.unpack_from("<I", data, 4 * i)[0]
        k = (k * m) & 0xffffffff
        k ^= k >> 24
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    rest = length & 3
    tail = data[4 * n4:]
    if rest == 3:
        h ^= tail[2] << 16
    if rest >= 2:
        h ^= tail[1] << 8
    if rest >= 1:
        h ^= tail[0]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h


def record(i):
    key = None if i % 3 == 0 else "key-%d" % (i % 97)
    head = "val-%d-" % i
    value = head + "x" * max(0, VALUE_BYTES - len(head))
    headers = ["h1", "x%d" % i, "h2", None] if i % 5 == 0 else []
    return key, value, headers


def read_reports(path):
    out = {}
    with open(path) as f:
        for line in f:
            i, part, off = line.split()
            out[int(i)] = (int(part), int(off))
    return out


def kcat_read(bootstrap, topic, timeout=60):
    """Every record of topic: {(partition, offset): (key, value, headers)}."""
    p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                        "-J", "-q"], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("kcat: %s" % p.stderr)
    got = {}
    dups = 0
    for line in p.stdout.splitlines():
        if not line.strip():
            continue
        m = json.loads(line)
        k = (m["partition"], m["offset"])
        dups += k in got
        got[k] = (m.get("key"), m.get("payload"), m.get("headers") or [])
        if m.get("tstype") == "create":
            CREATE_TIMES.append(m["ts"])
    return got, dups


# CreateTimes kcat saw: the producer stamps records with the wall clock.
CREATE_TIMES = []


def verify(bootstrap, topic, partitions, n, reports, label, order=False):
    """The reports against murmur2 and against what kcat reads back."""
    bad_part = [i for i in range(n) if i % 3 and reports[i][0] !=
                (murmur2(("key-%d" % (i % 97)).encode()) & 0x7fffffff) % partitions]
    check(not bad_part, "%s: keyed records on murmur2's partition (bad: %s)" % (label, bad_part[:5]))
    del CREATE_TIMES[:]
    got, dups = kcat_read(bootstrap, topic)
    now_ms = time.time() * 1000
    stale = [t for t in CREATE_TIMES if not now_ms - 600000 < t <= now_ms + 1000]
    check(len(CREATE_TIMES) == n and not stale,
          "%s: %d CreateTimes, all wall-clock times of the last minutes (off: %s)"
          % (label, len(CREATE_TIMES), stale[:3]))
    check(len(got) == n and dups == 0,
          "%s: kcat reads %d records back (%d expected, %d duplicates)" % (label, len(got), n, dups))
    wrong = []
    seen_values = set()
    for i in range(n):
        want = record(i)
        have = got.get(reports[i])
        if have is None or have[0] != want[0] or have[1] != want[1] or list(have[2]) != want[2]:
            wrong.append((i, reports[i], have))
        if have is not None:
            seen_values.add(have[1])
    check(not wrong, "%s: every record read back with its key, value and headers (wrong: %s)"
          % (label, wrong[:3]))
    if order:
        # Per partition, records produced later sit at later offsets.
        last = {}
        out_of_order = 0
        for i in range(n):
            part, off = reports[i]
            if part in last and off <= last[part]:
                out_of_order += 1
            last[part] = off
        check(out_of_order == 0, "%s: each partition in the order produced" % label)


def create_topic(b, name, partitions):
    with kwire.Conn(b) as c:
        err, _ = c.create_topic(name, partitions)
    check(err == 0, "create topic %s (%d partitions): error %d" % (name, partitions, err))


# ---- A proxy that loses Produce answers ----

class DropProxy:
    """Forwards Kafka connections to target, but after forwarding each of the
    first `drops` Produce requests it waits for the broker to take it, drops
    the answers and closes the connection: the client must send again."""

    def __init__(self, drops):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(32)
        self.port = self.ls.getsockname()[1]
        self.target = None
        self.drops_left = drops
        self.dropped = 0
        self.produces = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            b = socket.create_connection(self.target, timeout=30)
        except OSError:
            c.close()
            return
        state = {"kill": False}

        def back():
            try:
                while True:
                    data = b.recv(1 << 16)
                    if not data:
                        break
                    if not state["kill"]:
                        c.sendall(data)
            except OSError:
                pass
            finally:
                for s in (c, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=back, daemon=True).start()
        try:
            while True:
                head = kwire.read_exact(c, 4)
                body = kwire.read_exact(c, struct.unpack(">i", head)[0])
                kill = False
                if struct.unpack(">h", body[:2])[0] == 0:
                    with self.lock:
                        self.produces += 1
                        if self.drops_left > 0:
                            self.drops_left -= 1
                            self.dropped += 1
                            kill = True
                if kill:
                    state["kill"] = True
                b.sendall(head + body)
                if kill:
                    time.sleep(0.3)  # the broker appends it; its answer goes nowhere
                    break
        except (OSError, ValueError, struct.error, EOFError):
            pass
        finally:
            for s in (c, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.ls.close()


# ---- The mock ----

class Mock:
    def __init__(self, *argv):
        self.p = subprocess.Popen([MOCK, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        line = self.p.stdout.readline().split()
        if len(line) != 2 or line[0] != "bootstrap":
            raise RuntimeError("kafka-mock said %r" % line)
        self.bootstrap = line[1]

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        ans = self.p.stdout.readline().strip()
        check(ans == "ok", "kafka-mock: %s: %s" % (line, ans))

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


# ---- The scenarios ----

def produce_and_verify(bootstrap, topic, partitions, n, label, *opts, order=False):
    with tempfile.NamedTemporaryFile(prefix="produce-", dir=work_dir(), delete=False) as f:
        path = f.name
    try:
        rc, out = run_check(bootstrap, "produce", "topic=" + topic, "partitions=%d" % partitions,
                            "n=%d" % n, "value=%d" % VALUE_BYTES, "out=" + path, *opts)
        check(rc == 0, "%s: every delivery report right (rc %d)" % (label, rc))
        if rc == 0:
            verify(bootstrap, topic, partitions, n, read_reports(path), label, order=order)
    finally:
        os.unlink(path)


def against_spindle(exe, smp):
    b = Broker(exe, extra=["--smp", smp, "--set", "auto.create.topics.enable=false"])
    b.start()
    bs = b.bootstrap
    try:
        create_topic(b, "prod-none", 4)
        produce_and_verify(bs, "prod-none", 4, 100_000, "spindle codec none")
        for codec in CODECS[1:]:
            topic = "prod-" + codec
            create_topic(b, topic, 3)
            produce_and_verify(bs, topic, 3, 10_000, "spindle codec " + codec, "codec=" + codec)
        create_topic(b, "prod-acks0", 2)
        rc, _ = run_check(bs, "produce", "topic=prod-acks0", "partitions=2", "n=5000", "acks=0")
        check(rc == 0, "spindle acks=0: every report, offsets -1")
        # Nothing waits for the broker with acks=0: it may still be appending.
        deadline = time.time() + 15
        got, dups = kcat_read(bs, "prod-acks0")
        while len(got) < 5000 and time.time() < deadline:
            time.sleep(0.3)
            got, dups = kcat_read(bs, "prod-acks0")
        check(len(got) == 5000 and dups == 0, "spindle acks=0: %d records read back" % len(got))
        create_topic(b, "prod-enobufs", 2)
        rc, _ = run_check(bs, "enobufs", "topic=prod-enobufs", "partitions=2", "value=1000")
        check(rc == 0, "spindle: -ENOBUFS when the buffer is full, then it drains")
        rc, out = run_check(bs, "unknown", "topic=no-such-topic")
        check(rc == 0 and "no-such-topic" in out, "spindle: unknown topic gives -ENOENT naming it")
        create_topic(b, "prod-bench", 4)
        rc, out = run_check(bs, "bench", "topic=prod-bench", "partitions=4", "secs=4")
        check(rc == 0 and "throughput:" in out, "spindle: 1 KiB throughput measured")
    finally:
        b.close()


def through_dropping_proxy(exe, smp):
    """Spindle advertises the proxy, so every connection goes through it."""
    proxy = DropProxy(drops=3)
    b = Broker(exe, extra=["--smp", smp, "--set",
                           "advertised.listeners=PLAINTEXT://127.0.0.1:%d" % proxy.port])
    b.start()
    proxy.target = (b.host, b.port)
    try:
        create_topic(b, "prod-idem", 3)
        produce_and_verify("127.0.0.1:%d" % proxy.port, "prod-idem", 3, 20_000,
                           "spindle idempotent through dropped answers", "idempotent=1",
                           "codec=lz4", "batch=16384", order=True)
        check(proxy.dropped == 3, "the proxy dropped the answers of 3 Produce requests "
              "(%d of %d requests)" % (proxy.dropped, proxy.produces))
    finally:
        b.close()
        proxy.close()


def against_mock():
    if not os.path.exists(MOCK):
        print("kafka-mock not built: mock scenarios skipped")
        return
    m = Mock("--brokers", "3", "--topic", "m-retry:4", "--topic", "m-idem:3")
    try:
        m.cmd("errors 0 6 6")
        produce_and_verify(m.bootstrap, "m-retry", 4, 20_000,
                           "mock NOT_LEADER_OR_FOLLOWER twice, retried")
        # The mock (librdkafka 2.0.2) checks no sequence numbers, so only one
        # batch in flight per partition keeps the order across retries there.
        m.cmd("errors 0 6 6 6")
        produce_and_verify(m.bootstrap, "m-idem", 3, 20_000,
                           "mock idempotent NOT_LEADER_OR_FOLLOWER, retried", "idempotent=1",
                           "codec=zstd", "inflight=1", order=True)
    finally:
        m.close()
    m = Mock("--brokers", "2", "--topic", "m-down:1")
    try:
        m.cmd("leader m-down 0 2")
        m.cmd("down 2")
        rc, out = run_check(m.bootstrap, "down", "topic=m-down", "timeout=3000", timeout=60)
        check(rc == 0, "mock: a partition whose leader is down fails within delivery_timeout_ms")
    finally:
        m.close()


def against_nobody():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, out = run_check("127.0.0.1:%d" % port, "down", "topic=t", "timeout=2000", timeout=60)
    check(rc == 0, "nobody listening: every record fails within delivery_timeout_ms")


def main():
    if not os.path.exists(CHECK):
        skip("check_client_produce is not built (SPINDLE_BUILD_ROOT=%r)" % BUILD)
    import shutil
    if shutil.which("kcat") is None:
        skip("kcat is not installed")
    exe, smp = args()
    rc, _ = run_check("-", "murmur")
    check(rc == 0, "murmur2 test vectors")
    guard("against spindle", against_spindle, exe, smp)
    guard("through a proxy that drops answers", through_dropping_proxy, exe, smp)
    guard("against the mock", against_mock)
    guard("against nobody", against_nobody)
    finish()


if __name__ == "__main__":
    main()
