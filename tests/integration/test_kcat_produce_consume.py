#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""kcat as a user runs it: produce keyed lines with headers (-P -K -H) into
a topic it auto-creates, see the topic in -L with its partitions, consume
everything back (-C -e) and find every key, value, header, partition and
offset exactly as sent; then -Q finds offsets by timestamp."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients_kafka  # noqa: E402
from clients_kafka import expect, need_kcat  # noqa: E402

need_kcat()

TOPIC = "kcat-events"
PARTITIONS = 3


def kcat(b, *argv, stdin=None):
    return clients_kafka.kcat(b.bootstrap, *argv, stdin=stdin).stdout


def body(b):
    # 1. Keys and headers into explicit partitions: kcat -P -p N -K: -H.
    sent = []  # (partition, key, value, headers)
    for p in range(PARTITIONS):
        lines = ["k%d-%d:value %d of partition %d" % (p, i, i, p) for i in range(4)]
        hdrs = [("source", "kcat"), ("part", str(p))]
        kcat(b, "-P", "-t", TOPIC, "-p", str(p), "-K", ":", "-X", "acks=all",
             *sum((["-H", "%s=%s" % h] for h in hdrs), []), stdin="\n".join(lines) + "\n")
        for line in lines:
            k, v = line.split(":", 1)
            sent.append((p, k, v, hdrs))

    # 2. The topic kcat created, with num.partitions partitions led by us.
    md = json.loads(kcat(b, "-L", "-J", "-t", TOPIC))
    topics = {t["topic"]: t for t in md["topics"]}
    expect(TOPIC in topics and "error" not in topics[TOPIC],
           "-L does not list %s cleanly: %s" % (TOPIC, md["topics"]))
    parts = sorted(topics[TOPIC]["partitions"], key=lambda p: p["partition"])
    expect([p["partition"] for p in parts] == list(range(PARTITIONS)),
           "-L partitions %s, want 0..%d" % (parts, PARTITIONS - 1))
    expect(all(p["leader"] == 1 and [r["id"] for r in p["replicas"]] == [1]
               and [r["id"] for r in p["isrs"]] == [1] for p in parts),
           "-L leaders/replicas/isrs: %s" % parts)

    # 3. Everything back, with keys and headers, from the beginning.
    out = kcat(b, "-C", "-t", TOPIC, "-o", "beginning", "-e", "-J")
    got = [json.loads(line) for line in out.splitlines() if line.strip()]
    got.sort(key=lambda m: (m["partition"], m["offset"]))
    want = []
    for p in range(PARTITIONS):
        mine = [s for s in sent if s[0] == p]
        for off, (_, k, v, hdrs) in enumerate(mine):
            want.append({"partition": p, "offset": off, "key": k, "payload": v,
                         "headers": dict(hdrs)})
    have = [{"partition": m["partition"], "offset": m["offset"], "key": m.get("key"),
             "payload": m.get("payload"), "headers": _headers(m.get("headers"))} for m in got]
    expect(have == want, "consumed %s\nwant %s" % (have, want))
    expect(all(m["topic"] == TOPIC and m["broker"] == 1 for m in got),
           "topic/broker fields: %s" % got[:2])

    # 4. The format string a user would type; headers in the order sent.
    out = kcat(b, "-C", "-t", TOPIC, "-p", "1", "-o", "beginning", "-e",
               "-f", "%t [%p] @%o key=%k value=%s headers=%h\n")
    want_lines = ["%s [1] @%d key=k1-%d value=value %d of partition 1 headers=source=kcat,part=1"
                  % (TOPIC, i, i, i) for i in range(4)]
    expect(out.splitlines() == want_lines, "-f output %r\nwant %r" % (out.splitlines(), want_lines))

    # 5. Keys without a partition: librdkafka's partitioner sends one key to
    # one partition, so per key the values come back in the order sent.
    keyed = ["user-%d:event %d" % (i % 5, i) for i in range(40)]
    kcat(b, "-P", "-t", TOPIC, "-K", ":", stdin="\n".join(keyed) + "\n")
    out = kcat(b, "-C", "-t", TOPIC, "-o", "beginning", "-e", "-J")
    got = [json.loads(line) for line in out.splitlines() if line.strip()]
    expect(len(got) == len(sent) + len(keyed), "%d messages back, want %d" % (len(got), len(sent) + len(keyed)))
    by_key = {}
    for m in sorted(got, key=lambda m: (m["partition"], m["offset"])):
        if m["key"].startswith("user-"):
            by_key.setdefault(m["key"], []).append((m["partition"], m["payload"]))
    for i in range(5):
        k = "user-%d" % i
        seen = by_key.get(k, [])
        expect(len({p for p, _ in seen}) == 1, "key %s spread over partitions %s" % (k, seen))
        expect([v for _, v in seen] == ["event %d" % j for j in range(i, 40, 5)],
               "key %s values %s" % (k, [v for _, v in seen]))
    offsets = {}
    for m in got:
        offsets.setdefault(m["partition"], []).append(m["offset"])
    for p, offs in offsets.items():
        expect(sorted(offs) == list(range(len(offs))), "partition %d offsets %s" % (p, sorted(offs)))

    # 6. -Q: the offset of partition 0's third message by its timestamp.
    p0 = sorted((m for m in got if m["partition"] == 0), key=lambda m: m["offset"])
    ts = p0[2]["ts"]
    want_off = min(m["offset"] for m in p0 if m["ts"] >= ts)
    out = kcat(b, "-Q", "-t", "%s:0:%d" % (TOPIC, ts))
    expect(("%s [0] offset %d" % (TOPIC, want_off)) in out, "-Q answered %r, want offset %d" % (out, want_off))
    return "%d messages through kcat with keys and headers" % len(got)


def _headers(h):
    if h is None:
        return None
    if isinstance(h, list):  # some kcat versions: [name, value, ...]
        return dict(zip(h[0::2], h[1::2]))
    return h


clients_kafka.run(body, extra=["--set", "num.partitions=%d" % PARTITIONS], name="kcat produce and consume")
