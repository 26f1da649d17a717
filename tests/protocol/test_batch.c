/* tests/protocol/test_batch.c: record batch v2 build, validate, iterate, reject. */
#include "protocol/batch.h"
#include "protocol/crc32c.h"
#include "protocol/wire.h"

#include <errno.h>

#include "tests/check.h"

static const struct sp_batch_params plain_params = {
    .base_offset = 0,
    .partition_leader_epoch = -1,
    .attributes = 0,
    .producer_id = SP_NO_PRODUCER_ID,
    .producer_epoch = SP_NO_PRODUCER_EPOCH,
    .base_sequence = SP_NO_SEQUENCE,
};

static struct sp_slice S(const char *s) {
    return sp_slice_make(s, strlen(s));
}

static uint8_t batch_buf[1 << 16];

static int build_sample(void)
{
    struct sp_record_header hdrs[2] = {
        {S("trace-id"), S("abc")},
        {S("empty"), {NULL, 0}},
    };
    struct sp_record_in recs[3] = {
        {.key = S("k1"), .value = S("v1"), .timestamp = 1700000000000},
        {.key = {NULL, 0},
         .value = S(""),
         .timestamp = 1700000000005,
         .headers = hdrs,
         .headers_count = 2},
        {.key = S("k3"), .value = {NULL, 0}, .timestamp = 1699999999999},
    };
    CHECK(sp_batch_build_bound(recs, 3) <= sizeof(batch_buf));
    return sp_batch_build(batch_buf, sizeof(batch_buf), &plain_params, recs, 3);
}

static void test_build_and_iterate(void)
{
    int size = build_sample();
    REQUIRE(size > SP_BATCH_HEADER_BYTES);
    struct sp_batch_header h;
    CHECK_EQ_INT(sp_batch_validate(batch_buf, (size_t)size, &h), 0);
    CHECK_EQ_INT(sp_batch_validate_produce(batch_buf, (size_t)size, &h), 0);
    CHECK_EQ_INT(sp_batch_size(batch_buf, (size_t)size), size);
    CHECK_EQ_INT(h.batch_length + SP_BATCH_LOG_OVERHEAD, size);
    CHECK_EQ_INT(h.magic, 2);
    CHECK_EQ_INT(h.records_count, 3);
    CHECK_EQ_INT(h.last_offset_delta, 2);
    CHECK_EQ_INT(h.base_timestamp, 1700000000000);
    CHECK_EQ_INT(h.max_timestamp, 1700000000005);
    CHECK_EQ_INT(h.producer_id, -1);
    CHECK_EQ_INT(sp_batch_codec(&h), SP_CODEC_NONE);
    CHECK_EQ_INT(sp_batch_last_offset(&h), 2);

    struct sp_record_iter it;
    struct sp_record r;
    sp_record_iter_init(&it, &h, sp_batch_records(batch_buf, &h));
    CHECK_EQ_INT(sp_record_iter_next(&it, &r), 1);
    CHECK(r.key.len == 2 && memcmp(r.key.ptr, "k1", 2) == 0);
    CHECK(r.value.len == 2 && memcmp(r.value.ptr, "v1", 2) == 0);
    CHECK_EQ_INT(r.offset, 0);
    CHECK_EQ_INT(r.headers_count, 0);
    CHECK_EQ_INT(sp_record_iter_next(&it, &r), 1);
    CHECK(r.key.ptr == NULL);
    CHECK(r.value.ptr != NULL && r.value.len == 0);
    CHECK_EQ_INT(r.timestamp, 1700000000005);
    CHECK_EQ_INT(r.headers_count, 2);
    size_t pos = 0;
    struct sp_record_header hd;
    CHECK_EQ_INT(sp_record_headers_next(&r, &pos, &hd), 1);
    CHECK(hd.key.len == 8 && memcmp(hd.key.ptr, "trace-id", 8) == 0);
    CHECK(hd.value.len == 3 && memcmp(hd.value.ptr, "abc", 3) == 0);
    CHECK_EQ_INT(sp_record_headers_next(&r, &pos, &hd), 1);
    CHECK(hd.value.ptr == NULL);
    CHECK_EQ_INT(sp_record_headers_next(&r, &pos, &hd), 0);
    CHECK_EQ_INT(sp_record_iter_next(&it, &r), 1);
    CHECK_EQ_INT(r.offset, 2);
    CHECK_EQ_INT(r.timestamp, 1699999999999);
    CHECK(r.value.ptr == NULL);
    CHECK_EQ_INT(sp_record_iter_next(&it, &r), 0);
}

static void test_fields_outside_crc(void)
{
    int size = build_sample();
    REQUIRE(size > 0);
    struct sp_batch_header h;
    sp_batch_set_base_offset(batch_buf, 1234567);
    sp_batch_set_leader_epoch(batch_buf, 42);
    CHECK_EQ_INT(sp_batch_validate(batch_buf, (size_t)size, &h), 0);
    CHECK_EQ_INT(h.base_offset, 1234567);
    CHECK_EQ_INT(h.partition_leader_epoch, 42);
    CHECK_EQ_INT(sp_batch_last_offset(&h), 1234569);
}

static void test_rejects(void)
{
    int size = build_sample();
    REQUIRE(size > 0);
    struct sp_batch_header h;
    /* Every truncation fails validation. */
    for (int len = 0; len < size; len++) {
        CHECK_EQ_INT(sp_batch_validate(batch_buf, (size_t)len, &h), -EBADMSG);
    }
    /* Every single-bit flip inside the CRC range is caught. */
    for (int i = SP_BATCH_ATTRIBUTES_OFFSET; i < size; i++) {
        for (int bit = 0; bit < 8; bit++) {
            batch_buf[i] ^= (uint8_t)(1u << bit);
            CHECK_EQ_INT(sp_batch_validate(batch_buf, (size_t)size, &h), -EBADMSG);
            batch_buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK_EQ_INT(sp_batch_validate(batch_buf, (size_t)size, &h), 0);
    /* Wrong magic. */
    batch_buf[SP_BATCH_MAGIC_OFFSET] = 1;
    CHECK_EQ_INT(sp_batch_header_parse(batch_buf, (size_t)size, &h), -EBADMSG);
    batch_buf[SP_BATCH_MAGIC_OFFSET] = 2;
    /* batchLength below the header or negative. */
    sp_store_be32(batch_buf + 8, 48);
    CHECK_EQ_INT(sp_batch_header_parse(batch_buf, (size_t)size, &h), -EBADMSG);
    sp_store_be32(batch_buf + 8, 0xffffffffu);
    CHECK_EQ_INT(sp_batch_header_parse(batch_buf, (size_t)size, &h), -EBADMSG);
    CHECK_EQ_INT(sp_batch_size(batch_buf, (size_t)size), 0);
    /* records_count beyond last_offset_delta + 1, with a correct CRC. */
    build_sample();
    sp_store_be32(batch_buf + 57, 4);
    sp_batch_update_crc(batch_buf, (size_t)size);
    CHECK_EQ_INT(sp_batch_validate(batch_buf, (size_t)size, &h), -EBADMSG);
    /* Fewer records than offsets: valid after compaction, not from a producer. */
    sp_store_be32(batch_buf + 57, 2);
    sp_batch_update_crc(batch_buf, (size_t)size);
    CHECK_EQ_INT(sp_batch_validate(batch_buf, (size_t)size, &h), 0);
    CHECK_EQ_INT(sp_batch_validate_produce(batch_buf, (size_t)size, &h), -EBADMSG);
    /* ...and then the iterator finds bytes left over. */
    struct sp_record_iter it;
    struct sp_record r;
    sp_record_iter_init(&it, &h, sp_batch_records(batch_buf, &h));
    CHECK_EQ_INT(sp_record_iter_next(&it, &r), 1);
    CHECK_EQ_INT(sp_record_iter_next(&it, &r), 1);
    CHECK_EQ_INT(sp_record_iter_next(&it, &r), -EBADMSG);
    /* Unknown codec 5. */
    build_sample();
    batch_buf[22] = 5;
    sp_batch_update_crc(batch_buf, (size_t)size);
    CHECK_EQ_INT(sp_batch_validate(batch_buf, (size_t)size, &h), -EBADMSG);
}

/* Records truncated or corrupted at every byte never crash the iterator. */
static void test_iter_hostile(void)
{
    int size = build_sample();
    REQUIRE(size > 0);
    struct sp_batch_header h;
    REQUIRE(sp_batch_validate(batch_buf, (size_t)size, &h) == 0);
    struct sp_slice recs = sp_batch_records(batch_buf, &h);
    static uint8_t copy[1 << 16];
    for (size_t cut = 0; cut < recs.len; cut++) {
        struct sp_record_iter it;
        struct sp_record r;
        sp_record_iter_init(&it, &h, sp_slice_make(recs.ptr, cut));
        int rc;
        while ((rc = sp_record_iter_next(&it, &r)) == 1) {
        }
        CHECK_EQ_INT(rc, -EBADMSG);
    }
    for (size_t i = 0; i < recs.len; i++) {
        for (int v = 0; v < 256; v += 37) {
            memcpy(copy, recs.ptr, recs.len);
            copy[i] = (uint8_t)v;
            struct sp_record_iter it;
            struct sp_record r;
            sp_record_iter_init(&it, &h, sp_slice_make(copy, recs.len));
            int rc;
            while ((rc = sp_record_iter_next(&it, &r)) == 1) {
                CHECK(r.key.ptr == NULL || r.key.ptr + r.key.len <= copy + recs.len);
                CHECK(r.value.ptr == NULL || r.value.ptr + r.value.len <= copy + recs.len);
                size_t pos = 0;
                struct sp_record_header hd;
                while (sp_record_headers_next(&r, &pos, &hd) == 1) {
                }
            }
            CHECK(rc == 0 || rc == -EBADMSG);
        }
    }
}

static void test_build_errors(void)
{
    struct sp_record_in rec = {.key = S("k"), .value = S("v"), .timestamp = 1};
    CHECK_EQ_INT(sp_batch_build(batch_buf, sizeof(batch_buf), &plain_params, &rec, 0), -EINVAL);
    CHECK_EQ_INT(sp_batch_build(batch_buf, 10, &plain_params, &rec, 1), -ENOSPC);
    CHECK_EQ_INT(sp_batch_build(batch_buf, SP_BATCH_HEADER_BYTES + 3, &plain_params, &rec, 1),
                 -ENOSPC);
    struct sp_batch_params gz = plain_params;
    gz.attributes = SP_CODEC_GZIP;
    CHECK_EQ_INT(sp_batch_build(batch_buf, sizeof(batch_buf), &gz, &rec, 1), -EINVAL);
    int size = sp_batch_build(batch_buf, sizeof(batch_buf), &plain_params, &rec, 1);
    CHECK(size > 0 && (size_t)size <= sp_batch_build_bound(&rec, 1));
}

int main(void)
{
    test_build_and_iterate();
    test_fields_outside_crc();
    test_rejects();
    test_iter_hostile();
    test_build_errors();
    return CHECK_DONE();
}
