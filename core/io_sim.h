/*
 * core/io_sim.h: the deterministic simulator behind core/io.h, for tests.
 *
 * A `struct sp_sim_fs` is a simulated disk: a tree of directories and files
 * kept in memory, plus the simulated clock. It outlives the `struct sp_io`s
 * created over it, so a test can crash it and create a fresh sp_io (a
 * "restarted process") over what survived:
 *
 *   struct sp_sim_fs *fs = sp_sim_fs_create(seed);
 *   struct sp_io *io;
 *   sp_io_create_sim(&io, fs, seed);
 *   ... run the code under test on io ...
 *   sp_sim_fs_crash(fs);            // io is now dead: destroy it
 *   sp_io_destroy(io);
 *   sp_io_create_sim(&io, fs, seed + 1);
 *   ... recovery runs on what survived ...
 *
 * Paths are plain strings: absolute ("/data/t-0/0.log") or relative to a
 * directory fd, AT_FDCWD meaning "/". "." and ".." work; there are no
 * links. File descriptors are simulated (small integers from 3 up) and mean
 * nothing to the real kernel.
 *
 * Durability model. Every file has a current content (what reads see) and
 * a durable content (what survives a crash); every directory has current
 * and durable entries.
 *   - write, ftruncate, O_TRUNC and fallocate change the current content
 *     and are remembered as unflushed changes;
 *   - fsync or fdatasync of the file makes all of them durable;
 *   - creating, renaming and unlinking change a directory's current
 *     entries; fsync of the directory makes them durable;
 *   - sp_sim_fs_crash() rebuilds every file from its durable content plus
 *     an arbitrary seeded subset of its unflushed changes, cut into sector
 *     units (so a write can be torn at any sector boundary), and every
 *     directory that had unsynced changes either keeps them all or loses
 *     them all (a seeded coin per directory: a journal commit). Everything
 *     that was flushed before the crash survives it exactly.
 *
 * Scheduling. An operation runs (takes effect) when it completes, not when
 * it is submitted. Each gets a seeded random latency, so completions come
 * back out of submission order unless reordering is switched off. Time only
 * moves inside sp_io_poll(): to the next completion, or by the timeout when
 * nothing completes sooner. The same seeds and the same calls give the same
 * run, byte for byte.
 *
 * Threads: a sim fs and every sp_io over it belong to one thread at a time.
 * Sockets are not simulated yet: network operations complete with
 * -EOPNOTSUPP.
 */
#ifndef SP_CORE_IO_SIM_H
#define SP_CORE_IO_SIM_H

#include <stdint.h>
#include <stdbool.h>

#include "core/io.h"

struct sp_sim_fs;

/* Operation kinds for fault injection: enum sp_io_opcode, then the sync helpers. */
enum sp_sim_op_kind {
    SP_SIM_OP_FTRUNCATE_SYNC = SP_IO_OP_COUNT_,
    SP_SIM_OP_FSIZE_SYNC,
    SP_SIM_OP_LISTDIR_SYNC,
    SP_SIM_OP_MKDIR_SYNC,
    SP_SIM_OP_OPEN_SYNC,
    SP_SIM_OP_CLOSE_SYNC,
    SP_SIM_OP_KINDS_,
};

/* A new empty file system (just "/"). Returned owned; NULL on ENOMEM. */
struct sp_sim_fs *sp_sim_fs_create(uint64_t seed);
/* Frees the file system. Every sp_io over it must be destroyed first. */
void sp_sim_fs_destroy(struct sp_sim_fs *fs);

/*
 * Simulates power loss: see the durability model above. Every sp_io over
 * fs dies: its operations in flight never complete, new ones complete with
 * -EIO; destroy them and create new ones.
 */
void sp_sim_fs_crash(struct sp_sim_fs *fs);

/* Unit of tearing on a crash, a power of two (default 512). */
void sp_sim_fs_set_sector_size(struct sp_sim_fs *fs, uint32_t bytes);
/* Total bytes the files may hold; writes and fallocate beyond fail with -ENOSPC. 0 = no limit. */
void sp_sim_fs_set_capacity(struct sp_sim_fs *fs, uint64_t bytes);
/* Bytes the files hold now. */
uint64_t sp_sim_fs_used(const struct sp_sim_fs *fs);
/* The simulated clock, shared by every sp_io over fs. */
uint64_t sp_sim_fs_now_ns(const struct sp_sim_fs *fs);
/* A hash of the whole current tree (names, kinds, sizes, contents). */
uint64_t sp_sim_fs_digest(const struct sp_sim_fs *fs);

/* Creates a simulated sp_io over fs. Returns 0 or -errno. */
int sp_io_create_sim(struct sp_io **out, struct sp_sim_fs *fs, uint64_t seed);

/* The sp_io's file system and whether a crash killed it. */
struct sp_sim_fs *sp_sim_fs_of(struct sp_io *io);
bool sp_sim_dead(const struct sp_io *io);

/*
 * Completion latency, drawn uniformly from [min_ns, max_ns] per operation
 * (default 1 us .. 100 us). With reorder off, operations complete in
 * submission order (timeouts still complete at their deadline).
 */
void sp_sim_set_latency(struct sp_io *io, uint64_t min_ns, uint64_t max_ns);
void sp_sim_set_reorder(struct sp_io *io, bool reorder);
/*
 * Alignment that O_DIRECT reads and writes must have in buffer address,
 * length and offset, as ext4 demands (-EINVAL otherwise). Default 4096;
 * 0 turns the check off.
 */
void sp_sim_set_direct_align(struct sp_io *io, uint32_t align);

/* The next `count` operations of `kind` fail with -err (err > 0) and have no effect. */
void sp_sim_fail_next(struct sp_io *io, unsigned kind, int err, uint32_t count);
/* Each operation of `kind` fails with -err with probability permille/1000. */
void sp_sim_fail_rate(struct sp_io *io, unsigned kind, int err, uint32_t permille);
/* Clears every injected fault. */
void sp_sim_fail_clear(struct sp_io *io);
/* Operations that failed by injection so far. */
uint64_t sp_sim_faults_injected(const struct sp_io *io);

/* A hash of every completion so far (op kind, result, time): equal runs, equal hashes. */
uint64_t sp_sim_trace_hash(const struct sp_io *io);
/* When the next operation completes (simulated ns), or UINT64_MAX if none is in flight. */
uint64_t sp_sim_next_event_ns(const struct sp_io *io);

#endif /* SP_CORE_IO_SIM_H */
