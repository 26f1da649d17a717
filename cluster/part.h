/*
 * cluster/part.h: the partitions a shard owns, and their logs.
 *
 * Each shard keeps a table of the partitions placed on it (cluster/image.h),
 * found by topic id and index. A partition's log is opened when the
 * controller's delta creates it (or at start) and closed and removed when
 * its topic is deleted. Produce (cluster/api_produce.c) and Fetch
 * (cluster/api_fetch.c) run on the owning shard and use what is here:
 *
 *   struct sp_part *p = sp_part_get(topic_id, index);   NULL: not ours / gone
 *   sp_part_ref(p);  ... asynchronous work on p->log ...  sp_part_unref(p);
 *
 * A reference keeps the struct and its log alive across asynchronous work
 * (an append waiting for its ack, a fetch result lent to another shard).
 * When the topic is deleted the partition leaves the table at once
 * (sp_part_get answers NULL, `deleted` is set), the fetch waiters are woken
 * (sp_fetch_part_closing), the producer state is dropped, and the log is
 * closed and its directory removed once the last reference is gone.
 *
 * Hooks into the owners of the per-partition state, called here:
 *   sp_pstate_open(p)         after the log opened: rebuild producer state
 *   sp_pstate_close(p, keep)  before the log closes: snapshot (keep) or drop
 *   sp_fetch_on_hw(p, hw)     the high watermark moved: wake long polls
 *   sp_fetch_part_closing(p)  the partition is going away: wake them too
 *   sp_group_part_open/close(p)  __consumer_offsets partitions: load or drop their groups
 *
 * Threads: the owning shard only.
 */
#ifndef SP_CLUSTER_PART_H
#define SP_CLUSTER_PART_H

#include <stdint.h>
#include <stdbool.h>

#include "cluster/topic_cfg.h"
#include "storage/log.h"

struct sp_pstate;     /* cluster/pstate.h */
struct sp_fetch_wait; /* cluster/api_fetch.c */

struct sp_part {
    uint8_t topic_id[16];
    int32_t index;
    char *dir;           /* <log dir>/<topic>-<index> */
    const char *name;    /* the topic's name (owned here; for logs) */
    struct sp_plog *log; /* NULL while opening or when it failed (KAFKA_STORAGE_ERROR) */
    int32_t leader_epoch;
    struct sp_topic_cfg cfg;       /* the topic's resolved config, updated by deltas */
    struct sp_pstate *pstate;      /* producer state (cluster/pstate.h) */
    struct sp_fetch_wait *waiters; /* long polls waiting for the high watermark */
    uint32_t refs;
    bool deleted;
    /* part.c's own from here */
    struct sp_part *hnext;
};

/* This shard's partition, or NULL (not placed here, deleted, or not open yet). */
struct sp_part *sp_part_get(const uint8_t topic_id[16], int32_t index);
void sp_part_ref(struct sp_part *p);
void sp_part_unref(struct sp_part *p);
/* Partitions on this shard (metrics, tests). */
uint32_t sp_part_count(void);
/*
 * A request's CurrentLeaderEpoch checked against p's, as Fetch and
 * ListOffsets do: 0 when it names none (-1) or this one, else
 * UNKNOWN_LEADER_EPOCH (it is ahead of us) or FENCED_LEADER_EPOCH (behind).
 */
int16_t sp_part_epoch_error(const struct sp_part *p, int32_t asked);

/* Hooks implemented by their owners (see the top). */
int sp_pstate_open(struct sp_part *p);
void sp_pstate_close(struct sp_part *p, bool keep);
void sp_fetch_on_hw(struct sp_part *p, int64_t hw);
void sp_fetch_part_closing(struct sp_part *p);

/* ---- The shard's setup (cluster/shard.c) ----------------------------------- */

struct sp_storage;
struct sp_image_observer;

/* Shard: the storage logs open on and the log dir they live in (both borrowed). 0 or -ENOMEM. */
int sp_part_init(struct sp_storage *st, const char *log_dir);
/*
 * What the shard replays metadata with: partitions placed here are noted
 * to be opened, a removed topic's partitions are dropped at once.
 */
const struct sp_image_observer *sp_part_observer(void);
/* Opens the partitions noted since the last call (blocking, see storage/log.h). */
void sp_part_open_pending(void);
/* Clean shutdown: snapshots producer state and closes every log. Blocking. */
void sp_part_close_all(void);

/*
 * Main thread, before the shards start: removes (in the background) the
 * <dir>.<id>-delete directories a deletion left behind when the broker
 * stopped, in log_dir.
 */
void sp_part_cleanup_deleted(const char *log_dir);

#endif /* SP_CLUSTER_PART_H */
