/*
 * protocol/compress.h: the record batch codecs: gzip (zlib), snappy (raw
 * blocks and the xerial-framed stream Java clients write), lz4 (frame
 * format) and zstd.
 *
 * Decompression always has an output bound: a small compressed batch can
 * expand enormously, so output past max_out is refused (-EMSGSIZE) before
 * it is produced. Corrupt input is -EBADMSG. sp_compress_kafka_error() maps
 * either to the error code a broker answers.
 *
 * Output goes to a caller buffer, or grows in an arena (borrowed; nothing
 * is freed, the arena's reset frees it). Any thread may call these; each
 * call allocates its codec state on the heap and frees it before returning.
 */
#ifndef SP_PROTOCOL_COMPRESS_H
#define SP_PROTOCOL_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/sp.h"
#include "protocol/arena.h"
#include "protocol/batch.h"

/* Kafka error codes for decompression failures. */
#define SP_KAFKA_CORRUPT_MESSAGE              2
#define SP_KAFKA_UNSUPPORTED_COMPRESSION_TYPE 76
#define SP_KAFKA_INVALID_RECORD               87

/* xerial snappy framing: magic, then int32 version 1 and compat 1, then
 * blocks of int32 length + raw snappy. */
#define SP_SNAPPY_XERIAL_HEADER_BYTES 16
#define SP_SNAPPY_XERIAL_BLOCK_BYTES  (32 * 1024)

const char *sp_codec_name(enum sp_codec codec);
/* Parses "none", "gzip", "snappy", "lz4", "zstd"; 0 or -EINVAL. */
int sp_codec_parse(const char *name, enum sp_codec *out);

/* Bytes sp_compress may need for in_len input bytes. */
size_t sp_compress_bound(enum sp_codec codec, size_t in_len);

/* Compresses in (borrowed) into out (cap bytes; at least sp_compress_bound
 * is always enough). level 0 means the codec's default. Snappy output is
 * xerial-framed, as Java clients write it. Returns the compressed size,
 * -ENOSPC, -ENOTSUP (codec none or unknown) or -ENOMEM. */
long sp_compress(enum sp_codec codec, int level, const uint8_t *in, size_t in_len, uint8_t *out,
                 size_t cap);

/* Decompresses into out (cap bytes). Returns the size, -EMSGSIZE when the
 * output would pass cap, -EBADMSG for corrupt input, -ENOTSUP, -ENOMEM.
 * Snappy input may be raw or xerial-framed. */
long sp_decompress(enum sp_codec codec, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap);

/* Decompresses into memory from the arena a, at most max_out bytes; *out
 * is set on success. Returns 0 or as sp_decompress (-ENOMEM: arena full). */
int sp_decompress_arena(enum sp_codec codec, struct sp_slice in, struct sp_arena *a, size_t max_out,
                        struct sp_slice *out);

/* The records of a validated batch (buf, borrowed), decompressed into the
 * arena when the batch is compressed, or its own records otherwise. */
int sp_batch_records_decompress(const uint8_t *buf, const struct sp_batch_header *h,
                                struct sp_arena *a, size_t max_out, struct sp_slice *out);

/* Builds a v2 batch whose records are compressed with the codec in
 * p->attributes (none allowed). scratch (borrowed) holds the uncompressed
 * records meanwhile. Returns the batch size, -ENOSPC, -EINVAL, -ENOMEM. */
int sp_batch_build_compressed(uint8_t *buf, size_t cap, const struct sp_batch_params *p,
                              const struct sp_record_in *recs, size_t n, struct sp_arena *scratch);

/* The Kafka error a broker answers for a decompression result rc < 0. */
int16_t sp_compress_kafka_error(long rc);

#endif /* SP_PROTOCOL_COMPRESS_H */
