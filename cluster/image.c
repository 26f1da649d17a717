/*
 * cluster/image.c: a shard's metadata image (cluster/image.h).
 *
 * Each shard has its own copy in thread-local state:
 *
 *   order[]    topics in creation order (what Metadata lists)
 *   by_name    hash of chains through itopic.next_name
 *   by_id      hash of chains through itopic.next_id
 *   shard_parts[s]  partitions placed on shard s: the placement rule's counts
 *
 * Every change comes through sp_image_apply(), one record at a time, from
 * the load at start and from the controller's deltas alike.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/image.h"
#include "core/log.h"
#include "core/rx.h"

#define IMAGE_BUCKETS_MIN       64
#define IMAGE_RECORDS_BYTES_MAX (1ull << 32)

struct itopic {
    struct sp_topic t;
    struct itopic *next_name;
    struct itopic *next_id;
};

struct image {
    struct itopic **order;
    uint32_t count;
    uint32_t cap;
    struct itopic **by_name;
    struct itopic **by_id;
    uint32_t buckets; /* a power of two */
    uint32_t *shard_parts;
    uint32_t shards;
    int64_t offset;
    int64_t next_producer_id;
};

static _Thread_local struct image img;
static const struct sp_config *broker_cfg;
static int32_t node_id;

void sp_image_setup(const struct sp_config *broker, int32_t node)
{
    broker_cfg = broker;
    node_id = node;
}

int32_t sp_image_node_id(void)
{
    return node_id;
}

const struct sp_config *sp_image_broker_config(void)
{
    return broker_cfg;
}

static uint32_t hash_bytes(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ b[i]) * 16777619u;
    }
    return h;
}

int sp_image_init(void)
{
    memset(&img, 0, sizeof(img));
    img.shards = sp_rx_shard_count() > 0 ? sp_rx_shard_count() : 1;
    img.buckets = IMAGE_BUCKETS_MIN;
    img.by_name = calloc(img.buckets, sizeof(*img.by_name));
    img.by_id = calloc(img.buckets, sizeof(*img.by_id));
    img.shard_parts = calloc(img.shards, sizeof(*img.shard_parts));
    if (img.by_name == NULL || img.by_id == NULL || img.shard_parts == NULL) {
        sp_image_fini();
        return -ENOMEM;
    }
    return 0;
}

static void topic_free(struct itopic *it)
{
    for (size_t i = 0; i < it->t.configs_count; i++) {
        free((char *)it->t.configs[i].key);
        free((char *)it->t.configs[i].value);
    }
    free(it->t.configs);
    free(it->t.part);
    free(it->t.name);
    free(it);
}

void sp_image_fini(void)
{
    for (uint32_t i = 0; i < img.count; i++) {
        topic_free(img.order[i]);
    }
    free(img.order);
    free(img.by_name);
    free(img.by_id);
    free(img.shard_parts);
    memset(&img, 0, sizeof(img));
}

const struct sp_topic *sp_image_topic(const char *name, size_t len)
{
    if (img.buckets == 0) {
        return NULL;
    }
    uint32_t b = hash_bytes(name, len) & (img.buckets - 1);
    for (struct itopic *it = img.by_name[b]; it != NULL; it = it->next_name) {
        if (it->t.name_len == len && memcmp(it->t.name, name, len) == 0) {
            return &it->t;
        }
    }
    return NULL;
}

static struct itopic *topic_by_id(const uint8_t id[16])
{
    if (img.buckets == 0) {
        return NULL;
    }
    uint32_t b = hash_bytes(id, 16) & (img.buckets - 1);
    for (struct itopic *it = img.by_id[b]; it != NULL; it = it->next_id) {
        if (memcmp(it->t.id, id, 16) == 0) {
            return it;
        }
    }
    return NULL;
}

const struct sp_topic *sp_image_topic_by_id(const uint8_t id[16])
{
    struct itopic *it = topic_by_id(id);
    return it != NULL ? &it->t : NULL;
}

uint32_t sp_image_topic_count(void)
{
    return img.count;
}

const struct sp_topic *sp_image_topic_at(uint32_t i)
{
    return i < img.count ? &img.order[i]->t : NULL;
}

int64_t sp_image_offset(void)
{
    return img.offset;
}

int64_t sp_image_next_producer_id(void)
{
    return img.next_producer_id;
}

uint32_t sp_image_shard_parts(uint32_t shard)
{
    return shard < img.shards ? img.shard_parts[shard] : 0;
}

static void hash_insert(struct itopic *it)
{
    uint32_t bn = hash_bytes(it->t.name, it->t.name_len) & (img.buckets - 1);
    uint32_t bi = hash_bytes(it->t.id, 16) & (img.buckets - 1);
    it->next_name = img.by_name[bn];
    img.by_name[bn] = it;
    it->next_id = img.by_id[bi];
    img.by_id[bi] = it;
}

/* Doubles the buckets when the chains grow long; on failure keeps the old (slower) table. */
static void hash_grow(void)
{
    if (img.count < img.buckets) {
        return;
    }
    uint32_t n = img.buckets * 2;
    struct itopic **bn = calloc(n, sizeof(*bn));
    struct itopic **bi = calloc(n, sizeof(*bi));
    if (bn == NULL || bi == NULL) {
        free(bn);
        free(bi);
        return;
    }
    free(img.by_name);
    free(img.by_id);
    img.by_name = bn;
    img.by_id = bi;
    img.buckets = n;
    for (uint32_t i = 0; i < img.count; i++) {
        hash_insert(img.order[i]);
    }
}

static void hash_remove(struct itopic *it)
{
    uint32_t bn = hash_bytes(it->t.name, it->t.name_len) & (img.buckets - 1);
    for (struct itopic **pp = &img.by_name[bn]; *pp != NULL; pp = &(*pp)->next_name) {
        if (*pp == it) {
            *pp = it->next_name;
            break;
        }
    }
    uint32_t bi = hash_bytes(it->t.id, 16) & (img.buckets - 1);
    for (struct itopic **pp = &img.by_id[bi]; *pp != NULL; pp = &(*pp)->next_id) {
        if (*pp == it) {
            *pp = it->next_id;
            break;
        }
    }
}

static void topic_resolve(struct sp_topic *t)
{
    char err[256];
    struct sp_topic_cfg cfg;
    if (sp_topic_cfg_resolve(&cfg, broker_cfg, t->configs, t->configs_count, err, sizeof(err)) ==
        0) {
        t->cfg = cfg;
        return;
    }
    /* Checked when it was set, so only a changed broker config gets here: defaults then. */
    sp_log_warn("topic %s: explicit configs ignored: %s", t->name, err);
    if (sp_topic_cfg_resolve(&cfg, broker_cfg, NULL, 0, err, sizeof(err)) == 0) {
        t->cfg = cfg;
    }
}

static void apply_topic(const struct kproto_topic_record *m)
{
    if (m->Name.ptr == NULL || m->Name.len <= 0 || kproto_uuid_is_zero(&m->TopicId)) {
        sp_log_warn("metadata: TopicRecord without a name or id: skipped");
        return;
    }
    if (sp_image_topic(m->Name.ptr, (size_t)m->Name.len) != NULL || topic_by_id(m->TopicId.b)) {
        sp_log_warn("metadata: TopicRecord for %.*s, which exists: skipped", (int)m->Name.len,
                    m->Name.ptr);
        return;
    }
    if (img.count == img.cap) {
        uint32_t cap = img.cap ? img.cap * 2 : 64;
        struct itopic **o = realloc(img.order, cap * sizeof(*o));
        if (o == NULL) {
            sp_log_error("metadata: out of memory for topic %.*s", (int)m->Name.len, m->Name.ptr);
            return;
        }
        img.order = o;
        img.cap = cap;
    }
    struct itopic *it = calloc(1, sizeof(*it));
    char *name = malloc((size_t)m->Name.len + 1);
    if (it == NULL || name == NULL) {
        free(it);
        free(name);
        sp_log_error("metadata: out of memory for topic %.*s", (int)m->Name.len, m->Name.ptr);
        return;
    }
    memcpy(name, m->Name.ptr, (size_t)m->Name.len);
    name[m->Name.len] = '\0';
    it->t.name = name;
    it->t.name_len = (size_t)m->Name.len;
    memcpy(it->t.id, m->TopicId.b, 16);
    it->t.internal =
        strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0;
    topic_resolve(&it->t);
    img.order[img.count++] = it;
    hash_insert(it);
    hash_grow();
}

/* The placement rule: the shard with the fewest partitions, the lowest index on a tie. */
static uint16_t place(void)
{
    uint32_t best = 0;
    for (uint32_t s = 1; s < img.shards; s++) {
        if (img.shard_parts[s] < img.shard_parts[best]) {
            best = s;
        }
    }
    img.shard_parts[best]++;
    return (uint16_t)best;
}

static void apply_partition(const struct kproto_partition_record *m,
                            const struct sp_image_observer *obs)
{
    struct itopic *it = topic_by_id(m->TopicId.b);
    if (it == NULL || m->PartitionId < 0 || m->PartitionId > it->t.partitions) {
        sp_log_warn("metadata: PartitionRecord %d of an unknown topic or out of order: skipped",
                    m->PartitionId);
        return;
    }
    struct sp_topic *t = &it->t;
    if (m->PartitionId == t->partitions) {
        /* Grown one at a time; doubling keeps a 10,000-partition topic cheap. */
        int32_t n = t->partitions + 1;
        if ((n & (n - 1)) == 0 || t->part == NULL) {
            size_t cap = (size_t)n * 2;
            struct sp_image_part *p = realloc(t->part, cap * sizeof(*p));
            if (p == NULL) {
                sp_log_error("metadata: out of memory for %s-%d", t->name, m->PartitionId);
                return;
            }
            t->part = p;
        }
        struct sp_image_part *ip = &t->part[t->partitions];
        ip->shard = place();
        t->partitions = n;
        ip->leader = m->Leader;
        ip->leader_epoch = m->LeaderEpoch;
        ip->partition_epoch = m->PartitionEpoch;
        if (obs != NULL && obs->part_added != NULL) {
            obs->part_added(obs->ctx, t, m->PartitionId);
        }
        return;
    }
    struct sp_image_part *ip = &t->part[m->PartitionId];
    ip->leader = m->Leader;
    ip->leader_epoch = m->LeaderEpoch;
    ip->partition_epoch = m->PartitionEpoch;
    if (obs != NULL && obs->part_changed != NULL) {
        obs->part_changed(obs->ctx, t, m->PartitionId);
    }
}

static void apply_partition_change(const struct kproto_partition_change_record *m,
                                   const struct sp_image_observer *obs)
{
    struct itopic *it = topic_by_id(m->TopicId.b);
    if (it == NULL || m->PartitionId < 0 || m->PartitionId >= it->t.partitions) {
        sp_log_warn("metadata: PartitionChangeRecord for an unknown partition: skipped");
        return;
    }
    struct sp_image_part *ip = &it->t.part[m->PartitionId];
    /* -2 means "no change" (the record's default); a new leader starts a new epoch. */
    if (m->Leader != -2) {
        ip->leader = m->Leader;
        ip->leader_epoch++;
    }
    ip->partition_epoch++;
    if (obs != NULL && obs->part_changed != NULL) {
        obs->part_changed(obs->ctx, &it->t, m->PartitionId);
    }
}

static char *strdup_str(struct sp_str s)
{
    char *p = malloc((size_t)s.len + 1);
    if (p != NULL) {
        memcpy(p, s.ptr, (size_t)s.len);
        p[s.len] = '\0';
    }
    return p;
}

/* Sets (value non-null) or removes one explicit setting. 0 or -ENOMEM. */
static int topic_config_set(struct sp_topic *t, struct sp_str key, struct sp_str value)
{
    size_t i = 0;
    while (i < t->configs_count && !sp_str_eq(sp_str_make(t->configs[i].key), key)) {
        i++;
    }
    if (value.ptr == NULL) {
        if (i < t->configs_count) {
            free((char *)t->configs[i].key);
            free((char *)t->configs[i].value);
            t->configs[i] = t->configs[--t->configs_count];
        }
        return 0;
    }
    char *v = strdup_str(value);
    if (v == NULL) {
        return -ENOMEM;
    }
    if (i < t->configs_count) {
        free((char *)t->configs[i].value);
        t->configs[i].value = v;
        return 0;
    }
    char *k = strdup_str(key);
    struct sp_topic_cfg_kv *kv = realloc(t->configs, (i + 1) * sizeof(*kv));
    if (k == NULL || kv == NULL) {
        free(k);
        free(v);
        if (kv != NULL) {
            t->configs = kv;
        }
        return -ENOMEM;
    }
    t->configs = kv;
    kv[i].key = k;
    kv[i].value = v;
    t->configs_count = i + 1;
    return 0;
}

static void apply_config(const struct kproto_config_record *m, const struct sp_image_observer *obs)
{
    if (m->ResourceType != SP_IMAGE_CONFIG_TOPIC) {
        return; /* broker configs: not kept in the image yet */
    }
    if (m->ResourceName.ptr == NULL || m->Name.ptr == NULL) {
        return;
    }
    const struct sp_topic *ct = sp_image_topic(m->ResourceName.ptr, (size_t)m->ResourceName.len);
    if (ct == NULL) {
        sp_log_warn("metadata: ConfigRecord for unknown topic %.*s: skipped",
                    (int)m->ResourceName.len, m->ResourceName.ptr);
        return;
    }
    struct sp_topic *t = (struct sp_topic *)ct;
    if (topic_config_set(t, m->Name, m->Value) < 0) {
        sp_log_error("metadata: out of memory for a config of %s", t->name);
        return;
    }
    topic_resolve(t);
    if (obs != NULL && obs->topic_config != NULL) {
        obs->topic_config(obs->ctx, t);
    }
}

static void apply_remove_topic(const struct kproto_remove_topic_record *m,
                               const struct sp_image_observer *obs)
{
    struct itopic *it = topic_by_id(m->TopicId.b);
    if (it == NULL) {
        sp_log_warn("metadata: RemoveTopicRecord for an unknown topic: skipped");
        return;
    }
    if (obs != NULL && obs->topic_removing != NULL) {
        obs->topic_removing(obs->ctx, &it->t);
    }
    for (int32_t i = 0; i < it->t.partitions; i++) {
        uint16_t s = it->t.part[i].shard;
        SP_ASSERT(s < img.shards && img.shard_parts[s] > 0);
        img.shard_parts[s]--;
    }
    hash_remove(it);
    uint32_t pos = 0;
    while (img.order[pos] != it) {
        pos++;
    }
    memmove(&img.order[pos], &img.order[pos + 1], (img.count - pos - 1) * sizeof(*img.order));
    img.count--;
    topic_free(it);
}

void sp_image_apply(const struct sp_metalog_record *r, int64_t offset,
                    const struct sp_image_observer *obs)
{
    SP_ASSERT(img.buckets != 0);
    switch (r->type) {
    case SP_IMAGE_REC_TOPIC:
        apply_topic(r->msg);
        break;
    case SP_IMAGE_REC_PARTITION:
        apply_partition(r->msg, obs);
        break;
    case SP_IMAGE_REC_CONFIG:
        apply_config(r->msg, obs);
        break;
    case SP_IMAGE_REC_PARTITION_CHANGE:
        apply_partition_change(r->msg, obs);
        break;
    case SP_IMAGE_REC_REMOVE_TOPIC:
        apply_remove_topic(r->msg, obs);
        break;
    case SP_IMAGE_REC_PRODUCER_IDS: {
        const struct kproto_producer_ids_record *m = r->msg;
        img.next_producer_id = SP_MAX(img.next_producer_id, m->NextProducerId);
        break;
    }
    default:
        break;
    }
    if (offset >= img.offset) {
        img.offset = offset + 1;
    }
}

/* ---- Deep copies for the load --------------------------------------------- */

void sp_image_records_init(struct sp_image_records *s)
{
    memset(s, 0, sizeof(*s));
    sp_arena_init(&s->arena, NULL, 0, IMAGE_RECORDS_BYTES_MAX);
}

void sp_image_records_free(struct sp_image_records *s)
{
    sp_arena_destroy(&s->arena);
    free(s->r);
    free(s->offset);
    memset(s, 0, sizeof(*s));
}

static int copy_str(struct sp_arena *a, struct sp_str *s)
{
    if (s->ptr == NULL || s->len <= 0) {
        return 0;
    }
    char *p = sp_arena_alloc(a, (size_t)s->len);
    if (p == NULL) {
        return -ENOMEM;
    }
    memcpy(p, s->ptr, (size_t)s->len);
    s->ptr = p;
    return 0;
}

static int copy_ids(struct sp_arena *a, int32_t **ids, int32_t count)
{
    if (*ids == NULL || count <= 0) {
        return 0;
    }
    int32_t *p = sp_arena_alloc(a, (size_t)count * sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    memcpy(p, *ids, (size_t)count * sizeof(*p));
    *ids = p;
    return 0;
}

/* Copies the struct and what it points to that the image reads. */
static void *copy_msg(struct sp_arena *a, int16_t type, const void *msg)
{
    static const size_t sizes[] = {
        [SP_IMAGE_REC_TOPIC] = sizeof(struct kproto_topic_record),
        [SP_IMAGE_REC_PARTITION] = sizeof(struct kproto_partition_record),
        [SP_IMAGE_REC_CONFIG] = sizeof(struct kproto_config_record),
        [SP_IMAGE_REC_PARTITION_CHANGE] = sizeof(struct kproto_partition_change_record),
        [SP_IMAGE_REC_REMOVE_TOPIC] = sizeof(struct kproto_remove_topic_record),
        [SP_IMAGE_REC_PRODUCER_IDS] = sizeof(struct kproto_producer_ids_record),
    };
    void *m = sp_arena_alloc(a, sizes[type]);
    if (m == NULL) {
        return NULL;
    }
    memcpy(m, msg, sizes[type]);
    int rc = 0;
    if (type == SP_IMAGE_REC_TOPIC) {
        struct kproto_topic_record *t = m;
        rc = copy_str(a, &t->Name);
    } else if (type == SP_IMAGE_REC_CONFIG) {
        struct kproto_config_record *c = m;
        rc = copy_str(a, &c->ResourceName) | copy_str(a, &c->Name) | copy_str(a, &c->Value);
    } else if (type == SP_IMAGE_REC_PARTITION) {
        /* The image reads no array of a PartitionRecord: drop them rather than copy. */
        struct kproto_partition_record *p = m;
        rc = copy_ids(a, &p->Replicas, p->Replicas_count) | copy_ids(a, &p->Isr, p->Isr_count);
        p->RemovingReplicas = p->AddingReplicas = NULL;
        p->RemovingReplicas_count = p->AddingReplicas_count = 0;
        p->Directories = NULL;
        p->Directories_count = 0;
        p->EligibleLeaderReplicas = p->LastKnownElr = NULL;
        p->EligibleLeaderReplicas_count = p->LastKnownElr_count = -1;
    } else if (type == SP_IMAGE_REC_PARTITION_CHANGE) {
        struct kproto_partition_change_record *p = m;
        p->Isr = p->Replicas = p->RemovingReplicas = p->AddingReplicas = NULL;
        p->EligibleLeaderReplicas = p->LastKnownElr = NULL;
        p->Directories = NULL;
        p->Isr_count = p->Replicas_count = p->RemovingReplicas_count = -1;
        p->AddingReplicas_count = p->Directories_count = -1;
        p->EligibleLeaderReplicas_count = p->LastKnownElr_count = -1;
    }
    return rc == 0 ? m : NULL;
}

int sp_image_records_add(struct sp_image_records *s, int64_t offset,
                         const struct sp_metalog_record *r)
{
    switch (r->type) {
    case SP_IMAGE_REC_TOPIC:
    case SP_IMAGE_REC_PARTITION:
    case SP_IMAGE_REC_CONFIG:
    case SP_IMAGE_REC_PARTITION_CHANGE:
    case SP_IMAGE_REC_REMOVE_TOPIC:
    case SP_IMAGE_REC_PRODUCER_IDS:
        break;
    default:
        return 0;
    }
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct sp_metalog_record *nr = realloc(s->r, cap * sizeof(*nr));
        if (nr == NULL) {
            return -ENOMEM;
        }
        s->r = nr;
        int64_t *no = realloc(s->offset, cap * sizeof(*no));
        if (no == NULL) {
            return -ENOMEM;
        }
        s->offset = no;
        s->cap = cap;
    }
    void *m = copy_msg(&s->arena, r->type, r->msg);
    if (m == NULL) {
        return -ENOMEM;
    }
    s->r[s->count] = (struct sp_metalog_record){.type = r->type, .version = r->version, .msg = m};
    s->offset[s->count] = offset;
    s->count++;
    return 0;
}
