#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""acks=0 producers that hang up right after sending: a librdkafka producer
(acks=0) that flushes and is closed at once, and raw acks=0 Produce
requests each sent whole and followed by the client's close. Every request
reached the broker before the end of its stream, so every one is appended
(Kafka handles the requests it read before a connection's end)."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import (create_topic, expect, need_confluent, produce_v3, read_partitions,  # noqa: E402
                           record_batch, run, watermarks)

need_confluent()
from confluent_kafka import Producer  # noqa: E402

T = 30
CLIENT_MSGS = 5
RAW_MSGS = 20


def body(b):
    create_topic(b.bootstrap, "hangup", 1)
    sent = []
    for i in range(CLIENT_MSGS):
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": 0})
        errs = []
        v = b"librdkafka-%d" % i
        p.produce("hangup", value=v, partition=0, on_delivery=lambda err, m: errs.append(err))
        expect(p.flush(T) == 0 and errs == [None], "acks=0 produce %d: %s" % (i, errs))
        del p  # closes its connections now
        sent.append(v)
    ts = int(time.time() * 1000)
    for i in range(RAW_MSGS):
        v = b"raw-%d" % i
        s = socket.create_connection((b.host, b.port), timeout=T)
        s.sendall(produce_v3(1, 0, "hangup", 0, record_batch([v], ts)))
        s.close()
        sent.append(v)
    want = {0: (0, len(sent))}
    for _ in range(50):  # acks=0 has no answer to wait for
        marks = watermarks(b.bootstrap, "hangup", [0])
        if marks == want:
            break
        time.sleep(0.1)
    expect(marks == want, "watermarks %s, want %s: %d of %d acks=0 requests followed by a close "
           "were dropped" % (marks, want, len(sent) - marks[0][1], len(sent)))
    got = read_partitions(b.bootstrap, "hangup", {0: len(sent)})
    # One connection each: their order in the partition is not defined.
    expect(sorted(m.value() for m in got[0]) == sorted(sent), "hangup holds %s" % [m.value() for m in got[0]])
    return "%d acks=0 requests from senders that hung up at once, all appended" % len(sent)


run(body, name="acks=0 then hang up")
