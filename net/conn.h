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
 *        charged to the shard memory budget (the rest of a large frame is
 *        received straight into that buffer by plain recvs)
 *     -> one struct sp_net_req per frame, in arrival order, handed to the
 *        handler, which completes it now or later with sp_net_req_done()
 *     -> responses leave strictly in request order, several at once in one
 *        sendmsg; a request completed without a response (acks=0) takes no
 *        place in the output
 *
 * Backpressure and memory. Reading a socket stops (the multishot recv is
 * cancelled; bytes already received wait in the connection, unframed)
 * while any of these holds, and resumes when it clears:
 *
 *   - SP_NET_INFLIGHT_MAX requests of the connection are unanswered or
 *     answered and not yet sent;
 *   - SP_NET_CONN_QUEUED_BYTES_MAX or more response bytes of the
 *     connection are held: waiting to be sent, or sent zero-copy and not
 *     yet released by the kernel (a client that stops reading its socket
 *     costs at most this plus the answers to the requests it had already
 *     sent, of which there are at most SP_NET_INFLIGHT_MAX);
 *   - the shard's net memory is over its bound (below), and the connection
 *     already holds a request or answer; one that holds none may still take
 *     one at a time, so a few clients that stop reading cannot starve the
 *     others on the shard, and one that is filling an assembly buffer
 *     finishes that frame (its memory is already paid for);
 *   - the shard budget (core/mem.h) is under pressure, or refuses a receive
 *     chunk, a request or an assembly buffer (retried every
 *     SP_NET_STALL_RETRY_MS);
 *   - the shard is stopping.
 *
 * The shard bound: net counts what it holds on a shard, namely assembly
 * buffers of frames (finished or not) whose request is unanswered, pooled
 * receive chunks, and the bytes of responses held as above. Past
 * 1/SP_NET_SHARD_HELD_DIV of the shard budget's limit, reading stops as
 * above; it resumes below 3/4 of that. Responses are the handlers' memory
 * (not charged to the budget by net) but count here all the same. Sending
 * never stops, and every request handed to a handler is answered without
 * more input, so memory always drains: no deadlock. The provided-buffer
 * ring is a fixed reservation of the budget and not counted again.
 *
 * Sending: the responses of the longest answered prefix of the queue leave
 * together in one sendmsg (up to SP_NET_SEND_IOV_MAX pieces), in request
 * order; a short send is resumed where it stopped before anything later is
 * sent. A batch of SP_NET_ZC_MIN_BYTES or more goes out zero-copy
 * (IORING_OP_SENDMSG_ZC) where the ring has it; its responses are released
 * (`sent`) only after the kernel's notification that it no longer reads
 * their pages, which comes with the peer's ACK. The next batch does not
 * wait for it: up to SP_NET_ZC_SENDS_MAX zero-copy sends per connection
 * await their notifications at once. The log says at start whether
 * zero-copy is on, and at stop how many sends went out zero-copy.
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
#define SP_NET_RESP_IOV_MAX    8     /* pieces of one response (a Fetch: header, batches) */
#define SP_NET_SEND_IOV_MAX    64    /* iovecs in one sendmsg */
#define SP_NET_RECV_BUF_BYTES  16384
#define SP_NET_BUFRING_COUNT   256 /* provided buffers per shard (power of two) */
#define SP_NET_STALL_RETRY_MS  10  /* retry an assembly the memory budget refused */
/* Queued response bytes of one connection past which its reading stops. */
#define SP_NET_CONN_QUEUED_BYTES_MAX (4u << 20)
/* net may hold 1/SP_NET_SHARD_HELD_DIV of the shard budget's limit before reading stops. */
#define SP_NET_SHARD_HELD_DIV 4
/*
 * Sends of at least this many bytes go out zero-copy. Below it the copy
 * into the socket buffer costs less than what zero-copy adds per send:
 * pinning the pages, a second completion, and holding the response until
 * the peer has acknowledged the bytes. Measurements of MSG_ZEROCOPY put
 * the break-even around 10-32 KiB on real NICs; 64 KiB keeps small
 * Metadata and Produce answers on the plain path and sends large Fetch
 * responses without copying them.
 */
#define SP_NET_ZC_MIN_BYTES (64u * 1024)
/*
 * Zero-copy sends of one connection awaiting their notification. The next
 * send need not wait for the previous one's notification (which comes with
 * the peer's ACK), only for a free slot.
 */
#define SP_NET_ZC_SENDS_MAX 4

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
    void *chunk;         /* received chunk the frame lies in, pinned, or NULL */
    uint64_t resp_bytes; /* of resp, counted in the connection's and shard's queued bytes */
    uint64_t zc_after;   /* sent: freed once zero-copy sends up to this one have notified */
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

/*
 * The peer's address of a connection of this shard, "host:port" (the
 * connection's memory, valid while it is open), or NULL once it closed.
 */
const char *sp_net_conn_peer(sp_handle conn);

/* Connections open in the whole process (for tests and metrics). */
int64_t sp_net_connections(void);

/* A shard's counters, since sp_net_shard_start(). */
struct sp_net_stats {
    uint64_t resp_sent;       /* responses written out */
    uint64_t resp_bytes_sent; /* their bytes */
    uint64_t zc_sends;        /* zero-copy sends submitted */
    uint64_t short_sends;     /* sends that wrote part of their bytes, resumed */
    uint64_t parks;           /* times a connection stopped reading over the shard bound */
    uint64_t direct_bytes;    /* received straight into assembly buffers (large frames) */
    uint64_t held_bytes;      /* memory net holds now (see above) */
    uint64_t held_max;        /* the shard bound */
};

/* On a shard, after sp_net_shard_start(): that shard's counters into *out. */
void sp_net_shard_stats(struct sp_net_stats *out);

#endif /* SP_NET_CONN_H */
