/*
 * core/io.c: the half of core/io.h both implementations share: filling
 * operations from the submit functions' arguments, the completion queue,
 * the kernel-cap parsing, and dispatch to the implementation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "core/io_impl.h"

int sp_io_base_init(struct sp_io *io, const struct sp_io_vtable *vt, uint32_t cq_entries)
{
    uint32_t n = 64;
    while (n < cq_entries) {
        n <<= 1;
    }
    io->vt = vt;
    io->features = 0;
    io->inflight = 0;
    io->cq = calloc(n, sizeof(*io->cq));
    if (io->cq == NULL) {
        return -ENOMEM;
    }
    io->cq_mask = n - 1;
    io->cq_head = 0;
    io->cq_tail = 0;
    return 0;
}

void sp_io_base_fini(struct sp_io *io)
{
    free(io->cq);
    io->cq = NULL;
}

static int cq_grow(struct sp_io *io)
{
    uint32_t n = io->cq_mask + 1;
    struct sp_io_cqe *cq = malloc((size_t)n * 2 * sizeof(*cq));
    if (cq == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        cq[i] = io->cq[(io->cq_head + i) & io->cq_mask];
    }
    free(io->cq);
    io->cq = cq;
    io->cq_head = 0;
    io->cq_tail = n;
    io->cq_mask = n * 2 - 1;
    return 0;
}

int sp_io_cq_push(struct sp_io *io, struct sp_io_op *op, int32_t res, uint32_t flags)
{
    if (sp_io_cq_len(io) == io->cq_mask + 1) {
        int rc = cq_grow(io);
        if (rc < 0) {
            return rc;
        }
    }
    struct sp_io_cqe *c = &io->cq[io->cq_tail & io->cq_mask];
    c->op = op;
    c->res = res;
    c->flags = flags;
    io->cq_tail++;
    if (!(flags & SP_IO_F_MORE)) {
        SP_ASSERT(io->inflight > 0);
        SP_ASSERT(op->state == SP_IO_STATE_INFLIGHT);
        io->inflight--;
        op->state = SP_IO_STATE_COMPLETED;
    }
    return 0;
}

int sp_io_run_completions(struct sp_io *io, int budget)
{
    int ran = 0;
    while (ran < budget && io->cq_head != io->cq_tail) {
        struct sp_io_cqe c = io->cq[io->cq_head & io->cq_mask];
        io->cq_head++;
        c.op->res = c.res;
        c.op->flags = c.flags;
        ran++;
        c.op->done(c.op, c.res, c.flags);
    }
    return ran;
}

uint32_t sp_io_completions_pending(const struct sp_io *io)
{
    return sp_io_cq_len(io);
}

uint32_t sp_io_inflight(const struct sp_io *io)
{
    return io->inflight;
}

uint32_t sp_io_features(const struct sp_io *io)
{
    return io->features;
}

const char *sp_io_impl_name(const struct sp_io *io)
{
    return io->vt->name;
}

void sp_io_features_str(uint32_t features, char *buf, size_t len)
{
    static const char *const names[] = {
        "single_issuer",    "defer_taskrun",  "coop_taskrun", "registered_files", "buf_ring",
        "accept_multishot", "recv_multishot", "send_zc",      "msg_ring",         "sendmsg_zc",
    };
    size_t used = 0;
    if (len == 0) {
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++) {
        if (!(features & (1u << i))) {
            continue;
        }
        int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", names[i]);
        if (n < 0 || (size_t)n >= len - used) {
            break;
        }
        used += (size_t)n;
    }
    if (used == 0) {
        snprintf(buf, len, "none");
    }
}

int sp_io_parse_kernel_cap(const char *s, uint32_t *cap_out)
{
    *cap_out = 0;
    if (s == NULL || s[0] == '\0' || strcmp(s, "auto") == 0) {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long major = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '.' || major == 0 || major > 0xffff) {
        return -EINVAL;
    }
    const char *p = end + 1;
    unsigned long minor = strtoul(p, &end, 10);
    if (errno != 0 || end == p || *end != '\0' || minor > 0xffff) {
        return -EINVAL;
    }
    *cap_out = SP_IO_KERNEL(major, minor);
    return 0;
}

int sp_io_kernel_cap_from_env(uint32_t *cap_out)
{
    return sp_io_parse_kernel_cap(getenv("SPINDLE_IO_URING_FEATURES"), cap_out);
}

uint32_t sp_io_kernel_version(void)
{
    struct utsname u;
    unsigned major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2) {
        return 0;
    }
    return SP_IO_KERNEL(major, minor);
}

void sp_io_destroy(struct sp_io *io)
{
    if (io != NULL) {
        io->vt->destroy(io);
    }
}

uint64_t sp_io_now_ns(const struct sp_io *io)
{
    return io->vt->now_ns(io);
}

int sp_io_poll(struct sp_io *io, uint64_t timeout_ns)
{
    return io->vt->poll(io, timeout_ns);
}

int sp_io_turn(struct sp_io *io)
{
    if (sp_io_completions_pending(io) == 0) {
        int r = sp_io_poll(io, 1000000);
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EAGAIN) {
            return r;
        }
    }
    sp_io_run_completions(io, 1024);
    return 0;
}

void sp_io_wake(struct sp_io *from, struct sp_io *target)
{
    target->vt->wake(from, target);
}

int sp_io_wake_fd(const struct sp_io *io)
{
    return io->vt->wake_fd(io);
}

/* ---- Submission: fill the op, hand it over ----------------------------- */

static void op_fill(struct sp_io_op *op, uint8_t opcode, int fd)
{
    SP_ASSERT(op->done != NULL);
    SP_ASSERT(op->state != SP_IO_STATE_QUEUED && op->state != SP_IO_STATE_INFLIGHT);
    op->next = NULL;
    op->res = 0;
    op->flags = 0;
    op->opcode = opcode;
    op->op_flags = 0;
    op->fd = fd;
    op->fd2 = -1;
    op->len = 0;
    op->arg = 0;
    op->off = 0;
    op->buf = NULL;
    op->path = NULL;
    op->path2 = NULL;
}

static void op_submit(struct sp_io *io, struct sp_io_op *op)
{
    op->state = SP_IO_STATE_INFLIGHT;
    io->inflight++;
    io->vt->submit(io, op);
}

void sp_io_nop(struct sp_io *io, struct sp_io_op *op)
{
    op_fill(op, SP_IO_OP_NOP, -1);
    op_submit(io, op);
}

void sp_io_accept(struct sp_io *io, struct sp_io_op *op, int listen_fd, bool multishot)
{
    op_fill(op, SP_IO_OP_ACCEPT, listen_fd);
    op->op_flags = multishot ? SP_IO_MULTISHOT : 0;
    op_submit(io, op);
}

void sp_io_connect(struct sp_io *io, struct sp_io_op *op, int fd, const struct sockaddr *addr,
                   socklen_t addrlen)
{
    op_fill(op, SP_IO_OP_CONNECT, fd);
    op->buf = (void *)(uintptr_t)addr;
    op->len = addrlen;
    op_submit(io, op);
}

void sp_io_recv(struct sp_io *io, struct sp_io_op *op, int fd, void *buf, uint32_t len)
{
    op_fill(op, SP_IO_OP_RECV, fd);
    op->buf = buf;
    op->len = len;
    op_submit(io, op);
}

void sp_io_recv_multishot(struct sp_io *io, struct sp_io_op *op, int fd, struct sp_io_bufring *br)
{
    op_fill(op, SP_IO_OP_RECV, fd);
    op->op_flags = SP_IO_MULTISHOT;
    op->buf = br;
    op_submit(io, op);
}

void sp_io_send(struct sp_io *io, struct sp_io_op *op, int fd, const void *buf, uint32_t len)
{
    op_fill(op, SP_IO_OP_SEND, fd);
    op->buf = (void *)(uintptr_t)buf;
    op->len = len;
    op_submit(io, op);
}

void sp_io_sendmsg(struct sp_io *io, struct sp_io_op *op, int fd, const struct iovec *iov,
                   int iovcnt)
{
    op_fill(op, SP_IO_OP_SENDMSG, fd);
    op->buf = (void *)(uintptr_t)iov;
    op->arg = (uint32_t)iovcnt;
    op_submit(io, op);
}

void sp_io_send_zc(struct sp_io *io, struct sp_io_op *op, int fd, const void *buf, uint32_t len)
{
    op_fill(op, SP_IO_OP_SEND_ZC, fd);
    op->buf = (void *)(uintptr_t)buf;
    op->len = len;
    op_submit(io, op);
}

void sp_io_sendmsg_zc(struct sp_io *io, struct sp_io_op *op, int fd, const struct iovec *iov,
                      int iovcnt)
{
    op_fill(op, SP_IO_OP_SENDMSG_ZC, fd);
    op->buf = (void *)(uintptr_t)iov;
    op->arg = (uint32_t)iovcnt;
    op_submit(io, op);
}

void sp_io_read(struct sp_io *io, struct sp_io_op *op, int fd, void *buf, uint32_t len,
                uint64_t off)
{
    op_fill(op, SP_IO_OP_READ, fd);
    op->buf = buf;
    op->len = len;
    op->off = off;
    op_submit(io, op);
}

void sp_io_write(struct sp_io *io, struct sp_io_op *op, int fd, const void *buf, uint32_t len,
                 uint64_t off)
{
    op_fill(op, SP_IO_OP_WRITE, fd);
    op->buf = (void *)(uintptr_t)buf;
    op->len = len;
    op->off = off;
    op_submit(io, op);
}

void sp_io_fsync(struct sp_io *io, struct sp_io_op *op, int fd, bool datasync)
{
    op_fill(op, SP_IO_OP_FSYNC, fd);
    op->op_flags = datasync ? SP_IO_DATASYNC : 0;
    op_submit(io, op);
}

/* The length travels in `buf` as an integer: fallocate has no buffer. */
void sp_io_fallocate(struct sp_io *io, struct sp_io_op *op, int fd, int mode, uint64_t off,
                     uint64_t len)
{
    op_fill(op, SP_IO_OP_FALLOCATE, fd);
    op->arg = (uint32_t)mode;
    op->off = off;
    op->buf = (void *)(uintptr_t)len;
    op_submit(io, op);
}

void sp_io_openat(struct sp_io *io, struct sp_io_op *op, int dirfd, const char *path, int flags,
                  mode_t mode)
{
    op_fill(op, SP_IO_OP_OPENAT, dirfd);
    op->path = path;
    op->arg = (uint32_t)flags;
    op->off = mode;
    op_submit(io, op);
}

void sp_io_close(struct sp_io *io, struct sp_io_op *op, int fd)
{
    op_fill(op, SP_IO_OP_CLOSE, fd);
    op_submit(io, op);
}

void sp_io_renameat(struct sp_io *io, struct sp_io_op *op, int olddirfd, const char *oldpath,
                    int newdirfd, const char *newpath)
{
    op_fill(op, SP_IO_OP_RENAMEAT, olddirfd);
    op->fd2 = newdirfd;
    op->path = oldpath;
    op->path2 = newpath;
    op_submit(io, op);
}

void sp_io_unlinkat(struct sp_io *io, struct sp_io_op *op, int dirfd, const char *path, int flags)
{
    op_fill(op, SP_IO_OP_UNLINKAT, dirfd);
    op->path = path;
    op->arg = (uint32_t)flags;
    op_submit(io, op);
}

void sp_io_mkdirat(struct sp_io *io, struct sp_io_op *op, int dirfd, const char *path, mode_t mode)
{
    op_fill(op, SP_IO_OP_MKDIRAT, dirfd);
    op->path = path;
    op->off = mode;
    op_submit(io, op);
}

void sp_io_timeout(struct sp_io *io, struct sp_io_op *op, uint64_t timeout_ns)
{
    op_fill(op, SP_IO_OP_TIMEOUT, -1);
    op->off = timeout_ns;
    op_submit(io, op);
}

void sp_io_cancel(struct sp_io *io, struct sp_io_op *op, struct sp_io_op *target)
{
    op_fill(op, SP_IO_OP_CANCEL, -1);
    op->buf = target;
    op_submit(io, op);
}

/* ---- Buffer rings and synchronous helpers ------------------------------ */

int sp_io_bufring_create(struct sp_io *io, struct sp_io_bufring **out, uint16_t count,
                         uint32_t size)
{
    *out = NULL;
    if (count == 0 || (count & (count - 1)) != 0 || size == 0) {
        return -EINVAL;
    }
    return io->vt->bufring_create(io, out, count, size);
}

void sp_io_bufring_destroy(struct sp_io *io, struct sp_io_bufring *br)
{
    if (br != NULL) {
        io->vt->bufring_destroy(io, br);
    }
}

void *sp_io_bufring_buf(struct sp_io_bufring *br, uint16_t id)
{
    SP_ASSERT(id < br->count);
    return br->bufs + (size_t)id * br->size;
}

void sp_io_bufring_recycle(struct sp_io_bufring *br, uint16_t id)
{
    SP_ASSERT(id < br->count);
    br->io->vt->bufring_recycle(br, id);
}

int sp_io_ftruncate_sync(struct sp_io *io, int fd, uint64_t size)
{
    return io->vt->ftruncate_sync(io, fd, size);
}

int sp_io_fsize_sync(struct sp_io *io, int fd, uint64_t *size)
{
    return io->vt->fsize_sync(io, fd, size);
}

int sp_io_listdir_sync(struct sp_io *io, const char *path,
                       int (*cb)(void *ctx, const char *name, bool is_dir), void *ctx)
{
    return io->vt->listdir_sync(io, path, cb, ctx);
}

int sp_io_mkdir_sync(struct sp_io *io, const char *path, mode_t mode)
{
    return io->vt->mkdir_sync(io, path, mode);
}

int sp_io_open_sync(struct sp_io *io, const char *path, int flags, mode_t mode)
{
    return io->vt->open_sync(io, path, flags, mode);
}

int sp_io_close_sync(struct sp_io *io, int fd)
{
    return io->vt->close_sync(io, fd);
}
