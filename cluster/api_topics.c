/* PLACEHOLDER: being written; replaced by its owner. */
#include <errno.h>
#include "cluster/dispatch_impl.h"
int sp_api_create_topics(struct sp_api_call *call) { (void)call; return -ENOSYS; }
int sp_api_delete_topics(struct sp_api_call *call) { (void)call; return -ENOSYS; }
int sp_api_create_partitions(struct sp_api_call *call) { (void)call; return -ENOSYS; }
