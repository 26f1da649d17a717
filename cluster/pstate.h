/*
 * cluster/pstate.h: the idempotent producers of one partition, as Kafka
 * (>= 2.5, KIP-360) keeps them.
 *
 * Per producer id: its epoch, the sequence ranges and offsets of its last
 * SP_PSTATE_BATCHES batches, and when it last appended. Produce asks
 * sp_pstate_check() right before it appends a batch that carries a
 * producer id, and tells sp_pstate_append() right after the log took it,
 * in the same callback, so the check and the append are one step (appends
 * to a partition run on its shard, one at a time):
 *
 *   check   duplicate of one of the last 5 batches  -> answer its offsets
 *           older epoch                             -> INVALID_PRODUCER_EPOCH
 *           newer epoch, sequence not 0             -> OUT_OF_ORDER_SEQUENCE_NUMBER
 *           same epoch, sequence != last + 1        -> OUT_OF_ORDER_SEQUENCE_NUMBER
 *           unknown producer id                     -> accepted, any sequence (KIP-360)
 *   append  records the batch at once, before its ack: a retry that arrives
 *           while the original still waits for the disk is a duplicate, and
 *           gets the original's token to wait on (`inflight`).
 *
 * A producer idle for producer.id.expiration.ms (by the broker's clock) is
 * forgotten; so is the least recently active one when a partition holds
 * SP_PSTATE_PRODUCERS_MAX of them.
 *
 * Persistence: the state is snapshotted into the partition directory as
 * producer-<offset>.snapshot, the state of every batch below <offset>
 * (written to a .tmp file, fsynced, renamed, directory fsynced). A snapshot
 * is taken in the background every SP_PSTATE_SNAPSHOT_BYTES appended, and
 * at a clean close. sp_pstate_open() loads the newest snapshot at or below
 * the log end and replays the batches after it, so a restart, clean or
 * not, replays a bounded tail and still knows the last 5 batches of every
 * producer. The two newest snapshots are kept: the newer may cover batches
 * a crash took back (it then lies above the log end and is ignored).
 *
 * Threads: the partition's shard only. sp_pstate_open and sp_pstate_close
 * (cluster/part.h) block, running the shard's I/O loop, as sp_plog_open and
 * sp_plog_close do.
 */
#ifndef SP_CLUSTER_PSTATE_H
#define SP_CLUSTER_PSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/batch.h"

#define SP_PSTATE_BATCHES        5
#define SP_PSTATE_PRODUCERS_MAX  16384
#define SP_PSTATE_SNAPSHOT_BYTES (8u << 20)
#define SP_PSTATE_SNAPSHOTS_KEPT 2

struct sp_part;
struct sp_pstate;

/* A batch the state already holds (what a duplicate is answered with). */
struct sp_pstate_dup {
    int64_t first_offset;
    int64_t last_offset;
    int64_t timestamp;
    void *inflight; /* the original append's token while it waits for its ack, else NULL */
};

/*
 * Judges a batch with a producer id (h->producer_id >= 0) before it is
 * appended, at broker time now_ms. Returns 0 (append it), 0 with
 * *is_dup set (do not append: answer dup), or a Kafka error code with a
 * reason in why (may be NULL).
 */
int16_t sp_pstate_check(struct sp_pstate *ps, const struct sp_batch_header *h, int64_t now_ms,
                        bool *is_dup, struct sp_pstate_dup *dup, char *why, size_t whylen);

/*
 * The log took a batch at base_offset (bytes long): records it when it has
 * a producer id, with `inflight` (borrowed, may be NULL) as its token until
 * sp_pstate_acked, and starts a background snapshot when enough was
 * appended since the last one.
 */
void sp_pstate_append(struct sp_pstate *ps, const struct sp_batch_header *h, int64_t base_offset,
                      size_t bytes, int64_t now_ms, void *inflight);

/* The append whose token is `inflight` got its ack (or failed): forget the token. */
void sp_pstate_acked(struct sp_pstate *ps, int64_t producer_id, const void *inflight);

/* Producers known (tests, metrics). */
uint32_t sp_pstate_producers(const struct sp_pstate *ps);

/* A producer as DescribeProducers shows it. */
struct sp_pstate_producer {
    int64_t producer_id;
    int16_t epoch;
    int32_t last_sequence;  /* of its newest batch kept; -1 when none is */
    int64_t last_timestamp; /* that batch's max timestamp; -1 when none is */
};

/*
 * The producers not expired at now_ms: copies up to max of them into out
 * (no particular order) and returns how many there are in all, so that a
 * call with max 0 counts them.
 */
uint32_t sp_pstate_list(const struct sp_pstate *ps, int64_t now_ms, struct sp_pstate_producer *out,
                        uint32_t max);

/* The broker's wall clock in milliseconds (timestamps, expiry). */
int64_t sp_pstate_wall_ms(void);

#endif /* SP_CLUSTER_PSTATE_H */
