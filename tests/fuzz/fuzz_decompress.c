/*
 * tests/fuzz/fuzz_decompress.c: each decompressor over arbitrary bytes with
 * a small output bound. The first byte picks the codec.
 */
#include <errno.h>

#include "protocol/compress.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    enum sp_codec codec = (enum sp_codec)(1 + data[0] % 4);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, FUZZ_ARENA_LIMIT);
    struct sp_slice out;
    int rc = sp_decompress_arena(codec, sp_slice_make(data + 1, size - 1), &a, 1u << 20, &out);
    SP_ASSERT(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE || rc == -ENOMEM);
    SP_ASSERT(rc != 0 || out.len <= (1u << 20));
    sp_arena_destroy(&a);
    return 0;
}
