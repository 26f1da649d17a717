/*
 * client/admin.c: the blocking admin calls of client/spc.h (topics,
 * partitions, offsets, log dir sizes, configs, groups).
 *
 * Each call runs one admin operation (struct admin_op): build the request
 * for what is still pending, send it (one call, or a fan of calls to
 * several brokers at once), sort the answers into the caller's results,
 * and go round again after a backoff for the items that failed with an
 * error worth retrying (NOT_CONTROLLER, NOT_COORDINATOR, a coordinator
 * still loading, a stale leader, ...), until nothing is pending or the
 * operation's deadline passes. Items that still fail keep their last error.
 *
 *   spc_admin_*() ─> admin_op (deadline, backoff, scratch arena)
 *                      ├─ op_call:  one request (spc_call_sync)
 *                      └─ fan_run:  n requests at once (spc_send), waits for all
 *
 * Requests are built in a scratch arena (a fan's in its own, so that calls
 * still out when the deadline passes can finish after the operation has
 * returned); answers are copied out of the calls' arenas into the caller's,
 * so nothing returned points into memory the client frees.
 *
 * Versions: every request is built so that it encodes at every version its
 * call allows. Where a request's shape changed (DeleteTopics v6 names its
 * topics in structs, OffsetFetch v8 batches groups), the newer shape is
 * tried first and the older one when the broker does not support it.
 *
 * Function results: 0 once the brokers answered (per-item errors in the
 * results), else -errno with err filled. A Kafka error that leaves nothing
 * to report per item (a describe of a topic that does not exist) is
 * returned as an errno (kafka_errno) with the Kafka code in err->code.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/spc.h"
#include "protocol/kproto.h"

/* timeout_ms <= 0 means this. */
#define ADMIN_TIMEOUT_DEFAULT_MS 30000
/* Between retries: doubling from the first to the most. */
#define ADMIN_BACKOFF_MS     100
#define ADMIN_BACKOFF_MAX_MS 1000
/* How long past its deadline a fan waits for its calls to report their own timeouts. */
#define ADMIN_FAN_GRACE_MS 2000
/* The most memory one operation's requests may take. */
#define ADMIN_SCRATCH_BYTES (256u << 20)
/* The most calls one fan sends at once (brokers, groups). */
#define ADMIN_FAN_MAX 65536
/* A broker's "host:port" in messages (struct spc_broker's host and port). */
#define ADMIN_NAME_BYTES 272
/* The most items one call takes (topics, partitions, groups, offsets). */
#define ADMIN_ITEMS_MAX (1u << 22)

/* An item's state while its operation runs. */
enum item_state { ITEM_PENDING = 0, ITEM_DONE = 1 };

/* ---- Errors ---------------------------------------------------------------- */

static struct spc_error *err_or(struct spc_error *err, struct spc_error *local)
{
    struct spc_error *e = err != NULL ? err : local;
    e->code = 0;
    e->message[0] = '\0';
    return e;
}

static void err_clear(struct spc_error *e)
{
    e->code = 0;
    e->message[0] = '\0';
}

static int err_invalid(struct spc_error *e, const char *what)
{
    spc_error_set(e, -EINVAL, "-", "%s", what);
    return -EINVAL;
}

static int err_nomem(struct spc_error *e, const char *what)
{
    spc_error_set(e, -ENOMEM, "-", "%s", what);
    return -ENOMEM;
}

/*
 * The arguments of an operation on n named items ("<op>: bad arguments",
 * "<op>: a <item> without a name"); each results[i].err is cleared as its
 * name is checked. 0 when they are good, else -EINVAL with e set.
 */
static int names_check(struct spc_error *e, const struct spc_client *c, const char *const *names,
                       size_t n, size_t n_max, struct spc_item_result *results, const char *op,
                       const char *item)
{
    if (c == NULL || n > n_max || (n > 0 && (names == NULL || results == NULL))) {
        spc_error_set(e, -EINVAL, "-", "%s: bad arguments", op);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (names[i] == NULL) {
            spc_error_set(e, -EINVAL, "-", "%s: a %s without a name", op, item);
            return -EINVAL;
        }
        err_clear(&results[i].err);
    }
    return 0;
}

static void item_error(struct spc_error *e, int code, const char *broker, struct sp_str detail,
                       const char *fmt, ...) SP_PRINTF(5, 6);

/* e = "<broker>: <what>: <ERROR>[: <the broker's ErrorMessage>]". */
static void item_error(struct spc_error *e, int code, const char *broker, struct sp_str detail,
                       const char *fmt, ...)
{
    char what[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    spc_error_set(e, code, broker, "%s", what);
    size_t used = strlen(e->message);
    if (detail.ptr != NULL && detail.len > 0 && used + 2 < sizeof(e->message)) {
        snprintf(e->message + used, sizeof(e->message) - used, ": %.*s", (int)detail.len,
                 detail.ptr);
    }
}

/*
 * The errno a call returns for a Kafka error that fails the whole call;
 * err->code keeps the Kafka code itself.
 */
static int kafka_errno(int16_t code)
{
    switch (code) {
    case KERR_UNKNOWN_TOPIC_OR_PARTITION:
    case KERR_UNKNOWN_TOPIC_ID:
    case KERR_GROUP_ID_NOT_FOUND:
    case KERR_RESOURCE_NOT_FOUND:
        return -ENOENT;
    case KERR_TOPIC_AUTHORIZATION_FAILED:
    case KERR_GROUP_AUTHORIZATION_FAILED:
    case KERR_CLUSTER_AUTHORIZATION_FAILED:
        return -EACCES;
    case KERR_UNSUPPORTED_VERSION:
        return -ENOTSUP;
    case KERR_INVALID_REQUEST:
    case KERR_INVALID_CONFIG:
    case KERR_INVALID_GROUP_ID:
    case KERR_INVALID_TOPIC_EXCEPTION:
        return -EINVAL;
    default:
        return spc_retriable(code) ? -ETIMEDOUT : -EIO;
    }
}

/* Errors after which a coordinator is asked again (after a backoff). */
static bool coordinator_retry(int16_t code)
{
    return code == KERR_COORDINATOR_LOAD_IN_PROGRESS || code == KERR_COORDINATOR_NOT_AVAILABLE ||
           code == KERR_NOT_COORDINATOR;
}

/* Errors that say the coordinator the client knows is no longer the group's. */
static bool coordinator_moved(int16_t code)
{
    return code == KERR_NOT_COORDINATOR || code == KERR_COORDINATOR_NOT_AVAILABLE;
}

/*
 * Errors of a topic or config change worth another try: the controller
 * moved, or the broker asks to slow down. Not REQUEST_TIMED_OUT: the broker
 * may still complete the change, and asking again would report
 * TOPIC_ALREADY_EXISTS for a topic just made; not UNKNOWN_TOPIC_OR_PARTITION
 * (retriable for a producer, final for an admin call).
 */
static bool controller_retry(int16_t code)
{
    return code == KERR_NOT_CONTROLLER || code == KERR_THROTTLING_QUOTA_EXCEEDED ||
           code == KERR_NETWORK_EXCEPTION;
}

/* Errors of a partition's route: the metadata is refreshed and the leader asked again. */
static bool route_retry(int16_t code)
{
    switch (code) {
    case KERR_NOT_LEADER_OR_FOLLOWER:
    case KERR_LEADER_NOT_AVAILABLE:
    case KERR_UNKNOWN_TOPIC_OR_PARTITION:
    case KERR_FENCED_LEADER_EPOCH:
    case KERR_UNKNOWN_LEADER_EPOCH:
    case KERR_REPLICA_NOT_AVAILABLE:
    case KERR_OFFSET_NOT_AVAILABLE:
    case KERR_BROKER_NOT_AVAILABLE:
        return true;
    default:
        return code != KERR_NONE && spc_retriable(code);
    }
}

/* "host:port" of node, or what node stands for, for messages. */
static void node_name(struct spc_client *c, int32_t node, char *buf, size_t len)
{
    size_t n = 0;
    const struct spc_broker *b = spc_brokers(c, &n);
    for (size_t i = 0; i < n; i++) {
        if (b[i].node == node) {
            snprintf(buf, len, "%s:%d", b[i].host, (int)b[i].port);
            return;
        }
    }
    switch (node) {
    case SPC_ANY_BROKER:
        snprintf(buf, len, "broker");
        break;
    case SPC_CONTROLLER:
        snprintf(buf, len, "controller");
        break;
    case SPC_COORDINATOR:
        snprintf(buf, len, "coordinator");
        break;
    default:
        snprintf(buf, len, "node %d", (int)node);
        break;
    }
}

/* The broker that metadata errors are reported as coming from: the first one known. */
static void metadata_name(struct spc_client *c, char *buf, size_t len)
{
    size_t n = 0;
    const struct spc_broker *b = spc_brokers(c, &n);
    if (n > 0) {
        snprintf(buf, len, "%s:%d", b[0].host, (int)b[0].port);
    } else {
        snprintf(buf, len, "metadata");
    }
}

static const char *api_name(int16_t key)
{
    const struct kproto_api *api = kproto_api_get(key);
    return api != NULL ? api->name : "request";
}

/* ---- One operation: deadline, backoff, scratch memory ------------------------ */

struct admin_op {
    struct spc_client *c;
    int64_t deadline_ms;
    int32_t backoff_ms;
    struct sp_arena scratch; /* this operation's requests (op_call) */
};

static void op_init(struct admin_op *op, struct spc_client *c, int timeout_ms)
{
    op->c = c;
    op->deadline_ms = spc_now_ms(c) + (timeout_ms > 0 ? timeout_ms : ADMIN_TIMEOUT_DEFAULT_MS);
    op->backoff_ms = ADMIN_BACKOFF_MS;
    sp_arena_init(&op->scratch, NULL, 0, ADMIN_SCRATCH_BYTES);
}

static void op_fini(struct admin_op *op)
{
    sp_arena_destroy(&op->scratch);
}

static int32_t op_left_ms(const struct admin_op *op)
{
    int64_t left = op->deadline_ms - spc_now_ms(op->c);
    return (int32_t)SP_MAX(SP_MIN(left, (int64_t)INT32_MAX), (int64_t)0);
}

/*
 * Waits out the next backoff, polling the client meanwhile. false, without
 * waiting, when the wait would end past the deadline: time is up.
 */
static bool op_backoff(struct admin_op *op)
{
    int64_t until = spc_now_ms(op->c) + op->backoff_ms;
    if (until >= op->deadline_ms) {
        return false;
    }
    op->backoff_ms = SP_MIN(op->backoff_ms * 2, ADMIN_BACKOFF_MAX_MS);
    for (int64_t now = spc_now_ms(op->c); now < until; now = spc_now_ms(op->c)) {
        int rc = spc_poll(op->c, (int)(until - now));
        if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -ETIMEDOUT && rc != -EAGAIN) {
            break;
        }
    }
    return true;
}

static void call_init(struct spc_call *call, int16_t key, int16_t min_version, int16_t max_version,
                      int32_t node, const void *request)
{
    memset(call, 0, sizeof(*call));
    call->api_key = key;
    call->min_version = min_version;
    call->max_version = max_version;
    call->node = node;
    call->request = request;
    call->retry_transport = true;
}

/* Tells the client a group's coordinator moved (NOT_COORDINATOR and the like). */
static void coordinator_stale(struct spc_client *c, const char *group)
{
    spc_coordinator_stale(c, group);
}

/*
 * Whether the brokers do not offer api_key at all (e then says so): a
 * controller call that failed to find its controller (a broker that
 * names none, as librdkafka's mock does) should say what is really wrong.
 */
static bool api_not_offered(struct admin_op *op, int16_t api_key, struct spc_error *e)
{
    int32_t left = op_left_ms(op);
    int16_t min_version;
    int16_t max_version;
    struct spc_error pe;
    if (left <= 0 || spc_broker_api_range(op->c, SPC_ANY_BROKER, api_key, &min_version,
                                          &max_version, left, &pe) != -ENOTSUP) {
        return false;
    }
    *e = pe;
    return true;
}

/*
 * Sends call with what is left of op's time and waits for its answer.
 * A call that fails with a retriable Kafka error before it reaches its
 * broker (no coordinator or controller found yet) is sent again after a
 * backoff. 0 (response set: spc_call_release it) or -errno (e filled).
 */
static int op_call(struct admin_op *op, struct spc_call *call, struct spc_error *e)
{
    for (;;) {
        int32_t left = op_left_ms(op);
        if (left <= 0) {
            spc_error_set(e, -ETIMEDOUT, "-", "%s", api_name(call->api_key));
            return -ETIMEDOUT;
        }
        call->timeout_ms = left;
        err_clear(e);
        int rc = spc_call_sync(op->c, call, e);
        if (rc == 0) {
            return 0;
        }
        if (e->code == 0) {
            char who[ADMIN_NAME_BYTES];
            node_name(op->c, call->node, who, sizeof(who));
            spc_error_set(e, rc, who, "%s", api_name(call->api_key));
        }
        spc_call_release(call);
        if (rc != -ENOTSUP && call->node == SPC_CONTROLLER &&
            api_not_offered(op, call->api_key, e)) {
            return -ENOTSUP;
        }
        bool again = e->code > 0 && spc_retriable((int16_t)e->code);
        if (!again || !op_backoff(op)) {
            return rc;
        }
        if (call->node == SPC_COORDINATOR) {
            coordinator_stale(op->c, call->coordinator_key);
        }
    }
}

/* ---- A fan: several calls out at once ------------------------------------------ */

struct admin_fan;

struct fan_call {
    struct spc_call call;
    struct admin_fan *fan;
    int rc;        /* once finished: 0 (response set) or -errno */
    bool sent;     /* spc_send took it: done will run */
    bool finished; /* done ran (or it was never sent) */
};

/*
 * The calls and the memory of their requests. Freed by fan_finish once
 * every call finished, else by the last call's done (the fan is then
 * "orphaned": its operation returned without it).
 */
struct admin_fan {
    struct sp_arena arena; /* the calls' requests */
    size_t n;
    size_t pending;
    bool all_done;
    bool orphaned;
    struct fan_call calls[];
};

static struct admin_fan *fan_new(size_t n)
{
    if (n == 0 || n > ADMIN_FAN_MAX) {
        return NULL;
    }
    struct admin_fan *fan = calloc(1, sizeof(*fan) + n * sizeof(fan->calls[0]));
    if (fan == NULL) {
        return NULL;
    }
    fan->n = n;
    sp_arena_init(&fan->arena, NULL, 0, ADMIN_SCRATCH_BYTES);
    return fan;
}

static void fan_free(struct admin_fan *fan)
{
    for (size_t i = 0; i < fan->n; i++) {
        if (fan->calls[i].sent && fan->calls[i].finished) {
            spc_call_release(&fan->calls[i].call);
        }
    }
    sp_arena_destroy(&fan->arena);
    free(fan);
}

static void fan_call_done(struct spc_call *call, int rc)
{
    struct fan_call *fc = sp_container_of(call, struct fan_call, call);
    struct admin_fan *fan = fc->fan;
    SP_ASSERT(fc->sent && !fc->finished && fan->pending > 0);
    fc->rc = rc;
    fc->finished = true;
    fan->pending--;
    if (fan->pending == 0) {
        fan->all_done = true;
        if (fan->orphaned) {
            fan_free(fan);
        }
    }
}

/* The answer of a fan's call i, or NULL with *rc set (-ETIMEDOUT when it is still out). */
static void *fan_response(const struct admin_fan *fan, size_t i, int *rc)
{
    const struct fan_call *fc = &fan->calls[i];
    if (!fc->finished) {
        *rc = -ETIMEDOUT;
        return NULL;
    }
    *rc = fc->rc;
    return fc->rc == 0 ? fc->call.response : NULL;
}

/*
 * Sends the fan's calls (set up with call_init; a call without a request
 * is skipped) and waits until all are answered or op's time is up.
 */
static void fan_run(struct admin_op *op, struct admin_fan *fan)
{
    int32_t left = op_left_ms(op);
    for (size_t i = 0; i < fan->n; i++) {
        struct fan_call *fc = &fan->calls[i];
        fc->fan = fan;
        fc->finished = true;
        fc->rc = -ETIMEDOUT;
        if (fc->call.request == NULL || left <= 0) {
            continue;
        }
        fc->call.timeout_ms = left;
        fc->call.done = fan_call_done;
        fc->call.ctx = fan;
        fc->finished = false;
        fc->sent = true;
        fan->pending++;
        int rc = spc_send(op->c, &fc->call);
        if (rc < 0) {
            fan->pending--;
            fc->sent = false;
            fc->finished = true;
            fc->rc = rc;
        }
    }
    fan->all_done = fan->pending == 0;
    if (!fan->all_done) {
        (void)spc_wait(op->c, &fan->all_done, left + ADMIN_FAN_GRACE_MS);
    }
}

/* After the answers are read: frees the fan, or leaves it to its last call still out. */
static void fan_finish(struct admin_fan *fan)
{
    if (fan == NULL) {
        return;
    }
    if (fan->pending > 0) {
        fan->orphaned = true;
    } else {
        fan_free(fan);
    }
}

/* e for a fan call that failed (rc < 0) without an answer: the core's words when it has them. */
static void fan_call_error(struct spc_client *c, const struct admin_fan *fan, size_t i, int rc,
                           struct spc_error *e)
{
    const struct fan_call *fc = &fan->calls[i];
    if (fc->finished && fc->sent && fc->call.error.code != 0 && fc->call.error.message[0] != '\0') {
        *e = fc->call.error;
        return;
    }
    char who[ADMIN_NAME_BYTES];
    node_name(c, fc->call.node, who, sizeof(who));
    spc_error_set(e, rc, who, "%s", api_name(fc->call.api_key));
}

/* ---- Lookup tables: sorted indexes of the caller's items ---------------------- */

/* Item `index` has name (a topic or a group) and partition (-1: none). */
struct item_key {
    const char *name;
    int32_t partition;
    uint32_t index;
};

static int item_key_cmp(const void *pa, const void *pb)
{
    const struct item_key *a = pa;
    const struct item_key *b = pb;
    int r = strcmp(a->name, b->name);
    if (r != 0) {
        return r;
    }
    if (a->partition != b->partition) {
        return a->partition < b->partition ? -1 : 1;
    }
    return a->index < b->index ? -1 : a->index > b->index;
}

static void item_keys_sort(struct item_key *keys, size_t n)
{
    if (n > 1) {
        qsort(keys, n, sizeof(*keys), item_key_cmp);
    }
}

/* Compares (name, partition) with a key, ignoring its index. */
static int item_key_probe(struct sp_str name, int32_t partition, const struct item_key *k)
{
    size_t klen = strlen(k->name);
    size_t len = (size_t)SP_MAX(name.len, 0);
    int r = len > 0 ? memcmp(name.ptr, k->name, SP_MIN(len, klen)) : 0;
    if (r == 0 && len != klen) {
        r = len < klen ? -1 : 1;
    }
    if (r == 0 && partition != k->partition) {
        r = partition < k->partition ? -1 : 1;
    }
    return r;
}

/* The first key of (name, partition) in sorted keys[n], or n when none. */
static size_t item_keys_find(const struct item_key *keys, size_t n, struct sp_str name,
                             int32_t partition)
{
    if (name.ptr == NULL) {
        return n;
    }
    size_t lo = 0;
    size_t hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (item_key_probe(name, partition, &keys[mid]) > 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && item_key_probe(name, partition, &keys[lo]) == 0 ? lo : n;
}

/* ---- Topics ---------------------------------------------------------------------- */

/* Marks items [i] still pending with the same error (the whole request failed). */
static void items_fail(struct spc_item_result *results, const uint8_t *state, size_t n,
                       const struct spc_error *e)
{
    for (size_t i = 0; i < n; i++) {
        if (state[i] == ITEM_PENDING) {
            results[i].err = *e;
        }
    }
}

/* Refreshes the metadata of these names (the controller comes with it). */
static void controller_refresh(struct spc_client *c, const char *const *names, size_t n)
{
    struct spc_error ignored;
    (void)spc_metadata_sync(c, names, n, false, &ignored);
}

static struct item_key *name_keys(struct sp_arena *a, const char *const *names, size_t n)
{
    struct item_key *keys = sp_arena_calloc(a, n + 1, sizeof(*keys));
    if (keys != NULL) {
        for (size_t i = 0; i < n; i++) {
            keys[i] = (struct item_key){names[i], -1, (uint32_t)i};
        }
        item_keys_sort(keys, n);
    }
    return keys;
}

/*
 * Applies one per-name answer (a topic or a group) to the items of that
 * name: done, or failed (retried later when retry says so). Returns whether
 * any of them is to be retried.
 */
static bool name_result(const struct item_key *keys, size_t n, uint8_t *state,
                        struct spc_item_result *results, struct sp_str name, int16_t code,
                        struct sp_str message, bool retry, const char *broker, const char *kind)
{
    bool again = false;
    for (size_t k = item_keys_find(keys, n, name, -1); k < n; k++) {
        if (item_key_probe(name, -1, &keys[k]) != 0) {
            break;
        }
        uint32_t i = keys[k].index;
        if (state[i] != ITEM_PENDING) {
            continue;
        }
        if (code == KERR_NONE) {
            err_clear(&results[i].err);
            state[i] = ITEM_DONE;
            continue;
        }
        item_error(&results[i].err, code, broker, message, "%s \"%s\"", kind, keys[k].name);
        if (retry) {
            again = true;
        } else {
            state[i] = ITEM_DONE;
        }
    }
    return again;
}

/* Items the answer did not mention fail (and are not retried). */
static void items_unanswered(struct spc_item_result *results, uint8_t *state, const bool *seen,
                             size_t n, const char *broker, const char *kind,
                             const char *const *names)
{
    for (size_t i = 0; i < n; i++) {
        if (state[i] == ITEM_PENDING && !seen[i]) {
            spc_error_set(&results[i].err, -EBADMSG, broker, "%s \"%s\": missing from the answer",
                          kind, names[i]);
            state[i] = ITEM_DONE;
        }
    }
}

static bool name_seen(const struct item_key *keys, size_t n, bool *seen, struct sp_str name)
{
    bool any = false;
    for (size_t k = item_keys_find(keys, n, name, -1);
         k < n && item_key_probe(name, -1, &keys[k]) == 0; k++) {
        seen[keys[k].index] = true;
        any = true;
    }
    return any;
}

static int create_topics_request(struct sp_arena *a, const struct spc_new_topic *topics, size_t n,
                                 const uint8_t *state, bool validate_only, int32_t timeout_ms,
                                 struct kproto_create_topics_request *req)
{
    kproto_create_topics_request_init(req);
    req->Topics = sp_arena_calloc(a, n, sizeof(*req->Topics));
    if (req->Topics == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (state[i] != ITEM_PENDING) {
            continue;
        }
        const struct spc_new_topic *t = &topics[i];
        struct kproto_create_topics_request_creatable_topic *ct = &req->Topics[req->Topics_count++];
        ct->Name = sp_str_make(t->name);
        ct->NumPartitions = t->partitions;
        ct->ReplicationFactor = t->replication;
        if (t->configs_count > 0) {
            ct->Configs = sp_arena_calloc(a, t->configs_count, sizeof(*ct->Configs));
            if (ct->Configs == NULL) {
                return -ENOMEM;
            }
            for (size_t k = 0; k < t->configs_count; k++) {
                ct->Configs[k].Name = sp_str_make(t->configs[k].name);
                ct->Configs[k].Value = sp_str_make(t->configs[k].value);
            }
            ct->Configs_count = (int32_t)t->configs_count;
        }
    }
    req->timeoutMs = timeout_ms;
    req->validateOnly = validate_only;
    return 0;
}

static bool topics_valid(const struct spc_new_topic *topics, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct spc_new_topic *t = &topics[i];
        if (t->name == NULL || (t->configs_count > 0 && t->configs == NULL) ||
            t->configs_count > ADMIN_ITEMS_MAX) {
            return false;
        }
        for (size_t k = 0; k < t->configs_count; k++) {
            if (t->configs[k].name == NULL) {
                return false;
            }
        }
    }
    return true;
}

int spc_admin_create_topics(struct spc_client *c, const struct spc_new_topic *topics, size_t n,
                            bool validate_only, int timeout_ms, struct spc_item_result *results,
                            struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || n > ADMIN_ITEMS_MAX || (n > 0 && (topics == NULL || results == NULL))) {
        return err_invalid(e, "create topics: bad arguments");
    }
    if (n == 0) {
        return 0;
    }
    if (!topics_valid(topics, n)) {
        return err_invalid(e, "create topics: a topic or config without a name");
    }
    /* Defaults (-1) came with v4; validateOnly with v1. */
    int16_t min_version = validate_only ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        err_clear(&results[i].err);
        if (topics[i].partitions < 0 || topics[i].replication < 0) {
            min_version = 4;
        }
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    const char **names = sp_arena_calloc(&op.scratch, n, sizeof(*names));
    uint8_t *state = sp_arena_calloc(&op.scratch, n, sizeof(*state));
    bool *seen = sp_arena_calloc(&op.scratch, n, sizeof(*seen));
    if (names == NULL || state == NULL || seen == NULL) {
        op_fini(&op);
        return err_nomem(e, "create topics");
    }
    for (size_t i = 0; i < n; i++) {
        names[i] = topics[i].name;
    }
    struct item_key *keys = name_keys(&op.scratch, names, n);
    int rc = keys != NULL ? 0 : -ENOMEM;
    for (bool again = rc == 0; again;) {
        struct kproto_create_topics_request req;
        rc = create_topics_request(&op.scratch, topics, n, state, validate_only, op_left_ms(&op),
                                   &req);
        if (rc < 0) {
            break;
        }
        struct spc_call call;
        call_init(&call, KPROTO_API_KEY_CREATE_TOPICS, min_version, 7, SPC_CONTROLLER, &req);
        call.retry_transport = false;
        rc = op_call(&op, &call, e);
        if (rc < 0) {
            items_fail(results, state, n, e);
            break;
        }
        const struct kproto_create_topics_response *resp = call.response;
        bool not_controller = false;
        again = false;
        memset(seen, 0, n * sizeof(*seen));
        for (int32_t k = 0; k < resp->Topics_count; k++) {
            const struct kproto_create_topics_response_creatable_topic_result *r = &resp->Topics[k];
            name_seen(keys, n, seen, r->Name);
            bool retry = controller_retry(r->ErrorCode);
            not_controller |= r->ErrorCode == KERR_NOT_CONTROLLER;
            again |= name_result(keys, n, state, results, r->Name, r->ErrorCode, r->ErrorMessage,
                                 retry, call.broker, "topic");
        }
        items_unanswered(results, state, seen, n, call.broker, "topic", names);
        spc_call_release(&call);
        if (again && not_controller) {
            controller_refresh(c, names, n);
        }
        again = again && op_backoff(&op);
    }
    op_fini(&op);
    return rc == -ENOMEM ? err_nomem(e, "create topics") : SP_MIN(rc, 0);
}

/* DeleteTopics v6 names topics in structs, older versions in a list of names. */
static int delete_topics_request(struct sp_arena *a, const char *const *names, size_t n,
                                 const uint8_t *state, bool v6, int32_t timeout_ms,
                                 struct kproto_delete_topics_request *req)
{
    kproto_delete_topics_request_init(req);
    if (v6) {
        req->Topics = sp_arena_calloc(a, n, sizeof(*req->Topics));
    } else {
        req->TopicNames = sp_arena_calloc(a, n, sizeof(*req->TopicNames));
    }
    if (req->Topics == NULL && req->TopicNames == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (state[i] != ITEM_PENDING) {
            continue;
        }
        if (v6) {
            req->Topics[req->Topics_count++].Name = sp_str_make(names[i]);
        } else {
            req->TopicNames[req->TopicNames_count++] = sp_str_make(names[i]);
        }
    }
    req->TimeoutMs = timeout_ms;
    return 0;
}

int spc_admin_delete_topics(struct spc_client *c, const char *const *names, size_t n,
                            int timeout_ms, struct spc_item_result *results, struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    int rc = names_check(e, c, names, n, ADMIN_ITEMS_MAX, results, "delete topics", "topic");
    if (rc < 0 || n == 0) {
        return rc;
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    uint8_t *state = sp_arena_calloc(&op.scratch, n, sizeof(*state));
    bool *seen = sp_arena_calloc(&op.scratch, n, sizeof(*seen));
    struct item_key *keys = name_keys(&op.scratch, names, n);
    rc = state != NULL && seen != NULL && keys != NULL ? 0 : -ENOMEM;
    bool v6 = true;
    for (bool again = rc == 0; again;) {
        struct kproto_delete_topics_request req;
        rc = delete_topics_request(&op.scratch, names, n, state, v6, op_left_ms(&op), &req);
        if (rc < 0) {
            break;
        }
        struct spc_call call;
        call_init(&call, KPROTO_API_KEY_DELETE_TOPICS, v6 ? 6 : 0, v6 ? 6 : 5, SPC_CONTROLLER,
                  &req);
        call.retry_transport = false;
        rc = op_call(&op, &call, e);
        if (rc == -ENOTSUP && v6) {
            v6 = false;
            continue;
        }
        if (rc < 0) {
            items_fail(results, state, n, e);
            break;
        }
        const struct kproto_delete_topics_response *resp = call.response;
        bool not_controller = false;
        again = false;
        memset(seen, 0, n * sizeof(*seen));
        for (int32_t k = 0; k < resp->Responses_count; k++) {
            const struct kproto_delete_topics_response_deletable_topic_result *r =
                &resp->Responses[k];
            name_seen(keys, n, seen, r->Name);
            not_controller |= r->ErrorCode == KERR_NOT_CONTROLLER;
            again |= name_result(keys, n, state, results, r->Name, r->ErrorCode, r->ErrorMessage,
                                 controller_retry(r->ErrorCode), call.broker, "topic");
        }
        items_unanswered(results, state, seen, n, call.broker, "topic", names);
        spc_call_release(&call);
        if (again && not_controller) {
            controller_refresh(c, names, n);
        }
        again = again && op_backoff(&op);
    }
    op_fini(&op);
    return rc == -ENOMEM ? err_nomem(e, "delete topics") : SP_MIN(rc, 0);
}

int spc_admin_create_partitions(struct spc_client *c, const char *topic, int32_t total_partitions,
                                bool validate_only, int timeout_ms, struct spc_item_result *result,
                                struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || topic == NULL || result == NULL || total_partitions <= 0) {
        return err_invalid(e, "create partitions: bad arguments");
    }
    err_clear(&result->err);
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    int rc = 0;
    for (bool again = true; again;) {
        struct kproto_create_partitions_request req;
        struct kproto_create_partitions_request_create_partitions_topic t;
        kproto_create_partitions_request_init(&req);
        memset(&t, 0, sizeof(t));
        t.Name = sp_str_make(topic);
        t.Count = total_partitions;
        t.Assignments_count = -1;
        req.Topics = &t;
        req.Topics_count = 1;
        req.TimeoutMs = op_left_ms(&op);
        req.ValidateOnly = validate_only;
        struct spc_call call;
        call_init(&call, KPROTO_API_KEY_CREATE_PARTITIONS, 0, 3, SPC_CONTROLLER, &req);
        call.retry_transport = false;
        rc = op_call(&op, &call, e);
        if (rc < 0) {
            result->err = *e;
            break;
        }
        const struct kproto_create_partitions_response *resp = call.response;
        again = false;
        if (resp->Results_count < 1) {
            spc_error_set(&result->err, -EBADMSG, call.broker,
                          "topic \"%s\": missing from the answer", topic);
        } else {
            const struct kproto_create_partitions_response_create_partitions_topic_result *r =
                &resp->Results[0];
            if (r->ErrorCode == KERR_NONE) {
                err_clear(&result->err);
            } else {
                item_error(&result->err, r->ErrorCode, call.broker, r->ErrorMessage, "topic \"%s\"",
                           topic);
                again = controller_retry(r->ErrorCode);
            }
            if (r->ErrorCode == KERR_NOT_CONTROLLER) {
                controller_refresh(c, &topic, 1);
            }
        }
        spc_call_release(&call);
        again = again && op_backoff(&op);
    }
    op_fini(&op);
    return rc;
}

/* ---- Partitions of one topic, asked of their leaders ------------------------------ */

/*
 * The metadata of topic, refreshed when asked to or not cached. NULL with
 * e filled when the brokers could not be asked (*rc < 0), or when the
 * topic has an error that asking again will not mend (*rc 0, e the error).
 */
static const struct spc_topic *topic_lookup(struct spc_client *c, const char *topic, bool refresh,
                                            int *rc, struct spc_error *e)
{
    *rc = 0;
    const struct spc_topic *t = refresh ? NULL : spc_topic_get(c, topic);
    if (t == NULL) {
        *rc = spc_metadata_sync(c, &topic, 1, false, e);
        if (*rc < 0) {
            return NULL;
        }
        t = spc_topic_get(c, topic);
    }
    char who[ADMIN_NAME_BYTES];
    metadata_name(c, who, sizeof(who));
    if (t == NULL) {
        item_error(e, KERR_UNKNOWN_TOPIC_OR_PARTITION, who, sp_str_make(NULL), "topic \"%s\"",
                   topic);
        return NULL;
    }
    if (t->error != KERR_NONE && t->error != KERR_LEADER_NOT_AVAILABLE) {
        item_error(e, t->error, who, sp_str_make(NULL), "topic \"%s\"", topic);
        return NULL;
    }
    return t;
}

/*
 * The pending partitions of one topic grouped by leader: leaders[k] and the
 * items of each (slot[i] is item i's leader index, or UINT32_MAX).
 */
struct leader_groups {
    int32_t *leaders;
    uint32_t *counts;
    uint32_t *slot;
    size_t n;
};

/*
 * Groups the pending items by their leaders. Items of partitions the topic
 * does not have fail; items without a leader stay pending with
 * LEADER_NOT_AVAILABLE in *err_of (their error slot).
 */
static int leaders_group(struct spc_client *c, struct sp_arena *a, const struct spc_topic *t,
                         const int32_t *partitions, size_t n, uint8_t *state,
                         struct spc_error *(*err_of)(void *items, size_t i), void *items,
                         struct leader_groups *g)
{
    g->leaders = sp_arena_calloc(a, n, sizeof(*g->leaders));
    g->counts = sp_arena_calloc(a, n, sizeof(*g->counts));
    g->slot = sp_arena_calloc(a, n, sizeof(*g->slot));
    g->n = 0;
    if (g->leaders == NULL || g->counts == NULL || g->slot == NULL) {
        return -ENOMEM;
    }
    char who[ADMIN_NAME_BYTES];
    metadata_name(c, who, sizeof(who));
    for (size_t i = 0; i < n; i++) {
        g->slot[i] = UINT32_MAX;
        if (state[i] != ITEM_PENDING) {
            continue;
        }
        int32_t p = partitions[i];
        if (p < 0 || p >= t->partitions_count) {
            item_error(err_of(items, i), KERR_UNKNOWN_TOPIC_OR_PARTITION, who, sp_str_make(NULL),
                       "topic \"%s\" partition %d", t->name, (int)p);
            state[i] = ITEM_DONE;
            continue;
        }
        int32_t leader = spc_leader(c, t->name, p);
        if (leader < 0) {
            item_error(err_of(items, i), KERR_LEADER_NOT_AVAILABLE, who, sp_str_make(NULL),
                       "topic \"%s\" partition %d", t->name, (int)p);
            continue;
        }
        size_t k = 0;
        while (k < g->n && g->leaders[k] != leader) {
            k++;
        }
        if (k == g->n) {
            g->leaders[g->n++] = leader;
        }
        g->slot[i] = (uint32_t)k;
        g->counts[k]++;
    }
    return 0;
}

static struct item_key *partition_keys(struct sp_arena *a, const char *topic,
                                       const int32_t *partitions, size_t n)
{
    struct item_key *keys = sp_arena_calloc(a, n + 1, sizeof(*keys));
    if (keys != NULL) {
        for (size_t i = 0; i < n; i++) {
            keys[i] = (struct item_key){topic, partitions[i], (uint32_t)i};
        }
        item_keys_sort(keys, n);
    }
    return keys;
}

static struct spc_error *offset_err(void *items, size_t i)
{
    return &((struct spc_offset *)items)[i].err;
}

static int list_offsets_fan(struct admin_fan *fan, const char *topic, const int32_t *partitions,
                            size_t n, int64_t timestamp, const struct leader_groups *g,
                            int32_t timeout_ms)
{
    for (size_t k = 0; k < g->n; k++) {
        struct kproto_list_offsets_request *req = sp_arena_alloc(&fan->arena, sizeof(*req));
        struct kproto_list_offsets_request_list_offsets_topic *t =
            sp_arena_calloc(&fan->arena, 1, sizeof(*t));
        struct kproto_list_offsets_request_list_offsets_partition *ps =
            sp_arena_calloc(&fan->arena, g->counts[k], sizeof(*ps));
        if (req == NULL || t == NULL || ps == NULL) {
            return -ENOMEM;
        }
        kproto_list_offsets_request_init(req);
        req->ReplicaId = -1;
        req->Topics = t;
        req->Topics_count = 1;
        req->TimeoutMs = timeout_ms;
        t->Name = sp_str_make(topic);
        t->Partitions = ps;
        for (size_t i = 0; i < n; i++) {
            if (g->slot[i] == k) {
                ps[t->Partitions_count++] =
                    (struct kproto_list_offsets_request_list_offsets_partition){
                        .PartitionIndex = partitions[i],
                        .CurrentLeaderEpoch = -1,
                        .Timestamp = timestamp,
                        .MaxNumOffsets = 1,
                    };
            }
        }
        /* v1: one offset per partition and timestamps. */
        call_init(&fan->calls[k].call, KPROTO_API_KEY_LIST_OFFSETS, 1, 10, g->leaders[k], req);
    }
    return 0;
}

/* Applies one leader's answer; returns whether some partition is to be asked again. */
static bool list_offsets_answer(const struct kproto_list_offsets_response *resp,
                                const struct item_key *keys, size_t n, const uint32_t *slot,
                                uint32_t k, uint8_t *state, struct spc_offset *out,
                                const char *broker)
{
    bool again = false;
    for (int32_t ti = 0; ti < resp->Topics_count; ti++) {
        const struct kproto_list_offsets_response_list_offsets_topic_response *t =
            &resp->Topics[ti];
        for (int32_t pi = 0; pi < t->Partitions_count; pi++) {
            const struct kproto_list_offsets_response_list_offsets_partition_response *p =
                &t->Partitions[pi];
            for (size_t j = item_keys_find(keys, n, t->Name, p->PartitionIndex);
                 j < n && item_key_probe(t->Name, p->PartitionIndex, &keys[j]) == 0; j++) {
                uint32_t i = keys[j].index;
                if (slot[i] != k || state[i] != ITEM_PENDING) {
                    continue;
                }
                struct spc_offset *o = &out[i];
                if (p->ErrorCode != KERR_NONE) {
                    item_error(&o->err, p->ErrorCode, broker, sp_str_make(NULL),
                               "topic \"%s\" partition %d", keys[j].name, (int)o->partition);
                    if (route_retry(p->ErrorCode)) {
                        again = true;
                    } else {
                        state[i] = ITEM_DONE;
                    }
                    continue;
                }
                err_clear(&o->err);
                o->offset = p->Offset;
                o->timestamp = p->Timestamp;
                o->leader_epoch = p->LeaderEpoch;
                state[i] = ITEM_DONE;
            }
        }
    }
    return again;
}

int spc_admin_list_offsets(struct spc_client *c, const char *topic, const int32_t *partitions,
                           size_t n, int64_t timestamp, int timeout_ms, struct spc_offset *out,
                           struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || topic == NULL || n > ADMIN_ITEMS_MAX ||
        (n > 0 && (partitions == NULL || out == NULL))) {
        return err_invalid(e, "list offsets: bad arguments");
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = (struct spc_offset){
            .partition = partitions[i], .offset = -1, .timestamp = -1, .leader_epoch = -1};
    }
    if (n == 0) {
        return 0;
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    uint8_t *state = sp_arena_calloc(&op.scratch, n, sizeof(*state));
    struct item_key *keys = partition_keys(&op.scratch, topic, partitions, n);
    int rc = state != NULL && keys != NULL ? 0 : -ENOMEM;
    bool refresh = false;
    for (bool again = rc == 0; again;) {
        again = false;
        const struct spc_topic *t = topic_lookup(c, topic, refresh, &rc, e);
        if (t == NULL) {
            for (size_t i = 0; i < n; i++) {
                if (state[i] == ITEM_PENDING) {
                    out[i].err = *e;
                }
            }
            break;
        }
        struct leader_groups g;
        rc = leaders_group(c, &op.scratch, t, partitions, n, state, offset_err, out, &g);
        struct admin_fan *fan = rc == 0 && g.n > 0 ? fan_new(g.n) : NULL;
        if (rc == 0 && g.n > 0 && fan == NULL) {
            rc = -ENOMEM;
        }
        if (fan != NULL) {
            rc = list_offsets_fan(fan, topic, partitions, n, timestamp, &g, op_left_ms(&op));
        }
        if (rc < 0) {
            fan_finish(fan);
            break;
        }
        if (fan != NULL) {
            fan_run(&op, fan);
        }
        for (size_t k = 0; k < g.n; k++) {
            int crc;
            const struct kproto_list_offsets_response *resp = fan_response(fan, k, &crc);
            if (resp == NULL) {
                struct spc_error ce;
                fan_call_error(c, fan, k, crc, &ce);
                for (size_t i = 0; i < n; i++) {
                    if (g.slot[i] == k && state[i] == ITEM_PENDING) {
                        out[i].err = ce;
                        state[i] = ITEM_DONE;
                    }
                }
                continue;
            }
            again |= list_offsets_answer(resp, keys, n, g.slot, (uint32_t)k, state, out,
                                         fan->calls[k].call.broker);
        }
        fan_finish(fan);
        for (size_t i = 0; i < n; i++) {
            again |= state[i] == ITEM_PENDING;
        }
        refresh = true;
        again = again && op_backoff(&op);
    }
    op_fini(&op);
    return rc == -ENOMEM ? err_nomem(e, "list offsets") : SP_MIN(rc, 0);
}

/* ---- Partition sizes (DescribeLogDirs of every broker) ------------------------------ */

/* Adds one broker's sizes; returns whether it answered for the whole log (no error). */
static bool log_dirs_answer(const struct kproto_describe_log_dirs_response *resp,
                            const struct item_key *keys, size_t n, int64_t *sizes)
{
    if (resp->ErrorCode != KERR_NONE) {
        return false;
    }
    for (int32_t d = 0; d < resp->Results_count; d++) {
        const struct kproto_describe_log_dirs_response_describe_log_dirs_result *r =
            &resp->Results[d];
        if (r->ErrorCode != KERR_NONE) {
            continue;
        }
        for (int32_t ti = 0; ti < r->Topics_count; ti++) {
            const struct kproto_describe_log_dirs_response_describe_log_dirs_topic *t =
                &r->Topics[ti];
            for (int32_t pi = 0; pi < t->Partitions_count; pi++) {
                const struct kproto_describe_log_dirs_response_describe_log_dirs_partition *p =
                    &t->Partitions[pi];
                if (p->IsFutureKey || p->PartitionSize < 0) {
                    continue;
                }
                for (size_t j = item_keys_find(keys, n, t->Name, p->PartitionIndex);
                     j < n && item_key_probe(t->Name, p->PartitionIndex, &keys[j]) == 0; j++) {
                    int64_t *s = &sizes[keys[j].index];
                    *s = SP_MAX(*s, (int64_t)0) + p->PartitionSize;
                }
            }
        }
    }
    return true;
}

int spc_admin_partition_sizes(struct spc_client *c, const char *topic, const int32_t *partitions,
                              size_t n, int timeout_ms, int64_t *sizes, struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || topic == NULL || n > ADMIN_ITEMS_MAX ||
        (n > 0 && (partitions == NULL || sizes == NULL))) {
        return err_invalid(e, "partition sizes: bad arguments");
    }
    for (size_t i = 0; i < n; i++) {
        sizes[i] = -1;
    }
    if (n == 0) {
        return 0;
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    int rc = spc_metadata_sync(c, &topic, 1, false, e);
    size_t nb = 0;
    const struct spc_broker *brokers = rc == 0 ? spc_brokers(c, &nb) : NULL;
    if (rc == 0 && nb == 0) {
        spc_error_set(e, -ENOENT, "metadata", "partition sizes: no brokers known");
        rc = -ENOENT;
    }
    struct admin_fan *fan = rc == 0 ? fan_new(nb) : NULL;
    struct item_key *keys = rc == 0 ? partition_keys(&op.scratch, topic, partitions, n) : NULL;
    if (rc == 0 && (fan == NULL || keys == NULL)) {
        rc = err_nomem(e, "partition sizes");
    }
    for (size_t b = 0; rc == 0 && b < nb; b++) {
        struct kproto_describe_log_dirs_request *req = sp_arena_alloc(&fan->arena, sizeof(*req));
        struct kproto_describe_log_dirs_request_describable_log_dir_topic *t =
            sp_arena_calloc(&fan->arena, 1, sizeof(*t));
        int32_t *ps = sp_arena_calloc(&fan->arena, n, sizeof(*ps));
        if (req == NULL || t == NULL || ps == NULL) {
            rc = err_nomem(e, "partition sizes");
            break;
        }
        memcpy(ps, partitions, n * sizeof(*ps));
        kproto_describe_log_dirs_request_init(req);
        t->Topic = sp_str_make(topic);
        t->Partitions = ps;
        t->Partitions_count = (int32_t)n;
        req->Topics = t;
        req->Topics_count = 1;
        call_init(&fan->calls[b].call, KPROTO_API_KEY_DESCRIBE_LOG_DIRS, 0, 4, brokers[b].node,
                  req);
    }
    if (rc == 0) {
        fan_run(&op, fan);
        size_t answered = 0;
        for (size_t b = 0; b < nb; b++) {
            int crc;
            const struct kproto_describe_log_dirs_response *resp = fan_response(fan, b, &crc);
            if (resp == NULL) {
                fan_call_error(c, fan, b, crc, e);
                rc = crc;
            } else if (log_dirs_answer(resp, keys, n, sizes)) {
                answered++;
            } else {
                item_error(e, resp->ErrorCode, fan->calls[b].call.broker, sp_str_make(NULL),
                           "describe log dirs");
                rc = kafka_errno(resp->ErrorCode);
            }
        }
        /* Some brokers' sizes are worth having; the error says who did not answer. */
        if (answered > 0) {
            rc = 0;
        }
    }
    fan_finish(fan);
    op_fini(&op);
    return rc;
}

/* ---- Configs ------------------------------------------------------------------------ */

/* The node to ask about a resource: a broker's own, else any. false for a bad broker id. */
static bool config_node(int8_t resource_type, const char *resource, int32_t *node)
{
    *node = SPC_ANY_BROKER;
    if (resource_type != SPC_RESOURCE_BROKER && resource_type != 8 /* broker logger */) {
        return true;
    }
    char *end = NULL;
    errno = 0;
    long id = strtol(resource, &end, 10);
    if (errno != 0 || end == resource || *end != '\0' || id < 0 || id > INT32_MAX) {
        return false;
    }
    *node = (int32_t)id;
    return true;
}

static bool
describe_configs_copy(struct sp_arena *a, int16_t version,
                      const struct kproto_describe_configs_response_describe_configs_result *r,
                      struct spc_config_value **out, size_t *count)
{
    size_t m = (size_t)SP_MAX(r->Configs_count, 0);
    struct spc_config_value *v = sp_arena_calloc(a, m + 1, sizeof(*v));
    if (v == NULL) {
        return false;
    }
    for (size_t i = 0; i < m; i++) {
        const struct kproto_describe_configs_response_describe_configs_resource_result *rc =
            &r->Configs[i];
        v[i].name = sp_str_cstr(a, rc->Name);
        v[i].value = rc->IsSensitive ? NULL : sp_str_cstr(a, rc->Value);
        if (v[i].name == NULL ||
            (rc->Value.ptr != NULL && !rc->IsSensitive && v[i].value == NULL)) {
            return false;
        }
        v[i].read_only = rc->ReadOnly;
        v[i].sensitive = rc->IsSensitive;
        if (version == 0) {
            /* v0 says only whether it is a default: a non-default is the resource's own. */
            v[i].is_default = rc->IsDefault;
            v[i].source = rc->IsDefault ? 5 : (r->ResourceType == SPC_RESOURCE_TOPIC ? 1 : 4);
        } else {
            v[i].source = rc->ConfigSource;
            v[i].is_default = rc->ConfigSource == 5;
        }
    }
    *out = v;
    *count = m;
    return true;
}

int spc_admin_describe_configs(struct spc_client *c, int8_t resource_type, const char *resource,
                               const char *const *names, size_t names_count, int timeout_ms,
                               struct sp_arena *a, struct spc_config_value **out, size_t *count,
                               struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || resource == NULL || a == NULL || out == NULL || count == NULL ||
        names_count > ADMIN_ITEMS_MAX || (names_count > 0 && names == NULL)) {
        return err_invalid(e, "describe configs: bad arguments");
    }
    *out = NULL;
    *count = 0;
    int32_t node;
    if (!config_node(resource_type, resource, &node)) {
        return err_invalid(e, "describe configs: a broker is named by its node id");
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    struct kproto_describe_configs_request req;
    struct kproto_describe_configs_request_describe_configs_resource res;
    kproto_describe_configs_request_init(&req);
    memset(&res, 0, sizeof(res));
    res.ResourceType = resource_type;
    res.ResourceName = sp_str_make(resource);
    res.ConfigurationKeys_count = -1;
    int rc = 0;
    if (names_count > 0) {
        res.ConfigurationKeys = sp_arena_calloc(&op.scratch, names_count, sizeof(struct sp_str));
        if (res.ConfigurationKeys == NULL) {
            op_fini(&op);
            return err_nomem(e, "describe configs");
        }
        for (size_t i = 0; i < names_count; i++) {
            res.ConfigurationKeys[i] = sp_str_make(names[i]);
        }
        res.ConfigurationKeys_count = (int32_t)names_count;
    }
    req.Resources = &res;
    req.Resources_count = 1;
    for (bool again = true; again;) {
        again = false;
        struct spc_call call;
        call_init(&call, KPROTO_API_KEY_DESCRIBE_CONFIGS, 0, 4, node, &req);
        rc = op_call(&op, &call, e);
        if (rc < 0) {
            break;
        }
        const struct kproto_describe_configs_response *resp = call.response;
        if (resp->Results_count < 1) {
            spc_error_set(e, -EBADMSG, call.broker, "resource \"%s\": missing from the answer",
                          resource);
            rc = -EBADMSG;
        } else if (resp->Results[0].ErrorCode != KERR_NONE) {
            const struct kproto_describe_configs_response_describe_configs_result *r =
                &resp->Results[0];
            item_error(e, r->ErrorCode, call.broker, r->ErrorMessage, "%s \"%s\"",
                       resource_type == SPC_RESOURCE_TOPIC ? "topic" : "resource", resource);
            rc = kafka_errno(r->ErrorCode);
            again = controller_retry(r->ErrorCode);
        } else if (!describe_configs_copy(a, call.version, &resp->Results[0], out, count)) {
            rc = err_nomem(e, "describe configs");
        } else {
            err_clear(e);
            rc = 0;
        }
        spc_call_release(&call);
        again = again && op_backoff(&op);
    }
    op_fini(&op);
    return rc;
}

int spc_admin_alter_configs(struct spc_client *c, int8_t resource_type, const char *resource,
                            const struct spc_config_change *changes, size_t n, bool validate_only,
                            int timeout_ms, struct spc_item_result *result, struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || resource == NULL || result == NULL || n > ADMIN_ITEMS_MAX ||
        (n > 0 && changes == NULL)) {
        return err_invalid(e, "alter configs: bad arguments");
    }
    err_clear(&result->err);
    int32_t node;
    if (!config_node(resource_type, resource, &node)) {
        return err_invalid(e, "alter configs: a broker is named by its node id");
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    struct kproto_incremental_alter_configs_request req;
    struct kproto_incremental_alter_configs_request_alter_configs_resource res;
    kproto_incremental_alter_configs_request_init(&req);
    memset(&res, 0, sizeof(res));
    res.ResourceType = resource_type;
    res.ResourceName = sp_str_make(resource);
    res.Configs = sp_arena_calloc(&op.scratch, n + 1, sizeof(*res.Configs));
    if (res.Configs == NULL) {
        op_fini(&op);
        return err_nomem(e, "alter configs");
    }
    for (size_t i = 0; i < n; i++) {
        if (changes[i].name == NULL || (int)changes[i].op < 0 ||
            changes[i].op > SPC_CONFIG_SUBTRACT) {
            op_fini(&op);
            return err_invalid(e, "alter configs: a change without a name or a valid operation");
        }
        res.Configs[i].Name = sp_str_make(changes[i].name);
        res.Configs[i].ConfigOperation = (int8_t)changes[i].op;
        res.Configs[i].Value = sp_str_make(changes[i].value);
    }
    res.Configs_count = (int32_t)n;
    req.Resources = &res;
    req.Resources_count = 1;
    req.ValidateOnly = validate_only;
    int rc = 0;
    for (bool again = true; again;) {
        again = false;
        struct spc_call call;
        call_init(&call, KPROTO_API_KEY_INCREMENTAL_ALTER_CONFIGS, 0, 1, node, &req);
        rc = op_call(&op, &call, e);
        if (rc < 0) {
            result->err = *e;
            break;
        }
        const struct kproto_incremental_alter_configs_response *resp = call.response;
        if (resp->Responses_count < 1) {
            spc_error_set(&result->err, -EBADMSG, call.broker,
                          "resource \"%s\": missing from the answer", resource);
        } else if (resp->Responses[0].ErrorCode != KERR_NONE) {
            const struct kproto_incremental_alter_configs_response_alter_configs_resource_response
                *r = &resp->Responses[0];
            item_error(&result->err, r->ErrorCode, call.broker, r->ErrorMessage, "%s \"%s\"",
                       resource_type == SPC_RESOURCE_TOPIC ? "topic" : "resource", resource);
            again = controller_retry(r->ErrorCode);
        } else {
            err_clear(&result->err);
        }
        spc_call_release(&call);
        again = again && op_backoff(&op);
    }
    op_fini(&op);
    return rc;
}

/* ---- Groups -------------------------------------------------------------------------- */

static int group_listing_cmp(const void *pa, const void *pb)
{
    const struct spc_group_listing *a = pa;
    const struct spc_group_listing *b = pb;
    return strcmp(a->group_id, b->group_id);
}

/* Appends one broker's groups to *out (grown in a). */
static bool list_groups_copy(struct sp_arena *a, const struct kproto_list_groups_response *resp,
                             int32_t node, struct spc_group_listing **out, size_t *count,
                             size_t *cap)
{
    for (int32_t i = 0; i < resp->Groups_count; i++) {
        const struct kproto_list_groups_response_listed_group *g = &resp->Groups[i];
        if (*count == *cap) {
            size_t cap2 = SP_MAX(*cap * 2, (size_t)16);
            struct spc_group_listing *grown =
                sp_arena_grow(a, *out, *cap * sizeof(**out), cap2 * sizeof(**out));
            if (grown == NULL) {
                return false;
            }
            *out = grown;
            *cap = cap2;
        }
        struct spc_group_listing *l = &(*out)[(*count)++];
        l->group_id = sp_str_cstr(a, g->GroupId);
        l->protocol_type = g->ProtocolType.ptr != NULL ? sp_str_cstr(a, g->ProtocolType) : "";
        l->state = g->GroupState.ptr != NULL ? sp_str_cstr(a, g->GroupState) : "";
        l->coordinator = node;
        if (l->group_id == NULL || l->protocol_type == NULL || l->state == NULL) {
            return false;
        }
    }
    return true;
}

/* Sorts by group id and drops a group two brokers both listed (a coordinator moving). */
static size_t list_groups_merge(struct spc_group_listing *l, size_t n)
{
    if (n < 2) {
        return n;
    }
    qsort(l, n, sizeof(*l), group_listing_cmp);
    size_t m = 1;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(l[i].group_id, l[m - 1].group_id) != 0) {
            l[m++] = l[i];
        }
    }
    return m;
}

int spc_admin_list_groups(struct spc_client *c, int timeout_ms, struct sp_arena *a,
                          struct spc_group_listing **out, size_t *count, struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || a == NULL || out == NULL || count == NULL) {
        return err_invalid(e, "list groups: bad arguments");
    }
    *out = NULL;
    *count = 0;
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    size_t nb = 0;
    const struct spc_broker *brokers = spc_brokers(c, &nb);
    int rc = 0;
    if (nb == 0) {
        rc = spc_metadata_sync(c, NULL, 0, false, e);
        brokers = spc_brokers(c, &nb);
        if (rc == 0 && nb == 0) {
            spc_error_set(e, -ENOENT, "metadata", "list groups: no brokers known");
            rc = -ENOENT;
        }
    }
    /* The brokers' list may change while polling: keep the node ids. */
    int32_t *nodes = rc == 0 ? sp_arena_calloc(&op.scratch, nb, sizeof(*nodes)) : NULL;
    uint8_t *state = rc == 0 ? sp_arena_calloc(&op.scratch, nb, sizeof(*state)) : NULL;
    struct spc_error *berr = rc == 0 ? sp_arena_calloc(&op.scratch, nb, sizeof(*berr)) : NULL;
    if (rc == 0 && (nodes == NULL || state == NULL || berr == NULL)) {
        rc = -ENOMEM;
    }
    for (size_t b = 0; rc == 0 && b < nb; b++) {
        nodes[b] = brokers[b].node;
    }
    struct kproto_list_groups_request req;
    kproto_list_groups_request_init(&req);
    size_t cap = 0;
    for (bool again = rc == 0; again;) {
        again = false;
        struct admin_fan *fan = fan_new(nb);
        if (fan == NULL) {
            rc = -ENOMEM;
            break;
        }
        for (size_t b = 0; b < nb; b++) {
            call_init(&fan->calls[b].call, KPROTO_API_KEY_LIST_GROUPS, 0, 5, nodes[b],
                      state[b] == ITEM_PENDING ? &req : NULL);
        }
        fan_run(&op, fan);
        for (size_t b = 0; b < nb && rc == 0; b++) {
            if (state[b] != ITEM_PENDING) {
                continue;
            }
            int crc;
            const struct kproto_list_groups_response *resp = fan_response(fan, b, &crc);
            if (resp == NULL) {
                fan_call_error(c, fan, b, crc, &berr[b]);
                state[b] = ITEM_DONE;
            } else if (resp->ErrorCode != KERR_NONE) {
                item_error(&berr[b], resp->ErrorCode, fan->calls[b].call.broker, sp_str_make(NULL),
                           "list groups");
                bool retry = coordinator_retry(resp->ErrorCode);
                again |= retry;
                state[b] = retry ? ITEM_PENDING : ITEM_DONE;
            } else {
                err_clear(&berr[b]);
                state[b] = ITEM_DONE;
                if (!list_groups_copy(a, resp, nodes[b], out, count, &cap)) {
                    rc = -ENOMEM;
                }
            }
        }
        fan_finish(fan);
        again = again && rc == 0 && op_backoff(&op);
    }
    *count = list_groups_merge(*out, *count);
    /* A broker that could not be asked fails the call; what the others said is in *out. */
    for (size_t b = 0; rc == 0 && b < nb; b++) {
        if (berr[b].code != 0) {
            *e = berr[b];
            rc = berr[b].code < 0 ? berr[b].code : kafka_errno((int16_t)berr[b].code);
        }
    }
    op_fini(&op);
    return rc == -ENOMEM ? err_nomem(e, "list groups") : rc;
}

/* The topics and partitions of a consumer-protocol assignment, copied into a. */
static int assignment_decode(struct sp_arena *a, struct sp_slice bytes, struct spc_group_member *m)
{
    m->assignment = NULL;
    m->assignment_count = 0;
    if (bytes.ptr == NULL || bytes.len < 2) {
        return 0;
    }
    struct sp_rd rd;
    sp_rd_init(&rd, bytes.ptr, bytes.len);
    int16_t version = 0;
    sp_rd_i16(&rd, &version);
    const struct kproto_message *msg = kproto_message_find("ConsumerProtocolAssignment");
    if (rd.err != 0 || version < 0 || msg == NULL) {
        return -EBADMSG;
    }
    /* Later versions only add fields at the end, which an older reader skips. */
    version = SP_MIN(version, msg->max_version);
    struct kproto_consumer_protocol_assignment pa;
    int rc = kproto_consumer_protocol_assignment_decode(&rd, a, version, &pa);
    if (rc < 0) {
        return rc;
    }
    size_t nt = (size_t)SP_MAX(pa.AssignedPartitions_count, 0);
    struct spc_topic_partitions *tp = sp_arena_calloc(a, nt + 1, sizeof(*tp));
    if (tp == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < nt; i++) {
        const struct kproto_consumer_protocol_assignment_topic_partition *src =
            &pa.AssignedPartitions[i];
        tp[i].topic = sp_str_cstr(a, src->Topic);
        if (tp[i].topic == NULL) {
            return -ENOMEM;
        }
        /* The decoder put the partition array in a already. */
        tp[i].partitions = src->Partitions;
        tp[i].count = (size_t)SP_MAX(src->Partitions_count, 0);
    }
    m->assignment = tp;
    m->assignment_count = nt;
    return 0;
}

static const char *cstr_or_empty(struct sp_arena *a, struct sp_str s)
{
    return s.ptr != NULL ? sp_str_cstr(a, s) : "";
}

static int describe_group_copy(struct sp_arena *a,
                               const struct kproto_describe_groups_response_described_group *g,
                               struct spc_group_description *out)
{
    out->state = cstr_or_empty(a, g->GroupState);
    out->protocol_type = cstr_or_empty(a, g->ProtocolType);
    out->protocol = cstr_or_empty(a, g->ProtocolData);
    size_t nm = (size_t)SP_MAX(g->Members_count, 0);
    out->members = sp_arena_calloc(a, nm + 1, sizeof(*out->members));
    if (out->state == NULL || out->protocol_type == NULL || out->protocol == NULL ||
        out->members == NULL) {
        return -ENOMEM;
    }
    bool consumer = strcmp(out->protocol_type, "consumer") == 0;
    for (size_t i = 0; i < nm; i++) {
        const struct kproto_describe_groups_response_described_group_member *src = &g->Members[i];
        struct spc_group_member *m = &out->members[i];
        m->member_id = cstr_or_empty(a, src->MemberId);
        m->group_instance_id = sp_str_cstr(a, src->GroupInstanceId);
        m->client_id = cstr_or_empty(a, src->ClientId);
        m->client_host = cstr_or_empty(a, src->ClientHost);
        if (m->member_id == NULL || m->client_id == NULL || m->client_host == NULL ||
            (src->GroupInstanceId.ptr != NULL && m->group_instance_id == NULL)) {
            return -ENOMEM;
        }
        /* An assignment that does not decode is left out: the rest still describes the group. */
        if (consumer && assignment_decode(a, src->MemberAssignment, m) == -ENOMEM) {
            return -ENOMEM;
        }
    }
    out->members_count = nm;
    return 0;
}

int spc_admin_describe_group(struct spc_client *c, const char *group, int timeout_ms,
                             struct sp_arena *a, struct spc_group_description *out,
                             struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || group == NULL || a == NULL || out == NULL) {
        return err_invalid(e, "describe group: bad arguments");
    }
    memset(out, 0, sizeof(*out));
    out->group_id = sp_str_cstr(a, sp_str_make(group));
    out->state = "";
    out->protocol_type = "";
    out->protocol = "";
    out->coordinator = -1;
    if (out->group_id == NULL) {
        return err_nomem(e, "describe group");
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    kproto_group_id_t gid = sp_str_make(group);
    struct kproto_describe_groups_request req;
    kproto_describe_groups_request_init(&req);
    req.Groups = &gid;
    req.Groups_count = 1;
    int rc = 0;
    for (bool again = true; again;) {
        again = false;
        struct spc_call call;
        call_init(&call, KPROTO_API_KEY_DESCRIBE_GROUPS, 0, 5, SPC_COORDINATOR, &req);
        call.coordinator_key = group;
        rc = op_call(&op, &call, e);
        if (rc < 0) {
            break;
        }
        const struct kproto_describe_groups_response *resp = call.response;
        out->coordinator = call.sent_to;
        if (resp->Groups_count < 1) {
            spc_error_set(&out->err, -EBADMSG, call.broker, "group \"%s\": missing from the answer",
                          group);
        } else if (resp->Groups[0].ErrorCode != KERR_NONE) {
            int16_t code = resp->Groups[0].ErrorCode;
            item_error(&out->err, code, call.broker, sp_str_make(NULL), "group \"%s\"", group);
            again = coordinator_retry(code);
            if (coordinator_moved(code)) {
                coordinator_stale(c, group);
            }
        } else {
            err_clear(&out->err);
            rc = describe_group_copy(a, &resp->Groups[0], out);
        }
        spc_call_release(&call);
        again = again && rc == 0 && op_backoff(&op);
    }
    op_fini(&op);
    return rc == -ENOMEM ? err_nomem(e, "describe group") : rc;
}

int spc_admin_delete_groups(struct spc_client *c, const char *const *groups, size_t n,
                            int timeout_ms, struct spc_item_result *results, struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    int rc = names_check(e, c, groups, n, ADMIN_FAN_MAX, results, "delete groups", "group");
    if (rc < 0 || n == 0) {
        return rc;
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    uint8_t *state = sp_arena_calloc(&op.scratch, n, sizeof(*state));
    kproto_group_id_t *ids = sp_arena_calloc(&op.scratch, n, sizeof(*ids));
    struct kproto_delete_groups_request *reqs = sp_arena_calloc(&op.scratch, n, sizeof(*reqs));
    rc = state != NULL && ids != NULL && reqs != NULL ? 0 : -ENOMEM;
    /* One request per group, to its own coordinator (they may differ). */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        ids[i] = sp_str_make(groups[i]);
        kproto_delete_groups_request_init(&reqs[i]);
        reqs[i].GroupsNames = &ids[i];
        reqs[i].GroupsNames_count = 1;
    }
    for (bool again = rc == 0; again;) {
        again = false;
        struct admin_fan *fan = fan_new(n);
        if (fan == NULL) {
            rc = -ENOMEM;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            struct spc_call *call = &fan->calls[i].call;
            call_init(call, KPROTO_API_KEY_DELETE_GROUPS, 0, 2, SPC_COORDINATOR,
                      state[i] == ITEM_PENDING ? &reqs[i] : NULL);
            call->coordinator_key = groups[i];
        }
        fan_run(&op, fan);
        for (size_t i = 0; i < n; i++) {
            if (state[i] != ITEM_PENDING) {
                continue;
            }
            int crc;
            const struct kproto_delete_groups_response *resp = fan_response(fan, i, &crc);
            if (resp == NULL) {
                fan_call_error(c, fan, i, crc, &results[i].err);
                state[i] = ITEM_DONE;
                continue;
            }
            const char *broker = fan->calls[i].call.broker;
            int16_t code = KERR_NONE;
            if (resp->Results_count < 1) {
                spc_error_set(&results[i].err, -EBADMSG, broker,
                              "group \"%s\": missing from the answer", groups[i]);
                state[i] = ITEM_DONE;
                continue;
            }
            code = resp->Results[0].ErrorCode;
            if (code == KERR_NONE) {
                err_clear(&results[i].err);
                state[i] = ITEM_DONE;
                continue;
            }
            item_error(&results[i].err, code, broker, sp_str_make(NULL), "group \"%s\"", groups[i]);
            if (coordinator_moved(code)) {
                coordinator_stale(c, groups[i]);
            }
            if (coordinator_retry(code)) {
                again = true;
            } else {
                state[i] = ITEM_DONE;
            }
        }
        fan_finish(fan);
        again = again && op_backoff(&op);
    }
    op_fini(&op);
    return rc == -ENOMEM ? err_nomem(e, "delete groups") : 0;
}

/* ---- Committed offsets ---------------------------------------------------------------- */

/*
 * The topics an OffsetFetch names: every partition of each of these topics
 * (from the metadata). Topics the metadata does not know get an entry of
 * their own in *missing (their error). NULL topics: all (Topics null).
 */
struct fetch_topics {
    struct kproto_offset_fetch_request_offset_fetch_request_topics *v; /* v8+ shape */
    int32_t count;                                                     /* -1: all */
    const char **missing;
    struct spc_error *missing_err;
    size_t missing_count;
};

static int fetch_topics_build(struct spc_client *c, struct sp_arena *scratch,
                              const char *const *topics, size_t n, struct fetch_topics *ft,
                              struct spc_error *e)
{
    memset(ft, 0, sizeof(*ft));
    ft->count = -1;
    if (n == 0) {
        return 0;
    }
    int rc = spc_metadata_sync(c, topics, n, false, e);
    if (rc < 0) {
        return rc;
    }
    ft->v = sp_arena_calloc(scratch, n, sizeof(*ft->v));
    ft->missing = sp_arena_calloc(scratch, n, sizeof(*ft->missing));
    ft->missing_err = sp_arena_calloc(scratch, n, sizeof(*ft->missing_err));
    if (ft->v == NULL || ft->missing == NULL || ft->missing_err == NULL) {
        return -ENOMEM;
    }
    ft->count = 0;
    char who[ADMIN_NAME_BYTES];
    metadata_name(c, who, sizeof(who));
    for (size_t i = 0; i < n; i++) {
        const struct spc_topic *t = spc_topic_get(c, topics[i]);
        if (t == NULL || t->error != KERR_NONE || t->partitions_count <= 0) {
            int16_t code =
                t != NULL && t->error != KERR_NONE ? t->error : KERR_UNKNOWN_TOPIC_OR_PARTITION;
            item_error(&ft->missing_err[ft->missing_count], code, who, sp_str_make(NULL),
                       "topic \"%s\"", topics[i]);
            ft->missing[ft->missing_count++] = topics[i];
            continue;
        }
        int32_t np = t->partitions_count;
        int32_t *ps = sp_arena_calloc(scratch, (size_t)np, sizeof(*ps));
        if (ps == NULL) {
            return -ENOMEM;
        }
        for (int32_t p = 0; p < np; p++) {
            ps[p] = p;
        }
        ft->v[ft->count++] = (struct kproto_offset_fetch_request_offset_fetch_request_topics){
            .Name = sp_str_make(topics[i]), .PartitionIndexes = ps, .PartitionIndexes_count = np};
    }
    return 0;
}

/* The request in the v8+ shape (groups) or the older one. */
static int offset_fetch_request(struct sp_arena *a, const char *group,
                                const struct fetch_topics *ft, bool v8,
                                struct kproto_offset_fetch_request *req)
{
    kproto_offset_fetch_request_init(req);
    if (v8) {
        struct kproto_offset_fetch_request_offset_fetch_request_group *g =
            sp_arena_calloc(a, 1, sizeof(*g));
        if (g == NULL) {
            return -ENOMEM;
        }
        g->GroupId = sp_str_make(group);
        g->MemberId = sp_str_make(NULL);
        g->MemberEpoch = -1;
        g->Topics = ft->v;
        g->Topics_count = ft->count;
        req->Groups = g;
        req->Groups_count = 1;
        return 0;
    }
    req->GroupId = sp_str_make(group);
    req->Topics_count = ft->count;
    if (ft->count > 0) {
        /* The two shapes' topic structs are alike, but distinct types: copy. */
        req->Topics = sp_arena_calloc(a, (size_t)ft->count, sizeof(*req->Topics));
        if (req->Topics == NULL) {
            return -ENOMEM;
        }
        for (int32_t i = 0; i < ft->count; i++) {
            req->Topics[i].Name = ft->v[i].Name;
            req->Topics[i].PartitionIndexes = ft->v[i].PartitionIndexes;
            req->Topics[i].PartitionIndexes_count = ft->v[i].PartitionIndexes_count;
        }
    }
    return 0;
}

/* A view of both response shapes' partitions (their fields are alike). */
struct fetched_partition {
    int32_t partition;
    int64_t offset;
    struct sp_str metadata;
    int16_t error;
};

static bool fetched_add(struct sp_arena *a, struct spc_group_offset *o, struct sp_str topic,
                        const struct fetched_partition *p, const char *broker)
{
    o->topic = sp_str_cstr(a, topic);
    o->partition = p->partition;
    o->offset = p->offset;
    o->metadata = cstr_or_empty(a, p->metadata);
    err_clear(&o->err);
    if (p->error != KERR_NONE) {
        item_error(&o->err, p->error, broker, sp_str_make(NULL), "topic \"%s\" partition %d",
                   o->topic != NULL ? o->topic : "", (int)p->partition);
    }
    return o->topic != NULL && o->metadata != NULL;
}

/* Copies the answer's offsets (and the topics nobody knows) into *out in a. */
static int offset_fetch_copy(struct sp_arena *a, const struct kproto_offset_fetch_response *resp,
                             bool v8, const struct fetch_topics *ft, const char *broker,
                             struct spc_group_offset **out, size_t *count)
{
    size_t total = ft->missing_count;
    if (v8) {
        const struct kproto_offset_fetch_response_offset_fetch_response_group *g = &resp->Groups[0];
        for (int32_t t = 0; t < g->Topics_count; t++) {
            total += (size_t)SP_MAX(g->Topics[t].Partitions_count, 0);
        }
    } else {
        for (int32_t t = 0; t < resp->Topics_count; t++) {
            total += (size_t)SP_MAX(resp->Topics[t].Partitions_count, 0);
        }
    }
    struct spc_group_offset *o = sp_arena_calloc(a, total + 1, sizeof(*o));
    if (o == NULL) {
        return -ENOMEM;
    }
    size_t k = 0;
    bool ok = true;
    if (v8) {
        const struct kproto_offset_fetch_response_offset_fetch_response_group *g = &resp->Groups[0];
        for (int32_t t = 0; t < g->Topics_count; t++) {
            for (int32_t i = 0; i < g->Topics[t].Partitions_count; i++) {
                const struct kproto_offset_fetch_response_offset_fetch_response_partitions *p =
                    &g->Topics[t].Partitions[i];
                struct fetched_partition fp = {p->PartitionIndex, p->CommittedOffset, p->Metadata,
                                               p->ErrorCode};
                ok &= fetched_add(a, &o[k++], g->Topics[t].Name, &fp, broker);
            }
        }
    } else {
        for (int32_t t = 0; t < resp->Topics_count; t++) {
            for (int32_t i = 0; i < resp->Topics[t].Partitions_count; i++) {
                const struct kproto_offset_fetch_response_offset_fetch_response_partition *p =
                    &resp->Topics[t].Partitions[i];
                struct fetched_partition fp = {p->PartitionIndex, p->CommittedOffset, p->Metadata,
                                               p->ErrorCode};
                ok &= fetched_add(a, &o[k++], resp->Topics[t].Name, &fp, broker);
            }
        }
    }
    for (size_t i = 0; i < ft->missing_count; i++) {
        o[k] = (struct spc_group_offset){.topic = sp_str_cstr(a, sp_str_make(ft->missing[i])),
                                         .partition = -1,
                                         .offset = -1,
                                         .metadata = "",
                                         .err = ft->missing_err[i]};
        ok &= o[k++].topic != NULL;
    }
    if (!ok) {
        return -ENOMEM;
    }
    *out = o;
    *count = k;
    return 0;
}

/* The group-level error of an OffsetFetch answer (v0-1 carry it in each partition). */
static int16_t offset_fetch_error(const struct kproto_offset_fetch_response *resp, bool v8)
{
    if (v8) {
        return resp->Groups_count > 0 ? resp->Groups[0].ErrorCode : KERR_NONE;
    }
    if (resp->ErrorCode != KERR_NONE) {
        return resp->ErrorCode;
    }
    for (int32_t t = 0; t < resp->Topics_count; t++) {
        for (int32_t i = 0; i < resp->Topics[t].Partitions_count; i++) {
            if (coordinator_retry(resp->Topics[t].Partitions[i].ErrorCode)) {
                return resp->Topics[t].Partitions[i].ErrorCode;
            }
        }
    }
    return KERR_NONE;
}

int spc_admin_fetch_offsets(struct spc_client *c, const char *group, const char *const *topics,
                            size_t topics_count, int timeout_ms, struct sp_arena *a,
                            struct spc_group_offset **out, size_t *count, struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || group == NULL || a == NULL || out == NULL || count == NULL ||
        topics_count > ADMIN_ITEMS_MAX || (topics_count > 0 && topics == NULL)) {
        return err_invalid(e, "fetch offsets: bad arguments");
    }
    *out = NULL;
    *count = 0;
    for (size_t i = 0; i < topics_count; i++) {
        if (topics[i] == NULL) {
            return err_invalid(e, "fetch offsets: a topic without a name");
        }
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    struct fetch_topics ft;
    int rc = fetch_topics_build(c, &op.scratch, topics, topics_count, &ft, e);
    bool v8 = true;
    for (bool again = rc == 0; again;) {
        again = false;
        struct kproto_offset_fetch_request req;
        rc = offset_fetch_request(&op.scratch, group, &ft, v8, &req);
        if (rc < 0) {
            break;
        }
        /* All topics (null) came with v2. */
        int16_t min_version = v8 ? 8 : (ft.count < 0 ? 2 : 1);
        struct spc_call call;
        call_init(&call, KPROTO_API_KEY_OFFSET_FETCH, min_version, v8 ? 9 : 7, SPC_COORDINATOR,
                  &req);
        call.coordinator_key = group;
        rc = op_call(&op, &call, e);
        if (rc == -ENOTSUP && v8) {
            v8 = false;
            again = true;
            continue;
        }
        if (rc < 0) {
            break;
        }
        const struct kproto_offset_fetch_response *resp = call.response;
        int16_t code = offset_fetch_error(resp, v8);
        if (v8 && resp->Groups_count < 1) {
            spc_error_set(e, -EBADMSG, call.broker, "group \"%s\": missing from the answer", group);
            rc = -EBADMSG;
        } else if (code != KERR_NONE) {
            item_error(e, code, call.broker, sp_str_make(NULL), "group \"%s\"", group);
            rc = kafka_errno(code);
            again = coordinator_retry(code) || code == KERR_UNSTABLE_OFFSET_COMMIT;
            if (coordinator_moved(code)) {
                coordinator_stale(c, group);
            }
        } else {
            rc = offset_fetch_copy(a, resp, v8, &ft, call.broker, out, count);
        }
        spc_call_release(&call);
        again = again && op_backoff(&op);
        if (again) {
            err_clear(e);
        }
    }
    op_fini(&op);
    return rc == -ENOMEM ? err_nomem(e, "fetch offsets") : rc;
}

static struct item_key *offset_keys(struct sp_arena *a, const struct spc_group_offset *offsets,
                                    size_t n)
{
    struct item_key *keys = sp_arena_calloc(a, n + 1, sizeof(*keys));
    if (keys != NULL) {
        for (size_t i = 0; i < n; i++) {
            keys[i] = (struct item_key){offsets[i].topic, offsets[i].partition, (uint32_t)i};
        }
        item_keys_sort(keys, n);
    }
    return keys;
}

/* The pending offsets as OffsetCommit topics (keys sorted by topic: one run per topic). */
static int offset_commit_request(struct sp_arena *a, const char *group,
                                 const struct spc_group_offset *offsets,
                                 const struct item_key *keys, size_t n, const uint8_t *state,
                                 struct kproto_offset_commit_request *req)
{
    kproto_offset_commit_request_init(req);
    req->GroupId = sp_str_make(group);
    req->GenerationIdOrMemberEpoch = -1;
    req->MemberId = sp_str_make("");
    req->GroupInstanceId = sp_str_make(NULL);
    req->RetentionTimeMs = -1;
    req->Topics = sp_arena_calloc(a, n, sizeof(*req->Topics));
    struct kproto_offset_commit_request_offset_commit_request_partition *ps =
        sp_arena_calloc(a, n, sizeof(*ps));
    if (req->Topics == NULL || ps == NULL) {
        return -ENOMEM;
    }
    struct kproto_offset_commit_request_offset_commit_request_topic *t = NULL;
    for (size_t k = 0; k < n; k++) {
        const struct spc_group_offset *o = &offsets[keys[k].index];
        if (state[keys[k].index] != ITEM_PENDING) {
            continue;
        }
        if (t == NULL || strcmp(t->Name.ptr, o->topic) != 0) {
            t = &req->Topics[req->Topics_count++];
            t->Name = sp_str_make(o->topic);
            t->Partitions = ps;
        }
        ps[0] = (struct kproto_offset_commit_request_offset_commit_request_partition){
            .PartitionIndex = o->partition,
            .CommittedOffset = o->offset,
            .CommittedLeaderEpoch = -1,
            .CommitTimestamp = -1,
            .CommittedMetadata = sp_str_make(o->metadata != NULL ? o->metadata : ""),
        };
        ps++;
        t->Partitions_count++;
    }
    return 0;
}

/* Applies the answer; returns whether the group is to be asked again. */
static bool offset_commit_answer(struct spc_client *c, const char *group,
                                 const struct kproto_offset_commit_response *resp,
                                 const struct item_key *keys, size_t n, uint8_t *state,
                                 struct spc_group_offset *offsets, const char *broker)
{
    bool again = false;
    bool moved = false;
    for (int32_t ti = 0; ti < resp->Topics_count; ti++) {
        const struct kproto_offset_commit_response_offset_commit_response_topic *t =
            &resp->Topics[ti];
        for (int32_t pi = 0; pi < t->Partitions_count; pi++) {
            const struct kproto_offset_commit_response_offset_commit_response_partition *p =
                &t->Partitions[pi];
            for (size_t j = item_keys_find(keys, n, t->Name, p->PartitionIndex);
                 j < n && item_key_probe(t->Name, p->PartitionIndex, &keys[j]) == 0; j++) {
                uint32_t i = keys[j].index;
                if (state[i] != ITEM_PENDING) {
                    continue;
                }
                struct spc_group_offset *o = &offsets[i];
                if (p->ErrorCode == KERR_NONE) {
                    err_clear(&o->err);
                    state[i] = ITEM_DONE;
                    continue;
                }
                item_error(&o->err, p->ErrorCode, broker, sp_str_make(NULL),
                           "group \"%s\" topic \"%s\" partition %d", group, o->topic,
                           (int)o->partition);
                if (coordinator_retry(p->ErrorCode)) {
                    again = true;
                    moved |= coordinator_moved(p->ErrorCode);
                } else {
                    state[i] = ITEM_DONE;
                }
            }
        }
    }
    if (moved) {
        coordinator_stale(c, group);
    }
    return again;
}

int spc_admin_commit_offsets(struct spc_client *c, const char *group,
                             struct spc_group_offset *offsets, size_t n, int timeout_ms,
                             struct spc_error *err)
{
    struct spc_error local;
    struct spc_error *e = err_or(err, &local);
    if (c == NULL || group == NULL || n > ADMIN_ITEMS_MAX || (n > 0 && offsets == NULL)) {
        return err_invalid(e, "commit offsets: bad arguments");
    }
    for (size_t i = 0; i < n; i++) {
        if (offsets[i].topic == NULL) {
            return err_invalid(e, "commit offsets: an offset without a topic");
        }
        err_clear(&offsets[i].err);
    }
    if (n == 0) {
        return 0;
    }
    struct admin_op op;
    op_init(&op, c, timeout_ms);
    uint8_t *state = sp_arena_calloc(&op.scratch, n, sizeof(*state));
    struct item_key *keys = offset_keys(&op.scratch, offsets, n);
    int rc = state != NULL && keys != NULL ? 0 : -ENOMEM;
    for (bool again = rc == 0; again;) {
        again = false;
        struct kproto_offset_commit_request req;
        rc = offset_commit_request(&op.scratch, group, offsets, keys, n, state, &req);
        if (rc < 0) {
            break;
        }
        /* v1: outside a generation (GenerationId -1) with the group's own storage. */
        struct spc_call call;
        call_init(&call, KPROTO_API_KEY_OFFSET_COMMIT, 1, 9, SPC_COORDINATOR, &req);
        call.coordinator_key = group;
        rc = op_call(&op, &call, e);
        if (rc < 0) {
            for (size_t i = 0; i < n; i++) {
                if (state[i] == ITEM_PENDING) {
                    offsets[i].err = *e;
                }
            }
            break;
        }
        again = offset_commit_answer(c, group, call.response, keys, n, state, offsets, call.broker);
        for (size_t i = 0; i < n; i++) {
            if (state[i] == ITEM_PENDING && !again) {
                spc_error_set(&offsets[i].err, -EBADMSG, call.broker,
                              "topic \"%s\" partition %d: missing from the answer",
                              offsets[i].topic, (int)offsets[i].partition);
                state[i] = ITEM_DONE;
            }
        }
        spc_call_release(&call);
        again = again && op_backoff(&op);
    }
    op_fini(&op);
    return rc == -ENOMEM ? err_nomem(e, "commit offsets") : rc;
}
