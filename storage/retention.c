/*
 * storage/retention.c: deleting whole old segments in the background.
 *
 * The oldest inactive segment goes when all of it is below the log start
 * (DeleteRecords), when its newest timestamp is older than retention.ms, or
 * when the log without it is still at least retention.bytes. Only segments
 * wholly below the high watermark go, one at a time: it leaves the log's
 * segment list at once (reads in flight keep it alive until they end), then
 * its files are unlinked and the directory is synced. A crash in between
 * leaves files that the next open removes or that retention deletes again.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/log.h"
#include "storage/log_impl.h"

static void delete_done(struct st_job *job, int res)
{
    struct sp_plog *log = job->log;
    struct sp_segment *seg = log->del_seg;
    log->del_seg = NULL;
    if (seg->reads_inflight == 0) {
        st_segment_free(seg);
    }
    if (res < 0) {
        st_log_fail(log, res, "segment deletion");
    }
}

static const char *reason(const struct sp_plog *log, const struct sp_segment *seg, uint64_t total,
                          int64_t now_ms)
{
    if (seg->next_offset <= log->log_start) {
        return "log start offset";
    }
    if (log->opts.retention_ms >= 0 && seg->max_timestamp >= 0 &&
        seg->max_timestamp < now_ms - log->opts.retention_ms) {
        return "retention.ms";
    }
    if (log->opts.retention_bytes >= 0 &&
        total - seg->size >= (uint64_t)log->opts.retention_bytes) {
        return "retention.bytes";
    }
    return NULL;
}

int sp_plog_retention_run(struct sp_plog *log, int64_t now_ms)
{
    if (log->err || log->del_job.busy || log->rolling || log->nsegs < 2 || st_compact_holds(log)) {
        return 0;
    }
    struct sp_segment *seg = log->segs[0];
    const char *why = reason(log, seg, sp_plog_size_bytes(log), now_ms);
    if (why == NULL || seg->next_offset > log->hw) {
        return 0;
    }
    memmove(log->segs, log->segs + 1, sizeof(*log->segs) * (log->nsegs - 1));
    log->nsegs--;
    log->log_start = SP_MAX(log->log_start, log->segs[0]->base_offset);
    st_cache_drop_below(log, log->log_start);
    st_lru_remove(log->st, seg);
    seg->deleted = true;
    if (seg->reads_inflight == 0 && seg->fd >= 0) {
        sp_io_close_sync(log->st->io, seg->fd);
        seg->fd = -1;
    }
    sp_log_info("storage: %s: deleting segment %" PRId64 " (%" PRIu64 " bytes) by %s", log->dir,
                seg->base_offset, seg->size, why);
    struct st_job *job = &log->del_job;
    st_job_init(job, log);
    job->ignore_enoent = true;
    st_seg_path(job->paths[0], log, seg->base_offset, ".log");
    st_seg_path(job->paths[1], log, seg->base_offset, ".index");
    st_seg_path(job->paths[2], log, seg->base_offset, ".timeindex");
    for (uint8_t i = 0; i < 3; i++) {
        st_job_add(job, (struct st_step){.kind = ST_STEP_UNLINK, .path_i = i});
    }
    st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
    log->del_seg = seg;
    st_job_start(job, delete_done);
    return 1;
}
