/*
 * tests/storage/st_env.h: what the storage tests share. An environment is a
 * shard's I/O (io_uring on the real disk, or the simulator), its storage
 * context, and a scratch directory; batches are built with deterministic
 * contents so a reader can check every byte.
 */
#ifndef SP_TESTS_STORAGE_ST_ENV_H
#define SP_TESTS_STORAGE_ST_ENV_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/io.h"
#include "core/io_sim.h"
#include "protocol/batch.h"
#include "storage/log.h"
#include "storage/log_impl.h"
#include "tests/check.h"

struct env {
    struct sp_io *io;
    struct sp_sim_fs *fs; /* NULL on the real disk */
    struct sp_storage *st;
    struct sp_storage_params sp;
    char root[256];
};

/* A scratch directory on a real disk (O_DIRECT needs one: not tmpfs). */
static inline void env_mkroot(struct env *e, const char *name)
{
    const char *base = getenv("SPINDLE_TEST_DIR");
    if (base == NULL || base[0] == 0) {
        base = "/var/tmp";
    }
    snprintf(e->root, sizeof(e->root), "%s/spindle-%s-XXXXXX", base, name);
    REQUIRE(mkdtemp(e->root) != NULL);
}

static inline void env_rmroot(struct env *e)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->root);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", e->root);
    }
}

static inline void env_start(struct env *e)
{
    if (e->fs) {
        REQUIRE(sp_io_create_sim(&e->io, e->fs, 7) == 0);
    } else {
        struct sp_io_params ip = {0};
        const char *cap = getenv("SPINDLE_IO_URING_FEATURES");
        if (cap) {
            REQUIRE(sp_io_parse_kernel_cap(cap, &ip.kernel_cap) == 0);
        }
        int r = sp_io_create_uring(&e->io, &ip);
        if (r < 0) {
            SKIP("io_uring is not available");
        }
    }
    e->sp.io = e->io;
    REQUIRE(sp_storage_create(&e->st, &e->sp) == 0);
}

static inline void env_stop(struct env *e)
{
    sp_storage_destroy(e->st);
    sp_io_destroy(e->io);
    e->st = NULL;
    e->io = NULL;
}

/* Real disk (sim false) or a fresh simulated file system. */
static inline void env_init(struct env *e, const char *name, bool sim, uint64_t seed)
{
    memset(e, 0, sizeof(*e));
    sp_storage_params_init(&e->sp, NULL);
    if (sim) {
        e->sp.fallocate_step_bytes = 1 << 20; /* the simulator keeps reserved bytes in memory */
        e->fs = sp_sim_fs_create(seed);
        REQUIRE(e->fs != NULL);
        e->root[0] = 0; /* partitions at /<name>: the root is always there */
    } else {
        env_mkroot(e, name);
    }
    env_start(e);
}

static inline void env_fini(struct env *e)
{
    env_stop(e);
    if (e->fs) {
        sp_sim_fs_destroy(e->fs);
    } else {
        env_rmroot(e);
    }
}

/* One loop tick: submit, wait a little, run completions, storage tick. */
static inline void env_tick(struct env *e)
{
    if (sp_io_completions_pending(e->io) == 0) {
        sp_io_poll(e->io, 1000000);
    }
    sp_io_run_completions(e->io, 4096);
    sp_storage_tick(e->st);
}

/* Runs the loop until *flag turns nonzero (or a long time passes). */
static inline bool env_run_until(struct env *e, const int *counter, int target)
{
    for (long i = 0; i < 2000000 && *counter < target; i++) {
        env_tick(e);
    }
    return *counter >= target;
}

static inline void env_opts(struct sp_plog_options *o)
{
    sp_plog_options_init(o, NULL);
    o->retention_ms = -1; /* test batches carry timestamps from 1970 */
}

static inline int env_open(struct env *e, const char *name, const struct sp_plog_options *o,
                           struct sp_plog **out)
{
    struct sp_plog_open_params p = {0};
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", e->root, name);
    p.dir = dir;
    p.opts = *o;
    memset(p.topic_id, 0x5a, 16);
    return sp_plog_open(e->st, &p, out);
}

/* ---- Batches ------------------------------------------------------------ */

/* Deterministic value bytes for record `i` of a batch tagged `tag`. */
static inline void fill_value(uint8_t *v, size_t n, uint64_t tag, int i)
{
    uint64_t x = tag * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0xbf58476d1ce4e5b9ull + 1;
    for (size_t k = 0; k < n; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[k] = (uint8_t)x;
    }
}

/*
 * Builds a batch of `records` records of `value_bytes` each, tagged `tag`
 * (its producer id carries the tag so a reader can tell which batch it is).
 * Returns the size; buf must hold batch_bound() bytes.
 */
static inline size_t batch_bound(int records, size_t value_bytes)
{
    return 128 + (size_t)records * (value_bytes + 32);
}

static inline size_t make_batch(uint8_t *buf, int records, size_t value_bytes, uint64_t tag,
                                int64_t ts)
{
    struct sp_record_in recs[64];
    static uint8_t vals[64][65536];
    REQUIRE(records > 0 && records <= 64 && value_bytes <= 65536);
    for (int i = 0; i < records; i++) {
        fill_value(vals[i], value_bytes, tag, i);
        recs[i] = (struct sp_record_in){
            .key = {NULL, 0}, .value = {vals[i], value_bytes}, .timestamp = ts + i};
    }
    struct sp_batch_params bp = {.base_offset = 0,
                                 .partition_leader_epoch = -1,
                                 .producer_id = (int64_t)tag,
                                 .producer_epoch = 0,
                                 .base_sequence = 0};
    int n = sp_batch_build(buf, batch_bound(records, value_bytes), &bp, recs, (size_t)records);
    REQUIRE(n > 0);
    return (size_t)n;
}

/* The tag (producer id) of the batch at p. */
static inline uint64_t batch_tag(const uint8_t *p)
{
    return sp_be64_get(p + 43);
}

/* Walks whole batches in data; calls fn for each; returns the count or -1 if malformed. */
static inline int
walk_batches(const uint8_t *data, size_t len,
             void (*fn)(void *ctx, const struct sp_seg_batch *b, const uint8_t *p), void *ctx)
{
    size_t at = 0;
    int n = 0;
    while (at < len) {
        struct sp_seg_batch b;
        if (sp_seg_batch_peek(data + at, len - at, &b) != 1 || b.size > len - at ||
            !sp_seg_batch_crc_ok(data + at, &b)) {
            return -1;
        }
        if (fn) {
            fn(ctx, &b, data + at);
        }
        at += b.size;
        n++;
    }
    return n;
}

/* ---- Appends and reads that the test waits for -------------------------- */

struct t_append {
    struct sp_plog_append a;
    int *counter;
    int res;
};

static inline void t_append_done(struct sp_plog_append *a, int res)
{
    struct t_append *t = sp_container_of(a, struct t_append, a);
    t->res = res;
    (*t->counter)++;
}

struct t_read {
    struct sp_plog_read r;
    int done;
    int res;
};

static inline void t_read_done(struct sp_plog_read *r, int res)
{
    struct t_read *t = sp_container_of(r, struct t_read, r);
    t->res = res;
    t->done = 1;
}

/* Reads synchronously (running the loop). Returns 0 or -errno; release after. */
static inline int read_sync(struct env *e, struct sp_plog *log, struct t_read *t, int64_t offset,
                            uint32_t max_bytes, enum sp_plog_isolation iso)
{
    memset(t, 0, sizeof(*t));
    t->r.done = t_read_done;
    t->r.offset = offset;
    t->r.max_bytes = max_bytes;
    t->r.isolation = iso;
    int rc = sp_plog_read(log, &t->r);
    if (rc == 1) {
        env_run_until(e, &t->done, 1);
        return t->res;
    }
    return rc;
}

static inline int time_sync(struct env *e, struct sp_plog *log, struct t_read *t, int64_t ts)
{
    memset(t, 0, sizeof(*t));
    t->r.done = t_read_done;
    int rc = sp_plog_offset_for_time(log, &t->r, ts);
    if (rc == 1) {
        env_run_until(e, &t->done, 1);
        return t->res;
    }
    return rc;
}

#endif /* SP_TESTS_STORAGE_ST_ENV_H */
