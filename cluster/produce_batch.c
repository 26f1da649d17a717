/*
 * cluster/produce_batch.c: the checks a producer's batch passes before it
 * is appended, and the rewrites the topic's config asks for.
 *
 * The checks and their errors follow Kafka's broker for a client's batch,
 * in Kafka's order:
 *
 *   no batch, or more than one                INVALID_RECORD
 *   magic other than 2                        INVALID_RECORD
 *   truncated or bad CRC                      CORRUPT_MESSAGE
 *   larger than max.message.bytes             MESSAGE_TOO_LARGE
 *   larger than segment.bytes                 RECORD_LIST_TOO_LARGE
 *   zstd before Produce v7                    UNSUPPORTED_COMPRESSION_TYPE
 *   base offset not 0, control batch, record
 *   count not matching the offsets, a producer
 *   id without a sequence                     INVALID_RECORD
 *   transactional (no transactions yet)       INVALID_TXN_STATE
 *   CreateTime outside the allowed skew       INVALID_TIMESTAMP
 *   a record without a key (compacted topic)  INVALID_RECORD
 *
 * Timestamps are judged record by record when the topic limits their
 * skew (message.timestamp.before/after.max.ms), on the batch's first and
 * largest timestamps otherwise.
 *
 * Rewrites: a topic whose compression.type names a codec gets batches in
 * that codec (decompressed within SP_PRODUCE_DECOMPRESS_MAX, or
 * max.message.bytes when the target is uncompressed, and checked record by
 * record); a LogAppendTime topic gets the broker's time as the batch's
 * max timestamp with the timestamp-type bit set, and a new CRC. Either way
 * the new batch is the owner shard's memory (pp->owned): the request's
 * bytes are never written.
 *
 * Produce v0-2 carry message sets of magic 0 or 1 (protocol/msgset.h);
 * a magic 2 batch there takes the path above, as Kafka takes it. A
 * message set becomes one v2 batch: its messages, or a compressed
 * wrapper's inner messages, become the records in order, with the
 * offsets the log assigns, their own timestamps (none for magic 0), no
 * producer id, in the wrapper's codec when compression.type is
 * "producer" (uncompressed for plain messages), else the topic's codec.
 * Its checks, in Kafka's order where Kafka has one:
 *
 *   no message                                INVALID_RECORD
 *   truncated, below a message's size, bad
 *   CRC, unknown magic or codec, undecodable  CORRUPT_MESSAGE
 *   magics mixed, a wrapper not alone, inside
 *   a wrapper, empty, null or zstd, a bad
 *   magic 1 wrapper offset                    INVALID_RECORD
 *   a message larger than max.message.bytes,
 *   or a wrapper expanding too far            MESSAGE_TOO_LARGE
 *   a record without a key (compacted topic)  INVALID_RECORD
 *   CreateTime outside the allowed skew, or a
 *   log append time type from the producer    INVALID_TIMESTAMP
 *   the v2 batch larger than max.message.bytes MESSAGE_TOO_LARGE
 *   ... or than segment.bytes                 RECORD_LIST_TOO_LARGE
 *
 * Kafka ignores a partial message at the end of a set (it trims it); a
 * producer that sends one has a bug, so it is refused here instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/part.h"
#include "cluster/produce.h"
#include "protocol/compress.h"
#include "protocol/crc32c.h"
#include "protocol/msgset.h"
#include "protocol/gen/kerr.h"
#include "protocol/wire.h"

#define SP_BATCH_MAX_TS_OFFSET 35

static int16_t fail(struct sp_produce_part *pp, int16_t error, const char *fmt, ...)
    SP_PRINTF(3, 4);

static int16_t fail(struct sp_produce_part *pp, int16_t error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pp->message, sizeof(pp->message), fmt, ap);
    va_end(ap);
    return error;
}

/* Whether a CreateTime timestamp lies within the topic's allowed skew around now. */
static bool timestamp_ok(int64_t ts, int64_t now_ms, const struct sp_topic_cfg *c)
{
    if (ts == -1) {
        return true; /* no timestamp */
    }
    if (ts < now_ms) {
        return (uint64_t)now_ms - (uint64_t)ts <= (uint64_t)c->timestamp_before_max_ms;
    }
    return (uint64_t)ts - (uint64_t)now_ms <= (uint64_t)c->timestamp_after_max_ms;
}

/* The framing checks, up to and including the CRC. */
static int16_t check_frame(struct sp_produce_part *pp, const struct sp_topic_cfg *c, size_t *size)
{
    const uint8_t *buf = pp->records.ptr;
    size_t len = pp->records.len;
    if (buf == NULL || len == 0) {
        return fail(pp, KERR_INVALID_RECORD, "a produce request needs one record batch");
    }
    if (len <= SP_BATCH_MAGIC_OFFSET) {
        return fail(pp, KERR_CORRUPT_MESSAGE, "truncated record batch (%zu bytes)", len);
    }
    if (buf[SP_BATCH_MAGIC_OFFSET] != SP_BATCH_MAGIC) {
        return fail(pp, KERR_INVALID_RECORD, "record batch magic %d: only magic 2 is accepted",
                    buf[SP_BATCH_MAGIC_OFFSET]);
    }
    size_t n = sp_batch_size(buf, len);
    if (n < SP_BATCH_HEADER_BYTES || n > len) {
        return fail(pp, KERR_CORRUPT_MESSAGE, "truncated or malformed record batch");
    }
    if (n < len) {
        return fail(pp, KERR_INVALID_RECORD, "exactly one record batch per partition is accepted");
    }
    if ((int64_t)n > c->max_message_bytes) {
        return fail(pp, KERR_MESSAGE_TOO_LARGE,
                    "record batch of %zu bytes is larger than max.message.bytes (%d)", n,
                    c->max_message_bytes);
    }
    if ((int64_t)n > c->segment_bytes) {
        return fail(pp, KERR_RECORD_LIST_TOO_LARGE,
                    "record batch of %zu bytes is larger than segment.bytes", n);
    }
    uint32_t crc = sp_crc32c(0, buf + SP_BATCH_ATTRIBUTES_OFFSET, n - SP_BATCH_ATTRIBUTES_OFFSET);
    if (crc != sp_load_be32(buf + SP_BATCH_CRC_OFFSET)) {
        return fail(pp, KERR_CORRUPT_MESSAGE, "record batch CRC mismatch");
    }
    *size = n;
    return 0;
}

/* The header checks after the CRC. */
static int16_t check_header(struct sp_produce_part *pp, size_t size, int16_t version)
{
    struct sp_batch_header *h = &pp->h;
    if (sp_batch_validate_produce(pp->records.ptr, size, h) != 0) {
        return fail(pp, KERR_INVALID_RECORD,
                    "malformed record batch header (codec, record count or offsets)");
    }
    if (h->base_offset != 0) {
        return fail(pp, KERR_INVALID_RECORD, "a produced batch's base offset must be 0, not %lld",
                    (long long)h->base_offset);
    }
    if (sp_batch_codec(h) == SP_CODEC_ZSTD && version < 7) {
        return fail(pp, KERR_UNSUPPORTED_COMPRESSION_TYPE, "zstd needs Produce v7 or later");
    }
    if (sp_batch_is_control(h)) {
        return fail(pp, KERR_INVALID_RECORD, "clients may not write control batches");
    }
    if (sp_batch_is_transactional(h)) {
        return fail(pp, KERR_INVALID_TXN_STATE,
                    "transactional batch without an ongoing transaction (transactions are not "
                    "supported yet)");
    }
    if (h->producer_id >= 0 && h->base_sequence < 0) {
        return fail(pp, KERR_INVALID_RECORD, "producer id %lld with no sequence number",
                    (long long)h->producer_id);
    }
    return 0;
}

/* Copies the batch and stamps the broker's time into it (LogAppendTime). */
static int16_t stamp_copy(struct sp_produce_part *pp, size_t size, int64_t now_ms)
{
    uint8_t *b = malloc(size);
    if (b == NULL) {
        return fail(pp, KERR_KAFKA_STORAGE_ERROR, "out of memory");
    }
    memcpy(b, pp->records.ptr, size);
    uint16_t attrs =
        (uint16_t)(sp_load_be16(b + SP_BATCH_ATTRIBUTES_OFFSET) | SP_BATCH_ATTR_LOG_APPEND_TIME);
    sp_store_be16(b + SP_BATCH_ATTRIBUTES_OFFSET, attrs);
    sp_store_be64(b + SP_BATCH_MAX_TS_OFFSET, (uint64_t)now_ms);
    sp_batch_update_crc(b, size);
    pp->owned = b;
    pp->data = b;
    pp->len = size;
    pp->h.attributes = (int16_t)attrs;
    pp->h.max_timestamp = now_ms;
    return 0;
}

/* Checks the decompressed records one by one; a compacted topic's need keys. */
static int16_t check_records(struct sp_produce_part *pp, struct sp_slice recs, bool need_keys)
{
    struct sp_record_iter it;
    struct sp_record rec;
    sp_record_iter_init(&it, &pp->h, recs);
    int rc;
    while ((rc = sp_record_iter_next(&it, &rec)) == 1) {
        if (need_keys && rec.key.ptr == NULL) {
            return fail(pp, KERR_INVALID_RECORD,
                        "a compacted topic cannot accept a record without a key");
        }
    }
    if (rc < 0) {
        return fail(pp, KERR_CORRUPT_MESSAGE, "malformed records in the batch");
    }
    return 0;
}

/* The batch's records, decompressed into `a` within max_out bytes; 0 or the error. */
static int16_t records_get(struct sp_produce_part *pp, struct sp_arena *a, size_t max_out,
                           struct sp_slice *recs)
{
    int rc = sp_batch_records_decompress(pp->records.ptr, &pp->h, a, max_out, recs);
    if (rc == -EMSGSIZE) {
        return fail(pp, KERR_MESSAGE_TOO_LARGE, "records expand past %zu bytes", max_out);
    }
    if (rc < 0) {
        return fail(pp, sp_compress_kafka_error(rc), "cannot decompress the batch (%s)",
                    sp_codec_name(sp_batch_codec(&pp->h)));
    }
    return 0;
}

static int16_t timestamp_fail(struct sp_produce_part *pp, int64_t ts, int64_t now_ms)
{
    return fail(pp, KERR_INVALID_TIMESTAMP,
                "timestamp %lld is out of the allowed range around the broker's time %lld",
                (long long)ts, (long long)now_ms);
}

/*
 * CreateTime: every record's timestamp within the topic's skew. The batch's
 * first and largest timestamps say enough when the topic allows any skew
 * (the default); a topic that limits it has each record checked, its
 * batch decompressed for that if need be.
 */
static int16_t check_timestamps(struct sp_produce_part *pp, const struct sp_topic_cfg *c,
                                int64_t now_ms)
{
    const struct sp_batch_header *h = &pp->h;
    if (!timestamp_ok(h->base_timestamp, now_ms, c)) {
        return timestamp_fail(pp, h->base_timestamp, now_ms);
    }
    if (!timestamp_ok(h->max_timestamp, now_ms, c)) {
        return timestamp_fail(pp, h->max_timestamp, now_ms);
    }
    if (c->timestamp_before_max_ms == INT64_MAX && c->timestamp_after_max_ms == INT64_MAX) {
        return 0;
    }
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, SP_PRODUCE_DECOMPRESS_MAX + 4096);
    struct sp_slice recs = {NULL, 0};
    int16_t err = records_get(pp, &a, SP_PRODUCE_DECOMPRESS_MAX, &recs);
    struct sp_record_iter it;
    struct sp_record rec;
    int rc = 0;
    if (err == 0) {
        sp_record_iter_init(&it, h, recs);
        while (err == 0 && (rc = sp_record_iter_next(&it, &rec)) == 1) {
            if (!timestamp_ok(rec.timestamp, now_ms, c)) {
                err = timestamp_fail(pp, rec.timestamp, now_ms);
            }
        }
        if (err == 0 && rc < 0) {
            err = fail(pp, KERR_CORRUPT_MESSAGE, "malformed records in the batch");
        }
    }
    sp_arena_destroy(&a);
    return err;
}

/* A compacted topic's batch kept as it is: every record must have a key. */
static int16_t check_keys(struct sp_produce_part *pp)
{
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, SP_PRODUCE_DECOMPRESS_MAX + 4096);
    struct sp_slice recs = {NULL, 0};
    int16_t err = records_get(pp, &a, SP_PRODUCE_DECOMPRESS_MAX, &recs);
    if (err == 0) {
        err = check_records(pp, recs, true);
    }
    sp_arena_destroy(&a);
    return err;
}

/* Builds pp->owned: the records in codec `target`, stamped when stamp. */
static int16_t rebuild(struct sp_produce_part *pp, const struct sp_topic_cfg *c,
                       enum sp_codec target, bool stamp, int64_t now_ms)
{
    const struct sp_batch_header *h = &pp->h;
    size_t max_out =
        target == SP_CODEC_NONE ? (size_t)c->max_message_bytes : SP_PRODUCE_DECOMPRESS_MAX;
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, max_out + 4096);
    struct sp_slice recs = {NULL, 0};
    int16_t err = records_get(pp, &a, max_out, &recs);
    if (err == 0) {
        err = check_records(pp, recs, c->cleanup_compact);
    }
    size_t cap = SP_BATCH_HEADER_BYTES +
                 (target == SP_CODEC_NONE ? recs.len : sp_compress_bound(target, recs.len));
    uint8_t *b = err == 0 ? malloc(cap) : NULL;
    if (err == 0 && b == NULL) {
        err = fail(pp, KERR_KAFKA_STORAGE_ERROR, "out of memory");
    }
    long n = 0;
    if (err == 0 && target == SP_CODEC_NONE) {
        memcpy(b + SP_BATCH_HEADER_BYTES, recs.ptr, recs.len);
        n = (long)recs.len;
    } else if (err == 0) {
        n = sp_compress(target, 0, recs.ptr, recs.len, b + SP_BATCH_HEADER_BYTES,
                        cap - SP_BATCH_HEADER_BYTES);
        if (n < 0) {
            err = fail(pp, KERR_KAFKA_STORAGE_ERROR, "cannot compress with %s",
                       sp_codec_name(target));
        }
    }
    sp_arena_destroy(&a);
    if (err != 0) {
        free(b);
        return err;
    }
    int16_t attrs = (int16_t)((h->attributes & ~SP_BATCH_ATTR_CODEC_MASK) | (int16_t)target |
                              (stamp ? SP_BATCH_ATTR_LOG_APPEND_TIME : 0));
    struct sp_batch_params bp = {.base_offset = 0,
                                 .partition_leader_epoch = h->partition_leader_epoch,
                                 .attributes = attrs,
                                 .producer_id = h->producer_id,
                                 .producer_epoch = h->producer_epoch,
                                 .base_sequence = h->base_sequence};
    int64_t max_ts = stamp ? now_ms : h->max_timestamp;
    int size = sp_batch_finish(b, &bp, (size_t)n, h->records_count, h->base_timestamp, max_ts);
    if (size < 0 || (int64_t)size > c->max_message_bytes) {
        free(b);
        return fail(pp, KERR_MESSAGE_TOO_LARGE,
                    "record batch is larger than max.message.bytes (%d) after recompression",
                    c->max_message_bytes);
    }
    pp->owned = b;
    pp->data = b;
    pp->len = (size_t)size;
    pp->h.attributes = attrs;
    pp->h.max_timestamp = max_ts;
    pp->h.batch_length = size - SP_BATCH_LOG_OVERHEAD;
    return 0;
}

/* ---- message sets (magic 0 and 1) from Produce v0-2 ---- */

static bool is_msgset(const struct sp_produce_part *pp, int16_t version)
{
    const uint8_t *buf = pp->records.ptr;
    return version < 3 && buf != NULL && pp->records.len > SP_BATCH_MAGIC_OFFSET &&
           buf[SP_BATCH_MAGIC_OFFSET] < SP_BATCH_MAGIC;
}

/* The error for sp_msgset_open's refusal rc. */
static int16_t msgset_fail(struct sp_produce_part *pp, int rc, const char *why, size_t max_out)
{
    switch (rc) {
    case -EINVAL:
    case -EPROTO:
        return fail(pp, KERR_INVALID_RECORD, "%s", why);
    case -EMSGSIZE:
        return fail(pp, KERR_MESSAGE_TOO_LARGE, "a compressed message expands past %zu bytes",
                    max_out);
    case -ENOMEM:
        return fail(pp, KERR_KAFKA_STORAGE_ERROR, "out of memory");
    default:
        return fail(pp, KERR_CORRUPT_MESSAGE, "%s", why);
    }
}

/* The opened set's records against the topic: sizes, keys, timestamps. */
static int16_t msgset_check(struct sp_produce_part *pp, const struct sp_topic_cfg *c,
                            const struct sp_msgset_recs *o, int64_t now_ms)
{
    if (o->entry_bytes_max > (size_t)c->max_message_bytes) {
        return fail(pp, KERR_MESSAGE_TOO_LARGE,
                    "message of %zu bytes is larger than max.message.bytes (%d)",
                    o->entry_bytes_max, c->max_message_bytes);
    }
    if (o->n > INT32_MAX) {
        return fail(pp, KERR_INVALID_RECORD, "too many messages for one batch");
    }
    for (size_t i = 0; i < o->n; i++) {
        const struct sp_record_in *r = &o->recs[i];
        if (c->cleanup_compact && r->key.ptr == NULL) {
            return fail(pp, KERR_INVALID_RECORD,
                        "a compacted topic cannot accept a message without a key");
        }
        if (!c->timestamp_log_append && !timestamp_ok(r->timestamp, now_ms, c)) {
            return timestamp_fail(pp, r->timestamp, now_ms);
        }
    }
    /* Kafka refuses a producer's log append time type, but lets it pass
     * with a timestamp on a CreateTime topic (the timestamp is checked). */
    if (c->timestamp_log_append ? o->log_append_time > 0 : o->log_append_time_no_ts > 0) {
        return fail(pp, KERR_INVALID_TIMESTAMP,
                    "producers may not set the log append time type on messages");
    }
    return 0;
}

/* Encodes the records in codec target into pp->owned: the batch to append. */
static int16_t msgset_build(struct sp_produce_part *pp, const struct sp_topic_cfg *c,
                            const struct sp_msgset_recs *o, enum sp_codec target,
                            struct sp_arena *a, int64_t now_ms)
{
    size_t bound = sp_batch_build_bound(o->recs, o->n);
    uint8_t *raw = sp_arena_alloc(a, bound);
    int len = raw != NULL ? sp_records_encode(raw, bound, o->recs, o->n) : -ENOMEM;
    size_t cap = SP_BATCH_HEADER_BYTES + (len < 0 ? 0
                                          : target == SP_CODEC_NONE
                                              ? (size_t)len
                                              : sp_compress_bound(target, (size_t)len));
    uint8_t *b = len >= 0 ? malloc(cap) : NULL;
    if (b == NULL) {
        return fail(pp, KERR_KAFKA_STORAGE_ERROR, "out of memory");
    }
    long n = len;
    if (target == SP_CODEC_NONE) {
        memcpy(b + SP_BATCH_HEADER_BYTES, raw, (size_t)len);
    } else {
        n = sp_compress(target, 0, raw, (size_t)len, b + SP_BATCH_HEADER_BYTES,
                        cap - SP_BATCH_HEADER_BYTES);
    }
    if (n < 0) {
        free(b);
        return fail(pp, KERR_KAFKA_STORAGE_ERROR, "cannot compress with %s", sp_codec_name(target));
    }
    int64_t max_ts = o->recs[0].timestamp;
    for (size_t i = 1; i < o->n; i++) {
        max_ts = SP_MAX(max_ts, o->recs[i].timestamp);
    }
    bool stamp = c->timestamp_log_append;
    struct sp_batch_params bp = {
        .base_offset = 0,
        .partition_leader_epoch = -1,
        .attributes = (int16_t)((int)target | (stamp ? SP_BATCH_ATTR_LOG_APPEND_TIME : 0)),
        .producer_id = SP_NO_PRODUCER_ID,
        .producer_epoch = SP_NO_PRODUCER_EPOCH,
        .base_sequence = SP_NO_SEQUENCE};
    int size = sp_batch_finish(b, &bp, (size_t)n, (int32_t)o->n, o->recs[0].timestamp,
                               stamp ? now_ms : max_ts);
    if (size < 0 || (int64_t)size > c->max_message_bytes) {
        free(b);
        return fail(pp, KERR_MESSAGE_TOO_LARGE,
                    "message set is larger than max.message.bytes (%d) as a record batch",
                    c->max_message_bytes);
    }
    if ((int64_t)size > c->segment_bytes) {
        free(b);
        return fail(pp, KERR_RECORD_LIST_TOO_LARGE,
                    "record batch of %d bytes is larger than segment.bytes", size);
    }
    int rc = sp_batch_validate_produce(b, (size_t)size, &pp->h);
    SP_ASSERT(rc == 0);
    pp->owned = b;
    pp->data = b;
    pp->len = (size_t)size;
    if (stamp) {
        pp->log_append_time_ms = now_ms;
    }
    return 0;
}

/*
 * A message set of Produce v0-2, converted to the v2 batch to append in
 * pp->owned. Its wrapper opens within SP_PRODUCE_LEGACY_DECOMPRESS_MAX
 * bytes, or four times max.message.bytes when the batch will be
 * uncompressed (an empty message is 26 bytes as magic 0, 7 as a record).
 * The scratch arena holds the opened set, its records (56 bytes each, for
 * messages of 26 bytes at least) and their encoding: five times what it
 * reads bounds it.
 */
static int16_t msgset_convert(struct sp_produce_part *pp, const struct sp_topic_cfg *c,
                              int64_t now_ms)
{
    const uint8_t *buf = pp->records.ptr;
    size_t len = pp->records.len;
    bool keep = c->compression == SP_TOPIC_COMPRESSION_PRODUCER;
    size_t max_out = SP_PRODUCE_LEGACY_DECOMPRESS_MAX;
    if (!keep && c->compression == SP_CODEC_NONE) {
        max_out = SP_MIN(max_out, 4 * (size_t)c->max_message_bytes);
    }
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 5 * (max_out + len) + SP_ARENA_CHUNK_BYTES);
    struct sp_msgset_recs o;
    int rc = sp_msgset_open(buf, len, &a, max_out, &o);
    int16_t err = rc != 0 ? msgset_fail(pp, rc, o.why, max_out) : msgset_check(pp, c, &o, now_ms);
    if (err == 0) {
        enum sp_codec target = keep ? o.codec : (enum sp_codec)c->compression;
        err = msgset_build(pp, c, &o, target, &a, now_ms);
    }
    sp_arena_destroy(&a);
    return err;
}

int16_t sp_produce_validate(struct sp_produce_part *pp, const struct sp_part *p, int16_t version,
                            int64_t now_ms)
{
    const struct sp_topic_cfg *c = &p->cfg;
    if (is_msgset(pp, version)) {
        return msgset_convert(pp, c, now_ms);
    }
    size_t size = 0;
    int16_t err = check_frame(pp, c, &size);
    if (err == 0) {
        err = check_header(pp, size, version);
    }
    if (err != 0) {
        return err;
    }
    const struct sp_batch_header *h = &pp->h;
    bool stamp = c->timestamp_log_append;
    if (!stamp) {
        err = check_timestamps(pp, c, now_ms);
        if (err != 0) {
            return err;
        }
    }
    bool recompress =
        c->compression != SP_TOPIC_COMPRESSION_PRODUCER && c->compression != (int)sp_batch_codec(h);
    if (stamp) {
        pp->log_append_time_ms = now_ms;
    }
    if (recompress) {
        return rebuild(pp, c, (enum sp_codec)c->compression, stamp, now_ms);
    }
    if (c->cleanup_compact) {
        err = check_keys(pp);
        if (err != 0) {
            return err;
        }
    }
    if (stamp) {
        return stamp_copy(pp, size, now_ms);
    }
    pp->data = pp->records.ptr;
    pp->len = size;
    return 0;
}
