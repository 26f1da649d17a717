/*
 * storage/job.c: short asynchronous sequences of file steps (create a file,
 * write it, fsync it, rename it, fsync the directory), and the few helpers
 * that wait for I/O at open, close and truncate time.
 *
 * A job is embedded in its owner and runs one step at a time through a
 * single sp_io_op; the first failing step ends it (closing what it opened)
 * and its result is handed to `done`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "storage/log_impl.h"

void *st_aligned_alloc(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, ST_BLOCK, SP_ALIGN_UP(size, (size_t)ST_BLOCK)) != 0) {
        return NULL;
    }
    return p;
}

int st_path(char *out, const struct sp_plog *log, const char *name)
{
    int n = snprintf(out, ST_PATH_MAX, "%s/%s", log->dir, name);
    return (n < 0 || n >= ST_PATH_MAX) ? -ENAMETOOLONG : 0;
}

int st_seg_path(char *out, const struct sp_plog *log, int64_t base, const char *ext)
{
    char name[SP_SEG_NAME_MAX];
    sp_seg_name(name, sizeof(name), base, ext);
    return st_path(out, log, name);
}

void st_job_init(struct st_job *job, struct sp_plog *log)
{
    SP_ASSERT(!job->busy);
    job->log = log;
    job->nsteps = 0;
    job->at = 0;
    job->fd = -1;
    job->dfd = -1;
    job->res = 0;
    job->ignore_enoent = false;
    job->owned = NULL;
}

void st_job_add(struct st_job *job, struct st_step s)
{
    SP_ASSERT(job->nsteps < ST_JOB_STEPS_MAX);
    job->steps[job->nsteps++] = s;
}

static void job_step(struct st_job *job);

static void job_finish(struct st_job *job)
{
    struct sp_io *io = job->log->st->io;
    /* Close what a failed job left open; a finished job closed its own. */
    if (job->fd >= 0) {
        sp_io_close_sync(io, job->fd);
        job->fd = -1;
    }
    if (job->dfd >= 0) {
        sp_io_close_sync(io, job->dfd);
        job->dfd = -1;
    }
    free(job->owned);
    job->owned = NULL;
    job->busy = false;
    job->done(job, job->res);
}

static void job_step_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct st_job *job = sp_container_of(op, struct st_job, op);
    struct st_step *s = &job->steps[job->at];
    (void)flags;
    if (res == -ENOENT && s->kind == ST_STEP_UNLINK && job->ignore_enoent) {
        res = 0;
    }
    if (res >= 0 && s->kind == ST_STEP_WRITE && (uint32_t)res != s->len) {
        res = -EIO; /* a short write to a regular file: the disk is full */
    }
    if (res < 0) {
        sp_log_debug("storage: %s: file step %d of %d failed: %s", job->log->dir, s->kind, job->at,
                     strerror(-res));
        job->res = res;
        job_finish(job);
        return;
    }
    switch (s->kind) {
    case ST_STEP_OPEN:
        job->fd = res;
        break;
    case ST_STEP_OPEN_DIR:
        job->dfd = res;
        break;
    case ST_STEP_CLOSE:
        job->fd = -1;
        break;
    case ST_STEP_CLOSE_DIR:
        job->dfd = -1;
        break;
    default:
        break;
    }
    job->at++;
    job_step(job);
}

static void job_step(struct st_job *job)
{
    struct sp_io *io = job->log->st->io;
    while (job->at < job->nsteps && job->steps[job->at].kind == ST_STEP_KEEP_FD) {
        job->res = job->fd; /* the owner takes it */
        job->fd = -1;
        job->at++;
    }
    if (job->at == job->nsteps) {
        job_finish(job);
        return;
    }
    struct st_step *s = &job->steps[job->at];
    const char *p1 = job->paths[s->path_i];
    job->op.done = job_step_done;
    switch (s->kind) {
    case ST_STEP_OPEN:
        sp_io_openat(io, &job->op, AT_FDCWD, p1, s->flags, 0644);
        break;
    case ST_STEP_OPEN_DIR:
        sp_io_openat(io, &job->op, AT_FDCWD, job->log->dir, O_RDONLY | O_DIRECTORY, 0);
        break;
    case ST_STEP_WRITE:
        sp_io_write(io, &job->op, job->fd, s->buf, s->len, s->off);
        break;
    case ST_STEP_FSYNC:
        sp_io_fsync(io, &job->op, job->fd, s->arg != 0);
        break;
    case ST_STEP_FSYNC_DIR:
        sp_io_fsync(io, &job->op, job->dfd, false);
        break;
    case ST_STEP_FSYNC_EXT:
        sp_io_fsync(io, &job->op, s->flags, s->arg != 0);
        break;
    case ST_STEP_CLOSE:
        sp_io_close(io, &job->op, job->fd);
        break;
    case ST_STEP_CLOSE_DIR:
        sp_io_close(io, &job->op, job->dfd);
        break;
    case ST_STEP_RENAME:
        sp_io_renameat(io, &job->op, AT_FDCWD, p1, AT_FDCWD, job->paths[s->path2_i]);
        break;
    case ST_STEP_UNLINK:
        sp_io_unlinkat(io, &job->op, AT_FDCWD, p1, 0);
        break;
    default:
        SP_ASSERT(0);
    }
}

void st_job_start(struct st_job *job, void (*done)(struct st_job *, int))
{
    SP_ASSERT(!job->busy);
    job->busy = true;
    job->done = done;
    job->at = 0;
    job->res = 0;
    job_step(job);
}

int st_wait(struct sp_storage *st, const bool *flag)
{
    while (!*flag) {
        int r = sp_io_turn(st->io);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

struct st_sync {
    struct sp_io_op op;
    bool done;
    int res;
};

static void sync_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct st_sync *s = sp_container_of(op, struct st_sync, op);
    (void)flags;
    s->res = res;
    s->done = true;
}

/* op must be the `op` of a struct st_sync already submitted with sync_done. */
int st_sync_io(struct sp_storage *st, struct sp_io_op *op)
{
    struct st_sync *s = sp_container_of(op, struct st_sync, op);
    int r = st_wait(st, &s->done);
    return r < 0 ? r : s->res;
}

int st_pread(struct sp_storage *st, int fd, void *buf, uint32_t len, uint64_t off)
{
    struct st_sync s = {.op = {.done = sync_done}};
    sp_io_read(st->io, &s.op, fd, buf, len, off);
    return st_sync_io(st, &s.op);
}

static void job_run_done(struct st_job *job, int res)
{
    (void)job;
    (void)res;
}

int st_job_run(struct st_job *job)
{
    st_job_start(job, job_run_done);
    /* job->busy goes false in job_finish; wait on its negation. */
    while (job->busy) {
        int r = sp_io_turn(job->log->st->io);
        if (r < 0) {
            return r;
        }
    }
    return job->res;
}
