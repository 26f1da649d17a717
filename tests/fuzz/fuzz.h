/*
 * tests/fuzz/fuzz.h: what every fuzz target defines. Built with clang's
 * -fsanitize=fuzzer by tools/run-fuzzers.sh, and with fuzz_main.c (which
 * replays the committed corpus) as an ordinary test in the 'fuzz' suite.
 */
#ifndef SP_TESTS_FUZZ_FUZZ_H
#define SP_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The arena limit for one input: large enough for any real request in the
 * corpus, small enough that a hostile count cannot take the machine. */
#define FUZZ_ARENA_LIMIT (8u << 20)

#endif /* SP_TESTS_FUZZ_FUZZ_H */
