/*
 * protocol/batch.h: Kafka record batches, magic v2, the on-disk and on-wire
 * unit of data.
 *
 * Layout (big-endian; offsets in bytes):
 *
 *    0 baseOffset int64          \ log overhead (12), not in batchLength
 *    8 batchLength int32         /
 *   12 partitionLeaderEpoch int32   (not covered by the CRC)
 *   16 magic int8 = 2
 *   17 crc uint32: CRC-32C of bytes 21 .. end
 *   21 attributes int16: bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4,
 *        4 zstd), 3 timestamp type (1 = log append time), 4 transactional,
 *        5 control, 6 delete horizon set
 *   23 lastOffsetDelta int32
 *   27 baseTimestamp int64
 *   35 maxTimestamp int64
 *   43 producerId int64
 *   51 producerEpoch int16
 *   53 baseSequence int32
 *   57 recordsCount int32
 *   61 records (compressed as a whole when codec != 0)
 *
 * Each record: length varint, attributes int8, timestampDelta varlong,
 * offsetDelta varint, key (varint length, -1 null), value (likewise),
 * header count varint, headers (key: varint length + bytes, value: varint
 * length, -1 null, + bytes). Varints are zigzag.
 *
 * Nothing here allocates. Every function only reads or writes the buffers
 * it is given (borrowed); parsed records are slices of those buffers. Bytes
 * from the network or the disk are validated, never asserted on: malformed
 * input gives -EBADMSG.
 */
#ifndef SP_PROTOCOL_BATCH_H
#define SP_PROTOCOL_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sp.h"

#define SP_BATCH_HEADER_BYTES 61 /* whole fixed header incl. baseOffset+batchLength */
#define SP_BATCH_LOG_OVERHEAD 12 /* baseOffset(8) + batchLength(4) */
#define SP_BATCH_MAGIC        2
/* Offsets of the fields that are rewritten or checksummed. */
#define SP_BATCH_LEADER_EPOCH_OFFSET 12
#define SP_BATCH_MAGIC_OFFSET        16
#define SP_BATCH_CRC_OFFSET          17
#define SP_BATCH_ATTRIBUTES_OFFSET   21
/* The smallest batchLength: the header after the log overhead. */
#define SP_BATCH_LENGTH_MIN (SP_BATCH_HEADER_BYTES - SP_BATCH_LOG_OVERHEAD)
/* Larger batchLength values are malformed (Kafka's limit is the int32). */
#define SP_BATCH_LENGTH_MAX (INT32_MAX - SP_BATCH_LOG_OVERHEAD)

#define SP_BATCH_ATTR_CODEC_MASK      0x07
#define SP_BATCH_ATTR_LOG_APPEND_TIME 0x08
#define SP_BATCH_ATTR_TRANSACTIONAL   0x10
#define SP_BATCH_ATTR_CONTROL         0x20
#define SP_BATCH_ATTR_DELETE_HORIZON  0x40

enum sp_codec {
    SP_CODEC_NONE = 0,
    SP_CODEC_GZIP = 1,
    SP_CODEC_SNAPPY = 2,
    SP_CODEC_LZ4 = 3,
    SP_CODEC_ZSTD = 4,
};
#define SP_CODEC_COUNT 5

/* No producer id / epoch / sequence (non-idempotent producers). */
#define SP_NO_PRODUCER_ID    (-1)
#define SP_NO_PRODUCER_EPOCH (-1)
#define SP_NO_SEQUENCE       (-1)

struct sp_batch_header {
    int64_t base_offset;
    int32_t batch_length;
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
};

/* Parses the fixed header of buf (borrowed). Returns 0, or -EBADMSG if len
 * < 61, magic != 2 or batch_length is out of range. Does not need the whole
 * batch in buf and checks no CRC. */
int sp_batch_header_parse(const uint8_t *buf, size_t len, struct sp_batch_header *out);

/* Parses and validates the batch at the start of buf: the whole batch
 * (12 + batch_length bytes) is in buf, the CRC-32C matches, the codec is
 * known, and 0 <= records_count <= last_offset_delta + 1 (compaction may
 * remove records but never adds offsets). Records themselves are not
 * walked (see sp_record_iter). Returns 0 or -EBADMSG. */
int sp_batch_validate(const uint8_t *buf, size_t len, struct sp_batch_header *out);

/* Stricter check for a batch a producer sent: also records_count ==
 * last_offset_delta + 1 > 0, base offset 0 is not required. Returns 0 or
 * -EBADMSG. */
int sp_batch_validate_produce(const uint8_t *buf, size_t len, struct sp_batch_header *out);

/* Size of the whole batch at buf from its batchLength, 0 if it is not a
 * plausible batch (len < 12 or batchLength out of range). */
size_t sp_batch_size(const uint8_t *buf, size_t len);

/* Rewrites fields outside the CRC in place (buf holds at least 61 bytes). */
void sp_batch_set_base_offset(uint8_t *buf, int64_t base_offset);
void sp_batch_set_leader_epoch(uint8_t *buf, int32_t epoch);
/* Recomputes and stores the CRC after a change inside its range (e.g. the
 * max timestamp for log-append time). */
void sp_batch_update_crc(uint8_t *buf, size_t batch_size);

static inline int64_t sp_batch_last_offset(const struct sp_batch_header *h)
{
    return h->base_offset + h->last_offset_delta;
}

static inline enum sp_codec sp_batch_codec(const struct sp_batch_header *h)
{
    return (enum sp_codec)(h->attributes & SP_BATCH_ATTR_CODEC_MASK);
}

static inline bool sp_batch_is_control(const struct sp_batch_header *h)
{
    return (h->attributes & SP_BATCH_ATTR_CONTROL) != 0;
}

static inline bool sp_batch_is_transactional(const struct sp_batch_header *h)
{
    return (h->attributes & SP_BATCH_ATTR_TRANSACTIONAL) != 0;
}

/* The records section of a validated batch (compressed when codec != 0). */
static inline struct sp_slice sp_batch_records(const uint8_t *buf, const struct sp_batch_header *h)
{
    return sp_slice_make(buf + SP_BATCH_HEADER_BYTES,
                         (size_t)h->batch_length + SP_BATCH_LOG_OVERHEAD - SP_BATCH_HEADER_BYTES);
}

/* ---- records ---- */

/* A record header; value.ptr == NULL for a null value. Borrowed. */
struct sp_record_header {
    struct sp_slice key;
    struct sp_slice value;
};

/* One record, its slices borrowed from the (decompressed) records bytes. */
struct sp_record {
    int64_t offset;    /* base_offset + offset_delta */
    int64_t timestamp; /* base_timestamp + timestamp_delta */
    int64_t timestamp_delta;
    int32_t offset_delta;
    int8_t attributes;
    struct sp_slice key;   /* ptr NULL: null key */
    struct sp_slice value; /* ptr NULL: null value (a tombstone) */
    int32_t headers_count;
    struct sp_slice headers; /* the encoded headers; walk with sp_record_headers_next */
};

struct sp_record_iter {
    const uint8_t *p;
    const uint8_t *end;
    int64_t base_offset;
    int64_t base_timestamp;
    int32_t left;       /* records still expected */
    int32_t last_delta; /* offset delta of the previous record, -1 before the first */
    int32_t last_offset_delta;
};

/* Starts walking the records (uncompressed: the batch's own records
 * section, or the output of sp_batch_decompress) of the batch h. */
void sp_record_iter_init(struct sp_record_iter *it, const struct sp_batch_header *h,
                         struct sp_slice records);

/* Returns 1 and fills rec, 0 at the end (all records_count records read and
 * no bytes left), or -EBADMSG: a record overruns its length or the buffer,
 * offset deltas do not increase or pass last_offset_delta, bytes are left
 * over, or there are fewer records than the header says. */
int sp_record_iter_next(struct sp_record_iter *it, struct sp_record *rec);

/* Walks rec's headers: *pos starts at 0. Returns 1 and fills h, 0 after
 * the last, -EBADMSG when malformed. */
int sp_record_headers_next(const struct sp_record *rec, size_t *pos, struct sp_record_header *h);

/* ---- building ---- */

/* A record to build: timestamps are absolute; key/value ptr NULL for null. */
struct sp_record_in {
    struct sp_slice key;
    struct sp_slice value;
    int64_t timestamp;
    const struct sp_record_header *headers; /* borrowed, headers_count of them */
    int32_t headers_count;
};

struct sp_batch_params {
    int64_t base_offset;
    int32_t partition_leader_epoch;
    int16_t attributes;     /* codec bits must be 0 for sp_batch_build */
    int64_t producer_id;    /* SP_NO_PRODUCER_ID */
    int16_t producer_epoch; /* SP_NO_PRODUCER_EPOCH */
    int32_t base_sequence;  /* SP_NO_SEQUENCE */
};

/* Upper bound of the bytes sp_batch_build needs for these records. */
size_t sp_batch_build_bound(const struct sp_record_in *recs, size_t n);

/* Encodes the records alone (what goes after the header, before any
 * compression) into buf; returns their size, -ENOSPC if cap is too small,
 * -EINVAL for n == 0 or a negative headers_count. Offset deltas are 0..n-1
 * and timestamp deltas relative to recs[0].timestamp. */
int sp_records_encode(uint8_t *buf, size_t cap, const struct sp_record_in *recs, size_t n);

/* Writes the 61-byte header for a batch whose records section (as stored,
 * possibly compressed) already lies at buf + 61 with records_bytes bytes,
 * and computes the CRC. Returns the batch size or -EINVAL. */
int sp_batch_finish(uint8_t *buf, const struct sp_batch_params *p, size_t records_bytes,
                    int32_t records_count, int64_t base_timestamp, int64_t max_timestamp);

/* Builds an uncompressed v2 batch of n records into buf (cap bytes).
 * Returns the batch size, -ENOSPC when it does not fit, -EINVAL for n == 0
 * or codec bits set (see sp_batch_build_compressed in compress.h). */
int sp_batch_build(uint8_t *buf, size_t cap, const struct sp_batch_params *p,
                   const struct sp_record_in *recs, size_t n);

#endif /* SP_PROTOCOL_BATCH_H */
