#!/usr/bin/env python3
# spindle-test: runner=python variants=matrix
"""Raw-socket tests of the connection layer and the dispatcher: pipelining,
framing limits, malformed input, version negotiation, many connections,
max.connections and connections.max.idle.ms. The broker must survive all of
it and exit 0 on SIGTERM."""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, finish  # noqa: E402
import kwire  # noqa: E402

# What ApiVersions must list: ApiKey -> (min, max).
SERVED = {0: (0, 11), 1: (0, 17), 2: (0, 10), 3: (0, 12), 8: (0, 9), 9: (0, 9), 10: (0, 6),
          11: (0, 9), 12: (0, 4), 13: (0, 5), 14: (0, 5), 15: (0, 5), 16: (0, 5), 18: (0, 4),
          19: (0, 7), 20: (0, 6), 22: (0, 5), 32: (0, 4), 33: (0, 2), 37: (0, 3), 42: (0, 2),
          44: (0, 1), 47: (0, 0), 68: (0, 0), 69: (0, 0)}
# The admin APIs (cluster/api_admin*.c).
SERVED.update({21: (0, 2), 23: (0, 4), 35: (0, 4), 43: (0, 2), 60: (0, 1), 61: (0, 0),
               75: (0, 0)})

exe, smp = args("2")


def connect(b):
    return kwire.connect(b, timeout=10)


def final_api_versions(b, what):
    with connect(b) as s:
        s.sendall(kwire.api_versions(4242))
        corr, err, keys = kwire.parse_api_versions_v0(kwire.read_frame(s))
        check(corr == 4242 and err == 0 and 18 in keys and 3 in keys, what)


def run_main(b):
    # Pipelined requests of several APIs and versions, answered in order.
    with connect(b) as s:
        reqs = [kwire.api_versions(1), kwire.metadata_request(2, 1, ["nope"]),
                kwire.api_versions(3, 3), kwire.metadata_request(4, 12, ["x", "y"]),
                kwire.api_versions(5)]
        s.sendall(b"".join(reqs))
        corrs = []
        for _ in reqs:
            f = kwire.read_frame(s)
            corrs.append(kwire.corr_of(f))
        check(corrs == [1, 2, 3, 4, 5], "pipelined responses in request order %s" % corrs)

    # ApiVersions v0: exactly the APIs served, at the versions served.
    with connect(b) as s:
        s.sendall(kwire.api_versions(7))
        corr, err, keys = kwire.parse_api_versions_v0(kwire.read_frame(s))
        check(corr == 7 and err == 0 and keys == SERVED,
              "ApiVersions lists exactly what has a handler: %s" % keys)

    # ApiVersions v99: the v0 fallback with error 35 and the list.
    with connect(b) as s:
        s.sendall(kwire.api_versions(8, 99))
        corr, err, keys = kwire.parse_api_versions_v0(kwire.read_frame(s))
        check(corr == 8 and err == 35 and keys.get(18) == (0, 4),
              "ApiVersions v99 gets v0 with UNSUPPORTED_VERSION and the list")

    # Metadata v1 for a missing topic: the broker, and error 3 on the topic.
    with connect(b) as s:
        s.sendall(kwire.metadata_request(9, 1, ["missing"]))
        f = kwire.read_frame(s)
        corr, nb = struct.unpack(">ii", f[:8])
        node, hl = struct.unpack(">ih", f[8:14])
        host = f[14:14 + hl].decode()
        (port,) = struct.unpack(">i", f[14 + hl:18 + hl])
        check(corr == 9 and nb == 1 and node == 1 and host == b.host and port == b.port,
              "Metadata v1 names this broker (%s %s:%s)" % (node, host, port))
        check(f.find(b"\x00\x03" + struct.pack(">h", 7) + b"missing") >= 0,
              "Metadata v1: missing topic has UNKNOWN_TOPIC_OR_PARTITION")

        # Unsupported Metadata version: error 35 on the topic, connection kept.
        s.sendall(kwire.metadata_request(10, 13, ["t13"]))
        f = kwire.read_frame(s)
        check(kwire.corr_of(f) == 10 and f.find(b"\x00\x23\x04t13") >= 0,
              "Metadata v13 answers UNSUPPORTED_VERSION on its topic")
        s.sendall(kwire.api_versions(11))
        check(kwire.corr_of(kwire.read_frame(s)) == 11,
              "connection stays open after an unsupported version")

    # A frame sent one byte at a time.
    with connect(b) as s:
        for byte in kwire.metadata_request(12, 1, ["slow"]):
            s.send(bytes([byte]))
            time.sleep(0.001)
        check(kwire.corr_of(kwire.read_frame(s)) == 12,
              "a request sent byte by byte is answered")

    # A large frame (well above one receive buffer) is assembled and answered.
    with connect(b) as s:
        topics = ["t%05d" % i for i in range(5000)]
        s.sendall(kwire.metadata_request(13, 1, topics))
        f = kwire.read_frame(s)
        check(kwire.corr_of(f) == 13 and f.count(b"\x00\x03\x00\x06t") == 5000,
              "a 5000-topic Metadata request spanning buffers is answered in full")

    # Errors that close the connection.
    cases = [
        ("oversized frame", struct.pack(">i", 200 * 1024 * 1024) + b"x" * 16),
        ("negative size", struct.pack(">i", -5) + b"x" * 16),
        ("zero size", struct.pack(">i", 0)),
        ("garbage header", struct.pack(">i", 3) + b"\x00\x12\x00"),
        ("unknown ApiKey", kwire.request(9999, 0, 1)),
        ("ApiKey without a handler (UpdateFeatures)", kwire.request(57, 0, 1, b"\x00" * 20)),
        ("malformed Metadata body", kwire.request(3, 1, 1, b"\x00\x00\x00\x05\x00")),
    ]
    for what, data in cases:
        with connect(b) as s:
            s.sendall(data)
            check(kwire.is_closed(s), "%s closes the connection" % what)

    # Many concurrent connections, all answered.
    socks = [connect(b) for _ in range(200)]
    for i, s in enumerate(socks):
        s.sendall(kwire.api_versions(1000 + i))
    ok = 0
    for i, s in enumerate(socks):
        if kwire.corr_of(kwire.read_frame(s)) == 1000 + i:
            ok += 1
        s.close()
    check(ok == 200, "200 concurrent connections answered (%d)" % ok)

    # Deep pipelining beyond the in-flight bound still completes in order.
    with connect(b) as s:
        n = 1000
        s.sendall(b"".join(kwire.api_versions(i) for i in range(n)))
        got = [kwire.corr_of(kwire.read_frame(s)) for _ in range(n)]
        check(got == list(range(n)), "1000 pipelined requests answered in order")

    final_api_versions(b, "broker still answers after the error cases")


def run_limits(exe, smp):
    b = Broker(exe, extra=["--smp", smp, "--set", "max.connections=3",
                           "--set", "connections.max.idle.ms=500"])
    with b:
        held = [connect(b) for _ in range(3)]
        for i, s in enumerate(held):
            s.sendall(kwire.api_versions(i))
            kwire.read_frame(s)
        extra = connect(b)
        check(kwire.is_closed(extra), "max.connections=3: the 4th connection is closed")
        extra.close()
        check(b.wait_log("max.connections"), "max.connections refusal is logged")
        # Idle ones go after connections.max.idle.ms.
        t0 = time.time()
        check(all(kwire.is_closed(s, 5) for s in held), "idle connections closed")
        check(time.time() - t0 < 4, "idle close within about connections.max.idle.ms")
        for s in held:
            s.close()
        final_api_versions(b, "broker answers once idle connections are gone")
        rc = b.stop()
        check(rc == 0, "exit 0 on SIGTERM (limits broker)")


# Auto-creation off: the missing topics asked for here must stay missing.
b = Broker(exe, extra=["--smp", smp, "--set", "auto.create.topics.enable=false"])
with b:
    try:
        run_main(b)
    finally:
        rc = b.stop()
    check(rc == 0, "exit 0 on SIGTERM")
    check(b.wait_log("request size") and b.wait_log("unknown ApiKey 9999"),
          "closing reasons are logged")
run_limits(exe, smp)

finish(log=b.log_text())
