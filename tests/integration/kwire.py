"""Hand-built Kafka frames for the raw-socket tests (stdlib only)."""
import socket
import struct


def request(api_key, version, corr, body=b"", client=b"it", flexible=False):
    hdr = struct.pack(">hhi", api_key, version, corr) + struct.pack(">h", len(client)) + client
    if flexible:
        hdr += b"\x00"  # header tagged fields
    payload = hdr + body
    return struct.pack(">i", len(payload)) + payload


def api_versions(corr, version=0):
    if version >= 3:
        # client software name and version (compact strings), tagged fields
        body = b"\x03it\x021" + b"\x00"
        return request(18, version, corr, body, flexible=True)
    return request(18, version, corr)


def metadata_v1(corr, topics=(), version=1):
    body = struct.pack(">i", len(topics))
    for t in topics:
        body += struct.pack(">h", len(t)) + t.encode()
    return request(3, version, corr, body)


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def metadata_flex(corr, topics, version=12):
    body = uvarint(len(topics) + 1)
    for t in topics:
        body += b"\x00" * 16 + uvarint(len(t) + 1) + t.encode() + b"\x00"
    body += b"\x01" + b"\x00" + b"\x00"  # allow auto create, include topic ops, tags
    if version <= 10:
        raise ValueError("flexible metadata from v9; this helper writes v11+")
    return request(3, version, corr, body, flexible=True)


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_frame(s):
    (size,) = struct.unpack(">i", read_exact(s, 4))
    return read_exact(s, size)


def is_closed(s, timeout=5.0):
    """True when the peer closes (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def parse_api_versions_v0(frame):
    corr, err, n = struct.unpack(">ihi", frame[:10])
    keys = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", frame[10 + 6 * i:16 + 6 * i])
        keys[k] = (lo, hi)
    return corr, err, keys
