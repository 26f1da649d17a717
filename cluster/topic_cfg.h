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

/* ---- Describing and altering (DescribeConfigs, IncrementalAlterConfigs) ---- */

/* Where a value comes from, as sp_topic_cfg_describe's *source says it. */
#define SP_TOPIC_CFG_SRC_TOPIC   0 /* the topic's explicit setting */
#define SP_TOPIC_CFG_SRC_BROKER  1 /* the broker's config file or command line */
#define SP_TOPIC_CFG_SRC_DEFAULT 2 /* a built-in default */

/* Kafka's ConfigType numbers, as DescribeConfigs v3+ carries them. */
#define SP_TOPIC_CFG_TYPE_BOOLEAN 1
#define SP_TOPIC_CFG_TYPE_STRING  2
#define SP_TOPIC_CFG_TYPE_INT     3
#define SP_TOPIC_CFG_TYPE_LONG    5
#define SP_TOPIC_CFG_TYPE_DOUBLE  6
#define SP_TOPIC_CFG_TYPE_LIST    7

/* A key's ConfigType (0, unknown, for an unknown key). */
int8_t sp_topic_cfg_type(const char *key);
/* Whether a key's value is a comma list (APPEND and SUBTRACT apply to it). */
bool sp_topic_cfg_is_list(const char *key);
/* One or two sentences on what a key does; NULL for an unknown key. Static. */
const char *sp_topic_cfg_doc(const char *key);

/*
 * One synonym of a topic config: a setting that would give it its value,
 * in the order Kafka lists them (the topic's own setting, then the broker
 * keys set in its config, then their defaults). name and value are
 * borrowed: from kv, from the broker's config, or static.
 */
struct sp_topic_cfg_synonym {
    const char *name;
    const char *value;
    int source; /* SP_TOPIC_CFG_SRC_* */
};
#define SP_TOPIC_CFG_SYNONYMS_MAX 8

/*
 * The synonyms of key for a topic with settings kv[0..n) on a broker
 * configured as broker (may be NULL): how many were written to out[0..max).
 * The first one's source is the one sp_topic_cfg_describe gives. 0 for an
 * unknown key.
 */
size_t sp_topic_cfg_synonyms(const char *key, const struct sp_config *broker,
                             const struct sp_topic_cfg_kv *kv, size_t n,
                             struct sp_topic_cfg_synonym *out, size_t max);

/* IncrementalAlterConfigs' operations, by Kafka's numbers. */
enum sp_topic_cfg_op {
    SP_TOPIC_CFG_OP_SET = 0,
    SP_TOPIC_CFG_OP_DELETE = 1,
    SP_TOPIC_CFG_OP_APPEND = 2,
    SP_TOPIC_CFG_OP_SUBTRACT = 3,
};

/*
 * The explicit value key has after one operation, given its explicit
 * value now (cur; NULL when unset, and APPEND or SUBTRACT then start from
 * Kafka's default). SET, APPEND and SUBTRACT write the new value into
 * out[0..outlen) and return 0 once it passes sp_topic_cfg_check; DELETE
 * returns 1 (the key goes back to its default). -EINVAL with a message
 * naming the key in err: an unknown key or op, a NULL value for an op
 * that needs one, APPEND or SUBTRACT on a key that is not a list, or an
 * invalid result. -ENOSPC when out is too small: strlen(cur or the
 * default) + strlen(value) + 2 bytes always suffice. Strings borrowed.
 */
int sp_topic_cfg_apply_op(const char *key, int op, const char *cur, const char *value, char *out,
                          size_t outlen, char *err, size_t errlen);

#endif /* SP_CLUSTER_TOPIC_CFG_H */
