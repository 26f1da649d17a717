/*
 * core/mem.h: shard memory. A budget per shard, fixed-size object pools and
 * per-request arenas drawn from it, all with hard limits.
 *
 *   struct sp_mem_budget  (one per shard: sp_rx_mem())
 *        ^ reserve/release          ^
 *   struct sp_pool               struct sp_mem_arena
 *   fixed-size objects,          bump allocation in chunks,
 *   free list, objs_max          bytes_max, reset per request
 *
 * Backpressure: code that takes new work (reading a socket, accepting a
 * request) asks sp_mem_pressure() first and stops taking work while it is
 * true; allocation itself fails with NULL / -ENOMEM at the hard limit, and
 * that failure is an operating error every caller handles.
 *
 * Threads: a budget, pool or arena belongs to the thread that initialised
 * it; memory is returned on that thread (ownership travels with cross-core
 * messages and comes back with the reply). Debug and CI builds assert it.
 *
 * Random failures: with -Dalloc_fail_debug=true, SPINDLE_ALLOC_FAIL=permille
 * makes that share of reservations fail at random (HAProxy's
 * POOL_DBG_FAIL_ALLOC). sp_mem_fail_set() does the same for the calling
 * thread in any build, for tests.
 */
#ifndef SP_CORE_MEM_H
#define SP_CORE_MEM_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "core/sp.h"

struct sp_mem_budget {
    uint64_t limit_bytes;      /* hard cap */
    uint64_t high_water_bytes; /* sp_mem_pressure() from here: 7/8 of the cap */
    uint64_t used_bytes;
    uint64_t peak_bytes;
    uint64_t failures; /* reservations refused */
    const void *owner;
};

void sp_mem_budget_init(struct sp_mem_budget *b, uint64_t limit_bytes);
/* Takes `bytes` from the budget. 0, or -ENOMEM over the cap or by injected failure. */
int sp_mem_reserve(struct sp_mem_budget *b, uint64_t bytes);
void sp_mem_release(struct sp_mem_budget *b, uint64_t bytes);
/* True while usage is at or above the high-water mark: take no new work. */
bool sp_mem_pressure(const struct sp_mem_budget *b);
/* malloc/free accounted against the budget. NULL on refusal. Returned owned. */
void *sp_mem_alloc(struct sp_mem_budget *b, size_t bytes);
void sp_mem_free(struct sp_mem_budget *b, void *p, size_t bytes);

/* ---- Pools of fixed-size objects ---------------------------------------- */

struct sp_pool_chunk;

struct sp_pool {
    struct sp_mem_budget *budget;
    uint32_t obj_size;
    uint32_t objs_max;
    uint32_t objs_used;
    uint32_t objs_per_chunk;
    void *free_list;
    struct sp_pool_chunk *chunks;
    const void *owner;
};

#define SP_POOL_CHUNK_BYTES (64u * 1024)

/* obj_size is rounded up to 16. Returns 0 or -EINVAL. */
int sp_pool_init(struct sp_pool *p, struct sp_mem_budget *b, uint32_t obj_size, uint32_t objs_max);
/* Frees the chunks. Every object must have been put back. */
void sp_pool_fini(struct sp_pool *p);
/* An object (uninitialised), or NULL at objs_max, over budget, or by injected failure. */
void *sp_pool_get(struct sp_pool *p);
void sp_pool_put(struct sp_pool *p, void *obj);

/* ---- Per-request arenas -------------------------------------------------- */

struct sp_mem_arena_chunk;

struct sp_mem_arena {
    struct sp_mem_budget *budget;
    uint64_t bytes_max; /* hard cap on what one request may hold */
    uint64_t bytes_used;
    struct sp_mem_arena_chunk *chunks; /* newest first */
    const void *owner;
};

#define SP_MEM_ARENA_CHUNK_BYTES (16u * 1024)

void sp_mem_arena_init(struct sp_mem_arena *a, struct sp_mem_budget *b, uint64_t bytes_max);
/* Memory for the arena's lifetime (until reset), or NULL over bytes_max / budget / injected. */
void *sp_mem_arena_alloc(struct sp_mem_arena *a, size_t bytes, size_t align);
/* Frees everything allocated; keeps one chunk for the next request. */
void sp_mem_arena_reset(struct sp_mem_arena *a);
void sp_mem_arena_fini(struct sp_mem_arena *a);

/* ---- Injected failures ---------------------------------------------------- */

/* Makes permille/1000 of the calling thread's reservations fail (0 = none). */
void sp_mem_fail_set(uint32_t permille, uint64_t seed);
/* Draws whether the next allocation fails (for allocators outside this module). */
bool sp_mem_fail_now(void);

#endif /* SP_CORE_MEM_H */
