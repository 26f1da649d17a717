/*
 * tests/fuzz/fuzz_message.c: any generated message at any version. The
 * first two bytes pick the message (index into kproto_messages modulo the
 * count) and the version; the rest is decoded, and a successful decode is
 * encoded again.
 */
#include <errno.h>

#include "protocol/kproto.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    const struct kproto_message *m = &kproto_messages[data[0] % kproto_messages_count];
    int span = m->max_version - m->min_version + 1;
    int16_t v = (int16_t)(m->min_version + data[1] % span);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, FUZZ_ARENA_LIMIT);
    void *s = sp_arena_alloc(&a, m->size);
    SP_ASSERT(s != NULL);
    struct sp_rd rd;
    sp_rd_init(&rd, data + 2, size - 2);
    int rc = m->decode(&rd, &a, v, s);
    SP_ASSERT(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
    if (rc == 0) {
        struct sp_wr w;
        sp_wr_init(&w, &a, 0);
        rc = m->encode(&w, v, s);
        SP_ASSERT(rc == 0 || rc == -ENOMEM);
    }
    sp_arena_destroy(&a);
    return 0;
}
