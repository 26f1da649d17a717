"""Building and running the Go client programs of tests/clients/go (Sarama,
segmentio/kafka-go) for the integration tests.

They build in GOPATH mode against Debian's packaged sources in
/usr/share/gocode, with no network: GOPATH is tests/clients/go (where
src/<program> lives) followed by /usr/share/gocode. A built program is kept
under the test work dir (the meson build dir's test-data), named by a hash of
its source, the toolchain and the packaged library versions, so that the
matrix variants of a test, and later runs, build it once; a lock makes
parallel tests wait for one build instead of racing."""
import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import work_dir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GO_SRC = os.path.join(ROOT, "tests", "clients", "go")
GOCODE = "/usr/share/gocode/src"

# program -> the packaged Go libraries it needs (a path under GOCODE each).
PROGRAMS = {
    "spindle_sarama": ["github.com/Shopify/sarama"],
    "spindle_kafkago": ["github.com/segmentio/kafka-go"],
    "spindle_sarama_group": ["github.com/Shopify/sarama"],
    "spindle_kafkago_group": ["github.com/segmentio/kafka-go"],
}
DEB_PACKAGES = {
    "github.com/Shopify/sarama": "golang-github-shopify-sarama-dev",
    "github.com/segmentio/kafka-go": "golang-github-segmentio-kafka-go-dev",
}


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def _go():
    return shutil.which("go") or (os.path.exists("/usr/lib/go/bin/go") and "/usr/lib/go/bin/go")


def need(program):
    """Exits 77 (skip) when the Go toolchain or a packaged library the
    program needs is not installed."""
    if not _go():
        skip("no Go toolchain (apt install golang-go; tools/deps.sh --test)")
    for lib in PROGRAMS[program]:
        if not os.path.isdir(os.path.join(GOCODE, lib)):
            skip("%s is not installed (apt install %s)" % (lib, DEB_PACKAGES[lib]))


# The programs' own packages under tests/clients/go/src, part of their fingerprint.
LOCAL_PACKAGES = {
    "spindle_sarama": ["spindle_saramautil"],
    "spindle_sarama_group": ["spindle_saramautil"],
}


def _fingerprint(program):
    h = hashlib.sha256()
    sources = []
    for pkg in [program] + LOCAL_PACKAGES.get(program, []):
        sources += sorted(glob.glob(os.path.join(GO_SRC, "src", pkg, "*.go")))
    for path in sources:
        h.update(path.encode())
        with open(path, "rb") as fh:
            h.update(fh.read())
    h.update(subprocess.run([_go(), "version"], capture_output=True, text=True).stdout.encode())
    # The packaged libraries: an upgrade changes their files' times.
    for lib in PROGRAMS[program]:
        for path in sorted(glob.glob(os.path.join(GOCODE, lib, "*.go"))):
            st = os.stat(path)
            h.update(("%s %d %d" % (path, st.st_size, st.st_mtime_ns)).encode())
    return h.hexdigest()[:16]


def build(program):
    """Path of the built program, building it first when no build of this
    source is cached. Raises RuntimeError with the compiler's output when
    the build fails."""
    need(program)
    cache = os.path.join(work_dir(), "go-clients")
    os.makedirs(cache, exist_ok=True)
    exe = os.path.join(cache, "%s-%s" % (program, _fingerprint(program)))
    if os.path.exists(exe):
        return exe
    with open(os.path.join(cache, program + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(exe):
            return exe
        env = dict(os.environ)
        env.update({
            "GOPATH": GO_SRC + ":/usr/share/gocode",
            "GO111MODULE": "off",
            "GOFLAGS": "",
            "GOPROXY": "off",
            "GOCACHE": os.path.join(cache, "gocache"),
            "CGO_ENABLED": "1",  # Sarama's zstd is cgo
        })
        tmp = exe + ".tmp%d" % os.getpid()
        t0 = time.monotonic()
        out = subprocess.run([_go(), "build", "-o", tmp, program], cwd=GO_SRC, env=env,
                             capture_output=True, text=True, timeout=240)
        if out.returncode != 0:
            raise RuntimeError("go build %s failed (%d):\n%s%s"
                               % (program, out.returncode, out.stdout, out.stderr))
        os.rename(tmp, exe)
        print("built %s in %.1f s" % (program, time.monotonic() - t0), flush=True)
        # Older builds of the same program are of no further use.
        for old in glob.glob(os.path.join(cache, program + "-*")):
            if old != exe and not old.endswith(".lock"):
                try:
                    os.unlink(old)
                except OSError:
                    pass
        return exe


def run_json(exe, args, timeout=60):
    """Runs a program of tests/clients/go; returns (exit status, its JSON
    summary or None, its whole output)."""
    try:
        out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return None, None, "timed out after %d s\n%s" % (timeout, text)
    summary = None
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            try:
                summary = json.loads(line)
            except ValueError:
                pass
    return out.returncode, summary, out.stdout + out.stderr
