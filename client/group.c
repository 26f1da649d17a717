/*
 * client/group.c: a member of a classic consumer group (the "consumer"
 * protocol, range assignor), feeding a fetcher with the partitions the
 * group gives it.
 *
 *   JOINING ──JoinGroup──> leader? ──yes──> ASSIGNING (Metadata, range)
 *      ^                      │no                 │
 *      │                      v                   v
 *      │                   SYNCING <──────────────┘
 *      │                      │ SyncGroup: our partitions
 *      │                      v
 *      │                   FETCHING ──OffsetFetch──> STABLE (fetcher assigned)
 *      │                                               │ REBALANCE_IN_PROGRESS
 *      │                                               v
 *      └──────────────────────────────────────── REVOKING (commit, unassign)
 *   errors: BACKOFF then JOINING; fatal ones: FAILED (spc_group_error)
 *
 * Rebalances are eager: before rejoining, the member commits (auto_commit)
 * and takes every partition from the fetcher, keeping the positions it
 * reached; partitions it gets back resume there, the others start at the
 * group's committed offset, else at reset_offset. A member the group lost
 * (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION) forgets those positions.
 *
 * Requests go to the group's coordinator (SPC_COORDINATOR); NOT_COORDINATOR
 * and COORDINATOR_NOT_AVAILABLE tell the core the route is stale. Each
 * request kind has one operation (struct grp_op, heap): the join sequence
 * (JoinGroup, SyncGroup, OffsetFetch, one at a time), Heartbeat, OffsetCommit
 * and LeaveGroup. An operation still in flight when the group is freed is
 * left to free itself when its answer (or -ECANCELED) comes.
 *
 * Timers: heartbeats, auto commits and backoffs are deadlines checked by
 * group_tick, which spc_group_tick runs for every group of a client from
 * each spc_poll (the core's hook, as for the producers and fetchers).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/spc.h"
#include "protocol/gen/kerr.h"
#include "protocol/gen/kproto_types.h"
#include "protocol/kproto.h"
#include "protocol/wire.h"

#define GRP_PROTOCOL_TYPE   "consumer"
#define GRP_ASSIGNOR        "range"
#define GRP_BACKOFF_MIN_MS  100
#define GRP_BACKOFF_MAX_MS  2000
#define GRP_ARENA_LIMIT     (64u << 20) /* a request's memory (and the leader's work) */
#define GRP_MEMBERS_MAX     100000
#define GRP_PARTS_MAX       (1 << 20) /* partitions one member may be given */
#define GRP_JOIN_SLACK_MS   5000      /* on top of the rebalance timeout the broker may hold */
#define GRP_ASSIGNMENT_VMAX 3         /* newest ConsumerProtocolAssignment version we read */

enum grp_state {
    GRP_JOINING,
    GRP_ASSIGNING,
    GRP_SYNCING,
    GRP_FETCHING,
    GRP_STABLE,
    GRP_REVOKING,
    GRP_BACKOFF,
    GRP_FAILED,
    GRP_LEAVING,
};

/* One assigned partition (or, between generations, one held position). */
struct grp_tp {
    char *topic; /* owned */
    int32_t partition;
    int64_t start;     /* where the fetcher starts (>= 0), -1: not known yet */
    int64_t stored;    /* spc_group_store_offset's next offset, -1: none */
    int64_t committed; /* the last offset this member committed or fetched, -1: none */
    bool in_fetcher;
};

struct grp_tps {
    struct grp_tp *v; /* sorted by (topic, partition) */
    size_t n;
};

struct grp_op;

/*
 * Rewrites op's request for the versions before the ones it was sent at
 * (the generated encoders refuse fields a version does not have), setting
 * the new range; false when there is no older form.
 */
typedef bool (*grp_older_fn)(struct grp_op *op, int16_t *min_version, int16_t *max_version);

struct grp_op {
    struct spc_call call;
    struct sp_arena req;  /* the request and everything it points to */
    struct spc_group *g;  /* NULL once the group is freed: the op frees itself when done */
    int32_t generation;   /* the generation it was sent in */
    bool busy;            /* a call (or the leader's metadata refresh) is out */
    bool has_response;    /* call's response not released yet */
    bool done;            /* the last send finished (for blocking waiters) */
    int rc;               /* its outcome for waiters: 0, -errno, or a Kafka error */
    struct spc_error err; /* the same, described */
    grp_older_fn older;   /* for a broker that answers -ENOTSUP, or NULL */
    int32_t timeout_ms;   /* what op_send was given, for a resend in an older form */
    void (*done_fn)(struct spc_call *, int);
    union {
        struct kproto_join_group_request join;
        struct kproto_sync_group_request sync;
        struct kproto_offset_fetch_request fetch;
        struct kproto_heartbeat_request hb;
        struct kproto_offset_commit_request commit;
        struct kproto_leave_group_request leave;
    } u;
};

struct grp_plan;

struct spc_group {
    struct spc_client *c;
    struct spc_fetcher *f;
    struct spc_group_config cfg;
    char *group_id; /* owned copies of cfg's strings */
    char *instance_id;
    char **topics;
    size_t topics_count;
    struct sp_wr subscription; /* our ConsumerProtocolSubscription, with its version */

    enum grp_state state;
    char *member_id; /* owned, "" before the first join */
    int32_t generation;
    char *protocol;          /* the assignor the group chose, owned */
    bool rejoin_pending;     /* a rebalance came while the join sequence was busy */
    bool revoke_commit_sent; /* the commit before rejoining went out */
    bool store_mode;         /* spc_group_store_offset was called: commit only stored offsets */
    struct grp_tps parts;    /* this generation's assignment */
    struct grp_tps held;     /* positions kept across a rebalance */
    size_t last_hit;         /* spc_group_store_offset's cache */

    int64_t hb_due_ms, commit_due_ms, retry_due_ms;
    int32_t backoff_ms;
    bool retry_fetch;      /* the backoff ends with OffsetFetch, not JoinGroup */
    struct sp_arena work;  /* the leader's view of the members while it assigns */
    struct grp_plan *plan; /* in work */

    struct grp_op *main, *hb, *commit, *leave;
    struct spc_error fatal;
    struct spc_group *next; /* this thread's groups, for spc_group_tick */
};

/* The groups of this thread (a client is single-threaded). */
static _Thread_local struct spc_group *groups_head;

static void group_join(struct spc_group *g);
static void group_fetch_offsets(struct spc_group *g);
static void group_tick(struct spc_group *g);
static int group_commit_send(struct spc_group *g);

/* ---- small helpers ---------------------------------------------------------- */

static char *str_dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static struct sp_str str_or_null(const char *s)
{
    struct sp_str r = {NULL, 0};
    return s != NULL ? sp_str_make(s) : r;
}

static int tp_cmp(const void *a, const void *b)
{
    const struct grp_tp *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c != 0) {
        return c;
    }
    return (x->partition > y->partition) - (x->partition < y->partition);
}

static struct grp_tp *tps_find(const struct grp_tps *s, const char *topic, int32_t partition)
{
    struct grp_tp key = {.topic = (char *)(uintptr_t)topic, .partition = partition};
    return s->n > 0 ? bsearch(&key, s->v, s->n, sizeof(*s->v), tp_cmp) : NULL;
}

static void tps_clear(struct grp_tps *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].topic);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int64_t now_ms(const struct spc_group *g)
{
    return spc_now_ms(g->c);
}

/* The coordinator moved or is gone: the next request asks FindCoordinator again. */
static void coordinator_stale(struct spc_group *g, int16_t code)
{
    if (code == KERR_NOT_COORDINATOR || code == KERR_COORDINATOR_NOT_AVAILABLE) {
        spc_coordinator_stale(g->c, g->group_id);
    }
}

static bool coordinator_error(int16_t code)
{
    return code == KERR_NOT_COORDINATOR || code == KERR_COORDINATOR_NOT_AVAILABLE ||
           code == KERR_COORDINATOR_LOAD_IN_PROGRESS;
}

/* ---- operations ------------------------------------------------------------- */

static struct grp_op *op_new(struct spc_group *g)
{
    struct grp_op *op = calloc(1, sizeof(*op));
    if (op != NULL) {
        op->g = g;
        sp_arena_init(&op->req, NULL, 0, GRP_ARENA_LIMIT);
    }
    return op;
}

static void op_release(struct grp_op *op)
{
    if (op->has_response) {
        spc_call_release(&op->call);
        op->has_response = false;
    }
}

static void op_destroy(struct grp_op *op)
{
    op_release(op);
    sp_arena_destroy(&op->req);
    free(op);
}

/* Readies op for a new request: the previous response and request are dropped. */
static void op_reset(struct grp_op *op)
{
    SP_ASSERT(!op->busy);
    op_release(op);
    op->older = NULL;
    sp_arena_reset(&op->req);
}

static int op_send(struct spc_group *g, struct grp_op *op, int16_t key, int16_t min_version,
                   int16_t max_version, const void *req, int32_t timeout_ms,
                   void (*done)(struct spc_call *, int))
{
    memset(&op->call, 0, sizeof(op->call));
    op->call.api_key = key;
    op->call.min_version = min_version;
    op->call.max_version = max_version;
    op->call.node = SPC_COORDINATOR;
    op->call.coordinator_key = g->group_id;
    op->call.request = req;
    op->call.timeout_ms = timeout_ms;
    op->call.done = done;
    op->call.ctx = op;
    op->timeout_ms = timeout_ms;
    op->done_fn = done;
    op->generation = g->generation;
    op->busy = true;
    op->done = false;
    op->rc = 0;
    op->err.code = 0;
    op->err.message[0] = '\0';
    int rc = spc_send(g->c, &op->call);
    if (rc < 0) {
        op->busy = false;
        op->done = true;
        op->rc = rc;
        spc_error_set(&op->err, rc, "-", "group \"%s\": %s", g->group_id, strerror(-rc));
    }
    return rc;
}

/*
 * Every done callback starts here: marks op idle and returns its group, or
 * NULL when the group is gone (the op has been freed then).
 */
static struct spc_group *op_finish(struct spc_call *call, int rc)
{
    struct grp_op *op = call->ctx;
    op->busy = false;
    op->done = true;
    op->has_response = rc == 0;
    op->rc = rc;
    if (op->g == NULL) {
        op_destroy(op);
        return NULL;
    }
    grp_older_fn older = op->older;
    op->older = NULL;
    int16_t min_version, max_version;
    if (rc == -ENOTSUP && older != NULL && older(op, &min_version, &max_version)) {
        /* The broker's versions are all older than this form: the older form, once. */
        rc = op_send(op->g, op, call->api_key, min_version, max_version, call->request,
                     op->timeout_ms, op->done_fn);
        if (rc == 0) {
            return NULL;
        }
        op->busy = false;
        op->done = true;
    }
    if (rc < 0 && call->error.code != 0) {
        op->err = call->error;
    } else if (rc < 0) {
        spc_error_set(&op->err, rc, call->broker[0] != '\0' ? call->broker : "-",
                      "group \"%s\": %s", op->g->group_id, strerror(-rc));
    }
    return op->g;
}

static void op_kafka_error(struct grp_op *op, int16_t code)
{
    op->rc = code;
    spc_error_set(&op->err, code, op->call.broker, "group \"%s\": %s", op->g->group_id,
                  kerr_name(code));
}

/* ---- the fetcher side ------------------------------------------------------- */

/* Where a partition has got to: what the application stored, else the fetcher's position. */
static int64_t tp_position(const struct spc_group *g, const struct grp_tp *tp)
{
    if (g->store_mode) {
        return tp->stored >= 0 ? tp->stored : tp->start;
    }
    if (tp->in_fetcher) {
        int64_t pos = spc_fetcher_position(g->f, tp->topic, tp->partition);
        if (pos >= 0) {
            return pos;
        }
    }
    return tp->start;
}

/* Takes every partition from the fetcher; keep: remember the positions for the next generation. */
static void group_revoke(struct spc_group *g, bool keep)
{
    for (size_t i = 0; i < g->parts.n; i++) {
        struct grp_tp *tp = &g->parts.v[i];
        int64_t pos = tp_position(g, tp);
        if (tp->in_fetcher) {
            spc_fetcher_unassign(g->f, tp->topic, tp->partition);
            tp->in_fetcher = false;
        }
        tp->start = keep ? pos : -1;
        tp->stored = -1;
    }
    tps_clear(&g->held);
    g->held = g->parts;
    g->parts.v = NULL;
    g->parts.n = 0;
    if (!keep) {
        tps_clear(&g->held);
    }
    g->last_hit = 0;
}

static void group_apply(struct spc_group *g)
{
    for (size_t i = 0; i < g->parts.n; i++) {
        struct grp_tp *tp = &g->parts.v[i];
        int64_t at = tp->start >= 0 ? tp->start : g->cfg.reset_offset;
        if (spc_fetcher_assign(g->f, tp->topic, tp->partition, at) == 0) {
            tp->in_fetcher = true;
        }
    }
    g->state = GRP_STABLE;
    g->backoff_ms = 0;
    g->commit_due_ms = now_ms(g) + g->cfg.auto_commit_interval_ms;
}

/* ---- state changes ---------------------------------------------------------- */

static void group_fail(struct spc_group *g, const struct spc_error *err)
{
    group_revoke(g, false);
    g->fatal = *err;
    if (g->fatal.code == 0) {
        g->fatal.code = -EPROTO;
    }
    g->state = GRP_FAILED;
}

/* Tries again after a growing pause: the join sequence, or only its OffsetFetch. */
static void group_backoff(struct spc_group *g, bool fetch)
{
    g->backoff_ms =
        g->backoff_ms == 0 ? GRP_BACKOFF_MIN_MS : SP_MIN(g->backoff_ms * 2, GRP_BACKOFF_MAX_MS);
    g->retry_due_ms = now_ms(g) + g->backoff_ms;
    g->retry_fetch = fetch;
    if (!fetch) {
        g->state = GRP_BACKOFF;
    }
}

/*
 * A join-sequence request failed without an answer: a broker without the
 * group APIs (-ENOTSUP) fails the member, anything else is tried again.
 */
static void group_transport_error(struct spc_group *g, struct grp_op *op, bool fetch)
{
    if (op->rc == -ENOTSUP) {
        group_fail(g, &op->err);
    } else {
        group_backoff(g, fetch);
    }
}

/* Starts the join sequence again now, or once the main op is free. */
static void group_rejoin(struct spc_group *g)
{
    if (g->main->busy) {
        g->rejoin_pending = true;
        return;
    }
    g->retry_fetch = false;
    group_join(g);
}

/*
 * The group lost this member's generation: positions are not kept (someone
 * else may have had the partitions), and forget drops the member id too.
 */
static void group_lost(struct spc_group *g, bool forget)
{
    if (g->state == GRP_FAILED || g->state == GRP_LEAVING) {
        return;
    }
    group_revoke(g, false);
    g->generation = -1;
    if (forget) {
        g->member_id[0] = '\0';
    }
    group_rejoin(g);
}

static void revoke_and_join(struct spc_group *g)
{
    group_revoke(g, g->generation >= 0);
    group_rejoin(g);
}

/* A rebalance began: commit what was consumed (auto_commit), give everything back, rejoin. */
static void group_rebalance(struct spc_group *g)
{
    if (g->state == GRP_FETCHING) {
        g->rejoin_pending = true;
        return;
    }
    if (g->state != GRP_STABLE) {
        return;
    }
    g->state = GRP_REVOKING;
    g->revoke_commit_sent = false;
    if (!g->cfg.auto_commit) {
        revoke_and_join(g);
        return;
    }
    if (g->commit->busy) {
        return; /* commit_done goes on */
    }
    g->revoke_commit_sent = true;
    if (group_commit_send(g) <= 0) {
        revoke_and_join(g);
    }
}

/* The main op finished a step: a rebalance that came meanwhile wins. */
static bool main_interrupted(struct spc_group *g)
{
    if (!g->rejoin_pending) {
        return false;
    }
    g->rejoin_pending = false;
    if (g->state == GRP_FETCHING) {
        revoke_and_join(g);
    } else {
        group_join(g);
    }
    return true;
}

/*
 * The common start of the main op's answers (JoinGroup, SyncGroup; with
 * fetch, OffsetFetch): the group when its answer is to be read, or NULL when
 * nothing more is to be done: the group is gone or the op went out again
 * (op_finish), the group moved on (leaving; with fetch, no longer fetching),
 * a rejoin came first, or a transport error was dealt with.
 */
static struct spc_group *main_finish(struct spc_call *call, int rc, bool fetch)
{
    struct spc_group *g = op_finish(call, rc);
    if (g == NULL) {
        return NULL;
    }
    bool moved_on = fetch ? g->state != GRP_FETCHING : g->state == GRP_LEAVING;
    if (moved_on || main_interrupted(g)) {
        return NULL;
    }
    if (rc < 0) {
        group_transport_error(g, g->main, fetch);
        return NULL;
    }
    return g;
}

/* ---- JoinGroup -------------------------------------------------------------- */

static void join_done(struct spc_call *call, int rc);

static void group_join(struct spc_group *g)
{
    struct grp_op *op = g->main;
    op_reset(op);
    g->rejoin_pending = false;
    struct kproto_join_group_request *r = &op->u.join;
    kproto_join_group_request_init(r);
    r->GroupId = sp_str_make(g->group_id);
    r->SessionTimeoutMs = g->cfg.session_timeout_ms;
    r->RebalanceTimeoutMs = g->cfg.rebalance_timeout_ms;
    r->MemberId = sp_str_make(g->member_id);
    r->GroupInstanceId = str_or_null(g->instance_id);
    r->ProtocolType = sp_str_make(GRP_PROTOCOL_TYPE);
    r->Protocols = sp_arena_calloc(&op->req, 1, sizeof(*r->Protocols));
    if (r->Protocols == NULL) {
        group_backoff(g, false);
        return;
    }
    r->Protocols[0].Name = sp_str_make(GRP_ASSIGNOR);
    r->Protocols[0].Metadata = sp_slice_make(g->subscription.buf, g->subscription.len);
    r->Protocols_count = 1;
    g->state = GRP_JOINING;
    /* RebalanceTimeoutMs came in v1, GroupInstanceId in v5. */
    if (op_send(g, op, KPROTO_API_KEY_JOIN_GROUP, g->instance_id != NULL ? 5 : 1, 9, r,
                g->cfg.rebalance_timeout_ms + GRP_JOIN_SLACK_MS, join_done) < 0) {
        group_backoff(g, false);
    }
}

/* Copies s into *dst (owned), replacing what was there. */
static int set_str(char **dst, struct sp_str s)
{
    char *p = str_dup_n(s.ptr != NULL ? s.ptr : "", s.ptr != NULL ? (size_t)s.len : 0);
    if (p == NULL) {
        return -ENOMEM;
    }
    free(*dst);
    *dst = p;
    return 0;
}

static void group_assign(struct grp_op *op, const struct kproto_join_group_response *r);
static void group_sync(struct spc_group *g,
                       struct kproto_sync_group_request_sync_group_request_assignment *a,
                       int32_t n);

/* Errors every coordinator request shares; true when handled (the caller stops). */
static bool join_error(struct spc_group *g, struct grp_op *op, int16_t code)
{
    switch (code) {
    case 0:
        return false;
    case KERR_UNKNOWN_MEMBER_ID:
    case KERR_ILLEGAL_GENERATION:
        /* Out of the group: the positions kept from the last generation may be stale. */
        if (code == KERR_UNKNOWN_MEMBER_ID) {
            g->member_id[0] = '\0';
        }
        g->generation = -1;
        tps_clear(&g->held);
        group_join(g);
        return true;
    case KERR_REBALANCE_IN_PROGRESS:
        group_join(g);
        return true;
    default:
        break;
    }
    op_kafka_error(op, code);
    if (coordinator_error(code)) {
        coordinator_stale(g, code);
    }
    if (coordinator_error(code) || spc_retriable(code)) {
        group_backoff(g, false);
    } else {
        group_fail(g, &op->err);
    }
    return true;
}

static void join_done(struct spc_call *call, int rc)
{
    struct spc_group *g = main_finish(call, rc, false);
    if (g == NULL) {
        return;
    }
    struct grp_op *op = g->main;
    const struct kproto_join_group_response *r = call->response;
    if (r->ErrorCode == KERR_MEMBER_ID_REQUIRED) {
        if (set_str(&g->member_id, r->MemberId) < 0) {
            group_backoff(g, false);
            return;
        }
        group_join(g);
        return;
    }
    if (join_error(g, op, r->ErrorCode)) {
        return;
    }
    if (set_str(&g->member_id, r->MemberId) < 0 || set_str(&g->protocol, r->ProtocolName) < 0) {
        group_backoff(g, false);
        return;
    }
    g->generation = r->GenerationId;
    if (sp_str_eq(r->Leader, r->MemberId) && !r->SkipAssignment) {
        group_assign(op, r);
    } else {
        op_reset(op);
        group_sync(g, NULL, 0);
    }
}

/* ---- the leader: range assignment --------------------------------------------- */

struct grp_member {
    const char *id;
    const char **topics; /* sorted */
    int32_t topics_count;
    struct kproto_consumer_protocol_assignment_topic_partition *out;
    int32_t out_count;
};

struct grp_plan {
    struct grp_member *members; /* sorted by id */
    int32_t members_count;
    const char **topics; /* the union, sorted, unique */
    size_t topics_count;
};

static int cstr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int member_cmp(const void *a, const void *b)
{
    return strcmp(((const struct grp_member *)a)->id, ((const struct grp_member *)b)->id);
}

static bool member_wants(const struct grp_member *m, const char *topic)
{
    return m->topics_count > 0 && bsearch(&topic, m->topics, (size_t)m->topics_count,
                                          sizeof(*m->topics), cstr_cmp) != NULL;
}

/* Reads one member's subscription into m (strings copied into a). */
static int member_read(struct sp_arena *a, struct grp_member *m, struct sp_str id,
                       struct sp_slice metadata)
{
    m->id = sp_str_cstr(a, id);
    if (m->id == NULL) {
        return -ENOMEM;
    }
    struct sp_rd rd;
    sp_rd_init(&rd, metadata.ptr, metadata.len);
    int16_t version = 0;
    sp_rd_i16(&rd, &version);
    struct kproto_consumer_protocol_subscription sub;
    kproto_consumer_protocol_subscription_init(&sub);
    if (rd.err == 0 && version >= 0) {
        kproto_consumer_protocol_subscription_decode(&rd, a, SP_MIN(version, 3), &sub);
    }
    if (rd.err != 0 || version < 0) {
        return 0; /* a member we cannot read gets nothing */
    }
    m->topics = sp_arena_calloc(a, (size_t)sub.Topics_count + 1, sizeof(*m->topics));
    if (m->topics == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < sub.Topics_count; i++) {
        const char *t = sp_str_cstr(a, sub.Topics[i]);
        if (t != NULL) {
            m->topics[m->topics_count++] = t;
        }
    }
    qsort(m->topics, (size_t)m->topics_count, sizeof(*m->topics), cstr_cmp);
    return 0;
}

static int plan_read(struct sp_arena *a, struct grp_plan *p,
                     const struct kproto_join_group_response *r)
{
    int32_t n = SP_MIN(r->Members_count, GRP_MEMBERS_MAX);
    p->members = sp_arena_calloc(a, (size_t)n + 1, sizeof(*p->members));
    if (p->members == NULL) {
        return -ENOMEM;
    }
    size_t all = 0;
    for (int32_t i = 0; i < n; i++) {
        struct grp_member *m = &p->members[p->members_count];
        if (member_read(a, m, r->Members[i].MemberId, r->Members[i].Metadata) < 0) {
            return -ENOMEM;
        }
        all += (size_t)m->topics_count;
        p->members_count++;
    }
    qsort(p->members, (size_t)p->members_count, sizeof(*p->members), member_cmp);
    p->topics = sp_arena_calloc(a, all + 1, sizeof(*p->topics));
    if (p->topics == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < p->members_count; i++) {
        for (int32_t j = 0; j < p->members[i].topics_count; j++) {
            p->topics[p->topics_count++] = p->members[i].topics[j];
        }
    }
    qsort(p->topics, p->topics_count, sizeof(*p->topics), cstr_cmp);
    size_t u = 0;
    for (size_t i = 0; i < p->topics_count; i++) {
        if (u == 0 || strcmp(p->topics[u - 1], p->topics[i]) != 0) {
            p->topics[u++] = p->topics[i];
        }
    }
    p->topics_count = u;
    return 0;
}

/*
 * Range: each topic's partitions, in order, cut into one run per subscribed
 * member (sorted by member id); the first partitions % members runs are one
 * longer.
 */
static int plan_range(struct sp_arena *a, struct grp_plan *p, struct spc_client *c)
{
    for (int32_t i = 0; i < p->members_count; i++) {
        struct grp_member *m = &p->members[i];
        m->out = sp_arena_calloc(a, (size_t)m->topics_count + 1, sizeof(*m->out));
        if (m->out == NULL) {
            return -ENOMEM;
        }
    }
    for (size_t t = 0; t < p->topics_count; t++) {
        const struct spc_topic *topic = spc_topic_get(c, p->topics[t]);
        if (topic == NULL || topic->error != 0 || topic->partitions_count <= 0) {
            continue;
        }
        int32_t subs = 0;
        for (int32_t i = 0; i < p->members_count; i++) {
            subs += member_wants(&p->members[i], p->topics[t]) ? 1 : 0;
        }
        if (subs == 0) {
            continue;
        }
        int32_t n = topic->partitions_count, per = n / subs, extra = n % subs, k = 0;
        for (int32_t i = 0; i < p->members_count; i++) {
            struct grp_member *m = &p->members[i];
            if (!member_wants(m, p->topics[t])) {
                continue;
            }
            int32_t first = k * per + SP_MIN(k, extra), len = per + (k < extra ? 1 : 0);
            k++;
            if (len == 0) {
                continue;
            }
            struct kproto_consumer_protocol_assignment_topic_partition *tp =
                &m->out[m->out_count++];
            tp->Topic = sp_str_make(p->topics[t]);
            tp->Partitions = sp_arena_calloc(a, (size_t)len, sizeof(int32_t));
            if (tp->Partitions == NULL) {
                return -ENOMEM;
            }
            for (int32_t j = 0; j < len; j++) {
                tp->Partitions[j] = first + j;
            }
            tp->Partitions_count = len;
        }
    }
    return 0;
}

/* The plan as SyncGroup's assignments (in the main op's request arena). */
static struct kproto_sync_group_request_sync_group_request_assignment *
plan_encode(struct sp_arena *a, const struct grp_plan *p)
{
    struct kproto_sync_group_request_sync_group_request_assignment *out =
        sp_arena_calloc(a, (size_t)p->members_count + 1, sizeof(*out));
    for (int32_t i = 0; out != NULL && i < p->members_count; i++) {
        const struct grp_member *m = &p->members[i];
        struct kproto_consumer_protocol_assignment pa;
        kproto_consumer_protocol_assignment_init(&pa);
        pa.AssignedPartitions = m->out;
        pa.AssignedPartitions_count = m->out_count;
        struct sp_wr wr;
        sp_wr_init(&wr, a, 64);
        sp_wr_i16(&wr, 0);
        kproto_consumer_protocol_assignment_encode(&wr, 0, &pa);
        if (wr.err != 0) {
            return NULL;
        }
        out[i].MemberId = sp_str_dup(a, m->id);
        out[i].Assignment = sp_slice_make(wr.buf, wr.len);
        if (out[i].MemberId.ptr == NULL) {
            return NULL;
        }
    }
    return out;
}

static void assign_metadata_done(void *ctx, int rc)
{
    struct grp_op *op = ctx;
    op->busy = false;
    struct spc_group *g = op->g;
    if (g == NULL) {
        op_destroy(op);
        return;
    }
    if (g->state != GRP_ASSIGNING || main_interrupted(g)) {
        sp_arena_destroy(&g->work);
        return;
    }
    /* A failed refresh still assigns from what the cache knows (maybe nothing). */
    (void)rc;
    op_reset(op);
    struct kproto_sync_group_request_sync_group_request_assignment *a = NULL;
    if (plan_range(&g->work, g->plan, g->c) == 0) {
        a = plan_encode(&op->req, g->plan);
    }
    int32_t n = g->plan->members_count;
    g->plan = NULL;
    sp_arena_destroy(&g->work);
    if (a == NULL) {
        group_backoff(g, false);
        return;
    }
    group_sync(g, a, n);
}

/* Leader: reads the members' subscriptions, learns the topics' partitions, then syncs. */
static void group_assign(struct grp_op *op, const struct kproto_join_group_response *r)
{
    struct spc_group *g = op->g;
    sp_arena_destroy(&g->work);
    sp_arena_init(&g->work, NULL, 0, GRP_ARENA_LIMIT);
    g->plan = sp_arena_calloc(&g->work, 1, sizeof(*g->plan));
    if (g->plan == NULL || plan_read(&g->work, g->plan, r) < 0) {
        g->plan = NULL;
        sp_arena_destroy(&g->work);
        group_backoff(g, false);
        return;
    }
    op_release(op); /* what the plan needs is in g->work now */
    g->state = GRP_ASSIGNING;
    op->busy = true;
    op->done = false;
    int rc = spc_metadata_refresh(g->c, g->plan->topics, g->plan->topics_count, false,
                                  assign_metadata_done, op);
    if (rc < 0) {
        op->busy = false;
        g->plan = NULL;
        sp_arena_destroy(&g->work);
        group_backoff(g, false);
    }
}

/* ---- SyncGroup -------------------------------------------------------------- */

static void sync_done(struct spc_call *call, int rc);

/* SyncGroup before v5 names no protocol type and name; GroupInstanceId needs v3. */
static bool sync_older(struct grp_op *op, int16_t *min_version, int16_t *max_version)
{
    struct sp_str null = {NULL, 0};
    op->u.sync.ProtocolType = null;
    op->u.sync.ProtocolName = null;
    *min_version = op->u.sync.GroupInstanceId.ptr != NULL ? 3 : 0;
    *max_version = 4;
    return true;
}

/* Sends SyncGroup with the leader's assignments a[n] (none for followers), in main's arena. */
static void group_sync(struct spc_group *g,
                       struct kproto_sync_group_request_sync_group_request_assignment *a, int32_t n)
{
    struct grp_op *op = g->main;
    struct kproto_sync_group_request *r = &op->u.sync;
    kproto_sync_group_request_init(r);
    r->GroupId = sp_str_make(g->group_id);
    r->GenerationId = g->generation;
    r->MemberId = sp_str_make(g->member_id);
    r->GroupInstanceId = str_or_null(g->instance_id);
    r->ProtocolType = sp_str_make(GRP_PROTOCOL_TYPE);
    r->ProtocolName = sp_str_make(g->protocol);
    r->Assignments = a;
    r->Assignments_count = n;
    g->state = GRP_SYNCING;
    op->older = sync_older;
    if (op_send(g, op, KPROTO_API_KEY_SYNC_GROUP, 5, 5, r,
                g->cfg.rebalance_timeout_ms + GRP_JOIN_SLACK_MS, sync_done) < 0) {
        group_backoff(g, false);
    }
}

/* This member's partitions from a ConsumerProtocolAssignment, sorted, into g->parts. */
static int parts_read(struct spc_group *g, struct sp_arena *a, struct sp_slice bytes)
{
    struct kproto_consumer_protocol_assignment pa;
    kproto_consumer_protocol_assignment_init(&pa);
    if (bytes.len > 0) {
        struct sp_rd rd;
        sp_rd_init(&rd, bytes.ptr, bytes.len);
        int16_t version = 0;
        sp_rd_i16(&rd, &version);
        if (rd.err == 0 && version >= 0) {
            kproto_consumer_protocol_assignment_decode(&rd, a, SP_MIN(version, GRP_ASSIGNMENT_VMAX),
                                                       &pa);
        }
        if (rd.err != 0 || version < 0) {
            return -EBADMSG;
        }
    }
    size_t n = 0;
    for (int32_t i = 0; i < pa.AssignedPartitions_count; i++) {
        n += (size_t)pa.AssignedPartitions[i].Partitions_count;
    }
    if (n > GRP_PARTS_MAX) {
        return -EBADMSG;
    }
    struct grp_tp *v = calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    size_t k = 0;
    int err = 0;
    for (int32_t i = 0; err == 0 && i < pa.AssignedPartitions_count; i++) {
        const struct kproto_consumer_protocol_assignment_topic_partition *tp =
            &pa.AssignedPartitions[i];
        for (int32_t j = 0; err == 0 && j < tp->Partitions_count; j++) {
            v[k].topic = str_dup_n(tp->Topic.ptr != NULL ? tp->Topic.ptr : "",
                                   tp->Topic.ptr != NULL ? (size_t)tp->Topic.len : 0);
            v[k].partition = tp->Partitions[j];
            v[k].start = v[k].stored = v[k].committed = -1;
            err = v[k].topic == NULL ? -ENOMEM : 0;
            k += err == 0 ? 1 : 0;
        }
    }
    struct grp_tps s = {v, k};
    if (err != 0) {
        tps_clear(&s);
        return err;
    }
    qsort(s.v, s.n, sizeof(*s.v), tp_cmp);
    size_t u = 0; /* drop duplicates */
    for (size_t i = 0; i < s.n; i++) {
        if (u > 0 && tp_cmp(&s.v[u - 1], &s.v[i]) == 0) {
            free(s.v[i].topic);
        } else {
            s.v[u++] = s.v[i];
        }
    }
    s.n = u;
    tps_clear(&g->parts);
    g->parts = s;
    return 0;
}

static void sync_done(struct spc_call *call, int rc)
{
    struct spc_group *g = main_finish(call, rc, false);
    if (g == NULL) {
        return;
    }
    struct grp_op *op = g->main;
    const struct kproto_sync_group_response *r = call->response;
    if (join_error(g, op, r->ErrorCode)) {
        return;
    }
    int err = parts_read(g, &op->req, r->Assignment);
    if (err < 0) {
        struct spc_error e;
        spc_error_set(&e, err, call->broker, "group \"%s\": bad assignment: %s", g->group_id,
                      strerror(-err));
        group_fail(g, &e);
        return;
    }
    /* Partitions this member had last generation go on from where it was. */
    bool need_fetch = false;
    for (size_t i = 0; i < g->parts.n; i++) {
        struct grp_tp *tp = &g->parts.v[i];
        const struct grp_tp *h = tps_find(&g->held, tp->topic, tp->partition);
        tp->start = h != NULL ? h->start : -1;
        tp->committed = h != NULL ? h->committed : -1;
        need_fetch = need_fetch || tp->start < 0;
    }
    tps_clear(&g->held);
    g->state = GRP_FETCHING;
    g->hb_due_ms = now_ms(g) + g->cfg.heartbeat_interval_ms;
    if (need_fetch) {
        group_fetch_offsets(g);
    } else {
        group_apply(g);
    }
}

/* ---- OffsetFetch ------------------------------------------------------------ */

static void fetch_done(struct spc_call *call, int rc);

/* Counts the runs of one topic in g->parts (sorted by topic). */
static size_t parts_topics(const struct grp_tps *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        n += (i == 0 || strcmp(s->v[i - 1].topic, s->v[i].topic) != 0) ? 1 : 0;
    }
    return n;
}

/* OffsetFetch 1-7: one group, named at the top (v0 reads ZooKeeper's offsets in Kafka). */
static bool fetch_older(struct grp_op *op, int16_t *min_version, int16_t *max_version)
{
    struct kproto_offset_fetch_request *r = &op->u.fetch;
    r->GroupId = r->Groups[0].GroupId;
    r->Topics_count = r->Groups[0].Topics_count;
    r->Groups_count = 0;
    *min_version = 1;
    *max_version = 7;
    return true;
}

static void group_fetch_offsets(struct spc_group *g)
{
    struct grp_op *op = g->main;
    op_reset(op);
    struct kproto_offset_fetch_request *r = &op->u.fetch;
    kproto_offset_fetch_request_init(r);
    size_t nt = parts_topics(&g->parts);
    struct sp_arena *a = &op->req;
    struct kproto_offset_fetch_request_offset_fetch_request_topic *t0 =
        sp_arena_calloc(a, nt + 1, sizeof(*t0));
    struct kproto_offset_fetch_request_offset_fetch_request_topics *t8 =
        sp_arena_calloc(a, nt + 1, sizeof(*t8));
    struct kproto_offset_fetch_request_offset_fetch_request_group *grp =
        sp_arena_calloc(a, 1, sizeof(*grp));
    int32_t *parts = sp_arena_calloc(a, g->parts.n + 1, sizeof(*parts));
    if (t0 == NULL || t8 == NULL || grp == NULL || parts == NULL) {
        group_backoff(g, true);
        return;
    }
    int32_t k = -1;
    for (size_t i = 0; i < g->parts.n; i++) {
        const struct grp_tp *tp = &g->parts.v[i];
        if (i == 0 || strcmp(g->parts.v[i - 1].topic, tp->topic) != 0) {
            k++;
            t0[k].Name = t8[k].Name = sp_str_make(tp->topic);
            t0[k].PartitionIndexes = t8[k].PartitionIndexes = &parts[i];
        }
        parts[i] = tp->partition;
        t0[k].PartitionIndexes_count++;
        t8[k].PartitionIndexes_count++;
    }
    /* Versions 8+ name the group in Groups; fetch_older moves it to the top for 1-7. */
    r->Topics = t0;
    r->Topics_count = 0;
    grp->GroupId = sp_str_make(g->group_id);
    grp->MemberEpoch = -1;
    grp->Topics = t8;
    grp->Topics_count = (int32_t)nt;
    r->Groups = grp;
    r->Groups_count = 1;
    op->older = fetch_older;
    if (op_send(g, op, KPROTO_API_KEY_OFFSET_FETCH, 8, 8, r, 0, fetch_done) < 0) {
        group_backoff(g, true);
    }
}

/* One partition's answer: the committed offset becomes its start. */
static int16_t fetch_one(struct spc_group *g, struct sp_str topic, int32_t partition,
                         int64_t offset, int16_t code)
{
    char name[256];
    if (topic.ptr == NULL || topic.len <= 0 || (size_t)topic.len >= sizeof(name)) {
        return 0;
    }
    memcpy(name, topic.ptr, (size_t)topic.len);
    name[topic.len] = '\0';
    struct grp_tp *tp = tps_find(&g->parts, name, partition);
    if (tp == NULL) {
        return 0;
    }
    if (code == KERR_UNSTABLE_OFFSET_COMMIT) {
        return code;
    }
    if (code == 0 && offset >= 0) {
        tp->start = tp->committed = offset;
    }
    return 0;
}

static int16_t fetch_read(struct spc_group *g, const struct kproto_offset_fetch_response *r,
                          int16_t version)
{
    int16_t retry = 0;
    if (version >= 8) {
        if (r->Groups_count < 1) {
            return KERR_COORDINATOR_NOT_AVAILABLE;
        }
        const struct kproto_offset_fetch_response_offset_fetch_response_group *grp = &r->Groups[0];
        if (grp->ErrorCode != 0) {
            return grp->ErrorCode;
        }
        for (int32_t i = 0; i < grp->Topics_count; i++) {
            for (int32_t j = 0; j < grp->Topics[i].Partitions_count; j++) {
                const struct kproto_offset_fetch_response_offset_fetch_response_partitions *p =
                    &grp->Topics[i].Partitions[j];
                int16_t e = fetch_one(g, grp->Topics[i].Name, p->PartitionIndex, p->CommittedOffset,
                                      p->ErrorCode);
                retry = retry != 0 ? retry : e;
            }
        }
        return retry;
    }
    if (r->ErrorCode != 0) {
        return r->ErrorCode;
    }
    for (int32_t i = 0; i < r->Topics_count; i++) {
        for (int32_t j = 0; j < r->Topics[i].Partitions_count; j++) {
            const struct kproto_offset_fetch_response_offset_fetch_response_partition *p =
                &r->Topics[i].Partitions[j];
            int16_t e = fetch_one(g, r->Topics[i].Name, p->PartitionIndex, p->CommittedOffset,
                                  p->ErrorCode);
            retry = retry != 0 ? retry : e;
        }
    }
    return retry;
}

static void fetch_done(struct spc_call *call, int rc)
{
    struct spc_group *g = main_finish(call, rc, true);
    if (g == NULL) {
        return;
    }
    struct grp_op *op = g->main;
    int16_t code = fetch_read(g, call->response, call->version);
    op_release(op);
    if (code == 0) {
        group_apply(g);
        return;
    }
    if (code == KERR_UNKNOWN_MEMBER_ID || code == KERR_ILLEGAL_GENERATION) {
        group_lost(g, code == KERR_UNKNOWN_MEMBER_ID);
        return;
    }
    op_kafka_error(op, code);
    if (coordinator_error(code)) {
        coordinator_stale(g, code);
    }
    if (coordinator_error(code) || code == KERR_UNSTABLE_OFFSET_COMMIT || spc_retriable(code)) {
        group_backoff(g, true);
    } else {
        group_fail(g, &op->err);
    }
}

/* ---- Heartbeat -------------------------------------------------------------- */

static void hb_done(struct spc_call *call, int rc)
{
    struct spc_group *g = op_finish(call, rc);
    if (g == NULL) {
        return;
    }
    struct grp_op *op = g->hb;
    int16_t code =
        rc == 0 ? ((const struct kproto_heartbeat_response *)call->response)->ErrorCode : 0;
    op_release(op);
    if (op->generation != g->generation || (g->state != GRP_STABLE && g->state != GRP_FETCHING)) {
        return; /* an answer about a generation that is over */
    }
    switch (code) {
    case 0:
        break;
    case KERR_REBALANCE_IN_PROGRESS:
        group_rebalance(g);
        break;
    case KERR_UNKNOWN_MEMBER_ID:
    case KERR_ILLEGAL_GENERATION:
        group_lost(g, code == KERR_UNKNOWN_MEMBER_ID);
        break;
    case KERR_FENCED_INSTANCE_ID:
        op_kafka_error(op, code);
        group_fail(g, &op->err);
        break;
    default:
        if (coordinator_error(code)) {
            coordinator_stale(g, code);
        }
        break;
    }
}

static void group_heartbeat(struct spc_group *g)
{
    struct grp_op *op = g->hb;
    op_reset(op);
    struct kproto_heartbeat_request *r = &op->u.hb;
    kproto_heartbeat_request_init(r);
    r->GroupId = sp_str_make(g->group_id);
    r->GenerationId = g->generation;
    r->MemberId = sp_str_make(g->member_id);
    r->GroupInstanceId = str_or_null(g->instance_id);
    (void)op_send(g, op, KPROTO_API_KEY_HEARTBEAT, g->instance_id != NULL ? 3 : 0, 4, r,
                  g->cfg.session_timeout_ms, hb_done);
}

/* ---- OffsetCommit ----------------------------------------------------------- */

static void commit_done(struct spc_call *call, int rc);

/*
 * Sends the positions that moved since the last commit. Returns 1 when a
 * commit went out, 0 when there was nothing to commit, or -errno.
 */
static int group_commit_send(struct spc_group *g)
{
    struct grp_op *op = g->commit;
    if (op->busy) {
        return -EBUSY;
    }
    op_reset(op);
    struct sp_arena *a = &op->req;
    struct kproto_offset_commit_request *r = &op->u.commit;
    kproto_offset_commit_request_init(r);
    size_t nt = parts_topics(&g->parts);
    r->Topics = sp_arena_calloc(a, nt + 1, sizeof(*r->Topics));
    struct kproto_offset_commit_request_offset_commit_request_partition *pv =
        sp_arena_calloc(a, g->parts.n + 1, sizeof(*pv));
    if (r->Topics == NULL || pv == NULL) {
        return -ENOMEM;
    }
    size_t k = 0;
    struct kproto_offset_commit_request_offset_commit_request_topic *t = NULL;
    for (size_t i = 0; i < g->parts.n; i++) {
        const struct grp_tp *tp = &g->parts.v[i];
        int64_t pos = tp_position(g, tp);
        if (pos < 0 || pos == tp->committed) {
            continue;
        }
        if (t == NULL || strcmp(t->Name.ptr, tp->topic) != 0) {
            t = &r->Topics[r->Topics_count++];
            t->Name = sp_str_make(tp->topic);
            t->Partitions = &pv[k];
        }
        pv[k].PartitionIndex = tp->partition;
        pv[k].CommittedOffset = pos;
        pv[k].CommittedLeaderEpoch = -1;
        pv[k].CommitTimestamp = -1;
        pv[k].CommittedMetadata = sp_str_make("");
        t->Partitions_count++;
        k++;
    }
    if (k == 0) {
        return 0;
    }
    r->GroupId = sp_str_make(g->group_id);
    r->GenerationIdOrMemberEpoch = g->generation;
    r->MemberId = sp_str_make(g->member_id);
    r->GroupInstanceId = str_or_null(g->instance_id);
    r->RetentionTimeMs = -1;
    int rc = op_send(g, op, KPROTO_API_KEY_OFFSET_COMMIT, g->instance_id != NULL ? 7 : 2, 8, r, 0,
                     commit_done);
    return rc < 0 ? rc : 1;
}

/* Marks what was committed; returns the first partition error. */
static int16_t commit_read(struct spc_group *g, struct grp_op *op,
                           const struct kproto_offset_commit_response *resp)
{
    const struct kproto_offset_commit_request *req = &op->u.commit;
    int16_t first = 0;
    for (int32_t i = 0; i < resp->Topics_count; i++) {
        const struct kproto_offset_commit_response_offset_commit_response_topic *t =
            &resp->Topics[i];
        for (int32_t j = 0; j < t->Partitions_count; j++) {
            int16_t code = t->Partitions[j].ErrorCode;
            first = first != 0 ? first : code;
        }
    }
    if (first != 0 || op->generation != g->generation) {
        return first;
    }
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_offset_commit_request_offset_commit_request_topic *t = &req->Topics[i];
        for (int32_t j = 0; j < t->Partitions_count; j++) {
            struct grp_tp *tp = tps_find(&g->parts, t->Name.ptr, t->Partitions[j].PartitionIndex);
            if (tp != NULL) {
                tp->committed = t->Partitions[j].CommittedOffset;
            }
        }
    }
    return 0;
}

static void commit_done(struct spc_call *call, int rc)
{
    struct spc_group *g = op_finish(call, rc);
    if (g == NULL) {
        return;
    }
    struct grp_op *op = g->commit;
    int16_t code = rc == 0 ? commit_read(g, op, call->response) : 0;
    op_release(op);
    if (code != 0) {
        op_kafka_error(op, code);
        if (coordinator_error(code)) {
            coordinator_stale(g, code);
        }
    }
    bool current = op->generation == g->generation;
    if (g->state == GRP_REVOKING) {
        /* The commit before rejoining: once it is answered, whatever it said, go on. */
        if (!g->revoke_commit_sent && current && code == 0) {
            g->revoke_commit_sent = true;
            if (group_commit_send(g) > 0) {
                return;
            }
        }
        if (code == KERR_UNKNOWN_MEMBER_ID || code == KERR_ILLEGAL_GENERATION) {
            group_lost(g, code == KERR_UNKNOWN_MEMBER_ID);
        } else {
            revoke_and_join(g);
        }
        return;
    }
    if (!current || g->state != GRP_STABLE) {
        return;
    }
    if (code == KERR_REBALANCE_IN_PROGRESS) {
        group_rebalance(g);
    } else if (code == KERR_UNKNOWN_MEMBER_ID || code == KERR_ILLEGAL_GENERATION) {
        group_lost(g, code == KERR_UNKNOWN_MEMBER_ID);
    }
}

/* ---- LeaveGroup ------------------------------------------------------------- */

static void leave_done(struct spc_call *call, int rc)
{
    struct spc_group *g = op_finish(call, rc);
    if (g != NULL) {
        op_release(g->leave);
    }
}

static bool leave_older(struct grp_op *op, int16_t *min_version, int16_t *max_version)
{
    struct kproto_leave_group_request *r = &op->u.leave;
    r->MemberId = r->Members[0].MemberId;
    r->Members_count = 0;
    *min_version = 0;
    *max_version = 2;
    return true;
}

static int group_leave_send(struct spc_group *g)
{
    struct grp_op *op = g->leave;
    op_reset(op);
    struct kproto_leave_group_request *r = &op->u.leave;
    kproto_leave_group_request_init(r);
    struct kproto_leave_group_request_member_identity *m = sp_arena_calloc(&op->req, 1, sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    /* Versions 3+ name the members in Members; leave_older moves it to the top for 0-2. */
    r->GroupId = sp_str_make(g->group_id);
    m->MemberId = sp_str_make(g->member_id);
    m->GroupInstanceId = str_or_null(g->instance_id);
    r->Members = m;
    r->Members_count = 1;
    op->older = g->instance_id == NULL ? leave_older : NULL;
    return op_send(g, op, KPROTO_API_KEY_LEAVE_GROUP, 3, 5, r, 0, leave_done);
}

/* ---- timers ----------------------------------------------------------------- */

/* The earliest deadline the member waits for, or INT64_MAX. */
static int64_t group_next_due(const struct spc_group *g)
{
    int64_t due = INT64_MAX;
    bool live = g->state == GRP_STABLE || g->state == GRP_FETCHING;
    if (live && !g->hb->busy) {
        due = SP_MIN(due, g->hb_due_ms);
    }
    if (g->state == GRP_STABLE && g->cfg.auto_commit && !g->commit->busy) {
        due = SP_MIN(due, g->commit_due_ms);
    }
    if ((g->state == GRP_BACKOFF || (g->state == GRP_FETCHING && g->retry_fetch)) &&
        !g->main->busy) {
        due = SP_MIN(due, g->retry_due_ms);
    }
    return due;
}

static void group_tick(struct spc_group *g)
{
    int64_t now = now_ms(g);
    if (g->state == GRP_BACKOFF && !g->main->busy && now >= g->retry_due_ms) {
        group_join(g);
    } else if (g->state == GRP_FETCHING && g->retry_fetch && !g->main->busy &&
               now >= g->retry_due_ms) {
        g->retry_fetch = false;
        group_fetch_offsets(g);
    }
    bool live = g->state == GRP_STABLE || g->state == GRP_FETCHING;
    if (live && !g->hb->busy && now >= g->hb_due_ms) {
        g->hb_due_ms = now + g->cfg.heartbeat_interval_ms;
        group_heartbeat(g);
    }
    if (g->state == GRP_STABLE && g->cfg.auto_commit && !g->commit->busy &&
        now >= g->commit_due_ms) {
        g->commit_due_ms = now + g->cfg.auto_commit_interval_ms;
        (void)group_commit_send(g);
    }
}

/* ---- the contract ----------------------------------------------------------- */

void spc_group_config_init(struct spc_group_config *gc)
{
    memset(gc, 0, sizeof(*gc));
    gc->session_timeout_ms = 45000;
    gc->rebalance_timeout_ms = 60000;
    gc->heartbeat_interval_ms = 3000;
    gc->auto_commit = true;
    gc->auto_commit_interval_ms = 5000;
    gc->reset_offset = SPC_OFFSET_END;
}

static int group_init(struct spc_group *g, const struct spc_group_config *gc,
                      const char *const *topics, size_t topics_count)
{
    g->cfg = *gc;
    g->group_id = str_dup_n(gc->group_id, strlen(gc->group_id));
    g->instance_id = gc->group_instance_id != NULL
                         ? str_dup_n(gc->group_instance_id, strlen(gc->group_instance_id))
                         : NULL;
    g->member_id = str_dup_n("", 0);
    g->protocol = str_dup_n(GRP_ASSIGNOR, strlen(GRP_ASSIGNOR));
    g->topics = calloc(topics_count, sizeof(*g->topics));
    g->main = op_new(g);
    g->hb = op_new(g);
    g->commit = op_new(g);
    g->leave = op_new(g);
    if (g->group_id == NULL || g->member_id == NULL || g->protocol == NULL || g->topics == NULL ||
        (gc->group_instance_id != NULL && g->instance_id == NULL) || g->main == NULL ||
        g->hb == NULL || g->commit == NULL || g->leave == NULL) {
        return -ENOMEM;
    }
    struct sp_str *names = calloc(topics_count, sizeof(*names));
    if (names == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < topics_count; i++) {
        g->topics[i] = str_dup_n(topics[i], strlen(topics[i]));
        if (g->topics[i] == NULL) {
            free(names);
            return -ENOMEM;
        }
        g->topics_count++;
        names[i] = sp_str_make(g->topics[i]);
    }
    struct kproto_consumer_protocol_subscription sub;
    kproto_consumer_protocol_subscription_init(&sub);
    sub.Topics = names;
    sub.Topics_count = (int32_t)topics_count;
    sp_wr_init(&g->subscription, NULL, 64);
    sp_wr_i16(&g->subscription, 0);
    kproto_consumer_protocol_subscription_encode(&g->subscription, 0, &sub);
    free(names);
    return g->subscription.err;
}

static void group_destroy(struct spc_group *g)
{
    for (struct spc_group **pp = &groups_head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    struct grp_op *ops[] = {g->main, g->hb, g->commit, g->leave};
    for (size_t i = 0; i < SP_ARRAY_LEN(ops); i++) {
        if (ops[i] == NULL) {
            continue;
        }
        if (ops[i]->busy) {
            ops[i]->g = NULL; /* it frees itself when its answer comes */
        } else {
            op_destroy(ops[i]);
        }
    }
    for (size_t i = 0; i < g->topics_count; i++) {
        free(g->topics[i]);
    }
    free(g->topics);
    tps_clear(&g->parts);
    tps_clear(&g->held);
    sp_arena_destroy(&g->work);
    sp_wr_free(&g->subscription);
    free(g->group_id);
    free(g->instance_id);
    free(g->member_id);
    free(g->protocol);
    free(g);
}

int spc_group_new(struct spc_client *c, const struct spc_group_config *gc, struct spc_fetcher *f,
                  const char *const *topics, size_t topics_count, struct spc_group **out,
                  struct spc_error *err)
{
    *out = NULL;
    if (gc == NULL || gc->group_id == NULL || gc->group_id[0] == '\0' || f == NULL ||
        topics_count == 0 || gc->heartbeat_interval_ms <= 0 || gc->session_timeout_ms <= 0 ||
        (gc->auto_commit && gc->auto_commit_interval_ms <= 0)) {
        spc_error_set(err, -EINVAL, "-",
                      "group: a group id, a fetcher, topics and positive "
                      "timeouts are required");
        return -EINVAL;
    }
    for (size_t i = 0; i < topics_count; i++) {
        if (topics[i] == NULL || topics[i][0] == '\0') {
            spc_error_set(err, -EINVAL, "-", "group \"%s\": empty topic name", gc->group_id);
            return -EINVAL;
        }
    }
    struct spc_group *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        spc_error_set(err, -ENOMEM, "-", "group \"%s\": out of memory", gc->group_id);
        return -ENOMEM;
    }
    g->c = c;
    g->f = f;
    g->generation = -1;
    sp_arena_init(&g->work, NULL, 0, GRP_ARENA_LIMIT);
    int rc = group_init(g, gc, topics, topics_count);
    if (rc < 0) {
        group_destroy(g);
        spc_error_set(err, rc, "-", "group \"%s\": %s", gc->group_id, strerror(-rc));
        return rc;
    }
    g->next = groups_head;
    groups_head = g;
    group_join(g);
    *out = g;
    return 0;
}

bool spc_group_stable(const struct spc_group *g)
{
    return g->state == GRP_STABLE;
}

int spc_group_error(const struct spc_group *g, struct spc_error *err)
{
    if (g->state != GRP_FAILED) {
        return 0;
    }
    if (err != NULL) {
        *err = g->fatal;
    }
    return g->fatal.code > 0 ? -EPROTO : g->fatal.code;
}

int spc_group_tick(struct spc_client *c)
{
    int64_t due = INT64_MAX;
    for (struct spc_group *g = groups_head; g != NULL; g = g->next) {
        if (g->c == c) {
            group_tick(g);
            due = SP_MIN(due, group_next_due(g));
        }
    }
    if (due == INT64_MAX) {
        return -1;
    }
    return (int)SP_MAX(0, SP_MIN(due - spc_now_ms(c), (int64_t)INT32_MAX));
}

int spc_group_poll(struct spc_group *g, int timeout_ms)
{
    int64_t due = group_next_due(g);
    if (due != INT64_MAX) {
        int64_t left = due - now_ms(g);
        timeout_ms = (int)SP_MAX(0, SP_MIN((int64_t)timeout_ms, left));
    }
    int rc = spc_poll(g->c, timeout_ms);
    group_tick(g);
    return rc;
}

int spc_group_store_offset(struct spc_group *g, const char *topic, int32_t partition,
                           int64_t next_offset)
{
    g->store_mode = true;
    struct grp_tp *tp = NULL;
    if (g->last_hit < g->parts.n && g->parts.v[g->last_hit].partition == partition &&
        strcmp(g->parts.v[g->last_hit].topic, topic) == 0) {
        tp = &g->parts.v[g->last_hit];
    } else {
        tp = tps_find(&g->parts, topic, partition);
    }
    if (tp == NULL) {
        return -ENOENT;
    }
    g->last_hit = (size_t)(tp - g->parts.v);
    tp->stored = next_offset;
    return 0;
}

/* Polls (running the member's timers) until *done or the deadline. */
static int group_wait(struct spc_group *g, const bool *done, int64_t deadline_ms)
{
    while (!*done) {
        int64_t left = deadline_ms - now_ms(g);
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        int rc = spc_group_poll(g, (int)SP_MIN(left, 1000));
        if (rc < 0 && rc != -EINTR && rc != -ETIMEDOUT) {
            return rc;
        }
    }
    return 0;
}

int spc_group_commit(struct spc_group *g, int timeout_ms, struct spc_error *err)
{
    int64_t deadline = now_ms(g) + timeout_ms;
    struct grp_op *op = g->commit;
    if (op->busy) {
        bool idle = false;
        while (op->busy && !idle) {
            int rc = group_wait(g, &op->done, deadline);
            if (rc < 0) {
                spc_error_set(err, rc, "-", "group \"%s\": commit: %s", g->group_id, strerror(-rc));
                return rc;
            }
            idle = !op->busy;
        }
    }
    if (g->state != GRP_STABLE) {
        return 0; /* nothing assigned: nothing to commit */
    }
    int rc = group_commit_send(g);
    if (rc <= 0) {
        if (rc < 0) {
            spc_error_set(err, rc, "-", "group \"%s\": commit: %s", g->group_id, strerror(-rc));
        }
        return rc;
    }
    rc = group_wait(g, &op->done, deadline);
    if (rc < 0) {
        spc_error_set(err, rc, "-", "group \"%s\": commit: %s", g->group_id, strerror(-rc));
        return rc;
    }
    if (op->rc != 0) {
        if (err != NULL) {
            *err = op->err;
        }
        return op->rc > 0 ? -EPROTO : op->rc;
    }
    return 0;
}

void spc_group_free(struct spc_group *g, int timeout_ms)
{
    if (g == NULL) {
        return;
    }
    int64_t deadline = now_ms(g) + timeout_ms;
    if (g->cfg.auto_commit && g->state == GRP_STABLE) {
        (void)spc_group_commit(g, timeout_ms, NULL);
    }
    group_revoke(g, false);
    bool member = g->member_id[0] != '\0' && g->instance_id == NULL;
    g->state = GRP_LEAVING;
    if (member && group_leave_send(g) == 0) {
        (void)group_wait(g, &g->leave->done, deadline);
    }
    group_destroy(g);
}
