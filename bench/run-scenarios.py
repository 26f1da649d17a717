#!/usr/bin/env python3
"""bench/run-scenarios.py: issue 13's scenarios, end to end, with python3's
standard library only.

It starts Spindle (one shard, pinned with taskset to --broker-cpu, its own
data dir on the work disk, fresh for each run) and librdkafka's mock
cluster (tools/kafka-mock, pinned the same way), runs spindle-bench pinned
to --bench-cpu against them, measures the machine's limits with the same
pinning (loopback TCP, the work disk), and writes bench/RESULTS.md's
spindle-bench section (between its markers; the other sections are kept)
and SVG charts under bench/charts/.

  python3 bench/run-scenarios.py --build build          # the full run (~15 min)
  python3 bench/run-scenarios.py --build build --quick  # 3 s runs, written to the work dir
  python3 bench/run-scenarios.py --build build --quick --only limits,A,G

Scenarios (SCENARIOS below defines each one exactly):
  limits  loopback TCP (1 KiB and 100 B messages, 4 connections, 1 MiB
          writes, peer on the broker's CPU); the work disk: sequential
          O_DIRECT writes (256 KiB, 4 in flight) and 4 KiB append+fdatasync
  A       max produce throughput: 1 KiB values, 16 partitions, 4 connections,
          acks=1, linger 5 ms, no compression (also against the mock)
  B       as A with acks=all (Spindle fdatasyncs each batch before answering);
          B50: the same, open loop at 50% of B's msgs/s, linger 1 ms (B's goal)
  C       as A with 100-byte values (also against the mock)
  D       as A with 1, 64 and 1,000 partitions
  E       as A with 1, 10 and 100 connections
  F       consume throughput: from the batch cache (512 MiB written first,
          read again and again) and from disk (2 GiB written, broker
          restarted with no batch cache, page cache dropped)
  G       end-to-end latency at 25%, 50% and 75% of A's msgs/s, open loop
          (A's settings with linger 1 ms); the mock at 50% of its own maximum
  H       broker RSS idle, and with 10,000 partitions (10 topics x 1,000)

Every produce run lasts --duration seconds (default 30) after a --warmup
(default 5) that is not measured.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
READY = re.compile(r"^spindle ready listeners=(\S+) node\.id=(\d+)$")
MARK_BEGIN = "<!-- spindle-bench:begin (written by bench/run-scenarios.py) -->"
MARK_END = "<!-- spindle-bench:end -->"
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

# ---- The scenarios, exactly ----------------------------------------------------

# A: the base of the produce scenarios.
BASE = {"size": "1024", "partitions": 16, "connections": 4, "acks": "1", "linger_ms": 5,
        "compression": "none", "batch_bytes": 1 * MIB, "inflight": 5, "buffer_bytes": 16 * MIB}


def produce_runs():
    """(id, scenario, target, workload) of every produce run."""
    runs = [("A", "A", "spindle", dict(BASE)),
            ("A-mock", "A", "mock", dict(BASE)),
            ("B", "B", "spindle", dict(BASE, acks="all")),
            ("C", "C", "spindle", dict(BASE, size="100")),
            ("C-mock", "C", "mock", dict(BASE, size="100"))]
    for p in (1, 64, 1000):
        runs.append(("D%d" % p, "D", "spindle", dict(BASE, partitions=p)))
    for c in (1, 10, 100):
        runs.append(("E%d" % c, "E", "spindle", dict(BASE, connections=c)))
    return runs


# G: A's workload with linger 1 ms (linger delays a record on purpose; the
# producer's linger 0 sends too little per request to keep up), open loop.
G_BASE = dict(BASE, linger_ms=1)
# B50: B's workload, open loop at 50% of B's msgs/s: the ack latency that
# B's goal compares with the disk (a closed loop measures its own buffer).
B50_BASE = dict(BASE, acks="all", linger_ms=1)
B50_FRACTION = 0.5
G_FRACTIONS = (0.25, 0.50, 0.75)

# F: consume. Volumes written first, and the broker's batch cache per run.
F_CACHE = {"bytes": 512 * MIB, "cache_bytes": 1 * GIB}
F_DISK = {"bytes": 2 * GIB, "cache_bytes": 0}
F_FETCH = {"fetch_max_bytes": 50 * MIB, "partition_max_bytes": 4 * MIB, "fetch_max_wait_ms": 500}

# H: partitions created for the memory figure.
H_TOPICS, H_PARTITIONS_EACH = 10, 1000

# Limits.
TCP_SIZES = ("1024", "100")
DISK_BYTES = 4 * GIB
DISK_SYNC_COUNT = 2000

# The goals of issue 13 item 4.
GOAL_A_TCP = 0.70
GOAL_G50_P99_US = 1000.0
GOAL_B_SYNC = 2.0
GOAL_D1000 = 0.80
GOAL_A_MOCK = 3.0
GOAL_H_IDLE = 64 * MIB
GOAL_H_PER_PARTITION = 50 * KIB

QUICK = {"duration": 3.0, "warmup": 1.0, "f_cache": 64 * MIB, "f_disk": 256 * MIB,
         "disk": 512 * MIB, "sync": 300, "tcp": 3.0, "h_each": 200}


# ---- Processes ------------------------------------------------------------------

def log(*a):
    print("run-scenarios:", *a, file=sys.stderr, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def readline_timeout(stream, timeout):
    out = []
    t = threading.Thread(target=lambda: out.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return out[0] if out else None


class Spindle:
    """One broker: one shard, pinned, its own data dir (kept across restarts)."""

    def __init__(self, cfg, name, sets=()):
        self.cfg = cfg
        self.data = os.path.join(cfg.work, "data-" + name)
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(self.data)
        self.sets = list(sets)
        self.logpath = os.path.join(cfg.work, "spindle-%s.log" % name)
        self.proc = None

    def start(self):
        args = ["taskset", "-c", self.cfg.broker_cpu, self.cfg.spindle, "--smp", "1",
                "--set", "listeners=PLAINTEXT://127.0.0.1:0", "--set", "log.dirs=" + self.data]
        for s in self.sets:
            args += ["--set", s]
        self.logf = open(self.logpath, "a")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.logf, text=True,
                                     preexec_fn=raise_nofile)
        line = readline_timeout(self.proc.stdout, 60)
        m = READY.match(line.strip()) if line else None
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("spindle did not become ready (%r); see %s" % (line, self.logpath))
        self.bootstrap = m.group(1).split(",")[0].split("://", 1)[1]
        threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()
        return self

    def rss(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * KIB
        return 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


class Mock:
    """tools/kafka-mock: one broker, pinned, the topic created up front."""

    def __init__(self, cfg, topic, partitions):
        self.proc = subprocess.Popen(
            ["taskset", "-c", cfg.broker_cpu, cfg.mock, "--brokers", "1",
             "--topic", "%s:%d" % (topic, partitions)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = readline_timeout(self.proc.stdout, 30) or ""
        if not line.startswith("bootstrap "):
            self.proc.kill()
            raise RuntimeError("kafka-mock did not start: %r" % line)
        self.bootstrap = line.split()[1].split(",")[0]

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait()


def bench(cfg, mode, args, timeout):
    """Runs spindle-bench MODE ARGS --json pinned to the bench CPU: its JSON, or
    {"ok": False, "error": ...}."""
    cmd = [cfg.bench] + mode.split() + [str(a) for a in args] + ["--cpu", cfg.bench_cpu,
                                                                  "--json"]
    log("$", " ".join(cmd))
    errpath = os.path.join(cfg.work, "bench-stderr.log")
    with open(errpath, "a") as errf:
        errf.write("$ %s\n" % " ".join(cmd))
        errf.flush()
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=errf, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": "timed out after %d s" % timeout}
    try:
        res = json.loads(p.stdout)
    except ValueError:
        return {"ok": False, "error": "exit %d, no JSON (see %s)" % (p.returncode, errpath)}
    if p.returncode != 0 and res.get("ok", True):
        res["ok"] = False
    if not res.get("ok") and not res.get("error"):
        res["error"] = "exit %d (see %s)" % (p.returncode, errpath)
    return res


def workload_args(w, topic, bootstrap, cfg, rate=None):
    args = ["--brokers", bootstrap, "--topic", topic, "--size", w["size"],
            "--partitions", w["partitions"], "--connections", w["connections"],
            "--inflight", w["inflight"], "--acks", w["acks"], "--linger-ms", w["linger_ms"],
            "--compression", w["compression"], "--batch-bytes", w["batch_bytes"],
            "--buffer-bytes", w["buffer_bytes"], "--duration", cfg.duration,
            "--warmup", cfg.warmup, "--quiet"]
    if rate:
        args += ["--rate", "%.0f" % rate]
    return args


def timeout_for(cfg):
    return int(cfg.duration + cfg.warmup + 240)


# ---- Runs ----------------------------------------------------------------------

def run_limits(cfg, R):
    for size in TCP_SIZES:
        R["tcp-" + size] = bench(cfg, "limits tcp", [
            "--size", size, "--connections", BASE["connections"], "--duration", cfg.tcp_s,
            "--peer-cpu", cfg.broker_cpu, "--quiet"], 300)
    R["disk"] = bench(cfg, "limits disk", [
        "--dir", cfg.work, "--disk-bytes", cfg.disk_bytes, "--duration", 30,
        "--sync-count", cfg.sync_count, "--quiet"], 300)


def run_produce(cfg, R, only):
    for rid, scen, target, w in produce_runs():
        if scen not in only:
            continue
        topic = "bench-" + rid.lower()
        if target == "mock":
            if cfg.no_mock:
                continue
            mock = Mock(cfg, topic, w["partitions"])
            try:
                R[rid] = bench(cfg, "produce", workload_args(w, topic, mock.bootstrap, cfg),
                               timeout_for(cfg))
            finally:
                mock.close()
            continue
        broker = Spindle(cfg, rid).start()
        try:
            R[rid] = bench(cfg, "produce", workload_args(w, topic, broker.bootstrap, cfg),
                           timeout_for(cfg))
        finally:
            broker.close()
        if rid == "B":
            run_b50(cfg, R)


def run_b50(cfg, R):
    """B's workload open loop at B50_FRACTION of B's msgs/s (B's goal)."""
    rate = msgs(R.get("B"))
    if not rate:
        R["B50"] = {"ok": False, "error": "B has no result"}
        return
    broker = Spindle(cfg, "B50").start()
    try:
        res = bench(cfg, "produce", workload_args(B50_BASE, "bench-b50", broker.bootstrap, cfg,
                                                  rate * B50_FRACTION), timeout_for(cfg))
    finally:
        broker.close()
    res["target_rate"] = rate * B50_FRACTION
    R["B50"] = res


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def run_consume(cfg, R):
    for rid, f, volume in (("F-cache", F_CACHE, cfg.f_cache), ("F-disk", F_DISK, cfg.f_disk)):
        topic = "bench-" + rid.lower()
        broker = Spindle(cfg, rid, ["log.cache.bytes=%d" % f["cache_bytes"]]).start()
        try:
            count = volume // int(BASE["size"])
            fill = bench(cfg, "produce", [
                "--brokers", broker.bootstrap, "--topic", topic, "--size", BASE["size"],
                "--partitions", BASE["partitions"], "--connections", BASE["connections"],
                "--acks", "1", "--count", count, "--quiet"], 600)
            if not fill.get("ok"):
                R[rid] = {"ok": False, "error": "writing the data: %s" % fill.get("error")}
                continue
            dropped = None
            if rid == "F-disk":
                broker.stop()
                dropped = drop_caches()
                broker.start()
            res = bench(cfg, "consume", [
                "--brokers", broker.bootstrap, "--topic", topic, "--loop",
                "--duration", cfg.duration, "--warmup", cfg.warmup,
                "--fetch-max-bytes", F_FETCH["fetch_max_bytes"],
                "--partition-max-bytes", F_FETCH["partition_max_bytes"],
                "--fetch-max-wait-ms", F_FETCH["fetch_max_wait_ms"], "--quiet"],
                timeout_for(cfg))
            res["written_bytes"] = count * int(BASE["size"])
            res["written_records"] = count
            res["page_cache_dropped"] = dropped
            res["broker_cache_bytes"] = f["cache_bytes"]
            R[rid] = res
        finally:
            broker.close()


def run_e2e(cfg, R):
    a = R.get("A", {})
    max_rate = cfg.g_max_rate or (a.get("throughput", {}).get("msgs_per_s") if a.get("ok")
                                  else None)
    if not max_rate:
        for frac in G_FRACTIONS:
            R["G%d" % int(frac * 100)] = {"ok": False, "error": "no max rate (run A first)"}
        return
    for frac in G_FRACTIONS:
        rid = "G%d" % int(frac * 100)
        broker = Spindle(cfg, rid).start()
        try:
            res = bench(cfg, "e2e", workload_args(G_BASE, "bench-" + rid.lower(),
                                                  broker.bootstrap, cfg, max_rate * frac),
                        timeout_for(cfg))
        finally:
            broker.close()
        res["target_rate"] = max_rate * frac
        res["fraction"] = frac
        R[rid] = res
    am = R.get("A-mock", {})
    if cfg.no_mock or not am.get("ok"):
        return
    rate = am["throughput"]["msgs_per_s"] * 0.5
    mock = Mock(cfg, "bench-g50-mock", G_BASE["partitions"])
    try:
        res = bench(cfg, "e2e", workload_args(G_BASE, "bench-g50-mock", mock.bootstrap, cfg,
                                              rate), timeout_for(cfg))
    finally:
        mock.close()
    res["target_rate"] = rate
    res["fraction"] = 0.5
    R["G50-mock"] = res


def settle_rss(broker, seconds):
    """The broker's RSS once it stops moving (or after `seconds`)."""
    last, deadline = broker.rss(), time.time() + seconds
    while time.time() < deadline:
        time.sleep(1)
        now = broker.rss()
        if abs(now - last) < 256 * KIB:
            return now
        last = now
    return last


def run_memory(cfg, R):
    broker = Spindle(cfg, "H").start()
    try:
        idle = settle_rss(broker, 10)
        t0 = time.time()
        res = bench(cfg, "create-topics", [
            "--brokers", broker.bootstrap, "--topic", "bench-h", "--topics", H_TOPICS,
            "--partitions", cfg.h_each, "--quiet"], 900)
        created_s = time.time() - t0
        loaded = settle_rss(broker, 30)
        parts = H_TOPICS * cfg.h_each
        R["H"] = {"ok": bool(res.get("ok")), "error": res.get("error"), "idle_rss": idle,
                  "rss": loaded, "partitions": parts, "create_s": created_s,
                  "per_partition": (loaded - idle) / parts if parts else 0,
                  "created": res.get("created"), "existed": res.get("existed")}
    finally:
        broker.close()


# ---- Figures --------------------------------------------------------------------

def mbps(r):
    return r.get("throughput", {}).get("mb_per_s") if r and r.get("ok") else None


def msgs(r):
    return r.get("throughput", {}).get("msgs_per_s") if r and r.get("ok") else None


def lat(r, which, p):
    if not r or not r.get("ok"):
        return None
    h = r.get("latency", {}).get(which) or r.get(which)
    return h.get(p) if h and h.get("count") else None


def ratio(a, b):
    return a / b if a is not None and b else None


def f_us(v):
    if v is None:
        return "–"
    if v >= 10000:
        return "%.1f ms" % (v / 1000)
    if v >= 1000:
        return "%.2f ms" % (v / 1000)
    return "%.0f µs" % v


def f_num(v, fmt="%.1f"):
    return "–" if v is None else fmt % v


def f_int(v):
    return "–" if v is None else "{:,.0f}".format(v)


def f_mib(v):
    return "–" if v is None else "%.1f MiB" % (v / MIB)


def status(r):
    if r is None:
        return "not run"
    if r.get("ok"):
        return "ok"
    return "FAILED: %s" % (r.get("error") or "?")


def goals(R):
    """[(goal, target, measured, how far, met)] of issue 13 item 4."""
    out = []
    a, tcp = mbps(R.get("A")), mbps(R.get("tcp-1024"))
    x = ratio(a, tcp)
    out.append(("A >= 70% of loopback TCP", "≥ 70%", f_num(x and x * 100, "%.0f%%"),
                f_num(x and x / GOAL_A_TCP, "%.2f× the goal"), x is not None and x >= GOAL_A_TCP))
    g = lat(R.get("G50"), "end_to_end", "p99_us")
    out.append(("G: p99 end-to-end < 1 ms at 50% of max", "< 1 ms", f_us(g),
                f_num(g and g / GOAL_G50_P99_US, "%.2f× the limit"),
                g is not None and g < GOAL_G50_P99_US))
    b, s = lat(R.get("B50"), "produce_ack", "p99_us"), lat(R.get("disk"), "fdatasync", "p99_us")
    x = ratio(b, s)
    out.append(("B: p99 within 2× the disk's fdatasync p99 (B50)", "≤ 2×",
                "%s vs %s" % (f_us(b), f_us(s)), f_num(x, "%.1f× fdatasync p99"),
                x is not None and x <= GOAL_B_SYNC))
    x = ratio(mbps(R.get("D1000")), mbps(R.get("D1")))
    out.append(("D: 1,000 partitions >= 80% of 1 partition", "≥ 80%",
                f_num(x and x * 100, "%.0f%%"), f_num(x and x / GOAL_D1000, "%.2f× the goal"),
                x is not None and x >= GOAL_D1000))
    x = ratio(a, mbps(R.get("A-mock")))
    out.append(("A >= 3× the mock cluster", "≥ 3×", f_num(x, "%.2f×"),
                f_num(x and x / GOAL_A_MOCK, "%.2f× the goal"), x is not None and x >= GOAL_A_MOCK))
    h = R.get("H") if R.get("H", {}).get("ok") else {}
    idle, per = h.get("idle_rss"), h.get("per_partition")
    out.append(("H: idle RSS <= 64 MiB", "≤ 64 MiB", f_mib(idle),
                f_num(idle and idle / GOAL_H_IDLE, "%.2f× the limit"),
                idle is not None and idle <= GOAL_H_IDLE))
    out.append(("H: <= 50 KiB per idle partition", "≤ 50 KiB",
                f_num(per and per / KIB, "%.1f KiB"),
                f_num(per and per / GOAL_H_PER_PARTITION, "%.2f× the limit"),
                per is not None and per <= GOAL_H_PER_PARTITION))
    return out


# ---- SVG charts -----------------------------------------------------------------

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf",
          "#7f7f7f"]


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_ticks(lo, hi, n=5):
    if hi <= lo:
        hi = lo + 1
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    t, out = math.floor(lo / step) * step, []
    while t <= hi + step * 1e-9:
        out.append(t)
        t += step
    return out


def us_tick(v):
    """A latency axis label: 100 µs, 1 ms, 10 s."""
    for unit, div in (("s", 1e6), ("ms", 1e3)):
        if v >= div:
            return "%g %s" % (v / div, unit)
    return "%g µs" % v


def svg_chart(title, xlabel, ylabel, series, log_y=False, xcats=None, shade_to=None):
    """A line chart: series = [(name, [(x, y), ...])]; xcats names categorical x
    positions 0..n-1; log_y for latencies; shade_to shades x <= shade_to (warm-up)."""
    W, H, L, Rm, T, B = 720, 360, 70, 150, 40, 50
    pw, ph = W - L - Rm, H - T - B
    pts = [(x, y) for _, s in series for x, y in s if y is not None and (not log_y or y > 0)]
    if not pts:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = (0, len(xcats) - 1) if xcats else (min(xs), max(xs))
    if x1 == x0:
        x1 = x0 + 1
    if log_y:
        y0 = 10 ** math.floor(math.log10(min(ys)))
        y1 = 10 ** math.ceil(math.log10(max(ys)))
        if y1 <= y0:
            y1 = y0 * 10
        ticks = []
        t = y0
        while t <= y1 * 1.0001:
            ticks.append(t)
            t *= 10
        fy = lambda v: T + ph - (math.log10(v) - math.log10(y0)) / (math.log10(y1) - math.log10(y0)) * ph  # noqa: E731
    else:
        ticks = nice_ticks(0, max(ys) * 1.05)
        y0, y1 = 0, ticks[-1]
        fy = lambda v: T + ph - (v - y0) / (y1 - y0) * ph  # noqa: E731
    fx = lambda v: L + (v - x0) / (x1 - x0) * pw  # noqa: E731
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="12">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>' % (L, esc(title))]
    if shade_to is not None and not xcats and shade_to > x0:
        o.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#eeeeee"/>'
                 % (L, T, fx(min(shade_to, x1)) - L, ph))
        o.append('<text x="%.1f" y="%d" fill="#888">warm-up</text>' % (L + 4, T + 14))
    for t in ticks:
        y = fy(t)
        label = ("%g" % t) if not log_y else us_tick(t)
        o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, L + pw, y, y))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 6, y + 4, label))
    if xcats:
        for i, c in enumerate(xcats):
            o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                     % (fx(i), T + ph + 18, esc(c)))
    else:
        for t in nice_ticks(x0, x1, 8):
            if x0 <= t <= x1:
                o.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>'
                         % (fx(t), T + ph + 18, t))
    o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>'
             % (L, T, pw, ph))
    o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
             % (L + pw / 2, H - 10, esc(xlabel)))
    o.append('<text transform="translate(16,%.1f) rotate(-90)" text-anchor="middle">%s</text>'
             % (T + ph / 2, esc(ylabel)))
    for i, (name, s) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        good = [(x, y) for x, y in s if y is not None and (not log_y or y > 0)]
        if good:
            o.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                     % (c, " ".join("%.1f,%.1f" % (fx(x), fy(y)) for x, y in good)))
            if xcats:
                for x, y in good:
                    o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (fx(x), fy(y), c))
        ly = T + 14 + i * 18
        o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>'
                 % (L + pw + 12, L + pw + 32, ly - 4, ly - 4, c))
        o.append('<text x="%d" y="%d">%s</text>' % (L + pw + 38, ly, esc(name)))
    o.append("</svg>")
    return "\n".join(o) + "\n"


PCTS = [("p50", "p50_us"), ("p90", "p90_us"), ("p99", "p99_us"), ("p99.9", "p99_9_us"),
        ("p99.99", "p99_99_us"), ("max", "max_us")]

CHART_GROUPS = [
    ("A", "A: 1 KiB, 16 partitions, 4 connections, acks=1", ["A", "A-mock"], "produce_ack"),
    ("B", "B: as A with acks=all", ["B", "A"], "produce_ack"),
    ("C", "C: 100-byte values", ["C", "C-mock"], "produce_ack"),
    ("D", "D: partitions (A has 16)", ["D1", "A", "D64", "D1000"], "produce_ack"),
    ("E", "E: connections (A has 4)", ["E1", "A", "E10", "E100"], "produce_ack"),
    ("F", "F: consume", ["F-cache", "F-disk"], None),
    ("G", "G: end-to-end latency, open loop", ["G25", "G50", "G75", "G50-mock"], "end_to_end"),
]


def write_charts(R, cfg, chart_dir):
    os.makedirs(chart_dir, exist_ok=True)
    made = []
    for gid, title, ids, which in CHART_GROUPS:
        runs = [(i, R[i]) for i in ids if R.get(i, {}).get("ok")]
        if not runs or runs[0][0] != ids[0]:
            continue
        tput = [(i, [(p["t"], p["mb_per_s"]) for p in r.get("series", [])]) for i, r in runs]
        svg = svg_chart("%s: throughput over time" % title, "seconds", "MB/s", tput,
                        shade_to=cfg.warmup)
        if svg:
            name = "throughput-%s.svg" % gid
            with open(os.path.join(chart_dir, name), "w") as f:
                f.write(svg)
            made.append((gid, "throughput", name))
        if which is None:
            continue
        lines = []
        for i, r in runs:
            h = r.get("latency", {}).get(which, {})
            if h.get("count"):
                lines.append((i, [(k, h.get(key)) for k, (_, key) in enumerate(PCTS)]))
        label = "produce-ack latency" if which == "produce_ack" else "end-to-end latency"
        svg = svg_chart("%s: latency percentiles" % title, "percentile", label, lines,
                        log_y=True, xcats=[p for p, _ in PCTS])
        if svg:
            name = "latency-%s.svg" % gid
            with open(os.path.join(chart_dir, name), "w") as f:
                f.write(svg)
            made.append((gid, "latency", name))
    return made


# ---- RESULTS.md -------------------------------------------------------------------

def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.0f GiB" % (int(f.readline().split()[1]) / (1 << 20))
    except (OSError, ValueError, IndexError):
        pass
    return "%s, %d CPUs, %s RAM, Linux %s" % (cpu, os.cpu_count() or 0, mem, platform.release())


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def produce_row(rid, R, w):
    """One row of the produce table."""
    r = R.get(rid)
    ok = r is not None and r.get("ok")
    rec = r.get("records", {}) if r else {}
    return [rid, "mock" if rid.endswith("-mock") else "Spindle", w["size"], w["partitions"],
            w["connections"], w["acks"], w["linger_ms"], f_num(mbps(r)), f_int(msgs(r))] + \
        [f_us(lat(r, "produce_ack", k)) for k in ("p50_us", "p99_us", "p99_9_us", "p99_99_us",
                                                   "max_us")] + \
        ["%s/%s" % (f_int(rec.get("acked")), f_int(rec.get("sent"))) if ok else status(r)]


def section(R, cfg, charts, started, elapsed):
    s = []
    w = s.append
    w(MARK_BEGIN)
    w("## spindle-bench: scenarios against the machine's limits and the mock cluster\n")
    w("`%s` (%s), %s; %.1f minutes, started %s. Machine: %s. Work disk: `%s` (%s). "
      "Spindle: one shard (`--smp 1`), pinned with `taskset -c %s`, a fresh data dir per run; "
      "kafka-mock (librdkafka %s mock cluster, one broker) pinned to CPU %s too; spindle-bench "
      "pinned to CPU %s (`--cpu`, reported CPUs: %s); the TCP limit's peer on CPU %s. "
      "Every produce and e2e run: %.0f s measured after a %.0f s warm-up."
      % (cfg.command, "quick" if cfg.quick else "full run", cfg.build_desc, elapsed / 60,
         started, machine(), cfg.work, R.get("disk", {}).get("filesystem", "?"),
         cfg.broker_cpu, "2.0.2", cfg.broker_cpu, cfg.bench_cpu,
         ",".join(str(c) for c in R.get("A", {}).get("cpus", [])) or "?", cfg.broker_cpu,
         cfg.duration, cfg.warmup))
    w("")
    w("### Limits\n")
    rows = []
    for size in TCP_SIZES:
        r = R.get("tcp-" + size)
        rows.append(["loopback TCP, %s B messages, 4 connections, 1 MiB writes" % size,
                     "%s MB/s (%s msg/s)" % (f_num(mbps(r)), f_int(msgs(r))),
                     "round trip p50 %s, p99 %s" % (f_us(lat(r, "round_trip", "p50_us")),
                                                    f_us(lat(r, "round_trip", "p99_us")))])
    d = R.get("disk")
    dw = d.get("write", {}) if d and d.get("ok") else {}
    rows.append(["disk: sequential O_DIRECT writes, 256 KiB, 4 in flight",
                 "%s MB/s" % f_num(dw.get("mb_per_s")), "%s written" % f_mib(dw.get("bytes"))])
    rows.append(["disk: 4 KiB append + fdatasync", "",
                 "p50 %s, p99 %s, p99.9 %s" % (f_us(lat(d, "fdatasync", "p50_us")),
                                              f_us(lat(d, "fdatasync", "p99_us")),
                                              f_us(lat(d, "fdatasync", "p99_9_us")))])
    w(table(["limit", "throughput", "latency"], rows))
    w("\n### Produce (A–E)\n")
    runs = produce_runs()
    runs.insert(3, ("B50", "B", "spindle", B50_BASE))
    rows = [produce_row(rid, R, wl) for rid, _, _, wl in runs if rid in R]
    w(table(["run", "broker", "value B", "partitions", "conns", "acks", "linger ms", "MB/s",
             "msg/s", "ack p50", "p99", "p99.9", "p99.99", "max", "acked/sent"], rows))
    b50 = R.get("B50") or {}
    w("\nEvery produce run but B50: closed loop (as fast as the producer's %d MiB buffer takes "
      "records, so its ack latency is mostly the time records wait in that buffer), %s MiB "
      "batches, %d requests in flight per connection and partition, compression %s, random "
      "(incompressible) values without keys, sticky partitioning (a batch's worth per "
      "partition, then the next); ack latency is from spc_produce() to the delivery report. "
      "B50 is B's workload open loop at 50%% of B's msgs/s (%s msg/s) with linger 1 ms: the "
      "ack latency of B's goal."
      % (BASE["buffer_bytes"] // MIB, BASE["batch_bytes"] // MIB, BASE["inflight"],
         BASE["compression"], f_int(b50.get("target_rate"))))
    w("\n### Consume (F)\n")
    rows = []
    for rid in ("F-cache", "F-disk"):
        r = R.get(rid) or {}
        rec = r.get("records", {})
        rows.append([rid, f_mib(r.get("written_bytes")),
                     f_mib(r.get("broker_cache_bytes")) if r else "–",
                     {True: "yes", False: "no (not root)", None: "–"}[r.get("page_cache_dropped")],
                     f_num(mbps(r)), f_int(msgs(r)), f_int(rec.get("passes")), status(r or None)])
    w(table(["run", "written first", "broker batch cache", "page cache dropped", "MB/s",
             "msg/s", "passes", "status"], rows))
    w("\n### End-to-end latency (G), open loop\n")
    rows = []
    for rid in ("G25", "G50", "G75", "G50-mock"):
        r = R.get(rid)
        if r is None:
            continue
        rows.append([rid, f_int(r.get("target_rate")), f_int(msgs(r))] +
                    [f_us(lat(r, "end_to_end", k)) for k in ("p50_us", "p90_us", "p99_us",
                                                             "p99_9_us", "p99_99_us", "max_us")] +
                    [f_us(lat(r, "produce_ack", "p99_us")), status(r)])
    w(table(["run", "target msg/s", "achieved msg/s", "e2e p50", "p90", "p99", "p99.9",
             "p99.99", "max", "ack p99", "status"], rows))
    w("\nG runs A's workload with linger 1 ms at a fixed rate (records have intended send times; "
      "latency counts from them, so stalls are not hidden); G50-mock runs the mock at 50% of "
      "its own maximum (A-mock). spindle-bench produces and consumes on one thread (its one "
      "CPU), so an achieved rate below the target means producer and consumer together could "
      "not keep up: at high rates G measures the bench as much as the broker.")
    w("\n### Memory (H)\n")
    h = R.get("H") or {}
    w(table(["figure", "value"], [
        ["RSS idle (VmRSS)", f_mib(h.get("idle_rss"))],
        ["RSS with %s partitions" % f_int(h.get("partitions")), f_mib(h.get("rss"))],
        ["per partition", f_num(h.get("per_partition") and h["per_partition"] / KIB,
                                "%.1f KiB")],
        ["time to create them", f_num(h.get("create_s"), "%.1f s")],
        ["status", status(h or None)]]))
    w("\n### Ratios\n")
    a = mbps(R.get("A"))
    w(table(["ratio", "value"], [
        ["Spindle / raw TCP (A / loopback 1 KiB)", f_num(ratio(a, mbps(R.get("tcp-1024"))),
                                                         "%.2f")],
        ["Spindle / raw TCP (C / loopback 100 B)", f_num(ratio(mbps(R.get("C")),
                                                               mbps(R.get("tcp-100"))), "%.2f")],
        ["Spindle / raw disk (A / sequential O_DIRECT)", f_num(ratio(a, dw.get("mb_per_s")),
                                                               "%.2f")],
        ["Spindle / raw disk (B50 ack p99 / fdatasync p99)",
         f_num(ratio(lat(R.get("B50"), "produce_ack", "p99_us"),
                     lat(d, "fdatasync", "p99_us")), "%.1f")],
        ["Spindle / mock (A)", f_num(ratio(a, mbps(R.get("A-mock"))), "%.2f")],
        ["Spindle / mock (C)", f_num(ratio(mbps(R.get("C")), mbps(R.get("C-mock"))), "%.2f")]]))
    w("\n### Goals (issue 13 item 4)\n")
    w(table(["goal", "target", "measured", "how far", "met"],
            [[g, t, m, hf, "yes" if ok else "**no**"] for g, t, m, hf, ok in goals(R)]))
    if charts:
        w("\n### Charts\n")
        for gid, kind, name in charts:
            w("![%s %s](%s/%s)" % (gid, kind, cfg.chart_rel, name))
    w("\n### Running it\n")
    w("`python3 bench/run-scenarios.py --build BUILD` runs everything (about 15 minutes; run it "
      "on a quiet machine) and rewrites this section and `bench/charts/`. Options: `--quick` "
      "(3 s runs, small volumes, written to BUILD/bench-work unless `--results` is given), "
      "`--only limits,A,...,H` (a subset; G needs A or `--g-max-rate`), `--duration S`, "
      "`--warmup S`, `--broker-cpu N` / `--bench-cpu N` (defaults 0 and 1), `--no-mock`, "
      "`--spindle`, `--bench`, `--mock` (executables), `--work DIR` (data dirs, logs, the disk "
      "limit; default BUILD/bench-work), `--results FILE`, `--charts DIR`. Each run's JSON is in "
      "`%s/results.json`; spindle-bench's own options: `spindle-bench --help`." % cfg.chart_rel)
    w("\nThis run: `%s`." % cfg.command)
    w(MARK_END)
    return "\n".join(s) + "\n"


def write_results(path, text):
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if MARK_BEGIN in old and MARK_END in old:
        head = old[:old.index(MARK_BEGIN)]
        tail = old[old.index(MARK_END) + len(MARK_END):].lstrip("\n")
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    with open(path, "w") as f:
        f.write(new)


# ---- Main ------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build", help="meson build dir holding cluster/spindle, "
                   "bench/spindle-bench and tools/kafka-mock (default: build)")
    p.add_argument("--spindle", help="the broker (default: BUILD/cluster/spindle)")
    p.add_argument("--bench", help="spindle-bench (default: BUILD/bench/spindle-bench)")
    p.add_argument("--mock", help="kafka-mock (default: BUILD/tools/kafka-mock)")
    p.add_argument("--work", help="work dir on the disk to measure: data dirs, logs, the disk "
                   "limit (default: BUILD/bench-work)")
    p.add_argument("--quick", action="store_true",
                   help="3 s runs, small volumes, 2,000 partitions for H; results go to the "
                        "work dir unless --results is given")
    p.add_argument("--only", default="limits,A,B,C,D,E,F,G,H",
                   help="comma-separated subset of limits,A,B,C,D,E,F,G,H (G needs A, or "
                        "--g-max-rate)")
    p.add_argument("--duration", type=float, help="measured seconds per run (default 30)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per run (default 5)")
    p.add_argument("--g-max-rate", type=float, help="msgs/s that G's fractions are of "
                   "(default: A's result)")
    p.add_argument("--broker-cpu", default="0", help="CPU of Spindle and the mock (default 0)")
    p.add_argument("--bench-cpu", default="1", help="CPU of spindle-bench (default 1)")
    p.add_argument("--no-mock", action="store_true", help="leave out the mock cluster runs")
    p.add_argument("--results", help="the RESULTS.md to write (default bench/RESULTS.md; "
                   "with --quick WORK/RESULTS.md)")
    p.add_argument("--charts", help="chart dir (default: next to the results file, charts/)")
    return p.parse_args()


def configure(a):
    a.spindle = os.path.abspath(a.spindle or os.path.join(a.build, "cluster/spindle"))
    a.bench = os.path.abspath(a.bench or os.path.join(a.build, "bench/spindle-bench"))
    a.mock = os.path.abspath(a.mock or os.path.join(a.build, "tools/kafka-mock"))
    a.work = os.path.abspath(a.work or os.path.join(a.build, "bench-work"))
    for exe in (a.spindle, a.bench) + (() if a.no_mock else (a.mock,)):
        if not os.access(exe, os.X_OK):
            sys.exit("run-scenarios: %s is not built (see --help)" % exe)
    if shutil.which("taskset") is None:
        sys.exit("run-scenarios: taskset (util-linux) is needed")
    os.makedirs(a.work, exist_ok=True)
    q = a.quick
    a.duration = a.duration if a.duration is not None else (QUICK["duration"] if q else 30.0)
    a.warmup = a.warmup if a.warmup is not None else (QUICK["warmup"] if q else 5.0)
    a.f_cache = QUICK["f_cache"] if q else F_CACHE["bytes"]
    a.f_disk = QUICK["f_disk"] if q else F_DISK["bytes"]
    a.disk_bytes = QUICK["disk"] if q else DISK_BYTES
    a.sync_count = QUICK["sync"] if q else DISK_SYNC_COUNT
    a.tcp_s = QUICK["tcp"] if q else 10.0
    a.h_each = QUICK["h_each"] if q else H_PARTITIONS_EACH
    a.results = os.path.abspath(a.results or (os.path.join(a.work, "RESULTS.md") if q else
                                              os.path.join(HERE, "RESULTS.md")))
    a.charts = os.path.abspath(a.charts or os.path.join(os.path.dirname(a.results), "charts"))
    a.chart_rel = os.path.relpath(a.charts, os.path.dirname(a.results))
    a.only = set(x.strip() for x in a.only.split(",") if x.strip())
    a.command = "python3 bench/run-scenarios.py " + " ".join(sys.argv[1:])
    try:
        desc = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        desc = ""
    a.build_desc = "commit %s" % desc if desc else "this tree"
    return a


def main():
    cfg = configure(parse_args())
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    t0 = time.time()
    R = {}
    steps = [("limits", run_limits), ("F", run_consume), ("G", run_e2e), ("H", run_memory)]
    if "limits" in cfg.only:
        run_limits(cfg, R)
    run_produce(cfg, R, cfg.only)
    for name, fn in steps[1:]:
        if name in cfg.only:
            fn(cfg, R)
    elapsed = time.time() - t0
    charts = write_charts(R, cfg, cfg.charts)
    with open(os.path.join(cfg.charts, "results.json"), "w") as f:
        json.dump(R, f, indent=1, sort_keys=True)
    write_results(cfg.results, section(R, cfg, charts, started, elapsed))
    log("wrote %s and %d chart(s) in %s (%.1f min)" % (cfg.results, len(charts), cfg.charts,
                                                        elapsed / 60))
    for g, t, m, hf, ok in goals(R):
        log("goal %-45s %-12s %s" % (g, m, "met" if ok else "missed"))
    failed = [k for k, v in R.items() if not v.get("ok")]
    if failed:
        log("runs that failed: %s" % ", ".join(sorted(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
