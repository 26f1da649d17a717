/*
 * cluster/shard.h: a broker shard's state beyond the network: its storage,
 * its metadata image, the partitions placed on it and, on shard 0, the
 * controller. The composition root (cluster/main.c) calls these from the
 * reactor's hooks (core/rx.h):
 *
 *   init      sp_shard_start()   storage, image replayed from the loaded
 *                                records, this shard's logs opened, and on
 *                                shard 0 the metadata log and controller
 *   stopping  (net stops first)
 *   fini      sp_shard_fini()    logs closed (producer state snapshotted),
 *                                metadata log, storage
 *
 * Threads: each call on the shard it is about.
 */
#ifndef SP_CLUSTER_SHARD_H
#define SP_CLUSTER_SHARD_H

#include <stdint.h>

#include "cluster/image.h"

struct sp_config;
struct sp_storage;

struct sp_shard_params {
    const struct sp_config *cfg;            /* borrowed for the run */
    const char *log_dir;                    /* the first log dir; borrowed for the run */
    const struct sp_image_records *records; /* the loaded metadata; read during init only */
};

/* On each shard, from its init hook. 0, or -errno with a log line. Blocking. */
int sp_shard_start(const struct sp_shard_params *p);
/* On each shard, from its fini hook. Blocking. */
void sp_shard_fini(void);

/* This shard's storage (NULL before sp_shard_start). */
struct sp_storage *sp_shard_storage(void);

#endif /* SP_CLUSTER_SHARD_H */
