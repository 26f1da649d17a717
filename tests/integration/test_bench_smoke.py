#!/usr/bin/env python3
# spindle-test: runner=python variants=once
"""spindle-bench's smoke run against a real Spindle: produce, consume, e2e
and the limits each complete in a few seconds and report non-zero,
consistent numbers (every record acknowledged and consumed back, latency
percentiles in order, valid JSON). It asserts nothing about speed."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Broker, check, finish, guard  # noqa: E402

PCTS = ["min_us", "p50_us", "p90_us", "p99_us", "p99_9_us", "p99_99_us", "max_us"]
COUNT = 20000


def bench(exe, *args, timeout=60):
    cmd = [exe] + [str(a) for a in args] + ["--json", "--quiet"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = None
    check(res is not None, "%s: valid JSON (exit %d, stderr %s)" % (args[0], p.returncode,
                                                                    p.stderr[-500:]))
    check(p.returncode == 0, "%s: exit 0 (got %d)" % (" ".join(args[:2]), p.returncode))
    return res or {}


def monotonic(h, what):
    vals = [h.get(k) for k in PCTS]
    check(h.get("count", 0) > 0 and all(v is not None for v in vals) and vals[1] > 0 and
          all(a <= b for a, b in zip(vals, vals[1:])),
          "%s: percentiles non-zero and in order %s" % (what, vals))


def produce_consume(exe, b):
    res = bench(exe, "produce", "--brokers", b.bootstrap, "--topic", "smoke", "--partitions", 4,
                "--count", COUNT, "--size", "uniform:64:2048", "--acks", 1, "--connections", 2)
    rec = res.get("records", {})
    check(res.get("ok") is True, "produce: ok (%s)" % res.get("error"))
    check(rec.get("sent") == COUNT and rec.get("acked") == COUNT and rec.get("failed") == 0,
          "produce: %d sent, all acked (%s)" % (COUNT, rec))
    check(res.get("topic_partitions") == 4, "produce: the topic has 4 partitions")
    check(res.get("throughput", {}).get("mb_per_s", 0) > 0, "produce: MB/s > 0")
    check(res.get("latency", {}).get("produce_ack", {}).get("count") == COUNT,
          "produce: one ack latency per record")
    monotonic(res.get("latency", {}).get("produce_ack", {}), "produce ack")
    produced = res.get("bytes", {}).get("acked")

    res = bench(exe, "consume", "--brokers", b.bootstrap, "--topic", "smoke")
    rec = res.get("records", {})
    check(res.get("ok") is True, "consume: ok (%s)" % res.get("error"))
    check(rec.get("consumed") == COUNT and rec.get("expected") == COUNT,
          "consume: consumed == produced == %d (%s)" % (COUNT, rec))
    check(res.get("bytes", {}).get("consumed") == produced,
          "consume: bytes consumed == bytes produced (%s)" % produced)
    check(res.get("throughput", {}).get("msgs_per_s", 0) > 0, "consume: msg/s > 0")


def e2e_keyed(exe, b):
    res = bench(exe, "e2e", "--brokers", b.bootstrap, "--topic", "smoke-e2e", "--partitions", 3,
                "--rate", 3000, "--duration", 2, "--warmup", 0.5, "--size", 256, "--acks", "all",
                "--linger-ms", 1, "--fetch-max-wait-ms", 100)
    rec = res.get("records", {})
    check(res.get("ok") is True, "e2e: ok (%s)" % res.get("error"))
    check(rec.get("sent", 0) > 3000 and rec.get("acked") == rec.get("sent") and
          rec.get("consumed", 0) - rec.get("foreign", 0) == rec.get("acked"),
          "e2e: every record acked and consumed back (%s)" % rec)
    lat = res.get("latency", {})
    monotonic(lat.get("end_to_end", {}), "e2e end-to-end")
    monotonic(lat.get("produce_ack", {}), "e2e produce ack")
    check(len(res.get("series", [])) >= 2, "e2e: a series point per second")

    res = bench(exe, "produce", "--brokers", b.bootstrap, "--topic", "smoke-keyed",
                "--partitions", 5, "--count", 3000, "--keyed", "--keys", 100,
                "--compression", "lz4", "--payload", "text")
    rec = res.get("records", {})
    check(res.get("ok") is True and rec.get("acked") == 3000 and rec.get("failed") == 0,
          "keyed lz4 produce: all acked (%s)" % rec)


def limits(exe):
    res = bench(exe, "limits", "tcp", "--duration", 1, "--connections", 2)
    check(res.get("throughput", {}).get("mb_per_s", 0) > 0, "limits tcp: MB/s > 0")
    monotonic(res.get("round_trip", {}), "limits tcp round trip")
    res = bench(exe, "limits", "disk", "--dir", harness.work_dir(), "--disk-bytes", "16M",
                "--sync-count", 50)
    check(res.get("write", {}).get("mb_per_s", 0) > 0, "limits disk: MB/s > 0")
    monotonic(res.get("fdatasync", {}), "limits disk fdatasync")


def main():
    exe, smp = harness.args()
    sb = os.path.join(os.environ.get("SPINDLE_BUILD_ROOT", "build"), "bench/spindle-bench")
    if not os.access(sb, os.X_OK):
        print("skip: %s is not built" % sb)
        sys.exit(77)
    guard("limits", limits, sb)
    b = Broker(exe, extra=["--smp", smp]).start()
    try:
        guard("produce/consume", produce_consume, sb, b)
        guard("e2e/keyed", e2e_keyed, sb, b)
    finally:
        b.close()
    finish(b.log_text())


if __name__ == "__main__":
    main()
