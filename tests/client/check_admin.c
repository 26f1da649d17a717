/*
 * tests/client/check_admin.c: the admin calls of client/spc.h against a
 * real broker, one scenario per run (tests/integration/test_client_admin.py
 * runs them against Spindle and librdkafka's mock cluster, and produces
 * the records and the consumer group they look at):
 *
 *   check_client_admin BOOTSTRAP topics PREFIX
 *       create (twice: TOPIC_ALREADY_EXISTS), validate-only, defaults, bad
 *       config, describe/alter configs (topic and broker), create
 *       partitions, delete topics, list offsets of an empty topic
 *   check_client_admin BOOTSTRAP create TOPIC PARTITIONS
 *       creates a topic for the scenarios below
 *   check_client_admin BOOTSTRAP offsets TOPIC PARTITIONS N BASE_TS STEP_MS
 *       after N records a partition with timestamps BASE_TS + i * STEP_MS:
 *       list offsets earliest / latest / by timestamp, partition sizes
 *   check_client_admin BOOTSTRAP group-active GROUP TOPIC PARTITIONS
 *       a group with one live consumer: list, describe (assignment decoded)
 *   check_client_admin BOOTSTRAP group-empty GROUP TOPIC PARTITIONS N
 *       the same group after its consumer committed N and left: list,
 *       describe, fetch offsets, commit offsets, delete groups
 *   check_client_admin BOOTSTRAP mock TOPIC PARTITIONS N
 *       librdkafka's mock: list offsets, commit and fetch offsets, groups
 *       when it lists them, and clean -ENOTSUP for what it does not have
 *   check_client_admin BOOTSTRAP mock-retry TOPIC PARTITIONS N
 *       the mock fails the next OffsetCommits, OffsetFetches and ListOffsets
 *       with retriable errors (the driver asked it to): the calls retry
 *   check_client_admin BOOTSTRAP mock-fatal TOPIC
 *       the next OffsetCommit fails with GROUP_AUTHORIZATION_FAILED: at once
 *   check_client_admin BOOTSTRAP unreachable
 *       nobody listens: every call fails within its timeout
 *
 * Exit 0 pass, 1 fail, 2 usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/spc.h"
#include "protocol/gen/kerr.h"

#define TIMEOUT_MS 15000

static int failures;

static void check(bool ok, const char *fmt, ...) SP_PRINTF(2, 3);

static void check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", ok ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!ok) {
        failures++;
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct spc_client *client_new(const char *bootstrap, int32_t request_timeout_ms)
{
    struct spc_config cfg;
    spc_config_init(&cfg);
    cfg.bootstrap = bootstrap;
    cfg.client_id = "check-admin";
    cfg.request_timeout_ms = request_timeout_ms;
    cfg.connect_timeout_ms = SP_MIN(request_timeout_ms, 5000);
    struct spc_client *c = NULL;
    struct spc_error err = {0};
    int rc = spc_client_new(&cfg, &c, &err);
    check(rc == 0, "client for %s: %d %s", bootstrap, rc, err.message);
    return rc == 0 ? c : NULL;
}

/* The "host:port" the broker answering for node 0 of the metadata goes by. */
static const char *first_broker(struct spc_client *c, char *buf, size_t len)
{
    size_t n = 0;
    const struct spc_broker *b = spc_brokers(c, &n);
    snprintf(buf, len, "%s:%d", n > 0 ? b[0].host : "?", n > 0 ? (int)b[0].port : 0);
    return buf;
}

static const struct spc_config_value *config_find(const struct spc_config_value *v, size_t n,
                                                  const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            return &v[i];
        }
    }
    return NULL;
}

static const struct spc_group_listing *group_find(const struct spc_group_listing *l, size_t n,
                                                  const char *group)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].group_id, group) == 0) {
            return &l[i];
        }
    }
    return NULL;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- topics ---------------------------------------------------------------------- */

static void topics_create(struct spc_client *c, const char *prefix, char *name_a, size_t len)
{
    snprintf(name_a, len, "%s-a", prefix);
    struct spc_kv cfgs[] = {{"retention.ms", "3600000"}};
    struct spc_new_topic t = {name_a, 3, 1, cfgs, 1};
    struct spc_item_result r;
    struct spc_error err = {0};
    int rc = spc_admin_create_topics(c, &t, 1, false, TIMEOUT_MS, &r, &err);
    check(rc == 0 && r.err.code == 0, "create %s: %d %s %s", name_a, rc, err.message,
          r.err.message);

    rc = spc_admin_create_topics(c, &t, 1, false, TIMEOUT_MS, &r, &err);
    char who[300];
    char want[700];
    snprintf(want, sizeof(want), "%s: topic \"%s\": TOPIC_ALREADY_EXISTS",
             first_broker(c, who, sizeof(who)), name_a);
    check(rc == 0 && r.err.code == KERR_TOPIC_ALREADY_EXISTS && starts_with(r.err.message, want),
          "create again: TOPIC_ALREADY_EXISTS as \"%s\" (got %d \"%s\")", want, r.err.code,
          r.err.message);

    char name_v[300];
    snprintf(name_v, sizeof(name_v), "%s-v", prefix);
    struct spc_new_topic tv = {name_v, 2, 1, NULL, 0};
    rc = spc_admin_create_topics(c, &tv, 1, true, TIMEOUT_MS, &r, &err);
    check(rc == 0 && r.err.code == 0, "validate-only create: %d %s", rc, r.err.message);
    const char *vname = name_v;
    rc = spc_metadata_sync(c, &vname, 1, false, &err);
    const struct spc_topic *mt = spc_topic_get(c, name_v);
    check(rc == 0 && mt != NULL && mt->error == KERR_UNKNOWN_TOPIC_OR_PARTITION,
          "validate-only made nothing: %d %d", rc, mt != NULL ? mt->error : -1);

    char name_d[300];
    char name_bad[300];
    snprintf(name_d, sizeof(name_d), "%s-d", prefix);
    snprintf(name_bad, sizeof(name_bad), "%s-bad", prefix);
    struct spc_kv bad[] = {{"retention.ms", "not-a-number"}};
    struct spc_new_topic two[] = {{name_d, -1, -1, NULL, 0}, {name_bad, 1, 1, bad, 1}};
    struct spc_item_result rr[2];
    rc = spc_admin_create_topics(c, two, 2, false, TIMEOUT_MS, rr, &err);
    check(rc == 0 && rr[0].err.code == 0, "create with the broker's defaults: %d %s", rc,
          rr[0].err.message);
    check(rc == 0 && rr[1].err.code == KERR_INVALID_CONFIG &&
              strstr(rr[1].err.message, "INVALID_CONFIG") != NULL,
          "create with a bad config: INVALID_CONFIG (%d \"%s\")", rr[1].err.code,
          rr[1].err.message);
}

static void topics_configs(struct spc_client *c, const char *name)
{
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 64u << 20);
    struct spc_config_value *v = NULL;
    size_t n = 0;
    struct spc_error err = {0};
    int rc = spc_admin_describe_configs(c, SPC_RESOURCE_TOPIC, name, NULL, 0, TIMEOUT_MS, &a, &v,
                                        &n, &err);
    check(rc == 0 && n > 5, "describe configs of %s: %d, %zu configs %s", name, rc, n, err.message);
    const struct spc_config_value *ret = config_find(v, n, "retention.ms");
    check(ret != NULL && ret->value != NULL && strcmp(ret->value, "3600000") == 0 &&
              ret->source == 1 && !ret->is_default,
          "retention.ms is the topic's own 3600000, source 1 (%s, %d)",
          ret != NULL && ret->value != NULL ? ret->value : "null", ret != NULL ? ret->source : -1);
    size_t defaults = 0;
    for (size_t i = 0; i < n; i++) {
        defaults += v[i].source == 5 || v[i].source == 4;
    }
    check(defaults > 0, "some configs are defaults (%zu of %zu)", defaults, n);
    const struct spc_config_value *seg = config_find(v, n, "segment.bytes");
    check(seg != NULL && seg->source != 1, "segment.bytes is not the topic's own (source %d)",
          seg != NULL ? seg->source : -1);

    const char *only[] = {"retention.ms"};
    rc = spc_admin_describe_configs(c, SPC_RESOURCE_TOPIC, name, only, 1, TIMEOUT_MS, &a, &v, &n,
                                    &err);
    check(rc == 0 && n == 1 && strcmp(v[0].name, "retention.ms") == 0,
          "describe one config by name: %d, %zu", rc, n);

    struct spc_config_change ch[] = {{"retention.ms", "7200000", SPC_CONFIG_SET},
                                     {"cleanup.policy", "compact", SPC_CONFIG_SET}};
    struct spc_item_result r;
    rc = spc_admin_alter_configs(c, SPC_RESOURCE_TOPIC, name, ch, 2, false, TIMEOUT_MS, &r, &err);
    check(rc == 0 && r.err.code == 0, "alter configs: %d %s", rc, r.err.message);
    rc = spc_admin_describe_configs(c, SPC_RESOURCE_TOPIC, name, NULL, 0, TIMEOUT_MS, &a, &v, &n,
                                    &err);
    ret = config_find(v, n, "retention.ms");
    const struct spc_config_value *cp = config_find(v, n, "cleanup.policy");
    check(rc == 0 && ret != NULL && ret->value != NULL && strcmp(ret->value, "7200000") == 0 &&
              cp != NULL && cp->value != NULL && strcmp(cp->value, "compact") == 0 &&
              cp->source == 1,
          "described after the alter: retention.ms 7200000, cleanup.policy compact");

    struct spc_config_change del[] = {{"retention.ms", NULL, SPC_CONFIG_DELETE}};
    rc = spc_admin_alter_configs(c, SPC_RESOURCE_TOPIC, name, del, 1, false, TIMEOUT_MS, &r, &err);
    check(rc == 0 && r.err.code == 0, "delete a config: %d %s", rc, r.err.message);
    rc = spc_admin_describe_configs(c, SPC_RESOURCE_TOPIC, name, only, 1, TIMEOUT_MS, &a, &v, &n,
                                    &err);
    check(rc == 0 && n == 1 && v[0].source != 1, "retention.ms is back to its default (source %d)",
          n == 1 ? v[0].source : -1);

    struct spc_config_change bad[] = {{"retention.ms", "-5", SPC_CONFIG_SET}};
    rc = spc_admin_alter_configs(c, SPC_RESOURCE_TOPIC, name, bad, 1, true, TIMEOUT_MS, &r, &err);
    check(rc == 0 && r.err.code == KERR_INVALID_CONFIG, "validate-only bad alter: %d \"%s\"",
          r.err.code, r.err.message);
    rc = spc_admin_alter_configs(c, SPC_RESOURCE_TOPIC, "no-such-topic-adm", ch, 1, false,
                                 TIMEOUT_MS, &r, &err);
    check(rc == 0 && r.err.code == KERR_UNKNOWN_TOPIC_OR_PARTITION,
          "alter an unknown topic: %d \"%s\"", r.err.code, r.err.message);
    rc = spc_admin_describe_configs(c, SPC_RESOURCE_TOPIC, "no-such-topic-adm", NULL, 0, TIMEOUT_MS,
                                    &a, &v, &n, &err);
    check(rc == -ENOENT && err.code == KERR_UNKNOWN_TOPIC_OR_PARTITION,
          "describe an unknown topic: %d \"%s\"", rc, err.message);

    size_t nb = 0;
    const struct spc_broker *b = spc_brokers(c, &nb);
    char node[16];
    snprintf(node, sizeof(node), "%d", nb > 0 ? (int)b[0].node : 0);
    rc = spc_admin_describe_configs(c, SPC_RESOURCE_BROKER, node, NULL, 0, TIMEOUT_MS, &a, &v, &n,
                                    &err);
    size_t ro = 0;
    for (size_t i = 0; i < n; i++) {
        ro += v[i].read_only;
    }
    check(rc == 0 && n > 0 && ro > 0, "describe broker %s: %d, %zu configs, %zu read-only %s", node,
          rc, n, ro, err.message);
    rc = spc_admin_describe_configs(c, SPC_RESOURCE_BROKER, "x1", NULL, 0, TIMEOUT_MS, &a, &v, &n,
                                    &err);
    check(rc == -EINVAL, "a broker named by something else than its id: %d", rc);
    sp_arena_destroy(&a);
}

static void topics_partitions(struct spc_client *c, const char *name, const char *prefix)
{
    struct spc_item_result r;
    struct spc_error err = {0};
    int rc = spc_admin_create_partitions(c, name, 4, false, TIMEOUT_MS, &r, &err);
    check(rc == 0 && r.err.code == 0, "grow %s to 4 partitions: %d %s", name, rc, r.err.message);
    rc = spc_metadata_sync(c, &name, 1, false, &err);
    const struct spc_topic *t = spc_topic_get(c, name);
    check(rc == 0 && t != NULL && t->partitions_count == 4, "metadata shows 4 partitions (%d)",
          t != NULL ? t->partitions_count : -1);
    rc = spc_admin_create_partitions(c, name, 2, false, TIMEOUT_MS, &r, &err);
    check(rc == 0 && r.err.code == KERR_INVALID_PARTITIONS, "shrink: INVALID_PARTITIONS (\"%s\")",
          r.err.message);

    int32_t parts[] = {0, 1, 2, 3, 99};
    struct spc_offset o[5];
    rc = spc_admin_list_offsets(c, name, parts, 5, SPC_TS_LATEST, TIMEOUT_MS, o, &err);
    bool empty = rc == 0;
    for (int i = 0; i < 4; i++) {
        empty &= o[i].err.code == 0 && o[i].offset == 0;
    }
    check(empty, "an empty topic's partitions end at 0: %d %s", rc, o[0].err.message);
    check(o[4].err.code == KERR_UNKNOWN_TOPIC_OR_PARTITION, "partition 99: \"%s\"",
          o[4].err.message);
    rc = spc_admin_list_offsets(c, "no-such-topic-adm", parts, 1, SPC_TS_EARLIEST, TIMEOUT_MS, o,
                                &err);
    check(rc == 0 && o[0].err.code == KERR_UNKNOWN_TOPIC_OR_PARTITION,
          "list offsets of an unknown topic: %d \"%s\"", rc, o[0].err.message);

    char name_d[300];
    snprintf(name_d, sizeof(name_d), "%s-d", prefix);
    const char *names[] = {name_d, "no-such-topic-adm"};
    struct spc_item_result rr[2];
    rc = spc_admin_delete_topics(c, names, 2, TIMEOUT_MS, rr, &err);
    check(rc == 0 && rr[0].err.code == 0, "delete %s: %d %s", name_d, rc, rr[0].err.message);
    check(rr[1].err.code == KERR_UNKNOWN_TOPIC_OR_PARTITION, "delete an unknown topic: \"%s\"",
          rr[1].err.message);
}

static void scenario_topics(struct spc_client *c, const char *prefix)
{
    char name[300];
    topics_create(c, prefix, name, sizeof(name));
    topics_configs(c, name);
    topics_partitions(c, name, prefix);
}

/* ---- offsets ---------------------------------------------------------------------- */

static void scenario_offsets(struct spc_client *c, const char *topic, int32_t parts, int64_t n,
                             int64_t base_ts, int64_t step_ms)
{
    int32_t p[64];
    struct spc_offset o[64];
    int64_t sizes[64];
    if (parts <= 0 || parts > 63) {
        check(false, "partitions 1..63");
        return;
    }
    for (int32_t i = 0; i < parts; i++) {
        p[i] = i;
    }
    struct spc_error err = {0};
    int rc =
        spc_admin_list_offsets(c, topic, p, (size_t)parts, SPC_TS_EARLIEST, TIMEOUT_MS, o, &err);
    bool ok = rc == 0;
    for (int32_t i = 0; i < parts; i++) {
        ok &= o[i].err.code == 0 && o[i].offset == 0 && o[i].partition == i;
    }
    check(ok, "earliest offsets are 0: %d %s %s", rc, err.message, o[0].err.message);
    rc = spc_admin_list_offsets(c, topic, p, (size_t)parts, SPC_TS_LATEST, TIMEOUT_MS, o, &err);
    ok = rc == 0;
    for (int32_t i = 0; i < parts; i++) {
        ok &= o[i].err.code == 0 && o[i].offset == n;
    }
    check(ok, "latest offsets are %lld: %d %lld %s", (long long)n, rc, (long long)o[0].offset,
          o[0].err.message);
    /* The first record at or after a timestamp between the 3rd and 4th. */
    int64_t ts = base_ts + 2 * step_ms + 1;
    rc = spc_admin_list_offsets(c, topic, p, (size_t)parts, ts, TIMEOUT_MS, o, &err);
    ok = rc == 0;
    for (int32_t i = 0; i < parts; i++) {
        ok &= o[i].err.code == 0 && o[i].offset == 3 && o[i].timestamp == base_ts + 3 * step_ms;
    }
    check(ok, "by timestamp: offset 3 at %lld: %d, %lld at %lld %s", (long long)ts, rc,
          (long long)o[0].offset, (long long)o[0].timestamp, o[0].err.message);
    rc = spc_admin_list_offsets(c, topic, p, 1, base_ts + n * step_ms + 1000, TIMEOUT_MS, o, &err);
    check(rc == 0 && o[0].err.code == 0 && o[0].offset == -1,
          "a timestamp after the last record: offset -1 (%lld)", (long long)o[0].offset);

    p[parts] = 99;
    rc = spc_admin_partition_sizes(c, topic, p, (size_t)parts + 1, TIMEOUT_MS, sizes, &err);
    ok = rc == 0;
    for (int32_t i = 0; i < parts; i++) {
        ok &= sizes[i] > 0;
    }
    check(ok && sizes[parts] == -1, "partition sizes > 0 (%lld ...), unknown -1: %d %s",
          (long long)sizes[0], rc, err.message);
}

/* ---- groups ------------------------------------------------------------------------ */

static void scenario_group_active(struct spc_client *c, const char *group, const char *topic,
                                  int32_t parts)
{
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 64u << 20);
    struct spc_error err = {0};
    struct spc_group_listing *l = NULL;
    size_t n = 0;
    int rc = spc_admin_list_groups(c, TIMEOUT_MS, &a, &l, &n, &err);
    const struct spc_group_listing *g = rc == 0 ? group_find(l, n, group) : NULL;
    check(g != NULL && strcmp(g->protocol_type, "consumer") == 0 &&
              (g->state[0] == '\0' || strcmp(g->state, "Stable") == 0),
          "list groups has %s, Stable: %d %s (%zu groups)", group, rc, err.message, n);

    struct spc_group_description d;
    rc = spc_admin_describe_group(c, group, TIMEOUT_MS, &a, &d, &err);
    check(rc == 0 && d.err.code == 0 && strcmp(d.state, "Stable") == 0 &&
              strcmp(d.protocol_type, "consumer") == 0 && d.protocol[0] != '\0' &&
              d.members_count == 1 && d.coordinator >= 0,
          "describe %s: %d %s state %s type %s protocol %s members %zu", group, rc, d.err.message,
          d.state, d.protocol_type, d.protocol, d.members_count);
    int32_t seen = 0;
    if (rc == 0 && d.members_count == 1) {
        const struct spc_group_member *m = &d.members[0];
        check(m->member_id[0] != '\0' && m->client_id[0] != '\0' && m->client_host[0] != '\0',
              "member %s client %s host %s", m->member_id, m->client_id, m->client_host);
        for (size_t i = 0; i < m->assignment_count; i++) {
            if (strcmp(m->assignment[i].topic, topic) == 0) {
                for (size_t k = 0; k < m->assignment[i].count; k++) {
                    seen |= 1 << m->assignment[i].partitions[k];
                }
            }
        }
    }
    check(seen == (1 << parts) - 1, "the member's assignment is %s 0..%d (mask %x)", topic,
          (int)parts - 1, (unsigned)seen);
    sp_arena_destroy(&a);
}

static void group_offsets(struct spc_client *c, const char *group, const char *topic, int32_t parts,
                          int64_t n, struct sp_arena *a)
{
    struct spc_error err = {0};
    struct spc_group_offset *o = NULL;
    size_t count = 0;
    int rc = spc_admin_fetch_offsets(c, group, NULL, 0, TIMEOUT_MS, a, &o, &count, &err);
    bool ok = rc == 0 && count == (size_t)parts;
    for (size_t i = 0; ok && i < count; i++) {
        ok &= strcmp(o[i].topic, topic) == 0 && o[i].offset == n && o[i].err.code == 0;
    }
    check(ok, "fetch every committed offset: %d %s, %zu at %lld", rc, err.message, count,
          count > 0 ? (long long)o[0].offset : -1LL);

    const char *topics[] = {topic, "no-such-topic-adm"};
    rc = spc_admin_fetch_offsets(c, group, topics, 2, TIMEOUT_MS, a, &o, &count, &err);
    size_t known = 0;
    size_t missing = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        known += strcmp(o[i].topic, topic) == 0 && o[i].offset == n;
        missing += strcmp(o[i].topic, "no-such-topic-adm") == 0 &&
                   o[i].err.code == KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    check(rc == 0 && known == (size_t)parts && missing == 1,
          "fetch offsets of two topics: %d, %zu known, %zu missing", rc, known, missing);

    struct spc_group_offset set[] = {{topic, 0, 1, "m0", {0}}, {topic, 1, 2, NULL, {0}}};
    rc = spc_admin_commit_offsets(c, group, set, 2, TIMEOUT_MS, &err);
    check(rc == 0 && set[0].err.code == 0 && set[1].err.code == 0,
          "commit offsets outside a generation: %d %s %s", rc, err.message, set[0].err.message);
    rc = spc_admin_fetch_offsets(c, group, topics, 1, TIMEOUT_MS, a, &o, &count, &err);
    ok = rc == 0;
    for (size_t i = 0; ok && i < count; i++) {
        int64_t want = o[i].partition == 0 ? 1 : o[i].partition == 1 ? 2 : n;
        ok &= o[i].offset == want;
        if (o[i].partition == 0) {
            ok &= strcmp(o[i].metadata, "m0") == 0;
        }
    }
    check(ok && count == (size_t)parts, "the commits read back: %d", rc);
}

static void scenario_group_empty(struct spc_client *c, const char *group, const char *topic,
                                 int32_t parts, int64_t n)
{
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 64u << 20);
    struct spc_error err = {0};
    struct spc_group_listing *l = NULL;
    size_t count = 0;
    int rc = spc_admin_list_groups(c, TIMEOUT_MS, &a, &l, &count, &err);
    const struct spc_group_listing *g = rc == 0 ? group_find(l, count, group) : NULL;
    check(g != NULL && (g->state[0] == '\0' || strcmp(g->state, "Empty") == 0),
          "list groups has %s, Empty: %d %s", group, rc, err.message);
    struct spc_group_description d;
    rc = spc_admin_describe_group(c, group, TIMEOUT_MS, &a, &d, &err);
    check(rc == 0 && d.err.code == 0 && strcmp(d.state, "Empty") == 0 && d.members_count == 0,
          "describe %s: Empty, no members: %d %s %s", group, rc, d.err.message, d.state);

    group_offsets(c, group, topic, parts, n, &a);

    const char *groups[] = {group, "no-such-group-adm"};
    struct spc_item_result r[2];
    rc = spc_admin_delete_groups(c, groups, 2, TIMEOUT_MS, r, &err);
    check(rc == 0 && r[0].err.code == 0, "delete %s: %d %s", group, rc, r[0].err.message);
    check(r[1].err.code == KERR_GROUP_ID_NOT_FOUND, "delete an unknown group: \"%s\"",
          r[1].err.message);
    rc = spc_admin_list_groups(c, TIMEOUT_MS, &a, &l, &count, &err);
    check(rc == 0 && group_find(l, count, group) == NULL, "the group is gone from the list");
    struct spc_group_offset *o = NULL;
    rc = spc_admin_fetch_offsets(c, group, NULL, 0, TIMEOUT_MS, &a, &o, &count, &err);
    bool none = rc == 0 || rc == -ENOENT;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        none &= o[i].offset == -1;
    }
    check(none, "no committed offsets left: %d, %zu", rc, count);
    sp_arena_destroy(&a);
}

/* ---- the mock cluster --------------------------------------------------------------- */

static void mock_unsupported(struct spc_client *c, const char *topic)
{
    struct spc_error err = {0};
    struct spc_new_topic t = {"adm-mock-new", 1, 1, NULL, 0};
    struct spc_item_result r;
    int rc = spc_admin_create_topics(c, &t, 1, false, 5000, &r, &err);
    check(rc == -ENOTSUP && r.err.code == -ENOTSUP && err.message[0] != '\0',
          "create topics on the mock: -ENOTSUP (%d \"%s\")", rc, err.message);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 1u << 20);
    struct spc_config_value *v = NULL;
    size_t n = 0;
    rc = spc_admin_describe_configs(c, SPC_RESOURCE_TOPIC, topic, NULL, 0, 5000, &a, &v, &n, &err);
    check(rc == -ENOTSUP, "describe configs on the mock: -ENOTSUP (%d \"%s\")", rc, err.message);
    int32_t p = 0;
    int64_t size = 0;
    rc = spc_admin_partition_sizes(c, topic, &p, 1, 5000, &size, &err);
    check(rc == -ENOTSUP && size == -1, "partition sizes on the mock: -ENOTSUP (%d \"%s\")", rc,
          err.message);
    sp_arena_destroy(&a);
}

static void scenario_mock(struct spc_client *c, const char *topic, int32_t parts, int64_t n)
{
    int32_t p[64];
    struct spc_offset o[64];
    if (parts <= 0 || parts > 64) {
        check(false, "partitions 1..64");
        return;
    }
    for (int32_t i = 0; i < parts; i++) {
        p[i] = i;
    }
    struct spc_error err = {0};
    int rc =
        spc_admin_list_offsets(c, topic, p, (size_t)parts, SPC_TS_EARLIEST, TIMEOUT_MS, o, &err);
    bool ok = rc == 0;
    for (int32_t i = 0; i < parts; i++) {
        ok &= o[i].err.code == 0 && o[i].offset == 0;
    }
    check(ok, "mock: earliest 0: %d %s %s", rc, err.message, o[0].err.message);
    rc = spc_admin_list_offsets(c, topic, p, (size_t)parts, SPC_TS_LATEST, TIMEOUT_MS, o, &err);
    ok = rc == 0;
    for (int32_t i = 0; i < parts; i++) {
        ok &= o[i].err.code == 0 && o[i].offset == n;
    }
    check(ok, "mock: latest %lld: %d %lld %s", (long long)n, rc, (long long)o[0].offset,
          o[0].err.message);

    struct spc_group_offset set[] = {{topic, 0, 5, "meta", {0}}, {topic, 1, 7, NULL, {0}}};
    rc = spc_admin_commit_offsets(c, "adm-mock-group", set, 2, TIMEOUT_MS, &err);
    check(rc == 0 && set[0].err.code == 0 && set[1].err.code == 0, "mock: commit offsets: %d %s %s",
          rc, err.message, set[0].err.message);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 16u << 20);
    struct spc_group_offset *got = NULL;
    size_t count = 0;
    const char *topics[] = {topic};
    rc =
        spc_admin_fetch_offsets(c, "adm-mock-group", topics, 1, TIMEOUT_MS, &a, &got, &count, &err);
    int64_t p0 = -2;
    int64_t p1 = -2;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        p0 = got[i].partition == 0 ? got[i].offset : p0;
        p1 = got[i].partition == 1 ? got[i].offset : p1;
    }
    check(rc == 0 && count == (size_t)parts && p0 == 5 && p1 == 7,
          "mock: fetch offsets: %d %s, %zu, p0 %lld p1 %lld", rc, err.message, count, (long long)p0,
          (long long)p1);

    struct spc_group_listing *l = NULL;
    rc = spc_admin_list_groups(c, TIMEOUT_MS, &a, &l, &count, &err);
    check(rc == 0 || rc == -ENOTSUP, "mock: list groups works or is -ENOTSUP: %d \"%s\" (%zu)", rc,
          err.message, count);
    struct spc_group_description d;
    rc = spc_admin_describe_group(c, "adm-mock-group", TIMEOUT_MS, &a, &d, &err);
    check(rc == 0 || rc == -ENOTSUP, "mock: describe group works or is -ENOTSUP: %d \"%s\"", rc,
          rc == 0 ? d.err.message : err.message);
    sp_arena_destroy(&a);
    mock_unsupported(c, topic);
}

static void scenario_mock_retry(struct spc_client *c, const char *topic, int32_t parts, int64_t n)
{
    struct spc_error err = {0};
    struct spc_group_offset set[] = {{topic, 0, 3, NULL, {0}}};
    int64_t t0 = mono_ms();
    int rc = spc_admin_commit_offsets(c, "adm-retry-group", set, 1, TIMEOUT_MS, &err);
    check(rc == 0 && set[0].err.code == 0,
          "commit offsets through COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, "
          "NOT_COORDINATOR: %d \"%s\" in %lld ms",
          rc, set[0].err.message, (long long)(mono_ms() - t0));
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 16u << 20);
    struct spc_group_offset *got = NULL;
    size_t count = 0;
    const char *topics[] = {topic};
    rc = spc_admin_fetch_offsets(c, "adm-retry-group", topics, 1, TIMEOUT_MS, &a, &got, &count,
                                 &err);
    int64_t p0 = -2;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        p0 = got[i].partition == 0 ? got[i].offset : p0;
    }
    check(rc == 0 && p0 == 3,
          "fetch offsets through COORDINATOR_LOAD_IN_PROGRESS, "
          "NOT_COORDINATOR: %d \"%s\", p0 %lld",
          rc, err.message, (long long)p0);
    sp_arena_destroy(&a);
    int32_t p[64];
    struct spc_offset o[64];
    for (int32_t i = 0; i < parts && i < 64; i++) {
        p[i] = i;
    }
    rc = spc_admin_list_offsets(c, topic, p, (size_t)SP_MIN(parts, 64), SPC_TS_LATEST, TIMEOUT_MS,
                                o, &err);
    bool ok = rc == 0;
    for (int32_t i = 0; i < parts && i < 64; i++) {
        ok &= o[i].err.code == 0 && o[i].offset == n;
    }
    check(ok, "list offsets through NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE: %d \"%s\"", rc,
          o[0].err.message);
}

static void scenario_mock_fatal(struct spc_client *c, const char *topic)
{
    struct spc_error err = {0};
    struct spc_group_offset set[] = {{topic, 0, 4, NULL, {0}}};
    int64_t t0 = mono_ms();
    int rc = spc_admin_commit_offsets(c, "adm-retry-group", set, 1, TIMEOUT_MS, &err);
    int64_t took = mono_ms() - t0;
    check(rc == 0 && set[0].err.code == KERR_GROUP_AUTHORIZATION_FAILED &&
              strstr(set[0].err.message, "GROUP_AUTHORIZATION_FAILED") != NULL && took < 5000,
          "a commit refused for good is reported at once: \"%s\" in %lld ms", set[0].err.message,
          (long long)took);
}

/* ---- nobody listening ------------------------------------------------------------- */

static void scenario_unreachable(struct spc_client *c)
{
    const int timeout_ms = 2000;
    struct spc_error err = {0};
    int32_t p = 0;
    struct spc_offset o;
    int64_t t0 = mono_ms();
    int rc = spc_admin_list_offsets(c, "t", &p, 1, SPC_TS_LATEST, timeout_ms, &o, &err);
    int64_t took = mono_ms() - t0;
    check(rc < 0 && err.message[0] != '\0' && took < timeout_ms + 3000,
          "list offsets fails in %lld ms: %d \"%s\"", (long long)took, rc, err.message);

    struct spc_new_topic t = {"t", 1, 1, NULL, 0};
    struct spc_item_result r;
    t0 = mono_ms();
    rc = spc_admin_create_topics(c, &t, 1, false, timeout_ms, &r, &err);
    took = mono_ms() - t0;
    check(rc < 0 && r.err.code != 0 && took < timeout_ms + 3000,
          "create topics fails in %lld ms: %d \"%s\"", (long long)took, rc, err.message);

    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 1u << 20);
    struct spc_group_description d;
    t0 = mono_ms();
    rc = spc_admin_describe_group(c, "g", timeout_ms, &a, &d, &err);
    took = mono_ms() - t0;
    check(rc < 0 && took < timeout_ms + 3000, "describe group fails in %lld ms: %d \"%s\"",
          (long long)took, rc, err.message);
    struct spc_group_listing *l = NULL;
    size_t n = 0;
    t0 = mono_ms();
    rc = spc_admin_list_groups(c, timeout_ms, &a, &l, &n, &err);
    took = mono_ms() - t0;
    check(rc < 0 && took < timeout_ms + 3000, "list groups fails in %lld ms: %d \"%s\"",
          (long long)took, rc, err.message);
    sp_arena_destroy(&a);
}

/* ---- bad arguments (no broker needed) ------------------------------------------------ */

static void scenario_arguments(struct spc_client *c)
{
    struct spc_error err = {0};
    struct spc_item_result r;
    struct spc_new_topic t = {NULL, 1, 1, NULL, 0};
    check(spc_admin_create_topics(c, &t, 1, false, 100, &r, &err) == -EINVAL,
          "a topic without a name: -EINVAL \"%s\"", err.message);
    check(spc_admin_create_topics(c, NULL, 0, false, 100, NULL, &err) == 0, "nothing to create");
    struct spc_config_change ch = {NULL, "1", SPC_CONFIG_SET};
    check(spc_admin_alter_configs(c, SPC_RESOURCE_TOPIC, "t", &ch, 1, false, 100, &r, NULL) ==
              -EINVAL,
          "a change without a name: -EINVAL");
    check(spc_admin_list_offsets(c, NULL, NULL, 0, 0, 100, NULL, &err) == -EINVAL,
          "list offsets without a topic: -EINVAL");
}

static long arg_long(const char *s)
{
    return strtol(s, NULL, 10);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s BOOTSTRAP SCENARIO [ARGS...]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *scenario = argv[2];
    bool unreachable = strcmp(scenario, "unreachable") == 0;
    struct spc_client *c = client_new(argv[1], unreachable ? 1000 : 10000);
    if (c == NULL) {
        return 1;
    }
    if (strcmp(scenario, "topics") == 0 && argc == 4) {
        scenario_arguments(c);
        scenario_topics(c, argv[3]);
    } else if (strcmp(scenario, "create") == 0 && argc == 5) {
        struct spc_new_topic t = {argv[3], (int32_t)arg_long(argv[4]), 1, NULL, 0};
        struct spc_item_result r;
        struct spc_error err = {0};
        int rc = spc_admin_create_topics(c, &t, 1, false, TIMEOUT_MS, &r, &err);
        check(rc == 0 && r.err.code == 0, "create %s: %d %s %s", argv[3], rc, err.message,
              r.err.message);
    } else if (strcmp(scenario, "offsets") == 0 && argc == 8) {
        scenario_offsets(c, argv[3], (int32_t)arg_long(argv[4]), arg_long(argv[5]),
                         strtoll(argv[6], NULL, 10), arg_long(argv[7]));
    } else if (strcmp(scenario, "group-active") == 0 && argc == 6) {
        scenario_group_active(c, argv[3], argv[4], (int32_t)arg_long(argv[5]));
    } else if (strcmp(scenario, "group-empty") == 0 && argc == 7) {
        scenario_group_empty(c, argv[3], argv[4], (int32_t)arg_long(argv[5]), arg_long(argv[6]));
    } else if (strcmp(scenario, "mock") == 0 && argc == 6) {
        scenario_mock(c, argv[3], (int32_t)arg_long(argv[4]), arg_long(argv[5]));
    } else if (strcmp(scenario, "mock-retry") == 0 && argc == 6) {
        scenario_mock_retry(c, argv[3], (int32_t)arg_long(argv[4]), arg_long(argv[5]));
    } else if (strcmp(scenario, "mock-fatal") == 0 && argc == 4) {
        scenario_mock_fatal(c, argv[3]);
    } else if (unreachable && argc == 3) {
        scenario_unreachable(c);
    } else {
        fprintf(stderr, "%s: unknown scenario or wrong arguments: %s\n", argv[0], scenario);
        spc_client_free(c);
        return 2;
    }
    spc_client_free(c);
    printf("%s: %d failure(s)\n", scenario, failures);
    return failures == 0 ? 0 : 1;
}
