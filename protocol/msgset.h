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
 * the last absolute offset) and magic 0 offsets are absolute.
 *
 * Parsed keys and values are borrowed slices of the input (or of the
 * arena, for the inner messages of compressed wrappers).
 */
#ifndef SP_PROTOCOL_MSGSET_H
#define SP_PROTOCOL_MSGSET_H

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

struct sp_legacy_msg {
    int64_t offset; /* absolute, after resolving relative inner offsets */
    int8_t magic;
    int8_t attributes;
    int64_t timestamp;     /* SP_NO_TIMESTAMP for magic 0 */
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
 * the first non-zero return of fn and returns it. Returns 0, -EBADMSG
 * (truncated, bad CRC, bad magic, nested too deep), or the decompression's
 * error (-EMSGSIZE, -ENOMEM). */
int sp_msgset_walk(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out,
                   int (*fn)(void *ctx, const struct sp_legacy_msg *m), void *ctx);

/* Converts a message set (produce from an old client) into one v2 batch,
 * uncompressed, allocated in a. Offsets become deltas from the first
 * message's offset, the timestamp type carries over. Returns 0 and sets
 * *out, or as sp_msgset_walk; -EINVAL for an empty set. */
int sp_msgset_to_batch(const uint8_t *buf, size_t len, struct sp_arena *a, size_t max_out,
                       struct sp_slice *out);

/* Converts a validated v2 batch into an uncompressed message set of the
 * given magic (old Fetch versions), allocated in a. Control batches give
 * nothing (old clients do not know them). Returns 0 and sets *out. */
int sp_batch_to_msgset(const uint8_t *batch, size_t len, int8_t magic, struct sp_arena *a,
                       size_t max_out, struct sp_slice *out);

#endif /* SP_PROTOCOL_MSGSET_H */
