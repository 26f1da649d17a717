/*
 * protocol/compress.c: gzip, snappy, lz4 and zstd over bounded outputs.
 *
 * Every decompressor writes into a `struct out_buf` that either is fixed
 * (a caller buffer) or grows in an arena up to a maximum; running out of
 * room is -EMSGSIZE, never a larger allocation.
 */
#include "protocol/compress.h"

#include <errno.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "protocol/wire.h"

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

struct out_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t max;         /* cap may grow up to this */
    struct sp_arena *a; /* NULL: fixed */
    bool nomem;         /* the arena refused to grow */
};

/* Makes room for at least `need` more bytes (or as much as max allows when
 * need is 0). Returns 0, -EMSGSIZE or -ENOMEM. */
static int out_reserve(struct out_buf *o, size_t need)
{
    if (o->cap - o->len >= need) {
        return 0;
    }
    size_t want = o->len + need;
    if (o->a == NULL || want > o->max || want < o->len) {
        return -EMSGSIZE;
    }
    size_t cap = o->cap > 0 ? o->cap : 64 * 1024;
    while (cap < want) {
        cap *= 2;
    }
    cap = SP_MIN(SP_MAX(cap, o->cap * 2), o->max);
    uint8_t *p = sp_arena_grow(o->a, o->p, o->cap, cap);
    if (p == NULL) {
        o->nomem = true;
        return -ENOMEM;
    }
    o->p = p;
    o->cap = cap;
    return 0;
}

/* Called when a codec makes no progress: a full output means the bound was
 * hit, otherwise the input ended too early. */
static int out_stuck(const struct out_buf *o)
{
    if (o->nomem) {
        return -ENOMEM;
    }
    return o->len == o->cap ? -EMSGSIZE : -EBADMSG;
}

const char *sp_codec_name(enum sp_codec codec)
{
    static const char *const names[SP_CODEC_COUNT] = {"none", "gzip", "snappy", "lz4", "zstd"};
    return (unsigned)codec < SP_CODEC_COUNT ? names[codec] : "unknown";
}

int sp_codec_parse(const char *name, enum sp_codec *out)
{
    for (int c = 0; c < SP_CODEC_COUNT; c++) {
        if (strcmp(name, sp_codec_name((enum sp_codec)c)) == 0) {
            *out = (enum sp_codec)c;
            return 0;
        }
    }
    return -EINVAL;
}

int16_t sp_compress_kafka_error(long rc)
{
    if (rc == -ENOTSUP) {
        return SP_KAFKA_UNSUPPORTED_COMPRESSION_TYPE;
    }
    if (rc == -EMSGSIZE) {
        return SP_KAFKA_INVALID_RECORD;
    }
    return SP_KAFKA_CORRUPT_MESSAGE;
}

/* ---- gzip ---- */

static int gzip_decompress(const uint8_t *in, size_t in_len, struct out_buf *o)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (in_len > UINT32_MAX || inflateInit2(&zs, 15 + 16) != Z_OK) {
        return in_len > UINT32_MAX ? -EBADMSG : -ENOMEM;
    }
    int rc = 0;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)in_len;
    for (;;) {
        (void)out_reserve(o, 1);
        size_t room = SP_MIN(o->cap - o->len, (size_t)UINT32_MAX);
        uInt in_before = zs.avail_in;
        zs.next_out = o->p + o->len;
        zs.avail_out = (uInt)room;
        int zrc = inflate(&zs, Z_NO_FLUSH);
        size_t produced = room - zs.avail_out;
        o->len += produced;
        if (zrc == Z_STREAM_END) {
            /* Java's reader accepts concatenated gzip members. */
            if (zs.avail_in == 0) {
                break;
            }
            if (inflateReset(&zs) != Z_OK) {
                rc = -EBADMSG;
                break;
            }
            continue;
        }
        if (zrc == Z_BUF_ERROR || (zrc == Z_OK && produced == 0 && zs.avail_in == in_before)) {
            rc = out_stuck(o);
            break;
        }
        if (zrc != Z_OK) {
            rc = zrc == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
            break;
        }
    }
    inflateEnd(&zs);
    return rc;
}

static long gzip_compress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level > 0 ? level : Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)in_len;
    zs.next_out = out;
    zs.avail_out = (uInt)SP_MIN(cap, (size_t)UINT32_MAX);
    int zrc = deflate(&zs, Z_FINISH);
    long n = (long)zs.total_out;
    deflateEnd(&zs);
    return zrc == Z_STREAM_END ? n : -ENOSPC;
}

/* ---- snappy ---- */

static int snappy_block(const uint8_t *in, size_t in_len, struct out_buf *o)
{
    size_t n;
    if (snappy_uncompressed_length((const char *)in, in_len, &n) != SNAPPY_OK) {
        return -EBADMSG;
    }
    int rc = out_reserve(o, n);
    if (rc != 0) {
        return rc;
    }
    size_t room = o->cap - o->len;
    if (snappy_uncompress((const char *)in, in_len, (char *)o->p + o->len, &room) != SNAPPY_OK ||
        room != n) {
        return -EBADMSG;
    }
    o->len += n;
    return 0;
}

static int snappy_decompress(const uint8_t *in, size_t in_len, struct out_buf *o)
{
    if (in_len < SP_SNAPPY_XERIAL_HEADER_BYTES || memcmp(in, xerial_magic, 8) != 0) {
        return snappy_block(in, in_len, o);
    }
    size_t pos = SP_SNAPPY_XERIAL_HEADER_BYTES;
    while (pos < in_len) {
        if (in_len - pos < 4) {
            return -EBADMSG;
        }
        uint32_t n = sp_load_be32(in + pos);
        pos += 4;
        if (n > in_len - pos) {
            return -EBADMSG;
        }
        int rc = snappy_block(in + pos, n, o);
        if (rc != 0) {
            return rc;
        }
        pos += n;
    }
    return 0;
}

static long snappy_compress_xerial(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap)
{
    if (cap < SP_SNAPPY_XERIAL_HEADER_BYTES) {
        return -ENOSPC;
    }
    memcpy(out, xerial_magic, 8);
    sp_store_be32(out + 8, 1);
    sp_store_be32(out + 12, 1);
    size_t pos = SP_SNAPPY_XERIAL_HEADER_BYTES;
    for (size_t off = 0; off < in_len; off += SP_SNAPPY_XERIAL_BLOCK_BYTES) {
        size_t block = SP_MIN(in_len - off, (size_t)SP_SNAPPY_XERIAL_BLOCK_BYTES);
        if (cap - pos < 4 + snappy_max_compressed_length(block)) {
            return -ENOSPC;
        }
        size_t n = cap - pos - 4;
        if (snappy_compress((const char *)in + off, block, (char *)out + pos + 4, &n) !=
            SNAPPY_OK) {
            return -ENOSPC;
        }
        sp_store_be32(out + pos, (uint32_t)n);
        pos += 4 + n;
    }
    return (long)pos;
}

/* ---- lz4 ---- */

static int lz4_decompress(const uint8_t *in, size_t in_len, struct out_buf *o)
{
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        return -ENOMEM;
    }
    int rc = 0;
    size_t pos = 0;
    size_t hint = 1;
    while (hint != 0) {
        if (pos >= in_len) {
            rc = -EBADMSG; /* the frame did not end */
            break;
        }
        (void)out_reserve(o, 1);
        size_t out_n = o->cap - o->len;
        size_t in_n = in_len - pos;
        hint = LZ4F_decompress(dctx, o->p + o->len, &out_n, in + pos, &in_n, NULL);
        if (LZ4F_isError(hint)) {
            rc = -EBADMSG;
            break;
        }
        o->len += out_n;
        pos += in_n;
        if (in_n == 0 && out_n == 0 && hint != 0) {
            rc = out_stuck(o);
            break;
        }
        if (hint == 0 && pos < in_len) {
            hint = 1; /* another frame follows: concatenated frames are valid */
        }
    }
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}

static long lz4_compress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.compressionLevel = level;
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentSize = in_len;
    size_t n = LZ4F_compressFrame(out, cap, in, in_len, &prefs);
    return LZ4F_isError(n) ? -ENOSPC : (long)n;
}

/* ---- zstd ---- */

static int zstd_decompress(const uint8_t *in, size_t in_len, struct out_buf *o)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (dctx == NULL) {
        return -ENOMEM;
    }
    ZSTD_inBuffer ib = {in, in_len, 0};
    int rc = 0;
    size_t hint = 1;
    while (ib.pos < ib.size || hint != 0) {
        (void)out_reserve(o, 1);
        ZSTD_outBuffer ob = {o->p + o->len, o->cap - o->len, 0};
        size_t in_before = ib.pos;
        hint = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(hint)) {
            rc = -EBADMSG;
            break;
        }
        o->len += ob.pos;
        if (hint != 0 && ob.pos == 0 && ib.pos == in_before) {
            rc = out_stuck(o);
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    return rc;
}

static long zstd_compress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap)
{
    size_t n = ZSTD_compress(out, cap, in, in_len, level != 0 ? level : ZSTD_CLEVEL_DEFAULT);
    return ZSTD_isError(n) ? -ENOSPC : (long)n;
}

/* ---- dispatch ---- */

size_t sp_compress_bound(enum sp_codec codec, size_t in_len)
{
    switch (codec) {
    case SP_CODEC_GZIP:
        return (size_t)compressBound((uLong)in_len) + 32;
    case SP_CODEC_SNAPPY: {
        size_t blocks = in_len / SP_SNAPPY_XERIAL_BLOCK_BYTES + 1;
        return SP_SNAPPY_XERIAL_HEADER_BYTES + blocks * 4 +
               snappy_max_compressed_length(SP_SNAPPY_XERIAL_BLOCK_BYTES) * blocks;
    }
    case SP_CODEC_LZ4: {
        LZ4F_preferences_t prefs;
        memset(&prefs, 0, sizeof(prefs));
        prefs.frameInfo.blockSizeID = LZ4F_max64KB;
        prefs.frameInfo.contentSize = in_len;
        return LZ4F_compressFrameBound(in_len, &prefs);
    }
    case SP_CODEC_ZSTD:
        return ZSTD_compressBound(in_len);
    default:
        return in_len;
    }
}

long sp_compress(enum sp_codec codec, int level, const uint8_t *in, size_t in_len, uint8_t *out,
                 size_t cap)
{
    if (in_len > INT32_MAX) {
        return -EINVAL;
    }
    switch (codec) {
    case SP_CODEC_GZIP:
        return gzip_compress(level, in, in_len, out, cap);
    case SP_CODEC_SNAPPY:
        return snappy_compress_xerial(in, in_len, out, cap);
    case SP_CODEC_LZ4:
        return lz4_compress(level, in, in_len, out, cap);
    case SP_CODEC_ZSTD:
        return zstd_compress(level, in, in_len, out, cap);
    default:
        return -ENOTSUP;
    }
}

static int decompress_into(enum sp_codec codec, const uint8_t *in, size_t in_len, struct out_buf *o)
{
    switch (codec) {
    case SP_CODEC_GZIP:
        return gzip_decompress(in, in_len, o);
    case SP_CODEC_SNAPPY:
        return snappy_decompress(in, in_len, o);
    case SP_CODEC_LZ4:
        return lz4_decompress(in, in_len, o);
    case SP_CODEC_ZSTD:
        return zstd_decompress(in, in_len, o);
    default:
        return -ENOTSUP;
    }
}

long sp_decompress(enum sp_codec codec, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap)
{
    static uint8_t none[1];
    struct out_buf o = {out != NULL ? out : none, 0, out != NULL ? cap : 0, cap, NULL, false};
    int rc = decompress_into(codec, in, in_len, &o);
    return rc != 0 ? rc : (long)o.len;
}

int sp_decompress_arena(enum sp_codec codec, struct sp_slice in, struct sp_arena *a, size_t max_out,
                        struct sp_slice *out)
{
    /* A valid pointer even while nothing is allocated: zlib refuses NULL. */
    static uint8_t none[1];
    struct out_buf o = {none, 0, 0, max_out, a, false};
    int rc = decompress_into(codec, in.ptr, in.len, &o);
    if (rc == 0) {
        *out = sp_slice_make(o.p, o.len);
    }
    return rc;
}

int sp_batch_records_decompress(const uint8_t *buf, const struct sp_batch_header *h,
                                struct sp_arena *a, size_t max_out, struct sp_slice *out)
{
    struct sp_slice recs = sp_batch_records(buf, h);
    if (sp_batch_codec(h) == SP_CODEC_NONE) {
        *out = recs;
        return 0;
    }
    return sp_decompress_arena(sp_batch_codec(h), recs, a, max_out, out);
}

int sp_batch_build_compressed(uint8_t *buf, size_t cap, const struct sp_batch_params *p,
                              const struct sp_record_in *recs, size_t n, struct sp_arena *scratch)
{
    enum sp_codec codec = (enum sp_codec)(p->attributes & SP_BATCH_ATTR_CODEC_MASK);
    if (codec == SP_CODEC_NONE) {
        return sp_batch_build(buf, cap, p, recs, n);
    }
    if (codec >= SP_CODEC_COUNT || n == 0 || n > INT32_MAX) {
        return -EINVAL;
    }
    if (cap < SP_BATCH_HEADER_BYTES) {
        return -ENOSPC;
    }
    size_t bound = sp_batch_build_bound(recs, n);
    uint8_t *tmp = sp_arena_alloc(scratch, bound);
    if (tmp == NULL) {
        return -ENOMEM;
    }
    int len = sp_records_encode(tmp, bound, recs, n);
    if (len < 0) {
        return len;
    }
    long clen = sp_compress(codec, 0, tmp, (size_t)len, buf + SP_BATCH_HEADER_BYTES,
                            cap - SP_BATCH_HEADER_BYTES);
    if (clen < 0) {
        return (int)clen;
    }
    int64_t max_ts = recs[0].timestamp;
    for (size_t i = 1; i < n; i++) {
        max_ts = SP_MAX(max_ts, recs[i].timestamp);
    }
    return sp_batch_finish(buf, p, (size_t)clen, (int32_t)n, recs[0].timestamp, max_ts);
}
