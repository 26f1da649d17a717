/*
 * tests/check.h: the assertions unit tests use.
 *
 * A failed CHECK prints the expression, file and line and counts a failure;
 * the test goes on so one run shows every failure. CHECK_DONE() returns the
 * process exit code (0, or 1 when anything failed). SKIP() exits 77, which
 * meson reports as skipped; say what is missing.
 */
#ifndef SP_TESTS_CHECK_H
#define SP_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures_;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures_++;                                                       \
        }                                                                            \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                        \
    do {                                                                                          \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                           \
        if (check_a_ != check_b_) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
                    #a, #b, check_a_, check_b_);                                                  \
            check_failures_++;                                                                    \
        }                                                                                         \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                  \
    do {                                                                                    \
        const char *check_a_ = (a), *check_b_ = (b);                                        \
        if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) {      \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__, \
                    __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                       \
                    check_b_ ? check_b_ : "(null)");                                        \
            check_failures_++;                                                              \
        }                                                                                   \
    } while (0)

/* Fatal variant: stops the test when continuing would only crash. */
#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define SKIP(why)                           \
    do {                                    \
        fprintf(stderr, "SKIP: %s\n", why); \
        exit(77);                           \
    } while (0)

#define CHECK_DONE() (check_failures_ == 0 ? 0 : 1)

#endif /* SP_TESTS_CHECK_H */
