/*
 * storage/log_impl.h: the structures behind storage/log.h, shared by the
 * files of storage/ and its white-box tests. Not a public header.
 *
 * A log and its write path:
 *
 *   sp_log
 *    |- segs[0 .. nsegs-1]      sorted by base offset; segs[nsegs-1] is active
 *    |- chunks (oldest first)   write-behind buffers of the active segment(s)
 *    |     [c0: written, freed soon][c1: write in flight][c2: filling]
 *    |                                   ^ no two writes overlap a block
 *    |- pend[]                  (stream end, next offset) of appends not yet written
 *    |- wait_written, wait_durable   appends waiting for their ack
 *    '- cache ring              this log's entries in the shard's batch cache
 *
 * Positions are "stream" positions: bytes appended to this log since it was
 * opened, so a chunk of an old segment and one of the new segment after a
 * roll compare correctly. seg->stream_start maps them back to file positions.
 */
#ifndef SP_STORAGE_LOG_IMPL_H
#define SP_STORAGE_LOG_IMPL_H

#include <limits.h>

#include "storage/log.h"
#include "storage/format.h"

#define ST_BLOCK          4096u
#define ST_PATH_MAX       512
#define ST_IDX_MEM_MAX    1024u /* entries kept in memory per inactive segment */
#define ST_EPOCHS_MAX     4096u
#define ST_READ_MIN_BYTES (64u << 10)
#define ST_READ_MAX_BYTES (16u << 20)
#define ST_SMALL_FILE_MAX (256u << 10)

struct sp_storage;
struct sp_plog;

/* A small asynchronous sequence of file steps (create, write, fsync, rename...). */
enum st_step_kind {
    ST_STEP_OPEN,      /* path, flags -> fd */
    ST_STEP_OPEN_DIR,  /* the log's directory -> dfd */
    ST_STEP_WRITE,     /* buf, len at off, into fd */
    ST_STEP_FSYNC,     /* fd; datasync when arg */
    ST_STEP_FSYNC_DIR, /* dfd */
    ST_STEP_CLOSE,     /* fd */
    ST_STEP_CLOSE_DIR, /* dfd */
    ST_STEP_RENAME,    /* path -> path2 */
    ST_STEP_UNLINK,    /* path */
    ST_STEP_FSYNC_EXT, /* an fd the owner keeps (in flags); datasync when arg */
    ST_STEP_KEEP_FD,   /* last step: hands fd to the owner as the job's result */
};

struct st_step {
    uint8_t kind;
    uint8_t path_i; /* which path buffer */
    uint8_t path2_i;
    uint8_t arg;
    int flags;
    const void *buf;
    uint32_t len;
    uint64_t off;
};

#define ST_JOB_STEPS_MAX 16
#define ST_JOB_PATHS     4

struct st_job {
    struct sp_io_op op;
    struct sp_plog *log;
    void (*done)(struct st_job *job, int res);
    struct st_step steps[ST_JOB_STEPS_MAX];
    uint8_t nsteps, at;
    bool busy;
    bool ignore_enoent; /* unlink of a file that may not exist */
    int fd, dfd;
    int res;
    char paths[ST_JOB_PATHS][ST_PATH_MAX];
    void *owned; /* freed when the job ends */
};

struct sp_segment {
    int64_t base_offset;
    int64_t next_offset; /* after its last batch */
    uint64_t size;       /* bytes of batches in it */
    int64_t max_timestamp;
    uint64_t created_ms; /* for segment.ms */
    uint64_t stream_start;
    int fd; /* -1 when closed */
    uint32_t reads_inflight;
    bool ready;   /* file exists durably: writes may go */
    bool sealed;  /* rolled: no more appends */
    bool synced;  /* sealed, truncated to its end, fsynced, indexes written */
    bool deleted; /* out of the log; freed when reads end */
    bool in_lru;
    struct sp_segment *lru_prev, *lru_next;
    /* In-memory indexes: full for the active segment, sampled for the others. */
    struct sp_index_entry *idx;
    uint32_t idx_n, idx_cap;
    struct sp_tindex_entry *tidx;
    uint32_t tidx_n, tidx_cap;
    uint64_t bytes_since_index;
    struct sp_io_op close_op;
};

struct st_chunk {
    struct sp_io_op op;
    struct sp_plog *log;
    struct sp_segment *seg;
    struct st_chunk *next;
    uint8_t *buf;      /* ST_BLOCK aligned, cap bytes */
    uint64_t file_off; /* ST_BLOCK aligned position in seg's file */
    uint32_t len;      /* valid bytes */
    uint32_t cap;
    uint32_t written_len;  /* prefix covered by a completed write */
    uint32_t inflight_len; /* length of the write in flight */
    bool inflight;
    bool sealed;        /* takes no more appends */
    bool need_readback; /* its first block's old bytes must be read back first */
};

struct st_pend {
    uint64_t stream_end;
    int64_t next_offset;
};

struct st_centry;
struct st_clog;
struct st_cleaner;

struct sp_plog {
    struct sp_storage *st;
    struct sp_plog *prev, *next; /* the shard's logs */
    char dir[ST_PATH_MAX];
    struct sp_plog_options opts;
    sp_plog_hw_fn on_hw;
    void *on_hw_ctx;
    int err;

    struct sp_segment **segs;
    uint32_t nsegs, segs_cap;

    int64_t log_start;
    int64_t next_offset; /* log end */
    int64_t written;
    int64_t durable;
    int64_t hw;
    int64_t hw_external;
    int32_t epoch; /* stamped on producer batches */

    struct sp_epoch_entry *epochs;
    uint32_t nepochs, epochs_cap;
    bool epochs_dirty;

    /* Write path. */
    struct st_chunk *chunks, *chunks_tail;
    uint32_t writes_inflight;
    uint64_t stream_appended; /* stream end of appended bytes */
    uint64_t alloc_end;       /* fallocated end of the active segment file */
    struct sp_segment *falloc_seg;
    struct sp_io_op falloc_op;
    bool falloc_inflight;
    uint8_t *readback_buf;
    struct sp_io_op readback_op;
    bool readback_inflight;
    struct st_pend *pend;
    uint32_t pend_head, pend_n, pend_cap;
    struct sp_plog_append *wait_written, *wait_written_tail;
    struct sp_plog_append *wait_durable, *wait_durable_tail;
    uint64_t last_write_ns;

    /* Flush (group commit). */
    struct sp_io_op flush_op;
    bool flush_inflight, flush_again, flush_queued;
    int64_t flush_target;
    struct sp_plog *flush_next;
    int64_t unflushed_messages;
    uint64_t unflushed_since_ns; /* 0: nothing unflushed */

    /*
     * Rolls: each sealed segment, oldest first, is truncated and synced and
     * its indexes written, then its successor's file is created and the
     * directory synced; only then may the successor be written. So when the
     * active segment is ready, every older one is durable.
     */
    struct st_job roll_job;
    struct sp_segment *roll_seg;
    bool rolling; /* some sealed segment is not synced yet */

    /* Metadata files: leader epochs, log start. */
    struct st_job meta_job;
    bool meta_pending;

    /* Retention. */
    struct st_job del_job;
    struct sp_segment *del_seg;
    bool log_start_dirty;
    uint64_t last_retention_ns;

    /* Batch cache: this log's entries, oldest first (a ring). */
    struct st_centry **cring;
    uint32_t cring_head, cring_n, cring_cap;

    /* Compaction state (storage/compact.c); NULL unless opts.compact. */
    struct st_clog *clog;
};

struct sp_storage {
    struct sp_storage_params p;
    struct sp_io *io;
    struct sp_plog *logs;
    uint32_t nlogs;
    /* Logs waiting for a flush slot. */
    struct sp_plog *flush_head, *flush_tail;
    uint32_t flushes_inflight;
    /* Inactive segments with an open fd, least recently used first. */
    struct sp_segment *lru_head, *lru_tail;
    uint32_t lru_n;
    uint64_t wbuf_bytes;
    /* Chunk buffers kept for reuse: fresh pages cost a fault and a clear each. */
    void **chunk_pool;
    uint32_t chunk_pool_n, chunk_pool_cap;
    /* Batch cache, oldest first. */
    struct st_centry *c_head, *c_tail;
    uint64_t c_bytes;
    /* Cache memory: batches are bump-allocated in slabs kept for reuse. */
    struct st_slab *slab_cur;
    struct st_slab **slab_pool;
    uint32_t slab_pool_n, slab_pool_cap;
    struct sp_storage_stats stats;
    uint64_t last_tick_ns;
    /* The log cleaner, created when the first compacted log needs it. */
    struct st_cleaner *cleaner;
};

/* storage/cache.c */
/* Caches a batch given as its patched header (hdr_len bytes) and the rest. */
void st_cache_insert(struct sp_plog *log, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *rest,
                     uint32_t rest_len, int64_t base, int64_t last);
/* Copies whole cached batches from offset (at least one, then within max_bytes) below
 * limit into a new buffer. Returns 1 when found, 0 on a miss, -ENOMEM. */
int st_cache_read(struct sp_plog *log, int64_t offset, uint32_t max_bytes, int64_t limit,
                  uint8_t **buf, uint32_t *len, int64_t *next_offset);
void st_cache_truncate(struct sp_plog *log, int64_t offset); /* drops entries >= offset */
void st_cache_drop_below(struct sp_plog *log, int64_t offset);
void st_cache_drop_log(struct sp_plog *log);
void st_cache_evict(struct sp_storage *st);
void st_cache_release(struct sp_storage *st); /* frees the cache's memory; cache empty */

/* storage/job.c */
void st_job_init(struct st_job *job, struct sp_plog *log);
void st_job_add(struct st_job *job, struct st_step s);
void st_job_start(struct st_job *job, void (*done)(struct st_job *, int));
/* Runs the shard loop until *flag is true. Only at open, close and truncate. */
int st_wait(struct sp_storage *st, const bool *flag);
int st_sync_io(struct sp_storage *st, struct sp_io_op *op);
int st_pread(struct sp_storage *st, int fd, void *buf, uint32_t len, uint64_t off);
int st_job_run(struct st_job *job); /* starts and waits */
void *st_aligned_alloc(size_t size);
int st_path(char *out, const struct sp_plog *log, const char *name);
int st_seg_path(char *out, const struct sp_plog *log, int64_t base, const char *ext);

/* storage/append.c */
void st_write_kick(struct sp_plog *log);
void st_flush_request(struct sp_plog *log);
void st_offsets_update(struct sp_plog *log);
void st_log_fail(struct sp_plog *log, int err, const char *what);
bool st_log_idle(const struct sp_plog *log);
void st_chunks_free(struct sp_plog *log);
void st_meta_write(struct sp_plog *log);
void st_segment_index_add(struct sp_plog *log, struct sp_segment *seg, const struct sp_seg_batch *b,
                          uint64_t pos);
void st_epoch_assign(struct sp_plog *log, int32_t epoch, int64_t offset);
int st_job_add_index_writes(struct st_job *job, struct sp_segment *seg, bool fsync_them);
void st_segment_index_sample(struct sp_segment *seg);

/* storage/log.c */
struct sp_segment *st_segment_new(int64_t base, uint64_t stream_start);
void st_segment_free(struct sp_segment *seg);
struct sp_segment *st_segment_find(const struct sp_plog *log, int64_t offset, uint32_t *at);
void st_lru_touch(struct sp_storage *st, struct sp_segment *seg);
void st_lru_remove(struct sp_storage *st, struct sp_segment *seg);
void st_lru_trim(struct sp_storage *st);
uint64_t st_now_ms(const struct sp_storage *st);
int st_open_flags(const struct sp_storage *st);

/* storage/retention.c */
void st_retention_run(struct sp_plog *log, uint64_t now_ms);

/* storage/compact.c */
/* At open, before the directory is listed: finishes or undoes an interrupted swap. */
int st_compact_recover(struct sp_plog *log);
/* At open, once the offsets are known: loads the cleaner checkpoint (compacted logs). */
int st_compact_load(struct sp_plog *log);
/* Close and truncate: brings the cleaner to a safe point and ends its pass on log. Blocking. */
void st_compact_quiesce(struct sp_plog *log);
/* After a truncation to `offset`. */
void st_compact_truncated(struct sp_plog *log, int64_t offset);
/* When the log is freed: forgets it, no I/O (the cleaner's files wait for recovery). */
void st_compact_forget(struct sp_plog *log);
/* Whether the cleaner holds segments of log (retention waits). */
bool st_compact_holds(const struct sp_plog *log);
/* From sp_storage_tick: picks a log to clean, resumes a waiting pass. */
void st_compact_tick(struct sp_storage *st, int64_t wall_ms);
void st_compact_destroy(struct sp_storage *st);

#endif /* SP_STORAGE_LOG_IMPL_H */
