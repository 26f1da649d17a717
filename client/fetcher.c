/*
 * client/fetcher.c: the fetcher of the client core (client/spc.h, "Fetcher").
 *
 * The fetcher keeps a position per assigned partition and pulls records
 * from each partition's leader with Fetch requests, delivering every record
 * to the caller's callback straight out of the response buffer (no copy, no
 * allocation per record). It runs inside spc_poll, from the done callbacks
 * of its requests; there is no thread of its own.
 *
 *   spc_fetcher ─ topics[] ─ parts[partition id] ─> struct part
 *               │                                    position, fetch_offset,
 *               │                                    hw, log start, epoch
 *               └ brokers[] ─ slots[FETCH_SLOTS] ──> one Fetch each
 *
 * A partition is in at most one request at a time (`inflight`), and each
 * leader broker has at most one fetch on the wire (a broker answers a
 * connection's requests in order: a fetch behind a long poll would wait
 * for it). Each broker has two Fetch slots so that the broker works on the
 * next fetch while the client delivers the last one: when a response
 * arrives, a first pass walks only the batch headers to learn where each
 * partition's next fetch starts (`fetch_offset`) and sends that fetch on
 * the other slot; a second pass validates the batches (CRC, decompression)
 * and delivers the records, advancing `position`. Anything that invalidates the pipelined
 * fetch (a seek, an error, a corrupt batch) bumps the partition's `gen`,
 * and a response for an older gen is dropped.
 *
 * Requests hold references on their partitions (`refs`), so unassigning a
 * partition (even from the callback) only detaches it; it is freed when the
 * last request lets go. spc_fetcher_free likewise waits for its requests'
 * done callbacks (which spc_client_free runs with -ECANCELED at the latest).
 *
 * Partitions assigned at SPC_OFFSET_BEGINNING / END are resolved first with
 * ListOffsets to their leader. Routing comes from the client's metadata
 * cache; errors that mean a stale route refresh it, OFFSET_OUT_OF_RANGE is
 * reported and pauses the partition, other retriable errors back off.
 *
 * Fetches go out on lane FETCH_LANE: a client with `connections` >= 2 keeps
 * the long-polling fetches off lane 0, which producers and admin calls use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "client/spc.h"
#include "protocol/batch.h"
#include "protocol/compress.h"
#include "protocol/kproto.h"
#include "protocol/msgset.h"

#define FETCH_VERSION_MIN        4  /* v2 record batches */
#define FETCH_VERSION_NAMES_MAX  12 /* the last version that names topics */
#define FETCH_VERSION_MAX        17 /* topic ids (v13+) when every topic's id is known */
#define LIST_OFFSETS_VERSION_MIN 1
#define LIST_OFFSETS_VERSION_MAX 10
#define FETCH_SLOTS              2
#define FETCH_LANE               1
/* A fetch's time limit: the broker may hold it max_wait_ms, then this long. */
#define FETCH_TIMEOUT_SLACK_MS 10000
/* Each slot's request arena: a first buffer kept across requests, a limit. */
#define SLOT_ARENA_FIRST_BYTES (16u * 1024)
#define REQ_ARENA_LIMIT_BYTES  (64u * 1024 * 1024)
/* The largest decompressed records section accepted from one batch. */
#define FETCH_DECOMPRESS_MAX (64u * 1024 * 1024)
#define DBUF_MIN_BYTES       (256u * 1024)
/* Partition ids above this are refused by assign (the index is an array). */
#define FETCH_PARTITION_MAX 1000000
/* Back-off after errors, doubling per failure in a row. */
#define FETCH_BACKOFF_MIN_MS 100
#define FETCH_BACKOFF_MAX_MS 1000

enum part_state {
    PART_RESOLVE, /* waiting for ListOffsets to turn reset_to into a position */
    PART_READY,   /* fetching from position */
    PART_PAUSED,  /* stopped after an error; assign again to resume */
};

struct topic;

struct part {
    struct topic *t;
    int32_t id;
    enum part_state state;
    int64_t reset_to;     /* SPC_OFFSET_BEGINNING / END while PART_RESOLVE */
    int64_t position;     /* the next offset to deliver */
    int64_t fetch_offset; /* where the next fetch starts (>= position while pipelining) */
    int64_t hw, lso, log_start;
    int32_t leader, leader_epoch; /* from the metadata cache, at the last routing */
    int32_t max_bytes;            /* PartitionMaxBytes, raised for a batch that did not fit */
    int32_t backoff_ms;
    int64_t retry_at_ms;
    uint32_t gen;      /* bumped by whatever invalidates a request in flight */
    uint32_t refs;     /* requests that hold this partition */
    bool inflight;     /* in a Fetch or ListOffsets being answered */
    bool removed;      /* unassigned; freed when refs drops to 0 */
    bool need_meta;    /* its route is stale: refresh before fetching */
    bool waiting_meta; /* a refresh for it is in flight */
    bool routed;       /* kick's scratch: has a leader now */
};

struct topic {
    char *name; /* owned */
    struct sp_uuid id;
    bool has_id;
    bool meta_listed;    /* kick's scratch: named in the refresh being built */
    struct part **parts; /* [cap], by partition id, NULL when not assigned */
    int32_t cap;
    int32_t count;
};

/* What a response says of one requested partition, between the two passes. */
struct hit {
    struct part *p;
    const struct kproto_fetch_response_partition_data *d;
    uint32_t gen;
    int16_t report; /* a Kafka error to report in the second pass, else 0 */
    bool deliver;
};

struct broker;

struct slot {
    struct spc_call call;
    struct spc_fetcher *f;
    struct broker *b;
    bool busy;             /* sent, until its response is delivered and released */
    bool answered;         /* done has run: delivering */
    struct sp_arena arena; /* the request's arrays and the hits, reset per request */
    uint8_t *arena_first;
    struct kproto_fetch_request req;
    struct part **parts; /* [n], topic by topic as in req */
    uint32_t *gens;
    int32_t *topic_base; /* [req.Topics_count]: index of the topic's first part */
    size_t n;
};

struct broker {
    int32_t node;
    struct slot slots[FETCH_SLOTS];
};

struct lreq {
    struct spc_call call;
    struct spc_fetcher *f;
    struct kproto_list_offsets_request req;
    struct sp_arena arena;
    struct part **parts;
    uint32_t *gens;
    int32_t *topic_base;
    size_t n;
};

struct spc_fetcher {
    struct spc_client *c;
    struct spc_fetcher_config cfg;
    spc_message_fn fn;
    void *ctx;
    struct topic **topics;
    size_t topics_count, topics_cap;
    struct broker **brokers;
    size_t brokers_count, brokers_cap;
    const char **meta_names; /* [topics_cap], a refresh's topic list */
    uint32_t calls;          /* requests and refreshes of ours whose done has not run */
    bool meta_inflight;
    bool closing;
    bool client_gone; /* a done saw -ECANCELED: the client is being freed, send nothing */
    bool kicking, kick_again;
    bool kick_due; /* assign asked for a kick: the next spc_fetcher_tick runs it */
    /* Delivery scratch, reused: headers, decompressed records, legacy sets, aborts. */
    struct spc_header *hdrs;
    size_t hdrs_cap;
    uint8_t *dbuf;
    size_t dbuf_cap;
    struct sp_arena legacy_arena;
    struct kproto_fetch_response_aborted_transaction *aborted;
    size_t aborted_cap;
    int64_t *abort_pids;
    size_t abort_pids_cap;
    /* The partition of the error being reported (spc_fetcher_error_partition). */
    const struct part *err_part;
    int64_t wake_at_ms;               /* the earliest back-off end, -1: none */
    struct spc_fetcher *next_fetcher; /* this thread's fetchers (spc_fetcher_tick) */
};

/* This thread's fetchers, and whether the core calls spc_fetcher_tick. */
static _Thread_local struct spc_fetcher *thread_fetchers;
static _Thread_local bool thread_ticked;

static void fetcher_kick(struct spc_fetcher *f);
static void fetcher_destroy(struct spc_fetcher *f);

/* ---- configuration ---- */

void spc_fetcher_config_init(struct spc_fetcher_config *fc)
{
    memset(fc, 0, sizeof(*fc));
    fc->max_wait_ms = 500;
    fc->min_bytes = 1;
    fc->max_bytes = 50 * 1024 * 1024;
    fc->partition_max_bytes = 1024 * 1024;
    fc->isolation = 0;
}

/* ---- partitions and topics ---- */

static struct topic *topic_find(const struct spc_fetcher *f, const char *name)
{
    for (size_t i = 0; i < f->topics_count; i++) {
        if (strcmp(f->topics[i]->name, name) == 0) {
            return f->topics[i];
        }
    }
    return NULL;
}

static struct topic *topic_add(struct spc_fetcher *f, const char *name)
{
    if (f->topics_count == f->topics_cap) {
        size_t cap = f->topics_cap != 0 ? f->topics_cap * 2 : 8;
        struct topic **t = realloc(f->topics, cap * sizeof(*t));
        if (t == NULL) {
            return NULL;
        }
        f->topics = t;
        const char **names = realloc(f->meta_names, cap * sizeof(*names));
        if (names == NULL) {
            return NULL;
        }
        f->meta_names = names;
        f->topics_cap = cap;
    }
    struct topic *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->name = strdup(name);
    if (t->name == NULL) {
        free(t);
        return NULL;
    }
    f->topics[f->topics_count++] = t;
    return t;
}

static struct part *part_find(const struct spc_fetcher *f, const char *topic, int32_t partition)
{
    if (topic == NULL || partition < 0) {
        return NULL;
    }
    const struct topic *t = topic_find(f, topic);
    if (t == NULL || partition >= t->cap) {
        return NULL;
    }
    return t->parts[partition];
}

static void part_unref(struct part *p)
{
    SP_ASSERT(p->refs > 0);
    p->refs--;
    if (p->removed && p->refs == 0) {
        free(p);
    }
}

/* Detaches p from its topic; frees it unless a request still holds it. */
static void part_remove(struct part *p)
{
    struct topic *t = p->t;
    SP_ASSERT(t->parts[p->id] == p);
    t->parts[p->id] = NULL;
    t->count--;
    p->removed = true;
    p->gen++;
    if (p->refs == 0) {
        free(p);
    }
}

static int64_t now_ms(const struct spc_fetcher *f)
{
    return spc_now_ms(f->c);
}

/* Schedules a retry of p after a growing back-off. */
static void part_backoff(struct spc_fetcher *f, struct part *p)
{
    p->backoff_ms =
        p->backoff_ms == 0 ? FETCH_BACKOFF_MIN_MS : SP_MIN(p->backoff_ms * 2, FETCH_BACKOFF_MAX_MS);
    p->retry_at_ms = now_ms(f) + p->backoff_ms;
}

/* The errors that say the client's route to the partition is stale. */
static bool error_is_stale_route(int16_t code)
{
    switch (code) {
    case KERR_NOT_LEADER_OR_FOLLOWER:
    case KERR_UNKNOWN_TOPIC_OR_PARTITION:
    case KERR_LEADER_NOT_AVAILABLE:
    case KERR_FENCED_LEADER_EPOCH:
    case KERR_UNKNOWN_LEADER_EPOCH:
    case KERR_UNKNOWN_TOPIC_ID:
    case KERR_INCONSISTENT_TOPIC_ID:
    case KERR_FETCH_SESSION_TOPIC_ID_ERROR:
    case KERR_KAFKA_STORAGE_ERROR:
    case KERR_REPLICA_NOT_AVAILABLE:
    case KERR_OFFSET_NOT_AVAILABLE:
    case KERR_PREFERRED_LEADER_NOT_AVAILABLE:
        return true;
    default:
        return false;
    }
}

/* Reports err for p through the callback (m NULL). */
static void report(struct spc_fetcher *f, const struct part *p, const char *broker, int code,
                   int64_t offset)
{
    struct spc_error err;
    const char *what = code > 0 ? kerr_name((int16_t)code) : strerror(-code);
    spc_error_set(&err, code, broker[0] != '\0' ? broker : "-",
                  "topic \"%s\" partition %d offset %lld: %s", p->t->name, p->id, (long long)offset,
                  what);
    f->err_part = p;
    f->fn(f->ctx, NULL, &err);
    f->err_part = NULL;
}

/*
 * What a partition-level Kafka error does to p: a stale route asks for a
 * metadata refresh, OFFSET_OUT_OF_RANGE and other fatal errors pause it
 * (returned: to report), retriable ones back off. Returns the error to
 * report or 0.
 */
static int16_t part_error(struct spc_fetcher *f, struct part *p, int16_t code)
{
    if (error_is_stale_route(code)) {
        p->need_meta = true;
        spc_metadata_stale(f->c, p->t->name);
        part_backoff(f, p);
        return 0;
    }
    if (code != KERR_OFFSET_OUT_OF_RANGE && spc_retriable(code)) {
        part_backoff(f, p);
        return 0;
    }
    p->state = PART_PAUSED;
    p->gen++;
    return code;
}

/* ---- brokers and slots ---- */

static struct broker *broker_get(struct spc_fetcher *f, int32_t node)
{
    for (size_t i = 0; i < f->brokers_count; i++) {
        if (f->brokers[i]->node == node) {
            return f->brokers[i];
        }
    }
    if (f->brokers_count == f->brokers_cap) {
        size_t cap = f->brokers_cap != 0 ? f->brokers_cap * 2 : 4;
        struct broker **b = realloc(f->brokers, cap * sizeof(*b));
        if (b == NULL) {
            return NULL;
        }
        f->brokers = b;
        f->brokers_cap = cap;
    }
    struct broker *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    b->node = node;
    for (int i = 0; i < FETCH_SLOTS; i++) {
        struct slot *s = &b->slots[i];
        s->f = f;
        s->b = b;
        s->arena_first = malloc(SLOT_ARENA_FIRST_BYTES);
        if (s->arena_first == NULL) {
            for (int j = 0; j < i; j++) {
                free(b->slots[j].arena_first);
            }
            free(b);
            return NULL;
        }
        sp_arena_init(&s->arena, s->arena_first, SLOT_ARENA_FIRST_BYTES, REQ_ARENA_LIMIT_BYTES);
    }
    f->brokers[f->brokers_count++] = b;
    return b;
}

/*
 * A free slot of b, or NULL while one of b's fetches is on the wire: a
 * broker answers a connection's requests in order, so a second fetch sent
 * behind a long poll would wait for it, and splitting the partitions
 * between two requests on the wire would make each wait for the other.
 * The second slot is for the fetch that goes out while the last response
 * is being delivered.
 */
static struct slot *broker_free_slot(struct broker *b)
{
    struct slot *free_slot = NULL;
    for (int i = 0; i < FETCH_SLOTS; i++) {
        struct slot *s = &b->slots[i];
        if (s->busy && !s->answered) {
            return NULL;
        }
        if (!s->busy && free_slot == NULL) {
            free_slot = s;
        }
    }
    return free_slot;
}

/* ---- routing (kick) ---- */

static bool part_fetchable(const struct part *p, int32_t node)
{
    return p->routed && p->state == PART_READY && p->leader == node;
}

static bool part_resolvable(const struct part *p, int32_t node)
{
    return p->routed && p->state == PART_RESOLVE && p->leader == node;
}

/*
 * Marks the partitions that can go out now (`routed`) with their leader from
 * the metadata cache. Returns whether some partition needs metadata (*meta)
 * or waits for its back-off (*waiting).
 */
static void kick_route(struct spc_fetcher *f, bool *meta, bool *waiting)
{
    int64_t now = now_ms(f);
    f->wake_at_ms = -1;
    for (size_t i = 0; i < f->topics_count; i++) {
        struct topic *t = f->topics[i];
        if (t->count == 0) {
            continue;
        }
        const struct spc_topic *mt = spc_topic_get(f->c, t->name);
        if (mt != NULL) {
            static const uint8_t zero[16];
            t->has_id = memcmp(mt->id, zero, sizeof(zero)) != 0;
            memcpy(t->id.b, mt->id, sizeof(t->id.b));
        }
        for (int32_t id = 0; id < t->cap; id++) {
            struct part *p = t->parts[id];
            if (p == NULL) {
                continue;
            }
            p->routed = false;
            if (p->state == PART_PAUSED || p->inflight || p->waiting_meta) {
                continue;
            }
            if (p->retry_at_ms > now) {
                *waiting = true;
                if (f->wake_at_ms < 0 || p->retry_at_ms < f->wake_at_ms) {
                    f->wake_at_ms = p->retry_at_ms;
                }
                continue;
            }
            if (mt == NULL || mt->error != 0 || id >= mt->partitions_count ||
                mt->partitions[id].leader < 0) {
                p->need_meta = true;
            }
            if (p->need_meta) {
                *meta = true;
                continue;
            }
            p->leader = mt->partitions[id].leader;
            p->leader_epoch = mt->partitions[id].leader_epoch;
            p->routed = broker_get(f, p->leader) != NULL;
        }
    }
}

static void metadata_done(void *ctx, int rc)
{
    struct spc_fetcher *f = ctx;
    f->client_gone = f->client_gone || rc == -ECANCELED;
    f->meta_inflight = false;
    f->calls--;
    for (size_t i = 0; i < f->topics_count; i++) {
        struct topic *t = f->topics[i];
        for (int32_t id = 0; id < t->cap; id++) {
            if (t->parts[id] != NULL) {
                t->parts[id]->waiting_meta = false;
            }
        }
    }
    if (f->closing) {
        if (f->calls == 0) {
            fetcher_destroy(f);
        }
        return;
    }
    fetcher_kick(f);
}

/*
 * Refreshes the metadata of the topics whose partitions need it (stale
 * routes), or, when `idle` (nothing else of ours in flight and partitions
 * back off, and the core does not call spc_fetcher_tick), of the
 * backing-off ones: the refresh's answer is then what wakes the fetcher
 * up again.
 */
static void kick_metadata(struct spc_fetcher *f, bool idle)
{
    if (f->meta_inflight) {
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < f->topics_count; i++) {
        struct topic *t = f->topics[i];
        t->meta_listed = false;
        for (int32_t id = 0; id < t->cap; id++) {
            struct part *p = t->parts[id];
            if (p == NULL || p->state == PART_PAUSED || p->inflight) {
                continue;
            }
            if (!p->need_meta && !(idle && p->retry_at_ms > 0)) {
                continue;
            }
            p->need_meta = false;
            p->waiting_meta = true;
            if (!t->meta_listed) {
                t->meta_listed = true;
                f->meta_names[n++] = t->name;
            }
        }
    }
    if (n == 0) {
        return;
    }
    f->meta_inflight = true;
    f->calls++;
    int rc = spc_metadata_refresh(f->c, f->meta_names, n, false, metadata_done, f);
    if (rc < 0) {
        /* done will not run: leave the partitions to the next kick. */
        f->meta_inflight = false;
        f->calls--;
        for (size_t i = 0; i < f->topics_count; i++) {
            struct topic *t = f->topics[i];
            for (int32_t id = 0; id < t->cap; id++) {
                if (t->parts[id] != NULL && t->parts[id]->waiting_meta) {
                    t->parts[id]->waiting_meta = false;
                    t->parts[id]->need_meta = true;
                }
            }
        }
    }
}

/* ---- ListOffsets ---- */

static void lreq_free(struct lreq *r)
{
    for (size_t k = 0; k < r->n; k++) {
        part_unref(r->parts[k]);
    }
    sp_arena_destroy(&r->arena);
    free(r);
}

/* The index in parts of the topic's partition, or -1 (first guess: position j). */
static ssize_t req_part_index(struct part *const *parts, int32_t base, int32_t count, int32_t j,
                              int32_t partition)
{
    if (j >= 0 && j < count && parts[base + j]->id == partition) {
        return base + j;
    }
    for (int32_t k = 0; k < count; k++) {
        if (parts[base + k]->id == partition) {
            return base + k;
        }
    }
    return -1;
}

static int64_t
list_offsets_answer(const struct kproto_list_offsets_response_list_offsets_partition_response *d,
                    int16_t version)
{
    if (version == 0) {
        return d->OldStyleOffsets_count > 0 ? d->OldStyleOffsets[0] : -1;
    }
    return d->Offset;
}

static void lreq_apply(struct spc_fetcher *f, struct lreq *r, int32_t ti, int32_t j,
                       const struct kproto_list_offsets_response_list_offsets_partition_response *d)
{
    const struct kproto_list_offsets_request_list_offsets_topic *rt = &r->req.Topics[ti];
    ssize_t k =
        req_part_index(r->parts, r->topic_base[ti], rt->Partitions_count, j, d->PartitionIndex);
    if (k < 0) {
        return;
    }
    struct part *p = r->parts[k];
    if (p->removed || p->gen != r->gens[k] || p->state != PART_RESOLVE) {
        return;
    }
    if (d->ErrorCode != 0) {
        int16_t code = part_error(f, p, d->ErrorCode);
        if (code != 0) {
            report(f, p, r->call.broker, code, p->reset_to);
        }
        return;
    }
    int64_t off = list_offsets_answer(d, r->call.version);
    p->position = p->fetch_offset = off >= 0 ? off : 0;
    p->state = PART_READY;
    p->backoff_ms = 0;
    p->retry_at_ms = 0;
}

static void list_offsets_done(struct spc_call *call, int rc)
{
    struct lreq *r = sp_container_of(call, struct lreq, call);
    struct spc_fetcher *f = r->f;
    f->client_gone = f->client_gone || rc == -ECANCELED;
    for (size_t k = 0; k < r->n; k++) {
        r->parts[k]->inflight = false;
    }
    if (!f->closing && rc < 0) {
        for (size_t k = 0; k < r->n; k++) {
            struct part *p = r->parts[k];
            if (!p->removed && p->gen == r->gens[k] && p->state == PART_RESOLVE) {
                if (rc == -ENOTSUP) {
                    p->state = PART_PAUSED;
                    report(f, p, call->broker, rc, p->reset_to);
                } else {
                    part_backoff(f, p);
                    p->need_meta = true;
                }
            }
        }
    } else if (!f->closing) {
        const struct kproto_list_offsets_response *resp = call->response;
        for (int32_t i = 0; i < resp->Topics_count; i++) {
            const struct kproto_list_offsets_response_list_offsets_topic_response *t =
                &resp->Topics[i];
            for (int32_t ti = 0; ti < r->req.Topics_count; ti++) {
                if (!sp_str_eq(t->Name, r->req.Topics[ti].Name)) {
                    continue;
                }
                for (int32_t j = 0; j < t->Partitions_count; j++) {
                    lreq_apply(f, r, ti, j, &t->Partitions[j]);
                }
                break;
            }
        }
    }
    if (rc == 0) {
        spc_call_release(call);
    }
    lreq_free(r);
    f->calls--;
    if (f->closing) {
        if (f->calls == 0) {
            fetcher_destroy(f);
        }
        return;
    }
    fetcher_kick(f);
}

/* Counts the parts of t that pass `want` for node. */
static int32_t topic_count(const struct topic *t, int32_t node,
                           bool (*want)(const struct part *, int32_t))
{
    int32_t n = 0;
    for (int32_t id = 0; id < t->cap; id++) {
        if (t->parts[id] != NULL && want(t->parts[id], node)) {
            n++;
        }
    }
    return n;
}

static size_t count_wanted(const struct spc_fetcher *f, int32_t node,
                           bool (*want)(const struct part *, int32_t), int32_t *topics)
{
    size_t n = 0;
    *topics = 0;
    for (size_t i = 0; i < f->topics_count; i++) {
        int32_t k = topic_count(f->topics[i], node, want);
        n += (size_t)k;
        *topics += k > 0;
    }
    return n;
}

static int list_offsets_build(struct spc_fetcher *f, struct lreq *r, int32_t node, size_t n,
                              int32_t topics)
{
    struct sp_arena *a = &r->arena;
    kproto_list_offsets_request_init(&r->req);
    r->req.ReplicaId = -1;
    r->req.IsolationLevel = f->cfg.isolation;
    r->req.Topics = sp_arena_calloc(a, (size_t)topics, sizeof(*r->req.Topics));
    r->parts = sp_arena_calloc(a, n, sizeof(*r->parts));
    r->gens = sp_arena_calloc(a, n, sizeof(*r->gens));
    r->topic_base = sp_arena_calloc(a, (size_t)topics, sizeof(*r->topic_base));
    if (r->req.Topics == NULL || r->parts == NULL || r->gens == NULL || r->topic_base == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < f->topics_count; i++) {
        struct topic *t = f->topics[i];
        int32_t cnt = topic_count(t, node, part_resolvable);
        if (cnt == 0) {
            continue;
        }
        struct kproto_list_offsets_request_list_offsets_topic *rt =
            &r->req.Topics[r->req.Topics_count];
        rt->Name = sp_str_make(t->name);
        rt->Partitions = sp_arena_calloc(a, (size_t)cnt, sizeof(*rt->Partitions));
        if (rt->Partitions == NULL) {
            return -ENOMEM;
        }
        r->topic_base[r->req.Topics_count++] = (int32_t)r->n;
        for (int32_t id = 0; id < t->cap; id++) {
            struct part *p = t->parts[id];
            if (p == NULL || !part_resolvable(p, node)) {
                continue;
            }
            struct kproto_list_offsets_request_list_offsets_partition *rp =
                &rt->Partitions[rt->Partitions_count++];
            rp->PartitionIndex = p->id;
            rp->CurrentLeaderEpoch = p->leader_epoch;
            rp->Timestamp = p->reset_to == SPC_OFFSET_BEGINNING ? SPC_TS_EARLIEST : SPC_TS_LATEST;
            rp->MaxNumOffsets = 1;
            r->parts[r->n] = p;
            r->gens[r->n++] = p->gen;
        }
    }
    return 0;
}

static void kick_list_offsets(struct spc_fetcher *f, int32_t node)
{
    int32_t topics;
    size_t n = count_wanted(f, node, part_resolvable, &topics);
    if (n == 0) {
        return;
    }
    struct lreq *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return;
    }
    r->f = f;
    sp_arena_init(&r->arena, NULL, 0, REQ_ARENA_LIMIT_BYTES);
    if (list_offsets_build(f, r, node, n, topics) < 0) {
        r->n = 0;
        lreq_free(r);
        return;
    }
    for (size_t k = 0; k < r->n; k++) {
        r->parts[k]->inflight = true;
        r->parts[k]->refs++;
    }
    r->call.api_key = KPROTO_API_KEY_LIST_OFFSETS;
    r->call.min_version = LIST_OFFSETS_VERSION_MIN;
    r->call.max_version = LIST_OFFSETS_VERSION_MAX;
    r->call.node = node;
    r->call.request = &r->req;
    r->call.retry_transport = true;
    r->call.done = list_offsets_done;
    r->call.ctx = r;
    f->calls++;
    if (spc_send(f->c, &r->call) < 0) {
        f->calls--;
        for (size_t k = 0; k < r->n; k++) {
            r->parts[k]->inflight = false;
            part_backoff(f, r->parts[k]);
        }
        lreq_free(r);
    }
}

/* ---- Fetch: building ---- */

static int fetch_build(struct spc_fetcher *f, struct slot *s, int32_t node, size_t n,
                       int32_t topics, bool *all_ids)
{
    struct sp_arena *a = &s->arena;
    struct kproto_fetch_request *req = &s->req;
    kproto_fetch_request_init(req);
    req->ReplicaId = -1;
    req->MaxWaitMs = f->cfg.max_wait_ms;
    req->MinBytes = f->cfg.min_bytes;
    req->MaxBytes = f->cfg.max_bytes;
    req->IsolationLevel = f->cfg.isolation;
    req->SessionId = 0;
    req->SessionEpoch = -1;
    req->Topics = sp_arena_calloc(a, (size_t)topics, sizeof(*req->Topics));
    s->parts = sp_arena_calloc(a, n, sizeof(*s->parts));
    s->gens = sp_arena_calloc(a, n, sizeof(*s->gens));
    s->topic_base = sp_arena_calloc(a, (size_t)topics, sizeof(*s->topic_base));
    if (req->Topics == NULL || s->parts == NULL || s->gens == NULL || s->topic_base == NULL) {
        return -ENOMEM;
    }
    *all_ids = true;
    for (size_t i = 0; i < f->topics_count; i++) {
        struct topic *t = f->topics[i];
        int32_t cnt = topic_count(t, node, part_fetchable);
        if (cnt == 0) {
            continue;
        }
        struct kproto_fetch_request_fetch_topic *rt = &req->Topics[req->Topics_count];
        rt->Topic = sp_str_make(t->name);
        rt->TopicId = t->id;
        *all_ids = *all_ids && t->has_id;
        rt->Partitions = sp_arena_calloc(a, (size_t)cnt, sizeof(*rt->Partitions));
        if (rt->Partitions == NULL) {
            return -ENOMEM;
        }
        s->topic_base[req->Topics_count++] = (int32_t)s->n;
        for (int32_t id = 0; id < t->cap; id++) {
            struct part *p = t->parts[id];
            if (p == NULL || !part_fetchable(p, node)) {
                continue;
            }
            struct kproto_fetch_request_fetch_partition *rp =
                &rt->Partitions[rt->Partitions_count++];
            rp->Partition = p->id;
            rp->CurrentLeaderEpoch = p->leader_epoch;
            rp->FetchOffset = p->fetch_offset;
            rp->LastFetchedEpoch = -1;
            rp->LogStartOffset = -1;
            rp->PartitionMaxBytes = p->max_bytes;
            s->parts[s->n] = p;
            s->gens[s->n++] = p->gen;
        }
    }
    return 0;
}

static void fetch_done(struct spc_call *call, int rc);

static void kick_fetch(struct spc_fetcher *f, struct broker *b)
{
    struct slot *s = broker_free_slot(b);
    if (s == NULL) {
        return;
    }
    int32_t topics;
    size_t n = count_wanted(f, b->node, part_fetchable, &topics);
    if (n == 0) {
        return;
    }
    sp_arena_reset(&s->arena);
    s->n = 0;
    bool all_ids;
    if (fetch_build(f, s, b->node, n, topics, &all_ids) < 0) {
        s->n = 0;
        return;
    }
    for (size_t k = 0; k < s->n; k++) {
        s->parts[k]->inflight = true;
        s->parts[k]->refs++;
    }
    memset(&s->call, 0, sizeof(s->call));
    s->call.api_key = KPROTO_API_KEY_FETCH;
    s->call.min_version = FETCH_VERSION_MIN;
    s->call.max_version = all_ids ? FETCH_VERSION_MAX : FETCH_VERSION_NAMES_MAX;
    s->call.node = b->node;
    s->call.request = &s->req;
    s->call.retry_transport = true;
    s->call.timeout_ms = f->cfg.max_wait_ms + FETCH_TIMEOUT_SLACK_MS;
    s->call.lane = FETCH_LANE;
    s->call.done = fetch_done;
    s->call.ctx = s;
    s->busy = true;
    s->answered = false;
    f->calls++;
    if (spc_send(f->c, &s->call) < 0) {
        f->calls--;
        s->busy = false;
        for (size_t k = 0; k < s->n; k++) {
            s->parts[k]->inflight = false;
            part_backoff(f, s->parts[k]);
            part_unref(s->parts[k]);
        }
        s->n = 0;
    }
}

static void kick_once(struct spc_fetcher *f)
{
    bool meta = false, waiting = false;
    f->kick_due = false;
    kick_route(f, &meta, &waiting);
    for (size_t i = 0; i < f->brokers_count; i++) {
        kick_list_offsets(f, f->brokers[i]->node);
        kick_fetch(f, f->brokers[i]);
    }
    if (meta || (waiting && f->calls == 0 && !thread_ticked)) {
        kick_metadata(f, !meta);
    }
}

/* Sends what can go out now. Safe to call from any done callback. */
static void fetcher_kick(struct spc_fetcher *f)
{
    if (f->closing || f->client_gone) {
        return;
    }
    if (f->kicking) {
        f->kick_again = true;
        return;
    }
    f->kicking = true;
    do {
        f->kick_again = false;
        kick_once(f);
    } while (f->kick_again && !f->closing);
    f->kicking = false;
}

/* ---- Fetch: the first pass (headers only) ---- */

/*
 * Where the fetch after records (a partition's Records) starts: past the
 * last complete batch. *partial_bytes is the size of a first batch that
 * did not fit (0 when at least one fitted or nothing is there).
 */
static int64_t records_next_offset(struct sp_slice records, int64_t from, size_t *partial_bytes)
{
    const uint8_t *buf = records.ptr;
    size_t rem = records.len;
    int64_t next = from;
    bool any = false;
    *partial_bytes = 0;
    while (rem >= SP_BATCH_MAGIC_OFFSET + 1) {
        size_t size = sp_batch_size(buf, rem);
        if (size == 0) {
            break;
        }
        if (size > rem) {
            if (!any) {
                *partial_bytes = size;
            }
            break;
        }
        int64_t last;
        if (buf[SP_BATCH_MAGIC_OFFSET] == SP_BATCH_MAGIC) {
            struct sp_batch_header h;
            if (sp_batch_header_parse(buf, size, &h) < 0) {
                break;
            }
            last = sp_batch_last_offset(&h);
        } else {
            /* A legacy message (set entry): its offset is its last one. */
            last =
                (int64_t)((uint64_t)buf[0] << 56 | (uint64_t)buf[1] << 48 | (uint64_t)buf[2] << 40 |
                          (uint64_t)buf[3] << 32 | (uint64_t)buf[4] << 24 | (uint64_t)buf[5] << 16 |
                          (uint64_t)buf[6] << 8 | (uint64_t)buf[7]);
        }
        if (last + 1 > next) {
            next = last + 1;
        }
        any = true;
        buf += size;
        rem -= size;
    }
    return next;
}

/* Matches the response's partitions to the request's (hits) and runs pass 1. */
static size_t fetch_match(struct slot *s, const struct kproto_fetch_response *resp,
                          struct hit *hits)
{
    size_t nh = 0;
    bool by_id = s->call.version >= 13;
    for (int32_t i = 0; i < resp->Responses_count; i++) {
        const struct kproto_fetch_response_fetchable_topic_response *t = &resp->Responses[i];
        int32_t ti = -1;
        for (int32_t x = 0; x < s->req.Topics_count && ti < 0; x++) {
            const struct kproto_fetch_request_fetch_topic *rt = &s->req.Topics[x];
            bool same = by_id ? memcmp(t->TopicId.b, rt->TopicId.b, sizeof(rt->TopicId.b)) == 0
                              : sp_str_eq(t->Topic, rt->Topic);
            if (same) {
                ti = x;
            }
        }
        if (ti < 0) {
            continue;
        }
        for (int32_t j = 0; j < t->Partitions_count && nh < s->n; j++) {
            const struct kproto_fetch_response_partition_data *d = &t->Partitions[j];
            ssize_t k = req_part_index(s->parts, s->topic_base[ti],
                                       s->req.Topics[ti].Partitions_count, j, d->PartitionIndex);
            if (k < 0) {
                continue;
            }
            struct part *p = s->parts[k];
            if (p->removed || p->gen != s->gens[k] || p->state != PART_READY) {
                continue;
            }
            struct hit *h = &hits[nh++];
            h->p = p;
            h->d = d;
            h->gen = s->gens[k];
            h->report = 0;
            h->deliver = false;
        }
    }
    return nh;
}

static void fetch_first_pass(struct spc_fetcher *f, struct hit *h, int16_t top_error)
{
    struct part *p = h->p;
    const struct kproto_fetch_response_partition_data *d = h->d;
    int16_t code = top_error != 0 ? top_error : d->ErrorCode;
    if (d->HighWatermark >= 0) {
        p->hw = d->HighWatermark;
    }
    if (d->LastStableOffset >= 0) {
        p->lso = d->LastStableOffset;
    }
    if (d->LogStartOffset >= 0) {
        p->log_start = d->LogStartOffset;
    }
    if (code != 0) {
        h->report = part_error(f, p, code);
        return;
    }
    p->backoff_ms = 0;
    p->retry_at_ms = 0;
    if (d->Records.ptr == NULL || d->Records.len == 0) {
        return;
    }
    size_t partial;
    int64_t next = records_next_offset(d->Records, p->fetch_offset, &partial);
    if (partial > 0 && (size_t)p->max_bytes < partial) {
        /* A batch larger than PartitionMaxBytes: ask for all of it next time. */
        size_t want = SP_MAX(partial, (size_t)p->max_bytes * 2);
        p->max_bytes = (int32_t)SP_MIN(want, (size_t)INT32_MAX);
    }
    p->fetch_offset = next;
    h->deliver = true;
}

/* ---- Fetch: the second pass (delivery) ---- */

struct deliver_ctx {
    struct spc_fetcher *f;
    struct part *p;
    uint32_t gen;
    const char *broker;
    /* read_committed: aborted transactions by first offset, and the open ones. */
    const struct kproto_fetch_response_aborted_transaction *aborted;
    size_t aborted_n, aborted_next;
    size_t pids_n;
};

static bool part_stopped(const struct deliver_ctx *dc)
{
    return dc->p->removed || dc->p->gen != dc->gen || dc->p->state != PART_READY || dc->f->closing;
}

static int headers_grow(struct spc_fetcher *f, size_t want)
{
    if (want <= f->hdrs_cap) {
        return 0;
    }
    size_t cap = SP_MAX(want, f->hdrs_cap * 2);
    struct spc_header *h = realloc(f->hdrs, cap * sizeof(*h));
    if (h == NULL) {
        return -ENOMEM;
    }
    f->hdrs = h;
    f->hdrs_cap = cap;
    return 0;
}

static void deliver_stop(struct deliver_ctx *dc, int code, int64_t offset)
{
    dc->p->state = PART_PAUSED;
    dc->p->gen++;
    report(dc->f, dc->p, dc->broker, code, offset);
}

/* Delivers one record of batch h; returns 0, or -1 to stop the partition. */
static int deliver_record(struct deliver_ctx *dc, const struct sp_batch_header *h,
                          const struct sp_record *rec)
{
    struct spc_fetcher *f = dc->f;
    struct part *p = dc->p;
    if (rec->headers_count < 0 || (size_t)rec->headers_count > rec->headers.len ||
        headers_grow(f, (size_t)rec->headers_count) < 0) {
        deliver_stop(dc, KERR_CORRUPT_MESSAGE, rec->offset);
        return -1;
    }
    size_t pos = 0, n = 0;
    struct sp_record_header rh;
    int rc;
    while ((rc = sp_record_headers_next(rec, &pos, &rh)) == 1 && n < (size_t)rec->headers_count) {
        f->hdrs[n].key = rh.key;
        f->hdrs[n].value = rh.value;
        n++;
    }
    if (rc < 0) {
        deliver_stop(dc, KERR_CORRUPT_MESSAGE, rec->offset);
        return -1;
    }
    bool lat = (h->attributes & SP_BATCH_ATTR_LOG_APPEND_TIME) != 0;
    struct spc_message m = {
        .topic = p->t->name,
        .partition = p->id,
        .offset = rec->offset,
        .timestamp = lat ? h->max_timestamp : rec->timestamp,
        .log_append_time = lat,
        .key = rec->key,
        .value = rec->value,
        .headers = f->hdrs,
        .headers_count = n,
    };
    p->position = rec->offset + 1;
    f->fn(f->ctx, &m, NULL);
    return part_stopped(dc) ? -1 : 0;
}

/* The records section of batch buf, decompressed into f->dbuf when needed. */
static int batch_records(struct spc_fetcher *f, const uint8_t *buf, const struct sp_batch_header *h,
                         struct sp_slice *out)
{
    struct sp_slice raw = sp_batch_records(buf, h);
    enum sp_codec codec = sp_batch_codec(h);
    if (codec == SP_CODEC_NONE) {
        *out = raw;
        return 0;
    }
    if (f->dbuf_cap < DBUF_MIN_BYTES || f->dbuf_cap < raw.len * 4) {
        size_t cap = SP_MIN(SP_MAX((size_t)DBUF_MIN_BYTES, raw.len * 4), FETCH_DECOMPRESS_MAX);
        if (cap > f->dbuf_cap) {
            uint8_t *b = realloc(f->dbuf, cap);
            if (b == NULL) {
                return -ENOMEM;
            }
            f->dbuf = b;
            f->dbuf_cap = cap;
        }
    }
    for (;;) {
        long n = sp_decompress(codec, raw.ptr, raw.len, f->dbuf, f->dbuf_cap);
        if (n >= 0) {
            *out = sp_slice_make(f->dbuf, (size_t)n);
            return 0;
        }
        if (n != -EMSGSIZE || f->dbuf_cap >= FETCH_DECOMPRESS_MAX) {
            return (int)n;
        }
        size_t cap = SP_MIN(f->dbuf_cap * 4, (size_t)FETCH_DECOMPRESS_MAX);
        uint8_t *b = realloc(f->dbuf, cap);
        if (b == NULL) {
            return -ENOMEM;
        }
        f->dbuf = b;
        f->dbuf_cap = cap;
    }
}

static bool pid_open(const struct deliver_ctx *dc, int64_t pid, size_t *at)
{
    for (size_t i = 0; i < dc->pids_n; i++) {
        if (dc->f->abort_pids[i] == pid) {
            *at = i;
            return true;
        }
    }
    return false;
}

/*
 * read_committed: whether the data batch h belongs to an aborted
 * transaction, tracking the open aborted transactions (the response's
 * list, by first offset) and the ABORT markers that close them.
 */
static bool batch_aborted(struct deliver_ctx *dc, const struct sp_batch_header *h,
                          struct sp_slice records)
{
    if (dc->f->cfg.isolation != 1 || h->producer_id < 0) {
        return false;
    }
    while (dc->aborted_next < dc->aborted_n &&
           dc->aborted[dc->aborted_next].FirstOffset <= sp_batch_last_offset(h)) {
        int64_t pid = dc->aborted[dc->aborted_next++].ProducerId;
        size_t at;
        if (!pid_open(dc, pid, &at)) {
            dc->f->abort_pids[dc->pids_n++] = pid;
        }
    }
    size_t at = 0;
    bool open = pid_open(dc, h->producer_id, &at);
    if (sp_batch_is_control(h)) {
        struct sp_record_iter it;
        struct sp_record rec;
        sp_record_iter_init(&it, h, records);
        bool abort_marker = sp_record_iter_next(&it, &rec) == 1 && rec.key.ptr != NULL &&
                            rec.key.len >= 4 && rec.key.ptr[2] == 0 && rec.key.ptr[3] == 0;
        if (abort_marker && open) {
            dc->f->abort_pids[at] = dc->f->abort_pids[--dc->pids_n];
        }
        return false;
    }
    return open && sp_batch_is_transactional(h);
}

/* Delivers the records of one validated v2 batch. Returns 0 or -1 (stopped). */
static int deliver_batch(struct deliver_ctx *dc, const uint8_t *buf,
                         const struct sp_batch_header *h)
{
    struct part *p = dc->p;
    int64_t last = sp_batch_last_offset(h);
    if (last < p->position) {
        return 0;
    }
    struct sp_slice records;
    int rc = batch_records(dc->f, buf, h, &records);
    if (rc < 0) {
        deliver_stop(dc, sp_compress_kafka_error(rc), h->base_offset);
        return -1;
    }
    bool skip = batch_aborted(dc, h, records) || sp_batch_is_control(h);
    if (!skip) {
        struct sp_record_iter it;
        struct sp_record rec;
        sp_record_iter_init(&it, h, records);
        while ((rc = sp_record_iter_next(&it, &rec)) == 1) {
            if (rec.offset >= p->position && deliver_record(dc, h, &rec) < 0) {
                return -1;
            }
        }
        if (rc < 0) {
            deliver_stop(dc, KERR_CORRUPT_MESSAGE, p->position);
            return -1;
        }
    }
    if (last + 1 > p->position) {
        p->position = last + 1;
    }
    return 0;
}

static int deliver_legacy_msg(void *ctx, const struct sp_legacy_msg *lm)
{
    struct deliver_ctx *dc = ctx;
    if (lm->offset < dc->p->position) {
        return 0;
    }
    struct spc_message m = {
        .topic = dc->p->t->name,
        .partition = dc->p->id,
        .offset = lm->offset,
        .timestamp = lm->timestamp,
        .log_append_time = lm->log_append_time,
        .key = lm->key,
        .value = lm->value,
        .headers = NULL,
        .headers_count = 0,
    };
    dc->p->position = lm->offset + 1;
    dc->f->fn(dc->f->ctx, &m, NULL);
    return part_stopped(dc) ? 1 : 0;
}

/* A legacy message (magic 0/1; one entry, maybe a compressed wrapper). */
static int deliver_legacy(struct deliver_ctx *dc, const uint8_t *buf, size_t size)
{
    sp_arena_reset(&dc->f->legacy_arena);
    int rc = sp_msgset_walk(buf, size, &dc->f->legacy_arena, FETCH_DECOMPRESS_MAX,
                            deliver_legacy_msg, dc);
    if (rc == 1) {
        return -1;
    }
    if (rc < 0) {
        deliver_stop(dc, KERR_CORRUPT_MESSAGE, dc->p->position);
        return -1;
    }
    return 0;
}

static int aborted_cmp(const void *a, const void *b)
{
    const struct kproto_fetch_response_aborted_transaction *x = a, *y = b;
    return (x->FirstOffset > y->FirstOffset) - (x->FirstOffset < y->FirstOffset);
}

/* Prepares read_committed's list of aborted transactions (sorted copy). */
static int aborted_prepare(struct deliver_ctx *dc,
                           const struct kproto_fetch_response_partition_data *d)
{
    struct spc_fetcher *f = dc->f;
    dc->aborted_n = 0;
    dc->aborted_next = 0;
    dc->pids_n = 0;
    if (f->cfg.isolation != 1 || d->AbortedTransactions_count <= 0) {
        return 0;
    }
    size_t n = (size_t)d->AbortedTransactions_count;
    if (n > f->aborted_cap) {
        void *a = realloc(f->aborted, n * sizeof(*f->aborted));
        if (a == NULL) {
            return -ENOMEM;
        }
        f->aborted = a;
        void *pids = realloc(f->abort_pids, n * sizeof(*f->abort_pids));
        if (pids == NULL) {
            return -ENOMEM;
        }
        f->abort_pids = pids;
        f->aborted_cap = n;
    }
    memcpy(f->aborted, d->AbortedTransactions, n * sizeof(*f->aborted));
    qsort(f->aborted, n, sizeof(*f->aborted), aborted_cmp);
    dc->aborted = f->aborted;
    dc->aborted_n = n;
    return 0;
}

static void deliver_partition(struct spc_fetcher *f, const struct hit *h, const char *broker)
{
    struct deliver_ctx dc = {.f = f, .p = h->p, .gen = h->gen, .broker = broker};
    if (part_stopped(&dc)) {
        return;
    }
    if (aborted_prepare(&dc, h->d) < 0) {
        deliver_stop(&dc, -ENOMEM, h->p->position);
        return;
    }
    const uint8_t *buf = h->d->Records.ptr;
    size_t rem = h->d->Records.len;
    while (rem >= SP_BATCH_MAGIC_OFFSET + 1) {
        size_t size = sp_batch_size(buf, rem);
        if (size == 0 || size > rem) {
            break; /* a partial batch at the end: fetched again next time */
        }
        int rc;
        if (buf[SP_BATCH_MAGIC_OFFSET] == SP_BATCH_MAGIC) {
            struct sp_batch_header bh;
            if (sp_batch_validate(buf, size, &bh) < 0) {
                deliver_stop(&dc, KERR_CORRUPT_MESSAGE, h->p->position);
                return;
            }
            rc = deliver_batch(&dc, buf, &bh);
        } else {
            rc = deliver_legacy(&dc, buf, size);
        }
        if (rc < 0) {
            return;
        }
        buf += size;
        rem -= size;
    }
}

static void slot_finish(struct spc_fetcher *f, struct slot *s, bool release)
{
    for (size_t k = 0; k < s->n; k++) {
        part_unref(s->parts[k]);
    }
    s->n = 0;
    if (release) {
        spc_call_release(&s->call);
    }
    s->busy = false;
    f->calls--;
}

static void fetch_failed(struct spc_fetcher *f, struct slot *s, int rc)
{
    for (size_t k = 0; k < s->n; k++) {
        struct part *p = s->parts[k];
        p->inflight = false;
        if (p->removed || p->gen != s->gens[k] || p->state != PART_READY) {
            continue;
        }
        if (rc == -ENOTSUP) {
            p->state = PART_PAUSED;
            report(f, p, s->call.broker, rc, p->position);
            continue;
        }
        /* The broker may be gone for good: its partitions may have moved. */
        p->need_meta = true;
        part_backoff(f, p);
    }
    if (rc != -ENOTSUP && s->n > 0) {
        spc_metadata_stale(f->c, s->parts[0]->t->name);
    }
}

static void fetch_done(struct spc_call *call, int rc)
{
    struct slot *s = sp_container_of(call, struct slot, call);
    struct spc_fetcher *f = s->f;
    f->client_gone = f->client_gone || rc == -ECANCELED;
    s->answered = true;
    if (f->closing || rc < 0) {
        if (!f->closing) {
            fetch_failed(f, s, rc);
        }
        slot_finish(f, s, rc == 0);
        if (f->closing) {
            if (f->calls == 0) {
                fetcher_destroy(f);
            }
            return;
        }
        fetcher_kick(f);
        return;
    }
    const struct kproto_fetch_response *resp = call->response;
    struct hit *hits = sp_arena_calloc(&s->arena, s->n, sizeof(*hits));
    size_t nh = hits != NULL ? fetch_match(s, resp, hits) : 0;
    for (size_t i = 0; i < nh; i++) {
        fetch_first_pass(f, &hits[i], resp->ErrorCode);
    }
    for (size_t k = 0; k < s->n; k++) {
        s->parts[k]->inflight = false;
    }
    /* The next fetches go out before this one's records are delivered. */
    fetcher_kick(f);
    for (size_t i = 0; i < nh && !f->closing; i++) {
        if (hits[i].report != 0) {
            report(f, hits[i].p, call->broker, hits[i].report, hits[i].p->position);
        } else if (hits[i].deliver) {
            deliver_partition(f, &hits[i], call->broker);
        }
    }
    slot_finish(f, s, true);
    if (f->closing) {
        if (f->calls == 0) {
            fetcher_destroy(f);
        }
        return;
    }
    fetcher_kick(f);
}

/* ---- the public calls ---- */

int spc_fetcher_new(struct spc_client *c, const struct spc_fetcher_config *fc, spc_message_fn fn,
                    void *ctx, struct spc_fetcher **out, struct spc_error *err)
{
    *out = NULL;
    if (c == NULL || fn == NULL) {
        spc_error_set(err, -EINVAL, "-", "fetcher: a client and a callback are required");
        return -EINVAL;
    }
    struct spc_fetcher_config cfg;
    if (fc != NULL) {
        cfg = *fc;
    } else {
        spc_fetcher_config_init(&cfg);
    }
    if (cfg.max_wait_ms < 0 || cfg.min_bytes < 0 || cfg.max_bytes <= 0 ||
        cfg.partition_max_bytes <= 0 || (cfg.isolation != 0 && cfg.isolation != 1)) {
        spc_error_set(err, -EINVAL, "-", "fetcher: invalid configuration");
        return -EINVAL;
    }
    struct spc_fetcher *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        spc_error_set(err, -ENOMEM, "-", "fetcher: out of memory");
        return -ENOMEM;
    }
    f->c = c;
    f->cfg = cfg;
    f->fn = fn;
    f->ctx = ctx;
    sp_arena_init(&f->legacy_arena, NULL, 0, FETCH_DECOMPRESS_MAX * 2);
    f->wake_at_ms = -1;
    f->next_fetcher = thread_fetchers;
    thread_fetchers = f;
    *out = f;
    if (err != NULL) {
        err->code = 0;
        err->message[0] = '\0';
    }
    return 0;
}

int spc_fetcher_assign(struct spc_fetcher *f, const char *topic, int32_t partition, int64_t offset)
{
    if (f == NULL || f->closing || topic == NULL || topic[0] == '\0' || partition < 0 ||
        partition > FETCH_PARTITION_MAX || offset < SPC_OFFSET_BEGINNING) {
        return -EINVAL;
    }
    struct topic *t = topic_find(f, topic);
    if (t == NULL && (t = topic_add(f, topic)) == NULL) {
        return -ENOMEM;
    }
    if (partition >= t->cap) {
        int32_t cap = SP_MAX(partition + 1, t->cap * 2);
        struct part **parts = realloc(t->parts, (size_t)cap * sizeof(*parts));
        if (parts == NULL) {
            return -ENOMEM;
        }
        memset(parts + t->cap, 0, (size_t)(cap - t->cap) * sizeof(*parts));
        t->parts = parts;
        t->cap = cap;
    }
    struct part *p = t->parts[partition];
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL) {
            return -ENOMEM;
        }
        p->t = t;
        p->id = partition;
        p->hw = p->lso = p->log_start = -1;
        p->leader = p->leader_epoch = -1;
        p->max_bytes = f->cfg.partition_max_bytes;
        t->parts[partition] = p;
        t->count++;
    }
    /* Assigning again is a seek: a request in flight for it is dropped. */
    p->gen++;
    p->state = offset >= 0 ? PART_READY : PART_RESOLVE;
    p->reset_to = offset;
    p->position = p->fetch_offset = offset >= 0 ? offset : -1;
    p->backoff_ms = 0;
    p->retry_at_ms = 0;
    if (thread_ticked) {
        /* The assignments made before the next poll go out together. */
        f->kick_due = true;
    } else {
        fetcher_kick(f);
    }
    return 0;
}

int spc_fetcher_unassign(struct spc_fetcher *f, const char *topic, int32_t partition)
{
    if (f == NULL) {
        return -EINVAL;
    }
    struct part *p = part_find(f, topic, partition);
    if (p == NULL) {
        return -ENOENT;
    }
    part_remove(p);
    return 0;
}

int64_t spc_fetcher_position(const struct spc_fetcher *f, const char *topic, int32_t partition)
{
    const struct part *p = f != NULL ? part_find(f, topic, partition) : NULL;
    return p != NULL && p->state != PART_RESOLVE ? p->position : -1;
}

int64_t spc_fetcher_high_watermark(const struct spc_fetcher *f, const char *topic,
                                   int32_t partition)
{
    const struct part *p = f != NULL ? part_find(f, topic, partition) : NULL;
    return p != NULL ? p->hw : -1;
}

int spc_fetcher_error_partition(const struct spc_fetcher *f, const char **topic, int32_t *partition)
{
    if (f == NULL || f->err_part == NULL) {
        return -ENOENT;
    }
    *topic = f->err_part->t->name;
    *partition = f->err_part->id;
    return 0;
}

int spc_fetcher_tick(struct spc_client *c)
{
    thread_ticked = true;
    int64_t now = -1;
    int64_t wait = -1;
    struct spc_fetcher *next;
    for (struct spc_fetcher *f = thread_fetchers; f != NULL; f = next) {
        next = f->next_fetcher;
        if (f->c != c || f->closing || (f->wake_at_ms < 0 && !f->kick_due)) {
            continue;
        }
        if (now < 0) {
            now = spc_now_ms(c);
        }
        if (f->kick_due || f->wake_at_ms <= now) {
            fetcher_kick(f);
        }
        if (f->wake_at_ms >= 0) {
            int64_t left = SP_MAX(f->wake_at_ms - now, 0);
            wait = wait < 0 ? left : SP_MIN(wait, left);
        }
    }
    return wait < 0 ? -1 : (int)SP_MIN(wait, (int64_t)INT32_MAX);
}

static void fetcher_destroy(struct spc_fetcher *f)
{
    SP_ASSERT(f->calls == 0);
    for (struct spc_fetcher **pp = &thread_fetchers; *pp != NULL; pp = &(*pp)->next_fetcher) {
        if (*pp == f) {
            *pp = f->next_fetcher;
            break;
        }
    }
    for (size_t i = 0; i < f->brokers_count; i++) {
        for (int j = 0; j < FETCH_SLOTS; j++) {
            SP_ASSERT(!f->brokers[i]->slots[j].busy);
            sp_arena_destroy(&f->brokers[i]->slots[j].arena);
            free(f->brokers[i]->slots[j].arena_first);
        }
        free(f->brokers[i]);
    }
    for (size_t i = 0; i < f->topics_count; i++) {
        free(f->topics[i]->parts);
        free(f->topics[i]->name);
        free(f->topics[i]);
    }
    free(f->brokers);
    free(f->topics);
    free(f->meta_names);
    free(f->hdrs);
    free(f->dbuf);
    free(f->aborted);
    free(f->abort_pids);
    sp_arena_destroy(&f->legacy_arena);
    free(f);
}

void spc_fetcher_free(struct spc_fetcher *f)
{
    if (f == NULL) {
        return;
    }
    SP_ASSERT(!f->closing);
    f->closing = true;
    for (size_t i = 0; i < f->topics_count; i++) {
        struct topic *t = f->topics[i];
        for (int32_t id = 0; id < t->cap; id++) {
            if (t->parts[id] != NULL) {
                part_remove(t->parts[id]);
            }
        }
    }
    if (f->calls == 0) {
        fetcher_destroy(f);
    }
}
