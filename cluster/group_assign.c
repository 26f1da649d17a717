/* cluster/group_assign.c: KIP-848 server-side assignors (cluster/group_assign.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/group_assign.h"

/* Balancing passes of the uniform assignor; each pass moves what it can, so a
 * handful settles any group, the cap only bounds pathological ones. */
#define UNIFORM_PASSES_MAX 64

int sp_assign_tp_cmp(const struct sp_assign_tp *a, const struct sp_assign_tp *b)
{
    int c = memcmp(a->id, b->id, 16);
    if (c != 0) {
        return c;
    }
    return (a->p > b->p) - (a->p < b->p);
}

static int tp_qcmp(const void *a, const void *b)
{
    return sp_assign_tp_cmp(a, b);
}

bool sp_assign_set_has(const struct sp_assign_set *s, const uint8_t id[16], int32_t p)
{
    struct sp_assign_tp key;
    memcpy(key.id, id, 16);
    key.p = p;
    return s->n > 0 && bsearch(&key, s->v, s->n, sizeof(s->v[0]), tp_qcmp) != NULL;
}

void sp_assign_set_normalize(struct sp_assign_set *s)
{
    if (s->n < 2) {
        return;
    }
    qsort(s->v, s->n, sizeof(s->v[0]), tp_qcmp);
    uint32_t w = 1;
    for (uint32_t i = 1; i < s->n; i++) {
        if (sp_assign_tp_cmp(&s->v[i], &s->v[w - 1]) != 0) {
            s->v[w++] = s->v[i];
        }
    }
    s->n = w;
}

static int set_alloc(struct sp_assign_set *out, uint32_t n)
{
    out->n = 0;
    out->v = NULL;
    if (n == 0) {
        return 0;
    }
    out->v = malloc((size_t)n * sizeof(out->v[0]));
    return out->v != NULL ? 0 : -ENOMEM;
}

int sp_assign_set_op(const struct sp_assign_set *a, const struct sp_assign_set *b, bool minus,
                     struct sp_assign_set *out)
{
    if (set_alloc(out, a->n) < 0) {
        return -ENOMEM;
    }
    uint32_t j = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        while (j < b->n && sp_assign_tp_cmp(&b->v[j], &a->v[i]) < 0) {
            j++;
        }
        bool in_b = j < b->n && sp_assign_tp_cmp(&b->v[j], &a->v[i]) == 0;
        if (in_b != minus) {
            out->v[out->n++] = a->v[i];
        }
    }
    return 0;
}

int sp_assign_set_union(const struct sp_assign_set *a, const struct sp_assign_set *b,
                        struct sp_assign_set *out)
{
    if (set_alloc(out, a->n + b->n) < 0) {
        return -ENOMEM;
    }
    uint32_t i = 0;
    uint32_t j = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : sp_assign_tp_cmp(&a->v[i], &b->v[j]);
        if (c <= 0) {
            out->v[out->n++] = a->v[i++];
            j += c == 0;
        } else {
            out->v[out->n++] = b->v[j++];
        }
    }
    return 0;
}

int sp_assign_set_copy(const struct sp_assign_set *a, struct sp_assign_set *out)
{
    if (set_alloc(out, a->n) < 0) {
        return -ENOMEM;
    }
    if (a->n > 0) {
        memcpy(out->v, a->v, (size_t)a->n * sizeof(a->v[0]));
    }
    out->n = a->n;
    return 0;
}

bool sp_assign_set_eq(const struct sp_assign_set *a, const struct sp_assign_set *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, (size_t)a->n * sizeof(a->v[0])) == 0);
}

void sp_assign_set_free(struct sp_assign_set *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

uint32_t sp_assign_set_topics(const struct sp_assign_set *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        n += i == 0 || memcmp(s->v[i].id, s->v[i - 1].id, 16) != 0;
    }
    return n;
}

int sp_assignor_by_name(const char *name, size_t len)
{
    if (len == 7 && memcmp(name, "uniform", 7) == 0) {
        return SP_ASSIGNOR_UNIFORM;
    }
    if (len == 5 && memcmp(name, "range", 5) == 0) {
        return SP_ASSIGNOR_RANGE;
    }
    return -1;
}

const char *sp_assignor_name(enum sp_assignor a)
{
    return a == SP_ASSIGNOR_RANGE ? "range" : "uniform";
}

/* ---- The working state shared by both assignors ---------------------------- */

struct topic_ref {
    uint8_t id[16];
    uint32_t t;
};

/*
 * Every partition of every topic gets a slot (base[t] + p) holding its
 * owner; each topic knows its subscribers in member order.
 *
 *   slot:   [ t0p0 t0p1 t0p2 | t1p0 | t2p0 t2p1 ]   owner[slot] = member or -1
 *   subs:   t0 -> {0,2}  t1 -> {1}  t2 -> {0,1,2}
 */
struct work {
    const struct sp_assign_topic *topics;
    uint32_t topics_n;
    struct topic_ref *order; /* topics sorted by id */
    uint32_t *base;          /* [topics_n] first slot of each topic */
    uint32_t slots;          /* partitions in all */
    int32_t *owner;          /* [slots] */
    uint32_t *count;         /* [members_n] partitions each member owns */
    uint32_t *subs;          /* subscriber lists, back to back */
    uint32_t *subs_at;       /* [topics_n + 1] where each topic's list starts */
    uint32_t *msorted;       /* each member's topics sorted, back to back */
    uint32_t *msort_at;      /* [members_n + 1] */
};

static int ref_cmp(const void *a, const void *b)
{
    return memcmp(((const struct topic_ref *)a)->id, ((const struct topic_ref *)b)->id, 16);
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void work_free(struct work *w)
{
    free(w->order);
    free(w->base);
    free(w->owner);
    free(w->count);
    free(w->subs);
    free(w->subs_at);
    free(w->msorted);
    free(w->msort_at);
}

/* The topic with this id, or -1. */
static int64_t work_topic(const struct work *w, const uint8_t id[16])
{
    struct topic_ref key;
    memcpy(key.id, id, 16);
    const struct topic_ref *r =
        w->topics_n > 0 ? bsearch(&key, w->order, w->topics_n, sizeof(key), ref_cmp) : NULL;
    return r != NULL ? (int64_t)r->t : -1;
}

static bool work_subscribed(const struct work *w, uint32_t m, uint32_t t)
{
    const uint32_t *v = w->msorted + w->msort_at[m];
    size_t n = w->msort_at[m + 1] - w->msort_at[m];
    return bsearch(&t, v, n, sizeof(uint32_t), u32_cmp) != NULL;
}

static int work_init(struct work *w, const struct sp_assign_topic *topics, uint32_t topics_n,
                     const struct sp_assign_member *members, uint32_t members_n)
{
    memset(w, 0, sizeof(*w));
    w->topics = topics;
    w->topics_n = topics_n;
    uint64_t slots = 0;
    for (uint32_t t = 0; t < topics_n; t++) {
        slots += topics[t].partitions > 0 ? (uint64_t)topics[t].partitions : 0;
    }
    if (slots > SP_ASSIGN_PARTITIONS_MAX) {
        return -E2BIG;
    }
    uint64_t msubs = 0;
    for (uint32_t m = 0; m < members_n; m++) {
        msubs += members[m].topics_n;
    }
    w->slots = (uint32_t)slots;
    w->order = malloc(((size_t)topics_n + 1) * sizeof(w->order[0]));
    w->base = malloc(((size_t)topics_n + 1) * sizeof(uint32_t));
    w->owner = malloc(((size_t)slots + 1) * sizeof(int32_t));
    w->count = calloc((size_t)members_n + 1, sizeof(uint32_t));
    w->subs = malloc(((size_t)msubs + 1) * sizeof(uint32_t));
    w->subs_at = calloc((size_t)topics_n + 2, sizeof(uint32_t));
    w->msorted = malloc(((size_t)msubs + 1) * sizeof(uint32_t));
    w->msort_at = malloc(((size_t)members_n + 1) * sizeof(uint32_t));
    if (w->order == NULL || w->base == NULL || w->owner == NULL || w->count == NULL ||
        w->subs == NULL || w->subs_at == NULL || w->msorted == NULL || w->msort_at == NULL) {
        work_free(w);
        return -ENOMEM;
    }
    uint32_t at = 0;
    for (uint32_t t = 0; t < topics_n; t++) {
        memcpy(w->order[t].id, topics[t].id, 16);
        w->order[t].t = t;
        w->base[t] = at;
        at += topics[t].partitions > 0 ? (uint32_t)topics[t].partitions : 0;
    }
    qsort(w->order, topics_n, sizeof(w->order[0]), ref_cmp);
    for (uint32_t s = 0; s < w->slots; s++) {
        w->owner[s] = -1;
    }
    /* Each member's topics, sorted and deduplicated, and the per-topic
     * subscriber lists (a counting sort keeps the member order). */
    uint32_t k = 0;
    for (uint32_t m = 0; m < members_n; m++) {
        w->msort_at[m] = k;
        uint32_t first = k;
        for (uint32_t i = 0; i < members[m].topics_n; i++) {
            if (members[m].topics[i] < topics_n) {
                w->msorted[k++] = members[m].topics[i];
            }
        }
        qsort(w->msorted + first, k - first, sizeof(uint32_t), u32_cmp);
        uint32_t u = first;
        for (uint32_t i = first; i < k; i++) {
            if (i == first || w->msorted[i] != w->msorted[u - 1]) {
                w->msorted[u++] = w->msorted[i];
            }
        }
        k = u;
        for (uint32_t i = first; i < k; i++) {
            w->subs_at[w->msorted[i] + 1]++;
        }
    }
    w->msort_at[members_n] = k;
    for (uint32_t t = 0; t < topics_n; t++) {
        w->subs_at[t + 1] += w->subs_at[t];
    }
    uint32_t *fill = calloc((size_t)topics_n + 1, sizeof(uint32_t));
    if (fill == NULL) {
        work_free(w);
        return -ENOMEM;
    }
    for (uint32_t m = 0; m < members_n; m++) {
        for (uint32_t i = w->msort_at[m]; i < w->msort_at[m + 1]; i++) {
            uint32_t t = w->msorted[i];
            w->subs[w->subs_at[t] + fill[t]++] = m;
        }
    }
    free(fill);
    return 0;
}

/* Turns the owners into each member's sorted target. */
static int work_output(struct work *w, struct sp_assign_member *members, uint32_t members_n)
{
    for (uint32_t m = 0; m < members_n; m++) {
        if (set_alloc(&members[m].out, w->count[m]) < 0) {
            for (uint32_t j = 0; j <= m; j++) {
                sp_assign_set_free(&members[j].out);
            }
            return -ENOMEM;
        }
    }
    for (uint32_t i = 0; i < w->topics_n; i++) {
        uint32_t t = w->order[i].t;
        for (int32_t p = 0; p < w->topics[t].partitions; p++) {
            int32_t o = w->owner[w->base[t] + (uint32_t)p];
            if (o >= 0) {
                struct sp_assign_tp *tp = &members[o].out.v[members[o].out.n++];
                memcpy(tp->id, w->topics[t].id, 16);
                tp->p = p;
            }
        }
    }
    return 0;
}

/* The least loaded subscriber of t (the first such in member order). */
static int32_t least_loaded(const struct work *w, uint32_t t)
{
    int32_t best = -1;
    for (uint32_t i = w->subs_at[t]; i < w->subs_at[t + 1]; i++) {
        uint32_t m = w->subs[i];
        if (best < 0 || w->count[m] < w->count[best]) {
            best = (int32_t)m;
        }
    }
    return best;
}

struct topic_load {
    uint32_t subs;
    uint32_t t;
};

static int load_cmp(const void *a, const void *b)
{
    const struct topic_load *x = a;
    const struct topic_load *y = b;
    if (x->subs != y->subs) {
        return x->subs < y->subs ? -1 : 1;
    }
    return (x->t > y->t) - (x->t < y->t);
}

static void uniform(struct work *w, const struct sp_assign_member *members, uint32_t members_n)
{
    /* Keep the previous target where it is still valid. */
    for (uint32_t m = 0; m < members_n; m++) {
        const struct sp_assign_set *prev = members[m].prev;
        for (uint32_t i = 0; prev != NULL && i < prev->n; i++) {
            int64_t t = work_topic(w, prev->v[i].id);
            if (t < 0 || prev->v[i].p < 0 || prev->v[i].p >= w->topics[t].partitions ||
                !work_subscribed(w, m, (uint32_t)t)) {
                continue;
            }
            uint32_t s = w->base[t] + (uint32_t)prev->v[i].p;
            if (w->owner[s] < 0) {
                w->owner[s] = (int32_t)m;
                w->count[m]++;
            }
        }
    }
    /* Hand out the rest, the topics with the fewest subscribers first since
     * they have the least choice. */
    struct topic_load *by_subs = malloc(((size_t)w->topics_n + 1) * sizeof(by_subs[0]));
    for (uint32_t t = 0; by_subs != NULL && t < w->topics_n; t++) {
        by_subs[t].subs = w->subs_at[t + 1] - w->subs_at[t];
        by_subs[t].t = t;
    }
    if (by_subs != NULL) {
        qsort(by_subs, w->topics_n, sizeof(by_subs[0]), load_cmp);
    }
    for (uint32_t i = 0; i < w->topics_n; i++) {
        uint32_t t = by_subs != NULL ? by_subs[i].t : i;
        for (int32_t p = 0; p < w->topics[t].partitions; p++) {
            uint32_t s = w->base[t] + (uint32_t)p;
            int32_t m = w->owner[s] < 0 ? least_loaded(w, t) : -1;
            if (m >= 0) {
                w->owner[s] = m;
                w->count[m]++;
            }
        }
    }
    free(by_subs);
    /* Balance: move a partition to a subscriber holding at least two fewer,
     * highest partitions first so owners keep their lowest ones. Every move
     * lowers the sum of squared counts, so this ends. */
    for (int pass = 0; pass < UNIFORM_PASSES_MAX; pass++) {
        bool moved = false;
        for (uint32_t t = 0; t < w->topics_n; t++) {
            for (int32_t p = w->topics[t].partitions - 1; p >= 0; p--) {
                uint32_t s = w->base[t] + (uint32_t)p;
                int32_t o = w->owner[s];
                int32_t e = o >= 0 ? least_loaded(w, t) : -1;
                if (e >= 0 && w->count[e] + 1 < w->count[o]) {
                    w->owner[s] = e;
                    w->count[o]--;
                    w->count[e]++;
                    moved = true;
                }
            }
        }
        if (!moved) {
            break;
        }
    }
}

static void range(struct work *w)
{
    for (uint32_t t = 0; t < w->topics_n; t++) {
        uint32_t n = w->subs_at[t + 1] - w->subs_at[t];
        uint32_t parts = w->topics[t].partitions > 0 ? (uint32_t)w->topics[t].partitions : 0;
        if (n == 0) {
            continue;
        }
        uint32_t per = parts / n;
        uint32_t extra = parts % n;
        uint32_t p = 0;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t m = w->subs[w->subs_at[t] + k];
            uint32_t take = per + (k < extra ? 1 : 0);
            for (uint32_t j = 0; j < take; j++, p++) {
                w->owner[w->base[t] + p] = (int32_t)m;
                w->count[m]++;
            }
        }
    }
}

int sp_assign(enum sp_assignor a, const struct sp_assign_topic *topics, uint32_t topics_n,
              struct sp_assign_member *members, uint32_t members_n)
{
    for (uint32_t m = 0; m < members_n; m++) {
        members[m].out.v = NULL;
        members[m].out.n = 0;
    }
    struct work w;
    int rc = work_init(&w, topics, topics_n, members, members_n);
    if (rc < 0) {
        return rc;
    }
    if (a == SP_ASSIGNOR_RANGE) {
        range(&w);
    } else {
        uniform(&w, members, members_n);
    }
    rc = work_output(&w, members, members_n);
    work_free(&w);
    return rc;
}
