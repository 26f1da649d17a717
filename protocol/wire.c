/*
 * protocol/wire.c: the out-of-line parts of the writer.
 */
#include "protocol/wire.h"

#include <stdlib.h>

void *sp_rd_alloc(struct sp_rd *rd, struct sp_arena *a, int32_t n, size_t size)
{
    if (n <= 0 || rd->err != 0) {
        return NULL;
    }
    void *p = sp_arena_calloc(a, (size_t)n, size);
    if (p == NULL) {
        sp_rd_fail(rd, -ENOMEM);
    }
    return p;
}

void sp_wr_init(struct sp_wr *wr, struct sp_arena *a, size_t initial_cap)
{
    wr->buf = NULL;
    wr->len = 0;
    wr->cap = 0;
    wr->arena = a;
    wr->err = 0;
    if (initial_cap > 0) {
        (void)sp_wr_grow_(wr, initial_cap);
    }
}

void sp_wr_free(struct sp_wr *wr)
{
    if (wr->arena == NULL) {
        free(wr->buf);
    }
    wr->buf = NULL;
    wr->len = 0;
    wr->cap = 0;
}

bool sp_wr_grow_(struct sp_wr *wr, size_t n)
{
    if (wr->len + n < wr->len) {
        sp_wr_fail(wr, -ENOMEM);
        return false;
    }
    size_t cap = wr->cap > 0 ? wr->cap : 256;
    while (cap < wr->len + n) {
        if (cap > SIZE_MAX / 2) {
            sp_wr_fail(wr, -ENOMEM);
            return false;
        }
        cap *= 2;
    }
    void *p;
    if (wr->arena != NULL) {
        p = sp_arena_grow(wr->arena, wr->buf, wr->cap, cap);
    } else {
        p = realloc(wr->buf, cap);
    }
    if (p == NULL) {
        sp_wr_fail(wr, -ENOMEM);
        return false;
    }
    wr->buf = p;
    wr->cap = cap;
    return true;
}

void sp_wr_tag_end(struct sp_wr *wr, size_t mark)
{
    if (wr->err != 0) {
        return;
    }
    size_t size = wr->len - mark;
    uint8_t tmp[SP_VARLONG_BYTES_MAX];
    size_t n = sp_uvarlong_encode(tmp, size);
    if (sp_wr_take(wr, n) == NULL) {
        return;
    }
    memmove(wr->buf + mark + n, wr->buf + mark, size);
    memcpy(wr->buf + mark, tmp, n);
}
