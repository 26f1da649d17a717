/*
 * cluster/api_produce.c: Produce (v0-11) and InitProducerId (v0-5).
 *
 * Produce v0-2 carry message sets of magic 0/1 from old clients; the
 * owner converts each to one v2 batch as it validates it (produce_batch.c),
 * so everything past validation, this file included, sees v2 batches only.
 * Those batches have no producer id: no idempotence check applies.
 *
 * Produce fans a request out to the shards that own its partitions and
 * gathers the answers on the connection's shard:
 *
 *   connection shard                              owner shard (one job each)
 *   sp_api_produce: topics looked up by name,
 *   partitions grouped by owning shard,   job --> job_run: per partition, in order:
 *   one pr_job per owner (xq, FIFO)                 sp_part_get, validate (produce_batch.c),
 *                                                   idempotence check (pstate.h),
 *                                                   sp_plog_append; acks come later
 *   job_back: all jobs back -> response     <--   last partition answered: sp_xq_reply
 *
 * Everything a job carries (the partitions, their batches as slices of the
 * request frame, the result slots) is the request's arena memory on the
 * connection's shard, lent to the owner until the reply; the owner writes
 * results into the slots and frees what it allocated (rebuilt batches)
 * before it replies.
 *
 * Order: appends from one connection to one partition follow request order.
 * Requests are dispatched in order, the shard pair's ring is FIFO, and an
 * owner appends each partition synchronously as its job runs. When the log
 * refuses an append for lack of write-buffer space (-ENOBUFS), that append
 * and every later one for the same partition wait in the partition's
 * backlog, in order, retried after completions and on a short timer.
 *
 * acks=0: nothing is sent, unless a partition failed: then the connection
 * is closed (-EPROTO), as Kafka does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/controller.h"
#include "cluster/dispatch_impl.h"
#include "cluster/image.h"
#include "cluster/part.h"
#include "cluster/produce.h"
#include "cluster/pstate.h"
#include "core/config.h"
#include "core/log.h"
#include "core/rx.h"
#include "core/xq.h"

#define PR_BACKLOG_MAX 65536 /* appends waiting for write-buffer space, per shard */
#define PR_RETRY_MS    1

struct pr_req;

/* The partitions of one request that one shard owns. */
struct pr_job {
    struct sp_xq_msg msg;
    struct pr_req *req;
    uint32_t *parts; /* indexes into req->parts */
    uint32_t n;
    uint32_t left; /* owner's: partitions not answered yet, +1 while starting */
    int16_t version;
    enum sp_plog_ack ack;
};

struct pr_req {
    struct sp_api_call *call;
    struct sp_produce_part *parts; /* in request order */
    uint32_t nparts;
    uint32_t jobs_left;
    int16_t acks;
};

/* A partition whose appends wait for write-buffer space, on its owner. */
struct pr_backlog {
    struct sp_part *p;
    struct sp_produce_part *head, *tail;
    struct pr_backlog *next;
};

/* The owner side's per-shard state. */
struct pr_shard {
    struct pr_backlog *blocked;
    uint32_t queued;
    struct sp_timer timer;
    struct sp_task kick;
    bool kick_armed;
};

static _Thread_local struct pr_shard prs;

static void part_finish(struct sp_produce_part *pp);
static void backlog_kick(void);

/* ---- Owner side ---------------------------------------------------------- */

static void job_part_done(struct pr_job *job)
{
    SP_ASSERT(job->left > 0);
    if (--job->left == 0) {
        sp_xq_reply(&job->msg);
    }
}

static void part_fail(struct sp_produce_part *pp, int16_t error, const char *why)
{
    pp->error = error;
    if (why != NULL && pp->message[0] == '\0') {
        snprintf(pp->message, sizeof(pp->message), "%s", why);
    }
    part_finish(pp);
}

/* Answers the duplicates that waited for pp's append, with pp's outcome. */
static void dups_finish(struct sp_produce_part *pp)
{
    while (pp->dups != NULL) {
        struct sp_produce_part *d = pp->dups;
        pp->dups = d->dup_next;
        d->dup_next = NULL;
        if (pp->error != 0) {
            d->error = pp->error;
            d->base_offset = -1;
            d->log_append_time_ms = -1;
        }
        part_finish(d);
    }
}

static void part_finish(struct sp_produce_part *pp)
{
    SP_ASSERT(pp->dups == NULL);
    struct sp_part *p = pp->p;
    if (p != NULL) {
        if (pp->error == 0 && p->log != NULL) {
            pp->log_start_offset = sp_plog_start_offset(p->log);
        }
        pp->p = NULL;
        sp_part_unref(p);
    }
    free(pp->owned);
    pp->owned = NULL;
    if (pp->error != 0) {
        pp->base_offset = -1;
        pp->log_append_time_ms = -1;
    }
    job_part_done(pp->job);
}

static void append_done(struct sp_plog_append *a, int res)
{
    struct sp_produce_part *pp = sp_container_of(a, struct sp_produce_part, app);
    struct sp_part *p = pp->p;
    if (res < 0) {
        pp->error = KERR_KAFKA_STORAGE_ERROR;
        snprintf(pp->message, sizeof(pp->message), "the partition's log failed: %s",
                 strerror(-res));
    }
    if (p->pstate != NULL && pp->h.producer_id >= 0) {
        sp_pstate_acked(p->pstate, pp->h.producer_id, pp);
    }
    dups_finish(pp);
    part_finish(pp);
    backlog_kick();
}

/* Answers pp as a duplicate of a batch the partition already holds. */
static void part_duplicate(struct sp_produce_part *pp, const struct sp_pstate_dup *d)
{
    pp->base_offset = d->first_offset;
    pp->log_append_time_ms = pp->p->cfg.timestamp_log_append ? d->timestamp : -1;
    if (d->inflight != NULL) {
        /* The original still waits for its ack: so does its retry. */
        struct sp_produce_part *orig = d->inflight;
        pp->dup_next = orig->dups;
        orig->dups = pp;
        return;
    }
    part_finish(pp);
}

/*
 * Checks the producer's sequence and appends, in one step. Returns 0 when
 * pp was answered or waits for its ack, -ENOBUFS when the log has no
 * write-buffer space (pp untouched: try again later, in order).
 */
static int part_append(struct sp_produce_part *pp, int64_t now_ms)
{
    struct sp_part *p = pp->p;
    if (p->deleted || p->log == NULL) {
        part_fail(pp, KERR_NOT_LEADER_OR_FOLLOWER, "the partition is going away");
        return 0;
    }
    if (pp->h.producer_id >= 0) {
        if (p->pstate == NULL) {
            part_fail(pp, KERR_NOT_LEADER_OR_FOLLOWER, "producer state is not loaded");
            return 0;
        }
        bool dup = false;
        struct sp_pstate_dup d;
        int16_t err =
            sp_pstate_check(p->pstate, &pp->h, now_ms, &dup, &d, pp->message, sizeof(pp->message));
        if (err != 0) {
            part_fail(pp, err, NULL);
            return 0;
        }
        if (dup) {
            part_duplicate(pp, &d);
            return 0;
        }
    }
    enum sp_plog_ack ack = pp->job->ack;
    pp->app.done = append_done;
    pp->app.ack = ack;
    int rc = sp_plog_append(p->log, &pp->app, pp->data, pp->len);
    if (rc == -ENOBUFS) {
        return rc;
    }
    if (rc < 0) {
        part_fail(pp, rc == -EBADMSG ? KERR_CORRUPT_MESSAGE : KERR_KAFKA_STORAGE_ERROR,
                  rc == -EBADMSG ? "the log refused the batch's framing" : "the log is offline");
        return 0;
    }
    pp->base_offset = pp->app.base_offset;
    if (p->pstate != NULL) {
        sp_pstate_append(p->pstate, &pp->h, pp->app.base_offset, pp->len, now_ms,
                         ack != SP_PLOG_ACK_NONE ? pp : NULL);
    }
    /* The log copied the batch. */
    free(pp->owned);
    pp->owned = NULL;
    pp->data = NULL;
    if (ack == SP_PLOG_ACK_NONE) {
        part_finish(pp);
    }
    return 0;
}

static struct pr_backlog *backlog_find(const struct sp_part *p)
{
    for (struct pr_backlog *b = prs.blocked; b != NULL; b = b->next) {
        if (b->p == p) {
            return b;
        }
    }
    return NULL;
}

static void backlog_push(struct pr_backlog *b, struct sp_produce_part *pp)
{
    pp->qnext = NULL;
    if (b->tail != NULL) {
        b->tail->qnext = pp;
    } else {
        b->head = pp;
    }
    b->tail = pp;
    prs.queued++;
}

static void backlog_timer(struct sp_timer *t);

static void backlog_arm(void)
{
    if (prs.blocked != NULL && !sp_timer_armed(&prs.timer)) {
        if (sp_rx_timer_start(&prs.timer, PR_RETRY_MS, backlog_timer) != 0) {
            sp_log_warn("produce: cannot arm the write-buffer retry timer");
        }
    }
}

/* Retries every blocked partition's appends, in order, until one is refused again. */
static void backlog_run(void)
{
    int64_t now_ms = sp_pstate_wall_ms();
    struct pr_backlog **link = &prs.blocked;
    while (*link != NULL) {
        struct pr_backlog *b = *link;
        while (b->head != NULL) {
            struct sp_produce_part *pp = b->head;
            struct sp_produce_part *next = pp->qnext; /* pp may be answered below */
            if (part_append(pp, now_ms) == -ENOBUFS) {
                break;
            }
            b->head = next;
            if (next == NULL) {
                b->tail = NULL;
            }
            prs.queued--;
        }
        if (b->head == NULL) {
            *link = b->next;
            free(b);
        } else {
            link = &b->next;
        }
    }
    backlog_arm();
}

static void backlog_timer(struct sp_timer *t)
{
    (void)t;
    backlog_run();
}

static void backlog_task(struct sp_task *t)
{
    (void)t;
    prs.kick_armed = false;
    backlog_run();
}

static void backlog_kick(void)
{
    if (prs.blocked != NULL && !prs.kick_armed) {
        prs.kick_armed = true;
        prs.kick.fn = backlog_task;
        sp_rx_defer(&prs.kick);
    }
}

/* Queues pp behind the partition's waiting appends (a new backlog when b is NULL). */
static void backlog_add(struct pr_backlog *b, struct sp_produce_part *pp)
{
    if (prs.queued >= PR_BACKLOG_MAX) {
        part_fail(pp, KERR_REQUEST_TIMED_OUT, "the broker's write buffers are full");
        return;
    }
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        if (b == NULL) {
            part_fail(pp, KERR_REQUEST_TIMED_OUT, "out of memory");
            return;
        }
        b->p = pp->p;
        b->next = prs.blocked;
        prs.blocked = b;
        sp_log_debug("produce: %s-%d waits for write-buffer space", pp->p->name, pp->p->index);
    }
    backlog_push(b, pp);
    backlog_arm();
}

static void part_start(struct sp_produce_part *pp, int64_t now_ms)
{
    struct sp_part *p = sp_part_get(pp->topic_id, pp->index);
    if (p == NULL) {
        bool known = sp_image_topic_by_id(pp->topic_id) != NULL;
        part_fail(pp, known ? KERR_NOT_LEADER_OR_FOLLOWER : KERR_UNKNOWN_TOPIC_OR_PARTITION,
                  known ? "the partition is not open on its shard" : "the topic is gone");
        return;
    }
    if (p->log == NULL || sp_plog_error(p->log) != 0) {
        part_fail(pp, KERR_KAFKA_STORAGE_ERROR, "the partition's log is offline");
        return;
    }
    sp_part_ref(p);
    pp->p = p;
    int16_t err = sp_produce_validate(pp, p, pp->job->version, now_ms);
    if (err != 0) {
        part_fail(pp, err, NULL);
        return;
    }
    struct pr_backlog *b = backlog_find(p);
    if (b != NULL || part_append(pp, now_ms) == -ENOBUFS) {
        backlog_add(b, pp);
    }
}

static void job_run(struct sp_xq_msg *m)
{
    struct pr_job *job = sp_container_of(m, struct pr_job, msg);
    sp_xq_hold(m);
    job->left = job->n + 1;
    int64_t now_ms = sp_pstate_wall_ms();
    for (uint32_t i = 0; i < job->n; i++) {
        part_start(&job->req->parts[job->parts[i]], now_ms);
    }
    job_part_done(job);
}

/* ---- Connection side ----------------------------------------------------- */

static int16_t acks_valid(int16_t acks)
{
    return acks == 0 || acks == 1 || acks == -1;
}

static enum sp_plog_ack acks_to_plog(int16_t acks)
{
    if (acks == 0) {
        return SP_PLOG_ACK_NONE;
    }
    const struct sp_config *cfg = sp_image_broker_config();
    bool wait = cfg == NULL || sp_config_bool(cfg, SP_CFG_LOG_FLUSH_ACKS_ALL_WAIT);
    return acks == -1 && wait ? SP_PLOG_ACK_DURABLE : SP_PLOG_ACK_WRITTEN;
}

/* Fills the response from the result slots; what the handler returns. */
static int produce_answer(struct pr_req *r)
{
    struct sp_api_call *call = r->call;
    const struct kproto_produce_request *req = call->body;
    struct kproto_produce_response *resp = call->resp;
    struct kproto_produce_response_topic_produce_response *topics =
        sp_arena_calloc(call->arena, (size_t)req->TopicData_count, sizeof(*topics));
    if (topics == NULL && req->TopicData_count > 0) {
        return -ENOMEM;
    }
    bool failed = false;
    uint32_t k = 0;
    for (int32_t i = 0; i < req->TopicData_count; i++) {
        const struct kproto_produce_request_topic_produce_data *td = &req->TopicData[i];
        struct kproto_produce_response_partition_produce_response *out =
            sp_arena_calloc(call->arena, (size_t)td->PartitionData_count, sizeof(*out));
        if (out == NULL && td->PartitionData_count > 0) {
            return -ENOMEM;
        }
        topics[i].Name = td->Name;
        topics[i].PartitionResponses = out;
        topics[i].PartitionResponses_count = td->PartitionData_count;
        for (int32_t j = 0; j < td->PartitionData_count; j++, k++) {
            const struct sp_produce_part *pp = &r->parts[k];
            out[j].Index = pp->index;
            out[j].ErrorCode = pp->error;
            out[j].BaseOffset = pp->base_offset;
            out[j].LogAppendTimeMs = pp->log_append_time_ms;
            out[j].LogStartOffset = pp->log_start_offset;
            out[j].CurrentLeader.LeaderId = -1;
            out[j].CurrentLeader.LeaderEpoch = -1;
            if (pp->error != 0 && pp->message[0] != '\0') {
                out[j].ErrorMessage = sp_str_make(pp->message);
            }
            if (pp->error != 0) {
                failed = true;
                sp_log_debug("produce to %.*s-%d: %s: %s", td->Name.len, td->Name.ptr, pp->index,
                             kerr_name(pp->error), pp->message);
            }
        }
    }
    SP_ASSERT(k == r->nparts);
    resp->Responses = topics;
    resp->Responses_count = req->TopicData_count;
    if (r->acks == 0) {
        return failed ? -EPROTO : SP_API_NO_RESPONSE;
    }
    return 0;
}

static void job_back(struct sp_xq_msg *m)
{
    struct pr_job *job = sp_container_of(m, struct pr_job, msg);
    struct pr_req *r = job->req;
    SP_ASSERT(r->jobs_left > 0);
    if (--r->jobs_left == 0) {
        sp_api_done(r->call, produce_answer(r));
    }
}

/* Looks every partition up in this shard's image; counts the partitions each shard owns. */
static void produce_route(struct pr_req *r, int16_t common, uint32_t *per_shard)
{
    const struct kproto_produce_request *req = r->call->body;
    uint32_t shards = sp_rx_shard_count();
    uint32_t k = 0;
    for (int32_t i = 0; i < req->TopicData_count; i++) {
        const struct kproto_produce_request_topic_produce_data *td = &req->TopicData[i];
        const struct sp_topic *t = common == 0 && td->Name.ptr != NULL
                                       ? sp_image_topic(td->Name.ptr, (size_t)td->Name.len)
                                       : NULL;
        for (int32_t j = 0; j < td->PartitionData_count; j++, k++) {
            const struct kproto_produce_request_partition_produce_data *pd = &td->PartitionData[j];
            struct sp_produce_part *pp = &r->parts[k];
            pp->index = pd->Index;
            pp->base_offset = -1;
            pp->log_append_time_ms = -1;
            pp->log_start_offset = -1;
            pp->shard = UINT16_MAX;
            if (common != 0) {
                pp->error = common;
            } else if (t == NULL || pd->Index < 0 || pd->Index >= t->partitions ||
                       t->part[pd->Index].shard >= shards) {
                pp->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                snprintf(pp->message, sizeof(pp->message), "%s",
                         t == NULL ? "unknown topic" : "unknown partition");
            } else {
                memcpy(pp->topic_id, t->id, sizeof(pp->topic_id));
                pp->records = pd->Records;
                pp->shard = t->part[pd->Index].shard;
                per_shard[pp->shard]++;
            }
        }
    }
}

/* One job per shard that owns some of the partitions; sends them. */
static int produce_fan_out(struct pr_req *r, uint32_t *per_shard)
{
    struct sp_api_call *call = r->call;
    uint32_t shards = sp_rx_shard_count();
    struct pr_job **jobs = sp_arena_calloc(call->arena, shards, sizeof(*jobs));
    if (jobs == NULL) {
        return -ENOMEM;
    }
    const struct kproto_produce_request *req = call->body;
    for (uint32_t s = 0; s < shards; s++) {
        if (per_shard[s] == 0) {
            continue;
        }
        struct pr_job *job = sp_arena_calloc(call->arena, 1, sizeof(*job));
        uint32_t *idx = sp_arena_calloc(call->arena, per_shard[s], sizeof(*idx));
        if (job == NULL || idx == NULL) {
            return -ENOMEM;
        }
        job->msg.fn = job_run;
        job->msg.reply_fn = job_back;
        job->req = r;
        job->parts = idx;
        job->version = call->version;
        job->ack = acks_to_plog(req->Acks);
        jobs[s] = job;
        r->jobs_left++;
    }
    for (uint32_t k = 0; k < r->nparts; k++) {
        struct sp_produce_part *pp = &r->parts[k];
        if (pp->shard != UINT16_MAX) {
            struct pr_job *job = jobs[pp->shard];
            pp->job = job;
            job->parts[job->n++] = k;
        }
    }
    for (uint32_t s = 0; s < shards; s++) {
        if (jobs[s] != NULL) {
            sp_xq_send(s, &jobs[s]->msg);
        }
    }
    return 0;
}

int sp_api_produce(struct sp_api_call *call)
{
    const struct kproto_produce_request *req = call->body;
    if (req == NULL) {
        return 0; /* an unsupported version that could not be read: an empty answer */
    }
    struct pr_req *r = sp_arena_calloc(call->arena, 1, sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    r->call = call;
    r->acks = req->Acks;
    for (int32_t i = 0; i < req->TopicData_count; i++) {
        r->nparts += (uint32_t)req->TopicData[i].PartitionData_count;
    }
    r->parts = sp_arena_calloc(call->arena, r->nparts, sizeof(*r->parts));
    uint32_t *per_shard = sp_arena_calloc(call->arena, sp_rx_shard_count(), sizeof(*per_shard));
    if ((r->parts == NULL && r->nparts > 0) || per_shard == NULL) {
        return -ENOMEM;
    }
    int16_t common = call->error;
    if (common == 0 && !acks_valid(req->Acks)) {
        common = KERR_INVALID_REQUIRED_ACKS;
    }
    produce_route(r, common, per_shard);
    int rc = produce_fan_out(r, per_shard);
    if (rc < 0) {
        return rc; /* nothing was sent: no job is out */
    }
    if (r->jobs_left == 0) {
        return produce_answer(r);
    }
    return SP_API_PENDING;
}

/* ---- InitProducerId ---------------------------------------------------- */

struct ipid {
    struct sp_ctl_producer_id op;
    struct sp_api_call *call;
    bool in_call;
    bool done;
};

static int ipid_answer(struct ipid *ip)
{
    struct kproto_init_producer_id_response *resp = ip->call->resp;
    resp->ErrorCode = ip->op.error;
    resp->ProducerId = ip->op.error == 0 ? ip->op.producer_id : -1;
    resp->ProducerEpoch = ip->op.error == 0 ? 0 : -1;
    return 0;
}

static void ipid_done(struct sp_ctl_producer_id *op)
{
    struct ipid *ip = sp_container_of(op, struct ipid, op);
    ip->done = true;
    if (!ip->in_call) {
        sp_api_done(ip->call, ipid_answer(ip));
    }
}

int sp_api_init_producer_id(struct sp_api_call *call)
{
    const struct kproto_init_producer_id_request *req = call->body;
    struct kproto_init_producer_id_response *resp = call->resp;
    resp->ProducerId = -1;
    resp->ProducerEpoch = -1;
    if (call->error != 0 || req == NULL) {
        resp->ErrorCode = call->error;
        return 0;
    }
    if (req->TransactionalId.ptr != NULL) {
        /* Transactions come later: refuse, so the client fails at once, not after retries. */
        sp_log_warn("InitProducerId for transactional id '%.*s' refused: transactions are not "
                    "supported yet",
                    req->TransactionalId.len, req->TransactionalId.ptr);
        resp->ErrorCode = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        return 0;
    }
    /*
     * Without a transactional id every call gets a fresh producer id at
     * epoch 0, whatever id and epoch it names (v3+): Kafka does the same.
     */
    struct ipid *ip = sp_arena_calloc(call->arena, 1, sizeof(*ip));
    if (ip == NULL) {
        return -ENOMEM;
    }
    ip->call = call;
    ip->op.done = ipid_done;
    ip->in_call = true;
    sp_ctl_producer_id(&ip->op);
    ip->in_call = false;
    return ip->done ? ipid_answer(ip) : SP_API_PENDING;
}
