/*
 * cluster/dispatch_impl.h: what the dispatcher (cluster/dispatch.c) and
 * the API handlers (cluster/api_*.c) share. Private to cluster/.
 *
 * A handler fills the response body of its API from the decoded request
 * body. Everything it allocates comes from the request's arena (borrowed),
 * which lives until the response has been sent. `error` is 0, or a Kafka
 * error code to answer with instead of doing the work (the version was
 * unsupported); `body` may then be NULL when the request could not be read.
 */
#ifndef SP_CLUSTER_DISPATCH_IMPL_H
#define SP_CLUSTER_DISPATCH_IMPL_H

#include "cluster/dispatch.h"
#include "protocol/kproto.h"

#define SP_KERR_NONE                       0
#define SP_KERR_UNKNOWN_TOPIC_OR_PARTITION 3
#define SP_KERR_UNSUPPORTED_VERSION        35
#define SP_KERR_UNKNOWN_TOPIC_ID           100

struct sp_api_call {
    const struct sp_dispatch_params *params;
    uint16_t listener; /* the listener the request came in on */
    int16_t version;
    int16_t error;
    const void *body; /* struct kproto_<api>_request, or NULL */
    struct sp_arena *arena;
};

/* Fills resp (already _init()ed). 0, or -ENOMEM when the arena is full. */
typedef int (*sp_api_fn)(const struct sp_api_call *call, void *resp);

struct sp_api_handler {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
    sp_api_fn fn;
};

int sp_api_versions(const struct sp_api_call *call, void *resp);
int sp_api_metadata(const struct sp_api_call *call, void *resp);

/* The handler table, ordered by key. */
extern const struct sp_api_handler sp_api_handlers[];
extern const int sp_api_handlers_count;

#endif /* SP_CLUSTER_DISPATCH_IMPL_H */
