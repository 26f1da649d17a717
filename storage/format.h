/*
 * storage/format.h: the on-disk formats of a partition directory, as pure
 * functions over memory (internal to storage/, used by its tests).
 *
 *   <dir>/00000000000000000000.log        record batches exactly as on the wire
 *   <dir>/00000000000000000000.index      8-byte entries: relative offset, position
 *   <dir>/00000000000000000000.timeindex  12-byte entries: timestamp, relative offset
 *   <dir>/leader-epoch-checkpoint         "0\n<n>\n<epoch> <start offset>\n..."
 *   <dir>/partition.metadata              "version: 0\ntopic_id: <base64url>\n"
 *   <dir>/log-start-offset                "<offset>\n" (moved by DeleteRecords)
 *   <dir>/.clean-shutdown                 present only after a clean close
 *
 * All integers in index files are big-endian, as Kafka writes them, so
 * Kafka's own tools can read a Spindle segment. Nothing here does I/O or
 * allocates except where a function says so. Bytes handed to the parsers
 * come from disk and are never asserted on: every parser returns -EBADMSG
 * or stops at the first entry that does not make sense.
 */
#ifndef SP_STORAGE_FORMAT_H
#define SP_STORAGE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define SP_SEG_NAME_DIGITS    20
#define SP_SEG_NAME_MAX       (SP_SEG_NAME_DIGITS + 16)
#define SP_INDEX_ENTRY_BYTES  8
#define SP_TINDEX_ENTRY_BYTES 12
/* Offsets of the fields of a v2 batch header that storage reads or patches. */
#define SP_BATCH_OFF_BASE_OFFSET 0
#define SP_BATCH_OFF_LENGTH      8
#define SP_BATCH_OFF_EPOCH       12
#define SP_BATCH_OFF_MAGIC       16
#define SP_BATCH_OFF_CRC         17
#define SP_BATCH_OFF_LAST_DELTA  23
#define SP_BATCH_OFF_MAX_TS      35
#define SP_BATCH_HDR_BYTES       61
#define SP_BATCH_LOG_OVERHEAD    12
/* Largest batch storage accepts from anyone; message.max.bytes is checked earlier. */
#define SP_BATCH_BYTES_MAX (64u << 20)

static inline uint32_t sp_be32_get(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t sp_be64_get(const uint8_t *p)
{
    return ((uint64_t)sp_be32_get(p) << 32) | sp_be32_get(p + 4);
}
static inline void sp_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void sp_be64_put(uint8_t *p, uint64_t v)
{
    sp_be32_put(p, (uint32_t)(v >> 32));
    sp_be32_put(p + 4, (uint32_t)v);
}

/* "00000000000000000042.log" for base 42 and ext ".log". Returns the length. */
int sp_seg_name(char *out, size_t cap, int64_t base_offset, const char *ext);
/* Parses a segment file name; returns 0 and the base and extension or -EINVAL. */
int sp_seg_name_parse(const char *name, int64_t *base_offset, const char **ext);

/* What storage needs from a batch header. */
struct sp_seg_batch {
    int64_t base_offset;
    int64_t last_offset;
    int64_t max_timestamp;
    int32_t leader_epoch;
    uint32_t size; /* bytes on disk, log overhead included */
};

/*
 * Reads the header of the batch at buf. Returns 1 and fills *out when a whole
 * header is present and its fields make sense (magic 2, a length between the
 * header size and SP_BATCH_BYTES_MAX), 0 when more bytes are needed to tell,
 * and -EBADMSG when the bytes cannot be a batch (zeros read back from
 * reserved space land here). The CRC is not checked.
 */
int sp_seg_batch_peek(const uint8_t *buf, size_t len, struct sp_seg_batch *out);
/* Whether the CRC-32C over attributes..end matches. buf holds b->size bytes. */
bool sp_seg_batch_crc_ok(const uint8_t *buf, const struct sp_seg_batch *b);

/* Result of scanning a run of batches. */
struct sp_seg_scan {
    uint64_t valid_bytes; /* bytes of whole, valid, contiguous batches */
    int64_t next_offset;  /* offset after the last valid batch */
    int64_t max_timestamp;
    uint32_t batches;
    bool need_more; /* stopped at a batch that runs past the buffer */
    bool corrupt;   /* stopped at bytes that are not a valid batch */
    bool gaps_ok;   /* set by the caller: offsets may jump up (cleaned segments) */
};

/* Called for each valid batch found by a scan, with its position in the segment. */
typedef void (*sp_seg_scan_fn)(void *ctx, const struct sp_seg_batch *b, uint64_t pos);

/*
 * Walks batches in buf (which starts at segment position `pos`) while each is
 * whole, has a correct CRC and starts at the expected offset (`next_offset`
 * is updated; INT64_MIN accepts any first base offset; with `gaps_ok`, any
 * offset at or above the expected one, as compaction leaves them). Stops without error
 * at the end of the buffer. Pure: recovery runs it over chunks read back.
 */
void sp_seg_scan(const uint8_t *buf, size_t len, uint64_t pos, struct sp_seg_scan *st,
                 sp_seg_scan_fn fn, void *ctx);

/* ---- Offset and time indexes ------------------------------------------ */

struct sp_index_entry {
    uint32_t rel_offset; /* offset - segment base */
    uint32_t position;   /* byte position of the batch in the .log */
};

struct sp_tindex_entry {
    int64_t timestamp;
    uint32_t rel_offset;
};

void sp_index_entry_put(uint8_t *p, const struct sp_index_entry *e);
void sp_index_entry_get(const uint8_t *p, struct sp_index_entry *e);
void sp_tindex_entry_put(uint8_t *p, const struct sp_tindex_entry *e);
void sp_tindex_entry_get(const uint8_t *p, struct sp_tindex_entry *e);

/*
 * Validates index bytes read from disk for a segment of `seg_bytes` bytes:
 * whole entries, strictly increasing offsets and positions, positions inside
 * the segment. Returns the number of good entries, or -EBADMSG. Kafka's
 * preallocated index tail of zeros ends the entries (not an error).
 */
long sp_index_validate(const uint8_t *buf, size_t len, uint64_t seg_bytes);
long sp_tindex_validate(const uint8_t *buf, size_t len);

/* Index of the last entry with rel_offset <= rel, or -1. */
long sp_index_floor(const struct sp_index_entry *e, size_t n, uint32_t rel);
/* Index of the last entry with timestamp < ts, or -1 (where a search for ts starts). */
long sp_tindex_floor(const struct sp_tindex_entry *e, size_t n, int64_t ts);

/* ---- Small metadata files ---------------------------------------------- */

struct sp_epoch_entry {
    int32_t epoch;
    int64_t start_offset;
};

/* Formats the leader-epoch checkpoint. Returns the length or -ENOSPC. */
int sp_epoch_ckpt_format(char *out, size_t cap, const struct sp_epoch_entry *e, size_t n);
/* Parses it into e (cap entries). Returns the count or -EBADMSG. */
int sp_epoch_ckpt_parse(const char *buf, size_t len, struct sp_epoch_entry *e, size_t cap);

int sp_partmeta_format(char *out, size_t cap, const uint8_t topic_id[16]);
int sp_partmeta_parse(const char *buf, size_t len, uint8_t topic_id[16]);

#endif /* SP_STORAGE_FORMAT_H */
