#!/usr/bin/env python3
"""The spindle command line: help, version, configuration errors, readiness
on port 0, and a clean stop on SIGTERM/SIGINT. Runs the real binary."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile

SPINDLE = sys.argv[1]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)


def run(*args, timeout=20):
    return subprocess.run([SPINDLE, *args], capture_output=True, text=True, timeout=timeout)


def test_help_version():
    r = run("--help")
    check(r.returncode == 0 and "Usage: spindle" in r.stdout, "--help prints usage, exits 0")
    r = run("--version")
    check(r.returncode == 0 and re.match(r"spindle \d+\.\d+\.\d+", r.stdout), "--version")
    r = run("--help-config")
    check(r.returncode == 0 and "log.segment.bytes" in r.stdout and "default" in r.stdout,
          "--help-config documents keys")
    r = run("--frobnicate")
    check(r.returncode == 2 and "--frobnicate" in r.stderr, "unknown argument exits 2")
    r = run("--config")
    check(r.returncode == 2 and "needs a value" in r.stderr and "--config" in r.stderr, "--config without a file")


def test_config_errors(tmp):
    r = run("--set", "num.partitons=3")
    check(r.returncode != 0 and "num.partitons" in r.stderr and "unknown" in r.stderr,
          "unknown key named")
    r = run("--set", "num.partitions=many")
    check(r.returncode != 0 and "num.partitions" in r.stderr and "not an integer" in r.stderr,
          "bad value named with the reason")
    r = run("--smp", "-1")
    check(r.returncode != 0 and "smp" in r.stderr, "bad --smp")
    r = run("--config", os.path.join(tmp, "missing.properties"))
    check(r.returncode != 0 and "missing.properties" in r.stderr, "missing config file")
    path = os.path.join(tmp, "bad.properties")
    with open(path, "w") as f:
        f.write("# ok\nnum.partitions=3\nlog.segment.bytes=12\n")
    r = run("--config", path)
    check(r.returncode != 0 and "bad.properties:3" in r.stderr and "log.segment.bytes" in r.stderr
          and "out of range" in r.stderr, "file errors name file, line, key, reason")
    r = run("--set", "listeners=PLAINTEXT://127.0.0.1:99999")
    check(r.returncode != 0 and "listeners" in r.stderr, "bad listener rejected")


def start(tmp, *extra):
    data = os.path.join(tmp, "data", "nested")
    p = subprocess.Popen([SPINDLE, "--set", "listeners=PLAINTEXT://127.0.0.1:0",
                          "--set", "log.dirs=" + data, *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    return p, line, data


def test_ready_and_stop(tmp, sig):
    p, line, data = start(tmp)
    try:
        m = re.match(r"spindle ready listeners=PLAINTEXT://127\.0\.0\.1:(\d+) node\.id=1$",
                     line.strip())
        check(m is not None, "readiness line: %r" % line)
        if m:
            port = int(m.group(1))
            check(port != 0, "port 0 resolved to a real port")
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        check(os.path.isdir(data), "log dir created")
        p.send_signal(sig)
        rc = p.wait(timeout=20)
        err = p.stderr.read()
        check(rc == 0, "exit 0 after %s (got %s)" % (sig, rc))
        check("stopped cleanly" in err, "log says it stopped")
        check(re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  \[main\] ", err, re.M),
              "log lines carry time, level and thread")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def read_props(path):
    props = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                props[k] = v
    return props


def test_identity(tmp):
    """meta.properties is written once and checked at every start."""
    p, line, data = start(tmp)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)
    props = read_props(os.path.join(data, "meta.properties"))
    check(props.get("node.id") == "1", "meta.properties has node.id")
    cid = props.get("cluster.id", "")
    check(re.match(r"^[A-Za-z0-9_-]{22}$", cid) is not None, "cluster.id looks like a Kafka id")
    p, line, data = start(tmp)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)
    check(read_props(os.path.join(data, "meta.properties")).get("cluster.id") == cid,
          "cluster.id kept across restarts")
    r = run("--set", "listeners=PLAINTEXT://127.0.0.1:0", "--set", "log.dirs=" + data,
            "--set", "node.id=7")
    check(r.returncode != 0 and "node.id=1" in r.stderr and "node.id=7" in r.stderr,
          "a data dir of another node is refused")


def test_shards(tmp):
    """--smp starts that many shards, each logging as itself; all stop cleanly."""
    p, line, data = start(tmp, "--smp", "3", "--set", "logger.level=debug")
    check(line.startswith("spindle ready"), "ready with 3 shards: %r" % line)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    err = p.stderr.read()
    check(rc == 0, "3 shards stop with exit 0")
    for i in range(3):
        check("[shard %d]" % i in err, "shard %d logs as itself" % i)
    r = run("--set", "io_uring.features=linux-six", "--set", "log.dirs=" + data,
            "--set", "listeners=PLAINTEXT://127.0.0.1:0")
    check(r.returncode != 0 and "io_uring.features" in r.stderr, "bad feature cap reported")


def test_port_in_use(tmp):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = run("--set", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
                "--set", "log.dirs=" + os.path.join(tmp, "d2"))
        check(r.returncode != 0 and "cannot listen" in r.stderr, "port in use reported")
    finally:
        s.close()


with tempfile.TemporaryDirectory() as tmp:
    test_help_version()
    test_config_errors(tmp)
    test_ready_and_stop(tmp, signal.SIGTERM)
    test_ready_and_stop(tmp, signal.SIGINT)
    test_port_in_use(tmp)
    test_identity(tmp)
    test_shards(tmp)

sys.exit(1 if failures else 0)
