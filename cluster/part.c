/*
 * cluster/part.c: the partitions a shard owns (cluster/part.h).
 *
 * The table is a hash of chains through sp_part.hnext, keyed by topic id
 * and index, holding one reference on each partition. Replays note the
 * partitions placed here (pending); sp_part_open_pending() opens them once
 * the whole delta is in the image, so the blocking opens never see a half
 * applied one.
 *
 * A deleted partition leaves the table at once; its log is closed from a
 * task once the last reference goes (never inside an I/O completion of
 * that log), its directory renamed to <dir>.<random>-delete and removed by
 * a background thread, so a large log never stalls the shard. A restart
 * removes what that thread did not finish (sp_part_cleanup_deleted).
 */

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cluster/image.h"
#include "cluster/part.h"
#include "cluster/group.h"
#include "core/log.h"
#include "core/rx.h"
#include "protocol/gen/kerr.h"

#define PART_BUCKETS_MIN   256
#define PART_DELETE_SUFFIX "-delete"
#define PART_NAME_MAX      255

/* What part.c keeps around a partition. */
struct ipart {
    struct sp_part p;
    struct sp_task close_task;
};

struct pending {
    uint8_t id[16];
    int32_t index;
};

static _Thread_local struct {
    struct sp_part **buckets;
    uint32_t nbuckets; /* a power of two */
    uint32_t count;
    struct pending *pend;
    size_t npend, cap;
    struct sp_storage *st;
    const char *log_dir;
} pt;

static uint32_t key_hash(const uint8_t id[16], int32_t index)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++) {
        h = (h ^ id[i]) * 16777619u;
    }
    return (h ^ (uint32_t)index) * 16777619u;
}

int sp_part_init(struct sp_storage *st, const char *log_dir)
{
    memset(&pt, 0, sizeof(pt));
    pt.buckets = calloc(PART_BUCKETS_MIN, sizeof(*pt.buckets));
    if (pt.buckets == NULL) {
        return -ENOMEM;
    }
    pt.nbuckets = PART_BUCKETS_MIN;
    pt.st = st;
    pt.log_dir = log_dir;
    return 0;
}

struct sp_part *sp_part_get(const uint8_t topic_id[16], int32_t index)
{
    if (pt.nbuckets == 0) {
        return NULL;
    }
    struct sp_part *p = pt.buckets[key_hash(topic_id, index) & (pt.nbuckets - 1)];
    while (p != NULL && (p->index != index || memcmp(p->topic_id, topic_id, 16) != 0)) {
        p = p->hnext;
    }
    return p;
}

int16_t sp_part_epoch_error(const struct sp_part *p, int32_t asked)
{
    if (asked < 0 || asked == p->leader_epoch) {
        return 0;
    }
    return asked > p->leader_epoch ? KERR_UNKNOWN_LEADER_EPOCH : KERR_FENCED_LEADER_EPOCH;
}

uint32_t sp_part_count(void)
{
    return pt.count;
}

static void table_insert(struct sp_part *p)
{
    struct sp_part **b = &pt.buckets[key_hash(p->topic_id, p->index) & (pt.nbuckets - 1)];
    p->hnext = *b;
    *b = p;
}

static void table_add(struct sp_part *p)
{
    if (pt.count >= pt.nbuckets) {
        uint32_t n = pt.nbuckets * 2;
        struct sp_part **nb = calloc(n, sizeof(*nb));
        if (nb != NULL) {
            struct sp_part **old = pt.buckets;
            uint32_t oldn = pt.nbuckets;
            pt.buckets = nb;
            pt.nbuckets = n;
            for (uint32_t i = 0; i < oldn; i++) {
                for (struct sp_part *q = old[i], *next; q != NULL; q = next) {
                    next = q->hnext;
                    table_insert(q);
                }
            }
            free(old);
        }
    }
    table_insert(p);
    pt.count++;
}

static void table_remove(struct sp_part *p)
{
    struct sp_part **pp = &pt.buckets[key_hash(p->topic_id, p->index) & (pt.nbuckets - 1)];
    while (*pp != p) {
        SP_ASSERT(*pp != NULL);
        pp = &(*pp)->hnext;
    }
    *pp = p->hnext;
    p->hnext = NULL;
    pt.count--;
}

/* ---- Removing directories in the background -------------------------------- */

/*
 * One thread for the whole process, started on first use: unlinking a
 * large segment can take a while on some file systems and must not hold a
 * shard. Paths are queued owned; the queue is unbounded only in the sense
 * that each entry is one deleted partition.
 */
struct rm_item {
    struct rm_item *next;
    char path[];
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct rm_item *head, *tail;
    bool started;
} rm = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, false};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT) {
        sp_log_warn("cannot remove %s: %s", path, strerror(errno));
    }
    return 0;
}

static void *rm_thread(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&rm.lock);
        while (rm.head == NULL) {
            pthread_cond_wait(&rm.cond, &rm.lock);
        }
        struct rm_item *it = rm.head;
        rm.head = it->next;
        if (rm.head == NULL) {
            rm.tail = NULL;
        }
        pthread_mutex_unlock(&rm.lock);
        (void)nftw(it->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        sp_log_debug("removed %s", it->path);
        free(it);
    }
    return NULL;
}

static void rm_queue(const char *path)
{
    size_t len = strlen(path);
    struct rm_item *it = malloc(sizeof(*it) + len + 1);
    if (it == NULL) {
        sp_log_warn("out of memory: %s is left for the next start to remove", path);
        return;
    }
    memcpy(it->path, path, len + 1);
    it->next = NULL;
    pthread_mutex_lock(&rm.lock);
    if (!rm.started) {
        pthread_t th;
        sigset_t all, old;
        sigfillset(&all);
        /* The thread must never take the stop signals main waits for. */
        pthread_sigmask(SIG_BLOCK, &all, &old);
        if (pthread_create(&th, NULL, rm_thread, NULL) == 0) {
            pthread_detach(th);
            rm.started = true;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (!rm.started) {
        pthread_mutex_unlock(&rm.lock);
        sp_log_warn("no remover thread: %s is left for the next start to remove", path);
        free(it);
        return;
    }
    if (rm.tail != NULL) {
        rm.tail->next = it;
    } else {
        rm.head = it;
    }
    rm.tail = it;
    pthread_cond_signal(&rm.cond);
    pthread_mutex_unlock(&rm.lock);
}

/*
 * Renames dir to <dir>.<32 hex>-delete (the name cut to fit NAME_MAX) and
 * queues it for removal. A missing dir is no error.
 */
static void dir_retire(const char *dir)
{
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        memset(rnd, 0, sizeof(rnd));
        memcpy(rnd, &dir, sizeof(dir));
    }
    char hex[33];
    for (int i = 0; i < 16; i++) {
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    }
    const char *base = strrchr(dir, '/');
    size_t head = base != NULL ? (size_t)(base - dir) + 1 : 0;
    size_t base_len = strlen(dir) - head;
    size_t keep = PART_NAME_MAX - 1 - 32 - strlen(PART_DELETE_SUFFIX);
    char to[4096];
    int n = snprintf(to, sizeof(to), "%.*s%.*s.%s%s", (int)head, dir, (int)SP_MIN(base_len, keep),
                     dir + head, hex, PART_DELETE_SUFFIX);
    if (n < 0 || (size_t)n >= sizeof(to)) {
        return;
    }
    if (rename(dir, to) < 0) {
        if (errno != ENOENT) {
            sp_log_warn("cannot rename %s for deletion: %s", dir, strerror(errno));
        }
        return;
    }
    rm_queue(to);
}

void sp_part_cleanup_deleted(const char *log_dir)
{
    DIR *d = opendir(log_dir);
    if (d == NULL) {
        return;
    }
    size_t slen = strlen(PART_DELETE_SUFFIX);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len > slen && strcmp(e->d_name + len - slen, PART_DELETE_SUFFIX) == 0) {
            char path[4096];
            int n = snprintf(path, sizeof(path), "%s/%s", log_dir, e->d_name);
            if (n > 0 && (size_t)n < sizeof(path)) {
                sp_log_info("removing %s, left by a deletion before the last stop", path);
                rm_queue(path);
            }
        }
    }
    closedir(d);
}

/* ---- Opening and closing ---------------------------------------------------- */

static void part_free(struct ipart *ip)
{
    free(ip->p.dir);
    free((char *)ip->p.name);
    free(ip);
}

static void part_on_hw(void *ctx, struct sp_plog *log, int64_t hw)
{
    (void)log;
    sp_fetch_on_hw(ctx, hw);
}

/* The log settings of p's topic config, over the broker's defaults. */
static void part_plog_options(const struct sp_part *p, struct sp_plog_options *o)
{
    sp_plog_options_init(o, sp_image_broker_config());
    sp_topic_cfg_plog_options(&p->cfg, o);
}

static int part_open_log(struct sp_part *p)
{
    struct sp_plog_open_params op = {.dir = p->dir, .on_hw = part_on_hw, .on_hw_ctx = p};
    memcpy(op.topic_id, p->topic_id, 16);
    part_plog_options(p, &op.opts);
    int rc = sp_plog_open(pt.st, &op, &p->log);
    if (rc == -ESTALE) {
        /* A deleted topic of the same name left its directory (a stop came first). */
        sp_log_info("%s holds an older topic of the same name: retiring it", p->dir);
        dir_retire(p->dir);
        rc = sp_plog_open(pt.st, &op, &p->log);
    }
    if (rc < 0) {
        p->log = NULL;
        sp_log_error("%s: cannot open the log: %s", p->dir, strerror(-rc));
        return rc;
    }
    sp_plog_set_leader_epoch(p->log, p->leader_epoch);
    return 0;
}

static void part_open(const struct sp_topic *t, int32_t index)
{
    struct ipart *ip = calloc(1, sizeof(*ip));
    char *dir = NULL;
    char *name = strdup(t->name);
    if (ip == NULL || name == NULL || asprintf(&dir, "%s/%s-%d", pt.log_dir, t->name, index) < 0) {
        free(ip);
        free(name);
        sp_log_error("out of memory opening %s-%d", t->name, index);
        return;
    }
    struct sp_part *p = &ip->p;
    memcpy(p->topic_id, t->id, 16);
    p->index = index;
    p->dir = dir;
    p->name = name;
    p->leader_epoch = t->part[index].leader_epoch;
    p->cfg = t->cfg;
    p->refs = 1; /* the table's */
    if (part_open_log(p) == 0) {
        int rc = sp_pstate_open(p);
        if (rc < 0) {
            sp_log_warn("%s: producer state not rebuilt: %s", p->dir, strerror(-rc));
        }
    }
    table_add(p);
    if (p->log != NULL && strcmp(name, SP_GROUP_TOPIC) == 0) {
        sp_group_part_open(p);
    }
}

void sp_part_open_pending(void)
{
    uint32_t me = (uint32_t)sp_rx_shard_id();
    for (size_t i = 0; i < pt.npend; i++) {
        const struct pending *pe = &pt.pend[i];
        /* Deleted again later in the same replay: nothing to open. */
        const struct sp_topic *t = sp_image_topic_by_id(pe->id);
        if (t == NULL || pe->index >= t->partitions || t->part[pe->index].shard != me ||
            sp_part_get(pe->id, pe->index) != NULL) {
            continue;
        }
        part_open(t, pe->index);
    }
    free(pt.pend);
    pt.pend = NULL;
    pt.npend = pt.cap = 0;
}

static void part_close_task(struct sp_task *task)
{
    struct ipart *ip = sp_container_of(task, struct ipart, close_task);
    struct sp_part *p = &ip->p;
    if (p->log != NULL) {
        int rc = sp_plog_close(p->log);
        if (rc < 0 && !p->deleted) {
            sp_log_warn("%s: close: %s", p->dir, strerror(-rc));
        }
        p->log = NULL;
    }
    if (p->deleted) {
        dir_retire(p->dir);
        sp_log_debug("partition %s-%d deleted", p->name, p->index);
    }
    part_free(ip);
}

void sp_part_ref(struct sp_part *p)
{
    SP_ASSERT(p->refs > 0);
    p->refs++;
}

void sp_part_unref(struct sp_part *p)
{
    SP_ASSERT(p->refs > 0);
    if (--p->refs == 0) {
        SP_ASSERT(p->deleted);
        struct ipart *ip = sp_container_of(p, struct ipart, p);
        ip->close_task.fn = part_close_task;
        sp_rx_defer(&ip->close_task);
    }
}

static void part_drop(struct sp_part *p)
{
    table_remove(p);
    p->deleted = true;
    sp_fetch_part_closing(p);
    if (p->log != NULL) {
        if (strcmp(p->name, SP_GROUP_TOPIC) == 0) {
            sp_group_part_close(p);
        }
        sp_pstate_close(p, false);
    }
    sp_part_unref(p);
}

void sp_part_close_all(void)
{
    for (uint32_t b = 0; b < pt.nbuckets; b++) {
        for (struct sp_part *p = pt.buckets[b], *next; p != NULL; p = next) {
            next = p->hnext;
            if (p->refs != 1) {
                sp_log_warn("%s: closing with %u references held", p->dir, p->refs);
            }
            if (p->log != NULL) {
                if (strcmp(p->name, SP_GROUP_TOPIC) == 0) {
                    sp_group_part_close(p);
                }
                sp_pstate_close(p, true);
                int rc = sp_plog_close(p->log);
                if (rc < 0) {
                    sp_log_warn("%s: close: %s", p->dir, strerror(-rc));
                }
            }
            part_free(sp_container_of(p, struct ipart, p));
        }
    }
    free(pt.buckets);
    free(pt.pend);
    memset(&pt, 0, sizeof(pt));
}

/* ---- The image observer ----------------------------------------------------- */

static bool is_mine(const struct sp_topic *t, int32_t index)
{
    return t->part[index].shard == (uint32_t)sp_rx_shard_id();
}

static void obs_part_added(void *ctx, const struct sp_topic *t, int32_t index)
{
    (void)ctx;
    if (!is_mine(t, index)) {
        return;
    }
    if (pt.npend == pt.cap) {
        size_t cap = pt.cap ? pt.cap * 2 : 64;
        struct pending *np = realloc(pt.pend, cap * sizeof(*np));
        if (np == NULL) {
            sp_log_error("out of memory: partition %s-%d not opened", t->name, index);
            return;
        }
        pt.pend = np;
        pt.cap = cap;
    }
    memcpy(pt.pend[pt.npend].id, t->id, 16);
    pt.pend[pt.npend].index = index;
    pt.npend++;
}

static void obs_part_changed(void *ctx, const struct sp_topic *t, int32_t index)
{
    (void)ctx;
    struct sp_part *p = is_mine(t, index) ? sp_part_get(t->id, index) : NULL;
    if (p != NULL) {
        p->leader_epoch = t->part[index].leader_epoch;
        if (p->log != NULL) {
            sp_plog_set_leader_epoch(p->log, p->leader_epoch);
        }
    }
}

static void obs_topic_config(void *ctx, const struct sp_topic *t)
{
    (void)ctx;
    for (int32_t i = 0; i < t->partitions; i++) {
        struct sp_part *p = is_mine(t, i) ? sp_part_get(t->id, i) : NULL;
        if (p != NULL) {
            p->cfg = t->cfg;
            if (p->log != NULL) {
                struct sp_plog_options o;
                part_plog_options(p, &o);
                sp_plog_set_options(p->log, &o);
            }
        }
    }
}

static void obs_topic_removing(void *ctx, const struct sp_topic *t)
{
    (void)ctx;
    for (int32_t i = 0; i < t->partitions; i++) {
        struct sp_part *p = is_mine(t, i) ? sp_part_get(t->id, i) : NULL;
        if (p != NULL) {
            part_drop(p);
        }
    }
}

static const struct sp_image_observer part_observer = {
    .part_added = obs_part_added,
    .part_changed = obs_part_changed,
    .topic_config = obs_topic_config,
    .topic_removing = obs_topic_removing,
};

const struct sp_image_observer *sp_part_observer(void)
{
    return &part_observer;
}
