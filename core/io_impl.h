/*
 * core/io_impl.h: what the two implementations of core/io.h share. Private
 * to core/io.c, core/io_uring.c and core/io_sim.c; nothing else includes it.
 *
 * core/io.c fills a `struct sp_io_op` from the arguments of each submit
 * function and hands it to the implementation's `submit`. Implementations
 * push what they reap into the common completion queue below with
 * sp_io_cq_push(); sp_io_run_completions() pops and runs them.
 *
 *   completion queue (a ring of (op, res, flags), grows by doubling):
 *
 *     head                 tail
 *      v                    v
 *   [ c0 | c1 | c2 | ... |    |    ]     c.op->done(c.op, c.res, c.flags)
 */
#ifndef SP_CORE_IO_IMPL_H
#define SP_CORE_IO_IMPL_H

#include "core/io.h"

/* op->state */
enum {
    SP_IO_STATE_IDLE = 0,
    SP_IO_STATE_QUEUED,    /* waiting for submission (backlog, simulator queue) */
    SP_IO_STATE_INFLIGHT,  /* submitted, final completion not yet reaped */
    SP_IO_STATE_COMPLETED, /* final completion reaped */
};

struct sp_io_cqe {
    struct sp_io_op *op;
    int32_t res;
    uint32_t flags;
};

struct sp_io_vtable {
    const char *name;
    void (*submit)(struct sp_io *io, struct sp_io_op *op);
    int (*poll)(struct sp_io *io, uint64_t timeout_ns);
    uint64_t (*now_ns)(const struct sp_io *io);
    void (*destroy)(struct sp_io *io);
    void (*wake)(struct sp_io *from, struct sp_io *target);
    int (*wake_fd)(const struct sp_io *io);
    int (*bufring_create)(struct sp_io *io, struct sp_io_bufring **out, uint16_t count,
                          uint32_t size);
    void (*bufring_destroy)(struct sp_io *io, struct sp_io_bufring *br);
    void (*bufring_recycle)(struct sp_io_bufring *br, uint16_t id);
    int (*ftruncate_sync)(struct sp_io *io, int fd, uint64_t size);
    int (*fsize_sync)(struct sp_io *io, int fd, uint64_t *size);
    int (*listdir_sync)(struct sp_io *io, const char *path,
                        int (*cb)(void *ctx, const char *name, bool is_dir), void *ctx);
    int (*mkdir_sync)(struct sp_io *io, const char *path, mode_t mode);
    int (*open_sync)(struct sp_io *io, const char *path, int flags, mode_t mode);
    int (*close_sync)(struct sp_io *io, int fd);
};

struct sp_io {
    const struct sp_io_vtable *vt;
    uint32_t features;
    uint32_t inflight;
    struct sp_io_cqe *cq;
    uint32_t cq_mask;
    uint32_t cq_head;
    uint32_t cq_tail;
};

/* Shared by both implementations' buffer rings. */
struct sp_io_bufring {
    struct sp_io *io;
    uint8_t *bufs;
    uint32_t size;
    uint16_t count;
    uint16_t bgid;
};

int sp_io_base_init(struct sp_io *io, const struct sp_io_vtable *vt, uint32_t cq_entries);
void sp_io_base_fini(struct sp_io *io);

/*
 * Queues one completion of `op`; `final` ends the op (inflight drops).
 * Returns 0 or -ENOMEM when the queue could not grow (the caller keeps the
 * completion and retries; the io_uring CQ is left unconsumed).
 */
int sp_io_cq_push(struct sp_io *io, struct sp_io_op *op, int32_t res, uint32_t flags);

static inline uint32_t sp_io_cq_len(const struct sp_io *io)
{
    return io->cq_tail - io->cq_head;
}

#endif /* SP_CORE_IO_IMPL_H */
