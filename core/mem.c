/*
 * core/mem.c: budgets, pools and arenas of core/mem.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/mem.h"

/* ---- Injected failures -------------------------------------------------- */

static _Thread_local char tls_owner; /* its address identifies the thread */
static _Thread_local bool tls_fail_init;
static _Thread_local uint32_t tls_fail_permille;
static _Thread_local uint64_t tls_fail_rng;

static void fail_init(void)
{
    tls_fail_init = true;
#ifdef SP_ALLOC_FAIL_DEBUG
    const char *env = getenv("SPINDLE_ALLOC_FAIL");
    if (env != NULL) {
        long v = strtol(env, NULL, 10);
        tls_fail_permille = v < 0 ? 0 : v > 1000 ? 1000 : (uint32_t)v;
    }
#endif
    tls_fail_rng = (uint64_t)(uintptr_t)&tls_owner | 1;
}

void sp_mem_fail_set(uint32_t permille, uint64_t seed)
{
    SP_ASSERT(permille <= 1000);
    tls_fail_init = true;
    tls_fail_permille = permille;
    tls_fail_rng = seed | 1;
}

bool sp_mem_fail_now(void)
{
    if (SP_UNLIKELY(!tls_fail_init)) {
        fail_init();
    }
    if (SP_LIKELY(tls_fail_permille == 0)) {
        return false;
    }
    uint64_t x = tls_fail_rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    tls_fail_rng = x;
    return x % 1000 < tls_fail_permille;
}

/* ---- Budget ---------------------------------------------------------- */

void sp_mem_budget_init(struct sp_mem_budget *b, uint64_t limit_bytes)
{
    b->limit_bytes = limit_bytes;
    b->high_water_bytes = limit_bytes - limit_bytes / 8;
    b->used_bytes = 0;
    b->peak_bytes = 0;
    b->failures = 0;
    b->owner = &tls_owner;
}

int sp_mem_reserve(struct sp_mem_budget *b, uint64_t bytes)
{
    SP_ASSERT_HOT(b->owner == &tls_owner);
    if (bytes > b->limit_bytes - b->used_bytes || sp_mem_fail_now()) {
        b->failures++;
        return -ENOMEM;
    }
    b->used_bytes += bytes;
    if (b->used_bytes > b->peak_bytes) {
        b->peak_bytes = b->used_bytes;
    }
    return 0;
}

void sp_mem_release(struct sp_mem_budget *b, uint64_t bytes)
{
    SP_ASSERT_HOT(b->owner == &tls_owner);
    SP_ASSERT(bytes <= b->used_bytes);
    b->used_bytes -= bytes;
}

bool sp_mem_pressure(const struct sp_mem_budget *b)
{
    return b->used_bytes >= b->high_water_bytes;
}

void *sp_mem_alloc(struct sp_mem_budget *b, size_t bytes)
{
    if (sp_mem_reserve(b, bytes) < 0) {
        return NULL;
    }
    void *p = malloc(bytes);
    if (p == NULL) {
        sp_mem_release(b, bytes);
        b->failures++;
    }
    return p;
}

void sp_mem_free(struct sp_mem_budget *b, void *p, size_t bytes)
{
    if (p != NULL) {
        free(p);
        sp_mem_release(b, bytes);
    }
}

/* ---- Pools ------------------------------------------------------------ */

struct sp_pool_chunk {
    struct sp_pool_chunk *next;
    uint64_t pad; /* keeps objects 16-aligned */
    unsigned char objs[];
};

int sp_pool_init(struct sp_pool *p, struct sp_mem_budget *b, uint32_t obj_size, uint32_t objs_max)
{
    if (obj_size == 0 || obj_size > SP_POOL_CHUNK_BYTES / 2 || objs_max == 0) {
        return -EINVAL;
    }
    p->budget = b;
    p->obj_size = SP_ALIGN_UP(obj_size, 16u);
    p->objs_max = objs_max;
    p->objs_used = 0;
    p->objs_per_chunk =
        (SP_POOL_CHUNK_BYTES - (uint32_t)sizeof(struct sp_pool_chunk)) / p->obj_size;
    p->free_list = NULL;
    p->chunks = NULL;
    p->owner = &tls_owner;
    return 0;
}

void sp_pool_fini(struct sp_pool *p)
{
    SP_ASSERT(p->objs_used == 0);
    while (p->chunks != NULL) {
        struct sp_pool_chunk *c = p->chunks;
        p->chunks = c->next;
        sp_mem_free(p->budget, c, SP_POOL_CHUNK_BYTES);
    }
    p->free_list = NULL;
}

static int pool_grow(struct sp_pool *p)
{
    struct sp_pool_chunk *c = sp_mem_alloc(p->budget, SP_POOL_CHUNK_BYTES);
    if (c == NULL) {
        return -ENOMEM;
    }
    c->next = p->chunks;
    p->chunks = c;
    for (uint32_t i = p->objs_per_chunk; i-- > 0;) {
        void *obj = c->objs + (size_t)i * p->obj_size;
        *(void **)obj = p->free_list;
        p->free_list = obj;
    }
    return 0;
}

void *sp_pool_get(struct sp_pool *p)
{
    SP_ASSERT_HOT(p->owner == &tls_owner);
    if (p->objs_used == p->objs_max || sp_mem_fail_now()) {
        return NULL;
    }
    if (p->free_list == NULL && pool_grow(p) < 0) {
        return NULL;
    }
    void *obj = p->free_list;
    p->free_list = *(void **)obj;
    p->objs_used++;
    return obj;
}

void sp_pool_put(struct sp_pool *p, void *obj)
{
    SP_ASSERT_HOT(p->owner == &tls_owner);
    SP_ASSERT(p->objs_used > 0);
    *(void **)obj = p->free_list;
    p->free_list = obj;
    p->objs_used--;
}

/* ---- Arenas ----------------------------------------------------------- */

struct sp_mem_arena_chunk {
    struct sp_mem_arena_chunk *next;
    size_t size; /* bytes of data[] */
    size_t used;
    uint64_t pad;
    unsigned char data[];
};

void sp_mem_arena_init(struct sp_mem_arena *a, struct sp_mem_budget *b, uint64_t bytes_max)
{
    a->budget = b;
    a->bytes_max = bytes_max;
    a->bytes_used = 0;
    a->chunks = NULL;
    a->owner = &tls_owner;
}

void *sp_mem_arena_alloc(struct sp_mem_arena *a, size_t bytes, size_t align)
{
    SP_ASSERT_HOT(a->owner == &tls_owner);
    SP_ASSERT(align > 0 && (align & (align - 1)) == 0 && align <= 4096);
    if (bytes > a->bytes_max - a->bytes_used || sp_mem_fail_now()) {
        return NULL;
    }
    struct sp_mem_arena_chunk *c = a->chunks;
    if (c != NULL) {
        uintptr_t base = (uintptr_t)c->data;
        size_t off = SP_ALIGN_UP(base + c->used, (uintptr_t)align) - base;
        if (off + bytes <= c->size) {
            c->used = off + bytes;
            a->bytes_used += bytes;
            return c->data + off;
        }
    }
    size_t size = SP_MAX((size_t)SP_MEM_ARENA_CHUNK_BYTES, bytes + align);
    c = sp_mem_alloc(a->budget, sizeof(*c) + size);
    if (c == NULL) {
        return NULL;
    }
    c->next = a->chunks;
    c->size = size;
    a->chunks = c;
    uintptr_t base = (uintptr_t)c->data;
    size_t off = SP_ALIGN_UP(base, (uintptr_t)align) - base;
    c->used = off + bytes;
    a->bytes_used += bytes;
    return c->data + off;
}

void sp_mem_arena_reset(struct sp_mem_arena *a)
{
    SP_ASSERT_HOT(a->owner == &tls_owner);
    struct sp_mem_arena_chunk *keep = NULL;
    while (a->chunks != NULL) {
        struct sp_mem_arena_chunk *c = a->chunks;
        a->chunks = c->next;
        if (keep == NULL && c->size == SP_MEM_ARENA_CHUNK_BYTES) {
            keep = c;
        } else {
            sp_mem_free(a->budget, c, sizeof(*c) + c->size);
        }
    }
    if (keep != NULL) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->chunks = keep;
    a->bytes_used = 0;
}

void sp_mem_arena_fini(struct sp_mem_arena *a)
{
    sp_mem_arena_reset(a);
    if (a->chunks != NULL) {
        sp_mem_free(a->budget, a->chunks, sizeof(*a->chunks) + a->chunks->size);
        a->chunks = NULL;
    }
}
