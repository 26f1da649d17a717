#!/usr/bin/env python3
# spindle-test: runner=python variants=once
"""The connection layer's memory bounds and zero-copy sends, on raw sockets.

Large answers come from Metadata requests that name thousands of topics that
do not exist (auto.create.topics.enable=false): each answer lists every name
with UNKNOWN_TOPIC_OR_PARTITION.

1. Zero-copy: one such answer (well above net's 64 KiB zero-copy threshold)
   from a broker with every io_uring feature and from one capped at Linux
   5.15 (no SENDMSG_ZC) on the same data dir: byte for byte the same, apart
   from the port, and each name in order with its error. The log says
   whether zero-copy was on and how many zero-copy sends there were (none
   with the cap; at least one without, where the kernel has SENDMSG_ZC).
2. A slow reader: a client pipelines many such requests and reads nothing.
   The broker stops reading that socket instead of buffering answers: its
   peak RSS (VmHWM in /proc/<pid>/status) grows by far less than the answers
   add up to. Then the client reads, and every answer arrives, in order and
   whole."""
import os
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish, work_dir  # noqa: E402
import kwire  # noqa: E402

exe, smp = args("3")

TOPICS = 2500     # names per request
NAME_LEN = 200    # bytes per name: about 550 KB per answer
PIPELINED = 160   # about 88 MB of answers for the slow reader
MIB = 1 << 20
# The broker may hold SP_NET_CONN_QUEUED_BYTES_MAX (4 MiB) of answers for a
# connection, a few more in flight, and the frames and arenas of the
# requests being answered; it must not hold them all (about 88 MB).
RSS_GROWTH_MAX = 40 * MIB


def names(prefix):
    return ["%s%05d-%s" % (prefix, i, "n" * (NAME_LEN - 7 - len(prefix))) for i in range(TOPICS)]


def with_corr(req, corr):
    # size (4), ApiKey (2), version (2), then the correlation id
    return req[:8] + struct.pack(">i", corr) + req[12:]


def broker_env(cap=None):
    env = dict(os.environ)  # CI's 6.1-capped rerun keeps its cap (6.1 has SENDMSG_ZC)
    if cap:
        env["SPINDLE_IO_URING_FEATURES"] = cap
    # Under ASan, freed memory sits in a quarantine (256 MB by default) and
    # would count as RSS: keep it small so RSS measures what is held.
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=8"
    return env


def start(data_dir, cap=None):
    b = Broker(exe, data_dir=data_dir, env=broker_env(cap),
               extra=["--smp", smp, "--set", "auto.create.topics.enable=false"])
    return b.start()


def connect(b, rcvbuf=None):
    return kwire.connect(b, timeout=60, rcvbuf=rcvbuf)


# ---- Metadata v12 answers ----------------------------------------------------

def parse_metadata(frame):
    """Returns (correlation id, the frame with every broker port zeroed, [(name, error)])."""
    r = kwire.Reader(frame)
    corr = r.i32()
    r.tags(True)
    r.i32()  # throttle
    out = bytearray(frame)
    for _ in range(r.array_len(True)):
        r.i32()
        r.string(True)
        out[r.pos:r.pos + 4] = b"\0\0\0\0"
        r.i32()
        r.string(True)
        r.tags(True)
    r.string(True)  # cluster id
    r.i32()   # controller
    topics = []
    for _ in range(r.array_len(True)):
        err = r.i16()
        name = r.string(True)
        r.take(16 + 1)  # topic id, is_internal
        for _ in range(r.array_len(True)):
            raise ValueError("an unknown topic with partitions")
        r.i32()  # authorized operations
        r.tags(True)
        topics.append((name, err))
    r.tags(True)
    if r.pos != len(frame):
        raise ValueError("%d bytes after the answer" % (len(frame) - r.pos))
    return corr, bytes(out), topics


def zc_sends(b):
    """Zero-copy sends the shards reported when they stopped."""
    total = 0
    for line in b.log_text().splitlines():
        if "zero-copy sends);" in line:
            total += int(line.split("bytes, ")[1].split(" zero-copy")[0])
    return total


def test_zero_copy(data_dir):
    topics = names("zc")
    req = kwire.metadata_request(7, 12, topics)
    answers = {}
    for cap in (None, "5.15"):
        b = start(data_dir, cap)
        try:
            on = b.wait_log("zero-copy sends of 65536 bytes or more: on")
            with connect(b) as s:
                s.sendall(req)
                frame = kwire.read_frame(s)
            answers[cap] = frame
            corr, normal, got = parse_metadata(frame)
            what = "features %s" % (cap or "all")
            check(corr == 7 and len(frame) > 4 * 65536,
                  "%s: a %d-byte Metadata answer" % (what, len(frame)))
            check(got == [(t, 3) for t in topics],
                  "%s: every name in order, UNKNOWN_TOPIC_OR_PARTITION" % what)
            answers[cap] = normal
        finally:
            rc = b.stop()
        check(rc == 0, "features %s: clean stop" % (cap or "all"))
        sent_zc = zc_sends(b)
        if cap is None:
            print("zero-copy %s, %d zero-copy sends" % ("on" if on else "off", sent_zc))
            check(not on or sent_zc > 0, "zero-copy on: the answer went out zero-copy")
        else:
            check(not on and sent_zc == 0, "capped at 5.15: zero-copy off, none sent")
    check(answers[None] == answers["5.15"], "the same bytes with and without zero-copy")


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def test_slow_reader(data_dir):
    topics = names("slow")
    req = kwire.metadata_request(0, 12, topics)
    b = start(data_dir)
    try:
        pid = b.proc.pid
        # One answered request first, so the baseline includes what any request costs.
        with connect(b) as s:
            s.sendall(with_corr(req, 1))
            expected = parse_metadata(kwire.read_frame(s))[2]
        base = status_kb(pid, "VmRSS")
        s = connect(b, rcvbuf=65536)
        sent = [0]
        send_error = []

        def sender():
            try:
                for i in range(PIPELINED):
                    s.sendall(with_corr(req, 1000 + i))
                    sent[0] += 1
            except OSError as e:
                send_error.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        # Wait, reading nothing, until the sender is stuck: the broker stopped reading.
        last, still = -1, 0
        for _ in range(300):
            time.sleep(0.1)
            still = still + 1 if sent[0] == last else 0
            last = sent[0]
            if still >= 10 or sent[0] == PIPELINED:
                break
        held = status_kb(pid, "VmHWM") - base
        print("slow reader: %d of %d requests taken while not reading; peak RSS +%.1f MiB"
              % (sent[0], PIPELINED, held / MIB))
        check(sent[0] < PIPELINED, "the broker stopped reading a client that does not read")
        check(held < RSS_GROWTH_MAX, "peak RSS grew by %.1f MiB (< %d MiB) while not reading"
              % (held / MIB, RSS_GROWTH_MAX // MIB))
        ok = True
        for i in range(PIPELINED):
            corr, _, got = parse_metadata(kwire.read_frame(s))
            if corr != 1000 + i or got != expected:
                ok = False
                print("answer %d: correlation id %d, %d names" % (i, corr, len(got)))
                break
        t.join(60)
        check(ok and not send_error and sent[0] == PIPELINED,
              "then every answer arrives, in order and whole")
        held = status_kb(pid, "VmHWM") - base
        check(held < RSS_GROWTH_MAX, "peak RSS grew by %.1f MiB (< %d MiB) in all"
              % (held / MIB, RSS_GROWTH_MAX // MIB))
        s.close()
    finally:
        rc = b.stop()
    check(rc == 0, "slow reader: clean stop")


with tempfile.TemporaryDirectory(prefix="spindle-net-", dir=work_dir()) as d:
    test_zero_copy(os.path.join(d, "zc"))
    test_slow_reader(os.path.join(d, "slow"))

finish()
