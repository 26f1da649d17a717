/*
 * protocol/arena.c: bump allocation over a borrowed buffer and heap chunks.
 */
#include "protocol/arena.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

struct sp_arena_chunk {
    struct sp_arena_chunk *next;
    size_t size;
    _Alignas(SP_ARENA_ALIGN) uint8_t data[];
};

static uint8_t *arena_align(uint8_t *p)
{
    uintptr_t v = (uintptr_t)p;
    v = (v + (SP_ARENA_ALIGN - 1)) & ~(uintptr_t)(SP_ARENA_ALIGN - 1);
    return (uint8_t *)v;
}

void sp_arena_init(struct sp_arena *a, void *buf, size_t first_len, size_t limit)
{
    memset(a, 0, sizeof(*a));
    a->first = buf;
    a->first_len = buf != NULL ? first_len : 0;
    a->limit = limit;
    a->cur = a->first;
    a->end = a->first != NULL ? a->first + a->first_len : NULL;
}

static int arena_new_chunk(struct sp_arena *a, size_t size)
{
    size_t data = size > SP_ARENA_CHUNK_BYTES ? size : SP_ARENA_CHUNK_BYTES;
    if (a->budget != NULL && sp_mem_reserve(a->budget, sizeof(struct sp_arena_chunk) + data) < 0) {
        return -1;
    }
    struct sp_arena_chunk *c = malloc(sizeof(*c) + data);
    if (c == NULL) {
        if (a->budget != NULL) {
            sp_mem_release(a->budget, sizeof(*c) + data);
        }
        return -1;
    }
    c->next = a->chunks;
    c->size = data;
    a->chunks = c;
    a->cur = c->data;
    a->end = c->data + data;
    return 0;
}

void sp_arena_set_budget(struct sp_arena *a, struct sp_mem_budget *b)
{
    a->budget = b;
}

void *sp_arena_alloc(struct sp_arena *a, size_t size)
{
    static uint8_t empty[SP_ARENA_ALIGN];
    if (size == 0) {
        return empty;
    }
    if (size > a->limit) {
        return NULL;
    }
    uint8_t *p = a->cur != NULL ? arena_align(a->cur) : NULL;
    if (p == NULL || p > a->end || (size_t)(a->end - p) < size) {
        /* Bytes left in the abandoned chunk are not counted: the limit is
         * about what hostile input can make us hold, and a chunk's tail is
         * at most one chunk per allocation that did not fit. */
        if (a->used + size > a->limit || arena_new_chunk(a, size) != 0) {
            return NULL;
        }
        p = a->cur;
    }
    size_t take = (size_t)(p - a->cur) + size;
    if (a->used + take > a->limit) {
        return NULL;
    }
    a->used += take;
    a->cur = p + size;
    a->last = p;
    return p;
}

void *sp_arena_calloc(struct sp_arena *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    void *p = sp_arena_alloc(a, n * size);
    if (p != NULL && n * size != 0) {
        memset(p, 0, n * size);
    }
    return p;
}

void *sp_arena_grow(struct sp_arena *a, void *p, size_t old_size, size_t new_size)
{
    if (new_size <= old_size) {
        return p;
    }
    uint8_t *b = p;
    size_t extra = new_size - old_size;
    if (b != NULL && b == a->last && b + old_size == a->cur && (size_t)(a->end - a->cur) >= extra &&
        a->used + extra <= a->limit) {
        a->cur += extra;
        a->used += extra;
        return p;
    }
    void *n = sp_arena_alloc(a, new_size);
    if (n != NULL && old_size > 0) {
        memcpy(n, p, old_size);
    }
    return n;
}

void sp_arena_reset(struct sp_arena *a)
{
    sp_arena_destroy(a);
    a->cur = a->first;
    a->end = a->first != NULL ? a->first + a->first_len : NULL;
    a->last = NULL;
    a->used = 0;
}

void sp_arena_destroy(struct sp_arena *a)
{
    struct sp_arena_chunk *c = a->chunks;
    while (c != NULL) {
        struct sp_arena_chunk *next = c->next;
        if (a->budget != NULL) {
            sp_mem_release(a->budget, sizeof(*c) + c->size);
        }
        free(c);
        c = next;
    }
    a->chunks = NULL;
}
