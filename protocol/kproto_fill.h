/*
 * protocol/kproto_fill.h: deterministic pseudo-random values for the
 * generated fill functions (protocol/gen/kproto_test.h), which populate
 * every field of a message for round-trip tests, fuzz seeds and benches.
 *
 * Allocates from the arena it is given (borrowed); values are a function of
 * the seed only.
 */
#ifndef SP_PROTOCOL_KPROTO_FILL_H
#define SP_PROTOCOL_KPROTO_FILL_H

#include "protocol/kproto.h"

struct kproto_fill {
    struct sp_arena *arena;
    uint64_t state;
    int32_t array_max; /* arrays get 0..array_max elements (default 2) */
};

static inline void kproto_fill_init(struct kproto_fill *f, struct sp_arena *a, uint64_t seed)
{
    f->arena = a;
    f->state = seed * 0x9e3779b97f4a7c15u + 1;
    f->array_max = 2;
}

static inline uint64_t kproto_fill_u64(struct kproto_fill *f)
{
    /* xorshift64* */
    uint64_t x = f->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    f->state = x;
    return x * 0x2545f4914f6cdd1du;
}

/* True now and then when nullable. */
static inline bool kproto_fill_null(struct kproto_fill *f, bool nullable)
{
    return nullable && kproto_fill_u64(f) % 4 == 0;
}

/* An array count: -1 (null) now and then when nullable, else 1..array_max
 * mostly, sometimes 0. */
static inline int32_t kproto_fill_count(struct kproto_fill *f, bool nullable)
{
    if (kproto_fill_null(f, nullable)) {
        return -1;
    }
    uint64_t r = kproto_fill_u64(f);
    if (r % 8 == 0) {
        return 0;
    }
    return 1 + (int32_t)(r % (uint64_t)(f->array_max > 0 ? f->array_max : 1));
}

static inline void *kproto_fill_alloc(struct kproto_fill *f, int32_t n, size_t size)
{
    if (n <= 0) {
        return NULL;
    }
    void *p = sp_arena_calloc(f->arena, (size_t)n, size);
    SP_ASSERT(p != NULL);
    return p;
}

static inline struct sp_str kproto_fill_str(struct kproto_fill *f, bool nullable)
{
    static const char pool[] = "spindle-topic-0123456789-abcdefghijklmnopqrstuvwxyz";
    struct sp_str s = {NULL, 0};
    if (kproto_fill_null(f, nullable)) {
        return s;
    }
    uint64_t r = kproto_fill_u64(f);
    s.len = (int32_t)(1 + r % 24);
    s.ptr = pool + (r >> 8) % (sizeof(pool) - 1 - (size_t)s.len);
    return s;
}

static inline struct sp_slice kproto_fill_bytes(struct kproto_fill *f, bool nullable)
{
    static const uint8_t pool[64] = {
        0x00, 0x01, 0xff, 0x7f, 0x80, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60,
        0x70, 0x81, 0x91, 0xa1, 0xb1, 0xc1, 0xd1, 0xe1, 0xf1, 0x02, 0x12,
        0x22, 0x32, 0x42, 0x52, 0x62, 0x72, 0x82, 0x92, 0xa2, 0xb2,
    };
    struct sp_slice s = {NULL, 0};
    if (kproto_fill_null(f, nullable)) {
        return s;
    }
    uint64_t r = kproto_fill_u64(f);
    s.len = (size_t)(r % 32);
    s.ptr = pool + (r >> 8) % (sizeof(pool) - s.len);
    return s;
}

static inline void kproto_fill_uuid(struct kproto_fill *f, struct sp_uuid *u)
{
    uint64_t a = kproto_fill_u64(f), b = kproto_fill_u64(f);
    memcpy(u->b, &a, 8);
    memcpy(u->b + 8, &b, 8);
}

#endif /* SP_PROTOCOL_KPROTO_FILL_H */
