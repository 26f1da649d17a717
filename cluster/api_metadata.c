/*
 * cluster/api_metadata.c: Metadata. This broker alone, as its listener
 * advertises it, is the cluster, its controller and the leader of
 * everything; no topic exists yet, so each requested one is answered
 * UNKNOWN_TOPIC_OR_PARTITION (or UNKNOWN_TOPIC_ID when asked by id).
 */
#include "cluster/dispatch_impl.h"

static int metadata_topics(const struct sp_api_call *call, struct kproto_metadata_response *resp)
{
    const struct kproto_metadata_request *req = call->body;
    if (req == NULL || req->Topics_count <= 0) {
        return 0; /* all topics (null, or empty before v1): there are none */
    }
    struct kproto_metadata_response_metadata_response_topic *topics =
        sp_arena_calloc(call->arena, (size_t)req->Topics_count, sizeof(*topics));
    if (topics == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_metadata_request_metadata_request_topic *rt = &req->Topics[i];
        struct kproto_metadata_response_metadata_response_topic *t = &topics[i];
        bool by_id = rt->Name.ptr == NULL;
        t->ErrorCode = call->error != 0 ? call->error
                       : by_id          ? KERR_UNKNOWN_TOPIC_ID
                                        : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        /* Before v12 the name cannot be null. */
        t->Name = by_id && call->version < 12 ? sp_str_make("") : rt->Name;
        t->TopicId = rt->TopicId;
        t->TopicAuthorizedOperations = INT32_MIN;
    }
    resp->Topics = topics;
    resp->Topics_count = req->Topics_count;
    return 0;
}

int sp_api_metadata(struct sp_api_call *call)
{
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
    return metadata_topics(call, resp);
}
