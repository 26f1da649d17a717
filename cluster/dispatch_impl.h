/*
 * cluster/dispatch_impl.h: what the dispatcher (cluster/dispatch.c) and
 * the API handlers (cluster/api_*.c) share. Private to cluster/.
 *
 * A handler fills the response body of its API from the decoded request
 * body, now or later:
 *
 *   return 0                the response is complete;
 *   return SP_API_PENDING   the handler went asynchronous (cross-shard work,
 *                           a long poll, a disk read) and will call
 *                           sp_api_done() exactly once, later, on this shard;
 *   return SP_API_NO_RESPONSE  complete, and nothing is sent (acks=0);
 *   return -errno           the request cannot be answered: the connection is
 *                           closed with a log line (-EPROTO: acks=0 failed).
 *
 * Everything a handler allocates for the response comes from the request's
 * arena, which lives until the response has been sent. The arena belongs
 * to the connection's shard: work running on another shard must not
 * allocate from it (give it its own memory, or results to fill in).
 * `error` is 0, or a Kafka error code to answer with instead of doing the
 * work (the version was unsupported); `body` may then be NULL when the
 * request could not be read.
 */
#ifndef SP_CLUSTER_DISPATCH_IMPL_H
#define SP_CLUSTER_DISPATCH_IMPL_H

#include "cluster/dispatch.h"
#include "protocol/kproto.h"

#define SP_API_PENDING     1
#define SP_API_NO_RESPONSE 2

/* Work to do once a call's response has been encoded (or dropped). */
struct sp_api_cleanup {
    void (*fn)(struct sp_api_cleanup *c);
    struct sp_api_cleanup *next;
};

struct sp_api_call {
    const struct sp_dispatch_params *params;
    uint16_t listener; /* the listener the request came in on */
    int16_t version;
    int16_t error;
    const void *body; /* struct kproto_<api>_request, or NULL */
    void *resp;       /* struct kproto_<api>_response, already _init()ed */
    struct sp_arena *arena;
    const struct kproto_request_header *header; /* ClientId etc. */
    sp_handle conn;                             /* the connection, on this shard */
    struct sp_api_cleanup *cleanups;            /* dispatch.c's: sp_api_on_finish */
};

/* Fills call->resp, or goes asynchronous (see the top). */
typedef int (*sp_api_fn)(struct sp_api_call *call);

/* Ends an SP_API_PENDING call: rc as a handler's return value, never SP_API_PENDING. */
void sp_api_done(struct sp_api_call *call, int rc);
/*
 * Runs c->fn on this shard right after the response has been encoded
 * (copied out of whatever it pointed to), or when the call ends without
 * one. Latest registered runs first.
 */
void sp_api_on_finish(struct sp_api_call *call, struct sp_api_cleanup *c);

struct sp_api_handler {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
    sp_api_fn fn;
};

/* One per API, each in its cluster/api_*.c. */
int sp_api_produce(struct sp_api_call *call);
int sp_api_fetch(struct sp_api_call *call);
int sp_api_list_offsets(struct sp_api_call *call);
int sp_api_metadata(struct sp_api_call *call);
int sp_api_versions(struct sp_api_call *call);
int sp_api_create_topics(struct sp_api_call *call);
int sp_api_delete_topics(struct sp_api_call *call);
int sp_api_init_producer_id(struct sp_api_call *call);
int sp_api_create_partitions(struct sp_api_call *call);
/* Consumer groups (cluster/group.h). */
int sp_api_offset_commit(struct sp_api_call *call);
int sp_api_offset_fetch(struct sp_api_call *call);
int sp_api_offset_delete(struct sp_api_call *call);
int sp_api_find_coordinator(struct sp_api_call *call);
int sp_api_join_group(struct sp_api_call *call);
int sp_api_heartbeat(struct sp_api_call *call);
int sp_api_leave_group(struct sp_api_call *call);
int sp_api_sync_group(struct sp_api_call *call);
int sp_api_describe_groups(struct sp_api_call *call);
int sp_api_list_groups(struct sp_api_call *call);
int sp_api_delete_groups(struct sp_api_call *call);
int sp_api_consumer_group_heartbeat(struct sp_api_call *call);
int sp_api_consumer_group_describe(struct sp_api_call *call);
/* Configs (cluster/api_configs.c). */
int sp_api_describe_configs(struct sp_api_call *call);
int sp_api_alter_configs(struct sp_api_call *call);
int sp_api_incremental_alter_configs(struct sp_api_call *call);
/* Admin APIs (cluster/api_admin.c, cluster/api_admin_parts.c). */
int sp_api_delete_records(struct sp_api_call *call);
int sp_api_offset_for_leader_epoch(struct sp_api_call *call);
int sp_api_describe_log_dirs(struct sp_api_call *call);
int sp_api_elect_leaders(struct sp_api_call *call);
int sp_api_describe_producers(struct sp_api_call *call);
int sp_api_describe_cluster(struct sp_api_call *call);
int sp_api_describe_topic_partitions(struct sp_api_call *call);

/* The handler table, ordered by key. */
extern const struct sp_api_handler sp_api_handlers[];
extern const int sp_api_handlers_count;

#endif /* SP_CLUSTER_DISPATCH_IMPL_H */
