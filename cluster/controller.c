/* PLACEHOLDER: being written; replaced by its owner. */
#include "cluster/controller.h"
#include "protocol/kproto.h"
void sp_ctl_create_topics(struct sp_ctl_create_topics *op) { for (int i = 0; i < op->count; i++) op->topics[i].error = KERR_UNKNOWN_SERVER_ERROR; op->done(op); }
void sp_ctl_delete_topics(struct sp_ctl_delete_topics *op) { for (int i = 0; i < op->count; i++) op->topics[i].error = KERR_UNKNOWN_SERVER_ERROR; op->done(op); }
void sp_ctl_add_partitions(struct sp_ctl_add_partitions *op) { for (int i = 0; i < op->count; i++) op->topics[i].error = KERR_UNKNOWN_SERVER_ERROR; op->done(op); }
void sp_ctl_producer_id(struct sp_ctl_producer_id *op) { op->error = KERR_UNKNOWN_SERVER_ERROR; op->done(op); }
