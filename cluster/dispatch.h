/*
 * cluster/dispatch.h: the broker's request dispatcher, the handler that
 * net/conn.h calls for every request frame.
 *
 * A request is decoded into a per-request arena, routed by ApiKey through
 * a table of handlers, and answered with a response encoded into the same
 * arena, which is freed once net has sent the bytes. The handler table is
 * also what ApiVersions advertises: exactly the APIs that have a handler,
 * at the versions the handler implements (never above the specs' highest
 * stable version).
 *
 * What Kafka does with bad input, we do: a malformed frame or header, an
 * unknown ApiKey or one without a handler closes the connection with a log
 * line; an unsupported version of a served API is answered with
 * UNSUPPORTED_VERSION, and for ApiVersions with the v0 answer that lists
 * our versions (KIP-511), so a newer client can retry with one of them.
 *
 * Threads: sp_dispatch_init on the main thread before the shards start;
 * sp_dispatch_request on any shard. The parameters are read-only while the
 * shards run.
 */
#ifndef SP_CLUSTER_DISPATCH_H
#define SP_CLUSTER_DISPATCH_H

#include <stdint.h>

#include "net/conn.h"
#include "net/listener.h"

struct sp_dispatch_params {
    int32_t node_id;
    const char *cluster_id; /* borrowed for the run */
    /* Per bound listener (same index as net's), the host and port clients are told. */
    const struct sp_listener_set *advertised;
};

/* Checks the handler table against the protocol's. params is borrowed for the run. 0 or -EINVAL. */
int sp_dispatch_init(const struct sp_dispatch_params *params);

/* net's request handler (struct sp_net_handler.request); ctx is unused. */
void sp_dispatch_request(void *ctx, struct sp_net_req *req);

#endif /* SP_CLUSTER_DISPATCH_H */
