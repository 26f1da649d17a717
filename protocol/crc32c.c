/*
 * protocol/crc32c.c: CRC-32C with hardware instructions where the CPU has
 * them.
 *
 * The crc32 instruction has a latency of three cycles and a throughput of
 * one, so the SSE4.2 path runs three independent streams over three adjacent
 * blocks and then joins them: the register after block A followed by block B
 * is shift(reg_A, |B|) ^ reg_B(started from 0), where shift() feeds |B| zero
 * bytes through the register. shift() is linear in the register's bits, so
 * for a fixed block size it is four 256-entry tables, built once at start.
 *
 * The register convention is the usual reflected one: the public value is
 * the register xor 0xffffffff at both ends.
 */
#include "protocol/crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define SP_CRC32C_X86 1
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#define SP_CRC32C_ARM 1
#endif

#define CRC32C_POLY_REFLECTED 0x82f63b78u

/* Block sizes for the three-stream path: long for big buffers, short for
 * what is left. Each needs its own shift tables. */
#define CRC32C_LONG_BYTES  8192u
#define CRC32C_SHORT_BYTES 256u

typedef uint32_t (*crc32c_fn)(uint32_t reg, const uint8_t *p, size_t len);

static uint32_t crc32c_table[8][256];
static uint32_t crc32c_shift_long[4][256];
static uint32_t crc32c_shift_short[4][256];
static crc32c_fn crc32c_impl;
static const char *crc32c_impl_label = "portable";
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Slicing-by-8: eight table lookups per eight bytes. */
static uint32_t crc32c_sw(uint32_t reg, const uint8_t *p, size_t len)
{
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        reg = crc32c_table[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t lo = load_le32(p) ^ reg;
        uint32_t hi = load_le32(p + 4);
        reg = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
              crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
              crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
              crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        reg = crc32c_table[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
        len--;
    }
    return reg;
}

/* Feeds `bytes` zero bytes through the register. Used only at start. */
static uint32_t crc32c_zeros_slow(uint32_t reg, size_t bytes)
{
    while (bytes-- > 0) {
        reg = crc32c_table[0][reg & 0xff] ^ (reg >> 8);
    }
    return reg;
}

static void crc32c_shift_table_build(uint32_t table[4][256], size_t bytes)
{
    uint32_t column[32];
    for (unsigned bit = 0; bit < 32; bit++) {
        column[bit] = crc32c_zeros_slow(1u << bit, bytes);
    }
    for (unsigned k = 0; k < 4; k++) {
        for (unsigned b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (unsigned i = 0; i < 8; i++) {
                if (b & (1u << i)) {
                    v ^= column[8 * k + i];
                }
            }
            table[k][b] = v;
        }
    }
}

static uint32_t crc32c_shift(uint32_t table[4][256], uint32_t reg)
{
    return table[0][reg & 0xff] ^ table[1][(reg >> 8) & 0xff] ^ table[2][(reg >> 16) & 0xff] ^
           table[3][reg >> 24];
}

#if defined(SP_CRC32C_X86) && defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t reg, const uint8_t *p,
                                                            size_t len)
{
    uint64_t r0 = reg;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        r0 = _mm_crc32_u8((uint32_t)r0, *p++);
        len--;
    }
    static const size_t blocks[2] = {CRC32C_LONG_BYTES, CRC32C_SHORT_BYTES};
    for (int b = 0; b < 2; b++) {
        size_t block = blocks[b];
        uint32_t(*shift)[256] = b == 0 ? crc32c_shift_long : crc32c_shift_short;
        while (len >= 3 * block) {
            uint64_t r1 = 0, r2 = 0;
            const uint8_t *end = p + block;
            while (p < end) {
                uint64_t w0, w1, w2;
                memcpy(&w0, p, 8);
                memcpy(&w1, p + block, 8);
                memcpy(&w2, p + 2 * block, 8);
                r0 = _mm_crc32_u64(r0, w0);
                r1 = _mm_crc32_u64(r1, w1);
                r2 = _mm_crc32_u64(r2, w2);
                p += 8;
            }
            r0 = crc32c_shift(shift, (uint32_t)r0) ^ (uint32_t)r1;
            r0 = crc32c_shift(shift, (uint32_t)r0) ^ (uint32_t)r2;
            p += 2 * block;
            len -= 3 * block;
        }
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        r0 = _mm_crc32_u64(r0, w);
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        r0 = _mm_crc32_u8((uint32_t)r0, *p++);
        len--;
    }
    return (uint32_t)r0;
}
#endif

#if defined(SP_CRC32C_ARM)
__attribute__((target("+crc"))) static uint32_t crc32c_hw(uint32_t reg, const uint8_t *p,
                                                          size_t len)
{
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        reg = __crc32cb(reg, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        reg = __crc32cd(reg, w);
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        reg = __crc32cb(reg, *p++);
        len--;
    }
    return reg;
}
#endif

static void crc32c_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        }
        crc32c_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc32c_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = crc32c_table[0][c & 0xff] ^ (c >> 8);
            crc32c_table[k][n] = c;
        }
    }
    crc32c_impl = crc32c_sw;
#if defined(SP_CRC32C_X86) && defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        crc32c_shift_table_build(crc32c_shift_long, CRC32C_LONG_BYTES);
        crc32c_shift_table_build(crc32c_shift_short, CRC32C_SHORT_BYTES);
        crc32c_impl = crc32c_hw;
        crc32c_impl_label = "sse4.2";
    }
#elif defined(SP_CRC32C_ARM)
    if (getauxval(AT_HWCAP) & HWCAP_CRC32) {
        crc32c_impl = crc32c_hw;
        crc32c_impl_label = "armv8-crc";
    }
#endif
}

uint32_t sp_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc32c_once, crc32c_init);
    return ~crc32c_impl(~crc, (const uint8_t *)buf, len);
}

uint32_t sp_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc32c_once, crc32c_init);
    return ~crc32c_sw(~crc, (const uint8_t *)buf, len);
}

const char *sp_crc32c_impl_name(void)
{
    pthread_once(&crc32c_once, crc32c_init);
    return crc32c_impl_label;
}
