/*
 * bench/sb_limits.c: the machine's limits that Spindle's figures are
 * divided by, measured by the same program under the same pinning.
 *
 *   limits tcp    a raw loopback TCP blast from this process to a forked
 *                 peer (--peer-cpu), over --connections sockets, writes of
 *                 --tcp-write-bytes packed with --size messages; then a
 *                 ping-pong of one --size message for the round-trip floor
 *   limits disk   on --dir: sequential O_DIRECT writes (aligned buffers,
 *                 --disk-block bytes, --disk-qd in flight through io_uring,
 *                 preallocated as Spindle's segments are) ended by one
 *                 fdatasync; then the latency of small appends each
 *                 followed by fdatasync (--sync-bytes, --sync-count).
 *                 --buffered for filesystems without O_DIRECT (tmpfs).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/sb_common.h"

#define TCP_CONNECTIONS_MAX 1024u
#define TCP_READ_BYTES      (1u << 20)
#define RTT_ROUNDS_MAX      200000u
#define RTT_SECONDS         2.0
#define DISK_ALIGN          4096u
#define DISK_QD_MAX         64u

/* ---- Loopback TCP -------------------------------------------------------------- */

/* The peer: drains every blast connection to EOF, then echoes one connection. */
static void tcp_peer(int lfd, uint32_t conns)
{
    char *buf = malloc(TCP_READ_BYTES);
    int ep = epoll_create1(0);
    if (buf == NULL || ep < 0) {
        _exit(1);
    }
    for (uint32_t i = 0; i < conns; i++) {
        int fd = accept(lfd, NULL, NULL);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            _exit(1);
        }
    }
    uint32_t open = conns;
    while (open > 0) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            ssize_t r = read(evs[i].data.fd, buf, TCP_READ_BYTES);
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd, NULL);
                close(evs[i].data.fd);
                open--;
            }
        }
        if (n < 0 && errno != EINTR) {
            _exit(1);
        }
    }
    int fd = accept(lfd, NULL, NULL);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (;;) {
        ssize_t r = read(fd, buf, TCP_READ_BYTES);
        if (r <= 0) {
            break;
        }
        for (ssize_t done = 0; done < r;) {
            ssize_t w = write(fd, buf + done, (size_t)(r - done));
            if (w <= 0) {
                _exit(1);
            }
            done += w;
        }
    }
    _exit(0);
}

static int tcp_connect(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

struct tcp_result {
    uint64_t bytes;
    double seconds;
    struct sb_series series;
    struct sb_hist rtt;
};

static int tcp_blast(const struct sb_opts *o, const struct sockaddr_in *a, struct tcp_result *res)
{
    uint32_t conns = o->connections;
    int fds[TCP_CONNECTIONS_MAX];
    uint32_t msg = (uint32_t)sb_size_mean(&o->size);
    size_t chunk = o->tcp_write_bytes > msg ? o->tcp_write_bytes / msg * msg : msg;
    char *buf = malloc(chunk);
    if (buf == NULL) {
        return -ENOMEM;
    }
    struct sb_rng rng = {42};
    for (size_t i = 0; i < chunk; i++) {
        buf[i] = (char)sb_rand(&rng);
    }
    int rc = 0;
    uint32_t opened = 0;
    for (; opened < conns; opened++) {
        fds[opened] = tcp_connect(a);
        if (fds[opened] < 0) {
            rc = fds[opened];
            break;
        }
    }
    double duration = o->duration_s > 0 ? o->duration_s : 10.0;
    int64_t t0 = sb_now_ns(), now = t0, tick = t0, end = t0 + (int64_t)(duration * 1e9);
    uint64_t tick_bytes = 0;
    for (uint64_t i = 0; rc == 0 && now < end; i++) {
        ssize_t w = write(fds[i % conns], buf, chunk);
        if (w <= 0) {
            rc = w < 0 ? -errno : -EPIPE;
            break;
        }
        res->bytes += (uint64_t)w;
        tick_bytes += (uint64_t)w;
        now = sb_now_ns();
        if (now - tick >= 1000000000) {
            struct sb_point p = {.t_s = (double)(now - t0) / 1e9,
                                 .msgs = tick_bytes / msg,
                                 .bytes = tick_bytes,
                                 .interval_s = (double)(now - tick) / 1e9};
            sb_series_add(&res->series, &p);
            if (!o->quiet) {
                fprintf(stderr, "[%5.1fs] tcp %.0f MB/s\n", p.t_s, (double)tick_bytes / 1e6);
            }
            tick = now;
            tick_bytes = 0;
        }
    }
    res->seconds = (double)(now - t0) / 1e9;
    for (uint32_t i = 0; i < opened; i++) {
        close(fds[i]);
    }
    free(buf);
    return rc;
}

static int tcp_rtt(const struct sb_opts *o, const struct sockaddr_in *a, struct tcp_result *res)
{
    uint32_t msg = (uint32_t)sb_size_mean(&o->size);
    char *buf = calloc(1, msg > 0 ? msg : 1);
    int fd = tcp_connect(a);
    if (buf == NULL || fd < 0) {
        free(buf);
        return fd < 0 ? fd : -ENOMEM;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = 0;
    int64_t t0 = sb_now_ns(), end = t0 + (int64_t)(RTT_SECONDS * 1e9);
    for (uint32_t round = 0; rc == 0 && round < RTT_ROUNDS_MAX && msg > 0; round++) {
        int64_t s = sb_now_ns();
        if (s >= end) {
            break;
        }
        if (write(fd, buf, msg) != (ssize_t)msg) {
            rc = -EPIPE;
            break;
        }
        for (uint32_t got = 0; got < msg;) {
            ssize_t r = read(fd, buf + got, msg - got);
            if (r <= 0) {
                rc = -EPIPE;
                break;
            }
            got += (uint32_t)r;
        }
        sb_hist_record(&res->rtt, (uint64_t)(sb_now_ns() - s));
    }
    close(fd);
    free(buf);
    return rc;
}

static void tcp_report(const struct sb_opts *o, const struct tcp_result *r, const char *peer_cpus)
{
    double mbps = r->seconds > 0 ? (double)r->bytes / r->seconds / 1e6 : 0;
    double msgs = mbps * 1e6 / sb_size_mean(&o->size);
    if (!o->json) {
        char s[160];
        sb_hist_summary(&r->rtt, s, sizeof(s));
        printf("limits tcp: %u connection(s), %.0f B messages: %.1f MB/s, %.0f msg/s over "
               "%.1f s; round trip %s (peer on CPUs %s)\n",
               o->connections, sb_size_mean(&o->size), mbps, msgs, r->seconds, s, peer_cpus);
        return;
    }
    struct sb_json j;
    sb_json_begin(&j, stdout);
    sb_json_str(&j, "tool", "spindle-bench");
    sb_json_str(&j, "mode", "limits-tcp");
    sb_json_config(&j, o);
    sb_json_int(&j, "write_bytes", o->tcp_write_bytes);
    sb_json_cpus(&j, "cpus");
    sb_json_str(&j, "peer_cpus", peer_cpus);
    sb_json_int(&j, "bytes", (int64_t)r->bytes);
    sb_json_num(&j, "seconds", r->seconds);
    sb_json_obj(&j, "throughput");
    sb_json_num(&j, "mb_per_s", mbps);
    sb_json_num(&j, "msgs_per_s", msgs);
    sb_json_obj_end(&j);
    sb_json_hist(&j, "round_trip", &r->rtt);
    sb_json_series(&j, "series", &r->series);
    sb_json_bool(&j, "ok", true);
    sb_json_end(&j);
}

int sb_limits_tcp(const struct sb_opts *o)
{
    if (o->connections < 1 || o->connections > TCP_CONNECTIONS_MAX) {
        fprintf(stderr, "limits tcp: --connections must be 1..%u\n", TCP_CONNECTIONS_MAX);
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(lfd, (int)o->connections + 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
        perror("limits tcp: listen");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("limits tcp: fork");
        return 1;
    }
    if (pid == 0) {
        if (o->peer_cpus != NULL && sb_pin(0, o->peer_cpus) < 0) {
            _exit(1);
        }
        tcp_peer(lfd, o->connections);
    }
    close(lfd);
    struct tcp_result *r = calloc(1, sizeof(*r));
    if (r == NULL || sb_series_init(&r->series, SB_SERIES_POINTS) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        free(r);
        return 1;
    }
    sb_hist_reset(&r->rtt);
    int rc = tcp_blast(o, &a, r);
    if (rc == 0) {
        rc = tcp_rtt(o, &a, r);
    }
    int status = 0;
    if (rc < 0) {
        kill(pid, SIGKILL);
    }
    waitpid(pid, &status, 0);
    if (rc == 0) {
        tcp_report(o, r, o->peer_cpus != NULL ? o->peer_cpus : "any");
    } else {
        fprintf(stderr, "limits tcp: %s\n", strerror(-rc));
    }
    sb_series_fini(&r->series);
    free(r);
    return rc == 0 ? 0 : 1;
}

/* ---- Disk ------------------------------------------------------------------------ */

static const char *fs_name(long type)
{
    switch ((unsigned long)type) {
    case 0xEF53:
        return "ext4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs";
    case 0x794C7630:
        return "overlayfs";
    default:
        return "other";
    }
}

struct disk_result {
    uint64_t bytes;
    double seconds;
    struct sb_series series;
    struct sb_hist sync;
    uint32_t sync_bytes;
};

struct disk_writer {
    struct io_uring ring;
    int fd;
    uint32_t block;
    uint64_t next_off, total;
    int64_t end_ns;
    uint32_t in_flight;
};

static void disk_submit(struct disk_writer *w, void *buf, uint32_t slot)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    SP_ASSERT(sqe != NULL);
    io_uring_prep_write(sqe, w->fd, buf, w->block, w->next_off);
    io_uring_sqe_set_data64(sqe, slot);
    w->next_off += w->block;
    w->in_flight++;
}

/* Sequential writes, qd in flight, until total bytes or the time is up, then one fdatasync. */
static int disk_sequential(const struct sb_opts *o, int fd, struct disk_result *r)
{
    uint32_t qd = SP_MAX(1u, SP_MIN(o->disk_qd, DISK_QD_MAX));
    struct disk_writer w = {.fd = fd, .block = SP_ALIGN_UP(o->disk_block, DISK_ALIGN)};
    w.total = o->disk_bytes / w.block * w.block;
    void *bufs[DISK_QD_MAX];
    if (io_uring_queue_init(qd * 2, &w.ring, 0) < 0) {
        return -ENOSYS;
    }
    struct sb_rng rng = {7};
    uint32_t have = 0;
    for (; have < qd; have++) {
        if (posix_memalign(&bufs[have], DISK_ALIGN, w.block) != 0) {
            break;
        }
        for (size_t i = 0; i < w.block / 8; i++) {
            ((uint64_t *)bufs[have])[i] = sb_rand(&rng);
        }
    }
    int rc = have == qd ? 0 : -ENOMEM;
    if (rc == 0 && fallocate(fd, 0, 0, (off_t)w.total) < 0 && errno != EOPNOTSUPP) {
        rc = -errno;
    }
    double limit = o->duration_s > 0 ? o->duration_s : 30.0;
    int64_t t0 = sb_now_ns(), tick = t0, now = t0;
    w.end_ns = t0 + (int64_t)(limit * 1e9);
    uint64_t tick_bytes = 0;
    for (uint32_t i = 0; rc == 0 && i < qd && w.next_off < w.total; i++) {
        disk_submit(&w, bufs[i], i);
    }
    while (w.in_flight > 0) {
        io_uring_submit(&w.ring);
        struct io_uring_cqe *cqe = NULL;
        int wrc = io_uring_wait_cqe(&w.ring, &cqe);
        if (wrc < 0) {
            rc = rc != 0 ? rc : wrc;
            break;
        }
        int res = cqe->res;
        uint32_t slot = (uint32_t)io_uring_cqe_get_data64(cqe);
        io_uring_cqe_seen(&w.ring, cqe);
        w.in_flight--;
        if (res != (int)w.block) {
            rc = rc != 0 ? rc : (res < 0 ? res : -EIO);
            continue;
        }
        r->bytes += w.block;
        tick_bytes += w.block;
        now = sb_now_ns();
        if (now - tick >= 1000000000) {
            struct sb_point p = {.t_s = (double)(now - t0) / 1e9,
                                 .msgs = tick_bytes / w.block,
                                 .bytes = tick_bytes,
                                 .interval_s = (double)(now - tick) / 1e9};
            sb_series_add(&r->series, &p);
            if (!o->quiet) {
                fprintf(stderr, "[%5.1fs] disk write %.0f MB/s\n", p.t_s, (double)tick_bytes / 1e6);
            }
            tick = now;
            tick_bytes = 0;
        }
        if (rc == 0 && w.next_off < w.total && now < w.end_ns) {
            disk_submit(&w, bufs[slot], slot);
        }
    }
    if (rc == 0 && fdatasync(fd) < 0) {
        rc = -errno;
    }
    r->seconds = (double)(sb_now_ns() - t0) / 1e9;
    io_uring_queue_exit(&w.ring);
    for (uint32_t i = 0; i < have; i++) {
        free(bufs[i]);
    }
    return rc;
}

/* Appends of sync_bytes, each followed by fdatasync: the latency of both. */
static int disk_sync(const struct sb_opts *o, int fd, struct disk_result *r)
{
    uint32_t n = o->buffered ? SP_MAX(1u, o->sync_bytes) : SP_ALIGN_UP(o->sync_bytes, DISK_ALIGN);
    void *buf = NULL;
    if (posix_memalign(&buf, DISK_ALIGN, n) != 0) {
        return -ENOMEM;
    }
    memset(buf, 'a', n);
    r->sync_bytes = n;
    int64_t end = sb_now_ns() + 10 * 1000000000ll;
    int rc = 0;
    off_t off = 0;
    for (uint32_t i = 0; i < o->sync_count && rc == 0; i++) {
        int64_t s = sb_now_ns();
        if (s >= end) {
            break;
        }
        if (pwrite(fd, buf, n, off) != (ssize_t)n) {
            rc = errno != 0 ? -errno : -EIO;
        } else if (fdatasync(fd) < 0) {
            rc = -errno;
        }
        off += n;
        sb_hist_record(&r->sync, (uint64_t)(sb_now_ns() - s));
    }
    free(buf);
    return rc;
}

static void disk_report(const struct sb_opts *o, const struct disk_result *r, const char *fs)
{
    double mbps = r->seconds > 0 ? (double)r->bytes / r->seconds / 1e6 : 0;
    if (!o->json) {
        char s[160];
        sb_hist_summary(&r->sync, s, sizeof(s));
        printf("limits disk: %s (%s, %s): sequential write %.1f MB/s (%u B blocks, %u in "
               "flight, %.0f MiB in %.1f s); %u B append + fdatasync: %s\n",
               o->dir, fs, o->buffered ? "buffered" : "O_DIRECT", mbps, o->disk_block, o->disk_qd,
               (double)r->bytes / 1048576.0, r->seconds, r->sync_bytes, s);
        return;
    }
    struct sb_json j;
    sb_json_begin(&j, stdout);
    sb_json_str(&j, "tool", "spindle-bench");
    sb_json_str(&j, "mode", "limits-disk");
    sb_json_str(&j, "dir", o->dir);
    sb_json_str(&j, "filesystem", fs);
    sb_json_bool(&j, "direct", !o->buffered);
    sb_json_cpus(&j, "cpus");
    sb_json_obj(&j, "write");
    sb_json_int(&j, "bytes", (int64_t)r->bytes);
    sb_json_int(&j, "block", o->disk_block);
    sb_json_int(&j, "qd", o->disk_qd);
    sb_json_num(&j, "seconds", r->seconds);
    sb_json_num(&j, "mb_per_s", mbps);
    sb_json_obj_end(&j);
    sb_json_int(&j, "sync_bytes", r->sync_bytes);
    sb_json_hist(&j, "fdatasync", &r->sync);
    sb_json_series(&j, "series", &r->series);
    sb_json_bool(&j, "ok", true);
    sb_json_end(&j);
}

static int disk_open(const struct sb_opts *o, const char *path)
{
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (o->buffered ? 0 : O_DIRECT);
    int fd = open(path, flags, 0600);
    return fd >= 0 ? fd : -errno;
}

int sb_limits_disk(const struct sb_opts *o)
{
    if (o->dir == NULL) {
        fprintf(stderr, "limits disk: --dir is required\n");
        return 2;
    }
    struct statfs sf;
    if (statfs(o->dir, &sf) < 0) {
        fprintf(stderr, "limits disk: %s: %s\n", o->dir, strerror(errno));
        return 1;
    }
    const char *fs = fs_name((long)sf.f_type);
    char seq[4096], syn[4096];
    snprintf(seq, sizeof(seq), "%s/.spindle-bench-%d.seq", o->dir, (int)getpid());
    snprintf(syn, sizeof(syn), "%s/.spindle-bench-%d.sync", o->dir, (int)getpid());
    struct disk_result *r = calloc(1, sizeof(*r));
    if (r == NULL || sb_series_init(&r->series, SB_SERIES_POINTS) < 0) {
        free(r);
        return 1;
    }
    sb_hist_reset(&r->sync);
    int fd = disk_open(o, seq);
    int rc = fd;
    if (fd >= 0) {
        rc = disk_sequential(o, fd, r);
        close(fd);
        unlink(seq);
    }
    if (rc >= 0) {
        fd = disk_open(o, syn);
        rc = fd;
        if (fd >= 0) {
            rc = disk_sync(o, fd, r);
            close(fd);
            unlink(syn);
        }
    }
    if (rc < 0) {
        fprintf(stderr, "limits disk: %s (%s): %s%s\n", o->dir, fs, strerror(-rc),
                rc == -EINVAL && !o->buffered ? " (no O_DIRECT here? try --buffered)" : "");
    } else {
        disk_report(o, r, fs);
    }
    sb_series_fini(&r->series);
    free(r);
    return rc < 0 ? 1 : 0;
}
