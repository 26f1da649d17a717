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
#include "protocol/arena.h"

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
    struct sp_image_part *part;      /* [partitions] */
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

/* ---- Replay, and the shard's setup ----------------------------------------- */

/* Metadata record types (the records' apiKey) the image applies; others are skipped. */
#define SP_IMAGE_REC_TOPIC            2
#define SP_IMAGE_REC_PARTITION        3
#define SP_IMAGE_REC_CONFIG           4
#define SP_IMAGE_REC_PARTITION_CHANGE 5
#define SP_IMAGE_REC_REMOVE_TOPIC     9
#define SP_IMAGE_REC_PRODUCER_IDS     15
/* ConfigRecord.ResourceType of a topic. */
#define SP_IMAGE_CONFIG_TOPIC 2

/* Main thread, before the shards start: the broker config and node id (borrowed for the run). */
void sp_image_setup(const struct sp_config *broker, int32_t node_id);
/* This broker's node id. */
int32_t sp_image_node_id(void);

/*
 * What a replay changed, for the owner of the partitions (cluster/part.h).
 * Each is called as the record is applied; the topic is as the image has
 * it then (for topic_removing: still in the image, about to leave it).
 */
struct sp_image_observer {
    void (*part_added)(void *ctx, const struct sp_topic *t, int32_t index);
    void (*part_changed)(void *ctx, const struct sp_topic *t, int32_t index);
    void (*topic_config)(void *ctx, const struct sp_topic *t);
    void (*topic_removing)(void *ctx, const struct sp_topic *t);
    void *ctx;
};

/* Shard: an empty image (0 or -ENOMEM); sp_image_fini frees it. */
int sp_image_init(void);
void sp_image_fini(void);
/*
 * Applies one metadata record found at `offset` of the metadata log; the
 * same call replays the log at start and applies the controller's deltas.
 * r is borrowed during the call (what is kept is copied). obs may be NULL.
 * A record that does not fit the image (a partition of an unknown topic)
 * is skipped with a log line: the image never trusts the log blindly.
 */
void sp_image_apply(const struct sp_metalog_record *r, int64_t offset,
                    const struct sp_image_observer *obs);
/* The first producer id no ProducerIdsRecord has handed out yet. */
int64_t sp_image_next_producer_id(void);
/* Partitions placed on `shard` (the placement rule's counts). */
uint32_t sp_image_shard_parts(uint32_t shard);

/*
 * Deep copies of metadata records, for the load at start (the load's
 * records live only during its callback). Main thread fills it, the shards
 * read it during their init, main frees it after. Records of types the
 * image skips are not kept.
 */
struct sp_image_records {
    struct sp_arena arena;
    struct sp_metalog_record *r;
    int64_t *offset;
    size_t count, cap;
};
void sp_image_records_init(struct sp_image_records *s);
/* 0, or -ENOMEM. */
int sp_image_records_add(struct sp_image_records *s, int64_t offset,
                         const struct sp_metalog_record *r);
void sp_image_records_free(struct sp_image_records *s);

#endif /* SP_CLUSTER_IMAGE_H */
