/* PLACEHOLDER: client/group.c (the consumer group member); see client/spc.h. */
#include <errno.h>
#include <stddef.h>

#include "client/spc.h"

void spc_group_config_init(struct spc_group_config *gc)
{
    (void)gc;
}

int spc_group_new(struct spc_client *c, const struct spc_group_config *gc, struct spc_fetcher *f,
                  const char *const *topics, size_t topics_count, struct spc_group **out,
                  struct spc_error *err)
{
    (void)c;
    (void)gc;
    (void)f;
    (void)topics;
    (void)topics_count;
    (void)out;
    (void)err;
    return -ENOSYS;
}

bool spc_group_stable(const struct spc_group *g)
{
    (void)g;
    return false;
}

int spc_group_commit(struct spc_group *g, int timeout_ms, struct spc_error *err)
{
    (void)g;
    (void)timeout_ms;
    (void)err;
    return -ENOSYS;
}

void spc_group_free(struct spc_group *g, int timeout_ms)
{
    (void)g;
    (void)timeout_ms;
}
