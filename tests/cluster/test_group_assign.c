/*
 * tests/cluster/test_group_assign.c: the KIP-848 server-side assignors and
 * partition sets: every partition owned once, by a subscriber; uniform's
 * balance and stickiness as members come and go, with different
 * subscriptions too; range's contiguous per-topic ranges; random groups
 * checked against those properties.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/group_assign.h"
#include "tests/check.h"

#define TOPICS_MAX  8
#define MEMBERS_MAX 12

static void topic_id(uint8_t id[16], int t)
{
    memset(id, 0, 16);
    id[0] = (uint8_t)(0xf0 - t); /* ids not in topic order, so sorting matters */
    id[15] = (uint8_t)t;
}

static int topic_of(const uint8_t id[16])
{
    return id[15];
}

struct group {
    struct sp_assign_topic topics[TOPICS_MAX];
    uint32_t topics_n;
    uint32_t subs[MEMBERS_MAX][TOPICS_MAX];
    uint32_t subs_n[MEMBERS_MAX];
    struct sp_assign_set prev[MEMBERS_MAX];
    struct sp_assign_member m[MEMBERS_MAX];
    uint32_t members_n;
};

static void group_init(struct group *g, const int32_t *partitions, uint32_t topics_n,
                       uint32_t members_n)
{
    memset(g, 0, sizeof(*g));
    g->topics_n = topics_n;
    g->members_n = members_n;
    for (uint32_t t = 0; t < topics_n; t++) {
        topic_id(g->topics[t].id, (int)t);
        g->topics[t].partitions = partitions[t];
    }
    for (uint32_t m = 0; m < MEMBERS_MAX; m++) {
        for (uint32_t t = 0; t < topics_n; t++) {
            g->subs[m][t] = t;
        }
        g->subs_n[m] = topics_n;
    }
}

static int run(struct group *g, enum sp_assignor a)
{
    for (uint32_t m = 0; m < g->members_n; m++) {
        g->m[m].topics = g->subs[m];
        g->m[m].topics_n = g->subs_n[m];
        g->m[m].prev = &g->prev[m];
    }
    return sp_assign(a, g->topics, g->topics_n, g->m, g->members_n);
}

/* The outputs become the previous targets for the next run. */
static void rotate(struct group *g)
{
    for (uint32_t m = 0; m < MEMBERS_MAX; m++) {
        sp_assign_set_free(&g->prev[m]);
        if (m < g->members_n) {
            g->prev[m] = g->m[m].out;
            g->m[m].out.v = NULL;
            g->m[m].out.n = 0;
        }
    }
}

static void group_free(struct group *g)
{
    for (uint32_t m = 0; m < MEMBERS_MAX; m++) {
        sp_assign_set_free(&g->prev[m]);
        sp_assign_set_free(&g->m[m].out);
    }
}

static bool subscribed(const struct group *g, uint32_t m, int t)
{
    for (uint32_t i = 0; i < g->subs_n[m]; i++) {
        if ((int)g->subs[m][i] == t) {
            return true;
        }
    }
    return false;
}

/* Every partition of a topic with a subscriber is owned exactly once, by a subscriber; sets sorted.
 */
static void check_complete(const struct group *g)
{
    int owners[TOPICS_MAX][64];
    memset(owners, 0, sizeof(owners));
    for (uint32_t m = 0; m < g->members_n; m++) {
        const struct sp_assign_set *s = &g->m[m].out;
        for (uint32_t i = 0; i < s->n; i++) {
            int t = topic_of(s->v[i].id);
            CHECK(t >= 0 && t < (int)g->topics_n);
            CHECK(s->v[i].p >= 0 && s->v[i].p < g->topics[t].partitions);
            CHECK(subscribed(g, m, t));
            owners[t][s->v[i].p]++;
            if (i > 0) {
                CHECK(sp_assign_tp_cmp(&s->v[i - 1], &s->v[i]) < 0);
            }
        }
    }
    for (uint32_t t = 0; t < g->topics_n; t++) {
        bool has_sub = false;
        for (uint32_t m = 0; m < g->members_n; m++) {
            has_sub |= subscribed(g, m, (int)t);
        }
        for (int32_t p = 0; p < g->topics[t].partitions; p++) {
            CHECK_EQ_INT(owners[t][p], has_sub ? 1 : 0);
        }
    }
}

static uint32_t count(const struct group *g, uint32_t m)
{
    return g->m[m].out.n;
}

/* Members with the same subscription differ by at most one. */
static void check_balanced_homogeneous(const struct group *g)
{
    uint32_t lo = UINT32_MAX, hi = 0;
    for (uint32_t m = 0; m < g->members_n; m++) {
        lo = count(g, m) < lo ? count(g, m) : lo;
        hi = count(g, m) > hi ? count(g, m) : hi;
    }
    CHECK(hi - lo <= 1);
}

static uint32_t kept(const struct sp_assign_set *prev, const struct sp_assign_set *now)
{
    struct sp_assign_set both;
    CHECK(sp_assign_set_op(prev, now, false, &both) == 0);
    uint32_t n = both.n;
    sp_assign_set_free(&both);
    return n;
}

static void test_sets(void)
{
    struct sp_assign_tp v[] = {{{2}, 1}, {{1}, 3}, {{2}, 0}, {{1}, 3}, {{1}, 0}};
    struct sp_assign_set a = {malloc(sizeof(v)), 5};
    memcpy(a.v, v, sizeof(v));
    sp_assign_set_normalize(&a);
    CHECK_EQ_INT(a.n, 4);
    CHECK_EQ_INT(sp_assign_set_topics(&a), 2);
    uint8_t one[16] = {1}, two[16] = {2};
    CHECK(sp_assign_set_has(&a, one, 0) && sp_assign_set_has(&a, one, 3));
    CHECK(sp_assign_set_has(&a, two, 1) && !sp_assign_set_has(&a, two, 3));
    struct sp_assign_tp w[] = {{{1}, 3}, {{3}, 0}};
    struct sp_assign_set b = {w, 2};
    struct sp_assign_set x, y, u;
    CHECK(sp_assign_set_op(&a, &b, false, &x) == 0);
    CHECK(x.n == 1 && x.v[0].p == 3 && x.v[0].id[0] == 1);
    CHECK(sp_assign_set_op(&a, &b, true, &y) == 0);
    CHECK_EQ_INT(y.n, 3);
    CHECK(sp_assign_set_union(&a, &b, &u) == 0);
    CHECK_EQ_INT(u.n, 5);
    CHECK(!sp_assign_set_eq(&a, &u));
    struct sp_assign_set c;
    CHECK(sp_assign_set_copy(&a, &c) == 0 && sp_assign_set_eq(&a, &c));
    sp_assign_set_free(&a);
    sp_assign_set_free(&x);
    sp_assign_set_free(&y);
    sp_assign_set_free(&u);
    sp_assign_set_free(&c);
    CHECK(sp_assignor_by_name("uniform", 7) == SP_ASSIGNOR_UNIFORM);
    CHECK(sp_assignor_by_name("range", 5) == SP_ASSIGNOR_RANGE);
    CHECK(sp_assignor_by_name("sticky", 6) == -1);
}

static void test_uniform_grow_shrink(void)
{
    const int32_t parts[] = {6};
    struct group g;
    group_init(&g, parts, 1, 1);
    CHECK(run(&g, SP_ASSIGNOR_UNIFORM) == 0);
    CHECK_EQ_INT(count(&g, 0), 6);
    check_complete(&g);
    rotate(&g);
    /* A second member: 3/3, the first keeps three of its six. */
    g.members_n = 2;
    CHECK(run(&g, SP_ASSIGNOR_UNIFORM) == 0);
    check_complete(&g);
    CHECK(count(&g, 0) == 3 && count(&g, 1) == 3);
    CHECK_EQ_INT(kept(&g.prev[0], &g.m[0].out), 3);
    rotate(&g);
    /* A third: 2/2/2, the old ones keep two each (nothing moves between them). */
    g.members_n = 3;
    CHECK(run(&g, SP_ASSIGNOR_UNIFORM) == 0);
    check_complete(&g);
    check_balanced_homogeneous(&g);
    CHECK_EQ_INT(kept(&g.prev[0], &g.m[0].out), 2);
    CHECK_EQ_INT(kept(&g.prev[1], &g.m[1].out), 2);
    rotate(&g);
    /* The middle one leaves: the others keep theirs and split its two. */
    sp_assign_set_free(&g.prev[1]);
    g.prev[1] = g.prev[2];
    g.prev[2].v = NULL;
    g.prev[2].n = 0;
    struct sp_assign_set old0, old1;
    CHECK(sp_assign_set_copy(&g.prev[0], &old0) == 0 && sp_assign_set_copy(&g.prev[1], &old1) == 0);
    g.members_n = 2;
    CHECK(run(&g, SP_ASSIGNOR_UNIFORM) == 0);
    check_complete(&g);
    CHECK(count(&g, 0) == 3 && count(&g, 1) == 3);
    CHECK_EQ_INT(kept(&old0, &g.m[0].out), 2);
    CHECK_EQ_INT(kept(&old1, &g.m[1].out), 2);
    sp_assign_set_free(&old0);
    sp_assign_set_free(&old1);
    group_free(&g);
}

static void test_uniform_heterogeneous(void)
{
    /* m0 reads t0 only, m1 and m2 read t0 and t1: t1 goes to m1/m2 and t0
     * mostly to m0, 4 each. */
    const int32_t parts[] = {6, 6};
    struct group g;
    group_init(&g, parts, 2, 3);
    g.subs_n[0] = 1;
    CHECK(run(&g, SP_ASSIGNOR_UNIFORM) == 0);
    check_complete(&g);
    CHECK(count(&g, 0) == 4 && count(&g, 1) == 4 && count(&g, 2) == 4);
    /* A topic nobody subscribes to is not assigned. */
    rotate(&g);
    g.subs_n[1] = 1;
    g.subs_n[2] = 1;
    CHECK(run(&g, SP_ASSIGNOR_UNIFORM) == 0);
    check_complete(&g);
    check_balanced_homogeneous(&g);
    group_free(&g);
}

static void test_range(void)
{
    const int32_t parts[] = {5, 2};
    struct group g;
    group_init(&g, parts, 2, 2);
    CHECK(run(&g, SP_ASSIGNOR_RANGE) == 0);
    check_complete(&g);
    /* t0: m0 0-2, m1 3-4; t1: m0 0, m1 1 (ids sort t1 before t0). */
    const struct sp_assign_set *a = &g.m[0].out;
    const struct sp_assign_set *b = &g.m[1].out;
    CHECK_EQ_INT(a->n, 4);
    CHECK_EQ_INT(b->n, 3);
    CHECK(topic_of(a->v[0].id) == 1 && a->v[0].p == 0);
    CHECK(topic_of(a->v[1].id) == 0 && a->v[1].p == 0 && a->v[3].p == 2);
    CHECK(topic_of(b->v[0].id) == 1 && b->v[0].p == 1);
    CHECK(topic_of(b->v[1].id) == 0 && b->v[1].p == 3 && b->v[2].p == 4);
    group_free(&g);
}

static void test_random(void)
{
    unsigned seed = 12345;
    for (int round = 0; round < 300; round++) {
        int32_t parts[TOPICS_MAX];
        uint32_t nt = 1 + (uint32_t)(rand_r(&seed) % TOPICS_MAX);
        for (uint32_t t = 0; t < nt; t++) {
            parts[t] = rand_r(&seed) % 17;
        }
        struct group g;
        uint32_t nm = 1 + (uint32_t)(rand_r(&seed) % MEMBERS_MAX);
        group_init(&g, parts, nt, nm);
        bool homogeneous = rand_r(&seed) % 2 == 0;
        for (uint32_t m = 0; m < MEMBERS_MAX && !homogeneous; m++) {
            g.subs_n[m] = 0;
            for (uint32_t t = 0; t < nt; t++) {
                if (rand_r(&seed) % 2 == 0) {
                    g.subs[m][g.subs_n[m]++] = t;
                }
            }
        }
        enum sp_assignor a = rand_r(&seed) % 3 == 0 ? SP_ASSIGNOR_RANGE : SP_ASSIGNOR_UNIFORM;
        for (int step = 0; step < 3; step++) {
            CHECK(run(&g, a) == 0);
            check_complete(&g);
            if (homogeneous && a == SP_ASSIGNOR_UNIFORM) {
                check_balanced_homogeneous(&g);
            }
            rotate(&g);
            /* Someone joins or leaves between runs. */
            if (g.members_n < MEMBERS_MAX && rand_r(&seed) % 2 == 0) {
                g.members_n++;
            } else if (g.members_n > 1) {
                g.members_n--;
            }
        }
        group_free(&g);
    }
}

static void test_limits(void)
{
    struct sp_assign_topic t = {{1}, (int32_t)SP_ASSIGN_PARTITIONS_MAX + 1};
    uint32_t sub = 0;
    struct sp_assign_member m = {&sub, 1, NULL, {NULL, 0}};
    CHECK(sp_assign(SP_ASSIGNOR_UNIFORM, &t, 1, &m, 1) == -E2BIG);
    CHECK(m.out.v == NULL);
    /* No members, no topics: nothing, no error. */
    CHECK(sp_assign(SP_ASSIGNOR_UNIFORM, NULL, 0, NULL, 0) == 0);
}

int main(void)
{
    test_sets();
    test_uniform_grow_shrink();
    test_uniform_heterogeneous();
    test_range();
    test_random();
    test_limits();
    return CHECK_DONE();
}
