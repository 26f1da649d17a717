/*
 * cluster/group_consumer.c: the KIP-848 consumer group protocol
 * (ConsumerGroupHeartbeat, ConsumerGroupDescribe) on the coordinator shard.
 *
 * The group holds two epochs and, per member, three assignments:
 *
 *   group epoch       bumped when the membership, a subscription, or the
 *                     partitions of a subscribed topic change
 *   assignment epoch  the group epoch the target assignment was computed at
 *                     (on the next heartbeat after a bump, by the assignor)
 *   member: target    what the assignor wants it to own
 *           assigned  what it may own now (sent to it)
 *           pending   what it still owns but must give up (revocation)
 *
 * A member converges to its target one heartbeat at a time (reconcile):
 * it first revokes (assigned ∩ target stays, the rest is pending, its
 * epoch stays); once its heartbeat no longer lists the pending partitions
 * it moves to the assignment epoch and gets the target partitions that no
 * other member still owns (assigned or pending). Those it must wait for
 * leave it UNRELEASED until their owner lets them go.
 *
 *   STABLE --target epoch moves--> UNREVOKED --revoked--> STABLE / UNRELEASED
 *
 * Every change is a record of __consumer_offsets (Kafka's
 * ConsumerGroup* keys 3..8) written before the heartbeat is answered; a
 * heartbeat that changed nothing still waits for the writes before it, so
 * no answer tells a member something the log could lose. The in-memory
 * state is changed at once (the next heartbeat sees it); a write that
 * fails is answered with its error, and the group is as the memory says
 * until the partition reloads.
 */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cluster/forward.h"
#include "cluster/group.h"
#include "cluster/group_assign.h"
#include "cluster/image.h"
#include "core/config.h"
#include "core/log.h"
#include "core/rx.h"
#include "net/conn.h"
#include "protocol/gen/kerr.h"

/* Member, instance and rack ids longer than this are refused (INVALID_REQUEST). */
#define CG_ID_MAX 255
/* Client ids and hosts are kept up to this many bytes. */
#define CG_CLIENT_STR_MAX 255
/* Topic names one member may subscribe to by name. */
#define CG_SUB_TOPICS_MAX 10000
/* A subscription regex's length. */
#define CG_REGEX_MAX 1024
/* Memory for the records of one change made by a timer. */
#define CG_TIMER_ARENA_LIMIT (16u << 20)

#define CG_EPOCH_LEAVE        (-1)
#define CG_EPOCH_LEAVE_STATIC (-2)

/* Kafka's MemberState values, as stored in ConsumerGroupCurrentMemberAssignmentValue. */
enum cg_mstate {
    CG_M_STABLE = 0,
    CG_M_UNREVOKED = 1,
    CG_M_UNRELEASED = 2,
    CG_M_UNKNOWN = 127,
};

struct cg_member {
    struct sp_group_consumer *cg;
    struct cg_member *next;
    char *id;
    char *instance_id; /* NULL: none */
    char *rack_id;     /* NULL: none */
    char *client_id;
    char *client_host;
    char *assignor; /* NULL: none asked for */
    char *regex;    /* NULL: none */
    regex_t re;
    bool re_ok;
    char **topics; /* sorted, unique */
    uint32_t topics_n;
    int32_t rebalance_timeout_ms;
    int32_t epoch;
    int32_t prev_epoch;
    int8_t state;
    struct sp_assign_set assigned;
    struct sp_assign_set pending;
    struct sp_assign_set target;
    struct sp_timer session;
    struct sp_timer rebalance;
    int32_t rebalance_epoch;
};

/* One topic of the group's subscription metadata (ConsumerGroupPartitionMetadata). */
struct cg_topic {
    uint8_t id[16];
    char *name;
    int32_t partitions;
};

struct cg_waiter {
    struct sp_fwd *f;
    struct cg_waiter *next;
};

/* A batch of records on its way to the log, and the heartbeats waiting on it. */
struct cg_write {
    struct sp_group_write w;
    struct sp_group_consumer *cg; /* NULL once the group has left this shard */
    struct cg_write *next;
    struct cg_waiter *waiters;
    struct cg_waiter *waiters_tail;
    bool done;
    int16_t err;
};

struct sp_group_consumer {
    struct sp_group *g;
    int32_t group_epoch;
    int32_t assignment_epoch;
    struct cg_member *members;
    uint32_t members_n;
    struct cg_topic *meta; /* sorted by name */
    uint32_t meta_n;
    int64_t meta_image_offset; /* the image offset meta was checked at; -1: never */
    struct cg_write *writes;   /* in the order written */
    struct cg_write *writes_tail;
};

/* What the connection's shard hands the coordinator besides the request. */
struct cg_hb_ctx {
    char client_host[64];
};

/* Records of one change, encoded into an arena. */
struct cg_recs {
    struct sp_arena *a;
    struct sp_str group_id;
    struct sp_group_rec *v;
    uint32_t n;
    uint32_t cap;
    int err;
};

/* ---- Small helpers ----------------------------------------------------------- */

static const struct sp_config *cfg(void)
{
    return sp_image_broker_config();
}

static char *dup_str(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        if (n > 0) {
            memcpy(s, p, n);
        }
        s[n] = '\0';
    }
    return s;
}

static bool str_is(const char *s, struct sp_str v)
{
    if (s == NULL || v.ptr == NULL) {
        return s == NULL && v.ptr == NULL;
    }
    return strlen(s) == (size_t)v.len && memcmp(s, v.ptr, (size_t)v.len) == 0;
}

static struct sp_str str_of(const char *s)
{
    struct sp_str r = {s, s != NULL ? (int32_t)strlen(s) : 0};
    return r;
}

static struct sp_str msg(struct sp_arena *a, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return (struct sp_str){NULL, 0};
    }
    return sp_str_copy(a, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A printable, bounded copy of a wire string for messages. */
static const char *pr(struct sp_arena *a, struct sp_str s)
{
    if (s.ptr == NULL) {
        return "null";
    }
    size_t n = s.len > 200 ? 200 : (size_t)s.len;
    char *p = sp_arena_alloc(a, n + 1);
    if (p == NULL) {
        return "";
    }
    memcpy(p, s.ptr, n);
    p[n] = '\0';
    return p;
}

/* Kafka's Uuid.toString: 16 random bytes in unpadded base64url (22 characters). */
static void member_id_new(char out[23])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[18] = {0};
    if (getrandom(r, 16, 0) != 16) {
        uint64_t t = sp_rx_now_ns() ^ (uint64_t)(uintptr_t)out;
        for (int i = 0; i < 16; i++) {
            t = t * 6364136223846793005ull + 1442695040888963407ull;
            r[i] = (uint8_t)(t >> 56);
        }
    }
    int k = 0;
    for (int i = 0; i < 18 && k < 22; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
        for (int j = 3; j >= 0 && k < 22; j--) {
            out[k++] = b64[(v >> (6 * j)) & 63];
        }
    }
    out[22] = '\0';
}

/* sp_config_list_each's callback: 1 + the first assignor this broker knows. */
static int assignor_known(void *ctx, const char *item, size_t len)
{
    (void)ctx;
    int a = sp_assignor_by_name(item, len);
    return a >= 0 ? a + 1 : 0;
}

static int assignor_default(void)
{
    const char *list = sp_config_str(cfg(), SP_CFG_GROUP_CONSUMER_ASSIGNORS);
    int a = sp_config_list_each(list != NULL ? list : "", assignor_known, NULL);
    return a > 0 ? a - 1 : SP_ASSIGNOR_UNIFORM;
}

/* sp_config_list_each's callback: 1 when the item is ctx's name. */
static int assignor_is(void *ctx, const char *item, size_t len)
{
    const struct sp_str *name = ctx;
    return len == (size_t)name->len && memcmp(item, name->ptr, len) == 0;
}

/* Whether `name` is an assignor this broker serves: known, and in group.consumer.assignors. */
static bool assignor_served(struct sp_str name)
{
    if (sp_assignor_by_name(name.ptr, (size_t)name.len) < 0) {
        return false;
    }
    const char *list = sp_config_str(cfg(), SP_CFG_GROUP_CONSUMER_ASSIGNORS);
    return sp_config_list_each(list != NULL ? list : "", assignor_is, &name) != 0;
}

static bool consumer_protocol_enabled(void)
{
    const char *list = sp_config_str(cfg(), SP_CFG_GROUP_COORDINATOR_REBALANCE_PROTOCOLS);
    return list != NULL && strstr(list, "consumer") != NULL;
}

/* ---- Partition sets to and from the wire ----------------------------------- */

/* The end of the run of pairs of s's topic at i. */
static uint32_t run_end(const struct sp_assign_set *s, uint32_t i)
{
    uint32_t j = i + 1;
    while (j < s->n && memcmp(s->v[j].id, s->v[i].id, 16) == 0) {
        j++;
    }
    return j;
}

static int32_t *run_parts(struct sp_arena *a, const struct sp_assign_set *s, uint32_t i, uint32_t j)
{
    int32_t *p = sp_arena_calloc(a, j - i + 1, sizeof(int32_t));
    for (uint32_t k = i; p != NULL && k < j; k++) {
        p[k - i] = s->v[k].p;
    }
    return p;
}

/* Builds a set from wire pairs; 0, -ENOMEM, or -E2BIG. */
static int set_from(struct sp_assign_set *out, uint32_t topics,
                    const struct sp_uuid *(*id_at)(const void *, uint32_t),
                    const int32_t *(*parts_at)(const void *, uint32_t, int32_t *), const void *arr)
{
    uint64_t total = 0;
    for (uint32_t t = 0; t < topics; t++) {
        int32_t n = 0;
        parts_at(arr, t, &n);
        total += n > 0 ? (uint64_t)n : 0;
    }
    out->v = NULL;
    out->n = 0;
    if (total > SP_ASSIGN_PARTITIONS_MAX) {
        return -E2BIG;
    }
    if (total == 0) {
        return 0;
    }
    out->v = malloc((size_t)total * sizeof(out->v[0]));
    if (out->v == NULL) {
        return -ENOMEM;
    }
    for (uint32_t t = 0; t < topics; t++) {
        int32_t n = 0;
        const int32_t *parts = parts_at(arr, t, &n);
        const struct sp_uuid *id = id_at(arr, t);
        for (int32_t k = 0; k < n; k++) {
            memcpy(out->v[out->n].id, id->b, 16);
            out->v[out->n++].p = parts[k];
        }
    }
    sp_assign_set_normalize(out);
    return 0;
}

static const struct sp_uuid *req_tp_id(const void *arr, uint32_t t)
{
    return &((const struct kproto_consumer_group_heartbeat_request_topic_partitions *)arr)[t]
                .TopicId;
}

static const int32_t *req_tp_parts(const void *arr, uint32_t t, int32_t *n)
{
    const struct kproto_consumer_group_heartbeat_request_topic_partitions *tp =
        &((const struct kproto_consumer_group_heartbeat_request_topic_partitions *)arr)[t];
    *n = tp->Partitions_count;
    return tp->Partitions;
}

static const struct sp_uuid *cur_tp_id(const void *arr, uint32_t t)
{
    return &((const struct kproto_consumer_group_current_member_assignment_value_topic_partitions *)
                 arr)[t]
                .TopicId;
}

static const int32_t *cur_tp_parts(const void *arr, uint32_t t, int32_t *n)
{
    const struct kproto_consumer_group_current_member_assignment_value_topic_partitions *tp =
        &((const struct kproto_consumer_group_current_member_assignment_value_topic_partitions *)
              arr)[t];
    *n = tp->Partitions_count;
    return tp->Partitions;
}

static const struct sp_uuid *tgt_tp_id(const void *arr, uint32_t t)
{
    return &((
        const struct kproto_consumer_group_target_assignment_member_value_topic_partition *)arr)[t]
                .TopicId;
}

static const int32_t *tgt_tp_parts(const void *arr, uint32_t t, int32_t *n)
{
    const struct kproto_consumer_group_target_assignment_member_value_topic_partition *tp = &((
        const struct kproto_consumer_group_target_assignment_member_value_topic_partition *)arr)[t];
    *n = tp->Partitions_count;
    return tp->Partitions;
}

/* ---- Members --------------------------------------------------------------- */

static struct cg_member *member_find(const struct sp_group_consumer *cg, struct sp_str id)
{
    for (struct cg_member *m = cg->members; m != NULL; m = m->next) {
        if (str_is(m->id, id)) {
            return m;
        }
    }
    return NULL;
}

static struct cg_member *member_find_static(const struct sp_group_consumer *cg,
                                            struct sp_str instance_id)
{
    for (struct cg_member *m = cg->members; m != NULL; m = m->next) {
        if (m->instance_id != NULL && str_is(m->instance_id, instance_id)) {
            return m;
        }
    }
    return NULL;
}

static void member_topics_free(struct cg_member *m)
{
    for (uint32_t i = 0; i < m->topics_n; i++) {
        free(m->topics[i]);
    }
    free(m->topics);
    m->topics = NULL;
    m->topics_n = 0;
}

static void member_regex_free(struct cg_member *m)
{
    if (m->re_ok) {
        regfree(&m->re);
        m->re_ok = false;
    }
    free(m->regex);
    m->regex = NULL;
}

static void member_free(struct cg_member *m)
{
    sp_rx_timer_cancel(&m->session);
    sp_rx_timer_cancel(&m->rebalance);
    member_topics_free(m);
    member_regex_free(m);
    free(m->id);
    free(m->instance_id);
    free(m->rack_id);
    free(m->client_id);
    free(m->client_host);
    free(m->assignor);
    sp_assign_set_free(&m->assigned);
    sp_assign_set_free(&m->pending);
    sp_assign_set_free(&m->target);
    free(m);
}

static struct cg_member *member_new(struct sp_group_consumer *cg, const char *id, size_t len)
{
    struct cg_member *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->id = dup_str(id, len);
    m->client_id = dup_str("", 0);
    m->client_host = dup_str("", 0);
    if (m->id == NULL || m->client_id == NULL || m->client_host == NULL) {
        member_free(m);
        return NULL;
    }
    m->cg = cg;
    m->rebalance_timeout_ms = -1;
    m->state = CG_M_STABLE;
    m->next = cg->members;
    cg->members = m;
    cg->members_n++;
    return m;
}

static void member_unlink(struct sp_group_consumer *cg, struct cg_member *m)
{
    for (struct cg_member **pp = &cg->members; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            cg->members_n--;
            return;
        }
    }
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replaces m's subscribed names (sorted, unique). 0 or -ENOMEM. */
static int member_set_topics(struct cg_member *m, const struct sp_str *names, int32_t n)
{
    char **v = calloc((size_t)n + 1, sizeof(char *));
    if (v == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        v[i] = dup_str(names[i].ptr != NULL ? names[i].ptr : "", (size_t)names[i].len);
        if (v[i] == NULL) {
            for (int32_t j = 0; j < i; j++) {
                free(v[j]);
            }
            free(v);
            return -ENOMEM;
        }
    }
    qsort(v, (size_t)n, sizeof(char *), str_ptr_cmp);
    uint32_t u = 0;
    for (int32_t i = 0; i < n; i++) {
        if (u > 0 && strcmp(v[i], v[u - 1]) == 0) {
            free(v[i]);
        } else {
            v[u++] = v[i];
        }
    }
    member_topics_free(m);
    m->topics = v;
    m->topics_n = u;
    return 0;
}

/* bsearch's comparator over m's sorted names: the key, a name as sent, against one of them. */
static int topic_cmp_wire(const void *key, const void *elem)
{
    const struct sp_str *v = key;
    const char *s = *(char *const *)elem;
    size_t n = strlen(s);
    size_t k = n < (size_t)v->len ? n : (size_t)v->len;
    int c = k > 0 ? memcmp(v->ptr, s, k) : 0;
    if (c != 0) {
        return c;
    }
    return ((size_t)v->len > n) - ((size_t)v->len < n);
}

/* Where name is in m's sorted names, or -1. */
static int64_t member_topic_index(const struct cg_member *m, struct sp_str name)
{
    if (m->topics_n == 0) {
        return -1;
    }
    char **at = bsearch(&name, m->topics, m->topics_n, sizeof(*m->topics), topic_cmp_wire);
    return at != NULL ? at - m->topics : -1;
}

/* Whether names (as sent) are m's subscription already. */
static bool member_topics_same(const struct cg_member *m, const struct sp_str *names, int32_t n)
{
    /* Every name sent is known, and every known one was sent (duplicates aside). */
    bool *seen = calloc((size_t)m->topics_n + 1, sizeof(bool));
    if (seen == NULL) {
        return false; /* taken as a change: the subscription is rewritten */
    }
    uint32_t distinct = 0;
    bool same = true;
    for (int32_t i = 0; i < n && same; i++) {
        int64_t at = names[i].ptr != NULL ? member_topic_index(m, names[i]) : -1;
        same = at >= 0;
        if (same && !seen[at]) {
            seen[at] = true;
            distinct++;
        }
    }
    free(seen);
    return same && distinct == m->topics_n;
}

/* Sets m's regex ("" clears it). 0, -ENOMEM, or -EINVAL (does not compile). */
static int member_set_regex(struct cg_member *m, struct sp_str re)
{
    member_regex_free(m);
    if (re.ptr == NULL || re.len == 0) {
        return 0;
    }
    m->regex = dup_str(re.ptr, (size_t)re.len);
    if (m->regex == NULL) {
        return -ENOMEM;
    }
    if (regcomp(&m->re, m->regex, REG_EXTENDED | REG_NOSUB) != 0) {
        free(m->regex);
        m->regex = NULL;
        return -EINVAL;
    }
    m->re_ok = true;
    return 0;
}

/* Whether m subscribes to the topic, by name or by its regex (internal topics never match one). */
static bool member_subscribes(const struct cg_member *m, const char *name, bool internal)
{
    if (member_topic_index(m, (struct sp_str){name, (int32_t)strlen(name)}) >= 0) {
        return true;
    }
    return m->re_ok && !internal && regexec(&m->re, name, 0, NULL, 0) == 0;
}

/* ---- The group's subscription metadata -------------------------------------- */

static void meta_free(struct cg_topic *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free(v[i].name);
    }
    free(v);
}

static int topic_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cg_topic *)a)->name, ((const struct cg_topic *)b)->name);
}

/* The topics of this shard's image some member subscribes to, sorted by name. */
static int meta_compute(const struct sp_group_consumer *cg, struct cg_topic **out, uint32_t *out_n)
{
    uint32_t total = sp_image_topic_count();
    struct cg_topic *v = calloc((size_t)total + 1, sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < total; i++) {
        const struct sp_topic *t = sp_image_topic_at(i);
        bool sub = false;
        for (const struct cg_member *m = cg->members; m != NULL && !sub; m = m->next) {
            sub = member_subscribes(m, t->name, t->internal);
        }
        if (!sub) {
            continue;
        }
        v[n].name = dup_str(t->name, t->name_len);
        if (v[n].name == NULL) {
            meta_free(v, n);
            return -ENOMEM;
        }
        memcpy(v[n].id, t->id, 16);
        v[n].partitions = t->partitions;
        n++;
    }
    qsort(v, n, sizeof(*v), topic_name_cmp);
    *out = v;
    *out_n = n;
    return 0;
}

static bool meta_same(const struct cg_topic *a, uint32_t an, const struct cg_topic *b, uint32_t bn)
{
    if (an != bn) {
        return false;
    }
    for (uint32_t i = 0; i < an; i++) {
        if (memcmp(a[i].id, b[i].id, 16) != 0 || strcmp(a[i].name, b[i].name) != 0 ||
            a[i].partitions != b[i].partitions) {
            return false;
        }
    }
    return true;
}

/* ---- Records ---------------------------------------------------------------- */

static void recs_init(struct cg_recs *r, struct sp_arena *a, const struct sp_group *g)
{
    memset(r, 0, sizeof(*r));
    r->a = a;
    r->group_id.ptr = g->id;
    r->group_id.len = (int32_t)g->id_len;
}

static void recs_add(struct cg_recs *r, int16_t key_version, const void *key, const void *value)
{
    if (r->err != 0) {
        return;
    }
    if (r->n == r->cap) {
        uint32_t cap = r->cap == 0 ? 16 : r->cap * 2;
        struct sp_group_rec *v = sp_arena_alloc(r->a, (size_t)cap * sizeof(*v));
        if (v == NULL) {
            r->err = -ENOMEM;
            return;
        }
        if (r->n > 0) {
            memcpy(v, r->v, (size_t)r->n * sizeof(*v));
        }
        r->v = v;
        r->cap = cap;
    }
    int rc = sp_group_rec_encode(r->a, key_version, key, 0, value, &r->v[r->n]);
    if (rc < 0) {
        r->err = rc;
        return;
    }
    r->n++;
}

static void rec_group_epoch(struct cg_recs *r, const struct sp_group_consumer *cg)
{
    struct kproto_consumer_group_metadata_key k;
    struct kproto_consumer_group_metadata_value v;
    kproto_consumer_group_metadata_key_init(&k);
    kproto_consumer_group_metadata_value_init(&v);
    k.GroupId = r->group_id;
    v.Epoch = cg->group_epoch;
    recs_add(r, SP_GROUP_KEY_CG_METADATA, &k, &v);
}

static void rec_meta(struct cg_recs *r, const struct sp_group_consumer *cg)
{
    struct kproto_consumer_group_partition_metadata_key k;
    struct kproto_consumer_group_partition_metadata_value v;
    kproto_consumer_group_partition_metadata_key_init(&k);
    kproto_consumer_group_partition_metadata_value_init(&v);
    k.GroupId = r->group_id;
    v.Topics = sp_arena_calloc(r->a, cg->meta_n + 1, sizeof(*v.Topics));
    if (v.Topics == NULL) {
        r->err = -ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < cg->meta_n; i++) {
        memcpy(v.Topics[i].TopicId.b, cg->meta[i].id, 16);
        v.Topics[i].TopicName = str_of(cg->meta[i].name);
        v.Topics[i].NumPartitions = cg->meta[i].partitions;
    }
    v.Topics_count = (int32_t)cg->meta_n;
    recs_add(r, SP_GROUP_KEY_CG_PARTITION_METADATA, &k, &v);
}

static void rec_target_epoch(struct cg_recs *r, const struct sp_group_consumer *cg)
{
    struct kproto_consumer_group_target_assignment_metadata_key k;
    struct kproto_consumer_group_target_assignment_metadata_value v;
    kproto_consumer_group_target_assignment_metadata_key_init(&k);
    kproto_consumer_group_target_assignment_metadata_value_init(&v);
    k.GroupId = r->group_id;
    v.AssignmentEpoch = cg->assignment_epoch;
    recs_add(r, SP_GROUP_KEY_CG_TARGET_METADATA, &k, &v);
}

/* m's metadata, or its tombstone. */
static void rec_member(struct cg_recs *r, const struct cg_member *m, bool tombstone)
{
    struct kproto_consumer_group_member_metadata_key k;
    struct kproto_consumer_group_member_metadata_value v;
    kproto_consumer_group_member_metadata_key_init(&k);
    kproto_consumer_group_member_metadata_value_init(&v);
    k.GroupId = r->group_id;
    k.MemberId = str_of(m->id);
    if (tombstone) {
        recs_add(r, SP_GROUP_KEY_CG_MEMBER_METADATA, &k, NULL);
        return;
    }
    v.InstanceId = str_of(m->instance_id);
    v.RackId = str_of(m->rack_id);
    v.ClientId = str_of(m->client_id);
    v.ClientHost = str_of(m->client_host);
    v.SubscribedTopicNames = sp_arena_calloc(r->a, m->topics_n + 1, sizeof(struct sp_str));
    if (v.SubscribedTopicNames == NULL) {
        r->err = -ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < m->topics_n; i++) {
        v.SubscribedTopicNames[i] = str_of(m->topics[i]);
    }
    v.SubscribedTopicNames_count = (int32_t)m->topics_n;
    v.SubscribedTopicRegex = str_of(m->regex);
    v.RebalanceTimeoutMs = m->rebalance_timeout_ms;
    v.ServerAssignor = str_of(m->assignor);
    v.ClassicMemberMetadata = NULL;
    recs_add(r, SP_GROUP_KEY_CG_MEMBER_METADATA, &k, &v);
}

static void rec_target_member(struct cg_recs *r, const struct cg_member *m, bool tombstone)
{
    struct kproto_consumer_group_target_assignment_member_key k;
    struct kproto_consumer_group_target_assignment_member_value v;
    kproto_consumer_group_target_assignment_member_key_init(&k);
    kproto_consumer_group_target_assignment_member_value_init(&v);
    k.GroupId = r->group_id;
    k.MemberId = str_of(m->id);
    if (tombstone) {
        recs_add(r, SP_GROUP_KEY_CG_TARGET_MEMBER, &k, NULL);
        return;
    }
    const struct sp_assign_set *s = &m->target;
    v.TopicPartitions =
        sp_arena_calloc(r->a, sp_assign_set_topics(s) + 1, sizeof(*v.TopicPartitions));
    if (v.TopicPartitions == NULL) {
        r->err = -ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < s->n;) {
        uint32_t j = run_end(s, i);
        struct kproto_consumer_group_target_assignment_member_value_topic_partition *tp =
            &v.TopicPartitions[v.TopicPartitions_count++];
        memcpy(tp->TopicId.b, s->v[i].id, 16);
        tp->Partitions = run_parts(r->a, s, i, j);
        tp->Partitions_count = (int32_t)(j - i);
        if (tp->Partitions == NULL) {
            r->err = -ENOMEM;
            return;
        }
        i = j;
    }
    recs_add(r, SP_GROUP_KEY_CG_TARGET_MEMBER, &k, &v);
}

static int
cur_tps(struct sp_arena *a, const struct sp_assign_set *s,
        struct kproto_consumer_group_current_member_assignment_value_topic_partitions **out,
        int32_t *out_n)
{
    *out_n = 0;
    *out = sp_arena_calloc(a, sp_assign_set_topics(s) + 1, sizeof(**out));
    if (*out == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < s->n;) {
        uint32_t j = run_end(s, i);
        struct kproto_consumer_group_current_member_assignment_value_topic_partitions *tp =
            &(*out)[(*out_n)++];
        memcpy(tp->TopicId.b, s->v[i].id, 16);
        tp->Partitions = run_parts(a, s, i, j);
        tp->Partitions_count = (int32_t)(j - i);
        if (tp->Partitions == NULL) {
            return -ENOMEM;
        }
        i = j;
    }
    return 0;
}

static void rec_current(struct cg_recs *r, const struct cg_member *m, bool tombstone)
{
    struct kproto_consumer_group_current_member_assignment_key k;
    struct kproto_consumer_group_current_member_assignment_value v;
    kproto_consumer_group_current_member_assignment_key_init(&k);
    kproto_consumer_group_current_member_assignment_value_init(&v);
    k.GroupId = r->group_id;
    k.MemberId = str_of(m->id);
    if (tombstone) {
        recs_add(r, SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT, &k, NULL);
        return;
    }
    v.MemberEpoch = m->epoch;
    v.PreviousMemberEpoch = m->prev_epoch;
    v.State = m->state;
    if (cur_tps(r->a, &m->assigned, &v.AssignedPartitions, &v.AssignedPartitions_count) < 0 ||
        cur_tps(r->a, &m->pending, &v.PartitionsPendingRevocation,
                &v.PartitionsPendingRevocation_count) < 0) {
        r->err = -ENOMEM;
        return;
    }
    recs_add(r, SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT, &k, &v);
}

/* ---- Group state -------------------------------------------------------------- */

static bool member_reconciled(const struct cg_member *m, int32_t epoch)
{
    return m->state == CG_M_STABLE && m->epoch == epoch;
}

static void group_state_update(struct sp_group_consumer *cg)
{
    enum sp_group_state s;
    if (cg->members_n == 0) {
        s = SP_GROUP_EMPTY;
    } else if (cg->group_epoch > cg->assignment_epoch) {
        s = SP_GROUP_ASSIGNING;
    } else {
        s = SP_GROUP_STABLE;
        for (const struct cg_member *m = cg->members; m != NULL; m = m->next) {
            if (!member_reconciled(m, cg->assignment_epoch)) {
                s = SP_GROUP_RECONCILING;
                break;
            }
        }
    }
    if (cg->g->state != s) {
        cg->g->state = s;
        cg->g->state_since_ms = sp_group_now_ms();
    }
}

/* The assignor the members ask for most (ties: the configured order), else the default. */
static enum sp_assignor group_assignor(const struct sp_group_consumer *cg)
{
    uint32_t votes[2] = {0, 0};
    for (const struct cg_member *m = cg->members; m != NULL; m = m->next) {
        int a = m->assignor != NULL ? sp_assignor_by_name(m->assignor, strlen(m->assignor)) : -1;
        if (a >= 0) {
            votes[a]++;
        }
    }
    if (votes[0] == 0 && votes[1] == 0) {
        return (enum sp_assignor)assignor_default();
    }
    if (votes[0] == votes[1]) {
        return (enum sp_assignor)assignor_default();
    }
    return votes[1] > votes[0] ? SP_ASSIGNOR_RANGE : SP_ASSIGNOR_UNIFORM;
}

/*
 * Checks the subscription metadata against the image (when the image or
 * a subscription changed) and bumps the group epoch when it changed or
 * `bump` says so. 0 or -ENOMEM.
 */
static int group_epoch_maybe_bump(struct sp_group_consumer *cg, bool bump, struct cg_recs *r)
{
    int64_t image_at = sp_image_offset();
    if (bump || image_at != cg->meta_image_offset) {
        struct cg_topic *meta;
        uint32_t meta_n;
        if (meta_compute(cg, &meta, &meta_n) < 0) {
            return -ENOMEM;
        }
        if (meta_same(meta, meta_n, cg->meta, cg->meta_n)) {
            meta_free(meta, meta_n);
        } else {
            meta_free(cg->meta, cg->meta_n);
            cg->meta = meta;
            cg->meta_n = meta_n;
            rec_meta(r, cg);
            bump = true;
        }
        cg->meta_image_offset = image_at;
    }
    if (bump) {
        cg->group_epoch++;
        rec_group_epoch(r, cg);
    }
    return 0;
}

static int member_id_cmp(const void *a, const void *b)
{
    return strcmp((*(struct cg_member *const *)a)->id, (*(struct cg_member *const *)b)->id);
}

/* Computes every member's target at the group epoch. 0 or -errno. */
static int target_compute(struct sp_group_consumer *cg, struct cg_recs *r)
{
    uint32_t n = cg->members_n;
    struct cg_member **ms = calloc((size_t)n + 1, sizeof(*ms));
    struct sp_assign_member *am = calloc((size_t)n + 1, sizeof(*am));
    struct sp_assign_topic *at = calloc((size_t)cg->meta_n + 1, sizeof(*at));
    uint32_t *subs = calloc((size_t)n * cg->meta_n + 1, sizeof(uint32_t));
    int rc = -ENOMEM;
    if (ms == NULL || am == NULL || at == NULL || subs == NULL) {
        goto out;
    }
    uint32_t k = 0;
    for (struct cg_member *m = cg->members; m != NULL; m = m->next) {
        ms[k++] = m;
    }
    qsort(ms, n, sizeof(*ms), member_id_cmp);
    for (uint32_t t = 0; t < cg->meta_n; t++) {
        memcpy(at[t].id, cg->meta[t].id, 16);
        at[t].partitions = cg->meta[t].partitions;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t *mine = subs + (size_t)i * cg->meta_n;
        uint32_t c = 0;
        for (uint32_t t = 0; t < cg->meta_n; t++) {
            const struct sp_topic *it = sp_image_topic(cg->meta[t].name, strlen(cg->meta[t].name));
            if (member_subscribes(ms[i], cg->meta[t].name, it != NULL && it->internal)) {
                mine[c++] = t;
            }
        }
        am[i].topics = mine;
        am[i].topics_n = c;
        am[i].prev = &ms[i]->target;
    }
    rc = sp_assign(group_assignor(cg), at, cg->meta_n, am, n);
    if (rc < 0) {
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (sp_assign_set_eq(&am[i].out, &ms[i]->target)) {
            sp_assign_set_free(&am[i].out);
            continue;
        }
        sp_assign_set_free(&ms[i]->target);
        ms[i]->target = am[i].out;
        rec_target_member(r, ms[i], false);
    }
    cg->assignment_epoch = cg->group_epoch;
    rec_target_epoch(r, cg);
    rc = 0;
out:
    free(ms);
    free(am);
    free(at);
    free(subs);
    return rc;
}

/* ---- Reconciliation ----------------------------------------------------------- */

/* Whether another member still owns (id, p), assigned or pending revocation. */
static bool owned_by_other(const struct sp_group_consumer *cg, const struct cg_member *me,
                           const struct sp_assign_tp *tp)
{
    for (const struct cg_member *m = cg->members; m != NULL; m = m->next) {
        if (m != me && (sp_assign_set_has(&m->assigned, tp->id, tp->p) ||
                        sp_assign_set_has(&m->pending, tp->id, tp->p))) {
            return true;
        }
    }
    return false;
}

static void epoch_move(struct cg_member *m, int32_t epoch)
{
    m->prev_epoch = m->epoch;
    m->epoch = epoch;
}

/* The next step of m towards its target (Kafka's CurrentAssignmentBuilder). 0 or -ENOMEM. */
static int next_assignment(struct sp_group_consumer *cg, struct cg_member *m, int32_t member_epoch)
{
    struct sp_assign_set keep, revoke, want;
    if (sp_assign_set_op(&m->assigned, &m->target, false, &keep) < 0) {
        return -ENOMEM;
    }
    if (sp_assign_set_op(&m->assigned, &keep, true, &revoke) < 0) {
        sp_assign_set_free(&keep);
        return -ENOMEM;
    }
    if (sp_assign_set_op(&m->target, &keep, true, &want) < 0) {
        sp_assign_set_free(&keep);
        sp_assign_set_free(&revoke);
        return -ENOMEM;
    }
    bool unreleased = false;
    uint32_t w = 0;
    for (uint32_t i = 0; i < want.n; i++) {
        if (owned_by_other(cg, m, &want.v[i])) {
            unreleased = true;
        } else {
            want.v[w++] = want.v[i];
        }
    }
    want.n = w;
    int32_t target_epoch = cg->assignment_epoch;
    if (revoke.n > 0) {
        m->state = CG_M_UNREVOKED;
        epoch_move(m, member_epoch);
        sp_assign_set_free(&m->assigned);
        sp_assign_set_free(&m->pending);
        m->assigned = keep;
        m->pending = revoke;
        sp_assign_set_free(&want);
        return 0;
    }
    sp_assign_set_free(&revoke);
    struct sp_assign_set next;
    if (sp_assign_set_union(&keep, &want, &next) < 0) {
        sp_assign_set_free(&keep);
        sp_assign_set_free(&want);
        return -ENOMEM;
    }
    sp_assign_set_free(&keep);
    sp_assign_set_free(&want);
    m->state = unreleased ? CG_M_UNRELEASED : CG_M_STABLE;
    epoch_move(m, target_epoch);
    sp_assign_set_free(&m->assigned);
    sp_assign_set_free(&m->pending);
    m->assigned = next;
    return 0;
}

/* Whether the member, by what it says it owns, still holds one of `pending`. */
static bool still_owns(const struct sp_assign_set *owned, bool owned_known,
                       const struct sp_assign_set *pending)
{
    if (!owned_known) {
        return true;
    }
    for (uint32_t i = 0; i < owned->n; i++) {
        if (sp_assign_set_has(pending, owned->v[i].id, owned->v[i].p)) {
            return true;
        }
    }
    return false;
}

static void rebalance_fire(struct sp_timer *t);

/*
 * Moves m one step towards its target, writing its record when it
 * changed. *assigned_changed says whether what it may own changed.
 * 0, -ENOMEM, or 1: fence it (unknown state and it still owns partitions).
 */
static int reconcile(struct sp_group_consumer *cg, struct cg_member *m,
                     const struct sp_assign_set *owned, bool owned_known, struct cg_recs *r,
                     bool *assigned_changed)
{
    *assigned_changed = false;
    if (member_reconciled(m, cg->assignment_epoch)) {
        return 0;
    }
    int32_t epoch0 = m->epoch;
    int32_t prev0 = m->prev_epoch;
    int8_t state0 = m->state;
    struct sp_assign_set assigned0, pending0;
    if (sp_assign_set_copy(&m->assigned, &assigned0) < 0) {
        return -ENOMEM;
    }
    if (sp_assign_set_copy(&m->pending, &pending0) < 0) {
        sp_assign_set_free(&assigned0);
        return -ENOMEM;
    }
    int rc = 0;
    switch (m->state) {
    case CG_M_STABLE:
        rc = m->epoch != cg->assignment_epoch ? next_assignment(cg, m, m->epoch) : 0;
        break;
    case CG_M_UNREVOKED:
        if (!still_owns(owned, owned_known, &m->pending)) {
            rc = next_assignment(cg, m, m->epoch + 1);
        }
        break;
    case CG_M_UNRELEASED:
        rc = next_assignment(cg, m, m->epoch);
        break;
    default:
        if (!owned_known || owned->n > 0) {
            rc = 1;
        } else {
            rc = next_assignment(cg, m, cg->assignment_epoch);
        }
        break;
    }
    if (rc == 0) {
        *assigned_changed = !sp_assign_set_eq(&assigned0, &m->assigned);
        bool changed = *assigned_changed || !sp_assign_set_eq(&pending0, &m->pending) ||
                       epoch0 != m->epoch || prev0 != m->prev_epoch || state0 != m->state;
        if (changed) {
            rec_current(r, m, false);
            if (m->state == CG_M_UNREVOKED) {
                m->rebalance_epoch = m->epoch;
                int32_t ms = m->rebalance_timeout_ms > 0 ? m->rebalance_timeout_ms : 1;
                if (sp_rx_timer_start(&m->rebalance, (uint64_t)ms, rebalance_fire) < 0) {
                    sp_log_warn("group %s: member %s: cannot arm the rebalance timer", cg->g->id,
                                m->id);
                }
            } else {
                sp_rx_timer_cancel(&m->rebalance);
            }
        }
    }
    sp_assign_set_free(&assigned0);
    sp_assign_set_free(&pending0);
    return rc;
}

/* ---- Sessions, leaving, fencing ----------------------------------------------- */

static void session_fire(struct sp_timer *t);

static void session_arm(struct cg_member *m)
{
    int64_t ms = sp_config_int(cfg(), SP_CFG_GROUP_CONSUMER_SESSION_TIMEOUT_MS);
    if (sp_rx_timer_start(&m->session, (uint64_t)(ms > 0 ? ms : 1), session_fire) < 0) {
        sp_log_warn("group %s: member %s: cannot arm the session timer", m->cg->g->id, m->id);
    }
}

/* Takes m out of the group: tombstones, then the group epoch moves. 0 or -ENOMEM. */
static int member_remove(struct sp_group_consumer *cg, struct cg_member *m, struct cg_recs *r,
                         bool bump)
{
    rec_current(r, m, true);
    rec_target_member(r, m, true);
    rec_member(r, m, true);
    member_unlink(cg, m);
    member_free(m);
    return bump ? group_epoch_maybe_bump(cg, true, r) : 0;
}

static int16_t write_records(struct sp_group_consumer *cg, struct cg_recs *r, struct sp_fwd *f);

/* Fences m on a timer: it leaves, its partitions go to the others. */
static void fence_on_timer(struct cg_member *m, const char *why)
{
    struct sp_group_consumer *cg = m->cg;
    sp_log_info("group %s: member %s fenced (%s)", cg->g->id, m->id, why);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, CG_TIMER_ARENA_LIMIT);
    struct cg_recs r;
    recs_init(&r, &a, cg->g);
    if (member_remove(cg, m, &r, true) < 0 || r.err != 0) {
        sp_log_warn("group %s: out of memory while fencing a member", cg->g->id);
    }
    group_state_update(cg);
    if (r.err == 0 && r.n > 0) {
        int16_t err = write_records(cg, &r, NULL);
        if (err != 0) {
            sp_log_warn("group %s: cannot store the fencing of a member: %s", cg->g->id,
                        kerr_name(err));
        }
    }
    sp_arena_destroy(&a);
}

static void session_fire(struct sp_timer *t)
{
    struct cg_member *m = sp_container_of(t, struct cg_member, session);
    fence_on_timer(m, "session timeout");
}

static void rebalance_fire(struct sp_timer *t)
{
    struct cg_member *m = sp_container_of(t, struct cg_member, rebalance);
    if (m->state == CG_M_UNREVOKED && m->epoch == m->rebalance_epoch) {
        fence_on_timer(m, "rebalance timeout: partitions not revoked");
    }
}

/* ---- Writing, and answering once durable --------------------------------------- */

static void waiter_answer(struct sp_fwd *f, int16_t err)
{
    if (err != 0) {
        struct kproto_consumer_group_heartbeat_response *resp = f->call->resp;
        resp->ErrorCode = err;
        resp->ErrorMessage.ptr = NULL;
        resp->ErrorMessage.len = 0;
        resp->MemberEpoch = 0;
        resp->Assignment = NULL;
    }
    sp_fwd_done(f, 0);
}

static void writes_drain(struct sp_group_consumer *cg)
{
    while (cg->writes != NULL && cg->writes->done) {
        struct cg_write *cw = cg->writes;
        cg->writes = cw->next;
        if (cg->writes == NULL) {
            cg->writes_tail = NULL;
        }
        for (struct cg_waiter *w = cw->waiters; w != NULL;) {
            struct cg_waiter *next = w->next; /* w lives in f's arena */
            waiter_answer(w->f, cw->err);
            w = next;
        }
        free(cw);
    }
}

static void write_done(struct sp_group_write *w, int16_t err)
{
    struct cg_write *cw = sp_container_of(w, struct cg_write, w);
    if (cw->cg == NULL) {
        free(cw);
        return;
    }
    if (err != 0) {
        sp_log_warn("group %s: storing records failed: %s", cw->cg->g->id, kerr_name(err));
    }
    cw->done = true;
    cw->err = (int16_t)err;
    writes_drain(cw->cg);
}

static int16_t waiter_add(struct cg_write *cw, struct sp_fwd *f)
{
    struct cg_waiter *w = sp_arena_alloc(f->arena, sizeof(*w));
    if (w == NULL) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    w->f = f;
    w->next = NULL;
    if (cw->waiters_tail != NULL) {
        cw->waiters_tail->next = w;
    } else {
        cw->waiters = w;
    }
    cw->waiters_tail = w;
    return 0;
}

/*
 * Stores r's records (when any) and makes f (when not NULL) wait for them
 * and every write before. Returns 0 when f waits (its answer comes with
 * sp_fwd_done), or a Kafka error (f is not held; nothing more was written).
 */
static int16_t write_records(struct sp_group_consumer *cg, struct cg_recs *r, struct sp_fwd *f)
{
    if (r->n == 0) {
        SP_ASSERT(f != NULL && cg->writes_tail != NULL);
        return waiter_add(cg->writes_tail, f);
    }
    struct cg_write *cw = calloc(1, sizeof(*cw));
    if (cw == NULL) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    cw->cg = cg;
    cw->w.done = write_done;
    if (f != NULL) {
        int16_t err = waiter_add(cw, f);
        if (err != 0) {
            free(cw);
            return err;
        }
    }
    int16_t err = sp_group_store(cg->g, r->v, r->n, &cw->w);
    if (err != 0) {
        free(cw);
        return err;
    }
    if (cg->writes_tail != NULL) {
        cg->writes_tail->next = cw;
    } else {
        cg->writes = cw;
    }
    cg->writes_tail = cw;
    return 0;
}

/* ---- The group on its coordinator ---------------------------------------------- */

static struct sp_group_consumer *cg_new(struct sp_group *g)
{
    struct sp_group_consumer *cg = calloc(1, sizeof(*cg));
    if (cg == NULL) {
        return NULL;
    }
    cg->g = g;
    cg->meta_image_offset = -1;
    g->consumer = cg;
    g->type = SP_GROUP_CONSUMER;
    return cg;
}

/*
 * g as a consumer group for a heartbeat: a classic group without members
 * (offsets only, or just created) becomes one, writing the tombstone of
 * its classic metadata into r. 0, or a Kafka error with *why.
 */
static int16_t cg_attach(struct sp_group *g, bool join, struct cg_recs *r, struct sp_arena *a,
                         struct sp_str *why)
{
    if (g->type == SP_GROUP_CLASSIC) {
        if (!join || sp_group_classic_members(g) > 0) {
            *why = msg(a, "Group %s is not a consumer group.", g->id);
            return KERR_GROUP_ID_NOT_FOUND;
        }
        if (g->classic != NULL) {
            sp_group_classic_free(g, KERR_NOT_COORDINATOR);
        }
        struct kproto_group_metadata_key k;
        kproto_group_metadata_key_init(&k);
        k.group = r->group_id;
        recs_add(r, SP_GROUP_KEY_GROUP_METADATA, &k, NULL);
        g->type = SP_GROUP_CONSUMER;
    }
    if (g->consumer == NULL && cg_new(g) == NULL) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    return 0;
}

/* What one heartbeat works with. */
struct hb {
    const struct kproto_consumer_group_heartbeat_request *req;
    struct kproto_consumer_group_heartbeat_response *resp;
    struct sp_arena *a;
    const char *client_id;
    size_t client_id_len;
    const char *client_host;
    int16_t version;
    struct sp_assign_set owned;
    bool owned_known;
};

static int16_t hb_fail(struct hb *h, int16_t err, struct sp_str why)
{
    h->resp->ErrorCode = err;
    h->resp->ErrorMessage = why;
    return err;
}

static int16_t epoch_check(struct hb *h, const struct cg_member *m)
{
    int32_t e = h->req->MemberEpoch;
    if (e > m->epoch) {
        return hb_fail(h, KERR_FENCED_MEMBER_EPOCH,
                       msg(h->a,
                           "The consumer group member has a greater member epoch (%d) than the "
                           "one known by the group coordinator (%d). The member must abandon all "
                           "its partitions and rejoin.",
                           e, m->epoch));
    }
    if (e < m->epoch) {
        bool subset = h->owned_known;
        for (uint32_t i = 0; subset && i < h->owned.n; i++) {
            subset = sp_assign_set_has(&m->assigned, h->owned.v[i].id, h->owned.v[i].p);
        }
        if (e != m->prev_epoch || !subset) {
            return hb_fail(h, KERR_FENCED_MEMBER_EPOCH,
                           msg(h->a,
                               "The consumer group member has a smaller member epoch (%d) than "
                               "the one known by the group coordinator (%d). The member must "
                               "abandon all its partitions and rejoin.",
                               e, m->epoch));
        }
    }
    return 0;
}

static int16_t group_full(struct hb *h, const struct sp_group_consumer *cg)
{
    int64_t max = sp_config_int(cfg(), SP_CFG_GROUP_CONSUMER_MAX_SIZE);
    if ((int64_t)cg->members_n >= max) {
        return hb_fail(h, KERR_GROUP_MAX_SIZE_REACHED,
                       msg(h->a,
                           "The consumer group has reached its maximum capacity of %lld members.",
                           (long long)max));
    }
    return 0;
}

static bool str_set(char **field, struct sp_str v, size_t max)
{
    if (v.ptr == NULL || str_is(*field, v)) {
        return false;
    }
    size_t n = (size_t)v.len < max ? (size_t)v.len : max;
    char *s = dup_str(v.ptr, n);
    if (s == NULL) {
        return false;
    }
    free(*field);
    *field = s;
    return true;
}

static struct cg_member *member_join(struct hb *h, struct sp_group_consumer *cg)
{
    char gen[23];
    const char *id = h->req->MemberId.ptr;
    size_t len = (size_t)h->req->MemberId.len;
    if (id == NULL || len == 0) {
        member_id_new(gen);
        id = gen;
        len = 22;
    }
    struct cg_member *m = member_new(cg, id, len);
    if (m == NULL) {
        hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE, msg(h->a, "Out of memory."));
    }
    return m;
}

/*
 * Finds (or, joining, creates) the member a heartbeat is from. Returns it,
 * or NULL with the error in the response. *replaced: the static member a
 * rejoin replaces (to remove once the new one is in).
 */
static struct cg_member *member_resolve(struct hb *h, struct sp_group_consumer *cg,
                                        struct cg_member **replaced, bool *created)
{
    const struct kproto_consumer_group_heartbeat_request *req = h->req;
    *replaced = NULL;
    *created = false;
    if (req->InstanceId.ptr == NULL) {
        struct cg_member *m = member_find(cg, req->MemberId);
        if (m == NULL && req->MemberEpoch != 0) {
            hb_fail(h, KERR_UNKNOWN_MEMBER_ID,
                    msg(h->a, "Member %s is not a member of group %s.", pr(h->a, req->MemberId),
                        cg->g->id));
            return NULL;
        }
        if (m != NULL) {
            return req->MemberEpoch != 0 && epoch_check(h, m) != 0 ? NULL : m;
        }
        if (group_full(h, cg) != 0) {
            return NULL;
        }
        *created = true;
        return member_join(h, cg);
    }
    struct cg_member *s = member_find_static(cg, req->InstanceId);
    if (req->MemberEpoch == 0) {
        if (s == NULL) {
            struct cg_member *m = member_find(cg, req->MemberId);
            if (m != NULL) {
                return m;
            }
            if (group_full(h, cg) != 0) {
                return NULL;
            }
            *created = true;
            return member_join(h, cg);
        }
        if (s->epoch != CG_EPOCH_LEAVE_STATIC) {
            hb_fail(h, KERR_UNRELEASED_INSTANCE_ID,
                    msg(h->a, "Static member with instance id %s is not released yet.",
                        pr(h->a, req->InstanceId)));
            return NULL;
        }
        struct cg_member *m = member_join(h, cg);
        if (m == NULL) {
            return NULL;
        }
        /* The new incarnation takes over what the old one had, target included, so
         * no rebalance happens. */
        if (sp_assign_set_copy(&s->assigned, &m->assigned) < 0 ||
            sp_assign_set_copy(&s->target, &m->target) < 0) {
            member_unlink(cg, m);
            member_free(m);
            hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE, msg(h->a, "Out of memory."));
            return NULL;
        }
        /* Its subscription too: the rejoin changes the group only if it says otherwise. */
        struct sp_str *names = calloc((size_t)s->topics_n + 1, sizeof(*names));
        bool ok = names != NULL;
        for (uint32_t i = 0; ok && i < s->topics_n; i++) {
            names[i] = str_of(s->topics[i]);
        }
        ok = ok && member_set_topics(m, names, (int32_t)s->topics_n) == 0 &&
             member_set_regex(m, str_of(s->regex)) == 0;
        free(names);
        if (ok && s->assignor != NULL) {
            ok = str_set(&m->assignor, str_of(s->assignor), 64);
        }
        if (!ok) {
            member_unlink(cg, m);
            member_free(m);
            hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE, msg(h->a, "Out of memory."));
            return NULL;
        }
        m->rebalance_timeout_ms = s->rebalance_timeout_ms;
        m->epoch = 0;
        m->prev_epoch = 0;
        *replaced = s;
        *created = true;
        return m;
    }
    if (s == NULL) {
        hb_fail(h, KERR_UNKNOWN_MEMBER_ID,
                msg(h->a, "Instance id %s is unknown.", pr(h->a, req->InstanceId)));
        return NULL;
    }
    if (!str_is(s->id, req->MemberId)) {
        hb_fail(h, KERR_FENCED_INSTANCE_ID,
                msg(h->a, "Static member %s with instance id %s is fenced by member %s.",
                    pr(h->a, req->MemberId), pr(h->a, req->InstanceId), s->id));
        return NULL;
    }
    return epoch_check(h, s) != 0 ? NULL : s;
}

/*
 * Applies what the heartbeat says about m (ids, timeouts, subscription).
 * *sub_changed: names or regex changed. Returns whether m's metadata record
 * must be written, or -1 with the error in the response.
 */
static int member_update(struct hb *h, struct cg_member *m, bool *sub_changed)
{
    const struct kproto_consumer_group_heartbeat_request *req = h->req;
    bool changed = false;
    *sub_changed = false;
    changed |= str_set(&m->instance_id, req->InstanceId, CG_ID_MAX);
    changed |= str_set(&m->rack_id, req->RackId, CG_ID_MAX);
    if (req->RebalanceTimeoutMs != -1 && req->RebalanceTimeoutMs != m->rebalance_timeout_ms) {
        m->rebalance_timeout_ms = req->RebalanceTimeoutMs;
        changed = true;
    }
    if (req->ServerAssignor.ptr != NULL && str_set(&m->assignor, req->ServerAssignor, 64)) {
        changed = true;
        *sub_changed = true;
    }
    struct sp_str cid = {h->client_id, (int32_t)h->client_id_len};
    changed |= str_set(&m->client_id, cid, CG_CLIENT_STR_MAX);
    changed |= str_set(&m->client_host, str_of(h->client_host), CG_CLIENT_STR_MAX);
    if (req->SubscribedTopicNames_count >= 0 &&
        !member_topics_same(m, req->SubscribedTopicNames, req->SubscribedTopicNames_count)) {
        if (member_set_topics(m, req->SubscribedTopicNames, req->SubscribedTopicNames_count) < 0) {
            hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE, msg(h->a, "Out of memory."));
            return -1;
        }
        changed = true;
        *sub_changed = true;
    }
    struct sp_str re = req->SubscribedTopicRegex;
    if (re.ptr != NULL && !(re.len == 0 ? m->regex == NULL : str_is(m->regex, re))) {
        int rc = member_set_regex(m, re);
        if (rc == -EINVAL) {
            hb_fail(h, KERR_INVALID_REGULAR_EXPRESSION,
                    msg(h->a, "SubscribedTopicRegex %s is not a valid regular expression.",
                        pr(h->a, re)));
            return -1;
        }
        if (rc < 0) {
            hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE, msg(h->a, "Out of memory."));
            return -1;
        }
        changed = true;
        *sub_changed = true;
    }
    return changed ? 1 : 0;
}

static int resp_assignment(struct hb *h, const struct cg_member *m)
{
    struct kproto_consumer_group_heartbeat_response_assignment *as =
        sp_arena_calloc(h->a, 1, sizeof(*as));
    const struct sp_assign_set *s = &m->assigned;
    if (as == NULL) {
        return -ENOMEM;
    }
    as->TopicPartitions =
        sp_arena_calloc(h->a, sp_assign_set_topics(s) + 1, sizeof(*as->TopicPartitions));
    if (as->TopicPartitions == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < s->n;) {
        uint32_t j = run_end(s, i);
        struct kproto_consumer_group_heartbeat_response_topic_partitions *tp =
            &as->TopicPartitions[as->TopicPartitions_count++];
        memcpy(tp->TopicId.b, s->v[i].id, 16);
        tp->Partitions = run_parts(h->a, s, i, j);
        tp->Partitions_count = (int32_t)(j - i);
        if (tp->Partitions == NULL) {
            return -ENOMEM;
        }
        i = j;
    }
    h->resp->Assignment = as;
    return 0;
}

/* A leave: -1 for good, -2 a static member that will be back. */
static int16_t hb_leave(struct hb *h, struct sp_group_consumer *cg, struct cg_recs *r)
{
    const struct kproto_consumer_group_heartbeat_request *req = h->req;
    struct cg_member *m;
    if (req->InstanceId.ptr == NULL) {
        m = member_find(cg, req->MemberId);
        if (m == NULL) {
            return hb_fail(h, KERR_UNKNOWN_MEMBER_ID,
                           msg(h->a, "Member %s is not a member of group %s.",
                               pr(h->a, req->MemberId), cg->g->id));
        }
    } else {
        m = member_find_static(cg, req->InstanceId);
        if (m == NULL) {
            return hb_fail(h, KERR_UNKNOWN_MEMBER_ID,
                           msg(h->a, "Instance id %s is unknown.", pr(h->a, req->InstanceId)));
        }
        if (!str_is(m->id, req->MemberId)) {
            return hb_fail(h, KERR_FENCED_INSTANCE_ID,
                           msg(h->a, "Static member %s with instance id %s is fenced by member %s.",
                               pr(h->a, req->MemberId), pr(h->a, req->InstanceId), m->id));
        }
    }
    h->resp->MemberId = msg(h->a, "%s", m->id);
    h->resp->MemberEpoch = req->MemberEpoch;
    if (req->MemberEpoch == CG_EPOCH_LEAVE_STATIC && m->instance_id != NULL) {
        /* It keeps its assignment for a session timeout, to come back to. */
        epoch_move(m, CG_EPOCH_LEAVE_STATIC);
        sp_assign_set_free(&m->pending);
        sp_rx_timer_cancel(&m->rebalance);
        rec_current(r, m, false);
        session_arm(m);
        return 0;
    }
    sp_log_info("group %s: member %s left", cg->g->id, m->id);
    if (member_remove(cg, m, r, true) < 0) {
        return hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE, msg(h->a, "Out of memory."));
    }
    return 0;
}

static int16_t hb_member(struct hb *h, struct sp_group_consumer *cg, struct cg_recs *r)
{
    struct cg_member *replaced;
    bool created;
    struct cg_member *m = member_resolve(h, cg, &replaced, &created);
    if (m == NULL) {
        return h->resp->ErrorCode;
    }
    bool sub_changed;
    int upd = member_update(h, m, &sub_changed);
    if (upd < 0) {
        if (created) {
            member_unlink(cg, m);
            member_free(m);
        }
        return h->resp->ErrorCode;
    }
    if (created) {
        sp_log_info("group %s: member %s joins", cg->g->id, m->id);
    }
    if (replaced != NULL) {
        /* The old incarnation goes without a rebalance; its subscription is the new one's
         * unless the rejoin said otherwise. */
        rec_current(r, replaced, true);
        rec_target_member(r, replaced, true);
        rec_member(r, replaced, true);
        member_unlink(cg, replaced);
        member_free(replaced);
        rec_target_member(r, m, false);
    }
    if (upd > 0 || created) {
        rec_member(r, m, false);
    }
    if (group_epoch_maybe_bump(cg, sub_changed, r) < 0) {
        return hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE, msg(h->a, "Out of memory."));
    }
    if (cg->group_epoch > cg->assignment_epoch) {
        int rc = target_compute(cg, r);
        if (rc < 0) {
            return hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE,
                           msg(h->a, "The target assignment could not be computed: %s.",
                               rc == -E2BIG ? "too many partitions" : "out of memory"));
        }
    }
    bool assigned_changed;
    int rc = reconcile(cg, m, &h->owned, h->owned_known, r, &assigned_changed);
    if (rc == 1) {
        return hb_fail(h, KERR_FENCED_MEMBER_EPOCH,
                       msg(h->a, "The consumer group member is in an unknown state. The member "
                                 "must abandon all its partitions and rejoin."));
    }
    if (rc < 0) {
        return hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE, msg(h->a, "Out of memory."));
    }
    session_arm(m);
    const struct kproto_consumer_group_heartbeat_request *req = h->req;
    h->resp->MemberId = msg(h->a, "%s", m->id);
    h->resp->MemberEpoch = m->epoch;
    bool full = req->MemberEpoch == 0 ||
                (req->RebalanceTimeoutMs != -1 && req->SubscribedTopicNames_count >= 0 &&
                 req->TopicPartitions_count >= 0);
    if ((full || assigned_changed) && resp_assignment(h, m) < 0) {
        return hb_fail(h, KERR_COORDINATOR_NOT_AVAILABLE, msg(h->a, "Out of memory."));
    }
    return 0;
}

static int hb_on_coordinator(struct sp_fwd *f)
{
    const struct kproto_consumer_group_heartbeat_request *req = f->call->body;
    struct kproto_consumer_group_heartbeat_response *resp = f->call->resp;
    const struct cg_hb_ctx *ctx = f->arg;
    struct hb h = {
        .req = req,
        .resp = resp,
        .a = f->arena,
        .client_host = ctx->client_host,
        .version = f->call->version,
    };
    const struct kproto_request_header *hdr = f->call->header;
    h.client_id = hdr != NULL && hdr->ClientId.ptr != NULL ? hdr->ClientId.ptr : "";
    h.client_id_len = hdr != NULL && hdr->ClientId.ptr != NULL ? (size_t)hdr->ClientId.len : 0;
    resp->HeartbeatIntervalMs =
        (int32_t)sp_config_int(cfg(), SP_CFG_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS);
    struct sp_group *g;
    int16_t err = sp_group_lookup(req->GroupId, req->MemberEpoch == 0, &g);
    if (err != 0) {
        resp->ErrorCode = err;
        resp->HeartbeatIntervalMs = 0;
        return 0;
    }
    if (g == NULL) {
        resp->ErrorCode = KERR_GROUP_ID_NOT_FOUND;
        resp->ErrorMessage =
            msg(f->arena, "Consumer group %s not found.", pr(f->arena, req->GroupId));
        resp->HeartbeatIntervalMs = 0;
        return 0;
    }
    if (req->TopicPartitions_count >= 0) {
        int rc = set_from(&h.owned, (uint32_t)req->TopicPartitions_count, req_tp_id, req_tp_parts,
                          req->TopicPartitions);
        if (rc < 0) {
            resp->ErrorCode = rc == -E2BIG ? KERR_INVALID_REQUEST : KERR_COORDINATOR_NOT_AVAILABLE;
            resp->HeartbeatIntervalMs = 0;
            return 0;
        }
        h.owned_known = true;
    }
    struct cg_recs r;
    recs_init(&r, f->arena, g);
    struct sp_str why = {NULL, 0};
    err = cg_attach(g, req->MemberEpoch == 0, &r, f->arena, &why);
    if (err != 0) {
        hb_fail(&h, err, why);
    } else if (req->MemberEpoch < 0) {
        err = hb_leave(&h, g->consumer, &r);
    } else {
        err = hb_member(&h, g->consumer, &r);
    }
    sp_assign_set_free(&h.owned);
    if (g->consumer != NULL) {
        group_state_update(g->consumer);
    }
    if (err == 0 && r.err != 0) {
        err = hb_fail(&h, KERR_COORDINATOR_NOT_AVAILABLE, msg(f->arena, "Out of memory."));
    }
    if (err != 0) {
        resp->HeartbeatIntervalMs = 0;
        resp->MemberEpoch = 0;
        resp->Assignment = NULL;
        resp->MemberId.ptr = NULL;
        resp->MemberId.len = 0;
    }
    /* Even an error waits for the records already taken into memory. */
    if (g->consumer == NULL || (r.n == 0 && g->consumer->writes_tail == NULL)) {
        return 0;
    }
    int16_t werr = write_records(g->consumer, &r, f);
    if (werr != 0) {
        resp->ErrorCode = werr;
        resp->Assignment = NULL;
        return 0;
    }
    return SP_API_PENDING;
}

/* Kafka's checks of a heartbeat that need no group (INVALID_REQUEST and friends). */
static int16_t hb_validate(struct sp_api_call *call, struct sp_str *why)
{
    const struct kproto_consumer_group_heartbeat_request *req = call->body;
    int32_t e = req->MemberEpoch;
    if ((call->version >= 1 || e > 0 || e == CG_EPOCH_LEAVE) && req->MemberId.len <= 0) {
        *why = msg(call->arena, "MemberId can't be empty.");
        return KERR_INVALID_REQUEST;
    }
    if (req->GroupId.ptr == NULL || req->GroupId.len == 0) {
        *why = msg(call->arena, "GroupId can't be empty.");
        return KERR_INVALID_REQUEST;
    }
    if (req->InstanceId.ptr != NULL && req->InstanceId.len == 0) {
        *why = msg(call->arena, "InstanceId can't be empty.");
        return KERR_INVALID_REQUEST;
    }
    if (req->RackId.ptr != NULL && req->RackId.len == 0) {
        *why = msg(call->arena, "RackId can't be empty.");
        return KERR_INVALID_REQUEST;
    }
    if (req->MemberId.len > CG_ID_MAX || req->InstanceId.len > CG_ID_MAX ||
        req->RackId.len > CG_ID_MAX) {
        *why =
            msg(call->arena, "MemberId, InstanceId and RackId are limited to %d bytes.", CG_ID_MAX);
        return KERR_INVALID_REQUEST;
    }
    if (e == 0) {
        if (req->RebalanceTimeoutMs == -1) {
            *why = msg(call->arena, "RebalanceTimeoutMs must be provided in first request.");
            return KERR_INVALID_REQUEST;
        }
        if (req->TopicPartitions_count != 0) {
            *why = msg(call->arena, "TopicPartitions must be empty when (re-)joining.");
            return KERR_INVALID_REQUEST;
        }
        if (req->SubscribedTopicNames_count < 0 && req->SubscribedTopicRegex.ptr == NULL) {
            *why = msg(call->arena, "Either SubscribedTopicNames or SubscribedTopicRegex must be "
                                    "non-null when (re-)joining.");
            return KERR_INVALID_REQUEST;
        }
    } else if (e == CG_EPOCH_LEAVE_STATIC) {
        if (req->InstanceId.ptr == NULL) {
            *why = msg(call->arena, "InstanceId can't be null.");
            return KERR_INVALID_REQUEST;
        }
    } else if (e < CG_EPOCH_LEAVE_STATIC) {
        *why = msg(call->arena, "MemberEpoch is invalid.");
        return KERR_INVALID_REQUEST;
    }
    if (req->SubscribedTopicNames_count > CG_SUB_TOPICS_MAX) {
        *why = msg(call->arena, "At most %d topics may be subscribed to.", CG_SUB_TOPICS_MAX);
        return KERR_INVALID_REQUEST;
    }
    if (req->ServerAssignor.ptr != NULL && !assignor_served(req->ServerAssignor)) {
        *why = msg(call->arena, "ServerAssignor %s is not supported. Supported assignors: %s.",
                   pr(call->arena, req->ServerAssignor),
                   sp_config_str(cfg(), SP_CFG_GROUP_CONSUMER_ASSIGNORS));
        return KERR_UNSUPPORTED_ASSIGNOR;
    }
    if (req->SubscribedTopicRegex.len > CG_REGEX_MAX) {
        *why = msg(call->arena, "SubscribedTopicRegex is longer than %d bytes.", CG_REGEX_MAX);
        return KERR_INVALID_REGULAR_EXPRESSION;
    }
    return 0;
}

int sp_api_consumer_group_heartbeat(struct sp_api_call *call)
{
    struct kproto_consumer_group_heartbeat_response *resp = call->resp;
    if (call->error != 0) {
        resp->ErrorCode = call->error;
        return 0;
    }
    if (!consumer_protocol_enabled()) {
        resp->ErrorCode = KERR_UNSUPPORTED_VERSION;
        resp->ErrorMessage = msg(call->arena, "The consumer group protocol is not enabled.");
        return 0;
    }
    const struct kproto_consumer_group_heartbeat_request *req = call->body;
    struct sp_str why = {NULL, 0};
    int16_t err = hb_validate(call, &why);
    if (err != 0) {
        resp->ErrorCode = err;
        resp->ErrorMessage = why;
        return 0;
    }
    uint16_t shard;
    int32_t part;
    err = sp_group_route(req->GroupId, &shard, &part);
    if (err != 0) {
        resp->ErrorCode = err;
        return 0;
    }
    struct cg_hb_ctx *ctx = sp_arena_calloc(call->arena, 1, sizeof(*ctx));
    if (ctx == NULL) {
        return -ENOMEM;
    }
    /* Kafka's form: "/" and the address, without the port. */
    const char *peer = sp_net_conn_peer(call->conn);
    snprintf(ctx->client_host, sizeof(ctx->client_host), "/%s", peer != NULL ? peer : "");
    char *colon = strrchr(ctx->client_host, ':');
    if (colon != NULL) {
        *colon = '\0';
    }
    return sp_api_forward(call, shard, hb_on_coordinator, NULL, ctx, 0);
}

/* ---- ConsumerGroupDescribe --------------------------------------------------------- */

struct describe_ctx {
    uint32_t pending;
    int rc;
};

static int describe_tps(struct sp_arena *a, const struct sp_assign_set *s,
                        struct kproto_consumer_group_describe_response_assignment *out)
{
    out->TopicPartitions_count = 0;
    out->TopicPartitions =
        sp_arena_calloc(a, sp_assign_set_topics(s) + 1, sizeof(*out->TopicPartitions));
    if (out->TopicPartitions == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < s->n;) {
        uint32_t j = run_end(s, i);
        const struct sp_topic *t = sp_image_topic_by_id(s->v[i].id);
        if (t != NULL) {
            struct kproto_consumer_group_describe_response_topic_partitions *tp =
                &out->TopicPartitions[out->TopicPartitions_count++];
            memcpy(tp->TopicId.b, s->v[i].id, 16);
            tp->TopicName = msg(a, "%s", t->name);
            tp->Partitions = run_parts(a, s, i, j);
            tp->Partitions_count = (int32_t)(j - i);
            if (tp->Partitions == NULL || tp->TopicName.ptr == NULL) {
                return -ENOMEM;
            }
        }
        i = j;
    }
    return 0;
}

static int describe_group(const struct sp_group_consumer *cg, struct sp_arena *a, bool ops,
                          struct kproto_consumer_group_describe_response_described_group *d)
{
    d->GroupState = str_of(sp_group_state_name(cg->g->state));
    d->GroupEpoch = cg->group_epoch;
    d->AssignmentEpoch = cg->assignment_epoch;
    d->AssignorName = str_of(sp_assignor_name(group_assignor(cg)));
    d->AuthorizedOperations = ops ? (1 << 3) | (1 << 6) | (1 << 8) : INT32_MIN;
    d->Members = sp_arena_calloc(a, cg->members_n + 1, sizeof(*d->Members));
    if (d->Members == NULL) {
        return -ENOMEM;
    }
    for (const struct cg_member *m = cg->members; m != NULL; m = m->next) {
        struct kproto_consumer_group_describe_response_member *dm = &d->Members[d->Members_count++];
        dm->MemberId = sp_str_dup(a, m->id);
        dm->InstanceId = sp_str_dup(a, m->instance_id);
        dm->RackId = sp_str_dup(a, m->rack_id);
        dm->MemberEpoch = m->epoch;
        dm->ClientId = sp_str_dup(a, m->client_id);
        dm->ClientHost = sp_str_dup(a, m->client_host);
        dm->SubscribedTopicNames = sp_arena_calloc(a, m->topics_n + 1, sizeof(struct sp_str));
        if (dm->SubscribedTopicNames == NULL) {
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < m->topics_n; i++) {
            dm->SubscribedTopicNames[i] = sp_str_dup(a, m->topics[i]);
        }
        dm->SubscribedTopicNames_count = (int32_t)m->topics_n;
        dm->SubscribedTopicRegex = sp_str_dup(a, m->regex);
        if (describe_tps(a, &m->assigned, &dm->Assignment) < 0 ||
            describe_tps(a, &m->target, &dm->TargetAssignment) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

static int describe_on_coordinator(struct sp_fwd *f)
{
    const struct kproto_consumer_group_describe_request *req = f->call->body;
    struct kproto_consumer_group_describe_response *resp = f->call->resp;
    struct kproto_consumer_group_describe_response_described_group *d = &resp->Groups[f->index];
    struct sp_str id = req->GroupIds[f->index];
    struct sp_group *g;
    int16_t err = sp_group_lookup(id, false, &g);
    if (err != 0) {
        d->ErrorCode = err;
        return 0;
    }
    if (g == NULL) {
        d->ErrorCode = KERR_GROUP_ID_NOT_FOUND;
        d->ErrorMessage = msg(f->arena, "Group %s not found.", pr(f->arena, id));
        return 0;
    }
    if (g->type != SP_GROUP_CONSUMER || g->consumer == NULL) {
        d->ErrorCode = KERR_GROUP_ID_NOT_FOUND;
        d->ErrorMessage = msg(f->arena, "Group %s is not a consumer group.", pr(f->arena, id));
        return 0;
    }
    if (describe_group(g->consumer, f->arena, req->IncludeAuthorizedOperations, d) < 0) {
        d->ErrorCode = KERR_COORDINATOR_NOT_AVAILABLE;
        d->Members_count = 0;
    }
    return 0;
}

static int describe_then(struct sp_fwd *f, int rc)
{
    struct describe_ctx *ctx = f->arg;
    if (rc < 0 && ctx->rc == 0) {
        ctx->rc = rc;
    }
    return --ctx->pending > 0 ? SP_API_PENDING : ctx->rc;
}

int sp_api_consumer_group_describe(struct sp_api_call *call)
{
    const struct kproto_consumer_group_describe_request *req = call->body;
    struct kproto_consumer_group_describe_response *resp = call->resp;
    if (req == NULL) {
        return 0;
    }
    int32_t n = req->GroupIds_count > 0 ? req->GroupIds_count : 0;
    resp->Groups = sp_arena_calloc(call->arena, (size_t)n + 1, sizeof(*resp->Groups));
    struct describe_ctx *ctx = sp_arena_calloc(call->arena, 1, sizeof(*ctx));
    if (resp->Groups == NULL || ctx == NULL) {
        return -ENOMEM;
    }
    resp->Groups_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kproto_consumer_group_describe_response_described_group *d = &resp->Groups[i];
        d->GroupId = req->GroupIds[i];
        d->GroupState = str_of("");
        d->AssignorName = str_of("");
        d->AuthorizedOperations = INT32_MIN;
        if (call->error != 0) {
            d->ErrorCode = call->error;
            continue;
        }
        if (req->GroupIds[i].ptr == NULL || req->GroupIds[i].len == 0) {
            d->ErrorCode = KERR_INVALID_GROUP_ID;
            continue;
        }
        uint16_t shard;
        int32_t part;
        int16_t err = sp_group_route(req->GroupIds[i], &shard, &part);
        if (err != 0) {
            d->ErrorCode = err;
            continue;
        }
        if (sp_api_forward(call, shard, describe_on_coordinator, describe_then, ctx, i) < 0) {
            d->ErrorCode = KERR_COORDINATOR_NOT_AVAILABLE;
            continue;
        }
        ctx->pending++;
    }
    return ctx->pending > 0 ? SP_API_PENDING : 0;
}

/* ---- Replay ---------------------------------------------------------------------- */

static struct cg_member *replay_member(struct sp_group_consumer *cg, struct sp_str id)
{
    struct cg_member *m = member_find(cg, id);
    if (m == NULL && id.ptr != NULL && id.len > 0 && id.len <= CG_ID_MAX) {
        m = member_new(cg, id.ptr, (size_t)id.len);
    }
    return m;
}

static void replay_member_metadata(struct sp_group_consumer *cg, struct sp_str id,
                                   const struct kproto_consumer_group_member_metadata_value *v)
{
    struct cg_member *m = v != NULL ? replay_member(cg, id) : member_find(cg, id);
    if (m == NULL) {
        return;
    }
    if (v == NULL) {
        member_unlink(cg, m);
        member_free(m);
        return;
    }
    free(m->instance_id);
    m->instance_id = NULL;
    free(m->rack_id);
    m->rack_id = NULL;
    free(m->assignor);
    m->assignor = NULL;
    str_set(&m->instance_id, v->InstanceId, CG_ID_MAX);
    str_set(&m->rack_id, v->RackId, CG_ID_MAX);
    str_set(&m->client_id, v->ClientId, CG_CLIENT_STR_MAX);
    str_set(&m->client_host, v->ClientHost, CG_CLIENT_STR_MAX);
    if (v->ServerAssignor.ptr != NULL && v->ServerAssignor.len > 0) {
        str_set(&m->assignor, v->ServerAssignor, 64);
    }
    m->rebalance_timeout_ms = v->RebalanceTimeoutMs;
    int32_t n = v->SubscribedTopicNames_count;
    if (n >= 0 && n <= CG_SUB_TOPICS_MAX) {
        member_set_topics(m, v->SubscribedTopicNames, n);
    }
    if (v->SubscribedTopicRegex.len <= CG_REGEX_MAX &&
        member_set_regex(m, v->SubscribedTopicRegex) < 0) {
        sp_log_warn("group %s: member %s: its stored regex does not compile", cg->g->id, m->id);
    }
}

static void replay_current(struct sp_group_consumer *cg, struct sp_str id,
                           const struct kproto_consumer_group_current_member_assignment_value *v)
{
    struct cg_member *m = v != NULL ? replay_member(cg, id) : member_find(cg, id);
    if (m == NULL) {
        return;
    }
    sp_assign_set_free(&m->assigned);
    sp_assign_set_free(&m->pending);
    if (v == NULL) {
        m->epoch = 0;
        m->prev_epoch = 0;
        m->state = CG_M_STABLE;
        return;
    }
    m->epoch = v->MemberEpoch;
    m->prev_epoch = v->PreviousMemberEpoch;
    m->state = v->State;
    if (v->AssignedPartitions_count > 0) {
        set_from(&m->assigned, (uint32_t)v->AssignedPartitions_count, cur_tp_id, cur_tp_parts,
                 v->AssignedPartitions);
    }
    if (v->PartitionsPendingRevocation_count > 0) {
        set_from(&m->pending, (uint32_t)v->PartitionsPendingRevocation_count, cur_tp_id,
                 cur_tp_parts, v->PartitionsPendingRevocation);
    }
}

static void replay_target(struct sp_group_consumer *cg, struct sp_str id,
                          const struct kproto_consumer_group_target_assignment_member_value *v)
{
    struct cg_member *m = v != NULL ? replay_member(cg, id) : member_find(cg, id);
    if (m == NULL) {
        return;
    }
    sp_assign_set_free(&m->target);
    if (v != NULL && v->TopicPartitions_count > 0) {
        set_from(&m->target, (uint32_t)v->TopicPartitions_count, tgt_tp_id, tgt_tp_parts,
                 v->TopicPartitions);
    }
}

static void replay_meta(struct sp_group_consumer *cg,
                        const struct kproto_consumer_group_partition_metadata_value *v)
{
    meta_free(cg->meta, cg->meta_n);
    cg->meta = NULL;
    cg->meta_n = 0;
    cg->meta_image_offset = -1;
    if (v == NULL || v->Topics_count <= 0) {
        return;
    }
    cg->meta = calloc((size_t)v->Topics_count, sizeof(*cg->meta));
    if (cg->meta == NULL) {
        return;
    }
    for (int32_t i = 0; i < v->Topics_count; i++) {
        struct cg_topic *t = &cg->meta[cg->meta_n];
        t->name = dup_str(v->Topics[i].TopicName.ptr != NULL ? v->Topics[i].TopicName.ptr : "",
                          (size_t)v->Topics[i].TopicName.len);
        if (t->name == NULL) {
            break;
        }
        memcpy(t->id, v->Topics[i].TopicId.b, 16);
        t->partitions = v->Topics[i].NumPartitions;
        cg->meta_n++;
    }
    qsort(cg->meta, cg->meta_n, sizeof(*cg->meta), topic_name_cmp);
}

static void cg_destroy(struct sp_group *g, int16_t err);

void sp_group_consumer_replay(struct sp_group *g, int16_t key_version, const void *key,
                              const void *value)
{
    if (g->consumer == NULL) {
        if (value == NULL) {
            return;
        }
        if (cg_new(g) == NULL) {
            sp_log_error("group %s: out of memory replaying its records", g->id);
            return;
        }
    }
    struct sp_group_consumer *cg = g->consumer;
    switch (key_version) {
    case SP_GROUP_KEY_CG_METADATA:
        if (value == NULL) {
            /* The group was deleted. */
            cg_destroy(g, KERR_NOT_COORDINATOR);
            g->type = SP_GROUP_CLASSIC;
            return;
        }
        cg->group_epoch = ((const struct kproto_consumer_group_metadata_value *)value)->Epoch;
        break;
    case SP_GROUP_KEY_CG_PARTITION_METADATA:
        replay_meta(cg, value);
        break;
    case SP_GROUP_KEY_CG_MEMBER_METADATA:
        replay_member_metadata(
            cg, ((const struct kproto_consumer_group_member_metadata_key *)key)->MemberId, value);
        break;
    case SP_GROUP_KEY_CG_TARGET_METADATA:
        cg->assignment_epoch =
            value != NULL
                ? ((const struct kproto_consumer_group_target_assignment_metadata_value *)value)
                      ->AssignmentEpoch
                : 0;
        break;
    case SP_GROUP_KEY_CG_TARGET_MEMBER:
        replay_target(
            cg, ((const struct kproto_consumer_group_target_assignment_member_key *)key)->MemberId,
            value);
        break;
    case SP_GROUP_KEY_CG_CURRENT_ASSIGNMENT:
        replay_current(
            cg, ((const struct kproto_consumer_group_current_member_assignment_key *)key)->MemberId,
            value);
        break;
    default:
        break;
    }
}

void sp_group_consumer_loaded(struct sp_group *g)
{
    struct sp_group_consumer *cg = g->consumer;
    if (cg == NULL) {
        return;
    }
    g->type = SP_GROUP_CONSUMER;
    for (struct cg_member *m = cg->members; m != NULL; m = m->next) {
        session_arm(m);
        if (m->state == CG_M_UNREVOKED) {
            m->rebalance_epoch = m->epoch;
            int32_t ms = m->rebalance_timeout_ms > 0 ? m->rebalance_timeout_ms : 1;
            sp_rx_timer_start(&m->rebalance, (uint64_t)ms, rebalance_fire);
        }
    }
    group_state_update(cg);
}

static void cg_destroy(struct sp_group *g, int16_t err)
{
    struct sp_group_consumer *cg = g->consumer;
    if (cg == NULL) {
        return;
    }
    while (cg->members != NULL) {
        struct cg_member *m = cg->members;
        cg->members = m->next;
        member_free(m);
    }
    for (struct cg_write *cw = cg->writes; cw != NULL;) {
        struct cg_write *next = cw->next;
        for (struct cg_waiter *w = cw->waiters; w != NULL;) {
            struct cg_waiter *wn = w->next;
            waiter_answer(w->f, err != 0 ? err : KERR_NOT_COORDINATOR);
            w = wn;
        }
        cw->waiters = NULL;
        if (cw->done) {
            free(cw);
        } else {
            cw->cg = NULL; /* write_done frees it */
        }
        cw = next;
    }
    meta_free(cg->meta, cg->meta_n);
    free(cg);
    g->consumer = NULL;
}

void sp_group_consumer_free(struct sp_group *g, int16_t err)
{
    cg_destroy(g, err);
}

/* ---- What the other group modules ask ------------------------------------------- */

int16_t sp_group_consumer_commit_check(struct sp_group *g, struct sp_str member_id,
                                       int32_t member_epoch)
{
    struct sp_group_consumer *cg = g->consumer;
    if (cg == NULL || cg->members_n == 0) {
        return member_epoch < 0 ? 0 : KERR_UNKNOWN_MEMBER_ID;
    }
    const struct cg_member *m = member_find(cg, member_id);
    if (m == NULL) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    return member_epoch == m->epoch ? 0 : KERR_STALE_MEMBER_EPOCH;
}

bool sp_group_consumer_subscribed(const struct sp_group *g, struct sp_str topic)
{
    const struct sp_group_consumer *cg = g->consumer;
    if (cg == NULL || topic.ptr == NULL || topic.len <= 0 || topic.len > 249) {
        return false;
    }
    char name[256];
    memcpy(name, topic.ptr, (size_t)topic.len);
    name[topic.len] = '\0';
    const struct sp_topic *t = sp_image_topic(name, (size_t)topic.len);
    for (const struct cg_member *m = cg->members; m != NULL; m = m->next) {
        if (member_subscribes(m, name, t != NULL && t->internal)) {
            return true;
        }
    }
    return false;
}

uint32_t sp_group_consumer_members(const struct sp_group *g)
{
    return g->consumer != NULL ? g->consumer->members_n : 0;
}

/* A member's assignment as the classic protocol's ConsumerProtocolAssignment (v0). */
static struct sp_slice classic_assignment(struct sp_arena *a, const struct sp_assign_set *s)
{
    struct sp_slice out = {NULL, 0};
    struct kproto_consumer_protocol_assignment pa;
    kproto_consumer_protocol_assignment_init(&pa);
    pa.AssignedPartitions =
        sp_arena_calloc(a, sp_assign_set_topics(s) + 1, sizeof(*pa.AssignedPartitions));
    if (pa.AssignedPartitions == NULL) {
        return out;
    }
    for (uint32_t i = 0; i < s->n;) {
        uint32_t j = run_end(s, i);
        const struct sp_topic *t = sp_image_topic_by_id(s->v[i].id);
        if (t != NULL) {
            struct kproto_consumer_protocol_assignment_topic_partition *tp =
                &pa.AssignedPartitions[pa.AssignedPartitions_count++];
            tp->Topic = sp_str_dup(a, t->name);
            tp->Partitions = run_parts(a, s, i, j);
            tp->Partitions_count = (int32_t)(j - i);
        }
        i = j;
    }
    struct sp_wr wr;
    sp_wr_init(&wr, a, 64);
    sp_wr_i16(&wr, 0);
    kproto_consumer_protocol_assignment_encode(&wr, 0, &pa);
    if (wr.err == 0) {
        out.ptr = wr.buf;
        out.len = wr.len;
    }
    return out;
}

int sp_group_consumer_describe_classic(const struct sp_group *g, struct sp_arena *a,
                                       void *described)
{
    struct kproto_describe_groups_response_described_group *d = described;
    const struct sp_group_consumer *cg = g->consumer;
    d->GroupState = str_of(sp_group_state_name(g->state));
    d->ProtocolType = str_of("consumer");
    if (cg == NULL) {
        return 0;
    }
    d->ProtocolData = str_of(sp_assignor_name(group_assignor(cg)));
    d->Members = sp_arena_calloc(a, cg->members_n + 1, sizeof(*d->Members));
    if (d->Members == NULL) {
        return -ENOMEM;
    }
    d->Members_count = 0;
    for (const struct cg_member *m = cg->members; m != NULL; m = m->next) {
        struct kproto_describe_groups_response_described_group_member *dm =
            &d->Members[d->Members_count++];
        dm->MemberId = sp_str_dup(a, m->id);
        dm->GroupInstanceId = sp_str_dup(a, m->instance_id);
        dm->ClientId = sp_str_dup(a, m->client_id);
        dm->ClientHost = sp_str_dup(a, m->client_host);
        dm->MemberMetadata.ptr = (const uint8_t *)"";
        dm->MemberMetadata.len = 0;
        dm->MemberAssignment = classic_assignment(a, &m->assigned);
        if (dm->MemberId.ptr == NULL) {
            return -ENOMEM;
        }
    }
    return 0;
}
