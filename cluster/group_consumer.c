/* PLACEHOLDER: cluster/group_consumer.c (the KIP-848 consumer group protocol; see cluster/group.h).
 */
#include <errno.h>

#include "cluster/group.h"
#include "protocol/gen/kerr.h"

int sp_api_consumer_group_heartbeat(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

int sp_api_consumer_group_describe(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

void sp_group_consumer_replay(struct sp_group *g, int16_t key_version, const void *key,
                              const void *value)
{
    (void)g;
    (void)key_version;
    (void)key;
    (void)value;
}

void sp_group_consumer_loaded(struct sp_group *g)
{
    (void)g;
}

void sp_group_consumer_free(struct sp_group *g, int16_t err)
{
    (void)g;
    (void)err;
}

int16_t sp_group_consumer_commit_check(struct sp_group *g, struct sp_str member_id,
                                       int32_t member_epoch)
{
    (void)g;
    (void)member_id;
    (void)member_epoch;
    return KERR_UNKNOWN_MEMBER_ID;
}

bool sp_group_consumer_subscribed(const struct sp_group *g, struct sp_str topic)
{
    (void)g;
    (void)topic;
    return false;
}

uint32_t sp_group_consumer_members(const struct sp_group *g)
{
    (void)g;
    return 0;
}

int sp_group_consumer_describe_classic(const struct sp_group *g, struct sp_arena *a,
                                       void *described)
{
    (void)g;
    (void)a;
    (void)described;
    return 0;
}
