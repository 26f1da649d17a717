/* tests/protocol/test_msgset.c: magic 0/1 message sets: build, parse,
 * compressed wrappers, conversion to and from v2 batches, hostile input. */
#include "protocol/compress.h"
#include "protocol/msgset.h"

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

int main(void)
{
    test_plain();
    test_compressed_wrapper();
    return CHECK_DONE();
}
