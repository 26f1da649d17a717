/*
 * cluster/api_metadata.c: Metadata, from this shard's image (cluster/image.h).
 *
 * This broker alone, as its listener advertises it, is the cluster, its
 * controller and the leader of every partition. Topics are listed all
 * (a null list, or an empty one before v1), by name, or by id (v10+).
 *
 * A requested name that does not exist is created when
 * auto.create.topics.enable is on and the request allows it (v4+; always
 * before v4), with num.partitions and default.replication.factor: the
 * handler goes pending, asks the controller (auto_create: a topic created
 * meanwhile by someone else is no error) and answers once the topic is in
 * this shard's image, so the client sees it at once. A missing topic with
 * an illegal name is answered INVALID_TOPIC_EXCEPTION (creation allowed or
 * not, as Kafka does) and nothing is created.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/controller.h"
#include "cluster/dispatch_impl.h"
#include "cluster/group.h"
#include "cluster/image.h"
#include "core/config.h"

typedef struct kproto_metadata_response_metadata_response_topic md_topic;
typedef struct kproto_metadata_response_metadata_response_partition md_part;

struct md_call {
    struct sp_api_call *call;
    struct sp_ctl_create_topics op;
    struct sp_ctl_topic *create; /* sorted by name, no duplicates */
    int32_t ncreate;
    int32_t *node; /* [1]: the replica and ISR list of every partition */
};

static int describe(struct md_call *mc, const struct sp_topic *t, md_topic *out)
{
    struct sp_arena *a = mc->call->arena;
    out->ErrorCode = 0;
    out->Name = (struct sp_str){t->name, (int32_t)t->name_len};
    memcpy(out->TopicId.b, t->id, 16);
    out->IsInternal = t->internal;
    out->TopicAuthorizedOperations = INT32_MIN;
    md_part *p = sp_arena_calloc(a, (size_t)t->partitions + 1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < t->partitions; i++) {
        const struct sp_image_part *ip = &t->part[i];
        int32_t *replicas = mc->node;
        if (ip->leader != mc->node[0]) {
            replicas = sp_arena_alloc(a, sizeof(*replicas));
            if (replicas == NULL) {
                return -ENOMEM;
            }
            replicas[0] = ip->leader;
        }
        p[i].ErrorCode = 0;
        p[i].PartitionIndex = i;
        p[i].LeaderId = ip->leader;
        p[i].LeaderEpoch = ip->leader_epoch;
        p[i].ReplicaNodes = replicas;
        p[i].ReplicaNodes_count = 1;
        p[i].IsrNodes = replicas;
        p[i].IsrNodes_count = 1;
        p[i].OfflineReplicas = mc->node;
        p[i].OfflineReplicas_count = 0;
    }
    out->Partitions = p;
    out->Partitions_count = t->partitions;
    return 0;
}

static int cmp_ctl_topic(const void *a, const void *b)
{
    struct sp_str x = ((const struct sp_ctl_topic *)a)->name;
    struct sp_str y = ((const struct sp_ctl_topic *)b)->name;
    int32_t n = SP_MIN(x.len, y.len);
    int c = n > 0 ? memcmp(x.ptr, y.ptr, (size_t)n) : 0;
    return c != 0 ? c : (x.len > y.len) - (x.len < y.len);
}

static const struct sp_ctl_topic *created(const struct md_call *mc, struct sp_str name)
{
    if (mc->ncreate == 0) {
        return NULL;
    }
    struct sp_ctl_topic key = {.name = name};
    return bsearch(&key, mc->create, (size_t)mc->ncreate, sizeof(key), cmp_ctl_topic);
}

static bool auto_create_allowed(const struct sp_api_call *call)
{
    const struct kproto_metadata_request *req = call->body;
    bool allowed = call->version < 4 || req->AllowAutoTopicCreation;
    return allowed && sp_config_bool(sp_image_broker_config(), SP_CFG_AUTO_CREATE_TOPICS_ENABLE);
}

/* One requested topic, by name or by id. */
static int answer_one(struct md_call *mc,
                      const struct kproto_metadata_request_metadata_request_topic *rt,
                      md_topic *out)
{
    const struct sp_api_call *call = mc->call;
    bool by_id = rt->Name.ptr == NULL;
    const struct sp_topic *t = NULL;
    if (call->error == 0) {
        t = by_id ? sp_image_topic_by_id(rt->TopicId.b)
                  : sp_image_topic(rt->Name.ptr, (size_t)rt->Name.len);
    }
    if (t != NULL) {
        return describe(mc, t, out);
    }
    out->ErrorCode = call->error != 0 ? call->error
                     : by_id          ? KERR_UNKNOWN_TOPIC_ID
                                      : KERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (call->error == 0 && !by_id) {
        /* An illegal name is said to be one, whether or not creation was allowed (as Kafka). */
        char msg[160];
        int16_t bad = sp_ctl_topic_name_check(rt->Name, msg, sizeof(msg));
        const struct sp_ctl_topic *c = bad == 0 ? created(mc, rt->Name) : NULL;
        if (bad != 0) {
            out->ErrorCode = bad;
        } else if (c != NULL && c->error != 0) {
            out->ErrorCode = c->error;
        } else if (auto_create_allowed(call) && sp_str_eq(rt->Name, sp_str_make(SP_GROUP_TOPIC))) {
            out->ErrorCode = KERR_LEADER_NOT_AVAILABLE; /* being created by the groups */
        }
    }
    /* Before v12 the name cannot be null. */
    out->Name = by_id && call->version < 12 ? sp_str_make("") : rt->Name;
    out->TopicId = rt->TopicId;
    out->TopicAuthorizedOperations = INT32_MIN;
    return 0;
}

static int metadata_topics(struct md_call *mc)
{
    struct sp_api_call *call = mc->call;
    const struct kproto_metadata_request *req = call->body;
    struct kproto_metadata_response *resp = call->resp;
    bool all = req != NULL && call->error == 0 &&
               (req->Topics_count < 0 || (call->version == 0 && req->Topics_count == 0));
    int32_t n = all ? (int32_t)sp_image_topic_count() : req != NULL ? req->Topics_count : 0;
    if (n <= 0) {
        return 0;
    }
    md_topic *topics = sp_arena_calloc(call->arena, (size_t)n, sizeof(*topics));
    if (topics == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        int rc = all ? describe(mc, sp_image_topic_at((uint32_t)i), &topics[i])
                     : answer_one(mc, &req->Topics[i], &topics[i]);
        if (rc < 0) {
            return rc;
        }
    }
    resp->Topics = topics;
    resp->Topics_count = n;
    return 0;
}

static int metadata_respond(struct md_call *mc)
{
    struct sp_api_call *call = mc->call;
    struct kproto_metadata_response *resp = call->resp;
    const struct sp_dispatch_params *p = call->params;
    const struct sp_listener_addr *adv = &p->advertised->addr[call->listener];
    struct kproto_metadata_response_metadata_response_broker *b =
        sp_arena_calloc(call->arena, 1, sizeof(*b));
    if (b == NULL) {
        return -ENOMEM;
    }
    b->NodeId = p->node_id;
    b->Host = sp_str_make(adv->host);
    b->Port = adv->port;
    b->Rack.ptr = NULL;
    resp->Brokers = b;
    resp->Brokers_count = 1;
    resp->ClusterId = sp_str_make(p->cluster_id);
    resp->ControllerId = p->node_id;
    return metadata_topics(mc);
}

static void auto_create_done(struct sp_ctl_create_topics *op)
{
    struct md_call *mc = op->priv;
    sp_api_done(mc->call, metadata_respond(mc));
}

/*
 * The requested names to create: missing, legal, allowed. Sorted and
 * without duplicates (the controller refuses a name twice). 0 or -ENOMEM.
 */
static int auto_create_collect(struct md_call *mc)
{
    struct sp_api_call *call = mc->call;
    const struct kproto_metadata_request *req = call->body;
    if (req == NULL || call->error != 0 || req->Topics_count <= 0 || !auto_create_allowed(call)) {
        return 0;
    }
    struct sp_ctl_topic *c = NULL;
    int32_t n = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        struct sp_str name = req->Topics[i].Name;
        char msg[160];
        if (name.ptr == NULL || sp_image_topic(name.ptr, (size_t)name.len) != NULL ||
            sp_ctl_topic_name_check(name, msg, sizeof(msg)) != 0) {
            continue;
        }
        if (sp_str_eq(name, sp_str_make(SP_GROUP_TOPIC))) {
            /* Created with its own settings (compacted, offsets.topic.*) by the groups. */
            (void)sp_group_topic_ensure();
            continue;
        }
        if (c == NULL) {
            c = sp_arena_calloc(call->arena, (size_t)req->Topics_count, sizeof(*c));
            if (c == NULL) {
                return -ENOMEM;
            }
        }
        c[n++] = (struct sp_ctl_topic){.name = name, .partitions = -1, .replication_factor = -1};
    }
    if (n == 0) {
        return 0;
    }
    qsort(c, (size_t)n, sizeof(*c), cmp_ctl_topic);
    int32_t k = 1;
    for (int32_t i = 1; i < n; i++) {
        if (!sp_str_eq(c[i].name, c[k - 1].name)) {
            c[k++] = c[i];
        }
    }
    mc->create = c;
    mc->ncreate = k;
    return 0;
}

int sp_api_metadata(struct sp_api_call *call)
{
    struct md_call *mc = sp_arena_calloc(call->arena, 1, sizeof(*mc));
    int32_t *node = sp_arena_alloc(call->arena, sizeof(*node));
    if (mc == NULL || node == NULL) {
        return -ENOMEM;
    }
    mc->call = call;
    mc->node = node;
    node[0] = call->params->node_id;
    int rc = auto_create_collect(mc);
    if (rc < 0) {
        return rc;
    }
    if (mc->ncreate == 0) {
        return metadata_respond(mc);
    }
    mc->op = (struct sp_ctl_create_topics){.topics = mc->create,
                                           .count = mc->ncreate,
                                           .auto_create = true,
                                           .done = auto_create_done,
                                           .priv = mc};
    sp_ctl_create_topics(&mc->op);
    return SP_API_PENDING;
}
