/*
 * tests/core/test_io_uring.c: the io_uring implementation of core/io.h
 * against the real kernel: feature probing and the cap, files, timeouts,
 * cancellation, sockets with multishot and zero-copy, cross-thread wake-ups.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/io.h"
#include "tests/check.h"
#include "tests/core/io_helpers.h"

static struct sp_io *create(uint32_t cap)
{
    struct sp_io_params p = {.entries = 64, .kernel_cap = cap};
    struct sp_io *io = NULL;
    int rc = sp_io_create_uring(&io, &p);
    if (rc == -ENOSYS || rc == -EPERM) {
        SKIP("io_uring is not available here");
    }
    REQUIRE(rc == 0);
    return io;
}

static void test_cap_parse(void)
{
    uint32_t cap = 1;
    CHECK_EQ_INT(sp_io_parse_kernel_cap("6.1", &cap), 0);
    CHECK_EQ_INT(cap, SP_IO_KERNEL(6, 1));
    CHECK_EQ_INT(sp_io_parse_kernel_cap("auto", &cap), 0);
    CHECK_EQ_INT(cap, 0);
    CHECK_EQ_INT(sp_io_parse_kernel_cap("", &cap), 0);
    CHECK_EQ_INT(sp_io_parse_kernel_cap(NULL, &cap), 0);
    CHECK_EQ_INT(sp_io_parse_kernel_cap("6", &cap), -EINVAL);
    CHECK_EQ_INT(sp_io_parse_kernel_cap("6.x", &cap), -EINVAL);
    CHECK_EQ_INT(sp_io_parse_kernel_cap("6.1.2", &cap), -EINVAL);
    CHECK_EQ_INT(sp_io_parse_kernel_cap("latest", &cap), -EINVAL);
}

static void test_features(void)
{
    char buf[256];
    uint32_t kernel = sp_io_kernel_version();
    struct sp_io *all = create(SP_IO_KERNEL(999, 0));
    struct sp_io *capped = create(SP_IO_KERNEL(6, 1));
    uint32_t fa = sp_io_features(all), fc = sp_io_features(capped);
    sp_io_features_str(fa, buf, sizeof(buf));
    fprintf(stderr, "kernel %u.%u, features: %s\n", kernel >> 16, kernel & 0xffff, buf);
    sp_io_features_str(fc, buf, sizeof(buf));
    fprintf(stderr, "features with the 6.1 cap: %s\n", buf);
    CHECK(!(fc & SP_IO_FEAT_MSG_RING));
    CHECK_EQ_INT(fc & ~fa, 0);
    if (kernel >= SP_IO_KERNEL(6, 1)) {
        CHECK(fc & SP_IO_FEAT_SINGLE_ISSUER);
        CHECK(fc & SP_IO_FEAT_DEFER_TASKRUN);
        CHECK(fc & SP_IO_FEAT_BUF_RING);
        CHECK(fc & SP_IO_FEAT_RECV_MULTISHOT);
        CHECK(fc & SP_IO_FEAT_SEND_ZC);
        CHECK(fc & SP_IO_FEAT_SENDMSG_ZC);
    }
    if (kernel >= SP_IO_KERNEL(6, 2)) {
        CHECK(fa & SP_IO_FEAT_MSG_RING);
    }
    struct sp_io *old = create(SP_IO_KERNEL(5, 15));
    CHECK_EQ_INT(sp_io_features(old) & (SP_IO_FEAT_SINGLE_ISSUER | SP_IO_FEAT_BUF_RING |
                                        SP_IO_FEAT_SEND_ZC | SP_IO_FEAT_SENDMSG_ZC),
                 0);
    struct waiter w;
    CHECK_EQ_INT(RUN(old, &w, sp_io_nop(old, &w.op)), 0);
    sp_io_destroy(old);
    sp_io_destroy(all);
    sp_io_destroy(capped);
}

static void test_nop_and_timeout(struct sp_io *io)
{
    struct waiter w[100];
    for (int i = 0; i < 100; i++) {
        waiter_init(&w[i]);
        sp_io_nop(io, &w[i].op);
    }
    CHECK_EQ_INT(sp_io_inflight(io), 100);
    waiter_wait_n(io, &w[99], 1);
    for (int i = 0; i < 100; i++) {
        CHECK(w[i].final && w[i].res == 0);
    }
    CHECK_EQ_INT(sp_io_inflight(io), 0);

    uint64_t t0 = sp_io_now_ns(io);
    struct waiter t;
    CHECK_EQ_INT(RUN(io, &t, sp_io_timeout(io, &t.op, 5000000)), -ETIME);
    CHECK(sp_io_now_ns(io) - t0 >= 5000000);

    struct waiter c;
    waiter_init(&t);
    sp_io_timeout(io, &t.op, 10000000000ull);
    CHECK_EQ_INT(RUN(io, &c, sp_io_cancel(io, &c.op, &t.op)), 0);
    waiter_wait_n(io, &t, 1);
    CHECK_EQ_INT(t.res, -ECANCELED);

    /* A poll with a timeout and nothing to do waits about that long. */
    t0 = sp_io_now_ns(io);
    sp_io_poll(io, 2000000);
    CHECK(sp_io_now_ns(io) - t0 >= 1000000);
}

struct list_ctx {
    int files, dirs;
};

static int list_cb(void *ctx, const char *name, bool is_dir)
{
    struct list_ctx *l = ctx;
    *(is_dir ? &l->dirs : &l->files) += 1;
    return 0;
}

static void test_files(struct sp_io *io)
{
    char dir[] = "/tmp/sp_io_uring_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    int dfd = sp_io_open_sync(io, dir, O_RDONLY | O_DIRECTORY, 0);
    REQUIRE(dfd >= 0);
    struct waiter w;
    CHECK_EQ_INT(RUN(io, &w, sp_io_mkdirat(io, &w.op, dfd, "sub", 0755)), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_mkdirat(io, &w.op, dfd, "sub", 0755)), -EEXIST);
    int fd = RUN(io, &w, sp_io_openat(io, &w.op, dfd, "sub/a", O_CREAT | O_RDWR, 0644));
    REQUIRE(fd >= 0);
    char buf[8192];
    memset(buf, 'x', sizeof(buf));
    CHECK_EQ_INT(RUN(io, &w, sp_io_write(io, &w.op, fd, buf, 8192, 0)), 8192);
    CHECK_EQ_INT(RUN(io, &w, sp_io_fsync(io, &w.op, fd, true)), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_fsync(io, &w.op, fd, false)), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_fallocate(io, &w.op, fd, 0, 0, 65536)), 0);
    uint64_t size = 0;
    CHECK_EQ_INT(sp_io_fsize_sync(io, fd, &size), 0);
    CHECK_EQ_INT(size, 65536);
    char rd[100];
    CHECK_EQ_INT(RUN(io, &w, sp_io_read(io, &w.op, fd, rd, 100, 8150)), 100);
    CHECK(rd[0] == 'x' && rd[41] == 'x' && rd[42] == 0);
    CHECK_EQ_INT(sp_io_ftruncate_sync(io, fd, 100), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_read(io, &w.op, fd, rd, 100, 100)), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_close(io, &w.op, fd)), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_renameat(io, &w.op, dfd, "sub/a", dfd, "sub/b")), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_fsync(io, &w.op, dfd, false)), 0);
    struct list_ctx l = {0};
    char sub[64];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    CHECK_EQ_INT(sp_io_listdir_sync(io, sub, list_cb, &l), 0);
    CHECK(l.files == 1 && l.dirs == 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_unlinkat(io, &w.op, dfd, "sub/a", 0)), -ENOENT);
    CHECK_EQ_INT(RUN(io, &w, sp_io_unlinkat(io, &w.op, dfd, "sub/b", 0)), 0);
    CHECK_EQ_INT(RUN(io, &w, sp_io_unlinkat(io, &w.op, dfd, "sub", AT_REMOVEDIR)), 0);
    CHECK_EQ_INT(sp_io_close_sync(io, dfd), 0);
    CHECK_EQ_INT(sp_io_mkdir_sync(io, sub, 0755), 0);
    rmdir(sub);
    rmdir(dir);
}

static void test_sockets(struct sp_io *io)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(ls >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    REQUIRE(bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ls, 16) == 0);
    REQUIRE(getsockname(ls, (struct sockaddr *)&sa, &sl) == 0);

    struct waiter acc, con;
    waiter_init(&acc);
    sp_io_accept(io, &acc.op, ls, true);
    int cs[2];
    for (int i = 0; i < 2; i++) {
        cs[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK_EQ_INT(RUN(io, &con, sp_io_connect(io, &con.op, cs[i], (struct sockaddr *)&sa, sl)),
                     0);
    }
    waiter_wait_n(io, &acc, 2);
    CHECK_EQ_INT(acc.completions, 2);
    CHECK(acc.res >= 0);
    int srv = acc.res;
    bool multishot = (sp_io_features(io) & SP_IO_FEAT_ACCEPT_MULTISHOT) != 0;
    CHECK(!multishot || (acc.flags & SP_IO_F_MORE));

    struct sp_io_bufring *br = NULL;
    int rc = sp_io_bufring_create(io, &br, 8, 256);
    if (rc == 0) {
        struct waiter rv;
        waiter_init(&rv);
        sp_io_recv_multishot(io, &rv.op, srv, br);
        struct waiter s;
        for (int i = 0; i < 3; i++) {
            char msg[16];
            int n = snprintf(msg, sizeof(msg), "hello %d", i);
            int before = rv.completions;
            CHECK_EQ_INT(RUN(io, &s, sp_io_send(io, &s.op, cs[1], msg, (uint32_t)n)), n);
            waiter_wait_n(io, &rv, before + 1);
            CHECK(rv.flags & SP_IO_F_BUFFER);
            CHECK(rv.res == n);
            uint16_t id = sp_io_buffer_id(rv.flags);
            CHECK(memcmp(sp_io_bufring_buf(br, id), msg, (size_t)n) == 0);
            sp_io_bufring_recycle(br, id);
            if (!(rv.flags & SP_IO_F_MORE)) {
                waiter_init(&rv);
                sp_io_recv_multishot(io, &rv.op, srv, br);
            }
        }
        struct waiter c;
        RUN(io, &c, sp_io_cancel(io, &c.op, &rv.op));
        for (int i = 0; i < 1000 && !rv.final; i++) {
            sp_io_poll(io, 1000000);
            sp_io_run_completions(io, 100);
        }
        CHECK(rv.final);
        sp_io_bufring_destroy(io, br);
    } else {
        CHECK_EQ_INT(rc, -EOPNOTSUPP);
    }

    /* A zero-copy send completes with the result, then the notification. */
    static char big[65536];
    memset(big, 'z', sizeof(big));
    struct waiter zc;
    waiter_init(&zc);
    sp_io_send_zc(io, &zc.op, cs[1], big, sizeof(big));
    waiter_wait_n(io, &zc, 1);
    CHECK_EQ_INT(zc.res_first, (int)sizeof(big));
    bool notif_follows = (zc.flags_first & SP_IO_F_MORE) != 0;
    /* On loopback the kernel lets go of the pages once the peer has read them. */
    static char sink[65536];
    size_t got = 0;
    struct waiter r;
    while (got < sizeof(big)) {
        int n = RUN(io, &r, sp_io_recv(io, &r.op, srv, sink, sizeof(sink)));
        REQUIRE(n > 0);
        got += (size_t)n;
    }
    if (notif_follows) {
        waiter_wait_n(io, &zc, 2);
        CHECK(zc.flags & SP_IO_F_NOTIF);
    }
    CHECK(zc.final);

    /*
     * The vectored zero-copy send: same two completions where the feature
     * is on, one plain completion where it is not; the bytes arrive in
     * iovec order either way.
     */
    static char part[3][40000];
    for (int i = 0; i < 3; i++) {
        memset(part[i], 'a' + i, sizeof(part[i]));
    }
    struct iovec ziov[3] = {{part[0], sizeof(part[0])}, {part[1], 1}, {part[2], sizeof(part[2])}};
    size_t zlen = sizeof(part[0]) + 1 + sizeof(part[2]);
    waiter_init(&zc);
    sp_io_sendmsg_zc(io, &zc.op, cs[1], ziov, 3);
    waiter_wait_n(io, &zc, 1);
    CHECK_EQ_INT(zc.res_first, (int)zlen);
    notif_follows = (zc.flags_first & SP_IO_F_MORE) != 0;
    CHECK(!notif_follows || (sp_io_features(io) & SP_IO_FEAT_SENDMSG_ZC));
    got = 0;
    bool in_order = true;
    while (got < zlen) {
        int n = RUN(io, &r, sp_io_recv(io, &r.op, srv, sink, sizeof(sink)));
        REQUIRE(n > 0);
        for (int i = 0; i < n; i++) {
            size_t at = got + (size_t)i;
            char want = at < sizeof(part[0]) ? 'a' : at == sizeof(part[0]) ? 'b' : 'c';
            in_order = in_order && sink[i] == want;
        }
        got += (size_t)n;
    }
    CHECK(in_order);
    if (notif_follows) {
        waiter_wait_n(io, &zc, 2);
        CHECK(zc.flags & SP_IO_F_NOTIF);
    }
    CHECK(zc.final);
    struct iovec iov[2] = {{big, 10}, {big, 20}};
    CHECK_EQ_INT(RUN(io, &r, sp_io_sendmsg(io, &r.op, cs[1], iov, 2)), 30);

    struct waiter c;
    RUN(io, &c, sp_io_cancel(io, &c.op, &acc.op));
    for (int i = 0; i < 1000 && !acc.final; i++) {
        sp_io_poll(io, 1000000);
        sp_io_run_completions(io, 100);
    }
    CHECK(acc.final);
    CHECK_EQ_INT(sp_io_inflight(io), 0);
    close(srv);
    close(cs[0]);
    close(cs[1]);
    close(ls);
}

struct waker {
    struct sp_io *target;
    uint32_t cap;
    bool use_ring;
};

static void *waker_main(void *arg)
{
    struct waker *wk = arg;
    struct sp_io *own = wk->use_ring ? create(wk->cap) : NULL;
    usleep(20000);
    sp_io_wake(own, wk->target);
    if (own != NULL) {
        for (int i = 0; i < 50; i++) {
            sp_io_poll(own, 0); /* the wake-up rides on this submission */
            usleep(1000);
        }
        sp_io_destroy(own);
    }
    return NULL;
}

/* A poll with no timeout ends only because another thread wakes it. */
static void test_wake(uint32_t cap, bool use_ring)
{
    struct sp_io *io = create(cap);
    for (int round = 0; round < 3; round++) {
        struct waker wk = {io, cap, use_ring};
        pthread_t th;
        REQUIRE(pthread_create(&th, NULL, waker_main, &wk) == 0);
        uint64_t t0 = sp_io_now_ns(io);
        CHECK(sp_io_poll(io, UINT64_MAX) >= 0);
        CHECK(sp_io_now_ns(io) - t0 < 5000000000ull);
        pthread_join(th, NULL);
    }
    /* A wake-up sent before the sleep is not lost. */
    sp_io_wake(NULL, io);
    uint64_t t0 = sp_io_now_ns(io);
    sp_io_poll(io, 5000000000ull);
    CHECK(sp_io_now_ns(io) - t0 < 1000000000ull);
    sp_io_destroy(io);
}

int main(void)
{
    test_cap_parse();
    test_features();
    struct sp_io *io = create(0);
    char buf[256];
    sp_io_features_str(sp_io_features(io), buf, sizeof(buf));
    fprintf(stderr, "features in use (cap from SPINDLE_IO_URING_FEATURES): %s\n", buf);
    CHECK_EQ_STR(sp_io_impl_name(io), "io_uring");
    test_nop_and_timeout(io);
    test_files(io);
    test_sockets(io);
    sp_io_destroy(io);
    test_wake(SP_IO_KERNEL(6, 1), true);
    test_wake(SP_IO_KERNEL(999, 0), true);
    test_wake(SP_IO_KERNEL(999, 0), false);
    return CHECK_DONE();
}
