/*
 * core/xq.h: cross-core messages between shards.
 *
 * A message is a struct the sender embeds in its own state:
 * `fn` runs on the target shard, then `reply_fn` runs back on the sender.
 * The message (and whatever it points to) is owned by the sender; it is
 * lent to the target until the reply, so memory is always freed by the
 * shard that allocated it. Every message comes back, even one without a
 * reply_fn: that is how the sender knows the target is done with it.
 *
 * Transport: one bounded single-producer/single-consumer ring per ordered
 * pair of shards (N*N rings, self included). A ring carries the sender's
 * requests and its replies to the other side's requests, in FIFO order:
 * requests from A to B run on B in the order A sent them.
 *
 *   shard A                     ring A->B                    shard B
 *   sp_xq_send(B, m) --> [ m1 | m2 | m3 |   |   ] --> fn(m1), fn(m2), ...
 *   reply_fn(m1) <------ [ m1 |   |   ]  ring B->A  <-- reply (auto, or sp_xq_reply)
 *
 * Batching: a send only writes the slot; the ring's tail is published,
 * and the target woken if it sleeps, once per reactor tick (sp_xq_flush).
 * When a ring is full, messages wait in the sender's overflow list, in
 * order, and move into the ring as it drains.
 *
 * Sleep/wake handshake (cannot lose a wake-up). Each shard has a flag
 * `sleeping`. Before it blocks in the kernel a shard:
 *   1. stores sleeping = 1,                     (seq_cst)
 *   2. full fence, then reads every incoming ring's tail;
 *   3. if any ring has messages, clears the flag and does not block.
 * A sender, after publishing a tail:
 *   a. full fence, then reads the target's `sleeping`;
 *   b. if it is 1 and the sender is the one to swap it to 0, wakes the
 *      target (MSG_RING on >= 6.2, else its eventfd: both sticky).
 * Steps 1-2 and publish-a are each a store, a full fence and a load on
 * the other's variable, so at least one side sees the other: either the
 * sleeper sees the message (3) or the sender sees the flag (b). A wake-up
 * that lands before the sleeper blocks is kept by the kernel and ends the
 * sleep at once. Spurious wake-ups are harmless.
 *
 * Threads: every function here runs on a shard thread (sp_rx); `to` is a
 * shard index. Messages are not lost at shutdown: the reactor drains until
 * every message has come back (see core/rx.h).
 */
#ifndef SP_CORE_XQ_H
#define SP_CORE_XQ_H

#include <stdint.h>
#include <stdbool.h>

#include "core/sp.h"

struct sp_xq_msg;
typedef void (*sp_xq_fn)(struct sp_xq_msg *m);

struct sp_xq_msg {
    sp_xq_fn fn;            /* runs on the target shard */
    sp_xq_fn reply_fn;      /* runs on the sender after fn; may be NULL */
    struct sp_xq_msg *next; /* xq's: overflow list */
    uint16_t from;          /* xq's: the sending shard */
    uint16_t to;            /* xq's: the target shard */
    uint8_t state;          /* xq's */
    uint8_t held;           /* xq's: fn asked to reply later */
};

/* Slots per ring: messages in flight per ordered pair before the overflow list. */
#define SP_XQ_RING_SLOTS 1024u

/* Sends m to shard `to` (may be this shard). m is lent until its reply. */
void sp_xq_send(uint32_t to, struct sp_xq_msg *m);
/* Called inside fn: the reply is not sent when fn returns but by sp_xq_reply(m) later. */
void sp_xq_hold(struct sp_xq_msg *m);
/* On the target shard: sends the reply of a held message. */
void sp_xq_reply(struct sp_xq_msg *m);
/* Messages this shard sent whose reply has not run yet. */
uint64_t sp_xq_outstanding(void);

/* ---- For the reactor (core/rx.c) only ----------------------------------- */

int sp_xq_setup(uint32_t shards);
void sp_xq_teardown(void);
/* Runs up to `budget` incoming messages (requests and replies). Returns how many. */
int sp_xq_poll(int budget);
/* Publishes this tick's sends and wakes sleeping targets. */
void sp_xq_flush(void);
/* Steps 1-3 of the handshake: true when this shard may block now. */
bool sp_xq_prepare_sleep(void);
void sp_xq_sleep_done(void);
/* Whether messages wait in this shard's overflow lists. */
bool sp_xq_overflowing(void);
/* Whether any incoming ring holds messages. */
bool sp_xq_pending(void);

#endif /* SP_CORE_XQ_H */
