/*
 * tests/storage/test_format.c: segment names, batch peeking and scanning
 * (the recovery scan as a pure function), index entries and validation,
 * the leader-epoch checkpoint and partition.metadata.
 */
#include "tests/storage/st_env.h"

static uint8_t buf[1 << 20];

static void scan_count(void *ctx, const struct sp_seg_batch *b, uint64_t pos)
{
    (void)b;
    (void)pos;
    (*(int *)ctx)++;
}

static void test_names(void)
{
    char name[64];
    int64_t base;
    const char *ext;
    CHECK_EQ_INT(sp_seg_name(name, sizeof(name), 42, ".log"), 24);
    CHECK_EQ_STR(name, "00000000000000000042.log");
    CHECK_EQ_INT(sp_seg_name_parse(name, &base, &ext), 0);
    CHECK_EQ_INT(base, 42);
    CHECK_EQ_STR(ext, ".log");
    CHECK_EQ_INT(sp_seg_name_parse("0000000000000000004x.log", &base, &ext), -EINVAL);
    CHECK_EQ_INT(sp_seg_name_parse("leader-epoch-checkpoint", &base, &ext), -EINVAL);
}

static void test_scan(void)
{
    size_t at = 0;
    int64_t off = 0;
    for (int i = 0; i < 10; i++) {
        size_t n = make_batch(buf + at, 1 + i % 3, 50 + i * 7, (uint64_t)i, 100 + i);
        sp_batch_set_base_offset(buf + at, off);
        off += 1 + i % 3;
        at += n;
    }
    /* Whole buffer: all ten, and the zeros after them end the scan. */
    memset(buf + at, 0, 4096);
    struct sp_seg_scan sc = {.next_offset = 0, .max_timestamp = -1};
    int count = 0;
    sp_seg_scan(buf, at + 4096, 0, &sc, scan_count, &count);
    CHECK_EQ_INT(sc.batches, 10);
    CHECK_EQ_INT(count, 10);
    CHECK_EQ_INT(sc.valid_bytes, at);
    CHECK_EQ_INT(sc.next_offset, off);
    CHECK(sc.corrupt);
    /* Cut in the middle of the last batch: need more, nothing corrupt. */
    struct sp_seg_scan s2 = {.next_offset = 0, .max_timestamp = -1};
    sp_seg_scan(buf, at - 5, 0, &s2, NULL, NULL);
    CHECK_EQ_INT(s2.batches, 9);
    CHECK(s2.need_more && !s2.corrupt);
    /* A flipped byte in batch 4 stops the scan there. */
    struct sp_seg_batch b;
    size_t p = 0;
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(sp_seg_batch_peek(buf + p, at - p, &b), 1);
        p += b.size;
    }
    buf[p + 70] ^= 0x40;
    struct sp_seg_scan s3 = {.next_offset = 0, .max_timestamp = -1};
    sp_seg_scan(buf, at, 0, &s3, NULL, NULL);
    CHECK_EQ_INT(s3.batches, 4);
    CHECK_EQ_INT(s3.valid_bytes, p);
    CHECK(s3.corrupt);
    buf[p + 70] ^= 0x40;
    /* Offsets must be contiguous. */
    struct sp_seg_scan s4 = {.next_offset = 5, .max_timestamp = -1};
    sp_seg_scan(buf, at, 0, &s4, NULL, NULL);
    CHECK_EQ_INT(s4.batches, 0);
    CHECK(s4.corrupt);
    /* Short headers: undecided, unless visibly zero. */
    CHECK_EQ_INT(sp_seg_batch_peek(buf, 10, &b), 0);
    static const uint8_t zeros[20];
    CHECK_EQ_INT(sp_seg_batch_peek(zeros, 12, &b), -EBADMSG);
}

static void test_index(void)
{
    struct sp_index_entry e[4] = {{0, 0}, {10, 4096}, {25, 9000}, {40, 20000}};
    uint8_t raw[48] = {0};
    for (int i = 0; i < 4; i++) {
        sp_index_entry_put(raw + i * 8, &e[i]);
    }
    CHECK_EQ_INT(sp_index_validate(raw, 32, 30000), 4);
    CHECK_EQ_INT(sp_index_validate(raw, 48, 30000), 4); /* zero tail ends it */
    CHECK_EQ_INT(sp_index_validate(raw, 32, 15000), -EBADMSG);
    CHECK_EQ_INT(sp_index_validate(raw, 31, 30000), -EBADMSG);
    struct sp_index_entry back;
    sp_index_entry_get(raw + 16, &back);
    CHECK_EQ_INT(back.rel_offset, 25);
    CHECK_EQ_INT(back.position, 9000);
    CHECK_EQ_INT(sp_index_floor(e, 4, 0), 0);
    CHECK_EQ_INT(sp_index_floor(e, 4, 24), 1);
    CHECK_EQ_INT(sp_index_floor(e, 4, 25), 2);
    CHECK_EQ_INT(sp_index_floor(e, 4, 1000), 3);
    CHECK_EQ_INT(sp_index_floor(e, 0, 5), -1);
    sp_index_entry_put(raw + 8, &e[2]);
    CHECK_EQ_INT(sp_index_validate(raw, 32, 30000), -EBADMSG); /* not increasing */

    struct sp_tindex_entry t[3] = {{100, 0}, {200, 5}, {300, 9}};
    uint8_t traw[36];
    for (int i = 0; i < 3; i++) {
        sp_tindex_entry_put(traw + i * 12, &t[i]);
    }
    CHECK_EQ_INT(sp_tindex_validate(traw, 36), 3);
    CHECK_EQ_INT(sp_tindex_floor(t, 3, 100), -1);
    CHECK_EQ_INT(sp_tindex_floor(t, 3, 201), 1);
    CHECK_EQ_INT(sp_tindex_floor(t, 3, 1000), 2);
}

static void test_meta_files(void)
{
    struct sp_epoch_entry e[3] = {{0, 0}, {2, 100}, {5, 1000}}, back[8];
    char text[256];
    int n = sp_epoch_ckpt_format(text, sizeof(text), e, 3);
    CHECK(n > 0);
    CHECK_EQ_STR(text, "0\n3\n0 0\n2 100\n5 1000\n");
    CHECK_EQ_INT(sp_epoch_ckpt_parse(text, (size_t)n, back, 8), 3);
    CHECK_EQ_INT(back[2].epoch, 5);
    CHECK_EQ_INT(back[2].start_offset, 1000);
    CHECK_EQ_INT(sp_epoch_ckpt_parse(text, (size_t)n, back, 2), -EBADMSG);
    CHECK_EQ_INT(sp_epoch_ckpt_parse("0\n2\n1 5\n0 9\n", 12, back, 8), -EBADMSG);
    CHECK_EQ_INT(sp_epoch_ckpt_parse("0\n1\n1 5", 7, back, 8), -EBADMSG);
    CHECK_EQ_INT(sp_epoch_ckpt_format(text, 8, e, 3), -ENOSPC);

    uint8_t id[16], id2[16];
    for (int i = 0; i < 16; i++) {
        id[i] = (uint8_t)(i * 37 + 11);
    }
    n = sp_partmeta_format(text, sizeof(text), id);
    CHECK(n > 0);
    CHECK(strncmp(text, "version: 0\ntopic_id: ", 21) == 0);
    CHECK_EQ_INT(strlen(text), 21 + 22 + 1);
    CHECK_EQ_INT(sp_partmeta_parse(text, (size_t)n, id2), 0);
    CHECK(memcmp(id, id2, 16) == 0);
    text[25] = '!';
    CHECK_EQ_INT(sp_partmeta_parse(text, (size_t)n, id2), -EBADMSG);
}

int main(void)
{
    test_names();
    test_scan();
    test_index();
    test_meta_files();
    return CHECK_DONE();
}
