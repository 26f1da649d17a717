/* tests/protocol/test_compress.c: codecs round-trip, bounds, corrupt input,
 * compressed batches. */
#include "protocol/compress.h"

#include <errno.h>
#include <snappy-c.h>

#include "tests/check.h"

static const enum sp_codec codecs[] = {SP_CODEC_GZIP, SP_CODEC_SNAPPY, SP_CODEC_LZ4, SP_CODEC_ZSTD};

static void make_input(uint8_t *buf, size_t len, uint32_t seed)
{
    /* Compressible but not trivial: words from a small alphabet. */
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)("spindle kafka batch \n"[(seed >> 16) % 21]);
    }
}

static void test_roundtrip(void)
{
    static const size_t sizes[] = {0, 1, 100, 4096, 70000, 300000};
    for (size_t c = 0; c < SP_ARRAY_LEN(codecs); c++) {
        for (size_t s = 0; s < SP_ARRAY_LEN(sizes); s++) {
            size_t n = sizes[s];
            uint8_t *in = malloc(n + 1);
            size_t bound = sp_compress_bound(codecs[c], n);
            uint8_t *z = malloc(bound);
            uint8_t *out = malloc(n + 1);
            REQUIRE(in && z && out);
            make_input(in, n, (uint32_t)(c * 7 + s));
            long zn = sp_compress(codecs[c], 0, in, n, z, bound);
            REQUIRE(zn > 0);
            /* Exact room works; one byte less is over the bound. */
            long dn = sp_decompress(codecs[c], z, (size_t)zn, out, n);
            CHECK_EQ_INT(dn, (long)n);
            CHECK(n == 0 || memcmp(in, out, n) == 0);
            if (n > 0) {
                CHECK_EQ_INT(sp_decompress(codecs[c], z, (size_t)zn, out, n - 1), -EMSGSIZE);
            }
            /* Arena output with a bound. */
            struct sp_arena a;
            sp_arena_init(&a, NULL, 0, 4u << 20);
            struct sp_slice res;
            CHECK_EQ_INT(sp_decompress_arena(codecs[c], sp_slice_make(z, (size_t)zn), &a, n, &res),
                         0);
            CHECK(res.len == n && (n == 0 || memcmp(res.ptr, in, n) == 0));
            if (n > 0) {
                CHECK_EQ_INT(
                    sp_decompress_arena(codecs[c], sp_slice_make(z, (size_t)zn), &a, n - 1, &res),
                    -EMSGSIZE);
            }
            /* Every truncation is refused without a crash. */
            for (long cut = 0; cut < zn; cut += 1 + zn / 50) {
                long rc = sp_decompress(codecs[c], z, (size_t)cut, out, n + 1);
                if (codecs[c] != SP_CODEC_SNAPPY || cut > 0) {
                    CHECK(rc < 0 || rc != (long)n || cut == zn);
                }
                CHECK(rc >= -EMSGSIZE || rc == -EBADMSG || rc == -EMSGSIZE);
            }
            sp_arena_destroy(&a);
            free(in);
            free(z);
            free(out);
        }
    }
}

/* Raw snappy (what librdkafka writes) and xerial framing both decode. */
static void test_snappy_raw(void)
{
    uint8_t in[5000], z[8000], out[5000];
    make_input(in, sizeof(in), 3);
    size_t zn = sizeof(z);
    REQUIRE(snappy_compress((const char *)in, sizeof(in), (char *)z, &zn) == SNAPPY_OK);
    CHECK_EQ_INT(sp_decompress(SP_CODEC_SNAPPY, z, zn, out, sizeof(out)), (long)sizeof(in));
    CHECK(memcmp(in, out, sizeof(in)) == 0);
    long xn = sp_compress(SP_CODEC_SNAPPY, 0, in, sizeof(in), z, sizeof(z));
    REQUIRE(xn > SP_SNAPPY_XERIAL_HEADER_BYTES);
    CHECK(z[0] == 0x82 && memcmp(z + 1, "SNAPPY", 6) == 0);
    CHECK_EQ_INT(sp_decompress(SP_CODEC_SNAPPY, z, (size_t)xn, out, sizeof(out)), (long)sizeof(in));
    /* A framed block length past the end. */
    z[SP_SNAPPY_XERIAL_HEADER_BYTES] = 0x7f;
    CHECK_EQ_INT(sp_decompress(SP_CODEC_SNAPPY, z, (size_t)xn, out, sizeof(out)), -EBADMSG);
}

/* A tiny input that expands enormously stops at the bound. */
static void test_bomb(void)
{
    size_t n = 16u << 20;
    uint8_t *zeros = calloc(1, n);
    REQUIRE(zeros != NULL);
    for (size_t c = 0; c < SP_ARRAY_LEN(codecs); c++) {
        size_t bound = sp_compress_bound(codecs[c], n);
        uint8_t *z = malloc(bound);
        REQUIRE(z != NULL);
        long zn = sp_compress(codecs[c], 0, zeros, n, z, bound);
        REQUIRE(zn > 0);
        struct sp_arena a;
        sp_arena_init(&a, NULL, 0, 64u << 20);
        struct sp_slice res;
        int rc = sp_decompress_arena(codecs[c], sp_slice_make(z, (size_t)zn), &a, 1u << 20, &res);
        CHECK_EQ_INT(rc, -EMSGSIZE);
        CHECK(sp_arena_used(&a) <= (2u << 20));
        CHECK_EQ_INT(sp_compress_kafka_error(rc), SP_KAFKA_INVALID_RECORD);
        sp_arena_destroy(&a);
        free(z);
    }
    CHECK_EQ_INT(sp_compress_kafka_error(-EBADMSG), SP_KAFKA_CORRUPT_MESSAGE);
    free(zeros);
}

static void test_garbage(void)
{
    uint8_t junk[512], out[4096];
    for (size_t c = 0; c < SP_ARRAY_LEN(codecs); c++) {
        for (uint32_t seed = 0; seed < 200; seed++) {
            uint32_t x = seed * 2654435761u + (uint32_t)c;
            size_t n = 1 + seed % sizeof(junk);
            for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                junk[i] = (uint8_t)(x >> 16);
            }
            long rc = sp_decompress(codecs[c], junk, n, out, sizeof(out));
            CHECK(rc == -EBADMSG || rc == -EMSGSIZE || rc >= 0);
        }
    }
}

static void test_compressed_batches(void)
{
    struct sp_record_header hdr = {sp_slice_make("hk", 2), sp_slice_make("hv", 2)};
    struct sp_record_in recs[50];
    char keys[50][8];
    for (int i = 0; i < 50; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key%d", i);
        recs[i] = (struct sp_record_in){.key = sp_slice_make(keys[i], strlen(keys[i])),
                                        .value = sp_slice_make("the same value again", 20),
                                        .timestamp = 1000 + i,
                                        .headers = &hdr,
                                        .headers_count = i % 2};
    }
    for (size_t c = 0; c < SP_ARRAY_LEN(codecs); c++) {
        struct sp_arena a;
        sp_arena_init(&a, NULL, 0, 1u << 20);
        static uint8_t buf[1 << 16];
        struct sp_batch_params p = {0, 5, (int16_t)codecs[c], 77, 3, 10};
        int size = sp_batch_build_compressed(buf, sizeof(buf), &p, recs, 50, &a);
        REQUIRE(size > 0);
        struct sp_batch_header h;
        CHECK_EQ_INT(sp_batch_validate_produce(buf, (size_t)size, &h), 0);
        CHECK_EQ_INT(sp_batch_codec(&h), codecs[c]);
        CHECK_EQ_INT(h.max_timestamp, 1049);
        struct sp_slice records;
        CHECK_EQ_INT(sp_batch_records_decompress(buf, &h, &a, 1u << 20, &records), 0);
        struct sp_record_iter it;
        struct sp_record r;
        sp_record_iter_init(&it, &h, records);
        int count = 0, rc;
        while ((rc = sp_record_iter_next(&it, &r)) == 1) {
            CHECK(r.key.len == strlen(keys[count]) &&
                  memcmp(r.key.ptr, keys[count], r.key.len) == 0);
            CHECK_EQ_INT(r.headers_count, count % 2);
            CHECK_EQ_INT(r.timestamp, 1000 + count);
            count++;
        }
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(count, 50);
        sp_arena_destroy(&a);
    }
}

static void test_names(void)
{
    enum sp_codec c;
    CHECK_EQ_INT(sp_codec_parse("zstd", &c), 0);
    CHECK_EQ_INT(c, SP_CODEC_ZSTD);
    CHECK_EQ_INT(sp_codec_parse("brotli", &c), -EINVAL);
    CHECK_EQ_STR(sp_codec_name(SP_CODEC_LZ4), "lz4");
    uint8_t b[4];
    CHECK_EQ_INT(sp_decompress((enum sp_codec)6, b, 4, b, 4), -ENOTSUP);
}

int main(void)
{
    test_roundtrip();
    test_snappy_raw();
    test_bomb();
    test_garbage();
    test_compressed_batches();
    test_names();
    return CHECK_DONE();
}
