/*
 * cluster/controller.c: the metadata controller on shard 0 (cluster/controller.h).
 *
 * Requests arrive as cross-core messages and wait in a FIFO; one at a time
 * goes through the whole cycle before the next starts, so each is
 * validated against an image that already holds every earlier change:
 *
 *   validate against shard 0's image, build the records (the delta)
 *     -> sp_metalog_append, in chunks of SP_METALOG_BATCH_RECORDS
 *     -> all durable: a task applies the delta to shard 0's image and
 *        partitions, then sends it to every other shard (fan-out)
 *     -> every shard has applied it (its logs are open or gone)
 *     -> results filled in, the request's message replied: done runs on
 *        the caller's shard
 *
 * The delta's records point into the request (names, config strings,
 * borrowed from the caller until done) and into this module's arena, reset
 * per request; the other shards only read them until they reply.
 *
 * If a chunk cannot be appended, the records before it are durable and are
 * applied (a restart would replay them anyway); the topics whose records
 * did not all make it are answered with an error.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "cluster/controller.h"
#include "cluster/image.h"
#include "cluster/metalog.h"
#include "cluster/part.h"
#include "core/config.h"
#include "core/log.h"
#include "core/rx.h"
#include "protocol/kproto.h"

#define CTL_ARENA_BYTES_MAX (256u << 20)
#define CTL_NAME_LEN_MAX    249

enum ctl_kind { CTL_CREATE, CTL_DELETE, CTL_ADD_PARTITIONS, CTL_PRODUCER_ID, CTL_ALTER_CONFIGS };

struct ctl_req {
    struct ctl_req *next;
    enum ctl_kind kind;
    struct sp_xq_msg *m;
};

struct ctl_chunk {
    struct sp_metalog_append a;
    size_t first;
    size_t n;
    int res;
};

/* The delta as sent to another shard. */
struct ctl_fan {
    struct sp_xq_msg msg;
    const struct sp_metalog_record *r;
    const int64_t *offset;
    size_t n;
};

static struct {
    bool started;
    struct sp_metalog *ml;
    uint32_t shards;
    struct ctl_req *head, *tail, *cur;
    /* The current request's delta. */
    struct sp_arena arena;
    struct sp_metalog_record *recs;
    int64_t *offset;
    size_t nrecs, cap;
    size_t *last; /* per request entry: index of its last record + 1, 0 when none */
    struct ctl_chunk *chunks;
    size_t nchunks, issued, completed;
    size_t durable; /* records durable, a prefix */
    int append_err;
    struct sp_task applied_task;
    struct ctl_fan *fan; /* [shards] */
    uint32_t fan_left;
    int32_t replicas[1]; /* [node id]: every partition's replicas and ISR */
    int64_t pid_next, pid_end;
    int64_t pid_block_start;
} ctl;

static void ctl_next(void);

/* ---- Checks ------------------------------------------------------------------ */

int16_t sp_ctl_topic_name_check(struct sp_str name, char *msg, size_t msglen)
{
    if (name.ptr == NULL || name.len <= 0) {
        snprintf(msg, msglen, "Topic name is illegal, it can't be empty");
        return KERR_INVALID_TOPIC_EXCEPTION;
    }
    if ((name.len == 1 && name.ptr[0] == '.') ||
        (name.len == 2 && name.ptr[0] == '.' && name.ptr[1] == '.')) {
        snprintf(msg, msglen, "Topic name cannot be \".\" or \"..\"");
        return KERR_INVALID_TOPIC_EXCEPTION;
    }
    if (name.len > CTL_NAME_LEN_MAX) {
        snprintf(msg, msglen,
                 "Topic name is illegal, it can't be longer than %d characters, topic name: %.*s",
                 CTL_NAME_LEN_MAX, (int)name.len, name.ptr);
        return KERR_INVALID_TOPIC_EXCEPTION;
    }
    for (int32_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            snprintf(msg, msglen,
                     "Topic name \"%.*s\" is illegal, it contains a character other than ASCII "
                     "alphanumerics, '.', '_' and '-'",
                     (int)name.len, name.ptr);
            return KERR_INVALID_TOPIC_EXCEPTION;
        }
    }
    return 0;
}

/* Kafka refuses names that differ only in '.' versus '_' (they collide in metric names). */
static const struct sp_topic *colliding_topic(struct sp_str name)
{
    if (memchr(name.ptr, '.', (size_t)name.len) == NULL &&
        memchr(name.ptr, '_', (size_t)name.len) == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; i < sp_image_topic_count(); i++) {
        const struct sp_topic *t = sp_image_topic_at(i);
        if (t->name_len != (size_t)name.len) {
            continue;
        }
        int32_t j = 0;
        while (j < name.len) {
            char a = name.ptr[j] == '.' ? '_' : name.ptr[j];
            char b = t->name[j] == '.' ? '_' : t->name[j];
            if (a != b) {
                break;
            }
            j++;
        }
        if (j == name.len) {
            return t;
        }
    }
    return NULL;
}

static void new_topic_id(uint8_t id[16])
{
    for (;;) {
        if (getrandom(id, 16, 0) != 16) {
            /* getrandom(16) does not fail once the pool is ready; keep going regardless. */
            for (int i = 0; i < 16; i++) {
                id[i] = (uint8_t)rand();
            }
        }
        bool small = true; /* Kafka reserves the ids 0 and 1 */
        for (int i = 0; i < 15; i++) {
            small = small && id[i] == 0;
        }
        if (!(small && id[15] <= 1) && sp_image_topic_by_id(id) == NULL) {
            return;
        }
    }
}

/* ---- The delta ---------------------------------------------------------------- */

static void delta_reset(void)
{
    sp_arena_reset(&ctl.arena);
    ctl.nrecs = 0;
    ctl.nchunks = ctl.issued = ctl.completed = ctl.durable = 0;
    ctl.append_err = 0;
    ctl.last = NULL;
}

/* Adds a record; msg must stay valid until the request is answered. 0 or -ENOMEM. */
static int delta_add(int16_t type, int16_t version, const void *msg)
{
    if (ctl.nrecs == ctl.cap) {
        size_t cap = ctl.cap ? ctl.cap * 2 : 256;
        struct sp_metalog_record *r = realloc(ctl.recs, cap * sizeof(*r));
        if (r == NULL) {
            return -ENOMEM;
        }
        ctl.recs = r;
        int64_t *o = realloc(ctl.offset, cap * sizeof(*o));
        if (o == NULL) {
            return -ENOMEM;
        }
        ctl.offset = o;
        ctl.cap = cap;
    }
    ctl.recs[ctl.nrecs++] =
        (struct sp_metalog_record){.type = type, .version = version, .msg = msg};
    return 0;
}

static int delta_partition(const uint8_t id[16], int32_t index)
{
    struct kproto_partition_record *p = sp_arena_alloc(&ctl.arena, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    kproto_partition_record_init(p);
    p->PartitionId = index;
    memcpy(p->TopicId.b, id, 16);
    p->Replicas = ctl.replicas;
    p->Replicas_count = 1;
    p->Isr = ctl.replicas;
    p->Isr_count = 1;
    p->Leader = ctl.replicas[0];
    p->LeaderEpoch = 0;
    p->PartitionEpoch = 0;
    return delta_add(SP_IMAGE_REC_PARTITION, 0, p);
}

/* ---- CreateTopics ------------------------------------------------------------ */

static void set_error(int16_t *err, char *msg, size_t msglen, int16_t code, const char *fmt, ...)
    SP_PRINTF(5, 6);

static void set_error(int16_t *err, char *msg, size_t msglen, int16_t code, const char *fmt, ...)
{
    *err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

static int cmp_name(const void *a, const void *b, void *arg)
{
    const struct sp_str *names = arg;
    struct sp_str x = names[*(const int32_t *)a], y = names[*(const int32_t *)b];
    int32_t n = SP_MIN(x.len, y.len);
    int c = n > 0 ? memcmp(x.ptr, y.ptr, (size_t)n) : 0;
    return c != 0 ? c : (x.len > y.len) - (x.len < y.len);
}

/*
 * Which of names[0..n) occur more than once (sorted, so a large request
 * costs n log n): a bool array from the arena, or NULL when out of memory.
 */
static bool *find_duplicates(const struct sp_str *names, int32_t n)
{
    int32_t *idx = sp_arena_alloc(&ctl.arena, (size_t)n * sizeof(*idx) + 1);
    bool *dup = sp_arena_calloc(&ctl.arena, (size_t)n + 1, sizeof(*dup));
    if (idx == NULL || dup == NULL) {
        return NULL;
    }
    for (int32_t i = 0; i < n; i++) {
        idx[i] = i;
    }
    qsort_r(idx, (size_t)n, sizeof(*idx), cmp_name, (void *)names);
    for (int32_t i = 1; i < n; i++) {
        if (sp_str_eq(names[idx[i - 1]], names[idx[i]])) {
            dup[idx[i - 1]] = dup[idx[i]] = true;
        }
    }
    return dup;
}

/* The same name twice in one request: INVALID_REQUEST for every one of them. */
static void create_mark_duplicates(struct sp_ctl_topic *t, int32_t n)
{
    struct sp_str *names = sp_arena_alloc(&ctl.arena, (size_t)n * sizeof(*names) + 1);
    if (names == NULL) {
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        names[i] = t[i].name;
    }
    bool *dup = find_duplicates(names, n);
    for (int32_t i = 0; dup != NULL && i < n; i++) {
        if (dup[i]) {
            set_error(&t[i].error, t[i].message, sizeof(t[i].message), KERR_INVALID_REQUEST,
                      "Duplicate topic name.");
        }
    }
}

/* Validates everything about one topic but its name and existence. */
static void create_check_settings(struct sp_ctl_topic *t, int32_t *partitions_total)
{
    const struct sp_config *cfg = sp_image_broker_config();
    int32_t parts =
        t->partitions == -1 ? (int32_t)sp_config_int(cfg, SP_CFG_NUM_PARTITIONS) : t->partitions;
    int32_t rf = t->replication_factor == -1
                     ? (int32_t)sp_config_int(cfg, SP_CFG_DEFAULT_REPLICATION_FACTOR)
                     : t->replication_factor;
    char *msg = t->message;
    size_t ml = sizeof(t->message);
    if (parts <= 0) {
        set_error(&t->error, msg, ml, KERR_INVALID_PARTITIONS,
                  "Number of partitions was set to an invalid non-positive value.");
        return;
    }
    if (rf <= 0) {
        set_error(&t->error, msg, ml, KERR_INVALID_REPLICATION_FACTOR,
                  "Replication factor must be larger than 0, or -1 to use the default value.");
        return;
    }
    if (rf > 1) {
        set_error(&t->error, msg, ml, KERR_INVALID_REPLICATION_FACTOR,
                  "Unable to replicate the partition %d time(s): The target replication factor "
                  "of %d cannot be reached because only 1 broker(s) are registered.",
                  rf, rf);
        return;
    }
    if (parts > SP_CTL_PARTITIONS_MAX - *partitions_total) {
        set_error(&t->error, msg, ml, KERR_INVALID_PARTITIONS,
                  "Creating %d partition(s) would exceed the limit of %d partitions per request.",
                  parts, SP_CTL_PARTITIONS_MAX);
        return;
    }
    for (size_t i = 0; i < t->configs_count; i++) {
        const struct sp_topic_cfg_kv *kv = &t->configs[i];
        if (kv->value == NULL) {
            set_error(&t->error, msg, ml, KERR_INVALID_CONFIG,
                      "Null value not supported for topic configs: %s", kv->key);
            return;
        }
        if (sp_topic_cfg_check(kv->key, kv->value, msg, ml) < 0) {
            t->error = KERR_INVALID_CONFIG;
            return;
        }
    }
    struct sp_topic_cfg resolved;
    if (sp_topic_cfg_resolve(&resolved, cfg, t->configs, t->configs_count, msg, ml) < 0) {
        t->error = KERR_INVALID_CONFIG;
        return;
    }
    *partitions_total += parts;
    t->partitions_out = parts;
    t->replication_factor_out = (int16_t)rf;
}

static int create_records(const struct sp_ctl_topic *t)
{
    struct kproto_topic_record *tr = sp_arena_alloc(&ctl.arena, sizeof(*tr));
    if (tr == NULL) {
        return -ENOMEM;
    }
    kproto_topic_record_init(tr);
    tr->Name = t->name;
    memcpy(tr->TopicId.b, t->id, 16);
    int rc = delta_add(SP_IMAGE_REC_TOPIC, 0, tr);
    for (size_t i = 0; rc == 0 && i < t->configs_count; i++) {
        struct kproto_config_record *cr = sp_arena_alloc(&ctl.arena, sizeof(*cr));
        if (cr == NULL) {
            return -ENOMEM;
        }
        kproto_config_record_init(cr);
        cr->ResourceType = SP_IMAGE_CONFIG_TOPIC;
        cr->ResourceName = t->name;
        cr->Name = sp_str_make(t->configs[i].key);
        cr->Value = sp_str_make(t->configs[i].value);
        rc = delta_add(SP_IMAGE_REC_CONFIG, 0, cr);
    }
    for (int32_t i = 0; rc == 0 && i < t->partitions_out; i++) {
        rc = delta_partition(t->id, i);
    }
    return rc;
}

static void create_build(struct sp_ctl_create_topics *op)
{
    int32_t total = 0;
    for (int32_t i = 0; i < op->count; i++) {
        struct sp_ctl_topic *t = &op->topics[i];
        t->error = 0;
        t->message[0] = '\0';
        memset(t->id, 0, sizeof(t->id));
        t->partitions_out = -1;
        t->replication_factor_out = -1;
    }
    create_mark_duplicates(op->topics, op->count);
    ctl.last = sp_arena_calloc(&ctl.arena, (size_t)op->count, sizeof(*ctl.last));
    for (int32_t i = 0; i < op->count; i++) {
        struct sp_ctl_topic *t = &op->topics[i];
        if (t->error != 0 ||
            (t->error = sp_ctl_topic_name_check(t->name, t->message, sizeof(t->message))) != 0) {
            continue;
        }
        const struct sp_topic *old = sp_image_topic(t->name.ptr, (size_t)t->name.len);
        if (old != NULL) {
            if (op->auto_create) {
                memcpy(t->id, old->id, 16);
                t->partitions_out = old->partitions;
                t->replication_factor_out = 1;
            } else {
                set_error(&t->error, t->message, sizeof(t->message), KERR_TOPIC_ALREADY_EXISTS,
                          "Topic '%.*s' already exists.", (int)t->name.len, t->name.ptr);
            }
            continue;
        }
        const struct sp_topic *col = colliding_topic(t->name);
        if (col != NULL) {
            set_error(&t->error, t->message, sizeof(t->message), KERR_INVALID_TOPIC_EXCEPTION,
                      "Topic '%.*s' collides with existing topic: %s", (int)t->name.len,
                      t->name.ptr, col->name);
            continue;
        }
        create_check_settings(t, &total);
        if (t->error != 0) {
            continue;
        }
        new_topic_id(t->id);
        if (op->validate_only) {
            continue;
        }
        if (ctl.last == NULL || create_records(t) < 0) {
            set_error(&t->error, t->message, sizeof(t->message), KERR_UNKNOWN_SERVER_ERROR,
                      "Out of memory in the controller.");
            continue;
        }
        ctl.last[i] = ctl.nrecs;
    }
}

static void create_finish(struct sp_ctl_create_topics *op)
{
    for (int32_t i = 0; ctl.last != NULL && i < op->count; i++) {
        struct sp_ctl_topic *t = &op->topics[i];
        if (ctl.last[i] != 0 && ctl.last[i] > ctl.durable) {
            set_error(&t->error, t->message, sizeof(t->message), KERR_UNKNOWN_SERVER_ERROR,
                      "The metadata log could not be written: %s", strerror(-ctl.append_err));
        } else if (ctl.last[i] != 0) {
            sp_log_info("topic %.*s created%s: %d partition(s)", (int)t->name.len, t->name.ptr,
                        op->auto_create ? " (auto)" : "", t->partitions_out);
        }
    }
}

/* ---- DeleteTopics ------------------------------------------------------------- */

static int cmp_delete_id(const void *a, const void *b, void *arg)
{
    const struct sp_ctl_delete_topic *t = arg;
    return memcmp(t[*(const int32_t *)a].id_out, t[*(const int32_t *)b].id_out, 16);
}

static void delete_build(struct sp_ctl_delete_topics *op)
{
    int32_t *idx = sp_arena_alloc(&ctl.arena, (size_t)op->count * sizeof(*idx) + 1);
    ctl.last = sp_arena_calloc(&ctl.arena, (size_t)op->count, sizeof(*ctl.last));
    int32_t found = 0;
    for (int32_t i = 0; i < op->count; i++) {
        struct sp_ctl_delete_topic *d = &op->topics[i];
        d->error = 0;
        d->message[0] = '\0';
        memset(d->id_out, 0, sizeof(d->id_out));
        d->name_out[0] = '\0';
        const struct sp_topic *t = d->name.ptr != NULL
                                       ? sp_image_topic(d->name.ptr, (size_t)d->name.len)
                                       : sp_image_topic_by_id(d->id);
        if (t == NULL) {
            if (d->name.ptr != NULL) {
                snprintf(d->name_out, sizeof(d->name_out), "%.*s", (int)d->name.len, d->name.ptr);
                set_error(&d->error, d->message, sizeof(d->message),
                          KERR_UNKNOWN_TOPIC_OR_PARTITION,
                          "This server does not host this topic-partition.");
            } else {
                memcpy(d->id_out, d->id, 16);
                set_error(&d->error, d->message, sizeof(d->message), KERR_UNKNOWN_TOPIC_ID,
                          "This server does not host this topic ID.");
            }
            continue;
        }
        memcpy(d->id_out, t->id, 16);
        snprintf(d->name_out, sizeof(d->name_out), "%s", t->name);
        if (idx != NULL) {
            idx[found++] = i;
        }
    }
    if (idx == NULL || ctl.last == NULL) {
        for (int32_t i = 0; i < op->count; i++) {
            set_error(&op->topics[i].error, op->topics[i].message, sizeof(op->topics[i].message),
                      KERR_UNKNOWN_SERVER_ERROR, "Out of memory in the controller.");
        }
        return;
    }
    /* One topic named twice (by name, by id, or both ways): INVALID_REQUEST for each. */
    qsort_r(idx, (size_t)found, sizeof(*idx), cmp_delete_id, op->topics);
    for (int32_t i = 1; i < found; i++) {
        struct sp_ctl_delete_topic *a = &op->topics[idx[i - 1]], *b = &op->topics[idx[i]];
        if (memcmp(a->id_out, b->id_out, 16) == 0) {
            for (struct sp_ctl_delete_topic *d = a; d != NULL; d = d == a ? b : NULL) {
                set_error(&d->error, d->message, sizeof(d->message), KERR_INVALID_REQUEST,
                          d->name.ptr != NULL ? "Duplicate topic name." : "Duplicate topic id.");
            }
        }
    }
    for (int32_t k = 0; k < found; k++) {
        struct sp_ctl_delete_topic *d = &op->topics[idx[k]];
        if (d->error != 0) {
            continue;
        }
        struct kproto_remove_topic_record *r = sp_arena_alloc(&ctl.arena, sizeof(*r));
        if (r == NULL) {
            set_error(&d->error, d->message, sizeof(d->message), KERR_UNKNOWN_SERVER_ERROR,
                      "Out of memory in the controller.");
            continue;
        }
        kproto_remove_topic_record_init(r);
        memcpy(r->TopicId.b, d->id_out, 16);
        if (delta_add(SP_IMAGE_REC_REMOVE_TOPIC, 0, r) < 0) {
            set_error(&d->error, d->message, sizeof(d->message), KERR_UNKNOWN_SERVER_ERROR,
                      "Out of memory in the controller.");
            continue;
        }
        ctl.last[idx[k]] = ctl.nrecs;
    }
}

static void delete_finish(struct sp_ctl_delete_topics *op)
{
    for (int32_t i = 0; ctl.last != NULL && i < op->count; i++) {
        struct sp_ctl_delete_topic *d = &op->topics[i];
        if (ctl.last[i] != 0 && ctl.last[i] > ctl.durable) {
            set_error(&d->error, d->message, sizeof(d->message), KERR_UNKNOWN_SERVER_ERROR,
                      "The metadata log could not be written: %s", strerror(-ctl.append_err));
        } else if (ctl.last[i] != 0) {
            sp_log_info("topic %s deleted", d->name_out);
        }
    }
}

/* ---- CreatePartitions --------------------------------------------------------- */

static void add_partitions_build(struct sp_ctl_add_partitions *op)
{
    ctl.last = sp_arena_calloc(&ctl.arena, (size_t)op->count, sizeof(*ctl.last));
    struct sp_str *names = sp_arena_alloc(&ctl.arena, (size_t)op->count * sizeof(*names) + 1);
    for (int32_t i = 0; names != NULL && i < op->count; i++) {
        names[i] = op->topics[i].name;
    }
    bool *dup = names != NULL ? find_duplicates(names, op->count) : NULL;
    int32_t total = 0;
    for (int32_t i = 0; i < op->count; i++) {
        struct sp_ctl_add_partitions_topic *a = &op->topics[i];
        a->error = 0;
        a->message[0] = '\0';
        if (dup == NULL || dup[i]) {
            set_error(&a->error, a->message, sizeof(a->message),
                      dup == NULL ? KERR_UNKNOWN_SERVER_ERROR : KERR_INVALID_REQUEST,
                      dup == NULL ? "Out of memory in the controller." : "Duplicate topic name.");
            continue;
        }
        const struct sp_topic *t =
            a->name.ptr != NULL ? sp_image_topic(a->name.ptr, (size_t)a->name.len) : NULL;
        if (t == NULL) {
            set_error(&a->error, a->message, sizeof(a->message), KERR_UNKNOWN_TOPIC_OR_PARTITION,
                      "The topic '%.*s' does not exist.", (int)a->name.len, a->name.ptr);
            continue;
        }
        if (a->count < t->partitions) {
            set_error(&a->error, a->message, sizeof(a->message), KERR_INVALID_PARTITIONS,
                      "The topic %s currently has %d partition(s); %d would not be an increase.",
                      t->name, t->partitions, a->count);
            continue;
        }
        if (a->count == t->partitions) {
            set_error(&a->error, a->message, sizeof(a->message), KERR_INVALID_PARTITIONS,
                      "Topic already has %d partition(s).", t->partitions);
            continue;
        }
        int32_t more = a->count - t->partitions;
        if (more > SP_CTL_PARTITIONS_MAX - total) {
            set_error(&a->error, a->message, sizeof(a->message), KERR_INVALID_PARTITIONS,
                      "Adding %d partition(s) would exceed the limit of %d partitions per request.",
                      more, SP_CTL_PARTITIONS_MAX);
            continue;
        }
        total += more;
        if (op->validate_only) {
            continue;
        }
        int rc = ctl.last != NULL ? 0 : -ENOMEM;
        for (int32_t k = t->partitions; rc == 0 && k < a->count; k++) {
            rc = delta_partition(t->id, k);
        }
        if (rc < 0) {
            set_error(&a->error, a->message, sizeof(a->message), KERR_UNKNOWN_SERVER_ERROR,
                      "Out of memory in the controller.");
            continue;
        }
        ctl.last[i] = ctl.nrecs;
    }
}

static void add_partitions_finish(struct sp_ctl_add_partitions *op)
{
    for (int32_t i = 0; ctl.last != NULL && i < op->count; i++) {
        struct sp_ctl_add_partitions_topic *a = &op->topics[i];
        if (ctl.last[i] != 0 && ctl.last[i] > ctl.durable) {
            set_error(&a->error, a->message, sizeof(a->message), KERR_UNKNOWN_SERVER_ERROR,
                      "The metadata log could not be written: %s", strerror(-ctl.append_err));
        } else if (ctl.last[i] != 0) {
            sp_log_info("topic %.*s now has %d partitions", (int)a->name.len, a->name.ptr,
                        a->count);
        }
    }
}

/* ---- Producer ids ------------------------------------------------------------- */

static void producer_id_build(struct sp_ctl_producer_id *op)
{
    op->error = 0;
    if (ctl.pid_next < ctl.pid_end) {
        return; /* a block reserved meanwhile has room */
    }
    struct kproto_producer_ids_record *r = sp_arena_alloc(&ctl.arena, sizeof(*r));
    if (r == NULL) {
        op->error = KERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    kproto_producer_ids_record_init(r);
    ctl.pid_block_start = sp_image_next_producer_id();
    r->BrokerId = ctl.replicas[0];
    r->BrokerEpoch = 0;
    r->NextProducerId = ctl.pid_block_start + SP_CTL_PRODUCER_ID_BLOCK;
    if (delta_add(SP_IMAGE_REC_PRODUCER_IDS, 0, r) < 0) {
        op->error = KERR_UNKNOWN_SERVER_ERROR;
    }
}

static void producer_id_finish(struct sp_ctl_producer_id *op)
{
    if (ctl.nrecs > 0 && ctl.durable == ctl.nrecs) {
        ctl.pid_next = ctl.pid_block_start;
        ctl.pid_end = ctl.pid_block_start + SP_CTL_PRODUCER_ID_BLOCK;
    }
    if (op->error == 0 && ctl.pid_next < ctl.pid_end) {
        op->producer_id = ctl.pid_next++;
    } else if (op->error == 0) {
        op->error = KERR_UNKNOWN_SERVER_ERROR;
    }
}

/* ---- AlterConfigs, IncrementalAlterConfigs ------------------------------------------ */

/* A NUL-terminated copy of s[0..len) in the controller's arena, or NULL. */
static char *ctl_strdup(const char *s, size_t len)
{
    char *p = sp_arena_alloc(&ctl.arena, len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static ssize_t kv_find(const struct sp_topic_cfg_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, key) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

/*
 * Applies res's operations to a copy of t's explicit settings: the new set
 * in *kv_out (the arena's), or an error set on res.
 */
static size_t alter_new_set(struct sp_ctl_config_resource *res, const struct sp_topic *t,
                            struct sp_topic_cfg_kv **kv_out)
{
    char *msg = res->message;
    size_t ml = sizeof(res->message);
    size_t cap = t->configs_count + res->ops_count + 1;
    struct sp_topic_cfg_kv *kv = sp_arena_calloc(&ctl.arena, cap, sizeof(*kv));
    size_t n = 0;
    for (size_t i = 0; kv != NULL && !res->replace && i < t->configs_count; i++) {
        kv[n].key = ctl_strdup(t->configs[i].key, strlen(t->configs[i].key));
        kv[n].value = ctl_strdup(t->configs[i].value, strlen(t->configs[i].value));
        if (kv[n].key == NULL || kv[n].value == NULL) {
            kv = NULL;
            break;
        }
        n++;
    }
    for (size_t k = 0; kv != NULL && k < res->ops_count; k++) {
        const struct sp_ctl_config_op *o = &res->ops[k];
        ssize_t j = kv_find(kv, n, o->key);
        const char *cur = j >= 0 ? kv[j].value : NULL;
        size_t len = (cur ? strlen(cur) : 0) + (o->value ? strlen(o->value) : 0) + 256;
        char *buf = sp_arena_alloc(&ctl.arena, len);
        if (buf == NULL) {
            kv = NULL;
            break;
        }
        int rc = sp_topic_cfg_apply_op(o->key, o->op, cur, o->value, buf, len, msg, ml);
        if (rc < 0) {
            if (rc == -ENOSPC) {
                snprintf(msg, ml, "%.200s: the value is too long", o->key);
            }
            res->error = KERR_INVALID_CONFIG;
            return 0;
        }
        if (rc == 1) {
            if (j >= 0) {
                kv[j] = kv[--n];
            }
        } else if (j >= 0) {
            kv[j].value = buf;
        } else {
            kv[n].key = o->key;
            kv[n].value = buf;
            n++;
        }
    }
    if (kv == NULL) {
        set_error(&res->error, msg, ml, KERR_UNKNOWN_SERVER_ERROR,
                  "Out of memory in the controller.");
        return 0;
    }
    struct sp_topic_cfg resolved;
    if (sp_topic_cfg_resolve(&resolved, sp_image_broker_config(), kv, n, msg, ml) < 0) {
        res->error = KERR_INVALID_CONFIG;
        return 0;
    }
    *kv_out = kv;
    return n;
}

static int alter_record(const struct sp_topic *t, const char *key, const char *value)
{
    struct kproto_config_record *cr = sp_arena_alloc(&ctl.arena, sizeof(*cr));
    char *name = ctl_strdup(t->name, t->name_len);
    char *k = ctl_strdup(key, strlen(key));
    char *v = value != NULL ? ctl_strdup(value, strlen(value)) : NULL;
    if (cr == NULL || name == NULL || k == NULL || (value != NULL && v == NULL)) {
        return -ENOMEM;
    }
    kproto_config_record_init(cr);
    cr->ResourceType = SP_IMAGE_CONFIG_TOPIC;
    cr->ResourceName = (struct sp_str){name, (int32_t)t->name_len};
    cr->Name = sp_str_make(k);
    cr->Value = sp_str_make(v);
    return delta_add(SP_IMAGE_REC_CONFIG, 0, cr);
}

/* One ConfigRecord per key whose explicit value differs between t's settings and kv. */
static int alter_records(const struct sp_topic *t, const struct sp_topic_cfg_kv *kv, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < t->configs_count; i++) {
        if (kv_find(kv, n, t->configs[i].key) < 0) {
            rc = alter_record(t, t->configs[i].key, NULL);
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        ssize_t j = kv_find(t->configs, t->configs_count, kv[i].key);
        if (j < 0 || strcmp(t->configs[j].value, kv[i].value) != 0) {
            rc = alter_record(t, kv[i].key, kv[i].value);
        }
    }
    return rc;
}

static void alter_configs_build(struct sp_ctl_alter_configs *op)
{
    ctl.last = sp_arena_calloc(&ctl.arena, (size_t)op->count + 1, sizeof(*ctl.last));
    for (int32_t i = 0; i < op->count; i++) {
        struct sp_ctl_config_resource *res = &op->resources[i];
        res->error = 0;
        res->message[0] = '\0';
        const struct sp_topic *t =
            res->name.ptr != NULL ? sp_image_topic(res->name.ptr, (size_t)res->name.len) : NULL;
        if (t == NULL) {
            set_error(&res->error, res->message, sizeof(res->message),
                      KERR_UNKNOWN_TOPIC_OR_PARTITION, "The topic '%.*s' does not exist.",
                      (int)SP_MIN(res->name.len, 249), res->name.ptr ? res->name.ptr : "");
            continue;
        }
        struct sp_topic_cfg_kv *kv = NULL;
        size_t n = alter_new_set(res, t, &kv);
        if (res->error != 0 || op->validate_only) {
            continue;
        }
        size_t before = ctl.nrecs;
        if (ctl.last == NULL || alter_records(t, kv, n) < 0) {
            ctl.nrecs = before; /* none of this resource's records is appended */
            set_error(&res->error, res->message, sizeof(res->message), KERR_UNKNOWN_SERVER_ERROR,
                      "Out of memory in the controller.");
            continue;
        }
        if (ctl.nrecs > before) {
            ctl.last[i] = ctl.nrecs;
        }
    }
}

static void alter_configs_finish(struct sp_ctl_alter_configs *op)
{
    for (int32_t i = 0; ctl.last != NULL && i < op->count; i++) {
        struct sp_ctl_config_resource *res = &op->resources[i];
        if (ctl.last[i] != 0 && ctl.last[i] > ctl.durable) {
            set_error(&res->error, res->message, sizeof(res->message), KERR_UNKNOWN_SERVER_ERROR,
                      "The metadata log could not be written: %s", strerror(-ctl.append_err));
        } else if (ctl.last[i] != 0) {
            sp_log_info("topic %.*s: configs changed", (int)res->name.len, res->name.ptr);
        }
    }
}

/* ---- The cycle ---------------------------------------------------------------- */

static void ctl_build(struct ctl_req *q)
{
    switch (q->kind) {
    case CTL_CREATE:
        create_build(sp_container_of(q->m, struct sp_ctl_create_topics, msg));
        break;
    case CTL_DELETE:
        delete_build(sp_container_of(q->m, struct sp_ctl_delete_topics, msg));
        break;
    case CTL_ADD_PARTITIONS:
        add_partitions_build(sp_container_of(q->m, struct sp_ctl_add_partitions, msg));
        break;
    case CTL_PRODUCER_ID:
        producer_id_build(sp_container_of(q->m, struct sp_ctl_producer_id, msg));
        break;
    case CTL_ALTER_CONFIGS:
        alter_configs_build(sp_container_of(q->m, struct sp_ctl_alter_configs, msg));
        break;
    }
}

/* Fills the results that depend on what became durable, and answers. */
static void ctl_finish(void)
{
    struct ctl_req *q = ctl.cur;
    switch (q->kind) {
    case CTL_CREATE:
        create_finish(sp_container_of(q->m, struct sp_ctl_create_topics, msg));
        break;
    case CTL_DELETE:
        delete_finish(sp_container_of(q->m, struct sp_ctl_delete_topics, msg));
        break;
    case CTL_ADD_PARTITIONS:
        add_partitions_finish(sp_container_of(q->m, struct sp_ctl_add_partitions, msg));
        break;
    case CTL_PRODUCER_ID:
        producer_id_finish(sp_container_of(q->m, struct sp_ctl_producer_id, msg));
        break;
    case CTL_ALTER_CONFIGS:
        alter_configs_finish(sp_container_of(q->m, struct sp_ctl_alter_configs, msg));
        break;
    }
    ctl.cur = NULL;
    sp_xq_reply(q->m);
    free(q);
}

/* Applies the durable records on this shard: image first, then the logs. */
static void delta_apply_here(const struct sp_metalog_record *r, const int64_t *offset, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sp_image_apply(&r[i], offset[i], sp_part_observer());
    }
    sp_part_open_pending();
}

static void fan_apply(struct sp_xq_msg *m)
{
    struct ctl_fan *f = sp_container_of(m, struct ctl_fan, msg);
    delta_apply_here(f->r, f->offset, f->n);
}

static void fan_done(struct sp_xq_msg *m)
{
    (void)m;
    SP_ASSERT(ctl.fan_left > 0);
    if (--ctl.fan_left == 0) {
        ctl_finish();
        ctl_next();
    }
}

/* A task, once every chunk is through: never inside the metadata log's completion. */
static void delta_applied(struct sp_task *task)
{
    (void)task;
    for (size_t c = 0; c < ctl.issued && ctl.chunks[c].res == 0; c++) {
        for (size_t j = 0; j < ctl.chunks[c].n; j++) {
            ctl.offset[ctl.chunks[c].first + j] = ctl.chunks[c].a.base_offset + (int64_t)j;
        }
        ctl.durable = ctl.chunks[c].first + ctl.chunks[c].n;
    }
    delta_apply_here(ctl.recs, ctl.offset, ctl.durable);
    ctl.fan_left = 0;
    for (uint32_t s = 1; ctl.durable > 0 && s < ctl.shards; s++) {
        struct ctl_fan *f = &ctl.fan[s];
        *f = (struct ctl_fan){.r = ctl.recs, .offset = ctl.offset, .n = ctl.durable};
        f->msg.fn = fan_apply;
        f->msg.reply_fn = fan_done;
        ctl.fan_left++;
        sp_xq_send(s, &f->msg);
    }
    if (ctl.fan_left == 0) {
        ctl_finish();
        ctl_next();
    }
}

static void chunk_done(struct sp_metalog_append *a, int res)
{
    struct ctl_chunk *c = sp_container_of(a, struct ctl_chunk, a);
    c->res = res;
    if (res < 0 && ctl.append_err == 0) {
        ctl.append_err = res;
        sp_log_error("metadata log append failed: %s", strerror(-res));
    }
    if (++ctl.completed == ctl.issued) {
        ctl.applied_task.fn = delta_applied;
        sp_rx_defer(&ctl.applied_task);
    }
}

static void delta_append(void)
{
    ctl.nchunks = (ctl.nrecs + SP_METALOG_BATCH_RECORDS - 1) / SP_METALOG_BATCH_RECORDS;
    ctl.chunks = sp_arena_calloc(&ctl.arena, ctl.nchunks, sizeof(*ctl.chunks));
    if (ctl.chunks == NULL) {
        ctl.append_err = -ENOMEM;
        ctl.nchunks = 0;
    }
    for (size_t c = 0; c < ctl.nchunks; c++) {
        struct ctl_chunk *ch = &ctl.chunks[c];
        ch->first = c * SP_METALOG_BATCH_RECORDS;
        ch->n = SP_MIN(ctl.nrecs - ch->first, (size_t)SP_METALOG_BATCH_RECORDS);
        ch->a.done = chunk_done;
        int rc = sp_metalog_append(ctl.ml, &ch->a, &ctl.recs[ch->first], ch->n);
        if (rc < 0) {
            /* What follows a chunk that failed is not appended: the durable part stays a prefix. */
            ctl.append_err = rc;
            sp_log_error("metadata log append refused: %s", strerror(-rc));
            break;
        }
        ctl.issued++;
    }
    if (ctl.issued == 0) {
        ctl.applied_task.fn = delta_applied;
        sp_rx_defer(&ctl.applied_task);
    }
}

/* Starts queued requests until one goes asynchronous. */
static void ctl_next(void)
{
    while (ctl.cur == NULL && ctl.head != NULL) {
        struct ctl_req *q = ctl.head;
        ctl.head = q->next;
        if (ctl.head == NULL) {
            ctl.tail = NULL;
        }
        ctl.cur = q;
        delta_reset();
        ctl_build(q);
        if (ctl.nrecs == 0) {
            ctl_finish();
            continue;
        }
        delta_append();
    }
}

static void ctl_enqueue(enum ctl_kind kind, struct sp_xq_msg *m)
{
    struct ctl_req *q = malloc(sizeof(*q));
    if (!ctl.started || q == NULL) {
        free(q);
        /* Answered at once with an error: the caller's done sees it. */
        switch (kind) {
        case CTL_CREATE: {
            struct sp_ctl_create_topics *op = sp_container_of(m, struct sp_ctl_create_topics, msg);
            for (int32_t i = 0; i < op->count; i++) {
                op->topics[i].error = KERR_NOT_CONTROLLER;
            }
            break;
        }
        case CTL_DELETE: {
            struct sp_ctl_delete_topics *op = sp_container_of(m, struct sp_ctl_delete_topics, msg);
            for (int32_t i = 0; i < op->count; i++) {
                op->topics[i].error = KERR_NOT_CONTROLLER;
            }
            break;
        }
        case CTL_ADD_PARTITIONS: {
            struct sp_ctl_add_partitions *op =
                sp_container_of(m, struct sp_ctl_add_partitions, msg);
            for (int32_t i = 0; i < op->count; i++) {
                op->topics[i].error = KERR_NOT_CONTROLLER;
            }
            break;
        }
        case CTL_PRODUCER_ID:
            sp_container_of(m, struct sp_ctl_producer_id, msg)->error = KERR_NOT_CONTROLLER;
            break;
        case CTL_ALTER_CONFIGS: {
            struct sp_ctl_alter_configs *op = sp_container_of(m, struct sp_ctl_alter_configs, msg);
            for (int32_t i = 0; i < op->count; i++) {
                op->resources[i].error = KERR_NOT_CONTROLLER;
                op->resources[i].message[0] = '\0';
            }
            break;
        }
        }
        return;
    }
    sp_xq_hold(m);
    *q = (struct ctl_req){.kind = kind, .m = m};
    if (ctl.tail != NULL) {
        ctl.tail->next = q;
    } else {
        ctl.head = q;
    }
    ctl.tail = q;
    ctl_next();
}

/* ---- Entry points (any shard) -------------------------------------------------- */

static void recv_create(struct sp_xq_msg *m)
{
    ctl_enqueue(CTL_CREATE, m);
}

static void reply_create(struct sp_xq_msg *m)
{
    struct sp_ctl_create_topics *op = sp_container_of(m, struct sp_ctl_create_topics, msg);
    op->done(op);
}

void sp_ctl_create_topics(struct sp_ctl_create_topics *op)
{
    op->msg.fn = recv_create;
    op->msg.reply_fn = reply_create;
    sp_xq_send(0, &op->msg);
}

static void recv_delete(struct sp_xq_msg *m)
{
    ctl_enqueue(CTL_DELETE, m);
}

static void reply_delete(struct sp_xq_msg *m)
{
    struct sp_ctl_delete_topics *op = sp_container_of(m, struct sp_ctl_delete_topics, msg);
    op->done(op);
}

void sp_ctl_delete_topics(struct sp_ctl_delete_topics *op)
{
    op->msg.fn = recv_delete;
    op->msg.reply_fn = reply_delete;
    sp_xq_send(0, &op->msg);
}

static void recv_add_partitions(struct sp_xq_msg *m)
{
    ctl_enqueue(CTL_ADD_PARTITIONS, m);
}

static void reply_add_partitions(struct sp_xq_msg *m)
{
    struct sp_ctl_add_partitions *op = sp_container_of(m, struct sp_ctl_add_partitions, msg);
    op->done(op);
}

void sp_ctl_add_partitions(struct sp_ctl_add_partitions *op)
{
    op->msg.fn = recv_add_partitions;
    op->msg.reply_fn = reply_add_partitions;
    sp_xq_send(0, &op->msg);
}

static void recv_producer_id(struct sp_xq_msg *m)
{
    struct sp_ctl_producer_id *op = sp_container_of(m, struct sp_ctl_producer_id, msg);
    /* The common case needs no record: answer from the reserved block at once. */
    if (ctl.started && ctl.pid_next < ctl.pid_end) {
        op->error = 0;
        op->producer_id = ctl.pid_next++;
        return;
    }
    ctl_enqueue(CTL_PRODUCER_ID, m);
}

static void reply_producer_id(struct sp_xq_msg *m)
{
    struct sp_ctl_producer_id *op = sp_container_of(m, struct sp_ctl_producer_id, msg);
    op->done(op);
}

void sp_ctl_producer_id(struct sp_ctl_producer_id *op)
{
    op->msg.fn = recv_producer_id;
    op->msg.reply_fn = reply_producer_id;
    sp_xq_send(0, &op->msg);
}

static void recv_alter_configs(struct sp_xq_msg *m)
{
    ctl_enqueue(CTL_ALTER_CONFIGS, m);
}

static void reply_alter_configs(struct sp_xq_msg *m)
{
    struct sp_ctl_alter_configs *op = sp_container_of(m, struct sp_ctl_alter_configs, msg);
    op->done(op);
}

void sp_ctl_alter_configs(struct sp_ctl_alter_configs *op)
{
    op->msg.fn = recv_alter_configs;
    op->msg.reply_fn = reply_alter_configs;
    sp_xq_send(0, &op->msg);
}

/* ---- Snapshots, start and stop ------------------------------------------------ */

/* The whole state as records that replay to it: each topic, its configs, its partitions. */
static void snapshot_emit(void *ctx, struct sp_metalog *ml, sp_metalog_emit_fn emit)
{
    (void)ctx;
    for (uint32_t i = 0; i < sp_image_topic_count(); i++) {
        const struct sp_topic *t = sp_image_topic_at(i);
        struct kproto_topic_record tr;
        kproto_topic_record_init(&tr);
        tr.Name = (struct sp_str){t->name, (int32_t)t->name_len};
        memcpy(tr.TopicId.b, t->id, 16);
        emit(ml, &(struct sp_metalog_record){SP_IMAGE_REC_TOPIC, 0, &tr});
        for (size_t k = 0; k < t->configs_count; k++) {
            struct kproto_config_record cr;
            kproto_config_record_init(&cr);
            cr.ResourceType = SP_IMAGE_CONFIG_TOPIC;
            cr.ResourceName = tr.Name;
            cr.Name = sp_str_make(t->configs[k].key);
            cr.Value = sp_str_make(t->configs[k].value);
            emit(ml, &(struct sp_metalog_record){SP_IMAGE_REC_CONFIG, 0, &cr});
        }
        for (int32_t k = 0; k < t->partitions; k++) {
            struct kproto_partition_record pr;
            kproto_partition_record_init(&pr);
            int32_t leader = t->part[k].leader;
            pr.PartitionId = k;
            memcpy(pr.TopicId.b, t->id, 16);
            pr.Replicas = &leader;
            pr.Replicas_count = 1;
            pr.Isr = &leader;
            pr.Isr_count = 1;
            pr.Leader = leader;
            pr.LeaderEpoch = t->part[k].leader_epoch;
            pr.PartitionEpoch = t->part[k].partition_epoch;
            emit(ml, &(struct sp_metalog_record){SP_IMAGE_REC_PARTITION, 0, &pr});
        }
    }
    if (sp_image_next_producer_id() > 0) {
        struct kproto_producer_ids_record pr;
        kproto_producer_ids_record_init(&pr);
        pr.BrokerId = ctl.replicas[0];
        pr.NextProducerId = sp_image_next_producer_id();
        emit(ml, &(struct sp_metalog_record){SP_IMAGE_REC_PRODUCER_IDS, 0, &pr});
    }
}

int sp_ctl_start(struct sp_storage *st, const char *log_dir)
{
    SP_ASSERT(sp_rx_shard_id() == 0);
    memset(&ctl, 0, sizeof(ctl));
    ctl.shards = sp_rx_shard_count();
    ctl.fan = calloc(ctl.shards, sizeof(*ctl.fan));
    if (ctl.fan == NULL) {
        return -ENOMEM;
    }
    sp_arena_init(&ctl.arena, NULL, 0, CTL_ARENA_BYTES_MAX);
    ctl.replicas[0] = sp_image_node_id();
    int rc = sp_metalog_open(st, log_dir, &ctl.ml);
    if (rc < 0) {
        sp_log_error("cannot open the metadata log in %s: %s", log_dir, strerror(-rc));
        free(ctl.fan);
        ctl.fan = NULL;
        return rc;
    }
    sp_metalog_set_snapshot_source(ctl.ml, snapshot_emit, NULL);
    ctl.pid_next = ctl.pid_end = sp_image_next_producer_id();
    ctl.started = true;
    return 0;
}

void sp_ctl_fini(void)
{
    if (!ctl.started) {
        return;
    }
    if (ctl.cur != NULL || ctl.head != NULL) {
        /* Only when the drain timed out: those callers are gone with their shards' loops. */
        sp_log_warn("controller stopping with requests unanswered");
    }
    sp_metalog_close(ctl.ml);
    sp_arena_destroy(&ctl.arena);
    free(ctl.recs);
    free(ctl.offset);
    free(ctl.fan);
    memset(&ctl, 0, sizeof(ctl));
}
