/*
 * cluster/api_admin.c: the admin APIs answered from this shard's image
 * (cluster/image.h) alone: DescribeCluster v0-1, DescribeTopicPartitions v0
 * (KIP-966) and ElectLeaders v0-2. The ones that need the partitions' own
 * state are in cluster/api_admin_parts.c.
 *
 * As in Metadata, this broker alone is the cluster, its controller and the
 * leader of every partition; there is no authorizer, so the authorized
 * operations asked for are every operation Kafka supports on the resource.
 *
 * DescribeTopicPartitions pages through topics sorted by name: at most
 * ResponsePartitionLimit partitions (1..SP_ADMIN_DTP_LIMIT_MAX) are
 * answered, starting at the Cursor (a topic and a partition of it), and
 * NextCursor says where the next page starts:
 *
 *   topics a(3) b(2) c(4), limit 4, no cursor:
 *     a0 a1 a2 b0          NextCursor b/1   (b did not fit)
 *   cursor b/1:
 *     b1 c0 c1 c2          NextCursor c/3
 *   cursor c/3:
 *     c3                   NextCursor null
 *
 * A page that ends exactly at the end of a topic points at the next topic
 * (partition 0) when there is one. Named topics that do not exist are
 * answered with an error and take no room in the page; when no topic is
 * named, every topic is listed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/controller.h"
#include "cluster/dispatch_impl.h"
#include "cluster/image.h"

/* Kafka's max.request.partition.size.limit default: the largest page. */
#define SP_ADMIN_DTP_LIMIT_MAX 2000

/*
 * Authorized operations without an authorizer (Kafka: every operation the
 * resource type supports), as a bit field of ACL operation codes.
 */
#define ACL_OP(code)     (1 << (code))
#define ACL_READ         3
#define ACL_WRITE        4
#define ACL_CREATE       5
#define ACL_DELETE       6
#define ACL_ALTER        7
#define ACL_DESCRIBE     8
#define ACL_CLUSTER_ACT  9
#define ACL_DESC_CONFIGS 10
#define ACL_ALT_CONFIGS  11
#define ACL_IDEMPOTENT   12
#define CLUSTER_OPS                                                                            \
    (ACL_OP(ACL_CREATE) | ACL_OP(ACL_ALTER) | ACL_OP(ACL_DESCRIBE) | ACL_OP(ACL_CLUSTER_ACT) | \
     ACL_OP(ACL_DESC_CONFIGS) | ACL_OP(ACL_ALT_CONFIGS) | ACL_OP(ACL_IDEMPOTENT))
#define TOPIC_OPS                                                                     \
    (ACL_OP(ACL_READ) | ACL_OP(ACL_WRITE) | ACL_OP(ACL_CREATE) | ACL_OP(ACL_DELETE) | \
     ACL_OP(ACL_ALTER) | ACL_OP(ACL_DESCRIBE) | ACL_OP(ACL_DESC_CONFIGS) |            \
     ACL_OP(ACL_ALT_CONFIGS))

#define ENDPOINT_BROKERS 1 /* DescribeCluster's EndpointType: 1 brokers, 2 controllers */

/* ElectLeaders' ElectionType. */
#define ELECTION_PREFERRED 0
#define ELECTION_UNCLEAN   1

static int str_cmp(struct sp_str x, struct sp_str y)
{
    int32_t n = SP_MIN(x.len, y.len);
    int c = n > 0 ? memcmp(x.ptr, y.ptr, (size_t)n) : 0;
    return c != 0 ? c : (x.len > y.len) - (x.len < y.len);
}

static bool name_internal(struct sp_str name)
{
    return sp_str_eq(name, sp_str_make("__consumer_offsets")) ||
           sp_str_eq(name, sp_str_make("__transaction_state"));
}

/* ---- DescribeCluster ------------------------------------------------------ */

int sp_api_describe_cluster(struct sp_api_call *call)
{
    const struct kproto_describe_cluster_request *req = call->body;
    struct kproto_describe_cluster_response *resp = call->resp;
    const struct sp_dispatch_params *p = call->params;
    resp->ClusterId = sp_str_make(p->cluster_id);
    resp->ControllerId = p->node_id;
    if (call->error != 0 || req == NULL) {
        resp->ErrorCode = call->error != 0 ? call->error : KERR_INVALID_REQUEST;
        return 0;
    }
    resp->ClusterAuthorizedOperations =
        req->IncludeClusterAuthorizedOperations ? CLUSTER_OPS : INT32_MIN;
    int8_t type = call->version >= 1 ? req->EndpointType : ENDPOINT_BROKERS;
    if (type != ENDPOINT_BROKERS) {
        /* A broker describes brokers; controllers answer for themselves (Kafka). */
        resp->ErrorCode = KERR_MISMATCHED_ENDPOINT_TYPE;
        resp->ErrorMessage = sp_str_make(type == 2 ? "The request was sent to an endpoint of type "
                                                     "BROKER, but we wanted an endpoint of type "
                                                     "CONTROLLER"
                                                   : "The request was sent to an endpoint of type "
                                                     "BROKER, but we wanted an endpoint of type "
                                                     "UNKNOWN");
        return 0;
    }
    const struct sp_listener_addr *adv = &p->advertised->addr[call->listener];
    struct kproto_describe_cluster_response_describe_cluster_broker *b =
        sp_arena_calloc(call->arena, 1, sizeof(*b));
    if (b == NULL) {
        return -ENOMEM;
    }
    b->BrokerId = p->node_id;
    b->Host = sp_str_make(adv->host);
    b->Port = adv->port;
    b->Rack.ptr = NULL;
    resp->EndpointType = ENDPOINT_BROKERS;
    resp->Brokers = b;
    resp->Brokers_count = 1;
    return 0;
}

/* ---- DescribeTopicPartitions ---------------------------------------------- */

typedef struct kproto_describe_topic_partitions_response_describe_topic_partitions_response_topic
    dtp_topic;
typedef struct
    kproto_describe_topic_partitions_response_describe_topic_partitions_response_partition dtp_part;

static int cmp_name(const void *a, const void *b)
{
    return str_cmp(*(const struct sp_str *)a, *(const struct sp_str *)b);
}

/* An answer without partitions (an error, or the whole request refused). */
static void dtp_error(dtp_topic *out, struct sp_str name, int16_t error)
{
    *out = (dtp_topic){.ErrorCode = error,
                       .Name = name,
                       .IsInternal = name_internal(name),
                       .TopicAuthorizedOperations = TOPIC_OPS};
}

static int dtp_refuse(struct sp_api_call *call, int16_t error)
{
    const struct kproto_describe_topic_partitions_request *req = call->body;
    struct kproto_describe_topic_partitions_response *resp = call->resp;
    int32_t n = req != NULL ? req->Topics_count : 0;
    if (n <= 0) {
        return 0;
    }
    dtp_topic *t = sp_arena_calloc(call->arena, (size_t)n, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        dtp_error(&t[i], req->Topics[i].Name, error);
        t[i].TopicAuthorizedOperations = INT32_MIN;
    }
    resp->Topics = t;
    resp->Topics_count = n;
    return 0;
}

/* Partitions [from, to) of t, into out. 0 or -ENOMEM. */
static int dtp_describe(struct sp_api_call *call, const struct sp_topic *t, int32_t from,
                        int32_t to, dtp_topic *out)
{
    int32_t n = to - from;
    dtp_part *p = sp_arena_calloc(call->arena, n > 0 ? (size_t)n : 1, sizeof(*p));
    int32_t *nodes = sp_arena_calloc(call->arena, n > 0 ? (size_t)n : 1, sizeof(*nodes));
    if (p == NULL || nodes == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        const struct sp_image_part *ip = &t->part[from + i];
        nodes[i] = ip->leader;
        p[i] = (dtp_part){
            .PartitionIndex = from + i,
            .LeaderId = ip->leader,
            .LeaderEpoch = ip->leader_epoch,
            .ReplicaNodes = &nodes[i],
            .ReplicaNodes_count = 1,
            .IsrNodes = &nodes[i],
            .IsrNodes_count = 1,
            .EligibleLeaderReplicas = nodes, /* empty, not null: no ELR without KIP-966's */
            .LastKnownElr = nodes,           /* feature on, as Kafka lists them then */
            .OfflineReplicas = nodes,
        };
    }
    struct sp_str name = {t->name, (int32_t)t->name_len};
    *out = (dtp_topic){.Name = name,
                       .IsInternal = t->internal,
                       .Partitions = p,
                       .Partitions_count = n,
                       .TopicAuthorizedOperations = TOPIC_OPS};
    memcpy(out->TopicId.b, t->id, 16);
    return 0;
}

/*
 * The names to describe, sorted, without duplicates, none before the
 * cursor's topic. Named ones when the request names any, else every topic.
 */
static int dtp_names(struct sp_api_call *call, struct sp_str **out, int32_t *count)
{
    const struct kproto_describe_topic_partitions_request *req = call->body;
    struct sp_str from = req->Cursor != NULL ? req->Cursor->TopicName : sp_str_make("");
    bool all = req->Topics_count <= 0;
    int32_t n = all ? (int32_t)sp_image_topic_count() : req->Topics_count;
    struct sp_str *names = sp_arena_calloc(call->arena, n > 0 ? (size_t)n : 1, sizeof(*names));
    if (names == NULL) {
        return -ENOMEM;
    }
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        struct sp_str name;
        if (all) {
            const struct sp_topic *t = sp_image_topic_at((uint32_t)i);
            name = (struct sp_str){t->name, (int32_t)t->name_len};
        } else {
            name = req->Topics[i].Name;
        }
        if (name.ptr != NULL && str_cmp(name, from) >= 0) {
            names[k++] = name;
        }
    }
    qsort(names, (size_t)k, sizeof(*names), cmp_name);
    int32_t u = 0;
    for (int32_t i = 0; i < k; i++) {
        if (u == 0 || !sp_str_eq(names[i], names[u - 1])) {
            names[u++] = names[i];
        }
    }
    *out = names;
    *count = u;
    return 0;
}

static int dtp_cursor(struct sp_api_call *call, struct sp_str name, int32_t partition)
{
    struct kproto_describe_topic_partitions_response *resp = call->resp;
    struct kproto_describe_topic_partitions_response_cursor *c =
        sp_arena_calloc(call->arena, 1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->TopicName = name;
    c->PartitionIndex = partition;
    resp->NextCursor = c;
    return 0;
}

int sp_api_describe_topic_partitions(struct sp_api_call *call)
{
    const struct kproto_describe_topic_partitions_request *req = call->body;
    struct kproto_describe_topic_partitions_response *resp = call->resp;
    if (call->error != 0 || req == NULL) {
        return dtp_refuse(call, call->error != 0 ? call->error : KERR_INVALID_REQUEST);
    }
    bool all = req->Topics_count <= 0;
    struct sp_str *names;
    int32_t n;
    int rc = dtp_names(call, &names, &n);
    if (rc < 0) {
        return rc;
    }
    const struct kproto_describe_topic_partitions_request_cursor *cur = req->Cursor;
    if (cur != NULL && !all &&
        (n == 0 || bsearch(&cur->TopicName, names, (size_t)n, sizeof(*names), cmp_name) == NULL)) {
        return dtp_refuse(call, KERR_INVALID_REQUEST); /* the cursor's topic must be named */
    }
    dtp_topic *topics = sp_arena_calloc(call->arena, n > 0 ? (size_t)n : 1, sizeof(*topics));
    if (topics == NULL) {
        return -ENOMEM;
    }
    int32_t room = SP_MAX(SP_MIN(req->ResponsePartitionLimit, SP_ADMIN_DTP_LIMIT_MAX), 1);
    int32_t k = 0;
    for (int32_t i = 0; i < n && rc == 0; i++) {
        if (room == 0) {
            rc = dtp_cursor(call, names[i], 0);
            break;
        }
        const struct sp_topic *t = sp_image_topic(names[i].ptr, (size_t)names[i].len);
        if (t == NULL) {
            if (!all) {
                char msg[160];
                int16_t bad = sp_ctl_topic_name_check(names[i], msg, sizeof(msg));
                dtp_error(&topics[k++], names[i], bad != 0 ? bad : KERR_UNKNOWN_TOPIC_OR_PARTITION);
            }
            continue;
        }
        int32_t from = cur != NULL && sp_str_eq(names[i], cur->TopicName) ? cur->PartitionIndex : 0;
        from = SP_MIN(SP_MAX(from, 0), t->partitions);
        int32_t to = (int32_t)SP_MIN((int64_t)from + room, (int64_t)t->partitions);
        rc = dtp_describe(call, t, from, to, &topics[k++]);
        if (rc == 0 && to < t->partitions) {
            rc = dtp_cursor(call, names[i], to);
            break;
        }
        room -= to - from;
    }
    resp->Topics = topics;
    resp->Topics_count = k;
    return rc;
}

/* ---- ElectLeaders ----------------------------------------------------------- */

typedef struct kproto_elect_leaders_response_replica_election_result el_topic;
typedef struct kproto_elect_leaders_response_partition_result el_part;

/* One named partition's answer: on a single node its leader is already the one wanted. */
static void el_answer(struct sp_api_call *call, struct sp_str topic, int32_t partition,
                      int16_t refused, el_part *out)
{
    *out = (el_part){.PartitionId = partition};
    if (refused != 0) {
        out->ErrorCode = refused;
        return;
    }
    const struct sp_topic *t =
        topic.ptr != NULL ? sp_image_topic(topic.ptr, (size_t)topic.len) : NULL;
    if (t != NULL && partition >= 0 && partition < t->partitions) {
        out->ErrorCode = KERR_ELECTION_NOT_NEEDED;
        return;
    }
    out->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    size_t cap = (size_t)topic.len + 48;
    char *msg = sp_arena_alloc(call->arena, cap);
    if (msg == NULL) {
        return; /* the message is optional */
    }
    if (t == NULL) {
        snprintf(msg, cap, "No such topic as %.*s", (int)topic.len, topic.ptr);
    } else {
        snprintf(msg, cap, "No such partition as %.*s-%d", (int)topic.len, topic.ptr,
                 (int)partition);
    }
    out->ErrorMessage = sp_str_make(msg);
}

int sp_api_elect_leaders(struct sp_api_call *call)
{
    const struct kproto_elect_leaders_request *req = call->body;
    struct kproto_elect_leaders_response *resp = call->resp;
    if (req == NULL) {
        resp->ErrorCode = call->error != 0 ? call->error : KERR_INVALID_REQUEST;
        return 0;
    }
    int16_t refused = call->error;
    int8_t type = call->version >= 1 ? req->ElectionType : ELECTION_PREFERRED;
    if (refused == 0 && type != ELECTION_PREFERRED && type != ELECTION_UNCLEAN) {
        refused = KERR_INVALID_REQUEST;
    }
    resp->ErrorCode = refused;
    /*
     * Null names every partition; Kafka then leaves out those that need no
     * election, which on a single node is all of them.
     */
    int32_t n = req->TopicPartitions_count;
    if (n <= 0) {
        return 0;
    }
    el_topic *topics = sp_arena_calloc(call->arena, (size_t)n, sizeof(*topics));
    if (topics == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        const struct kproto_elect_leaders_request_topic_partitions *rt = &req->TopicPartitions[i];
        int32_t np = SP_MAX(rt->Partitions_count, 0);
        el_part *parts = sp_arena_calloc(call->arena, np > 0 ? (size_t)np : 1, sizeof(*parts));
        if (parts == NULL) {
            return -ENOMEM;
        }
        for (int32_t j = 0; j < np; j++) {
            el_answer(call, rt->Topic, rt->Partitions[j], refused, &parts[j]);
        }
        topics[i] =
            (el_topic){.Topic = rt->Topic, .PartitionResult = parts, .PartitionResult_count = np};
    }
    resp->ReplicaElectionResults = topics;
    resp->ReplicaElectionResults_count = n;
    return 0;
}
