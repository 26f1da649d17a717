#!/usr/bin/env python3
# spindle-test: runner=python variants=once
"""The client core's admin calls (client/admin.c) against a real Spindle and
against librdkafka's mock cluster (tools/kafka-mock), through
tests/client/check_client_admin (one scenario per run):

  - topics: create (again: TOPIC_ALREADY_EXISTS, named by broker and
    topic), validate-only, the broker's defaults, a bad config; describe
    configs (the topic's own value with source 1, defaults), alter then
    describe, delete a config, a broker's configs; create partitions;
    delete topics; list offsets of an empty and of an unknown topic;
  - offsets: after records with known timestamps are produced (by
    confluent-kafka in /usr/bin/python3): earliest, latest, by timestamp,
    and partition sizes > 0;
  - groups: a consumer group made by confluent-kafka (subscribe, consume,
    commit) is listed and described while its member lives (its assignment
    decoded), then, once it left, listed, described, its offsets fetched,
    committed outside a generation, read back, and the group deleted;
  - the mock: list offsets, commit and fetch offsets, groups when it lists
    them, and -ENOTSUP for what it lacks (CreateTopics, DescribeConfigs,
    DescribeLogDirs); with errors injected, the calls retry through
    coordinator and leader errors and report a final error at once;
  - nobody listening: every call fails within its timeout.
Skips (77) when the check program, the mock or confluent-kafka is missing."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
PARTS = 3
N = 10
STEP_MS = 1000
CHECK_TIMEOUT_S = 60

# Runs in /usr/bin/python3 (Debian's confluent-kafka):
#   produce BOOTSTRAP TOPIC PARTITIONS N BASE_TS STEP_MS
#   group BOOTSTRAP GROUP TOPIC TOTAL: consumes TOTAL records, commits,
#       prints "ready", waits for a line on stdin, closes, prints "closed".
HELPER = r'''
import sys, time
from confluent_kafka import Consumer, Producer
mode, bootstrap = sys.argv[1], sys.argv[2]
if mode == "produce":
    topic, parts, n, base, step = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for part in range(parts):
        for i in range(n):
            p.produce(topic, value=b"v%d-%d" % (part, i), partition=part, timestamp=base + i * step)
    left = p.flush(30)
    print("produced" if left == 0 else "unflushed %d" % left, flush=True)
    sys.exit(0 if left == 0 else 1)
group, topic, total = sys.argv[3], sys.argv[4], int(sys.argv[5])
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "client.id": "adm-consumer"})
c.subscribe([topic])
got, deadline = 0, time.time() + 40
while got < total and time.time() < deadline:
    m = c.poll(0.5)
    if m is not None and m.error() is None:
        got += 1
c.commit(asynchronous=False)
print("ready %d" % got, flush=True)
sys.stdin.readline()
c.close()
print("closed", flush=True)
'''


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def run_check(bootstrap, *argv):
    """Runs one scenario of the check program; its verdicts are printed."""
    cmd = [CHECK, bootstrap] + [str(a) for a in argv]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=CHECK_TIMEOUT_S)
        out = (p.stdout + p.stderr).decode(errors="replace")
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        rc = "timeout"
    print(out, end="")
    check(rc == 0, "check_client_admin %s: exit %s" % (" ".join(str(a) for a in argv), rc))


def helper(*argv, **kw):
    return subprocess.Popen([SYSTEM_PYTHON, "-c", HELPER] + [str(a) for a in argv],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **kw)


def produce(bootstrap, topic, base_ts):
    p = helper("produce", bootstrap, topic, PARTS, N, base_ts, STEP_MS)
    out, _ = p.communicate(timeout=60)
    check(p.returncode == 0, "confluent-kafka produced %d records to %s: %s"
          % (PARTS * N, topic, out.strip()))


def spindle(exe, smp):
    with Broker(exe, extra=["--smp", smp]) as b:
        run_check(b.bootstrap, "topics", "adm")
        run_check(b.bootstrap, "create", "adm-data", PARTS)
        base_ts = int(time.time() * 1000) - 3600 * 1000
        produce(b.bootstrap, "adm-data", base_ts)
        run_check(b.bootstrap, "offsets", "adm-data", PARTS, N, base_ts, STEP_MS)

        member = helper("group", b.bootstrap, "adm-group", "adm-data", PARTS * N)
        try:
            line = member.stdout.readline().strip()
            check(line == "ready %d" % (PARTS * N), "the consumer read and committed: %r" % line)
            run_check(b.bootstrap, "group-active", "adm-group", "adm-data", PARTS)
            member.stdin.write("\n")
            member.stdin.flush()
            line = member.stdout.readline().strip()
            check(line == "closed", "the consumer left: %r" % line)
        finally:
            member.kill()
            member.wait()
        run_check(b.bootstrap, "group-empty", "adm-group", "adm-data", PARTS, N)
        if os.environ.get("ADMIN_TEST_LOG"):
            print(b.log_text())


def mock_command(m, cmd):
    m.stdin.write(cmd + "\n")
    m.stdin.flush()
    answer = m.stdout.readline().strip()
    check(answer == "ok", "kafka-mock: %s: %s" % (cmd, answer))


def mock():
    m = subprocess.Popen([MOCK, "--brokers", "3", "--topic", "adm-mock:%d" % PARTS],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = m.stdout.readline().split()
        if len(line) != 2 or line[0] != "bootstrap":
            check(False, "kafka-mock started: %r" % line)
            return
        bootstrap = line[1]
        produce(bootstrap, "adm-mock", int(time.time() * 1000))
        run_check(bootstrap, "mock", "adm-mock", PARTS, N)
        # Retriable errors first (OffsetCommit 8, OffsetFetch 9, ListOffsets 2), then a final one.
        for cmd in ("errors 8 14 15 16", "errors 9 14 16", "errors 2 6 5"):
            mock_command(m, cmd)
        run_check(bootstrap, "mock-retry", "adm-mock", PARTS, N)
        mock_command(m, "errors 8 30")
        run_check(bootstrap, "mock-fatal", "adm-mock")
    finally:
        m.stdin.close()
        try:
            m.wait(timeout=10)
        except subprocess.TimeoutExpired:
            m.kill()
            m.wait()


def unreachable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    run_check("127.0.0.1:%d" % port, "unreachable")


exe, smp = args("3")
root = os.environ.get("SPINDLE_BUILD_ROOT", "")
CHECK = os.path.join(root, "tests/client/check_client_admin")
MOCK = os.path.join(root, "tools/kafka-mock")
if not os.access(CHECK, os.X_OK):
    skip("no check_client_admin under SPINDLE_BUILD_ROOT (%r)" % root)
if subprocess.run([SYSTEM_PYTHON, "-c", "import confluent_kafka"],
                  capture_output=True).returncode != 0:
    skip("confluent-kafka is not installed for " + SYSTEM_PYTHON)

spindle(exe, smp)
if os.access(MOCK, os.X_OK):
    mock()
else:
    print("no kafka-mock: the mock's part is skipped")
unreachable()
finish()
