/*
 * cluster/fanout.c: a request's partitions grouped by owning shard
 * (see fanout.h).
 */
#include "cluster/fanout.h"

#include <errno.h>
#include <string.h>

#include "core/rx.h"
#include "protocol/gen/kerr.h"

int sp_fanout_init(struct sp_fanout *fo, struct sp_arena *arena, uint32_t nitems)
{
    uint32_t nshards = sp_rx_shard_count();
    size_t n = nitems > 0 ? nitems : 1;
    *fo = (struct sp_fanout){
        .nitems = nitems,
        .nshards = nshards,
        .owner = sp_arena_alloc(arena, n * sizeof(*fo->owner)),
        .order = sp_arena_calloc(arena, n, sizeof(*fo->order)),
        .first = sp_arena_calloc(arena, (size_t)nshards + 1, sizeof(*fo->first)),
    };
    if (fo->owner == NULL || fo->order == NULL || fo->first == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < nitems; i++) {
        fo->owner[i] = SP_FANOUT_HERE;
    }
    return 0;
}

int16_t sp_fanout_place(struct sp_fanout *fo, uint32_t i, struct sp_str name, int32_t partition,
                        const struct sp_topic **topic)
{
    SP_ASSERT(i < fo->nitems);
    const struct sp_topic *t = name.ptr != NULL ? sp_image_topic(name.ptr, (size_t)name.len) : NULL;
    if (t == NULL || partition < 0 || partition >= t->partitions) {
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    uint32_t s = t->part[partition].shard;
    if (s >= fo->nshards) {
        return KERR_NOT_LEADER_OR_FOLLOWER;
    }
    fo->owner[i] = (uint16_t)s;
    *topic = t;
    return 0;
}

void sp_fanout_group(struct sp_fanout *fo)
{
    /* first[s] counts owner s, then the sums make it where run s ends. */
    memset(fo->first, 0, ((size_t)fo->nshards + 1) * sizeof(*fo->first));
    for (uint32_t i = 0; i < fo->nitems; i++) {
        if (fo->owner[i] != SP_FANOUT_HERE) {
            fo->first[fo->owner[i]]++;
        }
    }
    for (uint32_t s = 1; s < fo->nshards; s++) {
        fo->first[s] += fo->first[s - 1];
    }
    if (fo->nshards > 0) {
        fo->first[fo->nshards] = fo->first[fo->nshards - 1];
    }
    /* Filled back to front, so each run keeps request order and first[s] comes down to its start.
     */
    for (uint32_t i = fo->nitems; i-- > 0;) {
        uint16_t s = fo->owner[i];
        if (s != SP_FANOUT_HERE) {
            fo->order[--fo->first[s]] = i;
        }
    }
}
