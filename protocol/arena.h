/*
 * protocol/arena.h: the per-request bump allocator that decoders allocate
 * from.
 *
 * A request's decoded structs (arrays of topics, partitions, ...) live in an
 * arena that is reset when the request ends, so decoding never calls the
 * general-purpose allocator on the hot path and never frees piecemeal. The
 * arena starts in a caller-provided buffer (borrowed, typically a slab of the
 * connection) and, when that is used up, takes further chunks from the heap,
 * up to a hard byte limit: past the limit every allocation returns NULL,
 * which a decoder reports as -ENOMEM. Hostile input can therefore never make
 * a request use more than `limit` bytes.
 *
 *   [ first buffer (borrowed) ] -> [ heap chunk ] -> [ heap chunk ] ...
 *     ^ used bump-style           (owned, freed by reset/destroy)
 *
 * Not thread-safe: an arena belongs to one request on one shard.
 *
 * Heap chunks may be charged to a shard's memory budget (core/mem.h), so
 * that what requests hold counts towards the pressure that stops a shard
 * reading new ones; a chunk the budget refuses is an allocation failure.
 */
#ifndef SP_PROTOCOL_ARENA_H
#define SP_PROTOCOL_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct sp_mem_budget;

/* Alignment of every allocation. */
#define SP_ARENA_ALIGN 8
/* Size of the heap chunks taken once the first buffer is used up (a larger
 * allocation gets a chunk of its own size). */
#define SP_ARENA_CHUNK_BYTES (64u * 1024)

struct sp_arena_chunk;

struct sp_arena {
    uint8_t *cur;                  /* next free byte of the current chunk */
    uint8_t *end;                  /* end of the current chunk */
    uint8_t *last;                 /* start of the latest allocation, for grow-in-place */
    size_t used;                   /* bytes counted against limit */
    size_t limit;                  /* hard limit on used */
    uint8_t *first;                /* caller's buffer (borrowed), may be NULL */
    size_t first_len;              /* its size */
    struct sp_arena_chunk *chunks; /* heap chunks (owned), newest first */
    struct sp_mem_budget *budget;  /* charged for heap chunks, or NULL (borrowed) */
};

/* Starts an arena over buf (borrowed, may be NULL when first_len is 0) that
 * hands out at most limit bytes in all. */
void sp_arena_init(struct sp_arena *a, void *buf, size_t first_len, size_t limit);

/* Charges the heap chunks taken from now on to b (borrowed; same thread). */
void sp_arena_set_budget(struct sp_arena *a, struct sp_mem_budget *b);

/* Returns size bytes aligned to SP_ARENA_ALIGN, or NULL when the limit would
 * be passed or the heap is exhausted. A size of 0 returns a valid non-NULL
 * pointer that must not be written. */
void *sp_arena_alloc(struct sp_arena *a, size_t size);

/* Zeroed n * size bytes; NULL on overflow of n * size or as sp_arena_alloc. */
void *sp_arena_calloc(struct sp_arena *a, size_t n, size_t size);

/* Grows the latest allocation p from old_size to new_size, in place when it
 * is the newest and there is room, else by copying into a new allocation.
 * Returns the (possibly moved) block or NULL; on NULL p is unchanged. */
void *sp_arena_grow(struct sp_arena *a, void *p, size_t old_size, size_t new_size);

/* Bytes handed out so far (including alignment padding). */
static inline size_t sp_arena_used(const struct sp_arena *a)
{
    return a->used;
}

/* Forgets every allocation: frees the heap chunks and starts again in the
 * first buffer. */
void sp_arena_reset(struct sp_arena *a);

/* Frees the heap chunks; the arena may be initialised again afterwards. */
void sp_arena_destroy(struct sp_arena *a);

#endif /* SP_PROTOCOL_ARENA_H */
