/*
 * cluster/image.h: a shard's view of the cluster metadata: topics, their
 * partitions and configs, and where each partition lives in this broker.
 *
 * Every shard has its own image and only its own thread reads or changes
 * it. The controller (cluster/controller.h, shard 0) changes the cluster by
 * appending metadata records to the metadata log (cluster/metalog.h); once
 * they are durable it sends the same records to every shard as a delta, and
 * each shard replays them into its image with the same code that replayed
 * the log at start (sp_image_replay). Placement (partition -> shard) is a
 * pure function of the record sequence and the shard count: each new
 * partition goes to the shard with the fewest partitions, the lowest index
 * on a tie; a removed topic gives its partitions back. Every shard replays
 * the same sequence and so agrees on it, with nothing more to send.
 *
 * Pointers returned here stay valid until this shard applies its next
 * delta, which happens only from its cross-core message loop: valid for
 * the rest of the current callback, never across an asynchronous wait.
 * Keep the topic id and partition index across waits, and look them up
 * again (a topic deleted meanwhile is then NULL, and one recreated under
 * the same name has another id).
 *
 * Threads: the calling shard's image.
 */
#ifndef SP_CLUSTER_IMAGE_H
#define SP_CLUSTER_IMAGE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#include "cluster/topic_cfg.h"
#include "cluster/metalog.h"

struct sp_image_part {
    uint16_t shard;       /* the shard that owns it in this broker */
    int32_t leader;       /* node id */
    int32_t leader_epoch; /* as stamped into batches */
    int32_t partition_epoch;
};

struct sp_topic {
    char *name; /* NUL-terminated */
    size_t name_len;
    uint8_t id[16];
    bool internal; /* __consumer_offsets, __transaction_state */
    int32_t partitions;
    struct sp_image_part *part; /* [partitions] */
    struct sp_topic_cfg_kv *configs; /* explicit settings, owned strings */
    size_t configs_count;
    struct sp_topic_cfg cfg; /* resolved against the broker's config */
};

/* This shard's image. */
const struct sp_topic *sp_image_topic(const char *name, size_t len);
const struct sp_topic *sp_image_topic_by_id(const uint8_t id[16]);
/* Iteration, in creation order; stable within one callback. */
uint32_t sp_image_topic_count(void);
const struct sp_topic *sp_image_topic_at(uint32_t i);
/* The metadata log offset this image has replayed up to (exclusive). */
int64_t sp_image_offset(void);

/* The broker's config, for resolving topic configs (read-only, any thread). */
const struct sp_config *sp_image_broker_config(void);

#endif /* SP_CLUSTER_IMAGE_H */
