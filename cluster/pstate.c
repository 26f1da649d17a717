/*
 * cluster/pstate.c: idempotent producers' state per partition, its
 * snapshots and its recovery (cluster/pstate.h).
 *
 * Memory: a chained hash table of producers, each entry a fixed ring of its
 * last batches, oldest first:
 *
 *   buckets[hash(pid)] -> pentry{pid, epoch, b[0..n)} -> pentry -> ...
 *                                 b[0] oldest ... b[n-1] newest (n <= 5)
 *
 * Snapshot file, big-endian:
 *
 *   "SPPS" u16 version=1 u16 0 i64 offset u32 count
 *   count x { i64 pid, i16 epoch, u8 n, u8 0, i64 last_append_ms,
 *             n x { i32 first_seq, i32 last_seq, i64 first_offset,
 *                   i64 last_offset, i64 max_timestamp } }
 *   u32 CRC-32C of everything before it
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/image.h"
#include "cluster/part.h"
#include "cluster/pstate.h"
#include "core/config.h"
#include "core/log.h"
#include "core/rx.h"
#include "protocol/crc32c.h"
#include "protocol/wire.h"

#define PS_MAGIC       "SPPS"
#define PS_VERSION     1
#define PS_HDR_BYTES   20
#define PS_ENTRY_BYTES 20
#define PS_BATCH_BYTES 32
#define PS_FILE_BYTES_MAX \
    (PS_HDR_BYTES + 4 +   \
     SP_PSTATE_PRODUCERS_MAX * (PS_ENTRY_BYTES + SP_PSTATE_BATCHES * PS_BATCH_BYTES))
#define PS_PREFIX          "producer-"
#define PS_SUFFIX          ".snapshot"
#define PS_PATH_MAX        4096
#define PS_READ_BYTES      (1u << 20)
#define PS_BUCKETS_MIN     16u
#define PS_LISTED_MAX      64u
#define PS_EXPIRATION_DFLT 86400000

static_assert(SP_PSTATE_SNAPSHOTS_KEPT >= 1 && SP_PSTATE_SNAPSHOTS_KEPT < 4, "snaps[] holds them");

struct pbatch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t first_offset;
    int64_t last_offset;
    int64_t timestamp;
    void *inflight;
};

struct pentry {
    int64_t producer_id;
    int64_t last_append_ms;
    int16_t epoch;
    uint8_t n;
    struct pbatch b[SP_PSTATE_BATCHES];
    struct pentry *hnext;
};

enum job_step {
    J_OPEN,
    J_WRITE,
    J_FSYNC,
    J_CLOSE,
    J_RENAME,
    J_OPEN_DIR,
    J_FSYNC_DIR,
    J_CLOSE_DIR,
    J_UNLINK,
};

/* One snapshot being written in the background: a chain of ring operations. */
struct snap_job {
    struct sp_io_op op;
    struct sp_pstate *ps; /* NULL once its partition let it go (it then frees itself) */
    uint8_t *buf;
    uint32_t len, off;
    int fd, dfd;
    enum job_step step;
    int64_t offset;
    int64_t unlink[4]; /* older snapshots to remove once this one is in place */
    uint32_t nunlink, at;
    char dir[PS_PATH_MAX];
    char tmp[PS_PATH_MAX];
    char path[PS_PATH_MAX];
    char upath[PS_PATH_MAX];
};

struct sp_pstate {
    struct sp_part *p;
    struct pentry **buckets;
    uint32_t nbuckets; /* a power of two */
    uint32_t count;
    int64_t expiration_ms;
    uint64_t bytes_since_snap;
    struct snap_job *job;
    int64_t snaps[4]; /* snapshots on disk, ascending */
    uint32_t nsnaps;
};

int64_t sp_pstate_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- The table --------------------------------------------------------- */

static uint32_t slot_of(const struct sp_pstate *ps, int64_t pid)
{
    uint64_t x = (uint64_t)pid * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32) & (ps->nbuckets - 1);
}

static struct pentry *entry_find(const struct sp_pstate *ps, int64_t pid)
{
    for (struct pentry *e = ps->buckets[slot_of(ps, pid)]; e != NULL; e = e->hnext) {
        if (e->producer_id == pid) {
            return e;
        }
    }
    return NULL;
}

static void entry_remove(struct sp_pstate *ps, struct pentry *e)
{
    struct pentry **link = &ps->buckets[slot_of(ps, e->producer_id)];
    while (*link != e) {
        link = &(*link)->hnext;
    }
    *link = e->hnext;
    ps->count--;
    free(e);
}

static bool entry_busy(const struct pentry *e)
{
    for (uint32_t i = 0; i < e->n; i++) {
        if (e->b[i].inflight != NULL) {
            return true;
        }
    }
    return false;
}

static bool entry_expired(const struct sp_pstate *ps, const struct pentry *e, int64_t now_ms)
{
    return now_ms - e->last_append_ms >= ps->expiration_ms && !entry_busy(e);
}

static void table_grow(struct sp_pstate *ps)
{
    uint32_t n = ps->nbuckets * 2;
    struct pentry **nb = calloc(n, sizeof(*nb));
    if (nb == NULL) {
        return; /* longer chains, still correct */
    }
    struct pentry **old = ps->buckets;
    uint32_t oldn = ps->nbuckets;
    ps->buckets = nb;
    ps->nbuckets = n;
    for (uint32_t i = 0; i < oldn; i++) {
        while (old[i] != NULL) {
            struct pentry *e = old[i];
            old[i] = e->hnext;
            uint32_t s = slot_of(ps, e->producer_id);
            e->hnext = nb[s];
            nb[s] = e;
        }
    }
    free(old);
}

/* Forgets the producer idle the longest (with nothing in flight), to stay within the limit. */
static void entry_evict_one(struct sp_pstate *ps)
{
    struct pentry *victim = NULL;
    for (uint32_t i = 0; i < ps->nbuckets; i++) {
        for (struct pentry *e = ps->buckets[i]; e != NULL; e = e->hnext) {
            if (!entry_busy(e) && (victim == NULL || e->last_append_ms < victim->last_append_ms)) {
                victim = e;
            }
        }
    }
    if (victim != NULL) {
        entry_remove(ps, victim);
    }
}

static struct pentry *entry_create(struct sp_pstate *ps, int64_t pid, int16_t epoch)
{
    if (ps->count >= SP_PSTATE_PRODUCERS_MAX) {
        entry_evict_one(ps);
    }
    if (ps->count >= ps->nbuckets) {
        table_grow(ps);
    }
    struct pentry *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    e->producer_id = pid;
    e->epoch = epoch;
    uint32_t s = slot_of(ps, pid);
    e->hnext = ps->buckets[s];
    ps->buckets[s] = e;
    ps->count++;
    return e;
}

static void table_sweep(struct sp_pstate *ps, int64_t now_ms)
{
    for (uint32_t i = 0; i < ps->nbuckets; i++) {
        struct pentry **link = &ps->buckets[i];
        while (*link != NULL) {
            struct pentry *e = *link;
            if (entry_expired(ps, e, now_ms)) {
                *link = e->hnext;
                ps->count--;
                free(e);
            } else {
                link = &e->hnext;
            }
        }
    }
}

/* Kafka's sequence arithmetic: sequences wrap from INT32_MAX to 0. */
static int32_t seq_add(int32_t seq, int32_t delta)
{
    return (int32_t)(((int64_t)seq + delta) % ((int64_t)INT32_MAX + 1));
}

static bool in_sequence(int32_t last, int32_t next)
{
    return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

/* Records a batch for its producer; a newer epoch starts the producer's history afresh. */
static void entry_add(struct sp_pstate *ps, const struct sp_batch_header *h, int64_t base_offset,
                      int64_t append_ms, void *inflight)
{
    struct pentry *e = entry_find(ps, h->producer_id);
    if (e == NULL) {
        e = entry_create(ps, h->producer_id, h->producer_epoch);
        if (e == NULL) {
            sp_log_warn("pstate: out of memory: producer %lld not tracked",
                        (long long)h->producer_id);
            return;
        }
    }
    if (h->producer_epoch < e->epoch) {
        return; /* only when replaying a log a fenced producer wrote into */
    }
    if (h->producer_epoch != e->epoch) {
        e->epoch = h->producer_epoch;
        e->n = 0;
    }
    if (e->n == SP_PSTATE_BATCHES) {
        memmove(&e->b[0], &e->b[1], sizeof(e->b[0]) * (SP_PSTATE_BATCHES - 1));
        e->n--;
    }
    e->b[e->n++] = (struct pbatch){.first_seq = h->base_sequence,
                                   .last_seq = seq_add(h->base_sequence, h->last_offset_delta),
                                   .first_offset = base_offset,
                                   .last_offset = base_offset + h->last_offset_delta,
                                   .timestamp = h->max_timestamp,
                                   .inflight = inflight};
    if (append_ms > e->last_append_ms) {
        e->last_append_ms = append_ms;
    }
}

/* ---- Checks ------------------------------------------------------------ */

int16_t sp_pstate_check(struct sp_pstate *ps, const struct sp_batch_header *h, int64_t now_ms,
                        bool *is_dup, struct sp_pstate_dup *dup, char *why, size_t whylen)
{
    *is_dup = false;
    struct pentry *e = entry_find(ps, h->producer_id);
    if (e != NULL && entry_expired(ps, e, now_ms)) {
        entry_remove(ps, e);
        e = NULL;
    }
    if (e == NULL) {
        return 0; /* unknown (new, expired or cleaned away): any sequence, KIP-360 */
    }
    int32_t first = h->base_sequence;
    int32_t last = seq_add(first, h->last_offset_delta);
    if (h->producer_epoch == e->epoch) {
        for (uint32_t i = 0; i < e->n; i++) {
            const struct pbatch *b = &e->b[i];
            if (b->first_seq == first && b->last_seq == last) {
                *dup = (struct sp_pstate_dup){.first_offset = b->first_offset,
                                              .last_offset = b->last_offset,
                                              .timestamp = b->timestamp,
                                              .inflight = b->inflight};
                *is_dup = true;
                return 0;
            }
        }
    }
    if (h->producer_epoch < e->epoch) {
        if (why != NULL) {
            snprintf(why, whylen, "producer %lld epoch %d is older than the current epoch %d",
                     (long long)h->producer_id, h->producer_epoch, e->epoch);
        }
        return KERR_INVALID_PRODUCER_EPOCH;
    }
    if (h->producer_epoch != e->epoch) {
        if (first != 0 && why != NULL) {
            snprintf(why, whylen, "producer %lld new epoch %d starts at sequence %d, not 0",
                     (long long)h->producer_id, h->producer_epoch, first);
        }
        return first != 0 ? KERR_OUT_OF_ORDER_SEQUENCE_NUMBER : 0;
    }
    int32_t expect_after = e->n > 0 ? e->b[e->n - 1].last_seq : -1;
    if (!in_sequence(expect_after, first)) {
        if (why != NULL) {
            snprintf(why, whylen, "producer %lld sequence %d out of order: expected %d",
                     (long long)h->producer_id, first, seq_add(expect_after, 1));
        }
        return KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    }
    return 0;
}

static void snap_start(struct sp_pstate *ps);

void sp_pstate_append(struct sp_pstate *ps, const struct sp_batch_header *h, int64_t base_offset,
                      size_t bytes, int64_t now_ms, void *inflight)
{
    if (h->producer_id >= 0 && !sp_batch_is_control(h)) {
        entry_add(ps, h, base_offset, now_ms, inflight);
    }
    ps->bytes_since_snap += bytes;
    if (ps->bytes_since_snap >= SP_PSTATE_SNAPSHOT_BYTES && ps->job == NULL) {
        snap_start(ps);
    }
}

void sp_pstate_acked(struct sp_pstate *ps, int64_t producer_id, const void *inflight)
{
    struct pentry *e = entry_find(ps, producer_id);
    if (e == NULL) {
        return;
    }
    for (uint32_t i = 0; i < e->n; i++) {
        if (e->b[i].inflight == inflight) {
            e->b[i].inflight = NULL;
        }
    }
}

uint32_t sp_pstate_producers(const struct sp_pstate *ps)
{
    return ps->count;
}

uint32_t sp_pstate_list(const struct sp_pstate *ps, int64_t now_ms, struct sp_pstate_producer *out,
                        uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ps->nbuckets; i++) {
        for (const struct pentry *e = ps->buckets[i]; e != NULL; e = e->hnext) {
            if (entry_expired(ps, e, now_ms)) {
                continue;
            }
            if (n < max) {
                const struct pbatch *last = e->n > 0 ? &e->b[e->n - 1] : NULL;
                out[n] = (struct sp_pstate_producer){
                    .producer_id = e->producer_id,
                    .epoch = e->epoch,
                    .last_sequence = last != NULL ? last->last_seq : -1,
                    .last_timestamp = last != NULL ? last->timestamp : -1,
                };
            }
            n++;
        }
    }
    return n;
}

/* ---- Snapshot encoding ------------------------------------------------- */

static uint8_t *snap_encode(const struct sp_pstate *ps, int64_t offset, uint32_t *len_out)
{
    size_t len = PS_HDR_BYTES + 4;
    for (uint32_t i = 0; i < ps->nbuckets; i++) {
        for (const struct pentry *e = ps->buckets[i]; e != NULL; e = e->hnext) {
            len += PS_ENTRY_BYTES + (size_t)e->n * PS_BATCH_BYTES;
        }
    }
    uint8_t *buf = malloc(len);
    if (buf == NULL) {
        return NULL;
    }
    memcpy(buf, PS_MAGIC, 4);
    sp_store_be16(buf + 4, PS_VERSION);
    sp_store_be16(buf + 6, 0);
    sp_store_be64(buf + 8, (uint64_t)offset);
    sp_store_be32(buf + 16, ps->count);
    uint8_t *w = buf + PS_HDR_BYTES;
    for (uint32_t i = 0; i < ps->nbuckets; i++) {
        for (const struct pentry *e = ps->buckets[i]; e != NULL; e = e->hnext) {
            sp_store_be64(w, (uint64_t)e->producer_id);
            sp_store_be16(w + 8, (uint16_t)e->epoch);
            w[10] = e->n;
            w[11] = 0;
            sp_store_be64(w + 12, (uint64_t)e->last_append_ms);
            w += PS_ENTRY_BYTES;
            for (uint32_t j = 0; j < e->n; j++) {
                const struct pbatch *b = &e->b[j];
                sp_store_be32(w, (uint32_t)b->first_seq);
                sp_store_be32(w + 4, (uint32_t)b->last_seq);
                sp_store_be64(w + 8, (uint64_t)b->first_offset);
                sp_store_be64(w + 16, (uint64_t)b->last_offset);
                sp_store_be64(w + 24, (uint64_t)b->timestamp);
                w += PS_BATCH_BYTES;
            }
        }
    }
    sp_store_be32(w, sp_crc32c(0, buf, (size_t)(w - buf)));
    *len_out = (uint32_t)len;
    return buf;
}

/* Loads a snapshot's entries into the (empty) table. 0 or -EBADMSG / -ENOMEM. */
static int snap_decode(struct sp_pstate *ps, const uint8_t *buf, size_t len, int64_t *offset)
{
    if (len < PS_HDR_BYTES + 4 || memcmp(buf, PS_MAGIC, 4) != 0 ||
        sp_load_be16(buf + 4) != PS_VERSION ||
        sp_crc32c(0, buf, len - 4) != sp_load_be32(buf + len - 4)) {
        return -EBADMSG;
    }
    *offset = (int64_t)sp_load_be64(buf + 8);
    uint32_t count = sp_load_be32(buf + 16);
    const uint8_t *r = buf + PS_HDR_BYTES, *end = buf + len - 4;
    for (uint32_t i = 0; i < count; i++) {
        if (end - r < PS_ENTRY_BYTES || r[10] > SP_PSTATE_BATCHES ||
            end - r < PS_ENTRY_BYTES + r[10] * PS_BATCH_BYTES) {
            return -EBADMSG;
        }
        int64_t pid = (int64_t)sp_load_be64(r);
        if (pid < 0 || entry_find(ps, pid) != NULL) {
            return -EBADMSG;
        }
        struct pentry *e = entry_create(ps, pid, (int16_t)sp_load_be16(r + 8));
        if (e == NULL) {
            return -ENOMEM;
        }
        e->n = r[10];
        e->last_append_ms = (int64_t)sp_load_be64(r + 12);
        r += PS_ENTRY_BYTES;
        for (uint32_t j = 0; j < e->n; j++, r += PS_BATCH_BYTES) {
            e->b[j] = (struct pbatch){.first_seq = (int32_t)sp_load_be32(r),
                                      .last_seq = (int32_t)sp_load_be32(r + 4),
                                      .first_offset = (int64_t)sp_load_be64(r + 8),
                                      .last_offset = (int64_t)sp_load_be64(r + 16),
                                      .timestamp = (int64_t)sp_load_be64(r + 24)};
        }
    }
    return r == end ? 0 : -EBADMSG;
}

/* ---- Waiting for the ring (open and close only) ------------------------ */

struct ps_sync {
    struct sp_io_op op;
    bool done;
    int32_t res;
};

static void sync_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct ps_sync *s = sp_container_of(op, struct ps_sync, op);
    (void)flags;
    s->res = res;
    s->done = true;
}

/*
 * Waits for the op just submitted with sync_done. The op lives on the
 * caller's stack, so this returns only once it completed: a failing poll
 * is retried (the ring reports it; the op still completes).
 */
static int sync_wait(struct ps_sync *s)
{
    struct sp_io *io = sp_rx_io();
    while (!s->done) {
        if (sp_io_turn(io) < 0) {
            sp_log_warn("pstate: polling the ring failed; retrying");
        }
    }
    return s->res;
}

static int snap_path(char *out, const char *dir, int64_t offset, const char *ext)
{
    int n = snprintf(out, PS_PATH_MAX, "%s/" PS_PREFIX "%020lld" PS_SUFFIX "%s", dir,
                     (long long)offset, ext);
    return n < 0 || n >= PS_PATH_MAX ? -ENAMETOOLONG : 0;
}

static void unlink_wait(const char *dir, int64_t offset)
{
    char path[PS_PATH_MAX];
    if (snap_path(path, dir, offset, "") != 0) {
        return;
    }
    struct ps_sync s = {.op.done = sync_done};
    sp_io_unlinkat(sp_rx_io(), &s.op, AT_FDCWD, path, 0);
    int r = sync_wait(&s);
    if (r < 0 && r != -ENOENT) {
        sp_log_warn("pstate: cannot remove %s: %s", path, strerror(-r));
    }
}

/* ---- Background snapshots ---------------------------------------------- */

static void job_finish(struct snap_job *job, int res)
{
    struct sp_pstate *ps = job->ps;
    if (res < 0) {
        /* Once let go, the partition is being deleted: its directory may be gone. */
        if (ps != NULL) {
            sp_log_warn("pstate: producer snapshot %s not written: %s", job->path, strerror(-res));
        } else {
            sp_log_debug("pstate: snapshot %s dropped: %s", job->path, strerror(-res));
        }
        if (job->fd >= 0) {
            sp_io_close_sync(sp_rx_io(), job->fd);
        }
        if (job->dfd >= 0) {
            sp_io_close_sync(sp_rx_io(), job->dfd);
        }
    } else if (ps != NULL) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < ps->nsnaps; i++) {
            bool gone = ps->snaps[i] == job->offset;
            for (uint32_t j = 0; j < job->nunlink; j++) {
                gone |= ps->snaps[i] == job->unlink[j];
            }
            if (!gone) {
                ps->snaps[n++] = ps->snaps[i];
            }
        }
        SP_ASSERT(n < SP_ARRAY_LEN(ps->snaps));
        ps->snaps[n++] = job->offset;
        ps->nsnaps = n;
    }
    if (ps != NULL) {
        ps->job = NULL;
    }
    free(job->buf);
    free(job);
    sp_rx_release();
}

static void job_step(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct snap_job *job = sp_container_of(op, struct snap_job, op);
    struct sp_io *io = sp_rx_io();
    (void)flags;
    if (res < 0 && job->step != J_UNLINK) {
        job_finish(job, res);
        return;
    }
    switch (job->step) {
    case J_OPEN:
        job->fd = res;
        job->step = J_WRITE;
        sp_io_write(io, &job->op, job->fd, job->buf, job->len, 0);
        return;
    case J_WRITE:
        if (res == 0) {
            job_finish(job, -EIO);
            return;
        }
        job->off += (uint32_t)res;
        if (job->off < job->len) {
            sp_io_write(io, &job->op, job->fd, job->buf + job->off, job->len - job->off, job->off);
            return;
        }
        job->step = J_FSYNC;
        sp_io_fsync(io, &job->op, job->fd, false);
        return;
    case J_FSYNC:
        job->step = J_CLOSE;
        sp_io_close(io, &job->op, job->fd);
        job->fd = -1;
        return;
    case J_CLOSE:
        job->step = J_RENAME;
        sp_io_renameat(io, &job->op, AT_FDCWD, job->tmp, AT_FDCWD, job->path);
        return;
    case J_RENAME:
        job->step = J_OPEN_DIR;
        sp_io_openat(io, &job->op, AT_FDCWD, job->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        return;
    case J_OPEN_DIR:
        job->dfd = res;
        job->step = J_FSYNC_DIR;
        sp_io_fsync(io, &job->op, job->dfd, false);
        return;
    case J_FSYNC_DIR:
        job->step = J_CLOSE_DIR;
        sp_io_close(io, &job->op, job->dfd);
        job->dfd = -1;
        return;
    case J_CLOSE_DIR:
    case J_UNLINK:
        job->step = J_UNLINK;
        if (job->at < job->nunlink &&
            snap_path(job->upath, job->dir, job->unlink[job->at++], "") == 0) {
            sp_io_unlinkat(io, &job->op, AT_FDCWD, job->upath, 0);
            return;
        }
        job_finish(job, 0);
        return;
    }
}

/* Starts writing the state at the log's end into a snapshot, in the background. */
static void snap_start(struct sp_pstate *ps)
{
    struct sp_part *p = ps->p;
    SP_ASSERT(ps->job == NULL);
    ps->bytes_since_snap = 0;
    if (p->log == NULL || sp_plog_error(p->log) != 0) {
        return;
    }
    int64_t offset = sp_plog_end_offset(p->log);
    if (ps->nsnaps > 0 && ps->snaps[ps->nsnaps - 1] == offset) {
        return; /* nothing appended since */
    }
    table_sweep(ps, sp_pstate_wall_ms());
    struct snap_job *job = calloc(1, sizeof(*job));
    if (job == NULL || snprintf(job->dir, sizeof(job->dir), "%s", p->dir) >= PS_PATH_MAX ||
        snap_path(job->tmp, p->dir, offset, ".tmp") != 0 ||
        snap_path(job->path, p->dir, offset, "") != 0 ||
        (job->buf = snap_encode(ps, offset, &job->len)) == NULL) {
        sp_log_warn("pstate: %s: cannot start a producer snapshot", p->dir);
        free(job);
        return;
    }
    /* Once this one is in place, only the newest SP_PSTATE_SNAPSHOTS_KEPT stay. */
    uint32_t keep_old = SP_PSTATE_SNAPSHOTS_KEPT - 1;
    for (uint32_t i = 0; i + keep_old < ps->nsnaps; i++) {
        job->unlink[job->nunlink++] = ps->snaps[i];
    }
    job->ps = ps;
    job->fd = -1;
    job->dfd = -1;
    job->offset = offset;
    job->step = J_OPEN;
    job->op.done = job_step;
    ps->job = job;
    sp_rx_hold(); /* a stop waits for the snapshot */
    sp_io_openat(sp_rx_io(), &job->op, AT_FDCWD, job->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                 0644);
}

/* Waits for the background snapshot, if any (open and close only). */
static void snap_wait(struct sp_pstate *ps)
{
    struct sp_io *io = sp_rx_io();
    while (ps->job != NULL) {
        if (sp_io_turn(io) < 0) {
            ps->job->ps = NULL; /* cannot wait: let it finish on its own */
            ps->job = NULL;
        }
    }
}

/* ---- Recovery ---------------------------------------------------------- */

struct listed {
    int64_t offs[PS_LISTED_MAX];
    uint32_t n;
};

static int list_one(void *ctx, const char *name, bool is_dir)
{
    struct listed *ls = ctx;
    size_t pl = strlen(PS_PREFIX), sl = strlen(PS_SUFFIX), nl = strlen(name);
    if (is_dir || nl != pl + 20 + sl || strncmp(name, PS_PREFIX, pl) != 0 ||
        strcmp(name + pl + 20, PS_SUFFIX) != 0) {
        return 0;
    }
    int64_t v = 0;
    for (size_t i = pl; i < pl + 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10) {
            return 0;
        }
        v = v * 10 + (name[i] - '0');
    }
    if (ls->n < PS_LISTED_MAX) {
        ls->offs[ls->n++] = v;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads and decodes one snapshot file. */
static int snap_load(struct sp_pstate *ps, int64_t offset)
{
    char path[PS_PATH_MAX];
    int r = snap_path(path, ps->p->dir, offset, "");
    if (r < 0) {
        return r;
    }
    struct sp_io *io = sp_rx_io();
    int fd = sp_io_open_sync(io, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        return fd;
    }
    uint64_t size = 0;
    r = sp_io_fsize_sync(io, fd, &size);
    uint8_t *buf = NULL;
    if (r == 0 && (size < PS_HDR_BYTES + 4 || size > PS_FILE_BYTES_MAX)) {
        r = -EBADMSG;
    }
    if (r == 0 && (buf = malloc(size)) == NULL) {
        r = -ENOMEM;
    }
    for (uint64_t at = 0; r == 0 && at < size;) {
        struct ps_sync s = {.op.done = sync_done};
        sp_io_read(io, &s.op, fd, buf + at, (uint32_t)(size - at), at);
        int n = sync_wait(&s);
        r = n < 0 ? n : n == 0 ? -EBADMSG : 0;
        at += n > 0 ? (uint64_t)n : 0;
    }
    sp_io_close_sync(io, fd);
    int64_t inner = -1;
    if (r == 0) {
        r = snap_decode(ps, buf, size, &inner);
    }
    if (r == 0 && inner != offset) {
        r = -EBADMSG;
    }
    free(buf);
    return r;
}

static void table_clear(struct sp_pstate *ps)
{
    for (uint32_t i = 0; i < ps->nbuckets; i++) {
        while (ps->buckets[i] != NULL) {
            struct pentry *e = ps->buckets[i];
            ps->buckets[i] = e->hnext;
            free(e);
        }
    }
    ps->count = 0;
}

struct ps_read {
    struct sp_plog_read r;
    bool done;
    int res;
};

static void replay_read_done(struct sp_plog_read *r, int res)
{
    struct ps_read *rd = sp_container_of(r, struct ps_read, r);
    rd->res = res;
    rd->done = true;
}

/* Applies the batches of one read, those at or after `from`. */
static void replay_batches(struct sp_pstate *ps, const uint8_t *data, uint32_t len, int64_t from,
                           int64_t now_ms)
{
    for (uint32_t at = 0; at < len;) {
        struct sp_batch_header h;
        size_t size = sp_batch_size(data + at, len - at);
        if (size == 0 || size > len - at || sp_batch_header_parse(data + at, len - at, &h) != 0) {
            return;
        }
        if (h.producer_id >= 0 && !sp_batch_is_control(&h) && sp_batch_last_offset(&h) >= from) {
            int64_t ts = h.max_timestamp > 0 ? h.max_timestamp : now_ms;
            entry_add(ps, &h, h.base_offset, ts, NULL);
        }
        at += (uint32_t)size;
    }
}

/* Replays the log from `from` to its end. Returns 0 or -errno; *bytes: what was read. */
static int replay(struct sp_pstate *ps, int64_t from, uint64_t *bytes)
{
    struct sp_plog *log = ps->p->log;
    int64_t now_ms = sp_pstate_wall_ms();
    while (from < sp_plog_end_offset(log)) {
        struct ps_read rd;
        memset(&rd, 0, sizeof(rd));
        rd.r.done = replay_read_done;
        rd.r.offset = from;
        rd.r.max_bytes = PS_READ_BYTES;
        rd.r.isolation = SP_PLOG_READ_WRITTEN;
        int rc = sp_plog_read(log, &rd.r);
        if (rc == 1) {
            struct sp_io *io = sp_rx_io();
            while (!rd.done) {
                if (sp_io_turn(io) < 0) {
                    sp_log_warn("pstate: polling the ring failed; retrying");
                }
            }
            rc = rd.res;
        }
        if (rc < 0) {
            return rc;
        }
        uint32_t len = rd.r.len;
        int64_t next = rd.r.next_offset;
        replay_batches(ps, rd.r.data, len, from, now_ms);
        sp_plog_read_release(&rd.r);
        *bytes += len;
        if (len == 0 || next <= from) {
            break;
        }
        from = next;
    }
    return 0;
}

/*
 * The newest snapshot at or below the log end, then the log after it.
 * Snapshots above the log end describe batches a crash took back: removed.
 */
static int pstate_load(struct sp_pstate *ps)
{
    struct sp_part *p = ps->p;
    int64_t end = sp_plog_end_offset(p->log);
    int64_t start = sp_plog_start_offset(p->log);
    struct listed ls = {.n = 0};
    int r = sp_io_listdir_sync(sp_rx_io(), p->dir, list_one, &ls);
    if (r < 0) {
        return r;
    }
    qsort(ls.offs, ls.n, sizeof(ls.offs[0]), cmp_i64);
    int64_t from = start;
    bool loaded = false;
    for (uint32_t i = ls.n; i-- > 0;) {
        int64_t off = ls.offs[i];
        bool keep = false;
        if (off <= end && !loaded) {
            int lr = snap_load(ps, off);
            if (lr == 0) {
                loaded = true;
                keep = true;
                from = SP_MAX(off, start);
            } else {
                sp_log_warn("pstate: %s: producer snapshot at %lld unusable (%s): ignored", p->dir,
                            (long long)off, strerror(-lr));
                table_clear(ps);
            }
        } else if (off <= end && ps->nsnaps < SP_PSTATE_SNAPSHOTS_KEPT) {
            keep = true; /* an older one, kept as the fallback */
        }
        if (keep && ps->nsnaps < SP_PSTATE_SNAPSHOTS_KEPT) {
            memmove(&ps->snaps[1], &ps->snaps[0], sizeof(ps->snaps[0]) * ps->nsnaps);
            ps->snaps[0] = off;
            ps->nsnaps++;
        } else {
            unlink_wait(p->dir, off);
        }
    }
    uint64_t bytes = 0;
    r = replay(ps, from, &bytes);
    ps->bytes_since_snap = bytes;
    sp_log_debug("pstate: %s: %u producers from %s offset %lld, %llu bytes replayed", p->dir,
                 ps->count, loaded ? "a snapshot at" : "the log start", (long long)from,
                 (unsigned long long)bytes);
    return r;
}

/* ---- Hooks (cluster/part.h) -------------------------------------------- */

int sp_pstate_open(struct sp_part *p)
{
    SP_ASSERT(p->pstate == NULL);
    struct sp_pstate *ps = calloc(1, sizeof(*ps));
    struct pentry **buckets = calloc(PS_BUCKETS_MIN, sizeof(*buckets));
    if (ps == NULL || buckets == NULL) {
        free(ps);
        free(buckets);
        return -ENOMEM;
    }
    ps->p = p;
    ps->buckets = buckets;
    ps->nbuckets = PS_BUCKETS_MIN;
    const struct sp_config *cfg = sp_image_broker_config();
    ps->expiration_ms =
        cfg != NULL ? sp_config_int(cfg, SP_CFG_PRODUCER_ID_EXPIRATION_MS) : PS_EXPIRATION_DFLT;
    int r = 0;
    if (p->log != NULL && sp_plog_error(p->log) == 0) {
        r = pstate_load(ps);
        if (r < 0) {
            sp_log_warn("pstate: %s: producer state not fully rebuilt: %s", p->dir, strerror(-r));
        }
    }
    p->pstate = ps;
    if (ps->bytes_since_snap >= SP_PSTATE_SNAPSHOT_BYTES) {
        snap_start(ps); /* do not replay that much again */
    }
    return r;
}

void sp_pstate_close(struct sp_part *p, bool keep)
{
    struct sp_pstate *ps = p->pstate;
    if (ps == NULL) {
        return;
    }
    /* From here produce sees no state: late acks and new appends leave it alone. */
    p->pstate = NULL;
    if (keep) {
        snap_wait(ps);
        snap_start(ps);
        snap_wait(ps);
    } else if (ps->job != NULL) {
        ps->job->ps = NULL; /* the directory goes away: let the write end on its own */
        ps->job = NULL;
    }
    table_clear(ps);
    free(ps->buckets);
    free(ps);
}
