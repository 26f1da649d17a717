/*
 * core/sp.h: the few definitions every Spindle file shares.
 *
 * Assertions, container_of, slices and array lengths. Nothing here allocates
 * or depends on a shard; any thread may use it.
 *
 * Assertions: SP_ASSERT is always compiled in, independent of NDEBUG, and is
 * for invariants of our own state only. Bytes that came from the network or
 * the disk are never asserted on; they are validated and answered with an
 * error. SP_ASSERT_HOT guards hot paths and is compiled in debug builds and
 * in CI (-Dhot_asserts=true); elsewhere it only type-checks its argument.
 */
#ifndef SP_CORE_SP_H
#define SP_CORE_SP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#if defined(__GNUC__)
#define SP_LIKELY(x)                    __builtin_expect(!!(x), 1)
#define SP_UNLIKELY(x)                  __builtin_expect(!!(x), 0)
#define SP_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#define SP_UNUSED                       __attribute__((unused))
#else
#define SP_LIKELY(x)   (x)
#define SP_UNLIKELY(x) (x)
#define SP_PRINTF(fmt_index, first_arg)
#define SP_UNUSED
#endif

/* Reports a broken invariant on stderr and aborts. Never returns. */
_Noreturn void sp_assert_fail(const char *expr, const char *file, int line);

#define SP_ASSERT(cond) (SP_LIKELY(cond) ? (void)0 : sp_assert_fail(#cond, __FILE__, __LINE__))

#ifdef SP_HOT_ASSERTS
#define SP_ASSERT_HOT(cond) SP_ASSERT(cond)
#else
#define SP_ASSERT_HOT(cond) ((void)sizeof(!(cond)))
#endif

#define SP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Recovers the struct that embeds `member` from a pointer to that member. */
#define sp_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define SP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SP_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Rounds up to a power-of-two alignment. */
#define SP_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))

/* A borrowed view of bytes owned by someone else (a receive buffer, a segment). */
struct sp_slice {
    const uint8_t *ptr;
    size_t len;
};

static inline struct sp_slice sp_slice_make(const void *ptr, size_t len)
{
    struct sp_slice s = {(const uint8_t *)ptr, len};
    return s;
}

#endif /* SP_CORE_SP_H */
