/* cluster/api_versions.c: ApiVersions, the APIs and versions this broker serves. */
#include "cluster/dispatch_impl.h"

int sp_api_versions(struct sp_api_call *call)
{
    struct kproto_api_versions_response *resp = call->resp;
    struct kproto_api_versions_response_api_version *keys =
        sp_arena_calloc(call->arena, (size_t)sp_api_handlers_count, sizeof(*keys));
    if (keys == NULL) {
        return -ENOMEM;
    }
    for (int i = 0; i < sp_api_handlers_count; i++) {
        keys[i].ApiKey = sp_api_handlers[i].key;
        keys[i].MinVersion = sp_api_handlers[i].min_version;
        keys[i].MaxVersion = sp_api_handlers[i].max_version;
    }
    resp->ErrorCode = call->error;
    resp->ApiKeys = keys;
    resp->ApiKeys_count = sp_api_handlers_count;
    /* No features are finalized yet: empty lists, epoch -1 (the default). */
    return 0;
}
