/*
 * cluster/group_classic.c: the classic group protocol (JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup) and its state machine, on the group's coordinator
 * shard (cluster/group.h).
 *
 *            join (first)          join completes          leader's SyncGroup stored
 *   Empty ---------------> Preparing ------------> Completing --------------------> Stable
 *     ^                    Rebalance <------------ Rebalance  <--- member joins, ----'
 *     '--- last member leaves ---'    join/leave/expiry          leaves, expires
 *
 * A rebalance (PreparingRebalance) waits until every member has sent its
 * JoinGroup (each one is held: member->join) or the rebalance timeout (the
 * largest of the members') passes; dynamic members that did not rejoin are
 * then removed. The first rebalance of an Empty group waits
 * group.initial.rebalance.delay.ms instead, extended by the same delay
 * while new members keep arriving, up to the rebalance timeout. When the
 * join completes the generation grows, a protocol every member supports is
 * chosen by vote, the leader gets every member's metadata, and every held
 * JoinGroup is answered (CompletingRebalance). SyncGroups are held until the
 * leader's brings the assignment, which is stored in __consumer_offsets
 * (GroupMetadataValue) before anyone is answered (Stable).
 *
 * Timers, all on the coordinator shard and owned by the group:
 *   member->session   session timeout (a new member awaiting its first join:
 *                     NEW_MEMBER_JOIN_TIMEOUT_MS); members awaiting a join or
 *                     sync answer are kept alive, the others are removed
 *   pending->timer    a KIP-394 member id handed out and not yet used
 *   gc->join_timer    the rebalance timeout, or the initial delay
 *   gc->kick_timer    0 ms: completes the join on the next tick once every
 *                     member is in (never from inside a request's own fn,
 *                     which may not answer itself with sp_fwd_done)
 *   gc->sync_timer    members that do not SyncGroup within the rebalance
 *                     timeout after the join are removed
 *
 * Memory: every string and byte string a group keeps is its own copy,
 * charged to the shard budget (sp_mem_alloc); what a response points to is
 * copied into the answering forward's arena.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "cluster/forward.h"
#include "cluster/group.h"
#include "cluster/image.h"
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rx.h"
#include "net/conn.h"
#include "protocol/gen/kerr.h"
#include "protocol/gen/kproto_types.h"

/* A new member's JoinGroup is held at most this long (Kafka's value). */
#define NEW_MEMBER_JOIN_TIMEOUT_MS 300000
/* Hard bounds, whatever group.max.size says. */
#define GROUP_MEMBERS_MAX    10000
#define GROUP_PENDING_MAX    10000
#define MEMBER_PROTOCOLS_MAX 256
/* GroupMetadataValue version written: 3 has currentStateTimestamp and instance ids. */
#define GROUP_META_VALUE_VERSION 3
/* Scratch memory for encoding one group record. */
#define STORE_ARENA_LIMIT (64u << 20)

/* An owned copy of a string or byte string; ptr NULL: none (a null string). */
struct own {
    char *ptr;
    uint32_t len;
};

struct proto {
    struct own name;
    struct own meta;
};

struct store;

struct member {
    struct sp_group_classic *gc;
    struct member *next; /* join order */
    struct own id;
    struct own instance; /* group.instance.id; ptr NULL: a dynamic member */
    struct own client_id;
    struct own client_host;
    int32_t session_ms;
    int32_t rebalance_ms;
    struct proto *protos; /* in the member's order of preference */
    uint32_t protos_count;
    struct own assignment;
    struct sp_fwd *join; /* a held JoinGroup */
    struct sp_fwd *sync; /* a held SyncGroup */
    struct store *store; /* a static member's rejoin being stored */
    struct sp_timer session;
    bool is_new;       /* joined in this rebalance, no answer yet */
    bool sync_pending; /* the join was answered, no SyncGroup yet */
};

/* A member id handed out with MEMBER_ID_REQUIRED, not yet used to join (KIP-394). */
struct pending {
    struct sp_group_classic *gc;
    struct pending *next;
    struct own id;
    struct sp_timer timer;
};

enum store_kind {
    STORE_SYNC,   /* the leader's assignment */
    STORE_EMPTY,  /* the group went Empty */
    STORE_STATIC, /* a static member replaced without a rebalance */
};

/* One record being stored; outlives the group's classic state if need be. */
struct store {
    struct sp_group_write w;
    struct sp_group_classic *gc; /* NULL once the classic state is gone */
    struct store *next;
    enum store_kind kind;
    int32_t generation;
    struct member *member; /* STORE_STATIC: the member whose join waits, or NULL */
    struct sp_str leader;  /* STORE_STATIC: the leader to answer with (the join's arena) */
};

struct sp_group_classic {
    struct sp_group *g;
    struct own protocol_type;
    struct own protocol; /* chosen in the current generation; ptr NULL: none */
    int32_t generation;
    struct member *leader;
    struct member *members;
    uint32_t count;
    uint32_t awaiting_join; /* members with a held JoinGroup */
    struct pending *pending;
    uint32_t pending_count;
    struct store *stores; /* in flight */
    struct sp_timer join_timer;
    struct sp_timer kick_timer;
    struct sp_timer sync_timer;
    int32_t join_remaining_ms; /* initial delay: what may still be added */
    bool join_initial;         /* the join timer is the initial delay */
    bool new_member_added;     /* a new member came during the initial delay */
};

/* What a handler hands the coordinator with the request: the client's address. */
struct classic_arg {
    struct sp_str client_host;
};

/* ---- Owned strings --------------------------------------------------------- */

static int own_set(struct own *o, const void *p, size_t len, bool present)
{
    o->ptr = NULL;
    o->len = 0;
    if (!present) {
        return 0;
    }
    if (len > INT32_MAX - 1) {
        return -ENOMEM;
    }
    o->ptr = sp_mem_alloc(sp_rx_mem(), len + 1);
    if (o->ptr == NULL) {
        return -ENOMEM;
    }
    if (len > 0) {
        memcpy(o->ptr, p, len);
    }
    o->ptr[len] = '\0';
    o->len = (uint32_t)len;
    return 0;
}

static int own_str(struct own *o, struct sp_str s)
{
    return own_set(o, s.ptr, s.ptr != NULL ? (size_t)s.len : 0, s.ptr != NULL);
}

static int own_bytes(struct own *o, struct sp_slice s)
{
    return own_set(o, s.ptr, s.len, true);
}

static void own_free(struct own *o)
{
    if (o->ptr != NULL) {
        sp_mem_free(sp_rx_mem(), o->ptr, (size_t)o->len + 1);
    }
    o->ptr = NULL;
    o->len = 0;
}

static struct sp_str own_view(const struct own *o)
{
    return (struct sp_str){o->ptr, (int32_t)o->len};
}

static bool own_eq(const struct own *o, struct sp_str s)
{
    if (o->ptr == NULL || s.ptr == NULL) {
        return o->ptr == NULL && s.ptr == NULL;
    }
    return o->len == (uint32_t)s.len && memcmp(o->ptr, s.ptr, o->len) == 0;
}

/* Copies into a (a forward's arena) for a response; NULL stays NULL. */
static int arena_str(struct sp_arena *a, const struct own *o, struct sp_str *out)
{
    *out = (struct sp_str){NULL, 0};
    if (o->ptr == NULL) {
        return 0;
    }
    *out = sp_str_copy(a, o->ptr, o->len);
    return out->ptr != NULL ? 0 : -ENOMEM;
}

static int arena_bytes(struct sp_arena *a, const struct own *o, struct sp_slice *out)
{
    struct sp_str s;
    int rc = arena_str(a, o, &s);
    *out = sp_slice_make(s.ptr != NULL ? s.ptr : "", s.ptr != NULL ? (size_t)s.len : 0);
    return rc;
}

/* ---- Configuration ----------------------------------------------------------- */

static int64_t cfg(enum sp_config_id id)
{
    return sp_config_int(sp_image_broker_config(), id);
}

static uint32_t group_max_size(void)
{
    int64_t n = cfg(SP_CFG_GROUP_MAX_SIZE);
    return n < GROUP_MEMBERS_MAX ? (uint32_t)n : GROUP_MEMBERS_MAX;
}

/* ---- Members --------------------------------------------------------------- */

static struct member *member_find(const struct sp_group_classic *gc, struct sp_str id)
{
    for (struct member *m = gc->members; m != NULL; m = m->next) {
        if (own_eq(&m->id, id)) {
            return m;
        }
    }
    return NULL;
}

static struct member *static_find(const struct sp_group_classic *gc, struct sp_str instance)
{
    if (instance.ptr == NULL) {
        return NULL;
    }
    for (struct member *m = gc->members; m != NULL; m = m->next) {
        if (own_eq(&m->instance, instance)) {
            return m;
        }
    }
    return NULL;
}

/* Another member holds this group.instance.id (Kafka's isStaticMemberFenced). */
static bool static_fenced(const struct sp_group_classic *gc, struct sp_str instance,
                          struct sp_str member_id)
{
    const struct member *m = static_find(gc, instance);
    return m != NULL && !own_eq(&m->id, member_id);
}

static const struct own *member_meta(const struct member *m, const struct own *protocol)
{
    if (protocol->ptr == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; i < m->protos_count; i++) {
        if (own_eq(&m->protos[i].name, own_view(protocol))) {
            return &m->protos[i].meta;
        }
    }
    return NULL;
}

static bool member_supports(const struct member *m, struct sp_str name)
{
    for (uint32_t i = 0; i < m->protos_count; i++) {
        if (own_eq(&m->protos[i].name, name)) {
            return true;
        }
    }
    return false;
}

static void protos_free(struct proto *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        own_free(&p[i].name);
        own_free(&p[i].meta);
    }
    if (p != NULL) {
        sp_mem_free(sp_rx_mem(), p, (size_t)n * sizeof(*p));
    }
}

/* The request's protocols, copied. 0 or -ENOMEM. */
static int protos_copy(const struct kproto_join_group_request *req, struct proto **out,
                       uint32_t *n_out)
{
    uint32_t n = (uint32_t)req->Protocols_count;
    *out = NULL;
    *n_out = 0;
    if (n == 0) {
        return 0;
    }
    struct proto *p = sp_mem_alloc(sp_rx_mem(), (size_t)n * sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    memset(p, 0, (size_t)n * sizeof(*p));
    for (uint32_t i = 0; i < n; i++) {
        if (own_str(&p[i].name, req->Protocols[i].Name) != 0 ||
            own_bytes(&p[i].meta, req->Protocols[i].Metadata) != 0) {
            protos_free(p, n);
            return -ENOMEM;
        }
    }
    *out = p;
    *n_out = n;
    return 0;
}

/* Kafka's member.matches: the same protocols with the same metadata, in the same order. */
static bool protos_match(const struct member *m, const struct kproto_join_group_request *req)
{
    if (m->protos_count != (uint32_t)req->Protocols_count) {
        return false;
    }
    for (uint32_t i = 0; i < m->protos_count; i++) {
        const struct kproto_join_group_request_join_group_request_protocol *p = &req->Protocols[i];
        const struct own *meta = &m->protos[i].meta;
        if (!own_eq(&m->protos[i].name, p->Name) || meta->len != p->Metadata.len ||
            (meta->len > 0 && memcmp(meta->ptr, p->Metadata.ptr, meta->len) != 0)) {
            return false;
        }
    }
    return true;
}

/* ---- Group state ------------------------------------------------------------- */

static void set_state(struct sp_group_classic *gc, enum sp_group_state s)
{
    gc->g->state = s;
    gc->g->state_since_ms = sp_group_now_ms();
}

static enum sp_group_state state(const struct sp_group_classic *gc)
{
    return gc->g->state;
}

static int32_t rebalance_timeout_ms(const struct sp_group_classic *gc)
{
    int32_t t = 0;
    for (const struct member *m = gc->members; m != NULL; m = m->next) {
        t = m->rebalance_ms > t ? m->rebalance_ms : t;
    }
    return t;
}

static void timer_arm(struct sp_timer *t, int64_t ms, sp_timer_fn fn)
{
    if (sp_rx_timer_start(t, (uint64_t)(ms > 0 ? ms : 0), fn) != 0) {
        sp_log_error("group: cannot arm a timer (out of memory)");
    }
}

static void member_expired(struct sp_timer *t);

/* Heartbeat received, or the member just joined: its session starts over. */
static void member_touch(struct member *m)
{
    int64_t ms = m->is_new && m->join != NULL ? NEW_MEMBER_JOIN_TIMEOUT_MS : m->session_ms;
    timer_arm(&m->session, ms, member_expired);
}

/* Whether protocols of a (would-be) member fit the group (Kafka's supportsProtocols). */
static bool supports_protocols(const struct sp_group_classic *gc,
                               const struct kproto_join_group_request *req)
{
    if (gc->count == 0 || state(gc) == SP_GROUP_EMPTY) {
        return req->ProtocolType.len > 0 && req->Protocols_count > 0;
    }
    if (!own_eq(&gc->protocol_type, req->ProtocolType)) {
        return false;
    }
    for (int32_t i = 0; i < req->Protocols_count; i++) {
        uint32_t n = 0;
        for (const struct member *m = gc->members; m != NULL; m = m->next) {
            n += member_supports(m, req->Protocols[i].Name) ? 1 : 0;
        }
        if (n == gc->count) {
            return true;
        }
    }
    return false;
}

/*
 * The protocol of the next generation: among those every member supports,
 * the one most members prefer (each votes for its first such protocol).
 */
static const struct own *select_protocol(const struct sp_group_classic *gc)
{
    const struct member *first = gc->members;
    if (first == NULL) {
        return NULL;
    }
    const struct own *best = NULL;
    uint32_t best_votes = 0;
    for (uint32_t c = 0; c < first->protos_count; c++) {
        const struct own *cand = &first->protos[c].name;
        uint32_t votes = 0;
        bool everyone = true;
        for (const struct member *m = gc->members; m != NULL && everyone; m = m->next) {
            everyone = member_supports(m, own_view(cand));
        }
        if (!everyone) {
            continue;
        }
        for (const struct member *m = gc->members; m != NULL; m = m->next) {
            /* m's vote: its first protocol that everyone supports. */
            for (uint32_t i = 0; i < m->protos_count; i++) {
                const struct own *name = &m->protos[i].name;
                bool all = true;
                for (const struct member *o = gc->members; o != NULL && all; o = o->next) {
                    all = member_supports(o, own_view(name));
                }
                if (all) {
                    votes += own_eq(name, own_view(cand)) ? 1 : 0;
                    break;
                }
            }
        }
        if (best == NULL || votes > best_votes) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

/* ---- Answers ------------------------------------------------------------------ */

static void join_fill_error(struct kproto_join_group_response *r, int16_t err,
                            struct sp_str member_id)
{
    r->ErrorCode = err;
    r->GenerationId = -1;
    r->ProtocolType = (struct sp_str){NULL, 0};
    r->ProtocolName = (struct sp_str){NULL, 0};
    r->Leader = sp_str_make("");
    r->SkipAssignment = false;
    r->MemberId = member_id.ptr != NULL ? member_id : sp_str_make("");
    r->Members = NULL;
    r->Members_count = 0;
}

/* The current generation's answer to m's JoinGroup, in f's arena. 0 or -ENOMEM. */
static int join_fill(struct sp_fwd *f, const struct sp_group_classic *gc, const struct member *m,
                     struct sp_str leader, bool with_members, bool skip)
{
    struct kproto_join_group_response *r = f->call->resp;
    struct sp_arena *a = f->arena;
    join_fill_error(r, 0, sp_str_make(""));
    r->GenerationId = gc->generation;
    r->Leader = leader;
    r->SkipAssignment = skip;
    int rc = arena_str(a, &gc->protocol_type, &r->ProtocolType);
    rc = rc != 0 ? rc : arena_str(a, &gc->protocol, &r->ProtocolName);
    rc = rc != 0 ? rc : arena_str(a, &m->id, &r->MemberId);
    if (rc != 0 || !with_members) {
        return rc;
    }
    struct kproto_join_group_response_join_group_response_member *out =
        sp_arena_calloc(a, (size_t)gc->count + 1, sizeof(*out));
    if (out == NULL) {
        return -ENOMEM;
    }
    int32_t i = 0;
    for (const struct member *o = gc->members; o != NULL && rc == 0; o = o->next, i++) {
        const struct own *meta = member_meta(o, &gc->protocol);
        struct own none = {NULL, 0};
        rc = arena_str(a, &o->id, &out[i].MemberId);
        rc = rc != 0 ? rc : arena_str(a, &o->instance, &out[i].GroupInstanceId);
        rc = rc != 0 ? rc : arena_bytes(a, meta != NULL ? meta : &none, &out[i].Metadata);
    }
    r->Members = out;
    r->Members_count = i;
    return rc;
}

static void join_release(struct sp_group_classic *gc, struct member *m)
{
    SP_ASSERT(m->join != NULL && gc->awaiting_join > 0);
    m->join = NULL;
    gc->awaiting_join--;
    if (m->store != NULL) {
        /* The join a static rejoin's store was to answer has been answered. */
        m->store->member = NULL;
        m->store = NULL;
    }
}

/* Answers m's held JoinGroup with an error. */
static void join_answer_error(struct sp_group_classic *gc, struct member *m, int16_t err)
{
    struct sp_fwd *f = m->join;
    if (f == NULL) {
        return;
    }
    join_release(gc, m);
    struct sp_str id;
    int rc = arena_str(f->arena, &m->id, &id);
    join_fill_error(f->call->resp, err, id);
    sp_fwd_done(f, rc);
}

static void join_answer(struct sp_group_classic *gc, struct member *m, struct sp_str leader,
                        bool with_members, bool skip)
{
    struct sp_fwd *f = m->join;
    if (f == NULL) {
        return;
    }
    join_release(gc, m);
    sp_fwd_done(f, join_fill(f, gc, m, leader, with_members, skip));
}

static int sync_fill(struct sp_fwd *f, const struct sp_group_classic *gc, const struct member *m,
                     int16_t err)
{
    struct kproto_sync_group_response *r = f->call->resp;
    r->ErrorCode = err;
    r->ProtocolType = (struct sp_str){NULL, 0};
    r->ProtocolName = (struct sp_str){NULL, 0};
    r->Assignment = sp_slice_make("", 0);
    if (err != 0) {
        return 0;
    }
    int rc = arena_str(f->arena, &gc->protocol_type, &r->ProtocolType);
    rc = rc != 0 ? rc : arena_str(f->arena, &gc->protocol, &r->ProtocolName);
    return rc != 0 ? rc : arena_bytes(f->arena, &m->assignment, &r->Assignment);
}

static void sync_answer(struct sp_group_classic *gc, struct member *m, int16_t err)
{
    struct sp_fwd *f = m->sync;
    if (f == NULL) {
        return;
    }
    m->sync = NULL;
    sp_fwd_done(f, sync_fill(f, gc, m, err));
}

/* ---- Membership changes --------------------------------------------------------- */

static void member_free(struct member *m)
{
    own_free(&m->id);
    own_free(&m->instance);
    own_free(&m->client_id);
    own_free(&m->client_host);
    own_free(&m->assignment);
    protos_free(m->protos, m->protos_count);
    sp_mem_free(sp_rx_mem(), m, sizeof(*m));
}

/* Takes m out of the group (its held requests must have been answered). */
static void member_remove(struct sp_group_classic *gc, struct member *m)
{
    SP_ASSERT(m->join == NULL && m->sync == NULL);
    struct member **pp = &gc->members;
    while (*pp != m) {
        pp = &(*pp)->next;
    }
    *pp = m->next;
    gc->count--;
    if (gc->leader == m) {
        gc->leader = gc->members;
    }
    if (m->store != NULL) {
        m->store->member = NULL;
    }
    sp_rx_timer_cancel(&m->session);
    member_free(m);
}

static void kick(struct sp_group_classic *gc);
static void prepare_rebalance(struct sp_group_classic *gc, const char *why);

static void maybe_prepare_rebalance(struct sp_group_classic *gc, const char *why)
{
    enum sp_group_state s = state(gc);
    if (s == SP_GROUP_STABLE || s == SP_GROUP_COMPLETING_REBALANCE || s == SP_GROUP_EMPTY) {
        prepare_rebalance(gc, why);
    }
}

/* Kafka's onMemberFailure: the member goes, the group rebalances without it. */
static void member_fail(struct sp_group_classic *gc, struct member *m, const char *why)
{
    sp_log_info("group %s: member %s leaves (%s)", gc->g->id, m->id.ptr, why);
    join_answer_error(gc, m, KERR_UNKNOWN_MEMBER_ID);
    sync_answer(gc, m, KERR_UNKNOWN_MEMBER_ID);
    member_remove(gc, m);
    switch (state(gc)) {
    case SP_GROUP_STABLE:
    case SP_GROUP_COMPLETING_REBALANCE:
        maybe_prepare_rebalance(gc, why);
        break;
    case SP_GROUP_PREPARING_REBALANCE:
        kick(gc);
        break;
    default:
        break;
    }
}

static void member_expired(struct sp_timer *t)
{
    struct member *m = sp_container_of(t, struct member, session);
    /* A member waiting for its join or sync answer is alive; a new one only so long. */
    if (!m->is_new && (m->join != NULL || m->sync != NULL)) {
        member_touch(m);
        return;
    }
    member_fail(m->gc, m, "session timeout");
}

/* Every member's assignment goes, every held SyncGroup gets err. */
static void reset_assignments(struct sp_group_classic *gc, int16_t err)
{
    for (struct member *m = gc->members; m != NULL; m = m->next) {
        own_free(&m->assignment);
        sync_answer(gc, m, err);
    }
}

static void join_timer_fired(struct sp_timer *t);
static void kick_fired(struct sp_timer *t);
static void sync_timer_fired(struct sp_timer *t);

static void prepare_rebalance(struct sp_group_classic *gc, const char *why)
{
    if (state(gc) == SP_GROUP_COMPLETING_REBALANCE) {
        reset_assignments(gc, KERR_REBALANCE_IN_PROGRESS);
    }
    sp_rx_timer_cancel(&gc->sync_timer);
    for (struct member *m = gc->members; m != NULL; m = m->next) {
        m->sync_pending = false;
    }
    int32_t rebalance_ms = rebalance_timeout_ms(gc);
    int64_t delay_ms = cfg(SP_CFG_GROUP_INITIAL_REBALANCE_DELAY_MS);
    if (state(gc) == SP_GROUP_EMPTY && delay_ms > 0) {
        gc->join_initial = true;
        gc->new_member_added = false;
        gc->join_remaining_ms = rebalance_ms > delay_ms ? (int32_t)(rebalance_ms - delay_ms) : 0;
        timer_arm(&gc->join_timer, delay_ms, join_timer_fired);
    } else {
        gc->join_initial = false;
        timer_arm(&gc->join_timer, rebalance_ms, join_timer_fired);
    }
    sp_log_info("group %s: preparing to rebalance generation %d (%s)", gc->g->id, gc->generation,
                why);
    set_state(gc, SP_GROUP_PREPARING_REBALANCE);
    kick(gc);
}

static int16_t store_group(struct sp_group_classic *gc, enum store_kind kind, struct store **out);

/* The rebalance's join phase ends: Kafka's onCompleteJoin. */
static void complete_join(struct sp_group_classic *gc)
{
    sp_rx_timer_cancel(&gc->join_timer);
    sp_rx_timer_cancel(&gc->kick_timer);
    gc->join_initial = false;
    struct member *next;
    for (struct member *m = gc->members; m != NULL; m = next) {
        next = m->next;
        if (m->join == NULL && m->instance.ptr == NULL) {
            member_fail(gc, m, "did not rejoin within the rebalance timeout");
        }
    }
    if (gc->leader != NULL && gc->leader->join == NULL) {
        struct member *joined = gc->members;
        while (joined != NULL && joined->join == NULL) {
            joined = joined->next;
        }
        if (joined == NULL) {
            /* Only static members that have not rejoined: wait for them, or their expiry. */
            timer_arm(&gc->join_timer, rebalance_timeout_ms(gc), join_timer_fired);
            return;
        }
        gc->leader = joined;
    }
    gc->generation++;
    own_free(&gc->protocol);
    if (gc->count == 0) {
        gc->leader = NULL;
        set_state(gc, SP_GROUP_EMPTY);
        sp_log_info("group %s: generation %d is empty", gc->g->id, gc->generation);
        struct store *s;
        int16_t err = store_group(gc, STORE_EMPTY, &s);
        if (err != 0) {
            sp_log_warn("group %s: cannot store the empty group: %s", gc->g->id, kerr_name(err));
        }
        return;
    }
    const struct own *chosen = select_protocol(gc);
    if (chosen != NULL && own_set(&gc->protocol, chosen->ptr, chosen->len, true) != 0) {
        sp_log_error("group %s: out of memory choosing the protocol", gc->g->id);
    }
    set_state(gc, SP_GROUP_COMPLETING_REBALANCE);
    sp_log_info("group %s: generation %d with %u members, protocol %s", gc->g->id, gc->generation,
                gc->count, gc->protocol.ptr != NULL ? gc->protocol.ptr : "(none)");
    for (struct member *m = gc->members; m != NULL; m = m->next) {
        if (m->join != NULL) {
            struct sp_str leader;
            int rc = arena_str(m->join->arena, &gc->leader->id, &leader);
            if (rc != 0) {
                struct sp_fwd *f = m->join;
                join_release(gc, m);
                sp_fwd_done(f, rc);
            } else {
                join_answer(gc, m, leader, m == gc->leader, false);
            }
        }
        m->is_new = false;
        m->sync_pending = true;
        member_touch(m);
    }
    timer_arm(&gc->sync_timer, rebalance_timeout_ms(gc), sync_timer_fired);
}

static bool all_joined(const struct sp_group_classic *gc)
{
    return gc->awaiting_join == gc->count && gc->pending_count == 0;
}

/* Asks for the join to be completed on the next tick if everyone is in. */
static void kick(struct sp_group_classic *gc)
{
    if (state(gc) == SP_GROUP_PREPARING_REBALANCE && !gc->join_initial) {
        timer_arm(&gc->kick_timer, 0, kick_fired);
    }
}

static void kick_fired(struct sp_timer *t)
{
    struct sp_group_classic *gc = sp_container_of(t, struct sp_group_classic, kick_timer);
    if (state(gc) == SP_GROUP_PREPARING_REBALANCE && !gc->join_initial && all_joined(gc)) {
        complete_join(gc);
    }
}

static void join_timer_fired(struct sp_timer *t)
{
    struct sp_group_classic *gc = sp_container_of(t, struct sp_group_classic, join_timer);
    if (state(gc) != SP_GROUP_PREPARING_REBALANCE) {
        return;
    }
    if (gc->join_initial && gc->new_member_added && gc->join_remaining_ms > 0) {
        /* New members keep coming: wait once more, up to the rebalance timeout. */
        int64_t delay_ms = cfg(SP_CFG_GROUP_INITIAL_REBALANCE_DELAY_MS);
        if (delay_ms > gc->join_remaining_ms) {
            delay_ms = gc->join_remaining_ms;
        }
        gc->join_remaining_ms -= (int32_t)delay_ms;
        gc->new_member_added = false;
        timer_arm(&gc->join_timer, delay_ms, join_timer_fired);
        return;
    }
    complete_join(gc);
}

/* Members that did not SyncGroup within the rebalance timeout after the join go. */
static void sync_timer_fired(struct sp_timer *t)
{
    struct sp_group_classic *gc = sp_container_of(t, struct sp_group_classic, sync_timer);
    if (state(gc) != SP_GROUP_COMPLETING_REBALANCE && state(gc) != SP_GROUP_STABLE) {
        return;
    }
    bool removed = false;
    struct member *next;
    for (struct member *m = gc->members; m != NULL; m = next) {
        next = m->next;
        if (m->sync_pending && m->join == NULL && m->sync == NULL) {
            sp_log_info("group %s: member %s did not sync in time", gc->g->id, m->id.ptr);
            member_remove(gc, m);
            removed = true;
        }
    }
    if (removed) {
        prepare_rebalance(gc, "members did not sync within the rebalance timeout");
    }
}

/* ---- Pending members (KIP-394) ----------------------------------------------------- */

static struct pending *pending_find(const struct sp_group_classic *gc, struct sp_str id)
{
    for (struct pending *p = gc->pending; p != NULL; p = p->next) {
        if (own_eq(&p->id, id)) {
            return p;
        }
    }
    return NULL;
}

static void pending_remove(struct sp_group_classic *gc, struct pending *p)
{
    struct pending **pp = &gc->pending;
    while (*pp != p) {
        pp = &(*pp)->next;
    }
    *pp = p->next;
    gc->pending_count--;
    sp_rx_timer_cancel(&p->timer);
    own_free(&p->id);
    sp_mem_free(sp_rx_mem(), p, sizeof(*p));
}

static void pending_expired(struct sp_timer *t)
{
    struct pending *p = sp_container_of(t, struct pending, timer);
    struct sp_group_classic *gc = p->gc;
    pending_remove(gc, p);
    kick(gc);
}

/* ---- The group's records ------------------------------------------------------------- */

static void store_done(struct sp_group_write *w, int16_t err);

static int store_encode(struct sp_group_classic *gc, enum store_kind kind, struct sp_arena *a,
                        struct sp_group_rec *rec)
{
    struct kproto_group_metadata_key key = {.group = {gc->g->id, (int32_t)gc->g->id_len}};
    struct kproto_group_metadata_value v;
    kproto_group_metadata_value_init(&v);
    v.protocolType = gc->protocol_type.ptr != NULL ? own_view(&gc->protocol_type) : sp_str_make("");
    v.generation = gc->generation;
    v.protocol = own_view(&gc->protocol);
    v.leader = gc->leader != NULL ? own_view(&gc->leader->id) : (struct sp_str){NULL, 0};
    v.currentStateTimestamp = sp_group_now_ms();
    uint32_t n = kind == STORE_EMPTY ? 0 : gc->count;
    v.members = sp_arena_calloc(a, (size_t)n + 1, sizeof(*v.members));
    if (v.members == NULL) {
        return -ENOMEM;
    }
    uint32_t i = 0;
    for (const struct member *m = gc->members; m != NULL && i < n; m = m->next, i++) {
        struct kproto_group_metadata_value_member_metadata *o = &v.members[i];
        const struct own *meta = member_meta(m, &gc->protocol);
        o->memberId = own_view(&m->id);
        o->groupInstanceId = own_view(&m->instance);
        o->clientId = own_view(&m->client_id);
        o->clientHost = own_view(&m->client_host);
        o->rebalanceTimeout = m->rebalance_ms;
        o->sessionTimeout = m->session_ms;
        o->subscription = sp_slice_make(meta != NULL && meta->ptr != NULL ? meta->ptr : "",
                                        meta != NULL ? meta->len : 0);
        o->assignment =
            sp_slice_make(m->assignment.ptr != NULL ? m->assignment.ptr : "", m->assignment.len);
    }
    v.members_count = (int32_t)n;
    return sp_group_rec_encode(a, SP_GROUP_KEY_GROUP_METADATA, &key, GROUP_META_VALUE_VERSION, &v,
                               rec);
}

/* Stores the group as it is now; done runs later (store_done). 0 or a Kafka error. */
static int16_t store_group(struct sp_group_classic *gc, enum store_kind kind, struct store **out)
{
    *out = NULL;
    struct store *s = sp_mem_alloc(sp_rx_mem(), sizeof(*s));
    if (s == NULL) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    memset(s, 0, sizeof(*s));
    s->w.done = store_done;
    s->gc = gc;
    s->kind = kind;
    s->generation = gc->generation;
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, STORE_ARENA_LIMIT);
    sp_arena_set_budget(&a, sp_rx_mem());
    struct sp_group_rec rec;
    int16_t err = KERR_COORDINATOR_NOT_AVAILABLE;
    if (store_encode(gc, kind, &a, &rec) == 0) {
        err = sp_group_store(gc->g, &rec, 1, &s->w);
    }
    sp_arena_destroy(&a);
    if (err != 0) {
        sp_mem_free(sp_rx_mem(), s, sizeof(*s));
        return err;
    }
    s->next = gc->stores;
    gc->stores = s;
    *out = s;
    return 0;
}

/* The leader's assignment is durable (or not): answer the SyncGroups. */
static void sync_stored(struct sp_group_classic *gc, const struct store *s, int16_t err)
{
    if (state(gc) != SP_GROUP_COMPLETING_REBALANCE || s->generation != gc->generation) {
        return; /* the group moved on meanwhile */
    }
    if (err != 0) {
        sp_log_warn("group %s: cannot store generation %d: %s", gc->g->id, gc->generation,
                    kerr_name(err));
        reset_assignments(gc, err);
        maybe_prepare_rebalance(gc, "the assignment could not be stored");
        return;
    }
    set_state(gc, SP_GROUP_STABLE);
    for (struct member *m = gc->members; m != NULL; m = m->next) {
        sync_answer(gc, m, 0);
    }
}

static void static_stored(struct sp_group_classic *gc, struct store *s, int16_t err)
{
    struct member *m = s->member;
    if (m == NULL || m->store != s) {
        return;
    }
    m->store = NULL;
    if (m->join == NULL) {
        return; /* a rebalance answered it meanwhile */
    }
    if (err != 0) {
        join_answer_error(gc, m, err);
        return;
    }
    /*
     * The old leader id, so that a rejoined leader follows and gets its
     * assignment back; from v9 the leader is also told to skip the
     * assignment (and gets the members, as a leader does).
     */
    bool skip = gc->leader == m && m->join->call->version >= 9;
    join_answer(gc, m, s->leader, skip, skip);
}

static void store_done(struct sp_group_write *w, int16_t err)
{
    struct store *s = sp_container_of(w, struct store, w);
    struct sp_group_classic *gc = s->gc;
    if (gc != NULL) {
        struct store **pp = &gc->stores;
        while (*pp != s) {
            pp = &(*pp)->next;
        }
        *pp = s->next;
        if (s->kind == STORE_SYNC) {
            sync_stored(gc, s, err);
        } else if (s->kind == STORE_STATIC) {
            static_stored(gc, s, err);
        } else if (err != 0) {
            sp_log_warn("group %s: cannot store the empty group: %s", gc->g->id, kerr_name(err));
        }
    }
    sp_mem_free(sp_rx_mem(), s, sizeof(*s));
}

/* ---- The classic state of a group ----------------------------------------------------- */

static struct sp_group_classic *classic_get(struct sp_group *g)
{
    if (g->classic != NULL) {
        return g->classic;
    }
    struct sp_group_classic *gc = sp_mem_alloc(sp_rx_mem(), sizeof(*gc));
    if (gc == NULL) {
        return NULL;
    }
    memset(gc, 0, sizeof(*gc));
    gc->g = g;
    g->classic = gc;
    g->type = SP_GROUP_CLASSIC;
    return gc;
}

void sp_group_classic_free(struct sp_group *g, int16_t err)
{
    struct sp_group_classic *gc = g->classic;
    if (gc == NULL) {
        return;
    }
    while (gc->members != NULL) {
        struct member *m = gc->members;
        join_answer_error(gc, m, err);
        sync_answer(gc, m, err);
        member_remove(gc, m);
    }
    while (gc->pending != NULL) {
        pending_remove(gc, gc->pending);
    }
    for (struct store *s = gc->stores; s != NULL; s = s->next) {
        s->gc = NULL;
        s->member = NULL;
    }
    sp_rx_timer_cancel(&gc->join_timer);
    sp_rx_timer_cancel(&gc->kick_timer);
    sp_rx_timer_cancel(&gc->sync_timer);
    own_free(&gc->protocol_type);
    own_free(&gc->protocol);
    sp_mem_free(sp_rx_mem(), gc, sizeof(*gc));
    g->classic = NULL;
}

/* ---- JoinGroup ------------------------------------------------------------------------ */

/* Kafka's member ids: the client id, a dash, a random UUID. */
static int member_id_new(struct sp_str client_id, struct own *out)
{
    static _Thread_local uint64_t fallback;
    uint8_t u[16];
    if (getrandom(u, sizeof(u), GRND_NONBLOCK) != (ssize_t)sizeof(u)) {
        for (size_t i = 0; i < sizeof(u); i += 8) {
            uint64_t z = (fallback += 0x9e3779b97f4a7c15ull) ^ sp_rx_now_ns();
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            memcpy(u + i, &z, 8);
        }
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    char uuid[37];
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < sizeof(u); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            uuid[o++] = '-';
        }
        uuid[o++] = hex[u[i] >> 4];
        uuid[o++] = hex[u[i] & 15];
    }
    size_t cl = client_id.ptr != NULL ? (size_t)client_id.len : 0;
    if (cl > INT32_MAX - 64) {
        return -ENOMEM;
    }
    char *p = sp_mem_alloc(sp_rx_mem(), cl + 1 + 36 + 1);
    if (p == NULL) {
        return -ENOMEM;
    }
    if (cl > 0) {
        memcpy(p, client_id.ptr, cl);
    }
    p[cl] = '-';
    memcpy(p + cl + 1, uuid, 36);
    p[cl + 37] = '\0';
    out->ptr = p;
    out->len = (uint32_t)(cl + 37);
    return 0;
}

static int32_t join_rebalance_ms(const struct sp_fwd *f, const struct kproto_join_group_request *r)
{
    return f->call->version == 0 || r->RebalanceTimeoutMs < 0 ? r->SessionTimeoutMs
                                                              : r->RebalanceTimeoutMs;
}

/* Holds f as m's JoinGroup; an older one still held is answered first. */
static void join_hold(struct sp_group_classic *gc, struct member *m, struct sp_fwd *f)
{
    join_answer_error(gc, m, KERR_REBALANCE_IN_PROGRESS);
    m->join = f;
    gc->awaiting_join++;
}

/* Kafka's updateMember: new protocols and timeouts, and the join is held. 0 or -ENOMEM. */
static int member_update(struct sp_group_classic *gc, struct member *m, struct sp_fwd *f)
{
    const struct kproto_join_group_request *req = f->call->body;
    const struct classic_arg *arg = f->arg;
    struct proto *p;
    uint32_t n;
    struct own cid, host;
    if (protos_copy(req, &p, &n) != 0) {
        return -ENOMEM;
    }
    if (own_str(&cid, f->call->header->ClientId) != 0 || own_str(&host, arg->client_host) != 0) {
        own_free(&cid);
        protos_free(p, n);
        return -ENOMEM;
    }
    protos_free(m->protos, m->protos_count);
    m->protos = p;
    m->protos_count = n;
    own_free(&m->client_id);
    own_free(&m->client_host);
    m->client_id = cid;
    m->client_host = host;
    m->session_ms = req->SessionTimeoutMs;
    m->rebalance_ms = join_rebalance_ms(f, req);
    join_hold(gc, m, f);
    return 0;
}

static int join_error(struct sp_fwd *f, int16_t err, struct sp_str member_id)
{
    join_fill_error(f->call->resp, err, member_id);
    return 0;
}

/* Kafka's addMemberAndRebalance. id is taken. */
static int add_member(struct sp_fwd *f, struct sp_group_classic *gc, struct own *id)
{
    const struct kproto_join_group_request *req = f->call->body;
    struct member *m = NULL;
    if (gc->count >= GROUP_MEMBERS_MAX || (m = sp_mem_alloc(sp_rx_mem(), sizeof(*m))) == NULL) {
        own_free(id);
        return join_error(f,
                          m == NULL && gc->count < GROUP_MEMBERS_MAX
                              ? KERR_COORDINATOR_NOT_AVAILABLE
                              : KERR_GROUP_MAX_SIZE_REACHED,
                          sp_str_make(""));
    }
    memset(m, 0, sizeof(*m));
    m->gc = gc;
    m->id = *id;
    struct own type = {NULL, 0};
    if (own_str(&m->instance, req->GroupInstanceId) != 0 ||
        own_str(&type, req->ProtocolType) != 0 || member_update(gc, m, f) != 0) {
        own_free(&type);
        member_free(m);
        return join_error(f, KERR_COORDINATOR_NOT_AVAILABLE, sp_str_make(""));
    }
    if (gc->count == 0) {
        /* The first member sets the group's protocol type. */
        own_free(&gc->protocol_type);
        gc->protocol_type = type;
    } else {
        own_free(&type);
    }
    m->is_new = true;
    if (state(gc) == SP_GROUP_PREPARING_REBALANCE && gc->generation == 0) {
        gc->new_member_added = true;
    }
    struct member **pp = &gc->members;
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = m;
    gc->count++;
    if (gc->leader == NULL) {
        gc->leader = m;
    }
    member_touch(m);
    maybe_prepare_rebalance(gc, "a member joins");
    return SP_API_PENDING;
}

/* A static member comes back with a new member id (Kafka's updateStaticMemberAndRebalance). */
static int static_rejoin(struct sp_fwd *f, struct sp_group_classic *gc, struct member *m,
                         struct own *new_id)
{
    struct sp_str leader_before = sp_str_make("");
    if (gc->leader != NULL && arena_str(f->arena, &gc->leader->id, &leader_before) != 0) {
        own_free(new_id);
        return -ENOMEM;
    }
    /* The old instance, should it still be there, is fenced; a store for it answers no one. */
    if (m->store != NULL) {
        m->store->member = NULL;
        m->store = NULL;
    }
    join_answer_error(gc, m, KERR_FENCED_INSTANCE_ID);
    sync_answer(gc, m, KERR_FENCED_INSTANCE_ID);
    sp_log_info("group %s: static member %s comes back as %s", gc->g->id, m->instance.ptr,
                new_id->ptr);
    own_free(&m->id);
    m->id = *new_id;
    if (member_update(gc, m, f) != 0) {
        return join_error(f, KERR_COORDINATOR_NOT_AVAILABLE, sp_str_make(""));
    }
    member_touch(m);
    switch (state(gc)) {
    case SP_GROUP_STABLE: {
        const struct own *next = select_protocol(gc);
        if (next == NULL || !own_eq(&gc->protocol, own_view(next))) {
            prepare_rebalance(gc, "a static member rejoins with other protocols");
            return SP_API_PENDING;
        }
        struct store *s;
        int16_t err = store_group(gc, STORE_STATIC, &s);
        if (err != 0) {
            join_release(gc, m);
            return join_error(f, err, sp_str_make(""));
        }
        s->member = m;
        s->leader = leader_before;
        m->store = s;
        return SP_API_PENDING;
    }
    case SP_GROUP_COMPLETING_REBALANCE:
        prepare_rebalance(gc, "a static member rejoins during the sync");
        return SP_API_PENDING;
    case SP_GROUP_PREPARING_REBALANCE:
        return SP_API_PENDING;
    default:
        maybe_prepare_rebalance(gc, "a static member rejoins");
        return SP_API_PENDING;
    }
}

static int join_new_member(struct sp_fwd *f, struct sp_group_classic *gc)
{
    const struct kproto_join_group_request *req = f->call->body;
    struct own id;
    if (!supports_protocols(gc, req)) {
        return join_error(f, KERR_INCONSISTENT_GROUP_PROTOCOL, req->MemberId);
    }
    if (member_id_new(f->call->header->ClientId, &id) != 0) {
        return join_error(f, KERR_COORDINATOR_NOT_AVAILABLE, req->MemberId);
    }
    if (req->GroupInstanceId.ptr != NULL) {
        struct member *m = static_find(gc, req->GroupInstanceId);
        return m != NULL ? static_rejoin(f, gc, m, &id) : add_member(f, gc, &id);
    }
    if (f->call->version < 4) {
        return add_member(f, gc, &id);
    }
    /* KIP-394: the client must come back with this id; until then it is pending. */
    struct pending *p = NULL;
    if (gc->pending_count >= GROUP_PENDING_MAX ||
        (p = sp_mem_alloc(sp_rx_mem(), sizeof(*p))) == NULL) {
        own_free(&id);
        return join_error(f, KERR_GROUP_MAX_SIZE_REACHED, req->MemberId);
    }
    memset(p, 0, sizeof(*p));
    p->gc = gc;
    p->id = id;
    p->next = gc->pending;
    gc->pending = p;
    gc->pending_count++;
    timer_arm(&p->timer, req->SessionTimeoutMs, pending_expired);
    struct sp_str out;
    int rc = arena_str(f->arena, &p->id, &out);
    join_error(f, KERR_MEMBER_ID_REQUIRED, out);
    return rc;
}

static int join_known_member(struct sp_fwd *f, struct sp_group_classic *gc)
{
    const struct kproto_join_group_request *req = f->call->body;
    if (!supports_protocols(gc, req)) {
        return join_error(f, KERR_INCONSISTENT_GROUP_PROTOCOL, req->MemberId);
    }
    struct pending *p = pending_find(gc, req->MemberId);
    if (p != NULL) {
        struct own id = p->id;
        p->id = (struct own){NULL, 0};
        pending_remove(gc, p);
        return add_member(f, gc, &id);
    }
    if (static_fenced(gc, req->GroupInstanceId, req->MemberId)) {
        return join_error(f, KERR_FENCED_INSTANCE_ID, req->MemberId);
    }
    struct member *m = member_find(gc, req->MemberId);
    if (m == NULL ||
        (req->GroupInstanceId.ptr != NULL && static_find(gc, req->GroupInstanceId) == NULL)) {
        return join_error(f, KERR_UNKNOWN_MEMBER_ID, req->MemberId);
    }
    bool same = protos_match(m, req);
    switch (state(gc)) {
    case SP_GROUP_PREPARING_REBALANCE:
        return member_update(gc, m, f) != 0 ? -ENOMEM : SP_API_PENDING;
    case SP_GROUP_COMPLETING_REBALANCE:
    case SP_GROUP_STABLE:
        if (same && (state(gc) == SP_GROUP_COMPLETING_REBALANCE || m != gc->leader)) {
            /* Nothing changed (a lost answer, or a follower): the current generation. */
            struct sp_str leader;
            int rc = arena_str(f->arena, &gc->leader->id, &leader);
            bool leads = m == gc->leader && state(gc) == SP_GROUP_COMPLETING_REBALANCE;
            return rc != 0 ? rc : join_fill(f, gc, m, leader, leads, false);
        }
        if (member_update(gc, m, f) != 0) {
            return -ENOMEM;
        }
        prepare_rebalance(gc, same ? "the leader rejoins" : "a member's metadata changed");
        return SP_API_PENDING;
    default:
        return join_error(f, KERR_UNKNOWN_MEMBER_ID, req->MemberId);
    }
}

/* Kafka's acceptJoiningMember: group.max.size. */
static bool join_accepted(const struct sp_group_classic *gc, const struct member *m)
{
    uint32_t max = group_max_size();
    switch (state(gc)) {
    case SP_GROUP_PREPARING_REBALANCE:
        return (m != NULL && m->join != NULL) || gc->awaiting_join < max;
    case SP_GROUP_COMPLETING_REBALANCE:
    case SP_GROUP_STABLE:
        return m != NULL || gc->count < max;
    default:
        return true;
    }
}

static int join_on_coordinator(struct sp_fwd *f)
{
    const struct kproto_join_group_request *req = f->call->body;
    if (req->SessionTimeoutMs < cfg(SP_CFG_GROUP_MIN_SESSION_TIMEOUT_MS) ||
        req->SessionTimeoutMs > cfg(SP_CFG_GROUP_MAX_SESSION_TIMEOUT_MS)) {
        return join_error(f, KERR_INVALID_SESSION_TIMEOUT, req->MemberId);
    }
    bool unknown = req->MemberId.len == 0;
    struct sp_group *g;
    int16_t err = sp_group_lookup(req->GroupId, unknown, &g);
    if (err != 0 || g == NULL) {
        return join_error(f, err != 0 ? err : KERR_UNKNOWN_MEMBER_ID, req->MemberId);
    }
    if (g->type == SP_GROUP_CONSUMER) {
        return join_error(f, KERR_INCONSISTENT_GROUP_PROTOCOL, req->MemberId);
    }
    struct sp_group_classic *gc = classic_get(g);
    if (gc == NULL) {
        return join_error(f, KERR_COORDINATOR_NOT_AVAILABLE, req->MemberId);
    }
    struct member *m = unknown ? NULL : member_find(gc, req->MemberId);
    if (!join_accepted(gc, m)) {
        if (m != NULL) {
            member_fail(gc, m, "the group is full");
        }
        return join_error(f, KERR_GROUP_MAX_SIZE_REACHED, sp_str_make(""));
    }
    int rc = unknown ? join_new_member(f, gc) : join_known_member(f, gc);
    kick(gc);
    return rc;
}

/* ---- Handlers (the connection's shard) ---------------------------------------------------- */

/* Where the group's coordinator is, or the error to answer with now. */
static int16_t classic_route(struct sp_api_call *call, struct sp_str group_id, uint16_t *shard)
{
    if (call->error != 0) {
        return call->error;
    }
    if (call->body == NULL) {
        return KERR_INVALID_REQUEST;
    }
    if (group_id.ptr == NULL || group_id.len == 0) {
        return KERR_INVALID_GROUP_ID;
    }
    int32_t part;
    return sp_group_route(group_id, shard, &part);
}

/* "/host" of the peer, as Kafka writes a client's host. */
static struct sp_str client_host(struct sp_api_call *call)
{
    const char *peer = sp_net_conn_peer(call->conn);
    if (peer == NULL) {
        return sp_str_make("");
    }
    const char *colon = strrchr(peer, ':');
    size_t n = colon != NULL ? (size_t)(colon - peer) : strlen(peer);
    char *p = sp_arena_alloc(call->arena, n + 2);
    if (p == NULL) {
        return sp_str_make("");
    }
    p[0] = '/';
    memcpy(p + 1, peer, n);
    p[n + 1] = '\0';
    return (struct sp_str){p, (int32_t)n + 1};
}

int sp_api_join_group(struct sp_api_call *call)
{
    const struct kproto_join_group_request *req = call->body;
    uint16_t shard = 0;
    int16_t err = classic_route(call, req != NULL ? req->GroupId : sp_str_make(""), &shard);
    if (err != 0) {
        join_fill_error(call->resp, err, req != NULL ? req->MemberId : sp_str_make(""));
        return 0;
    }
    struct classic_arg *arg = sp_arena_calloc(call->arena, 1, sizeof(*arg));
    if (arg == NULL) {
        return -ENOMEM;
    }
    arg->client_host = client_host(call);
    return sp_api_forward(call, shard, join_on_coordinator, NULL, arg, 0);
}

/* ---- SyncGroup ------------------------------------------------------------------------- */

static int sync_error(struct sp_fwd *f, int16_t err)
{
    return sync_fill(f, NULL, NULL, err);
}

/* The leader's assignment: each member's, empty for members it left out. */
static int sync_take_assignment(struct sp_group_classic *gc,
                                const struct kproto_sync_group_request *req)
{
    for (struct member *m = gc->members; m != NULL; m = m->next) {
        own_free(&m->assignment);
    }
    for (int32_t i = 0; i < req->Assignments_count; i++) {
        struct member *m = member_find(gc, req->Assignments[i].MemberId);
        if (m != NULL) {
            own_free(&m->assignment);
            if (own_bytes(&m->assignment, req->Assignments[i].Assignment) != 0) {
                return -ENOMEM;
            }
        }
    }
    return 0;
}

static bool sync_storing(const struct sp_group_classic *gc)
{
    for (const struct store *s = gc->stores; s != NULL; s = s->next) {
        if (s->kind == STORE_SYNC && s->generation == gc->generation) {
            return true;
        }
    }
    return false;
}

static int sync_completing(struct sp_fwd *f, struct sp_group_classic *gc, struct member *m)
{
    const struct kproto_sync_group_request *req = f->call->body;
    sync_answer(gc, m, KERR_REBALANCE_IN_PROGRESS);
    m->sync = f;
    m->sync_pending = false;
    if (m != gc->leader || sync_storing(gc)) {
        return SP_API_PENDING;
    }
    struct store *s;
    int16_t err = KERR_COORDINATOR_NOT_AVAILABLE;
    if (sync_take_assignment(gc, req) == 0) {
        err = store_group(gc, STORE_SYNC, &s);
    }
    if (err == 0) {
        return SP_API_PENDING;
    }
    m->sync = NULL;
    reset_assignments(gc, err);
    maybe_prepare_rebalance(gc, "the assignment could not be stored");
    return sync_error(f, err);
}

static int sync_on_coordinator(struct sp_fwd *f)
{
    const struct kproto_sync_group_request *req = f->call->body;
    struct sp_group *g;
    int16_t err = sp_group_lookup(req->GroupId, false, &g);
    if (err != 0) {
        return sync_error(f, err);
    }
    struct sp_group_classic *gc = g != NULL && g->type == SP_GROUP_CLASSIC ? g->classic : NULL;
    if (gc == NULL) {
        return sync_error(f, KERR_UNKNOWN_MEMBER_ID);
    }
    if (static_fenced(gc, req->GroupInstanceId, req->MemberId)) {
        return sync_error(f, KERR_FENCED_INSTANCE_ID);
    }
    struct member *m = member_find(gc, req->MemberId);
    if (m == NULL) {
        return sync_error(f, KERR_UNKNOWN_MEMBER_ID);
    }
    if (req->GenerationId != gc->generation) {
        return sync_error(f, KERR_ILLEGAL_GENERATION);
    }
    if ((req->ProtocolType.ptr != NULL && !own_eq(&gc->protocol_type, req->ProtocolType)) ||
        (req->ProtocolName.ptr != NULL && !own_eq(&gc->protocol, req->ProtocolName))) {
        return sync_error(f, KERR_INCONSISTENT_GROUP_PROTOCOL);
    }
    switch (state(gc)) {
    case SP_GROUP_PREPARING_REBALANCE:
        return sync_error(f, KERR_REBALANCE_IN_PROGRESS);
    case SP_GROUP_COMPLETING_REBALANCE:
        return sync_completing(f, gc, m);
    case SP_GROUP_STABLE:
        m->sync_pending = false;
        member_touch(m);
        return sync_fill(f, gc, m, 0);
    default:
        return sync_error(f, KERR_UNKNOWN_MEMBER_ID);
    }
}

int sp_api_sync_group(struct sp_api_call *call)
{
    const struct kproto_sync_group_request *req = call->body;
    uint16_t shard = 0;
    int16_t err = classic_route(call, req != NULL ? req->GroupId : sp_str_make(""), &shard);
    if (err != 0) {
        struct kproto_sync_group_response *r = call->resp;
        r->ErrorCode = err;
        r->ProtocolType = (struct sp_str){NULL, 0};
        r->ProtocolName = (struct sp_str){NULL, 0};
        r->Assignment = sp_slice_make("", 0);
        return 0;
    }
    return sp_api_forward(call, shard, sync_on_coordinator, NULL, NULL, 0);
}

/* ---- Heartbeat --------------------------------------------------------------------------- */

static int16_t heartbeat(const struct kproto_heartbeat_request *req)
{
    struct sp_group *g;
    int16_t err = sp_group_lookup(req->GroupId, false, &g);
    if (err != 0) {
        return err;
    }
    struct sp_group_classic *gc = g != NULL && g->type == SP_GROUP_CLASSIC ? g->classic : NULL;
    if (gc == NULL) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    if (static_fenced(gc, req->GroupInstanceId, req->MemberId)) {
        return KERR_FENCED_INSTANCE_ID;
    }
    struct member *m = member_find(gc, req->MemberId);
    if (m == NULL) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    if (req->GenerationId != gc->generation) {
        return KERR_ILLEGAL_GENERATION;
    }
    switch (state(gc)) {
    case SP_GROUP_PREPARING_REBALANCE:
        member_touch(m);
        return KERR_REBALANCE_IN_PROGRESS;
    case SP_GROUP_COMPLETING_REBALANCE:
    case SP_GROUP_STABLE:
        member_touch(m);
        return 0;
    default:
        return KERR_UNKNOWN_MEMBER_ID;
    }
}

static int heartbeat_on_coordinator(struct sp_fwd *f)
{
    struct kproto_heartbeat_response *r = f->call->resp;
    r->ErrorCode = heartbeat(f->call->body);
    return 0;
}

int sp_api_heartbeat(struct sp_api_call *call)
{
    const struct kproto_heartbeat_request *req = call->body;
    uint16_t shard = 0;
    int16_t err = classic_route(call, req != NULL ? req->GroupId : sp_str_make(""), &shard);
    if (err != 0) {
        ((struct kproto_heartbeat_response *)call->resp)->ErrorCode = err;
        return 0;
    }
    return sp_api_forward(call, shard, heartbeat_on_coordinator, NULL, NULL, 0);
}

/* ---- LeaveGroup -------------------------------------------------------------------------- */

static int16_t leave_one(struct sp_group_classic *gc, struct sp_str member_id,
                         struct sp_str instance)
{
    if (gc == NULL) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    if (member_id.len == 0) {
        /* Removal by instance id alone (an admin's, or a static member's). */
        struct member *m = static_find(gc, instance);
        if (m == NULL) {
            return KERR_UNKNOWN_MEMBER_ID;
        }
        member_fail(gc, m, "left the group");
        return 0;
    }
    struct pending *p = pending_find(gc, member_id);
    if (p != NULL) {
        pending_remove(gc, p);
        kick(gc);
        return 0;
    }
    if (static_fenced(gc, instance, member_id)) {
        return KERR_FENCED_INSTANCE_ID;
    }
    struct member *m = member_find(gc, member_id);
    if (m == NULL) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    member_fail(gc, m, "left the group");
    return 0;
}

static int leave_on_coordinator(struct sp_fwd *f)
{
    const struct kproto_leave_group_request *req = f->call->body;
    struct kproto_leave_group_response *r = f->call->resp;
    struct sp_group *g;
    int16_t err = sp_group_lookup(req->GroupId, false, &g);
    if (err != 0) {
        r->ErrorCode = err;
        return 0;
    }
    struct sp_group_classic *gc = g != NULL && g->type == SP_GROUP_CLASSIC ? g->classic : NULL;
    if (f->call->version < 3) {
        r->ErrorCode = leave_one(gc, req->MemberId, (struct sp_str){NULL, 0});
        return 0;
    }
    int32_t n = req->Members_count;
    struct kproto_leave_group_response_member_response *out =
        sp_arena_calloc(f->arena, (size_t)n + 1, sizeof(*out));
    if (out == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        const struct kproto_leave_group_request_member_identity *id = &req->Members[i];
        out[i].MemberId = id->MemberId;
        out[i].GroupInstanceId = id->GroupInstanceId;
        out[i].ErrorCode = leave_one(gc, id->MemberId, id->GroupInstanceId);
    }
    r->ErrorCode = 0;
    r->Members = out;
    r->Members_count = n;
    return 0;
}

int sp_api_leave_group(struct sp_api_call *call)
{
    const struct kproto_leave_group_request *req = call->body;
    uint16_t shard = 0;
    int16_t err = classic_route(call, req != NULL ? req->GroupId : sp_str_make(""), &shard);
    if (err != 0) {
        ((struct kproto_leave_group_response *)call->resp)->ErrorCode = err;
        return 0;
    }
    return sp_api_forward(call, shard, leave_on_coordinator, NULL, NULL, 0);
}

/* ---- Hooks for group.c, the offsets and the admin APIs -------------------------------------- */

static int replay_member(struct sp_group_classic *gc, const struct own *protocol,
                         const struct kproto_group_metadata_value_member_metadata *v)
{
    struct member *m = sp_mem_alloc(sp_rx_mem(), sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    memset(m, 0, sizeof(*m));
    m->gc = gc;
    m->session_ms = v->sessionTimeout;
    m->rebalance_ms = v->rebalanceTimeout >= 0 ? v->rebalanceTimeout : v->sessionTimeout;
    int rc = own_str(&m->id, v->memberId);
    rc = rc != 0 ? rc : own_str(&m->instance, v->groupInstanceId);
    rc = rc != 0 ? rc : own_str(&m->client_id, v->clientId);
    rc = rc != 0 ? rc : own_str(&m->client_host, v->clientHost);
    rc = rc != 0 ? rc : own_bytes(&m->assignment, v->assignment);
    if (rc == 0 && protocol->ptr != NULL) {
        m->protos = sp_mem_alloc(sp_rx_mem(), sizeof(*m->protos));
        rc = m->protos == NULL ? -ENOMEM : 0;
        if (rc == 0) {
            memset(m->protos, 0, sizeof(*m->protos));
            m->protos_count = 1;
            rc = own_set(&m->protos[0].name, protocol->ptr, protocol->len, true);
            rc = rc != 0 ? rc : own_bytes(&m->protos[0].meta, v->subscription);
        }
    }
    if (rc != 0) {
        member_free(m);
        return rc;
    }
    struct member **pp = &gc->members;
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = m;
    gc->count++;
    return 0;
}

void sp_group_classic_replay(struct sp_group *g, const void *group_metadata_value)
{
    const struct kproto_group_metadata_value *v = group_metadata_value;
    sp_group_classic_free(g, KERR_NOT_COORDINATOR);
    g->state = SP_GROUP_EMPTY;
    g->state_since_ms = sp_group_now_ms();
    if (v == NULL) {
        return;
    }
    struct sp_group_classic *gc = classic_get(g);
    if (gc == NULL) {
        sp_log_error("group %s: out of memory replaying its metadata", g->id);
        return;
    }
    gc->generation = v->generation;
    int rc = own_str(&gc->protocol_type, v->protocolType);
    rc = rc != 0 ? rc : own_str(&gc->protocol, v->protocol);
    for (int32_t i = 0; i < v->members_count && rc == 0; i++) {
        rc = replay_member(gc, &gc->protocol, &v->members[i]);
    }
    if (rc != 0) {
        sp_log_error("group %s: out of memory replaying its members", g->id);
    }
    gc->leader = v->leader.ptr != NULL ? member_find(gc, v->leader) : NULL;
    if (gc->leader == NULL) {
        gc->leader = gc->members;
    }
    g->state = gc->count > 0 ? SP_GROUP_STABLE : SP_GROUP_EMPTY;
    if (v->currentStateTimestamp >= 0) {
        g->state_since_ms = v->currentStateTimestamp;
    }
}

void sp_group_classic_loaded(struct sp_group *g)
{
    if (g->classic == NULL) {
        return;
    }
    /* Members from the log get a fresh session: they heartbeat on, or expire. */
    for (struct member *m = g->classic->members; m != NULL; m = m->next) {
        member_touch(m);
    }
}

int16_t sp_group_classic_commit_check(struct sp_group *g, struct sp_str member_id,
                                      struct sp_str instance_id, int32_t generation)
{
    struct sp_group_classic *gc = g->classic;
    if (gc == NULL) {
        return generation < 0 ? 0 : KERR_UNKNOWN_MEMBER_ID;
    }
    if (static_fenced(gc, instance_id, member_id)) {
        return KERR_FENCED_INSTANCE_ID;
    }
    if (generation < 0 && state(gc) == SP_GROUP_EMPTY) {
        return 0; /* the group only keeps offsets */
    }
    if (state(gc) == SP_GROUP_COMPLETING_REBALANCE) {
        return KERR_REBALANCE_IN_PROGRESS;
    }
    struct member *m = member_find(gc, member_id);
    if (m == NULL) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    if (generation != gc->generation) {
        return KERR_ILLEGAL_GENERATION;
    }
    member_touch(m);
    return 0;
}

/* Whether a ConsumerProtocolSubscription names topic (int16 version, [string] topics, ...). */
static bool subscription_has(const struct own *meta, struct sp_str topic)
{
    const uint8_t *p = (const uint8_t *)meta->ptr;
    size_t len = meta->len;
    if (p == NULL || len < 6) {
        return false;
    }
    int32_t n = (int32_t)((uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5]);
    size_t off = 6;
    for (int32_t i = 0; i < n; i++) {
        if (off + 2 > len) {
            return false;
        }
        int16_t sl = (int16_t)(p[off] << 8 | p[off + 1]);
        off += 2;
        if (sl < 0 || off + (size_t)sl > len) {
            return false;
        }
        if (sl == topic.len && memcmp(p + off, topic.ptr, (size_t)sl) == 0) {
            return true;
        }
        off += (size_t)sl;
    }
    return false;
}

bool sp_group_classic_subscribed(const struct sp_group *g, struct sp_str topic)
{
    const struct sp_group_classic *gc = g->classic;
    if (gc == NULL || gc->protocol.ptr == NULL ||
        !own_eq(&gc->protocol_type, sp_str_make("consumer"))) {
        return false;
    }
    for (const struct member *m = gc->members; m != NULL; m = m->next) {
        const struct own *meta = member_meta(m, &gc->protocol);
        if (meta != NULL && subscription_has(meta, topic)) {
            return true;
        }
    }
    return false;
}

uint32_t sp_group_classic_members(const struct sp_group *g)
{
    return g->classic != NULL ? g->classic->count : 0;
}

int sp_group_classic_describe(const struct sp_group *g, struct sp_arena *a, void *described)
{
    struct kproto_describe_groups_response_described_group *d = described;
    const struct sp_group_classic *gc = g->classic;
    d->GroupState = sp_str_make(sp_group_state_name(g->state));
    d->ProtocolType = sp_str_make("");
    d->ProtocolData = sp_str_make("");
    d->Members = NULL;
    d->Members_count = 0;
    if (gc == NULL) {
        return 0;
    }
    bool stable = g->state == SP_GROUP_STABLE;
    int rc = gc->protocol_type.ptr != NULL ? arena_str(a, &gc->protocol_type, &d->ProtocolType) : 0;
    if (rc == 0 && stable && gc->protocol.ptr != NULL) {
        rc = arena_str(a, &gc->protocol, &d->ProtocolData);
    }
    struct kproto_describe_groups_response_described_group_member *out =
        sp_arena_calloc(a, (size_t)gc->count + 1, sizeof(*out));
    if (rc != 0 || out == NULL) {
        return -ENOMEM;
    }
    int32_t i = 0;
    struct own none = {NULL, 0};
    for (const struct member *m = gc->members; m != NULL && rc == 0; m = m->next, i++) {
        const struct own *meta = stable ? member_meta(m, &gc->protocol) : NULL;
        rc = arena_str(a, &m->id, &out[i].MemberId);
        rc = rc != 0 ? rc : arena_str(a, &m->instance, &out[i].GroupInstanceId);
        rc = rc != 0 ? rc : arena_str(a, &m->client_id, &out[i].ClientId);
        rc = rc != 0 ? rc : arena_str(a, &m->client_host, &out[i].ClientHost);
        rc = rc != 0 ? rc : arena_bytes(a, meta != NULL ? meta : &none, &out[i].MemberMetadata);
        rc = rc != 0 ? rc
                     : arena_bytes(a, stable ? &m->assignment : &none, &out[i].MemberAssignment);
        if (out[i].ClientId.ptr == NULL) {
            out[i].ClientId = sp_str_make("");
        }
        if (out[i].ClientHost.ptr == NULL) {
            out[i].ClientHost = sp_str_make("");
        }
    }
    d->Members = out;
    d->Members_count = i;
    return rc;
}
