/*
 * storage/read.c: reads (Fetch) and timestamp lookups (ListOffsets).
 *
 * A read first asks the shard's batch cache; on a miss it finds the segment
 * and the nearest index entry at or below the offset, opens the segment if
 * its fd was closed (LRU), and reads aligned blocks with O_DIRECT. Batches
 * below the offset are skipped; whole batches are returned within the byte
 * budget, always at least the first one (KIP-74: a batch larger than the
 * first read is read again at its full size). Every batch read back from
 * disk has its CRC checked; a mismatch takes the partition offline.
 *
 *   sp_plog_read -> cache hit ---------------------------------> ready (0)
 *               '-> [open segment] -> read blocks -> parse -> done (1)
 *                                          ^           |
 *                                          '-----------'  batch larger than
 *                                                         the buffer, or only
 *                                                         batches below offset
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "storage/log_impl.h"

enum { MODE_FETCH = 0, MODE_TIME = 1 };
enum { RS_IDLE = 0, RS_OPEN, RS_READ };

static void read_issue(struct sp_plog_read *r, uint32_t want);
static void read_segment_start(struct sp_plog_read *r);
static void finish(struct sp_plog_read *r, int res);
static uint64_t seg_written_end(const struct sp_plog *log, const struct sp_segment *seg);

static void seg_release(struct sp_plog_read *r)
{
    struct sp_segment *seg = r->seg;
    if (seg == NULL) {
        return;
    }
    r->seg = NULL;
    seg->reads_inflight--;
    if (seg->deleted && seg->reads_inflight == 0 && r->log->del_seg != seg) {
        if (seg->fd >= 0) {
            sp_io_close_sync(r->log->st->io, seg->fd);
        }
        st_segment_free(seg);
    }
}

static void finish(struct sp_plog_read *r, int res)
{
    seg_release(r);
    r->state = RS_IDLE;
    if (res < 0 || r->mode == MODE_TIME) { /* a time lookup returns no bytes */
        free(r->buf);
        r->buf = NULL;
        r->data = NULL;
        r->len = 0;
    }
    r->res = res;
    if (!r->in_call) {
        r->done(r, res); /* never from inside the call that started the read */
    }
}

/* Bytes of seg known to be on disk: below its first chunk not yet written. */
static uint64_t seg_written_end(const struct sp_plog *log, const struct sp_segment *seg)
{
    for (const struct st_chunk *c = log->chunks; c; c = c->next) {
        if (c->seg == seg) {
            return c->file_off + c->written_len;
        }
    }
    return seg->size;
}

/* Starts the I/O part; returns 0 or -errno when it ended at once, 1 when done follows. */
static int start(struct sp_plog_read *r)
{
    r->in_call = 1;
    r->state = RS_OPEN; /* anything but idle until finish() */
    read_segment_start(r);
    r->in_call = 0;
    return r->state == RS_IDLE ? r->res : 1;
}

static bool is_active(const struct sp_plog *log, const struct sp_segment *seg)
{
    return log->segs[log->nsegs - 1] == seg;
}

/* Moves to the segment after r->seg, or finishes when there is none. */
static void next_segment(struct sp_plog_read *r)
{
    struct sp_plog *log = r->log;
    int64_t after = r->seg->next_offset;
    bool was_active = is_active(log, r->seg);
    seg_release(r);
    if (was_active || after >= r->limit || after >= log->next_offset) {
        if (r->mode == MODE_TIME) {
            r->next_offset = -1;
        }
        finish(r, 0);
        return;
    }
    r->offset = SP_MAX(r->offset, after);
    read_segment_start(r);
}

static void open_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct sp_plog_read *r = sp_container_of(op, struct sp_plog_read, op);
    (void)flags;
    free(r->buf); /* the path */
    r->buf = NULL;
    if (res < 0) {
        st_log_fail(r->log, res, "open of a segment for reading");
        finish(r, -EIO);
        return;
    }
    struct sp_segment *seg = r->seg;
    if (seg->fd >= 0 || seg->deleted) {
        sp_io_close_sync(r->log->st->io, res); /* another read opened it first */
    } else {
        seg->fd = res;
    }
    if (seg->deleted) {
        next_segment(r);
        return;
    }
    st_lru_touch(r->log->st, seg);
    read_issue(r, r->max_bytes);
}

static void read_segment_start(struct sp_plog_read *r)
{
    struct sp_plog *log = r->log;
    struct sp_segment *seg = NULL;
    if (r->mode == MODE_TIME) {
        for (uint32_t i = 0; i < log->nsegs; i++) {
            if (log->segs[i]->next_offset > r->offset && log->segs[i]->max_timestamp >= r->ts) {
                seg = log->segs[i];
                break;
            }
        }
        if (seg == NULL) {
            r->next_offset = -1;
            finish(r, 0);
            return;
        }
        r->offset = SP_MAX(r->offset, seg->base_offset);
    } else {
        seg = st_segment_find(log, r->offset, NULL);
    }
    r->seg = seg;
    seg->reads_inflight++;
    uint32_t rel = (uint32_t)(r->offset - seg->base_offset);
    if (r->mode == MODE_TIME) {
        long t = sp_tindex_floor(seg->tidx, seg->tidx_n, r->ts);
        rel = t >= 0 ? SP_MAX(rel, seg->tidx[t].rel_offset) : rel;
    }
    long i = sp_index_floor(seg->idx, seg->idx_n, rel);
    r->pos = i >= 0 ? seg->idx[i].position : 0;
    if (seg->fd >= 0) {
        if (seg->synced) {
            st_lru_touch(log->st, seg); /* only finished segments may be closed by the cap */
        }
        read_issue(r, r->max_bytes);
        return;
    }
    char *path = malloc(ST_PATH_MAX);
    if (path == NULL) {
        finish(r, -ENOMEM);
        return;
    }
    st_seg_path(path, log, seg->base_offset, ".log");
    free(r->buf); /* moving on from a segment read before (offset gaps after compaction) */
    r->buf = (uint8_t *)path;
    r->state = RS_OPEN;
    r->op.done = open_done;
    sp_io_openat(log->st->io, &r->op, AT_FDCWD, path, O_RDONLY | st_open_flags(log->st), 0);
}

static void read_done(struct sp_io_op *op, int32_t res, uint32_t flags);

static void read_issue(struct sp_plog_read *r, uint32_t want)
{
    struct sp_plog *log = r->log;
    struct sp_segment *seg = r->seg;
    uint64_t seg_end = seg_written_end(log, seg);
    if (r->pos >= seg_end) {
        if (is_active(log, seg)) {
            finish(r, 0);
        } else {
            next_segment(r);
        }
        return;
    }
    want = SP_MAX(want, ST_READ_MIN_BYTES);
    want = SP_MIN(want, SP_BATCH_BYTES_MAX + ST_BLOCK);
    uint64_t off = r->pos & ~(uint64_t)(ST_BLOCK - 1);
    uint64_t end = SP_MIN(SP_ALIGN_UP(r->pos + want, (uint64_t)ST_BLOCK),
                          SP_ALIGN_UP(seg_end, (uint64_t)ST_BLOCK));
    uint32_t len = (uint32_t)(end - off);
    free(r->buf);
    r->buf = st_aligned_alloc(len);
    if (r->buf == NULL) {
        finish(r, -ENOMEM);
        return;
    }
    r->buf_len = len;
    r->state = RS_READ;
    r->op.done = read_done;
    log->st->stats.disk_reads++;
    sp_io_read(log->st->io, &r->op, seg->fd, r->buf, len, off);
}

static void read_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct sp_plog_read *r = sp_container_of(op, struct sp_plog_read, op);
    struct sp_plog *log = r->log;
    struct sp_segment *seg = r->seg;
    (void)flags;
    if (res < 0) {
        st_log_fail(log, res, "segment read");
        finish(r, -EIO);
        return;
    }
    uint64_t off = r->pos & ~(uint64_t)(ST_BLOCK - 1);
    uint64_t seg_end = seg_written_end(log, seg);
    uint64_t have_end = SP_MIN(off + (uint64_t)res, seg_end);
    uint64_t pos = r->pos, first = UINT64_MAX;
    uint32_t total = 0;
    int64_t next = r->offset;
    while (pos < have_end) {
        struct sp_seg_batch b;
        const uint8_t *p = r->buf + (pos - off);
        int pk = sp_seg_batch_peek(p, have_end - pos, &b);
        if (pk < 0) {
            st_log_fail(log, -EBADMSG, "batch header check of data read back");
            finish(r, -EIO);
            return;
        }
        if (pk == 1 && b.last_offset < r->offset) {
            pos += b.size; /* below the offset asked for */
            continue;
        }
        if (pk == 0 || b.size > have_end - pos) {
            if (first == UINT64_MAX && pos + (pk == 1 ? b.size : SP_BATCH_HDR_BYTES) <= seg_end &&
                have_end < seg_end) {
                /* KIP-74: the first batch is returned whole, however large. */
                r->pos = pos;
                read_issue(r, pk == 1 ? b.size : ST_READ_MIN_BYTES);
                return;
            }
            break;
        }
        if (b.base_offset >= r->limit || b.last_offset >= r->limit) {
            break;
        }
        if (!sp_seg_batch_crc_ok(p, &b)) {
            st_log_fail(log, -EBADMSG, "CRC check of data read back");
            finish(r, -EIO);
            return;
        }
        if (r->mode == MODE_TIME) {
            if (b.max_timestamp >= r->ts) {
                r->next_offset = b.base_offset;
                finish(r, 0);
                return;
            }
            pos += b.size;
            continue;
        }
        if (first != UINT64_MAX && total + b.size > r->max_bytes) {
            break;
        }
        if (first == UINT64_MAX) {
            first = pos;
        }
        total += b.size;
        next = b.last_offset + 1;
        pos += b.size;
    }
    if (first == UINT64_MAX) {
        if (pos > r->pos && pos < seg_end && pos >= have_end) {
            r->pos = pos; /* only batches below the offset so far: read on */
            read_issue(r, r->max_bytes);
            return;
        }
        if (pos >= seg_end && !is_active(log, seg)) {
            next_segment(r);
            return;
        }
        if (r->mode == MODE_TIME) {
            r->next_offset = -1;
        }
        finish(r, 0);
        return;
    }
    r->data = r->buf + (first - off);
    r->len = total;
    r->next_offset = next;
    finish(r, 0);
}

static int read_begin(struct sp_plog *log, struct sp_plog_read *r)
{
    r->log = log;
    r->buf = NULL;
    r->data = NULL;
    r->len = 0;
    r->seg = NULL;
    r->next_offset = r->offset;
    if (log->err) {
        return -EIO;
    }
    r->limit = r->isolation == SP_PLOG_READ_HW ? log->hw : log->written;
    return 0;
}

int sp_plog_read(struct sp_plog *log, struct sp_plog_read *r)
{
    int rc = read_begin(log, r);
    if (rc < 0) {
        return rc;
    }
    r->mode = MODE_FETCH;
    if (r->offset < log->log_start || r->offset > log->next_offset) {
        return -ERANGE;
    }
    if (r->offset >= r->limit) {
        return 0;
    }
    uint8_t *buf;
    uint32_t len;
    int64_t next;
    rc = st_cache_read(log, r->offset, r->max_bytes, r->limit, &buf, &len, &next);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        log->st->stats.cache_hits++;
        r->buf = buf;
        r->data = buf;
        r->len = len;
        r->next_offset = next;
        return 0;
    }
    log->st->stats.cache_misses++;
    return start(r);
}

void sp_plog_read_release(struct sp_plog_read *r)
{
    SP_ASSERT(r->state == RS_IDLE);
    free(r->buf);
    r->buf = NULL;
    r->data = NULL;
    r->len = 0;
}

int sp_plog_offset_for_time(struct sp_plog *log, struct sp_plog_read *r, int64_t ts)
{
    r->offset = log->log_start;
    r->isolation = SP_PLOG_READ_HW;
    int rc = read_begin(log, r);
    if (rc < 0) {
        return rc;
    }
    r->mode = MODE_TIME;
    r->ts = ts;
    r->max_bytes = ST_READ_MIN_BYTES * 4;
    if (ts == -1) {
        r->next_offset = log->hw;
        return 0;
    }
    if (ts == -2) {
        r->next_offset = log->log_start;
        return 0;
    }
    if (log->log_start >= r->limit) {
        r->next_offset = -1;
        return 0;
    }
    return start(r);
}
