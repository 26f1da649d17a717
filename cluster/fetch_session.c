/*
 * cluster/fetch_session.c: the shard's fetch session cache (cluster/fetch_session.h).
 *
 * The cache is a small array of sessions per shard (its share of the
 * broker's slots), scanned linearly: a few hundred entries at most. Each
 * session keeps its partitions in an array, in fetch order, with an open
 * addressing index over (topic, partition) so that an incremental fetch
 * that updates k of n partitions costs O(k), not O(k * n):
 *
 *   idx[hash(topic, partition) & mask] -> 1 + position in parts[], 0 empty
 *
 * The index is rebuilt whenever partitions are removed or the array grows,
 * which keeps it free of tombstones.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/fetch_session.h"
#include "cluster/image.h"
#include "core/config.h"
#include "core/log.h"
#include "core/rx.h"

struct sp_fetch_sess {
    int32_t id;
    int32_t next_epoch;
    bool by_id;
    uint64_t used_ns;
    struct sp_fetch_sess_part *parts;
    uint32_t nparts;
    uint32_t cap;
    uint32_t *idx; /* 1 + index into parts, 0 empty */
    uint32_t idx_mask;
};

struct sess_cache {
    struct sp_fetch_sess **slot;
    uint32_t nslots;
    uint32_t used;
    uint32_t seq;
};

static _Thread_local struct sess_cache *cache;

/*
 * The shard's fetch state is created on first use. The reactor's fini hook
 * frees it (sp_fetch_shard_fini); a thread-exit destructor does too, for a
 * shard whose fini does not call it, so nothing outlives its thread.
 */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_exit(void *unused)
{
    (void)unused;
    sp_fetch_shard_fini();
}

static void tls_key_make(void)
{
    int rc = pthread_key_create(&tls_key, tls_exit);
    SP_ASSERT(rc == 0);
}

void sp_fetch_shard_note(void)
{
    pthread_once(&tls_once, tls_key_make);
    if (pthread_getspecific(tls_key) == NULL) {
        (void)pthread_setspecific(tls_key, &tls_key);
    }
}

static uint32_t slots_per_shard(void)
{
    const struct sp_config *cfg = sp_image_broker_config();
    int64_t total = cfg != NULL
                        ? sp_config_int(cfg, SP_CFG_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS)
                        : SP_FETCH_SESSION_SLOTS_DFLT;
    uint32_t shards = sp_rx_shard_count();
    if (shards == 0) {
        shards = 1;
    }
    return (uint32_t)((total + shards - 1) / shards);
}

static struct sess_cache *cache_get(void)
{
    if (cache != NULL) {
        return cache;
    }
    struct sess_cache *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->nslots = slots_per_shard();
    c->slot = calloc(c->nslots > 0 ? c->nslots : 1, sizeof(*c->slot));
    if (c->slot == NULL) {
        free(c);
        return NULL;
    }
    cache = c;
    sp_fetch_shard_note();
    return c;
}

static void sess_free(struct sp_fetch_sess *s)
{
    for (uint32_t i = 0; i < s->nparts; i++) {
        free(s->parts[i].name);
    }
    free(s->parts);
    free(s->idx);
    free(s);
}

static void cache_remove_at(struct sess_cache *c, uint32_t i)
{
    sess_free(c->slot[i]);
    c->slot[i] = c->slot[--c->used];
    c->slot[c->used] = NULL;
}

static int cache_find_at(struct sess_cache *c, int32_t id)
{
    for (uint32_t i = 0; i < c->used; i++) {
        if (c->slot[i]->id == id) {
            return (int)i;
        }
    }
    return -1;
}

static void cache_remove(struct sess_cache *c, int32_t id)
{
    int i = cache_find_at(c, id);
    if (i >= 0) {
        cache_remove_at(c, (uint32_t)i);
    }
}

/* Drops sessions idle too long. */
static void cache_expire(struct sess_cache *c, uint64_t now_ns)
{
    uint64_t idle_ns = (uint64_t)SP_FETCH_SESSION_IDLE_MS * 1000000u;
    for (uint32_t i = 0; i < c->used;) {
        if (now_ns - c->slot[i]->used_ns > idle_ns) {
            cache_remove_at(c, i);
        } else {
            i++;
        }
    }
}

static uint32_t part_hash(const uint8_t *key, size_t len, int32_t partition)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ key[i]) * 16777619u;
    }
    h = (h ^ (uint32_t)partition) * 16777619u;
    return h ^ (h >> 15);
}

static uint32_t key_hash(const struct sp_fetch_sess *s, const struct sp_fetch_sess_part *p)
{
    return s->by_id ? part_hash(p->topic_id, 16, p->partition)
                    : part_hash((const uint8_t *)p->name, (size_t)p->name_len, p->partition);
}

static int index_rebuild(struct sp_fetch_sess *s)
{
    uint32_t size = 16;
    while (size < s->nparts * 2) {
        size *= 2;
    }
    uint32_t *idx = calloc(size, sizeof(*idx));
    if (idx == NULL) {
        return -ENOMEM;
    }
    free(s->idx);
    s->idx = idx;
    s->idx_mask = size - 1;
    for (uint32_t i = 0; i < s->nparts; i++) {
        uint32_t h = key_hash(s, &s->parts[i]) & s->idx_mask;
        while (idx[h] != 0) {
            h = (h + 1) & s->idx_mask;
        }
        idx[h] = i + 1;
    }
    return 0;
}

/* Position of the partition in s, or -1. name/id as the session's form says. */
static int64_t sess_lookup(const struct sp_fetch_sess *s, const uint8_t id[16], struct sp_str name,
                           int32_t partition)
{
    uint32_t h = (s->by_id ? part_hash(id, 16, partition)
                           : part_hash((const uint8_t *)name.ptr, (size_t)name.len, partition)) &
                 s->idx_mask;
    for (uint32_t n = 0; n <= s->idx_mask; n++, h = (h + 1) & s->idx_mask) {
        uint32_t v = s->idx[h];
        if (v == 0) {
            return -1;
        }
        const struct sp_fetch_sess_part *p = &s->parts[v - 1];
        if (p->partition != partition) {
            continue;
        }
        if (s->by_id ? memcmp(p->topic_id, id, 16) == 0
                     : p->name_len == name.len &&
                           (name.len == 0 || memcmp(p->name, name.ptr, (size_t)name.len) == 0)) {
            return (int64_t)v - 1;
        }
    }
    return -1;
}

static void part_set(struct sp_fetch_sess_part *p,
                     const struct kproto_fetch_request_fetch_partition *rp)
{
    p->fetch_offset = rp->FetchOffset;
    p->max_bytes = rp->PartitionMaxBytes;
    p->leader_epoch = rp->CurrentLeaderEpoch;
}

/* Appends a partition (the index is updated by the caller). */
static int sess_add(struct sp_fetch_sess *s, const struct kproto_fetch_request_fetch_topic *t,
                    const struct kproto_fetch_request_fetch_partition *rp)
{
    if (s->nparts == SP_FETCH_SESSION_PARTS_MAX) {
        return -ENOSPC;
    }
    if (s->nparts == s->cap) {
        uint32_t cap = s->cap == 0 ? 8 : s->cap * 2;
        struct sp_fetch_sess_part *np = realloc(s->parts, cap * sizeof(*np));
        if (np == NULL) {
            return -ENOMEM;
        }
        s->parts = np;
        s->cap = cap;
    }
    struct sp_fetch_sess_part *p = &s->parts[s->nparts];
    memset(p, 0, sizeof(*p));
    if (s->by_id) {
        memcpy(p->topic_id, t->TopicId.b, 16);
    } else {
        int32_t len = t->Topic.ptr != NULL ? t->Topic.len : 0;
        p->name = malloc((size_t)len + 1);
        if (p->name == NULL) {
            return -ENOMEM;
        }
        if (len > 0) {
            memcpy(p->name, t->Topic.ptr, (size_t)len);
        }
        p->name[len] = '\0';
        p->name_len = len;
    }
    p->partition = rp->Partition;
    part_set(p, rp);
    p->hw = p->lso = p->log_start = -2;
    s->nparts++;
    return 0;
}

static bool request_too_big(const struct kproto_fetch_request *req)
{
    int64_t n = 0;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        n += req->Topics[i].Partitions_count;
    }
    return n > SP_FETCH_SESSION_PARTS_MAX;
}

/* A new session holding the request's partitions, in a free (or freed) slot. 0 or -errno. */
static int sess_create(struct sess_cache *c, const struct kproto_fetch_request *req, bool by_id,
                       uint64_t now_ns, struct sp_fetch_sess_use *out)
{
    if (c->nslots == 0 || request_too_big(req)) {
        return 0;
    }
    struct sp_fetch_sess *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->by_id = by_id;
    s->next_epoch = 1;
    s->used_ns = now_ns;
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_fetch_request_fetch_topic *t = &req->Topics[i];
        for (int32_t j = 0; j < t->Partitions_count; j++) {
            if (sess_add(s, t, &t->Partitions[j]) < 0) {
                sess_free(s);
                return -ENOMEM;
            }
        }
    }
    if (index_rebuild(s) < 0) {
        sess_free(s);
        return -ENOMEM;
    }
    if (c->used == c->nslots) {
        uint32_t lru = 0;
        for (uint32_t i = 1; i < c->used; i++) {
            if (c->slot[i]->used_ns < c->slot[lru]->used_ns) {
                lru = i;
            }
        }
        sp_log_debug("fetch session %d evicted for a new one", c->slot[lru]->id);
        cache_remove_at(c, lru);
    }
    uint32_t shards = sp_rx_shard_count() > 0 ? sp_rx_shard_count() : 1;
    uint32_t shard = sp_rx_shard_id() > 0 ? (uint32_t)sp_rx_shard_id() : 0;
    uint32_t seq_max = (uint32_t)((INT32_MAX - 1 - shard) / shards);
    do {
        c->seq = c->seq >= seq_max ? 0 : c->seq + 1;
        s->id = (int32_t)(1 + shard + shards * c->seq);
    } while (cache_find_at(c, s->id) >= 0);
    c->slot[c->used++] = s;
    out->session_id = s->id;
    out->next_epoch = s->next_epoch;
    out->cache = true;
    return 0;
}

/* Merges an incremental request into s. 0 or -errno. */
static int sess_update(struct sp_fetch_sess *s, const struct kproto_fetch_request *req)
{
    for (int32_t i = 0; i < req->Topics_count; i++) {
        const struct kproto_fetch_request_fetch_topic *t = &req->Topics[i];
        for (int32_t j = 0; j < t->Partitions_count; j++) {
            const struct kproto_fetch_request_fetch_partition *rp = &t->Partitions[j];
            int64_t at = sess_lookup(s, t->TopicId.b, t->Topic, rp->Partition);
            if (at >= 0) {
                part_set(&s->parts[at], rp);
                continue;
            }
            int rc = sess_add(s, t, rp);
            if (rc < 0) {
                return rc;
            }
            if (index_rebuild(s) < 0) {
                return -ENOMEM;
            }
        }
    }
    for (int32_t i = 0; i < req->ForgottenTopicsData_count; i++) {
        const struct kproto_fetch_request_forgotten_topic *t = &req->ForgottenTopicsData[i];
        for (int32_t j = 0; j < t->Partitions_count; j++) {
            int64_t at = sess_lookup(s, t->TopicId.b, t->Topic, t->Partitions[j]);
            if (at < 0) {
                continue;
            }
            free(s->parts[at].name);
            memmove(&s->parts[at], &s->parts[at + 1],
                    (s->nparts - (uint32_t)at - 1) * sizeof(s->parts[0]));
            s->nparts--;
            if (index_rebuild(s) < 0) {
                return -ENOMEM;
            }
        }
    }
    return 0;
}

int sp_fetch_sess_open(const struct kproto_fetch_request *req, bool by_id,
                       struct sp_fetch_sess_use *out)
{
    *out = (struct sp_fetch_sess_use){0};
    int32_t id = req->SessionId, epoch = req->SessionEpoch;
    if (id == 0 && epoch == -1) {
        return 0; /* sessionless, the common case: no cache needed */
    }
    struct sess_cache *c = cache_get();
    if (c == NULL) {
        return -ENOMEM;
    }
    uint64_t now_ns = sp_rx_now_ns();
    cache_expire(c, now_ns);
    if (epoch == -1 || epoch == 0) {
        if (id != 0) {
            cache_remove(c, id);
        }
        return epoch == 0 ? sess_create(c, req, by_id, now_ns, out) : 0;
    }
    int at = id > 0 ? cache_find_at(c, id) : -1;
    if (at < 0) {
        out->error = KERR_FETCH_SESSION_ID_NOT_FOUND;
        return 0;
    }
    struct sp_fetch_sess *s = c->slot[at];
    if (s->by_id != by_id) {
        out->error = KERR_FETCH_SESSION_TOPIC_ID_ERROR;
        return 0;
    }
    if (epoch != s->next_epoch) {
        out->error = KERR_INVALID_FETCH_SESSION_EPOCH;
        return 0;
    }
    int rc = sess_update(s, req);
    if (rc < 0) {
        /* The session may be half-updated: drop it, the client starts again. */
        cache_remove_at(c, (uint32_t)at);
        out->error = rc == -ENOSPC ? KERR_FETCH_SESSION_ID_NOT_FOUND : KERR_UNKNOWN_SERVER_ERROR;
        return 0;
    }
    s->next_epoch = s->next_epoch == INT32_MAX ? 1 : s->next_epoch + 1;
    s->used_ns = now_ns;
    out->session_id = s->id;
    out->next_epoch = s->next_epoch;
    out->incremental = true;
    out->cache = true;
    return 0;
}

struct sp_fetch_sess *sp_fetch_sess_find(int32_t id, int32_t next_epoch)
{
    if (cache == NULL || id == 0) {
        return NULL;
    }
    int at = cache_find_at(cache, id);
    if (at < 0 || cache->slot[at]->next_epoch != next_epoch) {
        return NULL;
    }
    return cache->slot[at];
}

uint32_t sp_fetch_sess_parts(struct sp_fetch_sess *s, struct sp_fetch_sess_part **parts)
{
    *parts = s->parts;
    return s->nparts;
}

bool sp_fetch_sess_answered(struct sp_fetch_sess *s, uint32_t i, int16_t error, int64_t hw,
                            int64_t lso, int64_t log_start, size_t records_len)
{
    if (i >= s->nparts) {
        return true;
    }
    struct sp_fetch_sess_part *p = &s->parts[i];
    bool changed =
        error != 0 || records_len > 0 || p->hw != hw || p->lso != lso || p->log_start != log_start;
    p->hw = hw;
    p->lso = lso;
    p->log_start = log_start;
    return changed;
}

uint32_t sp_fetch_sess_count(void)
{
    return cache != NULL ? cache->used : 0;
}

void sp_fetch_sess_fini(void)
{
    if (cache == NULL) {
        return;
    }
    while (cache->used > 0) {
        cache_remove_at(cache, cache->used - 1);
    }
    free(cache->slot);
    free(cache);
    cache = NULL;
}
