/*
 * tests/fuzz/fuzz_batch.c: record batch v2 validation and record iteration
 * over arbitrary bytes. The CRC is recomputed first when the input is long
 * enough, so the fuzzer gets past it into the records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/batch.h"
#include "protocol/compress.h"
#include "tests/fuzz/fuzz.h"

static void walk(const uint8_t *buf, size_t len)
{
    struct sp_batch_header h;
    if (sp_batch_validate(buf, len, &h) != 0) {
        return;
    }
    struct sp_slice recs = sp_batch_records(buf, &h);
    SP_ASSERT(recs.ptr + recs.len <= buf + len);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, FUZZ_ARENA_LIMIT);
    int rc = sp_batch_records_decompress(buf, &h, &a, 1u << 20, &recs);
    if (rc != 0) {
        SP_ASSERT(rc == -EBADMSG || rc == -EMSGSIZE || rc == -ENOMEM);
        sp_arena_destroy(&a);
        return;
    }
    struct sp_record_iter it;
    struct sp_record r;
    sp_record_iter_init(&it, &h, recs);
    while ((rc = sp_record_iter_next(&it, &r)) == 1) {
        SP_ASSERT(r.key.ptr == NULL || r.key.ptr + r.key.len <= recs.ptr + recs.len);
        SP_ASSERT(r.value.ptr == NULL || r.value.ptr + r.value.len <= recs.ptr + recs.len);
        size_t pos = 0;
        struct sp_record_header hd;
        while (sp_record_headers_next(&r, &pos, &hd) == 1) {
            SP_ASSERT(hd.key.ptr + hd.key.len <= recs.ptr + recs.len);
        }
    }
    SP_ASSERT(rc == 0 || rc == -EBADMSG);
    sp_arena_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walk(data, size);
    size_t bsize = sp_batch_size(data, size);
    if (size >= SP_BATCH_HEADER_BYTES && bsize >= SP_BATCH_HEADER_BYTES && bsize <= size) {
        uint8_t *copy = malloc(size);
        SP_ASSERT(copy != NULL);
        memcpy(copy, data, size);
        sp_batch_update_crc(copy, bsize);
        walk(copy, size);
        free(copy);
    }
    return 0;
}
