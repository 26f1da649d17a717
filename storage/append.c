/*
 * storage/append.c: the write path of a log. Appends, the write-behind
 * chunks, fallocate ahead, group-committed flushes, segment rolls, the
 * offsets (written, durable, high watermark) and the epoch cache.
 *
 * Write-behind rules (DESIGN.md section 5):
 *   - a chunk is ST_BLOCK aligned in memory and in the file; a write always
 *     covers the chunk from its start to its length rounded up to a block,
 *     with zeros after the data;
 *   - a chunk with a write in flight takes no more bytes: the next append
 *     starts a new chunk at the partial tail block, with that block's bytes
 *     copied, so the old buffer never changes under the kernel;
 *   - a chunk is written only when no write in flight overlaps its blocks
 *     (only its predecessor can: by the copied tail block);
 *   - a full chunk is written once; the partial tail is rewritten as it
 *     grows, carrying the same bytes for what was already there, so a torn
 *     rewrite never damages data that was already written.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "storage/log_impl.h"

static struct sp_segment *active(const struct sp_plog *log)
{
    return log->segs[log->nsegs - 1];
}

/* ---- Failure ------------------------------------------------------------ */

static void fail_waiters(struct sp_plog_append **head, struct sp_plog_append **tail, int err)
{
    while (*head) {
        struct sp_plog_append *a = *head;
        *head = a->next;
        if (*head == NULL) {
            *tail = NULL;
        }
        a->done(a, err);
    }
}

void st_log_fail(struct sp_plog *log, int err, const char *what)
{
    if (err >= 0) {
        err = -EIO;
    }
    if (log->err == 0) {
        log->err = err;
        sp_log_error("storage: partition %s offline: %s failed: %s (KAFKA_STORAGE_ERROR until "
                     "reopened)",
                     log->dir, what, strerror(-err));
    }
    fail_waiters(&log->wait_written, &log->wait_written_tail, -EIO);
    fail_waiters(&log->wait_durable, &log->wait_durable_tail, -EIO);
}

/* ---- Offsets ------------------------------------------------------------ */

static void wake(struct sp_plog_append **head, struct sp_plog_append **tail, int64_t upto)
{
    while (*head && (*head)->last_offset < upto) {
        struct sp_plog_append *a = *head;
        *head = a->next;
        if (*head == NULL) {
            *tail = NULL;
        }
        a->done(a, 0);
    }
}

void st_offsets_update(struct sp_plog *log)
{
    int64_t old = log->hw;
    int64_t hw;
    if (log->opts.hw_external) {
        hw = SP_MIN(log->hw_external, log->written);
    } else if (log->st->p.hw_durable) {
        hw = log->durable;
    } else {
        hw = log->written;
    }
    hw = SP_MAX(hw, log->log_start);
    if (hw > log->hw) {
        log->hw = hw;
    }
    SP_ASSERT_HOT(log->durable <= log->written && log->written <= log->next_offset);
    wake(&log->wait_written, &log->wait_written_tail, log->written);
    wake(&log->wait_durable, &log->wait_durable_tail, log->durable);
    if (log->hw != old && log->on_hw) {
        log->on_hw(log->on_hw_ctx, log, log->hw);
    }
}

static bool flush_wanted(const struct sp_plog *log)
{
    const struct sp_storage *st = log->st;
    int64_t msgs =
        log->opts.flush_messages > 0 ? log->opts.flush_messages : st->p.flush_interval_messages;
    return log->wait_durable != NULL || (st->p.hw_durable && !log->opts.hw_external) ||
           (msgs > 0 && log->written - log->durable >= msgs);
}

/* ---- Flush (group commit) ----------------------------------------------- */

static void flush_done(struct sp_io_op *op, int32_t res, uint32_t flags);
static void roll_continue(struct sp_plog *log);

void st_flush_request(struct sp_plog *log)
{
    struct sp_storage *st = log->st;
    if (log->err || log->written <= log->durable) {
        return;
    }
    if (log->flush_inflight) {
        log->flush_again = true;
        return;
    }
    if (!active(log)->ready) {
        return; /* the roll makes the old segment durable and asks again */
    }
    if (st->flushes_inflight >= st->p.flushes_inflight_max) {
        if (!log->flush_queued) {
            log->flush_queued = true;
            log->flush_next = NULL;
            if (st->flush_tail) {
                st->flush_tail->flush_next = log;
            } else {
                st->flush_head = log;
            }
            st->flush_tail = log;
        }
        return;
    }
    log->flush_inflight = true;
    st->flushes_inflight++;
    log->flush_target = log->written;
    log->unflushed_messages = 0;
    log->unflushed_since_ns = 0;
    log->flush_op.done = flush_done;
    sp_io_fsync(st->io, &log->flush_op, active(log)->fd, true);
}

static void flush_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct sp_plog *log = sp_container_of(op, struct sp_plog, flush_op);
    struct sp_storage *st = log->st;
    (void)flags;
    log->flush_inflight = false;
    st->flushes_inflight--;
    st->stats.flushes++;
    if (res < 0) {
        st_log_fail(log, res, "fdatasync");
    } else {
        log->durable = SP_MAX(log->durable, log->flush_target);
        st_offsets_update(log);
        if (log->flush_again || (log->written > log->durable && flush_wanted(log))) {
            log->flush_again = false;
            st_flush_request(log);
        }
        if (log->rolling) {
            roll_continue(log);
        }
    }
    while (st->flush_head && st->flushes_inflight < st->p.flushes_inflight_max) {
        struct sp_plog *next = st->flush_head;
        st->flush_head = next->flush_next;
        if (st->flush_head == NULL) {
            st->flush_tail = NULL;
        }
        next->flush_queued = false;
        st_flush_request(next);
    }
}

void sp_plog_flush(struct sp_plog *log)
{
    st_flush_request(log);
}

/* ---- Chunks ------------------------------------------------------------- */

static struct st_chunk *chunk_new(struct sp_plog *log, struct sp_segment *seg, uint64_t file_off)
{
    struct sp_storage *st = log->st;
    struct st_chunk *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->buf = st->chunk_pool_n > 0 ? st->chunk_pool[--st->chunk_pool_n]
                                  : st_aligned_alloc(st->p.chunk_bytes);
    if (c->buf == NULL) {
        free(c);
        return NULL;
    }
    c->cap = st->p.chunk_bytes;
    c->log = log;
    c->seg = seg;
    c->file_off = file_off;
    st->wbuf_bytes += c->cap;
    if (log->chunks_tail) {
        log->chunks_tail->next = c;
    } else {
        log->chunks = c;
    }
    log->chunks_tail = c;
    return c;
}

static void chunk_free_head(struct sp_plog *log)
{
    struct st_chunk *c = log->chunks;
    log->chunks = c->next;
    if (log->chunks == NULL) {
        log->chunks_tail = NULL;
    }
    struct sp_storage *st = log->st;
    st->wbuf_bytes -= c->cap;
    if (st->chunk_pool_n < st->chunk_pool_cap) {
        st->chunk_pool[st->chunk_pool_n++] = c->buf;
    } else {
        free(c->buf);
    }
    free(c);
}

void st_chunks_free(struct sp_plog *log)
{
    while (log->chunks) {
        SP_ASSERT(!log->chunks->inflight);
        chunk_free_head(log);
    }
}

static void readback_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct sp_plog *log = sp_container_of(op, struct sp_plog, readback_op);
    (void)flags;
    log->readback_inflight = false;
    struct st_chunk *c = log->chunks;
    SP_ASSERT(c && c->need_readback);
    uint32_t keep = c->written_len;
    if (res >= 0 && (uint32_t)res < keep) {
        res = -EIO; /* the file is shorter than recovery found it */
    }
    if (res < 0) {
        free(log->readback_buf);
        log->readback_buf = NULL;
        st_log_fail(log, res, "read back of the tail block");
        return;
    }
    memcpy(c->buf, log->readback_buf, keep);
    free(log->readback_buf);
    log->readback_buf = NULL;
    c->need_readback = false;
    st_write_kick(log);
}

/*
 * The chunk that takes the next bytes of seg, creating it when the tail chunk
 * is full, in flight or of another segment. NULL on ENOMEM.
 */
static struct st_chunk *chunk_for_append(struct sp_plog *log, struct sp_segment *seg)
{
    struct st_chunk *t = log->chunks_tail;
    if (t && t->seg == seg && !t->sealed && !t->inflight && t->len < t->cap) {
        return t;
    }
    uint64_t end = seg->size; /* file position of the next byte */
    uint64_t off = end & ~(uint64_t)(ST_BLOCK - 1);
    uint32_t tail = (uint32_t)(end - off);
    struct st_chunk *c = chunk_new(log, seg, off);
    if (c == NULL) {
        return NULL;
    }
    if (t && t->seg == seg) {
        t->sealed = true;
        if (tail > 0) {
            /* The partial block continues in the new chunk (double-buffered tail). */
            SP_ASSERT(t->file_off + t->len == end && t->len >= tail);
            memcpy(c->buf, t->buf + t->len - tail, tail);
        }
        c->len = tail;
        c->written_len = tail; /* counted once its predecessor's write completes */
    } else if (tail > 0) {
        /* Reopened (or truncated) segment: the old bytes of the block are on disk only. */
        c->len = tail;
        c->written_len = tail;
        c->need_readback = true;
        log->readback_buf = st_aligned_alloc(ST_BLOCK);
        if (log->readback_buf == NULL) {
            return NULL;
        }
        log->readback_inflight = true;
        log->readback_op.done = readback_done;
        sp_io_read(log->st->io, &log->readback_op, seg->fd, log->readback_buf, ST_BLOCK, off);
    }
    return c;
}

/* Copies n bytes to the end of seg through the write-behind chunks. */
static int put(struct sp_plog *log, struct sp_segment *seg, const uint8_t *src, uint32_t n)
{
    while (n > 0) {
        struct st_chunk *c = chunk_for_append(log, seg);
        if (c == NULL) {
            return -ENOMEM;
        }
        uint32_t m = SP_MIN(n, c->cap - c->len);
        memcpy(c->buf + c->len, src, m);
        c->len += m;
        seg->size += m;
        log->stream_appended += m;
        src += m;
        n -= m;
    }
    return 0;
}

/* ---- Writes ------------------------------------------------------------- */

static void roll_continue(struct sp_plog *log);

static void falloc_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct sp_plog *log = sp_container_of(op, struct sp_plog, falloc_op);
    (void)flags;
    log->falloc_inflight = false;
    if (log->falloc_seg != active(log)) {
        /* The segment rolled meanwhile; the new one starts from nothing reserved. */
    } else if (res == -EOPNOTSUPP || res == -EINVAL) {
        log->alloc_end = UINT64_MAX; /* the filesystem cannot reserve: write without */
    } else if (res < 0) {
        st_log_fail(log, res, "fallocate");
    } else {
        log->alloc_end = log->falloc_op.off + log->falloc_op.len;
    }
    if (log->rolling && log->err == 0) {
        roll_continue(log);
    }
}

static void falloc_ahead(struct sp_plog *log, uint64_t end)
{
    struct sp_storage *st = log->st;
    uint64_t step = st->p.fallocate_step_bytes;
    if (step == 0 || log->falloc_inflight || end + step / 2 <= log->alloc_end ||
        log->alloc_end == UINT64_MAX) {
        return;
    }
    uint64_t from = SP_MAX(log->alloc_end, end & ~(uint64_t)(ST_BLOCK - 1));
    /* Never reserve past the size at which the segment rolls. */
    uint64_t limit = SP_ALIGN_UP((uint64_t)log->opts.segment_bytes, (uint64_t)ST_BLOCK);
    if (from >= limit) {
        return;
    }
    uint64_t len = SP_MIN(step, limit - from);
    log->falloc_inflight = true;
    log->falloc_seg = active(log);
    log->falloc_op.done = falloc_done;
    sp_io_fallocate(st->io, &log->falloc_op, active(log)->fd, 0, from, len);
}

/* Frees head chunks whose bytes are all written and that take no more. */
static void chunks_reap(struct sp_plog *log)
{
    struct st_chunk *c;
    while ((c = log->chunks) && !c->inflight && !c->need_readback && c->written_len == c->len &&
           (c->sealed || c->len == c->cap || c != log->chunks_tail)) {
        chunk_free_head(log);
    }
}

static void advance_written(struct sp_plog *log)
{
    struct st_chunk *c;
    chunks_reap(log);
    uint64_t ws = log->stream_appended;
    if ((c = log->chunks) != NULL) {
        ws = c->seg->stream_start + c->file_off + c->written_len;
    }
    int64_t w = log->written;
    while (log->pend_n > 0 && log->pend[log->pend_head].stream_end <= ws) {
        w = log->pend[log->pend_head].next_offset;
        log->pend_head = (log->pend_head + 1) % log->pend_cap;
        log->pend_n--;
    }
    if (w > log->written) {
        log->written = w;
        st_offsets_update(log);
        if (flush_wanted(log)) {
            st_flush_request(log);
        }
    }
}

static void chunk_write_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct st_chunk *c = sp_container_of(op, struct st_chunk, op);
    struct sp_plog *log = c->log;
    (void)flags;
    c->inflight = false;
    log->writes_inflight--;
    if (res >= 0 && (uint32_t)res != SP_ALIGN_UP(c->inflight_len, ST_BLOCK)) {
        res = -EIO;
    }
    if (res < 0) {
        st_log_fail(log, res, "segment write");
        return;
    }
    c->written_len = c->inflight_len;
    log->last_write_ns = sp_io_now_ns(log->st->io);
    advance_written(log);
    if (log->err == 0) {
        st_write_kick(log);
        if (log->rolling) {
            roll_continue(log);
        }
    }
}

void st_write_kick(struct sp_plog *log)
{
    struct sp_storage *st = log->st;
    struct st_chunk *prev = NULL;
    if (log->err) {
        return;
    }
    for (struct st_chunk *c = log->chunks; c; prev = c, c = c->next) {
        if (log->writes_inflight >= st->p.writes_inflight_max) {
            break;
        }
        if (!c->seg->ready) {
            break; /* a new segment's file is not created yet */
        }
        if (c->inflight || c->need_readback || c->written_len == c->len) {
            continue;
        }
        /*
         * A chunk that may still grow is written only when the pipeline is
         * idle: under load the tail gathers bytes while full chunks are
         * written, and an idle log still writes its tail at once.
         */
        if (!c->sealed && c->len < c->cap && log->writes_inflight > 0) {
            continue;
        }
        if (prev && prev->inflight && prev->seg == c->seg &&
            prev->file_off + SP_ALIGN_UP(prev->inflight_len, ST_BLOCK) > c->file_off) {
            continue;
        }
        uint32_t wlen = SP_ALIGN_UP(c->len, ST_BLOCK);
        memset(c->buf + c->len, 0, wlen - c->len);
        if (c->seg == active(log)) {
            falloc_ahead(log, c->file_off + wlen);
        }
        c->inflight = true;
        c->inflight_len = c->len;
        st->stats.writes++;
        st->stats.write_bytes += wlen;
        log->writes_inflight++;
        c->op.done = chunk_write_done;
        sp_io_write(st->io, &c->op, c->seg->fd, c->buf, wlen, c->file_off);
    }
}

/* ---- Indexes and epochs ------------------------------------------------- */

static bool grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) {
        return true;
    }
    uint32_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need) {
        ncap *= 2;
    }
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (p == NULL) {
        return false;
    }
    *arr = p;
    *cap = ncap;
    return true;
}

void st_segment_index_add(struct sp_plog *log, struct sp_segment *seg, const struct sp_seg_batch *b,
                          uint64_t pos)
{
    uint32_t rel = (uint32_t)(b->base_offset - seg->base_offset);
    if (seg->idx_n == 0 || seg->bytes_since_index >= (uint64_t)log->opts.index_interval_bytes) {
        if (grow((void **)&seg->idx, &seg->idx_cap, seg->idx_n + 1, sizeof(*seg->idx))) {
            seg->idx[seg->idx_n++] = (struct sp_index_entry){rel, (uint32_t)pos};
        }
        if (b->max_timestamp > seg->max_timestamp &&
            grow((void **)&seg->tidx, &seg->tidx_cap, seg->tidx_n + 1, sizeof(*seg->tidx))) {
            seg->tidx[seg->tidx_n++] = (struct sp_tindex_entry){b->max_timestamp, rel};
        }
        seg->bytes_since_index = 0;
    }
    seg->bytes_since_index += b->size;
    seg->max_timestamp = SP_MAX(seg->max_timestamp, b->max_timestamp);
}

void st_epoch_assign(struct sp_plog *log, int32_t epoch, int64_t offset)
{
    if (epoch < 0 || (log->nepochs > 0 && log->epochs[log->nepochs - 1].epoch >= epoch)) {
        return;
    }
    if (log->nepochs == ST_EPOCHS_MAX) {
        memmove(log->epochs, log->epochs + 1, sizeof(*log->epochs) * (log->nepochs - 1));
        log->nepochs--;
    }
    if (!grow((void **)&log->epochs, &log->epochs_cap, log->nepochs + 1, sizeof(*log->epochs))) {
        return;
    }
    log->epochs[log->nepochs++] = (struct sp_epoch_entry){epoch, offset};
    log->epochs_dirty = true;
}

void sp_plog_set_leader_epoch(struct sp_plog *log, int32_t epoch)
{
    log->epoch = epoch;
}

void sp_plog_set_options(struct sp_plog *log, const struct sp_plog_options *o)
{
    bool hw_external = log->opts.hw_external;
    log->opts = *o;
    log->opts.hw_external = hw_external;
}

int sp_plog_epoch_end_offset(const struct sp_plog *log, int32_t epoch, int32_t *epoch_out,
                             int64_t *end_offset_out)
{
    long found = -1;
    for (uint32_t i = 0; i < log->nepochs; i++) {
        if (log->epochs[i].epoch <= epoch) {
            found = (long)i;
        }
    }
    if (found < 0) {
        return -ENOENT;
    }
    *epoch_out = log->epochs[found].epoch;
    *end_offset_out =
        (uint32_t)found + 1 < log->nepochs ? log->epochs[found + 1].start_offset : log->next_offset;
    return 0;
}

/* ---- Metadata files (leader epochs, log start) -------------------------- */

static void meta_done(struct st_job *job, int res)
{
    struct sp_plog *log = job->log;
    if (res < 0) {
        st_log_fail(log, res, "metadata checkpoint");
        return;
    }
    if (log->meta_pending) {
        log->meta_pending = false;
        st_meta_write(log);
    }
}

void st_meta_write(struct sp_plog *log)
{
    struct st_job *job = &log->meta_job;
    if (log->err) {
        return;
    }
    if (job->busy) {
        log->meta_pending = true;
        return;
    }
    st_job_init(job, log);
    size_t cap = 64 + (size_t)log->nepochs * 40;
    char *buf = malloc(cap + 64);
    if (buf == NULL) {
        st_log_fail(log, -ENOMEM, "metadata checkpoint");
        return;
    }
    job->owned = buf;
    int n = sp_epoch_ckpt_format(buf, cap, log->epochs, log->nepochs);
    SP_ASSERT(n > 0);
    int m = snprintf(buf + cap, 64, "%" PRId64 "\n", log->log_start);
    st_path(job->paths[0], log, "leader-epoch-checkpoint.tmp");
    st_path(job->paths[1], log, "leader-epoch-checkpoint");
    st_path(job->paths[2], log, "log-start-offset.tmp");
    st_path(job->paths[3], log, "log-start-offset");
    const int cflags = O_WRONLY | O_CREAT | O_TRUNC;
    for (int f = 0; f < 2; f++) {
        st_job_add(job, (struct st_step){
                            .kind = ST_STEP_OPEN, .path_i = (uint8_t)(f * 2), .flags = cflags});
        st_job_add(job, (struct st_step){.kind = ST_STEP_WRITE,
                                         .buf = f == 0 ? buf : buf + cap,
                                         .len = (uint32_t)(f == 0 ? n : m)});
        st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC});
        st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE});
        st_job_add(job, (struct st_step){.kind = ST_STEP_RENAME,
                                         .path_i = (uint8_t)(f * 2),
                                         .path2_i = (uint8_t)(f * 2 + 1)});
    }
    st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
    log->epochs_dirty = false;
    log->log_start_dirty = false;
    st_job_start(job, meta_done);
}

/* ---- Roll ----------------------------------------------------------------- */

/* Encodes a segment's indexes for its files (owned buffer, NULL on ENOMEM). */
static uint8_t *index_bytes(const struct sp_segment *seg, uint32_t *ilen, uint32_t *tlen)
{
    *ilen = seg->idx_n * SP_INDEX_ENTRY_BYTES;
    *tlen = seg->tidx_n * SP_TINDEX_ENTRY_BYTES;
    uint8_t *b = malloc((size_t)*ilen + *tlen + 1);
    if (b == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; i < seg->idx_n; i++) {
        sp_index_entry_put(b + (size_t)i * SP_INDEX_ENTRY_BYTES, &seg->idx[i]);
    }
    for (uint32_t i = 0; i < seg->tidx_n; i++) {
        sp_tindex_entry_put(b + *ilen + (size_t)i * SP_TINDEX_ENTRY_BYTES, &seg->tidx[i]);
    }
    return b;
}

/* Adds steps that write seg's .index and .timeindex (no fsync: they are rebuilt if bad). */
int st_job_add_index_writes(struct st_job *job, struct sp_segment *seg, bool fsync_them)
{
    uint32_t ilen, tlen;
    uint8_t *b = index_bytes(seg, &ilen, &tlen);
    if (b == NULL) {
        return -ENOMEM;
    }
    job->owned = b;
    st_seg_path(job->paths[0], job->log, seg->base_offset, ".index");
    st_seg_path(job->paths[1], job->log, seg->base_offset, ".timeindex");
    const int cflags = O_WRONLY | O_CREAT | O_TRUNC;
    for (int f = 0; f < 2; f++) {
        uint32_t len = f == 0 ? ilen : tlen;
        st_job_add(job,
                   (struct st_step){.kind = ST_STEP_OPEN, .path_i = (uint8_t)f, .flags = cflags});
        if (len > 0) {
            st_job_add(job, (struct st_step){
                                .kind = ST_STEP_WRITE, .buf = f == 0 ? b : b + ilen, .len = len});
        }
        if (fsync_them) {
            st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC});
        }
        st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE});
    }
    return 0;
}

/* Keeps at most ST_IDX_MEM_MAX entries of an inactive segment's indexes in memory. */
void st_segment_index_sample(struct sp_segment *seg)
{
    if (seg->idx_n > ST_IDX_MEM_MAX) {
        uint32_t stride = (seg->idx_n + ST_IDX_MEM_MAX - 1) / ST_IDX_MEM_MAX, k = 0;
        for (uint32_t i = 0; i < seg->idx_n; i += stride) {
            seg->idx[k++] = seg->idx[i];
        }
        seg->idx_n = k;
    }
    if (seg->tidx_n > ST_IDX_MEM_MAX) {
        uint32_t stride = (seg->tidx_n + ST_IDX_MEM_MAX - 1) / ST_IDX_MEM_MAX, k = 0;
        for (uint32_t i = 0; i < seg->tidx_n; i += stride) {
            seg->tidx[k++] = seg->tidx[i];
        }
        seg->tidx_n = k;
    }
    struct sp_index_entry *i2 = realloc(seg->idx, sizeof(*seg->idx) * SP_MAX(seg->idx_n, 1u));
    if (i2) {
        seg->idx = i2;
        seg->idx_cap = SP_MAX(seg->idx_n, 1u);
    }
    struct sp_tindex_entry *t2 = realloc(seg->tidx, sizeof(*seg->tidx) * SP_MAX(seg->tidx_n, 1u));
    if (t2) {
        seg->tidx = t2;
        seg->tidx_cap = SP_MAX(seg->tidx_n, 1u);
    }
}

static void roll_done(struct st_job *job, int res)
{
    struct sp_plog *log = job->log;
    struct sp_segment *old = log->roll_seg, *seg = NULL;
    log->roll_seg = NULL;
    for (uint32_t i = 0; i + 1 < log->nsegs; i++) {
        if (log->segs[i] == old) {
            seg = log->segs[i + 1];
        }
    }
    SP_ASSERT(seg != NULL);
    if (res < 0) {
        st_log_fail(log, res, "segment roll");
        return;
    }
    old->synced = true;
    seg->fd = res;
    seg->ready = true;
    if (seg == active(log)) {
        log->alloc_end = 0;
    }
    log->durable = SP_MAX(log->durable, old->next_offset);
    st_segment_index_sample(old);
    st_lru_touch(log->st, old);
    st_lru_trim(log->st);
    sp_log_debug("storage: %s rolled at offset %" PRId64, log->dir, seg->base_offset);
    st_offsets_update(log);
    roll_continue(log);
    st_write_kick(log);
    if (log->written > log->durable && flush_wanted(log)) {
        st_flush_request(log);
    }
}

/*
 * Seals the oldest segment that is sealed but not synced, once its chunks
 * are all written, then creates its successor's file.
 */
static void roll_continue(struct sp_plog *log)
{
    chunks_reap(log);
    if (log->roll_job.busy || log->err) {
        return;
    }
    struct sp_segment *old = NULL;
    for (uint32_t i = log->nsegs - 1; i-- > 0;) {
        if (!log->segs[i]->sealed || log->segs[i]->synced) {
            break;
        }
        old = log->segs[i];
    }
    log->rolling = old != NULL;
    if (old == NULL || (log->chunks && log->chunks->seg == old) ||
        (log->falloc_inflight && log->falloc_seg == old) || log->readback_inflight ||
        log->flush_inflight) {
        return;
    }
    struct sp_segment *seg = NULL;
    for (uint32_t i = 0; i + 1 < log->nsegs; i++) {
        if (log->segs[i] == old) {
            seg = log->segs[i + 1];
        }
    }
    int r = sp_io_ftruncate_sync(log->st->io, old->fd, old->size);
    if (r < 0) {
        st_log_fail(log, r, "truncate of a rolled segment");
        return;
    }
    struct st_job *job = &log->roll_job;
    st_job_init(job, log);
    st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC_EXT, .flags = old->fd});
    r = st_job_add_index_writes(job, old, false);
    if (r < 0) {
        st_log_fail(log, r, "segment roll");
        return;
    }
    st_seg_path(job->paths[2], log, seg->base_offset, ".log");
    st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN,
                                     .path_i = 2,
                                     .flags = O_RDWR | O_CREAT | O_EXCL | st_open_flags(log->st)});
    st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_KEEP_FD});
    log->roll_seg = old;
    st_job_start(job, roll_done);
}

static int roll_begin(struct sp_plog *log)
{
    struct sp_segment *old = active(log);
    struct sp_segment *seg = st_segment_new(log->next_offset, log->stream_appended);
    if (seg == NULL) {
        return -ENOMEM;
    }
    if (log->nsegs == log->segs_cap &&
        !grow((void **)&log->segs, &log->segs_cap, log->nsegs + 1, sizeof(*log->segs))) {
        st_segment_free(seg);
        return -ENOMEM;
    }
    seg->created_ms = st_now_ms(log->st);
    log->segs[log->nsegs++] = seg;
    old->sealed = true;
    old->next_offset = log->next_offset;
    if (log->chunks_tail && log->chunks_tail->seg == old) {
        log->chunks_tail->sealed = true;
    }
    log->rolling = true;
    roll_continue(log);
    return 0;
}

static bool roll_due(const struct sp_plog *log, uint32_t len, int64_t last)
{
    const struct sp_segment *seg = active(log);
    if (seg->size == 0) {
        return false;
    }
    if (seg->size + len > (uint64_t)log->opts.segment_bytes) {
        return true;
    }
    if (last - seg->base_offset > INT32_MAX || seg->size + len > UINT32_MAX) {
        return true; /* relative offsets and positions must fit the index */
    }
    return log->opts.segment_ms >= 0 &&
           st_now_ms(log->st) - seg->created_ms >= (uint64_t)log->opts.segment_ms;
}

/* ---- Append ------------------------------------------------------------- */

static int validate(struct sp_plog *log, const uint8_t *buf, size_t len, bool replica,
                    int64_t *next_out)
{
    int64_t next = log->next_offset;
    size_t at = 0;
    if (len == 0 || len > UINT32_MAX) {
        return -EBADMSG;
    }
    while (at < len) {
        struct sp_seg_batch b;
        int r = sp_seg_batch_peek(buf + at, len - at, &b);
        /* Produce batches had their CRC checked by the protocol decoder. */
        if (r != 1 || b.size > len - at || (replica && !sp_seg_batch_crc_ok(buf + at, &b))) {
            return -EBADMSG;
        }
        if (replica && b.base_offset != next) {
            return -EINVAL;
        }
        next += b.last_offset - b.base_offset + 1;
        at += b.size;
    }
    *next_out = next;
    return 0;
}

static bool budget_ok(const struct sp_plog *log, size_t len)
{
    const struct sp_storage *st = log->st;
    if (log->chunks == NULL) {
        return true; /* one append always fits, so a single huge batch cannot deadlock */
    }
    uint64_t need = SP_ALIGN_UP((uint64_t)len, (uint64_t)st->p.chunk_bytes) + st->p.chunk_bytes;
    return st->wbuf_bytes + need <= st->p.write_buffer_bytes_max;
}

static void pend_push(struct sp_plog *log)
{
    if (log->pend_n == log->pend_cap) {
        uint32_t cap = log->pend_cap ? log->pend_cap * 2 : 16;
        struct st_pend *p = malloc(sizeof(*p) * cap);
        SP_ASSERT(p != NULL); /* small, and there is no way to undo the append here */
        for (uint32_t i = 0; i < log->pend_n; i++) {
            p[i] = log->pend[(log->pend_head + i) % log->pend_cap];
        }
        free(log->pend);
        log->pend = p;
        log->pend_cap = cap;
        log->pend_head = 0;
    }
    log->pend[(log->pend_head + log->pend_n) % log->pend_cap] =
        (struct st_pend){log->stream_appended, log->next_offset};
    log->pend_n++;
}

static void enqueue(struct sp_plog_append **head, struct sp_plog_append **tail,
                    struct sp_plog_append *a)
{
    a->next = NULL;
    if (*tail) {
        (*tail)->next = a;
    } else {
        *head = a;
    }
    *tail = a;
}

static int append(struct sp_plog *log, struct sp_plog_append *a, const uint8_t *buf, size_t len,
                  bool replica)
{
    int64_t next;
    if (log->err) {
        return -EIO;
    }
    int r = validate(log, buf, len, replica, &next);
    if (r < 0) {
        return r;
    }
    if (!budget_ok(log, len)) {
        return -ENOBUFS;
    }
    if (roll_due(log, (uint32_t)len, next - 1)) {
        r = roll_begin(log);
        if (r < 0) {
            return r;
        }
    }
    struct sp_segment *seg = active(log);
    a->base_offset = log->next_offset;
    for (size_t at = 0; at < len;) {
        struct sp_seg_batch b;
        sp_seg_batch_peek(buf + at, len - at, &b);
        uint8_t hdr[SP_BATCH_OFF_MAGIC + 1];
        memcpy(hdr, buf + at, sizeof(hdr));
        int64_t base = log->next_offset, count = b.last_offset - b.base_offset + 1;
        if (!replica) {
            sp_be64_put(hdr + SP_BATCH_OFF_BASE_OFFSET, (uint64_t)base);
            if (log->epoch >= 0) {
                sp_be32_put(hdr + SP_BATCH_OFF_EPOCH, (uint32_t)log->epoch);
                b.leader_epoch = log->epoch;
            }
        }
        st_epoch_assign(log, b.leader_epoch, base);
        b.base_offset = base;
        b.last_offset = base + count - 1;
        st_segment_index_add(log, seg, &b, seg->size);
        r = put(log, seg, hdr, sizeof(hdr));
        if (r == 0) {
            r = put(log, seg, buf + at + sizeof(hdr), b.size - (uint32_t)sizeof(hdr));
        }
        if (r < 0) {
            st_log_fail(log, r, "append"); /* half a batch in the buffer cannot be undone */
            return -EIO;
        }
        st_cache_insert(log, hdr, sizeof(hdr), buf + at + sizeof(hdr),
                        b.size - (uint32_t)sizeof(hdr), base, b.last_offset);
        log->next_offset = b.last_offset + 1;
        seg->next_offset = log->next_offset;
        at += b.size;
    }
    a->last_offset = log->next_offset - 1;
    pend_push(log);
    if (log->epochs_dirty) {
        st_meta_write(log);
    }
    log->unflushed_messages += log->next_offset - a->base_offset;
    if (log->unflushed_since_ns == 0) {
        log->unflushed_since_ns = sp_io_now_ns(log->st->io);
    }
    if (a->ack == SP_PLOG_ACK_WRITTEN) {
        enqueue(&log->wait_written, &log->wait_written_tail, a);
    } else if (a->ack == SP_PLOG_ACK_DURABLE) {
        enqueue(&log->wait_durable, &log->wait_durable_tail, a);
    }
    st_write_kick(log);
    return 0;
}

int sp_plog_append(struct sp_plog *log, struct sp_plog_append *a, const uint8_t *batches,
                   size_t len)
{
    return append(log, a, batches, len, false);
}

int sp_plog_append_replica(struct sp_plog *log, struct sp_plog_append *a, const uint8_t *batches,
                           size_t len)
{
    return append(log, a, batches, len, true);
}

bool st_log_idle(const struct sp_plog *log)
{
    bool unwritten = false;
    for (const struct st_chunk *c = log->chunks; c; c = c->next) {
        unwritten |= c->inflight || c->written_len < c->len || c->need_readback;
    }
    return log->writes_inflight == 0 && !log->flush_inflight && !log->falloc_inflight &&
           !log->readback_inflight && !log->roll_job.busy && !log->meta_job.busy &&
           !log->del_job.busy && !log->rolling && (!unwritten || log->err);
}
