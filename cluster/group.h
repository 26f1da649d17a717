/*
 * cluster/group.h: consumer groups: where a group lives, its state, its
 * committed offsets, and how all of it is kept in __consumer_offsets.
 *
 * Placement. A group belongs to one partition of the compacted internal
 * topic __consumer_offsets (offsets.topic.num.partitions, created through
 * the controller the first time a group needs it): Java's String.hashCode
 * of the group id, made non-negative, modulo the partition count, as Kafka
 * computes it. The shard owning that partition is the group's coordinator:
 * it alone holds the group's state. Requests for a group arrive on any
 * shard and are lent to the coordinator's shard (cluster/forward.h):
 *
 *   handler on the connection's shard:
 *       err = sp_group_route(id, &shard, &part);   COORDINATOR_NOT_AVAILABLE ...
 *       return sp_api_forward(call, shard, fn_on_coordinator, NULL, NULL, 0);
 *   fn_on_coordinator(f):
 *       err = sp_group_lookup(id, create, &g);      NOT_COORDINATOR, LOAD_IN_PROGRESS
 *       ... work on g, answer now or later (sp_fwd_done) ...
 *
 * Persistence. Everything a group must remember is a record in its
 * __consumer_offsets partition, with Kafka's key/value schemas
 * (../shared/kafka-protocol/group-coordinator/, generated codecs): offsets
 * (OffsetCommitKey/Value), a classic group's metadata and members
 * (GroupMetadataKey/Value), a consumer-protocol group's epochs, members
 * and assignments (ConsumerGroup*Key/Value). A change is answered only
 * once its records are durable (sp_group_store). When a shard opens one of
 * the partitions (at start, or when the topic is created) it replays the
 * partition into its groups before serving them; tombstones (null values)
 * delete, compaction keeps the partitions small.
 *
 * Who owns what:
 *   group.c            the table of groups, routing, the records (encode,
 *                      store, replay), offset expiry
 *   api_offsets.c      OffsetCommit, OffsetFetch, OffsetDelete
 *   group_classic.c    JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the
 *                      classic state machine (struct sp_group_classic)
 *   group_consumer.c   ConsumerGroupHeartbeat, ConsumerGroupDescribe, the
 *                      KIP-848 state machine and assignors (sp_group_consumer)
 *   api_groups.c       FindCoordinator, DescribeGroups, ListGroups, DeleteGroups
 *
 * Threads: everything below except sp_group_partition and sp_group_route
 * runs on the group's coordinator shard only.
 */
#ifndef SP_CLUSTER_GROUP_H
#define SP_CLUSTER_GROUP_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#include "cluster/dispatch_impl.h"
#include "protocol/arena.h"
#include "protocol/wire.h"

#define SP_GROUP_TOPIC "__consumer_offsets"

struct sp_part;
struct sp_group_classic;  /* group_classic.c */
struct sp_group_consumer; /* group_consumer.c */

enum sp_group_type {
    SP_GROUP_CLASSIC = 0,  /* JoinGroup/SyncGroup, or offsets only */
    SP_GROUP_CONSUMER = 1, /* KIP-848 ConsumerGroupHeartbeat */
};

enum sp_group_state {
    SP_GROUP_EMPTY = 0,
    SP_GROUP_PREPARING_REBALANCE, /* classic */
    SP_GROUP_COMPLETING_REBALANCE,
    SP_GROUP_STABLE,
    SP_GROUP_DEAD,
    SP_GROUP_ASSIGNING, /* consumer */
    SP_GROUP_RECONCILING,
};

/* Kafka's names: "Empty", "PreparingRebalance", ..., "Assigning", "Reconciling". */
const char *sp_group_state_name(enum sp_group_state s);
/* "classic" or "consumer". */
const char *sp_group_type_name(enum sp_group_type t);

/* A committed offset (OffsetCommitValue). */
struct sp_group_offset {
    char *topic; /* NUL-terminated, owned by group.c */
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch; /* -1: none */
    char *metadata;       /* NUL-terminated, "" when none; owned by group.c */
    int64_t commit_ms;
    int64_t expire_ms;             /* -1: by offsets.retention.minutes */
    struct sp_group_offset *next;  /* group.c's */
    struct sp_group_offset *hnext; /* group.c's */
};

struct sp_group {
    char *id; /* NUL-terminated, owned by group.c */
    size_t id_len;
    int32_t part_index; /* its __consumer_offsets partition (owned by this shard) */
    enum sp_group_type type;
    enum sp_group_state state;
    int64_t state_since_ms; /* wall clock of the last state change (empty since, ...) */
    /* Set by the protocol module that runs the group, NULL when none. */
    struct sp_group_classic *classic;
    struct sp_group_consumer *consumer;
    /* group.c's from here. */
    struct sp_group_offset *offsets; /* in commit order */
    uint32_t offsets_count;
    struct sp_group_offset **ohash;
    uint32_t ohash_size;
    struct sp_group *hnext;
    uint32_t refs;
    bool removed;
};

/* ---- Routing (any shard) ------------------------------------------------- */

/* The __consumer_offsets partition of a group id (Java's String.hashCode rule). */
int32_t sp_group_partition(const char *id, size_t len, int32_t partitions);
/*
 * Where a group's coordinator is, in this shard's image: 0 with *shard and
 * *partition set, or COORDINATOR_NOT_AVAILABLE while __consumer_offsets
 * does not exist yet (its creation is then asked of the controller, once)
 * or when the id is not a valid group id (INVALID_GROUP_ID for an empty
 * id where the API says so is the caller's check).
 */
int16_t sp_group_route(struct sp_str id, uint16_t *shard, int32_t *partition);
/* Whether __consumer_offsets exists; when not, its creation is asked for (as by sp_group_route). */
bool sp_group_topic_ensure(void);

/* ---- The coordinator shard's groups --------------------------------------- */

/*
 * The group `id`, on its coordinator shard. Returns 0 and *out (NULL when
 * it does not exist and !create; with create, a new Empty classic group
 * with no protocol), or NOT_COORDINATOR (its partition is not on this
 * shard, or not open), COORDINATOR_LOAD_IN_PROGRESS (still replaying), or
 * COORDINATOR_NOT_AVAILABLE (out of memory, or the partition is offline).
 */
int16_t sp_group_lookup(struct sp_str id, bool create, struct sp_group **out);
/* Keeps g alive across an asynchronous wait (a store, a held request). */
void sp_group_ref(struct sp_group *g);
void sp_group_unref(struct sp_group *g);
/*
 * Forgets g (Dead): it leaves the table at once, the struct goes with its
 * last reference. Its records are not touched (see sp_group_delete).
 */
void sp_group_remove(struct sp_group *g);
/* Every group on this shard, for listing; fn must not add or remove groups. */
void sp_group_each(void (*fn)(void *ctx, struct sp_group *g), void *ctx);
/* Wall clock in ms (the clock offsets and group records are stamped with). */
int64_t sp_group_now_ms(void);

/* ---- Offsets -------------------------------------------------------------- */

const struct sp_group_offset *sp_group_offset_get(const struct sp_group *g, struct sp_str topic,
                                                  int32_t partition);
/*
 * Sets (value) or removes (NULL) a committed offset in memory, as a replayed
 * or just-stored record says. 0 or -ENOMEM.
 */
int sp_group_offset_apply(struct sp_group *g, struct sp_str topic, int32_t partition,
                          const struct sp_group_offset *value);

/* ---- Records and their store ---------------------------------------------- */

/* One record of __consumer_offsets; value.ptr NULL is a tombstone. */
struct sp_group_rec {
    struct sp_slice key;
    struct sp_slice value;
};

/* Record key versions, which also say the record's kind. */
#define SP_GROUP_KEY_OFFSET_COMMIT         1 /* 0 is the old, equivalent one */
#define SP_GROUP_KEY_GROUP_METADATA        2
#define SP_GROUP_KEY_CG_METADATA           3
#define SP_GROUP_KEY_CG_PARTITION_METADATA 4
#define SP_GROUP_KEY_CG_MEMBER_METADATA    5
#define SP_GROUP_KEY_CG_TARGET_METADATA    6
#define SP_GROUP_KEY_CG_TARGET_MEMBER      7
#define SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT 8

/*
 * Encodes a record into a: the key (a struct kproto_<kind>_key, chosen by
 * key_version) and the value (the matching struct kproto_<kind>_value at
 * value_version, or NULL for a tombstone). 0, -ENOMEM or -EINVAL.
 */
int sp_group_rec_encode(struct sp_arena *a, int16_t key_version, const void *key,
                        int16_t value_version, const void *value, struct sp_group_rec *out);

/* A store in progress: the caller's, alive until done runs. */
struct sp_group_write {
    /* err: 0, or the Kafka error to answer (NOT_COORDINATOR,
     * COORDINATOR_NOT_AVAILABLE, UNKNOWN_SERVER_ERROR, ...). */
    void (*done)(struct sp_group_write *w, int16_t err);
    /* group.c's */
    struct sp_group *g;
    void *priv;
};

/*
 * Appends recs (copied) to g's partition as one batch and calls w->done
 * on this shard once it is durable, or failed. Returns 0 (done will run,
 * never from inside this call), or a Kafka error (nothing written,
 * done will not run). g is referenced until done.
 */
int16_t sp_group_store(struct sp_group *g, const struct sp_group_rec *recs, size_t n,
                       struct sp_group_write *w);

/*
 * DeleteGroups' work once the caller has checked the group is empty:
 * writes tombstones for its offsets and its group records, then removes
 * it; done as for sp_group_store.
 */
int16_t sp_group_delete(struct sp_group *g, struct sp_group_write *w);

/* ---- Hooks the protocol modules implement (group.c calls them) ------------- */

/* Replay: a GroupMetadataValue of g found in the log (NULL: a tombstone). */
void sp_group_classic_replay(struct sp_group *g, const void *group_metadata_value);
/* Replay: a consumer-protocol record of g (key_version 3..8; value NULL: tombstone). */
void sp_group_consumer_replay(struct sp_group *g, int16_t key_version, const void *key,
                              const void *value);
/* The partition has been replayed: g is about to be served (arm timers). */
void sp_group_classic_loaded(struct sp_group *g);
void sp_group_consumer_loaded(struct sp_group *g);
/*
 * g leaves this shard (its partition closes, or the group is removed):
 * answer what is held with NOT_COORDINATOR (or the given error), stop the
 * timers, free g->classic / g->consumer and set them NULL.
 */
void sp_group_classic_free(struct sp_group *g, int16_t err);
void sp_group_consumer_free(struct sp_group *g, int16_t err);
/*
 * OffsetCommit's membership check: 0, or UNKNOWN_MEMBER_ID,
 * ILLEGAL_GENERATION, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS
 * (classic), STALE_MEMBER_EPOCH (consumer). Called only when the group
 * has members or the commit names one.
 */
int16_t sp_group_classic_commit_check(struct sp_group *g, struct sp_str member_id,
                                      struct sp_str instance_id, int32_t generation);
int16_t sp_group_consumer_commit_check(struct sp_group *g, struct sp_str member_id,
                                       int32_t member_epoch);
/* Whether a member of g is subscribed to topic (OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC). */
bool sp_group_classic_subscribed(const struct sp_group *g, struct sp_str topic);
bool sp_group_consumer_subscribed(const struct sp_group *g, struct sp_str topic);
/* Members of g in either protocol (0 when it has no protocol module state). */
uint32_t sp_group_classic_members(const struct sp_group *g);
uint32_t sp_group_consumer_members(const struct sp_group *g);

/*
 * DescribeGroups for g: fills the described group (a struct
 * kproto_describe_groups_response_described_group, already init'd, GroupId
 * set) with the state, protocol and members, allocating from a (the
 * coordinator's memory). 0 or -ENOMEM.
 */
int sp_group_classic_describe(const struct sp_group *g, struct sp_arena *a, void *described);
int sp_group_consumer_describe_classic(const struct sp_group *g, struct sp_arena *a,
                                       void *described);

/* ---- The partitions (cluster/part.c calls these) ---------------------------- */

/* p, a __consumer_offsets partition, has just opened here: replay it. */
void sp_group_part_open(struct sp_part *p);
/* p is about to close (shutdown or deletion): its groups leave this shard. */
void sp_group_part_close(struct sp_part *p);

#endif /* SP_CLUSTER_GROUP_H */
