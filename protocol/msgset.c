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

static void rd_nullable(struct sp_rd *rd, struct sp_slice *out)
{
    sp_rd_bytes(rd, out, false, true);
}

static int walk(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out, int depth,
                int64_t wrapper_offset, int (*fn)(void *, const struct sp_legacy_msg *), void *ctx)
{
    struct sp_rd rd;
    sp_rd_init(&rd, buf, len);
    /* Relative inner offsets of magic 1 wrappers: the wrapper's offset is
     * the last inner one, so inner offset o is wrapper - (n - 1) + o. We do
     * not know n up front; count first. */
    int64_t inner_last = -1;
    if (depth > 0) {
        struct sp_rd cnt = rd;
        while (sp_rd_left(&cnt) >= MSG_LOG_OVERHEAD) {
            int64_t off;
            int32_t size;
            sp_rd_i64(&cnt, &off);
            sp_rd_i32(&cnt, &size);
            if (size < 0 || (size_t)size > sp_rd_left(&cnt)) {
                return -EBADMSG;
            }
            sp_rd_skip(&cnt, (size_t)size);
            inner_last = off;
        }
    }
    while (sp_rd_left(&rd) > 0) {
        struct sp_legacy_msg m;
        int32_t size;
        uint32_t crc;
        sp_rd_i64(&rd, &m.offset);
        sp_rd_i32(&rd, &size);
        if (rd.err != 0 || size < MSG_CRC_BYTES + 2 || (size_t)size > sp_rd_left(&rd)) {
            return -EBADMSG;
        }
        const uint8_t *msg_end = rd.p + size;
        struct sp_rd body;
        sp_rd_init(&body, rd.p, (size_t)size);
        sp_rd_u32(&body, &crc);
        if (crc32_ieee(body.p, sp_rd_left(&body)) != crc) {
            return -EBADMSG;
        }
        sp_rd_i8(&body, &m.magic);
        sp_rd_i8(&body, &m.attributes);
        m.timestamp = SP_NO_TIMESTAMP;
        if (m.magic == 1) {
            sp_rd_i64(&body, &m.timestamp);
        } else if (m.magic != 0) {
            return -EBADMSG;
        }
        rd_nullable(&body, &m.key);
        rd_nullable(&body, &m.value);
        if (body.err != 0 || body.p != msg_end) {
            return -EBADMSG;
        }
        rd.p = msg_end;
        if (depth > 0 && m.magic == 1) {
            m.offset = wrapper_offset - inner_last + m.offset;
        }
        int codec = m.attributes & SP_BATCH_ATTR_CODEC_MASK;
        int rc;
        if (codec == SP_CODEC_NONE) {
            rc = fn(ctx, &m);
        } else if (depth >= SP_MSGSET_DEPTH_MAX || codec >= SP_CODEC_COUNT || m.value.ptr == NULL) {
            rc = -EBADMSG;
        } else {
            struct sp_slice inner;
            rc = sp_decompress_arena((enum sp_codec)codec, m.value, a, max_out, &inner);
            if (rc == 0) {
                rc = walk(inner.ptr, inner.len, a, max_out, depth + 1, m.offset, fn, ctx);
            }
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
    return walk(buf, len, a, max_out, 0, 0, fn, ctx);
}

/* ---- conversion to v2 ---- */

struct collect {
    struct sp_arena *a;
    struct sp_record_in *recs;
    size_t n, cap;
    int64_t first_offset;
    int8_t attributes;
};

static int collect_one(void *ctx, const struct sp_legacy_msg *m)
{
    struct collect *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap > 0 ? c->cap * 2 : 64;
        struct sp_record_in *r =
            sp_arena_grow(c->a, c->recs, c->cap * sizeof(*r), cap * sizeof(*r));
        if (r == NULL) {
            return -ENOMEM;
        }
        c->recs = r;
        c->cap = cap;
    }
    if (c->n == 0) {
        c->first_offset = m->offset;
        c->attributes = (int8_t)(m->magic == 1 ? m->attributes & SP_BATCH_ATTR_LOG_APPEND_TIME : 0);
    }
    struct sp_record_in *r = &c->recs[c->n++];
    memset(r, 0, sizeof(*r));
    r->key = m->key;
    r->value = m->value;
    r->timestamp = m->timestamp;
    return 0;
}

int sp_msgset_to_batch(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out,
                       struct sp_slice *out)
{
    struct collect c = {a, NULL, 0, 0, 0, 0};
    int rc = sp_msgset_walk(buf, len, a, max_out, collect_one, &c);
    if (rc != 0) {
        return rc;
    }
    if (c.n == 0) {
        return -EINVAL;
    }
    size_t bound = sp_batch_build_bound(c.recs, c.n);
    uint8_t *b = sp_arena_alloc(a, bound);
    if (b == NULL) {
        return -ENOMEM;
    }
    struct sp_batch_params p = {
        c.first_offset, -1, c.attributes, SP_NO_PRODUCER_ID, SP_NO_PRODUCER_EPOCH, SP_NO_SEQUENCE};
    int size = sp_batch_build(b, bound, &p, c.recs, c.n);
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
