#!/usr/bin/env python3
# spindle-test: runner=python variants=once
"""The client core (client/client.c) against a real Spindle and against
librdkafka's mock cluster (tools/kafka-mock --brokers 3), through
tests/client/check_client_core (one scenario per run):

  - negotiation: for Metadata, Produce, Fetch and ListOffsets the version
    the core uses is min(ours, the broker's max) as the broker's own
    ApiVersions answer says; a range the broker cannot meet is -ENOTSUP;
  - metadata: brokers, controller, cluster id, a topic's partitions and
    leaders; spc_call_sync of ListOffsets and Metadata, 64 calls at once,
    and freeing the client with calls pending;
  - refresh: on Spindle a topic created with 2 partitions, deleted and
    created again with 5 is seen with its new id and 5 partitions after
    spc_metadata_stale; on the mock a moved leader is seen after a stale;
  - coordinators: OffsetFetch routed to a group's coordinator (found with
    FindCoordinator), again after spc_coordinator_stale;
  - failures: a bootstrap that refuses fails with -ECONNREFUSED naming it,
    one that accepts and never answers with -ETIMEDOUT, both within the
    timeout; a mock broker taken down fails its calls within their timeout
    and works again once up; a mock broker that answers late fails calls
    with -ETIMEDOUT (resent ones too) and works again once fast; a response over max_response_bytes fails its
    call with -EMSGSIZE and the client goes on.
The mock part skips (the rest still runs) when kafka-mock is not built;
the whole test skips (77) when the check program is missing."""
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, _readline, args, check, finish  # noqa: E402

CHECK_TIMEOUT_S = 60


def build_path(rel):
    return os.path.join(os.environ.get("SPINDLE_BUILD_ROOT", "."), rel)


CHECK = build_path("tests/client/check_client_core")
MOCK = build_path("tools/kafka-mock")


def run(bootstrap, *scenario, env=None):
    """Runs one scenario; True when it passed. Its output is printed."""
    scenario = [str(a) for a in scenario]
    cmd = [CHECK, bootstrap] + scenario
    full_env = dict(os.environ, **(env or {}))
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=CHECK_TIMEOUT_S, env=full_env)
    except subprocess.TimeoutExpired as e:
        print("$ %s\n%s" % (" ".join(cmd), e.output or ""))
        check(False, "%s: hung (no answer in %d s)" % (" ".join(scenario), CHECK_TIMEOUT_S))
        return False
    print("$ %s\n%s" % (" ".join(cmd), p.stdout))
    check(p.returncode == 0, "%s (exit %d)" % (" ".join(scenario), p.returncode))
    return p.returncode == 0


class Interactive:
    """A check program that talks with the driver over stdin/stdout."""

    def __init__(self, bootstrap, *scenario, env=None):
        self.name = " ".join(str(a) for a in scenario)
        self.proc = subprocess.Popen([CHECK, bootstrap] + [str(a) for a in scenario],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, **(env or {})))
        self.out = []

    def expect(self, prefix, timeout=20):
        """The first line starting with prefix (others are kept), or None."""
        while True:
            line = _readline(self.proc.stdout, timeout)
            if not line:
                return None
            self.out.append(line)
            if line.startswith(prefix):
                return line.strip()

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self):
        try:
            rest, _ = self.proc.communicate(timeout=CHECK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
        print("$ %s\n%s%s" % (self.name, "".join(self.out), rest))
        check(self.proc.returncode == 0, "%s (exit %d)" % (self.name, self.proc.returncode))


class Mock:
    def __init__(self, *extra):
        self.proc = subprocess.Popen([MOCK, "--brokers", "3"] + list(extra),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = _readline(self.proc.stdout, 20) or ""
        if not line.startswith("bootstrap "):
            self.proc.kill()
            raise RuntimeError("kafka-mock did not start: %r" % line)
        self.bootstrap = line.split()[1]

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = (_readline(self.proc.stdout, 10) or "").strip()
        check(answer == "ok", "mock: %s -> %s" % (line, answer))
        return answer == "ok"

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def against_spindle(exe, smp):
    with Broker(exe, extra=["--smp", smp]) as b:
        bs = b.bootstrap
        run(bs, "negotiate")
        if run(bs, "create", "core-t", 3):
            run(bs, "metadata", "core-t", 3)
            run(bs, "call", "core-t")
        run(bs, "recreate", "core-re")
        run(bs, "coordinator", "core-group", "core-t")
        if run(bs, "create", "core-big", 300):
            run(bs, "oversize", "core-big", "core-t")


def against_mock():
    if not os.path.exists(MOCK):
        print("skip: the mock part (%s is not built)" % MOCK)
        return
    mock = Mock("--topic", "t1:3", "--topic", "big:300")
    try:
        bs = mock.bootstrap
        env = {"CHECK_CORE_MOCK": "1"}
        run(bs, "negotiate")
        run(bs, "metadata", "t1", 3, env=env)
        run(bs, "call", "t1")
        run(bs, "oversize", "big", "t1")

        p = Interactive(bs, "leader", "t1", 0)
        line = p.expect("leader=")
        if line is not None:
            leader = int(line.split("=")[1])
            new = leader % 3 + 1
            mock.command("leader t1 0 %d" % new)
            p.send("moved %d" % new)
        p.finish()

        run(bs, "coordinator", "core-group", "t1")

        p = Interactive(bs, "slow", 3)
        if p.expect("ready") is not None:
            mock.command("rtt 3 3000")
            p.send("slow")
            if p.expect("failed", timeout=30) is not None:
                mock.command("rtt 3 0")
                p.send("fast")
        p.finish()

        p = Interactive(bs, "down", 2)
        if p.expect("ready") is not None:
            mock.command("down 2")
            p.send("down")
            if p.expect("failed") is not None:
                mock.command("up 2")
                p.send("up")
        p.finish()
    finally:
        mock.close()


def unreachable():
    # A port nobody listens on: bind, read it, close.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    run("127.0.0.1:%d" % port, "refused", 2000)

    # A listener that accepts and never answers.
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        ls.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = ls.accept()
                held.append(conn)
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        run("127.0.0.1:%d" % ls.getsockname()[1], "silent", 1500)
    finally:
        stop.set()
        t.join()
        for conn in held:
            conn.close()
        ls.close()


def main():
    exe, smp = args("3")
    if not os.path.exists(CHECK):
        print("skip: %s is not built" % CHECK)
        sys.exit(77)
    run("127.0.0.1:9", "errors")
    against_spindle(exe, smp)
    against_mock()
    unreachable()
    finish()


if __name__ == "__main__":
    main()
