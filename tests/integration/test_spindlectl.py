#!/usr/bin/env python3
# spindle-test: runner=system-python variants=once
"""spindlectl (issue 12) against a real Spindle: cluster info, topic
create/list/describe/delete/add-partitions/alter-config, produce and configs
describe/set/delete, each with its table and its JSON checked, the error
cases with their exit codes (exists already, unknown topic, bad config,
usage errors, a broker that is down or never answers, within --timeout),
and what produce wrote read back with confluent-kafka. Then cluster info,
topic list/describe and produce against librdkafka's mock cluster
(tools/kafka-mock; that part is skipped when it is not built)."""
import json
import os
import select
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import need_confluent, read_partitions  # noqa: E402
from harness import Broker, args, check, finish, guard  # noqa: E402

BUILD = os.environ.get("SPINDLE_BUILD_ROOT", "")
CTL = os.path.join(BUILD, "tools/spindlectl")
MOCK = os.path.join(BUILD, "tools/kafka-mock")

exe, smp = args()
need_confluent()
if not os.path.exists(CTL):
    print("FAIL: %s is not built" % CTL)
    sys.exit(1)


class Ctl:
    """Runs spindlectl against one bootstrap list."""

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap

    def __call__(self, *argv, stdin=None, env=None, timeout=60, brokers=True):
        cmd = [CTL] + (["--brokers", self.bootstrap] if brokers else []) + list(argv)
        t0 = time.monotonic()
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout,
                           env=env)
        p.seconds = time.monotonic() - t0
        p.cmd = " ".join(cmd[1:])
        return p

    def json(self, *argv, **kw):
        p = self(*argv, "--json", **kw)
        if p.returncode != 0:
            raise AssertionError("%s: exit %d\n%s%s" % (p.cmd, p.returncode, p.stdout, p.stderr))
        return json.loads(p.stdout)


def expect_rc(p, rc, what, stderr_has=()):
    ok = p.returncode == rc and all(s in p.stderr for s in stderr_has)
    check(ok, "%s: exit %d%s (got %d: %s%s)" % (what, rc, "".join(
        ", stderr has %r" % s for s in stderr_has), p.returncode, p.stdout[-600:], p.stderr[-600:]))


def table(text, header):
    """The rows (lists of cells) of the table whose header row starts with header."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:1] == [header]:
            rows = []
            for row in lines[i + 1:]:
                if not row.strip():
                    break
                rows.append(row.split())
            return lines[i].split(), rows
    return None, []


# ---- Usage, help, and brokers that are not there ----------------------------------------------

def usage_and_help():
    ctl = Ctl("127.0.0.1:1")
    for sub in (["cluster", "info"], ["topic", "create"], ["topic", "list"], ["topic", "describe"],
                ["topic", "delete"], ["topic", "add-partitions"], ["topic", "alter-config"],
                ["produce"], ["configs", "describe"], ["configs", "set"], ["configs", "delete"],
                ["consume"], ["group"], ["topic"], ["configs"], ["cluster"]):
        p = ctl(*sub, "--help", brokers=False)
        check(p.returncode == 0 and "Usage: spindlectl" in p.stdout and "Example" in p.stdout,
              "%s --help: exit 0 with a usage and an example (got %d)" % (" ".join(sub),
                                                                          p.returncode))
    p = ctl("--help", brokers=False)
    check(p.returncode == 0 and "Exit codes" in p.stdout and "SPINDLE_BROKERS" in p.stdout,
          "spindlectl --help documents the exit codes and SPINDLE_BROKERS")
    expect_rc(ctl(brokers=False), 2, "no command")
    expect_rc(ctl("frobnicate"), 2, "unknown command", ["unknown command 'frobnicate'"])
    expect_rc(ctl("topic", "frob"), 2, "unknown subcommand", ["unknown subcommand 'frob'"])
    expect_rc(ctl("topic", "create"), 2, "topic create without a name", ["missing operand"])
    expect_rc(ctl("topic", "create", "x", "--partitions", "zero"), 2, "a bad --partitions",
              ["--partitions"])
    expect_rc(ctl("topic", "create", "x", "--frob"), 2, "an unknown option", ["--frob"])
    expect_rc(ctl("topic", "create", "x", "-c", "novalue"), 2, "a --config without '='",
              ["NAME=VALUE"])
    expect_rc(ctl("topic", "list", "--timeout", "soon"), 2, "a bad --timeout", ["--timeout"])
    expect_rc(ctl("produce", "t", "--acks", "2"), 2, "a bad --acks", ["--acks"])
    expect_rc(ctl("produce", "t", "-z", "brotli"), 2, "a bad --compression", ["--compression"])
    expect_rc(ctl("produce", "t", "--idempotent", "--acks", "1"), 2,
              "--idempotent with --acks 1", ["--idempotent"])
    expect_rc(ctl("configs", "describe", "cluster", "x"), 2, "an unknown resource type")
    expect_rc(ctl("topic", "add-partitions", "x"), 2, "add-partitions without a count")


def refused():
    """Nothing listens on the port: exit 3 quickly, naming the address."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ctl = Ctl("127.0.0.1:%d" % port)
    for argv in (["topic", "list"], ["cluster", "info"], ["topic", "describe", "t"],
                 ["topic", "create", "t"]):
        p = ctl(*argv, "--timeout", "3s", timeout=30)
        expect_rc(p, 3, "%s with the broker down" % " ".join(argv))
        check(p.seconds < 10, "%s with the broker down returns within the timeout (%.1f s)"
              % (" ".join(argv), p.seconds))
        check(str(port) in p.stderr, "the error names the broker: %r" % p.stderr.strip())
    p = ctl("produce", "t", "--timeout", "3s", stdin="a\n", timeout=30)
    expect_rc(p, 3, "produce with the broker down")
    check(p.seconds < 10, "produce with the broker down returns within the timeout (%.1f s)"
          % p.seconds)


def silent():
    """A listener that accepts connections and never answers: exit 3 within --timeout."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        ctl = Ctl("127.0.0.1:%d" % s.getsockname()[1])
        p = ctl("topic", "list", "--timeout", "2s", timeout=30)
        expect_rc(p, 3, "topic list against a broker that never answers")
        check(p.seconds < 8, "a broker that never answers fails the command within the "
              "timeout (%.1f s)" % p.seconds)
    finally:
        s.close()


# ---- Against Spindle --------------------------------------------------------------------------

def cluster_info(ctl, b):
    p = ctl("cluster", "info")
    check(p.returncode == 0 and "Cluster id:" in p.stdout and "Controller:" in p.stdout,
          "cluster info: cluster id and controller (%s)" % p.stderr.strip())
    hdr, rows = table(p.stdout, "NODE")
    check(hdr == ["NODE", "HOST", "PORT", "RACK", "STATUS"] and len(rows) == 1
          and rows[0][2] == str(b.port) and rows[0][4] == "ok",
          "cluster info: the broker table %s %s" % (hdr, rows))
    hdr, rows = table(p.stdout, "KEY")
    names = {r[1] for r in rows}
    check({"Produce", "Fetch", "Metadata", "ApiVersions", "CreateTopics"} <= names,
          "cluster info: API versions table names the APIs (%d rows)" % len(rows))
    j = ctl.json("cluster", "info")
    br = j["brokers"]
    check(len(br) == 1 and br[0]["port"] == b.port and br[0]["controller"] is True
          and j["controller"] == br[0]["node"] and j["cluster_id"],
          "cluster info --json: one broker, the controller, a cluster id")
    apis = {a["name"]: a for a in br[0]["api_versions"]}
    check("Produce" in apis and apis["Produce"]["max"] >= 3 and apis["Produce"]["min"] >= 0
          and apis["Metadata"]["used"] >= 1,
          "cluster info --json: Produce and Metadata versions (%s)" % apis.get("Produce"))
    env = dict(os.environ, SPINDLE_BROKERS=b.bootstrap)
    p = ctl("cluster", "info", "--json", env=env, brokers=False)
    check(p.returncode == 0 and json.loads(p.stdout)["brokers"][0]["port"] == b.port,
          "SPINDLE_BROKERS is the default for --brokers")


def topics(ctl):
    p = ctl("topic", "create", "orders", "-p", "3", "-c", "retention.ms=123456")
    check(p.returncode == 0 and p.stdout == 'created topic "orders"\n',
          "topic create: %r %r" % (p.stdout, p.stderr))
    j = ctl.json("topic", "create", "a.b", "c_d", "--partitions", "2")
    check(j == [{"topic": "a.b", "error": None}, {"topic": "c_d", "error": None}],
          "topic create --json of two topics: %s" % j)
    p = ctl("topic", "create", "orders")
    expect_rc(p, 1, "creating a topic again", ['topic "orders": TOPIC_ALREADY_EXISTS',
                                               ctl.bootstrap])
    p = ctl("topic", "create", "orders", "--json")
    j = json.loads(p.stdout or "null")
    check(p.returncode == 1 and j[0]["error"]["name"] == "TOPIC_ALREADY_EXISTS"
          and j[0]["error"]["code"] == 36,
          "creating a topic again, --json: the error in the output (%s)" % j)
    p = ctl("topic", "create", "orders", "--if-not-exists")
    check(p.returncode == 0 and "exists already" in p.stdout,
          "--if-not-exists: an existing topic is fine (%r)" % p.stdout)
    p = ctl("topic", "create", "badcfg", "-c", "retention.ms=soon")
    expect_rc(p, 1, "a topic with a bad config value", ['topic "badcfg"'])
    p = ctl("topic", "create", "badcfg", "-c", "no.such.config=1")
    expect_rc(p, 1, "a topic with an unknown config", ['topic "badcfg"'])
    p = ctl("topic", "create", "dry", "--dry-run")
    check(p.returncode == 0 and "would create" in p.stdout, "topic create --dry-run")
    p = ctl("topic", "list")
    hdr, rows = table(p.stdout, "NAME")
    got = {r[0]: r[1:] for r in rows}
    check(p.returncode == 0 and hdr == ["NAME", "PARTITIONS", "REPLICAS"]
          and got.get("orders") == ["3", "1"] and got.get("a.b") == ["2", "1"]
          and "dry" not in got and "badcfg" not in got,
          "topic list: table %s" % rows)
    check([r[0] for r in rows] == sorted(r[0] for r in rows), "topic list: sorted by name")
    j = ctl.json("topic", "list")
    names = [t["topic"] for t in j]
    check("orders" in names and not any(t["internal"] for t in j)
          and all(len(t["id"]) == 22 for t in j),
          "topic list --json: %s" % names)
    j = ctl.json("topic", "list", "a.*")
    check([t["topic"] for t in j] == ["a.b"], "topic list PATTERN: %s" % j)
    p = ctl("topic", "describe", "nosuch")
    expect_rc(p, 1, "describing an unknown topic",
              ['topic "nosuch": UNKNOWN_TOPIC_OR_PARTITION'])


def produce(ctl, b):
    lines = []
    for i in range(300):
        hdr = "src:test,n:%d" % i
        lines.append("%s|user%d=>value %d with spaces, commas: and \"quotes\"" % (hdr, i % 7, i))
    lines.append("|=>")  # no headers, an empty key, an empty value
    lines.append("no separators at all")
    data = "\n".join(lines) + "\n"
    p = ctl("produce", "orders", "-H", "|", "-k", "=>", "--json", stdin=data)
    j = json.loads(p.stdout) if p.stdout else {}
    check(p.returncode == 0 and j.get("records") == 302 and j.get("errors") == 0
          and sum(x["records"] for x in j["partitions"]) == 302,
          "produce --json: 302 records, 0 errors (%s %s)" % (j, p.stderr))
    got = read_partitions(b.bootstrap, "orders",
                          {x["partition"]: x["last_offset"] + 1 for x in j["partitions"]})
    msgs = [m for part in got.values() for m in part]
    by_value = {m.value(): m for m in msgs}
    check(len(msgs) == 302, "read back 302 records (%d)" % len(msgs))
    ok = True
    for i in range(300):
        m = by_value.get(("value %d with spaces, commas: and \"quotes\"" % i).encode())
        if (m is None or m.key() != ("user%d" % (i % 7)).encode()
                or m.headers() != [("src", b"test"), ("n", str(i).encode())]):
            ok = False
            print("record %d read back as %s" % (i, m and (m.key(), m.value(), m.headers())))
            break
    check(ok, "keys, values and headers read back as produced")
    parts = {}
    for m in msgs:
        if m.key() is not None:
            parts.setdefault(m.key(), set()).add(m.partition())
    check(all(len(s) == 1 for s in parts.values()) and len({min(s) for s in parts.values()}) > 1,
          "a key always goes to one partition, keys to several")
    m = by_value.get(b"")
    check(m is not None and m.key() == b"" and not m.headers(),
          "an empty key and value: %s" % (m and (m.key(), m.value(), m.headers())))
    m = by_value.get(b"no separators at all")
    check(m is not None and m.key() is None, "a line without a key separator: null key")

    p = ctl("produce", "orders", "--partition", "2", "--header", "fixed=1", "-z", "zstd",
            "--idempotent", stdin="".join("p2-%d\n" % i for i in range(50)))
    check(p.returncode == 0 and "produced 50 records" in p.stdout and "0 errors" in p.stdout,
          "produce --partition 2 -z zstd --idempotent: summary %r %r" % (p.stdout, p.stderr))
    p = ctl("produce", "orders", "-p", "9", stdin="x\n")
    expect_rc(p, 1, "produce to a partition that does not exist", ["no partition 9"])
    p = ctl("produce", "nosuch", stdin="x\n")
    expect_rc(p, 1, "produce to an unknown topic", ['topic "nosuch"',
                                                     "UNKNOWN_TOPIC_OR_PARTITION"])
    src = os.path.join(b.data_dir, "..", "spindlectl-input-%d.txt" % os.getpid())
    with open(src, "w") as fh:
        fh.write("".join("f%d\n" % i for i in range(40)))
    try:
        t0 = time.monotonic()
        j = ctl.json("produce", "orders", "--file", src, "--rate", "100", "--acks", "1")
        took = time.monotonic() - t0
    finally:
        os.unlink(src)
    check(j["records"] == 40 and took >= 0.3 and j["records_per_second"] <= 160,
          "produce --file --rate 100: 40 records in %.2f s (%.0f/s)"
          % (took, j["records_per_second"]))
    # A line is sent as it comes, not when the next one does.
    proc = subprocess.Popen([CTL, "--brokers", b.bootstrap, "produce", "orders", "-p", "0", "-v"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        proc.stdin.write("typed\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        first = proc.stdout.readline() if ready else ""
        proc.stdin.write("typed again\n")
        proc.stdin.close()
        rest = proc.stdout.read()
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(first.startswith("partition 0 offset ") and rc == 0 and "produced 2 records" in rest,
          "produce -v: a typed line is delivered before the next one comes (%r %r)"
          % (first, rest))
    return 302 + 50 + 40 + 2


def describe(ctl, produced):
    p = ctl("topic", "describe", "orders")
    hdr, rows = table(p.stdout, "PARTITION")
    check(p.returncode == 0 and hdr == ["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR",
                                        "EARLIEST", "LATEST", "SIZE"]
          and [r[0] for r in rows] == ["0", "1", "2"],
          "topic describe: partition table %s (%s)" % (rows, p.stderr))
    latest = sum(int(r[6]) for r in rows) if rows else -1
    check(latest == produced, "topic describe: latest offsets add up to %d (%d)"
          % (produced, latest))
    check("Topic:" in p.stdout and "retention.ms" in p.stdout and "123456" in p.stdout,
          "topic describe: id and the topic's own config\n" + p.stdout)
    j = ctl.json("topic", "describe", "orders")
    parts = j["partitions"]
    check(j["topic"] == "orders" and len(j["id"]) == 22 and len(parts) == 3
          and all(x["earliest"] == 0 and x["leader"] >= 0 and x["replicas"] == [x["leader"]]
                  and x["isr"] == [x["leader"]] and x["error"] is None for x in parts)
          and sum(x["latest"] for x in parts) == produced,
          "topic describe --json: partitions %s" % parts)
    check(any(x["size"] and x["size"] > 0 for x in parts),
          "topic describe --json: sizes %s" % [x["size"] for x in parts])
    check(j["configs"] == {"retention.ms": "123456"}, "describe --json configs: %s" % j["configs"])
    j = ctl.json("topic", "describe", "orders", "a.b")
    check(isinstance(j, list) and [t["topic"] for t in j] == ["orders", "a.b"],
          "topic describe of two topics: an array")


def alter(ctl):
    p = ctl("topic", "add-partitions", "a.b", "-n", "2")
    check(p.returncode == 0 and '2 -> 4 partitions' in p.stdout,
          "topic add-partitions -n 2: %r %r" % (p.stdout, p.stderr))
    j = ctl.json("topic", "add-partitions", "a.b", "--total", "5")
    check(j["before"] == 4 and j["after"] == 5 and j["error"] is None,
          "topic add-partitions --total --json: %s" % j)
    p = ctl("topic", "add-partitions", "a.b", "--total", "3")
    expect_rc(p, 1, "shrinking a topic", ['topic "a.b"'])
    p = ctl("topic", "add-partitions", "nosuch", "-n", "1")
    expect_rc(p, 1, "growing an unknown topic", ["UNKNOWN_TOPIC_OR_PARTITION"])
    check(len(ctl.json("topic", "describe", "a.b")["partitions"]) == 5,
          "describe sees 5 partitions")

    p = ctl("topic", "alter-config", "orders", "--set", "retention.ms=999", "--set",
            "segment.ms=3600000")
    check(p.returncode == 0 and 'altered configs of topic "orders"' in p.stdout,
          "topic alter-config --set: %r %r" % (p.stdout, p.stderr))
    j = ctl.json("configs", "describe", "topic", "orders", "--changed")
    got = {c["name"]: (c["value"], c["source"]) for c in j["configs"]}
    check(got == {"retention.ms": ("999", "TOPIC"), "segment.ms": ("3600000", "TOPIC")},
          "configs describe --changed --json: %s" % got)
    p = ctl("topic", "alter-config", "orders", "--delete", "segment.ms")
    check(p.returncode == 0, "topic alter-config --delete")
    p = ctl("topic", "alter-config", "orders", "--set", "retention.ms=later")
    expect_rc(p, 1, "alter-config with a bad value", ['"orders"'])
    p = ctl("topic", "alter-config", "nosuch", "--set", "retention.ms=1")
    expect_rc(p, 1, "alter-config of an unknown topic")

    p = ctl("configs", "set", "topic", "orders", "cleanup.policy=compact", "max.message.bytes=2048")
    check(p.returncode == 0 and 'set 2 configs of topic "orders"' in p.stdout,
          "configs set: %r %r" % (p.stdout, p.stderr))
    p = ctl("configs", "describe", "topic", "orders")
    hdr, rows = table(p.stdout, "NAME")
    got = {r[0]: r[1:] for r in rows}
    check(hdr == ["NAME", "VALUE", "SOURCE"] and got.get("cleanup.policy") == ["compact", "TOPIC"]
          and got.get("retention.ms") == ["999", "TOPIC"] and len(rows) > 10,
          "configs describe: every config with its source (%d rows)" % len(rows))
    p = ctl("configs", "delete", "topic", "orders", "cleanup.policy", "retention.ms")
    check(p.returncode == 0 and 'deleted 2 configs of topic "orders"' in p.stdout,
          "configs delete: %r %r" % (p.stdout, p.stderr))
    j = ctl.json("configs", "describe", "topic", "orders", "--changed")
    check([c["name"] for c in j["configs"]] == ["max.message.bytes"],
          "after configs delete only max.message.bytes is set: %s" % j["configs"])
    p = ctl("configs", "set", "topic", "orders", "max.message.bytes=lots")
    expect_rc(p, 1, "configs set with a bad value", ['"orders"'])
    p = ctl("configs", "set", "topic", "orders", "--dry-run", "max.message.bytes=4096")
    check(p.returncode == 0 and "(dry run)" in p.stdout, "configs set --dry-run")
    j = ctl.json("configs", "describe", "topic", "orders", "max.message.bytes")
    check([(c["name"], c["value"]) for c in j["configs"]] == [("max.message.bytes", "2048")],
          "configs describe NAME: the dry run changed nothing (%s)" % j["configs"])

    node = str(ctl.json("cluster", "info")["controller"])
    j = ctl.json("configs", "describe", "broker", node)
    names = {c["name"] for c in j["configs"]}
    check(j["resource"] == "broker" and "num.partitions" in names and len(names) > 20,
          "configs describe broker: %d configs" % len(names))
    p = ctl("configs", "describe", "broker", node, "--changed")
    check(p.returncode == 0, "configs describe broker --changed")


def delete(ctl):
    p = ctl("topic", "delete", "c_d")
    check(p.returncode == 0 and p.stdout == 'deleted topic "c_d"\n',
          "topic delete: %r %r" % (p.stdout, p.stderr))
    p = ctl("topic", "delete", "c_d")
    expect_rc(p, 1, "deleting it again", ['topic "c_d": UNKNOWN_TOPIC_OR_PARTITION'])
    p = ctl("topic", "delete", "c_d", "--if-exists")
    check(p.returncode == 0 and "does not exist" in p.stdout, "topic delete --if-exists")
    names = [t["topic"] for t in ctl.json("topic", "list")]
    check("c_d" not in names and "orders" in names, "topic list after delete: %s" % names)


def spindle():
    with Broker(exe, extra=["--smp", smp]) as b:
        ctl = Ctl(b.bootstrap)
        ok = guard("cluster info", cluster_info, ctl, b)
        ok = ok and guard("topics", topics, ctl)
        produced = [0]
        ok = ok and guard("produce", lambda: produced.__setitem__(0, produce(ctl, b)))
        ok = ok and guard("describe", describe, ctl, produced[0])
        ok = ok and guard("alter", alter, ctl)
        ok = ok and guard("delete", delete, ctl)
        rc = b.stop()
        check(rc == 0, "broker exited cleanly (%s)" % rc)
        return b.log_text()


# ---- Against librdkafka's mock cluster ----------------------------------------------------------

def mock():
    if not os.path.exists(MOCK):
        print("kafka-mock is not built: the mock's half is skipped")
        return
    proc = subprocess.Popen([MOCK, "--brokers", "2", "--topic", "mt:3"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
        line = proc.stdout.readline()
        check(line.startswith("bootstrap "), "kafka-mock started: %r" % line)
        ctl = Ctl(line.split()[1])
        j = ctl.json("cluster", "info")
        check(len(j["brokers"]) == 2 and all(x["api_versions"] for x in j["brokers"]),
              "mock: cluster info --json lists 2 brokers with API versions")
        p = ctl("cluster", "info")
        check(p.returncode == 0 and "API VERSIONS OF BROKER" in p.stdout, "mock: cluster info")
        j = ctl.json("topic", "list")
        check([(t["topic"], t["partitions"]) for t in j] == [("mt", 3)],
              "mock: topic list --json: %s" % j)
        p = ctl("produce", "mt", "-k", ":", stdin="".join("k%d:v%d\n" % (i, i)
                                                            for i in range(100)))
        check(p.returncode == 0 and "produced 100 records" in p.stdout,
              "mock: produce: %r %r" % (p.stdout, p.stderr))
        p = ctl("topic", "describe", "mt")
        hdr, rows = table(p.stdout, "PARTITION")
        check(p.returncode == 0 and len(rows) == 3 and sum(int(r[6]) for r in rows) == 100,
              "mock: topic describe: %s %s" % (rows, p.stderr))
        p = ctl("topic", "create", "new", "--timeout", "5s", timeout=30)
        check(p.returncode in (1, 3) and p.stderr.startswith("spindlectl: ")
              and p.seconds < 15,
              "mock: topic create (CreateTopics unsupported) fails clearly: %d %r"
              % (p.returncode, p.stderr))
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


guard("usage", usage_and_help)
guard("refused", refused)
guard("silent", silent)
log = spindle()
guard("mock", mock)
finish(log)
print("ok: spindlectl")
