/*
 * client/spc.h: Spindle's Kafka client core, the one library under
 * spindlectl and spindle-bench. It talks to any Kafka-compatible broker.
 *
 * Model. A client is single-threaded: it owns an io_uring (core/io.h), its
 * timers (core/timer.h) and its connections, and does all its work inside
 * spc_poll() on the thread that created it; every callback runs from there.
 * Blocking helpers (spc_wait, the admin calls, spc_producer_flush) simply
 * poll until their work is done or their time is up: a broker that is down
 * gives an error within the timeout, never a hang.
 *
 *   bootstrap ─> connection ─> ApiVersions (highest version both sides
 *   support, per API) ─> Metadata (brokers, topics, leaders) ─> requests
 *   routed to leaders, retried with backoff on retriable errors and lost
 *   connections, metadata refreshed on NOT_LEADER / UNKNOWN_TOPIC / ...
 *
 * Layers (files):
 *   client/client.c    connections, framing, correlation, timeouts, version
 *                      negotiation, spc_send, metadata cache and routing,
 *                      retry policy, spc_poll
 *   client/producer.c  batching producer (linger, batch size, compression,
 *                      acks, idempotence with sequence numbers)
 *   client/fetcher.c   per-partition fetch positions following the HW
 *   client/admin.c     blocking admin calls for the CLI
 *
 * Errors. Functions return 0 or a negative errno; what went wrong is also
 * described in a struct spc_error when one is passed: `code` is 0, a
 * negative errno (transport: -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, ...),
 * or a positive Kafka error code (KERR_* in protocol/gen/kerr.h), and
 * `message` names the broker and the Kafka error, e.g.
 *   127.0.0.1:9092: topic "x": TOPIC_ALREADY_EXISTS
 *
 * Memory is bounded: the producer's buffer (spc_produce says -ENOBUFS when
 * it is full: poll, then try again), responses (max_response_bytes), the
 * requests in flight per connection.
 */
#ifndef SP_CLIENT_SPC_H
#define SP_CLIENT_SPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sp.h"
#include "protocol/arena.h"
#include "protocol/compress.h"

struct spc_client;

struct spc_error {
    int code;          /* 0, -errno, or a Kafka error code (> 0) */
    char message[256]; /* "" when code is 0 */
};

/* ---- The client ------------------------------------------------------------ */

struct spc_config {
    const char *bootstrap;        /* "host:port[,host:port...]" (required) */
    const char *client_id;        /* default "spindle" */
    int32_t request_timeout_ms;   /* default 30000: no answer by then fails with -ETIMEDOUT */
    int32_t connect_timeout_ms;   /* default 10000 */
    int32_t retries;              /* default 5: retriable Kafka errors and lost connections */
    int32_t retry_backoff_ms;     /* default 100, doubling per retry ... */
    int32_t retry_backoff_max_ms; /* ... up to this, default 1000 */
    int32_t metadata_max_age_ms;  /* default 300000 */
    uint32_t max_inflight;        /* requests in flight per connection, default 5 */
    uint32_t connections;         /* connections per broker ("lanes"), default 1, at most 256 */
    size_t max_response_bytes;    /* default 64 MiB: a larger frame closes the connection */
    bool allow_auto_create;       /* Metadata asks brokers to create unknown topics (default
                                     false) */
};

/* The defaults above (bootstrap NULL). */
void spc_config_init(struct spc_config *cfg);

/* Creates a client (no I/O yet: connections open on first use). 0 or -errno. */
int spc_client_new(const struct spc_config *cfg, struct spc_client **out, struct spc_error *err);
/* Closes every connection; callbacks of what is still pending run with -ECANCELED. */
void spc_client_free(struct spc_client *c);
/* Runs what is ready (I/O completions, timers), waiting up to timeout_ms for something. */
int spc_poll(struct spc_client *c, int timeout_ms);
/* Polls until *done is true (0) or timeout_ms passes (-ETIMEDOUT). */
int spc_wait(struct spc_client *c, const bool *done, int timeout_ms);
/* Milliseconds on the client's monotonic clock. */
int64_t spc_now_ms(const struct spc_client *c);
/* Whether a Kafka error is worth retrying (Kafka's RetriableException family). */
bool spc_retriable(int16_t kafka_error);
/*
 * Fills err: code, and a message "<broker>: <what>: <KAFKA_ERROR or strerror>"
 * where fmt gives <what> and the last part comes from code (a Kafka code's
 * name, or strerror(-code)) unless <what> already ends with it. broker NULL
 * or "": no "<broker>: " prefix. code 0: message "". err NULL: nothing.
 */
void spc_error_set(struct spc_error *err, int code, const char *broker, const char *fmt, ...)
    SP_PRINTF(4, 5);

/* ---- Requests -------------------------------------------------------------- */

#define SPC_ANY_BROKER  (-1) /* the least loaded connected broker, else a bootstrap one */
#define SPC_CONTROLLER  (-2) /* the controller Metadata names */
#define SPC_COORDINATOR (-3) /* the group coordinator of call->coordinator_key */

/*
 * One request: encoded at the highest version both this client (max_version)
 * and the broker support, at least min_version (else done gets -ENOTSUP),
 * sent to `node`, answered into `response` (a struct kproto_<api>_response
 * in call->arena). Transport failures and timeouts are retried up to the
 * client's `retries` when the request is idempotent for the broker
 * (`retry_transport`); Kafka errors inside the response are the caller's
 * (spc_retriable says which to retry).
 */
struct spc_call {
    /* In. */
    int16_t api_key;
    int16_t min_version, max_version;
    int32_t node;                /* a node id, or SPC_ANY_BROKER / CONTROLLER / COORDINATOR */
    const char *coordinator_key; /* group id, for SPC_COORDINATOR */
    const void *request;         /* struct kproto_<api>_request; borrowed until done */
    bool no_response;            /* Produce with acks=0: done runs once it is sent */
    bool retry_transport;        /* resend after a lost connection or a timeout */
    int32_t timeout_ms;          /* 0: the client's request_timeout_ms */
    uint32_t lane;               /* which of the broker's `connections` (modulo), default 0 */
    void (*done)(struct spc_call *call, int rc); /* rc: 0 (response set) or -errno */
    void *ctx;                                   /* the caller's */
    /* Out. */
    int16_t version;        /* the version it went out at */
    int32_t sent_to;        /* the node that answered */
    char broker[80];        /* its "host:port" */
    void *response;         /* struct kproto_<api>_response, in arena */
    struct sp_arena arena;  /* the response's memory: spc_call_release */
    struct spc_error error; /* when done's rc < 0: what failed, naming the broker, e.g.
                               "127.0.0.1:9: connect: Connection refused" (code: rc, or
                               the Kafka error that failed a FindCoordinator) */
    /* client.c's. */
    struct spc_call *next;
    void *priv;
};

/* Queues call (0, or -errno and done will not run). */
int spc_send(struct spc_client *c, struct spc_call *call);
/* Frees the response's memory (after done; call may then be reused). */
void spc_call_release(struct spc_call *call);
/*
 * Forgets the cached coordinator of key (a group id): the group and admin
 * layers call it when a coordinator answers NOT_COORDINATOR (or
 * COORDINATOR_NOT_AVAILABLE), and the next SPC_COORDINATOR call asks
 * FindCoordinator again.
 */
void spc_coordinator_stale(struct spc_client *c, const char *key);
/* Sends and waits for the answer (0, or -errno with err filled). */
int spc_call_sync(struct spc_client *c, struct spc_call *call, struct spc_error *err);
/* The version negotiated with node for api_key, or -1 (not known yet, or not supported). */
int16_t spc_api_version(struct spc_client *c, int32_t node, int16_t api_key);
/*
 * The range node advertised for api_key in its ApiVersions answer (connects
 * and negotiates first if needed, up to timeout_ms). 0; -ENOTSUP when the
 * broker does not list the key; -errno on transport failure (err filled).
 */
int spc_broker_api_range(struct spc_client *c, int32_t node, int16_t api_key, int16_t *min,
                         int16_t *max, int timeout_ms, struct spc_error *err);

/* ---- Metadata -------------------------------------------------------------- */

struct spc_broker {
    int32_t node;
    char host[256];
    int32_t port;
    char rack[64]; /* "" when none */
};

struct spc_partition {
    int32_t id;
    int32_t leader; /* -1: none */
    int32_t leader_epoch;
    int16_t error;
    int32_t replicas_count, isr_count;
};

struct spc_topic {
    char name[256];
    uint8_t id[16];
    int16_t error;
    bool internal;
    int32_t partitions_count;
    struct spc_partition *partitions; /* [partitions_count], by id */
};

/*
 * Refreshes the cache for these topics (NULL, 0: all topics), asking a
 * broker; done runs once it is answered (rc 0 or -errno). Topics that do
 * not exist are cached with their error (UNKNOWN_TOPIC_OR_PARTITION) for a
 * short while. allow_auto_create asks the broker to create them.
 */
int spc_metadata_refresh(struct spc_client *c, const char *const *topics, size_t n,
                         bool allow_auto_create, void (*done)(void *ctx, int rc), void *ctx);
/* Blocking form. */
int spc_metadata_sync(struct spc_client *c, const char *const *topics, size_t n,
                      bool allow_auto_create, struct spc_error *err);
/* Cached views (valid until the next spc_poll): NULL / -1 when unknown. */
const struct spc_topic *spc_topic_get(struct spc_client *c, const char *name);
int32_t spc_leader(struct spc_client *c, const char *topic, int32_t partition);
const struct spc_broker *spc_brokers(struct spc_client *c, size_t *count);
const char *spc_cluster_id(struct spc_client *c); /* "" when unknown */
int32_t spc_controller_id(struct spc_client *c);
/*
 * Tells the cache a request to topic's partition failed with a Kafka error
 * that means the route is stale (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
 * LEADER_NOT_AVAILABLE, FENCED_LEADER_EPOCH, UNKNOWN_TOPIC_ID, ...): a
 * refresh is scheduled (at most one in flight, with backoff).
 */
void spc_metadata_stale(struct spc_client *c, const char *topic);

/* ---- Producer -------------------------------------------------------------- */

struct spc_header {
    struct sp_slice key;   /* not NULL */
    struct sp_slice value; /* ptr NULL: null */
};

struct spc_record {
    struct sp_slice key;   /* ptr NULL: null */
    struct sp_slice value; /* ptr NULL: null */
    const struct spc_header *headers;
    size_t headers_count;
    int64_t timestamp_ms; /* -1: now */
};

struct spc_producer_config {
    int16_t acks;                /* -1 (all, default), 0, 1 */
    int32_t linger_ms;           /* default 5 */
    int32_t batch_bytes;         /* default 1 MiB: a partition's batch is sent when this full */
    enum sp_codec compression;   /* default SP_CODEC_NONE */
    bool idempotent;             /* default false; needs acks=-1 (InitProducerId, sequences) */
    int32_t delivery_timeout_ms; /* default 120000: a record not acknowledged by then fails */
    size_t buffer_bytes;         /* default 64 MiB: records held (spc_produce: -ENOBUFS above) */
    uint32_t max_inflight;       /* per partition, default 5 (1 keeps order without idempotence) */
    uint32_t lanes; /* default 1: set it to the client's `connections`; partition p's batches go
                       out on lane p % lanes, those of one lane and leader in one request */
};

void spc_producer_config_init(struct spc_producer_config *pc);

/* Delivery report: offset of the record, or err (code != 0). Runs from spc_poll. */
typedef void (*spc_delivery_fn)(void *opaque, const char *topic, int32_t partition, int64_t offset,
                                const struct spc_error *err);

struct spc_producer;

int spc_producer_new(struct spc_client *c, const struct spc_producer_config *pc,
                     struct spc_producer **out, struct spc_error *err);
/*
 * Queues a copy of r for topic's partition (-1: murmur2 of the key as
 * Kafka's default partitioner, or round robin for null keys). Returns 0,
 * -ENOBUFS (buffer full: poll and retry), -ENOENT (topic unknown after a
 * metadata refresh; err says which), -EINVAL (partition out of range).
 * fn (may be NULL) runs exactly once per queued record.
 */
int spc_produce(struct spc_producer *p, const char *topic, int32_t partition,
                const struct spc_record *r, spc_delivery_fn fn, void *opaque,
                struct spc_error *err);
/* Sends everything queued and waits for every delivery report (or timeout: -ETIMEDOUT). */
int spc_producer_flush(struct spc_producer *p, int timeout_ms);
/* Records queued or in flight. */
uint64_t spc_producer_pending(const struct spc_producer *p);
/* Fails what is still pending with -ECANCELED, then frees. */
void spc_producer_free(struct spc_producer *p);

/*
 * The core's hook into the producers (client.c calls it from every
 * spc_poll, before it waits): the producers of c created on this thread
 * close batches whose linger passed, send what is ready, retry what waited
 * out its backoff and fail records past delivery_timeout_ms. Returns the
 * milliseconds until the next such deadline (spc_poll waits no longer),
 * or -1 when none is pending.
 */
int spc_producer_tick(struct spc_client *c);

/* Murmur2 partitioner of Kafka's clients (for tests and the CLI). */
int32_t spc_partition_for_key(struct sp_slice key, int32_t partitions);

/* ---- Fetcher --------------------------------------------------------------- */

#define SPC_OFFSET_BEGINNING (-2)
#define SPC_OFFSET_END       (-1)

struct spc_fetcher_config {
    int32_t max_wait_ms;         /* default 500 */
    int32_t min_bytes;           /* default 1 */
    int32_t max_bytes;           /* default 50 MiB */
    int32_t partition_max_bytes; /* default 1 MiB */
    int8_t isolation;            /* 0 read_uncommitted (default), 1 read_committed */
};

void spc_fetcher_config_init(struct spc_fetcher_config *fc);

struct spc_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    bool log_append_time;
    struct sp_slice key;   /* ptr NULL: null */
    struct sp_slice value; /* ptr NULL: null */
    const struct spc_header *headers;
    size_t headers_count;
};

/* One record (valid during the call), or a partition's error (m NULL, err set;
 * spc_fetcher_error_partition says which partition). The callback may assign,
 * unassign, or free the fetcher. */
typedef void (*spc_message_fn)(void *ctx, const struct spc_message *m, const struct spc_error *err);

struct spc_fetcher;

int spc_fetcher_new(struct spc_client *c, const struct spc_fetcher_config *fc, spc_message_fn fn,
                    void *ctx, struct spc_fetcher **out, struct spc_error *err);
/*
 * Starts fetching topic's partition at offset (>= 0, SPC_OFFSET_BEGINNING
 * or SPC_OFFSET_END, resolved with ListOffsets). Fetches go to the leader
 * and follow it when it moves; OFFSET_OUT_OF_RANGE is reported and the
 * partition paused. Assigning a partition again seeks it (and resumes a
 * paused one). 0 or -errno.
 */
int spc_fetcher_assign(struct spc_fetcher *f, const char *topic, int32_t partition, int64_t offset);
/* 0, or -ENOENT when not assigned. */
int spc_fetcher_unassign(struct spc_fetcher *f, const char *topic, int32_t partition);
/* The next offset to deliver (-1: not assigned, or BEGINNING / END not resolved
 * yet), and the last high watermark seen (-1: not yet). */
int64_t spc_fetcher_position(const struct spc_fetcher *f, const char *topic, int32_t partition);
int64_t spc_fetcher_high_watermark(const struct spc_fetcher *f, const char *topic,
                                   int32_t partition);
/* Inside the callback, while it reports an error (m NULL): the partition the
 * error is about (*topic valid during the call). 0, or -ENOENT otherwise. */
int spc_fetcher_error_partition(const struct spc_fetcher *f, const char **topic,
                                int32_t *partition);
/* Stops fetching; requests in flight are dropped when they end (at the
 * latest in spc_client_free, which must come after). */
void spc_fetcher_free(struct spc_fetcher *f);
/*
 * The core's hook into the fetchers (client.c calls it from every
 * spc_poll, before it waits): the fetchers of c
 * created on this thread retry the partitions whose back-off after an
 * error has passed. Returns the milliseconds until the next such deadline
 * (spc_poll waits no longer), or -1 when none is pending.
 */
int spc_fetcher_tick(struct spc_client *c);

/* ---- Group consumer (client/group.c) --------------------------------------- */

/*
 * A member of a classic consumer group (JoinGroup/SyncGroup/Heartbeat with
 * the "consumer" protocol, range assignor when it is the leader). It feeds
 * a fetcher: the partitions it is given start at the group's committed
 * offsets, else at reset_offset; partitions taken away are unassigned.
 */
struct spc_group_config {
    const char *group_id;            /* required */
    const char *group_instance_id;   /* static membership, NULL: none */
    int32_t session_timeout_ms;      /* default 45000 */
    int32_t rebalance_timeout_ms;    /* default 60000 */
    int32_t heartbeat_interval_ms;   /* default 3000 */
    bool auto_commit;                /* default true: positions every auto_commit_interval_ms */
    int32_t auto_commit_interval_ms; /* default 5000 */
    int64_t reset_offset;            /* SPC_OFFSET_END (default) or SPC_OFFSET_BEGINNING */
};

void spc_group_config_init(struct spc_group_config *gc);

struct spc_group;

/* Starts joining; the fetcher gets its partitions once the group is stable. */
int spc_group_new(struct spc_client *c, const struct spc_group_config *gc, struct spc_fetcher *f,
                  const char *const *topics, size_t topics_count, struct spc_group **out,
                  struct spc_error *err);
/* Whether the member holds an assignment of the current generation. */
bool spc_group_stable(const struct spc_group *g);
/* Commits the fetcher's positions of the assigned partitions and waits. */
int spc_group_commit(struct spc_group *g, int timeout_ms, struct spc_error *err);
/* Commits (auto_commit), sends LeaveGroup (waits up to timeout_ms), frees. */
void spc_group_free(struct spc_group *g, int timeout_ms);
/*
 * spc_poll, then the member's due work at once (spc_poll runs it too,
 * through spc_group_tick). Returns spc_poll's result.
 */
int spc_group_poll(struct spc_group *g, int timeout_ms);
/*
 * The core's hook into the group members (for spc_poll to call, as it does
 * spc_producer_tick): the groups of c on this thread send what is due.
 * Returns the milliseconds until the next deadline, or -1 when none.
 */
int spc_group_tick(struct spc_client *c);
/* 0 while the member works; once it has failed for good (INVALID_GROUP_ID,
 * GROUP_AUTHORIZATION_FAILED, FENCED_INSTANCE_ID, ...), -errno with err filled. */
int spc_group_error(const struct spc_group *g, struct spc_error *err);
/*
 * Records that the application processed topic's partition up to
 * next_offset (the offset of the next record it wants). From the first
 * call on, commits use these offsets instead of the fetcher's positions, so
 * records the fetcher delivered but the application did not process are
 * not committed. 0, or -ENOENT when the partition is not assigned.
 */
int spc_group_store_offset(struct spc_group *g, const char *topic, int32_t partition,
                           int64_t next_offset);

/* ---- Admin (blocking; client/admin.c) ---------------------------------------- */

/*
 * Each call sends what it needs (to the controller, the coordinator or
 * every broker), waits up to timeout_ms, and returns 0 when the brokers
 * answered (per-item errors are in the results) or -errno when they could
 * not be asked (err filled). Result arrays the caller passes have one entry
 * per input item, in order; arrays the call returns live in the caller's
 * arena `a` (sp_arena_init / sp_arena_destroy). timeout_ms <= 0 means 30 s.
 *
 * When a whole call fails with a Kafka error, it returns an errno and
 * err->code keeps the Kafka code: -ENOENT (unknown topic or group), -EACCES
 * (authorization), -ENOTSUP (the broker lacks the API or version), -EINVAL,
 * -ETIMEDOUT (retriable errors that outlast the timeout), else -EIO.
 */

struct spc_item_result {
    struct spc_error err; /* code 0: done; else e.g. "...: topic \"x\": TOPIC_ALREADY_EXISTS" */
};

struct spc_kv {
    const char *name;
    const char *value; /* NULL: null */
};

struct spc_new_topic {
    const char *name;
    int32_t partitions;  /* -1: the broker's default */
    int16_t replication; /* -1: the broker's default */
    const struct spc_kv *configs;
    size_t configs_count;
};

int spc_admin_create_topics(struct spc_client *c, const struct spc_new_topic *topics, size_t n,
                            bool validate_only, int timeout_ms, struct spc_item_result *results,
                            struct spc_error *err);
int spc_admin_delete_topics(struct spc_client *c, const char *const *names, size_t n,
                            int timeout_ms, struct spc_item_result *results, struct spc_error *err);
/* Grows topic to total_partitions. */
int spc_admin_create_partitions(struct spc_client *c, const char *topic, int32_t total_partitions,
                                bool validate_only, int timeout_ms, struct spc_item_result *result,
                                struct spc_error *err);

#define SPC_TS_LATEST   (-1)
#define SPC_TS_EARLIEST (-2)

struct spc_offset {
    int32_t partition;
    int64_t offset; /* -1 when none */
    int64_t timestamp;
    int32_t leader_epoch;
    struct spc_error err;
};

/* ListOffsets of topic's partitions [n] at timestamp (ms, or SPC_TS_*), asked of each leader. */
int spc_admin_list_offsets(struct spc_client *c, const char *topic, const int32_t *partitions,
                           size_t n, int64_t timestamp, int timeout_ms, struct spc_offset *out,
                           struct spc_error *err);

/* Bytes on disk of each of topic's partitions [n] (DescribeLogDirs, summed over dirs; -1 unknown).
 */
int spc_admin_partition_sizes(struct spc_client *c, const char *topic, const int32_t *partitions,
                              size_t n, int timeout_ms, int64_t *sizes, struct spc_error *err);

#define SPC_RESOURCE_TOPIC  2
#define SPC_RESOURCE_BROKER 4

struct spc_config_value {
    const char *name;
    const char *value; /* NULL: null or sensitive */
    int8_t source;     /* Kafka's ConfigSource: 1 topic, 4 static broker, 5 default, ... */
    bool is_default;
    bool read_only;
    bool sensitive;
};

/* Every config of a resource (names NULL, 0: all). */
int spc_admin_describe_configs(struct spc_client *c, int8_t resource_type, const char *resource,
                               const char *const *names, size_t names_count, int timeout_ms,
                               struct sp_arena *a, struct spc_config_value **out, size_t *count,
                               struct spc_error *err);

enum spc_config_op {
    SPC_CONFIG_SET = 0,
    SPC_CONFIG_DELETE = 1,
    SPC_CONFIG_APPEND = 2,
    SPC_CONFIG_SUBTRACT = 3
};

struct spc_config_change {
    const char *name;
    const char *value; /* NULL for DELETE */
    enum spc_config_op op;
};

/* IncrementalAlterConfigs of one resource (to its broker for SPC_RESOURCE_BROKER). */
int spc_admin_alter_configs(struct spc_client *c, int8_t resource_type, const char *resource,
                            const struct spc_config_change *changes, size_t n, bool validate_only,
                            int timeout_ms, struct spc_item_result *result, struct spc_error *err);

struct spc_group_listing {
    const char *group_id;
    const char *protocol_type; /* "consumer", "" */
    const char *state;         /* "Stable", "Empty", ... ("" when the broker does not say) */
    int32_t coordinator;
};

/* ListGroups of every broker, merged. */
int spc_admin_list_groups(struct spc_client *c, int timeout_ms, struct sp_arena *a,
                          struct spc_group_listing **out, size_t *count, struct spc_error *err);

struct spc_topic_partitions {
    const char *topic;
    int32_t *partitions;
    size_t count;
};

struct spc_group_member {
    const char *member_id;
    const char *group_instance_id; /* NULL: none */
    const char *client_id;
    const char *client_host;
    struct spc_topic_partitions *assignment; /* decoded consumer-protocol assignment */
    size_t assignment_count;
};

struct spc_group_description {
    const char *group_id;
    const char *state;
    const char *protocol_type;
    const char *protocol; /* the assignor, "" when none */
    int32_t coordinator;
    struct spc_group_member *members;
    size_t members_count;
    struct spc_error err; /* e.g. GROUP_ID_NOT_FOUND */
};

/* DescribeGroups, asked of the group's coordinator. */
int spc_admin_describe_group(struct spc_client *c, const char *group, int timeout_ms,
                             struct sp_arena *a, struct spc_group_description *out,
                             struct spc_error *err);
int spc_admin_delete_groups(struct spc_client *c, const char *const *groups, size_t n,
                            int timeout_ms, struct spc_item_result *results, struct spc_error *err);

struct spc_group_offset {
    const char *topic;
    int32_t partition;
    int64_t offset; /* -1: none committed */
    const char *metadata;
    struct spc_error err;
};

/* OffsetFetch: every committed offset of group (topics NULL, 0), or of these topics. */
int spc_admin_fetch_offsets(struct spc_client *c, const char *group, const char *const *topics,
                            size_t topics_count, int timeout_ms, struct sp_arena *a,
                            struct spc_group_offset **out, size_t *count, struct spc_error *err);
/* OffsetCommit outside any generation (the group must be empty): offsets[n].err is filled. */
int spc_admin_commit_offsets(struct spc_client *c, const char *group,
                             struct spc_group_offset *offsets, size_t n, int timeout_ms,
                             struct spc_error *err);

#endif /* SP_CLIENT_SPC_H */
