/*
 * protocol/batch.c: record batch v2 header, validation, records, building.
 */
#include "protocol/batch.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "protocol/crc32c.h"
#include "protocol/wire.h"

static_assert(SP_BATCH_HEADER_BYTES == 61, "v2 header is 61 bytes");
static_assert(SP_BATCH_ATTRIBUTES_OFFSET == SP_BATCH_CRC_OFFSET + 4, "CRC precedes attributes");

int sp_batch_header_parse(const uint8_t *buf, size_t len, struct sp_batch_header *out)
{
    if (len < SP_BATCH_HEADER_BYTES) {
        return -EBADMSG;
    }
    out->base_offset = (int64_t)sp_load_be64(buf);
    out->batch_length = (int32_t)sp_load_be32(buf + 8);
    out->partition_leader_epoch = (int32_t)sp_load_be32(buf + 12);
    out->magic = (int8_t)buf[16];
    out->crc = sp_load_be32(buf + 17);
    out->attributes = (int16_t)sp_load_be16(buf + 21);
    out->last_offset_delta = (int32_t)sp_load_be32(buf + 23);
    out->base_timestamp = (int64_t)sp_load_be64(buf + 27);
    out->max_timestamp = (int64_t)sp_load_be64(buf + 35);
    out->producer_id = (int64_t)sp_load_be64(buf + 43);
    out->producer_epoch = (int16_t)sp_load_be16(buf + 51);
    out->base_sequence = (int32_t)sp_load_be32(buf + 53);
    out->records_count = (int32_t)sp_load_be32(buf + 57);
    if (out->magic != SP_BATCH_MAGIC || out->batch_length < SP_BATCH_LENGTH_MIN ||
        out->batch_length > SP_BATCH_LENGTH_MAX) {
        return -EBADMSG;
    }
    return 0;
}

size_t sp_batch_size(const uint8_t *buf, size_t len)
{
    if (len < SP_BATCH_LOG_OVERHEAD) {
        return 0;
    }
    int32_t batch_length = (int32_t)sp_load_be32(buf + 8);
    if (batch_length < SP_BATCH_LENGTH_MIN || batch_length > SP_BATCH_LENGTH_MAX) {
        return 0;
    }
    return (size_t)batch_length + SP_BATCH_LOG_OVERHEAD;
}

int sp_batch_validate(const uint8_t *buf, size_t len, struct sp_batch_header *out)
{
    int rc = sp_batch_header_parse(buf, len, out);
    if (rc != 0) {
        return rc;
    }
    size_t size = (size_t)out->batch_length + SP_BATCH_LOG_OVERHEAD;
    if (size > len) {
        return -EBADMSG;
    }
    if ((out->attributes & SP_BATCH_ATTR_CODEC_MASK) >= SP_CODEC_COUNT) {
        return -EBADMSG;
    }
    if (out->last_offset_delta < 0 || out->records_count < 0 ||
        (int64_t)out->records_count > (int64_t)out->last_offset_delta + 1) {
        return -EBADMSG;
    }
    uint32_t crc =
        sp_crc32c(0, buf + SP_BATCH_ATTRIBUTES_OFFSET, size - SP_BATCH_ATTRIBUTES_OFFSET);
    if (crc != out->crc) {
        return -EBADMSG;
    }
    return 0;
}

int sp_batch_validate_produce(const uint8_t *buf, size_t len, struct sp_batch_header *out)
{
    int rc = sp_batch_validate(buf, len, out);
    if (rc != 0) {
        return rc;
    }
    if (out->records_count <= 0 ||
        (int64_t)out->records_count != (int64_t)out->last_offset_delta + 1) {
        return -EBADMSG;
    }
    return 0;
}

void sp_batch_set_base_offset(uint8_t *buf, int64_t base_offset)
{
    sp_store_be64(buf, (uint64_t)base_offset);
}

void sp_batch_set_leader_epoch(uint8_t *buf, int32_t epoch)
{
    sp_store_be32(buf + SP_BATCH_LEADER_EPOCH_OFFSET, (uint32_t)epoch);
}

void sp_batch_update_crc(uint8_t *buf, size_t batch_size)
{
    SP_ASSERT(batch_size >= SP_BATCH_HEADER_BYTES);
    uint32_t crc =
        sp_crc32c(0, buf + SP_BATCH_ATTRIBUTES_OFFSET, batch_size - SP_BATCH_ATTRIBUTES_OFFSET);
    sp_store_be32(buf + SP_BATCH_CRC_OFFSET, crc);
}

/* ---- records ---- */

void sp_record_iter_init(struct sp_record_iter *it, const struct sp_batch_header *h,
                         struct sp_slice records)
{
    static const uint8_t empty[1];
    it->p = records.ptr != NULL ? records.ptr : empty;
    it->end = it->p + records.len;
    it->base_offset = h->base_offset;
    it->base_timestamp = h->base_timestamp;
    it->left = h->records_count;
    it->last_delta = -1;
    it->last_offset_delta = h->last_offset_delta;
}

/* A varint length of key, value or header value: -1 is null, -2 and below
 * are malformed. */
static void record_rd_nullable(struct sp_rd *rd, struct sp_slice *out)
{
    int32_t n;
    sp_rd_varint(rd, &n);
    out->ptr = NULL;
    out->len = 0;
    if (n < -1) {
        sp_rd_fail(rd, -EBADMSG);
    } else if (n >= 0) {
        sp_rd_raw(rd, (size_t)n, out);
    }
}

static void record_rd_header(struct sp_rd *rd, struct sp_record_header *h)
{
    int32_t n;
    sp_rd_varint(rd, &n);
    h->key.ptr = NULL;
    h->key.len = 0;
    if (n < 0) {
        sp_rd_fail(rd, -EBADMSG);
    } else {
        sp_rd_raw(rd, (size_t)n, &h->key);
    }
    record_rd_nullable(rd, &h->value);
}

int sp_record_iter_next(struct sp_record_iter *it, struct sp_record *rec)
{
    if (it->left <= 0) {
        return it->p == it->end ? 0 : -EBADMSG;
    }
    struct sp_rd rd;
    sp_rd_init(&rd, it->p, (size_t)(it->end - it->p));
    int32_t length;
    sp_rd_varint(&rd, &length);
    if (rd.err != 0 || length < 0 || (size_t)length > sp_rd_left(&rd)) {
        return -EBADMSG;
    }
    const uint8_t *record_end = rd.p + length;
    rd.end = record_end;
    sp_rd_i8(&rd, &rec->attributes);
    sp_rd_varlong(&rd, &rec->timestamp_delta);
    sp_rd_varint(&rd, &rec->offset_delta);
    record_rd_nullable(&rd, &rec->key);
    record_rd_nullable(&rd, &rec->value);
    sp_rd_varint(&rd, &rec->headers_count);
    if (rd.err != 0 || rec->headers_count < 0 || (size_t)rec->headers_count > sp_rd_left(&rd) / 2) {
        return -EBADMSG;
    }
    rec->headers.ptr = rd.p;
    for (int32_t i = 0; i < rec->headers_count && rd.err == 0; i++) {
        struct sp_record_header h;
        record_rd_header(&rd, &h);
    }
    if (rd.err != 0 || rd.p != record_end) {
        return -EBADMSG;
    }
    rec->headers.len = (size_t)(rd.p - rec->headers.ptr);
    if (rec->offset_delta <= it->last_delta || rec->offset_delta > it->last_offset_delta) {
        return -EBADMSG;
    }
    it->last_delta = rec->offset_delta;
    rec->offset = it->base_offset + rec->offset_delta;
    rec->timestamp = (int64_t)((uint64_t)it->base_timestamp + (uint64_t)rec->timestamp_delta);
    it->p = record_end;
    it->left--;
    return 1;
}

int sp_record_headers_next(const struct sp_record *rec, size_t *pos, struct sp_record_header *h)
{
    if (*pos >= rec->headers.len) {
        return 0;
    }
    struct sp_rd rd;
    sp_rd_init(&rd, rec->headers.ptr + *pos, rec->headers.len - *pos);
    record_rd_header(&rd, h);
    if (rd.err != 0) {
        return -EBADMSG;
    }
    *pos = (size_t)(rd.p - rec->headers.ptr);
    return 1;
}

/* ---- building ---- */

static size_t varint_size(int64_t v)
{
    return sp_uvarlong_size(sp_zigzag64(v));
}

static size_t nullable_size(struct sp_slice s)
{
    return s.ptr == NULL ? 1 : varint_size((int64_t)s.len) + s.len;
}

/* The body of one record (everything after its length varint). */
static size_t record_body_size(const struct sp_record_in *r, int32_t offset_delta,
                               int64_t timestamp_delta)
{
    size_t n = 1 + varint_size(timestamp_delta) + varint_size(offset_delta);
    n += nullable_size(r->key) + nullable_size(r->value);
    n += varint_size(r->headers_count);
    for (int32_t i = 0; i < r->headers_count; i++) {
        n += varint_size((int64_t)r->headers[i].key.len) + r->headers[i].key.len;
        n += nullable_size(r->headers[i].value);
    }
    return n;
}

size_t sp_batch_build_bound(const struct sp_record_in *recs, size_t n)
{
    size_t total = SP_BATCH_HEADER_BYTES;
    for (size_t i = 0; i < n; i++) {
        /* Deltas take at most 10 and 5 bytes; the length at most 5. */
        total += record_body_size(&recs[i], INT32_MAX, INT64_MIN) + SP_VARINT_BYTES_MAX;
    }
    return total;
}

static uint8_t *put_varint(uint8_t *p, int64_t v)
{
    return p + sp_uvarlong_encode(p, sp_zigzag64(v));
}

static uint8_t *put_nullable(uint8_t *p, struct sp_slice s)
{
    if (s.ptr == NULL) {
        return put_varint(p, -1);
    }
    p = put_varint(p, (int64_t)s.len);
    if (s.len > 0) {
        memcpy(p, s.ptr, s.len);
    }
    return p + s.len;
}

int sp_records_encode(uint8_t *buf, size_t cap, const struct sp_record_in *recs, size_t n)
{
    if (n == 0 || n > INT32_MAX) {
        return -EINVAL;
    }
    int64_t base_timestamp = recs[0].timestamp;
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        const struct sp_record_in *r = &recs[i];
        if (r->headers_count < 0 || (r->headers_count > 0 && r->headers == NULL)) {
            return -EINVAL;
        }
        int64_t ts_delta = (int64_t)((uint64_t)r->timestamp - (uint64_t)base_timestamp);
        size_t body = record_body_size(r, (int32_t)i, ts_delta);
        if (body > INT32_MAX || varint_size((int64_t)body) + body > cap - (size_t)(p - buf)) {
            return -ENOSPC;
        }
        p = put_varint(p, (int64_t)body);
        *p++ = 0; /* record attributes: unused */
        p = put_varint(p, ts_delta);
        p = put_varint(p, (int64_t)i);
        p = put_nullable(p, r->key);
        p = put_nullable(p, r->value);
        p = put_varint(p, r->headers_count);
        for (int32_t h = 0; h < r->headers_count; h++) {
            struct sp_slice key = r->headers[h].key;
            p = put_varint(p, (int64_t)key.len);
            if (key.len > 0) {
                memcpy(p, key.ptr, key.len);
            }
            p += key.len;
            p = put_nullable(p, r->headers[h].value);
        }
    }
    if ((size_t)(p - buf) > INT32_MAX - SP_BATCH_HEADER_BYTES) {
        return -EINVAL;
    }
    return (int)(p - buf);
}

int sp_batch_finish(uint8_t *buf, const struct sp_batch_params *p, size_t records_bytes,
                    int32_t records_count, int64_t base_timestamp, int64_t max_timestamp)
{
    if (records_count <= 0 || records_bytes > (size_t)SP_BATCH_LENGTH_MAX - SP_BATCH_LENGTH_MIN) {
        return -EINVAL;
    }
    size_t size = SP_BATCH_HEADER_BYTES + records_bytes;
    sp_store_be64(buf, (uint64_t)p->base_offset);
    sp_store_be32(buf + 8, (uint32_t)(size - SP_BATCH_LOG_OVERHEAD));
    sp_store_be32(buf + 12, (uint32_t)p->partition_leader_epoch);
    buf[16] = SP_BATCH_MAGIC;
    sp_store_be16(buf + 21, (uint16_t)p->attributes);
    sp_store_be32(buf + 23, (uint32_t)(records_count - 1));
    sp_store_be64(buf + 27, (uint64_t)base_timestamp);
    sp_store_be64(buf + 35, (uint64_t)max_timestamp);
    sp_store_be64(buf + 43, (uint64_t)p->producer_id);
    sp_store_be16(buf + 51, (uint16_t)p->producer_epoch);
    sp_store_be32(buf + 53, (uint32_t)p->base_sequence);
    sp_store_be32(buf + 57, (uint32_t)records_count);
    sp_batch_update_crc(buf, size);
    return (int)size;
}

int sp_batch_build(uint8_t *buf, size_t cap, const struct sp_batch_params *p,
                   const struct sp_record_in *recs, size_t n)
{
    if (n == 0 || n > INT32_MAX || (p->attributes & SP_BATCH_ATTR_CODEC_MASK) != 0) {
        return -EINVAL;
    }
    if (cap < SP_BATCH_HEADER_BYTES) {
        return -ENOSPC;
    }
    int len = sp_records_encode(buf + SP_BATCH_HEADER_BYTES, cap - SP_BATCH_HEADER_BYTES, recs, n);
    if (len < 0) {
        return len;
    }
    int64_t max_ts = recs[0].timestamp;
    for (size_t i = 1; i < n; i++) {
        max_ts = SP_MAX(max_ts, recs[i].timestamp);
    }
    return sp_batch_finish(buf, p, (size_t)len, (int32_t)n, recs[0].timestamp, max_ts);
}
