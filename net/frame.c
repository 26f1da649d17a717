/* net/frame.c: the resumable frame parser described in net/frame.h. */
#include <string.h>

#include "net/frame.h"

void sp_framer_init(struct sp_framer *f, uint32_t max_bytes)
{
    memset(f, 0, sizeof(*f));
    f->max_bytes = max_bytes;
}

bool sp_framer_idle(const struct sp_framer *f)
{
    return f->prefix_have == 0 && f->body == NULL;
}

bool sp_framer_assembling(const struct sp_framer *f)
{
    return f->body != NULL;
}

void *sp_framer_release(struct sp_framer *f)
{
    void *body = f->body;
    f->body = NULL;
    f->filled = 0;
    f->prefix_have = 0;
    return body;
}

bool sp_framer_tail(const struct sp_framer *f, uint8_t **ptr, uint32_t *len)
{
    if (f->body == NULL) {
        return false;
    }
    SP_ASSERT_HOT(f->filled < f->size);
    *ptr = f->body + f->filled;
    *len = f->size - f->filled;
    return true;
}

static enum sp_frame_result framer_finish(struct sp_framer *f, struct sp_slice *frame)
{
    if (f->filled < f->size) {
        return SP_FRAME_NEED_MORE;
    }
    *frame = sp_slice_make(f->body, f->size);
    f->body = NULL;
    f->filled = 0;
    f->prefix_have = 0;
    return SP_FRAME_ASSEMBLED;
}

enum sp_frame_result sp_framer_advance(struct sp_framer *f, uint32_t n, struct sp_slice *frame)
{
    SP_ASSERT(f->body != NULL && n > 0 && n <= f->size - f->filled);
    f->filled += n;
    return framer_finish(f, frame);
}

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

enum sp_frame_result sp_framer_feed(struct sp_framer *f, const uint8_t **pos, const uint8_t *end,
                                    struct sp_slice *frame, sp_frame_alloc_fn alloc,
                                    void *alloc_ctx)
{
    const uint8_t *p = *pos;
    SP_ASSERT_HOT(p <= end);

    if (f->body == NULL) {
        /* Between frames, or inside a size prefix. */
        if (f->prefix_have == 0 && (size_t)(end - p) >= SP_FRAME_PREFIX_BYTES) {
            f->size = load_be32(p);
            p += SP_FRAME_PREFIX_BYTES;
        } else {
            while (f->prefix_have < SP_FRAME_PREFIX_BYTES && p < end) {
                f->prefix[f->prefix_have++] = *p++;
            }
            if (f->prefix_have < SP_FRAME_PREFIX_BYTES) {
                *pos = p;
                return SP_FRAME_NEED_MORE;
            }
            f->size = load_be32(f->prefix);
        }
        if ((int32_t)f->size <= 0 || f->size > f->max_bytes) {
            f->bad_size = (int32_t)f->size;
            *pos = p;
            return SP_FRAME_ERROR;
        }
        if ((size_t)(end - p) >= f->size) {
            /* The whole body is here: hand it out in place. */
            *frame = sp_slice_make(p, f->size);
            f->prefix_have = 0;
            *pos = p + f->size;
            return SP_FRAME_IN_PLACE;
        }
        uint8_t *body = alloc(alloc_ctx, f->size);
        if (body == NULL) {
            /*
             * Keep the prefix so the retry does not need these bytes again,
             * but consume nothing of the body.
             */
            if (f->prefix_have == 0) {
                memcpy(f->prefix, p - SP_FRAME_PREFIX_BYTES, SP_FRAME_PREFIX_BYTES);
                f->prefix_have = SP_FRAME_PREFIX_BYTES;
            }
            *pos = p;
            return SP_FRAME_STALLED;
        }
        f->body = body;
        f->filled = 0;
        f->prefix_have = SP_FRAME_PREFIX_BYTES;
    }

    size_t want = f->size - f->filled;
    size_t take = SP_MIN(want, (size_t)(end - p));
    memcpy(f->body + f->filled, p, take);
    f->filled += (uint32_t)take;
    *pos = p + take;
    return framer_finish(f, frame);
}
