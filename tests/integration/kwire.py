"""Hand-built Kafka frames for the raw-socket tests (stdlib only): framing,
a numbered connection, and requests and response parsers for the APIs the
broker serves, each at every version it serves.

Every request builder is build(corr, version, ...) -> frame and every parser
parse(frame, version) -> value, so that Conn.ask(build, parse, version, ...)
sends one and parses its answer."""
import socket
import struct


# ---- Framing and primitives ----

def request(api_key, version, corr, body=b"", client=b"it", flexible=False):
    hdr = struct.pack(">hhi", api_key, version, corr) + struct.pack(">h", len(client)) + client
    if flexible:
        hdr += b"\x00"  # header tagged fields
    payload = hdr + body
    return struct.pack(">i", len(payload)) + payload


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def zz_varint(n):
    return uvarint((n << 1) ^ (n >> 63) if n < 0 else n << 1)


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


def _s(s, flex):
    return cstr(s) if flex else kstr(s)


def _arr(items, flex):
    return uvarint(len(items) + 1) if flex else struct.pack(">i", len(items))


def _nbytes(b, flex):
    if b is None:
        return uvarint(0) if flex else struct.pack(">i", -1)
    return (uvarint(len(b) + 1) if flex else struct.pack(">i", len(b))) + b


def _tags(flex):
    return b"\x00" if flex else b""


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


def corr_of(frame):
    """The correlation id a response frame answers."""
    return struct.unpack(">i", frame[:4])[0]


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

    def varint(self):
        n = self.uvarint()
        return (n >> 1) ^ -(n & 1)

    def string(self, flex):
        n = self.uvarint() - 1 if flex else self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self, flex):
        n = self.uvarint() - 1 if flex else self.i32()
        return None if n < 0 else self.take(n)

    def array_len(self, flex):
        return self.uvarint() - 1 if flex else self.i32()

    def tags(self, flex):
        if flex:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.take(self.uvarint())


def _answer(frame, flex, throttle):
    """A Reader past the response header and, when the version has one
    first, the throttle time."""
    r = Reader(frame, 4)
    r.tags(flex)
    if throttle:
        r.i32()
    return r


# ---- A connection that numbers its requests ----

def connect(b, timeout=30, rcvbuf=None):
    """A TCP_NODELAY socket to broker b; rcvbuf, when given, is set before
    connecting so that the window the broker sees is that small."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((b.host, b.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        s.close()
        raise
    return s


class Conn:
    """One connection; every request gets the next correlation id and its
    answer must carry it."""

    def __init__(self, b, timeout=30):
        self.s = connect(b, timeout)
        self.corr = 0

    def next(self):
        self.corr += 1
        return self.corr

    def call(self, build, *args, **kw):
        """Sends build(corr, *args, **kw) and returns the answer's frame."""
        corr = self.next()
        self.s.sendall(build(corr, *args, **kw))
        frame = read_frame(self.s)
        if corr_of(frame) != corr:
            raise ValueError("correlation id %d, expected %d" % (corr_of(frame), corr))
        return frame

    def ask(self, build, parse, version, *args, **kw):
        """parse(answer, version) of build(corr, version, *args, **kw)."""
        return parse(self.call(build, version, *args, **kw), version)

    def create_topic(self, name, parts, configs=()):
        """CreateTopics v7 of one topic with replication factor 1: (error, topic id)."""
        t = self.ask(create_topics_request, parse_create_topics, 7,
                     [{"name": name, "parts": parts, "rf": 1, "configs": list(configs)}])[0]
        return t["error"], t["id"]

    def produce_v7(self, topic, parts, acks=-1):
        """Produce v7 of {partition: batch} to one topic: {partition: (error, base offset)}."""
        res = self.ask(produce_request, parse_produce, 7, [(topic, list(parts.items()))],
                       acks=acks)
        return {p: (err, base) for _, p, err, base, _, _, _ in res}

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ask_once(b, build, parse, version, *args, **kw):
    """Conn.ask on a connection of its own."""
    with Conn(b) as c:
        return c.ask(build, parse, version, *args, **kw)


# ---- ApiVersions ----

def api_versions(corr, version=0):
    if version >= 3:
        # client software name and version (compact strings), tagged fields
        body = b"\x03it\x021" + b"\x00"
        return request(18, version, corr, body, flexible=True)
    return request(18, version, corr)


def parse_api_versions_v0(frame):
    corr, err, n = struct.unpack(">ihi", frame[:10])
    keys = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", frame[10 + 6 * i:16 + 6 * i])
        keys[k] = (lo, hi)
    return corr, err, keys


# ---- Record batches ----

def _crc32c_table():
    tab = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        tab.append(c)
    return tab


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _compress(codec, data):
    import gzip
    if codec == 0:
        return data
    if codec == 1:
        return gzip.compress(data)
    if codec == 2:
        import snappy
        return snappy.compress(data)
    if codec == 3:
        import lz4.frame
        return lz4.frame.compress(data)
    if codec == 4:
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    raise ValueError("codec %d" % codec)


def _decompress(codec, data):
    import gzip
    if codec == 0:
        return data
    if codec == 1:
        return gzip.decompress(data)
    if codec == 2:
        import snappy
        if data[:8] == b"\x82SNAPPY\x00":
            out, pos = b"", 16
            while pos < len(data):
                (n,) = struct.unpack(">i", data[pos:pos + 4])
                out += snappy.decompress(data[pos + 4:pos + 4 + n])
                pos += 4 + n
            return out
        return snappy.decompress(data)
    if codec == 3:
        import lz4.frame
        return lz4.frame.decompress(data)
    if codec == 4:
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise ValueError("codec %d" % codec)


def batch_v2(records, codec=0, producer_id=-1, producer_epoch=-1, base_seq=-1, attrs=0,
             base_offset=0, base_ts=None, max_ts=None, magic=2):
    """A v2 record batch. records: [(key, value, timestamp)]; codec 0-4 (none,
    gzip, raw snappy, lz4 frame, zstd); attrs: extra attribute bits."""
    base_ts = records[0][2] if base_ts is None else base_ts
    body = b""
    for i, (key, value, ts) in enumerate(records):
        r = b"\x00" + zz_varint(ts - base_ts) + zz_varint(i)
        r += zz_varint(-1) if key is None else zz_varint(len(key)) + key
        r += zz_varint(-1) if value is None else zz_varint(len(value)) + value
        r += zz_varint(0)
        body += zz_varint(len(r)) + r
    body = _compress(codec, body)
    max_ts = max(r[2] for r in records) if max_ts is None else max_ts
    after_crc = struct.pack(">hiqqqhii", codec | attrs, len(records) - 1, base_ts, max_ts,
                            producer_id, producer_epoch, base_seq, len(records)) + body
    rest = struct.pack(">ibI", -1, magic, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", base_offset, len(rest)) + rest


def parse_batches(data, check_crc=True):
    """Every v2 batch in data as a dict: offsets, attributes, codec, timestamps,
    producer fields and the records [(offset, key, value, timestamp)], any codec;
    crc_ok when check_crc (crc32c in Python is slow on large batches)."""
    out = []
    pos = 0
    while pos + 61 <= len(data):
        base, blen = struct.unpack(">qi", data[pos:pos + 12])
        end = pos + 12 + blen
        if end > len(data):
            break
        attrs, last_delta, base_ts, max_ts, pid, epoch, seq, count = struct.unpack(
            ">hiqqqhii", data[pos + 21:pos + 61])
        recs = _decompress(attrs & 7, data[pos + 61:end])
        r = Reader(recs)
        records = []
        for _ in range(count):
            r.varint()
            r.i8()
            ts = base_ts + r.varint()
            off = base + r.varint()
            kl = r.varint()
            key = r.take(kl) if kl >= 0 else None
            vl = r.varint()
            value = r.take(vl) if vl >= 0 else None
            for _ in range(r.varint()):
                r.take(r.varint())
                hl = r.varint()
                if hl > 0:
                    r.take(hl)
            records.append((off, key, value, ts))
        crc_ok = check_crc and (struct.unpack(">I", data[pos + 17:pos + 21])[0] ==
                                crc32c(data[pos + 21:end]))
        out.append({"base": base, "last": base + last_delta, "attrs": attrs, "codec": attrs & 7,
                    "base_ts": base_ts, "max_ts": max_ts, "pid": pid, "epoch": epoch,
                    "seq": seq, "records": records, "crc_ok": crc_ok})
        pos = end
    return out


def parse_records(data):
    """[(offset, key, value, timestamp)] of the v2 batches in data, any codec."""
    return [rec for bt in parse_batches(data, check_crc=False) for rec in bt["records"]]


# ---- Produce and InitProducerId ----

def produce_request(corr, version, topics, acks=-1, timeout_ms=30000, transactional_id=None):
    """Produce v3-11. topics: [(name, [(partition, records bytes or None)])]."""
    flex = version >= 9
    body = _s(transactional_id, flex) + struct.pack(">hi", acks, timeout_ms) + _arr(topics, flex)
    for name, parts in topics:
        body += _s(name, flex) + _arr(parts, flex)
        for p, recs in parts:
            body += struct.pack(">i", p) + _nbytes(recs, flex) + _tags(flex)
        body += _tags(flex)
    body += _tags(flex)
    return request(0, version, corr, body, flexible=flex)


def parse_produce(frame, version):
    """[(topic, partition, error, base_offset, log_append_time, log_start, message)]."""
    flex = version >= 9
    r = _answer(frame, flex, False)
    out = []
    for _ in range(r.array_len(flex)):
        name = r.string(flex)
        for _ in range(r.array_len(flex)):
            p, err, base, lat = r.i32(), r.i16(), r.i64(), r.i64()
            start = r.i64() if version >= 5 else -1
            msg = None
            if version >= 8:
                for _ in range(r.array_len(flex)):
                    r.i32()
                    r.string(flex)
                    r.tags(flex)
                msg = r.string(flex)
            r.tags(flex)
            out.append((name, p, err, base, lat, start, msg))
        r.tags(flex)
    r.i32()
    r.tags(flex)
    return out


def init_producer_id_request(corr, version, transactional_id=None, timeout_ms=60000,
                             producer_id=-1, producer_epoch=-1):
    flex = version >= 2
    body = _s(transactional_id, flex) + struct.pack(">i", timeout_ms)
    if version >= 3:
        body += struct.pack(">qh", producer_id, producer_epoch)
    body += _tags(flex)
    return request(22, version, corr, body, flexible=flex)


def parse_init_producer_id(frame, version):
    """(error, producer_id, producer_epoch)."""
    r = _answer(frame, version >= 2, True)
    return r.i16(), r.i64(), r.i16()


# ---- Fetch and ListOffsets ----

def fetch_request(corr, version, topics, max_wait=0, min_bytes=1, max_bytes=0x7FFFFFFF,
                  isolation=0, session_id=0, session_epoch=-1, forgotten=()):
    """Fetch at any version 4-17. topics: [(name_or_16_byte_id, [(partition, offset,
    partition_max_bytes[, current_leader_epoch])])]; forgotten: [(topic, [partitions])]."""
    flex = version >= 12

    def topic_key(t):
        return t if version >= 13 else _s(t, flex)

    body = b""
    if version <= 14:
        body += struct.pack(">i", -1)
    body += struct.pack(">iii", max_wait, min_bytes, max_bytes) + struct.pack(">b", isolation)
    if version >= 7:
        body += struct.pack(">ii", session_id, session_epoch)
    body += _arr(topics, flex)
    for t, parts in topics:
        body += topic_key(t) + _arr(parts, flex)
        for part in parts:
            p, off, pmb = part[0], part[1], part[2]
            epoch = part[3] if len(part) > 3 else -1
            body += struct.pack(">i", p)
            if version >= 9:
                body += struct.pack(">i", epoch)
            body += struct.pack(">q", off)
            if version >= 12:
                body += struct.pack(">i", -1)
            if version >= 5:
                body += struct.pack(">q", -1)
            body += struct.pack(">i", pmb) + _tags(flex)
        body += _tags(flex)
    if version >= 7:
        body += _arr(forgotten, flex)
        for t, parts in forgotten:
            body += topic_key(t) + _arr(parts, flex)
            body += b"".join(struct.pack(">i", p) for p in parts) + _tags(flex)
    if version >= 11:
        body += _s("", flex)
    body += _tags(flex)
    return request(1, version, corr, body, flexible=flex)


def parse_fetch(frame, version):
    """{"error", "session", "topics": [(name_or_id, [partition dicts])]}."""
    flex = version >= 12
    r = _answer(frame, flex, False)
    out = {"throttle": r.i32()}
    out["error"] = r.i16() if version >= 7 else 0
    out["session"] = r.i32() if version >= 7 else 0
    topics = []
    for _ in range(r.array_len(flex)):
        key = r.uuid() if version >= 13 else r.string(flex)
        parts = []
        for _ in range(r.array_len(flex)):
            p = {"partition": r.i32(), "error": r.i16(), "hw": r.i64()}
            p["lso"] = r.i64()
            p["log_start"] = r.i64() if version >= 5 else -1
            n = r.array_len(flex)
            p["aborted"] = None if n < 0 else []
            for _ in range(max(n, 0)):
                p["aborted"].append((r.i64(), r.i64()))
                r.tags(flex)
            p["preferred"] = r.i32() if version >= 11 else -1
            p["records"] = r.bytes_(flex)
            r.tags(flex)
            parts.append(p)
        r.tags(flex)
        topics.append((key, parts))
    r.tags(flex)
    out["topics"] = topics
    return out


def list_offsets_request(corr, version, topics, isolation=0):
    """ListOffsets v1-10. topics: [(name, [(partition, timestamp[, current_leader_epoch])])]."""
    flex = version >= 6
    body = struct.pack(">i", -1)
    if version >= 2:
        body += struct.pack(">b", isolation)
    body += _arr(topics, flex)
    for name, parts in topics:
        body += _s(name, flex) + _arr(parts, flex)
        for part in parts:
            body += struct.pack(">i", part[0])
            if version >= 4:
                body += struct.pack(">i", part[2] if len(part) > 2 else -1)
            body += struct.pack(">q", part[1]) + _tags(flex)
        body += _tags(flex)
    if version >= 10:
        body += struct.pack(">i", 30000)
    body += _tags(flex)
    return request(2, version, corr, body, flexible=flex)


def parse_list_offsets(frame, version):
    """{(topic, partition): (error, timestamp, offset, leader_epoch)} in order, as a list."""
    flex = version >= 6
    r = _answer(frame, flex, version >= 2)
    out = []
    for _ in range(r.array_len(flex)):
        name = r.string(flex)
        for _ in range(r.array_len(flex)):
            p, err, ts, off = r.i32(), r.i16(), r.i64(), r.i64()
            epoch = r.i32() if version >= 4 else -1
            r.tags(flex)
            out.append(((name, p), (err, ts, off, epoch)))
        r.tags(flex)
    r.tags(flex)
    return out


# ---- CreateTopics, Metadata, CreatePartitions and DeleteTopics ----

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
    r = _answer(frame, flex, v >= 2)
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
                _, source, _ = r.i8(), r.i8(), r.i8()  # read-only, source, sensitive
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
    r = _answer(frame, flex, v >= 3)
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
    r = _answer(frame, flex, True)
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
    r = _answer(frame, flex, v >= 1)
    out = []
    for _ in range(r.array_len(flex)):
        t = {"name": r.string(flex)}
        t["id"] = r.uuid() if v >= 6 else None
        t["error"] = r.i16()
        t["message"] = r.string(flex) if v >= 5 else None
        r.tags(flex)
        out.append(t)
    return out


# ---- legacy fetch (message sets) ----

def batch_v2_headers(records, codec=0, attrs=0, base_ts=None, max_ts=None):
    """A v2 batch whose records carry headers. records: [(key, value, timestamp,
    [(header key bytes, header value bytes or None)])]."""
    base_ts = records[0][2] if base_ts is None else base_ts
    body = b""
    for i, (key, value, ts, headers) in enumerate(records):
        r = b"\x00" + zz_varint(ts - base_ts) + zz_varint(i)
        r += zz_varint(-1) if key is None else zz_varint(len(key)) + key
        r += zz_varint(-1) if value is None else zz_varint(len(value)) + value
        r += zz_varint(len(headers))
        for hk, hv in headers:
            r += zz_varint(len(hk)) + hk
            r += zz_varint(-1) if hv is None else zz_varint(len(hv)) + hv
        body += zz_varint(len(r)) + r
    body = _compress(codec, body)
    max_ts = max(r[2] for r in records) if max_ts is None else max_ts
    after_crc = struct.pack(">hiqqqhii", codec | attrs, len(records) - 1, base_ts, max_ts,
                            -1, -1, -1, len(records)) + body
    rest = struct.pack(">ibI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


def fetch_request_legacy(corr, version, topics, max_wait=0, min_bytes=1, max_bytes=0x7FFFFFFF):
    """Fetch v0-3. topics: [(name, [(partition, offset, partition_max_bytes)])];
    max_bytes is sent from v3 only."""
    body = struct.pack(">iii", -1, max_wait, min_bytes)
    if version >= 3:
        body += struct.pack(">i", max_bytes)
    body += _arr(topics, False)
    for name, parts in topics:
        body += _s(name, False) + _arr(parts, False)
        for p, off, pmb in parts:
            body += struct.pack(">iqi", p, off, pmb)
    return request(1, version, corr, body)


def parse_fetch_legacy(frame, version):
    """Fetch v0-3: {"throttle", "topics": [(name, [{"partition", "error", "hw",
    "records"}])], "rest": bytes left over (must be none)}."""
    r = _answer(frame, False, False)
    out = {"throttle": r.i32() if version >= 1 else 0}
    topics = []
    for _ in range(r.array_len(False)):
        name = r.string(False)
        parts = []
        for _ in range(r.array_len(False)):
            p = {"partition": r.i32(), "error": r.i16(), "hw": r.i64()}
            p["records"] = r.bytes_(False)
            parts.append(p)
        topics.append((name, parts))
    out["topics"] = topics
    out["rest"] = len(frame) - r.pos
    return out


def parse_message_set(data, allow_partial=True):
    """The messages (magic 0/1) of a message set as dicts: offset, magic,
    attributes, timestamp (None for magic 0), key, value, crc_ok (CRC-32 over
    magic..value); compressed wrappers are opened (their inner messages get
    "wrapper": the wrapper's offset). A partial message at the end is dropped
    when allow_partial, else a ValueError."""
    import zlib
    out = []
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            if allow_partial:
                break
            raise ValueError("partial message header at %d" % pos)
        off, size = struct.unpack(">qi", data[pos:pos + 12])
        if pos + 12 + size > len(data):
            if allow_partial:
                break
            raise ValueError("partial message at %d" % pos)
        body = data[pos + 12:pos + 12 + size]
        (crc,) = struct.unpack(">I", body[:4])
        r = Reader(body, 4)
        m = {"offset": off, "size": 12 + size, "crc_ok": zlib.crc32(body[4:]) & 0xFFFFFFFF == crc}
        m["magic"], m["attributes"] = r.i8(), r.i8()
        m["timestamp"] = r.i64() if m["magic"] == 1 else None
        kl = r.i32()
        m["key"] = r.take(kl) if kl >= 0 else None
        vl = r.i32()
        m["value"] = r.take(vl) if vl >= 0 else None
        m["trailing"] = len(body) - r.pos
        codec = m["attributes"] & 7
        if codec != 0:
            for inner in parse_message_set(_decompress(codec, m["value"]), False):
                inner["wrapper"] = off
                out.append(inner)
        else:
            out.append(m)
        pos += 12 + size
    return out


def list_offsets_v0_request(corr, version, topics):
    """ListOffsets v0. topics: [(name, [(partition, timestamp, max_num_offsets)])]."""
    body = struct.pack(">i", -1) + _arr(topics, False)
    for name, parts in topics:
        body += _s(name, False) + _arr(parts, False)
        for p, ts, n in parts:
            body += struct.pack(">iqi", p, ts, n)
    return request(2, version, corr, body)


def parse_list_offsets_v0(frame, version):
    """[((topic, partition), (error, [offsets]))], and nothing left over."""
    r = _answer(frame, False, False)
    out = []
    for _ in range(r.array_len(False)):
        name = r.string(False)
        for _ in range(r.array_len(False)):
            p, err = r.i32(), r.i16()
            offsets = [r.i64() for _ in range(r.array_len(False))]
            out.append(((name, p), (err, offsets)))
    if r.pos != len(frame):
        raise ValueError("%d bytes left over" % (len(frame) - r.pos))
    return out


# ---- legacy produce (message sets) ----

def xxh32(data, seed=0):
    """xxHash32, which lz4 frame headers use for their checksum byte."""
    p1, p2, p3, p4, p5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    m = 0xFFFFFFFF

    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & m

    n, pos = len(data), 0
    if n >= 16:
        v = [(seed + p1 + p2) & m, (seed + p2) & m, seed & m, (seed - p1) & m]
        while n - pos >= 16:
            for i in range(4):
                lane = struct.unpack("<I", data[pos + 4 * i:pos + 4 * i + 4])[0]
                v[i] = (rotl((v[i] + lane * p2) & m, 13) * p1) & m
            pos += 16
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & m
    else:
        h = (seed + p5) & m
    h = (h + n) & m
    while n - pos >= 4:
        h = (rotl((h + struct.unpack("<I", data[pos:pos + 4])[0] * p3) & m, 17) * p4) & m
        pos += 4
    while pos < n:
        h = (rotl((h + data[pos] * p5) & m, 11) * p1) & m
        pos += 1
    h ^= h >> 15
    h = (h * p2) & m
    h ^= h >> 13
    h = (h * p3) & m
    return h ^ (h >> 16)


def lz4_kafka08(data):
    """An lz4 frame as Kafka 0.8-0.9 clients framed magic 0 messages: no
    content size, and a header checksum over the frame's magic number too."""
    import lz4.frame
    f = bytearray(lz4.frame.compress(data, store_size=False))
    f[6] = (xxh32(bytes(f[0:6])) >> 8) & 0xFF
    return bytes(f)


def legacy_compress(codec, data, magic=1):
    """A magic 0/1 wrapper's value: gzip, snappy (xerial framing, as Java
    clients write it), lz4 (Kafka 0.8's framing for magic 0)."""
    if codec == 2:
        import snappy
        out = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
        for i in range(0, len(data), 32768):
            blk = snappy.compress(data[i:i + 32768])
            out += struct.pack(">i", len(blk)) + blk
        return out
    if codec == 3 and magic == 0:
        return lz4_kafka08(data)
    return _compress(codec, data)


def legacy_message(magic, key, value, ts=-1, offset=0, attrs=0):
    """One message of magic 0 or 1 (offset, size, CRC-32, magic, attributes,
    [timestamp], key, value); attrs: codec and timestamp-type bits."""
    import zlib
    body = struct.pack(">bb", magic, attrs)
    if magic == 1:
        body += struct.pack(">q", ts)
    body += _nbytes(key, False) + _nbytes(value, False)
    msg = struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + body
    return struct.pack(">qi", offset, len(msg)) + msg


def legacy_set(magic, records, first_offset=0):
    """A plain message set. records: [(key, value, timestamp)]."""
    return b"".join(legacy_message(magic, k, v, ts, first_offset + i)
                    for i, (k, v, ts) in enumerate(records))


def legacy_wrapper(magic, codec, records, wrapper_offset=None, wrapper_ts=None, attrs=0,
                   inner=None):
    """A compressed wrapper of records (inner offsets 0..n-1 for magic 1, as
    Kafka's clients write them, and absolute ones from 0 for magic 0), its
    offset the last inner one unless given; inner: the inner set's bytes."""
    if inner is None:
        inner = legacy_set(magic, records)
    last = len(records) - 1
    off = last if wrapper_offset is None else wrapper_offset
    ts = max([r[2] for r in records] or [-1]) if wrapper_ts is None else wrapper_ts
    return legacy_message(magic, None, legacy_compress(codec, inner, magic), ts, off,
                          attrs | codec)


def produce_request_legacy(corr, version, topics, acks=-1, timeout_ms=30000):
    """Produce v0-2 (no transactional id). topics: [(name, [(partition, records or None)])]."""
    body = struct.pack(">hi", acks, timeout_ms) + _arr(topics, False)
    for name, parts in topics:
        body += _s(name, False) + _arr(parts, False)
        for p, recs in parts:
            body += struct.pack(">i", p) + _nbytes(recs, False)
    return request(0, version, corr, body)


def parse_produce_legacy(frame, version):
    """Produce v0-2: [(topic, partition, error, base_offset, log_append_time)]
    (log_append_time None before v2)."""
    r = _answer(frame, False, False)
    out = []
    for _ in range(r.array_len(False)):
        name = r.string(False)
        for _ in range(r.array_len(False)):
            p, err, base = r.i32(), r.i16(), r.i64()
            lat = r.i64() if version >= 2 else None
            out.append((name, p, err, base, lat))
    if version >= 1:
        r.i32()
    if r.pos != len(r.buf):
        raise ValueError("%d bytes left after a Produce v%d answer" % (len(r.buf) - r.pos,
                                                                       version))
    return out


# ---- classic groups ----
# JoinGroup (11), Heartbeat (12), LeaveGroup (13), SyncGroup (14) and
# DescribeGroups (15), every version; answers as dicts with Kafka's field names.

def join_group_request(corr, v, group, member="", protocols=(("range", b"meta"),),
                       session_ms=10000, rebalance_ms=10000, instance=None,
                       ptype="consumer", reason=None, client=b"it"):
    flex = v >= 6
    body = _s(group, flex) + struct.pack(">i", session_ms)
    if v >= 1:
        body += struct.pack(">i", rebalance_ms)
    body += _s(member, flex)
    if v >= 5:
        body += _s(instance, flex)
    body += _s(ptype, flex) + _arr(protocols, flex)
    for name, meta in protocols:
        body += _s(name, flex) + _nbytes(meta, flex) + _tags(flex)
    if v >= 8:
        body += _s(reason, flex)
    return request(11, v, corr, body + _tags(flex), client=client, flexible=flex)


def parse_join_group(frame, v):
    flex = v >= 6
    r = _answer(frame, flex, v >= 2)
    out = {"ErrorCode": r.i16(), "GenerationId": r.i32()}
    out["ProtocolType"] = r.string(flex) if v >= 7 else None
    out["ProtocolName"] = r.string(flex)
    out["Leader"] = r.string(flex)
    out["SkipAssignment"] = bool(r.i8()) if v >= 9 else False
    out["MemberId"] = r.string(flex)
    members = []
    for _ in range(r.array_len(flex)):
        m = {"MemberId": r.string(flex)}
        m["GroupInstanceId"] = r.string(flex) if v >= 5 else None
        m["Metadata"] = r.bytes_(flex)
        r.tags(flex)
        members.append(m)
    out["Members"] = members
    r.tags(flex)
    return out


def sync_group_request(corr, v, group, generation, member, assignments=(), instance=None,
                       ptype=None, pname=None, client=b"it"):
    """assignments: [(member id, bytes)]."""
    flex = v >= 4
    body = _s(group, flex) + struct.pack(">i", generation) + _s(member, flex)
    if v >= 3:
        body += _s(instance, flex)
    if v >= 5:
        body += _s(ptype, flex) + _s(pname, flex)
    body += _arr(assignments, flex)
    for mid, data in assignments:
        body += _s(mid, flex) + _nbytes(data, flex) + _tags(flex)
    return request(14, v, corr, body + _tags(flex), client=client, flexible=flex)


def parse_sync_group(frame, v):
    flex = v >= 4
    r = _answer(frame, flex, v >= 1)
    out = {"ErrorCode": r.i16(), "ProtocolType": None, "ProtocolName": None}
    if v >= 5:
        out["ProtocolType"] = r.string(flex)
        out["ProtocolName"] = r.string(flex)
    out["Assignment"] = r.bytes_(flex)
    r.tags(flex)
    return out


def heartbeat_request(corr, v, group, generation, member, instance=None, client=b"it"):
    flex = v >= 4
    body = _s(group, flex) + struct.pack(">i", generation) + _s(member, flex)
    if v >= 3:
        body += _s(instance, flex)
    return request(12, v, corr, body + _tags(flex), client=client, flexible=flex)


def parse_heartbeat(frame, v):
    flex = v >= 4
    r = _answer(frame, flex, v >= 1)
    err = r.i16()
    r.tags(flex)
    return err


def leave_group_request(corr, v, group, members, client=b"it"):
    """members: [(member id, instance id or None)]; v0-2 send the first member id only."""
    flex = v >= 4
    body = _s(group, flex)
    if v < 3:
        body += _s(members[0][0], flex)
    else:
        body += _arr(members, flex)
        for mid, inst in members:
            body += _s(mid, flex) + _s(inst, flex)
            if v >= 5:
                body += _s(None, flex)
            body += _tags(flex)
    return request(13, v, corr, body + _tags(flex), client=client, flexible=flex)


def parse_leave_group(frame, v):
    """(top-level error, [(member id, instance id, error)])."""
    flex = v >= 4
    r = _answer(frame, flex, v >= 1)
    err = r.i16()
    members = []
    if v >= 3:
        for _ in range(r.array_len(flex)):
            m = (r.string(flex), r.string(flex), r.i16())
            r.tags(flex)
            members.append(m)
    r.tags(flex)
    return err, members


def describe_groups_request(corr, v, groups, client=b"it"):
    flex = v >= 5
    body = _arr(groups, flex)
    for g in groups:
        body += _s(g, flex)
    if v >= 3:
        body += b"\x00"
    return request(15, v, corr, body + _tags(flex), client=client, flexible=flex)


def parse_describe_groups(frame, v):
    flex = v >= 5
    r = _answer(frame, flex, v >= 1)
    groups = []
    for _ in range(r.array_len(flex)):
        g = {"ErrorCode": r.i16(), "GroupId": r.string(flex), "GroupState": r.string(flex),
             "ProtocolType": r.string(flex), "ProtocolData": r.string(flex), "Members": []}
        for _ in range(r.array_len(flex)):
            m = {"MemberId": r.string(flex)}
            m["GroupInstanceId"] = r.string(flex) if v >= 4 else None
            m["ClientId"] = r.string(flex)
            m["ClientHost"] = r.string(flex)
            m["MemberMetadata"] = r.bytes_(flex)
            m["MemberAssignment"] = r.bytes_(flex)
            r.tags(flex)
            g["Members"].append(m)
        if v >= 3:
            g["AuthorizedOperations"] = r.i32()
        r.tags(flex)
        groups.append(g)
    r.tags(flex)
    return groups


# ---- admin apis ----

def _i32s(items, flex):
    return _arr(items, flex) + b"".join(struct.pack(">i", x) for x in items)


def _read_i32s(r, flex):
    n = r.array_len(flex)
    return None if n < 0 else [r.i32() for _ in range(n)]


def delete_records_request(corr, v, topics, timeout_ms=30000):
    """DeleteRecords v0-2. topics: [(name, [(partition, offset)])]."""
    flex = v >= 2
    body = _arr(topics, flex)
    for name, parts in topics:
        body += _s(name, flex) + _arr(parts, flex)
        for p, off in parts:
            body += struct.pack(">iq", p, off) + _tags(flex)
        body += _tags(flex)
    body += struct.pack(">i", timeout_ms) + _tags(flex)
    return request(21, v, corr, body, flexible=flex)


def parse_delete_records(frame, v):
    """[(topic, partition, low_watermark, error)] in order."""
    flex = v >= 2
    r = _answer(frame, flex, True)
    out = []
    for _ in range(r.array_len(flex)):
        name = r.string(flex)
        for _ in range(r.array_len(flex)):
            p, low, err = r.i32(), r.i64(), r.i16()
            r.tags(flex)
            out.append((name, p, low, err))
        r.tags(flex)
    r.tags(flex)
    return out


def offset_for_leader_epoch_request(corr, v, topics, replica_id=-1):
    """OffsetForLeaderEpoch v0-4. topics: [(name, [(partition, current_epoch, epoch)])];
    current_epoch is sent from v2, replica_id from v3."""
    flex = v >= 4
    body = struct.pack(">i", replica_id) if v >= 3 else b""
    body += _arr(topics, flex)
    for name, parts in topics:
        body += _s(name, flex) + _arr(parts, flex)
        for p, cur, epoch in parts:
            body += struct.pack(">i", p)
            if v >= 2:
                body += struct.pack(">i", cur)
            body += struct.pack(">i", epoch) + _tags(flex)
        body += _tags(flex)
    body += _tags(flex)
    return request(23, v, corr, body, flexible=flex)


def parse_offset_for_leader_epoch(frame, v):
    """[(topic, partition, error, leader_epoch, end_offset)] in order (epoch None before v1)."""
    flex = v >= 4
    r = _answer(frame, flex, v >= 2)
    out = []
    for _ in range(r.array_len(flex)):
        name = r.string(flex)
        for _ in range(r.array_len(flex)):
            err, p = r.i16(), r.i32()
            epoch = r.i32() if v >= 1 else None
            end = r.i64()
            r.tags(flex)
            out.append((name, p, err, epoch, end))
        r.tags(flex)
    r.tags(flex)
    return out


def describe_log_dirs_request(corr, v, topics=None):
    """DescribeLogDirs v0-4. topics: None (all) or [(name, [partitions])]."""
    flex = v >= 2
    if topics is None:
        body = uvarint(0) if flex else struct.pack(">i", -1)
    else:
        body = _arr(topics, flex)
        for name, parts in topics:
            body += _s(name, flex) + _i32s(parts, flex) + _tags(flex)
    body += _tags(flex)
    return request(35, v, corr, body, flexible=flex)


def parse_describe_log_dirs(frame, v):
    """{"error", "dirs": [{"error", "dir", "topics": {name: {partition: (size, lag, future)}},
    "total", "usable"}]}."""
    flex = v >= 2
    r = _answer(frame, flex, True)
    out = {"error": r.i16() if v >= 3 else 0, "dirs": []}
    for _ in range(r.array_len(flex)):
        d = {"error": r.i16(), "dir": r.string(flex), "topics": {}}
        for _ in range(r.array_len(flex)):
            name = r.string(flex)
            parts = d["topics"].setdefault(name, {})
            for _ in range(r.array_len(flex)):
                p, size, lag, fut = r.i32(), r.i64(), r.i64(), r.i8()
                r.tags(flex)
                parts[p] = (size, lag, fut)
            r.tags(flex)
        d["total"], d["usable"] = (r.i64(), r.i64()) if v >= 4 else (None, None)
        r.tags(flex)
        out["dirs"].append(d)
    r.tags(flex)
    return out


def describe_cluster_request(corr, v, include_ops=False, endpoint_type=1):
    body = struct.pack(">b", 1 if include_ops else 0)
    if v >= 1:
        body += struct.pack(">b", endpoint_type)
    return request(60, v, corr, body + _tags(True), flexible=True)


def parse_describe_cluster(frame, v):
    r = _answer(frame, True, True)
    out = {"error": r.i16(), "message": r.string(True)}
    out["endpoint_type"] = r.i8() if v >= 1 else None
    out["cluster_id"], out["controller"] = r.string(True), r.i32()
    out["brokers"] = []
    for _ in range(r.array_len(True)):
        out["brokers"].append((r.i32(), r.string(True), r.i32(), r.string(True)))
        r.tags(True)
    out["ops"] = r.i32()
    r.tags(True)
    return out


def describe_topic_partitions_request(corr, v, topics, limit=2000, cursor=None):
    """DescribeTopicPartitions v0. cursor: None or (topic, partition)."""
    body = _arr(topics, True) + b"".join(cstr(t) + _tags(True) for t in topics)
    body += struct.pack(">i", limit)
    if cursor is None:
        body += struct.pack(">b", -1)
    else:
        body += struct.pack(">b", 1) + cstr(cursor[0]) + struct.pack(">i", cursor[1]) + _tags(True)
    return request(75, v, corr, body + _tags(True), flexible=True)


def parse_describe_topic_partitions(frame, v):
    """{"topics": [{"error", "name", "id", "internal", "partitions": [dict], "ops"}],
    "cursor": None or (topic, partition)}."""
    r = _answer(frame, True, True)
    topics = []
    for _ in range(r.array_len(True)):
        t = {"error": r.i16(), "name": r.string(True), "id": r.uuid(), "internal": r.i8(),
             "partitions": []}
        for _ in range(r.array_len(True)):
            p = {"error": r.i16(), "index": r.i32(), "leader": r.i32(), "epoch": r.i32(),
                 "replicas": _read_i32s(r, True), "isr": _read_i32s(r, True),
                 "elr": _read_i32s(r, True), "last_elr": _read_i32s(r, True),
                 "offline": _read_i32s(r, True)}
            r.tags(True)
            t["partitions"].append(p)
        t["ops"] = r.i32()
        r.tags(True)
        topics.append(t)
    cursor = None
    if r.i8() >= 0:
        cursor = (r.string(True), r.i32())
        r.tags(True)
    r.tags(True)
    if r.pos != len(r.buf):
        raise ValueError("bytes left over")
    return {"topics": topics, "cursor": cursor}


def elect_leaders_request(corr, v, topics, election_type=0, timeout_ms=30000):
    """ElectLeaders v0-2. topics: None (all) or [(name, [partitions])]."""
    flex = v >= 2
    body = struct.pack(">b", election_type) if v >= 1 else b""
    if topics is None:
        body += uvarint(0) if flex else struct.pack(">i", -1)
    else:
        body += _arr(topics, flex)
        for name, parts in topics:
            body += _s(name, flex) + _i32s(parts, flex) + _tags(flex)
    body += struct.pack(">i", timeout_ms) + _tags(flex)
    return request(43, v, corr, body, flexible=flex)


def parse_elect_leaders(frame, v):
    """(error, [(topic, partition, error, message)])."""
    flex = v >= 2
    r = _answer(frame, flex, True)
    err = r.i16() if v >= 1 else 0
    out = []
    for _ in range(r.array_len(flex)):
        name = r.string(flex)
        for _ in range(r.array_len(flex)):
            out.append((name, r.i32(), r.i16(), r.string(flex)))
            r.tags(flex)
        r.tags(flex)
    r.tags(flex)
    return err, out


def describe_producers_request(corr, v, topics):
    """DescribeProducers v0. topics: [(name, [partitions])]."""
    body = _arr(topics, True)
    for name, parts in topics:
        body += cstr(name) + _i32s(parts, True) + _tags(True)
    return request(61, v, corr, body + _tags(True), flexible=True)


def parse_describe_producers(frame, v):
    """[(topic, partition, error, message, [(pid, epoch, last_seq, last_ts, coord_epoch,
    txn_start)])]."""
    r = _answer(frame, True, True)
    out = []
    for _ in range(r.array_len(True)):
        name = r.string(True)
        for _ in range(r.array_len(True)):
            p, err, msg = r.i32(), r.i16(), r.string(True)
            prods = []
            for _ in range(r.array_len(True)):
                prods.append((r.i64(), r.i32(), r.i32(), r.i64(), r.i32(), r.i64()))
                r.tags(True)
            r.tags(True)
            out.append((name, p, err, msg, prods))
        r.tags(True)
    r.tags(True)
    return out


# ---- configs ----

def describe_configs_request(corr, v, resources, synonyms=False, docs=False):
    """resources: [(resource type, name, [keys] or None)]."""
    flex = v >= 4
    body = _arr(resources, flex)
    for rtype, name, keys in resources:
        body += struct.pack(">b", rtype) + _s(name, flex)
        if keys is None:
            body += b"\x00" if flex else struct.pack(">i", -1)
        else:
            body += _arr(keys, flex) + b"".join(_s(k, flex) for k in keys)
        body += _tags(flex)
    if v >= 1:
        body += struct.pack(">b", 1 if synonyms else 0)
    if v >= 3:
        body += struct.pack(">b", 1 if docs else 0)
    body += _tags(flex)
    return request(32, v, corr, body, flexible=flex)


def parse_describe_configs(frame, v):
    """[{error, message, type, name, configs: {name: {value, read_only, is_default,
    source, sensitive, synonyms: [(name, value, source)], type, doc}}, order: [names]}]."""
    flex = v >= 4
    r = _answer(frame, flex, True)
    out = []
    for _ in range(r.array_len(flex)):
        res = {"error": r.i16(), "message": r.string(flex), "type": r.i8(),
               "name": r.string(flex), "configs": {}, "order": []}
        for _ in range(max(r.array_len(flex), 0)):
            c = {}
            name = r.string(flex)
            c["value"] = r.string(flex)
            c["read_only"] = bool(r.i8())
            c["is_default"] = bool(r.i8()) if v == 0 else None
            c["source"] = r.i8() if v >= 1 else None
            c["sensitive"] = bool(r.i8())
            c["synonyms"] = []
            if v >= 1:
                for _ in range(max(r.array_len(flex), 0)):
                    sname, sval, ssrc = r.string(flex), r.string(flex), r.i8()
                    r.tags(flex)
                    c["synonyms"].append((sname, sval, ssrc))
            c["type"] = r.i8() if v >= 3 else None
            c["doc"] = r.string(flex) if v >= 3 else None
            r.tags(flex)
            res["configs"][name] = c
            res["order"].append(name)
        r.tags(flex)
        out.append(res)
    return out


def alter_configs_request(corr, v, resources, validate_only=False):
    """resources: [(resource type, name, [(key, value or None)])]."""
    flex = v >= 2
    body = _arr(resources, flex)
    for rtype, name, configs in resources:
        body += struct.pack(">b", rtype) + _s(name, flex) + _arr(configs, flex)
        for k, val in configs:
            body += _s(k, flex) + _s(val, flex) + _tags(flex)
        body += _tags(flex)
    body += struct.pack(">b", 1 if validate_only else 0) + _tags(flex)
    return request(33, v, corr, body, flexible=flex)


def incremental_alter_configs_request(corr, v, resources, validate_only=False):
    """resources: [(resource type, name, [(key, op, value or None)])]; op 0 SET, 1 DELETE,
    2 APPEND, 3 SUBTRACT."""
    flex = v >= 1
    body = _arr(resources, flex)
    for rtype, name, configs in resources:
        body += struct.pack(">b", rtype) + _s(name, flex) + _arr(configs, flex)
        for k, op, val in configs:
            body += _s(k, flex) + struct.pack(">b", op) + _s(val, flex) + _tags(flex)
        body += _tags(flex)
    body += struct.pack(">b", 1 if validate_only else 0) + _tags(flex)
    return request(44, v, corr, body, flexible=flex)


def _parse_alter_configs(frame, flex):
    r = _answer(frame, flex, True)
    out = []
    for _ in range(r.array_len(flex)):
        out.append((r.i16(), r.string(flex), r.i8(), r.string(flex)))
        r.tags(flex)
    return out


def parse_alter_configs(frame, v):
    """[(error, message, resource type, name)]."""
    return _parse_alter_configs(frame, v >= 2)


def parse_incremental_alter_configs(frame, v):
    """[(error, message, resource type, name)]."""
    return _parse_alter_configs(frame, v >= 1)


def offset_commit_v7_request(corr, v, group, generation, member, instance, topic, partition,
                             offset, client=b"it"):
    """OffsetCommit v7 of one offset, for a group member (the generation and member checks)."""
    body = (kstr(group) + struct.pack(">i", generation) + kstr(member) + kstr(instance)
            + struct.pack(">i", 1) + kstr(topic) + struct.pack(">i", 1)
            + struct.pack(">iqi", partition, offset, -1) + kstr(""))
    return request(8, 7, corr, body, client=client)


def parse_offset_commit_v7(frame, v):
    """The one partition's error."""
    r = _answer(frame, False, True)
    errs = []
    for _ in range(r.i32()):
        r.string(False)
        for _ in range(r.i32()):
            r.i32()
            errs.append(r.i16())
    return errs[0] if len(errs) == 1 else errs
