/*
 * core/io_uring.c: the production implementation of core/io.h.
 *
 * One ring per shard, created on the shard's thread. At creation we probe
 * what the running kernel offers and keep only what the cap allows (the
 * cap is a kernel version: params->kernel_cap, else the environment
 * variable SPINDLE_IO_URING_FEATURES, so CI can run as Debian 12's 6.1):
 *
 *   feature            needs    how it is probed
 *   SINGLE_ISSUER      6.0      setup flag, retried without on -EINVAL
 *   DEFER_TASKRUN      6.1      setup flag (with SINGLE_ISSUER)
 *   COOP_TASKRUN       5.19     setup flag
 *   registered files   5.19     a sparse file table registers
 *   buffer rings       5.19     a one-entry buffer ring registers
 *   multishot accept   5.19     kernel version (same opcode as accept)
 *   multishot recv     6.0      kernel version (same opcode as recv)
 *   SEND_ZC            6.0      opcode probe
 *   SENDMSG_ZC         6.1      opcode probe
 *   MSG_RING wake-ups  6.2      opcode probe + version: before 6.2 a
 *                               MSG_RING into a DEFER_TASKRUN ring may not
 *                               wake its waiter, so wake-ups use an eventfd
 *
 * With DEFER_TASKRUN the kernel runs completion work only inside an enter
 * with IORING_ENTER_GETEVENTS, so sp_io_poll() always enters with it
 * (io_uring_submit_and_get_events / submit_and_wait_timeout) rather than
 * only peeking at the CQ.
 *
 * Wake-ups: every ring keeps a read of its own eventfd armed. Writing the
 * eventfd (from any thread, or a signal handler) completes that read and
 * ends a wait. Between shards on >= 6.2 the wake-up is instead an
 * IORING_OP_MSG_RING from the sender's ring straight into the target's CQ,
 * submitted with the sender's next enter. Both are sticky: a wake-up sent
 * before the target sleeps ends that sleep.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <liburing.h>

#include "core/io_impl.h"

#define URING_ENTRIES_DEFAULT  256
#define URING_IOWQ_WORKERS     4
#define URING_REGISTERED_FILES 64
#define URING_BGID_PROBE       0xfffe
/* user_data values that are not op addresses (ops are at least 8-aligned). */
#define URING_UD_IGNORE 1u /* our own internal SQEs whose CQE carries nothing */
#define URING_UD_WAKE   2u /* a MSG_RING wake-up posted by another shard */
#define URING_UD_EFD    3u /* the armed read of our eventfd */

struct uring_slot {
    struct __kernel_timespec ts;
    struct msghdr msg;
};

struct sp_io_uring {
    struct sp_io base;
    struct io_uring ring;
    uint32_t kernel;  /* effective kernel version: min(running, cap) */
    int wake_efd;     /* eventfd that ends our waits */
    uint64_t efd_buf; /* target of the armed eventfd read */
    bool efd_armed;
    uint16_t next_bgid;
    /* Ops that found the SQ full even after a submit; submitted first next poll. */
    struct sp_io_op *backlog_head;
    struct sp_io_op *backlog_tail;
    /*
     * A timeout's timespec and a sendmsg's msghdr must stay put until their
     * SQE is submitted (the kernel copies them then: IORING_FEAT_SUBMIT_STABLE),
     * so each SQ slot has one of each.
     */
    struct uring_slot *slots;
};

static const uint64_t uring_one = 1;

static struct sp_io_uring *to_uring(struct sp_io *io)
{
    return sp_container_of(io, struct sp_io_uring, base);
}

static const struct sp_io_uring *to_uring_c(const struct sp_io *io)
{
    return sp_container_of(io, const struct sp_io_uring, base);
}

static uint64_t uring_now_ns(const struct sp_io *io)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct io_uring_sqe *uring_sqe(struct sp_io_uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (sqe == NULL) {
        io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

static void uring_arm_efd(struct sp_io_uring *u)
{
    if (u->efd_armed) {
        return;
    }
    struct io_uring_sqe *sqe = uring_sqe(u);
    if (sqe == NULL) {
        return; /* retried at the next poll */
    }
    io_uring_prep_read(sqe, u->wake_efd, &u->efd_buf, sizeof(u->efd_buf), 0);
    io_uring_sqe_set_data64(sqe, URING_UD_EFD);
    u->efd_armed = true;
}

/* Translates an op into an SQE. Returns false when the SQ has no room. */
static bool uring_prep(struct sp_io_uring *u, struct sp_io_op *op)
{
    struct io_uring_sqe *sqe = uring_sqe(u);
    if (sqe == NULL) {
        return false;
    }
    uint32_t f = u->base.features;
    switch ((enum sp_io_opcode)op->opcode) {
    case SP_IO_OP_NOP:
        io_uring_prep_nop(sqe);
        break;
    case SP_IO_OP_ACCEPT:
        if ((op->op_flags & SP_IO_MULTISHOT) && (f & SP_IO_FEAT_ACCEPT_MULTISHOT)) {
            io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL, SOCK_CLOEXEC);
        } else {
            io_uring_prep_accept(sqe, op->fd, NULL, NULL, SOCK_CLOEXEC);
        }
        break;
    case SP_IO_OP_CONNECT:
        io_uring_prep_connect(sqe, op->fd, (const struct sockaddr *)op->buf, op->len);
        break;
    case SP_IO_OP_RECV:
        if (op->op_flags & SP_IO_MULTISHOT) {
            struct sp_io_bufring *br = op->buf;
            if (f & SP_IO_FEAT_RECV_MULTISHOT) {
                io_uring_prep_recv_multishot(sqe, op->fd, NULL, 0, 0);
            } else {
                io_uring_prep_recv(sqe, op->fd, NULL, br->size, 0);
            }
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = br->bgid;
        } else {
            io_uring_prep_recv(sqe, op->fd, op->buf, op->len, 0);
        }
        break;
    case SP_IO_OP_SEND:
        io_uring_prep_send(sqe, op->fd, op->buf, op->len, MSG_NOSIGNAL);
        break;
    case SP_IO_OP_SENDMSG:
    case SP_IO_OP_SENDMSG_ZC: {
        struct msghdr *msg = &u->slots[sqe - u->ring.sq.sqes].msg;
        memset(msg, 0, sizeof(*msg));
        msg->msg_iov = op->buf;
        msg->msg_iovlen = op->arg;
        if (op->opcode == SP_IO_OP_SENDMSG_ZC && (f & SP_IO_FEAT_SENDMSG_ZC)) {
            io_uring_prep_sendmsg_zc(sqe, op->fd, msg, MSG_NOSIGNAL);
        } else {
            io_uring_prep_sendmsg(sqe, op->fd, msg, MSG_NOSIGNAL);
        }
        break;
    }
    case SP_IO_OP_SEND_ZC:
        if (f & SP_IO_FEAT_SEND_ZC) {
            io_uring_prep_send_zc(sqe, op->fd, op->buf, op->len, MSG_NOSIGNAL, 0);
        } else {
            io_uring_prep_send(sqe, op->fd, op->buf, op->len, MSG_NOSIGNAL);
        }
        break;
    case SP_IO_OP_READ:
        io_uring_prep_read(sqe, op->fd, op->buf, op->len, op->off);
        break;
    case SP_IO_OP_WRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, op->len, op->off);
        break;
    case SP_IO_OP_FSYNC:
        io_uring_prep_fsync(sqe, op->fd,
                            (op->op_flags & SP_IO_DATASYNC) ? IORING_FSYNC_DATASYNC : 0);
        break;
    case SP_IO_OP_FALLOCATE:
        io_uring_prep_fallocate(sqe, op->fd, (int)op->arg, op->off, (uint64_t)(uintptr_t)op->buf);
        break;
    case SP_IO_OP_OPENAT:
        io_uring_prep_openat(sqe, op->fd, op->path, (int)op->arg | O_CLOEXEC, (mode_t)op->off);
        break;
    case SP_IO_OP_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    case SP_IO_OP_RENAMEAT:
        io_uring_prep_renameat(sqe, op->fd, op->path, op->fd2, op->path2, 0);
        break;
    case SP_IO_OP_UNLINKAT:
        io_uring_prep_unlinkat(sqe, op->fd, op->path, (int)op->arg);
        break;
    case SP_IO_OP_MKDIRAT:
        io_uring_prep_mkdirat(sqe, op->fd, op->path, (mode_t)op->off);
        break;
    case SP_IO_OP_TIMEOUT: {
        struct __kernel_timespec *ts = &u->slots[sqe - u->ring.sq.sqes].ts;
        ts->tv_sec = (long long)(op->off / 1000000000ull);
        ts->tv_nsec = (long long)(op->off % 1000000000ull);
        io_uring_prep_timeout(sqe, ts, 0, 0);
        break;
    }
    case SP_IO_OP_CANCEL:
        io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op->buf, 0);
        break;
    default:
        SP_ASSERT(!"unknown io opcode");
    }
    io_uring_sqe_set_data(sqe, op);
    return true;
}

static void uring_submit(struct sp_io *io, struct sp_io_op *op)
{
    struct sp_io_uring *u = to_uring(io);
    if (u->backlog_head == NULL && uring_prep(u, op)) {
        return;
    }
    op->state = SP_IO_STATE_QUEUED;
    op->next = NULL;
    if (u->backlog_tail != NULL) {
        u->backlog_tail->next = op;
    } else {
        u->backlog_head = op;
    }
    u->backlog_tail = op;
}

static void uring_flush_backlog(struct sp_io_uring *u)
{
    while (u->backlog_head != NULL) {
        struct sp_io_op *op = u->backlog_head;
        if (!uring_prep(u, op)) {
            return;
        }
        u->backlog_head = op->next;
        if (u->backlog_head == NULL) {
            u->backlog_tail = NULL;
        }
        op->next = NULL;
        op->state = SP_IO_STATE_INFLIGHT;
    }
}

static uint32_t uring_cqe_flags(uint32_t f)
{
    uint32_t out = 0;
    if (f & IORING_CQE_F_MORE) {
        out |= SP_IO_F_MORE;
    }
    if (f & IORING_CQE_F_BUFFER) {
        out |= SP_IO_F_BUFFER | ((f >> IORING_CQE_BUFFER_SHIFT) << SP_IO_BUFFER_SHIFT);
    }
    if (f & IORING_CQE_F_NOTIF) {
        out |= SP_IO_F_NOTIF;
    }
    return out;
}

/* Moves every CQE into the completion queue. Returns how many were ops. */
static int uring_reap(struct sp_io_uring *u)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    int reaped = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe)
    {
        uint64_t ud = cqe->user_data;
        if (ud == URING_UD_EFD) {
            u->efd_armed = false;
        } else if (ud != URING_UD_IGNORE && ud != URING_UD_WAKE && ud != LIBURING_UDATA_TIMEOUT) {
            struct sp_io_op *op = (struct sp_io_op *)(uintptr_t)ud;
            if (sp_io_cq_push(&u->base, op, cqe->res, uring_cqe_flags(cqe->flags)) < 0) {
                break; /* out of memory: leave the rest in the CQ for later */
            }
            reaped++;
        }
        seen++;
    }
    io_uring_cq_advance(&u->ring, seen);
    return reaped;
}

static int uring_poll(struct sp_io *io, uint64_t timeout_ns)
{
    struct sp_io_uring *u = to_uring(io);
    uring_flush_backlog(u);
    uring_arm_efd(u);
    int rc;
    if (timeout_ns == 0 || io_uring_cq_ready(&u->ring) > 0 || sp_io_cq_len(io) > 0) {
        rc = io_uring_submit_and_get_events(&u->ring);
    } else if (timeout_ns == UINT64_MAX) {
        rc = io_uring_submit_and_wait(&u->ring, 1);
    } else {
        struct __kernel_timespec ts = {
            .tv_sec = (long long)(timeout_ns / 1000000000ull),
            .tv_nsec = (long long)(timeout_ns % 1000000000ull),
        };
        struct io_uring_cqe *cqe = NULL;
        rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        return rc;
    }
    return uring_reap(u);
}

static void uring_wake(struct sp_io *from, struct sp_io *target)
{
    struct sp_io_uring *t = to_uring(target);
    if (from != NULL && from->vt == target->vt && (from->features & SP_IO_FEAT_MSG_RING)) {
        struct io_uring_sqe *sqe = uring_sqe(to_uring(from));
        if (sqe != NULL) {
            io_uring_prep_msg_ring(sqe, t->ring.ring_fd, 0, URING_UD_WAKE, 0);
            io_uring_sqe_set_data64(sqe, URING_UD_IGNORE);
            sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
            return;
        }
    }
    /*
     * A plain write(2). An IORING_OP_WRITE to the eventfd from a
     * DEFER_TASKRUN ring would save the syscall, but on 6.x it is not
     * issued inline (it waits for the sender's own task work), which would
     * delay the wake-up until the sender next waits.
     */
    ssize_t n = write(t->wake_efd, &uring_one, sizeof(uring_one));
    (void)n; /* only fails when the counter is saturated: already awake */
}

static int uring_wake_fd(const struct sp_io *io)
{
    return to_uring_c(io)->wake_efd;
}

/* ---- Creation and feature probing ------------------------------------- */

static bool kernel_at_least(uint32_t kernel, unsigned major, unsigned minor)
{
    return kernel >= SP_IO_KERNEL(major, minor);
}

static int uring_setup(struct sp_io_uring *u, uint32_t entries)
{
    static const struct {
        uint32_t flags;
        uint32_t features;
        uint32_t major, minor;
    } tries[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN,
         SP_IO_FEAT_SINGLE_ISSUER | SP_IO_FEAT_DEFER_TASKRUN | SP_IO_FEAT_COOP_TASKRUN, 6, 1},
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
         SP_IO_FEAT_SINGLE_ISSUER | SP_IO_FEAT_COOP_TASKRUN, 6, 0},
        {IORING_SETUP_COOP_TASKRUN, SP_IO_FEAT_COOP_TASKRUN, 5, 19},
        {0, 0, 0, 0},
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < SP_ARRAY_LEN(tries); i++) {
        if (!kernel_at_least(u->kernel, tries[i].major, tries[i].minor)) {
            continue;
        }
        uint32_t flags = tries[i].flags | IORING_SETUP_CQSIZE;
        if (kernel_at_least(u->kernel, 5, 18)) {
            flags |= IORING_SETUP_SUBMIT_ALL;
        }
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = flags;
        p.cq_entries = entries * 4;
        rc = io_uring_queue_init_params(entries, &u->ring, &p);
        if (rc == 0) {
            u->base.features |= tries[i].features;
            return 0;
        }
        if (rc != -EINVAL) {
            return rc;
        }
    }
    return rc;
}

static void uring_probe_features(struct sp_io_uring *u)
{
    uint32_t k = u->kernel;
    if (kernel_at_least(k, 5, 19) &&
        io_uring_register_files_sparse(&u->ring, URING_REGISTERED_FILES) == 0) {
        u->base.features |= SP_IO_FEAT_REGISTERED_FILES;
    }
    if (kernel_at_least(k, 5, 19)) {
        void *mem = NULL;
        if (posix_memalign(&mem, 4096, 4096) == 0) {
            struct io_uring_buf_reg reg;
            memset(&reg, 0, sizeof(reg));
            reg.ring_addr = (uint64_t)(uintptr_t)mem;
            reg.ring_entries = 1;
            reg.bgid = URING_BGID_PROBE;
            if (io_uring_register_buf_ring(&u->ring, &reg, 0) == 0) {
                u->base.features |= SP_IO_FEAT_BUF_RING;
                io_uring_unregister_buf_ring(&u->ring, URING_BGID_PROBE);
            }
            free(mem);
        }
    }
    if (kernel_at_least(k, 5, 19)) {
        u->base.features |= SP_IO_FEAT_ACCEPT_MULTISHOT;
    }
    if (kernel_at_least(k, 6, 0) && (u->base.features & SP_IO_FEAT_BUF_RING)) {
        u->base.features |= SP_IO_FEAT_RECV_MULTISHOT;
    }
    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    if (probe != NULL) {
        if (kernel_at_least(k, 6, 0) && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC)) {
            u->base.features |= SP_IO_FEAT_SEND_ZC;
        }
        if (kernel_at_least(k, 6, 1) && io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC)) {
            u->base.features |= SP_IO_FEAT_SENDMSG_ZC;
        }
        if (kernel_at_least(k, 6, 2) && io_uring_opcode_supported(probe, IORING_OP_MSG_RING)) {
            u->base.features |= SP_IO_FEAT_MSG_RING;
        }
        io_uring_free_probe(probe);
    }
}

static void uring_destroy(struct sp_io *io);
static int uring_bufring_create(struct sp_io *io, struct sp_io_bufring **out, uint16_t count,
                                uint32_t size);
static void uring_bufring_destroy(struct sp_io *io, struct sp_io_bufring *br);
static void uring_bufring_recycle(struct sp_io_bufring *br, uint16_t id);
static int uring_ftruncate_sync(struct sp_io *io, int fd, uint64_t size);
static int uring_fsize_sync(struct sp_io *io, int fd, uint64_t *size);
static int uring_listdir_sync(struct sp_io *io, const char *path,
                              int (*cb)(void *ctx, const char *name, bool is_dir), void *ctx);
static int uring_mkdir_sync(struct sp_io *io, const char *path, mode_t mode);
static int uring_open_sync(struct sp_io *io, const char *path, int flags, mode_t mode);
static int uring_close_sync(struct sp_io *io, int fd);

static const struct sp_io_vtable uring_vtable = {
    .name = "io_uring",
    .submit = uring_submit,
    .poll = uring_poll,
    .now_ns = uring_now_ns,
    .destroy = uring_destroy,
    .wake = uring_wake,
    .wake_fd = uring_wake_fd,
    .bufring_create = uring_bufring_create,
    .bufring_destroy = uring_bufring_destroy,
    .bufring_recycle = uring_bufring_recycle,
    .ftruncate_sync = uring_ftruncate_sync,
    .fsize_sync = uring_fsize_sync,
    .listdir_sync = uring_listdir_sync,
    .mkdir_sync = uring_mkdir_sync,
    .open_sync = uring_open_sync,
    .close_sync = uring_close_sync,
};

int sp_io_create_uring(struct sp_io **out, const struct sp_io_params *params)
{
    *out = NULL;
    uint32_t cap = params != NULL ? params->kernel_cap : 0;
    if (cap == 0) {
        int rc = sp_io_kernel_cap_from_env(&cap);
        if (rc < 0) {
            return rc;
        }
    }
    uint32_t entries = params != NULL && params->entries ? params->entries : URING_ENTRIES_DEFAULT;
    uint32_t workers =
        params != NULL && params->iowq_workers_max ? params->iowq_workers_max : URING_IOWQ_WORKERS;
    struct sp_io_uring *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return -ENOMEM;
    }
    int rc = sp_io_base_init(&u->base, &uring_vtable, entries * 4);
    if (rc < 0) {
        free(u);
        return rc;
    }
    u->kernel = sp_io_kernel_version();
    if (cap != 0 && cap < u->kernel) {
        u->kernel = cap;
    }
    u->wake_efd = -1;
    rc = uring_setup(u, entries);
    if (rc < 0) {
        sp_io_base_fini(&u->base);
        free(u);
        return rc;
    }
    u->slots = calloc(u->ring.sq.ring_entries, sizeof(*u->slots));
    u->wake_efd = eventfd(0, EFD_CLOEXEC);
    if (u->slots == NULL || u->wake_efd < 0) {
        rc = u->wake_efd < 0 ? -errno : -ENOMEM;
        uring_destroy(&u->base);
        return rc;
    }
    uring_probe_features(u);
    unsigned int wq[2] = {workers, workers};
    (void)io_uring_register_iowq_max_workers(&u->ring, wq);
    if (kernel_at_least(u->kernel, 5, 18)) {
        (void)io_uring_register_ring_fd(&u->ring);
    }
    u->next_bgid = 1;
    uring_arm_efd(u);
    *out = &u->base;
    return 0;
}

static void uring_destroy(struct sp_io *io)
{
    struct sp_io_uring *u = to_uring(io);
    io_uring_queue_exit(&u->ring);
    if (u->wake_efd >= 0) {
        close(u->wake_efd);
    }
    free(u->slots);
    sp_io_base_fini(&u->base);
    free(u);
}

/* ---- Provided buffer rings -------------------------------------------- */

struct uring_bufring {
    struct sp_io_bufring base;
    struct io_uring_buf_ring *ring;
    size_t ring_bytes;
};

static int uring_bufring_create(struct sp_io *io, struct sp_io_bufring **out, uint16_t count,
                                uint32_t size)
{
    struct sp_io_uring *u = to_uring(io);
    if (!(io->features & SP_IO_FEAT_BUF_RING)) {
        return -EOPNOTSUPP;
    }
    struct uring_bufring *br = calloc(1, sizeof(*br));
    if (br == NULL) {
        return -ENOMEM;
    }
    br->ring_bytes = SP_ALIGN_UP((size_t)count * sizeof(struct io_uring_buf), (size_t)4096);
    void *mem = NULL;
    if (posix_memalign(&mem, 4096, br->ring_bytes) != 0) {
        free(br);
        return -ENOMEM;
    }
    br->ring = mem;
    if (posix_memalign(&mem, 4096, (size_t)count * size) != 0) {
        free(br->ring);
        free(br);
        return -ENOMEM;
    }
    br->base.bufs = mem;
    br->base.io = io;
    br->base.size = size;
    br->base.count = count;
    br->base.bgid = u->next_bgid++;
    io_uring_buf_ring_init(br->ring);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)br->ring;
    reg.ring_entries = count;
    reg.bgid = br->base.bgid;
    int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (rc < 0) {
        free(br->base.bufs);
        free(br->ring);
        free(br);
        return rc;
    }
    int mask = io_uring_buf_ring_mask(count);
    for (uint16_t i = 0; i < count; i++) {
        io_uring_buf_ring_add(br->ring, br->base.bufs + (size_t)i * size, size, i, mask, i);
    }
    io_uring_buf_ring_advance(br->ring, count);
    *out = &br->base;
    return 0;
}

static void uring_bufring_destroy(struct sp_io *io, struct sp_io_bufring *b)
{
    struct uring_bufring *br = sp_container_of(b, struct uring_bufring, base);
    io_uring_unregister_buf_ring(&to_uring(io)->ring, b->bgid);
    free(b->bufs);
    free(br->ring);
    free(br);
}

static void uring_bufring_recycle(struct sp_io_bufring *b, uint16_t id)
{
    struct uring_bufring *br = sp_container_of(b, struct uring_bufring, base);
    io_uring_buf_ring_add(br->ring, b->bufs + (size_t)id * b->size, b->size, id,
                          io_uring_buf_ring_mask(b->count), 0);
    io_uring_buf_ring_advance(br->ring, 1);
}

/* ---- Synchronous helpers: plain syscalls, for start-up only ------------ */

static int uring_ftruncate_sync(struct sp_io *io, int fd, uint64_t size)
{
    return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
}

static int uring_fsize_sync(struct sp_io *io, int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return -errno;
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

static int uring_listdir_sync(struct sp_io *io, const char *path,
                              int (*cb)(void *ctx, const char *name, bool is_dir), void *ctx)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        return -errno;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            is_dir = fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
        }
        rc = cb(ctx, de->d_name, is_dir);
    }
    closedir(d);
    return rc;
}

static int uring_mkdir_sync(struct sp_io *io, const char *path, mode_t mode)
{
    return mkdir(path, mode) == 0 ? 0 : -errno;
}

static int uring_open_sync(struct sp_io *io, const char *path, int flags, mode_t mode)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd >= 0 ? fd : -errno;
}

static int uring_close_sync(struct sp_io *io, int fd)
{
    return close(fd) == 0 ? 0 : -errno;
}
