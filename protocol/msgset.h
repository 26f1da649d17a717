/*
 * protocol/msgset.h: legacy message sets (magic 0 and 1), for old clients.
 *
 * Old producers send them (converted to v2 batches on produce) and old
 * Fetch versions get them back (v0-v1: magic 0, v2-v3: magic 1).
 *
 *   offset int64 | size int32 | crc uint32 (CRC-32, IEEE, over the rest)
 *   | magic int8 | attributes int8 (bits 0-2 codec, bit 3 log-append time)
 *   | timestamp int64 (magic 1 only) | key bytes | value bytes
 *
 * A compressed message is a wrapper whose value is a compressed message
 * set; inside, magic 1 offsets are relative (0..n-1, the wrapper carries
 * the last absolute offset, or 0 as some librdkafka versions send) and
 * magic 0 offsets are absolute. Inner messages take the wrapper's
 * timestamp type, and its timestamp when that type is log append time.
 * An lz4 wrapper of magic 0 may carry the frame header checksum that
 * Kafka 0.8-0.9 computed wrongly (over the frame's magic number too): it
 * is not checked, as Kafka does not check it for magic 0.
 *
 *   [offset|size|crc|magic|attrs(codec)|(ts)|key|value = compressed( inner messages )]
 *
 * Errors, in the broker's terms (Kafka's LogValidator and legacy
 * iterators):
 *   -EBADMSG  corrupt: truncated, size below a message's minimum, CRC
 *             mismatch, magic not 0/1 in the first message, unknown
 *             codec, undecodable compressed value (CORRUPT_MESSAGE)
 *   -EPROTO   well formed but not allowed: magics mixed, a wrapper inside
 *             a wrapper, a wrapper with a null value or no inner message,
 *             a zstd wrapper, a magic 1 wrapper offset below its last
 *             inner offset (INVALID_RECORD)
 *   -EMSGSIZE a wrapper expands past max_out
 *   -ENOMEM   the arena is full
 * sp_msgset_open also says why, in a static string.
 *
 * Parsed keys and values are borrowed slices of the input (or of the
 * arena, for the inner messages of compressed wrappers). Nothing is
 * allocated but from the arena given; any thread may call these.
 */
#ifndef SP_PROTOCOL_MSGSET_H
#define SP_PROTOCOL_MSGSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sp.h"
#include "protocol/arena.h"
#include "protocol/batch.h"

/* Fixed bytes of a message: offset, size, crc, magic, attributes, key and
 * value lengths; magic 1 adds the timestamp. */
#define SP_MSG_V0_HEADER_BYTES 26
#define SP_MSG_V1_HEADER_BYTES 34
#define SP_NO_TIMESTAMP        (-1)
/* Deepest nesting of compressed wrappers accepted (Kafka allows one). */
#define SP_MSGSET_DEPTH_MAX 1

/* The smallest message after offset and size: crc, magic, attributes and
 * the two lengths (Kafka's RECORD_OVERHEAD_V0). */
#define SP_MSG_BODY_BYTES_MIN 14

struct sp_legacy_msg {
    int64_t offset; /* absolute, after resolving relative inner offsets */
    int8_t magic;
    int8_t attributes;
    int64_t timestamp;     /* SP_NO_TIMESTAMP for magic 0; the wrapper's when log_append_time */
    bool log_append_time;  /* magic 1 timestamp type (an inner message's: its wrapper's) */
    struct sp_slice key;   /* ptr NULL: null */
    struct sp_slice value; /* ptr NULL: null */
};

/* Appends one message to buf (cap bytes). attributes carries the codec of
 * a wrapper (its value then holds the compressed inner set) and the
 * timestamp type. Returns its size or -ENOSPC, -EINVAL (magic not 0/1). */
int sp_msgset_append(uint8_t *buf, size_t cap, int8_t magic, int8_t attributes, int64_t offset,
                     int64_t timestamp, struct sp_slice key, struct sp_slice value);

/* Calls fn for every message of the message set buf (borrowed), opening
 * compressed wrappers into arena a (at most max_out bytes each). Stops at
 * the first non-zero return of fn and returns it. Returns 0 or an error
 * of the list above. */
int sp_msgset_walk(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out,
                   int (*fn)(void *ctx, const struct sp_legacy_msg *m), void *ctx);

/* A produced message set, opened into the records of one v2 batch. */
struct sp_msgset_recs {
    struct sp_record_in *recs; /* n records in the arena; slices borrow buf or the arena */
    size_t n;
    int8_t magic;
    enum sp_codec codec;          /* the wrapper's codec, SP_CODEC_NONE for plain messages */
    int64_t first_offset;         /* the first record's offset as sent (the log assigns its own) */
    size_t entry_bytes_max;       /* the largest outer message, offset and size included */
    size_t log_append_time;       /* records whose timestamp type says log append time */
    size_t log_append_time_no_ts; /* ... of them without a timestamp */
    const char *why;              /* the reason when refused (static) */
};

/* Opens the message set of a produce request (buf, borrowed) as Kafka's
 * broker takes one: every message checked, a compressed wrapper alone in
 * its set (-EPROTO otherwise) and opened within max_out bytes, its inner
 * messages becoming the records. Records are in order; offsets are not
 * kept (the log assigns them). Returns 0, -EINVAL for an empty set, or an
 * error of the list above; out->why says why. */
int sp_msgset_open(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out,
                   struct sp_msgset_recs *out);

/* Converts a message set into one uncompressed v2 batch, allocated in a,
 * based at the first message's offset, offsets following one by one; the
 * log append time type carries over. Returns 0 and sets *out, or as
 * sp_msgset_open. */
int sp_msgset_to_batch(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out,
                       struct sp_slice *out);

/* Converts a validated v2 batch into an uncompressed message set of the
 * given magic (old Fetch versions), allocated in a. Control batches give
 * nothing (old clients do not know them). Returns 0 and sets *out. */
int sp_batch_to_msgset(const uint8_t *batch, size_t len, int8_t magic, struct sp_arena *a,
                       size_t max_out, struct sp_slice *out);

#endif /* SP_PROTOCOL_MSGSET_H */
