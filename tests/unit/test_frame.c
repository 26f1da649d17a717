/*
 * net/frame: frames cut from a stream chunked at random, with refusals and
 * bad sizes, and with the rest of assembled frames written in place
 * (sp_framer_tail/sp_framer_advance) as a connection's recv does.
 */
#include <stdlib.h>
#include <string.h>

#include "net/frame.h"
#include "tests/check.h"

#define FRAMES 2000

static unsigned rng_state = 12345;

static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

struct alloc_ctx {
    int refuse_permille;
    int allocated;
};

static void *test_alloc(void *ctx, uint32_t size)
{
    struct alloc_ctx *a = ctx;
    if ((int)rnd(1000) < a->refuse_permille) {
        return NULL;
    }
    a->allocated++;
    return malloc(size);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Checks the next frame against the stream's sizes and pattern, and frees it if it was assembled.
 */
static void check_frame(enum sp_frame_result r, struct sp_slice frame, const uint32_t *sizes,
                        int *got, int *in_place, int *assembled)
{
    REQUIRE(r == SP_FRAME_IN_PLACE || r == SP_FRAME_ASSEMBLED);
    REQUIRE(*got < FRAMES);
    CHECK_EQ_INT(frame.len, sizes[*got]);
    bool same = true;
    for (uint32_t j = 0; j < frame.len; j++) {
        same = same && frame.ptr[j] == (uint8_t)(*got * 31 + j);
    }
    CHECK(same);
    if (r == SP_FRAME_ASSEMBLED) {
        (*assembled)++;
        free((void *)frame.ptr);
    } else {
        (*in_place)++;
    }
    (*got)++;
}

/* direct: while a frame is being assembled, write the next bytes into its tail half the time. */
static void test_random_chunks(unsigned seed, int refuse_permille, bool direct)
{
    rng_state = seed;
    uint32_t sizes[FRAMES];
    size_t total = 0;
    for (int i = 0; i < FRAMES; i++) {
        sizes[i] = 1 + (rnd(8) == 0 ? rnd(20000) : rnd(300));
        total += 4 + sizes[i];
    }
    uint8_t *stream = malloc(total);
    REQUIRE(stream != NULL);
    size_t off = 0;
    for (int i = 0; i < FRAMES; i++) {
        put_be32(stream + off, sizes[i]);
        for (uint32_t j = 0; j < sizes[i]; j++) {
            stream[off + 4 + j] = (uint8_t)(i * 31 + j);
        }
        off += 4 + sizes[i];
    }

    struct sp_framer f;
    sp_framer_init(&f, 1 << 20);
    struct alloc_ctx a = {refuse_permille, 0};
    int got = 0, in_place = 0, assembled = 0, tails = 0;
    size_t at = 0;
    while (at < total) {
        uint8_t *tail = NULL;
        uint32_t tail_len = 0;
        if (direct && sp_framer_tail(&f, &tail, &tail_len) && rnd(2) == 0) {
            CHECK(tail_len > 0 && sp_framer_assembling(&f));
            uint32_t n = 1 + rnd(SP_MIN(tail_len, (uint32_t)(total - at)));
            memcpy(tail, stream + at, n);
            at += n;
            struct sp_slice frame = {0};
            enum sp_frame_result r = sp_framer_advance(&f, n, &frame);
            CHECK_EQ_INT(r == SP_FRAME_ASSEMBLED, n == tail_len);
            if (r == SP_FRAME_ASSEMBLED) {
                check_frame(r, frame, sizes, &got, &in_place, &assembled);
                CHECK(sp_framer_idle(&f));
            }
            tails++;
            continue;
        }
        size_t chunk = 1 + rnd(rnd(4) == 0 ? 5 : 4096);
        const uint8_t *p = stream + at;
        const uint8_t *end = stream + SP_MIN(total, at + chunk);
        while (p < end) {
            struct sp_slice frame;
            enum sp_frame_result r = sp_framer_feed(&f, &p, end, &frame, test_alloc, &a);
            if (r == SP_FRAME_NEED_MORE) {
                CHECK(p == end);
                break;
            }
            if (r == SP_FRAME_STALLED) {
                continue; /* retry with what is left, as a connection would later */
            }
            check_frame(r, frame, sizes, &got, &in_place, &assembled);
        }
        at = (size_t)(end - stream);
    }
    CHECK_EQ_INT(got, FRAMES);
    CHECK(sp_framer_idle(&f));
    CHECK(in_place > 0 && assembled > 0);
    CHECK_EQ_INT(a.allocated, assembled);
    CHECK(direct == (tails > 0));
    free(stream);
}

static void test_bad_sizes(void)
{
    const uint32_t bad[] = {0, 0x80000000u, 0xffffffffu, 1025};
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        struct sp_framer f;
        sp_framer_init(&f, 1024);
        uint8_t buf[8] = {0};
        put_be32(buf, bad[i]);
        const uint8_t *p = buf;
        struct sp_slice frame;
        struct alloc_ctx a = {0, 0};
        CHECK_EQ_INT(sp_framer_feed(&f, &p, buf + sizeof(buf), &frame, test_alloc, &a),
                     SP_FRAME_ERROR);
        CHECK_EQ_INT(a.allocated, 0);
    }
    /* The limit itself is allowed, and a split prefix works. */
    struct sp_framer f;
    sp_framer_init(&f, 4);
    uint8_t buf[8] = {0, 0, 0, 4, 'a', 'b', 'c', 'd'};
    const uint8_t *p = buf;
    struct sp_slice frame;
    struct alloc_ctx a = {0, 0};
    CHECK_EQ_INT(sp_framer_feed(&f, &p, buf + 2, &frame, test_alloc, &a), SP_FRAME_NEED_MORE);
    CHECK(!sp_framer_idle(&f));
    CHECK(!sp_framer_assembling(&f)); /* a partial prefix holds no buffer */
    CHECK_EQ_INT(sp_framer_feed(&f, &p, buf + 8, &frame, test_alloc, &a), SP_FRAME_IN_PLACE);
    CHECK(frame.len == 4 && memcmp(frame.ptr, "abcd", 4) == 0);

    /* A connection closing mid-frame gets the partial buffer back. */
    sp_framer_init(&f, 64);
    uint8_t part[6] = {0, 0, 0, 10, 'x', 'y'};
    p = part;
    CHECK_EQ_INT(sp_framer_feed(&f, &p, part + 6, &frame, test_alloc, &a), SP_FRAME_NEED_MORE);
    CHECK(sp_framer_assembling(&f));
    void *left = sp_framer_release(&f);
    CHECK(left != NULL);
    free(left);
    CHECK(sp_framer_idle(&f));
    CHECK(!sp_framer_assembling(&f));
}

/* The tail API on its own: no tail between frames, the fill point moves, release mid-tail. */
static void test_tail(void)
{
    struct sp_framer f;
    sp_framer_init(&f, 64);
    uint8_t *tail = NULL;
    uint32_t len = 0;
    CHECK(!sp_framer_tail(&f, &tail, &len));
    uint8_t part[6] = {0, 0, 0, 10, '0', '1'};
    const uint8_t *p = part;
    struct sp_slice frame = {0};
    struct alloc_ctx a = {0, 0};
    CHECK_EQ_INT(sp_framer_feed(&f, &p, part + 6, &frame, test_alloc, &a), SP_FRAME_NEED_MORE);
    REQUIRE(sp_framer_tail(&f, &tail, &len));
    CHECK_EQ_INT(len, 8);
    memcpy(tail, "234", 3);
    CHECK_EQ_INT(sp_framer_advance(&f, 3, &frame), SP_FRAME_NEED_MORE);
    REQUIRE(sp_framer_tail(&f, &tail, &len));
    CHECK_EQ_INT(len, 5);
    /* Fed bytes and written bytes mix: the next two by feeding, the rest in place. */
    p = (const uint8_t *)"56";
    CHECK_EQ_INT(sp_framer_feed(&f, &p, p + 2, &frame, test_alloc, &a), SP_FRAME_NEED_MORE);
    REQUIRE(sp_framer_tail(&f, &tail, &len));
    CHECK_EQ_INT(len, 3);
    memcpy(tail, "789", 3);
    CHECK_EQ_INT(sp_framer_advance(&f, 3, &frame), SP_FRAME_ASSEMBLED);
    CHECK(frame.len == 10 && memcmp(frame.ptr, "0123456789", 10) == 0);
    free((void *)frame.ptr);
    CHECK(sp_framer_idle(&f));
    CHECK(!sp_framer_tail(&f, &tail, &len));

    /* Released while a tail was handed out: the buffer comes back, the framer is idle. */
    p = part;
    CHECK_EQ_INT(sp_framer_feed(&f, &p, part + 6, &frame, test_alloc, &a), SP_FRAME_NEED_MORE);
    REQUIRE(sp_framer_tail(&f, &tail, &len));
    void *left = sp_framer_release(&f);
    CHECK(left != NULL && (uint8_t *)left + 2 == tail);
    free(left);
    CHECK(sp_framer_idle(&f));
    CHECK(!sp_framer_tail(&f, &tail, &len));
}

int main(void)
{
    test_random_chunks(1, 0, false);
    test_random_chunks(2, 300, false);
    test_random_chunks(3, 900, false);
    test_random_chunks(4, 0, true);
    test_random_chunks(5, 300, true);
    test_bad_sizes();
    test_tail();
    return CHECK_DONE();
}
