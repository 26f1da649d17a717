/* PLACEHOLDER: client/fetcher.c (the fetcher; see client/spc.h). */
#include <errno.h>
#include <string.h>

#include "client/spc.h"

void spc_fetcher_config_init(struct spc_fetcher_config *fc)
{
    memset(fc, 0, sizeof(*fc));
}

int spc_fetcher_new(struct spc_client *c, const struct spc_fetcher_config *fc, spc_message_fn fn,
                    void *ctx, struct spc_fetcher **out, struct spc_error *err)
{
    (void)c;
    (void)fc;
    (void)fn;
    (void)ctx;
    (void)err;
    *out = NULL;
    return -ENOSYS;
}

int spc_fetcher_assign(struct spc_fetcher *f, const char *topic, int32_t partition, int64_t offset)
{
    (void)f;
    (void)topic;
    (void)partition;
    (void)offset;
    return -ENOSYS;
}

int spc_fetcher_unassign(struct spc_fetcher *f, const char *topic, int32_t partition)
{
    (void)f;
    (void)topic;
    (void)partition;
    return -ENOSYS;
}

int64_t spc_fetcher_position(const struct spc_fetcher *f, const char *topic, int32_t partition)
{
    (void)f;
    (void)topic;
    (void)partition;
    return -1;
}

int64_t spc_fetcher_high_watermark(const struct spc_fetcher *f, const char *topic,
                                   int32_t partition)
{
    (void)f;
    (void)topic;
    (void)partition;
    return -1;
}

void spc_fetcher_free(struct spc_fetcher *f)
{
    (void)f;
}
