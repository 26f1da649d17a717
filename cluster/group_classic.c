/* PLACEHOLDER: cluster/group_classic.c (the classic group protocol; see cluster/group.h). */
#include <errno.h>

#include "cluster/group.h"
#include "protocol/gen/kerr.h"

int sp_api_join_group(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

int sp_api_sync_group(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

int sp_api_heartbeat(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

int sp_api_leave_group(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

void sp_group_classic_replay(struct sp_group *g, const void *group_metadata_value)
{
    (void)g;
    (void)group_metadata_value;
}

void sp_group_classic_loaded(struct sp_group *g)
{
    (void)g;
}

void sp_group_classic_free(struct sp_group *g, int16_t err)
{
    (void)g;
    (void)err;
}

int16_t sp_group_classic_commit_check(struct sp_group *g, struct sp_str member_id,
                                      struct sp_str instance_id, int32_t generation)
{
    (void)g;
    (void)member_id;
    (void)instance_id;
    (void)generation;
    return KERR_UNKNOWN_MEMBER_ID;
}

bool sp_group_classic_subscribed(const struct sp_group *g, struct sp_str topic)
{
    (void)g;
    (void)topic;
    return false;
}

uint32_t sp_group_classic_members(const struct sp_group *g)
{
    (void)g;
    return 0;
}

int sp_group_classic_describe(const struct sp_group *g, struct sp_arena *a, void *described)
{
    (void)g;
    (void)a;
    (void)described;
    return 0;
}
