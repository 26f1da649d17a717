/*
 * client/producer.c: the batching producer of client/spc.h.
 *
 *   spc_produce ──> topic known? ──no──> the topic's waiting records (copied
 *        │ yes                           once, replayed when metadata comes)
 *        v
 *   partition's open batch: records encoded in place, v2 format, no
 *        │                  allocation per record
 *        │ batch_bytes reached, or linger_ms passed (or a flush)
 *        v
 *   partition's queue ──drain──> one Produce request per (leader, lane),
 *        ^                       one batch per partition in it
 *        │ retriable error,      │
 *        │ after a backoff       v
 *        └──────────────── response: offsets ──> delivery reports
 *
 * A batch's bytes are built once, when it is first sent: the header (with
 * the producer id and the partition's sequence when idempotent) is written
 * and the records compressed then, and the same bytes go out again on every
 * retry, so a broker recognises a resent batch as a duplicate.
 *
 * Ordering: only the head of a partition's queue is ever sent, and a batch
 * that comes back retriable goes back to the queue in sequence order, so
 * an idempotent partition's batches reach the broker in order (at most 5
 * in flight). Without idempotence, max_inflight 1 keeps order.
 *
 * Memory: a batch owns one buffer (grown by doubling, sized after the
 * partition's previous batch) and one array of delivery callbacks; records
 * are accounted against buffer_bytes from spc_produce until their report.
 * Requests own their small arrays; the batches' bytes are borrowed by the
 * request until its done callback.
 *
 * Time: the core calls spc_producer_tick from every spc_poll; spc_produce,
 * spc_producer_flush and every completion also run the producer, so batches
 * close and go out without a timer of their own. Delivery reports run only
 * from spc_poll (the tick, completions) or from spc_producer_flush/free.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/spc.h"
#include "protocol/batch.h"
#include "protocol/compress.h"
#include "protocol/kproto.h"
#include "protocol/wire.h"

#define PRODUCE_VERSION_MIN     3  /* v2 record batches */
#define PRODUCE_VERSION_MAX     11 /* what our codecs know */
#define INIT_PID_VERSION_MAX    5
#define REQUEST_BYTES_MAX       (32u << 20) /* a request carries batches up to this much */
#define BACKOFF_MS              100         /* first retry backoff, doubling ... */
#define BACKOFF_MAX_MS          1000        /* ... up to this */
#define UNKNOWN_TOPIC_HOLD_MS   1000        /* -ENOENT is answered this long before asking again */
#define EXPIRY_SCAN_MS          50          /* how often queued records are checked for expiry */
#define BATCH_CAP_MIN           4096
#define IDEMPOTENT_INFLIGHT_MAX 5 /* Kafka brokers keep the last 5 batches per producer */
#define PRODUCE_TIMEOUT_MAX_MS  30000
#define RECORD_BYTES_MAX        ((size_t)INT32_MAX / 2)
#define SEQ_MAX                 INT32_MAX
#define POOL_MAX                8 /* idle batch_bytes buffers kept for the next batches */

static_assert(PRODUCE_VERSION_MIN >= 3, "v2 batches need Produce v3");

/* ---- State ------------------------------------------------------------------- */

struct pdr {
    spc_delivery_fn fn;
    void *opaque;
};

struct pbatch {
    struct pbatch *next;          /* partition queue, or a list of batches to fail */
    struct pbatch *lprev, *lnext; /* open batches, oldest first (linger order) */
    struct ppart *part;
    uint8_t *buf; /* SP_BATCH_HEADER_BYTES of header, then the records */
    size_t len, cap;
    struct pdr *dr; /* delivery callbacks, one per record */
    uint32_t dr_cap;
    int32_t count;
    int64_t base_ts, max_ts;
    int64_t linger_at_ms, expire_at_ms;
    size_t accounted; /* bytes against buffer_bytes */
    bool built;       /* header written (and records compressed) */
    bool open;
    bool lingered;      /* linger passed while its partition's queue waited: still filling */
    bool maybe_written; /* an attempt went unanswered */
    int32_t base_seq;   /* SP_NO_SEQUENCE until first sent (idempotent) */
    uint32_t attempts;
    int64_t retry_at_ms;
    /* Why it failed or last failed (retries): code, broker, Kafka's message. */
    int err_code;
    char err_broker[80];
    char err_text[96];
};

struct ppart {
    struct ptopic *topic;
    int32_t id;
    struct pbatch *open;
    struct pbatch *head, *tail; /* closed, waiting to be sent, in order */
    uint32_t inflight;
    bool in_ready;
    bool blocked; /* on the producer's blocked list */
    struct ppart *bnext;
    bool resequence; /* idempotent: renumber the queue once nothing is in flight */
    int32_t next_seq, acked_seq;
    size_t last_len; /* the previous batch's size: the next one starts that big */
    uint32_t last_count;
};

enum topic_state { TOPIC_WAITING, TOPIC_READY, TOPIC_UNKNOWN };

struct pmeta; /* a metadata refresh in flight */

struct ptopic {
    struct ptopic *hnext;
    char *name;
    uint32_t hash;
    enum topic_state state;
    int32_t partitions_count;
    struct ppart *parts;
    int32_t sticky; /* partition of null-key records (sticky per batch) */
    /* Records waiting for metadata, copied (see waiting_add). */
    uint8_t *wbuf;
    size_t wlen, wcap;
    uint64_t wcount;
    int64_t wexpire_at_ms; /* of the oldest */
    struct pmeta *refresh;
    int64_t refresh_at_ms; /* next try while waiting */
    uint32_t refresh_tries;
    int64_t unknown_until_ms;
    struct spc_error unknown_err;
};

struct preq; /* a Produce request in flight */
struct pinit;

struct pbuild {
    int32_t node;
    uint32_t lane;
    struct pbatch **v;
    size_t n, cap;
    size_t bytes;
};

enum pid_state { PID_NONE, PID_ASKING, PID_READY, PID_FAILED };

struct spc_producer {
    struct spc_client *c;
    struct spc_producer_config cfg;
    struct spc_producer *tl_next; /* this thread's producers */
    /* Topics: a chained hash table, and the last one used. */
    struct ptopic **tab;
    size_t tab_size, topics_count;
    struct ptopic *last_topic;
    /* Partitions with queued batches. */
    struct ppart **ready;
    /* Partitions whose open batch outlived its linger while earlier batches
     * waited for an in-flight slot; it closes once they are sent. */
    struct ppart *blocked;
    size_t ready_n, ready_cap;
    /* Open batches, oldest first. */
    struct pbatch *linger_head, *linger_tail;
    struct pbatch *dead; /* failed, their reports still to run */
    /* Buffers of exactly batch_bytes, reused: fresh pages cost a fault each. */
    uint8_t *pool[POOL_MAX];
    size_t pool_n;
    struct pbuild *builds;
    size_t builds_n, builds_cap;
    struct preq *reqs; /* in flight */
    struct pmeta *metas;
    struct pinit *init;
    uint64_t pending; /* records queued or in flight */
    size_t buffered;  /* bytes accounted */
    uint64_t inflight_batches;
    int64_t next_expiry_scan_ms;
    int64_t wake_ms; /* the earliest retry the last drain skipped, or INT64_MAX */
    uint32_t flushing;
    size_t waiting_topics; /* topics with records waiting (a hint: 0 means none) */
    bool kick;             /* batches were closed or came back: drain */
    bool running;
    /* Idempotence. */
    enum pid_state pid_state;
    bool pid_reset; /* a batch's fate is unknown: a new producer id once nothing is in flight */
    int64_t pid;
    int16_t epoch;
    int64_t pid_retry_at_ms;
    uint32_t pid_tries;
    struct spc_error pid_err;
};

struct preq {
    struct spc_call call;
    struct spc_producer *p; /* NULL once the producer is gone */
    struct preq *prev, *next;
    struct kproto_produce_request req;
    struct kproto_produce_request_topic_produce_data *topics;
    struct kproto_produce_request_partition_produce_data *parts;
    struct pbatch **batches; /* sorted by topic, then partition */
    size_t n;
};

struct pmeta {
    struct spc_producer *p; /* NULL once the producer is gone */
    struct ptopic *t;
    struct pmeta *next;
    char *name;
};

struct pinit {
    struct spc_call call;
    struct spc_producer *p;
    struct kproto_init_producer_id_request req;
};

static _Thread_local struct spc_producer *tl_producers;

static void producer_run(struct spc_producer *p);

/* ---- Small helpers ------------------------------------------------------------ */

static int32_t seq_add(int32_t seq, int32_t n)
{
    return (int32_t)(((int64_t)seq + n) % ((int64_t)SEQ_MAX + 1));
}

static int64_t backoff_ms(uint32_t attempts)
{
    int64_t ms = BACKOFF_MS;
    for (uint32_t i = 1; i < attempts && ms < BACKOFF_MAX_MS; i++) {
        ms *= 2;
    }
    return SP_MIN(ms, BACKOFF_MAX_MS);
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

static size_t varint_size(int64_t v)
{
    return sp_uvarlong_size(sp_zigzag64(v));
}

static uint8_t *put_varint(uint8_t *q, int64_t v)
{
    return q + sp_uvarlong_encode(q, sp_zigzag64(v));
}

static size_t nullable_size(struct sp_slice s)
{
    return s.ptr == NULL ? 1 : varint_size((int64_t)s.len) + s.len;
}

static uint8_t *put_nullable(uint8_t *q, struct sp_slice s)
{
    if (s.ptr == NULL) {
        return put_varint(q, -1);
    }
    q = put_varint(q, (int64_t)s.len);
    if (s.len > 0) {
        memcpy(q, s.ptr, s.len);
    }
    return q + s.len;
}

/* A broker's "host:port" for messages when none answered: the first known. */
static void any_broker(struct spc_producer *p, char *out, size_t cap)
{
    size_t n = 0;
    const struct spc_broker *b = spc_brokers(p->c, &n);
    if (b != NULL && n > 0) {
        snprintf(out, cap, "%s:%d", b[0].host, (int)b[0].port);
    } else {
        snprintf(out, cap, "cluster");
    }
}

static const char *code_name(int code, char *tmp, size_t cap)
{
    if (code > 0) {
        return kerr_name((int16_t)code);
    }
    snprintf(tmp, cap, "%s", strerror(-code));
    return tmp;
}

/* ---- Murmur2 (Kafka's default partitioner) --------------------------------------- */

static uint32_t murmur2(const uint8_t *data, size_t len)
{
    const uint32_t m = 0x5bd1e995u;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        const uint8_t *q = data + 4 * i;
        uint32_t k =
            (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    const uint8_t *tail = data + 4 * n4;
    size_t rest = len & 3;
    if (rest == 3) {
        h ^= (uint32_t)tail[2] << 16;
    }
    if (rest >= 2) {
        h ^= (uint32_t)tail[1] << 8;
    }
    if (rest >= 1) {
        h ^= tail[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t spc_partition_for_key(struct sp_slice key, int32_t partitions)
{
    if (partitions <= 0) {
        return -1;
    }
    uint32_t h = murmur2(key.ptr != NULL ? key.ptr : (const uint8_t *)"", key.len);
    return (int32_t)((h & 0x7fffffffu) % (uint32_t)partitions);
}

/* ---- Configuration and life ------------------------------------------------------- */

void spc_producer_config_init(struct spc_producer_config *pc)
{
    memset(pc, 0, sizeof(*pc));
    pc->acks = -1;
    pc->linger_ms = 5;
    pc->batch_bytes = 1 << 20;
    pc->compression = SP_CODEC_NONE;
    pc->idempotent = false;
    pc->delivery_timeout_ms = 120000;
    pc->buffer_bytes = (size_t)64 << 20;
    pc->max_inflight = 5;
    pc->lanes = 1;
}

static int config_check(const struct spc_producer_config *pc, struct spc_error *err)
{
    const char *bad = NULL;
    if (pc->acks != -1 && pc->acks != 0 && pc->acks != 1) {
        bad = "acks must be -1, 0 or 1";
    } else if (pc->idempotent && pc->acks != -1) {
        bad = "an idempotent producer needs acks=-1";
    } else if (pc->linger_ms < 0 || pc->batch_bytes < 256 || pc->delivery_timeout_ms <= 0) {
        bad = "linger_ms >= 0, batch_bytes >= 256 and delivery_timeout_ms > 0 are needed";
    } else if ((unsigned)pc->compression >= SP_CODEC_COUNT) {
        bad = "unknown compression codec";
    } else if (pc->buffer_bytes == 0 || pc->max_inflight == 0) {
        bad = "buffer_bytes and max_inflight must be positive";
    }
    if (bad != NULL) {
        spc_error_set(err, -EINVAL, "producer", "%s", bad);
        return -EINVAL;
    }
    return 0;
}

int spc_producer_new(struct spc_client *c, const struct spc_producer_config *pc,
                     struct spc_producer **out, struct spc_error *err)
{
    *out = NULL;
    struct spc_producer_config cfg;
    if (pc == NULL) {
        spc_producer_config_init(&cfg);
    } else {
        cfg = *pc;
    }
    int rc = config_check(&cfg, err);
    if (rc < 0) {
        return rc;
    }
    if (cfg.lanes == 0) {
        cfg.lanes = 1;
    }
    if (cfg.idempotent && cfg.max_inflight > IDEMPOTENT_INFLIGHT_MAX) {
        cfg.max_inflight = IDEMPOTENT_INFLIGHT_MAX;
    }
    struct spc_producer *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        spc_error_set(err, -ENOMEM, "producer", "out of memory");
        return -ENOMEM;
    }
    p->c = c;
    p->cfg = cfg;
    p->tab_size = 64;
    p->tab = calloc(p->tab_size, sizeof(*p->tab));
    if (p->tab == NULL) {
        free(p);
        spc_error_set(err, -ENOMEM, "producer", "out of memory");
        return -ENOMEM;
    }
    p->pid = SP_NO_PRODUCER_ID;
    p->epoch = SP_NO_PRODUCER_EPOCH;
    p->pid_state = cfg.idempotent ? PID_NONE : PID_READY;
    p->wake_ms = INT64_MAX;
    p->tl_next = tl_producers;
    tl_producers = p;
    *out = p;
    return 0;
}

uint64_t spc_producer_pending(const struct spc_producer *p)
{
    return p->pending;
}

/* ---- Topics ----------------------------------------------------------------------- */

static struct ptopic *topic_find(struct spc_producer *p, const char *name)
{
    struct ptopic *t = p->last_topic;
    if (t != NULL && strcmp(t->name, name) == 0) {
        return t;
    }
    uint32_t h = name_hash(name);
    for (t = p->tab[h & (p->tab_size - 1)]; t != NULL; t = t->hnext) {
        if (t->hash == h && strcmp(t->name, name) == 0) {
            p->last_topic = t;
            return t;
        }
    }
    return NULL;
}

static void topics_grow(struct spc_producer *p)
{
    size_t size = p->tab_size * 2;
    struct ptopic **tab = calloc(size, sizeof(*tab));
    if (tab == NULL) {
        return; /* longer chains, still correct */
    }
    for (size_t i = 0; i < p->tab_size; i++) {
        while (p->tab[i] != NULL) {
            struct ptopic *t = p->tab[i];
            p->tab[i] = t->hnext;
            t->hnext = tab[t->hash & (size - 1)];
            tab[t->hash & (size - 1)] = t;
        }
    }
    free(p->tab);
    p->tab = tab;
    p->tab_size = size;
}

static struct ptopic *topic_add(struct spc_producer *p, const char *name)
{
    size_t len = strlen(name);
    struct ptopic *t = calloc(1, sizeof(*t));
    char *copy = malloc(len + 1);
    if (t == NULL || copy == NULL) {
        free(t);
        free(copy);
        return NULL;
    }
    memcpy(copy, name, len + 1);
    t->name = copy;
    t->hash = name_hash(name);
    t->state = TOPIC_WAITING;
    t->sticky = -1;
    if (p->topics_count >= p->tab_size) {
        topics_grow(p);
    }
    t->hnext = p->tab[t->hash & (p->tab_size - 1)];
    p->tab[t->hash & (p->tab_size - 1)] = t;
    p->topics_count++;
    p->last_topic = t;
    return t;
}

/* Takes the partition count from the cache: 0 when the topic is ready. */
static int topic_resolve(struct spc_producer *p, struct ptopic *t)
{
    const struct spc_topic *mt = spc_topic_get(p->c, t->name);
    if (mt == NULL || mt->partitions_count <= 0) {
        return -EAGAIN;
    }
    if (mt->error != 0 && mt->error != KERR_LEADER_NOT_AVAILABLE) {
        return -EAGAIN;
    }
    struct ppart *parts = calloc((size_t)mt->partitions_count, sizeof(*parts));
    if (parts == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < mt->partitions_count; i++) {
        parts[i].topic = t;
        parts[i].id = i;
    }
    t->parts = parts;
    t->partitions_count = mt->partitions_count;
    t->state = TOPIC_READY;
    return 0;
}

/* ---- Batches ---------------------------------------------------------------------- */

static void batch_free(struct spc_producer *p, struct pbatch *b)
{
    if (p != NULL && b->cap == (size_t)p->cfg.batch_bytes && p->pool_n < POOL_MAX) {
        p->pool[p->pool_n++] = b->buf;
    } else {
        free(b->buf);
    }
    free(b->dr);
    free(b);
}

static void linger_unlink(struct spc_producer *p, struct pbatch *b)
{
    if (b->lprev != NULL) {
        b->lprev->lnext = b->lnext;
    } else {
        p->linger_head = b->lnext;
    }
    if (b->lnext != NULL) {
        b->lnext->lprev = b->lprev;
    } else {
        p->linger_tail = b->lprev;
    }
    b->lprev = b->lnext = NULL;
}

static void ready_add(struct spc_producer *p, struct ppart *pp)
{
    if (pp->in_ready) {
        return;
    }
    if (p->ready_n == p->ready_cap) {
        size_t cap = p->ready_cap ? p->ready_cap * 2 : 64;
        struct ppart **v = realloc(p->ready, cap * sizeof(*v));
        SP_ASSERT(v != NULL); /* a few pointers per partition; nothing sane to do without */
        p->ready = v;
        p->ready_cap = cap;
    }
    p->ready[p->ready_n++] = pp;
    pp->in_ready = true;
}

static void queue_push_tail(struct ppart *pp, struct pbatch *b)
{
    b->next = NULL;
    if (pp->tail != NULL) {
        pp->tail->next = b;
    } else {
        pp->head = b;
    }
    pp->tail = b;
}

/* Puts a batch that came back before the partition's unsent ones and after
 * those with a lower sequence (they were sent earlier). */
static void queue_requeue(struct spc_producer *p, struct ppart *pp, struct pbatch *b)
{
    struct pbatch **at = &pp->head;
    struct pbatch *prev = NULL;
    while (*at != NULL && (*at)->base_seq != SP_NO_SEQUENCE && b->base_seq != SP_NO_SEQUENCE &&
           (*at)->base_seq < b->base_seq) {
        prev = *at;
        at = &(*at)->next;
    }
    b->next = *at;
    *at = b;
    if (b->next == NULL) {
        pp->tail = b;
    }
    (void)prev;
    ready_add(p, pp);
}

static void batch_close(struct spc_producer *p, struct pbatch *b)
{
    struct ppart *pp = b->part;
    SP_ASSERT_HOT(b->open && pp->open == b);
    if (!b->lingered) {
        linger_unlink(p, b);
    }
    b->open = false;
    pp->open = NULL;
    pp->last_len = b->len;
    pp->last_count = (uint32_t)b->count;
    queue_push_tail(pp, b);
    ready_add(p, pp);
}

static struct pbatch *batch_open(struct spc_producer *p, struct ppart *pp, size_t need, int64_t now)
{
    struct pbatch *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    size_t full = (size_t)p->cfg.batch_bytes;
    size_t cap = SP_MAX(pp->last_len, (size_t)BATCH_CAP_MIN);
    cap = cap >= full / 2 ? full : cap; /* a busy partition: a whole (pooled) buffer */
    cap = SP_MAX(cap, SP_BATCH_HEADER_BYTES + need);
    uint32_t dr_cap = SP_MAX(pp->last_count, 16u);
    b->buf = cap == full && p->pool_n > 0 ? p->pool[--p->pool_n] : malloc(cap);
    b->dr = malloc(dr_cap * sizeof(*b->dr));
    if (b->buf == NULL || b->dr == NULL) {
        batch_free(p, b);
        return NULL;
    }
    b->cap = cap;
    b->dr_cap = dr_cap;
    b->len = SP_BATCH_HEADER_BYTES;
    b->part = pp;
    b->open = true;
    b->base_seq = SP_NO_SEQUENCE;
    b->linger_at_ms = now + p->cfg.linger_ms;
    b->expire_at_ms = now + p->cfg.delivery_timeout_ms;
    b->lprev = p->linger_tail;
    if (p->linger_tail != NULL) {
        p->linger_tail->lnext = b;
    } else {
        p->linger_head = b;
    }
    p->linger_tail = b;
    pp->open = b;
    return b;
}

/* Encoded size of r in a batch whose base timestamp is base_ts, as record
 * number `index`; 0 when it cannot be encoded. */
static size_t record_size(const struct spc_record *r, int64_t ts_delta, int32_t index,
                          size_t *body_out)
{
    if (r->key.len > RECORD_BYTES_MAX || r->value.len > RECORD_BYTES_MAX ||
        r->headers_count > INT32_MAX) {
        return 0;
    }
    size_t body = 1 + varint_size(ts_delta) + varint_size(index) + nullable_size(r->key) +
                  nullable_size(r->value) + varint_size((int64_t)r->headers_count);
    for (size_t i = 0; i < r->headers_count; i++) {
        const struct spc_header *h = &r->headers[i];
        if (h->key.len > RECORD_BYTES_MAX || h->value.len > RECORD_BYTES_MAX) {
            return 0;
        }
        body += varint_size((int64_t)h->key.len) + h->key.len + nullable_size(h->value);
    }
    if (body > RECORD_BYTES_MAX) {
        return 0;
    }
    *body_out = body;
    return varint_size((int64_t)body) + body;
}

static void record_put(uint8_t *q, const struct spc_record *r, int64_t ts_delta, int32_t index,
                       size_t body)
{
    q = put_varint(q, (int64_t)body);
    *q++ = 0; /* attributes */
    q = put_varint(q, ts_delta);
    q = put_varint(q, index);
    q = put_nullable(q, r->key);
    q = put_nullable(q, r->value);
    q = put_varint(q, (int64_t)r->headers_count);
    for (size_t i = 0; i < r->headers_count; i++) {
        const struct spc_header *h = &r->headers[i];
        q = put_varint(q, (int64_t)h->key.len);
        if (h->key.len > 0) {
            memcpy(q, h->key.ptr, h->key.len);
        }
        q += h->key.len;
        q = put_nullable(q, h->value);
    }
}

static int batch_reserve(struct spc_producer *p, struct pbatch *b, size_t need)
{
    if (b->len + need > b->cap) {
        size_t cap = b->cap * 2;
        while (cap < b->len + need) {
            cap *= 2;
        }
        if (b->len + need <= (size_t)p->cfg.batch_bytes) {
            cap = SP_MIN(cap, (size_t)p->cfg.batch_bytes);
        }
        uint8_t *buf = realloc(b->buf, cap);
        if (buf == NULL) {
            return -ENOMEM;
        }
        b->buf = buf;
        b->cap = cap;
    }
    if ((uint32_t)b->count == b->dr_cap) {
        struct pdr *dr = realloc(b->dr, (size_t)b->dr_cap * 2 * sizeof(*dr));
        if (dr == NULL) {
            return -ENOMEM;
        }
        b->dr = dr;
        b->dr_cap *= 2;
    }
    return 0;
}

/* ---- Delivery reports -------------------------------------------------------------- */

/* Gives back what b accounted (its reports ran). */
static void batch_settle(struct spc_producer *p, struct pbatch *b)
{
    SP_ASSERT(p->pending >= (uint64_t)b->count && p->buffered >= b->accounted);
    p->pending -= (uint64_t)b->count;
    p->buffered -= b->accounted;
    b->accounted = 0;
    b->count = 0;
}

static void batch_report_ok(struct spc_producer *p, struct pbatch *b, int64_t base_offset)
{
    const char *topic = b->part->topic->name;
    int32_t id = b->part->id;
    for (int32_t i = 0; i < b->count; i++) {
        if (b->dr[i].fn != NULL) {
            b->dr[i].fn(b->dr[i].opaque, topic, id, base_offset >= 0 ? base_offset + i : -1, NULL);
        }
    }
    batch_settle(p, b);
    batch_free(p, b);
}

/* Runs b's reports with its error (b is not freed). */
static void batch_report(struct spc_producer *p, struct pbatch *b)
{
    struct spc_error err;
    /* spc_error_set ends the message with the error's name. */
    spc_error_set(&err, b->err_code, b->err_broker[0] ? b->err_broker : "cluster",
                  "topic \"%s\" partition %d%s%s", b->part->topic->name, (int)b->part->id,
                  b->err_text[0] ? ": " : "", b->err_text);
    for (int32_t i = 0; i < b->count; i++) {
        if (b->dr[i].fn != NULL) {
            b->dr[i].fn(b->dr[i].opaque, b->part->topic->name, b->part->id, -1, &err);
        }
    }
    batch_settle(p, b);
}

/* Marks b failed; its reports run from dead_run (never from spc_produce). */
static void batch_fail(struct spc_producer *p, struct pbatch *b, int code, const char *broker,
                       const char *fmt, ...) SP_PRINTF(5, 6);

static void batch_fail(struct spc_producer *p, struct pbatch *b, int code, const char *broker,
                       const char *fmt, ...)
{
    b->err_code = code;
    if (broker != NULL) {
        snprintf(b->err_broker, sizeof(b->err_broker), "%s", broker);
    }
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->err_text, sizeof(b->err_text), fmt, ap);
        va_end(ap);
    }
    if (b->base_seq != SP_NO_SEQUENCE) {
        if (b->maybe_written) {
            /* The broker may hold it: the batches after it cannot take its
             * sequence, so the producer carries on under a new id. */
            p->pid_reset = true;
        } else {
            /* The broker never took it: the partition's later batches are
             * renumbered from the last acknowledged sequence. */
            b->part->resequence = true;
        }
    }
    b->next = p->dead;
    p->dead = b;
}

static void dead_run(struct spc_producer *p)
{
    while (p->dead != NULL) {
        struct pbatch *b = p->dead;
        p->dead = b->next;
        batch_report(p, b);
        batch_free(p, b);
    }
}

/* ---- Records waiting for their topic's metadata ------------------------------------- */

/* One waiting record in a topic's wbuf: this header (copied unaligned),
 * the key, the value, then per header two int64 lengths (value -1: null)
 * and the bytes. */
struct wrec {
    int64_t ts;
    spc_delivery_fn fn;
    void *opaque;
    int64_t key_len, value_len; /* -1: null */
    int32_t partition;
    uint32_t headers_count;
};

static size_t slice_wlen(struct sp_slice s)
{
    return s.ptr == NULL ? 0 : s.len;
}

static uint8_t *wput(uint8_t *q, const void *src, size_t n)
{
    if (n > 0) {
        memcpy(q, src, n);
    }
    return q + n;
}

/* A record's CreateTime: its own, else the wall clock now (spc_now_ms is
 * monotonic, right for deadlines and wrong for timestamps consumers read). */
static int64_t record_timestamp(const struct spc_record *r)
{
    if (r->timestamp_ms >= 0) {
        return r->timestamp_ms;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int waiting_add(struct spc_producer *p, struct ptopic *t, int32_t partition,
                       const struct spc_record *r, spc_delivery_fn fn, void *opaque, int64_t now)
{
    size_t need = sizeof(struct wrec) + slice_wlen(r->key) + slice_wlen(r->value);
    for (size_t i = 0; i < r->headers_count; i++) {
        need += 16 + r->headers[i].key.len + slice_wlen(r->headers[i].value);
    }
    if (r->headers_count > INT32_MAX || need > RECORD_BYTES_MAX) {
        return -EMSGSIZE;
    }
    if (p->buffered > 0 && p->buffered + need > p->cfg.buffer_bytes) {
        return -ENOBUFS;
    }
    if (t->wlen + need > t->wcap) {
        size_t cap = t->wcap ? t->wcap * 2 : 4096;
        while (cap < t->wlen + need) {
            cap *= 2;
        }
        uint8_t *buf = realloc(t->wbuf, cap);
        if (buf == NULL) {
            return -ENOMEM;
        }
        t->wbuf = buf;
        t->wcap = cap;
    }
    struct wrec w = {
        .ts = record_timestamp(r),
        .fn = fn,
        .opaque = opaque,
        .key_len = r->key.ptr == NULL ? -1 : (int64_t)r->key.len,
        .value_len = r->value.ptr == NULL ? -1 : (int64_t)r->value.len,
        .partition = partition,
        .headers_count = (uint32_t)r->headers_count,
    };
    uint8_t *q = wput(t->wbuf + t->wlen, &w, sizeof(w));
    q = wput(q, r->key.ptr, slice_wlen(r->key));
    q = wput(q, r->value.ptr, slice_wlen(r->value));
    for (size_t i = 0; i < r->headers_count; i++) {
        const struct spc_header *h = &r->headers[i];
        int64_t lens[2] = {(int64_t)h->key.len, h->value.ptr == NULL ? -1 : (int64_t)h->value.len};
        q = wput(q, lens, sizeof(lens));
        q = wput(q, h->key.ptr, h->key.len);
        q = wput(q, h->value.ptr, slice_wlen(h->value));
    }
    SP_ASSERT((size_t)(q - t->wbuf) == t->wlen + need);
    if (t->wcount == 0) {
        t->wexpire_at_ms = now + p->cfg.delivery_timeout_ms;
    }
    t->wlen += need;
    t->wcount++;
    p->pending++;
    p->buffered += need;
    return 0;
}

/* Walks the waiting records: fn(p, t, w, record) for each, then empties wbuf
 * and gives back what was accounted. */
static void waiting_walk(struct spc_producer *p, struct ptopic *t,
                         void (*fn)(struct spc_producer *p, struct ptopic *t, const struct wrec *w,
                                    const struct spc_record *r, const struct spc_error *err),
                         const struct spc_error *err)
{
    uint8_t *buf = t->wbuf;
    size_t len = t->wlen;
    SP_ASSERT(p->pending >= t->wcount && p->buffered >= len);
    p->pending -= t->wcount;
    p->buffered -= len;
    t->wbuf = NULL;
    t->wlen = t->wcap = 0;
    t->wcount = 0;
    struct spc_header hs[16];
    size_t at = 0;
    while (at < len) {
        struct wrec w;
        memcpy(&w, buf + at, sizeof(w));
        at += sizeof(w);
        struct spc_record r = {.timestamp_ms = w.ts};
        r.key =
            sp_slice_make(w.key_len < 0 ? NULL : buf + at, w.key_len < 0 ? 0 : (size_t)w.key_len);
        at += r.key.len;
        r.value = sp_slice_make(w.value_len < 0 ? NULL : buf + at,
                                w.value_len < 0 ? 0 : (size_t)w.value_len);
        at += r.value.len;
        struct spc_header *h =
            w.headers_count <= SP_ARRAY_LEN(hs) ? hs : malloc(w.headers_count * sizeof(*h));
        SP_ASSERT(h != NULL || w.headers_count == 0);
        for (uint32_t i = 0; i < w.headers_count; i++) {
            int64_t lens[2];
            memcpy(lens, buf + at, sizeof(lens));
            at += sizeof(lens);
            h[i].key = sp_slice_make(buf + at, (size_t)lens[0]);
            at += (size_t)lens[0];
            h[i].value =
                sp_slice_make(lens[1] < 0 ? NULL : buf + at, lens[1] < 0 ? 0 : (size_t)lens[1]);
            at += h[i].value.len;
        }
        r.headers = h;
        r.headers_count = w.headers_count;
        fn(p, t, &w, &r, err);
        if (h != hs) {
            free(h);
        }
    }
    free(buf);
}

static void waiting_fail_one(struct spc_producer *p, struct ptopic *t, const struct wrec *w,
                             const struct spc_record *r, const struct spc_error *err)
{
    (void)p;
    (void)r;
    if (w->fn != NULL) {
        w->fn(w->opaque, t->name, w->partition, -1, err);
    }
}

static struct ppart *choose(struct ptopic *t, int32_t partition, struct sp_slice key)
{
    if (partition >= 0) {
        return &t->parts[partition];
    }
    if (key.ptr != NULL) {
        return &t->parts[spc_partition_for_key(key, t->partitions_count)];
    }
    /* Null keys stick to one partition for a batch, then move on. */
    if (t->sticky < 0 || t->parts[t->sticky].open == NULL) {
        t->sticky = (t->sticky + 1) % t->partitions_count;
    }
    return &t->parts[t->sticky];
}

static int append(struct spc_producer *p, struct ppart *pp, const struct spc_record *r,
                  spc_delivery_fn fn, void *opaque, int64_t now, bool force);

static void waiting_replay_one(struct spc_producer *p, struct ptopic *t, const struct wrec *w,
                               const struct spc_record *r, const struct spc_error *unused)
{
    (void)unused;
    struct spc_error err;
    char broker[300];
    int rc = -EINVAL;
    if (w->partition < t->partitions_count) {
        rc =
            append(p, choose(t, w->partition, r->key), r, w->fn, w->opaque, spc_now_ms(p->c), true);
    }
    if (rc < 0 && w->fn != NULL) {
        any_broker(p, broker, sizeof(broker));
        if (rc == -EINVAL) {
            spc_error_set(&err, rc, broker,
                          "topic \"%s\" partition %d: out of range (%d partitions)", t->name,
                          (int)w->partition, (int)t->partitions_count);
        } else {
            spc_error_set(&err, rc, broker, "topic \"%s\"", t->name);
        }
        w->fn(w->opaque, t->name, w->partition, -1, &err);
    }
}

/* ---- Appending ---------------------------------------------------------------------- */

static int append(struct spc_producer *p, struct ppart *pp, const struct spc_record *r,
                  spc_delivery_fn fn, void *opaque, int64_t now, bool force)
{
    int64_t ts = record_timestamp(r);
    struct pbatch *b = pp->open;
    size_t body = 0;
    size_t size = 0;
    if (b != NULL) {
        size = record_size(r, ts - b->base_ts, b->count, &body);
        if (size > 0 && b->len + size > (size_t)p->cfg.batch_bytes) {
            batch_close(p, b);
            p->kick = true;
            b = NULL;
        }
    }
    if (b == NULL) {
        size = record_size(r, 0, 0, &body);
    }
    if (size == 0) {
        return -EMSGSIZE;
    }
    if (!force && p->buffered > 0 && p->buffered + size > p->cfg.buffer_bytes) {
        return -ENOBUFS;
    }
    if (b == NULL) {
        b = batch_open(p, pp, size, now);
        if (b == NULL) {
            return -ENOMEM;
        }
        b->base_ts = ts;
        b->max_ts = ts;
    }
    if (batch_reserve(p, b, size) < 0) {
        return -ENOMEM;
    }
    record_put(b->buf + b->len, r, ts - b->base_ts, b->count, body);
    b->len += size;
    b->dr[b->count].fn = fn;
    b->dr[b->count].opaque = opaque;
    b->count++;
    b->max_ts = SP_MAX(b->max_ts, ts);
    b->accounted += size;
    p->buffered += size;
    p->pending++;
    if (b->len >= (size_t)p->cfg.batch_bytes) {
        batch_close(p, b);
        p->kick = true;
    }
    return 0;
}

/* ---- Metadata ----------------------------------------------------------------------- */

static void topic_replay(struct spc_producer *p, struct ptopic *t)
{
    if (t->wcount > 0) {
        waiting_walk(p, t, waiting_replay_one, NULL);
    }
}

static void topic_set_unknown(struct spc_producer *p, struct ptopic *t, int16_t kerr, int64_t now)
{
    char broker[300];
    any_broker(p, broker, sizeof(broker));
    t->state = TOPIC_UNKNOWN;
    t->unknown_until_ms = now + UNKNOWN_TOPIC_HOLD_MS;
    spc_error_set(&t->unknown_err, -ENOENT, broker, "topic \"%s\" does not exist (%s)", t->name,
                  kerr != 0 ? kerr_name(kerr) : "not in the cluster's metadata");
    if (t->wcount > 0) {
        waiting_walk(p, t, waiting_fail_one, &t->unknown_err);
    }
}

static void topic_refresh(struct spc_producer *p, struct ptopic *t, int64_t now);

static void topic_refresh_done(void *ctx, int rc)
{
    struct pmeta *pm = ctx;
    struct spc_producer *p = pm->p;
    if (p == NULL) {
        free(pm->name);
        free(pm);
        return;
    }
    struct pmeta **at = &p->metas;
    while (*at != pm) {
        at = &(*at)->next;
    }
    *at = pm->next;
    struct ptopic *t = pm->t;
    free(pm->name);
    free(pm);
    t->refresh = NULL;
    if (t->state == TOPIC_WAITING) {
        int64_t now = spc_now_ms(p->c);
        const struct spc_topic *mt = spc_topic_get(p->c, t->name);
        bool running = p->running;
        p->running = true;
        if (topic_resolve(p, t) == 0) {
            topic_replay(p, t);
        } else if (rc == 0 && (mt == NULL || mt->error == KERR_UNKNOWN_TOPIC_OR_PARTITION ||
                               mt->error == KERR_INVALID_TOPIC_EXCEPTION ||
                               mt->error == KERR_TOPIC_AUTHORIZATION_FAILED)) {
            topic_set_unknown(p, t, mt != NULL ? mt->error : 0, now);
        } else {
            t->refresh_tries++;
            t->refresh_at_ms = now + backoff_ms(t->refresh_tries);
        }
        p->running = running;
    }
    producer_run(p);
}

static void topic_refresh(struct spc_producer *p, struct ptopic *t, int64_t now)
{
    if (t->refresh != NULL || now < t->refresh_at_ms) {
        return;
    }
    struct pmeta *pm = calloc(1, sizeof(*pm));
    char *name = pm != NULL ? strdup(t->name) : NULL;
    if (name == NULL) {
        free(pm);
        t->refresh_at_ms = now + BACKOFF_MS;
        return;
    }
    pm->p = p;
    pm->t = t;
    pm->name = name;
    pm->next = p->metas;
    p->metas = pm;
    t->refresh = pm;
    const char *names[1] = {name};
    int rc = spc_metadata_refresh(p->c, names, 1, false, topic_refresh_done, pm);
    if (rc < 0) {
        p->metas = pm->next;
        t->refresh = NULL;
        free(name);
        free(pm);
        t->refresh_tries++;
        t->refresh_at_ms = now + backoff_ms(t->refresh_tries);
    }
}

/* ---- Building and sending ------------------------------------------------------------ */

static void batch_header_write(struct spc_producer *p, struct pbatch *b)
{
    struct sp_batch_params params = {
        .base_offset = 0,
        .partition_leader_epoch = -1,
        .attributes = (int16_t)p->cfg.compression,
        .producer_id = p->cfg.idempotent ? p->pid : SP_NO_PRODUCER_ID,
        .producer_epoch = p->cfg.idempotent ? p->epoch : SP_NO_PRODUCER_EPOCH,
        .base_sequence = b->base_seq,
    };
    int rc = sp_batch_finish(b->buf, &params, b->len - SP_BATCH_HEADER_BYTES, b->count, b->base_ts,
                             b->max_ts);
    SP_ASSERT(rc == (int)b->len);
}

/* Compresses the records once and writes the header: the bytes every
 * attempt sends. 0 or -errno. */
static int batch_build(struct spc_producer *p, struct pbatch *b)
{
    struct ppart *pp = b->part;
    if (p->cfg.compression != SP_CODEC_NONE) {
        size_t raw = b->len - SP_BATCH_HEADER_BYTES;
        size_t bound = sp_compress_bound(p->cfg.compression, raw);
        uint8_t *out = malloc(SP_BATCH_HEADER_BYTES + bound);
        if (out == NULL) {
            return -ENOMEM;
        }
        long n = sp_compress(p->cfg.compression, 0, b->buf + SP_BATCH_HEADER_BYTES, raw,
                             out + SP_BATCH_HEADER_BYTES, bound);
        if (n < 0) {
            free(out);
            return (int)n;
        }
        if (b->cap == (size_t)p->cfg.batch_bytes && p->pool_n < POOL_MAX) {
            p->pool[p->pool_n++] = b->buf;
        } else {
            free(b->buf);
        }
        b->buf = out;
        b->cap = SP_BATCH_HEADER_BYTES + bound;
        b->len = SP_BATCH_HEADER_BYTES + (size_t)n;
    }
    if (p->cfg.idempotent) {
        b->base_seq = pp->next_seq;
        pp->next_seq = seq_add(pp->next_seq, b->count);
    }
    batch_header_write(p, b);
    b->built = true;
    return 0;
}

/* Gives the sequences of a partition's queued batches again from the last
 * one the broker acknowledged (nothing of the partition is in flight). */
static void part_renumber(struct spc_producer *p, struct ppart *pp)
{
    int32_t seq = pp->acked_seq;
    for (struct pbatch *b = pp->head; b != NULL; b = b->next) {
        if (b->built && b->base_seq != SP_NO_SEQUENCE) {
            b->base_seq = seq;
            batch_header_write(p, b);
            seq = seq_add(seq, b->count);
        }
    }
    pp->next_seq = seq;
    pp->resequence = false;
}

static bool kerr_stale(int16_t code)
{
    return code == KERR_UNKNOWN_TOPIC_OR_PARTITION || code == KERR_LEADER_NOT_AVAILABLE ||
           code == KERR_NOT_LEADER_OR_FOLLOWER || code == KERR_FENCED_LEADER_EPOCH ||
           code == KERR_UNKNOWN_LEADER_EPOCH || code == KERR_KAFKA_STORAGE_ERROR ||
           code == KERR_UNKNOWN_TOPIC_ID;
}

static bool kerr_retry(int16_t code)
{
    return kerr_stale(code) || spc_retriable(code) || code == KERR_REQUEST_TIMED_OUT ||
           code == KERR_NOT_ENOUGH_REPLICAS || code == KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND ||
           code == KERR_NETWORK_EXCEPTION;
}

static bool errno_retry(int rc)
{
    return rc != -ECANCELED && rc != -ENOTSUP && rc != -EINVAL && rc != -EMSGSIZE &&
           rc != -ENOMEM && rc != -EPROTO;
}

/* A batch whose attempt failed with a retriable error goes back to its
 * queue after a backoff, unless its delivery timeout passed. */
static void batch_retry(struct spc_producer *p, struct pbatch *b, int code, const char *broker,
                        struct sp_str msg, int64_t now)
{
    if (now >= b->expire_at_ms) {
        char tmp[64];
        char last[96];
        snprintf(last, sizeof(last), "%s", code_name(code, tmp, sizeof(tmp)));
        batch_fail(p, b, -ETIMEDOUT, broker,
                   "not delivered within delivery_timeout_ms=%d (last error: %s)",
                   (int)p->cfg.delivery_timeout_ms, last);
        return;
    }
    b->err_code = code;
    snprintf(b->err_broker, sizeof(b->err_broker), "%s", broker);
    snprintf(b->err_text, sizeof(b->err_text), "%.*s", msg.ptr != NULL ? (int)msg.len : 0,
             msg.ptr != NULL ? msg.ptr : "");
    b->retry_at_ms = SP_MIN(now + backoff_ms(b->attempts), b->expire_at_ms);
    queue_requeue(p, b->part, b);
    p->kick = true;
}

static int batch_cmp(const void *x, const void *y)
{
    const struct pbatch *a = *(const struct pbatch *const *)x;
    const struct pbatch *b = *(const struct pbatch *const *)y;
    if (a->part->topic != b->part->topic) {
        return (uintptr_t)a->part->topic < (uintptr_t)b->part->topic ? -1 : 1;
    }
    return a->part->id < b->part->id ? -1 : a->part->id > b->part->id;
}

static void produce_done(struct spc_call *call, int rc);

static void req_unlink(struct spc_producer *p, struct preq *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        p->reqs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
}

/* Sends the batches collected for one (leader, lane) as one Produce request. */
static void build_send(struct spc_producer *p, struct pbuild *bd, int64_t now)
{
    size_t n = bd->n;
    if (n == 0) {
        return;
    }
    qsort(bd->v, n, sizeof(*bd->v), batch_cmp);
    size_t ntopics = 1;
    int64_t expire = bd->v[0]->expire_at_ms;
    for (size_t i = 1; i < n; i++) {
        ntopics += bd->v[i]->part->topic != bd->v[i - 1]->part->topic;
        expire = SP_MIN(expire, bd->v[i]->expire_at_ms);
    }
    size_t size = sizeof(struct preq) + n * sizeof(struct pbatch *) +
                  n * sizeof(struct kproto_produce_request_partition_produce_data) +
                  ntopics * sizeof(struct kproto_produce_request_topic_produce_data);
    struct preq *r = calloc(1, size);
    if (r == NULL) {
        for (size_t i = 0; i < n; i++) {
            bd->v[i]->part->inflight--;
            p->inflight_batches--;
            batch_retry(p, bd->v[i], -ENOMEM, "producer", (struct sp_str){0}, now);
        }
        bd->n = 0;
        bd->bytes = 0;
        return;
    }
    r->p = p;
    r->batches = (struct pbatch **)(r + 1);
    r->parts = (void *)(r->batches + n);
    r->topics = (void *)(r->parts + n);
    r->n = n;
    size_t ti = 0;
    for (size_t i = 0; i < n; i++) {
        struct pbatch *b = bd->v[i];
        r->batches[i] = b;
        r->parts[i].Index = b->part->id;
        r->parts[i].Records = sp_slice_make(b->buf, b->len);
        if (i == 0 || b->part->topic != bd->v[i - 1]->part->topic) {
            struct kproto_produce_request_topic_produce_data *td = &r->topics[ti++];
            td->Name.ptr = b->part->topic->name;
            td->Name.len = (int32_t)strlen(b->part->topic->name);
            td->PartitionData = &r->parts[i];
        }
        r->topics[ti - 1].PartitionData_count++;
    }
    SP_ASSERT(ti == ntopics);
    int64_t left = expire - now;
    int32_t timeout = (int32_t)SP_MAX(SP_MIN(left, (int64_t)PRODUCE_TIMEOUT_MAX_MS), 1000);
    kproto_produce_request_init(&r->req);
    r->req.Acks = p->cfg.acks;
    r->req.TimeoutMs = timeout;
    r->req.TopicData = r->topics;
    r->req.TopicData_count = (int32_t)ntopics;
    r->call.api_key = KPROTO_API_KEY_PRODUCE;
    r->call.min_version = PRODUCE_VERSION_MIN;
    r->call.max_version = PRODUCE_VERSION_MAX;
    r->call.node = bd->node;
    r->call.request = &r->req;
    r->call.no_response = p->cfg.acks == 0;
    r->call.retry_transport = false; /* resends are ours: the same bytes, after a backoff */
    /* No later than the delivery timeout of its oldest batch (a broker that
     * went silent must not hold records past it), at least a second. */
    r->call.timeout_ms = (int32_t)SP_MAX(SP_MIN(left, (int64_t)timeout + 5000), 1000);
    r->call.lane = bd->lane;
    r->call.done = produce_done;
    r->call.ctx = r;
    r->next = p->reqs;
    if (p->reqs != NULL) {
        p->reqs->prev = r;
    }
    p->reqs = r;
    bd->n = 0;
    bd->bytes = 0;
    int rc = spc_send(p->c, &r->call);
    if (rc < 0) {
        req_unlink(p, r);
        char broker[32];
        snprintf(broker, sizeof(broker), "node %d", (int)r->call.node);
        for (size_t i = 0; i < n; i++) {
            struct pbatch *b = r->batches[i];
            b->part->inflight--;
            p->inflight_batches--;
            if (errno_retry(rc)) {
                batch_retry(p, b, rc, broker, (struct sp_str){0}, now);
            } else {
                batch_fail(p, b, rc, broker, "Produce could not be sent");
            }
        }
        free(r);
    }
}

static struct pbuild *build_for(struct spc_producer *p, int32_t node, uint32_t lane)
{
    for (size_t i = 0; i < p->builds_n; i++) {
        if (p->builds[i].node == node && p->builds[i].lane == lane) {
            return &p->builds[i];
        }
    }
    if (p->builds_n == p->builds_cap) {
        size_t cap = p->builds_cap ? p->builds_cap * 2 : 8;
        struct pbuild *v = realloc(p->builds, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        p->builds = v;
        p->builds_cap = cap;
    }
    struct pbuild *bd = &p->builds[p->builds_n++];
    *bd = (struct pbuild){.node = node, .lane = lane};
    return bd;
}

static int build_add(struct pbuild *bd, struct pbatch *b)
{
    if (bd->n == bd->cap) {
        size_t cap = bd->cap ? bd->cap * 2 : 16;
        struct pbatch **v = realloc(bd->v, cap * sizeof(*v));
        if (v == NULL) {
            return -ENOMEM;
        }
        bd->v = v;
        bd->cap = cap;
    }
    bd->v[bd->n++] = b;
    bd->bytes += b->len;
    return 0;
}

/* Takes the head of pp's queue into the request for its leader, when it
 * may go now. Returns whether it did. */
static bool drain_one(struct spc_producer *p, struct ppart *pp, int64_t now)
{
    struct pbatch *b = pp->head;
    if (b->retry_at_ms > now) {
        p->wake_ms = SP_MIN(p->wake_ms, b->retry_at_ms);
        return false;
    }
    if (pp->inflight >= p->cfg.max_inflight) {
        return false;
    }
    if (pp->resequence) {
        if (pp->inflight > 0) {
            return false;
        }
        part_renumber(p, pp);
    }
    int32_t leader = spc_leader(p->c, pp->topic->name, pp->id);
    if (leader < 0) {
        spc_metadata_stale(p->c, pp->topic->name);
        p->wake_ms = SP_MIN(p->wake_ms, now + BACKOFF_MS);
        return false;
    }
    if (!b->built) {
        int rc = batch_build(p, b);
        if (rc < 0) {
            pp->head = b->next;
            if (pp->head == NULL) {
                pp->tail = NULL;
            }
            batch_fail(p, b, rc, "producer", "the batch could not be built");
            return true;
        }
    }
    struct pbuild *bd = build_for(p, leader, (uint32_t)pp->id % p->cfg.lanes);
    if (bd == NULL) {
        return false;
    }
    if (bd->n > 0 && bd->bytes + b->len > REQUEST_BYTES_MAX) {
        build_send(p, bd, now);
    }
    if (build_add(bd, b) < 0) {
        return false;
    }
    pp->head = b->next;
    if (pp->head == NULL) {
        pp->tail = NULL;
    }
    b->next = NULL;
    b->attempts++;
    pp->inflight++;
    p->inflight_batches++;
    return true;
}

/* Sends what may go now: rounds of one batch per partition, each round's
 * batches grouped into one request per (leader, lane). */
static void drain(struct spc_producer *p, int64_t now)
{
    if (p->pid_state != PID_READY || p->pid_reset) {
        return; /* kick stays set: the producer id's answer drains */
    }
    p->kick = false;
    p->wake_ms = INT64_MAX;
    bool more = true;
    while (more) {
        more = false;
        size_t w = 0;
        for (size_t i = 0; i < p->ready_n; i++) {
            struct ppart *pp = p->ready[i];
            if (pp->head == NULL) {
                pp->in_ready = false;
                continue;
            }
            if (drain_one(p, pp, now) && pp->head != NULL) {
                more = true;
            }
            if (pp->head == NULL && pp->open != NULL && pp->open->lingered) {
                batch_close(p, pp->open); /* its queue went out: it follows */
                more = true;
            }
            if (pp->head != NULL) {
                p->ready[w++] = pp;
            } else {
                pp->in_ready = false;
            }
        }
        p->ready_n = w;
        for (size_t i = 0; i < p->builds_n; i++) {
            build_send(p, &p->builds[i], now);
        }
    }
}

/* ---- Responses ------------------------------------------------------------------------- */

static void batch_answer(struct spc_producer *p, struct pbatch *b, const char *broker,
                         const struct kproto_produce_response_partition_produce_response *pr,
                         int64_t now)
{
    struct ppart *pp = b->part;
    int16_t code = pr->ErrorCode;
    if (code == 0 || (code == KERR_DUPLICATE_SEQUENCE_NUMBER && p->cfg.idempotent)) {
        if (b->base_seq != SP_NO_SEQUENCE) {
            pp->acked_seq = seq_add(b->base_seq, b->count);
        }
        batch_report_ok(p, b, pr->BaseOffset);
        return;
    }
    if (code == KERR_OUT_OF_ORDER_SEQUENCE_NUMBER && b->base_seq != SP_NO_SEQUENCE &&
        b->base_seq != pp->acked_seq) {
        /* An earlier batch of the partition is not acknowledged yet: this
         * one goes again after it. */
        batch_retry(p, b, code, broker, pr->ErrorMessage, now);
        return;
    }
    if (kerr_stale(code)) {
        spc_metadata_stale(p->c, pp->topic->name);
    }
    if (kerr_retry(code)) {
        batch_retry(p, b, code, broker, pr->ErrorMessage, now);
        return;
    }
    if (code == KERR_UNKNOWN_PRODUCER_ID || code == KERR_INVALID_PRODUCER_EPOCH ||
        code == KERR_OUT_OF_ORDER_SEQUENCE_NUMBER) {
        /* The broker lost or refused this producer's state: carry on under
         * a new producer id once nothing is in flight. */
        p->pid_reset = p->cfg.idempotent;
    }
    batch_fail(p, b, code, broker, "%.*s",
               pr->ErrorMessage.ptr != NULL ? (int)pr->ErrorMessage.len : 0,
               pr->ErrorMessage.ptr != NULL ? pr->ErrorMessage.ptr : "");
}

/* Matches a response's partitions to the request's batches. */
static struct pbatch **req_find(struct preq *r, size_t topic_hint, struct sp_str name,
                                int32_t index)
{
    size_t nt = (size_t)r->req.TopicData_count;
    for (size_t k = 0; k < nt; k++) {
        size_t j = (topic_hint + k) % nt;
        const struct kproto_produce_request_topic_produce_data *td = &r->topics[j];
        if (td->Name.len != name.len || memcmp(td->Name.ptr, name.ptr, (size_t)name.len) != 0) {
            continue;
        }
        size_t base = (size_t)(td->PartitionData - r->parts);
        size_t lo = 0, hi = (size_t)td->PartitionData_count;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (td->PartitionData[mid].Index < index) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (lo < (size_t)td->PartitionData_count && td->PartitionData[lo].Index == index) {
            return &r->batches[base + lo];
        }
        return NULL;
    }
    return NULL;
}

static void produce_answered(struct spc_producer *p, struct preq *r, int64_t now)
{
    const struct kproto_produce_response *resp = r->call.response;
    const char *broker = r->call.broker;
    for (int32_t i = 0; resp != NULL && i < resp->Responses_count; i++) {
        const struct kproto_produce_response_topic_produce_response *tr = &resp->Responses[i];
        for (int32_t j = 0; j < tr->PartitionResponses_count; j++) {
            const struct kproto_produce_response_partition_produce_response *pr =
                &tr->PartitionResponses[j];
            struct pbatch **slot = req_find(r, (size_t)i, tr->Name, pr->Index);
            if (slot == NULL || *slot == NULL) {
                continue;
            }
            struct pbatch *b = *slot;
            *slot = NULL;
            b->part->inflight--;
            p->inflight_batches--;
            batch_answer(p, b, broker, pr, now);
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        struct pbatch *b = r->batches[i];
        if (b != NULL) {
            r->batches[i] = NULL;
            b->part->inflight--;
            p->inflight_batches--;
            batch_retry(p, b, -EPROTO, broker, (struct sp_str){"the partition is not answered", 29},
                        now);
        }
    }
}

static void produce_done(struct spc_call *call, int rc)
{
    struct preq *r = call->ctx;
    struct spc_producer *p = r->p;
    if (p == NULL) {
        /* The producer is gone; its reports ran then. */
        for (size_t i = 0; i < r->n; i++) {
            if (r->batches[i] != NULL) {
                batch_free(NULL, r->batches[i]);
            }
        }
        spc_call_release(call);
        free(r);
        return;
    }
    req_unlink(p, r);
    bool running = p->running;
    p->running = true;
    int64_t now = spc_now_ms(p->c);
    if (rc == 0 && p->cfg.acks == 0) {
        for (size_t i = 0; i < r->n; i++) {
            r->batches[i]->part->inflight--;
            p->inflight_batches--;
            batch_report_ok(p, r->batches[i], -1);
        }
    } else if (rc == 0) {
        produce_answered(p, r, now);
    } else {
        char node[32];
        snprintf(node, sizeof(node), "node %d", (int)call->node);
        const char *broker = call->broker[0] ? call->broker : node;
        for (size_t i = 0; i < r->n; i++) {
            struct pbatch *b = r->batches[i];
            b->part->inflight--;
            p->inflight_batches--;
            if (errno_retry(rc)) {
                b->maybe_written = true;
                batch_retry(p, b, rc, broker, (struct sp_str){0}, now);
            } else {
                batch_fail(p, b, rc, broker, "Produce failed");
            }
        }
    }
    spc_call_release(call);
    free(r);
    p->running = running;
    p->kick = true; /* in-flight slots came free */
    producer_run(p);
}

/* ---- Idempotence: the producer id ------------------------------------------------------ */

static void fail_everything(struct spc_producer *p, int code, const char *broker, const char *what);

/* A new producer id: every partition's sequences start again at 0, the
 * queued batches renumbered in order (nothing is in flight). */
static void pid_renumber_all(struct spc_producer *p)
{
    for (size_t i = 0; i < p->tab_size; i++) {
        for (struct ptopic *t = p->tab[i]; t != NULL; t = t->hnext) {
            for (int32_t j = 0; j < t->partitions_count; j++) {
                struct ppart *pp = &t->parts[j];
                SP_ASSERT(pp->inflight == 0);
                pp->acked_seq = 0;
                part_renumber(p, pp);
            }
        }
    }
}

static void pid_done(struct spc_call *call, int rc)
{
    struct pinit *pi = call->ctx;
    struct spc_producer *p = pi->p;
    if (p == NULL) {
        spc_call_release(call);
        free(pi);
        return;
    }
    p->init = NULL;
    int64_t now = spc_now_ms(p->c);
    const struct kproto_init_producer_id_response *resp = call->response;
    int code = rc < 0 ? rc : resp->ErrorCode;
    int64_t pid = rc < 0 ? SP_NO_PRODUCER_ID : resp->ProducerId;
    int16_t epoch = rc < 0 ? SP_NO_PRODUCER_EPOCH : resp->ProducerEpoch;
    char broker[80];
    snprintf(broker, sizeof(broker), "%s", call->broker[0] ? call->broker : "cluster");
    spc_call_release(call);
    free(pi);
    if (code == 0) {
        p->pid = pid;
        p->epoch = epoch;
        p->pid_tries = 0;
        p->pid_state = PID_READY;
        p->kick = true;
        if (p->pid_reset) {
            p->pid_reset = false;
            pid_renumber_all(p);
        }
    } else if ((rc < 0 && errno_retry(rc)) || (rc == 0 && kerr_retry((int16_t)code)) ||
               code == KERR_COORDINATOR_LOAD_IN_PROGRESS || code == KERR_NOT_COORDINATOR ||
               code == KERR_COORDINATOR_NOT_AVAILABLE) {
        p->pid_state = PID_NONE;
        p->pid_tries++;
        p->pid_retry_at_ms = now + backoff_ms(p->pid_tries);
    } else {
        p->pid_state = PID_FAILED;
        spc_error_set(&p->pid_err, code, broker, "InitProducerId");
        fail_everything(p, code, broker, "InitProducerId failed");
    }
    producer_run(p);
}

static void pid_ask(struct spc_producer *p, int64_t now)
{
    if (p->init != NULL || now < p->pid_retry_at_ms) {
        return;
    }
    struct pinit *pi = calloc(1, sizeof(*pi));
    if (pi == NULL) {
        p->pid_retry_at_ms = now + BACKOFF_MS;
        return;
    }
    pi->p = p;
    kproto_init_producer_id_request_init(&pi->req);
    pi->req.TransactionalId = (struct sp_str){NULL, 0};
    pi->req.TransactionTimeoutMs = -1;
    pi->req.ProducerId = -1;
    pi->req.ProducerEpoch = -1;
    pi->call.api_key = KPROTO_API_KEY_INIT_PRODUCER_ID;
    pi->call.min_version = 0;
    pi->call.max_version = INIT_PID_VERSION_MAX;
    pi->call.node = SPC_ANY_BROKER;
    pi->call.request = &pi->req;
    pi->call.retry_transport = true; /* a lost answer only costs a producer id */
    pi->call.done = pid_done;
    pi->call.ctx = pi;
    p->init = pi;
    p->pid_state = PID_ASKING;
    int rc = spc_send(p->c, &pi->call);
    if (rc < 0) {
        p->init = NULL;
        free(pi);
        p->pid_state = PID_NONE;
        p->pid_tries++;
        p->pid_retry_at_ms = now + backoff_ms(p->pid_tries);
    }
}

/* ---- Running ------------------------------------------------------------------------------ */

static void expire_scan(struct spc_producer *p, int64_t now)
{
    p->next_expiry_scan_ms = now + EXPIRY_SCAN_MS;
    for (size_t i = 0; i < p->ready_n; i++) {
        struct ppart *pp = p->ready[i];
        while (pp->head != NULL && pp->head->expire_at_ms <= now) {
            struct pbatch *b = pp->head;
            pp->head = b->next;
            if (pp->head == NULL) {
                pp->tail = NULL;
            }
            char tmp[64];
            char last[96];
            if (b->err_code != 0) {
                snprintf(last, sizeof(last), " (last error: %s)",
                         code_name(b->err_code, tmp, sizeof(tmp)));
            } else {
                snprintf(last, sizeof(last), " (%s)",
                         p->pid_state != PID_READY ? "no producer id yet" : "no leader known");
            }
            batch_fail(p, b, -ETIMEDOUT, b->err_broker[0] ? b->err_broker : NULL,
                       "not delivered within delivery_timeout_ms=%d%s",
                       (int)p->cfg.delivery_timeout_ms, last);
        }
    }
    if (p->waiting_topics == 0) {
        return;
    }
    for (size_t i = 0; i < p->tab_size; i++) {
        for (struct ptopic *t = p->tab[i]; t != NULL; t = t->hnext) {
            if (t->wcount > 0 && t->wexpire_at_ms <= now) {
                struct spc_error err;
                char broker[300];
                any_broker(p, broker, sizeof(broker));
                spc_error_set(&err, -ETIMEDOUT, broker,
                              "topic \"%s\": no metadata within delivery_timeout_ms=%d", t->name,
                              (int)p->cfg.delivery_timeout_ms);
                waiting_walk(p, t, waiting_fail_one, &err);
            }
        }
    }
}

/* Asks again for the metadata of topics whose records wait. */
static void topics_refresh(struct spc_producer *p, int64_t now)
{
    size_t waiting = 0;
    for (size_t i = 0; i < p->tab_size && p->waiting_topics > 0; i++) {
        for (struct ptopic *t = p->tab[i]; t != NULL; t = t->hnext) {
            if (t->state == TOPIC_WAITING && t->wcount > 0) {
                waiting++;
                topic_refresh(p, t, now);
            }
        }
    }
    p->waiting_topics = waiting;
}

/* Closes the blocked partitions' open batches whose queues are empty now
 * (or all of them while flushing); forgets entries whose batch is gone. */
static void blocked_scan(struct spc_producer *p)
{
    struct ppart **at = &p->blocked;
    while (*at != NULL) {
        struct ppart *pp = *at;
        if (pp->open != NULL && pp->open->lingered && pp->head != NULL && p->flushing == 0) {
            at = &pp->bnext;
            continue;
        }
        *at = pp->bnext;
        pp->blocked = false;
        pp->bnext = NULL;
        if (pp->open != NULL && pp->open->lingered) {
            batch_close(p, pp->open);
            p->kick = true;
        }
    }
}

/*
 * Closes the batches whose linger has passed. One whose partition still has
 * closed batches waiting for an in-flight slot stays open and keeps filling
 * until they are sent, as Kafka's accumulator does: with a short linger, a
 * partition under load then sends a few large batches rather than a queue
 * of one-record ones behind max_inflight.
 */
static void linger_close(struct spc_producer *p, int64_t now)
{
    while (p->linger_head != NULL && (p->flushing > 0 || p->linger_head->linger_at_ms <= now)) {
        struct pbatch *b = p->linger_head;
        if (p->flushing == 0 && b->part->head != NULL) {
            linger_unlink(p, b);
            b->lingered = true;
            if (!b->part->blocked) {
                b->part->blocked = true;
                b->part->bnext = p->blocked;
                p->blocked = b->part;
            }
            continue;
        }
        batch_close(p, b);
        p->kick = true;
    }
    if (p->blocked != NULL) {
        blocked_scan(p);
    }
}

static void producer_run(struct spc_producer *p)
{
    if (p->running) {
        return;
    }
    p->running = true;
    for (int round = 0; round < 4; round++) {
        int64_t now = spc_now_ms(p->c);
        linger_close(p, now);
        if (now >= p->next_expiry_scan_ms) {
            expire_scan(p, now);
        }
        if (p->waiting_topics > 0) {
            topics_refresh(p, now);
        }
        if (p->cfg.idempotent && p->pid_state != PID_FAILED &&
            (p->pid_state == PID_NONE || (p->pid_reset && p->inflight_batches == 0))) {
            pid_ask(p, now);
        }
        if (p->kick || p->wake_ms <= now) {
            drain(p, now);
        }
        if (p->dead == NULL) {
            break;
        }
        p->running = false;
        dead_run(p); /* callbacks may produce: run again for them */
        p->running = true;
    }
    p->running = false;
}

/* The earliest time producer_run has something to do, or INT64_MAX. */
static int64_t producer_next(const struct spc_producer *p)
{
    int64_t next = p->wake_ms;
    if (p->linger_head != NULL) {
        next = SP_MIN(next, p->flushing ? 0 : p->linger_head->linger_at_ms);
    }
    if ((p->kick && p->pid_state == PID_READY && !p->pid_reset) || p->dead != NULL) {
        next = 0;
    }
    if (p->ready_n > 0 || p->waiting_topics > 0) {
        next = SP_MIN(next, p->next_expiry_scan_ms);
    }
    if (p->cfg.idempotent && p->pid_state == PID_NONE) {
        next = SP_MIN(next, p->pid_retry_at_ms);
    }
    return next;
}

int spc_producer_tick(struct spc_client *c)
{
    int64_t next = INT64_MAX;
    for (struct spc_producer *p = tl_producers; p != NULL; p = p->tl_next) {
        if (p->c == c) {
            producer_run(p);
            next = SP_MIN(next, producer_next(p));
        }
    }
    if (next == INT64_MAX) {
        return -1;
    }
    int64_t left = next - spc_now_ms(c);
    return (int)SP_MAX(SP_MIN(left, (int64_t)INT32_MAX), 0);
}

/* ---- The API ------------------------------------------------------------------------------ */

int spc_produce(struct spc_producer *p, const char *topic, int32_t partition,
                const struct spc_record *r, spc_delivery_fn fn, void *opaque, struct spc_error *err)
{
    int64_t now = spc_now_ms(p->c);
    if (SP_UNLIKELY(p->pid_state == PID_FAILED)) {
        if (err != NULL) {
            *err = p->pid_err;
        }
        return p->pid_err.code < 0 ? p->pid_err.code : -EIO;
    }
    struct ptopic *t = topic_find(p, topic);
    if (SP_UNLIKELY(t == NULL)) {
        t = topic_add(p, topic);
        if (t == NULL) {
            spc_error_set(err, -ENOMEM, "producer", "topic \"%s\": out of memory", topic);
            return -ENOMEM;
        }
        topic_resolve(p, t);
    }
    if (SP_UNLIKELY(t->state != TOPIC_READY)) {
        if (t->state == TOPIC_UNKNOWN) {
            if (now < t->unknown_until_ms) {
                if (err != NULL) {
                    *err = t->unknown_err;
                }
                return -ENOENT;
            }
            t->state = TOPIC_WAITING;
            t->refresh_at_ms = 0;
            t->refresh_tries = 0;
            if (topic_resolve(p, t) == 0) {
                return spc_produce(p, topic, partition, r, fn, opaque, err);
            }
        }
        if (partition < -1) {
            spc_error_set(err, -EINVAL, "producer", "topic \"%s\": bad partition %d", topic,
                          (int)partition);
            return -EINVAL;
        }
        int rc = waiting_add(p, t, partition, r, fn, opaque, now);
        if (rc < 0) {
            spc_error_set(err, rc, "producer", "topic \"%s\"", topic);
            return rc;
        }
        p->waiting_topics++;
        topic_refresh(p, t, now);
        return 0;
    }
    if (SP_UNLIKELY(partition < -1 || partition >= t->partitions_count)) {
        spc_error_set(err, -EINVAL, "producer",
                      "topic \"%s\" partition %d: out of range (%d partitions)", topic,
                      (int)partition, (int)t->partitions_count);
        return -EINVAL;
    }
    int rc = append(p, choose(t, partition, r->key), r, fn, opaque, now, false);
    if (SP_UNLIKELY(rc < 0)) {
        spc_error_set(err, rc, "producer", "topic \"%s\"%s", topic,
                      rc == -ENOBUFS ? ": buffer_bytes full (poll, then try again)" : "");
        return rc;
    }
    if (!p->running && (p->kick || p->pid_state == PID_NONE ||
                        (p->linger_head != NULL && p->linger_head->linger_at_ms <= now))) {
        p->running = true;
        linger_close(p, now);
        if (p->pid_state == PID_NONE) {
            pid_ask(p, now);
        }
        drain(p, now);
        p->running = false;
    }
    return 0;
}

int spc_producer_flush(struct spc_producer *p, int timeout_ms)
{
    int64_t deadline = spc_now_ms(p->c) + SP_MAX(timeout_ms, 0);
    int rc = 0;
    p->flushing++;
    for (;;) {
        producer_run(p);
        if (p->pending == 0) {
            break;
        }
        int64_t now = spc_now_ms(p->c);
        if (now >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        int64_t wait = SP_MAX(SP_MIN(deadline, producer_next(p)) - now, 0);
        int prc = spc_poll(p->c, (int)SP_MIN(wait, (int64_t)INT32_MAX));
        if (prc < 0 && prc != -EINTR && prc != -ETIMEDOUT && prc != -EAGAIN) {
            rc = prc;
            break;
        }
    }
    p->flushing--;
    return rc;
}

/* Fails every record not in flight: open and queued batches, waiting records. */
static void fail_everything(struct spc_producer *p, int code, const char *broker, const char *what)
{
    while (p->linger_head != NULL) {
        batch_close(p, p->linger_head);
    }
    while (p->blocked != NULL) {
        struct ppart *pp = p->blocked;
        p->blocked = pp->bnext;
        pp->blocked = false;
        pp->bnext = NULL;
        if (pp->open != NULL && pp->open->lingered) {
            batch_close(p, pp->open); /* its partition is on the ready list: failed below */
        }
    }
    for (size_t i = 0; i < p->ready_n; i++) {
        struct ppart *pp = p->ready[i];
        while (pp->head != NULL) {
            struct pbatch *b = pp->head;
            pp->head = b->next;
            batch_fail(p, b, code, broker, "%s", what);
        }
        pp->tail = NULL;
        pp->in_ready = false;
    }
    p->ready_n = 0;
    struct spc_error err;
    for (size_t i = 0; i < p->tab_size; i++) {
        for (struct ptopic *t = p->tab[i]; t != NULL; t = t->hnext) {
            if (t->wcount > 0) {
                spc_error_set(&err, code, broker, "topic \"%s\": %s", t->name, what);
                waiting_walk(p, t, waiting_fail_one, &err);
            }
        }
    }
}

void spc_producer_free(struct spc_producer *p)
{
    if (p == NULL) {
        return;
    }
    struct spc_producer **at = &tl_producers;
    while (*at != NULL && *at != p) {
        at = &(*at)->tl_next;
    }
    if (*at == p) {
        *at = p->tl_next;
    }
    p->running = true;
    /* Requests in flight keep their batches' bytes until their done runs. */
    for (struct preq *r = p->reqs; r != NULL; r = r->next) {
        r->p = NULL;
        for (size_t i = 0; i < r->n; i++) {
            struct pbatch *b = r->batches[i];
            if (b != NULL) {
                b->err_code = -ECANCELED;
                snprintf(b->err_broker, sizeof(b->err_broker), "%s", "producer");
                snprintf(b->err_text, sizeof(b->err_text), "closed while in flight");
                batch_report(p, b);
            }
        }
    }
    for (struct pmeta *pm = p->metas; pm != NULL; pm = pm->next) {
        pm->p = NULL;
    }
    if (p->init != NULL) {
        p->init->p = NULL;
    }
    fail_everything(p, -ECANCELED, "producer", "the producer was closed");
    dead_run(p);
    for (size_t i = 0; i < p->tab_size; i++) {
        while (p->tab[i] != NULL) {
            struct ptopic *t = p->tab[i];
            p->tab[i] = t->hnext;
            free(t->parts);
            free(t->wbuf);
            free(t->name);
            free(t);
        }
    }
    for (size_t i = 0; i < p->builds_cap && i < p->builds_n; i++) {
        free(p->builds[i].v);
    }
    free(p->builds);
    while (p->pool_n > 0) {
        free(p->pool[--p->pool_n]);
    }
    free(p->ready);
    free(p->tab);
    free(p);
}
