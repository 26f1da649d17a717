/*
 * cluster/topic_cfg.h: topic-level configuration, Kafka's names and rules.
 *
 * A topic's explicit settings are key/value strings (what CreateTopics,
 * AlterConfigs and the metadata log's ConfigRecords carry). The resolved
 * form, struct sp_topic_cfg, takes each key from the topic's explicit
 * value, else from the broker's setting it defaults to (retention.ms from
 * log.retention.ms / log.retention.hours, max.message.bytes from
 * message.max.bytes, ...), else from Kafka's default.
 *
 * The table behind this knows every topic config Kafka documents, so an
 * unknown name is refused (INVALID_CONFIG naming the key) and a known one
 * Spindle does not act on yet is still accepted and described.
 *
 * Threads: pure functions; any thread.
 */
#ifndef SP_CLUSTER_TOPIC_CFG_H
#define SP_CLUSTER_TOPIC_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct sp_config;
struct sp_plog_options;

/* compression.type: a codec (enum sp_codec, 0..4) or this, "producer". */
#define SP_TOPIC_COMPRESSION_PRODUCER (-1)

struct sp_topic_cfg {
    bool cleanup_delete;             /* cleanup.policy has "delete" */
    bool cleanup_compact;            /* cleanup.policy has "compact" */
    int8_t compression;              /* compression.type: enum sp_codec or ..._PRODUCER */
    bool timestamp_log_append;       /* message.timestamp.type=LogAppendTime */
    int32_t max_message_bytes;       /* max.message.bytes: largest batch accepted */
    int32_t min_insync_replicas;     /* min.insync.replicas */
    int32_t index_interval_bytes;    /* index.interval.bytes */
    int64_t retention_ms;            /* retention.ms; -1 forever */
    int64_t retention_bytes;         /* retention.bytes; -1 no limit */
    int64_t segment_bytes;           /* segment.bytes */
    int64_t segment_ms;              /* segment.ms */
    int64_t flush_messages;          /* flush.messages */
    int64_t flush_ms;                /* flush.ms */
    int64_t timestamp_before_max_ms; /* message.timestamp.before.max.ms */
    int64_t timestamp_after_max_ms;  /* message.timestamp.after.max.ms */
    int64_t delete_retention_ms;     /* delete.retention.ms */
    int64_t min_compaction_lag_ms;   /* min.compaction.lag.ms */
    int64_t max_compaction_lag_ms;   /* max.compaction.lag.ms */
    double min_cleanable_dirty_ratio;
};

/* One explicit setting. Both strings are borrowed. */
struct sp_topic_cfg_kv {
    const char *key;
    const char *value; /* NULL: back to the default */
};

/* Whether `key` is a topic config Kafka documents. */
bool sp_topic_cfg_known(const char *key);

/*
 * Checks one setting. 0, or -EINVAL with a message naming the key and the
 * reason in err ("retention.ms: -5 is not -1 or >= 0").
 */
int sp_topic_cfg_check(const char *key, const char *value, char *err, size_t errlen);

/*
 * Resolves a topic's settings: broker (may be NULL: Kafka's defaults) under
 * the explicit kv[0..n). 0, or -EINVAL with err as above (the first bad one).
 */
int sp_topic_cfg_resolve(struct sp_topic_cfg *out, const struct sp_config *broker,
                         const struct sp_topic_cfg_kv *kv, size_t n, char *err, size_t errlen);

/*
 * The value a key resolves to, as Kafka would describe it, into buf
 * ("604800000", "producer", "delete"); whether it came from kv (the topic),
 * the broker's config, or the built-in default is said by *source
 * (0 topic, 1 broker, 2 default). -ENOENT for an unknown key.
 */
int sp_topic_cfg_describe(const char *key, const struct sp_config *broker,
                          const struct sp_topic_cfg_kv *kv, size_t n, char *buf, size_t buflen,
                          int *source);

/* Every documented topic config name, in order, for describing them all. */
size_t sp_topic_cfg_names(const char *const **names);

/*
 * The storage options a partition of the topic opens with. Retention
 * applies only when cleanup.policy has "delete"; Kafka's "never" for
 * flush.messages / flush.ms leaves flushing to the shard's schedule
 * (log.flush.interval.*).
 */
void sp_topic_cfg_plog_options(const struct sp_topic_cfg *c, struct sp_plog_options *o);

#endif /* SP_CLUSTER_TOPIC_CFG_H */
