/* tests/protocol/test_msgset.c: magic 0/1 message sets: build, parse,
 * compressed wrappers, conversion to and from v2 batches, hostile input. */
#include "protocol/compress.h"
#include "protocol/msgset.h"
#include "protocol/wire.h"

#include <errno.h>

#include "tests/check.h"

struct seen {
    int n;
    struct sp_legacy_msg m[16];
};

static int remember(void *ctx, const struct sp_legacy_msg *m)
{
    struct seen *s = ctx;
    if (s->n < 16) {
        s->m[s->n] = *m;
    }
    s->n++;
    return 0;
}

static struct sp_slice S(const char *s) {
    return sp_slice_make(s, strlen(s));
}

static size_t
build_plain(uint8_t *buf, size_t cap, int8_t magic, int64_t first_offset)
{
    size_t used = 0;
    int n = sp_msgset_append(buf, cap, magic, 0, first_offset, 1000, S("k0"), S("v0"));
    REQUIRE(n > 0);
    used += (size_t)n;
    n = sp_msgset_append(buf + used, cap - used, magic, 0, first_offset + 1, 1001,
                         (struct sp_slice){NULL, 0}, S("v1"));
    REQUIRE(n > 0);
    used += (size_t)n;
    n = sp_msgset_append(buf + used, cap - used, magic, 0, first_offset + 2, 1002, S("k2"),
                         (struct sp_slice){NULL, 0});
    REQUIRE(n > 0);
    return used + (size_t)n;
}

static void test_plain(void)
{
    for (int8_t magic = 0; magic <= 1; magic++) {
        uint8_t buf[512];
        size_t len = build_plain(buf, sizeof(buf), magic, 10);
        CHECK_EQ_INT(len, 3 * (magic == 0 ? SP_MSG_V0_HEADER_BYTES : SP_MSG_V1_HEADER_BYTES) + 8);
        struct sp_arena a;
        sp_arena_init(&a, NULL, 0, 1 << 20);
        struct seen s = {0};
        CHECK_EQ_INT(sp_msgset_walk(buf, len, &a, 1 << 20, remember, &s), 0);
        CHECK_EQ_INT(s.n, 3);
        CHECK_EQ_INT(s.m[0].offset, 10);
        CHECK_EQ_INT(s.m[2].offset, 12);
        CHECK_EQ_INT(s.m[1].timestamp, magic == 1 ? 1001 : SP_NO_TIMESTAMP);
        CHECK(s.m[1].key.ptr == NULL && s.m[2].value.ptr == NULL);
        CHECK(s.m[0].value.len == 2 && memcmp(s.m[0].value.ptr, "v0", 2) == 0);
        /* To v2 and back. */
        struct sp_slice batch, back;
        CHECK_EQ_INT(sp_msgset_to_batch(buf, len, &a, 1 << 20, &batch), 0);
        struct sp_batch_header h;
        CHECK_EQ_INT(sp_batch_validate_produce(batch.ptr, batch.len, &h), 0);
        CHECK_EQ_INT(h.records_count, 3);
        CHECK_EQ_INT(sp_batch_to_msgset(batch.ptr, batch.len, magic, &a, 1 << 20, &back), 0);
        CHECK_EQ_INT(back.len, len);
        CHECK(memcmp(back.ptr, buf, len) == 0);
        /* Truncations and bit flips are refused. */
        size_t first = (size_t)(magic == 0 ? SP_MSG_V0_HEADER_BYTES : SP_MSG_V1_HEADER_BYTES) + 4;
        for (size_t cut = 1; cut < len; cut++) {
            struct seen t = {0};
            int rc = sp_msgset_walk(buf, cut, &a, 1 << 20, remember, &t);
            /* A cut between messages leaves a valid, shorter set. */
            bool boundary = cut == first || cut == 2 * first - 2;
            CHECK_EQ_INT(rc, boundary ? 0 : -EBADMSG);
        }
        /* Flips inside the first message's CRC range (the offset and size
         * are outside it, as in Kafka). */
        for (size_t i = 16; i < first; i++) {
            buf[i] ^= 0x10;
            struct seen t = {0};
            CHECK(sp_msgset_walk(buf, len, &a, 1 << 20, remember, &t) < 0);
            buf[i] ^= 0x10;
        }
        sp_arena_destroy(&a);
    }
}

static void test_compressed_wrapper(void)
{
    static const enum sp_codec codecs[] = {SP_CODEC_GZIP, SP_CODEC_SNAPPY, SP_CODEC_LZ4};
    for (int8_t magic = 0; magic <= 1; magic++) {
        for (size_t c = 0; c < SP_ARRAY_LEN(codecs); c++) {
            uint8_t inner[512], z[1024], outer[1024];
            /* magic 1 inner offsets are relative; magic 0 absolute. */
            size_t len = build_plain(inner, sizeof(inner), magic, magic == 1 ? 0 : 100);
            long zn = sp_compress(codecs[c], 0, inner, len, z, sizeof(z));
            REQUIRE(zn > 0);
            int n = sp_msgset_append(outer, sizeof(outer), magic, (int8_t)codecs[c], 102, 1002,
                                     (struct sp_slice){NULL, 0}, sp_slice_make(z, (size_t)zn));
            REQUIRE(n > 0);
            struct sp_arena a;
            sp_arena_init(&a, NULL, 0, 1 << 20);
            struct seen s = {0};
            CHECK_EQ_INT(sp_msgset_walk(outer, (size_t)n, &a, 1 << 20, remember, &s), 0);
            CHECK_EQ_INT(s.n, 3);
            CHECK_EQ_INT(s.m[0].offset, 100);
            CHECK_EQ_INT(s.m[2].offset, 102);
            /* The bound applies to the inner set. */
            struct seen t = {0};
            CHECK_EQ_INT(sp_msgset_walk(outer, (size_t)n, &a, 10, remember, &t), -EMSGSIZE);
            sp_arena_destroy(&a);
        }
    }
}

/* ---- sp_msgset_open: a produced set as Kafka's broker takes it ---- */

#define BIG (1u << 20)

static const struct sp_slice NUL = {NULL, 0};

/* A wrapper of magic `magic` and codec around inner (len bytes) at offset. */
static size_t wrap(uint8_t *out, size_t cap, int8_t magic, enum sp_codec codec, int8_t attrs,
                   int64_t offset, int64_t ts, const uint8_t *inner, size_t len)
{
    static uint8_t z[8192];
    long zn = sp_compress(codec, 0, inner, len, z, sizeof(z));
    REQUIRE(zn > 0);
    int n = sp_msgset_append(out, cap, magic, (int8_t)(attrs | (int8_t)codec), offset, ts, NUL,
                             sp_slice_make(z, (size_t)zn));
    REQUIRE(n > 0);
    return (size_t)n;
}

static int open_rc(const uint8_t *buf, size_t len, struct sp_msgset_recs *o)
{
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 64u << 20);
    int rc = sp_msgset_open(buf, len, &a, BIG, o);
    sp_arena_destroy(&a);
    return rc;
}

static void test_open_plain(void)
{
    for (int8_t magic = 0; magic <= 1; magic++) {
        uint8_t buf[512];
        size_t len = build_plain(buf, sizeof(buf), magic, 70);
        struct sp_arena a;
        sp_arena_init(&a, NULL, 0, BIG);
        struct sp_msgset_recs o;
        CHECK_EQ_INT(sp_msgset_open(buf, len, &a, BIG, &o), 0);
        CHECK_EQ_INT(o.n, 3);
        CHECK_EQ_INT(o.magic, magic);
        CHECK_EQ_INT(o.codec, SP_CODEC_NONE);
        CHECK_EQ_INT(o.first_offset, 70);
        CHECK_EQ_INT(o.entry_bytes_max,
                     magic == 0 ? SP_MSG_V0_HEADER_BYTES + 4 : SP_MSG_V1_HEADER_BYTES + 4);
        CHECK_EQ_INT(o.log_append_time, 0);
        CHECK_EQ_INT(o.recs[2].timestamp, magic == 1 ? 1002 : SP_NO_TIMESTAMP);
        CHECK(o.recs[1].key.ptr == NULL && o.recs[2].value.ptr == NULL);
        CHECK(o.recs[0].key.len == 2 && memcmp(o.recs[0].key.ptr, "k0", 2) == 0);
        sp_arena_destroy(&a);
    }
}

static void test_open_wrapper(void)
{
    static const enum sp_codec codecs[] = {SP_CODEC_GZIP, SP_CODEC_SNAPPY, SP_CODEC_LZ4};
    for (size_t c = 0; c < SP_ARRAY_LEN(codecs); c++) {
        uint8_t inner[512], outer[2048];
        size_t len = build_plain(inner, sizeof(inner), 1, 0);
        /* Wrapper on the last inner offset, on 0 (librdkafka), above. */
        static const int64_t offsets[] = {2, 0, 900};
        for (size_t i = 0; i < SP_ARRAY_LEN(offsets); i++) {
            size_t n = wrap(outer, sizeof(outer), 1, codecs[c], 0, offsets[i], 5000, inner, len);
            struct sp_arena a;
            sp_arena_init(&a, NULL, 0, BIG);
            struct sp_msgset_recs o;
            CHECK_EQ_INT(sp_msgset_open(outer, n, &a, BIG, &o), 0);
            CHECK_EQ_INT(o.n, 3);
            CHECK_EQ_INT(o.codec, codecs[c]);
            CHECK_EQ_INT(o.entry_bytes_max, n);
            CHECK_EQ_INT(o.first_offset, offsets[i] == 0 ? 0 : offsets[i] - 2);
            CHECK_EQ_INT(o.recs[0].timestamp, 1000); /* CreateTime: the inner ones */
            CHECK(o.recs[0].value.len == 2 && memcmp(o.recs[0].value.ptr, "v0", 2) == 0);
            sp_arena_destroy(&a);
        }
        /* Below the last inner offset (and not 0): refused, as Kafka does. */
        size_t n = wrap(outer, sizeof(outer), 1, codecs[c], 0, 1, 5000, inner, len);
        struct sp_msgset_recs o;
        CHECK_EQ_INT(open_rc(outer, n, &o), -EPROTO);
        /* A log append time wrapper gives its timestamp to every inner message. */
        n = wrap(outer, sizeof(outer), 1, codecs[c], SP_BATCH_ATTR_LOG_APPEND_TIME, 2, 5000, inner,
                 len);
        struct sp_arena a;
        sp_arena_init(&a, NULL, 0, BIG);
        CHECK_EQ_INT(sp_msgset_open(outer, n, &a, BIG, &o), 0);
        CHECK_EQ_INT(o.log_append_time, 3);
        CHECK_EQ_INT(o.log_append_time_no_ts, 0);
        CHECK(o.recs[0].timestamp == 5000 && o.recs[2].timestamp == 5000);
        sp_arena_destroy(&a);
    }
}

/* Kafka 0.8 framed magic 0 lz4 with a wrong header checksum; Kafka reads
 * magic 0 without checking it, and checks it for magic 1. */
static void test_open_lz4_kafka08(void)
{
    uint8_t inner[512], outer[2048];
    size_t len = build_plain(inner, sizeof(inner), 0, 0);
    for (int8_t magic = 0; magic <= 1; magic++) {
        size_t inner_len = magic == 0 ? len : build_plain(inner, sizeof(inner), 1, 0);
        uint8_t z[1024];
        long zn = sp_compress(SP_CODEC_LZ4, 0, inner, inner_len, z, sizeof(z));
        REQUIRE(zn > 7);
        size_t hc = 6 + ((z[4] & 0x08) != 0 ? 8 : 0) + ((z[4] & 0x01) != 0 ? 4 : 0);
        for (int broken = 0; broken <= 1; broken++) {
            uint8_t zb[1024];
            memcpy(zb, z, (size_t)zn);
            zb[hc] ^= (uint8_t)(broken ? 0x5a : 0);
            int n = sp_msgset_append(outer, sizeof(outer), magic, SP_CODEC_LZ4, 2, 1, NUL,
                                     sp_slice_make(zb, (size_t)zn));
            REQUIRE(n > 0);
            struct sp_msgset_recs o;
            int want = magic == 1 && broken ? -EBADMSG : 0;
            CHECK_EQ_INT(open_rc(outer, (size_t)n, &o), want);
            if (want == 0) {
                CHECK_EQ_INT(o.n, 3);
            }
        }
    }
}

static void test_open_refusals(void)
{
    uint8_t plain0[512], plain1[512], inner[2048], outer[4096], buf[4096];
    size_t len0 = build_plain(plain0, sizeof(plain0), 0, 0);
    size_t len1 = build_plain(plain1, sizeof(plain1), 1, 0);
    struct sp_msgset_recs o;
    CHECK_EQ_INT(open_rc(plain0, 0, &o), -EINVAL);
    CHECK(o.why != NULL);
    /* Magics mixed. */
    memcpy(buf, plain0, len0);
    memcpy(buf + len0, plain1, len1);
    CHECK_EQ_INT(open_rc(buf, len0 + len1, &o), -EPROTO);
    /* A wrapper inside a wrapper. */
    size_t n = wrap(inner, sizeof(inner), 1, SP_CODEC_GZIP, 0, 2, 1, plain1, len1);
    n = wrap(outer, sizeof(outer), 1, SP_CODEC_GZIP, 0, 0, 1, inner, n);
    CHECK_EQ_INT(open_rc(outer, n, &o), -EPROTO);
    /* A wrapper beside another message. */
    n = wrap(outer, sizeof(outer), 1, SP_CODEC_GZIP, 0, 2, 1, plain1, len1);
    memcpy(outer + n, plain1, len1);
    CHECK_EQ_INT(open_rc(outer, n + len1, &o), -EPROTO);
    /* Inner magic other than the wrapper's. */
    n = wrap(outer, sizeof(outer), 1, SP_CODEC_GZIP, 0, 2, 1, plain0, len0);
    CHECK_EQ_INT(open_rc(outer, n, &o), -EPROTO);
    /* Null value, no inner message, zstd, an unknown codec. */
    int m = sp_msgset_append(outer, sizeof(outer), 1, SP_CODEC_GZIP, 0, 1, NUL, NUL);
    CHECK_EQ_INT(open_rc(outer, (size_t)m, &o), -EPROTO);
    n = wrap(outer, sizeof(outer), 1, SP_CODEC_GZIP, 0, 0, 1, plain1, 0);
    CHECK_EQ_INT(open_rc(outer, n, &o), -EPROTO);
    m = sp_msgset_append(outer, sizeof(outer), 1, SP_CODEC_ZSTD, 0, 1, NUL, S("zz"));
    CHECK_EQ_INT(open_rc(outer, (size_t)m, &o), -EPROTO);
    m = sp_msgset_append(outer, sizeof(outer), 1, 6, 0, 1, NUL, S("zz"));
    CHECK_EQ_INT(open_rc(outer, (size_t)m, &o), -EBADMSG);
    /* Undecodable compressed bytes. */
    m = sp_msgset_append(outer, sizeof(outer), 1, SP_CODEC_GZIP, 0, 1, NUL, S("not gzip at all"));
    CHECK_EQ_INT(open_rc(outer, (size_t)m, &o), -EBADMSG);
    /* A size below the smallest message, and a first magic of 2. */
    memcpy(buf, plain1, len1);
    sp_store_be32(buf + 8, SP_MSG_BODY_BYTES_MIN - 1);
    CHECK_EQ_INT(open_rc(buf, len1, &o), -EBADMSG);
    memcpy(buf, plain1, len1);
    buf[16] = 2;
    CHECK_EQ_INT(open_rc(buf, len1, &o), -EBADMSG);
    /* An inner message's bad CRC. */
    memcpy(inner, plain1, len1);
    inner[len1 - 1] ^= 1;
    n = wrap(outer, sizeof(outer), 1, SP_CODEC_GZIP, 0, 2, 1, inner, len1);
    CHECK_EQ_INT(open_rc(outer, n, &o), -EBADMSG);
    /* Expanding past max_out. */
    n = wrap(outer, sizeof(outer), 1, SP_CODEC_GZIP, 0, 2, 1, plain1, len1);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, BIG);
    CHECK_EQ_INT(sp_msgset_open(outer, n, &a, len1 - 1, &o), -EMSGSIZE);
    sp_arena_destroy(&a);
    /* A log append time type without a timestamp is counted for the broker to judge. */
    m = sp_msgset_append(buf, sizeof(buf), 1, SP_BATCH_ATTR_LOG_APPEND_TIME, 0, -1, S("k"), S("v"));
    CHECK_EQ_INT(open_rc(buf, (size_t)m, &o), 0);
    CHECK(o.log_append_time == 1 && o.log_append_time_no_ts == 1);
}

int main(void)
{
    test_plain();
    test_compressed_wrapper();
    test_open_plain();
    test_open_wrapper();
    test_open_lz4_kafka08();
    test_open_refusals();
    return CHECK_DONE();
}
