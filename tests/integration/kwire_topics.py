"""Hand-built CreateTopics, Metadata, CreatePartitions and DeleteTopics
frames at any version served, and their parsers (the topics tests; stdlib
only, on top of kwire's framing)."""
import struct

from kwire import request, uvarint


def kstr(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(b)) + b


def cstr(s):
    if s is None:
        return b"\x00"
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


class Reader:
    """A cursor over a response frame."""

    def __init__(self, buf, pos=0):
        self.buf = buf
        self.pos = pos

    def take(self, n):
        out = self.buf[self.pos:self.pos + n]
        if len(out) != n:
            raise ValueError("short frame")
        self.pos += n
        return out

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uuid(self):
        return self.take(16)

    def uvarint(self):
        n = shift = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def string(self, flex):
        n = self.uvarint() - 1 if flex else self.i16()
        return None if n < 0 else self.take(n).decode()

    def array_len(self, flex):
        return self.uvarint() - 1 if flex else self.i32()

    def tags(self, flex):
        if flex:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.take(self.uvarint())


def _s(s, flex):
    return cstr(s) if flex else kstr(s)


def _arr(items, flex):
    return uvarint(len(items) + 1) if flex else struct.pack(">i", len(items))


def _tags(flex):
    return b"\x00" if flex else b""


def create_topics_request(corr, v, topics, validate_only=False, timeout_ms=30000):
    """topics: [dict(name, parts=-1, rf=-1, assign=[(index, [brokers])], configs=[(k, v)])]."""
    flex = v >= 5
    body = _arr(topics, flex)
    for t in topics:
        body += _s(t["name"], flex) + struct.pack(">ih", t.get("parts", -1), t.get("rf", -1))
        assign = t.get("assign", [])
        body += _arr(assign, flex)
        for idx, brokers in assign:
            body += struct.pack(">i", idx) + _arr(brokers, flex)
            body += b"".join(struct.pack(">i", x) for x in brokers) + _tags(flex)
        configs = t.get("configs", [])
        body += _arr(configs, flex)
        for k, val in configs:
            body += _s(k, flex) + _s(val, flex) + _tags(flex)
        body += _tags(flex)
    body += struct.pack(">i", timeout_ms)
    if v >= 1:
        body += struct.pack(">b", 1 if validate_only else 0)
    body += _tags(flex)
    return request(19, v, corr, body, flexible=flex)


def parse_create_topics(frame, v):
    flex = v >= 5
    r = Reader(frame, 4)
    r.tags(flex)
    if v >= 2:
        r.i32()
    out = []
    for _ in range(r.array_len(flex)):
        t = {"name": r.string(flex)}
        t["id"] = r.uuid() if v >= 7 else None
        t["error"] = r.i16()
        t["message"] = r.string(flex) if v >= 1 else None
        if v >= 5:
            t["parts"] = r.i32()
            t["rf"] = r.i16()
            n = r.array_len(flex)
            cfg = None if n < 0 else {}
            for _ in range(max(n, 0)):
                k, val = r.string(flex), r.string(flex)
                ro, source, sensitive = r.i8(), r.i8(), r.i8()
                r.tags(flex)
                cfg[k] = (val, source)
            t["configs"] = cfg
        r.tags(flex)
        out.append(t)
    return out


def metadata_request(corr, v, topics=None, allow_auto=True):
    """topics: None (all), or a list of names (str) and ids (16 bytes)."""
    flex = v >= 9
    if topics is None:
        body = (b"\x00" if flex else struct.pack(">i", -1)) if v >= 1 else struct.pack(">i", 0)
    else:
        body = _arr(topics, flex)
        for t in topics:
            if isinstance(t, bytes):
                body += t + _s(None, flex)
            else:
                body += (b"\x00" * 16 if v >= 10 else b"") + _s(t, flex)
            body += _tags(flex)
    if v >= 4:
        body += struct.pack(">b", 1 if allow_auto else 0)
    if 8 <= v <= 10:
        body += b"\x00"
    if v >= 8:
        body += b"\x00"
    body += _tags(flex)
    return request(3, v, corr, body, flexible=flex)


def parse_metadata(frame, v):
    flex = v >= 9
    r = Reader(frame, 4)
    r.tags(flex)
    if v >= 3:
        r.i32()
    brokers = {}
    for _ in range(r.array_len(flex)):
        node, host, port = r.i32(), r.string(flex), r.i32()
        if v >= 1:
            r.string(flex)
        r.tags(flex)
        brokers[node] = (host, port)
    if v >= 2:
        r.string(flex)
    if v >= 1:
        r.i32()
    topics = []
    for _ in range(r.array_len(flex)):
        t = {"error": r.i16(), "name": r.string(flex)}
        t["id"] = r.uuid() if v >= 10 else None
        t["internal"] = r.i8() if v >= 1 else 0
        parts = []
        for _ in range(r.array_len(flex)):
            p = {"error": r.i16(), "index": r.i32(), "leader": r.i32()}
            p["epoch"] = r.i32() if v >= 7 else None
            p["replicas"] = [r.i32() for _ in range(r.array_len(flex))]
            p["isr"] = [r.i32() for _ in range(r.array_len(flex))]
            p["offline"] = [r.i32() for _ in range(r.array_len(flex))] if v >= 5 else []
            r.tags(flex)
            parts.append(p)
        t["partitions"] = parts
        if v >= 8:
            r.i32()
        r.tags(flex)
        topics.append(t)
    return brokers, topics


def create_partitions_request(corr, v, topics, validate_only=False):
    """topics: [(name, count, assignments or None)]."""
    flex = v >= 2
    body = _arr(topics, flex)
    for name, count, assign in topics:
        body += _s(name, flex) + struct.pack(">i", count)
        if assign is None:
            body += b"\x00" if flex else struct.pack(">i", -1)
        else:
            body += _arr(assign, flex)
            for brokers in assign:
                body += _arr(brokers, flex) + b"".join(struct.pack(">i", x) for x in brokers)
                body += _tags(flex)
        body += _tags(flex)
    body += struct.pack(">ib", 30000, 1 if validate_only else 0) + _tags(flex)
    return request(37, v, corr, body, flexible=flex)


def parse_create_partitions(frame, v):
    flex = v >= 2
    r = Reader(frame, 4)
    r.tags(flex)
    r.i32()
    out = []
    for _ in range(r.array_len(flex)):
        name, err, msg = r.string(flex), r.i16(), r.string(flex)
        r.tags(flex)
        out.append((name, err, msg))
    return out


def delete_topics_request(corr, v, topics):
    """topics: names (v0-5), or (name or None, id bytes or None) pairs (v6)."""
    flex = v >= 4
    body = _arr(topics, flex)
    for t in topics:
        if v >= 6:
            name, tid = t
            body += _s(name, flex) + (tid or b"\x00" * 16) + _tags(flex)
        else:
            body += _s(t, flex)
    body += struct.pack(">i", 30000) + _tags(flex)
    return request(20, v, corr, body, flexible=flex)


def parse_delete_topics(frame, v):
    flex = v >= 4
    r = Reader(frame, 4)
    r.tags(flex)
    if v >= 1:
        r.i32()
    out = []
    for _ in range(r.array_len(flex)):
        t = {"name": r.string(flex)}
        t["id"] = r.uuid() if v >= 6 else None
        t["error"] = r.i16()
        t["message"] = r.string(flex) if v >= 5 else None
        r.tags(flex)
        out.append(t)
    return out
