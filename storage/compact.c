/*
 * storage/compact.c: log compaction (cleanup.policy=compact), as Kafka does
 * it, run by one cleaner per shard as budgeted background work.
 *
 * Words. A compacted log has a *clean section* [log start, clean end), whose
 * keys were deduplicated by earlier passes, and a *dirty section* after it.
 * The *cleanable* part stops at the first segment that may not be cleaned:
 * the active segment, a segment not yet synced after its roll, the high
 * watermark, or a segment holding records younger than
 * min.compaction.lag.ms.
 *
 * Picking. Every half second (sp_storage_tick) the cleaner, when idle,
 * looks at the shard's compacted logs and takes the one with the highest
 * dirty ratio (dirty bytes / cleanable bytes) at or above
 * min.cleanable.dirty.ratio; a log whose oldest dirty segment is older than
 * max.compaction.lag.ms is taken first whatever its ratio. (The broker also
 * caps segment.ms at max.compaction.lag.ms for compacted topics, so the
 * active segment rolls in time to become cleanable.)
 *
 * A pass:
 *
 *   MAP     read the dirty section from the clean end; for each keyed record
 *           map digest(key) -> its offset (the latest wins). The map has a
 *           fixed memory (log.cleaner.dedupe.buffer.size): when it fills,
 *           the pass ends its map there and a later pass goes on from that
 *           offset (several passes for a large dirty section).
 *   COPY    recopy every segment from the first to the one holding the map's
 *           end, in groups whose old sizes fit segment.bytes, into a new
 *           file per group: a record below the map's end is kept when its
 *           key maps to no later offset; a tombstone also needs to be
 *           younger than delete.retention.ms since the pass that first
 *           cleaned it; records without a key are dropped, as Kafka does.
 *           Records at or past the map's end are kept as they are.
 *   SWAP    per group: see below.
 *   CKPT    the clean end, the times of the passes (for tombstones) and the
 *           transactions still open at the clean end go to
 *           `cleaner-checkpoint` (written atomically).
 *
 * Batches keep their base offset, last offset delta, timestamps, producer
 * fields and leader epoch, so offsets are preserved and whole-batch gaps are
 * the only change a reader sees (the read path skips them, as Kafka
 * consumers do). A batch that keeps all its records is copied byte for
 * byte; one that keeps none disappears; otherwise its kept records (their
 * bytes unchanged: their deltas still hold against the batch's base) are
 * written into a new batch compressed again with the batch's own codec
 * (uncompressed if that fails), with its CRC recomputed.
 *
 * Atomic swap. A group of old segments b1 < b2 < ... < bk, followed by the
 * segment E, becomes one segment with base b1:
 *
 *   b1.log.cleaned, .index.cleaned, .timeindex.cleaned   written and fsynced
 *   rename b1.log.cleaned -> b1.E.swap, fsync directory  <- the commit point
 *   (in memory: the new segment replaces the old ones)
 *   unlink b2..bk (.log .index .timeindex); rename the .cleaned indexes over
 *   b1's; fsync directory; rename b1.E.swap -> b1.log; fsync directory
 *
 * Recovery at open (st_compact_recover) does the same: a *.swap file means
 * the commit happened, so the steps after it are (re)done, an index whose
 * .cleaned file is gone being rebuilt; *.cleaned files without a swap are
 * an uncommitted pass and are removed. A crash therefore leaves either the
 * old segment set or the new one. Readers that hold an old segment keep its
 * fd (and its old bytes) until their read ends; the new segment's fd is open
 * before the swap and pinned until its files have their final names, so no
 * read ever opens a path the swap is changing. The swap waits while a read
 * is still opening an old segment.
 *
 * Transactions, as Kafka handles them. The map phase follows each
 * producer's transaction (first data offset, then its COMMIT or ABORT
 * marker). An aborted transaction's data is removed by the copy; its keys
 * never enter the map (when a pass meets an abort or a transaction still
 * open, it maps the dirty section a second time with the aborted ranges
 * known, and ends the pass before the first open transaction, as Kafka
 * stops at the last stable offset). A marker is dropped once no data of its
 * transaction is left before it and it is older than delete.retention.ms
 * in the clean section, like a tombstone. The transactions open at the
 * clean end are kept in the checkpoint, so a later abort finds where its
 * data starts.
 *
 * Budget. Work runs in steps of at most cleaner_step_bytes of batches; a
 * step ends with one I/O (read, write, file job) or a no-op that yields to
 * the shard's loop, so a produce waits for one step at most. One pass at a
 * time per shard; one I/O in flight at a time.
 *
 * Memory: the key map (fixed), a read buffer and a write buffer (1 MiB, or
 * one batch when larger), scratch for one batch decompressed (at most
 * CL_DECOMP_MAX), per-pass tables of producers and aborted transactions.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "protocol/batch.h"
#include "protocol/compress.h"
#include "storage/log_impl.h"

#define CKPT_NAME           "cleaner-checkpoint"
#define CL_READ_BYTES       (256u << 10)
#define CL_WRITE_BYTES      (1u << 20)
#define CL_GROUP_SEGS_MAX   64
#define CL_HIST_MAX         32
#define CL_OPEN_TXNS_MAX    1024
#define CL_PID_SLOTS        4096 /* a power of two; filled to 3/4 at most */
#define CL_ABORTS_MAX       4096
#define CL_DECOMP_MAX       (128u << 20)
#define CL_PICK_INTERVAL_NS (500ull * 1000000u)
#define CL_BACKOFF_NS       (30ull * 1000000000u)
#define CL_CONTROL_ABORT    0
#define CL_CONTROL_COMMIT   1
#define CL_NAME_MAX         64
#define CL_WARM_BYTES       (256u << 10)

_Static_assert((CL_PID_SLOTS & (CL_PID_SLOTS - 1)) == 0, "pid table size is a power of two");

/* ---- State ------------------------------------------------------------------ */

/* A pass's end offset and when it ran: tombstones below `end` were first cleaned at `ms`. */
struct cl_hist {
    int64_t end;
    int64_t ms;
};

struct cl_txn {
    int64_t pid;
    int64_t first;
};

/* Per compacted log (log->clog). */
struct st_clog {
    int64_t clean_end;
    struct cl_hist hist[CL_HIST_MAX];
    uint32_t nhist;
    struct cl_txn *open; /* transactions open at clean_end */
    uint32_t nopen;
    uint64_t skip_until_ns; /* after a failed or empty pass */
    bool broken;            /* unreadable data: not cleaned until reopened */
};

/* Key map slot: 128 bits of digest and the latest offset; valid when gen matches. */
struct cl_slot {
    uint64_t d0, d1;
    int64_t off;
    uint32_t gen;
};

struct cl_map {
    struct cl_slot *s;
    uint64_t mask;
    uint64_t n, max;
    uint32_t gen;
    uint64_t warm_bytes; /* prefix already touched (its pages are in) */
};

struct cl_pid {
    int64_t pid;
    int64_t first; /* first data offset of its open transaction */
    bool used, open, retained;
};

struct cl_abort {
    int64_t pid, first, last;
};

enum cl_phase {
    CL_IDLE = 0,
    CL_MAP,    /* building the key map */
    CL_COPY,   /* writing a group's new segment */
    CL_COMMIT, /* the commit job runs */
    CL_SWAP,   /* committed; waits for reads opening old segments */
    CL_FINISH, /* unlinks and renames after the swap */
    CL_CKPT,   /* the checkpoint job runs */
};

struct st_cleaner {
    struct sp_storage *st;
    struct sp_plog *log; /* NULL when idle */
    enum cl_phase phase;
    bool stopping;
    int64_t now_ms;
    int64_t start;  /* clean end at the start of the pass */
    int64_t limit;  /* first uncleanable offset */
    int64_t end;    /* the map covers [start, end) */
    int64_t mapped; /* map phase: offset after the last batch mapped */
    bool sweep2;
    uint64_t sip[2];
    struct cl_map map;
    struct cl_pid *pids;
    uint32_t npids;
    struct cl_abort *aborts;
    uint32_t naborts;
    struct cl_txn *open_out; /* open at `end`, for the checkpoint */
    uint32_t nopen_out;

    /* Reader: segment log->segs[rs] through our own fd. */
    uint32_t rs, rs_last;
    int rfd;
    uint64_t rpos;
    uint8_t *rbuf;
    uint32_t rcap, rlen;
    uint64_t roff;

    /* Copy. */
    uint32_t g_first, g_last, copy_last;
    int64_t g_end;
    int64_t g_old_max_ts;
    bool g_changed;
    struct sp_segment *nseg;
    int wfd;
    uint8_t *wbuf;
    uint32_t wcap, wlen;
    uint64_t woff;
    int64_t old_bases[CL_GROUP_SEGS_MAX];
    uint32_t nold, unlink_at;
    uint8_t finish_stage;
    uint8_t commit_point; /* index of the commit job's rename step */

    /* Scratch for one batch. */
    uint8_t *dbuf, *kbuf, *cbuf;
    size_t dcap, kcap, ccap;

    struct sp_io_op op;
    uint8_t opk; /* which kind of op is in flight */
    bool op_busy;
    bool g_ending; /* the group's last write is in flight */
    struct st_job job;
    uint64_t last_pick_ns;
    char path[ST_PATH_MAX];
};

static void cl_run(struct st_cleaner *cl);

/* ---- Digests: SipHash-2-4 with 128-bit output, keyed per shard ---------- */

static inline uint64_t rotl64(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t le64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

#define SIPROUND(v0, v1, v2, v3) \
    do {                         \
        v0 += v1;                \
        v1 = rotl64(v1, 13);     \
        v1 ^= v0;                \
        v0 = rotl64(v0, 32);     \
        v2 += v3;                \
        v3 = rotl64(v3, 16);     \
        v3 ^= v2;                \
        v0 += v3;                \
        v3 = rotl64(v3, 21);     \
        v3 ^= v0;                \
        v2 += v1;                \
        v1 = rotl64(v1, 17);     \
        v1 ^= v2;                \
        v2 = rotl64(v2, 32);     \
    } while (0)

static void digest(const uint64_t k[2], const uint8_t *in, size_t len, uint64_t out[2])
{
    uint64_t v0 = 0x736f6d6570736575ull ^ k[0], v1 = 0x646f72616e646f6dull ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ k[0], v3 = 0x7465646279746573ull ^ k[1];
    v1 ^= 0xee;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = le64_get(in + i);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = whole; i < len; i++) {
        b |= (uint64_t)in[i] << (8 * (i - whole));
    }
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xee;
    for (int i = 0; i < 4; i++) {
        SIPROUND(v0, v1, v2, v3);
    }
    out[0] = v0 ^ v1 ^ v2 ^ v3;
    v1 ^= 0xdd;
    for (int i = 0; i < 4; i++) {
        SIPROUND(v0, v1, v2, v3);
    }
    out[1] = v0 ^ v1 ^ v2 ^ v3;
}

/* ---- The key map ------------------------------------------------------------ */

static int map_init(struct cl_map *m, uint64_t bytes)
{
    uint64_t slots = 1024;
    while (slots * 2 * sizeof(struct cl_slot) <= bytes) {
        slots *= 2;
    }
    m->s = calloc(slots, sizeof(*m->s));
    if (m->s == NULL) {
        return -ENOMEM;
    }
    m->mask = slots - 1;
    m->max = slots / 4 * 3;
    m->n = 0;
    m->gen = 0;
    return 0;
}

/* Empties the map by moving to a new generation (no pass over its memory). */
static void map_clear(struct cl_map *m)
{
    m->n = 0;
    if (++m->gen == 0) {
        memset(m->s, 0, (m->mask + 1) * sizeof(*m->s));
        m->gen = 1;
    }
}

/* Returns false when the map is full and the key is new. */
static bool map_put(struct cl_map *m, const uint64_t d[2], int64_t off)
{
    for (uint64_t i = d[0] & m->mask;; i = (i + 1) & m->mask) {
        struct cl_slot *s = &m->s[i];
        if (s->gen != m->gen) {
            if (m->n >= m->max) {
                return false;
            }
            *s = (struct cl_slot){d[0], d[1], off, m->gen};
            m->n++;
            return true;
        }
        if (s->d0 == d[0] && s->d1 == d[1]) {
            s->off = SP_MAX(s->off, off);
            return true;
        }
    }
}

/* The latest offset of the key, or -1. */
static int64_t map_get(const struct cl_map *m, const uint64_t d[2])
{
    for (uint64_t i = d[0] & m->mask;; i = (i + 1) & m->mask) {
        const struct cl_slot *s = &m->s[i];
        if (s->gen != m->gen) {
            return -1;
        }
        if (s->d0 == d[0] && s->d1 == d[1]) {
            return s->off;
        }
    }
}

/* ---- Producers and aborted transactions of a pass ------------------------- */

static struct cl_pid *pid_get(struct st_cleaner *cl, int64_t pid, bool create)
{
    uint64_t h = (uint64_t)pid * 0x9e3779b97f4a7c15ull;
    for (uint32_t i = (uint32_t)(h >> 52) & (CL_PID_SLOTS - 1);; i = (i + 1) & (CL_PID_SLOTS - 1)) {
        struct cl_pid *e = &cl->pids[i];
        if (!e->used) {
            if (!create || cl->npids >= CL_PID_SLOTS / 4 * 3) {
                return NULL;
            }
            *e = (struct cl_pid){.pid = pid, .used = true};
            cl->npids++;
            return e;
        }
        if (e->pid == pid) {
            return e;
        }
    }
}

static void pids_reset(struct st_cleaner *cl)
{
    memset(cl->pids, 0, sizeof(*cl->pids) * CL_PID_SLOTS);
    cl->npids = 0;
}

static bool aborted(const struct st_cleaner *cl, int64_t pid, int64_t offset)
{
    for (uint32_t i = 0; i < cl->naborts; i++) {
        const struct cl_abort *a = &cl->aborts[i];
        if (a->pid == pid && a->first <= offset && offset <= a->last) {
            return true;
        }
    }
    return false;
}

/* Whether a tombstone or marker at `offset` (in the clean section) is past its delete horizon. */
static bool past_horizon(const struct st_cleaner *cl, int64_t offset)
{
    const struct st_clog *c = cl->log->clog;
    if (offset >= cl->start) {
        return false; /* cleaned for the first time now */
    }
    for (uint32_t i = 0; i < c->nhist; i++) {
        if (offset < c->hist[i].end) {
            return cl->now_ms - c->hist[i].ms >= cl->log->opts.delete_retention_ms;
        }
    }
    return false;
}

/* ---- Scratch ---------------------------------------------------------------- */

static bool grow_buf(uint8_t **buf, size_t *cap, size_t need)
{
    if (*cap >= need) {
        return true;
    }
    size_t n = SP_MAX(need, *cap * 2);
    uint8_t *b = realloc(*buf, n);
    if (b == NULL) {
        return false;
    }
    *buf = b;
    *cap = n;
    return true;
}

/*
 * The records of a validated batch, decompressed into cl->dbuf when needed.
 * Returns 0, -EMSGSIZE (larger than CL_DECOMP_MAX: left as it is), -EBADMSG
 * or -ENOMEM.
 */
static int batch_records(struct st_cleaner *cl, const uint8_t *p, const struct sp_batch_header *h,
                         struct sp_slice *out)
{
    struct sp_slice in = sp_batch_records(p, h);
    enum sp_codec codec = sp_batch_codec(h);
    if (codec == SP_CODEC_NONE) {
        *out = in;
        return 0;
    }
    size_t want = SP_MAX((size_t)64 << 10, in.len * 4);
    for (;;) {
        want = SP_MIN(want, (size_t)CL_DECOMP_MAX);
        if (!grow_buf(&cl->dbuf, &cl->dcap, want)) {
            return -ENOMEM;
        }
        long n = sp_decompress(codec, in.ptr, in.len, cl->dbuf, cl->dcap);
        if (n >= 0) {
            *out = sp_slice_make(cl->dbuf, (size_t)n);
            return 0;
        }
        if (n != -EMSGSIZE || cl->dcap >= CL_DECOMP_MAX) {
            return n == -EMSGSIZE ? -EMSGSIZE : (n == -ENOMEM ? -ENOMEM : -EBADMSG);
        }
        want = cl->dcap * 2;
    }
}

/* The control type of a control batch's first record (0 abort, 1 commit), or -1. */
static int control_type(struct st_cleaner *cl, const uint8_t *p, const struct sp_batch_header *h)
{
    struct sp_slice recs;
    if (batch_records(cl, p, h, &recs) < 0) {
        return -1;
    }
    struct sp_record_iter it;
    struct sp_record rec;
    sp_record_iter_init(&it, h, recs);
    if (sp_record_iter_next(&it, &rec) != 1 || rec.key.ptr == NULL || rec.key.len < 4) {
        return -1;
    }
    return (int)(((unsigned)rec.key.ptr[2] << 8) | rec.key.ptr[3]);
}

/* ---- Paths ------------------------------------------------------------------ */

static int cl_path(char *out, const struct sp_plog *log, int64_t base, const char *suffix)
{
    char name[CL_NAME_MAX];
    int n = snprintf(name, sizeof(name), "%020" PRId64 "%s", base, suffix);
    return (n < 0 || n >= (int)sizeof(name)) ? -ENAMETOOLONG : st_path(out, log, name);
}

static int swap_path(char *out, const struct sp_plog *log, int64_t base, int64_t end)
{
    char name[CL_NAME_MAX];
    int n = snprintf(name, sizeof(name), "%020" PRId64 ".%020" PRId64 ".swap", base, end);
    return (n < 0 || n >= (int)sizeof(name)) ? -ENAMETOOLONG : st_path(out, log, name);
}

/* Parses "<20 digits>.<20 digits>.swap". */
static bool swap_name_parse(const char *name, int64_t *base, int64_t *end)
{
    const char *ext;
    if (strlen(name) != 2 * SP_SEG_NAME_DIGITS + 6 || sp_seg_name_parse(name, base, &ext) != 0 ||
        sp_seg_name_parse(ext + 1, end, &ext) != 0 || strcmp(ext, ".swap") != 0) {
        return false;
    }
    return *end > *base;
}

/* ---- Pass lifecycle ------------------------------------------------------- */

static void reader_close(struct st_cleaner *cl)
{
    if (cl->rfd >= 0) {
        sp_io_close_sync(cl->st->io, cl->rfd);
        cl->rfd = -1;
    }
    cl->rpos = 0;
    cl->rlen = 0;
    cl->roff = 0;
}

/* Ends the pass (nothing in flight). Files left behind are handled by recovery. */
static void pass_end(struct st_cleaner *cl, int err, const char *what)
{
    struct sp_plog *log = cl->log;
    reader_close(cl);
    if (cl->wfd >= 0) {
        sp_io_close_sync(cl->st->io, cl->wfd);
        cl->wfd = -1;
    }
    if (cl->nseg) {
        if (cl->nseg->fd >= 0) {
            sp_io_close_sync(cl->st->io, cl->nseg->fd);
        }
        st_segment_free(cl->nseg);
        cl->nseg = NULL;
    }
    if (log && err < 0) {
        sp_log_warn("storage: %s: compaction stopped (%s): %s", log->dir, what, strerror(-err));
        log->clog->skip_until_ns = sp_io_now_ns(cl->st->io) + CL_BACKOFF_NS;
        if (err == -EBADMSG) {
            log->clog->broken = true;
        }
    }
    cl->log = NULL;
    cl->phase = CL_IDLE;
    cl->stopping = false;
}

static int cleaner_get(struct sp_storage *st, struct st_cleaner **out)
{
    if (st->cleaner) {
        *out = st->cleaner;
        return 0;
    }
    struct st_cleaner *cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        return -ENOMEM;
    }
    cl->st = st;
    cl->rfd = cl->wfd = -1;
    cl->pids = calloc(CL_PID_SLOTS, sizeof(*cl->pids));
    cl->aborts = malloc(sizeof(*cl->aborts) * CL_ABORTS_MAX);
    cl->open_out = malloc(sizeof(*cl->open_out) * CL_OPEN_TXNS_MAX);
    cl->rcap = CL_READ_BYTES;
    cl->rbuf = st_aligned_alloc(cl->rcap);
    cl->wcap = CL_WRITE_BYTES;
    cl->wbuf = malloc(cl->wcap);
    int r = map_init(&cl->map, st->p.cleaner_dedupe_bytes);
    if (r < 0 || !cl->pids || !cl->aborts || !cl->open_out || !cl->rbuf || !cl->wbuf) {
        free(cl->map.s);
        free(cl->pids);
        free(cl->aborts);
        free(cl->open_out);
        free(cl->rbuf);
        free(cl->wbuf);
        free(cl);
        return -ENOMEM;
    }
    if (getrandom(cl->sip, sizeof(cl->sip), GRND_NONBLOCK) != (ssize_t)sizeof(cl->sip)) {
        cl->sip[0] = (uint64_t)(uintptr_t)cl ^ sp_io_now_ns(st->io);
        cl->sip[1] = cl->sip[0] * 0x9e3779b97f4a7c15ull + 1;
    }
    st->cleaner = cl;
    *out = cl;
    return 0;
}

void st_compact_destroy(struct sp_storage *st)
{
    struct st_cleaner *cl = st->cleaner;
    if (cl == NULL) {
        return;
    }
    if (cl->job.busy) {
        free(cl->job.owned); /* cut short by a crash */
    }
    free(cl->map.s);
    free(cl->pids);
    free(cl->aborts);
    free(cl->open_out);
    free(cl->rbuf);
    free(cl->wbuf);
    free(cl->dbuf);
    free(cl->kbuf);
    free(cl->cbuf);
    if (cl->nseg) {
        st_segment_free(cl->nseg);
    }
    free(cl);
    st->cleaner = NULL;
}

/* ---- Reading segments ----------------------------------------------------- */

static void op_done(struct sp_io_op *op, int32_t res, uint32_t flags);

enum { OPK_NOP = 1, OPK_OPEN_R, OPK_READ, OPK_OPEN_W, OPK_WRITE, OPK_UNLINK };

static void op_start(struct st_cleaner *cl, int kind)
{
    cl->op_busy = true;
    cl->opk = (uint8_t)kind;
    cl->op.done = op_done;
}

/*
 * The next whole batch of the segment being read. Returns 1 (*p, *b set), 0
 * (an I/O was issued: continue when it completes), 2 (end of the segment),
 * or -errno.
 */
static int rd_batch(struct st_cleaner *cl, const uint8_t **p, struct sp_seg_batch *b)
{
    struct sp_plog *log = cl->log;
    struct sp_segment *seg = log->segs[cl->rs];
    if (cl->rpos >= seg->size) {
        return 2;
    }
    if (cl->rfd < 0) {
        int r = cl_path(cl->path, log, seg->base_offset, ".log");
        if (r < 0) {
            return r;
        }
        op_start(cl, OPK_OPEN_R);
        sp_io_openat(cl->st->io, &cl->op, AT_FDCWD, cl->path, O_RDONLY | st_open_flags(cl->st), 0);
        return 0;
    }
    size_t need = CL_READ_BYTES;
    if (cl->rpos >= cl->roff && cl->rpos < cl->roff + cl->rlen) {
        const uint8_t *q = cl->rbuf + (cl->rpos - cl->roff);
        size_t have = (size_t)(cl->roff + cl->rlen - cl->rpos);
        int pk = sp_seg_batch_peek(q, have, b);
        if (pk < 0 || (pk == 1 && cl->rpos + b->size > seg->size)) {
            return -EBADMSG;
        }
        if (pk == 1 && b->size <= have) {
            if (!sp_seg_batch_crc_ok(q, b)) {
                return -EBADMSG;
            }
            *p = q;
            return 1;
        }
        need = pk == 1 ? b->size : SP_BATCH_HDR_BYTES;
    }
    uint64_t off = cl->rpos & ~(uint64_t)(ST_BLOCK - 1);
    uint64_t len = SP_ALIGN_UP(cl->rpos - off + SP_MAX(need, (size_t)CL_READ_BYTES), ST_BLOCK);
    len = SP_MIN(len, SP_ALIGN_UP(seg->size, (uint64_t)ST_BLOCK) - off);
    if (len > cl->rcap) {
        uint8_t *nb = st_aligned_alloc(len);
        if (nb == NULL) {
            return -ENOMEM;
        }
        free(cl->rbuf);
        cl->rbuf = nb;
        cl->rcap = (uint32_t)len;
    }
    op_start(cl, OPK_READ);
    cl->roff = off;
    cl->rlen = 0;
    sp_io_read(cl->st->io, &cl->op, cl->rfd, cl->rbuf, (uint32_t)len, off);
    return 0;
}

static void rd_advance(struct st_cleaner *cl)
{
    reader_close(cl);
    cl->rs++;
}

/* ---- Map phase --------------------------------------------------------------- */

static void txn_data(struct st_cleaner *cl, int64_t pid, int64_t base, bool *full)
{
    struct cl_pid *e = pid_get(cl, pid, true);
    if (e == NULL) {
        *full = true;
        return;
    }
    if (!e->open) {
        e->open = true;
        e->first = base;
    }
}

static void txn_marker(struct st_cleaner *cl, int64_t pid, int type, int64_t offset, bool *full)
{
    struct cl_pid *e = pid_get(cl, pid, true);
    if (e == NULL) {
        *full = true;
        return;
    }
    if (e->open && type == CL_CONTROL_ABORT && !cl->sweep2) {
        if (cl->naborts == CL_ABORTS_MAX) {
            *full = true;
            return;
        }
        cl->aborts[cl->naborts++] = (struct cl_abort){pid, e->first, offset};
    }
    e->open = false;
}

/*
 * Maps the records of one batch. Returns 0 when all of it is mapped, 1 when
 * the map (or a table) filled first (*stop_at: the first offset not mapped),
 * or -errno.
 */
static int map_batch(struct st_cleaner *cl, const uint8_t *p, const struct sp_seg_batch *b,
                     int64_t *stop_at)
{
    struct sp_batch_header h;
    if (sp_batch_validate(p, b->size, &h) < 0) {
        return -EBADMSG;
    }
    bool full = false;
    *stop_at = b->base_offset;
    if (sp_batch_is_control(&h)) {
        if (sp_batch_is_transactional(&h)) {
            int type = control_type(cl, p, &h);
            if (type == CL_CONTROL_ABORT || type == CL_CONTROL_COMMIT) {
                txn_marker(cl, h.producer_id, type, b->base_offset, &full);
            }
        }
        return full ? 1 : 0;
    }
    if (sp_batch_is_transactional(&h)) {
        txn_data(cl, h.producer_id, b->base_offset, &full);
        if (full) {
            return 1;
        }
        if (cl->sweep2 && aborted(cl, h.producer_id, b->base_offset)) {
            return 0;
        }
    }
    struct sp_slice recs;
    int r = batch_records(cl, p, &h, &recs);
    if (r == -EMSGSIZE) {
        return 0; /* too large to clean: kept whole, its keys unmapped */
    }
    if (r < 0) {
        return r;
    }
    struct sp_record_iter it;
    struct sp_record rec;
    sp_record_iter_init(&it, &h, recs);
    while ((r = sp_record_iter_next(&it, &rec)) == 1) {
        if (rec.offset < cl->start || rec.key.ptr == NULL) {
            continue;
        }
        if (rec.offset >= cl->limit) {
            break;
        }
        uint64_t d[2];
        digest(cl->sip, rec.key.ptr, rec.key.len, d);
        if (!map_put(&cl->map, d, rec.offset)) {
            *stop_at = rec.offset;
            return 1;
        }
    }
    return r < 0 ? -EBADMSG : 0;
}

static void sweep_begin(struct st_cleaner *cl)
{
    struct sp_plog *log = cl->log;
    const struct st_clog *c = log->clog;
    map_clear(&cl->map);
    pids_reset(cl);
    for (uint32_t i = 0; i < c->nopen; i++) {
        struct cl_pid *e = pid_get(cl, c->open[i].pid, true);
        if (e) {
            e->open = true;
            e->first = c->open[i].first;
        }
    }
    uint32_t at = 0;
    struct sp_segment *seg = st_segment_find(log, cl->start, &at);
    cl->rs = at;
    reader_close(cl);
    long i = sp_index_floor(seg->idx, seg->idx_n, (uint32_t)(cl->start - seg->base_offset));
    cl->rpos = i >= 0 ? seg->idx[i].position : 0;
    cl->mapped = cl->start;
    cl->rs_last = at;
    while (cl->rs_last + 2 < log->nsegs && log->segs[cl->rs_last + 1]->base_offset < cl->limit) {
        cl->rs_last++;
    }
}

static void copy_begin(struct st_cleaner *cl);

/* The map has reached `stop` (all of [start, stop) is mapped). */
static void map_done(struct st_cleaner *cl, int64_t stop)
{
    int64_t open_min = INT64_MAX;
    cl->nopen_out = 0;
    for (uint32_t i = 0; i < CL_PID_SLOTS; i++) {
        const struct cl_pid *e = &cl->pids[i];
        if (e->used && e->open) {
            open_min = SP_MIN(open_min, e->first);
            if (cl->nopen_out < CL_OPEN_TXNS_MAX) {
                cl->open_out[cl->nopen_out++] = (struct cl_txn){e->pid, e->first};
            }
        }
    }
    if (!cl->sweep2 && (cl->naborts > 0 || open_min != INT64_MAX)) {
        /* Map again with the aborted ranges known, up to the first open transaction. */
        cl->sweep2 = true;
        cl->limit = SP_MIN(stop, open_min);
        if (cl->limit > cl->start) {
            sweep_begin(cl);
            return;
        }
        stop = cl->limit;
    }
    if (cl->nopen_out == CL_OPEN_TXNS_MAX && open_min < INT64_MAX) {
        stop = SP_MIN(stop, open_min); /* too many to remember: stop before them */
        cl->nopen_out = 0;
    }
    cl->end = SP_MIN(stop, cl->limit);
    if (cl->end <= cl->start) {
        /* Nothing to clean yet (an open transaction at the clean end). */
        cl->log->clog->skip_until_ns = sp_io_now_ns(cl->st->io) + CL_BACKOFF_NS / 3;
        pass_end(cl, 0, NULL);
        return;
    }
    copy_begin(cl);
}

/* One map step: returns 1 to go on, 0 when waiting for I/O, -errno. */
static int map_step(struct st_cleaner *cl, uint64_t *budget)
{
    uint64_t map_bytes = (cl->map.mask + 1) * sizeof(struct cl_slot);
    if (cl->map.warm_bytes < map_bytes) {
        /* Fault the map's pages in a slice per step, not at random inside one step. */
        uint64_t n = SP_MIN(map_bytes - cl->map.warm_bytes, (uint64_t)CL_WARM_BYTES);
        memset((uint8_t *)cl->map.s + cl->map.warm_bytes, 0, n);
        cl->map.warm_bytes += n;
        *budget = 0;
        return 1;
    }
    const uint8_t *p;
    struct sp_seg_batch b;
    int r = rd_batch(cl, &p, &b);
    if (r <= 0) {
        return r;
    }
    if (r == 2) {
        if (cl->rs >= cl->rs_last) {
            map_done(cl, cl->limit);
            return 1;
        }
        rd_advance(cl);
        return 1;
    }
    if (b.last_offset < cl->start) {
        cl->rpos += b.size;
        return 1;
    }
    if (b.base_offset >= cl->limit || b.last_offset >= cl->limit) {
        map_done(cl, b.base_offset);
        return 1;
    }
    int64_t stop_at;
    r = map_batch(cl, p, &b, &stop_at);
    if (r < 0) {
        return r;
    }
    if (r == 1) {
        map_done(cl, SP_MAX(stop_at, cl->start));
        return 1;
    }
    cl->rpos += b.size;
    cl->mapped = b.last_offset + 1;
    cl->st->stats.cleaner_read_bytes += b.size;
    *budget -= SP_MIN(*budget, (uint64_t)b.size + 64);
    return 1;
}

/* ---- Copy phase -------------------------------------------------------------- */

static void group_begin(struct st_cleaner *cl);

static void copy_begin(struct st_cleaner *cl)
{
    struct sp_plog *log = cl->log;
    cl->phase = CL_COPY;
    pids_reset(cl);
    cl->copy_last = 0;
    while (cl->copy_last + 2 < log->nsegs && log->segs[cl->copy_last + 1]->base_offset < cl->end) {
        cl->copy_last++;
    }
    cl->g_first = 0;
    group_begin(cl);
}

static void ckpt_write(struct st_cleaner *cl);

static void group_begin(struct st_cleaner *cl)
{
    struct sp_plog *log = cl->log;
    if (cl->stopping) {
        pass_end(cl, 0, NULL);
        return;
    }
    uint64_t cap =
        (uint64_t)SP_MIN(SP_MAX(log->opts.segment_bytes, (int64_t)1), (int64_t)INT32_MAX);
    uint32_t j;
    int64_t base;
    for (;;) {
        if (cl->g_first > cl->copy_last) {
            ckpt_write(cl);
            return;
        }
        j = cl->g_first;
        uint64_t total = log->segs[j]->size;
        base = log->segs[j]->base_offset;
        cl->g_old_max_ts = log->segs[j]->max_timestamp;
        while (j + 1 <= cl->copy_last && j + 1 - cl->g_first < CL_GROUP_SEGS_MAX &&
               total + log->segs[j + 1]->size <= cap &&
               log->segs[j + 2]->base_offset - base <= (int64_t)INT32_MAX) {
            j++;
            total += log->segs[j]->size;
            cl->g_old_max_ts = SP_MAX(cl->g_old_max_ts, log->segs[j]->max_timestamp);
        }
        if (j > cl->g_first || total > 0) {
            break;
        }
        cl->g_first++; /* a lone empty segment: nothing to do */
    }
    cl->g_last = j;
    cl->g_end = log->segs[j + 1]->base_offset;
    cl->g_changed = j > cl->g_first;
    cl->nold = 0;
    for (uint32_t i = cl->g_first; i <= j; i++) {
        cl->old_bases[cl->nold++] = log->segs[i]->base_offset;
    }
    cl->nseg = st_segment_new(base, 0);
    cl->g_ending = false;
    if (cl->nseg == NULL) {
        pass_end(cl, -ENOMEM, "new segment");
        return;
    }
    cl->rs = cl->g_first;
    reader_close(cl);
    cl->wlen = 0;
    cl->woff = 0;
    int r = cl_path(cl->path, log, base, ".log.cleaned");
    if (r < 0) {
        pass_end(cl, r, "path");
        return;
    }
    op_start(cl, OPK_OPEN_W);
    sp_io_openat(cl->st->io, &cl->op, AT_FDCWD, cl->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

/* Appends one output batch (size bytes at p, offsets of b) to the new segment. */
static int out_batch(struct st_cleaner *cl, const uint8_t *p, uint32_t size,
                     const struct sp_seg_batch *b)
{
    if (cl->wlen + (size_t)size > cl->wcap) {
        size_t cap = cl->wcap;
        if (!grow_buf(&cl->wbuf, &cap, (size_t)cl->wlen + size)) {
            return -ENOMEM;
        }
        cl->wcap = (uint32_t)cap;
    }
    memcpy(cl->wbuf + cl->wlen, p, size);
    cl->wlen += size;
    struct sp_seg_batch nb = *b;
    nb.size = size;
    st_segment_index_add(cl->log, cl->nseg, &nb, cl->nseg->size);
    cl->nseg->size += size;
    cl->nseg->next_offset = b->last_offset + 1;
    return 0;
}

/* Whether the data record rec (below the map's end) stays. */
static bool keep_record(struct st_cleaner *cl, const struct sp_record *rec)
{
    if (rec->key.ptr == NULL) {
        return false; /* a compacted log keeps only keyed records, as Kafka's cleaner does */
    }
    uint64_t d[2];
    digest(cl->sip, rec->key.ptr, rec->key.len, d);
    if (map_get(&cl->map, d) > rec->offset) {
        return false;
    }
    return !(rec->value.ptr == NULL && past_horizon(cl, rec->offset));
}

/*
 * Filters the records of a data batch into cl->kbuf (a new batch) and says
 * how many stayed. Returns 0, or -errno (-EMSGSIZE: keep it whole).
 */
static int filter_records(struct st_cleaner *cl, const uint8_t *p, const struct sp_batch_header *h,
                          int32_t *kept, size_t *kept_bytes)
{
    struct sp_slice recs;
    int r = batch_records(cl, p, h, &recs);
    if (r < 0) {
        return r;
    }
    if (!grow_buf(&cl->kbuf, &cl->kcap, SP_BATCH_HEADER_BYTES + recs.len)) {
        return -ENOMEM;
    }
    struct sp_record_iter it;
    struct sp_record rec;
    sp_record_iter_init(&it, h, recs);
    size_t at = SP_BATCH_HEADER_BYTES;
    *kept = 0;
    for (;;) {
        const uint8_t *from = it.p;
        r = sp_record_iter_next(&it, &rec);
        if (r != 1) {
            break;
        }
        if (rec.offset >= cl->end || keep_record(cl, &rec)) {
            memcpy(cl->kbuf + at, from, (size_t)(it.p - from));
            at += (size_t)(it.p - from);
            (*kept)++;
        } else {
            cl->st->stats.cleaner_records_removed++;
        }
    }
    *kept_bytes = at - SP_BATCH_HEADER_BYTES;
    return r < 0 ? -EBADMSG : 0;
}

/* Writes the kept records of batch p as a new batch. */
static int out_rebuilt(struct st_cleaner *cl, const uint8_t *p, const struct sp_seg_batch *b,
                       const struct sp_batch_header *h, int32_t kept, size_t len)
{
    uint8_t *nb = cl->kbuf;
    memcpy(nb, p, SP_BATCH_HEADER_BYTES);
    enum sp_codec codec = sp_batch_codec(h);
    if (codec != SP_CODEC_NONE) {
        size_t bound = SP_BATCH_HEADER_BYTES + sp_compress_bound(codec, len);
        long n = -ENOMEM;
        if (grow_buf(&cl->cbuf, &cl->ccap, bound)) {
            n = sp_compress(codec, 0, cl->kbuf + SP_BATCH_HEADER_BYTES, len,
                            cl->cbuf + SP_BATCH_HEADER_BYTES, cl->ccap - SP_BATCH_HEADER_BYTES);
        }
        if (n > 0) {
            memcpy(cl->cbuf, p, SP_BATCH_HEADER_BYTES);
            nb = cl->cbuf;
            len = (size_t)n;
        } else {
            /* Kept uncompressed: clear the codec bits. */
            uint16_t attrs = (uint16_t)(((unsigned)nb[SP_BATCH_ATTRIBUTES_OFFSET] << 8) |
                                        nb[SP_BATCH_ATTRIBUTES_OFFSET + 1]);
            attrs &= (uint16_t)~SP_BATCH_ATTR_CODEC_MASK;
            nb[SP_BATCH_ATTRIBUTES_OFFSET] = (uint8_t)(attrs >> 8);
            nb[SP_BATCH_ATTRIBUTES_OFFSET + 1] = (uint8_t)attrs;
        }
    }
    size_t size = SP_BATCH_HEADER_BYTES + len;
    sp_be32_put(nb + SP_BATCH_OFF_LENGTH, (uint32_t)(size - SP_BATCH_LOG_OVERHEAD));
    sp_be32_put(nb + 57, (uint32_t)kept);
    sp_batch_update_crc(nb, size);
    return out_batch(cl, nb, (uint32_t)size, b);
}

/* Decides one batch of the group: copied whole, rebuilt, or dropped. */
static int copy_batch(struct st_cleaner *cl, const uint8_t *p, const struct sp_seg_batch *b)
{
    struct sp_batch_header h;
    if (sp_batch_validate(p, b->size, &h) < 0) {
        return -EBADMSG;
    }
    if (b->base_offset >= cl->end) {
        return out_batch(cl, p, b->size, b);
    }
    bool txn = sp_batch_is_transactional(&h);
    if (sp_batch_is_control(&h)) {
        int type = txn ? control_type(cl, p, &h) : -1;
        if (type != CL_CONTROL_ABORT && type != CL_CONTROL_COMMIT) {
            return out_batch(cl, p, b->size, b);
        }
        struct cl_pid *e = pid_get(cl, h.producer_id, true);
        bool drop = e != NULL && !e->retained && past_horizon(cl, b->last_offset);
        if (e) {
            e->retained = false;
        }
        if (drop) {
            cl->g_changed = true;
            cl->st->stats.cleaner_records_removed++;
            return 0;
        }
        return out_batch(cl, p, b->size, b);
    }
    if (txn && aborted(cl, h.producer_id, b->base_offset)) {
        cl->g_changed = true;
        cl->st->stats.cleaner_records_removed += (uint64_t)SP_MAX(h.records_count, 0);
        return 0;
    }
    int32_t kept = 0;
    size_t len = 0;
    int r = filter_records(cl, p, &h, &kept, &len);
    if (r == -EMSGSIZE) {
        kept = h.records_count;
    } else if (r < 0) {
        return r;
    }
    if (txn && kept > 0) {
        struct cl_pid *e = pid_get(cl, h.producer_id, true);
        if (e) {
            e->retained = true;
        }
    }
    if (kept == h.records_count) {
        return out_batch(cl, p, b->size, b);
    }
    cl->g_changed = true;
    if (kept == 0) {
        return 0;
    }
    return out_rebuilt(cl, p, b, &h, kept, len);
}

static void commit_start(struct st_cleaner *cl);

static void write_out(struct st_cleaner *cl)
{
    op_start(cl, OPK_WRITE);
    sp_io_write(cl->st->io, &cl->op, cl->wfd, cl->wbuf, cl->wlen, cl->woff);
}

/* The group's batches are all out (or in wbuf). */
static void group_end(struct st_cleaner *cl)
{
    if (cl->wlen > 0) {
        cl->g_ending = true;
        write_out(cl);
        return;
    }
    cl->g_ending = false;
    reader_close(cl);
    if (!cl->g_changed) {
        /* One segment and nothing to remove: keep it, drop the new file. */
        sp_io_close_sync(cl->st->io, cl->wfd);
        cl->wfd = -1;
        st_segment_free(cl->nseg);
        cl->nseg = NULL;
        cl_path(cl->path, cl->log, cl->old_bases[0], ".log.cleaned");
        op_start(cl, OPK_UNLINK);
        sp_io_unlinkat(cl->st->io, &cl->op, AT_FDCWD, cl->path, 0);
        return;
    }
    commit_start(cl);
}

static int copy_step(struct st_cleaner *cl, uint64_t *budget)
{
    const uint8_t *p;
    struct sp_seg_batch b;
    int r = rd_batch(cl, &p, &b);
    if (r <= 0) {
        return r;
    }
    if (r == 2) {
        if (cl->rs >= cl->g_last) {
            group_end(cl);
            return 0;
        }
        rd_advance(cl);
        return 1;
    }
    r = copy_batch(cl, p, &b);
    if (r < 0) {
        return r;
    }
    cl->rpos += b.size;
    cl->st->stats.cleaner_read_bytes += b.size;
    *budget -= SP_MIN(*budget, (uint64_t)b.size + 64);
    if (cl->wlen >= CL_WRITE_BYTES) {
        write_out(cl);
        return 0;
    }
    return 1;
}

/* ---- Commit, swap, finish ------------------------------------------------------ */

static void finish_next(struct st_cleaner *cl);

static void commit_done(struct st_job *job, int res)
{
    struct st_cleaner *cl = sp_container_of(job, struct st_cleaner, job);
    struct sp_plog *log = cl->log;
    if (log == NULL) {
        if (res >= 0) {
            sp_io_close_sync(cl->st->io, res);
        }
        return;
    }
    sp_io_close_sync(cl->st->io, cl->wfd);
    cl->wfd = -1;
    if (res < 0) {
        /* From the rename on, the commit may have happened: the next open decides. */
        if (job->at >= cl->commit_point) {
            st_log_fail(log, res, "compaction commit");
        }
        pass_end(cl, res, "commit");
        return;
    }
    cl->nseg->fd = res;
    cl->phase = CL_SWAP;
    cl_run(cl);
}

static void commit_start(struct st_cleaner *cl)
{
    struct sp_plog *log = cl->log;
    struct sp_segment *ns = cl->nseg;
    int64_t b1 = ns->base_offset;
    if (ns->tidx_n == 0 && cl->g_old_max_ts >= 0) {
        /* An empty segment keeps its old newest timestamp, for retention.ms. */
        struct sp_tindex_entry *t = realloc(ns->tidx, sizeof(*t));
        if (t) {
            ns->tidx = t;
            ns->tidx[0] = (struct sp_tindex_entry){cl->g_old_max_ts, 0};
            ns->tidx_n = ns->tidx_cap = 1;
            ns->max_timestamp = cl->g_old_max_ts;
        }
    }
    struct st_job *job = &cl->job;
    st_job_init(job, log);
    st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC_EXT, .flags = cl->wfd});
    int r = st_job_add_index_writes(job, ns, true);
    if (r < 0) {
        sp_io_close_sync(cl->st->io, cl->wfd);
        cl->wfd = -1;
        pass_end(cl, r, "index");
        return;
    }
    cl->commit_point = job->nsteps;
    cl_path(job->paths[0], log, b1, ".index.cleaned");
    cl_path(job->paths[1], log, b1, ".timeindex.cleaned");
    cl_path(job->paths[2], log, b1, ".log.cleaned");
    swap_path(job->paths[3], log, b1, cl->g_end);
    st_job_add(job, (struct st_step){.kind = ST_STEP_RENAME, .path_i = 2, .path2_i = 3});
    st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN,
                                     .path_i = 3,
                                     .flags = O_RDONLY | st_open_flags(log->st)});
    st_job_add(job, (struct st_step){.kind = ST_STEP_KEEP_FD});
    cl->phase = CL_COMMIT;
    cl->st->stats.cleaner_written_bytes += ns->size;
    st_job_start(job, commit_done);
}

/* In memory: the new segment replaces the group. Returns 0 when it must wait. */
static int swap_step(struct st_cleaner *cl)
{
    struct sp_plog *log = cl->log;
    uint32_t k = cl->g_last - cl->g_first + 1;
    for (uint32_t i = cl->g_first; i <= cl->g_last; i++) {
        const struct sp_segment *s = log->segs[i];
        if (s->reads_inflight > 0 && s->fd < 0) {
            return 0; /* a read is opening it by path: let it finish first */
        }
    }
    struct sp_segment *ns = cl->nseg;
    cl->nseg = NULL;
    ns->next_offset = cl->g_end;
    ns->sealed = ns->synced = ns->ready = true;
    ns->created_ms = st_now_ms(log->st);
    ns->reads_inflight = 1; /* pinned: its fd stays open until its files have their names */
    st_segment_index_sample(ns);
    for (uint32_t i = cl->g_first; i <= cl->g_last; i++) {
        struct sp_segment *s = log->segs[i];
        st_lru_remove(log->st, s);
        s->deleted = true;
        if (s->reads_inflight == 0) {
            if (s->fd >= 0) {
                sp_io_close_sync(log->st->io, s->fd);
            }
            st_segment_free(s);
        }
    }
    log->segs[cl->g_first] = ns;
    memmove(log->segs + cl->g_first + 1, log->segs + cl->g_last + 1,
            sizeof(*log->segs) * (log->nsegs - cl->g_last - 1));
    log->nsegs -= k - 1;
    cl->copy_last -= k - 1;
    st_cache_drop_below(log, cl->g_end);
    cl->st->stats.cleaner_segments_swapped += k;
    cl->nseg = ns; /* still ours until finish_next ends */
    cl->phase = CL_FINISH;
    cl->unlink_at = 1;
    cl->finish_stage = 0;
    finish_next(cl);
    return 1;
}

static void finish_done(struct st_job *job, int res)
{
    struct st_cleaner *cl = sp_container_of(job, struct st_cleaner, job);
    if (cl->log == NULL) {
        return;
    }
    if (res < 0) {
        /* Committed: the next open finishes it. */
        struct sp_segment *ns = cl->nseg;
        cl->nseg = NULL;
        ns->reads_inflight--;
        st_log_fail(cl->log, res, "compaction swap");
        pass_end(cl, res, "swap");
        return;
    }
    finish_next(cl);
}

static void finish_next(struct st_cleaner *cl)
{
    struct sp_plog *log = cl->log;
    struct st_job *job = &cl->job;
    int64_t b1 = cl->old_bases[0];
    st_job_init(job, log);
    if (cl->unlink_at < cl->nold) {
        int64_t b = cl->old_bases[cl->unlink_at++];
        job->ignore_enoent = true;
        cl_path(job->paths[0], log, b, ".log");
        cl_path(job->paths[1], log, b, ".index");
        cl_path(job->paths[2], log, b, ".timeindex");
        for (uint8_t i = 0; i < 3; i++) {
            st_job_add(job, (struct st_step){.kind = ST_STEP_UNLINK, .path_i = i});
        }
        st_job_start(job, finish_done);
        return;
    }
    if (cl->finish_stage < 2) {
        if (cl->finish_stage == 0) {
            cl_path(job->paths[0], log, b1, ".index.cleaned");
            cl_path(job->paths[1], log, b1, ".index");
            cl_path(job->paths[2], log, b1, ".timeindex.cleaned");
            cl_path(job->paths[3], log, b1, ".timeindex");
            st_job_add(job, (struct st_step){.kind = ST_STEP_RENAME, .path_i = 0, .path2_i = 1});
            st_job_add(job, (struct st_step){.kind = ST_STEP_RENAME, .path_i = 2, .path2_i = 3});
        } else {
            swap_path(job->paths[0], log, b1, cl->g_end);
            cl_path(job->paths[1], log, b1, ".log");
            st_job_add(job, (struct st_step){.kind = ST_STEP_RENAME, .path_i = 0, .path2_i = 1});
        }
        st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
        st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
        st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
        cl->finish_stage++;
        st_job_start(job, finish_done);
        return;
    }
    /* Done: the new segment is an ordinary one now. */
    struct sp_segment *ns = cl->nseg;
    cl->nseg = NULL;
    ns->reads_inflight--;
    st_lru_touch(log->st, ns);
    cl->g_first++;
    cl->phase = CL_COPY;
    group_begin(cl);
}

/* ---- Checkpoint --------------------------------------------------------------- */

static void ckpt_done(struct st_job *job, int res)
{
    struct st_cleaner *cl = sp_container_of(job, struct st_cleaner, job);
    struct sp_plog *log = cl->log;
    if (log == NULL) {
        return;
    }
    if (res < 0) {
        pass_end(cl, res, "checkpoint");
        return;
    }
    cl->st->stats.cleaner_passes++;
    sp_log_debug("storage: %s: cleaned [%" PRId64 ", %" PRId64 ")", log->dir, cl->start, cl->end);
    pass_end(cl, 0, NULL);
}

static int ckpt_format(const struct st_clog *c, char **out, size_t *len)
{
    size_t cap = 64 + (size_t)c->nhist * 48 + (size_t)c->nopen * 48;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return -ENOMEM;
    }
    size_t n = (size_t)snprintf(buf, cap, "0\n%" PRId64 "\n", c->clean_end);
    for (uint32_t i = 0; i < c->nhist; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "h %" PRId64 " %" PRId64 "\n", c->hist[i].end,
                              c->hist[i].ms);
    }
    for (uint32_t i = 0; i < c->nopen; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "t %" PRId64 " %" PRId64 "\n", c->open[i].pid,
                              c->open[i].first);
    }
    *out = buf;
    *len = n;
    return 0;
}

static void hist_push(struct st_clog *c, int64_t end, int64_t ms)
{
    if (c->nhist > 0 && c->hist[c->nhist - 1].end >= end) {
        return;
    }
    if (c->nhist == CL_HIST_MAX) {
        /* Merge the two oldest: their tombstones take the later time (kept longer, never less). */
        c->hist[0].ms = c->hist[1].ms;
        c->hist[0].end = c->hist[1].end;
        memmove(c->hist + 1, c->hist + 2, sizeof(*c->hist) * (CL_HIST_MAX - 2));
        c->nhist--;
    }
    c->hist[c->nhist++] = (struct cl_hist){end, ms};
}

static void ckpt_write(struct st_cleaner *cl)
{
    struct sp_plog *log = cl->log;
    struct st_clog *c = log->clog;
    c->clean_end = cl->end;
    hist_push(c, cl->end, cl->now_ms);
    struct cl_txn *open = NULL;
    if (cl->nopen_out > 0) {
        open = malloc(sizeof(*open) * cl->nopen_out);
    }
    if (open || cl->nopen_out == 0) {
        free(c->open);
        c->open = open;
        c->nopen = cl->nopen_out;
        if (open) {
            memcpy(open, cl->open_out, sizeof(*open) * cl->nopen_out);
        }
    }
    char *text;
    size_t len;
    int r = ckpt_format(c, &text, &len);
    if (r < 0) {
        pass_end(cl, r, "checkpoint");
        return;
    }
    struct st_job *job = &cl->job;
    st_job_init(job, log);
    job->owned = text;
    st_path(job->paths[0], log, CKPT_NAME ".tmp");
    st_path(job->paths[1], log, CKPT_NAME);
    st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN, .flags = O_WRONLY | O_CREAT | O_TRUNC});
    st_job_add(job, (struct st_step){.kind = ST_STEP_WRITE, .buf = text, .len = (uint32_t)len});
    st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC});
    st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE});
    st_job_add(job, (struct st_step){.kind = ST_STEP_RENAME, .path_i = 0, .path2_i = 1});
    st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
    st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
    cl->phase = CL_CKPT;
    st_job_start(job, ckpt_done);
}

/* ---- Driving ------------------------------------------------------------------- */

static int op_result(struct st_cleaner *cl, int32_t res)
{
    switch (cl->opk) {
    case OPK_OPEN_R:
        cl->rfd = res;
        return 0;
    case OPK_READ: {
        const struct sp_segment *seg = cl->log->segs[cl->rs];
        uint64_t avail = seg->size > cl->roff ? seg->size - cl->roff : 0;
        cl->rlen = (uint32_t)SP_MIN((uint64_t)res, avail);
        return cl->roff + cl->rlen > cl->rpos ? 0 : -EIO; /* the file is shorter than its size */
    }
    case OPK_OPEN_W:
        cl->wfd = res;
        return 0;
    case OPK_WRITE:
        if ((uint32_t)res != cl->wlen) {
            return -EIO; /* a short write to a regular file: the disk is full */
        }
        cl->woff += cl->wlen;
        cl->wlen = 0;
        return 0;
    default:
        return 0;
    }
}

static void op_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct st_cleaner *cl = sp_container_of(op, struct st_cleaner, op);
    (void)flags;
    cl->op_busy = false;
    if (cl->log == NULL) {
        if (res >= 0 && (cl->opk == OPK_OPEN_R || cl->opk == OPK_OPEN_W)) {
            sp_io_close_sync(cl->st->io, res); /* the pass ended meanwhile */
        }
        return;
    }
    if (cl->opk == OPK_UNLINK) {
        /* A group left as it was; a leftover .cleaned file goes at the next open. */
        cl->g_first++;
        group_begin(cl);
        cl_run(cl);
        return;
    }
    int r = res < 0 && cl->opk != OPK_NOP ? res : op_result(cl, res);
    if (r < 0) {
        pass_end(cl, r, "I/O");
        return;
    }
    if (cl->opk == OPK_WRITE && cl->g_ending) {
        group_end(cl);
    }
    cl_run(cl);
}

/* Runs steps within one budget; ends with an I/O in flight, a yield, or idle. */
static void cl_run_budget(struct st_cleaner *cl);

static void cl_run(struct st_cleaner *cl)
{
    uint64_t t0 = sp_io_now_ns(cl->st->io);
    cl_run_budget(cl);
    uint64_t dt = sp_io_now_ns(cl->st->io) - t0;
    cl->st->stats.cleaner_step_max_ns = SP_MAX(cl->st->stats.cleaner_step_max_ns, dt);
}

static void cl_run_budget(struct st_cleaner *cl)
{
    uint64_t budget = SP_MAX(cl->st->p.cleaner_step_bytes, 1u);
    while (cl->log != NULL && !cl->op_busy && !cl->job.busy && budget > 0) {
        if (cl->log->err) {
            pass_end(cl, -EIO, "the log went offline");
            return;
        }
        int r;
        if (cl->phase == CL_MAP && !cl->stopping) {
            r = map_step(cl, &budget);
        } else if (cl->phase == CL_COPY && !cl->stopping) {
            r = copy_step(cl, &budget);
        } else if (cl->phase == CL_SWAP) {
            r = swap_step(cl);
            if (r == 0) {
                return; /* the tick tries again */
            }
        } else {
            return;
        }
        if (r < 0) {
            pass_end(cl, r, cl->phase == CL_MAP ? "building the key map" : "copying");
            return;
        }
    }
    if (cl->log != NULL && !cl->op_busy && !cl->job.busy && !cl->stopping &&
        (cl->phase == CL_MAP || cl->phase == CL_COPY)) {
        /* Budget spent: yield to the shard's loop and go on at the next turn. */
        op_start(cl, OPK_NOP);
        sp_io_nop(cl->st->io, &cl->op);
    }
}

/* ---- Picking a log -------------------------------------------------------------- */

struct cl_pick {
    int64_t start, limit;
    uint64_t dirty, total;
    bool overdue;
};

/* What of log could be cleaned at now_ms. Returns false when nothing. */
static bool cleanable(const struct sp_plog *log, int64_t now_ms, struct cl_pick *pk)
{
    const struct st_clog *c = log->clog;
    if (c == NULL || !log->opts.compact || log->err || c->broken || log->del_job.busy ||
        log->nsegs < 2) {
        return false;
    }
    memset(pk, 0, sizeof(*pk));
    pk->start = SP_MAX(c->clean_end, log->log_start);
    int64_t lag = log->opts.min_compaction_lag_ms;
    uint32_t i = 0;
    for (; i + 1 < log->nsegs; i++) {
        const struct sp_segment *s = log->segs[i];
        if (!s->synced || (lag > 0 && s->max_timestamp > now_ms - lag)) {
            break;
        }
    }
    pk->limit = SP_MIN(log->segs[i]->base_offset, log->hw);
    if (pk->limit <= pk->start) {
        return false;
    }
    int64_t max_lag = log->opts.max_compaction_lag_ms;
    bool first_dirty = true;
    for (uint32_t j = 0; j < i; j++) {
        const struct sp_segment *s = log->segs[j];
        pk->total += s->size;
        if (s->next_offset > pk->start) {
            pk->dirty += s->size;
            if (first_dirty && max_lag > 0 && max_lag < INT64_MAX && s->max_timestamp >= 0 &&
                s->max_timestamp < now_ms - max_lag) {
                pk->overdue = true;
            }
            first_dirty = false;
        }
    }
    return pk->dirty > 0;
}

static int pass_start(struct st_cleaner *cl, struct sp_plog *log, int64_t now_ms,
                      const struct cl_pick *pk)
{
    cl->log = log;
    cl->now_ms = now_ms;
    cl->start = pk->start;
    cl->limit = pk->limit;
    cl->end = pk->start;
    cl->sweep2 = false;
    cl->naborts = 0;
    cl->nopen_out = 0;
    cl->stopping = false;
    cl->g_ending = false;
    cl->phase = CL_MAP;
    sp_log_debug("storage: %s: cleaning from %" PRId64 " below %" PRId64 " (%" PRIu64
                 " dirty of %" PRIu64 " bytes)",
                 log->dir, pk->start, pk->limit, pk->dirty, pk->total);
    sweep_begin(cl);
    cl_run(cl);
    return 1;
}

int sp_plog_compact_start(struct sp_plog *log, int64_t now_ms)
{
    if (log->err) {
        return -EIO;
    }
    if (!log->opts.compact || log->clog == NULL) {
        return -EINVAL;
    }
    struct st_cleaner *cl;
    int r = cleaner_get(log->st, &cl);
    if (r < 0) {
        return r;
    }
    if (cl->log != NULL) {
        return -EBUSY;
    }
    struct cl_pick pk;
    if (!cleanable(log, now_ms, &pk)) {
        return 0;
    }
    return pass_start(cl, log, now_ms, &pk);
}

bool sp_plog_compact_busy(const struct sp_plog *log)
{
    return log->st->cleaner != NULL && log->st->cleaner->log == log;
}

int64_t sp_plog_clean_offset(const struct sp_plog *log)
{
    return log->clog ? log->clog->clean_end : 0;
}

bool st_compact_holds(const struct sp_plog *log)
{
    return sp_plog_compact_busy(log);
}

void st_compact_tick(struct sp_storage *st, int64_t wall_ms)
{
    struct st_cleaner *cl = st->cleaner;
    if (cl && cl->log) {
        if (cl->phase == CL_SWAP && !cl->op_busy && !cl->job.busy) {
            cl_run(cl);
        }
        return;
    }
    if (!st->p.cleaner_enable) {
        return;
    }
    uint64_t now = sp_io_now_ns(st->io);
    if (cl && now - cl->last_pick_ns < CL_PICK_INTERVAL_NS) {
        return;
    }
    struct sp_plog *best = NULL;
    struct cl_pick best_pk = {0};
    double best_ratio = -1;
    for (struct sp_plog *log = st->logs; log; log = log->next) {
        struct cl_pick pk;
        if (log->clog == NULL || now < log->clog->skip_until_ns || !cleanable(log, wall_ms, &pk)) {
            continue;
        }
        double ratio = pk.total ? (double)pk.dirty / (double)pk.total : 0;
        if (!pk.overdue && ratio < log->opts.min_cleanable_dirty_ratio) {
            continue;
        }
        double score = pk.overdue ? 2.0 + ratio : ratio;
        if (score > best_ratio) {
            best = log;
            best_pk = pk;
            best_ratio = score;
        }
    }
    if (cl == NULL && best == NULL) {
        return;
    }
    if (cl == NULL && cleaner_get(st, &cl) < 0) {
        return;
    }
    cl->last_pick_ns = now;
    if (best) {
        pass_start(cl, best, wall_ms, &best_pk);
    }
}

/* ---- Lifecycle hooks ------------------------------------------------------------ */

void st_compact_quiesce(struct sp_plog *log)
{
    struct st_cleaner *cl = log->st->cleaner;
    if (cl == NULL || cl->log != log) {
        return;
    }
    cl->stopping = true;
    while (cl->log == log && (cl->op_busy || cl->job.busy || cl->phase == CL_SWAP)) {
        if (!cl->op_busy && !cl->job.busy) {
            cl_run(cl); /* the swap: reads opening old segments finish meanwhile */
        }
        if (sp_io_turn(log->st->io) < 0) {
            break;
        }
    }
    if (cl->log == log) {
        pass_end(cl, 0, NULL);
    }
}

void st_compact_forget(struct sp_plog *log)
{
    struct st_cleaner *cl = log->st->cleaner;
    if (cl && cl->log == log) {
        if (cl->job.busy) {
            /* Cut short by a crash: the I/O will never complete. */
            free(cl->job.owned);
            cl->job.owned = NULL;
            cl->job.busy = false;
        }
        cl->op_busy = false;
        if (cl->nseg && cl->phase == CL_FINISH) {
            cl->nseg = NULL; /* in the log's segment list: freed with it */
        }
        pass_end(cl, 0, NULL);
    }
    if (log->clog) {
        free(log->clog->open);
        free(log->clog);
        log->clog = NULL;
    }
}

void st_compact_truncated(struct sp_plog *log, int64_t offset)
{
    struct st_clog *c = log->clog;
    if (c == NULL) {
        return;
    }
    c->clean_end = SP_MIN(c->clean_end, offset);
    while (c->nhist > 0 && c->hist[c->nhist - 1].end > offset) {
        if (c->nhist == 1 || c->hist[c->nhist - 2].end < offset) {
            c->hist[c->nhist - 1].end = offset;
            break;
        }
        c->nhist--;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < c->nopen; i++) {
        if (c->open[i].first < offset) {
            c->open[k++] = c->open[i];
        }
    }
    c->nopen = k;
}

/* ---- Open: recovery and the checkpoint ---------------------------------------- */

struct rec_listing {
    int64_t *bases; /* .log files */
    uint32_t n, cap;
    int64_t swap_base[4], swap_end[4];
    uint32_t nswaps;
    char (*cleaned)[CL_NAME_MAX];
    uint32_t ncleaned, cleaned_cap;
    int err;
};

static int rec_list_cb(void *ctx, const char *name, bool is_dir)
{
    struct rec_listing *ls = ctx;
    int64_t base, end;
    const char *ext;
    size_t nl = strlen(name);
    if (is_dir) {
        return 0;
    }
    if (swap_name_parse(name, &base, &end)) {
        if (ls->nswaps == SP_ARRAY_LEN(ls->swap_base)) {
            ls->err = -EBADMSG;
            return 1;
        }
        ls->swap_base[ls->nswaps] = base;
        ls->swap_end[ls->nswaps++] = end;
        return 0;
    }
    if (sp_seg_name_parse(name, &base, &ext) != 0) {
        return 0;
    }
    if (strcmp(ext, ".log") == 0) {
        if (ls->n == ls->cap) {
            uint32_t cap = ls->cap ? ls->cap * 2 : 16;
            int64_t *b = realloc(ls->bases, sizeof(*b) * cap);
            if (b == NULL) {
                ls->err = -ENOMEM;
                return 1;
            }
            ls->bases = b;
            ls->cap = cap;
        }
        ls->bases[ls->n++] = base;
    } else if (nl > 8 && nl < CL_NAME_MAX && strcmp(name + nl - 8, ".cleaned") == 0) {
        if (ls->ncleaned == ls->cleaned_cap) {
            uint32_t cap = ls->cleaned_cap ? ls->cleaned_cap * 2 : 8;
            void *c = realloc(ls->cleaned, sizeof(*ls->cleaned) * cap);
            if (c == NULL) {
                ls->err = -ENOMEM;
                return 1;
            }
            ls->cleaned = c;
            ls->cleaned_cap = cap;
        }
        memcpy(ls->cleaned[ls->ncleaned++], name, nl + 1);
    }
    return 0;
}

static bool rec_has_cleaned(const struct rec_listing *ls, int64_t base, const char *suffix)
{
    char name[CL_NAME_MAX];
    snprintf(name, sizeof(name), "%020" PRId64 "%s", base, suffix);
    for (uint32_t i = 0; i < ls->ncleaned; i++) {
        if (strcmp(ls->cleaned[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static int rec_job(struct sp_plog *log, struct st_job *job, bool dir_sync)
{
    if (dir_sync) {
        st_job_add(job, (struct st_step){.kind = ST_STEP_OPEN_DIR});
        st_job_add(job, (struct st_step){.kind = ST_STEP_FSYNC_DIR});
        st_job_add(job, (struct st_step){.kind = ST_STEP_CLOSE_DIR});
    }
    (void)log;
    return st_job_run(job);
}

/* Finishes the swap of a committed group [base, end) exactly as finish_next() does. */
static int rec_finish_swap(struct sp_plog *log, const struct rec_listing *ls, int64_t base,
                           int64_t end)
{
    sp_log_info("storage: %s: finishing the interrupted compaction swap of segment %" PRId64,
                log->dir, base);
    int r = 0;
    for (uint32_t i = 0; i < ls->n && r == 0; i++) {
        if (ls->bases[i] <= base || ls->bases[i] >= end) {
            continue;
        }
        struct st_job job = {0};
        st_job_init(&job, log);
        job.ignore_enoent = true;
        cl_path(job.paths[0], log, ls->bases[i], ".log");
        cl_path(job.paths[1], log, ls->bases[i], ".index");
        cl_path(job.paths[2], log, ls->bases[i], ".timeindex");
        for (uint8_t k = 0; k < 3; k++) {
            st_job_add(&job, (struct st_step){.kind = ST_STEP_UNLINK, .path_i = k});
        }
        r = rec_job(log, &job, false);
    }
    static const char *const idx[2][2] = {{".index.cleaned", ".index"},
                                          {".timeindex.cleaned", ".timeindex"}};
    struct st_job job = {0};
    st_job_init(&job, log);
    job.ignore_enoent = true;
    for (uint8_t k = 0; k < 2; k++) {
        cl_path(job.paths[2 * k], log, base, idx[k][0]);
        cl_path(job.paths[2 * k + 1], log, base, idx[k][1]);
        if (rec_has_cleaned(ls, base, idx[k][0])) {
            st_job_add(&job, (struct st_step){.kind = ST_STEP_RENAME,
                                              .path_i = (uint8_t)(2 * k),
                                              .path2_i = (uint8_t)(2 * k + 1)});
        } else {
            /* Renamed already, or never durable: rebuilt from the segment at open. */
            st_job_add(&job,
                       (struct st_step){.kind = ST_STEP_UNLINK, .path_i = (uint8_t)(2 * k + 1)});
        }
    }
    if (r == 0) {
        r = rec_job(log, &job, true);
    }
    if (r == 0) {
        st_job_init(&job, log);
        swap_path(job.paths[0], log, base, end);
        cl_path(job.paths[1], log, base, ".log");
        st_job_add(&job, (struct st_step){.kind = ST_STEP_RENAME, .path_i = 0, .path2_i = 1});
        r = rec_job(log, &job, true);
    }
    return r;
}

int st_compact_recover(struct sp_plog *log)
{
    struct rec_listing ls = {0};
    int r = sp_io_listdir_sync(log->st->io, log->dir, rec_list_cb, &ls);
    r = r < 0 ? r : ls.err;
    for (uint32_t i = 0; i < ls.nswaps && r == 0; i++) {
        r = rec_finish_swap(log, &ls, ls.swap_base[i], ls.swap_end[i]);
    }
    bool removed = false;
    for (uint32_t i = 0; i < ls.ncleaned && r == 0; i++) {
        struct st_job job = {0};
        st_job_init(&job, log);
        job.ignore_enoent = true;
        st_path(job.paths[0], log, ls.cleaned[i]);
        st_job_add(&job, (struct st_step){.kind = ST_STEP_UNLINK});
        r = st_job_run(&job);
        removed = true;
    }
    if (r == 0 && removed) {
        struct st_job job = {0};
        st_job_init(&job, log);
        r = rec_job(log, &job, true);
    }
    free(ls.bases);
    free(ls.cleaned);
    if (r < 0) {
        sp_log_error("storage: %s: compaction recovery failed: %s", log->dir, strerror(-r));
    }
    return r;
}

/* Parses the checkpoint; a bad one is ignored (the log is simply all dirty again). */
static void ckpt_parse(struct st_clog *c, char *text)
{
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    if (line == NULL || strcmp(line, "0") != 0 || (line = strtok_r(NULL, "\n", &save)) == NULL) {
        return;
    }
    long long v = strtoll(line, NULL, 10);
    c->clean_end = v > 0 ? v : 0;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        long long a, b;
        if (sscanf(line, "h %lld %lld", &a, &b) == 2 && c->nhist < CL_HIST_MAX &&
            (c->nhist == 0 || a > c->hist[c->nhist - 1].end)) {
            c->hist[c->nhist++] = (struct cl_hist){a, b};
        } else if (sscanf(line, "t %lld %lld", &a, &b) == 2 && c->nopen < CL_OPEN_TXNS_MAX) {
            struct cl_txn *o = realloc(c->open, sizeof(*o) * (c->nopen + 1));
            if (o == NULL) {
                return;
            }
            c->open = o;
            c->open[c->nopen++] = (struct cl_txn){a, b};
        }
    }
}

int st_compact_load(struct sp_plog *log)
{
    if (!log->opts.compact) {
        return 0;
    }
    struct st_clog *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    log->clog = c;
    char path[ST_PATH_MAX];
    int r = st_path(path, log, CKPT_NAME);
    int fd = r < 0 ? r : sp_io_open_sync(log->st->io, path, O_RDONLY, 0);
    if (fd < 0) {
        return fd == -ENOENT ? 0 : fd;
    }
    uint64_t size = 0;
    r = sp_io_fsize_sync(log->st->io, fd, &size);
    char *buf = r == 0 && size < (1u << 20) ? malloc(size + 1) : NULL;
    if (buf && size > 0) {
        r = st_pread(log->st, fd, buf, (uint32_t)size, 0);
        if (r == (int)size) {
            buf[size] = 0;
            ckpt_parse(c, buf);
        }
    }
    free(buf);
    sp_io_close_sync(log->st->io, fd);
    st_compact_truncated(log, log->next_offset);
    return 0;
}
