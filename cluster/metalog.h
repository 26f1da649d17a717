/*
 * cluster/metalog.h: the metadata log, __cluster_metadata-0, as KRaft keeps
 * it: a partition of v2 record batches in <first log dir>/__cluster_metadata-0
 * (storage/log.h), each record's value a metadata record framed as KRaft
 * frames it (frame version, record type, record version as unsigned varints,
 * then the record from ../shared/kafka-protocol/metadata/), the key null;
 * control batches (LeaderChange on each start of this single voter, epoch
 * bumped) as KRaft writes them; and snapshots, <offset>-<epoch>.checkpoint
 * files in the same directory, holding the whole state as records between
 * a SnapshotHeader and a SnapshotFooter, written once the log has grown by
 * SP_METALOG_SNAPSHOT_RECORDS records since the last one, after which the
 * log start moves up past what the snapshot covers.
 *
 * Two phases:
 *
 *   Load (main thread, before the shards start): sp_metalog_load() reads
 *   the newest valid snapshot and the log after it on its own temporary
 *   ring, and hands every metadata record, in order, to a callback. The
 *   records are decoded with the generated codecs (protocol/kproto.h); the
 *   callback sees struct sp_metalog_record.
 *
 *   Append (shard 0, the controller): sp_metalog_open() reopens the log on
 *   the shard's storage; sp_metalog_append() encodes records into one batch
 *   and appends it with acks=all semantics (done once durable). Appends
 *   complete in the order they were made. A snapshot is written in the
 *   background when due (the caller hands the current state's records
 *   through the snapshot callback).
 *
 * Threads: as above; nothing here is shared.
 */
#ifndef SP_CLUSTER_METALOG_H
#define SP_CLUSTER_METALOG_H

#include <stdint.h>
#include <stddef.h>

#include "protocol/kproto.h"

struct sp_storage;
struct sp_config;

#define SP_METALOG_DIR              "__cluster_metadata-0"
#define SP_METALOG_SNAPSHOT_RECORDS 20000
#define SP_METALOG_BATCH_RECORDS    4096 /* records in one append, at most */

/* One decoded metadata record. `msg` is struct kproto_<type>_record. */
struct sp_metalog_record {
    int16_t type;    /* the record's apiKey: 2 TopicRecord, 3 PartitionRecord, ... */
    int16_t version; /* its version */
    const void *msg;
};

/*
 * Called once per record during a load, in log order: first the records of
 * the newest snapshot (offset: the last offset the snapshot covers, for
 * each of them), then the log's records after it (offset: the record's
 * own). r, r->msg and whatever they point to are borrowed for the call
 * only. Nonzero stops the load, and sp_metalog_load returns it.
 */
typedef int (*sp_metalog_record_fn)(void *ctx, int64_t offset, const struct sp_metalog_record *r);

/*
 * Main thread, before the shards start: loads the metadata log from
 * log_dir (created empty if absent). Returns 0 (end offset and leader epoch in *end_offset, *epoch,
 * for the controller), or -errno with a log line.
 */
int sp_metalog_load(const char *log_dir, const struct sp_config *cfg, sp_metalog_record_fn fn,
                    void *ctx, int64_t *end_offset, int32_t *epoch);

struct sp_metalog;

/*
 * Shard 0: opens the log for appending (blocking, as sp_plog_open), bumps the
 * epoch and writes its LeaderChange (this node, from log_dir's
 * meta.properties, the only voter), waiting until it is durable. -EINVAL
 * off the shards.
 */
int sp_metalog_open(struct sp_storage *st, const char *log_dir, struct sp_metalog **out);
/* Shard 0: waits for appends in flight, closes. Blocking; not from inside a done callback. */
void sp_metalog_close(struct sp_metalog *ml);

/* The next offset to be assigned, the current epoch, and the end offset of the newest snapshot. */
int64_t sp_metalog_end_offset(const struct sp_metalog *ml);
int32_t sp_metalog_epoch(const struct sp_metalog *ml);
int64_t sp_metalog_snapshot_offset(const struct sp_metalog *ml);

struct sp_metalog_append {
    /* Set by the caller. */
    void (*done)(struct sp_metalog_append *a, int res); /* res 0 or -errno */
    /* Filled: the offset of the first record. */
    int64_t base_offset;
    /* Private. */
    uint8_t priv[96];
};

/*
 * Appends records r[0..n) (n <= SP_METALOG_BATCH_RECORDS) as one batch,
 * encoded before the call returns (r is borrowed during the call only).
 * done follows once durable (fdatasync, whatever log.flush.acks.all.wait
 * says), from a completion, in the order of the calls. 0, or -errno
 * (nothing appended): -EINVAL (an unknown record type or version, n out
 * of range), -ENOBUFS (storage's write buffers are full: retry after a
 * completion), -EIO (an earlier append failed: the log is offline).
 */
int sp_metalog_append(struct sp_metalog *ml, struct sp_metalog_append *a,
                      const struct sp_metalog_record *r, size_t n);

/*
 * The state to snapshot: called by the metalog (on shard 0) when a snapshot
 * is due; `emit` is to be called once per record of the whole current state
 * in an order that replays to it. Registered by the controller.
 */
typedef void (*sp_metalog_emit_fn)(struct sp_metalog *ml, const struct sp_metalog_record *r);
typedef void (*sp_metalog_state_fn)(void *ctx, struct sp_metalog *ml, sp_metalog_emit_fn emit);
void sp_metalog_set_snapshot_source(struct sp_metalog *ml, sp_metalog_state_fn fn, void *ctx);

/*
 * A snapshot is due once this many records were made durable since the
 * last one (SP_METALOG_SNAPSHOT_RECORDS unless set; tests set less). It is
 * written from a task deferred (sp_rx_defer, first in first out) just
 * after the done callback of the append that completes with none left in
 * flight, so a task that callback defers (applying the records) runs
 * first. The state the source emits must then be the state of every record
 * appended: the snapshot is named after the log end at that moment.
 */
void sp_metalog_set_snapshot_threshold(struct sp_metalog *ml, uint64_t records);

#endif /* SP_CLUSTER_METALOG_H */
