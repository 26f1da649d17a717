/* PLACEHOLDER: cluster/group.c (groups table, routing, records, store; see cluster/group.h). */
#include <errno.h>
#include <time.h>

#include "cluster/group.h"
#include "protocol/gen/kerr.h"

const char *sp_group_state_name(enum sp_group_state s)
{
    static const char *const names[] = {
        "Empty", "PreparingRebalance", "CompletingRebalance", "Stable",
        "Dead",  "Assigning",          "Reconciling"};
    return (unsigned)s < SP_ARRAY_LEN(names) ? names[s] : "Unknown";
}

const char *sp_group_type_name(enum sp_group_type t)
{
    return t == SP_GROUP_CONSUMER ? "consumer" : "classic";
}

int32_t sp_group_partition(const char *id, size_t len, int32_t partitions)
{
    uint32_t h = 0;
    for (size_t i = 0; i < len; i++) {
        h = 31 * h + (uint8_t)id[i];
    }
    int32_t s = (int32_t)h;
    return (s == INT32_MIN ? 0 : s < 0 ? -s : s) % partitions;
}

int16_t sp_group_route(struct sp_str id, uint16_t *shard, int32_t *partition)
{
    (void)id;
    (void)shard;
    (void)partition;
    return KERR_COORDINATOR_NOT_AVAILABLE;
}

int16_t sp_group_lookup(struct sp_str id, bool create, struct sp_group **out)
{
    (void)id;
    (void)create;
    *out = NULL;
    return KERR_NOT_COORDINATOR;
}

void sp_group_ref(struct sp_group *g)
{
    g->refs++;
}

void sp_group_unref(struct sp_group *g)
{
    g->refs--;
}

void sp_group_remove(struct sp_group *g)
{
    g->removed = true;
}

void sp_group_each(void (*fn)(void *ctx, struct sp_group *g), void *ctx)
{
    (void)fn;
    (void)ctx;
}

int64_t sp_group_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const struct sp_group_offset *sp_group_offset_get(const struct sp_group *g, struct sp_str topic,
                                                  int32_t partition)
{
    (void)g;
    (void)topic;
    (void)partition;
    return NULL;
}

int sp_group_offset_apply(struct sp_group *g, struct sp_str topic, int32_t partition,
                          const struct sp_group_offset *value)
{
    (void)g;
    (void)topic;
    (void)partition;
    (void)value;
    return -ENOMEM;
}

int sp_group_rec_encode(struct sp_arena *a, int16_t key_version, const void *key,
                        int16_t value_version, const void *value, struct sp_group_rec *out)
{
    (void)a;
    (void)key_version;
    (void)key;
    (void)value_version;
    (void)value;
    (void)out;
    return -EINVAL;
}

int16_t sp_group_store(struct sp_group *g, const struct sp_group_rec *recs, size_t n,
                       struct sp_group_write *w)
{
    (void)g;
    (void)recs;
    (void)n;
    (void)w;
    return KERR_COORDINATOR_NOT_AVAILABLE;
}

int16_t sp_group_delete(struct sp_group *g, struct sp_group_write *w)
{
    (void)g;
    (void)w;
    return KERR_COORDINATOR_NOT_AVAILABLE;
}

void sp_group_part_open(struct sp_part *p)
{
    (void)p;
}

void sp_group_part_close(struct sp_part *p)
{
    (void)p;
}
