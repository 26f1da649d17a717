/* PLACEHOLDER: being written; replaced by its owner. */
#include <errno.h>
#include "cluster/dispatch_impl.h"
int sp_api_produce(struct sp_api_call *call) { (void)call; return -ENOSYS; }
int sp_api_init_producer_id(struct sp_api_call *call) { (void)call; return -ENOSYS; }
