/*
 * cluster/group.c: the groups of a shard, where a group lives, and the
 * records that keep groups in __consumer_offsets (cluster/group.h).
 *
 * Per shard:
 *
 *   gs.buckets ──> sp_group ──hnext──> sp_group ...      every group this shard
 *                     │                                  coordinates, by id
 *                     └─ offsets (commit order), ohash (topic, partition)
 *   gs.parts   ──> gpart ──next──> gpart ...             the __consumer_offsets
 *                  │ index, loading, stores in flight    partitions open here
 *                  └─ backlog: stores waiting for write-buffer space
 *
 * A group belongs to the partition its id hashes to; its part_index says
 * which. When a partition opens here it is replayed into groups before
 * lookups see them (COORDINATOR_LOAD_IN_PROGRESS meanwhile); when it
 * closes its groups leave the table.
 *
 * Stores: one v2 batch per sp_group_store, appended to the partition's log
 * and answered once durable (acks=all). A store that finds the shard's
 * write-behind budget full waits in its partition's backlog, in order, and
 * is retried from a short timer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/controller.h"
#include "cluster/group.h"
#include "cluster/image.h"
#include "cluster/part.h"
#include "core/config.h"
#include "core/log.h"
#include "core/rx.h"
#include "protocol/batch.h"
#include "protocol/compress.h"
#include "protocol/gen/kerr.h"

#define GROUP_BUCKETS_MIN     64
#define GROUP_OHASH_MIN       16
#define GROUP_READ_BYTES      (1u << 20)  /* one replay read */
#define GROUP_RECORDS_MAX     (64u << 20) /* a decompressed batch at replay */
#define GROUP_RETRY_MS        2           /* a store waiting for write-buffer space */
#define GROUP_STORE_BYTES_MAX (32u << 20) /* one store's batch */

struct gstore;

/* An open __consumer_offsets partition of this shard. */
struct gpart {
    int32_t index;
    struct sp_part *p; /* NULL once closed */
    bool loading;
    uint32_t inflight; /* appends waiting for their ack */
    struct gstore *backlog, *backlog_tail;
    struct sp_timer retry;
    struct gpart *next;
};

/* One sp_group_store in progress. */
struct gstore {
    struct sp_plog_append app;
    struct sp_group_write *w;
    struct gpart *gp;
    struct sp_part *p; /* referenced while the append is in flight */
    uint8_t *batch;    /* owned until the log has copied it */
    size_t len;
    struct gstore *next;
};

static _Thread_local struct {
    struct sp_group **buckets;
    uint32_t nbuckets; /* a power of two, 0 before the first group */
    uint32_t count;
    struct gpart *parts;
    /* The creation of __consumer_offsets asked of the controller. */
    bool creating;
    struct sp_ctl_create_topics create;
    struct sp_ctl_topic create_topic;
    struct sp_topic_cfg_kv create_cfg[3];
    char segment_bytes[24];
    /* Offset expiry. */
    struct sp_timer expiry;
    bool expiry_armed;
} gs;

const char *sp_group_state_name(enum sp_group_state s)
{
    static const char *const names[] = {
        "Empty", "PreparingRebalance", "CompletingRebalance", "Stable",
        "Dead",  "Assigning",          "Reconciling"};
    return (unsigned)s < SP_ARRAY_LEN(names) ? names[s] : "Unknown";
}

const char *sp_group_type_name(enum sp_group_type t)
{
    return t == SP_GROUP_CONSUMER ? "consumer" : "classic";
}

int64_t sp_group_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct sp_config *cfg(void)
{
    return sp_image_broker_config();
}

/* ---- Routing (any shard) --------------------------------------------------- */

int32_t sp_group_partition(const char *id, size_t len, int32_t partitions)
{
    uint32_t h = 0;
    for (size_t i = 0; i < len; i++) {
        h = 31 * h + (uint8_t)id[i];
    }
    /* Kafka's Utils.abs: Integer.MIN_VALUE maps to 0. */
    int32_t s = (int32_t)h;
    return (s == INT32_MIN ? 0 : s < 0 ? -s : s) % partitions;
}

static void create_done(struct sp_ctl_create_topics *op)
{
    const struct sp_ctl_topic *t = &op->topics[0];
    if (t->error != 0) {
        sp_log_warn("group: creating %s failed: %s %s", SP_GROUP_TOPIC, kerr_name(t->error),
                    t->message);
    } else {
        sp_log_info("group: created %s (%d partitions)", SP_GROUP_TOPIC, t->partitions_out);
    }
    gs.creating = false;
}

/* Asks the controller for __consumer_offsets, once per shard at a time. */
static void create_offsets_topic(void)
{
    if (gs.creating) {
        return;
    }
    const struct sp_config *c = cfg();
    int64_t parts = c != NULL ? sp_config_int(c, SP_CFG_OFFSETS_TOPIC_NUM_PARTITIONS) : 50;
    int64_t rf = c != NULL ? sp_config_int(c, SP_CFG_OFFSETS_TOPIC_REPLICATION_FACTOR) : -1;
    int64_t seg = c != NULL ? sp_config_int(c, SP_CFG_OFFSETS_TOPIC_SEGMENT_BYTES) : 104857600;
    snprintf(gs.segment_bytes, sizeof(gs.segment_bytes), "%lld", (long long)seg);
    gs.create_cfg[0] = (struct sp_topic_cfg_kv){"cleanup.policy", "compact"};
    gs.create_cfg[1] = (struct sp_topic_cfg_kv){"segment.bytes", gs.segment_bytes};
    gs.create_cfg[2] = (struct sp_topic_cfg_kv){"compression.type", "producer"};
    /* A single node has one replica to give, whatever "as many as there are" means. */
    gs.create_topic = (struct sp_ctl_topic){
        .name = sp_str_make(SP_GROUP_TOPIC),
        .partitions = (int32_t)parts,
        .replication_factor = (int16_t)(rf <= 0 ? 1 : rf),
        .configs = gs.create_cfg,
        .configs_count = SP_ARRAY_LEN(gs.create_cfg),
    };
    gs.create = (struct sp_ctl_create_topics){
        .topics = &gs.create_topic,
        .count = 1,
        .auto_create = true, /* another shard's request may win: no error then */
        .done = create_done,
    };
    gs.creating = true;
    sp_log_info("group: asking the controller for %s", SP_GROUP_TOPIC);
    sp_ctl_create_topics(&gs.create);
}

int16_t sp_group_route(struct sp_str id, uint16_t *shard, int32_t *partition)
{
    if (id.ptr == NULL || id.len < 0) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    const struct sp_topic *t = sp_image_topic(SP_GROUP_TOPIC, strlen(SP_GROUP_TOPIC));
    if (t == NULL || t->partitions <= 0) {
        create_offsets_topic();
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    int32_t i = sp_group_partition(id.ptr, (size_t)id.len, t->partitions);
    *partition = i;
    *shard = t->part[i].shard;
    return 0;
}

/* ---- The table --------------------------------------------------------------- */

static uint32_t id_hash(const char *id, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)id[i]) * 16777619u;
    }
    return h;
}

static struct gpart *gpart_find(int32_t index)
{
    for (struct gpart *gp = gs.parts; gp != NULL; gp = gp->next) {
        if (gp->index == index && gp->p != NULL) {
            return gp;
        }
    }
    return NULL;
}

static struct gpart *gpart_of(const struct sp_group *g)
{
    return gpart_find(g->part_index);
}

static struct sp_group *table_find(const char *id, size_t len)
{
    if (gs.nbuckets == 0) {
        return NULL;
    }
    struct sp_group *g = gs.buckets[id_hash(id, len) & (gs.nbuckets - 1)];
    while (g != NULL && (g->id_len != len || memcmp(g->id, id, len) != 0)) {
        g = g->hnext;
    }
    return g;
}

static void table_insert(struct sp_group *g)
{
    struct sp_group **b = &gs.buckets[id_hash(g->id, g->id_len) & (gs.nbuckets - 1)];
    g->hnext = *b;
    *b = g;
}

/* 0 or -ENOMEM. */
static int table_add(struct sp_group *g)
{
    if (gs.nbuckets == 0 || gs.count >= gs.nbuckets) {
        uint32_t n = gs.nbuckets ? gs.nbuckets * 2 : GROUP_BUCKETS_MIN;
        struct sp_group **nb = calloc(n, sizeof(*nb));
        if (nb == NULL) {
            if (gs.nbuckets == 0) {
                return -ENOMEM;
            }
        } else {
            struct sp_group **old = gs.buckets;
            uint32_t oldn = gs.nbuckets;
            gs.buckets = nb;
            gs.nbuckets = n;
            for (uint32_t i = 0; i < oldn; i++) {
                for (struct sp_group *q = old[i], *next; q != NULL; q = next) {
                    next = q->hnext;
                    table_insert(q);
                }
            }
            free(old);
        }
    }
    table_insert(g);
    gs.count++;
    return 0;
}

static void table_remove(struct sp_group *g)
{
    struct sp_group **pp = &gs.buckets[id_hash(g->id, g->id_len) & (gs.nbuckets - 1)];
    while (*pp != g) {
        SP_ASSERT(*pp != NULL);
        pp = &(*pp)->hnext;
    }
    *pp = g->hnext;
    g->hnext = NULL;
    gs.count--;
}

static struct sp_group *group_new(const char *id, size_t len, int32_t part_index)
{
    struct sp_group *g = calloc(1, sizeof(*g));
    char *copy = malloc(len + 1);
    if (g == NULL || copy == NULL) {
        free(g);
        free(copy);
        return NULL;
    }
    memcpy(copy, id, len);
    copy[len] = 0;
    g->id = copy;
    g->id_len = len;
    g->part_index = part_index;
    g->type = SP_GROUP_CLASSIC;
    g->state = SP_GROUP_EMPTY;
    g->state_since_ms = sp_group_now_ms();
    g->refs = 1; /* the table's */
    if (table_add(g) < 0) {
        free(copy);
        free(g);
        return NULL;
    }
    return g;
}

static void offset_free(struct sp_group_offset *o)
{
    free(o->topic);
    free(o->metadata);
    free(o);
}

static void group_free(struct sp_group *g)
{
    for (struct sp_group_offset *o = g->offsets, *next; o != NULL; o = next) {
        next = o->next;
        offset_free(o);
    }
    free(g->ohash);
    free(g->id);
    free(g);
}

/* The partition a lookup of id is for, or NOT_COORDINATOR. */
static int16_t lookup_part(struct sp_str id, struct gpart **out)
{
    const struct sp_topic *t = sp_image_topic(SP_GROUP_TOPIC, strlen(SP_GROUP_TOPIC));
    if (t == NULL || t->partitions <= 0 || id.ptr == NULL || id.len < 0) {
        return KERR_NOT_COORDINATOR;
    }
    int32_t i = sp_group_partition(id.ptr, (size_t)id.len, t->partitions);
    struct gpart *gp = gpart_find(i);
    if (gp == NULL || t->part[i].shard != (uint32_t)sp_rx_shard_id()) {
        return KERR_NOT_COORDINATOR;
    }
    if (gp->loading) {
        return KERR_COORDINATOR_LOAD_IN_PROGRESS;
    }
    if (gp->p->log == NULL || sp_plog_error(gp->p->log) != 0) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    *out = gp;
    return 0;
}

int16_t sp_group_lookup(struct sp_str id, bool create, struct sp_group **out)
{
    *out = NULL;
    struct gpart *gp = NULL;
    int16_t err = lookup_part(id, &gp);
    if (err != 0) {
        return err;
    }
    struct sp_group *g = table_find(id.ptr, (size_t)id.len);
    if (g == NULL && create) {
        g = group_new(id.ptr, (size_t)id.len, gp->index);
        if (g == NULL) {
            return KERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    *out = g;
    return 0;
}

void sp_group_ref(struct sp_group *g)
{
    SP_ASSERT(g->refs > 0);
    g->refs++;
}

void sp_group_unref(struct sp_group *g)
{
    SP_ASSERT(g->refs > 0);
    if (--g->refs == 0) {
        SP_ASSERT(g->removed);
        group_free(g);
    }
}

/* Takes g out of the table with err for what its protocol module holds. */
static void group_leave(struct sp_group *g, int16_t err)
{
    if (g->removed) {
        return;
    }
    g->removed = true;
    table_remove(g);
    if (g->classic != NULL) {
        sp_group_classic_free(g, err);
    }
    if (g->consumer != NULL) {
        sp_group_consumer_free(g, err);
    }
    g->state = SP_GROUP_DEAD;
    g->state_since_ms = sp_group_now_ms();
    sp_group_unref(g); /* the table's */
}

void sp_group_remove(struct sp_group *g)
{
    group_leave(g, KERR_NOT_COORDINATOR);
}

void sp_group_each(void (*fn)(void *ctx, struct sp_group *g), void *ctx)
{
    for (uint32_t b = 0; b < gs.nbuckets; b++) {
        for (struct sp_group *g = gs.buckets[b]; g != NULL; g = g->hnext) {
            struct gpart *gp = gpart_of(g);
            if (gp != NULL && !gp->loading) {
                fn(ctx, g);
            }
        }
    }
}

/* ---- Offsets ------------------------------------------------------------------ */

static uint32_t offset_hash(const char *topic, size_t len, int32_t partition)
{
    return (id_hash(topic, len) ^ (uint32_t)partition) * 16777619u;
}

static struct sp_group_offset **offset_slot(const struct sp_group *g, struct sp_str topic,
                                            int32_t partition)
{
    if (g->ohash_size == 0 || topic.ptr == NULL) {
        return NULL;
    }
    uint32_t h = offset_hash(topic.ptr, (size_t)topic.len, partition) & (g->ohash_size - 1);
    struct sp_group_offset **pp = &g->ohash[h];
    while (*pp != NULL) {
        struct sp_group_offset *o = *pp;
        if (o->partition == partition && strlen(o->topic) == (size_t)topic.len &&
            memcmp(o->topic, topic.ptr, (size_t)topic.len) == 0) {
            return pp;
        }
        pp = &o->hnext;
    }
    return NULL;
}

const struct sp_group_offset *sp_group_offset_get(const struct sp_group *g, struct sp_str topic,
                                                  int32_t partition)
{
    struct sp_group_offset **pp = offset_slot(g, topic, partition);
    return pp != NULL ? *pp : NULL;
}

static void ohash_insert(struct sp_group *g, struct sp_group_offset *o)
{
    uint32_t h = offset_hash(o->topic, strlen(o->topic), o->partition) & (g->ohash_size - 1);
    o->hnext = g->ohash[h];
    g->ohash[h] = o;
}

/* 0 or -ENOMEM; the table keeps at most one offset per bucket on average. */
static int ohash_reserve(struct sp_group *g)
{
    if (g->ohash_size != 0 && g->offsets_count < g->ohash_size) {
        return 0;
    }
    uint32_t n = g->ohash_size ? g->ohash_size * 2 : GROUP_OHASH_MIN;
    struct sp_group_offset **nh = calloc(n, sizeof(*nh));
    if (nh == NULL) {
        return g->ohash_size != 0 ? 0 : -ENOMEM;
    }
    free(g->ohash);
    g->ohash = nh;
    g->ohash_size = n;
    for (struct sp_group_offset *o = g->offsets; o != NULL; o = o->next) {
        ohash_insert(g, o);
    }
    return 0;
}

static void offset_unlink(struct sp_group *g, struct sp_group_offset **slot)
{
    struct sp_group_offset *o = *slot;
    *slot = o->hnext;
    struct sp_group_offset **pp = &g->offsets;
    while (*pp != o) {
        SP_ASSERT(*pp != NULL);
        pp = &(*pp)->next;
    }
    *pp = o->next;
    g->offsets_count--;
    offset_free(o);
}

static char *str_dup(struct sp_str s)
{
    size_t len = s.ptr != NULL && s.len > 0 ? (size_t)s.len : 0;
    char *c = malloc(len + 1);
    if (c != NULL) {
        if (len > 0) {
            memcpy(c, s.ptr, len);
        }
        c[len] = 0;
    }
    return c;
}

int sp_group_offset_apply(struct sp_group *g, struct sp_str topic, int32_t partition,
                          const struct sp_group_offset *value)
{
    struct sp_group_offset **slot = offset_slot(g, topic, partition);
    if (value == NULL) {
        if (slot != NULL) {
            offset_unlink(g, slot);
        }
        return 0;
    }
    char *md = str_dup(sp_str_make(value->metadata));
    if (md == NULL) {
        return -ENOMEM;
    }
    struct sp_group_offset *o = slot != NULL ? *slot : NULL;
    if (o == NULL) {
        o = calloc(1, sizeof(*o));
        char *t = str_dup(topic);
        if (o == NULL || t == NULL || ohash_reserve(g) < 0) {
            free(o);
            free(t);
            free(md);
            return -ENOMEM;
        }
        o->topic = t;
        o->partition = partition;
        ohash_insert(g, o);
        /* Appended at the tail: the list stays in first-commit order. */
        struct sp_group_offset **pp = &g->offsets;
        while (*pp != NULL) {
            pp = &(*pp)->next;
        }
        *pp = o;
        g->offsets_count++;
    }
    free(o->metadata);
    o->metadata = md;
    o->offset = value->offset;
    o->leader_epoch = value->leader_epoch;
    o->commit_ms = value->commit_ms;
    o->expire_ms = value->expire_ms;
    return 0;
}

/* ---- Records ------------------------------------------------------------------ */

int sp_group_rec_encode(struct sp_arena *a, int16_t key_version, const void *key,
                        int16_t value_version, const void *value, struct sp_group_rec *out)
{
    (void)a;
    (void)key_version;
    (void)key;
    (void)value_version;
    (void)value;
    (void)out;
    return -EINVAL;
}

int16_t sp_group_store(struct sp_group *g, const struct sp_group_rec *recs, size_t n,
                       struct sp_group_write *w)
{
    (void)g;
    (void)recs;
    (void)n;
    (void)w;
    return KERR_COORDINATOR_NOT_AVAILABLE;
}

int16_t sp_group_delete(struct sp_group *g, struct sp_group_write *w)
{
    (void)g;
    (void)w;
    return KERR_COORDINATOR_NOT_AVAILABLE;
}

/* ---- The partitions ------------------------------------------------------------ */

static void replay(struct gpart *gp)
{
    (void)gp;
}

void sp_group_part_open(struct sp_part *p)
{
    struct gpart *gp = calloc(1, sizeof(*gp));
    if (gp == NULL) {
        sp_log_error("group: out of memory: %s-%d not served", p->name, p->index);
        return;
    }
    gp->index = p->index;
    gp->p = p;
    gp->loading = true;
    gp->next = gs.parts;
    gs.parts = gp;
    replay(gp);
    gp->loading = false;
    for (uint32_t b = 0; b < gs.nbuckets; b++) {
        for (struct sp_group *g = gs.buckets[b]; g != NULL; g = g->hnext) {
            if (g->part_index == gp->index) {
                sp_group_classic_loaded(g);
                sp_group_consumer_loaded(g);
            }
        }
    }
}

static void gpart_free_if_idle(struct gpart *gp)
{
    if (gp->p != NULL || gp->inflight != 0 || gp->backlog != NULL) {
        return;
    }
    struct gpart **pp = &gs.parts;
    while (*pp != gp) {
        SP_ASSERT(*pp != NULL);
        pp = &(*pp)->next;
    }
    *pp = gp->next;
    sp_rx_timer_cancel(&gp->retry);
    free(gp);
}

void sp_group_part_close(struct sp_part *p)
{
    struct gpart *gp = NULL;
    for (struct gpart *q = gs.parts; q != NULL; q = q->next) {
        if (q->p == p) {
            gp = q;
        }
    }
    if (gp == NULL) {
        return;
    }
    for (uint32_t b = 0; b < gs.nbuckets; b++) {
        for (struct sp_group *g = gs.buckets[b], *next; g != NULL; g = next) {
            next = g->hnext;
            if (g->part_index == gp->index) {
                group_leave(g, KERR_NOT_COORDINATOR);
            }
        }
    }
    gp->p = NULL;
    gpart_free_if_idle(gp);
}
