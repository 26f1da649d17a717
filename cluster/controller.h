/*
 * cluster/controller.h: the metadata controller, on shard 0, and how any
 * shard asks it for something.
 *
 * The controller owns the metadata log (cluster/metalog.h) and the
 * authoritative image. A request to it is a struct the caller embeds; it
 * travels to shard 0 as a cross-core message, the controller validates it
 * against its image, appends the records, waits until they are durable,
 * publishes the delta to every shard and waits until each has applied it
 * (so the owning shards have created or removed the logs), and only then
 * answers: `done` runs on the caller's shard. Requests are served in the
 * order shard 0 receives them.
 *
 * Every string and array in a request is borrowed from the caller until
 * `done` (the controller reads them on shard 0, the caller must not touch
 * them meanwhile); results are written into arrays the caller provided.
 *
 * Threads: the sp_ctl_* calls on any shard; done on the same shard.
 */
#ifndef SP_CLUSTER_CONTROLLER_H
#define SP_CLUSTER_CONTROLLER_H

#include <stdint.h>
#include <stdbool.h>

#include "core/xq.h"
#include "cluster/topic_cfg.h"
#include "protocol/wire.h"

struct sp_ctl_topic {
    /* In. */
    struct sp_str name;
    int32_t partitions;         /* -1: num.partitions */
    int16_t replication_factor; /* -1: default.replication.factor */
    const struct sp_topic_cfg_kv *configs;
    size_t configs_count;
    bool has_assignment; /* manual replica assignment given (checked, not used) */
    /* Out. */
    int16_t error;
    char message[160]; /* error message, "" when none */
    uint8_t id[16];
    int32_t partitions_out;
    int16_t replication_factor_out;
};

struct sp_ctl_create_topics {
    /* In. */
    struct sp_ctl_topic *topics;
    int32_t count;
    bool validate_only;
    bool auto_create; /* from Metadata: a name that exists meanwhile is no error */
    void (*done)(struct sp_ctl_create_topics *op);
    /* Private. */
    struct sp_xq_msg msg;
    void *priv;
};
void sp_ctl_create_topics(struct sp_ctl_create_topics *op);

struct sp_ctl_delete_topic {
    struct sp_str name; /* or, when name.ptr is NULL, by id */
    uint8_t id[16];
    int16_t error; /* out */
    char message[160];
    uint8_t id_out[16];
    char name_out[256];
};
struct sp_ctl_delete_topics {
    struct sp_ctl_delete_topic *topics;
    int32_t count;
    void (*done)(struct sp_ctl_delete_topics *op);
    struct sp_xq_msg msg;
    void *priv;
};
void sp_ctl_delete_topics(struct sp_ctl_delete_topics *op);

struct sp_ctl_add_partitions_topic {
    struct sp_str name;
    int32_t count; /* the new total */
    bool has_assignment;
    int16_t error; /* out */
    char message[160];
};
struct sp_ctl_add_partitions {
    struct sp_ctl_add_partitions_topic *topics;
    int32_t count;
    bool validate_only;
    void (*done)(struct sp_ctl_add_partitions *op);
    struct sp_xq_msg msg;
    void *priv;
};
void sp_ctl_add_partitions(struct sp_ctl_add_partitions *op);

/*
 * A new producer id (InitProducerId without a transactional id). Ids are
 * handed out from blocks the controller reserves with a ProducerIdsRecord,
 * so an id is never given twice, across restarts too.
 */
struct sp_ctl_producer_id {
    void (*done)(struct sp_ctl_producer_id *op);
    int16_t error; /* out: 0 or a Kafka error */
    int64_t producer_id;
    struct sp_xq_msg msg;
};
void sp_ctl_producer_id(struct sp_ctl_producer_id *op);

/*
 * Changes to topics' explicit configs (AlterConfigs, IncrementalAlterConfigs).
 * Each resource is one topic and its operations (enum sp_topic_cfg_op);
 * with `replace` (AlterConfigs) they are all SETs and become the topic's
 * whole explicit set, every other explicit key going back to its default.
 * The controller applies them to the topic's settings in its image, checks
 * the result, and writes one ConfigRecord per key that changes (a null
 * value for a key that goes back to its default); the owning shards apply
 * the new settings to the open logs before done runs.
 */
struct sp_ctl_config_op {
    const char *key;   /* NUL-terminated */
    const char *value; /* NULL for DELETE */
    int8_t op;
};
struct sp_ctl_config_resource {
    /* In. */
    struct sp_str name; /* the topic */
    const struct sp_ctl_config_op *ops;
    size_t ops_count;
    bool replace;
    /* Out. */
    int16_t error;
    char message[256]; /* "" when none */
};
struct sp_ctl_alter_configs {
    struct sp_ctl_config_resource *resources;
    int32_t count;
    bool validate_only;
    void (*done)(struct sp_ctl_alter_configs *op);
    struct sp_xq_msg msg;
    void *priv;
};
void sp_ctl_alter_configs(struct sp_ctl_alter_configs *op);

/* ---- Limits, checks shared with the API handlers, and the shard's setup ---- */

#define SP_CTL_PARTITIONS_MAX    10000 /* partitions one request may create, in all */
#define SP_CTL_PRODUCER_ID_BLOCK 1000  /* producer ids reserved by one ProducerIdsRecord */

/*
 * Whether name is a legal topic name as Kafka judges it ([a-zA-Z0-9._-],
 * 1..249 characters, not "." or ".."): 0, or KERR_INVALID_TOPIC_EXCEPTION
 * with Kafka's message in msg.
 */
int16_t sp_ctl_topic_name_check(struct sp_str name, char *msg, size_t msglen);

struct sp_storage;
/*
 * Shard 0, from its init hook: opens the metadata log in log_dir on st
 * (blocking) and serves requests from then on. Both borrowed for the run.
 * 0, or -errno with a log line.
 */
int sp_ctl_start(struct sp_storage *st, const char *log_dir);
/* Shard 0, from its fini hook: closes the metadata log. */
void sp_ctl_fini(void);

#endif /* SP_CLUSTER_CONTROLLER_H */
