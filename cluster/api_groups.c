/* PLACEHOLDER: cluster/api_groups.c (FindCoordinator, DescribeGroups, ListGroups, DeleteGroups; see
 * cluster/group.h). */
#include <errno.h>

#include "cluster/group.h"
#include "protocol/gen/kerr.h"

int sp_api_find_coordinator(struct sp_api_call *call)
{
    struct kproto_find_coordinator_response *resp = call->resp;
    resp->ErrorCode = KERR_COORDINATOR_NOT_AVAILABLE;
    resp->NodeId = -1;
    return 0;
}

int sp_api_describe_groups(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

int sp_api_list_groups(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

int sp_api_delete_groups(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}
