/*
 * tests/crash/crash_kill.c: kill -9 of a process appending to a real log.
 *
 * Each cycle forks a child that opens (and so recovers) the log on the real
 * disk through io_uring, then appends batches of random sizes with acks=1
 * and acks=all, several in flight, and reports every acknowledged batch
 * (offsets, tag, level) on a pipe. The parent kills it with SIGKILL at a
 * random moment, then reopens the log itself and checks that every batch
 * the child reported is there, intact (CRC) and with its tag, that offsets
 * are contiguous from the log start, and that nothing follows the last
 * valid batch. The parent alternates clean closes and abandons (so the
 * child recovers both ways) and applies retention to bound the log.
 *
 *   crash_kill [cycles] [seed]
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "core/log.h"
#include "tests/storage/st_env.h"

#define MAX_OFFSETS (1 << 22)

struct report {
    int64_t base, last;
    uint64_t tag;
    int32_t kind; /* 0 ready, 1 written, 2 durable */
    int32_t pad;
};

static uint64_t *tags; /* tag+1 reported at a base offset */
static int64_t reported_end;
static uint64_t rng;
static int report_fd;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void opts(struct sp_plog_options *o)
{
    env_opts(o);
    o->segment_bytes = 1 << 20;
    o->retention_bytes = 6 << 20;
    o->index_interval_bytes = 4096;
}

/* ---- Child ---------------------------------------------------------------- */

struct kid_append {
    struct sp_plog_append a;
    uint64_t tag;
    bool busy;
};

static struct kid_append kapps[16];
static uint8_t kbuf[1 << 17];

static void kid_done(struct sp_plog_append *a, int res)
{
    struct kid_append *k = sp_container_of(a, struct kid_append, a);
    k->busy = false;
    if (res == 0) {
        struct report r = {a->base_offset, a->last_offset, k->tag,
                           a->ack == SP_PLOG_ACK_DURABLE ? 2 : 1, 0};
        if (write(report_fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
            _exit(3);
        }
    }
}

static void child(struct env *e, uint64_t seed)
{
    rng = seed * 0x9e3779b97f4a7c15ull + 7;
    env_start(e);
    struct sp_plog_options o;
    opts(&o);
    struct sp_plog *log;
    if (env_open(e, "k-0", &o, &log) != 0) {
        _exit(2);
    }
    struct report ready = {0};
    if (write(report_fd, &ready, sizeof(ready)) != (ssize_t)sizeof(ready)) {
        _exit(3);
    }
    uint64_t tag = seed << 24;
    for (int n = 0; n < 3000;) {
        for (size_t i = 0; i < SP_ARRAY_LEN(kapps); i++) {
            if (kapps[i].busy) {
                continue;
            }
            int recs = 1 + (int)(rnd() % 4);
            size_t vb = 1 + rnd() % (rnd() % 16 == 0 ? 30000 : 1500);
            size_t len = make_batch(kbuf, recs, vb, tag, (int64_t)n);
            kapps[i].a.done = kid_done;
            kapps[i].a.ack = rnd() % 2 ? SP_PLOG_ACK_DURABLE : SP_PLOG_ACK_WRITTEN;
            kapps[i].tag = tag;
            if (sp_plog_append(log, &kapps[i].a, kbuf, len) == 0) {
                kapps[i].busy = true;
                tag++;
                n++;
            }
        }
        env_tick(e);
    }
    /* Ran out of work before the kill: wait for it. */
    for (;;) {
        env_tick(e);
        usleep(1000);
    }
}

/* ---- Parent --------------------------------------------------------------- */

struct check {
    int64_t next;
    bool bad;
};

static void check_cb(void *ctx, const struct sp_seg_batch *b, const uint8_t *p)
{
    struct check *c = ctx;
    if (b->base_offset != c->next) {
        fprintf(stderr, "batch at %" PRId64 ", expected %" PRId64 "\n", b->base_offset, c->next);
        c->bad = true;
    }
    if (b->base_offset < MAX_OFFSETS && tags[b->base_offset] &&
        tags[b->base_offset] != batch_tag(p) + 1) {
        fprintf(stderr, "batch at %" PRId64 ": tag %" PRIx64 ", reported %" PRIx64 "\n",
                b->base_offset, batch_tag(p), tags[b->base_offset] - 1);
        c->bad = true;
    }
    c->next = b->last_offset + 1;
}

static bool verify(struct env *e, int cycle, int64_t *from)
{
    env_start(e);
    struct sp_plog_options o;
    opts(&o);
    struct sp_plog *log;
    int r = env_open(e, "k-0", &o, &log);
    if (r != 0) {
        fprintf(stderr, "cycle %d: open failed: %d\n", cycle, r);
        env_stop(e);
        return false;
    }
    int64_t end = sp_plog_end_offset(log), start = sp_plog_start_offset(log);
    struct check c = {SP_MAX(start, *from), false};
    if (end < reported_end) {
        fprintf(stderr, "cycle %d: log ends at %" PRId64 ", reported up to %" PRId64 "\n", cycle,
                end, reported_end);
        c.bad = true;
    }
    /* Start at a batch boundary: the first batch at or after `from`. */
    if (c.next > start) {
        struct t_read t;
        r = read_sync(e, log, &t, c.next, 1, SP_PLOG_READ_WRITTEN);
        if (r == 0 && t.r.len > 0) {
            c.next = (int64_t)sp_be64_get(t.r.data);
        }
        sp_plog_read_release(&t.r);
    }
    while (!c.bad && c.next < end) {
        struct t_read t;
        r = read_sync(e, log, &t, c.next, 1 << 20, SP_PLOG_READ_WRITTEN);
        if (r != 0 || t.r.len == 0 || walk_batches(t.r.data, t.r.len, check_cb, &c) <= 0) {
            fprintf(stderr, "cycle %d: read at %" PRId64 ": %d, %u bytes\n", cycle, c.next, r,
                    t.r.len);
            c.bad = true;
        }
        sp_plog_read_release(&t.r);
    }
    if (!c.bad && c.next != end) {
        fprintf(stderr, "cycle %d: batches end at %" PRId64 ", log end %" PRId64 "\n", cycle,
                c.next, end);
        c.bad = true;
    }
    *from = end;
    /* Bound the log, then leave it cleanly or as a crash would. */
    while (sp_plog_retention_run(log, 0) > 0) {
        while (!st_log_idle(log)) {
            env_tick(e);
        }
    }
    if (cycle % 2 == 0) {
        CHECK_EQ_INT(sp_plog_close(log), 0);
    } else {
        sp_plog_abandon(log);
    }
    env_stop(e);
    return !c.bad;
}

static void drain(int fd, int *written, int *durable)
{
    struct report r;
    ssize_t n;
    while ((n = read(fd, &r, sizeof(r))) == (ssize_t)sizeof(r)) {
        if (r.kind == 0) {
            continue;
        }
        if (r.base < MAX_OFFSETS) {
            tags[r.base] = r.tag + 1;
        }
        reported_end = SP_MAX(reported_end, r.last + 1);
        (*(r.kind == 2 ? durable : written))++;
    }
}

int main(int argc, char **argv)
{
    int cycles = argc > 1 ? atoi(argv[1]) : 200;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
    sp_log_set_level(SP_LOG_ERROR);
    tags = calloc(MAX_OFFSETS, sizeof(*tags));
    REQUIRE(tags != NULL);
    struct env e;
    memset(&e, 0, sizeof(e));
    sp_storage_params_init(&e.sp, NULL);
    e.sp.chunk_bytes = 64 << 10;
    e.sp.fallocate_step_bytes = 1 << 20;
    env_mkroot(&e, "kill");
    printf("crash_kill: %d cycles, seed %" PRIu64 ", in %s\n", cycles, seed, e.root);
    rng = seed | 1;
    int64_t verified = 0;
    int written = 0, durable = 0, failed = 0;
    for (int cycle = 0; cycle < cycles && !failed; cycle++) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        uint64_t kid_seed = seed * 1000 + (uint64_t)cycle;
        uint32_t delay_us = 1000 + (uint32_t)(rnd() % 40000);
        fflush(stdout);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            report_fd = fds[1];
            child(&e, kid_seed);
            _exit(0);
        }
        close(fds[1]);
        struct report ready;
        struct pollfd pfd = {fds[0], POLLIN, 0};
        bool up = poll(&pfd, 1, 20000) == 1 && read(fds[0], &ready, sizeof(ready)) == sizeof(ready);
        if (up) {
            usleep(delay_us);
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (!up) {
            fprintf(stderr, "cycle %d: the child did not start (status %d)\n", cycle, status);
            failed++;
        }
        drain(fds[0], &written, &durable);
        close(fds[0]);
        int64_t from = cycle % 25 == 24 ? 0 : verified;
        if (!verify(&e, cycle, &from)) {
            fprintf(stderr, "crash_kill: FAILED at cycle %d (seed %" PRIu64 ")\n", cycle, seed);
            failed++;
        }
        verified = from;
    }
    if (!failed) {
        int64_t from = 0;
        failed += !verify(&e, cycles, &from);
    }
    printf("crash_kill: %d cycles, %d batches reported written and %d durable, log end %" PRId64
           ", %s\n",
           cycles, written, durable, verified, failed ? "FAILED" : "ok");
    if (!failed) {
        env_rmroot(&e);
    }
    free(tags);
    return failed ? 1 : CHECK_DONE();
}
