/*
 * tests/core/test_io_sim.c: the simulator of core/io.h. File semantics,
 * O_DIRECT alignment, reordering, fault injection, simulated time, the
 * same run from the same seed, and the crash model: a crash loses only
 * what was not flushed, tears unflushed writes at sector boundaries, and
 * drops directory entries that were never synced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "core/io_sim.h"
#include "tests/check.h"
#include "tests/core/io_helpers.h"

static struct sp_io *sim_io(struct sp_sim_fs *fs, uint64_t seed)
{
    struct sp_io *io = NULL;
    REQUIRE(sp_io_create_sim(&io, fs, seed) == 0);
    return io;
}

static int open_file(struct sp_io *io, const char *path, int flags)
{
    struct waiter w;
    return RUN(io, &w, sp_io_openat(io, &w.op, AT_FDCWD, path, flags, 0644));
}

static int32_t do_write(struct sp_io *io, int fd, const void *buf, uint32_t len, uint64_t off)
{
    struct waiter w;
    return RUN(io, &w, sp_io_write(io, &w.op, fd, buf, len, off));
}

static int32_t do_fsync(struct sp_io *io, int fd)
{
    struct waiter w;
    return RUN(io, &w, sp_io_fsync(io, &w.op, fd, false));
}

static int32_t do_close(struct sp_io *io, int fd)
{
    struct waiter w;
    return RUN(io, &w, sp_io_close(io, &w.op, fd));
}

static void test_files(void)
{
    struct sp_sim_fs *fs = sp_sim_fs_create(1);
    struct sp_io *io = sim_io(fs, 1);
    struct waiter w;
    CHECK_EQ_STR(sp_io_impl_name(io), "sim");
    CHECK_EQ_INT(sp_io_mkdir_sync(io, "/data", 0755), 0);
    CHECK_EQ_INT(sp_io_mkdir_sync(io, "/data", 0755), -EEXIST);
    CHECK_EQ_INT(sp_io_mkdir_sync(io, "/nope/x", 0755), -ENOENT);
    int dfd = sp_io_open_sync(io, "/data", O_RDONLY | O_DIRECTORY, 0);
    CHECK(dfd >= 3);
    CHECK_EQ_INT(RUN(io, &w, sp_io_mkdirat(io, &w.op, dfd, "t-0", 0755)), 0);
    int fd = RUN(io, &w, sp_io_openat(io, &w.op, dfd, "t-0/0.log", O_CREAT | O_RDWR, 0644));
    CHECK(fd >= 3);
    CHECK_EQ_INT(open_file(io, "/data/t-0/0.log", O_CREAT | O_EXCL | O_RDWR), -EEXIST);
    CHECK_EQ_INT(open_file(io, "data/t-0/../t-0/./0.log", O_RDONLY) >= 3, 1);
    CHECK_EQ_INT(open_file(io, "/data/t-0/0.log/x", O_RDONLY), -ENOTDIR);
    CHECK_EQ_INT(open_file(io, "/data", O_RDWR), -EISDIR);
    char buf[10000], rd[10000];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (char)(i * 7);
    }
    CHECK_EQ_INT(do_write(io, fd, buf, 10000, 100), 10000);
    uint64_t size = 0;
    CHECK_EQ_INT(sp_io_fsize_sync(io, fd, &size), 0);
    CHECK_EQ_INT(size, 10100);
    CHECK_EQ_INT(RUN(io, &w, sp_io_read(io, &w.op, fd, rd, 10000, 0)), 10000);
    CHECK(rd[0] == 0 && rd[99] == 0 && memcmp(rd + 100, buf, 9900) == 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_read(io, &w.op, fd, rd, 10000, 10000)), 100);
    CHECK_EQ_INT(RUN(io, &w, sp_io_fallocate(io, &w.op, fd, 0, 0, 1 << 20)), 0);
    CHECK_EQ_INT(sp_io_fsize_sync(io, fd, &size), 0);
    CHECK_EQ_INT(size, 1 << 20);
    CHECK_EQ_INT(RUN(io, &w, sp_io_read(io, &w.op, fd, rd, 100, 500000)), 100);
    CHECK(rd[0] == 0 && rd[99] == 0);
    CHECK_EQ_INT(sp_io_ftruncate_sync(io, fd, 50), 0);
    CHECK_EQ_INT(sp_io_fsize_sync(io, fd, &size), 0);
    CHECK_EQ_INT(size, 50);
    CHECK_EQ_INT(sp_sim_fs_used(fs), 50);
    CHECK_EQ_INT(do_close(io, fd), 0);
    CHECK_EQ_INT(do_close(io, fd), -EBADF);
    CHECK_EQ_INT(RUN(io, &w, sp_io_renameat(io, &w.op, dfd, "t-0/0.log", dfd, "t-0/1.log")), 0);
    CHECK_EQ_INT(open_file(io, "/data/t-0/0.log", O_RDONLY), -ENOENT);
    CHECK_EQ_INT(RUN(io, &w, sp_io_unlinkat(io, &w.op, dfd, "t-0", AT_REMOVEDIR)), -ENOTEMPTY);
    CHECK_EQ_INT(RUN(io, &w, sp_io_unlinkat(io, &w.op, dfd, "t-0/1.log", 0)), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_unlinkat(io, &w.op, dfd, "t-0", AT_REMOVEDIR)), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_unlinkat(io, &w.op, dfd, "t-0", AT_REMOVEDIR)), -ENOENT);
    CHECK_EQ_INT(RUN(io, &w, sp_io_recv(io, &w.op, 3, rd, 1)), -EOPNOTSUPP);

    /* O_DIRECT: address, length and offset must be aligned. */
    void *al = NULL;
    REQUIRE(posix_memalign(&al, 4096, 8192) == 0);
    memset(al, 'd', 8192);
    fd = open_file(io, "/data/direct", O_CREAT | O_RDWR | O_DIRECT);
    CHECK_EQ_INT(do_write(io, fd, al, 4096, 0), 4096);
    CHECK_EQ_INT(do_write(io, fd, al, 4000, 0), -EINVAL);
    CHECK_EQ_INT(do_write(io, fd, (char *)al + 512, 4096, 0), -EINVAL);
    CHECK_EQ_INT(do_write(io, fd, al, 4096, 100), -EINVAL);
    sp_sim_set_direct_align(io, 512);
    CHECK_EQ_INT(do_write(io, fd, (char *)al + 512, 512, 512), 512);
    free(al);

    /* Capacity: writes beyond it fail with ENOSPC and change nothing. */
    do_close(io, fd);
    fd = open_file(io, "/data/small", O_CREAT | O_RDWR);
    sp_sim_fs_set_capacity(fs, sp_sim_fs_used(fs) + 5096);
    CHECK_EQ_INT(do_write(io, fd, buf, 1000, 4096), 1000);
    CHECK_EQ_INT(do_write(io, fd, buf, 1, 5096), -ENOSPC);
    CHECK_EQ_INT(RUN(io, &w, sp_io_fallocate(io, &w.op, fd, 0, 0, 1 << 20)), -ENOSPC);

    sp_io_destroy(io);
    sp_sim_fs_destroy(fs);
}

static int count_cb(void *ctx, const char *name, bool is_dir)
{
    (*(int *)ctx)++;
    return 0;
}

struct order_op {
    struct sp_io_op op;
    int index;
};
static struct order_op order_ops[64];
static int order[64], order_len;

static void order_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    order[order_len++] = sp_container_of(op, struct order_op, op)->index;
}

static void test_order_faults_time(void)
{
    struct sp_sim_fs *fs = sp_sim_fs_create(2);
    struct sp_io *io = sim_io(fs, 2);
    /* Reordered by default; in submission order with reordering off. */
    for (int round = 0; round < 2; round++) {
        sp_sim_set_reorder(io, round == 1);
        order_len = 0;
        for (int i = 0; i < 64; i++) {
            order_ops[i].index = i;
            order_ops[i].op.done = order_done;
            sp_io_nop(io, &order_ops[i].op);
        }
        while (order_len < 64) {
            REQUIRE(sp_io_poll(io, UINT64_MAX) > 0);
            sp_io_run_completions(io, 1000);
        }
        bool sorted = true;
        for (int i = 1; i < 64; i++) {
            sorted &= order[i] > order[i - 1];
        }
        CHECK(sorted == (round == 0));
    }
    sp_sim_set_reorder(io, true);

    /* Faults: the next N, and a rate. */
    int fd = open_file(io, "/f", O_CREAT | O_RDWR);
    sp_sim_fail_next(io, SP_IO_OP_FSYNC, EIO, 2);
    CHECK_EQ_INT(do_fsync(io, fd), -EIO);
    CHECK_EQ_INT(do_fsync(io, fd), -EIO);
    CHECK_EQ_INT(do_fsync(io, fd), 0);
    sp_sim_fail_rate(io, SP_IO_OP_WRITE, ENOSPC, 500);
    int failed = 0;
    for (int i = 0; i < 200; i++) {
        failed += do_write(io, fd, "x", 1, (uint64_t)i) == -ENOSPC;
    }
    CHECK(failed > 50 && failed < 150);
    CHECK_EQ_INT(sp_sim_faults_injected(io), 2 + (uint64_t)failed);
    sp_sim_fail_clear(io);
    CHECK_EQ_INT(do_write(io, fd, "x", 1, 0), 1);
    sp_sim_fail_next(io, SP_SIM_OP_OPEN_SYNC, EMFILE, 1);
    CHECK_EQ_INT(sp_io_open_sync(io, "/f", O_RDONLY, 0), -EMFILE);
    int cnt = 0;
    sp_sim_fail_next(io, SP_SIM_OP_LISTDIR_SYNC, EIO, 1);
    CHECK_EQ_INT(sp_io_listdir_sync(io, "/", count_cb, &cnt), -EIO);
    CHECK_EQ_INT(sp_io_listdir_sync(io, "/", count_cb, &cnt), 0);
    CHECK_EQ_INT(cnt, 1);

    /* Simulated time: a timeout completes exactly at its deadline. */
    uint64_t t0 = sp_io_now_ns(io);
    struct waiter t, c;
    CHECK_EQ_INT(RUN(io, &t, sp_io_timeout(io, &t.op, 5000000)), -ETIME);
    CHECK_EQ_INT(sp_io_now_ns(io) - t0, 5000000);
    t0 = sp_io_now_ns(io);
    CHECK_EQ_INT(sp_io_poll(io, 3000000), 0);
    CHECK_EQ_INT(sp_io_now_ns(io) - t0, 3000000);
    waiter_init(&t);
    sp_io_timeout(io, &t.op, 1000000000);
    CHECK_EQ_INT(RUN(io, &c, sp_io_cancel(io, &c.op, &t.op)), 0);
    CHECK_EQ_INT(t.res, -ECANCELED);
    CHECK_EQ_INT(sp_io_inflight(io), 0);
    /* A wake-up ends a poll that would otherwise wait. */
    sp_io_wake(NULL, io);
    t0 = sp_io_now_ns(io);
    sp_io_poll(io, 1000000);
    CHECK_EQ_INT(sp_io_now_ns(io), t0);
    sp_io_destroy(io);
    sp_sim_fs_destroy(fs);
}

/* ---- Crash model --------------------------------------------------------- */

#define FILES      4
#define FILE_BYTES 16384
#define SECTOR     512

struct shadow {
    uint8_t durable[FILE_BYTES];
    uint64_t durable_size;
    /* For every byte, up to 4 values written since the last fsync. */
    uint8_t pending[FILE_BYTES][4];
    uint8_t npending[FILE_BYTES];
    uint64_t size;
};

struct crash_stats {
    int torn_writes, lost_entries, kept_entries;
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/*
 * A seeded workload: durable files and directories first, then unflushed
 * overwrites and appends, an unsynced new file, then a crash. Checks each
 * byte that survived against what could legitimately be there. Returns a
 * digest of the surviving tree.
 */
static uint64_t crash_run(uint64_t seed, struct crash_stats *st, uint64_t *trace_out)
{
    static struct shadow sh[FILES];
    memset(sh, 0, sizeof(sh));
    uint64_t r = seed * 2654435761u + 1;
    struct sp_sim_fs *fs = sp_sim_fs_create(seed);
    sp_sim_fs_set_sector_size(fs, SECTOR);
    struct sp_io *io = sim_io(fs, seed);
    REQUIRE(sp_io_mkdir_sync(io, "/d", 0755) == 0);
    int root = sp_io_open_sync(io, "/", O_RDONLY, 0);
    int dfd = sp_io_open_sync(io, "/d", O_RDONLY, 0);
    CHECK_EQ_INT(do_fsync(io, root), 0);
    int fds[FILES];
    static uint8_t buf[FILE_BYTES];
    for (int f = 0; f < FILES; f++) {
        char path[32];
        snprintf(path, sizeof(path), "/d/f%d", f);
        fds[f] = open_file(io, path, O_CREAT | O_RDWR);
        uint64_t len = 1 + rnd(&r) % (FILE_BYTES / 2);
        for (uint64_t i = 0; i < len; i++) {
            buf[i] = (uint8_t)rnd(&r);
        }
        CHECK_EQ_INT(do_write(io, fds[f], buf, (uint32_t)len, 0), (int)len);
        CHECK_EQ_INT(do_fsync(io, fds[f]), 0);
        memcpy(sh[f].durable, buf, len);
        sh[f].durable_size = sh[f].size = len;
    }
    CHECK_EQ_INT(do_fsync(io, dfd), 0);

    /* Unflushed: overwrites and appends with fresh bytes, several at once in flight. */
    struct waiter ws[16];
    static uint8_t wbuf[16][4096];
    for (int k = 0; k < 16; k++) {
        int f = (int)(rnd(&r) % FILES);
        uint64_t off = rnd(&r) % (FILE_BYTES - 4096);
        uint32_t len = 1 + (uint32_t)(rnd(&r) % 4096);
        bool slot_free = true;
        for (uint64_t i = off; i < off + len; i++) {
            slot_free &= sh[f].npending[i] < 4;
        }
        if (!slot_free) {
            continue;
        }
        for (uint32_t i = 0; i < len; i++) {
            wbuf[k][i] = (uint8_t)rnd(&r);
            sh[f].pending[off + i][sh[f].npending[off + i]++] = wbuf[k][i];
        }
        sh[f].size = SP_MAX(sh[f].size, off + len);
        waiter_init(&ws[k]);
        sp_io_write(io, &ws[k].op, fds[f], wbuf[k], len, off);
    }
    for (int k = 0; k < 16; k++) {
        if (ws[k].op.done != NULL) {
            waiter_wait_n(io, &ws[k], 1);
        }
    }
    /* A file created and flushed whose directory entry never was. */
    int nf = open_file(io, "/d/new", O_CREAT | O_RDWR);
    CHECK_EQ_INT(do_write(io, nf, "new", 3, 0), 3);
    CHECK_EQ_INT(do_fsync(io, nf), 0);
    /* One more write left in flight: it never ran, so it must not appear. */
    struct waiter lost;
    waiter_init(&lost);
    sp_io_write(io, &lost.op, fds[0], "LOST", 4, FILE_BYTES - 4);
    *trace_out = sp_sim_trace_hash(io);

    sp_sim_fs_crash(fs);
    CHECK(sp_sim_dead(io));
    struct waiter w;
    CHECK_EQ_INT(RUN(io, &w, sp_io_nop(io, &w.op)), -EIO);
    sp_io_destroy(io);

    io = sim_io(fs, seed + 1);
    static uint8_t got[FILE_BYTES];
    for (int f = 0; f < FILES; f++) {
        char path[32];
        snprintf(path, sizeof(path), "/d/f%d", f);
        int fd = open_file(io, path, O_RDWR);
        CHECK(fd >= 3);
        uint64_t size = 0;
        CHECK_EQ_INT(sp_io_fsize_sync(io, fd, &size), 0);
        CHECK(size >= sh[f].durable_size && size <= sh[f].size);
        memset(got, 0, sizeof(got));
        CHECK_EQ_INT(RUN(io, &w, sp_io_read(io, &w.op, fd, got, FILE_BYTES, 0)), (int)size);
        int torn_old = 0, torn_new = 0;
        for (uint64_t i = 0; i < size; i++) {
            bool ok = i < sh[f].durable_size ? got[i] == sh[f].durable[i] : got[i] == 0;
            bool is_new = false;
            for (int j = 0; j < sh[f].npending[i]; j++) {
                is_new |= got[i] == sh[f].pending[i][j];
            }
            if (!ok && !is_new) {
                fprintf(stderr, "seed %llu file %d byte %llu: unexpected %u\n",
                        (unsigned long long)seed, f, (unsigned long long)i, got[i]);
                CHECK(false);
                break;
            }
            if (sh[f].npending[i] > 0 && (i % SECTOR) == 0) {
                *(is_new && !ok ? &torn_new : &torn_old) += 1;
            }
        }
        st->torn_writes += torn_new > 0 && torn_old > 0;
        do_close(io, fd);
    }
    int nfd = open_file(io, "/d/new", O_RDONLY);
    CHECK(nfd >= 3 || nfd == -ENOENT);
    *(nfd >= 3 ? &st->kept_entries : &st->lost_entries) += 1;
    uint64_t digest = sp_sim_fs_digest(fs);
    sp_io_destroy(io);
    sp_sim_fs_destroy(fs);
    return digest;
}

static void test_crash_model(void)
{
    struct crash_stats st = {0};
    for (uint64_t seed = 1; seed <= 200; seed++) {
        uint64_t t1, t2;
        uint64_t d1 = crash_run(seed, &st, &t1);
        struct crash_stats dummy = {0};
        uint64_t d2 = crash_run(seed, &dummy, &t2);
        /* The same seed reproduces the same run, completion by completion. */
        CHECK(d1 == d2);
        CHECK(t1 == t2);
    }
    uint64_t ta, tb, da, db;
    da = crash_run(1000, &st, &ta);
    db = crash_run(1001, &st, &tb);
    CHECK(ta != tb);
    CHECK(da != db);
    fprintf(stderr, "crashes: %d with torn writes, new entry lost %d kept %d\n", st.torn_writes,
            st.lost_entries, st.kept_entries);
    CHECK(st.torn_writes > 10);
    CHECK(st.lost_entries > 10 && st.kept_entries > 10);
}

/* A rename is atomic across a crash; a durable rename survives. */
static void test_crash_rename(void)
{
    for (uint64_t seed = 1; seed <= 50; seed++) {
        struct sp_sim_fs *fs = sp_sim_fs_create(seed);
        struct sp_io *io = sim_io(fs, seed);
        struct waiter w;
        int root = sp_io_open_sync(io, "/", O_RDONLY, 0);
        int fd = open_file(io, "/a", O_CREAT | O_RDWR);
        CHECK_EQ_INT(do_write(io, fd, "abc", 3, 0), 3);
        CHECK_EQ_INT(do_fsync(io, fd), 0);
        CHECK_EQ_INT(do_fsync(io, root), 0);
        CHECK_EQ_INT(RUN(io, &w, sp_io_renameat(io, &w.op, root, "a", root, "b")), 0);
        if (seed % 2 == 0) {
            CHECK_EQ_INT(do_fsync(io, root), 0);
        }
        sp_sim_fs_crash(fs);
        sp_io_destroy(io);
        io = sim_io(fs, seed);
        int a = open_file(io, "/a", O_RDONLY), b = open_file(io, "/b", O_RDONLY);
        CHECK((a >= 3) != (b >= 3));
        if (seed % 2 == 0) {
            CHECK(b >= 3);
        }
        char rd[3];
        CHECK_EQ_INT(RUN(io, &w, sp_io_read(io, &w.op, a >= 3 ? a : b, rd, 3, 0)), 3);
        CHECK(memcmp(rd, "abc", 3) == 0);
        sp_io_destroy(io);
        sp_sim_fs_destroy(fs);
    }
}

int main(void)
{
    test_files();
    test_order_faults_time();
    test_crash_model();
    test_crash_rename();
    return CHECK_DONE();
}
