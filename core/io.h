/*
 * core/io.h: the single I/O interface of a shard.
 *
 * Every socket and file operation in Spindle goes through this interface.
 * It has two implementations behind one API:
 *
 *   - io_uring (core/io_uring.c): production. One ring per shard, created
 *     on the shard's own thread; features probed at start and capped by
 *     `io_uring.features` (e.g. "6.1") so CI can run as Debian 12 would.
 *   - the simulator (core/io_sim.c, core/io_sim.h): deterministic and seeded.
 *     It keeps files in memory, reorders completions, fails chosen
 *     operations, and on a simulated crash keeps only an arbitrary subset of
 *     unflushed sector writes (torn writes included) and loses directory
 *     entries that were never synced. The same seed reproduces the same run.
 *
 * Ownership and threads: a `struct sp_io` belongs to one shard thread; only
 * that thread may call any function here with it.
 *
 * Operations: each submit function takes an operation struct (`struct
 * sp_io_op`) that the caller embeds in its own state and recovers with
 * sp_container_of() in the `done` callback. The op and every buffer or path
 * it refers to are borrowed until the final completion: the caller must not
 * reuse or free them before then. Submit functions never fail directly;
 * every error (including -ENOMEM, -ECANCELED, and errors of the
 * operation itself) arrives as a negative errno in `res`.
 *
 * Completions: reaped completions are queued as (op, res, flags) and run
 * from sp_io_run_completions(), never from inside the reaping loop, so
 * callbacks may submit new operations freely. A multishot accept/recv, and
 * a zero-copy send, may complete several times: `flags & SP_IO_F_MORE` says
 * another completion for the same op follows. The op is free again only
 * after a completion without SP_IO_F_MORE.
 *
 * Return values: 0, a count, or -errno (liburing's convention).
 */
#ifndef SP_CORE_IO_H
#define SP_CORE_IO_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/sp.h"

struct sp_io;
struct sp_io_op;
struct sp_io_bufring;

/* Called once per completion of `op`. res: bytes, an fd, 0, or -errno. */
typedef void (*sp_io_done_fn)(struct sp_io_op *op, int32_t res, uint32_t flags);

/* Completion flags. */
#define SP_IO_F_MORE       (1u << 0) /* another completion for this op follows */
#define SP_IO_F_BUFFER     (1u << 1) /* data landed in a provided buffer: see sp_io_buffer_id() */
#define SP_IO_F_NOTIF      (1u << 2) /* zero-copy send: the buffer is no longer referenced */
#define SP_IO_BUFFER_SHIFT 16

static inline uint16_t sp_io_buffer_id(uint32_t flags)
{
    return (uint16_t)(flags >> SP_IO_BUFFER_SHIFT);
}

enum sp_io_opcode {
    SP_IO_OP_NONE = 0,
    SP_IO_OP_NOP,
    SP_IO_OP_ACCEPT,
    SP_IO_OP_CONNECT,
    SP_IO_OP_RECV,
    SP_IO_OP_SEND,
    SP_IO_OP_SENDMSG,
    SP_IO_OP_SEND_ZC,
    SP_IO_OP_READ,
    SP_IO_OP_WRITE,
    SP_IO_OP_FSYNC,
    SP_IO_OP_FALLOCATE,
    SP_IO_OP_OPENAT,
    SP_IO_OP_CLOSE,
    SP_IO_OP_RENAMEAT,
    SP_IO_OP_UNLINKAT,
    SP_IO_OP_MKDIRAT,
    SP_IO_OP_TIMEOUT,
    SP_IO_OP_CANCEL,
    SP_IO_OP_SENDMSG_ZC,
    SP_IO_OP_COUNT_,
};

/*
 * An operation in flight. Embedded by its owner; `done` is set by the owner,
 * the rest belongs to the implementation while the op is in flight (the
 * simulator needs the arguments to run the op at completion time).
 */
struct sp_io_op {
    sp_io_done_fn done;
    struct sp_io_op *next; /* implementation's intrusive links */
    int32_t res;
    uint32_t flags;
    uint8_t opcode;    /* enum sp_io_opcode */
    uint8_t state;     /* implementation's: idle, queued, in flight, completed */
    uint16_t op_flags; /* SP_IO_MULTISHOT, SP_IO_DATASYNC, ... */
    int32_t fd;
    int32_t fd2;
    uint32_t len;
    uint32_t arg; /* open flags, fallocate mode, unlink flags, iovcnt, ... */
    uint64_t off; /* file offset, timeout in ns, mode */
    void *buf;    /* data buffer, iovec array, sockaddr, or cancel target */
    const char *path;
    const char *path2;
    uint64_t seq; /* implementation's sequence number (simulator ordering) */
};

/* op_flags */
#define SP_IO_MULTISHOT (1u << 0)
#define SP_IO_DATASYNC  (1u << 1)

/* Features an io_uring implementation may use; the simulator reports all. */
enum sp_io_feature {
    SP_IO_FEAT_SINGLE_ISSUER = 1u << 0,
    SP_IO_FEAT_DEFER_TASKRUN = 1u << 1,
    SP_IO_FEAT_COOP_TASKRUN = 1u << 2,
    SP_IO_FEAT_REGISTERED_FILES = 1u << 3,
    SP_IO_FEAT_BUF_RING = 1u << 4,
    SP_IO_FEAT_ACCEPT_MULTISHOT = 1u << 5,
    SP_IO_FEAT_RECV_MULTISHOT = 1u << 6,
    SP_IO_FEAT_SEND_ZC = 1u << 7,
    SP_IO_FEAT_MSG_RING = 1u << 8,   /* usable for cross-core wake-ups (>= 6.2) */
    SP_IO_FEAT_SENDMSG_ZC = 1u << 9, /* vectored zero-copy send (>= 6.1) */
};

struct sp_io_params {
    uint32_t entries;          /* submission queue size; 0 = default */
    uint32_t kernel_cap;       /* cap features at this kernel: (major << 16) | minor; 0 = none */
    uint32_t iowq_workers_max; /* cap on io-wq workers per ring; 0 = default */
};

/* Parses "6.1", "auto" or "" into a kernel cap for sp_io_params. -EINVAL if bad. */
int sp_io_parse_kernel_cap(const char *s, uint32_t *cap_out);

/* Creates the io_uring implementation on the calling thread. Returns 0 or -errno. */
int sp_io_create_uring(struct sp_io **out, const struct sp_io_params *params);
void sp_io_destroy(struct sp_io *io);

/* Features in use, and a human-readable list of them for the log. */
uint32_t sp_io_features(const struct sp_io *io);
void sp_io_features_str(uint32_t features, char *buf, size_t len);

/* The clock: real monotonic time for io_uring, simulated time in the simulator. */
uint64_t sp_io_now_ns(const struct sp_io *io);

/* ---- Submission ------------------------------------------------------- */

void sp_io_nop(struct sp_io *io, struct sp_io_op *op);
/* res: the new fd. With multishot, completions carry SP_IO_F_MORE until the last. */
void sp_io_accept(struct sp_io *io, struct sp_io_op *op, int listen_fd, bool multishot);
/* addr is borrowed until completion. */
void sp_io_connect(struct sp_io *io, struct sp_io_op *op, int fd, const struct sockaddr *addr,
                   socklen_t addrlen);
void sp_io_recv(struct sp_io *io, struct sp_io_op *op, int fd, void *buf, uint32_t len);
/*
 * Multishot receive into buffers of `br`: each completion carries
 * SP_IO_F_BUFFER and a buffer id; the caller gives the buffer back with
 * sp_io_bufring_recycle() once it has consumed the bytes. -ENOBUFS means the
 * ring ran dry and the op has ended; re-arm after recycling.
 */
void sp_io_recv_multishot(struct sp_io *io, struct sp_io_op *op, int fd, struct sp_io_bufring *br);
void sp_io_send(struct sp_io *io, struct sp_io_op *op, int fd, const void *buf, uint32_t len);
/* iov (iovcnt entries) is borrowed until completion. */
void sp_io_sendmsg(struct sp_io *io, struct sp_io_op *op, int fd, const struct iovec *iov,
                   int iovcnt);
/*
 * Zero-copy send where available, else a plain send. A zero-copy send
 * completes twice: the result (with SP_IO_F_MORE), then SP_IO_F_NOTIF when
 * the kernel no longer references the buffer.
 */
void sp_io_send_zc(struct sp_io *io, struct sp_io_op *op, int fd, const void *buf, uint32_t len);
/*
 * sp_io_sendmsg() zero-copy where SP_IO_FEAT_SENDMSG_ZC is on, else a plain
 * sendmsg (one completion). Zero-copy completes as sp_io_send_zc() does.
 * The iovec array is borrowed until the first completion (the result: the
 * send is issued, the kernel is done with the array); the bytes it points
 * to until the final one (the notification: the kernel no longer reads
 * the pages), so the caller may send from other iovecs meanwhile.
 */
void sp_io_sendmsg_zc(struct sp_io *io, struct sp_io_op *op, int fd, const struct iovec *iov,
                      int iovcnt);

void sp_io_read(struct sp_io *io, struct sp_io_op *op, int fd, void *buf, uint32_t len,
                uint64_t off);
void sp_io_write(struct sp_io *io, struct sp_io_op *op, int fd, const void *buf, uint32_t len,
                 uint64_t off);
/* fsync, or fdatasync when datasync. On a directory fd this makes entries durable. */
void sp_io_fsync(struct sp_io *io, struct sp_io_op *op, int fd, bool datasync);
void sp_io_fallocate(struct sp_io *io, struct sp_io_op *op, int fd, int mode, uint64_t off,
                     uint64_t len);
/* res: the new fd. path is borrowed until completion. */
void sp_io_openat(struct sp_io *io, struct sp_io_op *op, int dirfd, const char *path, int flags,
                  mode_t mode);
void sp_io_close(struct sp_io *io, struct sp_io_op *op, int fd);
void sp_io_renameat(struct sp_io *io, struct sp_io_op *op, int olddirfd, const char *oldpath,
                    int newdirfd, const char *newpath);
void sp_io_unlinkat(struct sp_io *io, struct sp_io_op *op, int dirfd, const char *path, int flags);
void sp_io_mkdirat(struct sp_io *io, struct sp_io_op *op, int dirfd, const char *path, mode_t mode);
/* Completes with -ETIME after timeout_ns, or -ECANCELED when cancelled. */
void sp_io_timeout(struct sp_io *io, struct sp_io_op *op, uint64_t timeout_ns);
/* Asks for `target` to end early; `target` still completes (with -ECANCELED or its result). */
void sp_io_cancel(struct sp_io *io, struct sp_io_op *op, struct sp_io_op *target);

/* ---- Provided buffers ------------------------------------------------- */

/* A ring of `count` (a power of two) buffers of `size` bytes each. */
int sp_io_bufring_create(struct sp_io *io, struct sp_io_bufring **out, uint16_t count,
                         uint32_t size);
void sp_io_bufring_destroy(struct sp_io *io, struct sp_io_bufring *br);
void *sp_io_bufring_buf(struct sp_io_bufring *br, uint16_t id);
void sp_io_bufring_recycle(struct sp_io_bufring *br, uint16_t id);

/* ---- Running ---------------------------------------------------------- */

/*
 * Submits what is pending, waits up to timeout_ns for at least one
 * completion (0: do not wait), and reaps every available completion into
 * the completion queue. Returns the number reaped or -errno.
 */
int sp_io_poll(struct sp_io *io, uint64_t timeout_ns);
/* Runs up to `budget` queued completions. Returns how many ran. */
int sp_io_run_completions(struct sp_io *io, int budget);
/* Completions queued and not yet run. */
uint32_t sp_io_completions_pending(const struct sp_io *io);
/* Operations submitted and not yet completed for the last time. */
uint32_t sp_io_inflight(const struct sp_io *io);
/*
 * One turn of a blocking wait on the ring, for start-up, close and
 * recovery (never the data path): when no completion is queued, polls up
 * to 1 ms, then runs up to 1024 queued completions. The caller loops until
 * what it waits for is done. Returns 0, or the poll's error other than
 * -EINTR, -ETIME and -EAGAIN; the caller decides whether an op still in
 * flight lets it stop waiting.
 */
int sp_io_turn(struct sp_io *io);

/* ---- Synchronous helpers ---------------------------------------------- */
/*
 * For start-up, recovery and rare admin actions only, never the data path.
 * They go through the simulator too, so recovery can be tested on it.
 */
int sp_io_ftruncate_sync(struct sp_io *io, int fd, uint64_t size);
/* Size of an open file in bytes into *size. */
int sp_io_fsize_sync(struct sp_io *io, int fd, uint64_t *size);
/* Calls cb(ctx, name, is_dir) for each entry except "." and "..". Stops at a nonzero return. */
int sp_io_listdir_sync(struct sp_io *io, const char *path,
                       int (*cb)(void *ctx, const char *name, bool is_dir), void *ctx);
int sp_io_mkdir_sync(struct sp_io *io, const char *path, mode_t mode);
int sp_io_open_sync(struct sp_io *io, const char *path, int flags, mode_t mode);
int sp_io_close_sync(struct sp_io *io, int fd);

/* ---- Additions for the reactor ---------------------------------------- */

/* "io_uring" or "sim". */
const char *sp_io_impl_name(const struct sp_io *io);

/*
 * Wakes `target` from another thread: its current or next sp_io_poll()
 * returns promptly. The wake-up is sticky: one sent before the target
 * sleeps is not lost, it ends that sleep. `from` is the caller's own
 * sp_io when the caller is a shard thread, or NULL from any other thread.
 * With SP_IO_FEAT_MSG_RING on `from`, the wake-up is an IORING_OP_MSG_RING
 * that rides on the caller's next sp_io_poll(); otherwise it is a write(2)
 * to the target's eventfd, at once.
 */
void sp_io_wake(struct sp_io *from, struct sp_io *target);

/*
 * The eventfd that wakes `io`: writing 8 bytes (any nonzero count) to it
 * is what sp_io_wake(NULL, io) does, and is async-signal-safe. -1 for the
 * simulator, whose wake-ups are a flag.
 */
int sp_io_wake_fd(const struct sp_io *io);

/* Packs a kernel version for sp_io_params.kernel_cap. */
#define SP_IO_KERNEL(major, minor) (((uint32_t)(major) << 16) | (uint32_t)(minor))

/*
 * The kernel cap to use when params->kernel_cap is 0: the environment
 * variable SPINDLE_IO_URING_FEATURES ("6.1"; unset, "" or "auto" = none).
 * An unparsable value returns -EINVAL with *cap_out 0, and
 * sp_io_create_uring() then fails rather than run uncapped unnoticed.
 */
int sp_io_kernel_cap_from_env(uint32_t *cap_out);

/* The running kernel's version as SP_IO_KERNEL(major, minor). */
uint32_t sp_io_kernel_version(void);

#endif /* SP_CORE_IO_H */
