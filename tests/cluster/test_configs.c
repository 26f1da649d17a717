/*
 * tests/cluster/test_configs.c: what DescribeConfigs and
 * IncrementalAlterConfigs need from cluster/topic_cfg.h: types,
 * documentation, synonyms in Kafka's order, and the four operations.
 */
#include <errno.h>
#include <string.h>

#include "cluster/topic_cfg.h"
#include "core/config.h"
#include "tests/check.h"

static void test_types_docs(void)
{
    const char *const *names;
    size_t n = sp_topic_cfg_names(&names);
    for (size_t i = 0; i < n; i++) {
        CHECK(sp_topic_cfg_type(names[i]) != 0);
        const char *doc = sp_topic_cfg_doc(names[i]);
        CHECK(doc != NULL && strlen(doc) > 10);
    }
    CHECK_EQ_INT(sp_topic_cfg_type("retention.ms"), SP_TOPIC_CFG_TYPE_LONG);
    CHECK_EQ_INT(sp_topic_cfg_type("segment.bytes"), SP_TOPIC_CFG_TYPE_INT);
    CHECK_EQ_INT(sp_topic_cfg_type("preallocate"), SP_TOPIC_CFG_TYPE_BOOLEAN);
    CHECK_EQ_INT(sp_topic_cfg_type("min.cleanable.dirty.ratio"), SP_TOPIC_CFG_TYPE_DOUBLE);
    CHECK_EQ_INT(sp_topic_cfg_type("compression.type"), SP_TOPIC_CFG_TYPE_STRING);
    CHECK_EQ_INT(sp_topic_cfg_type("message.format.version"), SP_TOPIC_CFG_TYPE_STRING);
    CHECK_EQ_INT(sp_topic_cfg_type("cleanup.policy"), SP_TOPIC_CFG_TYPE_LIST);
    CHECK_EQ_INT(sp_topic_cfg_type("leader.replication.throttled.replicas"),
                 SP_TOPIC_CFG_TYPE_LIST);
    CHECK_EQ_INT(sp_topic_cfg_type("no.such"), 0);
    CHECK(sp_topic_cfg_doc("no.such") == NULL);
    CHECK(sp_topic_cfg_is_list("cleanup.policy"));
    CHECK(sp_topic_cfg_is_list("follower.replication.throttled.replicas"));
    CHECK(!sp_topic_cfg_is_list("retention.ms"));
}

static size_t synonyms(const char *key, const struct sp_config *broker,
                       const struct sp_topic_cfg_kv *kv, size_t n, struct sp_topic_cfg_synonym *out)
{
    return sp_topic_cfg_synonyms(key, broker, kv, n, out, SP_TOPIC_CFG_SYNONYMS_MAX);
}

static void check_syn(const struct sp_topic_cfg_synonym *s, const char *name, const char *value,
                      int source)
{
    CHECK_EQ_STR(s->name, name);
    CHECK_EQ_STR(s->value, value);
    CHECK_EQ_INT(s->source, source);
}

static void test_synonyms(void)
{
    struct sp_topic_cfg_synonym s[SP_TOPIC_CFG_SYNONYMS_MAX];
    struct sp_config *cfg = sp_config_new();
    CHECK(cfg != NULL);
    if (cfg == NULL) {
        return;
    }
    /* Nothing set: the broker key's default (log.retention.ms has none of its own). */
    CHECK_EQ_INT(synonyms("retention.ms", cfg, NULL, 0, s), 1);
    check_syn(&s[0], "log.retention.hours", "168", SP_TOPIC_CFG_SRC_DEFAULT);
    /* The topic's own first, then the broker's keys as set, then their defaults. */
    char err[128];
    CHECK_EQ_INT(sp_config_set(cfg, "log.retention.hours", "5", err, sizeof(err)), 0);
    CHECK_EQ_INT(sp_config_set(cfg, "log.retention.ms", "7000", err, sizeof(err)), 0);
    struct sp_topic_cfg_kv kv[] = {{"retention.ms", "9"}, {"segment.ms", "100"}};
    CHECK_EQ_INT(synonyms("retention.ms", cfg, kv, 2, s), 4);
    check_syn(&s[0], "retention.ms", "9", SP_TOPIC_CFG_SRC_TOPIC);
    check_syn(&s[1], "log.retention.ms", "7000", SP_TOPIC_CFG_SRC_BROKER);
    check_syn(&s[2], "log.retention.hours", "5", SP_TOPIC_CFG_SRC_BROKER);
    check_syn(&s[3], "log.retention.hours", "168", SP_TOPIC_CFG_SRC_DEFAULT);
    /* The first synonym's source is the described source. */
    char buf[64];
    int src = -1;
    CHECK_EQ_INT(sp_topic_cfg_describe("retention.ms", cfg, NULL, 0, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "7000");
    CHECK_EQ_INT(src, SP_TOPIC_CFG_SRC_BROKER);
    CHECK_EQ_INT(synonyms("retention.ms", cfg, NULL, 0, s), 3);
    CHECK_EQ_INT(s[0].source, src);
    /* A key Spindle's broker does not have: Kafka's name with the default. */
    CHECK_EQ_INT(synonyms("cleanup.policy", cfg, NULL, 0, s), 1);
    check_syn(&s[0], "log.cleanup.policy", "delete", SP_TOPIC_CFG_SRC_DEFAULT);
    CHECK_EQ_INT(synonyms("segment.jitter.ms", cfg, NULL, 0, s), 1);
    check_syn(&s[0], "log.roll.jitter.ms", "0", SP_TOPIC_CFG_SRC_DEFAULT);
    /* One without any broker key: the topic's own only. */
    CHECK_EQ_INT(synonyms("remote.storage.enable", cfg, NULL, 0, s), 0);
    struct sp_topic_cfg_kv rs[] = {{"remote.storage.enable", "false"}};
    CHECK_EQ_INT(synonyms("remote.storage.enable", cfg, rs, 1, s), 1);
    /* segment.ms: log.roll.hours (Spindle has no log.roll.ms). */
    CHECK_EQ_INT(synonyms("segment.ms", cfg, kv, 2, s), 2);
    check_syn(&s[0], "segment.ms", "100", SP_TOPIC_CFG_SRC_TOPIC);
    check_syn(&s[1], "log.roll.hours", "168", SP_TOPIC_CFG_SRC_DEFAULT);
    /* Truncated to max, the count of what was written. */
    CHECK_EQ_INT(sp_topic_cfg_synonyms("retention.ms", cfg, kv, 2, s, 2), 2);
    CHECK_EQ_INT(synonyms("no.such", cfg, NULL, 0, s), 0);
    /* Every key, any broker: at most the maximum, and the first agrees with describe. */
    const char *const *names;
    size_t n = sp_topic_cfg_names(&names);
    for (size_t i = 0; i < n; i++) {
        size_t k = synonyms(names[i], cfg, NULL, 0, s);
        CHECK(k <= SP_TOPIC_CFG_SYNONYMS_MAX);
        CHECK_EQ_INT(sp_topic_cfg_describe(names[i], cfg, NULL, 0, buf, sizeof(buf), &src), 0);
        CHECK(k == 0 || s[0].source == src);
    }
    sp_config_free(cfg);
}

/* One operation: its return code and, when 0, the value. */
static void op(const char *key, int o, const char *cur, const char *value, int want_rc,
               const char *want)
{
    char out[256] = "";
    char err[256] = "";
    int rc = sp_topic_cfg_apply_op(key, o, cur, value, out, sizeof(out), err, sizeof(err));
    if (rc != want_rc) {
        fprintf(stderr, "%s op %d on %s with %s: %d (%s)\n", key, o, cur ? cur : "(unset)",
                value ? value : "(null)", rc, err);
    }
    CHECK_EQ_INT(rc, want_rc);
    if (rc == 0 && want != NULL) {
        CHECK_EQ_STR(out, want);
    }
    if (rc < 0) {
        CHECK(strstr(err, key) != NULL); /* the message names the key */
    }
}

static void test_ops(void)
{
    enum { SET = SP_TOPIC_CFG_OP_SET, DEL = SP_TOPIC_CFG_OP_DELETE };
    enum { APP = SP_TOPIC_CFG_OP_APPEND, SUB = SP_TOPIC_CFG_OP_SUBTRACT };
    /* SET checks the value. */
    op("retention.ms", SET, NULL, "1000", 0, "1000");
    op("retention.ms", SET, "5", "-1", 0, "-1");
    op("retention.ms", SET, NULL, "-5", -EINVAL, NULL);
    op("retention.ms", SET, NULL, NULL, -EINVAL, NULL);
    op("no.such", SET, NULL, "1", -EINVAL, NULL);
    /* DELETE: back to the default, set or not; an unknown key is still refused. */
    op("retention.ms", DEL, "5", NULL, 1, NULL);
    op("retention.ms", DEL, NULL, "ignored", 1, NULL);
    op("no.such", DEL, NULL, NULL, -EINVAL, NULL);
    /* APPEND: onto the value, or onto the default when unset; no duplicates. */
    op("cleanup.policy", APP, NULL, "compact", 0, "delete,compact");
    op("cleanup.policy", APP, "compact", "delete", 0, "compact,delete");
    op("cleanup.policy", APP, "compact, delete", "delete,compact", 0, "compact,delete");
    op("cleanup.policy", APP, "delete", " compact ,, ", 0, "delete,compact");
    op("cleanup.policy", APP, "delete", "bogus", -EINVAL, NULL);
    op("follower.replication.throttled.replicas", APP, NULL, "0:1", 0, "0:1");
    op("follower.replication.throttled.replicas", APP, "0:1", "1:1,0:1", 0, "0:1,1:1");
    /* SUBTRACT: items removed, absent ones ignored, an empty policy refused. */
    op("cleanup.policy", SUB, "compact,delete", "delete", 0, "compact");
    op("cleanup.policy", SUB, "compact", "delete", 0, "compact");
    op("cleanup.policy", SUB, NULL, "delete", -EINVAL, NULL);
    op("leader.replication.throttled.replicas", SUB, "0:1,1:1,2:1", "1:1", 0, "0:1,2:1");
    op("leader.replication.throttled.replicas", SUB, "0:1", "0:1", 0, "");
    /* Only lists take APPEND and SUBTRACT; unknown operations are refused. */
    op("retention.ms", APP, "5", "6", -EINVAL, NULL);
    op("segment.ms", SUB, NULL, "6", -EINVAL, NULL);
    op("cleanup.policy", APP, NULL, NULL, -EINVAL, NULL);
    op("retention.ms", 4, NULL, "1", -EINVAL, NULL);
    op("retention.ms", -1, NULL, "1", -EINVAL, NULL);
    /* A result larger than the buffer. */
    char small[4];
    CHECK_EQ_INT(
        sp_topic_cfg_apply_op("retention.ms", SET, NULL, "123456", small, sizeof(small), NULL, 0),
        -ENOSPC);
    CHECK_EQ_INT(sp_topic_cfg_apply_op("cleanup.policy", APP, "delete", "compact", small,
                                       sizeof(small), NULL, 0),
                 -ENOSPC);
    /* The documented bound always suffices. */
    const char *cur = "0:1,1:1", *val = "2:1,3:1";
    char fit[7 + 7 + 2];
    CHECK_EQ_INT(sp_topic_cfg_apply_op("leader.replication.throttled.replicas", APP, cur, val, fit,
                                       sizeof(fit), NULL, 0),
                 0);
    CHECK_EQ_STR(fit, "0:1,1:1,2:1,3:1");
}

int main(void)
{
    test_types_docs();
    test_synonyms();
    test_ops();
    return CHECK_DONE();
}
