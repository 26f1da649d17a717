/*
 * protocol/msgset.c: magic 0/1 message sets: parse, build, convert.
 */
#include "protocol/msgset.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "protocol/compress.h"
#include "protocol/wire.h"

#define MSG_LOG_OVERHEAD 12 /* offset + size */
#define MSG_CRC_BYTES    4

static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (len > 0) {
        uInt n = (uInt)SP_MIN(len, (size_t)UINT32_MAX);
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

static size_t nullable_bytes(struct sp_slice s)
{
    return 4 + (s.ptr != NULL ? s.len : 0);
}

static uint8_t *put_nullable(uint8_t *p, struct sp_slice s)
{
    if (s.ptr == NULL) {
        sp_store_be32(p, 0xffffffffu);
        return p + 4;
    }
    sp_store_be32(p, (uint32_t)s.len);
    if (s.len > 0) {
        memcpy(p + 4, s.ptr, s.len);
    }
    return p + 4 + s.len;
}

int sp_msgset_append(uint8_t *buf, size_t cap, int8_t magic, int8_t attributes, int64_t offset,
                     int64_t timestamp, struct sp_slice key, struct sp_slice value)
{
    if (magic != 0 && magic != 1) {
        return -EINVAL;
    }
    if ((key.ptr != NULL && key.len > INT32_MAX) || (value.ptr != NULL && value.len > INT32_MAX)) {
        return -EINVAL;
    }
    size_t body =
        MSG_CRC_BYTES + 2 + (magic == 1 ? 8 : 0) + nullable_bytes(key) + nullable_bytes(value);
    if (body > INT32_MAX || cap < MSG_LOG_OVERHEAD + body) {
        return -ENOSPC;
    }
    sp_store_be64(buf, (uint64_t)offset);
    sp_store_be32(buf + 8, (uint32_t)body);
    uint8_t *p = buf + MSG_LOG_OVERHEAD + MSG_CRC_BYTES;
    *p++ = (uint8_t)magic;
    *p++ = (uint8_t)attributes;
    if (magic == 1) {
        sp_store_be64(p, (uint64_t)timestamp);
        p += 8;
    }
    p = put_nullable(p, key);
    p = put_nullable(p, value);
    const uint8_t *crc_from = buf + MSG_LOG_OVERHEAD + MSG_CRC_BYTES;
    sp_store_be32(buf + MSG_LOG_OVERHEAD, crc32_ieee(crc_from, (size_t)(p - crc_from)));
    return (int)(MSG_LOG_OVERHEAD + body);
}

/* ---- lz4 of magic 0 ---- */

/* xxHash32 (seed 0), which the lz4 frame header checksum uses. */
#define XXH_P1 2654435761u
#define XXH_P2 2246822519u
#define XXH_P3 3266489917u
#define XXH_P4 668265263u
#define XXH_P5 374761393u

static uint32_t rotl32(uint32_t x, unsigned r)
{
    return (x << r) | (x >> (32 - r));
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t xxh32(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint32_t h;
    if (len >= 16) {
        uint32_t v[4] = {XXH_P1 + XXH_P2, XXH_P2, 0, 0u - XXH_P1};
        for (; end - p >= 16; p += 16) {
            for (int i = 0; i < 4; i++) {
                v[i] = rotl32(v[i] + load_le32(p + 4 * i) * XXH_P2, 13) * XXH_P1;
            }
        }
        h = rotl32(v[0], 1) + rotl32(v[1], 7) + rotl32(v[2], 12) + rotl32(v[3], 18);
    } else {
        h = XXH_P5;
    }
    h += (uint32_t)len;
    for (; end - p >= 4; p += 4) {
        h = rotl32(h + load_le32(p) * XXH_P3, 17) * XXH_P4;
    }
    for (; p < end; p++) {
        h = rotl32(h + *p * XXH_P5, 11) * XXH_P1;
    }
    h ^= h >> 15;
    h *= XXH_P2;
    h ^= h >> 13;
    h *= XXH_P3;
    h ^= h >> 16;
    return h;
}

#define LZ4_FRAME_MAGIC      0x184D2204u
#define LZ4_FLG_CONTENT_SIZE 0x08
#define LZ4_FLG_DICT_ID      0x01

/*
 * A copy of an lz4 frame (in the arena) whose header checksum is the right
 * one. Kafka 0.8-0.9 hashed the frame's magic number too, and Kafka reads
 * magic 0 frames without checking that byte; liblz4 checks it. Returns the
 * frame itself when it is not one lz4 could read anyway.
 */
static int lz4_fix_header(struct sp_slice in, struct sp_arena *a, struct sp_slice *out)
{
    *out = in;
    const uint8_t *f = in.ptr;
    if (in.len < 7 || load_le32(f) != LZ4_FRAME_MAGIC) {
        return 0;
    }
    size_t hc =
        6 + ((f[4] & LZ4_FLG_CONTENT_SIZE) != 0 ? 8 : 0) + ((f[4] & LZ4_FLG_DICT_ID) != 0 ? 4 : 0);
    if (hc >= in.len) {
        return 0;
    }
    uint8_t *copy = sp_arena_alloc(a, in.len);
    if (copy == NULL) {
        return -ENOMEM;
    }
    memcpy(copy, f, in.len);
    copy[hc] = (uint8_t)(xxh32(copy + 4, hc - 4) >> 8);
    *out = sp_slice_make(copy, in.len);
    return 0;
}

/* ---- parsing ---- */

struct walker {
    struct sp_arena *a;
    size_t max_out;
    int (*fn)(void *ctx, const struct sp_legacy_msg *m);
    void *ctx;
    /* Called before the messages of each set with their count (or NULL). */
    int (*reserve)(void *ctx, size_t n);
    /* sp_msgset_open's: the outer set's facts, and its rule that a
     * compressed message is alone in its set (NULL for a plain walk). */
    struct sp_msgset_recs *open;
    const char *why;
};

static int refuse(struct walker *w, int err, const char *why)
{
    w->why = why;
    return err;
}

static void rd_nullable(struct sp_rd *rd, struct sp_slice *out)
{
    sp_rd_bytes(rd, out, false, true);
}

/*
 * Parses the message at rd into m and steps past it: frame, magic (checked
 * against `magic` when that is not -1), CRC, fields. The magic is read
 * before the CRC, as a reader must to know the layout.
 */
static int msg_next(struct walker *w, struct sp_rd *rd, int8_t magic, struct sp_legacy_msg *m)
{
    int32_t size;
    sp_rd_i64(rd, &m->offset);
    sp_rd_i32(rd, &size);
    if (rd->err != 0 || (size_t)size > sp_rd_left(rd)) {
        return refuse(w, -EBADMSG, "truncated message");
    }
    if (size < SP_MSG_BODY_BYTES_MIN) {
        return refuse(w, -EBADMSG, "message smaller than the smallest message");
    }
    const uint8_t *msg_end = rd->p + size;
    struct sp_rd body;
    uint32_t crc;
    sp_rd_init(&body, rd->p, (size_t)size);
    rd->p = msg_end;
    sp_rd_u32(&body, &crc);
    m->magic = (int8_t)body.p[0];
    if (magic >= 0 && m->magic != magic) {
        return refuse(w, -EPROTO, "messages of different magic in one set");
    }
    if (m->magic != 0 && m->magic != 1) {
        return refuse(w, -EBADMSG, "message magic is not 0 or 1");
    }
    if (crc32_ieee(body.p, sp_rd_left(&body)) != crc) {
        return refuse(w, -EBADMSG, "message CRC mismatch");
    }
    sp_rd_i8(&body, &m->magic);
    sp_rd_i8(&body, &m->attributes);
    m->timestamp = SP_NO_TIMESTAMP;
    m->log_append_time = false;
    if (m->magic == 1) {
        sp_rd_i64(&body, &m->timestamp);
        m->log_append_time = (m->attributes & SP_BATCH_ATTR_LOG_APPEND_TIME) != 0;
    }
    rd_nullable(&body, &m->key);
    rd_nullable(&body, &m->value);
    if (body.err != 0 || body.p != msg_end) {
        return refuse(w, -EBADMSG, "message fields do not fill its size");
    }
    return 0;
}

/* Counts the messages of a set by their sizes; the last one's offset. */
static int set_count(struct walker *w, const uint8_t *buf, size_t len, size_t *n, int64_t *last)
{
    struct sp_rd rd;
    sp_rd_init(&rd, buf, len);
    *n = 0;
    while (sp_rd_left(&rd) > 0) {
        int32_t size;
        sp_rd_i64(&rd, last);
        sp_rd_i32(&rd, &size);
        if (rd.err != 0 || size < 0 || (size_t)size > sp_rd_left(&rd)) {
            return refuse(w, -EBADMSG, "truncated message");
        }
        sp_rd_skip(&rd, (size_t)size);
        (*n)++;
    }
    return 0;
}

static int walk_set(struct walker *w, const uint8_t *buf, size_t len, int depth,
                    const struct sp_legacy_msg *wrapper);

/* sp_msgset_open's view of an outer message (bytes long, in a set of n). */
static int open_note(struct walker *w, const struct sp_legacy_msg *m, size_t bytes, size_t n)
{
    struct sp_msgset_recs *o = w->open;
    int codec = m->attributes & SP_BATCH_ATTR_CODEC_MASK;
    o->magic = m->magic; /* all alike, or msg_next refused */
    o->entry_bytes_max = SP_MAX(o->entry_bytes_max, bytes);
    if (codec == SP_CODEC_NONE) {
        return 0;
    }
    if (n > 1) {
        return refuse(w, -EPROTO, "a compressed message must be alone in its set");
    }
    o->codec = (enum sp_codec)(codec < SP_CODEC_COUNT ? codec : SP_CODEC_NONE);
    return 0;
}

/* Opens a compressed wrapper and walks its inner messages. */
static int open_wrapper(struct walker *w, const struct sp_legacy_msg *m, int depth)
{
    int codec = m->attributes & SP_BATCH_ATTR_CODEC_MASK;
    if (depth >= SP_MSGSET_DEPTH_MAX) {
        return refuse(w, -EPROTO, "a compressed message inside a compressed message");
    }
    if (codec == SP_CODEC_ZSTD) {
        return refuse(w, -EPROTO, "zstd cannot compress magic 0/1 messages");
    }
    if (codec >= SP_CODEC_COUNT) {
        return refuse(w, -EBADMSG, "unknown compression codec");
    }
    if (m->value.ptr == NULL) {
        return refuse(w, -EPROTO, "a compressed message with a null value");
    }
    struct sp_slice z = m->value;
    if (codec == SP_CODEC_LZ4 && m->magic == 0 && lz4_fix_header(m->value, w->a, &z) != 0) {
        return refuse(w, -ENOMEM, "out of memory");
    }
    struct sp_slice inner;
    int rc = sp_decompress_arena((enum sp_codec)codec, z, w->a, w->max_out, &inner);
    if (rc == -EMSGSIZE || rc == -ENOMEM) {
        return refuse(w, rc, rc == -ENOMEM ? "out of memory" : "the message set expands too far");
    }
    if (rc < 0) {
        return refuse(w, -EBADMSG, "cannot decompress a compressed message");
    }
    if (inner.len == 0) {
        return refuse(w, -EPROTO, "a compressed message with no inner message");
    }
    return walk_set(w, inner.ptr, inner.len, depth + 1, m);
}

/* Walks one message set: the outer one (wrapper NULL) or a wrapper's. */
static int walk_set(struct walker *w, const uint8_t *buf, size_t len, int depth,
                    const struct sp_legacy_msg *wrapper)
{
    size_t n = 0;
    int64_t inner_last = -1;
    int rc = set_count(w, buf, len, &n, &inner_last);
    if (rc == 0 && w->reserve != NULL) {
        rc = w->reserve(w->ctx, n);
    }
    if (rc != 0) {
        return rc;
    }
    /* Relative inner offsets of magic 1: the wrapper's offset is the last
     * inner one, or 0 from producers that leave it so. */
    int64_t base = 0;
    if (wrapper != NULL && wrapper->magic == 1 && wrapper->offset != 0) {
        if (wrapper->offset < inner_last) {
            return refuse(w, -EPROTO, "wrapper offset below its last inner offset");
        }
        base = (int64_t)((uint64_t)wrapper->offset - (uint64_t)inner_last);
    }
    struct sp_rd rd;
    sp_rd_init(&rd, buf, len);
    int8_t magic = wrapper != NULL ? wrapper->magic : -1;
    while (sp_rd_left(&rd) > 0) {
        const uint8_t *start = rd.p;
        struct sp_legacy_msg m;
        rc = msg_next(w, &rd, magic, &m);
        if (rc == 0 && wrapper == NULL && w->open != NULL) {
            rc = open_note(w, &m, (size_t)(rd.p - start), n);
        }
        if (rc != 0) {
            return rc;
        }
        magic = m.magic;
        if (wrapper != NULL && wrapper->magic == 1) {
            m.offset = (int64_t)((uint64_t)m.offset + (uint64_t)base); /* wire values: wrap */
            m.log_append_time = wrapper->log_append_time;
            if (m.log_append_time) {
                m.timestamp = wrapper->timestamp;
            }
        }
        if ((m.attributes & SP_BATCH_ATTR_CODEC_MASK) == SP_CODEC_NONE) {
            rc = w->fn(w->ctx, &m);
        } else {
            rc = open_wrapper(w, &m, depth);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int sp_msgset_walk(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out,
                   int (*fn)(void *ctx, const struct sp_legacy_msg *m), void *ctx)
{
    struct walker w = {a, max_out, fn, ctx, NULL, NULL, NULL};
    return walk_set(&w, buf, len, 0, NULL);
}

/* ---- conversion to v2 ---- */

struct collect {
    struct sp_arena *a;
    struct sp_msgset_recs *out;
    size_t cap;
};

/* Makes room for n more records at once: a set's count is known before its messages. */
static int collect_reserve(void *ctx, size_t n)
{
    struct collect *c = ctx;
    struct sp_msgset_recs *o = c->out;
    if (o->n + n <= c->cap) {
        return 0;
    }
    size_t cap = o->n + n;
    struct sp_record_in *r = sp_arena_grow(c->a, o->recs, c->cap * sizeof(*r), cap * sizeof(*r));
    if (r == NULL) {
        o->why = "out of memory";
        return -ENOMEM;
    }
    o->recs = r;
    c->cap = cap;
    return 0;
}

static int collect_one(void *ctx, const struct sp_legacy_msg *m)
{
    struct collect *c = ctx;
    struct sp_msgset_recs *o = c->out;
    SP_ASSERT(o->n < c->cap);
    if (o->n == 0) {
        o->first_offset = m->offset;
    }
    struct sp_record_in *r = &o->recs[o->n++];
    memset(r, 0, sizeof(*r));
    r->key = m->key;
    r->value = m->value;
    r->timestamp = m->timestamp;
    if (m->log_append_time) {
        o->log_append_time++;
        o->log_append_time_no_ts += m->timestamp == SP_NO_TIMESTAMP;
    }
    return 0;
}

int sp_msgset_open(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out,
                   struct sp_msgset_recs *out)
{
    memset(out, 0, sizeof(*out));
    struct collect c = {a, out, 0};
    struct walker w = {a, max_out, collect_one, &c, collect_reserve, out, NULL};
    int rc = walk_set(&w, buf, len, 0, NULL);
    if (rc == 0 && out->n == 0) {
        rc = refuse(&w, -EINVAL, "empty message set");
    }
    if (rc != 0 && out->why == NULL) {
        out->why = w.why != NULL ? w.why : "refused";
    }
    return rc;
}

int sp_msgset_to_batch(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out,
                       struct sp_slice *out)
{
    struct sp_msgset_recs o;
    int rc = sp_msgset_open(buf, len, a, max_out, &o);
    if (rc != 0) {
        return rc;
    }
    size_t bound = sp_batch_build_bound(o.recs, o.n);
    uint8_t *b = sp_arena_alloc(a, bound);
    if (b == NULL) {
        return -ENOMEM;
    }
    int16_t attrs = (int16_t)(o.log_append_time > 0 ? SP_BATCH_ATTR_LOG_APPEND_TIME : 0);
    struct sp_batch_params p = {o.first_offset, -1, attrs, SP_NO_PRODUCER_ID, SP_NO_PRODUCER_EPOCH,
                                SP_NO_SEQUENCE};
    int size = sp_batch_build(b, bound, &p, o.recs, o.n);
    if (size < 0) {
        return size;
    }
    *out = sp_slice_make(b, (size_t)size);
    return 0;
}

/* ---- conversion from v2 ---- */

int sp_batch_to_msgset(const uint8_t *batch, size_t len, int8_t magic, struct sp_arena *a,
                       size_t max_out, struct sp_slice *out)
{
    struct sp_batch_header h;
    int rc = sp_batch_validate(batch, len, &h);
    if (rc != 0) {
        return rc;
    }
    if (magic != 0 && magic != 1) {
        return -EINVAL;
    }
    if (sp_batch_is_control(&h)) {
        *out = sp_slice_make(batch, 0);
        return 0;
    }
    struct sp_slice records;
    rc = sp_batch_records_decompress(batch, &h, a, max_out, &records);
    if (rc != 0) {
        return rc;
    }
    /* Each record grows by at most the fixed message header. */
    size_t cap = records.len + (size_t)h.records_count * SP_MSG_V1_HEADER_BYTES;
    if (cap > max_out) {
        return -EMSGSIZE;
    }
    uint8_t *buf = sp_arena_alloc(a, cap);
    if (buf == NULL) {
        return -ENOMEM;
    }
    size_t used = 0;
    struct sp_record_iter it;
    struct sp_record r;
    sp_record_iter_init(&it, &h, records);
    bool log_append = (h.attributes & SP_BATCH_ATTR_LOG_APPEND_TIME) != 0;
    while ((rc = sp_record_iter_next(&it, &r)) == 1) {
        int64_t ts = log_append ? h.max_timestamp : r.timestamp;
        int8_t attrs = (int8_t)(magic == 1 && log_append ? SP_BATCH_ATTR_LOG_APPEND_TIME : 0);
        int n =
            sp_msgset_append(buf + used, cap - used, magic, attrs, r.offset, ts, r.key, r.value);
        if (n < 0) {
            return n;
        }
        used += (size_t)n;
    }
    if (rc != 0) {
        return rc;
    }
    *out = sp_slice_make(buf, used);
    return 0;
}
