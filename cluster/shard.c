/* cluster/shard.c: a broker shard's storage, image, partitions and controller (shard.h). */
#include <errno.h>
#include <string.h>

#include "cluster/controller.h"
#include "cluster/part.h"
#include "cluster/shard.h"
#include "core/log.h"
#include "core/rx.h"
#include "storage/log.h"

/* How often the storage's own work runs (timed flushes, cache eviction, retention). */
#define SHARD_STORAGE_TICK_MS 10

static _Thread_local struct {
    struct sp_storage *st;
    struct sp_timer tick;
    bool part_ready;
    bool image_ready;
    bool ctl_started;
} sh;

struct sp_storage *sp_shard_storage(void)
{
    return sh.st;
}

static void storage_tick(struct sp_timer *t)
{
    sp_storage_tick(sh.st);
    (void)sp_rx_timer_start(t, SHARD_STORAGE_TICK_MS, storage_tick);
}

int sp_shard_start(const struct sp_shard_params *p)
{
    memset(&sh, 0, sizeof(sh));
    struct sp_storage_params sp;
    sp_storage_params_init(&sp, p->cfg);
    sp.io = sp_rx_io();
    int rc = sp_storage_create(&sh.st, &sp);
    if (rc < 0) {
        sp_log_error("cannot create the shard's storage: %s", strerror(-rc));
        return rc;
    }
    if ((rc = sp_image_init()) < 0 || (rc = sp_part_init(sh.st, p->log_dir)) < 0) {
        sp_log_error("out of memory for the shard's metadata");
        return rc;
    }
    sh.image_ready = sh.part_ready = true;
    const struct sp_image_records *rs = p->records;
    for (size_t i = 0; i < rs->count; i++) {
        sp_image_apply(&rs->r[i], rs->offset[i], sp_part_observer());
    }
    sp_part_open_pending();
    sp_log_debug("%u topics in the image, %u partitions open here", sp_image_topic_count(),
                 sp_part_count());
    if (sp_rx_shard_id() == 0) {
        rc = sp_ctl_start(sh.st, p->log_dir);
        if (rc < 0) {
            return rc;
        }
        sh.ctl_started = true;
    }
    rc = sp_rx_timer_start(&sh.tick, SHARD_STORAGE_TICK_MS, storage_tick);
    if (rc < 0) {
        return rc;
    }
    return 0;
}

void sp_shard_fini(void)
{
    sp_rx_timer_cancel(&sh.tick);
    if (sh.part_ready) {
        sp_part_close_all();
    }
    if (sh.ctl_started) {
        sp_ctl_fini();
    }
    if (sh.image_ready) {
        sp_image_fini();
    }
    if (sh.st != NULL) {
        sp_storage_destroy(sh.st);
    }
    memset(&sh, 0, sizeof(sh));
}
