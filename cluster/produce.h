/*
 * cluster/produce.h: what the Produce handler (cluster/api_produce.c) and
 * its batch checks (cluster/produce_batch.c) share. Private to cluster/.
 *
 * One struct sp_produce_part per partition of a request, in the request's
 * arena on the connection's shard. The connection's shard fills the "in"
 * part and routes it; the owning shard validates, appends and fills the
 * "out" part; only the owner touches the working state, and it frees what
 * it allocated there (`owned`) before the job goes back.
 */
#ifndef SP_CLUSTER_PRODUCE_H
#define SP_CLUSTER_PRODUCE_H

#include <stdint.h>

#include "core/sp.h"
#include "protocol/batch.h"
#include "storage/log.h"

#define SP_PRODUCE_MESSAGE_BYTES 160
/* Decompressed records a recompressed batch may expand to. */
#define SP_PRODUCE_DECOMPRESS_MAX (64u << 20)
/* Decompressed bytes a magic 0/1 wrapper (Produce v0-2) may expand to:
 * less than a v2 batch's, as converting one needs several times that
 * (see produce_batch.c). */
#define SP_PRODUCE_LEGACY_DECOMPRESS_MAX (16u << 20)

struct pr_job;
struct sp_part;

struct sp_produce_part {
    /* In: set on the connection's shard. */
    uint8_t topic_id[16];
    int32_t index;
    uint16_t shard;          /* owner; UINT16_MAX when answered without one */
    struct sp_slice records; /* borrowed from the request frame */
    struct pr_job *job;
    /* Out: set on the owner (or by the connection's shard when not routed). */
    int16_t error;
    int64_t base_offset;
    int64_t log_append_time_ms;
    int64_t log_start_offset;
    char message[SP_PRODUCE_MESSAGE_BYTES]; /* ErrorMessage (v8+), "" when none */
    /* Owner's working state. */
    struct sp_batch_header h; /* of the batch as it will be appended */
    struct sp_part *p;        /* referenced while held */
    const uint8_t *data;      /* the batch to append: records, or owned */
    size_t len;
    uint8_t *owned;                /* owner's malloc: a rebuilt batch, or NULL */
    struct sp_plog_append app;     /* the append waiting for its ack */
    struct sp_produce_part *qnext; /* the partition's backlog */
    struct sp_produce_part *dups;  /* retries waiting for this append's ack */
    struct sp_produce_part *dup_next;
};

/*
 * Checks pp's records as Kafka does for a client's batch (exactly one v2
 * batch, CRC, size against max.message.bytes, timestamps, control and
 * transactional bits) against p's config at broker time now_ms, and sets
 * pp->data/len to what to append: the records themselves, or a batch
 * rebuilt in pp->owned (recompressed to the topic's compression.type,
 * stamped with the log append time). Below Produce v3 the records may be
 * a message set of magic 0 or 1: it is checked as Kafka checks one and
 * converted to one v2 batch in pp->owned. Also sets pp->h and, for
 * LogAppendTime topics, pp->log_append_time_ms. Returns 0 or a Kafka error
 * code with the reason in pp->message. Runs on p's shard; what it
 * allocates is the heap's (pp->owned).
 */
int16_t sp_produce_validate(struct sp_produce_part *pp, const struct sp_part *p, int16_t version,
                            int64_t now_ms);

#endif /* SP_CLUSTER_PRODUCE_H */
