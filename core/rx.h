/*
 * core/rx.h: the reactor. One thread per shard, each with its own ring
 * (core/io.h), timers (core/timer.h), ready queue, cross-core rings
 * (core/xq.h) and memory budget (core/mem.h).
 *
 * One tick of a shard's loop:
 *
 *   decide the wait: 0 if work is queued; else until the next timer, after
 *     the sleep handshake of core/xq.h (infinite when no timer is armed)
 *   sp_io_poll()          submit SQEs, wait, reap CQEs into the queue
 *   completions           up to tick_budget, run after reaping
 *   timers                those due, in deadline order, up to tick_budget
 *   cross-core messages   up to tick_budget
 *   ready tasks           up to tick_budget; tasks deferred now run next tick
 *   sp_xq_flush()         publish this tick's messages, wake targets
 *
 * Start and stop. sp_rx_start() starts the shards and returns once every
 * shard has run hooks->init (or one failed). sp_rx_stop() may be called
 * from any thread and from a signal handler. Each shard then runs
 * hooks->stopping once (close listeners, cancel long-lived operations),
 * and keeps running until the whole reactor is quiet: on every shard no
 * operation in flight, no completion or ready task queued, no hold
 * (sp_rx_hold), no message sent and not yet replied, no message waiting.
 * Timers keep firing while a shard still has work and are dropped once it
 * is quiet. Past params->drain_ms the shards exit anyway, with a warning.
 * Then hooks->fini runs on each shard, all shards meet, each destroys its
 * ring, and sp_rx_join() returns on the main thread.
 *
 * Threads: sp_rx_start/stop/join on the main thread (stop: anywhere);
 * every other function on a shard thread, about that shard.
 */
#ifndef SP_CORE_RX_H
#define SP_CORE_RX_H

#include <stdint.h>
#include <stdbool.h>

#include "core/io.h"
#include "core/mem.h"
#include "core/timer.h"

#define SP_RX_SHARDS_MAX  1024
#define SP_RX_TICK_BUDGET 256
#define SP_RX_DRAIN_MS    10000
#define SP_RX_MEM_BYTES   (1ull << 30)

struct sp_rx_params {
    uint32_t shards;        /* 0 = the CPUs this process may use */
    struct sp_io_params io; /* per shard ring; io.kernel_cap 0 = SPINDLE_IO_URING_FEATURES */
    uint32_t tick_budget;   /* 0 = SP_RX_TICK_BUDGET */
    uint32_t drain_ms;      /* 0 = SP_RX_DRAIN_MS */
    uint64_t mem_bytes;     /* per shard budget; 0 = SP_RX_MEM_BYTES */
    bool no_pin;            /* never pin shards to CPUs */
};

struct sp_rx_hooks {
    int (*init)(void *ctx);      /* on each shard before its loop; nonzero fails the start */
    void (*stopping)(void *ctx); /* on each shard, once, when the stop begins */
    void (*fini)(void *ctx);     /* on each shard after the drain, ring still alive */
    void *ctx;
};

/* Starts the shards. 0, or -errno (nothing left running). */
int sp_rx_start(const struct sp_rx_params *params, const struct sp_rx_hooks *hooks);
/* Asks every shard to stop. Any thread; async-signal-safe. */
void sp_rx_stop(void);
/* Waits for every shard to finish and frees the reactor. 0, or -ETIMEDOUT if the drain timed out.
 */
int sp_rx_join(void);

/* This shard's index, or -1 off the shards. */
int sp_rx_shard_id(void);
uint32_t sp_rx_shard_count(void);
/* This shard's I/O. Borrowed; shard thread only. */
struct sp_io *sp_rx_io(void);
/* Shard i's I/O: other threads may only sp_io_wake() it. */
struct sp_io *sp_rx_io_of(uint32_t shard);
/* This shard's memory budget. */
struct sp_mem_budget *sp_rx_mem(void);
/* This shard's clock (sp_io_now_ns of its ring). */
uint64_t sp_rx_now_ns(void);
/* Whether a stop has begun. */
bool sp_rx_stopping(void);

/* Arms t to fire after delay_ms (never earlier). t is borrowed while armed. 0 or -ENOMEM. */
int sp_rx_timer_start(struct sp_timer *t, uint64_t delay_ms, sp_timer_fn fn);
bool sp_rx_timer_cancel(struct sp_timer *t);

/* A ready task, embedded by its owner. */
struct sp_task;
typedef void (*sp_task_fn)(struct sp_task *t);
struct sp_task {
    sp_task_fn fn;
    struct sp_task *next;
};

/* Runs t->fn on this shard at the next tick. t is borrowed until then. */
void sp_rx_defer(struct sp_task *t);

/* A hold keeps the shard from counting as quiet during a drain. */
void sp_rx_hold(void);
void sp_rx_release(void);

#endif /* SP_CORE_RX_H */
