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
    struct gstore *stores; /* every store not yet finished, in flight or in the backlog */
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
    struct gstore *next;           /* the backlog */
    struct gstore *snext, **sprev; /* gpart.stores */
    bool remove_group;             /* sp_group_delete: the group goes once this is durable */
};

static void gpart_free_if_idle(struct gpart *gp);
static void expiry_arm(void);

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

bool sp_group_topic_ensure(void)
{
    const struct sp_topic *t = sp_image_topic(SP_GROUP_TOPIC, strlen(SP_GROUP_TOPIC));
    if (t == NULL || t->partitions <= 0) {
        create_offsets_topic();
        return false;
    }
    return true;
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

/* Every key schema, decoded; which member holds it is the key version. */
union rec_key {
    struct kproto_offset_commit_key oc;
    struct kproto_group_metadata_key gm;
    struct kproto_consumer_group_metadata_key cg_meta;
    struct kproto_consumer_group_partition_metadata_key cg_part;
    struct kproto_consumer_group_member_metadata_key cg_member;
    struct kproto_consumer_group_target_assignment_metadata_key cg_target;
    struct kproto_consumer_group_target_assignment_member_key cg_target_member;
    struct kproto_consumer_group_current_member_assignment_key cg_current;
};

union rec_value {
    struct kproto_offset_commit_value oc;
    struct kproto_group_metadata_value gm;
    struct kproto_consumer_group_metadata_value cg_meta;
    struct kproto_consumer_group_partition_metadata_value cg_part;
    struct kproto_consumer_group_member_metadata_value cg_member;
    struct kproto_consumer_group_target_assignment_metadata_value cg_target;
    struct kproto_consumer_group_target_assignment_member_value cg_target_member;
    struct kproto_consumer_group_current_member_assignment_value cg_current;
};

static int key_encode(struct sp_wr *wr, int16_t kv, const void *k)
{
    switch (kv) {
    case 0:
    case SP_GROUP_KEY_OFFSET_COMMIT:
        return kproto_offset_commit_key_encode(wr, kv, k);
    case SP_GROUP_KEY_GROUP_METADATA:
        return kproto_group_metadata_key_encode(wr, kv, k);
    case SP_GROUP_KEY_CG_METADATA:
        return kproto_consumer_group_metadata_key_encode(wr, kv, k);
    case SP_GROUP_KEY_CG_PARTITION_METADATA:
        return kproto_consumer_group_partition_metadata_key_encode(wr, kv, k);
    case SP_GROUP_KEY_CG_MEMBER_METADATA:
        return kproto_consumer_group_member_metadata_key_encode(wr, kv, k);
    case SP_GROUP_KEY_CG_TARGET_METADATA:
        return kproto_consumer_group_target_assignment_metadata_key_encode(wr, kv, k);
    case SP_GROUP_KEY_CG_TARGET_MEMBER:
        return kproto_consumer_group_target_assignment_member_key_encode(wr, kv, k);
    case SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT:
        return kproto_consumer_group_current_member_assignment_key_encode(wr, kv, k);
    default:
        return -EINVAL;
    }
}

static int value_encode(struct sp_wr *wr, int16_t kv, int16_t vv, const void *v)
{
    switch (kv) {
    case 0:
    case SP_GROUP_KEY_OFFSET_COMMIT:
        return kproto_offset_commit_value_encode(wr, vv, v);
    case SP_GROUP_KEY_GROUP_METADATA:
        return kproto_group_metadata_value_encode(wr, vv, v);
    case SP_GROUP_KEY_CG_METADATA:
        return kproto_consumer_group_metadata_value_encode(wr, vv, v);
    case SP_GROUP_KEY_CG_PARTITION_METADATA:
        return kproto_consumer_group_partition_metadata_value_encode(wr, vv, v);
    case SP_GROUP_KEY_CG_MEMBER_METADATA:
        return kproto_consumer_group_member_metadata_value_encode(wr, vv, v);
    case SP_GROUP_KEY_CG_TARGET_METADATA:
        return kproto_consumer_group_target_assignment_metadata_value_encode(wr, vv, v);
    case SP_GROUP_KEY_CG_TARGET_MEMBER:
        return kproto_consumer_group_target_assignment_member_value_encode(wr, vv, v);
    case SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT:
        return kproto_consumer_group_current_member_assignment_value_encode(wr, vv, v);
    default:
        return -EINVAL;
    }
}

/* Decodes a key at kv into k; the group id it names goes to *group. 0 or -errno. */
static int key_decode(struct sp_rd *rd, struct sp_arena *a, int16_t kv, union rec_key *k,
                      struct sp_str *group)
{
    int rc;
    switch (kv) {
    case 0:
    case SP_GROUP_KEY_OFFSET_COMMIT:
        rc = kproto_offset_commit_key_decode(rd, a, kv, &k->oc);
        *group = k->oc.group;
        break;
    case SP_GROUP_KEY_GROUP_METADATA:
        rc = kproto_group_metadata_key_decode(rd, a, kv, &k->gm);
        *group = k->gm.group;
        break;
    case SP_GROUP_KEY_CG_METADATA:
        rc = kproto_consumer_group_metadata_key_decode(rd, a, kv, &k->cg_meta);
        *group = k->cg_meta.GroupId;
        break;
    case SP_GROUP_KEY_CG_PARTITION_METADATA:
        rc = kproto_consumer_group_partition_metadata_key_decode(rd, a, kv, &k->cg_part);
        *group = k->cg_part.GroupId;
        break;
    case SP_GROUP_KEY_CG_MEMBER_METADATA:
        rc = kproto_consumer_group_member_metadata_key_decode(rd, a, kv, &k->cg_member);
        *group = k->cg_member.GroupId;
        break;
    case SP_GROUP_KEY_CG_TARGET_METADATA:
        rc = kproto_consumer_group_target_assignment_metadata_key_decode(rd, a, kv, &k->cg_target);
        *group = k->cg_target.GroupId;
        break;
    case SP_GROUP_KEY_CG_TARGET_MEMBER:
        rc = kproto_consumer_group_target_assignment_member_key_decode(rd, a, kv,
                                                                       &k->cg_target_member);
        *group = k->cg_target_member.GroupId;
        break;
    case SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT:
        rc = kproto_consumer_group_current_member_assignment_key_decode(rd, a, kv, &k->cg_current);
        *group = k->cg_current.GroupId;
        break;
    default:
        return -ENOTSUP;
    }
    return rc;
}

static int value_decode(struct sp_rd *rd, struct sp_arena *a, int16_t kv, int16_t vv,
                        union rec_value *v)
{
    switch (kv) {
    case 0:
    case SP_GROUP_KEY_OFFSET_COMMIT:
        return kproto_offset_commit_value_decode(rd, a, vv, &v->oc);
    case SP_GROUP_KEY_GROUP_METADATA:
        return kproto_group_metadata_value_decode(rd, a, vv, &v->gm);
    case SP_GROUP_KEY_CG_METADATA:
        return kproto_consumer_group_metadata_value_decode(rd, a, vv, &v->cg_meta);
    case SP_GROUP_KEY_CG_PARTITION_METADATA:
        return kproto_consumer_group_partition_metadata_value_decode(rd, a, vv, &v->cg_part);
    case SP_GROUP_KEY_CG_MEMBER_METADATA:
        return kproto_consumer_group_member_metadata_value_decode(rd, a, vv, &v->cg_member);
    case SP_GROUP_KEY_CG_TARGET_METADATA:
        return kproto_consumer_group_target_assignment_metadata_value_decode(rd, a, vv,
                                                                             &v->cg_target);
    case SP_GROUP_KEY_CG_TARGET_MEMBER:
        return kproto_consumer_group_target_assignment_member_value_decode(rd, a, vv,
                                                                           &v->cg_target_member);
    case SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT:
        return kproto_consumer_group_current_member_assignment_value_decode(rd, a, vv,
                                                                            &v->cg_current);
    default:
        return -ENOTSUP;
    }
}

int sp_group_rec_encode(struct sp_arena *a, int16_t key_version, const void *key,
                        int16_t value_version, const void *value, struct sp_group_rec *out)
{
    if (key == NULL || key_version < 0 || key_version > SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT) {
        return -EINVAL;
    }
    struct sp_wr wr;
    sp_wr_init(&wr, a, 64);
    sp_wr_i16(&wr, key_version);
    int rc = key_encode(&wr, key_version, key);
    if (rc < 0 || wr.err != 0) {
        return wr.err == -ENOMEM || rc == -ENOMEM ? -ENOMEM : -EINVAL;
    }
    out->key = sp_slice_make(wr.buf, wr.len);
    out->value = sp_slice_make(NULL, 0);
    if (value == NULL) {
        return 0;
    }
    sp_wr_init(&wr, a, 128);
    sp_wr_i16(&wr, value_version);
    rc = value_encode(&wr, key_version, value_version, value);
    if (rc < 0 || wr.err != 0) {
        return wr.err == -ENOMEM || rc == -ENOMEM ? -ENOMEM : -EINVAL;
    }
    out->value = sp_slice_make(wr.buf, wr.len);
    return 0;
}

/* ---- The store ------------------------------------------------------------------ */

static enum sp_plog_ack store_ack(void)
{
    const struct sp_config *c = cfg();
    bool wait = c == NULL || sp_config_bool(c, SP_CFG_LOG_FLUSH_ACKS_ALL_WAIT);
    return wait ? SP_PLOG_ACK_DURABLE : SP_PLOG_ACK_WRITTEN;
}

/* Ends a store: w->done with err, then what the store held goes. */
static void store_finish(struct gstore *st, int16_t err)
{
    struct sp_group_write *w = st->w;
    struct sp_group *g = w->g;
    struct gpart *gp = st->gp;
    bool remove = st->remove_group && err == 0;
    *st->sprev = st->snext;
    if (st->snext != NULL) {
        st->snext->sprev = st->sprev;
    }
    free(st->batch);
    free(st);
    if (remove && !g->removed) {
        group_leave(g, KERR_NOT_COORDINATOR);
    }
    w->priv = NULL;
    w->done(w, err); /* w may be gone after this */
    sp_group_unref(g);
    gpart_free_if_idle(gp);
}

static void store_appended(struct sp_plog_append *a, int res)
{
    struct gstore *st = sp_container_of(a, struct gstore, app);
    struct gpart *gp = st->gp;
    SP_ASSERT(gp->inflight > 0);
    gp->inflight--;
    sp_part_unref(st->p);
    st->p = NULL;
    int16_t err = 0;
    if (res < 0) {
        sp_log_warn("group: a store to %s-%d failed: %s", SP_GROUP_TOPIC, gp->index,
                    strerror(-res));
        err = KERR_NOT_COORDINATOR; /* the partition went offline: find the coordinator again */
    } else if (gp->p == NULL) {
        err = KERR_NOT_COORDINATOR; /* durable, but the group left this shard meanwhile */
    }
    store_finish(st, err);
}

/* Appends st now: 0 (its ack follows), -ENOBUFS (try again later), or -errno. */
static int store_try(struct gstore *st)
{
    struct sp_part *p = st->gp->p;
    if (p == NULL || p->log == NULL) {
        return -EIO;
    }
    st->app.done = store_appended;
    st->app.ack = store_ack();
    int rc = sp_plog_append(p->log, &st->app, st->batch, st->len);
    if (rc < 0) {
        return rc;
    }
    free(st->batch); /* the log copied it */
    st->batch = NULL;
    sp_part_ref(p);
    st->p = p;
    st->gp->inflight++;
    return 0;
}

static int16_t store_error(int rc)
{
    return rc == -EBADMSG ? KERR_UNKNOWN_SERVER_ERROR : KERR_NOT_COORDINATOR;
}

static void backlog_retry(struct sp_timer *t)
{
    struct gpart *gp = sp_container_of(t, struct gpart, retry);
    gp->inflight++; /* gp stays while failed stores are answered */
    while (gp->backlog != NULL) {
        struct gstore *st = gp->backlog;
        int rc = store_try(st);
        if (rc == -ENOBUFS) {
            (void)sp_rx_timer_start(&gp->retry, GROUP_RETRY_MS, backlog_retry);
            break;
        }
        gp->backlog = st->next;
        if (gp->backlog == NULL) {
            gp->backlog_tail = NULL;
        }
        if (rc < 0) {
            store_finish(st, store_error(rc));
        }
    }
    gp->inflight--;
    gpart_free_if_idle(gp);
}

static void backlog_push(struct gpart *gp, struct gstore *st)
{
    st->next = NULL;
    if (gp->backlog_tail != NULL) {
        gp->backlog_tail->next = st;
    } else {
        gp->backlog = st;
    }
    gp->backlog_tail = st;
    if (!sp_timer_armed(&gp->retry)) {
        (void)sp_rx_timer_start(&gp->retry, GROUP_RETRY_MS, backlog_retry);
    }
}

/* Builds recs into one uncompressed v2 batch (heap). 0 or a Kafka error. */
static int16_t batch_build(const struct sp_group_rec *recs, size_t n, uint8_t **out, size_t *len)
{
    struct sp_record_in *in = calloc(n, sizeof(*in));
    if (in == NULL) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    int64_t now = sp_group_now_ms();
    for (size_t i = 0; i < n; i++) {
        in[i].key = recs[i].key;
        in[i].value = recs[i].value;
        in[i].timestamp = now;
    }
    size_t bound = sp_batch_build_bound(in, n);
    if (bound > GROUP_STORE_BYTES_MAX) {
        free(in);
        return KERR_INVALID_COMMIT_OFFSET_SIZE;
    }
    uint8_t *buf = malloc(bound);
    if (buf == NULL) {
        free(in);
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    struct sp_batch_params bp = {
        .base_offset = 0,
        .partition_leader_epoch = -1,
        .attributes = 0,
        .producer_id = SP_NO_PRODUCER_ID,
        .producer_epoch = SP_NO_PRODUCER_EPOCH,
        .base_sequence = SP_NO_SEQUENCE,
    };
    int size = sp_batch_build(buf, bound, &bp, in, n);
    free(in);
    if (size < 0) {
        free(buf);
        return KERR_UNKNOWN_SERVER_ERROR;
    }
    *out = buf;
    *len = (size_t)size;
    return 0;
}

static int16_t store_start(struct sp_group *g, const struct sp_group_rec *recs, size_t n,
                           struct sp_group_write *w, bool remove_group)
{
    SP_ASSERT(w != NULL && w->done != NULL);
    if (n == 0) {
        return KERR_UNKNOWN_SERVER_ERROR;
    }
    struct gpart *gp = gpart_of(g);
    if (g->removed || gp == NULL) {
        return KERR_NOT_COORDINATOR;
    }
    if (gp->loading) {
        return KERR_COORDINATOR_LOAD_IN_PROGRESS;
    }
    if (gp->p->log == NULL || sp_plog_error(gp->p->log) != 0) {
        return KERR_NOT_COORDINATOR;
    }
    struct gstore *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    int16_t err = batch_build(recs, n, &st->batch, &st->len);
    if (err != 0) {
        free(st);
        return err;
    }
    st->w = w;
    st->gp = gp;
    st->remove_group = remove_group;
    bool appended = false;
    if (gp->backlog == NULL) {
        int rc = store_try(st);
        if (rc < 0 && rc != -ENOBUFS) {
            free(st->batch);
            free(st);
            return store_error(rc);
        }
        appended = rc == 0;
    }
    w->g = g;
    w->priv = st;
    sp_group_ref(g);
    st->sprev = &gp->stores;
    st->snext = gp->stores;
    if (gp->stores != NULL) {
        gp->stores->sprev = &st->snext;
    }
    gp->stores = st;
    if (!appended) {
        backlog_push(gp, st);
    }
    return 0;
}

int16_t sp_group_store(struct sp_group *g, const struct sp_group_rec *recs, size_t n,
                       struct sp_group_write *w)
{
    return store_start(g, recs, n, w, false);
}

/*
 * Tombstones for the offsets offs[0..noffs) of g and, with group_keys, for
 * its group records: classic metadata, and a consumer group's epoch,
 * subscription metadata and target assignment (an empty group has no
 * member records left). 0 or -ENOMEM.
 */
static int tombstones_build(const struct sp_group *g, struct sp_arena *a,
                            const struct sp_group_offset *const *offs, size_t noffs,
                            bool group_keys, struct sp_group_rec **out, size_t *n)
{
    struct sp_group_rec *r = sp_arena_calloc(a, noffs + 4, sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    size_t k = 0;
    struct sp_str id = {g->id, (int32_t)g->id_len};
    int rc = 0;
    for (size_t i = 0; i < noffs && rc == 0; i++) {
        struct kproto_offset_commit_key key = {
            .group = id, .topic = sp_str_make(offs[i]->topic), .partition = offs[i]->partition};
        rc = sp_group_rec_encode(a, SP_GROUP_KEY_OFFSET_COMMIT, &key, 0, NULL, &r[k++]);
    }
    if (group_keys && rc == 0) {
        struct kproto_group_metadata_key gm = {.group = id};
        rc = sp_group_rec_encode(a, SP_GROUP_KEY_GROUP_METADATA, &gm, 0, NULL, &r[k++]);
    }
    if (group_keys && g->type == SP_GROUP_CONSUMER && rc == 0) {
        struct kproto_consumer_group_metadata_key k3 = {.GroupId = id};
        struct kproto_consumer_group_partition_metadata_key k4 = {.GroupId = id};
        struct kproto_consumer_group_target_assignment_metadata_key k6 = {.GroupId = id};
        rc = sp_group_rec_encode(a, SP_GROUP_KEY_CG_PARTITION_METADATA, &k4, 0, NULL, &r[k++]);
        if (rc == 0) {
            rc = sp_group_rec_encode(a, SP_GROUP_KEY_CG_TARGET_METADATA, &k6, 0, NULL, &r[k++]);
        }
        if (rc == 0) {
            rc = sp_group_rec_encode(a, SP_GROUP_KEY_CG_METADATA, &k3, 0, NULL, &r[k++]);
        }
    }
    *out = r;
    *n = k;
    return rc;
}

int16_t sp_group_delete(struct sp_group *g, struct sp_group_write *w)
{
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, GROUP_STORE_BYTES_MAX);
    const struct sp_group_offset **offs = sp_arena_calloc(&a, g->offsets_count + 1, sizeof(*offs));
    int16_t err = KERR_COORDINATOR_NOT_AVAILABLE;
    if (offs != NULL) {
        size_t noffs = 0;
        for (const struct sp_group_offset *o = g->offsets; o != NULL; o = o->next) {
            offs[noffs++] = o;
        }
        struct sp_group_rec *recs = NULL;
        size_t n = 0;
        if (tombstones_build(g, &a, offs, noffs, true, &recs, &n) == 0) {
            err = store_start(g, recs, n, w, true);
        }
    }
    sp_arena_destroy(&a);
    return err;
}

/* ---- Expiry ----------------------------------------------------------------------- */

/* A store of expiry's own: nobody waits for it. */
struct expiry_write {
    struct sp_group_write w;
};

static void expiry_write_done(struct sp_group_write *w, int16_t err)
{
    if (err != 0) {
        sp_log_warn("group: tombstones of expired offsets of %s not written: %s", w->g->id,
                    kerr_name(err));
    }
    free(sp_container_of(w, struct expiry_write, w));
}

/* Whether a store of g is in flight or waiting (its offsets may be about to change). */
static bool group_storing(const struct sp_group *g)
{
    const struct gpart *gp = gpart_of(g);
    for (const struct gstore *st = gp != NULL ? gp->stores : NULL; st != NULL; st = st->snext) {
        if (st->w->g == g) {
            return true;
        }
    }
    return false;
}

static bool offset_expired(const struct sp_group *g, const struct sp_group_offset *o,
                           bool has_protocol, int64_t now_ms, int64_t retention_ms)
{
    if (o->expire_ms >= 0) {
        return now_ms >= o->expire_ms; /* an explicit retention (OffsetCommit v2-4) */
    }
    /* A group with a protocol counts from when it became empty, simple consumers from the commit.
     */
    int64_t base = has_protocol && g->state_since_ms > 0 ? g->state_since_ms : o->commit_ms;
    return base + retention_ms <= now_ms;
}

/*
 * Kafka's rules: the offsets of a group are judged only while it has no
 * members (a group without a protocol never has any); an explicit expire
 * time wins, else offsets.retention.minutes from the time the group became
 * Empty, or from the commit for a group without a protocol. A group left
 * Empty without offsets goes, with its records.
 */
static void expire_group(struct sp_group *g, int64_t now_ms, int64_t retention_ms)
{
    bool has_protocol = g->classic != NULL || g->consumer != NULL;
    uint32_t members = sp_group_classic_members(g) + sp_group_consumer_members(g);
    if (members > 0 || g->state != SP_GROUP_EMPTY || group_storing(g)) {
        return;
    }
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, GROUP_STORE_BYTES_MAX);
    const struct sp_group_offset **offs = sp_arena_calloc(&a, g->offsets_count + 1, sizeof(*offs));
    size_t noffs = 0;
    for (const struct sp_group_offset *o = g->offsets; offs != NULL && o != NULL; o = o->next) {
        if (offset_expired(g, o, has_protocol, now_ms, retention_ms)) {
            offs[noffs++] = o;
        }
    }
    bool gone = offs != NULL && noffs == g->offsets_count;
    struct sp_group_rec *recs = NULL;
    size_t n = 0;
    struct expiry_write *ew = NULL;
    if (offs != NULL && (noffs > 0 || gone) &&
        tombstones_build(g, &a, offs, noffs, gone, &recs, &n) == 0 &&
        (ew = calloc(1, sizeof(*ew))) != NULL) {
        ew->w.done = expiry_write_done;
        int16_t err = store_start(g, recs, n, &ew->w, false);
        if (err != 0) {
            sp_log_warn("group: tombstones of expired offsets of %s not written: %s", g->id,
                        kerr_name(err));
            free(ew);
        }
        if (noffs > 0) {
            sp_log_info("group: %s: %zu committed offsets expired%s", g->id, noffs,
                        gone ? ", the group is removed" : "");
        }
        /* Memory follows at once, as Kafka's does; the tombstones make it durable. */
        for (size_t i = 0; i < noffs; i++) {
            const struct sp_group_offset *o = offs[i];
            struct sp_str topic = sp_str_make(o->topic);
            (void)sp_group_offset_apply(g, topic, o->partition, NULL);
        }
        if (gone) {
            group_leave(g, KERR_NOT_COORDINATOR);
        }
    }
    sp_arena_destroy(&a);
}

static void expiry_run(struct sp_timer *t)
{
    (void)t;
    const struct sp_config *c = cfg();
    int64_t retention_ms =
        (c != NULL ? sp_config_int(c, SP_CFG_OFFSETS_RETENTION_MINUTES) : 10080) * 60000;
    int64_t now_ms = sp_group_now_ms();
    /* Groups may leave the table as they are judged: walk a copy of the list. */
    struct sp_group **list = gs.count > 0 ? calloc(gs.count, sizeof(*list)) : NULL;
    uint32_t n = 0;
    for (uint32_t b = 0; list != NULL && b < gs.nbuckets; b++) {
        for (struct sp_group *g = gs.buckets[b]; g != NULL && n < gs.count; g = g->hnext) {
            const struct gpart *gp = gpart_of(g);
            if (gp != NULL && !gp->loading) {
                sp_group_ref(g);
                list[n++] = g;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!list[i]->removed) {
            expire_group(list[i], now_ms, retention_ms);
        }
        sp_group_unref(list[i]);
    }
    free(list);
    expiry_arm();
}

static void expiry_arm(void)
{
    if (gs.parts == NULL || sp_timer_armed(&gs.expiry)) {
        return;
    }
    const struct sp_config *c = cfg();
    int64_t ms = c != NULL ? sp_config_int(c, SP_CFG_OFFSETS_RETENTION_CHECK_INTERVAL_MS) : 600000;
    (void)sp_rx_timer_start(&gs.expiry, (uint64_t)SP_MAX(ms, 1), expiry_run);
}

/* ---- Replay ---------------------------------------------------------------------- */

struct replay_ctx {
    struct gpart *gp;
    int32_t partitions;    /* of __consumer_offsets */
    struct sp_arena arena; /* one record's decoded key and value */
    uint64_t records, skipped, malformed;
};

/* The group a replayed record belongs to; NULL when it is not this partition's. */
static struct sp_group *replay_group(struct replay_ctx *rc, struct sp_str id, bool create)
{
    if (id.ptr == NULL || id.len < 0 ||
        sp_group_partition(id.ptr, (size_t)id.len, rc->partitions) != rc->gp->index) {
        rc->malformed++;
        return NULL;
    }
    struct sp_group *g = table_find(id.ptr, (size_t)id.len);
    if (g == NULL && create) {
        g = group_new(id.ptr, (size_t)id.len, rc->gp->index);
        if (g == NULL) {
            sp_log_error("group: out of memory replaying %s-%d", SP_GROUP_TOPIC, rc->gp->index);
        }
    }
    return g;
}

static void replay_offset(struct replay_ctx *rc, struct sp_group *g, const union rec_key *k,
                          int16_t vv, const union rec_value *v)
{
    if (v == NULL) {
        (void)sp_group_offset_apply(g, k->oc.topic, k->oc.partition, NULL);
        return;
    }
    char *md = sp_arena_alloc(&rc->arena, (size_t)SP_MAX(v->oc.metadata.len, 0) + 1);
    if (md == NULL) {
        rc->malformed++;
        return;
    }
    if (v->oc.metadata.ptr != NULL && v->oc.metadata.len > 0) {
        memcpy(md, v->oc.metadata.ptr, (size_t)v->oc.metadata.len);
    }
    md[SP_MAX(v->oc.metadata.len, 0)] = 0;
    struct sp_group_offset o = {
        .offset = v->oc.offset,
        .leader_epoch = vv >= 3 ? v->oc.leaderEpoch : -1,
        .metadata = md,
        .commit_ms = v->oc.commitTimestamp,
        .expire_ms = vv == 1 ? v->oc.expireTimestamp : -1,
    };
    if (sp_group_offset_apply(g, k->oc.topic, k->oc.partition, &o) < 0) {
        sp_log_error("group: out of memory replaying an offset of %s", g->id);
    }
}

/* One record of the partition; whatever it holds, it never crashes the shard. */
static void replay_record(struct replay_ctx *rc, struct sp_slice key, struct sp_slice value)
{
    if (key.ptr == NULL || key.len < 2) {
        rc->malformed++;
        return;
    }
    int16_t kv = (int16_t)sp_load_be16(key.ptr);
    if (kv < 0 || kv > SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT) {
        if (rc->skipped++ == 0) {
            sp_log_info("group: %s-%d: skipping records of unknown key version %d", SP_GROUP_TOPIC,
                        rc->gp->index, kv);
        }
        return;
    }
    sp_arena_reset(&rc->arena);
    union rec_key k;
    struct sp_str id = {NULL, 0};
    struct sp_rd rd;
    sp_rd_init(&rd, key.ptr + 2, key.len - 2);
    memset(&k, 0, sizeof(k));
    if (key_decode(&rd, &rc->arena, kv, &k, &id) != 0) {
        rc->malformed++;
        return;
    }
    union rec_value v;
    int16_t vv = 0;
    bool tomb = value.ptr == NULL;
    if (!tomb) {
        if (value.len < 2) {
            rc->malformed++;
            return;
        }
        vv = (int16_t)sp_load_be16(value.ptr);
        memset(&v, 0, sizeof(v));
        sp_rd_init(&rd, value.ptr + 2, value.len - 2);
        if (value_decode(&rd, &rc->arena, kv, vv, &v) != 0) {
            rc->malformed++;
            return;
        }
    }
    struct sp_group *g = replay_group(rc, id, !tomb);
    if (g == NULL) {
        return;
    }
    rc->records++;
    if (kv <= SP_GROUP_KEY_OFFSET_COMMIT) {
        replay_offset(rc, g, &k, vv, tomb ? NULL : &v);
    } else if (kv == SP_GROUP_KEY_GROUP_METADATA) {
        if (!tomb) {
            g->type = SP_GROUP_CLASSIC;
        }
        sp_group_classic_replay(g, tomb ? NULL : &v.gm);
    } else {
        if (!tomb) {
            g->type = SP_GROUP_CONSUMER;
        }
        sp_group_consumer_replay(g, kv, &k, tomb ? NULL : &v);
    }
}

/* The records of one batch at or after `from`. */
static void replay_batch(struct replay_ctx *rc, const uint8_t *buf, size_t size, int64_t from,
                         struct sp_arena *scratch)
{
    struct sp_batch_header h;
    if (sp_batch_validate(buf, size, &h) != 0) {
        rc->malformed++;
        return;
    }
    if (sp_batch_is_control(&h) || sp_batch_last_offset(&h) < from) {
        return;
    }
    sp_arena_reset(scratch);
    struct sp_slice records;
    if (sp_batch_records_decompress(buf, &h, scratch, GROUP_RECORDS_MAX, &records) != 0) {
        rc->malformed++;
        return;
    }
    struct sp_record_iter it;
    sp_record_iter_init(&it, &h, records);
    struct sp_record rec;
    int r;
    while ((r = sp_record_iter_next(&it, &rec)) == 1) {
        if (rec.offset >= from) {
            replay_record(rc, rec.key, rec.value);
        }
    }
    if (r < 0) {
        rc->malformed++;
    }
}

struct replay_read {
    struct sp_plog_read r;
    bool done;
    int res;
};

static void replay_read_done(struct sp_plog_read *r, int res)
{
    struct replay_read *rd = sp_container_of(r, struct replay_read, r);
    rd->res = res;
    rd->done = true;
}

/* Reads the partition from its start to its end (blocking, as pstate's replay). */
static int replay_log(struct replay_ctx *rc, struct sp_plog *log, struct sp_arena *scratch)
{
    int64_t from = sp_plog_start_offset(log);
    while (from < sp_plog_end_offset(log)) {
        struct replay_read rd;
        memset(&rd, 0, sizeof(rd));
        rd.r.done = replay_read_done;
        rd.r.offset = from;
        rd.r.max_bytes = GROUP_READ_BYTES;
        rd.r.isolation = SP_PLOG_READ_WRITTEN;
        int r = sp_plog_read(log, &rd.r);
        if (r == 1) {
            while (!rd.done) {
                if (sp_io_turn(sp_rx_io()) < 0) {
                    sp_log_warn("group: polling the ring failed; retrying");
                }
            }
            r = rd.res;
        }
        if (r < 0) {
            return r;
        }
        const uint8_t *data = rd.r.data;
        uint32_t len = rd.r.len;
        int64_t next = rd.r.next_offset;
        for (uint32_t at = 0; at < len;) {
            size_t size = sp_batch_size(data + at, len - at);
            if (size == 0 || size > len - at) {
                break;
            }
            replay_batch(rc, data + at, size, from, scratch);
            at += (uint32_t)size;
        }
        sp_plog_read_release(&rd.r);
        if (len == 0 || next <= from) {
            break;
        }
        from = next;
    }
    return 0;
}

static void replay(struct gpart *gp)
{
    const struct sp_topic *t = sp_image_topic(SP_GROUP_TOPIC, strlen(SP_GROUP_TOPIC));
    struct sp_plog *log = gp->p->log;
    if (t == NULL || log == NULL) {
        return;
    }
    struct replay_ctx rc = {.gp = gp, .partitions = t->partitions};
    sp_arena_init(&rc.arena, NULL, 0, GROUP_RECORDS_MAX);
    struct sp_arena scratch;
    sp_arena_init(&scratch, NULL, 0, GROUP_RECORDS_MAX + (1u << 20));
    int r = replay_log(&rc, log, &scratch);
    sp_arena_destroy(&scratch);
    sp_arena_destroy(&rc.arena);
    if (r < 0) {
        sp_log_warn("group: %s-%d: replay stopped: %s", SP_GROUP_TOPIC, gp->index, strerror(-r));
    }
    if (rc.records != 0 || rc.malformed != 0 || rc.skipped != 0) {
        sp_log_info("group: %s-%d loaded: %llu records, %llu of unknown kinds, %llu malformed",
                    SP_GROUP_TOPIC, gp->index, (unsigned long long)rc.records,
                    (unsigned long long)rc.skipped, (unsigned long long)rc.malformed);
    }
}

/* ---- The partitions ------------------------------------------------------------ */

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
        for (struct sp_group *g = gs.buckets[b], *next; g != NULL; g = next) {
            next = g->hnext;
            if (g->part_index != gp->index) {
                continue;
            }
            if (g->classic == NULL && g->consumer == NULL && g->offsets_count == 0) {
                group_leave(g, KERR_NOT_COORDINATOR); /* tombstoned entirely */
                continue;
            }
            sp_group_classic_loaded(g);
            sp_group_consumer_loaded(g);
        }
    }
    expiry_arm();
}

static void gpart_free_if_idle(struct gpart *gp)
{
    if (gp->p != NULL || gp->inflight != 0 || gp->backlog != NULL || gp->stores != NULL) {
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
    if (gs.parts == NULL && gs.count == 0) {
        /* The last partition is gone (shutdown, or the topic deleted): so is the table. */
        sp_rx_timer_cancel(&gs.expiry);
        free(gs.buckets);
        gs.buckets = NULL;
        gs.nbuckets = 0;
    }
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
    sp_rx_timer_cancel(&gp->retry);
    gp->inflight++; /* gp stays while its backlog is answered */
    while (gp->backlog != NULL) {
        struct gstore *st = gp->backlog;
        gp->backlog = st->next;
        if (gp->backlog == NULL) {
            gp->backlog_tail = NULL;
        }
        store_finish(st, KERR_NOT_COORDINATOR);
    }
    gp->inflight--;
    gpart_free_if_idle(gp);
}
