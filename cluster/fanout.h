/*
 * cluster/fanout.h: a request's partitions grouped by the shard that owns
 * each, for the handlers that answer every partition on its owner
 * (ListOffsets, DeleteRecords, OffsetForLeaderEpoch, DescribeProducers,
 * DescribeLogDirs).
 *
 * The handler keeps its own items (one per partition asked); the fan-out
 * keeps, beside them, each item's owner and the item indexes in owner
 * order, so that each owner gets one message carrying its run:
 *
 *   owner = {1, HERE, 0, 1}   (HERE: not sent anywhere, answered with an error)
 *   order = {2, 0, 3}
 *   first = {0, 1, 3}         owner s has order[first[s] .. first[s + 1])
 *
 * Request order is kept within each owner's run. Everything lives in the
 * arena given to sp_fanout_init; this shard only.
 */
#ifndef SP_CLUSTER_FANOUT_H
#define SP_CLUSTER_FANOUT_H

#include <stdint.h>

#include "cluster/image.h"
#include "protocol/arena.h"
#include "protocol/wire.h"

#define SP_FANOUT_HERE UINT16_MAX

struct sp_fanout {
    uint32_t nitems;
    uint32_t nshards;
    uint16_t *owner; /* [nitems]: the item's shard, or SP_FANOUT_HERE */
    uint32_t *order; /* [nitems]: item indexes grouped by owner (valid after group) */
    uint32_t *first; /* [nshards + 1]: see the top (valid after group) */
};

/* nitems items, all HERE, over this process's shards. 0 or -ENOMEM. */
int sp_fanout_init(struct sp_fanout *fo, struct sp_arena *arena, uint32_t nitems);

/*
 * Gives item i, the partition (name, partition), its owner from this
 * shard's image. Returns 0 with *topic set (the image's: valid until it
 * changes, so copy what is needed), or the Kafka error the item is
 * answered with (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER), the
 * item staying HERE. name is borrowed.
 */
int16_t sp_fanout_place(struct sp_fanout *fo, uint32_t i, struct sp_str name, int32_t partition,
                        const struct sp_topic **topic);

/* Groups the placed items by owner into order and first (a counting sort). */
void sp_fanout_group(struct sp_fanout *fo);

/* Owner s's run of order. */
static inline uint32_t sp_fanout_begin(const struct sp_fanout *fo, uint32_t s)
{
    return fo->first[s];
}

static inline uint32_t sp_fanout_end(const struct sp_fanout *fo, uint32_t s)
{
    return fo->first[s + 1];
}

#endif /* SP_CLUSTER_FANOUT_H */
