#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""ListOffsets with hand-built requests against records produced with chosen
timestamps: latest, earliest, by time (exact record, in plain and gzip
batches), max timestamp, earliest local, latest tiered, errors and duplicate
partitions; then kcat consumes from -o beginning, -o -2 (from the end) and an offset."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish  # noqa: E402
import kwire  # noqa: E402

exe, smp = args("1")
UNKNOWN_TOPIC, INVALID_REQUEST, UNKNOWN_LEADER_EPOCH = 3, 42, 75


class Conn(kwire.Conn):
    def lo(self, version, topics, **kw):
        return self.ask(kwire.list_offsets_request, kwire.parse_list_offsets, version, topics, **kw)

    def lo1(self, version, topic, partition, ts, epoch=-1):
        return self.lo(version, [(topic, [(partition, ts, epoch)])])[0][1]


def run(b):
    c = Conn(b)
    T = "lo"
    check(c.create_topic(T, 3)[0] == 0, "create topic")
    # p0: ts 1000..1004 | 2000..2004 | 3000, 3001, 9000, 3003, 3004 (max in the middle)
    b1 = kwire.batch_v2([(None, b"a%d" % i, 1000 + i) for i in range(5)])
    b2 = kwire.batch_v2([(None, b"b%d" % i, 2000 + i) for i in range(5)])
    b3 = kwire.batch_v2([(None, b"c%d" % i, t) for i, t in
                         enumerate([3000, 3001, 9000, 3003, 3004])])
    for bt in (b1, b2, b3):
        r = c.produce_v7(T, {0: bt})
        check(r[0][0] == 0, "produce to p0")
    # p1: one gzip batch, ts 100, 200, 300, 400
    g = kwire.batch_v2([(None, b"g%d" % i, 100 * (i + 1)) for i in range(4)], codec=1)
    r = c.produce_v7(T, {1: g})
    check(r[1][0] == 0, "produce a gzip batch to p1")

    for v in (1, 5, 7, 10):
        err, ts, off, epoch = c.lo1(v, T, 0, -1)
        check(err == 0 and off == 15 and ts == -1, "v%d latest = 15" % v)
        if v >= 4:
            check(epoch >= 0, "v%d latest carries a leader epoch (%d)" % (v, epoch))
        err, ts, off, epoch = c.lo1(v, T, 0, -2)
        check(err == 0 and off == 0, "v%d earliest = 0" % v)
    err, ts, off, _ = c.lo(5, [(T, [(0, -1)])], isolation=1)[0][1]
    check(err == 0 and off == 15, "read_committed latest = LSO = 15")
    for ts_q, want in ((0, (0, 1000)), (1000, (0, 1000)), (1003, (3, 1003)), (1500, (5, 2000)),
                       (2002, (7, 2002)), (3002, (12, 9000)), (9000, (12, 9000)),
                       (3003, (12, 9000)), (9001, (-1, -1))):
        err, ts, off, epoch = c.lo1(7, T, 0, ts_q)
        check(err == 0 and (off, ts) == want,
              "by time %d -> offset %d ts %d (got %d %d)" % (ts_q, want[0], want[1], off, ts))
    err, ts, off, epoch = c.lo1(7, T, 1, 250)
    check(err == 0 and (off, ts) == (2, 300), "by time in a gzip batch: exact record (%d %d)" % (off, ts))
    err, ts, off, epoch = c.lo1(7, T, 0, -3)
    check(err == 0 and (off, ts) == (12, 9000), "max timestamp -> 12 @ 9000 (got %d %d)" % (off, ts))
    err, ts, off, epoch = c.lo1(7, T, 1, -3)
    check(err == 0 and (off, ts) == (3, 400), "max timestamp in gzip -> 3 @ 400 (got %d %d)" % (off, ts))
    err, ts, off, epoch = c.lo1(8, T, 0, -4)
    check(err == 0 and off == 0, "earliest local = 0")
    err, ts, off, epoch = c.lo1(9, T, 0, -5)
    check(err == 0 and off == -1, "latest tiered = -1 without tiered storage")
    for q in (-1, -2):
        err, ts, off, epoch = c.lo1(7, T, 2, q)
        check(err == 0 and off == 0, "empty partition: %d -> 0" % q)
    err, ts, off, epoch = c.lo1(7, T, 2, -3)
    check(err == 0 and off == -1 and ts == -1, "empty partition: max timestamp -> -1")
    err, ts, off, epoch = c.lo1(7, T, 2, 5)
    check(err == 0 and off == -1, "empty partition: by time -> -1")
    err = c.lo1(7, "nope", 0, -1)[0]
    check(err == UNKNOWN_TOPIC, "unknown topic: UNKNOWN_TOPIC_OR_PARTITION")
    err = c.lo1(7, T, 5, -1)[0]
    check(err == UNKNOWN_TOPIC, "unknown partition: UNKNOWN_TOPIC_OR_PARTITION")
    err = c.lo1(7, T, 0, -1, epoch=1000)[0]
    check(err == UNKNOWN_LEADER_EPOCH, "future leader epoch: UNKNOWN_LEADER_EPOCH")
    r = c.lo(7, [(T, [(0, -1), (1, -2), (0, -2)])])
    errs = [x[1][0] for x in r]
    check(errs == [INVALID_REQUEST, 0, INVALID_REQUEST], "duplicate partition: INVALID_REQUEST (%s)" % errs)
    r = c.lo(1, [(T, [(0, -1), (0, -2)])])
    check([x[1][0] for x in r] == [0, 0], "v1: duplicates are not checked")
    c.s.close()

    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        print("skip: no kcat")
        return
    def kcat_read(partition, start):
        out = subprocess.run([kcat, "-b", b.bootstrap, "-C", "-t", T, "-p", str(partition), "-o",
                              start, "-e", "-q", "-f", "%o:%s\n"], capture_output=True, text=True,
                             timeout=30)
        return out.stdout.split(), out.stderr[-300:]

    lines, err = kcat_read(0, "beginning")
    check(len(lines) == 15 and lines[0] == "0:a0" and lines[-1] == "14:c4",
          "kcat -o beginning (ListOffsets earliest) reads p0 whole %s" % err)
    lines, err = kcat_read(0, "-2")
    check(lines == ["13:c3", "14:c4"], "kcat -o -2 (two before the latest) reads 13, 14 %s" % err)
    lines, err = kcat_read(1, "2")
    check(lines == ["2:g2", "3:g3"], "kcat -o 2 reads the gzip partition from 2 %s" % err)

with Broker(exe, extra=["--smp", smp]) as b:
    run(b)
    code = b.stop()
    check(code == 0, "broker exits 0 (exit %s)" % code)
    check("runtime error" not in b.log_text(), "no sanitizer report")
finish()
