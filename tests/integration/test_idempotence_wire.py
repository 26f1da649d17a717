#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""The idempotent producer with hand-built requests, so every sequence
number is chosen: InitProducerId hands out fresh ids at epoch 0 (and refuses
transactional ids); a retry of one of the last 5 batches is answered with
its original offset and appends nothing, also while pipelined behind the
original; a sequence gap or an old batch is OUT_OF_ORDER_SEQUENCE_NUMBER; an
older epoch is INVALID_PRODUCER_EPOCH; a new epoch starts at sequence 0; an
unknown producer id is accepted at any sequence (KIP-360). Then the state
survives a clean restart and a kill -9, with and without a producer
snapshot behind the log's tail: retries are still de-duplicated."""
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, failures, finish, guard, work_dir  # noqa: E402
import kwire  # noqa: E402

exe, smp = args("2")

E_OUT_OF_ORDER, E_EPOCH, E_TXN_AUTH = 45, 47, 53


class Client(kwire.Conn):
    def __init__(self, b):
        super().__init__(b, timeout=15)

    def create(self, name, parts):
        return self.create_topic(name, parts)[0]

    def init_pid(self, version=4, txn=None):
        return self.ask(kwire.init_producer_id_request, kwire.parse_init_producer_id, version,
                        transactional_id=txn)

    def send(self, topic, part, batch, version=9):
        """(error, base_offset, message)"""
        r = self.ask(kwire.produce_request, kwire.parse_produce, version,
                     [(topic, [(part, batch)])])[0]
        return r[2], r[3], r[6]

    def fetch_values(self, topic, part):
        out, offset = [], 0
        while True:
            f = self.ask(kwire.fetch_request, kwire.parse_fetch, 11,
                         [(topic, [(part, offset, 1 << 20)])])
            batches = kwire.parse_batches(f["topics"][0][1][0]["records"] or b"")
            if not batches:
                return out
            for bt in batches:
                out.extend(rec[2] for rec in bt["records"])
                offset = bt["last"] + 1


def batch(pid, epoch, seq, n=1, tag="v", size=0):
    ts = int(time.time() * 1000)
    return kwire.batch_v2([(None, b"%s-%d" % (tag.encode(), seq + i) + b"x" * size, ts)
                           for i in range(n)], producer_id=pid, producer_epoch=epoch,
                          base_seq=seq)


def test_init_producer_id(b):
    c = Client(b)
    ids = set()
    for version in (0, 1, 2, 3, 4, 5):
        err, pid, epoch = c.init_pid(version)
        check(err == 0 and pid >= 0 and epoch == 0,
              "InitProducerId v%d: a producer id at epoch 0 (%d, %d, %d)" % (version, err, pid,
                                                                             epoch))
        ids.add(pid)
    check(len(ids) == 6, "every InitProducerId gets a fresh producer id")
    err, pid, epoch = c.init_pid(4, txn="my-txn")
    check(err == E_TXN_AUTH and pid == -1, "a transactional id is refused (%d)" % err)
    c.close()


def test_sequences(b):
    c = Client(b)
    check(c.create("idem", 1) == 0, "create idem")
    _, pid, _ = c.init_pid()
    check(c.send("idem", 0, batch(pid, 0, 0, 2))[:2] == (0, 0), "seq 0-1 at offset 0")
    check(c.send("idem", 0, batch(pid, 0, 2, 3))[:2] == (0, 2), "seq 2-4 at offset 2")
    check(c.send("idem", 0, batch(pid, 0, 0, 2))[:2] == (0, 0),
          "a retry of seq 0-1 answers its original offset 0")
    check(c.send("idem", 0, batch(pid, 0, 2, 3))[:2] == (0, 2), "a retry of seq 2-4 answers 2")
    err, base, msg = c.send("idem", 0, batch(pid, 0, 7))
    check(err == E_OUT_OF_ORDER and base == -1 and msg,
          "a gap (7 after 4): OUT_OF_ORDER_SEQUENCE_NUMBER (%r)" % msg)
    check(c.send("idem", 0, batch(pid, 0, 1, 1))[0] == E_OUT_OF_ORDER,
          "a batch overlapping an old one but not equal to it: OUT_OF_ORDER_SEQUENCE_NUMBER")
    check(c.send("idem", 0, batch(pid, 0, 5))[:2] == (0, 5), "seq 5 in order at offset 5")
    # Six more batches: the first ones fall out of the last 5.
    for i in range(6):
        check(c.send("idem", 0, batch(pid, 0, 6 + i))[:2] == (0, 6 + i), "seq %d" % (6 + i))
    check(c.send("idem", 0, batch(pid, 0, 11))[:2] == (0, 11), "seq 11 (in the last 5) dedups")
    check(c.send("idem", 0, batch(pid, 0, 6))[0] == E_OUT_OF_ORDER,
          "seq 6 (no longer among the last 5): OUT_OF_ORDER_SEQUENCE_NUMBER")
    # Epochs.
    check(c.send("idem", 0, batch(pid, 1, 3))[0] == E_OUT_OF_ORDER,
          "a new epoch must start at sequence 0")
    check(c.send("idem", 0, batch(pid, 1, 0))[:2] == (0, 12), "epoch 1 from seq 0 at 12")
    check(c.send("idem", 0, batch(pid, 0, 12))[0] == E_EPOCH, "epoch 0 after 1: "
          "INVALID_PRODUCER_EPOCH")
    check(c.send("idem", 0, batch(pid, 1, 0))[:2] == (0, 12), "epoch 1 retry dedups")
    # KIP-360: an unknown producer id starts anywhere.
    check(c.send("idem", 0, batch(987654321, 3, 42))[:2] == (0, 13),
          "an unknown producer id is accepted at sequence 42")
    check(c.send("idem", 0, batch(987654321, 3, 43))[:2] == (0, 14), "and continues at 43")
    # Sequences wrap from 2^31-1 to 0.
    check(c.send("idem", 0, batch(55555, 0, 2147483646, 3))[:2] == (0, 15),
          "a batch across the sequence wrap (2147483646..0)")
    check(c.send("idem", 0, batch(55555, 0, 2147483646, 3))[:2] == (0, 15),
          "its retry is a duplicate")
    check(c.send("idem", 0, batch(55555, 0, 1))[:2] == (0, 18), "sequence 1 follows it")
    values = c.fetch_values("idem", 0)
    check(len(values) == 19 and values[0] == b"v-0" and values[12] == b"v-0",
          "the log holds each batch once (%d records)" % len(values))
    c.close()


def test_pipelined_retry(b):
    """A retry pipelined right behind its original (still waiting for its
    ack) is a duplicate, answered with the same offset."""
    c = Client(b)
    check(c.create("pipe", 1) == 0, "create pipe")
    _, pid, _ = c.init_pid()
    frames = []
    for i in range(5):
        bt = batch(pid, 0, i)
        frames.append(kwire.produce_request(100 + 2 * i, 9, [("pipe", [(0, bt)])]))
        frames.append(kwire.produce_request(101 + 2 * i, 9, [("pipe", [(0, bt)])]))
    c.s.sendall(b"".join(frames))
    res = [kwire.parse_produce(kwire.read_frame(c.s), 9)[0] for _ in frames]
    check([(r[2], r[3]) for r in res] == [(0, i // 2) for i in range(10)],
          "original and pipelined retry get the same offsets")
    check(len(c.fetch_values("pipe", 0)) == 5, "the retries appended nothing")
    c.close()


def test_restart(kind, sig, big):
    """Produces, optionally past a producer snapshot, restarts (clean or
    crash) and retries the last batches: still duplicates."""
    d = tempfile.mkdtemp(prefix="spindle-idem-", dir=work_dir())
    try:
        b = Broker(exe, data_dir=d, extra=["--smp", smp]).start()
        c = Client(b)
        topic = "rs"
        check(c.create(topic, 1) == 0, "%s: create" % kind)
        _, pid, _ = c.init_pid()
        seq = 0
        if big:
            # Past SP_PSTATE_SNAPSHOT_BYTES (8 MiB): a snapshot, then a tail after it.
            for _ in range(9):
                check(c.send(topic, 0, batch(pid, 0, seq, 1, size=1000000))[0] == 0,
                      "%s: big batch %d" % (kind, seq))
                seq += 1
            time.sleep(0.5)
            snaps = [f for f in os.listdir(os.path.join(d, topic + "-0"))
                     if f.startswith("producer-") and f.endswith(".snapshot")]
            check(len(snaps) >= 1, "%s: a producer snapshot was written (%r)" % (kind, snaps))
        offs = []
        for i in range(4):
            err, base, _ = c.send(topic, 0, batch(pid, 0, seq + 2 * i, 2))
            offs.append(base)
            check(err == 0, "%s: batch seq %d" % (kind, seq + 2 * i))
        c.close()
        rc = b.stop(sig)
        check(rc == 0 if sig == signal.SIGTERM else True, "%s: broker stopped" % kind)
        b = Broker(exe, data_dir=d, extra=["--smp", smp]).start()
        c = Client(b)
        # The last 4 batches, retried as a producer does after a reconnect.
        for i in range(4):
            err, base, _ = c.send(topic, 0, batch(pid, 0, seq + 2 * i, 2))
            check((err, base) == (0, offs[i]),
                  "%s: retry of seq %d answers its original offset %d (got %d, %d)" % (
                      kind, seq + 2 * i, offs[i], err, base))
        err, base, _ = c.send(topic, 0, batch(pid, 0, seq + 20))
        check(err == E_OUT_OF_ORDER, "%s: a gap after the restart is still refused" % kind)
        err, base, _ = c.send(topic, 0, batch(pid, 0, seq + 8))
        check((err, base) == (0, offs[-1] + 2), "%s: the next sequence appends at %d" % (
            kind, offs[-1] + 2))
        values = c.fetch_values(topic, 0)
        check(len(values) == seq + 8 + 1, "%s: nothing appended twice (%d records)" % (
            kind, len(values)))
        c.close()
        rc = b.stop()
        check(rc == 0, "%s: the restarted broker exits 0 on SIGTERM (rc %r)" % (kind, rc))
        if failures:
            print(b.log_text()[-3000:])
    finally:
        shutil.rmtree(d, ignore_errors=True)


with Broker(exe, extra=["--smp", smp]) as b:
    for t in (test_init_producer_id, test_sequences, test_pipelined_retry):
        guard(t.__name__, t, b)
    rc = b.stop()
    check(rc == 0, "broker exits 0 on SIGTERM (rc %r)" % rc)
    if failures:
        print(b.log_text()[-4000:])

for kind, sig, big in (("clean restart", signal.SIGTERM, False),
                       ("kill -9", signal.SIGKILL, False),
                       ("kill -9 after a snapshot", signal.SIGKILL, True)):
    guard(kind, test_restart, kind, sig, big)

finish()
