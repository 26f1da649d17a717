/*
 * net/conn.h: a shard's Kafka connections, from accept to the last byte
 * of the last response.
 *
 * Each shard binds its own SO_REUSEPORT socket per listener (the kernel
 * spreads connections over the shards) and owns every connection it
 * accepts. One connection's life, all on the shard's ring:
 *
 *   accept (multishot where available)
 *     -> recv (multishot into the shard's provided-buffer ring, or plain
 *        recv into the connection's own buffer)
 *     -> net/frame.h cuts frames: in place in a provided buffer (the buffer
 *        is pinned until the request ends) or assembled into a buffer
 *        charged to the shard memory budget
 *     -> one struct sp_net_req per frame, in arrival order, handed to the
 *        handler, which completes it now or later with sp_net_req_done()
 *     -> responses leave strictly in request order, several at once in one
 *        sendmsg; a request completed without a response (acks=0) takes no
 *        place in the output
 *
 * Backpressure: reading stops (the multishot recv is cancelled, bytes
 * already received wait in the connection) while SP_NET_INFLIGHT_MAX
 * requests are unanswered, while the framer cannot get memory for an
 * assembly buffer, and during shutdown; it resumes when that clears.
 *
 * Closing: a frame size outside [1, socket.request.max.bytes], a request
 * the handler rejects (sp_net_req_done with close), peer EOF or error,
 * connections.max.idle.ms without traffic, and max.connections exceeded
 * all close the connection with a log line. A request the handler still
 * holds when its connection closes stays valid: sp_net_req_done() then
 * just frees it. Requests name their connection by a {slot, generation}
 * handle (core/handle.h), so a reply from another shard can find out that
 * the connection is gone.
 *
 * Threads: every function runs on a shard thread, about that shard, after
 * sp_net_shard_start() there; max.connections is one process-wide count.
 */
#ifndef SP_NET_CONN_H
#define SP_NET_CONN_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/uio.h>

#include "core/handle.h"
#include "core/sp.h"
#include "net/listener.h"

#define SP_NET_INFLIGHT_MAX    64    /* unanswered requests per connection before reading stops */
#define SP_NET_CONNS_SHARD_MAX 16384 /* connections per shard */
#define SP_NET_RESP_IOV_MAX    4     /* pieces of one response */
#define SP_NET_SEND_IOV_MAX    64    /* iovecs in one sendmsg */
#define SP_NET_RECV_BUF_BYTES  16384
#define SP_NET_BUFRING_COUNT   256 /* provided buffers per shard (power of two) */
#define SP_NET_STALL_RETRY_MS  10  /* retry an assembly the memory budget refused */

/*
 * A response, embedded in the handler's own per-request state. The bytes
 * (iov) are borrowed by the connection until `sent` is called: after the
 * last byte was written, or when the connection closed first. `sent` runs
 * on this shard and gives the memory back to the handler.
 */
struct sp_net_resp {
    struct iovec iov[SP_NET_RESP_IOV_MAX];
    int iovcnt;
    void (*sent)(struct sp_net_resp *resp);
};

/* One request frame. Owned by net; the handler borrows it until sp_net_req_done(). */
struct sp_net_req {
    struct sp_slice frame; /* size prefix excluded; valid until sp_net_req_done() */
    sp_handle conn;        /* the connection, on shard `shard` */
    uint16_t shard;
    uint16_t listener; /* index into sp_net_params.listeners */
    /* net's own from here */
    struct sp_net_req *next;
    struct sp_net_resp *resp;
    uint8_t *owned; /* assembled frame buffer (budget-charged), or NULL */
    uint32_t owned_len;
    void *chunk; /* received chunk the frame lies in, pinned, or NULL */
    bool done;
    bool close;
};

struct sp_net_handler {
    /* Called once per frame, in arrival order, on the connection's shard. */
    void (*request)(void *ctx, struct sp_net_req *req);
    void *ctx;
};

struct sp_net_params {
    const struct sp_listener_set *listeners; /* ports already resolved; borrowed for the run */
    uint32_t request_max_bytes;              /* socket.request.max.bytes */
    int64_t max_connections;                 /* process-wide */
    int64_t idle_ms;                         /* connections.max.idle.ms; < 0 never */
    struct sp_net_handler handler;
};

/*
 * On a shard (the reactor's init hook): binds this shard's listening
 * sockets and starts accepting. params is borrowed until sp_net_shard_fini.
 * 0 or -errno.
 */
int sp_net_shard_start(const struct sp_net_params *params);
/* The reactor's stopping hook: stop accepting and reading, answer what is in flight, close. */
void sp_net_shard_stop(void);
/* The reactor's fini hook: frees what is left (connections the drain timed out on). */
void sp_net_shard_fini(void);

/*
 * Completes req. resp: the response to queue, or NULL for none (acks=0).
 * close: close the connection after the responses queued before this one
 * (the request was malformed or refused). req is freed by net; the handler
 * must not touch it afterwards.
 */
void sp_net_req_done(struct sp_net_req *req, struct sp_net_resp *resp, bool close);

/* Connections open in the whole process (for tests and metrics). */
int64_t sp_net_connections(void);

#endif /* SP_NET_CONN_H */
