/*
 * core/rx.c: the reactor of core/rx.h.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rx.h"
#include "core/xq.h"

/* How long a shard with messages stuck in an overflow list waits before retrying. */
#define RX_OVERFLOW_RETRY_NS 100000ull

struct rx_shard {
    uint32_t id;
    pthread_t thread;
    int cpu; /* -1 when not pinned */
    struct sp_io *io;
    struct sp_timers timers;
    struct sp_task *ready_head, *ready_tail;
    struct sp_mem_budget mem;
    uint32_t holds;
    bool stopping_done;
    bool quiet_counted;
    int init_rc;
};

static struct {
    struct rx_shard *shards;
    uint32_t n;
    struct sp_rx_params params;
    struct sp_rx_hooks hooks;
    atomic_bool stop;
    atomic_bool done;
    atomic_bool drain_timed_out;
    atomic_uint quiet;
    atomic_int wake_fds[SP_RX_SHARDS_MAX]; /* for sp_rx_stop from signal handlers */
    pthread_barrier_t ready;               /* shards initialised */
    pthread_barrier_t inited;              /* init hooks have run */
    pthread_barrier_t go;                  /* main has checked them */
    pthread_barrier_t exit;                /* every shard out of its loop */
    bool abort_start;
    bool running;
} rx;

static _Thread_local struct rx_shard *tls_shard;

static struct rx_shard *me(void)
{
    SP_ASSERT(tls_shard != NULL);
    return tls_shard;
}

int sp_rx_shard_id(void)
{
    return tls_shard != NULL ? (int)tls_shard->id : -1;
}

uint32_t sp_rx_shard_count(void)
{
    return rx.n;
}

struct sp_io *sp_rx_io(void)
{
    return me()->io;
}

struct sp_io *sp_rx_io_of(uint32_t shard)
{
    SP_ASSERT(shard < rx.n);
    return rx.shards[shard].io;
}

struct sp_mem_budget *sp_rx_mem(void)
{
    return &me()->mem;
}

uint64_t sp_rx_now_ns(void)
{
    return sp_io_now_ns(me()->io);
}

bool sp_rx_stopping(void)
{
    return atomic_load(&rx.stop);
}

int sp_rx_timer_start(struct sp_timer *t, uint64_t delay_ms, sp_timer_fn fn)
{
    struct rx_shard *s = me();
    return sp_timers_add(&s->timers, t, sp_io_now_ns(s->io) + delay_ms * 1000000ull, fn);
}

bool sp_rx_timer_cancel(struct sp_timer *t)
{
    return sp_timers_del(&me()->timers, t);
}

void sp_rx_defer(struct sp_task *t)
{
    struct rx_shard *s = me();
    SP_ASSERT(t->fn != NULL);
    t->next = NULL;
    if (s->ready_tail != NULL) {
        s->ready_tail->next = t;
    } else {
        s->ready_head = t;
    }
    s->ready_tail = t;
}

void sp_rx_hold(void)
{
    me()->holds++;
}

void sp_rx_release(void)
{
    struct rx_shard *s = me();
    SP_ASSERT(s->holds > 0);
    s->holds--;
}

void sp_rx_stop(void)
{
    atomic_store(&rx.stop, true);
    for (uint32_t i = 0; i < SP_RX_SHARDS_MAX; i++) {
        int fd = atomic_load(&rx.wake_fds[i]);
        if (fd >= 0) {
            uint64_t one = 1;
            ssize_t n = write(fd, &one, sizeof(one));
            (void)n;
        }
    }
}

/* ---- The loop ----------------------------------------------------------- */

/* Runs the ready tasks queued before this tick, up to budget. */
static int run_ready(struct rx_shard *s, int budget)
{
    struct sp_task *tail = s->ready_tail;
    int ran = 0;
    while (s->ready_head != NULL && ran < budget) {
        struct sp_task *t = s->ready_head;
        s->ready_head = t->next;
        if (s->ready_head == NULL) {
            s->ready_tail = NULL;
        }
        ran++;
        t->fn(t);
        if (t == tail) {
            break;
        }
    }
    return ran;
}

static bool shard_quiet(struct rx_shard *s)
{
    return sp_io_inflight(s->io) == 0 && sp_io_completions_pending(s->io) == 0 &&
           s->ready_head == NULL && s->holds == 0 && sp_xq_outstanding() == 0 && !sp_xq_pending();
}

static void wake_all(struct rx_shard *s)
{
    for (uint32_t i = 0; i < rx.n; i++) {
        if (i != s->id) {
            sp_io_wake(NULL, rx.shards[i].io);
        }
    }
}

/*
 * The drain. A shard counts itself quiet once; it stops firing timers then,
 * so only a message from a shard that is not quiet can wake it up again (and
 * that shard, with a message unreplied, is not counted). So when the count
 * reaches n, every shard is quiet and nothing is in flight anywhere.
 */
static bool drain_step(struct rx_shard *s, uint64_t stop_ns)
{
    if (!s->stopping_done) {
        s->stopping_done = true;
        if (rx.hooks.stopping != NULL) {
            rx.hooks.stopping(rx.hooks.ctx);
        }
    }
    bool quiet = shard_quiet(s);
    if (quiet && !s->quiet_counted) {
        s->quiet_counted = true;
        if (atomic_fetch_add(&rx.quiet, 1) + 1 == rx.n) {
            atomic_store(&rx.done, true);
            wake_all(s);
        }
    } else if (!quiet && s->quiet_counted) {
        s->quiet_counted = false;
        atomic_fetch_sub(&rx.quiet, 1);
    }
    if (!atomic_load(&rx.done) &&
        sp_io_now_ns(s->io) - stop_ns > (uint64_t)rx.params.drain_ms * 1000000ull) {
        sp_log_warn("shutdown: drain took over %u ms, stopping anyway", rx.params.drain_ms);
        atomic_store(&rx.drain_timed_out, true);
        atomic_store(&rx.done, true);
        wake_all(s);
    }
    return atomic_load(&rx.done);
}

static uint64_t tick_timeout(struct rx_shard *s, bool *slept)
{
    *slept = false;
    if (s->ready_head != NULL || sp_io_completions_pending(s->io) > 0) {
        return 0;
    }
    bool timers_live = !s->quiet_counted;
    uint64_t next = timers_live ? sp_timers_next_ns(&s->timers) : UINT64_MAX;
    uint64_t now = sp_io_now_ns(s->io);
    if (next <= now) {
        return 0;
    }
    if (!sp_xq_prepare_sleep()) {
        return 0;
    }
    *slept = true;
    uint64_t timeout = next == UINT64_MAX ? UINT64_MAX : next - now;
    if (sp_xq_overflowing()) {
        timeout = SP_MIN(timeout, RX_OVERFLOW_RETRY_NS);
    }
    if (atomic_load(&rx.stop) && !s->stopping_done) {
        timeout = 0;
    }
    return timeout;
}

static void rx_loop(struct rx_shard *s)
{
    int budget = (int)rx.params.tick_budget;
    uint64_t stop_ns = 0;
    for (;;) {
        bool slept;
        uint64_t timeout = tick_timeout(s, &slept);
        int rc = sp_io_poll(s->io, timeout);
        if (slept) {
            sp_xq_sleep_done();
        }
        if (rc < 0) {
            sp_log_error("io poll failed: %d", rc);
        }
        sp_io_run_completions(s->io, budget);
        if (!s->quiet_counted) {
            sp_timers_expire(&s->timers, sp_io_now_ns(s->io), budget);
        }
        sp_xq_poll(budget);
        run_ready(s, budget);
        sp_xq_flush();
        if (atomic_load(&rx.stop)) {
            if (stop_ns == 0) {
                stop_ns = sp_io_now_ns(s->io);
            }
            if (drain_step(s, stop_ns)) {
                break;
            }
        }
    }
}

/* ---- Threads ------------------------------------------------------------ */

static void log_features(struct rx_shard *s)
{
    char buf[256];
    uint32_t k = sp_io_kernel_version();
    uint32_t cap = rx.params.io.kernel_cap;
    if (cap == 0) {
        (void)sp_io_kernel_cap_from_env(&cap);
    }
    sp_io_features_str(sp_io_features(s->io), buf, sizeof(buf));
    if (cap != 0) {
        sp_log_info("io_uring on kernel %u.%u, capped at %u.%u: %s", k >> 16, k & 0xffff, cap >> 16,
                    cap & 0xffff, buf);
    } else {
        sp_log_info("io_uring on kernel %u.%u: %s", k >> 16, k & 0xffff, buf);
    }
}

static void *shard_main(void *arg)
{
    struct rx_shard *s = arg;
    tls_shard = s;
    sp_log_set_shard((int)s->id);
    if (s->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(s->cpu, &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
            sp_log_warn("could not pin to cpu %d", s->cpu);
        }
    }
    sp_timers_init(&s->timers);
    sp_mem_budget_init(&s->mem, rx.params.mem_bytes);
    s->init_rc = sp_io_create_uring(&s->io, &rx.params.io);
    if (s->init_rc == 0) {
        atomic_store(&rx.wake_fds[s->id], sp_io_wake_fd(s->io));
        if (s->id == 0) {
            log_features(s);
        }
    } else {
        sp_log_error("io_uring setup failed: %s", strerror(-s->init_rc));
    }
    /* Every ring exists before anyone may send to it. */
    pthread_barrier_wait(&rx.ready);
    if (s->init_rc == 0 && rx.hooks.init != NULL) {
        s->init_rc = rx.hooks.init(rx.hooks.ctx);
    }
    pthread_barrier_wait(&rx.inited);
    pthread_barrier_wait(&rx.go);
    if (!rx.abort_start) {
        rx_loop(s);
        if (rx.hooks.fini != NULL) {
            rx.hooks.fini(rx.hooks.ctx);
        }
    }
    /* Nobody sends or wakes after this point, so rings may go. */
    pthread_barrier_wait(&rx.exit);
    atomic_store(&rx.wake_fds[s->id], -1);
    sp_io_destroy(s->io);
    s->io = NULL;
    sp_timers_fini(&s->timers);
    tls_shard = NULL;
    return NULL;
}

static uint32_t allowed_cpus(int *cpus, uint32_t max)
{
    cpu_set_t set;
    uint32_t n = 0;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return 0;
    }
    for (int c = 0; c < CPU_SETSIZE && n < max; c++) {
        if (CPU_ISSET(c, &set)) {
            cpus[n++] = c;
        }
    }
    return n;
}

static void rx_reset(void)
{
    free(rx.shards);
    rx.shards = NULL;
    rx.n = 0;
    rx.running = false;
}

/*
 * Start-up runs in phases, each ended by a barrier: every ring exists
 * (ready), every init hook has run (inited), main has decided whether to
 * go on (go). Shards meet once more (exit) before destroying their rings.
 */
int sp_rx_start(const struct sp_rx_params *params, const struct sp_rx_hooks *hooks)
{
    SP_ASSERT(!rx.running);
    static int cpus[SP_RX_SHARDS_MAX];
    uint32_t ncpu = allowed_cpus(cpus, SP_RX_SHARDS_MAX);
    rx.params = *params;
    rx.hooks = hooks != NULL ? *hooks : (struct sp_rx_hooks){0};
    uint32_t n = params->shards ? params->shards : (ncpu ? ncpu : 1);
    if (n > SP_RX_SHARDS_MAX) {
        return -EINVAL;
    }
    if (rx.params.tick_budget == 0) {
        rx.params.tick_budget = SP_RX_TICK_BUDGET;
    }
    if (rx.params.drain_ms == 0) {
        rx.params.drain_ms = SP_RX_DRAIN_MS;
    }
    if (rx.params.mem_bytes == 0) {
        rx.params.mem_bytes = SP_RX_MEM_BYTES;
    }
    rx.shards = calloc(n, sizeof(*rx.shards));
    if (rx.shards == NULL) {
        return -ENOMEM;
    }
    int rc = sp_xq_setup(n);
    if (rc < 0) {
        rx_reset();
        return rc;
    }
    rx.n = n;
    rx.running = true;
    rx.abort_start = false;
    atomic_store(&rx.stop, false);
    atomic_store(&rx.done, false);
    atomic_store(&rx.drain_timed_out, false);
    atomic_store(&rx.quiet, 0);
    for (uint32_t i = 0; i < SP_RX_SHARDS_MAX; i++) {
        atomic_store(&rx.wake_fds[i], -1);
    }
    bool pin = !params->no_pin && n <= ncpu;
    if (!pin) {
        sp_log_info("%u shards on %u cpus: shards are not pinned", n, ncpu);
    }
    pthread_barrier_init(&rx.ready, NULL, n + 1);
    pthread_barrier_init(&rx.inited, NULL, n + 1);
    pthread_barrier_init(&rx.go, NULL, n + 1);
    pthread_barrier_init(&rx.exit, NULL, n);
    for (uint32_t i = 0; i < n; i++) {
        struct rx_shard *s = &rx.shards[i];
        s->id = i;
        s->cpu = pin ? cpus[i] : -1;
        rc = pthread_create(&s->thread, NULL, shard_main, s);
        SP_ASSERT(rc == 0); /* failing to make a thread at start-up is not recoverable */
    }
    pthread_barrier_wait(&rx.ready);
    pthread_barrier_wait(&rx.inited);
    rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = rx.shards[i].init_rc < 0 ? rx.shards[i].init_rc : rx.shards[i].init_rc ? -EINVAL : 0;
    }
    rx.abort_start = rc != 0;
    pthread_barrier_wait(&rx.go);
    if (rc != 0) {
        (void)sp_rx_join();
    }
    return rc;
}

int sp_rx_join(void)
{
    SP_ASSERT(rx.running);
    for (uint32_t i = 0; i < rx.n; i++) {
        pthread_join(rx.shards[i].thread, NULL);
    }
    pthread_barrier_destroy(&rx.ready);
    pthread_barrier_destroy(&rx.inited);
    pthread_barrier_destroy(&rx.go);
    pthread_barrier_destroy(&rx.exit);
    sp_xq_teardown();
    rx_reset();
    return atomic_load(&rx.drain_timed_out) ? -ETIMEDOUT : 0;
}
