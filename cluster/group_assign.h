/*
 * cluster/group_assign.h: the server-side assignors of KIP-848 consumer
 * groups ("uniform" and "range") and the partition sets they work on.
 *
 * A partition set is a sorted array of (topic id, partition) pairs, sorted
 * by topic id (bytewise) and then partition, without duplicates:
 *
 *   [ {idA,0} {idA,1} {idA,4} {idB,0} ... ]
 *
 * so unions, differences and membership tests are merges and binary
 * searches, and the grouping by topic that the wire wants is a walk.
 *
 * The assignors are pure functions of the topics (what the group is
 * subscribed to and exists), each member's subscription (indexes into the
 * topics) and each member's previous target: they return a new target per
 * member, allocated with malloc (the caller frees each out.v). Members are
 * taken in the order given, which breaks ties: callers sort them by member
 * id so that every run agrees.
 *
 *   uniform: every partition goes to one subscribed member; counts differ
 *            by at most one between members that could swap partitions;
 *            a member keeps what it had where balance allows (sticky).
 *   range:   per topic, its subscribers get contiguous ranges, the first
 *            (partitions % subscribers) one more, as the classic range
 *            assignor does.
 *
 * Threads: any; no global state.
 */
#ifndef SP_CLUSTER_GROUP_ASSIGN_H
#define SP_CLUSTER_GROUP_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most partitions one assignment computes over (all subscribed topics). */
#define SP_ASSIGN_PARTITIONS_MAX (1u << 20)

struct sp_assign_tp {
    uint8_t id[16];
    int32_t p;
};

struct sp_assign_set {
    struct sp_assign_tp *v; /* malloc'd, sorted, unique; NULL when n == 0 */
    uint32_t n;
};

/* Order of pairs: topic id bytewise, then partition. */
int sp_assign_tp_cmp(const struct sp_assign_tp *a, const struct sp_assign_tp *b);
bool sp_assign_set_has(const struct sp_assign_set *s, const uint8_t id[16], int32_t p);
/* Sorts and dedups s in place. */
void sp_assign_set_normalize(struct sp_assign_set *s);
/* out = a ∩ b, or a − b when `minus`. out is fresh (free it). 0 or -ENOMEM. */
int sp_assign_set_op(const struct sp_assign_set *a, const struct sp_assign_set *b, bool minus,
                     struct sp_assign_set *out);
/* out = a ∪ b (fresh). 0 or -ENOMEM. */
int sp_assign_set_union(const struct sp_assign_set *a, const struct sp_assign_set *b,
                        struct sp_assign_set *out);
/* A fresh copy. 0 or -ENOMEM. */
int sp_assign_set_copy(const struct sp_assign_set *a, struct sp_assign_set *out);
bool sp_assign_set_eq(const struct sp_assign_set *a, const struct sp_assign_set *b);
void sp_assign_set_free(struct sp_assign_set *s);
/* Distinct topics in s. */
uint32_t sp_assign_set_topics(const struct sp_assign_set *s);

struct sp_assign_topic {
    uint8_t id[16];
    int32_t partitions;
};

struct sp_assign_member {
    const uint32_t *topics; /* indexes into the topics, borrowed */
    uint32_t topics_n;
    const struct sp_assign_set *prev; /* previous target, borrowed; may be NULL */
    struct sp_assign_set out;         /* the new target (the caller frees it) */
};

enum sp_assignor {
    SP_ASSIGNOR_UNIFORM = 0,
    SP_ASSIGNOR_RANGE = 1,
};

/* "uniform" or "range"; -1 for any other name. */
int sp_assignor_by_name(const char *name, size_t len);
const char *sp_assignor_name(enum sp_assignor a);

/*
 * Computes every member's new target. 0, -ENOMEM, or -E2BIG (more than
 * SP_ASSIGN_PARTITIONS_MAX partitions). On error no out is left allocated.
 */
int sp_assign(enum sp_assignor a, const struct sp_assign_topic *topics, uint32_t topics_n,
              struct sp_assign_member *members, uint32_t members_n);

#endif /* SP_CLUSTER_GROUP_ASSIGN_H */
