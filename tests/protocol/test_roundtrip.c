/*
 * tests/protocol/test_roundtrip.c: every generated message at every version
 * round-trips: fill every field, encode, decode, compare, encode again and
 * compare the bytes. Every proper prefix of an encoding is rejected.
 */
#include "protocol/gen/kproto_test.h"
#include "protocol/kproto.h"

#include "tests/check.h"

enum { SEEDS = 6 };

static long versions_checked;

static void roundtrip_one(size_t mi, const struct kproto_message *m, int16_t v, uint64_t seed,
                          bool check_prefixes)
{
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 64 << 20);
    struct kproto_fill fl;
    kproto_fill_init(&fl, &a, seed + 1000u * mi + (uint64_t)v);
    void *in = sp_arena_alloc(&a, m->size);
    void *out = sp_arena_alloc(&a, m->size);
    REQUIRE(in != NULL && out != NULL);
    kproto_test_fill[mi](&fl, v, in);

    struct sp_wr w1, w2;
    sp_wr_init(&w1, NULL, 0);
    sp_wr_init(&w2, NULL, 0);
    int rc = m->encode(&w1, v, in);
    if (rc != 0) {
        fprintf(stderr, "%s v%d seed %llu: encode %d\n", m->name, v, (unsigned long long)seed, rc);
        check_failures_++;
        goto done;
    }
    struct sp_rd rd;
    sp_rd_init(&rd, w1.buf, w1.len);
    rc = m->decode(&rd, &a, v, out);
    if (rc != 0 || sp_rd_left(&rd) != 0) {
        fprintf(stderr, "%s v%d seed %llu: decode %d, %zu bytes left of %zu\n", m->name, v,
                (unsigned long long)seed, rc, sp_rd_left(&rd), w1.len);
        check_failures_++;
        goto done;
    }
    if (!kproto_test_equal[mi](v, in, out)) {
        fprintf(stderr, "%s v%d seed %llu: decoded fields differ\n", m->name, v,
                (unsigned long long)seed);
        check_failures_++;
    }
    rc = m->encode(&w2, v, out);
    if (rc != 0 || w1.len != w2.len || (w1.len != 0 && memcmp(w1.buf, w2.buf, w1.len) != 0)) {
        fprintf(stderr, "%s v%d seed %llu: re-encoding differs (%d)\n", m->name, v,
                (unsigned long long)seed, rc);
        check_failures_++;
    }
    if (check_prefixes) {
        for (size_t cut = 0; cut < w1.len; cut++) {
            sp_arena_reset(&a);
            out = sp_arena_alloc(&a, m->size);
            sp_rd_init(&rd, w1.buf, cut);
            rc = m->decode(&rd, &a, v, out);
            if (rc != -EBADMSG) {
                fprintf(stderr, "%s v%d: prefix %zu of %zu gave %d\n", m->name, v, cut, w1.len, rc);
                check_failures_++;
                break;
            }
        }
    }
    versions_checked++;
done:
    sp_wr_free(&w1);
    sp_wr_free(&w2);
    sp_arena_destroy(&a);
}

static void test_all_messages(void)
{
    for (size_t mi = 0; mi < kproto_messages_count; mi++) {
        const struct kproto_message *m = &kproto_messages[mi];
        for (int16_t v = m->min_version; v <= m->max_version; v++) {
            for (uint64_t seed = 0; seed < SEEDS; seed++) {
                roundtrip_one(mi, m, v, seed, seed == 0);
            }
        }
    }
}

/* Versions outside validVersions are refused both ways. */
static void test_bad_versions(void)
{
    const struct kproto_message *m = kproto_message_find("ProduceRequest");
    REQUIRE(m != NULL);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 1 << 20);
    void *s = sp_arena_alloc(&a, m->size);
    m->init(s);
    struct sp_wr w;
    sp_wr_init(&w, NULL, 0);
    CHECK_EQ_INT(m->encode(&w, (int16_t)(m->max_version + 1), s), -ENOTSUP);
    sp_wr_free(&w);
    uint8_t zeros[64] = {0};
    struct sp_rd rd;
    sp_rd_init(&rd, zeros, sizeof(zeros));
    CHECK_EQ_INT(m->decode(&rd, &a, -1, s), -ENOTSUP);
    sp_arena_destroy(&a);
}

int main(void)
{
    test_all_messages();
    test_bad_versions();
    printf("%zu messages, %ld message versions x %d seeds round-tripped\n", kproto_messages_count,
           versions_checked / SEEDS, SEEDS);
    return CHECK_DONE();
}
