#!/usr/bin/env python3
# spindle-test: runner=python variants=once
"""The client core's producer and fetcher against a real Spindle and
against librdkafka's mock cluster (tools/kafka-mock, 3 brokers), through
tests/client/check_roundtrip.c:
- 100,000 keyed records with headers, of varying sizes, produced with every
  codec at once (one producer per codec), come back through the fetcher
  exactly once per partition, in offset order, byte for byte;
- BEGINNING, END, an explicit offset, a seek; OFFSET_OUT_OF_RANGE past the
  end, reported for its partition;
- fetching from END follows the high watermark while records arrive;
- on the mock, partition leaders move while the fetcher consumes: it
  follows them and loses nothing; Spindle restarts on its port while the
  fetcher consumes: it retries and goes on;
- the producer's and the fetcher's throughput with 1 KiB records (Spindle),
  printed for the record."""
import os
import queue
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, restart_same_port  # noqa: E402

BUILD = os.environ.get("SPINDLE_BUILD_ROOT", "")
CHECK = os.path.join(BUILD, "tests/client/check_client_roundtrip")
MOCK = os.path.join(BUILD, "tools/kafka-mock")
RECORDS = int(os.environ.get("ROUNDTRIP_RECORDS", "100000"))
BENCH_RECORDS = int(os.environ.get("ROUNDTRIP_BENCH_RECORDS", "50000"))
TIMEOUT = 120


def lines_of(stream, q):
    for line in stream:
        q.put(line)
    q.put(None)


def run_check(name, bootstrap, scenario, topic, extra=(), mock=None, broker=None):
    """Runs one scenario; answers its "move" lines by moving the leader on
    the mock, its "restart" lines by restarting the broker on its port.
    Returns (exit status, output)."""
    cmd = [CHECK, bootstrap, scenario, topic] + list(extra)
    t0 = time.time()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1)
    q = queue.Queue()
    threading.Thread(target=lines_of, args=(p.stdout, q), daemon=True).start()
    out = []
    deadline = t0 + TIMEOUT
    while True:
        try:
            line = q.get(timeout=max(0.1, deadline - time.time()))
        except queue.Empty:
            p.kill()
            out.append("(killed after %d s)\n" % TIMEOUT)
            break
        if line is None:
            break
        out.append(line)
        if line.startswith("move ") and mock is not None:
            _, t, part, broker = line.split()
            answer = mock.command("leader %s %s %s" % (t, part, broker))
            p.stdin.write(answer + "\n")
            p.stdin.flush()
        elif line.strip() == "restart" and broker is not None:
            restart_same_port(broker)
            p.stdin.write("ok\n")
            p.stdin.flush()
    rc = p.wait()
    text = "".join(out)
    print("---- %s: %s (%.1f s, exit %d)" % (name, " ".join(cmd[1:]), time.time() - t0, rc))
    print(text, end="")
    return rc, text


class Mock:
    def __init__(self, topics):
        cmd = [MOCK, "--brokers", "3"]
        for t in topics:
            cmd += ["--topic", t]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("bootstrap "):
            raise RuntimeError("kafka-mock did not start: %r %s" % (line, self.proc.stderr.read()))
        self.bootstrap = line.split()[1]

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()
            self.proc.wait()


def scenarios(where, bootstrap, mock=None, broker=None):
    """Runs the scenarios against one broker; False when the check program
    says the client core is not there (77)."""
    # 8 partitions: the mock keeps about 5 MB per partition before it moves
    # the log start.
    rc, _ = run_check(where, bootstrap, "roundtrip", "rt-main",
                      ["--partitions", "8", "--records", str(RECORDS), "--codec", "mixed"])
    if rc == 77:
        return False
    check(rc == 0, "%s: 100,000 records round-trip exactly (every codec)" % where)
    rc, _ = run_check(where, bootstrap, "offsets", "rt-offsets", ["--partitions", "1"])
    check(rc == 0, "%s: BEGINNING, END, explicit offsets, OFFSET_OUT_OF_RANGE" % where)
    rc, _ = run_check(where, bootstrap, "follow", "rt-follow",
                      ["--partitions", "3", "--codec", "lz4"])
    check(rc == 0, "%s: fetching from END follows the high watermark" % where)
    if mock is not None:
        rc, _ = run_check(where, bootstrap, "move", "rt-move",
                          ["--partitions", "2", "--records", "20000", "--codec", "zstd"], mock)
        check(rc == 0, "%s: the fetcher follows moving leaders" % where)
    else:
        rc, _ = run_check(where, bootstrap, "restart", "rt-restart", ["--partitions", "2"],
                          broker=broker)
        check(rc == 0, "%s: the fetcher goes on across a broker restart" % where)
        rc, out = run_check(where, bootstrap, "bench", "rt-bench",
                            ["--partitions", "4", "--records", str(BENCH_RECORDS),
                             "--value-bytes", "1024"])
        check(rc == 0, "%s: 1 KiB records, producer and fetcher throughput" % where)
    return True


def main():
    exe, smp = args("3")
    if not os.path.exists(CHECK):
        print("skip: %s is not built" % CHECK)
        sys.exit(77)
    broker = Broker(exe, extra=["--smp", smp])
    broker.start()
    try:
        present = scenarios("spindle", broker.bootstrap, broker=broker)
    finally:
        broker.close()
    if not present:
        print("skip: the client core is not built yet (check_client_roundtrip exits 77)")
        sys.exit(77)
    if not os.path.exists(MOCK):
        print("kafka-mock is not built: the mock's half is skipped")
    else:
        mock = Mock(["rt-main:8:3", "rt-offsets:1:3", "rt-follow:3:3", "rt-move:2:3"])
        try:
            scenarios("kafka-mock", mock.bootstrap, mock)
        finally:
            mock.close()
    finish(broker.log_text())


if __name__ == "__main__":
    main()
