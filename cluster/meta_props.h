/*
 * cluster/meta_props.h: the identity file in each log dir, meta.properties.
 *
 * Written at first start (and later by an explicit format command for
 * clusters), it ties a data directory to one cluster and one node:
 *
 *   version=1
 *   node.id=1
 *   cluster.id=<22 characters: a random UUID in URL-safe base64, as Kafka writes>
 *
 * On every later start the file is read back: a node.id that differs from
 * the configuration, or log dirs that belong to different clusters, stop the
 * broker with a message instead of mixing data. Start-up only (main thread,
 * blocking I/O); the file is replaced atomically (write, fsync, rename,
 * directory fsync).
 */
#ifndef SP_CLUSTER_META_PROPS_H
#define SP_CLUSTER_META_PROPS_H

#include <stdint.h>

#include "core/sp.h"

#define SP_CLUSTER_ID_LEN 22

struct sp_meta_props {
    int32_t node_id;
    char cluster_id[SP_CLUSTER_ID_LEN + 1];
};

/* A fresh random cluster id (URL-safe base64 of 16 random bytes, no padding). */
int sp_meta_new_cluster_id(char out[SP_CLUSTER_ID_LEN + 1]);

/* Reads dir/meta.properties. 0, -ENOENT when absent, -EINVAL with a reason in err. */
int sp_meta_props_read(const char *dir, struct sp_meta_props *out, char *err, size_t errlen);

/* Writes dir/meta.properties atomically. 0 or -errno. */
int sp_meta_props_write(const char *dir, const struct sp_meta_props *props);

/*
 * For every log dir in the comma-separated list: reads its meta.properties
 * or writes a new one, so that all agree on node_id and one cluster id
 * (a new one when no dir has any). Fills *out. 0 or -errno with err set.
 */
int sp_meta_props_ensure(const char *log_dirs, int32_t node_id, struct sp_meta_props *out,
                         char *err, size_t errlen);

#endif /* SP_CLUSTER_META_PROPS_H */
