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


# ---- Fetch, ListOffsets, CreateTopics and raw Produce (the fetch tests) ----

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


def zz_varint(n):
    return uvarint((n << 1) ^ (n >> 63) if n < 0 else n << 1)


def batch_v2_plain(records, base_ts=None, codec=0):
    """A v2 record batch of records [(key, value, timestamp)], offsets from 0.
    codec 1 compresses the records with gzip."""
    import gzip
    base_ts = records[0][2] if base_ts is None else base_ts
    body = b""
    for i, (key, value, ts) in enumerate(records):
        r = b"\x00" + zz_varint(ts - base_ts) + zz_varint(i)
        r += zz_varint(-1) if key is None else zz_varint(len(key)) + key
        r += zz_varint(-1) if value is None else zz_varint(len(value)) + value
        r += zz_varint(0)
        body += zz_varint(len(r)) + r
    if codec == 1:
        body = gzip.compress(body)
    max_ts = max(r[2] for r in records)
    after_crc = struct.pack(">hiqqqhii", codec, len(records) - 1, base_ts, max_ts, -1, -1, -1,
                            len(records)) + body
    crc = crc32c(after_crc)
    rest = struct.pack(">ibI", -1, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


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


def create_topics_v7(corr, name, partitions, configs=()):
    """CreateTopics v7 for one topic (flexible); configs: [(key, value)]."""
    body = uvarint(2) + cstr(name) + struct.pack(">ih", partitions, 1) + uvarint(1)
    body += uvarint(len(configs) + 1)
    for k, v in configs:
        body += cstr(k) + cstr(v) + b"\x00"
    body += b"\x00" + struct.pack(">ib", 30000, 0) + b"\x00"
    return request(19, 7, corr, body, flexible=True)


def parse_create_topics_v7(frame):
    """{name: (error, topic_id)} from a CreateTopics v7 response."""
    r = Reader(frame, 4)
    r.tags(True)  # response header v1
    r.i32()
    out = {}
    for _ in range(r.array_len(True)):
        name = r.string(True)
        tid = r.uuid()
        err = r.i16()
        r.string(True)
        r.i32()
        r.i16()
        n = r.array_len(True)
        for _ in range(max(n, 0)):
            r.string(True)
            r.string(True)
            r.take(3)
            r.tags(True)
        r.tags(True)
        out[name] = (err, tid)
    return out


def produce_raw_v7(corr, topic, parts, acks=-1):
    """Produce v7 of {partition: batch bytes} to one topic."""
    body = kstr(None) + struct.pack(">hi", acks, 30000) + struct.pack(">i", 1) + kstr(topic)
    body += struct.pack(">i", len(parts))
    for p, batch in parts.items():
        body += struct.pack(">ii", p, len(batch)) + batch
    return request(0, 7, corr, body)


def parse_produce_v7(frame):
    """{partition: (error, base_offset)} of the first topic."""
    r = Reader(frame, 4)
    out = {}
    for _ in range(r.i32()):
        r.string(False)
        for _ in range(r.i32()):
            p, err, base = r.i32(), r.i16(), r.i64()
            r.i64()
            r.i64()
            out[p] = (err, base)
    return out


def fetch_request(corr, version, topics, max_wait=0, min_bytes=1, max_bytes=0x7FFFFFFF,
                  isolation=0, session_id=0, session_epoch=-1, forgotten=()):
    """Fetch at any version 4-17. topics: [(name_or_16_byte_id, [(partition, offset,
    partition_max_bytes[, current_leader_epoch])])]; forgotten: [(topic, [partitions])]."""
    flex = version >= 12

    def arr(n):
        return uvarint(n + 1) if flex else struct.pack(">i", n)

    def topic_key(t):
        if version >= 13:
            return t
        return cstr(t) if flex else kstr(t)

    body = b""
    if version <= 14:
        body += struct.pack(">i", -1)
    body += struct.pack(">iii", max_wait, min_bytes, max_bytes) + struct.pack(">b", isolation)
    if version >= 7:
        body += struct.pack(">ii", session_id, session_epoch)
    body += arr(len(topics))
    for t, parts in topics:
        body += topic_key(t) + arr(len(parts))
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
            body += struct.pack(">i", pmb)
            if flex:
                body += b"\x00"
        if flex:
            body += b"\x00"
    if version >= 7:
        body += arr(len(forgotten))
        for t, parts in forgotten:
            body += topic_key(t) + arr(len(parts)) + b"".join(struct.pack(">i", p) for p in parts)
            if flex:
                body += b"\x00"
    if version >= 11:
        body += cstr("") if flex else kstr("")
    if flex:
        body += b"\x00"
    return request(1, version, corr, body, flexible=flex)


def parse_records(data):
    """[(offset, key, value, timestamp)] of the v2 batches in data (gzip or none)."""
    import gzip
    out = []
    pos = 0
    while pos + 61 <= len(data):
        base, blen = struct.unpack(">qi", data[pos:pos + 12])
        end = pos + 12 + blen
        if end > len(data):
            break
        attrs, _, base_ts = struct.unpack(">hiq", data[pos + 21:pos + 35])
        (count,) = struct.unpack(">i", data[pos + 57:pos + 61])
        recs = data[pos + 61:end]
        if attrs & 7 == 1:
            recs = gzip.decompress(recs)
        r = Reader(recs)
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
            out.append((off, key, value, ts))
        pos = end
    return out


def parse_fetch(frame, version):
    """{"error", "session", "topics": [(name_or_id, [partition dicts])]}."""
    flex = version >= 12
    r = Reader(frame, 4)
    r.tags(flex)
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

    def arr(n):
        return uvarint(n + 1) if flex else struct.pack(">i", n)

    body = struct.pack(">i", -1)
    if version >= 2:
        body += struct.pack(">b", isolation)
    body += arr(len(topics))
    for name, parts in topics:
        body += (cstr(name) if flex else kstr(name)) + arr(len(parts))
        for part in parts:
            body += struct.pack(">i", part[0])
            if version >= 4:
                body += struct.pack(">i", part[2] if len(part) > 2 else -1)
            body += struct.pack(">q", part[1])
            if flex:
                body += b"\x00"
        if flex:
            body += b"\x00"
    if version >= 10:
        body += struct.pack(">i", 30000)
    if flex:
        body += b"\x00"
    return request(2, version, corr, body, flexible=flex)


def parse_list_offsets(frame, version):
    """{(topic, partition): (error, timestamp, offset, leader_epoch)} in order, as a list."""
    flex = version >= 6
    r = Reader(frame, 4)
    r.tags(flex)
    if version >= 2:
        r.i32()
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


# ---- Produce and InitProducerId at any version (the produce tests) ----

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


def produce_request(corr, version, topics, acks=-1, timeout_ms=30000, transactional_id=None):
    """Produce v3-11. topics: [(name, [(partition, records bytes or None)])]."""
    flex = version >= 9

    def arr(n):
        return uvarint(n + 1) if flex else struct.pack(">i", n)

    def nbytes(b):
        if b is None:
            return uvarint(0) if flex else struct.pack(">i", -1)
        return (uvarint(len(b) + 1) if flex else struct.pack(">i", len(b))) + b

    tag = b"\x00" if flex else b""
    body = (cstr(transactional_id) if flex else kstr(transactional_id))
    body += struct.pack(">hi", acks, timeout_ms) + arr(len(topics))
    for name, parts in topics:
        body += (cstr(name) if flex else kstr(name)) + arr(len(parts))
        for p, recs in parts:
            body += struct.pack(">i", p) + nbytes(recs) + tag
        body += tag
    body += tag
    return request(0, version, corr, body, flexible=flex)


def parse_produce(frame, version):
    """[(topic, partition, error, base_offset, log_append_time, log_start, message)]."""
    flex = version >= 9
    r = Reader(frame, 4)
    r.tags(flex)
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
    body = (cstr(transactional_id) if flex else kstr(transactional_id))
    body += struct.pack(">i", timeout_ms)
    if version >= 3:
        body += struct.pack(">qh", producer_id, producer_epoch)
    if flex:
        body += b"\x00"
    return request(22, version, corr, body, flexible=flex)


def parse_init_producer_id(frame, version):
    """(error, producer_id, producer_epoch)."""
    r = Reader(frame, 4)
    r.tags(version >= 2)
    r.i32()
    return r.i16(), r.i64(), r.i16()


def parse_batches(data):
    """Every v2 batch in data as a dict: offsets, attributes, codec, timestamps,
    producer fields and the records [(offset, key, value, timestamp)], any codec."""
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
        crc_ok = struct.unpack(">I", data[pos + 17:pos + 21])[0] == crc32c(data[pos + 21:end])
        out.append({"base": base, "last": base + last_delta, "attrs": attrs, "codec": attrs & 7,
                    "base_ts": base_ts, "max_ts": max_ts, "pid": pid, "epoch": epoch,
                    "seq": seq, "records": records, "crc_ok": crc_ok})
        pos = end
    return out
