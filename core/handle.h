/*
 * core/handle.h: {slot, generation} handles for things that may be gone by
 * the time a reply refers to them (a connection closed while its request
 * was on another shard). A table of slots belongs to one shard; the handle
 * travels in messages, and sp_handles_get() answers NULL once the slot was
 * freed or reused, so a late reply is recognised and dropped.
 *
 *   handle = slot | generation << 32; a slot's generation grows on each free.
 */
#ifndef SP_CORE_HANDLE_H
#define SP_CORE_HANDLE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/sp.h"

typedef uint64_t sp_handle;

#define SP_HANDLE_NONE ((sp_handle)0)

struct sp_handles {
    void **ptr;
    uint32_t *gen;
    uint32_t *free_next;
    uint32_t free_head; /* UINT32_MAX when empty */
    uint32_t cap;
    uint32_t used;
};

/* A table of `cap` slots. 0 or -ENOMEM. */
static inline int sp_handles_init(struct sp_handles *t, uint32_t cap)
{
    t->ptr = calloc(cap, sizeof(*t->ptr));
    t->gen = calloc(cap, sizeof(*t->gen));
    t->free_next = calloc(cap, sizeof(*t->free_next));
    if (t->ptr == NULL || t->gen == NULL || t->free_next == NULL) {
        free(t->ptr);
        free(t->gen);
        free(t->free_next);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < cap; i++) {
        t->gen[i] = 1; /* generation 0 never appears, so SP_HANDLE_NONE never matches */
        t->free_next[i] = i + 1 < cap ? i + 1 : UINT32_MAX;
    }
    t->free_head = cap > 0 ? 0 : UINT32_MAX;
    t->cap = cap;
    t->used = 0;
    return 0;
}

static inline void sp_handles_fini(struct sp_handles *t)
{
    free(t->ptr);
    free(t->gen);
    free(t->free_next);
}

/* Stores p in a free slot. The handle, or SP_HANDLE_NONE when the table is full. */
static inline sp_handle sp_handles_put(struct sp_handles *t, void *p)
{
    uint32_t i = t->free_head;
    if (i == UINT32_MAX) {
        return SP_HANDLE_NONE;
    }
    t->free_head = t->free_next[i];
    t->ptr[i] = p;
    t->used++;
    return (sp_handle)i | ((sp_handle)t->gen[i] << 32);
}

/* The pointer behind h, or NULL if its slot was freed since. */
static inline void *sp_handles_get(const struct sp_handles *t, sp_handle h)
{
    uint32_t i = (uint32_t)h;
    if (i >= t->cap || t->gen[i] != (uint32_t)(h >> 32)) {
        return NULL;
    }
    return t->ptr[i];
}

/* Frees h's slot; later lookups of h answer NULL. Returns whether h was live. */
static inline bool sp_handles_del(struct sp_handles *t, sp_handle h)
{
    if (sp_handles_get(t, h) == NULL) {
        return false;
    }
    uint32_t i = (uint32_t)h;
    t->ptr[i] = NULL;
    t->gen[i] = t->gen[i] + 1 == 0 ? 1 : t->gen[i] + 1;
    t->free_next[i] = t->free_head;
    t->free_head = i;
    t->used--;
    return true;
}

#endif /* SP_CORE_HANDLE_H */
