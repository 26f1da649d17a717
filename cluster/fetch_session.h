/*
 * cluster/fetch_session.h: incremental fetch sessions (KIP-227).
 *
 * A consumer that fetches the same partitions over and over can open a
 * session: a full fetch with SessionEpoch 0 gets a SessionId, the broker
 * remembers the partitions with their fetch offsets, and the following
 * fetches (epoch 1, 2, ...) send only what changed (new offsets, added
 * partitions, ForgottenTopicsData) and get back only the partitions with
 * something new: records, a moved high watermark, last stable offset or
 * log start, or an error.
 *
 *   SessionId  SessionEpoch   meaning
 *   0          -1             sessionless full fetch (answered SessionId 0)
 *   any        0              full fetch; closes `id` if given, opens a new one
 *   id         -1             closes id; sessionless full fetch
 *   id         n > 0          incremental fetch in session id, epoch n
 *
 * Where sessions live. A session belongs to the shard of the connection
 * that opened it, and its id says which: id = 1 + shard + shards * seq. A
 * fetch on another shard that names it (a client with several connections
 * to this broker) is answered FETCH_SESSION_ID_NOT_FOUND, and the client's
 * next full fetch opens a session there. The Java client, the only one
 * that uses sessions, fetches over one connection per broker.
 *
 * Limits. max.incremental.fetch.session.cache.slots (Kafka's name, default
 * 1000) is the broker's total; each shard gets its share, rounded up. When
 * a shard's slots are full a new session evicts the least recently used one
 * (Kafka would rather evict sessions with fewer partitions; plain LRU is
 * simpler and a client whose session was evicted only falls back to one
 * full fetch). A session unused for SP_FETCH_SESSION_IDLE_MS is dropped. A
 * session holds at most SP_FETCH_SESSION_PARTS_MAX partitions; a full fetch
 * with more is served without a session (SessionId 0).
 *
 * Partitions are named by topic id (fetch v13+) or by name (v7..v12); a
 * session keeps the form it was opened with, and a fetch of the other form
 * is answered FETCH_SESSION_TOPIC_ID_ERROR.
 *
 * Threads: every function about the calling shard's sessions. The
 * partition array of a session is valid until the next call here.
 */
#ifndef SP_CLUSTER_FETCH_SESSION_H
#define SP_CLUSTER_FETCH_SESSION_H

#include <stdint.h>
#include <stdbool.h>

#include "protocol/kproto.h"

#define SP_FETCH_SESSION_IDLE_MS    120000 /* Kafka's min.incremental.fetch.session.eviction.ms */
#define SP_FETCH_SESSION_PARTS_MAX  16384
#define SP_FETCH_SESSION_SLOTS_DFLT 1000

struct sp_fetch_sess;

/* One partition of a session: what the client asked for and what it was last told. */
struct sp_fetch_sess_part {
    uint8_t topic_id[16]; /* by-id sessions */
    char *name;           /* by-name sessions: owned, NUL-terminated; NULL for by-id */
    int32_t name_len;
    int32_t partition;
    int64_t fetch_offset;
    int32_t max_bytes;
    int32_t leader_epoch;
    /* The values the last response carried; -2 before the first (always differs). */
    int64_t hw;
    int64_t lso;
    int64_t log_start;
};

/* What a fetch request does to the sessions (sp_fetch_sess_open). */
struct sp_fetch_sess_use {
    int16_t error;      /* a top-level error to answer with, no partitions */
    int32_t session_id; /* what the response says: the session, or 0 */
    bool incremental;   /* read the session's partitions; answer only the changed ones */
    bool cache;         /* record what the response says (sp_fetch_sess_answered) */
    int32_t next_epoch; /* the epoch the session expects next, to find it again */
};

/*
 * Applies the request's session fields: opens, closes, looks up and updates
 * sessions as the table at the top says. `by_id` is version >= 13. For an
 * incremental fetch the request's partitions are merged into the session
 * and the forgotten ones removed. Returns 0 (see out) or -ENOMEM.
 */
int sp_fetch_sess_open(const struct kproto_fetch_request *req, bool by_id,
                       struct sp_fetch_sess_use *out);

/* The session `id` if it still expects next_epoch, else NULL. */
struct sp_fetch_sess *sp_fetch_sess_find(int32_t id, int32_t next_epoch);
/* Its partitions, in fetch order. */
uint32_t sp_fetch_sess_parts(struct sp_fetch_sess *s, struct sp_fetch_sess_part **parts);

/*
 * At answer time, partition i of the session (same order as
 * sp_fetch_sess_parts gave): records what the response carries and says
 * whether an incremental response must include it.
 */
bool sp_fetch_sess_answered(struct sp_fetch_sess *s, uint32_t i, int16_t error, int64_t hw,
                            int64_t lso, int64_t log_start, size_t records_len);

/* Sessions on this shard (tests, metrics). */
uint32_t sp_fetch_sess_count(void);
/* Notes that this thread has fetch state, to be freed when it exits at the latest. */
void sp_fetch_shard_note(void);
/* Frees this shard's sessions (sp_fetch_shard_fini calls it). */
void sp_fetch_sess_fini(void);
/* Frees this shard's sessions and fetch tables: the reactor's fini hook calls it. */
void sp_fetch_shard_fini(void);

#endif /* SP_CLUSTER_FETCH_SESSION_H */
