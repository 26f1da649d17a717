/* PLACEHOLDER: client/admin.c (blocking admin calls); see client/spc.h. */
#include <errno.h>
#include <stddef.h>

#include "client/spc.h"

int spc_admin_create_topics(struct spc_client *c, const struct spc_new_topic *topics, size_t n,
                            bool validate_only, int timeout_ms, struct spc_item_result *results,
                            struct spc_error *err)
{
    (void)c;
    (void)topics;
    (void)n;
    (void)validate_only;
    (void)timeout_ms;
    (void)results;
    (void)err;
    return -ENOSYS;
}

int spc_admin_delete_topics(struct spc_client *c, const char *const *names, size_t n,
                            int timeout_ms, struct spc_item_result *results, struct spc_error *err)
{
    (void)c;
    (void)names;
    (void)n;
    (void)timeout_ms;
    (void)results;
    (void)err;
    return -ENOSYS;
}

int spc_admin_create_partitions(struct spc_client *c, const char *topic, int32_t total_partitions,
                                bool validate_only, int timeout_ms, struct spc_item_result *result,
                                struct spc_error *err)
{
    (void)c;
    (void)topic;
    (void)total_partitions;
    (void)validate_only;
    (void)timeout_ms;
    (void)result;
    (void)err;
    return -ENOSYS;
}

int spc_admin_list_offsets(struct spc_client *c, const char *topic, const int32_t *partitions,
                           size_t n, int64_t timestamp, int timeout_ms, struct spc_offset *out,
                           struct spc_error *err)
{
    (void)c;
    (void)topic;
    (void)partitions;
    (void)n;
    (void)timestamp;
    (void)timeout_ms;
    (void)out;
    (void)err;
    return -ENOSYS;
}

int spc_admin_partition_sizes(struct spc_client *c, const char *topic, const int32_t *partitions,
                              size_t n, int timeout_ms, int64_t *sizes, struct spc_error *err)
{
    (void)c;
    (void)topic;
    (void)partitions;
    (void)n;
    (void)timeout_ms;
    (void)sizes;
    (void)err;
    return -ENOSYS;
}

int spc_admin_describe_configs(struct spc_client *c, int8_t resource_type, const char *resource,
                               const char *const *names, size_t names_count, int timeout_ms,
                               struct sp_arena *a, struct spc_config_value **out, size_t *count,
                               struct spc_error *err)
{
    (void)c;
    (void)resource_type;
    (void)resource;
    (void)names;
    (void)names_count;
    (void)timeout_ms;
    (void)a;
    (void)out;
    (void)count;
    (void)err;
    return -ENOSYS;
}

int spc_admin_alter_configs(struct spc_client *c, int8_t resource_type, const char *resource,
                            const struct spc_config_change *changes, size_t n, bool validate_only,
                            int timeout_ms, struct spc_item_result *result, struct spc_error *err)
{
    (void)c;
    (void)resource_type;
    (void)resource;
    (void)changes;
    (void)n;
    (void)validate_only;
    (void)timeout_ms;
    (void)result;
    (void)err;
    return -ENOSYS;
}

int spc_admin_list_groups(struct spc_client *c, int timeout_ms, struct sp_arena *a,
                          struct spc_group_listing **out, size_t *count, struct spc_error *err)
{
    (void)c;
    (void)timeout_ms;
    (void)a;
    (void)out;
    (void)count;
    (void)err;
    return -ENOSYS;
}

int spc_admin_describe_group(struct spc_client *c, const char *group, int timeout_ms,
                             struct sp_arena *a, struct spc_group_description *out,
                             struct spc_error *err)
{
    (void)c;
    (void)group;
    (void)timeout_ms;
    (void)a;
    (void)out;
    (void)err;
    return -ENOSYS;
}

int spc_admin_delete_groups(struct spc_client *c, const char *const *groups, size_t n,
                            int timeout_ms, struct spc_item_result *results, struct spc_error *err)
{
    (void)c;
    (void)groups;
    (void)n;
    (void)timeout_ms;
    (void)results;
    (void)err;
    return -ENOSYS;
}

int spc_admin_fetch_offsets(struct spc_client *c, const char *group, const char *const *topics,
                            size_t topics_count, int timeout_ms, struct sp_arena *a,
                            struct spc_group_offset **out, size_t *count, struct spc_error *err)
{
    (void)c;
    (void)group;
    (void)topics;
    (void)topics_count;
    (void)timeout_ms;
    (void)a;
    (void)out;
    (void)count;
    (void)err;
    return -ENOSYS;
}

int spc_admin_commit_offsets(struct spc_client *c, const char *group,
                             struct spc_group_offset *offsets, size_t n, int timeout_ms,
                             struct spc_error *err)
{
    (void)c;
    (void)group;
    (void)offsets;
    (void)n;
    (void)timeout_ms;
    (void)err;
    return -ENOSYS;
}
