/*
 * cluster/api_list_offsets.c: ListOffsets v0-10.
 *
 * Each partition is answered on its owning shard; the request's partitions
 * are grouped per owner and each owner gets one cross-core message that it
 * replies to once all its partitions are answered (some need disk reads).
 * The results are written into the items, which live in the request's
 * arena and are lent to the owner until the reply; nothing the owner
 * allocates outlives its part of the work.
 *
 * Timestamps asked for:
 *
 *   -1 latest         the high watermark (the last stable offset, which is
 *                     the same until transactions exist, for read_committed)
 *   -2 earliest       the log start offset
 *   -3 max timestamp  (v7+) the first record carrying the largest timestamp:
 *                     the log's batch headers are scanned from the start
 *                     (no time index is consulted, so this costs a read of
 *                     the whole log), then that batch's records are walked
 *   -4 earliest local (v8+) the log start: all of a log is local here
 *   -5 latest tiered  (v9+) offset -1, as Kafka answers without tiered storage
 *   t >= 0            the first record with timestamp >= t: the storage
 *                     finds the first batch whose max timestamp is >= t
 *                     (sp_plog_offset_for_time), then its records are walked;
 *                     offset and timestamp -1 when there is none
 *
 * Each answer carries the leader epoch: the partition's for -1/-2/-4, the
 * batch's for answers found in a batch.
 *
 * v0 answers a list of at most MaxNumOffsets offsets, largest first, where
 * Kafka lists the log end and the base offsets of the segments written
 * before the time asked. Spindle keeps no segment times, so it answers as
 * for a log of one segment starting at the log start, with the split point
 * of a time lookup standing for a segment boundary:
 *
 *   -1   [high watermark, log start]
 *   -2   [log start]
 *   t    [first offset whose record time is >= t (the high watermark when
 *        none is), log start]
 *
 * the log start only when it is smaller than the first entry and two are
 * asked for. Other negative times find nothing (an empty list).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/dispatch_impl.h"
#include "cluster/fanout.h"
#include "cluster/image.h"
#include "cluster/part.h"
#include "core/rx.h"
#include "core/xq.h"
#include "protocol/batch.h"
#include "protocol/compress.h"

#define LO_SCAN_READ_BYTES   (1u << 20)  /* a max-timestamp scan step */
#define LO_DECOMPRESS_MAX    (64u << 20) /* records of one batch, decompressed */
#define LO_TS_LATEST         (-1)
#define LO_TS_EARLIEST       (-2)
#define LO_TS_MAX            (-3)
#define LO_TS_EARLIEST_LOCAL (-4)
#define LO_TS_LATEST_TIERED  (-5)
#define LO_OLD_OFFSETS_MAX   2 /* v0: the longest list answered (see the top) */

enum lo_state { LO_TIME, LO_TIME_BATCH, LO_SCAN, LO_SCAN_BATCH };

struct lo;

struct lo_item {
    struct lo *lo;
    struct sp_str name;
    uint8_t topic_id[16];
    int32_t partition;
    int32_t leader_epoch; /* CurrentLeaderEpoch asked; -1 unchecked */
    int64_t timestamp;
    int32_t max_num; /* v0: MaxNumOffsets */
    /* Answer. */
    int16_t error;
    int64_t offset;
    int64_t ts;
    int32_t epoch;
    /* Owner's, while reading. */
    uint8_t state;
    struct sp_part *part;
    int64_t hw;
    int64_t log_start; /* v0's answers */
    int64_t best_ts;
    int64_t best_base;
    struct sp_plog_read r;
};

struct lo_owner {
    struct sp_xq_msg msg;
    struct lo *lo;
    uint32_t pending;
};

struct lo {
    struct sp_api_call *call;
    uint32_t nitems;
    uint32_t inflight;
    struct lo_item *items;
    struct sp_fanout fo;     /* the items by owner */
    struct lo_owner *owners; /* [fo.nshards] */
};

/* ---- Owner side ---------------------------------------------------------- */

static void lo_read_done(struct sp_plog_read *r, int res);

static int lo_read(struct lo_item *it, int64_t offset, uint32_t max_bytes)
{
    it->r = (struct sp_plog_read){
        .done = lo_read_done,
        .offset = offset,
        .max_bytes = max_bytes,
        .isolation = SP_PLOG_READ_HW,
    };
    return sp_plog_read(it->part->log, &it->r);
}

/*
 * The first record of the batch at the start of data whose timestamp is
 * >= ts (want_equal: == ts). Falls back to the batch's own base offset and
 * max timestamp when its records cannot be walked.
 */
static void lo_find_record(struct lo_item *it, const uint8_t *data, size_t len, int64_t ts,
                           bool want_equal)
{
    struct sp_batch_header h;
    if (sp_batch_header_parse(data, len, &h) < 0) {
        it->offset = it->ts = -1;
        it->epoch = -1;
        return;
    }
    it->offset = h.base_offset;
    it->ts = h.max_timestamp;
    it->epoch = h.partition_leader_epoch;
    if (h.attributes & SP_BATCH_ATTR_LOG_APPEND_TIME) {
        return; /* every record carries the batch's time: the first one answers */
    }
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, LO_DECOMPRESS_MAX + (1u << 20));
    struct sp_slice recs;
    size_t size = sp_batch_size(data, len);
    if (size > 0 && size <= len &&
        sp_batch_records_decompress(data, &h, &a, LO_DECOMPRESS_MAX, &recs) == 0) {
        struct sp_record_iter iter;
        struct sp_record rec;
        sp_record_iter_init(&iter, &h, recs);
        while (sp_record_iter_next(&iter, &rec) == 1) {
            if (want_equal ? rec.timestamp == ts : rec.timestamp >= ts) {
                it->offset = rec.offset;
                it->ts = rec.timestamp;
                break;
            }
        }
    }
    sp_arena_destroy(&a);
}

/* Folds the batch headers of a scan step into the best (largest) timestamp so far. */
static void lo_scan_batches(struct lo_item *it, const uint8_t *data, size_t len)
{
    size_t at = 0;
    while (at < len) {
        struct sp_batch_header h;
        size_t b = sp_batch_size(data + at, len - at);
        if (b == 0 || b > len - at || sp_batch_header_parse(data + at, len - at, &h) < 0) {
            break;
        }
        if (h.max_timestamp > it->best_ts) {
            it->best_ts = h.max_timestamp;
            it->best_base = h.base_offset;
        }
        at += b;
    }
}

static void lo_not_found(struct lo_item *it)
{
    it->offset = -1;
    it->ts = -1;
    it->epoch = -1;
}

/* Advances it after a result rc (as sp_plog_read's). 1 while I/O is out, 0 when answered. */
static int lo_advance(struct lo_item *it, int rc)
{
    for (;;) {
        if (rc == 1) {
            return 1;
        }
        if (rc < 0) {
            it->error = rc == -EIO      ? KERR_KAFKA_STORAGE_ERROR
                        : rc == -ERANGE ? KERR_OFFSET_OUT_OF_RANGE
                                        : KERR_UNKNOWN_SERVER_ERROR;
            return 0;
        }
        switch (it->state) {
        case LO_TIME: {
            int64_t base = it->r.next_offset;
            if (base < 0 || base >= it->hw) {
                lo_not_found(it);
                return 0;
            }
            it->state = LO_TIME_BATCH;
            rc = lo_read(it, base, 1);
            break;
        }
        case LO_TIME_BATCH:
        case LO_SCAN_BATCH:
            if (it->r.len == 0) {
                lo_not_found(it);
            } else {
                lo_find_record(it, it->r.data, it->r.len,
                               it->state == LO_SCAN_BATCH ? it->best_ts : it->timestamp,
                               it->state == LO_SCAN_BATCH);
            }
            sp_plog_read_release(&it->r);
            return 0;
        case LO_SCAN: {
            lo_scan_batches(it, it->r.data, it->r.len);
            int64_t next = it->r.next_offset;
            bool end = it->r.len == 0 || next >= it->hw;
            sp_plog_read_release(&it->r);
            if (!end) {
                rc = lo_read(it, next, LO_SCAN_READ_BYTES);
            } else if (it->best_base < 0) {
                lo_not_found(it);
                return 0;
            } else {
                it->state = LO_SCAN_BATCH;
                rc = lo_read(it, it->best_base, 1);
            }
            break;
        }
        default:
            SP_ASSERT(!"list offsets state");
        }
    }
}

static void lo_item_finish(struct lo_item *it)
{
    if (it->part != NULL) {
        sp_part_unref(it->part);
        it->part = NULL;
    }
}

static void lo_read_done(struct sp_plog_read *r, int res)
{
    struct lo_item *it = sp_container_of(r, struct lo_item, r);
    if (lo_advance(it, res) == 1) {
        return;
    }
    lo_item_finish(it);
    struct lo *lo = it->lo;
    struct lo_owner *o = &lo->owners[lo->fo.owner[it - lo->items]];
    SP_ASSERT(o->pending > 0);
    if (--o->pending == 0) {
        sp_xq_reply(&o->msg);
    }
}

/* Answers it now (0) or starts its reads (1). */
static int lo_item_start(struct lo_item *it)
{
    struct sp_part *p = sp_part_get(it->topic_id, it->partition);
    if (p == NULL) {
        it->error = KERR_NOT_LEADER_OR_FOLLOWER;
        return 0;
    }
    it->error = sp_part_epoch_error(p, it->leader_epoch);
    if (it->error != 0) {
        return 0;
    }
    if (p->log == NULL || sp_plog_error(p->log) != 0) {
        it->error = KERR_KAFKA_STORAGE_ERROR;
        return 0;
    }
    it->epoch = p->leader_epoch;
    it->ts = -1;
    it->hw = sp_plog_high_watermark(p->log);
    it->log_start = sp_plog_start_offset(p->log);
    if (it->lo->call->version == 0 && it->timestamp < LO_TS_EARLIEST) {
        lo_not_found(it); /* v0 knows only -1 and -2 */
        return 0;
    }
    switch (it->timestamp) {
    case LO_TS_LATEST:
        it->offset = it->hw; /* the last stable offset too, for read_committed */
        return 0;
    case LO_TS_EARLIEST:
    case LO_TS_EARLIEST_LOCAL:
        it->offset = sp_plog_start_offset(p->log);
        return 0;
    case LO_TS_LATEST_TIERED:
        lo_not_found(it);
        return 0;
    default:
        break;
    }
    sp_part_ref(p);
    it->part = p;
    int rc;
    if (it->timestamp == LO_TS_MAX) {
        it->state = LO_SCAN;
        it->best_ts = -1;
        it->best_base = -1;
        rc = lo_read(it, sp_plog_start_offset(p->log), LO_SCAN_READ_BYTES);
    } else {
        it->state = LO_TIME;
        it->r.done = lo_read_done;
        rc = sp_plog_offset_for_time(p->log, &it->r, it->timestamp);
    }
    if (lo_advance(it, rc) == 1) {
        return 1;
    }
    lo_item_finish(it);
    return 0;
}

static void lo_owner_run(struct sp_xq_msg *m)
{
    struct lo_owner *o = sp_container_of(m, struct lo_owner, msg);
    struct lo *lo = o->lo;
    uint32_t s = (uint32_t)(o - lo->owners);
    o->pending = 0;
    for (uint32_t k = sp_fanout_begin(&lo->fo, s); k < sp_fanout_end(&lo->fo, s); k++) {
        o->pending += (uint32_t)lo_item_start(&lo->items[lo->fo.order[k]]);
    }
    if (o->pending > 0) {
        sp_xq_hold(m); /* lo_read_done replies: it never runs inside the call that read */
    }
}

/* ---- Connection side --------------------------------------------------- */

/* v0's OldStyleOffsets of an answered item (see the top); 0 or -ENOMEM. */
static int lo_old_style(const struct lo_item *it, struct sp_arena *arena,
                        struct kproto_list_offsets_response_list_offsets_partition_response *pr)
{
    int64_t first = it->offset;
    if (it->timestamp >= 0 && it->offset < 0) {
        first = it->hw; /* every record is older than the time asked */
    }
    if (first < 0 || it->max_num <= 0) {
        return 0;
    }
    int64_t *offsets = sp_arena_alloc(arena, LO_OLD_OFFSETS_MAX * sizeof(*offsets));
    if (offsets == NULL) {
        return -ENOMEM;
    }
    int32_t n = 0;
    offsets[n++] = first;
    if (it->max_num >= 2 && it->log_start < first) {
        offsets[n++] = it->log_start;
    }
    pr->OldStyleOffsets = offsets;
    pr->OldStyleOffsets_count = n;
    return 0;
}

static int lo_fill(struct lo *lo)
{
    struct sp_api_call *call = lo->call;
    const struct kproto_list_offsets_request *req = call->body;
    struct kproto_list_offsets_response *resp = call->resp;
    struct kproto_list_offsets_response_list_offsets_topic_response *tr = sp_arena_calloc(
        call->arena, req->Topics_count > 0 ? (size_t)req->Topics_count : 1, sizeof(*tr));
    struct kproto_list_offsets_response_list_offsets_partition_response *pr =
        sp_arena_calloc(call->arena, lo->nitems > 0 ? lo->nitems : 1, sizeof(*pr));
    if (tr == NULL || pr == NULL) {
        return -ENOMEM;
    }
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_list_offsets_request_list_offsets_topic *t = &req->Topics[i];
        tr[i].Name = t->Name;
        tr[i].Partitions = &pr[k];
        for (int32_t j = 0; j < t->Partitions_count && k < lo->nitems; j++, k++) {
            const struct lo_item *it = &lo->items[k];
            bool ok = it->error == 0;
            bool v0 = call->version == 0;
            /* Fields a version lacks must keep their defaults. */
            pr[k] = (struct kproto_list_offsets_response_list_offsets_partition_response){
                .PartitionIndex = it->partition,
                .ErrorCode = it->error,
                .Timestamp = ok && !v0 ? it->ts : -1,
                .Offset = ok && !v0 ? it->offset : -1,
                .LeaderEpoch = ok && call->version >= 4 ? it->epoch : -1,
            };
            if (ok && v0 && lo_old_style(it, call->arena, &pr[k]) < 0) {
                return -ENOMEM;
            }
            tr[i].Partitions_count++;
        }
    }
    resp->Topics = tr;
    resp->Topics_count = req->Topics_count;
    return 0;
}

static void lo_owner_back(struct sp_xq_msg *m)
{
    struct lo *lo = sp_container_of(m, struct lo_owner, msg)->lo;
    SP_ASSERT(lo->inflight > 0);
    if (--lo->inflight == 0) {
        sp_api_done(lo->call, lo_fill(lo));
    }
}

static uint32_t lo_hash(struct sp_str name, int32_t partition)
{
    uint32_t h = 2166136261u;
    for (int32_t i = 0; i < name.len; i++) {
        h = (h ^ (uint8_t)name.ptr[i]) * 16777619u;
    }
    h = (h ^ (uint32_t)partition) * 16777619u;
    return h ^ (h >> 16);
}

/* v2+: a partition asked for twice is answered INVALID_REQUEST, every time. */
static int lo_mark_duplicates(struct lo *lo, struct sp_arena *arena)
{
    uint32_t size = 16;
    while (size < lo->nitems * 2) {
        size *= 2;
    }
    uint32_t *slot = sp_arena_calloc(arena, size, sizeof(*slot)); /* 1 + item index */
    if (slot == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < lo->nitems; i++) {
        struct lo_item *it = &lo->items[i];
        uint32_t h = lo_hash(it->name, it->partition) & (size - 1);
        for (;; h = (h + 1) & (size - 1)) {
            if (slot[h] == 0) {
                slot[h] = i + 1;
                break;
            }
            struct lo_item *o = &lo->items[slot[h] - 1];
            if (o->partition == it->partition && sp_str_eq(o->name, it->name)) {
                o->error = KERR_INVALID_REQUEST;
                it->error = KERR_INVALID_REQUEST;
                break;
            }
        }
    }
    return 0;
}

/* Finds each item's topic and owner; those that cannot go anywhere get their error. */
static void lo_resolve(struct lo *lo, int16_t call_error)
{
    for (uint32_t i = 0; i < lo->nitems; i++) {
        struct lo_item *it = &lo->items[i];
        if (it->error == 0) {
            it->error = call_error;
        }
        if (it->error != 0) {
            continue;
        }
        const struct sp_topic *t;
        it->error = sp_fanout_place(&lo->fo, i, it->name, it->partition, &t);
        if (it->error == 0) {
            memcpy(it->topic_id, t->id, 16);
        }
    }
}

int sp_api_list_offsets(struct sp_api_call *call)
{
    const struct kproto_list_offsets_request *req = call->body;
    if (req == NULL) {
        return 0;
    }
    uint64_t n = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        n += (uint64_t)SP_MAX(req->Topics[i].Partitions_count, 0);
    }
    if (n > SP_KPROTO_ARRAY_MAX) {
        return -EINVAL;
    }
    struct lo *lo = sp_arena_calloc(call->arena, 1, sizeof(*lo));
    struct lo_item *items = sp_arena_calloc(call->arena, n > 0 ? n : 1, sizeof(*items));
    if (lo == NULL || items == NULL) {
        return -ENOMEM;
    }
    *lo = (struct lo){.call = call, .nitems = (uint32_t)n, .items = items};
    if (sp_fanout_init(&lo->fo, call->arena, lo->nitems) < 0) {
        return -ENOMEM;
    }
    uint32_t nshards = lo->fo.nshards;
    struct lo_owner *owners = sp_arena_calloc(call->arena, nshards, sizeof(*owners));
    if (owners == NULL) {
        return -ENOMEM;
    }
    lo->owners = owners;
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_list_offsets_request_list_offsets_topic *t = &req->Topics[i];
        for (int32_t j = 0; j < t->Partitions_count; j++, k++) {
            const struct kproto_list_offsets_request_list_offsets_partition *rp = &t->Partitions[j];
            items[k] = (struct lo_item){.lo = lo,
                                        .name = t->Name,
                                        .partition = rp->PartitionIndex,
                                        .leader_epoch = rp->CurrentLeaderEpoch,
                                        .timestamp = rp->Timestamp,
                                        .max_num = rp->MaxNumOffsets};
        }
    }
    if (call->version >= 2 && lo_mark_duplicates(lo, call->arena) < 0) {
        return -ENOMEM;
    }
    lo_resolve(lo, call->error);
    sp_fanout_group(&lo->fo);
    for (uint32_t s = 0; s < nshards; s++) {
        struct lo_owner *o = &owners[s];
        o->lo = lo;
        if (sp_fanout_begin(&lo->fo, s) == sp_fanout_end(&lo->fo, s)) {
            continue;
        }
        o->msg.fn = lo_owner_run;
        o->msg.reply_fn = lo_owner_back;
        lo->inflight++;
        sp_xq_send(s, &o->msg);
    }
    if (lo->inflight == 0) {
        return lo_fill(lo);
    }
    return SP_API_PENDING;
}
