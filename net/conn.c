/*
 * net/conn.c: listeners, connections and their ordered request queues
 * (net/conn.h).
 *
 * Received bytes live in chunks. With a provided-buffer ring a chunk is one
 * ring buffer (indexed by its buffer id); without one it is a budget-charged
 * buffer of the shard's chunk pool that a plain recv filled. A chunk waits
 * on its connection's input list until the framer has walked it, and is
 * pinned by every request whose frame lies in place inside it:
 *
 *   conn input: [chunk 7: off..len] -> [chunk 9] -> NULL
 *   chunk refs: 1 while on the input list + 1 per in-place request
 *   refs 0: provided buffer recycled to the ring / pool chunk put back
 *
 * A connection's requests form a FIFO; the head's responses go out in one
 * sendmsg as soon as a prefix of the queue is done:
 *
 *   q_head -> [done, resp] -> [done, none] -> [done, resp] -> [waiting] -> ...
 *              \------------- one sendmsg -------------/
 *
 * A zero-copy send completes twice: the result (SP_IO_F_MORE), then the
 * notification, which comes once the peer has acknowledged the bytes. The
 * result is handled like a plain send's (a short send goes on at once, in
 * another of the connection's zero-copy slots); the requests of a batch
 * whose bytes went out are moved to the `sent` list, still counted in
 * queued_bytes, and released once every zero-copy send issued before
 * they left has notified:
 *
 *   q_head -> [waiting] ...         sent -> [req, zc_after 7] -> [req, 9]
 *   zc slots: {seq 7, busy} {seq 8, busy} {seq 9, busy} {free}
 *
 * A connection that closes with notifications outstanding closes its
 * socket once no send awaits its result (with a reset unless the close is
 * graceful, so the kernel drops the queued bytes and the pages go at once)
 * and frees itself after the last notification.
 *
 * A large frame is received in place. Once the framer has walked every
 * chunk received and still misses RECV_DIRECT_MIN_BYTES or more of
 * a frame it is assembling, the multishot recv is cancelled; when its last
 * completion is in and the chunks it brought are framed, plain recvs read
 * the rest straight into the assembly buffer at its fill point, so those
 * bytes are not copied out of ring buffers one by one:
 *
 *   assembly buffer: [ from chunks | recv | recv |  missing  ]
 *                                                 ^ sp_framer_tail()
 *
 * When the frame is complete it is handed on like any assembled frame.
 * A multishot recv re-armed at once would take the next frame into ring
 * buffers too, as fast as the peer sends it, so after a large frame the
 * connection reads frame by frame: one plain recv into a pool chunk (the
 * next size prefix and the first bytes of its frame, or several small
 * frames), then plain recvs into the assembly buffer. A frame that lies in
 * place in such a chunk (the peer sends small frames again) brings the
 * multishot recv back. Without a buffer ring every recv is a plain one
 * and goes into the assembly buffer likewise whenever a frame is being
 * assembled. A recv into an assembly buffer writes into memory the
 * connection owns, so the buffer stays allocated until the recv has
 * completed, even when the connection closes first.
 *
 * Memory held (net/conn.h): ns->held_bytes counts assembly buffers, pooled
 * receive chunks and queued response bytes; c->queued_bytes the latter per
 * connection. Connections stopped by the shard bound wait on ns->parked
 * and are kicked when held_bytes falls below the low mark.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rx.h"
#include "net/conn.h"
#include "net/frame.h"
#include "net/iov.h"

#define ACCEPT_RETRY_MS 100
#define PEER_NAME_MAX   64

/*
 * A frame still missing this many bytes once the received chunks are framed
 * is read straight into its assembly buffer (the multishot recv stops for
 * it); below it the cancel costs more than the copies it saves.
 */
#define RECV_DIRECT_MIN_BYTES (64u * 1024)

static_assert((SP_NET_BUFRING_COUNT & (SP_NET_BUFRING_COUNT - 1)) == 0, "ring size: power of 2");
static_assert(SP_NET_RESP_IOV_MAX <= SP_NET_SEND_IOV_MAX, "one response fits in one sendmsg");
static_assert(SP_NET_SHARD_HELD_DIV >= 2, "net leaves most of the budget to the rest");

struct chunk {
    uint8_t *data;
    struct chunk *next;
    uint32_t refs;
    uint32_t off;
    uint32_t len;
    int32_t bid; /* provided buffer id, or -1 for a pool chunk */
};

struct net_listen {
    struct sp_io_op op;
    struct sp_io_op cancel_op;
    struct sp_timer retry;
    int fd;
    uint16_t index;
    bool armed;
};

struct conn;

struct zc_slot {
    struct sp_io_op op;
    struct conn *conn;
    uint64_t seq;
    bool busy;
};

struct conn {
    struct sp_io_op recv_op;
    struct sp_io_op send_op;
    struct sp_io_op cancel_op;
    struct sp_io_op close_op;
    struct sp_timer idle_timer;
    struct sp_timer stall_timer;
    struct sp_task task;
    int fd;
    sp_handle h;
    uint16_t listener;
    struct sp_framer framer;
    struct chunk *in_head, *in_tail; /* received, not yet framed */
    struct chunk *rchunk;            /* plain recv target while armed */
    struct sp_net_req *spare;        /* a request reserved before framing */
    struct sp_net_req *q_head, *q_tail;
    uint32_t q_count;
    uint32_t batch_count; /* requests from q_head in the send in flight */
    bool batch_close;     /* the batch ends with a request that closes */
    struct iovec siov[SP_NET_SEND_IOV_MAX];
    int siov_first, siov_count;
    uint64_t last_ns;
    uint64_t queued_bytes; /* of answered requests' responses not yet released */
    struct zc_slot zc[SP_NET_ZC_SENDS_MAX];
    uint64_t zc_seq;                     /* of the last zero-copy send issued */
    uint32_t zc_busy;                    /* slots awaiting their notification */
    struct sp_net_req *sent, *sent_tail; /* sent, their pages maybe still read by the kernel */
    bool task_queued, recv_armed, cancel_inflight, closing, close_submitted;
    bool recv_direct;    /* the armed recv reads into the framer's assembly buffer */
    bool frame_by_frame; /* the last frame was large: read the next one with plain recvs */
    bool sending;        /* a batch is being sent */
    bool result_wait;    /* a send (plain or zero-copy) awaits its result */
    bool zc_blocked;     /* the batch waits for a free zero-copy slot */
    bool graceful;       /* closing: let queued bytes reach the peer */
    bool draining, stalled, starved;
    bool peer_eof;            /* the peer sent FIN: take what came before, then close */
    bool fd_closed;           /* the close completed; the memory waits for notifications */
    bool parked;              /* on ns->parked */
    struct conn *prev, *next; /* the shard's open connections */
    struct conn *starve_next; /* waiting for provided buffers */
    struct conn *park_prev, *park_next; /* stopped by the shard bound */
    char peer[PEER_NAME_MAX];
};

struct net_shard {
    const struct sp_net_params *p;
    struct sp_io *io;
    struct sp_mem_budget *mem;
    struct sp_io_bufring *br;
    struct chunk *bufs; /* per provided buffer */
    struct sp_pool chunk_pool;
    struct sp_pool req_pool;
    struct sp_handles conns;
    struct net_listen lst[SP_LISTENERS_MAX];
    int lst_count;
    struct conn *all;
    struct conn *starved;
    struct sp_task starve_task;
    bool starve_queued;
    bool stopping;
    bool zc; /* zero-copy sends available */
    /* Memory net holds on this shard (net/conn.h): the bound, with hysteresis. */
    uint64_t held_bytes, held_max, held_low;
    bool over;
    struct conn *parked;
    struct sp_task resume_task;
    bool resume_queued;
    /* For the log at stop and for tests. */
    uint64_t resp_sent, resp_bytes_sent, zc_sends, short_sends, parks;
    uint64_t direct_bytes, direct_recvs; /* received straight into assembly buffers */
};

static _Thread_local struct net_shard *ns;
static atomic_int_least64_t conns_open;

const char *sp_net_conn_peer(sp_handle conn)
{
    struct conn *c = ns != NULL ? sp_handles_get(&ns->conns, conn) : NULL;
    return c != NULL ? c->peer : NULL;
}

int64_t sp_net_connections(void)
{
    return atomic_load(&conns_open);
}

void sp_net_shard_stats(struct sp_net_stats *out)
{
    *out = (struct sp_net_stats){
        .resp_sent = ns->resp_sent,
        .resp_bytes_sent = ns->resp_bytes_sent,
        .zc_sends = ns->zc_sends,
        .short_sends = ns->short_sends,
        .parks = ns->parks,
        .direct_bytes = ns->direct_bytes,
        .held_bytes = ns->held_bytes,
        .held_max = ns->held_max,
    };
}

static void conn_kick(struct conn *c);
static void conn_close(struct conn *c);
static void conn_maybe_finish(struct conn *c);

/* ---- memory held, and the shard bound ----------------------------------- */

#define CHUNK_POOL_BYTES ((uint64_t)sizeof(struct chunk) + SP_NET_RECV_BUF_BYTES)

/* Whether the shard is over its bound: on at held_max, off again below held_low. */
static bool shard_over(void)
{
    if (ns->over && ns->held_bytes < ns->held_low) {
        ns->over = false;
    } else if (!ns->over && ns->held_bytes >= ns->held_max) {
        ns->over = true;
        sp_log_debug("shard %d: net holds %llu bytes: connections holding requests stop reading",
                     sp_rx_shard_id(), (unsigned long long)ns->held_bytes);
    }
    return ns->over;
}

static void held_add(uint64_t bytes)
{
    ns->held_bytes += bytes;
}

static void held_sub(uint64_t bytes)
{
    SP_ASSERT(ns->held_bytes >= bytes);
    ns->held_bytes -= bytes;
    if (ns->parked != NULL && !ns->resume_queued && !shard_over()) {
        ns->resume_queued = true;
        sp_rx_defer(&ns->resume_task);
    }
}

static void conn_park(struct conn *c)
{
    SP_ASSERT(!c->parked);
    c->parked = true;
    c->park_prev = NULL;
    c->park_next = ns->parked;
    if (ns->parked != NULL) {
        ns->parked->park_prev = c;
    }
    ns->parked = c;
    ns->parks++;
}

static void conn_unpark(struct conn *c)
{
    if (!c->parked) {
        return;
    }
    if (c->park_prev != NULL) {
        c->park_prev->park_next = c->park_next;
    } else {
        ns->parked = c->park_next;
    }
    if (c->park_next != NULL) {
        c->park_next->park_prev = c->park_prev;
    }
    c->parked = false;
    c->park_prev = c->park_next = NULL;
}

static void resume_run(struct sp_task *t)
{
    ns->resume_queued = false;
    if (shard_over()) {
        return; /* back over meanwhile: the next release queues this again */
    }
    while (ns->parked != NULL) {
        struct conn *c = ns->parked;
        conn_unpark(c);
        conn_kick(c);
    }
}

/* ---- chunks ---------------------------------------------------------- */

static void chunk_unref(struct chunk *ch)
{
    SP_ASSERT(ch->refs > 0);
    if (--ch->refs > 0) {
        return;
    }
    if (ch->bid >= 0) {
        sp_io_bufring_recycle(ns->br, (uint16_t)ch->bid);
        if (ns->starved != NULL && !ns->starve_queued) {
            ns->starve_queued = true;
            sp_rx_defer(&ns->starve_task);
        }
    } else {
        sp_pool_put(&ns->chunk_pool, ch);
        held_sub(CHUNK_POOL_BYTES);
    }
}

static struct chunk *chunk_pool_get(void)
{
    struct chunk *ch = sp_pool_get(&ns->chunk_pool);
    if (ch != NULL) {
        memset(ch, 0, sizeof(*ch));
        ch->data = (uint8_t *)(ch + 1);
        ch->bid = -1;
        held_add(CHUNK_POOL_BYTES);
    }
    return ch;
}

static void starve_run(struct sp_task *t)
{
    ns->starve_queued = false;
    struct conn *c = ns->starved;
    ns->starved = NULL;
    while (c != NULL) {
        struct conn *next = c->starve_next;
        c->starved = false;
        c->starve_next = NULL;
        conn_kick(c);
        c = next;
    }
}

/* ---- requests -------------------------------------------------------- */

static void req_free(struct sp_net_req *req)
{
    if (req->resp_bytes > 0) {
        held_sub(req->resp_bytes);
        req->resp_bytes = 0;
    }
    if (req->resp != NULL) {
        req->resp->sent(req->resp);
        req->resp = NULL;
    }
    sp_pool_put(&ns->req_pool, req);
}

void sp_net_req_done(struct sp_net_req *req, struct sp_net_resp *resp, bool close)
{
    SP_ASSERT(!req->done);
    SP_ASSERT(resp == NULL || resp->sent != NULL);
    req->done = true;
    req->resp = resp;
    req->close = close;
    /* Responses never borrow the frame, so its memory goes back at once. */
    if (req->owned != NULL) {
        sp_mem_free(ns->mem, req->owned, req->owned_len);
        held_sub(req->owned_len);
        req->owned = NULL;
    }
    if (req->chunk != NULL) {
        chunk_unref(req->chunk);
        req->chunk = NULL;
    }
    struct conn *c = sp_handles_get(&ns->conns, req->conn);
    if (c == NULL) {
        req_free(req); /* the connection closed meanwhile */
        return;
    }
    if (resp != NULL) {
        SP_ASSERT(resp->iovcnt >= 0 && resp->iovcnt <= SP_NET_RESP_IOV_MAX);
        uint64_t bytes = 0;
        for (int i = 0; i < resp->iovcnt; i++) {
            bytes += resp->iov[i].iov_len;
        }
        req->resp_bytes = bytes;
        c->queued_bytes += bytes;
        held_add(bytes);
    }
    conn_kick(c);
}

/* ---- receiving and framing -------------------------------------------- */

static void *frame_alloc(void *ctx, uint32_t size)
{
    void *p = sp_mem_alloc(ns->mem, size);
    if (p != NULL) {
        held_add(size);
    }
    return p;
}

/*
 * Over the shard bound, a connection that holds a request stops reading,
 * unless it is filling an assembly buffer: that frame is paid for already.
 */
static bool conn_held_back(const struct conn *c)
{
    bool holds = c->q_count > 0 || c->queued_bytes > 0;
    return holds && !sp_framer_assembling(&c->framer) && shard_over();
}

/* Whether the connection may take more requests: frame what it received, and read. */
static bool conn_may_read(const struct conn *c)
{
    return !c->closing && !c->draining && !c->stalled && c->q_count < SP_NET_INFLIGHT_MAX &&
           c->queued_bytes < SP_NET_CONN_QUEUED_BYTES_MAX && !conn_held_back(c);
}

static void stall_fire(struct sp_timer *t)
{
    struct conn *c = sp_container_of(t, struct conn, stall_timer);
    c->stalled = false;
    conn_kick(c);
}

/* Memory or a request slot was refused: stop reading, retry shortly. */
static void conn_stall(struct conn *c)
{
    c->stalled = true;
    if (sp_rx_timer_start(&c->stall_timer, SP_NET_STALL_RETRY_MS, stall_fire) < 0) {
        sp_log_warn("connection %s: cannot arm a timer: closing", c->peer);
        conn_close(c);
    }
}

static void conn_enqueue(struct conn *c, struct sp_net_req *req)
{
    req->next = NULL;
    if (c->q_tail != NULL) {
        c->q_tail->next = req;
    } else {
        c->q_head = req;
    }
    c->q_tail = req;
    c->q_count++;
}

/* Queues a request for a complete frame, in the spare reserved for it. */
static struct sp_net_req *conn_take_req(struct conn *c, struct sp_slice frame)
{
    struct sp_net_req *req = c->spare;
    SP_ASSERT(req != NULL);
    c->spare = NULL;
    memset(req, 0, sizeof(*req));
    req->frame = frame;
    req->conn = c->h;
    req->shard = (uint16_t)sp_rx_shard_id();
    req->listener = c->listener;
    conn_enqueue(c, req);
    return req;
}

/* Walks received chunks into frames and hands each to the handler, while reading is allowed. */
static void conn_process(struct conn *c)
{
    while (conn_may_read(c) && c->in_head != NULL) {
        if (c->spare == NULL) {
            c->spare = sp_pool_get(&ns->req_pool);
            if (c->spare == NULL) {
                conn_stall(c);
                return;
            }
        }
        struct chunk *ch = c->in_head;
        const uint8_t *pos = ch->data + ch->off;
        const uint8_t *end = ch->data + ch->len;
        struct sp_slice frame = {0};
        enum sp_frame_result r = sp_framer_feed(&c->framer, &pos, end, &frame, frame_alloc, c);
        ch->off = (uint32_t)(pos - ch->data);
        if (r == SP_FRAME_ERROR) {
            sp_log_warn("connection %s: request size %d outside [1, %u]: closing", c->peer,
                        c->framer.bad_size, c->framer.max_bytes);
            conn_close(c);
            return;
        }
        if (r == SP_FRAME_STALLED) {
            conn_stall(c);
            return;
        }
        struct sp_net_req *req = NULL;
        if (r == SP_FRAME_IN_PLACE) {
            c->frame_by_frame = false;
            req = conn_take_req(c, frame);
            ch->refs++;
            req->chunk = ch;
        } else if (r == SP_FRAME_ASSEMBLED) {
            c->frame_by_frame = frame.len >= RECV_DIRECT_MIN_BYTES;
            req = conn_take_req(c, frame);
            req->owned = (uint8_t *)frame.ptr;
            req->owned_len = (uint32_t)frame.len;
        }
        if (ch->off == ch->len) {
            c->in_head = ch->next;
            if (c->in_head == NULL) {
                c->in_tail = NULL;
            }
            chunk_unref(ch);
        }
        if (req != NULL) {
            ns->p->handler.request(ns->p->handler.ctx, req);
        }
    }
}

static void conn_take_chunk(struct conn *c, struct chunk *ch)
{
    ch->next = NULL;
    if (c->in_tail != NULL) {
        c->in_tail->next = ch;
    } else {
        c->in_head = ch;
    }
    c->in_tail = ch;
}

/*
 * Frees the assembly buffer of an unfinished frame (the connection is
 * closing), once no recv writes into it any more.
 */
static void conn_drop_partial(struct conn *c)
{
    SP_ASSERT(!c->recv_direct);
    void *partial = sp_framer_release(&c->framer);
    if (partial != NULL) {
        sp_mem_free(ns->mem, partial, c->framer.size);
        held_sub(c->framer.size);
    }
}

/* A recv into the assembly buffer completed: the frame grew by res bytes. */
static void recv_tail_done(struct conn *c, int32_t res)
{
    if (c->closing) {
        conn_maybe_finish(c);
        return;
    }
    if (res > 0) {
        c->last_ns = sp_rx_now_ns();
        ns->direct_bytes += (uint64_t)res;
        ns->direct_recvs++;
        struct sp_slice frame = {0};
        if (sp_framer_advance(&c->framer, (uint32_t)res, &frame) == SP_FRAME_ASSEMBLED) {
            c->frame_by_frame = frame.len >= RECV_DIRECT_MIN_BYTES;
            if (c->draining) {
                /* Stopping: what was not framed before is dropped, this frame too. */
                sp_mem_free(ns->mem, (void *)frame.ptr, (uint32_t)frame.len);
                held_sub(frame.len);
            } else {
                struct sp_net_req *req = conn_take_req(c, frame);
                req->owned = (uint8_t *)frame.ptr;
                req->owned_len = (uint32_t)frame.len;
                ns->p->handler.request(ns->p->handler.ctx, req);
            }
        }
    } else if (res == 0) {
        sp_log_debug("connection %s: closed by peer", c->peer);
        c->peer_eof = true;
    } else if (res != -ECANCELED) {
        sp_log_debug("connection %s: %s", c->peer, strerror(-res));
        conn_close(c);
    }
    if (c->closing) {
        conn_maybe_finish(c);
    } else {
        conn_kick(c);
    }
}

static void recv_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct conn *c = sp_container_of(op, struct conn, recv_op);
    if (!(flags & SP_IO_F_MORE)) {
        c->recv_armed = false;
    }
    if (c->recv_direct) {
        SP_ASSERT(!c->recv_armed);
        c->recv_direct = false;
        recv_tail_done(c, res);
        return;
    }
    struct chunk *ch = NULL;
    if (flags & SP_IO_F_BUFFER) {
        ch = &ns->bufs[sp_io_buffer_id(flags)];
        ch->refs = 1;
        ch->off = 0;
        ch->len = res > 0 ? (uint32_t)res : 0;
    } else if (c->rchunk != NULL && !c->recv_armed) {
        ch = c->rchunk;
        c->rchunk = NULL;
        ch->refs = 1;
        ch->off = 0;
        ch->len = res > 0 ? (uint32_t)res : 0;
    }
    if (res > 0 && !c->closing) {
        SP_ASSERT(ch != NULL);
        c->last_ns = sp_rx_now_ns();
        conn_take_chunk(c, ch);
    } else if (ch != NULL) {
        chunk_unref(ch);
    }
    if (res == -ENOBUFS && !c->closing) {
        if (!c->starved) {
            c->starved = true;
            c->starve_next = ns->starved;
            ns->starved = c;
        }
    } else if (res == 0 && !c->closing) {
        /*
         * The peer is done sending. What it sent before is still framed and
         * answered (an acks=0 producer may hang up right after its last
         * request); the connection closes once that is done.
         */
        sp_log_debug("connection %s: closed by peer", c->peer);
        c->peer_eof = true;
    } else if (res < 0 && res != -ECANCELED && !c->closing) {
        sp_log_debug("connection %s: %s", c->peer, strerror(-res));
        conn_close(c);
    }
    if (c->closing) {
        conn_maybe_finish(c);
    } else {
        conn_kick(c);
    }
}

static void cancel_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct conn *c = sp_container_of(op, struct conn, cancel_op);
    c->cancel_inflight = false;
    if (c->closing) {
        conn_maybe_finish(c);
    } else {
        conn_kick(c);
    }
}

static void conn_arm_recv(struct conn *c)
{
    if (sp_mem_pressure(ns->mem)) {
        conn_stall(c);
        return;
    }
    if (ns->br != NULL && !c->frame_by_frame) {
        sp_io_recv_multishot(ns->io, &c->recv_op, c->fd, ns->br);
    } else {
        c->rchunk = chunk_pool_get();
        if (c->rchunk == NULL) {
            conn_stall(c);
            return;
        }
        sp_io_recv(ns->io, &c->recv_op, c->fd, c->rchunk->data, SP_NET_RECV_BUF_BYTES);
    }
    c->recv_armed = true;
}

static void conn_stop_recv(struct conn *c)
{
    /*
     * A plain recv holds only its own chunk (or, reading into an assembly
     * buffer, memory already paid for); a multishot one would keep taking
     * ring buffers.
     */
    if (c->recv_armed && !c->recv_direct && ns->br != NULL && !c->cancel_inflight) {
        c->cancel_inflight = true;
        sp_io_cancel(ns->io, &c->cancel_op, &c->recv_op);
    }
}

/*
 * The framer is assembling a frame and every received chunk is framed:
 * read the rest straight into the assembly buffer. An armed multishot recv
 * is stopped first when enough is missing (its last completion kicks the
 * connection again, and the chunks it brought are framed before this runs
 * again); an armed plain recv is left to complete.
 */
static void conn_recv_tail(struct conn *c)
{
    uint8_t *tail = NULL;
    uint32_t missing = 0;
    bool assembling = sp_framer_tail(&c->framer, &tail, &missing);
    SP_ASSERT(assembling && c->in_head == NULL);
    if (c->recv_armed) {
        if (missing >= RECV_DIRECT_MIN_BYTES) {
            conn_stop_recv(c);
        }
        return;
    }
    /* The request the frame becomes, reserved now: the completion cannot wait for one. */
    if (c->spare == NULL) {
        c->spare = sp_pool_get(&ns->req_pool);
        if (c->spare == NULL) {
            conn_stall(c);
            return;
        }
    }
    c->recv_direct = true;
    c->recv_armed = true;
    sp_io_recv(ns->io, &c->recv_op, c->fd, tail, missing);
}

/* ---- sending ------------------------------------------------------------ */

static void conn_free(struct conn *c);
static void send_result(struct conn *c, int32_t res);

static void send_submit(struct conn *c)
{
    SP_ASSERT(c->sending && !c->result_wait);
    uint64_t bytes = 0;
    for (int i = c->siov_first; i < c->siov_count; i++) {
        bytes += c->siov[i].iov_len;
    }
    const struct iovec *iov = &c->siov[c->siov_first];
    int iovcnt = c->siov_count - c->siov_first;
    if (ns->zc && bytes >= SP_NET_ZC_MIN_BYTES) {
        struct zc_slot *z = NULL;
        for (int i = 0; i < SP_NET_ZC_SENDS_MAX && z == NULL; i++) {
            z = c->zc[i].busy ? NULL : &c->zc[i];
        }
        if (z == NULL) {
            c->zc_blocked = true; /* a notification frees a slot */
            return;
        }
        z->busy = true;
        z->seq = ++c->zc_seq;
        c->zc_busy++;
        c->result_wait = true;
        ns->zc_sends++;
        sp_io_sendmsg_zc(ns->io, &z->op, c->fd, iov, iovcnt);
        return;
    }
    c->result_wait = true;
    sp_io_sendmsg(ns->io, &c->send_op, c->fd, iov, iovcnt);
}

static void sent_release(struct conn *c, struct sp_net_req *req)
{
    SP_ASSERT(c->queued_bytes >= req->resp_bytes);
    c->queued_bytes -= req->resp_bytes;
    req_free(req);
}

/* Releases the sent requests that no zero-copy send still in flight may read. */
static void conn_release_sent(struct conn *c)
{
    uint64_t oldest = UINT64_MAX;
    for (int i = 0; i < SP_NET_ZC_SENDS_MAX; i++) {
        if (c->zc[i].busy && c->zc[i].seq < oldest) {
            oldest = c->zc[i].seq;
        }
    }
    while (c->sent != NULL && c->sent->zc_after < oldest) {
        struct sp_net_req *req = c->sent;
        c->sent = req->next;
        if (c->sent == NULL) {
            c->sent_tail = NULL;
        }
        sent_release(c, req);
    }
}

/*
 * Pops the requests of the batch just sent (or of an empty batch) and ends
 * the batch. With zero-copy sends in flight their memory waits on the
 * sent list.
 */
static void conn_pop_batch(struct conn *c)
{
    for (uint32_t i = 0; i < c->batch_count; i++) {
        struct sp_net_req *req = c->q_head;
        c->q_head = req->next;
        if (c->q_head == NULL) {
            c->q_tail = NULL;
        }
        c->q_count--;
        if (req->resp != NULL) {
            ns->resp_sent++;
            ns->resp_bytes_sent += req->resp_bytes;
        }
        if (c->zc_busy == 0) {
            sent_release(c, req);
            continue;
        }
        req->zc_after = c->zc_seq;
        req->next = NULL;
        if (c->sent_tail != NULL) {
            c->sent_tail->next = req;
        } else {
            c->sent = req;
        }
        c->sent_tail = req;
    }
    c->batch_count = 0;
    c->sending = false;
    c->zc_blocked = false;
}

/* Frees a closing connection once the ring holds nothing of it any more. */
static void conn_try_free(struct conn *c)
{
    if (c->fd_closed && !c->result_wait && c->zc_busy == 0) {
        SP_ASSERT(c->sent == NULL);
        conn_free(c);
    }
}

static void send_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    send_result(sp_container_of(op, struct conn, send_op), res);
}

/*
 * A zero-copy send's completions: the result (with SP_IO_F_MORE when a
 * notification follows), then the notification, which frees the slot.
 */
static void zc_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct zc_slot *z = sp_container_of(op, struct zc_slot, op);
    struct conn *c = z->conn;
    if (!(flags & SP_IO_F_MORE)) {
        SP_ASSERT(z->busy && c->zc_busy > 0);
        z->busy = false;
        c->zc_busy--;
        conn_release_sent(c);
    }
    if (!(flags & SP_IO_F_NOTIF)) {
        send_result(c, res); /* may free a closing connection */
        return;
    }
    if (c->closing) {
        conn_try_free(c);
        return;
    }
    if (c->zc_blocked) {
        c->zc_blocked = false;
        send_submit(c);
    }
    conn_kick(c); /* released bytes may let reading resume */
}

/* A send's result, plain or zero-copy: go on with the batch, or end it. */
static void send_result(struct conn *c, int32_t res)
{
    SP_ASSERT(c->result_wait);
    c->result_wait = false;
    if (c->closing) {
        conn_pop_batch(c);
        conn_release_sent(c);
        if (c->close_submitted) {
            conn_try_free(c);
        } else {
            conn_maybe_finish(c);
        }
        return;
    }
    if (res < 0) {
        sp_log_debug("connection %s: send: %s", c->peer, strerror(-res));
        conn_close(c);
        return;
    }
    if (sp_iov_advance(c->siov, &c->siov_first, c->siov_count, (size_t)res) > 0) {
        ns->short_sends++;
        send_submit(c);
        return;
    }
    bool close = c->batch_close;
    conn_pop_batch(c);
    if (close) {
        c->graceful = true;
        conn_close(c);
        return;
    }
    conn_kick(c);
}

/*
 * Sends the responses of the longest done prefix of the queue, in order,
 * in one sendmsg. A request that asks to close ends the batch; the
 * connection closes once what precedes it has gone out.
 */
static void conn_flush(struct conn *c)
{
    if (c->sending || c->closing) {
        return;
    }
    c->batch_count = 0;
    c->batch_close = false;
    c->siov_first = 0;
    c->siov_count = 0;
    c->sending = true;
    for (struct sp_net_req *r = c->q_head; r != NULL && r->done; r = r->next) {
        int n = r->resp != NULL ? r->resp->iovcnt : 0;
        if (c->siov_count + n > SP_NET_SEND_IOV_MAX) {
            break;
        }
        for (int i = 0; i < n; i++) {
            if (r->resp->iov[i].iov_len > 0) {
                c->siov[c->siov_count++] = r->resp->iov[i];
            }
        }
        c->batch_count++;
        if (r->close) {
            c->batch_close = true;
            break;
        }
    }
    if (c->siov_count > 0) {
        send_submit(c);
        return;
    }
    bool close = c->batch_close;
    conn_pop_batch(c);
    if (close) {
        c->graceful = true;
        conn_close(c);
    }
}

/* ---- the connection's task: one pass per tick ---------------------------- */

static void conn_run(struct sp_task *t)
{
    struct conn *c = sp_container_of(t, struct conn, task);
    c->task_queued = false;
    if (!c->closing) {
        conn_process(c);
    }
    if (!c->closing) {
        conn_flush(c);
    }
    if (!c->closing && c->q_head == NULL && !c->sending &&
        (c->draining || (c->peer_eof && c->in_head == NULL))) {
        c->graceful = true;
        conn_close(c);
    }
    if (c->closing) {
        conn_maybe_finish(c);
        return;
    }
    if (conn_may_read(c)) {
        if (c->in_head == NULL && !c->peer_eof && sp_framer_assembling(&c->framer)) {
            conn_recv_tail(c);
        } else if (!c->recv_armed && !c->starved && c->in_head == NULL && !c->peer_eof) {
            conn_arm_recv(c);
        }
    } else {
        conn_stop_recv(c);
        if (!c->parked && conn_held_back(c)) {
            conn_park(c);
        }
    }
}

static void conn_kick(struct conn *c)
{
    if (!c->task_queued) {
        c->task_queued = true;
        sp_rx_defer(&c->task);
    }
}

/* ---- closing ------------------------------------------------------------ */

static void conn_free(struct conn *c)
{
    sp_mem_free(ns->mem, c, sizeof(*c));
    sp_rx_release();
}

static void close_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct conn *c = sp_container_of(op, struct conn, close_op);
    c->fd_closed = true;
    conn_try_free(c);
}

/*
 * Closes the socket once the ring has let go of it: no recv or cancel in
 * flight and no send whose result is still to come. Zero-copy sends that
 * only await their notification do not hold the close back; unless the
 * close is graceful the socket is reset, so the kernel drops what it still
 * queues and lets the pages go.
 */
static void conn_maybe_finish(struct conn *c)
{
    if (c->closing && !c->recv_armed && !c->result_wait && !c->cancel_inflight && !c->task_queued &&
        !c->close_submitted) {
        c->close_submitted = true;
        conn_drop_partial(c);
        if (c->rchunk != NULL) {
            chunk_unref(c->rchunk);
            c->rchunk = NULL;
        }
        if (c->zc_busy > 0 && !c->graceful) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        sp_io_close(ns->io, &c->close_op, c->fd);
    }
}

/*
 * Closes at once: what is queued is dropped, requests the handler still
 * holds free themselves when done. The memory goes when the ring has let
 * go of every operation on the socket.
 */
static void conn_close(struct conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    /* A peer that saw the close may reconnect at once: it must count as gone already. */
    atomic_fetch_sub(&conns_open, 1);
    sp_handles_del(&ns->conns, c->h);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        ns->all = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    if (c->starved) {
        struct conn **pp = &ns->starved;
        while (*pp != c) {
            pp = &(*pp)->starve_next;
        }
        *pp = c->starve_next;
        c->starved = false;
    }
    conn_unpark(c);
    sp_rx_timer_cancel(&c->idle_timer);
    sp_rx_timer_cancel(&c->stall_timer);
    shutdown(c->fd, SHUT_RDWR);
    if (c->recv_armed && ns->br != NULL && !c->cancel_inflight) {
        c->cancel_inflight = true;
        sp_io_cancel(ns->io, &c->cancel_op, &c->recv_op);
    }
    while (c->in_head != NULL) {
        struct chunk *ch = c->in_head;
        c->in_head = ch->next;
        chunk_unref(ch);
    }
    c->in_tail = NULL;
    if (!c->recv_direct) {
        conn_drop_partial(c); /* else once the recv writing into it has completed */
    }
    if (c->spare != NULL) {
        sp_pool_put(&ns->req_pool, c->spare);
        c->spare = NULL;
    }
    /*
     * The batch being sent stays queued (its bytes are the send op's) and
     * goes when the send completes; done requests after it go now, the
     * rest are left to the handler, whose sp_net_req_done() frees them.
     * A batch waiting for a zero-copy slot ends here: what of it went out
     * waits on the sent list for its notifications.
     */
    if (c->sending && !c->result_wait) {
        conn_pop_batch(c);
        conn_release_sent(c);
    }
    uint32_t keep = c->sending ? c->batch_count : 0;
    struct sp_net_req *last_kept = NULL;
    struct sp_net_req *r = c->q_head;
    for (uint32_t i = 0; i < keep; i++) {
        last_kept = r;
        r = r->next;
    }
    while (r != NULL) {
        struct sp_net_req *next = r->next;
        if (r->done) {
            c->queued_bytes -= r->resp_bytes;
            req_free(r);
        }
        r = next;
    }
    if (last_kept != NULL) {
        last_kept->next = NULL;
        c->q_tail = last_kept;
        c->q_count = keep;
    } else {
        c->q_head = c->q_tail = NULL;
        c->q_count = 0;
        c->batch_count = 0;
    }
    conn_maybe_finish(c);
}

static void idle_fire(struct sp_timer *t)
{
    struct conn *c = sp_container_of(t, struct conn, idle_timer);
    uint64_t idle_ns = (uint64_t)ns->p->idle_ms * 1000000ull;
    uint64_t quiet_ns = sp_rx_now_ns() - c->last_ns;
    if (quiet_ns >= idle_ns && c->q_head == NULL && !c->sending) {
        sp_log_info("connection %s: idle for %lld ms (connections.max.idle.ms): closing", c->peer,
                    (long long)ns->p->idle_ms);
        c->graceful = true;
        conn_close(c);
        return;
    }
    uint64_t next_ms = quiet_ns < idle_ns ? (idle_ns - quiet_ns) / 1000000ull + 1 : 1000;
    if (sp_rx_timer_start(&c->idle_timer, next_ms, idle_fire) < 0) {
        conn_close(c);
    }
}

/* ---- accepting -------------------------------------------------------- */

static void peer_name(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
            port = ntohs(in6->sin6_port);
        }
    }
    snprintf(buf, len, "%s:%u", host, port);
}

static void conn_new(int fd, uint16_t listener)
{
    char peer[PEER_NAME_MAX];
    peer_name(fd, peer, sizeof(peer));
    int64_t max = ns->p->max_connections;
    if (atomic_fetch_add(&conns_open, 1) >= max) {
        atomic_fetch_sub(&conns_open, 1);
        sp_log_warn("connection from %s refused: max.connections (%lld) reached", peer,
                    (long long)max);
        close(fd);
        return;
    }
    struct conn *c = sp_mem_alloc(ns->mem, sizeof(*c));
    if (c == NULL) {
        atomic_fetch_sub(&conns_open, 1);
        sp_log_warn("connection from %s refused: shard memory budget exhausted", peer);
        close(fd);
        return;
    }
    memset(c, 0, sizeof(*c));
    c->h = sp_handles_put(&ns->conns, c);
    if (c->h == SP_HANDLE_NONE) {
        sp_mem_free(ns->mem, c, sizeof(*c));
        atomic_fetch_sub(&conns_open, 1);
        sp_log_warn("connection from %s refused: %u connections on this shard", peer,
                    SP_NET_CONNS_SHARD_MAX);
        close(fd);
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->listener = listener;
    memcpy(c->peer, peer, sizeof(peer));
    c->recv_op.done = recv_done;
    c->send_op.done = send_done;
    for (int i = 0; i < SP_NET_ZC_SENDS_MAX; i++) {
        c->zc[i].op.done = zc_done;
        c->zc[i].conn = c;
    }
    c->cancel_op.done = cancel_done;
    c->close_op.done = close_done;
    c->task.fn = conn_run;
    c->last_ns = sp_rx_now_ns();
    sp_framer_init(&c->framer, ns->p->request_max_bytes);
    c->next = ns->all;
    if (ns->all != NULL) {
        ns->all->prev = c;
    }
    ns->all = c;
    sp_rx_hold();
    sp_log_debug("connection from %s accepted", peer);
    if (ns->p->idle_ms >= 0 &&
        sp_rx_timer_start(&c->idle_timer, (uint64_t)ns->p->idle_ms + 1, idle_fire) < 0) {
        conn_close(c);
        return;
    }
    conn_kick(c);
}

static void accept_arm(struct net_listen *l)
{
    l->armed = true;
    sp_io_accept(ns->io, &l->op, l->fd, true);
}

static void accept_retry(struct sp_timer *t)
{
    struct net_listen *l = sp_container_of(t, struct net_listen, retry);
    if (!ns->stopping && !l->armed) {
        accept_arm(l);
    }
}

static void accept_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct net_listen *l = sp_container_of(op, struct net_listen, op);
    if (!(flags & SP_IO_F_MORE)) {
        l->armed = false;
    }
    if (res >= 0) {
        if (ns->stopping) {
            close(res);
        } else {
            conn_new(res, l->index);
        }
    } else if (res != -ECANCELED && !ns->stopping) {
        sp_log_warn("accept: %s", strerror(-res));
        if (!l->armed) {
            if (sp_rx_timer_start(&l->retry, ACCEPT_RETRY_MS, accept_retry) == 0) {
                return;
            }
        }
    }
    if (l->armed) {
        return;
    }
    if (ns->stopping) {
        close(l->fd);
        l->fd = -1;
    } else {
        accept_arm(l);
    }
}

static void listen_cancel_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
}

/* ---- the shard ----------------------------------------------------------- */

static int net_buffers_init(void)
{
    uint64_t ring_bytes = (uint64_t)SP_NET_BUFRING_COUNT * SP_NET_RECV_BUF_BYTES;
    if (sp_mem_reserve(ns->mem, ring_bytes) < 0) {
        return -ENOMEM;
    }
    int rc = sp_io_bufring_create(ns->io, &ns->br, SP_NET_BUFRING_COUNT, SP_NET_RECV_BUF_BYTES);
    if (rc < 0) {
        sp_mem_release(ns->mem, ring_bytes);
        ns->br = NULL;
        sp_log_debug("no provided-buffer ring (%s): plain recv", strerror(-rc));
        return 0;
    }
    ns->bufs = calloc(SP_NET_BUFRING_COUNT, sizeof(*ns->bufs));
    if (ns->bufs == NULL) {
        return -ENOMEM;
    }
    for (uint16_t i = 0; i < SP_NET_BUFRING_COUNT; i++) {
        ns->bufs[i].data = sp_io_bufring_buf(ns->br, i);
        ns->bufs[i].bid = i;
    }
    return 0;
}

int sp_net_shard_start(const struct sp_net_params *params)
{
    ns = calloc(1, sizeof(*ns));
    if (ns == NULL) {
        return -ENOMEM;
    }
    ns->p = params;
    ns->io = sp_rx_io();
    ns->mem = sp_rx_mem();
    ns->starve_task.fn = starve_run;
    ns->resume_task.fn = resume_run;
    ns->held_max = ns->mem->limit_bytes / SP_NET_SHARD_HELD_DIV;
    ns->held_low = ns->held_max / 4 * 3;
    ns->zc = (sp_io_features(ns->io) & SP_IO_FEAT_SENDMSG_ZC) != 0;
    int rc = sp_handles_init(&ns->conns, SP_NET_CONNS_SHARD_MAX);
    if (rc < 0) {
        return rc;
    }
    if (sp_pool_init(&ns->req_pool, ns->mem, sizeof(struct sp_net_req), 1u << 20) < 0 ||
        sp_pool_init(&ns->chunk_pool, ns->mem,
                     (uint32_t)(sizeof(struct chunk) + SP_NET_RECV_BUF_BYTES), 1u << 16) < 0) {
        return -EINVAL;
    }
    rc = net_buffers_init();
    if (rc < 0) {
        return rc;
    }
    const struct sp_listener_set *set = params->listeners;
    for (int i = 0; i < set->count; i++) {
        struct sp_listener_addr a = set->addr[i];
        struct net_listen *l = &ns->lst[i];
        int fd = sp_listener_bind(&a, SOMAXCONN);
        if (fd < 0) {
            sp_log_error("shard %d: cannot listen on port %u: %s", sp_rx_shard_id(),
                         (unsigned)a.port, strerror(-fd));
            return fd;
        }
        l->fd = fd;
        l->index = (uint16_t)i;
        l->op.done = accept_done;
        l->cancel_op.done = listen_cancel_done;
        ns->lst_count = i + 1;
        accept_arm(l);
    }
    sp_log_debug("accepting with %s", ns->br != NULL ? "provided buffers" : "plain recv");
    if (sp_rx_shard_id() == 0) {
        sp_log_info("zero-copy sends of %u bytes or more: %s", SP_NET_ZC_MIN_BYTES,
                    ns->zc ? "on" : "off (no io_uring SENDMSG_ZC: Linux 6.1 or later)");
    }
    return 0;
}

void sp_net_shard_stop(void)
{
    if (ns == NULL) {
        return;
    }
    ns->stopping = true;
    for (int i = 0; i < ns->lst_count; i++) {
        struct net_listen *l = &ns->lst[i];
        sp_rx_timer_cancel(&l->retry);
        if (l->armed) {
            sp_io_cancel(ns->io, &l->cancel_op, &l->op);
        } else if (l->fd >= 0) {
            close(l->fd);
            l->fd = -1;
        }
    }
    for (struct conn *c = ns->all; c != NULL; c = c->next) {
        c->draining = true;
        conn_kick(c);
    }
}

void sp_net_shard_fini(void)
{
    if (ns == NULL) {
        return;
    }
    sp_log_info("shard %d: %llu responses sent (%llu bytes, %llu zero-copy sends); "
                "reading stopped %llu times by the shard memory bound; "
                "%llu bytes of large requests received in place (%llu recvs)",
                sp_rx_shard_id(), (unsigned long long)ns->resp_sent,
                (unsigned long long)ns->resp_bytes_sent, (unsigned long long)ns->zc_sends,
                (unsigned long long)ns->parks, (unsigned long long)ns->direct_bytes,
                (unsigned long long)ns->direct_recvs);
    /* Only connections the drain gave up on are left; their memory goes with the shard. */
    for (struct conn *c = ns->all; c != NULL; c = c->next) {
        close(c->fd);
        atomic_fetch_sub(&conns_open, 1);
    }
    for (int i = 0; i < ns->lst_count; i++) {
        if (ns->lst[i].fd >= 0) {
            close(ns->lst[i].fd);
        }
    }
    if (ns->all == NULL && ns->req_pool.objs_used == 0 && ns->chunk_pool.objs_used == 0) {
        sp_pool_fini(&ns->req_pool);
        sp_pool_fini(&ns->chunk_pool);
        if (ns->br != NULL) {
            sp_io_bufring_destroy(ns->io, ns->br);
            sp_mem_release(ns->mem, (uint64_t)SP_NET_BUFRING_COUNT * SP_NET_RECV_BUF_BYTES);
        }
        free(ns->bufs);
    }
    sp_handles_fini(&ns->conns);
    free(ns);
    ns = NULL;
}
