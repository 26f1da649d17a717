/*
 * tests/cluster/test_fanout.c: a request's items grouped by owning shard:
 * every owned item once, in its owner's run, in request order; items
 * answered here in no run.
 */
#include <stdlib.h>

#include "cluster/fanout.h"
#include "tests/check.h"

#define ITEMS_MAX  64
#define SHARDS_MAX 5

static void check_grouped(uint16_t *owner, uint32_t nitems, uint32_t nshards)
{
    uint32_t order[ITEMS_MAX];
    uint32_t first[SHARDS_MAX + 1] = {7, 7, 7, 7, 7, 7}; /* group starts from any leftovers */
    struct sp_fanout fo = {
        .nitems = nitems, .nshards = nshards, .owner = owner, .order = order, .first = first};
    sp_fanout_group(&fo);
    uint32_t owned = 0;
    for (uint32_t i = 0; i < nitems; i++) {
        owned += owner[i] != SP_FANOUT_HERE;
    }
    CHECK_EQ_INT(sp_fanout_begin(&fo, 0), 0);
    CHECK_EQ_INT(sp_fanout_end(&fo, nshards - 1), owned);
    for (uint32_t s = 0; s < nshards; s++) {
        CHECK(sp_fanout_begin(&fo, s) <= sp_fanout_end(&fo, s));
        if (s + 1 < nshards) {
            CHECK_EQ_INT(sp_fanout_end(&fo, s), sp_fanout_begin(&fo, s + 1));
        }
        /* Exactly the items of s, ascending. */
        uint32_t k = sp_fanout_begin(&fo, s);
        for (uint32_t i = 0; i < nitems; i++) {
            if (owner[i] == s) {
                REQUIRE(k < sp_fanout_end(&fo, s));
                CHECK_EQ_INT(order[k], i);
                k++;
            }
        }
        CHECK_EQ_INT(k, sp_fanout_end(&fo, s));
    }
}

static void test_example(void)
{
    uint16_t owner[] = {1, SP_FANOUT_HERE, 0, 1};
    check_grouped(owner, 4, 2);
}

static void test_empty(void)
{
    uint16_t owner[1] = {SP_FANOUT_HERE};
    check_grouped(owner, 0, 3);
    check_grouped(owner, 1, 1);
}

static void test_random(void)
{
    srand(42);
    for (int round = 0; round < 500; round++) {
        uint32_t nshards = 1 + (uint32_t)rand() % SHARDS_MAX;
        uint32_t nitems = (uint32_t)rand() % (ITEMS_MAX + 1);
        uint16_t owner[ITEMS_MAX];
        for (uint32_t i = 0; i < nitems; i++) {
            uint32_t s = (uint32_t)rand() % (nshards + 1);
            owner[i] = s == nshards ? SP_FANOUT_HERE : (uint16_t)s;
        }
        check_grouped(owner, nitems, nshards);
    }
}

int main(void)
{
    test_example();
    test_empty();
    test_random();
    return CHECK_DONE();
}
