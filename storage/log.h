/*
 * storage/log.h: the partition log. Segmented, O_DIRECT, on core/io.h.
 *
 * What it owns: every file under a partition directory (see
 * storage/format.h for the layout), the write-behind buffers of the
 * segments being written, a per-shard batch cache, and the open file
 * descriptors of segments, and the shard's log cleaner (storage/compact.c:
 * cleanup.policy=compact, run as budgeted background work).
 *
 * Threads: a `struct sp_storage` belongs to one shard and every `struct
 * sp_log` opened on it belongs to that shard too. Only the shard's thread
 * calls these functions; nothing here takes a lock.
 *
 * Offsets of a log, in order (DESIGN.md section 5):
 *
 *   log start <= high watermark <= durable <= written <= log end
 *
 *   log end (LEO)  the next offset to assign; batches below it are accepted
 *                  into the write-behind buffer.
 *   written        every batch below it is on disk (its O_DIRECT write
 *                  completed): it survives kill -9.
 *   durable        fdatasync completed: it survives power loss.
 *   high watermark what consumers may read. With `hw_durable` (the
 *                  default, log.flush.acks.all.wait) it is the durable
 *                  offset, else the written one; with `hw_external` the
 *                  caller (replication) sets it, capped at written.
 *
 * (When `hw_durable` is off, the high watermark can run ahead of durable;
 * the order above then reads hw <= written.)
 *
 * Asynchronous operations embed a struct from this header (sp_plog_append,
 * sp_plog_read) in the caller's state; the struct is borrowed by the log
 * until its `done` callback has run, and `done` runs from an I/O completion,
 * never from inside the call that started it.
 *
 * Blocking calls: sp_plog_open(), sp_plog_close() and sp_plog_truncate() run
 * the shard's I/O loop until their own I/O is done (other completions of
 * the shard run meanwhile). Call them from the top of the shard loop (or
 * from a task), not from inside an I/O completion of the same log.
 *
 * Errors: functions return 0, a count, or -errno. -EIO means the partition
 * is offline (KAFKA_STORAGE_ERROR): an I/O error, a full disk or a CRC
 * mismatch read back took it offline, it said why in the log, and it
 * recovers when reopened.
 */
#ifndef SP_STORAGE_LOG_H
#define SP_STORAGE_LOG_H

#include <stdint.h>
#include <stdbool.h>

#include "core/sp.h"
#include "core/io.h"

struct sp_config;
struct sp_storage;
struct sp_plog;

/* ---- Per shard ---------------------------------------------------------- */

struct sp_storage_params {
    struct sp_io *io;                /* borrowed; the shard's I/O */
    bool buffered_io;                /* log.dirs.force.buffered.io: no O_DIRECT */
    bool hw_durable;                 /* log.flush.acks.all.wait: hw trails durable */
    int64_t flush_interval_messages; /* log.flush.interval.messages */
    int64_t flush_interval_ms;       /* log.flush.interval.ms; -1 off */
    uint64_t cache_bytes_max;        /* log.cache.bytes: batch cache budget */
    uint64_t write_buffer_bytes_max; /* log.write.buffer.bytes: write-behind budget */
    uint32_t open_files_max;         /* log.open.files.max: fds of inactive segments */
    uint32_t chunk_bytes;            /* write-behind chunk, a multiple of 4096 */
    uint32_t writes_inflight_max;    /* per segment */
    uint32_t flushes_inflight_max;   /* per shard */
    uint64_t fallocate_step_bytes;
    /* The log cleaner (storage/compact.c). */
    uint64_t cleaner_dedupe_bytes; /* log.cleaner.dedupe.buffer.size: the key map's memory */
    uint32_t cleaner_step_bytes;   /* batch bytes one cleaner step handles before yielding */
    bool cleaner_enable;           /* pick compacted logs by themselves (tests turn it off) */
};

/* The defaults, then the keys of cfg when cfg is not NULL. io is left NULL. */
void sp_storage_params_init(struct sp_storage_params *p, const struct sp_config *cfg);
/* Returns 0 or -ENOMEM. *out is owned by the caller (sp_storage_destroy). */
int sp_storage_create(struct sp_storage **out, const struct sp_storage_params *p);
/* Every log must be closed first. */
void sp_storage_destroy(struct sp_storage *st);

/*
 * Called once per loop tick by the shard: time-based flushes
 * (log.flush.interval.ms), batch cache eviction, background retention and
 * the release of idle write buffers. Cheap when there is nothing to do.
 */
void sp_storage_tick(struct sp_storage *st);

struct sp_storage_stats {
    uint64_t cache_bytes;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t write_buffer_bytes;
    uint32_t open_files; /* inactive segments' fds */
    uint32_t logs;
    uint64_t flushes;
    uint64_t disk_reads;
    uint64_t writes;      /* segment writes issued */
    uint64_t write_bytes; /* bytes they carried (tail rewrites included) */
    /* The log cleaner. */
    uint64_t cleaner_passes;          /* passes that finished */
    uint64_t cleaner_read_bytes;      /* segment bytes read (map and copy) */
    uint64_t cleaner_written_bytes;   /* cleaned segment bytes written */
    uint64_t cleaner_records_removed; /* superseded records, tombstones, aborted data */
    uint64_t cleaner_segments_swapped;
    uint64_t cleaner_step_max_ns; /* longest single cleaner step (time the shard was held) */
};
void sp_storage_stats(const struct sp_storage *st, struct sp_storage_stats *out);

/* ---- Per partition -------------------------------------------------------- */

/* Per-topic settings (the broker maps topic configs onto it). */
struct sp_plog_options {
    int64_t segment_bytes;        /* segment.bytes */
    int64_t segment_ms;           /* segment.ms */
    int64_t retention_ms;         /* retention.ms; -1 forever */
    int64_t retention_bytes;      /* retention.bytes; -1 no limit */
    int32_t index_interval_bytes; /* index.interval.bytes */
    int64_t flush_messages;       /* flush.messages; <= 0: the shard's */
    int64_t flush_ms;             /* flush.ms; < 0: the shard's */
    bool hw_external;             /* the high watermark is set by replication */
    /* Compaction (cleanup.policy has "compact"). */
    bool compact;
    double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio */
    int64_t min_compaction_lag_ms;    /* min.compaction.lag.ms */
    int64_t max_compaction_lag_ms;    /* max.compaction.lag.ms; INT64_MAX: none */
    int64_t delete_retention_ms;      /* delete.retention.ms: tombstones kept after cleaning */
};
/* Broker-level defaults (log.segment.bytes, log.roll.hours, ...) or built-ins. */
void sp_plog_options_init(struct sp_plog_options *o, const struct sp_config *cfg);

/* Called on the shard when the high watermark moves (to wake long polls). */
typedef void (*sp_plog_hw_fn)(void *ctx, struct sp_plog *log, int64_t hw);

struct sp_plog_open_params {
    const char *dir;      /* partition directory, e.g. <log.dir>/topic-0; borrowed */
    uint8_t topic_id[16]; /* written to partition.metadata; all zero: not checked */
    struct sp_plog_options opts;
    sp_plog_hw_fn on_hw; /* may be NULL */
    void *on_hw_ctx;
};

/*
 * Opens or creates a partition log: recovers it (scans and truncates a torn
 * tail, rebuilds bad indexes, restores offsets and leader epochs). Blocking
 * (see the top). Returns 0, -ESTALE (directory holds another topic id), or
 * -errno.
 */
int sp_plog_open(struct sp_storage *st, const struct sp_plog_open_params *p, struct sp_plog **out);

/*
 * Closes cleanly: waits for its I/O, flushes, truncates the active segment to
 * its end, writes its indexes and the clean-shutdown marker. Blocking. The log
 * is freed in every case; returns the first error.
 */
int sp_plog_close(struct sp_plog *log);
/* Frees without any I/O, as a crash would leave it (tests, offline logs). */
void sp_plog_abandon(struct sp_plog *log);

/* What an append waits for before calling done. */
enum sp_plog_ack {
    SP_PLOG_ACK_NONE = 0, /* acks=0: done is not called */
    SP_PLOG_ACK_WRITTEN,  /* acks=1 */
    SP_PLOG_ACK_DURABLE,  /* acks=all on a single node when hw_durable */
};

struct sp_plog_append {
    /* Set by the caller. */
    void (*done)(struct sp_plog_append *a, int res);
    enum sp_plog_ack ack;
    /* Filled by sp_plog_append*(): the offsets the batches got. */
    int64_t base_offset;
    int64_t last_offset;
    /* Private. */
    struct sp_plog_append *next;
};

/*
 * Appends producer batches (one or more whole v2 batches; borrowed only
 * during the call, copied before it returns), whose CRCs the protocol layer
 * has checked (sp_batch_validate_produce); storage checks their framing. The log assigns offsets by
 * rewriting each base offset, and stamps the current leader epoch. Returns 0
 * (done follows unless ack is NONE), -EBADMSG (not whole valid batches),
 * -ENOBUFS (write-behind budget full: retry after some completions), or -EIO
 * (offline).
 */
int sp_plog_append(struct sp_plog *log, struct sp_plog_append *a, const uint8_t *batches,
                   size_t len);
/*
 * Appends replicated batches (CRCs checked here): offsets already assigned, the first must be the
 * log end and each next one contiguous (-EINVAL otherwise). Leader epochs
 * are kept and recorded in the epoch cache.
 */
int sp_plog_append_replica(struct sp_plog *log, struct sp_plog_append *a, const uint8_t *batches,
                           size_t len);

/* Sets the leader epoch stamped on producer batches from now on. */
void sp_plog_set_leader_epoch(struct sp_plog *log, int32_t epoch);
/*
 * A topic config change: appends, rolls, retention and cleaning passes
 * use o from now on (nothing already written is rewritten). hw_external
 * is fixed at open and kept.
 */
void sp_plog_set_options(struct sp_plog *log, const struct sp_plog_options *o);

enum sp_plog_isolation {
    SP_PLOG_READ_HW = 0,  /* consumers: up to the high watermark */
    SP_PLOG_READ_WRITTEN, /* followers: up to the written offset */
};

struct sp_plog_read {
    /* Set by the caller. */
    void (*done)(struct sp_plog_read *r, int res);
    int64_t offset;
    uint32_t max_bytes;
    enum sp_plog_isolation isolation;
    /* Results: whole batches from the first one holding `offset`. */
    const uint8_t *data;
    uint32_t len;
    int64_t next_offset; /* after the last batch returned */
    /* Private. */
    struct sp_io_op op;
    struct sp_plog *log;
    struct sp_segment *seg;
    uint8_t *buf;
    uint64_t pos;
    uint32_t buf_len;
    uint8_t state;
    uint8_t mode;
    uint8_t in_call;
    int32_t res;
    int64_t limit;
    int64_t ts;
};

/*
 * Reads whole batches from `offset`, within `max_bytes`, always at least the
 * first batch (KIP-74), never past the isolation limit. Returns 0 when the
 * result is ready now (cache hit, or nothing to read: len 0), 1 when done
 * will be called, -ERANGE when offset is below the log start or past the log
 * end, -EIO when offline. The result stays valid until sp_plog_read_release().
 */
int sp_plog_read(struct sp_plog *log, struct sp_plog_read *r);
void sp_plog_read_release(struct sp_plog_read *r);

/*
 * First batch whose max timestamp is >= ts (ListOffsets). Same calling
 * convention as sp_plog_read; r->next_offset gets the batch's base offset, or
 * the log end when there is none. ts -1 (latest) and -2 (earliest) are
 * answered at once.
 */
int sp_plog_offset_for_time(struct sp_plog *log, struct sp_plog_read *r, int64_t ts);

/*
 * OffsetForLeaderEpoch: the end offset of `epoch` and the largest epoch <=
 * it. Returns 0, or -ENOENT when the log knows no epoch <= `epoch`.
 */
int sp_plog_epoch_end_offset(const struct sp_plog *log, int32_t epoch, int32_t *epoch_out,
                             int64_t *end_offset_out);

/* Removes everything at and after `offset` (replica truncation). Blocking. */
int sp_plog_truncate(struct sp_plog *log, int64_t offset);
/*
 * DeleteRecords: moves the log start up to `offset` (<= the high watermark,
 * else -ERANGE); whole segments below it go in the background.
 */
int sp_plog_delete_records(struct sp_plog *log, int64_t offset);

/*
 * Starts the background deletion of whole segments that retention (time,
 * size) or the log start allow, judged at wall-clock now_ms. sp_storage_tick
 * calls it; tests call it with a chosen time. Returns segments queued.
 */
int sp_plog_retention_run(struct sp_plog *log, int64_t now_ms);

/*
 * Compaction (storage/compact.c). The shard's cleaner picks compacted logs by
 * itself from sp_storage_tick; sp_plog_compact_start() starts a pass on this
 * log now, judged at wall-clock now_ms, whatever its dirty ratio (lag
 * settings still hold). Returns 1 (started; it runs in the background), 0
 * (nothing cleanable), -EBUSY (the shard's cleaner is busy), -EINVAL (the
 * log is not compacted) or -EIO (offline).
 */
int sp_plog_compact_start(struct sp_plog *log, int64_t now_ms);
/* Whether the shard's cleaner is working on this log. */
bool sp_plog_compact_busy(const struct sp_plog *log);
/* Offsets below it have been deduplicated by the cleaner (its checkpoint). */
int64_t sp_plog_clean_offset(const struct sp_plog *log);

/* Asks for an fdatasync now (acks=all of a client that wants it). */
void sp_plog_flush(struct sp_plog *log);
/* Replication: the ISR's high watermark (only with opts.hw_external). */
void sp_plog_set_high_watermark(struct sp_plog *log, int64_t hw);

int64_t sp_plog_start_offset(const struct sp_plog *log);
int64_t sp_plog_end_offset(const struct sp_plog *log);
int64_t sp_plog_written_offset(const struct sp_plog *log);
int64_t sp_plog_durable_offset(const struct sp_plog *log);
int64_t sp_plog_high_watermark(const struct sp_plog *log);
/* 0, or the negative errno that took the log offline. */
int sp_plog_error(const struct sp_plog *log);
/* Bytes held by this log's own structures while idle (the memory report). */
uint64_t sp_plog_memory_bytes(const struct sp_plog *log);
uint32_t sp_plog_segment_count(const struct sp_plog *log);
uint64_t sp_plog_size_bytes(const struct sp_plog *log);

#endif /* SP_STORAGE_LOG_H */
