/*
 * cluster/api_offsets.c: OffsetCommit, OffsetFetch and OffsetDelete
 * (cluster/group.h).
 *
 * Each request names one group (OffsetFetch v8+ several: one forward per
 * group, one after another). The handler lays out the response on the
 * connection's shard, entries in request order with their names, routes
 * the group and lends the request to its coordinator shard, which fills
 * in error codes and offsets; what it adds (strings, arrays) comes from
 * the forward's arena.
 *
 *   connection's shard                      coordinator shard
 *   skeleton, route  ------------------->   lookup, checks, records
 *                                           sp_group_store ... durable
 *                                           offsets into memory
 *   answer           <-------------------   sp_fwd_done
 *
 * A commit is answered only once its records are durable, and only then
 * does the group's memory take the new offsets: a fetch never sees an
 * offset that a crash could take back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/forward.h"
#include "cluster/group.h"
#include "cluster/image.h"
#include "core/config.h"
#include "core/rx.h"
#include "protocol/gen/kerr.h"

typedef struct kproto_offset_commit_request_offset_commit_request_topic oc_req_topic;
typedef struct kproto_offset_commit_response_offset_commit_response_topic oc_topic;
typedef struct kproto_offset_commit_response_offset_commit_response_partition oc_part;
typedef struct kproto_offset_fetch_response_offset_fetch_response_topic of_topic_v0;
typedef struct kproto_offset_fetch_response_offset_fetch_response_partition of_part_v0;
typedef struct kproto_offset_fetch_response_offset_fetch_response_topics of_topic_v8;
typedef struct kproto_offset_fetch_response_offset_fetch_response_partitions of_part_v8;
typedef struct kproto_offset_fetch_response_offset_fetch_response_group of_group;
typedef struct kproto_offset_delete_response_offset_delete_response_topic od_topic;
typedef struct kproto_offset_delete_response_offset_delete_response_partition od_part;

/* Record value versions written: with an explicit expire time (v1), or with the leader epoch. */
#define OFFSET_VALUE_EXPIRING 1
#define OFFSET_VALUE_CURRENT  3

static bool group_id_ok(struct sp_str id)
{
    return id.ptr != NULL && id.len > 0;
}

static uint32_t group_members(const struct sp_group *g)
{
    return sp_group_classic_members(g) + sp_group_consumer_members(g);
}

/* ---- OffsetCommit -------------------------------------------------------------- */

/* One partition to store. */
struct oc_entry {
    struct sp_str topic; /* the request's */
    int32_t partition;
    struct sp_group_offset value; /* metadata NUL-terminated in the forward's arena */
    oc_part *out;
};

struct oc_commit {
    struct sp_group_write w;
    struct sp_fwd *f;
    struct oc_entry *e;
    size_t n;
};

/* Every partition of the response gets err. */
static void oc_fail_all(struct kproto_offset_commit_response *resp, int16_t err)
{
    for (int32_t i = 0; i < resp->Topics_count; i++) {
        for (int32_t j = 0; j < resp->Topics[i].Partitions_count; j++) {
            resp->Topics[i].Partitions[j].ErrorCode = err;
        }
    }
}

static void oc_stored(struct sp_group_write *w, int16_t err)
{
    struct oc_commit *c = sp_container_of(w, struct oc_commit, w);
    struct sp_group *g = w->g;
    for (size_t i = 0; i < c->n; i++) {
        struct oc_entry *e = &c->e[i];
        if (err == 0 && !g->removed &&
            sp_group_offset_apply(g, e->topic, e->partition, &e->value) < 0) {
            /* Durable, but not in memory: only a reload would show it. */
            err = KERR_COORDINATOR_NOT_AVAILABLE;
        }
        e->out->ErrorCode = err;
    }
    sp_fwd_done(c->f, 0);
}

/* The membership checks of a commit: 0 or the error every partition gets. */
static int16_t oc_check(struct sp_group *g, const struct kproto_offset_commit_request *req)
{
    bool anonymous = req->MemberId.ptr == NULL || req->MemberId.len == 0;
    if (group_members(g) == 0 && anonymous && req->GenerationIdOrMemberEpoch < 0) {
        return 0; /* a simple consumer: manual assignment, no group membership */
    }
    if (g->consumer != NULL || g->type == SP_GROUP_CONSUMER) {
        if (g->consumer == NULL) {
            return KERR_UNKNOWN_MEMBER_ID;
        }
        return sp_group_consumer_commit_check(g, req->MemberId, req->GenerationIdOrMemberEpoch);
    }
    if (g->classic == NULL) {
        return anonymous ? KERR_ILLEGAL_GENERATION : KERR_UNKNOWN_MEMBER_ID;
    }
    return sp_group_classic_commit_check(g, req->MemberId, req->GroupInstanceId,
                                         req->GenerationIdOrMemberEpoch);
}

/* The stored value of one partition of the request. */
static struct sp_group_offset
oc_value(const struct sp_api_call *call, const struct kproto_offset_commit_request *req,
         const struct kproto_offset_commit_request_offset_commit_request_partition *p,
         int64_t now_ms)
{
    struct sp_group_offset v = {.offset = p->CommittedOffset, .leader_epoch = -1, .expire_ms = -1};
    v.commit_ms = now_ms;
    if (call->version == 1 && p->CommitTimestamp >= 0) {
        v.commit_ms = p->CommitTimestamp;
    }
    if (call->version >= 2 && call->version <= 4 && req->RetentionTimeMs >= 0) {
        v.expire_ms = v.commit_ms + req->RetentionTimeMs;
    }
    if (call->version >= 6) {
        v.leader_epoch = p->CommittedLeaderEpoch;
    }
    return v;
}

/* Encodes the record of e into r, in f's arena. 0 or -errno. */
static int oc_record(struct sp_fwd *f, struct sp_str group, struct oc_entry *e,
                     struct sp_group_rec *r)
{
    struct kproto_offset_commit_key key = {
        .group = group, .topic = e->topic, .partition = e->partition};
    struct kproto_offset_commit_value val;
    kproto_offset_commit_value_init(&val);
    val.offset = e->value.offset;
    val.leaderEpoch = e->value.leader_epoch;
    val.metadata = sp_str_make(e->value.metadata);
    val.commitTimestamp = e->value.commit_ms;
    val.expireTimestamp = e->value.expire_ms;
    int16_t vv = e->value.expire_ms >= 0 ? OFFSET_VALUE_EXPIRING : OFFSET_VALUE_CURRENT;
    return sp_group_rec_encode(f->arena, SP_GROUP_KEY_OFFSET_COMMIT, &key, vv, &val, r);
}

/*
 * Checks each partition of the request; those to store get an entry and a
 * record. 0, or -ENOMEM.
 */
static int oc_collect(struct sp_fwd *f, struct oc_commit *c, struct sp_group_rec **recs)
{
    const struct sp_api_call *call = f->call;
    const struct kproto_offset_commit_request *req = call->body;
    struct kproto_offset_commit_response *resp = call->resp;
    size_t total = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        total += (size_t)req->Topics[i].Partitions_count;
    }
    c->e = sp_arena_calloc(f->arena, total + 1, sizeof(*c->e));
    *recs = sp_arena_calloc(f->arena, total + 1, sizeof(**recs));
    if (c->e == NULL || *recs == NULL) {
        return -ENOMEM;
    }
    const struct sp_config *cfg = sp_image_broker_config();
    int64_t md_max = cfg != NULL ? sp_config_int(cfg, SP_CFG_OFFSET_METADATA_MAX_BYTES) : 4096;
    int64_t now_ms = sp_group_now_ms();
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const oc_req_topic *rt = &req->Topics[i];
        const struct sp_topic *t =
            rt->Name.ptr != NULL ? sp_image_topic(rt->Name.ptr, (size_t)rt->Name.len) : NULL;
        for (int32_t j = 0; j < rt->Partitions_count; j++) {
            const struct kproto_offset_commit_request_offset_commit_request_partition *rp =
                &rt->Partitions[j];
            oc_part *out = &resp->Topics[i].Partitions[j];
            if (t == NULL || rp->PartitionIndex < 0 || rp->PartitionIndex >= t->partitions) {
                out->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            struct sp_str md = rp->CommittedMetadata;
            if (md.ptr != NULL && md.len > md_max) {
                out->ErrorCode = KERR_OFFSET_METADATA_TOO_LARGE;
                continue;
            }
            struct oc_entry *e = &c->e[c->n];
            e->topic = rt->Name;
            e->partition = rp->PartitionIndex;
            e->value = oc_value(call, req, rp, now_ms);
            struct sp_str mdc = sp_str_copy(f->arena, md.ptr, md.ptr != NULL ? (size_t)md.len : 0);
            if (mdc.ptr == NULL) {
                return -ENOMEM;
            }
            e->value.metadata = (char *)mdc.ptr;
            e->out = out;
            int rc = oc_record(f, req->GroupId, e, &(*recs)[c->n]);
            if (rc < 0) {
                return rc;
            }
            c->n++;
        }
    }
    return 0;
}

static int oc_on_coordinator(struct sp_fwd *f)
{
    const struct kproto_offset_commit_request *req = f->call->body;
    struct kproto_offset_commit_response *resp = f->call->resp;
    bool simple =
        req->GenerationIdOrMemberEpoch < 0 && (req->MemberId.ptr == NULL || req->MemberId.len == 0);
    struct sp_group *g = NULL;
    /* Kafka creates the group of a simple consumer's first commit. */
    int16_t err = sp_group_lookup(req->GroupId, simple, &g);
    if (err == 0 && g == NULL) {
        err = KERR_ILLEGAL_GENERATION; /* a member of a group that does not exist */
    }
    if (err == 0) {
        err = oc_check(g, req);
    }
    if (err != 0) {
        oc_fail_all(resp, err);
        return 0;
    }
    struct oc_commit *c = sp_arena_calloc(f->arena, 1, sizeof(*c));
    struct sp_group_rec *recs = NULL;
    if (c == NULL || oc_collect(f, c, &recs) < 0) {
        oc_fail_all(resp, KERR_COORDINATOR_NOT_AVAILABLE);
        return 0;
    }
    if (c->n == 0) {
        return 0;
    }
    c->f = f;
    c->w.done = oc_stored;
    err = sp_group_store(g, recs, c->n, &c->w);
    if (err != 0) {
        for (size_t i = 0; i < c->n; i++) {
            c->e[i].out->ErrorCode = err;
        }
        return 0;
    }
    return SP_API_PENDING;
}

/* The response's topics and partitions, named as asked. 0 or -ENOMEM. */
static int oc_skeleton(struct sp_api_call *call, const struct kproto_offset_commit_request *req)
{
    struct kproto_offset_commit_response *resp = call->resp;
    if (req->Topics_count <= 0) {
        return 0;
    }
    oc_topic *t = sp_arena_calloc(call->arena, (size_t)req->Topics_count, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const oc_req_topic *rt = &req->Topics[i];
        t[i].Name = rt->Name;
        t[i].Partitions_count = SP_MAX(rt->Partitions_count, 0);
        t[i].Partitions = sp_arena_calloc(call->arena, (size_t)t[i].Partitions_count + 1,
                                          sizeof(*t[i].Partitions));
        if (t[i].Partitions == NULL) {
            return -ENOMEM;
        }
        for (int32_t j = 0; j < t[i].Partitions_count; j++) {
            t[i].Partitions[j].PartitionIndex = rt->Partitions[j].PartitionIndex;
        }
    }
    resp->Topics = t;
    resp->Topics_count = req->Topics_count;
    return 0;
}

int sp_api_offset_commit(struct sp_api_call *call)
{
    const struct kproto_offset_commit_request *req = call->body;
    struct kproto_offset_commit_response *resp = call->resp;
    if (req == NULL) {
        return 0;
    }
    if (oc_skeleton(call, req) < 0) {
        return -ENOMEM;
    }
    int16_t err = call->error;
    if (err == 0 && !group_id_ok(req->GroupId)) {
        err = KERR_INVALID_GROUP_ID;
    }
    uint16_t shard = 0;
    int32_t part = 0;
    if (err == 0) {
        err = sp_group_route(req->GroupId, &shard, &part);
    }
    if (err != 0) {
        oc_fail_all(resp, err);
        return 0;
    }
    if (resp->Topics_count == 0) {
        return 0;
    }
    return sp_api_forward(call, shard, oc_on_coordinator, NULL, NULL, 0);
}

/* ---- OffsetFetch --------------------------------------------------------------- */

/*
 * One group's answer, built on the coordinator in the forward's arena, in
 * a shape both response layouts (v0-7 and v8+) are copied from.
 */
struct of_part {
    int32_t index;
    int64_t offset;
    int32_t epoch;
    struct sp_str metadata;
    int16_t error;
};
struct of_topic {
    struct sp_str name;
    struct of_part *parts;
    int32_t nparts;
};
struct of_answer {
    int16_t error;
    struct of_topic *topics;
    int32_t ntopics;
};

/* What one group of the request asks: a view over either request layout. */
struct of_ask {
    struct sp_str group;
    int32_t ntopics; /* -1: every committed offset */
    struct sp_str member_id;
    int32_t member_epoch;
};

static struct sp_str of_ask_topic(const struct sp_api_call *call, int32_t gi, int32_t ti,
                                  const int32_t **parts, int32_t *nparts)
{
    const struct kproto_offset_fetch_request *req = call->body;
    if (call->version >= 8) {
        const struct kproto_offset_fetch_request_offset_fetch_request_topics *t =
            &req->Groups[gi].Topics[ti];
        *parts = t->PartitionIndexes;
        *nparts = t->PartitionIndexes_count;
        return t->Name;
    }
    const struct kproto_offset_fetch_request_offset_fetch_request_topic *t = &req->Topics[ti];
    *parts = t->PartitionIndexes;
    *nparts = t->PartitionIndexes_count;
    return t->Name;
}

static struct of_ask of_ask_of(const struct sp_api_call *call, int32_t gi)
{
    const struct kproto_offset_fetch_request *req = call->body;
    struct of_ask a = {.member_epoch = -1};
    if (call->version >= 8) {
        const struct kproto_offset_fetch_request_offset_fetch_request_group *g = &req->Groups[gi];
        a.group = g->GroupId;
        a.ntopics = g->Topics_count;
        a.member_id = g->MemberId;
        a.member_epoch = g->MemberEpoch;
    } else {
        a.group = req->GroupId;
        a.ntopics = req->Topics_count;
    }
    return a;
}

static void of_part_fill(struct sp_arena *a, struct of_part *p, const struct sp_group_offset *o)
{
    if (o == NULL) {
        p->offset = -1;
        p->epoch = -1;
        p->metadata = sp_str_make("");
        return;
    }
    p->offset = o->offset;
    p->epoch = o->leader_epoch;
    p->metadata = sp_str_dup(a, o->metadata);
    if (p->metadata.ptr == NULL) {
        p->error = KERR_UNKNOWN_SERVER_ERROR;
        p->metadata = sp_str_make("");
    }
}

/* The partitions asked for by name. 0 or -ENOMEM. */
static int of_listed(struct sp_fwd *f, int32_t gi, const struct of_ask *ask,
                     const struct sp_group *g, int16_t err, struct of_answer *ans)
{
    struct sp_arena *a = f->arena;
    ans->ntopics = ask->ntopics;
    ans->topics = sp_arena_calloc(a, (size_t)ask->ntopics + 1, sizeof(*ans->topics));
    if (ans->topics == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < ask->ntopics; i++) {
        const int32_t *parts = NULL;
        int32_t nparts = 0;
        struct of_topic *t = &ans->topics[i];
        t->name = of_ask_topic(f->call, gi, i, &parts, &nparts);
        t->nparts = SP_MAX(nparts, 0);
        t->parts = sp_arena_calloc(a, (size_t)t->nparts + 1, sizeof(*t->parts));
        if (t->parts == NULL) {
            return -ENOMEM;
        }
        for (int32_t j = 0; j < t->nparts; j++) {
            struct of_part *p = &t->parts[j];
            p->index = parts[j];
            p->error = err;
            of_part_fill(a, p,
                         err == 0 && g != NULL ? sp_group_offset_get(g, t->name, parts[j]) : NULL);
        }
    }
    return 0;
}

/* Every committed offset of g, by topic in first-commit order. 0 or -ENOMEM. */
static int of_all(struct sp_fwd *f, const struct sp_group *g, struct of_answer *ans)
{
    struct sp_arena *a = f->arena;
    if (g == NULL || g->offsets_count == 0) {
        return 0;
    }
    /* At most one topic per offset: topics[] is sized for that, then filled in order. */
    ans->topics = sp_arena_calloc(a, g->offsets_count, sizeof(*ans->topics));
    int32_t *counts = sp_arena_calloc(a, g->offsets_count, sizeof(*counts));
    const struct sp_group_offset **first = sp_arena_calloc(a, g->offsets_count, sizeof(*first));
    if (ans->topics == NULL || counts == NULL || first == NULL) {
        return -ENOMEM;
    }
    int32_t nt = 0;
    for (const struct sp_group_offset *o = g->offsets; o != NULL; o = o->next) {
        int32_t k = 0;
        while (k < nt && strcmp(first[k]->topic, o->topic) != 0) {
            k++;
        }
        if (k == nt) {
            first[nt++] = o;
        }
        counts[k]++;
    }
    for (int32_t k = 0; k < nt; k++) {
        struct of_topic *t = &ans->topics[k];
        t->name = sp_str_dup(a, first[k]->topic);
        t->parts = sp_arena_calloc(a, (size_t)counts[k], sizeof(*t->parts));
        if (t->name.ptr == NULL || t->parts == NULL) {
            return -ENOMEM;
        }
    }
    for (const struct sp_group_offset *o = g->offsets; o != NULL; o = o->next) {
        int32_t k = 0;
        while (strcmp(first[k]->topic, o->topic) != 0) {
            k++;
        }
        struct of_topic *t = &ans->topics[k];
        struct of_part *p = &t->parts[t->nparts++];
        p->index = o->partition;
        of_part_fill(a, p, o);
    }
    ans->ntopics = nt;
    return 0;
}

/* Copies ans into the v0-7 response (from the forward's arena). */
static int of_emit_v0(struct sp_fwd *f, const struct of_answer *ans)
{
    struct kproto_offset_fetch_response *resp = f->call->resp;
    of_topic_v0 *t = sp_arena_calloc(f->arena, (size_t)ans->ntopics + 1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < ans->ntopics; i++) {
        const struct of_topic *at = &ans->topics[i];
        t[i].Name = at->name;
        t[i].Partitions = sp_arena_calloc(f->arena, (size_t)at->nparts + 1, sizeof(of_part_v0));
        if (t[i].Partitions == NULL) {
            return -ENOMEM;
        }
        t[i].Partitions_count = at->nparts;
        for (int32_t j = 0; j < at->nparts; j++) {
            const struct of_part *p = &at->parts[j];
            t[i].Partitions[j] = (of_part_v0){.PartitionIndex = p->index,
                                              .CommittedOffset = p->offset,
                                              .CommittedLeaderEpoch = p->epoch,
                                              .Metadata = p->metadata,
                                              .ErrorCode = p->error};
        }
    }
    resp->Topics = t;
    resp->Topics_count = ans->ntopics;
    /* v0-1 carry errors per partition only. */
    resp->ErrorCode = f->call->version >= 2 ? ans->error : 0;
    return 0;
}

static int of_emit_v8(struct sp_fwd *f, int32_t gi, const struct of_answer *ans)
{
    struct kproto_offset_fetch_response *resp = f->call->resp;
    of_group *out = &resp->Groups[gi];
    of_topic_v8 *t = sp_arena_calloc(f->arena, (size_t)ans->ntopics + 1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < ans->ntopics; i++) {
        const struct of_topic *at = &ans->topics[i];
        t[i].Name = at->name;
        t[i].Partitions = sp_arena_calloc(f->arena, (size_t)at->nparts + 1, sizeof(of_part_v8));
        if (t[i].Partitions == NULL) {
            return -ENOMEM;
        }
        t[i].Partitions_count = at->nparts;
        for (int32_t j = 0; j < at->nparts; j++) {
            const struct of_part *p = &at->parts[j];
            t[i].Partitions[j] = (of_part_v8){.PartitionIndex = p->index,
                                              .CommittedOffset = p->offset,
                                              .CommittedLeaderEpoch = p->epoch,
                                              .Metadata = p->metadata,
                                              .ErrorCode = p->error};
        }
    }
    out->Topics = t;
    out->Topics_count = ans->ntopics;
    out->ErrorCode = ans->error;
    return 0;
}

/* Group gi's answer, on its coordinator. 0 or -ENOMEM. */
static int of_build(struct sp_fwd *f, int32_t gi, struct of_answer *ans)
{
    struct of_ask ask = of_ask_of(f->call, gi);
    struct sp_group *g = NULL;
    int16_t err = sp_group_lookup(ask.group, false, &g);
    if (err == 0 && g != NULL && ask.member_id.ptr != NULL && ask.member_id.len > 0 &&
        g->consumer != NULL) {
        err = sp_group_consumer_commit_check(g, ask.member_id, ask.member_epoch);
    }
    ans->error = err;
    if (ask.ntopics < 0) {
        /* Every offset (v2+): errors are the group's alone. */
        return err == 0 ? of_all(f, g, ans) : 0;
    }
    /* v0-1 tell errors per partition; later versions per group, the partitions clean. */
    int16_t perr = f->call->version < 2 ? err : 0;
    return of_listed(f, gi, &ask, err == 0 ? g : NULL, perr, ans);
}

static int of_on_coordinator(struct sp_fwd *f)
{
    struct of_answer ans = {0};
    int rc = of_build(f, f->index, &ans);
    if (rc < 0) {
        return rc;
    }
    return f->call->version >= 8 ? of_emit_v8(f, f->index, &ans) : of_emit_v0(f, &ans);
}

/* A group answered without its coordinator: routing failed, or an invalid id. */
static int of_answer_here(struct sp_api_call *call, int32_t gi, int16_t err)
{
    struct kproto_offset_fetch_response *resp = call->resp;
    if (call->version >= 8) {
        resp->Groups[gi].ErrorCode = err;
        return 0;
    }
    resp->ErrorCode = call->version >= 2 ? err : 0;
    const struct kproto_offset_fetch_request *req = call->body;
    if (req->Topics_count <= 0) {
        return 0;
    }
    of_topic_v0 *t = sp_arena_calloc(call->arena, (size_t)req->Topics_count, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_offset_fetch_request_offset_fetch_request_topic *rt = &req->Topics[i];
        t[i].Name = rt->Name;
        t[i].Partitions_count = SP_MAX(rt->PartitionIndexes_count, 0);
        t[i].Partitions =
            sp_arena_calloc(call->arena, (size_t)t[i].Partitions_count + 1, sizeof(of_part_v0));
        if (t[i].Partitions == NULL) {
            return -ENOMEM;
        }
        for (int32_t j = 0; j < t[i].Partitions_count; j++) {
            t[i].Partitions[j] = (of_part_v0){.PartitionIndex = rt->PartitionIndexes[j],
                                              .CommittedOffset = -1,
                                              .CommittedLeaderEpoch = -1,
                                              .Metadata = sp_str_make(""),
                                              .ErrorCode = call->version < 2 ? err : 0};
        }
    }
    resp->Topics = t;
    resp->Topics_count = req->Topics_count;
    return 0;
}

static int of_then(struct sp_fwd *f, int rc);

/* Routes group gi and those after it until one is lent to its coordinator. */
static int of_next(struct sp_api_call *call, int32_t gi)
{
    const struct kproto_offset_fetch_request *req = call->body;
    int32_t n = call->version >= 8 ? req->Groups_count : 1;
    for (; gi < n; gi++) {
        struct of_ask ask = of_ask_of(call, gi);
        int16_t err = call->error;
        if (err == 0 && !group_id_ok(ask.group)) {
            err = KERR_INVALID_GROUP_ID;
        }
        uint16_t shard = 0;
        int32_t part = 0;
        if (err == 0) {
            err = sp_group_route(ask.group, &shard, &part);
        }
        if (err == 0) {
            return sp_api_forward(call, shard, of_on_coordinator, of_then, NULL, gi);
        }
        int rc = of_answer_here(call, gi, err);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static int of_then(struct sp_fwd *f, int rc)
{
    if (rc < 0) {
        return rc;
    }
    return of_next(f->call, f->index + 1);
}

int sp_api_offset_fetch(struct sp_api_call *call)
{
    const struct kproto_offset_fetch_request *req = call->body;
    struct kproto_offset_fetch_response *resp = call->resp;
    if (req == NULL) {
        return 0;
    }
    if (call->version >= 8 && req->Groups_count > 0) {
        resp->Groups = sp_arena_calloc(call->arena, (size_t)req->Groups_count, sizeof(of_group));
        if (resp->Groups == NULL) {
            return -ENOMEM;
        }
        resp->Groups_count = req->Groups_count;
        for (int32_t i = 0; i < req->Groups_count; i++) {
            resp->Groups[i].GroupId = req->Groups[i].GroupId;
        }
    }
    return of_next(call, 0);
}

/* ---- OffsetDelete -------------------------------------------------------------- */

struct od_delete {
    struct sp_group_write w;
    struct sp_fwd *f;
    struct sp_str *topic;
    int32_t *partition;
    od_part **out;
    size_t n;
};

static void od_stored(struct sp_group_write *w, int16_t err)
{
    struct od_delete *d = sp_container_of(w, struct od_delete, w);
    for (size_t i = 0; i < d->n; i++) {
        if (err == 0 && !w->g->removed) {
            (void)sp_group_offset_apply(w->g, d->topic[i], d->partition[i], NULL);
        }
        d->out[i]->ErrorCode = err;
    }
    sp_fwd_done(d->f, 0);
}

static bool od_subscribed(const struct sp_group *g, struct sp_str topic)
{
    if (g->consumer != NULL && sp_group_consumer_subscribed(g, topic)) {
        return true;
    }
    return g->classic != NULL && sp_group_classic_subscribed(g, topic);
}

/* Tombstones for the partitions that may go; errors for the others. 0 or -ENOMEM. */
static int od_collect(struct sp_fwd *f, struct sp_group *g, struct od_delete *d,
                      struct sp_group_rec **recs)
{
    const struct kproto_offset_delete_request *req = f->call->body;
    struct kproto_offset_delete_response *resp = f->call->resp;
    size_t total = 1;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        total += (size_t)SP_MAX(req->Topics[i].Partitions_count, 0);
    }
    d->topic = sp_arena_calloc(f->arena, total, sizeof(*d->topic));
    d->partition = sp_arena_calloc(f->arena, total, sizeof(*d->partition));
    d->out = sp_arena_calloc(f->arena, total, sizeof(*d->out));
    *recs = sp_arena_calloc(f->arena, total, sizeof(**recs));
    if (d->topic == NULL || d->partition == NULL || d->out == NULL || *recs == NULL) {
        return -ENOMEM;
    }
    bool members = group_members(g) > 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        struct sp_str name = req->Topics[i].Name;
        const struct sp_topic *t =
            name.ptr != NULL ? sp_image_topic(name.ptr, (size_t)name.len) : NULL;
        bool subscribed = members && od_subscribed(g, name);
        for (int32_t j = 0; j < resp->Topics[i].Partitions_count; j++) {
            od_part *out = &resp->Topics[i].Partitions[j];
            int32_t pi = out->PartitionIndex;
            if (t == NULL || pi < 0 || pi >= t->partitions) {
                out->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (subscribed) {
                out->ErrorCode = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
                continue;
            }
            if (sp_group_offset_get(g, name, pi) == NULL) {
                continue; /* nothing committed: nothing to delete */
            }
            struct kproto_offset_commit_key key = {
                .group = req->GroupId, .topic = name, .partition = pi};
            int rc = sp_group_rec_encode(f->arena, SP_GROUP_KEY_OFFSET_COMMIT, &key, 0, NULL,
                                         &(*recs)[d->n]);
            if (rc < 0) {
                return rc;
            }
            d->topic[d->n] = name;
            d->partition[d->n] = pi;
            d->out[d->n] = out;
            d->n++;
        }
    }
    return 0;
}

static int od_on_coordinator(struct sp_fwd *f)
{
    const struct kproto_offset_delete_request *req = f->call->body;
    struct kproto_offset_delete_response *resp = f->call->resp;
    struct sp_group *g = NULL;
    int16_t err = sp_group_lookup(req->GroupId, false, &g);
    if (err == 0 && (g == NULL || g->state == SP_GROUP_DEAD)) {
        err = KERR_GROUP_ID_NOT_FOUND;
    }
    if (err != 0) {
        resp->ErrorCode = err;
        return 0;
    }
    struct od_delete *d = sp_arena_calloc(f->arena, 1, sizeof(*d));
    struct sp_group_rec *recs = NULL;
    if (d == NULL || od_collect(f, g, d, &recs) < 0) {
        resp->ErrorCode = KERR_COORDINATOR_NOT_AVAILABLE;
        return 0;
    }
    if (d->n == 0) {
        return 0;
    }
    d->f = f;
    d->w.done = od_stored;
    err = sp_group_store(g, recs, d->n, &d->w);
    if (err != 0) {
        resp->ErrorCode = err;
        return 0;
    }
    return SP_API_PENDING;
}

int sp_api_offset_delete(struct sp_api_call *call)
{
    const struct kproto_offset_delete_request *req = call->body;
    struct kproto_offset_delete_response *resp = call->resp;
    if (req == NULL) {
        return 0;
    }
    if (req->Topics_count > 0) {
        od_topic *t = sp_arena_calloc(call->arena, (size_t)req->Topics_count, sizeof(*t));
        if (t == NULL) {
            return -ENOMEM;
        }
        for (int32_t i = 0; i < req->Topics_count; i++) {
            t[i].Name = req->Topics[i].Name;
            t[i].Partitions_count = SP_MAX(req->Topics[i].Partitions_count, 0);
            t[i].Partitions =
                sp_arena_calloc(call->arena, (size_t)t[i].Partitions_count + 1, sizeof(od_part));
            if (t[i].Partitions == NULL) {
                return -ENOMEM;
            }
            for (int32_t j = 0; j < t[i].Partitions_count; j++) {
                t[i].Partitions[j].PartitionIndex = req->Topics[i].Partitions[j].PartitionIndex;
            }
        }
        resp->Topics = t;
        resp->Topics_count = req->Topics_count;
    }
    int16_t err = call->error;
    if (err == 0 && !group_id_ok(req->GroupId)) {
        err = KERR_INVALID_GROUP_ID;
    }
    uint16_t shard = 0;
    int32_t part = 0;
    if (err == 0) {
        err = sp_group_route(req->GroupId, &shard, &part);
    }
    if (err != 0) {
        resp->ErrorCode = err;
        return 0;
    }
    return sp_api_forward(call, shard, od_on_coordinator, NULL, NULL, 0);
}
