/*
 * cluster/api_admin_parts.c: the admin APIs answered by each partition's
 * owning shard: DeleteRecords v0-2, OffsetForLeaderEpoch v0-4,
 * DescribeProducers v0 and DescribeLogDirs v0-4.
 *
 * The request's partitions become items, resolved against this shard's
 * image and grouped per owner (cluster/fanout.h); each owner gets the
 * request lent once (cluster/forward.h) and answers its items from its
 * partitions, then the response is filled here from the items:
 *
 *   items (call's arena) ---- owner 0: ap_on_owner: its run of the fan-out's order
 *        \---------------- owner 1: ...            (lists in the forward's arena)
 *   ap_then: the last one back fills the response
 *
 * Everything an owner does here is synchronous (the log's offsets, its
 * epoch cache, the producer table), so each forward answers at once.
 *
 * DeleteRecords moves the log start (storage/log.h); offset -1 means the
 * high watermark, anything past it or negative is OFFSET_OUT_OF_RANGE,
 * internal topics are refused (INVALID_TOPIC_EXCEPTION) and so are topics
 * without cleanup.policy=delete (POLICY_VIOLATION), as in Kafka. The answer
 * (LowWatermark, the log start after the move) comes once every partition
 * has moved; with one replica nothing more is waited for, so TimeoutMs
 * never expires. The storage writes the new log start to its
 * log-start-offset file in the background (Kafka checkpoints it
 * periodically too).
 *
 * OffsetForLeaderEpoch answers as Kafka's leader-epoch cache, in which the
 * leader's current epoch is always the newest entry (starting at the log
 * end when nothing was written in it yet):
 *
 *   asked -1, or above the current epoch   epoch -1, offset -1, no error
 *   asked == the current epoch             (current, log end)
 *   asked below it                         the largest epoch <= asked in
 *                                          the log and where the next
 *                                          epoch starts (the log end when
 *                                          none follows in the log); when
 *                                          the log has no epoch <= asked:
 *                                          (asked, the log start)
 *
 * CurrentLeaderEpoch is checked as Fetch checks it; ReplicaId (v3+) is
 * accepted and changes nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cluster/dispatch_impl.h"
#include "cluster/fanout.h"
#include "cluster/forward.h"
#include "cluster/image.h"
#include "cluster/part.h"
#include "cluster/pstate.h"
#include "core/config.h"
#include "core/rx.h"

/* One partition of a request. */
struct ap_item {
    struct sp_str name; /* borrowed from the request or the image (valid during the call) */
    int32_t partition;
    uint8_t topic_id[16];
    bool internal;
    int16_t error;
    /* Asked. */
    int64_t offset;        /* DeleteRecords: Offset */
    int32_t epoch;         /* OffsetForLeaderEpoch: LeaderEpoch */
    int32_t current_epoch; /* OffsetForLeaderEpoch: CurrentLeaderEpoch; -1 unchecked */
    /* Answered. */
    int64_t out_offset; /* LowWatermark, EndOffset, PartitionSize */
    int32_t out_epoch;
    struct kproto_describe_producers_response_producer_state *producers; /* forward's arena */
    int32_t producers_count;
};

struct ap_call;
/* On the owner: answers it from p, this shard's partition with an open log. */
typedef void (*ap_part_fn)(struct sp_fwd *f, struct ap_item *it, struct sp_part *p);
/* Back on the call's shard, every item answered: fills the response. 0 or -ENOMEM. */
typedef int (*ap_fill_fn)(struct ap_call *ac);

struct ap_call {
    struct sp_api_call *call;
    struct ap_item *items;
    uint32_t nitems;
    struct sp_fanout fo; /* the items by owner */
    ap_part_fn part_fn;
    ap_fill_fn fill;
    struct sp_fwd_join join; /* a forward per owner */
};

/* ---- The fan-out ------------------------------------------------------------ */

static int ap_on_owner(struct sp_fwd *f)
{
    struct ap_call *ac = f->arg;
    uint32_t s = (uint32_t)f->index;
    for (uint32_t k = sp_fanout_begin(&ac->fo, s); k < sp_fanout_end(&ac->fo, s); k++) {
        struct ap_item *it = &ac->items[ac->fo.order[k]];
        struct sp_part *p = sp_part_get(it->topic_id, it->partition);
        if (p == NULL) {
            it->error = KERR_NOT_LEADER_OR_FOLLOWER;
        } else if (p->log == NULL || sp_plog_error(p->log) != 0) {
            it->error = KERR_KAFKA_STORAGE_ERROR;
        } else {
            ac->part_fn(f, it, p);
        }
    }
    return 0;
}

static int ap_then(struct sp_fwd *f, int rc)
{
    struct ap_call *ac = f->arg;
    if (!sp_fwd_join_back(&ac->join, rc)) {
        return SP_API_PENDING;
    }
    return ac->join.rc != 0 ? ac->join.rc : ac->fill(ac);
}

/* Finds each item's topic and owner; those that cannot go anywhere get their error. */
static void ap_resolve(struct ap_call *ac)
{
    for (uint32_t i = 0; i < ac->nitems; i++) {
        struct ap_item *it = &ac->items[i];
        if (it->error == 0) {
            it->error = ac->call->error;
        }
        if (it->error != 0) {
            continue;
        }
        const struct sp_topic *t;
        it->error = sp_fanout_place(&ac->fo, i, it->name, it->partition, &t);
        if (it->error == 0) {
            memcpy(it->topic_id, t->id, 16);
            it->internal = t->internal;
        }
    }
}

/*
 * Runs part_fn for every item on its owner, then fill. Returns as a
 * handler does: what fill returns, or SP_API_PENDING.
 */
static int ap_run(struct ap_call *ac)
{
    struct sp_api_call *call = ac->call;
    if (sp_fanout_init(&ac->fo, call->arena, ac->nitems) < 0) {
        return -ENOMEM;
    }
    ap_resolve(ac);
    sp_fanout_group(&ac->fo);
    for (uint32_t s = 0; s < ac->fo.nshards; s++) {
        if (sp_fanout_begin(&ac->fo, s) != sp_fanout_end(&ac->fo, s) &&
            !sp_fwd_join_send(&ac->join, call, s, ap_on_owner, ap_then, ac, (int32_t)s)) {
            break;
        }
    }
    int rc = sp_fwd_join_end(&ac->join);
    return rc != 0 ? rc : ac->fill(ac);
}

/* An ap_call of n items (zeroed: name and partition to be set), or NULL. */
static struct ap_call *ap_new(struct sp_api_call *call, uint64_t n, ap_part_fn part_fn,
                              ap_fill_fn fill)
{
    if (n > SP_KPROTO_ARRAY_MAX) {
        return NULL;
    }
    struct ap_call *ac = sp_arena_calloc(call->arena, 1, sizeof(*ac));
    struct ap_item *items = sp_arena_calloc(call->arena, n > 0 ? n : 1, sizeof(*items));
    if (ac == NULL || items == NULL) {
        return NULL;
    }
    *ac = (struct ap_call){
        .call = call, .items = items, .nitems = (uint32_t)n, .part_fn = part_fn, .fill = fill};
    return ac;
}

/* ---- DeleteRecords ---------------------------------------------------------- */

#define DR_HIGH_WATERMARK (-1)

static void dr_part(struct sp_fwd *f, struct ap_item *it, struct sp_part *p)
{
    (void)f;
    it->out_offset = -1;
    if (it->internal) {
        it->error = KERR_INVALID_TOPIC_EXCEPTION;
        return;
    }
    if (!p->cfg.cleanup_delete) {
        it->error = KERR_POLICY_VIOLATION;
        return;
    }
    int64_t hw = sp_plog_high_watermark(p->log);
    int64_t offset = it->offset == DR_HIGH_WATERMARK ? hw : it->offset;
    if (offset < 0 || offset > hw) {
        it->error = KERR_OFFSET_OUT_OF_RANGE;
        return;
    }
    int rc = sp_plog_delete_records(p->log, offset);
    if (rc < 0) {
        it->error = rc == -ERANGE ? KERR_OFFSET_OUT_OF_RANGE : KERR_KAFKA_STORAGE_ERROR;
        return;
    }
    it->out_offset = sp_plog_start_offset(p->log);
}

static int dr_fill(struct ap_call *ac)
{
    struct sp_api_call *call = ac->call;
    const struct kproto_delete_records_request *req = call->body;
    struct kproto_delete_records_response *resp = call->resp;
    struct kproto_delete_records_response_delete_records_topic_result *tr = sp_arena_calloc(
        call->arena, req->Topics_count > 0 ? (size_t)req->Topics_count : 1, sizeof(*tr));
    struct kproto_delete_records_response_delete_records_partition_result *pr =
        sp_arena_calloc(call->arena, ac->nitems > 0 ? ac->nitems : 1, sizeof(*pr));
    if (tr == NULL || pr == NULL) {
        return -ENOMEM;
    }
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        tr[i].Name = req->Topics[i].Name;
        tr[i].Partitions = &pr[k];
        for (int32_t j = 0; j < req->Topics[i].Partitions_count; j++, k++) {
            const struct ap_item *it = &ac->items[k];
            pr[k].PartitionIndex = it->partition;
            pr[k].ErrorCode = it->error;
            pr[k].LowWatermark = it->error == 0 ? it->out_offset : -1;
            tr[i].Partitions_count++;
        }
    }
    resp->Topics = tr;
    resp->Topics_count = req->Topics_count;
    return 0;
}

int sp_api_delete_records(struct sp_api_call *call)
{
    const struct kproto_delete_records_request *req = call->body;
    if (req == NULL) {
        return 0;
    }
    uint64_t n = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        n += (uint64_t)SP_MAX(req->Topics[i].Partitions_count, 0);
    }
    struct ap_call *ac = ap_new(call, n, dr_part, dr_fill);
    if (ac == NULL) {
        return -ENOMEM;
    }
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_delete_records_request_delete_records_topic *t = &req->Topics[i];
        for (int32_t j = 0; j < t->Partitions_count; j++, k++) {
            ac->items[k].name = t->Name;
            ac->items[k].partition = t->Partitions[j].PartitionIndex;
            ac->items[k].offset = t->Partitions[j].Offset;
        }
    }
    return ap_run(ac);
}

/* ---- OffsetForLeaderEpoch --------------------------------------------------- */

static void ole_part(struct sp_fwd *f, struct ap_item *it, struct sp_part *p)
{
    (void)f;
    it->out_epoch = -1;
    it->out_offset = -1;
    it->error = sp_part_epoch_error(p, it->current_epoch);
    if (it->error != 0) {
        return;
    }
    int32_t current = p->leader_epoch;
    if (it->epoch < 0 || it->epoch > current) {
        return; /* undefined: -1, -1 */
    }
    if (it->epoch == current) {
        it->out_epoch = current;
        it->out_offset = sp_plog_end_offset(p->log);
        return;
    }
    int32_t found;
    int64_t end;
    if (sp_plog_epoch_end_offset(p->log, it->epoch, &found, &end) == 0) {
        it->out_epoch = found;
        it->out_offset = end;
    } else {
        /* Older than anything left in the log: where the log now starts. */
        it->out_epoch = it->epoch;
        it->out_offset = sp_plog_start_offset(p->log);
    }
}

static int ole_fill(struct ap_call *ac)
{
    struct sp_api_call *call = ac->call;
    const struct kproto_offset_for_leader_epoch_request *req = call->body;
    struct kproto_offset_for_leader_epoch_response *resp = call->resp;
    struct kproto_offset_for_leader_epoch_response_offset_for_leader_topic_result *tr =
        sp_arena_calloc(call->arena, req->Topics_count > 0 ? (size_t)req->Topics_count : 1,
                        sizeof(*tr));
    struct kproto_offset_for_leader_epoch_response_epoch_end_offset *pr =
        sp_arena_calloc(call->arena, ac->nitems > 0 ? ac->nitems : 1, sizeof(*pr));
    if (tr == NULL || pr == NULL) {
        return -ENOMEM;
    }
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        tr[i].Topic = req->Topics[i].Topic;
        tr[i].Partitions = &pr[k];
        for (int32_t j = 0; j < req->Topics[i].Partitions_count; j++, k++) {
            const struct ap_item *it = &ac->items[k];
            bool ok = it->error == 0;
            pr[k] = (struct kproto_offset_for_leader_epoch_response_epoch_end_offset){
                .ErrorCode = it->error,
                .Partition = it->partition,
                .LeaderEpoch = ok ? it->out_epoch : -1,
                .EndOffset = ok ? it->out_offset : -1,
            };
            tr[i].Partitions_count++;
        }
    }
    resp->Topics = tr;
    resp->Topics_count = req->Topics_count;
    return 0;
}

int sp_api_offset_for_leader_epoch(struct sp_api_call *call)
{
    const struct kproto_offset_for_leader_epoch_request *req = call->body;
    if (req == NULL) {
        return 0;
    }
    uint64_t n = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        n += (uint64_t)SP_MAX(req->Topics[i].Partitions_count, 0);
    }
    struct ap_call *ac = ap_new(call, n, ole_part, ole_fill);
    if (ac == NULL) {
        return -ENOMEM;
    }
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_offset_for_leader_epoch_request_offset_for_leader_topic *t =
            &req->Topics[i];
        for (int32_t j = 0; j < t->Partitions_count; j++, k++) {
            const struct kproto_offset_for_leader_epoch_request_offset_for_leader_partition *rp =
                &t->Partitions[j];
            ac->items[k].name = t->Topic;
            ac->items[k].partition = rp->Partition;
            ac->items[k].epoch = rp->LeaderEpoch;
            /* v0-1 carry no current epoch: unchecked. */
            ac->items[k].current_epoch = call->version >= 2 ? rp->CurrentLeaderEpoch : -1;
        }
    }
    return ap_run(ac);
}

/* ---- DescribeProducers ------------------------------------------------------ */

typedef struct kproto_describe_producers_response_producer_state dp_state;

static void dp_part(struct sp_fwd *f, struct ap_item *it, struct sp_part *p)
{
    if (p->pstate == NULL) {
        return;
    }
    int64_t now_ms = sp_pstate_wall_ms();
    uint32_t n = sp_pstate_list(p->pstate, now_ms, NULL, 0);
    if (n == 0) {
        return;
    }
    struct sp_pstate_producer *list = sp_arena_calloc(f->arena, n, sizeof(*list));
    dp_state *out = sp_arena_calloc(f->arena, n, sizeof(*out));
    if (list == NULL || out == NULL) {
        it->error = KERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    n = SP_MIN(n, sp_pstate_list(p->pstate, now_ms, list, n));
    for (uint32_t i = 0; i < n; i++) {
        out[i] = (dp_state){
            .ProducerId = list[i].producer_id,
            .ProducerEpoch = list[i].epoch,
            .LastSequence = list[i].last_sequence,
            .LastTimestamp = list[i].last_timestamp,
            .CoordinatorEpoch = -1,      /* no transaction coordinator wrote for it */
            .CurrentTxnStartOffset = -1, /* no transaction open */
        };
    }
    it->producers = out;
    it->producers_count = (int32_t)n;
}

static int dp_fill(struct ap_call *ac)
{
    struct sp_api_call *call = ac->call;
    const struct kproto_describe_producers_request *req = call->body;
    struct kproto_describe_producers_response *resp = call->resp;
    struct kproto_describe_producers_response_topic_response *tr = sp_arena_calloc(
        call->arena, req->Topics_count > 0 ? (size_t)req->Topics_count : 1, sizeof(*tr));
    struct kproto_describe_producers_response_partition_response *pr =
        sp_arena_calloc(call->arena, ac->nitems > 0 ? ac->nitems : 1, sizeof(*pr));
    if (tr == NULL || pr == NULL) {
        return -ENOMEM;
    }
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        tr[i].Name = req->Topics[i].Name;
        tr[i].Partitions = &pr[k];
        for (int32_t j = 0; j < req->Topics[i].PartitionIndexes_count; j++, k++) {
            const struct ap_item *it = &ac->items[k];
            pr[k] = (struct kproto_describe_producers_response_partition_response){
                .PartitionIndex = it->partition,
                .ErrorCode = it->error,
                .ActiveProducers = it->error == 0 ? it->producers : NULL,
                .ActiveProducers_count = it->error == 0 ? it->producers_count : 0,
            };
            tr[i].Partitions_count++;
        }
    }
    resp->Topics = tr;
    resp->Topics_count = req->Topics_count;
    return 0;
}

int sp_api_describe_producers(struct sp_api_call *call)
{
    const struct kproto_describe_producers_request *req = call->body;
    if (req == NULL) {
        return 0;
    }
    uint64_t n = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        n += (uint64_t)SP_MAX(req->Topics[i].PartitionIndexes_count, 0);
    }
    struct ap_call *ac = ap_new(call, n, dp_part, dp_fill);
    if (ac == NULL) {
        return -ENOMEM;
    }
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_describe_producers_request_topic_request *t = &req->Topics[i];
        for (int32_t j = 0; j < t->PartitionIndexes_count; j++, k++) {
            ac->items[k].name = t->Name;
            ac->items[k].partition = t->PartitionIndexes[j];
        }
    }
    return ap_run(ac);
}

/* ---- DescribeLogDirs -------------------------------------------------------- */

typedef struct kproto_describe_log_dirs_response_describe_log_dirs_result dld_result;
typedef struct kproto_describe_log_dirs_response_describe_log_dirs_topic dld_topic;
typedef struct kproto_describe_log_dirs_response_describe_log_dirs_partition dld_partition;

static void dld_part(struct sp_fwd *f, struct ap_item *it, struct sp_part *p)
{
    (void)f;
    it->out_offset = (int64_t)sp_plog_size_bytes(p->log);
}

static int first_item(void *ctx, const char *item, size_t len)
{
    struct sp_str *s = ctx;
    if (s->ptr == NULL) {
        *s = (struct sp_str){item, (int32_t)SP_MIN(len, (size_t)INT32_MAX)};
    }
    return 0;
}

/* The log dir every partition lives in (the first of log.dirs), absolute, in the call's arena. */
static struct sp_str dld_dir(struct sp_api_call *call)
{
    struct sp_str dir = {0};
    (void)sp_config_list_each(sp_config_str(sp_image_broker_config(), SP_CFG_LOG_DIRS), first_item,
                              &dir);
    if (dir.ptr == NULL) {
        return sp_str_make("");
    }
    char cwd[PATH_MAX];
    bool relative = dir.ptr[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL;
    size_t pre = relative ? strlen(cwd) + 1 : 0;
    if (relative && dir.len >= 2 && memcmp(dir.ptr, "./", 2) == 0) {
        dir.ptr += 2;
        dir.len -= 2;
    }
    char *abs = sp_arena_alloc(call->arena, pre + (size_t)dir.len + 1);
    if (abs == NULL) {
        return sp_str_make("");
    }
    if (relative) {
        memcpy(abs, cwd, pre - 1);
        abs[pre - 1] = '/';
    }
    memcpy(abs + pre, dir.ptr, (size_t)dir.len);
    abs[pre + (size_t)dir.len] = '\0';
    return sp_str_make(abs);
}

static int dld_fill(struct ap_call *ac)
{
    struct sp_api_call *call = ac->call;
    struct kproto_describe_log_dirs_response *resp = call->resp;
    dld_result *r = sp_arena_calloc(call->arena, 1, sizeof(*r));
    dld_topic *tr = sp_arena_calloc(call->arena, ac->nitems > 0 ? ac->nitems : 1, sizeof(*tr));
    dld_partition *pr = sp_arena_calloc(call->arena, ac->nitems > 0 ? ac->nitems : 1, sizeof(*pr));
    if (r == NULL || tr == NULL || pr == NULL) {
        return -ENOMEM;
    }
    /* Items come grouped by topic; partitions not hosted here are left out. */
    int32_t nt = 0;
    int32_t np = 0;
    for (uint32_t i = 0; i < ac->nitems; i++) {
        const struct ap_item *it = &ac->items[i];
        if (it->error != 0) {
            continue;
        }
        if (nt == 0 || !sp_str_eq(tr[nt - 1].Name, it->name)) {
            tr[nt++] = (dld_topic){.Name = it->name, .Partitions = &pr[np]};
        }
        pr[np++] = (dld_partition){.PartitionIndex = it->partition,
                                   .PartitionSize = it->out_offset,
                                   .OffsetLag = 0, /* the leader is never behind itself */
                                   .IsFutureKey = false};
        tr[nt - 1].Partitions_count++;
    }
    *r = (dld_result){.LogDir = dld_dir(call),
                      .Topics = tr,
                      .Topics_count = nt,
                      .TotalBytes = -1,
                      .UsableBytes = -1};
    struct statvfs sv;
    if (r->LogDir.len > 0 && statvfs(r->LogDir.ptr, &sv) == 0) {
        r->TotalBytes = (int64_t)SP_MIN((uint64_t)sv.f_blocks * sv.f_frsize, (uint64_t)INT64_MAX);
        r->UsableBytes = (int64_t)SP_MIN((uint64_t)sv.f_bavail * sv.f_frsize, (uint64_t)INT64_MAX);
    } else {
        r->ErrorCode = KERR_KAFKA_STORAGE_ERROR;
    }
    resp->Results = r;
    resp->Results_count = 1;
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    const struct ap_item *x = a;
    const struct ap_item *y = b;
    int32_t n = SP_MIN(x->name.len, y->name.len);
    int c = n > 0 ? memcmp(x->name.ptr, y->name.ptr, (size_t)n) : 0;
    if (c == 0) {
        c = (x->name.len > y->name.len) - (x->name.len < y->name.len);
    }
    return c != 0 ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Named partitions that exist, sorted and each once (Kafka takes them as a set). */
static struct ap_call *dld_named(struct sp_api_call *call)
{
    const struct kproto_describe_log_dirs_request *req = call->body;
    uint64_t n = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        n += (uint64_t)SP_MAX(req->Topics[i].Partitions_count, 0);
    }
    struct ap_call *ac = ap_new(call, n, dld_part, dld_fill);
    if (ac == NULL) {
        return NULL;
    }
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_describe_log_dirs_request_describable_log_dir_topic *t =
            &req->Topics[i];
        const struct sp_topic *it =
            t->Topic.ptr != NULL ? sp_image_topic(t->Topic.ptr, (size_t)t->Topic.len) : NULL;
        for (int32_t j = 0; it != NULL && j < t->Partitions_count; j++) {
            if (t->Partitions[j] >= 0 && t->Partitions[j] < it->partitions) {
                ac->items[k].name = t->Topic;
                ac->items[k].partition = t->Partitions[j];
                k++;
            }
        }
    }
    qsort(ac->items, k, sizeof(*ac->items), cmp_item);
    uint32_t u = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (u == 0 || cmp_item(&ac->items[u - 1], &ac->items[i]) != 0) {
            ac->items[u++] = ac->items[i];
        }
    }
    ac->nitems = u;
    return ac;
}

/* Every partition of every topic. */
static struct ap_call *dld_all(struct sp_api_call *call)
{
    uint64_t n = 0;
    uint32_t nt = sp_image_topic_count();
    for (uint32_t i = 0; i < nt; i++) {
        n += (uint64_t)SP_MAX(sp_image_topic_at(i)->partitions, 0);
    }
    struct ap_call *ac = ap_new(call, n, dld_part, dld_fill);
    if (ac == NULL) {
        return NULL;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < nt; i++) {
        const struct sp_topic *t = sp_image_topic_at(i);
        /* A copy: a delta applied while the owners answer may free the image's. */
        struct sp_str name = sp_str_copy(call->arena, t->name, t->name_len);
        if (name.ptr == NULL) {
            return NULL;
        }
        for (int32_t j = 0; j < t->partitions; j++, k++) {
            ac->items[k].name = name;
            ac->items[k].partition = j;
        }
    }
    return ac;
}

int sp_api_describe_log_dirs(struct sp_api_call *call)
{
    const struct kproto_describe_log_dirs_request *req = call->body;
    struct kproto_describe_log_dirs_response *resp = call->resp;
    if (call->error != 0 || req == NULL) {
        resp->ErrorCode = call->error != 0 ? call->error : KERR_INVALID_REQUEST;
        return 0;
    }
    struct ap_call *ac = req->Topics_count < 0 ? dld_all(call) : dld_named(call);
    if (ac == NULL) {
        return -ENOMEM;
    }
    return ap_run(ac);
}
