/*
 * cluster/api_topics.c: CreateTopics, DeleteTopics and CreatePartitions.
 *
 * Each handler checks what it can without the cluster's state (manual
 * replica assignments, the shape of the request), hands the rest to the
 * controller (cluster/controller.h) and answers in the controller's done,
 * on this shard. The controller's arrays are allocated from the request's
 * arena here, on the connection's shard, and lent to shard 0 until done;
 * entries that failed the local checks are not sent at all.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cluster/controller.h"
#include "cluster/dispatch_impl.h"
#include "cluster/image.h"

/* ConfigSource in CreateTopics v5+ (as DescribeConfigs numbers them). */
#define CFG_SOURCE_TOPIC         1
#define CFG_SOURCE_STATIC_BROKER 4
#define CFG_SOURCE_DEFAULT       5
#define CFG_VALUE_LEN_MAX        1024

static struct sp_str message_or_null(struct sp_arena *a, const char *msg)
{
    return msg[0] != '\0' ? sp_str_dup(a, msg) : sp_str_make(NULL);
}

/*
 * Checks one partition's manual replica list: this broker alone, once.
 * 0, or KERR_INVALID_REPLICA_ASSIGNMENT with a message.
 */
static int16_t check_replicas(const int32_t *ids, int32_t n, char *msg, size_t msglen)
{
    if (n <= 0) {
        snprintf(msg, msglen, "The manual partition assignment includes an empty replica list.");
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] != sp_image_node_id()) {
            snprintf(msg, msglen,
                     "The manual partition assignment includes broker %d, but no such broker is "
                     "registered.",
                     ids[i]);
            return KERR_INVALID_REPLICA_ASSIGNMENT;
        }
        if (i > 0) {
            snprintf(msg, msglen,
                     "The manual partition assignment includes the broker %d more than once.",
                     ids[i]);
            return KERR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    return 0;
}

/* ---- CreateTopics ------------------------------------------------------------ */

struct create_call {
    struct sp_api_call *call;
    struct sp_ctl_create_topics op;
    struct sp_ctl_topic *all; /* [Topics_count], the request's order */
    int32_t *map;             /* op.topics[k] is all[map[k]] */
};

/* What CreateTopics' manual assignments must look like; sets t's partitions and factor. */
static void create_check_assignment(const struct kproto_create_topics_request_creatable_topic *rt,
                                    struct sp_ctl_topic *t)
{
    if (rt->NumPartitions != -1 || rt->ReplicationFactor != -1) {
        t->error = KERR_INVALID_REQUEST;
        snprintf(t->message, sizeof(t->message),
                 "Both numPartitions or replicationFactor and replicasAssignments were set. Both "
                 "cannot be used at the same time.");
        return;
    }
    for (int32_t i = 0; i < rt->Assignments_count; i++) {
        const struct kproto_create_topics_request_creatable_replica_assignment *a =
            &rt->Assignments[i];
        bool seen = false;
        for (int32_t j = 0; j < rt->Assignments_count && !seen; j++) {
            seen = rt->Assignments[j].PartitionIndex == i;
        }
        if (!seen) {
            t->error = KERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(t->message, sizeof(t->message),
                     "Partitions should be 0-based and consecutive: partition %d is missing.", i);
            return;
        }
        t->error = check_replicas(a->BrokerIds, a->BrokerIds_count, t->message, sizeof(t->message));
        if (t->error != 0) {
            return;
        }
    }
    t->has_assignment = true;
    t->partitions = rt->Assignments_count;
    t->replication_factor = 1;
}

/* Fills one request topic's controller entry; a local failure sets its error. */
static int create_prepare(struct sp_arena *a,
                          const struct kproto_create_topics_request_creatable_topic *rt,
                          struct sp_ctl_topic *t)
{
    t->name = rt->Name;
    t->partitions = rt->NumPartitions;
    t->replication_factor = rt->ReplicationFactor;
    if (rt->Assignments_count > 0) {
        create_check_assignment(rt, t);
    }
    if (rt->Configs_count > 0) {
        struct sp_topic_cfg_kv *kv = sp_arena_calloc(a, (size_t)rt->Configs_count, sizeof(*kv));
        if (kv == NULL) {
            return -ENOMEM;
        }
        for (int32_t i = 0; i < rt->Configs_count; i++) {
            kv[i].key = sp_str_cstr(a, rt->Configs[i].Name);
            kv[i].value = sp_str_cstr(a, rt->Configs[i].Value);
            if (kv[i].key == NULL && t->error == 0) {
                t->error = KERR_INVALID_CONFIG;
                snprintf(t->message, sizeof(t->message), "A config name is null.");
            }
        }
        t->configs = kv;
        t->configs_count = (size_t)rt->Configs_count;
    }
    return 0;
}

/* Every topic config as the new topic resolves it (v5+). */
static int create_describe(struct sp_arena *a, const struct sp_ctl_topic *t,
                           struct kproto_create_topics_response_creatable_topic_result *r)
{
    const char *const *names;
    size_t n = sp_topic_cfg_names(&names);
    struct kproto_create_topics_response_creatable_topic_configs *c =
        sp_arena_calloc(a, n + 1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char buf[CFG_VALUE_LEN_MAX];
        int source = 2;
        if (sp_topic_cfg_describe(names[i], sp_image_broker_config(), t->configs, t->configs_count,
                                  buf, sizeof(buf), &source) < 0) {
            continue;
        }
        c[k].Name = sp_str_make(names[i]);
        c[k].Value = sp_str_dup(a, buf);
        c[k].ReadOnly = false;
        c[k].ConfigSource = source == 0   ? CFG_SOURCE_TOPIC
                            : source == 1 ? CFG_SOURCE_STATIC_BROKER
                                          : CFG_SOURCE_DEFAULT;
        c[k].IsSensitive = false;
        if (c[k].Value.ptr == NULL) {
            return -ENOMEM;
        }
        k++;
    }
    r->Configs = c;
    r->Configs_count = k;
    return 0;
}

static int create_respond(struct create_call *cc)
{
    struct sp_api_call *call = cc->call;
    const struct kproto_create_topics_request *req = call->body;
    struct kproto_create_topics_response *resp = call->resp;
    int32_t n = req != NULL ? req->Topics_count : 0;
    if (n <= 0) {
        return 0;
    }
    struct kproto_create_topics_response_creatable_topic_result *res =
        sp_arena_calloc(call->arena, (size_t)n, sizeof(*res));
    if (res == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        struct kproto_create_topics_response_creatable_topic_result *r = &res[i];
        const struct sp_ctl_topic *t = &cc->all[i];
        r->Name = req->Topics[i].Name;
        r->ErrorCode = call->error != 0 ? call->error : t->error;
        r->ErrorMessage =
            call->error != 0 ? sp_str_make(NULL) : message_or_null(call->arena, t->message);
        memcpy(r->TopicId.b, t->id, 16);
        r->NumPartitions = -1;
        r->ReplicationFactor = -1;
        r->Configs = NULL;
        r->Configs_count = -1;
        if (r->ErrorCode == 0) {
            r->NumPartitions = t->partitions_out;
            r->ReplicationFactor = t->replication_factor_out;
            if (call->version >= 5 && create_describe(call->arena, t, r) < 0) {
                return -ENOMEM;
            }
        }
    }
    resp->Topics = res;
    resp->Topics_count = n;
    return 0;
}

static void create_done(struct sp_ctl_create_topics *op)
{
    struct create_call *cc = op->priv;
    for (int32_t k = 0; k < op->count; k++) {
        cc->all[cc->map[k]] = op->topics[k];
    }
    sp_api_done(cc->call, create_respond(cc));
}

int sp_api_create_topics(struct sp_api_call *call)
{
    const struct kproto_create_topics_request *req = call->body;
    struct create_call *cc = sp_arena_calloc(call->arena, 1, sizeof(*cc));
    if (cc == NULL) {
        return -ENOMEM;
    }
    cc->call = call;
    int32_t n = req != NULL ? SP_MAX(req->Topics_count, 0) : 0;
    cc->all = sp_arena_calloc(call->arena, (size_t)n + 1, sizeof(*cc->all));
    struct sp_ctl_topic *pass = sp_arena_calloc(call->arena, (size_t)n + 1, sizeof(*pass));
    cc->map = sp_arena_calloc(call->arena, (size_t)n + 1, sizeof(*cc->map));
    if (cc->all == NULL || pass == NULL || cc->map == NULL) {
        return -ENOMEM;
    }
    if (call->error != 0) {
        return create_respond(cc);
    }
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (create_prepare(call->arena, &req->Topics[i], &cc->all[i]) < 0) {
            return -ENOMEM;
        }
        if (cc->all[i].error == 0) {
            pass[m] = cc->all[i];
            cc->map[m++] = i;
        }
    }
    if (m == 0) {
        return create_respond(cc);
    }
    cc->op = (struct sp_ctl_create_topics){.topics = pass,
                                           .count = m,
                                           .validate_only = req->validateOnly,
                                           .done = create_done,
                                           .priv = cc};
    sp_ctl_create_topics(&cc->op);
    return SP_API_PENDING;
}

/* ---- DeleteTopics -------------------------------------------------------------- */

struct delete_call {
    struct sp_api_call *call;
    struct sp_ctl_delete_topics op;
    struct sp_ctl_delete_topic *all;
    int32_t *map;
    int32_t n;
};

static int delete_respond(struct delete_call *dc)
{
    struct sp_api_call *call = dc->call;
    struct kproto_delete_topics_response *resp = call->resp;
    if (dc->n <= 0) {
        return 0;
    }
    struct kproto_delete_topics_response_deletable_topic_result *res =
        sp_arena_calloc(call->arena, (size_t)dc->n, sizeof(*res));
    if (res == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < dc->n; i++) {
        const struct sp_ctl_delete_topic *d = &dc->all[i];
        struct kproto_delete_topics_response_deletable_topic_result *r = &res[i];
        r->ErrorCode = call->error != 0 ? call->error : d->error;
        r->ErrorMessage =
            call->error != 0 ? sp_str_make(NULL) : message_or_null(call->arena, d->message);
        if (d->name.ptr != NULL) {
            r->Name = d->name;
        } else if (d->name_out[0] != '\0') {
            r->Name = sp_str_dup(call->arena, d->name_out);
        } else {
            /* Asked by an id nobody knows: the name is null (v6+), "" before. */
            r->Name = call->version >= 6 ? sp_str_make(NULL) : sp_str_make("");
        }
        memcpy(r->TopicId.b, d->error == 0 || d->name.ptr == NULL ? d->id_out : d->id, 16);
    }
    resp->Responses = res;
    resp->Responses_count = dc->n;
    return 0;
}

static void delete_done(struct sp_ctl_delete_topics *op)
{
    struct delete_call *dc = op->priv;
    for (int32_t k = 0; k < op->count; k++) {
        dc->all[dc->map[k]] = op->topics[k];
    }
    sp_api_done(dc->call, delete_respond(dc));
}

/* Reads the request's names (v0-5) or names and ids (v6) into dc->all. */
static void delete_read(const struct kproto_delete_topics_request *req, int16_t version,
                        struct delete_call *dc)
{
    for (int32_t i = 0; i < dc->n; i++) {
        struct sp_ctl_delete_topic *d = &dc->all[i];
        if (version < 6) {
            d->name = req->TopicNames[i];
            if (d->name.ptr == NULL) {
                d->name = sp_str_make("");
            }
            continue;
        }
        const struct kproto_delete_topics_request_delete_topic_state *s = &req->Topics[i];
        bool has_id = !kproto_uuid_is_zero(&s->TopicId);
        d->name = s->Name;
        memcpy(d->id, s->TopicId.b, 16);
        if (s->Name.ptr != NULL && has_id) {
            d->error = KERR_INVALID_REQUEST;
            snprintf(d->message, sizeof(d->message),
                     "You may not specify both topic name and topic id.");
        } else if (s->Name.ptr == NULL && !has_id) {
            d->error = KERR_INVALID_REQUEST;
            snprintf(d->message, sizeof(d->message), "Neither topic name nor id were specified.");
        }
    }
}

int sp_api_delete_topics(struct sp_api_call *call)
{
    const struct kproto_delete_topics_request *req = call->body;
    struct delete_call *dc = sp_arena_calloc(call->arena, 1, sizeof(*dc));
    if (dc == NULL) {
        return -ENOMEM;
    }
    dc->call = call;
    if (req != NULL) {
        dc->n = call->version >= 6 ? req->Topics_count : req->TopicNames_count;
        dc->n = SP_MAX(dc->n, 0);
    }
    dc->all = sp_arena_calloc(call->arena, (size_t)dc->n + 1, sizeof(*dc->all));
    struct sp_ctl_delete_topic *pass =
        sp_arena_calloc(call->arena, (size_t)dc->n + 1, sizeof(*pass));
    dc->map = sp_arena_calloc(call->arena, (size_t)dc->n + 1, sizeof(*dc->map));
    if (dc->all == NULL || pass == NULL || dc->map == NULL) {
        return -ENOMEM;
    }
    if (call->error != 0) {
        /* Unsupported version: echo what could be read, each with the error. */
        if (req != NULL) {
            delete_read(req, call->version, dc);
        }
        return delete_respond(dc);
    }
    delete_read(req, call->version, dc);
    int32_t m = 0;
    for (int32_t i = 0; i < dc->n; i++) {
        if (dc->all[i].error == 0) {
            pass[m] = dc->all[i];
            dc->map[m++] = i;
        }
    }
    if (m == 0) {
        return delete_respond(dc);
    }
    dc->op =
        (struct sp_ctl_delete_topics){.topics = pass, .count = m, .done = delete_done, .priv = dc};
    sp_ctl_delete_topics(&dc->op);
    return SP_API_PENDING;
}

/* ---- CreatePartitions ---------------------------------------------------------- */

struct add_call {
    struct sp_api_call *call;
    struct sp_ctl_add_partitions op;
    struct sp_ctl_add_partitions_topic *all;
    int32_t *map;
    int32_t n;
};

static int add_respond(struct add_call *ac)
{
    struct sp_api_call *call = ac->call;
    const struct kproto_create_partitions_request *req = call->body;
    struct kproto_create_partitions_response *resp = call->resp;
    if (ac->n <= 0) {
        return 0;
    }
    struct kproto_create_partitions_response_create_partitions_topic_result *res =
        sp_arena_calloc(call->arena, (size_t)ac->n, sizeof(*res));
    if (res == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < ac->n; i++) {
        const struct sp_ctl_add_partitions_topic *a = &ac->all[i];
        res[i].Name = req->Topics[i].Name;
        res[i].ErrorCode = call->error != 0 ? call->error : a->error;
        res[i].ErrorMessage =
            call->error != 0 ? sp_str_make(NULL) : message_or_null(call->arena, a->message);
    }
    resp->Results = res;
    resp->Results_count = ac->n;
    return 0;
}

static void add_done(struct sp_ctl_add_partitions *op)
{
    struct add_call *ac = op->priv;
    for (int32_t k = 0; k < op->count; k++) {
        ac->all[ac->map[k]] = op->topics[k];
    }
    sp_api_done(ac->call, add_respond(ac));
}

/* Manual assignments for the new partitions: as many as are added, each this broker. */
static void
add_check_assignment(const struct kproto_create_partitions_request_create_partitions_topic *rt,
                     struct sp_ctl_add_partitions_topic *a)
{
    a->has_assignment = true;
    const struct sp_topic *t =
        rt->Name.ptr != NULL ? sp_image_topic(rt->Name.ptr, (size_t)rt->Name.len) : NULL;
    if (t != NULL && rt->Count > t->partitions &&
        rt->Assignments_count != rt->Count - t->partitions) {
        a->error = KERR_INVALID_REPLICA_ASSIGNMENT;
        snprintf(a->message, sizeof(a->message),
                 "Attempted to add %d additional partition(s), but only %d assignment(s) were "
                 "specified.",
                 rt->Count - t->partitions, rt->Assignments_count);
        return;
    }
    for (int32_t i = 0; i < rt->Assignments_count && a->error == 0; i++) {
        a->error = check_replicas(rt->Assignments[i].BrokerIds, rt->Assignments[i].BrokerIds_count,
                                  a->message, sizeof(a->message));
    }
}

int sp_api_create_partitions(struct sp_api_call *call)
{
    const struct kproto_create_partitions_request *req = call->body;
    struct add_call *ac = sp_arena_calloc(call->arena, 1, sizeof(*ac));
    if (ac == NULL) {
        return -ENOMEM;
    }
    ac->call = call;
    ac->n = req != NULL ? SP_MAX(req->Topics_count, 0) : 0;
    ac->all = sp_arena_calloc(call->arena, (size_t)ac->n + 1, sizeof(*ac->all));
    struct sp_ctl_add_partitions_topic *pass =
        sp_arena_calloc(call->arena, (size_t)ac->n + 1, sizeof(*pass));
    ac->map = sp_arena_calloc(call->arena, (size_t)ac->n + 1, sizeof(*ac->map));
    if (ac->all == NULL || pass == NULL || ac->map == NULL) {
        return -ENOMEM;
    }
    if (call->error != 0) {
        return add_respond(ac);
    }
    int32_t m = 0;
    for (int32_t i = 0; i < ac->n; i++) {
        const struct kproto_create_partitions_request_create_partitions_topic *rt = &req->Topics[i];
        struct sp_ctl_add_partitions_topic *a = &ac->all[i];
        a->name = rt->Name;
        a->count = rt->Count;
        if (rt->Assignments != NULL && rt->Assignments_count >= 0) {
            add_check_assignment(rt, a);
        }
        if (a->error == 0) {
            pass[m] = *a;
            ac->map[m++] = i;
        }
    }
    if (m == 0) {
        return add_respond(ac);
    }
    ac->op = (struct sp_ctl_add_partitions){.topics = pass,
                                            .count = m,
                                            .validate_only = req->ValidateOnly,
                                            .done = add_done,
                                            .priv = ac};
    sp_ctl_add_partitions(&ac->op);
    return SP_API_PENDING;
}
