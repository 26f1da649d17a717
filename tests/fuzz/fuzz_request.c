/*
 * tests/fuzz/fuzz_request.c: a request payload (header and body, the frame
 * after its size) through kproto_request_decode, for every API key and
 * version the input names. What decodes is encoded again, which must work
 * and give bytes that decode once more.
 */
#include <errno.h>

#include "protocol/kproto.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, FUZZ_ARENA_LIMIT);
    struct kproto_request req;
    int rc = kproto_request_decode(data, size, &a, &req);
    if (rc == 0) {
        struct sp_wr w;
        sp_wr_init(&w, &a, 0);
        rc = kproto_request_frame_write(&w, &req.header, req.body);
        SP_ASSERT(rc == 0 || rc == -ENOMEM || rc == -EINVAL);
        if (rc == 0) {
            struct kproto_request again;
            rc = kproto_request_decode(w.buf + 4, w.len - 4, &a, &again);
            SP_ASSERT(rc == 0 || rc == -ENOMEM);
        }
    } else {
        SP_ASSERT(rc == -EBADMSG || rc == -ENOMEM || rc == -ENOTSUP);
    }
    sp_arena_destroy(&a);
    return 0;
}
