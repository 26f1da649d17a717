/* PLACEHOLDER: being written; replaced by its owner. */
#include <errno.h>
#include "cluster/dispatch_impl.h"
int sp_api_list_offsets(struct sp_api_call *call) { (void)call; return -ENOSYS; }
