/*
 * cluster/api_groups.c: FindCoordinator, DescribeGroups, ListGroups and
 * DeleteGroups (cluster/group.h).
 *
 * FindCoordinator is answered on the connection's shard: this broker is
 * every group's coordinator once __consumer_offsets exists (routing says
 * so), as the listener the request came in on advertises it.
 *
 * DescribeGroups and DeleteGroups route each named group on the
 * connection's shard, then lend the request once to each coordinator
 * shard that owns at least one of them, all at once; every forward works
 * through its own groups and writes only their entries:
 *
 *   connection's shard                       coordinator shards
 *   route every group -> shard[i]
 *   forward to each distinct shard  ----->   groups with shard[i] == here:
 *                                            describe (or delete, one after
 *                                            another as each store is done)
 *   batch_then: the last one back   <-----
 *   ends the call
 *
 * ListGroups lends the request to every shard at once; each lists its own
 * groups into its forward's arena, and the last to come back assembles the
 * answer from those pieces in the request's arena. The entries keep
 * pointing into the forwards' arenas, which live until the answer has been
 * encoded.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/forward.h"
#include "cluster/group.h"
#include "core/rx.h"
#include "net/listener.h"
#include "protocol/gen/kerr.h"

typedef struct kproto_describe_groups_response_described_group dg_group;
typedef struct kproto_list_groups_response_listed_group lg_group;
typedef struct kproto_delete_groups_response_deletable_group_result del_result;

/* FindCoordinator's key types. */
#define KEY_TYPE_GROUP       0
#define KEY_TYPE_TRANSACTION 1

/*
 * A group's authorized operations when asked for and nothing restricts
 * them (no authorizer): READ (3), DELETE (6) and DESCRIBE (8), the
 * operations Kafka defines on a group.
 */
#define GROUP_OPERATIONS_ALL ((1 << 3) | (1 << 6) | (1 << 8))
/* AuthorizedOperations when not asked for. */
#define OPERATIONS_OMITTED INT32_MIN

/* A group answered on the connection's shard (its routing failed). */
#define SHARD_NONE UINT16_MAX

/* What one ListGroups forward may spend describing a group for its protocol type. */
#define LG_SCRATCH_LIMIT (4u << 20)

/* ---- FindCoordinator ---------------------------------------------------------- */

struct fc_answer {
    int16_t error;
    int32_t node_id;
    struct sp_str host;
    int32_t port;
};

static struct fc_answer fc_find(const struct sp_api_call *call, int8_t key_type, struct sp_str key)
{
    struct fc_answer a = {.error = 0, .node_id = -1, .host = sp_str_make(""), .port = -1};
    if (key_type == KEY_TYPE_TRANSACTION) {
        /* No transaction coordinator on this broker: clients retry or give up. */
        a.error = KERR_COORDINATOR_NOT_AVAILABLE;
        return a;
    }
    uint16_t shard;
    int32_t part;
    a.error = sp_group_route(key, &shard, &part);
    if (a.error != 0) {
        return a;
    }
    const struct sp_dispatch_params *p = call->params;
    const struct sp_listener_addr *adv = &p->advertised->addr[call->listener];
    a.node_id = p->node_id;
    a.host = sp_str_make(adv->host);
    a.port = adv->port;
    return a;
}

int sp_api_find_coordinator(struct sp_api_call *call)
{
    const struct kproto_find_coordinator_request *req = call->body;
    struct kproto_find_coordinator_response *resp = call->resp;
    int16_t error = call->error;
    if (error == 0 && req == NULL) {
        error = KERR_INVALID_REQUEST;
    }
    /* An unknown key type fails the whole request, as Kafka's does. */
    if (error == 0 && req->KeyType != KEY_TYPE_GROUP && req->KeyType != KEY_TYPE_TRANSACTION) {
        error = KERR_INVALID_REQUEST;
    }
    if (call->version < 4) {
        struct fc_answer a = {.error = error, .node_id = -1, .host = sp_str_make(""), .port = -1};
        if (error == 0) {
            a = fc_find(call, req->KeyType, req->Key);
        }
        resp->ErrorCode = a.error;
        resp->ErrorMessage = sp_str_make(a.error != 0 ? kerr_name(a.error) : NULL);
        resp->NodeId = a.node_id;
        resp->Host = a.host;
        resp->Port = a.port;
        return 0;
    }
    int32_t n = req != NULL ? req->CoordinatorKeys_count : 0;
    if (n <= 0) {
        return 0;
    }
    struct kproto_find_coordinator_response_coordinator *c =
        sp_arena_calloc(call->arena, (size_t)n, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        struct fc_answer a = {.error = error, .node_id = -1, .host = sp_str_make(""), .port = -1};
        if (error == 0) {
            a = fc_find(call, req->KeyType, req->CoordinatorKeys[i]);
        }
        c[i].Key = req->CoordinatorKeys[i];
        c[i].NodeId = a.node_id;
        c[i].Host = a.host;
        c[i].Port = a.port;
        c[i].ErrorCode = a.error;
        c[i].ErrorMessage = sp_str_make(a.error != 0 ? kerr_name(a.error) : NULL);
    }
    resp->Coordinators = c;
    resp->Coordinators_count = n;
    return 0;
}

/* ---- Groups spread over their coordinators ------------------------------------ */

/*
 * One DescribeGroups or DeleteGroups request's groups: where each lives
 * and how many forwards are still out. In the request's arena; a forward
 * reads it and writes only the entries of its own groups.
 */
struct grp_batch {
    struct sp_api_call *call;
    const struct sp_str *ids; /* [n], the request's */
    int32_t n;
    uint16_t *shard;         /* [n]: each group's coordinator, or SHARD_NONE */
    int16_t *result;         /* [n]: DeleteGroups' answers */
    struct sp_fwd_join join; /* a forward per coordinator */
};

static struct grp_batch *batch_new(struct sp_api_call *call, const struct sp_str *ids, int32_t n)
{
    struct grp_batch *b = sp_arena_calloc(call->arena, 1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    b->call = call;
    b->ids = ids;
    b->n = n;
    b->shard = sp_arena_calloc(call->arena, (size_t)n + 1, sizeof(*b->shard));
    b->result = sp_arena_calloc(call->arena, (size_t)n + 1, sizeof(*b->result));
    if (b->shard == NULL || b->result == NULL) {
        return NULL;
    }
    for (int32_t i = 0; i < n; i++) {
        b->shard[i] = SHARD_NONE;
    }
    return b;
}

/* Routes group i: its shard, or its error in *err. */
static void batch_route(struct grp_batch *b, int32_t i, int16_t *err)
{
    uint16_t shard;
    int32_t part;
    *err = sp_group_route(b->ids[i], &shard, &part);
    if (*err == 0) {
        SP_ASSERT(shard < sp_rx_shard_count());
        b->shard[i] = shard;
    }
}

static int batch_then(struct sp_fwd *f, int rc)
{
    struct grp_batch *b = f->arg;
    return sp_fwd_join_back(&b->join, rc) ? b->join.rc : SP_API_PENDING;
}

/*
 * Lends the call once to every shard that owns one of b's routed groups.
 * Returns as a handler does: SP_API_PENDING while forwards are out, else
 * 0 (nothing to forward) or -ENOMEM.
 */
static int batch_forward(struct grp_batch *b, sp_fwd_fn fn, sp_fwd_then then)
{
    struct sp_api_call *call = b->call;
    uint32_t shards = sp_rx_shard_count();
    bool *seen = sp_arena_calloc(call->arena, shards, sizeof(*seen));
    if (seen == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < b->n; i++) {
        uint16_t s = b->shard[i];
        if (s == SHARD_NONE || seen[s]) {
            continue;
        }
        seen[s] = true;
        if (!sp_fwd_join_send(&b->join, call, s, fn, then, b, s)) {
            break;
        }
    }
    return sp_fwd_join_end(&b->join);
}

/* ---- DescribeGroups ----------------------------------------------------------- */

static int describe_one(struct sp_fwd *f, dg_group *d)
{
    struct sp_group *g;
    d->ErrorCode = sp_group_lookup(d->GroupId, false, &g);
    if (d->ErrorCode != 0) {
        return 0;
    }
    if (g == NULL || g->state == SP_GROUP_DEAD) {
        /* Kafka describes a group it does not know as Dead, without an error (before v6). */
        d->GroupState = sp_str_make(sp_group_state_name(SP_GROUP_DEAD));
        return 0;
    }
    if (g->type == SP_GROUP_CONSUMER) {
        return sp_group_consumer_describe_classic(g, f->arena, d);
    }
    if (g->classic != NULL) {
        return sp_group_classic_describe(g, f->arena, d);
    }
    /* A group that only has committed offsets: no protocol, no members. */
    d->GroupState = sp_str_make(sp_group_state_name(g->state));
    return 0;
}

static int describe_on_shard(struct sp_fwd *f)
{
    struct grp_batch *b = f->arg;
    const struct kproto_describe_groups_request *req = f->call->body;
    struct kproto_describe_groups_response *resp = f->call->resp;
    bool ops = f->call->version >= 3 && req->IncludeAuthorizedOperations;
    for (int32_t i = 0; i < b->n; i++) {
        if (b->shard[i] != f->shard) {
            continue;
        }
        dg_group *d = &resp->Groups[i];
        int rc = describe_one(f, d);
        if (rc < 0) {
            return rc;
        }
        if (ops && d->ErrorCode == 0) {
            d->AuthorizedOperations = GROUP_OPERATIONS_ALL;
        }
    }
    return 0;
}

int sp_api_describe_groups(struct sp_api_call *call)
{
    const struct kproto_describe_groups_request *req = call->body;
    struct kproto_describe_groups_response *resp = call->resp;
    int32_t n = req != NULL ? req->Groups_count : 0;
    if (n <= 0) {
        return 0;
    }
    dg_group *groups = sp_arena_calloc(call->arena, (size_t)n, sizeof(*groups));
    struct grp_batch *b = batch_new(call, req->Groups, n);
    if (groups == NULL || b == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        dg_group *d = &groups[i];
        d->GroupId = req->Groups[i];
        d->GroupState = sp_str_make("");
        d->ProtocolType = sp_str_make("");
        d->ProtocolData = sp_str_make("");
        d->AuthorizedOperations = OPERATIONS_OMITTED;
        d->ErrorCode = call->error;
        if (d->ErrorCode == 0) {
            batch_route(b, i, &d->ErrorCode);
        }
    }
    resp->Groups = groups;
    resp->Groups_count = n;
    return batch_forward(b, describe_on_shard, batch_then);
}

/* ---- DeleteGroups ------------------------------------------------------------- */

/* One DeleteGroups forward on its coordinator shard: its groups, one at a time. */
struct del_run {
    struct sp_fwd *f;
    struct grp_batch *b;
    int32_t next; /* the next group to look at */
};

/*
 * One group's deletion in flight. Each has its own, in the forward's
 * arena: group.c may still touch a write right after its done returns.
 */
struct del_write {
    struct sp_group_write w;
    struct del_run *run;
    int32_t index;
};

static bool group_is_empty(const struct sp_group *g)
{
    return g->state == SP_GROUP_EMPTY && sp_group_classic_members(g) == 0 &&
           sp_group_consumer_members(g) == 0;
}

static void del_done(struct sp_group_write *w, int16_t err);

/* Starts deleting group i: true when its store is under way (answer in del_done). */
static bool del_start(struct del_run *run, int32_t i)
{
    struct grp_batch *b = run->b;
    struct sp_group *g;
    int16_t err = sp_group_lookup(b->ids[i], false, &g);
    if (err == 0 && (g == NULL || g->state == SP_GROUP_DEAD)) {
        err = KERR_GROUP_ID_NOT_FOUND;
    } else if (err == 0 && !group_is_empty(g)) {
        err = KERR_NON_EMPTY_GROUP;
    } else if (err == 0) {
        struct del_write *dw = sp_arena_calloc(run->f->arena, 1, sizeof(*dw));
        err = KERR_COORDINATOR_NOT_AVAILABLE; /* out of memory */
        if (dw != NULL) {
            dw->w.done = del_done;
            dw->run = run;
            dw->index = i;
            err = sp_group_delete(g, &dw->w);
        }
        if (err == 0) {
            return true;
        }
    }
    b->result[i] = err;
    return false;
}

/* Works through the shard's groups from run->next: true when it went asynchronous. */
static bool del_steps(struct del_run *run)
{
    struct grp_batch *b = run->b;
    while (run->next < b->n) {
        int32_t i = run->next++;
        if (b->shard[i] == run->f->shard && del_start(run, i)) {
            return true;
        }
    }
    return false;
}

static void del_done(struct sp_group_write *w, int16_t err)
{
    struct del_write *dw = sp_container_of(w, struct del_write, w);
    struct del_run *run = dw->run;
    run->b->result[dw->index] = err;
    if (!del_steps(run)) {
        sp_fwd_done(run->f, 0);
    }
}

static int delete_on_shard(struct sp_fwd *f)
{
    struct del_run *run = sp_arena_calloc(f->arena, 1, sizeof(*run));
    if (run == NULL) {
        return -ENOMEM;
    }
    run->f = f;
    run->b = f->arg;
    return del_steps(run) ? SP_API_PENDING : 0;
}

struct del_name {
    struct sp_str id;
    int32_t index;
};

static int cmp_del_name(const void *pa, const void *pb)
{
    const struct del_name *a = pa;
    const struct del_name *b = pb;
    if (a->id.len != b->id.len) {
        return a->id.len < b->id.len ? -1 : 1;
    }
    int c = a->id.len > 0 ? memcmp(a->id.ptr, b->id.ptr, (size_t)a->id.len) : 0;
    if (c != 0) {
        return c;
    }
    return (a->index > b->index) - (a->index < b->index);
}

/*
 * The request's distinct group ids, in request order (Kafka answers a
 * name given twice once): *out and its count, in the request's arena.
 */
static int del_distinct(struct sp_api_call *call, struct sp_str **out, int32_t *count)
{
    const struct kproto_delete_groups_request *req = call->body;
    int32_t n = req->GroupsNames_count;
    struct del_name *names = sp_arena_calloc(call->arena, (size_t)n, sizeof(*names));
    bool *dup = sp_arena_calloc(call->arena, (size_t)n, sizeof(*dup));
    struct sp_str *ids = sp_arena_calloc(call->arena, (size_t)n, sizeof(*ids));
    if (names == NULL || dup == NULL || ids == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        names[i] = (struct del_name){req->GroupsNames[i], i};
    }
    qsort(names, (size_t)n, sizeof(*names), cmp_del_name);
    for (int32_t i = 1; i < n; i++) {
        dup[names[i].index] = sp_str_eq(names[i].id, names[i - 1].id);
    }
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!dup[i]) {
            ids[m++] = req->GroupsNames[i];
        }
    }
    *out = ids;
    *count = m;
    return 0;
}

static int delete_answer(struct sp_fwd *f, int rc)
{
    int end = batch_then(f, rc);
    if (end != 0) {
        return end;
    }
    struct grp_batch *b = f->arg;
    struct kproto_delete_groups_response *resp = b->call->resp;
    for (int32_t i = 0; i < b->n; i++) {
        resp->Results[i].ErrorCode = b->result[i];
    }
    return 0;
}

int sp_api_delete_groups(struct sp_api_call *call)
{
    const struct kproto_delete_groups_request *req = call->body;
    struct kproto_delete_groups_response *resp = call->resp;
    if (req == NULL || req->GroupsNames_count <= 0) {
        return 0;
    }
    struct sp_str *ids;
    int32_t n;
    if (del_distinct(call, &ids, &n) != 0) {
        return -ENOMEM;
    }
    del_result *res = sp_arena_calloc(call->arena, (size_t)n, sizeof(*res));
    struct grp_batch *b = batch_new(call, ids, n);
    if (res == NULL || b == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        res[i].GroupId = ids[i];
        b->result[i] = call->error;
        if (b->result[i] == 0) {
            batch_route(b, i, &b->result[i]);
        }
        res[i].ErrorCode = b->result[i];
    }
    resp->Results = res;
    resp->Results_count = n;
    /* Forwards write b->result only; the answer is copied once all are back. */
    return batch_forward(b, delete_on_shard, delete_answer);
}

/* ---- ListGroups --------------------------------------------------------------- */

/* One shard's listed groups, in its forward's arena. */
struct lg_piece {
    lg_group *groups;
    int32_t count;
};

struct lg_call {
    struct lg_piece *pieces; /* [shards], by forward index */
    struct sp_fwd_join join; /* a forward per shard */
};

/* Compares s to name ignoring case and the blanks around s (Kafka's filters do). */
static bool name_matches(struct sp_str s, const char *name)
{
    const char *p = s.ptr;
    size_t n = s.ptr != NULL ? (size_t)s.len : 0;
    while (n > 0 && isspace((unsigned char)p[0])) {
        p++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)p[n - 1])) {
        n--;
    }
    return strlen(name) == n && (n == 0 || strncasecmp(p, name, n) == 0);
}

static bool filter_passes(const struct sp_str *filter, int32_t count, const char *name)
{
    if (count <= 0) {
        return true;
    }
    for (int32_t i = 0; i < count; i++) {
        if (name_matches(filter[i], name)) {
            return true;
        }
    }
    return false;
}

/* Listing one shard's groups: counted first, then filled. */
struct lg_walk {
    struct sp_fwd *f;
    const struct kproto_list_groups_request *req;
    lg_group *out; /* NULL while counting */
    int32_t count;
    int rc;
    struct sp_arena scratch; /* a classic group's description, for its protocol type */
};

static bool lg_wanted(const struct lg_walk *w, const struct sp_group *g)
{
    const struct kproto_list_groups_request *req = w->req;
    int16_t v = w->f->call->version;
    if (g->state == SP_GROUP_DEAD || g->removed) {
        return false;
    }
    if (v >= 4 &&
        !filter_passes(req->StatesFilter, req->StatesFilter_count, sp_group_state_name(g->state))) {
        return false;
    }
    return v < 5 ||
           filter_passes(req->TypesFilter, req->TypesFilter_count, sp_group_type_name(g->type));
}

/* The group's protocol type ("" for a group with offsets only), in the forward's arena. */
static int lg_protocol_type(struct lg_walk *w, const struct sp_group *g, struct sp_str *out)
{
    *out = sp_str_make("");
    if (g->type == SP_GROUP_CONSUMER) {
        *out = sp_str_make("consumer");
        return 0;
    }
    if (g->classic == NULL) {
        return 0;
    }
    dg_group d = {.GroupId = {g->id, (int32_t)g->id_len}};
    int rc = sp_group_classic_describe(g, &w->scratch, &d);
    if (rc == 0 && d.ProtocolType.ptr != NULL && d.ProtocolType.len > 0) {
        char *p = sp_arena_alloc(w->f->arena, (size_t)d.ProtocolType.len);
        if (p == NULL) {
            rc = -ENOMEM;
        } else {
            memcpy(p, d.ProtocolType.ptr, (size_t)d.ProtocolType.len);
            *out = (struct sp_str){p, d.ProtocolType.len};
        }
    }
    sp_arena_reset(&w->scratch);
    return rc;
}

static void lg_visit(void *ctx, struct sp_group *g)
{
    struct lg_walk *w = ctx;
    if (w->rc != 0 || !lg_wanted(w, g)) {
        return;
    }
    if (w->out == NULL) {
        w->count++;
        return;
    }
    lg_group *e = &w->out[w->count++];
    e->GroupId = (struct sp_str){g->id, (int32_t)g->id_len};
    e->GroupState = sp_str_make(sp_group_state_name(g->state));
    e->GroupType = sp_str_make(sp_group_type_name(g->type));
    w->rc = lg_protocol_type(w, g, &e->ProtocolType);
    /* The id must outlive the group (it may go before the answer is encoded). */
    char *id = sp_arena_alloc(w->f->arena, g->id_len + 1);
    if (id == NULL) {
        w->rc = -ENOMEM;
        return;
    }
    memcpy(id, g->id, g->id_len);
    e->GroupId.ptr = id;
}

static int list_on_shard(struct sp_fwd *f)
{
    struct lg_call *lc = f->arg;
    struct lg_walk w = {.f = f, .req = f->call->body};
    sp_group_each(lg_visit, &w);
    int32_t count = w.count;
    if (count == 0) {
        return 0;
    }
    w.out = sp_arena_calloc(f->arena, (size_t)count, sizeof(*w.out));
    if (w.out == NULL) {
        return -ENOMEM;
    }
    sp_arena_init(&w.scratch, NULL, 0, LG_SCRATCH_LIMIT);
    sp_arena_set_budget(&w.scratch, sp_rx_mem());
    w.count = 0;
    sp_group_each(lg_visit, &w);
    sp_arena_destroy(&w.scratch);
    /* The same walk twice sees the same groups: nothing runs in between. */
    SP_ASSERT(w.rc != 0 || w.count == count);
    lc->pieces[f->index] = (struct lg_piece){w.out, w.count};
    return w.rc;
}

static int list_then(struct sp_fwd *f, int rc)
{
    struct lg_call *lc = f->arg;
    if (!sp_fwd_join_back(&lc->join, rc)) {
        return SP_API_PENDING;
    }
    if (lc->join.rc != 0) {
        return lc->join.rc;
    }
    struct sp_api_call *call = f->call;
    struct kproto_list_groups_response *resp = call->resp;
    uint32_t shards = sp_rx_shard_count();
    size_t total = 0;
    for (uint32_t s = 0; s < shards; s++) {
        total += (size_t)lc->pieces[s].count;
    }
    if (total == 0) {
        return 0;
    }
    if (total > INT32_MAX) {
        return -ENOMEM;
    }
    lg_group *all = sp_arena_calloc(call->arena, total, sizeof(*all));
    if (all == NULL) {
        return -ENOMEM;
    }
    size_t at = 0;
    for (uint32_t s = 0; s < shards; s++) {
        const struct lg_piece *p = &lc->pieces[s];
        if (p->count > 0) {
            memcpy(&all[at], p->groups, (size_t)p->count * sizeof(*all));
            at += (size_t)p->count;
        }
    }
    resp->Groups = all;
    resp->Groups_count = (int32_t)total;
    return 0;
}

int sp_api_list_groups(struct sp_api_call *call)
{
    struct kproto_list_groups_response *resp = call->resp;
    if (call->error != 0 || call->body == NULL) {
        resp->ErrorCode = call->error != 0 ? call->error : KERR_INVALID_REQUEST;
        return 0;
    }
    uint32_t shards = sp_rx_shard_count();
    struct lg_call *lc = sp_arena_calloc(call->arena, 1, sizeof(*lc));
    if (lc == NULL) {
        return -ENOMEM;
    }
    lc->pieces = sp_arena_calloc(call->arena, shards, sizeof(*lc->pieces));
    if (lc->pieces == NULL) {
        return -ENOMEM;
    }
    for (uint32_t s = 0; s < shards; s++) {
        if (!sp_fwd_join_send(&lc->join, call, s, list_on_shard, list_then, lc, (int32_t)s)) {
            break;
        }
    }
    return sp_fwd_join_end(&lc->join);
}
