/*
 * tests/cluster/test_metalog.c: the metadata log on the real disk.
 *
 * Records are appended on a one-shard reactor (as the controller does on
 * shard 0) and loaded back on the main thread, field by field; the epoch
 * goes up on every open; a snapshot taken past the threshold plus the log
 * after it loads to the same state as the whole history; a torn tail loads
 * the prefix before it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/metalog.h"
#include "core/rx.h"
#include "storage/log.h"
#include "tests/check.h"

#define T_TOPIC     2
#define T_PARTITION 3
#define T_CONFIG    4
#define T_REMOVE    9
#define T_PIDS      15

static char root[512];

static void mkroot(void)
{
    const char *base = getenv("SPINDLE_TEST_DIR");
    if (base == NULL || base[0] == 0) {
        base = ".";
    }
    snprintf(root, sizeof(root), "%s/metalog-XXXXXX", base);
    REQUIRE(mkdtemp(root) != NULL);
}

static void rmroot(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", root);
    }
}

static void sub(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", root, name);
}

static struct sp_uuid uuid_of(int i)
{
    struct sp_uuid u;
    for (int k = 0; k < 16; k++) {
        u.b[k] = (uint8_t)(i * 31 + k + 1);
    }
    return u;
}

/* ---- What a load hands over, copied ------------------------------------ */

struct got {
    int64_t offset;
    int16_t type;
    int16_t version;
    char s1[64], s2[64], s3[64]; /* names, values */
    struct sp_uuid id;
    int32_t i1, i2, i3, i4; /* partition, leader, epochs; broker id */
    int64_t l1, l2;         /* broker epoch, next producer id */
    int32_t reps[8], nreps, isr[8], nisr;
    int8_t b1;
};

#define GOT_MAX 4096
static struct got got[GOT_MAX];
static int ngot;

static void str_copy(char *dst, struct sp_str s)
{
    snprintf(dst, 64, "%.*s", s.ptr ? (int)s.len : 6, s.ptr ? s.ptr : "(null)");
}

static int collect(void *ctx, int64_t offset, const struct sp_metalog_record *r)
{
    (void)ctx;
    REQUIRE(ngot < GOT_MAX);
    struct got *g = &got[ngot++];
    memset(g, 0, sizeof(*g));
    g->offset = offset;
    g->type = r->type;
    g->version = r->version;
    if (r->type == T_TOPIC) {
        const struct kproto_topic_record *m = r->msg;
        str_copy(g->s1, m->Name);
        g->id = m->TopicId;
    } else if (r->type == T_PARTITION) {
        const struct kproto_partition_record *m = r->msg;
        g->i1 = m->PartitionId;
        g->id = m->TopicId;
        g->i2 = m->Leader;
        g->i3 = m->LeaderEpoch;
        g->i4 = m->PartitionEpoch;
        g->nreps = m->Replicas_count;
        g->nisr = m->Isr_count;
        for (int i = 0; i < m->Replicas_count && i < 8; i++) {
            g->reps[i] = m->Replicas[i];
        }
        for (int i = 0; i < m->Isr_count && i < 8; i++) {
            g->isr[i] = m->Isr[i];
        }
    } else if (r->type == T_CONFIG) {
        const struct kproto_config_record *m = r->msg;
        g->b1 = m->ResourceType;
        str_copy(g->s1, m->ResourceName);
        str_copy(g->s2, m->Name);
        str_copy(g->s3, m->Value);
    } else if (r->type == T_REMOVE) {
        const struct kproto_remove_topic_record *m = r->msg;
        g->id = m->TopicId;
    } else if (r->type == T_PIDS) {
        const struct kproto_producer_ids_record *m = r->msg;
        g->i4 = m->BrokerId;
        g->l1 = m->BrokerEpoch;
        g->l2 = m->NextProducerId;
    }
    return 0;
}

static int load(const char *log_dir, int64_t *end, int32_t *epoch)
{
    ngot = 0;
    return sp_metalog_load(log_dir, NULL, collect, NULL, end, epoch);
}

/* ---- A one-shard reactor that runs a scenario -------------------------- */

static char shard_dir[600];
static struct sp_storage *st;
static struct sp_metalog *ml;
static int (*scenario)(int phase);
static int phase;
static struct sp_task tick_task;

static void tick(struct sp_task *t)
{
    sp_storage_tick(st);
    phase = scenario(phase);
    if (phase < 0) {
        sp_metalog_close(ml);
        sp_storage_destroy(st);
        ml = NULL;
        st = NULL;
        sp_rx_stop();
        return;
    }
    sp_rx_defer(t);
}

static int shard_init(void *ctx)
{
    (void)ctx;
    struct sp_storage_params p;
    sp_storage_params_init(&p, NULL);
    p.io = sp_rx_io();
    REQUIRE(sp_storage_create(&st, &p) == 0);
    REQUIRE(sp_metalog_open(st, shard_dir, &ml) == 0);
    phase = 0;
    tick_task.fn = tick;
    sp_rx_defer(&tick_task);
    return 0;
}

static void run_shard(const char *log_dir, int (*fn)(int))
{
    snprintf(shard_dir, sizeof(shard_dir), "%s", log_dir);
    scenario = fn;
    struct sp_rx_params p = {.shards = 1, .no_pin = true};
    struct sp_rx_hooks h = {.init = shard_init};
    int rc = sp_rx_start(&p, &h);
    if (rc < 0) {
        SKIP("no reactor (io_uring unavailable?)");
    }
    CHECK_EQ_INT(sp_rx_join(), 0);
}

/* Appends that the scenario waits for. */
struct t_append {
    struct sp_metalog_append a;
    int seq;
    int res;
};

static int done_count;
static int done_order[256];

static void t_append_done(struct sp_metalog_append *a, int res)
{
    struct t_append *t = sp_container_of(a, struct t_append, a);
    t->res = res;
    REQUIRE(done_count < 256);
    done_order[done_count++] = t->seq;
}

static struct t_append appends[256];
static int nappends;

static void append(const struct sp_metalog_record *r, size_t n)
{
    REQUIRE(nappends < 256);
    struct t_append *t = &appends[nappends];
    memset(t, 0, sizeof(*t));
    t->a.done = t_append_done;
    t->seq = nappends++;
    t->res = 1;
    REQUIRE(sp_metalog_append(ml, &t->a, r, n) == 0);
}

/* ---- Round trip ---------------------------------------------------------- */

static int32_t reps[] = {1};
static struct kproto_topic_record topic;
static struct kproto_partition_record parts[2];
static struct kproto_config_record config;
static struct kproto_producer_ids_record pids;
static struct kproto_remove_topic_record remove_topic;
static int32_t epoch_seen;

static void records_init(void)
{
    kproto_topic_record_init(&topic);
    topic.Name = sp_str_make("orders");
    topic.TopicId = uuid_of(7);
    for (int i = 0; i < 2; i++) {
        kproto_partition_record_init(&parts[i]);
        parts[i].PartitionId = i;
        parts[i].TopicId = topic.TopicId;
        parts[i].Replicas = reps;
        parts[i].Replicas_count = 1;
        parts[i].Isr = reps;
        parts[i].Isr_count = 1;
        parts[i].Leader = 1;
        parts[i].LeaderEpoch = 3 + i;
        parts[i].PartitionEpoch = 5 + i;
    }
    kproto_config_record_init(&config);
    config.ResourceType = 2;
    config.ResourceName = sp_str_make("orders");
    config.Name = sp_str_make("retention.ms");
    config.Value = sp_str_make("60000");
    kproto_producer_ids_record_init(&pids);
    pids.BrokerId = 1;
    pids.BrokerEpoch = 9;
    pids.NextProducerId = 1000;
    kproto_remove_topic_record_init(&remove_topic);
    remove_topic.TopicId = topic.TopicId;
}

static int scenario_roundtrip(int ph)
{
    if (ph == 0) {
        epoch_seen = sp_metalog_epoch(ml);
        struct sp_metalog_record b1[] = {
            {T_TOPIC, 0, &topic},
            {T_PARTITION, 0, &parts[0]},
            {T_PARTITION, 0, &parts[1]},
            {T_CONFIG, 0, &config},
        };
        append(b1, 4);
        struct sp_metalog_record b2[] = {{T_PIDS, 0, &pids}};
        append(b2, 1);
        struct sp_metalog_record b3[] = {{T_REMOVE, 0, &remove_topic}};
        append(b3, 1);
        /* Bad input is refused, and appends nothing. */
        struct t_append bad = {.a = {.done = t_append_done}};
        struct sp_metalog_record unknown[] = {{127, 0, &topic}};
        CHECK_EQ_INT(sp_metalog_append(ml, &bad.a, unknown, 1), -EINVAL);
        struct sp_metalog_record badver[] = {{T_TOPIC, 9, &topic}};
        CHECK_EQ_INT(sp_metalog_append(ml, &bad.a, badver, 1), -EINVAL);
        CHECK_EQ_INT(sp_metalog_append(ml, &bad.a, badver, 0), -EINVAL);
        return 1;
    }
    if (done_count < nappends) {
        return 1;
    }
    return -1;
}

static void check_roundtrip_records(int from)
{
    const struct got *g = &got[from];
    CHECK_EQ_INT(g[0].type, T_TOPIC);
    CHECK_EQ_STR(g[0].s1, "orders");
    CHECK(memcmp(&g[0].id, &topic.TopicId, 16) == 0);
    for (int i = 0; i < 2; i++) {
        const struct got *p = &g[1 + i];
        CHECK_EQ_INT(p->type, T_PARTITION);
        CHECK_EQ_INT(p->version, 0);
        CHECK_EQ_INT(p->i1, i);
        CHECK(memcmp(&p->id, &topic.TopicId, 16) == 0);
        CHECK_EQ_INT(p->i2, 1);
        CHECK_EQ_INT(p->i3, 3 + i);
        CHECK_EQ_INT(p->i4, 5 + i);
        CHECK_EQ_INT(p->nreps, 1);
        CHECK_EQ_INT(p->reps[0], 1);
        CHECK_EQ_INT(p->nisr, 1);
        CHECK_EQ_INT(p->isr[0], 1);
    }
    CHECK_EQ_INT(g[3].type, T_CONFIG);
    CHECK_EQ_INT(g[3].b1, 2);
    CHECK_EQ_STR(g[3].s1, "orders");
    CHECK_EQ_STR(g[3].s2, "retention.ms");
    CHECK_EQ_STR(g[3].s3, "60000");
    CHECK_EQ_INT(g[4].type, T_PIDS);
    CHECK_EQ_INT(g[4].i4, 1);
    CHECK_EQ_INT(g[4].l1, 9);
    CHECK_EQ_INT(g[4].l2, 1000);
    CHECK_EQ_INT(g[5].type, T_REMOVE);
    CHECK(memcmp(&g[5].id, &topic.TopicId, 16) == 0);
}

static int scenario_one_more(int ph)
{
    if (ph == 0) {
        epoch_seen = sp_metalog_epoch(ml);
        struct sp_metalog_record r[] = {{T_PIDS, 0, &pids}};
        append(r, 1);
        return 1;
    }
    return done_count < nappends ? 1 : -1;
}

static void reset_appends(void)
{
    nappends = 0;
    done_count = 0;
}

static void test_empty(void)
{
    char dir[600];
    sub(dir, sizeof(dir), "empty");
    int64_t end = -1;
    int32_t epoch = -1;
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK_EQ_INT(end, 0);
    CHECK_EQ_INT(epoch, 0);
    CHECK_EQ_INT(ngot, 0);
    char mdir[700];
    snprintf(mdir, sizeof(mdir), "%s/%s", dir, SP_METALOG_DIR);
    struct stat sb;
    CHECK(stat(mdir, &sb) == 0 && S_ISDIR(sb.st_mode));
    /* Loading it again is the same. */
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK_EQ_INT(end, 0);
}

static void test_roundtrip_and_epochs(void)
{
    char dir[600];
    sub(dir, sizeof(dir), "roundtrip");
    records_init();
    reset_appends();
    run_shard(dir, scenario_roundtrip);
    CHECK_EQ_INT(epoch_seen, 1);
    CHECK_EQ_INT(done_count, 3);
    for (int i = 0; i < done_count; i++) {
        CHECK_EQ_INT(done_order[i], i); /* done in order */
        CHECK_EQ_INT(appends[i].res, 0);
    }
    /* Offset 0 is the LeaderChange; the batches follow it. */
    CHECK_EQ_INT(appends[0].a.base_offset, 1);
    CHECK_EQ_INT(appends[1].a.base_offset, 5);
    CHECK_EQ_INT(appends[2].a.base_offset, 6);

    int64_t end = 0;
    int32_t epoch = 0;
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK_EQ_INT(end, 7);
    CHECK_EQ_INT(epoch, 1);
    REQUIRE(ngot == 6);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(got[i].offset, 1 + i);
    }
    check_roundtrip_records(0);

    /* Each open is a new epoch; the records stay. */
    reset_appends();
    run_shard(dir, scenario_one_more);
    CHECK_EQ_INT(epoch_seen, 2);
    CHECK_EQ_INT(appends[0].a.base_offset, 8); /* after the second LeaderChange at 7 */
    reset_appends();
    run_shard(dir, scenario_one_more);
    CHECK_EQ_INT(epoch_seen, 3);
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK_EQ_INT(epoch, 3);
    CHECK_EQ_INT(end, 11);
    REQUIRE(ngot == 8);
    check_roundtrip_records(0);
    CHECK_EQ_INT(got[6].type, T_PIDS);
    CHECK_EQ_INT(got[6].offset, 8);
    CHECK_EQ_INT(got[7].offset, 10);
}

/* ---- Snapshots ------------------------------------------------------------ */

#define NTOPICS 200

/* The controller's state: which topics exist, the last producer id block. */
struct model {
    bool alive[NTOPICS];
    int64_t next_pid;
};

static struct model model;
static char topic_names[NTOPICS][16];
static struct kproto_topic_record topic_recs[NTOPICS];
static struct kproto_remove_topic_record remove_recs[NTOPICS];
static struct kproto_producer_ids_record pid_recs[NTOPICS];
static int next_topic, idle_ticks, snapshots_seen;
static int64_t last_snap;
static int batches_left;

static void emit_state(void *ctx, struct sp_metalog *m, sp_metalog_emit_fn emit)
{
    (void)ctx;
    for (int i = 0; i < NTOPICS; i++) {
        if (model.alive[i]) {
            struct sp_metalog_record r = {T_TOPIC, 0, &topic_recs[i]};
            emit(m, &r);
        }
    }
    if (model.next_pid > 0) {
        static struct kproto_producer_ids_record p;
        kproto_producer_ids_record_init(&p);
        p.BrokerId = 1;
        p.NextProducerId = model.next_pid;
        struct sp_metalog_record r = {T_PIDS, 0, &p};
        emit(m, &r);
    }
}

/* One batch: five new topics, and every third batch removes one and takes an id block. */
static void append_round(void)
{
    struct sp_metalog_record r[8];
    size_t n = 0;
    for (int k = 0; k < 5 && next_topic < NTOPICS; k++) {
        int i = next_topic++;
        r[n++] = (struct sp_metalog_record){T_TOPIC, 0, &topic_recs[i]};
        model.alive[i] = true;
    }
    int round = next_topic / 5;
    if (round % 3 == 0) {
        int victim = next_topic - 7;
        if (victim >= 0 && model.alive[victim]) {
            r[n++] = (struct sp_metalog_record){T_REMOVE, 0, &remove_recs[victim]};
            model.alive[victim] = false;
        }
        kproto_producer_ids_record_init(&pid_recs[round]);
        pid_recs[round].BrokerId = 1;
        pid_recs[round].NextProducerId = 1000 * round;
        r[n++] = (struct sp_metalog_record){T_PIDS, 0, &pid_recs[round]};
        model.next_pid = 1000 * round;
    }
    append(r, n);
}

static int scenario_snapshots(int ph)
{
    if (ph == 0) {
        idle_ticks = 0;
        sp_metalog_set_snapshot_source(ml, emit_state, NULL);
        sp_metalog_set_snapshot_threshold(ml, 30);
        append_round();
        batches_left--;
        return 1;
    }
    if (done_count < nappends) {
        idle_ticks = 0;
        return 1;
    }
    /* Two quiet ticks let a due snapshot run before the next append. */
    if (++idle_ticks < 3) {
        return 1;
    }
    if (sp_metalog_snapshot_offset(ml) != last_snap) {
        CHECK(sp_metalog_snapshot_offset(ml) > last_snap);
        last_snap = sp_metalog_snapshot_offset(ml);
        snapshots_seen++;
    }
    if (batches_left == 0) {
        CHECK_EQ_INT(sp_metalog_snapshot_offset(ml), last_snap);
        return -1;
    }
    idle_ticks = 0;
    append_round();
    batches_left--;
    return 1;
}

static int count_checkpoints(const char *log_dir, char *name, size_t len)
{
    char mdir[700];
    snprintf(mdir, sizeof(mdir), "%s/%s", log_dir, SP_METALOG_DIR);
    DIR *d = opendir(mdir);
    REQUIRE(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 11 && strcmp(e->d_name + l - 11, ".checkpoint") == 0) {
            n++;
            snprintf(name, len, "%s", e->d_name);
        }
        CHECK(strstr(e->d_name, ".part") == NULL);
    }
    closedir(d);
    return n;
}

/* Applies what a load handed over to a fresh model. */
static void model_from_load(struct model *m)
{
    memset(m, 0, sizeof(*m));
    for (int g = 0; g < ngot; g++) {
        if (got[g].type == T_TOPIC) {
            int i = atoi(got[g].s1 + 1);
            REQUIRE(i >= 0 && i < NTOPICS);
            CHECK(memcmp(&got[g].id, &topic_recs[i].TopicId, 16) == 0);
            m->alive[i] = true;
        } else if (got[g].type == T_REMOVE) {
            for (int i = 0; i < NTOPICS; i++) {
                if (memcmp(&got[g].id, &topic_recs[i].TopicId, 16) == 0) {
                    m->alive[i] = false;
                }
            }
        } else if (got[g].type == T_PIDS) {
            m->next_pid = got[g].l2;
        }
    }
}

static void test_snapshots(void)
{
    char dir[600];
    sub(dir, sizeof(dir), "snapshots");
    memset(&model, 0, sizeof(model));
    for (int i = 0; i < NTOPICS; i++) {
        snprintf(topic_names[i], sizeof(topic_names[i]), "t%03d", i);
        kproto_topic_record_init(&topic_recs[i]);
        topic_recs[i].Name = sp_str_make(topic_names[i]);
        topic_recs[i].TopicId = uuid_of(100 + i);
        kproto_remove_topic_record_init(&remove_recs[i]);
        remove_recs[i].TopicId = topic_recs[i].TopicId;
    }
    next_topic = 0;
    last_snap = 0;
    snapshots_seen = 0;
    batches_left = 30;
    reset_appends();
    run_shard(dir, scenario_snapshots);
    CHECK_EQ_INT(done_count, 30);
    CHECK(snapshots_seen >= 3);
    for (int i = 0; i < nappends; i++) {
        CHECK_EQ_INT(appends[i].res, 0);
    }

    /* One snapshot is left, named <end offset>-<epoch> as KRaft names them. */
    char name[128] = "";
    CHECK_EQ_INT(count_checkpoints(dir, name, sizeof(name)), 1);
    char want[64];
    snprintf(want, sizeof(want), "%020lld-%010d.checkpoint", (long long)last_snap, 1);
    CHECK_EQ_STR(name, want);

    /* The snapshot and the log after it give the state of the whole history. */
    int64_t end = 0;
    int32_t epoch = 0;
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK_EQ_INT(epoch, 1);
    struct model loaded;
    model_from_load(&loaded);
    CHECK(memcmp(&loaded, &model, sizeof(model)) == 0);
    /* Fewer records than the history: the snapshot replaced the log below it. */
    CHECK(ngot < 150);
    int from_snapshot = 0;
    for (int g = 0; g < ngot; g++) {
        from_snapshot += got[g].offset == last_snap - 1;
        CHECK(got[g].offset >= last_snap - 1);
    }
    CHECK(from_snapshot > 0);

    /* The log start moved up to the snapshot. */
    char path[800];
    snprintf(path, sizeof(path), "%s/%s/log-start-offset", dir, SP_METALOG_DIR);
    FILE *f = fopen(path, "r");
    long long start = -1;
    CHECK(f != NULL && fscanf(f, "%lld", &start) == 1);
    if (f) {
        fclose(f);
    }
    CHECK_EQ_INT(start, last_snap);

    /* Reopened (a new epoch) with more appends after the snapshot: the same again. */
    batches_left = 4;
    reset_appends();
    run_shard(dir, scenario_snapshots);
    CHECK_EQ_INT(done_count, 4);
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK_EQ_INT(epoch, 2);
    model_from_load(&loaded);
    CHECK(memcmp(&loaded, &model, sizeof(model)) == 0);

    /* A leftover temporary file of an interrupted snapshot is removed. */
    snprintf(path, sizeof(path), "%s/%s/%s.part", dir, SP_METALOG_DIR, want);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("partial", f);
    fclose(f);
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK(access(path, F_OK) != 0);

    /* A damaged snapshot with no log below it to fall back on is an error, not a crash. */
    snprintf(path, sizeof(path), "%s/%s/%s", dir, SP_METALOG_DIR, want);
    struct stat sb;
    REQUIRE(stat(path, &sb) == 0);
    REQUIRE(truncate(path, sb.st_size - 3) == 0);
    CHECK(load(dir, &end, &epoch) < 0);
}

/* ---- A torn tail ------------------------------------------------------------ */

static int scenario_three(int ph)
{
    if (ph == 0) {
        struct sp_metalog_record b1[] = {{T_TOPIC, 0, &topic}, {T_PARTITION, 0, &parts[0]}};
        append(b1, 2);
        struct sp_metalog_record b2[] = {{T_CONFIG, 0, &config}};
        append(b2, 1);
        struct sp_metalog_record b3[] = {{T_PIDS, 0, &pids}, {T_REMOVE, 0, &remove_topic}};
        append(b3, 2);
        return 1;
    }
    return done_count < nappends ? 1 : -1;
}

static void test_torn_tail(void)
{
    char dir[600];
    sub(dir, sizeof(dir), "torn");
    records_init();
    reset_appends();
    run_shard(dir, scenario_three);
    CHECK_EQ_INT(done_count, 3);
    int64_t end = 0;
    int32_t epoch = 0;
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK_EQ_INT(ngot, 5);
    CHECK_EQ_INT(end, 6);

    /* Cut the segment inside the last batch, as a crash mid-write leaves it. */
    char seg[800], marker[800];
    snprintf(seg, sizeof(seg), "%s/%s/%020d.log", dir, SP_METALOG_DIR, 0);
    snprintf(marker, sizeof(marker), "%s/%s/.clean-shutdown", dir, SP_METALOG_DIR);
    struct stat sb;
    REQUIRE(stat(seg, &sb) == 0);
    REQUIRE(sb.st_size > 20);
    REQUIRE(truncate(seg, sb.st_size - 9) == 0);
    unlink(marker);
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK_EQ_INT(end, 4);
    REQUIRE(ngot == 3);
    CHECK_EQ_INT(got[0].type, T_TOPIC);
    CHECK_EQ_INT(got[1].type, T_PARTITION);
    CHECK_EQ_INT(got[2].type, T_CONFIG);
    CHECK_EQ_STR(got[2].s3, "60000");

    /* The next open appends after the prefix. */
    reset_appends();
    run_shard(dir, scenario_one_more);
    CHECK_EQ_INT(epoch_seen, 2);
    CHECK_EQ_INT(appends[0].a.base_offset, 5);
    CHECK_EQ_INT(load(dir, &end, &epoch), 0);
    CHECK_EQ_INT(ngot, 4);
}

int main(void)
{
    mkroot();
    test_empty();
    test_roundtrip_and_epochs();
    test_snapshots();
    test_torn_tail();
    int rc = CHECK_DONE();
    if (rc == 0) {
        rmroot();
    } else {
        fprintf(stderr, "kept %s\n", root);
    }
    return rc;
}
