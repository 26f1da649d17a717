/*
 * storage/log.c: opening (with recovery), closing, truncating a partition
 * log; segments and their file descriptors; the shard's storage context.
 *
 * Recovery on open:
 *   1. partition.metadata is created or checked against the topic id;
 *   2. segments are found by listing the directory; stray temporary files
 *      and indexes without a .log are removed;
 *   3. inactive segments: their .index/.timeindex are validated against the
 *      segment size and rebuilt by a scan when bad or missing;
 *   4. the active segment: after a clean shutdown only the batches after its
 *      last index entry are scanned; otherwise the whole segment is scanned
 *      batch by batch (length, CRC, contiguous offsets), never trusting the
 *      file size (space reserved by fallocate reads back as zeros); a torn
 *      or corrupt tail is truncated and the indexes rebuilt;
 *   5. the log start, log end and leader epochs are restored, the data is
 *      synced (it may have survived only in the page cache), and the
 *      clean-shutdown marker is removed before the first new write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "storage/log_impl.h"

#define CLEAN_MARKER ".clean-shutdown"

/* ---- Parameters --------------------------------------------------------- */

void sp_storage_params_init(struct sp_storage_params *p, const struct sp_config *cfg)
{
    memset(p, 0, sizeof(*p));
    p->hw_durable = true;
    p->flush_interval_messages = INT64_MAX;
    p->flush_interval_ms = -1;
    p->cache_bytes_max = 256u << 20;
    p->write_buffer_bytes_max = 256u << 20;
    p->open_files_max = 1024;
    p->chunk_bytes = 256u << 10;
    p->writes_inflight_max = 4;
    p->flushes_inflight_max = 64;
    p->fallocate_step_bytes = 32u << 20;
    p->cleaner_dedupe_bytes = 16u << 20;
    p->cleaner_step_bytes = 64u << 10;
    p->cleaner_enable = true;
    if (cfg) {
        p->flush_interval_messages = sp_config_int(cfg, SP_CFG_LOG_FLUSH_INTERVAL_MESSAGES);
        p->flush_interval_ms = sp_config_int(cfg, SP_CFG_LOG_FLUSH_INTERVAL_MS);
        p->buffered_io = sp_config_bool(cfg, SP_CFG_LOG_DIRS_FORCE_BUFFERED_IO);
        p->hw_durable = sp_config_bool(cfg, SP_CFG_LOG_FLUSH_ACKS_ALL_WAIT);
        p->cache_bytes_max = (uint64_t)sp_config_int(cfg, SP_CFG_LOG_CACHE_BYTES);
        p->write_buffer_bytes_max = (uint64_t)sp_config_int(cfg, SP_CFG_LOG_WRITE_BUFFER_BYTES);
        p->open_files_max = (uint32_t)sp_config_int(cfg, SP_CFG_LOG_OPEN_FILES_MAX);
        p->cleaner_dedupe_bytes =
            (uint64_t)sp_config_int(cfg, SP_CFG_LOG_CLEANER_DEDUPE_BUFFER_SIZE);
    }
}

void sp_plog_options_init(struct sp_plog_options *o, const struct sp_config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->segment_bytes = 1 << 30;
    o->segment_ms = 168LL * 3600 * 1000;
    o->retention_ms = 168LL * 3600 * 1000;
    o->retention_bytes = -1;
    o->index_interval_bytes = 4096;
    o->flush_messages = 0;
    o->flush_ms = -1;
    o->min_cleanable_dirty_ratio = 0.5;
    o->max_compaction_lag_ms = INT64_MAX;
    o->delete_retention_ms = 86400000;
    if (cfg) {
        o->segment_bytes = sp_config_int(cfg, SP_CFG_LOG_SEGMENT_BYTES);
        o->segment_ms = sp_config_int(cfg, SP_CFG_LOG_ROLL_HOURS) * 3600 * 1000;
        int64_t rms = sp_config_int(cfg, SP_CFG_LOG_RETENTION_MS);
        int64_t rh = sp_config_int(cfg, SP_CFG_LOG_RETENTION_HOURS);
        o->retention_ms = rms != -2 ? rms : (rh < 0 ? -1 : rh * 3600 * 1000);
        o->retention_bytes = sp_config_int(cfg, SP_CFG_LOG_RETENTION_BYTES);
        o->index_interval_bytes = (int32_t)sp_config_int(cfg, SP_CFG_LOG_INDEX_INTERVAL_BYTES);
    }
}

int st_open_flags(const struct sp_storage *st)
{
    return st->p.buffered_io ? 0 : O_DIRECT;
}

uint64_t st_now_ms(const struct sp_storage *st)
{
    return sp_io_now_ns(st->io) / 1000000u;
}

int sp_storage_create(struct sp_storage **out, const struct sp_storage_params *p)
{
    SP_ASSERT(p->io != NULL && p->chunk_bytes % ST_BLOCK == 0 && p->chunk_bytes > 0);
    SP_ASSERT(p->writes_inflight_max > 0 && p->flushes_inflight_max > 0);
    struct sp_storage *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -ENOMEM;
    }
    st->p = *p;
    st->io = p->io;
    st->chunk_pool_cap = (uint32_t)SP_MIN(64u, p->write_buffer_bytes_max / p->chunk_bytes);
    st->chunk_pool = calloc(SP_MAX(st->chunk_pool_cap, 1u), sizeof(void *));
    if (st->chunk_pool == NULL) {
        free(st);
        return -ENOMEM;
    }
    *out = st;
    return 0;
}

void sp_storage_destroy(struct sp_storage *st)
{
    if (st == NULL) {
        return;
    }
    SP_ASSERT(st->logs == NULL);
    st_compact_destroy(st);
    st_cache_release(st);
    while (st->chunk_pool_n > 0) {
        free(st->chunk_pool[--st->chunk_pool_n]);
    }
    free(st->chunk_pool);
    free(st);
}

void sp_storage_stats(const struct sp_storage *st, struct sp_storage_stats *out)
{
    *out = st->stats;
    out->cache_bytes = st->c_bytes;
    out->write_buffer_bytes = st->wbuf_bytes;
    out->open_files = st->lru_n;
    out->logs = st->nlogs;
}

/* ---- Segments and their fds --------------------------------------------- */

struct sp_segment *st_segment_new(int64_t base, uint64_t stream_start)
{
    struct sp_segment *seg = calloc(1, sizeof(*seg));
    if (seg == NULL) {
        return NULL;
    }
    seg->base_offset = base;
    seg->next_offset = base;
    seg->max_timestamp = -1;
    seg->stream_start = stream_start;
    seg->fd = -1;
    return seg;
}

void st_segment_free(struct sp_segment *seg)
{
    free(seg->idx);
    free(seg->tidx);
    free(seg);
}

struct sp_segment *st_segment_find(const struct sp_plog *log, int64_t offset, uint32_t *at)
{
    uint32_t lo = 0, hi = log->nsegs;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_offset <= offset) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if (log->nsegs == 0) {
        return NULL;
    }
    if (at) {
        *at = lo;
    }
    return log->segs[lo];
}

void st_lru_remove(struct sp_storage *st, struct sp_segment *seg)
{
    if (!seg->in_lru) {
        return;
    }
    if (seg->lru_prev) {
        seg->lru_prev->lru_next = seg->lru_next;
    } else {
        st->lru_head = seg->lru_next;
    }
    if (seg->lru_next) {
        seg->lru_next->lru_prev = seg->lru_prev;
    } else {
        st->lru_tail = seg->lru_prev;
    }
    seg->lru_prev = seg->lru_next = NULL;
    seg->in_lru = false;
    st->lru_n--;
}

void st_lru_touch(struct sp_storage *st, struct sp_segment *seg)
{
    st_lru_remove(st, seg);
    seg->lru_prev = st->lru_tail;
    seg->lru_next = NULL;
    if (st->lru_tail) {
        st->lru_tail->lru_next = seg;
    } else {
        st->lru_head = seg;
    }
    st->lru_tail = seg;
    seg->in_lru = true;
    st->lru_n++;
}

/* Closes the least recently used inactive segments beyond the cap. */
void st_lru_trim(struct sp_storage *st)
{
    uint32_t tries = st->lru_n;
    while (st->lru_n > st->p.open_files_max && tries-- > 0) {
        struct sp_segment *seg = st->lru_head;
        st_lru_remove(st, seg);
        if (seg->reads_inflight > 0) {
            st_lru_touch(st, seg); /* in use: try the next one */
            continue;
        }
        /* close(2) of a regular file does not wait for the disk. */
        sp_io_close_sync(st->io, seg->fd);
        seg->fd = -1;
    }
}

/* ---- Small files at open ------------------------------------------------ */

static int read_small_file(struct sp_plog *log, const char *name, char **out, size_t *len)
{
    char path[ST_PATH_MAX];
    int r = st_path(path, log, name);
    if (r < 0) {
        return r;
    }
    int fd = sp_io_open_sync(log->st->io, path, O_RDONLY, 0);
    if (fd < 0) {
        return fd;
    }
    uint64_t size = 0;
    r = sp_io_fsize_sync(log->st->io, fd, &size);
    if (r == 0 && size > 64u << 20) {
        r = -EFBIG;
    }
    char *buf = r == 0 ? malloc(size + 1) : NULL;
    if (r == 0 && buf == NULL) {
        r = -ENOMEM;
    }
    if (r == 0 && size > 0) {
        r = st_pread(log->st, fd, buf, (uint32_t)size, 0);
        r = r < 0 ? r : (r == (int)size ? 0 : -EIO);
    }
    sp_io_close_sync(log->st->io, fd);
    if (r < 0) {
        free(buf);
        return r;
    }
    buf[size] = 0;
    *out = buf;
    *len = size;
    return 0;
}

static int write_file_atomic(struct sp_plog *log, const char *name, const char *data, size_t len)
{
    struct st_job job = {0};
    st_job_init(&job, log);
    char tmp[SP_SEG_NAME_MAX + 64];
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    st_path(job.paths[0], log, tmp);
    st_path(job.paths[1], log, name);
    st_job_add(&job, (struct st_step){.kind = ST_STEP_OPEN, .flags = O_WRONLY | O_CREAT | O_TRUNC});
    st_job_add(&job, (struct st_step){.kind = ST_STEP_WRITE, .buf = data, .len = (uint32_t)len});
    st_job_add(&job, (struct st_step){.kind = ST_STEP_FSYNC});
    st_job_add(&job, (struct st_step){.kind = ST_STEP_CLOSE});
    st_job_add(&job, (struct st_step){.kind = ST_STEP_RENAME, .path_i = 0, .path2_i = 1});
    st_job_add(&job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
    st_job_add(&job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
    st_job_add(&job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
    return st_job_run(&job);
}

static int sync_dir(struct sp_plog *log, const char *dir)
{
    struct st_job job = {0};
    st_job_init(&job, log);
    st_job_add(&job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
    st_job_add(&job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
    st_job_add(&job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
    if (dir == log->dir) {
        return st_job_run(&job);
    }
    char saved[ST_PATH_MAX];
    memcpy(saved, log->dir, sizeof(saved));
    snprintf(log->dir, sizeof(log->dir), "%s", dir);
    int r = st_job_run(&job);
    memcpy(log->dir, saved, sizeof(saved));
    return r;
}

static int unlink_sync(struct sp_plog *log, const char *name, bool dir_sync)
{
    struct st_job job = {0};
    st_job_init(&job, log);
    job.ignore_enoent = true;
    st_path(job.paths[0], log, name);
    st_job_add(&job, (struct st_step){.kind = ST_STEP_UNLINK});
    if (dir_sync) {
        st_job_add(&job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
        st_job_add(&job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
        st_job_add(&job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
    }
    return st_job_run(&job);
}

static int fsync_sync(struct sp_plog *log, int fd, bool datasync)
{
    struct st_job job = {0};
    st_job_init(&job, log);
    st_job_add(&job,
               (struct st_step){.kind = ST_STEP_FSYNC_EXT, .flags = fd, .arg = datasync ? 1 : 0});
    return st_job_run(&job);
}

/* ---- Directory listing -------------------------------------------------- */

struct listing {
    int64_t *bases;
    uint32_t n, cap;
    bool clean;
    char (*strays)[SP_SEG_NAME_MAX + 32];
    uint32_t nstrays, strays_cap;
    int err;
};

static int list_cb(void *ctx, const char *name, bool is_dir)
{
    struct listing *ls = ctx;
    int64_t base;
    const char *ext;
    if (is_dir) {
        return 0;
    }
    if (strcmp(name, CLEAN_MARKER) == 0) {
        ls->clean = true;
        return 0;
    }
    size_t nl = strlen(name);
    bool tmp = nl > 4 && strcmp(name + nl - 4, ".tmp") == 0;
    bool seg = sp_seg_name_parse(name, &base, &ext) == 0;
    if (seg && strcmp(ext, ".log") == 0) {
        if (ls->n == ls->cap) {
            uint32_t cap = ls->cap ? ls->cap * 2 : 16;
            int64_t *b = realloc(ls->bases, sizeof(*b) * cap);
            if (b == NULL) {
                ls->err = -ENOMEM;
                return 1;
            }
            ls->bases = b;
            ls->cap = cap;
        }
        ls->bases[ls->n++] = base;
    } else if ((tmp || seg) && nl < SP_SEG_NAME_MAX + 32) {
        /* Checked against the segments once all are known. */
        if (ls->nstrays == ls->strays_cap) {
            uint32_t cap = ls->strays_cap ? ls->strays_cap * 2 : 16;
            void *s = realloc(ls->strays, sizeof(*ls->strays) * cap);
            if (s == NULL) {
                ls->err = -ENOMEM;
                return 1;
            }
            ls->strays = s;
            ls->strays_cap = cap;
        }
        memcpy(ls->strays[ls->nstrays++], name, nl + 1);
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool has_base(const struct listing *ls, int64_t base)
{
    return bsearch(&base, ls->bases, ls->n, sizeof(int64_t), cmp_i64) != NULL;
}

/* ---- Scanning a segment -------------------------------------------------- */

struct scan_ctx {
    struct sp_plog *log;
    struct sp_segment *seg;
    bool epochs;
};

static void scan_cb(void *ctx, const struct sp_seg_batch *b, uint64_t pos)
{
    struct scan_ctx *sc = ctx;
    st_segment_index_add(sc->log, sc->seg, b, pos);
    if (sc->epochs) {
        st_epoch_assign(sc->log, b->leader_epoch, b->base_offset);
    }
}

/*
 * Scans seg's file from pos (at offset `expect`) up to file_size, adding index
 * entries. Returns the end of the last valid batch in *end, or -errno.
 */
static int scan_segment(struct sp_plog *log, struct sp_segment *seg, int fd, uint64_t pos,
                        int64_t expect, uint64_t file_size, bool epochs, uint64_t *end,
                        struct sp_seg_scan *out)
{
    uint32_t cap = 1u << 20;
    uint8_t *buf = st_aligned_alloc(cap);
    /* Inactive segments may hold the offset gaps compaction leaves; the active one never does. */
    struct sp_seg_scan sc = {.next_offset = expect, .max_timestamp = -1, .gaps_ok = !epochs};
    struct scan_ctx ctx = {log, seg, epochs};
    int r = 0;
    if (buf == NULL) {
        return -ENOMEM;
    }
    while (pos < file_size) {
        uint64_t off = pos & ~(uint64_t)(ST_BLOCK - 1);
        uint32_t len = (uint32_t)SP_MIN((uint64_t)cap, SP_ALIGN_UP(file_size - off, ST_BLOCK));
        r = st_pread(log->st, fd, buf, len, off);
        if (r < 0) {
            break;
        }
        uint64_t got = SP_MIN((uint64_t)r, file_size - off);
        r = 0;
        if (got <= pos - off) {
            break;
        }
        uint64_t before = sc.valid_bytes;
        sp_seg_scan(buf + (pos - off), got - (pos - off), pos, &sc, scan_cb, &ctx);
        pos += sc.valid_bytes - before;
        if (sc.corrupt || !sc.need_more || off + got >= file_size) {
            break;
        }
        struct sp_seg_batch b;
        if (sc.valid_bytes == before &&
            sp_seg_batch_peek(buf + (pos - off), got - (pos - off), &b) == 1 &&
            b.size + ST_BLOCK > cap) {
            /* One batch bigger than the buffer: grow it to fit. */
            free(buf);
            cap = SP_ALIGN_UP(b.size + ST_BLOCK, ST_BLOCK);
            buf = st_aligned_alloc(cap);
            if (buf == NULL) {
                return -ENOMEM;
            }
        }
    }
    free(buf);
    *end = pos;
    if (out) {
        *out = sc;
    }
    return r;
}

/* ---- Opening segments ---------------------------------------------------- */

static int load_index_files(struct sp_plog *log, struct sp_segment *seg, uint64_t size)
{
    char name[SP_SEG_NAME_MAX];
    char *buf;
    size_t len;
    sp_seg_name(name, sizeof(name), seg->base_offset, ".index");
    int r = read_small_file(log, name, &buf, &len);
    if (r < 0) {
        return r;
    }
    long n = sp_index_validate((const uint8_t *)buf, len, size);
    if (n < 0 || (n == 0 && size > 0)) {
        free(buf);
        return -EBADMSG;
    }
    seg->idx = malloc(sizeof(*seg->idx) * SP_MAX(n, 1L));
    if (seg->idx == NULL) {
        free(buf);
        return -ENOMEM;
    }
    for (long i = 0; i < n; i++) {
        sp_index_entry_get((const uint8_t *)buf + i * SP_INDEX_ENTRY_BYTES, &seg->idx[i]);
    }
    seg->idx_n = seg->idx_cap = (uint32_t)n;
    free(buf);
    sp_seg_name(name, sizeof(name), seg->base_offset, ".timeindex");
    r = read_small_file(log, name, &buf, &len);
    if (r < 0) {
        return r;
    }
    n = sp_tindex_validate((const uint8_t *)buf, len);
    if (n < 0) {
        free(buf);
        return -EBADMSG;
    }
    seg->tidx = malloc(sizeof(*seg->tidx) * SP_MAX(n, 1L));
    if (seg->tidx == NULL) {
        free(buf);
        return -ENOMEM;
    }
    for (long i = 0; i < n; i++) {
        sp_tindex_entry_get((const uint8_t *)buf + i * SP_TINDEX_ENTRY_BYTES, &seg->tidx[i]);
    }
    seg->tidx_n = seg->tidx_cap = (uint32_t)n;
    seg->max_timestamp = n > 0 ? seg->tidx[n - 1].timestamp : -1;
    free(buf);
    return 0;
}

static void index_reset(struct sp_segment *seg)
{
    free(seg->idx);
    free(seg->tidx);
    seg->idx = NULL;
    seg->tidx = NULL;
    seg->idx_n = seg->idx_cap = seg->tidx_n = seg->tidx_cap = 0;
    seg->bytes_since_index = 0;
    seg->max_timestamp = -1;
}

static int write_indexes_sync(struct sp_plog *log, struct sp_segment *seg)
{
    struct st_job job = {0};
    st_job_init(&job, log);
    int r = st_job_add_index_writes(&job, seg, true);
    return r < 0 ? r : st_job_run(&job);
}

/* An inactive segment: size from the file, indexes from their files or a scan. */
static int open_inactive(struct sp_plog *log, struct sp_segment *seg, int64_t next_base)
{
    char path[ST_PATH_MAX];
    st_seg_path(path, log, seg->base_offset, ".log");
    int fd = sp_io_open_sync(log->st->io, path, O_RDONLY | st_open_flags(log->st), 0);
    if (fd < 0) {
        return fd;
    }
    uint64_t size;
    int r = sp_io_fsize_sync(log->st->io, fd, &size);
    if (r == 0) {
        seg->size = size;
        seg->next_offset = next_base;
        r = load_index_files(log, seg, size);
        if (r == 0 && seg->idx_n > 0 &&
            seg->base_offset + seg->idx[seg->idx_n - 1].rel_offset >= next_base) {
            r = -EBADMSG;
        }
        if (r < 0) {
            sp_log_warn("storage: %s: rebuilding the indexes of segment %" PRId64 " (%s)", log->dir,
                        seg->base_offset, strerror(-r));
            index_reset(seg);
            uint64_t end;
            struct sp_seg_scan sc;
            r = scan_segment(log, seg, fd, 0, seg->base_offset, size, false, &end, &sc);
            if (r == 0 && end < size) {
                sp_log_error("storage: %s: segment %" PRId64 " has %" PRIu64
                             " unreadable bytes at position %" PRIu64,
                             log->dir, seg->base_offset, size - end, end);
            }
            if (r == 0) {
                r = write_indexes_sync(log, seg);
            }
        }
    }
    sp_io_close_sync(log->st->io, fd);
    if (r == 0) {
        st_segment_index_sample(seg);
    }
    return r;
}

static int open_active(struct sp_plog *log, struct sp_segment *seg, bool clean)
{
    char path[ST_PATH_MAX];
    st_seg_path(path, log, seg->base_offset, ".log");
    int fd = sp_io_open_sync(log->st->io, path, O_RDWR | st_open_flags(log->st), 0);
    if (fd < 0) {
        return fd;
    }
    seg->fd = fd;
    uint64_t size, end, from = 0;
    int64_t expect = seg->base_offset;
    int r = sp_io_fsize_sync(log->st->io, fd, &size);
    if (r < 0) {
        return r;
    }
    if (clean && load_index_files(log, seg, size) == 0 && seg->idx_n > 0) {
        /* Rescan from the last index entry only; the scan re-adds that entry. */
        struct sp_index_entry last = seg->idx[--seg->idx_n];
        from = last.position;
        expect = seg->base_offset + last.rel_offset;
        seg->bytes_since_index = (uint64_t)log->opts.index_interval_bytes;
    } else {
        index_reset(seg);
        clean = false;
    }
    struct sp_seg_scan sc;
    r = scan_segment(log, seg, fd, from, expect, size, true, &end, &sc);
    if (r < 0) {
        return r;
    }
    seg->size = end;
    seg->next_offset = sc.next_offset;
    if (end < size) {
        if (!clean) {
            sp_log_warn("storage: %s: recovered segment %" PRId64 " to %" PRIu64
                        " bytes (offset %" PRId64 "), truncating %" PRIu64 " torn or reserved"
                        " bytes",
                        log->dir, seg->base_offset, end, sc.next_offset, size - end);
        }
        r = sp_io_ftruncate_sync(log->st->io, fd, end);
        if (r < 0) {
            return r;
        }
    }
    if (!clean) {
        sp_log_info("storage: %s: scanned %" PRIu32 " batches of segment %" PRId64
                    ", rebuilt its indexes",
                    log->dir, sc.batches, seg->base_offset);
    }
    log->alloc_end = end;
    seg->ready = true;
    return fsync_sync(log, fd, false);
}

static int create_first_segment(struct sp_plog *log, int64_t base)
{
    struct sp_segment *seg = st_segment_new(base, 0);
    if (seg == NULL) {
        return -ENOMEM;
    }
    log->segs = malloc(sizeof(*log->segs) * 4);
    if (log->segs == NULL) {
        st_segment_free(seg);
        return -ENOMEM;
    }
    log->segs_cap = 4;
    log->segs[log->nsegs++] = seg;
    seg->created_ms = st_now_ms(log->st);
    char path[ST_PATH_MAX];
    st_seg_path(path, log, base, ".log");
    int fd = sp_io_open_sync(log->st->io, path, O_RDWR | O_CREAT | st_open_flags(log->st), 0644);
    if (fd < 0) {
        return fd;
    }
    seg->fd = fd;
    seg->ready = true;
    return sync_dir(log, log->dir);
}

/* ---- Open ------------------------------------------------------------------ */

static int parent_dir(const char *dir, char *out)
{
    snprintf(out, ST_PATH_MAX, "%s", dir);
    char *slash = strrchr(out, '/');
    if (slash == NULL) {
        snprintf(out, ST_PATH_MAX, ".");
    } else if (slash == out) {
        out[1] = 0;
    } else {
        *slash = 0;
    }
    return 0;
}

static int check_metadata(struct sp_plog *log, const uint8_t topic_id[16])
{
    char *buf;
    size_t len;
    int r = read_small_file(log, "partition.metadata", &buf, &len);
    if (r == -ENOENT) {
        char text[128];
        int n = sp_partmeta_format(text, sizeof(text), topic_id);
        return n < 0 ? n : write_file_atomic(log, "partition.metadata", text, (size_t)n);
    }
    if (r < 0) {
        return r;
    }
    uint8_t have[16];
    static const uint8_t zero[16];
    r = sp_partmeta_parse(buf, len, have);
    free(buf);
    if (r < 0) {
        sp_log_warn("storage: %s: unreadable partition.metadata", log->dir);
        return 0;
    }
    if (memcmp(topic_id, zero, 16) != 0 && memcmp(have, topic_id, 16) != 0) {
        sp_log_error("storage: %s holds another topic id", log->dir);
        return -ESTALE;
    }
    return 0;
}

static void load_checkpoints(struct sp_plog *log)
{
    char *buf;
    size_t len;
    if (read_small_file(log, "leader-epoch-checkpoint", &buf, &len) == 0) {
        log->epochs = malloc(sizeof(*log->epochs) * ST_EPOCHS_MAX);
        int n = log->epochs ? sp_epoch_ckpt_parse(buf, len, log->epochs, ST_EPOCHS_MAX) : -1;
        if (n < 0) {
            sp_log_warn("storage: %s: unreadable leader-epoch-checkpoint, rebuilding it", log->dir);
            n = 0;
        }
        log->nepochs = (uint32_t)n;
        log->epochs_cap = log->epochs ? ST_EPOCHS_MAX : 0;
        free(buf);
    }
    if (read_small_file(log, "log-start-offset", &buf, &len) == 0) {
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (end != buf && v >= 0) {
            log->log_start = v;
        }
        free(buf);
    }
}

static int open_segments(struct sp_plog *log, struct listing *ls)
{
    if (ls->n > 1) {
        qsort(ls->bases, ls->n, sizeof(int64_t), cmp_i64);
    }
    for (uint32_t i = 0; i < ls->nstrays; i++) {
        int64_t base;
        const char *ext;
        const char *name = ls->strays[i];
        size_t nl = strlen(name);
        bool tmp = nl > 4 && strcmp(name + nl - 4, ".tmp") == 0;
        if (tmp || (sp_seg_name_parse(name, &base, &ext) == 0 && !has_base(ls, base))) {
            sp_log_info("storage: %s: removing stray file %s", log->dir, name);
            unlink_sync(log, name, false);
        }
    }
    if (ls->n == 0) {
        return create_first_segment(log, log->log_start);
    }
    log->segs = calloc(ls->n + 4, sizeof(*log->segs));
    if (log->segs == NULL) {
        return -ENOMEM;
    }
    log->segs_cap = ls->n + 4;
    uint64_t stream = 0;
    for (uint32_t i = 0; i < ls->n; i++) {
        struct sp_segment *seg = st_segment_new(ls->bases[i], stream);
        if (seg == NULL) {
            return -ENOMEM;
        }
        log->segs[log->nsegs++] = seg;
        int r = i + 1 < ls->n ? open_inactive(log, seg, ls->bases[i + 1])
                              : open_active(log, seg, ls->clean);
        if (r < 0) {
            return r;
        }
        seg->sealed = seg->synced = i + 1 < ls->n;
        seg->created_ms = st_now_ms(log->st);
    }
    /* Stream positions count from the active segment's start. */
    struct sp_segment *a = log->segs[log->nsegs - 1];
    a->stream_start = 0;
    log->stream_appended = a->size;
    return 0;
}

static void log_free(struct sp_plog *log)
{
    struct sp_storage *st = log->st;
    st_cache_drop_log(log);
    for (uint32_t i = 0; i < log->nsegs; i++) {
        struct sp_segment *seg = log->segs[i];
        st_lru_remove(st, seg);
        if (seg->fd >= 0) {
            sp_io_close_sync(st->io, seg->fd);
        }
        st_segment_free(seg);
    }
    while (log->chunks) {
        log->chunks->inflight = false;
        struct st_chunk *c = log->chunks;
        log->chunks = c->next;
        st->wbuf_bytes -= c->cap;
        free(c->buf);
        free(c);
    }
    if (log->flush_queued) {
        struct sp_plog **pp = &st->flush_head;
        st->flush_tail = NULL;
        while (*pp) {
            if (*pp == log) {
                *pp = log->flush_next;
                continue;
            }
            st->flush_tail = *pp;
            pp = &(*pp)->flush_next;
        }
    }
    if (log->prev || st->logs == log) {
        if (log->prev) {
            log->prev->next = log->next;
        } else {
            st->logs = log->next;
        }
        if (log->next) {
            log->next->prev = log->prev;
        }
        st->nlogs--;
    }
    st_compact_forget(log);
    /* Jobs cut short by a crash (abandon) still own their buffers. */
    struct st_job *jobs[] = {&log->roll_job, &log->meta_job, &log->del_job};
    for (size_t i = 0; i < SP_ARRAY_LEN(jobs); i++) {
        if (jobs[i]->busy) {
            free(jobs[i]->owned);
        }
    }
    if (log->del_seg) {
        st_segment_free(log->del_seg);
    }
    free(log->readback_buf);
    free(log->segs);
    free(log->epochs);
    free(log->pend);
    free(log->cring);
    free(log);
}

static void wait_idle(struct sp_plog *log)
{
    while (!st_log_idle(log)) {
        (void)sp_io_turn(log->st->io); /* a failing poll is retried: the log's ops are in flight */
    }
}

int sp_plog_open(struct sp_storage *st, const struct sp_plog_open_params *p, struct sp_plog **out)
{
    struct sp_plog *log = calloc(1, sizeof(*log));
    if (log == NULL) {
        return -ENOMEM;
    }
    log->st = st;
    log->opts = p->opts;
    log->on_hw = p->on_hw;
    log->on_hw_ctx = p->on_hw_ctx;
    log->epoch = -1;
    int n = snprintf(log->dir, sizeof(log->dir), "%s", p->dir);
    if (n <= 0 || n >= ST_PATH_MAX - SP_SEG_NAME_MAX - 8) {
        free(log);
        return -ENAMETOOLONG;
    }
    while (n > 1 && log->dir[n - 1] == '/') {
        log->dir[--n] = 0;
    }
    struct listing ls = {0};
    int r = sp_io_mkdir_sync(st->io, log->dir, 0755);
    if (r == 0) {
        char parent[ST_PATH_MAX];
        parent_dir(log->dir, parent);
        r = sync_dir(log, parent);
    } else if (r == -EEXIST) {
        r = 0;
    }
    if (r == 0) {
        r = check_metadata(log, p->topic_id);
    }
    if (r == 0) {
        load_checkpoints(log);
        r = st_compact_recover(log);
    }
    if (r == 0) {
        r = sp_io_listdir_sync(st->io, log->dir, list_cb, &ls);
        r = r < 0 ? r : ls.err;
    }
    if (r == 0) {
        r = open_segments(log, &ls);
    }
    bool clean = ls.clean;
    free(ls.bases);
    free(ls.strays);
    if (r < 0) {
        sp_log_error("storage: cannot open %s: %s", log->dir, strerror(-r));
        log_free(log);
        return r;
    }
    log->log_start = SP_MAX(log->log_start, log->segs[0]->base_offset);
    log->next_offset = log->segs[log->nsegs - 1]->next_offset;
    log->log_start = SP_MIN(log->log_start, log->next_offset);
    log->written = log->durable = log->hw = log->next_offset;
    log->hw_external = log->next_offset;
    while (log->nepochs > 0 && log->epochs[log->nepochs - 1].start_offset >= log->next_offset) {
        log->nepochs--;
        log->epochs_dirty = true;
    }
    if (log->epochs_dirty) {
        st_meta_write(log);
        wait_idle(log);
    }
    if (clean) {
        r = unlink_sync(log, CLEAN_MARKER, true);
    }
    if (r == 0) {
        r = st_compact_load(log);
    }
    if (r < 0 || log->err) {
        r = r < 0 ? r : log->err;
        log_free(log);
        return r;
    }
    log->next = st->logs;
    if (st->logs) {
        st->logs->prev = log;
    }
    st->logs = log;
    st->nlogs++;
    st_lru_trim(st);
    sp_log_debug("storage: opened %s: start %" PRId64 " end %" PRId64 " (%u segments)", log->dir,
                 log->log_start, log->next_offset, log->nsegs);
    *out = log;
    return 0;
}

/* ---- Close, abandon ---------------------------------------------------------- */

int sp_plog_close(struct sp_plog *log)
{
    st_compact_quiesce(log);
    wait_idle(log);
    int r = log->err;
    struct sp_segment *a = log->segs[log->nsegs - 1];
    if (r == 0 && (log->epochs_dirty || log->log_start_dirty)) {
        st_meta_write(log);
        wait_idle(log);
        r = log->err;
    }
    if (r == 0) {
        r = sp_io_ftruncate_sync(log->st->io, a->fd, a->size);
    }
    if (r == 0) {
        r = fsync_sync(log, a->fd, false);
    }
    if (r == 0) {
        r = write_indexes_sync(log, a);
    }
    if (r == 0) {
        struct st_job job = {0};
        st_job_init(&job, log);
        st_path(job.paths[0], log, CLEAN_MARKER);
        st_job_add(&job,
                   (struct st_step){.kind = ST_STEP_OPEN, .flags = O_WRONLY | O_CREAT | O_TRUNC});
        st_job_add(&job, (struct st_step){.kind = ST_STEP_CLOSE});
        st_job_add(&job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
        st_job_add(&job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
        st_job_add(&job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
        r = st_job_run(&job);
    }
    log_free(log);
    return r;
}

void sp_plog_abandon(struct sp_plog *log)
{
    log_free(log);
}

/* ---- Truncate, delete records -------------------------------------------- */

/* Position and offset of the first batch of seg with last offset >= offset. */
static int find_cut(struct sp_plog *log, struct sp_segment *seg, int64_t offset, uint64_t *pos,
                    int64_t *next)
{
    long i = sp_index_floor(seg->idx, seg->idx_n, (uint32_t)(offset - seg->base_offset));
    uint64_t at = i >= 0 ? seg->idx[i].position : 0;
    int64_t expect = i >= 0 ? seg->base_offset + seg->idx[i].rel_offset : seg->base_offset;
    uint8_t *buf = st_aligned_alloc(1u << 20);
    if (buf == NULL) {
        return -ENOMEM;
    }
    int r = 0;
    *pos = seg->size;
    *next = seg->next_offset;
    while (at < seg->size) {
        uint64_t off = at & ~(uint64_t)(ST_BLOCK - 1);
        r = st_pread(log->st, seg->fd, buf, 1u << 20, off);
        if (r < 0) {
            break;
        }
        uint64_t got = SP_MIN((uint64_t)r, seg->size - off);
        r = 0;
        struct sp_seg_batch b;
        if (got <= at - off || sp_seg_batch_peek(buf + (at - off), got - (at - off), &b) != 1) {
            r = -EIO;
            break;
        }
        if (b.last_offset >= offset) {
            *pos = at;
            *next = b.base_offset;
            break;
        }
        at += b.size;
        expect = b.last_offset + 1;
    }
    (void)expect;
    free(buf);
    return r;
}

static int delete_segment_files(struct sp_plog *log, struct sp_segment *seg)
{
    static const char *const exts[] = {".log", ".index", ".timeindex"};
    int r = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(exts) && r == 0; i++) {
        char name[SP_SEG_NAME_MAX];
        sp_seg_name(name, sizeof(name), seg->base_offset, exts[i]);
        r = unlink_sync(log, name, false);
    }
    return r;
}

int sp_plog_truncate(struct sp_plog *log, int64_t offset)
{
    if (log->err) {
        return -EIO;
    }
    if (offset >= log->next_offset) {
        return 0;
    }
    st_compact_quiesce(log);
    wait_idle(log);
    if (log->err) {
        return -EIO;
    }
    offset = SP_MAX(offset, log->log_start);
    st_chunks_free(log);
    log->pend_n = 0;
    uint32_t at;
    st_segment_find(log, offset, &at);
    int r = 0;
    while (log->nsegs > at + 1 && r == 0) {
        struct sp_segment *seg = log->segs[--log->nsegs];
        st_lru_remove(log->st, seg);
        if (seg->fd >= 0) {
            sp_io_close_sync(log->st->io, seg->fd);
        }
        r = delete_segment_files(log, seg);
        st_segment_free(seg);
    }
    struct sp_segment *seg = log->segs[at];
    st_lru_remove(log->st, seg);
    if (r == 0 && seg->fd >= 0 && seg->sealed) {
        sp_io_close_sync(log->st->io, seg->fd); /* reopened for writing below */
        seg->fd = -1;
    }
    if (r == 0 && seg->fd < 0) {
        char path[ST_PATH_MAX];
        st_seg_path(path, log, seg->base_offset, ".log");
        r = sp_io_open_sync(log->st->io, path, O_RDWR | st_open_flags(log->st), 0);
        seg->fd = r < 0 ? -1 : r;
        r = r < 0 ? r : 0;
    }
    uint64_t pos = 0;
    int64_t next = seg->base_offset;
    if (r == 0) {
        r = find_cut(log, seg, offset, &pos, &next);
    }
    if (r == 0) {
        r = sp_io_ftruncate_sync(log->st->io, seg->fd, pos);
    }
    if (r == 0) {
        r = fsync_sync(log, seg->fd, false);
    }
    if (r == 0) {
        r = sync_dir(log, log->dir);
    }
    if (r < 0) {
        st_log_fail(log, r, "truncate");
        return -EIO;
    }
    seg->size = pos;
    seg->next_offset = next;
    seg->sealed = seg->synced = false;
    seg->ready = true;
    while (seg->idx_n > 0 && seg->idx[seg->idx_n - 1].position >= pos) {
        seg->idx_n--;
    }
    while (seg->tidx_n > 0 && seg->base_offset + seg->tidx[seg->tidx_n - 1].rel_offset >= next) {
        seg->tidx_n--;
    }
    seg->max_timestamp = seg->tidx_n > 0 ? seg->tidx[seg->tidx_n - 1].timestamp : -1;
    seg->stream_start = 0;
    log->stream_appended = pos;
    log->alloc_end = pos;
    sp_log_info("storage: %s truncated to offset %" PRId64 " (asked %" PRId64 ")", log->dir, next,
                offset);
    log->next_offset = log->written = next;
    log->durable = SP_MIN(log->durable, next);
    log->hw = SP_MIN(log->hw, next);
    log->hw_external = SP_MIN(log->hw_external, next);
    st_cache_truncate(log, next);
    st_compact_truncated(log, next);
    while (log->nepochs > 0 && log->epochs[log->nepochs - 1].start_offset >= next) {
        log->nepochs--;
        log->epochs_dirty = true;
    }
    if (log->epochs_dirty) {
        st_meta_write(log);
        wait_idle(log);
    }
    return log->err ? -EIO : 0;
}

int sp_plog_delete_records(struct sp_plog *log, int64_t offset)
{
    if (log->err) {
        return -EIO;
    }
    if (offset > log->hw) {
        return -ERANGE;
    }
    if (offset <= log->log_start) {
        return 0;
    }
    log->log_start = offset;
    st_cache_drop_below(log, offset);
    log->log_start_dirty = true;
    st_meta_write(log);
    return 0;
}

/* ---- Tick, accessors -------------------------------------------------------- */

static void tick_log(struct sp_plog *log, uint64_t now_ns, int64_t wall_ms)
{
    struct sp_storage *st = log->st;
    int64_t ms = log->opts.flush_ms >= 0 ? log->opts.flush_ms : st->p.flush_interval_ms;
    if (ms >= 0 && log->unflushed_since_ns &&
        now_ns - log->unflushed_since_ns >= (uint64_t)ms * 1000000u) {
        st_flush_request(log);
    }
    /* An idle log gives its write buffer back. */
    struct st_chunk *c = log->chunks;
    if (c && c == log->chunks_tail && !c->inflight && !c->need_readback &&
        c->written_len == c->len && now_ns - log->last_write_ns > 1000000000u) {
        st_chunks_free(log);
    }
    if (now_ns - log->last_retention_ns > 1000000000u) {
        log->last_retention_ns = now_ns;
        sp_plog_retention_run(log, wall_ms);
    }
}

void sp_storage_tick(struct sp_storage *st)
{
    uint64_t now = sp_io_now_ns(st->io);
    if (now - st->last_tick_ns >= 10000000u) {
        st->last_tick_ns = now;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        for (struct sp_plog *log = st->logs; log; log = log->next) {
            if (log->err == 0) {
                tick_log(log, now, wall_ms);
            }
        }
        st_compact_tick(st, wall_ms);
    }
    st_cache_evict(st);
    st_lru_trim(st);
}

int64_t sp_plog_start_offset(const struct sp_plog *log)
{
    return log->log_start;
}
int64_t sp_plog_end_offset(const struct sp_plog *log)
{
    return log->next_offset;
}
int64_t sp_plog_written_offset(const struct sp_plog *log)
{
    return log->written;
}
int64_t sp_plog_durable_offset(const struct sp_plog *log)
{
    return log->durable;
}
int64_t sp_plog_high_watermark(const struct sp_plog *log)
{
    return log->hw;
}
int sp_plog_error(const struct sp_plog *log)
{
    return log->err;
}
uint32_t sp_plog_segment_count(const struct sp_plog *log)
{
    return log->nsegs;
}

uint64_t sp_plog_size_bytes(const struct sp_plog *log)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < log->nsegs; i++) {
        n += log->segs[i]->size;
    }
    return n;
}

uint64_t sp_plog_memory_bytes(const struct sp_plog *log)
{
    uint64_t n = sizeof(*log) + (uint64_t)log->segs_cap * sizeof(*log->segs) +
                 (uint64_t)log->epochs_cap * sizeof(*log->epochs) +
                 (uint64_t)log->pend_cap * sizeof(*log->pend) +
                 (uint64_t)log->cring_cap * sizeof(*log->cring);
    for (uint32_t i = 0; i < log->nsegs; i++) {
        const struct sp_segment *s = log->segs[i];
        n += sizeof(*s) + (uint64_t)s->idx_cap * sizeof(*s->idx) +
             (uint64_t)s->tidx_cap * sizeof(*s->tidx);
    }
    for (const struct st_chunk *c = log->chunks; c; c = c->next) {
        n += sizeof(*c) + c->cap;
    }
    return n;
}

void sp_plog_set_high_watermark(struct sp_plog *log, int64_t hw)
{
    SP_ASSERT(log->opts.hw_external);
    if (hw > log->hw_external) {
        log->hw_external = hw;
        st_offsets_update(log);
    }
}
