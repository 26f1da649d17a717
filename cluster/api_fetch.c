/*
 * cluster/api_fetch.c: Fetch v0-17, with long polls woken by appends and
 * incremental fetch sessions (cluster/fetch_session.h).
 *
 * One fetch is a `struct fx`, allocated on the connection's shard S, that
 * lives until every owning shard has given back what it lent. Its items
 * (one per partition, in request order) are grouped by owning shard, and
 * each owner gets one cross-core message per step:
 *
 *   S                                   owner shard(s)
 *   round:   read message  ---------->  sp_plog_read per item (refs the
 *                                       partition, registers a waiter)
 *   gather:  <--- reply when all reads are done; results lent to S
 *            trim to max_bytes in request order; enough bytes, an error,
 *            expired, or no wait?
 *              no:  release message --> free reads, keep the waiters; wait
 *                   for a wake (sp_fetch_on_hw -> wake message) or the timer,
 *                   then a new round
 *              yes: encode the response (the records are copied out of the
 *                   lent reads), sp_api_done, then a final release message
 *                   --> free reads, drop waiters, unref; free fx when all
 *                   are back
 *
 * Long polls are woken by appends, never by polling: every partition read
 * while the fetch may still wait carries a waiter (struct sp_fetch_wait,
 * owned by the partition's shard) naming the fetch by its shard and a
 * {slot, generation} handle. When the high watermark moves, part.c calls
 * sp_fetch_on_hw, which sends each waiter to its fetch's shard and frees it
 * when the message comes back. A wake for a fetch that has answered finds
 * its handle stale and is ignored. A timer on S answers at max_wait_ms with
 * what is there. Waiters are bounded per shard (FETCH_WAITERS_MAX; a fetch
 * that cannot register one still answers at its timeout), pruned when
 * expired, replaced when the same fetch reads again, and dropped by the
 * final release or when the partition closes (sp_fetch_part_closing wakes
 * them, and the fetch's next round reports the error).
 *
 * A connection that closes while its fetch waits changes nothing here: the
 * request stays valid until sp_api_done (net/conn.h), which then just frees
 * it. While a fetch may wait it holds the shard (sp_rx_hold), so a shutdown
 * lets it answer first.
 *
 * Byte limits (KIP-74): each owner reads every partition up to
 * min(PartitionMaxBytes, MaxBytes - what its earlier partitions already
 * returned); the gather then walks all items in request order: the first
 * partition with data keeps what it read (at least one whole batch, however
 * large), every later one keeps the whole batches that fit in
 * min(PartitionMaxBytes, what is left of MaxBytes). MaxBytes is capped at
 * FETCH_RESPONSE_BYTES_MAX, since the response is encoded in the request's
 * arena.
 *
 * Old versions (v0-3) get message sets, down-converted from the stored v2
 * batches when the response is filled: on S, into the request's arena, from
 * the reads still lent (magic 0 for v0-1, magic 1 for v2-3; uncompressed;
 * headers dropped, control batches left out, records before the fetch
 * offset skipped, as Kafka converts). The converted messages obey the byte
 * limits by their own sizes: whole messages within min(PartitionMaxBytes,
 * what is left of MaxBytes), and the first message of the response however
 * large (v3, KIP-74); v0-2 have no MaxBytes, so the 2 MiB cap stands in for
 * it, and each partition may give its first message past PartitionMaxBytes
 * while that cap has room, where Kafka would send a partial message. A
 * compressed batch is decompressed into a scratch arena freed right after.
 *
 * Message sets cannot carry zstd (KIP-110), so for v0-3 a partition's data
 * stops before its first zstd batch, and a partition whose data starts with
 * one answers UNSUPPORTED_COMPRESSION_TYPE, as Kafka answers. v4-9 follow
 * Kafka's own rule: UNSUPPORTED_COMPRESSION_TYPE where the topic's
 * compression.type is zstd, zstd batches as stored where a producer chose
 * zstd on a "producer" topic (kafka-python 2.0.2, which fetches at v4,
 * reads those).
 *
 * Threads: sp_api_fetch, the round/gather/answer steps and the timer on
 * the connection's shard; owner_* on the owning shards; sp_fetch_on_hw and
 * sp_fetch_part_closing on the partition's shard.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/dispatch_impl.h"
#include "cluster/fetch_session.h"
#include "cluster/image.h"
#include "cluster/part.h"
#include "core/handle.h"
#include "core/log.h"
#include "core/rx.h"
#include "core/xq.h"
#include "protocol/batch.h"
#include "protocol/compress.h"
#include "protocol/msgset.h"

#define FETCH_WAITING_MAX        16384      /* fetches that may wait at once, per shard */
#define FETCH_WAITERS_MAX        65536      /* waiter records per owning shard */
#define FETCH_RESPONSE_BYTES_MAX (2u << 20) /* the arena holds the encoded response */
#define FETCH_NO_OWNER           UINT16_MAX
#define FETCH_TICK_MS            1000 /* a waiting fetch looks for a shutdown this often */
#define FETCH_MSGSET_VERSION_MAX 3    /* v0-3 answer message sets (magic 0, then 1 from v2) */
#define FETCH_ZSTD_VERSION_MIN   10   /* clients below it are not known to read zstd (KIP-110) */
#define FETCH_INFLATE_BYTES_MAX  (64u << 20) /* one batch's records, decompressed to convert */

enum fx_phase { FX_READING, FX_RELEASING, FX_WAITING, FX_ANSWERED };

struct fx;

struct fx_item {
    struct fx *fx;
    struct sp_str name; /* the topic's name as asked (v4-12), in the request's arena */
    uint8_t topic_id[16];
    int32_t partition;
    int32_t leader_epoch; /* CurrentLeaderEpoch; -1 unchecked */
    int64_t offset;
    uint32_t max_bytes;
    uint16_t owner;
    int16_t error;
    bool by_id;
    /* Filled on the owner. */
    bool lent; /* `read` holds a result to release */
    int64_t hw;
    int64_t lso;
    int64_t log_start;
    struct sp_part *part; /* referenced from the read to the release */
    struct sp_plog_read read;
    /* On S after the gather. */
    uint32_t usable; /* bytes of `read` a client of this version may get */
    struct sp_slice records;
};

struct fx_owner {
    struct sp_xq_msg msg;
    struct fx *fx;
    uint32_t begin, end; /* its items: fx->order[begin..end) */
    /* Owner's, during a read round. */
    uint32_t pending;
    uint32_t sync_bytes; /* what its earlier partitions returned at once */
    /* Set by S before sending. */
    bool wait;  /* register waiters */
    bool final; /* release: drop the waiters too */
};

struct fx {
    struct sp_api_call *call; /* NULL once answered */
    struct sp_timer timer;
    sp_handle handle; /* in this shard's table while it may wait */
    uint16_t shard;
    int16_t version;
    uint8_t phase;
    bool may_wait;
    bool woken;
    bool expired;
    bool read_committed;
    bool has_error; /* an item failed on S: answer after the first round */
    int32_t min_bytes;
    int32_t max_wait_ms;
    uint64_t deadline_ns; /* when a waiting fetch answers */
    uint32_t max_bytes;
    uint32_t inflight; /* owner messages out */
    struct sp_fetch_sess_use sess;
    uint32_t nitems;
    uint32_t nshards;
    struct fx_item *items;
    uint32_t *order;
    struct fx_owner *owners; /* [nshards] */
};

struct sp_fetch_wait {
    struct sp_xq_msg msg;
    struct sp_fetch_wait *next;
    sp_handle fetch;
    uint64_t deadline_ns;
    uint16_t shard;
};

static _Thread_local struct sp_handles *waiting; /* S: fetches that may wait, by handle */
static _Thread_local uint32_t waiters_count;     /* owner: sp_fetch_wait records alive */

static const uint8_t empty_records[1];

static void fx_round(struct fx *fx);
static void fx_release(struct fx *fx, bool final);

/* ---- Owner side ---------------------------------------------------------- */

static void waiter_free(struct sp_fetch_wait *w)
{
    SP_ASSERT(waiters_count > 0);
    waiters_count--;
    free(w);
}

/* Removes the waiters of fetch (shard, h), and expired ones, from p. */
static void waiters_prune(struct sp_part *p, uint16_t shard, sp_handle h, uint64_t now_ns)
{
    struct sp_fetch_wait **pp = &p->waiters;
    while (*pp != NULL) {
        struct sp_fetch_wait *w = *pp;
        if ((w->shard == shard && w->fetch == h) || w->deadline_ns <= now_ns) {
            *pp = w->next;
            waiter_free(w);
            continue;
        }
        pp = &w->next;
    }
}

static void waiter_register(struct sp_part *p, const struct fx *fx)
{
    uint64_t now_ns = sp_rx_now_ns();
    waiters_prune(p, fx->shard, fx->handle, now_ns);
    if (waiters_count >= FETCH_WAITERS_MAX) {
        return; /* the fetch answers at its timeout instead */
    }
    struct sp_fetch_wait *w = malloc(sizeof(*w));
    if (w == NULL) {
        return;
    }
    waiters_count++;
    *w = (struct sp_fetch_wait){
        .fetch = fx->handle,
        .shard = fx->shard,
        /* A little past the fetch's own timeout: the timer on S answers first. */
        .deadline_ns = now_ns + ((uint64_t)fx->max_wait_ms + 1000u) * 1000000u,
        .next = p->waiters,
    };
    p->waiters = w;
}

static void wake_on_fetch_shard(struct sp_xq_msg *m);

static void wake_done(struct sp_xq_msg *m)
{
    waiter_free(sp_container_of(m, struct sp_fetch_wait, msg));
}

/* Sends every live waiter of p to its fetch; frees the expired ones. */
static void waiters_wake_all(struct sp_part *p)
{
    uint64_t now_ns = sp_rx_now_ns();
    struct sp_fetch_wait *w = p->waiters;
    p->waiters = NULL;
    while (w != NULL) {
        struct sp_fetch_wait *next = w->next;
        if (w->deadline_ns <= now_ns) {
            waiter_free(w);
        } else {
            w->msg.fn = wake_on_fetch_shard;
            w->msg.reply_fn = wake_done;
            sp_xq_send(w->shard, &w->msg);
        }
        w = next;
    }
}

void sp_fetch_on_hw(struct sp_part *p, int64_t hw)
{
    (void)hw;
    if (p->waiters != NULL) {
        waiters_wake_all(p);
    }
}

void sp_fetch_part_closing(struct sp_part *p)
{
    waiters_wake_all(p);
}

static void item_result(struct fx_item *it, int rc)
{
    if (rc >= 0) {
        it->lent = true;
        return;
    }
    it->error = rc == -ERANGE ? KERR_OFFSET_OUT_OF_RANGE
                : rc == -EIO  ? KERR_KAFKA_STORAGE_ERROR
                              : KERR_UNKNOWN_SERVER_ERROR;
    it->hw = it->lso = it->log_start = -1;
}

static void item_read_done(struct sp_plog_read *r, int res)
{
    struct fx_item *it = sp_container_of(r, struct fx_item, read);
    struct fx_owner *o = &it->fx->owners[it->owner];
    item_result(it, res);
    SP_ASSERT(o->pending > 0);
    if (--o->pending == 0) {
        sp_xq_reply(&o->msg);
    }
}

static void item_read(struct fx_owner *o, struct fx_item *it)
{
    const struct fx *fx = o->fx;
    it->error = 0;
    it->lent = false;
    it->hw = it->lso = it->log_start = -1;
    struct sp_part *p = sp_part_get(it->topic_id, it->partition);
    if (p == NULL) {
        it->error = KERR_NOT_LEADER_OR_FOLLOWER;
        return;
    }
    it->error = sp_part_epoch_error(p, it->leader_epoch);
    if (it->error == 0 && p->log == NULL) {
        it->error = KERR_KAFKA_STORAGE_ERROR;
    }
    if (it->error != 0) {
        /* The fetch answers now: a waiter an earlier round left here goes (no release will). */
        waiters_prune(p, fx->shard, fx->handle, sp_rx_now_ns());
        return;
    }
    sp_part_ref(p);
    it->part = p;
    if (o->wait) {
        waiter_register(p, fx);
    }
    it->hw = sp_plog_high_watermark(p->log);
    it->lso = it->hw; /* no transactions yet: the last stable offset is the high watermark */
    it->log_start = sp_plog_start_offset(p->log);
    uint32_t left = fx->max_bytes > o->sync_bytes ? fx->max_bytes - o->sync_bytes : 0;
    if (left == 0 && o->sync_bytes > 0) {
        /* An earlier partition of this owner filled the response. */
        it->lent = false;
        return;
    }
    it->read = (struct sp_plog_read){
        .done = item_read_done,
        .offset = it->offset,
        .max_bytes = SP_MIN(it->max_bytes, left),
        .isolation = SP_PLOG_READ_HW,
    };
    int rc = sp_plog_read(p->log, &it->read);
    if (rc == 1) {
        o->pending++;
        return;
    }
    item_result(it, rc);
    if (rc == 0) {
        o->sync_bytes += it->read.len;
    }
}

static void owner_read(struct sp_xq_msg *m)
{
    struct fx_owner *o = sp_container_of(m, struct fx_owner, msg);
    struct fx *fx = o->fx;
    o->pending = 0;
    o->sync_bytes = 0;
    for (uint32_t k = o->begin; k < o->end; k++) {
        item_read(o, &fx->items[fx->order[k]]);
    }
    if (o->pending > 0) {
        sp_xq_hold(m); /* item_read_done replies; it never runs inside sp_plog_read */
    }
}

static void owner_release(struct sp_xq_msg *m)
{
    struct fx_owner *o = sp_container_of(m, struct fx_owner, msg);
    struct fx *fx = o->fx;
    for (uint32_t k = o->begin; k < o->end; k++) {
        struct fx_item *it = &fx->items[fx->order[k]];
        if (it->lent) {
            sp_plog_read_release(&it->read);
            it->lent = false;
        }
        if (it->part != NULL) {
            if (o->final) {
                waiters_prune(it->part, fx->shard, fx->handle, sp_rx_now_ns());
            }
            sp_part_unref(it->part);
            it->part = NULL;
        }
    }
}

/* ---- Connection side --------------------------------------------------- */

static struct sp_handles *waiting_table(void)
{
    if (waiting == NULL) {
        struct sp_handles *t = malloc(sizeof(*t));
        if (t == NULL || sp_handles_init(t, FETCH_WAITING_MAX) < 0) {
            free(t);
            return NULL;
        }
        waiting = t;
        sp_fetch_shard_note();
    }
    return waiting;
}

void sp_fetch_shard_fini(void)
{
    sp_fetch_sess_fini();
    if (waiting != NULL) {
        sp_handles_fini(waiting);
        free(waiting);
        waiting = NULL;
    }
}

static void fx_free(struct fx *fx)
{
    SP_ASSERT(fx->inflight == 0 && fx->call == NULL);
    if (fx->may_wait) {
        sp_rx_release();
    }
    free(fx);
}

static void fx_wake(struct fx *fx)
{
    if (fx->phase == FX_WAITING) {
        fx_round(fx);
    } else {
        fx->woken = true; /* a round or release is out: read again after it */
    }
}

static void wake_on_fetch_shard(struct sp_xq_msg *m)
{
    const struct sp_fetch_wait *w = sp_container_of(m, struct sp_fetch_wait, msg);
    struct fx *fx = waiting != NULL ? sp_handles_get(waiting, w->fetch) : NULL;
    if (fx != NULL) {
        fx_wake(fx);
    }
}

/* The timer ticks at least every FETCH_TICK_MS, so that a shutdown need not wait out a long poll.
 */
static int fx_timer_arm(struct fx *fx, uint64_t now_ns);

static void fx_timer_fired(struct sp_timer *t)
{
    struct fx *fx = sp_container_of(t, struct fx, timer);
    uint64_t now_ns = sp_rx_now_ns();
    if (now_ns < fx->deadline_ns && !sp_rx_stopping() && fx_timer_arm(fx, now_ns) == 0) {
        return;
    }
    fx->expired = true;
    if (fx->phase == FX_WAITING) {
        fx_round(fx);
    }
}

static int fx_timer_arm(struct fx *fx, uint64_t now_ns)
{
    uint64_t left_ms = (fx->deadline_ns - now_ns + 999999u) / 1000000u;
    return sp_rx_timer_start(&fx->timer, SP_MIN(left_ms, (uint64_t)FETCH_TICK_MS), fx_timer_fired);
}

/* Keeps the whole batches of records that fit in limit. */
static size_t trim_batches(struct sp_slice rec, size_t limit)
{
    size_t keep = 0;
    while (keep < rec.len) {
        size_t b = sp_batch_size(rec.ptr + keep, rec.len - keep);
        if (b == 0 || b > rec.len - keep || keep + b > limit) {
            break;
        }
        keep += b;
    }
    return keep;
}

/* The bytes of rec before its first zstd batch (all of them when there is none). */
static size_t before_zstd(struct sp_slice rec)
{
    size_t at = 0;
    while (at < rec.len) {
        struct sp_batch_header h;
        size_t b = sp_batch_size(rec.ptr + at, rec.len - at);
        if (b == 0 || b > rec.len - at || sp_batch_header_parse(rec.ptr + at, b, &h) < 0) {
            return rec.len; /* not ours to judge here: passed on as read */
        }
        if ((h.attributes & SP_BATCH_ATTR_CODEC_MASK) == SP_CODEC_ZSTD) {
            return at;
        }
        at += b;
    }
    return at;
}

/* What of its read the item's client may get (see zstd at the top); may set its error. */
static void item_usable(const struct fx *fx, struct fx_item *it)
{
    it->usable = it->read.len;
    if (fx->version >= FETCH_ZSTD_VERSION_MIN) {
        return;
    }
    if (fx->version > FETCH_MSGSET_VERSION_MAX) {
        const struct sp_topic *t = sp_image_topic_by_id(it->topic_id);
        if (t != NULL && t->cfg.compression == SP_CODEC_ZSTD) {
            it->usable = 0;
            it->error = KERR_UNSUPPORTED_COMPRESSION_TYPE;
            it->hw = it->lso = it->log_start = -1;
        }
        return;
    }
    it->usable = (uint32_t)before_zstd(sp_slice_make(it->read.data, it->read.len));
    if (it->usable == 0) {
        it->error = KERR_UNSUPPORTED_COMPRESSION_TYPE;
        it->hw = it->lso = it->log_start = -1;
    }
}

/* Applies the byte limits in request order (see the top); returns the bytes kept. */
static size_t fx_trim(struct fx *fx)
{
    size_t total = 0;
    bool first = true;
    for (uint32_t i = 0; i < fx->nitems; i++) {
        struct fx_item *it = &fx->items[i];
        it->records = sp_slice_make(empty_records, 0);
        it->usable = 0;
        if (it->error != 0 || !it->lent || it->read.len == 0) {
            continue;
        }
        item_usable(fx, it);
        if (it->error != 0) {
            continue;
        }
        struct sp_slice rec = sp_slice_make(it->read.data, it->usable);
        size_t keep = rec.len;
        if (!first) {
            size_t left = fx->max_bytes > total ? fx->max_bytes - total : 0;
            keep = trim_batches(rec, SP_MIN(left, (size_t)it->max_bytes));
        }
        if (keep > 0) {
            first = false;
            it->records = sp_slice_make(rec.ptr, keep);
            total += keep;
        }
    }
    return total;
}

/* ---- Old versions: message sets ---------------------------------------- */

/*
 * One partition's message set as it is built, in the request's arena:
 *
 *   buf [ msg | msg | ... |      free      ]
 *       0              len              cap
 *
 * buf is the arena's newest allocation while the partition converts (the
 * scratch arena is another), so it grows in place.
 */
struct msgset_out {
    struct sp_arena *arena;
    int8_t magic;
    int64_t from;       /* the fetch offset: earlier records are skipped */
    size_t limit;       /* bytes for the partition's messages */
    size_t first_limit; /* ... when it has none yet */
    uint8_t *buf;
    size_t len, cap;
};

/* Room for need more bytes; 0 or -ENOMEM. */
static int msgset_reserve(struct msgset_out *o, size_t need)
{
    if (o->cap - o->len >= need) {
        return 0;
    }
    /* Doubling, but never past what the limits let the set reach. */
    size_t cap = SP_MAX(SP_MAX(o->cap * 2, o->len + need), (size_t)4096);
    cap = SP_MIN(cap, SP_MAX(o->len + need, o->limit));
    uint8_t *b = o->buf == NULL ? sp_arena_alloc(o->arena, cap)
                                : sp_arena_grow(o->arena, o->buf, o->cap, cap);
    if (b == NULL) {
        return -ENOMEM;
    }
    o->buf = b;
    o->cap = cap;
    return 0;
}

/* Appends r as one message; 1 when it does not fit (the set is full), 0, or -errno. */
static int msgset_add(struct msgset_out *o, const struct sp_batch_header *h,
                      const struct sp_record *r)
{
    bool log_append = (h->attributes & SP_BATCH_ATTR_LOG_APPEND_TIME) != 0;
    size_t size = (o->magic == 1 ? SP_MSG_V1_HEADER_BYTES : SP_MSG_V0_HEADER_BYTES) +
                  (r->key.ptr != NULL ? r->key.len : 0) + (r->value.ptr != NULL ? r->value.len : 0);
    if (o->len + size > (o->len == 0 ? o->first_limit : o->limit)) {
        return 1;
    }
    int rc = msgset_reserve(o, size);
    if (rc < 0) {
        return rc;
    }
    /* Magic 1 carries the timestamp type; a log-append-time batch's time is its max timestamp. */
    int8_t attrs = (int8_t)(o->magic == 1 && log_append ? SP_BATCH_ATTR_LOG_APPEND_TIME : 0);
    int n = sp_msgset_append(o->buf + o->len, o->cap - o->len, o->magic, attrs, r->offset,
                             log_append ? h->max_timestamp : r->timestamp, r->key, r->value);
    if (n < 0) {
        return n;
    }
    SP_ASSERT_HOT((size_t)n == size);
    o->len += (size_t)n;
    return 0;
}

/* Converts the batch at buf (size bytes); 1 when the set is full, 0, or -errno. */
static int msgset_add_batch(struct msgset_out *o, const uint8_t *buf, size_t size,
                            struct sp_arena *scratch)
{
    struct sp_batch_header h;
    int rc = sp_batch_validate(buf, size, &h);
    if (rc < 0) {
        return rc;
    }
    if (sp_batch_is_control(&h) || h.base_offset + h.last_offset_delta < o->from) {
        return 0;
    }
    struct sp_slice recs;
    rc = sp_batch_records_decompress(buf, &h, scratch, FETCH_INFLATE_BYTES_MAX, &recs);
    struct sp_record_iter iter;
    struct sp_record r;
    if (rc == 0) {
        sp_record_iter_init(&iter, &h, recs);
    }
    while (rc == 0 && (rc = sp_record_iter_next(&iter, &r)) == 1) {
        rc = r.offset < o->from ? 0 : msgset_add(o, &h, &r);
    }
    sp_arena_reset(scratch);
    return rc;
}

/* The message set of the whole batches in data; 0 or -errno when nothing came of them. */
static int msgset_convert(struct msgset_out *o, struct sp_slice data, struct sp_arena *scratch)
{
    size_t at = 0;
    while (at < data.len) {
        size_t b = sp_batch_size(data.ptr + at, data.len - at);
        int rc =
            b == 0 || b > data.len - at ? -EBADMSG : msgset_add_batch(o, data.ptr + at, b, scratch);
        if (rc == 1) {
            break;
        }
        if (rc < 0) {
            /* Give what converted before the fault; the next fetch starts at it. */
            return o->len > 0 ? 0 : rc;
        }
        at += b;
    }
    return 0;
}

/* Down-converts every partition's data for a v0-3 client (see the top). */
static void fx_to_msgsets(struct fx *fx, struct sp_arena *arena)
{
    struct sp_arena scratch;
    sp_arena_init(&scratch, NULL, 0, FETCH_INFLATE_BYTES_MAX + 4096);
    sp_arena_set_budget(&scratch, sp_rx_mem());
    size_t total = 0;
    for (uint32_t i = 0; i < fx->nitems; i++) {
        struct fx_item *it = &fx->items[i];
        it->records = sp_slice_make(empty_records, 0);
        if (it->error != 0 || !it->lent || it->usable == 0) {
            continue;
        }
        size_t left = fx->max_bytes > total ? fx->max_bytes - total : 0;
        struct msgset_out o = {
            .arena = arena,
            .magic = (int8_t)(fx->version >= 2 ? 1 : 0),
            .from = it->offset,
            .limit = SP_MIN(left, (size_t)it->max_bytes),
            /* v3: KIP-74's first message of the response; v0-2: see the top. */
            .first_limit = total == 0         ? SIZE_MAX
                           : fx->version >= 3 ? SP_MIN(left, (size_t)it->max_bytes)
                                              : left,
        };
        int rc = msgset_convert(&o, sp_slice_make(it->read.data, it->usable), &scratch);
        if (rc < 0) {
            it->error = rc == -EBADMSG    ? KERR_CORRUPT_MESSAGE
                        : rc == -EMSGSIZE ? KERR_MESSAGE_TOO_LARGE
                                          : KERR_UNKNOWN_SERVER_ERROR;
            continue;
        }
        if (o.len > 0) {
            it->records = sp_slice_make(o.buf, o.len);
            total += o.len;
        }
    }
    sp_arena_destroy(&scratch);
}

static bool fx_same_topic(const struct fx_item *a, const struct fx_item *b)
{
    return a->by_id ? memcmp(a->topic_id, b->topic_id, 16) == 0 : sp_str_eq(a->name, b->name);
}

static void part_fill(const struct fx *fx, const struct fx_item *it,
                      struct kproto_fetch_response_partition_data *pd)
{
    *pd = (struct kproto_fetch_response_partition_data){
        .PartitionIndex = it->partition,
        .ErrorCode = it->error,
        .HighWatermark = it->error != 0 ? -1 : it->hw,
        .LastStableOffset = it->error != 0 ? -1 : it->lso,
        .LogStartOffset = it->error != 0 ? -1 : it->log_start,
        .DivergingEpoch = {.Epoch = -1, .EndOffset = -1},
        .CurrentLeader = {.LeaderId = -1, .LeaderEpoch = -1},
        .SnapshotId = {.EndOffset = -1, .Epoch = -1},
        /* Null for read_uncommitted, an empty list for read_committed, as Kafka sends. */
        .AbortedTransactions_count = fx->read_committed ? 0 : -1,
        .PreferredReadReplica = -1,
        .Records = it->error != 0 ? sp_slice_make(empty_records, 0) : it->records,
    };
}

/* Fills the response from the items (records still lent). 0 or -ENOMEM. */
static int fx_fill(struct fx *fx, struct sp_api_call *call)
{
    struct kproto_fetch_response *resp = call->resp;
    if (fx->version <= FETCH_MSGSET_VERSION_MAX) {
        fx_to_msgsets(fx, call->arena);
    }
    resp->ErrorCode = 0;
    resp->SessionId = fx->sess.session_id;
    struct sp_fetch_sess *s =
        fx->sess.cache ? sp_fetch_sess_find(fx->sess.session_id, fx->sess.next_epoch) : NULL;
    struct kproto_fetch_response_partition_data *pd =
        sp_arena_calloc(call->arena, fx->nitems > 0 ? fx->nitems : 1, sizeof(*pd));
    struct kproto_fetch_response_fetchable_topic_response *tr =
        sp_arena_calloc(call->arena, fx->nitems > 0 ? fx->nitems : 1, sizeof(*tr));
    if (pd == NULL || tr == NULL) {
        return -ENOMEM;
    }
    int32_t ntopics = 0, nparts = 0;
    const struct fx_item *prev = NULL;
    for (uint32_t i = 0; i < fx->nitems; i++) {
        const struct fx_item *it = &fx->items[i];
        bool include = true;
        if (s != NULL) {
            int16_t err = it->error;
            include =
                sp_fetch_sess_answered(s, i, err, err != 0 ? -1 : it->hw, err != 0 ? -1 : it->lso,
                                       err != 0 ? -1 : it->log_start, it->records.len) ||
                !fx->sess.incremental;
        }
        if (!include) {
            continue;
        }
        if (prev == NULL || !fx_same_topic(prev, it)) {
            struct kproto_fetch_response_fetchable_topic_response *t = &tr[ntopics++];
            t->Topic = it->by_id ? sp_str_make("") : it->name;
            if (it->by_id) {
                memcpy(t->TopicId.b, it->topic_id, 16);
            }
            t->Partitions = &pd[nparts];
        }
        part_fill(fx, it, &pd[nparts++]);
        tr[ntopics - 1].Partitions_count++;
        prev = it;
    }
    resp->Responses = tr;
    resp->Responses_count = ntopics;
    return 0;
}

static void fx_answer(struct fx *fx)
{
    struct sp_api_call *call = fx->call;
    int rc = fx_fill(fx, call);
    fx->call = NULL;
    fx->phase = FX_ANSWERED;
    if (fx->may_wait) {
        sp_rx_timer_cancel(&fx->timer);
        sp_handles_del(waiting, fx->handle);
    }
    sp_api_done(call, rc); /* the records are copied into the response here */
    fx_release(fx, true);
}

static void fx_gathered(struct fx *fx)
{
    size_t bytes = fx_trim(fx);
    bool error = fx->has_error;
    for (uint32_t i = 0; i < fx->nitems && !error; i++) {
        error = fx->items[i].error != 0;
    }
    if (!fx->may_wait || fx->expired || error || bytes >= (size_t)fx->min_bytes ||
        sp_rx_stopping()) {
        fx_answer(fx);
        return;
    }
    fx_release(fx, false);
}

static void owner_read_back(struct sp_xq_msg *m)
{
    struct fx *fx = sp_container_of(m, struct fx_owner, msg)->fx;
    SP_ASSERT(fx->inflight > 0 && fx->phase == FX_READING);
    if (--fx->inflight == 0) {
        fx_gathered(fx);
    }
}

static void fx_released(struct fx *fx)
{
    if (fx->phase == FX_ANSWERED) {
        fx_free(fx);
    } else if (fx->woken || fx->expired) {
        fx_round(fx);
    } else {
        fx->phase = FX_WAITING;
    }
}

static void owner_release_back(struct sp_xq_msg *m)
{
    struct fx *fx = sp_container_of(m, struct fx_owner, msg)->fx;
    SP_ASSERT(fx->inflight > 0);
    if (--fx->inflight == 0) {
        fx_released(fx);
    }
}

static void fx_send_all(struct fx *fx, sp_xq_fn fn, sp_xq_fn reply_fn, bool final)
{
    for (uint32_t s = 0; s < fx->nshards; s++) {
        struct fx_owner *o = &fx->owners[s];
        if (o->begin == o->end) {
            continue;
        }
        o->msg.fn = fn;
        o->msg.reply_fn = reply_fn;
        o->final = final;
        o->wait = fx->may_wait && !fx->expired;
        fx->inflight++;
        sp_xq_send(s, &o->msg);
    }
}

static void fx_release(struct fx *fx, bool final)
{
    if (fx->phase != FX_ANSWERED) {
        fx->phase = FX_RELEASING;
    }
    fx_send_all(fx, owner_release, owner_release_back, final);
    if (fx->inflight == 0) {
        fx_released(fx);
    }
}

static void fx_round(struct fx *fx)
{
    fx->phase = FX_READING;
    fx->woken = false;
    fx_send_all(fx, owner_read, owner_read_back, false);
    if (fx->inflight == 0) {
        fx_gathered(fx);
    }
}

/* ---- Request ------------------------------------------------------------ */

static uint32_t request_items(const struct kproto_fetch_request *req)
{
    uint64_t n = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        n += (uint64_t)SP_MAX(req->Topics[i].Partitions_count, 0);
    }
    return n > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)n;
}

static void item_init(struct fx *fx, struct fx_item *it, struct sp_str name, const uint8_t id[16],
                      int32_t partition, int64_t offset, int32_t max_bytes, int32_t epoch)
{
    it->fx = fx;
    it->by_id = fx->version >= 13;
    it->name = name;
    if (it->by_id) {
        memcpy(it->topic_id, id, 16);
    }
    it->partition = partition;
    it->offset = offset;
    it->max_bytes = max_bytes > 0 ? (uint32_t)max_bytes : 0;
    it->leader_epoch = epoch;
    it->owner = FETCH_NO_OWNER;
    it->hw = it->lso = it->log_start = -1;
}

/* The items of an incremental fetch: the session's partitions (names copied into the arena). */
static int items_from_session(struct fx *fx, struct sp_arena *arena)
{
    struct sp_fetch_sess *s = sp_fetch_sess_find(fx->sess.session_id, fx->sess.next_epoch);
    SP_ASSERT(s != NULL);
    struct sp_fetch_sess_part *parts;
    uint32_t n = sp_fetch_sess_parts(s, &parts);
    SP_ASSERT(n == fx->nitems);
    for (uint32_t i = 0; i < n; i++) {
        const struct sp_fetch_sess_part *sp = &parts[i];
        struct sp_str name = {"", 0};
        if (sp->name != NULL) {
            char *copy = sp_arena_alloc(arena, (size_t)sp->name_len + 1);
            if (copy == NULL) {
                return -ENOMEM;
            }
            memcpy(copy, sp->name, (size_t)sp->name_len + 1);
            name = (struct sp_str){copy, sp->name_len};
        }
        item_init(fx, &fx->items[i], name, sp->topic_id, sp->partition, sp->fetch_offset,
                  sp->max_bytes, sp->leader_epoch);
    }
    return 0;
}

static void items_from_request(struct fx *fx, const struct kproto_fetch_request *req)
{
    uint32_t k = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_fetch_request_fetch_topic *t = &req->Topics[i];
        for (int32_t j = 0; j < t->Partitions_count && k < fx->nitems; j++) {
            const struct kproto_fetch_request_fetch_partition *rp = &t->Partitions[j];
            item_init(fx, &fx->items[k++], t->Topic, t->TopicId.b, rp->Partition, rp->FetchOffset,
                      rp->PartitionMaxBytes, rp->CurrentLeaderEpoch);
        }
    }
}

/* Finds each item's topic and owning shard in this shard's image. */
static void items_resolve(struct fx *fx)
{
    for (uint32_t i = 0; i < fx->nitems; i++) {
        struct fx_item *it = &fx->items[i];
        const struct sp_topic *t = it->by_id ? sp_image_topic_by_id(it->topic_id)
                                   : it->name.ptr != NULL
                                       ? sp_image_topic(it->name.ptr, (size_t)it->name.len)
                                       : NULL;
        if (t == NULL) {
            it->error = it->by_id ? KERR_UNKNOWN_TOPIC_ID : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        } else if (it->partition < 0 || it->partition >= t->partitions) {
            it->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        } else {
            memcpy(it->topic_id, t->id, 16);
            it->owner = t->part[it->partition].shard;
            if (it->owner >= fx->nshards) {
                it->owner = FETCH_NO_OWNER;
                it->error = KERR_NOT_LEADER_OR_FOLLOWER;
            }
        }
        fx->has_error = fx->has_error || it->error != 0;
    }
}

/* Groups the items by owner (request order within each): a counting sort into fx->order. */
static void items_order(struct fx *fx)
{
    for (uint32_t i = 0; i < fx->nitems; i++) {
        if (fx->items[i].owner != FETCH_NO_OWNER) {
            fx->owners[fx->items[i].owner].end++;
        }
    }
    uint32_t at = 0;
    for (uint32_t s = 0; s < fx->nshards; s++) {
        struct fx_owner *o = &fx->owners[s];
        o->fx = fx;
        uint32_t n = o->end;
        o->begin = o->end = at;
        at += n;
    }
    for (uint32_t i = 0; i < fx->nitems; i++) {
        uint16_t s = fx->items[i].owner;
        if (s != FETCH_NO_OWNER) {
            fx->order[fx->owners[s].end++] = i;
        }
    }
}

static struct fx *fx_alloc(uint32_t nitems, uint32_t nshards)
{
    size_t size = sizeof(struct fx) + (size_t)nitems * (sizeof(struct fx_item) + sizeof(uint32_t)) +
                  (size_t)nshards * sizeof(struct fx_owner) + 64;
    struct fx *fx = calloc(1, size);
    if (fx == NULL) {
        return NULL;
    }
    uint8_t *p = (uint8_t *)(fx + 1);
    fx->owners = (struct fx_owner *)SP_ALIGN_UP((uintptr_t)p, 64);
    fx->items = (struct fx_item *)(fx->owners + nshards);
    fx->order = (uint32_t *)(fx->items + nitems);
    fx->nitems = nitems;
    fx->nshards = nshards;
    return fx;
}

/* Registers fx as a fetch that may wait: a handle, a timer and a hold. */
static void fx_arm_wait(struct fx *fx)
{
    struct sp_handles *t = waiting_table();
    if (t == NULL) {
        return;
    }
    fx->handle = sp_handles_put(t, fx);
    if (fx->handle == SP_HANDLE_NONE) {
        return;
    }
    uint64_t now_ns = sp_rx_now_ns();
    fx->deadline_ns = now_ns + (uint64_t)fx->max_wait_ms * 1000000u;
    if (fx_timer_arm(fx, now_ns) < 0) {
        sp_handles_del(t, fx->handle);
        return;
    }
    fx->may_wait = true;
    sp_rx_hold();
}

int sp_api_fetch(struct sp_api_call *call)
{
    struct kproto_fetch_response *resp = call->resp;
    const struct kproto_fetch_request *req = call->body;
    if (call->error != 0 || req == NULL) {
        resp->ErrorCode = call->error != 0 ? call->error : KERR_INVALID_REQUEST;
        return 0;
    }
    struct sp_fetch_sess_use su;
    int rc = sp_fetch_sess_open(req, call->version >= 13, &su);
    if (rc < 0) {
        return rc;
    }
    if (su.error != 0) {
        resp->ErrorCode = su.error;
        resp->SessionId = 0;
        return 0;
    }
    uint32_t nitems = request_items(req);
    if (su.incremental) {
        struct sp_fetch_sess_part *parts;
        nitems = sp_fetch_sess_parts(sp_fetch_sess_find(su.session_id, su.next_epoch), &parts);
    }
    struct fx *fx = fx_alloc(nitems, sp_rx_shard_count());
    if (fx == NULL) {
        return -ENOMEM;
    }
    fx->call = call;
    fx->shard = (uint16_t)sp_rx_shard_id();
    fx->version = call->version;
    fx->sess = su;
    fx->read_committed = req->IsolationLevel == 1;
    fx->min_bytes = req->MinBytes;
    fx->max_wait_ms = req->MaxWaitMs;
    fx->max_bytes =
        req->MaxBytes > 0 ? SP_MIN((uint32_t)req->MaxBytes, FETCH_RESPONSE_BYTES_MAX) : 0;
    if (su.incremental) {
        if (items_from_session(fx, call->arena) < 0) {
            fx->call = NULL;
            free(fx);
            return -ENOMEM;
        }
    } else {
        items_from_request(fx, req);
    }
    items_resolve(fx);
    items_order(fx);
    if (req->MaxWaitMs > 0 && req->MinBytes > 0 && !fx->has_error) {
        fx_arm_wait(fx);
    }
    bool any_owner = false;
    for (uint32_t s = 0; s < fx->nshards && !any_owner; s++) {
        any_owner = fx->owners[s].end > fx->owners[s].begin;
    }
    if (!any_owner && !fx->may_wait) {
        /* Nothing to read anywhere (errors or no partitions): answer now. */
        fx_trim(fx);
        rc = fx_fill(fx, call);
        fx->call = NULL;
        free(fx);
        return rc;
    }
    if (!any_owner) {
        fx->phase = FX_WAITING; /* an empty fetch waits for its timeout, as Kafka's does */
        return SP_API_PENDING;
    }
    fx_round(fx);
    return SP_API_PENDING;
}
