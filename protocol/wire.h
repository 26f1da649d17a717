/*
 * protocol/wire.h: the primitives every Kafka codec is built from.
 *
 * Reader: a bounds-checked cursor over borrowed bytes. The first error is
 * kept in rd->err (-EBADMSG for malformed input, -ENOMEM when the arena is
 * full) and every later read becomes a no-op that stores zero, so a decoder
 * reads a whole structure and checks once:
 *
 *   sp_rd_i16(&rd, &acks);
 *   sp_rd_array_len(&rd, &n, true, false, SP_KPROTO_ARRAY_MAX, 4);
 *   if (rd.err) return rd.err;
 *
 * Strings, bytes and records read by a reader are borrowed slices of the
 * input: they stay valid as long as the input buffer does.
 *
 * Writer: appends big-endian Kafka encodings to a buffer that grows from an
 * arena (or from the heap when no arena is given: tools and tests). The
 * first error (-ENOMEM, -EINVAL for a value the version cannot carry) is
 * kept in wr->err and later writes are no-ops.
 *
 * Encodings (all integers big-endian):
 *   fixed ints, float64 (IEEE 754), bool (1 byte), uuid (16 bytes)
 *   unsigned varint: 7 bits a byte, low bits first, high bit = more follows
 *   varint/varlong: zigzag, then unsigned varint
 *   string:  int16 length (-1 null) | compact: uvarint length+1 (0 null)
 *   bytes:   int32 length (-1 null) | compact: uvarint length+1 (0 null)
 *   array:   int32 count (-1 null)  | compact: uvarint count+1 (0 null)
 *   tagged fields (flexible versions): uvarint count, then per field
 *     uvarint tag, uvarint size, size bytes
 *
 * Nothing here allocates except sp_wr growth and callers' arena use.
 */
#ifndef SP_PROTOCOL_WIRE_H
#define SP_PROTOCOL_WIRE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/sp.h"
#include "protocol/arena.h"

/* The most elements any array in a request may claim. Real requests stay
 * far below (a Metadata request for every topic of a large cluster is about
 * 10^5); an arena limit bounds the memory in any case. */
#define SP_KPROTO_ARRAY_MAX (1 << 22)
/* Longest unsigned varint (32 bits) and varlong (64 bits) in bytes. */
#define SP_VARINT_BYTES_MAX  5
#define SP_VARLONG_BYTES_MAX 10

/* A borrowed string: not NUL-terminated. ptr == NULL means null. */
struct sp_str {
    const char *ptr;
    int32_t len;
};

struct sp_uuid {
    uint8_t b[16];
};

static inline struct sp_str sp_str_make(const char *s)
{
    struct sp_str r = {s, s != NULL ? (int32_t)strlen(s) : 0};
    return r;
}

static inline bool sp_str_eq(struct sp_str a, struct sp_str b)
{
    if (a.ptr == NULL || b.ptr == NULL) {
        return a.ptr == b.ptr;
    }
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

/*
 * A copy of s[0, len) in a, NUL-terminated (ptr[len] is '\0'), living as
 * long as a; null (ptr NULL) when a is full. s is borrowed.
 */
static inline struct sp_str sp_str_copy(struct sp_arena *a, const char *s, size_t len)
{
    struct sp_str r = {NULL, 0};
    char *p = (char *)sp_arena_alloc(a, len + 1);
    if (p != NULL) {
        if (len > 0) {
            memcpy(p, s, len);
        }
        p[len] = '\0';
        r.ptr = p;
        r.len = (int32_t)len;
    }
    return r;
}

/* sp_str_copy of a C string; null for NULL. */
static inline struct sp_str sp_str_dup(struct sp_arena *a, const char *s)
{
    struct sp_str none = {NULL, 0};
    return s != NULL ? sp_str_copy(a, s, strlen(s)) : none;
}

/* s as a C string copied into a; NULL for a null s or when a is full. */
static inline const char *sp_str_cstr(struct sp_arena *a, struct sp_str s)
{
    return s.ptr != NULL ? sp_str_copy(a, s.ptr, (size_t)s.len).ptr : NULL;
}

static inline bool sp_slice_eq(struct sp_slice a, struct sp_slice b)
{
    if (a.ptr == NULL || b.ptr == NULL) {
        return a.ptr == b.ptr;
    }
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ---- reader ---- */

struct sp_rd {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
    int err;            /* first error, 0 while fine */
};

static inline void sp_rd_init(struct sp_rd *rd, const void *buf, size_t len)
{
    static const uint8_t empty[1];
    rd->p = buf != NULL ? (const uint8_t *)buf : empty;
    rd->end = rd->p + (buf != NULL ? len : 0);
    rd->err = 0;
}

static inline size_t sp_rd_left(const struct sp_rd *rd)
{
    return (size_t)(rd->end - rd->p);
}

/* Records the first error and stops every later read. */
static inline void sp_rd_fail(struct sp_rd *rd, int err)
{
    if (rd->err == 0) {
        rd->err = err;
    }
    rd->p = rd->end;
}

/* True when n more bytes can be read; otherwise fails the reader. */
static inline bool sp_rd_need(struct sp_rd *rd, size_t n)
{
    if (SP_LIKELY(rd->err == 0 && sp_rd_left(rd) >= n)) {
        return true;
    }
    sp_rd_fail(rd, -EBADMSG);
    return false;
}

static inline void sp_rd_skip(struct sp_rd *rd, size_t n)
{
    if (sp_rd_need(rd, n)) {
        rd->p += n;
    }
}

static inline uint16_t sp_load_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t sp_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t sp_load_be64(const uint8_t *p)
{
    return (uint64_t)sp_load_be32(p) << 32 | sp_load_be32(p + 4);
}

static inline void sp_store_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void sp_store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void sp_store_be64(uint8_t *p, uint64_t v)
{
    sp_store_be32(p, (uint32_t)(v >> 32));
    sp_store_be32(p + 4, (uint32_t)v);
}

static inline void sp_rd_i8(struct sp_rd *rd, int8_t *v)
{
    *v = sp_rd_need(rd, 1) ? (int8_t)*rd->p++ : 0;
}

static inline void sp_rd_bool(struct sp_rd *rd, bool *v)
{
    /* Any non-zero byte is true, as in Kafka's readers. */
    *v = sp_rd_need(rd, 1) ? *rd->p++ != 0 : false;
}

static inline void sp_rd_i16(struct sp_rd *rd, int16_t *v)
{
    *v = 0;
    if (sp_rd_need(rd, 2)) {
        *v = (int16_t)sp_load_be16(rd->p);
        rd->p += 2;
    }
}

static inline void sp_rd_u16(struct sp_rd *rd, uint16_t *v)
{
    *v = 0;
    if (sp_rd_need(rd, 2)) {
        *v = sp_load_be16(rd->p);
        rd->p += 2;
    }
}

static inline void sp_rd_i32(struct sp_rd *rd, int32_t *v)
{
    *v = 0;
    if (sp_rd_need(rd, 4)) {
        *v = (int32_t)sp_load_be32(rd->p);
        rd->p += 4;
    }
}

static inline void sp_rd_u32(struct sp_rd *rd, uint32_t *v)
{
    *v = 0;
    if (sp_rd_need(rd, 4)) {
        *v = sp_load_be32(rd->p);
        rd->p += 4;
    }
}

static inline void sp_rd_i64(struct sp_rd *rd, int64_t *v)
{
    *v = 0;
    if (sp_rd_need(rd, 8)) {
        *v = (int64_t)sp_load_be64(rd->p);
        rd->p += 8;
    }
}

static inline void sp_rd_f64(struct sp_rd *rd, double *v)
{
    *v = 0;
    if (sp_rd_need(rd, 8)) {
        uint64_t bits = sp_load_be64(rd->p);
        memcpy(v, &bits, sizeof(*v));
        rd->p += 8;
    }
}

static inline void sp_rd_uuid(struct sp_rd *rd, struct sp_uuid *v)
{
    if (sp_rd_need(rd, 16)) {
        memcpy(v->b, rd->p, 16);
        rd->p += 16;
    } else {
        memset(v->b, 0, 16);
    }
}

/* Unsigned varint of at most 64 bits in at most max_bytes bytes; a value
 * that does not fit (over-long, or high bits set in the last byte) is
 * malformed. */
static inline uint64_t sp_rd_uvar_(struct sp_rd *rd, unsigned max_bytes, unsigned bits)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (unsigned i = 0; i < max_bytes; i++) {
        if (!sp_rd_need(rd, 1)) {
            return 0;
        }
        uint8_t b = *rd->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            if (i == max_bytes - 1 && (b >> (bits - shift)) != 0) {
                break;
            }
            return v;
        }
        shift += 7;
    }
    sp_rd_fail(rd, -EBADMSG);
    return 0;
}

static inline void sp_rd_uvarint(struct sp_rd *rd, uint32_t *v)
{
    if (SP_LIKELY(rd->p < rd->end && *rd->p < 0x80)) {
        *v = *rd->p++;
        return;
    }
    *v = (uint32_t)sp_rd_uvar_(rd, SP_VARINT_BYTES_MAX, 32);
}

static inline void sp_rd_uvarlong(struct sp_rd *rd, uint64_t *v)
{
    *v = sp_rd_uvar_(rd, SP_VARLONG_BYTES_MAX, 64);
}

static inline void sp_rd_varint(struct sp_rd *rd, int32_t *v)
{
    uint32_t u;
    sp_rd_uvarint(rd, &u);
    *v = (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

static inline void sp_rd_varlong(struct sp_rd *rd, int64_t *v)
{
    uint64_t u;
    sp_rd_uvarlong(rd, &u);
    *v = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

/* Takes n raw bytes as a borrowed slice. */
static inline void sp_rd_raw(struct sp_rd *rd, size_t n, struct sp_slice *out)
{
    out->ptr = NULL;
    out->len = 0;
    if (sp_rd_need(rd, n)) {
        out->ptr = rd->p;
        out->len = n;
        rd->p += n;
    }
}

/* Reads a length prefix: -1 for null (when nullable), else 0..INT32_MAX. */
static inline int64_t sp_rd_len_(struct sp_rd *rd, bool compact, bool nullable, bool wide)
{
    int64_t n;
    if (compact) {
        uint32_t u;
        sp_rd_uvarint(rd, &u);
        n = (int64_t)u - 1;
    } else if (wide) {
        int32_t v;
        sp_rd_i32(rd, &v);
        n = v;
    } else {
        int16_t v;
        sp_rd_i16(rd, &v);
        n = v;
    }
    if (rd->err != 0) {
        return 0;
    }
    if (n < -1 || (n == -1 && !nullable)) {
        sp_rd_fail(rd, -EBADMSG);
        return 0;
    }
    return n;
}

/* A string: int16 or compact length. Null only where nullable. */
static inline void sp_rd_str(struct sp_rd *rd, struct sp_str *out, bool compact, bool nullable)
{
    int64_t n = sp_rd_len_(rd, compact, nullable, false);
    out->ptr = NULL;
    out->len = 0;
    if (n >= 0 && rd->err == 0 && sp_rd_need(rd, (size_t)n)) {
        out->ptr = (const char *)rd->p;
        out->len = (int32_t)n;
        rd->p += n;
    }
}

/* Bytes (and records): int32 or compact length, borrowed from the input. */
static inline void sp_rd_bytes(struct sp_rd *rd, struct sp_slice *out, bool compact, bool nullable)
{
    int64_t n = sp_rd_len_(rd, compact, nullable, true);
    out->ptr = NULL;
    out->len = 0;
    if (n >= 0 && rd->err == 0 && sp_rd_need(rd, (size_t)n)) {
        out->ptr = rd->p;
        out->len = (size_t)n;
        rd->p += n;
    }
}

/* An array count: -1 for null (only when nullable). The count is checked
 * against max and against the bytes left, at elem_bytes_min bytes each,
 * before anyone allocates for it. */
static inline void sp_rd_array_len(struct sp_rd *rd, int32_t *out, bool compact, bool nullable,
                                   int32_t max, size_t elem_bytes_min)
{
    int64_t n = sp_rd_len_(rd, compact, nullable, true);
    *out = 0;
    if (rd->err != 0) {
        return;
    }
    if (n > max || (n > 0 && (uint64_t)n * elem_bytes_min > sp_rd_left(rd))) {
        sp_rd_fail(rd, -EBADMSG);
        return;
    }
    *out = (int32_t)n;
}

/* Allocates n elements of size bytes from the arena, zeroed; fails the
 * reader with -ENOMEM when the arena is full. n <= 0 gives NULL. */
void *sp_rd_alloc(struct sp_rd *rd, struct sp_arena *a, int32_t n, size_t size);

/* Walks the tagged fields of a flexible struct:
 *
 *   struct sp_rd_tags tags;
 *   sp_rd_tags_begin(rd, &tags);
 *   while (sp_rd_tags_next(rd, &tags)) {
 *       switch (tags.tag) { case 0: read the value from &tags.sub; ... }
 *       sp_rd_tags_end(rd, &tags);
 *   }
 *
 * Unknown tags are skipped by sp_rd_tags_end; an error in tags.sub fails rd.
 */
struct sp_rd_tags {
    uint32_t left; /* fields still to read */
    uint32_t tag;
    uint32_t size;
    struct sp_rd sub; /* the current field's bytes */
};

static inline void sp_rd_tags_begin(struct sp_rd *rd, struct sp_rd_tags *t)
{
    sp_rd_uvarint(rd, &t->left);
}

static inline bool sp_rd_tags_next(struct sp_rd *rd, struct sp_rd_tags *t)
{
    if (rd->err != 0 || t->left == 0) {
        return false;
    }
    t->left--;
    sp_rd_uvarint(rd, &t->tag);
    sp_rd_uvarint(rd, &t->size);
    if (!sp_rd_need(rd, t->size)) {
        return false;
    }
    t->sub.p = rd->p;
    t->sub.end = rd->p + t->size;
    t->sub.err = 0;
    return true;
}

static inline void sp_rd_tags_end(struct sp_rd *rd, struct sp_rd_tags *t)
{
    if (t->sub.err != 0) {
        sp_rd_fail(rd, t->sub.err);
    } else if (rd->err == 0) {
        rd->p += t->size;
    }
}

/* ---- writer ---- */

struct sp_wr {
    uint8_t *buf;
    size_t len;
    size_t cap;
    struct sp_arena *arena; /* borrowed; NULL: heap, freed by sp_wr_free */
    int err;
};

/* Starts a writer that grows in arena a (borrowed), or on the heap when a
 * is NULL. */
void sp_wr_init(struct sp_wr *wr, struct sp_arena *a, size_t initial_cap);
/* Frees a heap-backed writer's buffer. */
void sp_wr_free(struct sp_wr *wr);
/* Makes room for n more bytes; false (and wr->err) when that fails. */
bool sp_wr_grow_(struct sp_wr *wr, size_t n);

static inline void sp_wr_fail(struct sp_wr *wr, int err)
{
    if (wr->err == 0) {
        wr->err = err;
    }
}

static inline uint8_t *sp_wr_take(struct sp_wr *wr, size_t n)
{
    if (SP_UNLIKELY(wr->err != 0)) {
        return NULL;
    }
    if (SP_UNLIKELY(wr->cap - wr->len < n) && !sp_wr_grow_(wr, n)) {
        return NULL;
    }
    uint8_t *p = wr->buf + wr->len;
    wr->len += n;
    return p;
}

static inline void sp_wr_raw(struct sp_wr *wr, const void *src, size_t n)
{
    uint8_t *p = sp_wr_take(wr, n);
    if (p != NULL && n > 0) {
        memcpy(p, src, n);
    }
}

static inline void sp_wr_i8(struct sp_wr *wr, int8_t v)
{
    uint8_t *p = sp_wr_take(wr, 1);
    if (p != NULL) {
        *p = (uint8_t)v;
    }
}

static inline void sp_wr_bool(struct sp_wr *wr, bool v)
{
    sp_wr_i8(wr, v ? 1 : 0);
}

static inline void sp_wr_i16(struct sp_wr *wr, int16_t v)
{
    uint8_t *p = sp_wr_take(wr, 2);
    if (p != NULL) {
        sp_store_be16(p, (uint16_t)v);
    }
}

static inline void sp_wr_u16(struct sp_wr *wr, uint16_t v)
{
    sp_wr_i16(wr, (int16_t)v);
}

static inline void sp_wr_i32(struct sp_wr *wr, int32_t v)
{
    uint8_t *p = sp_wr_take(wr, 4);
    if (p != NULL) {
        sp_store_be32(p, (uint32_t)v);
    }
}

static inline void sp_wr_u32(struct sp_wr *wr, uint32_t v)
{
    sp_wr_i32(wr, (int32_t)v);
}

static inline void sp_wr_i64(struct sp_wr *wr, int64_t v)
{
    uint8_t *p = sp_wr_take(wr, 8);
    if (p != NULL) {
        sp_store_be64(p, (uint64_t)v);
    }
}

static inline void sp_wr_f64(struct sp_wr *wr, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    sp_wr_i64(wr, (int64_t)bits);
}

static inline void sp_wr_uuid(struct sp_wr *wr, const struct sp_uuid *v)
{
    sp_wr_raw(wr, v->b, 16);
}

/* Encodes v as an unsigned varint into p (room for 10 bytes); returns the
 * byte count. */
static inline size_t sp_uvarlong_encode(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline size_t sp_uvarlong_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint32_t sp_zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static inline uint64_t sp_zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline void sp_wr_uvarlong(struct sp_wr *wr, uint64_t v)
{
    uint8_t tmp[SP_VARLONG_BYTES_MAX];
    size_t n = sp_uvarlong_encode(tmp, v);
    sp_wr_raw(wr, tmp, n);
}

static inline void sp_wr_uvarint(struct sp_wr *wr, uint32_t v)
{
    if (v < 0x80) {
        sp_wr_i8(wr, (int8_t)v);
        return;
    }
    sp_wr_uvarlong(wr, v);
}

static inline void sp_wr_varint(struct sp_wr *wr, int32_t v)
{
    sp_wr_uvarint(wr, sp_zigzag32(v));
}

static inline void sp_wr_varlong(struct sp_wr *wr, int64_t v)
{
    sp_wr_uvarlong(wr, sp_zigzag64(v));
}

/* Length prefix for strings (int16), bytes and arrays (int32), or compact.
 * n == -1 writes null; a null where the version has no null is -EINVAL. */
static inline void sp_wr_len_(struct sp_wr *wr, int64_t n, bool compact, bool nullable, bool wide)
{
    if (n < 0 && !nullable) {
        sp_wr_fail(wr, -EINVAL);
        return;
    }
    if (compact) {
        sp_wr_uvarint(wr, (uint32_t)(n + 1));
    } else if (wide) {
        sp_wr_i32(wr, (int32_t)n);
    } else if (n > INT16_MAX) {
        sp_wr_fail(wr, -EINVAL);
    } else {
        sp_wr_i16(wr, (int16_t)n);
    }
}

/* A string. A null (ptr NULL) in a version where the field is not nullable
 * is written as the empty string, as Kafka's default for strings is "". */
static inline void sp_wr_str(struct sp_wr *wr, struct sp_str s, bool compact, bool nullable)
{
    if (s.ptr == NULL && nullable) {
        sp_wr_len_(wr, -1, compact, true, false);
        return;
    }
    int32_t n = s.ptr != NULL ? s.len : 0;
    sp_wr_len_(wr, n, compact, nullable, false);
    if (n > 0) {
        sp_wr_raw(wr, s.ptr, (size_t)n);
    }
}

static inline void sp_wr_bytes(struct sp_wr *wr, struct sp_slice s, bool compact, bool nullable)
{
    if (s.ptr == NULL && nullable) {
        sp_wr_len_(wr, -1, compact, true, true);
        return;
    }
    size_t n = s.ptr != NULL ? s.len : 0;
    if (n > INT32_MAX - 1) {
        sp_wr_fail(wr, -EINVAL);
        return;
    }
    sp_wr_len_(wr, (int64_t)n, compact, nullable, true);
    if (n > 0) {
        sp_wr_raw(wr, s.ptr, n);
    }
}

static inline void sp_wr_array_len(struct sp_wr *wr, int32_t n, bool compact, bool nullable)
{
    sp_wr_len_(wr, n < 0 ? -1 : n, compact, nullable, true);
}

/* Tagged field values are written first and their size prefix inserted
 * afterwards: sp_wr_tag_begin() returns the mark, sp_wr_tag_end() inserts
 * the uvarint size of everything written since. */
static inline size_t sp_wr_tag_begin(struct sp_wr *wr, uint32_t tag)
{
    sp_wr_uvarint(wr, tag);
    return wr->len;
}

void sp_wr_tag_end(struct sp_wr *wr, size_t mark);

/* Overwrites a big-endian int32 at pos (a frame size reserved earlier). */
static inline void sp_wr_patch_i32(struct sp_wr *wr, size_t pos, int32_t v)
{
    if (wr->err == 0 && pos + 4 <= wr->len) {
        sp_store_be32(wr->buf + pos, (uint32_t)v);
    }
}

#endif /* SP_PROTOCOL_WIRE_H */
