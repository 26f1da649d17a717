/* PLACEHOLDER: cluster/api_offsets.c (OffsetCommit, OffsetFetch, OffsetDelete; see
 * cluster/group.h). */
#include <errno.h>

#include "cluster/group.h"

int sp_api_offset_commit(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

int sp_api_offset_fetch(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}

int sp_api_offset_delete(struct sp_api_call *call)
{
    (void)call;
    return -EOPNOTSUPP;
}
