/*
 * tests/client/check_core.c: checks of the client core (client/client.c)
 * against whatever Kafka-compatible broker listens at the bootstrap address.
 * tests/integration/test_client_core.py runs it against Spindle and against
 * librdkafka's mock cluster (tools/kafka-mock).
 *
 *   check_client_core BOOTSTRAP SCENARIO [ARG...]
 *
 *   errors                      (no broker) spc_error_set, spc_retriable,
 *                               bad bootstrap lists
 *   negotiate                   versions: ours vs the brokers' ApiVersions
 *   metadata TOPIC PARTITIONS   brokers, controller, cluster id, leaders
 *   call TOPIC                  spc_call_sync of ListOffsets and Metadata,
 *                               many calls at once, free with calls pending
 *   create TOPIC PARTITIONS     CreateTopics through the controller
 *   recreate TOPIC              create (2), delete, create (5): the cache
 *                               follows after spc_metadata_stale
 *   leader TOPIC PARTITION      prints the leader, reads "moved N" on stdin,
 *                               then the cache must name N after a stale
 *   refused TIMEOUT_MS          the bootstrap refuses: -ECONNREFUSED in time
 *   silent TIMEOUT_MS           the bootstrap never answers: -ETIMEDOUT in time
 *   down NODE                   calls to NODE; "down" on stdin: they fail in
 *                               time; "up": they work again
 *   coordinator GROUP TOPIC     OffsetFetch routed to GROUP's coordinator,
 *                               again after spc_coordinator_stale
 *   slow NODE                   "slow" on stdin (the mock delays NODE's
 *                               answers): -ETIMEDOUT in time; "fast": works
 *   oversize BIG SMALL          max_response_bytes 4096: BIG's metadata fails
 *                               with -EMSGSIZE, SMALL's still works
 *
 * Prints what it sees, exits 0 when every check held, 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/spc.h"
#include "protocol/kproto.h"

static int failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "check_core:%d: FAILED %s: ", __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static const char *bootstrap;

static struct spc_client *client_make(int32_t timeout_ms, size_t max_response, int32_t retries)
{
    struct spc_config cfg;
    spc_config_init(&cfg);
    cfg.bootstrap = bootstrap;
    cfg.client_id = "check-core";
    cfg.request_timeout_ms = timeout_ms;
    cfg.connect_timeout_ms = timeout_ms;
    if (max_response > 0) {
        cfg.max_response_bytes = max_response;
    }
    cfg.retries = retries;
    struct spc_client *c = NULL;
    struct spc_error err;
    int rc = spc_client_new(&cfg, &c, &err);
    if (rc < 0) {
        fprintf(stderr, "check_core: client: %s\n", err.message);
        exit(1);
    }
    return c;
}

static int16_t our_max(int16_t key)
{
    const struct kproto_api *api = kproto_api_get(key);
    return api->stable_max >= api->min_version ? api->stable_max : api->max_version;
}

static void read_line(const char *want)
{
    char line[128];
    if (fgets(line, sizeof(line), stdin) == NULL || strncmp(line, want, strlen(want)) != 0) {
        fprintf(stderr, "check_core: expected \"%s\" on stdin\n", want);
        exit(1);
    }
}

/* ---- negotiate -------------------------------------------------------------- */

static void scenario_negotiate(void)
{
    struct spc_client *c = client_make(10000, 0, 5);
    struct spc_error err;
    int rc = spc_metadata_sync(c, NULL, 0, false, &err);
    CHECK(rc == 0, "metadata: %s", err.message);
    size_t nb = 0;
    const struct spc_broker *bs = spc_brokers(c, &nb);
    CHECK(nb >= 1, "no brokers");
    const int16_t keys[] = {KPROTO_API_KEY_METADATA, KPROTO_API_KEY_PRODUCE, KPROTO_API_KEY_FETCH,
                            KPROTO_API_KEY_LIST_OFFSETS};
    for (size_t i = 0; i < nb; i++) {
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            int16_t bmin, bmax;
            rc = spc_broker_api_range(c, bs[i].node, keys[k], &bmin, &bmax, 10000, &err);
            CHECK(rc == 0, "node %d key %d: %s", bs[i].node, keys[k], err.message);
            int16_t want = our_max(keys[k]) < bmax ? our_max(keys[k]) : bmax;
            int16_t got = spc_api_version(c, bs[i].node, keys[k]);
            printf("negotiate node=%d api=%s broker=%d-%d ours=%d got=%d\n", bs[i].node,
                   kproto_api_get(keys[k])->name, bmin, bmax, our_max(keys[k]), got);
            CHECK(got == want, "node %d key %d: got v%d, want v%d", bs[i].node, keys[k], got, want);
        }
    }
    /* A version range the broker cannot meet fails with -ENOTSUP, naming the API. */
    struct kproto_metadata_request req;
    kproto_metadata_request_init(&req);
    req.Topics_count = 0;
    struct spc_call call;
    memset(&call, 0, sizeof(call));
    call.api_key = KPROTO_API_KEY_METADATA;
    call.min_version = 99;
    call.max_version = 99;
    call.node = SPC_ANY_BROKER;
    call.request = &req;
    rc = spc_call_sync(c, &call, &err);
    printf("unsupported: rc=%d %s\n", rc, err.message);
    CHECK(rc == -ENOTSUP, "rc %d", rc);
    CHECK(strstr(err.message, "Metadata") != NULL, "message: %s", err.message);
    spc_call_release(&call);
    spc_client_free(c);
}

/* ---- metadata --------------------------------------------------------------- */

static bool id_zero(const uint8_t *id)
{
    for (int i = 0; i < 16; i++) {
        if (id[i] != 0) {
            return false;
        }
    }
    return true;
}

static void scenario_metadata(const char *topic, int32_t partitions)
{
    struct spc_client *c = client_make(10000, 0, 5);
    struct spc_error err;
    const char *topics[] = {topic};
    int rc = spc_metadata_sync(c, topics, 1, false, &err);
    CHECK(rc == 0, "metadata: %s", err.message);
    size_t nb = 0;
    const struct spc_broker *bs = spc_brokers(c, &nb);
    printf("cluster=%s controller=%d brokers=%zu\n", spc_cluster_id(c), spc_controller_id(c), nb);
    CHECK(nb >= 1, "no brokers");
    CHECK(spc_cluster_id(c)[0] != '\0', "no cluster id");
    bool controller_known = false;
    for (size_t i = 0; i < nb; i++) {
        printf("broker %d %s:%d\n", bs[i].node, bs[i].host, bs[i].port);
        controller_known |= bs[i].node == spc_controller_id(c);
    }
    /* librdkafka's mock cluster names no broker of its own as the controller. */
    CHECK(controller_known || getenv("CHECK_CORE_MOCK") != NULL, "controller %d is not a broker",
          spc_controller_id(c));
    const struct spc_topic *t = spc_topic_get(c, topic);
    CHECK(t != NULL, "topic %s not cached", topic);
    if (t != NULL) {
        printf("topic %s error=%d partitions=%d id_zero=%d\n", t->name, t->error,
               t->partitions_count, id_zero(t->id));
        CHECK(t->error == 0, "topic error %d", t->error);
        CHECK(t->partitions_count == partitions, "%d partitions", t->partitions_count);
        for (int32_t p = 0; p < t->partitions_count; p++) {
            int32_t leader = spc_leader(c, topic, p);
            bool known = false;
            for (size_t i = 0; i < nb; i++) {
                known |= bs[i].node == leader;
            }
            printf("partition %d leader=%d epoch=%d\n", p, leader, t->partitions[p].leader_epoch);
            CHECK(known, "partition %d leader %d", p, leader);
        }
    }
    CHECK(spc_leader(c, topic, partitions) == -1, "leader of a partition out of range");
    CHECK(spc_leader(c, "no-such-topic-in-cache", 0) == -1, "leader of an unknown topic");
    spc_client_free(c);
}

/* ---- call ------------------------------------------------------------------- */

struct counter {
    int done, ok, cancelled;
};

static void count_done(struct spc_call *call, int rc)
{
    struct counter *n = call->ctx;
    n->done++;
    n->ok += rc == 0;
    n->cancelled += rc == -ECANCELED;
    spc_call_release(call);
}

static void scenario_call(const char *topic)
{
    struct spc_client *c = client_make(10000, 0, 5);
    struct spc_error err;
    const char *topics[] = {topic};
    int rc = spc_metadata_sync(c, topics, 1, false, &err);
    CHECK(rc == 0, "metadata: %s", err.message);
    int32_t leader = spc_leader(c, topic, 0);
    CHECK(leader >= 0, "no leader for %s/0", topic);

    struct kproto_list_offsets_request_list_offsets_partition part = {
        .PartitionIndex = 0, .CurrentLeaderEpoch = -1, .Timestamp = -1, .MaxNumOffsets = 1};
    struct kproto_list_offsets_request_list_offsets_topic lt = {
        .Name = sp_str_make(topic), .Partitions = &part, .Partitions_count = 1};
    struct kproto_list_offsets_request lo;
    kproto_list_offsets_request_init(&lo);
    lo.ReplicaId = -1;
    lo.Topics = &lt;
    lo.Topics_count = 1;
    struct spc_call call;
    memset(&call, 0, sizeof(call));
    call.api_key = KPROTO_API_KEY_LIST_OFFSETS;
    call.min_version = 1;
    call.max_version = 10;
    call.node = leader;
    call.request = &lo;
    call.retry_transport = true;
    rc = spc_call_sync(c, &call, &err);
    CHECK(rc == 0, "ListOffsets: %s", err.message);
    if (rc == 0) {
        const struct kproto_list_offsets_response *r = call.response;
        CHECK(r->Topics_count == 1 && r->Topics[0].Partitions_count == 1, "shape");
        if (r->Topics_count == 1 && r->Topics[0].Partitions_count == 1) {
            const struct kproto_list_offsets_response_list_offsets_partition_response *p =
                &r->Topics[0].Partitions[0];
            printf("ListOffsets v%d from %s (node %d): error=%d offset=%lld\n", call.version,
                   call.broker, call.sent_to, p->ErrorCode, (long long)p->Offset);
            CHECK(p->ErrorCode == 0 && p->Offset >= 0, "error %d offset %lld", p->ErrorCode,
                  (long long)p->Offset);
            CHECK(call.sent_to == leader, "sent to %d, leader %d", call.sent_to, leader);
        }
    }
    spc_call_release(&call);

    /* Metadata as a plain call to any broker. */
    struct kproto_metadata_request mreq;
    kproto_metadata_request_init(&mreq);
    mreq.Topics_count = 0;
    memset(&call, 0, sizeof(call));
    call.api_key = KPROTO_API_KEY_METADATA;
    call.min_version = 1;
    call.max_version = 12;
    call.node = SPC_ANY_BROKER;
    call.request = &mreq;
    rc = spc_call_sync(c, &call, &err);
    CHECK(rc == 0, "Metadata: %s", err.message);
    if (rc == 0) {
        const struct kproto_metadata_response *r = call.response;
        printf("Metadata v%d from %s: %d brokers\n", call.version, call.broker, r->Brokers_count);
        CHECK(r->Brokers_count >= 1, "brokers %d", r->Brokers_count);
    }
    spc_call_release(&call);

    /* Many at once: queued behind max_inflight, several frames per send. */
    enum { MANY = 64 };
    static struct spc_call calls[MANY];
    struct counter n = {0, 0, 0};
    for (int i = 0; i < MANY; i++) {
        memset(&calls[i], 0, sizeof(calls[i]));
        calls[i].api_key = KPROTO_API_KEY_METADATA;
        calls[i].min_version = 1;
        calls[i].max_version = 12;
        calls[i].node = i % 2 == 0 ? SPC_ANY_BROKER : leader;
        calls[i].request = &mreq;
        calls[i].done = count_done;
        calls[i].ctx = &n;
        rc = spc_send(c, &calls[i]);
        CHECK(rc == 0, "spc_send %d", rc);
    }
    int64_t t0 = spc_now_ms(c);
    while (n.done < MANY && spc_now_ms(c) - t0 < 20000) {
        spc_poll(c, 100);
    }
    printf("many: %d done, %d ok in %lld ms\n", n.done, n.ok, (long long)(spc_now_ms(c) - t0));
    CHECK(n.ok == MANY, "%d of %d ok", n.ok, MANY);

    /* Lanes: a second client with 4 connections per broker. */
    {
        struct spc_config cfg;
        spc_config_init(&cfg);
        cfg.bootstrap = bootstrap;
        cfg.connections = 4;
        cfg.max_inflight = 2;
        struct spc_client *l = NULL;
        CHECK(spc_client_new(&cfg, &l, &err) == 0, "lanes client: %s", err.message);
        struct counter k = {0, 0, 0};
        for (int i = 0; l != NULL && i < MANY; i++) {
            memset(&calls[i], 0, sizeof(calls[i]));
            calls[i].api_key = KPROTO_API_KEY_METADATA;
            calls[i].min_version = 1;
            calls[i].max_version = 12;
            calls[i].node = i % 2 == 0 ? SPC_ANY_BROKER : leader;
            calls[i].lane = (uint32_t)i;
            calls[i].request = &mreq;
            calls[i].done = count_done;
            calls[i].ctx = &k;
            CHECK(spc_send(l, &calls[i]) == 0, "spc_send");
        }
        t0 = spc_now_ms(c);
        while (l != NULL && k.done < MANY && spc_now_ms(c) - t0 < 20000) {
            spc_poll(l, 100);
        }
        printf("lanes: %d done, %d ok\n", k.done, k.ok);
        CHECK(k.ok == MANY, "lanes: %d of %d ok", k.ok, MANY);
        spc_client_free(l);
    }

    /* Freeing the client cancels what is pending. */
    struct counter m = {0, 0, 0};
    for (int i = 0; i < 4; i++) {
        memset(&calls[i], 0, sizeof(calls[i]));
        calls[i].api_key = KPROTO_API_KEY_METADATA;
        calls[i].min_version = 1;
        calls[i].max_version = 12;
        calls[i].node = SPC_ANY_BROKER;
        calls[i].request = &mreq;
        calls[i].done = count_done;
        calls[i].ctx = &m;
        CHECK(spc_send(c, &calls[i]) == 0, "spc_send");
    }
    spc_client_free(c);
    printf("free: %d done, %d cancelled\n", m.done, m.cancelled);
    CHECK(m.done == 4 && m.cancelled + m.ok == 4, "done %d cancelled %d", m.done, m.cancelled);
}

/* ---- create / recreate ------------------------------------------------------ */

static int create_topic(struct spc_client *c, const char *topic, int32_t partitions,
                        struct spc_error *err)
{
    struct kproto_create_topics_request_creatable_topic t;
    memset(&t, 0, sizeof(t));
    t.Name = sp_str_make(topic);
    t.NumPartitions = partitions;
    t.ReplicationFactor = -1;
    struct kproto_create_topics_request req;
    kproto_create_topics_request_init(&req);
    req.Topics = &t;
    req.Topics_count = 1;
    req.timeoutMs = 10000;
    struct spc_call call;
    memset(&call, 0, sizeof(call));
    call.api_key = KPROTO_API_KEY_CREATE_TOPICS;
    call.min_version = 2; /* ReplicationFactor -1 */
    call.max_version = 7;
    call.node = SPC_CONTROLLER;
    call.request = &req;
    int rc = spc_call_sync(c, &call, err);
    if (rc == 0) {
        const struct kproto_create_topics_response *r = call.response;
        int16_t e = r->Topics_count == 1 ? r->Topics[0].ErrorCode : -1;
        if (e != 0) {
            spc_error_set(err, e, call.broker, "topic \"%s\"", topic);
            rc = -EPROTO;
        }
    }
    spc_call_release(&call);
    return rc;
}

static int delete_topic(struct spc_client *c, const char *topic, struct spc_error *err)
{
    int16_t bmin, bmax;
    int rc = spc_broker_api_range(c, spc_controller_id(c), KPROTO_API_KEY_DELETE_TOPICS, &bmin,
                                  &bmax, 10000, err);
    if (rc < 0) {
        return rc;
    }
    int16_t v = bmax < 6 ? bmax : 6;
    struct kproto_delete_topics_request_delete_topic_state st;
    memset(&st, 0, sizeof(st));
    st.Name = sp_str_make(topic);
    struct sp_str name = sp_str_make(topic);
    struct kproto_delete_topics_request req;
    kproto_delete_topics_request_init(&req);
    if (v >= 6) {
        req.Topics = &st;
        req.Topics_count = 1;
    } else {
        req.TopicNames = &name;
        req.TopicNames_count = 1;
    }
    req.TimeoutMs = 10000;
    struct spc_call call;
    memset(&call, 0, sizeof(call));
    call.api_key = KPROTO_API_KEY_DELETE_TOPICS;
    call.min_version = v;
    call.max_version = v;
    call.node = SPC_CONTROLLER;
    call.request = &req;
    rc = spc_call_sync(c, &call, err);
    if (rc == 0) {
        const struct kproto_delete_topics_response *r = call.response;
        int16_t e = r->Responses_count == 1 ? r->Responses[0].ErrorCode : -1;
        if (e != 0) {
            spc_error_set(err, e, call.broker, "topic \"%s\"", topic);
            rc = -EPROTO;
        }
    }
    spc_call_release(&call);
    return rc;
}

static void scenario_create(const char *topic, int32_t partitions)
{
    struct spc_client *c = client_make(10000, 0, 5);
    struct spc_error err;
    int rc = create_topic(c, topic, partitions, &err);
    printf("create %s: rc=%d %s\n", topic, rc, err.message);
    CHECK(rc == 0, "create: %s", err.message);
    spc_client_free(c);
}

static void scenario_recreate(const char *topic)
{
    struct spc_client *c = client_make(10000, 0, 5);
    struct spc_error err;
    int rc = create_topic(c, topic, 2, &err);
    CHECK(rc == 0, "create: %s", err.message);
    const char *topics[] = {topic};
    rc = spc_metadata_sync(c, topics, 1, false, &err);
    CHECK(rc == 0, "metadata: %s", err.message);
    const struct spc_topic *t = spc_topic_get(c, topic);
    CHECK(t != NULL && t->partitions_count == 2, "first: %d partitions",
          t != NULL ? t->partitions_count : -1);
    uint8_t id1[16] = {0};
    if (t != NULL) {
        memcpy(id1, t->id, sizeof(id1));
    }
    CHECK(!id_zero(id1), "no topic id");

    rc = delete_topic(c, topic, &err);
    CHECK(rc == 0, "delete: %s", err.message);
    /* The deletion may take a moment to finish: retry while the name is taken. */
    int64_t t0 = spc_now_ms(c);
    do {
        rc = create_topic(c, topic, 5, &err);
        if (rc == 0 || spc_now_ms(c) - t0 > 10000) {
            break;
        }
        spc_poll(c, 200);
    } while (true);
    CHECK(rc == 0, "recreate: %s", err.message);

    spc_metadata_stale(c, topic);
    t0 = spc_now_ms(c);
    bool seen = false;
    while (!seen && spc_now_ms(c) - t0 < 10000) {
        spc_poll(c, 50);
        t = spc_topic_get(c, topic);
        seen = t != NULL && t->partitions_count == 5 && memcmp(t->id, id1, 16) != 0 &&
               spc_leader(c, topic, 4) >= 0;
        if (!seen && t != NULL && t->partitions_count != 5) {
            spc_metadata_stale(c, topic);
        }
    }
    printf("recreated: seen=%d after %lld ms\n", seen, (long long)(spc_now_ms(c) - t0));
    CHECK(seen, "the cache did not follow the recreated topic");
    spc_client_free(c);
}

/* ---- leader ----------------------------------------------------------------- */

static void scenario_leader(const char *topic, int32_t partition)
{
    struct spc_client *c = client_make(10000, 0, 5);
    struct spc_error err;
    const char *topics[] = {topic};
    int rc = spc_metadata_sync(c, topics, 1, false, &err);
    CHECK(rc == 0, "metadata: %s", err.message);
    printf("leader=%d\n", spc_leader(c, topic, partition));
    fflush(stdout);
    char line[128];
    int want = -1;
    if (fgets(line, sizeof(line), stdin) == NULL || sscanf(line, "moved %d", &want) != 1) {
        fprintf(stderr, "check_core: expected \"moved N\"\n");
        exit(1);
    }
    spc_metadata_stale(c, topic);
    int64_t t0 = spc_now_ms(c);
    while (spc_leader(c, topic, partition) != want && spc_now_ms(c) - t0 < 10000) {
        spc_poll(c, 50);
    }
    printf("leader now=%d after %lld ms\n", spc_leader(c, topic, partition),
           (long long)(spc_now_ms(c) - t0));
    CHECK(spc_leader(c, topic, partition) == want, "leader %d, want %d",
          spc_leader(c, topic, partition), want);
    spc_client_free(c);
}

/* ---- failures ----------------------------------------------------------------- */

static void scenario_unreachable(int32_t timeout_ms, int want_rc, const char *want_text)
{
    struct spc_client *c = client_make(timeout_ms, 0, 5);
    struct spc_error err;
    int64_t t0 = spc_now_ms(c);
    int rc = spc_metadata_sync(c, NULL, 0, false, &err);
    int64_t elapsed = spc_now_ms(c) - t0;
    printf("rc=%d (%s) after %lld ms: %s\n", rc, strerror(-rc), (long long)elapsed, err.message);
    CHECK(rc == want_rc, "rc %d, want %d", rc, want_rc);
    CHECK(elapsed <= timeout_ms + 1500, "took %lld ms", (long long)elapsed);
    CHECK(strstr(err.message, bootstrap) != NULL, "message does not name %s", bootstrap);
    CHECK(strstr(err.message, want_text) != NULL, "message does not say \"%s\"", want_text);
    spc_client_free(c);
}

static int metadata_call(struct spc_client *c, int32_t node, int32_t timeout_ms, bool retry,
                         struct spc_error *err)
{
    struct kproto_metadata_request req;
    kproto_metadata_request_init(&req);
    req.Topics_count = 0;
    struct spc_call call;
    memset(&call, 0, sizeof(call));
    call.api_key = KPROTO_API_KEY_METADATA;
    call.min_version = 1;
    call.max_version = 12;
    call.node = node;
    call.request = &req;
    call.timeout_ms = timeout_ms;
    call.retry_transport = retry;
    int rc = spc_call_sync(c, &call, err);
    spc_call_release(&call);
    return rc;
}

/*
 * The start of a broker-fault scenario: a client that has the metadata and
 * has had an answer from node; then "ready" to the driver, which breaks the
 * broker and says fault.
 */
static struct spc_client *fault_start(int32_t node, const char *fault)
{
    struct spc_client *c = client_make(10000, 0, 2);
    struct spc_error err;
    int rc = spc_metadata_sync(c, NULL, 0, false, &err);
    CHECK(rc == 0, "metadata: %s", err.message);
    rc = metadata_call(c, node, 5000, true, &err);
    CHECK(rc == 0, "before: %s", err.message);
    printf("ready\n");
    fflush(stdout);
    read_line(fault);
    return c;
}

/*
 * The end of a broker-fault scenario: "failed" to the driver, which mends
 * the broker and says mended; node answers again. Frees c.
 */
static void fault_end(struct spc_client *c, int32_t node, const char *mended, const char *after)
{
    struct spc_error err;
    printf("failed\n");
    fflush(stdout);
    read_line(mended);
    int64_t t0 = spc_now_ms(c);
    int rc = metadata_call(c, node, 10000, true, &err);
    printf("%s: rc=%d after %lld ms %s\n", mended, rc, (long long)(spc_now_ms(c) - t0),
           err.message);
    CHECK(rc == 0, "%s: %s", after, err.message);
    spc_client_free(c);
}

static void scenario_down(int32_t node)
{
    struct spc_client *c = fault_start(node, "down");
    /* The first call may find the old connection closed under it; the
     * second has to connect to a broker that is down. */
    for (int i = 0; i < 2; i++) {
        struct spc_error err;
        int64_t t0 = spc_now_ms(c);
        int rc = metadata_call(c, node, 3000, i == 1, &err);
        int64_t elapsed = spc_now_ms(c) - t0;
        printf("down: rc=%d after %lld ms: %s\n", rc, (long long)elapsed, err.message);
        CHECK(rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -ETIMEDOUT, "rc %d", rc);
        CHECK(elapsed <= 3000 + 1500, "took %lld ms", (long long)elapsed);
        CHECK(err.message[0] != '\0', "no message");
    }
    fault_end(c, node, "up", "after up");
}

static void scenario_oversize(const char *big, const char *small)
{
    struct spc_client *c = client_make(10000, 4096, 5);
    struct spc_error err;
    const char *topics[] = {big};
    int rc = spc_metadata_sync(c, topics, 1, false, &err);
    printf("big: rc=%d %s\n", rc, err.message);
    CHECK(rc == -EMSGSIZE, "rc %d", rc);
    CHECK(strstr(err.message, "max_response_bytes") != NULL, "message: %s", err.message);
    topics[0] = small;
    rc = spc_metadata_sync(c, topics, 1, false, &err);
    printf("small: rc=%d %s\n", rc, err.message);
    CHECK(rc == 0, "small: %s", err.message);
    CHECK(spc_topic_get(c, small) != NULL, "small topic not cached");
    spc_client_free(c);
}

/* ---- coordinator ------------------------------------------------------------ */

static int offset_fetch(struct spc_client *c, const char *group, const char *topic,
                        struct spc_error *err, int32_t *sent_to)
{
    int32_t part = 0;
    struct kproto_offset_fetch_request_offset_fetch_request_topic t;
    memset(&t, 0, sizeof(t));
    t.Name = sp_str_make(topic);
    t.PartitionIndexes = &part;
    t.PartitionIndexes_count = 1;
    struct kproto_offset_fetch_request req;
    kproto_offset_fetch_request_init(&req);
    req.GroupId = sp_str_make(group);
    req.Topics = &t;
    req.Topics_count = 1;
    struct spc_call call;
    memset(&call, 0, sizeof(call));
    call.api_key = KPROTO_API_KEY_OFFSET_FETCH;
    call.min_version = 2;
    call.max_version = 7;
    call.node = SPC_COORDINATOR;
    call.coordinator_key = group;
    call.request = &req;
    call.retry_transport = true;
    int rc = spc_call_sync(c, &call, err);
    if (rc == 0) {
        const struct kproto_offset_fetch_response *r = call.response;
        printf("OffsetFetch v%d of %s from %s (node %d): error=%d topics=%d\n", call.version, group,
               call.broker, call.sent_to, r->ErrorCode, r->Topics_count);
        if (r->ErrorCode != 0) {
            spc_error_set(err, r->ErrorCode, call.broker, "OffsetFetch \"%s\"", group);
            rc = -EPROTO;
        }
        *sent_to = call.sent_to;
    }
    spc_call_release(&call);
    return rc;
}

static void scenario_coordinator(const char *group, const char *topic)
{
    struct spc_client *c = client_make(10000, 0, 5);
    struct spc_error err;
    int32_t first = -1, again = -1, other = -1;
    int rc = offset_fetch(c, group, topic, &err, &first);
    CHECK(rc == 0, "first: %s", err.message);
    CHECK(first >= 0, "coordinator %d", first);
    /* A layer that got NOT_COORDINATOR says so; the next call asks again. */
    spc_coordinator_stale(c, group);
    rc = offset_fetch(c, group, topic, &err, &again);
    CHECK(rc == 0, "after stale: %s", err.message);
    CHECK(again == first, "coordinator %d, then %d", first, again);
    char other_group[200];
    snprintf(other_group, sizeof(other_group), "%s-other", group);
    rc = offset_fetch(c, other_group, topic, &err, &other);
    CHECK(rc == 0, "other group: %s", err.message);
    spc_client_free(c);
}

/* ---- slow ------------------------------------------------------------------- */

static void scenario_slow(int32_t node)
{
    struct spc_client *c = fault_start(node, "slow");
    /* Unanswered in time: -ETIMEDOUT. The first call may be resent: it times
     * out on the connection it went out on, is resent on a new one (whose
     * ApiVersions is as late) and times out again; the second may not. */
    for (int i = 0; i < 2; i++) {
        struct spc_error err;
        int64_t t0 = spc_now_ms(c);
        int rc = metadata_call(c, node, 1000, i == 0, &err);
        int64_t elapsed = spc_now_ms(c) - t0;
        printf("slow: rc=%d after %lld ms: %s\n", rc, (long long)elapsed, err.message);
        CHECK(rc == -ETIMEDOUT, "rc %d", rc);
        CHECK(elapsed >= (i == 0 ? 1900 : 900), "failed after %lld ms", (long long)elapsed);
        CHECK(elapsed <= (i == 0 ? 2 : 1) * 1000 + 1500, "took %lld ms", (long long)elapsed);
        CHECK(strstr(err.message, "Metadata") != NULL, "message: %s", err.message);
    }
    fault_end(c, node, "fast", "after");
}

/* ---- errors (no broker) ----------------------------------------------------- */

static void scenario_errors(void)
{
    struct spc_error e;
    spc_error_set(&e, KERR_TOPIC_ALREADY_EXISTS, "127.0.0.1:9092", "topic \"%s\"", "x");
    CHECK(strcmp(e.message, "127.0.0.1:9092: topic \"x\": TOPIC_ALREADY_EXISTS") == 0, "%s",
          e.message);
    CHECK(e.code == KERR_TOPIC_ALREADY_EXISTS, "code %d", e.code);
    spc_error_set(&e, -ECONNREFUSED, "127.0.0.1:9", "connect");
    CHECK(strcmp(e.message, "127.0.0.1:9: connect: Connection refused") == 0, "%s", e.message);
    /* Named already: not twice. */
    spc_error_set(&e, KERR_NOT_COORDINATOR, "b:1", "group g: %s", "NOT_COORDINATOR");
    CHECK(strcmp(e.message, "b:1: group g: NOT_COORDINATOR") == 0, "%s", e.message);
    spc_error_set(&e, -EINVAL, NULL, "bootstrap");
    CHECK(strcmp(e.message, "bootstrap: Invalid argument") == 0, "%s", e.message);
    spc_error_set(&e, 0, "b:1", "fine");
    CHECK(e.code == 0 && e.message[0] == '\0', "%s", e.message);
    spc_error_set(NULL, -EINVAL, "b:1", "nothing");

    const int16_t retriable[] = {
        KERR_CORRUPT_MESSAGE,
        KERR_UNKNOWN_TOPIC_OR_PARTITION,
        KERR_LEADER_NOT_AVAILABLE,
        KERR_NOT_LEADER_OR_FOLLOWER,
        KERR_REQUEST_TIMED_OUT,
        KERR_NETWORK_EXCEPTION,
        KERR_COORDINATOR_LOAD_IN_PROGRESS,
        KERR_COORDINATOR_NOT_AVAILABLE,
        KERR_NOT_COORDINATOR,
        KERR_NOT_ENOUGH_REPLICAS,
        KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KERR_KAFKA_STORAGE_ERROR,
        KERR_FETCH_SESSION_ID_NOT_FOUND,
        KERR_INVALID_FETCH_SESSION_EPOCH,
        KERR_UNKNOWN_LEADER_EPOCH,
        KERR_FENCED_LEADER_EPOCH,
        KERR_OFFSET_NOT_AVAILABLE,
        KERR_PREFERRED_LEADER_NOT_AVAILABLE,
        KERR_ELIGIBLE_LEADERS_NOT_AVAILABLE,
        KERR_THROTTLING_QUOTA_EXCEEDED,
        KERR_CONCURRENT_TRANSACTIONS,
        KERR_UNSTABLE_OFFSET_COMMIT,
        KERR_UNKNOWN_TOPIC_ID,
        KERR_INCONSISTENT_TOPIC_ID,
        KERR_REPLICA_NOT_AVAILABLE,
        KERR_NOT_CONTROLLER,
    };
    const int16_t fatal[] = {
        KERR_NONE,
        KERR_UNKNOWN_SERVER_ERROR,
        KERR_OFFSET_OUT_OF_RANGE,
        KERR_MESSAGE_TOO_LARGE,
        KERR_TOPIC_ALREADY_EXISTS,
        KERR_INVALID_REQUEST,
        KERR_UNSUPPORTED_VERSION,
        KERR_TOPIC_AUTHORIZATION_FAILED,
        KERR_REBALANCE_IN_PROGRESS,
        KERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
        KERR_INVALID_PRODUCER_EPOCH,
        KERR_UNKNOWN_MEMBER_ID,
    };
    for (size_t i = 0; i < sizeof(retriable) / sizeof(retriable[0]); i++) {
        CHECK(spc_retriable(retriable[i]), "%s is retriable", kerr_name(retriable[i]));
    }
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        CHECK(!spc_retriable(fatal[i]), "%s is not retriable", kerr_name(fatal[i]));
    }

    /* Bad configurations are refused with a message. */
    struct spc_config cfg;
    spc_config_init(&cfg);
    struct spc_client *c = NULL;
    const char *bad[] = {"", "nohost", "host:0", "host:99999", ":9092", " , "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg.bootstrap = bad[i];
        int rc = spc_client_new(&cfg, &c, &e);
        CHECK(rc == -EINVAL && c == NULL && e.message[0] != '\0', "bootstrap \"%s\": rc %d %s",
              bad[i], rc, e.message);
    }
    cfg.bootstrap = "[::1]:9092, 127.0.0.1:9093";
    int rc = spc_client_new(&cfg, &c, &e);
    CHECK(rc == 0, "two addresses: %s", e.message);
    spc_client_free(c);
    printf("errors: messages, the retriable table and configurations checked\n");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: check_client_core BOOTSTRAP SCENARIO [ARG...]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    bootstrap = argv[1];
    const char *s = argv[2];
    const char *a1 = argc > 3 ? argv[3] : "";
    const char *a2 = argc > 4 ? argv[4] : "";
    if (strcmp(s, "errors") == 0) {
        scenario_errors();
    } else if (strcmp(s, "negotiate") == 0) {
        scenario_negotiate();
    } else if (strcmp(s, "metadata") == 0 && argc == 5) {
        scenario_metadata(a1, atoi(a2));
    } else if (strcmp(s, "call") == 0 && argc == 4) {
        scenario_call(a1);
    } else if (strcmp(s, "create") == 0 && argc == 5) {
        scenario_create(a1, atoi(a2));
    } else if (strcmp(s, "recreate") == 0 && argc == 4) {
        scenario_recreate(a1);
    } else if (strcmp(s, "leader") == 0 && argc == 5) {
        scenario_leader(a1, atoi(a2));
    } else if (strcmp(s, "refused") == 0 && argc == 4) {
        scenario_unreachable(atoi(a1), -ECONNREFUSED, "Connection refused");
    } else if (strcmp(s, "silent") == 0 && argc == 4) {
        scenario_unreachable(atoi(a1), -ETIMEDOUT, "");
    } else if (strcmp(s, "down") == 0 && argc == 4) {
        scenario_down(atoi(a1));
    } else if (strcmp(s, "coordinator") == 0 && argc == 5) {
        scenario_coordinator(a1, a2);
    } else if (strcmp(s, "slow") == 0 && argc == 4) {
        scenario_slow(atoi(a1));
    } else if (strcmp(s, "oversize") == 0 && argc == 5) {
        scenario_oversize(a1, a2);
    } else {
        fprintf(stderr, "check_core: unknown scenario %s (or wrong arguments)\n", s);
        return 2;
    }
    if (failures > 0) {
        fprintf(stderr, "check_core: %s: %d check(s) failed\n", s, failures);
        return 1;
    }
    printf("check_core: %s: ok\n", s);
    return 0;
}
