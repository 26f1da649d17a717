"""Starting and stopping a real spindle broker for integration tests, and
what every broker test shares: its arguments and its verdicts.

Each broker listens on 127.0.0.1 port 0 with its own temporary data dir; the
harness waits for the readiness line instead of sleeping, and reads the
port the broker chose from it."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

READY = re.compile(r"^spindle ready listeners=(\S+) node\.id=(\d+)$")


class Broker:
    def __init__(self, exe, data_dir=None, extra=(), cmd=None, env=None):
        self.exe = exe
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="spindle-it-", dir=work_dir())
            data_dir = self._tmp.name
        self.data_dir = data_dir
        self.extra = list(extra)
        self.cmd = cmd
        self.env = env
        self.proc = None
        self.log = []

    def start(self, timeout=30):
        args = self.cmd or [self.exe, "--set", "listeners=PLAINTEXT://127.0.0.1:0",
                            "--set", "log.dirs=" + self.data_dir]
        self.proc = subprocess.Popen(args + self.extra, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=self.env)
        self.log = []
        threading.Thread(target=self._drain, daemon=True).start()
        line = _readline(self.proc.stdout, timeout)
        m = READY.match(line.strip()) if line else None
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("broker did not become ready: %r\n%s" % (line, self.log_text()))
        self.listeners = m.group(1).split(",")
        host_port = self.listeners[0].split("://", 1)[1]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.bootstrap = "%s:%d" % (self.host, self.port)
        return self

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def log_text(self):
        return "".join(self.log)

    def wait_log(self, text, timeout=5.0):
        """True once text is in the log. The broker's stderr is read by a
        thread: give it time to catch up."""
        deadline = time.time() + timeout
        while text not in self.log_text() and time.time() < deadline:
            time.sleep(0.02)
        return text in self.log_text()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode if self.proc else None

    def kill(self):
        return self.stop(signal.SIGKILL)

    def close(self):
        try:
            self.stop()
        finally:
            if self._tmp:
                self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _readline(stream, timeout):
    out = []
    t = threading.Thread(target=lambda: out.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return out[0] if out else None


def work_dir():
    """A directory on a real disk (O_DIRECT is checked by ext4, not tmpfs)."""
    d = os.environ.get("SPINDLE_TEST_DIR") or os.path.join(os.getcwd(), "test-data")
    os.makedirs(d, exist_ok=True)
    return d


def restart_same_port(broker, sig=signal.SIGTERM, timeout=30):
    """Stops `broker` with sig (SIGTERM: clean; SIGKILL: a crash) and starts
    it again on the same data dir and the same port, so that clients that
    knew it reconnect to it. Returns the stopped process's exit status."""
    port = broker.port
    rc = broker.stop(sig)
    broker.extra = list(broker.extra) + ["--set", "listeners=PLAINTEXT://127.0.0.1:%d" % port]
    broker.start(timeout)
    return rc


# ---- Arguments and verdicts ----

failures = []


def args(default_smp="2"):
    """(spindle executable, shard count) from the command line meson gives."""
    return sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else default_smp)


def check(cond, what):
    """One verdict, printed as "ok: what" or "FAIL: what"; failures keeps the failed ones."""
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    else:
        print("ok:", what)


def guard(name, fn, *a):
    """Runs fn(*a); an exception from it is a failure, printed with its
    traceback. Returns whether fn returned."""
    try:
        fn(*a)
        return True
    except Exception as e:  # noqa: BLE001 - any exception is a failed test
        traceback.print_exc()
        check(False, "%s raised %r" % (name, e))
        return False


def finish(log=None):
    """Exits 1 when a check failed (printing log, a broker's, when given), else 0."""
    if failures:
        print("%d failure(s)" % len(failures))
        if log is not None:
            print("broker log:\n" + log)
        sys.exit(1)
    print("all ok")
    sys.exit(0)
