/* PLACEHOLDER: client/producer.c (the batching producer; see client/spc.h). */
#include <errno.h>
#include <string.h>

#include "client/spc.h"

void spc_producer_config_init(struct spc_producer_config *pc)
{
    memset(pc, 0, sizeof(*pc));
}

int spc_producer_new(struct spc_client *c, const struct spc_producer_config *pc,
                     struct spc_producer **out, struct spc_error *err)
{
    (void)c;
    (void)pc;
    (void)err;
    *out = NULL;
    return -ENOSYS;
}

int spc_produce(struct spc_producer *p, const char *topic, int32_t partition,
                const struct spc_record *r, spc_delivery_fn fn, void *opaque, struct spc_error *err)
{
    (void)p;
    (void)topic;
    (void)partition;
    (void)r;
    (void)fn;
    (void)opaque;
    (void)err;
    return -ENOSYS;
}

int spc_producer_flush(struct spc_producer *p, int timeout_ms)
{
    (void)p;
    (void)timeout_ms;
    return -ENOSYS;
}

uint64_t spc_producer_pending(const struct spc_producer *p)
{
    (void)p;
    return 0;
}

void spc_producer_free(struct spc_producer *p)
{
    (void)p;
}

int32_t spc_partition_for_key(struct sp_slice key, int32_t partitions)
{
    (void)key;
    (void)partitions;
    return 0;
}
