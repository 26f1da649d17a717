/*
 * client/client.c: the client core of client/spc.h: connections, framing,
 * correlation, timeouts, version negotiation, spc_send, the metadata cache
 * and routing, coordinators, retries, spc_poll.
 *
 * Everything runs on the thread that created the client, inside spc_poll:
 * one io_uring (core/io.h) carries every socket operation, one timer heap
 * (core/timer.h) every deadline, and callbacks run from the loop, never
 * from inside spc_send.
 *
 *   spc_send ─> cs (call state) ─> route: node id / ANY / CONTROLLER / COORDINATOR
 *                                     │
 *        pending (no ready connection yet: connecting, metadata, coordinator)
 *                                     │ connection ready
 *        conn->wait (max_inflight reached) ─> encoded into conn->out ─> one send
 *                                     │ of several frames
 *        conn->inflight (answered in order) ─> response decoded ─> done list
 *                                                                   │
 *                                             done callbacks run from spc_poll
 *
 * A connection (one per broker and lane) goes IDLE -> CONNECTING ->
 * HANDSHAKE (ApiVersions) -> READY, and on any failure to CLOSING, where it
 * stays until its io operations have completed, then IDLE again. A call
 * that waits for a connection counts the connect failures it sees and fails
 * with the broker's error ("127.0.0.1:9: connect: Connection refused") once
 * they pass `retries`, or at its deadline, whichever comes first. A call
 * that is not answered in time closes its connection (Kafka answers in
 * order, so nothing behind it would come back) and is resent with backoff
 * when retry_transport allows, as are the calls that shared the connection.
 *
 * Memory: a response frame is received into an arena of the connection
 * (large frames straight from the socket into it), and the arena is handed
 * to the call whole: the decoded response and the bytes it borrows live in
 * call->arena until spc_call_release.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/spc.h"
#include "core/io.h"
#include "core/log.h"
#include "core/timer.h"
#include "protocol/kproto.h"

#define SPC_BOOTSTRAP_MAX       64
#define SPC_NODES_MAX           1024
#define SPC_API_KEYS            128 /* API keys we keep ranges for */
#define SPC_RECV_BYTES          (256u * 1024)
#define SPC_RECV_DIRECT_MIN     (64u * 1024) /* frame bytes still missing: recv straight in */
#define SPC_IO_CHUNK_MAX        (1u << 30)
#define SPC_HANDSHAKE_BYTES_MAX (1u << 20)
#define SPC_HANDSHAKE_TRIES     3
#define SPC_API_VERSIONS_MAX    3 /* the ApiVersions version we start with */
#define SPC_TOPIC_ERROR_TTL_MS  1000
#define SPC_STALE_MAX           1024
#define SPC_COORDS_MAX          256
#define SPC_PARTITIONS_MAX      (1 << 20)
#define SPC_CS_FREE_MAX         1024
#define SPC_SEND_KEEP_BYTES     (32u << 20) /* larger send buffers are freed once idle */
#define SPC_POLL_BUDGET         4096
#define SPC_DEFERRED_ROUNDS     8
#define SPC_CLOSE_WAIT_MS       2000
#define SPC_POLL_DEPTH_MAX      4
#define SPC_CONNECTIONS_MAX     256
#define SPC_CLIENT_SOFTWARE     "spindle-client"
#define SPC_CLIENT_VERSION      "0.1"

#define NS_PER_MS 1000000ull

/*
 * The layers' ticks (client/producer.c, fetcher.c, group.c), run from every
 * spc_poll before it waits. Weak, so that a program that links none of a
 * layer (none of its objects can exist then) needs no tick of it.
 */
extern int spc_producer_tick(struct spc_client *c) __attribute__((weak));
extern int spc_fetcher_tick(struct spc_client *c) __attribute__((weak));
extern int spc_group_tick(struct spc_client *c) __attribute__((weak));

struct spc_cs;
struct spc_conn;
struct spc_node;

struct cs_list {
    struct spc_cs *head, *tail;
    uint32_t len;
};

enum cs_where {
    CS_NONE,
    CS_PENDING,  /* c->pending: waits for a route or a connection */
    CS_WAIT,     /* conn->wait: the connection has max_inflight out */
    CS_INFLIGHT, /* conn->inflight: encoded, waiting for its answer */
    CS_NORESP,   /* conn->noresp: encoded, done once sent (acks=0) */
    CS_BACKOFF,  /* c->backoff: resent when its timer fires */
    CS_DONE,     /* c->done: its callback runs from spc_poll */
};

/* Sets fields of an internal request that depend on the version chosen. */
typedef void (*cs_prepare_fn)(struct spc_call *call, int16_t version);

/* One spc_call's state in the core (call->priv while it is ours). */
struct spc_cs {
    struct spc_client *c;
    struct spc_call *call;
    struct spc_cs *prev, *next;
    struct cs_list *list;
    enum cs_where where;
    struct spc_conn *conn;     /* CS_WAIT, CS_INFLIGHT, CS_NORESP */
    struct spc_node *node;     /* the node it waits on */
    uint64_t fail_base;        /* node->fail_seq when it started waiting on it */
    struct spc_node *err_node; /* whose connect failure it saw last */
    struct sp_timer timer;     /* the attempt's deadline, or the end of a backoff */
    int32_t timeout_ms;
    int32_t attempts;      /* resends after lost connections and timeouts */
    int32_t connect_fails; /* connects that failed while it waited */
    int32_t corr;
    uint64_t gen;      /* CS_NORESP: the send buffer generation it is in */
    uint64_t md_epoch; /* metadata epoch when it was sent */
    int rc;
    cs_prepare_fn prepare;
};

enum conn_state {
    CONN_IDLE,
    CONN_CONNECTING,
    CONN_HANDSHAKE,
    CONN_READY,
    CONN_CLOSING,
};

struct conn_cancel {
    struct sp_io_op op;
    struct spc_conn *conn;
};

/*
 * One TCP connection to a broker (one of its lanes). Frames are encoded
 * into `out` while `sending` is on the wire; a finished send swaps them.
 */
struct spc_conn {
    struct spc_client *c;
    struct spc_node *node;
    uint32_t lane;
    enum conn_state state;
    int fd;
    struct sp_io_op op_connect, op_recv, op_send;
    struct conn_cancel cancel[3];
    bool busy_connect, busy_recv, busy_send;
    uint8_t cancels;
    struct sp_timer timer; /* connect, then ApiVersions deadline */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct sp_wr out, sending;
    size_t send_off;
    uint64_t out_gen, sending_gen;
    struct cs_list inflight, noresp, wait;
    int32_t next_corr;
    /* Receiving: bytes [rpos, rlen) of rbuf are not parsed yet. */
    uint8_t *rbuf;
    size_t rpos, rlen;
    struct sp_arena fa; /* the frame being received, and later its decoded response */
    uint8_t *frame;
    size_t frame_len, frame_got;
    bool in_frame, direct;
    bool dirty;
    struct spc_conn *dirty_next;
    int16_t hs_version;
    int32_t hs_corr;
    int hs_tries;
};

struct spc_node {
    struct spc_client *c;
    int32_t id; /* -1: a bootstrap address whose id we do not know */
    bool bootstrap;
    char host[256];
    int32_t port;
    char rack[64];
    char name[80]; /* "host:port" */
    struct spc_conn **lanes;
    bool versions_known;
    int16_t vmin[SPC_API_KEYS], vmax[SPC_API_KEYS]; /* -1: not offered */
    int32_t fails;                                  /* connects failed in a row */
    uint64_t fail_seq;                              /* connects failed ever */
    uint64_t retry_at_ns;
    uint32_t addr_next;
    struct spc_error err; /* the last connect failure */
    struct sp_timer retry_timer;
};

struct topic_entry {
    struct spc_topic t;
    uint64_t expires_ns; /* error entries: forgotten then; 0: kept */
    uint64_t seen_epoch;
    struct topic_entry *next;
};

struct coord {
    struct spc_client *c;
    char *key;
    int32_t node; /* -1: unknown */
    bool inflight;
    int32_t fails;
    uint64_t retry_at_ns;
    uint64_t used_ns;
    struct sp_timer timer;
};

struct spc_client {
    struct spc_config cfg;
    char *bootstrap;
    char *client_id;
    struct sp_io *io;
    struct sp_timers timers;
    struct spc_node *nodes[SPC_NODES_MAX];
    size_t nodes_count;
    uint32_t any_next;
    struct cs_list pending, backoff, done;
    bool reroute;
    struct spc_conn *dirty_head;
    struct spc_cs *cs_free;
    uint32_t cs_free_count;
    int poll_depth;
    bool closing;
    /* Metadata. */
    uint64_t md_epoch;
    bool md_ok;
    uint64_t md_last_ns;
    struct spc_broker *brokers;
    size_t brokers_count;
    char cluster_id[128];
    int32_t controller;
    struct topic_entry **topics;
    size_t topics_nb, topics_count;
    char *stale[SPC_STALE_MAX];
    size_t stale_count;
    bool stale_all, stale_brokers;
    bool md_auto_inflight;
    uint64_t md_auto_last_ns;
    int32_t md_backoff_ms;
    struct sp_timer md_timer;
    /* Group coordinators. */
    struct coord *coords[SPC_COORDS_MAX];
    size_t coords_count;
};

static void cs_route(struct spc_cs *cs);
static void conn_fail(struct spc_conn *conn, int rc, struct spc_cs *victim, int victim_rc,
                      const char *fmt, ...) SP_PRINTF(5, 6);
static void conn_pump(struct spc_conn *conn);
static void md_schedule(struct spc_client *c);
static void md_want_brokers(struct spc_client *c);

/* ---- Small helpers -------------------------------------------------------- */

static uint64_t now_ns(const struct spc_client *c)
{
    return sp_io_now_ns(c->io);
}

static const char *api_name(int16_t key)
{
    const struct kproto_api *api = kproto_api_get(key);
    return api != NULL ? api->name : "?";
}

/* The highest version of api this client speaks (stable versions only). */
static int16_t api_our_max(const struct kproto_api *api)
{
    return api->stable_max >= api->min_version ? api->stable_max : api->max_version;
}

static uint64_t backoff_ns(const struct spc_client *c, int32_t n)
{
    int64_t ms = c->cfg.retry_backoff_ms;
    for (int32_t i = 1; i < n && ms < c->cfg.retry_backoff_max_ms; i++) {
        ms *= 2;
    }
    if (ms > c->cfg.retry_backoff_max_ms) {
        ms = c->cfg.retry_backoff_max_ms;
    }
    if (ms < 1) {
        ms = 1;
    }
    return (uint64_t)ms * NS_PER_MS;
}

static void error_vset(struct spc_error *err, int code, const char *broker, const char *fmt,
                       va_list ap) SP_PRINTF(4, 0);

static void error_vset(struct spc_error *err, int code, const char *broker, const char *fmt,
                       va_list ap)
{
    err->code = code;
    err->message[0] = '\0';
    if (code == 0) {
        return;
    }
    size_t cap = sizeof(err->message), n = 0;
    if (broker != NULL && broker[0] != '\0') {
        int w = snprintf(err->message, cap, "%s: ", broker);
        n = w > 0 ? SP_MIN((size_t)w, cap - 1) : 0;
    }
    int w = vsnprintf(err->message + n, cap - n, fmt, ap);
    n += w > 0 ? SP_MIN((size_t)w, cap - 1 - n) : 0;
    const char *tail = code > 0 ? kerr_name((int16_t)code) : strerror(-code);
    size_t tl = strlen(tail);
    /* The caller may have named the error already. */
    if (n >= tl && strcmp(err->message + n - tl, tail) == 0) {
        return;
    }
    snprintf(err->message + n, cap - n, "%s%s", n > 0 ? ": " : "", tail);
}

/* ---- Call lists ----------------------------------------------------------- */

static void cs_list_push(struct cs_list *l, struct spc_cs *cs)
{
    SP_ASSERT_HOT(cs->list == NULL);
    cs->prev = l->tail;
    cs->next = NULL;
    if (l->tail != NULL) {
        l->tail->next = cs;
    } else {
        l->head = cs;
    }
    l->tail = cs;
    l->len++;
    cs->list = l;
}

static void cs_list_remove(struct spc_cs *cs)
{
    struct cs_list *l = cs->list;
    if (l == NULL) {
        return;
    }
    if (cs->prev != NULL) {
        cs->prev->next = cs->next;
    } else {
        l->head = cs->next;
    }
    if (cs->next != NULL) {
        cs->next->prev = cs->prev;
    } else {
        l->tail = cs->prev;
    }
    l->len--;
    cs->list = NULL;
    cs->prev = cs->next = NULL;
}

static struct spc_cs *cs_list_pop(struct cs_list *l)
{
    struct spc_cs *cs = l->head;
    if (cs != NULL) {
        cs_list_remove(cs);
    }
    return cs;
}

/* ---- Call states ---------------------------------------------------------- */

static struct spc_cs *cs_alloc(struct spc_client *c)
{
    struct spc_cs *cs = c->cs_free;
    if (cs != NULL) {
        c->cs_free = cs->next;
        c->cs_free_count--;
    } else {
        cs = malloc(sizeof(*cs));
        if (cs == NULL) {
            return NULL;
        }
    }
    memset(cs, 0, sizeof(*cs));
    cs->c = c;
    return cs;
}

static void cs_release(struct spc_client *c, struct spc_cs *cs)
{
    if (c->cs_free_count < SPC_CS_FREE_MAX) {
        cs->next = c->cs_free;
        c->cs_free = cs;
        c->cs_free_count++;
    } else {
        free(cs);
    }
}

/* Moves cs to the done list; its callback runs from spc_poll. */
static void cs_complete(struct spc_cs *cs, int rc)
{
    struct spc_client *c = cs->c;
    cs_list_remove(cs);
    sp_timers_del(&c->timers, &cs->timer);
    cs->where = CS_DONE;
    cs->conn = NULL;
    cs->rc = rc;
    if (rc == 0) {
        cs->call->error.code = 0;
        cs->call->error.message[0] = '\0';
    }
    cs_list_push(&c->done, cs);
}

static void cs_fail(struct spc_cs *cs, int rc, const char *broker, const char *fmt, ...)
    SP_PRINTF(4, 5);

static void cs_fail(struct spc_cs *cs, int rc, const char *broker, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(&cs->call->error, rc, broker, fmt, ap);
    va_end(ap);
    cs_complete(cs, rc);
}

/* Fails cs with a broker's recorded error (a Kafka code becomes -EPROTO). */
static void cs_fail_err(struct spc_cs *cs, const struct spc_error *err)
{
    cs->call->error = *err;
    cs_complete(cs, err->code < 0 ? err->code : -EPROTO);
}

static void cs_pending(struct spc_cs *cs)
{
    struct spc_client *c = cs->c;
    if (cs->list == &c->pending) {
        return;
    }
    cs_list_remove(cs);
    cs->conn = NULL;
    cs->where = CS_PENDING;
    cs_list_push(&c->pending, cs);
}

static void cs_timer_fn(struct sp_timer *t);

/* Starts an attempt: a fresh deadline, then routing. */
static void cs_attempt_start(struct spc_cs *cs)
{
    struct spc_client *c = cs->c;
    uint64_t deadline = now_ns(c) + (uint64_t)cs->timeout_ms * NS_PER_MS;
    if (sp_timers_add(&c->timers, &cs->timer, deadline, cs_timer_fn) < 0) {
        cs_fail(cs, -ENOMEM, NULL, "%s: no timer", api_name(cs->call->api_key));
        return;
    }
    cs->node = NULL;
    cs->connect_fails = 0;
    cs_pending(cs);
    cs_route(cs);
}

/* Waits out a backoff, then starts another attempt. */
static void cs_backoff(struct spc_cs *cs)
{
    struct spc_client *c = cs->c;
    cs_list_remove(cs);
    cs->conn = NULL;
    cs->where = CS_BACKOFF;
    cs_list_push(&c->backoff, cs);
    uint64_t at = now_ns(c) + backoff_ns(c, cs->attempts);
    if (sp_timers_add(&c->timers, &cs->timer, at, cs_timer_fn) < 0) {
        cs_fail(cs, -ENOMEM, NULL, "%s: no timer", api_name(cs->call->api_key));
    }
}

static const char *conn_state_name(const struct spc_conn *conn)
{
    if (conn == NULL) {
        return "not connected";
    }
    switch (conn->state) {
    case CONN_IDLE:
        return "not connected";
    case CONN_CONNECTING:
        return "connecting";
    case CONN_HANDSHAKE:
        return "ApiVersions unanswered";
    case CONN_READY:
        return "queued behind max_inflight";
    case CONN_CLOSING:
        return "closing";
    }
    return "?";
}

static struct spc_conn *node_lane_peek(const struct spc_node *n, uint32_t lane);

/* A call that never went out reached its deadline. */
static void cs_expire_waiting(struct spc_cs *cs)
{
    struct spc_call *call = cs->call;
    struct spc_node *n = cs->node;
    if (n != NULL && n->fail_seq != cs->fail_base) {
        cs->err_node = n;
    }
    if (cs->err_node != NULL && cs->err_node->err.code != 0) {
        cs_fail_err(cs, &cs->err_node->err);
        return;
    }
    const char *why;
    if (n != NULL) {
        why = conn_state_name(node_lane_peek(n, call->lane));
    } else if (call->node == SPC_COORDINATOR) {
        why = "no coordinator found";
    } else if (call->node == SPC_CONTROLLER) {
        why = "no controller known";
    } else if (call->node >= 0) {
        why = "broker not in the metadata yet";
    } else {
        why = "no broker reachable";
    }
    cs_fail(cs, -ETIMEDOUT, n != NULL ? n->name : NULL, "%s: not sent within %d ms (%s)",
            api_name(call->api_key), (int)cs->timeout_ms, why);
}

static void cs_timer_fn(struct sp_timer *t)
{
    struct spc_cs *cs = sp_container_of(t, struct spc_cs, timer);
    struct spc_call *call = cs->call;
    switch (cs->where) {
    case CS_BACKOFF:
        cs_list_remove(cs);
        cs_attempt_start(cs);
        break;
    case CS_PENDING:
    case CS_WAIT:
        cs_expire_waiting(cs);
        break;
    case CS_INFLIGHT:
    case CS_NORESP:
        conn_fail(cs->conn, -ECONNRESET, cs, -ETIMEDOUT, "%s v%d unanswered after %d ms",
                  api_name(call->api_key), call->version, (int)cs->timeout_ms);
        break;
    case CS_NONE:
    case CS_DONE:
        break;
    }
}

/* Ends cs now with rc, wherever it is (a connection it is out on closes). */
static void cs_cancel(struct spc_cs *cs, int rc)
{
    struct spc_call *call = cs->call;
    switch (cs->where) {
    case CS_INFLIGHT:
    case CS_NORESP:
        conn_fail(cs->conn, -ECONNRESET, cs, rc, "%s v%d cancelled", api_name(call->api_key),
                  call->version);
        break;
    case CS_PENDING:
    case CS_WAIT:
    case CS_BACKOFF:
        cs_fail(cs, rc, NULL, "%s cancelled", api_name(call->api_key));
        break;
    case CS_NONE:
    case CS_DONE:
        break;
    }
}

static int run_done(struct spc_client *c)
{
    int n = 0;
    struct spc_cs *cs;
    while ((cs = cs_list_pop(&c->done)) != NULL) {
        struct spc_call *call = cs->call;
        int rc = cs->rc;
        call->priv = NULL;
        cs_release(c, cs);
        call->done(call, rc);
        n++;
    }
    return n;
}

/* ---- Nodes ---------------------------------------------------------------- */

static void node_retry_fn(struct sp_timer *t)
{
    struct spc_node *n = sp_container_of(t, struct spc_node, retry_timer);
    n->c->reroute = true;
}

/* host (IPv6 too) and port, and the "host:port" that messages name. */
static void node_set_addr(struct spc_node *n, const char *host, int32_t port)
{
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = port;
    snprintf(n->name, sizeof(n->name), strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host,
             (int)port);
}

static struct spc_node *node_new(struct spc_client *c, int32_t id, const char *host, int32_t port)
{
    if (c->nodes_count == SPC_NODES_MAX) {
        return NULL;
    }
    struct spc_node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    n->c = c;
    n->id = id;
    node_set_addr(n, host, port);
    for (int i = 0; i < SPC_API_KEYS; i++) {
        n->vmin[i] = n->vmax[i] = -1;
    }
    c->nodes[c->nodes_count++] = n;
    return n;
}

static struct spc_node *node_by_id(const struct spc_client *c, int32_t id)
{
    for (size_t i = 0; i < c->nodes_count; i++) {
        if (c->nodes[i]->id == id) {
            return c->nodes[i];
        }
    }
    return NULL;
}

static struct spc_conn *node_lane_peek(const struct spc_node *n, uint32_t lane)
{
    if (n->lanes == NULL) {
        return NULL;
    }
    return n->lanes[lane % n->c->cfg.connections];
}

static void conn_recv_done(struct sp_io_op *op, int32_t res, uint32_t flags);
static void conn_send_done(struct sp_io_op *op, int32_t res, uint32_t flags);
static void conn_connect_done(struct sp_io_op *op, int32_t res, uint32_t flags);
static void conn_cancel_done(struct sp_io_op *op, int32_t res, uint32_t flags);

static struct spc_conn *node_lane(struct spc_node *n, uint32_t lane)
{
    struct spc_client *c = n->c;
    uint32_t l = lane % c->cfg.connections;
    if (n->lanes == NULL) {
        n->lanes = calloc(c->cfg.connections, sizeof(*n->lanes));
        if (n->lanes == NULL) {
            return NULL;
        }
    }
    if (n->lanes[l] == NULL) {
        struct spc_conn *conn = calloc(1, sizeof(*conn));
        if (conn == NULL) {
            return NULL;
        }
        conn->c = c;
        conn->node = n;
        conn->lane = l;
        conn->fd = -1;
        conn->state = CONN_IDLE;
        conn->op_connect.done = conn_connect_done;
        conn->op_recv.done = conn_recv_done;
        conn->op_send.done = conn_send_done;
        for (size_t i = 0; i < SP_ARRAY_LEN(conn->cancel); i++) {
            conn->cancel[i].op.done = conn_cancel_done;
            conn->cancel[i].conn = conn;
        }
        sp_wr_init(&conn->out, NULL, 0);
        sp_wr_init(&conn->sending, NULL, 0);
        sp_arena_init(&conn->fa, NULL, 0, 0);
        n->lanes[l] = conn;
    }
    return n->lanes[l];
}

/* A connect (or its handshake) failed: remember why, back off, wake the waiters. */
static void node_failed(struct spc_node *n, int rc, const char *what)
{
    struct spc_client *c = n->c;
    spc_error_set(&n->err, rc, n->name, "%s", what);
    n->fails++;
    n->fail_seq++;
    n->addr_next++;
    n->retry_at_ns = now_ns(c) + backoff_ns(c, n->fails);
    (void)sp_timers_add(&c->timers, &n->retry_timer, n->retry_at_ns, node_retry_fn);
    c->reroute = true;
    sp_log_debug("client: %s", n->err.message);
}

/* ---- Connections ---------------------------------------------------------- */

static void conn_mark_dirty(struct spc_conn *conn)
{
    if (!conn->dirty) {
        conn->dirty = true;
        conn->dirty_next = conn->c->dirty_head;
        conn->c->dirty_head = conn;
    }
}

static void conn_timer_fn(struct sp_timer *t);

static void conn_start(struct spc_conn *conn)
{
    struct spc_node *n = conn->node;
    struct spc_client *c = conn->c;
    char port[16];
    snprintf(port, sizeof(port), "%d", (int)n->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int g = getaddrinfo(n->host, port, &hints, &res);
    if (g != 0 || res == NULL) {
        char what[160];
        snprintf(what, sizeof(what), "resolve: %s", gai_strerror(g));
        node_failed(n, -EHOSTUNREACH, what);
        return;
    }
    uint32_t count = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        count++;
    }
    struct addrinfo *ai = res;
    for (uint32_t i = n->addr_next % count; i > 0; i--) {
        ai = ai->ai_next;
    }
    memcpy(&conn->addr, ai->ai_addr, ai->ai_addrlen);
    conn->addrlen = ai->ai_addrlen;
    int family = ai->ai_family;
    freeaddrinfo(res);
    if (conn->rbuf == NULL) {
        conn->rbuf = malloc(SPC_RECV_BYTES);
        if (conn->rbuf == NULL) {
            node_failed(n, -ENOMEM, "connect");
            return;
        }
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        node_failed(n, -errno, "socket");
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conn->fd = fd;
    conn->state = CONN_CONNECTING;
    conn->hs_tries = 0;
    conn->next_corr = 0;
    conn->rpos = conn->rlen = 0;
    conn->in_frame = false;
    conn->busy_connect = true;
    sp_io_connect(c->io, &conn->op_connect, fd, (const struct sockaddr *)&conn->addr,
                  conn->addrlen);
    uint64_t at = now_ns(c) + (uint64_t)c->cfg.connect_timeout_ms * NS_PER_MS;
    (void)sp_timers_add(&c->timers, &conn->timer, at, conn_timer_fn);
    sp_log_debug("client: %s: connecting (lane %u)", n->name, conn->lane);
}

/* Back to IDLE once no io operation refers to the connection any more. */
static void conn_maybe_reset(struct spc_conn *conn)
{
    if (conn->state != CONN_CLOSING || conn->busy_connect || conn->busy_recv || conn->busy_send ||
        conn->cancels > 0) {
        return;
    }
    if (conn->fd >= 0) {
        close(conn->fd);
        conn->fd = -1;
    }
    conn->out.len = 0;
    conn->out.err = 0;
    conn->sending.len = 0;
    conn->sending.err = 0;
    conn->send_off = 0;
    if (conn->out.cap > SPC_SEND_KEEP_BYTES) {
        sp_wr_free(&conn->out);
        sp_wr_init(&conn->out, NULL, 0);
    }
    if (conn->sending.cap > SPC_SEND_KEEP_BYTES) {
        sp_wr_free(&conn->sending);
        sp_wr_init(&conn->sending, NULL, 0);
    }
    conn->rpos = conn->rlen = 0;
    conn->in_frame = false;
    conn->direct = false;
    conn->frame = NULL;
    sp_arena_destroy(&conn->fa);
    sp_arena_init(&conn->fa, NULL, 0, 0);
    conn->state = CONN_IDLE;
    conn->c->reroute = true;
}

static void conn_cancel_op(struct spc_conn *conn, struct sp_io_op *target)
{
    struct conn_cancel *cc = &conn->cancel[conn->cancels++];
    sp_io_cancel(conn->c->io, &cc->op, target);
}

/* Whether a call that lost its connection goes out again. */
static bool cs_may_resend(const struct spc_cs *cs, int code)
{
    const struct spc_client *c = cs->c;
    return !c->closing && cs->call->retry_transport && cs->attempts < c->cfg.retries &&
           (code == -ECONNRESET || code == -ETIMEDOUT);
}

/*
 * Closes conn after rc (why: fmt). victim, if any, is the call that caused
 * it and ends with victim_rc; the other calls out on the connection end with
 * -ECONNRESET; each is resent instead when it may be. Calls queued behind
 * max_inflight never went out and are routed again.
 */
static void conn_fail(struct spc_conn *conn, int rc, struct spc_cs *victim, int victim_rc,
                      const char *fmt, ...)
{
    struct spc_client *c = conn->c;
    struct spc_node *n = conn->node;
    if (conn->state == CONN_IDLE || conn->state == CONN_CLOSING) {
        return;
    }
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    bool never_ready = conn->state != CONN_READY;
    conn->state = CONN_CLOSING;
    sp_timers_del(&c->timers, &conn->timer);
    if (never_ready && !c->closing) {
        node_failed(n, rc, why);
    } else if (!c->closing) {
        struct spc_error e;
        spc_error_set(&e, victim != NULL ? victim_rc : rc, n->name, "%s", why);
        sp_log_info("client: closing the connection: %s", e.message);
    }
    if (conn->fd >= 0) {
        (void)shutdown(conn->fd, SHUT_RDWR);
    }
    if (conn->busy_connect) {
        conn_cancel_op(conn, &conn->op_connect);
    }
    if (conn->busy_recv) {
        conn_cancel_op(conn, &conn->op_recv);
    }
    if (conn->busy_send) {
        conn_cancel_op(conn, &conn->op_send);
    }
    struct cs_list *lists[2] = {&conn->inflight, &conn->noresp};
    for (size_t i = 0; i < SP_ARRAY_LEN(lists); i++) {
        struct spc_cs *cs;
        while ((cs = cs_list_pop(lists[i])) != NULL) {
            struct spc_call *call = cs->call;
            int code = c->closing ? -ECANCELED : cs == victim ? victim_rc : -ECONNRESET;
            if (cs_may_resend(cs, code)) {
                cs->attempts++;
                cs_backoff(cs);
            } else if (cs == victim) {
                cs_fail(cs, code, n->name, "%s", why);
            } else {
                cs_fail(cs, code, n->name, "%s v%d: connection lost (%s)", api_name(call->api_key),
                        call->version, why);
            }
        }
    }
    struct spc_cs *cs;
    while ((cs = cs_list_pop(&conn->wait)) != NULL) {
        if (c->closing) {
            cs_fail(cs, -ECANCELED, n->name, "%s: client closed", api_name(cs->call->api_key));
        } else {
            cs_pending(cs);
        }
    }
    c->reroute = true;
    conn_maybe_reset(conn);
}

static void conn_timer_fn(struct sp_timer *t)
{
    struct spc_conn *conn = sp_container_of(t, struct spc_conn, timer);
    const struct spc_config *cfg = &conn->c->cfg;
    if (conn->state == CONN_CONNECTING) {
        conn_fail(conn, -ETIMEDOUT, NULL, 0, "connect (no answer within %d ms)",
                  (int)cfg->connect_timeout_ms);
    } else if (conn->state == CONN_HANDSHAKE) {
        conn_fail(conn, -ETIMEDOUT, NULL, 0, "ApiVersions v%d unanswered after %d ms",
                  conn->hs_version, (int)cfg->request_timeout_ms);
    }
}

static void conn_cancel_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct conn_cancel *cc = sp_container_of(op, struct conn_cancel, op);
    struct spc_conn *conn = cc->conn;
    SP_ASSERT(conn->cancels > 0);
    conn->cancels--;
    conn_maybe_reset(conn);
}

/* ---- Sending -------------------------------------------------------------- */

static void conn_send_more(struct spc_conn *conn)
{
    size_t left = conn->sending.len - conn->send_off;
    uint32_t len = left > SPC_IO_CHUNK_MAX ? SPC_IO_CHUNK_MAX : (uint32_t)left;
    conn->busy_send = true;
    sp_io_send(conn->c->io, &conn->op_send, conn->fd, conn->sending.buf + conn->send_off, len);
}

/* Puts what was encoded on the wire, one send for all the frames queued. */
static void conn_flush(struct spc_conn *conn)
{
    if ((conn->state != CONN_READY && conn->state != CONN_HANDSHAKE) || conn->busy_send ||
        conn->out.len == 0) {
        return;
    }
    struct sp_wr t = conn->sending;
    conn->sending = conn->out;
    conn->out = t;
    conn->out.len = 0;
    conn->out.err = 0;
    conn->sending_gen = conn->out_gen++;
    conn->send_off = 0;
    conn_send_more(conn);
}

static void conn_send_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    (void)flags;
    struct spc_conn *conn = sp_container_of(op, struct spc_conn, op_send);
    conn->busy_send = false;
    if (conn->state == CONN_CLOSING) {
        conn_maybe_reset(conn);
        return;
    }
    if (res <= 0) {
        conn_fail(conn, res < 0 ? res : -EPIPE, NULL, 0, "send");
        return;
    }
    conn->send_off += (size_t)res;
    if (conn->send_off < conn->sending.len) {
        conn_send_more(conn);
        return;
    }
    conn->sending.len = 0;
    if (conn->sending.cap > SPC_SEND_KEEP_BYTES) {
        sp_wr_free(&conn->sending);
        sp_wr_init(&conn->sending, NULL, 0);
    }
    struct spc_cs *cs;
    while ((cs = conn->noresp.head) != NULL && cs->gen <= conn->sending_gen) {
        cs_complete(cs, 0);
    }
    conn_pump(conn);
    conn_flush(conn);
}

static bool node_version_pick(const struct spc_node *n, const struct kproto_api *api,
                              int16_t want_min, int16_t want_max, int16_t *out)
{
    *out = -1;
    if (api->key < 0 || api->key >= SPC_API_KEYS || n->vmax[api->key] < 0) {
        return false;
    }
    int16_t hi = SP_MIN(SP_MIN(want_max, n->vmax[api->key]), api_our_max(api));
    int16_t lo = SP_MAX(SP_MAX(want_min, n->vmin[api->key]), api->min_version);
    if (hi < lo) {
        return false;
    }
    *out = hi;
    return true;
}

static bool conn_room(const struct spc_conn *conn)
{
    return conn->inflight.len + conn->noresp.len < conn->c->cfg.max_inflight;
}

/* Encodes cs's request into conn's send buffer at the version both sides speak. */
static void conn_encode(struct spc_conn *conn, struct spc_cs *cs)
{
    struct spc_client *c = conn->c;
    struct spc_node *n = conn->node;
    struct spc_call *call = cs->call;
    const struct kproto_api *api = kproto_api_get(call->api_key);
    int16_t v;
    if (!node_version_pick(n, api, call->min_version, call->max_version, &v)) {
        int16_t bmin = -1, bmax = -1;
        if (api->key < SPC_API_KEYS) {
            bmin = n->vmin[api->key];
            bmax = n->vmax[api->key];
        }
        if (bmax < 0) {
            cs_fail(cs, -ENOTSUP, n->name, "%s: not offered by the broker", api->name);
        } else {
            cs_fail(cs, -ENOTSUP, n->name, "%s: versions %d-%d wanted, the broker offers %d-%d",
                    api->name, call->min_version, SP_MIN(call->max_version, api_our_max(api)), bmin,
                    bmax);
        }
        return;
    }
    if (cs->prepare != NULL) {
        cs->prepare(call, v);
    }
    struct kproto_request_header h = {
        .RequestApiKey = call->api_key,
        .RequestApiVersion = v,
        .CorrelationId = conn->next_corr,
        .ClientId = sp_str_make(c->client_id),
    };
    size_t mark = conn->out.len;
    int rc = kproto_request_frame_write(&conn->out, &h, call->request);
    if (rc < 0) {
        conn->out.len = mark;
        conn->out.err = 0;
        cs_fail(cs, rc, n->name, "%s v%d: the request cannot be encoded", api->name, v);
        return;
    }
    conn->next_corr = (conn->next_corr + 1) & INT32_MAX;
    cs->corr = h.CorrelationId;
    call->version = v;
    call->sent_to = n->id;
    snprintf(call->broker, sizeof(call->broker), "%s", n->name);
    cs_list_remove(cs);
    cs->conn = conn;
    if (call->no_response) {
        cs->where = CS_NORESP;
        cs->gen = conn->out_gen;
        cs_list_push(&conn->noresp, cs);
    } else {
        cs->where = CS_INFLIGHT;
        cs_list_push(&conn->inflight, cs);
    }
    conn_mark_dirty(conn);
}

/* Encodes what waits behind max_inflight while there is room. */
static void conn_pump(struct spc_conn *conn)
{
    while (conn->state == CONN_READY && conn->wait.head != NULL && conn_room(conn)) {
        conn_encode(conn, conn->wait.head);
    }
}

static void flush_dirty(struct spc_client *c)
{
    struct spc_conn *conn;
    while ((conn = c->dirty_head) != NULL) {
        c->dirty_head = conn->dirty_next;
        conn->dirty = false;
        conn->dirty_next = NULL;
        conn_flush(conn);
    }
}

/* ---- Handshake (ApiVersions) ---------------------------------------------- */

static void conn_handshake_send(struct spc_conn *conn, int16_t version)
{
    struct spc_client *c = conn->c;
    struct kproto_api_versions_request req;
    kproto_api_versions_request_init(&req);
    if (version >= 3) {
        req.ClientSoftwareName = sp_str_make(SPC_CLIENT_SOFTWARE);
        req.ClientSoftwareVersion = sp_str_make(SPC_CLIENT_VERSION);
    }
    struct kproto_request_header h = {
        .RequestApiKey = KPROTO_API_KEY_API_VERSIONS,
        .RequestApiVersion = version,
        .CorrelationId = conn->next_corr,
        .ClientId = sp_str_make(c->client_id),
    };
    conn->next_corr = (conn->next_corr + 1) & INT32_MAX;
    conn->hs_version = version;
    conn->hs_corr = h.CorrelationId;
    conn->hs_tries++;
    size_t mark = conn->out.len;
    if (kproto_request_frame_write(&conn->out, &h, &req) < 0) {
        conn->out.len = mark;
        conn->out.err = 0;
        conn_fail(conn, -ENOMEM, NULL, 0, "ApiVersions v%d: the request cannot be encoded",
                  version);
        return;
    }
    conn_flush(conn);
}

static void conn_ready(struct spc_conn *conn, const struct kproto_api_versions_response *r)
{
    struct spc_client *c = conn->c;
    struct spc_node *n = conn->node;
    for (int i = 0; i < SPC_API_KEYS; i++) {
        n->vmin[i] = n->vmax[i] = -1;
    }
    for (int32_t i = 0; i < r->ApiKeys_count; i++) {
        const struct kproto_api_versions_response_api_version *k = &r->ApiKeys[i];
        if (k->ApiKey >= 0 && k->ApiKey < SPC_API_KEYS && k->MinVersion >= 0 &&
            k->MinVersion <= k->MaxVersion) {
            n->vmin[k->ApiKey] = k->MinVersion;
            n->vmax[k->ApiKey] = k->MaxVersion;
        }
    }
    n->versions_known = true;
    n->fails = 0;
    n->retry_at_ns = 0;
    sp_timers_del(&c->timers, &conn->timer);
    conn->state = CONN_READY;
    c->reroute = true;
    sp_log_debug("client: %s: ready (lane %u, ApiVersions v%d)", n->name, conn->lane,
                 conn->hs_version);
}

/* The ApiVersions answer: ready, retry at a lower version, or fail. */
static bool conn_handshake_frame(struct spc_conn *conn, struct sp_arena *a)
{
    struct sp_rd rd;
    sp_rd_init(&rd, conn->frame, conn->frame_len);
    struct kproto_response_header h;
    int rc = kproto_response_header_read(&rd, a, KPROTO_API_KEY_API_VERSIONS, conn->hs_version, &h);
    if (rc < 0 || h.CorrelationId != conn->hs_corr) {
        conn_fail(conn, -EPROTO, NULL, 0, "ApiVersions v%d: bad response header", conn->hs_version);
        return false;
    }
    const uint8_t *body = rd.p;
    size_t body_len = sp_rd_left(&rd);
    struct kproto_api_versions_response r;
    kproto_api_versions_response_init(&r);
    rc = kproto_api_versions_response_decode(&rd, a, conn->hs_version, &r);
    if (conn->hs_version > 0 && (rc < 0 || r.ErrorCode == KERR_UNSUPPORTED_VERSION)) {
        /* A broker that does not speak our version answers in v0. */
        sp_rd_init(&rd, body, body_len);
        kproto_api_versions_response_init(&r);
        rc = kproto_api_versions_response_decode(&rd, a, 0, &r);
        /* Some answer UNSUPPORTED_VERSION in neither format (librdkafka's
         * mock cluster): the error code still leads the body; then v0. */
        if (rc < 0 && body_len >= 2 && sp_load_be16(body) == KERR_UNSUPPORTED_VERSION) {
            rc = 0;
            r.ErrorCode = KERR_UNSUPPORTED_VERSION;
            r.ApiKeys_count = 0;
        }
        if (rc == 0 && r.ErrorCode == KERR_UNSUPPORTED_VERSION) {
            int16_t next = 0;
            for (int32_t i = 0; i < r.ApiKeys_count; i++) {
                if (r.ApiKeys[i].ApiKey == KPROTO_API_KEY_API_VERSIONS) {
                    next = SP_MIN(r.ApiKeys[i].MaxVersion, (int16_t)(conn->hs_version - 1));
                }
            }
            if (next < 0) {
                next = 0;
            }
            if (conn->hs_tries >= SPC_HANDSHAKE_TRIES) {
                conn_fail(conn, -EPROTO, NULL, 0, "ApiVersions: no version agreed");
                return false;
            }
            conn_handshake_send(conn, next);
            return conn->state == CONN_HANDSHAKE;
        }
    }
    if (rc < 0) {
        conn_fail(conn, -EPROTO, NULL, 0, "ApiVersions v%d: malformed response", conn->hs_version);
        return false;
    }
    if (r.ErrorCode != 0) {
        conn_fail(conn, -EPROTO, NULL, 0, "ApiVersions v%d: %s", conn->hs_version,
                  kerr_name(r.ErrorCode));
        return false;
    }
    conn_ready(conn, &r);
    return true;
}

/* ---- Receiving ------------------------------------------------------------ */

static void conn_recv_arm(struct spc_conn *conn)
{
    if (conn->busy_recv || (conn->state != CONN_HANDSHAKE && conn->state != CONN_READY)) {
        return;
    }
    struct sp_io *io = conn->c->io;
    if (conn->in_frame && conn->rpos == conn->rlen &&
        conn->frame_len - conn->frame_got >= SPC_RECV_DIRECT_MIN) {
        size_t left = conn->frame_len - conn->frame_got;
        conn->direct = true;
        conn->busy_recv = true;
        sp_io_recv(io, &conn->op_recv, conn->fd, conn->frame + conn->frame_got,
                   left > SPC_IO_CHUNK_MAX ? SPC_IO_CHUNK_MAX : (uint32_t)left);
        return;
    }
    if (conn->rpos == conn->rlen) {
        conn->rpos = conn->rlen = 0;
    } else if (conn->rpos > 0) {
        memmove(conn->rbuf, conn->rbuf + conn->rpos, conn->rlen - conn->rpos);
        conn->rlen -= conn->rpos;
        conn->rpos = 0;
    }
    conn->direct = false;
    conn->busy_recv = true;
    sp_io_recv(io, &conn->op_recv, conn->fd, conn->rbuf + conn->rlen,
               (uint32_t)(SPC_RECV_BYTES - conn->rlen));
}

/* A frame of `size` bytes starts: room for it in the frame arena. */
static bool conn_frame_begin(struct spc_conn *conn, uint32_t size)
{
    struct spc_client *c = conn->c;
    size_t limit = c->cfg.max_response_bytes;
    if (conn->state == CONN_HANDSHAKE && limit < SPC_HANDSHAKE_BYTES_MAX) {
        limit = SPC_HANDSHAKE_BYTES_MAX;
    }
    if (size > limit || size > INT32_MAX) {
        struct spc_cs *head = conn->inflight.head;
        conn_fail(conn, -ECONNRESET, head, -EMSGSIZE,
                  "%s: response of %u bytes is over max_response_bytes (%zu)",
                  head != NULL ? api_name(head->call->api_key) : "response", size, limit);
        return false;
    }
    /* The decoded response goes into the same arena: room for its arrays. */
    sp_arena_init(&conn->fa, NULL, 0, (size_t)size * 4 + (4u << 20));
    conn->frame = sp_arena_alloc(&conn->fa, size > 0 ? size : 1);
    if (conn->frame == NULL) {
        conn_fail(conn, -ENOMEM, NULL, 0, "no memory for a response of %u bytes", size);
        return false;
    }
    conn->frame_len = size;
    conn->frame_got = 0;
    conn->in_frame = true;
    return true;
}

/* A whole response frame is in conn->frame: decode it for the call at the head. */
static bool conn_deliver(struct spc_conn *conn)
{
    struct spc_node *n = conn->node;
    struct sp_arena a = conn->fa;
    sp_arena_init(&conn->fa, NULL, 0, 0);
    if (conn->state == CONN_HANDSHAKE) {
        bool ok = conn_handshake_frame(conn, &a);
        sp_arena_destroy(&a);
        conn->frame = NULL;
        return ok;
    }
    struct spc_cs *cs = conn->inflight.head;
    if (cs == NULL) {
        sp_arena_destroy(&a);
        conn->frame = NULL;
        conn_fail(conn, -EPROTO, NULL, 0, "a response nobody asked for");
        return false;
    }
    struct spc_call *call = cs->call;
    const struct kproto_api *api = kproto_api_get(call->api_key);
    struct sp_rd rd;
    sp_rd_init(&rd, conn->frame, conn->frame_len);
    conn->frame = NULL;
    struct kproto_response_header h;
    int rc = kproto_response_header_read(&rd, &a, call->api_key, call->version, &h);
    if (rc < 0 || h.CorrelationId != cs->corr) {
        sp_arena_destroy(&a);
        conn_fail(conn, -EPROTO, cs, -EPROTO, "%s v%d: response correlation id %d, expected %d",
                  api->name, call->version, (int)h.CorrelationId, (int)cs->corr);
        return false;
    }
    void *body = sp_arena_alloc(&a, api->response->size);
    if (body == NULL) {
        rc = -ENOMEM;
    } else {
        api->response->init(body);
        rc = api->response->decode(&rd, &a, call->version, body);
    }
    if (rc < 0) {
        sp_arena_destroy(&a);
        cs_fail(cs, rc == -ENOMEM ? rc : -EBADMSG, n->name, "%s v%d: malformed response", api->name,
                call->version);
    } else {
        call->arena = a;
        call->response = body;
        cs_complete(cs, 0);
    }
    conn_pump(conn);
    return true;
}

/* Splits what was received into frames. false once the connection failed. */
static bool conn_parse(struct spc_conn *conn)
{
    for (;;) {
        if (!conn->in_frame) {
            if (conn->rlen - conn->rpos < 4) {
                return true;
            }
            uint32_t size = sp_load_be32(conn->rbuf + conn->rpos);
            conn->rpos += 4;
            if (!conn_frame_begin(conn, size)) {
                return false;
            }
        }
        size_t n = SP_MIN(conn->frame_len - conn->frame_got, conn->rlen - conn->rpos);
        if (n > 0) {
            memcpy(conn->frame + conn->frame_got, conn->rbuf + conn->rpos, n);
            conn->frame_got += n;
            conn->rpos += n;
        }
        if (conn->frame_got < conn->frame_len) {
            return true;
        }
        conn->in_frame = false;
        if (!conn_deliver(conn)) {
            return false;
        }
        if (conn->state != CONN_READY && conn->state != CONN_HANDSHAKE) {
            return false;
        }
    }
}

static void conn_recv_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    (void)flags;
    struct spc_conn *conn = sp_container_of(op, struct spc_conn, op_recv);
    conn->busy_recv = false;
    if (conn->state == CONN_CLOSING) {
        conn_maybe_reset(conn);
        return;
    }
    if (res == 0) {
        conn_fail(conn, -ECONNRESET, NULL, 0, "connection closed by the broker");
        return;
    }
    if (res < 0) {
        conn_fail(conn, res, NULL, 0, "recv");
        return;
    }
    if (conn->direct) {
        conn->frame_got += (size_t)res;
    } else {
        conn->rlen += (size_t)res;
    }
    conn->direct = false;
    if (conn_parse(conn)) {
        conn_recv_arm(conn);
    }
}

static void conn_connect_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    (void)flags;
    struct spc_conn *conn = sp_container_of(op, struct spc_conn, op_connect);
    struct spc_client *c = conn->c;
    conn->busy_connect = false;
    if (conn->state == CONN_CLOSING) {
        conn_maybe_reset(conn);
        return;
    }
    if (res < 0) {
        conn_fail(conn, res, NULL, 0, "connect");
        return;
    }
    conn->state = CONN_HANDSHAKE;
    uint64_t at = now_ns(c) + (uint64_t)c->cfg.request_timeout_ms * NS_PER_MS;
    (void)sp_timers_add(&c->timers, &conn->timer, at, conn_timer_fn);
    conn_recv_arm(conn);
    conn_handshake_send(conn, SPC_API_VERSIONS_MAX);
}

/* ---- Routing -------------------------------------------------------------- */

/* SPC_ANY_BROKER: the least loaded ready broker, else one being connected, else the next one. */
static struct spc_node *pick_any(struct spc_client *c, uint32_t lane)
{
    struct spc_node *best = NULL, *connecting = NULL;
    uint32_t best_load = UINT32_MAX;
    for (size_t i = 0; i < c->nodes_count; i++) {
        struct spc_node *n = c->nodes[i];
        struct spc_conn *conn = node_lane_peek(n, lane);
        if (conn == NULL) {
            continue;
        }
        if (conn->state == CONN_READY) {
            uint32_t load = conn->inflight.len + conn->wait.len;
            if (load < best_load) {
                best = n;
                best_load = load;
            }
        } else if (conn->state == CONN_CONNECTING || conn->state == CONN_HANDSHAKE) {
            connecting = n;
        }
    }
    if (best != NULL) {
        return best;
    }
    if (connecting != NULL) {
        return connecting;
    }
    uint64_t now = now_ns(c);
    for (size_t i = 0; i < c->nodes_count; i++) {
        size_t k = (c->any_next + i) % c->nodes_count;
        struct spc_node *n = c->nodes[k];
        struct spc_conn *conn = node_lane_peek(n, lane);
        if (now >= n->retry_at_ns && (conn == NULL || conn->state == CONN_IDLE)) {
            c->any_next = (uint32_t)(k + 1);
            return n;
        }
    }
    return NULL;
}

static int coord_resolve(struct spc_cs *cs, struct spc_node **out);

/* The node cs goes to, NULL to wait; -1 when it failed cs. */
static int cs_resolve(struct spc_cs *cs, struct spc_node **out)
{
    struct spc_client *c = cs->c;
    struct spc_call *call = cs->call;
    *out = NULL;
    int32_t id = call->node;
    if (id == SPC_ANY_BROKER) {
        *out = pick_any(c, call->lane);
        return 0;
    }
    if (id == SPC_COORDINATOR) {
        return coord_resolve(cs, out);
    }
    if (id == SPC_CONTROLLER) {
        if (c->controller < 0) {
            md_want_brokers(c);
            return 0;
        }
        id = c->controller;
    }
    struct spc_node *n = node_by_id(c, id);
    if (n != NULL) {
        *out = n;
        return 0;
    }
    if (c->md_epoch > cs->md_epoch) {
        cs_fail(cs, -ENOENT, NULL, "%s: broker %d is not in the cluster's metadata",
                api_name(call->api_key), (int)id);
        return -1;
    }
    md_want_brokers(c);
    return 0;
}

static void cs_route(struct spc_cs *cs)
{
    struct spc_client *c = cs->c;
    struct spc_call *call = cs->call;
    struct spc_node *cur = cs->node;
    if (cur != NULL && cur->fail_seq != cs->fail_base) {
        cs->connect_fails += (int32_t)(cur->fail_seq - cs->fail_base);
        cs->err_node = cur;
        cs->fail_base = cur->fail_seq;
        if (call->node == SPC_ANY_BROKER) {
            cs->node = NULL;
        }
    }
    if (cs->connect_fails > c->cfg.retries && cs->err_node != NULL) {
        cs_fail_err(cs, &cs->err_node->err);
        return;
    }
    struct spc_node *n;
    if (cs_resolve(cs, &n) < 0) {
        return;
    }
    if (n == NULL) {
        cs_pending(cs);
        return;
    }
    if (n != cs->node) {
        cs->node = n;
        cs->fail_base = n->fail_seq;
    }
    struct spc_conn *conn = node_lane(n, call->lane);
    if (conn == NULL) {
        cs_fail(cs, -ENOMEM, n->name, "%s: no memory for a connection", api_name(call->api_key));
        return;
    }
    if (conn->state == CONN_READY) {
        if (conn->wait.len == 0 && conn_room(conn)) {
            conn_encode(conn, cs);
        } else if (cs->list != &conn->wait) {
            cs_list_remove(cs);
            cs->where = CS_WAIT;
            cs->conn = conn;
            cs_list_push(&conn->wait, cs);
        }
        return;
    }
    cs_pending(cs);
    if (conn->state == CONN_IDLE && now_ns(c) >= n->retry_at_ns) {
        conn_start(conn);
    }
}

/* Routes every pending call once (the ones routed again go to the back). */
static void route_pending(struct spc_client *c)
{
    uint32_t n = c->pending.len;
    while (n-- > 0) {
        struct spc_cs *cs = cs_list_pop(&c->pending);
        if (cs == NULL) {
            break;
        }
        cs->where = CS_NONE;
        cs_route(cs);
    }
}

/* ---- Public: client ------------------------------------------------------- */

void spc_config_init(struct spc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->client_id = "spindle";
    cfg->request_timeout_ms = 30000;
    cfg->connect_timeout_ms = 10000;
    cfg->retries = 5;
    cfg->retry_backoff_ms = 100;
    cfg->retry_backoff_max_ms = 1000;
    cfg->metadata_max_age_ms = 300000;
    cfg->max_inflight = 5;
    cfg->connections = 1;
    cfg->max_response_bytes = 64u << 20;
    cfg->allow_auto_create = false;
}

/* Parses "host:port[,host:port...]" ("[v6]:port" too) into bootstrap nodes. */
static int parse_bootstrap(struct spc_client *c, const char *list, struct spc_error *err)
{
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len > 0) {
            char item[300];
            if (len >= sizeof(item)) {
                spc_error_set(err, -EINVAL, NULL, "bootstrap: address too long");
                return -EINVAL;
            }
            memcpy(item, p, len);
            item[len] = '\0';
            char *colon = strrchr(item, ':');
            char *host = item;
            long port = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;
            if (colon == NULL || colon == item || port <= 0 || port > 65535) {
                spc_error_set(err, -EINVAL, NULL, "bootstrap \"%s\": not host:port", item);
                return -EINVAL;
            }
            *colon = '\0';
            size_t hl = strlen(host);
            if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
                host[hl - 1] = '\0';
                host++;
            }
            if (c->nodes_count >= SPC_BOOTSTRAP_MAX) {
                spc_error_set(err, -EINVAL, NULL, "bootstrap: more than %d addresses",
                              SPC_BOOTSTRAP_MAX);
                return -EINVAL;
            }
            struct spc_node *n = node_new(c, -1, host, (int32_t)port);
            if (n == NULL) {
                spc_error_set(err, -ENOMEM, NULL, "bootstrap");
                return -ENOMEM;
            }
            n->bootstrap = true;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    if (c->nodes_count == 0) {
        spc_error_set(err, -EINVAL, NULL, "bootstrap: no address in \"%s\"", list);
        return -EINVAL;
    }
    return 0;
}

static void client_destroy(struct spc_client *c);

int spc_client_new(const struct spc_config *cfg, struct spc_client **out, struct spc_error *err)
{
    *out = NULL;
    if (err != NULL) {
        err->code = 0;
        err->message[0] = '\0';
    }
    if (cfg == NULL || cfg->bootstrap == NULL) {
        spc_error_set(err, -EINVAL, NULL, "client: no bootstrap servers");
        return -EINVAL;
    }
    struct spc_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        spc_error_set(err, -ENOMEM, NULL, "client");
        return -ENOMEM;
    }
    struct spc_config def;
    spc_config_init(&def);
    c->cfg = *cfg;
    if (c->cfg.client_id == NULL) {
        c->cfg.client_id = def.client_id;
    }
    if (c->cfg.request_timeout_ms <= 0) {
        c->cfg.request_timeout_ms = def.request_timeout_ms;
    }
    if (c->cfg.connect_timeout_ms <= 0) {
        c->cfg.connect_timeout_ms = def.connect_timeout_ms;
    }
    if (c->cfg.retries < 0) {
        c->cfg.retries = 0;
    }
    if (c->cfg.retry_backoff_ms <= 0) {
        c->cfg.retry_backoff_ms = def.retry_backoff_ms;
    }
    if (c->cfg.retry_backoff_max_ms < c->cfg.retry_backoff_ms) {
        c->cfg.retry_backoff_max_ms = SP_MAX(def.retry_backoff_max_ms, c->cfg.retry_backoff_ms);
    }
    if (c->cfg.metadata_max_age_ms <= 0) {
        c->cfg.metadata_max_age_ms = def.metadata_max_age_ms;
    }
    if (c->cfg.max_inflight == 0) {
        c->cfg.max_inflight = def.max_inflight;
    }
    if (c->cfg.connections == 0) {
        c->cfg.connections = 1;
    }
    if (c->cfg.connections > SPC_CONNECTIONS_MAX) {
        c->cfg.connections = SPC_CONNECTIONS_MAX;
    }
    if (c->cfg.max_response_bytes == 0) {
        c->cfg.max_response_bytes = def.max_response_bytes;
    }
    if (c->cfg.max_response_bytes > INT32_MAX) {
        c->cfg.max_response_bytes = INT32_MAX;
    }
    c->controller = -1;
    c->md_backoff_ms = c->cfg.retry_backoff_ms;
    sp_timers_init(&c->timers);
    c->bootstrap = strdup(cfg->bootstrap);
    c->client_id = strdup(c->cfg.client_id);
    if (c->bootstrap == NULL || c->client_id == NULL) {
        client_destroy(c);
        spc_error_set(err, -ENOMEM, NULL, "client");
        return -ENOMEM;
    }
    c->cfg.bootstrap = c->bootstrap;
    c->cfg.client_id = c->client_id;
    int rc = parse_bootstrap(c, c->bootstrap, err);
    if (rc < 0) {
        client_destroy(c);
        return rc;
    }
    struct sp_io_params params;
    memset(&params, 0, sizeof(params));
    rc = sp_io_kernel_cap_from_env(&params.kernel_cap);
    if (rc == 0) {
        rc = sp_io_create_uring(&c->io, &params);
    }
    if (rc < 0) {
        client_destroy(c);
        spc_error_set(err, rc, NULL, "client: io_uring");
        return rc;
    }
    *out = c;
    return 0;
}

/* Work deferred out of callbacks: routing, done callbacks, sends. */
static int run_deferred(struct spc_client *c)
{
    int work = 0;
    for (int round = 0; round < SPC_DEFERRED_ROUNDS; round++) {
        if (c->reroute) {
            c->reroute = false;
            route_pending(c);
        }
        int n = run_done(c);
        work += n;
        if (n == 0 && !c->reroute) {
            break;
        }
    }
    flush_dirty(c);
    return work;
}

static void md_periodic(struct spc_client *c)
{
    if (!c->md_ok || c->topics_count == 0 || c->md_auto_inflight) {
        return;
    }
    uint64_t age = (uint64_t)c->cfg.metadata_max_age_ms * NS_PER_MS;
    if (now_ns(c) - c->md_last_ns >= age) {
        c->stale_all = true;
        md_schedule(c);
    }
}

int spc_poll(struct spc_client *c, int timeout_ms)
{
    if (c->poll_depth >= SPC_POLL_DEPTH_MAX) {
        return -EDEADLK;
    }
    c->poll_depth++;
    int work = run_deferred(c);
    md_periodic(c);
    uint64_t wait = timeout_ms > 0 ? (uint64_t)timeout_ms * NS_PER_MS : 0;
    int (*const ticks[])(struct spc_client *) = {spc_producer_tick, spc_fetcher_tick,
                                                 spc_group_tick};
    for (size_t i = 0; i < SP_ARRAY_LEN(ticks) && !c->closing; i++) {
        int ms = ticks[i] != NULL ? ticks[i](c) : -1;
        if (ms >= 0 && (uint64_t)ms * NS_PER_MS < wait) {
            wait = (uint64_t)ms * NS_PER_MS;
        }
    }
    flush_dirty(c);
    if (work > 0 || c->done.len > 0 || c->reroute) {
        wait = 0;
    }
    uint64_t now = now_ns(c);
    uint64_t next = sp_timers_next_ns(&c->timers);
    if (next != UINT64_MAX) {
        uint64_t until = next > now ? next - now : 0;
        if (until < wait) {
            wait = until;
        }
    }
    int rc = sp_io_poll(c->io, wait);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        c->poll_depth--;
        return rc;
    }
    work += sp_io_run_completions(c->io, SPC_POLL_BUDGET);
    work += sp_timers_expire(&c->timers, now_ns(c), SPC_POLL_BUDGET);
    work += run_deferred(c);
    c->poll_depth--;
    return work;
}

int spc_wait(struct spc_client *c, const bool *done, int timeout_ms)
{
    uint64_t deadline = now_ns(c) + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * NS_PER_MS;
    while (!*done) {
        uint64_t now = now_ns(c);
        int ms = now < deadline ? (int)((deadline - now + NS_PER_MS - 1) / NS_PER_MS) : 0;
        int rc = spc_poll(c, ms);
        if (rc < 0) {
            return rc;
        }
        /* Time is up only after a last look at what is ready. */
        if (!*done && now >= deadline) {
            return -ETIMEDOUT;
        }
    }
    return 0;
}

int64_t spc_now_ms(const struct spc_client *c)
{
    return (int64_t)(now_ns(c) / NS_PER_MS);
}

bool spc_retriable(int16_t e)
{
    switch (e) {
    case KERR_CORRUPT_MESSAGE:
    case KERR_UNKNOWN_TOPIC_OR_PARTITION:
    case KERR_LEADER_NOT_AVAILABLE:
    case KERR_NOT_LEADER_OR_FOLLOWER:
    case KERR_REQUEST_TIMED_OUT:
    case KERR_REPLICA_NOT_AVAILABLE:
    case KERR_NETWORK_EXCEPTION:
    case KERR_COORDINATOR_LOAD_IN_PROGRESS:
    case KERR_COORDINATOR_NOT_AVAILABLE:
    case KERR_NOT_COORDINATOR:
    case KERR_NOT_ENOUGH_REPLICAS:
    case KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case KERR_NOT_CONTROLLER:
    case KERR_CONCURRENT_TRANSACTIONS:
    case KERR_KAFKA_STORAGE_ERROR:
    case KERR_FETCH_SESSION_ID_NOT_FOUND:
    case KERR_INVALID_FETCH_SESSION_EPOCH:
    case KERR_LISTENER_NOT_FOUND:
    case KERR_FENCED_LEADER_EPOCH:
    case KERR_UNKNOWN_LEADER_EPOCH:
    case KERR_OFFSET_NOT_AVAILABLE:
    case KERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case KERR_ELIGIBLE_LEADERS_NOT_AVAILABLE:
    case KERR_UNSTABLE_OFFSET_COMMIT:
    case KERR_THROTTLING_QUOTA_EXCEEDED:
    case KERR_UNKNOWN_TOPIC_ID:
    case KERR_INCONSISTENT_TOPIC_ID:
    case KERR_FETCH_SESSION_TOPIC_ID_ERROR:
        return true;
    default:
        return false;
    }
}

void spc_error_set(struct spc_error *err, int code, const char *broker, const char *fmt, ...)
{
    if (err == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, broker, fmt, ap);
    va_end(ap);
}

/* ---- Public: requests ----------------------------------------------------- */

static int send_call(struct spc_client *c, struct spc_call *call, cs_prepare_fn prepare)
{
    if (c->closing) {
        return -ECANCELED;
    }
    const struct kproto_api *api = kproto_api_get(call->api_key);
    if (api == NULL || api->request == NULL || api->response == NULL || call->request == NULL ||
        call->done == NULL || call->node < SPC_COORDINATOR ||
        (call->node == SPC_COORDINATOR && call->coordinator_key == NULL)) {
        return -EINVAL;
    }
    struct spc_cs *cs = cs_alloc(c);
    if (cs == NULL) {
        return -ENOMEM;
    }
    cs->call = call;
    cs->prepare = prepare;
    cs->timeout_ms = call->timeout_ms > 0 ? call->timeout_ms : c->cfg.request_timeout_ms;
    cs->md_epoch = c->md_epoch;
    call->response = NULL;
    call->version = -1;
    call->sent_to = -1;
    call->broker[0] = '\0';
    call->error.code = 0;
    call->error.message[0] = '\0';
    sp_arena_init(&call->arena, NULL, 0, 0);
    call->priv = cs;
    cs_attempt_start(cs);
    return 0;
}

int spc_send(struct spc_client *c, struct spc_call *call)
{
    return send_call(c, call, NULL);
}

void spc_call_release(struct spc_call *call)
{
    sp_arena_destroy(&call->arena);
    sp_arena_init(&call->arena, NULL, 0, 0);
    call->response = NULL;
}

struct sync_wait {
    bool done;
    int rc;
};

static void sync_done(struct spc_call *call, int rc)
{
    struct sync_wait *w = call->ctx;
    w->done = true;
    w->rc = rc;
}

/* Polls until w is done; a poll that fails for good cancels cs's call. */
static void sync_poll(struct spc_client *c, struct spc_call *call, struct sync_wait *w)
{
    while (!w->done) {
        int rc = spc_poll(c, 1000);
        if (rc < 0 && rc != -EINTR && !w->done) {
            struct spc_cs *cs = call->priv;
            if (cs != NULL) {
                cs_cancel(cs, rc);
            }
            run_done(c);
            SP_ASSERT(w->done);
        }
    }
}

static int call_sync(struct spc_client *c, struct spc_call *call, cs_prepare_fn prepare,
                     struct spc_error *err)
{
    struct sync_wait w = {false, 0};
    void (*done)(struct spc_call *, int) = call->done;
    void *ctx = call->ctx;
    call->done = sync_done;
    call->ctx = &w;
    int rc = send_call(c, call, prepare);
    if (rc == 0) {
        sync_poll(c, call, &w);
        rc = w.rc;
    }
    call->done = done;
    call->ctx = ctx;
    if (err != NULL) {
        if (rc == 0) {
            err->code = 0;
            err->message[0] = '\0';
        } else if (call->error.code != 0 && call->error.message[0] != '\0') {
            *err = call->error;
        } else {
            spc_error_set(err, rc, call->broker, "%s", api_name(call->api_key));
        }
    }
    return rc;
}

int spc_call_sync(struct spc_client *c, struct spc_call *call, struct spc_error *err)
{
    return call_sync(c, call, NULL, err);
}

static struct spc_node *node_versions_any(const struct spc_client *c)
{
    for (size_t i = 0; i < c->nodes_count; i++) {
        if (c->nodes[i]->versions_known) {
            return c->nodes[i];
        }
    }
    return NULL;
}

int16_t spc_api_version(struct spc_client *c, int32_t node, int16_t api_key)
{
    struct spc_node *n = node == SPC_ANY_BROKER ? node_versions_any(c) : node_by_id(c, node);
    const struct kproto_api *api = kproto_api_get(api_key);
    if (n == NULL || api == NULL || !n->versions_known) {
        return -1;
    }
    int16_t v;
    return node_version_pick(n, api, api->min_version, api_our_max(api), &v) ? v : -1;
}

struct apiv_call {
    struct spc_call call;
    struct kproto_api_versions_request req;
};

static void apiv_prepare(struct spc_call *call, int16_t version)
{
    struct apiv_call *q = sp_container_of(call, struct apiv_call, call);
    kproto_api_versions_request_init(&q->req);
    if (version >= 3) {
        q->req.ClientSoftwareName = sp_str_make(SPC_CLIENT_SOFTWARE);
        q->req.ClientSoftwareVersion = sp_str_make(SPC_CLIENT_VERSION);
    }
}

static void noop_done(struct spc_call *call, int rc)
{
    (void)call;
    (void)rc;
}

int spc_broker_api_range(struct spc_client *c, int32_t node, int16_t api_key, int16_t *min,
                         int16_t *max, int timeout_ms, struct spc_error *err)
{
    *min = *max = -1;
    struct spc_node *n = node == SPC_ANY_BROKER ? node_versions_any(c) : node_by_id(c, node);
    if (n == NULL || !n->versions_known) {
        /* Any request negotiates first: ask the broker its versions again. */
        struct apiv_call q;
        memset(&q, 0, sizeof(q));
        kproto_api_versions_request_init(&q.req);
        q.call.api_key = KPROTO_API_KEY_API_VERSIONS;
        q.call.min_version = 0;
        q.call.max_version = SPC_API_VERSIONS_MAX;
        q.call.node = node;
        q.call.request = &q.req;
        q.call.retry_transport = true;
        q.call.timeout_ms = timeout_ms;
        q.call.done = noop_done;
        int rc = call_sync(c, &q.call, apiv_prepare, err);
        spc_call_release(&q.call);
        if (rc < 0) {
            return rc;
        }
        n = node_by_id(c, q.call.sent_to);
        for (size_t i = 0; n == NULL && i < c->nodes_count; i++) {
            if (strcmp(c->nodes[i]->name, q.call.broker) == 0) {
                n = c->nodes[i];
            }
        }
        if (n == NULL || !n->versions_known) {
            spc_error_set(err, -EPROTO, q.call.broker, "ApiVersions: no versions known");
            return -EPROTO;
        }
    }
    if (api_key < 0 || api_key >= SPC_API_KEYS || n->vmax[api_key] < 0) {
        spc_error_set(err, -ENOTSUP, n->name, "%s: not offered by the broker", api_name(api_key));
        return -ENOTSUP;
    }
    *min = n->vmin[api_key];
    *max = n->vmax[api_key];
    if (err != NULL) {
        err->code = 0;
        err->message[0] = '\0';
    }
    return 0;
}

/* ---- Metadata cache ------------------------------------------------------- */

static uint64_t name_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    }
    return h;
}

static struct topic_entry *topic_find(const struct spc_client *c, const char *name, size_t len)
{
    if (c->topics_nb == 0) {
        return NULL;
    }
    struct topic_entry *e = c->topics[name_hash(name, len) & (c->topics_nb - 1)];
    for (; e != NULL; e = e->next) {
        if (strlen(e->t.name) == len && memcmp(e->t.name, name, len) == 0) {
            return e;
        }
    }
    return NULL;
}

static bool topics_grow(struct spc_client *c)
{
    size_t nb = c->topics_nb != 0 ? c->topics_nb * 2 : 64;
    struct topic_entry **b = calloc(nb, sizeof(*b));
    if (b == NULL) {
        return false;
    }
    for (size_t i = 0; i < c->topics_nb; i++) {
        struct topic_entry *e = c->topics[i];
        while (e != NULL) {
            struct topic_entry *next = e->next;
            size_t k = name_hash(e->t.name, strlen(e->t.name)) & (nb - 1);
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(c->topics);
    c->topics = b;
    c->topics_nb = nb;
    return true;
}

static struct topic_entry *topic_insert(struct spc_client *c, const char *name, size_t len)
{
    if (c->topics_count >= c->topics_nb && !topics_grow(c)) {
        return NULL;
    }
    struct topic_entry *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    memcpy(e->t.name, name, len);
    e->t.name[len] = '\0';
    size_t k = name_hash(name, len) & (c->topics_nb - 1);
    e->next = c->topics[k];
    c->topics[k] = e;
    c->topics_count++;
    return e;
}

static void topic_entry_free(struct topic_entry *e)
{
    free(e->t.partitions);
    free(e);
}

/* Forgets the topics an all-topics answer did not name (deleted). */
static void topics_prune(struct spc_client *c)
{
    for (size_t i = 0; i < c->topics_nb; i++) {
        struct topic_entry **pp = &c->topics[i];
        while (*pp != NULL) {
            struct topic_entry *e = *pp;
            if (e->seen_epoch != c->md_epoch) {
                *pp = e->next;
                topic_entry_free(e);
                c->topics_count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

/* Caches one topic of a Metadata answer. false when it has an error (or no leader). */
static bool topic_update(struct spc_client *c,
                         const struct kproto_metadata_response_metadata_response_topic *t,
                         uint64_t now)
{
    if (t->Name.ptr == NULL || t->Name.len <= 0 || t->Name.len >= 256) {
        return true;
    }
    size_t len = (size_t)t->Name.len;
    struct topic_entry *e = topic_find(c, t->Name.ptr, len);
    if (e == NULL) {
        e = topic_insert(c, t->Name.ptr, len);
        if (e == NULL) {
            return false;
        }
    }
    int32_t count = 0;
    for (int32_t i = 0; i < t->Partitions_count; i++) {
        int32_t idx = t->Partitions[i].PartitionIndex;
        if (idx >= 0 && idx < SPC_PARTITIONS_MAX && idx + 1 > count) {
            count = idx + 1;
        }
    }
    struct spc_partition *ps = NULL;
    if (count > 0) {
        ps = calloc((size_t)count, sizeof(*ps));
        if (ps == NULL) {
            return false;
        }
    }
    bool clean = t->ErrorCode == 0;
    for (int32_t i = 0; i < count; i++) {
        ps[i].id = i;
        ps[i].leader = -1;
        ps[i].leader_epoch = -1;
        ps[i].error = KERR_LEADER_NOT_AVAILABLE;
    }
    for (int32_t i = 0; i < t->Partitions_count; i++) {
        const struct kproto_metadata_response_metadata_response_partition *p = &t->Partitions[i];
        if (p->PartitionIndex < 0 || p->PartitionIndex >= count) {
            continue;
        }
        struct spc_partition *q = &ps[p->PartitionIndex];
        q->leader = p->LeaderId;
        q->leader_epoch = p->LeaderEpoch;
        q->error = p->ErrorCode;
        q->replicas_count = p->ReplicaNodes_count;
        q->isr_count = p->IsrNodes_count;
        if (p->ErrorCode != 0 || p->LeaderId < 0) {
            clean = false;
        }
    }
    free(e->t.partitions);
    e->t.partitions = ps;
    e->t.partitions_count = count;
    e->t.error = t->ErrorCode;
    e->t.internal = t->IsInternal;
    memcpy(e->t.id, t->TopicId.b, sizeof(e->t.id));
    e->expires_ns =
        t->ErrorCode != 0 && count == 0 ? now + (uint64_t)SPC_TOPIC_ERROR_TTL_MS * NS_PER_MS : 0;
    e->seen_epoch = c->md_epoch;
    return clean;
}

/* A broker named by Metadata or FindCoordinator; one that moved is reconnected. */
static struct spc_node *node_upsert(struct spc_client *c, int32_t id, const char *host,
                                    int32_t port, bool may_move)
{
    struct spc_node *n = node_by_id(c, id);
    if (n != NULL) {
        if (may_move && (strcmp(n->host, host) != 0 || n->port != port)) {
            for (uint32_t l = 0; n->lanes != NULL && l < c->cfg.connections; l++) {
                if (n->lanes[l] != NULL) {
                    conn_fail(n->lanes[l], -ECONNRESET, NULL, 0, "broker %d moved to %s:%d",
                              (int)id, host, (int)port);
                }
            }
            node_set_addr(n, host, port);
            n->versions_known = false;
        }
        return n;
    }
    for (size_t i = 0; i < c->nodes_count; i++) {
        n = c->nodes[i];
        if (n->id == -1 && n->port == port && strcmp(n->host, host) == 0) {
            n->id = id;
            return n;
        }
    }
    return node_new(c, id, host, port);
}

struct md_req {
    struct spc_call call;
    struct kproto_metadata_request req;
    struct spc_client *c;
    struct sp_arena a;
    bool all, auto_refresh, allow_auto_create;
    void (*done)(void *ctx, int rc);
    void *ctx;
    struct spc_error *err_out;
};

static bool md_apply(struct spc_client *c, const struct kproto_metadata_response *r,
                     const struct md_req *m)
{
    uint64_t now = now_ns(c);
    c->md_epoch++;
    c->md_ok = true;
    c->md_last_ns = now;
    struct spc_broker *bs = NULL;
    if (r->Brokers_count > 0) {
        bs = calloc((size_t)r->Brokers_count, sizeof(*bs));
    }
    size_t nb = 0;
    for (int32_t i = 0; i < r->Brokers_count; i++) {
        const struct kproto_metadata_response_metadata_response_broker *b = &r->Brokers[i];
        if (b->Host.ptr == NULL || b->Host.len <= 0 || b->Host.len >= 256 || b->NodeId < 0) {
            continue;
        }
        char host[256];
        memcpy(host, b->Host.ptr, (size_t)b->Host.len);
        host[b->Host.len] = '\0';
        (void)node_upsert(c, b->NodeId, host, b->Port, true);
        if (bs != NULL) {
            struct spc_broker *o = &bs[nb++];
            o->node = b->NodeId;
            memcpy(o->host, host, (size_t)b->Host.len + 1);
            o->port = b->Port;
            if (b->Rack.ptr != NULL && b->Rack.len > 0) {
                size_t rl = SP_MIN((size_t)b->Rack.len, sizeof(o->rack) - 1);
                memcpy(o->rack, b->Rack.ptr, rl);
                o->rack[rl] = '\0';
            }
        }
    }
    if (bs != NULL || r->Brokers_count == 0) {
        free(c->brokers);
        c->brokers = bs;
        c->brokers_count = nb;
    }
    c->cluster_id[0] = '\0';
    if (r->ClusterId.ptr != NULL && r->ClusterId.len > 0) {
        size_t l = SP_MIN((size_t)r->ClusterId.len, sizeof(c->cluster_id) - 1);
        memcpy(c->cluster_id, r->ClusterId.ptr, l);
        c->cluster_id[l] = '\0';
    }
    c->controller = r->ControllerId;
    bool clean = true;
    for (int32_t i = 0; i < r->Topics_count; i++) {
        if (!topic_update(c, &r->Topics[i], now)) {
            clean = false;
        }
    }
    if (m->all) {
        topics_prune(c);
    }
    c->reroute = true;
    return clean;
}

static void md_prepare(struct spc_call *call, int16_t version)
{
    struct md_req *m = sp_container_of(call, struct md_req, call);
    /* Before v4 the field is not sent (the broker's own setting decides), and
     * the codec wants it at its default, true. */
    m->req.AllowAutoTopicCreation = version < 4 || m->allow_auto_create;
}

static void md_call_done(struct spc_call *call, int rc)
{
    struct md_req *m = sp_container_of(call, struct md_req, call);
    struct spc_client *c = m->c;
    bool clean = false;
    if (rc == 0 && !c->closing) {
        clean = md_apply(c, call->response, m);
    }
    if (m->auto_refresh) {
        c->md_auto_inflight = false;
        if (clean) {
            c->md_backoff_ms = c->cfg.retry_backoff_ms;
        } else {
            c->md_backoff_ms = SP_MIN(c->md_backoff_ms * 2, c->cfg.retry_backoff_max_ms);
        }
        md_schedule(c);
    }
    if (rc < 0) {
        sp_log_debug("client: metadata refresh: %s", call->error.message);
    }
    if (m->err_out != NULL) {
        *m->err_out = call->error;
    }
    if (m->done != NULL) {
        m->done(m->ctx, rc);
    }
    spc_call_release(call);
    sp_arena_destroy(&m->a);
    free(m);
}

static int md_send(struct spc_client *c, const char *const *topics, size_t n, bool all,
                   bool allow_auto_create, bool auto_refresh, void (*done)(void *ctx, int rc),
                   void *ctx, struct spc_error *err_out, struct spc_call **call_out)
{
    if (!all && n > SP_KPROTO_ARRAY_MAX) {
        return -EINVAL;
    }
    struct md_req *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    m->c = c;
    m->all = all;
    m->auto_refresh = auto_refresh;
    m->allow_auto_create = allow_auto_create;
    m->done = done;
    m->ctx = ctx;
    m->err_out = err_out;
    sp_arena_init(&m->a, NULL, 0, SIZE_MAX);
    kproto_metadata_request_init(&m->req);
    if (all) {
        m->req.Topics = NULL;
        m->req.Topics_count = -1;
    } else {
        m->req.Topics = sp_arena_calloc(&m->a, n, sizeof(*m->req.Topics));
        m->req.Topics_count = (int32_t)n;
        for (size_t i = 0; i < n && m->req.Topics != NULL; i++) {
            if (topics[i] == NULL) {
                sp_arena_destroy(&m->a);
                free(m);
                return -EINVAL;
            }
            m->req.Topics[i].Name = sp_str_dup(&m->a, topics[i]);
            if (m->req.Topics[i].Name.ptr == NULL) {
                m->req.Topics = NULL;
            }
        }
        if (m->req.Topics == NULL) {
            sp_arena_destroy(&m->a);
            free(m);
            return -ENOMEM;
        }
    }
    m->call.api_key = KPROTO_API_KEY_METADATA;
    m->call.min_version = 1;
    m->call.max_version = 12;
    m->call.node = SPC_ANY_BROKER;
    m->call.request = &m->req;
    m->call.retry_transport = true;
    m->call.done = md_call_done;
    int rc = send_call(c, &m->call, md_prepare);
    if (rc < 0) {
        sp_arena_destroy(&m->a);
        free(m);
    } else if (call_out != NULL) {
        *call_out = &m->call;
    }
    return rc;
}

/* The background refresh of stale topics (and brokers), one at a time. */
static void md_auto_send(struct spc_client *c)
{
    size_t n = 0;
    const char **names = NULL;
    if (c->stale_all) {
        names = calloc(c->topics_count + 1, sizeof(*names));
        for (size_t i = 0; names != NULL && i < c->topics_nb; i++) {
            for (struct topic_entry *e = c->topics[i]; e != NULL; e = e->next) {
                names[n++] = e->t.name;
            }
        }
        for (size_t i = 0; names != NULL && i < c->stale_count; i++) {
            if (topic_find(c, c->stale[i], strlen(c->stale[i])) == NULL) {
                const char **more = realloc(names, (n + 1) * sizeof(*names));
                if (more == NULL) {
                    break;
                }
                names = more;
                names[n++] = c->stale[i];
            }
        }
    } else {
        names = calloc(c->stale_count + 1, sizeof(*names));
        for (size_t i = 0; names != NULL && i < c->stale_count; i++) {
            names[n++] = c->stale[i];
        }
    }
    if (names == NULL) {
        return;
    }
    c->md_auto_inflight = true;
    c->md_auto_last_ns = now_ns(c);
    int rc = md_send(c, names, n, false, c->cfg.allow_auto_create, true, NULL, NULL, NULL, NULL);
    free(names);
    if (rc < 0) {
        c->md_auto_inflight = false;
        return;
    }
    for (size_t i = 0; i < c->stale_count; i++) {
        free(c->stale[i]);
    }
    c->stale_count = 0;
    c->stale_all = false;
    c->stale_brokers = false;
}

static void md_timer_fn(struct sp_timer *t)
{
    struct spc_client *c = sp_container_of(t, struct spc_client, md_timer);
    if (!c->closing && !c->md_auto_inflight) {
        md_auto_send(c);
    }
}

static void md_schedule(struct spc_client *c)
{
    if (c->closing || c->md_auto_inflight || sp_timer_armed(&c->md_timer)) {
        return;
    }
    if (!c->stale_all && c->stale_count == 0 && !c->stale_brokers) {
        return;
    }
    uint64_t now = now_ns(c);
    uint64_t at = c->md_auto_last_ns + (uint64_t)c->md_backoff_ms * NS_PER_MS;
    if (c->md_auto_last_ns == 0 || at < now) {
        at = now;
    }
    (void)sp_timers_add(&c->timers, &c->md_timer, at, md_timer_fn);
}

static void md_want_brokers(struct spc_client *c)
{
    c->stale_brokers = true;
    md_schedule(c);
}

int spc_metadata_refresh(struct spc_client *c, const char *const *topics, size_t n,
                         bool allow_auto_create, void (*done)(void *ctx, int rc), void *ctx)
{
    bool all = topics == NULL || n == 0;
    return md_send(c, topics, n, all, allow_auto_create || c->cfg.allow_auto_create, false, done,
                   ctx, NULL, NULL);
}

struct md_sync {
    bool done;
    int rc;
};

static void md_sync_done(void *ctx, int rc)
{
    struct md_sync *s = ctx;
    s->done = true;
    s->rc = rc;
}

int spc_metadata_sync(struct spc_client *c, const char *const *topics, size_t n,
                      bool allow_auto_create, struct spc_error *err)
{
    struct md_sync s = {false, 0};
    struct spc_error e = {0, ""};
    bool all = topics == NULL || n == 0;
    struct spc_call *call = NULL;
    int rc = md_send(c, topics, n, all, allow_auto_create || c->cfg.allow_auto_create, false,
                     md_sync_done, &s, &e, &call);
    if (rc < 0) {
        spc_error_set(err, rc, NULL, "Metadata");
        return rc;
    }
    while (!s.done) {
        int prc = spc_poll(c, 1000);
        if (prc < 0 && prc != -EINTR && !s.done) {
            /* The ring failed (or polls nest too deep): give up the request. */
            if (call->priv != NULL) {
                cs_cancel(call->priv, prc);
            }
            run_done(c);
            SP_ASSERT(s.done);
        }
    }
    if (err != NULL) {
        if (s.rc == 0) {
            err->code = 0;
            err->message[0] = '\0';
        } else if (e.code != 0) {
            *err = e;
        } else {
            spc_error_set(err, s.rc, NULL, "Metadata");
        }
    }
    return s.rc;
}

const struct spc_topic *spc_topic_get(struct spc_client *c, const char *name)
{
    struct topic_entry *e = topic_find(c, name, strlen(name));
    if (e == NULL || (e->expires_ns != 0 && now_ns(c) >= e->expires_ns)) {
        return NULL;
    }
    return &e->t;
}

int32_t spc_leader(struct spc_client *c, const char *topic, int32_t partition)
{
    const struct spc_topic *t = spc_topic_get(c, topic);
    if (t == NULL || partition < 0 || partition >= t->partitions_count) {
        return -1;
    }
    return t->partitions[partition].leader;
}

const struct spc_broker *spc_brokers(struct spc_client *c, size_t *count)
{
    *count = c->brokers_count;
    return c->brokers;
}

const char *spc_cluster_id(struct spc_client *c)
{
    return c->cluster_id;
}

int32_t spc_controller_id(struct spc_client *c)
{
    return c->controller;
}

void spc_metadata_stale(struct spc_client *c, const char *topic)
{
    if (c->closing) {
        return;
    }
    if (topic == NULL) {
        c->stale_all = true;
    } else {
        bool known = false;
        for (size_t i = 0; i < c->stale_count && !known; i++) {
            known = strcmp(c->stale[i], topic) == 0;
        }
        if (!known) {
            char *s = c->stale_count < SPC_STALE_MAX ? strdup(topic) : NULL;
            if (s != NULL) {
                c->stale[c->stale_count++] = s;
            } else {
                c->stale_all = true;
            }
        }
    }
    md_schedule(c);
}

/* ---- Group coordinators --------------------------------------------------- */

struct coord_req {
    struct spc_call call;
    struct kproto_find_coordinator_request req;
    struct sp_str key;
    char *keycopy;
    struct spc_client *c;
};

static struct coord *coord_find(const struct spc_client *c, const char *key)
{
    for (size_t i = 0; i < c->coords_count; i++) {
        if (strcmp(c->coords[i]->key, key) == 0) {
            return c->coords[i];
        }
    }
    return NULL;
}

static void coord_free(struct spc_client *c, struct coord *co)
{
    sp_timers_del(&c->timers, &co->timer);
    free(co->key);
    free(co);
}

static void coord_timer_fn(struct sp_timer *t)
{
    struct coord *co = sp_container_of(t, struct coord, timer);
    co->c->reroute = true;
}

/* The cache entry of key, made (evicting the least recently used) if needed. */
static struct coord *coord_get(struct spc_client *c, const char *key)
{
    struct coord *co = coord_find(c, key);
    if (co != NULL) {
        return co;
    }
    if (c->coords_count == SPC_COORDS_MAX) {
        size_t victim = SIZE_MAX;
        for (size_t i = 0; i < c->coords_count; i++) {
            if (!c->coords[i]->inflight &&
                (victim == SIZE_MAX || c->coords[i]->used_ns < c->coords[victim]->used_ns)) {
                victim = i;
            }
        }
        if (victim == SIZE_MAX) {
            return NULL;
        }
        coord_free(c, c->coords[victim]);
        c->coords[victim] = c->coords[--c->coords_count];
    }
    co = calloc(1, sizeof(*co));
    if (co == NULL) {
        return NULL;
    }
    co->key = strdup(key);
    if (co->key == NULL) {
        free(co);
        return NULL;
    }
    co->c = c;
    co->node = -1;
    c->coords[c->coords_count++] = co;
    return co;
}

static void coord_retry_later(struct spc_client *c, struct coord *co)
{
    co->fails++;
    co->retry_at_ns = now_ns(c) + backoff_ns(c, co->fails);
    (void)sp_timers_add(&c->timers, &co->timer, co->retry_at_ns, coord_timer_fn);
}

/* FindCoordinator said no for good: the calls waiting for key fail with it. */
static void coord_fail_waiters(struct spc_client *c, const char *key, const struct spc_error *e)
{
    struct spc_cs *cs = c->pending.head;
    while (cs != NULL) {
        struct spc_cs *next = cs->next;
        if (cs->call->node == SPC_COORDINATOR && strcmp(cs->call->coordinator_key, key) == 0) {
            cs_fail_err(cs, e);
        }
        cs = next;
    }
}

static void coord_prepare(struct spc_call *call, int16_t version)
{
    struct coord_req *q = sp_container_of(call, struct coord_req, call);
    if (version >= 4) {
        q->req.Key = sp_str_make("");
        q->req.CoordinatorKeys = &q->key;
        q->req.CoordinatorKeys_count = 1;
    } else {
        q->req.Key = q->key;
        q->req.CoordinatorKeys = NULL;
        q->req.CoordinatorKeys_count = 0;
    }
}

static void coord_done(struct spc_call *call, int rc)
{
    struct coord_req *q = sp_container_of(call, struct coord_req, call);
    struct spc_client *c = q->c;
    struct coord *co = c->closing ? NULL : coord_find(c, q->keycopy);
    int16_t kerr = KERR_COORDINATOR_NOT_AVAILABLE;
    int32_t node = -1, port = 0;
    struct sp_str host = {NULL, 0};
    if (rc == 0) {
        const struct kproto_find_coordinator_response *r = call->response;
        if (call->version >= 4) {
            if (r->Coordinators_count > 0) {
                const struct kproto_find_coordinator_response_coordinator *e = &r->Coordinators[0];
                kerr = e->ErrorCode;
                node = e->NodeId;
                host = e->Host;
                port = e->Port;
            }
        } else {
            kerr = r->ErrorCode;
            node = r->NodeId;
            host = r->Host;
            port = r->Port;
        }
    }
    if (co != NULL) {
        co->inflight = false;
        bool host_ok = host.ptr != NULL && host.len > 0 && host.len < 256;
        if (rc == 0 && kerr == 0 && node >= 0 && host_ok) {
            char h[256];
            memcpy(h, host.ptr, (size_t)host.len);
            h[host.len] = '\0';
            if (node_upsert(c, node, h, port, false) != NULL) {
                co->node = node;
                co->fails = 0;
            } else {
                coord_retry_later(c, co);
            }
            c->reroute = true;
        } else if (rc < 0 || kerr == 0 || spc_retriable(kerr)) {
            coord_retry_later(c, co);
        } else {
            struct spc_error e;
            spc_error_set(&e, kerr, call->broker, "FindCoordinator \"%s\"", q->keycopy);
            coord_fail_waiters(c, q->keycopy, &e);
        }
    }
    spc_call_release(call);
    free(q->keycopy);
    free(q);
}

static void coord_send(struct spc_client *c, struct coord *co)
{
    struct coord_req *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        coord_retry_later(c, co);
        return;
    }
    q->c = c;
    q->keycopy = strdup(co->key);
    if (q->keycopy == NULL) {
        free(q);
        coord_retry_later(c, co);
        return;
    }
    q->key = sp_str_make(q->keycopy);
    kproto_find_coordinator_request_init(&q->req);
    q->req.KeyType = 0;
    q->call.api_key = KPROTO_API_KEY_FIND_COORDINATOR;
    q->call.min_version = 0;
    q->call.max_version = 6;
    q->call.node = SPC_ANY_BROKER;
    q->call.request = &q->req;
    q->call.retry_transport = true;
    q->call.done = coord_done;
    co->inflight = true;
    if (send_call(c, &q->call, coord_prepare) < 0) {
        co->inflight = false;
        free(q->keycopy);
        free(q);
        coord_retry_later(c, co);
    }
}

static int coord_resolve(struct spc_cs *cs, struct spc_node **out)
{
    struct spc_client *c = cs->c;
    struct coord *co = coord_get(c, cs->call->coordinator_key);
    *out = NULL;
    if (co == NULL) {
        return 0;
    }
    uint64_t now = now_ns(c);
    co->used_ns = now;
    if (co->node >= 0) {
        struct spc_node *n = node_by_id(c, co->node);
        if (n != NULL) {
            *out = n;
            return 0;
        }
        co->node = -1;
    }
    if (!co->inflight && now >= co->retry_at_ns) {
        coord_send(c, co);
    }
    return 0;
}

void spc_coordinator_stale(struct spc_client *c, const char *key)
{
    struct coord *co = key != NULL ? coord_find(c, key) : NULL;
    if (co != NULL) {
        co->node = -1;
    }
}

/* ---- Closing -------------------------------------------------------------- */

static bool conns_idle(const struct spc_client *c)
{
    for (size_t i = 0; i < c->nodes_count; i++) {
        const struct spc_node *n = c->nodes[i];
        for (uint32_t l = 0; n->lanes != NULL && l < c->cfg.connections; l++) {
            if (n->lanes[l] != NULL && n->lanes[l]->state != CONN_IDLE) {
                return false;
            }
        }
    }
    return true;
}

/* Frees what the client holds; no io operation may be in flight. */
static void client_destroy(struct spc_client *c)
{
    /* First: it writes into the armed timers, which live in what is freed below. */
    sp_timers_fini(&c->timers);
    for (size_t i = 0; i < c->nodes_count; i++) {
        struct spc_node *n = c->nodes[i];
        for (uint32_t l = 0; n->lanes != NULL && l < c->cfg.connections; l++) {
            struct spc_conn *conn = n->lanes[l];
            if (conn == NULL) {
                continue;
            }
            if (conn->state != CONN_IDLE) {
                continue; /* the kernel may still write into it: leaked, never freed early */
            }
            sp_wr_free(&conn->out);
            sp_wr_free(&conn->sending);
            sp_arena_destroy(&conn->fa);
            free(conn->rbuf);
            free(conn);
        }
        free(n->lanes);
        free(n);
    }
    for (size_t i = 0; i < c->topics_nb; i++) {
        struct topic_entry *e = c->topics[i];
        while (e != NULL) {
            struct topic_entry *next = e->next;
            topic_entry_free(e);
            e = next;
        }
    }
    free(c->topics);
    free(c->brokers);
    for (size_t i = 0; i < c->stale_count; i++) {
        free(c->stale[i]);
    }
    for (size_t i = 0; i < c->coords_count; i++) {
        coord_free(c, c->coords[i]);
    }
    while (c->cs_free != NULL) {
        struct spc_cs *cs = c->cs_free;
        c->cs_free = cs->next;
        free(cs);
    }
    if (c->io != NULL) {
        sp_io_destroy(c->io);
    }
    free(c->bootstrap);
    free(c->client_id);
    free(c);
}

void spc_client_free(struct spc_client *c)
{
    if (c == NULL) {
        return;
    }
    c->closing = true;
    for (size_t i = 0; i < c->nodes_count; i++) {
        struct spc_node *n = c->nodes[i];
        for (uint32_t l = 0; n->lanes != NULL && l < c->cfg.connections; l++) {
            if (n->lanes[l] != NULL) {
                conn_fail(n->lanes[l], -ECANCELED, NULL, 0, "client closed");
            }
        }
    }
    struct cs_list *lists[2] = {&c->pending, &c->backoff};
    for (size_t i = 0; i < SP_ARRAY_LEN(lists); i++) {
        struct spc_cs *cs;
        while ((cs = lists[i]->head) != NULL) {
            cs_fail(cs, -ECANCELED, NULL, "%s: client closed", api_name(cs->call->api_key));
        }
    }
    run_done(c);
    uint64_t deadline = now_ns(c) + (uint64_t)SPC_CLOSE_WAIT_MS * NS_PER_MS;
    while (!conns_idle(c) && now_ns(c) < deadline) {
        (void)sp_io_poll(c->io, NS_PER_MS);
        (void)sp_io_run_completions(c->io, SPC_POLL_BUDGET);
        run_done(c);
    }
    if (!conns_idle(c)) {
        sp_log_warn("client: connections still closing after %d ms", SPC_CLOSE_WAIT_MS);
    }
    client_destroy(c);
}
